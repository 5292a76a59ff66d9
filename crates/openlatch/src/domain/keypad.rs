//! Keypad codes of guarantors (system.md 5): TOTP secrets (RFC 6238) and
//! printed sheets of HOTP backup codes (RFC 4226).
//!
//! The codes themselves are computed with `ol02::hotp`, the very function the
//! door runs, so a sheet the server prints can never disagree with a door.
//! Secrets never appear in `Debug` output; only the one-time enrolment
//! response and the allow-list carry them.

use super::member::Role;
use super::MemberId;
use data_encoding::BASE32_NOPAD;
use rand::RngCore;
use std::fmt;

pub use ol02::{HOTP_SHEET_LEN, OTP_SECRET_LEN, TOTP_STEP_SECONDS};

/// Issuer shown by authenticator apps, and the label prefix of the URI.
pub const ISSUER: &str = "OpenLatch";
/// Digits of every code.
pub const DIGITS: u32 = 6;

/// Audit event types of keypad enrolment and use.
pub mod event {
    pub const TOTP_ENROLLED: &str = "keypad_totp_enrolled";
    pub const TOTP_ROTATED: &str = "keypad_totp_rotated";
    pub const TOTP_REMOVED: &str = "keypad_totp_removed";
    pub const BACKUP_CODES_ISSUED: &str = "keypad_backup_codes_issued";
    pub const BACKUP_CODES_VOIDED: &str = "keypad_backup_codes_voided";
    /// Everything of one member removed at once (demotion, deactivation).
    pub const KEYPAD_REMOVED: &str = "keypad_removed";
    /// Every secret of every guarantor voided (a door was stolen).
    pub const ALL_ROTATED: &str = "keypad_all_rotated";
    /// The seed's anomaly type: a reused backup code, an unknown keypad id.
    pub const ANOMALY_DETECTED: &str = "anomaly_detected";
}

/// Only guarantors (keyholders and admins) may hold keypad codes.
pub fn may_hold_codes(role: Role) -> bool {
    role.is_guarantor()
}

/// A 20-byte HMAC-SHA-1 key. Never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct OtpSecret([u8; OTP_SECRET_LEN]);

impl OtpSecret {
    /// 20 random bytes from the operating system's generator (RFC 4226
    /// section 4 asks for at least 128 bits; 160 is what RFC 6238 uses).
    pub fn generate() -> Self {
        let mut b = [0u8; OTP_SECRET_LEN];
        rand::rngs::OsRng.fill_bytes(&mut b);
        Self(b)
    }

    pub fn from_bytes(b: [u8; OTP_SECRET_LEN]) -> Self {
        Self(b)
    }

    pub fn bytes(&self) -> &[u8; OTP_SECRET_LEN] {
        &self.0
    }

    /// RFC 4648 base32 without padding (20 bytes give 32 characters, no `=`),
    /// as authenticator apps expect in `otpauth://` URIs.
    pub fn to_base32(&self) -> String {
        BASE32_NOPAD.encode(&self.0)
    }

    pub fn from_base32(s: &str) -> Option<Self> {
        let raw = BASE32_NOPAD
            .decode(s.trim_end_matches('=').as_bytes())
            .ok()?;
        Some(Self(raw.try_into().ok()?))
    }

    /// The storage form.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(s: &str) -> Option<Self> {
        let raw = hex::decode(s).ok()?;
        Some(Self(raw.try_into().ok()?))
    }

    /// RFC 6238 TOTP (SHA-1, 30 s, 6 digits) at unix time `unix`.
    pub fn totp(&self, unix: u64) -> u32 {
        ol02::totp(&self.0, unix)
    }

    /// RFC 4226 HOTP (SHA-1, 6 digits) for `counter`.
    pub fn hotp(&self, counter: u64) -> u32 {
        ol02::hotp(&self.0, counter)
    }
}

impl fmt::Debug for OtpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OtpSecret([redacted])")
    }
}

/// `otpauth://totp/OpenLatch:<username>?secret=...&issuer=OpenLatch&digits=6&period=30`
/// (the Key Uri Format authenticator apps read). Built with a URI library so
/// that the label and parameters are always correctly encoded.
pub fn otpauth_uri(username: &str, secret: &OtpSecret) -> String {
    let mut uri = match url::Url::parse("otpauth://totp/") {
        Ok(u) => u,
        // A constant that parses; unreachable.
        Err(_) => return String::new(),
    };
    uri.set_path(&format!("{ISSUER}:{username}"));
    uri.query_pairs_mut()
        .append_pair("secret", &secret.to_base32())
        .append_pair("issuer", ISSUER)
        .append_pair("digits", &DIGITS.to_string())
        .append_pair("period", &TOTP_STEP_SECONDS.to_string());
    uri.into()
}

