//! Whole classes of problems checked over every endpoint at once, driven by
//! the server's own OpenAPI document so that a new endpoint is covered the
//! day it is added.

use crate::helpers::{spawn_app, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Every (method, path, operation) of the served OpenAPI document, with
/// path parameters filled with a well-formed id that names nothing.
async fn operations(app: &TestApp) -> Vec<(Method, String, Value)> {
    let doc = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("openapi")
        .json::<Value>()
        .await
        .expect("json");
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            let path = path.strip_prefix("/api/v1").unwrap_or(path);
            let concrete = path
                .split('/')
                .map(|seg| {
                    if seg.starts_with('{') {
                        "00000000-0000-4000-8000-000000000000"
                    } else {
                        seg
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            ops.push((method, concrete, op.clone()));
        }
    }
    assert!(
        ops.len() > 30,
        "the document lists too few operations: {ops:?}"
    );
    ops
}

/// The token a route wants: a door's for the device API, the admin's otherwise.
fn token_for<'a>(path: &str, admin: &'a str, door: &'a str) -> &'a str {
    if path.starts_with("/device/") {
        door
    } else {
        admin
    }
}

#[tokio::test]
async fn every_json_endpoint_refuses_duplicate_keys() {
    let app = spawn_app().await;
    let (_, door) = app.device("dup-door").await;
    let mut checked = Vec::new();
    for (method, path, op) in operations(&app).await {
        if op["requestBody"]["content"]["application/json"].is_null() {
            continue;
        }
        let token = token_for(&path, &app.admin_token, &door);
        for body in [
            r#"{"role":"member","role":"admin"}"#,
            r#"[{"uid":"AABBCCDD","uid":"AABBCCDE"}]"#,
        ] {
            let r = app
                .client
                .request(method.clone(), app.url(&path))
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("request");
            let status = r.status();
            let text = r.text().await.expect("body");
            assert_eq!(
                status,
                StatusCode::BAD_REQUEST,
                "{method} {path} accepted {body}: {text}"
            );
            assert!(text.contains("duplicate key"), "{method} {path}: {text}");
        }
        // A struct is never filled from an array in field order.
        if path != "/device/events" {
            let r = app
                .client
                .request(method.clone(), app.url(&path))
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body("[null, null]")
                .send()
                .await
                .expect("request");
            assert_eq!(
                r.status(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "{method} {path} took an array for an object"
            );
        }
        checked.push(format!("{method} {path}"));
    }
    assert!(checked.len() >= 14, "only {checked:?}");
}

/// `{"error": {"code": "...", "message": "..."}}` with a JSON content type.
async fn assert_error_shape(what: &str, r: reqwest::Response, expected: StatusCode) {
    let status = r.status();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = r.text().await.expect("body");
    assert_eq!(status, expected, "{what}: {text}");
    assert!(
        content_type.starts_with("application/json"),
        "{what}: content-type {content_type:?}, body {text:?}"
    );
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: {e}: {text}"));
    assert!(body["error"]["code"].is_string(), "{what}: {text}");
    assert!(body["error"]["message"].is_string(), "{what}: {text}");
}

#[tokio::test]
async fn every_error_keeps_the_json_shape() {
    let app = spawn_app().await;
    let (_, door) = app.device("shape-door").await;
    let all = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
    ];
    let mut by_path: std::collections::BTreeMap<String, Vec<(Method, Value)>> = Default::default();
    for (method, path, op) in operations(&app).await {
        by_path.entry(path).or_default().push((method, op));
    }
    for (path, ops) in &by_path {
        // A method the route does not have: 405, and the methods it has in Allow.
        let known: Vec<&Method> = ops.iter().map(|(m, _)| m).collect();
        let missing = all
            .iter()
            .find(|m| !known.contains(m))
            .expect("a missing method");
        let r = app
            .client
            .request(missing.clone(), app.url(path))
            .send()
            .await
            .expect("request");
        assert!(
            r.headers().contains_key("allow"),
            "{missing} {path}: no Allow"
        );
        assert_error_shape(
            &format!("{missing} {path}"),
            r,
            StatusCode::METHOD_NOT_ALLOWED,
        )
        .await;

        for (method, op) in ops {
            let what = format!("{method} {path}");
            let secured = op["security"].as_array().is_some_and(|s| {
                s.iter()
                    .any(|req| !req.as_object().is_some_and(|o| o.is_empty()))
            });
            if secured && !path.starts_with("/monitoring/") {
                let r = app
                    .client
                    .request(method.clone(), app.url(path))
                    .send()
                    .await
                    .expect("request");
                assert_error_shape(
                    &format!("{what} without a token"),
                    r,
                    StatusCode::UNAUTHORIZED,
                )
                .await;
            }
            if op["requestBody"]["content"]["application/json"].is_null() {
                continue;
            }
            let token = token_for(path, &app.admin_token, &door);
            let send = |body: Vec<u8>| {
                app.client
                    .request(method.clone(), app.url(path))
                    .bearer_auth(token)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
            };
            let r = send(b"{not json".to_vec()).await.expect("request");
            assert_error_shape(&format!("{what} malformed"), r, StatusCode::BAD_REQUEST).await;
            let huge = format!("{{\"name\":\"{}\"}}", "x".repeat(200 * 1024));
            let r = send(huge.into_bytes()).await.expect("request");
            assert_error_shape(&format!("{what} huge"), r, StatusCode::PAYLOAD_TOO_LARGE).await;
        }
    }
    let r = app
        .client
        .get(app.url("/no-such-route"))
        .send()
        .await
        .expect("request");
    assert_error_shape("unknown route", r, StatusCode::NOT_FOUND).await;
}

/// Times a door cannot count (before 1970) or RFC 3339 cannot write.
const OUT_OF_RANGE_TIMES: [&str; 3] = [
    "1969-12-31T23:59:59Z",
    "0001-01-01T00:00:00Z",
    "1970-01-01T00:59:59+01:00",
];

#[tokio::test]
async fn every_time_field_refuses_times_out_of_range_with_422() {
    let app = spawn_app().await;
    let (bob, _) = app.member_with_role("bob", "member").await;
    let t = app.admin_token.clone();
    for at in OUT_OF_RANGE_TIMES {
        let q = |field: &str| format!("{field}={}", at.replace('+', "%2B"));
        for (path, field) in [
            (format!("/allowlist/explain?uid=AABBCCDD&{}", q("at")), "at"),
            (
                format!("/allowlist/explain?uid=AABBCCDD&{}", q("last_shutdown")),
                "last_shutdown",
            ),
            (format!("/audit-log?{}", q("since")), "since"),
        ] {
            let r = app.get(&path, &t).await;
            assert_eq!(
                r.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{path}: {:?}",
                r.body
            );
            assert!(r.field(field).is_some(), "{path}: {:?}", r.body);
        }
        let bodies = [
            (
                "/nfc-keys",
                serde_json::json!({"member_id": bob, "uid": "AABBCCDD", "expires_at": at}),
                "expires_at",
            ),
            (
                "/access-rules",
                serde_json::json!({"name": "x", "rule_type": "date_range", "parameters": {
                    "start_date": at, "end_date": "2026-03-03T18:00:00Z"}}),
                "parameters.start_date",
            ),
            (
                "/access-rules",
                serde_json::json!({"name": "x", "rule_type": "date_range", "parameters": {
                    "start_date": "2026-03-03T18:00:00Z", "end_date": at}}),
                "parameters.end_date",
            ),
            (
                "/access-rules",
                serde_json::json!({"name": "x", "rule_type": "guest_sponsor", "parameters": {
                    "sponsor_id": bob, "start_date": at}}),
                "parameters.start_date",
            ),
            (
                "/access-rules",
                serde_json::json!({"name": "x", "rule_type": "global_override", "parameters": {
                    "mode": "open", "until": at}}),
                "parameters.until",
            ),
        ];
        for (path, body, field) in bodies {
            let r = app.post(path, &t, body.clone()).await;
            assert_eq!(
                r.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{body}: {:?}",
                r.body
            );
            assert!(r.field(field).is_some(), "{body}: {:?}", r.body);
        }
    }
    // Door clocks in unix seconds: the extremes are named, not a crash.
    let (_, door) = app.device("clock-door").await;
    for ts in [i64::MIN, -1, i64::MAX] {
        let r = app
            .post(
                "/device/approve",
                &door,
                serde_json::json!({"uid": "AABBCCDD", "timestamp": ts}),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{ts}: {:?}",
            r.body
        );
        assert!(r.field("timestamp").is_some(), "{ts}: {:?}", r.body);
    }
}

/// Characters that make text read differently from what it is.
const SPOOFING: [(&str, char); 10] = [
    ("right-to-left override", '\u{202E}'),
    ("left-to-right embedding", '\u{202A}'),
    ("first-strong isolate", '\u{2068}'),
    ("right-to-left mark", '\u{200F}'),
    ("Arabic letter mark", '\u{061C}'),
    ("zero-width space", '\u{200B}'),
    ("zero-width joiner", '\u{200D}'),
    ("byte-order mark", '\u{FEFF}'),
    ("tag letter", '\u{E0041}'),
    ("escape", '\u{1B}'),
];

#[tokio::test]
async fn every_name_and_label_refuses_bidi_and_invisible_characters() {
    let app = spawn_app().await;
    let (bob, bob_token) = app.member_with_role("bob", "member").await;
    let key = app.key_for(&bob, "AABBCCDD").await;
    let key_id = key["id"].as_str().expect("key id").to_owned();
    let (device, door) = app.device("front").await;
    let rule = app
        .post(
            "/access-rules",
            &app.admin_token,
            serde_json::json!({"name": "r", "rule_type": "role_minimum",
                               "parameters": {"min_role": "member"}}),
        )
        .await;
    let rule_id = rule.body["id"].as_str().expect("rule id").to_owned();
    let admin = app.admin_token.clone();
    for (what, c) in SPOOFING {
        let text = format!("Bob{c}gnp.exe");
        let email = format!("bob{c}@example.org");
        let cases: Vec<(Method, String, &str, Value, &str)> = vec![
            (
                Method::POST,
                "/members".into(),
                &admin,
                serde_json::json!({
                "username": "eve", "email": "eve@example.org", "password": "long-enough-pw",
                "display_name": text, "role": "member"}),
                "display_name",
            ),
            (
                Method::POST,
                "/members".into(),
                &admin,
                serde_json::json!({
                "username": "eve", "email": email, "password": "long-enough-pw",
                "display_name": "Eve", "role": "member"}),
                "email",
            ),
            (
                Method::PUT,
                format!("/members/{bob}"),
                &admin,
                serde_json::json!({"display_name": text}),
                "display_name",
            ),
            (
                Method::PUT,
                "/me".into(),
                &bob_token,
                serde_json::json!({"display_name": text}),
                "display_name",
            ),
            (
                Method::PUT,
                "/me".into(),
                &bob_token,
                serde_json::json!({"email": email}),
                "email",
            ),
            (
                Method::POST,
                "/nfc-keys".into(),
                &admin,
                serde_json::json!({
                "member_id": bob, "uid": "11223344", "label": text}),
                "label",
            ),
            (
                Method::POST,
                format!("/nfc-keys/{key_id}/revoke"),
                &admin,
                serde_json::json!({"reason": text}),
                "reason",
            ),
            (
                Method::POST,
                "/devices".into(),
                &admin,
                serde_json::json!({"name": text}),
                "name",
            ),
            (
                Method::POST,
                "/devices".into(),
                &admin,
                serde_json::json!({"name": "back", "location": text}),
                "location",
            ),
            (
                Method::PUT,
                format!("/devices/{device}"),
                &admin,
                serde_json::json!({"name": text}),
                "name",
            ),
            (
                Method::PUT,
                format!("/devices/{device}"),
                &admin,
                serde_json::json!({"location": text}),
                "location",
            ),
            (
                Method::POST,
                "/access-rules".into(),
                &admin,
                serde_json::json!({
                "name": text, "rule_type": "role_minimum",
                "parameters": {"min_role": "member"}}),
                "name",
            ),
            (
                Method::PUT,
                format!("/access-rules/{rule_id}"),
                &admin,
                serde_json::json!({"name": text}),
                "name",
            ),
            (
                Method::POST,
                "/device/heartbeat".into(),
                &door,
                serde_json::json!({
                "firmware_version": text, "allowlist_version": 0, "uptime_seconds": 1,
                "free_heap": 1, "wifi_rssi": -50}),
                "firmware_version",
            ),
        ];
        for (method, path, token, body, field) in cases {
            let r = app
                .request(method.clone(), &path, Some(token), Some(body))
                .await;
            assert_eq!(
                r.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{what} in {field} of {method} {path}: {:?}",
                r.body
            );
            assert!(
                r.field(field).is_some(),
                "{what} {method} {path}: {:?}",
                r.body
            );
        }
    }
    // The same fields take ordinary non-ASCII text.
    let r = app
        .put(
            &format!("/members/{bob}"),
            &admin,
            serde_json::json!({"display_name": "Zoë 王"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

#[tokio::test]
async fn nuki_state_is_one_of_the_seed_states() {
    let app = spawn_app().await;
    let (_, door) = app.device("front").await;
    let beat = |state: &str| {
        serde_json::json!({"firmware_version": "1.0", "allowlist_version": 0,
            "uptime_seconds": 1, "free_heap": 1, "wifi_rssi": -50, "nuki_paired": true,
            "nuki_state": state})
    };
    for bad in ["open_sesame", "LOCKED", "", "locked\u{202E}"] {
        let r = app.post("/device/heartbeat", &door, beat(bad)).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad:?}: {:?}",
            r.body
        );
        assert!(r.field("nuki_state").is_some(), "{:?}", r.body);
    }
    for good in [
        "locked",
        "unlatched",
        "motor_blocked",
        "boot_run",
        "unknown",
    ] {
        let r = app.post("/device/heartbeat", &door, beat(good)).await;
        assert!(r.status.is_success(), "{good}: {:?}", r.body);
    }
}

#[tokio::test]
async fn the_openapi_document_passes_a_validator_and_names_the_common_errors() {
    let app = spawn_app().await;
    let doc = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("openapi")
        .text()
        .await
        .expect("body");
    let file = tempfile::NamedTempFile::new().expect("tempfile");
    std::fs::write(file.path(), &doc).expect("write");
    let out = std::process::Command::new("openapi-spec-validator")
        .arg(file.path())
        .output()
        .unwrap_or_else(|e| {
            panic!("openapi-spec-validator is needed (pip install openapi-spec-validator; .ci/run does it): {e}")
        });
    assert!(
        out.status.success(),
        "the served OpenAPI document is invalid:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_str(&doc).expect("json");
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            let responses = op["responses"].as_object().expect("responses");
            assert!(responses.contains_key("503"), "{method} {path}: no 503");
            for p in op["parameters"].as_array().into_iter().flatten() {
                // A parameter is in the path only if the path names it.
                if p["in"] == "path" {
                    let name = p["name"].as_str().expect("name");
                    assert!(
                        path.contains(&format!("{{{name}}}")),
                        "{method} {path}: {p}"
                    );
                }
            }
            if !op["requestBody"]["content"]["application/json"].is_null() {
                for status in ["400", "413", "422"] {
                    assert!(
                        responses.contains_key(status),
                        "{method} {path}: no {status}"
                    );
                }
            }
        }
    }
    let schemas = &doc["components"]["schemas"];
    assert!(!schemas["DeviceEventBody"]["required"]
        .as_array()
        .expect("required")
        .contains(&Value::from("details")));
    assert_eq!(
        schemas["NukiStateDoc"]["enum"].as_array().map(Vec::len),
        Some(10)
    );
    // A rule request is one of six shapes, each tying `rule_type` to the
    // `parameters` of that type.
    let variants = schemas["CreateRuleRequest"]["oneOf"]
        .as_array()
        .expect("oneOf");
    let types: Vec<&str> = variants
        .iter()
        .filter_map(|v| v["properties"]["rule_type"]["enum"][0].as_str())
        .collect();
    assert_eq!(
        types,
        [
            "time_window",
            "date_range",
            "guest_sponsor",
            "role_minimum",
            "global_override",
            "grant"
        ]
    );
    assert!(variants
        .iter()
        .all(|v| v["properties"]["parameters"]["additionalProperties"] == false));
    // Free text carries the server's character rule, e-mail its length.
    let member = &schemas["CreateMemberRequest"]["properties"];
    assert!(member["display_name"]["pattern"]
        .as_str()
        .is_some_and(|p| p.contains("\\u202E")));
    assert_eq!(member["email"]["maxLength"], 254);
    // Query enums, and the Nagios thresholds as the strings they are.
    let param = |path: &str, name: &str| {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{path}: no parameter {name}"))
    };
    assert_eq!(
        param("/api/v1/approvals", "status")["schema"]["enum"]
            .as_array()
            .map(Vec::len),
        Some(5)
    );
    assert_eq!(
        param("/api/v1/audit-log", "limit")["schema"]["maximum"],
        1000
    );
    assert_eq!(
        param("/api/v1/monitoring/nuki-battery", "warn")["schema"]["type"],
        "string"
    );
}
