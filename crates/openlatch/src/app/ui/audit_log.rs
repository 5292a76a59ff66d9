//! The audit-log page: the API's query (`app::audit`) with the filters a
//! person types (a username or a door's name instead of an id), paging,
//! and names for the ids in each row.

use crate::app::audit::{self, Query};
use crate::app::{App, AppError, AppResult};
use crate::domain::{FieldErrors, KeyId, MemberId};
use crate::storage::audit::Entry;
use crate::storage::{devices, keys, members, rules};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// The filters as the form gives them; empty strings are no filter.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub event_type: Option<String>,
    /// A member's or door's id, a username, or a door's name.
    pub actor: Option<String>,
    /// The same, or any id an entry is about (a key, a rule).
    pub target: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

pub struct AuditLogPage {
    pub entries: Vec<Entry>,
    /// Display names of the members, doors, keys and rules the entries name, by id.
    pub names: HashMap<String, String>,
    pub page: usize,
    pub has_more: bool,
}

/// An id as stored: a UUID as given, else the member with that username,
/// else the door with that name.
async fn resolve(app: &App, text: &str) -> AppResult<Option<String>> {
    if let Ok(id) = uuid::Uuid::parse_str(text) {
        return Ok(Some(id.to_string()));
    }
    let mut conn = app.db.read().await?;
    if let Some(m) = members::get_by_username(&mut conn, text).await? {
        return Ok(Some(m.id.to_string()));
    }
    Ok(devices::list(&mut conn)
        .await?
        .into_iter()
        .find(|d| d.name == text)
        .map(|d| d.id.to_string()))
}

/// The actor and target ids the filter names, or the fields naming nobody.
async fn resolve_parties(
    app: &App,
    f: &AuditFilter,
) -> AppResult<(Option<String>, Option<String>)> {
    let mut errors = FieldErrors::new();
    let mut ids = [None, None];
    for (i, (field, text)) in [("actor", &f.actor), ("target", &f.target)]
        .into_iter()
        .enumerate()
    {
        let Some(text) = text.as_deref().map(str::trim).filter(|t| !t.is_empty()) else {
            continue;
        };
        match resolve(app, text).await? {
            Some(id) => ids[i] = Some(id),
            None => {
                errors.insert(
                    field.to_owned(),
                    "names no member (username) or door; an id works too".to_owned(),
                );
            }
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let [actor, target] = ids;
    Ok((actor, target))
}

fn query<'a>(f: &'a AuditFilter, actor: Option<&'a str>, target: Option<&'a str>) -> Query<'a> {
    Query {
        event_type: f.event_type.as_deref().filter(|t| !t.is_empty()),
        actor_id: actor,
        target_id: target,
        since: f.since,
        until: f.until,
        ..Query::default()
    }
}

pub async fn audit_log(
    app: &App,
    f: &AuditFilter,
    page: usize,
    per_page: usize,
) -> AppResult<AuditLogPage> {
    let page = page.max(1);
    let limit = i64::try_from(per_page).unwrap_or(50);
    let (actor, target) = resolve_parties(app, f).await?;
    let mut q = query(f, actor.as_deref(), target.as_deref());
    // One row more than shown says whether there is a next page.
    q.limit = Some(limit + 1);
    q.offset = i64::try_from(page - 1).unwrap_or(0).saturating_mul(limit);
    let mut entries = audit::page(app, &q).await?;
    let has_more = entries.len() > per_page;
    entries.truncate(per_page);
    let names = names(app, &entries).await?;
    Ok(AuditLogPage {
        entries,
        names,
        page,
        has_more,
    })
}

/// The same filtered view as CSV, through the API's export.
pub async fn audit_log_csv(app: &App, f: &AuditFilter) -> AppResult<Vec<u8>> {
    let (actor, target) = resolve_parties(app, f).await?;
    audit::export_csv(app, &query(f, actor.as_deref(), target.as_deref())).await
}

/// Names for the ids that `entries` mention as actor or target.
async fn names(app: &App, entries: &[Entry]) -> AppResult<HashMap<String, String>> {
    let mut conn = app.db.read().await?;
    let mut names: HashMap<String, String> = devices::list(&mut conn)
        .await?
        .into_iter()
        .map(|d| (d.id.to_string(), format!("door {}", d.name)))
        .collect();
    names.extend(
        rules::list(&mut conn)
            .await?
            .into_iter()
            .map(|r| (r.id.to_string(), format!("rule {}", r.name))),
    );
    let ids = entries
        .iter()
        .flat_map(|e| e.actor_id.iter().chain(e.target_id.iter()));
    let mut unknown: Vec<&String> = Vec::new();
    for id in ids {
        if !names.contains_key(id) && !unknown.contains(&id) {
            unknown.push(id);
        }
    }
    for id in unknown {
        let Ok(uuid) = uuid::Uuid::parse_str(id) else {
            continue;
        };
        if let Some(m) = members::get(&mut conn, MemberId(uuid)).await? {
            names.insert(id.clone(), m.username);
        } else if let Some(k) = keys::get(&mut conn, KeyId(uuid)).await? {
            names.insert(id.clone(), format!("key {} ({})", k.label, k.uid.as_str()));
        }
    }
    Ok(names)
}