/// The URI as an SVG QR code (error correction M, 4-module quiet zone).
pub fn qr_svg(uri: &str) -> Option<String> {
    let code = qrcode::QrCode::with_error_correction_level(uri, qrcode::EcLevel::M).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(256, 256)
            .quiet_zone(true)
            .build(),
    )
}

/// One printed backup code: its index on the sheet and the 6-digit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackupCode {
    pub index: u8,
    pub code: u32,
}

/// The 10 codes of a sheet: HOTP counters 0..=9 of the sheet's secret.
pub fn sheet_codes(secret: &OtpSecret) -> Vec<BackupCode> {
    (0..HOTP_SHEET_LEN)
        .map(|index| BackupCode {
            index,
            code: secret.hotp(u64::from(index)),
        })
        .collect()
}

/// Bit mask of every index on a sheet.
pub const SHEET_MASK: u16 = (1 << HOTP_SHEET_LEN) - 1;

/// A member's keypad secrets as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeypadCredential {
    pub member_id: MemberId,
    /// The TOTP secret and when it was enrolled (or last rotated).
    pub totp: Option<(OtpSecret, i64)>,
    /// The current sheet's secret and when it was issued.
    pub sheet: Option<(OtpSecret, i64)>,
    /// Bit `i` set: code `i` of the current sheet was used at some door.
    pub hotp_used: u16,
}

impl KeypadCredential {
    pub fn is_empty(&self) -> bool {
        self.totp.is_none() && self.sheet.is_none()
    }

    /// Unused codes of the current sheet (0 without one).
    pub fn backup_codes_left(&self) -> u32 {
        match self.sheet {
            Some(_) => HOTP_SHEET_LEN as u32 - (self.hotp_used & SHEET_MASK).count_ones(),
            None => 0,
        }
    }

    /// When the keypad record got its current secrets: the TOTP enrolment,
    /// or the sheet's issue when there is no TOTP secret.
    pub fn enrolled_at(&self) -> Option<i64> {
        self.totp.as_ref().or(self.sheet.as_ref()).map(|(_, t)| *t)
    }

    /// The record every allow-list carries for this member.
    pub fn to_spec(&self, keypad_id: u16) -> ol02::KeypadSpec {
        ol02::KeypadSpec {
            keypad_id,
            totp_secret: self.totp.as_ref().map(|(s, _)| *s.bytes()),
            hotp_secret: self.sheet.as_ref().map(|(s, _)| *s.bytes()),
            hotp_used: if self.sheet.is_some() {
                self.hotp_used & SHEET_MASK
            } else {
                0
            },
        }
    }
}

/// The keypad section of a list: every active guarantor with a secret, and
/// the keypad id each such member's profile carries (members missing from
/// the map carry keypad id 0).
pub fn list_section(
    members: &[super::member::Member],
    credentials: &[KeypadCredential],
) -> (
    std::collections::HashMap<MemberId, u16>,
    Vec<ol02::KeypadSpec>,
) {
    let by_id: std::collections::HashMap<MemberId, &super::member::Member> =
        members.iter().map(|m| (m.id, m)).collect();
    list_section_by(|id| by_id.get(&id).copied(), credentials)
}

/// [`list_section`] with the members found through `member` (a caller that
/// keeps an index of its members need not build another).
pub fn list_section_by<'m>(
    member: impl Fn(MemberId) -> Option<&'m super::member::Member>,
    credentials: &[KeypadCredential],
) -> (
    std::collections::HashMap<MemberId, u16>,
    Vec<ol02::KeypadSpec>,
) {
    let mut enrolled = std::collections::HashMap::new();
    let mut section = Vec::new();
    for c in credentials.iter().filter(|c| !c.is_empty()) {
        let Some(m) = member(c.member_id) else {
            continue;
        };
        if m.is_active && may_hold_codes(m.role) && m.keypad_id != 0 {
            enrolled.insert(m.id, m.keypad_id);
            section.push(c.to_spec(m.keypad_id));
        }
    }
    section.sort_by_key(|s| s.keypad_id);
    (enrolled, section)
}

/// How a door says a keypad code opened it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnlockMethod {
    Totp,
    Hotp { index: u8 },
}

/// The keypad fields of a `keypad_unlock` event: `keypad_id`, `method`
/// (`totp` or `hotp`) and, for HOTP, `index`. Read from the event's top
/// level, or from its `details` object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeypadUnlock {
    pub keypad_id: u16,
    pub method: UnlockMethod,
}

