//! Measures what one rule change costs with zones: 10 zones (main and 9
//! `granted` rooms, each with a grant for every member) over 1,000 members
//! with keys. A change to a rule limited to one zone must rebuild one list;
//! a change to a rule for every zone rebuilds all ten.
//!
//! Runs a server in this process on a fresh SQLite database (or on
//! `OL_DATABASE_URL`), 127.0.0.1 only, and times the HTTP request that makes
//! the change (the request returns once the new list is built and signed):
//! ```text
//! cargo run --release -p openlatch --example zone_rebuild
//! ```
//! Environment: `OL_MEMBERS` (1000), `OL_ZONES` (10), `OL_ROUNDS` (20).

use openlatch::config::Config;
use openlatch::domain::key::{NfcKey, Uid};
use openlatch::domain::member::{Member, Role};
use openlatch::domain::{KeyId, MemberId};
use openlatch::startup::Application;
use openlatch::storage::{counters, keys, members};
use secrecy::SecretString;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    /// Versions per zone id.
    async fn versions(&self) -> Vec<(String, i64)> {
        let s = self.send(reqwest::Method::GET, "/allowlist", None).await;
        s["zones"]
            .as_array()
            .expect("zones")
            .iter()
            .map(|z| {
                (
                    z["zone_id"].as_str().unwrap_or_default().to_owned(),
                    z["version"].as_i64().unwrap_or(0),
                )
            })
            .collect()
    }
}

fn summary(label: &str, mut times: Vec<Duration>, rebuilt: &[usize]) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{label}: median {:.1} ms, min {:.1} ms, max {:.1} ms over {} changes; lists rebuilt per change: {:?}",
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[times.len() - 1]),
        times.len(),
        rebuilt.iter().collect::<std::collections::BTreeSet<_>>()
    );
}

#[tokio::main]
async fn main() {
    let n_members = env("OL_MEMBERS", 1000);
    let n_zones = env("OL_ZONES", 10);
    let rounds = env("OL_ROUNDS", 20);
    let dir = tempfile::tempdir().expect("tempdir");
    let url = std::env::var("OL_DATABASE_URL").unwrap_or_else(|_| {
        format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("bench.db").display()
        )
    });
    let config = Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir: dir.path().join("data"),
        database_url: Some(SecretString::from(url)),
        admin_username: Some("admin".into()),
        admin_password: Some(SecretString::from("zone-bench-password")),
        ..Config::default()
    };
    let application = Application::build(config).await.expect("server");
    let addr = application.local_addr().expect("addr");
    let app = application.app().clone();
    tokio::spawn(application.run_until_stopped(std::future::pending()));

    // Members and keys straight into the database: 1,000 logins would
    // spend minutes hashing passwords that nobody uses here.
    let mut tx = app.db.begin().await.expect("tx");
    let now = openlatch::domain::now();
    for i in 0..n_members {
        let keypad_id = counters::next(&mut tx, "keypad_id").await.expect("id");
        let m = Member {
            id: MemberId::new(),
            username: format!("m{i:05}"),
            email: format!("m{i:05}@example.org"),
            display_name: format!("Member {i}"),
            role: Role::Member,
            is_active: true,
            keypad_id: u16::try_from(keypad_id).expect("keypad id"),
            created_at: now,
            updated_at: now,
        };
        members::insert(&mut tx, &m, None).await.expect("member");
        let k = NfcKey {
            id: KeyId::new(),
            member_id: m.id,
            uid: Uid::parse(&format!("04{:012X}", 0x1000_0000u64 + i as u64)).expect("uid"),
            label: String::new(),
            key_type: None,
            access_type: None,
            expires_at: None,
            revoked_at: None,
            revoke_reason: None,
            created_at: now,
        };
        keys::insert(&mut tx, &k).await.expect("key");
    }
    tx.commit().await.expect("commit");

    let http = reqwest::Client::new();
    let base = format!("http://{addr}/api/v1");
    let login: Value = http
        .post(format!("{base}/auth/login"))
        .json(&json!({"username": "admin", "password": "zone-bench-password"}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let c = Client {
        http,
        base,
        token: login["access_token"].as_str().expect("token").to_owned(),
    };
    use reqwest::Method;
    c.send(Method::POST, "/allowlist/regenerate", None).await;
    let mut rooms = Vec::new();
    for z in 1..n_zones {
        let zone = c
            .send(
                Method::POST,
                "/zones",
                Some(json!({"name": format!("room {z}"), "default_presence": "granted"})),
            )
            .await;
        let id = zone["id"].as_str().expect("id").to_owned();
        c.send(
            Method::POST,
            "/access-rules",
            Some(json!({"name": format!("members in room {z}"), "rule_type": "grant",
                        "parameters": {}, "targets": [{"target_type": "role", "target_value": "member"}],
                        "zone_ids": [id]})),
        )
        .await;
        rooms.push(id);
    }
    let window = |end: u32| {
        json!({"days": ["mon","tue","wed","thu","fri"], "start_hour": 8, "start_minute": 0,
               "end_hour": end, "end_minute": 0, "timezone": "Europe/Berlin"})
    };
    let one_room = c
        .send(
            Method::POST,
            "/access-rules",
            Some(
                json!({"name": "room hours", "rule_type": "time_window", "parameters": window(20),
                        "zone_ids": [rooms[rooms.len() / 2]]}),
            ),
        )
        .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let everywhere = c
        .send(
            Method::POST,
            "/access-rules",
            Some(
                json!({"name": "house hours", "rule_type": "time_window", "parameters": window(22),
                        "priority": -1}),
            ),
        )
        .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let status = c.send(Method::GET, "/allowlist", None).await;
    let sizes: Vec<String> = status["zones"]
        .as_array()
        .expect("zones")
        .iter()
        .map(|z| format!("{}: {} entries", z["zone"], z["entry_count"]))
        .collect();
    println!(
        "{n_members} members with keys, {n_zones} zones ({})",
        sizes.join(", ")
    );

    for (label, rule) in [
        ("rule limited to one zone", &one_room),
        ("rule for every zone", &everywhere),
    ] {
        let mut times = Vec::new();
        let mut rebuilt = Vec::new();
        for round in 0..rounds {
            let before = c.versions().await;
            let end = if round % 2 == 0 { 21 } else { 20 };
            let started = Instant::now();
            c.send(
                Method::PUT,
                &format!("/access-rules/{rule}"),
                Some(json!({"parameters": window(end)})),
            )
            .await;
            times.push(started.elapsed());
            let after = c.versions().await;
            rebuilt.push(
                before
                    .iter()
                    .zip(&after)
                    .filter(|(b, a)| b.1 != a.1)
                    .count(),
            );
        }
        summary(label, times, &rebuilt);
    }
}
