//! `openlatch db copy --to postgres://...`: a space that started on SQLite
//! moves to PostgreSQL, and the doors provisioned on SQLite keep working.

use crate::backup::{
    door_accepts_next_list, door_poll, master_key, openlatch, spawn_sqlite_app, text,
};
use crate::helpers::{fresh_database, spawn_app_with, TestApp};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::json;
use sqlx::Row;
use std::collections::BTreeMap;
use std::path::Path;

async fn table_counts(app: &TestApp, tables: &[&str]) -> BTreeMap<String, i64> {
    let mut conn = app.app.db.read().await.expect("conn");
    let mut counts = BTreeMap::new();
    for t in tables {
        let n: i64 = sqlx::query(&format!("SELECT COUNT(*) AS n FROM {t}"))
            .fetch_one(&mut *conn)
            .await
            .expect("count")
            .try_get("n")
            .expect("n");
        counts.insert((*t).to_owned(), n);
    }
    counts
}

async fn scalar(app: &TestApp, sql: &str) -> i64 {
    let mut conn = app.app.db.read().await.expect("conn");
    sqlx::query(sql)
        .fetch_one(&mut *conn)
        .await
        .expect(sql)
        .try_get(0)
        .expect("value")
}

const TABLES: &[&str] = &[
    "members",
    "nfc_keys",
    "sessions",
    "devices",
    "audit_log",
    "counters",
    "server_secrets",
    "access_rules",
    "allowlists",
    "device_status",
];

#[tokio::test]
#[ignore = "needs PostgreSQL (OPENLATCH_TEST_DATABASE_URL)"]
async fn a_sqlite_space_moves_to_postgres_and_its_doors_accept_the_lists() {
    assert!(
        crate::helpers::is_postgres(),
        "OPENLATCH_TEST_DATABASE_URL must name a PostgreSQL server for this test"
    );
    let mut source = spawn_sqlite_app(None).await;
    let data_dir = source.app.config.data_dir.clone();
    let master = master_key(&source).await;
    let (alice, _) = source.member_with_role("alice", "member").await;
    source.key_for(&alice, "AABBCCDD").await;
    let r = source
        .post(
            "/access-rules",
            &source.admin_token,
            json!({
                "name": "Weekdays", "rule_type": "time_window",
                "parameters": {"days": ["mon","tue","wed","thu","fri"], "start_hour": 8,
                    "start_minute": 0, "end_hour": 22, "end_minute": 0, "timezone": "Europe/Berlin"},
                "priority": 10, "targets": [{"target_type": "role", "target_value": "member"}]
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let (_, door) = source.device("front-door").await;
    let (status, bytes) = door_poll(&source, &door, 0).await;
    assert_eq!(status, StatusCode::OK);
    let held = ol02::verify_list(&bytes, &master, chrono::Utc::now().timestamp() as u64, 0)
        .expect("verifies")
        .list()
        .version();
    let r = source
        .post(
            "/device/heartbeat",
            &door,
            json!({"firmware_version": "0.1.0", "allowlist_version": held, "uptime_seconds": 5,
                   "free_heap": 1000, "wifi_rssi": -50, "nuki_battery_percent": 80,
                   "nuki_battery_critical": false, "nuki_paired": true, "nuki_state": "locked"}),
        )
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    let counts = table_counts(&source, TABLES).await;
    assert!(
        counts.values().all(|&n| n > 0),
        "every table has rows: {counts:?}"
    );
    let audit_max = scalar(&source, "SELECT MAX(id) FROM audit_log").await;
    let version_counter = scalar(
        &source,
        "SELECT value FROM counters WHERE name = 'allowlist_version'",
    )
    .await;
    source.stop();
    source.stopped().await.expect("stopped");

    let work = tempfile::tempdir().expect("tempdir");
    let target = fresh_database(work.path()).await;
    let copy = || {
        openlatch(
            &["db", "copy"],
            &[
                ("OPENLATCH_DATA_DIR", &data_dir),
                ("OPENLATCH_COPY_TO", Path::new(&target)),
            ],
        )
    };
    let out = copy();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("row counts checked"),
        "{}",
        text(&out.stdout)
    );
    // A second copy finds the target in use and changes nothing.
    let again = copy();
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("not empty"),
        "{}",
        text(&again.stderr)
    );

    let moved_target = target.clone();
    let moved = spawn_app_with(move |c| {
        c.database_url = Some(SecretString::from(moved_target));
    })
    .await;
    // The admin's password, the master key and every row came along.
    assert_eq!(master_key(&moved).await, master);
    let moved_counts = table_counts(&moved, TABLES).await;
    for t in TABLES {
        // Logging in to the new server adds a session and its audit row.
        if *t != "sessions" && *t != "audit_log" {
            assert_eq!(moved_counts[*t], counts[*t], "{t}");
        }
    }
    assert!(moved_counts["audit_log"] >= counts["audit_log"]);
    let r = moved
        .get(&format!("/members/{alice}/keys"), &moved.admin_token)
        .await;
    assert!(r.body.to_string().contains("AABBCCDD"), "{:?}", r.body);
    let rules = moved.get("/access-rules", &moved.admin_token).await;
    assert!(
        rules.body.to_string().contains("Weekdays"),
        "{:?}",
        rules.body
    );

    // The door's token works, its list is still current, and the next list
    // carries a higher version signed under the same master key.
    let (status, _) = door_poll(&moved, &door, held).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    moved.key_for(&alice, "11223344").await;
    let next = door_accepts_next_list(&moved, &door, &master, held, "11223344").await;
    assert!(next as i64 > version_counter, "versions continue upward");
    // The audit log's id sequence continues after the copied rows.
    assert!(scalar(&moved, "SELECT MIN(id) FROM audit_log WHERE event_type = 'key_registered' AND details LIKE '%11223344%'").await > audit_max);
}

#[tokio::test]
#[ignore = "needs PostgreSQL (OPENLATCH_TEST_DATABASE_URL)"]
async fn the_copy_refuses_a_target_that_is_not_postgres_or_a_source_that_is_missing() {
    let work = tempfile::tempdir().expect("tempdir");
    let target = fresh_database(work.path()).await;
    let out = openlatch(
        &["db", "copy", "--to", &target],
        &[("OPENLATCH_DATA_DIR", &work.path().join("nothing-here"))],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no database"),
        "{}",
        text(&out.stderr)
    );
    let out = openlatch(
        &["db", "copy", "--to", "sqlite://elsewhere.db"],
        &[("OPENLATCH_DATA_DIR", work.path())],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("postgres://"),
        "{}",
        text(&out.stderr)
    );
}
