//! Keypad codes of guarantors: `/members/{id}/totp`, `/members/{id}/backup-codes`,
//! their `/me` counterparts, and `/keypad/rotate-all`.
//!
//! Secrets appear only in the response that creates them, marked
//! `Cache-Control: no-store`.

use super::error::ErrorBody;
use super::extract::{Admin, AnyMember, ApiJson, ApiPath};
use crate::app::keypad::{self, BackupSheet, By, KeypadSummary, TotpEnrolment};
use crate::app::{App, AppError};
use crate::domain::{from_unix, MemberId};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(enrol_totp, remove_totp))
        .routes(routes!(enrol_own_totp))
        .routes(routes!(issue_backup_codes, void_backup_codes))
        .routes(routes!(issue_own_backup_codes))
        .routes(routes!(rotate_all))
}

/// A member's keypad record, as `GET /members/{id}` shows it: never a secret.
#[derive(Serialize, ToSchema)]
pub struct KeypadView {
    /// What the member types before the code: `<keypad_id>#<code>#`.
    keypad_id: u16,
    totp_enrolled: bool,
    /// Unused codes of the current backup sheet (0 without a sheet).
    backup_codes_left: u32,
    /// When the current TOTP secret (or, without one, the current sheet) was issued.
    enrolled_at: Option<DateTime<Utc>>,
}

impl From<KeypadSummary> for KeypadView {
    fn from(k: KeypadSummary) -> Self {
        Self {
            keypad_id: k.keypad_id,
            totp_enrolled: k.totp_enrolled,
            backup_codes_left: k.backup_codes_left,
            enrolled_at: k.enrolled_at.map(from_unix),
        }
    }
}

/// A new TOTP secret: shown here once and never again.
#[derive(Serialize, ToSchema)]
pub struct TotpEnrolmentView {
    keypad_id: u16,
    /// RFC 4648 base32, no padding (160 bits).
    secret: String,
    /// `otpauth://totp/OpenLatch:<username>?secret=...&issuer=OpenLatch&digits=6&period=30`
    otpauth_uri: String,
    /// The URI as an SVG QR code, for an authenticator app to scan.
    qr_svg: String,
}

impl From<TotpEnrolment> for TotpEnrolmentView {
    fn from(e: TotpEnrolment) -> Self {
        Self {
            keypad_id: e.keypad_id,
            secret: e.secret.to_base32(),
            otpauth_uri: e.otpauth_uri,
            qr_svg: e.qr_svg,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct BackupCodeView {
    /// 0..9: the door reports which one was used.
    index: u8,
    /// Six digits, leading zeros kept.
    code: String,
}

/// A new sheet of backup codes: shown here once; the server keeps only its secret.
#[derive(Serialize, ToSchema)]
pub struct BackupSheetView {
    keypad_id: u16,
    issued_at: DateTime<Utc>,
    codes: Vec<BackupCodeView>,
}

/// The guarantor's password, when they act on their own codes.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmWithPassword {
    current_password: String,
}

#[derive(Serialize, ToSchema)]
pub struct VoidedMember {
    member_id: MemberId,
    username: String,
    keypad_id: u16,
}

/// Whose secrets a rotation of everything voided: each must enrol again.
#[derive(Serialize, ToSchema)]
pub struct RotateAllView {
    voided: Vec<VoidedMember>,
}

fn secret_response(status: StatusCode, body: impl IntoResponse) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], body).into_response()
}

fn enrolment_response(e: TotpEnrolment) -> Response {
    secret_response(StatusCode::CREATED, Json(TotpEnrolmentView::from(e)))
}

/// `Accept: text/plain` (before any JSON type) asks for the printable sheet.
fn wants_text(headers: &HeaderMap) -> bool {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let position = |kind: &str| {
        accept
            .split(',')
            .position(|t| t.split(';').next().is_some_and(|t| t.trim() == kind))
    };
    match (position("text/plain"), position("application/json")) {
        (Some(t), Some(j)) => t < j,
        (Some(_), None) => true,
        _ => false,
    }
}

/// The sheet ready to print: who, which keypad id, how to type a code.
pub fn printable_sheet(s: &BackupSheet) -> String {
    let m = &s.member;
    let mut out = String::new();
    out.push_str("OpenLatch backup codes\n");
    out.push_str("======================\n\n");
    out.push_str(&format!(
        "Member:     {} ({})\n",
        m.display_name, m.username
    ));
    out.push_str(&format!("Keypad id:  {}\n", m.keypad_id));
    out.push_str(&format!(
        "Issued:     {}\n\n",
        from_unix(s.issued_at).format("%Y-%m-%d %H:%M UTC")
    ));
    out.push_str(&format!(
        "At the door, after a refused card, type:  {}#<code>#\n",
        m.keypad_id
    ));
    out.push_str("Each code opens once, at one door. Cross it out when used.\n\n");
    for c in &s.codes {
        out.push_str(&format!("  [ ]  {:>2}   {:06}\n", c.index, c.code));
    }
    out.push_str(
        "\nA new sheet voids this one. Keep it like a key: whoever holds it can open the door.\n",
    );
    out
}

fn sheet_response(sheet: BackupSheet, headers: &HeaderMap) -> Response {
    if wants_text(headers) {
        return secret_response(
            StatusCode::CREATED,
            (
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                printable_sheet(&sheet),
            ),
        );
    }
    let view = BackupSheetView {
        keypad_id: sheet.member.keypad_id,
        issued_at: from_unix(sheet.issued_at),
        codes: sheet
            .codes
            .iter()
            .map(|c| BackupCodeView {
                index: c.index,
                code: format!("{:06}", c.code),
            })
            .collect(),
    };
    secret_response(StatusCode::CREATED, Json(view))
}

