//! Web UI sessions. The browser's cookie holds an opaque 256-bit value; the
//! session row keeps only its SHA-256, like door tokens. Logging in always
//! opens a new row with a new value (no fixation), through the same limiter
//! and failure audit as the API login. Role and active state are read from
//! the database on every request, as for bearer tokens.

use super::auth::{self, Principal};
use super::{App, AppError, AppResult};
use crate::storage::{members, now_unix, sessions};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use subtle::ConstantTimeEq;

/// A cookie value: 32 random bytes, base64url (43 characters).
const COOKIE_BYTES: usize = 32;

fn hash_cookie(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// Only values of the shape we hand out are looked up.
fn well_formed(value: &str) -> bool {
    value.len() == 43
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A logged-in browser: who it is and the cookie value it presented (from
/// which its CSRF token is derived).
#[derive(Clone, Debug)]
pub struct WebSession {
    pub principal: Principal,
    cookie_value: String,
}

impl WebSession {
    /// The per-session token every form carries: HMAC-SHA256 keyed by the
    /// cookie value, so only a page served to this browser can know it.
    pub fn csrf_token(&self) -> String {
        csrf_token_for(&self.cookie_value)
    }

    pub fn csrf_matches(&self, presented: &str) -> bool {
        let expected = self.csrf_token();
        expected.len() == presented.len()
            && bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
    }

    pub fn cookie_value(&self) -> &str {
        &self.cookie_value
    }
}

pub fn csrf_token_for(cookie_value: &str) -> String {
    // HMAC accepts keys of any length; this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(cookie_value.as_bytes()) else {
        return String::new();
    };
    mac.update(b"openlatch web csrf v1");
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// Checks the password (rate limited, failures audited) and opens a new web session.
pub async fn login(
    app: &App,
    username: &str,
    password: &str,
    client: IpAddr,
) -> AppResult<WebSession> {
    let mut raw = [0u8; COOKIE_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let cookie_value = URL_SAFE_NO_PAD.encode(raw);
    let (member, session) = auth::open_session(
        app,
        username,
        password,
        client,
        Some(&hash_cookie(&cookie_value)),
    )
    .await?;
    Ok(WebSession {
        principal: Principal { member, session },
        cookie_value,
    })
}

/// The live session a cookie value names, with the member as stored now.
pub async fn authenticate(app: &App, cookie_value: &str) -> AppResult<WebSession> {
    if !well_formed(cookie_value) {
        return Err(AppError::Unauthenticated);
    }
    let now = now_unix();
    let mut conn = app.db.read().await?;
    let session = sessions::get_live_web(&mut conn, &hash_cookie(cookie_value), now)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let member = members::get(&mut conn, session.member_id)
        .await?
        .filter(|m| m.is_active)
        .ok_or(AppError::Unauthenticated)?;
    Ok(WebSession {
        principal: Principal { member, session },
        cookie_value: cookie_value.to_owned(),
    })
}

/// Ends the session (audited like the API's logout): the cookie is
/// worthless afterwards, wherever a copy of it went.
pub async fn logout(app: &App, who: &WebSession) -> AppResult<()> {
    auth::logout(app, &who.principal).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_differ_per_cookie_and_are_stable() {
        let a = "a".repeat(43);
        let b = "b".repeat(43);
        assert_eq!(csrf_token_for(&a), csrf_token_for(&a));
        assert_ne!(csrf_token_for(&a), csrf_token_for(&b));
        assert_eq!(csrf_token_for(&a).len(), 43);
    }

    #[test]
    fn only_issued_shapes_are_looked_up() {
        assert!(well_formed(&"A-_9b".repeat(9)[..43]));
        assert!(!well_formed("short"));
        assert!(!well_formed(&"=".repeat(43)));
    }
}
