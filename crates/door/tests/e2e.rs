//! The whole loop for real: the `openlatch` server binary and the
//! `openlatch-door` binary as processes (see `common/mod.rs`).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const UID: &str = "AABBCCDD";

/// A date_range rule for one member.
async fn range_rule(server: &Server, member: &str, from: u64, until: u64, grace: u32) {
    server
        .post(
            "/access-rules",
            json!({"name": format!("range {member}"), "rule_type": "date_range",
                   "parameters": {"start_date": rfc3339(from), "end_date": rfc3339(until),
                                  "grace_minutes": grace},
                   "priority": 10,
                   "targets": [{"target_type": "member", "target_value": member}]}),
        )
        .await;
}

#[tokio::test]
async fn a_member_inside_their_window_is_let_in_and_a_revoked_card_is_refused_after_the_next_poll()
{
    let server = Server::start().await;
    let (_, setup) = server_and_door_setup(&server).await;
    let bob = server.member("bob", "member").await;
    let key = server.key(&bob, UID, json!({})).await;
    let t = now();
    range_rule(&server, &bob, t - 3600, t + 3600, 0).await;
    let mut door = Door::start(&setup);
    door.wait_list(&server).await;

    assert_eq!(door.tap(UID).await, "GRANTED");
    assert_eq!(door.unlocks(), 1);
    let rows = server.expect_audit("access_granted", UID, 1).await;
    assert_eq!(rows[0]["details"]["actor_kind"], "device");
    // The door locks again by itself.
    eventually(10, "relock", || async { (door.locks() >= 1).then_some(()) }).await;

    server
        .post(
            &format!("/nfc-keys/{key}/revoke"),
            json!({"reason": "lost"}),
        )
        .await;
    door.wait_list(&server).await;
    assert_eq!(door.tap(UID).await, "DENIED_UNKNOWN");
    assert_eq!(door.unlocks(), 1, "a revoked card opened the door");
    let rows = server.expect_audit("access_denied", UID, 1).await;
    assert_eq!(rows[0]["details"]["reason"], "DENIED_UNKNOWN");
    // One log line per decision, UID shortened.
    assert!(
        door.lines().iter().all(|l| !l.contains(UID)),
        "full UID logged"
    );
}

#[tokio::test]
async fn with_the_server_down_members_get_in_and_every_event_arrives_exactly_once() {
    let mut server = Server::start().await;
    let (_, setup) = server_and_door_setup(&server).await;
    let bob = server.member("bob", "member").await;
    server.key(&bob, UID, json!({})).await;
    let mut door = Door::start(&setup);
    door.wait_list(&server).await;

    server.stop();
    for _ in 0..3 {
        assert_eq!(door.tap(UID).await, "GRANTED");
        // Past the relock wait, so the next tap opens again.
        tokio::time::sleep(Duration::from_millis(1300)).await;
    }
    assert_eq!(door.tap("01020304").await, "DENIED_UNKNOWN");
    assert_eq!(door.unlocks(), 3);
    assert!(
        door.status().contains("queued events: 4"),
        "{}",
        door.status()
    );

    server.restart().await;
    server.token = server.login(ADMIN, ADMIN_PASSWORD).await;
    server.expect_audit("access_granted", UID, 3).await;
    server.expect_audit("access_denied", "01020304", 1).await;
    eventually(10, "queue drained", || async {
        door.status().contains("queued events: 0").then_some(())
    })
    .await;
}

#[tokio::test]
async fn kill_9_between_a_decision_and_its_upload_loses_nothing_and_duplicates_nothing() {
    let mut server = Server::start().await;
    let (_, setup) = server_and_door_setup(&server).await;
    let bob = server.member("bob", "member").await;
    server.key(&bob, UID, json!({})).await;
    let mut door = Door::start(&setup);
    door.wait_list(&server).await;
    // One event uploaded before the cut...
    assert_eq!(door.tap(UID).await, "GRANTED");
    server.expect_audit("access_granted", UID, 1).await;

    // ...two decided while the server is away, then the power goes.
    server.stop();
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(door.tap(UID).await, "GRANTED");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(door.tap(UID).await, "GRANTED");
    door.kill9();
    assert!(
        door.status().contains("queued events: 2"),
        "{}",
        door.status()
    );

    server.restart().await;
    server.token = server.login(ADMIN, ADMIN_PASSWORD).await;
    door.restart();
    door.wait_log("stored list version", 10).await;
    let rows = server.expect_audit("access_granted", UID, 3).await;
    let mut seqs: Vec<i64> = rows
        .iter()
        .filter_map(|r| r["details"]["seq"].as_i64())
        .collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert!(seqs.is_empty() || seqs.len() == 3, "seq reused: {rows:#?}");
    // After the restart the door decides from the stored list too.
    server.stop();
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(door.tap(UID).await, "GRANTED");
}

