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
pub mod space;
pub mod text;
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

/// The range of times the API takes: doors count unsigned seconds since
/// 1970, and RFC 3339 has four-digit years.
pub const TIME_RANGE_MESSAGE: &str =
    "must be an RFC 3339 time with offset between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59Z, \
     e.g. 2026-03-01T15:00:00+01:00";

/// The year range of [`parse_time`] for the OpenAPI document, beside
/// `format: date-time` (a time in 1970 before a positive offset's worth of
/// hours is the one case the pattern lets through and the parser refuses).
pub const TIME_PATTERN: &str = "^(?:19[7-9][0-9]|[2-9][0-9]{3})-";

/// Parses an RFC 3339 time the server can store, compile and explain.
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, &'static str> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
        .filter(|t| (0..=253_402_300_799).contains(&t.timestamp()))
        .ok_or(TIME_RANGE_MESSAGE)
}

/// Now, to the second: what is stored is what the API shows.
pub fn now() -> DateTime<Utc> {
    from_unix(Utc::now().timestamp())
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_before_1970_or_past_9999_are_refused() {
        for bad in [
            "1969-12-31T23:59:59Z",
            "0001-01-01T00:00:00Z",
            "1970-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00",
            "yesterday",
        ] {
            assert!(super::parse_time(bad).is_err(), "{bad}");
        }
        for good in [
            "1970-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "2026-03-01T15:00:00+01:00",
        ] {
            assert!(super::parse_time(good).is_ok(), "{good}");
        }
    }
}
