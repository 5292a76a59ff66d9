use crate::helpers::spawn_app;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[tokio::test]
async fn register_normalises_the_uid_and_audits() {
    let app = spawn_app().await;
    let (mid, _) = app.member_with_role("ada", "member").await;
    let r = app
        .post(
            "/nfc-keys",
            &app.admin_token,
            json!({
                "member_id": mid,
                "uid": "aa:bb:cc:dd",
                "label": "Blue keychain tag",
                "key_type": "mifare_desfire",
                "expires_at": "2099-12-31T23:59:59Z"
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["uid"], "AABBCCDD");
    assert_eq!(r.body["member_id"], json!(mid));
    assert_eq!(r.body["expires_at"], "2099-12-31T23:59:59Z");
    assert_eq!(r.body["access_type"], Value::Null);
    let audit = app.audit("key_registered").await;
    assert_eq!(audit[0]["target_id"], r.body["id"]);
    assert_eq!(audit[0]["details"]["uid"], "AABBCCDD");
}

#[tokio::test]
async fn each_invalid_key_field_is_named() {
    let app = spawn_app().await;
    let (mid, _) = app.member_with_role("ada", "member").await;
    let base = json!({ "member_id": mid, "uid": "AABBCCDD" });
    let cases = [
        ("uid", json!("AABBCC")),
        ("uid", json!("AABBCCDDEE")),
        ("uid", json!("ZZBBCCDD")),
        ("member_id", json!("nope")),
        ("member_id", json!(uuid::Uuid::new_v4())),
        ("expires_at", json!("2020-01-01T00:00:00Z")),
        ("expires_at", json!("tomorrow")),
        ("access_type", json!("vip")),
        ("key_type", json!("Mifare Classic")),
    ];
    for (field, value) in cases {
        let mut body = base.clone();
        body[field] = value.clone();
        let r = app.post("/nfc-keys", &app.admin_token, body).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}={value}"
        );
        assert!(r.field(field).is_some(), "{field}={value}: {:?}", r.body);
    }
    let r = app
        .get(&format!("/members/{mid}/keys"), &app.admin_token)
        .await;
    assert_eq!(r.body, json!([]), "nothing was written");
}

#[tokio::test]
async fn uids_of_4_7_and_10_bytes_and_key_access_types() {
    let app = spawn_app().await;
    let (mid, _) = app.member_with_role("ada", "guest").await;
    for (uid, access) in [
        ("01020304", json!(null)),
        ("04-11-22-33-44-55-66", json!("emergency")),
        ("00 11 22 33 44 55 66 77 88 99", json!("conditional")),
    ] {
        let r = app
            .post(
                "/nfc-keys",
                &app.admin_token,
                json!({ "member_id": mid, "uid": uid, "access_type": access }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{uid}: {:?}", r.body);
        assert_eq!(r.body["access_type"], access);
    }
}

#[tokio::test]
async fn a_uid_can_be_active_on_one_key_only() {
    let app = spawn_app().await;
    let (a, _) = app.member_with_role("ada", "member").await;
    let (b, _) = app.member_with_role("ben", "member").await;
    let key = app.key_for(&a, "AABBCCDD").await;
    let r = app
        .post(
            "/nfc-keys",
            &app.admin_token,
            json!({ "member_id": b, "uid": "aa-bb-cc-dd" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.field("uid").is_some());

    // Once revoked, the card can be handed to someone else.
    let r = app
        .post(
            &format!("/nfc-keys/{}/revoke", key["id"].as_str().expect("id")),
            &app.admin_token,
            json!({ "reason": "Card lost" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    app.key_for(&b, "AABBCCDD").await;
}

#[tokio::test]
async fn concurrent_registrations_of_one_uid_give_one_201_and_one_409() {
    let app = spawn_app().await;
    let (a, _) = app.member_with_role("ada", "member").await;
    let body = json!({ "member_id": a, "uid": "0A0B0C0D" });
    let (x, y) = tokio::join!(
        app.post("/nfc-keys", &app.admin_token, body.clone()),
        app.post("/nfc-keys", &app.admin_token, body.clone())
    );
    let mut statuses = [x.status, y.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CONFLICT]);
}

#[tokio::test]
async fn keys_of_inactive_members_cannot_be_registered() {
    let app = spawn_app().await;
    let (a, _) = app.member_with_role("ada", "member").await;
    app.delete(&format!("/members/{a}"), &app.admin_token).await;
    let r = app
        .post(
            "/nfc-keys",
            &app.admin_token,
            json!({ "member_id": a, "uid": "01020304" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.field("member_id").is_some());
}

#[tokio::test]
async fn revoke_is_idempotent_keeps_the_reason_and_audits_once() {
    let app = spawn_app().await;
    let (a, _) = app.member_with_role("ada", "member").await;
    let key = app.key_for(&a, "01020304").await;
    let path = format!("/nfc-keys/{}/revoke", key["id"].as_str().expect("id"));
    let r = app
        .post(&path, &app.admin_token, json!({ "reason": "Card lost" }))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let revoked_at = r.body["revoked_at"].clone();
    assert!(revoked_at.is_string());
    assert_eq!(r.body["revoke_reason"], "Card lost");

    // Again, without a body at all.
    let r = app
        .request(Method::POST, &path, Some(&app.admin_token), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["revoked_at"], revoked_at);
    let audit = app.audit("key_revoked").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["details"]["reason"], "Card lost");
    assert_eq!(audit[0]["target_id"], key["id"]);

    let r = app
        .post(
            &format!("/nfc-keys/{}/revoke", uuid::Uuid::new_v4()),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .post(&path, &app.admin_token, json!({ "why": "x" }))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn members_list_their_own_keys() {
    let app = spawn_app().await;
    let (a, token) = app.member_with_role("ada", "member").await;
    app.key_for(&a, "01020304").await;
    app.key_for(&a, "05060708").await;
    let r = app.get(&format!("/members/{a}/keys"), &token).await;
    assert_eq!(r.status, StatusCode::OK);
    let uids: Vec<&str> = r
        .body
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|k| k["uid"].as_str())
        .collect();
    assert_eq!(uids.len(), 2);
    assert!(uids.contains(&"01020304") && uids.contains(&"05060708"));
    let r = app
        .get(
            &format!("/members/{}/keys", uuid::Uuid::new_v4()),
            &app.admin_token,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
