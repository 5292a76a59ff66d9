//! Extractors: JSON and query parsing with field-level errors, the client
//! address, and authentication. Handlers name the caller they need
//! (`AnyMember`, `Staff`, `Admin`, `Door`) and never check tokens themselves.

use crate::app::auth::{self, Principal};
use crate::app::{App, AppError};
use crate::domain::device::Device;
use crate::domain::member::Role;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;
use std::net::{IpAddr, SocketAddr};

/// A JSON body; malformed JSON is a 400, a well-formed body with a bad or
/// unknown field is a 422 naming the field.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        let value = super::strict_json::parse_body(&bytes)?;
        // serde would fill a struct from an array in field order.
        if !value.is_object() {
            return Err(AppError::field("body", "must be a JSON object"));
        }
        serde_path_to_error::deserialize(value)
            .map(ApiJson)
            .map_err(|e| {
                let path = e.path().to_string();
                field_error(&path, &e.into_inner().to_string())
            })
    }
}

/// The raw body within the size limit: too large is 413, a broken body 400.
pub async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, AppError> {
    Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::PayloadTooLarge
        } else {
            AppError::BadRequest(e.body_text())
        }
    })
}

/// Query parameters, with the same field-level errors as bodies.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded_parse(query));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|e| {
                let path = e.path().to_string();
                field_error(&path, &e.into_inner().to_string())
            })
    }
}

fn form_urlencoded_parse(query: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(query.as_bytes())
}

/// Turns serde's message into `{field: message}`; serde names unknown and
/// missing fields only inside the message, in backticks.
fn field_error(path: &str, message: &str) -> AppError {
    let named = message.split('`').nth(1).unwrap_or_default();
    let join = |name: &str| {
        if path == name || path.ends_with(&format!(".{name}")) {
            path.to_owned()
        } else if path == "." || path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };
    let (field, text) = if message.starts_with("unknown field") {
        (join(named), "is not a known field".to_owned())
    } else if message.starts_with("missing field") {
        (join(named), "is required".to_owned())
    } else {
        let field = if path == "." {
            "body".to_owned()
        } else {
            path.to_owned()
        };
        (field, message.to_owned())
    };
    AppError::field(&field, text)
}

/// The client's address: the peer, or what a trusted proxy forwarded.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub IpAddr);

impl FromRequestParts<App> for ClientAddr {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .ok_or_else(|| AppError::Internal("no peer address".into()))?;
        Ok(ClientAddr(client_addr(
            peer,
            parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok()),
            &app.config.trusted_proxies,
        )))
    }
}

/// Walks `X-Forwarded-For` from the right, past trusted proxies, to the
/// first address nobody trusted added; without a trusted peer the header is ignored.
fn client_addr(peer: IpAddr, forwarded: Option<&str>, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let mut client = peer;
    for hop in forwarded.unwrap_or_default().rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(addr) => {
                client = addr;
                if !trusted.contains(&addr) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    client
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

async fn principal(parts: &Parts, app: &App) -> Result<Principal, AppError> {
    let token = bearer(parts).ok_or(AppError::Unauthenticated)?;
    // Device tokens are for the device API only.
    if token.starts_with(crate::domain::device::DeviceToken::PREFIX) {
        return Err(AppError::Unauthenticated);
    }
    auth::authenticate(app, token).await
}

/// Any active member.
pub struct AnyMember(pub Principal);
/// A keyholder or an admin.
pub struct Staff(pub Principal);
/// An admin.
pub struct Admin(pub Principal);

impl FromRequestParts<App> for AnyMember {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        principal(parts, app).await.map(AnyMember)
    }
}

impl FromRequestParts<App> for Staff {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let p = principal(parts, app).await?;
        if p.member.role >= Role::Keyholder {
            Ok(Staff(p))
        } else {
            Err(AppError::Forbidden)
        }
    }
}

impl FromRequestParts<App> for Admin {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let p = principal(parts, app).await?;
        if p.member.role == Role::Admin {
            Ok(Admin(p))
        } else {
            Err(AppError::Forbidden)
        }
    }
}

/// A registered, enabled door controller. Failures are rate limited per client address.
pub struct Door(pub std::sync::Arc<Device>);

impl FromRequestParts<App> for Door {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let ClientAddr(client) = ClientAddr::from_request_parts(parts, app).await?;
        // Boxed so that requests held open (approvals) do not keep the
        // space of this database work reserved in their futures.
        Box::pin(auth::authenticate_device_from(app, bearer(parts), client))
            .await
            .map(Door)
    }
}

/// A JSON body that may also be absent (an empty body or `null` means `T::default()`).
pub struct ApiJsonOrEmpty<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for ApiJsonOrEmpty<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let has_body = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|v| v != "0");
        if !has_body {
            return Ok(ApiJsonOrEmpty(T::default()));
        }
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(ApiJsonOrEmpty(T::default()));
        }
        let value = super::strict_json::parse_body(&bytes)?;
        // `null` is "no body" as the document's `oneOf: [null, object]` says.
        if value.is_null() {
            return Ok(ApiJsonOrEmpty(T::default()));
        }
        // serde would fill a struct from an array in field order.
        if !value.is_object() {
            return Err(AppError::field("body", "must be a JSON object"));
        }
        serde_path_to_error::deserialize(value)
            .map(ApiJsonOrEmpty)
            .map_err(|e| {
                let path = e.path().to_string();
                field_error(&path, &e.into_inner().to_string())
            })
    }
}

/// A path parameter; one that does not parse (not a UUID) names nothing that exists: 404.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|_| AppError::NotFound("resource"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.1".parse().expect("ip");
        let client: IpAddr = "203.0.113.7".parse().expect("ip");
        let peer_direct: IpAddr = "198.51.100.2".parse().expect("ip");
        assert_eq!(
            client_addr(peer_direct, Some("203.0.113.7"), &[proxy]),
            peer_direct
        );
        assert_eq!(
            client_addr(proxy, Some("1.2.3.4, 203.0.113.7"), &[proxy]),
            client
        );
        assert_eq!(client_addr(proxy, None, &[proxy]), proxy);
    }

    #[test]
    fn serde_messages_become_field_errors() {
        let AppError::Validation(f) = field_error(".", "unknown field `colour`, expected `name`")
        else {
            panic!("not a validation error")
        };
        assert_eq!(
            f.get("colour").map(String::as_str),
            Some("is not a known field")
        );
        let AppError::Validation(f) = field_error(".", "missing field `uid`") else {
            panic!("not a validation error")
        };
        assert_eq!(f.get("uid").map(String::as_str), Some("is required"));
        let AppError::Validation(f) = field_error("targets[0]", "missing field `target_type`")
        else {
            panic!("not a validation error")
        };
        assert!(f.contains_key("targets[0].target_type"));
    }
}
