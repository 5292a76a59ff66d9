//! The access decision (system.md 3.2) and the door-side state it needs.

use core::fmt;

use crate::list::{Entry, List};
use crate::types::AccessType;
use crate::uid::Uid;

/// UIDs the door remembers per session (between two shutdowns).
pub const SESSION_CAPACITY: usize = 64;

/// What the door does with a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Open.
    Granted,
    /// Open under the grace rule.
    GrantedGrace,
    /// Open: emergency card; report at once.
    GrantedEmergency,
    /// Refused, but the door is unlocked: lock it.
    LockOnly,
    /// UID not in the list.
    DeniedUnknown,
    /// Before the entry's `valid_from`.
    DeniedNotYetValid,
    /// At or after the entry's `valid_until` (and no grace).
    DeniedExpired,
    /// Outside every slot (and no grace).
    DeniedOutsideSchedule,
    /// The list is stale or the clock unsynchronised.
    DeniedStaleList,
    /// A CONDITIONAL entry that passed its checks: ask for approval.
    NeedsApproval,
}

impl Decision {
    /// The SCREAMING_SNAKE name used in events and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Granted => "GRANTED",
            Decision::GrantedGrace => "GRANTED_GRACE",
            Decision::GrantedEmergency => "GRANTED_EMERGENCY",
            Decision::LockOnly => "LOCK_ONLY",
            Decision::DeniedUnknown => "DENIED_UNKNOWN",
            Decision::DeniedNotYetValid => "DENIED_NOT_YET_VALID",
            Decision::DeniedExpired => "DENIED_EXPIRED",
            Decision::DeniedOutsideSchedule => "DENIED_OUTSIDE_SCHEDULE",
            Decision::DeniedStaleList => "DENIED_STALE_LIST",
            Decision::NeedsApproval => "NEEDS_APPROVAL",
        }
    }

    /// Parses a name produced by [`Decision::as_str`].
    pub fn from_name(s: &str) -> Option<Decision> {
        Self::ALL.iter().copied().find(|d| d.as_str() == s)
    }

    /// Every decision, in declaration order.
    pub const ALL: [Decision; 10] = [
        Decision::Granted,
        Decision::GrantedGrace,
        Decision::GrantedEmergency,
        Decision::LockOnly,
        Decision::DeniedUnknown,
        Decision::DeniedNotYetValid,
        Decision::DeniedExpired,
        Decision::DeniedOutsideSchedule,
        Decision::DeniedStaleList,
        Decision::NeedsApproval,
    ];

    /// The door unlocks.
    pub fn opens(self) -> bool {
        matches!(
            self,
            Decision::Granted | Decision::GrantedGrace | Decision::GrantedEmergency
        )
    }

    /// The device event type this decision is reported as (system.md 7).
    /// `NEEDS_APPROVAL` has none of its own: the approval outcome is reported.
    pub fn event_type(self) -> Option<&'static str> {
        Some(match self {
            Decision::Granted => "access_granted",
            Decision::GrantedGrace => "access_grace",
            Decision::GrantedEmergency => "emergency_access",
            Decision::LockOnly => "lock_only",
            Decision::NeedsApproval => return None,
            _ => "access_denied",
        })
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of [`decide`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// What the door does.
    pub decision: Decision,
    /// For `LOCK_ONLY`: the refusal it replaced (a `DENIED_*`).
    pub refusal: Option<Decision>,
    /// The entry, when the UID is listed.
    pub entry: Option<Entry>,
    /// Send the event at once (entry flag `NOTIFY_ON_USE`; always for emergency).
    pub notify_on_use: bool,
    /// Also send an `anomaly_outside_hours` event (grace entry with
    /// `NOTIFY_ON_ANOMALY`).
    pub anomaly: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Granted {
    uid: Uid,
    /// Open session: time of the latest grant. Closed session: time of the
    /// latest grace re-entry, if any.
    at: Option<u64>,
}

/// One door's memory for the decision, with fixed capacity and no heap.
///
/// The firmware keeps one of these from boot: call [`DoorState::record_grant`]
/// after each opening, [`DoorState::record_grace_entry`] after a
/// `GRANTED_GRACE`, [`DoorState::record_shutdown`] when the space is shut
/// down, and [`DoorState::set_door_unlocked`] whenever the lock reports its
/// state. A reboot starts from [`DoorState::new`]: no shutdown, so no grace.
#[derive(Debug, Clone)]
pub struct DoorState {
    last_shutdown: Option<u64>,
    /// UIDs granted during the session the last shutdown closed.
    closed: [Option<Granted>; SESSION_CAPACITY],
    /// UIDs granted since the last shutdown.
    open: [Option<Granted>; SESSION_CAPACITY],
    door_unlocked: bool,
}

impl Default for DoorState {
    fn default() -> Self {
        Self::new()
    }
}

impl DoorState {
    /// State after boot: no shutdown seen, nobody granted, door locked.
    pub const fn new() -> DoorState {
        DoorState {
            last_shutdown: None,
            closed: [None; SESSION_CAPACITY],
            open: [None; SESSION_CAPACITY],
            door_unlocked: false,
        }
    }

    /// State of a door that granted `granted_before` (at most 64 are kept)
    /// and was then shut down at `last_shutdown`: what the server assumes
    /// when it explains a decision "as if shut down at".
    pub fn with_shutdown(
        last_shutdown: u64,
        granted_before: impl IntoIterator<Item = Uid>,
    ) -> DoorState {
        let mut st = DoorState::new();
        for uid in granted_before {
            st.record_grant(uid, last_shutdown);
        }
        st.record_shutdown(last_shutdown);
        st
    }

    /// Time of the last shutdown since boot.
    pub fn last_shutdown(&self) -> Option<u64> {
        self.last_shutdown
    }

    /// Whether the door is currently unlocked.
    pub fn door_unlocked(&self) -> bool {
        self.door_unlocked
    }

    /// Records the lock's state.
    pub fn set_door_unlocked(&mut self, unlocked: bool) {
        self.door_unlocked = unlocked;
    }

    /// Remembers that `uid` was let in at `now` in the current session. When
    /// 64 UIDs are already remembered, the one granted longest ago is
    /// forgotten (the most recent are the likeliest to still be inside).
    pub fn record_grant(&mut self, uid: Uid, now: u64) {
        let slot = match self
            .open
            .iter()
            .position(|g| g.is_some_and(|g| g.uid == uid))
        {
            Some(i) => i,
            None => match self.open.iter().position(Option::is_none) {
                Some(i) => i,
                None => self
                    .open
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, g)| g.and_then(|g| g.at))
                    .map_or(0, |(i, _)| i),
            },
        };
        self.open[slot] = Some(Granted { uid, at: Some(now) });
    }

    /// The space was shut down at `now`: the current session closes, its UIDs
    /// become the grace-eligible set, and a new session starts empty.
    pub fn record_shutdown(&mut self, now: u64) {
        self.last_shutdown = Some(now);
        for (c, o) in self.closed.iter_mut().zip(self.open.iter_mut()) {
            *c = o.take().map(|g| Granted {
                uid: g.uid,
                at: None,
            });
        }
    }

    /// Records a grace re-entry at `now`: restarts that UID's grace window and
    /// counts as a grant in the current session.
    pub fn record_grace_entry(&mut self, uid: Uid, now: u64) {
        if let Some(g) = self.closed.iter_mut().flatten().find(|g| g.uid == uid) {
            g.at = Some(now);
        }
        self.record_grant(uid, now);
    }

    /// Whether `uid` was granted in the session the last shutdown closed.
    pub fn in_closed_session(&self, uid: &Uid) -> bool {
        self.closed_entry(uid).is_some()
    }

    /// The last grace re-entry time of `uid`, if it is grace-eligible and has
    /// re-entered.
    pub fn last_grace_entry(&self, uid: &Uid) -> Option<u64> {
        self.closed_entry(uid).and_then(|g| g.at)
    }

    /// UIDs granted in the session the last shutdown closed.
    pub fn closed_session(&self) -> impl Iterator<Item = Uid> + '_ {
        self.closed.iter().flatten().map(|g| g.uid)
    }

    /// UIDs granted since the last shutdown.
    pub fn current_session(&self) -> impl Iterator<Item = Uid> + '_ {
        self.open.iter().flatten().map(|g| g.uid)
    }

    fn closed_entry(&self, uid: &Uid) -> Option<&Granted> {
        self.closed.iter().flatten().find(|g| g.uid == *uid)
    }

    /// The grace rule (system.md 3.2): a shutdown since boot, `uid` granted in
    /// the session it closed, and `now <= max(shutdown, last grace entry) +
    /// grace`.
    pub fn grace_allows(&self, uid: &Uid, grace_minutes: u16, now: u64) -> bool {
        let (Some(shutdown), Some(g)) = (self.last_shutdown, self.closed_entry(uid)) else {
            return false;
        };
        if grace_minutes == 0 {
            return false;
        }
        let anchor = shutdown.max(g.at.unwrap_or(0));
        now <= anchor.saturating_add(grace_minutes as u64 * 60)
    }
}

