//! `openlatch backup` and `openlatch restore`: one `.tar.gz` holding a
//! consistent snapshot of the SQLite database and every other file of the
//! data directory (the generated master key and whatever else lives there).
//!
//! Archive layout: `manifest.json` (format, version, schema version, row
//! counts per table, the files), `openlatch.db`, and `data/<path>` for each
//! data-directory file (except earlier backups: `backups/`, `*.tar.gz`). Archives, restored files and directories are
//! private to the owner (0600 / 0700): they hold private keys.

use super::{configured_database, existing_sqlite_file, DATABASE_FILE};
use crate::config::Config;
use crate::storage::transfer::{self, Summary};
use crate::storage::{migrate, Backend};
use anyhow::{bail, ensure, Context};
use serde::{Deserialize, Serialize};
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

const FORMAT: u32 = 1;
const MANIFEST: &str = "manifest.json";
const DATA_PREFIX: &str = "data";

#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub openlatch_version: String,
    pub created_at: String,
    /// `None` for a keys-only archive (the database is on PostgreSQL).
    pub database: Option<Summary>,
    /// Data-directory files, relative to it.
    pub files: Vec<String>,
}

pub struct BackupReport {
    pub path: PathBuf,
    pub manifest: Manifest,
}

/// Writes the archive to `out` (replacing it atomically: a backup is never
/// half-written). On PostgreSQL only `keys_only` is possible: the database
/// itself is backed up with `pg_dump`.
pub async fn create(config: &Config, out: &Path, keys_only: bool) -> anyhow::Result<BackupReport> {
    let (url, backend) = configured_database(config)?;
    if backend == Backend::Postgres && !keys_only {
        bail!(
            "the database is on PostgreSQL: back it up with pg_dump (e.g. `pg_dump -Fc -f \
             openlatch.dump DBNAME`), and the data directory's keys with \
             `openlatch backup --keys-only --out FILE` (docs/operations.md)"
        );
    }
    let database_file = if keys_only {
        None
    } else {
        Some(existing_sqlite_file(&url)?)
    };
    let out_dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let file_name = out
        .file_name()
        .context("--out must name a file")?
        .to_string_lossy()
        .into_owned();
    let staging = tempfile::Builder::new()
        .prefix(".openlatch-backup-")
        .tempdir_in(&out_dir)
        .with_context(|| format!("creating a work directory in {}", out_dir.display()))?;

    let snapshot = staging.path().join(DATABASE_FILE);
    let database = match &database_file {
        Some(_) => {
            transfer::snapshot_sqlite(&url, &snapshot)
                .await
                .context("copying the database (VACUUM INTO)")?;
            Some(
                transfer::inspect_sqlite(&snapshot)
                    .await
                    .context("checking the copy")?,
            )
        }
        None => None,
    };

    let partial = out_dir.join(format!(".{file_name}.partial"));
    let mut skip: Vec<PathBuf> = vec![staging.path().to_owned(), absolute(out), absolute(&partial)];
    // The live database is archived as its snapshot, never as a file copy.
    let default_database = config.data_dir.join(DATABASE_FILE);
    for db in database_file.iter().chain([&default_database]) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = absolute(db).into_os_string();
            p.push(suffix);
            skip.push(PathBuf::from(p));
        }
    }
    let files = data_files(&config.data_dir, &skip)?;

    let manifest = Manifest {
        format: FORMAT,
        openlatch_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        database,
        files: files
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect(),
    };

    let archive = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)
        .with_context(|| format!("creating {}", partial.display()))?;
    let written = (|| -> anyhow::Result<()> {
        let gz = flate2::write::GzEncoder::new(archive, flate2::Compression::default());
        let mut tar = tar::Builder::new(gz);
        let json = serde_json::to_vec_pretty(&manifest)?;
        tar.append_data(&mut private_header(json.len() as u64), MANIFEST, &json[..])?;
        if manifest.database.is_some() {
            append_file(&mut tar, &snapshot, Path::new(DATABASE_FILE))?;
        }
        for rel in &files {
            append_file(
                &mut tar,
                &config.data_dir.join(rel),
                &Path::new(DATA_PREFIX).join(rel),
            )?;
        }
        let gz = tar.into_inner()?;
        let file = gz.finish()?;
        file.sync_all()?;
        Ok(())
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&partial);
        return Err(e.context(format!("writing {}", out.display())));
    }
    fs::rename(&partial, out)
        .with_context(|| format!("moving the archive to {}", out.display()))?;
    Ok(BackupReport {
        path: out.to_owned(),
        manifest,
    })
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_owned())
}

