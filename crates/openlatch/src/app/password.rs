//! argon2id password hashing, off the async threads.

use super::{AppError, AppResult};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::sync::Arc;

#[derive(Clone)]
pub struct Passwords {
    /// Verified against when the username is unknown, so that an unknown
    /// user costs the same time as a wrong password.
    dummy_hash: Arc<String>,
}

impl Passwords {
    pub async fn new() -> AppResult<Self> {
        let dummy = hash("not a real password, only spent time").await?;
        Ok(Self {
            dummy_hash: Arc::new(dummy),
        })
    }

    pub async fn hash(&self, password: &str) -> AppResult<String> {
        hash(password).await
    }

    /// Checks `password` against `stored`, or against the dummy hash when
    /// there is no stored hash; always costs one argon2 verification.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> AppResult<bool> {
        let known = stored.is_some();
        let stored = stored.unwrap_or(&self.dummy_hash).to_owned();
        let password = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&stored)
                .map(|parsed| {
                    Argon2::default()
                        .verify_password(password.as_bytes(), &parsed)
                        .is_ok()
                })
                .unwrap_or(false)
        })
        .await
        .map_err(|e| AppError::Internal(format!("password task: {e}")))?;
        Ok(ok && known)
    }
}

async fn hash(password: &str) -> AppResult<String> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AppError::Internal(format!("hashing password: {e}")))
    })
    .await
    .map_err(|e| AppError::Internal(format!("password task: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let p = Passwords::new().await.expect("init");
        let h = p.hash("correct horse battery").await.expect("hash");
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(p
            .verify("correct horse battery", Some(&h))
            .await
            .expect("verify"));
        assert!(!p
            .verify("wrong horse battery", Some(&h))
            .await
            .expect("verify"));
        assert!(!p
            .verify("not a real password, only spent time", None)
            .await
            .expect("verify"));
    }
}
