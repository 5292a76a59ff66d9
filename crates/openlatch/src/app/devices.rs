//! The device registry: door controllers and their tokens.

use super::allowlist::Zones;
use super::notifications::{self, mqtt};
use super::{App, AppError, AppResult};
use crate::domain::audit::event;
use crate::domain::device::{Device, DeviceToken};
use crate::domain::member::Member;
use crate::domain::{DeviceId, ZoneId};
use crate::storage::audit::{self, Actor, NewEntry};
use crate::storage::{devices, zones, StorageError};
use chrono::Utc;
use serde_json::json;
use sqlx::AnyConnection;

#[derive(Default)]
pub struct DevicePatch {
    pub name: Option<String>,
    /// `Some(None)` clears the location.
    pub location: Option<Option<String>>,
    pub is_enabled: Option<bool>,
    /// Moves the door: it gets that zone's list at its next poll.
    pub zone_id: Option<ZoneId>,
}

fn name_taken() -> AppError {
    AppError::conflict("name", "is already used by another device")
}

pub async fn list(app: &App) -> AppResult<Vec<Device>> {
    let mut conn = app.db.read().await?;
    Ok(devices::list(&mut conn).await?)
}

pub async fn get(app: &App, id: DeviceId) -> AppResult<Device> {
    let mut conn = app.db.read().await?;
    devices::get(&mut conn, id)
        .await?
        .ok_or(AppError::NotFound("device"))
}

async fn zone_name(conn: &mut AnyConnection, id: ZoneId) -> AppResult<String> {
    Ok(zones::get(conn, id)
        .await?
        .ok_or_else(|| AppError::field("zone_id", "no zone with this id"))?
        .name)
}

/// Registers a door (in `zone`, default `main`); the token is returned
/// once and only its hash is kept.
pub async fn create(
    app: &App,
    actor: &Member,
    name: String,
    location: Option<String>,
    zone: Option<ZoneId>,
) -> AppResult<(Device, DeviceToken)> {
    let now = crate::domain::now();
    let device = Device {
        id: DeviceId::new(),
        name,
        location,
        is_enabled: true,
        created_at: now,
        updated_at: now,
        token_rotated_at: now,
        zone_id: zone.unwrap_or(ZoneId::MAIN),
    };
    let token = DeviceToken::generate();
    let mut tx = app.db.begin().await?;
    let zone = zone_name(&mut tx, device.zone_id).await?;
    match devices::insert(&mut tx, &device, &token.hash()).await {
        Err(StorageError::Conflict(_)) => return Err(name_taken()),
        other => other?,
    }
    audit::insert(
        &mut tx,
        NewEntry::now(
            event::DEVICE_REGISTERED,
            Actor::Member(actor.id),
            Some(device.id.to_string()),
            json!({ "name": device.name, "location": device.location,
                    "zone_id": device.zone_id, "zone": zone }),
        ),
    )
    .await?;
    let discovery = mqtt::discovery_messages(&app.config, &device);
    notifications::enqueue_mqtt(app, &mut tx, "discovery", discovery).await?;
    tx.commit().await?;
    app.notifications.wake();
    app.poll_cache.forget_doors();
    Ok((device, token))
}

pub async fn update(
    app: &App,
    actor: &Member,
    id: DeviceId,
    patch: DevicePatch,
) -> AppResult<Device> {
    let mut tx = app.db.begin().await?;
    let before = devices::get(&mut tx, id)
        .await?
        .ok_or(AppError::NotFound("device"))?;
    let mut after = before.clone();
    if let Some(n) = patch.name {
        after.name = n;
    }
    if let Some(l) = patch.location {
        after.location = l;
    }
    if let Some(e) = patch.is_enabled {
        after.is_enabled = e;
    }
    if let Some(z) = patch.zone_id {
        after.zone_id = z;
    }
    after.updated_at = crate::domain::now();
    let moved = after.zone_id != before.zone_id;
    let move_details = if moved {
        let from = zone_name(&mut tx, before.zone_id).await.unwrap_or_default();
        let to = zone_name(&mut tx, after.zone_id).await?;
        Some(json!({
            "name": after.name,
            "from_zone_id": before.zone_id, "from_zone": from,
            "to_zone_id": after.zone_id, "to_zone": to,
        }))
    } else {
        None
    };
    match devices::update(&mut tx, &after).await {
        Err(StorageError::Conflict(_)) => return Err(name_taken()),
        other => other?,
    }
    if let Some(details) = move_details {
        audit::insert(
            &mut tx,
            NewEntry::now(
                event::DEVICE_MOVED,
                Actor::Member(actor.id),
                Some(id.to_string()),
                details,
            ),
        )
        .await?;
    }
    audit::insert(
        &mut tx,
        NewEntry::now(
            event::DEVICE_UPDATED,
            Actor::Member(actor.id),
            Some(id.to_string()),
            json!({ "name": after.name, "location": after.location,
                    "is_enabled": after.is_enabled, "zone_id": after.zone_id }),
        ),
    )
    .await?;
    if after.name != before.name {
        let discovery = mqtt::discovery_messages(&app.config, &after);
        notifications::enqueue_mqtt(app, &mut tx, "discovery", discovery).await?;
    }
    tx.commit().await?;
    app.notifications.wake();
    app.poll_cache.forget_doors();
    if moved {
        // The door may hold a list of its old zone with a higher version
        // than anything its new zone has: a fresh version of the new zone's
        // list is newer than everything, so the next poll replaces it.
        let to = Zones::one(after.zone_id);
        if let Err(e) = super::allowlist::rebuild_zones(app, &to, Some(after.zone_id)).await {
            tracing::error!(error = %e, "building the list of the door's new zone failed");
        }
    }
    Ok(after)
}

pub async fn delete(app: &App, actor: &Member, id: DeviceId) -> AppResult<()> {
    let now = Utc::now().timestamp();
    let mut tx = app.db.begin().await?;
    let device = devices::get(&mut tx, id)
        .await?
        .ok_or(AppError::NotFound("device"))?;
    devices::mark_deleted(&mut tx, id, now).await?;
    audit::insert(
        &mut tx,
        NewEntry::now(
            event::DEVICE_DELETED,
            Actor::Member(actor.id),
            Some(id.to_string()),
            json!({ "name": device.name }),
        ),
    )
    .await?;
    let forget = mqtt::forget_messages(&app.config, &device);
    notifications::enqueue_mqtt(app, &mut tx, "discovery", forget).await?;
    tx.commit().await?;
    app.notifications.wake();
    app.poll_cache.forget_doors();
    Ok(())
}

/// A new token for the door; the old one stops working at once.
pub async fn rotate_token(
    app: &App,
    actor: &Member,
    id: DeviceId,
) -> AppResult<(Device, DeviceToken)> {
    let now = Utc::now().timestamp();
    let token = DeviceToken::generate();
    let mut tx = app.db.begin().await?;
    devices::get(&mut tx, id)
        .await?
        .ok_or(AppError::NotFound("device"))?;
    devices::set_token_hash(&mut tx, id, &token.hash(), now).await?;
    audit::insert(
        &mut tx,
        NewEntry::now(
            event::DEVICE_TOKEN_ROTATED,
            Actor::Member(actor.id),
            Some(id.to_string()),
            json!({}),
        ),
    )
    .await?;
    let device = devices::get(&mut tx, id)
        .await?
        .ok_or(AppError::NotFound("device"))?;
    tx.commit().await?;
    app.poll_cache.forget_doors();
    Ok((device, token))
}
