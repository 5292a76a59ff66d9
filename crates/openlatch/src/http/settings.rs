//! `/settings`: the space's time zone.

use super::error::ErrorBody;
use super::extract::{Admin, AnyMember, ApiJson};
use crate::app::settings::{self, Settings};
use crate::app::{App, AppError};
use crate::domain::space::parse_time_zone;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new().routes(routes!(get_settings, put_settings))
}

#[derive(Serialize, ToSchema)]
pub struct SettingsView {
    /// The IANA time zone an admin set; null when none is set.
    time_zone: Option<String>,
    /// The zone the web UI shows times and week views in: `time_zone`, else
    /// that of the first time-window rule, else UTC.
    effective_time_zone: String,
    /// `setting`, `first_time_window_rule` or `default`.
    time_zone_source: &'static str,
}

impl From<Settings> for SettingsView {
    fn from(s: Settings) -> Self {
        Self {
            time_zone: s.time_zone.map(|t| t.name().to_owned()),
            effective_time_zone: s.effective_time_zone.name().to_owned(),
            time_zone_source: s.time_zone_source.as_str(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsRequest {
    /// An IANA time zone name such as `Europe/Berlin`; null removes the setting.
    #[schema(schema_with = super::schema_facts::time_zone_opt)]
    time_zone: Option<String>,
}

/// The space's settings (any member).
#[utoipa::path(get, path = "/settings", tag = "settings", security(("bearer" = [])),
    responses((status = 200, body = SettingsView), (status = 401, body = ErrorBody)))]
async fn get_settings(
    State(app): State<App>,
    AnyMember(_who): AnyMember,
) -> Result<Json<SettingsView>, AppError> {
    Ok(Json(settings::get(&app).await?.into()))
}

/// Set the space's settings (admin). Audited as `settings_updated` when a value changes.
#[utoipa::path(put, path = "/settings", tag = "settings", request_body = SettingsRequest,
    security(("bearer" = [])),
    responses((status = 200, body = SettingsView), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn put_settings(
    State(app): State<App>,
    Admin(admin): Admin,
    ApiJson(body): ApiJson<SettingsRequest>,
) -> Result<Json<SettingsView>, AppError> {
    let tz = body
        .time_zone
        .as_deref()
        .map(parse_time_zone)
        .transpose()
        .map_err(|m| AppError::field("time_zone", m))?;
    Ok(Json(
        settings::set_time_zone(&app, &admin, tz).await?.into(),
    ))
}
