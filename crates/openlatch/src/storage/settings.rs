//! Space settings: named values an admin changes at run time.

use super::Result;
use sqlx::{AnyConnection, Row};

pub async fn get(conn: &mut AnyConnection, name: &str) -> Result<Option<String>> {
    let row = sqlx::query("SELECT value FROM space_settings WHERE name = $1")
        .bind(name)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|r| r.try_get("value")).transpose()?)
}

pub async fn set(conn: &mut AnyConnection, name: &str, value: &str, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO space_settings (name, value, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(name)
    .bind(value)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn remove(conn: &mut AnyConnection, name: &str) -> Result<()> {
    sqlx::query("DELETE FROM space_settings WHERE name = $1")
        .bind(name)
        .execute(conn)
        .await?;
    Ok(())
}
