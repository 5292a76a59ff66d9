//! Allow-list (admin): the newest version, its size and signature, the
//! signing mode and sub-key expiry, warnings; in air-gapped mode the
//! unsigned list to download; and the explain form: the decision a door
//! would take for a UID at a time, and the rules behind it.

use super::error::WebError;
use super::layout::{fmt_time, page, Viewer};
use super::session::WebAdmin;
use crate::app::allowlist::{self, Explanation};
use crate::app::{App, AppError};
use crate::config::SigningMode;
use crate::domain::key::Uid;
use crate::domain::{FieldErrors, ZoneId};
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDateTime, Utc};
use maud::{html, Markup};
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct ZoneQuery {
    zone_id: Option<ZoneId>,
}

#[derive(Deserialize, Default)]
pub struct ExplainQuery {
    uid: Option<String>,
    /// `datetime-local`, UTC; empty = now.
    at: Option<String>,
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
    let viewer = Viewer::from(&who);
    let status = allowlist::status(&app).await?;
    let mut errors = FieldErrors::new();
    let mut explained = None;
    if let Some(raw_uid) = q.uid.as_deref().filter(|u| !u.trim().is_empty()) {
        let uid = Uid::parse(raw_uid).map_err(|m| errors.insert("uid".into(), m.into()));
        let at = match q.at.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
            None => Ok(Utc::now().timestamp()),
            Some(a) => NaiveDateTime::parse_from_str(a, "%Y-%m-%dT%H:%M")
                .map(|t| t.and_utc().timestamp())
                .map_err(|_| {
                    errors.insert("at".into(), "must be a date and time".into());
                }),
        };
        if let (Ok(uid), Ok(at)) = (uid, at) {
            match allowlist::explain(&app, uid, at, None, allowlist::ExplainAt::Everywhere).await {
                Ok(e) => explained = Some(e),
                Err(AppError::Validation(f)) => errors.extend(f),
                Err(e) => return Err(WebError::for_viewer(e, &who)),
            }
        }
    }
    let air_gapped = app.signing.mode == SigningMode::AirGapped;
    let body = html! {
        h1 { "Allow-list" }
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
                p { "Download the newest list, sign it with " code { "openlatch keys sign" } " on the offline machine, "
                    "and upload it with " code { "PUT /api/v1/admin/allowlist/signed" } "." }
                @for z in &status.zones {
                    a.button href=(format!("/allowlist/unsigned?zone_id={}", z.zone.id)) download { "Download the unsigned list of zone " (z.zone.name) }
                    " "
                }
            }
        }
        section {
            h2 { "Explain a decision" }
            form.stack method="get" action="/allowlist" {
                (super::layout::field("Card UID (hex)", "uid", "text", q.uid.as_deref().unwrap_or(""), &errors, true))
                (super::layout::field("At (UTC; empty = now)", "at", "datetime-local", q.at.as_deref().unwrap_or(""), &errors, false))
                button type="submit" { "Explain" }
            }
            @if let Some(all) = &explained { @for e in all { (explanation(e)) } }
        }
    };
    let status_code = if errors.is_empty() {
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
