//! The HTTP layer: routes, extractors, the error mapping and the OpenAPI document.

pub mod allowlist;
pub mod approvals;
pub mod audit;
pub mod auth;
pub mod device_api;
pub mod devices;
pub mod error;
pub mod extract;
pub mod health;
pub mod import;
pub mod keypad;
pub mod keys;
pub mod members;
pub mod monitoring;
pub mod notifications;
pub mod openapi_errors;
pub mod retry;
pub mod rule_schemas;
pub mod rules;
pub mod schema_facts;
pub mod settings;
pub mod strict_json;
pub mod web;
pub mod zones;

use crate::app::{App, AppError};
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::routing::get;
use axum::{Json, Router};
use std::sync::Arc;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

#[derive(OpenApi)]
#[openapi(
    info(title = "OpenLatch", description = "Access control for community spaces: admin API and door (device) API."),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Every `/api/v1` route; each module registers its handlers and their docs together.
fn api_routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .merge(auth::routes())
        .merge(members::routes())
        .merge(import::routes())
        .merge(keys::routes())
        .merge(audit::routes())
        .merge(devices::routes())
        .merge(device_api::routes())
        .merge(approvals::routes())
        .merge(monitoring::routes())
        .merge(health::routes())
        .merge(rules::routes())
        .merge(allowlist::routes())
        .merge(keypad::routes())
        .merge(notifications::routes())
        .merge(zones::routes())
        .merge(settings::routes())
}

pub fn router(app: App) -> Router {
    let (api, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", api_routes())
        .split_for_parts();
    openapi_errors::document_common_errors(&mut openapi);
    let openapi = Arc::new(openapi);
    api.route(
        "/api/v1/openapi.json",
        get(move || async move { Json(openapi.as_ref().clone()) }),
    )
    .merge(web::router(&app))
    .fallback(fallback)
    // axum's own 405 has an empty body; every error keeps the one JSON
    // shape (an HTML page for the web UI's paths).
    .method_not_allowed_fallback(method_not_allowed)
    .layer(DefaultBodyLimit::max(app.config.max_body_bytes))
    .layer(axum::middleware::from_fn_with_state(
        app.clone(),
        retry::retry_conflicts,
    ))
    .layer(axum::middleware::from_fn(allowlist::announce_list_version))
    .layer(axum::middleware::from_fn_with_state(
        app.clone(),
        monitoring::count_requests,
    ))
    .layer(
        // Method and route template only: query strings and headers may carry secrets.
        TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let route = req
                .extensions()
                .get::<MatchedPath>()
                .map_or("unmatched", MatchedPath::as_str);
            tracing::info_span!("request", method = %req.method(), route)
        }),
    )
    .with_state(app)
}

/// Unknown paths: JSON under `/api/`, an HTML page elsewhere.
async fn fallback(uri: axum::http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    if uri.path().starts_with("/api/") {
        AppError::NotFound("route").into_response()
    } else {
        web::error_page(AppError::NotFound("page"))
    }
}

async fn method_not_allowed(uri: axum::http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    if uri.path().starts_with("/api/") {
        AppError::MethodNotAllowed.into_response()
    } else {
        web::error_page(AppError::MethodNotAllowed)
    }
}
