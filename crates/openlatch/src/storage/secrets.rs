//! Secrets that every instance must share (the token-signing key, later the
//! sub-key), created once by whichever instance comes first.

use super::{now_unix, Result};
use sqlx::{AnyConnection, Row};

/// Returns the stored secret `name`, storing `candidate` first if there is none.
/// `ON CONFLICT DO NOTHING` makes concurrent first starts agree on one value.
pub async fn get_or_create(
    conn: &mut AnyConnection,
    name: &str,
    candidate: &str,
) -> Result<String> {
    sqlx::query(
        "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(candidate)
    .bind(now_unix())
    .execute(&mut *conn)
    .await?;
    let row = sqlx::query("SELECT value FROM server_secrets WHERE name = $1")
        .bind(name)
        .fetch_one(conn)
        .await?;
    Ok(row.try_get("value")?)
}

/// The stored secret `name`, if any instance created it.
pub async fn get(conn: &mut AnyConnection, name: &str) -> Result<Option<String>> {
    let row = sqlx::query("SELECT value FROM server_secrets WHERE name = $1")
        .bind(name)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|r| r.try_get("value")).transpose()?)
}
