//! Overrides: "Lock down now" and "Open until …", each behind a
//! confirmation, and what is active until when. An override is a
//! `global_override` rule, so the compiler, the audit log and the doors
//! treat it like any other rule; ending one deletes that rule.

use super::csrf::WebForm;
use super::error::WebError;
use super::layout::{
    csrf_field, field, fmt_time, notice, page, parse_local_input, space_tz, Viewer,
};
use super::session::{WebAdmin, WebPath};
use crate::app::rules::{self, NewRule};
use crate::app::{ui, App, AppError};
use crate::domain::rule::{GlobalOverride, OverrideMode, RuleParams};
use crate::domain::{FieldErrors, RuleId};
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

async fn overrides_page(
    app: &App,
    viewer: &Viewer,
    done: Option<&str>,
    until_value: &str,
    errors: &FieldErrors,
) -> Result<Markup, WebError> {
    let active = ui::active_overrides(&rules::list(app).await?, Utc::now().timestamp());
    Ok(page(
        Some(viewer),
        "/overrides",
        "Overrides",
        html! {
            h1 { "Overrides" }
            (notice(done.map(|d| match d {
                "lockdown" => "Lockdown is on. Doors refuse everyone but admins and emergency keys as soon as they fetch the new list.",
                "open" => "The doors stay open until the time you set.",
                "ended" => "Override ended: the rules apply again.",
                _ => "Done.",
            })))
            section {
                h2 { "Active now" }
                @if active.is_empty() {
                    p id="no-override" { "No override: the rules apply as written." }
                } @else {
                    ul.overrides id="active-overrides" {
                        @for r in &active {
                            li {
                                @if let RuleParams::GlobalOverride(o) = &r.params {
                                    strong { @match o.mode { OverrideMode::Lockdown => "Lockdown", OverrideMode::Open => "Open" } }
                                    " – " (r.name)
                                    @match o.until { Some(u) => { " until " (fmt_time(u.timestamp())) }, None => { " until ended" } }
                                }
                                form.inline method="post" action=(format!("/overrides/{}/end", r.id))
                                    data-confirm="End this override? The normal rules apply again." {
                                    (csrf_field(viewer))
                                    button type="submit" { "End override" }
                                }
                            }
                        }
                    }
                }
            }
            section {
                h2 { "Lock down" }
                p { "Only admins and emergency keys open the doors until the lockdown is ended." }
                form method="post" action="/overrides/lockdown"
                    data-confirm="Lock down every door now?" {
                    (csrf_field(viewer))
                    button.danger type="submit" { "Lock down now" }
                }
            }
            section {
                h2 { "Open the doors" }
                form.stack method="post" action="/overrides/open"
                    data-confirm="Open every door for everyone until this time?" {
                    (csrf_field(viewer))
                    (field(&format!("Open until ({})", space_tz().name()), "until", "datetime-local", until_value, errors, true))
                    button type="submit" { "Open until this time" }
                }
            }
        },
    ))
}

pub async fn page_handler(
    app: &App,
    who: &WebAdmin,
    done: Option<&str>,
) -> Result<Response, WebError> {
    let viewer = Viewer::from(&who.0);
    Ok(overrides_page(app, &viewer, done, "", &FieldErrors::new())
        .await?
        .into_response())
}

pub async fn show(
    State(app): State<App>,
    who: WebAdmin,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    page_handler(&app, &who, q.done.as_deref()).await
}

async fn create_override(
    app: &App,
    who: &WebAdmin,
    mode: OverrideMode,
    until: Option<chrono::DateTime<Utc>>,
) -> Result<(), AppError> {
    let name = match mode {
        OverrideMode::Lockdown => format!("Lockdown by {}", who.0.principal.member.username),
        OverrideMode::Open => format!("Open by {}", who.0.principal.member.username),
    };
    rules::create(
        app,
        &who.0.principal,
        NewRule {
            name,
            params: RuleParams::GlobalOverride(GlobalOverride { mode, until }),
            priority: 1000,
            is_active: true,
            targets: Vec::new(),
            // Every zone: the board's lock-down button closes the whole space.
            zone_ids: Vec::new(),
        },
    )
    .await
    .map(|_| ())
}

pub async fn lockdown(
    State(app): State<App>,
    who: WebAdmin,
    _form: WebForm,
) -> Result<Response, WebError> {
    create_override(&app, &who, OverrideMode::Lockdown, None)
        .await
        .map_err(|e| WebError::for_viewer(e, &who.0))?;
    Ok(Redirect::to("/overrides?done=lockdown").into_response())
}

pub async fn open_until(
    State(app): State<App>,
    who: WebAdmin,
    form: WebForm,
) -> Result<Response, WebError> {
    let raw = form.get("until").trim().to_owned();
    let until = parse_local_input(&raw);
    let error = match &until {
        Err(m) => Some(m.clone()),
        Ok(t) if *t <= Utc::now() => Some("must be in the future".to_owned()),
        Ok(_) => None,
    };
    if let Some(message) = error {
        let viewer = Viewer::from(&who.0);
        let mut errors = FieldErrors::new();
        errors.insert("until".into(), message);
        let html = overrides_page(&app, &viewer, None, &raw, &errors).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response());
    }
    create_override(&app, &who, OverrideMode::Open, until.ok())
        .await
        .map_err(|e| WebError::for_viewer(e, &who.0))?;
    Ok(Redirect::to("/overrides?done=open").into_response())
}

pub async fn end(
    State(app): State<App>,
    who: WebAdmin,
    WebPath(id): WebPath<RuleId>,
    _form: WebForm,
) -> Result<Response, WebError> {
    let rule = rules::get(&app, id).await?;
    if !matches!(rule.params, RuleParams::GlobalOverride(_)) {
        return Err(WebError::for_viewer(AppError::NotFound("override"), &who.0));
    }
    rules::delete(&app, &who.0.principal, id)
        .await
        .map_err(|e| WebError::for_viewer(e, &who.0))?;
    Ok(Redirect::to("/overrides?done=ended").into_response())
}
