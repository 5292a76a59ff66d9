//! Small value types stored in a list: access types, roles, flags, slots and
//! schedules.

use core::fmt;

/// Most time slots one entry may carry.
pub const MAX_SLOTS: usize = 4;
/// Largest grace period in minutes (one day).
pub const MAX_GRACE_MINUTES: u16 = 1440;

const MINUTES_PER_DAY: u16 = 1440;
const SECONDS_PER_DAY: u64 = 86_400;

/// How the door evaluates an entry (system.md 3.1). Stored as one byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AccessType {
    /// Always granted, even on a stale list.
    Unrestricted = 1,
    /// Granted inside validity range and slots; refused on a stale list.
    Scheduled = 2,
    /// Checked like `Scheduled`, then needs a live approval.
    Conditional = 3,
    /// Always granted, even on a stale list; every use reported at once.
    Emergency = 4,
}

impl AccessType {
    /// Decodes the stored byte.
    pub fn from_byte(b: u8) -> Option<AccessType> {
        Some(match b {
            1 => AccessType::Unrestricted,
            2 => AccessType::Scheduled,
            3 => AccessType::Conditional,
            4 => AccessType::Emergency,
            _ => return None,
        })
    }

    /// The stored byte.
    pub fn as_byte(self) -> u8 {
        self as u8
    }

    /// Lower-case snake name, as used in JSON (`"scheduled"`).
    pub fn as_str(self) -> &'static str {
        match self {
            AccessType::Unrestricted => "unrestricted",
            AccessType::Scheduled => "scheduled",
            AccessType::Conditional => "conditional",
            AccessType::Emergency => "emergency",
        }
    }
}

impl fmt::Display for AccessType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Member role, one byte in the list (system.md 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// `0x10`
    Guest = 0x10,
    /// `0x20`
    Member = 0x20,
    /// `0x40`, a guarantor
    Keyholder = 0x40,
    /// `0x80`, a guarantor
    Admin = 0x80,
}

impl Role {
    /// Decodes the stored byte.
    pub fn from_byte(b: u8) -> Option<Role> {
        Some(match b {
            0x10 => Role::Guest,
            0x20 => Role::Member,
            0x40 => Role::Keyholder,
            0x80 => Role::Admin,
            _ => return None,
        })
    }

    /// The stored byte.
    pub fn as_byte(self) -> u8 {
        self as u8
    }

    /// A role of `0x40` or more may vouch for others at the door.
    pub fn is_guarantor(self) -> bool {
        self.as_byte() >= 0x40
    }

