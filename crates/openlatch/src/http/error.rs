//! The one place where errors become HTTP statuses and the JSON error shape.

use crate::app::import::RowError;
use crate::app::AppError;
use crate::domain::FieldErrors;
use crate::storage::StorageError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// `{"error": {"code": "...", "message": "...", "fields": {...}}}`
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `validation_failed`.
    pub code: &'static str,
    pub message: String,
    /// Field name -> what is wrong with it.
    #[serde(skip_serializing_if = "FieldErrors::is_empty")]
    pub fields: FieldErrors,
    /// A refused import: every error as `{"row", "field", "message"}`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub errors: Vec<RowError>,
}

/// Marks a response whose transaction hit a serialization failure or a
/// deadlock; [`super::retry`] runs such a request again.
#[derive(Clone, Copy, Debug)]
pub struct RetryableConflict;

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            AppError::BadRequest(_) => (StatusCode::BAD_REQUEST, "malformed_request"),
            AppError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            AppError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            AppError::Validation(_) => (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            AppError::Rows(_) => (StatusCode::UNPROCESSABLE_ENTITY, "import_rejected"),
            AppError::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            AppError::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            AppError::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            AppError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            AppError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            AppError::Conflict { .. } => (StatusCode::CONFLICT, "conflict"),
            AppError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            AppError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            AppError::Busy { .. } => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            AppError::Storage(StorageError::Unavailable(_)) => {
                (StatusCode::SERVICE_UNAVAILABLE, "database_unavailable")
            }
            AppError::Storage(StorageError::Busy(_)) => {
                (StatusCode::SERVICE_UNAVAILABLE, "database_busy")
            }
            AppError::Storage(StorageError::Retryable(_)) => (StatusCode::CONFLICT, "conflict"),
            AppError::Storage(StorageError::Conflict(_)) => (StatusCode::CONFLICT, "conflict"),
            AppError::Storage(_) | AppError::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal_error")
            }
        };
        // Internal details (SQL, causes) go to the log, never to the client.
        let message = match &self {
            AppError::Storage(StorageError::Unavailable(_)) => {
                tracing::error!(error = %self, "database unavailable");
                "the database is unavailable".to_owned()
            }
            AppError::Storage(StorageError::Conflict(_)) => {
                "conflicts with existing data".to_owned()
            }
            AppError::Storage(StorageError::Busy(_)) => {
                tracing::warn!(error = %self, "database busy");
                "the database is busy; try again shortly".to_owned()
            }
            AppError::Storage(StorageError::Retryable(_)) => {
                tracing::warn!(error = %self, "transaction conflict after retries");
                "a concurrent change conflicted with this one; try again".to_owned()
            }
            AppError::Storage(_) | AppError::Internal(_) => {
                tracing::error!(error = %self, "request failed");
                "internal error".to_owned()
            }
            other => other.to_string(),
        };
        let fields = match &self {
            AppError::Validation(f) | AppError::Conflict { fields: f, .. } => f.clone(),
            _ => FieldErrors::new(),
        };
        let errors = match &self {
            AppError::Rows(rows) => rows.clone(),
            _ => Vec::new(),
        };
        let mut response = (
            status,
            Json(ErrorBody {
                error: ErrorDetail {
                    code,
                    message,
                    fields,
                    errors,
                },
            }),
        )
            .into_response();
        let mut response_is_retryable = false;
        let headers = response.headers_mut();
        match self {
            AppError::RateLimited { retry_after_secs }
            | AppError::Busy {
                retry_after_secs, ..
            } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            AppError::Storage(StorageError::Busy(_)) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(1u64));
            }
            AppError::Storage(StorageError::Unavailable(_)) | AppError::Unavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(5u64));
            }
            AppError::Storage(StorageError::Retryable(_)) => {
                response_is_retryable = true;
            }
            AppError::Unauthenticated | AppError::InvalidCredentials => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        if response_is_retryable {
            response.extensions_mut().insert(RetryableConflict);
        }
        response
    }
}
