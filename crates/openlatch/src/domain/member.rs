//! Members: who they are and what role they hold.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use utoipa::ToSchema;

/// Roles from lowest to highest; the derived order is the privilege order.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Guest,
    Member,
    Keyholder,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Guest, Role::Member, Role::Keyholder, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Guest => "guest",
            Role::Member => "member",
            Role::Keyholder => "keyholder",
            Role::Admin => "admin",
        }
    }

    /// The role byte the allow-list carries for this role.
    pub fn code(self) -> u8 {
        match self {
            Role::Guest => 0x10,
            Role::Member => 0x20,
            Role::Keyholder => 0x40,
            Role::Admin => 0x80,
        }
    }

    /// Keyholders and admins may vouch for others at the door.
    pub fn is_guarantor(self) -> bool {
        self >= Role::Keyholder
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or("must be one of guest, member, keyholder, admin")
    }
}

/// A login name: 3 to 32 characters of `a-z 0-9 . _ -`, starting with a letter or digit.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let ok_len = (3..=32).contains(&raw.len());
        let ok_chars = raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
        let ok_start = raw
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if ok_len && ok_chars && ok_start {
            Ok(Self(raw.to_owned()))
        } else {
            Err("must be 3 to 32 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An e-mail address, checked for shape only (delivery is the only real proof).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// The limits count characters of the input as sent (surrounding spaces
    /// included), so that the OpenAPI document can state them exactly.
    pub const MAX_CHARS: usize = 254;
    pub const MAX_LOCAL_CHARS: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        const MSG: &str = "must be an e-mail address like name@example.org";
        let too_long = raw.chars().count() > Self::MAX_CHARS;
        let raw = raw.trim();
        if too_long
            || raw
                .chars()
                .any(|c| c.is_whitespace() || !super::text::is_allowed(c))
        {
            return Err(MSG);
        }
        let (local, domain) = raw.rsplit_once('@').ok_or(MSG)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !domain.contains('@');
        if local.is_empty()
            || local.chars().count() > Self::MAX_LOCAL_CHARS
            || local.contains('@')
            || !domain_ok
        {
            return Err(MSG);
        }
        Ok(Self(raw.to_owned()))
    }

    /// The pattern (with `maxLength` [`Email::MAX_CHARS`]) that matches
    /// exactly what [`Email::parse`] accepts.
    pub fn pattern() -> String {
        use super::text::{class, CONTROLS, SPOOFING, WHITESPACE};
        let space = class("", &[WHITESPACE]);
        let local = class("^", &[CONTROLS, SPOOFING, WHITESPACE, &[('@', '@')]]);
        let label = class(
            "^",
            &[CONTROLS, SPOOFING, WHITESPACE, &[('@', '@'), ('.', '.')]],
        );
        format!(
            "^{space}*{local}{{1,{}}}@{label}+(?:\\.{label}+)+{space}*$",
            Self::MAX_LOCAL_CHARS
        )
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A display name: 1 to 100 characters after trimming, no control characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub const FIELD: super::text::TextField = super::text::TextField::new(1, 100);

    pub fn parse(raw: &str) -> Result<Self, String> {
        Self::FIELD.parse(raw).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password in plain text; only lives long enough to be hashed.
pub struct NewPassword(String);

impl NewPassword {
    pub const MIN_CHARS: usize = 10;
    pub const MAX_CHARS: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let len = raw.chars().count();
        if !(Self::MIN_CHARS..=Self::MAX_CHARS).contains(&len) {
            return Err(format!(
                "must be {} to {} characters",
                Self::MIN_CHARS,
                Self::MAX_CHARS
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_email_pattern_accepts_exactly_what_parse_accepts() {
        let re = regex::Regex::new(&Email::pattern()).expect("pattern compiles");
        let agree = |s: &str| {
            let by_schema = re.is_match(s) && s.chars().count() <= Email::MAX_CHARS;
            assert_eq!(by_schema, Email::parse(s).is_ok(), "{s:?}");
        };
        for c in (0..=u32::from(char::MAX)).filter_map(char::from_u32) {
            agree(&format!("a{c}b@example.org"));
            agree(&format!("ab@ex{c}ample.org"));
            agree(&format!("{c}ab@example.org{c}"));
        }
        let long_local = "a".repeat(64);
        for s in [
            "a@b.c",
            "a@b",
            "@b.c",
            "a@.b.c",
            "a@b.c.",
            "a@b..c",
            "a@@b.c",
            "a@b@c.d",
            " a@b.c\u{3000}",
            "a b@c.d",
            "é@ü.de",
            &format!("{long_local}@b.c"),
            &format!("{long_local}a@b.c"),
            &format!("a@{}.de", "b".repeat(249)),
            &format!("a@{}.de", "b".repeat(250)),
            &format!(" a@{}.de", "b".repeat(249)),
        ] {
            agree(s);
        }
    }

    #[test]
    fn usernames() {
        assert!(Username::parse("alice").is_ok());
        assert!(Username::parse("bob.smith-2").is_ok());
        assert!(Username::parse("al").is_err());
        assert!(Username::parse("Alice").is_err());
        assert!(Username::parse("-alice").is_err());
        assert!(Username::parse("alice smith").is_err());
        assert!(Username::parse(&"a".repeat(33)).is_err());
    }

    #[test]
    fn emails() {
        assert!(Email::parse("alice@example.com").is_ok());
        assert!(Email::parse("alice@localhost").is_err());
        assert!(Email::parse("@example.com").is_err());
        assert!(Email::parse("alice@@example.com").is_err());
        assert!(Email::parse("a b@example.com").is_err());
    }

    #[test]
    fn roles_order_and_codes() {
        assert!(Role::Admin > Role::Keyholder && Role::Keyholder > Role::Member);
        assert!(Role::Keyholder.is_guarantor() && !Role::Member.is_guarantor());
        assert_eq!(Role::Guest.code(), 0x10);
        assert_eq!("keyholder".parse::<Role>(), Ok(Role::Keyholder));
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn passwords() {
        assert!(NewPassword::parse("short").is_err());
        assert!(NewPassword::parse("long enough pw").is_ok());
        assert_eq!(
            format!("{:?}", NewPassword::parse("long enough pw")),
            "Ok(NewPassword([redacted]))"
        );
    }
}

/// A member as stored (the password hash is fetched separately, only for login).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub id: super::MemberId,
    pub username: String,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub is_active: bool,
    /// Picks this member's keypad secret in the allow-list; never reused.
    pub keypad_id: u16,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}
