//! What the door keeps on disk in `state_dir`:
//!
//! * `list.ol02`: the last verified list, replaced atomically (temporary
//!   file, fsync, rename, fsync of the directory) and verified again at start;
//! * `door.db`: SQLite with `synchronous=FULL`: the event queue (`seq`
//!   assigned on insert by `AUTOINCREMENT`, so never reused, rows removed only
//!   once the server acknowledged them), the keypad memory (accepted codes,
//!   wrong-code lock-out) and a few values (last daily report).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

const LIST_FILE: &str = "list.ol02";
const DB_FILE: &str = "door.db";

/// Creates the state directory (mode 0700: it holds keypad secrets).
pub fn ensure_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("state_dir: cannot create {}", dir.display()))?;
    }
    Ok(())
}

/// The stored list file.
#[derive(Debug, Clone)]
pub struct ListFile {
    path: PathBuf,
}

impl ListFile {
    pub fn new(state_dir: &Path) -> ListFile {
        ListFile {
            path: state_dir.join(LIST_FILE),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored bytes, if any.
    pub fn read(&self) -> anyhow::Result<Option<Vec<u8>>> {
        match fs::read(&self.path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", self.path.display())),
        }
    }

    /// Replaces the stored list so that a power cut leaves either the old or
    /// the new file, never a mix.
    pub fn replace(&self, bytes: &[u8]) -> anyhow::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let tmp = self.path.with_extension("ol02.tmp");
        {
            let mut f =
                File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
            f.write_all(bytes)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &self.path)
            .with_context(|| format!("cannot rename to {}", self.path.display()))?;
        File::open(dir)?.sync_all()?;
        Ok(())
    }
}

/// One queued event, as the server's `/device/events` takes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueuedEvent {
    pub seq: u32,
    pub uid: String,
    pub event: String,
    pub timestamp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

/// An event before it has a `seq`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub uid: String,
    pub event: &'static str,
    pub timestamp: u64,
    pub details: Option<serde_json::Value>,
}

/// The SQLite state database.
pub struct StateDb {
    conn: Connection,
}

