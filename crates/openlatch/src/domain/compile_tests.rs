//! Unit tests of the pure compiler (system.md 3.3).

// Test fixtures are built inline; cloning into slices reads better here.
#![allow(clippy::cloned_ref_to_slice_refs)]

use super::*;
use crate::domain::key::{KeyAccessType, NfcKey, Uid};
use crate::domain::member::{Member, Role};
use crate::domain::rule::{
    DateRange, GlobalOverride, GuestSponsor, OverrideMode, Rule, RuleParams, Target, TimeWindow,
};
use crate::domain::{from_unix, KeyId, MemberId, RuleId};

const DAY: i64 = 86_400;

fn t(s: &str) -> i64 {
    DateTime::parse_from_rfc3339(s).expect("time").timestamp()
}

fn member(role: Role) -> Member {
    Member {
        id: MemberId::new(),
        username: format!("{role}-{}", uuid::Uuid::new_v4().simple()),
        email: "x@example.org".into(),
        display_name: "x".into(),
        role,
        is_active: true,
        keypad_id: 7,
        created_at: from_unix(0),
        updated_at: from_unix(0),
    }
}

fn key(m: &Member, uid: &str) -> NfcKey {
    NfcKey {
        id: KeyId::new(),
        member_id: m.id,
        uid: Uid::parse(uid).expect("uid"),
        label: String::new(),
        key_type: None,
        access_type: None,
        expires_at: None,
        revoked_at: None,
        revoke_reason: None,
        created_at: from_unix(0),
    }
}

fn rule(name: &str, params: RuleParams, priority: i32, targets: Vec<Target>, seq: i64) -> Rule {
    Rule {
        id: RuleId::new(),
        name: name.into(),
        params,
        priority,
        is_active: true,
        targets,
        created_at: from_unix(0),
        updated_at: from_unix(0),
        seq,
    }
}

fn window(days: u8, start: u16, end: u16, tz: &str) -> RuleParams {
    RuleParams::TimeWindow(TimeWindow {
        days,
        start_minute: start,
        end_minute: end,
        timezone: tz.parse().expect("tz"),
    })
}

fn range(start: i64, end: i64, grace: u16) -> RuleParams {
    RuleParams::DateRange(DateRange {
        start: from_unix(start),
        end: from_unix(end),
        grace_minutes: grace,
    })
}

fn run(members: &[Member], keys: &[NfcKey], rules: &[Rule], now: i64) -> Compiled {
    compile(members, keys, rules, now, now + DAY)
}

fn entry<'a>(c: &'a Compiled, k: &NfcKey) -> Option<&'a CompiledEntry> {
    c.keys.iter().find(|r| r.key_id == k.id)?.entry.as_ref()
}

fn result<'a>(c: &'a Compiled, k: &NfcKey) -> &'a KeyResult {
    c.keys
        .iter()
        .find(|r| r.key_id == k.id)
        .expect("key compiled")
}

fn slots(e: &CompiledEntry) -> Vec<(u8, u16, u16)> {
    let mut v: Vec<_> = e
        .slots
        .iter()
        .map(|s| (s.slot.days, s.slot.start_minute, s.slot.end_minute))
        .collect();
    v.sort();
    v
}

const WEEKDAYS: u8 = 0b001_1111;
const WINTER: &str = "2026-01-14T12:00:00Z";
const SUMMER: &str = "2026-07-15T12:00:00Z";

#[test]
fn no_rules_members_unrestricted_guests_absent() {
    let (m, g) = (member(Role::Member), member(Role::Guest));
    let (km, kg) = (key(&m, "04A1B2C3"), key(&g, "04A1B2C4"));
    let c = run(&[m, g], &[km.clone(), kg.clone()], &[], t(WINTER));
    let e = entry(&c, &km).expect("member present");
    assert_eq!(e.access_type, AccessType::Unrestricted);
    // No keypad codes enrolled: no keypad id, whatever the member row holds.
    assert_eq!(e.keypad_id, 0);
    assert!(entry(&c, &kg).is_none());
    assert!(result(&c, &kg).excluded_because.is_some());
}

