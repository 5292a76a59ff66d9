//! Members: create, read, change, deactivate.

use super::auth::Principal;
use super::{App, AppError, AppResult};
use crate::domain::audit::event;
use crate::domain::member::{DisplayName, Email, Member, NewPassword, Role, Username};
use crate::domain::MemberId;
use crate::storage::audit::{self, Actor, NewEntry};
use crate::storage::{counters, keys, members, sessions, Backend, StorageError};
use serde_json::{json, Map, Value};
use sqlx::AnyConnection;

pub struct NewMember {
    pub username: Username,
    pub email: Email,
    pub display_name: Option<DisplayName>,
    pub role: Role,
    /// `None`: door access only; no login until an admin sets a password.
    pub password: Option<NewPassword>,
}

#[derive(Default)]
pub struct MemberPatch {
    pub display_name: Option<DisplayName>,
    pub email: Option<Email>,
    pub role: Option<Role>,
    pub is_active: Option<bool>,
    pub password: Option<NewPassword>,
}

/// Who may read a member: staff (keyholders and admins) and the member themself.
pub fn may_read(who: &Member, target: MemberId) -> bool {
    who.role >= Role::Keyholder || who.id == target
}

pub async fn list(
    app: &App,
    role: Option<Role>,
    is_active: Option<bool>,
) -> AppResult<Vec<Member>> {
    let mut conn = app.db.read().await?;
    Ok(members::list(&mut conn, role, is_active).await?)
}

pub async fn get(app: &App, who: &Principal, id: MemberId) -> AppResult<Member> {
    if !may_read(&who.member, id) {
        return Err(AppError::Forbidden);
    }
    let mut conn = app.db.read().await?;
    members::get(&mut conn, id)
        .await?
        .ok_or(AppError::NotFound("member"))
}

/// Creates a member; `actor` is `None` for the bootstrap admin.
pub async fn create(app: &App, actor: Option<&Member>, new: NewMember) -> AppResult<Member> {
    let hash = match &new.password {
        Some(p) => Some(app.passwords.hash(p.expose()).await?),
        None => None,
    };
    let now = crate::domain::now();
    let mut tx = app.db.begin().await?;
    let keypad_id = next_keypad_id(&mut tx).await?;
    let member = Member {
        id: MemberId::new(),
        display_name: new.display_name.map_or_else(
            || new.username.as_str().to_owned(),
            |d| d.as_str().to_owned(),
        ),
        username: new.username.as_str().to_owned(),
        email: new.email.as_str().to_owned(),
        role: new.role,
        is_active: true,
        keypad_id,
        created_at: now,
        updated_at: now,
    };
    match members::insert(&mut tx, &member, hash.as_deref()).await {
        Err(StorageError::Conflict(_)) => {
            return Err(AppError::conflict("username", "is already taken"));
        }
        other => other?,
    }
    audit::insert(
        &mut tx,
        NewEntry::now(
            event::MEMBER_CREATED,
            actor.map_or(Actor::Server, |a| Actor::Member(a.id)),
            Some(member.id.to_string()),
            json!({
                "username": member.username,
                "role": member.role,
                "keypad_id": keypad_id,
                "password": if hash.is_some() { "set" } else { "none" },
            }),
        ),
    )
    .await?;
    tx.commit().await?;
    app.list_inputs_changed().await;
    Ok(member)
}

/// The next free keypad id, or 0 (none) once all 65,535 are taken: OL02
/// keypad ids are 16 bits, a space may have more members, and only members
/// with keypad codes need one.
pub async fn next_keypad_id(conn: &mut AnyConnection) -> AppResult<u16> {
    let next = counters::next(conn, "keypad_id").await?;
    Ok(u16::try_from(next).unwrap_or(0))
}

