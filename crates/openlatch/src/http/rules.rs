//! `/access-rules`.

use super::error::ErrorBody;
use super::extract::{Admin, ApiJson, ApiPath, Staff};
use crate::app::rules::{self, NewRule, RulePatch};
use crate::app::{App, AppError};
use crate::domain::rule::{parse_rule_name, Rule, RuleParams, RuleType, Target};
use crate::domain::{RuleId, Validation, ZoneId};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_rules, create_rule))
        .routes(routes!(get_rule, update_rule, delete_rule))
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetView {
    /// `role` (exactly that role), `member` (member id) or `key` (key id).
    target_type: String,
    target_value: String,
}

#[derive(Serialize, ToSchema)]
pub struct RuleView {
    id: RuleId,
    name: String,
    /// `time_window`, `date_range`, `guest_sponsor`, `role_minimum`, `global_override` or `grant`.
    rule_type: &'static str,
    #[schema(value_type = Object)]
    parameters: Value,
    priority: i32,
    is_active: bool,
    targets: Vec<TargetView>,
    /// The zones where the rule applies; empty = every zone.
    zone_ids: Vec<ZoneId>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Rule> for RuleView {
    fn from(r: Rule) -> Self {
        Self {
            id: r.id,
            name: r.name,
            rule_type: r.params.rule_type().as_str(),
            parameters: r.params.to_json(),
            priority: r.priority,
            is_active: r.is_active,
            targets: r
                .targets
                .iter()
                .map(|t| TargetView {
                    target_type: t.target_type().to_owned(),
                    target_value: t.value(),
                })
                .collect(),
            zone_ids: r.zone_ids,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// The request schemas are in [`super::rule_schemas`]: derive cannot tie
/// `parameters` to `rule_type`.
macro_rules! schema_by_hand {
    ($($ty:ty => $schema:expr;)*) => {$(
        impl utoipa::PartialSchema for $ty {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                super::rule_schemas::to_schema($schema)
            }
        }
        impl ToSchema for $ty {}
    )*};
}

schema_by_hand! {
    TargetView => super::rule_schemas::target();
    CreateRuleRequest => super::rule_schemas::create_request();
    UpdateRuleRequest => super::rule_schemas::update_request();
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRuleRequest {
    name: String,
    rule_type: String,
    /// Per `rule_type`, see docs/access-rules.md.
    parameters: Value,
    /// Higher wins; on a tie the older rule wins. Default 0.
    priority: Option<i32>,
    /// Default true.
    is_active: Option<bool>,
    /// OR-ed; none = every key.
    targets: Option<Vec<TargetView>>,
    /// Only at doors of these zones; empty or absent = every zone.
    zone_ids: Option<Vec<ZoneId>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateRuleRequest {
    name: Option<String>,
    rule_type: Option<String>,
    parameters: Option<Value>,
    priority: Option<i32>,
    is_active: Option<bool>,
    targets: Option<Vec<TargetView>>,
    /// Replaces the rule's zones; `[]` = every zone.
    zone_ids: Option<Vec<ZoneId>>,
}

fn parse_zone_ids(ids: Vec<ZoneId>) -> Vec<ZoneId> {
    let mut out: Vec<ZoneId> = Vec::with_capacity(ids.len());
    for id in ids {
        if !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

fn parse_targets(v: &mut Validation, targets: &[TargetView]) -> Option<Vec<Target>> {
    let mut out = Vec::new();
    let mut ok = true;
    for (i, t) in targets.iter().enumerate() {
        match Target::parse(&t.target_type, &t.target_value) {
            Ok(t) => out.push(t),
            Err((field, msg)) => {
                v.fail(&format!("targets[{i}].{field}"), msg);
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

impl CreateRuleRequest {
    fn parse(self) -> Result<NewRule, AppError> {
        let mut v = Validation::default();
        let name = v.field("name", parse_rule_name(&self.name));
        let rule_type = v.field("rule_type", RuleType::parse(&self.rule_type));
        let params = match rule_type {
            Some(t) => match RuleParams::parse(t, &self.parameters) {
                Ok(p) => Some(p),
                Err(errors) => {
                    for (k, m) in errors {
                        v.fail(&k, m);
                    }
                    None
                }
            },
            None => None,
        };
        let targets = parse_targets(&mut v, self.targets.as_deref().unwrap_or_default());
        match (name, params, targets) {
            (Some(name), Some(params), Some(targets)) if v.is_ok() => Ok(NewRule {
                name,
                params,
                priority: self.priority.unwrap_or(0),
                is_active: self.is_active.unwrap_or(true),
                targets,
                zone_ids: parse_zone_ids(self.zone_ids.unwrap_or_default()),
            }),
            _ => Err(AppError::Validation(v.into_errors())),
        }
    }
}

impl UpdateRuleRequest {
    fn parse(self) -> Result<RulePatch, AppError> {
        let mut v = Validation::default();
        let name = v.optional("name", self.name.as_deref().map(parse_rule_name));
        let rule_type = v.optional("rule_type", self.rule_type.as_deref().map(RuleType::parse));
        let targets = match &self.targets {
            Some(t) => parse_targets(&mut v, t).map(Some),
            None => Some(None),
        };
        match (name, rule_type, targets) {
            (Some(name), Some(rule_type), Some(targets)) if v.is_ok() => Ok(RulePatch {
                name,
                rule_type,
                parameters: self.parameters,
                priority: self.priority,
                is_active: self.is_active,
                targets,
                zone_ids: self.zone_ids.map(parse_zone_ids),
            }),
            _ => Err(AppError::Validation(v.into_errors())),
        }
    }
}

/// Every access rule (admin, keyholder).
#[utoipa::path(get, path = "/access-rules", tag = "access-rules", security(("bearer" = [])),
    responses((status = 200, body = [RuleView]), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
async fn list_rules(
    State(app): State<App>,
    Staff(_staff): Staff,
) -> Result<Json<Vec<RuleView>>, AppError> {
    Ok(Json(
        rules::list(&app)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

/// Create an access rule (admin); the allow-list is rebuilt.
#[utoipa::path(post, path = "/access-rules", tag = "access-rules", request_body = CreateRuleRequest,
    security(("bearer" = [])),
    responses((status = 201, body = RuleView), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody),
              (status = 422, description = "invalid parameters, or some key would need more than 4 time slots", body = ErrorBody)))]
async fn create_rule(
    State(app): State<App>,
    Admin(admin): Admin,
    ApiJson(body): ApiJson<CreateRuleRequest>,
) -> Result<(StatusCode, Json<RuleView>), AppError> {
    let rule = rules::create(&app, &admin, body.parse()?).await?;
    Ok((StatusCode::CREATED, Json(rule.into())))
}

/// One access rule (admin, keyholder).
#[utoipa::path(get, path = "/access-rules/{id}", tag = "access-rules", security(("bearer" = [])),
    params(("id" = RuleId, Path)),
    responses((status = 200, body = RuleView), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_rule(
    State(app): State<App>,
    Staff(_staff): Staff,
    ApiPath(id): ApiPath<RuleId>,
) -> Result<Json<RuleView>, AppError> {
    Ok(Json(rules::get(&app, id).await?.into()))
}

/// Change an access rule (admin); absent fields stay as they are.
#[utoipa::path(put, path = "/access-rules/{id}", tag = "access-rules", request_body = UpdateRuleRequest,
    security(("bearer" = [])), params(("id" = RuleId, Path)),
    responses((status = 200, body = RuleView), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn update_rule(
    State(app): State<App>,
    Admin(admin): Admin,
    ApiPath(id): ApiPath<RuleId>,
    ApiJson(body): ApiJson<UpdateRuleRequest>,
) -> Result<Json<RuleView>, AppError> {
    Ok(Json(
        rules::update(&app, &admin, id, body.parse()?).await?.into(),
    ))
}

/// Delete an access rule (admin).
#[utoipa::path(delete, path = "/access-rules/{id}", tag = "access-rules", security(("bearer" = [])),
    params(("id" = RuleId, Path)),
    responses((status = 204), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_rule(
    State(app): State<App>,
    Admin(admin): Admin,
    ApiPath(id): ApiPath<RuleId>,
) -> Result<StatusCode, AppError> {
    rules::delete(&app, &admin, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
