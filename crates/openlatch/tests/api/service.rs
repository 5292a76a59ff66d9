//! The binary as a service manager runs it: log formats off a terminal,
//! HTTPS from PEM files, SIGHUP re-reading them, SIGTERM stopping cleanly.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `openlatch serve` in a child process with its stderr collected line by line.
pub struct Served {
    child: Child,
    pub addr: SocketAddr,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Served {
    /// Starts the server on a free port with `env` and waits for its
    /// "listening" line (JSON logs, so the address can be read from it).
    pub fn start(data_dir: &Path, env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_openlatch"))
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("OPENLATCH_DATA_DIR", data_dir)
            .env("OPENLATCH_LISTEN", "127.0.0.1:0")
            .env("OPENLATCH_LOG_FORMAT", "json")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn openlatch serve");
        let stderr = child.stderr.take().expect("stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().expect("lines").push(line);
            }
        });
        let mut served = Self {
            child,
            addr: "0.0.0.0:0".parse().expect("addr"),
            lines,
        };
        let line = served.wait_for_line("openlatch listening");
        let json: Value = serde_json::from_str(&line).expect("listening line is JSON");
        served.addr = json["addr"]
            .as_str()
            .expect("addr field")
            .parse()
            .expect("addr");
        served
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("lines").clone()
    }

    /// The first line containing `needle`, waiting up to 30 s for it.
    pub fn wait_for_line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(l) = self.lines().into_iter().find(|l| l.contains(needle)) {
                return l;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "openlatch exited ({status}) before logging {needle:?}:\n{}",
                    self.lines().join("\n")
                );
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in the log:\n{}",
                self.lines().join("\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// How many lines contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.lines().iter().filter(|l| l.contains(needle)).count()
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{name}");
    }

    /// SIGTERM, then the exit status (a graceful stop exits 0).
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "no exit 30 s after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn json_logs_are_one_object_per_line_and_sighup_without_tls_is_harmless() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = Served::start(dir.path(), &[]);
    let health = reqwest::get(format!("http://{}/api/v1/health", server.addr))
        .await
        .expect("health");
    assert_eq!(health.status(), 200);

    server.signal("HUP");
    server.wait_for_line("nothing to reload");
    let again = reqwest::get(format!("http://{}/api/v1/health", server.addr))
        .await
        .expect("health after SIGHUP");
    assert_eq!(again.status(), 200);

    let lines = server.lines();
    assert!(server.stop().success());
    assert!(lines.len() >= 3, "{lines:?}");
    for line in &lines {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON object per line ({e}): {line}"));
        assert!(v["timestamp"].is_string(), "{line}");
        assert!(v["level"].is_string(), "{line}");
        assert!(v["message"].is_string(), "{line}");
        assert!(!line.contains('\u{1b}'), "colour code in {line}");
    }
}

#[tokio::test]
async fn text_logs_off_a_terminal_carry_no_colour_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_openlatch"))
        .arg("serve")
        .env("OPENLATCH_DATA_DIR", dir.path())
        .env("OPENLATCH_LISTEN", "127.0.0.1:0")
        .env("OPENLATCH_LOG_FORMAT", "text")
        .env_remove("NO_COLOR")
        .env_remove("OPENLATCH_DATABASE_URL")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut seen = String::new();
    while !seen.contains("openlatch listening") {
        let mut line = String::new();
        let n = stderr.read_line(&mut line).expect("read");
        assert!(n > 0, "ended before listening: {seen}");
        seen.push_str(&line);
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen.contains(" INFO "), "{seen}");
    assert!(
        !seen.contains('\u{1b}'),
        "colour codes off a terminal: {seen:?}"
    );
}

struct TestCert {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

fn new_cert() -> TestCert {
    let generated =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("certificate");
    TestCert {
        cert_pem: generated.cert.pem(),
        key_pem: generated.key_pair.serialize_pem(),
        der: generated.cert.der().to_vec(),
    }
}

/// Replaces a file the way ACME clients do: write beside it, then rename.
fn replace(path: &Path, contents: &str) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, contents).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

/// A client trusting only `cert`, on a new connection every time.
fn client_trusting(cert: &TestCert) -> reqwest::Client {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_der(&cert.der).expect("root"))
        .pool_max_idle_per_host(0)
        .build()
        .expect("client")
}

#[tokio::test]
async fn https_from_pem_files_reloads_on_sighup_and_keeps_the_old_certificate_on_a_bad_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert_path = dir.path().join("fullchain.pem");
    let key_path = dir.path().join("privkey.pem");
    let first = new_cert();
    replace(&cert_path, &first.cert_pem);
    replace(&key_path, &first.key_pem);

    let mut server = Served::start(
        &dir.path().join("data"),
        &[
            ("OPENLATCH_TLS_CERT", cert_path.to_str().expect("path")),
            ("OPENLATCH_TLS_KEY", key_path.to_str().expect("path")),
        ],
    );
    let health = format!("https://{}/api/v1/health", server.addr);
    let r = client_trusting(&first)
        .get(&health)
        .send()
        .await
        .expect("HTTPS with the first certificate");
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["status"], "ok");
    // Plain HTTP on the TLS port gets no answer.
    let plain = reqwest::get(format!("http://{}/api/v1/health", server.addr)).await;
    assert!(
        plain.map_or(true, |r| !r.status().is_success()),
        "plain HTTP answered"
    );

    // The ACME client renews in place; SIGHUP makes the server re-read.
    let second = new_cert();
    replace(&cert_path, &second.cert_pem);
    replace(&key_path, &second.key_pem);
    server.signal("HUP");
    server.wait_for_line("TLS certificate and key reloaded");
    let r = client_trusting(&second)
        .get(&health)
        .send()
        .await
        .expect("HTTPS with the renewed certificate");
    assert_eq!(r.status(), 200);
    assert!(
        client_trusting(&first).get(&health).send().await.is_err(),
        "the old certificate is still presented"
    );

    // A half-written renewal: the reload fails and the server keeps serving.
    replace(&key_path, "-----BEGIN PRIVATE KEY-----\nnot a key\n");
    server.signal("HUP");
    server.wait_for_line("the previous one stays in use");
    let r = client_trusting(&second)
        .get(&health)
        .send()
        .await
        .expect("still the renewed certificate");
    assert_eq!(r.status(), 200);
    assert_eq!(server.count("TLS certificate and key reloaded"), 1);

    assert!(server.stop().success(), "graceful stop exits 0");
}

#[tokio::test]
async fn a_key_that_does_not_match_the_certificate_stops_the_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    replace(&cert_path, &new_cert().cert_pem);
    replace(&key_path, &new_cert().key_pem);
    let out = Command::new(env!("CARGO_BIN_EXE_openlatch"))
        .arg("serve")
        .env("OPENLATCH_DATA_DIR", dir.path().join("data"))
        .env("OPENLATCH_LISTEN", "127.0.0.1:0")
        .env("OPENLATCH_TLS_CERT", &cert_path)
        .env("OPENLATCH_TLS_KEY", &key_path)
        .env_remove("OPENLATCH_DATABASE_URL")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("does not belong to the certificate"),
        "{stderr}"
    );
}
