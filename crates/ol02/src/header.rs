//! The fixed 56-byte list header.

use crate::bytes::{u16_at, u32_at, u64_at, u8_at};
use crate::error::DecodeError;
use crate::types::HeaderFlags;
use crate::MAGIC;

/// Size of the header in bytes; also stored in its byte 4.
pub const HEADER_LEN: usize = 56;
pub(crate) const SCHEDULE_LEN: usize = 21;
pub(crate) const PROFILE_LEN: usize = 26;
pub(crate) const KEYPAD_LEN: usize = 46;

/// Bytes of one UID record: the UID followed by a u16 profile index.
pub(crate) const fn record_len(uid_len: usize) -> usize {
    uid_len + 2
}

/// Decoded header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Header flags.
    pub flags: HeaderFlags,
    /// Strictly increasing list version (replay protection).
    pub version: u64,
    /// Build time, unix seconds. A door clock below this is unsynchronised.
    pub generated_at: u64,
    /// The list is stale from this unix second on.
    pub valid_until: u64,
    /// Total entries (sum of the three counts below).
    pub entry_count: u32,
    /// Records with 4-byte UIDs.
    pub uid4_count: u32,
    /// Records with 7-byte UIDs.
    pub uid7_count: u32,
    /// Records with 10-byte UIDs.
    pub uid10_count: u32,
    /// Schedule records.
    pub schedule_count: u16,
    /// Profile records.
    pub profile_count: u16,
    /// Keypad records.
    pub keypad_count: u16,
}

impl Header {
    /// Parses and checks the header at the start of `b`.
    pub fn parse(b: &[u8]) -> Result<Header, DecodeError> {
        if b.len() < 4 {
            return Err(DecodeError::Truncated);
        }
        if b[..4] != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        let t = DecodeError::Truncated;
        let size = u8_at(b, 4).ok_or(t)?;
        if size as usize != HEADER_LEN {
            return Err(DecodeError::UnsupportedHeader(size));
        }
        if b.len() < HEADER_LEN {
            return Err(t);
        }
        if u8_at(b, 5) != Some(0) || u16_at(b, 54) != Some(0) {
            return Err(DecodeError::ReservedNotZero);
        }
        let raw_flags = u16_at(b, 6).ok_or(t)?;
        let flags =
            HeaderFlags::from_bits(raw_flags).ok_or(DecodeError::UnknownHeaderFlags(raw_flags))?;
        let h = Header {
            flags,
            version: u64_at(b, 8).ok_or(t)?,
            generated_at: u64_at(b, 16).ok_or(t)?,
            valid_until: u64_at(b, 24).ok_or(t)?,
            entry_count: u32_at(b, 32).ok_or(t)?,
            uid4_count: u32_at(b, 36).ok_or(t)?,
            uid7_count: u32_at(b, 40).ok_or(t)?,
            uid10_count: u32_at(b, 44).ok_or(t)?,
            schedule_count: u16_at(b, 48).ok_or(t)?,
            profile_count: u16_at(b, 50).ok_or(t)?,
            keypad_count: u16_at(b, 52).ok_or(t)?,
        };
        let sum = (h.uid4_count as u64) + (h.uid7_count as u64) + (h.uid10_count as u64);
        if sum != h.entry_count as u64 {
            return Err(DecodeError::EntryCountMismatch);
        }
        if h.valid_until <= h.generated_at {
            return Err(DecodeError::BadListValidity);
        }
        Ok(h)
    }

    /// Serialises the header.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[..4].copy_from_slice(&MAGIC);
        b[4] = HEADER_LEN as u8;
        b[6..8].copy_from_slice(&self.flags.bits().to_le_bytes());
        b[8..16].copy_from_slice(&self.version.to_le_bytes());
        b[16..24].copy_from_slice(&self.generated_at.to_le_bytes());
        b[24..32].copy_from_slice(&self.valid_until.to_le_bytes());
        b[32..36].copy_from_slice(&self.entry_count.to_le_bytes());
        b[36..40].copy_from_slice(&self.uid4_count.to_le_bytes());
        b[40..44].copy_from_slice(&self.uid7_count.to_le_bytes());
        b[44..48].copy_from_slice(&self.uid10_count.to_le_bytes());
        b[48..50].copy_from_slice(&self.schedule_count.to_le_bytes());
        b[50..52].copy_from_slice(&self.profile_count.to_le_bytes());
        b[52..54].copy_from_slice(&self.keypad_count.to_le_bytes());
        b
    }

    /// Length of the unsigned list this header announces, or `None` if it
    /// overflows `usize` (a hostile header on a 32-bit door).
    pub fn body_len(&self) -> Option<usize> {
        let parts = [
            (self.schedule_count as usize, SCHEDULE_LEN),
            (self.profile_count as usize, PROFILE_LEN),
            (self.uid4_count as usize, record_len(4)),
            (self.uid7_count as usize, record_len(7)),
            (self.uid10_count as usize, record_len(10)),
            (self.keypad_count as usize, KEYPAD_LEN),
        ];
        parts.iter().try_fold(HEADER_LEN, |acc, &(n, size)| {
            acc.checked_add(n.checked_mul(size)?)
        })
    }

    /// The list is stale at `now`: past `valid_until`, or the clock reads
    /// below `generated_at` (unsynchronised).
    pub fn is_stale_at(&self, now: u64) -> bool {
        now >= self.valid_until || now < self.generated_at
    }
}
