//! The allow-list end to end: doors fetch and verify it with the ol02 crate,
//! air-gapped signing through the key tool, versions under concurrency,
//! explain, and permissions.

use crate::helpers::{
    fresh_database, is_postgres, spawn_app, spawn_app_with, spawn_second_instance, TestApp,
};
use openlatch::config::{Config, SigningMode};
use openlatch::domain::ZoneId;
use reqwest::header::{HeaderMap, ETAG, IF_NONE_MATCH};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::json;

struct Raw {
    status: StatusCode,
    headers: HeaderMap,
    bytes: Vec<u8>,
}

async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    extra: &[(&str, &str)],
) -> Raw {
    let mut req = app.client.request(method, app.url(path)).bearer_auth(token);
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("request");
    Raw {
        status: resp.status(),
        headers: resp.headers().clone(),
        bytes: resp.bytes().await.expect("body").to_vec(),
    }
}

async fn fetch(app: &TestApp, door: &str, current: u64) -> Raw {
    raw(
        app,
        Method::GET,
        &format!("/device/allowlist?current_version={current}"),
        door,
        &[],
    )
    .await
}

fn now() -> u64 {
    chrono::Utc::now().timestamp() as u64
}

fn uid(hex: &str) -> ol02::Uid {
    ol02::Uid::from_hex(hex).expect("uid")
}

async fn master_key(app: &TestApp) -> [u8; 32] {
    let r = app.get("/allowlist", &app.admin_token).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    openlatch_keytool::parse_public_key_hex(r.body["master_public_key"].as_str().expect("hex"))
        .expect("master key")
}