/// Enrol or rotate a guarantor's TOTP secret (admin). The secret is shown once; the old one stops working with the next list.
#[utoipa::path(post, path = "/members/{id}/totp", tag = "keypad", security(("bearer" = [])),
    params(("id" = MemberId, Path)),
    responses((status = 201, body = TotpEnrolmentView), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, description = "The member is not a keyholder or admin, or is deactivated", body = ErrorBody)))]
async fn enrol_totp(
    State(app): State<App>,
    Admin(admin): Admin,
    ApiPath(id): ApiPath<MemberId>,
) -> Result<Response, AppError> {
    let e = keypad::enrol_totp(&app, By::Admin(&admin.member), id).await?;
    Ok(enrolment_response(e))
}

/// Remove a member's TOTP secret (admin); gone from the next list. Idempotent.
#[utoipa::path(delete, path = "/members/{id}/totp", tag = "keypad", security(("bearer" = [])),
    params(("id" = MemberId, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn remove_totp(
    State(app): State<App>,
    Admin(admin): Admin,
    ApiPath(id): ApiPath<MemberId>,
) -> Result<StatusCode, AppError> {
    keypad::remove_totp(&app, By::Admin(&admin.member), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Enrol or rotate one's own TOTP secret (keyholder, admin), confirming with the current password.
#[utoipa::path(post, path = "/me/totp", tag = "keypad", request_body = ConfirmWithPassword,
    security(("bearer" = [])),
    responses((status = 201, body = TotpEnrolmentView), (status = 401, body = ErrorBody),
              (status = 403, description = "Members and guests hold no keypad codes", body = ErrorBody),
              (status = 422, description = "Wrong password", body = ErrorBody),
              (status = 429, description = "Too many wrong passwords", body = ErrorBody)))]
async fn enrol_own_totp(
    State(app): State<App>,
    AnyMember(who): AnyMember,
    ApiJson(body): ApiJson<ConfirmWithPassword>,
) -> Result<Response, AppError> {
    let e = keypad::enrol_own_totp(&app, &who, &body.current_password).await?;
    Ok(enrolment_response(e))
}

/// Issue a new sheet of 10 backup codes (admin); the previous sheet is void. `Accept: text/plain` gives it ready to print.
#[utoipa::path(post, path = "/members/{id}/backup-codes", tag = "keypad", security(("bearer" = [])),
    params(("id" = MemberId, Path)),
    responses((status = 201, description = "JSON, or a printable sheet with `Accept: text/plain`",
               content((BackupSheetView = "application/json"), (String = "text/plain"))),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 422, description = "The member is not a keyholder or admin, or is deactivated", body = ErrorBody)))]
async fn issue_backup_codes(
    State(app): State<App>,
    Admin(admin): Admin,
    ApiPath(id): ApiPath<MemberId>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let sheet = keypad::issue_sheet(&app, By::Admin(&admin.member), id).await?;
    Ok(sheet_response(sheet, &headers))
}

/// Void a member's backup sheet without a new one (admin), e.g. when it was lost. Idempotent.
#[utoipa::path(delete, path = "/members/{id}/backup-codes", tag = "keypad", security(("bearer" = [])),
    params(("id" = MemberId, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn void_backup_codes(
    State(app): State<App>,
    Admin(admin): Admin,
    ApiPath(id): ApiPath<MemberId>,
) -> Result<StatusCode, AppError> {
    keypad::void_sheet(&app, By::Admin(&admin.member), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Issue one's own new backup sheet (keyholder, admin), confirming with the current password.
#[utoipa::path(post, path = "/me/backup-codes", tag = "keypad", request_body = ConfirmWithPassword,
    security(("bearer" = [])),
    responses((status = 201, description = "JSON, or a printable sheet with `Accept: text/plain`",
               content((BackupSheetView = "application/json"), (String = "text/plain"))),
              (status = 401, body = ErrorBody),
              (status = 403, description = "Members and guests hold no keypad codes", body = ErrorBody),
              (status = 422, description = "Wrong password", body = ErrorBody),
              (status = 429, description = "Too many wrong passwords", body = ErrorBody)))]
async fn issue_own_backup_codes(
    State(app): State<App>,
    AnyMember(who): AnyMember,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ConfirmWithPassword>,
) -> Result<Response, AppError> {
    let sheet = keypad::issue_own_sheet(&app, &who, &body.current_password).await?;
    Ok(sheet_response(sheet, &headers))
}

/// Void every keypad secret of every member at once (admin): after a door or a list file was stolen. Each guarantor then enrols again.
#[utoipa::path(post, path = "/keypad/rotate-all", tag = "keypad", security(("bearer" = [])),
    responses((status = 200, body = RotateAllView), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
async fn rotate_all(
    State(app): State<App>,
    Admin(admin): Admin,
) -> Result<Json<RotateAllView>, AppError> {
    let voided = keypad::rotate_all(&app, By::Admin(&admin.member)).await?;
    Ok(Json(RotateAllView {
        voided: voided
            .into_iter()
            .map(|v| VoidedMember {
                member_id: v.member_id,
                username: v.username,
                keypad_id: v.keypad_id,
            })
            .collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn accept_picks_the_sheet_format() {
        let mut h = HeaderMap::new();
        assert!(!wants_text(&h));
        h.insert(header::ACCEPT, HeaderValue::from_static("text/plain"));
        assert!(wants_text(&h));
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json, text/plain;q=0.5"),
        );
        assert!(!wants_text(&h));
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/plain; charset=utf-8, application/json"),
        );
        assert!(wants_text(&h));
    }
}