#[test]
fn only_members_with_enrolled_keypads_carry_a_keypad_id() {
    let (a, b) = (member(Role::Member), member(Role::Member));
    let (ka, kb) = (key(&a, "04A1B2C3"), key(&b, "04A1B2C4"));
    let enrolled = HashMap::from([(b.id, 42u16)]);
    let now = t(WINTER);
    let c = compile_with_keypads(
        &[a, b],
        &[ka.clone(), kb.clone()],
        &[],
        &enrolled,
        now,
        now + DAY,
    );
    assert_eq!(entry(&c, &ka).expect("a").keypad_id, 0);
    assert_eq!(entry(&c, &kb).expect("b").keypad_id, 42);
}

#[test]
fn revoked_expired_and_deactivated_never_appear() {
    let m = member(Role::Admin);
    let mut gone = member(Role::Admin);
    gone.is_active = false;
    let mut revoked = key(&m, "01020304");
    revoked.revoked_at = Some(from_unix(1));
    let mut expired = key(&m, "01020305");
    expired.expires_at = Some(from_unix(t(WINTER) - 1));
    let mut expiring = key(&m, "01020306");
    expiring.expires_at = Some(from_unix(t(WINTER) + 3600));
    let orphan = key(&gone, "01020307");
    let keys = [
        revoked.clone(),
        expired.clone(),
        expiring.clone(),
        orphan.clone(),
    ];
    let c = run(&[m, gone], &keys, &[], t(WINTER));
    assert!(entry(&c, &revoked).is_none());
    assert!(entry(&c, &expired).is_none());
    assert!(entry(&c, &orphan).is_none());
    let e = entry(&c, &expiring).expect("present");
    // A bound makes it SCHEDULED, so a stale list stops it.
    assert_eq!(e.access_type, AccessType::Scheduled);
    assert_eq!(e.valid_until, t(WINTER) + 3600);
}

#[test]
fn berlin_window_in_winter_and_summer() {
    let m = member(Role::Member);
    let k = key(&m, "04A1B2C3");
    let r = rule(
        "office",
        window(WEEKDAYS, 8 * 60, 22 * 60, "Europe/Berlin"),
        10,
        vec![],
        1,
    );
    let c = run(&[m.clone()], &[k.clone()], &[r.clone()], t(WINTER));
    let e = entry(&c, &k).expect("present");
    assert_eq!(e.access_type, AccessType::Scheduled);
    assert_eq!(slots(e), vec![(WEEKDAYS, 7 * 60, 21 * 60)]);
    assert_eq!(e.slots[0].sources[0].rule_id, r.id);
    assert_eq!(
        e.slots[0].sources[0].local,
        "mon,tue,wed,thu,fri 08:00-22:00 Europe/Berlin"
    );
    let c = run(&[m], &[k.clone()], &[r], t(SUMMER));
    assert_eq!(
        slots(entry(&c, &k).expect("present")),
        vec![(WEEKDAYS, 6 * 60, 20 * 60)]
    );
}

#[test]
fn berlin_spring_forward_caps_the_list_and_switches_offsets() {
    let m = member(Role::Member);
    let k = key(&m, "04A1B2C3");
    let r = rule(
        "daily",
        window(Slot::ALL_DAYS, 8 * 60, 22 * 60, "Europe/Berlin"),
        0,
        vec![],
        1,
    );
    // Saturday before the change (2026-03-29 01:00 UTC).
    let before = t("2026-03-28T12:00:00Z");
    let c = run(&[m.clone()], &[k.clone()], &[r.clone()], before);
    assert_eq!(c.next_boundary, Some(t("2026-03-29T01:00:00Z")));
    assert_eq!(
        slots(entry(&c, &k).expect("present")),
        vec![(0x7F, 420, 1260)]
    );
    let after = t("2026-03-29T01:00:00Z");
    let c = run(&[m], &[k.clone()], &[r], after);
    assert_eq!(
        slots(entry(&c, &k).expect("present")),
        vec![(0x7F, 360, 1200)]
    );
    assert_ne!(c.next_boundary, Some(after));
}

#[test]
fn berlin_fall_back_caps_the_list_and_switches_offsets() {
    let m = member(Role::Member);
    let k = key(&m, "04A1B2C3");
    let r = rule(
        "daily",
        window(Slot::ALL_DAYS, 8 * 60, 22 * 60, "Europe/Berlin"),
        0,
        vec![],
        1,
    );
    let before = t("2026-10-24T20:00:00Z");
    let c = run(&[m.clone()], &[k.clone()], &[r.clone()], before);
    assert_eq!(c.next_boundary, Some(t("2026-10-25T01:00:00Z")));
    assert_eq!(
        slots(entry(&c, &k).expect("present")),
        vec![(0x7F, 360, 1200)]
    );
    let c = run(&[m], &[k.clone()], &[r], t("2026-10-25T01:00:00Z"));
    assert_eq!(
        slots(entry(&c, &k).expect("present")),
        vec![(0x7F, 420, 1260)]
    );
}

