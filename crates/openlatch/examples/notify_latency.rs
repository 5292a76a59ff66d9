//! Load run: how long a notification takes from its cause (a door posting an
//! event) to a webhook receiver, and whether slow receivers slow the door API.
//!
//! Start a release server first (127.0.0.1 only), e.g.
//! ```text
//! OPENLATCH_LISTEN=127.0.0.1:18093 OPENLATCH_DATA_DIR=$(mktemp -d) RUST_LOG=warn \
//! OPENLATCH_ADMIN_USERNAME=admin OPENLATCH_ADMIN_PASSWORD=admin-password-1 \
//! OPENLATCH_NOTIFY_ALLOW_PRIVATE_TARGETS=true target/release/openlatch serve &
//! cargo run --release --example notify_latency
//! ```
//! Environment: `OL_URL` (default http://127.0.0.1:18093), `OL_N` (events per
//! phase, default 200), `OL_SLOW` (slow subscriptions in phase 2, default 5),
//! `OL_ADMIN_USER`/`OL_ADMIN_PASSWORD`.
//!
//! Phase 1: one fast receiver subscribed to `anomaly`. Phase 2: the same plus
//! `OL_SLOW` receivers that answer only after 60 s (every attempt times out).
//! In each phase the door posts one anomaly event at a time; the run reports
//! the door request's duration and the time until the fast receiver has it.

use axum::routing::post;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

async fn receiver(delay: Duration, tx: Option<mpsc::UnboundedSender<Instant>>) -> String {
    let handler = move || {
        let tx = tx.clone();
        async move {
            let at = Instant::now();
            if let Some(tx) = tx {
                let _ = tx.send(at);
            }
            tokio::time::sleep(delay).await;
            "ok"
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, axum::Router::new().route("/", post(handler))).await;
    });
    format!("http://{addr}/")
}

fn summary(name: &str, mut v: Vec<Duration>) {
    v.sort();
    let pct = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name:<44} n={:<4} p50={:>7.2} ms  p95={:>7.2} ms  p99={:>7.2} ms  max={:>7.2} ms",
        v.len(),
        ms(pct(0.5)),
        ms(pct(0.95)),
        ms(pct(0.99)),
        ms(pct(1.0))
    );
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = format!("{}/api/v1", env("OL_URL", "http://127.0.0.1:18093"));
    assert!(
        base.starts_with("http://127.0.0.1"),
        "the load run stays on 127.0.0.1"
    );
    let n: usize = env("OL_N", "200").parse()?;
    let slow: usize = env("OL_SLOW", "5").parse()?;
    let client = reqwest::Client::new();
    let login: Value = client
        .post(format!("{base}/auth/login"))
        .json(&json!({"username": env("OL_ADMIN_USER", "admin"),
                      "password": env("OL_ADMIN_PASSWORD", "admin-password-1")}))
        .send()
        .await?
        .json()
        .await?;
    let admin = login["access_token"]
        .as_str()
        .ok_or("login failed")?
        .to_owned();
    let door: Value = client
        .post(format!("{base}/devices"))
        .bearer_auth(&admin)
        .json(&json!({"name": format!("latency-{}", std::process::id())}))
        .send()
        .await?
        .json()
        .await?;
    let door = door["token"].as_str().ok_or("no door token")?.to_owned();

    let subscribe = |url: String| {
        let (client, base, admin) = (client.clone(), base.clone(), admin.clone());
        async move {
            let r = client
                .post(format!("{base}/notifications/subscriptions"))
                .bearer_auth(&admin)
                .json(&json!({"channel": "webhook",
                    "settings": {"url": url, "secret": "latency-bench-secret"},
                    "events": ["anomaly"]}))
                .send()
                .await
                .expect("subscribe");
            assert_eq!(r.status(), 201, "subscribe");
        }
    };
    let (tx, mut arrivals) = mpsc::unbounded_channel();
    subscribe(receiver(Duration::ZERO, Some(tx)).await).await;

    let mut seq = 0_i64;
    for phase in 1..=2 {
        if phase == 2 {
            for _ in 0..slow {
                subscribe(receiver(Duration::from_secs(60), None).await).await;
            }
        }
        let mut door_api = Vec::with_capacity(n);
        let mut delivered = Vec::with_capacity(n);
        for _ in 0..n {
            seq += 1;
            let now = chrono::Utc::now().timestamp();
            let t0 = Instant::now();
            let r = client
                .post(format!("{base}/device/events"))
                .bearer_auth(&door)
                .json(
                    &json!([{"uid": "04A1B2C3", "event": "anomaly_outside_hours",
                               "timestamp": now, "seq": seq}]),
                )
                .send()
                .await?;
            door_api.push(t0.elapsed());
            assert!(r.status().is_success(), "events: {}", r.status());
            let at = tokio::time::timeout(Duration::from_secs(10), arrivals.recv())
                .await
                .map_err(|_| "no delivery within 10 s")?
                .ok_or("receiver gone")?;
            delivered.push(at.duration_since(t0));
        }
        let label = if phase == 1 {
            "one fast receiver".to_owned()
        } else {
            format!("plus {slow} receivers answering after 60 s")
        };
        println!("== phase {phase}: {label}");
        summary("door POST /device/events", door_api);
        summary("cause to delivery (fast receiver)", delivered);
    }
    Ok(())
}
