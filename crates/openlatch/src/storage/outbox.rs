//! The notification outbox: rows written in the transaction of their cause,
//! claimed by workers with a lease, settled by a fenced update.
//!
//! A claim is one short statement (on PostgreSQL `FOR UPDATE SKIP LOCKED`,
//! so instances never wait on each other's rows; on SQLite writers are
//! serialised by `Db::begin`). The network call happens after the claim has
//! committed; its outcome is written only if the row still carries the
//! attempt number of the claim, so a worker whose lease ran out and was
//! taken over cannot overwrite the newer attempt.

use super::{Backend, Result, StorageError};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

pub const PENDING: &str = "pending";
pub const IN_PROGRESS: &str = "in_progress";
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";
/// Sends to one subscription in flight at once, over all instances.
pub const PER_TARGET_IN_FLIGHT: i64 = 4;

/// A message to write.
#[derive(Clone, Debug)]
pub struct NewMessage {
    pub id: String,
    pub channel: String,
    pub subscription_id: Option<String>,
    pub target: String,
    pub event_type: String,
    pub payload: String,
    pub dedup_key: Option<String>,
    pub created_ms: i64,
}

/// A claimed message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claimed {
    pub id: String,
    pub channel: String,
    pub subscription_id: Option<String>,
    pub target: String,
    pub event_type: String,
    pub payload: String,
    pub attempt: i64,
    pub created_ms: i64,
}

/// Inserts a message; false when its dedup key was seen before.
pub async fn insert(conn: &mut AnyConnection, m: &NewMessage) -> Result<bool> {
    let row = sqlx::query(
        "INSERT INTO notification_outbox (id, channel, subscription_id, target, event_type, \
         payload, state, attempt, next_attempt_ms, created_ms, dedup_key) \
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7, $8) \
         ON CONFLICT (dedup_key) DO NOTHING RETURNING id",
    )
    .bind(&m.id)
    .bind(&m.channel)
    .bind(&m.subscription_id)
    .bind(&m.target)
    .bind(&m.event_type)
    .bind(&m.payload)
    .bind(m.created_ms)
    .bind(&m.dedup_key)
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}

fn claimed(row: &AnyRow) -> Result<Claimed> {
    Ok(Claimed {
        id: row.try_get("id")?,
        channel: row.try_get("channel")?,
        subscription_id: row.try_get("subscription_id")?,
        target: row.try_get("target")?,
        event_type: row.try_get("event_type")?,
        payload: row.try_get("payload")?,
        attempt: row.try_get("attempt")?,
        created_ms: row.try_get("created_ms")?,
    })
}

/// Claims up to `limit` messages that are due (pending and due, or in
/// progress with an expired lease): marks them in progress, bumps the
/// attempt and sets the lease. Run in its own short transaction.
pub async fn claim(
    conn: &mut AnyConnection,
    backend: Backend,
    now_ms: i64,
    lease_ms: i64,
    limit: i64,
) -> Result<Vec<Claimed>> {
    let lock = match backend {
        Backend::Sqlite => "",
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
    };
    // The outer WHERE repeats the due test: on PostgreSQL a row claimed by
    // another statement between our sub-select and update is skipped.
    // A subscription with PER_TARGET_IN_FLIGHT sends out is skipped, so a
    // slow receiver cannot take every sending slot.
    let sql = format!(
        "UPDATE notification_outbox SET state = 'in_progress', attempt = attempt + 1, \
         lease_until_ms = $2 \
         WHERE id IN (SELECT id FROM notification_outbox \
             WHERE ((state = 'pending' AND next_attempt_ms <= $1) \
                OR (state = 'in_progress' AND lease_until_ms < $1)) \
               AND (subscription_id IS NULL OR subscription_id NOT IN ( \
                   SELECT subscription_id FROM notification_outbox \
                   WHERE state = 'in_progress' AND lease_until_ms >= $1 \
                     AND subscription_id IS NOT NULL \
                   GROUP BY subscription_id HAVING COUNT(*) >= {PER_TARGET_IN_FLIGHT})) \
             ORDER BY next_attempt_ms, created_ms LIMIT $3{lock}) \
           AND ((state = 'pending' AND next_attempt_ms <= $1) \
                OR (state = 'in_progress' AND lease_until_ms < $1)) \
         RETURNING id, channel, subscription_id, target, event_type, payload, attempt, created_ms"
    );
    let rows = sqlx::query(&sql)
        .bind(now_ms)
        .bind(now_ms + lease_ms)
        .bind(limit)
        .fetch_all(conn)
        .await?;
    rows.iter().map(claimed).collect()
}

