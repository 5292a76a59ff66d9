//! Door controllers and their bearer tokens.

use rand::RngCore;
use sha2::{Digest, Sha256};
use std::fmt;

/// A device token as handed to a door once: `olt_` + 43 base64url characters (256 bits).
pub struct DeviceToken(String);

impl DeviceToken {
    pub const PREFIX: &'static str = "olt_";

    pub fn generate() -> Self {
        use base64::Engine;
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        Self(format!("{}{body}", Self::PREFIX))
    }

    /// Accepts only the documented shape, so junk never reaches the database.
    pub fn parse(raw: &str) -> Option<Self> {
        let body = raw.strip_prefix(Self::PREFIX)?;
        let ok = body.len() == 43
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What is stored: the SHA-256 of the token, hex. A 256-bit random token
    /// needs no salt or slow hash.
    /// SHA-256 of the token: what the database keeps (hex) and the poll
    /// cache is keyed by.
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }

    pub fn hash(&self) -> String {
        hex::encode(self.digest())
    }
}

impl fmt::Debug for DeviceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeviceToken([redacted])")
    }
}

/// A device name: 1 to 64 characters.
pub fn parse_device_name(raw: &str) -> Result<String, String> {
    DEVICE_NAME.parse(raw)
}

pub const DEVICE_NAME: super::text::TextField = super::text::TextField::new(1, 64);

/// A free-text location ("Front door, ground floor"): at most 100 characters.
pub fn parse_location(raw: &str) -> Result<String, String> {
    LOCATION.parse(raw)
}

pub const LOCATION: super::text::TextField = super::text::TextField::new(0, 100);

/// The firmware version a door reports in its heartbeat.
pub const FIRMWARE_VERSION: super::text::TextField = super::text::TextField::new(1, 64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_the_documented_shape() {
        let t = DeviceToken::generate();
        assert!(t.expose().starts_with("olt_"));
        assert_eq!(t.expose().len(), 4 + 43);
        assert!(DeviceToken::parse(t.expose()).is_some());
        assert!(DeviceToken::parse("olt_short").is_none());
        assert!(DeviceToken::parse("eyJhbGciOiJIUzI1NiJ9.x.y").is_none());
        assert_ne!(t.hash(), DeviceToken::generate().hash());
        assert_eq!(t.hash().len(), 64);
    }
}

/// A registered door controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    pub id: super::DeviceId,
    pub name: String,
    pub location: Option<String>,
    pub is_enabled: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub token_rotated_at: chrono::DateTime<chrono::Utc>,
    /// The zone whose list the door is served.
    pub zone_id: super::ZoneId,
}

/// A door's heartbeat as stored (the seed's body; NUKI fields absent without a lock).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Heartbeat {
    pub firmware_version: String,
    pub allowlist_version: i64,
    pub uptime_seconds: i64,
    pub free_heap: i64,
    pub wifi_rssi: i64,
    pub nuki_battery_percent: Option<i64>,
    pub nuki_battery_critical: Option<bool>,
    pub nuki_paired: Option<bool>,
    pub nuki_state: Option<String>,
}

impl Heartbeat {
    /// Whether this door reports a NUKI lock at all.
    pub fn has_lock(&self) -> bool {
        self.nuki_paired.is_some()
            || self.nuki_battery_percent.is_some()
            || self.nuki_battery_critical.is_some()
    }
}

/// NUKI lock states a door may report.
pub const NUKI_STATES: [&str; 10] = [
    "locked",
    "unlocked",
    "unlatched",
    "unlatching",
    "unlocking",
    "locking",
    "motor_blocked",
    "uncalibrated",
    "boot_run",
    "unknown",
];

/// Battery thresholds: raised below `LOW`, re-armed above `REARM`.
pub const BATTERY_LOW_BELOW: i64 = 20;
pub const BATTERY_REARM_ABOVE: i64 = 25;

/// What a battery reading does to the one-shot `nuki_battery_low` alarm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatteryReading {
    /// Below 20 %: raise, if armed.
    Low,
    /// Above 25 %: re-arm.
    Recovered,
    /// -1 (unknown) or in the hysteresis band: nothing changes.
    Neutral,
}

pub fn battery_reading(percent: i64) -> BatteryReading {
    if (0..BATTERY_LOW_BELOW).contains(&percent) {
        BatteryReading::Low
    } else if percent > BATTERY_REARM_ABOVE {
        BatteryReading::Recovered
    } else {
        BatteryReading::Neutral
    }
}

