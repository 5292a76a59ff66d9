//! Logging in, refreshing, and turning a bearer token back into a member or a door.

use super::notifications::{self, events::login_locked};
use super::token::{Claims, ACCESS_TOKEN_SECS, SESSION_SECS};
use super::{App, AppError, AppResult};
use crate::domain::audit::event;
use crate::domain::device::{Device, DeviceToken};
use crate::domain::member::{Member, NewPassword};
use crate::storage::audit::{self, Actor, NewEntry};
use crate::storage::sessions::{self, Session};
use crate::storage::{devices, members, now_unix, throttle};
use serde_json::json;
use std::net::IpAddr;
use std::sync::Arc;
use subtle::ConstantTimeEq;
use uuid::Uuid;

/// Failures counted per (username, address) before backing off.
const USER_ADDR_FREE_FAILURES: i64 = 5;
/// Failures counted per address, over all usernames, before backing off.
const ADDR_FREE_FAILURES: i64 = 30;
/// Counting restarts after this long without a new window.
const FAILURE_WINDOW_SECS: i64 = 15 * 60;
const FIRST_BLOCK_SECS: i64 = 30;
const MAX_BLOCK_SECS: i64 = 15 * 60;

/// A member authenticated by an access token, as read from the database
/// on this request: role and active state are never taken from the token.
#[derive(Clone, Debug)]
pub struct Principal {
    pub member: Member,
    pub session: Session,
}

pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: i64,
}

/// Exponential back-off once the free failures are used up: 30 s, 60 s, ... up to 15 min.
fn block_secs(failures: i64, free: i64) -> Option<i64> {
    let over = failures - free;
    (over >= 0).then(|| {
        let shift = u32::try_from(over.min(10)).unwrap_or(10);
        (FIRST_BLOCK_SECS << shift).min(MAX_BLOCK_SECS)
    })
}

fn issue(app: &App, member: &Member, session: &Session, now: i64) -> AppResult<IssuedToken> {
    let exp = (now + ACCESS_TOKEN_SECS).min(session.expires_at);
    let access_token = app.tokens.issue(&Claims {
        sub: member.id.to_string(),
        sid: session.id.to_string(),
        iat: now,
        exp,
    })?;
    Ok(IssuedToken {
        access_token,
        expires_in: exp - now,
    })
}

pub async fn login(
    app: &App,
    username: &str,
    password: &str,
    client: IpAddr,
) -> AppResult<IssuedToken> {
    let (member, session) = open_session(app, username, password, client, None).await?;
    issue(app, &member, &session, session.created_at)
}

/// Checks a username and password behind the login limiter (failures are
/// audited) and opens a session: an API session, or a web UI session when
/// `web_token_hash` names the browser cookie's hash.
pub(crate) async fn open_session(
    app: &App,
    username: &str,
    password: &str,
    client: IpAddr,
    web_token_hash: Option<&str>,
) -> AppResult<(Member, Session)> {
    let now = now_unix();
    // Usernames are lower-case; folding here keeps "Admin" and "admin" one counter.
    let username = username.trim().to_lowercase();
    let pair_scope = format!("login:{username}|{client}");
    let addr_scope = format!("login-addr:{client}");

    // The attempt is counted before the password is checked, in one
    // statement per scope: parallel attempts each see their own count, so a
    // burst cannot slip past the limit while the first checks are running.
    count_attempt(
        app,
        (username.as_str(), client),
        &pair_scope,
        &addr_scope,
        now,
    )
    .await?;
    let mut conn = app.db.read().await?;
    let found = members::get_with_password_hash(&mut conn, &username).await?;
    drop(conn);

    let stored_hash = found.as_ref().and_then(|(_, h)| h.as_deref());
    let password_ok = match app.passwords.verify(password, stored_hash).await {
        Ok(ok) => ok,
        Err(e) => {
            // Not checked (server busy): the attempt does not count.
            let mut tx = app.db.begin().await?;
            throttle::uncount(&mut tx, &pair_scope, USER_ADDR_FREE_FAILURES).await?;
            throttle::uncount(&mut tx, &addr_scope, ADDR_FREE_FAILURES).await?;
            tx.commit().await?;
            return Err(e);
        }
    };
    let member = match found {
        Some((member, _)) if password_ok && member.is_active => member,
        other => {
            let reason = match &other {
                None => "unknown_user",
                Some((m, _)) if !m.is_active && password_ok => "inactive",
                Some((_, None)) => "no_password",
                Some(_) => "wrong_password",
            };
            record_login_failure(app, client, reason, other.map(|(m, _)| m)).await?;
            return Err(AppError::InvalidCredentials);
        }
    };

    let session = Session {
        id: Uuid::new_v4(),
        member_id: member.id,
        created_at: now,
        expires_at: now + SESSION_SECS,
    };
    let mut tx = app.db.begin().await?;
    throttle::clear(&mut tx, &pair_scope).await?;
    // A success is not a failure for the address either (a shared NAT).
    throttle::uncount(&mut tx, &addr_scope, ADDR_FREE_FAILURES).await?;
    match web_token_hash {
        Some(hash) => sessions::insert_web(&mut tx, &session, hash).await?,
        None => sessions::insert(&mut tx, &session).await?,
    }
    tx.commit().await?;
    Ok((member, session))
}

