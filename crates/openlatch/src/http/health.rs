//! `GET /health`: for load balancers and uptime checks.

use crate::app::App;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new().routes(routes!(health))
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok` or `degraded`.
    status: &'static str,
    version: &'static str,
    /// `ok` or `unavailable`.
    database: &'static str,
}

/// Liveness and database reachability; 503 when the database is down.
#[utoipa::path(get, path = "/health", tag = "monitoring",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
async fn health(State(app): State<App>) -> (StatusCode, Json<Health>) {
    // Reads may work while writes fail (disk full): both must.
    let db_ok = app.db.ping().await && app.db.writable().await;
    let status = if db_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(Health {
            status: if db_ok { "ok" } else { "degraded" },
            version: env!("CARGO_PKG_VERSION"),
            database: if db_ok { "ok" } else { "unavailable" },
        }),
    )
}
