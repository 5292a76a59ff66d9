use crate::helpers::spawn_app;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn filters_by_type_actor_since_and_limit_newest_first() {
    let app = spawn_app().await;
    let (kid, ktoken) = app.member_with_role("kim", "admin").await;
    let (mid, _) = app.member_with_role("lou", "member").await;
    // kim (an admin) registers a key: the actor is kim.
    let r = app
        .post(
            "/nfc-keys",
            &ktoken,
            json!({ "member_id": mid, "uid": "01020304" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);

    let all = app.get("/audit-log", &app.admin_token).await.body;
    let ids: Vec<i64> = all
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|e| e["id"].as_i64())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    let mut keys: Vec<&str> = all[0]
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "actor_id",
            "created_at",
            "details",
            "event_type",
            "id",
            "target_id"
        ]
    );

    let by_kim = app
        .get(&format!("/audit-log?actor_id={kid}"), &app.admin_token)
        .await
        .body;
    let types: Vec<&str> = by_kim
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|e| e["event_type"].as_str())
        .collect();
    assert_eq!(types, ["key_registered"]);

    let limited = app.get("/audit-log?limit=2", &app.admin_token).await.body;
    assert_eq!(limited.as_array().map(Vec::len), Some(2));

    let future = app
        .get("/audit-log?since=2999-01-01T00:00:00Z", &app.admin_token)
        .await
        .body;
    assert_eq!(future, json!([]));
    let past = app
        .get("/audit-log?since=2000-01-01T00:00:00Z", &app.admin_token)
        .await
        .body;
    assert_eq!(past.as_array().map(Vec::len), all.as_array().map(Vec::len));

    let created = app
        .get("/audit-log?event_type=member_created", &app.admin_token)
        .await
        .body;
    assert_eq!(created.as_array().map(Vec::len), Some(3));
}

#[tokio::test]
async fn bad_filters_are_named() {
    let app = spawn_app().await;
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("since=yesterday", "since"),
        ("actor_id=alice", "actor_id"),
        ("event_type=DROP%20TABLE", "event_type"),
    ] {
        let r = app
            .get(&format!("/audit-log?{query}"), &app.admin_token)
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert!(r.field(field).is_some(), "{query}: {:?}", r.body);
    }
}

#[tokio::test]
async fn keyholders_may_read_the_log_members_may_not() {
    let app = spawn_app().await;
    let (_, keyholder) = app.member_with_role("kim", "keyholder").await;
    let (_, member) = app.member_with_role("lou", "member").await;
    assert_eq!(
        app.get("/audit-log", &keyholder).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/audit-log", &member).await.status,
        StatusCode::FORBIDDEN
    );
}
