//! Settings (admin): the space's time zone, which the UI shows times in
//! and draws the week view in. Validated like the API (`PUT /settings`).

use super::csrf::WebForm;
use super::error::WebError;
use super::layout::{csrf_field, field, notice, page, Viewer};
use super::session::WebAdmin;
use crate::app::settings::{self, Settings, TimeZoneSource};
use crate::app::web_session::WebSession;
use crate::app::App;
use crate::domain::space::parse_time_zone;
use crate::domain::FieldErrors;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

fn settings_page(
    who: &WebSession,
    current: &Settings,
    value: &str,
    errors: &FieldErrors,
    done: bool,
) -> Markup {
    let viewer = Viewer::from(who);
    let effective = current.effective_time_zone.name();
    page(
        Some(&viewer),
        "/settings",
        "Settings",
        html! {
            h1 { "Settings" }
            (notice(done.then_some("Time zone saved.")))
            section {
                h2 { "Time zone of the space" }
                p {
                    "Times on these pages and the week views are shown in "
                    strong.tz-effective { (effective) }
                    @match current.time_zone_source {
                        TimeZoneSource::Setting => " (set here).",
                        TimeZoneSource::FirstTimeWindowRule => " (not set here: the zone of the first time-window rule).",
                        TimeZoneSource::Default => " (not set here, and no time-window rule names one).",
                    }
                    " Time-window rules keep their own zones."
                }
                form.stack method="post" action="/settings" novalidate {
                    (csrf_field(&viewer))
                    (field("IANA time zone (e.g. Europe/Berlin)", "time_zone", "text", value, errors, true))
                    button type="submit" { "Save" }
                }
            }
        },
    )
}

pub async fn show(
    State(app): State<App>,
    WebAdmin(who): WebAdmin,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    let current = settings::get(&app).await?;
    let value = current.time_zone.map(|t| t.name()).unwrap_or_default();
    Ok(settings_page(&who, &current, value, &FieldErrors::new(), q.done.is_some()).into_response())
}

pub async fn save(
    State(app): State<App>,
    WebAdmin(who): WebAdmin,
    form: WebForm,
) -> Result<Response, WebError> {
    let raw = form.get("time_zone");
    match parse_time_zone(raw) {
        Ok(tz) => {
            settings::set_time_zone(&app, &who.principal, Some(tz))
                .await
                .map_err(|e| WebError::for_viewer(e, &who))?;
            Ok(Redirect::to("/settings?done=saved").into_response())
        }
        Err(message) => {
            let current = settings::get(&app).await?;
            let mut errors = FieldErrors::new();
            errors.insert("time_zone".into(), message.into());
            let html = settings_page(&who, &current, raw, &errors, false);
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
        }
    }
}
