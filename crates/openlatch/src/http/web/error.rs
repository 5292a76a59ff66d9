//! The one place where errors become HTML, as `http/error.rs` makes them
//! JSON: 401 sends the browser to the login page, 403/404/409/... render a
//! page with the navigation the viewer may use, 5xx a page without detail.
//! Forms catch `Validation` themselves and re-render with field messages;
//! what reaches this mapping is a page listing the fields.

use super::layout::{page, Viewer};
use crate::app::web_session::WebSession;
use crate::app::AppError;
use crate::storage::StorageError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

pub struct WebError {
    error: AppError,
    viewer: Option<Viewer>,
    csrf: bool,
}

impl From<AppError> for WebError {
    fn from(error: AppError) -> Self {
        Self {
            error,
            viewer: None,
            csrf: false,
        }
    }
}

impl From<StorageError> for WebError {
    fn from(e: StorageError) -> Self {
        AppError::from(e).into()
    }
}

impl WebError {
    /// An error shown inside the viewer's own navigation.
    pub fn for_viewer(error: AppError, s: &WebSession) -> Self {
        Self {
            error,
            viewer: Some(Viewer::from(s)),
            csrf: false,
        }
    }

    pub fn forbidden(s: &WebSession) -> Self {
        Self::for_viewer(AppError::Forbidden, s)
    }

    /// A form without a valid token (forged, or from an ended session).
    pub fn csrf() -> Self {
        Self {
            error: AppError::Forbidden,
            viewer: None,
            csrf: true,
        }
    }

    pub fn is_unauthenticated(&self) -> bool {
        matches!(
            self.error,
            AppError::Unauthenticated | AppError::InvalidCredentials
        )
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, title, text) = match &self.error {
            AppError::Unauthenticated | AppError::InvalidCredentials => {
                return Redirect::to("/login").into_response();
            }
            AppError::Forbidden if self.csrf => (
                StatusCode::FORBIDDEN,
                "Form refused",
                "This form was not sent from a page of this site, or your session ended. \
                 Go back, reload the page and try again."
                    .to_owned(),
            ),
            AppError::Forbidden => (
                StatusCode::FORBIDDEN,
                "Not allowed",
                "Your role does not give access to this page.".to_owned(),
            ),
            AppError::NotFound(what) => (
                StatusCode::NOT_FOUND,
                "Not found",
                format!("The {what} you asked for does not exist."),
            ),
            AppError::Validation(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "Some fields are invalid",
                "Go back and correct the fields below.".to_owned(),
            ),
            AppError::Conflict { message, .. } => {
                (StatusCode::CONFLICT, "Not possible", message.clone())
            }
            AppError::RateLimited { retry_after_secs } => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts",
                format!("Try again in {retry_after_secs} seconds."),
            ),
            AppError::BadRequest(m) => (StatusCode::BAD_REQUEST, "Bad request", m.clone()),
            AppError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "Too large",
                "What you sent is too large.".to_owned(),
            ),
            AppError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, "Unavailable", m.clone()),
            AppError::Busy { message, .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Busy",
                format!("{message}; try again in a moment."),
            ),
            AppError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "Not here",
                "This address does not take this kind of request.".to_owned(),
            ),
            AppError::UnsupportedMediaType(m) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Not understood",
                m.clone(),
            ),
            AppError::Rows(rows) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "Some rows are invalid",
                format!("{} rows are invalid; nothing was changed.", rows.len()),
            ),
            AppError::Storage(StorageError::Unavailable(_)) => {
                tracing::error!(error = %self.error, "database unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Unavailable",
                    "The database is unavailable; try again shortly.".to_owned(),
                )
            }
            AppError::Storage(StorageError::Conflict(_)) => (
                StatusCode::CONFLICT,
                "Not possible",
                "This conflicts with existing data.".to_owned(),
            ),
            AppError::Storage(_) | AppError::Internal(_) => {
                tracing::error!(error = %self.error, "web request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The server could not do this. The error is in its log.".to_owned(),
                )
            }
        };
        let fields = match &self.error {
            AppError::Validation(f) | AppError::Conflict { fields: f, .. } => f.clone(),
            _ => Default::default(),
        };
        let body = html! {
            h1 { (title) }
            p.error-text { (text) }
            @if !fields.is_empty() {
                ul.field-errors {
                    @for (field, message) in &fields {
                        li { strong { (field) } ": " (message) }
                    }
                }
            }
            p { a href="/" { "Back to the start page" } }
        };
        let mut response = (status, page(self.viewer.as_ref(), "", title, body)).into_response();
        if let AppError::RateLimited { retry_after_secs }
        | AppError::Busy {
            retry_after_secs, ..
        } = self.error
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        response
    }
}
