//! Keypad codes (system.md 5): TOTP (RFC 6238) and printed HOTP backup codes
//! (RFC 4226), checked against the list's keypad section with door-side
//! replay and lock-out state. No heap.

use core::fmt;

use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::bytes::{array_at, u16_at};
use crate::list::List;

/// Bytes of a TOTP or HOTP secret (HMAC-SHA-1 key).
pub const OTP_SECRET_LEN: usize = 20;
/// Codes on one printed backup sheet (HOTP counters 0..=9).
pub const HOTP_SHEET_LEN: u8 = 10;
/// TOTP time step.
pub const TOTP_STEP_SECONDS: u64 = 30;
/// TOTP steps accepted before the current one.
const TOTP_STEPS_BACK: u64 = 10;
/// TOTP steps accepted after the current one.
const TOTP_STEPS_FORWARD: u64 = 1;
/// Wrong codes in a row that lock the keypad.
pub const KEYPAD_MAX_FAILURES: u8 = 3;
/// How long the keypad stays locked.
pub const KEYPAD_LOCK_SECONDS: u64 = 300;
/// Keypad ids whose replay state the door remembers.
pub const KEYPAD_MEMORY: usize = 32;

const FLAG_TOTP: u8 = 0x01;
const FLAG_HOTP: u8 = 0x02;
const HOTP_MASK: u16 = (1 << HOTP_SHEET_LEN) - 1;

/// One keypad record of a list. `Debug` never shows the secrets.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct KeypadRecord {
    /// The member's keypad id (non-zero).
    pub keypad_id: u16,
    /// TOTP secret, if enrolled.
    pub totp_secret: Option<[u8; OTP_SECRET_LEN]>,
    /// Secret of the current backup sheet, if one was issued.
    pub hotp_secret: Option<[u8; OTP_SECRET_LEN]>,
    /// Bit `i` set: backup code `i` was used (reported by some door).
    pub hotp_used: u16,
}

impl fmt::Debug for KeypadRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeypadRecord")
            .field("keypad_id", &self.keypad_id)
            .field("has_totp", &self.totp_secret.is_some())
            .field("has_hotp", &self.hotp_secret.is_some())
            .field("hotp_used", &self.hotp_used)
            .finish()
    }
}

impl KeypadRecord {
    /// Parses one 46-byte record; `None` if any rule is broken.
    pub(crate) fn parse(b: &[u8]) -> Option<KeypadRecord> {
        let keypad_id = u16_at(b, 0)?;
        let flags = *b.get(2)?;
        let hotp_used = u16_at(b, 4)?;
        let totp: [u8; OTP_SECRET_LEN] = array_at(b, 6)?;
        let hotp: [u8; OTP_SECRET_LEN] = array_at(b, 26)?;
        let has_totp = flags & FLAG_TOTP != 0;
        let has_hotp = flags & FLAG_HOTP != 0;
        let canonical = keypad_id != 0
            && flags & !(FLAG_TOTP | FLAG_HOTP) == 0
            && *b.get(3)? == 0
            && hotp_used & !HOTP_MASK == 0
            && (has_totp || totp == [0; OTP_SECRET_LEN])
            && (has_hotp || (hotp == [0; OTP_SECRET_LEN] && hotp_used == 0));
        canonical.then_some(KeypadRecord {
            keypad_id,
            totp_secret: has_totp.then_some(totp),
            hotp_secret: has_hotp.then_some(hotp),
            hotp_used,
        })
    }

    /// Serialises the record (46 bytes).
    pub fn to_bytes(&self) -> [u8; 46] {
        let mut b = [0u8; 46];
        b[0..2].copy_from_slice(&self.keypad_id.to_le_bytes());
        let mut flags = 0;
        if let Some(s) = &self.totp_secret {
            flags |= FLAG_TOTP;
            b[6..26].copy_from_slice(s);
        }
        if let Some(s) = &self.hotp_secret {
            flags |= FLAG_HOTP;
            b[26..46].copy_from_slice(s);
            b[4..6].copy_from_slice(&(self.hotp_used & HOTP_MASK).to_le_bytes());
        }
        b[2] = flags;
        b
    }
}

