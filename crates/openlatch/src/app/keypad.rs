//! Keypad codes of guarantors: enrolment and rotation of TOTP secrets,
//! backup sheets, removal, rotating everything after a door was stolen, and
//! what a door's `keypad_unlock` report does (system.md 5).
//!
//! Every change is audited without the secret and rebuilds the allow-list,
//! whose keypad section carries the secrets to the doors.

use super::auth::Principal;
use super::{App, AppError, AppResult};
use crate::domain::device::Device;
use crate::domain::keypad::{
    event, may_hold_codes, otpauth_uri, qr_svg, sheet_codes, BackupCode, KeypadCredential,
    KeypadUnlock, OtpSecret, UnlockMethod,
};
use crate::domain::member::Member;
use crate::domain::MemberId;
use crate::storage::audit::{self, Actor, NewEntry};
use crate::storage::{keypads, members, now_unix, throttle};
use serde_json::json;
use sqlx::AnyConnection;

/// What `POST .../totp` returns, once.
pub struct TotpEnrolment {
    pub keypad_id: u16,
    pub secret: OtpSecret,
    pub otpauth_uri: String,
    pub qr_svg: String,
}

/// What `POST .../backup-codes` returns, once: the server keeps the secret,
/// not the codes.
pub struct BackupSheet {
    pub member: Member,
    pub issued_at: i64,
    pub codes: Vec<BackupCode>,
}

/// A member's keypad record as the API shows it: never a secret.
pub struct KeypadSummary {
    pub keypad_id: u16,
    pub totp_enrolled: bool,
    pub backup_codes_left: u32,
    pub enrolled_at: Option<i64>,
}

/// Who asked: an admin for someone, a guarantor for themself, or the
/// server's own command line.
#[derive(Clone, Copy)]
pub enum By<'a> {
    Admin(&'a Member),
    Self_(&'a Member),
    Cli,
}

impl By<'_> {
    fn actor(&self) -> Actor {
        match self {
            By::Admin(m) | By::Self_(m) => Actor::Member(m.id),
            By::Cli => Actor::Server,
        }
    }

    fn label(&self) -> &'static str {
        match self {
            By::Admin(_) => "admin",
            By::Self_(_) => "self",
            By::Cli => "command_line",
        }
    }
}

/// The keypad record shown with a member, if they hold any secret.
pub async fn summary(app: &App, member: &Member) -> AppResult<Option<KeypadSummary>> {
    let mut conn = app.db.read().await?;
    let cred = keypads::get(&mut conn, member.id).await?;
    Ok(cred.filter(|c| !c.is_empty()).map(|c| KeypadSummary {
        keypad_id: member.keypad_id,
        totp_enrolled: c.totp.is_some(),
        backup_codes_left: c.backup_codes_left(),
        enrolled_at: c.enrolled_at(),
    }))
}

/// The target must exist, be active and hold a role that may have codes.
async fn guarantor_for_update(
    conn: &mut AnyConnection,
    app: &App,
    id: MemberId,
) -> AppResult<Member> {
    let m = members::get_for_update(conn, app.db.backend(), id)
        .await?
        .ok_or(AppError::NotFound("member"))?;
    if !m.is_active {
        return Err(AppError::field(
            "is_active",
            "the member is deactivated and cannot hold keypad codes",
        ));
    }
    if !may_hold_codes(m.role) {
        return Err(AppError::field(
            "role",
            format!(
                "is {}: only keyholders and admins may hold keypad codes",
                m.role
            ),
        ));
    }
    Ok(m)
}

/// Wrong passwords a guarantor may give for their own codes within
/// [`CONFIRM_WINDOW_SECS`] before further attempts wait that long.
pub const CONFIRM_FREE_FAILURES: i64 = 5;
pub const CONFIRM_WINDOW_SECS: i64 = 15 * 60;

