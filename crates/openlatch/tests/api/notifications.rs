//! Notifications: subscriptions, signed webhooks against a receiver started
//! here, retries, restarts, several instances, e-mail against an SMTP sink
//! started here, and the events that feed the outbox.

use crate::device_api::{heartbeat, now};
use crate::helpers::{is_postgres, spawn_app, spawn_app_with, spawn_second_instance, TestApp};
use axum::body::Bytes;
use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use openlatch::app::notifications::{self, checks};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

const SECRET: &str = "a-webhook-secret-0123";

/// One request as the receiver saw it, with the status it answered.
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Value,
    pub raw: Bytes,
    pub answered: u16,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// Checks the signature the way docs/notifications.md tells receivers to.
    fn signature_ok(&self, secret: &str) -> bool {
        let ts = self.header("x-openlatch-timestamp");
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
        mac.update(ts.as_bytes());
        mac.update(b".");
        mac.update(&self.raw);
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        expected == self.header("x-openlatch-signature")
    }
}

/// A webhook receiver on 127.0.0.1:0 answering the scripted statuses first, then 200.
pub struct Receiver {
    pub url: String,
    rx: mpsc::UnboundedReceiver<Received>,
    _server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start(script: &[u16]) -> Self {
        Self::start_with(script, Duration::ZERO).await
    }

    /// Answers only after `delay` (a slow receiver).
    pub async fn start_with(script: &[u16], delay: Duration) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let script = Arc::new(Mutex::new(script.iter().copied().collect::<VecDeque<_>>()));
        let handler = move |headers: HeaderMap, raw: Bytes| {
            let (tx, script) = (tx.clone(), script.clone());
            async move {
                let status = script.lock().expect("script").pop_front().unwrap_or(200);
                let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
                let _ = tx.send(Received {
                    headers,
                    body,
                    raw,
                    answered: status,
                });
                tokio::time::sleep(delay).await;
                StatusCode::from_u16(status).expect("status")
            }
        };
        let router = axum::Router::new().route("/hook", axum::routing::post(handler));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            url: format!("http://{addr}/hook"),
            rx,
            _server: server,
        }
    }

    /// The next request; fails the test after 15 s.
    pub async fn next(&mut self) -> Received {
        tokio::time::timeout(Duration::from_secs(15), self.rx.recv())
            .await
            .expect("the receiver got nothing within 15 s")
            .expect("receiver channel")
    }

    /// Requests already received, without waiting.
    pub fn drain(&mut self) -> Vec<Received> {
        let mut out = Vec::new();
        while let Ok(r) = self.rx.try_recv() {
            out.push(r);
        }
        out
    }
}

fn allow_private(c: &mut openlatch::config::Config) {
    c.notify_allow_private_targets = true;
}

/// Runs the outbox as if `secs` had passed (retries become due); never
/// further than the lease, so a claim held by the background worker stays its own.
async fn run_ahead(app: &TestApp, secs: i64) -> notifications::RunReport {
    notifications::drain(&app.app, notifications::now_ms() + secs * 1000)
        .await
        .expect("run the outbox")
}

async fn events(app: &TestApp, token: &str, batch: Value) {
    let n = batch.as_array().map_or(0, Vec::len);
    let r = app.post("/device/events", token, batch).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["accepted"], n, "{:?}", r.body);
}

