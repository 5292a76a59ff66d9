//! Any bytes through every decoding entry point: must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ol02::*;

// Public key of the test master seed [0x11; 32]; any valid key works, the
// point is to reach past the signature checks as often as the input allows.
fn master() -> [u8; 32] {
    ol02::ed25519_dalek::SigningKey::from_bytes(&[0x11; 32])
        .verifying_key()
        .to_bytes()
}

fuzz_target!(|data: &[u8]| {
    let now = 1_704_067_200;
    let _ = verify_list(data, &master(), now, 0);
    let _ = parse_signed(data);
    let st = DoorState::new();
    for body in [Some(data), parse_signed(data).ok().map(|p| p.body)]
        .into_iter()
        .flatten()
    {
        if let Ok(l) = List::parse_unsigned(body) {
            for e in l.entries() {
                let found = l.find(&e.uid);
                assert_eq!(
                    found,
                    Some(e),
                    "binary search must find every iterated entry"
                );
                let _ = decide(&l, &e.uid, now, &st);
            }
            let mut ks = KeypadState::new();
            let _ = check_keypad(&l, b"1#123456#", now, &mut ks);
            // Re-encoding a valid list reproduces it byte for byte.
            let mut b =
                ListBuilder::new(l.version(), l.header().generated_at, l.header().valid_until);
            b.lockdown = l.header().flags.lockdown();
            b.entries = l.entries().map(|e| EntrySpec::from(&e)).collect();
            b.keypads = l
                .keypads()
                .map(|k| KeypadSpec {
                    keypad_id: k.keypad_id,
                    totp_secret: k.totp_secret,
                    hotp_secret: k.hotp_secret,
                    hotp_used: k.hotp_used,
                })
                .collect();
            let _ = b.encode_unsigned();
        }
    }
});
