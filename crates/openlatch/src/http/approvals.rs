//! `/approvals`: keyholders and admins see and decide conditional-approval requests.

use super::error::ErrorBody;
use super::extract::{ApiPath, ApiQuery, Staff};
use crate::app::approvals::{self, ApprovalView, LiveEvent};
use crate::app::{App, AppError};
use crate::domain::approval::ApprovalStatus;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Json;
use futures_util::stream::{self, Stream, StreamExt};
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use tokio_stream::wrappers::BroadcastStream;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_approvals))
        .routes(routes!(approval_stream))
        .routes(routes!(approve))
        .routes(routes!(deny))
}

#[derive(Serialize, ToSchema)]
pub struct ApprovalItem {
    #[serde(flatten)]
    request: ApprovalView,
    /// Whether the caller may decide this request.
    can_decide: bool,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Default `pending`.
    #[param(schema_with = super::schema_facts::approval_status)]
    status: Option<String>,
}

/// Requests by status, newest first (keyholder, admin).
#[utoipa::path(get, path = "/approvals", tag = "approvals", params(ListQuery),
    security(("bearer" = [])),
    responses((status = 200, body = [ApprovalItem]), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_approvals(
    State(app): State<App>,
    Staff(who): Staff,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Vec<ApprovalItem>>, AppError> {
    let status = match q.status.as_deref() {
        None => ApprovalStatus::Pending,
        Some(s) => s
            .parse::<ApprovalStatus>()
            .map_err(|m| AppError::field("status", m))?,
    };
    let rows = approvals::list(&app, &who.member, status).await?;
    Ok(Json(
        rows.into_iter()
            .map(|(request, can_decide)| ApprovalItem {
                request,
                can_decide,
            })
            .collect(),
    ))
}

/// Live requests as server-sent events (keyholder, admin): first every
/// pending request as a `pending` event, then `pending` and `decided`
/// events as they happen, on any instance. Authorization header only.
#[utoipa::path(get, path = "/approvals/stream", tag = "approvals", security(("bearer" = [])),
    responses((status = 200, content_type = "text/event-stream", body = String),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn approval_stream(
    State(app): State<App>,
    Staff(who): Staff,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    // Subscribe before reading, so nothing falls between the two.
    let live = BroadcastStream::new(app.approvals.subscribe());
    let current = approvals::list(&app, &who.member, ApprovalStatus::Pending).await?;
    let initial = stream::iter(
        current
            .into_iter()
            .map(|(view, can_decide)| Some(sse_event("pending", &view, can_decide))),
    );
    let viewer_app = app.clone();
    let updates = live.then(move |msg| {
        let (app, who) = (viewer_app.clone(), who.clone());
        async move {
            // Role and active state are re-read for every event: a demoted
            // or deactivated viewer's stream ends here.
            let member = approvals::current_viewer(&app, &who).await?;
            Some(match msg {
                Ok(LiveEvent::Pending(v)) => {
                    sse_event("pending", &v, approvals::may_decide_view(&member, &v))
                }
                Ok(LiveEvent::Decided(v)) => {
                    sse_event("decided", &v, approvals::may_decide_view(&member, &v))
                }
                // A slow reader missed events: tell it to reload the list.
                Err(_) => Event::default().event("resync").data("{}"),
            })
        }
    });
    let stream = initial
        .chain(updates)
        .take_while(|e| std::future::ready(e.is_some()))
        .filter_map(|e| std::future::ready(e.map(Ok::<_, Infallible>)))
        .take_until(app.approvals.closed());
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

fn sse_event(name: &str, view: &ApprovalView, can_decide: bool) -> Event {
    let item = ApprovalItem {
        request: view.clone(),
        can_decide,
    };
    let data = serde_json::to_string(&item).unwrap_or_else(|_| "{}".into());
    Event::default()
        .event(name)
        .id(view.id.to_string())
        .data(data)
}

/// Approve a pending request; the first decision wins (409 afterwards).
#[utoipa::path(post, path = "/approvals/{id}/approve", tag = "approvals",
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = ApprovalView), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
async fn approve(
    State(app): State<App>,
    Staff(who): Staff,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<ApprovalView>, AppError> {
    Ok(Json(approvals::decide(&app, &who.member, id, true).await?))
}

/// Deny a pending request; the first decision wins (409 afterwards).
#[utoipa::path(post, path = "/approvals/{id}/deny", tag = "approvals",
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = ApprovalView), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
async fn deny(
    State(app): State<App>,
    Staff(who): Staff,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<ApprovalView>, AppError> {
    Ok(Json(approvals::decide(&app, &who.member, id, false).await?))
}
