//! Doors (admin): the list with their state, registering a door, rotating
//! its token, disabling and enabling it. A new token is shown once, on the
//! page that answers the form (never stored in clear, never in a URL).
//! A door's own page shows its state, heartbeat history and battery chart,
//! and edits its name, location and zone.

use super::csrf::WebForm;
use super::error::WebError;
use super::layout::{csrf_field, field, fmt_time, notice, page, Viewer};
use super::session::{WebAdmin, WebPath};
use crate::app::devices::{self, DevicePatch};
use crate::app::monitoring::NagiosState;
use crate::app::{ui, App, AppError};
use crate::domain::device::{parse_device_name, parse_location, Device, DeviceToken};
use crate::domain::{DeviceId, FieldErrors, Validation, ZoneId};
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
                        td { a href=(format!("/doors/{}", door.device.id)) { (door.device.name) }
                            @if let Some(l) = &door.device.location { br; small.muted { (l) } } }
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

#[derive(Deserialize, Default)]
pub struct DoorQuery {
    done: Option<String>,
    page: Option<usize>,
}

fn fmt_uptime(secs: i64) -> String {
    match secs {
        s if s >= 86_400 => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
        s if s >= 3600 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        s => format!("{}m", s / 60),
    }
}

fn yes_no(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "yes",
        Some(false) => "no",
        None => "–",
    }
}

async fn door_page(
    app: &App,
    viewer: &Viewer,
    id: DeviceId,
    page_no: usize,
    done: Option<&str>,
    form: Option<&WebForm>,
    errors: &FieldErrors,
) -> Result<Markup, AppError> {
    let d = ui::door::door_detail(app, id, page_no).await?;
    let door = &d.door;
    let device = &door.device;
    let value = |n: &str, current: &str| form.map_or(current, |f| f.get(n)).to_owned();
    let zone_value = value("zone_id", &device.zone_id.to_string());
    let link = |p: usize| format!("/doors/{}?page={p}#heartbeats", device.id);
    Ok(page(
        Some(viewer),
        "/doors",
        &device.name,
        html! {
            p { a href="/doors" { "← Doors" } }
            h1 { (device.name) }
            (notice(done.map(|_| "Saved.")))
            dl.facts {
                dt { "Location" } dd { (device.location.as_deref().unwrap_or("–")) }
                dt { "Zone" } dd { (door.zone_name) }
                dt { "State" } dd {
                    @if !device.is_enabled { span.badge.off { "disabled" } }
                    @else if door.online { span.badge.ok { "online" } }
                    @else { span.badge.bad { "offline" } }
                }
                dt { "Token" } dd {
                    @if device.is_enabled { "in use, " } @else { "refused (door disabled), " }
                    "set " (fmt_time(device.token_rotated_at.timestamp()))
                }
                dt { "Last heartbeat" } dd {
                    @match &door.status {
                        Some(s) => {
                            (fmt_time(s.received_at)) " (" ((d.now - s.received_at).max(0) / 60) " min ago), firmware "
                            (s.heartbeat.firmware_version) ", up " (fmt_uptime(s.heartbeat.uptime_seconds))
                        }
                        None => "never",
                    }
                }
                dt { "List" } dd {
                    @match &door.status {
                        Some(s) => { "v" (s.heartbeat.allowlist_version) " in use" }
                        None => { "none reported" }
                    }
                    @if let Some(n) = door.newest_version {
                        ", newest for zone " (door.zone_name) " v" (n)
                        @if door.status.as_ref().is_some_and(|s| s.heartbeat.allowlist_version < n) {
                            " " span.badge.warn { "behind" }
                        }
                    }
                }
                dt { "Lock" } dd {
                    @match door.status.as_ref().map(|s| &s.heartbeat).filter(|h| h.has_lock()) {
                        Some(h) => {
                            (h.nuki_state.as_deref().unwrap_or("state unknown"))
                            @match h.nuki_battery_percent {
                                Some(b) if b >= 0 => { ", battery " (b) "%" }
                                _ => { ", battery unknown" }
                            }
                            @if h.nuki_battery_critical == Some(true) { ", reports critical battery" }
                            @if h.nuki_paired == Some(false) { ", not paired" }
                        }
                        None if door.status.is_none() => { "no heartbeat yet" }
                        None => { "no lock reported" }
                    }
                    @if let Some((state, text)) = &door.battery {
                        " "
                        span.badge.ok[*state == NagiosState::Ok]
                            .warn[*state == NagiosState::Warning]
                            .bad[*state == NagiosState::Critical]
                            title=(text) { (state.as_str().to_lowercase()) }
                    }
                }
            }
            section {
                h2 { "Battery" }
                (super::battery_chart::battery_svg(&d.battery, d.chart_since, d.now, ui::door::CHART_BUCKET_SECS))
            }
            section {
                h2 { "Edit" }
                form.stack method="post" action=(format!("/doors/{}", device.id)) novalidate {
                    (csrf_field(viewer))
                    (field("Name", "name", "text", &value("name", &device.name), errors, true))
                    (field("Location (optional)", "location", "text",
                        &value("location", device.location.as_deref().unwrap_or("")), errors, false))
                    div.field.invalid[errors.contains_key("zone_id")] {
                        label for="f-zone_id" { "Zone" }
                        select id="f-zone_id" name="zone_id"
                            aria-invalid=[errors.get("zone_id").map(|_| "true")]
                            aria-describedby=[errors.get("zone_id").map(|_| "f-zone_id-error")] {
                            @for z in &d.zones {
                                option value=(z.id) selected[z.id.to_string() == zone_value] { (z.name) }
                            }
                        }
                        @if let Some(e) = errors.get("zone_id") {
                            p.field-error id="f-zone_id-error" { "Zone " (e) }
                        }
                        p.muted { "A door moved to another zone gets that zone's list at its next poll." }
                    }
                    button type="submit" { "Save" }
                }
                div.actions {
                    form.inline method="post" action=(format!("/doors/{}/rotate", device.id))
                        data-confirm=(format!("Rotate the token of {}? The door stops working until it has the new one.", device.name)) {
                        (csrf_field(viewer))
                        button type="submit" { "Rotate token" }
                    }
                }
            }
            section id="heartbeats" {
                h2 { "Heartbeats" }
                p.muted { "At most one every 5 minutes is kept, for 30 days." }
                @if d.history.is_empty() {
                    p.muted { "No heartbeat kept yet." }
                } @else {
                    div.table-wrap { table.heartbeats {
                        thead { tr { th { "Received" } th { "Firmware" } th { "List" } th { "Up" }
                            th { "Wi-Fi" } th { "Battery" } th { "Lock" } } }
                        tbody { @for s in &d.history {
                            @let h = &s.heartbeat;
                            tr {
                                td { (fmt_time(s.received_at)) }
                                td { (h.firmware_version) }
                                td { "v" (h.allowlist_version) }
                                td { (fmt_uptime(h.uptime_seconds)) }
                                td { (h.wifi_rssi) " dBm" }
                                td { @match h.nuki_battery_percent {
                                    Some(b) if b >= 0 => { (b) "%" @if h.nuki_battery_critical == Some(true) { " critical" } }
                                    Some(_) => "unknown",
                                    None => "–",
                                } }
                                td { (h.nuki_state.as_deref().unwrap_or("–"))
                                    @if h.nuki_paired == Some(false) { " (paired: " (yes_no(h.nuki_paired)) ")" } }
                            }
                        } }
                    } }
                }
                @if d.page > 1 || d.has_more {
                    nav.paging aria-label="Heartbeat pages" {
                        @if d.page > 1 { a href=(link(d.page - 1)) rel="prev" { "← Newer" } }
                        span { "Page " (d.page) }
                        @if d.has_more { a href=(link(d.page + 1)) rel="next" { "Older →" } }
                    }
                }
            }
        },
    ))
}

