//! Notification subscriptions and door presence (offline detection).

use super::{flag, Result, StorageError};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

#[derive(Clone, Debug, PartialEq)]
pub struct SubscriptionRow {
    pub id: String,
    pub channel: String,
    /// JSON object, secrets included.
    pub settings: String,
    /// JSON array of event types.
    pub events: String,
    pub is_enabled: bool,
    pub disabled_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str =
    "id, channel, settings, events, is_enabled, disabled_reason, created_at, updated_at";

fn from_row(r: &AnyRow) -> Result<SubscriptionRow> {
    Ok(SubscriptionRow {
        id: r.try_get("id")?,
        channel: r.try_get("channel")?,
        settings: r.try_get("settings")?,
        events: r.try_get("events")?,
        is_enabled: r.try_get::<i64, _>("is_enabled")? != 0,
        disabled_reason: r.try_get("disabled_reason")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

pub async fn insert(conn: &mut AnyConnection, s: &SubscriptionRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO notification_subscriptions (id, channel, settings, events, is_enabled, \
         disabled_reason, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&s.id)
    .bind(&s.channel)
    .bind(&s.settings)
    .bind(&s.events)
    .bind(flag(s.is_enabled))
    .bind(&s.disabled_reason)
    .bind(s.created_at)
    .bind(s.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn update(conn: &mut AnyConnection, s: &SubscriptionRow) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE notification_subscriptions SET channel = $2, settings = $3, events = $4, \
         is_enabled = $5, disabled_reason = $6, updated_at = $7 WHERE id = $1",
    )
    .bind(&s.id)
    .bind(&s.channel)
    .bind(&s.settings)
    .bind(&s.events)
    .bind(flag(s.is_enabled))
    .bind(&s.disabled_reason)
    .bind(s.updated_at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delete(conn: &mut AnyConnection, id: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM notification_subscriptions WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<SubscriptionRow>> {
    let sql = format!("SELECT {COLUMNS} FROM notification_subscriptions WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(conn).await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn list(conn: &mut AnyConnection) -> Result<Vec<SubscriptionRow>> {
    let sql = format!("SELECT {COLUMNS} FROM notification_subscriptions ORDER BY created_at, id");
    let rows = sqlx::query(&sql).fetch_all(conn).await?;
    rows.iter().map(from_row).collect()
}

/// Turns a subscription off (a day of failed deliveries); true if it was on.
pub async fn disable(conn: &mut AnyConnection, id: &str, reason: &str, now: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE notification_subscriptions SET is_enabled = 0, disabled_reason = $2, \
         updated_at = $3 WHERE id = $1 AND is_enabled = 1",
    )
    .bind(id)
    .bind(reason)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Doors whose last heartbeat is older than `silent_since` and that are not
/// flagged offline yet: (device id, last heartbeat).
pub async fn newly_silent(
    conn: &mut AnyConnection,
    silent_since: i64,
) -> Result<Vec<(String, i64)>> {
    let rows = sqlx::query(
        "SELECT s.device_id, s.received_at FROM device_status s \
         JOIN devices d ON d.id = s.device_id \
         LEFT JOIN door_presence p ON p.device_id = s.device_id \
         WHERE s.received_at < $1 AND d.is_enabled = 1 AND d.deleted_at IS NULL AND COALESCE(p.is_offline, 0) = 0",
    )
    .bind(silent_since)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("device_id")?, r.try_get("received_at")?)))
        .collect::<std::result::Result<_, sqlx::Error>>()
        .map_err(StorageError::from)
}

/// Flags a door offline; true when this call flagged it (one instance wins).
pub async fn mark_offline(conn: &mut AnyConnection, device: &str, now: i64) -> Result<bool> {
    let row = sqlx::query(
        "INSERT INTO door_presence (device_id, is_offline, changed_at) VALUES ($1, 1, $2) \
         ON CONFLICT (device_id) DO UPDATE SET is_offline = 1, changed_at = $2 \
         WHERE door_presence.is_offline = 0 RETURNING device_id",
    )
    .bind(device)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}

/// Clears the offline flag; returns since when the door was offline, if it was.
pub async fn mark_online(conn: &mut AnyConnection, device: &str, now: i64) -> Result<Option<i64>> {
    let before =
        sqlx::query("SELECT changed_at FROM door_presence WHERE device_id = $1 AND is_offline = 1")
            .bind(device)
            .fetch_optional(&mut *conn)
            .await?;
    let Some(before) = before else {
        return Ok(None);
    };
    let since: i64 = before.try_get("changed_at")?;
    let done = sqlx::query(
        "UPDATE door_presence SET is_offline = 0, changed_at = $2 \
         WHERE device_id = $1 AND is_offline = 1",
    )
    .bind(device)
    .bind(now)
    .execute(conn)
    .await?;
    Ok((done.rows_affected() == 1).then_some(since))
}
