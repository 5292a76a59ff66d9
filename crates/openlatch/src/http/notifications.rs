//! `/notifications`: subscriptions (webhook, e-mail) and the delivery history (admin).

use super::error::ErrorBody;
use super::extract::{Admin, ApiJson, ApiPath, ApiQuery};
use crate::app::notifications::subscriptions::{
    self, DeliveryView, NewSubscription, SubscriptionPatch, SubscriptionView,
};
use crate::app::{App, AppError};
use crate::domain::from_unix;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_subscriptions, create_subscription))
        .routes(routes!(
            get_subscription,
            update_subscription,
            delete_subscription
        ))
        .routes(routes!(test_subscription))
        .routes(routes!(list_deliveries))
}

#[derive(Serialize, ToSchema)]
pub struct Subscription {
    id: Uuid,
    /// `webhook` or `email`.
    channel: String,
    /// The settings without secrets; `secret_set` tells whether a webhook has one.
    #[schema(value_type = Object)]
    settings: Value,
    events: Vec<String>,
    is_enabled: bool,
    /// Why the server switched it off (a day of failed deliveries).
    disabled_reason: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<SubscriptionView> for Subscription {
    fn from(v: SubscriptionView) -> Self {
        Self {
            id: v.id,
            channel: v.channel,
            settings: v.settings,
            events: v.events,
            is_enabled: v.is_enabled,
            disabled_reason: v.disabled_reason,
            created_at: from_unix(v.created_at),
            updated_at: from_unix(v.updated_at),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSubscription {
    #[schema(schema_with = super::schema_facts::channel)]
    channel: String,
    /// webhook: `url`, `secret` (16–256 characters, write-only), `format`
    /// (`openlatch`, `slack`, `discord`, `matrix`); email: `to` (1–20 addresses).
    #[schema(value_type = Object)]
    settings: Value,
    #[schema(schema_with = super::schema_facts::subscribable_events)]
    events: Vec<String>,
    is_enabled: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSubscription {
    /// Replaces the settings; a webhook `secret` left out is kept.
    #[schema(value_type = Option<Object>)]
    settings: Option<Value>,
    #[schema(schema_with = super::schema_facts::subscribable_events_opt)]
    events: Option<Vec<String>>,
    /// Turning a subscription on clears `disabled_reason`.
    is_enabled: Option<bool>,
}

/// All subscriptions.
#[utoipa::path(get, path = "/notifications/subscriptions", tag = "notifications",
    security(("bearer" = [])),
    responses((status = 200, body = [Subscription]), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
async fn list_subscriptions(
    State(app): State<App>,
    _: Admin,
) -> Result<Json<Vec<Subscription>>, AppError> {
    let list = subscriptions::list(&app).await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

/// Subscribe a webhook or e-mail recipients to event types.
#[utoipa::path(post, path = "/notifications/subscriptions", tag = "notifications",
    request_body = CreateSubscription, security(("bearer" = [])),
    responses((status = 201, body = Subscription), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_subscription(
    State(app): State<App>,
    Admin(admin): Admin,
    ApiJson(body): ApiJson<CreateSubscription>,
) -> Result<(StatusCode, Json<Subscription>), AppError> {
    let created = subscriptions::create(
        &app,
        &admin,
        NewSubscription {
            channel: body.channel,
            settings: body.settings,
            events: body.events,
            is_enabled: body.is_enabled,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

/// One subscription.
#[utoipa::path(get, path = "/notifications/subscriptions/{id}", tag = "notifications",
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = Subscription), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_subscription(
    State(app): State<App>,
    _: Admin,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Subscription>, AppError> {
    Ok(Json(subscriptions::get(&app, id).await?.into()))
}

/// Change settings, events or whether it is on.
#[utoipa::path(put, path = "/notifications/subscriptions/{id}", tag = "notifications",
    params(("id" = Uuid, Path)), request_body = UpdateSubscription, security(("bearer" = [])),
    responses((status = 200, body = Subscription), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn update_subscription(
    State(app): State<App>,
    Admin(admin): Admin,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<UpdateSubscription>,
) -> Result<Json<Subscription>, AppError> {
    let patch = SubscriptionPatch {
        settings: body.settings,
        events: body.events,
        is_enabled: body.is_enabled,
    };
    Ok(Json(
        subscriptions::update(&app, &admin, id, patch).await?.into(),
    ))
}

/// Remove a subscription; its queued messages are dropped at their next attempt.
#[utoipa::path(delete, path = "/notifications/subscriptions/{id}", tag = "notifications",
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn delete_subscription(
    State(app): State<App>,
    Admin(admin): Admin,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, AppError> {
    subscriptions::delete(&app, &admin, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct TestQueued {
    /// The `X-OpenLatch-Delivery` id of the test message.
    delivery_id: String,
}

/// Queue a test message (event type `test`); its outcome shows in the deliveries.
#[utoipa::path(post, path = "/notifications/subscriptions/{id}/test", tag = "notifications",
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 202, body = TestQueued), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn test_subscription(
    State(app): State<App>,
    _: Admin,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<(StatusCode, Json<TestQueued>), AppError> {
    let delivery_id = subscriptions::send_test(&app, id).await?;
    Ok((StatusCode::ACCEPTED, Json(TestQueued { delivery_id })))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    subscription_id: Option<Uuid>,
    /// Default 100.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct Delivery {
    /// The message id (`X-OpenLatch-Delivery`).
    delivery_id: String,
    subscription_id: Option<String>,
    channel: String,
    event_type: String,
    attempt: i64,
    /// This attempt: `delivered`, `retry` or `failed`.
    outcome: String,
    /// The message now: `pending`, `in_progress`, `delivered` or `failed`.
    state: String,
    error: Option<String>,
    attempted_at: DateTime<Utc>,
    duration_ms: i64,
}

impl From<DeliveryView> for Delivery {
    fn from(d: DeliveryView) -> Self {
        Self {
            delivery_id: d.delivery_id,
            subscription_id: d.subscription_id,
            channel: d.channel,
            event_type: d.event_type,
            attempt: d.attempt,
            outcome: d.outcome,
            state: d.state,
            error: d.error,
            attempted_at: DateTime::from_timestamp_millis(d.attempted_at_ms).unwrap_or_default(),
            duration_ms: d.duration_ms,
        }
    }
}

/// Recent delivery attempts, newest first.
#[utoipa::path(get, path = "/notifications/deliveries", tag = "notifications",
    params(DeliveriesQuery), security(("bearer" = [])),
    responses((status = 200, body = [Delivery]), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_deliveries(
    State(app): State<App>,
    _: Admin,
    ApiQuery(q): ApiQuery<DeliveriesQuery>,
) -> Result<Json<Vec<Delivery>>, AppError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(AppError::field("limit", "must be between 1 and 1000"));
    }
    let list = subscriptions::deliveries(&app, q.subscription_id, limit).await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}
