//! Decision-table tests for every rule of the access model (system.md 3.2).

mod common;
use common::*;
use ol02::*;

fn decide_at(list_bytes: &[u8], u: &str, now: u64, st: &DoorState) -> Outcome {
    let l = List::parse_unsigned(list_bytes).unwrap();
    decide(&l, &uid(u), now, st)
}

fn enc(b: &ListBuilder) -> Vec<u8> {
    b.encode_unsigned().unwrap()
}

#[test]
fn unknown_uid_is_denied_even_when_door_unlocked() {
    let mut b = builder(1);
    b.add_entry(EntrySpec::new(
        uid("01020304"),
        AccessType::Unrestricted,
        Role::Member,
    ));
    let l = enc(&b);
    let mut st = DoorState::new();
    let o = decide_at(&l, "01020305", MON, &st);
    assert_eq!(o.decision, Decision::DeniedUnknown);
    assert!(o.entry.is_none());
    st.set_door_unlocked(true);
    assert_eq!(
        decide_at(&l, "01020305", MON, &st).decision,
        Decision::DeniedUnknown
    );
    // Same bytes, other length: a different UID.
    assert_eq!(
        decide_at(&l, "01020304000000", MON, &st).decision,
        Decision::DeniedUnknown
    );
}

#[test]
fn unrestricted_and_emergency_open_on_stale_and_unsynchronised_lists() {
    let mut b = builder(1);
    b.add_entry(EntrySpec::new(
        uid("0A000001"),
        AccessType::Unrestricted,
        Role::Admin,
    ));
    b.add_entry(EntrySpec::new(
        uid("0A000002"),
        AccessType::Emergency,
        Role::Guest,
    ));
    let l = enc(&b);
    let st = DoorState::new();
    for now in [MON, MON + 30 * DAY, MON + 400 * DAY, MON - 2 * HOUR, 0] {
        assert_eq!(
            decide_at(&l, "0A000001", now, &st).decision,
            Decision::Granted,
            "now={now}"
        );
        let o = decide_at(&l, "0A000002", now, &st);
        assert_eq!(o.decision, Decision::GrantedEmergency);
        assert!(o.notify_on_use, "emergency always notifies");
    }
    let parsed = List::parse_unsigned(&l).unwrap();
    assert!(parsed.header().flags.has_emergency());
}

#[test]
fn scheduled_validity_range_and_slots() {
    let mut b = builder(1);
    let mut e = scheduled(
        "0B000001",
        &[Slot::new(Slot::MON | Slot::WED, 9 * 60, 17 * 60).unwrap()],
    );
    e.valid_from = MON + 8 * HOUR;
    e.valid_until = MON + 7 * DAY;
    b.add_entry(e);
    let l = enc(&b);
    let st = DoorState::new();
    let d = |now| decide_at(&l, "0B000001", now, &st).decision;
    assert_eq!(d(MON + 7 * HOUR), Decision::DeniedNotYetValid);
    assert_eq!(d(MON + 9 * HOUR), Decision::Granted);
    assert_eq!(d(MON + 17 * HOUR - 1), Decision::Granted);
    assert_eq!(d(MON + 17 * HOUR), Decision::DeniedOutsideSchedule);
    assert_eq!(d(MON + DAY + 10 * HOUR), Decision::DeniedOutsideSchedule); // Tuesday
    assert_eq!(d(MON + 2 * DAY + 10 * HOUR), Decision::Granted); // Wednesday
    assert_eq!(d(MON + 7 * DAY + 10 * HOUR), Decision::DeniedExpired); // next Monday
    assert_eq!(d(MON + 7 * DAY), Decision::DeniedExpired); // valid_until is exclusive
}

#[test]
fn zero_slots_means_all_day() {
    let mut b = builder(1);
    let mut e = scheduled("0C000001", &[]);
    e.valid_until = MON + 2 * DAY;
    b.add_entry(e);
    let l = enc(&b);
    let st = DoorState::new();
    for now in [MON, MON + 3 * HOUR + 17, MON + DAY + 23 * HOUR + 59 * MIN] {
        assert_eq!(
            decide_at(&l, "0C000001", now, &st).decision,
            Decision::Granted
        );
    }
    assert_eq!(
        decide_at(&l, "0C000001", MON + 2 * DAY, &st).decision,
        Decision::DeniedExpired
    );
}