/// A guarantor acting on themself proves it with their password (a stolen
/// access token alone cannot mint keypad codes, nor guess the password
/// here faster than at the login). Members and guests may not.
async fn confirm_self(app: &App, who: &Principal, password: &str) -> AppResult<()> {
    if !may_hold_codes(who.member.role) {
        return Err(AppError::Forbidden);
    }
    let scope = format!("keypad-confirm:{}", who.member.id);
    let now = now_unix();
    let mut conn = app.db.read().await?;
    if let Some(until) = throttle::blocked_until(&mut conn, &scope, now).await? {
        return Err(AppError::RateLimited {
            retry_after_secs: u64::try_from(until - now).unwrap_or(1).max(1),
        });
    }
    let stored = members::password_hash(&mut conn, who.member.id).await?;
    drop(conn);
    let ok = app.passwords.verify(password, stored.as_deref()).await?;
    let mut tx = app.db.begin().await?;
    if ok {
        throttle::clear(&mut tx, &scope).await?;
        tx.commit().await?;
        return Ok(());
    }
    let failures =
        throttle::record_failure(&mut tx, &scope, now, now - CONFIRM_WINDOW_SECS).await?;
    if failures >= CONFIRM_FREE_FAILURES {
        throttle::block(&mut tx, &scope, now + CONFIRM_WINDOW_SECS).await?;
    }
    tx.commit().await?;
    Err(AppError::field(
        "current_password",
        "does not match your password",
    ))
}

/// Enrols a TOTP secret, or replaces the one there is (rotation): the old
/// secret stops working with the next list.
pub async fn enrol_totp(app: &App, by: By<'_>, target: MemberId) -> AppResult<TotpEnrolment> {
    let secret = OtpSecret::generate();
    let now = now_unix();
    let mut tx = app.db.begin().await?;
    let member = guarantor_for_update(&mut tx, app, target).await?;
    let uri = otpauth_uri(&member.username, &secret);
    let svg = qr_svg(&uri).ok_or_else(|| AppError::Internal("rendering the QR code".into()))?;
    let before = keypads::get(&mut tx, target).await?;
    let rotated = before.is_some_and(|c| c.totp.is_some());
    keypads::set_totp(&mut tx, target, &secret, now).await?;
    audit::insert(
        &mut tx,
        NewEntry::now(
            if rotated {
                event::TOTP_ROTATED
            } else {
                event::TOTP_ENROLLED
            },
            by.actor(),
            Some(target.to_string()),
            json!({ "username": member.username, "keypad_id": member.keypad_id, "by": by.label() }),
        ),
    )
    .await?;
    tx.commit().await?;
    app.list_inputs_changed().await;
    Ok(TotpEnrolment {
        keypad_id: member.keypad_id,
        secret,
        otpauth_uri: uri,
        qr_svg: svg,
    })
}

/// `POST /me/totp`: a guarantor enrols (or rotates) their own secret.
pub async fn enrol_own_totp(
    app: &App,
    who: &Principal,
    password: &str,
) -> AppResult<TotpEnrolment> {
    confirm_self(app, who, password).await?;
    enrol_totp(app, By::Self_(&who.member), who.member.id).await
}

/// Removes the TOTP secret (the sheet, if any, stays). Idempotent.
pub async fn remove_totp(app: &App, by: By<'_>, target: MemberId) -> AppResult<()> {
    let now = now_unix();
    let mut tx = app.db.begin().await?;
    let member = members::get_for_update(&mut tx, app.db.backend(), target)
        .await?
        .ok_or(AppError::NotFound("member"))?;
    let before = keypads::get(&mut tx, target).await?;
    if before.is_none_or(|c| c.totp.is_none()) {
        return Ok(());
    }
    keypads::clear_totp(&mut tx, target, now).await?;
    audit::insert(
        &mut tx,
        NewEntry::now(
            event::TOTP_REMOVED,
            by.actor(),
            Some(target.to_string()),
            json!({ "username": member.username, "keypad_id": member.keypad_id, "by": by.label() }),
        ),
    )
    .await?;
    tx.commit().await?;
    app.list_inputs_changed().await;
    Ok(())
}