/// Waits until every message of `event_type` had its first attempt settled.
async fn settled(app: &TestApp, event_type: &str) -> Vec<openlatch::storage::outbox::MessageRow> {
    for _ in 0..500 {
        let rows = app.outbox(event_type).await;
        if !rows.is_empty()
            && rows
                .iter()
                .all(|r| r.attempt > 0 && r.state != "in_progress")
        {
            return rows;
        }
        run_ahead(app, 0).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{event_type} messages were never settled");
}

#[tokio::test]
async fn subscriptions_are_admin_only_validated_and_keep_secrets_write_only() {
    let app = spawn_app().await;
    let url = "/notifications/subscriptions";
    let body = json!({"channel": "webhook",
        "settings": {"url": "https://hooks.example.org/door", "secret": SECRET},
        "events": ["emergency_access", "battery_low"]});
    assert_eq!(
        app.request(reqwest::Method::GET, url, None, None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let (_, keyholder) = app.member_with_role("kim", "keyholder").await;
    assert_eq!(app.get(url, &keyholder).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.post(url, &keyholder, body.clone()).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/notifications/deliveries", &keyholder)
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    // Every wrong field is named.
    let r = app
        .post(
            url,
            &app.admin_token,
            json!({"channel": "pager", "settings": {}, "events": ["battery"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert!(r.field("channel").is_some());
    assert!(r.field("events[0]").is_some());
    let r = app
        .post(
            url,
            &app.admin_token,
            json!({"channel": "webhook", "settings": {"url": "ftp://x.org", "secret": "short", "colour": 1},
                   "events": []}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    for f in [
        "settings.url",
        "settings.secret",
        "settings.colour",
        "events",
    ] {
        assert!(r.field(f).is_some(), "{f}: {:?}", r.body);
    }
    let r = app
        .post(
            url,
            &app.admin_token,
            json!({"channel": "webhook", "settings": {"url": "https://hooks.example.org/x"},
                   "events": ["battery_low"]}),
        )
        .await;
    assert!(
        r.field("settings.secret").is_some(),
        "signed format needs a secret"
    );
    let r = app
        .post(
            url,
            &app.admin_token,
            json!({"channel": "email", "settings": {"to": ["ops@example.org", "nope"]},
                   "events": ["door_offline"]}),
        )
        .await;
    assert!(r.field("settings.to[1]").is_some(), "{:?}", r.body);

    // Created: the secret is never shown, only that it is set.
    let r = app.post(url, &app.admin_token, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id = r.body["id"].as_str().expect("id").to_owned();
    assert!(!r.body.to_string().contains(SECRET), "{:?}", r.body);
    assert_eq!(r.body["settings"]["secret_set"], true);
    assert_eq!(r.body["settings"]["format"], "openlatch");
    assert_eq!(r.body["events"], json!(["battery_low", "emergency_access"]));
    let listed = app.get(url, &app.admin_token).await;
    assert!(!listed.body.to_string().contains(SECRET));
    assert_eq!(listed.body.as_array().map(Vec::len), Some(1));

    // An update without the secret keeps it; with a new URL and events.
    let r = app
        .put(
            &format!("{url}/{id}"),
            &app.admin_token,
            json!({"settings": {"url": "https://hooks.example.org/other"}, "events": ["door_offline"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["settings"]["secret_set"], true);
    assert_eq!(r.body["events"], json!(["door_offline"]));
    let audit = app.audit("notification_subscription_updated").await;
    assert_eq!(audit.len(), 1);
    assert!(!audit[0].to_string().contains(SECRET));
    assert!(
        !audit[0].to_string().contains("/other"),
        "only the host is audited"
    );

    assert_eq!(
        app.delete(&format!("{url}/{id}"), &app.admin_token)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&format!("{url}/{id}"), &app.admin_token)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_webhook_gets_a_signed_event_once_per_cause() {
    let app = spawn_app_with(allow_private).await;
    let mut rcv = Receiver::start(&[]).await;
    app.subscribe_webhook(&rcv.url, SECRET, &["emergency_access"])
        .await;
    let (door_id, door) = app.device("front").await;
    let t = now() / 60 * 60 - 60;
    events(
        &app,
        &door,
        json!([{"uid": "04A1B2C3", "event": "emergency_access", "timestamp": t + 10},
               {"uid": "04A1B2C3", "event": "emergency_access", "timestamp": t + 20},
               {"uid": "04A1B2C3", "event": "access_granted", "timestamp": t + 30}]),
    )
    .await;
    let got = rcv.next().await;
    assert!(got.signature_ok(SECRET), "signature: {:?}", got.headers);
    assert!(!got.signature_ok("another-secret-0123456"));
    let ts: i64 = got
        .header("x-openlatch-timestamp")
        .parse()
        .expect("timestamp");
    assert!((ts - now()).abs() < 10);
    assert_eq!(got.header("x-openlatch-event"), "emergency_access");
    assert_eq!(got.header("content-type"), "application/json");
    assert_eq!(got.body["type"], "emergency_access");
    assert_eq!(got.body["id"], got.header("x-openlatch-delivery"));
    assert_eq!(got.body["data"]["door"]["id"], door_id.as_str());
    assert_eq!(got.body["data"]["door"]["name"], "front");
    assert_eq!(got.body["data"]["uid"], "04A1…", "UIDs are shortened");
    assert!(got.body["summary"]
        .as_str()
        .is_some_and(|s| s.contains("front")));

    // The second use in the same minute is one message; nothing else was sent.
    assert_eq!(settled(&app, "emergency_access").await.len(), 1);
    run_ahead(&app, 0).await;
    assert!(rcv.drain().is_empty());
    let d = app.get("/notifications/deliveries", &app.admin_token).await;
    assert_eq!(d.body[0]["outcome"], "delivered", "{:?}", d.body);
    assert_eq!(d.body[0]["state"], "delivered");
    assert_eq!(d.body[0]["event_type"], "emergency_access");
}

#[tokio::test]
async fn a_receiver_failing_three_times_gets_the_event_exactly_once_across_a_restart() {
    let mut a = spawn_app_with(allow_private).await;
    let mut rcv = Receiver::start(&[500, 503, 500]).await;
    let sub = a
        .subscribe_webhook(&rcv.url, SECRET, &["battery_low"])
        .await;
    let (_, door) = a.device("front").await;
    let r = a
        .post("/device/heartbeat", &door, heartbeat(Some(15)))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // The worker tries at once and fails.
    let first = rcv.next().await;
    assert_eq!(first.answered, 500);
    let delivery = first.header("x-openlatch-delivery").to_owned();

    // Stop the server while the message waits for its retry ...
    a.stop();
    a.stopped().await.expect("clean stop");
    // ... and start it again on the same database.
    let b = spawn_second_instance(&a, allow_private).await;
    let mut seen = vec![first];
    for i in 1..20 {
        // Each retry waits longer: move the clock a minute further each time.
        run_ahead(&b, 60 * i).await;
        seen.extend(rcv.drain());
        if seen.iter().any(|r| r.answered == 200) {
            break;
        }
    }
    run_ahead(&b, 3600).await;
    seen.extend(rcv.drain());
    let answered: Vec<u16> = seen.iter().map(|r| r.answered).collect();
    assert_eq!(
        answered,
        vec![500, 503, 500, 200],
        "exactly once, after three failures"
    );
    assert!(seen
        .iter()
        .all(|r| r.header("x-openlatch-delivery") == delivery && r.signature_ok(SECRET)));

    let d = b
        .get(
            &format!("/notifications/deliveries?subscription_id={sub}"),
            &b.admin_token,
        )
        .await;
    let outcomes: Vec<&str> = d
        .body
        .as_array()
        .expect("list")
        .iter()
        .map(|a| a["outcome"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(outcomes, vec!["delivered", "retry", "retry", "retry"]);
    assert_eq!(
        d.body[1]["error"],
        "the receiver answered 500 Internal Server Error"
    );
    let rows = b.outbox("battery_low").await;
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].state.as_str(), rows[0].attempt), ("delivered", 4));
}

#[tokio::test]
async fn internal_targets_are_refused_unless_allowed() {
    let app = spawn_app().await;
    let r = app
        .post(
            "/notifications/subscriptions",
            &app.admin_token,
            json!({"channel": "webhook", "settings": {"url": "http://127.0.0.1:9/x", "secret": SECRET},
                   "events": ["battery_low"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.field("settings.url").is_some(), "{:?}", r.body);
    // By name: refused when it is sent, for good.
    let sub = app
        .subscribe_webhook("http://localhost:9/x", SECRET, &["battery_low"])
        .await;
    let r = app
        .post(
            &format!("/notifications/subscriptions/{sub}/test"),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    let rows = settled(&app, "test").await;
    assert_eq!(rows[0].state, "failed", "{rows:?}");
    assert!(
        rows[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("internal")),
        "{rows:?}"
    );
}

#[tokio::test]
async fn the_test_endpoint_sends_a_test_message_and_chat_formats_are_plain() {
    let app = spawn_app_with(allow_private).await;
    let mut rcv = Receiver::start(&[]).await;
    let r = app
        .post(
            "/notifications/subscriptions",
            &app.admin_token,
            json!({"channel": "webhook", "settings": {"url": rcv.url, "format": "slack"},
                   "events": ["door_offline"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["settings"]["secret_set"], false);
    let id = r.body["id"].as_str().expect("id").to_owned();
    let r = app
        .post(
            &format!("/notifications/subscriptions/{id}/test"),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let got = rcv.next().await;
    assert_eq!(got.header("x-openlatch-event"), "test");
    assert_eq!(
        got.header("x-openlatch-delivery"),
        r.body["delivery_id"].as_str().expect("id")
    );
    assert_eq!(
        got.body,
        json!({"text": "OpenLatch: Test message from OpenLatch"})
    );
    let missing = app
        .post(
            &format!("/notifications/subscriptions/{}/test", uuid::Uuid::new_v4()),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn doors_going_offline_and_back_are_told_once() {
    let app = spawn_app().await;
    app.subscribe_webhook(
        "https://hooks.example.org/x",
        SECRET,
        &["door_offline", "door_back_online"],
    )
    .await;
    let (_, door) = app.device("front").await;
    app.post("/device/heartbeat", &door, heartbeat(Some(80)))
        .await;
    let later = now() + 601;
    let r = checks::run_checks(&app.app, now()).await.expect("checks");
    assert_eq!(r.doors_offline, 0, "a fresh heartbeat is online");
    let r = checks::run_checks(&app.app, later).await.expect("checks");
    assert_eq!(r.doors_offline, 1);
    let r = checks::run_checks(&app.app, later + 30)
        .await
        .expect("checks");
    assert_eq!(r.doors_offline, 0, "told once");
    let offline = app.outbox("door_offline").await;
    assert_eq!(offline.len(), 1);
    let payload: Value = serde_json::from_str(&offline[0].payload).expect("json");
    assert_eq!(payload["data"]["door"]["name"], "front");
    assert!(payload["data"]["silent_secs"].as_i64() >= Some(600));

    app.post("/device/heartbeat", &door, heartbeat(Some(80)))
        .await;
    app.post("/device/heartbeat", &door, heartbeat(Some(80)))
        .await;
    assert_eq!(app.outbox("door_back_online").await.len(), 1);
}

#[tokio::test]
async fn rules_logins_anomalies_batteries_and_approvals_feed_the_outbox() {
    let app = spawn_app_with(|c| c.approval_timeout_secs = 1).await;
    let all: Vec<&str> = notifications::events::EventType::SUBSCRIBABLE
        .iter()
        .map(|t| t.as_str())
        .collect();
    app.subscribe_webhook("https://hooks.example.org/x", SECRET, &all)
        .await;

    // A lockdown starts and ends.
    let r = app
        .post(
            "/access-rules",
            &app.admin_token,
            json!({"name": "storm", "rule_type": "global_override",
                   "parameters": {"mode": "lockdown"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let rule = r.body["id"].as_str().expect("id").to_owned();
    assert_eq!(app.outbox("lockdown_started").await.len(), 1);
    let r = app
        .put(
            &format!("/access-rules/{rule}"),
            &app.admin_token,
            json!({"is_active": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let ended = app.outbox("override_ended").await;
    assert_eq!(ended.len(), 1);
    assert!(ended[0].payload.contains("deactivated"));

    // Logins locked after the free failures.
    for _ in 0..6 {
        app.try_login("admin", "wrong-password-1").await;
    }
    let locked = app.outbox("login_locked").await;
    assert_eq!(locked.len(), 1, "one message per quarter hour: {locked:?}");
    assert!(!locked[0].payload.contains("wrong-password"));

    // Door events: an anomaly, a critical battery.
    let (_, door) = app.device("front").await;
    events(
        &app,
        &door,
        json!([{"uid": "AABBCCDD", "event": "anomaly_outside_hours", "timestamp": now() - 5}]),
    )
    .await;
    assert_eq!(app.outbox("anomaly").await.len(), 1);
    let mut hb = heartbeat(Some(8));
    hb["nuki_battery_critical"] = json!(true);
    app.post("/device/heartbeat", &door, hb.clone()).await;
    app.post("/device/heartbeat", &door, hb).await;
    assert_eq!(app.outbox("battery_critical").await.len(), 1);
    assert_eq!(app.outbox("battery_low").await.len(), 1);

    // A conditional key asks; nobody decides in time.
    let (guest, _) = app.member_with_role("gina", "member").await;
    let r = app
        .post(
            "/nfc-keys",
            &app.admin_token,
            json!({"member_id": guest, "uid": "0A0B0C0D", "label": "tag", "access_type": "conditional"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = app
        .post(
            "/device/approve",
            &door,
            json!({"uid": "0A0B0C0D", "timestamp": now()}),
        )
        .await;
    assert_eq!(r.body["status"], "timeout", "{:?}", r.body);
    let asked = app.outbox("approval_requested").await;
    assert_eq!(asked.len(), 1);
    let payload: Value = serde_json::from_str(&asked[0].payload).expect("json");
    assert_eq!(payload["data"]["member"]["display_name"], "gina");
    assert_eq!(payload["data"]["uid"], "0A0B…");
    let decided = app.outbox("approval_decided").await;
    assert_eq!(decided.len(), 1);
    assert!(decided[0].payload.contains("\"status\":\"timeout\""));
}

// ---- e-mail -------------------------------------------------------------

/// One message the SMTP sink accepted.
#[derive(Debug)]
struct Mail {
    rcpt: Vec<String>,
    data: String,
}

/// A minimal SMTP server on 127.0.0.1:0 that accepts everything.
async fn smtp_sink() -> (u16, mpsc::UnboundedReceiver<Mail>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut lines = BufReader::new(r).lines();
                let _ = w.write_all(b"220 sink ESMTP\r\n").await;
                let mut rcpt = Vec::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    let upper = line.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                        b"250 sink\r\n"
                    } else if upper.starts_with("RCPT TO:") {
                        rcpt.push(line[8..].trim().trim_matches(['<', '>']).to_owned());
                        b"250 OK\r\n"
                    } else if upper.starts_with("DATA") {
                        let _ = w.write_all(b"354 go ahead\r\n").await;
                        let mut data = String::new();
                        while let Ok(Some(l)) = lines.next_line().await {
                            if l == "." {
                                break;
                            }
                            data.push_str(&l);
                            data.push('\n');
                        }
                        let _ = tx.send(Mail {
                            rcpt: std::mem::take(&mut rcpt),
                            data,
                        });
                        b"250 queued\r\n"
                    } else if upper.starts_with("QUIT") {
                        let _ = w.write_all(b"221 bye\r\n").await;
                        break;
                    } else {
                        b"250 OK\r\n"
                    };
                    let _ = w.write_all(reply).await;
                }
            });
        }
    });
    (port, rx)
}

async fn next_mail(rx: &mut mpsc::UnboundedReceiver<Mail>) -> Mail {
    tokio::time::timeout(Duration::from_secs(15), rx.recv())
        .await
        .expect("no e-mail within 15 s")
        .expect("sink")
}

#[tokio::test]
async fn e_mail_reaches_admins_subscribers_and_deciders_in_text_and_html() {
    let (port, mut mails) = smtp_sink().await;
    let app = spawn_app_with(|c| {
        c.smtp_url = Some(format!("smtp://127.0.0.1:{port}").into());
        c.smtp_from = Some("OpenLatch <door@example.org>".into());
        c.public_url = Some("https://door.example.org/".into());
        c.admin_email = Some("boss@example.org".into());
        c.approval_timeout_secs = 1;
    })
    .await;
    let r = app
        .post(
            "/notifications/subscriptions",
            &app.admin_token,
            json!({"channel": "email", "settings": {"to": ["ops@example.org"]},
                   "events": ["door_offline"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let (_, door) = app.device("front").await;

    // A low battery: the admins hear of it.
    app.post("/device/heartbeat", &door, heartbeat(Some(15)))
        .await;
    let mail = next_mail(&mut mails).await;
    assert_eq!(mail.rcpt, vec!["boss@example.org"]);
    assert!(
        mail.data
            .contains("Subject: [OpenLatch] Lock battery low at front (15 %)"),
        "{}",
        mail.data
    );
    assert!(mail.data.contains("From: OpenLatch <door@example.org>"));
    assert!(mail.data.contains("multipart/alternative"));
    assert!(mail.data.contains("text/plain"));
    assert!(mail.data.contains("text/html"));

    // Offline: the subscriber and the admins.
    checks::run_checks(&app.app, now() + 700)
        .await
        .expect("checks");
    let mut to: Vec<String> = Vec::new();
    for _ in 0..2 {
        to.extend(next_mail(&mut mails).await.rcpt);
    }
    to.sort();
    assert_eq!(to, vec!["boss@example.org", "ops@example.org"]);

    // An approval request: the keyholder who may decide, not the key's holder.
    let (guest, _) = app.member_with_role("gina", "member").await;
    app.member_with_role("kim", "keyholder").await;
    let r = app
        .post(
            "/nfc-keys",
            &app.admin_token,
            json!({"member_id": guest, "uid": "0A0B0C0D", "label": "tag", "access_type": "conditional"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    app.post(
        "/device/approve",
        &door,
        json!({"uid": "0A0B0C0D", "timestamp": now()}),
    )
    .await;
    let mut to: Vec<String> = Vec::new();
    let mut bodies = String::new();
    for _ in 0..2 {
        let m = next_mail(&mut mails).await;
        to.extend(m.rcpt);
        bodies.push_str(&m.data);
    }
    to.sort();
    assert_eq!(
        to,
        vec!["boss@example.org", "kim@example.org"],
        "gina is not asked"
    );
    assert!(bodies.contains("gina is waiting at front"), "{bodies}");
    assert!(
        bodies.contains("https://door.example.org/approvals"),
        "{bodies}"
    );
}

// ---- several instances --------------------------------------------------

#[tokio::test]
#[ignore = "needs PostgreSQL (SKIP LOCKED between instances); run with \
            OPENLATCH_TEST_DATABASE_URL=postgres://... -- --include-ignored"]
async fn two_instances_send_each_notification_once() {
    assert!(
        is_postgres(),
        "this test needs OPENLATCH_TEST_DATABASE_URL pointing at PostgreSQL"
    );
    let a = spawn_app_with(allow_private).await;
    let b = spawn_second_instance(&a, allow_private).await;
    let mut rcv = Receiver::start(&[]).await;
    let sub = a
        .subscribe_webhook(&rcv.url, SECRET, &["battery_low"])
        .await;
    const N: usize = 40;
    for i in 0..N {
        let on = if i % 2 == 0 { &a } else { &b };
        let r = on
            .post(
                &format!("/notifications/subscriptions/{sub}/test"),
                &on.admin_token,
                json!({}),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED);
    }
    // Both background workers run, and both instances drain at once too.
    let (ra, rb) = tokio::join!(run_ahead(&a, 0), run_ahead(&b, 0));
    let mut ids = std::collections::HashSet::new();
    let mut total = 0;
    while ids.len() < N {
        let r = rcv.next().await;
        total += 1;
        ids.insert(r.header("x-openlatch-delivery").to_owned());
    }
    // Each message was claimed exactly once (a claim bumps `attempt`).
    let rows = a.outbox("test").await;
    assert_eq!(rows.len(), N);
    for _ in 0..50 {
        if a.outbox("test")
            .await
            .iter()
            .all(|r| r.state == "delivered")
        {
            break;
        }
        run_ahead(&a, 0).await;
    }
    let rows = a.outbox("test").await;
    assert!(
        rows.iter()
            .all(|r| r.state == "delivered" && r.attempt == 1),
        "{rows:?}"
    );
    total += rcv.drain().len();
    assert_eq!(total, N, "no message was sent twice ({ra:?}, {rb:?})");
}

#[tokio::test]
async fn a_stopping_server_hands_back_a_send_still_in_flight() {
    let mut app = spawn_app_with(|c| {
        allow_private(c);
        c.notify_timeout_secs = 60;
    })
    .await;
    let mut rcv = Receiver::start_with(&[], Duration::from_secs(30)).await;
    let sub = app
        .subscribe_webhook(&rcv.url, SECRET, &["battery_low"])
        .await;
    let (_, door) = app.device("front").await;
    app.post("/device/heartbeat", &door, heartbeat(Some(10)))
        .await;
    // The receiver has the request and keeps it waiting.
    let got = rcv.next().await;
    let delivery = got.header("x-openlatch-delivery").to_owned();
    let rows = app.outbox("battery_low").await;
    assert_eq!(
        (rows[0].state.as_str(), rows[0].attempt),
        ("in_progress", 1)
    );

    let started = std::time::Instant::now();
    app.stop();
    app.stopped().await.expect("clean stop");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the stop waited for the slow receiver"
    );
    // The claim went back: due again, as if never tried.
    let db = openlatch::storage::Db::connect(&app.database_url, 1)
        .await
        .expect("db");
    let rows = {
        let mut conn = db.read().await.expect("conn");
        openlatch::storage::outbox::list(&mut conn, Some("webhook"), 100)
            .await
            .expect("outbox")
    };
    db.close().await;
    assert_eq!(rows[0].id, delivery);
    assert_eq!(
        (rows[0].state.as_str(), rows[0].attempt),
        ("pending", 0),
        "{rows:?}"
    );
    let b = spawn_second_instance(&app, allow_private).await;
    let d = b
        .get(
            &format!("/notifications/deliveries?subscription_id={sub}"),
            &b.admin_token,
        )
        .await;
    assert_eq!(d.body, json!([]), "no attempt was recorded as done");
}

#[tokio::test]
async fn a_day_of_failures_gives_up_and_switches_the_subscription_off() {
    let app = spawn_app_with(allow_private).await;
    let mut rcv = Receiver::start(&[500; 100]).await;
    let sub = app
        .subscribe_webhook(&rcv.url, SECRET, &["battery_low"])
        .await;
    let (_, door) = app.device("front").await;
    app.post("/device/heartbeat", &door, heartbeat(Some(10)))
        .await;
    rcv.next().await;
    let rows = settled(&app, "battery_low").await;
    assert_eq!(rows[0].state, "pending", "retried after the first failure");
    // A day and an hour later the next failure is the last.
    let r = run_ahead(&app, 25 * 3600).await;
    assert_eq!(r.failed, 1, "{r:?}");
    let rows = app.outbox("battery_low").await;
    assert_eq!(rows[0].state, "failed");
    let s = app
        .get(
            &format!("/notifications/subscriptions/{sub}"),
            &app.admin_token,
        )
        .await;
    assert_eq!(s.body["is_enabled"], false, "{:?}", s.body);
    assert_eq!(
        s.body["disabled_reason"],
        "disabled after a day of failed deliveries"
    );
    // Switched off: new causes are not queued for it; on again clears the reason.
    app.post("/device/heartbeat", &door, heartbeat(Some(80)))
        .await;
    app.post("/device/heartbeat", &door, heartbeat(Some(10)))
        .await;
    assert_eq!(app.outbox("battery_low").await.len(), 1);
    let s = app
        .put(
            &format!("/notifications/subscriptions/{sub}"),
            &app.admin_token,
            json!({"is_enabled": true}),
        )
        .await;
    assert_eq!(s.body["is_enabled"], true);
    assert_eq!(s.body["disabled_reason"], Value::Null);
}

#[tokio::test]
async fn the_openapi_document_lists_the_notification_endpoints() {
    let app = spawn_app().await;
    let r = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("request");
    let doc: Value = r.json().await.expect("json");
    let paths = doc["paths"].as_object().expect("paths");
    for p in [
        "/api/v1/notifications/subscriptions",
        "/api/v1/notifications/subscriptions/{id}",
        "/api/v1/notifications/subscriptions/{id}/test",
        "/api/v1/notifications/deliveries",
    ] {
        assert!(paths.contains_key(p), "missing {p}");
    }
}
