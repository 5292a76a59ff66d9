//! Allow-list (admin): the newest version, its size and signature, the
//! signing mode and sub-key expiry, warnings; in air-gapped mode the
//! unsigned list to download and the signed one to upload; and the explain
//! form: the decision a door would take for a UID at a time (after a power
//! cut, for grace), and the rules behind it.

use super::error::WebError;
use super::layout::{
    csrf_field, field, fmt_time, notice, page, parse_local_input, space_tz, Viewer,
};
use super::session::WebAdmin;
use crate::app::allowlist::{self, Explanation};
use crate::app::web_session::WebSession;
use crate::app::{App, AppError};
use crate::config::SigningMode;
use crate::domain::key::Uid;
use crate::domain::{FieldErrors, ZoneId};
use axum::extract::multipart::{Multipart, MultipartError, MultipartRejection};
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use maud::{html, Markup};
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct ZoneQuery {
    zone_id: Option<ZoneId>,
}

#[derive(Deserialize, Default)]
pub struct ExplainQuery {
    uid: Option<String>,
    /// `datetime-local` in the space's time zone; empty = now.
    at: Option<String>,
    /// When the door lost power (`datetime-local`), for grace; empty = never.
    last_shutdown: Option<String>,
    /// The version of a signed list just uploaded.
    uploaded: Option<i64>,
}

/// A `datetime-local` field of the explain form; empty = `None`.
fn explain_time(
    name: &str,
    raw: Option<&str>,
    errors: &mut FieldErrors,
) -> Result<Option<i64>, ()> {
    match raw.map(str::trim).filter(|a| !a.is_empty()) {
        None => Ok(None),
        Some(a) => parse_local_input(a)
            .map(|t| Some(t.timestamp()))
            .map_err(|m| {
                errors.insert(name.into(), m);
            }),
    }
}

fn explanation(e: &Explanation) -> Markup {
    html! {
        section.preview.explanation aria-live="polite" {
            h2 { "UID " (e.uid.as_str()) " at " (fmt_time(e.at)) " – zone " (e.zone.name) }
            dl.facts {
                dt { "Doors decide" }
                dd.decision { @match e.decision { Some(d) => (d.as_str()), None => "no signed list yet" } }
                @if e.decision.map(|d| d.as_str()) != Some(e.projected_decision.as_str()) {
                    dt { "After the next list" } dd { (e.projected_decision.as_str()) }
                }
                dt { "In list" } dd { @match e.list_version { Some(v) => { @if e.in_list { "yes" } @else { "no" } " (v" (v) ")" }, None => "–" } }
                @if let Some(why) = &e.excluded_because { dt { "Not in the list because" } dd { (why) } }
            }
            @if let Some(k) = &e.key {
                h3 { "Rules" }
                div.table-wrap { table {
                    thead { tr { th { "Rule" } th { "Type" } th { "Outcome" } th { "Note" } } }
                    tbody { @for r in &k.rules {
                        tr { td { (r.name) } td { (r.rule_type) } td { (r.outcome.as_str()) } td { (r.note.as_deref().unwrap_or("")) } }
                    } }
                } }
            }
        }
    }
}

pub async fn show(
    State(app): State<App>,
    WebAdmin(who): WebAdmin,
    Query(q): Query<ExplainQuery>,
) -> Result<Response, WebError> {
    allowlist_page(&app, &who, &q, &FieldErrors::new()).await
}

