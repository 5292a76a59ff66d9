//! The operator's commands that work on a whole installation rather than
//! on requests: `backup`, `restore` and `db copy`. They sit beside
//! `startup` (they read the same configuration) and use `storage` directly.

pub mod backup;
pub mod db_copy;

use crate::config::Config;
use crate::storage::transfer::sqlite_options;
use crate::storage::Backend;
use anyhow::Context;
use secrecy::ExposeSecret;
use std::path::PathBuf;

/// The database the server would use, without creating anything.
pub(crate) fn configured_database(config: &Config) -> anyhow::Result<(String, Backend)> {
    let url = match &config.database_url {
        Some(url) => url.expose_secret().to_owned(),
        None => format!("sqlite://{}", config.data_dir.join(DATABASE_FILE).display()),
    };
    let backend = Backend::from_url(&url)?;
    Ok((url, backend))
}

/// The SQLite file behind `url`, which must exist.
pub(crate) fn existing_sqlite_file(url: &str) -> anyhow::Result<PathBuf> {
    let file = sqlite_options(url)?.get_filename().to_owned();
    anyhow::ensure!(
        file.is_file(),
        "there is no database at {} (check OPENLATCH_DATA_DIR / OPENLATCH_DATABASE_URL)",
        file.display()
    );
    std::fs::metadata(&file).with_context(|| format!("reading {}", file.display()))?;
    Ok(file)
}

/// The SQLite file's name inside the data directory.
pub const DATABASE_FILE: &str = "openlatch.db";
