//! `POST /auth/login`, `POST /auth/refresh`, `POST /auth/logout`, `POST /auth/logout-all`.

use super::error::ErrorBody;
use super::extract::{AnyMember, ApiJson, ClientAddr};
use crate::app::auth::{self, IssuedToken};
use crate::app::{App, AppError};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(logout_all))
}

/// Deliberately not `Debug`: it holds a password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(max_length = 254)]
    username: String,
    #[schema(max_length = 1024)]
    password: String,
}

#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    access_token: String,
    /// Always `bearer`.
    token_type: &'static str,
    /// Seconds until the token expires (900 for a fresh login).
    expires_in: i64,
}

impl From<IssuedToken> for TokenResponse {
    fn from(t: IssuedToken) -> Self {
        Self {
            access_token: t.access_token,
            token_type: "bearer",
            expires_in: t.expires_in,
        }
    }
}

/// Log in with username and password.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, description = "Unknown user or wrong password (one message for both)", body = ErrorBody),
        (status = 429, description = "Too many failures; see Retry-After", body = ErrorBody),
    ))]
async fn login(
    State(app): State<App>,
    ClientAddr(client): ClientAddr,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Json<TokenResponse>, AppError> {
    let issued = auth::login(&app, &body.username, &body.password, client).await?;
    Ok(Json(issued.into()))
}

/// A fresh 15-minute token for a valid one, never past 12 hours after login.
#[utoipa::path(post, path = "/auth/refresh", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = TokenResponse), (status = 401, body = ErrorBody)))]
async fn refresh(
    State(app): State<App>,
    AnyMember(who): AnyMember,
) -> Result<Json<TokenResponse>, AppError> {
    Ok(Json(auth::refresh(&app, &who)?.into()))
}

/// Ends the session behind this token; the token and any refreshed from it stop working.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "The session has ended"), (status = 401, body = ErrorBody)))]
async fn logout(State(app): State<App>, AnyMember(who): AnyMember) -> Result<StatusCode, AppError> {
    auth::logout(&app, &who).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends every session of the caller (all browsers and devices), this one included.
#[utoipa::path(post, path = "/auth/logout-all", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "Every session of the caller has ended"), (status = 401, body = ErrorBody)))]
async fn logout_all(
    State(app): State<App>,
    AnyMember(who): AnyMember,
) -> Result<StatusCode, AppError> {
    auth::logout_all(&app, &who).await?;
    Ok(StatusCode::NO_CONTENT)
}
