//! `/monitoring/nuki-battery` (Nagios) and `/monitoring/metrics` (Prometheus).

use crate::device_api::{heartbeat, now};
use crate::helpers::{spawn_app, spawn_app_with, TestApp};
use openlatch::domain::device::Heartbeat;
use openlatch::storage::device_status::{self, Status};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{json, Value};

async fn check(app: &TestApp, query: &str) -> String {
    let r = app
        .client
        .get(format!("{}{query}", app.url("/monitoring/nuki-battery")))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::OK, "Nagios checks are always 200");
    assert!(r.headers()["content-type"]
        .to_str()
        .expect("ct")
        .starts_with("text/plain"));
    r.text().await.expect("body").trim_end().to_owned()
}

fn lock(battery: i64, critical: bool, paired: bool) -> Value {
    let mut hb = heartbeat(Some(battery));
    hb["nuki_battery_critical"] = json!(critical);
    hb["nuki_paired"] = json!(paired);
    hb
}

async fn door_with(app: &TestApp, name: &str, hb: Value) -> String {
    let (id, token) = app.device(name).await;
    let r = app.post("/device/heartbeat", &token, hb).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    id
}

#[tokio::test]
async fn each_nagios_state_for_one_door() {
    let app = spawn_app().await;
    let ok = door_with(&app, "ok", lock(87, false, true)).await;
    let warn = door_with(&app, "warn", lock(25, false, true)).await;
    let crit = door_with(&app, "crit", lock(10, false, true)).await;
    let flag = door_with(&app, "flag", lock(80, true, true)).await;
    let unpaired = door_with(&app, "unpaired", lock(80, false, false)).await;
    let unknown = door_with(&app, "unknown", lock(-1, false, true)).await;
    let (silent, _) = app.device("silent").await;
    let no_lock = door_with(&app, "nolock", heartbeat(None)).await;

    assert_eq!(
        check(&app, &format!("?device={ok}")).await,
        "OK - NUKI battery 87% (0min ago) | battery=87%;30;15;0;100"
    );
    assert_eq!(
        check(&app, &format!("?device={warn}")).await,
        "WARNING - NUKI battery 25% (0min ago) | battery=25%;30;15;0;100"
    );
    assert_eq!(
        check(&app, &format!("?device={crit}")).await,
        "CRITICAL - NUKI battery 10% (0min ago) | battery=10%;30;15;0;100"
    );
    assert!(check(&app, &format!("?device={flag}")).await.starts_with(
        "CRITICAL - NUKI battery 80% (0min ago), lock reports critical battery | battery=80%"
    ));
    assert_eq!(
        check(&app, &format!("?device={unpaired}")).await,
        "CRITICAL - NUKI not paired with ESP32"
    );
    assert_eq!(
        check(&app, &format!("?device={unknown}")).await,
        "UNKNOWN - NUKI battery level unknown"
    );
    assert_eq!(
        check(&app, &format!("?device={silent}")).await,
        "UNKNOWN - No heartbeat data received"
    );
    assert_eq!(
        check(&app, &format!("?device={no_lock}")).await,
        "UNKNOWN - Device reports no NUKI lock"
    );
    // Thresholds move with the query.
    assert_eq!(
        check(&app, &format!("?device={ok}&warn=90&crit=50")).await,
        "WARNING - NUKI battery 87% (0min ago) | battery=87%;90;50;0;100"
    );
    assert_eq!(
        check(&app, &format!("?device={warn}&warn=20&crit=10")).await,
        "OK - NUKI battery 25% (0min ago) | battery=25%;20;10;0;100"
    );
    assert!(check(&app, "?warn=abc")
        .await
        .starts_with("UNKNOWN - invalid parameter warn"));
}

#[tokio::test]
async fn a_stale_heartbeat_is_unknown() {
    let app = spawn_app().await;
    let id = door_with(&app, "front", lock(87, false, true)).await;
    // A heartbeat 25 hours old, written through storage.
    let mut conn = app.app.db.read().await.expect("conn");
    device_status::upsert(
        &mut conn,
        &Status {
            device_id: id.parse().expect("id"),
            received_at: now() - 1500 * 60,
            heartbeat: Heartbeat {
                firmware_version: "0.1.0".into(),
                allowlist_version: 1,
                uptime_seconds: 10,
                free_heap: 1000,
                wifi_rssi: -60,
                nuki_battery_percent: Some(87),
                nuki_battery_critical: Some(false),
                nuki_paired: Some(true),
                nuki_state: Some("locked".into()),
            },
        },
    )
    .await
    .expect("upsert");
    drop(conn);
    assert_eq!(
        check(&app, &format!("?device={id}")).await,
        "UNKNOWN - Last heartbeat 1500min ago (stale > 24h)"
    );
    assert_eq!(
        check(&app, "").await,
        "UNKNOWN - Last heartbeat 1500min ago (stale > 24h)"
    );
    assert_eq!(
        check(&app, &format!("?device={id}&stale_hours=48")).await,
        "OK - NUKI battery 87% (1500min ago) | battery=87%;30;15;0;100"
    );
}