impl StateDb {
    pub fn open(state_dir: &Path) -> anyhow::Result<StateDb> {
        let path = state_dir.join(DB_FILE);
        // Create it private before SQLite opens it.
        if !path.exists() {
            use std::os::unix::fs::OpenOptionsExt;
            OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&path)
                .with_context(|| format!("cannot create {}", path.display()))?;
        }
        let conn =
            Connection::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // An event counts as recorded only once it is on disk: an access that
        // a power cut erases is a hole in the audit log.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS events (
                 seq INTEGER PRIMARY KEY AUTOINCREMENT,
                 uid TEXT NOT NULL,
                 event TEXT NOT NULL,
                 timestamp INTEGER NOT NULL,
                 details TEXT
             );
             CREATE TABLE IF NOT EXISTS keypad_accepted (
                 keypad_id INTEGER NOT NULL,
                 method TEXT NOT NULL,
                 value INTEGER NOT NULL,
                 at INTEGER NOT NULL,
                 PRIMARY KEY (keypad_id, method, value)
             );
             CREATE TABLE IF NOT EXISTS kv (
                 key TEXT PRIMARY KEY,
                 value TEXT NOT NULL
             );",
        )?;
        Ok(StateDb { conn })
    }

    /// Appends an event and returns its `seq` once it is on disk.
    pub fn push(&self, e: &NewEvent) -> anyhow::Result<u32> {
        let details = e.details.as_ref().map(|d| d.to_string());
        self.conn.execute(
            "INSERT INTO events (uid, event, timestamp, details) VALUES (?1, ?2, ?3, ?4)",
            params![e.uid, e.event, e.timestamp as i64, details],
        )?;
        let seq = self.conn.last_insert_rowid();
        // The server keeps seq as u32; wrapping would take 4 billion events.
        Ok(u32::try_from(seq).unwrap_or(u32::MAX))
    }

    /// The oldest unacknowledged events: at most `max` of them and at most
    /// `max_bytes` of JSON.
    pub fn pending(&self, max: usize, max_bytes: usize) -> anyhow::Result<Vec<QueuedEvent>> {
        let mut stmt = self.conn.prepare(
            "SELECT seq, uid, event, timestamp, details FROM events ORDER BY seq LIMIT ?1",
        )?;
        let rows = stmt.query_map([max as i64], |r| {
            let details: Option<String> = r.get(4)?;
            Ok(QueuedEvent {
                seq: u32::try_from(r.get::<_, i64>(0)?).unwrap_or(u32::MAX),
                uid: r.get(1)?,
                event: r.get(2)?,
                timestamp: r.get::<_, i64>(3)?.max(0) as u64,
                details: details.and_then(|d| serde_json::from_str(&d).ok()),
            })
        })?;
        let mut out = Vec::new();
        let mut bytes = 2;
        for row in rows {
            let ev = row?;
            let len = serde_json::to_vec(&ev).map_or(0, |v| v.len()) + 1;
            if !out.is_empty() && bytes + len > max_bytes {
                break;
            }
            bytes += len;
            out.push(ev);
        }
        Ok(out)
    }

    /// Drops events the server acknowledged.
    pub fn ack(&self, seqs: &[u32]) -> anyhow::Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        for s in seqs {
            tx.execute("DELETE FROM events WHERE seq = ?1", [*s as i64])?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn queued(&self) -> anyhow::Result<u64> {
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))?;
        Ok(n as u64)
    }

    /// Remembers an accepted keypad code (method `totp` with the step, or
    /// `hotp` with the index).
    pub fn keypad_accepted(&self, m: &ol02::KeypadMatch, at: u64) -> anyhow::Result<()> {
        let (method, value) = match m.method {
            ol02::KeypadMethod::Totp { step } => ("totp", step as i64),
            ol02::KeypadMethod::Hotp { index } => ("hotp", index as i64),
        };
        self.conn.execute(
            "INSERT OR IGNORE INTO keypad_accepted (keypad_id, method, value, at) VALUES (?1, ?2, ?3, ?4)",
            params![m.keypad_id as i64, method, value, at as i64],
        )?;
        Ok(())
    }

    /// Every accepted code, oldest first.
    pub fn keypad_history(&self) -> anyhow::Result<Vec<(ol02::KeypadMatch, u64)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT keypad_id, method, value, at FROM keypad_accepted ORDER BY at")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, method, value, at) = row?;
            let method = match method.as_str() {
                "totp" => ol02::KeypadMethod::Totp { step: value as u64 },
                _ => ol02::KeypadMethod::Hotp { index: value as u8 },
            };
            out.push((
                ol02::KeypadMatch {
                    keypad_id: id as u16,
                    method,
                },
                at as u64,
            ));
        }
        Ok(out)
    }

    pub fn get(&self, key: &str) -> anyhow::Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM kv WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    pub fn set(&self, key: &str, value: &str) -> anyhow::Result<()> {
        self.conn.execute(
            "INSERT INTO kv (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(n: u64) -> NewEvent {
        NewEvent {
            uid: "AABBCCDD".into(),
            event: "access_granted",
            timestamp: n,
            details: Some(serde_json::json!({"n": n})),
        }
    }

    #[test]
    fn seq_is_never_reused_after_ack_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::open(dir.path()).unwrap();
        let a = db.push(&ev(1)).unwrap();
        let b = db.push(&ev(2)).unwrap();
        assert!(b > a);
        db.ack(&[a, b]).unwrap();
        assert_eq!(db.queued().unwrap(), 0);
        drop(db);
        let db = StateDb::open(dir.path()).unwrap();
        let c = db.push(&ev(3)).unwrap();
        assert!(c > b, "seq {c} reused after {b}");
        let p = db.pending(100, 65536).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].details, Some(serde_json::json!({"n": 3})));
    }

    #[test]
    fn pending_respects_count_and_size() {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::open(dir.path()).unwrap();
        for n in 0..150 {
            db.push(&ev(n)).unwrap();
        }
        assert_eq!(db.pending(100, 65536).unwrap().len(), 100);
        let small = db.pending(100, 500).unwrap();
        let bytes = serde_json::to_vec(&small).unwrap().len();
        assert!(!small.is_empty() && bytes <= 500, "{bytes}");
        let first = small[0].seq;
        db.ack(&[first]).unwrap();
        assert_eq!(db.pending(1, 65536).unwrap()[0].seq, first + 1);
    }

    #[test]
    fn list_file_replace_is_whole() {
        let dir = tempfile::tempdir().unwrap();
        let f = ListFile::new(dir.path());
        assert!(f.read().unwrap().is_none());
        f.replace(b"one").unwrap();
        f.replace(b"second").unwrap();
        assert_eq!(f.read().unwrap().unwrap(), b"second");
        assert!(!dir.path().join("list.ol02.tmp").exists());
    }

    #[test]
    fn keypad_memory_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::open(dir.path()).unwrap();
        let m = ol02::KeypadMatch {
            keypad_id: 7,
            method: ol02::KeypadMethod::Hotp { index: 3 },
        };
        db.keypad_accepted(&m, 10).unwrap();
        db.set("k", "v").unwrap();
        drop(db);
        let db = StateDb::open(dir.path()).unwrap();
        assert_eq!(db.keypad_history().unwrap(), vec![(m, 10)]);
        assert_eq!(db.get("k").unwrap().as_deref(), Some("v"));
    }
}