/// Event types a door may post (the seed's list plus `keypad_unlock`).
pub mod event {
    pub const ACCESS_GRANTED: &str = "access_granted";
    pub const ACCESS_DENIED: &str = "access_denied";
    pub const ACCESS_GRACE: &str = "access_grace";
    pub const LOCK_ONLY: &str = "lock_only";
    pub const EMERGENCY_ACCESS: &str = "emergency_access";
    pub const ANOMALY_OUTSIDE_HOURS: &str = "anomaly_outside_hours";
    pub const CONDITIONAL_APPROVED: &str = "conditional_approved";
    pub const CONDITIONAL_DENIED: &str = "conditional_denied";
    pub const CONDITIONAL_TIMEOUT: &str = "conditional_timeout";
    pub const LOCKED_BY_BUTTON: &str = "locked_by_button";
    pub const LOCKED_AUTO: &str = "locked_auto";
    pub const NUKI_DAILY_REPORT: &str = "nuki_daily_report";
    pub const NUKI_BATTERY_LOW: &str = "nuki_battery_low";
    pub const KEYPAD_UNLOCK: &str = "keypad_unlock";

    pub const ALL: [&str; 14] = [
        ACCESS_GRANTED,
        ACCESS_DENIED,
        ACCESS_GRACE,
        LOCK_ONLY,
        EMERGENCY_ACCESS,
        ANOMALY_OUTSIDE_HOURS,
        CONDITIONAL_APPROVED,
        CONDITIONAL_DENIED,
        CONDITIONAL_TIMEOUT,
        LOCKED_BY_BUTTON,
        LOCKED_AUTO,
        NUKI_DAILY_REPORT,
        NUKI_BATTERY_LOW,
        KEYPAD_UNLOCK,
    ];

    /// Events not tied to a card may carry an empty UID.
    pub fn uid_optional(event: &str) -> bool {
        event.starts_with("nuki_") || event.starts_with("locked_")
    }
}

/// Largest `details` object of one event, serialised.
pub const MAX_DETAILS_BYTES: usize = 4 * 1024;
/// At most this many events per batch.
pub const MAX_BATCH_EVENTS: usize = 100;
/// At most this many bytes per batch.
pub const MAX_BATCH_BYTES: usize = 64 * 1024;
/// How far in the future a door's timestamp may be.
pub const MAX_FUTURE_SECS: i64 = 300;

/// One event from a door, parsed: a known type, a UID when the type needs
/// one, a usable time and a small details object.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceEvent {
    pub event: &'static str,
    pub uid: Option<super::key::Uid>,
    /// The door's clock; 0 when it was not synchronised.
    pub timestamp: i64,
    pub seq: Option<u32>,
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl DeviceEvent {
    /// Parses one element of a batch; the error is the reason reported to the door.
    pub fn parse(raw: &serde_json::Value, now: i64) -> Result<Self, String> {
        let obj = raw.as_object().ok_or("must be a JSON object")?;
        let name = obj
            .get("event")
            .and_then(serde_json::Value::as_str)
            .ok_or("event: is required and must be a string")?;
        let event = event::ALL
            .into_iter()
            .find(|e| *e == name)
            .ok_or_else(|| format!("event: '{name}' is not a device event type"))?;
        let uid_raw = match obj.get("uid") {
            None | Some(serde_json::Value::Null) => "",
            Some(serde_json::Value::String(s)) => s.as_str(),
            Some(_) => return Err("uid: must be a string".into()),
        };
        let uid = if uid_raw.is_empty() {
            if !event::uid_optional(event) {
                return Err(format!("uid: is required for {event}"));
            }
            None
        } else {
            Some(super::key::Uid::parse(uid_raw).map_err(|m| format!("uid: {m}"))?)
        };
        let timestamp = obj
            .get("timestamp")
            .and_then(serde_json::Value::as_i64)
            .filter(|t| *t >= 0)
            .ok_or("timestamp: is required and must be unix seconds (0 = clock not set)")?;
        if timestamp > now + MAX_FUTURE_SECS {
            return Err(format!(
                "timestamp: more than {MAX_FUTURE_SECS} s in the future"
            ));
        }
        let seq = match obj.get("seq") {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .and_then(|s| u32::try_from(s).ok())
                    .ok_or("seq: must be an unsigned 32-bit integer")?,
            ),
        };
        let details = match obj.get("details") {
            None | Some(serde_json::Value::Null) => serde_json::Map::new(),
            Some(serde_json::Value::Object(m)) => {
                if serde_json::Value::Object(m.clone()).to_string().len() > MAX_DETAILS_BYTES {
                    return Err(format!("details: larger than {MAX_DETAILS_BYTES} bytes"));
                }
                m.clone()
            }
            Some(_) => return Err("details: must be a JSON object".into()),
        };
        Ok(Self {
            event,
            uid,
            timestamp,
            seq,
            details,
        })
    }

    /// Identifies the event for deduplication: (device, seq) when the door
    /// numbers its events, else (device, event, uid, timestamp, details).
    /// `details` is canonical because JSON maps keep their keys sorted.
    pub fn dedup_key(&self, device: super::DeviceId) -> String {
        let canonical = match self.seq {
            Some(seq) => format!("seq\u{1f}{device}\u{1f}{seq}"),
            None => format!(
                "ev\u{1f}{device}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}",
                self.event,
                self.uid.as_ref().map_or("", |u| u.as_str()),
                self.timestamp,
                serde_json::Value::Object(self.details.clone())
            ),
        };
        format!("dev:{}", hex::encode(Sha256::digest(canonical.as_bytes())))
    }

    /// The battery level this event reports, if any.
    pub fn battery_percent(&self) -> Option<i64> {
        self.details
            .get("battery_percent")
            .and_then(serde_json::Value::as_i64)
    }
}

