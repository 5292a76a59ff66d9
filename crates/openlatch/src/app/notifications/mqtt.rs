//! MQTT (rumqttc) with Home Assistant discovery.
//!
//! Topics, with the default prefix `openlatch` and `<door>` the door's id:
//! - `openlatch/status`: `online` / `offline`, retained; `offline` is the
//!   last will, so it is set by the broker when the server vanishes.
//! - `openlatch/<door>/state`: `{"online", "allowlist_version",
//!   "last_heartbeat_at"}`, retained, on every change.
//! - `openlatch/<door>/battery`: `{"percent", "critical"}`, retained.
//! - `openlatch/<door>/event`: every door event (UIDs shortened), not retained.
//! - `openlatch/<door>/last_access`: the last opening, retained.
//! - `homeassistant/{sensor,binary_sensor}/openlatch_<door>/.../config`:
//!   discovery, retained, published on every (re)connect.
//!
//! Messages go through the outbox like every other channel; the sender
//! hands them to the client with QoS 1, which re-sends unacknowledged ones
//! after a reconnect. While the broker is away, messages wait in the outbox.

use super::{enqueue_mqtt, Message, Outcome, Sender, Target};
use crate::app::{App, AppResult};
use crate::config::Config;
use crate::domain::device::{event, Device};
use crate::storage::{device_status, devices, outbox};
use futures_util::future::BoxFuture;
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS, Transport};
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

pub struct MqttSender {
    client: AsyncClient,
    connected: Arc<AtomicBool>,
    announce: Arc<AtomicBool>,
    status_topic: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MqttSender {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn options(config: &Config, raw: &str) -> anyhow::Result<MqttOptions> {
    let url = url::Url::parse(raw).map_err(|e| anyhow::anyhow!("mqtt_url: {e}"))?;
    let (tls, default_port) = match url.scheme() {
        "mqtt" | "tcp" => (false, 1883),
        "mqtts" | "ssl" => (true, 8883),
        other => anyhow::bail!("mqtt_url: scheme '{other}' (use mqtt:// or mqtts://)"),
    };
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| anyhow::anyhow!("mqtt_url: no host"))?;
    let client_id = format!(
        "openlatch-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let mut o = MqttOptions::new(client_id, host, url.port().unwrap_or(default_port));
    o.set_keep_alive(Duration::from_secs(30));
    if tls {
        o.set_transport(Transport::tls_with_default_config());
    }
    if !url.username().is_empty() {
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        o.set_credentials(
            decode(url.username()),
            decode(url.password().unwrap_or_default()),
        );
    }
    o.set_last_will(LastWill::new(
        format!("{}/status", config.mqtt_topic_prefix),
        "offline",
        QoS::AtLeastOnce,
        true,
    ));
    Ok(o)
}

impl MqttSender {
    /// Connects in the background when `mqtt_url` is set.
    pub fn from_config(config: &Config, wake: Arc<Notify>) -> anyhow::Result<Option<Self>> {
        let Some(url) = &config.mqtt_url else {
            return Ok(None);
        };
        let opts = options(config, url.expose_secret())?;
        let (client, mut eventloop) = AsyncClient::new(opts, 1024);
        let connected = Arc::new(AtomicBool::new(false));
        let announce = Arc::new(AtomicBool::new(false));
        let status_topic = format!("{}/status", config.mqtt_topic_prefix);
        let task = {
            let (client, connected, announce, status) = (
                client.clone(),
                connected.clone(),
                announce.clone(),
                status_topic.clone(),
            );
            tokio::spawn(async move {
                let mut backoff = Duration::from_millis(500);
                loop {
                    match eventloop.poll().await {
                        Ok(Event::Incoming(Packet::ConnAck(_))) => {
                            tracing::info!("MQTT broker connected");
                            backoff = Duration::from_millis(500);
                            connected.store(true, Ordering::SeqCst);
                            let _ = client.try_publish(&status, QoS::AtLeastOnce, true, "online");
                            announce.store(true, Ordering::SeqCst);
                            wake.notify_one();
                        }
                        Ok(_) => {}
                        Err(e) => {
                            if connected.swap(false, Ordering::SeqCst) {
                                tracing::warn!(error = %e, "MQTT broker lost; reconnecting");
                            } else {
                                tracing::debug!(error = %e, "MQTT broker unreachable");
                            }
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(Duration::from_secs(10));
                        }
                    }
                }
            })
        };
        Ok(Some(Self {
            client,
            connected,
            announce,
            status_topic,
            task,
        }))
    }

    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }

    /// True once after each (re)connect: the worker then announces every door.
    pub fn take_announce(&self) -> bool {
        self.announce.swap(false, Ordering::SeqCst)
    }

    pub fn request_announce(&self) {
        self.announce.store(true, Ordering::SeqCst);
    }

    /// A clean stop: `offline` is published ourselves (a clean disconnect
    /// does not fire the last will).
    pub async fn shutdown(&self) {
        if self.is_connected() {
            let _ = self
                .client
                .publish(&self.status_topic, QoS::AtLeastOnce, true, "offline")
                .await;
            let _ = self.client.disconnect().await;
            // Lets the event loop write both packets.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn publish_all(&self, m: &Message) -> Outcome {
        if !self.is_connected() {
            return Outcome::RetryAfter(None, "the MQTT broker is not connected".into());
        }
        let Some(list) = m.payload["messages"].as_array() else {
            return Outcome::Permanent("no messages in the payload".into());
        };
        for msg in list {
            let topic = msg["topic"].as_str().unwrap_or_default();
            let retain = msg["retain"].as_bool().unwrap_or(false);
            let body = match &msg["payload"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if let Err(e) = self
                .client
                .try_publish(topic, QoS::AtLeastOnce, retain, body)
            {
                return Outcome::RetryAfter(None, format!("MQTT client: {e}"));
            }
        }
        Outcome::Delivered
    }
}

impl Sender for MqttSender {
    fn send<'a>(&'a self, message: &'a Message) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            match message.target {
                Target::Mqtt => self.publish_all(message),
                _ => Outcome::Permanent("not an MQTT target".into()),
            }
        })
    }
}

