//! Members: search and paging (staff), create, edit, deactivate (admin), and
//! a member's page with their keys (register, revoke with a reason; admin).
//! Form errors come from the same domain parsers as the API and are shown
//! next to their fields.

use super::csrf::WebForm;
use super::error::WebError;
use super::layout::{csrf_field, field, field_error, notice, page, Viewer};
use super::me::{secret_section, Secret};
use super::session::{WebAdmin, WebPath, WebStaff};
use crate::app::keypad::{self, By};
use crate::app::keys::{self, NewKey};
use crate::app::members::{self, MemberPatch, NewMember};
use crate::app::{ui, App, AppError};
use crate::domain::key::{parse_label, KeyAccessType, KeyType, NfcKey, Uid};
use crate::domain::member::{DisplayName, Email, Member, NewPassword, Role, Username};
use crate::domain::{FieldErrors, KeyId, MemberId, Validation};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, NaiveDate, Utc};
use maud::{html, Markup};
use serde::Deserialize;

pub const PER_PAGE: usize = 50;
/// How many recent denied taps of unknown cards the key form offers.
const DENIED_TAPS_OFFERED: usize = 8;
const ROLES: [Role; 4] = [Role::Guest, Role::Member, Role::Keyholder, Role::Admin];

#[derive(Deserialize, Default)]
pub struct ListQuery {
    q: Option<String>,
    page: Option<usize>,
    done: Option<String>,
}

fn role_select(name: &str, current: Role, errors: &FieldErrors) -> Markup {
    html! {
        div.field {
            label for=(format!("f-{name}")) { "Role" }
            select id=(format!("f-{name}")) name=(name) {
                @for r in ROLES {
                    option value=(r.as_str()) selected[r == current] { (r.as_str()) }
                }
            }
            (field_error(name, errors))
        }
    }
}

pub async fn list(
    State(app): State<App>,
    WebStaff(who): WebStaff,
    Query(q): Query<ListQuery>,
) -> Result<Response, WebError> {
    let viewer = Viewer::from(&who);
    let query = q.q.clone().unwrap_or_default();
    let found = ui::search_members(&app, &query, q.page.unwrap_or(1), PER_PAGE).await?;
    let pages = found.total.div_ceil(PER_PAGE).max(1);
    let link = |p: usize| {
        let mut s = form_urlencoded::Serializer::new(String::new());
        if !query.is_empty() {
            s.append_pair("q", &query);
        }
        s.append_pair("page", &p.to_string());
        format!("/members?{}", s.finish())
    };
    let body = html! {
        h1 { "Members" }
        (notice(q.done.as_deref().map(|_| "Saved.")))
        div.toolbar {
            form.search method="get" action="/members" role="search" {
                label for="q" { "Search" }
                input id="q" name="q" type="search" value=(query) placeholder="name, username or e-mail";
                button type="submit" { "Search" }
            }
            @if viewer.is_admin() { a.button href="/members/new" { "New member" } }
        }
        p.muted { (found.total) " members" @if !query.is_empty() { " matching “" (query) "”" } }
        div.table-wrap { table {
            thead { tr { th { "Username" } th { "Name" } th { "Role" } th { "Active" } } }
            tbody {
                @for m in &found.members {
                    tr {
                        td { a href=(format!("/members/{}", m.id)) { (m.username) } }
                        td { (m.display_name) }
                        td { (m.role.as_str()) }
                        td { @if m.is_active { "yes" } @else { span.badge.off { "deactivated" } } }
                    }
                }
            }
        } }
        @if pages > 1 {
            nav.paging aria-label="Pages" {
                @if found.page > 1 { a href=(link(found.page - 1)) rel="prev" { "← Previous" } }
                span { "Page " (found.page) " of " (pages) }
                @if found.page < pages { a href=(link(found.page + 1)) rel="next" { "Next →" } }
            }
        }
    };
    Ok(page(Some(&viewer), "/members", "Members", body).into_response())
}