#[tokio::test]
async fn without_a_device_the_worst_door_is_reported() {
    let app = spawn_app().await;
    assert_eq!(
        check(&app, "").await,
        "UNKNOWN - No heartbeat data received"
    );
    door_with(&app, "a-ok", lock(87, false, true)).await;
    door_with(&app, "nolock", heartbeat(None)).await;
    assert_eq!(
        check(&app, "").await,
        "OK - NUKI battery 87% (0min ago) | battery=87%;30;15;0;100",
        "doors without a lock are ignored"
    );
    door_with(&app, "b-warn", lock(28, false, true)).await;
    assert!(check(&app, "")
        .await
        .starts_with("WARNING - NUKI battery 28%"));
    door_with(&app, "c-unknown", lock(-1, false, true)).await;
    assert_eq!(
        check(&app, "").await,
        "UNKNOWN - NUKI battery level unknown"
    );
    let crit = door_with(&app, "d-crit", lock(5, false, true)).await;
    assert!(check(&app, "")
        .await
        .starts_with("CRITICAL - NUKI battery 5%"));
    // A disabled door is ignored.
    app.put(
        &format!("/devices/{crit}"),
        &app.admin_token,
        json!({"is_enabled": false}),
    )
    .await;
    assert_eq!(
        check(&app, "").await,
        "UNKNOWN - NUKI battery level unknown"
    );
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text_and_reveal_no_lock_state() {
    let app = spawn_app().await;
    let id = door_with(&app, "front door", lock(87, false, true)).await;
    let (silent, _) = app.device("silent").await;
    let r = app
        .client
        .get(app.url("/monitoring/metrics"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.expect("body");
    assert!(
        !text.contains("locked"),
        "lock state must not leak:\n{text}"
    );
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("valid exposition format");
    let value = |name: &str, device: &str| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && s.labels.get("device_id") == Some(device))
            .map(|s| match s.value {
                prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
                ref other => panic!("{name} is not a gauge: {other:?}"),
            })
    };
    assert_eq!(value("openlatch_nuki_battery_percent", &id), Some(87.0));
    assert_eq!(value("openlatch_heartbeat_up", &id), Some(1.0));
    assert_eq!(value("openlatch_heartbeat_up", &silent), Some(0.0));
    assert_eq!(value("openlatch_device_uptime_seconds", &id), Some(86400.0));
    assert_eq!(
        value("openlatch_device_free_heap_bytes", &id),
        Some(120000.0)
    );
    assert_eq!(value("openlatch_device_wifi_rssi_dbm", &id), Some(-55.0));
    assert_eq!(value("openlatch_device_allowlist_version", &id), Some(42.0));
    assert!(value("openlatch_heartbeat_age_seconds", &id).is_some_and(|a| a < 10.0));
    let named = scrape
        .samples
        .iter()
        .find(|s| s.metric == "openlatch_nuki_battery_percent")
        .expect("battery");
    assert_eq!(named.labels.get("device_name"), Some("front door"));
    assert!(scrape
        .samples
        .iter()
        .any(|s| s.metric == "openlatch_approvals_pending"));
    let server = |name: &str| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name)
            .map(|s| match s.value {
                prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
                ref other => panic!("{name} is not a gauge: {other:?}"),
            })
    };
    let status = app.get("/allowlist", &app.admin_token).await.body;
    assert_eq!(
        server("openlatch_allowlist_version"),
        status["signed_version"].as_f64()
    );
    assert!(server("openlatch_allowlist_age_seconds").is_some_and(|a| (0.0..60.0).contains(&a)));
    let expiry = server("openlatch_subkey_expiry_timestamp_seconds").expect("sub-key expiry");
    assert!(
        expiry > crate::device_api::now() as f64 + 300.0 * 86_400.0,
        "{expiry}"
    );
    assert!(
        scrape
            .samples
            .iter()
            .any(|s| s.metric == "openlatch_http_requests_total"
                && s.labels.get("route") == Some("/api/v1/device/heartbeat")
                && s.labels.get("status") == Some("200")),
        "{text}"
    );
}

