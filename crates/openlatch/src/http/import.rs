//! `POST /members/import` and `GET /members/export`: members and keys as CSV.

use super::error::ErrorBody;
use super::extract::{Admin, ApiQuery};
use crate::app::import::{self, Quiet, Summary};
use crate::app::{App, AppError};
use crate::storage::audit::Actor;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

/// 200,000 rows of about 100 bytes.
const IMPORT_LIMIT_BYTES: usize = 32 * 1024 * 1024;

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new().routes(routes!(export_members)).merge(
        OpenApiRouter::new()
            .routes(routes!(import_members))
            .layer(DefaultBodyLimit::max(IMPORT_LIMIT_BYTES)),
    )
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    /// Check everything, write nothing.
    dry_run: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct ImportView {
    created_members: usize,
    updated_members: usize,
    created_keys: usize,
    /// Members and keys that were already exactly as in the file.
    unchanged: usize,
    /// The allow-list version carrying the whole import (null for a dry run
    /// or a file that changed nothing).
    version: Option<i64>,
    dry_run: bool,
}

impl From<Summary> for ImportView {
    fn from(s: Summary) -> Self {
        Self {
            created_members: s.created_members,
            updated_members: s.updated_members,
            created_keys: s.created_keys,
            unchanged: s.unchanged,
            version: s.version,
            dry_run: s.dry_run,
        }
    }
}

/// Imports members and keys from CSV (admin): `text/csv`, UTF-8, a header
/// row naming the columns `username,email,display_name,role,uid,key_label,
/// key_type,expires_at` (one row per key). All or nothing: any wrong row
/// gives 422 with every error as `{"row", "field", "message"}`.
#[utoipa::path(post, path = "/members/import", tag = "members", params(ImportQuery),
    security(("bearer" = [])),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ImportView), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody),
              (status = 422, description = "rows with errors; nothing imported", body = ErrorBody)))]
async fn import_members(
    State(app): State<App>,
    Admin(admin): Admin,
    ApiQuery(q): ApiQuery<ImportQuery>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ImportView>, AppError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("text/csv") {
        return Err(AppError::UnsupportedMediaType(
            "send the file as text/csv".into(),
        ));
    }
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::PayloadTooLarge
        } else {
            AppError::BadRequest(e.body_text())
        }
    })?;
    let summary = import::import(
        &app,
        Actor::Member(admin.member.id),
        &body,
        q.dry_run.unwrap_or(false),
        &Quiet,
    )
    .await?;
    Ok(Json(summary.into()))
}

/// Every active member and their usable keys as CSV (admin), in the import
/// format: importing it into an empty server reproduces them.
#[utoipa::path(get, path = "/members/export", tag = "members", security(("bearer" = [])),
    responses((status = 200, content_type = "text/csv", body = String),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn export_members(State(app): State<App>, _: Admin) -> Result<Response, AppError> {
    let csv = import::export(&app).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"members.csv\"",
            ),
        ],
        csv,
    )
        .into_response())
}
