//! A decoded, structurally valid list body borrowed from the input bytes:
//! in-place binary search and iteration, no heap.

use core::cmp::Ordering;

use crate::bytes::{u16_at, u64_at, u8_at};
use crate::error::DecodeError;
use crate::header::{record_len, Header, HEADER_LEN, KEYPAD_LEN, PROFILE_LEN, SCHEDULE_LEN};
use crate::keypad::KeypadRecord;
use crate::types::{AccessType, EntryFlags, Role, Schedule, Slot, MAX_GRACE_MINUTES, MAX_SLOTS};
use crate::uid::Uid;

/// Schedule index meaning "no schedule: all day".
pub(crate) const NO_SCHEDULE: u16 = 0xFFFF;
const SLOT_LEN: usize = 5;

/// One decoded entry: the UID and the profile its record references.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Card UID.
    pub uid: Uid,
    /// How the door evaluates the entry.
    pub access_type: AccessType,
    /// Member role.
    pub role: Role,
    /// Notification flags.
    pub flags: EntryFlags,
    /// Grace period in minutes, 0..=1440 (0 = no grace).
    pub grace_minutes: u16,
    /// Not valid before this unix second; 0 = no lower bound.
    pub valid_from: u64,
    /// Not valid from this unix second on; 0 = no upper bound.
    pub valid_until: u64,
    /// Weekly slots; none = all day.
    pub schedule: Schedule,
    /// Keypad id of the member, 0 = none.
    pub keypad_id: u16,
}

/// The three UID sections, in file order.
const UID_LENGTHS: [usize; 3] = [4, 7, 10];

/// A structurally valid list body. Obtain one through [`List::parse_unsigned`]
/// or, for signed lists, [`crate::verify_list`] / [`crate::parse_signed`].
#[derive(Debug, Clone, Copy)]
pub struct List<'a> {
    header: Header,
    body: &'a [u8],
    schedules: &'a [u8],
    profiles: &'a [u8],
    records: [&'a [u8]; 3],
    keypads: &'a [u8],
}