fn new_member_page(viewer: &Viewer, form: Option<&WebForm>, errors: &FieldErrors) -> Markup {
    let value = |n: &str| form.map_or("", |f| f.get(n)).to_owned();
    let role = form
        .and_then(|f| f.get("role").parse().ok())
        .unwrap_or(Role::Member);
    page(
        Some(viewer),
        "/members",
        "New member",
        html! {
            h1 { "New member" }
            form.stack method="post" action="/members" novalidate {
                (csrf_field(viewer))
                (field("Username", "username", "text", &value("username"), errors, true))
                (field("E-mail", "email", "email", &value("email"), errors, true))
                (field("Display name", "display_name", "text", &value("display_name"), errors, false))
                (field("Initial password (at least 10 characters; empty = the member cannot log in)", "password", "password", "", errors, false))
                (role_select("role", role, errors))
                button type="submit" { "Create member" }
            }
        },
    )
}

pub async fn new_form(WebAdmin(who): WebAdmin) -> Response {
    new_member_page(&Viewer::from(&who), None, &FieldErrors::new()).into_response()
}

fn parse_new_member(f: &WebForm) -> Result<NewMember, AppError> {
    let mut v = Validation::default();
    let username = v.field("username", Username::parse(f.get("username")));
    let email = v.field("email", Email::parse(f.get("email")));
    // Optional: a member without a password has keys but cannot log in.
    let password = v.optional("password", f.opt("password").map(NewPassword::parse));
    let display_name = v.optional(
        "display_name",
        f.opt("display_name").map(DisplayName::parse),
    );
    let role = v.field("role", f.get("role").parse::<Role>());
    match (username, email, password, display_name, role) {
        (Some(username), Some(email), Some(password), Some(display_name), Some(role))
            if v.is_ok() =>
        {
            Ok(NewMember {
                username,
                email,
                display_name,
                role,
                password,
            })
        }
        _ => Err(AppError::Validation(v.into_errors())),
    }
}

/// Field errors (422) and clashes (409, e.g. a taken username) re-render the form.
fn form_errors(e: AppError) -> Result<FieldErrors, AppError> {
    match e {
        AppError::Validation(f) => Ok(f),
        AppError::Conflict { fields, message } if !fields.is_empty() => {
            let _ = message;
            Ok(fields)
        }
        other => Err(other),
    }
}

pub async fn create(
    State(app): State<App>,
    WebAdmin(who): WebAdmin,
    form: WebForm,
) -> Result<Response, WebError> {
    let viewer = Viewer::from(&who);
    let result = match parse_new_member(&form) {
        Ok(new) => members::create(&app, Some(&who.principal.member), new).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(m) => Ok(Redirect::to(&format!("/members/{}?done=created", m.id)).into_response()),
        Err(e) => {
            let errors = form_errors(e)?;
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                new_member_page(&viewer, Some(&form), &errors),
            )
                .into_response())
        }
    }
}

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    done: Option<String>,
}

struct MemberPageErrors<'a> {
    edit: &'a FieldErrors,
    key: &'a FieldErrors,
    key_form: Option<&'a WebForm>,
}

