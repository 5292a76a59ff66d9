//! Access rules: list, create, change (partially), delete.

use super::auth::Principal;
use super::{allowlist, App, AppError, AppResult};
use crate::domain::audit::event;
use crate::domain::member::Role;
use crate::domain::rule::{Rule, RuleParams, RuleType, Target};
use crate::domain::{FieldErrors, RuleId};
use crate::storage::audit::{self, Actor, NewEntry};
use crate::storage::{counters, keys, members, rules};
use serde_json::{json, Map, Value};
use sqlx::AnyConnection;

pub struct NewRule {
    pub name: String,
    pub params: RuleParams,
    pub priority: i32,
    pub is_active: bool,
    pub targets: Vec<Target>,
}

/// A partial update; `parameters` stays raw because it is parsed against
/// the rule type in effect after the update.
#[derive(Default)]
pub struct RulePatch {
    pub name: Option<String>,
    pub rule_type: Option<RuleType>,
    pub parameters: Option<Value>,
    pub priority: Option<i32>,
    pub is_active: Option<bool>,
    pub targets: Option<Vec<Target>>,
}

pub async fn list(app: &App) -> AppResult<Vec<Rule>> {
    let mut conn = app.db.read().await?;
    Ok(rules::list(&mut conn).await?)
}

pub async fn get(app: &App, id: RuleId) -> AppResult<Rule> {
    let mut conn = app.db.read().await?;
    rules::get(&mut conn, id)
        .await?
        .ok_or(AppError::NotFound("access rule"))
}

/// Targets and sponsors must name members and keys that exist.
async fn check_references(conn: &mut AnyConnection, r: &Rule) -> AppResult<()> {
    let mut errors = FieldErrors::new();
    for (i, t) in r.targets.iter().enumerate() {
        let missing = match t {
            Target::Member(id) => members::get(conn, *id).await?.is_none(),
            Target::Key(id) => keys::get(conn, *id).await?.is_none(),
            Target::Role(_) => false,
        };
        if missing {
            errors.insert(
                format!("targets[{i}].target_value"),
                format!("no {} with this id", t.target_type()),
            );
        }
    }
    if let RuleParams::GuestSponsor(g) = &r.params {
        let ok = members::get(conn, g.sponsor_id)
            .await?
            .is_some_and(|m| m.is_active && m.role >= Role::Keyholder);
        if !ok {
            errors.insert(
                "parameters.sponsor_id".into(),
                "must be an active member of role keyholder or admin".into(),
            );
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Validation(errors))
    }
}

fn targets_json(t: &[Target]) -> Value {
    Value::Array(
        t.iter()
            .map(|t| json!({ "target_type": t.target_type(), "target_value": t.value() }))
            .collect(),
    )
}

pub async fn create(app: &App, actor: &Principal, new: NewRule) -> AppResult<Rule> {
    let now = crate::domain::now();
    let mut tx = app.db.begin().await?;
    let rule = Rule {
        id: RuleId::new(),
        name: new.name,
        params: new.params,
        priority: new.priority,
        is_active: new.is_active,
        targets: new.targets,
        created_at: now,
        updated_at: now,
        seq: counters::next(&mut tx, "access_rule_seq").await?,
    };
    check_references(&mut tx, &rule).await?;
    rules::insert(&mut tx, &rule).await?;
    allowlist::check_compiles(app, &mut tx).await?;
    audit::insert(
        &mut tx,
        NewEntry::now(
            event::RULE_CREATED,
            Actor::Member(actor.member.id),
            Some(rule.id.to_string()),
            json!({
                "name": rule.name,
                "rule_type": rule.params.rule_type().as_str(),
                "parameters": rule.params.to_json(),
                "priority": rule.priority,
                "is_active": rule.is_active,
                "targets": targets_json(&rule.targets),
            }),
        ),
    )
    .await?;
    for n in crate::app::notifications::checks::rule_change_notices(
        None,
        Some(&rule),
        crate::storage::now_unix(),
    ) {
        crate::app::notifications::enqueue(app, &mut tx, &n).await?;
    }
    tx.commit().await?;
    app.notifications.wake();
    app.list_inputs_changed().await;
    Ok(rule)
}

