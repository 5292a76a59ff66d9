//! Storage: one portable query path over SQLite and PostgreSQL.
//!
//! Queries are written once in the SQL both databases share (`$n`
//! placeholders, `ON CONFLICT`, `RETURNING`) and run through sqlx's `Any`
//! driver. Only the schema (migrations) and a few locking details differ per
//! backend. Values are stored in portable shapes: ids as text, timestamps as
//! unix seconds, booleans as 0/1 integers, JSON as text.

pub mod allowlists;
pub mod approvals;
pub mod audit;
pub mod counters;
pub mod device_status;
pub mod devices;
pub mod keys;
pub mod members;
pub mod migrate;
pub mod rules;
pub mod secrets;
pub mod sessions;
pub mod throttle;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Transaction};
use std::ops::{Deref, DerefMut};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("unique constraint violated ({0})")]
    Conflict(String),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error(
        "the database schema is at version {found}, newer than this binary knows ({supported}); \
         run a newer openlatch"
    )]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("unsupported database URL: {0}")]
    UnsupportedUrl(String),
    #[error("database error: {0}")]
    Query(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StorageError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::Database(ref db) if db.is_unique_violation() => {
                StorageError::Conflict(db.message().to_owned())
            }
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StorageError::Unavailable(e),
            other => StorageError::Query(other),
        }
    }
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            let scheme = url.split(':').next().unwrap_or_default();
            Err(StorageError::UnsupportedUrl(format!(
                "scheme '{scheme}:' (use sqlite://FILE or postgres://...)"
            )))
        }
    }

    /// Row locks for read-then-write sequences; SQLite needs none because
    /// its writers are serialised by [`Db::begin`].
    pub fn for_update(self) -> &'static str {
        match self {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }
}

/// WAL lets readers work while one writer writes; the busy timeout makes a
/// connection wait for a lock instead of failing at once.
const SQLITE_PRAGMAS: [&str; 4] = [
    "PRAGMA journal_mode = WAL",
    "PRAGMA busy_timeout = 5000",
    "PRAGMA foreign_keys = ON",
    "PRAGMA synchronous = NORMAL",
];

/// The database handle shared by the whole server.
#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// SQLite allows one writer; queueing this process's writers here keeps
    /// them from spinning in SQLite's busy handler against each other.
    write_lock: Arc<Mutex<()>>,
}

impl Db {
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let options = AnyConnectOptions::from_str(url).map_err(StorageError::Query)?;
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        for pragma in SQLITE_PRAGMAS {
                            sqlx::query(pragma).execute(&mut *conn).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        Ok(Self {
            pool,
            backend,
            write_lock: Arc::new(Mutex::new(())),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Applies pending migrations; refuses a schema newer than this binary.
    pub async fn migrate(&self) -> Result<()> {
        migrate::run(self).await
    }

    /// A connection for reads outside a transaction.
    pub async fn read(&self) -> Result<PoolConnection<Any>> {
        Ok(self.pool.acquire().await?)
    }

    /// A read-only snapshot: every query in it sees the same committed
    /// state, and it takes no writer lock (long reads do not stall writes).
    /// Dropping it ends it.
    pub async fn snapshot(&self) -> Result<Transaction<'static, Any>> {
        Ok(match self.backend {
            // Deferred: in WAL mode the snapshot starts at the first read.
            Backend::Sqlite => self.pool.begin().await?,
            Backend::Postgres => {
                self.pool
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?
            }
        })
    }

    /// A write transaction. Everything a use case changes, audit row
    /// included, goes through one of these so nothing is half-written.
    pub async fn begin(&self) -> Result<Tx> {
        let (guard, inner) = match self.backend {
            Backend::Sqlite => {
                let guard = self.write_lock.clone().lock_owned().await;
                // IMMEDIATE takes the write lock up front, so another process
                // on the same file makes us wait (busy timeout) instead of
                // failing a read-then-write transaction halfway.
                (Some(guard), self.pool.begin_with("BEGIN IMMEDIATE").await?)
            }
            Backend::Postgres => (None, self.pool.begin().await?),
        };
        Ok(Tx {
            inner,
            _guard: guard,
        })
    }

    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

pub struct Tx {
    inner: Transaction<'static, Any>,
    _guard: Option<OwnedMutexGuard<()>>,
}

impl Tx {
    pub async fn commit(self) -> Result<()> {
        Ok(self.inner.commit().await?)
    }
}

impl Deref for Tx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.inner
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.inner
    }
}

/// Booleans travel as 0/1 because the `Any` driver has no SQLite boolean.
pub(crate) fn flag(b: bool) -> i64 {
    i64::from(b)
}

pub(crate) fn parse_id<T: FromStr>(raw: &str, what: &str) -> Result<T> {
    raw.parse()
        .map_err(|_| StorageError::Corrupt(format!("{what} '{raw}' is not a valid id")))
}

pub(crate) fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}
