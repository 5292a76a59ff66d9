//! The `devices` table: door controllers and their token hashes.

use super::{flag, parse_id, Result};
use crate::domain::device::Device;
use crate::domain::{from_unix, DeviceId};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

const COLUMNS: &str =
    "id, name, location, is_enabled, created_at, updated_at, token_rotated_at, zone_id";

fn from_row(row: &AnyRow) -> Result<Device> {
    Ok(Device {
        id: parse_id(&row.try_get::<String, _>("id")?, "device id")?,
        name: row.try_get("name")?,
        location: row.try_get("location")?,
        is_enabled: row.try_get::<i64, _>("is_enabled")? != 0,
        created_at: from_unix(row.try_get("created_at")?),
        updated_at: from_unix(row.try_get("updated_at")?),
        token_rotated_at: from_unix(row.try_get("token_rotated_at")?),
        zone_id: parse_id(&row.try_get::<String, _>("zone_id")?, "zone id")?,
    })
}

pub async fn insert(conn: &mut AnyConnection, d: &Device, token_hash: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO devices (id, name, location, token_hash, is_enabled, created_at, \
         updated_at, token_rotated_at, zone_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(d.id.to_string())
    .bind(&d.name)
    .bind(d.location.as_deref())
    .bind(token_hash)
    .bind(flag(d.is_enabled))
    .bind(d.created_at.timestamp())
    .bind(d.updated_at.timestamp())
    .bind(d.token_rotated_at.timestamp())
    .bind(d.zone_id.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

/// A device that has not been deleted.
pub async fn get(conn: &mut AnyConnection, id: DeviceId) -> Result<Option<Device>> {
    let sql = format!("SELECT {COLUMNS} FROM devices WHERE id = $1 AND deleted_at IS NULL");
    let row = sqlx::query(&sql)
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn list(conn: &mut AnyConnection) -> Result<Vec<Device>> {
    let sql = format!("SELECT {COLUMNS} FROM devices WHERE deleted_at IS NULL ORDER BY name");
    let rows = sqlx::query(&sql).fetch_all(conn).await?;
    rows.iter().map(from_row).collect()
}

pub async fn update(conn: &mut AnyConnection, d: &Device) -> Result<()> {
    sqlx::query(
        "UPDATE devices SET name = $2, location = $3, is_enabled = $4, updated_at = $5, \
         zone_id = $6 WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(d.id.to_string())
    .bind(&d.name)
    .bind(d.location.as_deref())
    .bind(flag(d.is_enabled))
    .bind(d.updated_at.timestamp())
    .bind(d.zone_id.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn set_token_hash(
    conn: &mut AnyConnection,
    id: DeviceId,
    token_hash: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE devices SET token_hash = $2, token_rotated_at = $3, updated_at = $3 \
         WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(id.to_string())
    .bind(token_hash)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Soft delete: the row stays for the audit trail, the token stops working.
pub async fn mark_deleted(conn: &mut AnyConnection, id: DeviceId, now: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE devices SET deleted_at = $2, is_enabled = 0, updated_at = $2 \
         WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(id.to_string())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The enabled, undeleted device whose token hashes to `token_hash`, with the
/// stored hash so the caller can compare it in constant time.
pub async fn find_by_token_hash(
    conn: &mut AnyConnection,
    token_hash: &str,
) -> Result<Option<(Device, String)>> {
    let sql = format!(
        "SELECT {COLUMNS}, token_hash FROM devices \
         WHERE token_hash = $1 AND deleted_at IS NULL AND is_enabled = 1"
    );
    let row = sqlx::query(&sql)
        .bind(token_hash)
        .fetch_optional(conn)
        .await?;
    match row {
        Some(r) => Ok(Some((from_row(&r)?, r.try_get("token_hash")?))),
        None => Ok(None),
    }
}
