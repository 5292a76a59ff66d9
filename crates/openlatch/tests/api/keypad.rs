//! Keypad codes end to end: enrolment through the API, codes computed by an
//! independent tool (`oathtool`), checked by the ol02 door engine against
//! the list the server serves to a door; backup codes used at one door and
//! refused at another; rotation, removal, lockdown, roles and anomalies.

use crate::helpers::{spawn_app, TestApp};
use openlatch::domain::keypad::OtpSecret;
use reqwest::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::process::Command;

/// Runs `oathtool` (Debian's `oathtool` package, installed by `.ci/run`).
/// Missing, it fails the test loudly rather than skipping it.
fn oathtool(args: &[&str]) -> u32 {
    let out = Command::new("oathtool")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "oathtool could not be run ({e}): install Debian's `oathtool` package \
             (apt-get install oathtool); .ci/run does this"
            )
        });
    assert!(
        out.status.success(),
        "oathtool {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.trim().len(), 6, "oathtool printed {text:?}");
    text.trim().parse().expect("six digits")
}

/// The TOTP code `oathtool` computes from a base32 secret at unix time `t`.
fn oath_totp(secret_b32: &str, t: u64) -> u32 {
    oathtool(&["--totp", "-b", secret_b32, "-N", &format!("@{t}")])
}

/// The HOTP code `oathtool` computes from a raw key for `counter`.
fn oath_hotp(key: &[u8], counter: u64) -> u32 {
    oathtool(&["--hotp", "-c", &counter.to_string(), &hex::encode(key)])
}

fn now() -> u64 {
    chrono::Utc::now().timestamp() as u64
}

fn input(keypad_id: u16, code: u32) -> Vec<u8> {
    format!("{keypad_id}#{code:06}#").into_bytes()
}

async fn master_key(app: &TestApp) -> [u8; 32] {
    let r = app.get("/allowlist", &app.admin_token).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    openlatch_keytool::parse_public_key_hex(r.body["master_public_key"].as_str().expect("hex"))
        .expect("master key")
}

/// What a door holds: the signed bytes it downloaded and verified.
struct DoorList {
    bytes: Vec<u8>,
    version: u64,
}

impl DoorList {
    fn list(&self) -> ol02::List<'_> {
        let parts = ol02::parse_signed(&self.bytes).expect("signed list");
        ol02::List::parse_unsigned(parts.body).expect("list body")
    }
}

/// A door's poll: the newest list if newer than `held`, verified against
/// the master key like the door does.
async fn poll(app: &TestApp, door: &str, held: u64) -> Option<DoorList> {
    let resp = app
        .client
        .get(app.url(&format!("/device/allowlist?current_version={held}")))
        .bearer_auth(door)
        .send()
        .await
        .expect("poll");
    if resp.status() == StatusCode::NOT_MODIFIED {
        return None;
    }
    assert_eq!(resp.status(), StatusCode::OK);
    let bytes = resp.bytes().await.expect("body").to_vec();
    let master = master_key(app).await;
    let version = ol02::verify_list(&bytes, &master, now(), held)
        .expect("the door accepts the list")
        .list()
        .version();
    Some(DoorList { bytes, version })
}

async fn poll_newer(app: &TestApp, door: &str, held: u64) -> DoorList {
    poll(app, door, held)
        .await
        .unwrap_or_else(|| panic!("a list newer than version {held}"))
}

async fn enrol(app: &TestApp, member: &str) -> Value {
    let r = app
        .post(
            &format!("/members/{member}/totp"),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.body
}

async fn sheet(app: &TestApp, member: &str) -> Value {
    let r = app
        .post(
            &format!("/members/{member}/backup-codes"),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.body
}

async fn post_events(app: &TestApp, door: &str, events: Value) -> Value {
    let r = app
        .request(Method::POST, "/device/events", Some(door), Some(events))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body
}

/// Decodes the SVG QR code: rasterised with resvg, read with rqrr.
pub(crate) fn decode_qr(svg: &str) -> String {
    use resvg::{tiny_skia, usvg};
    let tree = usvg::Tree::from_str(svg, &usvg::Options::default()).expect("svg parses");
    let size = tree.size().to_int_size();
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height()).expect("pixmap");
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    let (w, h) = (pixmap.width() as usize, pixmap.height() as usize);
    let data = pixmap.data();
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| data[(y * w + x) * 4]);
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the SVG");
    grids[0].decode().expect("QR decodes").1
}

