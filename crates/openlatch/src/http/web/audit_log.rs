//! The audit log (admin and keyholder, as `GET /api/v1/audit-log`):
//! filters by type, actor, target and time, paging, and a CSV download of
//! the same filtered view (`/audit-log.csv`, the API's export, with the
//! session cookie instead of a bearer token).

use super::error::WebError;
use super::layout::{page, Viewer};
use super::session::WebStaff;
use crate::app::ui::audit_log::{self, AuditFilter};
use crate::app::{App, AppError};
use crate::domain::audit::event as server_event;
use crate::domain::device::event as door_event;
use crate::domain::{FieldErrors, Validation};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use maud::{html, Markup};
use serde::Deserialize;

pub const PER_PAGE: usize = 50;

/// The filter form as sent; every field is text so a bad value becomes a
/// message next to its field instead of a refused request.
#[derive(Deserialize, Default, Clone)]
pub struct FilterForm {
    #[serde(default)]
    event_type: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    page: Option<usize>,
}

/// Event types offered as suggestions (the field takes any event name).
fn known_event_types() -> Vec<&'static str> {
    let mut all: Vec<&str> = door_event::ALL.to_vec();
    all.extend([
        server_event::MEMBER_CREATED,
        server_event::MEMBER_UPDATED,
        server_event::MEMBER_DEACTIVATED,
        server_event::PASSWORD_CHANGED,
        server_event::KEY_REGISTERED,
        server_event::KEY_REVOKED,
        server_event::LOGIN_FAILED,
        server_event::LOGIN_SUCCEEDED,
        server_event::LOGGED_OUT,
        server_event::DEVICE_REGISTERED,
        server_event::DEVICE_UPDATED,
        server_event::DEVICE_DELETED,
        server_event::DEVICE_TOKEN_ROTATED,
        server_event::DEVICE_MOVED,
        server_event::RULE_CREATED,
        server_event::RULE_UPDATED,
        server_event::RULE_DELETED,
        server_event::ALLOWLIST_GENERATED,
        server_event::ALLOWLIST_SIGNED,
        server_event::MEMBERS_IMPORTED,
        server_event::ZONE_CREATED,
        server_event::ZONE_UPDATED,
        server_event::ZONE_DELETED,
        "anomaly_detected",
    ]);
    all.sort_unstable();
    all
}

/// A time typed into the form, in UTC (the UI shows UTC everywhere):
/// what a `datetime-local` input sends (`2026-11-26T17:30`, seconds
/// optional), a date alone (its midnight), or RFC 3339 with an offset.
fn parse_form_time(raw: &str) -> Result<DateTime<Utc>, &'static str> {
    const MESSAGE: &str = "must be a time such as 2026-11-26T17:30 (UTC) or a date";
    let raw = raw.trim();
    if let Ok(t) = crate::domain::parse_time(raw) {
        return Ok(t);
    }
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(raw, f).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
        .map(|t| DateTime::<Utc>::from_naive_utc_and_offset(t, Utc))
        .ok_or(MESSAGE)
}

fn parse_filter(f: &FilterForm) -> Result<AuditFilter, AppError> {
    let mut v = Validation::default();
    let opt = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let since = v.optional("since", opt(&f.since).map(|s| parse_form_time(&s)));
    let until = v.optional("until", opt(&f.until).map(|s| parse_form_time(&s)));
    match (since, until) {
        (Some(since), Some(until)) if v.is_ok() => Ok(AuditFilter {
            event_type: opt(&f.event_type),
            actor: opt(&f.actor),
            target: opt(&f.target),
            since,
            until,
        }),
        _ => Err(AppError::Validation(v.into_errors())),
    }
}

/// The query string of the filters (without the page).
fn filter_query(f: &FilterForm) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("event_type", &f.event_type),
        ("actor", &f.actor),
        ("target", &f.target),
        ("since", &f.since),
        ("until", &f.until),
    ] {
        if !v.trim().is_empty() {
            s.append_pair(k, v.trim());
        }
    }
    s.finish()
}

