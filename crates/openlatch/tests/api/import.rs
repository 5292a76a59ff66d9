//! `POST /members/import`, `GET /members/export`, the audit log as CSV and
//! members without a password.

use crate::helpers::{spawn_app, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

const HEADER: &str = "username,email,display_name,role,uid,key_label,key_type,expires_at";

async fn import(app: &TestApp, token: &str, query: &str, csv: &str) -> (StatusCode, Value) {
    let resp = app
        .client
        .post(app.url(&format!("/members/import{query}")))
        .bearer_auth(token)
        .header("content-type", "text/csv; charset=utf-8")
        .body(csv.to_owned())
        .send()
        .await
        .expect("request");
    let status = resp.status();
    (status, resp.json().await.expect("json body"))
}

async fn export(app: &TestApp) -> String {
    let resp = app
        .client
        .get(app.url("/members/export"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/csv"));
    resp.text().await.expect("text")
}

async fn member_named(app: &TestApp, username: &str) -> Value {
    let r = app.get("/members", &app.admin_token).await;
    r.body
        .as_array()
        .expect("array")
        .iter()
        .find(|m| m["username"] == username)
        .cloned()
        .unwrap_or(Value::Null)
}

fn spreadsheet() -> String {
    // A BOM, CRLF, quoted commas and newlines, separators and lower case.
    format!(
        "\u{feff}{HEADER}\r\n\
         alice,alice@example.org,\"Smith, Alice\",keyholder,04:a2:b3:c4,\"Blue\r\ntag\",mifare_classic,\r\n\
         alice,alice@example.org,,,04 a2 b3 c4 d5 e6 f7,spare,,2099-12-31T23:59:59Z\r\n\
         bob,bob@example.org,Bob,member,11223344,,,\r\n\
         carol,carol@example.org,,guest,,,,\r\n"
    )
}

#[tokio::test]
async fn import_creates_members_and_keys_in_one_build_and_reimport_changes_nothing() {
    let app = spawn_app().await;
    let before = app.get("/admin/allowlist/status", &app.admin_token).await;
    let (status, body) = import(&app, &app.admin_token, "", &spreadsheet()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["created_members"], 3);
    assert_eq!(body["updated_members"], 0);
    assert_eq!(body["created_keys"], 3);
    assert_eq!(body["unchanged"], 0);
    let version = body["version"].as_i64().expect("a version");
    assert!(version > before.body["version"].as_i64().unwrap_or(0));
    // Exactly one build for the whole file.
    let builds = app.audit("allowlist_generated").await;
    assert_eq!(builds[0]["details"]["version"], version);
    assert_eq!(builds[0]["details"]["entry_count"], 3);
    let imported = app.audit("members_imported").await;
    assert_eq!(imported.len(), 1);
    assert_eq!(imported[0]["details"]["created_keys"], 3);
    // Only the bootstrap admin was created one by one.
    assert_eq!(app.audit("member_created").await.len(), 1);

    let alice = member_named(&app, "alice").await;
    assert_eq!(alice["display_name"], "Smith, Alice");
    assert_eq!(alice["role"], "keyholder");
    let keys = app
        .get(
            &format!("/members/{}/keys", alice["id"].as_str().expect("id")),
            &app.admin_token,
        )
        .await;
    let mut uids: Vec<&str> = keys
        .body
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["uid"].as_str().expect("uid"))
        .collect();
    uids.sort();
    assert_eq!(uids, vec!["04A2B3C4", "04A2B3C4D5E6F7"]);
    let blue = keys
        .body
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["uid"] == "04A2B3C4");
    assert_eq!(blue.expect("blue")["label"], "Blue tag");

    // The same file again: nothing to do, no new version, no new audit entry.
    let (status, body) = import(&app, &app.admin_token, "", &spreadsheet()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["created_members"], 0);
    assert_eq!(body["created_keys"], 0);
    assert_eq!(body["updated_members"], 0);
    assert_eq!(body["unchanged"], 6);
    assert_eq!(app.audit("members_imported").await.len(), 1);
    assert_eq!(
        app.audit("allowlist_generated").await[0]["details"]["version"],
        version
    );
}

#[tokio::test]
async fn imported_members_have_no_password_until_an_admin_sets_one() {
    let app = spawn_app().await;
    let (status, body) = import(&app, &app.admin_token, "", &spreadsheet()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let r = app.try_login("bob", "").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = app.try_login("bob", "any-password-at-all").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let bob = member_named(&app, "bob").await;
    let r = app
        .put(
            &format!("/members/{}", bob["id"].as_str().expect("id")),
            &app.admin_token,
            json!({ "password": "bob-new-password" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    app.login("bob", "bob-new-password").await;
}

#[tokio::test]
async fn the_member_api_creates_a_member_without_a_password() {
    let app = spawn_app().await;
    let r = app
        .post(
            "/members",
            &app.admin_token,
            json!({ "username": "dora", "email": "dora@example.org" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(
        app.try_login("dora", "").await.status,
        StatusCode::UNAUTHORIZED
    );
    let failed = app.audit("login_failed").await;
    assert_eq!(failed[0]["details"]["reason"], "no_password");
}

#[tokio::test]
async fn a_bad_file_writes_nothing_and_names_every_row_and_field() {
    let app = spawn_app().await;
    let (mid, _) = app.member_with_role("erin", "member").await;
    app.key_for(&mid, "AABBCCDD").await;
    let csv = format!(
        "{HEADER}\n\
         okay,okay@example.org,,,04000001,,,\n\
         BAD NAME,nope,,wizard,123,,,\n\
         newbie,,,,04000002,,,\n\
         frank,frank@example.org,,,aa:bb:cc:dd,,,\n\
         gina,gina@example.org,,,04000001,,,\n"
    );
    let (status, body) = import(&app, &app.admin_token, "", &csv).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "import_rejected");
    let got: Vec<(i64, String)> = body["error"]["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
            (
                e["row"].as_i64().expect("row"),
                e["field"].as_str().expect("field").to_owned(),
            )
        })
        .collect();
    // Row 6 repeats the UID of row 2; the file is refused before the
    // database is consulted, so rows 4 and 5 are checked on a second pass.
    assert_eq!(
        got,
        vec![
            (3, "username".to_owned()),
            (3, "email".to_owned()),
            (3, "role".to_owned()),
            (3, "uid".to_owned()),
            (6, "uid".to_owned()),
        ]
    );
    assert!(member_named(&app, "okay").await.is_null());

    // Fixed file: the database checks name a new member without e-mail and
    // a UID that belongs to another member.
    let csv = format!(
        "{HEADER}\n\
         okay,okay@example.org,,,04000001,,,\n\
         newbie,,,,04000002,,,\n\
         frank,frank@example.org,,,aa:bb:cc:dd,,,\n"
    );
    let (status, body) = import(&app, &app.admin_token, "", &csv).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let errors = body["error"]["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 2, "{body}");
    assert_eq!(
        (errors[0]["row"].as_i64(), errors[0]["field"].as_str()),
        (Some(3), Some("email"))
    );
    assert_eq!(
        (errors[1]["row"].as_i64(), errors[1]["field"].as_str()),
        (Some(4), Some("uid"))
    );
    assert!(errors[1]["message"].as_str().expect("msg").contains("erin"));
    assert!(member_named(&app, "okay").await.is_null());
    assert!(app.audit("members_imported").await.is_empty());
}

#[tokio::test]
async fn a_dry_run_checks_everything_and_writes_nothing() {
    let app = spawn_app().await;
    let (status, body) = import(&app, &app.admin_token, "?dry_run=true", &spreadsheet()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["dry_run"], true);
    assert_eq!(body["created_members"], 3);
    assert_eq!(body["created_keys"], 3);
    assert_eq!(body["version"], Value::Null);
    assert!(member_named(&app, "alice").await.is_null());
    assert!(app.audit("members_imported").await.is_empty());
}

#[tokio::test]
async fn import_updates_existing_members_and_keeps_the_last_admin() {
    let app = spawn_app().await;
    app.member_with_role("hank", "member").await;
    let csv = format!("{HEADER}\nhank,hank@new.example.org,Hank H,keyholder,,,,\n");
    let (status, body) = import(&app, &app.admin_token, "", &csv).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["updated_members"], 1);
    let hank = member_named(&app, "hank").await;
    assert_eq!(hank["email"], "hank@new.example.org");
    assert_eq!(hank["role"], "keyholder");

    let admin = app.get("/me", &app.admin_token).await;
    let name = admin.body["username"].as_str().expect("name");
    let csv = format!("{HEADER}\n{name},,,member,,,,\n");
    let (status, body) = import(&app, &app.admin_token, "", &csv).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["errors"][0]["field"], "role");
}

#[tokio::test]
async fn export_then_import_into_an_empty_server_reproduces_members_and_keys() {
    let source = spawn_app().await;
    let (status, body) = import(&source, &source.admin_token, "", &spreadsheet()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let csv = export(&source).await;
    assert!(csv.starts_with(HEADER), "{csv}");
    // Alice's two keys are two rows; carol without a key is one row.
    assert!(
        csv.contains("carol,carol@example.org,carol,guest,,,,\n"),
        "{csv}"
    );
    assert!(
        csv.contains("04A2B3C4D5E6F7,spare,,2099-12-31T23:59:59Z"),
        "{csv}"
    );

    let target = spawn_app().await;
    let (status, body) = import(&target, &target.admin_token, "", &csv).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["created_members"], 3);
    assert_eq!(body["created_keys"], 3);
    // Both servers' bootstrap admin is the same: unchanged.
    assert_eq!(body["unchanged"], 1, "{body}");
    assert_eq!(export(&target).await, csv);
}

#[tokio::test]
async fn import_and_export_are_for_admins_only() {
    let app = spawn_app().await;
    let (_, keyholder) = app.member_with_role("kim", "keyholder").await;
    let (status, _) = import(&app, &keyholder, "", &spreadsheet()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = import(&app, "not-a-token", "", &spreadsheet()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let r = app.get("/members/export", &keyholder).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // JSON is not CSV.
    let r = app
        .post("/members/import", &app.admin_token, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn the_audit_log_exports_as_csv_with_the_same_filters() {
    let app = spawn_app().await;
    let (status, _) = import(&app, &app.admin_token, "", &spreadsheet()).await;
    assert_eq!(status, StatusCode::OK);
    let resp = app
        .client
        .get(app.url("/audit-log?format=csv&event_type=members_imported"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().await.expect("text");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        headers,
        [
            "id",
            "created_at",
            "event_type",
            "actor_id",
            "target_id",
            "details"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(&rows[0][2], "members_imported");
    let details: Value = serde_json::from_str(&rows[0][5]).expect("details are JSON");
    assert_eq!(details["created_members"], 3);
    // One range for `limit` in both forms (the document can state only one).
    let r = app
        .get("/audit-log?format=csv&limit=1001", &app.admin_token)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert!(r.body["error"]["fields"]["limit"].is_string());
    let r = app
        .get("/audit-log?format=csv&limit=1000", &app.admin_token)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app.get("/audit-log?format=xml", &app.admin_token).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// Migration 0005 rebuilds `members` on SQLite; a database from before it,
/// with members and keys, keeps every row and every foreign key.
#[tokio::test]
async fn migration_0005_keeps_existing_members_and_keys() {
    use openlatch::storage::Db;
    let dir = tempfile::tempdir().expect("tempdir");
    let url = crate::helpers::fresh_database(dir.path()).await;
    let postgres = crate::helpers::is_postgres();
    let db = Db::connect(&url, 2).await.expect("connect");
    let backend = if postgres { "postgres" } else { "sqlite" };
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    sqlx::query(
        "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, \
         applied_at BIGINT NOT NULL)",
    )
    .execute(db.pool())
    .await
    .expect("schema_migrations");
    for (v, name) in [
        (1, "0001_foundation"),
        (2, "0002_allowlist"),
        (3, "0003_devices"),
    ] {
        let sql = std::fs::read_to_string(root.join(format!("{name}.sql"))).expect("sql");
        sqlx::raw_sql(&sql).execute(db.pool()).await.expect(name);
        sqlx::query("INSERT INTO schema_migrations VALUES ($1, $2, 0)")
            .bind(v)
            .bind(name)
            .execute(db.pool())
            .await
            .expect("record");
    }
    sqlx::query(
        "INSERT INTO members (id, username, email, display_name, role, is_active, \
         password_hash, keypad_id, created_at, updated_at) \
         VALUES ('m1', 'old', 'old@example.org', 'Old', 'member', 1, 'hash', 1, 0, 0)",
    )
    .execute(db.pool())
    .await
    .expect("member");
    sqlx::query(
        "INSERT INTO nfc_keys (id, member_id, uid, label, created_at) \
         VALUES ('k1', 'm1', '04A2B3C4', '', 0)",
    )
    .execute(db.pool())
    .await
    .expect("key");

    db.migrate().await.expect("migrate to the newest version");

    let row: (String, Option<String>, Option<i64>) =
        sqlx::query_as("SELECT username, password_hash, keypad_id FROM members WHERE id = 'm1'")
            .fetch_one(db.pool())
            .await
            .expect("member kept");
    assert_eq!(row, ("old".into(), Some("hash".into()), Some(1)));
    // Now possible: no password, no keypad id.
    sqlx::query(
        "INSERT INTO members (id, username, email, display_name, role, is_active, \
         password_hash, keypad_id, created_at, updated_at) \
         VALUES ('m2', 'new', 'new@example.org', 'New', 'member', 1, NULL, NULL, 0, 0)",
    )
    .execute(db.pool())
    .await
    .expect("member without password and keypad id");
    // The keys still point at members, and foreign keys are enforced again.
    let orphan = sqlx::query(
        "INSERT INTO nfc_keys (id, member_id, uid, label, created_at) \
         VALUES ('k2', 'nobody', '04A2B3C5', '', 0)",
    )
    .execute(db.pool())
    .await;
    assert!(orphan.is_err(), "a key of no member must be refused");
    let keys: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM nfc_keys WHERE member_id = 'm1'")
        .fetch_one(db.pool())
        .await
        .expect("count");
    assert_eq!(keys.0, 1);
    db.close().await;
}
