//! `/devices`: the registry of door controllers (admin).

use super::error::ErrorBody;
use super::extract::{Admin, ApiJson, ApiPath};
use crate::app::devices::{self, DevicePatch};
use crate::app::{App, AppError};
use crate::domain::device::{parse_device_name, parse_location, Device, DeviceToken};
use crate::domain::{DeviceId, Validation, ZoneId};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_devices, create_device))
        .routes(routes!(get_device, update_device, delete_device))
        .routes(routes!(rotate_token))
}

#[derive(Serialize, ToSchema)]
pub struct DeviceView {
    id: DeviceId,
    name: String,
    location: Option<String>,
    is_enabled: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    token_rotated_at: DateTime<Utc>,
    /// The zone whose list the door is served.
    zone_id: ZoneId,
}

impl From<Device> for DeviceView {
    fn from(d: Device) -> Self {
        Self {
            id: d.id,
            name: d.name,
            location: d.location,
            is_enabled: d.is_enabled,
            created_at: d.created_at,
            updated_at: d.updated_at,
            token_rotated_at: d.token_rotated_at,
            zone_id: d.zone_id,
        }
    }
}

/// The device with its token: shown only here, once.
#[derive(Serialize, ToSchema)]
pub struct DeviceWithToken {
    #[serde(flatten)]
    device: DeviceView,
    /// `olt_` + 43 base64url characters; store it on the door now, it is not shown again.
    token: String,
}

fn with_token((device, token): (Device, DeviceToken)) -> DeviceWithToken {
    DeviceWithToken {
        device: device.into(),
        token: token.expose().to_owned(),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDeviceRequest {
    #[schema(schema_with = super::schema_facts::device_name)]
    name: String,
    #[schema(schema_with = super::schema_facts::location_opt)]
    location: Option<String>,
    /// Default: the zone `main`.
    zone_id: Option<ZoneId>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDeviceRequest {
    #[schema(schema_with = super::schema_facts::device_name_opt)]
    name: Option<String>,
    /// An empty string clears the location.
    #[schema(schema_with = super::schema_facts::location_opt)]
    location: Option<String>,
    /// A disabled door gets 401 on every device endpoint.
    is_enabled: Option<bool>,
    /// Moves the door to another zone; it gets that zone's list at its next poll.
    zone_id: Option<ZoneId>,
}

/// All registered doors.
#[utoipa::path(get, path = "/devices", tag = "devices", security(("bearer" = [])),
    responses((status = 200, body = [DeviceView]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_devices(State(app): State<App>, _: Admin) -> Result<Json<Vec<DeviceView>>, AppError> {
    let list = devices::list(&app).await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

/// Register a door; the response carries its token, once.
#[utoipa::path(post, path = "/devices", tag = "devices", request_body = CreateDeviceRequest,
    security(("bearer" = [])),
    responses((status = 201, body = DeviceWithToken), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_device(
    State(app): State<App>,
    Admin(admin): Admin,
    ApiJson(body): ApiJson<CreateDeviceRequest>,
) -> Result<(StatusCode, Json<DeviceWithToken>), AppError> {
    let mut v = Validation::default();
    let name = v.field("name", parse_device_name(&body.name));
    let location = v.optional("location", body.location.as_deref().map(parse_location));
    let (Some(name), Some(location)) = (name, location) else {
        return Err(AppError::Validation(v.into_errors()));
    };
    let location = location.filter(|l| !l.is_empty());
    let created = devices::create(&app, &admin.member, name, location, body.zone_id).await?;
    Ok((StatusCode::CREATED, Json(with_token(created))))
}

/// One door.
#[utoipa::path(get, path = "/devices/{id}", tag = "devices", security(("bearer" = [])),
    params(("id" = DeviceId, Path)),
    responses((status = 200, body = DeviceView), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_device(
    State(app): State<App>,
    _: Admin,
    ApiPath(id): ApiPath<DeviceId>,
) -> Result<Json<DeviceView>, AppError> {
    Ok(Json(devices::get(&app, id).await?.into()))
}

/// Rename, relocate, enable or disable a door.
#[utoipa::path(put, path = "/devices/{id}", tag = "devices", request_body = UpdateDeviceRequest,
    security(("bearer" = [])), params(("id" = DeviceId, Path)),
    responses((status = 200, body = DeviceView), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_device(
    State(app): State<App>,
    Admin(admin): Admin,
    ApiPath(id): ApiPath<DeviceId>,
    ApiJson(body): ApiJson<UpdateDeviceRequest>,
) -> Result<Json<DeviceView>, AppError> {
    let mut v = Validation::default();
    let name = v.optional("name", body.name.as_deref().map(parse_device_name));
    let location = v.optional("location", body.location.as_deref().map(parse_location));
    let (Some(name), Some(location)) = (name, location) else {
        return Err(AppError::Validation(v.into_errors()));
    };
    let patch = DevicePatch {
        name,
        location: location.map(|l| Some(l).filter(|l| !l.is_empty())),
        is_enabled: body.is_enabled,
        zone_id: body.zone_id,
    };
    Ok(Json(
        devices::update(&app, &admin.member, id, patch)
            .await?
            .into(),
    ))
}

/// Remove a door; its token stops working, its history stays.
#[utoipa::path(delete, path = "/devices/{id}", tag = "devices", security(("bearer" = [])),
    params(("id" = DeviceId, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn delete_device(
    State(app): State<App>,
    Admin(admin): Admin,
    ApiPath(id): ApiPath<DeviceId>,
) -> Result<StatusCode, AppError> {
    devices::delete(&app, &admin.member, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new token for the door; the old one is refused from now on.
#[utoipa::path(post, path = "/devices/{id}/rotate-token", tag = "devices", security(("bearer" = [])),
    params(("id" = DeviceId, Path)),
    responses((status = 200, body = DeviceWithToken), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn rotate_token(
    State(app): State<App>,
    Admin(admin): Admin,
    ApiPath(id): ApiPath<DeviceId>,
) -> Result<Json<DeviceWithToken>, AppError> {
    Ok(Json(with_token(
        devices::rotate_token(&app, &admin.member, id).await?,
    )))
}
