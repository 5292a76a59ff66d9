//! What doors post: event batches and heartbeats.

use super::keypad;
use super::notify::Notification;
use super::{App, AppResult};
use crate::domain::approval::ApprovalStatus;
use crate::domain::device::{
    battery_reading, event, BatteryReading, Device, DeviceEvent, Heartbeat,
};
use crate::domain::key::Uid;
use crate::domain::keypad::{KeypadUnlock, UnlockMethod};
use crate::storage::audit::{self, Actor, NewEntry};
use crate::storage::device_status::{self, Status};
use crate::storage::{approvals, keys, now_unix};
use serde_json::{json, Value};
use sqlx::AnyConnection;
use std::collections::HashMap;

/// Clock skew tolerated when matching a door's `conditional_*` report to
/// an outcome the server already audited.
const CONDITIONAL_MATCH_SLACK_SECS: i64 = 300;
/// Heartbeat history is kept this long.
pub const HISTORY_RETENTION_SECS: i64 = 30 * 86_400;

/// The newest version a door of `zone` can download (the zone's newest
/// signed list), 0 when none.
pub async fn latest_allowlist_version(
    conn: &mut AnyConnection,
    zone: crate::domain::ZoneId,
) -> AppResult<i64> {
    Ok(
        crate::storage::allowlists::latest_signed_version(conn, zone)
            .await?
            .unwrap_or(0),
    )
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub accepted: usize,
    pub duplicates: usize,
    /// (index in the batch, reason)
    pub rejected: Vec<(usize, String)>,
}

/// Stores the valid events of one batch in one transaction; invalid ones are
/// reported by index, repeated ones counted as duplicates.
pub async fn record_events(app: &App, device: &Device, batch: &[Value]) -> AppResult<BatchOutcome> {
    let now = now_unix();
    let mut outcome = BatchOutcome::default();
    let mut valid = Vec::new();
    for (i, raw) in batch.iter().enumerate() {
        match DeviceEvent::parse(raw, now).and_then(with_keypad_fields(raw)) {
            Ok(e) => valid.push(e),
            Err(reason) => outcome.rejected.push((i, reason)),
        }
    }
    let mut notifications = Vec::new();
    let mut list_changed = false;
    let mut key_ids: HashMap<Uid, Option<String>> = HashMap::new();
    let mut tx = app.db.begin().await?;
    for (e, unlock) in valid {
        let at = if e.timestamp == 0 { now } else { e.timestamp };
        if let Some(uid) = &e.uid {
            if already_settled_by_server(&mut tx, device, &e, uid, at).await? {
                outcome.duplicates += 1;
                continue;
            }
        }
        // The door's own one-shot alert goes through the same alarm as the
        // server's, so a low battery is raised once whoever notices first.
        if e.event == event::NUKI_BATTERY_LOW
            && !device_status::raise_battery_alarm(&mut tx, device.id, now).await?
        {
            outcome.duplicates += 1;
            continue;
        }
        let target_id = match &e.uid {
            None => None,
            Some(uid) => match key_ids.get(uid) {
                Some(k) => k.clone(),
                None => {
                    let k = keys::find_unrevoked_by_uid(&mut tx, uid)
                        .await?
                        .map(|k| k.id.to_string());
                    key_ids.insert(uid.clone(), k.clone());
                    k
                }
            },
        };
        let mut details = e.details.clone();
        details.insert(
            "uid".into(),
            Value::String(e.uid.as_ref().map(|u| u.to_string()).unwrap_or_default()),
        );
        details.insert("received_at".into(), json!(now));
        if let Some(seq) = e.seq {
            details.insert("seq".into(), json!(seq));
        }
        if e.timestamp == 0 {
            details.insert("clock_unsynchronised".into(), Value::Bool(true));
        }
        let inserted = audit::insert(
            &mut tx,
            NewEntry {
                event_type: e.event,
                actor: Actor::Device(device.id),
                target_id,
                details: Value::Object(details),
                created_at: at,
                dedup_key: Some(e.dedup_key(device.id)),
            },
        )
        .await?;
        let Some(event_id) = inserted else {
            outcome.duplicates += 1;
            continue;
        };
        outcome.accepted += 1;
        if let Some(unlock) = &unlock {
            let uid = e.uid.as_ref().map(|u| u.to_string()).unwrap_or_default();
            let done =
                keypad::record_unlock(&mut tx, device, unlock, &uid, e.timestamp, at, event_id)
                    .await?;
            list_changed |= done.list_changed;
            notifications.extend(done.notification);
        }
        match e.event {
            event::EMERGENCY_ACCESS => notifications.push(Notification::EmergencyAccess {
                device_id: device.id,
                device_name: device.name.clone(),
                uid: e.uid.as_ref().map(|u| u.to_string()),
            }),
            event::NUKI_BATTERY_LOW => notifications.push(Notification::BatteryLow {
                device_id: device.id,
                device_name: device.name.clone(),
                percent: e.battery_percent().unwrap_or(-1),
            }),
            event::NUKI_DAILY_REPORT => {
                if let Some(p) = e.battery_percent() {
                    if let Some(n) =
                        battery_check(&mut tx, device, p, "nuki_daily_report", now).await?
                    {
                        notifications.push(n);
                    }
                }
            }
            _ => {}
        }
    }
    tx.commit().await?;
    for n in notifications {
        app.notifications.send(n);
    }
    if list_changed {
        // A used backup code goes into the next list, so other doors refuse it.
        app.list_inputs_changed().await;
    }
    Ok(outcome)
}

