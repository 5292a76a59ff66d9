//! Runs a request again when its transaction lost a serialization failure
//! or a deadlock (PostgreSQL rolled it back; nothing of it was kept).
//!
//! One place for every endpoint that writes: use cases own their transactions, so the
//! whole request is the unit that can be repeated. The body is buffered
//! (requests are small and already size-limited); after the last attempt
//! the client gets 409.

use super::error::RetryableConflict;
use crate::app::{App, AppError};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::Rng;
use std::time::Duration;

/// Attempts after the first.
const RETRIES: u32 = 4;

pub async fn retry_conflicts(State(app): State<App>, req: Request, next: Next) -> Response {
    // Safe methods only read, so they never lose a write conflict; keeping
    // them out spares every door poll a copy of its request.
    if req.method().is_safe() {
        return next.run(req).await;
    }
    // Only bodies of a known, ordinary size are buffered for a replay;
    // anything else (a signed list upload, a stream) runs once.
    let small_body = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_none_or(|len| len <= app.config.max_body_bytes)
        && !req.headers().contains_key(header::TRANSFER_ENCODING);
    if !small_body {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, app.config.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => return AppError::PayloadTooLarge.into_response(),
    };
    let mut attempt = 0;
    loop {
        let req = Request::from_parts(parts.clone(), Body::from(bytes.clone()));
        let response = next.clone().run(req).await;
        if response.extensions().get::<RetryableConflict>().is_none() || attempt == RETRIES {
            return response;
        }
        attempt += 1;
        // Jittered back-off so the two losers do not collide again.
        let millis = rand::thread_rng().gen_range(5..=25) * u64::from(attempt);
        tracing::debug!(attempt, "transaction conflict; running the request again");
        tokio::time::sleep(Duration::from_millis(millis)).await;
    }
}
