//! The `members` table.

use super::{counters, flag, parse_id, Backend, Result, StorageError};
use crate::domain::from_unix;
use crate::domain::member::{Member, Role};
use crate::domain::MemberId;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

const COLUMNS: &str =
    "id, username, email, display_name, role, is_active, keypad_id, created_at, updated_at";

fn from_row(row: &AnyRow) -> Result<Member> {
    let role: String = row.try_get("role")?;
    // NULL: no keypad id (all 65,535 were taken when the member was created).
    let keypad_id: i64 = row.try_get::<Option<i64>, _>("keypad_id")?.unwrap_or(0);
    Ok(Member {
        id: parse_id(&row.try_get::<String, _>("id")?, "member id")?,
        username: row.try_get("username")?,
        email: row.try_get("email")?,
        display_name: row.try_get("display_name")?,
        role: role
            .parse()
            .map_err(|_| StorageError::Corrupt(format!("member role '{role}'")))?,
        is_active: row.try_get::<i64, _>("is_active")? != 0,
        keypad_id: u16::try_from(keypad_id)
            .map_err(|_| StorageError::Corrupt(format!("keypad id {keypad_id}")))?,
        created_at: from_unix(row.try_get("created_at")?),
        updated_at: from_unix(row.try_get("updated_at")?),
    })
}

