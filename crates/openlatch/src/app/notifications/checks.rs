//! Notifications nobody's request causes: a door falling silent, the
//! signing sub-key nearing expiry, a global override running out.
//! [`run_checks`] runs every 30 s in the background (and directly in tests);
//! each transition is flagged in the database in the same transaction as its
//! messages, so several instances notify it once.

use super::events::{self, Door};
use super::{enqueue, enqueue_mqtt, mqtt};
use crate::app::{App, AppResult};
use crate::domain::rule::{OverrideMode, RuleParams};
use crate::domain::DeviceId;
use crate::storage::{devices, notifications as store, rules};

/// Warnings before the sub-key expires, in days.
pub const SUBKEY_WARN_DAYS: [i64; 3] = [30, 7, 1];
/// An override that ran out longer ago than this is not announced any more
/// (a subscription created later must not get old news).
const OVERRIDE_END_NEWS_SECS: i64 = 600;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    pub doors_offline: usize,
    pub messages: usize,
}

pub async fn run_checks(app: &App, now: i64) -> AppResult<CheckReport> {
    let mut report = CheckReport::default();
    let offline_after = i64::try_from(app.config.door_offline_after_secs).unwrap_or(600);
    let silent = {
        let mut conn = app.db.read().await?;
        store::newly_silent(&mut conn, now - offline_after).await?
    };
    for (device, last_seen) in silent {
        let Ok(id) = device.parse::<DeviceId>() else {
            continue;
        };
        let mut tx = app.db.begin().await?;
        let Some(d) = devices::get(&mut tx, id).await? else {
            continue;
        };
        if !store::mark_offline(&mut tx, &device, now).await? {
            continue;
        }
        let door = Door {
            id,
            name: d.name.clone(),
        };
        report.messages +=
            enqueue(app, &mut tx, &events::door_offline(&door, last_seen, now)).await?;
        let status = crate::storage::device_status::get(&mut tx, id).await?;
        let state = mqtt::state_message(
            &app.config,
            &device,
            false,
            status.map(|s| s.heartbeat.allowlist_version),
            Some(last_seen),
        );
        enqueue_mqtt(app, &mut tx, "door_state", vec![state]).await?;
        tx.commit().await?;
        report.doors_offline += 1;
    }

    let mut tx = app.db.begin().await?;
    if let Some(expires) = app.signing.subkey_expires_at().filter(|&e| e > 0) {
        let left = expires - now;
        if let Some(days) = SUBKEY_WARN_DAYS.iter().rev().find(|&&d| left <= d * 86_400) {
            report.messages +=
                enqueue(app, &mut tx, &events::subkey_expiring(expires, *days, now)).await?;
        }
    }
    for rule in rules::list(&mut tx).await? {
        if let RuleParams::GlobalOverride(o) = &rule.params {
            let Some(until) = o.until.map(|u| u.timestamp()) else {
                continue;
            };
            if rule.is_active && until <= now && now - until < OVERRIDE_END_NEWS_SECS {
                let n = events::override_ended(
                    &rule.id.to_string(),
                    &rule.name,
                    mode_str(o.mode),
                    "expired",
                    until,
                );
                report.messages += enqueue(app, &mut tx, &n).await?;
            }
        }
    }
    tx.commit().await?;
    if report.messages > 0 || report.doors_offline > 0 {
        app.notifications.wake();
    }
    Ok(report)
}

/// The smallest warning threshold (days) already reached, if any: one
/// message per threshold, and a server started late sends only the nearest.
pub fn subkey_threshold(expires: i64, now: i64) -> Option<i64> {
    let left = expires - now;
    SUBKEY_WARN_DAYS
        .iter()
        .rev()
        .find(|&&d| left <= d * 86_400)
        .copied()
}

pub fn mode_str(m: OverrideMode) -> &'static str {
    match m {
        OverrideMode::Lockdown => "lockdown",
        OverrideMode::Open => "open",
    }
}

/// An active global override of `rule`: (mode, until).
fn active_override(
    rule: Option<&crate::domain::rule::Rule>,
) -> Option<(OverrideMode, Option<i64>)> {
    let r = rule.filter(|r| r.is_active)?;
    match &r.params {
        RuleParams::GlobalOverride(o) => Some((o.mode, o.until.map(|u| u.timestamp()))),
        _ => None,
    }
}

/// What a rule change means for `lockdown_started` / `override_ended`;
/// `after` is `None` when the rule was deleted.
pub fn rule_change_notices(
    before: Option<&crate::domain::rule::Rule>,
    after: Option<&crate::domain::rule::Rule>,
    now: i64,
) -> Vec<events::Notice> {
    let Some(rule) = after.or(before) else {
        return Vec::new();
    };
    let (was, is) = (active_override(before), active_override(after));
    let mut out = Vec::new();
    if let Some((mode, _)) = was {
        if is.map(|(m, _)| m) != Some(mode) {
            let reason = match after {
                None => "deleted",
                Some(a) if !a.is_active => "deactivated",
                Some(_) => "changed",
            };
            out.push(events::override_ended(
                &rule.id.to_string(),
                &rule.name,
                mode_str(mode),
                reason,
                now,
            ));
        }
    }
    if let Some((OverrideMode::Lockdown, until)) = is {
        if was.map(|(m, _)| m) != Some(OverrideMode::Lockdown) {
            out.push(events::lockdown_started(
                &rule.id.to_string(),
                &rule.name,
                until,
                now,
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subkey_warnings_at_30_7_and_1_days() {
        let day = 86_400;
        let exp = 1_000 * day;
        assert_eq!(subkey_threshold(exp, exp - 31 * day), None);
        assert_eq!(subkey_threshold(exp, exp - 30 * day), Some(30));
        assert_eq!(subkey_threshold(exp, exp - 8 * day), Some(30));
        assert_eq!(subkey_threshold(exp, exp - 7 * day), Some(7));
        assert_eq!(subkey_threshold(exp, exp - day), Some(1));
        assert_eq!(
            subkey_threshold(exp, exp + day),
            Some(1),
            "expired: still the last warning"
        );
    }
}