    /// Lower-case name (`"keyholder"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Guest => "guest",
            Role::Member => "member",
            Role::Keyholder => "keyholder",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Per-entry notification flags (one byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EntryFlags(u8);

impl EntryFlags {
    /// Send the event at once rather than with the next batch.
    pub const NOTIFY_ON_USE: EntryFlags = EntryFlags(0x01);
    /// Grace entries also raise an `anomaly_outside_hours` event.
    pub const NOTIFY_ON_ANOMALY: EntryFlags = EntryFlags(0x02);
    /// No flags.
    pub const NONE: EntryFlags = EntryFlags(0);
    const KNOWN: u8 = 0x03;

    /// Accepts only known bits.
    pub fn from_bits(b: u8) -> Option<EntryFlags> {
        (b & !Self::KNOWN == 0).then_some(EntryFlags(b))
    }
    /// The stored byte.
    pub fn bits(self) -> u8 {
        self.0
    }
    /// True when every bit of `other` is set.
    pub fn contains(self, other: EntryFlags) -> bool {
        self.0 & other.0 == other.0
    }
    /// Both sets of bits.
    pub fn union(self, other: EntryFlags) -> EntryFlags {
        EntryFlags(self.0 | other.0)
    }
    /// `NOTIFY_ON_USE` is set.
    pub fn notify_on_use(self) -> bool {
        self.contains(Self::NOTIFY_ON_USE)
    }
    /// `NOTIFY_ON_ANOMALY` is set.
    pub fn notify_on_anomaly(self) -> bool {
        self.contains(Self::NOTIFY_ON_ANOMALY)
    }
}

/// Header flags (u16).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct HeaderFlags(u16);

impl HeaderFlags {
    /// The list holds at least one EMERGENCY entry.
    pub const HAS_EMERGENCY: HeaderFlags = HeaderFlags(0x0001);
    /// A lockdown override is active: the door refuses keypad codes.
    pub const LOCKDOWN: HeaderFlags = HeaderFlags(0x0002);
    /// No flags.
    pub const NONE: HeaderFlags = HeaderFlags(0);
    const KNOWN: u16 = 0x0003;

    /// Accepts only known bits.
    pub fn from_bits(b: u16) -> Option<HeaderFlags> {
        (b & !Self::KNOWN == 0).then_some(HeaderFlags(b))
    }
    /// The stored value.
    pub fn bits(self) -> u16 {
        self.0
    }
    /// True when every bit of `other` is set.
    pub fn contains(self, other: HeaderFlags) -> bool {
        self.0 & other.0 == other.0
    }
    /// Both sets of bits.
    pub fn union(self, other: HeaderFlags) -> HeaderFlags {
        HeaderFlags(self.0 | other.0)
    }
    /// `HAS_EMERGENCY` is set.
    pub fn has_emergency(self) -> bool {
        self.contains(Self::HAS_EMERGENCY)
    }
    /// `LOCKDOWN` is set.
    pub fn lockdown(self) -> bool {
        self.contains(Self::LOCKDOWN)
    }
}

/// Why a slot is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotError {
    /// Day mask is zero or uses bit 7.
    BadDayMask,
    /// Start minute above 1439.
    BadStart,
    /// End minute above 1440.
    BadEnd,
    /// End equals start (neither a window nor a full overnight slot).
    EmptySlot,
}

impl fmt::Display for SlotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SlotError::BadDayMask => "day mask must be non-zero and use bits 0..=6 only",
            SlotError::BadStart => "start minute must be 0..=1439",
            SlotError::BadEnd => "end minute must be 0..=1440",
            SlotError::EmptySlot => "end minute must differ from start minute",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for SlotError {}

/// One weekly time window in UTC.
///
/// `days` bit 0 is Monday ... bit 6 is Sunday, and names the day the slot
/// *starts*. Minutes count from 00:00 UTC; `end_minute` is exclusive and may
/// be 1440 (24:00). `end_minute < start_minute` means the slot runs
/// overnight and ends on the following day (Sunday's overnight slot ends on
/// Monday).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Slot {
    /// Day mask, bit 0 = Monday .. bit 6 = Sunday.
    pub days: u8,
    /// First minute inside the slot, 0..=1439.
    pub start_minute: u16,
    /// First minute after the slot, 0..=1440.
    pub end_minute: u16,
}

impl Slot {
    /// Monday bit.
    pub const MON: u8 = 1 << 0;
    /// Tuesday bit.
    pub const TUE: u8 = 1 << 1;
    /// Wednesday bit.
    pub const WED: u8 = 1 << 2;
    /// Thursday bit.
    pub const THU: u8 = 1 << 3;
    /// Friday bit.
    pub const FRI: u8 = 1 << 4;
    /// Saturday bit.
    pub const SAT: u8 = 1 << 5;
    /// Sunday bit.
    pub const SUN: u8 = 1 << 6;
    /// Every day.
    pub const ALL_DAYS: u8 = 0x7F;

    /// A validated slot.
    pub fn new(days: u8, start_minute: u16, end_minute: u16) -> Result<Slot, SlotError> {
        let s = Slot {
            days,
            start_minute,
            end_minute,
        };
        s.validate()?;
        Ok(s)
    }

    /// Checks the ranges documented on the type.
    pub fn validate(&self) -> Result<(), SlotError> {
        if self.days == 0 || self.days & 0x80 != 0 {
            return Err(SlotError::BadDayMask);
        }
        if self.start_minute >= MINUTES_PER_DAY {
            return Err(SlotError::BadStart);
        }
        if self.end_minute > MINUTES_PER_DAY {
            return Err(SlotError::BadEnd);
        }
        if self.end_minute == self.start_minute {
            return Err(SlotError::EmptySlot);
        }
        Ok(())
    }

    /// Runs past midnight into the next day.
    pub fn is_overnight(&self) -> bool {
        self.end_minute < self.start_minute
    }

