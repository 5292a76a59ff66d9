//! `openlatch serve` as an operator starts it: where its data lives, who may
//! read it, and what it says about the master key. Runs the real binary.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Starts `serve` in `cwd`; returns the stderr seen until it listens or exits.
fn serve(cwd: &Path, envs: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_openlatch"));
    cmd.arg("serve")
        .current_dir(cwd)
        .env_remove("OPENLATCH_DATABASE_URL")
        .env_remove("OPENLATCH_DATA_DIR")
        .env("OPENLATCH_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child: Child = cmd.spawn().expect("spawn openlatch");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = String::new();
    let listening = loop {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => {
                let line = strip_ansi(&line);
                seen.push_str(&line);
                seen.push('\n');
                if line.contains("openlatch listening") {
                    break true;
                }
            }
            Err(_) => break false,
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    (listening, seen)
}

/// Log lines without terminal colour codes.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[test]
fn the_data_directory_is_private_and_named_with_the_master_key_at_start() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let (ok, log) = serve(cwd.path(), &[]);
    assert!(ok, "did not start: {log}");
    let data = std::fs::canonicalize(cwd.path().join("openlatch-data")).expect("data dir");
    // Absolute path, the new key said loudly, its fingerprint.
    assert!(log.contains(&data.display().to_string()), "{log}");
    assert!(log.contains("NEW MASTER KEY CREATED"), "{log}");
    let fingerprint = log
        .split("fingerprint=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no fingerprint in the log: {log}"))
        .to_owned();
    assert!(fingerprint.starts_with("SHA256:"), "{log}");

    assert_eq!(mode(&data), 0o700);
    for file in ["openlatch.db", "keys/master.key"] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
    for entry in std::fs::read_dir(&data).expect("read_dir") {
        let path = entry.expect("entry").path();
        assert_eq!(
            mode(&path) & 0o077,
            0,
            "{} is open to others",
            path.display()
        );
    }

    // The second start names the same key and creates none.
    let (ok, again) = serve(cwd.path(), &[]);
    assert!(ok, "did not start again: {again}");
    assert!(!again.contains("NEW MASTER KEY"), "{again}");
    assert!(again.contains(&fingerprint), "{again}");
    assert!(again.contains(&data.display().to_string()), "{again}");
}

#[test]
fn a_data_directory_or_database_others_can_read_stops_the_start() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let (ok, log) = serve(cwd.path(), &[]);
    assert!(ok, "did not start: {log}");
    let data = std::fs::canonicalize(cwd.path().join("openlatch-data")).expect("data dir");

    set_mode(&data, 0o755);
    let (ok, log) = serve(cwd.path(), &[]);
    assert!(!ok, "started with a 0755 data directory: {log}");
    assert!(log.contains(&data.display().to_string()), "{log}");
    assert!(log.contains("chmod 700"), "{log}");
    assert!(
        log.contains("OPENLATCH_ALLOW_INSECURE_PERMISSIONS"),
        "{log}"
    );
    let (ok, log) = serve(cwd.path(), &[("OPENLATCH_ALLOW_INSECURE_PERMISSIONS", "1")]);
    assert!(ok, "the override did not start it: {log}");
    set_mode(&data, 0o700);

    let db = data.join("openlatch.db");
    set_mode(&db, 0o644);
    let (ok, log) = serve(cwd.path(), &[]);
    assert!(!ok, "started with a 0644 database: {log}");
    assert!(log.contains(&db.display().to_string()), "{log}");
    assert!(log.contains("chmod 600"), "{log}");
}

/// Needs root to mount a read-only file system (CI runs as root).
#[test]
fn a_read_only_data_directory_is_named_at_once() {
    assert!(
        rustix::process::geteuid().is_root(),
        "this test mounts a read-only tmpfs and must run as root (CI does)"
    );
    let cwd = tempfile::tempdir().expect("tempdir");
    let data = cwd.path().join("ro-data");
    std::fs::create_dir(&data).expect("mkdir");
    set_mode(&data, 0o700);
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "ro,size=1m,mode=0700", "tmpfs"])
        .arg(&data)
        .status()
        .expect("run mount");
    assert!(mounted.success(), "mount -t tmpfs -o ro failed");
    let (ok, log) = serve(cwd.path(), &[("OPENLATCH_DATA_DIR", "ro-data")]);
    let _ = Command::new("umount").arg(&data).status();
    assert!(!ok, "started on a read-only directory: {log}");
    assert!(log.contains("not writable"), "{log}");
    assert!(!log.contains("pool timed out"), "{log}");
}
