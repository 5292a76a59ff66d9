//! Login sessions. An access token names its session, so revoking the
//! session kills every token of that login at once.

use super::{parse_id, Result};
use crate::domain::MemberId;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Session {
    pub id: Uuid,
    pub member_id: MemberId,
    pub created_at: i64,
    pub expires_at: i64,
}

pub async fn insert(conn: &mut AnyConnection, s: &Session) -> Result<()> {
    sqlx::query(
        "INSERT INTO sessions (id, member_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(s.id.to_string())
    .bind(s.member_id.to_string())
    .bind(s.created_at)
    .bind(s.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// A live (not revoked, not expired) session.
pub async fn get_live(conn: &mut AnyConnection, id: Uuid, now: i64) -> Result<Option<Session>> {
    let row = sqlx::query(
        "SELECT id, member_id, created_at, expires_at FROM sessions \
         WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(id.to_string())
    .bind(now)
    .fetch_optional(conn)
    .await?;
    match row {
        None => Ok(None),
        Some(r) => Ok(Some(Session {
            id: parse_id(&r.try_get::<String, _>("id")?, "session id")?,
            member_id: parse_id(&r.try_get::<String, _>("member_id")?, "member id")?,
            created_at: r.try_get("created_at")?,
            expires_at: r.try_get("expires_at")?,
        })),
    }
}

/// Ends one session; false when it was not live any more.
pub async fn revoke(conn: &mut AnyConnection, id: Uuid, now: i64) -> Result<bool> {
    let done =
        sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id.to_string())
            .bind(now)
            .execute(conn)
            .await?;
    Ok(done.rows_affected() > 0)
}

/// Ends every session of a member, except `keep` (the caller's own, when it changes its password).
pub async fn revoke_all_for_member(
    conn: &mut AnyConnection,
    member: MemberId,
    keep: Option<Uuid>,
    now: i64,
) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = $3 \
         WHERE member_id = $1 AND revoked_at IS NULL AND ($2 IS NULL OR id <> $2)",
    )
    .bind(member.to_string())
    .bind(keep.map(|k| k.to_string()))
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Sessions are not audit records; ones long past their end can go.
pub async fn delete_expired(conn: &mut AnyConnection, before: i64) -> Result<u64> {
    let done = sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
        .bind(before)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// A web UI session: the row keeps only the SHA-256 of the browser's cookie value.
pub async fn insert_web(conn: &mut AnyConnection, s: &Session, token_hash: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO sessions (id, member_id, created_at, expires_at, web_token_hash) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(s.id.to_string())
    .bind(s.member_id.to_string())
    .bind(s.created_at)
    .bind(s.expires_at)
    .bind(token_hash)
    .execute(conn)
    .await?;
    Ok(())
}

/// The live web session whose cookie hashes to `token_hash`.
pub async fn get_live_web(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: i64,
) -> Result<Option<Session>> {
    let row = sqlx::query(
        "SELECT id, member_id, created_at, expires_at FROM sessions \
         WHERE web_token_hash = $1 AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    match row {
        None => Ok(None),
        Some(r) => Ok(Some(Session {
            id: parse_id(&r.try_get::<String, _>("id")?, "session id")?,
            member_id: parse_id(&r.try_get::<String, _>("member_id")?, "member id")?,
            created_at: r.try_get("created_at")?,
            expires_at: r.try_get("expires_at")?,
        })),
    }
}
