//! The web UI, served at `/` by the same binary as the API: server-rendered
//! HTML (maud, checked at compile time), every form working without
//! JavaScript, the project's one small script only for live updates and
//! confirmations. Handlers call `app::` only. Policy hangs on the router:
//! the security headers and the cross-origin check wrap every route here,
//! so a new page inherits them.

pub mod allowlist;
pub mod approvals;
pub mod assets;
pub mod audit_log;
pub mod battery_chart;
pub mod csp;
pub mod csrf;
pub mod dashboard;
pub mod doors;
pub mod error;
pub mod layout;
pub mod login;
pub mod me;
pub mod members;
pub mod overrides;
pub mod rules;
pub mod session;
pub mod settings;
pub mod week;

use crate::app::{App, AppError};
use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

pub fn router(app: &App) -> Router<App> {
    Router::new()
        .route("/", get(dashboard::show))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/approvals", get(approvals::show))
        .route("/approvals/events", get(approvals::events))
        .route("/approvals/{id}/approve", post(approvals::approve))
        .route("/approvals/{id}/deny", post(approvals::deny))
        .route("/members", get(members::list).post(members::create))
        .route("/members/new", get(members::new_form))
        .route("/members/{id}", get(members::show).post(members::update))
        .route("/members/{id}/deactivate", post(members::deactivate))
        .route("/members/{id}/keys", post(members::register_key))
        .route("/members/{id}/keypad/totp", post(members::enrol_totp))
        .route(
            "/members/{id}/keypad/backup-codes",
            post(members::issue_backup_codes),
        )
        .route(
            "/members/{id}/keys/{key_id}/revoke",
            post(members::revoke_key),
        )
        .route("/rules", get(rules::list).post(rules::create))
        .route("/rules/new", get(rules::new_form))
        .route("/rules/{id}", get(rules::edit).post(rules::save))
        .route(
            "/rules/{id}/delete",
            get(rules::confirm_delete).post(rules::delete),
        )
        .route("/overrides", get(overrides::show))
        .route("/overrides/lockdown", post(overrides::lockdown))
        .route("/overrides/open", post(overrides::open_until))
        .route("/overrides/{id}/end", post(overrides::end))
        .route("/doors", get(doors::show).post(doors::register))
        .route("/doors/{id}", get(doors::show_one).post(doors::update_one))
        .route("/doors/{id}/rotate", post(doors::rotate))
        .route("/doors/{id}/enabled", post(doors::set_enabled))
        .route("/allowlist", get(allowlist::show))
        .route("/allowlist/unsigned", get(allowlist::unsigned))
        .route(
            "/allowlist/signed",
            post(allowlist::upload_signed).layer(DefaultBodyLimit::max(
                crate::http::allowlist::UPLOAD_LIMIT_BYTES,
            )),
        )
        .route("/audit-log", get(audit_log::show))
        .route("/audit-log.csv", get(audit_log::csv))
        .route("/me", get(me::show))
        .route("/me/password", post(me::change_password))
        .route("/me/totp", post(me::enrol_totp))
        .route("/me/backup-codes", post(me::issue_backup_codes))
        .route("/settings", get(settings::show).post(settings::save))
        .route("/static/app.css", get(assets::css))
        .route("/static/app.js", get(assets::js))
        .layer(axum::middleware::from_fn(csrf::check_origin))
        .layer(axum::middleware::from_fn(csp::security_headers))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            layout::with_space_time_zone,
        ))
}

/// What a path outside the API and the UI gets (404, or 405 for a wrong
/// method): an HTML page with the UI's headers.
pub fn error_page(error: AppError) -> Response {
    let mut response = error::WebError::from(error).into_response();
    csp::apply(&mut response, csp::Csp::default());
    response
}