#[test]
fn nonexistent_local_start_moves_to_the_next_valid_minute() {
    // Sunday 02:30-04:00 Berlin: on 2026-03-29, 02:30 does not exist.
    let RuleParams::TimeWindow(w) = window(Slot::SUN, 150, 240, "Europe/Berlin") else {
        unreachable!()
    };
    let got = window_slots(&w, t("2026-03-29T01:00:00Z"), None);
    // Starts at 03:00 CEST = 01:00 UTC, ends 04:00 CEST = 02:00 UTC.
    assert_eq!(got, vec![Slot::new(Slot::SUN, 60, 120).expect("slot")]);
    // A list built before the change uses the week before (CET).
    let got = window_slots(
        &w,
        t("2026-03-29T00:30:00Z"),
        Some(t("2026-03-29T01:00:00Z")),
    );
    assert_eq!(got, vec![Slot::new(Slot::SUN, 90, 180).expect("slot")]);
}

#[test]
fn repeated_hour_is_taken_once() {
    // Sunday 02:00-03:00 Berlin on 2026-10-25: that hour happens twice.
    let RuleParams::TimeWindow(w) = window(Slot::SUN, 120, 180, "Europe/Berlin") else {
        unreachable!()
    };
    let got = window_slots(&w, t("2026-10-25T00:30:00Z"), None);
    assert_eq!(got.len(), 1);
    let s = got[0];
    let minutes = (i32::from(s.end_minute) - i32::from(s.start_minute)).rem_euclid(1440);
    assert_eq!(minutes, 60, "{s:?}");
}

#[test]
fn window_crossing_midnight_in_utc() {
    let m = member(Role::Member);
    let k = key(&m, "04A1B2C3");
    // Monday 00:30-02:00 Berlin in winter = Sunday 23:30 to Monday 01:00 UTC.
    let r = rule(
        "early",
        window(Slot::MON, 30, 120, "Europe/Berlin"),
        0,
        vec![],
        1,
    );
    let c = run(&[m], &[k.clone()], &[r], t(WINTER));
    let e = entry(&c, &k).expect("present");
    assert_eq!(slots(e), vec![(Slot::SUN, 1410, 60)]);
    let schedule = ol02::Schedule::from_slots(&[e.slots[0].slot]).expect("schedule");
    assert!(schedule.covers(t("2026-01-18T23:45:00Z") as u64)); // Sunday night UTC
    assert!(schedule.covers(t("2026-01-19T00:30:00Z") as u64)); // Monday early
    assert!(!schedule.covers(t("2026-01-19T01:00:00Z") as u64));
}

#[test]
fn highest_priority_windows_win_and_same_priority_unions() {
    let m = member(Role::Member);
    let k = key(&m, "04A1B2C3");
    let high_a = rule("a", window(Slot::MON, 600, 720, "UTC"), 10, vec![], 1);
    let high_b = rule("b", window(Slot::TUE, 600, 720, "UTC"), 10, vec![], 2);
    let low = rule("low", window(Slot::WED, 0, 60, "UTC"), 5, vec![], 3);
    let c = run(
        &[m],
        &[k.clone()],
        &[low.clone(), high_a.clone(), high_b.clone()],
        t(WINTER),
    );
    let r = result(&c, &k);
    assert_eq!(
        slots(r.entry.as_ref().expect("present")),
        vec![(Slot::MON | Slot::TUE, 600, 720)]
    );
    let low_outcome = r.rules.iter().find(|o| o.rule_id == low.id).expect("low");
    assert_eq!(
        low_outcome.outcome,
        Outcome::Overridden {
            by: Some(high_a.id)
        }
    );
}

