//! Subscriptions: a channel, its settings and the events it wants.
//!
//! Secrets in settings are write-only: stored, used to sign, never shown.
//! An update that leaves `secret` out keeps the stored one.

use super::events::{self, EventType};
use super::webhook::{WebhookFormat, WebhookTarget};
use super::{Target, CHANNEL_EMAIL, CHANNEL_WEBHOOK};
use crate::app::auth::Principal;
use crate::app::{App, AppError, AppResult};
use crate::domain::member::Email;
use crate::domain::Validation;
use crate::storage::audit::{self, Actor, NewEntry};
use crate::storage::notifications::{self as store, SubscriptionRow};
use crate::storage::{now_unix, outbox};
use serde_json::{json, Map, Value};
use uuid::Uuid;

pub const MAX_RECIPIENTS: usize = 20;
const SECRET_MIN: usize = 16;
const SECRET_MAX: usize = 256;

/// A subscription as shown: settings without secrets.
#[derive(Clone, Debug)]
pub struct SubscriptionView {
    pub id: Uuid,
    pub channel: String,
    pub settings: Value,
    pub events: Vec<String>,
    pub is_enabled: bool,
    pub disabled_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

fn view(row: &SubscriptionRow) -> AppResult<SubscriptionView> {
    let mut settings: Map<String, Value> = serde_json::from_str(&row.settings)
        .map_err(|e| AppError::Internal(format!("stored subscription settings: {e}")))?;
    if settings.remove("secret").is_some() {
        settings.insert("secret_set".into(), Value::Bool(true));
    } else if row.channel == CHANNEL_WEBHOOK {
        settings.insert("secret_set".into(), Value::Bool(false));
    }
    Ok(SubscriptionView {
        id: row
            .id
            .parse()
            .map_err(|_| AppError::Internal("stored subscription id".into()))?,
        channel: row.channel.clone(),
        settings: Value::Object(settings),
        events: serde_json::from_str(&row.events).unwrap_or_default(),
        is_enabled: row.is_enabled,
        disabled_reason: row.disabled_reason.clone(),
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// What the target of a stored subscription is (the worker's view).
pub fn target_of(row: &SubscriptionRow) -> Result<Target, String> {
    let settings: Value =
        serde_json::from_str(&row.settings).map_err(|e| format!("stored settings: {e}"))?;
    match row.channel.as_str() {
        CHANNEL_WEBHOOK => Ok(Target::Webhook(WebhookTarget {
            url: settings["url"].as_str().unwrap_or_default().to_owned(),
            secret: settings["secret"].as_str().map(str::to_owned),
            format: settings["format"]
                .as_str()
                .and_then(WebhookFormat::parse)
                .unwrap_or(WebhookFormat::OpenLatch),
        })),
        CHANNEL_EMAIL => Ok(Target::Email {
            to: settings["to"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default(),
        }),
        other => Err(format!("unknown channel '{other}'")),
    }
}

/// Checks settings for `channel`; `keep_secret` is the stored secret an
/// update may keep. Returns the settings to store.
fn check_settings(
    v: &mut Validation,
    channel: &str,
    raw: &Value,
    keep_secret: Option<&str>,
    allow_private: bool,
) -> Option<Value> {
    let Some(obj) = raw.as_object() else {
        v.fail("settings", "must be an object");
        return None;
    };
    let allowed: &[&str] = match channel {
        CHANNEL_WEBHOOK => &["url", "secret", "format"],
        CHANNEL_EMAIL => &["to"],
        _ => return None,
    };
    for k in obj.keys() {
        if !allowed.contains(&k.as_str()) {
            v.fail(
                &format!("settings.{k}"),
                format!("unknown setting; {channel} takes {}", allowed.join(", ")),
            );
        }
    }
    match channel {
        CHANNEL_WEBHOOK => {
            let url = match obj.get("url").and_then(Value::as_str) {
                None => {
                    v.fail("settings.url", "is required");
                    None
                }
                Some(u) => v.field("settings.url", super::webhook::parse_url(u)),
            };
            let literal = match url.as_ref().and_then(|u| u.host()) {
                Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
                _ => None,
            };
            if !allow_private && literal.is_some_and(super::webhook::is_internal) {
                v.fail(
                    "settings.url",
                    "is an internal address; the server setting notify_allow_private_targets allows it",
                );
            }
            let format = match obj.get("format") {
                None => Some(WebhookFormat::OpenLatch),
                Some(f) => v.field(
                    "settings.format",
                    f.as_str()
                        .and_then(WebhookFormat::parse)
                        .ok_or("must be openlatch, slack, discord or matrix"),
                ),
            };
            let secret = match obj.get("secret") {
                Some(Value::String(s))
                    if (SECRET_MIN..=SECRET_MAX).contains(&s.len())
                        && !s.chars().any(char::is_control) =>
                {
                    Some(s.clone())
                }
                Some(_) => {
                    v.fail(
                        "settings.secret",
                        format!("must be {SECRET_MIN} to {SECRET_MAX} characters"),
                    );
                    None
                }
                None => keep_secret.map(str::to_owned),
            };
            if secret.is_none() && format == Some(WebhookFormat::OpenLatch) && v.is_ok() {
                v.fail(
                    "settings.secret",
                    "is required for the openlatch format (deliveries are signed with it)",
                );
            }
            let (url, format) = (url?, format?);
            let mut out = json!({ "url": url.to_string(), "format": format.as_str() });
            if let Some(s) = secret {
                out["secret"] = Value::String(s);
            }
            Some(out)
        }
        _ => {
            let Some(list) = obj.get("to").and_then(Value::as_array) else {
                v.fail("settings.to", "is required: a list of e-mail addresses");
                return None;
            };
            if list.is_empty() || list.len() > MAX_RECIPIENTS {
                v.fail(
                    "settings.to",
                    format!("must list 1 to {MAX_RECIPIENTS} addresses"),
                );
                return None;
            }
            let mut to = Vec::new();
            for (i, a) in list.iter().enumerate() {
                let parsed = a.as_str().ok_or("must be a string").and_then(Email::parse);
                if let Some(e) = v.field(&format!("settings.to[{i}]"), parsed) {
                    to.push(e.as_str().to_owned());
                }
            }
            Some(json!({ "to": to }))
        }
    }
}

fn check_events(v: &mut Validation, raw: &[String]) -> Option<Vec<String>> {
    if raw.is_empty() {
        v.fail("events", "must list at least one event type");
        return None;
    }
    let mut out = Vec::new();
    for (i, e) in raw.iter().enumerate() {
        match EventType::parse(e) {
            Some(t) => out.push(t.as_str().to_owned()),
            None => v.fail(
                &format!("events[{i}]"),
                format!(
                    "unknown event type; one of {}",
                    EventType::SUBSCRIBABLE.map(EventType::as_str).join(", ")
                ),
            ),
        }
    }
    out.sort();
    out.dedup();
    Some(out)
}

pub struct NewSubscription {
    pub channel: String,
    pub settings: Value,
    pub events: Vec<String>,
    pub is_enabled: Option<bool>,
}

pub async fn create(
    app: &App,
    who: &Principal,
    new: NewSubscription,
) -> AppResult<SubscriptionView> {
    let mut v = Validation::default();
    if new.channel != CHANNEL_WEBHOOK && new.channel != CHANNEL_EMAIL {
        v.fail(
            "channel",
            "must be webhook or email (MQTT is configured for the whole server)",
        );
    }
    let allow_private = app.config.notify_allow_private_targets;
    let settings = check_settings(&mut v, &new.channel, &new.settings, None, allow_private);
    let events = check_events(&mut v, &new.events);
    let (true, Some(settings), Some(events)) = (v.is_ok(), settings, events) else {
        return Err(AppError::Validation(v.into_errors()));
    };
    let now = now_unix();
    let row = SubscriptionRow {
        id: Uuid::new_v4().to_string(),
        channel: new.channel,
        settings: settings.to_string(),
        events: json!(events).to_string(),
        is_enabled: new.is_enabled.unwrap_or(true),
        disabled_reason: None,
        created_at: now,
        updated_at: now,
    };
    let mut tx = app.db.begin().await?;
    store::insert(&mut tx, &row).await?;
    audit_change(&mut tx, who, "notification_subscription_created", &row).await?;
    tx.commit().await?;
    view(&row)
}

pub struct SubscriptionPatch {
    pub settings: Option<Value>,
    pub events: Option<Vec<String>>,
    pub is_enabled: Option<bool>,
}

pub async fn update(
    app: &App,
    who: &Principal,
    id: Uuid,
    patch: SubscriptionPatch,
) -> AppResult<SubscriptionView> {
    let mut tx = app.db.begin().await?;
    let mut row = store::get(&mut tx, &id.to_string())
        .await?
        .ok_or(AppError::NotFound("subscription"))?;
    let mut v = Validation::default();
    if let Some(s) = &patch.settings {
        let stored: Value = serde_json::from_str(&row.settings).unwrap_or(Value::Null);
        let allow_private = app.config.notify_allow_private_targets;
        if let Some(s) = check_settings(
            &mut v,
            &row.channel,
            s,
            stored["secret"].as_str(),
            allow_private,
        ) {
            row.settings = s.to_string();
        }
    }
    if let Some(e) = &patch.events {
        if let Some(e) = check_events(&mut v, e) {
            row.events = json!(e).to_string();
        }
    }
    if !v.is_ok() {
        return Err(AppError::Validation(v.into_errors()));
    }
    if let Some(on) = patch.is_enabled {
        row.is_enabled = on;
        if on {
            row.disabled_reason = None;
        }
    }
    row.updated_at = now_unix();
    store::update(&mut tx, &row).await?;
    audit_change(&mut tx, who, "notification_subscription_updated", &row).await?;
    tx.commit().await?;
    view(&row)
}

pub async fn delete(app: &App, who: &Principal, id: Uuid) -> AppResult<()> {
    let mut tx = app.db.begin().await?;
    let row = store::get(&mut tx, &id.to_string())
        .await?
        .ok_or(AppError::NotFound("subscription"))?;
    store::delete(&mut tx, &row.id).await?;
    audit_change(&mut tx, who, "notification_subscription_deleted", &row).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn list(app: &App) -> AppResult<Vec<SubscriptionView>> {
    let mut conn = app.db.read().await?;
    store::list(&mut conn).await?.iter().map(view).collect()
}

pub async fn get(app: &App, id: Uuid) -> AppResult<SubscriptionView> {
    let mut conn = app.db.read().await?;
    let row = store::get(&mut conn, &id.to_string())
        .await?
        .ok_or(AppError::NotFound("subscription"))?;
    view(&row)
}

/// Queues a test message for one subscription; returns its delivery id.
pub async fn send_test(app: &App, id: Uuid) -> AppResult<String> {
    let mut tx = app.db.begin().await?;
    let row = store::get(&mut tx, &id.to_string())
        .await?
        .ok_or(AppError::NotFound("subscription"))?;
    let delivery = super::enqueue_for(&mut tx, &row, &events::test(&row.id, now_unix())).await?;
    tx.commit().await?;
    app.notifications.wake();
    Ok(delivery)
}

/// One attempt as shown by `GET /notifications/deliveries`.
#[derive(Clone, Debug)]
pub struct DeliveryView {
    pub delivery_id: String,
    pub subscription_id: Option<String>,
    pub channel: String,
    pub event_type: String,
    pub attempt: i64,
    /// delivered, retry or failed.
    pub outcome: String,
    /// The message's state now: pending, in_progress, delivered, failed.
    pub state: String,
    pub error: Option<String>,
    pub attempted_at_ms: i64,
    pub duration_ms: i64,
}

pub async fn deliveries(
    app: &App,
    subscription_id: Option<Uuid>,
    limit: i64,
) -> AppResult<Vec<DeliveryView>> {
    let mut conn = app.db.read().await?;
    let sub = subscription_id.map(|s| s.to_string());
    let rows = outbox::recent_attempts(&mut conn, sub.as_deref(), limit).await?;
    Ok(rows
        .into_iter()
        .map(|r| DeliveryView {
            delivery_id: r.attempt.outbox_id,
            subscription_id: r.attempt.subscription_id,
            channel: r.channel,
            event_type: r.event_type,
            attempt: r.attempt.attempt,
            outcome: r.attempt.outcome,
            state: r.state,
            error: r.attempt.error,
            attempted_at_ms: r.attempt.attempted_ms,
            duration_ms: r.attempt.duration_ms,
        })
        .collect())
}

async fn audit_change(
    conn: &mut sqlx::AnyConnection,
    who: &Principal,
    event_type: &str,
    row: &SubscriptionRow,
) -> AppResult<()> {
    let events: Value = serde_json::from_str(&row.events).unwrap_or(Value::Null);
    // Only where it goes: the host of a webhook (chat webhook URLs are
    // secrets themselves), never the secret.
    let target = match target_of(row) {
        Ok(Target::Webhook(w)) => json!(url::Url::parse(&w.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))),
        Ok(Target::Email { to }) => json!(to),
        _ => Value::Null,
    };
    audit::insert(
        conn,
        NewEntry::now(
            event_type,
            Actor::Member(who.member.id),
            Some(row.id.clone()),
            json!({ "channel": row.channel, "target": target, "events": events,
                    "is_enabled": row.is_enabled }),
        ),
    )
    .await?;
    Ok(())
}