/// RFC 4226 HOTP: 6 decimal digits for `counter`.
pub fn hotp(secret: &[u8], counter: u64) -> u32 {
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret) else {
        // HMAC takes keys of any length; unreachable, and never a 6-digit code.
        return u32::MAX;
    };
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    // Dynamic truncation: the low nibble of the last byte picks 4 bytes.
    let off = (h[19] & 0x0f) as usize;
    let bin = u32::from_be_bytes([h[off] & 0x7f, h[off + 1], h[off + 2], h[off + 3]]);
    bin % 1_000_000
}

/// RFC 6238 TOTP (SHA-1, 30 s, 6 digits) at unix time `unix`.
pub fn totp(secret: &[u8], unix: u64) -> u32 {
    hotp(secret, unix / TOTP_STEP_SECONDS)
}

/// How a keypad code matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeypadMethod {
    /// A TOTP code of this time step.
    Totp {
        /// The accepted step (`unix / 30`).
        step: u64,
    },
    /// A backup code of this index (0..=9).
    Hotp {
        /// Sheet index.
        index: u8,
    },
}

impl KeypadMethod {
    /// `"totp"` or `"hotp"`, for the `keypad_unlock` event.
    pub fn as_str(&self) -> &'static str {
        match self {
            KeypadMethod::Totp { .. } => "totp",
            KeypadMethod::Hotp { .. } => "hotp",
        }
    }
}

/// An accepted keypad code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeypadMatch {
    /// Whose code it was.
    pub keypad_id: u16,
    /// Which code matched.
    pub method: KeypadMethod,
}

/// Why a keypad entry was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeypadRefusal {
    /// The list has the LOCKDOWN flag.
    Lockdown,
    /// The list is stale or the clock unsynchronised.
    StaleList,
    /// Too many wrong codes: locked until this unix second.
    LockedOut {
        /// End of the lock.
        until: u64,
    },
    /// Input is not `<keypad_id>#<6 digits>#` (counts as a wrong code).
    Malformed,
    /// No keypad record with that id (counts as a wrong code).
    UnknownKeypad,
    /// No unused code matched (counts as a wrong code).
    WrongCode,
}

impl KeypadRefusal {
    /// Short snake-case reason for events and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            KeypadRefusal::Lockdown => "lockdown",
            KeypadRefusal::StaleList => "stale_list",
            KeypadRefusal::LockedOut { .. } => "locked_out",
            KeypadRefusal::Malformed => "malformed",
            KeypadRefusal::UnknownKeypad => "unknown_keypad",
            KeypadRefusal::WrongCode => "wrong_code",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Memo {
    keypad_id: u16,
    last_totp_step: Option<u64>,
    hotp_used: u16,
    touched: u64,
}

/// Door-side keypad state: last accepted TOTP step and used backup codes per
/// keypad id (up to [`KEYPAD_MEMORY`] ids, least recently used forgotten
/// first), plus the wrong-code counter and lock-out.
#[derive(Debug, Clone)]
pub struct KeypadState {
    memos: [Option<Memo>; KEYPAD_MEMORY],
    failures: u8,
    locked_until: Option<u64>,
}

impl Default for KeypadState {
    fn default() -> Self {
        Self::new()
    }
}

impl KeypadState {
    /// Fresh state.
    pub const fn new() -> KeypadState {
        KeypadState {
            memos: [None; KEYPAD_MEMORY],
            failures: 0,
            locked_until: None,
        }
    }

    /// End of the current lock-out, if the keypad is locked at `now`.
    pub fn locked_until(&self, now: u64) -> Option<u64> {
        self.locked_until.filter(|&u| now < u)
    }

    /// Wrong codes since the last success or lock-out.
    pub fn failures(&self) -> u8 {
        self.failures
    }

    /// Last accepted TOTP step of `keypad_id`.
    pub fn last_totp_step(&self, keypad_id: u16) -> Option<u64> {
        self.memo(keypad_id).and_then(|m| m.last_totp_step)
    }

    /// Backup-code indices this door has accepted for `keypad_id` (bit mask).
    pub fn hotp_used(&self, keypad_id: u16) -> u16 {
        self.memo(keypad_id).map_or(0, |m| m.hotp_used)
    }

    fn memo(&self, keypad_id: u16) -> Option<&Memo> {
        self.memos
            .iter()
            .flatten()
            .find(|m| m.keypad_id == keypad_id)
    }

