//! argon2id password hashing, off the async threads, a bounded number at once.
//!
//! Each argon2 run holds 19 MiB for its duration. Without a bound, 400
//! concurrent logins took the server from 19 MiB to 928 MiB; with it, at
//! most `workers` runs hold memory, a bounded queue waits behind them, and
//! anything past that gets 503 with `Retry-After` at once.

use super::{AppError, AppResult};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Requests allowed to wait for a password worker, per worker.
const QUEUE_PER_WORKER: usize = 8;
/// How long a queued request waits before it is told to come back.
const MAX_WAIT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct Passwords {
    /// Verified against when the username is unknown, so that an unknown
    /// user costs the same time as a wrong password.
    dummy_hash: Arc<String>,
    /// Running argon2 computations.
    workers: Arc<Semaphore>,
    /// Running plus waiting; a request that gets no place here is refused.
    admitted: Arc<Semaphore>,
}

impl Passwords {
    pub async fn new(workers: usize) -> AppResult<Self> {
        let workers = workers.max(1);
        let dummy = hash("not a real password, only spent time").await?;
        Ok(Self {
            dummy_hash: Arc::new(dummy),
            workers: Arc::new(Semaphore::new(workers)),
            admitted: Arc::new(Semaphore::new(workers * (1 + QUEUE_PER_WORKER))),
        })
    }

    /// A place to run one argon2 computation, or 503 when too many wait.
    async fn slot(&self) -> AppResult<(OwnedSemaphorePermit, OwnedSemaphorePermit)> {
        const BUSY: AppError = AppError::Busy {
            message: "too many password checks at once",
            retry_after_secs: 1,
        };
        let admitted = self
            .admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| BUSY)?;
        let worker = tokio::time::timeout(MAX_WAIT, self.workers.clone().acquire_owned())
            .await
            .map_err(|_| BUSY)?
            .map_err(|_| BUSY)?;
        Ok((admitted, worker))
    }

    pub async fn hash(&self, password: &str) -> AppResult<String> {
        let _slot = self.slot().await?;
        hash(password).await
    }

    /// Checks `password` against `stored`, or against the dummy hash when
    /// there is no stored hash; always costs one argon2 verification.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> AppResult<bool> {
        let known = stored.is_some();
        let stored = stored.unwrap_or(&self.dummy_hash).to_owned();
        let password = password.to_owned();
        let _slot = self.slot().await?;
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
        let p = Passwords::new(2).await.expect("init");
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

#[cfg(test)]
mod bound_tests {
    use super::*;

    #[tokio::test]
    async fn checks_past_the_queue_are_refused_with_retry_after() {
        let p = Passwords::new(1).await.expect("init");
        let stored = p.hash("correct horse battery").await.expect("hash");
        // One running and 8 waiting fit; the rest are told to come back.
        let attempts = (0..40)
            .map(|_| {
                let p = p.clone();
                let stored = stored.clone();
                tokio::spawn(async move { p.verify("wrong", Some(&stored)).await })
            })
            .collect::<Vec<_>>();
        let mut busy = 0;
        let mut done = 0;
        for a in attempts {
            match a.await.expect("task") {
                Ok(_) => done += 1,
                Err(AppError::Busy {
                    retry_after_secs, ..
                }) => {
                    assert!(retry_after_secs >= 1);
                    busy += 1;
                }
                Err(e) => panic!("unexpected {e}"),
            }
        }
        assert!((1..=9).contains(&done), "done {done}");
        assert_eq!(busy + done, 40);
    }
}
