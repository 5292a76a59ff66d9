//! The `zones` table.

use super::{parse_id, Result, StorageError};
use crate::domain::zone::{DefaultPresence, Zone};
use crate::domain::{from_unix, ZoneId};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

const COLUMNS: &str = "id, name, description, default_presence, created_at, updated_at";

fn from_row(row: &AnyRow) -> Result<Zone> {
    let presence: String = row.try_get("default_presence")?;
    Ok(Zone {
        id: parse_id(&row.try_get::<String, _>("id")?, "zone id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        default_presence: DefaultPresence::parse(&presence)
            .map_err(|_| StorageError::Corrupt(format!("zone presence '{presence}'")))?,
        created_at: from_unix(row.try_get("created_at")?),
        updated_at: from_unix(row.try_get("updated_at")?),
    })
}

pub async fn insert(conn: &mut AnyConnection, z: &Zone) -> Result<()> {
    sqlx::query(
        "INSERT INTO zones (id, name, description, default_presence, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(z.id.to_string())
    .bind(&z.name)
    .bind(z.description.as_deref())
    .bind(z.default_presence.as_str())
    .bind(z.created_at.timestamp())
    .bind(z.updated_at.timestamp())
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn update(conn: &mut AnyConnection, z: &Zone) -> Result<()> {
    sqlx::query(
        "UPDATE zones SET name = $2, description = $3, default_presence = $4, updated_at = $5 \
         WHERE id = $1",
    )
    .bind(z.id.to_string())
    .bind(&z.name)
    .bind(z.description.as_deref())
    .bind(z.default_presence.as_str())
    .bind(z.updated_at.timestamp())
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn delete(conn: &mut AnyConnection, id: ZoneId) -> Result<bool> {
    let done = sqlx::query("DELETE FROM zones WHERE id = $1")
        .bind(id.to_string())
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn get(conn: &mut AnyConnection, id: ZoneId) -> Result<Option<Zone>> {
    let sql = format!("SELECT {COLUMNS} FROM zones WHERE id = $1");
    let row = sqlx::query(&sql)
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Every zone, `main` first, then by name.
pub async fn list(conn: &mut AnyConnection) -> Result<Vec<Zone>> {
    let sql = format!("SELECT {COLUMNS} FROM zones ORDER BY id = $1 DESC, name");
    let rows = sqlx::query(&sql)
        .bind(ZoneId::MAIN.to_string())
        .fetch_all(conn)
        .await?;
    rows.iter().map(from_row).collect()
}

/// Undeleted doors in the zone.
pub async fn device_count(conn: &mut AnyConnection, id: ZoneId) -> Result<i64> {
    let row =
        sqlx::query("SELECT COUNT(*) AS n FROM devices WHERE zone_id = $1 AND deleted_at IS NULL")
            .bind(id.to_string())
            .fetch_one(conn)
            .await?;
    Ok(row.try_get("n")?)
}

/// Rules that name the zone (their `zone_ids` JSON contains its id).
pub async fn rule_count(conn: &mut AnyConnection, id: ZoneId) -> Result<i64> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM access_rules WHERE zone_ids LIKE $1")
        .bind(format!("%\"{id}\"%"))
        .fetch_one(conn)
        .await?;
    Ok(row.try_get("n")?)
}
