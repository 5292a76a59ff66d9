//! Chain verification, structure checks, encoder rules and size.

mod common;
use common::*;
use ol02::ed25519_dalek::{Signer, SigningKey};
use ol02::*;

fn sample() -> ListBuilder {
    let mut b = builder(5);
    for i in 0..20u32 {
        b.add_entry(EntrySpec::new(
            Uid::new(&i.to_be_bytes()).unwrap(),
            AccessType::Unrestricted,
            Role::Member,
        ));
    }
    b.add_entry(scheduled(
        "01020304050607",
        &[Slot::new(Slot::ALL_DAYS, 0, 600).unwrap()],
    ));
    b.add_entry(EntrySpec::new(
        uid("00112233445566778899"),
        AccessType::Emergency,
        Role::Guest,
    ));
    b
}

#[test]
fn good_list_verifies_and_finds_entries() {
    let bytes = signed(&sample());
    let l = verify_list(&bytes, &master_pub(), MON, 4).unwrap();
    assert_eq!(l.version(), 5);
    assert_eq!(l.len(), 22);
    assert_eq!(l.certificate().key_id, 1);
    assert_eq!(l.entries().count(), 22);
    assert_eq!(
        l.find(&uid("01020304050607")).unwrap().access_type,
        AccessType::Scheduled
    );
    assert!(l.find(&uid("01020304050608")).is_none());
    // Iteration is in list order.
    let uids: Vec<Uid> = l.entries().map(|e| e.uid).collect();
    let mut sorted = uids.clone();
    sorted.sort();
    assert_eq!(uids, sorted);
}

#[test]
fn every_failure_has_its_own_error() {
    let bytes = signed(&sample());
    let mp = master_pub();
    let v = |b: &[u8], now, held| verify_list(b, &mp, now, held).map(|_| ()).unwrap_err();

    // Tampered body byte (a UID) -> list signature.
    let mut t = bytes.clone();
    let uid_off = HEADER_LEN + 26; // inside the first record region or profile; any signed byte
    t[uid_off] ^= 1;
    assert_eq!(v(&t, MON, 0), VerifyError::BadListSignature);
    // Tampered certificate -> master signature.
    let cert_off = bytes.len() - TRAILER_LEN;
    let mut t = bytes.clone();
    t[cert_off + 40] ^= 1;
    assert_eq!(v(&t, MON, 0), VerifyError::BadMasterSignature);
    // Replay.
    assert_eq!(
        v(&bytes, MON, 5),
        VerifyError::VersionNotNewer {
            held: 5,
            offered: 5
        }
    );
    // Certificate times.
    let c = cert();
    assert_eq!(
        v(&bytes, c.valid_until, 0),
        VerifyError::CertificateExpired {
            valid_until: c.valid_until
        }
    );
    assert_eq!(
        v(&bytes, c.valid_from - 1, 0),
        VerifyError::CertificateNotYetValid {
            valid_from: c.valid_from
        }
    );
    // Another master.
    let other = SigningKey::from_bytes(&[0x33; 32])
        .verifying_key()
        .to_bytes();
    assert_eq!(
        verify_list(&bytes, &other, MON, 0).unwrap_err(),
        VerifyError::BadMasterSignature
    );
    // Truncated / trailing / magic.
    assert_eq!(
        v(&bytes[..bytes.len() - 1], MON, 0),
        VerifyError::Decode(DecodeError::Truncated)
    );
    assert_eq!(
        v(&bytes[..10], MON, 0),
        VerifyError::Decode(DecodeError::Truncated)
    );
    assert_eq!(v(&[], MON, 0), VerifyError::Decode(DecodeError::Truncated));
    let mut t = bytes.clone();
    t.push(0);
    assert_eq!(
        v(&t, MON, 0),
        VerifyError::Decode(DecodeError::TrailingBytes)
    );
    let mut t = bytes.clone();
    t[3] = b'1';
    assert_eq!(v(&t, MON, 0), VerifyError::Decode(DecodeError::BadMagic));
    // The unsigned list is not a signed list.
    let unsigned = sample().encode_unsigned().unwrap();
    assert_eq!(
        v(&unsigned, MON, 0),
        VerifyError::Decode(DecodeError::Truncated)
    );
}