pub async fn update(app: &App, actor: &Principal, id: RuleId, patch: RulePatch) -> AppResult<Rule> {
    let now = crate::domain::now();
    let mut tx = app.db.begin().await?;
    let before = rules::get(&mut tx, id)
        .await?
        .ok_or(AppError::NotFound("access rule"))?;
    let mut after = before.clone();
    if let Some(n) = patch.name {
        after.name = n;
    }
    let rule_type = patch.rule_type.unwrap_or(before.params.rule_type());
    if patch.rule_type.is_some() || patch.parameters.is_some() {
        let raw = patch.parameters.unwrap_or_else(|| before.params.to_json());
        after.params = RuleParams::parse(rule_type, &raw).map_err(AppError::Validation)?;
    }
    if let Some(p) = patch.priority {
        after.priority = p;
    }
    if let Some(a) = patch.is_active {
        after.is_active = a;
    }
    if let Some(t) = patch.targets {
        after.targets = t;
    }
    after.updated_at = now;
    check_references(&mut tx, &after).await?;
    rules::update(&mut tx, &after).await?;
    allowlist::check_compiles(app, &mut tx).await?;

    let mut changes = Map::new();
    let mut note = |field: &str, from: Value, to: Value| {
        if from != to {
            changes.insert(field.into(), json!({ "from": from, "to": to }));
        }
    };
    note("name", json!(before.name), json!(after.name));
    note(
        "rule_type",
        json!(before.params.rule_type().as_str()),
        json!(after.params.rule_type().as_str()),
    );
    note(
        "parameters",
        before.params.to_json(),
        after.params.to_json(),
    );
    note("priority", json!(before.priority), json!(after.priority));
    note("is_active", json!(before.is_active), json!(after.is_active));
    note(
        "targets",
        targets_json(&before.targets),
        targets_json(&after.targets),
    );
    audit::insert(
        &mut tx,
        NewEntry::now(
            event::RULE_UPDATED,
            Actor::Member(actor.member.id),
            Some(id.to_string()),
            json!({ "name": after.name, "changes": changes }),
        ),
    )
    .await?;
    for n in crate::app::notifications::checks::rule_change_notices(
        Some(&before),
        Some(&after),
        crate::storage::now_unix(),
    ) {
        crate::app::notifications::enqueue(app, &mut tx, &n).await?;
    }
    tx.commit().await?;
    app.notifications.wake();
    app.list_inputs_changed().await;
    Ok(after)
}

pub async fn delete(app: &App, actor: &Principal, id: RuleId) -> AppResult<()> {
    let mut tx = app.db.begin().await?;
    let rule = rules::get(&mut tx, id)
        .await?
        .ok_or(AppError::NotFound("access rule"))?;
    rules::delete(&mut tx, id).await?;
    // Removing a higher-priority window lets lower ones win, which may need
    // more slots.
    allowlist::check_compiles(app, &mut tx).await?;
    audit::insert(
        &mut tx,
        NewEntry::now(
            event::RULE_DELETED,
            Actor::Member(actor.member.id),
            Some(id.to_string()),
            json!({
                "name": rule.name,
                "rule_type": rule.params.rule_type().as_str(),
                "parameters": rule.params.to_json(),
            }),
        ),
    )
    .await?;
    for n in crate::app::notifications::checks::rule_change_notices(
        Some(&rule),
        None,
        crate::storage::now_unix(),
    ) {
        crate::app::notifications::enqueue(app, &mut tx, &n).await?;
    }
    tx.commit().await?;
    app.notifications.wake();
    app.list_inputs_changed().await;
    Ok(())
}