/// A `keypad_unlock` must name its keypad id and method (and HOTP index);
/// they are stored in `details`, whether the door sent them at the top
/// level or inside `details`, so deduplication and the audit row see them.
fn with_keypad_fields(
    raw: &Value,
) -> impl FnOnce(DeviceEvent) -> Result<(DeviceEvent, Option<KeypadUnlock>), String> + '_ {
    move |mut e| {
        if e.event != event::KEYPAD_UNLOCK {
            return Ok((e, None));
        }
        let unlock = KeypadUnlock::parse(raw)?;
        e.details
            .insert("keypad_id".into(), json!(unlock.keypad_id));
        match unlock.method {
            UnlockMethod::Totp => {
                e.details.insert("method".into(), json!("totp"));
            }
            UnlockMethod::Hotp { index } => {
                e.details.insert("method".into(), json!("hotp"));
                e.details.insert("index".into(), json!(index));
            }
        }
        Ok((e, Some(unlock)))
    }
}

/// A door reports `conditional_*` only for outcomes the server never
/// produced; if the server did audit this outcome, the report is a duplicate.
async fn already_settled_by_server(
    conn: &mut AnyConnection,
    device: &Device,
    e: &DeviceEvent,
    uid: &Uid,
    at: i64,
) -> AppResult<bool> {
    let statuses: &[ApprovalStatus] = match e.event {
        event::CONDITIONAL_APPROVED => &[ApprovalStatus::Approved],
        event::CONDITIONAL_DENIED => &[ApprovalStatus::Denied],
        event::CONDITIONAL_TIMEOUT => &[ApprovalStatus::Timeout, ApprovalStatus::Abandoned],
        _ => return Ok(false),
    };
    Ok(approvals::settled_near(
        conn,
        device.id,
        uid,
        statuses,
        at,
        CONDITIONAL_MATCH_SLACK_SECS,
    )
    .await?)
}

/// Applies one battery reading to the door's alarm; on a fresh drop below
/// 20 % writes `nuki_battery_low` (device as actor) and returns the notification.
async fn battery_check(
    conn: &mut AnyConnection,
    device: &Device,
    percent: i64,
    source: &str,
    now: i64,
) -> AppResult<Option<Notification>> {
    match battery_reading(percent) {
        BatteryReading::Low => {
            if !device_status::raise_battery_alarm(conn, device.id, now).await? {
                return Ok(None);
            }
            audit::insert(
                conn,
                NewEntry::now(
                    event::NUKI_BATTERY_LOW,
                    Actor::Device(device.id),
                    None,
                    json!({ "uid": "", "battery_percent": percent, "source": source, "raised_by": "server" }),
                ),
            )
            .await?;
            Ok(Some(Notification::BatteryLow {
                device_id: device.id,
                device_name: device.name.clone(),
                percent,
            }))
        }
        BatteryReading::Recovered => {
            device_status::rearm_battery_alarm(conn, device.id, now).await?;
            Ok(None)
        }
        BatteryReading::Neutral => Ok(None),
    }
}

pub struct HeartbeatReply {
    pub server_time: i64,
    pub allowlist_version: i64,
    pub zone_id: crate::domain::ZoneId,
}

/// Stores the door's current status, a history row at most every 5 minutes,
/// and applies the battery alarm.
pub async fn record_heartbeat(
    app: &App,
    device: &Device,
    hb: Heartbeat,
) -> AppResult<HeartbeatReply> {
    let now = now_unix();
    let status = Status {
        device_id: device.id,
        received_at: now,
        heartbeat: hb,
    };
    let body = serde_json::to_string(&status.heartbeat)
        .map_err(|e| super::AppError::Internal(e.to_string()))?;
    let mut tx = app.db.begin().await?;
    device_status::upsert(&mut tx, &status).await?;
    device_status::record_history(&mut tx, &status, &body).await?;
    let notification = match status.heartbeat.nuki_battery_percent {
        Some(p) => battery_check(&mut tx, device, p, "heartbeat", now).await?,
        None => None,
    };
    let allowlist_version = latest_allowlist_version(&mut tx, device.zone_id).await?;
    tx.commit().await?;
    if let Some(n) = notification {
        app.notifications.send(n);
    }
    Ok(HeartbeatReply {
        server_time: now,
        allowlist_version,
        zone_id: device.zone_id,
    })
}

/// Housekeeping: drops heartbeat history past its retention.
pub async fn prune_history(app: &App) -> AppResult<u64> {
    let mut tx = app.db.begin().await?;
    let n = device_status::prune_history(&mut tx, now_unix() - HISTORY_RETENTION_SECS).await?;
    tx.commit().await?;
    Ok(n)
}
