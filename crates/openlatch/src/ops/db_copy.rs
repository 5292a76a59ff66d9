//! `openlatch db copy --to postgres://...`: moving a space from SQLite to
//! PostgreSQL. The source is the database the configuration names (the
//! server should be stopped); the target must be an empty database.

use super::{configured_database, existing_sqlite_file};
use crate::config::Config;
use crate::storage::transfer::{self, Summary};
use crate::storage::{Backend, Db};
use anyhow::{ensure, Context};

pub async fn copy_to_postgres(config: &Config, target_url: &str) -> anyhow::Result<Summary> {
    let (source_url, backend) = configured_database(config)?;
    ensure!(
        backend == Backend::Sqlite,
        "the configured database is not SQLite; `db copy` moves a SQLite database to PostgreSQL"
    );
    ensure!(
        Backend::from_url(target_url)? == Backend::Postgres,
        "--to must be a postgres:// URL"
    );
    existing_sqlite_file(&source_url)?;
    // Bring the source to this binary's schema first, as `serve` would.
    let source = Db::connect(&source_url, 1)
        .await
        .context("opening the SQLite database")?;
    source
        .migrate()
        .await
        .context("migrating the SQLite database")?;
    source.close().await;
    transfer::copy_sqlite_to_postgres(&source_url, target_url)
        .await
        .context("copying to PostgreSQL")
}
