//! The device registry's tokens, `/device/events` and `/device/heartbeat`.

use crate::helpers::{spawn_app, TestApp};
use openlatch::domain::DeviceId;
use openlatch::storage::device_status;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub fn heartbeat(battery: Option<i64>) -> Value {
    let mut hb = json!({
        "firmware_version": "0.1.0",
        "allowlist_version": 42,
        "uptime_seconds": 86400,
        "free_heap": 120000,
        "wifi_rssi": -55,
    });
    if let Some(b) = battery {
        hb["nuki_battery_percent"] = json!(b);
        hb["nuki_battery_critical"] = json!(false);
        hb["nuki_paired"] = json!(true);
        hb["nuki_state"] = json!("locked");
    }
    hb
}

async fn events(app: &TestApp, token: &str, batch: Value) -> crate::helpers::Reply {
    app.post("/device/events", token, batch).await
}

#[tokio::test]
async fn token_lifecycle_create_use_rotate_disable_delete() {
    let app = spawn_app().await;
    let (id, token) = app.device("front").await;
    let hb = heartbeat(Some(80));
    assert_eq!(
        app.post("/device/heartbeat", &token, hb.clone())
            .await
            .status,
        StatusCode::OK
    );

    let r = app
        .post(
            &format!("/devices/{id}/rotate-token"),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let new_token = r.body["token"].as_str().expect("token").to_owned();
    assert_ne!(new_token, token);
    assert_eq!(
        app.post("/device/heartbeat", &token, hb.clone())
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.post("/device/heartbeat", &new_token, hb.clone())
            .await
            .status,
        StatusCode::OK
    );

    let r = app
        .put(
            &format!("/devices/{id}"),
            &app.admin_token,
            json!({"is_enabled": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        app.post("/device/heartbeat", &new_token, hb.clone())
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let r = app
        .put(
            &format!("/devices/{id}"),
            &app.admin_token,
            json!({"is_enabled": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        app.post("/device/heartbeat", &new_token, hb.clone())
            .await
            .status,
        StatusCode::OK
    );

    assert_eq!(
        app.delete(&format!("/devices/{id}"), &app.admin_token)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.post("/device/heartbeat", &new_token, hb).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn device_api_refuses_admin_tokens_and_admin_api_refuses_device_tokens() {
    let app = spawn_app().await;
    let (_, token) = app.device("front").await;
    for (path, body) in [
        ("/device/heartbeat", heartbeat(None)),
        ("/device/events", json!([])),
        (
            "/device/approve",
            json!({"uid": "AABBCCDD", "timestamp": now()}),
        ),
    ] {
        let r = app.post(path, &app.admin_token, body.clone()).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path} with a JWT");
        let r = app.request(Method::POST, path, None, Some(body)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path} without a token");
    }
    for path in [
        "/members",
        "/devices",
        "/audit-log",
        "/approvals",
        "/approvals/stream",
    ] {
        let r = app.get(path, &token).await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "{path} with a device token"
        );
    }
    let r = app
        .post(
            &format!("/approvals/{}/approve", uuid::Uuid::new_v4()),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn unauthorised_device_requests_are_rate_limited_per_address() {
    let app = spawn_app().await;
    let (_, token) = app.device("front").await;
    let bad = format!("olt_{}", "A".repeat(43));
    let mut limited = None;
    for i in 0..40 {
        let r = app.post("/device/heartbeat", &bad, heartbeat(None)).await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some((i, r));
            break;
        }
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let (i, r) = limited.expect("never rate limited");
    assert!(i > 5, "limited too early, after {i}");
    let retry: u64 = r.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("secs");
    assert!(retry >= 1);
    // Still blocked for bad tokens, but a door with a valid token sharing
    // the address is not locked out by someone else's failures.
    let r = app.post("/device/heartbeat", &bad, heartbeat(None)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    let r = app.post("/device/heartbeat", &token, heartbeat(None)).await;
    assert_eq!(r.status, StatusCode::OK);
    // A request with no token guesses nothing: it is told 401 even from a
    // blocked address, and many of them do not block anyone.
    let no_token = |path: &'static str| {
        let client = app.client.clone();
        let url = app.url(path);
        async move {
            client
                .post(url)
                .json(&json!({}))
                .send()
                .await
                .expect("request")
                .status()
        }
    };
    assert_eq!(
        no_token("/device/heartbeat").await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn requests_without_a_token_are_401_and_never_rate_limited() {
    let app = spawn_app().await;
    for path in ["/device/heartbeat", "/device/events", "/device/approve"] {
        for _ in 0..15 {
            let r = app
                .client
                .post(app.url(path))
                .json(&json!({}))
                .send()
                .await
                .expect("request");
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        }
    }
    let r = app
        .client
        .get(app.url("/device/allowlist"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Nor do they count towards blocking a bad token from the address.
    let bad = format!("olt_{}", "A".repeat(43));
    let r = app.post("/device/heartbeat", &bad, heartbeat(None)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_mixed_batch_stores_the_valid_events_and_reports_the_rest_by_index() {
    let app = spawn_app().await;
    let (device_id, token) = app.device("front").await;
    let (member, _) = app.member_with_role("alice", "member").await;
    let key = app.key_for(&member, "AABBCCDD").await;
    let t = now() - 100;
    let batch = json!([
        {"uid": "aa:bb:cc:dd", "event": "access_granted", "timestamp": t, "firmware_extra": true},
        {"uid": "AABB", "event": "access_granted", "timestamp": t},
        {"uid": "AABBCCDD", "event": "member_created", "timestamp": t},
        {"uid": "11223344", "event": "access_denied", "timestamp": t + 1,
         "details": {"reason": "DENIED_UNKNOWN"}},
        {"uid": "AABBCCDD", "event": "access_granted", "timestamp": now() + 1000},
        {"uid": "", "event": "nuki_daily_report", "timestamp": 0,
         "details": {"battery_percent": 87, "battery_critical": false}},
        {"uid": "", "event": "access_granted", "timestamp": t},
        {"uid": "AABBCCDD", "event": "access_granted", "timestamp": t, "details": {"x": "y".repeat(5000)}},
        "not an object"
    ]);
    let r = events(&app, &token, batch).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["accepted"], 3);
    assert_eq!(r.body["duplicates"], 0);
    let rejected: Vec<u64> = r.body["rejected"]
        .as_array()
        .expect("rejected")
        .iter()
        .map(|x| x["index"].as_u64().expect("index"))
        .collect();
    assert_eq!(rejected, vec![1, 2, 4, 6, 7, 8]);
    assert!(r.body["rejected"][0]["reason"]
        .as_str()
        .is_some_and(|s| s.contains("uid")));

    let granted = app.audit("access_granted").await;
    assert_eq!(granted.len(), 1);
    let g = &granted[0];
    assert_eq!(g["actor_id"], device_id.as_str());
    assert_eq!(g["target_id"], key["id"]);
    assert_eq!(g["details"]["uid"], "AABBCCDD");
    assert_eq!(g["details"]["actor_kind"], "device");
    assert!(g["details"]["received_at"].as_i64().is_some_and(|r| r >= t));
    let created = chrono::DateTime::parse_from_rfc3339(g["created_at"].as_str().expect("time"))
        .expect("rfc3339");
    assert_eq!(created.timestamp(), t, "created_at is the door's time");

    let denied = app.audit("access_denied").await;
    assert_eq!(denied.len(), 1);
    assert_eq!(
        denied[0]["target_id"],
        Value::Null,
        "unregistered UID has no target"
    );
    assert_eq!(denied[0]["details"]["uid"], "11223344");
    assert_eq!(denied[0]["details"]["reason"], "DENIED_UNKNOWN");

    let report = app.audit("nuki_daily_report").await;
    assert_eq!(report.len(), 1);
    let created =
        chrono::DateTime::parse_from_rfc3339(report[0]["created_at"].as_str().expect("time"))
            .expect("rfc3339");
    assert!(
        (created.timestamp() - now()).abs() < 10,
        "timestamp 0 is stored at receipt time"
    );
    assert_eq!(report[0]["details"]["clock_unsynchronised"], true);

    // Filtering by actor finds the door's events.
    let r = app
        .get(
            &format!("/audit-log?actor_id={device_id}"),
            &app.admin_token,
        )
        .await;
    assert_eq!(r.body.as_array().map(Vec::len), Some(3));
}

#[tokio::test]
async fn a_batch_sent_twice_creates_no_duplicates() {
    let app = spawn_app().await;
    let (_, token) = app.device("front").await;
    let t = now() - 50;
    let batch = json!([
        {"uid": "AABBCCDD", "event": "access_granted", "timestamp": t, "details": {"b": 1, "a": 2}},
        {"uid": "AABBCCDD", "event": "access_granted", "timestamp": t + 1},
        {"uid": "11223344", "event": "access_denied", "timestamp": t, "seq": 7, "details": {"reason": "DENIED_EXPIRED"}},
    ]);
    let r = events(&app, &token, batch.clone()).await;
    assert_eq!(
        (r.body["accepted"].as_u64(), r.body["duplicates"].as_u64()),
        (Some(3), Some(0))
    );
    let r = events(&app, &token, batch).await;
    assert_eq!(
        (r.body["accepted"].as_u64(), r.body["duplicates"].as_u64()),
        (Some(0), Some(3))
    );
    // Same content with its details in another key order is the same event;
    // the same seq is the same event whatever else it says.
    let again = json!([
        {"details": {"a": 2, "b": 1}, "timestamp": t, "event": "access_granted", "uid": "aabbccdd"},
        {"uid": "55667788", "event": "access_granted", "timestamp": t + 5, "seq": 7},
    ]);
    let r = events(&app, &token, again).await;
    assert_eq!(
        (r.body["accepted"].as_u64(), r.body["duplicates"].as_u64()),
        (Some(0), Some(2))
    );
    assert_eq!(app.audit("access_granted").await.len(), 2);
    assert_eq!(app.audit("access_denied").await.len(), 1);

    // Another door's identical event is its own.
    let (_, other) = app.device("back").await;
    let r = events(
        &app,
        &other,
        json!([{"uid": "AABBCCDD", "event": "access_granted", "timestamp": t + 1}]),
    )
    .await;
    assert_eq!(r.body["accepted"], 1);
}

#[tokio::test]
async fn anomalies_are_stored_once_and_found_by_both_names() {
    let app = spawn_app().await;
    let (_, token) = app.device("front").await;
    let t = now() - 10;
    let r = events(
        &app,
        &token,
        json!([
            {"uid": "AABBCCDD", "event": "access_grace", "timestamp": t},
            {"uid": "AABBCCDD", "event": "anomaly_outside_hours", "timestamp": t},
        ]),
    )
    .await;
    assert_eq!(r.body["accepted"], 2);
    let own = app.audit("anomaly_outside_hours").await;
    let general = app.audit("anomaly_detected").await;
    assert_eq!(own.len(), 1);
    assert_eq!(general.len(), 1);
    assert_eq!(own[0]["id"], general[0]["id"]);
    assert_eq!(app.audit("access_grace").await.len(), 1);
}

#[tokio::test]
async fn batches_past_100_events_or_64_kib_are_413() {
    let app = spawn_app().await;
    let (_, token) = app.device("front").await;
    let t = now();
    let many: Vec<Value> = (0..101)
        .map(|i| json!({"uid": "AABBCCDD", "event": "access_granted", "timestamp": t - i}))
        .collect();
    let r = events(&app, &token, Value::Array(many.clone())).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let r = events(&app, &token, Value::Array(many[..100].to_vec())).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["accepted"], 100);

    let big: Vec<Value> = (0..40)
        .map(|i| {
            json!({"uid": "AABBCCDD", "event": "access_denied", "timestamp": t - 1000 - i,
                        "details": {"note": "x".repeat(2000)}})
        })
        .collect();
    let r = events(&app, &token, Value::Array(big)).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.audit("access_denied").await.len(), 0);
}

#[tokio::test]
async fn emergency_access_notifies_at_once_rate_limited_per_door() {
    let app = spawn_app().await;
    app.subscribe_webhook(
        "https://hooks.example.org/door",
        "0123456789abcdef",
        &["emergency_access"],
    )
    .await;
    let (_, token) = app.device("front").await;
    let (_, back) = app.device("back").await;
    // Two uses within one minute of the door's clock.
    let t = now() / 60 * 60 - 60;
    let r = events(
        &app,
        &token,
        json!([
            {"uid": "AABBCCDD", "event": "emergency_access", "timestamp": t + 10},
            {"uid": "AABBCCDD", "event": "emergency_access", "timestamp": t + 20},
        ]),
    )
    .await;
    assert_eq!(r.body["accepted"], 2);
    events(
        &app,
        &back,
        json!([{"uid": "AABBCCDD", "event": "emergency_access", "timestamp": t}]),
    )
    .await;
    let sent = app.outbox("emergency_access").await;
    assert_eq!(sent.len(), 2, "one per door and minute: {sent:?}");
    assert_eq!(
        app.audit("emergency_access").await.len(),
        3,
        "every use is audited"
    );
}

#[tokio::test]
async fn heartbeat_answers_with_server_time_and_ignores_unknown_fields() {
    let app = spawn_app().await;
    let (id, token) = app.device("front").await;
    let mut hb = heartbeat(Some(87));
    hb["future_field"] = json!({"nested": 1});
    let r = app.post("/device/heartbeat", &token, hb).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!((r.body["server_time"].as_i64().expect("time") - now()).abs() < 5);
    let signed = app.get("/allowlist", &app.admin_token).await.body["signed_version"].clone();
    assert!(signed.as_i64().is_some_and(|v| v >= 1), "{signed}");
    assert_eq!(r.body["allowlist_version"], signed);
    // A change that alters the list is announced with the next heartbeat.
    let (member, _) = app.member_with_role("mia", "member").await;
    app.key_for(&member, "0A0B0C0D").await;
    let r = app
        .post("/device/heartbeat", &token, heartbeat(Some(87)))
        .await;
    assert!(r.body["allowlist_version"].as_i64() > signed.as_i64());
    // Without a lock, the NUKI fields are simply absent.
    let r = app.post("/device/heartbeat", &token, heartbeat(None)).await;
    assert_eq!(r.status, StatusCode::OK);
    let mut bad = heartbeat(Some(150));
    bad["wifi_rssi"] = json!(-55);
    let r = app.post("/device/heartbeat", &token, bad).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.field("nuki_battery_percent").is_some());
    let r = app
        .post(
            "/device/heartbeat",
            &token,
            json!({"firmware_version": "1"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Current status is one row; history at most one row per 5 minutes.
    let device: DeviceId = id.parse().expect("id");
    let mut conn = app.app.db.read().await.expect("conn");
    let status = device_status::get(&mut conn, device)
        .await
        .expect("read")
        .expect("status");
    assert_eq!(status.heartbeat.nuki_battery_percent, None);
    assert_eq!(
        device_status::history_count(&mut conn, device)
            .await
            .expect("count"),
        1
    );
}

async fn battery_low_count(app: &TestApp) -> usize {
    app.audit("nuki_battery_low").await.len()
}

#[tokio::test]
async fn battery_low_is_raised_once_and_rearmed_above_25_percent() {
    let app = spawn_app().await;
    app.subscribe_webhook(
        "https://hooks.example.org/door",
        "0123456789abcdef",
        &["battery_low"],
    )
    .await;
    let (id, token) = app.device("front").await;
    let hb = |b: i64| heartbeat(Some(b));
    for (battery, raised) in [
        (50, 0),
        (-1, 0),
        (19, 1),
        (10, 1),
        (22, 1),
        (25, 1),
        (26, 1),
        (-1, 1),
        (18, 2),
        (5, 2),
    ] {
        let r = app.post("/device/heartbeat", &token, hb(battery)).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(
            battery_low_count(&app).await,
            raised,
            "after a reading of {battery}"
        );
    }
    let rows = app.audit("nuki_battery_low").await;
    assert_eq!(rows[0]["actor_id"], id.as_str());
    assert_eq!(rows[0]["details"]["actor_kind"], "device");
    assert_eq!(rows[0]["details"]["battery_percent"], 18);
    assert_eq!(app.outbox("battery_low").await.len(), 2);
}

#[tokio::test]
async fn battery_low_also_comes_from_daily_reports_and_shares_the_alarm() {
    let app = spawn_app().await;
    let (_, token) = app.device("front").await;
    let report = |b: i64, t: i64| {
        json!([{"uid": "", "event": "nuki_daily_report", "timestamp": t,
        "details": {"battery_percent": b, "battery_critical": false, "unlatch_count": 3}}])
    };
    let t = now() - 1000;
    events(&app, &token, report(15, t)).await;
    assert_eq!(battery_low_count(&app).await, 1);
    // The next heartbeat is low as well: no second alarm.
    app.post("/device/heartbeat", &token, heartbeat(Some(14)))
        .await;
    assert_eq!(battery_low_count(&app).await, 1);
    // The door's own one-shot alert is the same alarm.
    let r = events(
        &app,
        &token,
        json!([{"uid": "", "event": "nuki_battery_low", "timestamp": t + 1,
        "details": {"battery_percent": 14}}]),
    )
    .await;
    assert_eq!(r.body["duplicates"], 1);
    assert_eq!(battery_low_count(&app).await, 1);
    // Recovery in a report re-arms; a low reading raises again.
    events(&app, &token, report(90, t + 2)).await;
    events(&app, &token, report(-1, t + 3)).await;
    assert_eq!(battery_low_count(&app).await, 1);
    app.post("/device/heartbeat", &token, heartbeat(Some(12)))
        .await;
    assert_eq!(battery_low_count(&app).await, 2);
    // Re-sending a report already stored changes nothing.
    let r = events(&app, &token, report(15, t)).await;
    assert_eq!(r.body["duplicates"], 1);
    assert_eq!(battery_low_count(&app).await, 2);
}

#[tokio::test]
async fn a_door_disabled_on_one_instance_is_refused_by_another_within_a_second() {
    let a = spawn_app().await;
    let b = crate::helpers::spawn_second_instance(&a, |_| {}).await;
    let (id, token) = a.device("front").await;
    // Instance b has just served this door, so it holds it in its poll cache.
    let r = b
        .post("/device/heartbeat", &token, heartbeat(Some(80)))
        .await;
    assert_eq!(r.status, StatusCode::OK);

    let r = a
        .put(
            &format!("/devices/{id}"),
            &a.admin_token,
            json!({"is_enabled": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        a.post("/device/heartbeat", &token, heartbeat(Some(80)))
            .await
            .status,
        StatusCode::UNAUTHORIZED,
        "the instance that made the change refuses at once"
    );
    let started = std::time::Instant::now();
    loop {
        let r = b
            .post("/device/heartbeat", &token, heartbeat(Some(80)))
            .await;
        if r.status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(r.status, StatusCode::OK);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(3),
            "the other instance still served a disabled door"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
