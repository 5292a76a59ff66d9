//! Load run: N concurrent logins at once (each from its own forwarded
//! address, so the login limiter stays out of the way and every request
//! reaches the password check), then the server's peak memory.
//!
//! Run by `bench/login_flood.sh`, which starts a release server with
//! `OPENLATCH_TRUSTED_PROXIES=127.0.0.1`. Environment: `OL_URL`
//! (default http://127.0.0.1:18093), `OL_N` (1000), `OL_SERVER_PID` (to read
//! VmRSS and VmHWM, the peak resident set).

use std::collections::BTreeMap;
use std::time::Instant;

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn status_kib(pid: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[tokio::main]
async fn main() {
    let base = env("OL_URL", "http://127.0.0.1:18093");
    let n: usize = env("OL_N", "1000").parse().expect("OL_N");
    let pid = std::env::var("OL_SERVER_PID").ok();
    let mem = |label: &str| {
        if let Some(pid) = &pid {
            println!(
                "{label}: VmRSS {} KiB, VmHWM (peak) {} KiB",
                status_kib(pid, "VmRSS:").unwrap_or(0),
                status_kib(pid, "VmHWM:").unwrap_or(0)
            );
        }
    };
    mem("before");
    // One connection per login, all opened at once.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let start = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let client = client.clone();
            let url = format!("{base}/api/v1/auth/login");
            tokio::spawn(async move {
                let r = client
                    .post(url)
                    .header(
                        "x-forwarded-for",
                        format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256),
                    )
                    .json(&serde_json::json!({
                        "username": format!("user{i}"),
                        "password": "a-wrong-password-for-the-load-run"
                    }))
                    .send()
                    .await;
                match r {
                    Ok(r) => r.status().as_u16().to_string(),
                    Err(e) => format!("error: {e}"),
                }
            })
        })
        .collect();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for t in tasks {
        *counts.entry(t.await.expect("task")).or_default() += 1;
    }
    let elapsed = start.elapsed();
    println!(
        "{n} concurrent logins answered in {:.2} s",
        elapsed.as_secs_f64()
    );
    for (status, count) in &counts {
        println!("  {status}: {count}");
    }
    mem("after");
}
