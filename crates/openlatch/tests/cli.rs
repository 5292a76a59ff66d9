//! The `openlatch` binary as an operator uses it: `admin create`, `members
//! import|export`, the key tool from key generation to a verified list, and
//! `serve` answering health.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn openlatch(args: &[&str], data_dir: &Path, stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_openlatch"))
        .args(args)
        .env("OPENLATCH_DATA_DIR", data_dir)
        .env_remove("OPENLATCH_DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn openlatch");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A data directory the server creates itself.
struct DataDir<'a>(&'a Path);

impl DataDir<'_> {
    fn path(&self) -> &Path {
        self.0
    }
}

fn vectors() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ol02/tests/vectors")
}

#[test]
fn admin_create_reads_the_password_from_stdin() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // The server creates its data directory private (0700); a temp dir is 0755.
    let data = tmp.path().join("data");
    let dir = DataDir(&data);
    let out = openlatch(
        &["admin", "create", "--username", "root"],
        dir.path(),
        "a-long-password\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("created admin root"));

    let again = openlatch(
        &["admin", "create", "--username", "root"],
        dir.path(),
        "a-long-password\n",
    );
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("username"),
        "{}",
        text(&again.stderr)
    );

    let short = openlatch(
        &["admin", "create", "--username", "toor"],
        dir.path(),
        "short\n",
    );
    assert!(!short.status.success());
    assert!(
        text(&short.stderr).contains("password"),
        "{}",
        text(&short.stderr)
    );
}

#[test]
fn members_import_and_export_on_the_local_database() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let dir = DataDir(&data);
    let csv = "username,email,role,uid\n\
               alice,alice@example.org,keyholder,04:a2:b3:c4\n\
               bob,bob@example.org,,\n";
    let file = tmp.path().join("members.csv");
    std::fs::write(&file, csv).expect("write csv");
    let path = file.to_str().expect("path");

    let dry = openlatch(&["members", "import", "--dry-run", path], dir.path(), "");
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    assert!(
        text(&dry.stdout).contains("dry run"),
        "{}",
        text(&dry.stdout)
    );
    let empty = openlatch(&["members", "export"], dir.path(), "");
    assert_eq!(text(&empty.stdout).lines().count(), 1, "only the header");

    let out = openlatch(&["members", "import", path], dir.path(), "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("2 members created, 0 updated, 1 keys created"),
        "{}",
        text(&out.stdout)
    );
    // A progress line per step on standard error.
    assert!(
        text(&out.stderr).contains("rows read"),
        "{}",
        text(&out.stderr)
    );

    let export = openlatch(&["members", "export"], dir.path(), "");
    assert!(export.status.success(), "{}", text(&export.stderr));
    let exported = text(&export.stdout);
    assert!(
        exported.contains("alice,alice@example.org,alice,keyholder,04A2B3C4,,,\n"),
        "{exported}"
    );
    assert!(
        exported.contains("bob,bob@example.org,bob,member,,,,\n"),
        "{exported}"
    );

    let bad = tmp.path().join("bad.csv");
    std::fs::write(&bad, "username,email\nx,not-an-email\n").expect("write");
    let out = openlatch(
        &["members", "import", bad.to_str().expect("path")],
        dir.path(),
        "",
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("row 2, username:"), "{err}");
    assert!(err.contains("row 2, email:"), "{err}");
    assert!(err.contains("nothing was imported"), "{err}");
}

#[test]
fn key_tool_from_master_to_a_verified_list() {
    let dir = tempfile::tempdir().expect("tempdir");
    let master = dir.path().join("master.key");
    let out = openlatch(
        &[
            "keys",
            "init-master",
            "--out",
            master.to_str().expect("path"),
        ],
        dir.path(),
        "",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let master_pub = text(&out.stdout).trim().to_owned();
    assert_eq!(master_pub.len(), 64, "{master_pub}");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&master)
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let prefix = dir.path().join("signer");
    let out = openlatch(
        &[
            "keys",
            "delegate",
            "--master",
            master.to_str().expect("path"),
            "--key-id",
            "7",
            "--valid-days",
            "30",
            "--out",
            prefix.to_str().expect("path"),
        ],
        dir.path(),
        "",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));

    let unsigned = vectors().join("valid.unsigned.ol02");
    let signed = dir.path().join("signed.ol02");
    let out = openlatch(
        &[
            "keys",
            "sign",
            "--subkey",
            prefix.to_str().expect("path"),
            unsigned.to_str().expect("path"),
            signed.to_str().expect("path"),
            "--yes",
        ],
        dir.path(),
        "",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));

    // Checked now: the fresh certificate is valid; the list's own dates are shown.
    let out = openlatch(
        &[
            "allowlist",
            "inspect",
            signed.to_str().expect("path"),
            "--master-pubkey",
            &master_pub,
            "--json",
        ],
        dir.path(),
        "",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["version"], 10);
    assert!(json["entries"].as_array().is_some_and(|e| e.len() == 10));

    let wrong_master = "00".repeat(32);
    let out = openlatch(
        &[
            "allowlist",
            "inspect",
            signed.to_str().expect("path"),
            "--master-pubkey",
            &wrong_master,
        ],
        dir.path(),
        "",
    );
    assert!(
        !out.status.success(),
        "a list under another master must fail"
    );
}

#[test]
fn inspect_fails_with_the_reason_on_a_tampered_list() {
    let dir = tempfile::tempdir().expect("tempdir");
    let master_pub = std::fs::read_to_string(vectors().join("master.pub")).expect("master.pub");
    let tampered = vectors().join("tampered.ol02");
    let out = openlatch(
        &[
            "allowlist",
            "inspect",
            tampered.to_str().expect("path"),
            "--master-pubkey",
            master_pub.trim(),
            "--at",
            "2024-01-01T00:00:00Z",
        ],
        dir.path(),
        "",
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).to_lowercase().contains("signature"),
        "{}",
        text(&out.stderr)
    );
}
