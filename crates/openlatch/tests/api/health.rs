use crate::helpers::spawn_app;
use reqwest::{Method, StatusCode};

#[tokio::test]
async fn health_reports_ok_without_auth() {
    let app = spawn_app().await;
    let r = app.request(Method::GET, "/health", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"], "ok");
    assert_eq!(r.body["database"], "ok");
    assert_eq!(r.body["version"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn health_is_503_when_the_database_is_gone() {
    let app = spawn_app().await;
    app.app.db.close().await;
    let r = app.request(Method::GET, "/health", None, None).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.body["database"], "unavailable");
}

#[tokio::test]
async fn openapi_document_lists_every_endpoint() {
    let app = spawn_app().await;
    let r = app.request(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["openapi"]
        .as_str()
        .is_some_and(|v| v.starts_with("3.")));
    let paths = r.body["paths"].as_object().expect("paths");
    for p in [
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/members",
        "/api/v1/members/{id}",
        "/api/v1/members/{id}/keys",
        "/api/v1/nfc-keys",
        "/api/v1/nfc-keys/{id}/revoke",
        "/api/v1/audit-log",
        "/api/v1/me",
        "/api/v1/me/password",
        "/api/v1/health",
        "/api/v1/devices",
        "/api/v1/devices/{id}",
        "/api/v1/devices/{id}/rotate-token",
    ] {
        assert!(paths.contains_key(p), "missing {p} in {:?}", paths.keys());
    }
}

#[tokio::test]
async fn unknown_routes_get_the_json_error_shape() {
    let app = spawn_app().await;
    let r = app.request(Method::GET, "/no-such-thing", None, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body["error"]["code"], "not_found");
}

#[tokio::test]
async fn a_newer_schema_stops_the_server() {
    let app = spawn_app().await;
    openlatch::storage::migrate::stamp_future_version(&app.app.db)
        .await
        .expect("stamp");
    let config = openlatch::config::Config {
        database_url: Some(app.database_url.clone().into()),
        ..Default::default()
    };
    let err = match openlatch::startup::build_app(config).await {
        Ok(_) => panic!("started on a newer schema"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("newer than this binary"), "{err}");
}

#[tokio::test]
async fn a_stop_finishes_even_with_a_client_that_never_finishes_its_request() {
    use tokio::io::AsyncWriteExt;
    let mut app = spawn_app().await;
    let mut stalled = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    stalled
        .write_all(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        .await
        .expect("write");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    app.stop();
    let stopped = tokio::time::timeout(std::time::Duration::from_secs(30), app.stopped()).await;
    assert!(
        matches!(stopped, Ok(Ok(()))),
        "the server did not stop: {stopped:?}"
    );
}
