//! The dashboard: doors (online, list version in use vs newest, lock
//! battery and state), pending approvals, alerts, recent events. Staff
//! only; a plain member landing on `/` is sent to their own page.

use super::error::WebError;
use super::layout::{fmt_time, page, Viewer};
use super::session::WebUser;
use crate::app::approvals;
use crate::app::monitoring::NagiosState;
use crate::app::ui;
use crate::app::App;
use crate::domain::approval::ApprovalStatus;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

pub async fn show(State(app): State<App>, WebUser(who): WebUser) -> Result<Response, WebError> {
    let viewer = Viewer::from(&who);
    if !viewer.is_staff() {
        return Ok(Redirect::to("/me").into_response());
    }
    let d = ui::dashboard(&app).await?;
    let pending = approvals::list(&app, &who.principal.member, ApprovalStatus::Pending).await?;
    let names = ui::names(&app, &pending.iter().map(|(v, _)| v).collect::<Vec<_>>()).await?;
    let body = html! {
        h1 { "Dashboard" }
        @if !d.alerts.is_empty() {
            section.alerts aria-label="Alerts" {
                h2 { "Alerts" }
                ul { @for a in &d.alerts { li { (a) } } }
            }
        }
        section {
            h2 { "Doors" }
            @if d.doors.is_empty() {
                p.muted { "No door is registered yet." }
            } @else {
                div.table-wrap {
                    table {
                        thead { tr { th { "Door" } th { "State" } th { "List in use" } th { "Lock" } th { "Last heartbeat" } } }
                        tbody {
                            @for door in &d.doors {
                                tr {
                                    td { (door.device.name)
                                        @if let Some(l) = &door.device.location { br; small.muted { (l) } }
                                        br; small.muted { "zone " (door.zone_name) } }
                                    td {
                                        @if !door.device.is_enabled { span.badge.off { "disabled" } }
                                        @else if door.online { span.badge.ok { "online" } }
                                        @else { span.badge.bad { "offline" } }
                                    }
                                    td {
                                        @match &door.status {
                                            Some(s) => {
                                                "v" (s.heartbeat.allowlist_version)
                                                @if let Some(n) = door.newest_version {
                                                    @if s.heartbeat.allowlist_version < n { " " span.badge.warn { "newest v" (n) } }
                                                }
                                            }
                                            None => span.muted { "–" },
                                        }
                                    }
                                    td {
                                        @if let Some(s) = &door.status {
                                            @if let Some(state) = &s.heartbeat.nuki_state { (state) " " }
                                        }
                                        @if let Some((state, text)) = &door.battery {
                                            span.badge.ok[*state == NagiosState::Ok]
                                                .warn[*state == NagiosState::Warning]
                                                .bad[*state == NagiosState::Critical]
                                                title=(text) {
                                                @match door.status.as_ref().and_then(|s| s.heartbeat.nuki_battery_percent) {
                                                    Some(b) if b >= 0 => { "battery " (b) "%" }
                                                    _ => { (state.as_str().to_lowercase()) }
                                                }
                                            }
                                        }
                                    }
                                    td { @match &door.status { Some(s) => (fmt_time(s.received_at)), None => "never" } }
                                }
                            }
                        }
                    }
                }
            }
        }
        section {
            h2 { "Waiting for approval" }
            @if pending.is_empty() {
                p.muted { "Nothing is waiting." }
            } @else {
                ul { @for (v, _) in &pending {
                    li { a href="/approvals" { (names.member(v.member_id)) " at " (names.door(v.device_id)) } }
                } }
            }
        }
        section {
            h2 { "Active overrides" }
            @if d.overrides.is_empty() { p.muted { "None: the rules apply as written." } }
            @else { ul { @for r in &d.overrides { li { (r.name) } } } }
        }
        section {
            h2 { "Recent events" }
            div.table-wrap { table {
                thead { tr { th { "When" } th { "Event" } th { "Target" } } }
                tbody { @for e in &d.recent_events {
                    tr { td { (e.created_at.format("%Y-%m-%d %H:%M:%S")) } td { (e.event_type) } td.mono { (e.target_id.as_deref().unwrap_or("")) } }
                } }
            } }
        }
    };
    Ok(page(Some(&viewer), "/", "Dashboard", body).into_response())
}
