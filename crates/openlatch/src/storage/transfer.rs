//! Whole-database work for the operator's commands: a consistent snapshot
//! of a live SQLite database (`VACUUM INTO`), checking a snapshot, and
//! copying every table from SQLite into an empty PostgreSQL database.
//!
//! Tables are found in the database, not listed here, so tables added by
//! later migrations are snapshotted and copied without touching this file.

use super::{migrate, Backend, StorageError};
use futures_util::TryStreamExt;
use sqlx::any::AnyConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteRow};
use sqlx::AnyConnection;
use sqlx::{Any, ConnectOptions, Connection, Row, TypeInfo, ValueRef};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("the target database is not empty: it has {count} table(s), e.g. {example}. Copy into a new database (`createdb openlatch`)")]
    TargetNotEmpty { count: i64, example: String },
    #[error("table {table}: {source_rows} rows read but {target_rows} rows in the target; nothing was copied")]
    CountMismatch {
        table: String,
        source_rows: i64,
        target_rows: i64,
    },
    #[error("{0}")]
    Schema(String),
    #[error("the snapshot failed its integrity check: {0}")]
    Integrity(String),
}

impl From<sqlx::Error> for TransferError {
    fn from(e: sqlx::Error) -> Self {
        TransferError::Storage(e.into())
    }
}

type Result<T, E = TransferError> = std::result::Result<T, E>;

/// Options for an existing SQLite file: never create one by accident.
/// Whole-database statements are slow by nature: no slow-statement warnings.
pub fn sqlite_options(url: &str) -> Result<SqliteConnectOptions> {
    Ok(SqliteConnectOptions::from_str(url)
        .map_err(StorageError::Query)?
        .create_if_missing(false)
        .busy_timeout(Duration::from_secs(5))
        .disable_statement_logging())
}

/// Writes a consistent copy of the database at `url` to `dest`, which must
/// not exist. Runs beside a live server: it is one read transaction, and
/// WAL mode lets the server go on writing meanwhile.
pub async fn snapshot_sqlite(url: &str, dest: &Path) -> Result<()> {
    let dest = dest
        .to_str()
        .ok_or_else(|| TransferError::Schema(format!("{} is not UTF-8", dest.display())))?;
    let mut conn = SqliteConnection::connect_with(&sqlite_options(url)?).await?;
    sqlx::query("VACUUM INTO $1")
        .bind(dest)
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

/// Moves a counter of a SQLite file forward (a restored database's
/// allow-list versions skip past what the lost server may have issued).
pub async fn advance_sqlite_counter(path: &Path, name: &str, by: i64) -> Result<()> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false);
    let mut conn = SqliteConnection::connect_with(&options).await?;
    sqlx::query("UPDATE counters SET value = value + $1 WHERE name = $2")
        .bind(by)
        .bind(name)
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

/// What a database holds: its schema version and the rows of each table.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    pub schema_version: i64,
    pub tables: BTreeMap<String, i64>,
}

/// Checks a SQLite file (`PRAGMA integrity_check`) and counts its rows.
pub async fn inspect_sqlite(path: &Path) -> Result<Summary> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        .disable_statement_logging();
    let mut conn = SqliteConnection::connect_with(&options).await?;
    let verdict: String = sqlx::query("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await?
        .try_get(0)?;
    if verdict != "ok" {
        return Err(TransferError::Integrity(verdict));
    }
    let summary = summarise_sqlite(&mut conn).await?;
    conn.close().await?;
    Ok(summary)
}

async fn summarise_sqlite(conn: &mut SqliteConnection) -> Result<Summary> {
    let schema_version: i64 =
        sqlx::query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
    let mut tables = BTreeMap::new();
    for table in sqlite_tables(conn).await? {
        let count: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM {}", quote(&table)))
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
        tables.insert(table, count);
    }
    Ok(Summary {
        schema_version,
        tables,
    })
}

/// The application's tables: SQLite's own and the migration record excluded.
async fn sqlite_tables(conn: &mut SqliteConnection) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> 'schema_migrations' \
         ORDER BY name",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<Result<_, _>>()?)
}

/// Tables ordered so that every table comes after the tables it references.
async fn in_reference_order(
    conn: &mut SqliteConnection,
    tables: Vec<String>,
) -> Result<Vec<String>> {
    let mut depends: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for t in &tables {
        let rows = sqlx::query(&format!("PRAGMA foreign_key_list({})", quote(t)))
            .fetch_all(&mut *conn)
            .await?;
        let parents = rows
            .iter()
            .map(|r| r.try_get::<String, _>("table"))
            .collect::<Result<BTreeSet<_>, _>>()?;
        depends.insert(t.clone(), parents);
    }
    let mut ordered = Vec::with_capacity(tables.len());
    while ordered.len() < tables.len() {
        let before = ordered.len();
        for t in &tables {
            if ordered.contains(t) {
                continue;
            }
            let ready = depends[t]
                .iter()
                .all(|p| p == t || ordered.contains(p) || !tables.contains(p));
            if ready {
                ordered.push(t.clone());
            }
        }
        if ordered.len() == before {
            return Err(TransferError::Schema(
                "the tables' foreign keys form a cycle; cannot order the copy".into(),
            ));
        }
    }
    Ok(ordered)
}

fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// One SQLite value, as stored (SQLite types values, not columns).
enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

fn read_value(row: &SqliteRow, i: usize) -> Result<Value> {
    let raw = row.try_get_raw(i)?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let kind = raw.type_info().name().to_owned();
    Ok(match kind.as_str() {
        "INTEGER" => Value::Integer(row.try_get(i)?),
        "REAL" => Value::Real(row.try_get(i)?),
        "TEXT" => Value::Text(row.try_get(i)?),
        _ => Value::Blob(row.try_get(i)?),
    })
}

/// A PostgreSQL column the copy writes into.
struct Column {
    name: String,
    pg_type: String,
}

type AnyQuery<'q> = sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>;

/// Binds `value` as the PostgreSQL column's type, or says why it cannot.
fn bind<'q>(q: AnyQuery<'q>, table: &str, column: &Column, value: Value) -> Result<AnyQuery<'q>> {
    let mismatch = |what: &str| {
        TransferError::Schema(format!(
            "{table}.{}: a {what} value cannot go into a PostgreSQL {} column",
            column.name, column.pg_type
        ))
    };
    Ok(match (column.pg_type.as_str(), value) {
        ("bigint", Value::Null) => q.bind(None::<i64>),
        ("bigint", Value::Integer(v)) => q.bind(v),
        ("integer", Value::Null) => q.bind(None::<i32>),
        ("integer", Value::Integer(v)) => {
            q.bind(i32::try_from(v).map_err(|_| mismatch("too large integer"))?)
        }
        ("smallint", Value::Null) => q.bind(None::<i16>),
        ("smallint", Value::Integer(v)) => {
            q.bind(i16::try_from(v).map_err(|_| mismatch("too large integer"))?)
        }
        ("boolean", Value::Null) => q.bind(None::<bool>),
        ("boolean", Value::Integer(v)) => q.bind(v != 0),
        ("double precision" | "real", Value::Null) => q.bind(None::<f64>),
        ("double precision" | "real", Value::Real(v)) => q.bind(v),
        #[allow(clippy::cast_precision_loss)] // a whole number stored in a REAL column
        ("double precision" | "real", Value::Integer(v)) => q.bind(v as f64),
        ("text" | "character varying", Value::Null) => q.bind(None::<String>),
        ("text" | "character varying", Value::Text(v)) => q.bind(v),
        ("bytea", Value::Null) => q.bind(None::<Vec<u8>>),
        ("bytea", Value::Blob(v)) => q.bind(v),
        ("bytea", Value::Text(v)) => q.bind(v.into_bytes()),
        (_, Value::Null) => return Err(mismatch("NULL")),
        (_, Value::Integer(_)) => return Err(mismatch("INTEGER")),
        (_, Value::Real(_)) => return Err(mismatch("REAL")),
        (_, Value::Text(_)) => return Err(mismatch("TEXT")),
        (_, Value::Blob(_)) => return Err(mismatch("BLOB")),
    })
}

/// PostgreSQL allows 65 535 parameters per statement.
const MAX_PARAMETERS: usize = 30_000;

