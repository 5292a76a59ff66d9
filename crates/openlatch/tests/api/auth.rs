use crate::helpers::{spawn_app, ADMIN_PASSWORD, ADMIN_USER};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn login_returns_a_bearer_token_for_15_minutes() {
    let app = spawn_app().await;
    let r = app.try_login(ADMIN_USER, ADMIN_PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["token_type"], "bearer");
    assert_eq!(r.body["expires_in"], 900);
    let token = r.body["access_token"].as_str().expect("token");
    assert_eq!(app.get("/me", token).await.body["username"], ADMIN_USER);
}

#[tokio::test]
async fn unknown_user_and_wrong_password_look_the_same_and_are_audited_without_the_password() {
    let app = spawn_app().await;
    let wrong = app.try_login(ADMIN_USER, "not-the-password-xyz").await;
    let unknown = app.try_login("nobody", "not-the-password-xyz").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.body, unknown.body);

    let failures = app.audit("login_failed").await;
    assert_eq!(failures.len(), 2);
    let text = serde_json::to_string(&failures).expect("json");
    assert!(!text.contains("not-the-password-xyz"), "{text}");
    // What was typed as an unknown name may be a password: it is not kept.
    assert!(!text.contains("nobody"), "{text}");
    assert_eq!(failures[0]["details"]["username_known"], false);
    assert_eq!(failures[1]["details"]["username"], ADMIN_USER);
    assert_eq!(failures[0]["details"]["reason"], "unknown_user");
    assert_eq!(failures[1]["details"]["reason"], "wrong_password");
    assert_eq!(failures[1]["details"]["client_addr"], "127.0.0.1");
}

