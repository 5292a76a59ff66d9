use crate::helpers::spawn_app;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn bob() -> Value {
    json!({
        "username": "bob",
        "email": "bob@example.com",
        "password": "initial-password",
        "display_name": "Bob",
        "role": "member"
    })
}

#[tokio::test]
async fn create_member_answers_the_seed_shape_and_audits() {
    let app = spawn_app().await;
    let r = app.post("/members", &app.admin_token, bob()).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let mut keys: Vec<&str> = r
        .body
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "created_at",
            "display_name",
            "email",
            "id",
            "is_active",
            "role",
            "username"
        ]
    );
    assert_eq!(r.body["username"], "bob");
    assert_eq!(r.body["role"], "member");
    assert_eq!(r.body["is_active"], true);
    assert!(r.body["created_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));

    let created = app.audit("member_created").await;
    assert_eq!(created[0]["target_id"], r.body["id"]);
    assert_eq!(created[0]["details"]["username"], "bob");
    assert_eq!(created[0]["details"]["actor_kind"], "member");
    assert!(created[0]["actor_id"].is_string());
}

#[tokio::test]
async fn each_invalid_field_is_named() {
    let app = spawn_app().await;
    let cases = [
        ("username", json!("Bob Smith")),
        ("email", json!("not-an-email")),
        ("password", json!("short")),
        ("role", json!("root")),
        ("display_name", json!("   ")),
    ];
    for (field, value) in cases {
        let mut body = bob();
        body[field] = value;
        let r = app.post("/members", &app.admin_token, body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{field}");
        assert_eq!(r.body["error"]["code"], "validation_failed");
        assert!(r.field(field).is_some(), "{field}: {:?}", r.body);
    }
    // All problems at once, and nothing written.
    let r = app
        .post(
            "/members",
            &app.admin_token,
            json!({ "username": "x", "email": "y", "password": "z" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    for f in ["username", "email", "password"] {
        assert!(r.field(f).is_some(), "{f}");
    }
    let r = app
        .post("/members", &app.admin_token, json!({ "username": "x" }))
        .await;
    assert_eq!(r.field("email"), Some("is required"));
    let r = app.get("/members", &app.admin_token).await;
    assert_eq!(r.body.as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn duplicate_usernames_conflict() {
    let app = spawn_app().await;
    assert_eq!(
        app.post("/members", &app.admin_token, bob()).await.status,
        StatusCode::CREATED
    );
    let r = app.post("/members", &app.admin_token, bob()).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.field("username").is_some());
}

#[tokio::test]
async fn concurrent_creates_of_one_username_give_one_201_and_one_409() {
    let app = spawn_app().await;
    let (a, b) = tokio::join!(
        app.post("/members", &app.admin_token, bob()),
        app.post("/members", &app.admin_token, bob())
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CONFLICT]);
    assert_eq!(
        app.audit("member_created").await.len(),
        2,
        "admin + one bob"
    );
}

#[tokio::test]
async fn list_filters_by_role_and_active_state() {
    let app = spawn_app().await;
    let (kid, _) = app.member_with_role("kate", "keyholder").await;
    app.member_with_role("liam", "member").await;
    app.member_with_role("mia", "member").await;
    app.delete(&format!("/members/{kid}"), &app.admin_token)
        .await;

    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|m| m["username"].as_str().expect("name").to_owned())
            .collect()
    };
    let r = app.get("/members?role=member", &app.admin_token).await;
    assert_eq!(names(&r.body), ["liam", "mia"]);
    let r = app.get("/members?is_active=false", &app.admin_token).await;
    assert_eq!(names(&r.body), ["kate"]);
    let r = app
        .get("/members?role=admin&is_active=true", &app.admin_token)
        .await;
    assert_eq!(names(&r.body), ["admin"]);
    let r = app.get("/members?role=wizard", &app.admin_token).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.field("role").is_some());
    let r = app.get("/members?is_active=maybe", &app.admin_token).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn members_can_be_read_by_staff_and_themselves_only() {
    let app = spawn_app().await;
    let (kid, ktoken) = app.member_with_role("kate", "keyholder").await;
    let (mid, mtoken) = app.member_with_role("liam", "member").await;
    let (_, other) = app.member_with_role("mia", "guest").await;

    assert_eq!(
        app.get(&format!("/members/{mid}"), &app.admin_token)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.get(&format!("/members/{mid}"), &ktoken).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get(&format!("/members/{mid}"), &mtoken).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get(&format!("/members/{kid}"), &mtoken).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get(&format!("/members/{mid}"), &other).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.get("/members", &ktoken).await.status, StatusCode::OK);
    assert_eq!(
        app.get("/members", &mtoken).await.status,
        StatusCode::FORBIDDEN
    );

    let unknown = uuid::Uuid::new_v4();
    let r = app
        .get(&format!("/members/{unknown}"), &app.admin_token)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.get("/members/not-a-uuid", &app.admin_token).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn updates_are_partial_and_audited_with_what_changed() {
    let app = spawn_app().await;
    let (id, _) = app.member_with_role("nina", "member").await;
    let r = app
        .put(
            &format!("/members/{id}"),
            &app.admin_token,
            json!({ "display_name": "Nina Smith", "role": "keyholder" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["display_name"], "Nina Smith");
    assert_eq!(r.body["role"], "keyholder");
    assert_eq!(r.body["email"], "nina@example.org");
    let audit = app.audit("member_updated").await;
    assert_eq!(
        audit[0]["details"]["changes"]["role"],
        json!({ "from": "member", "to": "keyholder" })
    );
    assert!(audit[0]["details"]["changes"].get("email").is_none());

    let r = app
        .put(
            &format!("/members/{id}"),
            &app.admin_token,
            json!({ "email": "bad" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.field("email").is_some());
    let r = app
        .put(
            &format!("/members/{id}"),
            &app.admin_token,
            json!({ "username": "renamed" }),
        )
        .await;
    assert_eq!(r.field("username"), Some("is not a known field"));
    let r = app
        .put(
            &format!("/members/{}", uuid::Uuid::new_v4()),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_last_active_admin_cannot_be_demoted_or_deactivated() {
    let app = spawn_app().await;
    let me = app.get("/me", &app.admin_token).await.body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let r = app
        .put(
            &format!("/members/{me}"),
            &app.admin_token,
            json!({ "role": "keyholder" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = app
        .delete(&format!("/members/{me}"), &app.admin_token)
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = app
        .put(
            &format!("/members/{me}"),
            &app.admin_token,
            json!({ "is_active": false }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);

    // With a second admin, the first may step down.
    app.member_with_role("olga", "admin").await;
    let r = app
        .put(
            &format!("/members/{me}"),
            &app.admin_token,
            json!({ "role": "keyholder" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn soft_delete_keeps_the_record_revokes_keys_and_audits() {
    let app = spawn_app().await;
    let (id, _) = app.member_with_role("paul", "member").await;
    let k1 = app.key_for(&id, "04:A2:24:1A:2B:3C:80").await;
    let k2 = app.key_for(&id, "AABBCCDD").await;

    let r = app
        .delete(&format!("/members/{id}"), &app.admin_token)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = app.get(&format!("/members/{id}"), &app.admin_token).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["is_active"], false);

    let keys = app
        .get(&format!("/members/{id}/keys"), &app.admin_token)
        .await
        .body;
    for k in keys.as_array().expect("array") {
        assert!(k["revoked_at"].is_string(), "{k}");
        assert_eq!(k["revoke_reason"], "member deactivated");
    }
    let revoked = app.audit("key_revoked").await;
    let mut targets: Vec<&Value> = revoked.iter().map(|e| &e["target_id"]).collect();
    targets.sort_by_key(|v| v.as_str().map(str::to_owned));
    let mut expected = vec![&k1["id"], &k2["id"]];
    expected.sort_by_key(|v| v.as_str().map(str::to_owned));
    assert_eq!(targets, expected);
    let deactivated = app.audit("member_deactivated").await;
    assert_eq!(deactivated.len(), 1);
    assert_eq!(deactivated[0]["target_id"], json!(id));
    assert_eq!(deactivated[0]["details"]["revoked_keys"], 2);

    // Deleting again is harmless and writes nothing new.
    assert_eq!(
        app.delete(&format!("/members/{id}"), &app.admin_token)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.audit("member_deactivated").await.len(), 1);
}

#[tokio::test]
async fn me_reads_and_edits_only_ones_own_profile() {
    let app = spawn_app().await;
    let (_, token) = app.member_with_role("quinn", "guest").await;
    let r = app.get("/me", &token).await;
    assert_eq!(r.body["username"], "quinn");
    assert_eq!(r.body["role"], "guest");
    let r = app.put("/me", &token, json!({ "display_name": "Q" })).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["display_name"], "Q");
    let r = app.put("/me", &token, json!({ "role": "admin" })).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.field("role"), Some("is not a known field"));
    let r = app.put("/me", &token, json!({ "email": "nope" })).await;
    assert!(r.field("email").is_some());
    assert_eq!(app.get("/me", &token).await.body["role"], "guest");
}

/// Every admin endpoint: 401 without a token, 403 for a member and a keyholder
/// where only admins may go, 403 for a member where staff may go.
#[tokio::test]
async fn role_checks_on_every_endpoint() {
    let app = spawn_app().await;
    let (mid, member) = app.member_with_role("rita", "member").await;
    let (_, keyholder) = app.member_with_role("sam", "keyholder").await;
    let (_, guest) = app.member_with_role("tess", "guest").await;
    let key = app.key_for(&mid, "01020304").await;
    let kid = key["id"].as_str().expect("id");
    let (did, _) = app.device("back-door").await;

    #[derive(Clone, Copy, PartialEq)]
    enum Needs {
        AnyMember,
        Staff,
        Admin,
    }
    let endpoints = [
        (Method::GET, "/members".to_owned(), Needs::Staff),
        (Method::POST, "/members".to_owned(), Needs::Admin),
        (Method::PUT, format!("/members/{mid}"), Needs::Admin),
        (Method::DELETE, format!("/members/{mid}"), Needs::Admin),
        (Method::POST, "/nfc-keys".to_owned(), Needs::Admin),
        (
            Method::POST,
            format!("/nfc-keys/{kid}/revoke"),
            Needs::Admin,
        ),
        (Method::GET, "/audit-log".to_owned(), Needs::Staff),
        (Method::GET, "/devices".to_owned(), Needs::Admin),
        (Method::POST, "/devices".to_owned(), Needs::Admin),
        (Method::GET, format!("/devices/{did}"), Needs::Admin),
        (Method::PUT, format!("/devices/{did}"), Needs::Admin),
        (Method::DELETE, format!("/devices/{did}"), Needs::Admin),
        (
            Method::POST,
            format!("/devices/{did}/rotate-token"),
            Needs::Admin,
        ),
        (Method::GET, format!("/members/{mid}"), Needs::AnyMember),
        (
            Method::GET,
            format!("/members/{mid}/keys"),
            Needs::AnyMember,
        ),
        (Method::GET, "/me".to_owned(), Needs::AnyMember),
        (Method::PUT, "/me".to_owned(), Needs::AnyMember),
        (Method::PUT, "/me/password".to_owned(), Needs::AnyMember),
        (Method::POST, "/auth/refresh".to_owned(), Needs::AnyMember),
    ];
    for (method, path, needs) in &endpoints {
        let body = Some(json!({}));
        let r = app.request(method.clone(), path, None, body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "{method} {path} without token"
        );
        let r = app
            .request(method.clone(), path, Some("not-a-jwt"), body.clone())
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "{method} {path} with junk"
        );
        if *needs != Needs::AnyMember {
            let r = app
                .request(method.clone(), path, Some(&member), body.clone())
                .await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {path} as member");
            let r = app
                .request(method.clone(), path, Some(&guest), body.clone())
                .await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {path} as guest");
        }
        if *needs == Needs::Admin {
            let r = app
                .request(method.clone(), path, Some(&keyholder), body.clone())
                .await;
            assert_eq!(
                r.status,
                StatusCode::FORBIDDEN,
                "{method} {path} as keyholder"
            );
        }
    }
    // Resource-level: a member may not read another member's keys.
    let r = app.get(&format!("/members/{mid}/keys"), &guest).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app.get(&format!("/members/{mid}/keys"), &keyholder).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app.get(&format!("/members/{mid}/keys"), &member).await;
    assert_eq!(r.status, StatusCode::OK);
}
