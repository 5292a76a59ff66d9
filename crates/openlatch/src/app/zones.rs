//! Zones: sets of doors that share one allow-list (system.md 13).

use super::allowlist::{self, Zones};
use super::auth::Principal;
use super::{App, AppError, AppResult};
use crate::domain::audit::event;
use crate::domain::zone::{DefaultPresence, Zone};
use crate::domain::ZoneId;
use crate::storage::audit::{self, Actor, NewEntry};
use crate::storage::{allowlists, zones, StorageError};
use serde_json::{json, Map, Value};

pub struct NewZone {
    pub name: String,
    pub description: Option<String>,
    pub default_presence: DefaultPresence,
}

#[derive(Default)]
pub struct ZonePatch {
    pub name: Option<String>,
    /// `Some(None)` clears the description.
    pub description: Option<Option<String>>,
    pub default_presence: Option<DefaultPresence>,
}

fn name_taken() -> AppError {
    AppError::conflict("name", "is already used by another zone")
}

pub async fn list(app: &App) -> AppResult<Vec<Zone>> {
    let mut conn = app.db.read().await?;
    Ok(zones::list(&mut conn).await?)
}

pub async fn get(app: &App, id: ZoneId) -> AppResult<Zone> {
    let mut conn = app.db.read().await?;
    zones::get(&mut conn, id)
        .await?
        .ok_or(AppError::NotFound("zone"))
}

fn view(z: &Zone) -> Value {
    json!({
        "name": z.name,
        "description": z.description,
        "default_presence": z.default_presence.as_str(),
    })
}

/// Creates a zone and builds its first list.
pub async fn create(app: &App, actor: &Principal, new: NewZone) -> AppResult<Zone> {
    let now = crate::domain::now();
    let zone = Zone {
        id: ZoneId::new(),
        name: new.name,
        description: new.description,
        default_presence: new.default_presence,
        created_at: now,
        updated_at: now,
    };
    let mut tx = app.db.begin().await?;
    match zones::insert(&mut tx, &zone).await {
        Err(StorageError::Conflict(_)) => return Err(name_taken()),
        other => other?,
    }
    audit::insert(
        &mut tx,
        NewEntry::now(
            event::ZONE_CREATED,
            Actor::Member(actor.member.id),
            Some(zone.id.to_string()),
            view(&zone),
        ),
    )
    .await?;
    tx.commit().await?;
    app.zone_lists_changed(Zones::one(zone.id)).await;
    Ok(zone)
}

pub async fn update(app: &App, actor: &Principal, id: ZoneId, patch: ZonePatch) -> AppResult<Zone> {
    let mut tx = app.db.begin().await?;
    let before = zones::get(&mut tx, id)
        .await?
        .ok_or(AppError::NotFound("zone"))?;
    let mut after = before.clone();
    if let Some(n) = patch.name {
        after.name = n;
    }
    if let Some(d) = patch.description {
        after.description = d;
    }
    if let Some(p) = patch.default_presence {
        after.default_presence = p;
    }
    after.updated_at = crate::domain::now();
    match zones::update(&mut tx, &after).await {
        Err(StorageError::Conflict(_)) => return Err(name_taken()),
        other => other?,
    }
    if after.default_presence != before.default_presence {
        // Who is present changes: the slot limit must still hold there.
        allowlist::check_compiles(app, &mut tx, &Zones::one(id)).await?;
    }
    let mut changes = Map::new();
    let (b, a) = (view(&before), view(&after));
    for field in ["name", "description", "default_presence"] {
        if b[field] != a[field] {
            changes.insert(field.into(), json!({ "from": b[field], "to": a[field] }));
        }
    }
    audit::insert(
        &mut tx,
        NewEntry::now(
            event::ZONE_UPDATED,
            Actor::Member(actor.member.id),
            Some(id.to_string()),
            json!({ "name": after.name, "changes": changes }),
        ),
    )
    .await?;
    tx.commit().await?;
    if after.default_presence != before.default_presence {
        app.zone_lists_changed(Zones::one(id)).await;
    }
    Ok(after)
}

/// Refused (409) for `main`, for a zone that still has doors, and for a
/// zone some rule is limited to (removing it from the rule would widen the
/// rule to every zone).
pub async fn delete(app: &App, actor: &Principal, id: ZoneId) -> AppResult<()> {
    if id == ZoneId::MAIN {
        return Err(AppError::conflict(
            "id",
            "the zone main cannot be deleted: new doors go there",
        ));
    }
    let mut tx = app.db.begin().await?;
    let zone = zones::get(&mut tx, id)
        .await?
        .ok_or(AppError::NotFound("zone"))?;
    let doors = zones::device_count(&mut tx, id).await?;
    if doors > 0 {
        return Err(AppError::conflict(
            "id",
            format!("the zone still has {doors} door(s); move or delete them first"),
        ));
    }
    let limited = zones::rule_count(&mut tx, id).await?;
    if limited > 0 {
        return Err(AppError::conflict(
            "id",
            format!(
                "{limited} access rule(s) are limited to this zone; change or delete them first"
            ),
        ));
    }
    zones::delete(&mut tx, id).await?;
    allowlists::delete_zone(&mut tx, id).await?;
    audit::insert(
        &mut tx,
        NewEntry::now(
            event::ZONE_DELETED,
            Actor::Member(actor.member.id),
            Some(id.to_string()),
            view(&zone),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
