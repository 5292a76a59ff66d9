//! `/device/*`: what door controllers call, with their device token.
//! Unknown JSON fields are ignored here so newer firmware keeps working.

use super::error::ErrorBody;
use super::extract::{ApiJson, Door};
use crate::app::approvals::{self, ApprovalStatusWire, Opened};
use crate::app::{device_api, App, AppError};
use crate::domain::device::{Heartbeat, MAX_BATCH_BYTES, MAX_BATCH_EVENTS, NUKI_STATES};
use crate::domain::{MemberId, Validation, ZoneId};
use axum::extract::{Request, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(post_events))
        .routes(routes!(post_heartbeat))
        .routes(routes!(post_approve))
}

/// The batch as the server takes it: any array of at most 100 items. Each
/// item should be a [`DeviceEventBody`]; one that is not is listed in
/// `rejected` by index (200), not refused, so that one bad event does not
/// sink the others. The item schema therefore admits anything.
pub struct EventBatchDoc;

impl utoipa::PartialSchema for EventBatchDoc {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType};
        // Not `anyOf: [DeviceEventBody, anything]`: the same in meaning, and
        // it trips schemathesis 4.32's coverage phase.
        let item = ObjectBuilder::new()
            .schema_type(SchemaType::AnyValue)
            .description(Some(
                "A `DeviceEventBody`; anything else is listed in `rejected` by index.",
            ));
        ArrayBuilder::new()
            .items(item)
            .max_items(Some(MAX_BATCH_EVENTS))
            .into()
    }
}

impl ToSchema for EventBatchDoc {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        use utoipa::PartialSchema;
        schemas.push((DeviceEventBody::name().into(), DeviceEventBody::schema()));
    }
}

/// One event as a door sends it (documentation only: the batch is parsed
/// element by element so that one bad event does not sink the others).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct DeviceEventBody {
    /// Hex UID; empty for events not tied to a card (nuki_*, locked_*).
    #[schema(pattern = r"^([0-9A-Fa-f]{8}|[0-9A-Fa-f]{14}|[0-9A-Fa-f]{20})?$")]
    uid: String,
    /// A device event type, e.g. `access_granted`.
    event: String,
    /// Unix seconds on the door's clock; 0 = not synchronised.
    timestamp: i64,
    /// Optional per-device sequence number (u32), used for deduplication.
    seq: Option<u32>,
    /// Optional object, at most 4 KiB.
    #[schema(value_type = Option<Object>)]
    details: Option<serde_json::Value>,
}

#[derive(Serialize, ToSchema)]
pub struct Rejected {
    index: usize,
    reason: String,
}

#[derive(Serialize, ToSchema)]
pub struct EventsReply {
    accepted: usize,
    duplicates: usize,
    rejected: Vec<Rejected>,
}

/// Report a batch of events (at most 100 events and 64 KiB). A 200 tells
/// the door to drop the whole batch; invalid events are listed by index.
#[utoipa::path(post, path = "/device/events", tag = "device",
    request_body(content = EventBatchDoc, description = "At most 100 events; each as `DeviceEventBody`"),
    security(("bearer" = [])),
    responses((status = 200, body = EventsReply), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn post_events(
    State(app): State<App>,
    Door(device): Door,
    req: Request,
) -> Result<Json<EventsReply>, AppError> {
    let bytes = super::extract::read_body(req, &app).await?;
    if bytes.len() > MAX_BATCH_BYTES {
        return Err(AppError::PayloadTooLarge);
    }
    let value = super::strict_json::parse_body(&bytes)?;
    let serde_json::Value::Array(batch) = value else {
        return Err(AppError::field("body", "must be a JSON array of events"));
    };
    if batch.len() > MAX_BATCH_EVENTS {
        return Err(AppError::PayloadTooLarge);
    }
    let outcome = device_api::record_events(&app, &device, &batch).await?;
    Ok(Json(EventsReply {
        accepted: outcome.accepted,
        duplicates: outcome.duplicates,
        rejected: outcome
            .rejected
            .into_iter()
            .map(|(index, reason)| Rejected { index, reason })
            .collect(),
    }))
}

/// The lock states a heartbeat may report (documentation only).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum NukiStateDoc {
    Locked,
    Unlocked,
    Unlatched,
    Unlatching,
    Unlocking,
    Locking,
    MotorBlocked,
    Uncalibrated,
    BootRun,
    Unknown,
}

