//! Keypad codes: TOTP window and replay, HOTP backup codes, lock-out,
//! stale list and lockdown.

mod common;
use common::*;
use ol02::*;

const TOTP: [u8; 20] = *b"12345678901234567890";
const SHEET: [u8; 20] = [0x5A; 20];

fn keypad_list(lockdown: bool) -> Vec<u8> {
    let mut b = builder(1);
    let mut e = EntrySpec::new(uid("20000001"), AccessType::Unrestricted, Role::Keyholder);
    e.keypad_id = 7;
    b.add_entry(e);
    b.lockdown = lockdown;
    if !lockdown {
        b.add_keypad(KeypadSpec {
            keypad_id: 7,
            totp_secret: Some(TOTP),
            hotp_secret: Some(SHEET),
            hotp_used: 0b101,
        });
        b.add_keypad(KeypadSpec {
            keypad_id: 3,
            totp_secret: None,
            hotp_secret: Some([1; 20]),
            hotp_used: 0,
        });
    }
    b.encode_unsigned().unwrap()
}

fn input(id: u16, code: u32) -> Vec<u8> {
    format!("{id}#{code:06}#").into_bytes()
}

#[test]
fn totp_window_and_replay() {
    let bytes = keypad_list(false);
    let l = List::parse_unsigned(&bytes).unwrap();
    let now = MON + 12 * HOUR;
    let step = now / 30;
    let mut st = KeypadState::new();
    let code = |s: u64| hotp(&TOTP, s);
    // 11 back is outside the window.
    assert_eq!(
        check_keypad(&l, &input(7, code(step - 11)), now, &mut st),
        Err(KeypadRefusal::WrongCode)
    );
    // 10 back is inside.
    let m = check_keypad(&l, &input(7, code(step - 10)), now, &mut st).unwrap();
    assert_eq!(
        m,
        KeypadMatch {
            keypad_id: 7,
            method: KeypadMethod::Totp { step: step - 10 }
        }
    );
    // Replay of the same step is refused.
    assert_eq!(
        check_keypad(&l, &input(7, code(step - 10)), now, &mut st),
        Err(KeypadRefusal::WrongCode)
    );
    // Two ahead is refused (the success in between reset the count).
    assert_eq!(
        check_keypad(&l, &input(7, code(step + 2)), now, &mut st),
        Err(KeypadRefusal::WrongCode)
    );
    assert_eq!(st.failures(), 2);
    // One ahead is accepted (fresh door state).
    let mut st = KeypadState::new();
    let m = check_keypad(&l, &input(7, code(step + 1)), now, &mut st).unwrap();
    assert_eq!(m.method, KeypadMethod::Totp { step: step + 1 });
}

#[test]
fn totp_never_at_or_below_last_accepted_step() {
    let bytes = keypad_list(false);
    let l = List::parse_unsigned(&bytes).unwrap();
    let now = MON + 12 * HOUR;
    let step = now / 30;
    let mut st = KeypadState::new();
    let m = check_keypad(&l, &input(7, hotp(&TOTP, step + 1)), now, &mut st).unwrap();
    assert_eq!(m.method, KeypadMethod::Totp { step: step + 1 });
    assert_eq!(st.last_totp_step(7), Some(step + 1));
    // An older, still in-window code is refused now.
    assert_eq!(
        check_keypad(&l, &input(7, hotp(&TOTP, step)), now, &mut st),
        Err(KeypadRefusal::WrongCode)
    );
    assert_eq!(st.failures(), 1);
    // Thirty seconds later the next step works and resets the failure count.
    let m = check_keypad(&l, &input(7, hotp(&TOTP, step + 2)), now + 30, &mut st).unwrap();
    assert_eq!(m.method, KeypadMethod::Totp { step: step + 2 });
    assert_eq!(st.failures(), 0);
}