async fn member_page(
    app: &App,
    who: &crate::app::web_session::WebSession,
    target: &Member,
    done: Option<&str>,
    errs: MemberPageErrors<'_>,
) -> Result<Markup, WebError> {
    let viewer = Viewer::from(who);
    let (member_keys, denied_taps): (Vec<NfcKey>, _) = if viewer.is_admin() {
        (
            keys::list_for_member(app, &who.principal, target.id).await?,
            ui::door::unknown_denied_taps(app, DENIED_TAPS_OFFERED).await?,
        )
    } else {
        (Vec::new(), Vec::new())
    };
    let week = ui::week_view(app, target.id).await?;
    let now = Utc::now();
    let key_value = |n: &str| errs.key_form.map_or("", |f| f.get(n)).to_owned();
    Ok(page(
        Some(&viewer),
        "/members",
        &target.display_name,
        html! {
            h1 { (target.display_name) " " small.muted { "@" (target.username) } }
            (notice(done.map(|d| match d {
                "created" => "Member created.",
                "key" => "Key registered.",
                "revoked" => "Key revoked.",
                "deactivated" => "Member deactivated; their keys are revoked.",
                _ => "Saved.",
            })))
            @if !target.is_active { p.badge.off { "deactivated" } }
            dl.facts {
                dt { "E-mail" } dd { (target.email) }
                dt { "Role" } dd { (target.role.as_str()) }
                dt { "Member since" } dd { (target.created_at.format("%Y-%m-%d")) }
            }
            section {
                h2 { "When " (target.display_name) " can enter" }
                (super::week::week_svg(&week))
            }
            @if viewer.is_admin() {
                section {
                    h2 { "Edit" }
                    form.stack method="post" action=(format!("/members/{}", target.id)) novalidate {
                        (csrf_field(&viewer))
                        (field("Display name", "display_name", "text", &target.display_name, errs.edit, true))
                        (field("E-mail", "email", "email", &target.email, errs.edit, true))
                        (role_select("role", target.role, errs.edit))
                        (field_error("is_active", errs.edit))
                        button type="submit" { "Save" }
                    }
                    @if target.is_active {
                        form method="post" action=(format!("/members/{}/deactivate", target.id))
                            data-confirm=(format!("Deactivate {}? All their keys are revoked.", target.username)) {
                            (csrf_field(&viewer))
                            button.danger type="submit" { "Deactivate" }
                        }
                    }
                }
                @if target.is_active && target.role.is_guarantor() {
                    section.keypad {
                        h2 { "Keypad codes" }
                        p.muted { "Enrol an authenticator or print a backup sheet for "
                            (target.display_name) " when they cannot do it on their own page. "
                            "The secret is shown once, here; a new one replaces the old." }
                        form method="post" action=(format!("/members/{}/keypad/totp", target.id)) {
                            (csrf_field(&viewer))
                            button type="submit" { "Enrol authenticator" }
                        }
                        form method="post" action=(format!("/members/{}/keypad/backup-codes", target.id)) {
                            (csrf_field(&viewer))
                            button type="submit" { "Issue backup codes" }
                        }
                    }
                }
                section {
                    h2 { "Keys" }
                    @if member_keys.is_empty() { p.muted { "No keys." } }
                    @else {
                        div.table-wrap { table {
                            thead { tr { th { "Label" } th { "UID" } th { "State" } th { "Revoke" } } }
                            tbody { @for k in &member_keys {
                                tr {
                                    td { (k.label) }
                                    td.mono { (k.uid.as_str()) }
                                    td {
                                        @if let Some(r) = k.revoked_at {
                                            "revoked " (r.format("%Y-%m-%d"))
                                            @if let Some(reason) = &k.revoke_reason { ": " (reason) }
                                        } @else if !k.is_active_at(now) { "expired" }
                                        @else { "active" @if let Some(a) = k.access_type { " (" (a.as_str()) ")" } }
                                    }
                                    td {
                                        @if k.revoked_at.is_none() {
                                            form.inline method="post" action=(format!("/members/{}/keys/{}/revoke", target.id, k.id))
                                                data-confirm=(format!("Revoke key {}?", k.label)) {
                                                (csrf_field(&viewer))
                                                label.visually-hidden for=(format!("reason-{}", k.id)) { "Reason" }
                                                input id=(format!("reason-{}", k.id)) name="reason" type="text" placeholder="reason, e.g. lost";
                                                button type="submit" { "Revoke" }
                                            }
                                        }
                                    }
                                }
                            } }
                        } }
                    }
                    h3 { "Register a key" }
                    form.stack method="post" action=(format!("/members/{}/keys", target.id)) novalidate {
                        (csrf_field(&viewer))
                        @if !denied_taps.is_empty() {
                            fieldset.taps {
                                legend { "A card a door refused (unknown UID, newest first)" }
                                @for (i, tap) in denied_taps.iter().enumerate() {
                                    div.choice {
                                        input type="radio" id=(format!("tap-{i}")) name="uid_from" value=(tap.uid.as_str())
                                            checked[key_value("uid_from") == tap.uid.as_str()];
                                        label for=(format!("tap-{i}")) {
                                            span.mono { (tap.uid.as_str()) } " at " (tap.door) ", " (tap.at.format("%Y-%m-%d %H:%M UTC"))
                                        }
                                    }
                                }
                                div.choice {
                                    input type="radio" id="tap-none" name="uid_from" value="" checked[key_value("uid_from").is_empty()];
                                    label for="tap-none" { "None of these: the UID typed below" }
                                }
                                (field_error("uid_from", errs.key))
                            }
                        }
                        (field("UID (hex, 4, 7 or 10 bytes)", "uid", "text", &key_value("uid"), errs.key, denied_taps.is_empty()))
                        (field("Label", "label", "text", &key_value("label"), errs.key, false))
                        div.field {
                            label for="f-access_type" { "Access" }
                            select id="f-access_type" name="access_type" {
                                option value="" { "from the rules" }
                                option value="conditional" selected[key_value("access_type") == "conditional"] { "conditional (approval at the door)" }
                                option value="emergency" selected[key_value("access_type") == "emergency"] { "emergency" }
                            }
                            (field_error("access_type", errs.key))
                        }
                        (field("Expires on (optional)", "expires_on", "date", &key_value("expires_on"), errs.key, false))
                        button type="submit" { "Register key" }
                    }
                }
            }
        },
    ))
}