#[test]
fn overnight_slot_runs_from_sunday_into_monday() {
    let mut b = builder(1);
    b.add_entry(scheduled(
        "0D000001",
        &[Slot::new(Slot::SUN, 22 * 60, 2 * 60).unwrap()],
    ));
    let l = enc(&b);
    let st = DoorState::new();
    let d = |now| decide_at(&l, "0D000001", now, &st).decision;
    let sun = MON + 6 * DAY;
    assert_eq!(d(MON + HOUR), Decision::Granted); // Mon 01:00 (previous Sunday's slot)
    assert_eq!(d(MON + 2 * HOUR - 1), Decision::Granted);
    assert_eq!(d(MON + 2 * HOUR), Decision::DeniedOutsideSchedule);
    assert_eq!(
        d(sun + 21 * HOUR + 59 * MIN),
        Decision::DeniedOutsideSchedule
    );
    assert_eq!(d(sun + 22 * HOUR), Decision::Granted);
    assert_eq!(d(sun + 23 * HOUR + 59 * MIN), Decision::Granted);
    assert_eq!(d(sun - DAY + 23 * HOUR), Decision::DeniedOutsideSchedule); // Saturday 23:00
    assert_eq!(d(MON + DAY + HOUR), Decision::DeniedOutsideSchedule); // Tuesday 01:00
}

#[test]
fn stale_list_and_unsynchronised_clock_refuse_scheduled() {
    let mut b = builder(1);
    b.add_entry(scheduled("0E000001", &[]));
    let mut c = EntrySpec::new(uid("0E000002"), AccessType::Conditional, Role::Member);
    c.grace_minutes = 60;
    b.add_entry(c);
    let l = enc(&b);
    let mut st = DoorState::new();
    st.record_grant(uid("0E000002"), MON);
    st.record_shutdown(MON + 29 * DAY + 23 * HOUR);
    for u in ["0E000001", "0E000002"] {
        assert_eq!(
            decide_at(&l, u, MON + 30 * DAY, &st).decision,
            Decision::DeniedStaleList
        );
        assert_eq!(
            decide_at(&l, u, MON - HOUR - 1, &st).decision,
            Decision::DeniedStaleList
        );
        assert_eq!(decide_at(&l, u, 0, &st).decision, Decision::DeniedStaleList);
    }
    assert_eq!(
        decide_at(&l, "0E000001", MON - HOUR, &st).decision,
        Decision::Granted
    );
}

#[test]
fn conditional_needs_approval_only_when_it_would_be_granted() {
    let mut b = builder(1);
    let mut e = scheduled(
        "0F000001",
        &[Slot::new(Slot::MON, 10 * 60, 12 * 60).unwrap()],
    );
    e.access_type = AccessType::Conditional;
    e.valid_from = MON;
    b.add_entry(e);
    let l = enc(&b);
    let st = DoorState::new();
    let d = |now| decide_at(&l, "0F000001", now, &st).decision;
    assert_eq!(d(MON + 11 * HOUR), Decision::NeedsApproval);
    assert_eq!(d(MON + 13 * HOUR), Decision::DeniedOutsideSchedule);
    assert_eq!(d(MON + 30 * DAY), Decision::DeniedStaleList);
    let mut unlocked = DoorState::new();
    unlocked.set_door_unlocked(true);
    // Approval is not a refusal, so it never turns into LOCK_ONLY.
    assert_eq!(
        decide_at(&l, "0F000001", MON + 11 * HOUR, &unlocked).decision,
        Decision::NeedsApproval
    );
}

/// The reference example: range ends 18:00, shutdown 18:50, grace 30 min.
fn grace_fixture(anomaly: bool) -> (Vec<u8>, DoorState) {
    let mut b = builder(1);
    let mut e = EntrySpec::new(uid("10000001"), AccessType::Scheduled, Role::Guest);
    e.valid_from = MON + 9 * HOUR;
    e.valid_until = MON + 18 * HOUR;
    e.grace_minutes = 30;
    if anomaly {
        e.flags = EntryFlags::NOTIFY_ON_ANOMALY;
    }
    b.add_entry(e);
    let mut st = DoorState::new();
    st.record_grant(uid("10000001"), MON + 17 * HOUR);
    st.record_shutdown(MON + 18 * HOUR + 50 * MIN);
    (enc(&b), st)
}

