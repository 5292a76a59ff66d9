//! `/access-rules`: shapes, validation, audit, permissions.

use crate::helpers::spawn_app;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn office_hours() -> Value {
    json!({
        "name": "Weekday office hours",
        "rule_type": "time_window",
        "parameters": {
            "days": ["mon", "tue", "wed", "thu", "fri"],
            "start_hour": 8, "start_minute": 0,
            "end_hour": 22, "end_minute": 0,
            "timezone": "Europe/Berlin"
        },
        "priority": 10,
        "targets": [{"target_type": "role", "target_value": "member"}]
    })
}

#[tokio::test]
async fn create_read_update_delete_with_the_seed_shapes_and_audit() {
    let app = spawn_app().await;
    let t = &app.admin_token;
    let r = app.post("/access-rules", t, office_hours()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id = r.body["id"].as_str().expect("id").to_owned();
    assert_eq!(r.body["name"], "Weekday office hours");
    assert_eq!(r.body["rule_type"], "time_window");
    assert_eq!(r.body["parameters"]["timezone"], "Europe/Berlin");
    assert_eq!(
        r.body["parameters"]["days"],
        json!(["mon", "tue", "wed", "thu", "fri"])
    );
    assert_eq!(r.body["priority"], 10);
    assert_eq!(r.body["is_active"], true);
    assert_eq!(
        r.body["targets"],
        json!([{"target_type": "role", "target_value": "member"}])
    );
    assert!(r.body["created_at"].is_string() && r.body["updated_at"].is_string());

    let list = app.get("/access-rules", t).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body.as_array().map(Vec::len), Some(1));

    // The seed's partial update: only name and is_active change.
    let r = app
        .put(
            &format!("/access-rules/{id}"),
            t,
            json!({"name": "Updated name", "is_active": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["name"], "Updated name");
    assert_eq!(r.body["is_active"], false);
    assert_eq!(r.body["priority"], 10);
    assert_eq!(r.body["parameters"]["start_hour"], 8);

    // Parameters alone are re-parsed against the rule's type.
    let r = app
        .put(
            &format!("/access-rules/{id}"),
            t,
            json!({"parameters": {"days": ["sat"], "start_hour": 10, "start_minute": 0,
                                  "end_hour": 24, "end_minute": 0, "timezone": "UTC"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["parameters"]["days"], json!(["sat"]));

    let r = app.get(&format!("/access-rules/{id}"), t).await;
    assert_eq!(r.body["name"], "Updated name");

    let r = app.delete(&format!("/access-rules/{id}"), t).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = app.get(&format!("/access-rules/{id}"), t).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.delete(&format!("/access-rules/{id}"), t).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    for (event, n) in [
        ("rule_created", 1),
        ("rule_updated", 2),
        ("rule_deleted", 1),
    ] {
        let rows = app.audit(event).await;
        assert_eq!(rows.len(), n, "{event}: {rows:?}");
        assert_eq!(rows[0]["target_id"], id.as_str());
    }
    let updated = app.audit("rule_updated").await;
    assert_eq!(
        updated[1]["details"]["changes"]["name"],
        json!({"from": "Weekday office hours", "to": "Updated name"})
    );
}

#[tokio::test]
async fn every_rule_type_is_accepted_with_its_parameters() {
    let app = spawn_app().await;
    let (kh, _) = app.member_with_role("keyholder1", "keyholder").await;
    let bodies = [
        json!({"name": "visit", "rule_type": "date_range", "parameters": {
            "start_date": "2026-03-01T15:00:00+01:00", "end_date": "2026-03-03T18:00:00+01:00",
            "grace_minutes": 15}}),
        json!({"name": "guests", "rule_type": "guest_sponsor", "parameters": {
            "sponsor_id": kh, "requires_approval": true},
            "targets": [{"target_type": "role", "target_value": "guest"}]}),
        json!({"name": "members+", "rule_type": "role_minimum", "parameters": {"min_role": "member"}}),
        json!({"name": "open day", "rule_type": "global_override", "parameters": {
            "mode": "open", "until": "2099-01-01T00:00:00Z"}}),
    ];
    for b in bodies {
        let r = app.post("/access-rules", &app.admin_token, b.clone()).await;
        assert_eq!(r.status, StatusCode::CREATED, "{b}: {:?}", r.body);
        assert_eq!(r.body["rule_type"], b["rule_type"]);
    }
    // Times come back normalised to UTC.
    let list = app.get("/access-rules", &app.admin_token).await;
    assert_eq!(
        list.body[0]["parameters"]["start_date"],
        "2026-03-01T14:00:00Z"
    );
}

#[tokio::test]
async fn bad_parameters_are_422_naming_the_field() {
    let app = spawn_app().await;
    let t = &app.admin_token;
    let mut missing = office_hours();
    missing["parameters"]
        .as_object_mut()
        .expect("object")
        .remove("start_hour");
    let r = app.post("/access-rules", t, missing).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.field("parameters.start_hour").is_some(), "{:?}", r.body);

    let mut tz = office_hours();
    tz["parameters"]["timezone"] = json!("CET+1");
    let r = app.post("/access-rules", t, tz).await;
    assert!(r.field("parameters.timezone").is_some(), "{:?}", r.body);

    let r = app
        .post(
            "/access-rules",
            t,
            json!({"name": "x", "rule_type": "date_range", "parameters": {
                "start_date": "2026-03-03T00:00:00Z", "end_date": "2026-03-01T00:00:00Z"}}),
        )
        .await;
    assert!(r.field("parameters.end_date").is_some(), "{:?}", r.body);

    let r = app
        .post(
            "/access-rules",
            t,
            json!({"name": "x", "rule_type": "guest_sponsor", "parameters": {
                "sponsor_id": uuid::Uuid::new_v4()}}),
        )
        .await;
    assert!(r.field("parameters.sponsor_id").is_some(), "{:?}", r.body);

    let r = app
        .post(
            "/access-rules",
            t,
            json!({"name": "x", "rule_type": "teleport", "parameters": {}}),
        )
        .await;
    assert!(r.field("rule_type").is_some(), "{:?}", r.body);

    let mut target = office_hours();
    target["targets"] = json!([{"target_type": "role", "target_value": "wizard"}]);
    let r = app.post("/access-rules", t, target).await;
    assert!(r.field("targets[0].target_value").is_some(), "{:?}", r.body);

    let mut unknown = office_hours();
    unknown["colour"] = json!("blue");
    let r = app.post("/access-rules", t, unknown).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.field("colour").is_some(), "{:?}", r.body);

    assert!(app
        .get("/access-rules", t)
        .await
        .body
        .as_array()
        .is_some_and(Vec::is_empty));
}

#[tokio::test]
async fn more_than_four_slots_is_refused_naming_the_rules() {
    let app = spawn_app().await;
    let t = &app.admin_token;
    let (member, _) = app.member_with_role("mia", "member").await;
    app.key_for(&member, "04A1B2C3").await;
    let window = |i: u32| {
        json!({"name": format!("slot {i}"), "rule_type": "time_window", "parameters": {
            "days": ["mon"], "start_hour": i, "start_minute": 0, "end_hour": i, "end_minute": 30,
            "timezone": "UTC"}})
    };
    for i in 0..4 {
        let r = app.post("/access-rules", t, window(i)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    }
    let r = app.post("/access-rules", t, window(4)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    let msg = r.field("rules").expect("rules field");
    assert!(msg.contains("slot 0") && msg.contains("slot 4"), "{msg}");
    assert_eq!(
        app.get("/access-rules", t)
            .await
            .body
            .as_array()
            .map(Vec::len),
        Some(4)
    );

    // A role change that would pull in a fifth window is refused too.
    let r = app
        .post(
            "/access-rules",
            t,
            json!({"name": "keyholder evenings", "rule_type": "time_window", "parameters": {
                "days": ["tue"], "start_hour": 20, "start_minute": 0, "end_hour": 21,
                "end_minute": 0, "timezone": "UTC"},
                "targets": [{"target_type": "role", "target_value": "keyholder"}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = app
        .put(
            &format!("/members/{member}"),
            t,
            json!({"role": "keyholder"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert!(r
        .field("rules")
        .is_some_and(|m| m.contains("keyholder evenings")));
    // So is a key whose holder the windows would overflow.
    let (kai, _) = app.member_with_role("kai", "keyholder").await;
    let r = app
        .post(
            "/nfc-keys",
            t,
            json!({"member_id": kai, "uid": "04A1B2C4", "label": "tag"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert!(r
        .field("rules")
        .is_some_and(|m| m.contains("keyholder evenings")));
    let r = app.get(&format!("/members/{kai}/keys"), t).await;
    assert_eq!(r.body.as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn permissions_on_every_rule_endpoint() {
    let app = spawn_app().await;
    let (_, member) = app.member_with_role("molly", "member").await;
    let (_, keyholder) = app.member_with_role("kim", "keyholder").await;
    let (_, door) = app.device("front").await;
    let created = app
        .post("/access-rules", &app.admin_token, office_hours())
        .await;
    let id = created.body["id"].as_str().expect("id").to_owned();
    let one = format!("/access-rules/{id}");
    let endpoints: [(Method, &str, bool); 5] = [
        (Method::GET, "/access-rules", false),
        (Method::POST, "/access-rules", true),
        (Method::GET, &one, false),
        (Method::PUT, &one, true),
        (Method::DELETE, &one, true),
    ];
    for (method, path, admin_only) in endpoints {
        let body = (method == Method::POST || method == Method::PUT).then(office_hours);
        let r = app.request(method.clone(), path, None, body.clone()).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        let r = app
            .request(method.clone(), path, Some(&door), body.clone())
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "device {method} {path}");
        let r = app
            .request(method.clone(), path, Some(&member), body.clone())
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "member {method} {path}");
        let r = app
            .request(method.clone(), path, Some(&keyholder), body)
            .await;
        if admin_only {
            assert_eq!(r.status, StatusCode::FORBIDDEN, "keyholder {method} {path}");
        } else {
            assert_eq!(r.status, StatusCode::OK, "keyholder {method} {path}");
        }
    }
}
