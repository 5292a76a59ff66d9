//! The yardstick for the allow-list poll: an axum handler that does nothing
//! but answer 304, served the way `openlatch serve` serves (same framework,
//! same runtime). `bench/poll.sh` loads both with wrk in one run.
//!
//! `cargo run --release -p openlatch --example bare_handler -- 127.0.0.1:18092`

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18092".to_owned());
    let app = Router::new().route(
        "/api/v1/device/allowlist",
        get(|| async { StatusCode::NOT_MODIFIED }),
    );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await
}