/// Decides a scan of `uid` at `now_unix` against `list`.
pub fn decide(list: &List<'_>, uid: &Uid, now_unix: u64, state: &DoorState) -> Outcome {
    let h = list.header();
    decide_entry(
        list.find(uid).as_ref(),
        h.generated_at,
        h.valid_until,
        now_unix,
        state,
    )
}

/// The decision for an already looked-up entry (`None` = not listed), with
/// the list's `generated_at` and `valid_until`. The server uses this to
/// explain entries of lists it has not encoded.
///
/// Steps:
/// 1. not listed: `DENIED_UNKNOWN` (never `LOCK_ONLY`: only listed UIDs lock);
/// 2. EMERGENCY: `GRANTED_EMERGENCY`; UNRESTRICTED: `GRANTED` (stale or not);
/// 3. SCHEDULED/CONDITIONAL on a stale list (now >= list valid_until, or now <
///    generated_at): `DENIED_STALE_LIST`;
/// 4. before `valid_from`: `DENIED_NOT_YET_VALID`;
/// 5. at/after `valid_until`: `DENIED_EXPIRED`; outside all slots:
///    `DENIED_OUTSIDE_SCHEDULE`; either of these becomes `GRANTED_GRACE`
///    when the grace rule allows;
/// 6. otherwise CONDITIONAL: `NEEDS_APPROVAL`, SCHEDULED: `GRANTED`;
/// 7. any `DENIED_*` for a listed UID becomes `LOCK_ONLY` while the door is
///    unlocked.
pub fn decide_entry(
    entry: Option<&Entry>,
    generated_at: u64,
    valid_until: u64,
    now_unix: u64,
    state: &DoorState,
) -> Outcome {
    let Some(e) = entry else {
        return Outcome {
            decision: Decision::DeniedUnknown,
            refusal: None,
            entry: None,
            notify_on_use: false,
            anomaly: false,
        };
    };
    let stale = now_unix >= valid_until || now_unix < generated_at;
    let decision = match e.access_type {
        AccessType::Emergency => Decision::GrantedEmergency,
        AccessType::Unrestricted => Decision::Granted,
        AccessType::Scheduled | AccessType::Conditional => scheduled(e, stale, now_unix, state),
    };
    let (decision, refusal) =
        if !decision.opens() && decision != Decision::NeedsApproval && state.door_unlocked() {
            (Decision::LockOnly, Some(decision))
        } else {
            (decision, None)
        };
    Outcome {
        decision,
        refusal,
        entry: Some(*e),
        notify_on_use: e.flags.notify_on_use() || e.access_type == AccessType::Emergency,
        anomaly: decision == Decision::GrantedGrace && e.flags.notify_on_anomaly(),
    }
}

fn scheduled(e: &Entry, stale: bool, now: u64, state: &DoorState) -> Decision {
    if stale {
        return Decision::DeniedStaleList;
    }
    if e.valid_from != 0 && now < e.valid_from {
        return Decision::DeniedNotYetValid;
    }
    let refusal = if e.valid_until != 0 && now >= e.valid_until {
        Some(Decision::DeniedExpired)
    } else if !e.schedule.covers(now) {
        Some(Decision::DeniedOutsideSchedule)
    } else {
        None
    };
    match refusal {
        None if e.access_type == AccessType::Conditional => Decision::NeedsApproval,
        None => Decision::Granted,
        Some(_) if state.grace_allows(&e.uid, e.grace_minutes, now) => Decision::GrantedGrace,
        Some(r) => r,
    }
}
