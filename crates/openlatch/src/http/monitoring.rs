//! `/monitoring/*`: the Nagios battery check and Prometheus metrics. No
//! login; protected by `OPENLATCH_MONITORING_TOKEN` (bearer) when set.

use super::error::ErrorBody;
use crate::app::monitoring::{self, BatteryParams, HttpLabels};
use crate::app::{App, AppError};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use std::collections::HashMap;
use subtle::ConstantTimeEq;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(nuki_battery))
        .routes(routes!(metrics))
}

/// With a monitoring token configured, the caller must present it.
fn check_token(app: &App, headers: &HeaderMap) -> Result<(), AppError> {
    let Some(expected) = &app.config.monitoring_token else {
        return Ok(());
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .unwrap_or_default();
    if bool::from(given.as_bytes().ct_eq(expected.expose_secret().as_bytes())) {
        Ok(())
    } else {
        Err(AppError::Unauthenticated)
    }
}

fn text(body: String, content_type: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// The thresholds are declared as plain strings on purpose: a Nagios check
/// always gets 200, and a value out of range or not a number gets the state
/// `UNKNOWN - invalid parameter ...` in the text, not an HTTP error. Declared
/// as bounded integers, the document would promise a rejection that a
/// monitoring check must never see.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct BatteryQuery {
    /// Warning at or below this percentage: an integer 0 to 100 (default
    /// 30); anything else answers `UNKNOWN - invalid parameter warn`.
    warn: Option<String>,
    /// Critical at or below this percentage: an integer 0 to 100 (default
    /// 15); anything else answers `UNKNOWN - invalid parameter crit`.
    crit: Option<String>,
    /// UNKNOWN when the last heartbeat is older than this many hours: an
    /// integer 1 to 8760 (default 24); anything else answers `UNKNOWN -
    /// invalid parameter stale_hours`.
    stale_hours: Option<String>,
    /// One door's id; without it the worst door is reported.
    device: Option<String>,
    /// Only the doors of this zone (id or name).
    zone: Option<String>,
}

/// Nagios/Icinga plugin output for the NUKI lock batteries, always HTTP 200
/// (the state is in the text): `OK - NUKI battery 87% (3min ago) | battery=87%;30;15;0;100`.
#[utoipa::path(get, path = "/monitoring/nuki-battery", tag = "monitoring", params(BatteryQuery),
    responses((status = 200, content_type = "text/plain", body = String),
              (status = 401, body = ErrorBody)))]
async fn nuki_battery(
    State(app): State<App>,
    headers: HeaderMap,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Result<Response, AppError> {
    check_token(&app, &headers)?;
    let q: HashMap<String, String> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    let mut p = BatteryParams::default();
    for (name, slot, range) in [
        ("warn", &mut p.warn, 0..=100),
        ("crit", &mut p.crit, 0..=100),
        ("stale_hours", &mut p.stale_hours, 1..=24 * 365),
    ] {
        if let Some(raw) = q.get(name) {
            match raw.trim().parse::<i64>() {
                Ok(v) if range.contains(&v) => *slot = v,
                _ => {
                    return Ok(text(
                        format!(
                            "UNKNOWN - invalid parameter {name}: must be an integer in {}..{}\n",
                            range.start(),
                            range.end()
                        ),
                        "text/plain; charset=utf-8",
                    ))
                }
            }
        }
    }
    let body = monitoring::nuki_battery(
        &app,
        p,
        q.get("device").map(String::as_str),
        q.get("zone").map(String::as_str),
    )
    .await?;
    Ok(text(body, "text/plain; charset=utf-8"))
}

/// Prometheus text exposition: per-door heartbeat gauges and server metrics.
#[utoipa::path(get, path = "/monitoring/metrics", tag = "monitoring",
    responses((status = 200, content_type = "text/plain", body = String),
              (status = 401, body = ErrorBody)))]
async fn metrics(State(app): State<App>, headers: HeaderMap) -> Result<Response, AppError> {
    check_token(&app, &headers)?;
    let openmetrics = monitoring::metrics(&app).await?;
    // The classic format unless the scraper asks for OpenMetrics.
    let wants_openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    Ok(if wants_openmetrics {
        text(
            openmetrics,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )
    } else {
        text(
            monitoring::to_prometheus_text(&openmetrics),
            "text/plain; version=0.0.4; charset=utf-8",
        )
    })
}

/// Counts every request by method, route template and status.
pub async fn count_requests(State(app): State<App>, req: Request, next: Next) -> Response {
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let response = next.run(req).await;
    app.http_metrics
        .requests
        .get_or_create(&HttpLabels {
            method,
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}
