//! The committed vectors regenerate byte for byte and behave as
//! `tests/vectors/table.json` says.

#[path = "vector_gen/mod.rs"]
mod vector_gen;

use ol02::*;
use serde_json::Value;
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn table() -> Value {
    serde_json::from_slice(&read("table.json")).unwrap()
}

fn master_pub(t: &Value) -> [u8; 32] {
    let s = t["master_pubkey"].as_str().unwrap();
    let v: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    v.try_into().unwrap()
}

#[test]
fn regeneration_is_byte_identical() {
    let files = vector_gen::generate();
    for (name, bytes) in &files {
        assert!(
            read(name) == *bytes,
            "{name} differs from the generator; run the gen_vectors example"
        );
    }
    // No stray files beside the generated ones and the README.
    let mut on_disk: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != "README.md")
        .collect();
    on_disk.sort();
    let mut generated: Vec<String> = files.into_iter().map(|(n, _)| n).collect();
    generated.sort();
    assert_eq!(on_disk, generated);
}

#[test]
fn verification_table() {
    let t = table();
    let mp = master_pub(&t);
    let cases = t["verify"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for c in cases {
        let bytes = read(c["file"].as_str().unwrap());
        let got = match verify_list(
            &bytes,
            &mp,
            c["now"].as_u64().unwrap(),
            c["held_version"].as_u64().unwrap(),
        ) {
            Ok(_) => "ok",
            Err(e) => e.code(),
        };
        assert_eq!(got, c["expect"].as_str().unwrap(), "{c}");
    }
}

fn door_state(d: &Value) -> DoorState {
    let mut st = DoorState::new();
    if let Some(shutdown) = d["last_shutdown"].as_u64() {
        for u in d["granted_before_shutdown"].as_array().unwrap() {
            st.record_grant(Uid::from_hex(u.as_str().unwrap()).unwrap(), shutdown - 60);
        }
        st.record_shutdown(shutdown);
    }
    for g in d["grace_entries"].as_array().unwrap() {
        st.record_grace_entry(
            Uid::from_hex(g["uid"].as_str().unwrap()).unwrap(),
            g["at"].as_u64().unwrap(),
        );
    }
    st.set_door_unlocked(d["door_unlocked"].as_bool().unwrap());
    st
}

#[test]
fn decision_table() {
    let t = table();
    let mp = master_pub(&t);
    let cases = t["decisions"].as_array().unwrap();
    assert!(cases.len() >= 30);
    for c in cases {
        let bytes = read(c["file"].as_str().unwrap());
        // Decisions use the list as verified at generation-relative "now".
        let list = verify_signatures(&bytes, &mp).unwrap();
        let uid = Uid::from_hex(c["uid"].as_str().unwrap()).unwrap();
        let out = decide(
            &list,
            &uid,
            c["now"].as_u64().unwrap(),
            &door_state(&c["door"]),
        );
        assert_eq!(out.decision.as_str(), c["expect"].as_str().unwrap(), "{c}");
    }
}

#[test]
fn keypad_table() {
    let t = table();
    let mp = master_pub(&t);
    for c in t["keypad"].as_array().unwrap() {
        let bytes = read(c["file"].as_str().unwrap());
        let list = verify_signatures(&bytes, &mp).unwrap();
        let mut st = KeypadState::new();
        let got = match check_keypad(
            &list,
            c["input"].as_str().unwrap().as_bytes(),
            c["now"].as_u64().unwrap(),
            &mut st,
        ) {
            Ok(KeypadMatch {
                method: KeypadMethod::Totp { step },
                ..
            }) => format!("totp:{step}"),
            Ok(KeypadMatch {
                method: KeypadMethod::Hotp { index },
                ..
            }) => format!("hotp:{index}"),
            Err(r) => r.as_str().to_string(),
        };
        assert_eq!(got, c["expect"].as_str().unwrap(), "{c}");
    }
}

#[test]
fn key_files_match_the_certificates() {
    let cert = Certificate::parse(&read("sub.cert")).unwrap();
    let seed = String::from_utf8(read("sub.key")).unwrap();
    assert_eq!(seed.trim(), "53".repeat(32));
    let sub = ol02::ed25519_dalek::SigningKey::from_bytes(&vector_gen::SUB_SEED);
    assert_eq!(cert.sub_pubkey, sub.verifying_key().to_bytes());
    // The unsigned file is the signed one minus its last 178 bytes.
    let signed = read("valid.ol02");
    assert_eq!(
        &signed[..signed.len() - 178],
        &read("valid.unsigned.ol02")[..]
    );
}