/// Counts this attempt as a failure until the password proves otherwise.
/// A blocked scope refuses it (and takes the count back); the attempt that
/// uses up the free ones starts the back-off at once, so the attempts racing
/// behind it are refused before any password is checked.
async fn count_attempt(
    app: &App,
    (username, client): (&str, IpAddr),
    pair_scope: &str,
    addr_scope: &str,
    now: i64,
) -> AppResult<()> {
    let window_start = now - FAILURE_WINDOW_SECS;
    let mut tx = app.db.begin().await?;
    let mut counted = Vec::new();
    let mut refused_until = None;
    for (scope, free, kind) in [
        (pair_scope, USER_ADDR_FREE_FAILURES, "username"),
        (addr_scope, ADDR_FREE_FAILURES, "address"),
    ] {
        let (attempts, blocked_until) =
            throttle::count_attempt(&mut tx, scope, now, window_start).await?;
        counted.push((scope, free));
        if blocked_until > now {
            refused_until = Some(refused_until.unwrap_or(0).max(blocked_until));
        } else if let Some(secs) = block_secs(attempts, free) {
            throttle::block(&mut tx, scope, now + secs).await?;
            // Admins hear of it; what was typed is named only when it is a
            // member's name (people type passwords into the username field).
            let known = members::get_with_password_hash(&mut tx, username)
                .await?
                .map(|(m, _)| m.username);
            let shown = known.as_deref().unwrap_or("(unknown username)");
            let n = login_locked(shown, &client.to_string(), kind, now + secs, now);
            notifications::enqueue(app, &mut tx, &n).await?;
        }
    }
    if let Some(until) = refused_until {
        // Refused unchecked: only checked attempts count.
        for (scope, free) in counted {
            throttle::uncount(&mut tx, scope, free).await?;
        }
        tx.commit().await?;
        return Err(AppError::RateLimited {
            retry_after_secs: u64::try_from(until - now).unwrap_or(1).max(1),
        });
    }
    tx.commit().await?;
    Ok(())
}

async fn record_login_failure(
    app: &App,
    client: IpAddr,
    reason: &str,
    member: Option<Member>,
) -> AppResult<()> {
    // The failure was counted, and the back-off started, before the check.
    let mut tx = app.db.begin().await?;
    // Never the password, and never what was typed unless it names a member:
    // people type their password into the username field, and keyholders
    // read this log.
    let details = match &member {
        Some(m) => json!({
            "username": m.username,
            "client_addr": client.to_string(),
            "reason": reason,
        }),
        None => {
            json!({ "username_known": false, "client_addr": client.to_string(), "reason": reason })
        }
    };
    audit::insert(
        &mut tx,
        NewEntry::now(
            event::LOGIN_FAILED,
            Actor::Server,
            member.map(|m| m.id.to_string()),
            details,
        ),
    )
    .await?;
    tx.commit().await?;
    app.notifications.wake();
    tracing::info!(%client, reason, "login failed");
    Ok(())
}

/// Checks an access token against its session and the member's current state.
pub async fn authenticate(app: &App, token: &str) -> AppResult<Principal> {
    let claims = app.tokens.decode(token)?;
    let sid: Uuid = claims.sid.parse().map_err(|_| AppError::Unauthenticated)?;
    let now = now_unix();
    let mut conn = app.db.read().await?;
    let session = sessions::get_live(&mut conn, sid, now)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    if session.member_id.to_string() != claims.sub {
        return Err(AppError::Unauthenticated);
    }
    let member = members::get(&mut conn, session.member_id)
        .await?
        .filter(|m| m.is_active)
        .ok_or(AppError::Unauthenticated)?;
    Ok(Principal { member, session })
}

/// A fresh token for the same session, never past the session's 12 hours.
pub fn refresh(app: &App, who: &Principal) -> AppResult<IssuedToken> {
    let now = now_unix();
    if now >= who.session.expires_at {
        return Err(AppError::Unauthenticated);
    }
    issue(app, &who.member, &who.session, now)
}

