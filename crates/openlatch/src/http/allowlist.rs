//! The allow-list: admin status, rebuild and explain; air-gapped download and
//! upload; and the door's poll.

use super::error::ErrorBody;
use super::extract::{Admin, ApiQuery, Door};
use crate::app::allowlist::{self, DeviceList, ExplainAt, Explanation, Status, ZoneStatus, Zones};
use crate::app::{App, AppError};
use crate::config::SigningMode;
use crate::domain::compile::Outcome;
use crate::domain::from_unix;
use crate::domain::key::Uid;
use crate::domain::rule::DAY_NAMES;
use crate::domain::{DeviceId, ZoneId};
use crate::storage::now_unix;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

/// Version of the list in a download, as a header beside the raw bytes.
pub const VERSION_HEADER: &str = "x-openlatch-allowlist-version";
/// Every response to a change that waited for a list build names, in
/// [`VERSION_HEADER`], the newest list version stored after that build:
/// every zone's newest list at that version or below carries the change.
/// (Air-gapped, that list is signed offline before doors get it.) No header:
/// the request changed nothing the lists hold, or its build failed and the
/// background refresh will retry it.
pub async fn announce_list_version(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (mut response, version) = allowlist::noting_list_version(next.run(req)).await;
    if let Some(v) = version {
        if !response.headers().contains_key(VERSION_HEADER) {
            response
                .headers_mut()
                .insert(VERSION_HEADER, HeaderValue::from(v));
        }
    }
    response
}

/// Signed lists of large spaces run to megabytes.
pub const UPLOAD_LIMIT_BYTES: usize = 64 * 1024 * 1024;

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(get_status))
        .routes(routes!(regenerate))
        .routes(routes!(explain))
        .routes(routes!(get_unsigned))
        .routes(routes!(device_allowlist))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(put_signed))
                .layer(DefaultBodyLimit::max(UPLOAD_LIMIT_BYTES)),
        )
}

/// One zone's list.
#[derive(Serialize, ToSchema)]
pub struct ZoneListView {
    zone_id: ZoneId,
    zone: String,
    /// `members` or `granted`.
    default_presence: &'static str,
    /// Newest built version (signed or not); null before the first build.
    version: Option<i64>,
    /// Newest signed version: what the zone's doors download.
    signed_version: Option<i64>,
    entry_count: Option<i64>,
    size_bytes: Option<usize>,
    generated_at: Option<DateTime<Utc>>,
    valid_until: Option<DateTime<Utc>>,
    /// The zone has changes that no signed list carries yet.
    unsigned_changes_pending: bool,
}

fn zone_list_view(z: &ZoneStatus) -> ZoneListView {
    let latest = z.latest.as_ref();
    let signed_version = z.latest_signed.as_ref().map(|l| l.version);
    ZoneListView {
        zone_id: z.zone.id,
        zone: z.zone.name.clone(),
        default_presence: z.zone.default_presence.as_str(),
        version: latest.map(|l| l.version),
        signed_version,
        entry_count: latest.map(|l| l.entry_count),
        size_bytes: latest.map(|l| {
            l.signed_bytes
                .as_ref()
                .map_or(l.unsigned_bytes.len(), Vec::len)
        }),
        generated_at: latest.map(|l| from_unix(l.generated_at)),
        valid_until: latest.map(|l| from_unix(l.valid_until)),
        unsigned_changes_pending: latest.map(|l| l.version) != signed_version,
    }
}

/// The top-level list fields describe the zone `main` (as before zones);
/// `zones` lists every zone, `main` first.
#[derive(Serialize, ToSchema)]
pub struct StatusView {
    /// Newest built version (signed or not); null before the first build.
    version: Option<i64>,
    /// Newest signed version: what doors download.
    signed_version: Option<i64>,
    entry_count: Option<i64>,
    size_bytes: Option<usize>,
    generated_at: Option<DateTime<Utc>>,
    valid_until: Option<DateTime<Utc>>,
    /// `online` or `air-gapped`.
    signing_mode: &'static str,
    signer_key_id: Option<u8>,
    /// Online mode: when the sub-key's certificate expires.
    subkey_expires_at: Option<DateTime<Utc>>,
    subkey_warning: Option<String>,
    /// What doors are provisioned with (64 hex digits).
    master_public_key: String,
    /// Some zone has changes that no signed list carries yet.
    unsigned_changes_pending: bool,
    warnings: Vec<String>,
    zones: Vec<ZoneListView>,
}

