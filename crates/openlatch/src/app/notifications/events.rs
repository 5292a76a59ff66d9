//! The notifiable events: their names, their stable payloads and a one-line
//! summary for people (e-mail subjects, chat messages).
//!
//! Every payload shape is documented in docs/notifications.md; add fields,
//! never rename or remove them.

use crate::domain::{DeviceId, MemberId};
use serde_json::{json, Value};
use uuid::Uuid;

/// The event types a subscription can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    EmergencyAccess,
    BatteryLow,
    BatteryCritical,
    DoorOffline,
    DoorBackOnline,
    ApprovalRequested,
    ApprovalDecided,
    LockdownStarted,
    OverrideEnded,
    SubkeyExpiring,
    Anomaly,
    LoginLocked,
    /// `POST /notifications/subscriptions/{id}/test`; never subscribed to.
    Test,
}

impl EventType {
    /// Everything a subscription may list.
    pub const SUBSCRIBABLE: [EventType; 12] = [
        EventType::EmergencyAccess,
        EventType::BatteryLow,
        EventType::BatteryCritical,
        EventType::DoorOffline,
        EventType::DoorBackOnline,
        EventType::ApprovalRequested,
        EventType::ApprovalDecided,
        EventType::LockdownStarted,
        EventType::OverrideEnded,
        EventType::SubkeyExpiring,
        EventType::Anomaly,
        EventType::LoginLocked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::EmergencyAccess => "emergency_access",
            EventType::BatteryLow => "battery_low",
            EventType::BatteryCritical => "battery_critical",
            EventType::DoorOffline => "door_offline",
            EventType::DoorBackOnline => "door_back_online",
            EventType::ApprovalRequested => "approval_requested",
            EventType::ApprovalDecided => "approval_decided",
            EventType::LockdownStarted => "lockdown_started",
            EventType::OverrideEnded => "override_ended",
            EventType::SubkeyExpiring => "subkey_expiring",
            EventType::Anomaly => "anomaly",
            EventType::LoginLocked => "login_locked",
            EventType::Test => "test",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::SUBSCRIBABLE.into_iter().find(|t| t.as_str() == s)
    }
}

/// Who should get an e-mail without a subscription, when SMTP is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberAudience {
    Nobody,
    Admins,
    /// Those who may decide: the sponsor if there is one (and admins),
    /// otherwise keyholders and admins; never the key's holder.
    Deciders {
        holder: MemberId,
        sponsor: Option<MemberId>,
    },
}

/// One thing that happened and should be told.
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    pub event_type: EventType,
    /// Unix seconds.
    pub occurred_at: i64,
    pub data: Value,
    pub summary: String,
    /// Repeats of the same cause with this key are sent once.
    pub dedup_key: Option<String>,
    pub audience: MemberAudience,
}

/// A door as named in payloads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Door {
    pub id: DeviceId,
    pub name: String,
}

impl Door {
    fn json(&self) -> Value {
        json!({ "id": self.id, "name": self.name })
    }
}

/// A UID shown outside the server: the first four hex digits only, enough
/// to tell tags apart in a chat, too little to clone one.
pub fn short_uid(uid: &str) -> String {
    if uid.is_empty() {
        return String::new();
    }
    let head: String = uid.chars().take(4).collect();
    format!("{head}…")
}

fn notice(
    event_type: EventType,
    occurred_at: i64,
    data: Value,
    summary: String,
    dedup_key: Option<String>,
    audience: MemberAudience,
) -> Notice {
    Notice {
        event_type,
        occurred_at,
        data,
        summary,
        dedup_key,
        audience,
    }
}

/// Emergency access: one per door per minute (the minute is the dedup key).
pub fn emergency_access(door: &Door, uid: Option<&str>, at: i64) -> Notice {
    notice(
        EventType::EmergencyAccess,
        at,
        json!({ "door": door.json(), "uid": short_uid(uid.unwrap_or_default()) }),
        format!("EMERGENCY ACCESS at {}", door.name),
        Some(format!(
            "emergency_access:{}:{}",
            door.id,
            at.div_euclid(60)
        )),
        MemberAudience::Admins,
    )
}

pub fn battery_low(door: &Door, percent: i64, at: i64) -> Notice {
    notice(
        EventType::BatteryLow,
        at,
        json!({ "door": door.json(), "battery_percent": percent }),
        format!("Lock battery low at {} ({percent} %)", door.name),
        None,
        MemberAudience::Admins,
    )
}

pub fn battery_critical(door: &Door, percent: Option<i64>, at: i64) -> Notice {
    let level = percent.map(|p| format!(" ({p} %)")).unwrap_or_default();
    notice(
        EventType::BatteryCritical,
        at,
        json!({ "door": door.json(), "battery_percent": percent }),
        format!(
            "Lock battery CRITICAL at {}{level}: replace it now",
            door.name
        ),
        None,
        MemberAudience::Admins,
    )
}

pub fn door_offline(door: &Door, last_seen: i64, at: i64) -> Notice {
    notice(
        EventType::DoorOffline,
        at,
        json!({ "door": door.json(), "last_heartbeat_at": last_seen, "silent_secs": at - last_seen }),
        format!(
            "{} is offline: no heartbeat for {} min",
            door.name,
            (at - last_seen) / 60
        ),
        None,
        MemberAudience::Admins,
    )
}