pub async fn show(
    State(app): State<App>,
    WebStaff(who): WebStaff,
    WebPath(id): WebPath<MemberId>,
    Query(q): Query<ShowQuery>,
) -> Result<Response, WebError> {
    let target = members::get(&app, &who.principal, id).await?;
    let none = FieldErrors::new();
    let errs = MemberPageErrors {
        edit: &none,
        key: &none,
        key_form: None,
    };
    Ok(member_page(&app, &who, &target, q.done.as_deref(), errs)
        .await?
        .into_response())
}

fn parse_patch(f: &WebForm) -> Result<MemberPatch, AppError> {
    let mut v = Validation::default();
    let display_name = v.field("display_name", DisplayName::parse(f.get("display_name")));
    let email = v.field("email", Email::parse(f.get("email")));
    let role = v.field("role", f.get("role").parse::<Role>());
    match (display_name, email, role) {
        (Some(d), Some(e), Some(r)) if v.is_ok() => Ok(MemberPatch {
            display_name: Some(d),
            email: Some(e),
            role: Some(r),
            ..MemberPatch::default()
        }),
        _ => Err(AppError::Validation(v.into_errors())),
    }
}

pub async fn update(
    State(app): State<App>,
    WebAdmin(who): WebAdmin,
    WebPath(id): WebPath<MemberId>,
    form: WebForm,
) -> Result<Response, WebError> {
    let result = match parse_patch(&form) {
        Ok(patch) => members::update(&app, &who.principal.member, id, patch).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(m) => Ok(Redirect::to(&format!("/members/{}?done=saved", m.id)).into_response()),
        Err(e) => {
            let errors = form_errors(e)?;
            let target = members::get(&app, &who.principal, id).await?;
            let none = FieldErrors::new();
            let errs = MemberPageErrors {
                edit: &errors,
                key: &none,
                key_form: None,
            };
            let html = member_page(&app, &who, &target, None, errs).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
        }
    }
}

pub async fn deactivate(
    State(app): State<App>,
    WebAdmin(who): WebAdmin,
    WebPath(id): WebPath<MemberId>,
    _form: WebForm,
) -> Result<Response, WebError> {
    members::deactivate(&app, &who.principal.member, id)
        .await
        .map_err(|e| WebError::for_viewer(e, &who))?;
    Ok(Redirect::to(&format!("/members/{id}?done=deactivated")).into_response())
}

/// The UID typed, or the one picked from a door's denied taps; both at once
/// must agree.
fn key_uid(v: &mut Validation, f: &WebForm) -> Option<Uid> {
    match (f.opt("uid"), f.opt("uid_from")) {
        (None, Some(picked)) => v.field("uid_from", Uid::parse(picked)),
        (Some(typed), Some(picked)) => {
            let typed = v.field("uid", Uid::parse(typed))?;
            if Uid::parse(picked).ok().as_ref() != Some(&typed) {
                v.fail(
                    "uid",
                    "differs from the card picked above: pick one or type one",
                );
                return None;
            }
            Some(typed)
        }
        _ => v.field("uid", Uid::parse(f.get("uid"))),
    }
}

