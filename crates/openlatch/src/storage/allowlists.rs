//! The `allowlists` table: every built version, its unsigned bytes, and the
//! signed bytes once signed (at once online, on upload air-gapped).

use super::{Backend, Result};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

#[derive(Clone, Debug)]
pub struct StoredList {
    pub version: i64,
    pub generated_at: i64,
    pub valid_until: i64,
    pub unsigned_bytes: Vec<u8>,
    pub signed_bytes: Option<Vec<u8>>,
    pub entry_count: i64,
    pub content_hash: String,
    pub signed_at: Option<i64>,
}

const COLUMNS: &str = "version, generated_at, valid_until, unsigned_bytes, signed_bytes, \
                       entry_count, content_hash, signed_at";

fn from_row(row: &AnyRow) -> Result<StoredList> {
    Ok(StoredList {
        version: row.try_get("version")?,
        generated_at: row.try_get("generated_at")?,
        valid_until: row.try_get("valid_until")?,
        unsigned_bytes: row.try_get("unsigned_bytes")?,
        signed_bytes: row.try_get("signed_bytes")?,
        entry_count: row.try_get("entry_count")?,
        content_hash: row.try_get("content_hash")?,
        signed_at: row.try_get("signed_at")?,
    })
}

pub async fn insert(conn: &mut AnyConnection, l: &StoredList) -> Result<()> {
    sqlx::query(
        "INSERT INTO allowlists (version, generated_at, valid_until, unsigned_bytes, \
         signed_bytes, entry_count, content_hash, signed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(l.version)
    .bind(l.generated_at)
    .bind(l.valid_until)
    .bind(l.unsigned_bytes.clone())
    .bind(l.signed_bytes.clone())
    .bind(l.entry_count)
    .bind(&l.content_hash)
    .bind(l.signed_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// What deciding on a new build needs of the newest list, without its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    pub version: i64,
    pub valid_until: i64,
    pub content_hash: String,
    pub signed: bool,
}

pub async fn latest_head(conn: &mut AnyConnection) -> Result<Option<Head>> {
    let row = sqlx::query(
        "SELECT version, valid_until, content_hash, \
         CASE WHEN signed_bytes IS NULL THEN 0 ELSE 1 END AS signed \
         FROM allowlists ORDER BY version DESC LIMIT 1",
    )
    .fetch_optional(conn)
    .await?;
    match row {
        Some(r) => Ok(Some(Head {
            version: r.try_get("version")?,
            valid_until: r.try_get("valid_until")?,
            content_hash: r.try_get("content_hash")?,
            signed: r.try_get::<i64, _>("signed")? != 0,
        })),
        None => Ok(None),
    }
}

/// The newest built list, signed or not.
pub async fn latest(conn: &mut AnyConnection) -> Result<Option<StoredList>> {
    let sql = format!("SELECT {COLUMNS} FROM allowlists ORDER BY version DESC LIMIT 1");
    let row = sqlx::query(&sql).fetch_optional(conn).await?;
    row.as_ref().map(from_row).transpose()
}

/// Only the body of the newest built list, for lookups that need no
/// signature (the approval check runs once per waiting door).
pub async fn latest_unsigned_bytes(conn: &mut AnyConnection) -> Result<Option<Vec<u8>>> {
    let row = sqlx::query("SELECT unsigned_bytes FROM allowlists ORDER BY version DESC LIMIT 1")
        .fetch_optional(conn)
        .await?;
    row.map(|r| r.try_get("unsigned_bytes"))
        .transpose()
        .map_err(Into::into)
}

/// The newest signed list: what doors download.
pub async fn latest_signed(conn: &mut AnyConnection) -> Result<Option<StoredList>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM allowlists WHERE signed_bytes IS NOT NULL \
         ORDER BY version DESC LIMIT 1"
    );
    let row = sqlx::query(&sql).fetch_optional(conn).await?;
    row.as_ref().map(from_row).transpose()
}

/// Just the newest signed version (the device poll's cheap path).
pub async fn latest_signed_version(conn: &mut AnyConnection) -> Result<Option<i64>> {
    Ok(latest_signed_header(conn)
        .await?
        .map(|(version, _)| version))
}

/// Version and build time of the newest signed list, without its bytes.
pub async fn latest_signed_header(conn: &mut AnyConnection) -> Result<Option<(i64, i64)>> {
    let row = sqlx::query(
        "SELECT version, generated_at FROM allowlists WHERE signed_bytes IS NOT NULL \
         ORDER BY version DESC LIMIT 1",
    )
    .fetch_optional(conn)
    .await?;
    match row {
        Some(r) => Ok(Some((r.try_get("version")?, r.try_get("generated_at")?))),
        None => Ok(None),
    }
}

pub async fn set_signed(
    conn: &mut AnyConnection,
    version: i64,
    signed: &[u8],
    now: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE allowlists SET signed_bytes = $2, signed_at = $3 \
         WHERE version = $1 AND signed_bytes IS NULL",
    )
    .bind(version)
    .bind(signed.to_vec())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Serialises builds across instances: on PostgreSQL the version counter's
/// row stays locked until the transaction ends (SQLite's writers are
/// already serialised by `Db::begin`).
pub async fn lock_builds(conn: &mut AnyConnection, backend: Backend) -> Result<()> {
    let sql = format!(
        "SELECT value FROM counters WHERE name = 'allowlist_version'{}",
        backend.for_update()
    );
    sqlx::query(&sql).fetch_optional(conn).await?;
    Ok(())
}

/// Deletes all but the newest `keep` lists, never the newest signed one
/// (uploads are checked against the newest version served).
pub async fn prune(conn: &mut AnyConnection, keep: i64) -> Result<u64> {
    let done = sqlx::query(
        "DELETE FROM allowlists \
         WHERE version <= (SELECT version FROM allowlists ORDER BY version DESC LIMIT 1 OFFSET $1) \
         AND version < COALESCE( \
             (SELECT MAX(version) FROM allowlists WHERE signed_bytes IS NOT NULL), 0)",
    )
    .bind(keep)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}
