//! Settings of the space as a whole.

use chrono_tz::Tz;

/// The space's time zone: an IANA name as the time-window rules take it.
pub fn parse_time_zone(raw: &str) -> Result<Tz, &'static str> {
    let name = raw.trim();
    if name.is_empty() {
        return Err("is required");
    }
    name.parse::<Tz>()
        .map_err(|_| "must be an IANA time zone name such as Europe/Berlin")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_iana_names() {
        assert_eq!(
            parse_time_zone(" Europe/Berlin "),
            Ok(chrono_tz::Europe::Berlin)
        );
        assert_eq!(parse_time_zone("UTC"), Ok(chrono_tz::UTC));
        assert!(parse_time_zone("Mars/Olympus").is_err());
        assert!(parse_time_zone("+02:00").is_err());
        assert_eq!(parse_time_zone(""), Err("is required"));
    }
}