fn parse_key(member_id: MemberId, f: &WebForm) -> Result<NewKey, AppError> {
    let mut v = Validation::default();
    let uid = key_uid(&mut v, f);
    let label = v.field("label", parse_label(f.get("label")));
    let key_type = v.optional("key_type", f.opt("key_type").map(KeyType::parse));
    let access_type = v.optional(
        "access_type",
        f.opt("access_type").map(str::parse::<KeyAccessType>),
    );
    // A date means "until the end of that day, UTC".
    let expires_at = v.optional(
        "expires_on",
        f.opt("expires_on").map(|d| {
            NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(23, 59, 59))
                .map(|t| DateTime::<Utc>::from_naive_utc_and_offset(t, Utc))
                .ok_or("must be a date such as 2026-12-31")
        }),
    );
    match (uid, label, key_type, access_type, expires_at) {
        (Some(uid), Some(label), Some(key_type), Some(access_type), Some(expires_at))
            if v.is_ok() =>
        {
            Ok(NewKey {
                member_id,
                uid,
                label,
                key_type,
                access_type,
                expires_at,
            })
        }
        _ => Err(AppError::Validation(v.into_errors())),
    }
}

pub async fn register_key(
    State(app): State<App>,
    WebAdmin(who): WebAdmin,
    WebPath(id): WebPath<MemberId>,
    form: WebForm,
) -> Result<Response, WebError> {
    let result = match parse_key(id, &form) {
        Ok(new) => keys::register(&app, &who.principal, new).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/members/{id}?done=key")).into_response()),
        Err(e) => {
            let mut errors = form_errors(e)?;
            // The API names the expiry `expires_at`; the form asks for a date.
            if let Some(m) = errors.remove("expires_at") {
                errors.insert("expires_on".into(), m);
            }
            let target = members::get(&app, &who.principal, id).await?;
            let none = FieldErrors::new();
            let errs = MemberPageErrors {
                edit: &none,
                key: &errors,
                key_form: Some(&form),
            };
            let html = member_page(&app, &who, &target, None, errs).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
        }
    }
}

pub async fn revoke_key(
    State(app): State<App>,
    WebAdmin(who): WebAdmin,
    WebPath((member_id, key_id)): WebPath<(MemberId, KeyId)>,
    form: WebForm,
) -> Result<Response, WebError> {
    let reason = parse_label(form.get("reason"))
        .map_err(|m| WebError::for_viewer(AppError::field("reason", m), &who))?;
    let reason = Some(reason).filter(|r| !r.is_empty());
    keys::revoke(&app, &who.principal, key_id, reason)
        .await
        .map_err(|e| WebError::for_viewer(e, &who))?;
    Ok(Redirect::to(&format!("/members/{member_id}?done=revoked")).into_response())
}

/// An admin enrols a guarantor's authenticator, like `POST /members/{id}/totp`.
pub async fn enrol_totp(
    State(app): State<App>,
    WebAdmin(who): WebAdmin,
    WebPath(id): WebPath<MemberId>,
    _form: WebForm,
) -> Result<Response, WebError> {
    let enrolment = keypad::enrol_totp(&app, By::Admin(&who.principal.member), id)
        .await
        .map_err(|e| WebError::for_viewer(e, &who))?;
    keypad_secret_page(&app, &who, id, &Secret::Totp(enrolment)).await
}

/// An admin issues a guarantor's backup sheet, like `POST /members/{id}/backup-codes`.
pub async fn issue_backup_codes(
    State(app): State<App>,
    WebAdmin(who): WebAdmin,
    WebPath(id): WebPath<MemberId>,
    _form: WebForm,
) -> Result<Response, WebError> {
    let sheet = keypad::issue_sheet(&app, By::Admin(&who.principal.member), id)
        .await
        .map_err(|e| WebError::for_viewer(e, &who))?;
    keypad_secret_page(&app, &who, id, &Secret::Sheet(sheet)).await
}

/// The secret is the answer itself (never a redirect, never in a URL).
async fn keypad_secret_page(
    app: &App,
    who: &crate::app::web_session::WebSession,
    id: MemberId,
    secret: &Secret,
) -> Result<Response, WebError> {
    let target = members::get(app, &who.principal, id).await?;
    let viewer = Viewer::from(who);
    Ok(page(
        Some(&viewer),
        "/members",
        &target.display_name,
        html! {
            h1 { "Keypad codes for " (target.display_name) }
            p { "Hand this over to " (target.display_name) " in person; it cannot be shown again." }
            (secret_section(secret))
            p { a href=(format!("/members/{}", target.id)) { "Back to " (target.display_name) } }
        },
    )
    .into_response())
}
