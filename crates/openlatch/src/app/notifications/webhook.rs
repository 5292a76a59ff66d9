//! Webhooks: a signed JSON POST per message.
//!
//! Headers: `X-OpenLatch-Event` (event type), `X-OpenLatch-Delivery` (the
//! message id, the same on every retry), `X-OpenLatch-Timestamp` (unix
//! seconds) and `X-OpenLatch-Signature: sha256=<hex HMAC-SHA256 of
//! "<timestamp>.<body>" with the subscription's secret>`. 2xx is success;
//! 410 Gone is permanent; everything else (other statuses, timeouts,
//! refused connections) is retried. Redirects are not followed.
//!
//! Unless `notify_allow_private_targets` is set, targets resolving to
//! loopback, private, link-local or otherwise internal addresses are
//! refused, by name as well as by literal address (the check runs in the
//! DNS resolver, so a name cannot resolve differently between check and use).

use super::{Message, Outcome, Sender, Target};
use crate::config::Config;
use futures_util::future::BoxFuture;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookFormat {
    /// The documented envelope, signed.
    OpenLatch,
    /// Slack incoming webhooks (`{"text": ...}`); Mattermost and Rocket.Chat take it too.
    Slack,
    /// Discord webhooks (`{"content": ...}`).
    Discord,
    /// Matrix hookshot generic webhooks (`{"text": ..., "html": ...}`).
    Matrix,
}

impl WebhookFormat {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "openlatch" => Some(Self::OpenLatch),
            "slack" => Some(Self::Slack),
            "discord" => Some(Self::Discord),
            "matrix" => Some(Self::Matrix),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenLatch => "openlatch",
            Self::Slack => "slack",
            Self::Discord => "discord",
            Self::Matrix => "matrix",
        }
    }
}

#[derive(Clone, Debug)]
pub struct WebhookTarget {
    pub url: String,
    pub secret: Option<String>,
    pub format: WebhookFormat,
}

/// An `http(s)` URL with a host and no credentials.
pub fn parse_url(raw: &str) -> Result<url::Url, &'static str> {
    let url = url::Url::parse(raw.trim()).map_err(|_| "must be an absolute http or https URL")?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err("must be an http or https URL");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("must name a host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry a user name or password (use the secret)");
    }
    if raw.len() > 2048 {
        return Err("must be at most 2048 characters");
    }
    Ok(url)
}

/// Addresses a webhook may not reach unless private targets are allowed.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                // 100.64.0.0/10, carrier-grade NAT
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link local
        }
    }
}

const INTERNAL_ONLY: &str =
    "resolves only to internal addresses (see notify_allow_private_targets)";

/// Resolves names and drops internal addresses.
struct PublicOnlyResolver;

impl reqwest::dns::Resolve for PublicOnlyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| !is_internal(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} {INTERNAL_ONLY}").into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

pub struct WebhookSender {
    client: reqwest::Client,
    allow_private: bool,
}

