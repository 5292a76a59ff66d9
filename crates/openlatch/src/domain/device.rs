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
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

impl fmt::Debug for DeviceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeviceToken([redacted])")
    }
}

/// A device name: 1 to 64 characters.
pub fn parse_device_name(raw: &str) -> Result<String, &'static str> {
    let t = raw.trim();
    let len = t.chars().count();
    if len == 0 || len > 64 || t.chars().any(char::is_control) {
        return Err("must be 1 to 64 characters without control characters");
    }
    Ok(t.to_owned())
}

/// A free-text location ("Front door, ground floor"): at most 100 characters.
pub fn parse_location(raw: &str) -> Result<String, &'static str> {
    let t = raw.trim();
    if t.chars().count() > 100 || t.chars().any(char::is_control) {
        return Err("must be at most 100 characters without control characters");
    }
    Ok(t.to_owned())
}

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
}
