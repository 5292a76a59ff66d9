//! NFC keys: the UID a reader sees and how the key may be used.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use utoipa::ToSchema;

/// An NFC UID of 4, 7 or 10 bytes, kept as upper-case hex without separators.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uid(String);

impl Uid {
    pub const MESSAGE: &'static str =
        "must be 8, 14 or 20 hex digits (4, 7 or 10 bytes); ':', '-' and spaces are ignored";

    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let hex: String = raw
            .chars()
            .filter(|c| !matches!(c, ':' | '-' | ' '))
            .collect();
        let all_hex = hex.chars().all(|c| c.is_ascii_hexdigit());
        if !all_hex || !matches!(hex.len(), 8 | 14 | 20) {
            return Err(Self::MESSAGE);
        }
        Ok(Self(hex.to_ascii_uppercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The pattern that matches exactly what [`Uid::parse`] accepts: 8, 14
    /// or 20 hex digits with any `:`, `-` and spaces among them.
    pub fn pattern() -> String {
        let digit = "[0-9A-Fa-f][:\\- ]*";
        format!("^[:\\- ]*(?:{digit}){{8}}(?:(?:{digit}){{6}}(?:(?:{digit}){{6}})?)?$")
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        // Parsing guaranteed an even number of hex digits.
        hex::decode(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The card technology, free-form but tidy (`mifare_desfire`, `ntag215`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyType(String);

impl KeyType {
    /// What [`KeyType::parse`] accepts, for the OpenAPI document.
    pub const PATTERN: &'static str = "^[a-z0-9_]{1,32}$";

    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let ok = (1..=32).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err("must be 1 to 32 characters of a-z, 0-9 or '_' (e.g. mifare_desfire)")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A key-level access type that overrides what rules would compile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyAccessType {
    /// Landlord or fire-brigade cards: always open, reported at once.
    Emergency,
    /// Opens only after a live approval.
    Conditional,
}

impl KeyAccessType {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAccessType::Emergency => "emergency",
            KeyAccessType::Conditional => "conditional",
        }
    }
}

impl FromStr for KeyAccessType {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "emergency" => Ok(Self::Emergency),
            "conditional" => Ok(Self::Conditional),
            _ => Err("must be \"emergency\" or \"conditional\" (or absent)"),
        }
    }
}

/// A free-text label such as "Blue keychain tag".
pub fn parse_label(raw: &str) -> Result<String, String> {
    LABEL.parse(raw)
}

pub const LABEL: super::text::TextField = super::text::TextField::new(0, 100);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_uid_pattern_accepts_exactly_what_parse_accepts() {
        let re = regex::Regex::new(&Uid::pattern()).expect("pattern compiles");
        let mut inputs: Vec<String> = (0..=24).map(|n| "a".repeat(n)).collect();
        inputs.extend((0..=24).map(|n| "0F:".repeat(n)));
        inputs.extend(
            [
                "04-A1 B2:C3D4E5F6",
                "::",
                "0g000000",
                " 04a1b2c3 ",
                "04a1b2c3\n",
            ]
            .map(String::from),
        );
        for s in &inputs {
            assert_eq!(re.is_match(s), Uid::parse(s).is_ok(), "{s:?}");
        }
    }

    #[test]
    fn uid_accepts_separators_and_normalises() {
        assert_eq!(
            Uid::parse("aa:bb:cc:dd").map(|u| u.0),
            Ok("AABBCCDD".into())
        );
        assert_eq!(
            Uid::parse("04-a2 24 1a 2b 3c 80").map(|u| u.0),
            Ok("04A2241A2B3C80".into())
        );
        assert!(Uid::parse("AABBCC").is_err());
        assert!(Uid::parse("AABBCCDDEE").is_err());
        assert!(Uid::parse("GGBBCCDD").is_err());
        assert_eq!(
            Uid::parse("00112233445566778899").map(|u| u.to_bytes().len()),
            Ok(10)
        );
    }

    #[test]
    fn key_type_shape() {
        assert!(KeyType::parse("mifare_desfire").is_ok());
        assert!(KeyType::parse("Mifare").is_err());
        assert!(KeyType::parse("").is_err());
    }
}

/// An NFC key as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NfcKey {
    pub id: super::KeyId,
    pub member_id: super::MemberId,
    pub uid: Uid,
    pub label: String,
    pub key_type: Option<String>,
    pub access_type: Option<KeyAccessType>,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
    pub revoke_reason: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl NfcKey {
    /// Active = neither revoked nor past its expiry.
    pub fn is_active_at(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }
}