/// Issues a new sheet of 10 backup codes; the previous sheet is void with
/// the next list.
pub async fn issue_sheet(app: &App, by: By<'_>, target: MemberId) -> AppResult<BackupSheet> {
    let secret = OtpSecret::generate();
    let now = now_unix();
    let mut tx = app.db.begin().await?;
    let member = guarantor_for_update(&mut tx, app, target).await?;
    let before = keypads::get(&mut tx, target).await?;
    let voided = before.as_ref().and_then(|c| c.sheet.as_ref()).is_some();
    keypads::set_sheet(&mut tx, target, &secret, now).await?;
    audit::insert(
        &mut tx,
        NewEntry::now(
            event::BACKUP_CODES_ISSUED,
            by.actor(),
            Some(target.to_string()),
            json!({
                "username": member.username,
                "keypad_id": member.keypad_id,
                "codes": ol02::HOTP_SHEET_LEN,
                "previous_sheet_voided": voided,
                "by": by.label(),
            }),
        ),
    )
    .await?;
    tx.commit().await?;
    app.list_inputs_changed().await;
    Ok(BackupSheet {
        codes: sheet_codes(&secret),
        member,
        issued_at: now,
    })
}

/// `POST /me/backup-codes`: a guarantor prints their own sheet.
pub async fn issue_own_sheet(app: &App, who: &Principal, password: &str) -> AppResult<BackupSheet> {
    confirm_self(app, who, password).await?;
    issue_sheet(app, By::Self_(&who.member), who.member.id).await
}

/// Voids the current sheet without a new one (a lost sheet). Idempotent.
pub async fn void_sheet(app: &App, by: By<'_>, target: MemberId) -> AppResult<()> {
    let now = now_unix();
    let mut tx = app.db.begin().await?;
    let member = members::get_for_update(&mut tx, app.db.backend(), target)
        .await?
        .ok_or(AppError::NotFound("member"))?;
    let before = keypads::get(&mut tx, target).await?;
    let Some(cred) = before.filter(|c| c.sheet.is_some()) else {
        return Ok(());
    };
    keypads::clear_sheet(&mut tx, target, now).await?;
    audit::insert(
        &mut tx,
        NewEntry::now(
            event::BACKUP_CODES_VOIDED,
            by.actor(),
            Some(target.to_string()),
            json!({
                "username": member.username,
                "keypad_id": member.keypad_id,
                "unused_codes": cred.backup_codes_left(),
                "by": by.label(),
            }),
        ),
    )
    .await?;
    tx.commit().await?;
    app.list_inputs_changed().await;
    Ok(())
}

/// Inside a member change: one who is no longer an active guarantor loses
/// every keypad secret (demotion, deactivation), audited. The caller
/// rebuilds the list after its commit.
pub async fn remove_if_no_longer_guarantor(
    conn: &mut AnyConnection,
    actor: &Member,
    before: &Member,
    after: &Member,
) -> AppResult<()> {
    let was = before.is_active && may_hold_codes(before.role);
    let is = after.is_active && may_hold_codes(after.role);
    if !was || is {
        return Ok(());
    }
    let Some(cred) = keypads::get(conn, after.id).await? else {
        return Ok(());
    };
    keypads::delete(conn, after.id).await?;
    let reason = if after.is_active {
        "role changed"
    } else {
        "member deactivated"
    };
    audit::insert(
        conn,
        NewEntry::now(
            event::KEYPAD_REMOVED,
            Actor::Member(actor.id),
            Some(after.id.to_string()),
            removal_details(after, &cred, reason),
        ),
    )
    .await?;
    Ok(())
}

fn removal_details(m: &Member, c: &KeypadCredential, reason: &str) -> serde_json::Value {
    json!({
        "username": m.username,
        "keypad_id": m.keypad_id,
        "had_totp": c.totp.is_some(),
        "had_backup_sheet": c.sheet.is_some(),
        "reason": reason,
    })
}

/// One member whose secrets a rotation of everything voided.
pub struct Voided {
    pub member_id: MemberId,
    pub username: String,
    pub keypad_id: u16,
}