impl KeypadUnlock {
    /// Parses the fields; the error names the wrong one (it is the reason
    /// reported back to the door).
    pub fn parse(event: &serde_json::Value) -> Result<Self, String> {
        let field = |name: &str| {
            event
                .get(name)
                .filter(|v| !v.is_null())
                .or_else(|| event.get("details").and_then(|d| d.get(name)))
                .filter(|v| !v.is_null())
        };
        let keypad_id = field("keypad_id")
            .and_then(serde_json::Value::as_u64)
            .and_then(|k| u16::try_from(k).ok())
            .filter(|&k| k != 0)
            .ok_or("keypad_id: is required for keypad_unlock and must be 1..65535")?;
        let method = match field("method").and_then(serde_json::Value::as_str) {
            Some("totp") => UnlockMethod::Totp,
            Some("hotp") => {
                let index = field("index")
                    .and_then(serde_json::Value::as_u64)
                    .and_then(|i| u8::try_from(i).ok())
                    .filter(|&i| i < HOTP_SHEET_LEN)
                    .ok_or("index: is required for a hotp keypad_unlock and must be 0..9")?;
                UnlockMethod::Hotp { index }
            }
            _ => return Err("method: must be \"totp\" or \"hotp\"".into()),
        };
        Ok(Self { keypad_id, method })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// RFC 4226 appendix D and RFC 6238 appendix B: "12345678901234567890".
    fn rfc_secret() -> OtpSecret {
        OtpSecret::from_bytes(*b"12345678901234567890")
    }

    #[test]
    fn base32_of_the_rfc_secret() {
        let s = rfc_secret();
        assert_eq!(s.to_base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(OtpSecret::from_base32(&s.to_base32()), Some(s.clone()));
        assert_eq!(OtpSecret::from_hex(&s.to_hex()), Some(s));
        assert_eq!(OtpSecret::from_base32("GEZDGNBV"), None);
    }

    #[test]
    fn rfc4226_vectors_are_the_sheet() {
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        let codes = sheet_codes(&rfc_secret());
        assert_eq!(codes.len(), 10);
        for (c, e) in codes.iter().zip(expected) {
            assert_eq!(c.code, e, "index {}", c.index);
        }
    }

    #[test]
    fn rfc6238_sha1_vectors() {
        for (t, e) in [
            (59u64, 94287082u32),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ] {
            assert_eq!(rfc_secret().totp(t), e % 1_000_000, "t={t}");
        }
    }

    #[test]
    fn uri_has_the_documented_shape() {
        let uri = otpauth_uri("alice.b", &rfc_secret());
        assert_eq!(
            uri,
            "otpauth://totp/OpenLatch:alice.b?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=OpenLatch&digits=6&period=30"
        );
        let svg = qr_svg(&uri).expect("qr");
        assert!(svg.contains("<svg") && svg.contains("</svg>"));
    }

    #[test]
    fn generated_secrets_differ_and_stay_hidden() {
        let a = OtpSecret::generate();
        assert_ne!(a, OtpSecret::generate());
        assert_eq!(format!("{a:?}"), "OtpSecret([redacted])");
        let c = KeypadCredential {
            member_id: MemberId::new(),
            totp: Some((a.clone(), 5)),
            sheet: None,
            hotp_used: 0,
        };
        assert!(!format!("{c:?}").contains(&a.to_hex()));
    }

    #[test]
    fn codes_left_and_spec() {
        let c = KeypadCredential {
            member_id: MemberId::new(),
            totp: None,
            sheet: Some((rfc_secret(), 7)),
            hotp_used: 0b101,
        };
        assert_eq!(c.backup_codes_left(), 8);
        assert_eq!(c.enrolled_at(), Some(7));
        let spec = c.to_spec(9);
        assert_eq!((spec.keypad_id, spec.hotp_used), (9, 0b101));
        assert!(spec.totp_secret.is_none());
    }

    #[test]
    fn unlock_fields() {
        let hotp = json!({"event": "keypad_unlock", "keypad_id": 4, "method": "hotp", "index": 3});
        assert_eq!(
            KeypadUnlock::parse(&hotp),
            Ok(KeypadUnlock {
                keypad_id: 4,
                method: UnlockMethod::Hotp { index: 3 }
            })
        );
        let nested = json!({"details": {"keypad_id": 4, "method": "totp"}});
        assert_eq!(
            KeypadUnlock::parse(&nested).map(|u| u.method),
            Ok(UnlockMethod::Totp)
        );
        for bad in [
            json!({"method": "totp"}),
            json!({"keypad_id": 0, "method": "totp"}),
            json!({"keypad_id": 70000, "method": "totp"}),
            json!({"keypad_id": 4, "method": "sms"}),
            json!({"keypad_id": 4, "method": "hotp"}),
            json!({"keypad_id": 4, "method": "hotp", "index": 10}),
        ] {
            assert!(KeypadUnlock::parse(&bad).is_err(), "{bad}");
        }
    }
}
