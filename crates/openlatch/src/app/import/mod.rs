//! Bulk import and export of members and their NFC keys as CSV.
//!
//! The parser ([`parse`]) only turns bytes into typed rows. [`import`]
//! plans every row against the database, refuses the whole file if any row
//! is wrong, writes everything in one transaction with one
//! `members_imported` audit entry, and then makes one allow-list build for
//! the whole file. A dry run does the same work and rolls it back, so it
//! finds exactly the errors a real run would.

pub mod parse;

pub use parse::{RowError, COLUMNS};

use super::{App, AppError, AppResult};
use crate::domain::audit::event;
use crate::domain::key::{KeyType, NfcKey, Uid};
use crate::domain::member::{Member, Role};
use crate::domain::{KeyId, MemberId};
use crate::storage::audit::{self, Actor, NewEntry};
use crate::storage::{allowlists, counters, keys, members};
use chrono::{DateTime, SecondsFormat, Utc};
use parse::Row;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// What an import did (or, for a dry run, would do).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub created_members: usize,
    pub updated_members: usize,
    pub created_keys: usize,
    /// Members and keys that were already exactly as in the file.
    pub unchanged: usize,
    /// The allow-list version that carries the whole import; `None` for a
    /// dry run, or when the file changed nothing that a list holds.
    pub version: Option<i64>,
    pub dry_run: bool,
}

/// Progress for long imports (the command line prints it).
pub trait Progress: Send + Sync {
    fn step(&self, what: &str);
}

/// Progress nobody watches.
pub struct Quiet;

impl Progress for Quiet {
    fn step(&self, _: &str) {}
}

/// A member as the file describes them: the first non-empty value of each
/// field across their rows.
struct Described<'a> {
    first_row: u64,
    rows: Vec<&'a Row>,
}