pub async fn show_one(
    State(app): State<App>,
    WebAdmin(who): WebAdmin,
    WebPath(id): WebPath<DeviceId>,
    Query(q): Query<DoorQuery>,
) -> Result<Response, WebError> {
    let viewer = Viewer::from(&who);
    let html = door_page(
        &app,
        &viewer,
        id,
        q.page.unwrap_or(1),
        q.done.as_deref(),
        None,
        &FieldErrors::new(),
    )
    .await
    .map_err(|e| WebError::for_viewer(e, &who))?;
    Ok(html.into_response())
}

fn parse_door_patch(f: &WebForm) -> Result<DevicePatch, AppError> {
    let mut v = Validation::default();
    let name = v.field("name", parse_device_name(f.get("name")));
    let location = v.field("location", parse_location(f.get("location")));
    let zone_id = v.field(
        "zone_id",
        f.get("zone_id")
            .parse::<ZoneId>()
            .map_err(|_| "must be one of the zones"),
    );
    match (name, location, zone_id) {
        (Some(name), Some(location), Some(zone_id)) if v.is_ok() => Ok(DevicePatch {
            name: Some(name),
            // An emptied field clears the location, as in the API.
            location: Some(Some(location).filter(|l| !l.is_empty())),
            zone_id: Some(zone_id),
            is_enabled: None,
        }),
        _ => Err(AppError::Validation(v.into_errors())),
    }
}

/// Saves name, location and zone through the API's use case, so a move is
/// audited (`device_moved`) and the new zone's list is built.
pub async fn update_one(
    State(app): State<App>,
    WebAdmin(who): WebAdmin,
    WebPath(id): WebPath<DeviceId>,
    form: WebForm,
) -> Result<Response, WebError> {
    let result = match parse_door_patch(&form) {
        Ok(patch) => devices::update(&app, &who.principal.member, id, patch).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/doors/{id}?done=saved")).into_response()),
        Err(AppError::Validation(errors)) | Err(AppError::Conflict { fields: errors, .. })
            if !errors.is_empty() =>
        {
            let viewer = Viewer::from(&who);
            let html = door_page(&app, &viewer, id, 1, None, Some(&form), &errors)
                .await
                .map_err(|e| WebError::for_viewer(e, &who))?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
        }
        Err(e) => Err(WebError::for_viewer(e, &who)),
    }
}