impl<'a> List<'a> {
    /// Parses an unsigned list (no certificate, no signature) and checks
    /// every structural rule. Signed lists must go through verification.
    pub fn parse_unsigned(bytes: &'a [u8]) -> Result<List<'a>, DecodeError> {
        let header = Header::parse(bytes)?;
        let len = header.body_len().ok_or(DecodeError::Truncated)?;
        match bytes.len().cmp(&len) {
            Ordering::Less => Err(DecodeError::Truncated),
            Ordering::Greater => Err(DecodeError::TrailingBytes),
            Ordering::Equal => {
                let list = List::split(header, bytes)?;
                list.validate()?;
                Ok(list)
            }
        }
    }

    /// Cuts the body into sections; `body` must be exactly `body_len` long.
    pub(crate) fn split(header: Header, body: &'a [u8]) -> Result<List<'a>, DecodeError> {
        let mut rest = body.get(HEADER_LEN..).ok_or(DecodeError::Truncated)?;
        let mut take = |n: u32, size: usize| -> Result<&'a [u8], DecodeError> {
            let len = (n as usize)
                .checked_mul(size)
                .ok_or(DecodeError::Truncated)?;
            if rest.len() < len {
                return Err(DecodeError::Truncated);
            }
            let (a, b) = rest.split_at(len);
            rest = b;
            Ok(a)
        };
        let schedules = take(header.schedule_count as u32, SCHEDULE_LEN)?;
        let profiles = take(header.profile_count as u32, PROFILE_LEN)?;
        let r4 = take(header.uid4_count, record_len(4))?;
        let r7 = take(header.uid7_count, record_len(7))?;
        let r10 = take(header.uid10_count, record_len(10))?;
        let keypads = take(header.keypad_count as u32, KEYPAD_LEN)?;
        if !rest.is_empty() {
            return Err(DecodeError::TrailingBytes);
        }
        Ok(List {
            header,
            body,
            schedules,
            profiles,
            records: [r4, r7, r10],
            keypads,
        })
    }

    /// Checks every record. Runs once per download, O(entries).
    pub(crate) fn validate(&self) -> Result<(), DecodeError> {
        for i in 0..self.header.schedule_count {
            self.schedule(i).ok_or(DecodeError::BadSchedule(i))?;
        }
        let mut any_emergency = false;
        for i in 0..self.header.profile_count {
            let p = self.profile(i).ok_or(DecodeError::BadProfile(i))?;
            any_emergency |= p.access_type == AccessType::Emergency;
        }
        if any_emergency != self.header.flags.has_emergency() {
            return Err(DecodeError::EmergencyFlagMismatch);
        }
        for (section, &uid_len) in self.records.iter().zip(UID_LENGTHS.iter()) {
            let mut prev: Option<&[u8]> = None;
            for rec in section.chunks_exact(record_len(uid_len)) {
                let (uid, idx) = rec.split_at(uid_len);
                if prev.is_some_and(|p| p >= uid) {
                    return Err(DecodeError::UnsortedUids);
                }
                prev = Some(uid);
                if u16_at(idx, 0).map_or(true, |i| i >= self.header.profile_count) {
                    return Err(DecodeError::BadProfileIndex);
                }
            }
        }
        if self.header.flags.lockdown() && self.header.keypad_count > 0 {
            return Err(DecodeError::KeypadsUnderLockdown);
        }
        let mut prev_id = 0u16;
        for i in 0..self.header.keypad_count {
            let rec = self
                .keypad_at(i as usize)
                .ok_or(DecodeError::BadKeypad(i))?;
            // Ids are non-zero and strictly ascending (binary search).
            if rec.keypad_id <= prev_id {
                return Err(DecodeError::BadKeypad(i));
            }
            prev_id = rec.keypad_id;
        }
        Ok(())
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The list version.
    pub fn version(&self) -> u64 {
        self.header.version
    }

    /// The bytes of the unsigned list (header and sections).
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// Number of entries.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.header.entry_count as usize
    }

    /// True when the list is stale at `now` (see [`Header::is_stale_at`]).
    pub fn is_stale_at(&self, now: u64) -> bool {
        self.header.is_stale_at(now)
    }

    /// Decodes schedule `i`; `None` if absent or invalid.
    pub(crate) fn schedule(&self, i: u16) -> Option<Schedule> {
        let off = (i as usize).checked_mul(SCHEDULE_LEN)?;
        let rec = self.schedules.get(off..off + SCHEDULE_LEN)?;
        let count = rec[0] as usize;
        if count == 0 || count > MAX_SLOTS {
            return None;
        }
        let mut slots = [Slot::default(); MAX_SLOTS];
        for (k, slot) in slots.iter_mut().enumerate() {
            let base = 1 + k * SLOT_LEN;
            let s = Slot {
                days: u8_at(rec, base)?,
                start_minute: u16_at(rec, base + 1)?,
                end_minute: u16_at(rec, base + 3)?,
            };
            if k < count {
                s.validate().ok()?;
            } else if s != Slot::default() {
                return None; // unused slots must be zero
            }
            *slot = s;
        }
        Schedule::from_slots(&slots[..count])
    }

    /// Decodes profile `i` into an entry with a placeholder UID.
    fn profile(&self, i: u16) -> Option<Entry> {
        let off = (i as usize).checked_mul(PROFILE_LEN)?;
        let p = self.profiles.get(off..off + PROFILE_LEN)?;
        let access_type = AccessType::from_byte(p[0])?;
        let flags = EntryFlags::from_bits(p[1])?;
        if access_type == AccessType::Emergency && !flags.notify_on_use() {
            return None;
        }
        let role = Role::from_byte(p[2])?;
        if p[3] != 0 {
            return None;
        }
        let grace_minutes = u16_at(p, 4)?;
        if grace_minutes > MAX_GRACE_MINUTES {
            return None;
        }
        let sched_idx = u16_at(p, 6)?;
        let schedule = if sched_idx == NO_SCHEDULE {
            Schedule::ALL_DAY
        } else {
            self.schedule(sched_idx)?
        };
        let valid_from = u64_at(p, 10)?;
        let valid_until = u64_at(p, 18)?;
        if valid_from != 0 && valid_until != 0 && valid_from >= valid_until {
            return None;
        }
        Some(Entry {
            uid: Uid::new(&[0; 4]).ok()?,
            access_type,
            role,
            flags,
            grace_minutes,
            valid_from,
            valid_until,
            schedule,
            keypad_id: u16_at(p, 8)?,
        })
    }

    fn section(&self, uid_len: usize) -> Option<&'a [u8]> {
        let k = UID_LENGTHS.iter().position(|&l| l == uid_len)?;
        self.records.get(k).copied()
    }