/// After a door (or a list file) was stolen: every TOTP secret and every
/// backup sheet of every member is voided in one transaction, and the next
/// list carries none of them. Each guarantor then enrols again (a new secret
/// is only worth something once its owner has it). Returns whom to tell.
pub async fn rotate_all(app: &App, by: By<'_>) -> AppResult<Vec<Voided>> {
    const REASON: &str = "every keypad secret rotated";
    let mut tx = app.db.begin().await?;
    let creds = keypads::list(&mut tx).await?;
    let mut voided = Vec::new();
    for c in &creds {
        let m = members::get(&mut tx, c.member_id)
            .await?
            .ok_or_else(|| AppError::Internal("keypad record without member".into()))?;
        audit::insert(
            &mut tx,
            NewEntry::now(
                event::KEYPAD_REMOVED,
                by.actor(),
                Some(m.id.to_string()),
                removal_details(&m, c, REASON),
            ),
        )
        .await?;
        voided.push(Voided {
            member_id: m.id,
            username: m.username,
            keypad_id: m.keypad_id,
        });
    }
    keypads::delete_all(&mut tx).await?;
    audit::insert(
        &mut tx,
        NewEntry::now(
            event::ALL_ROTATED,
            by.actor(),
            None,
            json!({
                "members": voided.len(),
                "keypad_ids": voided.iter().map(|v| v.keypad_id).collect::<Vec<_>>(),
                "by": by.label(),
            }),
        ),
    )
    .await?;
    tx.commit().await?;
    app.list_inputs_changed().await;
    Ok(voided)
}

/// What one `keypad_unlock` report did.
#[derive(Default)]
pub struct UnlockOutcome {
    /// A backup code was newly marked used: the list must be rebuilt.
    pub list_changed: bool,
    /// Why the report was flagged as an anomaly, for the notification.
    pub anomaly: Option<&'static str>,
}

/// Applies a door's `keypad_unlock` (already stored as audit row `event_id`;
/// `door_time` is the door's clock, 0 when unsynchronised; `at` the stored time):
/// a backup code is marked used, so the next list makes every other door
/// refuse it. A code used before, an unknown keypad id, or a method the
/// keypad id does not hold is flagged as `anomaly_detected`.
pub async fn record_unlock(
    conn: &mut AnyConnection,
    device: &Device,
    unlock: &KeypadUnlock,
    uid: &str,
    door_time: i64,
    at: i64,
    event_id: i64,
) -> AppResult<UnlockOutcome> {
    let mut out = UnlockOutcome::default();
    let member = keypads::member_by_keypad_id(conn, unlock.keypad_id).await?;
    let cred = match member {
        Some(m) => keypads::get(conn, m).await?,
        None => None,
    };
    let anomaly = match (member, &cred, unlock.method) {
        (None, _, _) => Some("unknown_keypad_id"),
        (Some(_), None, _) => Some("keypad_id_not_enrolled"),
        (Some(_), Some(c), UnlockMethod::Totp) => c.totp.is_none().then_some("totp_not_enrolled"),
        (Some(m), Some(c), UnlockMethod::Hotp { index }) => match &c.sheet {
            None => Some("no_backup_sheet"),
            // A code of a sheet replaced since: the door held an older list.
            Some((_, issued_at)) if door_time != 0 && door_time < *issued_at => None,
            Some(_) => {
                if keypads::mark_used(conn, m, index).await? {
                    out.list_changed = true;
                    None
                } else {
                    Some("backup_code_reused")
                }
            }
        },
    };
    if let Some(reason) = anomaly {
        let (method, index) = match unlock.method {
            UnlockMethod::Totp => ("totp", None),
            UnlockMethod::Hotp { index } => ("hotp", Some(index)),
        };
        audit::insert(
            conn,
            NewEntry {
                event_type: event::ANOMALY_DETECTED,
                actor: Actor::Device(device.id),
                target_id: member.map(|m| m.to_string()),
                details: json!({
                    "source": "keypad_unlock",
                    "reason": reason,
                    "keypad_id": unlock.keypad_id,
                    "method": method,
                    "index": index,
                    "uid": uid,
                    "keypad_unlock_event_id": event_id,
                }),
                created_at: at,
                dedup_key: None,
            },
        )
        .await?;
        out.anomaly = Some(reason);
    }
    Ok(out)
}
