//! End-to-end harness: the real `openlatch` server binary and the real
//! `openlatch-door` binary as processes, the door driven through stdin, a
//! `command` lock that appends a line per unlock/lock to files.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "admin-password-1";

/// The server binary: `OPENLATCH_SERVER_BIN`, else `target/<profile>/openlatch`
/// beside this test's `deps/` directory.
pub fn server_binary() -> PathBuf {
    if let Ok(p) = std::env::var("OPENLATCH_SERVER_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    let bin = profile_dir.join("openlatch");
    assert!(
        bin.exists(),
        "the server binary {} is missing: build it with `cargo build -p openlatch` \
         (`cargo test --workspace` builds it), or set OPENLATCH_SERVER_BIN",
        bin.display()
    );
    bin
}

pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn rfc3339(unix: u64) -> String {
    let days = unix / 86_400;
    let secs = unix % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Polls `f` until it returns `Some`, or panics with `what` after `secs`.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {secs} s: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A running `openlatch serve` with its own data directory.
pub struct Server {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    pub client: reqwest::Client,
    pub token: String,
    extra_env: Vec<(String, String)>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Server {
    pub async fn start() -> Server {
        Server::start_with(&[]).await
    }

    pub async fn start_with(env: &[(&str, &str)]) -> Server {
        let mut s = Server {
            port: free_port(),
            dir: tempfile::tempdir().expect("tempdir"),
            child: None,
            client: reqwest::Client::new(),
            token: String::new(),
            extra_env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        s.launch().await;
        s.token = s.login(ADMIN, ADMIN_PASSWORD).await;
        s
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .expect("server log");
        let mut cmd = Command::new(server_binary());
        cmd.arg("serve")
            .env("OPENLATCH_LISTEN", format!("127.0.0.1:{}", self.port))
            .env("OPENLATCH_DATA_DIR", self.dir.path().join("data"))
            .env("OPENLATCH_ADMIN_USERNAME", ADMIN)
            .env("OPENLATCH_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("RUST_LOG", "warn")
            .env_remove("OPENLATCH_DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        for (k, v) in &self.extra_env {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().expect("start the server binary"));
        let health = format!("{}/api/v1/health", self.url());
        let client = self.client.clone();
        let log_path = self.dir.path().join("server.log");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = client.get(&health).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "the server exited ({status}): {}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "the server did not become healthy"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the server (SIGKILL: the door must cope with anything).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port and data directory.
    pub async fn restart(&mut self) {
        self.stop();
        self.launch().await;
    }

    pub async fn login(&self, username: &str, password: &str) -> String {
        let r: Value = self
            .client
            .post(format!("{}/api/v1/auth/login", self.url()))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("login json");
        r["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("login failed: {r}"))
            .to_owned()
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .client
            .request(method, format!("{}/api/v1{path}", self.url()))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("request");
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        let (s, v) = self.call(reqwest::Method::POST, path, Some(body)).await;
        assert!((200..300).contains(&s), "POST {path}: {s} {v}");
        v
    }

    pub async fn get(&self, path: &str) -> Value {
        let (s, v) = self.call(reqwest::Method::GET, path, None).await;
        assert!((200..300).contains(&s), "GET {path}: {s} {v}");
        v
    }

    pub async fn member(&self, username: &str, role: &str) -> String {
        let m = self
            .post(
                "/members",
                json!({"username": username, "email": format!("{username}@example.com"),
                       "password": "initial-password", "display_name": username, "role": role}),
            )
            .await;
        m["id"].as_str().expect("member id").to_owned()
    }

    pub async fn key(&self, member: &str, uid: &str, extra: Value) -> String {
        let mut body = json!({"member_id": member, "uid": uid});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let k = self.post("/nfc-keys", body).await;
        k["id"].as_str().expect("key id").to_owned()
    }

    /// Registers a door; returns (device id, token).
    pub async fn device(&self, name: &str) -> (String, String) {
        let d = self.post("/devices", json!({"name": name})).await;
        let id = d["id"]
            .as_str()
            .or_else(|| d["device"]["id"].as_str())
            .expect("device id")
            .to_owned();
        (id, d["token"].as_str().expect("device token").to_owned())
    }

    pub async fn master_key(&self) -> String {
        self.get("/allowlist").await["master_public_key"]
            .as_str()
            .expect("master_public_key")
            .to_owned()
    }

    pub async fn signed_version(&self) -> u64 {
        self.get("/allowlist").await["signed_version"]
            .as_u64()
            .unwrap_or(0)
    }

    /// Audit rows of one event type whose `details.uid` is `uid` (or all
    /// rows when `uid` is empty).
    pub async fn audit(&self, event: &str, uid: &str) -> Vec<Value> {
        let rows = self
            .get(&format!("/audit-log?event_type={event}&limit=1000"))
            .await;
        rows.as_array()
            .expect("audit rows")
            .iter()
            .filter(|r| uid.is_empty() || r["details"]["uid"].as_str() == Some(uid))
            .cloned()
            .collect()
    }

    /// Waits until exactly `n` rows of `event` for `uid` exist, then checks
    /// that no more arrive for a moment (nothing duplicated).
    pub async fn expect_audit(&self, event: &str, uid: &str, n: usize) -> Vec<Value> {
        eventually(20, &format!("{n} {event} rows for {uid}"), || async {
            let rows = self.audit(event, uid).await;
            assert!(rows.len() <= n, "too many {event} rows: {rows:#?}");
            (rows.len() == n).then_some(())
        })
        .await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let rows = self.audit(event, uid).await;
        assert_eq!(rows.len(), n, "{event} rows for {uid}: {rows:#?}");
        rows
    }
}

/// Options for a door's configuration.
#[derive(Clone)]
pub struct DoorSetup {
    pub server_url: String,
    pub token: String,
    pub master: String,
    /// Extra TOML appended to the file (sections such as `[button]`).
    pub extra: String,
    /// Replaces the default command `[lock]` section.
    pub lock: Option<String>,
}

/// A running `openlatch-door` process.
pub struct Door {
    pub state: PathBuf,
    pub config: PathBuf,
    pub unlock_file: PathBuf,
    pub lock_file: PathBuf,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    log: Arc<Mutex<Vec<String>>>,
    dir_handle: Arc<tempfile::TempDir>,
}

impl Drop for Door {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn door_binary() -> &'static str {
    env!("CARGO_BIN_EXE_openlatch-door")
}

impl Door {
    pub fn start(setup: &DoorSetup) -> Door {
        let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
        let state = dir.path().join("state");
        let unlock_file = dir.path().join("unlocks");
        let lock_file = dir.path().join("locks");
        let lock = setup.lock.clone().unwrap_or_else(|| {
            format!(
                "[lock]\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \"echo unlock >> {}\"]\n\
                 lock_command = [\"sh\", \"-c\", \"echo lock >> {}\"]\n",
                unlock_file.display(),
                lock_file.display()
            )
        });
        let text = format!(
            "server_url = \"{}\"\ntoken = \"{}\"\nmaster_public_key = \"{}\"\nstate_dir = \"{}\"\n\
             poll_seconds = 1\nheartbeat_seconds = 2\nunlock_seconds = 1\n\
             [reader]\nkind = \"stdin\"\n{lock}\n{}\n",
            setup.server_url,
            setup.token,
            setup.master,
            state.display(),
            setup.extra
        );
        let config = dir.path().join("door.toml");
        std::fs::write(&config, text).expect("write door.toml");
        let mut d = Door {
            state,
            config,
            unlock_file,
            lock_file,
            child: None,
            stdin: None,
            log: Arc::new(Mutex::new(Vec::new())),
            dir_handle: dir,
        };
        d.spawn();
        d
    }

    fn spawn(&mut self) {
        let mut child = Command::new(door_binary())
            .args(["run", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start openlatch-door");
        self.stdin = child.stdin.take();
        let stderr = child.stderr.take().expect("stderr");
        let log = self.log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[door] {line}");
                if let Ok(mut l) = log.lock() {
                    l.push(line);
                }
            }
        });
        self.child = Some(child);
    }

    /// SIGKILL, as a power cut.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("kill -9");
            let _ = c.wait();
        }
        self.stdin = None;
    }

    /// Starts the door again on the same state directory.
    pub fn restart(&mut self) {
        self.kill9();
        self.log.lock().unwrap().clear();
        self.spawn();
    }

    /// SIGTERM and wait for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("running door");
        let st = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(st.success());
        c.wait().expect("wait")
    }

    pub fn send(&mut self, line: &str) {
        let s = self.stdin.as_mut().expect("door stdin");
        writeln!(s, "{line}").expect("write to door");
        s.flush().expect("flush");
    }

    pub fn lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    pub fn count(&self, needle: &str) -> usize {
        self.lines().iter().filter(|l| l.contains(needle)).count()
    }

    /// Waits until the log has `n` lines containing `needle`.
    pub async fn wait_count(&self, needle: &str, n: usize, secs: u64) {
        eventually(
            secs,
            &format!("{n}x '{needle}' in the door log"),
            || async { (self.count(needle) >= n).then_some(()) },
        )
        .await
    }

    pub async fn wait_log(&self, needle: &str, secs: u64) {
        self.wait_count(needle, 1, secs).await
    }

    /// Waits for the door to hold the server's current signed list.
    pub async fn wait_list(&self, server: &Server) -> u64 {
        let v = server.signed_version().await;
        self.wait_log(&format!("list version {v} accepted"), 20)
            .await;
        v
    }

    fn file_lines(p: &Path) -> usize {
        std::fs::read_to_string(p).map_or(0, |s| s.lines().count())
    }

    pub fn unlocks(&self) -> usize {
        Self::file_lines(&self.unlock_file)
    }

    pub fn locks(&self) -> usize {
        Self::file_lines(&self.lock_file)
    }

    /// Taps `uid` and waits for the decision line; returns the label.
    pub async fn tap(&mut self, uid: &str) -> String {
        let before = self.count("decision ");
        self.send(uid);
        self.wait_count("decision ", before + 1, 15).await;
        let lines = self.lines();
        let line = lines
            .iter()
            .filter(|l| l.contains("decision "))
            .nth(before)
            .cloned()
            .unwrap_or_default();
        line.split("decision ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or("")
            .to_owned()
    }

    /// Runs `openlatch-door status` on this door's configuration.
    pub fn status(&self) -> String {
        let out = Command::new(door_binary())
            .args(["status", "--config"])
            .arg(&self.config)
            .output()
            .expect("status");
        assert!(out.status.success(), "status failed: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn dir(&self) -> &Path {
        self.dir_handle.path()
    }
}

/// A server with a door registered and the door's setup.
pub async fn server_and_door_setup(server: &Server) -> (String, DoorSetup) {
    let (id, token) = server.device("front-door").await;
    let setup = DoorSetup {
        server_url: server.url(),
        token,
        master: server.master_key().await,
        extra: String::new(),
        lock: None,
    };
    (id, setup)
}
