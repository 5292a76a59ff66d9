//! The server, seen from the door: the Device API behind a trait whose errors
//! say whether the door is offline (transport) or was told no (HTTP status).

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::core::Approval;
use crate::store::QueuedEvent;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum UplinkError {
    /// No answer: the door is offline. Decisions go on from the stored list.
    #[error("server unreachable: {0}")]
    Transport(String),
    /// The token was refused (rotated, door disabled or deleted).
    #[error("the server refused the door token (401): rotate it or check token/token_file")]
    Unauthorized,
    /// Any other answer the door cannot use.
    #[error("server answered {status}: {body}")]
    Status { status: u16, body: String },
}

impl UplinkError {
    pub fn is_offline(&self) -> bool {
        matches!(self, UplinkError::Transport(_))
    }
}

/// The server's reply to an event batch.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct EventsReply {
    #[serde(default)]
    pub accepted: u64,
    #[serde(default)]
    pub duplicates: u64,
    #[serde(default)]
    pub rejected: Vec<Rejected>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Rejected {
    pub index: usize,
    pub reason: String,
}

/// The heartbeat body (the seed's fields, plus the door's clock skew).
#[derive(Debug, Clone, Serialize)]
pub struct Heartbeat {
    pub firmware_version: String,
    pub allowlist_version: u64,
    pub uptime_seconds: u64,
    pub free_heap: u64,
    pub wifi_rssi: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nuki_battery_percent: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nuki_battery_critical: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nuki_paired: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nuki_state: Option<String>,
    /// Door clock minus server clock at the previous heartbeat, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock_skew_seconds: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HeartbeatReply {
    pub server_time: i64,
    pub allowlist_version: u64,
}

/// The Device API.
#[async_trait]
pub trait Uplink: Send + Sync {
    /// The newest list if newer than `current_version`, else `None` (304).
    async fn fetch_list(&self, current_version: u64) -> Result<Option<Vec<u8>>, UplinkError>;
    async fn post_events(&self, batch: &[QueuedEvent]) -> Result<EventsReply, UplinkError>;
    async fn heartbeat(&self, hb: &Heartbeat) -> Result<HeartbeatReply, UplinkError>;
    /// Blocks until the server decides (or its timeout).
    async fn approve(&self, uid_hex: &str, now: u64) -> Result<Approval, UplinkError>;
}

/// The Device API over HTTP(S).
pub struct HttpUplink {
    base: String,
    token: String,
    client: reqwest::Client,
    approval_wait: Duration,
}

impl HttpUplink {
    pub fn new(base: &str, token: String, approval_wait: Duration) -> anyhow::Result<HttpUplink> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(20))
            .user_agent(concat!("openlatch-door/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(HttpUplink {
            base: format!("{base}/api/v1"),
            token,
            client,
            approval_wait,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn check(resp: reqwest::Response) -> Result<reqwest::Response, UplinkError> {
        let status = resp.status();
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(UplinkError::Unauthorized);
        }
        if status.is_success() || status == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(resp);
        }
        let mut body = resp.text().await.unwrap_or_default();
        body.truncate(300);
        Err(UplinkError::Status {
            status: status.as_u16(),
            body,
        })
    }
}

fn transport(e: reqwest::Error) -> UplinkError {
    UplinkError::Transport(e.to_string())
}

#[async_trait]
impl Uplink for HttpUplink {
    async fn fetch_list(&self, current_version: u64) -> Result<Option<Vec<u8>>, UplinkError> {
        let resp = self
            .client
            .get(self.url("/device/allowlist"))
            .query(&[("current_version", current_version)])
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(transport)?;
        let resp = Self::check(resp).await?;
        if resp.status() == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(None);
        }
        Ok(Some(resp.bytes().await.map_err(transport)?.to_vec()))
    }

    async fn post_events(&self, batch: &[QueuedEvent]) -> Result<EventsReply, UplinkError> {
        let resp = self
            .client
            .post(self.url("/device/events"))
            .bearer_auth(&self.token)
            .json(batch)
            .send()
            .await
            .map_err(transport)?;
        Self::check(resp).await?.json().await.map_err(transport)
    }

    async fn heartbeat(&self, hb: &Heartbeat) -> Result<HeartbeatReply, UplinkError> {
        let resp = self
            .client
            .post(self.url("/device/heartbeat"))
            .bearer_auth(&self.token)
            .json(hb)
            .send()
            .await
            .map_err(transport)?;
        Self::check(resp).await?.json().await.map_err(transport)
    }

    async fn approve(&self, uid_hex: &str, now: u64) -> Result<Approval, UplinkError> {
        #[derive(Deserialize)]
        struct Reply {
            status: String,
        }
        let resp = self
            .client
            .post(self.url("/device/approve"))
            .bearer_auth(&self.token)
            .timeout(self.approval_wait)
            .json(&serde_json::json!({ "uid": uid_hex, "timestamp": now }))
            .send()
            .await
            .map_err(transport)?;
        let reply: Reply = Self::check(resp).await?.json().await.map_err(transport)?;
        Ok(match reply.status.as_str() {
            "approved" => Approval::Approved,
            "denied" => Approval::Denied,
            _ => Approval::Timeout,
        })
    }
}
