//! `device_status` (last heartbeat per door), its bounded history, and the
//! persisted NUKI battery alarm.

use super::{flag, parse_id, Result, StorageError};
use crate::domain::device::Heartbeat;
use crate::domain::DeviceId;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// At most one history row per door in this many seconds.
pub const HISTORY_INTERVAL_SECS: i64 = 300;

/// A door's last heartbeat as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Status {
    pub device_id: DeviceId,
    pub received_at: i64,
    pub heartbeat: Heartbeat,
}

const COLUMNS: &str = "device_id, received_at, firmware_version, allowlist_version, \
    uptime_seconds, free_heap, wifi_rssi, nuki_battery_percent, nuki_battery_critical, \
    nuki_paired, nuki_state";

fn from_row(row: &AnyRow) -> Result<Status> {
    Ok(Status {
        device_id: parse_id(&row.try_get::<String, _>("device_id")?, "device id")?,
        received_at: row.try_get("received_at")?,
        heartbeat: Heartbeat {
            firmware_version: row.try_get("firmware_version")?,
            allowlist_version: row.try_get("allowlist_version")?,
            uptime_seconds: row.try_get("uptime_seconds")?,
            free_heap: row.try_get("free_heap")?,
            wifi_rssi: row.try_get("wifi_rssi")?,
            nuki_battery_percent: row.try_get("nuki_battery_percent")?,
            nuki_battery_critical: row
                .try_get::<Option<i64>, _>("nuki_battery_critical")?
                .map(|v| v != 0),
            nuki_paired: row
                .try_get::<Option<i64>, _>("nuki_paired")?
                .map(|v| v != 0),
            nuki_state: row.try_get("nuki_state")?,
        },
    })
}

/// Overwrites the door's current status.
pub async fn upsert(conn: &mut AnyConnection, s: &Status) -> Result<()> {
    let h = &s.heartbeat;
    sqlx::query(
        "INSERT INTO device_status (device_id, received_at, firmware_version, allowlist_version, \
         uptime_seconds, free_heap, wifi_rssi, nuki_battery_percent, nuki_battery_critical, \
         nuki_paired, nuki_state) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (device_id) DO UPDATE SET received_at = $2, firmware_version = $3, \
         allowlist_version = $4, uptime_seconds = $5, free_heap = $6, wifi_rssi = $7, \
         nuki_battery_percent = $8, nuki_battery_critical = $9, nuki_paired = $10, nuki_state = $11",
    )
    .bind(s.device_id.to_string())
    .bind(s.received_at)
    .bind(&h.firmware_version)
    .bind(h.allowlist_version)
    .bind(h.uptime_seconds)
    .bind(h.free_heap)
    .bind(h.wifi_rssi)
    .bind(h.nuki_battery_percent)
    .bind(h.nuki_battery_critical.map(flag))
    .bind(h.nuki_paired.map(flag))
    .bind(h.nuki_state.as_deref())
    .execute(conn)
    .await?;
    Ok(())
}

/// Keeps a history row unless the door already has one from the last
/// [`HISTORY_INTERVAL_SECS`]; returns whether one was written.
pub async fn record_history(conn: &mut AnyConnection, s: &Status, body: &str) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO device_status_history (device_id, received_at, body) \
         SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM device_status_history \
         WHERE device_id = $1 AND received_at > $4) \
         ON CONFLICT (device_id, received_at) DO NOTHING",
    )
    .bind(s.device_id.to_string())
    .bind(s.received_at)
    .bind(body)
    .bind(s.received_at - HISTORY_INTERVAL_SECS)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn history_count(conn: &mut AnyConnection, device: DeviceId) -> Result<i64> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM device_status_history WHERE device_id = $1")
        .bind(device.to_string())
        .fetch_one(conn)
        .await?;
    Ok(row.try_get("n")?)
}

fn history_row(device: DeviceId, row: &AnyRow) -> Result<Status> {
    let body: String = row.try_get("body")?;
    Ok(Status {
        device_id: device,
        received_at: row.try_get("received_at")?,
        heartbeat: serde_json::from_str(&body)
            .map_err(|e| StorageError::Corrupt(format!("heartbeat history: {e}")))?,
    })
}

/// One page of a door's history, newest first.
pub async fn history_page(
    conn: &mut AnyConnection,
    device: DeviceId,
    limit: i64,
    offset: i64,
) -> Result<Vec<Status>> {
    let rows = sqlx::query(
        "SELECT received_at, body FROM device_status_history WHERE device_id = $1 \
         ORDER BY received_at DESC LIMIT $2 OFFSET $3",
    )
    .bind(device.to_string())
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await?;
    rows.iter().map(|r| history_row(device, r)).collect()
}

