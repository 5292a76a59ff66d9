//! Upgrading: a database made by release 0.1.0 (schema version 3, with
//! data; see tests/fixtures/upgrade/make-fixture.sh) is migrated forward
//! on start and keeps serving its members and doors. Runs on SQLite and,
//! with OPENLATCH_TEST_DATABASE_URL, on PostgreSQL (a pg_dump of 0.1.0).

use crate::backup::{door_accepts_next_list, door_poll};
use crate::helpers::{fresh_database, is_postgres, spawn_app_with};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::Value;
use sqlx::{Connection, Row};

const SQLITE_DUMP: &str = include_str!("../fixtures/upgrade/0.1.0-sqlite.sql");
const SQLITE_FACTS: &str = include_str!("../fixtures/upgrade/0.1.0-sqlite.json");
const POSTGRES_DUMP: &str = include_str!("../fixtures/upgrade/0.1.0-postgres.sql");
const POSTGRES_FACTS: &str = include_str!("../fixtures/upgrade/0.1.0-postgres.json");

#[tokio::test]
async fn a_database_from_release_0_1_0_migrates_forward_with_its_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = fresh_database(dir.path()).await;
    let (dump, facts) = if is_postgres() {
        (POSTGRES_DUMP, POSTGRES_FACTS)
    } else {
        (SQLITE_DUMP, SQLITE_FACTS)
    };
    let facts: Value = serde_json::from_str(facts).expect("facts");
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&url).await.expect("connect");
    sqlx::raw_sql(dump)
        .execute(&mut conn)
        .await
        .expect("load the 0.1.0 dump");
    if is_postgres() {
        // pg_dump empties the search path for its own statements.
        sqlx::raw_sql("RESET search_path")
            .execute(&mut conn)
            .await
            .expect("reset");
    }
    let old: i64 = sqlx::query("SELECT MAX(version) FROM schema_migrations")
        .fetch_one(&mut conn)
        .await
        .expect("version")
        .try_get(0)
        .expect("version");
    assert_eq!(old, 3, "the fixture is release 0.1.0's schema");
    conn.close().await.expect("close");

    // The test admin logs in with the password the fixture was made with.
    let app = spawn_app_with(move |c| c.database_url = Some(SecretString::from(url))).await;
    let mut conn = app.app.db.read().await.expect("conn");
    let now_at: i64 = sqlx::query("SELECT MAX(version) FROM schema_migrations")
        .fetch_one(&mut *conn)
        .await
        .expect("version")
        .try_get(0)
        .expect("version");
    drop(conn);
    assert_eq!(now_at, openlatch::storage::migrate::latest_version());

    assert_eq!(
        app.get("/allowlist", &app.admin_token).await.body["master_public_key"],
        facts["master_public_key"]
    );
    let alice_token = app.login("alice", "alice-password-1").await;
    let me = app.get("/me", &alice_token).await;
    assert_eq!(me.status, StatusCode::OK, "{:?}", me.body);
    let alice = me.body["id"].as_str().expect("id").to_owned();
    let keys = app
        .get(&format!("/members/{alice}/keys"), &app.admin_token)
        .await;
    assert!(
        keys.body.to_string().contains("AABBCCDD"),
        "{:?}",
        keys.body
    );
    let rules = app.get("/access-rules", &app.admin_token).await;
    assert!(
        rules.body.to_string().contains("Weekdays"),
        "{:?}",
        rules.body
    );
    assert!(
        !app.audit("access_granted").await.is_empty(),
        "door events kept"
    );
    assert!(!app.audit("member_created").await.is_empty());

    // The door made under 0.1.0 polls with its token and version, and takes
    // the next list under the same master key.
    let door = facts["door_token"].as_str().expect("token");
    let held = facts["list_version"].as_u64().expect("version");
    // The list it holds stays valid (304) unless the upgrade changed how the
    // same access is encoded (shared profiles, the keypad section): then a
    // newer version is built, which the door must accept below.
    let (status, _) = door_poll(&app, door, held).await;
    assert!(
        status == StatusCode::NOT_MODIFIED || status == StatusCode::OK,
        "{status}"
    );
    let master =
        openlatch_keytool::parse_public_key_hex(facts["master_public_key"].as_str().expect("hex"))
            .expect("master");
    app.key_for(&alice, "11223344").await;
    door_accepts_next_list(&app, door, &master, held, "11223344").await;
}
