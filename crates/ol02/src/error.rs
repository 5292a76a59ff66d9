//! Decode and verification errors. Every failure a door can hit has its own
//! variant so it can be logged and tested precisely.

use core::fmt;

/// The bytes do not form a well-formed OL02 list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// Shorter than the header, the sections it announces, or the trailer.
    Truncated,
    /// Longer than the header's sections (plus trailer, for a signed list).
    TrailingBytes,
    /// Does not start with `OL02`.
    BadMagic,
    /// Header size byte is not the one this revision defines.
    UnsupportedHeader(u8),
    /// A reserved byte is not zero.
    ReservedNotZero,
    /// Header flags use an undefined bit.
    UnknownHeaderFlags(u16),
    /// `entry_count` differs from the sum of the per-length counts.
    EntryCountMismatch,
    /// `valid_until` is not after `generated_at`.
    BadListValidity,
    /// A schedule record is invalid (its index).
    BadSchedule(u16),
    /// A profile record is invalid (its index).
    BadProfile(u16),
    /// A UID record points at a profile that does not exist.
    BadProfileIndex,
    /// UIDs of one section are not strictly ascending (unsorted or duplicate).
    UnsortedUids,
    /// A keypad record is invalid, or keypad ids are not strictly ascending.
    BadKeypad(u16),
    /// The has-emergency flag disagrees with the profiles.
    EmergencyFlagMismatch,
    /// A lockdown list carries keypad records.
    KeypadsUnderLockdown,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated => f.write_str("list is truncated"),
            DecodeError::TrailingBytes => f.write_str("list has trailing bytes"),
            DecodeError::BadMagic => f.write_str("bad magic (not an OL02 list)"),
            DecodeError::UnsupportedHeader(n) => write!(f, "unsupported header size {n}"),
            DecodeError::ReservedNotZero => f.write_str("reserved byte is not zero"),
            DecodeError::UnknownHeaderFlags(b) => write!(f, "unknown header flags {b:#06x}"),
            DecodeError::EntryCountMismatch => f.write_str("entry count does not match sections"),
            DecodeError::BadListValidity => f.write_str("valid_until is not after generated_at"),
            DecodeError::BadSchedule(i) => write!(f, "invalid schedule record {i}"),
            DecodeError::BadProfile(i) => write!(f, "invalid profile record {i}"),
            DecodeError::BadProfileIndex => f.write_str("UID record references a missing profile"),
            DecodeError::UnsortedUids => f.write_str("UIDs are not strictly ascending"),
            DecodeError::BadKeypad(i) => write!(f, "invalid keypad record {i}"),
            DecodeError::EmergencyFlagMismatch => {
                f.write_str("has-emergency flag disagrees with entries")
            }
            DecodeError::KeypadsUnderLockdown => f.write_str("lockdown list carries keypad codes"),
        }
    }
}

/// Why a door refuses a signed list. Checked in the order documented in
/// `docs/protocol/ol02.md` ("Verification").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyError {
    /// Structure is broken (truncated, bad magic, bad section, ...).
    Decode(DecodeError),
    /// The configured master public key is not a valid Ed25519 key.
    InvalidMasterKey,
    /// Certificate flags byte is not zero.
    CertificateFlags(u8),
    /// The certificate's sub-key is not a valid Ed25519 public key.
    InvalidSubKey,
    /// The certificate delegates to the master key itself: a list signed
    /// directly by the master is never accepted.
    SubKeyIsMaster,
    /// The master key did not sign the certificate.
    BadMasterSignature,
    /// The certificate's `valid_from` is after the door's time.
    CertificateNotYetValid {
        /// Certificate start, unix seconds.
        valid_from: u64,
    },
    /// The certificate expired at or before the door's time.
    CertificateExpired {
        /// Certificate end, unix seconds.
        valid_until: u64,
    },
    /// The sub-key did not sign the list (tampered, or signed by another key).
    BadListSignature,
    /// The list's version is not greater than the one the door holds.
    VersionNotNewer {
        /// Version the door holds.
        held: u64,
        /// Version of the offered list.
        offered: u64,
    },
}

impl DecodeError {
    /// Stable snake_case code for logs, API errors and test tables.
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::Truncated => "truncated",
            DecodeError::TrailingBytes => "trailing_bytes",
            DecodeError::BadMagic => "bad_magic",
            DecodeError::UnsupportedHeader(_) => "unsupported_header",
            DecodeError::ReservedNotZero => "reserved_not_zero",
            DecodeError::UnknownHeaderFlags(_) => "unknown_header_flags",
            DecodeError::EntryCountMismatch => "entry_count_mismatch",
            DecodeError::BadListValidity => "bad_list_validity",
            DecodeError::BadSchedule(_) => "bad_schedule",
            DecodeError::BadProfile(_) => "bad_profile",
            DecodeError::BadProfileIndex => "bad_profile_index",
            DecodeError::UnsortedUids => "unsorted_uids",
            DecodeError::BadKeypad(_) => "bad_keypad",
            DecodeError::EmergencyFlagMismatch => "emergency_flag_mismatch",
            DecodeError::KeypadsUnderLockdown => "keypads_under_lockdown",
        }
    }
}

impl VerifyError {
    /// Stable snake_case code; decode errors use [`DecodeError::code`].
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::Decode(e) => e.code(),
            VerifyError::InvalidMasterKey => "invalid_master_key",
            VerifyError::CertificateFlags(_) => "certificate_flags",
            VerifyError::InvalidSubKey => "invalid_sub_key",
            VerifyError::SubKeyIsMaster => "sub_key_is_master",
            VerifyError::BadMasterSignature => "bad_master_signature",
            VerifyError::CertificateNotYetValid { .. } => "certificate_not_yet_valid",
            VerifyError::CertificateExpired { .. } => "certificate_expired",
            VerifyError::BadListSignature => "bad_list_signature",
            VerifyError::VersionNotNewer { .. } => "version_not_newer",
        }
    }
}

impl From<DecodeError> for VerifyError {
    fn from(e: DecodeError) -> Self {
        VerifyError::Decode(e)
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::Decode(e) => write!(f, "malformed list: {e}"),
            VerifyError::InvalidMasterKey => f.write_str("master public key is not a valid key"),
            VerifyError::CertificateFlags(b) => write!(f, "certificate flags {b:#04x} are not 0"),
            VerifyError::InvalidSubKey => f.write_str("certificate sub-key is not a valid key"),
            VerifyError::SubKeyIsMaster => {
                f.write_str("list is signed by the master key directly (not accepted)")
            }
            VerifyError::BadMasterSignature => {
                f.write_str("certificate is not signed by the master key")
            }
            VerifyError::CertificateNotYetValid { valid_from } => {
                write!(f, "certificate not valid before {valid_from}")
            }
            VerifyError::CertificateExpired { valid_until } => {
                write!(f, "certificate expired at {valid_until}")
            }
            VerifyError::BadListSignature => f.write_str("list signature does not verify"),
            VerifyError::VersionNotNewer { held, offered } => {
                write!(f, "version {offered} is not newer than held version {held}")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for DecodeError {}
#[cfg(feature = "std")]
impl std::error::Error for VerifyError {}