#[test]
fn grace_worked_example() {
    let (l, mut st) = grace_fixture(false);
    let d = |st: &DoorState, now| decide_at(&l, "10000001", now, st).decision;
    assert_eq!(d(&st, MON + 18 * HOUR + 55 * MIN), Decision::GrantedGrace);
    assert_eq!(d(&st, MON + 19 * HOUR + 20 * MIN), Decision::GrantedGrace);
    assert_eq!(
        d(&st, MON + 19 * HOUR + 20 * MIN + 1),
        Decision::DeniedExpired
    );
    // Re-entry at 19:10 restarts the window: open until 19:40.
    st.record_grace_entry(uid("10000001"), MON + 19 * HOUR + 10 * MIN);
    assert_eq!(d(&st, MON + 19 * HOUR + 40 * MIN), Decision::GrantedGrace);
    assert_eq!(
        d(&st, MON + 19 * HOUR + 40 * MIN + 1),
        Decision::DeniedExpired
    );
    let o = decide_at(&l, "10000001", MON + 19 * HOUR + 30 * MIN, &st);
    assert!(!o.anomaly, "no anomaly event without NOTIFY_ON_ANOMALY");
}

#[test]
fn grace_with_anomaly_flag_reports_anomaly() {
    let (l, st) = grace_fixture(true);
    let o = decide_at(&l, "10000001", MON + 19 * HOUR, &st);
    assert_eq!(o.decision, Decision::GrantedGrace);
    assert!(o.anomaly);
    assert!(!o.notify_on_use);
}

#[test]
fn with_shutdown_builds_the_same_state() {
    let (l, _) = grace_fixture(false);
    let st = DoorState::with_shutdown(MON + 18 * HOUR + 50 * MIN, [uid("10000001")]);
    assert_eq!(
        decide_at(&l, "10000001", MON + 19 * HOUR + 20 * MIN, &st).decision,
        Decision::GrantedGrace
    );
    let st = DoorState::with_shutdown(MON + 18 * HOUR + 50 * MIN, []);
    assert_eq!(
        decide_at(&l, "10000001", MON + 19 * HOUR, &st).decision,
        Decision::DeniedExpired
    );
}

#[test]
fn no_grace_without_shutdown_since_boot() {
    let (l, _) = grace_fixture(false);
    let mut st = DoorState::new();
    st.record_grant(uid("10000001"), MON + 17 * HOUR);
    assert_eq!(
        decide_at(&l, "10000001", MON + 18 * HOUR + 1, &st).decision,
        Decision::DeniedExpired
    );
}

#[test]
fn no_grace_for_uid_not_granted_in_closed_session() {
    let (l, _) = grace_fixture(false);
    // Granted only after the shutdown: the open session does not count.
    let mut st = DoorState::new();
    st.record_shutdown(MON + 18 * HOUR + 50 * MIN);
    st.record_grant(uid("10000001"), MON + 18 * HOUR + 51 * MIN);
    assert_eq!(
        decide_at(&l, "10000001", MON + 19 * HOUR, &st).decision,
        Decision::DeniedExpired
    );
    // A second shutdown replaces the eligible set.
    let (_, mut st) = grace_fixture(false);
    st.record_shutdown(MON + 19 * HOUR);
    assert_eq!(
        decide_at(&l, "10000001", MON + 19 * HOUR + MIN, &st).decision,
        Decision::DeniedExpired
    );
}

