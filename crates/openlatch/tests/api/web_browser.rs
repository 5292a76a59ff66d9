//! The web UI in a real browser: Debian's headless Chromium driven over
//! WebDriver (chromedriver) against a server spawned by the test. If
//! `chromedriver` or `chromium` is missing the tests fail, naming it
//! (`.ci/run` installs both).

use crate::helpers::{spawn_app, spawn_app_with, TestApp, ADMIN_PASSWORD, ADMIN_USER};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A chromedriver process on a free port and a browser session through it;
/// both end when this is dropped.
struct Browser {
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn chromium_binary() -> &'static str {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or_else(|| {
            panic!("chromium is not installed: apt-get install -y chromium chromium-driver (.ci/run does)")
        })
}

impl Browser {
    /// `width` x `height` CSS pixels.
    async fn start(width: u32, height: u32) -> Self {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start chromedriver ({e}): apt-get install -y chromium-driver (.ci/run does)")
            });
        let profile = tempfile::tempdir().expect("profile dir");
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium_binary(),
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut last_error = String::new();
        for _ in 0..100 {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    return Browser {
                        client,
                        driver,
                        _profile: profile,
                    }
                }
                Err(e) => last_error = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver on port {port} never gave a browser session: {last_error}");
    }

    async fn goto(&self, app: &TestApp, path: &str) {
        self.client
            .goto(&format!("http://{}{path}", app.addr))
            .await
            .expect("goto");
    }

    async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    async fn fill(&self, css: &str, text: &str) {
        let input = self.find(css).await;
        input.clear().await.expect("clear");
        input.send_keys(text).await.expect("type");
    }

    async fn click(&self, css: &str) {
        self.find(css).await.click().await.expect("click");
    }

    /// Clicks a button that asks for confirmation, and confirms.
    async fn click_and_confirm(&self, css: &str) {
        self.click(css).await;
        self.client
            .accept_alert()
            .await
            .expect("confirmation dialog");
    }

    async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("text")
    }

    /// Waits until the element's text is `expected` (after a click the old page may still show).
    async fn wait_text(&self, css: &str, expected: &str) {
        let mut seen = String::new();
        for _ in 0..200 {
            if let Ok(e) = self.client.find(Locator::Css(css)).await {
                seen = e.text().await.unwrap_or_default();
                if seen == expected {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{css} shows {seen:?}, not {expected:?}");
    }

    async fn wait_path(&self, expected: &str) {
        for _ in 0..200 {
            if self.path().await == expected {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("never reached {expected}; at {}", self.path().await);
    }

    async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("url")
            .path()
            .to_owned()
    }

    async fn login(&self, app: &TestApp, user: &str, password: &str) {
        self.goto(app, "/login").await;
        self.fill("input[name=username]", user).await;
        self.fill("input[name=password]", password).await;
        self.click("form[action='/login'] button[type=submit]")
            .await;
        self.find("form.logout").await;
    }
}

/// Polls `check` for up to 10 s.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} did not happen within 10 s");
}

#[tokio::test]
async fn an_admin_logs_in_creates_a_member_registers_a_key_previews_a_rule_and_logs_out() {
    let app = spawn_app().await;
    let rule = app
        .post(
            "/access-rules",
            &app.admin_token,
            json!({"name": "members only", "rule_type": "role_minimum", "parameters": {"min_role": "member"}, "priority": 10}),
        )
        .await;
    assert_eq!(rule.status, StatusCode::CREATED);
    let rule_id = rule.body["id"].as_str().expect("id").to_owned();
    let b = Browser::start(1280, 900).await;

    b.login(&app, ADMIN_USER, ADMIN_PASSWORD).await;
    b.wait_path("/").await;
    b.wait_text("main h1", "Dashboard").await;

    // Create a member; a bad e-mail first, shown at its field.
    b.goto(&app, "/members").await;
    b.click("a[href='/members/new']").await;
    b.fill("input[name=username]", "gwen").await;
    b.fill("input[name=email]", "gwen-at-example").await;
    b.fill("input[name=password]", "gwen-password-1").await;
    b.click("form[action='/members'] button[type=submit]").await;
    b.find(".field.invalid").await;
    let error = b.text(".field.invalid .field-error").await;
    assert!(error.starts_with("E-mail"), "{error}");
    b.fill("input[name=email]", "gwen@example.org").await;
    b.fill("input[name=password]", "gwen-password-1").await;
    b.click("form[action='/members'] button[type=submit]").await;
    b.wait_text("p.notice", "Member created.").await;
    assert!(b.text("main h1").await.starts_with("gwen"));

    // Register a key on the member's page.
    b.fill("input[name=uid]", "04 A1 B2 C3 D4 E5 F6").await;
    b.fill("input[name=label]", "blue fob").await;
    b.click("form[action$='/keys'] button[type=submit]").await;
    b.wait_text("p.notice", "Key registered.").await;
    assert_eq!(b.text("td.mono").await, "04A1B2C3D4E5F6");
    let members = app.get("/members", &app.admin_token).await;
    let gwen = members
        .body
        .as_array()
        .and_then(|a| a.iter().find(|m| m["username"] == "gwen"))
        .cloned()
        .expect("gwen");
    let keys = app
        .get(
            &format!("/members/{}/keys", gwen["id"].as_str().expect("id")),
            &app.admin_token,
        )
        .await;
    assert_eq!(keys.body[0]["label"], "blue fob");

    // The audit log, filtered by type through its form, names the new key.
    b.click("nav a[href='/audit-log']").await;
    b.wait_text("main h1", "Audit log").await;
    b.fill("input[name=event_type]", "key_registered").await;
    b.click("form.filters button[type=submit]").await;
    b.wait_text(
        "table.audit tbody tr:first-child td:nth-child(4)",
        "key blue fob (04A1B2C3D4E5F6)",
    )
    .await;
    assert_eq!(
        b.find("a[download]")
            .await
            .attr("href")
            .await
            .expect("href")
            .as_deref(),
        Some("/audit-log.csv?event_type=key_registered")
    );

    // Edit a rule: the preview says gwen (a member) loses access at keyholder.
    b.goto(&app, "/rules").await;
    b.click(&format!("a[href='/rules/{rule_id}']")).await;
    let role = b.find("select[name='parameters.min_role']").await;
    role.select_by_value("keyholder").await.expect("select");
    b.click("button[value=preview]").await;
    assert_eq!(
        b.text("#preview h3:nth-of-type(2)").await,
        "Lose access (1)"
    );
    assert!(b.text("#preview").await.contains("gwen – key blue fob"));
    let stored = app
        .get(&format!("/access-rules/{rule_id}"), &app.admin_token)
        .await;
    assert_eq!(
        stored.body["parameters"]["min_role"], "member",
        "preview saves nothing"
    );
    b.click("button[value=save]").await;
    b.wait_path("/rules").await;
    let stored = app
        .get(&format!("/access-rules/{rule_id}"), &app.admin_token)
        .await;
    assert_eq!(stored.body["parameters"]["min_role"], "keyholder");

    // Lock down, see it, end it.
    b.goto(&app, "/overrides").await;
    b.click_and_confirm("form[action='/overrides/lockdown'] button")
        .await;
    b.wait_text(
        "p.notice",
        "Lockdown is on. Doors refuse everyone but admins and emergency keys as soon as they fetch the new list.",
    )
    .await;
    assert!(b.text("#active-overrides").await.contains("Lockdown"));
    assert_eq!(
        app.audit("rule_created").await.len(),
        2,
        "the rule above and the lockdown"
    );
    b.click_and_confirm("#active-overrides form button").await;
    b.wait_text("p.notice", "Override ended: the rules apply again.")
        .await;
    b.find("#no-override").await;
    assert_eq!(app.audit("rule_deleted").await.len(), 1);

    // Log out: back to the login page; the dashboard wants a login again.
    b.click("form.logout button").await;
    eventually("the login page", || async { b.path().await == "/login" }).await;
    b.goto(&app, "/").await;
    assert_eq!(b.path().await, "/login");
}

#[tokio::test]
async fn an_approval_appears_live_and_approve_releases_the_waiting_door() {
    let app = spawn_app_with(|c| c.approval_timeout_secs = 30).await;
    let (_, door) = app.device("front door").await;
    let (guest, _) = app.member_with_role("gina", "member").await;
    let r = app
        .post(
            "/nfc-keys",
            &app.admin_token,
            json!({"member_id": guest, "uid": "AABBCCDD", "label": "backup", "access_type": "conditional"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    app.member_with_role("kim", "keyholder").await;

    // A phone-sized window, as a keyholder would use it.
    let b = Browser::start(390, 844).await;
    b.login(&app, "kim", "kim-password").await;
    b.goto(&app, "/approvals").await;
    b.find("#approvals-empty").await;

    // The door asks over the device API and waits.
    let url = app.url("/device/approve");
    let ts = chrono::Utc::now().timestamp();
    let waiting = tokio::spawn(async move {
        let r = reqwest::Client::new()
            .post(url)
            .bearer_auth(door)
            .json(&json!({"uid": "aabbccdd", "timestamp": ts}))
            .send()
            .await
            .expect("door request");
        (r.status(), r.json::<Value>().await.unwrap_or(Value::Null))
    });

    // It appears without a reload, labelled with the member and the door.
    let item = b.find("li.approval").await;
    let text = item.text().await.expect("text");
    assert!(
        text.contains("gina") && text.contains("front door"),
        "{text}"
    );
    b.click("li.approval button.approve").await;
    let (status, body) = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the door was answered")
        .expect("door task");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "approved");
    b.wait_text("p.notice", "Approved: the door opens.").await;
    assert_eq!(app.audit("conditional_approved").await.len(), 1);
}

#[tokio::test]
async fn a_forged_cross_site_form_is_refused_and_a_member_cannot_open_admin_pages() {
    let app = spawn_app().await;
    app.member_with_role("moritz", "member").await;
    // The attacker's page, on another origin, posting to the real server.
    let target = format!("http://{}/overrides/lockdown", app.addr);
    let evil = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let target = target.clone();
            async move {
                axum::response::Html(format!(
                    "<!DOCTYPE html><form method=post action='{target}'>\
                     <input type=hidden name=csrf value=guess>\
                     <button id=go type=submit>win a prize</button></form>"
                ))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let evil_addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, evil).await });

    let b = Browser::start(1280, 900).await;
    b.login(&app, ADMIN_USER, ADMIN_PASSWORD).await;
    b.client
        .goto(&format!("http://localhost:{}/", evil_addr.port()))
        .await
        .expect("evil page");
    b.click("#go").await;
    eventually("the refusal page", || async {
        b.client
            .source()
            .await
            .is_ok_and(|s| s.contains("Form refused"))
    })
    .await;
    let rules = app.get("/access-rules", &app.admin_token).await;
    assert!(
        rules
            .body
            .as_array()
            .is_some_and(|r| r.iter().all(|r| r["rule_type"] != "global_override")),
        "no lockdown was created: {:?}",
        rules.body
    );

    // A member: their own page only; admin pages are a 403 page with a way back.
    b.goto(&app, "/").await;
    b.click("form.logout button").await;
    eventually("the login page", || async { b.path().await == "/login" }).await;
    b.login(&app, "moritz", "moritz-password").await;
    b.wait_path("/me").await;
    for path in ["/members", "/overrides", "/rules", "/approvals"] {
        b.goto(&app, path).await;
        b.wait_text("main h1", "Not allowed").await;
        assert!(b
            .find("a[href='/']")
            .await
            .is_displayed()
            .await
            .expect("shown"));
    }
}
