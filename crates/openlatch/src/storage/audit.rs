//! The append-only `audit_log` table. Rows are never updated or deleted.

use super::{Result, StorageError};
use crate::domain::audit::ActorKind;
use crate::domain::{from_unix, DeviceId, MemberId};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// Who an audit row is attributed to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actor {
    Member(MemberId),
    Device(DeviceId),
    Server,
}

impl Actor {
    fn id(self) -> Option<String> {
        match self {
            Actor::Member(id) => Some(id.to_string()),
            Actor::Device(id) => Some(id.to_string()),
            Actor::Server => None,
        }
    }

    fn kind(self) -> ActorKind {
        match self {
            Actor::Member(_) => ActorKind::Member,
            Actor::Device(_) => ActorKind::Device,
            Actor::Server => ActorKind::Server,
        }
    }
}

pub struct NewEntry<'a> {
    pub event_type: &'a str,
    pub actor: Actor,
    pub target_id: Option<String>,
    /// A JSON object; `actor_kind` is added on insert.
    pub details: Value,
    pub created_at: i64,
    /// Rows with the same key are stored once (device batches sent twice).
    pub dedup_key: Option<String>,
}

impl<'a> NewEntry<'a> {
    /// The common case: an action happening now, never deduplicated.
    pub fn now(
        event_type: &'a str,
        actor: Actor,
        target_id: Option<String>,
        details: Value,
    ) -> Self {
        Self {
            event_type,
            actor,
            target_id,
            details,
            created_at: super::now_unix(),
            dedup_key: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub id: i64,
    pub event_type: String,
    pub actor_id: Option<String>,
    pub target_id: Option<String>,
    pub details: Value,
    pub created_at: DateTime<Utc>,
}

fn from_row(row: &AnyRow) -> Result<Entry> {
    let details: String = row.try_get("details")?;
    Ok(Entry {
        id: row.try_get("id")?,
        event_type: row.try_get("event_type")?,
        actor_id: row.try_get("actor_id")?,
        target_id: row.try_get("target_id")?,
        details: serde_json::from_str(&details)
            .map_err(|e| StorageError::Corrupt(format!("audit details: {e}")))?,
        created_at: from_unix(row.try_get("created_at")?),
    })
}

/// Appends a row; returns its id, or `None` when the dedup key was seen before.
pub async fn insert(conn: &mut AnyConnection, entry: NewEntry<'_>) -> Result<Option<i64>> {
    let mut details = match entry.details {
        Value::Object(map) => map,
        Value::Null => Map::new(),
        other => {
            let mut map = Map::new();
            map.insert("value".into(), other);
            map
        }
    };
    details.insert(
        "actor_kind".into(),
        Value::String(entry.actor.kind().as_str().into()),
    );
    let row = sqlx::query(
        "INSERT INTO audit_log (event_type, actor_id, target_id, details, created_at, dedup_key) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (dedup_key) DO NOTHING RETURNING id",
    )
    .bind(entry.event_type)
    .bind(entry.actor.id())
    .bind(entry.target_id)
    .bind(Value::Object(details).to_string())
    .bind(entry.created_at)
    .bind(entry.dedup_key)
    .fetch_optional(conn)
    .await?;
    row.map(|r| r.try_get::<i64, _>("id"))
        .transpose()
        .map_err(Into::into)
}

#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Any of these event types (one name may stand for several, e.g. anomalies).
    pub event_types: Vec<String>,
    pub actor_id: Option<String>,
    pub target_id: Option<String>,
    pub since: Option<i64>,
    /// Entries before this time (exclusive).
    pub until: Option<i64>,
    pub limit: i64,
    /// Rows skipped, for paging.
    pub offset: i64,
}

/// Newest first.
pub async fn query(conn: &mut AnyConnection, filter: &Filter) -> Result<Vec<Entry>> {
    let mut sql = String::from(
        "SELECT id, event_type, actor_id, target_id, details, created_at FROM audit_log WHERE 1 = 1",
    );
    let mut n = 0;
    let mut next = || {
        n += 1;
        format!("${n}")
    };
    if !filter.event_types.is_empty() {
        let marks: Vec<String> = filter.event_types.iter().map(|_| next()).collect();
        sql.push_str(&format!(" AND event_type IN ({})", marks.join(", ")));
    }
    if filter.actor_id.is_some() {
        sql.push_str(&format!(" AND actor_id = {}", next()));
    }
    if filter.target_id.is_some() {
        sql.push_str(&format!(" AND target_id = {}", next()));
    }
    if filter.since.is_some() {
        sql.push_str(&format!(" AND created_at >= {}", next()));
    }
    if filter.until.is_some() {
        sql.push_str(&format!(" AND created_at < {}", next()));
    }
    sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", next()));
    sql.push_str(&format!(" OFFSET {}", next()));

    let mut q = sqlx::query(&sql);
    for t in &filter.event_types {
        q = q.bind(t.as_str());
    }
    if let Some(a) = &filter.actor_id {
        q = q.bind(a.as_str());
    }
    if let Some(t) = &filter.target_id {
        q = q.bind(t.as_str());
    }
    if let Some(s) = filter.since {
        q = q.bind(s);
    }
    if let Some(u) = filter.until {
        q = q.bind(u);
    }
    q = q.bind(filter.limit);
    q = q.bind(filter.offset);
    let rows = q.fetch_all(conn).await?;
    rows.iter().map(from_row).collect()
}
