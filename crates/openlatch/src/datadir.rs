//! The data directory: private, writable, and named at start.
//!
//! It holds the SQLite database (token secret, signing sub-key seed,
//! sessions, password hashes) and, after a first start, the master private
//! key. A local user who can read it can forge an admin session and sign
//! lists that doors accept, so the server keeps it to itself: files are
//! created 0600 and directories 0700 (umask 077), and a start refuses a
//! directory or database that group or others can read or write, unless
//! `OPENLATCH_ALLOW_INSECURE_PERMISSIONS=1`.

use crate::config::Config;
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};

/// Group and other permission bits that must be clear.
#[cfg(unix)]
const GROUP_OTHER_RW: u32 = 0o066;

/// Every file and directory this process creates is private from now on.
pub fn restrict_umask() {
    #[cfg(unix)]
    {
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    }
}

/// The data directory as an absolute path (for logs and messages).
pub fn absolute(dir: &Path) -> PathBuf {
    std::fs::canonicalize(dir)
        .or_else(|_| std::path::absolute(dir))
        .unwrap_or_else(|_| dir.to_owned())
}

/// Creates the data directory (0700) if needed, then checks that it is
/// private and writable. Returns its absolute path.
pub fn prepare(config: &Config) -> anyhow::Result<PathBuf> {
    restrict_umask();
    let dir = &config.data_dir;
    if !dir.exists() {
        create_private_dir(dir)
            .with_context(|| format!("creating data directory {}", absolute(dir).display()))?;
    }
    let abs = absolute(dir);
    if !config.allow_insecure_permissions {
        check_private(&abs, "data directory", "chmod 700")?;
        for name in ["openlatch.db", "openlatch.db-wal", "openlatch.db-shm"] {
            let file = abs.join(name);
            if file.exists() {
                check_private(&file, "database file", "chmod 600")?;
            }
        }
        let master = abs.join("keys").join("master.key");
        if master.exists() {
            check_private(&master, "master key file", "chmod 600")?;
        }
    }
    check_writable(&abs)?;
    Ok(abs)
}

/// For a SQLite file outside the data directory (a configured URL).
pub fn check_database_file(file: &Path, config: &Config) -> anyhow::Result<()> {
    if config.allow_insecure_permissions || !file.exists() {
        return Ok(());
    }
    check_private(&absolute(file), "database file", "chmod 600")
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

#[cfg(unix)]
fn check_private(path: &Path, what: &str, fix: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .with_context(|| format!("reading the permissions of {}", path.display()))?
        .permissions()
        .mode();
    if mode & GROUP_OTHER_RW != 0 {
        bail!(
            "the {what} {} has mode {:04o}: group or others can read or change it, and it \
             holds the token secret and signing keys. Fix: `{fix} {}` (and `chmod 600` the \
             files in the data directory), or set OPENLATCH_ALLOW_INSECURE_PERMISSIONS=1 to \
             start anyway",
            path.display(),
            mode & 0o7777,
            path.display()
        );
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_: &Path, _: &str, _: &str) -> anyhow::Result<()> {
    Ok(())
}

/// A read-only directory would otherwise surface as "pool timed out" after
/// the connect timeout; this names the directory and the cause at once.
fn check_writable(dir: &Path) -> anyhow::Result<()> {
    let probe = dir.join(format!(".openlatch-write-test-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => bail!(
            "the data directory {} is not writable ({e}): the database, its journal and the \
             keys live there. Make it writable for the user running openlatch, or point \
             OPENLATCH_DATA_DIR at a writable directory",
            dir.display()
        ),
    }
}
