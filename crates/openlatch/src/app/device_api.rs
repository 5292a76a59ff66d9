//! What doors post: event batches and heartbeats.

use super::keypad;
use super::notifications::events::{self as notice, Door, Notice};
use super::notifications::{enqueue, enqueue_mqtt, mqtt};
use super::{App, AppResult};
use crate::domain::approval::ApprovalStatus;
use crate::domain::device::{
    battery_reading, event, BatteryReading, Device, DeviceEvent, Heartbeat,
};
use crate::domain::key::Uid;
use crate::domain::keypad::{KeypadUnlock, UnlockMethod};
use crate::storage::audit::{self, Actor, NewEntry};
use crate::storage::device_status::{self, Status};
use crate::storage::{approvals, keys, notifications as notifications_store, now_unix};
use serde_json::{json, Value};
use sqlx::AnyConnection;
use std::collections::HashMap;

/// Clock skew tolerated when matching a door's `conditional_*` report to
/// an outcome the server already audited.
const CONDITIONAL_MATCH_SLACK_SECS: i64 = 300;
/// Heartbeat history is kept this long.
pub const HISTORY_RETENTION_SECS: i64 = 30 * 86_400;

/// The newest version a door can download (the newest signed list), 0 when none.
pub async fn latest_allowlist_version(conn: &mut AnyConnection) -> AppResult<i64> {
    Ok(crate::storage::allowlists::latest_signed_version(conn)
        .await?
        .unwrap_or(0))
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
    let mut list_changed = false;
    let door = Door {
        id: device.id,
        name: device.name.clone(),
    };
    let door_topic = device.id.to_string();
    let mut notices: Vec<Notice> = Vec::new();
    let mut mqtt_messages = Vec::new();
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
        let uid = e.uid.as_ref().map(|u| u.to_string());
        if let Some(unlock) = &unlock {
            let uid = uid.as_deref().unwrap_or_default();
            let done =
                keypad::record_unlock(&mut tx, device, unlock, uid, e.timestamp, at, event_id)
                    .await?;
            list_changed |= done.list_changed;
            if let Some(reason) = done.anomaly {
                notices.push(notice::anomaly(&door, reason, Some(uid), at));
            }
        }
        mqtt_messages.extend(mqtt::event_messages(
            &app.config,
            &door_topic,
            e.event,
            uid.as_deref(),
            at,
        ));
        match e.event {
            event::EMERGENCY_ACCESS => {
                notices.push(notice::emergency_access(&door, uid.as_deref(), at));
            }
            event::NUKI_BATTERY_LOW => {
                let percent = e.battery_percent().unwrap_or(-1);
                notices.push(notice::battery_low(&door, percent, at));
            }
            event::NUKI_DAILY_REPORT => {
                if let Some(p) = e.battery_percent() {
                    let critical = e.details.get("battery_critical") == Some(&Value::Bool(true));
                    let (found, messages) =
                        battery_check(app, &mut tx, device, p, critical, "nuki_daily_report", now)
                            .await?;
                    notices.extend(found);
                    mqtt_messages.extend(messages);
                }
            }
            kind if kind.starts_with("anomaly") => {
                notices.push(notice::anomaly(&door, kind, uid.as_deref(), at));
            }
            _ => {}
        }
    }
    for n in &notices {
        enqueue(app, &mut tx, n).await?;
    }
    enqueue_mqtt(app, &mut tx, "door_events", mqtt_messages).await?;
    tx.commit().await?;
    if outcome.accepted > 0 {
        app.notifications.wake();
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

/// Applies one battery reading to the door's alarms; on a fresh drop below
/// 20 % writes `nuki_battery_low` (device as actor); a fresh critical flag
/// raises `battery_critical`. Returns the notices and, when the reading
/// changed, the MQTT battery message.
async fn battery_check(
    app: &App,
    conn: &mut AnyConnection,
    device: &Device,
    percent: i64,
    critical: bool,
    source: &str,
    now: i64,
) -> AppResult<(Vec<Notice>, Vec<Value>)> {
    let door = Door {
        id: device.id,
        name: device.name.clone(),
    };
    let mut notices = Vec::new();
    match battery_reading(percent) {
        BatteryReading::Low => {
            if device_status::raise_battery_alarm(conn, device.id, now).await? {
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
                notices.push(notice::battery_low(&door, percent, now));
            }
        }
        BatteryReading::Recovered => {
            device_status::rearm_battery_alarm(conn, device.id, now).await?;
        }
        BatteryReading::Neutral => {}
    }
    if critical && device_status::raise_battery_critical(conn, device.id, now).await? {
        notices.push(notice::battery_critical(&door, Some(percent), now));
    }
    let messages = if app.notifications.mqtt_enabled() {
        vec![mqtt::battery_message(
            &app.config,
            &device.id.to_string(),
            percent,
            critical,
        )]
    } else {
        Vec::new()
    };
    Ok((notices, messages))
}

pub struct HeartbeatReply {
    pub server_time: i64,
    pub allowlist_version: i64,
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
    let before = if app.notifications.mqtt_enabled() {
        device_status::get(&mut tx, device.id).await?
    } else {
        None
    };
    device_status::upsert(&mut tx, &status).await?;
    device_status::record_history(&mut tx, &status, &body).await?;
    let mut notices = Vec::new();
    let mut mqtt_messages = Vec::new();
    if let Some(p) = status.heartbeat.nuki_battery_percent {
        let critical = status.heartbeat.nuki_battery_critical.unwrap_or(false);
        let (found, messages) =
            battery_check(app, &mut tx, device, p, critical, "heartbeat", now).await?;
        notices.extend(found);
        let unchanged = before.as_ref().is_some_and(|b| {
            b.heartbeat.nuki_battery_percent == Some(p)
                && b.heartbeat.nuki_battery_critical == status.heartbeat.nuki_battery_critical
        });
        if !unchanged {
            mqtt_messages.extend(messages);
        }
    }
    let door = Door {
        id: device.id,
        name: device.name.clone(),
    };
    let device_key = device.id.to_string();
    let was_offline = notifications_store::mark_online(&mut tx, &device_key, now).await?;
    if let Some(since) = was_offline {
        notices.push(notice::door_back_online(&door, since, now));
    }
    let state_changed = was_offline.is_some()
        || before
            .as_ref()
            .is_none_or(|b| b.heartbeat.allowlist_version != status.heartbeat.allowlist_version);
    if state_changed {
        mqtt_messages.push(mqtt::state_message(
            &app.config,
            &device_key,
            true,
            Some(status.heartbeat.allowlist_version),
            Some(now),
        ));
    }
    for n in &notices {
        enqueue(app, &mut tx, n).await?;
    }
    let wake = !notices.is_empty() || !mqtt_messages.is_empty();
    enqueue_mqtt(app, &mut tx, "door_state", mqtt_messages).await?;
    let allowlist_version = latest_allowlist_version(&mut tx).await?;
    tx.commit().await?;
    if wake {
        app.notifications.wake();
    }
    Ok(HeartbeatReply {
        server_time: now,
        allowlist_version,
    })
}

/// Housekeeping: drops heartbeat history past its retention.
pub async fn prune_history(app: &App) -> AppResult<u64> {
    let mut tx = app.db.begin().await?;
    let n = device_status::prune_history(&mut tx, now_unix() - HISTORY_RETENTION_SECS).await?;
    tx.commit().await?;
    Ok(n)
}
