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
pub mod keypads;
pub mod keys;
pub mod members;
pub mod migrate;
pub mod notifications;
pub mod outbox;
pub mod rules;
pub mod secrets;
pub mod sessions;
pub mod settings;
pub mod throttle;
pub mod transfer;
pub mod zones;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Transaction};
use std::ops::{Deref, DerefMut};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, OwnedMutexGuard};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// Another writer holds the lock past the busy timeout (SQLite), or a
    /// lock could not be had (PostgreSQL): worth trying again shortly.
    #[error("database busy: {0}")]
    Busy(#[source] sqlx::Error),
    /// A serialization failure or deadlock (PostgreSQL): the transaction was
    /// rolled back and running it again may well succeed.
    #[error("transaction conflict: {0}")]
    Retryable(#[source] sqlx::Error),
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

/// What a database error means for the caller, from SQLite's primary
/// result code or PostgreSQL's SQLSTATE.
enum DbErrorKind {
    Busy,
    Retryable,
    Unavailable,
    Other,
}

fn classify(db: &dyn sqlx::error::DatabaseError) -> DbErrorKind {
    let Some(code) = db.code() else {
        return DbErrorKind::Other;
    };
    // SQLite reports numeric (extended) result codes; the primary code is
    // the low byte. Asked by driver, not by whether the code is a number:
    // PostgreSQL's serialization_failure, 40001, is one too.
    let sqlite = db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some();
    if let Some(n) = code.parse::<i32>().ok().filter(|_| sqlite) {
        return match n & 0xff {
            // SQLITE_BUSY, SQLITE_LOCKED
            5 | 6 => DbErrorKind::Busy,
            // SQLITE_READONLY, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN
            8 | 10 | 13 | 14 => DbErrorKind::Unavailable,
            _ => DbErrorKind::Other,
        };
    }
    match code.as_ref() {
        // serialization_failure, deadlock_detected
        "40001" | "40P01" => DbErrorKind::Retryable,
        // lock_not_available
        "55P03" => DbErrorKind::Busy,
        // out of disk or memory, connection lost, shutting down
        c if c.starts_with("53") || c.starts_with("08") || c.starts_with("57P") => {
            DbErrorKind::Unavailable
        }
        _ => DbErrorKind::Other,
    }
}

impl From<sqlx::Error> for StorageError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::Database(ref db) if db.is_unique_violation() => {
                StorageError::Conflict(db.message().to_owned())
            }
            sqlx::Error::Database(ref db) => match classify(db.as_ref()) {
                DbErrorKind::Busy => StorageError::Busy(e),
                DbErrorKind::Retryable => StorageError::Retryable(e),
                DbErrorKind::Unavailable => StorageError::Unavailable(e),
                DbErrorKind::Other => StorageError::Query(e),
            },
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
    /// The last write probe of `/health`: when, and whether it committed.
    write_probe: Arc<std::sync::Mutex<Option<(Instant, bool)>>>,
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
            write_probe: Arc::default(),
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
    ///
    /// The transaction is driven with plain BEGIN/COMMIT/ROLLBACK on a pool
    /// connection rather than sqlx's `Transaction`: when SQLite fails a
    /// COMMIT (disk full) it may roll back by itself, sqlx's own ROLLBACK then
    /// fails, and the connection went back to the pool believing it was
    /// still in a transaction, failing every later write until a restart.
    /// Here a connection whose transaction cannot be ended cleanly is closed.
    pub async fn begin(&self) -> Result<Tx> {
        let (guard, statement) = match self.backend {
            Backend::Sqlite => {
                let guard = self.write_lock.clone().lock_owned().await;
                // IMMEDIATE takes the write lock up front, so another process
                // on the same file makes us wait (busy timeout) instead of
                // failing a read-then-write transaction halfway.
                (Some(guard), "BEGIN IMMEDIATE")
            }
            Backend::Postgres => (None, "BEGIN"),
        };
        let mut conn = self.pool.acquire().await?;
        if let Err(e) = sqlx::query(statement).execute(&mut *conn).await {
            let e = StorageError::from(e);
            end_transaction(conn).await;
            return Err(e);
        }
        Ok(Tx {
            conn: Some(conn),
            guard,
        })
    }

    /// Whether the database takes writes, by a small write that touches a
    /// page (it fails while the disk is full, even though reads work).
    /// Checked at most once a second, however often `/health` is asked.
    pub async fn writable(&self) -> bool {
        const FRESH: Duration = Duration::from_secs(1);
        if let Ok(last) = self.write_probe.lock() {
            if let Some((at, ok)) = *last {
                if at.elapsed() < FRESH {
                    return ok;
                }
            }
        }
        let probe = async {
            let mut tx = self.begin().await?;
            sqlx::query(
                "INSERT INTO server_secrets (name, value, created_at) VALUES ('health_probe', '', $1) \
                 ON CONFLICT (name) DO UPDATE SET created_at = $1",
            )
            .bind(now_unix())
            .execute(&mut *tx)
            .await?;
            tx.commit().await
        };
        let ok = probe.await.is_ok();
        if let Ok(mut last) = self.write_probe.lock() {
            *last = Some((Instant::now(), ok));
        }
        ok
    }

    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

pub struct Tx {
    /// `None` only once committed or handed to the roll-back on drop.
    conn: Option<PoolConnection<Any>>,
    /// SQLite's in-process writer queue; held until the transaction has ended.
    guard: Option<OwnedMutexGuard<()>>,
}

impl Tx {
    pub async fn commit(mut self) -> Result<()> {
        let Some(mut conn) = self.conn.take() else {
            return Ok(());
        };
        match sqlx::query("COMMIT").execute(&mut *conn).await {
            Ok(_) => Ok(()),
            Err(e) => {
                end_transaction(conn).await;
                Err(e.into())
            }
        }
    }

    fn conn(&self) -> &AnyConnection {
        match &self.conn {
            Some(c) => c,
            // `commit` takes `self`, and drop runs last: never reached.
            None => unreachable!("a finished transaction is not used"),
        }
    }

    fn conn_mut(&mut self) -> &mut AnyConnection {
        match &mut self.conn {
            Some(c) => c,
            None => unreachable!("a finished transaction is not used"),
        }
    }
}

/// Rolls back whatever may be open; a connection that cannot say it is
/// clean is closed instead of going back to the pool.
async fn end_transaction(mut conn: PoolConnection<Any>) {
    match sqlx::query("ROLLBACK").execute(&mut *conn).await {
        Ok(_) => {}
        // SQLite rolled back by itself (e.g. after SQLITE_FULL): clean.
        Err(sqlx::Error::Database(db)) if db.message().contains("no transaction is active") => {}
        Err(e) => {
            tracing::warn!(error = %e, "closing a database connection whose transaction could not be ended");
            let _ = conn.close().await;
        }
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        let guard = self.guard.take();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                // The writer lock is released only after the roll-back.
                runtime.spawn(async move {
                    end_transaction(conn).await;
                    drop(guard);
                });
            }
            // No runtime to roll back on: closing the connection ends the transaction.
            Err(_) => conn.close_on_drop(),
        }
    }
}

impl Deref for Tx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        self.conn()
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        self.conn_mut()
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