#[test]
fn rfc_vectors_agree_with_oathtool_and_the_servers_secret_handling() {
    // RFC 4226 appendix D / RFC 6238 appendix B secret, as the API would
    // hand it out (base32) and as the list carries it (raw bytes).
    let secret = OtpSecret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").expect("base32");
    assert_eq!(secret.bytes(), b"12345678901234567890");
    for (t, rfc) in [
        (59u64, 94287082u32),
        (1111111109, 7081804),
        (1111111111, 14050471),
        (1234567890, 89005924),
        (2000000000, 69279037),
        (20000000000, 65353130),
    ] {
        assert_eq!(secret.totp(t), rfc % 1_000_000, "server, t={t}");
        assert_eq!(
            oath_totp(&secret.to_base32(), t),
            rfc % 1_000_000,
            "oathtool, t={t}"
        );
    }
    let rfc4226 = [
        755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
    ];
    let sheet = openlatch::domain::keypad::sheet_codes(&secret);
    for (c, rfc) in sheet.iter().zip(rfc4226) {
        assert_eq!(c.code, rfc, "server, index {}", c.index);
        assert_eq!(oath_hotp(secret.bytes(), c.index.into()), rfc, "oathtool");
    }
}

#[tokio::test]
async fn enrolment_returns_a_uri_and_qr_once_and_never_the_secret_again() {
    let app = spawn_app().await;
    let (kh, _) = app.member_with_role("keith", "keyholder").await;
    let r = app
        .client
        .post(app.url(&format!("/members/{kh}/totp")))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .expect("enrol");
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()[CACHE_CONTROL], "no-store");
    let body: Value = r.json().await.expect("json");
    let obj = body.as_object().expect("object");
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["keypad_id", "otpauth_uri", "qr_svg", "secret"]);
    let secret = body["secret"].as_str().expect("secret");
    let keypad_id = body["keypad_id"].as_u64().expect("keypad id");
    assert!(keypad_id >= 1);
    assert_eq!(secret.len(), 32, "160 bits in base32");
    let raw = OtpSecret::from_base32(secret).expect("base32");

    // The URI, read with a URI library.
    let uri_text = body["otpauth_uri"].as_str().expect("uri");
    let uri = url::Url::parse(uri_text).expect("URI parses");
    assert_eq!(uri.scheme(), "otpauth");
    assert_eq!(uri.host_str(), Some("totp"));
    assert_eq!(uri.path(), "/OpenLatch:keith");
    let q: Vec<(String, String)> = uri.query_pairs().into_owned().collect();
    let q_str: Vec<(&str, &str)> = q.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        q_str,
        [
            ("secret", secret),
            ("issuer", "OpenLatch"),
            ("digits", "6"),
            ("period", "30"),
        ]
    );
    // The QR code decodes back to the URI.
    assert_eq!(decode_qr(body["qr_svg"].as_str().expect("svg")), uri_text);

    // Afterwards: the member shows the record, never the secret.
    let m = app.get(&format!("/members/{kh}"), &app.admin_token).await;
    assert_eq!(m.status, StatusCode::OK);
    assert_eq!(m.body["keypad"]["keypad_id"], keypad_id);
    assert_eq!(m.body["keypad"]["totp_enrolled"], true);
    assert_eq!(m.body["keypad"]["backup_codes_left"], 0);
    assert!(m.body["keypad"]["enrolled_at"].is_string());
    let hex = raw.to_hex();
    let log = app.get("/audit-log?limit=1000", &app.admin_token).await;
    assert_eq!(log.status, StatusCode::OK);
    assert!(
        log.body.as_array().is_some_and(|a| a.len() > 2),
        "{:?}",
        log.body
    );
    for text in [m.body.to_string(), log.body.to_string()] {
        assert!(
            !text.contains(secret) && !text.to_lowercase().contains(&hex),
            "{text}"
        );
    }
    let enrolled = app.audit("keypad_totp_enrolled").await;
    assert_eq!(enrolled.len(), 1);
    assert_eq!(enrolled[0]["target_id"], kh.as_str());
    assert_eq!(enrolled[0]["details"]["keypad_id"], keypad_id);

    // A member without codes shows `keypad: null`; the list endpoint is unchanged.
    let (plain, _) = app.member_with_role("mia", "member").await;
    let m = app
        .get(&format!("/members/{plain}"), &app.admin_token)
        .await;
    assert!(m.body["keypad"].is_null() && m.body.get("keypad").is_some());
}