#[tokio::test]
async fn a_conditional_guest_waits_for_an_admin_and_a_denial_keeps_the_door_shut() {
    let server = Server::start().await;
    let (_, setup) = server_and_door_setup(&server).await;
    let bob = server.member("bob", "member").await;
    server
        .key(&bob, UID, json!({"access_type": "conditional"}))
        .await;
    let mut door = Door::start(&setup);
    door.wait_list(&server).await;
    // Let the door's first contact mark it online.
    door.wait_log("list version", 5).await;

    assert_eq!(door.tap(UID).await, "NEEDS_APPROVAL");
    let pending = pending_approval(&server).await;
    assert_eq!(door.unlocks(), 0, "opened before anyone decided");
    server
        .post(&format!("/approvals/{pending}/approve"), json!({}))
        .await;
    door.wait_log("decision APPROVED", 10).await;
    assert_eq!(door.unlocks(), 1);
    server.expect_audit("conditional_approved", UID, 1).await;

    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(door.tap(UID).await, "NEEDS_APPROVAL");
    let pending = pending_approval(&server).await;
    server
        .post(&format!("/approvals/{pending}/deny"), json!({}))
        .await;
    door.wait_log("decision APPROVAL_DENIED", 10).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(door.unlocks(), 1, "a denied guest got in");
    server.expect_audit("conditional_denied", UID, 1).await;
}

async fn pending_approval(server: &Server) -> String {
    eventually(15, "a pending approval", || async {
        let list = server.get("/approvals?status=pending").await;
        list.as_array()
            .and_then(|a| a.first())
            .and_then(|p| p["id"].as_str())
            .map(str::to_owned)
    })
    .await
}

/// Serves whatever list the test puts in it, and accepts the rest.
async fn fake_server(list: Arc<Mutex<Vec<u8>>>) -> String {
    use axum::routing::{get, post};
    let app = axum::Router::new()
        .route(
            "/api/v1/device/allowlist",
            get(move || {
                let list = list.clone();
                async move { list.lock().unwrap().clone() }
            }),
        )
        .route(
            "/api/v1/device/events",
            post(|| async { axum::Json(json!({"accepted": 0, "duplicates": 0, "rejected": []})) }),
        )
        .route(
            "/api/v1/device/heartbeat",
            post(|| async { axum::Json(json!({"server_time": now(), "allowlist_version": 0})) }),
        );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    format!("http://{addr}")
}

