//! End-to-end runs of the key tool commands through their run functions.

use std::io::Cursor;
use std::path::Path;

use ol02::{AccessType, EntrySpec, ListBuilder, Role, Uid};
use openlatch_keytool::*;

const NOW: u64 = 1_704_067_200; // 2024-01-01T00:00:00Z

struct Run {
    out: Vec<u8>,
}

fn run_keys_io(cmd: KeysCommand, stdin: &str, interactive: bool) -> (Result<(), Error>, String) {
    let mut r = Run { out: Vec::new() };
    let mut input = Cursor::new(stdin.as_bytes().to_vec());
    let res = run_keys_with(
        cmd,
        &mut Console {
            out: &mut r.out,
            input: &mut input,
            interactive,
            now: NOW,
        },
    );
    (res, String::from_utf8(r.out).unwrap())
}

fn run_list(cmd: AllowlistCommand) -> (Result<(), Error>, String) {
    let mut out = Vec::new();
    let mut input = Cursor::new(Vec::new());
    let res = run_allowlist_with(
        cmd,
        &mut Console {
            out: &mut out,
            input: &mut input,
            interactive: false,
            now: NOW,
        },
    );
    (res, String::from_utf8(out).unwrap())
}

fn write_unsigned(path: &Path, version: u64, uids: &[(&str, AccessType)]) {
    let mut b = ListBuilder::new(version, NOW - 60, NOW + 86_400);
    for (u, t) in uids {
        b.add_entry(EntrySpec::new(Uid::from_hex(u).unwrap(), *t, Role::Member));
    }
    b.add_keypad(ol02::KeypadSpec {
        keypad_id: 4,
        totp_secret: Some([0xC7; 20]),
        hotp_secret: None,
        hotp_used: 0,
    });
    std::fs::write(path, b.encode_unsigned().unwrap()).unwrap();
}

/// Creates master + sub-key in `dir`; returns the master public key hex.
fn setup(dir: &Path) -> String {
    let master = dir.join("master.key");
    let (res, out) = run_keys_io(
        KeysCommand::InitMaster {
            out: master.clone(),
        },
        "",
        false,
    );
    res.unwrap();
    let pubhex = out.trim().to_string();
    assert_eq!(pubhex.len(), 64);
    assert_eq!(
        std::fs::read_to_string(dir.join("master.key.pub"))
            .unwrap()
            .trim(),
        pubhex
    );
    let (res, _) = run_keys_io(
        KeysCommand::Delegate {
            master,
            key_id: 3,
            valid_days: 30,
            out: dir.join("sub"),
        },
        "",
        false,
    );
    res.unwrap();
    pubhex
}

#[test]
fn init_master_is_private_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in ["master.key", "sub.key"] {
            let mode = std::fs::metadata(dir.path().join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
    }
    let before = std::fs::read(dir.path().join("master.key")).unwrap();
    let (res, _) = run_keys_io(
        KeysCommand::InitMaster {
            out: dir.path().join("master.key"),
        },
        "",
        false,
    );
    assert!(matches!(res, Err(Error::Exists(_))), "{res:?}");
    assert_eq!(
        std::fs::read(dir.path().join("master.key")).unwrap(),
        before
    );
    let (res, _) = run_keys_io(
        KeysCommand::Delegate {
            master: dir.path().join("master.key"),
            key_id: 3,
            valid_days: 30,
            out: dir.path().join("sub"),
        },
        "",
        false,
    );
    assert!(matches!(res, Err(Error::Exists(_))), "{res:?}");
}

#[test]
fn delegate_writes_a_certificate_the_master_signed() {
    let dir = tempfile::tempdir().unwrap();
    let pubhex = setup(dir.path());
    let (key, cert) = load_subkey(&dir.path().join("sub")).unwrap();
    assert_eq!(cert.key_id, 3);
    assert_eq!(cert.valid_from, NOW - 300);
    assert_eq!(cert.valid_until, NOW + 30 * 86_400);
    assert_eq!(cert.sub_pubkey, key.verifying_key().to_bytes());
    let master =
        ol02::ed25519_dalek::VerifyingKey::from_bytes(&parse_public_key_hex(&pubhex).unwrap())
            .unwrap();
    cert.verify_chain(&master).unwrap();
}

