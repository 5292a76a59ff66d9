//! The device registry: door controllers and their tokens.

use super::notifications::{self, mqtt};
use super::{App, AppError, AppResult};
use crate::domain::audit::event;
use crate::domain::device::{Device, DeviceToken};
use crate::domain::member::Member;
use crate::domain::DeviceId;
use crate::storage::audit::{self, Actor, NewEntry};
use crate::storage::{devices, StorageError};
use chrono::Utc;
use serde_json::json;

#[derive(Default)]
pub struct DevicePatch {
    pub name: Option<String>,
    /// `Some(None)` clears the location.
    pub location: Option<Option<String>>,
    pub is_enabled: Option<bool>,
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

/// Registers a door; the token is returned once and only its hash is kept.
pub async fn create(
    app: &App,
    actor: &Member,
    name: String,
    location: Option<String>,
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
    };
    let token = DeviceToken::generate();
    let mut tx = app.db.begin().await?;
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
            json!({ "name": device.name, "location": device.location }),
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
    after.updated_at = crate::domain::now();
    match devices::update(&mut tx, &after).await {
        Err(StorageError::Conflict(_)) => return Err(name_taken()),
        other => other?,
    }
    audit::insert(
        &mut tx,
        NewEntry::now(
            event::DEVICE_UPDATED,
            Actor::Member(actor.id),
            Some(id.to_string()),
            json!({ "name": after.name, "location": after.location, "is_enabled": after.is_enabled }),
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