pub async fn import(
    app: &App,
    actor: Actor,
    bytes: &[u8],
    dry_run: bool,
    progress: &dyn Progress,
) -> AppResult<Summary> {
    let now = crate::domain::now();
    let rows = parse::parse(bytes, now).map_err(AppError::Rows)?;
    progress.step(&format!("{} rows read", rows.len()));

    let mut described: Vec<Described<'_>> = Vec::new();
    let mut by_username: HashMap<&str, usize> = HashMap::new();
    for r in &rows {
        match by_username.get(r.username.as_str()) {
            Some(&i) => described[i].rows.push(r),
            None => {
                by_username.insert(r.username.as_str(), described.len());
                described.push(Described {
                    first_row: r.row,
                    rows: vec![r],
                });
            }
        }
    }

    let mut tx = app.db.begin().await?;
    let existing: HashMap<String, Member> = members::list(&mut tx, None, None)
        .await?
        .into_iter()
        .map(|m| (m.username.clone(), m))
        .collect();
    let live_keys: HashMap<Uid, NfcKey> = keys::list_unrevoked(&mut tx)
        .await?
        .into_iter()
        .map(|k| (k.uid.clone(), k))
        .collect();

    let mut errors: Vec<RowError> = Vec::new();
    let err = |row: u64, field: &str, message: String| RowError {
        row,
        field: field.to_owned(),
        message,
    };
    let mut summary = Summary {
        dry_run,
        ..Summary::default()
    };
    let mut new_members: Vec<Member> = Vec::new();
    let mut changed_members: Vec<(Member, Member)> = Vec::new();
    // Username -> member id, for the keys.
    let mut ids: HashMap<&str, MemberId> = HashMap::new();
    let mut usernames: HashMap<MemberId, String> = HashMap::new();
    for d in &described {
        let pick = |f: fn(&Row) -> Option<String>| d.rows.iter().find_map(|r| f(r));
        let email = pick(|r| r.email.as_ref().map(|e| e.as_str().to_owned()));
        let display_name = pick(|r| r.display_name.as_ref().map(|n| n.as_str().to_owned()));
        let role = d.rows.iter().find_map(|r| r.role);
        let username = d.rows[0].username.as_str();
        match existing.get(username) {
            Some(m) if !m.is_active => errors.push(err(
                d.first_row,
                "username",
                format!("{username} is a deactivated member; reactivate them first"),
            )),
            Some(m) => {
                let mut after = m.clone();
                after.email = email.unwrap_or(after.email);
                after.display_name = display_name.unwrap_or(after.display_name);
                after.role = role.unwrap_or(after.role);
                ids.insert(username, m.id);
                usernames.insert(m.id, m.username.clone());
                if after == *m {
                    summary.unchanged += 1;
                } else {
                    after.updated_at = now;
                    changed_members.push((m.clone(), after));
                }
            }
            None => match email {
                None => errors.push(err(
                    d.first_row,
                    "email",
                    "is required for a new member".into(),
                )),
                Some(email) => {
                    let m = Member {
                        id: MemberId::new(),
                        username: username.to_owned(),
                        email,
                        display_name: display_name.unwrap_or_else(|| username.to_owned()),
                        role: role.unwrap_or(Role::Member),
                        is_active: true,
                        keypad_id: 0,
                        created_at: now,
                        updated_at: now,
                    };
                    ids.insert(username, m.id);
                    usernames.insert(m.id, m.username.clone());
                    new_members.push(m);
                }
            },
        }
    }

    // The last active admin stays an admin.
    let admins_left = existing
        .values()
        .filter(|m| m.is_active && m.role == Role::Admin)
        .filter(|m| {
            !changed_members
                .iter()
                .any(|(b, a)| b.id == m.id && a.role != Role::Admin)
        })
        .count()
        + new_members.iter().filter(|m| m.role == Role::Admin).count();
    if admins_left == 0 {
        if let Some((before, _)) = changed_members.iter().find(|(b, _)| b.role == Role::Admin) {
            let row = described
                .iter()
                .find(|d| d.rows[0].username.as_str() == before.username)
                .map_or(1, |d| d.first_row);
            errors.push(err(
                row,
                "role",
                "the last active admin cannot be demoted".into(),
            ));
        }
    }

    let mut new_keys: Vec<NfcKey> = Vec::new();
    let mut stale_keys: Vec<&NfcKey> = Vec::new();
    for r in &rows {
        let (Some(k), Some(&member_id)) = (&r.key, ids.get(r.username.as_str())) else {
            continue;
        };
        let key_type = k.key_type.as_ref().map(|t| KeyType::as_str(t).to_owned());
        match live_keys.get(&k.uid) {
            Some(old) if old.is_active_at(now) => {
                if old.member_id != member_id {
                    let owner = existing
                        .values()
                        .find(|m| m.id == old.member_id)
                        .map_or("another member", |m| m.username.as_str());
                    errors.push(err(
                        r.row,
                        "uid",
                        format!("{} is already registered to {owner}", k.uid),
                    ));
                } else if old.label == k.label
                    && old.key_type == key_type
                    && old.expires_at == k.expires_at
                {
                    summary.unchanged += 1;
                } else {
                    errors.push(err(
                        r.row,
                        "uid",
                        format!(
                            "{} is already registered to this member with another label, type or \
                             expiry; revoke the key to register it again",
                            k.uid
                        ),
                    ));
                }
                continue;
            }
            // Registered before but expired: handed out again, as in the key API.
            Some(old) => stale_keys.push(old),
            None => {}
        }
        new_keys.push(NfcKey {
            id: KeyId::new(),
            member_id,
            uid: k.uid.clone(),
            label: k.label.clone(),
            key_type,
            access_type: None,
            expires_at: k.expires_at,
            revoked_at: None,
            revoke_reason: None,
            created_at: now,
        });
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.row);
        return Err(AppError::Rows(errors));
    }

    summary.created_members = new_members.len();
    summary.updated_members = changed_members.len();
    summary.created_keys = new_keys.len();
    let changed = !new_members.is_empty() || !changed_members.is_empty() || !new_keys.is_empty();

    if !new_members.is_empty() {
        // A block of keypad ids; past 65,535 members get none (0).
        let last = counters::advance(&mut tx, "keypad_id", new_members.len() as i64).await?;
        let first = last - new_members.len() as i64 + 1;
        for (i, m) in new_members.iter_mut().enumerate() {
            m.keypad_id = u16::try_from(first + i as i64).unwrap_or(0);
        }
    }
    progress.step(&format!(
        "writing {} new members, {} changed members, {} new keys",
        new_members.len(),
        changed_members.len(),
        new_keys.len()
    ));
    members::insert_many_without_password(&mut tx, &new_members).await?;
    for (_, after) in &changed_members {
        members::update(&mut tx, after).await?;
    }
    const REASON: &str = "expired; UID registered again";
    for old in &stale_keys {
        keys::revoke(&mut tx, old.id, Some(REASON), now.timestamp()).await?;
    }
    keys::insert_many(&mut tx, &new_keys).await?;

    // The list the import leads to must be one a door can read: no entry
    // with more than four time slots, no table past its limit.
    progress.step("checking the allow-list");
    super::allowlist::check_whole_list(app, &mut tx).await?;

    if dry_run || !changed {
        // Dropping the transaction rolls every write back.
        return Ok(summary);
    }
    audit::insert(
        &mut tx,
        NewEntry::now(
            event::MEMBERS_IMPORTED,
            actor,
            None,
            json!({
                "created_members": summary.created_members,
                "updated_members": summary.updated_members,
                "created_keys": summary.created_keys,
                "unchanged": summary.unchanged,
                "replaced_expired_keys": stale_keys.len(),
                "rows": rows.len(),
                "sha256": hex::encode(Sha256::digest(bytes)),
            }),
        ),
    )
    .await?;
    tx.commit().await?;

    progress.step("building the allow-list");
    app.list_builds.build_after_change(app).await?;
    let mut conn = app.db.read().await?;
    summary.version = allowlists::latest(&mut conn).await?.map(|l| l.version);
    Ok(summary)
}

