//! `GET /audit-log`.

use super::error::ErrorBody;
use super::extract::{ApiQuery, Staff};
use crate::app::{audit, App, AppError};
use crate::storage::audit::Entry;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new().routes(routes!(query_audit_log))
}

#[derive(Serialize, ToSchema)]
pub struct AuditView {
    id: i64,
    event_type: String,
    actor_id: Option<String>,
    target_id: Option<String>,
    #[schema(value_type = Object)]
    details: serde_json::Value,
    created_at: DateTime<Utc>,
}

impl From<Entry> for AuditView {
    fn from(e: Entry) -> Self {
        Self {
            id: e.id,
            event_type: e.event_type,
            actor_id: e.actor_id,
            target_id: e.target_id,
            details: e.details,
            created_at: e.created_at,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// One event type; `anomaly_detected` also finds `anomaly_outside_hours`.
    #[param(schema_with = super::schema_facts::event_type)]
    event_type: Option<String>,
    /// Member or device id.
    #[param(format = Uuid)]
    actor_id: Option<String>,
    /// RFC 3339; entries at or after this time.
    #[param(schema_with = super::schema_facts::time)]
    since: Option<String>,
    /// Default 100 (CSV without a limit: up to 100,000 rows).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// Default `json`.
    #[param(schema_with = super::schema_facts::audit_format)]
    format: Option<String>,
}

/// The audit log, newest first (admin, keyholder). `format=csv` gives the
/// same rows as CSV (`id,created_at,event_type,actor_id,target_id,details`,
/// details as JSON) for a spreadsheet or an archive.
#[utoipa::path(get, path = "/audit-log", tag = "audit", params(AuditQuery), security(("bearer" = [])),
    responses((status = 200, description = "JSON, or CSV with `format=csv`",
               content(([AuditView] = "application/json"), (String = "text/csv"))),
              (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn query_audit_log(
    State(app): State<App>,
    _: Staff,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Response, AppError> {
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(AppError::field("format", "must be json or csv")),
    };
    let since = q
        .since
        .as_deref()
        .map(crate::domain::parse_time)
        .transpose()
        .map_err(|m| AppError::field("since", m))?;
    let filter = audit::Query {
        event_type: q.event_type.as_deref(),
        actor_id: q.actor_id.as_deref(),
        since,
        limit: q.limit,
        ..audit::Query::default()
    };
    if csv {
        let body = audit::export_csv(&app, &filter).await?;
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"audit-log.csv\"",
                ),
            ],
            body,
        )
            .into_response());
    }
    let rows = audit::query(
        &app,
        filter.event_type,
        filter.actor_id,
        filter.since,
        filter.limit,
    )
    .await?;
    let rows: Vec<AuditView> = rows.into_iter().map(Into::into).collect();
    Ok(Json(rows).into_response())
}
