//! Failure counters for rate limiting, in the database so that every
//! instance behind a load balancer sees the same counts.

use super::Result;
use sqlx::{AnyConnection, Row};

/// Until when `scope` is blocked, if it is blocked at `now`.
pub async fn blocked_until(conn: &mut AnyConnection, scope: &str, now: i64) -> Result<Option<i64>> {
    let row = sqlx::query("SELECT blocked_until FROM login_throttle WHERE scope = $1")
        .bind(scope)
        .fetch_optional(conn)
        .await?;
    let until = row
        .map(|r| r.try_get::<i64, _>("blocked_until"))
        .transpose()?;
    Ok(until.filter(|&u| u > now))
}

/// Counts one failure; the count restarts when the last window began before
/// `window_start`. Returns the failures in the current window.
pub async fn record_failure(
    conn: &mut AnyConnection,
    scope: &str,
    now: i64,
    window_start: i64,
) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO login_throttle (scope, failures, window_started, blocked_until) \
         VALUES ($1, 1, $2, 0) \
         ON CONFLICT (scope) DO UPDATE SET \
           failures = CASE WHEN login_throttle.window_started < $3 THEN 1 \
                           ELSE login_throttle.failures + 1 END, \
           window_started = CASE WHEN login_throttle.window_started < $3 THEN $2 \
                                 ELSE login_throttle.window_started END \
         RETURNING failures",
    )
    .bind(scope)
    .bind(now)
    .bind(window_start)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get("failures")?)
}

pub async fn block(conn: &mut AnyConnection, scope: &str, until: i64) -> Result<()> {
    sqlx::query("UPDATE login_throttle SET blocked_until = $2 WHERE scope = $1")
        .bind(scope)
        .bind(until)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn clear(conn: &mut AnyConnection, scope: &str) -> Result<()> {
    sqlx::query("DELETE FROM login_throttle WHERE scope = $1")
        .bind(scope)
        .execute(conn)
        .await?;
    Ok(())
}

/// Counts one attempt in one statement, so that concurrent attempts (also
/// from other instances) each get their own number. Returns the attempts in
/// the current window and until when the scope was blocked before this one.
pub async fn count_attempt(
    conn: &mut AnyConnection,
    scope: &str,
    now: i64,
    window_start: i64,
) -> Result<(i64, i64)> {
    let row = sqlx::query(
        "INSERT INTO login_throttle (scope, failures, window_started, blocked_until) \
         VALUES ($1, 1, $2, 0) \
         ON CONFLICT (scope) DO UPDATE SET \
           failures = CASE WHEN login_throttle.window_started < $3 THEN 1 \
                           ELSE login_throttle.failures + 1 END, \
           window_started = CASE WHEN login_throttle.window_started < $3 THEN $2 \
                                 ELSE login_throttle.window_started END \
         RETURNING failures, blocked_until",
    )
    .bind(scope)
    .bind(now)
    .bind(window_start)
    .fetch_one(conn)
    .await?;
    Ok((row.try_get("failures")?, row.try_get("blocked_until")?))
}

/// Takes back one counted attempt (it succeeded, was refused, or was never
/// checked); below `free` attempts the scope is not blocked any more.
pub async fn uncount(conn: &mut AnyConnection, scope: &str, free: i64) -> Result<()> {
    sqlx::query(
        "UPDATE login_throttle SET failures = failures - 1, \
           blocked_until = CASE WHEN failures - 1 < $2 THEN 0 ELSE blocked_until END \
         WHERE scope = $1 AND failures > 0",
    )
    .bind(scope)
    .bind(free)
    .execute(conn)
    .await?;
    Ok(())
}