#[test]
fn sign_then_inspect_round_trip_with_diff() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pubhex = setup(d);
    write_unsigned(
        &d.join("v1.bin"),
        1,
        &[
            ("01020304", AccessType::Unrestricted),
            ("AABBCCDD", AccessType::Scheduled),
        ],
    );
    let (res, out) = run_keys_io(
        KeysCommand::Sign {
            subkey: d.join("sub"),
            unsigned: d.join("v1.bin"),
            signed: d.join("v1.ol02"),
            previous: None,
            yes: false,
        },
        "",
        false, // not a terminal: proceeds without asking
    );
    res.unwrap();
    assert!(out.contains("version:      1"), "{out}");
    assert!(out.contains("+ 01020304"), "{out}");

    // v2: one removed, one added, one type change.
    write_unsigned(
        &d.join("v2.bin"),
        2,
        &[
            ("01020304", AccessType::Emergency),
            ("11223344556677", AccessType::Scheduled),
        ],
    );
    // On a terminal, anything but yes aborts and writes nothing.
    let cmd = KeysCommand::Sign {
        subkey: d.join("sub"),
        unsigned: d.join("v2.bin"),
        signed: d.join("v2.ol02"),
        previous: Some(d.join("v1.ol02")),
        yes: false,
    };
    let (res, out) = run_keys_io(cmd.clone(), "n\n", true);
    assert!(matches!(res, Err(Error::Aborted)), "{res:?}");
    assert!(!d.join("v2.ol02").exists());
    assert!(out.contains("1 added, 1 removed, 1 changed type"), "{out}");
    assert!(out.contains("+ 11223344556677"), "{out}");
    assert!(out.contains("- AABBCCDD"), "{out}");
    assert!(
        out.contains("~ 01020304 type unrestricted -> emergency"),
        "{out}"
    );
    assert!(out.contains("Sign this list? [y/N]"), "{out}");
    let (res, _) = run_keys_io(cmd, "yes\n", true);
    res.unwrap();

    // Inspect as JSON.
    let (res, out) = run_list(AllowlistCommand::Inspect {
        file: d.join("v2.ol02"),
        master_pubkey: Some(pubhex.clone()),
        json: true,
        at: None,
        unsigned: false,
    });
    res.unwrap();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["version"], 2);
    assert_eq!(v["valid_until"], NOW + 86_400);
    assert_eq!(v["flags"]["has_emergency"], true);
    assert_eq!(v["entries"][0]["uid"], "01020304");
    assert_eq!(v["entries"][0]["access_type"], "emergency");
    assert_eq!(v["entries"][1]["uid"], "11223344556677");
    assert_eq!(v["entries"][1]["access_type"], "scheduled");
    assert_eq!(v["certificate"]["key_id"], 3);
    // The TOTP secret (0xC7 bytes) appears nowhere.
    assert!(!out.to_lowercase().contains("c7c7c7"), "{out}");
    assert!(!out.contains("199, 199"), "{out}");

    // Signing an older version against a newer previous is refused.
    let (res, _) = run_keys_io(
        KeysCommand::Sign {
            subkey: d.join("sub"),
            unsigned: d.join("v1.bin"),
            signed: d.join("again.ol02"),
            previous: Some(d.join("v2.ol02")),
            yes: true,
        },
        "",
        false,
    );
    assert!(
        matches!(
            res,
            Err(Error::VersionNotNewer {
                previous: 2,
                new: 1
            })
        ),
        "{res:?}"
    );
}

