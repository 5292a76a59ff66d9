//! E-mail over SMTP (lettre): plain text plus a simple HTML part.
//!
//! `smtp_url` picks the security: `smtps://host:465` (TLS from the first
//! byte), `smtp://host:587?tls=required` (STARTTLS, refused without it),
//! `smtp://host:25` (plain: only for a relay on the same machine).
//! Credentials go in the URL (`smtps://user:pass@host`).

use super::{Message, Outcome, Sender, Target};
use crate::config::Config;
use futures_util::future::BoxFuture;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::ExposeSecret;
use serde_json::Value;
use std::time::Duration;

pub struct EmailSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    public_url: Option<String>,
}

impl EmailSender {
    pub fn from_config(config: &Config) -> anyhow::Result<Option<Self>> {
        let Some(url) = &config.smtp_url else {
            return Ok(None);
        };
        let from: Mailbox = config
            .smtp_from
            .as_deref()
            .unwrap_or_default()
            .parse()
            .map_err(|e| anyhow::anyhow!("smtp_from: {e}"))?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
            // The error names the URL part that is wrong, never the password.
            .map_err(|e| anyhow::anyhow!("smtp_url: {e}"))?
            .timeout(Some(Duration::from_secs(config.notify_timeout_secs)))
            .build();
        Ok(Some(Self {
            transport,
            from,
            public_url: config
                .public_url
                .as_deref()
                .map(|u| u.trim_end_matches('/').to_owned()),
        }))
    }

    async fn deliver(&self, m: &Message, to: &str) -> Outcome {
        let (subject, text, html) = compose(&m.payload, self.public_url.as_deref());
        let mut builder = lettre::Message::builder()
            .from(self.from.clone())
            .subject(subject)
            .message_id(Some(format!("<{}@openlatch>", m.id)));
        let mut any = false;
        for addr in to.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            match addr.parse::<Mailbox>() {
                Ok(mb) => {
                    builder = builder.to(mb);
                    any = true;
                }
                Err(e) => return Outcome::Permanent(format!("recipient '{addr}': {e}")),
            }
        }
        if !any {
            return Outcome::Permanent("no recipient".into());
        }
        let mail = match builder.multipart(MultiPart::alternative_plain_html(text, html)) {
            Ok(mail) => mail,
            Err(e) => return Outcome::Permanent(format!("building the message: {e}")),
        };
        match self.transport.send(mail).await {
            Ok(_) => Outcome::Delivered,
            Err(e) if e.is_permanent() => Outcome::Permanent(format!("SMTP: {e}")),
            Err(e) => Outcome::RetryAfter(None, format!("SMTP: {e}")),
        }
    }
}

impl Sender for EmailSender {
    fn send<'a>(&'a self, message: &'a Message) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            match &message.target {
                Target::Email { to } => self.deliver(message, to).await,
                _ => Outcome::Permanent("not an e-mail target".into()),
            }
        })
    }
}

pub fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        Value::Null => {}
        Value::String(s) => out.push((prefix.to_owned(), s.clone())),
        other => out.push((prefix.to_owned(), other.to_string())),
    }
}

/// Subject, text and HTML for an envelope; approval requests link to the
/// approvals page when `public_url` is set.
pub fn compose(envelope: &Value, public_url: Option<&str>) -> (String, String, String) {
    let summary = envelope["summary"].as_str().unwrap_or("notification");
    let event = envelope["type"].as_str().unwrap_or_default();
    let mut details = Vec::new();
    flatten("", &envelope["data"], &mut details);
    let link = match (event, public_url) {
        ("approval_requested", Some(base)) => Some(format!("{base}/approvals")),
        (_, Some(base)) => Some(base.to_owned()),
        _ => None,
    };
    let mut text = format!("{summary}\n\n");
    for (k, v) in &details {
        text.push_str(&format!("{k}: {v}\n"));
    }
    text.push_str(&format!(
        "\nevent: {event}\nat: {}\n",
        envelope["occurred_at"].as_str().unwrap_or_default()
    ));
    let mut html = format!(
        "<!doctype html><html><body><p><strong>{}</strong></p><table>",
        escape_html(summary)
    );
    for (k, v) in &details {
        html.push_str(&format!(
            "<tr><td>{}</td><td>{}</td></tr>",
            escape_html(k),
            escape_html(v)
        ));
    }
    html.push_str("</table>");
    if let Some(link) = &link {
        let label = if event == "approval_requested" {
            "Decide on the approvals page"
        } else {
            "Open OpenLatch"
        };
        text.push_str(&format!("\n{label}: {link}\n"));
        html.push_str(&format!(
            "<p><a href=\"{}\">{label}</a></p>",
            escape_html(link)
        ));
    }
    html.push_str("</body></html>");
    (format!("[OpenLatch] {summary}"), text, html)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn approval_mail_links_to_the_approvals_page_and_escapes() {
        let env = json!({
            "type": "approval_requested",
            "summary": "Guest <b> is waiting",
            "occurred_at": "2026-01-01T00:00:00+00:00",
            "data": { "door": { "name": "front" } },
        });
        let (subject, text, html) = compose(&env, Some("https://door.example.org"));
        assert_eq!(subject, "[OpenLatch] Guest <b> is waiting");
        assert!(text.contains("door.name: front"), "{text}");
        assert!(
            text.contains("https://door.example.org/approvals"),
            "{text}"
        );
        assert!(html.contains("Guest &lt;b&gt; is waiting"), "{html}");
        assert!(html.contains("href=\"https://door.example.org/approvals\""));
    }
}
