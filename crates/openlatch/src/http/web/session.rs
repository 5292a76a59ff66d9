//! The session cookie and the web UI's callers. `WebUser`, `WebStaff` and
//! `WebAdmin` read the cookie, then check the session and the member's
//! current role like the bearer extractors in `http/extract.rs`. The API
//! (`/api/v1`) never reads this cookie, so it needs no CSRF defence.

use super::error::WebError;
use crate::app::web_session::{self, WebSession};
use crate::app::{App, AppError};
use crate::domain::member::Role;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use std::net::SocketAddr;

/// Over HTTPS the cookie is `__Host-` prefixed: Secure, host-only, path `/`.
pub const SECURE_NAME: &str = "__Host-openlatch_session";
/// Over plain HTTP (a Pi on the LAN without TLS) the browser would drop a Secure cookie.
pub const PLAIN_NAME: &str = "openlatch_session";
/// The server ends a session after 12 hours whatever the browser does.
const MAX_AGE_SECS: i64 = crate::app::token::SESSION_SECS;

/// The cookie's value, under either name.
pub fn cookie_value(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SECURE_NAME || *name == PLAIN_NAME)
        .map(|(_, value)| value.trim())
}

/// Whether the browser reached us over HTTPS: the server speaks TLS itself
/// (`tls_cert`), or a trusted proxy says so in `X-Forwarded-Proto`.
pub fn is_https(parts_headers: &HeaderMap, peer: Option<SocketAddr>, app: &App) -> bool {
    if app.config.tls_cert.is_some() {
        return true;
    }
    let from_trusted_proxy = peer.is_some_and(|p| app.config.trusted_proxies.contains(&p.ip()));
    from_trusted_proxy
        && parts_headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// `Set-Cookie` for a new session.
pub fn set_cookie(value: &str, https: bool) -> HeaderValue {
    let cookie = if https {
        format!("{SECURE_NAME}={value}; Path=/; Max-Age={MAX_AGE_SECS}; HttpOnly; SameSite=Strict; Secure")
    } else {
        format!("{PLAIN_NAME}={value}; Path=/; Max-Age={MAX_AGE_SECS}; HttpOnly; SameSite=Strict")
    };
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `Set-Cookie` that removes the cookie.
pub fn clear_cookie(https: bool) -> HeaderValue {
    HeaderValue::from_static(if https {
        "__Host-openlatch_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict; Secure"
    } else {
        "openlatch_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"
    })
}

/// Whether this request came over HTTPS (for the extractors' callers).
pub struct Https(pub bool);

impl FromRequestParts<App> for Https {
    type Rejection = WebError;
    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        Ok(Https(is_https(&parts.headers, peer, app)))
    }
}

async fn session(parts: &Parts, app: &App) -> Result<WebSession, WebError> {
    let value = cookie_value(&parts.headers).ok_or(AppError::Unauthenticated)?;
    Ok(web_session::authenticate(app, value).await?)
}

/// Any active member, logged in through the web UI.
pub struct WebUser(pub WebSession);
/// A keyholder or admin.
pub struct WebStaff(pub WebSession);
/// An admin.
pub struct WebAdmin(pub WebSession);

impl FromRequestParts<App> for WebUser {
    type Rejection = WebError;
    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        session(parts, app).await.map(WebUser)
    }
}

impl FromRequestParts<App> for WebStaff {
    type Rejection = WebError;
    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let s = session(parts, app).await?;
        if s.principal.member.role >= Role::Keyholder {
            Ok(WebStaff(s))
        } else {
            Err(WebError::forbidden(&s))
        }
    }
}

impl FromRequestParts<App> for WebAdmin {
    type Rejection = WebError;
    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let s = session(parts, app).await?;
        if s.principal.member.role == Role::Admin {
            Ok(WebAdmin(s))
        } else {
            Err(WebError::forbidden(&s))
        }
    }
}

/// A caller who may or may not be logged in (the login page).
pub struct MaybeWebUser(pub Option<WebSession>);

impl FromRequestParts<App> for MaybeWebUser {
    type Rejection = WebError;
    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        match session(parts, app).await {
            Ok(s) => Ok(MaybeWebUser(Some(s))),
            Err(e) if e.is_unauthenticated() => Ok(MaybeWebUser(None)),
            Err(e) => Err(e),
        }
    }
}

/// A path parameter; one that does not parse names nothing: an HTML 404.
pub struct WebPath<T>(pub T);

impl<T: serde::de::DeserializeOwned + Send> FromRequestParts<App> for WebPath<T> {
    type Rejection = WebError;
    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, app)
            .await
            .map(|p| WebPath(p.0))
            .map_err(|_| AppError::NotFound("page").into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_either_cookie_name_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; openlatch_session=abc; x=y"),
        );
        assert_eq!(cookie_value(&h), Some("abc"));
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("__Host-openlatch_session=def"),
        );
        assert_eq!(cookie_value(&h), Some("def"));
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("xopenlatch_session=zzz"),
        );
        assert_eq!(cookie_value(&h), None);
    }

    #[test]
    fn cookie_attributes() {
        let plain = set_cookie("v", false);
        assert_eq!(
            plain.to_str().ok(),
            Some("openlatch_session=v; Path=/; Max-Age=43200; HttpOnly; SameSite=Strict")
        );
        let secure = set_cookie("v", true);
        assert!(secure
            .to_str()
            .is_ok_and(|s| s.starts_with("__Host-openlatch_session=v; Path=/;")
                && s.ends_with("HttpOnly; SameSite=Strict; Secure")));
    }
}
