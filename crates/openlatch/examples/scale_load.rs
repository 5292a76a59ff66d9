//! Load runs for large spaces, over HTTP against a running release server
//! (127.0.0.1 only). Each prints what it measured.
//!
//! ```text
//! OPENLATCH_LISTEN=127.0.0.1:18090 OPENLATCH_DATA_DIR=/tmp/ol-scale \
//! OPENLATCH_ADMIN_USERNAME=admin OPENLATCH_ADMIN_PASSWORD=admin-password-1 \
//! RUST_LOG=warn target/release/openlatch serve &
//! OL_MODE=import   OL_N=10000  cargo run --release -p openlatch --example scale_load
//! OL_MODE=register OL_N=10000  cargo run --release -p openlatch --example scale_load
//! OL_MODE=poll                 cargo run --release -p openlatch --example scale_load
//! ```
//!
//! * `import`: one CSV of `OL_N` members with one key each (75 % 7-byte,
//!   25 % 4-byte UIDs) to `POST /members/import`; the time until the
//!   response, which comes after the one list build carrying the import.
//! * `register`: `OL_N` members without keys are imported first, then a key
//!   for each is registered with `POST /nfc-keys`, `OL_CONCURRENCY` (16)
//!   at a time; the time for all registrations.
//! * `poll`: a door polls `GET /device/allowlist` every `OL_POLL_MS` (50)
//!   milliseconds; one key is registered; the time from sending that
//!   request until the door holds a list with a newer version, five times.
//!
//! `OL_URL` (default http://127.0.0.1:18090), `OL_ADMIN_USER`,
//! `OL_ADMIN_PASSWORD`, `OL_PREFIX` (usernames, default a random word, so
//! runs can follow each other on one database).