#[test]
fn targets_pick_roles_members_and_keys() {
    let (m, kh) = (member(Role::Member), member(Role::Keyholder));
    let (km, kk) = (key(&m, "04A1B2C3"), key(&kh, "04A1B2C4"));
    let r = rule(
        "members only",
        window(Slot::MON, 600, 720, "UTC"),
        0,
        vec![Target::Role(Role::Member)],
        1,
    );
    let c = run(&[m, kh], &[km.clone(), kk.clone()], &[r.clone()], t(WINTER));
    assert_eq!(
        entry(&c, &km).expect("m").access_type,
        AccessType::Scheduled
    );
    assert_eq!(
        entry(&c, &kk).expect("kh").access_type,
        AccessType::Unrestricted
    );
    let o = result(&c, &kk)
        .rules
        .iter()
        .find(|o| o.rule_id == r.id)
        .expect("r")
        .outcome
        .clone();
    assert_eq!(o, Outcome::NotTargeted);
}

#[test]
fn lockdown_keeps_emergency_makes_admins_unrestricted_drops_the_rest() {
    let (a, m, landlord) = (
        member(Role::Admin),
        member(Role::Member),
        member(Role::Guest),
    );
    let ka = key(&a, "0A000001");
    let km = key(&m, "0A000002");
    let mut ke = key(&landlord, "0A000003");
    ke.access_type = Some(KeyAccessType::Emergency);
    let office = rule("office", window(WEEKDAYS, 480, 1320, "UTC"), 100, vec![], 1);
    let lock = rule(
        "lockdown",
        RuleParams::GlobalOverride(GlobalOverride {
            mode: OverrideMode::Lockdown,
            until: None,
        }),
        -5,
        vec![],
        2,
    );
    let open = rule(
        "open",
        RuleParams::GlobalOverride(GlobalOverride {
            mode: OverrideMode::Open,
            until: None,
        }),
        50,
        vec![],
        3,
    );
    let members = [a, m, landlord];
    let keys = [ka.clone(), km.clone(), ke.clone()];
    let c = run(&members, &keys, &[office, lock.clone(), open], t(WINTER));
    assert!(c.lockdown);
    assert_eq!(
        entry(&c, &ka).expect("admin").access_type,
        AccessType::Unrestricted
    );
    assert!(entry(&c, &ka).expect("admin").slots.is_empty());
    assert!(entry(&c, &km).is_none());
    assert!(result(&c, &km)
        .excluded_because
        .as_deref()
        .is_some_and(|w| w.contains("lockdown")));
    let e = entry(&c, &ke).expect("emergency");
    assert_eq!(e.access_type, AccessType::Emergency);
    assert!(e.flags.notify_on_use());

    // Ended: the lockdown no longer applies and the open override does.
    let mut ended = lock;
    ended.params = RuleParams::GlobalOverride(GlobalOverride {
        mode: OverrideMode::Lockdown,
        until: Some(from_unix(t(WINTER) - 1)),
    });
    let c = run(&members, &keys, &[ended], t(WINTER));
    assert!(!c.lockdown);
    assert!(entry(&c, &km).is_some());
}

#[test]
fn open_override_grants_all_day_until_its_end() {
    let (m, g) = (member(Role::Member), member(Role::Guest));
    let (km, kg) = (key(&m, "04A1B2C3"), key(&g, "04A1B2C4"));
    let until = t(WINTER) + 7200;
    let office = rule("office", window(WEEKDAYS, 480, 1320, "UTC"), 100, vec![], 1);
    let open = rule(
        "open day",
        RuleParams::GlobalOverride(GlobalOverride {
            mode: OverrideMode::Open,
            until: Some(from_unix(until)),
        }),
        0,
        vec![],
        2,
    );
    let c = run(
        &[m, g],
        &[km.clone(), kg.clone()],
        &[office, open],
        t(WINTER),
    );
    for k in [&km, &kg] {
        let e = entry(&c, k).expect("open");
        assert_eq!(e.access_type, AccessType::Scheduled);
        assert!(e.slots.is_empty());
        assert_eq!(e.valid_until, until);
    }
    assert_eq!(c.next_boundary, Some(until));
}

