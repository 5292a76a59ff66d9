//! Use cases: what the server does, written once for both databases.
//!
//! Each public function is one thing a person or a door asks for. It opens
//! its own transaction, writes its audit rows in that same transaction, and
//! reports failure through [`AppError`], which the HTTP layer maps to a
//! status code in one place.

pub mod allowlist;
pub mod approvals;
pub mod audit;
pub mod auth;
pub mod bootstrap;
pub mod device_api;
pub mod devices;
pub mod import;
pub mod keypad;
pub mod keys;
pub mod members;
pub mod monitoring;
pub mod notifications;
pub mod password;
pub mod poll_cache;
pub mod rules;
pub mod settings;
pub mod signing;
pub mod token;
pub mod ui;
pub mod web_session;
pub mod zones;

use crate::config::Config;
use crate::domain::FieldErrors;
use crate::storage::{Db, StorageError};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("malformed request: {0}")]
    BadRequest(String),
    #[error("request body is too large")]
    PayloadTooLarge,
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("some fields are invalid")]
    Validation(FieldErrors),
    /// A bulk import refused as a whole; every wrong row and field.
    #[error("{} errors in the file; nothing was imported", .0.len())]
    Rows(Vec<import::RowError>),
    #[error("authentication required")]
    Unauthenticated,
    #[error("invalid username or password")]
    InvalidCredentials,
    #[error("you are not allowed to do this")]
    Forbidden,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("this method is not allowed here")]
    MethodNotAllowed,
    #[error("{message}")]
    Conflict {
        message: String,
        fields: FieldErrors,
    },
    #[error("too many attempts; try again in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("{0}")]
    Unavailable(String),
    /// Overloaded for a moment (password checks all busy, database locked):
    /// 503 with `Retry-After`, rather than an unbounded queue.
    #[error("{message}; try again in {retry_after_secs} s")]
    Busy {
        message: &'static str,
        retry_after_secs: u64,
    },
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let mut fields = FieldErrors::new();
        fields.insert(field.to_owned(), message.into());
        AppError::Validation(fields)
    }

    pub fn conflict(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut fields = FieldErrors::new();
        fields.insert(field.to_owned(), message.clone());
        AppError::Conflict { message, fields }
    }
}

pub type AppResult<T> = Result<T, AppError>;

/// Everything a use case needs, behind one `Arc`: axum clones the state
/// several times per request (router, middleware, extractors), and one
/// reference count is much cheaper than a dozen; on the door poll the
/// dozen were a tenth of the server's time.
#[derive(Clone)]
pub struct App(Arc<AppParts>);

impl App {
    pub fn new(parts: AppParts) -> Self {
        Self(Arc::new(parts))
    }
}

impl std::ops::Deref for App {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

pub struct AppParts {
    pub db: Db,
    pub config: Arc<Config>,
    pub tokens: Arc<token::TokenKeys>,
    pub passwords: password::Passwords,
    /// How allow-lists are signed (online sub-key or air-gapped).
    pub signing: Arc<signing::Signing>,
    /// Lets concurrent changes share one allow-list build.
    pub list_builds: Arc<allowlist::BuildGate>,
    /// Door tokens and the newest version, for the poll's hot path.
    pub poll_cache: Arc<poll_cache::PollCache>,
    /// Waiting doors and live approval streams of this instance.
    pub approvals: Arc<approvals::ApprovalHub>,
    /// The notification senders and the outbox worker's wake-up.
    pub notifications: Arc<notifications::Hub>,
    /// In-memory HTTP counters for `/monitoring/metrics`.
    pub http_metrics: monitoring::HttpMetrics,
}

impl App {
    /// Called after every committed change that may alter the allow-list
    /// (members, keys, rules). The allow-list builder hooks in here.
    pub async fn list_inputs_changed(&self) {
        self.zone_lists_changed(allowlist::Zones::All).await;
    }

    /// [`App::list_inputs_changed`] for a change that can reach only some
    /// zones' lists (a rule limited to zones): only those are rebuilt.
    pub async fn zone_lists_changed(&self, zones: allowlist::Zones) {
        // The change is committed already; a failed build is retried by the
        // background task, so it is logged rather than failing the request.
        if let Err(e) = self.list_builds.build_after_change(self, zones).await {
            tracing::error!(error = %e, "building the allow-list failed");
        }
    }
}