#[test]
fn certificate_flags_must_be_zero() {
    let unsigned = sample().encode_unsigned().unwrap();
    let mut c = cert();
    c.flags = 1;
    // Re-sign so only the flags are wrong.
    c.master_sig = master().sign(&c.signed_part()).to_bytes();
    let bytes = sign(&unsigned, &c, &sub()).unwrap();
    assert_eq!(
        verify_list(&bytes, &master_pub(), MON, 0).unwrap_err(),
        VerifyError::CertificateFlags(1)
    );
}

#[test]
fn lists_signed_by_the_master_are_refused() {
    let unsigned = sample().encode_unsigned().unwrap();
    // Master signs the list under the sub-key's certificate.
    let mut bytes = unsigned.clone();
    bytes.extend_from_slice(&cert().to_bytes());
    let sig = master().sign(&bytes);
    bytes.extend_from_slice(&sig.to_bytes());
    assert_eq!(
        verify_list(&bytes, &master_pub(), MON, 0).unwrap_err(),
        VerifyError::BadListSignature
    );
    // Master delegates to itself.
    let selfcert = Certificate::issue(&master(), &master_pub(), 1, 0, 0);
    let bytes = sign(&unsigned, &selfcert, &master()).unwrap();
    assert_eq!(
        verify_list(&bytes, &master_pub(), MON, 0).unwrap_err(),
        VerifyError::SubKeyIsMaster
    );
    // A bare master signature with no certificate.
    let mut bytes = unsigned.clone();
    let sig = master().sign(&bytes);
    bytes.extend_from_slice(&sig.to_bytes());
    assert_eq!(
        verify_list(&bytes, &master_pub(), MON, 0).unwrap_err(),
        VerifyError::Decode(DecodeError::Truncated)
    );
}

#[test]
fn unsigned_and_untimed_parsing() {
    let unsigned = sample().encode_unsigned().unwrap();
    let l = List::parse_unsigned(&unsigned).unwrap();
    assert_eq!(l.len(), 22);
    let bytes = sign(&unsigned, &cert(), &sub()).unwrap();
    assert_eq!(&bytes[..unsigned.len()], &unsigned[..]);
    assert_eq!(bytes.len(), unsigned.len() + 178);
    assert_eq!(
        List::parse_unsigned(&bytes).unwrap_err(),
        DecodeError::TrailingBytes
    );
    let parts = parse_signed(&bytes).unwrap();
    assert_eq!(parts.body, &unsigned[..]);
    assert_eq!(parts.certificate, cert());
    // No time/version checks.
    assert!(verify_signatures(&bytes, &master_pub()).is_ok());
    assert_eq!(
        verify_signatures(&bytes[..bytes.len() - 1], &master_pub()).unwrap_err(),
        VerifyError::Decode(DecodeError::Truncated)
    );
}

#[test]
fn sign_refuses_a_foreign_certificate_and_garbage() {
    let unsigned = sample().encode_unsigned().unwrap();
    let other = SigningKey::from_bytes(&[0x44; 32]);
    assert_eq!(
        sign(&unsigned, &cert(), &other).unwrap_err(),
        SignError::KeyMismatch
    );
    assert_eq!(
        sign(b"nope", &cert(), &sub()).unwrap_err(),
        SignError::Decode(DecodeError::BadMagic)
    );
    assert_eq!(
        sign(b"OL", &cert(), &sub()).unwrap_err(),
        SignError::Decode(DecodeError::Truncated)
    );
}

