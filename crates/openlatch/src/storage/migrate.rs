//! Schema migrations, one SQL file per backend and version.

use super::{Backend, Db, Result, StorageError};
use sqlx::{AnyConnection, Row};

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

macro_rules! migration {
    ($version:literal, $name:literal) => {
        Migration {
            version: $version,
            name: $name,
            sqlite: include_str!(concat!("../../migrations/sqlite/", $name, ".sql")),
            postgres: include_str!(concat!("../../migrations/postgres/", $name, ".sql")),
        }
    };
}

const MIGRATIONS: &[Migration] = &[
    migration!(1, "0001_foundation"),
    migration!(2, "0002_allowlist"),
    migration!(3, "0003_devices"),
    migration!(5, "0005_bulk_members"),
    migration!(6, "0006_keypad"),
    migration!(7, "0007_notifications"),
    migration!(9, "0009_zones"),
    migration!(10, "0010_web_sessions"),
    migration!(11, "0011_space_settings"),
    migration!(12, "0012_audit_target"),
    migration!(13, "0013_list_input_changes"),
];

/// Serialises migrations of instances starting together on one PostgreSQL.
const PG_MIGRATION_LOCK: i64 = 0x6f6c_6d69_6772;

pub(super) async fn run(db: &Db) -> Result<()> {
    let mut conn = db.pool().acquire().await?;
    if db.backend() == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(PG_MIGRATION_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    let result = apply_pending(&mut conn, db.backend()).await;
    if db.backend() == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(PG_MIGRATION_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    result
}

async fn apply_pending(conn: &mut AnyConnection, backend: Backend) -> Result<()> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version BIGINT PRIMARY KEY,
             name TEXT NOT NULL,
             applied_at BIGINT NOT NULL
         )",
    )
    .execute(&mut *conn)
    .await?;
    let current: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations")
        .fetch_one(&mut *conn)
        .await?
        .try_get("v")?;
    let supported = MIGRATIONS.last().map_or(0, |m| m.version);
    if current > supported {
        return Err(StorageError::SchemaTooNew {
            found: current,
            supported,
        });
    }
    // Every known migration not yet recorded, in order, so a database that
    // missed one in the middle (a development build) is still completed.
    let applied: Vec<i64> = sqlx::query("SELECT version FROM schema_migrations")
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| r.try_get::<i64, _>("version"))
        .collect::<std::result::Result<_, _>>()?;
    let pending: Vec<&Migration> = MIGRATIONS
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .collect();
    if pending.is_empty() {
        return Ok(());
    }
    // SQLite alters a column only by rebuilding its table, which foreign
    // keys into that table forbid; the pragma is ignored inside a
    // transaction, so it is switched off around the migrations and each one
    // must pass `foreign_key_check` before it commits.
    if backend == Backend::Sqlite {
        sqlx::query("PRAGMA foreign_keys = OFF")
            .execute(&mut *conn)
            .await?;
    }
    let result = apply(conn, backend, &pending).await;
    if backend == Backend::Sqlite {
        sqlx::query("PRAGMA foreign_keys = ON")
            .execute(&mut *conn)
            .await?;
    }
    result
}

async fn apply(conn: &mut AnyConnection, backend: Backend, pending: &[&Migration]) -> Result<()> {
    for m in pending {
        let sql = match backend {
            Backend::Sqlite => m.sqlite,
            Backend::Postgres => m.postgres,
        };
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        sqlx::raw_sql(sql).execute(&mut *tx).await?;
        if backend == Backend::Sqlite {
            let broken = sqlx::query("PRAGMA foreign_key_check")
                .fetch_all(&mut *tx)
                .await?;
            if !broken.is_empty() {
                return Err(StorageError::Corrupt(format!(
                    "migration {} leaves {} rows with a broken foreign key",
                    m.name,
                    broken.len()
                )));
            }
        }
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(m.version)
        .bind(m.name)
        .bind(super::now_unix())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(version = m.version, name = m.name, "applied migration");
    }
    Ok(())
}

/// For the tests: pretend a newer binary already migrated this database.
#[doc(hidden)]
pub async fn stamp_future_version(db: &Db) -> Result<()> {
    sqlx::query(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, 'future', 0)",
    )
    .bind(MIGRATIONS.len() as i64 + 1000)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The schema version this binary migrates to.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Applies every pending migration on `conn`, which may be inside a
/// transaction (`db copy` creates the schema and the rows in one).
pub async fn apply_all(conn: &mut AnyConnection, backend: Backend) -> Result<()> {
    apply_pending(conn, backend).await
}
