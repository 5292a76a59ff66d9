//! The page shell: head with the embedded, versioned CSS and script, the
//! navigation the viewer's role may use, small helpers for forms, and the
//! space's time zone that times are shown in.

use super::assets;
use crate::app::web_session::WebSession;
use crate::app::{settings, App};
use crate::domain::member::{Member, Role};
use crate::domain::FieldErrors;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use maud::{html, Markup, DOCTYPE};

/// Who is looking at a page, and the token their forms carry.
#[derive(Clone, Debug)]
pub struct Viewer {
    pub member: Member,
    pub csrf: String,
}

impl From<&WebSession> for Viewer {
    fn from(s: &WebSession) -> Self {
        Self {
            member: s.principal.member.clone(),
            csrf: s.csrf_token(),
        }
    }
}

impl Viewer {
    pub fn is_staff(&self) -> bool {
        self.member.role >= Role::Keyholder
    }
    pub fn is_admin(&self) -> bool {
        self.member.role == Role::Admin
    }
}

/// Navigation entries: path, label, lowest role that may open it.
const NAV: &[(&str, &str, Role)] = &[
    ("/", "Dashboard", Role::Keyholder),
    ("/approvals", "Approvals", Role::Keyholder),
    ("/members", "Members", Role::Keyholder),
    ("/rules", "Rules", Role::Keyholder),
    ("/doors", "Doors", Role::Admin),
    ("/allowlist", "Allow-list", Role::Admin),
    ("/overrides", "Overrides", Role::Admin),
    ("/settings", "Settings", Role::Admin),
    ("/audit-log", "Audit log", Role::Keyholder),
    ("/me", "Me", Role::Guest),
];

/// A whole page. `current` is the navigation path to mark.
pub fn page(viewer: Option<&Viewer>, current: &str, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · OpenLatch" }
                link rel="stylesheet" href=(assets::css_url());
                script src=(assets::js_url()) defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/" { "OpenLatch" }
                    @if let Some(v) = viewer {
                        nav aria-label="Main" {
                            ul {
                                @for (path, label, min) in NAV {
                                    @if v.member.role >= *min {
                                        li {
                                            a href=(path) aria-current=[(*path == current).then_some("page")] { (label) }
                                        }
                                    }
                                }
                            }
                        }
                        form.logout method="post" action="/logout" {
                            (csrf_field(v))
                            span.who { (v.member.display_name) " (" (v.member.role.as_str()) ")" }
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main id="main" { (body) }
            }
        }
    }
}

pub fn csrf_field(v: &Viewer) -> Markup {
    html! { input type="hidden" name=(super::csrf::FIELD) value=(v.csrf); }
}

/// A labelled input with its error message (from the same validation as the API).
pub fn field(
    label: &str,
    name: &str,
    kind: &str,
    value: &str,
    errors: &FieldErrors,
    required: bool,
) -> Markup {
    let error = errors.get(name);
    let id = format!("f-{}", name.replace(['.', '[', ']'], "-"));
    html! {
        div.field.invalid[error.is_some()] {
            label for=(id) { (label) }
            input id=(id) name=(name) type=(kind) value=(value) required[required]
                aria-invalid=[error.map(|_| "true")]
                aria-describedby=[error.map(|_| format!("{id}-error"))];
            @if let Some(e) = error {
                p.field-error id=(format!("{id}-error")) { (label) " " (e) }
            }
        }
    }
}

/// A field's error alone, for inputs built by hand.
pub fn field_error(name: &str, errors: &FieldErrors) -> Markup {
    html! {
        @if let Some(e) = errors.get(name) {
            p.field-error { (e) }
        }
    }
}

tokio::task_local! {
    /// The space's time zone while a UI request is handled: every page
    /// shows times in it without passing it through each template.
    static SPACE_TZ: Tz;
}

/// Reads the space's time zone (`app::settings`) once per UI request.
pub async fn with_space_time_zone(State(app): State<App>, req: Request, next: Next) -> Response {
    if req.uri().path().starts_with("/static/") {
        return next.run(req).await;
    }
    let tz = settings::space_time_zone(&app).await.unwrap_or_else(|e| {
        // The page itself will most likely fail on the same database and say so.
        tracing::warn!(error = %e, "reading the space time zone");
        chrono_tz::UTC
    });
    SPACE_TZ.scope(tz, next.run(req)).await
}

/// Runs `render` with times shown in `tz`, for pages rendered outside a
/// request (the live approvals stream).
pub fn in_space_tz<R>(tz: Tz, render: impl FnOnce() -> R) -> R {
    SPACE_TZ.sync_scope(tz, render)
}

/// The space's time zone (UTC outside a UI request).
pub fn space_tz() -> Tz {
    SPACE_TZ.try_with(|tz| *tz).unwrap_or(chrono_tz::UTC)
}

/// A moment in the space's time zone, with the zone's abbreviation.
pub fn fmt_time(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| {
            t.with_timezone(&space_tz())
                .format("%Y-%m-%d %H:%M %Z")
                .to_string()
        })
        .unwrap_or_default()
}

/// A moment as a `datetime-local` value, in the space's time zone.
pub fn local_input(t: DateTime<Utc>) -> String {
    t.with_timezone(&space_tz())
        .format("%Y-%m-%dT%H:%M")
        .to_string()
}

/// A `datetime-local` value, read in the space's time zone. Of a time the
/// clocks pass twice (DST ends) the first is meant.
pub fn parse_local_input(raw: &str) -> Result<DateTime<Utc>, String> {
    let tz = space_tz();
    let local = NaiveDateTime::parse_from_str(raw.trim(), "%Y-%m-%dT%H:%M")
        .map_err(|_| "must be a date and time".to_owned())?;
    tz.from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| format!("does not exist in {} (the clocks skip it)", tz.name()))
}

/// A notice shown once after a post/redirect/get (`?done=...`).
pub fn notice(text: Option<&str>) -> Markup {
    html! {
        @if let Some(t) = text {
            p.notice role="status" { (t) }
        }
    }
}
