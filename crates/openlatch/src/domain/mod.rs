//! The pure domain: parsed, always-valid values and the rules that need no I/O.
//!
//! Everything that crosses the HTTP boundary is parsed into these types once
//! ("parse, don't validate"), so the layers below never see a bad username,
//! an odd-length UID or an unknown role.

pub mod approval;
pub mod audit;
pub mod compile;
pub mod device;
pub mod ids;
pub mod key;
pub mod keypad;
pub mod member;
pub mod rule;
pub mod validation;
pub mod zone;

pub use ids::{DeviceId, KeyId, MemberId, RuleId, ZoneId};
pub use validation::{FieldErrors, Validation};

use chrono::{DateTime, TimeZone, Utc};

/// Timestamps are stored as unix seconds in both databases.
pub fn from_unix(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// Now, to the second: what is stored is what the API shows.
pub fn now() -> DateTime<Utc> {
    from_unix(Utc::now().timestamp())
}
