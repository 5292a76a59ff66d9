//! The web UI without a browser: cookies, security headers on every page,
//! CSRF, roles, forms and their field errors, the rule preview.

use crate::helpers::{spawn_app, spawn_app_with, ADMIN_PASSWORD, ADMIN_USER};
use crate::web_support::{Page, WebClient, HTML_CSP};
use reqwest::StatusCode;
use serde_json::json;

fn assert_page_headers(page: &Page, path: &str) {
    assert!(
        page.header("content-type")
            .is_some_and(|t| t.starts_with("text/html")),
        "{path}: {:?}",
        page.headers
    );
    assert_eq!(
        page.header("content-security-policy"),
        Some(HTML_CSP),
        "{path}"
    );
    assert_eq!(
        page.header("referrer-policy"),
        Some("same-origin"),
        "{path}"
    );
    assert_eq!(page.header("cache-control"), Some("no-store"), "{path}");
    assert_eq!(page.header("x-frame-options"), Some("DENY"), "{path}");
    assert!(!page.body.contains("<script>"), "{path}: inline script");
    assert!(!page.body.contains(" style="), "{path}: inline style");
}

#[tokio::test]
async fn login_sets_a_strict_http_only_cookie_and_logout_ends_the_session() {
    let app = spawn_app().await;
    let mut web = WebClient::new(&app);
    let form = web.get("/login").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.attr("input[name=username]", "name").is_some());
    assert_eq!(
        form.attr("input[name=password]", "type").as_deref(),
        Some("password")
    );

    let page = web.login(ADMIN_USER, ADMIN_PASSWORD).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), Some("/"));
    let set = page.header("set-cookie").expect("cookie");
    assert!(set.starts_with("openlatch_session="), "{set}");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attr), "{set} lacks {attr}");
    }
    // Plain HTTP without a proxy saying https: no Secure (the browser would drop it).
    assert!(!set.contains("Secure"), "{set}");
    let value = set
        .split(';')
        .next()
        .and_then(|c| c.split_once('='))
        .map(|c| c.1);
    assert_eq!(value.map(str::len), Some(43), "256 bits, base64url");

    let dash = web.get("/").await;
    assert_eq!(dash.status, StatusCode::OK);
    assert_eq!(dash.texts("h1"), ["Dashboard"]);

    // The database holds only the hash of the cookie value.
    let mut conn = app.app.db.read().await.expect("db");
    let stored: Vec<Option<String>> =
        sqlx::query_scalar("SELECT web_token_hash FROM sessions WHERE web_token_hash IS NOT NULL")
            .fetch_all(&mut *conn)
            .await
            .expect("sessions");
    drop(conn);
    assert_eq!(stored.len(), 1);
    let hash = stored[0].clone().expect("hash");
    assert_eq!(hash.len(), 64);
    assert!(!hash.contains(value.expect("value")));

    let csrf = web.csrf().await;
    let out = web.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location(), Some("/login"));
    assert!(out
        .header("set-cookie")
        .is_some_and(|c| c.contains("Max-Age=0")));
    // The old cookie is worthless now.
    let after = web.get("/").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert_eq!(after.location(), Some("/login"));
}

#[tokio::test]
async fn behind_a_trusted_https_proxy_the_cookie_is_host_prefixed_and_secure() {
    let app = spawn_app_with(|c| c.trusted_proxies = vec!["127.0.0.1".parse().expect("ip")]).await;
    let web = WebClient::new(&app);
    let page = web
        .post_with(
            "/login",
            &[("username", ADMIN_USER), ("password", ADMIN_PASSWORD)],
            &[("x-forwarded-proto", "https")],
        )
        .await;
    let set = page.header("set-cookie").expect("cookie");
    assert!(set.starts_with("__Host-openlatch_session="), "{set}");
    assert!(set.ends_with("HttpOnly; SameSite=Strict; Secure"), "{set}");
}

#[tokio::test]
async fn wrong_passwords_are_audited_and_rate_limited_like_the_api() {
    let app = spawn_app().await;
    let mut web = WebClient::new(&app);
    let page = web.login(ADMIN_USER, "not the password").await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert_eq!(page.texts("p.error-text"), ["Wrong username or password."]);
    assert_eq!(
        page.attr("input[name=username]", "value").as_deref(),
        Some(ADMIN_USER)
    );
    assert!(page.header("set-cookie").is_none());
    let failed = app.audit("login_failed").await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["details"]["reason"], "wrong_password");

    let mut last = StatusCode::OK;
    for _ in 0..6 {
        last = web.login(ADMIN_USER, "still wrong").await.status;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    // The API's login shares the counter.
    let api = app.try_login(ADMIN_USER, ADMIN_PASSWORD).await;
    assert_eq!(api.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn every_page_carries_the_exact_policy_and_no_store() {
    let app = spawn_app().await;
    let web = WebClient::login_admin(&app).await;
    let (member_id, _) = app.member_with_role("mia", "member").await;
    let (door_id, _) = app.device("Front door").await;
    let rules = app.get("/rules", &app.admin_token).await;
    let mut paths = vec![
        "/".to_owned(),
        "/approvals".into(),
        "/members".into(),
        "/members?q=mi&page=1".into(),
        "/members/new".into(),
        format!("/members/{member_id}"),
        "/rules".into(),
        "/overrides".into(),
        "/doors".into(),
        "/allowlist".into(),
        "/allowlist?uid=zz".into(),
        "/settings".into(),
        "/rules/new?type=time_window".into(),
        "/rules/new?type=guest_sponsor".into(),
        format!("/doors/{door_id}"),
        "/audit-log".into(),
        "/audit-log?event_type=Bad-Type".into(),
        "/me".into(),
        "/no-such-page".into(),
        "/members/not-a-uuid".into(),
    ];
    if let Some(id) = rules.body[0]["id"].as_str() {
        paths.push(format!("/rules/{id}"));
        paths.push(format!("/rules/{id}/delete"));
    }
    for path in &paths {
        let page = web.get(path).await;
        assert!(
            [
                StatusCode::OK,
                StatusCode::NOT_FOUND,
                StatusCode::UNPROCESSABLE_ENTITY
            ]
            .contains(&page.status),
            "{path}: {}",
            page.status
        );
        assert_page_headers(&page, path);
    }
    let anonymous = WebClient::new(&app).get("/login").await;
    assert_page_headers(&anonymous, "/login");
    // Assets are cacheable, versioned, and still framed by a policy.
    let css = web.get("/static/app.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css
        .header("cache-control")
        .is_some_and(|c| c.contains("immutable")));
    assert_eq!(
        css.header("content-security-policy"),
        Some("default-src 'none'; frame-ancestors 'none'; base-uri 'none'")
    );
    let home = web.get("/").await;
    let css_href = home.attr("link[rel=stylesheet]", "href").expect("css");
    assert!(css_href.starts_with("/static/app.css?v="), "{css_href}");
    let js_src = home.attr("script[src]", "src").expect("js");
    assert!(js_src.starts_with("/static/app.js?v="), "{js_src}");
    // The API still answers in JSON.
    let api_404 = reqwest::get(app.url("/nope")).await.expect("api");
    assert_eq!(api_404.status(), StatusCode::NOT_FOUND);
    assert!(api_404
        .headers()
        .get("content-type")
        .is_some_and(|t| t.to_str().is_ok_and(|t| t.starts_with("application/json"))));
}

#[tokio::test]
async fn the_api_never_accepts_the_cookie() {
    let app = spawn_app().await;
    let web = WebClient::login_admin(&app).await;
    let cookie = web.cookie.clone().expect("cookie");
    let r = reqwest::Client::new()
        .get(app.url("/members"))
        .header("cookie", cookie)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

/// The CSRF table: the token and the fetch-metadata/Origin layer must both agree.
#[tokio::test]
async fn forged_and_tokenless_posts_are_refused() {
    let app = spawn_app().await;
    let web = WebClient::login_admin(&app).await;
    let csrf = web.csrf().await;
    let host = web.base.trim_start_matches("http://").to_owned();
    let same_origin = format!("http://{host}");
    let member = |name: &str| {
        vec![
            ("username".to_owned(), name.to_owned()),
            ("email".to_owned(), format!("{name}@example.org")),
            ("password".to_owned(), "long-enough-password".to_owned()),
            ("role".to_owned(), "member".to_owned()),
        ]
    };
    struct Case {
        name: &'static str,
        token: Option<String>,
        headers: Vec<(&'static str, String)>,
        allowed: bool,
    }
    let cases = [
        Case {
            name: "token, no metadata",
            token: Some(csrf.clone()),
            headers: vec![],
            allowed: true,
        },
        Case {
            name: "token, same-origin",
            token: Some(csrf.clone()),
            headers: vec![("sec-fetch-site", "same-origin".into())],
            allowed: true,
        },
        Case {
            name: "token, matching origin",
            token: Some(csrf.clone()),
            headers: vec![("origin", same_origin.clone())],
            allowed: true,
        },
        Case {
            name: "no token",
            token: None,
            headers: vec![],
            allowed: false,
        },
        Case {
            name: "wrong token",
            token: Some("x".repeat(43)),
            headers: vec![],
            allowed: false,
        },
        Case {
            name: "token, cross-site",
            token: Some(csrf.clone()),
            headers: vec![("sec-fetch-site", "cross-site".into())],
            allowed: false,
        },
        Case {
            name: "token, same-site",
            token: Some(csrf.clone()),
            headers: vec![("sec-fetch-site", "same-site".into())],
            allowed: false,
        },
        Case {
            name: "token, foreign origin",
            token: Some(csrf.clone()),
            headers: vec![("origin", "http://evil.example".into())],
            allowed: false,
        },
    ];
    for (i, case) in cases.iter().enumerate() {
        let name = format!("user{i}");
        let mut fields = member(&name);
        if let Some(t) = &case.token {
            fields.push(("csrf".into(), t.clone()));
        }
        let fields: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let headers: Vec<(&'static str, &str)> =
            case.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let page = web.post_with("/members", &fields, &headers).await;
        let created = app
            .get("/members", &app.admin_token)
            .await
            .body
            .as_array()
            .is_some_and(|a| a.iter().any(|m| m["username"] == name.as_str()));
        if case.allowed {
            assert_eq!(
                page.status,
                StatusCode::SEE_OTHER,
                "{}: {}",
                case.name,
                page.body
            );
            assert!(created, "{}", case.name);
        } else {
            assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", case.name);
            assert!(!created, "{}", case.name);
            assert_page_headers(&page, case.name);
        }
    }
    // Another session's token does not fit this session.
    let other = WebClient::login_admin(&app).await;
    let other_token = other.csrf().await;
    assert_ne!(other_token, csrf);
    let page = web
        .post("/overrides/lockdown", &[("csrf", &other_token)])
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.texts("h1").contains(&"Form refused".to_owned()));
}

#[tokio::test]
async fn each_role_sees_only_its_pages() {
    let app = spawn_app().await;
    app.member_with_role("mona", "member").await;
    app.member_with_role("kees", "keyholder").await;
    let mut member = WebClient::new(&app);
    member.login("mona", "mona-password").await;
    let mut keyholder = WebClient::new(&app);
    keyholder.login("kees", "kees-password").await;

    let home = member.get("/").await;
    assert_eq!(home.status, StatusCode::SEE_OTHER);
    assert_eq!(home.location(), Some("/me"));
    let me = member.get("/me").await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.texts("nav a"), ["Me"]);
    for path in [
        "/members",
        "/members/new",
        "/approvals",
        "/rules",
        "/rules/new?type=grant",
        "/overrides",
        "/settings",
    ] {
        let page = member.get(path).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "member {path}");
        assert_eq!(page.texts("main h1"), ["Not allowed"], "member {path}");
        assert_page_headers(&page, path);
    }
    let csrf = member.csrf().await;
    let forbidden = member.post("/overrides/lockdown", &[("csrf", &csrf)]).await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    assert!(app
        .get("/access-rules", &app.admin_token)
        .await
        .body
        .as_array()
        .is_some_and(|r| r.iter().all(|r| r["rule_type"] != "global_override")));

    for path in ["/", "/members", "/approvals", "/rules"] {
        assert_eq!(
            keyholder.get(path).await.status,
            StatusCode::OK,
            "keyholder {path}"
        );
    }
    for path in ["/members/new", "/overrides", "/doors", "/allowlist"] {
        assert_eq!(
            keyholder.get(path).await.status,
            StatusCode::FORBIDDEN,
            "keyholder {path}"
        );
    }
    let nav = keyholder.get("/").await.texts("nav a");
    assert_eq!(
        nav,
        [
            "Dashboard",
            "Approvals",
            "Members",
            "Rules",
            "Audit log",
            "Me"
        ]
    );

    let anonymous = WebClient::new(&app);
    let page = anonymous.get("/members").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), Some("/login"));
}

