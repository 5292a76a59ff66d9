//! Zones: sets of doors that share one allow-list (system.md 13).

use super::ZoneId;
use chrono::{DateTime, Utc};

/// Who is present in a zone when no rule says otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DefaultPresence {
    /// Admin, keyholder and member keys are present unless a rule removes
    /// them (system.md 3.3 step 4 as written; the zone `main`).
    Members,
    /// Only admins, emergency keys and keys a `grant` rule adds in this zone.
    Granted,
}

impl DefaultPresence {
    pub fn as_str(self) -> &'static str {
        match self {
            DefaultPresence::Members => "members",
            DefaultPresence::Granted => "granted",
        }
    }

    pub fn parse(s: &str) -> Result<Self, &'static str> {
        match s {
            "members" => Ok(DefaultPresence::Members),
            "granted" => Ok(DefaultPresence::Granted),
            _ => Err("must be \"members\" or \"granted\""),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Zone {
    pub id: ZoneId,
    pub name: String,
    pub description: Option<String>,
    pub default_presence: DefaultPresence,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What the compiler needs to know about the zone it compiles for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZoneScope {
    pub id: ZoneId,
    pub default_presence: DefaultPresence,
}

impl ZoneScope {
    /// The zone `main` as every database starts it: today's behaviour.
    pub const MAIN: ZoneScope = ZoneScope {
        id: ZoneId::MAIN,
        default_presence: DefaultPresence::Members,
    };
}

impl From<&Zone> for ZoneScope {
    fn from(z: &Zone) -> Self {
        ZoneScope {
            id: z.id,
            default_presence: z.default_presence,
        }
    }
}

/// A zone name: 1 to 64 characters of plain text.
pub fn parse_zone_name(raw: &str) -> Result<String, String> {
    ZONE_NAME.parse(raw)
}

pub const ZONE_NAME: super::text::TextField = super::text::TextField::new(1, 64);

/// A free-text description: at most 500 characters of plain text.
pub fn parse_zone_description(raw: &str) -> Result<String, String> {
    ZONE_DESCRIPTION.parse(raw)
}

pub const ZONE_DESCRIPTION: super::text::TextField = super::text::TextField::new(0, 500);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_and_names_parse() {
        assert_eq!(
            DefaultPresence::parse("granted"),
            Ok(DefaultPresence::Granted)
        );
        assert!(DefaultPresence::parse("everyone").is_err());
        assert_eq!(parse_zone_name("  laser room "), Ok("laser room".into()));
        assert!(parse_zone_name("").is_err());
        assert!(parse_zone_name("lab\u{202E}oratory").is_err());
        assert!(parse_zone_name(&"x".repeat(65)).is_err());
        assert_eq!(
            ZoneId::MAIN.to_string(),
            "00000000-0000-0000-0000-000000000001"
        );
    }
}