async fn download(server: &Server, token: &str) -> Vec<u8> {
    let r = server
        .client
        .get(format!(
            "{}/api/v1/device/allowlist?current_version=0",
            server.url()
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn a_tampered_or_replayed_list_on_the_wire_is_refused_and_the_door_keeps_its_list() {
    let server = Server::start().await;
    let (_, mut setup) = server_and_door_setup(&server).await;
    let bob = server.member("bob", "member").await;
    server.key(&bob, UID, json!({})).await;
    let v1 = download(&server, &setup.token).await;
    server.key(&bob, "11223344", json!({})).await;
    let v2 = download(&server, &setup.token).await;
    let version = |b: &[u8]| ol02::Header::parse(b).unwrap().version;
    assert!(version(&v2) > version(&v1));

    let wire = Arc::new(Mutex::new(v1.clone()));
    setup.server_url = fake_server(wire.clone()).await;
    let mut door = Door::start(&setup);
    door.wait_log(&format!("list version {} accepted", version(&v1)), 10)
        .await;

    // A flipped byte in the body of a newer list.
    let mut tampered = v2.clone();
    tampered[100] ^= 0x01;
    *wire.lock().unwrap() = tampered;
    door.wait_log("list refused", 10).await;
    assert_eq!(door.tap("11223344").await, "DENIED_UNKNOWN");

    *wire.lock().unwrap() = v2.clone();
    door.wait_log(&format!("list version {} accepted", version(&v2)), 10)
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(door.tap("11223344").await, "GRANTED");

    // The older list again: a replay.
    let refused = door.count("list refused");
    *wire.lock().unwrap() = v1.clone();
    door.wait_count("list refused", refused + 1, 10).await;
    assert!(
        door.lines().iter().any(|l| l.contains("list refused")
            && l.contains(&format!("keeping version {}", version(&v2)))),
        "replay not named"
    );
    let stored = std::fs::read(door.state.join("list.ol02")).unwrap();
    assert_eq!(stored, v2, "the stored list was replaced");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(door.tap("11223344").await, "GRANTED");

    // After a restart the stored list is verified again and used.
    door.restart();
    door.wait_log(
        &format!("stored list version {} verified", version(&v2)),
        10,
    )
    .await;
}

#[tokio::test]
async fn the_shutdown_button_locks_and_anchors_grace_for_those_who_were_inside() {
    let server = Server::start().await;
    let (_, mut setup) = server_and_door_setup(&server).await;
    setup.extra =
        "[button]\nkind = \"stdin\"\ncountdown_seconds = 2\nbeep_every_seconds = 1\n".into();
    let guest = server.member("gina", "guest").await;
    server.key(&guest, UID, json!({})).await;
    let t0 = now();
    let end = t0 + 10;
    range_rule(&server, &guest, t0 - 3600, end, 1).await;
    // A second guest, same rule, who never came in.
    let other = server.member("olga", "guest").await;
    server.key(&other, "11223344", json!({})).await;
    range_rule(&server, &other, t0 - 3600, end, 1).await;
    let mut door = Door::start(&setup);
    let first_version = door.wait_list(&server).await;

    assert_eq!(door.tap(UID).await, "GRANTED");
    tokio::time::sleep(Duration::from_millis(1300)).await;

    // A second press cancels.
    door.send("shutdown");
    door.wait_log("shutdown countdown started", 5).await;
    door.send("shutdown");
    door.wait_log("cancelled by the button", 5).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(door.count("LOCKED_BY_BUTTON"), 0);

    // A granted tap during the countdown unlocks and cancels it.
    door.send("shutdown");
    door.wait_count("shutdown countdown started", 2, 5).await;
    assert_eq!(door.tap(UID).await, "GRANTED");
    door.wait_log("cancelled by a granted tap", 5).await;
    tokio::time::sleep(Duration::from_millis(1300)).await;

    // The countdown runs out: the door locks and reports it.
    let locks = door.locks();
    door.send("shutdown");
    door.wait_log("decision LOCKED_BY_BUTTON", 10).await;
    assert!(
        door.count("indicator beep") >= 1,
        "no beep during the countdown"
    );
    assert!(door.locks() > locks);
    let rows = server.expect_audit("locked_by_button", "", 1).await;
    assert_eq!(rows[0]["details"]["success"], true);

    // The list that ends with the window goes stale at its end; the server
    // builds the next one (its background task runs every 30 s).
    while now() <= end {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eventually(45, "a list built after the window ended", || async {
        (server.signed_version().await > first_version).then_some(())
    })
    .await;
    door.wait_list(&server).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Who was not inside gets no grace...
    assert_eq!(door.tap("11223344").await, "DENIED_EXPIRED");
    // ...who was gets back in within grace (1 min after the shutdown)...
    let opened = door.unlocks();
    assert_eq!(door.tap(UID).await, "GRANTED_GRACE");
    assert_eq!(door.unlocks(), opened + 1);
    let grace_at = now();
    server.expect_audit("access_grace", UID, 1).await;
    server.expect_audit("anomaly_outside_hours", UID, 1).await;

    // ...and refused once grace has run out.
    while now() <= grace_at + 62 {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let label = door.tap(UID).await;
    assert!(label.starts_with("DENIED_"), "{label}");
    assert_eq!(door.unlocks(), opened + 1);
}

#[tokio::test]
async fn the_nuki_bridge_lock_is_driven_through_the_documented_bridge_api() {
    use axum::extract::Query;
    use axum::routing::get;
    use std::collections::HashMap;

    let calls: Arc<Mutex<Vec<HashMap<String, String>>>> = Arc::default();
    let c1 = calls.clone();
    let bridge = axum::Router::new()
        .route(
            "/lockAction",
            get(move |Query(q): Query<HashMap<String, String>>| {
                let c = c1.clone();
                async move {
                    if q.get("token").map(String::as_str) != Some("bridge-token") {
                        return (axum::http::StatusCode::UNAUTHORIZED, axum::Json(json!({})));
                    }
                    c.lock().unwrap().push(q);
                    (
                        axum::http::StatusCode::OK,
                        axum::Json(json!({"success": true, "batteryCritical": false})),
                    )
                }
            }),
        )
        .route(
            "/list",
            get(|Query(q): Query<HashMap<String, String>>| async move {
                if q.get("token").map(String::as_str) != Some("bridge-token") {
                    return (axum::http::StatusCode::UNAUTHORIZED, axum::Json(json!([])));
                }
                (
                    axum::http::StatusCode::OK,
                    axum::Json(json!([{
                        "deviceType": 0, "nukiId": 42, "name": "Front door",
                        "firmwareVersion": "3.4.2",
                        "lastKnownState": {"mode": 2, "state": 1, "stateName": "locked",
                            "batteryCritical": false, "batteryCharging": false,
                            "batteryChargeState": 87, "doorsensorState": 2,
                            "doorsensorStateName": "door closed",
                            "timestamp": "2026-01-01T12:00:00+00:00"}
                    }])),
                )
            }),
        );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bridge_addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, bridge).await });

    let server = Server::start().await;
    let (device_id, mut setup) = server_and_door_setup(&server).await;
    setup.lock = Some(format!(
        "[lock]\nkind = \"nuki-bridge\"\nurl = \"http://{bridge_addr}\"\ntoken = \"bridge-token\"\nnuki_id = 42\n"
    ));
    let bob = server.member("bob", "member").await;
    server.key(&bob, UID, json!({})).await;
    let mut door = Door::start(&setup);
    door.wait_list(&server).await;

    assert_eq!(door.tap(UID).await, "GRANTED");
    eventually(10, "unlock then lock on the bridge", || async {
        let c = calls.lock().unwrap();
        (c.len() >= 2).then(|| c.clone())
    })
    .await;
    let c = calls.lock().unwrap().clone();
    assert_eq!(c[0]["action"], "1", "first call is unlock: {c:?}");
    assert_eq!(c[0]["nukiId"], "42");
    assert_eq!(c[0]["deviceType"], "0");
    assert_eq!(c[1]["action"], "2", "then lock: {c:?}");

    // The heartbeat carries the bridge's battery report.
    let out = eventually(15, "NUKI battery in monitoring", || async {
        let r = server
            .client
            .get(format!(
                "{}/api/v1/monitoring/nuki-battery?device={device_id}",
                server.url()
            ))
            .send()
            .await
            .ok()?;
        let text = r.text().await.ok()?;
        text.contains("87%").then_some(text)
    })
    .await;
    assert!(out.starts_with("OK"), "{out}");
    // After 03:00 UTC the first heartbeat also sends the daily report.
    if now() % 86_400 >= 3 * 3600 + 60 {
        let rows = server.expect_audit("nuki_daily_report", "", 1).await;
        assert_eq!(rows[0]["details"]["battery_percent"], Value::from(87));
    }
}

#[tokio::test]
async fn check_and_status_report_on_a_door() {
    let server = Server::start().await;
    let (_, setup) = server_and_door_setup(&server).await;
    let bob = server.member("bob", "member").await;
    server.key(&bob, UID, json!({})).await;
    let mut door = Door::start(&setup);
    let v = door.wait_list(&server).await;
    let status = door.status();
    assert!(status.contains(&format!("list version: {v}")), "{status}");
    assert!(status.contains("list entries: 1"), "{status}");

    let out = std::process::Command::new(door_binary())
        .args(["check", "--config"])
        .arg(&door.config)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("verifies against the master key"), "{text}");

    // A wrong master key is named.
    let bad = std::fs::read_to_string(&door.config)
        .unwrap()
        .replace(&setup.master, &"11".repeat(32));
    let bad_path = door.dir().join("bad.toml");
    std::fs::write(&bad_path, bad).unwrap();
    let out = std::process::Command::new(door_binary())
        .args(["check", "--config"])
        .arg(&bad_path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("master_public_key"));

    // SIGTERM stops it cleanly.
    let st = door.terminate();
    assert!(st.success(), "{st:?}");
}
