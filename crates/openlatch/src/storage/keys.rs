//! The `nfc_keys` table.

use super::{counters, parse_id, Result, StorageError};
use crate::domain::key::{NfcKey, Uid};
use crate::domain::{from_unix, KeyId, MemberId};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

const COLUMNS: &str = "id, member_id, uid, label, key_type, access_type, expires_at, \
                       revoked_at, revoke_reason, created_at";

fn from_row(row: &AnyRow) -> Result<NfcKey> {
    let uid: String = row.try_get("uid")?;
    let access_type: Option<String> = row.try_get("access_type")?;
    Ok(NfcKey {
        id: parse_id(&row.try_get::<String, _>("id")?, "key id")?,
        member_id: parse_id(&row.try_get::<String, _>("member_id")?, "member id")?,
        uid: Uid::parse(&uid).map_err(|_| StorageError::Corrupt(format!("uid '{uid}'")))?,
        label: row.try_get("label")?,
        key_type: row.try_get("key_type")?,
        access_type: access_type
            .map(|a| {
                a.parse()
                    .map_err(|_| StorageError::Corrupt(format!("access type '{a}'")))
            })
            .transpose()?,
        expires_at: row.try_get::<Option<i64>, _>("expires_at")?.map(from_unix),
        revoked_at: row.try_get::<Option<i64>, _>("revoked_at")?.map(from_unix),
        revoke_reason: row.try_get("revoke_reason")?,
        created_at: from_unix(row.try_get("created_at")?),
    })
}

pub async fn insert(conn: &mut AnyConnection, k: &NfcKey) -> Result<()> {
    let seq = counters::next_input_change(conn).await?;
    sqlx::query(
        "INSERT INTO nfc_keys (id, member_id, uid, label, key_type, access_type, expires_at, \
         revoked_at, revoke_reason, created_at, change_seq) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(k.id.to_string())
    .bind(k.member_id.to_string())
    .bind(k.uid.as_str())
    .bind(&k.label)
    .bind(k.key_type.as_deref())
    .bind(k.access_type.map(|a| a.as_str()))
    .bind(k.expires_at.map(|t| t.timestamp()))
    .bind(k.revoked_at.map(|t| t.timestamp()))
    .bind(k.revoke_reason.as_deref())
    .bind(k.created_at.timestamp())
    .bind(seq)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get(conn: &mut AnyConnection, id: KeyId) -> Result<Option<NfcKey>> {
    let sql = format!("SELECT {COLUMNS} FROM nfc_keys WHERE id = $1");
    let row = sqlx::query(&sql)
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn list_for_member(conn: &mut AnyConnection, member: MemberId) -> Result<Vec<NfcKey>> {
    let sql =
        format!("SELECT {COLUMNS} FROM nfc_keys WHERE member_id = $1 ORDER BY created_at, id");
    let rows = sqlx::query(&sql)
        .bind(member.to_string())
        .fetch_all(conn)
        .await?;
    rows.iter().map(from_row).collect()
}

/// Every key that is not revoked (expired ones included), for compilation.
pub async fn list_unrevoked(conn: &mut AnyConnection) -> Result<Vec<NfcKey>> {
    let sql = format!("SELECT {COLUMNS} FROM nfc_keys WHERE revoked_at IS NULL ORDER BY uid");
    let rows = sqlx::query(&sql).fetch_all(conn).await?;
    rows.iter().map(from_row).collect()
}

/// The unrevoked key holding `uid`, if any (at most one, by the unique index).
pub async fn find_unrevoked_by_uid(conn: &mut AnyConnection, uid: &Uid) -> Result<Option<NfcKey>> {
    let sql = format!("SELECT {COLUMNS} FROM nfc_keys WHERE uid = $1 AND revoked_at IS NULL");
    let row = sqlx::query(&sql)
        .bind(uid.as_str())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Marks a key revoked; returns false when it already was.
pub async fn revoke(
    conn: &mut AnyConnection,
    id: KeyId,
    reason: Option<&str>,
    now: i64,
) -> Result<bool> {
    let seq = counters::next_input_change(conn).await?;
    let done = sqlx::query(
        "UPDATE nfc_keys SET revoked_at = $2, revoke_reason = $3, change_seq = $4 \
         WHERE id = $1 AND revoked_at IS NULL",
    )
    .bind(id.to_string())
    .bind(now)
    .bind(reason)
    .bind(seq)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The member's keys that are not revoked yet.
pub async fn list_unrevoked_for_member(
    conn: &mut AnyConnection,
    member: MemberId,
) -> Result<Vec<NfcKey>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM nfc_keys WHERE member_id = $1 AND revoked_at IS NULL ORDER BY id"
    );
    let rows = sqlx::query(&sql)
        .bind(member.to_string())
        .fetch_all(conn)
        .await?;
    rows.iter().map(from_row).collect()
}

/// Rows per multi-row INSERT (10 parameters each).
const BATCH: usize = 500;

/// Inserts keys in multi-row statements (bulk import).
pub async fn insert_many(conn: &mut AnyConnection, ks: &[NfcKey]) -> Result<()> {
    if ks.is_empty() {
        return Ok(());
    }
    let seq = counters::next_input_change(conn).await?;
    for chunk in ks.chunks(BATCH) {
        let mut sql = String::from(
            "INSERT INTO nfc_keys (id, member_id, uid, label, key_type, access_type, expires_at, \
             revoked_at, revoke_reason, created_at, change_seq) VALUES ",
        );
        for i in 0..chunk.len() {
            let b = i * 10;
            if i > 0 {
                sql.push_str(", ");
            }
            let params: Vec<String> = (1..=10).map(|p| format!("${}", b + p)).collect();
            sql.push('(');
            sql.push_str(&params.join(", "));
            // The change number is an integer of ours, not user input.
            sql.push_str(&format!(", {seq})"));
        }
        let mut q = sqlx::query(&sql);
        for k in chunk {
            q = q
                .bind(k.id.to_string())
                .bind(k.member_id.to_string())
                .bind(k.uid.as_str())
                .bind(&k.label)
                .bind(k.key_type.as_deref())
                .bind(k.access_type.map(|a| a.as_str()))
                .bind(k.expires_at.map(|t| t.timestamp()))
                .bind(k.revoked_at.map(|t| t.timestamp()))
                .bind(k.revoke_reason.as_deref())
                .bind(k.created_at.timestamp());
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Keys written by changes numbered above `after` (revoked ones included,
/// so the builder can drop them), for the builder's incremental read.
pub async fn changed_since(conn: &mut AnyConnection, after: i64) -> Result<Vec<NfcKey>> {
    let sql = format!("SELECT {COLUMNS} FROM nfc_keys WHERE change_seq > $1");
    let rows = sqlx::query(&sql).bind(after).fetch_all(conn).await?;
    rows.iter().map(from_row).collect()
}