/// Whether anything is due at `now_ms`: a read, so an idle worker never
/// takes the write lock.
pub async fn any_due(conn: &mut AnyConnection, now_ms: i64) -> Result<bool> {
    let row = sqlx::query(
        "SELECT id FROM notification_outbox \
         WHERE (state = 'pending' AND next_attempt_ms <= $1) \
            OR (state = 'in_progress' AND lease_until_ms < $1) LIMIT 1",
    )
    .bind(now_ms)
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}

/// The outcome of one attempt, written only if `attempt` still holds the row.
pub enum Settle<'a> {
    Delivered,
    Retry {
        at_ms: i64,
        error: &'a str,
    },
    Failed {
        error: &'a str,
    },
    /// Hand the claim back untouched (shutdown): due again at once.
    Release,
}

/// Applies `outcome` if the claim is still ours; false when fenced out.
pub async fn settle(
    conn: &mut AnyConnection,
    id: &str,
    attempt: i64,
    now_ms: i64,
    outcome: Settle<'_>,
) -> Result<bool> {
    let q = match outcome {
        Settle::Delivered => sqlx::query(
            "UPDATE notification_outbox SET state = 'delivered', delivered_ms = $3, \
             lease_until_ms = NULL, last_error = NULL \
             WHERE id = $1 AND attempt = $2 AND state = 'in_progress'",
        )
        .bind(id)
        .bind(attempt)
        .bind(now_ms),
        Settle::Retry { at_ms, error } => sqlx::query(
            "UPDATE notification_outbox SET state = 'pending', next_attempt_ms = $3, \
             lease_until_ms = NULL, last_error = $4 \
             WHERE id = $1 AND attempt = $2 AND state = 'in_progress'",
        )
        .bind(id)
        .bind(attempt)
        .bind(at_ms)
        .bind(error.to_owned()),
        Settle::Failed { error } => sqlx::query(
            "UPDATE notification_outbox SET state = 'failed', lease_until_ms = NULL, \
             last_error = $3 WHERE id = $1 AND attempt = $2 AND state = 'in_progress'",
        )
        .bind(id)
        .bind(attempt)
        .bind(error.to_owned()),
        Settle::Release => sqlx::query(
            "UPDATE notification_outbox SET state = 'pending', attempt = attempt - 1, \
             next_attempt_ms = $3, lease_until_ms = NULL \
             WHERE id = $1 AND attempt = $2 AND state = 'in_progress'",
        )
        .bind(id)
        .bind(attempt)
        .bind(now_ms),
    };
    Ok(q.execute(conn).await?.rows_affected() == 1)
}

/// One attempt, for the delivery history.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub outbox_id: String,
    pub subscription_id: Option<String>,
    pub attempt: i64,
    pub attempted_ms: i64,
    /// delivered, retry, failed
    pub outcome: String,
    pub error: Option<String>,
    pub duration_ms: i64,
}

