//! Me: every member's own page: profile, keys, the week view, the password
//! change, and for keyholders and admins their keypad codes. A new TOTP
//! secret or backup sheet is shown once, on the page that answers the form
//! (never in a URL, never again).

use super::csrf::WebForm;
use super::error::WebError;
use super::layout::{csrf_field, field, notice, page, Viewer};
use super::session::WebUser;
use crate::app::keypad::{self, BackupSheet, TotpEnrolment};
use crate::app::web_session::WebSession;
use crate::app::{auth, keys, App, AppError};
use crate::domain::keypad::may_hold_codes;
use crate::domain::FieldErrors;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use maud::{html, Markup};
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

/// What a keypad form just made, shown once.
pub(super) enum Secret {
    None,
    Totp(TotpEnrolment),
    Sheet(BackupSheet),
}

/// The password field of each form has its own name, so an error lands at
/// the form that was sent.
const TOTP_PASSWORD: &str = "totp_password";
const SHEET_PASSWORD: &str = "sheet_password";

pub(super) fn secret_section(secret: &Secret) -> Markup {
    match secret {
        Secret::None => html! {},
        Secret::Totp(e) => {
            let qr = format!(
                "data:image/svg+xml;base64,{}",
                data_encoding::BASE64.encode(e.qr_svg.as_bytes())
            );
            html! {
                section.secret.totp role="status" {
                    h2 { "Your authenticator secret" }
                    p { "Scan the code with your authenticator app now. It is shown only this once; "
                        "if it is lost, enrol again (the old secret then stops working)." }
                    img.qr src=(qr) width="256" height="256" alt="QR code of your new authenticator secret";
                    p { "Or type the secret: " code.mono id="totp-secret" { (e.secret.to_base32()) } }
                    button type="button" data-copy="totp-secret" { "Copy secret" }
                    p { "At the door, after a refused card, type " code { (e.keypad_id) "#<code>#" } "." }
                }
            }
        }
        Secret::Sheet(sheet) => html! {
            section.secret.sheet role="status" {
                h2 { "Your backup codes" }
                p { "Print this page or write the codes down now: they are shown only this once. "
                    "Each code opens once. At the door, after a refused card, type "
                    code { (sheet.member.keypad_id) "#<code>#" } "." }
                table.codes {
                    thead { tr { th { "No." } th { "Code" } } }
                    tbody { @for c in &sheet.codes {
                        tr { td { (c.index) } td.mono { (format!("{:06}", c.code)) } }
                    } }
                }
            }
        },
    }
}

async fn keypad_section(
    app: &App,
    viewer: &Viewer,
    errors: &FieldErrors,
) -> Result<Markup, WebError> {
    let m = &viewer.member;
    if !may_hold_codes(m.role) {
        return Ok(html! {});
    }
    let summary = keypad::summary(app, m).await?;
    let enrolled = summary.as_ref().is_some_and(|k| k.totp_enrolled);
    Ok(html! {
        section.keypad {
            h2 { "My keypad codes" }
            dl.facts {
                dt { "Keypad id" } dd { (m.keypad_id) }
                dt { "Authenticator app" } dd { @if enrolled { "enrolled" } @else { "not enrolled" } }
                dt { "Backup codes left" } dd { (summary.as_ref().map_or(0, |k| k.backup_codes_left)) }
            }
            form.stack method="post" action="/me/totp" novalidate {
                (csrf_field(viewer))
                (field("Current password", TOTP_PASSWORD, "password", "", errors, true))
                button type="submit" {
                    @if enrolled { "Replace my authenticator secret" } @else { "Enrol my authenticator app" }
                }
            }
            form.stack method="post" action="/me/backup-codes" novalidate {
                (csrf_field(viewer))
                (field("Current password", SHEET_PASSWORD, "password", "", errors, true))
                button type="submit" { "Issue a new backup sheet (voids the old one)" }
            }
        }
    })
}