    fn entry_from_record(&self, rec: &[u8], uid_len: usize) -> Option<Entry> {
        let uid = Uid::new(rec.get(..uid_len)?).ok()?;
        let mut e = self.profile(u16_at(rec, uid_len)?)?;
        e.uid = uid;
        Some(e)
    }

    /// Finds the entry for `uid` by binary search in place.
    pub fn find(&self, uid: &Uid) -> Option<Entry> {
        let n = uid.len();
        let section = self.section(n)?;
        let rl = record_len(n);
        let key = uid.as_bytes();
        let (mut lo, mut hi) = (0usize, section.len() / rl);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let rec = section.get(mid * rl..(mid + 1) * rl)?;
            match rec[..n].cmp(key) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => return self.entry_from_record(rec, n),
            }
        }
        None
    }

    /// All entries in list order (by UID length, then UID bytes).
    pub fn entries(&self) -> Entries<'a, '_> {
        Entries {
            list: self,
            section: 0,
            pos: 0,
        }
    }

    pub(crate) fn keypad_at(&self, i: usize) -> Option<KeypadRecord> {
        let off = i.checked_mul(KEYPAD_LEN)?;
        KeypadRecord::parse(self.keypads.get(off..off + KEYPAD_LEN)?)
    }

    /// The keypad record for `keypad_id`, by binary search.
    pub fn keypad(&self, keypad_id: u16) -> Option<KeypadRecord> {
        let (mut lo, mut hi) = (0usize, self.keypads.len() / KEYPAD_LEN);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let id = u16_at(self.keypads, mid * KEYPAD_LEN)?;
            match id.cmp(&keypad_id) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => return self.keypad_at(mid),
            }
        }
        None
    }

    /// All keypad records, ascending by keypad id.
    pub fn keypads(&self) -> KeypadRecords<'a, '_> {
        KeypadRecords { list: self, pos: 0 }
    }
}

/// Iterator over a list's entries; see [`List::entries`].
pub struct Entries<'a, 'l> {
    list: &'l List<'a>,
    section: usize,
    pos: usize,
}

impl Iterator for Entries<'_, '_> {
    type Item = Entry;
    fn next(&mut self) -> Option<Entry> {
        while let (Some(&uid_len), Some(section)) = (
            UID_LENGTHS.get(self.section),
            self.list.records.get(self.section),
        ) {
            let rl = record_len(uid_len);
            if let Some(rec) = section.get(self.pos..self.pos + rl) {
                self.pos += rl;
                return self.list.entry_from_record(rec, uid_len);
            }
            self.section += 1;
            self.pos = 0;
        }
        None
    }
}

/// Iterator over keypad records; see [`List::keypads`].
pub struct KeypadRecords<'a, 'l> {
    list: &'l List<'a>,
    pos: usize,
}

impl Iterator for KeypadRecords<'_, '_> {
    type Item = KeypadRecord;
    fn next(&mut self) -> Option<KeypadRecord> {
        let r = self.list.keypad_at(self.pos)?;
        self.pos += 1;
        Some(r)
    }
}