/// The page; `upload_errors` are those of the upload form just sent.
async fn allowlist_page(
    app: &App,
    who: &WebSession,
    q: &ExplainQuery,
    upload_errors: &FieldErrors,
) -> Result<Response, WebError> {
    let viewer = Viewer::from(who);
    let status = allowlist::status(app).await?;
    let mut errors = FieldErrors::new();
    let mut explained = None;
    if let Some(raw_uid) = q.uid.as_deref().filter(|u| !u.trim().is_empty()) {
        let uid = Uid::parse(raw_uid).map_err(|m| errors.insert("uid".into(), m.into()));
        let at = explain_time("at", q.at.as_deref(), &mut errors);
        let last_shutdown = explain_time("last_shutdown", q.last_shutdown.as_deref(), &mut errors);
        if let (Ok(uid), Ok(at), Ok(last_shutdown)) = (uid, at, last_shutdown) {
            let at = at.unwrap_or_else(|| Utc::now().timestamp());
            match allowlist::explain(
                app,
                uid,
                at,
                last_shutdown,
                allowlist::ExplainAt::Everywhere,
            )
            .await
            {
                Ok(e) => explained = Some(e),
                Err(AppError::Validation(f)) => errors.extend(f),
                Err(e) => return Err(WebError::for_viewer(e, who)),
            }
        }
    }
    let air_gapped = app.signing.mode == SigningMode::AirGapped;
    let tz = space_tz();
    let body = html! {
        h1 { "Allow-list" }
        (notice(q.uploaded.map(|v| format!("Signed list v{v} uploaded: the zone's doors get it at their next poll.")).as_deref()))
        @if !status.warnings.is_empty() {
            section.alerts { ul { @for w in &status.warnings { li { (w) } } } }
        }
        @for z in &status.zones {
            h2 { "Zone " (z.zone.name) }
            dl.facts {
                dt { "Newest version" }
                dd { @match &z.latest { Some(l) => { "v" (l.version) ", built " (fmt_time(l.generated_at)) }, None => "none built yet" } }
                dt { "Entries" } dd { (z.latest.as_ref().map_or(0, |l| l.entry_count)) }
                dt { "Size" } dd { (z.latest.as_ref().map_or(0, |l| l.unsigned_bytes.len())) " bytes" }
                dt { "Valid until" } dd { (z.latest.as_ref().map(|l| fmt_time(l.valid_until)).unwrap_or_default()) }
                dt { "Doors are served" }
                dd { @match &z.latest_signed { Some(l) => { "v" (l.version) " (signed " (l.signed_at.map(fmt_time).unwrap_or_default()) ")" }, None => "nothing signed yet" } }
            }
        }
        dl.facts {
            dt { "Signing" } dd { @if air_gapped { "air-gapped (signed offline)" } @else { "online sub-key" } }
            @if let Some(k) = status.signer_key_id { dt { "Signing key id" } dd { (k) } }
            @if let Some(t) = status.subkey_expires_at { dt { "Sub-key expires" } dd { (fmt_time(t)) } }
        }
        @if air_gapped {
            section {
                h2 { "Sign offline" }
                p { "Download the newest list of a zone, sign it with " code { "openlatch keys sign" } " on the offline machine, "
                    "and upload the signed file here (or with " code { "PUT /api/v1/admin/allowlist/signed" } ")." }
                @for z in &status.zones {
                    a.button href=(format!("/allowlist/unsigned?zone_id={}", z.zone.id)) download { "Download the unsigned list of zone " (z.zone.name) }
                    " "
                }
                form.stack.upload method="post" action="/allowlist/signed" enctype="multipart/form-data" {
                    (csrf_field(&viewer))
                    div.field {
                        label for="f-upload-zone" { "Zone" }
                        select id="f-upload-zone" name="zone_id" {
                            @for z in &status.zones { option value=(z.zone.id) { (z.zone.name) } }
                        }
                        (super::layout::field_error("zone_id", upload_errors))
                    }
                    (field("Signed list (.ol02)", "list", "file", "", upload_errors, true))
                    button type="submit" { "Upload the signed list" }
                }
            }
        }
        section {
            h2 { "Explain a decision" }
            form.stack method="get" action="/allowlist" {
                (field("Card UID (hex)", "uid", "text", q.uid.as_deref().unwrap_or(""), &errors, true))
                (field(&format!("At ({}; empty = now)", tz.name()), "at", "datetime-local", q.at.as_deref().unwrap_or(""), &errors, false))
                (field(&format!("Door lost power at ({}; for grace, optional)", tz.name()), "last_shutdown", "datetime-local", q.last_shutdown.as_deref().unwrap_or(""), &errors, false))
                button type="submit" { "Explain" }
            }
            @if let Some(all) = &explained { @for e in all { (explanation(e)) } }
        }
    };
    let status_code = if errors.is_empty() && upload_errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((
        status_code,
        page(Some(&viewer), "/allowlist", "Allow-list", body),
    )
        .into_response())
}

fn multipart_error(e: MultipartError) -> AppError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        AppError::PayloadTooLarge
    } else {
        AppError::BadRequest(e.body_text())
    }
}

/// Air-gapped mode: the signed list of a zone, uploaded as a file (a
/// multipart form, so its own CSRF check), through the API's use case:
/// verified against the master public key, the zone's newest build, newer
/// than what its doors were served.
pub async fn upload_signed(
    State(app): State<App>,
    WebAdmin(who): WebAdmin,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, WebError> {
    let mut multipart = multipart.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let (mut csrf, mut zone, mut list) = (String::new(), String::new(), Vec::new());
    while let Some(f) = multipart.next_field().await.map_err(multipart_error)? {
        let name = f.name().map(str::to_owned);
        match name.as_deref() {
            Some(super::csrf::FIELD) => csrf = f.text().await.map_err(multipart_error)?,
            Some("zone_id") => zone = f.text().await.map_err(multipart_error)?,
            Some("list") => list = f.bytes().await.map_err(multipart_error)?.to_vec(),
            _ => {}
        }
    }
    if !who.csrf_matches(&csrf) {
        return Err(WebError::csrf());
    }
    let mut errors = FieldErrors::new();
    let zone_id = zone
        .trim()
        .parse::<ZoneId>()
        .map_err(|_| errors.insert("zone_id".into(), "no zone with this id".into()));
    if list.is_empty() {
        errors.insert("list".into(), "choose the signed list file".into());
    }
    let result = match zone_id {
        Ok(zone_id) if errors.is_empty() => {
            allowlist::upload_signed(&app, &who.principal, zone_id, &list).await
        }
        _ => Err(AppError::Validation(errors)),
    };
    match result {
        Ok(version) => Ok(Redirect::to(&format!("/allowlist?uploaded={version}")).into_response()),
        Err(AppError::Validation(errors)) => {
            // The use case names the file's problems `body` or `version`: both are the file here.
            let errors: FieldErrors = errors
                .into_iter()
                .map(|(k, m)| match k.as_str() {
                    "body" | "version" => ("list".to_owned(), m),
                    _ => (k, m),
                })
                .collect();
            allowlist_page(&app, &who, &ExplainQuery::default(), &errors).await
        }
        Err(e) => Err(WebError::for_viewer(e, &who)),
    }
}

/// Air-gapped mode: the newest built list, unsigned, as a file.
pub async fn unsigned(
    State(app): State<App>,
    WebAdmin(who): WebAdmin,
    Query(q): Query<ZoneQuery>,
) -> Result<Response, WebError> {
    let zone = q.zone_id.unwrap_or(ZoneId::MAIN);
    let (version, bytes) = allowlist::unsigned(&app, zone)
        .await
        .map_err(|e| WebError::for_viewer(e, &who))?;
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"allowlist-v{version}.ol02\""
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}
