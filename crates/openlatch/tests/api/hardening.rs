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
        checked.push(format!("{method} {path}"));
    }
    assert!(checked.len() >= 14, "only {checked:?}");
}