/// `password_hash` `None`: the member cannot log in until one is set.
pub async fn insert(
    conn: &mut AnyConnection,
    m: &Member,
    password_hash: Option<&str>,
) -> Result<()> {
    let seq = counters::next_input_change(conn).await?;
    sqlx::query(
        "INSERT INTO members (id, username, email, display_name, role, is_active, \
         password_hash, keypad_id, created_at, updated_at, change_seq) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(m.id.to_string())
    .bind(&m.username)
    .bind(&m.email)
    .bind(&m.display_name)
    .bind(m.role.as_str())
    .bind(flag(m.is_active))
    .bind(password_hash)
    .bind((m.keypad_id != 0).then_some(i64::from(m.keypad_id)))
    .bind(m.created_at.timestamp())
    .bind(m.updated_at.timestamp())
    .bind(seq)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get(conn: &mut AnyConnection, id: MemberId) -> Result<Option<Member>> {
    let sql = format!("SELECT {COLUMNS} FROM members WHERE id = $1");
    let row = sqlx::query(&sql)
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Reads a member and, on PostgreSQL, locks the row until the transaction ends.
pub async fn get_for_update(
    conn: &mut AnyConnection,
    backend: Backend,
    id: MemberId,
) -> Result<Option<Member>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM members WHERE id = $1{}",
        backend.for_update()
    );
    let row = sqlx::query(&sql)
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The member and their password hash (none: may not log in), for login.
pub async fn get_by_username(conn: &mut AnyConnection, username: &str) -> Result<Option<Member>> {
    let sql = format!("SELECT {COLUMNS} FROM members WHERE username = $1");
    let row = sqlx::query(&sql)
        .bind(username)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn get_with_password_hash(
    conn: &mut AnyConnection,
    username: &str,
) -> Result<Option<(Member, Option<String>)>> {
    let sql = format!("SELECT {COLUMNS}, password_hash FROM members WHERE username = $1");
    let row = sqlx::query(&sql)
        .bind(username)
        .fetch_optional(conn)
        .await?;
    match row {
        Some(row) => Ok(Some((from_row(&row)?, row.try_get("password_hash")?))),
        None => Ok(None),
    }
}

pub async fn password_hash(conn: &mut AnyConnection, id: MemberId) -> Result<Option<String>> {
    let row = sqlx::query("SELECT password_hash FROM members WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    match row {
        Some(r) => Ok(r.try_get::<Option<String>, _>("password_hash")?),
        None => Ok(None),
    }
}

pub async fn list(
    conn: &mut AnyConnection,
    role: Option<Role>,
    is_active: Option<bool>,
) -> Result<Vec<Member>> {
    // Both filters are optional; NULL parameters switch them off.
    let sql = format!(
        "SELECT {COLUMNS} FROM members \
         WHERE ($1 IS NULL OR role = $1) AND ($2 IS NULL OR is_active = $2) \
         ORDER BY username"
    );
    let rows = sqlx::query(&sql)
        .bind(role.map(Role::as_str))
        .bind(is_active.map(flag))
        .fetch_all(conn)
        .await?;
    rows.iter().map(from_row).collect()
}

/// Writes the editable fields of `m` back.
pub async fn update(conn: &mut AnyConnection, m: &Member) -> Result<()> {
    let seq = counters::next_input_change(conn).await?;
    sqlx::query(
        "UPDATE members SET email = $2, display_name = $3, role = $4, is_active = $5, \
         updated_at = $6, change_seq = $7 WHERE id = $1",
    )
    .bind(m.id.to_string())
    .bind(&m.email)
    .bind(&m.display_name)
    .bind(m.role.as_str())
    .bind(flag(m.is_active))
    .bind(m.updated_at.timestamp())
    .bind(seq)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn set_password_hash(
    conn: &mut AnyConnection,
    id: MemberId,
    hash: &str,
    now: i64,
) -> Result<()> {
    sqlx::query("UPDATE members SET password_hash = $2, updated_at = $3 WHERE id = $1")
        .bind(id.to_string())
        .bind(hash)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Active admins; on PostgreSQL their rows stay locked until the transaction
/// ends, so two concurrent demotions cannot both see "another admin is left".
pub async fn active_admin_ids(conn: &mut AnyConnection, backend: Backend) -> Result<Vec<MemberId>> {
    let sql = format!(
        "SELECT id FROM members WHERE role = 'admin' AND is_active = 1 ORDER BY id{}",
        backend.for_update()
    );
    let rows = sqlx::query(&sql).fetch_all(conn).await?;
    rows.iter()
        .map(|r| parse_id(&r.try_get::<String, _>("id")?, "member id"))
        .collect()
}

/// Members whose username, display name or e-mail contains `needle` (any
/// case; empty = all), by username, one page; with the number of matches.
pub async fn search(
    conn: &mut AnyConnection,
    needle: &str,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Member>, i64)> {
    let escaped: String = needle
        .to_lowercase()
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    let pattern = format!("%{escaped}%");
    let filter = "($1 = '' OR LOWER(username) LIKE $2 ESCAPE '\\' \
                  OR LOWER(display_name) LIKE $2 ESCAPE '\\' OR LOWER(email) LIKE $2 ESCAPE '\\')";
    let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM members WHERE {filter}"))
        .bind(needle)
        .bind(&pattern)
        .fetch_one(&mut *conn)
        .await?;
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM members WHERE {filter} ORDER BY username LIMIT $3 OFFSET $4"
    ))
    .bind(needle)
    .bind(&pattern)
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await?;
    Ok((rows.iter().map(from_row).collect::<Result<_>>()?, total))
}

/// Rows per multi-row INSERT: 10 parameters each stays well below the
/// parameter limits of SQLite (32,766) and PostgreSQL (65,535).
const BATCH: usize = 500;

/// Inserts members without a password in multi-row statements (bulk import).
pub async fn insert_many_without_password(conn: &mut AnyConnection, ms: &[Member]) -> Result<()> {
    if ms.is_empty() {
        return Ok(());
    }
    let seq = counters::next_input_change(conn).await?;
    for chunk in ms.chunks(BATCH) {
        let mut sql = String::from(
            "INSERT INTO members (id, username, email, display_name, role, is_active, \
             password_hash, keypad_id, created_at, updated_at, change_seq) VALUES ",
        );
        for i in 0..chunk.len() {
            let b = i * 9;
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!(
                // The change number is an integer of ours, not user input.
                "(${}, ${}, ${}, ${}, ${}, ${}, NULL, ${}, ${}, ${}, {seq})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6,
                b + 7,
                b + 8,
                b + 9
            ));
        }
        let mut q = sqlx::query(&sql);
        for m in chunk {
            q = q
                .bind(m.id.to_string())
                .bind(&m.username)
                .bind(&m.email)
                .bind(&m.display_name)
                .bind(m.role.as_str())
                .bind(flag(m.is_active))
                .bind((m.keypad_id != 0).then_some(i64::from(m.keypad_id)))
                .bind(m.created_at.timestamp())
                .bind(m.updated_at.timestamp());
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Members written by changes numbered above `after`, for the builder's
/// incremental read.
pub async fn changed_since(conn: &mut AnyConnection, after: i64) -> Result<Vec<Member>> {
    let sql = format!("SELECT {COLUMNS} FROM members WHERE change_seq > $1");
    let rows = sqlx::query(&sql).bind(after).fetch_all(conn).await?;
    rows.iter().map(from_row).collect()
}