    fn memo_mut(&mut self, keypad_id: u16, now: u64) -> &mut Memo {
        let i = self
            .memos
            .iter()
            .position(|m| m.is_some_and(|m| m.keypad_id == keypad_id))
            .or_else(|| self.memos.iter().position(Option::is_none))
            .unwrap_or_else(|| {
                // Full: forget the least recently used keypad id.
                self.memos
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, m)| m.map_or(0, |m| m.touched))
                    .map_or(0, |(i, _)| i)
            });
        let m = self.memos[i].get_or_insert(Memo {
            keypad_id,
            last_totp_step: None,
            hotp_used: 0,
            touched: now,
        });
        if m.keypad_id != keypad_id {
            *m = Memo {
                keypad_id,
                last_totp_step: None,
                hotp_used: 0,
                touched: now,
            };
        }
        m.touched = now;
        m
    }

    fn fail(&mut self, now: u64, why: KeypadRefusal) -> KeypadRefusal {
        self.failures += 1;
        if self.failures >= KEYPAD_MAX_FAILURES {
            self.failures = 0;
            self.locked_until = Some(now.saturating_add(KEYPAD_LOCK_SECONDS));
        }
        why
    }
}

impl KeypadState {
    /// Re-applies a code accepted before a restart, so that a door which
    /// keeps its keypad memory on disk refuses the same TOTP step (or any
    /// earlier one) and the same backup code after a reboot.
    pub fn remember_accepted(&mut self, m: KeypadMatch, now: u64) {
        let memo = self.memo_mut(m.keypad_id, now);
        match m.method {
            KeypadMethod::Totp { step } => {
                memo.last_totp_step = Some(memo.last_totp_step.map_or(step, |s| s.max(step)));
            }
            KeypadMethod::Hotp { index } if index < HOTP_SHEET_LEN => {
                memo.hotp_used |= 1 << index;
            }
            KeypadMethod::Hotp { .. } => {}
        }
    }

    /// Restores the wrong-code count and lock-out saved before a restart.
    pub fn restore_lockout(&mut self, failures: u8, locked_until: Option<u64>) {
        self.failures = failures.min(KEYPAD_MAX_FAILURES - 1);
        self.locked_until = locked_until;
    }

    /// The lock-out end as stored (also when it has passed), for saving.
    pub fn lockout(&self) -> Option<u64> {
        self.locked_until
    }
}

/// Parses `<keypad_id>#<code>#`: keypad id 1..=65535 in decimal, code exactly
/// six digits.
fn parse_input(input: &[u8]) -> Option<(u16, u32)> {
    let rest = input.strip_suffix(b"#")?;
    let mut parts = rest.split(|&c| c == b'#');
    let id_digits = parts.next()?;
    let code_digits = parts.next()?;
    if parts.next().is_some()
        || id_digits.is_empty()
        || id_digits.len() > 5
        || code_digits.len() != 6
    {
        return None;
    }
    let num = |d: &[u8]| -> Option<u32> {
        d.iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + (c - b'0') as u32)
        })
    };
    let id = u16::try_from(num(id_digits)?).ok().filter(|&i| i != 0)?;
    Some((id, num(code_digits)?))
}

