//! `/zones`: sets of doors that share one allow-list.

use super::error::ErrorBody;
use super::extract::{Admin, ApiJson, ApiPath, Staff};
use crate::app::zones::{self, NewZone, ZonePatch};
use crate::app::{App, AppError};
use crate::domain::zone::{parse_zone_description, parse_zone_name, DefaultPresence, Zone};
use crate::domain::{Validation, ZoneId};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_zones, create_zone))
        .routes(routes!(get_zone, update_zone, delete_zone))
}

#[derive(Serialize, ToSchema)]
pub struct ZoneView {
    id: ZoneId,
    name: String,
    description: Option<String>,
    /// `members` (admin, keyholder and member keys unless a rule removes
    /// them) or `granted` (only admins, emergency keys and keys a `grant`
    /// rule adds).
    default_presence: &'static str,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Zone> for ZoneView {
    fn from(z: Zone) -> Self {
        Self {
            id: z.id,
            name: z.name,
            description: z.description,
            default_presence: z.default_presence.as_str(),
            created_at: z.created_at,
            updated_at: z.updated_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateZoneRequest {
    #[schema(schema_with = super::schema_facts::zone_name)]
    name: String,
    #[schema(schema_with = super::schema_facts::zone_description_opt)]
    description: Option<String>,
    /// Default `members`.
    #[schema(schema_with = super::schema_facts::default_presence_opt)]
    default_presence: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateZoneRequest {
    #[schema(schema_with = super::schema_facts::zone_name_opt)]
    name: Option<String>,
    /// An empty string clears the description.
    #[schema(schema_with = super::schema_facts::zone_description_opt)]
    description: Option<String>,
    #[schema(schema_with = super::schema_facts::default_presence_opt)]
    default_presence: Option<String>,
}

/// Every zone, `main` first (admin, keyholder).
#[utoipa::path(get, path = "/zones", tag = "zones", security(("bearer" = [])),
    responses((status = 200, body = [ZoneView]), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
async fn list_zones(
    State(app): State<App>,
    Staff(_staff): Staff,
) -> Result<Json<Vec<ZoneView>>, AppError> {
    Ok(Json(
        zones::list(&app)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

/// Create a zone (admin); its first list is built at once.
#[utoipa::path(post, path = "/zones", tag = "zones", request_body = CreateZoneRequest,
    security(("bearer" = [])),
    responses((status = 201, body = ZoneView), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn create_zone(
    State(app): State<App>,
    Admin(admin): Admin,
    ApiJson(body): ApiJson<CreateZoneRequest>,
) -> Result<(StatusCode, Json<ZoneView>), AppError> {
    let mut v = Validation::default();
    let name = v.field("name", parse_zone_name(&body.name));
    let description = v.optional(
        "description",
        body.description.as_deref().map(parse_zone_description),
    );
    let presence = v.optional(
        "default_presence",
        body.default_presence.as_deref().map(DefaultPresence::parse),
    );
    let (Some(name), Some(description), Some(presence)) = (name, description, presence) else {
        return Err(AppError::Validation(v.into_errors()));
    };
    let zone = zones::create(
        &app,
        &admin,
        NewZone {
            name,
            description: description.filter(|d| !d.is_empty()),
            default_presence: presence.unwrap_or(DefaultPresence::Members),
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(zone.into())))
}

/// One zone (admin, keyholder).
#[utoipa::path(get, path = "/zones/{id}", tag = "zones", security(("bearer" = [])),
    params(("id" = ZoneId, Path)),
    responses((status = 200, body = ZoneView), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_zone(
    State(app): State<App>,
    Staff(_staff): Staff,
    ApiPath(id): ApiPath<ZoneId>,
) -> Result<Json<ZoneView>, AppError> {
    Ok(Json(zones::get(&app, id).await?.into()))
}

/// Rename a zone, describe it, or change who is present by default (admin).
#[utoipa::path(put, path = "/zones/{id}", tag = "zones", request_body = UpdateZoneRequest,
    security(("bearer" = [])), params(("id" = ZoneId, Path)),
    responses((status = 200, body = ZoneView), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_zone(
    State(app): State<App>,
    Admin(admin): Admin,
    ApiPath(id): ApiPath<ZoneId>,
    ApiJson(body): ApiJson<UpdateZoneRequest>,
) -> Result<Json<ZoneView>, AppError> {
    let mut v = Validation::default();
    let name = v.optional("name", body.name.as_deref().map(parse_zone_name));
    let description = v.optional(
        "description",
        body.description.as_deref().map(parse_zone_description),
    );
    let presence = v.optional(
        "default_presence",
        body.default_presence.as_deref().map(DefaultPresence::parse),
    );
    let (Some(name), Some(description), Some(presence)) = (name, description, presence) else {
        return Err(AppError::Validation(v.into_errors()));
    };
    let patch = ZonePatch {
        name,
        description: description.map(|d| Some(d).filter(|d| !d.is_empty())),
        default_presence: presence,
    };
    Ok(Json(zones::update(&app, &admin, id, patch).await?.into()))
}

/// Delete a zone (admin): 409 for `main`, while doors are in it, or while
/// rules are limited to it.
#[utoipa::path(delete, path = "/zones/{id}", tag = "zones", security(("bearer" = [])),
    params(("id" = ZoneId, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn delete_zone(
    State(app): State<App>,
    Admin(admin): Admin,
    ApiPath(id): ApiPath<ZoneId>,
) -> Result<StatusCode, AppError> {
    zones::delete(&app, &admin, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
