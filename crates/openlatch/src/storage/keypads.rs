//! The `keypad_credentials` table: guarantors' TOTP secrets and backup sheets.

use super::{parse_id, Result, StorageError};
use crate::domain::keypad::{KeypadCredential, OtpSecret};
use crate::domain::MemberId;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

const COLUMNS: &str =
    "member_id, totp_secret, totp_enrolled_at, hotp_secret, hotp_issued_at, hotp_used";

fn secret(row: &AnyRow, secret: &str, at: &str) -> Result<Option<(OtpSecret, i64)>> {
    let hex: Option<String> = row.try_get(secret)?;
    let Some(hex) = hex else { return Ok(None) };
    let s = OtpSecret::from_hex(&hex)
        .ok_or_else(|| StorageError::Corrupt(format!("{secret} is not 20 bytes of hex")))?;
    let at: Option<i64> = row.try_get(at)?;
    Ok(Some((s, at.unwrap_or(0))))
}

fn from_row(row: &AnyRow) -> Result<KeypadCredential> {
    let used: i64 = row.try_get("hotp_used")?;
    Ok(KeypadCredential {
        member_id: parse_id(&row.try_get::<String, _>("member_id")?, "member id")?,
        totp: secret(row, "totp_secret", "totp_enrolled_at")?,
        sheet: secret(row, "hotp_secret", "hotp_issued_at")?,
        hotp_used: u16::try_from(used)
            .map_err(|_| StorageError::Corrupt(format!("hotp_used mask {used}")))?,
    })
}

pub async fn get(conn: &mut AnyConnection, member: MemberId) -> Result<Option<KeypadCredential>> {
    let sql = format!("SELECT {COLUMNS} FROM keypad_credentials WHERE member_id = $1");
    let row = sqlx::query(&sql)
        .bind(member.to_string())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Every stored credential.
pub async fn list(conn: &mut AnyConnection) -> Result<Vec<KeypadCredential>> {
    let sql = format!("SELECT {COLUMNS} FROM keypad_credentials ORDER BY member_id");
    let rows = sqlx::query(&sql).fetch_all(conn).await?;
    rows.iter().map(from_row).collect()
}

/// Sets (or replaces) the TOTP secret.
pub async fn set_totp(
    conn: &mut AnyConnection,
    member: MemberId,
    s: &OtpSecret,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO keypad_credentials (member_id, totp_secret, totp_enrolled_at, hotp_used, \
         updated_at) VALUES ($1, $2, $3, 0, $3) \
         ON CONFLICT (member_id) DO UPDATE SET totp_secret = $2, totp_enrolled_at = $3, \
         updated_at = $3",
    )
    .bind(member.to_string())
    .bind(s.to_hex())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Sets (or replaces) the backup sheet's secret; every code is unused again.
pub async fn set_sheet(
    conn: &mut AnyConnection,
    member: MemberId,
    s: &OtpSecret,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO keypad_credentials (member_id, hotp_secret, hotp_issued_at, hotp_used, \
         updated_at) VALUES ($1, $2, $3, 0, $3) \
         ON CONFLICT (member_id) DO UPDATE SET hotp_secret = $2, hotp_issued_at = $3, \
         hotp_used = 0, updated_at = $3",
    )
    .bind(member.to_string())
    .bind(s.to_hex())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn clear_totp(conn: &mut AnyConnection, member: MemberId, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE keypad_credentials SET totp_secret = NULL, totp_enrolled_at = NULL, \
         updated_at = $2 WHERE member_id = $1",
    )
    .bind(member.to_string())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    delete_if_empty(conn, member).await
}

pub async fn clear_sheet(conn: &mut AnyConnection, member: MemberId, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE keypad_credentials SET hotp_secret = NULL, hotp_issued_at = NULL, \
         hotp_used = 0, updated_at = $2 WHERE member_id = $1",
    )
    .bind(member.to_string())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    delete_if_empty(conn, member).await
}

async fn delete_if_empty(conn: &mut AnyConnection, member: MemberId) -> Result<()> {
    sqlx::query(
        "DELETE FROM keypad_credentials WHERE member_id = $1 \
         AND totp_secret IS NULL AND hotp_secret IS NULL",
    )
    .bind(member.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

/// Removes both secrets of a member.
pub async fn delete(conn: &mut AnyConnection, member: MemberId) -> Result<bool> {
    let done = sqlx::query("DELETE FROM keypad_credentials WHERE member_id = $1")
        .bind(member.to_string())
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Removes every secret of every member.
pub async fn delete_all(conn: &mut AnyConnection) -> Result<u64> {
    let done = sqlx::query("DELETE FROM keypad_credentials")
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// Marks backup code `index` of the member's current sheet used. `true` if
/// it was unused until now; `false` if it was used already or there is no
/// sheet. One atomic statement, so two doors reporting the same code at
/// once cannot both count as the first.
pub async fn mark_used(conn: &mut AnyConnection, member: MemberId, index: u8) -> Result<bool> {
    let bit = 1i64 << index;
    let done = sqlx::query(
        "UPDATE keypad_credentials SET hotp_used = (hotp_used | $2) \
         WHERE member_id = $1 AND hotp_secret IS NOT NULL AND (hotp_used & $2) = 0",
    )
    .bind(member.to_string())
    .bind(bit)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// The member a keypad id belongs to (keypad ids are never reused).
pub async fn member_by_keypad_id(
    conn: &mut AnyConnection,
    keypad_id: u16,
) -> Result<Option<MemberId>> {
    let row = sqlx::query("SELECT id FROM members WHERE keypad_id = $1")
        .bind(i64::from(keypad_id))
        .fetch_optional(conn)
        .await?;
    row.map(|r| parse_id(&r.try_get::<String, _>("id")?, "member id"))
        .transpose()
}
