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

/// The counter numbering member and key writes (`change_seq`).
pub const LIST_INPUT_CHANGE: &str = "list_input_change";

/// A fresh change number for a write to `members` or `nfc_keys`. Taken inside
/// the write's transaction, it keeps the counter row locked until the commit
/// (PostgreSQL), so numbers become visible in the order they were handed out.
pub async fn next_input_change(conn: &mut AnyConnection) -> Result<i64> {
    next(conn, LIST_INPUT_CHANGE).await
}

/// The highest change number committed (as this connection's snapshot sees it).
pub async fn current(conn: &mut AnyConnection, name: &str) -> Result<i64> {
    let row = sqlx::query("SELECT value FROM counters WHERE name = $1")
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
