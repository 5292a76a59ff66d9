//! The UI's own stylesheet and script, embedded in the binary and served
//! with a content hash in the URL, so they can be cached forever.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

pub const CSS: &str = include_str!("../../../static/app.css");
pub const JS: &str = include_str!("../../../static/app.js");

fn short_hash(content: &str) -> String {
    hex::encode(&Sha256::digest(content.as_bytes())[..6])
}

static CSS_URL: LazyLock<String> =
    LazyLock::new(|| format!("/static/app.css?v={}", short_hash(CSS)));
static JS_URL: LazyLock<String> = LazyLock::new(|| format!("/static/app.js?v={}", short_hash(JS)));

pub fn css_url() -> &'static str {
    &CSS_URL
}

pub fn js_url() -> &'static str {
    &JS_URL
}

fn asset(content: &'static str, kind: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(kind)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        content,
    )
        .into_response()
}

pub async fn css() -> Response {
    asset(CSS, "text/css; charset=utf-8")
}

pub async fn js() -> Response {
    asset(JS, "text/javascript; charset=utf-8")
}