    /// Whether the slot covers `weekday` (0 = Monday) at `minute` of the day.
    pub fn covers(&self, weekday: u8, minute: u16) -> bool {
        let day_bit = |d: u8| self.days & (1 << d) != 0;
        if self.is_overnight() {
            // Evening part on the start day, morning part on the day after.
            let yesterday = (weekday + 6) % 7;
            (day_bit(weekday) && minute >= self.start_minute)
                || (day_bit(yesterday) && minute < self.end_minute)
        } else {
            day_bit(weekday) && minute >= self.start_minute && minute < self.end_minute
        }
    }
}

/// Weekday (0 = Monday) and minute of day, in UTC, of a unix time.
pub(crate) fn weekday_minute(unix: u64) -> (u8, u16) {
    let days = unix / SECONDS_PER_DAY;
    // 1970-01-01 was a Thursday (weekday 3).
    let weekday = ((days + 3) % 7) as u8;
    let minute = ((unix % SECONDS_PER_DAY) / 60) as u16;
    (weekday, minute)
}

/// Up to four slots. No slots means all day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Schedule {
    slots: [Slot; MAX_SLOTS],
    len: u8,
}

impl Schedule {
    /// All day (no slots).
    pub const ALL_DAY: Schedule = Schedule {
        slots: [Slot {
            days: 0,
            start_minute: 0,
            end_minute: 0,
        }; MAX_SLOTS],
        len: 0,
    };

    /// Builds a schedule from at most four valid slots.
    pub fn from_slots(slots: &[Slot]) -> Option<Schedule> {
        if slots.len() > MAX_SLOTS || slots.iter().any(|s| s.validate().is_err()) {
            return None;
        }
        let mut out = Schedule::ALL_DAY;
        out.slots[..slots.len()].copy_from_slice(slots);
        out.len = slots.len() as u8;
        Some(out)
    }

    /// The slots; empty means all day.
    pub fn slots(&self) -> &[Slot] {
        &self.slots[..self.len as usize]
    }

    /// No slots: any time of day.
    pub fn is_all_day(&self) -> bool {
        self.len == 0
    }

    /// Whether `unix` (UTC) falls inside the schedule.
    pub fn covers(&self, unix: u64) -> bool {
        if self.is_all_day() {
            return true;
        }
        let (d, m) = weekday_minute(unix);
        self.slots().iter().any(|s| s.covers(d, m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2024-01-01 00:00 UTC was a Monday.
    const MON_2024: u64 = 1_704_067_200;

    #[test]
    fn weekday_of_known_dates() {
        assert_eq!(weekday_minute(0), (3, 0));
        assert_eq!(weekday_minute(MON_2024), (0, 0));
        assert_eq!(
            weekday_minute(MON_2024 + 6 * 86_400 + 23 * 3600 + 59 * 60),
            (6, 1439)
        );
    }

    #[test]
    fn overnight_sunday_slot_covers_monday_morning() {
        let s = Slot::new(Slot::SUN, 22 * 60, 2 * 60).unwrap();
        let sched = Schedule::from_slots(&[s]).unwrap();
        let sunday = MON_2024 + 6 * 86_400;
        assert!(sched.covers(sunday + 22 * 3600));
        assert!(!sched.covers(sunday + 21 * 3600 + 59 * 60));
        assert!(sched.covers(MON_2024 + 7 * 86_400 + 3600)); // next Monday 01:00
        assert!(sched.covers(MON_2024 + 3600)); // this Monday 01:00 (previous Sunday's slot)
        assert!(!sched.covers(MON_2024 + 2 * 3600)); // end is exclusive
        assert!(!sched.covers(MON_2024 + 86_400 + 3600)); // Tuesday 01:00
    }

    #[test]
    fn end_1440_is_midnight() {
        let s = Slot::new(Slot::MON, 18 * 60, 1440).unwrap();
        assert!(!s.is_overnight());
        assert!(s.covers(0, 1439));
        assert!(!s.covers(1, 0));
    }

    #[test]
    fn slot_validation() {
        assert_eq!(Slot::new(0, 0, 10), Err(SlotError::BadDayMask));
        assert_eq!(Slot::new(0x80, 0, 10), Err(SlotError::BadDayMask));
        assert_eq!(Slot::new(1, 1440, 10), Err(SlotError::BadStart));
        assert_eq!(Slot::new(1, 0, 1441), Err(SlotError::BadEnd));
        assert_eq!(Slot::new(1, 10, 10), Err(SlotError::EmptySlot));
        assert!(Schedule::from_slots(&[Slot::new(1, 0, 10).unwrap(); 5]).is_none());
    }
}