#[test]
fn guests_need_a_sponsor_who_is_a_keyholder() {
    let (g, kh) = (member(Role::Guest), member(Role::Keyholder));
    let kg = key(&g, "04A1B2C3");
    let (kh_id, g_id) = (kh.id, g.id);
    let sponsor = |approval: bool| {
        rule(
            "sponsored",
            RuleParams::GuestSponsor(GuestSponsor {
                sponsor_id: kh_id,
                start: None,
                end: Some(from_unix(t(WINTER) + DAY)),
                requires_approval: approval,
                grace_minutes: Some(30),
            }),
            0,
            vec![Target::Member(g_id)],
            1,
        )
    };
    let c = run(
        &[g.clone(), kh.clone()],
        &[kg.clone()],
        &[sponsor(false)],
        t(WINTER),
    );
    let e = entry(&c, &kg).expect("sponsored guest");
    assert_eq!(e.access_type, AccessType::Scheduled);
    assert_eq!(e.valid_until, t(WINTER) + DAY);
    assert_eq!(e.grace_minutes, 30);
    assert!(e.flags.notify_on_anomaly());

    let c = run(
        &[g.clone(), kh.clone()],
        &[kg.clone()],
        &[sponsor(true)],
        t(WINTER),
    );
    assert_eq!(
        entry(&c, &kg).expect("guest").access_type,
        AccessType::Conditional
    );

    // The grant lapses while the sponsor is inactive or below keyholder.
    let mut demoted = kh.clone();
    demoted.role = Role::Member;
    let c = run(
        &[g.clone(), demoted],
        &[kg.clone()],
        &[sponsor(false)],
        t(WINTER),
    );
    assert!(entry(&c, &kg).is_none());
    let mut gone = kh;
    gone.is_active = false;
    let c = run(&[g, gone], &[kg.clone()], &[sponsor(false)], t(WINTER));
    assert!(entry(&c, &kg).is_none());
}

#[test]
fn role_minimum_removes_lower_roles_unless_outranked() {
    let (m, kh, g) = (
        member(Role::Member),
        member(Role::Keyholder),
        member(Role::Guest),
    );
    let (km, kk, kg) = (
        key(&m, "04A1B2C3"),
        key(&kh, "04A1B2C4"),
        key(&g, "04A1B2C5"),
    );
    let min = rule(
        "keyholders only",
        RuleParams::RoleMinimum(Role::Keyholder),
        10,
        vec![],
        1,
    );
    let guest_range = rule(
        "visit",
        range(t(WINTER) - DAY, t(WINTER) + DAY, 0),
        5,
        vec![],
        2,
    );
    let members = [m, kh, g];
    let keys = [km.clone(), kk.clone(), kg.clone()];
    let c = run(
        &members,
        &keys,
        &[min.clone(), guest_range.clone()],
        t(WINTER),
    );
    assert!(entry(&c, &km).is_none());
    assert!(entry(&c, &kk).is_some());
    assert!(entry(&c, &kg).is_none());
    // A higher-priority guest range beats the minimum for the guest.
    let mut high = guest_range;
    high.priority = 20;
    let c = run(&members, &keys, &[min, high], t(WINTER));
    assert!(entry(&c, &kg).is_some());
    assert!(entry(&c, &km).is_none());
}

#[test]
fn date_ranges_with_grace_for_guests_and_members() {
    let (g, m) = (member(Role::Guest), member(Role::Member));
    let (kg, km) = (key(&g, "04A1B2C3"), key(&m, "04A1B2C4"));
    let start = t("2026-03-01T15:00:00+01:00");
    let end = t("2026-03-03T18:00:00+01:00");
    let r = rule("workshop", range(start, end, 30), 0, vec![], 1);
    let (members, keys) = ([g, m], [kg.clone(), km.clone()]);
    // Before: the guest is listed for the upcoming range; boundary = its start.
    let c = run(&members, &keys, &[r.clone()], start - 3600);
    let e = entry(&c, &kg).expect("upcoming");
    assert_eq!(
        (e.valid_from, e.valid_until, e.grace_minutes),
        (start, end, 30)
    );
    assert_eq!(e.access_type, AccessType::Scheduled);
    assert_eq!(c.next_boundary, Some(start));
    // The member gets the same bounds (intersection).
    let e = entry(&c, &km).expect("member");
    assert_eq!((e.valid_from, e.valid_until), (start, end));
    // Past the end but inside grace: still listed so the door can grant grace.
    let c = run(&members, &keys, &[r.clone()], end + 10 * 60);
    assert!(entry(&c, &kg).is_some());
    assert_eq!(c.next_boundary, Some(end + 30 * 60));
    // After end + grace the guest is gone.
    let c = run(&members, &keys, &[r], end + 31 * 60);
    assert!(entry(&c, &kg).is_none());
}