/// Checks keypad input `<keypad_id>#<code>#` at `now` and updates `state`.
///
/// Order: refused under LOCKDOWN, on a stale list (or unsynchronised clock),
/// or while locked out; then the keypad id picks one record; TOTP steps from
/// one ahead down to ten back, never at or below the last step accepted for
/// that id; then unused backup codes (unused in the list and at this door) by
/// ascending index. A wrong, malformed or unknown entry counts towards the
/// lock-out; a success resets the count. The firmware decides when to prompt
/// (escalation, system.md 5) and reports `keypad_unlock`.
pub fn check_keypad(
    list: &List<'_>,
    input: &[u8],
    now: u64,
    state: &mut KeypadState,
) -> Result<KeypadMatch, KeypadRefusal> {
    let h = list.header();
    if h.flags.lockdown() {
        return Err(KeypadRefusal::Lockdown);
    }
    if h.is_stale_at(now) {
        return Err(KeypadRefusal::StaleList);
    }
    if let Some(until) = state.locked_until(now) {
        return Err(KeypadRefusal::LockedOut { until });
    }
    let Some((keypad_id, code)) = parse_input(input) else {
        return Err(state.fail(now, KeypadRefusal::Malformed));
    };
    let Some(rec) = list.keypad(keypad_id) else {
        return Err(state.fail(now, KeypadRefusal::UnknownKeypad));
    };
    let last_step = state.last_totp_step(keypad_id);
    if let Some(secret) = &rec.totp_secret {
        let current = now / TOTP_STEP_SECONDS;
        let first = current.saturating_sub(TOTP_STEPS_BACK);
        for step in (first..=current + TOTP_STEPS_FORWARD).rev() {
            if last_step.is_some_and(|l| step <= l) {
                break;
            }
            if hotp(secret, step) == code {
                state.failures = 0;
                state.memo_mut(keypad_id, now).last_totp_step = Some(step);
                return Ok(KeypadMatch {
                    keypad_id,
                    method: KeypadMethod::Totp { step },
                });
            }
        }
    }
    if let Some(secret) = &rec.hotp_secret {
        let used = rec.hotp_used | state.hotp_used(keypad_id);
        for index in 0..HOTP_SHEET_LEN {
            if used & (1 << index) == 0 && hotp(secret, index as u64) == code {
                state.failures = 0;
                state.memo_mut(keypad_id, now).hotp_used |= 1 << index;
                return Ok(KeypadMatch {
                    keypad_id,
                    method: KeypadMethod::Hotp { index },
                });
            }
        }
    }
    Err(state.fail(now, KeypadRefusal::WrongCode))
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 4226 appendix D: secret "12345678901234567890".
    const RFC_SECRET: &[u8; 20] = b"12345678901234567890";

    #[test]
    fn rfc4226_vectors() {
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (i, &e) in expected.iter().enumerate() {
            assert_eq!(hotp(RFC_SECRET, i as u64), e, "counter {i}");
        }
    }

    #[test]
    fn rfc6238_sha1_vectors() {
        // The RFC lists 8 digits; the 6-digit code is the last six.
        for (t, e) in [
            (59u64, 94287082u32),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ] {
            assert_eq!(totp(RFC_SECRET, t), e % 1_000_000, "t={t}");
        }
    }

    #[test]
    fn input_parsing() {
        assert_eq!(parse_input(b"12#123456#"), Some((12, 123456)));
        assert_eq!(parse_input(b"65535#000001#"), Some((65535, 1)));
        assert_eq!(parse_input(b"0#123456#"), None);
        assert_eq!(parse_input(b"65536#123456#"), None);
        assert_eq!(parse_input(b"12#12345#"), None);
        assert_eq!(parse_input(b"12#1234567#"), None);
        assert_eq!(parse_input(b"12#123456"), None);
        assert_eq!(parse_input(b"#123456#"), None);
        assert_eq!(parse_input(b"1a#123456#"), None);
        assert_eq!(parse_input(b"1#2#123456#"), None);
    }

    #[test]
    fn debug_hides_secrets() {
        extern crate std;
        let r = KeypadRecord {
            keypad_id: 5,
            totp_secret: Some([0xAB; 20]),
            hotp_secret: None,
            hotp_used: 0,
        };
        let s = std::format!("{r:?}");
        assert!(
            !s.contains("171") && !s.to_lowercase().contains("ab, "),
            "{s}"
        );
    }

    #[test]
    fn remembered_codes_stay_used() {
        let mut st = KeypadState::new();
        st.remember_accepted(
            KeypadMatch {
                keypad_id: 3,
                method: KeypadMethod::Totp { step: 50 },
            },
            0,
        );
        st.remember_accepted(
            KeypadMatch {
                keypad_id: 3,
                method: KeypadMethod::Totp { step: 40 },
            },
            0,
        );
        st.remember_accepted(
            KeypadMatch {
                keypad_id: 3,
                method: KeypadMethod::Hotp { index: 4 },
            },
            0,
        );
        assert_eq!(st.last_totp_step(3), Some(50));
        assert_eq!(st.hotp_used(3), 1 << 4);
        st.restore_lockout(2, Some(100));
        assert_eq!(st.failures(), 2);
        assert_eq!(st.locked_until(99), Some(100));
        assert_eq!(st.locked_until(100), None);
    }
}
