//! `/settings`: the space's time zone.

use crate::helpers::spawn_app;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn the_space_time_zone_is_read_by_members_and_set_by_admins() {
    let app = spawn_app().await;
    let t = &app.admin_token;
    let (_, member) = app.member_with_role("mia", "member").await;

    let r = app.request(Method::GET, "/settings", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = app.get("/settings", &member).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        r.body,
        json!({"time_zone": null, "effective_time_zone": "UTC", "time_zone_source": "default"})
    );
    // Without a setting, the first time-window rule's zone is used.
    let rule = app
        .post(
            "/access-rules",
            t,
            json!({"name": "evenings", "rule_type": "time_window",
                   "parameters": {"days": ["mon"], "start_hour": 17, "start_minute": 0,
                                  "end_hour": 22, "end_minute": 0, "timezone": "Europe/Berlin"}}),
        )
        .await;
    assert_eq!(rule.status, StatusCode::CREATED, "{:?}", rule.body);
    let r = app.get("/settings", &member).await;
    assert_eq!(r.body["effective_time_zone"], "Europe/Berlin");
    assert_eq!(r.body["time_zone_source"], "first_time_window_rule");

    let r = app
        .put("/settings", &member, json!({"time_zone": "Asia/Tokyo"}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .put("/settings", t, json!({"time_zone": "Europe/Atlantis"}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(
        r.field("time_zone"),
        Some("must be an IANA time zone name such as Europe/Berlin")
    );
    let r = app
        .put(
            "/settings",
            t,
            json!({"time_zone": "Asia/Tokyo", "colour": "red"}),
        )
        .await;
    assert!(r.status.is_client_error(), "{:?}", r.body);
    assert!(app.audit("settings_updated").await.is_empty());

    let r = app
        .put("/settings", t, json!({"time_zone": "Asia/Tokyo"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        r.body,
        json!({"time_zone": "Asia/Tokyo", "effective_time_zone": "Asia/Tokyo", "time_zone_source": "setting"})
    );
    assert_eq!(app.get("/settings", &member).await.body, r.body);
    // The same value again changes nothing and is not audited twice.
    app.put("/settings", t, json!({"time_zone": "Asia/Tokyo"}))
        .await;
    let audit = app.audit("settings_updated").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(
        audit[0]["details"]["changes"]["time_zone"],
        json!({"from": null, "to": "Asia/Tokyo"})
    );
    // null removes it: back to the rule's zone.
    let r = app.put("/settings", t, json!({"time_zone": null})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["time_zone"], serde_json::Value::Null);
    assert_eq!(r.body["effective_time_zone"], "Europe/Berlin");
    assert_eq!(app.audit("settings_updated").await.len(), 2);
}