fn msg(topic: String, payload: Value, retain: bool) -> Value {
    json!({ "topic": topic, "payload": payload, "retain": retain })
}

/// `openlatch/<door>/state`.
pub fn state_message(
    config: &Config,
    door: &str,
    online: bool,
    allowlist_version: Option<i64>,
    last_heartbeat_at: Option<i64>,
) -> Value {
    msg(
        format!("{}/{door}/state", config.mqtt_topic_prefix),
        json!({ "online": online, "allowlist_version": allowlist_version,
                "last_heartbeat_at": last_heartbeat_at }),
        true,
    )
}

/// `openlatch/<door>/battery`.
pub fn battery_message(config: &Config, door: &str, percent: i64, critical: bool) -> Value {
    msg(
        format!("{}/{door}/battery", config.mqtt_topic_prefix),
        json!({ "percent": percent, "critical": critical }),
        true,
    )
}

/// Events that count as someone getting in (the `last_access` sensor).
const ACCESS_EVENTS: [&str; 5] = [
    event::ACCESS_GRANTED,
    event::ACCESS_GRACE,
    event::EMERGENCY_ACCESS,
    event::CONDITIONAL_APPROVED,
    event::KEYPAD_UNLOCK,
];

/// `openlatch/<door>/event`, plus `last_access` for openings.
pub fn event_messages(
    config: &Config,
    door: &str,
    event_type: &str,
    uid: Option<&str>,
    at: i64,
) -> Vec<Value> {
    let body = json!({
        "event": event_type,
        "uid": super::events::short_uid(uid.unwrap_or_default()),
        "timestamp": at,
    });
    let mut out = vec![msg(
        format!("{}/{door}/event", config.mqtt_topic_prefix),
        body.clone(),
        false,
    )];
    if ACCESS_EVENTS.contains(&event_type) {
        out.push(msg(
            format!("{}/{door}/last_access", config.mqtt_topic_prefix),
            body,
            true,
        ));
    }
    out
}