fn private_header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(0o600);
    h.set_mtime(u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0));
    h.set_entry_type(tar::EntryType::Regular);
    h
}

fn append_file<W: Write>(
    tar: &mut tar::Builder<W>,
    from: &Path,
    name: &Path,
) -> anyhow::Result<()> {
    let mut file = File::open(from).with_context(|| format!("reading {}", from.display()))?;
    let len = file.metadata()?.len();
    tar.append_data(&mut private_header(len), name, &mut file)
        .with_context(|| format!("archiving {}", from.display()))?;
    Ok(())
}

/// Every regular file under `dir` (relative paths, sorted), minus `skip`.
fn data_files(dir: &Path, skip: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    if !dir.exists() {
        return Ok(found);
    }
    let mut pending = vec![PathBuf::new()];
    while let Some(rel) = pending.pop() {
        let here = dir.join(&rel);
        for entry in fs::read_dir(&here).with_context(|| format!("reading {}", here.display()))? {
            let entry = entry?;
            let path = entry.path();
            if skip.contains(&absolute(&path)) {
                continue;
            }
            let kind = entry.file_type()?;
            let rel_path = rel.join(entry.file_name());
            if is_backup_archive(&rel_path) {
                continue;
            }
            if kind.is_dir() {
                pending.push(rel_path);
            } else if kind.is_file() {
                found.push(rel_path);
            } else {
                tracing::warn!(path = %path.display(), "not a regular file; left out of the backup");
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Earlier backups kept in the data directory (`backups/`, `*.tar.gz`)
/// stay out of the next one, which would otherwise hold them all.
fn is_backup_archive(rel: &Path) -> bool {
    rel == Path::new(BACKUPS_DIR)
        || rel
            .file_name()
            .is_some_and(|n| n.to_string_lossy().ends_with(".tar.gz"))
}

/// Where backups may be kept inside the data directory.
pub const BACKUPS_DIR: &str = "backups";

pub struct RestoreReport {
    pub data_dir: PathBuf,
    pub manifest: Manifest,
}

/// How far a restore moves the allow-list version counter by default.
pub const DEFAULT_VERSION_GAP: i64 = 10_000;

/// Unpacks `archive` into `data_dir`. A directory with anything in it is
/// refused unless `force`, which replaces the database (and its WAL) and the
/// archived files but leaves other files alone. Everything is unpacked and
/// checked in a work directory first, so a damaged archive changes nothing.
///
/// The allow-list version counter moves forward by `version_gap`: doors may
/// hold lists the lost server built after the backup, and a door never
/// takes a version it has passed, so the restored server's next list must
/// be newer than any of those.
pub async fn restore(
    archive: &Path,
    data_dir: &Path,
    force: bool,
    version_gap: i64,
) -> anyhow::Result<RestoreReport> {
    ensure!(version_gap >= 0, "--version-gap must not be negative");
    if data_dir.exists() {
        let mut entries = fs::read_dir(data_dir)
            .with_context(|| format!("reading {}", data_dir.display()))?
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect::<Vec<_>>();
        entries.sort();
        if !entries.is_empty() && !force {
            bail!(
                "{} is not empty ({} entries, e.g. {}); stop the server and pass --force to \
                 replace its database and key files",
                data_dir.display(),
                entries.len(),
                entries[0]
            );
        }
    }
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    fs::set_permissions(data_dir, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("making {} private", data_dir.display()))?;

    let staging = tempfile::Builder::new()
        .prefix(".openlatch-restore-")
        .tempdir_in(data_dir)
        .with_context(|| format!("creating a work directory in {}", data_dir.display()))?;
    unpack(archive, staging.path()).with_context(|| format!("unpacking {}", archive.display()))?;

    let manifest: Manifest = serde_json::from_slice(
        &fs::read(staging.path().join(MANIFEST)).context("the archive has no manifest.json")?,
    )
    .context("manifest.json is unreadable")?;
    ensure!(
        manifest.format == FORMAT,
        "archive format {} is not known to this openlatch (it reads format {FORMAT})",
        manifest.format
    );
    let snapshot = staging.path().join(DATABASE_FILE);
    if let Some(expected) = &manifest.database {
        ensure!(
            snapshot.is_file(),
            "the archive lists a database but holds none"
        );
        let found = transfer::inspect_sqlite(&snapshot)
            .await
            .context("checking the archived database")?;
        ensure!(
            &found == expected,
            "the archived database does not match its manifest (damaged archive?)"
        );
        let supported = migrate::latest_version();
        ensure!(
            found.schema_version <= supported,
            "the backup was made by a newer openlatch ({}, schema {}); this one knows schema \
             {supported}: restore with that version or newer",
            manifest.openlatch_version,
            found.schema_version
        );
    }
    for rel in &manifest.files {
        ensure!(
            staging.path().join(DATA_PREFIX).join(rel).is_file(),
            "the archive lists {rel} but holds no such file"
        );
    }

    if manifest.database.is_some() && version_gap > 0 {
        transfer::advance_sqlite_counter(&snapshot, "allowlist_version", version_gap)
            .await
            .context("moving the allow-list version forward")?;
    }

    // Nothing can fail any more but the moves themselves.
    if manifest.database.is_some() {
        for suffix in ["-wal", "-shm", "-journal", ""] {
            let old = data_dir.join(format!("{DATABASE_FILE}{suffix}"));
            if old.exists() {
                fs::remove_file(&old).with_context(|| format!("removing {}", old.display()))?;
            }
        }
    }
    for rel in &manifest.files {
        let to = data_dir.join(rel);
        if let Some(parent) = to.parent() {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)?;
        }
        fs::rename(staging.path().join(DATA_PREFIX).join(rel), &to)
            .with_context(|| format!("placing {}", to.display()))?;
    }
    if manifest.database.is_some() {
        fs::rename(&snapshot, data_dir.join(DATABASE_FILE)).context("placing the database")?;
    }
    Ok(RestoreReport {
        data_dir: data_dir.to_owned(),
        manifest,
    })
}

/// Unpacks only plain files and directories at safe relative paths, all
/// private to the owner.
fn unpack(archive: &Path, into: &Path) -> anyhow::Result<()> {
    let file = File::open(archive)?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    for entry in tar.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        ensure!(
            !path.as_os_str().is_empty()
                && path.components().all(|c| matches!(c, Component::Normal(_))),
            "unsafe path in the archive: {}",
            path.display()
        );
        let allowed = path == Path::new(MANIFEST)
            || path == Path::new(DATABASE_FILE)
            || path.starts_with(DATA_PREFIX);
        ensure!(
            allowed,
            "unexpected entry in the archive: {}",
            path.display()
        );
        let to = into.join(&path);
        match entry.header().entry_type() {
            tar::EntryType::Directory => {
                DirBuilder::new().recursive(true).mode(0o700).create(&to)?;
            }
            tar::EntryType::Regular => {
                if let Some(parent) = to.parent() {
                    DirBuilder::new()
                        .recursive(true)
                        .mode(0o700)
                        .create(parent)?;
                }
                let mut out = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&to)
                    .with_context(|| format!("writing {}", to.display()))?;
                io::copy(&mut entry, &mut out)?;
                out.sync_all()?;
            }
            other => bail!(
                "unexpected entry type {other:?} in the archive: {}",
                path.display()
            ),
        }
    }
    Ok(())
}
