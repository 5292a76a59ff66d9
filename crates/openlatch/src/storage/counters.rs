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

/// Adds `n` to the counter and returns the new value: the caller owns the
/// `n` values ending there.
pub async fn advance(conn: &mut AnyConnection, name: &str, n: i64) -> Result<i64> {
    let row = sqlx::query("UPDATE counters SET value = value + $2 WHERE name = $1 RETURNING value")
        .bind(name)
        .bind(n)
        .fetch_optional(conn)
        .await?;
    match row {
        Some(r) => Ok(r.try_get("value")?),
        None => Err(StorageError::Corrupt(format!(
            "counter '{name}' is missing"
        ))),
    }
}
