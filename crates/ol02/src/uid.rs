//! NFC card UIDs: 4, 7 or 10 bytes.

use core::cmp::Ordering;
use core::fmt;

/// Longest UID OL02 stores.
pub const MAX_UID_LEN: usize = 10;

/// A card UID of 4, 7 or 10 bytes (a Wiegand-34 reader gives 4 bytes,
/// big-endian as read).
///
/// Ordering is the list's sort order: by length first, then by bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Uid {
    len: u8,
    // Unused tail bytes are always zero, so derived equality is exact.
    bytes: [u8; MAX_UID_LEN],
}

/// Why a UID could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UidError {
    /// Not 4, 7 or 10 bytes long (the byte count found).
    BadLength(usize),
    /// A character that is neither a hex digit nor an accepted separator, or
    /// an odd number of hex digits.
    BadHex,
}

impl fmt::Display for UidError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UidError::BadLength(n) => write!(f, "UID must be 4, 7 or 10 bytes, got {n}"),
            UidError::BadHex => f.write_str("UID must be hex digits (8, 14 or 20)"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for UidError {}

impl Uid {
    /// Builds a UID from raw bytes; the length must be 4, 7 or 10.
    pub fn new(bytes: &[u8]) -> Result<Uid, UidError> {
        if !matches!(bytes.len(), 4 | 7 | 10) {
            return Err(UidError::BadLength(bytes.len()));
        }
        let mut b = [0u8; MAX_UID_LEN];
        b[..bytes.len()].copy_from_slice(bytes);
        Ok(Uid {
            len: bytes.len() as u8,
            bytes: b,
        })
    }

    /// Parses hex digits (either case). `:`, `-` and spaces between digits
    /// are ignored, so `04:a1:b2:c3` and `04A1B2C3` are the same UID.
    pub fn from_hex(s: &str) -> Result<Uid, UidError> {
        let mut out = [0u8; MAX_UID_LEN];
        let mut nibbles = 0usize;
        for c in s.bytes() {
            let v = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                b':' | b'-' | b' ' => continue,
                _ => return Err(UidError::BadHex),
            };
            let i = nibbles / 2;
            if i >= MAX_UID_LEN {
                // Keep counting so the error reports the real length.
                nibbles += 1;
                continue;
            }
            out[i] = (out[i] << 4) | v;
            nibbles += 1;
        }
        if nibbles % 2 != 0 {
            return Err(UidError::BadHex);
        }
        let n = nibbles / 2;
        if n > MAX_UID_LEN {
            return Err(UidError::BadLength(n));
        }
        Uid::new(&out[..n])
    }

    /// The UID bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// Number of bytes: 4, 7 or 10.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.len as usize
    }
}

impl Ord for Uid {
    fn cmp(&self, other: &Self) -> Ordering {
        self.len
            .cmp(&other.len)
            .then_with(|| self.as_bytes().cmp(other.as_bytes()))
    }
}

impl PartialOrd for Uid {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Upper-case hex without separators, e.g. `04A1B2C3`.
impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.as_bytes() {
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uid({self})")
    }
}

impl core::str::FromStr for Uid {
    type Err = UidError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uid::from_hex(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_separators() {
        let u = Uid::from_hex("04:a1:b2:c3").unwrap();
        assert_eq!(u.as_bytes(), &[0x04, 0xA1, 0xB2, 0xC3]);
        extern crate std;
        use std::string::ToString;
        assert_eq!(u.to_string(), "04A1B2C3");
        assert_eq!(Uid::from_hex("04A1B2C3D4E5F6").unwrap().len(), 7);
        assert_eq!(Uid::from_hex("00112233445566778899").unwrap().len(), 10);
        assert_eq!(Uid::from_hex("0011"), Err(UidError::BadLength(2)));
        assert_eq!(
            Uid::from_hex("001122334455667788990011"),
            Err(UidError::BadLength(12))
        );
        assert_eq!(Uid::from_hex("0g112233"), Err(UidError::BadHex));
        assert_eq!(Uid::from_hex("0112233"), Err(UidError::BadHex));
    }

    #[test]
    fn order_is_length_then_bytes() {
        let a = Uid::from_hex("FFFFFFFF").unwrap();
        let b = Uid::from_hex("00000000000000").unwrap();
        let c = Uid::from_hex("00000001").unwrap();
        assert!(a < b);
        assert!(c < a);
    }
}
