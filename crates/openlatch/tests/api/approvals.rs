//! Conditional approval: `/device/approve` held open, decided through `/approvals`.

use crate::device_api::now;
use crate::helpers::{is_postgres, spawn_app_with, spawn_second_instance, TestApp};
use openlatch::domain::approval::{ApprovalRequest, ApprovalStatus};
use openlatch::domain::key::Uid;
use openlatch::storage::approvals as approval_rows;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

async fn app_with_timeout(secs: u64) -> TestApp {
    spawn_app_with(|c| c.approval_timeout_secs = secs).await
}

/// Registers a key with `"access_type": "conditional"`; returns its id.
async fn conditional_key(app: &TestApp, member_id: &str, uid: &str) -> String {
    let r = app
        .post(
            "/nfc-keys",
            &app.admin_token,
            json!({"member_id": member_id, "uid": uid, "label": "backup", "access_type": "conditional"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.body["id"].as_str().expect("id").to_owned()
}

/// `POST /device/approve` in the background, as a door would.
fn ask(app: &TestApp, token: &str, uid: &str) -> JoinHandle<(StatusCode, Value)> {
    ask_with(app, reqwest::Client::new(), token, uid)
}

fn ask_with(
    app: &TestApp,
    client: reqwest::Client,
    token: &str,
    uid: &str,
) -> JoinHandle<(StatusCode, Value)> {
    let url = app.url("/device/approve");
    let token = token.to_owned();
    let body = json!({"uid": uid, "timestamp": now()});
    tokio::spawn(async move {
        match client.post(url).bearer_auth(token).json(&body).send().await {
            Ok(r) => {
                let status = r.status();
                (status, r.json().await.unwrap_or(Value::Null))
            }
            Err(_) => (StatusCode::REQUEST_TIMEOUT, Value::Null),
        }
    })
}

/// Waits until `uid` shows up as pending; returns the request's id.
async fn pending_id(app: &TestApp, token: &str, uid: &str) -> String {
    for _ in 0..200 {
        let r = app.get("/approvals?status=pending", token).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        if let Some(item) = r
            .body
            .as_array()
            .and_then(|a| a.iter().find(|i| i["uid"] == uid))
        {
            return item["id"].as_str().expect("id").to_owned();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{uid} never became pending");
}

#[tokio::test]
async fn a_keyholder_approves_and_the_door_is_released() {
    let app = app_with_timeout(20).await;
    let (_, door) = app.device("front").await;
    let (guest, _) = app.member_with_role("gina", "member").await;
    let key_id = conditional_key(&app, &guest, "AABBCCDD").await;
    let (kim, kim_token) = app.member_with_role("kim", "keyholder").await;

    let waiting = ask(&app, &door, "aabbccdd");
    let id = pending_id(&app, &kim_token, "AABBCCDD").await;
    let list = app.get("/approvals", &kim_token).await;
    assert_eq!(list.body[0]["can_decide"], true);
    assert_eq!(list.body[0]["key_id"], key_id.as_str());

    let r = app
        .post(&format!("/approvals/{id}/approve"), &kim_token, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let (status, body) = waiting.await.expect("door");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"status": "approved", "decided_by": kim}));

    // First decision wins.
    let r = app
        .post(
            &format!("/approvals/{id}/deny"),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);

    let audited = app.audit("conditional_approved").await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0]["actor_id"], kim.as_str());
    assert_eq!(audited[0]["target_id"], key_id.as_str());
    let decided = app.get("/approvals?status=approved", &kim_token).await;
    assert_eq!(decided.body.as_array().map(Vec::len), Some(1));
    assert_eq!(decided.body[0]["decided_by"], kim.as_str());

    // The door reports conditional outcomes only the server never produced;
    // a report of this one is not stored twice, an offline timeout is.
    let r = app.post("/device/events", &door, json!([
        {"uid": "AABBCCDD", "event": "conditional_approved", "timestamp": now()},
        {"uid": "11223344", "event": "conditional_timeout", "timestamp": now(), "details": {"reason": "offline"}},
    ])).await;
    assert_eq!(
        (r.body["accepted"].as_u64(), r.body["duplicates"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(app.audit("conditional_approved").await.len(), 1);
    assert_eq!(app.audit("conditional_timeout").await.len(), 1);
}

#[tokio::test]
async fn an_admin_denies() {
    let app = app_with_timeout(20).await;
    let (_, door) = app.device("front").await;
    let (guest, _) = app.member_with_role("gina", "member").await;
    conditional_key(&app, &guest, "AABBCCDD").await;
    let waiting = ask(&app, &door, "AABBCCDD");
    let id = pending_id(&app, &app.admin_token, "AABBCCDD").await;
    let r = app
        .post(
            &format!("/approvals/{id}/deny"),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"], "denied");
    let (_, body) = waiting.await.expect("door");
    assert_eq!(body["status"], "denied");
    assert!(body["decided_by"].is_string());
    let audited = app.audit("conditional_denied").await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0]["details"]["actor_kind"], "member");
}

#[tokio::test]
async fn nobody_deciding_is_a_timeout_audited_by_the_server() {
    let app = app_with_timeout(1).await;
    let (_, door) = app.device("front").await;
    let (guest, _) = app.member_with_role("gina", "member").await;
    conditional_key(&app, &guest, "AABBCCDD").await;
    let started = Instant::now();
    let (status, body) = ask(&app, &door, "AABBCCDD").await.expect("door");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"status": "timeout", "decided_by": null}));
    assert!(started.elapsed() < Duration::from_secs(4));
    let audited = app.audit("conditional_timeout").await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0]["actor_id"], Value::Null);
    assert_eq!(audited[0]["details"]["status"], "timeout");
    let r = app.get("/approvals?status=timeout", &app.admin_token).await;
    let id = r.body[0]["id"].as_str().expect("id").to_owned();
    let r = app
        .post(
            &format!("/approvals/{id}/approve"),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_uid_that_is_not_conditional_is_denied_at_once() {
    let app = app_with_timeout(20).await;
    let (_, door) = app.device("front").await;
    let (m, _) = app.member_with_role("mia", "member").await;
    app.key_for(&m, "AABBCCDD").await;
    for uid in ["AABBCCDD", "01020304"] {
        let started = Instant::now();
        let r = app
            .post(
                "/device/approve",
                &door,
                json!({"uid": uid, "timestamp": now(), "extra": 1}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body, json!({"status": "denied", "decided_by": null}));
        assert!(started.elapsed() < Duration::from_secs(1));
    }
    let r = app
        .post(
            "/device/approve",
            &door,
            json!({"uid": "AABBCCDD", "timestamp": now() - 400}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.field("timestamp").is_some());
    let r = app
        .post(
            "/device/approve",
            &door,
            json!({"uid": "AABB", "timestamp": now()}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn one_pending_request_per_door_and_uid() {
    let app = app_with_timeout(20).await;
    let (_, door) = app.device("front").await;
    let (_, back) = app.device("back").await;
    let (guest, _) = app.member_with_role("gina", "member").await;
    conditional_key(&app, &guest, "AABBCCDD").await;
    let first = ask(&app, &door, "AABBCCDD");
    pending_id(&app, &app.admin_token, "AABBCCDD").await;
    let r = app
        .post(
            "/device/approve",
            &door,
            json!({"uid": "AABBCCDD", "timestamp": now()}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    // Another door may ask about the same card.
    let other = ask(&app, &back, "AABBCCDD");
    for _ in 0..100 {
        let r = app.get("/approvals", &app.admin_token).await;
        if r.body.as_array().map(Vec::len) == Some(2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = app.get("/approvals", &app.admin_token).await;
    assert_eq!(r.body.as_array().map(Vec::len), Some(2));
    for item in r.body.as_array().expect("list") {
        let rid = item["id"].as_str().expect("id");
        app.post(
            &format!("/approvals/{rid}/deny"),
            &app.admin_token,
            json!({}),
        )
        .await;
    }
    assert_eq!(first.await.expect("first").1["status"], "denied");
    assert_eq!(other.await.expect("other").1["status"], "denied");
}

#[tokio::test]
async fn who_may_decide() {
    let app = app_with_timeout(20).await;
    let (_, door) = app.device("front").await;
    let (kim, kim_token) = app.member_with_role("kim", "keyholder").await;
    let (kai, kai_token) = app.member_with_role("kai", "keyholder").await;
    let (_, member_token) = app.member_with_role("moe", "member").await;
    // Kim's own conditional key: Kim may not decide, Kai and admins may.
    conditional_key(&app, &kim, "AABBCCDD").await;
    let waiting = ask(&app, &door, "AABBCCDD");
    let id = pending_id(&app, &kim_token, "AABBCCDD").await;
    let list = app.get("/approvals", &kim_token).await;
    assert_eq!(list.body[0]["can_decide"], false);
    let r = app
        .post(&format!("/approvals/{id}/approve"), &kim_token, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .post(
            &format!("/approvals/{id}/approve"),
            &member_token,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.get("/approvals", &member_token).await.status,
        StatusCode::FORBIDDEN
    );
    let r = app
        .post(
            &format!("/approvals/{}/approve", uuid::Uuid::new_v4()),
            &kai_token,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .post(&format!("/approvals/{id}/approve"), &kai_token, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(waiting.await.expect("door").1["decided_by"], kai.as_str());

    // A guest sponsored by Kai with approval required: the compiled list
    // makes the key CONDITIONAL with Kai as sponsor. Kim (another
    // keyholder) gets 403, Kai may decide.
    let (guest, _) = app.member_with_role("gus", "guest").await;
    let r = app
        .post(
            "/access-rules",
            &app.admin_token,
            json!({
                "name": "Gus visits Kai",
                "rule_type": "guest_sponsor",
                "parameters": {"sponsor_id": kai, "requires_approval": true},
                "priority": 5,
                "targets": [{"target_type": "member", "target_value": guest}]
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    app.key_for(&guest, "11223344").await;
    let waiting = ask(&app, &door, "11223344");
    let id = pending_id(&app, &kai_token, "11223344").await;
    let list = app.get("/approvals?status=pending", &kai_token).await;
    let item = list
        .body
        .as_array()
        .and_then(|a| a.iter().find(|i| i["id"] == id.as_str()))
        .cloned();
    assert_eq!(
        item.as_ref().map(|i| i["sponsor_id"].clone()),
        Some(json!(kai))
    );
    let r = app
        .post(&format!("/approvals/{id}/approve"), &kim_token, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .post(&format!("/approvals/{id}/deny"), &kai_token, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let (status, body) = waiting.await.expect("door");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"status": "denied", "decided_by": kai}));
}

#[tokio::test]
async fn the_live_stream_shows_pending_requests() {
    let app = app_with_timeout(20).await;
    let (_, door) = app.device("front").await;
    let (guest, _) = app.member_with_role("gina", "member").await;
    conditional_key(&app, &guest, "AABBCCDD").await;
    let (_, kim_token) = app.member_with_role("kim", "keyholder").await;

    // Never a token in the query string.
    let r = app
        .client
        .get(format!(
            "{}?access_token={kim_token}",
            app.url("/approvals/stream")
        ))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let mut stream = app
        .client
        .get(app.url("/approvals/stream"))
        .bearer_auth(&kim_token)
        .send()
        .await
        .expect("stream");
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(stream.headers()["content-type"]
        .to_str()
        .expect("ct")
        .starts_with("text/event-stream"));
    let waiting = ask(&app, &door, "AABBCCDD");
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !(seen.contains("event: pending") && seen.contains("AABBCCDD")) {
        assert!(Instant::now() < deadline, "no pending event in {seen:?}");
        if let Ok(Ok(Some(chunk))) =
            tokio::time::timeout(Duration::from_secs(5), stream.chunk()).await
        {
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
    let id = pending_id(&app, &kim_token, "AABBCCDD").await;
    app.post(&format!("/approvals/{id}/approve"), &kim_token, json!({}))
        .await;
    while !seen.contains("event: decided") {
        assert!(Instant::now() < deadline, "no decided event in {seen:?}");
        if let Ok(Ok(Some(chunk))) =
            tokio::time::timeout(Duration::from_secs(5), stream.chunk()).await
        {
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
    assert_eq!(waiting.await.expect("door").1["status"], "approved");
}

#[tokio::test]
async fn a_door_that_hangs_up_is_recorded_as_abandoned() {
    let app = app_with_timeout(20).await;
    let (_, door) = app.device("front").await;
    let (guest, _) = app.member_with_role("gina", "member").await;
    conditional_key(&app, &guest, "AABBCCDD").await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(1000))
        .build()
        .expect("client");
    let (status, _) = ask_with(&app, impatient, &door, "AABBCCDD")
        .await
        .expect("door");
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT, "the client gave up");
    let mut found = Vec::new();
    for _ in 0..100 {
        found = app.audit("conditional_timeout").await;
        if !found.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(found.len(), 1, "abandoned request not audited");
    assert_eq!(found[0]["details"]["status"], "abandoned");
    assert_eq!(found[0]["actor_id"], Value::Null);
    let r = app
        .get("/approvals?status=abandoned", &app.admin_token)
        .await;
    assert_eq!(r.body.as_array().map(Vec::len), Some(1));
    // The door may ask again at once.
    let again = ask(&app, &door, "AABBCCDD");
    let id = pending_id(&app, &app.admin_token, "AABBCCDD").await;
    app.post(
        &format!("/approvals/{id}/approve"),
        &app.admin_token,
        json!({}),
    )
    .await;
    assert_eq!(again.await.expect("door").1["status"], "approved");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: instances on one SQLite file share state but not wake-ups \
            (a waiting door sees the decision only at its deadline); run with \
            OPENLATCH_TEST_DATABASE_URL=postgres://... -- --include-ignored"]
async fn a_decision_on_one_instance_releases_the_door_waiting_on_another() {
    assert!(
        is_postgres(),
        "this test needs OPENLATCH_TEST_DATABASE_URL pointing at PostgreSQL"
    );
    let a = app_with_timeout(30).await;
    let b = spawn_second_instance(&a, |c| c.approval_timeout_secs = 30).await;
    let (_, door) = a.device("front").await;
    let (guest, _) = a.member_with_role("gina", "member").await;
    conditional_key(&a, &guest, "AABBCCDD").await;
    let (kim, _) = a.member_with_role("kim", "keyholder").await;
    let kim_on_b = b.login("kim", "kim-password").await;

    // B's live stream sees the request made on A.
    let mut stream = b
        .client
        .get(b.url("/approvals/stream"))
        .bearer_auth(&kim_on_b)
        .send()
        .await
        .expect("stream");
    let waiting = ask(&a, &door, "AABBCCDD");
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !seen.contains("AABBCCDD") {
        assert!(
            Instant::now() < deadline,
            "B's stream never showed A's request: {seen:?}"
        );
        if let Ok(Ok(Some(chunk))) =
            tokio::time::timeout(Duration::from_secs(5), stream.chunk()).await
        {
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
    let id = pending_id(&b, &kim_on_b, "AABBCCDD").await;
    let started = Instant::now();
    let r = b
        .post(&format!("/approvals/{id}/approve"), &kim_on_b, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let (status, body) = waiting.await.expect("door");
    let released = started.elapsed();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"status": "approved", "decided_by": kim}));
    eprintln!("cross-instance release took {released:?}");
    assert!(
        released < Duration::from_millis(500),
        "released after {released:?}"
    );
}

#[tokio::test]
async fn a_request_left_pending_by_a_stopped_instance_does_not_block_the_door() {
    let app = app_with_timeout(20).await;
    let (device_id, door) = app.device("front").await;
    let (guest, _) = app.member_with_role("gina", "member").await;
    let key_id = conditional_key(&app, &guest, "AABBCCDD").await;
    let stale = ApprovalRequest {
        id: uuid::Uuid::new_v4(),
        device_id: device_id.parse().expect("id"),
        uid: Uid::parse("AABBCCDD").expect("uid"),
        key_id: key_id.parse().expect("key"),
        member_id: guest.parse().expect("member"),
        sponsor_id: None,
        status: ApprovalStatus::Pending,
        decided_by: None,
        door_timestamp: now() - 120,
        requested_at: now() - 120,
        expires_at: now() - 60,
        decided_at: None,
    };
    let mut conn = app.app.db.read().await.expect("conn");
    approval_rows::insert(&mut conn, &stale)
        .await
        .expect("insert");
    drop(conn);
    let waiting = ask(&app, &door, "AABBCCDD");
    let mut id = String::new();
    for _ in 0..200 {
        let r = app.get("/approvals?status=pending", &app.admin_token).await;
        if let Some(fresh) = r.body.as_array().and_then(|a| {
            a.iter()
                .find(|i| i["id"] != stale.id.to_string().as_str())
                .and_then(|i| i["id"].as_str())
        }) {
            id = fresh.to_owned();
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        !id.is_empty(),
        "the door's new request never became pending"
    );
    app.post(
        &format!("/approvals/{id}/approve"),
        &app.admin_token,
        json!({}),
    )
    .await;
    assert_eq!(waiting.await.expect("door").1["status"], "approved");
    let r = app.get("/approvals?status=timeout", &app.admin_token).await;
    assert_eq!(r.body[0]["id"], stale.id.to_string().as_str());
    assert_eq!(app.audit("conditional_timeout").await.len(), 1);
}

#[tokio::test]
async fn a_deactivated_viewer_s_stream_ends_at_the_next_event() {
    let app = app_with_timeout(20).await;
    let (_, door) = app.device("front").await;
    let (guest, _) = app.member_with_role("gina", "member").await;
    conditional_key(&app, &guest, "AABBCCDD").await;
    let (kim, kim_token) = app.member_with_role("kim", "keyholder").await;
    let mut stream = app
        .client
        .get(app.url("/approvals/stream"))
        .bearer_auth(&kim_token)
        .send()
        .await
        .expect("stream");
    assert_eq!(stream.status(), StatusCode::OK);
    let r = app
        .delete(&format!("/members/{kim}"), &app.admin_token)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let waiting = ask(&app, &door, "AABBCCDD");
    let id = pending_id(&app, &app.admin_token, "AABBCCDD").await;
    let mut seen = String::new();
    let ended = loop {
        match tokio::time::timeout(Duration::from_secs(5), stream.chunk()).await {
            Ok(Ok(Some(chunk))) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            Ok(Ok(None)) | Ok(Err(_)) => break true,
            Err(_) => break false,
        }
    };
    assert!(ended, "the stream stayed open");
    assert!(
        !seen.contains("AABBCCDD"),
        "a deactivated keyholder saw {seen:?}"
    );
    app.post(
        &format!("/approvals/{id}/deny"),
        &app.admin_token,
        json!({}),
    )
    .await;
    assert_eq!(waiting.await.expect("door").1["status"], "denied");
}

#[tokio::test]
async fn a_shutdown_answers_waiting_doors_instead_of_holding_them() {
    let mut app = app_with_timeout(30).await;
    let (_, door) = app.device("front").await;
    let (member, _) = app.member_with_role("gina", "member").await;
    conditional_key(&app, &member, "AABBCCDD").await;
    let waiting = ask(&app, &door, "AABBCCDD");
    pending_id(&app, &app.admin_token, "AABBCCDD").await;

    let started = Instant::now();
    app.stop();
    let (status, body) = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the door was held through the shutdown")
        .expect("door task");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"status": "timeout", "decided_by": null}));

    // Settled in the database and audited by the server before it stopped.
    let db = openlatch::storage::Db::connect(&app.database_url, 1)
        .await
        .expect("reopen the database");
    let mut conn = db.read().await.expect("conn");
    let pending = approval_rows::count_pending(&mut conn)
        .await
        .expect("count");
    assert_eq!(pending, 0);
    let filter = openlatch::storage::audit::Filter {
        event_types: vec!["conditional_timeout".into()],
        limit: 10,
        ..Default::default()
    };
    let rows = openlatch::storage::audit::query(&mut conn, &filter)
        .await
        .expect("audit");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].actor_id, None);
}
