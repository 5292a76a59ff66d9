//! `/nfc-keys` and `/members/{id}/keys`.

use super::error::ErrorBody;
use super::extract::{Admin, AnyMember, ApiJson, ApiJsonOrEmpty, ApiPath};
use crate::app::keys::{self, NewKey};
use crate::app::{App, AppError};
use crate::domain::key::{parse_label, KeyAccessType, KeyType, NfcKey, Uid};
use crate::domain::{KeyId, MemberId, Validation};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_member_keys))
        .routes(routes!(register_key))
        .routes(routes!(revoke_key))
}

#[derive(Serialize, ToSchema)]
pub struct KeyView {
    id: KeyId,
    member_id: MemberId,
    /// Upper-case hex without separators.
    uid: String,
    label: String,
    key_type: Option<String>,
    /// `emergency`, `conditional`, or null when the access rules decide.
    access_type: Option<KeyAccessType>,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    revoke_reason: Option<String>,
    created_at: DateTime<Utc>,
}

impl From<NfcKey> for KeyView {
    fn from(k: NfcKey) -> Self {
        Self {
            id: k.id,
            member_id: k.member_id,
            uid: k.uid.as_str().to_owned(),
            label: k.label,
            key_type: k.key_type,
            access_type: k.access_type,
            expires_at: k.expires_at,
            revoked_at: k.revoked_at,
            revoke_reason: k.revoke_reason,
            created_at: k.created_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterKeyRequest {
    #[schema(format = Uuid)]
    member_id: String,
    /// Hex, 4, 7 or 10 bytes; `:`, `-` and spaces are ignored.
    #[schema(schema_with = super::schema_facts::uid)]
    uid: String,
    #[schema(schema_with = super::schema_facts::label_opt)]
    label: Option<String>,
    /// e.g. `mifare_desfire`.
    #[schema(schema_with = super::schema_facts::key_type_opt)]
    key_type: Option<String>,
    /// RFC 3339, in the future; absent or null = no expiry.
    #[schema(schema_with = super::schema_facts::time_opt)]
    expires_at: Option<String>,
    /// Absent = from the access rules.
    #[schema(schema_with = super::schema_facts::access_type_opt)]
    access_type: Option<String>,
}

impl RegisterKeyRequest {
    fn parse(self) -> Result<NewKey, AppError> {
        let mut v = Validation::default();
        let member_id = v.field(
            "member_id",
            self.member_id
                .parse::<MemberId>()
                .map_err(|_| "must be a member id (UUID)"),
        );
        let uid = v.field("uid", Uid::parse(&self.uid));
        let label = v.field(
            "label",
            parse_label(self.label.as_deref().unwrap_or_default()),
        );
        let key_type = v.optional("key_type", self.key_type.as_deref().map(KeyType::parse));
        let expires_at = v.optional(
            "expires_at",
            self.expires_at.as_deref().map(crate::domain::parse_time),
        );
        let access_type = v.optional(
            "access_type",
            self.access_type.as_deref().map(str::parse::<KeyAccessType>),
        );
        match (member_id, uid, label, key_type, expires_at, access_type) {
            (
                Some(member_id),
                Some(uid),
                Some(label),
                Some(key_type),
                Some(expires_at),
                Some(access_type),
            ) if v.is_ok() => Ok(NewKey {
                member_id,
                uid,
                label,
                key_type,
                access_type,
                expires_at,
            }),
            _ => Err(AppError::Validation(v.into_errors())),
        }
    }
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// Why, e.g. "Card lost"; kept with the key and in the audit log.
    #[schema(schema_with = super::schema_facts::label_opt)]
    reason: Option<String>,
}

/// A member's keys, revoked ones included (admin, or the member themself).
#[utoipa::path(get, path = "/members/{id}/keys", tag = "keys", security(("bearer" = [])),
    params(("id" = MemberId, Path)),
    responses((status = 200, body = [KeyView]), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_member_keys(
    State(app): State<App>,
    AnyMember(who): AnyMember,
    ApiPath(id): ApiPath<MemberId>,
) -> Result<Json<Vec<KeyView>>, AppError> {
    let list = keys::list_for_member(&app, &who, id).await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

/// Register an NFC key for a member (admin).
#[utoipa::path(post, path = "/nfc-keys", tag = "keys", request_body = RegisterKeyRequest,
    security(("bearer" = [])),
    responses((status = 201, body = KeyView), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody),
              (status = 409, description = "UID already on an active key", body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn register_key(
    State(app): State<App>,
    Admin(admin): Admin,
    ApiJson(body): ApiJson<RegisterKeyRequest>,
) -> Result<(StatusCode, Json<KeyView>), AppError> {
    let key = keys::register(&app, &admin, body.parse()?).await?;
    Ok((StatusCode::CREATED, Json(key.into())))
}

/// Revoke a key (admin); the next allow-list drops it. Revoking twice is harmless.
#[utoipa::path(post, path = "/nfc-keys/{id}/revoke", tag = "keys", request_body = Option<RevokeRequest>,
    security(("bearer" = [])), params(("id" = KeyId, Path)),
    responses((status = 200, body = KeyView), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn revoke_key(
    State(app): State<App>,
    Admin(admin): Admin,
    ApiPath(id): ApiPath<KeyId>,
    ApiJsonOrEmpty(body): ApiJsonOrEmpty<RevokeRequest>,
) -> Result<Json<KeyView>, AppError> {
    let reason = match body.reason.as_deref().map(parse_label).transpose() {
        Ok(r) => r.filter(|r| !r.is_empty()),
        Err(m) => return Err(AppError::field("reason", m)),
    };
    Ok(Json(keys::revoke(&app, &admin, id, reason).await?.into()))
}