#[tokio::test]
async fn repeated_failures_back_off_per_username_and_address() {
    let app = spawn_app().await;
    for _ in 0..5 {
        let r = app.try_login(ADMIN_USER, "wrong-password-123").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    // Blocked now, even with the right password.
    let r = app.try_login(ADMIN_USER, ADMIN_PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers["retry-after"]
        .to_str()
        .expect("header")
        .parse()
        .expect("seconds");
    assert!((1..=30).contains(&retry), "retry-after {retry}");
    assert_eq!(r.body["error"]["code"], "rate_limited");

    // Another username from the same address is not locked out by it.
    let (_, _) = app.member_with_role("carol", "member").await;
}

#[tokio::test]
async fn refresh_gives_a_new_token_and_needs_a_valid_one() {
    let app = spawn_app().await;
    let r = app
        .request(Method::POST, "/auth/refresh", Some(&app.admin_token), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let fresh = r.body["access_token"].as_str().expect("token");
    assert_eq!(app.get("/me", fresh).await.status, StatusCode::OK);

    assert_eq!(
        app.request(Method::POST, "/auth/refresh", None, None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let r = app
        .request(
            Method::POST,
            "/auth/refresh",
            Some("garbage.token.here"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers["www-authenticate"], "Bearer");
}

#[tokio::test]
async fn a_deactivated_members_token_stops_working_at_once() {
    let app = spawn_app().await;
    let (id, token) = app.member_with_role("dave", "member").await;
    assert_eq!(app.get("/me", &token).await.status, StatusCode::OK);
    let r = app
        .delete(&format!("/members/{id}"), &app.admin_token)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/me", &token).await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = app.try_login("dave", "dave-password").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.audit("login_failed").await[0]["details"]["reason"],
        "inactive"
    );
}

#[tokio::test]
async fn a_demotion_takes_effect_on_the_next_request() {
    let app = spawn_app().await;
    let (id, token) = app.member_with_role("erin", "admin").await;
    assert_eq!(app.get("/devices", &token).await.status, StatusCode::OK);
    let r = app
        .put(
            &format!("/members/{id}"),
            &app.admin_token,
            json!({ "role": "member" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        app.get("/devices", &token).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn changing_ones_password_ends_the_other_sessions() {
    let app = spawn_app().await;
    let (_, first) = app.member_with_role("frank", "member").await;
    let second = app.login("frank", "frank-password").await;

    let r = app
        .put(
            "/me/password",
            &first,
            json!({ "current_password": "wrong-current-pw", "new_password": "a-brand-new-password" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.field("current_password").is_some());

    let r = app
        .put(
            "/me/password",
            &first,
            json!({ "current_password": "frank-password", "new_password": "short" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.field("new_password").is_some());

    let r = app
        .put(
            "/me/password",
            &first,
            json!({ "current_password": "frank-password", "new_password": "a-brand-new-password" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/me", &first).await.status, StatusCode::OK);
    assert_eq!(
        app.get("/me", &second).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.try_login("frank", "frank-password").await.status,
        StatusCode::UNAUTHORIZED
    );
    app.login("frank", "a-brand-new-password").await;
    assert_eq!(app.audit("password_changed").await.len(), 1);
}

#[tokio::test]
async fn an_admin_password_reset_ends_the_members_sessions() {
    let app = spawn_app().await;
    let (id, token) = app.member_with_role("gina", "member").await;
    let r = app
        .put(
            &format!("/members/{id}"),
            &app.admin_token,
            json!({ "password": "reset-by-admin-1" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        app.get("/me", &token).await.status,
        StatusCode::UNAUTHORIZED
    );
    app.login("gina", "reset-by-admin-1").await;
    let updates = app.audit("member_updated").await;
    assert_eq!(updates[0]["details"]["changes"]["password"], "changed");
    assert!(!serde_json::to_string(&updates)
        .expect("json")
        .contains("reset-by-admin-1"));
}

#[tokio::test]
async fn malformed_json_is_400_and_unknown_fields_are_422() {
    let app = spawn_app().await;
    let r = app
        .client
        .post(app.url("/auth/login"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    let r = app
        .request(
            Method::POST,
            "/auth/login",
            None,
            Some(json!({ "username": "a", "password": "b", "otp": "1" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.field("otp"), Some("is not a known field"));

    let r = app
        .request(
            Method::POST,
            "/auth/login",
            None,
            Some(json!({ "username": "a" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.field("password"), Some("is required"));
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let app = spawn_app().await;
    let huge = "x".repeat(100 * 1024);
    let r = app
        .request(
            Method::POST,
            "/auth/login",
            None,
            Some(json!({ "username": huge, "password": "b" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.body["error"]["code"], "payload_too_large");
}

#[tokio::test]
async fn device_tokens_are_refused_on_the_admin_api() {
    let app = spawn_app().await;
    let (_, device_token) = app.device("front-door").await;
    assert_eq!(
        app.get("/me", &device_token).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/members", &device_token).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn logout_ends_the_session_behind_the_token_only() {
    let app = spawn_app().await;
    let first = app.login(ADMIN_USER, ADMIN_PASSWORD).await;
    let second = app.login(ADMIN_USER, ADMIN_PASSWORD).await;
    let refreshed = app.post("/auth/refresh", &first, json!({})).await.body["access_token"]
        .as_str()
        .expect("token")
        .to_owned();

    let r = app
        .request(Method::POST, "/auth/logout", Some(&first), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    // Every token of that login is dead, the other login lives on.
    assert_eq!(
        app.get("/me", &first).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/me", &refreshed).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.get("/me", &second).await.status, StatusCode::OK);
    let again = app
        .request(Method::POST, "/auth/logout", Some(&first), None)
        .await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert!(!app.audit("logged_out").await.is_empty());
}

#[tokio::test]
async fn logout_all_ends_every_session_of_the_caller_and_no_one_elses() {
    let app = spawn_app().await;
    let (_, bob) = app.member_with_role("bob", "member").await;
    let bob_elsewhere = app.login("bob", "bob-password").await;
    let r = app
        .request(Method::POST, "/auth/logout-all", Some(&bob), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    assert_eq!(app.get("/me", &bob).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.get("/me", &bob_elsewhere).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/me", &app.admin_token).await.status,
        StatusCode::OK
    );
    let anonymous = app
        .request(Method::POST, "/auth/logout-all", None, None)
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_password_typed_as_the_username_never_reaches_the_audit_log() {
    let app = spawn_app().await;
    let (_, keyholder) = app.member_with_role("kim", "keyholder").await;
    let typed = "Tr0ub4dor&3-my-real-password";
    let r = app.try_login(typed, "").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let seen = app
        .get("/audit-log?event_type=login_failed", &keyholder)
        .await;
    assert_eq!(seen.status, StatusCode::OK);
    let text = seen.body.to_string();
    assert!(!text.to_lowercase().contains("tr0ub4dor"), "{text}");
    assert_eq!(seen.body[0]["details"]["reason"], "unknown_user");
}

/// Parallel wrong passwords for one user from one address: each attempt is
/// counted before its password is checked, so at most the free five are
/// checked, whatever the timing.
#[tokio::test]
async fn a_parallel_burst_cannot_get_around_the_login_limit() {
    let app = spawn_app().await;
    let attempts =
        (0..40)
            .map(|i| {
                let client = app.client.clone();
                let url = app.url("/auth/login");
                tokio::spawn(async move {
                    client
                .post(url)
                .json(&json!({"username": ADMIN_USER, "password": format!("wrong-password-{i}")}))
                .send()
                .await
                .expect("request")
                .status()
                })
            })
            .collect::<Vec<_>>();
    let mut statuses = Vec::new();
    for a in attempts {
        statuses.push(a.await.expect("task"));
    }
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(
        checked <= 5,
        "{checked} wrong passwords were checked: {statuses:?}"
    );
    assert!(limited >= 35 - 5, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| [
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::SERVICE_UNAVAILABLE
        ]
        .contains(s)),
        "{statuses:?}"
    );
    // Blocked now, even with the right password.
    let r = app.try_login(ADMIN_USER, ADMIN_PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
}

/// Past the bounded queue of password checks the server answers 503 with
/// Retry-After instead of holding 19 MiB per waiting login.
#[tokio::test]
async fn a_login_flood_past_the_password_workers_gets_503_with_retry_after() {
    let app = crate::helpers::spawn_app_with(|c| {
        c.password_workers = 1;
        c.trusted_proxies = vec!["127.0.0.1".parse().expect("ip")];
    })
    .await;
    // Each from its own address, so the login limiter stays out of the way.
    let attempts = (0..60)
        .map(|i| {
            let client = app.client.clone();
            let url = app.url("/auth/login");
            tokio::spawn(async move {
                let r = client
                    .post(url)
                    .header(
                        "x-forwarded-for",
                        format!("10.1.{}.{}", i / 200, i % 200 + 1),
                    )
                    .json(&json!({"username": format!("user{i}"), "password": "whatever-password"}))
                    .send()
                    .await
                    .expect("request");
                (r.status(), r.headers().get("retry-after").cloned())
            })
        })
        .collect::<Vec<_>>();
    let mut busy = 0;
    for a in attempts {
        let (status, retry_after) = a.await.expect("task");
        match status {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(retry_after.is_some(), "503 without Retry-After");
                busy += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    // One running and 8 waiting at any moment; a few more finish while the
    // 60 requests arrive, most are refused.
    assert!(
        busy >= 30,
        "only {busy} of 60 were refused with one worker and 8 waiting"
    );
}

/// The same burst split over two instances on one PostgreSQL: the count is
/// in the database, so the limit holds for the pair.
#[tokio::test]
#[ignore = "needs PostgreSQL: two instances share one database"]
async fn a_burst_over_two_instances_is_limited_as_one() {
    assert!(
        crate::helpers::is_postgres(),
        "set OPENLATCH_TEST_DATABASE_URL to a PostgreSQL server"
    );
    let a = spawn_app().await;
    let b = crate::helpers::spawn_second_instance(&a, |_| {}).await;
    let attempts = (0..40)
        .map(|i| {
            let client = a.client.clone();
            let url = if i % 2 == 0 {
                a.url("/auth/login")
            } else {
                b.url("/auth/login")
            };
            tokio::spawn(async move {
                client
                    .post(url)
                    .json(&json!({"username": ADMIN_USER, "password": format!("wrong-{i}-xxxxxx")}))
                    .send()
                    .await
                    .expect("request")
                    .status()
            })
        })
        .collect::<Vec<_>>();
    let mut checked = 0;
    for t in attempts {
        if t.await.expect("task") == StatusCode::UNAUTHORIZED {
            checked += 1;
        }
    }
    assert!(
        checked <= 5,
        "{checked} wrong passwords were checked over two instances"
    );
}