#[test]
fn guest_with_several_ranges_gets_the_current_one() {
    let g = member(Role::Guest);
    let kg = key(&g, "04A1B2C3");
    let now = t(WINTER);
    let next = rule("next", range(now + 5 * DAY, now + 6 * DAY, 0), 0, vec![], 1);
    let current = rule("current", range(now - DAY, now + DAY, 0), 0, vec![], 2);
    let c = run(&[g], &[kg.clone()], &[next.clone(), current], now);
    let e = entry(&c, &kg).expect("present");
    assert_eq!((e.valid_from, e.valid_until), (now - DAY, now + DAY));
    let o = result(&c, &kg)
        .rules
        .iter()
        .find(|o| o.rule_id == next.id)
        .expect("next")
        .clone();
    assert!(matches!(o.outcome, Outcome::Overridden { .. }));
}

#[test]
fn emergency_key_ignores_rules_and_conditional_key_keeps_schedule() {
    let (landlord, backup) = (member(Role::Guest), member(Role::Keyholder));
    let mut ke = key(&landlord, "04A1B2C3");
    ke.access_type = Some(KeyAccessType::Emergency);
    let mut kc = key(&backup, "04A1B2C4");
    kc.access_type = Some(KeyAccessType::Conditional);
    let min = rule(
        "members",
        RuleParams::RoleMinimum(Role::Member),
        0,
        vec![],
        1,
    );
    let w = rule("office", window(WEEKDAYS, 480, 1320, "UTC"), 0, vec![], 2);
    let c = run(
        &[landlord, backup],
        &[ke.clone(), kc.clone()],
        &[min, w],
        t(WINTER),
    );
    assert_eq!(
        entry(&c, &ke).expect("landlord").access_type,
        AccessType::Emergency
    );
    let e = entry(&c, &kc).expect("backup");
    assert_eq!(e.access_type, AccessType::Conditional);
    assert_eq!(slots(e), vec![(WEEKDAYS, 480, 1320)]);
}

#[test]
fn more_than_four_slots_names_the_rules() {
    let m = member(Role::Member);
    let k = key(&m, "04A1B2C3");
    let rules: Vec<Rule> = (0..5u16)
        .map(|i| {
            rule(
                &format!("w{i}"),
                window(Slot::MON, i * 60, i * 60 + 30, "UTC"),
                0,
                vec![],
                i64::from(i),
            )
        })
        .collect();
    let c = run(&[m.clone()], &[k.clone()], &rules, t(WINTER));
    assert_eq!(c.overflows.len(), 1);
    assert_eq!(c.overflows[0].slots, 5);
    assert_eq!(c.overflows[0].rules.len(), 5);
    let c = run(&[m], &[k], &rules[..4], t(WINTER));
    assert!(c.overflows.is_empty());
}

#[test]
fn next_offset_change_finds_both_berlin_changes() {
    let tz: Tz = "Europe/Berlin".parse().expect("tz");
    let from = t("2026-01-01T00:00:00Z");
    let spring = next_offset_change(tz, from, from + 365 * DAY).expect("spring");
    assert_eq!(spring, t("2026-03-29T01:00:00Z"));
    let fall = next_offset_change(tz, spring, from + 365 * DAY).expect("fall");
    assert_eq!(fall, t("2026-10-25T01:00:00Z"));
    assert_eq!(
        next_offset_change(chrono_tz::UTC, from, from + 365 * DAY),
        None
    );
}

#[test]
fn a_change_later_in_the_week_does_not_split_the_windows() {
    // Thursday before the spring change; an online list lives only a day.
    let m = member(Role::Member);
    let k = key(&m, "04A1B2C3");
    let r = rule(
        "office",
        window(WEEKDAYS, 8 * 60, 22 * 60, "Europe/Berlin"),
        0,
        vec![],
        1,
    );
    let now = t("2026-03-26T12:00:00Z");
    let c = compile(&[m], std::slice::from_ref(&k), &[r], now, now + DAY);
    assert_eq!(
        slots(entry(&c, &k).expect("present")),
        vec![(WEEKDAYS, 420, 1260)]
    );
    // The change is beyond this list's life, so it does not cap it.
    assert_eq!(c.next_boundary, None);
}