pub async fn update(
    app: &App,
    actor: &Member,
    id: MemberId,
    patch: MemberPatch,
) -> AppResult<Member> {
    let new_hash = match &patch.password {
        Some(p) => Some(app.passwords.hash(p.expose()).await?),
        None => None,
    };
    let now = crate::domain::now();
    let backend = app.db.backend();
    let mut tx = app.db.begin().await?;
    let before = members::get_for_update(&mut tx, backend, id)
        .await?
        .ok_or(AppError::NotFound("member"))?;
    let mut after = before.clone();
    if let Some(d) = patch.display_name {
        after.display_name = d.as_str().to_owned();
    }
    if let Some(e) = patch.email {
        after.email = e.as_str().to_owned();
    }
    if let Some(r) = patch.role {
        after.role = r;
    }
    if let Some(a) = patch.is_active {
        after.is_active = a;
    }
    after.updated_at = now;
    guard_last_admin(&mut tx, backend, &before, &after).await?;
    members::update(&mut tx, &after).await?;

    let mut changes = Map::new();
    let mut note = |field: &str, from: Value, to: Value| {
        if from != to {
            changes.insert(field.into(), json!({ "from": from, "to": to }));
        }
    };
    note(
        "display_name",
        json!(before.display_name),
        json!(after.display_name),
    );
    note("email", json!(before.email), json!(after.email));
    note("role", json!(before.role), json!(after.role));
    if before.is_active != after.is_active && after.is_active {
        note("is_active", json!(false), json!(true));
    }
    if let Some(hash) = &new_hash {
        members::set_password_hash(&mut tx, id, hash, now.timestamp()).await?;
        sessions::revoke_all_for_member(&mut tx, id, None, now.timestamp()).await?;
        changes.insert("password".into(), json!("changed"));
    }
    if !changes.is_empty() {
        audit::insert(
            &mut tx,
            NewEntry::now(
                event::MEMBER_UPDATED,
                Actor::Member(actor.id),
                Some(id.to_string()),
                json!({ "username": after.username, "changes": changes }),
            ),
        )
        .await?;
    }
    if before.is_active && !after.is_active {
        deactivate_in_tx(&mut tx, actor, &after, now.timestamp()).await?;
    }
    super::keypad::remove_if_no_longer_guarantor(&mut tx, actor, &before, &after).await?;
    if before.role != after.role {
        // A new role may bring time windows that no longer fit in 4 slots.
        let member_keys = keys::list_unrevoked_for_member(&mut tx, id).await?;
        super::allowlist::check_keys_compile(app, &mut tx, &member_keys).await?;
    }
    tx.commit().await?;
    app.list_inputs_changed().await;
    Ok(after)
}

/// Soft delete: the member stays for the audit trail, inactive, keys revoked.
pub async fn deactivate(app: &App, actor: &Member, id: MemberId) -> AppResult<()> {
    update(
        app,
        actor,
        id,
        MemberPatch {
            is_active: Some(false),
            ..MemberPatch::default()
        },
    )
    .await
    .map(|_| ())
}

/// Self-service: only display name and e-mail.
pub async fn update_self(
    app: &App,
    who: &Principal,
    display_name: Option<DisplayName>,
    email: Option<Email>,
) -> AppResult<Member> {
    update(
        app,
        &who.member,
        who.member.id,
        MemberPatch {
            display_name,
            email,
            ..MemberPatch::default()
        },
    )
    .await
}

/// The last active admin can be neither demoted nor deactivated, or nobody
/// could administer the space any more.
async fn guard_last_admin(
    conn: &mut AnyConnection,
    backend: Backend,
    before: &Member,
    after: &Member,
) -> AppResult<()> {
    let was_admin = before.is_active && before.role == Role::Admin;
    let stays_admin = after.is_active && after.role == Role::Admin;
    if was_admin && !stays_admin {
        let admins = members::active_admin_ids(conn, backend).await?;
        if admins.iter().all(|&a| a == before.id) {
            return Err(AppError::Conflict {
                message: "the last active admin cannot be demoted or deactivated".into(),
                fields: Default::default(),
            });
        }
    }
    Ok(())
}

/// Revokes the member's keys and ends their sessions, with audit rows, in the caller's transaction.
async fn deactivate_in_tx(
    conn: &mut AnyConnection,
    actor: &Member,
    member: &Member,
    now: i64,
) -> AppResult<()> {
    const REASON: &str = "member deactivated";
    let live_keys = keys::list_unrevoked_for_member(conn, member.id).await?;
    for key in &live_keys {
        keys::revoke(conn, key.id, Some(REASON), now).await?;
        audit::insert(
            conn,
            NewEntry::now(
                event::KEY_REVOKED,
                Actor::Member(actor.id),
                Some(key.id.to_string()),
                json!({ "uid": key.uid.as_str(), "member_id": member.id, "reason": REASON }),
            ),
        )
        .await?;
    }
    sessions::revoke_all_for_member(conn, member.id, None, now).await?;
    audit::insert(
        conn,
        NewEntry::now(
            event::MEMBER_DEACTIVATED,
            Actor::Member(actor.id),
            Some(member.id.to_string()),
            json!({ "username": member.username, "revoked_keys": live_keys.len() }),
        ),
    )
    .await?;
    Ok(())
}
