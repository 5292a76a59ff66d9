//! The encoder and list signing (feature `alloc`).

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;

use ed25519_dalek::{Signer, SigningKey};

use crate::cert::Certificate;
use crate::error::DecodeError;
use crate::header::{Header, PROFILE_LEN, SCHEDULE_LEN};
use crate::keypad::{KeypadRecord, OTP_SECRET_LEN};
use crate::list::{Entry, List, NO_SCHEDULE};
use crate::types::{
    AccessType, EntryFlags, HeaderFlags, Role, Slot, SlotError, MAX_GRACE_MINUTES, MAX_SLOTS,
};
use crate::uid::Uid;
use crate::TRAILER_LEN;

/// One entry to encode. Unlike [`Entry`] it may hold any number of slots so
/// that too many is reported by [`ListBuilder::encode_unsigned`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntrySpec {
    /// Card UID.
    pub uid: Uid,
    /// Access type.
    pub access_type: AccessType,
    /// Member role.
    pub role: Role,
    /// Notification flags (`NOTIFY_ON_USE` is forced on for EMERGENCY).
    pub flags: EntryFlags,
    /// Grace minutes, 0..=1440.
    pub grace_minutes: u16,
    /// 0 = no lower bound.
    pub valid_from: u64,
    /// 0 = no upper bound.
    pub valid_until: u64,
    /// At most four; none = all day.
    pub slots: Vec<Slot>,
    /// 0 = none.
    pub keypad_id: u16,
}

impl EntrySpec {
    /// An all-day entry without bounds, grace, flags or keypad id.
    pub fn new(uid: Uid, access_type: AccessType, role: Role) -> EntrySpec {
        EntrySpec {
            uid,
            access_type,
            role,
            flags: EntryFlags::NONE,
            grace_minutes: 0,
            valid_from: 0,
            valid_until: 0,
            slots: Vec::new(),
            keypad_id: 0,
        }
    }
}

impl From<&Entry> for EntrySpec {
    fn from(e: &Entry) -> EntrySpec {
        EntrySpec {
            uid: e.uid,
            access_type: e.access_type,
            role: e.role,
            flags: e.flags,
            grace_minutes: e.grace_minutes,
            valid_from: e.valid_from,
            valid_until: e.valid_until,
            slots: e.schedule.slots().to_vec(),
            keypad_id: e.keypad_id,
        }
    }
}

/// Keypad secrets of one member.
#[derive(Clone, PartialEq, Eq)]
pub struct KeypadSpec {
    /// Non-zero keypad id.
    pub keypad_id: u16,
    /// TOTP secret.
    pub totp_secret: Option<[u8; OTP_SECRET_LEN]>,
    /// Secret of the current backup sheet (codes are HOTP counters 0..=9).
    pub hotp_secret: Option<[u8; OTP_SECRET_LEN]>,
    /// Bit `i` set: backup code `i` has been used.
    pub hotp_used: u16,
}

impl fmt::Debug for KeypadSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeypadSpec")
            .field("keypad_id", &self.keypad_id)
            .field("has_totp", &self.totp_secret.is_some())
            .field("has_hotp", &self.hotp_secret.is_some())
            .field("hotp_used", &self.hotp_used)
            .finish()
    }
}