#[tokio::test]
async fn oathtool_codes_open_the_door_in_the_window_only() {
    let app = spawn_app().await;
    let (kh, _) = app.member_with_role("keith", "keyholder").await;
    let (mem, _) = app.member_with_role("mia", "member").await;
    app.key_for(&kh, "0B000001").await;
    app.key_for(&mem, "0B000002").await;
    let body = enrol(&app, &kh).await;
    let secret = body["secret"].as_str().expect("secret").to_owned();
    let kid = u16::try_from(body["keypad_id"].as_u64().expect("id")).expect("u16");
    let (_, door) = app.device("front").await;
    let held = poll_newer(&app, &door, 0).await;
    let list = held.list();

    // The list the door got: one keypad record, and only the enrolled
    // guarantor's profile names a keypad id.
    assert_eq!(list.header().keypad_count, 1);
    let rec = list.keypad(kid).expect("keypad record");
    assert_eq!(
        rec.totp_secret.as_ref(),
        Some(OtpSecret::from_base32(&secret).expect("b32").bytes())
    );
    let uid = |h: &str| ol02::Uid::from_hex(h).expect("uid");
    assert_eq!(list.find(&uid("0B000001")).expect("kh").keypad_id, kid);
    assert_eq!(list.find(&uid("0B000002")).expect("member").keypad_id, 0);

    let t = now();
    let mut door_state = ol02::KeypadState::new();
    // Inside the window: now, accepted; the same code again, refused.
    let code = oath_totp(&secret, t);
    let m = ol02::check_keypad(&list, &input(kid, code), t, &mut door_state).expect("accepted");
    assert_eq!(m.keypad_id, kid);
    assert_eq!(m.method, ol02::KeypadMethod::Totp { step: t / 30 });
    assert_eq!(
        ol02::check_keypad(&list, &input(kid, code), t, &mut door_state),
        Err(ol02::KeypadRefusal::WrongCode),
        "twice in the same step"
    );
    // Ten steps back: still accepted (fresh door); eleven: refused.
    let mut fresh = ol02::KeypadState::new();
    assert!(ol02::check_keypad(
        &list,
        &input(kid, oath_totp(&secret, t - 300)),
        t,
        &mut fresh
    )
    .is_ok());
    let mut fresh = ol02::KeypadState::new();
    assert_eq!(
        ol02::check_keypad(
            &list,
            &input(kid, oath_totp(&secret, t - 330)),
            t,
            &mut fresh
        ),
        Err(ol02::KeypadRefusal::WrongCode),
        "eleven steps back"
    );
    // One step ahead accepted, two refused.
    let mut fresh = ol02::KeypadState::new();
    assert!(ol02::check_keypad(
        &list,
        &input(kid, oath_totp(&secret, t + 30)),
        t,
        &mut fresh
    )
    .is_ok());
    let mut fresh = ol02::KeypadState::new();
    assert_eq!(
        ol02::check_keypad(
            &list,
            &input(kid, oath_totp(&secret, t + 60)),
            t,
            &mut fresh
        ),
        Err(ol02::KeypadRefusal::WrongCode),
        "two steps ahead"
    );

    // Rotation: the old secret is refused from the next list on.
    let rotated = enrol(&app, &kh).await;
    let new_secret = rotated["secret"].as_str().expect("secret").to_owned();
    assert_ne!(new_secret, secret);
    assert_eq!(rotated["keypad_id"], u64::from(kid), "the keypad id stays");
    assert_eq!(app.audit("keypad_totp_rotated").await.len(), 1);
    let next = poll_newer(&app, &door, held.version).await;
    let t = now();
    let mut fresh = ol02::KeypadState::new();
    assert_eq!(
        ol02::check_keypad(
            &next.list(),
            &input(kid, oath_totp(&secret, t)),
            t,
            &mut fresh
        ),
        Err(ol02::KeypadRefusal::WrongCode),
        "old secret after rotation"
    );
    let mut fresh = ol02::KeypadState::new();
    assert!(ol02::check_keypad(
        &next.list(),
        &input(kid, oath_totp(&new_secret, t)),
        t,
        &mut fresh
    )
    .is_ok());

    // LOCKDOWN: no keypad section at all, and the engine refuses the code.
    let r = app
        .post(
            "/access-rules",
            &app.admin_token,
            json!({"name": "lockdown", "rule_type": "global_override",
                   "parameters": {"mode": "lockdown"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let locked = poll_newer(&app, &door, next.version).await;
    assert!(locked.list().header().flags.lockdown());
    assert_eq!(locked.list().header().keypad_count, 0);
    let t = now();
    let mut fresh = ol02::KeypadState::new();
    assert_eq!(
        ol02::check_keypad(
            &locked.list(),
            &input(kid, oath_totp(&new_secret, t)),
            t,
            &mut fresh
        ),
        Err(ol02::KeypadRefusal::Lockdown)
    );

    // Removing the secret (after lockdown ends) empties the section again.
    let rule = r.body["id"].as_str().expect("rule id").to_owned();
    let r = app
        .delete(&format!("/access-rules/{rule}"), &app.admin_token)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let open = poll_newer(&app, &door, locked.version).await;
    assert_eq!(open.list().header().keypad_count, 1);
    let r = app
        .delete(&format!("/members/{kh}/totp"), &app.admin_token)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let removed = poll_newer(&app, &door, open.version).await;
    assert_eq!(removed.list().header().keypad_count, 0);
    assert_eq!(
        removed.list().find(&uid("0B000001")).expect("kh").keypad_id,
        0
    );
    assert_eq!(app.audit("keypad_totp_removed").await.len(), 1);
    // Idempotent, and nothing more to audit.
    let r = app
        .delete(&format!("/members/{kh}/totp"), &app.admin_token)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(app.audit("keypad_totp_removed").await.len(), 1);
}

#[tokio::test]
async fn a_backup_code_used_at_one_door_is_refused_by_another_after_its_poll() {
    let app = spawn_app().await;
    app.subscribe_webhook(
        "https://hooks.example.org/door",
        "0123456789abcdef",
        &["anomaly"],
    )
    .await;
    let (kh, _) = app.member_with_role("keith", "keyholder").await;
    app.key_for(&kh, "0C000001").await;
    let s = sheet(&app, &kh).await;
    let kid = u16::try_from(s["keypad_id"].as_u64().expect("id")).expect("u16");
    let codes: Vec<(u64, u32)> = s["codes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|c| {
            let code = c["code"].as_str().expect("string code");
            assert_eq!(code.len(), 6);
            (
                c["index"].as_u64().expect("index"),
                code.parse().expect("digits"),
            )
        })
        .collect();
    assert_eq!(
        codes.iter().map(|c| c.0).collect::<Vec<_>>(),
        (0..10).collect::<Vec<_>>()
    );

    let (_, door_a) = app.device("front").await;
    let (_, door_b) = app.device("back").await;
    let a = poll_newer(&app, &door_a, 0).await;
    let b = poll_newer(&app, &door_b, 0).await;
    // The sheet the member got is what oathtool computes from the list's key.
    let rec = a.list().keypad(kid).expect("record");
    let key = rec.hotp_secret.expect("sheet secret");
    assert!(rec.totp_secret.is_none());
    for (i, code) in &codes {
        assert_eq!(oath_hotp(&key, *i), *code, "index {i}");
    }

    // Door A accepts code 3 and reports it.
    let t = now();
    let mut state_a = ol02::KeypadState::new();
    let m = ol02::check_keypad(&a.list(), &input(kid, codes[3].1), t, &mut state_a).expect("A");
    assert_eq!(m.method, ol02::KeypadMethod::Hotp { index: 3 });
    let unlock = json!([{"uid": "0C000001", "event": "keypad_unlock", "timestamp": t,
                         "keypad_id": kid, "method": "hotp", "index": 3}]);
    let r = post_events(&app, &door_a, unlock.clone()).await;
    assert_eq!(r["accepted"], 1, "{r}");
    let stored = app.audit("keypad_unlock").await;
    assert_eq!(stored[0]["details"]["keypad_id"], u64::from(kid));
    assert_eq!(stored[0]["details"]["method"], "hotp");
    assert_eq!(stored[0]["details"]["index"], 3);
    let m = app.get(&format!("/members/{kh}"), &app.admin_token).await;
    assert_eq!(m.body["keypad"]["backup_codes_left"], 9);
    assert!(app.audit("anomaly_detected").await.is_empty());

    // Door B after its next poll refuses code 3, still takes code 4.
    let b2 = poll_newer(&app, &door_b, b.version).await;
    assert_eq!(b2.list().keypad(kid).expect("record").hotp_used, 1 << 3);
    // A door checks a list no earlier than it was built.
    let t_b = now();
    let mut state_b = ol02::KeypadState::new();
    assert_eq!(
        ol02::check_keypad(&b2.list(), &input(kid, codes[3].1), t_b, &mut state_b),
        Err(ol02::KeypadRefusal::WrongCode)
    );
    assert!(ol02::check_keypad(&b2.list(), &input(kid, codes[4].1), t_b, &mut state_b).is_ok());

    // The same batch again is a duplicate: nothing marked, nothing flagged.
    let r = post_events(&app, &door_a, unlock).await;
    assert_eq!(r["duplicates"], 1, "{r}");
    assert!(app.audit("anomaly_detected").await.is_empty());

    // Door B (on its old list) reports code 3 again: stored and flagged.
    let r = post_events(
        &app,
        &door_b,
        json!([{"uid": "0C000001", "event": "keypad_unlock", "timestamp": t + 1,
                "details": {"keypad_id": kid, "method": "hotp", "index": 3}},
               {"uid": "0C000001", "event": "keypad_unlock", "timestamp": t + 2,
                "keypad_id": 65000, "method": "totp"},
               {"uid": "0C000001", "event": "keypad_unlock", "timestamp": t + 3,
                "method": "totp"}]),
    )
    .await;
    assert_eq!(r["accepted"], 2, "{r}");
    assert_eq!(r["rejected"][0]["index"], 2);
    assert!(r["rejected"][0]["reason"]
        .as_str()
        .is_some_and(|m| m.starts_with("keypad_id")));
    let anomalies = app.audit("anomaly_detected").await;
    let reasons: Vec<&str> = anomalies
        .iter()
        .map(|a| a["details"]["reason"].as_str().expect("reason"))
        .collect();
    assert_eq!(reasons, ["unknown_keypad_id", "backup_code_reused"]);
    let mut alerted: Vec<String> = app
        .outbox("anomaly")
        .await
        .iter()
        .map(|m| {
            let payload: serde_json::Value = serde_json::from_str(&m.payload).expect("payload");
            payload["data"]["kind"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    // Both come from one batch, in the same millisecond: order is not kept.
    alerted.sort();
    assert_eq!(
        alerted,
        ["backup_code_reused", "unknown_keypad_id"],
        "subscribers are told at once"
    );
    assert_eq!(anomalies[1]["target_id"], kh.as_str());
    assert_eq!(anomalies[1]["details"]["index"], 3);
    assert_eq!(
        app.audit("keypad_unlock").await.len(),
        3,
        "every report is stored"
    );

    // A new sheet voids the old one: old codes refused from the next list.
    let r = app
        .client
        .post(app.url(&format!("/members/{kh}/backup-codes")))
        .bearer_auth(&app.admin_token)
        .header(ACCEPT, "text/plain")
        .send()
        .await
        .expect("sheet");
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(r.headers()[CONTENT_TYPE]
        .to_str()
        .is_ok_and(|c| c.starts_with("text/plain")));
    assert_eq!(r.headers()[CACHE_CONTROL], "no-store");
    let printable = r.text().await.expect("text");
    // The server keeps the secret, not the codes: no sheet to fetch again.
    for path in [
        format!("/members/{kh}/backup-codes/sheet"),
        format!("/members/{kh}/backup-codes"),
    ] {
        let r = app.get(&path, &app.admin_token).await;
        assert!(
            r.status == StatusCode::NOT_FOUND || r.status == StatusCode::METHOD_NOT_ALLOWED,
            "GET {path}: {}",
            r.status
        );
    }
    assert!(printable.contains(&format!("{kid}#<code>#")), "{printable}");
    let printed: Vec<&str> = printable
        .lines()
        .filter(|l| l.trim_start().starts_with("[ ]"))
        .collect();
    assert_eq!(printed.len(), 10, "{printable}");
    let issued = app.audit("keypad_backup_codes_issued").await;
    assert_eq!(issued[0]["details"]["previous_sheet_voided"], true);
    let b3 = poll_newer(&app, &door_b, b2.version).await;
    let rec = b3.list().keypad(kid).expect("record");
    assert_eq!(rec.hotp_used, 0);
    let new_key = rec.hotp_secret.expect("secret");
    assert_ne!(new_key, key);
    for line in &printed {
        // "[ ]   7   123456": index, then the code as oathtool computes it.
        let f: Vec<&str> = line.split_whitespace().collect();
        let (i, code): (u64, u32) = (f[2].parse().expect("index"), f[3].parse().expect("code"));
        assert_eq!(oath_hotp(&new_key, i), code);
    }
    let mut fresh = ol02::KeypadState::new();
    assert_eq!(
        ol02::check_keypad(&b3.list(), &input(kid, codes[5].1), now(), &mut fresh),
        Err(ol02::KeypadRefusal::WrongCode),
        "a code of the voided sheet"
    );
    let m = app.get(&format!("/members/{kh}"), &app.admin_token).await;
    assert_eq!(m.body["keypad"]["backup_codes_left"], 10);
    assert_eq!(m.body["keypad"]["totp_enrolled"], false);

    // Voiding without a new sheet removes the record.
    let r = app
        .delete(&format!("/members/{kh}/backup-codes"), &app.admin_token)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(app.audit("keypad_backup_codes_voided").await.len(), 1);
    let b4 = poll_newer(&app, &door_b, b3.version).await;
    assert_eq!(b4.list().header().keypad_count, 0);
    let m = app.get(&format!("/members/{kh}"), &app.admin_token).await;
    assert!(m.body["keypad"].is_null());
}

#[tokio::test]
async fn role_checks_on_every_keypad_endpoint() {
    let app = spawn_app().await;
    let (kh, kh_token) = app.member_with_role("keith", "keyholder").await;
    let (kh2, _) = app.member_with_role("karla", "keyholder").await;
    let (mem, mem_token) = app.member_with_role("mia", "member").await;
    let (guest, _) = app.member_with_role("gus", "guest").await;

    // No token: 401 everywhere.
    for (method, path) in [
        (Method::POST, format!("/members/{kh}/totp")),
        (Method::DELETE, format!("/members/{kh}/totp")),
        (Method::POST, "/me/totp".to_owned()),
        (Method::POST, format!("/members/{kh}/backup-codes")),
        (Method::DELETE, format!("/members/{kh}/backup-codes")),
        (Method::POST, "/me/backup-codes".to_owned()),
        (Method::POST, "/keypad/rotate-all".to_owned()),
    ] {
        let r = app
            .request(
                method.clone(),
                &path,
                None,
                Some(json!({"current_password": "x"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {path}");
    }

    // A member: 403 on the admin routes and on self-service.
    let mem_pw = json!({"current_password": "mia-password"});
    for (method, path) in [
        (Method::POST, format!("/members/{mem}/totp")),
        (Method::POST, format!("/members/{kh}/totp")),
        (Method::DELETE, format!("/members/{kh}/totp")),
        (Method::POST, "/me/totp".to_owned()),
        (Method::POST, format!("/members/{kh}/backup-codes")),
        (Method::POST, "/me/backup-codes".to_owned()),
        (Method::POST, "/keypad/rotate-all".to_owned()),
    ] {
        let r = app
            .request(
                method.clone(),
                &path,
                Some(&mem_token),
                Some(mem_pw.clone()),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "member: {method} {path}");
    }

    // A keyholder: only themself, through /me, with their password.
    for path in [
        format!("/members/{kh2}/totp"),
        format!("/members/{kh}/totp"),
        format!("/members/{kh2}/backup-codes"),
        "/keypad/rotate-all".to_owned(),
    ] {
        let r = app.post(&path, &kh_token, json!({})).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "keyholder: {path}");
    }
    let r = app
        .post(
            "/me/totp",
            &kh_token,
            json!({"current_password": "wrong-password"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.field("current_password").is_some(), "{:?}", r.body);
    let r = app.post("/me/totp", &kh_token, json!({})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.field("current_password"), Some("is required"));
    let r = app
        .post(
            "/me/totp",
            &kh_token,
            json!({"current_password": "keith-password"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let me = app.get("/me", &kh_token).await;
    assert_eq!(r.body["keypad_id"], me.body["keypad"]["keypad_id"]);
    assert_eq!(me.body["id"], kh.as_str());
    let self_audit = app.audit("keypad_totp_enrolled").await;
    assert_eq!(self_audit[0]["details"]["by"], "self");
    assert_eq!(self_audit[0]["actor_id"], kh.as_str());
    let r = app
        .client
        .post(app.url("/me/backup-codes"))
        .bearer_auth(&kh_token)
        .header(ACCEPT, "text/plain")
        .json(&json!({"current_password": "keith-password"}))
        .send()
        .await
        .expect("sheet");
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(r.text().await.expect("text").contains("keith"));
    // Guessing the password here is limited like the login: after five
    // wrong ones, even the right one waits.
    for _ in 0..5 {
        let r = app
            .post(
                "/me/backup-codes",
                &kh_token,
                json!({"current_password": "guess-guess"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let r = app
        .post(
            "/me/totp",
            &kh_token,
            json!({"current_password": "keith-password"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", r.body);
    assert!(r.headers.contains_key("retry-after"));
    let k2 = app.get(&format!("/members/{kh2}"), &app.admin_token).await;
    assert!(k2.body["keypad"].is_null(), "nobody enrolled karla");

    // The admin: members and guests hold no codes (422 naming the role).
    for who in [&mem, &guest] {
        for path in [
            format!("/members/{who}/totp"),
            format!("/members/{who}/backup-codes"),
        ] {
            let r = app.post(&path, &app.admin_token, json!({})).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{path}");
            assert!(
                r.field("role")
                    .is_some_and(|m| m.contains("keyholders and admins")),
                "{:?}",
                r.body
            );
        }
    }
    let r = app
        .post(
            &format!("/members/{}/totp", uuid::Uuid::new_v4()),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn demotion_deactivation_and_rotate_all_take_codes_off_the_list() {
    let app = spawn_app().await;
    let (kh, _) = app.member_with_role("keith", "keyholder").await;
    let (ad, _) = app.member_with_role("ada", "admin").await;
    let (kh3, _) = app.member_with_role("kurt", "keyholder").await;
    for m in [&kh, &ad, &kh3] {
        enrol(&app, m).await;
    }
    sheet(&app, &kh).await;
    let (_, door) = app.device("front").await;
    let l1 = poll_newer(&app, &door, 0).await;
    assert_eq!(l1.list().header().keypad_count, 3);

    // Demoted: the record goes, for good (a later promotion does not bring it back).
    let r = app
        .put(
            &format!("/members/{kh}"),
            &app.admin_token,
            json!({"role": "member"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let l2 = poll_newer(&app, &door, l1.version).await;
    assert_eq!(l2.list().header().keypad_count, 2);
    let removed = app.audit("keypad_removed").await;
    assert_eq!(removed[0]["details"]["reason"], "role changed");
    assert_eq!(removed[0]["details"]["had_backup_sheet"], true);
    let r = app
        .put(
            &format!("/members/{kh}"),
            &app.admin_token,
            json!({"role": "keyholder"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let m = app.get(&format!("/members/{kh}"), &app.admin_token).await;
    assert!(m.body["keypad"].is_null());

    // Deactivated.
    let r = app
        .delete(&format!("/members/{ad}"), &app.admin_token)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let l3 = poll_newer(&app, &door, l2.version).await;
    assert_eq!(l3.list().header().keypad_count, 1);
    assert_eq!(
        app.audit("keypad_removed").await[0]["details"]["reason"],
        "member deactivated"
    );
    let r = app
        .post(&format!("/members/{ad}/totp"), &app.admin_token, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.field("is_active").is_some());

    // A door was stolen: one call voids everything left.
    enrol(&app, &kh).await;
    let r = app
        .post("/keypad/rotate-all", &app.admin_token, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let mut names: Vec<&str> = r.body["voided"]
        .as_array()
        .expect("voided")
        .iter()
        .map(|v| v["username"].as_str().expect("name"))
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["keith", "kurt"]);
    let l4 = poll_newer(&app, &door, l3.version).await;
    assert_eq!(l4.list().header().keypad_count, 0);
    let all = app.audit("keypad_all_rotated").await;
    assert_eq!(all[0]["details"]["members"], 2);
    for m in [&kh, &kh3] {
        let v = app.get(&format!("/members/{m}"), &app.admin_token).await;
        assert!(v.body["keypad"].is_null());
    }

    // The same from the shell, against the same database and data directory.
    enrol(&app, &kh3).await;
    let l5 = poll_newer(&app, &door, l4.version).await;
    assert_eq!(l5.list().header().keypad_count, 1);
    let refused = run_cli(&app, &["keypad", "rotate-all"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--yes"));
    let done = run_cli(&app, &["keypad", "rotate-all", "--yes"]);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let out = String::from_utf8_lossy(&done.stdout);
    assert!(out.contains("1 member(s)") && out.contains("kurt"), "{out}");
    // This server caches the newest version for a second; another process
    // built the list, so the door may need a second poll.
    let mut l6 = None;
    for _ in 0..40 {
        l6 = poll(&app, &door, l5.version).await;
        if l6.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let l6 = l6.expect("the list the command built reaches the door");
    assert_eq!(l6.list().header().keypad_count, 0);
    assert_eq!(
        app.audit("keypad_all_rotated").await[0]["details"]["by"],
        "command_line"
    );
}

fn run_cli(app: &TestApp, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_openlatch"))
        .args(args)
        .env("OPENLATCH_DATABASE_URL", &app.database_url)
        .env("OPENLATCH_DATA_DIR", &app.app.config.data_dir)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run openlatch")
}

#[tokio::test]
async fn openapi_lists_the_keypad_endpoints() {
    let app = spawn_app().await;
    let r = app.request(Method::GET, "/openapi.json", None, None).await;
    let paths = r.body["paths"].as_object().expect("paths");
    for p in [
        "/api/v1/members/{id}/totp",
        "/api/v1/me/totp",
        "/api/v1/members/{id}/backup-codes",
        "/api/v1/me/backup-codes",
        "/api/v1/keypad/rotate-all",
    ] {
        assert!(paths.contains_key(p), "missing {p}");
    }
    let member = &r.body["components"]["schemas"]["MemberDetailView"];
    assert!(member.to_string().contains("keypad"), "{member}");
}