impl WebhookSender {
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.notify_timeout_secs))
            .connect_timeout(Duration::from_secs(config.notify_timeout_secs.min(5)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("OpenLatch/", env!("CARGO_PKG_VERSION")));
        if !config.notify_allow_private_targets {
            builder = builder.dns_resolver(Arc::new(PublicOnlyResolver));
        }
        Ok(Self {
            client: builder.build()?,
            allow_private: config.notify_allow_private_targets,
        })
    }

    async fn post(&self, m: &Message, t: &WebhookTarget) -> Outcome {
        let url = match parse_url(&t.url) {
            Ok(u) => u,
            Err(e) => return Outcome::Permanent(format!("url {e}")),
        };
        if !self.allow_private {
            let literal = match url.host() {
                Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
                _ => None,
            };
            if literal.is_some_and(is_internal) {
                return Outcome::Permanent(
                    "the target is an internal address (see notify_allow_private_targets)".into(),
                );
            }
        }
        let body = render(t.format, &m.payload).to_string();
        let timestamp = chrono::Utc::now().timestamp();
        let mut req = self
            .client
            .post(url)
            .header("Content-Type", "application/json")
            .header("X-OpenLatch-Event", &m.event_type)
            .header("X-OpenLatch-Delivery", &m.id)
            .header("X-OpenLatch-Timestamp", timestamp.to_string());
        if let Some(secret) = &t.secret {
            req = req.header("X-OpenLatch-Signature", sign(secret, timestamp, &body));
        }
        let resp = match req.body(body).send().await {
            Ok(r) => r,
            Err(e) => {
                let why = describe(e);
                // Our own resolver's refusal: a retry would be refused again.
                if why.contains(INTERNAL_ONLY) {
                    return Outcome::Permanent(why);
                }
                return Outcome::RetryAfter(None, why);
            }
        };
        let status = resp.status();
        if status.is_success() {
            return Outcome::Delivered;
        }
        if status == reqwest::StatusCode::GONE {
            return Outcome::Permanent("the receiver answered 410 Gone".into());
        }
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let what = if status.is_redirection() {
            format!("the receiver answered {status} (redirects are not followed)")
        } else {
            format!("the receiver answered {status}")
        };
        Outcome::RetryAfter(retry_after, what)
    }
}

/// Connection and timeout errors without the URL (it may carry a token).
fn describe(e: reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".into();
    }
    let e = e.without_url();
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

/// `sha256=<hex>` over `"<timestamp>.<body>"`.
pub fn sign(secret: &str, timestamp: i64, body: &str) -> String {
    // HMAC takes keys of any length.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The body for a receiver's format.
pub fn render(format: WebhookFormat, envelope: &Value) -> Value {
    let summary = envelope["summary"].as_str().unwrap_or("OpenLatch");
    let text = format!("OpenLatch: {summary}");
    match format {
        WebhookFormat::OpenLatch => envelope.clone(),
        WebhookFormat::Slack => json!({ "text": text }),
        WebhookFormat::Discord => json!({ "content": text }),
        WebhookFormat::Matrix => json!({
            "text": text,
            "html": format!("<b>OpenLatch</b>: {}", super::email::escape_html(summary)),
        }),
    }
}

impl Sender for WebhookSender {
    fn send<'a>(&'a self, message: &'a Message) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            match &message.target {
                Target::Webhook(t) => self.post(message, t).await,
                _ => Outcome::Permanent("not a webhook target".into()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_known_vector() {
        // Computed independently: python3 -c 'import hmac,hashlib;
        // print(hmac.new(b"0123456789abcdef", b"1700000000.{}", hashlib.sha256).hexdigest())'
        assert_eq!(
            sign("0123456789abcdef", 1_700_000_000, "{}"),
            "sha256=e4f8e2ecae2295b2ddb2f0b5584c8275e226c0ebe9b3b819e70156bb67122e3e"
        );
    }

    #[test]
    fn internal_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.1.1",
            "172.16.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_internal(ip.parse().expect("ip")), "{ip}");
        }
        for ip in ["1.1.1.1", "2a00:1450::1", "100.128.0.1"] {
            assert!(!is_internal(ip.parse().expect("ip")), "{ip}");
        }
    }

    #[test]
    fn urls_are_checked() {
        assert!(parse_url("https://hooks.example.org/door").is_ok());
        assert!(parse_url("ftp://x.org").is_err());
        assert!(parse_url("https://user:pw@x.org").is_err());
        assert!(parse_url("not a url").is_err());
    }

    #[test]
    fn chat_formats_carry_the_summary() {
        let env = json!({ "summary": "front <door> is offline" });
        assert_eq!(
            render(WebhookFormat::Slack, &env)["text"],
            "OpenLatch: front <door> is offline"
        );
        assert!(render(WebhookFormat::Discord, &env)["content"].is_string());
        assert!(render(WebhookFormat::Matrix, &env)["html"]
            .as_str()
            .is_some_and(|h| h.contains("&lt;door&gt;")));
    }
}