#[cfg(test)]
mod event_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_are_parsed_and_refused_with_reasons() {
        let now = 1_700_000_000;
        let ok = DeviceEvent::parse(
            &json!({"uid": "aabbccdd", "event": "access_granted", "timestamp": now, "extra": 1}),
            now,
        )
        .expect("valid");
        assert_eq!(ok.uid.as_ref().map(|u| u.as_str()), Some("AABBCCDD"));
        assert!(DeviceEvent::parse(
            &json!({"uid": "", "event": "nuki_daily_report", "timestamp": 0}),
            now
        )
        .is_ok());
        for bad in [
            json!({"uid": "", "event": "access_granted", "timestamp": now}),
            json!({"uid": "AABB", "event": "access_granted", "timestamp": now}),
            json!({"uid": "AABBCCDD", "event": "member_created", "timestamp": now}),
            json!({"uid": "AABBCCDD", "event": "access_granted", "timestamp": now + 301}),
            json!({"uid": "AABBCCDD", "event": "access_granted", "timestamp": now, "seq": -1}),
            json!({"uid": "AABBCCDD", "event": "access_granted", "timestamp": now, "details": [1]}),
            json!({"uid": "AABBCCDD", "event": "access_granted", "timestamp": now,
                   "details": {"x": "y".repeat(5000)}}),
        ] {
            assert!(DeviceEvent::parse(&bad, now).is_err(), "{bad}");
        }
    }

    #[test]
    fn dedup_keys_follow_seq_or_content() {
        let now = 1_700_000_000;
        let d = super::super::DeviceId::new();
        let a = DeviceEvent::parse(&json!({"uid": "AABBCCDD", "event": "access_granted", "timestamp": now, "details": {"b": 1, "a": 2}}), now).expect("a");
        let b = DeviceEvent::parse(&json!({"event": "access_granted", "details": {"a": 2, "b": 1}, "timestamp": now, "uid": "aabbccdd"}), now).expect("b");
        assert_eq!(a.dedup_key(d), b.dedup_key(d));
        assert_ne!(a.dedup_key(d), a.dedup_key(super::super::DeviceId::new()));
        let s1 = DeviceEvent::parse(
            &json!({"uid": "AABBCCDD", "event": "access_granted", "timestamp": now, "seq": 7}),
            now,
        )
        .expect("s1");
        let s2 = DeviceEvent::parse(
            &json!({"uid": "11223344", "event": "access_denied", "timestamp": now, "seq": 7}),
            now,
        )
        .expect("s2");
        assert_eq!(s1.dedup_key(d), s2.dedup_key(d));
    }

    #[test]
    fn battery_hysteresis() {
        assert_eq!(battery_reading(19), BatteryReading::Low);
        assert_eq!(battery_reading(20), BatteryReading::Neutral);
        assert_eq!(battery_reading(25), BatteryReading::Neutral);
        assert_eq!(battery_reading(26), BatteryReading::Recovered);
        assert_eq!(battery_reading(-1), BatteryReading::Neutral);
    }
}