/// Why a list could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// The same UID appears twice.
    DuplicateUid(Uid),
    /// More than four slots for this UID (count given).
    TooManySlots(Uid, usize),
    /// A slot of this UID is invalid.
    BadSlot(Uid, SlotError),
    /// Grace above 1440 minutes.
    GraceOutOfRange(Uid),
    /// `valid_from >= valid_until` with both set.
    EmptyValidity(Uid),
    /// List `valid_until` is not after `generated_at`.
    BadListValidity,
    /// More than 65,535 distinct schedules.
    TooManySchedules,
    /// More than 65,535 distinct profiles.
    TooManyProfiles,
    /// More than u32::MAX entries of one UID length.
    TooManyEntries,
    /// More than 65,535 keypad records.
    TooManyKeypads,
    /// Keypad id 0 is reserved for "none".
    KeypadIdZero,
    /// Two keypad records with this id.
    DuplicateKeypadId(u16),
    /// Backup-code used mask has bits above 9, or is set without a sheet.
    BadHotpUsedMask(u16),
    /// A lockdown list must carry no keypad records.
    KeypadsUnderLockdown,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::DuplicateUid(u) => write!(f, "duplicate UID {u}"),
            EncodeError::TooManySlots(u, n) => {
                write!(f, "UID {u} has {n} time slots, at most {MAX_SLOTS} allowed")
            }
            EncodeError::BadSlot(u, e) => write!(f, "UID {u}: {e}"),
            EncodeError::GraceOutOfRange(u) => write!(f, "UID {u}: grace above 1440 minutes"),
            EncodeError::EmptyValidity(u) => {
                write!(f, "UID {u}: valid_from is not before valid_until")
            }
            EncodeError::BadListValidity => {
                f.write_str("list valid_until is not after generated_at")
            }
            EncodeError::TooManySchedules => f.write_str("more than 65535 distinct schedules"),
            EncodeError::TooManyProfiles => f.write_str("more than 65535 distinct profiles"),
            EncodeError::TooManyEntries => f.write_str("too many entries"),
            EncodeError::TooManyKeypads => f.write_str("more than 65535 keypad records"),
            EncodeError::KeypadIdZero => f.write_str("keypad id 0 is reserved"),
            EncodeError::DuplicateKeypadId(i) => write!(f, "duplicate keypad id {i}"),
            EncodeError::BadHotpUsedMask(i) => {
                write!(f, "keypad {i}: invalid backup-code used mask")
            }
            EncodeError::KeypadsUnderLockdown => {
                f.write_str("a lockdown list carries no keypad codes")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for EncodeError {}

/// Builds an unsigned OL02 list.
#[derive(Debug, Clone, Default)]
pub struct ListBuilder {
    /// Strictly increasing version.
    pub version: u64,
    /// Build time, unix seconds.
    pub generated_at: u64,
    /// Stale from this unix second on (must be after `generated_at`).
    pub valid_until: u64,
    /// Sets the LOCKDOWN flag (keypad section must then be empty).
    pub lockdown: bool,
    /// Entries in any order.
    pub entries: Vec<EntrySpec>,
    /// Keypad records in any order.
    pub keypads: Vec<KeypadSpec>,
}

impl ListBuilder {
    /// An empty list.
    pub fn new(version: u64, generated_at: u64, valid_until: u64) -> ListBuilder {
        ListBuilder {
            version,
            generated_at,
            valid_until,
            ..ListBuilder::default()
        }
    }

    /// Adds an entry.
    pub fn add_entry(&mut self, e: EntrySpec) -> &mut Self {
        self.entries.push(e);
        self
    }

    /// Adds a keypad record.
    pub fn add_keypad(&mut self, k: KeypadSpec) -> &mut Self {
        self.keypads.push(k);
        self
    }

    /// Encodes the unsigned list: sorts entries by (UID length, UID bytes),
    /// stores each distinct schedule and profile once, and rejects duplicate
    /// UIDs, more than four slots and out-of-range fields.
    pub fn encode_unsigned(&self) -> Result<Vec<u8>, EncodeError> {
        if self.valid_until <= self.generated_at {
            return Err(EncodeError::BadListValidity);
        }
        if self.lockdown && !self.keypads.is_empty() {
            return Err(EncodeError::KeypadsUnderLockdown);
        }

        let mut order: Vec<&EntrySpec> = self.entries.iter().collect();
        order.sort_unstable_by_key(|e| e.uid);
        if let Some(w) = order.windows(2).find(|w| w[0].uid == w[1].uid) {
            return Err(EncodeError::DuplicateUid(w[0].uid));
        }

        let mut tables = Tables::default();
        // Profile index per entry, in sorted order.
        let mut refs: Vec<u16> = Vec::with_capacity(order.len());
        // Consecutive entries usually share a profile; skip the map then.
        let mut last: Option<([u8; PROFILE_LEN], u16)> = None;
        for e in &order {
            let p = tables.profile_bytes(e)?;
            let idx = match last {
                Some((bytes, i)) if bytes == p => i,
                _ => tables.profile_index(p)?,
            };
            last = Some((p, idx));
            refs.push(idx);
        }

        let mut keypads: Vec<&KeypadSpec> = self.keypads.iter().collect();
        keypads.sort_unstable_by_key(|k| k.keypad_id);
        for (i, k) in keypads.iter().enumerate() {
            if k.keypad_id == 0 {
                return Err(EncodeError::KeypadIdZero);
            }
            if i > 0 && keypads[i - 1].keypad_id == k.keypad_id {
                return Err(EncodeError::DuplicateKeypadId(k.keypad_id));
            }
            if k.hotp_used >> 10 != 0 || (k.hotp_secret.is_none() && k.hotp_used != 0) {
                return Err(EncodeError::BadHotpUsedMask(k.keypad_id));
            }
        }

        let count = |n: usize| order.iter().filter(|e| e.uid.len() == n).count();
        let (n4, n7, n10) = (count(4), count(7), count(10));
        let to_u32 = |n: usize| u32::try_from(n).map_err(|_| EncodeError::TooManyEntries);
        let mut flags = HeaderFlags::NONE;
        if order.iter().any(|e| e.access_type == AccessType::Emergency) {
            flags = flags.union(HeaderFlags::HAS_EMERGENCY);
        }
        if self.lockdown {
            flags = flags.union(HeaderFlags::LOCKDOWN);
        }
        let header = Header {
            flags,
            version: self.version,
            generated_at: self.generated_at,
            valid_until: self.valid_until,
            entry_count: to_u32(order.len())?,
            uid4_count: to_u32(n4)?,
            uid7_count: to_u32(n7)?,
            uid10_count: to_u32(n10)?,
            schedule_count: tables.schedules.len() as u16,
            profile_count: tables.profiles.len() as u16,
            keypad_count: u16::try_from(keypads.len()).map_err(|_| EncodeError::TooManyKeypads)?,
        };

        let len = header.body_len().ok_or(EncodeError::TooManyEntries)?;
        let mut out = Vec::with_capacity(len + TRAILER_LEN);
        out.extend_from_slice(&header.to_bytes());
        for s in &tables.schedules {
            out.extend_from_slice(s);
        }
        for p in &tables.profiles {
            out.extend_from_slice(p);
        }
        // `order` is sorted by length first, so records fall into the three
        // sections in file order.
        for (e, idx) in order.iter().zip(&refs) {
            out.extend_from_slice(e.uid.as_bytes());
            out.extend_from_slice(&idx.to_le_bytes());
        }
        for k in &keypads {
            let rec = KeypadRecord {
                keypad_id: k.keypad_id,
                totp_secret: k.totp_secret,
                hotp_secret: k.hotp_secret,
                hotp_used: k.hotp_used,
            };
            out.extend_from_slice(&rec.to_bytes());
        }
        debug_assert_eq!(out.len(), len);
        Ok(out)
    }
}

/// Deduplicated schedule and profile tables, in order of first use.
#[derive(Default)]
struct Tables {
    schedules: Vec<[u8; SCHEDULE_LEN]>,
    schedule_ix: BTreeMap<[u8; SCHEDULE_LEN], u16>,
    profiles: Vec<[u8; PROFILE_LEN]>,
    profile_ix: BTreeMap<[u8; PROFILE_LEN], u16>,
}

impl Tables {
    fn schedule_index(&mut self, uid: Uid, slots: &[Slot]) -> Result<u16, EncodeError> {
        if slots.is_empty() {
            return Ok(NO_SCHEDULE);
        }
        if slots.len() > MAX_SLOTS {
            return Err(EncodeError::TooManySlots(uid, slots.len()));
        }
        let mut sorted = [Slot::default(); MAX_SLOTS];
        sorted[..slots.len()].copy_from_slice(slots);
        let sorted = &mut sorted[..slots.len()];
        for s in sorted.iter() {
            s.validate().map_err(|e| EncodeError::BadSlot(uid, e))?;
        }
        // Slot order has no meaning; sorting lets equal schedules share a record.
        sorted.sort_unstable_by_key(|s| (s.start_minute, s.end_minute, s.days));
        let mut rec = [0u8; SCHEDULE_LEN];
        rec[0] = sorted.len() as u8;
        for (k, s) in sorted.iter().enumerate() {
            let b = 1 + k * 5;
            rec[b] = s.days;
            rec[b + 1..b + 3].copy_from_slice(&s.start_minute.to_le_bytes());
            rec[b + 3..b + 5].copy_from_slice(&s.end_minute.to_le_bytes());
        }
        if let Some(&i) = self.schedule_ix.get(&rec) {
            return Ok(i);
        }
        // 0xFFFF is the "all day" marker, so at most 65,535 schedules.
        let i = u16::try_from(self.schedules.len())
            .ok()
            .filter(|&i| i != NO_SCHEDULE)
            .ok_or(EncodeError::TooManySchedules)?;
        self.schedules.push(rec);
        self.schedule_ix.insert(rec, i);
        Ok(i)
    }

    fn profile_bytes(&mut self, e: &EntrySpec) -> Result<[u8; PROFILE_LEN], EncodeError> {
        if e.grace_minutes > MAX_GRACE_MINUTES {
            return Err(EncodeError::GraceOutOfRange(e.uid));
        }
        if e.valid_from != 0 && e.valid_until != 0 && e.valid_from >= e.valid_until {
            return Err(EncodeError::EmptyValidity(e.uid));
        }
        let sched = self.schedule_index(e.uid, &e.slots)?;
        let mut flags = e.flags;
        if e.access_type == AccessType::Emergency {
            flags = flags.union(EntryFlags::NOTIFY_ON_USE);
        }
        let mut p = [0u8; PROFILE_LEN];
        p[0] = e.access_type.as_byte();
        p[1] = flags.bits();
        p[2] = e.role.as_byte();
        p[4..6].copy_from_slice(&e.grace_minutes.to_le_bytes());
        p[6..8].copy_from_slice(&sched.to_le_bytes());
        p[8..10].copy_from_slice(&e.keypad_id.to_le_bytes());
        p[10..18].copy_from_slice(&e.valid_from.to_le_bytes());
        p[18..26].copy_from_slice(&e.valid_until.to_le_bytes());
        Ok(p)
    }

    fn profile_index(&mut self, p: [u8; PROFILE_LEN]) -> Result<u16, EncodeError> {
        if let Some(&i) = self.profile_ix.get(&p) {
            return Ok(i);
        }
        let i = u16::try_from(self.profiles.len()).map_err(|_| EncodeError::TooManyProfiles)?;
        self.profiles.push(p);
        self.profile_ix.insert(p, i);
        Ok(i)
    }
}

/// Why signing failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignError {
    /// The input is not a valid unsigned list.
    Decode(DecodeError),
    /// The certificate is for another key than `sub_key`.
    KeyMismatch,
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignError::Decode(e) => write!(f, "not a valid unsigned list: {e}"),
            SignError::KeyMismatch => f.write_str("certificate does not belong to this sub-key"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for SignError {}

/// Signs an unsigned list: appends the certificate (114 bytes) and the
/// sub-key's Ed25519 signature over every byte before it (64 bytes).
pub fn sign(
    unsigned: &[u8],
    cert: &Certificate,
    sub_key: &SigningKey,
) -> Result<Vec<u8>, SignError> {
    List::parse_unsigned(unsigned).map_err(SignError::Decode)?;
    if cert.sub_pubkey != sub_key.verifying_key().to_bytes() {
        return Err(SignError::KeyMismatch);
    }
    let mut out = Vec::with_capacity(unsigned.len() + TRAILER_LEN);
    out.extend_from_slice(unsigned);
    out.extend_from_slice(&cert.to_bytes());
    let sig = sub_key.sign(&out);
    out.extend_from_slice(&sig.to_bytes());
    Ok(out)
}
