//! `spawn_app()` and friends.

use openlatch::app::App;
use openlatch::config::Config;
use openlatch::startup::Application;
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{json, Value};
use std::net::SocketAddr;
use tokio::sync::oneshot;

pub const ADMIN_USER: &str = "admin";
pub const ADMIN_PASSWORD: &str = "admin-password-1";

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub admin_token: String,
    pub database_url: String,
    pub app: App,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A fresh, empty database URL for one test.
pub async fn fresh_database(dir: &std::path::Path) -> String {
    match std::env::var("OPENLATCH_TEST_DATABASE_URL") {
        Ok(base) if !base.is_empty() => fresh_postgres(&base).await,
        _ => format!("sqlite://{}?mode=rwc", dir.join("test.db").display()),
    }
}

async fn fresh_postgres(base: &str) -> String {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(base).await.unwrap_or_else(|e| {
        panic!(
            "OPENLATCH_TEST_DATABASE_URL={base} is set but PostgreSQL cannot be reached: {e}. \
             Start it (see .ci/run) or unset the variable to test on SQLite."
        )
    });
    let name = format!("openlatch_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("CREATE DATABASE");
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let server = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    format!("{server}/{name}")
}

#[allow(dead_code)] // used by the PostgreSQL-only tests
pub fn is_postgres() -> bool {
    std::env::var("OPENLATCH_TEST_DATABASE_URL").is_ok_and(|v| !v.is_empty())
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts a server after `customize` has adjusted its configuration.
pub async fn spawn_app_with(customize: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = fresh_database(dir.path()).await;
    spawn_on(dir, url, customize).await
}

/// Another instance on the same database as `other` (several servers behind one load balancer).
#[allow(dead_code)] // used by the multi-instance tests
pub async fn spawn_second_instance(
    other: &TestApp,
    customize: impl FnOnce(&mut Config),
) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    spawn_on(dir, other.database_url.clone(), customize).await
}

async fn spawn_on(
    dir: tempfile::TempDir,
    url: String,
    customize: impl FnOnce(&mut Config),
) -> TestApp {
    init_test_logging();
    let mut config = Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir: dir.path().join("data"),
        database_url: Some(SecretString::from(url.clone())),
        admin_username: Some(ADMIN_USER.into()),
        admin_password: Some(SecretString::from(ADMIN_PASSWORD)),
        db_max_connections: 5,
        ..Config::default()
    };
    customize(&mut config);
    let application = Application::build(config).await.expect("build app");
    let addr = application.local_addr().expect("addr");
    let app = application.app().clone();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(application.run_until_stopped(async {
        let _ = rx.await;
    }));
    let mut test_app = TestApp {
        addr,
        client: reqwest::Client::new(),
        admin_token: String::new(),
        database_url: url,
        app,
        shutdown: Some(tx),
        server: Some(server),
        _dir: dir,
    };
    test_app.admin_token = test_app.login(ADMIN_USER, ADMIN_PASSWORD).await;
    test_app
}

/// Logs go through libtest's capture, so only failing tests show them.
fn init_test_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The `fields` map of an error body.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.body["error"]["fields"][name].as_str()
    }
}

impl TestApp {
    /// Asks the server to shut down gracefully, as SIGTERM does.
    #[allow(dead_code)] // used by the shutdown tests
    pub fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Waits until the server has stopped after [`TestApp::stop`].
    #[allow(dead_code)] // used by the shutdown tests
    pub async fn stopped(&mut self) -> std::io::Result<()> {
        match self.server.take() {
            Some(task) => task.await.expect("server task"),
            None => Ok(()),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}/api/v1{path}", self.addr)
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.request(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.request(Method::POST, path, Some(token), Some(body))
            .await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Reply {
        self.request(Method::PUT, path, Some(token), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Reply {
        self.request(Method::DELETE, path, Some(token), None).await
    }

    pub async fn try_login(&self, username: &str, password: &str) -> Reply {
        self.request(
            Method::POST,
            "/auth/login",
            None,
            Some(json!({ "username": username, "password": password })),
        )
        .await
    }

    pub async fn login(&self, username: &str, password: &str) -> String {
        let r = self.try_login(username, password).await;
        assert_eq!(r.status, StatusCode::OK, "login {username}: {:?}", r.body);
        r.body["access_token"].as_str().expect("token").to_owned()
    }

    /// Creates a member with `role` as the admin; returns (id, token).
    pub async fn member_with_role(&self, username: &str, role: &str) -> (String, String) {
        let password = format!("{username}-password");
        let r = self
            .post(
                "/members",
                &self.admin_token,
                json!({
                    "username": username,
                    "email": format!("{username}@example.org"),
                    "password": password,
                    "display_name": username,
                    "role": role,
                }),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "create {username}: {:?}",
            r.body
        );
        let id = r.body["id"].as_str().expect("id").to_owned();
        let token = self.login(username, &password).await;
        (id, token)
    }

    /// Registers a key for `member_id` as the admin; returns the key's JSON.
    pub async fn key_for(&self, member_id: &str, uid: &str) -> Value {
        let r = self
            .post(
                "/nfc-keys",
                &self.admin_token,
                json!({ "member_id": member_id, "uid": uid, "label": "tag" }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "key {uid}: {:?}", r.body);
        r.body
    }

    /// Audit entries of one type, newest first.
    pub async fn audit(&self, event_type: &str) -> Vec<Value> {
        let r = self
            .get(
                &format!("/audit-log?event_type={event_type}"),
                &self.admin_token,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        r.body.as_array().cloned().unwrap_or_default()
    }

    /// Registers a door as the admin; returns (id, token).
    pub async fn device(&self, name: &str) -> (String, String) {
        let r = self
            .post("/devices", &self.admin_token, json!({ "name": name }))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "device {name}: {:?}", r.body);
        (
            r.body["id"].as_str().expect("id").to_owned(),
            r.body["token"].as_str().expect("token").to_owned(),
        )
    }

    /// Subscribes a webhook to `events` as the admin; returns the subscription's id.
    #[allow(dead_code)] // used by the notification tests
    pub async fn subscribe_webhook(&self, url: &str, secret: &str, events: &[&str]) -> String {
        let r = self
            .post(
                "/notifications/subscriptions",
                &self.admin_token,
                json!({"channel": "webhook", "settings": {"url": url, "secret": secret},
                       "events": events}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "subscribe: {:?}", r.body);
        r.body["id"].as_str().expect("id").to_owned()
    }

    /// Outbox messages of one event type (all channels), oldest first.
    #[allow(dead_code)] // used by the notification tests
    pub async fn outbox(&self, event_type: &str) -> Vec<openlatch::storage::outbox::MessageRow> {
        let mut conn = self.app.db.read().await.expect("conn");
        openlatch::storage::outbox::list(&mut conn, None, 10_000)
            .await
            .expect("outbox")
            .into_iter()
            .filter(|m| m.event_type == event_type)
            .collect()
    }
}
