//! Monotonic counters (keypad ids, allow-list versions) that never go back.

use super::{Result, StorageError};
use sqlx::{AnyConnection, Row};

/// Increments and returns the counter; the row update serialises concurrent callers.
pub async fn next(conn: &mut AnyConnection, name: &str) -> Result<i64> {
    let row = sqlx::query("UPDATE counters SET value = value + 1 WHERE name = $1 RETURNING value")
        .bind(name)
        .fetch_optional(conn)
        .await?;
    match row {
        Some(r) => Ok(r.try_get("value")?),
        None => Err(StorageError::Corrupt(format!(
            "counter '{name}' is missing"
        ))),
    }
}