#[tokio::test]
async fn doors_fetch_verify_and_follow_changes() {
    let app = spawn_app().await;
    let t = &app.admin_token;
    let (alice, _) = app.member_with_role("alice", "member").await;
    let (guest, _) = app.member_with_role("gus", "guest").await;
    let key = app.key_for(&alice, "04:A1:B2:C3").await;
    app.key_for(&guest, "0A0B0C0D").await;
    let r = app
        .post(
            "/access-rules",
            t,
            json!({"name": "members weekdays", "rule_type": "time_window", "parameters": {
                "days": ["mon", "tue", "wed", "thu", "fri"], "start_hour": 8, "start_minute": 0,
                "end_hour": 22, "end_minute": 0, "timezone": "Europe/Berlin"},
                "targets": [{"target_type": "role", "target_value": "member"}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let (_, door) = app.device("front").await;
    let master = master_key(&app).await;

    let first = fetch(&app, &door, 0).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.headers["content-type"], "application/octet-stream");
    let v1_list = ol02::verify_list(&first.bytes, &master, now(), 0).expect("verifies");
    let v1 = v1_list.list().version();
    assert_eq!(first.headers[ETAG], format!("\"{v1}\"").as_str());
    let e = v1_list.list().find(&uid("04A1B2C3")).expect("alice listed");
    assert_eq!(e.access_type, ol02::AccessType::Scheduled);
    assert_eq!(e.role, ol02::Role::Member);
    assert_eq!(e.schedule.slots().len(), 1);
    assert!(
        v1_list.list().find(&uid("0A0B0C0D")).is_none(),
        "guest without grant"
    );

    let status = app.get("/allowlist", t).await;
    assert_eq!(status.body["version"], v1);
    assert_eq!(status.body["signing_mode"], "online");
    assert_eq!(status.body["unsigned_changes_pending"], false);
    assert_eq!(status.body["entry_count"], 1);
    assert_eq!(status.body["size_bytes"], first.bytes.len());

    // 304 for the version held, by query and by If-None-Match.
    assert_eq!(
        fetch(&app, &door, v1).await.status,
        StatusCode::NOT_MODIFIED
    );
    let etag = format!("\"{v1}\"");
    let r = raw(
        &app,
        Method::GET,
        "/device/allowlist",
        &door,
        &[(IF_NONE_MATCH.as_str(), &etag)],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);

    // Revoking drops the key from the next version.
    let r = app
        .post(
            &format!("/nfc-keys/{}/revoke", key["id"].as_str().expect("id")),
            t,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let second = fetch(&app, &door, v1).await;
    assert_eq!(second.status, StatusCode::OK);
    let v2_list = ol02::verify_list(&second.bytes, &master, now(), v1).expect("newer verifies");
    let v2 = v2_list.list().version();
    assert!(v2 > v1);
    assert!(v2_list.list().find(&uid("04A1B2C3")).is_none());

    // A door holding v2 refuses the replayed v1.
    assert!(matches!(
        ol02::verify_list(&first.bytes, &master, now(), v2),
        Err(ol02::VerifyError::VersionNotNewer { .. })
    ));

    let generated = app.audit("allowlist_generated").await;
    assert_eq!(generated[0]["details"]["version"], v2);
    assert_eq!(generated[0]["actor_id"], serde_json::Value::Null);
    assert_eq!(generated[0]["details"]["entry_count"], 0);
    assert_eq!(generated[0]["details"]["size_bytes"], second.bytes.len());
}

#[tokio::test]
async fn unchanged_content_makes_no_new_version() {
    let app = spawn_app().await;
    let t = &app.admin_token;
    let (bob, _) = app.member_with_role("bob", "member").await;
    app.key_for(&bob, "04A1B2C3").await;
    let v = app.get("/allowlist", t).await.body["version"].clone();
    let r = app.post("/allowlist/regenerate", t, json!({})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["version"], v);
    // A display name is not in the list.
    let r = app
        .put(
            &format!("/members/{bob}"),
            t,
            json!({"display_name": "Bobby"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(app.get("/allowlist", t).await.body["version"], v);
    // A role is.
    app.put(&format!("/members/{bob}"), t, json!({"role": "keyholder"}))
        .await;
    let after = app.get("/allowlist", t).await.body["version"]
        .as_i64()
        .expect("v");
    assert!(after > v.as_i64().expect("v"));
}

pub(crate) fn airgapped_keys() -> (
    tempfile::TempDir,
    ol02::ed25519_dalek::SigningKey,
    std::path::PathBuf,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let master = openlatch_keytool::generate_signing_key().expect("master");
    let (sub, cert) = openlatch_keytool::delegate(&master, 9, now(), 30).expect("delegate");
    let prefix = dir.path().join("sub");
    openlatch_keytool::write_subkey(&prefix, &sub, &cert).expect("write");
    (dir, master, prefix)
}

/// Signs with the key tool's own `keys sign` command, as an admin would.
pub(crate) fn keytool_sign(
    dir: &std::path::Path,
    prefix: &std::path::Path,
    unsigned: &[u8],
) -> Vec<u8> {
    let (u, s) = (dir.join("unsigned.ol02"), dir.join("signed.ol02"));
    let _ = std::fs::remove_file(&s);
    std::fs::write(&u, unsigned).expect("write unsigned");
    let mut out = Vec::new();
    let mut input: &[u8] = b"";
    let mut console = openlatch_keytool::Console {
        out: &mut out,
        input: &mut input,
        interactive: false,
        now: now(),
    };
    openlatch_keytool::run_keys_with(
        openlatch_keytool::KeysCommand::Sign {
            subkey: prefix.to_path_buf(),
            unsigned: u,
            signed: s.clone(),
            previous: None,
            yes: true,
        },
        &mut console,
    )
    .expect("keytool sign");
    std::fs::read(s).expect("signed")
}

async fn upload(app: &TestApp, bytes: Vec<u8>) -> crate::helpers::Reply {
    let resp = app
        .client
        .put(app.url("/admin/allowlist/signed"))
        .bearer_auth(&app.admin_token)
        .header("content-type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .expect("upload");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.json().await.unwrap_or(serde_json::Value::Null);
    crate::helpers::Reply {
        status,
        headers,
        body,
    }
}

#[tokio::test]
async fn air_gapped_round_trip_through_the_key_tool() {
    let (dir, master, prefix) = airgapped_keys();
    let master_hex = openlatch_keytool::public_key_hex(&master);
    let hex_for_config = master_hex.clone();
    let app = spawn_app_with(move |c| {
        c.signing_mode = SigningMode::AirGapped;
        c.master_public_key = Some(hex_for_config);
    })
    .await;
    let t = &app.admin_token;
    let (_, door) = app.device("front").await;
    // Nothing uploaded yet: the door is told to come back.
    let r = fetch(&app, &door, 0).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    let status = app.get("/allowlist", t).await;
    assert_eq!(status.body["signing_mode"], "air-gapped");
    assert_eq!(status.body["master_public_key"], master_hex.as_str());
    assert_eq!(status.body["unsigned_changes_pending"], true);
    // Air-gapped lists live OPENLATCH_ALLOWLIST_VALIDITY_DAYS (default 30).
    let span = |s: &serde_json::Value, k: &str| {
        chrono::DateTime::parse_from_rfc3339(s[k].as_str().expect("time"))
            .expect("time")
            .timestamp()
    };
    assert_eq!(
        span(&status.body, "valid_until") - span(&status.body, "generated_at"),
        30 * 86_400
    );
    // Air-gapped: no private key is created on the server.
    assert!(!app.app.config.data_dir.join("keys/master.key").exists());

    let (carol, _) = app.member_with_role("carol", "member").await;
    app.key_for(&carol, "04A1B2C3").await;
    let unsigned = raw(&app, Method::GET, "/admin/allowlist/unsigned", t, &[]).await;
    assert_eq!(unsigned.status, StatusCode::OK);
    assert_eq!(unsigned.headers["content-type"], "application/octet-stream");
    let version: u64 = unsigned.headers["x-openlatch-allowlist-version"]
        .to_str()
        .expect("header")
        .parse()
        .expect("number");
    let signed = keytool_sign(dir.path(), &prefix, &unsigned.bytes);

    // Tampered after signing: refused.
    let mut tampered = signed.clone();
    let i = tampered.len() / 2;
    tampered[i] ^= 0x01;
    let r = upload(&app, tampered).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert!(r.headers["content-type"]
        .to_str()
        .is_ok_and(|c| c.contains("json")));
    // Megabytes are read (the route's own body limit) and refused as garbage.
    let r = upload(&app, vec![0u8; 3 * 1024 * 1024]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    // Signed by a sub-key of another master: refused.
    let (other_dir, _, other_prefix) = airgapped_keys();
    let foreign = keytool_sign(other_dir.path(), &other_prefix, &unsigned.bytes);
    let r = upload(&app, foreign).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert!(r.body["error"]["fields"]["body"]
        .as_str()
        .is_some_and(|m| m.contains("master")));

    let r = upload(&app, signed.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["version"], version);
    let got = fetch(&app, &door, 0).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.bytes, signed);
    let pk = master.verifying_key().to_bytes();
    let v = ol02::verify_list(&got.bytes, &pk, now(), 0).expect("door accepts");
    assert!(v.list().find(&uid("04A1B2C3")).is_some());
    let status = app.get("/allowlist", t).await;
    assert_eq!(status.body["unsigned_changes_pending"], false);
    assert_eq!(status.body["signer_key_id"], 9);

    // A change makes a new unsigned version; the old signed one is refused
    // again (not newer than what was served), and the door keeps it.
    let (dan, _) = app.member_with_role("dan", "member").await;
    app.key_for(&dan, "04A1B2C4").await;
    assert_eq!(
        app.get("/allowlist", t).await.body["unsigned_changes_pending"],
        true
    );
    let r = upload(&app, signed).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.field("version").is_some(), "{:?}", r.body);
    assert_eq!(
        fetch(&app, &door, version).await.status,
        StatusCode::NOT_MODIFIED
    );

    let unsigned2 = raw(&app, Method::GET, "/admin/allowlist/unsigned", t, &[]).await;
    let signed2 = keytool_sign(dir.path(), &prefix, &unsigned2.bytes);
    assert_eq!(upload(&app, signed2).await.status, StatusCode::OK);
    let got = fetch(&app, &door, version).await;
    let v2 = ol02::verify_list(&got.bytes, &pk, now(), version).expect("newer");
    assert!(v2.list().find(&uid("04A1B2C4")).is_some());
}

#[tokio::test]
async fn versions_never_repeat_across_two_instances() {
    let a = spawn_app().await;
    let b = spawn_second_instance(&a, |_| {}).await;
    let (m, _) = a.member_with_role("many", "member").await;
    let instances = [&a, &b];
    let mut tasks = Vec::new();
    for i in 0..16u32 {
        let app = instances[i as usize % 2];
        let (client, url, token, member) = (
            app.client.clone(),
            app.url("/nfc-keys"),
            app.admin_token.clone(),
            m.clone(),
        );
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"member_id": member, "uid": format!("0A0B{i:04X}")}))
                .send()
                .await
                .expect("post")
                .status()
        }));
    }
    for t in futures::future::join_all(tasks).await {
        assert_eq!(t.expect("task"), StatusCode::CREATED);
    }
    let rows = a.audit("allowlist_generated").await;
    let versions: Vec<i64> = rows
        .iter()
        .map(|r| r["details"]["version"].as_i64().expect("version"))
        .collect();
    let mut sorted = versions.clone();
    sorted.sort_unstable();
    sorted.dedup();
    let backend = if is_postgres() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    assert_eq!(
        sorted.len(),
        versions.len(),
        "{backend}: duplicate versions: {versions:?}"
    );
    // Newest-first audit order means versions strictly decrease down the log.
    assert!(versions.windows(2).all(|w| w[0] > w[1]), "{versions:?}");
    let newest = versions[0];
    assert_eq!(
        a.get("/allowlist", &a.admin_token).await.body["version"],
        newest
    );
    assert_eq!(
        b.get("/allowlist", &b.admin_token).await.body["version"],
        newest
    );
    // Both instances sign with the one shared sub-key.
    assert_eq!(master_key(&a).await, master_key(&b).await);
    let status = a.get("/allowlist", &a.admin_token).await;
    assert_eq!(status.body["entry_count"], 16);
}

#[tokio::test]
async fn explain_decision_projection_and_unknown_uids() {
    let app = spawn_app().await;
    let t = &app.admin_token;
    let (erin, _) = app.member_with_role("erin", "member").await;
    app.key_for(&erin, "04A1B2C3").await;
    // Every day 00:00-12:00 UTC.
    let r = app
        .post(
            "/access-rules",
            t,
            json!({"name": "mornings", "rule_type": "time_window", "parameters": {
                "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start_hour": 0,
                "start_minute": 0, "end_hour": 12, "end_minute": 0, "timezone": "UTC"}}),
        )
        .await;
    let rule_id = r.body["id"].as_str().expect("id").to_owned();
    let today = chrono::Utc::now().date_naive();
    let at = |days: i64, hour: u32| {
        (today + chrono::Duration::days(days))
            .and_hms_opt(hour, 0, 0)
            .expect("time")
            .and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let list_version = app.get("/allowlist", t).await.body["version"].clone();

    // Tomorrow 10:00, inside the window, but the list doors hold is stale
    // by then (24 h online): the door refuses, a fresh list would grant.
    let r = app
        .get(
            &format!("/allowlist/explain?uid=04:a1:b2:c3&at={}", at(2, 10)),
            t,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["uid"], "04A1B2C3");
    assert_eq!(r.body["list_version"], list_version);
    assert_eq!(r.body["in_list"], true);
    assert_eq!(r.body["decision"], "DENIED_STALE_LIST");
    assert_eq!(r.body["projected_decision"], "GRANTED");
    assert_eq!(r.body["entry"]["access_type"], "scheduled");
    let slot = &r.body["entry"]["slots"][0];
    assert_eq!(slot["utc"], "mon,tue,wed,thu,fri,sat,sun 00:00-12:00 UTC");
    assert_eq!(slot["rules"][0]["id"], rule_id.as_str());
    assert!(slot["local"][0]
        .as_str()
        .is_some_and(|l| l.ends_with("UTC")));
    assert_eq!(r.body["rules"][0]["outcome"], "applied");
    assert_eq!(r.body["entry"]["role"], "member");

    // Outside the window a fresh list refuses too, for another reason.
    let r = app
        .get(
            &format!("/allowlist/explain?uid=04A1B2C3&at={}", at(2, 13)),
            t,
        )
        .await;
    assert_eq!(r.body["decision"], "DENIED_STALE_LIST");
    assert_eq!(r.body["projected_decision"], "DENIED_OUTSIDE_SCHEDULE");

    // Unregistered UIDs get 200 and DENIED_UNKNOWN.
    let r = app.get("/allowlist/explain?uid=DEADBEEF", t).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["decision"], "DENIED_UNKNOWN");
    assert_eq!(r.body["in_list"], false);
    assert!(r.body["excluded_because"].is_string());
    assert_eq!(r.body["entry"], serde_json::Value::Null);
    // Both lists agree, so there is no separate projection.
    assert_eq!(r.body["projected_decision"], serde_json::Value::Null);

    let r = app.get("/allowlist/explain?uid=XYZ", t).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.field("uid").is_some());
}

