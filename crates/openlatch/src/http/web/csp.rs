//! Security headers for every web UI response, set in one layer so that no
//! page (error pages included) can forget them. The policy follows docs.rs's
//! shape: a `Csp` value renders the header by content type; with no inline
//! script or style anywhere we need no nonce (a nonce would be one field here).

use axum::extract::Request;
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The policy of every HTML page.
pub const HTML_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
    base-uri 'none'";
/// Everything else the UI serves (scripts, styles, SVG, event streams, downloads).
pub const OTHER_POLICY: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

#[derive(Clone, Copy, Debug, Default)]
pub struct Csp {
    /// Sends `Content-Security-Policy-Report-Only` instead (for trying a change).
    pub report_only: bool,
}

impl Csp {
    pub fn render(self, content_type: Option<&[u8]>) -> &'static str {
        match content_type {
            Some(t) if t.starts_with(b"text/html") => HTML_POLICY,
            _ => OTHER_POLICY,
        }
    }

    fn header(self) -> HeaderName {
        if self.report_only {
            header::CONTENT_SECURITY_POLICY_REPORT_ONLY
        } else {
            header::CONTENT_SECURITY_POLICY
        }
    }
}

/// Adds the policy, `Referrer-Policy`, `nosniff`, and `no-store` on every
/// response that is not a versioned static asset (pages show personal data).
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    apply(&mut response, Csp::default());
    response
}

pub fn apply(response: &mut Response, csp: Csp) {
    let policy = csp.render(
        response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(HeaderValue::as_bytes),
    );
    let headers = response.headers_mut();
    headers.insert(csp.header(), HeaderValue::from_static(policy));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_gets_the_page_policy() {
        assert_eq!(
            Csp::default().render(Some(b"text/html; charset=utf-8")),
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        );
    }

    #[test]
    fn other_content_gets_nothing_but_framing_rules() {
        for t in [Some(&b"text/css"[..]), Some(b"image/svg+xml"), None] {
            assert_eq!(
                Csp::default().render(t),
                "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
            );
        }
    }

    #[test]
    fn report_only_switches_the_header() {
        assert_eq!(
            Csp { report_only: true }.header(),
            header::CONTENT_SECURITY_POLICY_REPORT_ONLY
        );
        assert_eq!(Csp::default().header(), header::CONTENT_SECURITY_POLICY);
    }
}
