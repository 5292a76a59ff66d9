//! Doors (admin): the list with their state, registering a door, rotating
//! its token, disabling and enabling it. A new token is shown once, on the
//! page that answers the form (never stored in clear, never in a URL).

use super::csrf::WebForm;
use super::error::WebError;
use super::layout::{csrf_field, field, fmt_time, notice, page, Viewer};
use super::session::{WebAdmin, WebPath};
use crate::app::devices::{self, DevicePatch};
use crate::app::{ui, App, AppError};
use crate::domain::device::{parse_device_name, parse_location, Device, DeviceToken};
use crate::domain::{DeviceId, FieldErrors, Validation};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

/// What a form just did, shown above the list.
enum Outcome<'a> {
    None,
    Notice(&'a str),
    Token(&'a Device, &'a DeviceToken),
}

async fn doors_page(
    app: &App,
    viewer: &Viewer,
    outcome: Outcome<'_>,
    form: Option<&WebForm>,
    errors: &FieldErrors,
) -> Result<Markup, WebError> {
    let dashboard = ui::dashboard(app).await?;
    let value = |n: &str| form.map_or("", |f| f.get(n)).to_owned();
    Ok(page(
        Some(viewer),
        "/doors",
        "Doors",
        html! {
            h1 { "Doors" }
            @match outcome {
                Outcome::None => {}
                Outcome::Notice(text) => { (notice(Some(text))) }
                Outcome::Token(device, token) => {
                    section.token role="status" {
                        h2 { "Token for " (device.name) }
                        p { "Put this token into the door's configuration now. It is shown only this once; "
                            "if it is lost, rotate it." }
                        p { code.mono id="door-token" { (token.expose()) } }
                        button type="button" data-copy="door-token" { "Copy token" }
                    }
                }
            }
            div.table-wrap { table {
                thead { tr { th { "Door" } th { "State" } th { "Last heartbeat" } th { "Actions" } } }
                tbody { @for door in &dashboard.doors {
                    tr {
                        td { (door.device.name) @if let Some(l) = &door.device.location { br; small.muted { (l) } } }
                        td {
                            @if !door.device.is_enabled { span.badge.off { "disabled" } }
                            @else if door.online { span.badge.ok { "online" } }
                            @else { span.badge.bad { "offline" } }
                        }
                        td { @match &door.status { Some(s) => (fmt_time(s.received_at)), None => "never" } }
                        td.actions {
                            form.inline method="post" action=(format!("/doors/{}/rotate", door.device.id))
                                data-confirm=(format!("Rotate the token of {}? The door stops working until it has the new one.", door.device.name)) {
                                (csrf_field(viewer))
                                button type="submit" { "Rotate token" }
                            }
                            form.inline method="post" action=(format!("/doors/{}/enabled", door.device.id))
                                data-confirm=[door.device.is_enabled.then(|| format!("Disable {}? It can no longer fetch lists or report.", door.device.name))] {
                                (csrf_field(viewer))
                                input type="hidden" name="enabled" value=(if door.device.is_enabled { "false" } else { "true" });
                                button type="submit" { @if door.device.is_enabled { "Disable" } @else { "Enable" } }
                            }
                        }
                    }
                } }
            } }
            section {
                h2 { "Register a door" }
                form.stack method="post" action="/doors" novalidate {
                    (csrf_field(viewer))
                    (field("Name", "name", "text", &value("name"), errors, true))
                    (field("Location (optional)", "location", "text", &value("location"), errors, false))
                    button type="submit" { "Register door" }
                }
            }
        },
    ))
}

pub async fn show(
    State(app): State<App>,
    WebAdmin(who): WebAdmin,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    let outcome = match q.done.as_deref() {
        Some("disabled") => Outcome::Notice("Door disabled."),
        Some("enabled") => Outcome::Notice("Door enabled."),
        _ => Outcome::None,
    };
    let viewer = Viewer::from(&who);
    Ok(
        doors_page(&app, &viewer, outcome, None, &FieldErrors::new())
            .await?
            .into_response(),
    )
}

pub async fn register(
    State(app): State<App>,
    WebAdmin(who): WebAdmin,
    form: WebForm,
) -> Result<Response, WebError> {
    let viewer = Viewer::from(&who);
    let mut v = Validation::default();
    let name = v.field("name", parse_device_name(form.get("name")));
    let location = v.optional("location", form.opt("location").map(parse_location));
    let result = match (name, location) {
        (Some(name), Some(location)) if v.is_ok() => {
            devices::create(&app, &who.principal.member, name, location, None).await
        }
        _ => Err(AppError::Validation(v.into_errors())),
    };
    match result {
        // Not a redirect: the token must not travel in a URL or be shown twice.
        Ok((device, token)) => Ok(doors_page(
            &app,
            &viewer,
            Outcome::Token(&device, &token),
            None,
            &FieldErrors::new(),
        )
        .await?
        .into_response()),
        Err(AppError::Validation(errors)) | Err(AppError::Conflict { fields: errors, .. }) => {
            let html = doors_page(&app, &viewer, Outcome::None, Some(&form), &errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
        }
        Err(e) => Err(WebError::for_viewer(e, &who)),
    }
}

pub async fn rotate(
    State(app): State<App>,
    WebAdmin(who): WebAdmin,
    WebPath(id): WebPath<DeviceId>,
    _form: WebForm,
) -> Result<Response, WebError> {
    let viewer = Viewer::from(&who);
    let (device, token) = devices::rotate_token(&app, &who.principal.member, id)
        .await
        .map_err(|e| WebError::for_viewer(e, &who))?;
    Ok(doors_page(
        &app,
        &viewer,
        Outcome::Token(&device, &token),
        None,
        &FieldErrors::new(),
    )
    .await?
    .into_response())
}

pub async fn set_enabled(
    State(app): State<App>,
    WebAdmin(who): WebAdmin,
    WebPath(id): WebPath<DeviceId>,
    form: WebForm,
) -> Result<Response, WebError> {
    let enabled = form.get("enabled") == "true";
    devices::update(
        &app,
        &who.principal.member,
        id,
        DevicePatch {
            is_enabled: Some(enabled),
            ..DevicePatch::default()
        },
    )
    .await
    .map_err(|e| WebError::for_viewer(e, &who))?;
    Ok(Redirect::to(if enabled {
        "/doors?done=enabled"
    } else {
        "/doors?done=disabled"
    })
    .into_response())
}
