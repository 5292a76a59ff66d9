//! `approval_requests`: live conditional-approval requests, shared by all instances.

use super::{parse_id, Result, StorageError};
use crate::domain::approval::{ApprovalRequest, ApprovalStatus};
use crate::domain::key::Uid;
use crate::domain::DeviceId;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

const COLUMNS: &str = "id, device_id, uid, key_id, member_id, sponsor_id, status, decided_by, \
                       door_timestamp, requested_at, expires_at, decided_at";

fn from_row(row: &AnyRow) -> Result<ApprovalRequest> {
    let uid: String = row.try_get("uid")?;
    let status: String = row.try_get("status")?;
    let sponsor: Option<String> = row.try_get("sponsor_id")?;
    let decided_by: Option<String> = row.try_get("decided_by")?;
    Ok(ApprovalRequest {
        id: parse_id(&row.try_get::<String, _>("id")?, "approval id")?,
        device_id: parse_id(&row.try_get::<String, _>("device_id")?, "device id")?,
        uid: Uid::parse(&uid).map_err(|_| StorageError::Corrupt(format!("uid '{uid}'")))?,
        key_id: parse_id(&row.try_get::<String, _>("key_id")?, "key id")?,
        member_id: parse_id(&row.try_get::<String, _>("member_id")?, "member id")?,
        sponsor_id: sponsor.map(|s| parse_id(&s, "member id")).transpose()?,
        status: status
            .parse()
            .map_err(|_| StorageError::Corrupt(format!("approval status '{status}'")))?,
        decided_by: decided_by.map(|s| parse_id(&s, "member id")).transpose()?,
        door_timestamp: row.try_get("door_timestamp")?,
        requested_at: row.try_get("requested_at")?,
        expires_at: row.try_get("expires_at")?,
        decided_at: row.try_get("decided_at")?,
    })
}

/// Inserts a pending request; a second pending one for the same (device, UID)
/// is a unique violation (`StorageError::Conflict`).
pub async fn insert(conn: &mut AnyConnection, r: &ApprovalRequest) -> Result<()> {
    sqlx::query(
        "INSERT INTO approval_requests (id, device_id, uid, key_id, member_id, sponsor_id, status, \
         decided_by, door_timestamp, requested_at, expires_at, decided_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(r.id.to_string())
    .bind(r.device_id.to_string())
    .bind(r.uid.as_str())
    .bind(r.key_id.to_string())
    .bind(r.member_id.to_string())
    .bind(r.sponsor_id.map(|s| s.to_string()))
    .bind(r.status.as_str())
    .bind(r.decided_by.map(|s| s.to_string()))
    .bind(r.door_timestamp)
    .bind(r.requested_at)
    .bind(r.expires_at)
    .bind(r.decided_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get(conn: &mut AnyConnection, id: Uuid) -> Result<Option<ApprovalRequest>> {
    let sql = format!("SELECT {COLUMNS} FROM approval_requests WHERE id = $1");
    let row = sqlx::query(&sql)
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Requests in one state, newest first.
pub async fn list_by_status(
    conn: &mut AnyConnection,
    status: ApprovalStatus,
    limit: i64,
) -> Result<Vec<ApprovalRequest>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM approval_requests WHERE status = $1 \
         ORDER BY requested_at DESC, id LIMIT $2"
    );
    let rows = sqlx::query(&sql)
        .bind(status.as_str())
        .bind(limit)
        .fetch_all(conn)
        .await?;
    rows.iter().map(from_row).collect()
}

pub async fn count_pending(conn: &mut AnyConnection) -> Result<i64> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM approval_requests WHERE status = 'pending'")
        .fetch_one(conn)
        .await?;
    Ok(row.try_get("n")?)
}

/// The one atomic decision: only a pending request changes; false means
/// someone (or the timeout) was first.
pub async fn decide(
    conn: &mut AnyConnection,
    id: Uuid,
    status: ApprovalStatus,
    decided_by: Option<String>,
    now: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE approval_requests SET status = $2, decided_by = $3, decided_at = $4 \
         WHERE id = $1 AND status = 'pending'",
    )
    .bind(id.to_string())
    .bind(status.as_str())
    .bind(decided_by)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Pending requests past their deadline (left behind by a crashed instance).
pub async fn list_expired_pending(
    conn: &mut AnyConnection,
    now: i64,
) -> Result<Vec<ApprovalRequest>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM approval_requests WHERE status = 'pending' AND expires_at < $1"
    );
    let rows = sqlx::query(&sql).bind(now).fetch_all(conn).await?;
    rows.iter().map(from_row).collect()
}

/// The pending request of this door for this UID if its deadline passed.
pub async fn expired_pending_for(
    conn: &mut AnyConnection,
    device: DeviceId,
    uid: &Uid,
    now: i64,
) -> Result<Option<ApprovalRequest>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM approval_requests WHERE device_id = $1 AND uid = $2 \
         AND status = 'pending' AND expires_at < $3"
    );
    let row = sqlx::query(&sql)
        .bind(device.to_string())
        .bind(uid.as_str())
        .bind(now)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Whether the server already settled a request of this door for this UID
/// with one of `statuses` around `at` (the door's time of its own report).
pub async fn settled_near(
    conn: &mut AnyConnection,
    device: DeviceId,
    uid: &Uid,
    statuses: &[ApprovalStatus],
    at: i64,
    slack: i64,
) -> Result<bool> {
    let marks: Vec<String> = (0..statuses.len()).map(|i| format!("${}", i + 4)).collect();
    let sql = format!(
        "SELECT id FROM approval_requests WHERE device_id = $1 AND uid = $2 \
         AND requested_at - {slack} <= $3 AND expires_at + {slack} >= $3 \
         AND status IN ({}) LIMIT 1",
        marks.join(", ")
    );
    let mut q = sqlx::query(&sql)
        .bind(device.to_string())
        .bind(uid.as_str())
        .bind(at);
    for s in statuses {
        q = q.bind(s.as_str());
    }
    Ok(q.fetch_optional(conn).await?.is_some())
}
