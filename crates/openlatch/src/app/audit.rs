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
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(AppError::field(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let event_types = match event_type {
        Some(t) if !is_event_type_shape(t) => {
            return Err(AppError::field(
                "event_type",
                "must be an event name like key_revoked",
            ));
        }
        Some(t) => expand_event_type(t),
        None => Vec::new(),
    };
    if let Some(a) = actor_id {
        if uuid::Uuid::parse_str(a).is_err() {
            return Err(AppError::field("actor_id", "must be a UUID"));
        }
    }
    let filter = Filter {
        event_types,
        actor_id: actor_id.map(str::to_owned),
        since: since.map(|s| s.timestamp()),
        limit,
    };
    let mut conn = app.db.read().await?;
    Ok(audit::query(&mut conn, &filter).await?)
}