#[tokio::test]
async fn a_monitoring_token_protects_both_endpoints() {
    let app =
        spawn_app_with(|c| c.monitoring_token = Some(SecretString::from("mon-secret-123"))).await;
    for path in ["/monitoring/nuki-battery", "/monitoring/metrics"] {
        let r = app.request(Method::GET, path, None, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
        let r = app.request(Method::GET, path, Some("wrong"), None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
        let r = app
            .request(Method::GET, path, Some("mon-secret-123"), None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn every_new_endpoint_refuses_missing_or_wrong_credentials() {
    let app = spawn_app().await;
    let (_, member_token) = app.member_with_role("moe", "member").await;
    let (_, door) = app.device("front").await;
    let id = uuid::Uuid::new_v4();
    for (method, path) in [
        (Method::GET, "/approvals".to_owned()),
        (Method::GET, "/approvals/stream".to_owned()),
        (Method::POST, format!("/approvals/{id}/approve")),
        (Method::POST, format!("/approvals/{id}/deny")),
    ] {
        let r = app.request(method.clone(), &path, None, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path} without a token");
        let r = app.request(method.clone(), &path, Some(&door), None).await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "{path} with a device token"
        );
        let r = app.request(method, &path, Some(&member_token), None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path} as a member");
    }
    for path in ["/device/events", "/device/heartbeat", "/device/approve"] {
        let r = app
            .request(Method::POST, path, Some("olt_short"), Some(json!({})))
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
        let r = app
            .request(Method::POST, path, Some(&member_token), Some(json!({})))
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "{path} with a member's JWT"
        );
    }
}

#[tokio::test]
async fn the_openapi_document_lists_the_new_endpoints() {
    let app = spawn_app().await;
    let r = app.request(Method::GET, "/openapi.json", None, None).await;
    let paths = r.body["paths"].as_object().expect("paths");
    for p in [
        "/api/v1/device/events",
        "/api/v1/device/heartbeat",
        "/api/v1/device/approve",
        "/api/v1/approvals",
        "/api/v1/approvals/stream",
        "/api/v1/approvals/{id}/approve",
        "/api/v1/approvals/{id}/deny",
        "/api/v1/monitoring/nuki-battery",
        "/api/v1/monitoring/metrics",
    ] {
        assert!(paths.contains_key(p), "missing {p}");
    }
}

/// Runs `promtool check metrics` on a scrape; promtool is Debian's
/// `prometheus` package (.ci/run installs it).
fn promtool_check(scrape: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("promtool is needed (apt-get install prometheus; .ci/run does it): {e}")
        });
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(scrape.as_bytes())
        .expect("write scrape");
    let out = child.wait_with_output().expect("promtool");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool failed:\n{report}\n--- scrape:\n{scrape}"
    );
    report
}

#[tokio::test]
async fn the_scrape_passes_promtool_for_doors_with_awkward_names() {
    let app = spawn_app().await;
    for name in [
        r#"Door "A" C:\doors"#,
        r"back\slash\",
        "Tür zum Garten – 東門",
        r#"quote " and \" both"#,
    ] {
        door_with(&app, name, lock(55, false, true)).await;
    }
    // A few requests so that the counter family has samples.
    let _ = app.get("/me", &app.admin_token).await;
    let _ = app.get("/no-such-thing", &app.admin_token).await;
    let r = app
        .client
        .get(app.url("/monitoring/metrics"))
        .send()
        .await
        .expect("request");
    assert_eq!(
        r.headers()["content-type"].to_str().expect("ct"),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let scrape = r.text().await.expect("body");
    let dump = std::env::temp_dir().join(format!("openlatch-scrape-{}.txt", std::process::id()));
    std::fs::write(&dump, &scrape).expect("keep the scrape");
    let report = promtool_check(&scrape);
    assert!(
        report.trim().is_empty(),
        "promtool warned:\n{report}\n--- scrape:\n{scrape}"
    );
    let _ = std::fs::remove_file(&dump);
    // Every family has HELP and TYPE.
    let families: Vec<&str> = scrape
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for f in &families {
        assert!(scrape.contains(&format!("# HELP {f} ")), "{f} has no HELP");
    }
    assert!(
        scrape.contains(r#"device_name="Door \"A\" C:\\doors""#),
        "{scrape}"
    );
    assert!(families.len() >= 8, "{families:?}");

    // OpenMetrics when asked for.
    let r = app
        .client
        .get(app.url("/monitoring/metrics"))
        .header("accept", "application/openmetrics-text; version=1.0.0")
        .send()
        .await
        .expect("request");
    assert!(r.headers()["content-type"]
        .to_str()
        .expect("ct")
        .starts_with("application/openmetrics-text"));
    assert!(r.text().await.expect("body").ends_with("# EOF\n"));
}