pub fn door_back_online(door: &Door, offline_since: i64, at: i64) -> Notice {
    notice(
        EventType::DoorBackOnline,
        at,
        json!({ "door": door.json(), "offline_since": offline_since }),
        format!("{} is back online", door.name),
        None,
        MemberAudience::Nobody,
    )
}

pub struct ApprovalInfo<'a> {
    pub request_id: Uuid,
    pub door: &'a Door,
    pub uid: &'a str,
    pub member_id: MemberId,
    pub member_name: &'a str,
    pub sponsor_id: Option<MemberId>,
    pub expires_at: i64,
}

pub fn approval_requested(a: &ApprovalInfo<'_>, at: i64) -> Notice {
    notice(
        EventType::ApprovalRequested,
        at,
        json!({
            "request_id": a.request_id,
            "door": a.door.json(),
            "uid": short_uid(a.uid),
            "member": { "id": a.member_id, "display_name": a.member_name },
            "sponsor_id": a.sponsor_id,
            "expires_at": a.expires_at,
        }),
        format!(
            "{} is waiting at {} for approval",
            a.member_name, a.door.name
        ),
        None,
        MemberAudience::Deciders {
            holder: a.member_id,
            sponsor: a.sponsor_id,
        },
    )
}

pub fn approval_decided(
    request_id: Uuid,
    door: &Door,
    status: &str,
    decided_by: Option<MemberId>,
    at: i64,
) -> Notice {
    notice(
        EventType::ApprovalDecided,
        at,
        json!({ "request_id": request_id, "door": door.json(), "status": status, "decided_by": decided_by }),
        format!("Approval request at {} ended: {status}", door.name),
        None,
        MemberAudience::Nobody,
    )
}

pub fn lockdown_started(rule_id: &str, rule_name: &str, until: Option<i64>, at: i64) -> Notice {
    notice(
        EventType::LockdownStarted,
        at,
        json!({ "rule": { "id": rule_id, "name": rule_name }, "until": until }),
        format!("LOCKDOWN started ({rule_name})"),
        None,
        MemberAudience::Admins,
    )
}

/// `reason`: `deleted`, `deactivated`, `changed` or `expired`.
pub fn override_ended(rule_id: &str, rule_name: &str, mode: &str, reason: &str, at: i64) -> Notice {
    notice(
        EventType::OverrideEnded,
        at,
        json!({ "rule": { "id": rule_id, "name": rule_name }, "mode": mode, "reason": reason }),
        format!("Global override '{rule_name}' ({mode}) ended: {reason}"),
        // An expiry is noticed by every instance's periodic check.
        (reason == "expired").then(|| format!("override_ended:{rule_id}:{at}")),
        MemberAudience::Admins,
    )
}

pub fn subkey_expiring(expires_at: i64, threshold_days: i64, at: i64) -> Notice {
    let days_left = (expires_at - at).max(0) / 86_400;
    notice(
        EventType::SubkeyExpiring,
        at,
        json!({ "expires_at": expires_at, "days_left": days_left, "threshold_days": threshold_days }),
        format!("The allow-list signing sub-key expires in {days_left} days: delegate a new one"),
        Some(format!("subkey_expiring:{expires_at}:{threshold_days}")),
        MemberAudience::Admins,
    )
}

pub fn anomaly(door: &Door, kind: &str, uid: Option<&str>, at: i64) -> Notice {
    notice(
        EventType::Anomaly,
        at,
        json!({ "door": door.json(), "kind": kind, "uid": short_uid(uid.unwrap_or_default()) }),
        format!("Anomaly at {}: {kind}", door.name),
        None,
        MemberAudience::Nobody,
    )
}

/// `scope`: `username` (one name from one address) or `address` (one address, any name).
pub fn login_locked(username: &str, client: &str, scope: &str, until: i64, at: i64) -> Notice {
    notice(
        EventType::LoginLocked,
        at,
        json!({ "username": username, "client": client, "scope": scope, "blocked_until": until }),
        format!("Login locked for '{username}' from {client} until {until}"),
        // Every further failure extends the block: one message per quarter hour.
        Some(format!(
            "login_locked:{scope}:{username}|{client}:{}",
            at.div_euclid(900)
        )),
        MemberAudience::Nobody,
    )
}

pub fn test(subscription_id: &str, at: i64) -> Notice {
    notice(
        EventType::Test,
        at,
        json!({ "subscription_id": subscription_id }),
        "Test message from OpenLatch".into(),
        None,
        MemberAudience::Nobody,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_test_is_not_subscribable() {
        for t in EventType::SUBSCRIBABLE {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
        assert_eq!(EventType::parse("test"), None);
        assert_eq!(EventType::parse("battery"), None);
    }

    #[test]
    fn uids_are_shortened() {
        assert_eq!(short_uid("04A1B2C3D4E5F6"), "04A1…");
        assert_eq!(short_uid(""), "");
    }

    #[test]
    fn emergency_dedup_is_per_door_and_minute() {
        let door = Door {
            id: DeviceId::new(),
            name: "front".into(),
        };
        let a = emergency_access(&door, None, 120);
        let b = emergency_access(&door, None, 179);
        let c = emergency_access(&door, None, 180);
        assert_eq!(a.dedup_key, b.dedup_key);
        assert_ne!(a.dedup_key, c.dedup_key);
    }
}