/// The seed's heartbeat; NUKI fields are absent when the door has no lock.
#[derive(Deserialize, ToSchema)]
pub struct HeartbeatBody {
    #[schema(schema_with = super::schema_facts::firmware_version)]
    firmware_version: String,
    #[schema(minimum = 0)]
    allowlist_version: i64,
    #[schema(minimum = 0)]
    uptime_seconds: i64,
    #[schema(minimum = 0)]
    free_heap: i64,
    /// dBm.
    #[schema(minimum = -150, maximum = 20)]
    wifi_rssi: i64,
    /// 0-100, -1 if unknown.
    #[schema(minimum = -1, maximum = 100)]
    nuki_battery_percent: Option<i64>,
    nuki_battery_critical: Option<bool>,
    nuki_paired: Option<bool>,
    /// locked, unlocked, ... (stored, never shown by monitoring).
    #[schema(value_type = Option<NukiStateDoc>)]
    nuki_state: Option<String>,
}

impl HeartbeatBody {
    fn parse(self) -> Result<Heartbeat, AppError> {
        let mut v = Validation::default();
        let fw = v
            .field(
                "firmware_version",
                crate::domain::device::FIRMWARE_VERSION.parse(&self.firmware_version),
            )
            .unwrap_or_default();
        for (name, value) in [
            ("allowlist_version", self.allowlist_version),
            ("uptime_seconds", self.uptime_seconds),
            ("free_heap", self.free_heap),
        ] {
            if value < 0 {
                v.fail(name, "must not be negative");
            }
        }
        if !(-150..=20).contains(&self.wifi_rssi) {
            v.fail("wifi_rssi", "must be a dBm value between -150 and 20");
        }
        if self
            .nuki_battery_percent
            .is_some_and(|b| !(-1..=100).contains(&b))
        {
            v.fail("nuki_battery_percent", "must be 0 to 100, or -1 if unknown");
        }
        if let Some(s) = &self.nuki_state {
            if !NUKI_STATES.contains(&s.as_str()) {
                v.fail(
                    "nuki_state",
                    format!("must be one of {}", NUKI_STATES.join(", ")),
                );
            }
        }
        if !v.is_ok() {
            return Err(AppError::Validation(v.into_errors()));
        }
        Ok(Heartbeat {
            firmware_version: fw,
            allowlist_version: self.allowlist_version,
            uptime_seconds: self.uptime_seconds,
            free_heap: self.free_heap,
            wifi_rssi: self.wifi_rssi,
            nuki_battery_percent: self.nuki_battery_percent,
            nuki_battery_critical: self.nuki_battery_critical,
            nuki_paired: self.nuki_paired,
            nuki_state: self.nuki_state,
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct HeartbeatReply {
    /// Unix seconds.
    server_time: i64,
    /// The newest allow-list version of the door's zone (0 while none exists).
    allowlist_version: i64,
    /// The zone whose list the door is served.
    zone_id: ZoneId,
}

/// The door's status; stored as its current status.
#[utoipa::path(post, path = "/device/heartbeat", tag = "device", request_body = HeartbeatBody,
    security(("bearer" = [])),
    responses((status = 200, body = HeartbeatReply), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn post_heartbeat(
    State(app): State<App>,
    Door(device): Door,
    ApiJson(body): ApiJson<HeartbeatBody>,
) -> Result<Json<HeartbeatReply>, AppError> {
    let r = device_api::record_heartbeat(&app, &device, body.parse()?).await?;
    Ok(Json(HeartbeatReply {
        server_time: r.server_time,
        allowlist_version: r.allowlist_version,
        zone_id: r.zone_id,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct ApproveBody {
    /// Hex UID of the scanned card.
    #[schema(schema_with = super::schema_facts::uid)]
    uid: String,
    /// Unix seconds on the door's clock; refused when more than 300 s off.
    timestamp: i64,
}

#[derive(Serialize, ToSchema)]
pub struct ApproveReply {
    status: ApprovalStatusWire,
    decided_by: Option<MemberId>,
}

/// Ask for a live approval of a CONDITIONAL card. Held open until someone
/// decides or the timeout (60 s by default); a UID that is not conditional
/// is denied at once. A second request for the same (door, UID) while one
/// is pending is a 409.
#[utoipa::path(post, path = "/device/approve", tag = "device", request_body = ApproveBody,
    security(("bearer" = [])),
    responses((status = 200, body = ApproveReply), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn post_approve(
    State(app): State<App>,
    Door(device): Door,
    ApiJson(body): ApiJson<ApproveBody>,
) -> Result<Json<ApproveReply>, AppError> {
    // Boxed: a held request's future is only as large as its largest state,
    // so the database work of `open` must not stay reserved while it waits
    // (thousands of doors may wait at once).
    let decision = match Box::pin(approvals::open(&app, &device, &body.uid, body.timestamp)).await?
    {
        Opened::Done(d) => d,
        Opened::Waiting(w) => approvals::wait(&app, w).await?,
    };
    Ok(Json(ApproveReply {
        status: decision.status,
        decided_by: decision.decided_by,
    }))
}
