//! NFC keys: register, list, revoke.

use super::auth::Principal;
use super::{App, AppError, AppResult};
use crate::domain::audit::event;
use crate::domain::key::{KeyAccessType, KeyType, NfcKey, Uid};
use crate::domain::member::Role;
use crate::domain::{KeyId, MemberId};
use crate::storage::audit::{self, Actor, NewEntry};
use crate::storage::{keys, members, StorageError};
use chrono::{DateTime, Utc};
use serde_json::json;

pub struct NewKey {
    pub member_id: MemberId,
    pub uid: Uid,
    pub label: String,
    pub key_type: Option<KeyType>,
    pub access_type: Option<KeyAccessType>,
    pub expires_at: Option<DateTime<Utc>>,
}

pub async fn list_for_member(
    app: &App,
    who: &Principal,
    member: MemberId,
) -> AppResult<Vec<NfcKey>> {
    if who.member.role != Role::Admin && who.member.id != member {
        return Err(AppError::Forbidden);
    }
    let mut conn = app.db.read().await?;
    if members::get(&mut conn, member).await?.is_none() {
        return Err(AppError::NotFound("member"));
    }
    Ok(keys::list_for_member(&mut conn, member).await?)
}

pub async fn register(app: &App, actor: &Principal, new: NewKey) -> AppResult<NfcKey> {
    let now = crate::domain::now();
    if new.expires_at.is_some_and(|e| e <= now) {
        return Err(AppError::field("expires_at", "must be in the future"));
    }
    let mut tx = app.db.begin().await?;
    let owner = members::get(&mut tx, new.member_id).await?;
    if !owner.is_some_and(|m| m.is_active) {
        return Err(AppError::field("member_id", "is not an active member"));
    }
    // A card whose old registration merely expired may be handed out again:
    // the stale registration is revoked first, on the record.
    if let Some(old) = keys::find_unrevoked_by_uid(&mut tx, &new.uid).await? {
        if old.is_active_at(now) {
            return Err(AppError::conflict(
                "uid",
                "is already registered to an active key",
            ));
        }
        const REASON: &str = "expired; UID registered again";
        keys::revoke(&mut tx, old.id, Some(REASON), now.timestamp()).await?;
        audit::insert(
            &mut tx,
            NewEntry::now(
                event::KEY_REVOKED,
                Actor::Member(actor.member.id),
                Some(old.id.to_string()),
                json!({ "uid": old.uid.as_str(), "member_id": old.member_id, "reason": REASON }),
            ),
        )
        .await?;
    }
    let key = NfcKey {
        id: KeyId::new(),
        member_id: new.member_id,
        uid: new.uid,
        label: new.label,
        key_type: new.key_type.map(|k| k.as_str().to_owned()),
        access_type: new.access_type,
        expires_at: new.expires_at,
        revoked_at: None,
        revoke_reason: None,
        created_at: now,
    };
    match keys::insert(&mut tx, &key).await {
        // Two registrations of one UID racing: the unique index decides.
        Err(StorageError::Conflict(_)) => {
            return Err(AppError::conflict(
                "uid",
                "is already registered to an active key",
            ));
        }
        other => other?,
    }
    audit::insert(
        &mut tx,
        NewEntry::now(
            event::KEY_REGISTERED,
            Actor::Member(actor.member.id),
            Some(key.id.to_string()),
            json!({
                "uid": key.uid.as_str(),
                "member_id": key.member_id,
                "label": key.label,
                "access_type": key.access_type,
                "expires_at": key.expires_at,
            }),
        ),
    )
    .await?;
    // Rules targeting roles and members may give this key too many slots.
    super::allowlist::check_keys_compile(app, &mut tx, std::slice::from_ref(&key)).await?;
    tx.commit().await?;
    app.list_inputs_changed().await;
    Ok(key)
}

/// Revokes a key; revoking a revoked key changes nothing and succeeds.
pub async fn revoke(
    app: &App,
    actor: &Principal,
    id: KeyId,
    reason: Option<String>,
) -> AppResult<NfcKey> {
    let now = Utc::now().timestamp();
    let mut tx = app.db.begin().await?;
    let key = keys::get(&mut tx, id)
        .await?
        .ok_or(AppError::NotFound("key"))?;
    if keys::revoke(&mut tx, id, reason.as_deref(), now).await? {
        audit::insert(
            &mut tx,
            NewEntry::now(
                event::KEY_REVOKED,
                Actor::Member(actor.member.id),
                Some(id.to_string()),
                json!({ "uid": key.uid.as_str(), "member_id": key.member_id, "reason": reason }),
            ),
        )
        .await?;
    }
    let key = keys::get(&mut tx, id)
        .await?
        .ok_or(AppError::NotFound("key"))?;
    tx.commit().await?;
    app.list_inputs_changed().await;
    Ok(key)
}