/// Ends the session behind the caller's token: every token of that login stops working.
pub async fn logout(app: &App, who: &Principal) -> AppResult<()> {
    let now = now_unix();
    let mut tx = app.db.begin().await?;
    sessions::revoke(&mut tx, who.session.id, now).await?;
    audit::insert(
        &mut tx,
        NewEntry::now(
            event::LOGGED_OUT,
            Actor::Member(who.member.id),
            Some(who.member.id.to_string()),
            json!({ "sessions_ended": 1, "scope": "this_session" }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Ends every session of the caller, on every device, this one included.
pub async fn logout_all(app: &App, who: &Principal) -> AppResult<()> {
    let now = now_unix();
    let mut tx = app.db.begin().await?;
    let ended = sessions::revoke_all_for_member(&mut tx, who.member.id, None, now).await?;
    audit::insert(
        &mut tx,
        NewEntry::now(
            event::LOGGED_OUT,
            Actor::Member(who.member.id),
            Some(who.member.id.to_string()),
            json!({ "sessions_ended": ended, "scope": "all_sessions" }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Changes one's own password; every other session of the member ends.
pub async fn change_own_password(
    app: &App,
    who: &Principal,
    current: &str,
    new: &str,
) -> AppResult<()> {
    let new = NewPassword::parse(new).map_err(|m| AppError::field("new_password", m))?;
    let mut conn = app.db.read().await?;
    let stored = members::password_hash(&mut conn, who.member.id).await?;
    drop(conn);
    if !app.passwords.verify(current, stored.as_deref()).await? {
        return Err(AppError::field(
            "current_password",
            "does not match your password",
        ));
    }
    let hash = app.passwords.hash(new.expose()).await?;
    let now = now_unix();
    let mut tx = app.db.begin().await?;
    members::set_password_hash(&mut tx, who.member.id, &hash, now).await?;
    let ended =
        sessions::revoke_all_for_member(&mut tx, who.member.id, Some(who.session.id), now).await?;
    audit::insert(
        &mut tx,
        NewEntry::now(
            event::PASSWORD_CHANGED,
            Actor::Member(who.member.id),
            Some(who.member.id.to_string()),
            json!({ "by": "self", "sessions_ended": ended }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Turns a device bearer token into its device. Anything but an `olt_`
/// token of the right shape is refused before the database is asked.
pub async fn authenticate_device(app: &App, raw: &str) -> AppResult<Arc<Device>> {
    let token = DeviceToken::parse(raw).ok_or(AppError::Unauthenticated)?;
    let digest = token.digest();
    if let Some(device) = app.poll_cache.door(&digest) {
        return Ok(device);
    }
    let hash = hex::encode(digest);
    let mut conn = app.db.read().await?;
    let (device, stored) = devices::find_by_token_hash(&mut conn, &hash)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    // The lookup matched on the hash already; comparing again in constant
    // time keeps the final decision free of early-exit timing.
    if bool::from(stored.as_bytes().ct_eq(hash.as_bytes())) {
        let device = Arc::new(device);
        app.poll_cache.remember_door(digest, Arc::clone(&device));
        Ok(device)
    } else {
        Err(AppError::Unauthenticated)
    }
}

/// Failed device authentications per client address before backing off.
pub const DEVICE_FREE_FAILURES: i64 = 20;

/// [`authenticate_device`] behind a per-address rate limit: after
/// [`DEVICE_FREE_FAILURES`] failures in 15 minutes the address is refused
/// (429 with `Retry-After`) before any token is looked at, 30 s at first,
/// doubling up to 15 minutes. Counters are in the database (shared by instances).
pub async fn authenticate_device_from(
    app: &App,
    raw: Option<&str>,
    client: IpAddr,
) -> AppResult<Arc<Device>> {
    // A request without a token guesses nothing: it is neither counted nor
    // held back, so it always learns that a token is missing (401), and
    // costs no database write.
    let Some(token) = raw else {
        return Err(AppError::Unauthenticated);
    };
    let result = authenticate_device(app, token).await;
    // Only failures are limited: a door with a valid token is never locked
    // out by someone else failing from the same address (a shared NAT).
    if !matches!(result, Err(AppError::Unauthenticated)) {
        return result;
    }
    let now = now_unix();
    let scope = format!("device-auth:{client}");
    let mut tx = app.db.begin().await?;
    if let Some(until) = throttle::blocked_until(&mut tx, &scope, now).await? {
        return Err(AppError::RateLimited {
            retry_after_secs: u64::try_from(until - now).unwrap_or(1).max(1),
        });
    }
    let failures =
        throttle::record_failure(&mut tx, &scope, now, now - FAILURE_WINDOW_SECS).await?;
    if let Some(secs) = block_secs(failures, DEVICE_FREE_FAILURES) {
        throttle::block(&mut tx, &scope, now + secs).await?;
    }
    tx.commit().await?;
    tracing::info!(%client, "device authentication failed");
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_grows_and_is_capped() {
        assert_eq!(block_secs(4, 5), None);
        assert_eq!(block_secs(5, 5), Some(30));
        assert_eq!(block_secs(6, 5), Some(60));
        assert_eq!(block_secs(50, 5), Some(MAX_BLOCK_SECS));
    }
}
