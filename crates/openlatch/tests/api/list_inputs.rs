//! The builder's incremental inputs: after any mix of changes, on this
//! instance or another, they compile to the same list bytes as a full read
//! of the database; and every change names the list version carrying it.

use crate::helpers::{is_postgres, spawn_app, spawn_second_instance, TestApp};
use openlatch::app::allowlist::{
    self, compile_inputs, current_inputs, encode_compiled, zone_keypads, Inputs,
};
use openlatch::domain::zone::ZoneScope;
use reqwest::StatusCode;
use serde_json::json;

/// Every zone's unsigned list bytes for `inputs`, at a fixed time.
fn lists(inputs: &Inputs, now: i64) -> Vec<Vec<u8>> {
    inputs
        .zones
        .iter()
        .map(|z| {
            let scope = ZoneScope::from(z);
            let c = compile_inputs(inputs, scope, now, 86_400);
            let keypads = zone_keypads(inputs, scope, &c);
            encode_compiled(&c, &keypads, 1, now, now + 86_400).expect("encodes")
        })
        .collect()
}

async fn full_read(app: &TestApp) -> Inputs {
    let mut conn = app.app.db.read().await.expect("read");
    allowlist::load_inputs(&mut conn).await.expect("inputs")
}

/// A small deterministic generator (xorshift), so a failure replays.
struct Dice(u64);
impl Dice {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[tokio::test]
async fn incremental_inputs_compile_like_a_full_read_after_random_changes() {
    let a = spawn_app().await;
    let b = spawn_second_instance(&a, |_| {}).await;
    let backend = if is_postgres() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let mut dice = Dice(0x5eed_1234_abcd_0001);
    let mut members: Vec<String> = Vec::new();
    let mut keys: Vec<String> = Vec::new();
    let roles = ["member", "guest", "keyholder", "member"];
    for step in 0..60u32 {
        // Changes go through either instance; `a`'s copy must see both.
        let via = if dice.below(2) == 0 { &a } else { &b };
        match dice.below(6) {
            0 | 1 if !members.is_empty() => {
                let m = &members[dice.below(members.len())];
                let r = via
                    .post(
                        "/nfc-keys",
                        &via.admin_token,
                        json!({"member_id": m, "uid": format!("04AA{step:010X}")}),
                    )
                    .await;
                if r.status == StatusCode::CREATED {
                    keys.push(r.body["id"].as_str().expect("key id").to_owned());
                }
            }
            2 if !keys.is_empty() => {
                let k = keys.swap_remove(dice.below(keys.len()));
                via.post(
                    &format!("/nfc-keys/{k}/revoke"),
                    &via.admin_token,
                    json!({}),
                )
                .await;
            }
            3 if !members.is_empty() => {
                let m = &members[dice.below(members.len())];
                let role = roles[dice.below(roles.len())];
                via.put(
                    &format!("/members/{m}"),
                    &via.admin_token,
                    json!({"role": role}),
                )
                .await;
            }
            4 if members.len() > 3 => {
                let m = members.swap_remove(dice.below(members.len()));
                via.delete(&format!("/members/{m}"), &via.admin_token).await;
            }
            _ => {
                let r = via
                    .post(
                        "/members",
                        &via.admin_token,
                        json!({"username": format!("rnd{step}"), "email": format!("rnd{step}@example.org"),
                               "display_name": format!("Rnd {step}"), "password": "a-long-password-1",
                               "role": roles[dice.below(roles.len())]}),
                    )
                    .await;
                assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
                members.push(r.body["id"].as_str().expect("member id").to_owned());
            }
        }
        if step % 5 == 4 {
            let now = chrono::Utc::now().timestamp();
            let cached = current_inputs(&a.app).await.expect("incremental inputs");
            let full = full_read(&a).await;
            assert_eq!(
                cached.keys.len(),
                full.keys.len(),
                "{backend}, step {step}: keys"
            );
            assert_eq!(
                lists(&cached, now),
                lists(&full, now),
                "{backend}, step {step}: incremental and full lists differ"
            );
        }
    }
    assert!(!keys.is_empty(), "the run registered keys");
    // The list `a` serves was built from the same inputs.
    let listed = a.get("/allowlist", &a.admin_token).await;
    assert_eq!(listed.status, StatusCode::OK);
}

#[tokio::test]
async fn a_change_names_the_list_version_that_carries_it() {
    let app = spawn_app().await;
    let (m, _) = app.member_with_role("carried", "member").await;
    let r = app
        .post(
            "/nfc-keys",
            &app.admin_token,
            json!({"member_id": m, "uid": "04C0FFEE000001"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let header = r
        .headers
        .get("x-openlatch-allowlist-version")
        .expect("a key registration names its list version")
        .to_str()
        .expect("ascii")
        .parse::<i64>()
        .expect("a number");
    let status = app.get("/allowlist", &app.admin_token).await;
    assert_eq!(status.body["version"].as_i64(), Some(header));
    // That version's list holds the key.
    let mut conn = app.app.db.read().await.expect("read");
    let stored = openlatch::storage::allowlists::latest(&mut conn, openlatch::domain::ZoneId::MAIN)
        .await
        .expect("latest")
        .expect("a list");
    assert_eq!(stored.version, header);
    let list = ol02::List::parse_unsigned(&stored.unsigned_bytes).expect("list");
    let uid = ol02::Uid::new(&[0x04, 0xC0, 0xFF, 0xEE, 0x00, 0x00, 0x01]).expect("uid");
    assert!(list.find(&uid).is_some());
    drop(conn);

    // A revocation (204, no body) names its version too, a newer one.
    let key = r.body["id"].as_str().expect("id").to_owned();
    let revoked = app
        .post(
            &format!("/nfc-keys/{key}/revoke"),
            &app.admin_token,
            json!({}),
        )
        .await;
    let after = revoked
        .headers
        .get("x-openlatch-allowlist-version")
        .expect("a revocation names its list version")
        .to_str()
        .expect("ascii")
        .parse::<i64>()
        .expect("a number");
    assert!(after > header, "{after} after {header}");
    // A read changes nothing and names no version.
    let read = app.get("/members", &app.admin_token).await;
    assert!(read.headers.get("x-openlatch-allowlist-version").is_none());
}
