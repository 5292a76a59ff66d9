//! Approvals: the live list of pending requests the viewer may decide. The
//! page is complete without JavaScript (plain form posts, reload to
//! refresh); the script subscribes to `/approvals/events`, a server-sent
//! event stream authenticated by the cookie, that sends each new request as
//! a rendered fragment and each decided or expired one by id.

use super::csrf::WebForm;
use super::error::WebError;
use super::layout::{csrf_field, fmt_time, notice, page, Viewer};
use super::session::{WebPath, WebStaff};
use crate::app::approvals::{self, ApprovalView, LiveEvent};
use crate::app::ui::{self, Names};
use crate::app::{App, AppError};
use crate::domain::approval::ApprovalStatus;
use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use futures_util::stream::{self, Stream, StreamExt};
use maud::{html, Markup};
use serde::Deserialize;
use std::convert::Infallible;
use tokio_stream::wrappers::BroadcastStream;
use uuid::Uuid;

/// One pending request, with the buttons when the viewer may decide it.
pub fn item(v: &ApprovalView, can_decide: bool, names: &Names, viewer: &Viewer) -> Markup {
    html! {
        li.approval id=(format!("approval-{}", v.id)) data-expires=(v.expires_at) {
            div.approval-what {
                strong { (names.member(v.member_id)) }
                " at " strong { (names.door(v.device_id)) }
                @if let Some(s) = v.sponsor_id {
                    " · guest of " (names.member(s))
                }
                br;
                small { "asked " (fmt_time(v.requested_at)) ", expires " (fmt_time(v.expires_at)) }
            }
            @if can_decide {
                div.approval-actions {
                    form method="post" action=(format!("/approvals/{}/approve", v.id)) {
                        (csrf_field(viewer))
                        button.approve type="submit" { "Approve" }
                    }
                    form method="post" action=(format!("/approvals/{}/deny", v.id)) {
                        (csrf_field(viewer))
                        button.deny type="submit" { "Deny" }
                    }
                }
            } @else {
                p.muted { "Another keyholder decides this request." }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

pub async fn show(
    State(app): State<App>,
    WebStaff(who): WebStaff,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    let viewer = Viewer::from(&who);
    let pending = approvals::list(&app, &who.principal.member, ApprovalStatus::Pending).await?;
    let names = ui::names(&app, &pending.iter().map(|(v, _)| v).collect::<Vec<_>>()).await?;
    let body = html! {
        h1 { "Approvals" }
        (notice(q.done.as_deref().map(|d| match d {
            "approved" => "Approved: the door opens.",
            "denied" => "Denied: the door stays shut.",
            _ => "Done.",
        })))
        p.muted { "Doors waiting for a decision. New requests appear here by themselves." }
        ul.approvals id="approvals" data-stream="/approvals/events" {
            @for (v, can) in &pending {
                (item(v, *can, &names, &viewer))
            }
        }
        p.empty id="approvals-empty" hidden[!pending.is_empty()] { "Nothing is waiting." }
    };
    Ok(page(Some(&viewer), "/approvals", "Approvals", body).into_response())
}

pub async fn events(
    State(app): State<App>,
    WebStaff(who): WebStaff,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, WebError> {
    // Subscribe before reading, so nothing falls between the two.
    let live = BroadcastStream::new(app.approvals.subscribe());
    let viewer = Viewer::from(&who);
    let current = approvals::list(&app, &who.principal.member, ApprovalStatus::Pending).await?;
    let names = ui::names(&app, &current.iter().map(|(v, _)| v).collect::<Vec<_>>()).await?;
    let initial: Vec<Option<Event>> = current
        .iter()
        .map(|(v, can)| Some(pending_event(v, *can, &names, &viewer)))
        .collect();
    let stream_app = app.clone();
    let principal = who.principal.clone();
    // Events are rendered after this request has returned: in its zone.
    let tz = super::layout::space_tz();
    let updates = live.then(move |msg| {
        let (app, principal, viewer) = (stream_app.clone(), principal.clone(), viewer.clone());
        async move {
            // The viewer is read again for every event: a demoted or logged-out
            // viewer's stream ends here.
            let member = approvals::current_viewer(&app, &principal).await?;
            Some(match msg {
                Ok(LiveEvent::Pending(v)) => {
                    let names = ui::names(&app, &[&v]).await.ok()?;
                    let can = approvals::may_decide_view(&member, &v);
                    super::layout::in_space_tz(tz, || pending_event(&v, can, &names, &viewer))
                }
                Ok(LiveEvent::Decided(v)) => Event::default()
                    .event("decided")
                    .id(v.id.to_string())
                    .data(format!("approval-{}", v.id)),
                Err(_) => Event::default().event("resync").data("reload"),
            })
        }
    });
    let stream = stream::iter(initial)
        .chain(updates)
        .take_while(|e| std::future::ready(e.is_some()))
        .filter_map(|e| std::future::ready(e.map(Ok::<_, Infallible>)))
        .take_until(app.approvals.closed());
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

fn pending_event(v: &ApprovalView, can: bool, names: &Names, viewer: &Viewer) -> Event {
    // One line of HTML per event: newlines would split the SSE data field.
    let fragment = item(v, can, names, viewer).into_string().replace('\n', " ");
    Event::default()
        .event("pending")
        .id(v.id.to_string())
        .data(fragment)
}

async fn decide(app: &App, who: &WebStaff, id: Uuid, approve: bool) -> Result<Response, WebError> {
    match approvals::decide(app, &who.0.principal.member, id, approve).await {
        Ok(_) => Ok(Redirect::to(if approve {
            "/approvals?done=approved"
        } else {
            "/approvals?done=denied"
        })
        .into_response()),
        Err(e @ (AppError::Forbidden | AppError::Conflict { .. })) => {
            Err(WebError::for_viewer(e, &who.0))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn approve(
    State(app): State<App>,
    who: WebStaff,
    WebPath(id): WebPath<Uuid>,
    _form: WebForm,
) -> Result<Response, WebError> {
    decide(&app, &who, id, true).await
}

pub async fn deny(
    State(app): State<App>,
    who: WebStaff,
    WebPath(id): WebPath<Uuid>,
    _form: WebForm,
) -> Result<Response, WebError> {
    decide(&app, &who, id, false).await
}
