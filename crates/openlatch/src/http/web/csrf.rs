//! Cross-site request forgery, twice over. A stateless layer checks fetch
//! metadata and `Origin` on every unsafe request to the UI (the table of Go
//! 1.25's cross-origin protection, as ported by tower-csrf); and every form
//! carries a per-session token (`WebForm` checks it), for browsers that send
//! neither header.

use super::error::WebError;
use crate::app::web_session;
use crate::app::{App, AppError};
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

/// Name of the hidden field every form carries.
pub const FIELD: &str = "csrf";

/// Whether an unsafe request's headers show it came from a page of this site.
pub fn same_origin(method: &Method, headers: &HeaderMap) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    if let Some(site) = headers.get("sec-fetch-site") {
        return matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        // Neither header: not a browser, or a very old one; the form token decides.
        return true;
    };
    let host = headers.get(header::HOST).map(|h| h.as_bytes());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest.as_bytes());
    matches!((origin_host, host), (Some(o), Some(h)) if o == h)
}

pub async fn check_origin(req: Request, next: Next) -> Response {
    if same_origin(req.method(), req.headers()) {
        next.run(req).await
    } else {
        WebError::csrf().into_response()
    }
}

/// A submitted form (`application/x-www-form-urlencoded`) whose CSRF token
/// matched the session cookie. Every form handler takes this.
pub struct WebForm {
    pairs: Vec<(String, String)>,
}

impl WebForm {
    /// The first value of a field, trimmed of nothing (empty when absent).
    pub fn get(&self, name: &str) -> &str {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// The value, or `None` when absent or blank.
    pub fn opt(&self, name: &str) -> Option<&str> {
        Some(self.get(name).trim()).filter(|v| !v.is_empty())
    }

    /// Every value of a repeated field (checkboxes).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == name)
    }

    #[cfg(test)]
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Self {
            pairs: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }
}

impl FromRequest<App> for WebForm {
    type Rejection = WebError;

    async fn from_request(req: Request, app: &App) -> Result<Self, Self::Rejection> {
        let cookie = super::session::cookie_value(req.headers()).map(str::to_owned);
        let bytes = Bytes::from_request(req, app).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                AppError::PayloadTooLarge
            } else {
                AppError::BadRequest(e.body_text())
            }
        })?;
        let pairs: Vec<(String, String)> = form_urlencoded::parse(&bytes)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let form = WebForm { pairs };
        let presented = form.get(FIELD);
        let ok = cookie.is_some_and(|c| {
            let expected = web_session::csrf_token_for(&c);
            expected.len() == presented.len()
                && bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
        });
        if ok {
            Ok(form)
        } else {
            Err(WebError::csrf())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    /// The header combinations of Go's CrossOriginProtection tests.
    #[test]
    fn cross_origin_table() {
        let host = ("host", "door.example:8080");
        type Case<'a> = (&'a Method, &'a [(&'static str, &'static str)], bool);
        let cases: &[Case] = &[
            (
                &Method::GET,
                &[host, ("sec-fetch-site", "cross-site")],
                true,
            ),
            (
                &Method::HEAD,
                &[host, ("sec-fetch-site", "cross-site")],
                true,
            ),
            (
                &Method::POST,
                &[host, ("sec-fetch-site", "same-origin")],
                true,
            ),
            (&Method::POST, &[host, ("sec-fetch-site", "none")], true),
            (
                &Method::POST,
                &[host, ("sec-fetch-site", "cross-site")],
                false,
            ),
            (
                &Method::POST,
                &[host, ("sec-fetch-site", "same-site")],
                false,
            ),
            (
                &Method::POST,
                &[
                    host,
                    ("sec-fetch-site", "cross-site"),
                    ("origin", "http://door.example:8080"),
                ],
                false,
            ),
            (
                &Method::POST,
                &[host, ("origin", "http://door.example:8080")],
                true,
            ),
            (
                &Method::POST,
                &[host, ("origin", "https://door.example:8080")],
                true,
            ),
            (
                &Method::POST,
                &[host, ("origin", "http://evil.example")],
                false,
            ),
            (
                &Method::POST,
                &[host, ("origin", "http://door.example")],
                false,
            ),
            (&Method::POST, &[host, ("origin", "null")], false),
            (&Method::POST, &[host], true),
            (
                &Method::PUT,
                &[host, ("sec-fetch-site", "cross-site")],
                false,
            ),
            (
                &Method::DELETE,
                &[host, ("origin", "http://evil.example")],
                false,
            ),
        ];
        for (method, h, want) in cases {
            assert_eq!(same_origin(method, &headers(h)), *want, "{method} {h:?}");
        }
    }

    #[test]
    fn form_fields_read_by_name() {
        let f = WebForm::from_pairs(&[("days", "mon"), ("days", "tue"), ("name", " x ")]);
        assert_eq!(f.all("days"), ["mon", "tue"]);
        assert_eq!(f.opt("name"), Some("x"));
        assert_eq!(f.opt("missing"), None);
        assert!(!f.has("missing"));
    }
}