fn status_view(app: &App, s: Status) -> StatusView {
    let zones: Vec<ZoneListView> = s.zones.iter().map(zone_list_view).collect();
    let main = zones.iter().find(|z| z.zone_id == ZoneId::MAIN);
    StatusView {
        version: main.and_then(|z| z.version),
        signed_version: main.and_then(|z| z.signed_version),
        entry_count: main.and_then(|z| z.entry_count),
        size_bytes: main.and_then(|z| z.size_bytes),
        generated_at: main.and_then(|z| z.generated_at),
        valid_until: main.and_then(|z| z.valid_until),
        signing_mode: match app.signing.mode {
            SigningMode::Online => "online",
            SigningMode::AirGapped => "air-gapped",
        },
        signer_key_id: s.signer_key_id,
        subkey_expires_at: s.subkey_expires_at.filter(|&t| t != 0).map(from_unix),
        subkey_warning: app.signing.subkey_warning(now_unix()),
        master_public_key: app.signing.master_public_hex(),
        unsigned_changes_pending: zones.iter().any(|z| z.unsigned_changes_pending),
        warnings: s.warnings,
        zones,
    }
}

/// The current allow-list and how it is signed (admin).
#[utoipa::path(get, path = "/allowlist", tag = "allowlist", security(("bearer" = [])),
    responses((status = 200, body = StatusView), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
async fn get_status(
    State(app): State<App>,
    Admin(_admin): Admin,
) -> Result<Json<StatusView>, AppError> {
    let s = allowlist::status(&app).await?;
    Ok(Json(status_view(&app, s)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ZoneQuery {
    /// Default: every zone (regenerate) or the zone `main` (download, upload).
    zone_id: Option<ZoneId>,
}

/// Build a new version now of every zone's list (or only `zone_id`'s) if
/// anything changed (admin); returns the status.
#[utoipa::path(post, path = "/allowlist/regenerate", tag = "allowlist", security(("bearer" = [])),
    params(("zone_id" = Option<ZoneId>, Query, description = "only this zone")),
    responses((status = 200, body = StatusView), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn regenerate(
    State(app): State<App>,
    Admin(_admin): Admin,
    ApiQuery(q): ApiQuery<ZoneQuery>,
) -> Result<Json<StatusView>, AppError> {
    match q.zone_id {
        Some(z) => {
            crate::app::zones::get(&app, z)
                .await
                .map_err(|_| AppError::field("zone_id", "no zone with this id"))?;
            allowlist::rebuild_zones(&app, &Zones::one(z), None).await?;
        }
        None => {
            allowlist::rebuild(&app).await?;
        }
    }
    let s = allowlist::status(&app).await?;
    Ok(Json(status_view(&app, s)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ExplainQuery {
    /// Card UID in hex.
    #[param(schema_with = super::schema_facts::uid)]
    uid: String,
    /// RFC 3339; default now.
    #[param(schema_with = super::schema_facts::time)]
    at: Option<String>,
    /// RFC 3339: when the space was last shut down (for grace).
    #[param(schema_with = super::schema_facts::time)]
    last_shutdown: Option<String>,
    /// Explain at this zone's doors (not with `device_id`).
    zone_id: Option<ZoneId>,
    /// Explain at this door, in its zone (not with `zone_id`).
    device_id: Option<DeviceId>,
}

#[derive(Clone, Serialize, ToSchema)]
pub struct SlotRuleView {
    id: String,
    name: String,
}

#[derive(Clone, Serialize, ToSchema)]
pub struct SlotView {
    /// UTC form as the door stores it: days the slot starts, minutes of day.
    days: Vec<&'static str>,
    start_minute: u16,
    end_minute: u16,
    /// Readable UTC form, e.g. `mon,tue 07:00-21:00 UTC`.
    utc: String,
    /// The local windows it came from, e.g. `mon,tue 08:00-22:00 Europe/Berlin`.
    local: Vec<String>,
    rules: Vec<SlotRuleView>,
}

#[derive(Clone, Serialize, ToSchema)]
pub struct EntryView {
    access_type: &'static str,
    valid_from: Option<DateTime<Utc>>,
    valid_until: Option<DateTime<Utc>>,
    /// Empty = all day.
    slots: Vec<SlotView>,
    grace_minutes: u16,
    flags: Vec<&'static str>,
    role: &'static str,
    keypad_id: u16,
}

#[derive(Clone, Serialize, ToSchema)]
pub struct RuleOutcomeView {
    id: String,
    name: String,
    rule_type: &'static str,
    /// `applied`, `overridden`, `not_targeted` or `inactive`.
    outcome: &'static str,
    overridden_by: Option<String>,
    note: Option<String>,
}

#[derive(Clone, Serialize, ToSchema)]
pub struct ExplainView {
    /// The zone whose doors this explanation is for.
    zone_id: ZoneId,
    zone: String,
    uid: String,
    at: DateTime<Utc>,
    /// Version of the signed list doors hold now.
    list_version: Option<i64>,
    /// Whether that list carries the UID.
    in_list: bool,
    excluded_because: Option<String>,
    /// The entry compiled for `at`.
    entry: Option<EntryView>,
    rules: Vec<RuleOutcomeView>,
    /// What a door holding the current signed list decides at `at`.
    decision: Option<&'static str>,
    /// What a list compiled for `at` would decide, when that differs.
    projected_decision: Option<&'static str>,
    /// Without `zone_id` or `device_id`: the explanation at every zone's
    /// doors, `main` first (the top level repeats `main`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(no_recursion)]
    zones: Option<Vec<ExplainView>>,
}

fn hm(m: u16) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

fn explain_view(e: Explanation) -> ExplainView {
    let entry = e.key.as_ref().and_then(|k| k.entry.as_ref()).map(|en| {
        let mut flags = Vec::new();
        if en.flags.notify_on_use() {
            flags.push("notify_on_use");
        }
        if en.flags.notify_on_anomaly() {
            flags.push("notify_on_anomaly");
        }
        EntryView {
            access_type: en.access_type.as_str(),
            valid_from: (en.valid_from != 0).then(|| from_unix(en.valid_from)),
            valid_until: (en.valid_until != 0).then(|| from_unix(en.valid_until)),
            slots: en
                .slots
                .iter()
                .map(|s| {
                    let days: Vec<&'static str> = (0..7)
                        .filter(|d| s.slot.days & (1 << d) != 0)
                        .map(|d| DAY_NAMES[d])
                        .collect();
                    SlotView {
                        utc: format!(
                            "{} {}-{} UTC",
                            days.join(","),
                            hm(s.slot.start_minute),
                            hm(s.slot.end_minute)
                        ),
                        days,
                        start_minute: s.slot.start_minute,
                        end_minute: s.slot.end_minute,
                        local: s.sources.iter().map(|x| x.local.clone()).collect(),
                        rules: s
                            .sources
                            .iter()
                            .map(|x| SlotRuleView {
                                id: x.rule_id.to_string(),
                                name: x.rule_name.clone(),
                            })
                            .collect(),
                    }
                })
                .collect(),
            grace_minutes: en.grace_minutes,
            flags,
            role: en.role.as_str(),
            keypad_id: en.keypad_id,
        }
    });
    let rules = e
        .key
        .as_ref()
        .map(|k| {
            k.rules
                .iter()
                .map(|r| RuleOutcomeView {
                    id: r.rule_id.to_string(),
                    name: r.name.clone(),
                    rule_type: r.rule_type,
                    outcome: r.outcome.as_str(),
                    overridden_by: match &r.outcome {
                        Outcome::Overridden { by } => by.map(|b| b.to_string()),
                        _ => None,
                    },
                    note: r.note.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    let decision = e.decision.map(|d| d.as_str());
    let projected = e.projected_decision.as_str();
    ExplainView {
        zone_id: e.zone.id,
        zone: e.zone.name.clone(),
        uid: e.uid.as_str().to_owned(),
        at: from_unix(e.at),
        list_version: e.list_version,
        in_list: e.in_list,
        excluded_because: e.excluded_because,
        entry,
        rules,
        decision,
        projected_decision: (decision != Some(projected)).then_some(projected),
        zones: None,
    }
}

fn parse_time(field: &str, s: &str) -> Result<i64, AppError> {
    crate::domain::parse_time(s)
        .map(|t| t.timestamp())
        .map_err(|m| AppError::field(field, m))
}

/// Why a UID gets what it gets: the compiled entry, the rules behind it,
/// and the door's decision at `at` (admin). Any UID gets 200.
#[utoipa::path(get, path = "/allowlist/explain", tag = "allowlist", security(("bearer" = [])),
    params(ExplainQuery),
    responses((status = 200, body = ExplainView), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn explain(
    State(app): State<App>,
    Admin(_admin): Admin,
    ApiQuery(q): ApiQuery<ExplainQuery>,
) -> Result<Json<ExplainView>, AppError> {
    let uid = Uid::parse(&q.uid).map_err(|m| AppError::field("uid", m))?;
    let at = match q.at.as_deref() {
        Some(s) => parse_time("at", s)?,
        None => now_unix(),
    };
    let last_shutdown = q
        .last_shutdown
        .as_deref()
        .map(|s| parse_time("last_shutdown", s))
        .transpose()?;
    let scope = match (q.zone_id, q.device_id) {
        (Some(_), Some(_)) => {
            return Err(AppError::field(
                "device_id",
                "give zone_id or device_id, not both",
            ))
        }
        (Some(z), None) => ExplainAt::Zone(z),
        (None, Some(d)) => ExplainAt::Device(d),
        (None, None) => ExplainAt::Everywhere,
    };
    let mut all: Vec<ExplainView> = allowlist::explain(&app, uid, at, last_shutdown, scope)
        .await?
        .into_iter()
        .map(explain_view)
        .collect();
    if all.is_empty() {
        return Err(AppError::Internal("no zone to explain".into()));
    }
    let mut top = all.remove(0);
    if matches!(scope, ExplainAt::Everywhere) {
        let mut zones = vec![top.clone()];
        zones.extend(all);
        top.zones = Some(zones);
    }
    Ok(Json(top))
}

fn octets(version: i64, bytes: Vec<u8>) -> Response {
    let mut r = (StatusCode::OK, bytes).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(VERSION_HEADER, HeaderValue::from(version));
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{version}\"")) {
        h.insert(header::ETAG, etag);
    }
    r
}

/// Air-gapped mode: the zone's newest built list without signature
/// (`zone_id`, default `main`), to sign offline with `openlatch keys sign`
/// (admin). Its version is in the `X-OpenLatch-Allowlist-Version` header.
#[utoipa::path(get, path = "/admin/allowlist/unsigned", tag = "allowlist", security(("bearer" = [])),
    params(("zone_id" = Option<ZoneId>, Query, description = "default: the zone main")),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn get_unsigned(
    State(app): State<App>,
    Admin(_admin): Admin,
    ApiQuery(q): ApiQuery<ZoneQuery>,
) -> Result<Response, AppError> {
    let zone = q.zone_id.unwrap_or(ZoneId::MAIN);
    let (version, bytes) = allowlist::unsigned(&app, zone).await?;
    Ok(octets(version, bytes))
}

#[derive(Serialize, ToSchema)]
pub struct UploadView {
    version: i64,
}

/// Air-gapped mode: upload the signed list of a zone (`zone_id`, default
/// `main`) (admin). Verified against the master public key; it must be the
/// zone's newest built list and newer than every version its doors were served.
#[utoipa::path(put, path = "/admin/allowlist/signed", tag = "allowlist", security(("bearer" = [])),
    params(("zone_id" = Option<ZoneId>, Query, description = "default: the zone main")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, body = UploadView), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 413, body = ErrorBody),
              (status = 422, description = "wrong key, tampered, or not the newest version", body = ErrorBody)))]
async fn put_signed(
    State(app): State<App>,
    Admin(admin): Admin,
    ApiQuery(q): ApiQuery<ZoneQuery>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<UploadView>, AppError> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::PayloadTooLarge
        } else {
            AppError::BadRequest(e.body_text())
        }
    })?;
    let zone = q.zone_id.unwrap_or(ZoneId::MAIN);
    let version = allowlist::upload_signed(&app, &admin, zone, &body).await?;
    Ok(Json(UploadView { version }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct DeviceQuery {
    /// The version the door holds; 0 or absent = none. Unsigned 64-bit.
    #[param(schema_with = super::schema_facts::unsigned_64)]
    current_version: Option<u64>,
}

/// The newest signed allow-list of the door's zone, when newer than the
/// door's (device token). 304 otherwise; `ETag` carries the version and
/// `If-None-Match` works too.
#[utoipa::path(get, path = "/device/allowlist", tag = "device", security(("bearer" = [])),
    params(DeviceQuery),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>),
              (status = 304, description = "the door's version is current"),
              (status = 401, body = ErrorBody),
              (status = 503, description = "air-gapped: no signed list uploaded yet", body = ErrorBody)))]
async fn device_allowlist(
    State(app): State<App>,
    Door(door): Door,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<DeviceQuery>,
) -> Result<Response, AppError> {
    let from_etag = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.trim()
                .trim_start_matches("W/")
                .trim_matches('"')
                .parse::<u64>()
                .ok()
        });
    let current = q.current_version.unwrap_or(0).max(from_etag.unwrap_or(0));
    let current = i64::try_from(current).unwrap_or(i64::MAX);
    match allowlist::for_device(&app, door.zone_id, current).await? {
        DeviceList::NotModified(version) => {
            let mut r = StatusCode::NOT_MODIFIED.into_response();
            if let Ok(etag) = HeaderValue::from_str(&format!("\"{version}\"")) {
                r.headers_mut().insert(header::ETAG, etag);
            }
            Ok(r)
        }
        DeviceList::List(version, bytes) => Ok(octets(version, bytes)),
    }
}
