//! Property tests: round trips, binary search exactness, and no panics on
//! any input.

mod common;
use common::*;
use ol02::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

fn arb_uid() -> impl Strategy<Value = Uid> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 4),
        prop::collection::vec(any::<u8>(), 7),
        prop::collection::vec(any::<u8>(), 10),
    ]
    .prop_map(|b| Uid::new(&b).unwrap())
}

fn arb_slot() -> impl Strategy<Value = Slot> {
    (1u8..0x80, 0u16..1440, 0u16..=1440)
        .prop_filter("start != end", |(_, s, e)| s != e)
        .prop_map(|(days, start_minute, end_minute)| Slot {
            days,
            start_minute,
            end_minute,
        })
}

fn arb_entry() -> impl Strategy<Value = EntrySpec> {
    (
        arb_uid(),
        prop::sample::select(vec![
            AccessType::Unrestricted,
            AccessType::Scheduled,
            AccessType::Conditional,
            AccessType::Emergency,
        ]),
        prop::sample::select(vec![
            Role::Guest,
            Role::Member,
            Role::Keyholder,
            Role::Admin,
        ]),
        0u8..4,
        0u16..=1440,
        prop_oneof![Just(0u64), MON - DAY..MON + DAY],
        prop_oneof![Just(0u64), MON + DAY..MON + 60 * DAY],
        prop::collection::vec(arb_slot(), 0..=4),
        prop_oneof![Just(0u16), any::<u16>()],
    )
        .prop_map(
            |(uid, access_type, role, f, grace, from, until, slots, keypad_id)| EntrySpec {
                uid,
                access_type,
                role,
                flags: EntryFlags::from_bits(f).unwrap(),
                grace_minutes: grace,
                valid_from: from,
                valid_until: until,
                slots,
                keypad_id,
            },
        )
}

/// Entries with distinct UIDs.
fn arb_entries(max: usize) -> impl Strategy<Value = Vec<EntrySpec>> {
    prop::collection::vec(arb_entry(), 0..max).prop_map(|v| {
        let m: BTreeMap<Uid, EntrySpec> = v.into_iter().map(|e| (e.uid, e)).collect();
        m.into_values().collect()
    })
}

fn expected(e: &EntrySpec) -> (Uid, AccessType, Role, u8, u16, u64, u64, Vec<Slot>, u16) {
    let mut slots = e.slots.clone();
    slots.sort_by_key(|s| (s.start_minute, s.end_minute, s.days));
    let mut flags = e.flags;
    if e.access_type == AccessType::Emergency {
        flags = flags.union(EntryFlags::NOTIFY_ON_USE);
    }
    (
        e.uid,
        e.access_type,
        e.role,
        flags.bits(),
        e.grace_minutes,
        e.valid_from,
        e.valid_until,
        slots,
        e.keypad_id,
    )
}

fn decoded(e: &Entry) -> (Uid, AccessType, Role, u8, u16, u64, u64, Vec<Slot>, u16) {
    (
        e.uid,
        e.access_type,
        e.role,
        e.flags.bits(),
        e.grace_minutes,
        e.valid_from,
        e.valid_until,
        e.schedule.slots().to_vec(),
        e.keypad_id,
    )
}

fn cases() -> u32 {
    std::env::var("OL02_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn encode_decode_round_trip(entries in arb_entries(60), version in 1u64..1000) {
        let mut b = builder(version);
        b.entries = entries.clone();
        let unsigned = b.encode_unsigned().unwrap();
        let bytes = sign(&unsigned, &cert(), &sub()).unwrap();
        let l = verify_list(&bytes, &master_pub(), MON, version - 1).unwrap();
        prop_assert_eq!(l.len(), entries.len());
        let mut want: Vec<_> = entries.iter().map(expected).collect();
        want.sort_by_key(|a| a.0);
        let got: Vec<_> = l.entries().map(|e| decoded(&e)).collect();
        prop_assert_eq!(&got, &want);
        // Re-encoding the decoded entries gives the same bytes.
        let mut b2 = builder(version);
        b2.entries = l.entries().map(|e| EntrySpec::from(&e)).collect();
        prop_assert_eq!(b2.encode_unsigned().unwrap(), unsigned);
    }

    #[test]
    fn binary_search_finds_exactly_the_encoded_uids(
        entries in arb_entries(80),
        probes in prop::collection::vec(arb_uid(), 0..40),
    ) {
        let mut b = builder(1);
        b.entries = entries.clone();
        let unsigned = b.encode_unsigned().unwrap();
        let l = List::parse_unsigned(&unsigned).unwrap();
        for e in &entries {
            let found = l.find(&e.uid);
            prop_assert!(found.is_some());
            prop_assert_eq!(decoded(&found.unwrap()), expected(e));
        }
        for p in &probes {
            let listed = entries.iter().any(|e| e.uid == *p);
            prop_assert_eq!(l.find(p).is_some(), listed);
        }
    }

    #[test]
    fn no_input_panics(data in prop::collection::vec(any::<u8>(), 0..600), now in any::<u64>()) {
        exercise(&data, now);
    }

    #[test]
    fn no_mutation_of_a_valid_list_panics(
        entries in arb_entries(20),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        now in MON - DAY..MON + 40 * DAY,
    ) {
        let mut b = builder(3);
        b.entries = entries;
        let mut bytes = signed(&b);
        for (i, x) in flips {
            let i = i.index(bytes.len());
            bytes[i] ^= x;
        }
        exercise(&bytes, now);
        let unsigned_len = bytes.len() - TRAILER_LEN;
        exercise(&bytes[..unsigned_len], now);
        exercise(&bytes[..cut.index(bytes.len() + 1)], now);
    }
}

/// Runs every decoding entry point on arbitrary bytes; none may panic.
fn exercise(data: &[u8], now: u64) {
    let mp = master_pub();
    let st = DoorState::new();
    let probe = Uid::new(&[1, 2, 3, 4]).unwrap();
    let _ = verify_list(data, &mp, now, 0);
    let _ = verify_signatures(data, &mp);
    let _ = parse_signed(data);
    let _ = Header::parse(data);
    let _ = Certificate::parse(data);
    if let Ok(l) = List::parse_unsigned(data) {
        for e in l.entries() {
            let _ = decide(&l, &e.uid, now, &st);
        }
        let _ = decide(&l, &probe, now, &st);
        let _ = l.keypads().count();
        let mut ks = KeypadState::new();
        let _ = check_keypad(&l, b"1#123456#", now, &mut ks);
    }
}