/// Home Assistant discovery for one door: online, battery and last access.
pub fn discovery_messages(config: &Config, door: &Device) -> Vec<Value> {
    let disc = &config.mqtt_discovery_prefix;
    if disc.is_empty() {
        return Vec::new();
    }
    let prefix = &config.mqtt_topic_prefix;
    let id = door.id.to_string();
    let node = format!("openlatch_{}", id.replace('-', ""));
    let device = json!({
        "identifiers": [node],
        "name": door.name,
        "manufacturer": "OpenLatch",
        "model": "door controller",
    });
    let availability = format!("{prefix}/status");
    vec![
        msg(
            format!("{disc}/binary_sensor/{node}/online/config"),
            json!({
                "name": "Online",
                "unique_id": format!("{node}_online"),
                "device_class": "connectivity",
                "state_topic": format!("{prefix}/{id}/state"),
                "value_template": "{{ 'ON' if value_json.online else 'OFF' }}",
                "json_attributes_topic": format!("{prefix}/{id}/state"),
                "availability_topic": availability,
                "device": device,
            }),
            true,
        ),
        msg(
            format!("{disc}/sensor/{node}/battery/config"),
            json!({
                "name": "Lock battery",
                "unique_id": format!("{node}_battery"),
                "device_class": "battery",
                "unit_of_measurement": "%",
                "state_class": "measurement",
                "state_topic": format!("{prefix}/{id}/battery"),
                "value_template": "{{ value_json.percent }}",
                "json_attributes_topic": format!("{prefix}/{id}/battery"),
                "availability_topic": availability,
                "device": device,
            }),
            true,
        ),
        msg(
            format!("{disc}/sensor/{node}/last_access/config"),
            json!({
                "name": "Last access",
                "unique_id": format!("{node}_last_access"),
                "icon": "mdi:door-open",
                "state_topic": format!("{prefix}/{id}/last_access"),
                "value_template": "{{ value_json.event }}",
                "json_attributes_topic": format!("{prefix}/{id}/last_access"),
                "availability_topic": availability,
                "device": device,
            }),
            true,
        ),
    ]
}

/// Empty retained configs: Home Assistant removes the deleted door.
pub fn forget_messages(config: &Config, door: &Device) -> Vec<Value> {
    discovery_messages(config, door)
        .into_iter()
        .map(|m| {
            msg(
                m["topic"].as_str().unwrap_or_default().to_owned(),
                Value::String(String::new()),
                true,
            )
        })
        .collect()
}

/// After a (re)connect: discovery and the current state of every door, and
/// messages that waited for the broker are due at once.
pub async fn announce_doors(app: &App) -> AppResult<()> {
    let offline_after = i64::try_from(app.config.door_offline_after_secs).unwrap_or(600);
    let now = crate::storage::now_unix();
    let mut tx = app.db.begin().await?;
    outbox::make_due(&mut tx, super::CHANNEL_MQTT, super::now_ms()).await?;
    let statuses = device_status::list(&mut tx).await?;
    let mut messages = Vec::new();
    for door in devices::list(&mut tx).await? {
        messages.extend(discovery_messages(&app.config, &door));
        let id = door.id.to_string();
        let status = statuses.iter().find(|s| s.device_id == door.id);
        let last = status.map(|s| s.received_at);
        let online = last.is_some_and(|t| t >= now - offline_after);
        messages.push(state_message(
            &app.config,
            &id,
            online,
            status.map(|s| s.heartbeat.allowlist_version),
            last,
        ));
        if let Some(s) = status {
            if let Some(p) = s.heartbeat.nuki_battery_percent {
                messages.push(battery_message(
                    &app.config,
                    &id,
                    p,
                    s.heartbeat.nuki_battery_critical.unwrap_or(false),
                ));
            }
        }
    }
    enqueue_mqtt(app, &mut tx, "announce", messages).await?;
    tx.commit().await?;
    Ok(())
}
