//! Keypad escalation end to end: a guarantor enrolled through the Admin API
//! (`POST /members/{id}/totp`, issue 11), a code computed in the test by
//! Debian's `oathtool` from the returned secret, typed at the real door.

mod common;

use std::process::Command;

use common::*;
use serde_json::json;

const UID: &str = "AABBCCDD";

fn oathtool_totp(secret_b32: &str) -> String {
    let out = Command::new("oathtool")
        .args(["--totp", "-b", secret_b32])
        .output()
        .expect("oathtool is missing: apt-get install oathtool (.ci/run installs it)");
    assert!(out.status.success(), "oathtool: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test]
async fn a_keypad_code_from_the_enrolled_secret_opens_once_and_the_same_code_again_does_not() {
    let server = Server::start().await;
    let (_, setup) = server_and_door_setup(&server).await;
    let kim = server.member("kim", "keyholder").await;
    let enrolled = server
        .post(&format!("/members/{kim}/totp"), json!({}))
        .await;
    let keypad_id = enrolled["keypad_id"].as_u64().expect("keypad_id");
    let secret = enrolled["secret"].as_str().expect("secret").to_owned();

    // A listed card that is refused: its range has ended.
    let bob = server.member("bob", "member").await;
    server.key(&bob, UID, json!({})).await;
    let t = now();
    server
        .post(
            "/access-rules",
            json!({"name": "ended", "rule_type": "date_range",
                   "parameters": {"start_date": rfc3339(t - 7200), "end_date": rfc3339(t - 3600)},
                   "priority": 10,
                   "targets": [{"target_type": "member", "target_value": bob}]}),
        )
        .await;
    let mut door = Door::start(&setup);
    door.wait_list(&server).await;

    // Typed without an escalation: ignored.
    let code = oathtool_totp(&secret);
    door.send(&format!("keypad {keypad_id}#{code}#"));
    door.wait_log("keypad input ignored", 5).await;

    // The third refusal within a minute asks for a code.
    for _ in 0..3 {
        let label = door.tap(UID).await;
        assert!(label.starts_with("DENIED_"), "{label}");
    }
    door.wait_log("waiting for a keypad code", 5).await;
    door.send(&format!("keypad {keypad_id}#{code}#"));
    door.wait_log("decision KEYPAD_UNLOCK", 5).await;
    assert_eq!(door.unlocks(), 1);
    let rows = server.expect_audit("keypad_unlock", UID, 1).await;
    assert_eq!(rows[0]["details"]["method"], "totp");
    assert_eq!(rows[0]["details"]["keypad_id"], keypad_id);

    // Escalate again and type the same code: refused.
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    for _ in 0..3 {
        let label = door.tap(UID).await;
        assert!(label.starts_with("DENIED_"), "{label}");
    }
    door.wait_count("waiting for a keypad code", 2, 5).await;
    door.send(&format!("keypad {keypad_id}#{code}#"));
    door.wait_log("decision KEYPAD_WRONG_CODE", 5).await;
    assert_eq!(door.unlocks(), 1, "a used code opened again");

    // Also after a restart of the door (the accepted step is on disk).
    door.restart();
    door.wait_log("stored list version", 10).await;
    for _ in 0..3 {
        door.tap(UID).await;
    }
    door.wait_log("waiting for a keypad code", 5).await;
    door.send(&format!("keypad {keypad_id}#{code}#"));
    door.wait_log("decision KEYPAD_WRONG_CODE", 5).await;
    assert_eq!(door.unlocks(), 1);
}