#[tokio::test]
async fn form_errors_are_shown_next_to_their_fields() {
    let app = spawn_app().await;
    let web = WebClient::login_admin(&app).await;
    let csrf = web.csrf().await;
    let page = web
        .post(
            "/members",
            &[
                ("csrf", &csrf),
                ("username", "ok_name"),
                ("email", "not-an-email"),
                ("password", "short"),
                ("role", "member"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    let invalid: Vec<String> = {
        let html = page.html();
        let sel = scraper::Selector::parse(".field.invalid input").expect("sel");
        html.select(&sel)
            .filter_map(|e| e.value().attr("name").map(str::to_owned))
            .collect()
    };
    assert_eq!(invalid, ["email", "password"]);
    // What was typed stays; the password does not come back.
    assert_eq!(
        page.attr("input[name=username]", "value").as_deref(),
        Some("ok_name")
    );
    assert_eq!(
        page.attr("input[name=password]", "value").as_deref(),
        Some("")
    );
    assert_eq!(page.texts(".field-error").len(), 2);

    // A taken username is named at its field too.
    let taken = web
        .post(
            "/members",
            &[
                ("csrf", &csrf),
                ("username", ADMIN_USER),
                ("email", "other@example.org"),
                ("password", "long-enough-password"),
                ("role", "member"),
            ],
        )
        .await;
    assert_eq!(
        taken.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        taken.body
    );
    assert_eq!(
        taken.attr(".field.invalid input", "name").as_deref(),
        Some("username")
    );
}

#[tokio::test]
async fn members_search_and_pages() {
    let app = spawn_app().await;
    let web = WebClient::login_admin(&app).await;
    let csrf = web.csrf().await;
    for i in 0..55 {
        let name = format!("user{i:02}");
        let email = format!("{name}@example.org");
        let page = web
            .post(
                "/members",
                &[
                    ("csrf", &csrf),
                    ("username", &name),
                    ("email", &email),
                    ("password", "long-enough-password"),
                    ("role", "guest"),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    }
    let first = web.get("/members").await;
    assert_eq!(first.texts("tbody tr").len(), 50);
    assert!(first
        .texts(".paging span")
        .contains(&"Page 1 of 2".to_owned()));
    let second = web.get("/members?page=2").await;
    assert_eq!(second.texts("tbody tr").len(), 6, "55 users and the admin");
    let found = web.get("/members?q=USER1").await;
    let names = found.texts("tbody td:first-child");
    assert_eq!(names.len(), 10);
    assert!(names.iter().all(|n| n.starts_with("user1")));
}

#[tokio::test]
async fn keys_are_registered_and_revoked_with_a_reason() {
    let app = spawn_app().await;
    let web = WebClient::login_admin(&app).await;
    let csrf = web.csrf().await;
    let (id, _) = app.member_with_role("kai", "member").await;
    let bad = web
        .post(
            &format!("/members/{id}/keys"),
            &[("csrf", &csrf), ("uid", "XYZ"), ("label", "card")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        bad.attr(".field.invalid input", "name").as_deref(),
        Some("uid")
    );

    let ok = web
        .post(
            &format!("/members/{id}/keys"),
            &[
                ("csrf", &csrf),
                ("uid", "04:A1:B2:C3"),
                ("label", "card"),
                ("access_type", ""),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    let keys = app
        .get(&format!("/members/{id}/keys"), &app.admin_token)
        .await;
    assert_eq!(keys.body[0]["uid"], "04A1B2C3");
    let key_id = keys.body[0]["id"].as_str().expect("key id").to_owned();
    let page = web.get(&format!("/members/{id}")).await;
    assert!(page.texts("td.mono").contains(&"04A1B2C3".to_owned()));

    let revoked = web
        .post(
            &format!("/members/{id}/keys/{key_id}/revoke"),
            &[("csrf", &csrf), ("reason", "lost on the bus")],
        )
        .await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    let keys = app
        .get(&format!("/members/{id}/keys"), &app.admin_token)
        .await;
    assert_eq!(keys.body[0]["revoke_reason"], "lost on the bus");
    let audit = app.audit("key_revoked").await;
    assert_eq!(audit.len(), 1);
}

#[tokio::test]
async fn the_rule_preview_names_who_gains_and_who_loses_access() {
    let app = spawn_app().await;
    let web = WebClient::login_admin(&app).await;
    let csrf = web.csrf().await;
    let (guest, _) = app.member_with_role("gus", "guest").await;
    let (member, _) = app.member_with_role("meg", "member").await;
    for (m, uid) in [(&guest, "01020304"), (&member, "05060708")] {
        let r = app
            .post(
                "/nfc-keys",
                &app.admin_token,
                json!({"member_id": m, "uid": uid, "label": "card"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    }
    let rule = app
        .post(
            "/access-rules",
            &app.admin_token,
            json!({"name": "members only", "rule_type": "role_minimum", "parameters": {"min_role": "member"}, "priority": 10}),
        )
        .await;
    assert_eq!(rule.status, StatusCode::CREATED, "{:?}", rule.body);
    let id = rule.body["id"].as_str().expect("id").to_owned();

    let form = web.get(&format!("/rules/{id}")).await;
    assert_eq!(form.status, StatusCode::OK);
    assert_eq!(
        form.attr(
            "select[name='parameters.min_role'] option[selected]",
            "value"
        )
        .as_deref(),
        Some("member")
    );
    let fields = |min_role: &'static str, intent: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("name", "members only".to_owned()),
            ("parameters.min_role", min_role.to_owned()),
            ("priority", "10".to_owned()),
            ("is_active", "true".to_owned()),
            ("targets", String::new()),
            ("intent", intent.to_owned()),
        ]
    };
    let post = |f: Vec<(&'static str, String)>| {
        let web = &web;
        let id = id.clone();
        async move {
            let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            web.post(&format!("/rules/{id}"), &f).await
        }
    };
    // Raising the bar to keyholder: the member loses access, nobody gains.
    let preview = post(fields("keyholder", "preview")).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    assert_eq!(
        preview.texts("#preview h3"),
        [
            "Gain access (0)",
            "Lose access (1)",
            "Access times change (0)"
        ]
    );
    assert_eq!(preview.texts("#preview li"), ["meg – key card – zone main"]);
    // Nothing was saved by the preview.
    let stored = app
        .get(&format!("/access-rules/{id}"), &app.admin_token)
        .await;
    assert_eq!(stored.body["parameters"]["min_role"], "member");
    // Guests are not let in by lowering the bar (they need a sponsor): nothing changes.
    let preview = post(fields("guest", "preview")).await;
    assert_eq!(
        preview.texts("#preview h3"),
        [
            "Gain access (0)",
            "Lose access (0)",
            "Access times change (0)"
        ]
    );
    // A bad value is named at its field.
    let bad = post(fields("wizard", "preview")).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.texts(".field-error").len(), 1);
    // Saving goes through the API's use case and its audit.
    let saved = post(fields("keyholder", "save")).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let stored = app
        .get(&format!("/access-rules/{id}"), &app.admin_token)
        .await;
    assert_eq!(stored.body["parameters"]["min_role"], "keyholder");
    // Back to member: now the member gains access.
    let preview = post(fields("member", "preview")).await;
    assert_eq!(
        preview.texts("#preview h3"),
        [
            "Gain access (1)",
            "Lose access (0)",
            "Access times change (0)"
        ]
    );
    assert_eq!(preview.texts("#preview li"), ["meg – key card – zone main"]);
    assert_eq!(app.audit("rule_updated").await.len(), 1);
}

#[tokio::test]
async fn lockdown_and_open_until_are_overrides_that_can_be_ended() {
    let app = spawn_app().await;
    let web = WebClient::login_admin(&app).await;
    let csrf = web.csrf().await;
    let page = web.post("/overrides/lockdown", &[("csrf", &csrf)]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let rules = app.get("/access-rules", &app.admin_token).await;
    let lock = rules
        .body
        .as_array()
        .and_then(|r| r.iter().find(|r| r["rule_type"] == "global_override"))
        .cloned()
        .expect("override");
    assert_eq!(lock["parameters"], json!({"mode": "lockdown"}));
    let shown = web.get("/overrides").await;
    assert!(shown
        .texts("#active-overrides strong")
        .contains(&"Lockdown".to_owned()));
    let dash = web.get("/").await;
    assert!(dash
        .texts(".alerts li")
        .iter()
        .any(|a| a.starts_with("Lockdown is active")));

    let past = web
        .post(
            "/overrides/open",
            &[("csrf", &csrf), ("until", "2001-01-01T10:00")],
        )
        .await;
    assert_eq!(past.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        past.texts(".field-error"),
        ["Open until (UTC) must be in the future"]
    );

    let id = lock["id"].as_str().expect("id");
    let ended = web
        .post(&format!("/overrides/{id}/end"), &[("csrf", &csrf)])
        .await;
    assert_eq!(ended.status, StatusCode::SEE_OTHER);
    let after = web.get("/overrides").await;
    assert_eq!(after.texts("#no-override").len(), 1);
}

#[tokio::test]
async fn a_member_changes_their_password_and_other_sessions_end() {
    let app = spawn_app().await;
    app.member_with_role("pia", "member").await;
    let mut web = WebClient::new(&app);
    web.login("pia", "pia-password").await;
    let mut other = WebClient::new(&app);
    other.login("pia", "pia-password").await;
    let csrf = web.csrf().await;
    let wrong = web
        .post(
            "/me/password",
            &[
                ("csrf", &csrf),
                ("current_password", "nope"),
                ("new_password", "a-new-password-1"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        wrong.attr(".field.invalid input", "name").as_deref(),
        Some("current_password")
    );
    let ok = web
        .post(
            "/me/password",
            &[
                ("csrf", &csrf),
                ("current_password", "pia-password"),
                ("new_password", "a-new-password-1"),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    assert_eq!(
        web.get("/me").await.status,
        StatusCode::OK,
        "this session stays"
    );
    assert_eq!(
        other.get("/me").await.status,
        StatusCode::SEE_OTHER,
        "the other one ended"
    );
    app.login("pia", "a-new-password-1").await;
}

#[tokio::test]
async fn a_door_is_registered_with_its_token_shown_once_rotated_and_disabled() {
    let app = spawn_app().await;
    let web = WebClient::login_admin(&app).await;
    let csrf = web.csrf().await;
    let heartbeat = |token: String| {
        let url = app.url("/device/heartbeat");
        async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .json(&json!({"firmware_version": "0.1.0", "allowlist_version": 0, "uptime_seconds": 1, "free_heap": 1, "wifi_rssi": -50}))
                .send()
                .await
                .expect("heartbeat")
                .status()
        }
    };
    let empty = web.post("/doors", &[("csrf", &csrf), ("name", "  ")]).await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        empty.attr(".field.invalid input", "name").as_deref(),
        Some("name")
    );

    let page = web
        .post(
            "/doors",
            &[
                ("csrf", &csrf),
                ("name", "Front door"),
                ("location", "hall"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let token = page.texts("#door-token").pop().expect("token shown");
    assert!(token.starts_with("olt_"), "{token}");
    assert_eq!(
        page.attr("button[data-copy]", "data-copy").as_deref(),
        Some("door-token")
    );
    assert!(heartbeat(token.clone()).await.is_success());
    // Shown once: the list does not show it again.
    let list = web.get("/doors").await;
    assert!(!list.body.contains(&token));
    assert_eq!(
        list.texts("tbody td:first-child")
            .first()
            .map(|t| t.starts_with("Front door")),
        Some(true)
    );
    let taken = web
        .post("/doors", &[("csrf", &csrf), ("name", "Front door")])
        .await;
    assert_eq!(taken.status, StatusCode::UNPROCESSABLE_ENTITY);

    let id = app.get("/devices", &app.admin_token).await.body[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let rotated = web
        .post(&format!("/doors/{id}/rotate"), &[("csrf", &csrf)])
        .await;
    assert_eq!(rotated.status, StatusCode::OK);
    let new_token = rotated.texts("#door-token").pop().expect("new token");
    assert_ne!(new_token, token);
    assert_eq!(heartbeat(token).await, StatusCode::UNAUTHORIZED);
    assert!(heartbeat(new_token.clone()).await.is_success());

    let disabled = web
        .post(
            &format!("/doors/{id}/enabled"),
            &[("csrf", &csrf), ("enabled", "false")],
        )
        .await;
    assert_eq!(disabled.status, StatusCode::SEE_OTHER);
    let device = app.get(&format!("/devices/{id}"), &app.admin_token).await;
    assert_eq!(device.body["is_enabled"], false);
    assert!(!heartbeat(new_token).await.is_success());
    assert_eq!(web.get("/doors").await.texts("td .badge.off"), ["disabled"]);
}

#[tokio::test]
async fn the_allow_list_page_explains_a_decision() {
    let app = spawn_app().await;
    let web = WebClient::login_admin(&app).await;
    let (member, _) = app.member_with_role("ella", "member").await;
    let r = app
        .post(
            "/nfc-keys",
            &app.admin_token,
            json!({"member_id": member, "uid": "0A0B0C0D", "label": "card"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let api = app
        .get("/allowlist/explain?uid=0A0B0C0D", &app.admin_token)
        .await;
    assert_eq!(api.status, StatusCode::OK, "{:?}", api.body);

    let page = web.get("/allowlist?uid=0a%3A0b%3A0c%3A0d&at=").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let newest = app.get("/allowlist", &app.admin_token).await;
    let version = newest.body["version"].as_i64().expect("a list was built");
    let entries = newest.body["entry_count"].as_i64().expect("entries");
    let facts = page.texts("dl.facts dd");
    assert!(
        facts
            .iter()
            .any(|d| d.starts_with(&format!("v{version}, built"))),
        "{facts:?}"
    );
    assert!(facts.contains(&entries.to_string()), "{facts:?}");
    // The page says what the API says.
    let decision = api.body["decision"].as_str().expect("decision");
    assert_eq!(page.texts(".decision"), [decision]);
    assert!(page.texts(".explanation h2")[0].starts_with("UID 0A0B0C0D at "));

    let unknown = web.get("/allowlist?uid=DEADBEEF").await;
    assert_eq!(unknown.texts(".decision"), ["DENIED_UNKNOWN"]);
    let bad = web.get("/allowlist?uid=XYZ").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        bad.attr(".field.invalid input", "name").as_deref(),
        Some("uid")
    );
    // Online signing: there is nothing to download for offline signing.
    assert!(page.attr("a[href='/allowlist/unsigned']", "href").is_none());
}

#[tokio::test]
async fn the_week_view_draws_what_the_doors_decide_in_the_rules_time_zone() {
    let app = spawn_app().await;
    let web = WebClient::login_admin(&app).await;
    let (member, _) = app.member_with_role("wendy", "member").await;
    let (keyless, _) = app.member_with_role("kyle", "member").await;
    let r = app
        .post(
            "/nfc-keys",
            &app.admin_token,
            json!({"member_id": member, "uid": "11223344", "label": "card"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let rule = app
        .post(
            "/access-rules",
            &app.admin_token,
            json!({"name": "evenings", "rule_type": "time_window", "priority": 10,
                   "parameters": {"days": ["mon","tue","wed","thu","fri","sat","sun"], "start_hour": 17, "start_minute": 0,
                                  "end_hour": 23, "end_minute": 30, "timezone": "America/New_York"}}),
        )
        .await;
    assert_eq!(rule.status, StatusCode::CREATED, "{:?}", rule.body);

    let page = web.get(&format!("/members/{member}")).await;
    assert_eq!(page.status, StatusCode::OK);
    let open = page.texts("svg.week-view rect.wk-in title");
    assert_eq!(open.len(), 7, "{open:?}");
    for slot in &open {
        assert!(slot.ends_with(" 17:00–23:30: can enter"), "{slot}");
    }
    assert_eq!(page.texts("svg.week-view text.wk-day").len(), 7);
    assert!(page.texts("figure.week figcaption")[0].ends_with("times in America/New_York"));
    assert_page_headers(&page, "member with week view");

    // No key: never.
    let page = web.get(&format!("/members/{keyless}")).await;
    let closed = page.texts("svg.week-view rect title");
    assert_eq!(closed.len(), 7);
    assert!(
        closed
            .iter()
            .all(|t| t.ends_with(" 00:00–24:00: cannot enter")),
        "{closed:?}"
    );

    // The member sees the same on their own page.
    let mut own = WebClient::new(&app);
    own.login("wendy", "wendy-password").await;
    let me = own.get("/me").await;
    assert_eq!(me.texts("svg.week-view rect.wk-in title"), open);
}

/// Posts `fields` (owned values) as a form.
async fn post_owned(web: &WebClient, path: &str, fields: &[(&str, String)]) -> Page {
    let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    web.post(path, &f).await
}

#[tokio::test]
async fn rules_are_created_after_field_errors_and_a_preview_and_deleted_after_a_confirmation() {
    let app = spawn_app().await;
    let web = WebClient::login_admin(&app).await;
    let csrf = web.csrf().await;
    let (member, _) = app.member_with_role("meg", "member").await;
    let r = app
        .post(
            "/nfc-keys",
            &app.admin_token,
            json!({"member_id": member, "uid": "05060708", "label": "card"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let zones = app.get("/zones", &app.admin_token).await;
    let main_zone = zones.body[0]["id"].as_str().expect("main").to_owned();
    let rules_before = app.get("/access-rules", &app.admin_token).await;
    let count_before = rules_before.body.as_array().map_or(0, Vec::len);

    // The list offers every type; the form fits the type.
    let list = web.get("/rules").await;
    assert_eq!(
        list.texts("select[name=type] option"),
        [
            "time_window",
            "date_range",
            "guest_sponsor",
            "role_minimum",
            "global_override",
            "grant"
        ]
    );
    let form = web.get("/rules/new?type=time_window").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    assert_page_headers(&form, "/rules/new");
    assert_eq!(form.texts("input[name='parameters.days']").len(), 7);
    assert_eq!(
        form.attr("input[name=rule_type]", "value").as_deref(),
        Some("time_window")
    );
    assert_eq!(
        form.attr("input[name='parameters.timezone']", "value")
            .as_deref(),
        Some("UTC"),
        "a new window starts in the space's zone"
    );
    assert_eq!(
        form.attr("input[name=zone_ids]", "value").as_deref(),
        Some(main_zone.as_str())
    );
    assert_eq!(
        web.get("/rules/new?type=wizard").await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    // Bad values are named at their fields and what was typed stays.
    let window = |days: &[&str], start_hour: &str, tz: &str, intent: &str| {
        let mut f = vec![
            ("csrf", csrf.clone()),
            ("rule_type", "time_window".to_owned()),
            ("name", "weeknights".to_owned()),
            ("parameters.start_hour", start_hour.to_owned()),
            ("parameters.start_minute", "0".to_owned()),
            ("parameters.end_hour", "22".to_owned()),
            ("parameters.end_minute", "0".to_owned()),
            ("parameters.timezone", tz.to_owned()),
            ("priority", "5".to_owned()),
            ("is_active", "true".to_owned()),
            ("targets", String::new()),
            ("zone_ids", main_zone.clone()),
            ("intent", intent.to_owned()),
        ];
        for d in days {
            f.push(("parameters.days", (*d).to_owned()));
        }
        f
    };
    let bad = post_owned(&web, "/rules", &window(&[], "25", "Mars/Base", "save")).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    let invalid: Vec<String> = bad
        .html()
        .select(&scraper::Selector::parse(".field.invalid input").expect("sel"))
        .filter_map(|e| e.value().attr("name").map(str::to_owned))
        .collect();
    assert_eq!(
        invalid,
        ["parameters.start_hour", "parameters.timezone"],
        "{}",
        bad.body
    );
    assert_eq!(bad.texts("fieldset.days .field-error").len(), 1);
    assert_eq!(
        bad.attr("input[name=name]", "value").as_deref(),
        Some("weeknights")
    );
    assert_eq!(
        app.get("/access-rules", &app.admin_token)
            .await
            .body
            .as_array()
            .map_or(0, Vec::len),
        count_before,
        "nothing stored"
    );

    // A window on no day of the week would shut the member out: the preview says so.
    let preview = post_owned(
        &web,
        "/rules",
        &window(&["mon", "tue"], "18", "Europe/Berlin", "preview"),
    )
    .await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    assert_eq!(preview.texts("#preview h3").len(), 3);
    assert_eq!(
        app.audit("rule_created").await.len(),
        0,
        "a preview stores nothing"
    );
    let checked: Vec<String> = preview
        .html()
        .select(&scraper::Selector::parse("input[name='parameters.days'][checked]").expect("sel"))
        .filter_map(|e| e.value().attr("value").map(str::to_owned))
        .collect();
    assert_eq!(checked, ["mon", "tue"]);

    let saved = post_owned(
        &web,
        "/rules",
        &window(&["mon", "tue"], "18", "Europe/Berlin", "save"),
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert_eq!(saved.location(), Some("/rules?done=created"));
    let stored = app.get("/access-rules", &app.admin_token).await;
    let rule = stored
        .body
        .as_array()
        .and_then(|r| r.iter().find(|r| r["name"] == "weeknights"))
        .cloned()
        .expect("created");
    assert_eq!(rule["rule_type"], "time_window");
    assert_eq!(
        rule["parameters"],
        json!({"days": ["mon", "tue"], "start_hour": 18, "start_minute": 0,
               "end_hour": 22, "end_minute": 0, "timezone": "Europe/Berlin"})
    );
    assert_eq!(rule["priority"], 5);
    assert_eq!(rule["zone_ids"], json!([main_zone]));
    assert_eq!(app.audit("rule_created").await.len(), 1);

    // A rule that shuts members out: the preview names who loses access.
    let keyholders_only = |intent: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("rule_type", "role_minimum".to_owned()),
            ("name", "keyholders only".to_owned()),
            ("parameters.min_role", "keyholder".to_owned()),
            ("priority", "50".to_owned()),
            ("is_active", "true".to_owned()),
            ("targets", String::new()),
            ("intent", intent.to_owned()),
        ]
    };
    let preview = post_owned(&web, "/rules", &keyholders_only("preview")).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    assert_eq!(
        preview.texts("#preview h3"),
        [
            "Gain access (0)",
            "Lose access (1)",
            "Access times change (0)"
        ]
    );
    assert_eq!(preview.texts("#preview li"), ["meg – key card – zone main"]);
    let saved = post_owned(&web, "/rules", &keyholders_only("save")).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let stored = app.get("/access-rules", &app.admin_token).await;
    let id = stored
        .body
        .as_array()
        .and_then(|r| r.iter().find(|r| r["name"] == "keyholders only"))
        .and_then(|r| r["id"].as_str())
        .expect("created")
        .to_owned();

    // Deleting asks first and shows that the member gets in again.
    let edit = web.get(&format!("/rules/{id}")).await;
    assert_eq!(
        edit.attr("a[href$='/delete']", "href"),
        Some(format!("/rules/{id}/delete"))
    );
    let confirm = web.get(&format!("/rules/{id}/delete")).await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.body);
    assert_page_headers(&confirm, "delete confirmation");
    assert_eq!(
        confirm.texts("#preview h3"),
        [
            "Gain access (1)",
            "Lose access (0)",
            "Access times change (0)"
        ]
    );
    assert_eq!(confirm.texts("#preview li"), ["meg – key card – zone main"]);
    assert!(app
        .get(&format!("/access-rules/{id}"), &app.admin_token)
        .await
        .status
        .is_success());
    // Without the form's token nothing is deleted.
    let forged = web.post(&format!("/rules/{id}/delete"), &[]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let deleted = web
        .post(&format!("/rules/{id}/delete"), &[("csrf", &csrf)])
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER, "{}", deleted.body);
    assert_eq!(deleted.location(), Some("/rules?done=deleted"));
    assert_eq!(
        app.get(&format!("/access-rules/{id}"), &app.admin_token)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.audit("rule_deleted").await.len(), 1);
    assert_eq!(
        web.get(&format!("/rules/{id}/delete")).await.status,
        StatusCode::NOT_FOUND
    );

    // Only admins create and delete.
    app.member_with_role("kees", "keyholder").await;
    let mut keyholder = WebClient::new(&app);
    keyholder.login("kees", "kees-password").await;
    let kcsrf = keyholder.csrf().await;
    assert!(keyholder
        .get("/rules")
        .await
        .attr("select[name=type]", "name")
        .is_none());
    assert_eq!(
        keyholder.get("/rules/new?type=grant").await.status,
        StatusCode::FORBIDDEN
    );
    let rule_id = rule["id"].as_str().expect("id");
    assert_eq!(
        keyholder
            .get(&format!("/rules/{rule_id}/delete"))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let refused = keyholder
        .post(&format!("/rules/{rule_id}/delete"), &[("csrf", &kcsrf)])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let mut fields = keyholders_only("save");
    fields[0].1 = kcsrf.clone();
    assert_eq!(
        post_owned(&keyholder, "/rules", &fields).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.audit("rule_created").await.len(), 2);
    let anonymous = WebClient::new(&app).get("/rules/new?type=grant").await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    assert_eq!(anonymous.location(), Some("/login"));
}

#[tokio::test]
async fn rule_dates_are_typed_in_the_space_time_zone() {
    let app = spawn_app().await;
    let web = WebClient::login_admin(&app).await;
    let csrf = web.csrf().await;
    let set = web
        .post(
            "/settings",
            &[("csrf", &csrf), ("time_zone", "Europe/Berlin")],
        )
        .await;
    assert_eq!(set.status, StatusCode::SEE_OTHER, "{}", set.body);
    let range = |start: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("rule_type", "date_range".to_owned()),
            ("name", "course".to_owned()),
            ("parameters.start_date", start.to_owned()),
            ("parameters.end_date", "2030-07-01T18:00".to_owned()),
            ("parameters.grace_minutes", "15".to_owned()),
            ("priority", "0".to_owned()),
            ("is_active", "true".to_owned()),
            ("targets", "role:member".to_owned()),
            ("intent", "save".to_owned()),
        ]
    };
    let form = web.get("/rules/new?type=date_range").await;
    assert!(
        form.texts("label[for='f-parameters-start_date']")[0].contains("Europe/Berlin"),
        "{:?}",
        form.texts("label")
    );
    // 02:30 on the last Sunday of March does not happen in Berlin.
    let skipped = post_owned(&web, "/rules", &range("2030-03-31T02:30")).await;
    assert_eq!(skipped.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        skipped.texts(".field.invalid .field-error"),
        ["Start (Europe/Berlin) does not exist in Europe/Berlin (the clocks skip it)"]
    );
    let saved = post_owned(&web, "/rules", &range("2030-01-15T10:00")).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let stored = app.get("/access-rules", &app.admin_token).await;
    let rule = stored
        .body
        .as_array()
        .and_then(|r| r.iter().find(|r| r["name"] == "course"))
        .cloned()
        .expect("created");
    // Winter: UTC+1; summer: UTC+2.
    assert_eq!(rule["parameters"]["start_date"], "2030-01-15T09:00:00Z");
    assert_eq!(rule["parameters"]["end_date"], "2030-07-01T16:00:00Z");
    assert_eq!(
        rule["targets"],
        json!([{"target_type": "role", "target_value": "member"}])
    );
    // Shown back as typed, and described in the space's zone.
    let id = rule["id"].as_str().expect("id");
    let edit = web.get(&format!("/rules/{id}")).await;
    assert_eq!(
        edit.attr("input[name='parameters.start_date']", "value")
            .as_deref(),
        Some("2030-01-15T10:00")
    );
    let list = web.get("/rules").await;
    assert!(
        list.texts("td")
            .iter()
            .any(|t| t == "2030-01-15 10:00 CET to 2030-07-01 18:00 CEST"),
        "{:?}",
        list.texts("td")
    );
}

#[tokio::test]
async fn keypad_enrolment_on_me_shows_the_qr_code_once_and_wants_the_password() {
    let app = spawn_app().await;
    let (_, keyholder_token) = app.member_with_role("kees", "keyholder").await;
    app.member_with_role("mona", "member").await;
    let mut web = WebClient::new(&app);
    web.login("kees", "kees-password").await;
    let csrf = web.csrf().await;

    let me = web.get("/me").await;
    assert_eq!(me.texts("section.keypad h2"), ["My keypad codes"]);
    assert_eq!(
        me.texts("section.keypad form button"),
        [
            "Enrol my authenticator app",
            "Issue a new backup sheet (voids the old one)"
        ]
    );
    // Members hold no codes: no section, and the form is refused.
    let mut member = WebClient::new(&app);
    member.login("mona", "mona-password").await;
    assert!(member.get("/me").await.texts("section.keypad").is_empty());
    let mcsrf = member.csrf().await;
    let refused = member
        .post(
            "/me/totp",
            &[("csrf", &mcsrf), ("totp_password", "mona-password")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // A wrong password is named at the form's own field; nothing is enrolled.
    let wrong = web
        .post("/me/totp", &[("csrf", &csrf), ("totp_password", "nope")])
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        wrong.attr(".field.invalid input", "name").as_deref(),
        Some("totp_password")
    );
    assert!(wrong.attr("img.qr", "src").is_none());
    assert!(app.audit("keypad_totp_enrolled").await.is_empty());
    // Without the form's token: refused before the password is looked at.
    let forged = web
        .post("/me/totp", &[("totp_password", "kees-password")])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    let enrolled = web
        .post(
            "/me/totp",
            &[("csrf", &csrf), ("totp_password", "kees-password")],
        )
        .await;
    // The page itself answers: the secret never travels in a URL.
    assert_eq!(enrolled.status, StatusCode::OK, "{}", enrolled.body);
    assert!(enrolled.location().is_none());
    assert_eq!(enrolled.header("cache-control"), Some("no-store"));
    assert_page_headers(&enrolled, "totp enrolment");
    let secret = enrolled.texts("#totp-secret")[0].clone();
    assert_eq!(secret.len(), 32, "{secret}");
    let src = enrolled.attr("img.qr", "src").expect("qr image");
    let b64 = src
        .strip_prefix("data:image/svg+xml;base64,")
        .expect("an SVG data URI");
    let svg = data_encoding::BASE64
        .decode(b64.as_bytes())
        .expect("base64");
    let uri = crate::keypad::decode_qr(&String::from_utf8(svg).expect("utf-8"));
    assert!(
        uri.starts_with("otpauth://totp/OpenLatch:kees?")
            && uri.contains(&format!("secret={secret}")),
        "{uri}"
    );
    assert_eq!(app.audit("keypad_totp_enrolled").await.len(), 1);
    let api = app.get("/me", &keyholder_token).await;
    assert_eq!(api.body["keypad"]["totp_enrolled"], true);
    // Shown once: the page does not show it again.
    let again = web.get("/me").await;
    assert!(again.attr("img.qr", "src").is_none());
    assert!(!again.body.contains(&secret));
    assert_eq!(
        again.texts("section.keypad form button")[0],
        "Replace my authenticator secret"
    );

    // The backup sheet, likewise once.
    let sheet = web
        .post(
            "/me/backup-codes",
            &[("csrf", &csrf), ("sheet_password", "kees-password")],
        )
        .await;
    assert_eq!(sheet.status, StatusCode::OK, "{}", sheet.body);
    let codes = sheet.texts("table.codes td.mono");
    assert_eq!(codes.len(), 10);
    assert!(codes
        .iter()
        .all(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit())));
    assert_eq!(app.audit("keypad_backup_codes_issued").await.len(), 1);
    assert_eq!(
        app.get("/me", &keyholder_token).await.body["keypad"]["backup_codes_left"],
        10
    );
    assert!(web.get("/me").await.texts("table.codes td").is_empty());

    // The API's limit on wrong passwords applies: five, then a pause even for the right one.
    for _ in 0..5 {
        let w = web
            .post(
                "/me/backup-codes",
                &[("csrf", &csrf), ("sheet_password", "nope")],
            )
            .await;
        assert_eq!(w.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            w.attr(".field.invalid input", "name").as_deref(),
            Some("sheet_password")
        );
    }
    let limited = web
        .post(
            "/me/totp",
            &[("csrf", &csrf), ("totp_password", "kees-password")],
        )
        .await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.body
    );
    assert!(limited.header("retry-after").is_some());
    assert_eq!(app.audit("keypad_totp_enrolled").await.len(), 1);
}

#[tokio::test]
async fn signed_lists_are_uploaded_from_the_allow_list_page() {
    use openlatch::config::SigningMode;
    let (dir, master, prefix) = crate::allowlist::airgapped_keys();
    let master_hex = openlatch_keytool::public_key_hex(&master);
    let app = spawn_app_with(move |c| {
        c.signing_mode = SigningMode::AirGapped;
        c.master_public_key = Some(master_hex);
    })
    .await;
    let web = WebClient::login_admin(&app).await;
    let csrf = web.csrf().await;
    let page = web.get("/allowlist").await;
    assert_eq!(
        page.attr("form.upload", "enctype").as_deref(),
        Some("multipart/form-data")
    );
    let main_zone = page
        .attr("form.upload select[name=zone_id] option", "value")
        .expect("zone option");
    assert_eq!(
        page.attr("form.upload input[type=file]", "name").as_deref(),
        Some("list")
    );
    let unsigned = app
        .client
        .get(app.url(&format!("/admin/allowlist/unsigned?zone_id={main_zone}")))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .expect("download");
    let version: i64 = unsigned
        .headers()
        .get("x-openlatch-allowlist-version")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("version");
    let unsigned = unsigned.bytes().await.expect("bytes").to_vec();
    let signed = crate::allowlist::keytool_sign(dir.path(), &prefix, &unsigned);
    let fields = [("csrf", csrf.as_str()), ("zone_id", main_zone.as_str())];

    let mut tampered = signed.clone();
    tampered[20] ^= 1;
    let bad = web
        .post_file("/allowlist/signed", &fields, "list", &tampered)
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert_eq!(
        bad.attr(".field.invalid input", "name").as_deref(),
        Some("list")
    );
    assert!(
        bad.texts(".field-error")[0].contains("does not verify"),
        "{:?}",
        bad.texts(".field-error")
    );
    let empty = web
        .post_file("/allowlist/signed", &fields, "list", b"")
        .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        empty.texts(".field-error"),
        ["Signed list (.ol02) choose the signed list file"]
    );
    let forged = web
        .post_file(
            "/allowlist/signed",
            &[("zone_id", main_zone.as_str())],
            "list",
            &signed,
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(app.audit("allowlist_signed").await.is_empty());

    let good = web
        .post_file("/allowlist/signed", &fields, "list", &signed)
        .await;
    assert_eq!(good.status, StatusCode::SEE_OTHER, "{}", good.body);
    let location = good.location().expect("redirect").to_owned();
    assert_eq!(location, format!("/allowlist?uploaded={version}"));
    let after = web.get(&location).await;
    assert_eq!(
        after.texts("p.notice"),
        [format!(
            "Signed list v{version} uploaded: the zone's doors get it at their next poll."
        )]
    );
    let status = app.get("/allowlist", &app.admin_token).await;
    assert_eq!(status.body["signed_version"], version);
    assert_eq!(app.audit("allowlist_signed").await.len(), 1);
    // The same file again is not newer than what the doors were served.
    let again = web
        .post_file("/allowlist/signed", &fields, "list", &signed)
        .await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(again.texts(".field-error")[0].contains("is not newer"));
    // Only admins upload.
    app.member_with_role("kees", "keyholder").await;
    let mut keyholder = WebClient::new(&app);
    keyholder.login("kees", "kees-password").await;
    let kcsrf = keyholder.csrf().await;
    let refused = keyholder
        .post_file(
            "/allowlist/signed",
            &[("csrf", kcsrf.as_str()), ("zone_id", main_zone.as_str())],
            "list",
            &signed,
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn online_signing_offers_no_upload_and_refuses_one() {
    let app = spawn_app().await;
    let web = WebClient::login_admin(&app).await;
    let csrf = web.csrf().await;
    let page = web.get("/allowlist").await;
    assert!(page.attr("form.upload", "action").is_none());
    let zones = app.get("/zones", &app.admin_token).await;
    let main_zone = zones.body[0]["id"].as_str().expect("main").to_owned();
    let refused = web
        .post_file(
            "/allowlist/signed",
            &[("csrf", csrf.as_str()), ("zone_id", main_zone.as_str())],
            "list",
            b"OL02 not really",
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(refused.texts("p.error-text")[0].contains("air-gapped mode"));
}

#[tokio::test]
async fn the_space_time_zone_is_validated_and_used_for_times_and_the_week_view() {
    let app = spawn_app().await;
    let web = WebClient::login_admin(&app).await;
    let csrf = web.csrf().await;
    let (member, _) = app.member_with_role("wendy", "member").await;
    app.key_for(&member, "11223344").await;
    // Tokyo and Kolkata have no daylight saving time: the shift is 3:30 all year.
    let rule = app
        .post(
            "/access-rules",
            &app.admin_token,
            json!({"name": "evenings", "rule_type": "time_window", "priority": 10,
                   "parameters": {"days": ["mon","tue","wed","thu","fri","sat","sun"], "start_hour": 17, "start_minute": 0,
                                  "end_hour": 23, "end_minute": 30, "timezone": "Asia/Tokyo"}}),
        )
        .await;
    assert_eq!(rule.status, StatusCode::CREATED, "{:?}", rule.body);

    // Not set: the first time-window rule's zone, as before the setting.
    let settings = web.get("/settings").await;
    assert_eq!(settings.status, StatusCode::OK);
    assert_page_headers(&settings, "/settings");
    assert_eq!(settings.texts("strong.tz-effective"), ["Asia/Tokyo"]);
    assert_eq!(
        settings.attr("input[name=time_zone]", "value").as_deref(),
        Some("")
    );

    let bad = web
        .post(
            "/settings",
            &[("csrf", &csrf), ("time_zone", "Mars/Olympus")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        bad.texts(".field.invalid .field-error"),
        ["IANA time zone (e.g. Europe/Berlin) must be an IANA time zone name such as Europe/Berlin"]
    );
    assert_eq!(
        bad.attr("input[name=time_zone]", "value").as_deref(),
        Some("Mars/Olympus")
    );
    assert!(app.audit("settings_updated").await.is_empty());

    let saved = web
        .post(
            "/settings",
            &[("csrf", &csrf), ("time_zone", "Asia/Kolkata")],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let settings = web.get("/settings?done=saved").await;
    assert_eq!(settings.texts("strong.tz-effective"), ["Asia/Kolkata"]);
    let audit = app.audit("settings_updated").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(
        audit[0]["details"]["changes"]["time_zone"],
        json!({"from": null, "to": "Asia/Kolkata"})
    );

    // The week view is drawn in the space's zone: Tokyo 17:00–23:30 is Kolkata 13:30–20:00.
    let page = web.get(&format!("/members/{member}")).await;
    let open = page.texts("svg.week-view rect.wk-in title");
    assert_eq!(open.len(), 7, "{open:?}");
    for slot in &open {
        assert!(slot.ends_with(" 13:30–20:00: can enter"), "{slot}");
    }
    assert!(page.texts("figure.week figcaption")[0].ends_with("times in Asia/Kolkata"));

    // Times on pages, and times typed into forms, are the space's.
    let list = web.get("/allowlist").await;
    assert!(
        list.texts("dl.facts dd")
            .iter()
            .any(|d| d.contains(", built ") && d.ends_with(" IST")),
        "{:?}",
        list.texts("dl.facts dd")
    );
    let explained = web
        .get("/allowlist?uid=11223344&at=2030-01-01T10%3A00&last_shutdown=")
        .await;
    assert_eq!(explained.status, StatusCode::OK, "{}", explained.body);
    assert!(
        explained.texts(".explanation h2")[0].starts_with("UID 11223344 at 2030-01-01 10:00 IST"),
        "{:?}",
        explained.texts(".explanation h2")
    );
    let bad_shutdown = web
        .get("/allowlist?uid=11223344&last_shutdown=yesterday")
        .await;
    assert_eq!(bad_shutdown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        bad_shutdown.attr(".field.invalid input", "name").as_deref(),
        Some("last_shutdown")
    );

    // Only admins change it.
    app.member_with_role("kees", "keyholder").await;
    let mut keyholder = WebClient::new(&app);
    keyholder.login("kees", "kees-password").await;
    let kcsrf = keyholder.csrf().await;
    assert_eq!(
        keyholder.get("/settings").await.status,
        StatusCode::FORBIDDEN
    );
    let refused = keyholder
        .post("/settings", &[("csrf", &kcsrf), ("time_zone", "UTC")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(app.audit("settings_updated").await.len(), 1);
    let anonymous = WebClient::new(&app).get("/settings").await;
    assert_eq!(anonymous.location(), Some("/login"));
}

#[tokio::test]
async fn grace_after_a_power_cut_is_explained_from_the_form() {
    let app = spawn_app().await;
    let web = WebClient::login_admin(&app).await;
    let (guest, _) = app.member_with_role("gina", "guest").await;
    app.key_for(&guest, "0A0B0C0E").await;
    let now = chrono::Utc::now();
    let rfc =
        |d: chrono::DateTime<chrono::Utc>| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    // The visit ended 10 minutes ago; grace 30 minutes.
    let r = app
        .post(
            "/access-rules",
            &app.admin_token,
            json!({"name": "workshop", "rule_type": "date_range", "parameters": {
                "start_date": rfc(now - chrono::Duration::hours(3)),
                "end_date": rfc(now - chrono::Duration::minutes(10)),
                "grace_minutes": 30},
                "targets": [{"target_type": "member", "target_value": guest}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    // The space's zone is UTC here (no setting, no time window).
    let local = |d: chrono::DateTime<chrono::Utc>| d.format("%Y-%m-%dT%H%%3A%M").to_string();
    // A minute on: the form takes whole minutes, and a moment before the
    // list was built would be refused as a stale list.
    let at = local(now + chrono::Duration::minutes(1));
    let without = web.get(&format!("/allowlist?uid=0A0B0C0E&at={at}")).await;
    assert_eq!(without.status, StatusCode::OK, "{}", without.body);
    assert_eq!(without.texts(".decision"), ["DENIED_EXPIRED"]);
    // Shut down 5 minutes ago with the guest inside: grace re-entry.
    let shutdown = local(now - chrono::Duration::minutes(5));
    let with = web
        .get(&format!(
            "/allowlist?uid=0A0B0C0E&at={at}&last_shutdown={shutdown}"
        ))
        .await;
    assert_eq!(with.status, StatusCode::OK, "{}", with.body);
    assert_eq!(with.texts(".decision"), ["GRANTED_GRACE"]);
    assert_eq!(
        with.attr("input[name=last_shutdown]", "value"),
        Some(
            (now - chrono::Duration::minutes(5))
                .format("%Y-%m-%dT%H:%M")
                .to_string()
        )
    );
}

/// Keeps a heartbeat history row as the server would have at `at`.
async fn history_row(app: &crate::helpers::TestApp, door: &str, at: i64, battery: Option<i64>) {
    use openlatch::domain::device::Heartbeat;
    use openlatch::storage::device_status::{self, Status};
    let heartbeat = Heartbeat {
        firmware_version: "0.1.0".into(),
        allowlist_version: 3,
        uptime_seconds: 3600,
        free_heap: 100_000,
        wifi_rssi: -60,
        nuki_battery_percent: battery,
        nuki_battery_critical: battery.map(|_| false),
        nuki_paired: battery.map(|_| true),
        nuki_state: battery.map(|_| "locked".to_owned()),
    };
    let status = Status {
        device_id: door.parse().expect("door id"),
        received_at: at,
        heartbeat,
    };
    let body = serde_json::to_string(&status.heartbeat).expect("json");
    let mut tx = app.app.db.begin().await.expect("tx");
    assert!(device_status::record_history(&mut tx, &status, &body)
        .await
        .expect("history"));
    tx.commit().await.expect("commit");
}

#[tokio::test]
async fn a_doors_page_shows_its_state_heartbeat_history_and_battery_chart() {
    let app = spawn_app().await;
    let web = WebClient::login_admin(&app).await;
    let (id, token) = app.device("Front door").await;
    let now = chrono::Utc::now().timestamp();
    let hour = 3600;
    // Oldest first, as the server writes them (one row per 5 minutes at most).
    history_row(&app, &id, now - 31 * 86_400, Some(99)).await;
    for i in 0..55 {
        history_row(&app, &id, now - 30 * hour + i * 600, None).await;
    }
    // One reading per chart bucket at most: the last of the bucket counts.
    let bucket = openlatch::app::ui::door::CHART_BUCKET_SECS;
    let base = now / bucket * bucket;
    history_row(&app, &id, base - 3 * bucket + 100, Some(90)).await;
    history_row(&app, &id, base - 2 * bucket + 100, Some(-1)).await;
    history_row(&app, &id, base - bucket + 100, Some(86)).await;
    history_row(&app, &id, base - bucket + 1000, Some(85)).await;
    let hb = app
        .post(
            "/device/heartbeat",
            &token,
            json!({"firmware_version": "0.2.0", "allowlist_version": 0, "uptime_seconds": 90_000,
                   "free_heap": 1, "wifi_rssi": -50, "nuki_battery_percent": 77,
                   "nuki_battery_critical": false, "nuki_paired": true, "nuki_state": "locked"}),
        )
        .await;
    assert_eq!(hb.status, StatusCode::OK, "{:?}", hb.body);

    let page = web.get(&format!("/doors/{id}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_page_headers(&page, "/doors/{id}");
    assert_eq!(page.texts("main h1"), ["Front door"]);
    let facts = page.texts("dl.facts dd");
    assert_eq!(facts[1], "main", "{facts:?}");
    assert!(facts[2].contains("online"), "{facts:?}");
    assert!(facts[4].contains("firmware 0.2.0"), "{facts:?}");
    assert!(
        facts[5].starts_with("v0 in use, newest for zone main v"),
        "{facts:?}"
    );
    assert!(facts[5].contains("behind"), "{facts:?}");
    assert!(facts[6].starts_with("locked, battery 77%"), "{facts:?}");
    // The list links to the page.
    let list = web.get("/doors").await;
    assert_eq!(
        list.attr("tbody td a", "href"),
        Some(format!("/doors/{id}"))
    );

    // The chart: the last reading of each bucket in the last 30 days (not
    // the 31-day-old one, not the unknown -1, not 86 % of the bucket that
    // ends with 85 %), the newest last.
    let points = page
        .attr("svg.battery-chart polyline", "points")
        .expect("battery line");
    assert_eq!(points.split(' ').count(), 3, "{points}");
    assert!(page
        .texts("figure.battery figcaption")
        .first()
        .is_some_and(|c| c.starts_with("Last reading 77%, lowest 77%")));
    let ys: Vec<f64> = points
        .split(' ')
        .map(|p| p.split(',').nth(1).and_then(|y| y.parse().ok()).expect("y"))
        .collect();
    assert!(
        ys.windows(2).all(|w| w[0] < w[1]),
        "draining battery: {ys:?}"
    );

    // History: 61 rows kept, 50 a page, newest first.
    let rows = page.texts("table.heartbeats tbody tr td:first-child");
    assert_eq!(rows.len(), 50);
    let batteries = page.texts("table.heartbeats tbody tr td:nth-child(6)");
    assert_eq!(batteries[..5], ["77%", "85%", "86%", "unknown", "90%"]);
    let next = page.attr("#heartbeats a[rel=next]", "href").expect("older");
    let older = web.get(&next).await;
    assert_eq!(older.status, StatusCode::OK);
    assert_eq!(older.texts("table.heartbeats tbody tr").len(), 11);
    assert!(older.attr("#heartbeats a[rel=next]", "href").is_none());
    assert_eq!(
        older
            .texts("table.heartbeats tbody tr td:nth-child(6)")
            .last()
            .map(String::as_str),
        Some("99%")
    );

    // Admin only, like GET /api/v1/devices/{id}.
    app.member_with_role("kees", "keyholder").await;
    let mut keyholder = WebClient::new(&app);
    keyholder.login("kees", "kees-password").await;
    let denied = keyholder.get(&format!("/doors/{id}")).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert_page_headers(&denied, "/doors/{id} as keyholder");
    let anonymous = WebClient::new(&app).get(&format!("/doors/{id}")).await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    assert_eq!(anonymous.location(), Some("/login"));
    let missing = web.get(&format!("/doors/{}", uuid::Uuid::new_v4())).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_door_without_readings_says_so_instead_of_drawing() {
    let app = spawn_app().await;
    let web = WebClient::login_admin(&app).await;
    let (id, _) = app.device("Back door").await;
    let page = web.get(&format!("/doors/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.attr("svg.battery-chart", "viewBox").is_none());
    assert!(page
        .texts("main p.muted")
        .iter()
        .any(|t| t == "No battery readings in the last 30 days."));
    assert!(page.texts("dl.facts dd").contains(&"never".to_owned()));
}

#[tokio::test]
async fn a_door_is_renamed_and_moved_through_the_audited_use_case() {
    let app = spawn_app().await;
    let web = WebClient::login_admin(&app).await;
    let csrf = web.csrf().await;
    let (id, _) = app.device("Front door").await;
    app.device("Back door").await;
    let r = app
        .post(
            "/zones",
            &app.admin_token,
            json!({"name": "workshop", "default_presence": "granted"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let workshop = r.body["id"].as_str().expect("zone id").to_owned();
    let path = format!("/doors/{id}");
    let form = web.get(&path).await;
    let offered: Vec<String> = form.texts("select[name=zone_id] option");
    assert_eq!(offered, ["main", "workshop"]);

    let empty = web
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("name", " "),
                ("location", ""),
                ("zone_id", "nope"),
            ],
        )
        .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(empty
        .texts(".field-error")
        .iter()
        .any(|t| t.starts_with("Name ")));
    assert!(empty
        .texts(".field-error")
        .iter()
        .any(|t| t.starts_with("Zone ")));
    assert_eq!(
        empty
            .attr("select[name=zone_id]", "aria-invalid")
            .as_deref(),
        Some("true")
    );
    let taken = web
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("name", "Back door"),
                ("location", ""),
                ("zone_id", &workshop),
            ],
        )
        .await;
    assert_eq!(taken.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        taken.attr(".field.invalid input", "name").as_deref(),
        Some("name")
    );
    // A keyholder may not edit a door.
    app.member_with_role("kees", "keyholder").await;
    let mut keyholder = WebClient::new(&app);
    keyholder.login("kees", "kees-password").await;
    let kh_csrf = keyholder.csrf().await;
    let refused = keyholder
        .post(
            &path,
            &[
                ("csrf", &kh_csrf),
                ("name", "Mine"),
                ("location", ""),
                ("zone_id", &workshop),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(app.audit("device_updated").await.is_empty());

    let saved = web
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("name", "Workshop door"),
                ("location", "yard"),
                ("zone_id", &workshop),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert_eq!(
        saved.location(),
        Some(format!("/doors/{id}?done=saved").as_str())
    );
    let device = app
        .get(&path.replace("/doors/", "/devices/"), &app.admin_token)
        .await;
    assert_eq!(device.body["name"], "Workshop door");
    assert_eq!(device.body["location"], "yard");
    assert_eq!(device.body["zone_id"], workshop.as_str());
    let moved = app.audit("device_moved").await;
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0]["target_id"], id.as_str());
    assert_eq!(moved[0]["details"]["from_zone"], "main");
    assert_eq!(moved[0]["details"]["to_zone"], "workshop");
    assert_eq!(app.audit("device_updated").await.len(), 1);
    let page = web.get(&format!("/doors/{id}?done=saved")).await;
    assert_eq!(page.texts("main h1"), ["Workshop door"]);
    assert_eq!(page.texts("p.notice"), ["Saved."]);
    assert_eq!(page.texts("dl.facts dd")[1], "workshop");

    // Clearing the location, as in the API.
    let cleared = web
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("name", "Workshop door"),
                ("location", " "),
                ("zone_id", &workshop),
            ],
        )
        .await;
    assert_eq!(cleared.status, StatusCode::SEE_OTHER);
    let device = app
        .get(&path.replace("/doors/", "/devices/"), &app.admin_token)
        .await;
    assert!(device.body["location"].is_null(), "{:?}", device.body);
    assert_eq!(app.audit("device_moved").await.len(), 1, "not moved again");
}

#[tokio::test]
async fn a_key_is_registered_from_a_doors_denied_tap() {
    let app = spawn_app().await;
    let web = WebClient::login_admin(&app).await;
    let csrf = web.csrf().await;
    let (kai, _) = app.member_with_role("kai", "member").await;
    let (owner, _) = app.member_with_role("olga", "member").await;
    app.key_for(&owner, "0A0B0C0D").await;
    let (_, token) = app.device("Front door").await;
    let now = chrono::Utc::now().timestamp();
    let r = app
        .post(
            "/device/events",
            &token,
            json!([
                {"uid": "11223344", "event": "access_denied", "timestamp": now - 60, "seq": 1},
                {"uid": "0A0B0C0D", "event": "access_denied", "timestamp": now - 50, "seq": 2},
                {"uid": "AABBCCDD", "event": "access_denied", "timestamp": now - 40, "seq": 3},
                {"uid": "11223344", "event": "access_denied", "timestamp": now - 30, "seq": 4},
                {"uid": "55667788", "event": "access_granted", "timestamp": now - 20, "seq": 5},
            ]),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["accepted"], 5);

    let path = format!("/members/{kai}");
    let page = web.get(&path).await;
    let radios = |p: &Page| -> Vec<String> {
        let sel = scraper::Selector::parse("input[name=uid_from]").expect("selector");
        p.html()
            .select(&sel)
            .filter_map(|e| e.value().attr("value").map(str::to_owned))
            .collect()
    };
    // Newest first, each UID once; the known card and the granted tap are not offered.
    assert_eq!(radios(&page), ["11223344", "AABBCCDD", ""]);
    assert!(page
        .texts("fieldset.taps label")
        .first()
        .is_some_and(|l| l.starts_with("11223344 at Front door")));
    assert_eq!(
        page.attr("input[name=uid_from][checked]", "value")
            .as_deref(),
        Some("")
    );

    let both = web
        .post(
            &format!("/members/{kai}/keys"),
            &[
                ("csrf", &csrf),
                ("uid_from", "AABBCCDD"),
                ("uid", "01020304"),
                ("label", "card"),
            ],
        )
        .await;
    assert_eq!(both.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        both.attr(".field.invalid input", "name").as_deref(),
        Some("uid")
    );
    assert_eq!(
        both.attr("input[name=uid_from][checked]", "value")
            .as_deref(),
        Some("AABBCCDD")
    );

    let ok = web
        .post(
            &format!("/members/{kai}/keys"),
            &[
                ("csrf", &csrf),
                ("uid_from", "11223344"),
                ("uid", ""),
                ("label", "tapped card"),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    let keys = app
        .get(&format!("/members/{kai}/keys"), &app.admin_token)
        .await;
    assert_eq!(keys.body[0]["uid"], "11223344");
    assert_eq!(keys.body[0]["label"], "tapped card");
    let registered = app.audit("key_registered").await;
    assert_eq!(registered[0]["target_id"], keys.body[0]["id"]);
    // Registered: no longer offered.
    assert_eq!(radios(&web.get(&path).await), ["AABBCCDD", ""]);
    // A keyholder reads the member page without the key form or the taps.
    app.member_with_role("kees", "keyholder").await;
    let mut keyholder = WebClient::new(&app);
    keyholder.login("kees", "kees-password").await;
    let read_only = keyholder.get(&path).await;
    assert_eq!(read_only.status, StatusCode::OK);
    assert!(radios(&read_only).is_empty());
}

#[tokio::test]
async fn the_audit_log_filters_pages_and_downloads_the_same_view_as_csv() {
    let app = spawn_app().await;
    let web = WebClient::login_admin(&app).await;
    let (mona, _) = app.member_with_role("mona", "member").await;
    app.member_with_role("kees", "keyholder").await;
    let (door, token) = app.device("Front door").await;
    let now = chrono::Utc::now().timestamp();
    let batch: Vec<serde_json::Value> = (0..60)
        .map(|i| json!({"uid": "11223344", "event": "access_denied", "timestamp": now - 600 + i, "seq": i}))
        .collect();
    let r = app.post("/device/events", &token, json!(batch)).await;
    assert_eq!(r.body["accepted"], 60, "{:?}", r.body);

    // Type: 50 a page, newest first, then the other 10.
    let page = web.get("/audit-log?event_type=access_denied").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_page_headers(&page, "/audit-log");
    assert_eq!(page.texts("nav a[aria-current=page]"), ["Audit log"]);
    let events = page.texts("table.audit tbody td:nth-child(2)");
    assert_eq!(events.len(), 50);
    assert!(events.iter().all(|e| e == "access_denied"));
    assert!(page
        .texts("table.audit tbody td:nth-child(3)")
        .iter()
        .all(|a| a == "door Front door"));
    assert_eq!(
        page.attr("input[name=event_type]", "value").as_deref(),
        Some("access_denied")
    );
    let next = page.attr("nav.paging a[rel=next]", "href").expect("next");
    assert_eq!(next, "/audit-log?event_type=access_denied&page=2");
    let second = web.get(&next).await;
    assert_eq!(second.texts("table.audit tbody tr").len(), 10);
    assert!(second.attr("nav.paging a[rel=next]", "href").is_none());
    assert_eq!(
        second.attr("nav.paging a[rel=prev]", "href").as_deref(),
        Some("/audit-log?event_type=access_denied&page=1")
    );
    let first_time = page.texts("table.audit tbody td:first-child")[0].clone();
    let last_time = second.texts("table.audit tbody td:first-child")[9].clone();
    assert!(first_time > last_time, "{first_time} after {last_time}");

    // Actor and target by name or id.
    let by_admin = web.get("/audit-log?actor=admin").await;
    let actors = by_admin.texts("table.audit tbody td:nth-child(3)");
    assert!(!actors.is_empty());
    assert!(actors.iter().all(|a| a == "admin"), "{actors:?}");
    let events = by_admin.texts("table.audit tbody td:nth-child(2)");
    assert!(
        events.contains(&"device_registered".to_owned()),
        "{events:?}"
    );
    assert!(!events.contains(&"access_denied".to_owned()));
    let by_door = web.get(&format!("/audit-log?actor={door}")).await;
    assert_eq!(by_door.texts("table.audit tbody tr").len(), 50);
    let about_mona = web.get("/audit-log?target=mona").await;
    let targets = about_mona.texts("table.audit tbody td:nth-child(4)");
    assert!(!targets.is_empty());
    assert!(targets.iter().all(|t| t == "mona"), "{targets:?}");
    assert!(about_mona
        .texts("table.audit tbody td:nth-child(2)")
        .contains(&"member_created".to_owned()));
    let same = web.get(&format!("/audit-log?target={mona}")).await;
    assert_eq!(
        same.texts("table.audit tbody tr"),
        about_mona.texts("table.audit tbody tr")
    );
    let nobody = web.get("/audit-log?actor=nobody&target=nothing").await;
    assert_eq!(nobody.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        nobody.attr("#f-actor", "aria-invalid").as_deref(),
        Some("true")
    );
    assert_eq!(
        nobody.attr("#f-target", "aria-invalid").as_deref(),
        Some("true")
    );
    assert_page_headers(&nobody, "/audit-log with errors");

    // Time range: from is included, until is not.
    let later = chrono::DateTime::from_timestamp(now + 3600, 0)
        .expect("time")
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let future = web.get(&format!("/audit-log?since={later}")).await;
    assert_eq!(future.status, StatusCode::OK);
    assert!(future.texts("table.audit tbody tr").is_empty());
    assert!(future
        .texts("main p.muted")
        .contains(&"No entries match.".to_owned()));
    let window = web
        .get(&format!(
            "/audit-log?event_type=access_denied&since={}&until={}",
            // What a datetime-local input with seconds sends.
            chrono::DateTime::from_timestamp(now - 600 + 10, 0)
                .expect("t")
                .format("%Y-%m-%dT%H:%M:%S"),
            chrono::DateTime::from_timestamp(now - 600 + 20, 0)
                .expect("t")
                .format("%Y-%m-%dT%H:%M:%S"),
        ))
        .await;
    assert_eq!(window.status, StatusCode::OK, "{}", window.body);
    assert_eq!(window.texts("table.audit tbody tr").len(), 10);
    let backwards = web
        .get("/audit-log?since=2026-02-01&until=2026-01-01")
        .await;
    assert_eq!(backwards.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        backwards.attr("#f-until", "aria-invalid").as_deref(),
        Some("true")
    );
    let garbage = web
        .get("/audit-log?since=yesterday&event_type=Bad-Type")
        .await;
    assert_eq!(garbage.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        garbage.attr("#f-since", "aria-invalid").as_deref(),
        Some("true")
    );

    // CSV of the filtered view: the link carries the filters, and the file
    // is what the API exports for the same filter.
    let csv_link = page.attr("a[download]", "href").expect("csv link");
    assert_eq!(csv_link, "/audit-log.csv?event_type=access_denied");
    let csv = web.get(&csv_link).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    assert_eq!(csv.header("cache-control"), Some("no-store"));
    let mut reader = csv::Reader::from_reader(csv.body.as_bytes());
    assert_eq!(
        reader.headers().expect("header").iter().collect::<Vec<_>>(),
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
    assert_eq!(rows.len(), 60);
    assert!(rows
        .iter()
        .all(|r| &r[2] == "access_denied" && r[3] == door));
    let api_csv = reqwest::Client::new()
        .get(app.url("/audit-log?event_type=access_denied&format=csv"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .expect("api csv")
        .text()
        .await
        .expect("body");
    assert_eq!(csv.body, api_csv);
    let mona_csv = web.get("/audit-log.csv?target=mona").await;
    let mona_rows: Vec<csv::StringRecord> = csv::Reader::from_reader(mona_csv.body.as_bytes())
        .records()
        .map(|r| r.expect("row"))
        .collect();
    assert_eq!(mona_rows.len(), targets.len());
    assert!(mona_rows.iter().all(|r| r[4] == mona));
    let bad_csv = web.get("/audit-log.csv?actor=nobody").await;
    assert_eq!(bad_csv.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Keyholders read it as in the API; members do not.
    let mut keyholder = WebClient::new(&app);
    keyholder.login("kees", "kees-password").await;
    assert_eq!(keyholder.get("/audit-log").await.status, StatusCode::OK);
    assert_eq!(keyholder.get("/audit-log.csv").await.status, StatusCode::OK);
    let mut member = WebClient::new(&app);
    member.login("mona", "mona-password").await;
    for path in ["/audit-log", "/audit-log.csv"] {
        let page = member.get(path).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "member {path}");
        assert!(!page.body.contains("access_denied"));
    }
    assert!(!member
        .get("/me")
        .await
        .texts("nav a")
        .contains(&"Audit log".to_owned()));
    for path in ["/audit-log", "/audit-log.csv"] {
        let page = WebClient::new(&app).get(path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "anonymous {path}");
        assert_eq!(page.location(), Some("/login"));
    }
}

#[tokio::test]
async fn an_admin_enrols_a_keyholders_keypad_codes_from_the_member_page() {
    let app = spawn_app().await;
    let (kees, _) = app.member_with_role("kees", "keyholder").await;
    let (mona, _) = app.member_with_role("mona", "member").await;
    let web = WebClient::login_admin(&app).await;
    let csrf = web.csrf().await;

    let page = web.get(&format!("/members/{kees}")).await;
    assert_eq!(
        page.texts("section.keypad form button"),
        ["Enrol authenticator", "Issue backup codes"]
    );
    // A member holds no codes: no section, and a post is refused.
    let page = web.get(&format!("/members/{mona}")).await;
    assert!(page.texts("section.keypad").is_empty());
    let refused = web
        .post(&format!("/members/{mona}/keypad/totp"), &[("csrf", &csrf)])
        .await;
    assert!(refused.status.is_client_error(), "{}", refused.status);
    assert!(refused.attr("img.qr", "src").is_none());
    // Without the form's token nothing happens.
    let forged = web.post(&format!("/members/{kees}/keypad/totp"), &[]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(app.audit("keypad_totp_enrolled").await.is_empty());

    let enrolled = web
        .post(&format!("/members/{kees}/keypad/totp"), &[("csrf", &csrf)])
        .await;
    assert_eq!(enrolled.status, StatusCode::OK, "{}", enrolled.body);
    assert!(enrolled.location().is_none());
    assert_eq!(enrolled.header("cache-control"), Some("no-store"));
    let secret = enrolled.texts("#totp-secret")[0].clone();
    let src = enrolled.attr("img.qr", "src").expect("qr image");
    let svg = data_encoding::BASE64
        .decode(
            src.strip_prefix("data:image/svg+xml;base64,")
                .expect("an SVG data URI")
                .as_bytes(),
        )
        .expect("base64");
    let uri = crate::keypad::decode_qr(&String::from_utf8(svg).expect("utf-8"));
    assert!(
        uri.starts_with("otpauth://totp/OpenLatch:kees?")
            && uri.contains(&format!("secret={secret}")),
        "{uri}"
    );
    assert_eq!(app.audit("keypad_totp_enrolled").await.len(), 1);

    let sheet = web
        .post(
            &format!("/members/{kees}/keypad/backup-codes"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(sheet.status, StatusCode::OK, "{}", sheet.body);
    assert_eq!(sheet.texts("table.codes tbody tr").len(), 10);
    let api = app.get(&format!("/members/{kees}"), &app.admin_token).await;
    assert_eq!(api.body["keypad"]["backup_codes_left"], 10, "{}", api.body);
    assert_eq!(api.body["keypad"]["totp_enrolled"], true, "{}", api.body);

    // A keyholder may read member pages but not enrol anyone.
    let mut keyholder = WebClient::new(&app);
    keyholder.login("kees", "kees-password").await;
    let kcsrf = keyholder.csrf().await;
    let denied = keyholder
        .post(&format!("/members/{kees}/keypad/totp"), &[("csrf", &kcsrf)])
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert_eq!(app.audit("keypad_totp_enrolled").await.len(), 1);
}