#[test]
fn encoder_rejects_bad_input() {
    let mut b = builder(1);
    b.add_entry(EntrySpec::new(
        uid("01020304"),
        AccessType::Unrestricted,
        Role::Member,
    ));
    b.add_entry(EntrySpec::new(
        uid("01:02:03:04"),
        AccessType::Scheduled,
        Role::Guest,
    ));
    assert_eq!(
        b.encode_unsigned().unwrap_err(),
        EncodeError::DuplicateUid(uid("01020304"))
    );

    let mut b = builder(1);
    let s = Slot::new(Slot::MON, 0, 60).unwrap();
    b.add_entry(scheduled("01020304", &[s; 5]));
    assert_eq!(
        b.encode_unsigned().unwrap_err(),
        EncodeError::TooManySlots(uid("01020304"), 5)
    );

    let mut b = builder(1);
    b.add_entry(scheduled(
        "01020304",
        &[Slot {
            days: 1,
            start_minute: 5,
            end_minute: 5,
        }],
    ));
    assert_eq!(
        b.encode_unsigned().unwrap_err(),
        EncodeError::BadSlot(uid("01020304"), SlotError::EmptySlot)
    );

    let mut b = builder(1);
    let mut e = scheduled("01020304", &[]);
    e.grace_minutes = 1441;
    b.add_entry(e);
    assert_eq!(
        b.encode_unsigned().unwrap_err(),
        EncodeError::GraceOutOfRange(uid("01020304"))
    );

    let b = ListBuilder::new(1, 10, 10);
    assert_eq!(
        b.encode_unsigned().unwrap_err(),
        EncodeError::BadListValidity
    );

    let mut b = builder(1);
    b.lockdown = true;
    b.add_keypad(KeypadSpec {
        keypad_id: 1,
        totp_secret: Some([1; 20]),
        hotp_secret: None,
        hotp_used: 0,
    });
    assert_eq!(
        b.encode_unsigned().unwrap_err(),
        EncodeError::KeypadsUnderLockdown
    );
}

#[test]
fn decoder_rejects_structural_damage_in_unsigned_lists() {
    let mut b = builder(1);
    b.add_entry(EntrySpec::new(
        uid("01020304"),
        AccessType::Unrestricted,
        Role::Member,
    ));
    b.add_entry(EntrySpec::new(
        uid("01020305"),
        AccessType::Scheduled,
        Role::Member,
    ));
    let good = b.encode_unsigned().unwrap();
    let p = |bytes: &[u8]| List::parse_unsigned(bytes).map(|_| ()).unwrap_err();
    // Layout: header 56, no schedules, 2 profiles (52), then two 6-byte records.
    let rec0 = HEADER_LEN + 2 * 26;
    let mut t = good.clone();
    t[rec0 + 6..rec0 + 10].copy_from_slice(&[1, 2, 3, 3]); // second < first
    assert_eq!(p(&t), DecodeError::UnsortedUids);
    let mut t = good.clone();
    t[rec0 + 4] = 9; // profile index 9
    assert_eq!(p(&t), DecodeError::BadProfileIndex);
    let mut t = good.clone();
    t[HEADER_LEN] = 9; // access type 9
    assert_eq!(p(&t), DecodeError::BadProfile(0));
    let mut t = good.clone();
    t[6] = 0x01; // claims emergency entries
    assert_eq!(p(&t), DecodeError::EmergencyFlagMismatch);
    let mut t = good.clone();
    t[6] = 0x80;
    assert_eq!(p(&t), DecodeError::UnknownHeaderFlags(0x80));
    let mut t = good.clone();
    t[4] = 57;
    assert_eq!(p(&t), DecodeError::UnsupportedHeader(57));
    let mut t = good.clone();
    t[32] = 3;
    assert_eq!(p(&t), DecodeError::EntryCountMismatch);
}

#[test]
fn shared_schedules_and_profiles_are_stored_once() {
    let mut b = builder(1);
    let slots = [
        Slot::new(Slot::MON | Slot::TUE, 18 * 60, 23 * 60).unwrap(),
        Slot::new(Slot::SAT, 10 * 60, 2 * 60).unwrap(),
    ];
    for i in 0..1000u32 {
        let mut s = slots;
        if i % 2 == 0 {
            s.reverse(); // order does not matter
        }
        let u = if i % 3 == 0 {
            Uid::new(&i.to_be_bytes()).unwrap()
        } else {
            let mut b7 = [0xAAu8; 7];
            b7[3..].copy_from_slice(&i.to_be_bytes());
            Uid::new(&b7).unwrap()
        };
        let mut e = EntrySpec::new(u, AccessType::Scheduled, Role::Member);
        e.slots = s.to_vec();
        b.add_entry(e);
    }
    let bytes = b.encode_unsigned().unwrap();
    let l = List::parse_unsigned(&bytes).unwrap();
    assert_eq!(l.header().schedule_count, 1);
    assert_eq!(l.header().profile_count, 1);
    let per_entry = (bytes.len() + TRAILER_LEN) as f64 / 1000.0;
    assert!(per_entry <= 16.0, "{per_entry} bytes per entry");
    assert!(l.entries().all(|e| e.schedule.slots().len() == 2));
}