fn with_query(path: &str, query: &str) -> String {
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

fn filter_field(label: &str, name: &str, kind: &str, value: &str, errors: &FieldErrors) -> Markup {
    let error = errors.get(name);
    let id = format!("f-{name}");
    html! {
        div.field.invalid[error.is_some()] {
            label for=(id) { (label) }
            input id=(id) name=(name) type=(kind) value=(value)
                list=[(name == "event_type").then_some("event-types")]
                aria-invalid=[error.map(|_| "true")]
                aria-describedby=[error.map(|_| format!("{id}-error"))];
            @if let Some(e) = error {
                p.field-error id=(format!("{id}-error")) { (label) " " (e) }
            }
        }
    }
}

fn filter_form(f: &FilterForm, errors: &FieldErrors) -> Markup {
    html! {
        form.filters method="get" action="/audit-log" role="search" novalidate {
            (filter_field("Type", "event_type", "text", &f.event_type, errors))
            datalist id="event-types" {
                @for t in known_event_types() { option value=(t) {} }
            }
            (filter_field("Actor (username, door or id)", "actor", "text", &f.actor, errors))
            (filter_field("Target (username, door or id)", "target", "text", &f.target, errors))
            (filter_field("From (UTC)", "since", "datetime-local", &f.since, errors))
            (filter_field("Until (UTC, not included)", "until", "datetime-local", &f.until, errors))
            div.filter-actions {
                button type="submit" { "Filter" }
                a href="/audit-log" { "Clear" }
            }
        }
    }
}

/// The API's own field names, as the form names them.
fn form_errors(mut errors: FieldErrors) -> FieldErrors {
    for (api, form) in [("actor_id", "actor"), ("target_id", "target")] {
        if let Some(m) = errors.remove(api) {
            errors.insert(form.into(), m);
        }
    }
    errors
}

pub async fn show(
    State(app): State<App>,
    WebStaff(who): WebStaff,
    Query(form): Query<FilterForm>,
) -> Result<Response, WebError> {
    let viewer = Viewer::from(&who);
    let page_no = form.page.unwrap_or(1).max(1);
    let found = match parse_filter(&form) {
        Ok(filter) => audit_log::audit_log(&app, &filter, page_no, PER_PAGE).await,
        Err(e) => Err(e),
    };
    let (found, errors) = match found {
        Ok(found) => (Some(found), FieldErrors::new()),
        Err(AppError::Validation(errors)) => (None, form_errors(errors)),
        Err(e) => return Err(WebError::for_viewer(e, &who)),
    };
    let query = filter_query(&form);
    let link = |p: usize| {
        let page = format!("page={p}");
        with_query(
            "/audit-log",
            &[query.as_str(), page.as_str()]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join("&"),
        )
    };
    let body = html! {
        h1 { "Audit log" }
        (filter_form(&form, &errors))
        @if let Some(found) = &found {
            div.toolbar {
                p.muted { "Newest first, page " (found.page) ". Times in UTC." }
                a.button href=(with_query("/audit-log.csv", &query)) download="audit-log.csv" { "Download CSV" }
            }
            @if found.entries.is_empty() {
                p.muted { "No entries match." }
            } @else {
                div.table-wrap { table.audit {
                    thead { tr { th { "When" } th { "Event" } th { "Actor" } th { "Target" } th { "Details" } } }
                    tbody { @for e in &found.entries {
                        @let name = |id: &Option<String>| id.as_ref().map(|i| found.names.get(i).cloned().unwrap_or_else(|| i.clone()));
                        tr {
                            td { (e.created_at.format("%Y-%m-%d %H:%M:%S")) }
                            td { (e.event_type) }
                            td { @match name(&e.actor_id) {
                                Some(n) => span title=[e.actor_id.as_deref()] { (n) },
                                None => span.muted { "server" },
                            } }
                            td { @if let Some(n) = name(&e.target_id) { span title=[e.target_id.as_deref()] { (n) } } }
                            td.mono.details { (details_text(&e.details)) }
                        }
                    } }
                } }
            }
            @if found.page > 1 || found.has_more {
                nav.paging aria-label="Pages" {
                    @if found.page > 1 { a href=(link(found.page - 1)) rel="prev" { "← Newer" } }
                    span { "Page " (found.page) }
                    @if found.has_more { a href=(link(found.page + 1)) rel="next" { "Older →" } }
                }
            }
        }
    };
    let html = page(Some(&viewer), "/audit-log", "Audit log", body);
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((status, html).into_response())
}

/// Details without the `actor_kind` every row carries (the actor column says it).
fn details_text(details: &serde_json::Value) -> String {
    match details {
        serde_json::Value::Object(map) => {
            let mut map = map.clone();
            map.remove("actor_kind");
            if map.is_empty() {
                String::new()
            } else {
                serde_json::Value::Object(map).to_string()
            }
        }
        other => other.to_string(),
    }
}

/// The filtered view as CSV, exactly as `GET /api/v1/audit-log?format=csv`
/// writes it.
pub async fn csv(
    State(app): State<App>,
    WebStaff(who): WebStaff,
    Query(form): Query<FilterForm>,
) -> Result<Response, WebError> {
    let body = match parse_filter(&form) {
        Ok(filter) => audit_log::audit_log_csv(&app, &filter).await,
        Err(e) => Err(e),
    }
    .map_err(|e| WebError::for_viewer(e, &who))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"audit-log.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}