pub async fn record_attempt(conn: &mut AnyConnection, a: &Attempt) -> Result<()> {
    sqlx::query(
        "INSERT INTO notification_attempts (outbox_id, subscription_id, attempt, attempted_ms, \
         outcome, error, duration_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&a.outbox_id)
    .bind(&a.subscription_id)
    .bind(a.attempt)
    .bind(a.attempted_ms)
    .bind(&a.outcome)
    .bind(&a.error)
    .bind(a.duration_ms)
    .execute(conn)
    .await?;
    Ok(())
}

/// An attempt with the message it belongs to.
#[derive(Clone, Debug)]
pub struct AttemptView {
    pub attempt: Attempt,
    pub channel: String,
    pub event_type: String,
    pub state: String,
}

/// Recent attempts, newest first; of one subscription when given.
pub async fn recent_attempts(
    conn: &mut AnyConnection,
    subscription_id: Option<&str>,
    limit: i64,
) -> Result<Vec<AttemptView>> {
    let rows = sqlx::query(
        "SELECT a.outbox_id, a.subscription_id, a.attempt, a.attempted_ms, a.outcome, a.error, \
         a.duration_ms, o.channel, o.event_type, o.state \
         FROM notification_attempts a JOIN notification_outbox o ON o.id = a.outbox_id \
         WHERE ($2 = '' OR a.subscription_id = $2) ORDER BY a.id DESC LIMIT $1",
    )
    .bind(limit)
    .bind(subscription_id.unwrap_or_default().to_owned())
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(AttemptView {
                attempt: Attempt {
                    outbox_id: r.try_get("outbox_id")?,
                    subscription_id: r.try_get("subscription_id")?,
                    attempt: r.try_get("attempt")?,
                    attempted_ms: r.try_get("attempted_ms")?,
                    outcome: r.try_get("outcome")?,
                    error: r.try_get("error")?,
                    duration_ms: r.try_get("duration_ms")?,
                },
                channel: r.try_get("channel")?,
                event_type: r.try_get("event_type")?,
                state: r.try_get("state")?,
            })
        })
        .collect::<std::result::Result<_, sqlx::Error>>()
        .map_err(StorageError::from)
}

/// A message's current row (tests and the API's view of one delivery).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageRow {
    pub id: String,
    pub channel: String,
    pub target: String,
    pub event_type: String,
    pub payload: String,
    pub state: String,
    pub attempt: i64,
    pub last_error: Option<String>,
    pub created_ms: i64,
    pub delivered_ms: Option<i64>,
}

/// Messages of one channel (all when `None`), oldest first.
pub async fn list(
    conn: &mut AnyConnection,
    channel: Option<&str>,
    limit: i64,
) -> Result<Vec<MessageRow>> {
    let rows = sqlx::query(
        "SELECT id, channel, target, event_type, payload, state, attempt, last_error, \
         created_ms, delivered_ms FROM notification_outbox \
         WHERE ($1 = '' OR channel = $1) ORDER BY created_ms, id LIMIT $2",
    )
    .bind(channel.unwrap_or_default().to_owned())
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(MessageRow {
                id: r.try_get("id")?,
                channel: r.try_get("channel")?,
                target: r.try_get("target")?,
                event_type: r.try_get("event_type")?,
                payload: r.try_get("payload")?,
                state: r.try_get("state")?,
                attempt: r.try_get("attempt")?,
                last_error: r.try_get("last_error")?,
                created_ms: r.try_get("created_ms")?,
                delivered_ms: r.try_get("delivered_ms")?,
            })
        })
        .collect::<std::result::Result<_, sqlx::Error>>()
        .map_err(StorageError::from)
}

/// Makes the pending messages of `channel` due at `now_ms` (the broker is back).
pub async fn make_due(conn: &mut AnyConnection, channel: &str, now_ms: i64) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE notification_outbox SET next_attempt_ms = $2 \
         WHERE channel = $1 AND state = 'pending' AND next_attempt_ms > $2",
    )
    .bind(channel)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// The earliest time a pending message is due, if any (the worker sleeps until then).
pub async fn next_due_ms(conn: &mut AnyConnection) -> Result<Option<i64>> {
    let row = sqlx::query(
        "SELECT MIN(CASE WHEN state = 'pending' THEN next_attempt_ms ELSE lease_until_ms END) \
         AS due FROM notification_outbox WHERE state IN ('pending', 'in_progress')",
    )
    .fetch_one(conn)
    .await?;
    Ok(row.try_get::<Option<i64>, _>("due")?)
}

/// Drops settled messages and their attempts older than `before_ms`.
pub async fn prune(conn: &mut AnyConnection, before_ms: i64) -> Result<u64> {
    sqlx::query(
        "DELETE FROM notification_attempts WHERE outbox_id IN (SELECT id FROM notification_outbox \
         WHERE state IN ('delivered', 'failed') AND created_ms < $1)",
    )
    .bind(before_ms)
    .execute(&mut *conn)
    .await?;
    let done = sqlx::query(
        "DELETE FROM notification_outbox WHERE state IN ('delivered', 'failed') AND created_ms < $1",
    )
    .bind(before_ms)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}