#[test]
fn no_grace_on_stale_list_or_before_valid_from_or_with_zero_grace() {
    let (l, st) = grace_fixture(false);
    assert_eq!(
        decide_at(&l, "10000001", MON + 30 * DAY, &st).decision,
        Decision::DeniedStaleList
    );
    assert_eq!(
        decide_at(&l, "10000001", MON + 8 * HOUR, &st).decision,
        Decision::DeniedNotYetValid
    );

    let mut b = builder(1);
    let mut e = EntrySpec::new(uid("10000002"), AccessType::Scheduled, Role::Guest);
    e.valid_until = MON + 18 * HOUR;
    b.add_entry(e);
    let l = enc(&b);
    let mut st = DoorState::new();
    st.record_grant(uid("10000002"), MON + 17 * HOUR);
    st.record_shutdown(MON + 18 * HOUR);
    assert_eq!(
        decide_at(&l, "10000002", MON + 18 * HOUR, &st).decision,
        Decision::DeniedExpired
    );
}

#[test]
fn grace_covers_outside_schedule_and_conditional() {
    let mut b = builder(1);
    let mut e = scheduled(
        "11000001",
        &[Slot::new(Slot::MON, 9 * 60, 18 * 60).unwrap()],
    );
    e.grace_minutes = 15;
    e.access_type = AccessType::Conditional;
    b.add_entry(e);
    let l = enc(&b);
    let mut st = DoorState::new();
    st.record_grant(uid("11000001"), MON + 17 * HOUR);
    st.record_shutdown(MON + 18 * HOUR + 5 * MIN);
    assert_eq!(
        decide_at(&l, "11000001", MON + 18 * HOUR + 20 * MIN, &st).decision,
        Decision::GrantedGrace
    );
    assert_eq!(
        decide_at(&l, "11000001", MON + 18 * HOUR + 20 * MIN + 1, &st).decision,
        Decision::DeniedOutsideSchedule
    );
}

#[test]
fn lock_only_for_refused_listed_uid_while_unlocked() {
    let (l, mut st) = grace_fixture(false);
    st.set_door_unlocked(true);
    let o = decide_at(&l, "10000001", MON + 20 * HOUR, &st);
    assert_eq!(o.decision, Decision::LockOnly);
    assert_eq!(o.refusal, Some(Decision::DeniedExpired));
    let o = decide_at(&l, "10000001", MON + 30 * DAY, &st);
    assert_eq!(
        (o.decision, o.refusal),
        (Decision::LockOnly, Some(Decision::DeniedStaleList))
    );
    // Grants are unaffected by the door being unlocked.
    assert_eq!(
        decide_at(&l, "10000001", MON + 10 * HOUR, &st).decision,
        Decision::Granted
    );
    assert_eq!(
        decide_at(&l, "10000001", MON + 19 * HOUR, &st).decision,
        Decision::GrantedGrace
    );
    st.set_door_unlocked(false);
    assert_eq!(
        decide_at(&l, "10000001", MON + 20 * HOUR, &st).decision,
        Decision::DeniedExpired
    );
}

#[test]
fn door_state_keeps_the_64_most_recent_grants() {
    let mut st = DoorState::new();
    let u = |i: u32| Uid::new(&i.to_be_bytes()).unwrap();
    for i in 0..65u32 {
        st.record_grant(u(i), MON + i as u64);
    }
    // Re-granting refreshes, so 1 is now the newest and 2 the oldest.
    st.record_grant(u(1), MON + 100);
    st.record_grant(u(100), MON + 101);
    st.record_shutdown(MON + 200);
    assert!(!st.in_closed_session(&u(0)));
    assert!(!st.in_closed_session(&u(2)));
    assert!(st.in_closed_session(&u(1)));
    assert!(st.in_closed_session(&u(64)));
    assert!(st.in_closed_session(&u(100)));
    assert_eq!(st.closed_session().count(), 64);
    assert_eq!(st.current_session().count(), 0);
    assert_eq!(st.last_shutdown(), Some(MON + 200));
}

#[test]
fn decision_names_and_events() {
    assert_eq!(Decision::GrantedGrace.as_str(), "GRANTED_GRACE");
    assert_eq!(Decision::DeniedStaleList.as_str(), "DENIED_STALE_LIST");
    for d in Decision::ALL {
        assert_eq!(Decision::from_name(d.as_str()), Some(d));
    }
    assert_eq!(Decision::DeniedExpired.event_type(), Some("access_denied"));
    assert_eq!(Decision::LockOnly.event_type(), Some("lock_only"));
}