/// The battery field of a stored heartbeat, read without the rest.
#[derive(serde::Deserialize)]
struct BatteryField {
    nuki_battery_percent: Option<i64>,
}

/// The battery reading (time, percent if any) of the last history row of
/// each `bucket_secs` from `since` on, oldest first: a chart of 30 days
/// reads a few hundred bodies, not thousands.
pub async fn battery_sampled(
    conn: &mut AnyConnection,
    device: DeviceId,
    since: i64,
    bucket_secs: i64,
) -> Result<Vec<(i64, Option<i64>)>> {
    // Two steps, each planned well by both backends: the bucket ends from
    // the primary key alone, then their bodies by key. (One query joining
    // the grouped subquery was planned as a nested scan by the bundled
    // SQLite, a minute for 30 days; a correlated NOT EXISTS took 45-85 ms
    // on PostgreSQL.)
    let ends: Vec<i64> = sqlx::query(
        "SELECT MAX(received_at) AS last FROM device_status_history \
         WHERE device_id = $1 AND received_at >= $2 GROUP BY received_at / $3",
    )
    .bind(device.to_string())
    .bind(since)
    .bind(bucket_secs.max(1))
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| r.try_get("last"))
    .collect::<std::result::Result<_, _>>()?;
    let mut out = Vec::with_capacity(ends.len());
    for chunk in ends.chunks(500) {
        let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT received_at, body FROM device_status_history \
             WHERE device_id = $1 AND received_at IN ({})",
            marks.join(", ")
        );
        let mut q = sqlx::query(&sql).bind(device.to_string());
        for t in chunk {
            q = q.bind(*t);
        }
        for r in q.fetch_all(&mut *conn).await? {
            let body: String = r.try_get("body")?;
            let field: BatteryField = serde_json::from_str(&body)
                .map_err(|e| StorageError::Corrupt(format!("heartbeat history: {e}")))?;
            out.push((r.try_get("received_at")?, field.nuki_battery_percent));
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Drops history older than `before`.
pub async fn prune_history(conn: &mut AnyConnection, before: i64) -> Result<u64> {
    let done = sqlx::query("DELETE FROM device_status_history WHERE received_at < $1")
        .bind(before)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

pub async fn get(conn: &mut AnyConnection, device: DeviceId) -> Result<Option<Status>> {
    let sql = format!("SELECT {COLUMNS} FROM device_status WHERE device_id = $1");
    let row = sqlx::query(&sql)
        .bind(device.to_string())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The status of every live device that has sent a heartbeat.
pub async fn list(conn: &mut AnyConnection) -> Result<Vec<Status>> {
    let sql = format!("SELECT {COLUMNS} FROM device_status ORDER BY device_id");
    let rows = sqlx::query(&sql).fetch_all(conn).await?;
    rows.iter().map(from_row).collect()
}

/// Raises the battery alarm if it is armed; true when this call raised it
/// (so exactly one caller, across instances, writes the audit row).
pub async fn raise_battery_alarm(
    conn: &mut AnyConnection,
    device: DeviceId,
    now: i64,
) -> Result<bool> {
    let row = sqlx::query(
        "INSERT INTO nuki_battery_alarm (device_id, raised, updated_at) VALUES ($1, 1, $2) \
         ON CONFLICT (device_id) DO UPDATE SET raised = 1, updated_at = $2 \
         WHERE nuki_battery_alarm.raised = 0 RETURNING device_id",
    )
    .bind(device.to_string())
    .bind(now)
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}

/// Raises the critical-battery alarm if it is armed; true when this call raised it.
pub async fn raise_battery_critical(
    conn: &mut AnyConnection,
    device: DeviceId,
    now: i64,
) -> Result<bool> {
    let row = sqlx::query(
        "INSERT INTO nuki_battery_alarm (device_id, raised, updated_at, critical_raised) \
         VALUES ($1, 0, $2, 1) \
         ON CONFLICT (device_id) DO UPDATE SET critical_raised = 1, updated_at = $2 \
         WHERE nuki_battery_alarm.critical_raised = 0 RETURNING device_id",
    )
    .bind(device.to_string())
    .bind(now)
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}

/// Re-arms both alarms after a recovery.
pub async fn rearm_battery_alarm(
    conn: &mut AnyConnection,
    device: DeviceId,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE nuki_battery_alarm SET raised = 0, critical_raised = 0, updated_at = $2 \
         WHERE device_id = $1 AND (raised = 1 OR critical_raised = 1)",
    )
    .bind(device.to_string())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}
