//! A door's own page: its state, the heartbeat history the server keeps
//! (at most one row per 5 minutes, pruned after
//! [`HISTORY_RETENTION_SECS`]), its lock battery over that time, and the
//! denied taps of unknown cards that a key can be registered from.

use super::{door_row, DoorRow};
use crate::app::device_api::HISTORY_RETENTION_SECS;
use crate::app::{App, AppError, AppResult};
use crate::domain::device::event::ACCESS_DENIED;
use crate::domain::key::Uid;
use crate::domain::zone::Zone;
use crate::domain::DeviceId;
use crate::storage::audit::{self, Filter};
use crate::storage::device_status::{self, Status};
use crate::storage::{allowlists, devices, keys, now_unix, zones};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};

/// Heartbeats per page of the history table.
pub const HISTORY_PER_PAGE: usize = 50;
/// The battery chart shows at most one reading per this many seconds (the
/// last heartbeat of every two hours): 30 days are 360 points, about two
/// pixels each on a 640-unit chart, and a battery does not change faster.
pub const CHART_BUCKET_SECS: i64 = 2 * 3600;

pub struct DoorDetail {
    pub door: DoorRow,
    /// Every zone, for the form that moves the door.
    pub zones: Vec<Zone>,
    /// One page of heartbeats, newest first.
    pub history: Vec<Status>,
    pub page: usize,
    pub has_more: bool,
    /// (unix time, battery %) oldest first: the last heartbeat of each
    /// [`CHART_BUCKET_SECS`] since `chart_since`, left out when it carries
    /// no reading.
    pub battery: Vec<(i64, i64)>,
    pub chart_since: i64,
    pub now: i64,
}

pub async fn door_detail(app: &App, id: DeviceId, page: usize) -> AppResult<DoorDetail> {
    let now = now_unix();
    let page = page.max(1);
    let per_page = i64::try_from(HISTORY_PER_PAGE).unwrap_or(50);
    let offset = i64::try_from(page - 1)
        .unwrap_or(0)
        .saturating_mul(per_page);
    let chart_since = now - HISTORY_RETENTION_SECS;
    let mut conn = app.db.read().await?;
    let device = devices::get(&mut conn, id)
        .await?
        .ok_or(AppError::NotFound("device"))?;
    let status = device_status::get(&mut conn, id).await?;
    let all_zones = zones::list(&mut conn).await?;
    let zone_name = all_zones
        .iter()
        .find(|z| z.id == device.zone_id)
        .map(|z| z.name.clone())
        .unwrap_or_default();
    // The head only: the list's bytes are not needed to name its version.
    let newest = allowlists::latest_head(&mut conn, device.zone_id)
        .await?
        .map(|l| l.version);
    let mut history = device_status::history_page(&mut conn, id, per_page + 1, offset).await?;
    let has_more = history.len() > HISTORY_PER_PAGE;
    history.truncate(HISTORY_PER_PAGE);
    let readings =
        device_status::battery_sampled(&mut conn, id, chart_since, CHART_BUCKET_SECS).await?;
    drop(conn);
    Ok(DoorDetail {
        door: door_row(device, status, zone_name, newest, now),
        zones: all_zones,
        history,
        page,
        has_more,
        battery: battery_points(&readings),
        chart_since,
        now,
    })
}

/// The last battery reading of each bucket, oldest first (the rows come
/// sampled already; this also drops those without a reading, -1 or absent).
fn battery_points(readings: &[(i64, Option<i64>)]) -> Vec<(i64, i64)> {
    let mut out: Vec<(i64, i64)> = Vec::new();
    for (at, percent) in readings {
        let Some(percent) = percent.filter(|p| *p >= 0) else {
            continue;
        };
        match out.last_mut() {
            Some(last)
                if last.0.div_euclid(CHART_BUCKET_SECS) == at.div_euclid(CHART_BUCKET_SECS) =>
            {
                *last = (*at, percent);
            }
            _ => out.push((*at, percent)),
        }
    }
    out
}

/// A card a door refused because no key has its UID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeniedTap {
    pub uid: Uid,
    pub door: String,
    pub at: DateTime<Utc>,
}

/// Denied taps this recent are offered for registering a key.
pub const DENIED_TAP_MAX_AGE_SECS: i64 = 7 * 86_400;
/// How many of the newest `access_denied` events are looked at.
const DENIED_TAP_SCAN: i64 = 200;

/// The newest denied tap of each UID that no unrevoked key has, newest
/// first, at most `max`: the card someone just held to a door, to register
/// without typing its UID.
pub async fn unknown_denied_taps(app: &App, max: usize) -> AppResult<Vec<DeniedTap>> {
    let now = now_unix();
    let mut conn = app.db.read().await?;
    let denied = audit::query(
        &mut conn,
        &Filter {
            event_types: vec![ACCESS_DENIED.to_owned()],
            since: Some(now - DENIED_TAP_MAX_AGE_SECS),
            limit: DENIED_TAP_SCAN,
            ..Filter::default()
        },
    )
    .await?;
    let doors: HashMap<String, String> = devices::list(&mut conn)
        .await?
        .into_iter()
        .map(|d| (d.id.to_string(), d.name))
        .collect();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for e in denied {
        if out.len() >= max {
            break;
        }
        // A tap the server matched to a key was refused for another reason.
        if e.target_id.is_some() {
            continue;
        }
        let Some(uid) = e
            .details
            .get("uid")
            .and_then(|u| u.as_str())
            .and_then(|u| Uid::parse(u).ok())
        else {
            continue;
        };
        if !seen.insert(uid.clone()) {
            continue;
        }
        // Registered since the tap: nothing left to do for this card.
        if keys::find_unrevoked_by_uid(&mut conn, &uid)
            .await?
            .is_some()
        {
            continue;
        }
        let door = e
            .actor_id
            .as_ref()
            .and_then(|a| doors.get(a).cloned())
            .unwrap_or_else(|| "a removed door".to_owned());
        out.push(DeniedTap {
            uid,
            door,
            at: e.created_at,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_keeps_the_last_reading_of_each_bucket_and_skips_unknown_ones() {
        let b = CHART_BUCKET_SECS;
        let points = battery_points(&[
            (10 * b, Some(90)),
            (10 * b + 300, Some(89)),
            (10 * b + 600, Some(-1)),
            (11 * b + 5, None),
            (12 * b, Some(80)),
        ]);
        assert_eq!(points, [(10 * b + 300, 89), (12 * b, 80)]);
    }
}