async fn me_page(
    app: &App,
    who: &WebSession,
    done: Option<&str>,
    errors: &FieldErrors,
    secret: &Secret,
) -> Result<Markup, WebError> {
    let viewer = Viewer::from(who);
    let m = &who.principal.member;
    let keypad = keypad_section(app, &viewer, errors).await?;
    let my_keys = keys::list_for_member(app, &who.principal, m.id).await?;
    let week = crate::app::ui::week_view(app, m.id).await?;
    let now = Utc::now();
    Ok(page(
        Some(&viewer),
        "/me",
        "Me",
        html! {
            h1 { (m.display_name) }
            (notice(done.map(|_| "Password changed. Your other sessions have ended.")))
            (secret_section(secret))
            dl.facts {
                dt { "Username" } dd { (m.username) }
                dt { "E-mail" } dd { (m.email) }
                dt { "Role" } dd { (m.role.as_str()) }
            }
            section {
                h2 { "My keys" }
                @if my_keys.is_empty() { p.muted { "You have no key yet: ask an admin." } }
                @else { ul { @for k in &my_keys {
                    li {
                        (k.label) " " span.mono { (k.uid.as_str()) } " – "
                        @if k.revoked_at.is_some() { "revoked" }
                        @else if !k.is_active_at(now) { "expired" }
                        @else { "active" }
                    }
                } } }
            }
            section {
                h2 { "When I can enter" }
                (super::week::week_svg(&week))
            }
            section {
                h2 { "Change my password" }
                form.stack method="post" action="/me/password" novalidate {
                    (csrf_field(&viewer))
                    input type="hidden" name="username" value=(m.username) autocomplete="username";
                    (field("Current password", "current_password", "password", "", errors, true))
                    (field("New password (at least 10 characters)", "new_password", "password", "", errors, true))
                    button type="submit" { "Change password" }
                }
            }
            (keypad)
        },
    ))
}

pub async fn page_get(
    app: &App,
    who: &WebSession,
    done: Option<&str>,
) -> Result<Response, WebError> {
    Ok(me_page(app, who, done, &FieldErrors::new(), &Secret::None)
        .await?
        .into_response())
}

pub async fn show(
    State(app): State<App>,
    WebUser(who): WebUser,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    page_get(&app, &who, q.done.as_deref()).await
}

pub async fn change_password(
    State(app): State<App>,
    WebUser(who): WebUser,
    form: WebForm,
) -> Result<Response, WebError> {
    match auth::change_own_password(
        &app,
        &who.principal,
        form.get("current_password"),
        form.get("new_password"),
    )
    .await
    {
        Ok(()) => Ok(Redirect::to("/me?done=password").into_response()),
        Err(AppError::Validation(errors)) => {
            let html = me_page(&app, &who, None, &errors, &Secret::None).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
        }
        Err(e) => Err(WebError::for_viewer(e, &who)),
    }
}

/// Moves the use case's `current_password` error to the form's own field.
fn password_error(field: &str, e: AppError) -> AppError {
    match e {
        AppError::Validation(mut errors) => {
            if let Some(m) = errors.remove("current_password") {
                errors.insert(field.to_owned(), m);
            }
            AppError::Validation(errors)
        }
        other => other,
    }
}

/// Answers a keypad form: the page with the secret on success (not a
/// redirect), or with the error at the form's password field.
async fn keypad_answer(
    app: &App,
    who: &WebSession,
    result: Result<Secret, AppError>,
) -> Result<Response, WebError> {
    match result {
        Ok(secret) => Ok(me_page(app, who, None, &FieldErrors::new(), &secret)
            .await?
            .into_response()),
        Err(AppError::Validation(errors)) => {
            let html = me_page(app, who, None, &errors, &Secret::None).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
        }
        Err(e) => Err(WebError::for_viewer(e, who)),
    }
}

/// Enrols (or replaces) the keyholder's own TOTP secret, like `POST /me/totp`.
pub async fn enrol_totp(
    State(app): State<App>,
    WebUser(who): WebUser,
    form: WebForm,
) -> Result<Response, WebError> {
    let result = keypad::enrol_own_totp(&app, &who.principal, form.get(TOTP_PASSWORD))
        .await
        .map(Secret::Totp)
        .map_err(|e| password_error(TOTP_PASSWORD, e));
    keypad_answer(&app, &who, result).await
}

/// Issues the keyholder's own backup sheet, like `POST /me/backup-codes`.
pub async fn issue_backup_codes(
    State(app): State<App>,
    WebUser(who): WebUser,
    form: WebForm,
) -> Result<Response, WebError> {
    let result = keypad::issue_own_sheet(&app, &who.principal, form.get(SHEET_PASSWORD))
        .await
        .map(Secret::Sheet)
        .map_err(|e| password_error(SHEET_PASSWORD, e));
    keypad_answer(&app, &who, result).await
}