#[test]
fn inspect_reports_verification_failures() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pubhex = setup(d);
    write_unsigned(
        &d.join("v1.bin"),
        1,
        &[("01020304", AccessType::Unrestricted)],
    );
    let (res, _) = run_keys_io(
        KeysCommand::Sign {
            subkey: d.join("sub"),
            unsigned: d.join("v1.bin"),
            signed: d.join("v1.ol02"),
            previous: None,
            yes: true,
        },
        "",
        false,
    );
    res.unwrap();
    let inspect = |file: &str, at: Option<&str>, key: &str| {
        run_list(AllowlistCommand::Inspect {
            file: d.join(file),
            master_pubkey: Some(key.to_string()),
            json: false,
            at: at.map(str::to_string),
            unsigned: false,
        })
    };
    let (res, out) = inspect("v1.ol02", None, &pubhex);
    res.unwrap();
    assert!(out.contains("01020304"), "{out}");
    assert!(out.contains("keypad 4"), "{out}");

    // Certificate expired (30 days).
    let (res, _) = inspect("v1.ol02", Some("2024-03-01T00:00:00Z"), &pubhex);
    let msg = res.unwrap_err().to_string();
    assert!(msg.contains("certificate expired"), "{msg}");
    // Tampered.
    let mut bytes = std::fs::read(d.join("v1.ol02")).unwrap();
    bytes[60] ^= 1;
    std::fs::write(d.join("bad.ol02"), &bytes).unwrap();
    let msg = inspect("bad.ol02", None, &pubhex)
        .0
        .unwrap_err()
        .to_string();
    assert!(msg.contains("signature does not verify"), "{msg}");
    // Truncated: the reason is said once, also through an error chain.
    let bytes = std::fs::read(d.join("v1.ol02")).unwrap();
    std::fs::write(d.join("short.ol02"), &bytes[..bytes.len() - 10]).unwrap();
    let err = inspect("short.ol02", None, &pubhex).0.unwrap_err();
    let mut chain = err.to_string();
    let mut cause = std::error::Error::source(&err);
    while let Some(c) = cause {
        chain.push_str(&format!(": {c}"));
        cause = c.source();
    }
    assert_eq!(chain.matches("truncated").count(), 1, "{chain}");
    // Wrong key, malformed key, bad time.
    let other = public_key_hex(&ol02::ed25519_dalek::SigningKey::from_bytes(&[9; 32]));
    assert!(matches!(
        inspect("v1.ol02", None, &other).0,
        Err(Error::Verify { .. })
    ));
    assert!(matches!(
        inspect("v1.ol02", None, "abc").0,
        Err(Error::BadPublicKey(_))
    ));
    assert!(matches!(
        inspect("v1.ol02", Some("yesterday"), &pubhex).0,
        Err(Error::BadTime(_))
    ));
    // Unsigned inspection without a key.
    let (res, out) = run_list(AllowlistCommand::Inspect {
        file: d.join("v1.bin"),
        master_pubkey: None,
        json: true,
        at: None,
        unsigned: true,
    });
    res.unwrap();
    assert!(out.contains("\"signed\": false"), "{out}");
}

#[test]
fn clap_parses_the_documented_command_lines() {
    use clap::{Parser, Subcommand};
    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: Top,
    }
    #[derive(Subcommand)]
    enum Top {
        #[command(subcommand)]
        Keys(KeysCommand),
        #[command(subcommand)]
        Allowlist(AllowlistCommand),
    }
    let p = |args: &[&str]| {
        Cli::try_parse_from(std::iter::once("openlatch").chain(args.iter().copied()))
    };
    assert!(p(&["keys", "init-master", "--out", "m.key"]).is_ok());
    assert!(p(&[
        "keys",
        "delegate",
        "--master",
        "m.key",
        "--key-id",
        "2",
        "--valid-days",
        "90",
        "--out",
        "sub"
    ])
    .is_ok());
    assert!(p(&[
        "keys",
        "sign",
        "--subkey",
        "sub",
        "u.bin",
        "s.ol02",
        "--previous",
        "old.ol02",
        "--yes"
    ])
    .is_ok());
    assert!(p(&[
        "allowlist",
        "inspect",
        "s.ol02",
        "--master-pubkey",
        "00",
        "--json",
        "--at",
        "2026-01-01T00:00:00Z"
    ])
    .is_ok());
    assert!(
        p(&["allowlist", "inspect", "s.ol02"]).is_err(),
        "master key required"
    );
    assert!(p(&["allowlist", "inspect", "u.bin", "--unsigned"]).is_ok());
    assert!(p(&[
        "keys",
        "delegate",
        "--master",
        "m",
        "--key-id",
        "256",
        "--valid-days",
        "1",
        "--out",
        "s"
    ])
    .is_err());
}
