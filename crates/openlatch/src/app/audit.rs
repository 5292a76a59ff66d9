//! Reading the audit log.

use super::{App, AppError, AppResult};
use crate::domain::audit::is_event_type_shape;
use crate::storage::audit::{self, Entry, Filter};
use chrono::{DateTime, Utc};

pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 1000;

/// Event names that stand for more than one stored type: an anomaly
/// reported by a door is filed under its own name and found by both.
fn expand_event_type(t: &str) -> Vec<String> {
    match t {
        "anomaly_detected" => vec!["anomaly_detected".into(), "anomaly_outside_hours".into()],
        other => vec![other.to_owned()],
    }
}

pub async fn query(
    app: &App,
    event_type: Option<&str>,
    actor_id: Option<&str>,
    since: Option<DateTime<Utc>>,
    limit: Option<i64>,
) -> AppResult<Vec<Entry>> {
    let q = Query {
        event_type,
        actor_id,
        since,
        limit,
        ..Query::default()
    };
    query_up_to(app, &q, DEFAULT_LIMIT, MAX_LIMIT).await
}

/// One page of the log under every filter of [`Query`] (the web UI's view).
pub async fn page(app: &App, q: &Query<'_>) -> AppResult<Vec<Entry>> {
    query_up_to(app, q, DEFAULT_LIMIT, MAX_LIMIT).await
}

/// The filters of the audit-log query.
#[derive(Default)]
pub struct Query<'a> {
    pub event_type: Option<&'a str>,
    /// A member or device id.
    pub actor_id: Option<&'a str>,
    /// What the entry is about, as stored (a member, key, door or rule id).
    pub target_id: Option<&'a str>,
    pub since: Option<DateTime<Utc>>,
    /// Entries before this time.
    pub until: Option<DateTime<Utc>>,
    pub limit: Option<i64>,
    /// Rows skipped, for paging (newest first).
    pub offset: i64,
}

/// A CSV export reads more rows than a page of JSON.
pub const MAX_CSV_LIMIT: i64 = 100_000;

/// The rows [`query`] finds, as CSV: `id,created_at,event_type,actor_id,
/// target_id,details` with details as JSON text. Without a `limit`, up to
/// [`MAX_CSV_LIMIT`] rows; a `limit` has the JSON form's bounds, so that one
/// parameter has one range (the OpenAPI document cannot make a parameter's
/// range depend on another's value).
pub async fn export_csv(app: &App, q: &Query<'_>) -> AppResult<Vec<u8>> {
    let rows = query_up_to(app, q, MAX_CSV_LIMIT, MAX_LIMIT).await?;
    let csv_err = |e: csv::Error| AppError::Internal(format!("writing CSV: {e}"));
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record([
        "id",
        "created_at",
        "event_type",
        "actor_id",
        "target_id",
        "details",
    ])
    .map_err(csv_err)?;
    for e in rows {
        out.write_record([
            e.id.to_string(),
            super::import::csv_time(e.created_at),
            e.event_type,
            e.actor_id.unwrap_or_default(),
            e.target_id.unwrap_or_default(),
            e.details.to_string(),
        ])
        .map_err(csv_err)?;
    }
    out.into_inner()
        .map_err(|e| AppError::Internal(format!("writing CSV: {e}")))
}

async fn query_up_to(
    app: &App,
    q: &Query<'_>,
    default_limit: i64,
    max_limit: i64,
) -> AppResult<Vec<Entry>> {
    if q.limit.is_some_and(|l| !(1..=max_limit).contains(&l)) {
        return Err(AppError::field(
            "limit",
            format!("must be between 1 and {max_limit}"),
        ));
    }
    let limit = q.limit.unwrap_or(default_limit);
    let event_types = match q.event_type {
        Some(t) if !is_event_type_shape(t) => {
            return Err(AppError::field(
                "event_type",
                "must be an event name like key_revoked",
            ));
        }
        Some(t) => expand_event_type(t),
        None => Vec::new(),
    };
    if let Some(a) = q.actor_id {
        if uuid::Uuid::parse_str(a).is_err() {
            return Err(AppError::field("actor_id", "must be a UUID"));
        }
    }
    if let (Some(since), Some(until)) = (q.since, q.until) {
        if until <= since {
            return Err(AppError::field("until", "must be later than the start"));
        }
    }
    if q.offset < 0 {
        return Err(AppError::field("offset", "must not be negative"));
    }
    let filter = Filter {
        event_types,
        actor_id: q.actor_id.map(str::to_owned),
        target_id: q.target_id.map(str::to_owned),
        since: q.since.map(|s| s.timestamp()),
        until: q.until.map(|u| u.timestamp()),
        limit,
        offset: q.offset,
    };
    let mut conn = app.db.read().await?;
    Ok(audit::query(&mut conn, &filter).await?)
}