/// Every active member with their usable keys, one row per key (a member
/// without a key gets one row without a UID), sorted by username and UID.
/// Importing it into an empty server reproduces members and keys.
pub async fn export(app: &App) -> AppResult<Vec<u8>> {
    let now = crate::domain::now();
    let mut conn = app.db.read().await?;
    let members = members::list(&mut conn, None, Some(true)).await?;
    let mut by_member: HashMap<MemberId, Vec<NfcKey>> = HashMap::new();
    for k in keys::list_unrevoked(&mut conn).await? {
        if k.is_active_at(now) {
            by_member.entry(k.member_id).or_default().push(k);
        }
    }
    drop(conn);
    let mut out = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| AppError::Internal(format!("writing CSV: {e}"));
    out.write_record(COLUMNS).map_err(csv_err)?;
    for m in &members {
        let member_cells = [
            m.username.as_str(),
            m.email.as_str(),
            m.display_name.as_str(),
            m.role.as_str(),
        ];
        match by_member.get(&m.id) {
            None => {
                let mut rec: Vec<&str> = member_cells.to_vec();
                rec.extend(["", "", "", ""]);
                out.write_record(&rec).map_err(csv_err)?;
            }
            Some(ks) => {
                for k in ks {
                    let expires = k
                        .expires_at
                        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
                        .unwrap_or_default();
                    let mut rec: Vec<&str> = member_cells.to_vec();
                    rec.extend([
                        k.uid.as_str(),
                        k.label.as_str(),
                        k.key_type.as_deref().unwrap_or(""),
                        expires.as_str(),
                    ]);
                    out.write_record(&rec).map_err(csv_err)?;
                }
            }
        }
    }
    out.into_inner()
        .map_err(|e| AppError::Internal(format!("writing CSV: {e}")))
}

/// An RFC 3339 instant for CSV cells.
pub fn csv_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}