use futures::stream::{self, StreamExt};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// A distinct UID per (prefix, i): 7 bytes for three in four.
fn uid(seed: u64, i: usize) -> String {
    let x = (i as u64 ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let hex = format!("{x:016X}");
    if i % 4 == 3 {
        hex[..8].to_owned()
    } else {
        format!("04{}", &hex[..12])
    }
}

fn csv(prefix: &str, seed: u64, n: usize, with_keys: bool) -> String {
    let mut out =
        String::from("username,email,display_name,role,uid,key_label,key_type,expires_at\n");
    for i in 0..n {
        let role = match i % 100 {
            0 | 1 => "keyholder",
            _ => "member",
        };
        let key = if with_keys {
            uid(seed, i)
        } else {
            String::new()
        };
        out.push_str(&format!(
            "{prefix}{i},{prefix}{i}@example.org,Member {i},{role},{key},,\n"
        ));
    }
    out
}

async fn import(client: &reqwest::Client, base: &str, admin: &str, body: String) -> Res<Value> {
    let r = client
        .post(format!("{base}/members/import"))
        .bearer_auth(admin)
        .header("content-type", "text/csv")
        .body(body)
        .send()
        .await?;
    let status = r.status();
    let v: Value = r.json().await?;
    if !status.is_success() {
        let mut text = v.to_string();
        text.truncate(500);
        return Err(format!("import: {status} {text}").into());
    }
    Ok(v)
}

async fn members_by_prefix(
    client: &reqwest::Client,
    base: &str,
    admin: &str,
    prefix: &str,
) -> Res<Vec<(usize, String)>> {
    let all: Value = client
        .get(format!("{base}/members"))
        .bearer_auth(admin)
        .send()
        .await?
        .json()
        .await?;
    Ok(all
        .as_array()
        .ok_or("members")?
        .iter()
        .filter_map(|m| {
            let name = m["username"].as_str()?;
            let i: usize = name.strip_prefix(prefix)?.parse().ok()?;
            Some((i, m["id"].as_str()?.to_owned()))
        })
        .collect())
}

async fn poll_once(client: &reqwest::Client, base: &str, door: &str, held: i64) -> Res<i64> {
    let r = client
        .get(format!("{base}/device/allowlist?current_version={held}"))
        .bearer_auth(door)
        .send()
        .await?;
    match r.status().as_u16() {
        304 => Ok(held),
        200 => {
            let v = r
                .headers()
                .get("x-openlatch-allowlist-version")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .ok_or("version header")?;
            r.bytes().await?;
            Ok(v)
        }
        s => Err(format!("poll: {s}").into()),
    }
}

#[tokio::main]
async fn main() -> Res<()> {
    let base = format!("{}/api/v1", env("OL_URL", "http://127.0.0.1:18090"));
    assert!(
        base.starts_with("http://127.0.0.1"),
        "the load run stays on 127.0.0.1"
    );
    let mode = env("OL_MODE", "import");
    let n: usize = env("OL_N", "10000").parse()?;
    let seed: u64 = rand_seed();
    let prefix = env("OL_PREFIX", &format!("m{:x}x", seed & 0xffff));
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

    match mode.as_str() {
        "import" => {
            let body = csv(&prefix, seed, n, true);
            let bytes = body.len();
            let started = Instant::now();
            let v = import(&client, &base, &admin, body).await?;
            println!(
                "imported {n} members with {n} keys ({bytes} bytes of CSV) in {:.2} s: {v}",
                started.elapsed().as_secs_f64()
            );
        }
        "register" => {
            import(&client, &base, &admin, csv(&prefix, seed, n, false)).await?;
            let members = members_by_prefix(&client, &base, &admin, &prefix).await?;
            let concurrency: usize = env("OL_CONCURRENCY", "16").parse()?;
            let started = Instant::now();
            let ok = stream::iter(members)
                .map(|(i, id)| {
                    let (client, base, admin) = (client.clone(), base.clone(), admin.clone());
                    async move {
                        client
                            .post(format!("{base}/nfc-keys"))
                            .bearer_auth(admin)
                            .json(&json!({"member_id": id, "uid": uid(seed, i), "label": "card"}))
                            .send()
                            .await
                            .map(|r| r.status().as_u16() == 201)
                            .unwrap_or(false)
                    }
                })
                .buffer_unordered(concurrency)
                .filter(|ok| std::future::ready(*ok))
                .count()
                .await;
            let secs = started.elapsed().as_secs_f64();
            println!(
                "registered {ok} of {n} keys, {concurrency} at a time, in {secs:.2} s \
                 ({:.0} per second)",
                ok as f64 / secs
            );
        }
        "poll" => {
            let device: Value = client
                .post(format!("{base}/devices"))
                .bearer_auth(&admin)
                .json(&json!({"name": format!("door-{prefix}")}))
                .send()
                .await?
                .json()
                .await?;
            let door = device["token"].as_str().ok_or("device")?.to_owned();
            let member: Value = client
                .post(format!("{base}/members"))
                .bearer_auth(&admin)
                .json(&json!({"username": format!("{prefix}poll"), "email": "p@example.org"}))
                .send()
                .await?
                .json()
                .await?;
            let member_id = member["id"].as_str().ok_or("member")?.to_owned();
            let every = Duration::from_millis(env("OL_POLL_MS", "50").parse()?);
            let mut held = poll_once(&client, &base, &door, 0).await?;
            for round in 0..5 {
                let started = Instant::now();
                let register = {
                    let (client, base, admin, id) = (
                        client.clone(),
                        base.clone(),
                        admin.clone(),
                        member_id.clone(),
                    );
                    let uid = uid(seed ^ 0xdead_beef, round);
                    tokio::spawn(async move {
                        let r = client
                            .post(format!("{base}/nfc-keys"))
                            .bearer_auth(admin)
                            .json(&json!({"member_id": id, "uid": uid}))
                            .send()
                            .await;
                        (r.map(|r| r.status().as_u16()), started.elapsed())
                    })
                };
                let seen = loop {
                    let v = poll_once(&client, &base, &door, held).await?;
                    if v > held {
                        break started.elapsed();
                    }
                    if started.elapsed() > Duration::from_secs(30) {
                        return Err("the door saw no new version within 30 s".into());
                    }
                    tokio::time::sleep(every).await;
                };
                let (status, answered) = register.await?;
                held = poll_once(&client, &base, &door, 0).await?;
                println!(
                    "change {round}: request answered {:?} after {:.0} ms; door held the new \
                     list after {:.0} ms (polling every {} ms)",
                    status.ok(),
                    answered.as_secs_f64() * 1e3,
                    seen.as_secs_f64() * 1e3,
                    every.as_millis()
                );
            }
        }
        other => return Err(format!("unknown OL_MODE {other}").into()),
    }
    Ok(())
}

fn rand_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
}