#[tokio::test]
async fn permissions_on_every_allowlist_endpoint() {
    let app = spawn_app().await;
    let (_, member) = app.member_with_role("molly", "member").await;
    let (_, keyholder) = app.member_with_role("kim", "keyholder").await;
    let (_, door) = app.device("front").await;
    let admin_paths = [
        (Method::GET, "/allowlist"),
        (Method::POST, "/allowlist/regenerate"),
        (Method::GET, "/allowlist/explain?uid=04A1B2C3"),
        (Method::GET, "/admin/allowlist/unsigned"),
        (Method::PUT, "/admin/allowlist/signed"),
    ];
    for (method, path) in admin_paths {
        let r = app.request(method.clone(), path, None, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        let r = app.request(method.clone(), path, Some(&door), None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "device {method} {path}");
        for token in [&member, &keyholder] {
            let r = app.request(method.clone(), path, Some(token), None).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {path}");
        }
    }
    let r = app
        .request(Method::GET, "/device/allowlist", None, None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = app
        .request(
            Method::GET,
            "/device/allowlist",
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(fetch(&app, &door, 0).await.status, StatusCode::OK);
    // Online mode: uploads are not how lists get signed.
    let r = app
        .request(
            Method::PUT,
            "/admin/allowlist/signed",
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
}

fn base_config(dir: &std::path::Path, url: String) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir: dir.join("data"),
        database_url: Some(SecretString::from(url)),
        db_max_connections: 2,
        ..Config::default()
    }
}

#[tokio::test]
async fn configured_subkeys_must_chain_and_near_expiry_is_warned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let master = openlatch_keytool::generate_signing_key().expect("master");
    let (sub, cert) = openlatch_keytool::delegate(&master, 3, now(), 10).expect("delegate");
    let prefix = dir.path().join("sub");
    openlatch_keytool::write_subkey(&prefix, &sub, &cert).expect("write");
    let other = openlatch_keytool::generate_signing_key().expect("other");

    // A sub-key that does not chain to the configured master stops the server.
    let mut c = base_config(dir.path(), fresh_database(dir.path()).await);
    c.subkey = Some(prefix.clone());
    c.master_public_key = Some(openlatch_keytool::public_key_hex(&other));
    let err = openlatch::startup::Application::build(c)
        .await
        .err()
        .expect("refused");
    assert!(format!("{err:#}").contains("chain"), "{err:#}");

    // An expired certificate from the right master stops it too.
    let expired_prefix = dir.path().join("old");
    let (old_sub, old_cert) =
        openlatch_keytool::delegate(&master, 2, now() - 40 * 86_400, 30).expect("delegate");
    openlatch_keytool::write_subkey(&expired_prefix, &old_sub, &old_cert).expect("write");
    let mut c = base_config(dir.path(), fresh_database(dir.path()).await);
    c.subkey = Some(expired_prefix);
    c.master_public_key = Some(openlatch_keytool::public_key_hex(&master));
    let err = openlatch::startup::Application::build(c)
        .await
        .err()
        .expect("refused");
    assert!(format!("{err:#}").contains("not valid now"), "{err:#}");

    // The right master: runs, signs with key id 3, warns about the expiry.
    let master_hex = openlatch_keytool::public_key_hex(&master);
    let app = spawn_app_with(move |c| {
        c.subkey = Some(prefix);
        c.master_public_key = Some(master_hex);
    })
    .await;
    let s = app.get("/allowlist", &app.admin_token).await;
    assert_eq!(s.body["signer_key_id"], 3);
    assert!(s.body["subkey_warning"]
        .as_str()
        .is_some_and(|w| w.contains("expires")));
    assert!(s.body["subkey_expires_at"].is_string());
    let (_, door) = app.device("d").await;
    let got = fetch(&app, &door, 0).await;
    ol02::verify_list(&got.bytes, &master.verifying_key().to_bytes(), now(), 0).expect("verifies");
}

#[tokio::test]
async fn first_start_creates_a_master_key_in_the_data_dir() {
    let app = spawn_app().await;
    let s = app.get("/allowlist", &app.admin_token).await;
    let data_dir = app.app.config.data_dir.clone();
    let pub_hex = std::fs::read_to_string(data_dir.join("keys/master.key.pub")).expect("pub");
    assert_eq!(
        pub_hex.trim(),
        s.body["master_public_key"].as_str().expect("hex")
    );
    assert_eq!(s.body["subkey_warning"], serde_json::Value::Null);
}

#[tokio::test]
async fn grace_after_a_guest_visit_is_explained() {
    let app = spawn_app().await;
    let t = &app.admin_token;
    let (guest, _) = app.member_with_role("gina", "guest").await;
    app.key_for(&guest, "0A0B0C0D").await;
    let now = chrono::Utc::now();
    let rfc =
        |d: chrono::DateTime<chrono::Utc>| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    // The visit ended 10 minutes ago; grace 30 minutes.
    let r = app
        .post(
            "/access-rules",
            t,
            json!({"name": "workshop", "rule_type": "date_range", "parameters": {
                "start_date": rfc(now - chrono::Duration::hours(3)),
                "end_date": rfc(now - chrono::Duration::minutes(10)),
                "grace_minutes": 30},
                "targets": [{"target_type": "member", "target_value": guest}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    // The list is capped at the end of the grace period.
    let s = app.get("/allowlist", t).await;
    let until = chrono::DateTime::parse_from_rfc3339(s.body["valid_until"].as_str().expect("t"))
        .expect("time");
    assert_eq!(
        until.timestamp(),
        (now + chrono::Duration::minutes(20)).timestamp()
    );

    let path = |shutdown: Option<chrono::DateTime<chrono::Utc>>| {
        let mut p = format!("/allowlist/explain?uid=0A0B0C0D&at={}", rfc(now));
        if let Some(s) = shutdown {
            p.push_str(&format!("&last_shutdown={}", rfc(s)));
        }
        p
    };
    // No shutdown since boot: no grace.
    let r = app.get(&path(None), t).await;
    assert_eq!(r.body["decision"], "DENIED_EXPIRED", "{:?}", r.body);
    assert_eq!(r.body["entry"]["grace_minutes"], 30);
    assert_eq!(r.body["entry"]["flags"], json!(["notify_on_anomaly"]));
    // Shut down 5 minutes ago with the guest inside: grace re-entry.
    let r = app
        .get(&path(Some(now - chrono::Duration::minutes(5))), t)
        .await;
    assert_eq!(r.body["decision"], "GRANTED_GRACE", "{:?}", r.body);
    // Shut down 40 minutes ago: the grace window has closed.
    let r = app
        .get(&path(Some(now - chrono::Duration::minutes(40))), t)
        .await;
    assert_eq!(r.body["decision"], "DENIED_EXPIRED", "{:?}", r.body);
}

#[tokio::test]
async fn overrides_and_sponsors_reach_the_door() {
    let app = spawn_app().await;
    let t = &app.admin_token;
    let (kh, _) = app.member_with_role("keith", "keyholder").await;
    let (guest, _) = app.member_with_role("gwen", "guest").await;
    let (m, _) = app.member_with_role("max", "member").await;
    app.key_for(&kh, "0A000001").await;
    app.key_for(&guest, "0A000002").await;
    app.key_for(&m, "0A000003").await;
    let r = app
        .post(
            "/access-rules",
            t,
            json!({"name": "gwen's sponsor", "rule_type": "guest_sponsor", "parameters": {
                "sponsor_id": kh, "requires_approval": true},
                "targets": [{"target_type": "member", "target_value": guest}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let (_, door) = app.device("front").await;
    let master = master_key(&app).await;
    let got = fetch(&app, &door, 0).await;
    let v = ol02::verify_list(&got.bytes, &master, now(), 0).expect("verifies");
    let e = v.list().find(&uid("0A000002")).expect("sponsored guest");
    assert_eq!(e.access_type, ol02::AccessType::Conditional);
    assert!(!v.list().header().flags.lockdown());
    // What the approval flow asks before it bothers anyone: conditional,
    // and whose sponsor decides.
    let mut conn = app.app.db.read().await.expect("conn");
    for (hex, expected) in [("0A000002", true), ("0A000003", false), ("DEADBEEF", false)] {
        let u = openlatch::domain::key::Uid::parse(hex).expect("uid");
        let got = openlatch::app::approvals::conditional_subject(&mut conn, &u, ZoneId::MAIN)
            .await
            .expect("query");
        assert_eq!(got.is_some(), expected, "{hex}");
        if let Some(subject) = got {
            assert_eq!(subject.sponsor_id.map(|s| s.to_string()), Some(kh.clone()));
        }
    }
    drop(conn);
    let held = v.list().version();

    // Deactivating the sponsor drops the guest.
    let r = app.delete(&format!("/members/{kh}"), t).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let got = fetch(&app, &door, held).await;
    let v = ol02::verify_list(&got.bytes, &master, now(), held).expect("newer");
    assert!(v.list().find(&uid("0A000002")).is_none());
    let held = v.list().version();

    // Lockdown: the member is dropped and the header says so.
    let r = app
        .post(
            "/access-rules",
            t,
            json!({"name": "lockdown", "rule_type": "global_override",
                   "parameters": {"mode": "lockdown"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let got = fetch(&app, &door, held).await;
    let v = ol02::verify_list(&got.bytes, &master, now(), held).expect("newer");
    assert!(v.list().header().flags.lockdown());
    assert!(v.list().find(&uid("0A000003")).is_none());
    let explained = app.get("/allowlist/explain?uid=0A000003", t).await;
    assert!(explained.body["excluded_because"]
        .as_str()
        .is_some_and(|w| w.contains("lockdown")));
}

#[tokio::test]
async fn openapi_lists_the_allowlist_and_rule_endpoints() {
    let app = spawn_app().await;
    let r = app.request(Method::GET, "/openapi.json", None, None).await;
    let paths = r.body["paths"].as_object().expect("paths");
    for p in [
        "/api/v1/access-rules",
        "/api/v1/access-rules/{id}",
        "/api/v1/allowlist",
        "/api/v1/allowlist/regenerate",
        "/api/v1/allowlist/explain",
        "/api/v1/admin/allowlist/unsigned",
        "/api/v1/admin/allowlist/signed",
        "/api/v1/device/allowlist",
    ] {
        assert!(paths.contains_key(p), "missing {p}");
    }
}

#[tokio::test]
async fn explain_converts_berlin_windows_for_winter_and_summer() {
    let app = spawn_app().await;
    let t = &app.admin_token;
    let (m, _) = app.member_with_role("berta", "member").await;
    app.key_for(&m, "04A1B2C3").await;
    let r = app
        .post(
            "/access-rules",
            t,
            json!({"name": "office", "rule_type": "time_window", "parameters": {
                "days": ["mon", "tue", "wed", "thu", "fri"], "start_hour": 8, "start_minute": 0,
                "end_hour": 22, "end_minute": 0, "timezone": "Europe/Berlin"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    // Wednesday 06:30 UTC: 07:30 in winter (closed), 08:30 in summer (open).
    for (at, utc, projected) in [
        (
            "2026-01-14T06:30:00Z",
            "mon,tue,wed,thu,fri 07:00-21:00 UTC",
            "DENIED_OUTSIDE_SCHEDULE",
        ),
        (
            "2026-07-15T06:30:00Z",
            "mon,tue,wed,thu,fri 06:00-20:00 UTC",
            "GRANTED",
        ),
    ] {
        let r = app
            .get(&format!("/allowlist/explain?uid=04A1B2C3&at={at}"), t)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let slot = &r.body["entry"]["slots"][0];
        assert_eq!(slot["utc"], utc, "{at}");
        assert_eq!(
            slot["local"][0],
            "mon,tue,wed,thu,fri 08:00-22:00 Europe/Berlin"
        );
        assert_eq!(r.body["projected_decision"], projected, "{at}");
        // The list doors hold was generated after `at`: a door whose clock
        // reads earlier treats it as stale.
        assert_eq!(r.body["decision"], "DENIED_STALE_LIST");
    }
}

#[tokio::test]
async fn old_versions_are_pruned_but_never_the_newest_signed() {
    use openlatch::storage::allowlists::{self, StoredList};
    let app = spawn_app().await;
    let mut tx = app.app.db.begin().await.expect("tx");
    let base = allowlists::latest(&mut tx, ZoneId::MAIN)
        .await
        .expect("q")
        .expect("built");
    let row = |version: i64, signed: bool| StoredList {
        version,
        signed_bytes: signed.then(|| vec![1, 2, 3]),
        ..base.clone()
    };
    // Versions base+1 .. base+6; only base+2 signed.
    for i in 1..=6 {
        allowlists::insert(&mut tx, &row(base.version + i, i == 2))
            .await
            .expect("insert");
    }
    allowlists::prune(&mut tx, ZoneId::MAIN, 2)
        .await
        .expect("prune");
    let remaining: Vec<i64> = {
        use sqlx::Row;
        sqlx::query("SELECT version FROM allowlists ORDER BY version")
            .fetch_all(&mut *tx)
            .await
            .expect("select")
            .iter()
            .map(|r| r.get::<i64, _>("version"))
            .collect()
    };
    tx.commit().await.expect("commit");
    // Everything older than the newest signed list goes; the rest stays.
    let v = base.version;
    assert_eq!(remaining, vec![v + 2, v + 3, v + 4, v + 5, v + 6]);
}