/// Copies every table from the SQLite database at `source_url` (already
/// migrated by this binary) into the empty PostgreSQL database at
/// `target_url`: the schema from the PostgreSQL migrations, then the rows,
/// counts compared and sequences moved past the copied ids, all in one
/// transaction, so a failure leaves the target empty.
pub async fn copy_sqlite_to_postgres(source_url: &str, target_url: &str) -> Result<Summary> {
    if Backend::from_url(source_url)? != Backend::Sqlite
        || Backend::from_url(target_url)? != Backend::Postgres
    {
        return Err(TransferError::Schema(
            "the copy goes from a sqlite:// database to a postgres:// database".into(),
        ));
    }
    sqlx::any::install_default_drivers();
    let mut source = SqliteConnection::connect_with(&sqlite_options(source_url)?).await?;
    let mut target = AnyConnection::connect_with(
        &AnyConnectOptions::from_str(target_url)
            .map_err(StorageError::Query)?
            .disable_statement_logging(),
    )
    .await?;

    let existing = sqlx::query(
        "SELECT COUNT(*) AS n, MIN(table_name::text) AS example FROM information_schema.tables \
         WHERE table_schema = current_schema()",
    )
    .fetch_one(&mut target)
    .await?;
    let count: i64 = existing.try_get("n")?;
    if count > 0 {
        return Err(TransferError::TargetNotEmpty {
            count,
            example: existing
                .try_get::<Option<String>, _>("example")?
                .unwrap_or_default(),
        });
    }

    // One read transaction: every table comes from the same moment.
    sqlx::query("BEGIN").execute(&mut source).await?;
    let summary = summarise_sqlite(&mut source).await?;
    let supported = migrate::latest_version();
    if summary.schema_version != supported {
        return Err(TransferError::Schema(format!(
            "the SQLite database is at schema version {} but this binary's is {supported}; \
             start this version of openlatch on it once, then copy",
            summary.schema_version
        )));
    }
    let tables = in_reference_order(&mut source, summary.tables.keys().cloned().collect()).await?;

    let mut tx = target.begin().await?;
    migrate::apply_all(&mut tx, Backend::Postgres).await?;
    let mut columns: BTreeMap<String, Vec<Column>> = BTreeMap::new();
    for table in &tables {
        let rows = sqlx::query(
            "SELECT column_name::text AS name, data_type::text AS pg_type \
             FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        )
        .bind(table)
        .fetch_all(&mut *tx)
        .await?;
        let target_columns: Vec<Column> = rows
            .iter()
            .map(|r| {
                Ok(Column {
                    name: r.try_get("name")?,
                    pg_type: r.try_get("pg_type")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?;
        if target_columns.is_empty() {
            return Err(TransferError::Schema(format!(
                "table {table} exists in SQLite but not in the PostgreSQL schema"
            )));
        }
        let source_columns: Vec<String> =
            sqlx::query(&format!("PRAGMA table_info({})", quote(table)))
                .fetch_all(&mut source)
                .await?
                .iter()
                .map(|r| r.try_get::<String, _>("name"))
                .collect::<Result<_, _>>()?;
        let mut copied = Vec::with_capacity(source_columns.len());
        for name in source_columns {
            let column = target_columns
                .iter()
                .find(|c| c.name == name)
                .ok_or_else(|| {
                    TransferError::Schema(format!(
                        "column {table}.{name} exists in SQLite but not in PostgreSQL"
                    ))
                })?;
            copied.push(Column {
                name,
                pg_type: column.pg_type.clone(),
            });
        }
        columns.insert(table.clone(), copied);
    }
    // Rows the migrations seeded (counters) give way to the copied ones.
    for table in tables.iter().rev() {
        sqlx::query(&format!("DELETE FROM {}", quote(table)))
            .execute(&mut *tx)
            .await?;
    }

    for table in &tables {
        let cols = &columns[table];
        let names = cols
            .iter()
            .map(|c| quote(&c.name))
            .collect::<Vec<_>>()
            .join(", ");
        let batch_rows = (MAX_PARAMETERS / cols.len().max(1)).max(1);
        let select = format!("SELECT {names} FROM {}", quote(table));
        let mut rows = sqlx::query(&select).fetch(&mut source);
        let mut batch: Vec<Vec<Value>> = Vec::with_capacity(batch_rows);
        let mut read: i64 = 0;
        loop {
            let next = rows.try_next().await?;
            if let Some(row) = &next {
                batch.push(
                    (0..cols.len())
                        .map(|i| read_value(row, i))
                        .collect::<Result<_>>()?,
                );
                read += 1;
            }
            if !batch.is_empty() && (batch.len() >= batch_rows || next.is_none()) {
                insert_batch(&mut tx, table, &names, cols, std::mem::take(&mut batch)).await?;
            }
            if next.is_none() {
                break;
            }
        }
        drop(rows);
        let written: i64 = sqlx::query(&format!("SELECT COUNT(*) AS n FROM {}", quote(table)))
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        let expected = summary.tables[table];
        if written != expected || read != expected {
            return Err(TransferError::CountMismatch {
                table: table.clone(),
                source_rows: expected,
                target_rows: written,
            });
        }
        // Serial and identity columns continue after the highest copied id.
        for column in cols {
            let sequence: Option<String> =
                sqlx::query("SELECT pg_get_serial_sequence($1, $2) AS s")
                    .bind(table)
                    .bind(&column.name)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("s")?;
            if let Some(sequence) = sequence {
                sqlx::query(&format!(
                    "SELECT setval($1::regclass, COALESCE((SELECT MAX({c}) FROM {t}), 0) + 1, false)",
                    c = quote(&column.name),
                    t = quote(table)
                ))
                .bind(sequence)
                .execute(&mut *tx)
                .await?;
            }
        }
    }
    tx.commit().await?;
    sqlx::query("COMMIT").execute(&mut source).await?;
    source.close().await?;
    target.close().await?;
    Ok(summary)
}

async fn insert_batch(
    tx: &mut AnyConnection,
    table: &str,
    names: &str,
    cols: &[Column],
    batch: Vec<Vec<Value>>,
) -> Result<()> {
    // `$n` placeholders written out: sqlx's query builder writes `?` for `Any`.
    // OVERRIDING SYSTEM VALUE keeps the ids of identity columns as copied.
    let mut sql = format!(
        "INSERT INTO {} ({names}) OVERRIDING SYSTEM VALUE VALUES ",
        quote(table)
    );
    let mut n = 0;
    for (i, _) in batch.iter().enumerate() {
        sql.push_str(if i == 0 { "(" } else { ", (" });
        for c in 0..cols.len() {
            n += 1;
            sql.push_str(&format!("{}${n}", if c == 0 { "" } else { ", " }));
        }
        sql.push(')');
    }
    let mut query = sqlx::query(&sql);
    for row in batch {
        for (column, value) in cols.iter().zip(row) {
            query = bind(query, table, column, value)?;
        }
    }
    query.execute(tx).await?;
    Ok(())
}