#[test]
fn hotp_backup_codes_by_unused_index() {
    let bytes = keypad_list(false);
    let l = List::parse_unsigned(&bytes).unwrap();
    let now = MON + 12 * HOUR;
    let mut st = KeypadState::new();
    // Index 0 and 2 are marked used in the list.
    assert_eq!(
        check_keypad(&l, &input(7, hotp(&SHEET, 0)), now, &mut st),
        Err(KeypadRefusal::WrongCode)
    );
    let m = check_keypad(&l, &input(7, hotp(&SHEET, 1)), now, &mut st).unwrap();
    assert_eq!(m.method, KeypadMethod::Hotp { index: 1 });
    assert_eq!(m.method.as_str(), "hotp");
    // The door remembers index 1.
    assert_eq!(
        check_keypad(&l, &input(7, hotp(&SHEET, 1)), now, &mut st),
        Err(KeypadRefusal::WrongCode)
    );
    assert_eq!(st.hotp_used(7), 0b10);
    let m = check_keypad(&l, &input(7, hotp(&SHEET, 9)), now + 1, &mut st).unwrap();
    assert_eq!(m.method, KeypadMethod::Hotp { index: 9 });
    // Counter 10 is not on the sheet.
    assert_eq!(
        check_keypad(&l, &input(7, hotp(&SHEET, 10)), now + 2, &mut st),
        Err(KeypadRefusal::WrongCode)
    );
    // Keypad 3 has only a sheet.
    let m = check_keypad(&l, &input(3, hotp(&[1; 20], 4)), now + 3, &mut st).unwrap();
    assert_eq!(
        m,
        KeypadMatch {
            keypad_id: 3,
            method: KeypadMethod::Hotp { index: 4 }
        }
    );
}

#[test]
fn three_wrong_codes_lock_for_five_minutes() {
    let bytes = keypad_list(false);
    let l = List::parse_unsigned(&bytes).unwrap();
    let now = MON + 12 * HOUR;
    let good = input(7, totp(&TOTP, now));
    let mut st = KeypadState::new();
    assert_eq!(
        check_keypad(&l, b"7#12#", now, &mut st),
        Err(KeypadRefusal::Malformed)
    );
    assert_eq!(
        check_keypad(&l, &input(99, 123456), now, &mut st),
        Err(KeypadRefusal::UnknownKeypad)
    );
    let wrong = (totp(&TOTP, now) + 1) % 1_000_000;
    assert_eq!(
        check_keypad(&l, &input(7, wrong), now, &mut st),
        Err(KeypadRefusal::WrongCode)
    );
    assert_eq!(st.locked_until(now), Some(now + 300));
    assert_eq!(
        check_keypad(&l, &good, now + 299, &mut st),
        Err(KeypadRefusal::LockedOut { until: now + 300 })
    );
    assert!(check_keypad(&l, &good, now + 300, &mut st).is_ok());
}

#[test]
fn refused_on_stale_list_unsynchronised_clock_and_lockdown() {
    let bytes = keypad_list(false);
    let l = List::parse_unsigned(&bytes).unwrap();
    let mut st = KeypadState::new();
    let late = MON + 30 * DAY;
    assert_eq!(
        check_keypad(&l, &input(7, totp(&TOTP, late)), late, &mut st),
        Err(KeypadRefusal::StaleList)
    );
    let early = MON - 2 * HOUR;
    assert_eq!(
        check_keypad(&l, &input(7, totp(&TOTP, early)), early, &mut st),
        Err(KeypadRefusal::StaleList)
    );
    assert_eq!(
        st.failures(),
        0,
        "refusals for list state do not count as wrong codes"
    );
    let bytes = keypad_list(true);
    let l = List::parse_unsigned(&bytes).unwrap();
    assert!(l.header().flags.lockdown());
    assert_eq!(
        check_keypad(&l, &input(7, totp(&TOTP, MON)), MON, &mut st),
        Err(KeypadRefusal::Lockdown)
    );
}

#[test]
fn keypad_records_round_trip_and_sort() {
    let bytes = keypad_list(false);
    let l = List::parse_unsigned(&bytes).unwrap();
    let ids: Vec<u16> = l.keypads().map(|k| k.keypad_id).collect();
    assert_eq!(ids, vec![3, 7]);
    let k = l.keypad(7).unwrap();
    assert_eq!(k.totp_secret, Some(TOTP));
    assert_eq!(k.hotp_used, 0b101);
    assert!(l.keypad(5).is_none());
    assert_eq!(l.find(&uid("20000001")).unwrap().keypad_id, 7);
}
