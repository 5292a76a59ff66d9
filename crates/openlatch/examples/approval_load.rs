//! Load run: holds many conditional-approval requests open on one server
//! and reports how many were held, the server's memory, and how fast a
//! decision releases a waiting door while all of them wait.
//!
//! Start a release server first (127.0.0.1 only), e.g.
//! ```text
//! OPENLATCH_LISTEN=127.0.0.1:18080 OPENLATCH_DATA_DIR=/tmp/ol-load \
//! OPENLATCH_ADMIN_USERNAME=admin OPENLATCH_ADMIN_PASSWORD=admin-password-1 \
//! OPENLATCH_APPROVAL_TIMEOUT_SECS=600 target/release/openlatch serve &
//! OL_SERVER_PID=$! OL_N=10000 cargo run --release --example approval_load
//! ```
//! Environment: `OL_URL` (default http://127.0.0.1:18080), `OL_N` (10000),
//! `OL_DOORS` (1; the N requests are spread over this many doors, so N/DOORS
//! keys suffice, as one door may hold one request per UID),
//! `OL_SERVER_PID` (to read VmRSS), `OL_ADMIN_USER`/`OL_ADMIN_PASSWORD`.

use futures::stream::{self, StreamExt};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn rss_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

async fn metric(client: &reqwest::Client, base: &str, name: &str) -> Option<f64> {
    let text = client
        .get(format!("{base}/monitoring/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = format!("{}/api/v1", env("OL_URL", "http://127.0.0.1:18080"));
    assert!(
        base.starts_with("http://127.0.0.1"),
        "the load run stays on 127.0.0.1"
    );
    let n: usize = env("OL_N", "10000").parse()?;
    let pid = std::env::var("OL_SERVER_PID").ok();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;

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
    if let Some(p) = &pid {
        println!("server RSS idle: {:?} KiB", rss_kib(p));
    }

    let suffix = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let member: Value = client
        .post(format!("{base}/members"))
        .bearer_auth(&admin)
        .json(
            &json!({"username": format!("load{suffix}"), "email": "load@example.org",
                      "password": "load-password-1", "display_name": "Load", "role": "member"}),
        )
        .send()
        .await?
        .json()
        .await?;
    let member_id = member["id"].as_str().ok_or("member")?.to_owned();
    let doors = env("OL_DOORS", "1").parse::<usize>()?.max(1);
    let mut door_tokens = Vec::with_capacity(doors);
    let mut door_ids = Vec::with_capacity(doors);
    for d in 0..doors {
        let device: Value = client
            .post(format!("{base}/devices"))
            .bearer_auth(&admin)
            .json(&json!({"name": format!("load-{suffix}-{d}")}))
            .send()
            .await?
            .json()
            .await?;
        door_tokens.push(device["token"].as_str().ok_or("device")?.to_owned());
        door_ids.push(device["id"].as_str().ok_or("device")?.to_owned());
    }
    let keys_needed = n.div_ceil(doors);
    let uid_base: u32 = rand_base();
    let uids: Vec<String> = (0..keys_needed)
        .map(|i| format!("{:08X}", uid_base + i as u32))
        .collect();
    let started = Instant::now();
    let created = stream::iter(uids.clone())
        .map(|uid| {
            let (client, base, admin, member_id) = (
                client.clone(),
                base.clone(),
                admin.clone(),
                member_id.clone(),
            );
            async move {
                client
                    .post(format!("{base}/nfc-keys"))
                    .bearer_auth(admin)
                    .json(&json!({"member_id": member_id, "uid": uid, "label": "load",
                                  "access_type": "conditional"}))
                    .send()
                    .await
                    .map(|r| r.status().as_u16() == 201)
                    .unwrap_or(false)
            }
        })
        .buffer_unordered(16)
        .filter(|ok| std::future::ready(*ok))
        .count()
        .await;
    println!(
        "registered {created} conditional keys in {:?}",
        started.elapsed()
    );

    let done: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let held_client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    let now = chrono_now();
    let mut tasks = Vec::with_capacity(n);
    let started = Instant::now();
    for i in 0..n {
        let (door, uid) = (i % doors, &uids[i / doors]);
        let (client, url, token, request, done) = (
            held_client.clone(),
            format!("{base}/device/approve"),
            door_tokens[door].clone(),
            json!({"uid": uid, "timestamp": now}),
            done.clone(),
        );
        let tag = format!("{}:{uid}", door_ids[door]);
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .bearer_auth(token)
                .json(&request)
                .send()
                .await;
            if let Ok(r) = r {
                let _ = r.bytes().await;
            }
            if let Ok(mut d) = done.lock() {
                d.insert(tag, Instant::now());
            }
        }));
    }
    let mut held = 0.0;
    let mut last_change = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now_held = metric(&client, &base, "openlatch_approvals_waiting_connections")
            .await
            .unwrap_or(0.0);
        if now_held != held {
            held = now_held;
            last_change = Instant::now();
        }
        if held as usize >= n || last_change.elapsed() > Duration::from_secs(20) {
            break;
        }
    }
    let pending = metric(&client, &base, "openlatch_approvals_pending").await;
    println!(
        "held {held} requests open (pending in DB: {pending:?}) after {:?}",
        started.elapsed()
    );
    if let Some(p) = &pid {
        let rss = rss_kib(p);
        println!(
            "server RSS with all requests held: {rss:?} KiB ({:.1} MiB)",
            rss.unwrap_or(0) as f64 / 1024.0
        );
    }

    // Release latency while everything else waits: decide 20 requests one by one.
    let list: Value = client
        .get(format!("{base}/approvals?status=pending"))
        .bearer_auth(&admin)
        .send()
        .await?
        .json()
        .await?;
    let mut latencies = Vec::new();
    for item in list.as_array().into_iter().flatten().take(20) {
        let id = item["id"].as_str().unwrap_or_default();
        let tag = format!(
            "{}:{}",
            item["device_id"].as_str().unwrap_or_default(),
            item["uid"].as_str().unwrap_or_default()
        );
        let t0 = Instant::now();
        client
            .post(format!("{base}/approvals/{id}/approve"))
            .bearer_auth(&admin)
            .send()
            .await?;
        let decided = t0.elapsed();
        for _ in 0..200 {
            if done.lock().map(|d| d.contains_key(&tag)).unwrap_or(false) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let released = done
            .lock()
            .ok()
            .and_then(|d| d.get(&tag).map(|t| t.duration_since(t0)));
        latencies.push((decided, released));
    }
    for (d, r) in &latencies {
        println!("decision answered in {d:?}, door released {r:?} after the decision was sent");
    }

    for t in &tasks {
        t.abort();
    }
    println!("client hung up; the server records the rest as abandoned");
    tokio::time::sleep(Duration::from_secs(5)).await;
    if let Some(p) = &pid {
        println!("server RSS after hang-up: {:?} KiB", rss_kib(p));
    }
    Ok(())
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn rand_base() -> u32 {
    // Distinct UID ranges per run, so a run can repeat against one database.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    0x1000_0000 + (nanos % 0x0100_0000) * 0x40
}
