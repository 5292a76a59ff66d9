//! The command line: `run`, `check`, `status`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::daemon::now_unix;
use crate::store::{ListFile, StateDb};
use crate::uplink::{HttpUplink, Uplink};

#[derive(Parser)]
#[command(name = "openlatch-door", version, about = "OpenLatch door controller")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the door.
    Run {
        #[arg(long, default_value = "/etc/openlatch-door/door.toml")]
        config: PathBuf,
    },
    /// Check the configuration, the server and the stored list.
    Check {
        #[arg(long, default_value = "/etc/openlatch-door/door.toml")]
        config: PathBuf,
    },
    /// Show the stored list and the event queue.
    Status {
        #[arg(long, default_value = "/etc/openlatch-door/door.toml")]
        config: PathBuf,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        match cli.cmd {
            Cmd::Run { config } => crate::daemon::run(Config::load(&config)?).await,
            Cmd::Check { config } => check(&config).await,
            Cmd::Status { config } => status(&Config::load(&config)?),
        }
    });
    // The stdin reader sits in a blocking read that never returns by itself.
    rt.shutdown_timeout(Duration::from_millis(500));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn age(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

fn status(cfg: &Config) -> anyhow::Result<()> {
    let file = ListFile::new(&cfg.state_dir);
    let now = now_unix();
    match file.read()? {
        None => println!("list: none stored in {}", cfg.state_dir.display()),
        Some(bytes) => match ol02::verify_signatures(&bytes, &cfg.master_key()?) {
            Ok(l) => {
                let h = l.header();
                println!("list version: {}", h.version);
                println!(
                    "list age: {} (generated {})",
                    age(now.saturating_sub(h.generated_at)),
                    h.generated_at
                );
                println!("list entries: {}", l.len());
                println!(
                    "list stale: {}",
                    if l.is_stale_at(now) { "yes" } else { "no" }
                );
            }
            Err(e) => println!("list: stored file does not verify: {e}"),
        },
    }
    let db = StateDb::open(&cfg.state_dir)?;
    println!("queued events: {}", db.queued()?);
    Ok(())
}

async fn check(path: &std::path::Path) -> anyhow::Result<()> {
    let mut problems = 0;
    let cfg = Config::load(path)?;
    println!("ok: configuration {}", path.display());
    let master = cfg.master_key()?;
    let file = ListFile::new(&cfg.state_dir);
    match crate::store::ensure_dir(&cfg.state_dir).and_then(|_| StateDb::open(&cfg.state_dir)) {
        Ok(db) => println!(
            "ok: state_dir {} ({} queued events)",
            cfg.state_dir.display(),
            db.queued()?
        ),
        Err(e) => {
            problems += 1;
            println!("FAIL: state_dir: {e:#}");
        }
    }
    let held = match file.read() {
        Ok(Some(bytes)) => match ol02::verify_list(&bytes, &master, now_unix(), 0) {
            Ok(l) => {
                println!("ok: stored list version {} verifies", l.version());
                l.version()
            }
            Err(e) => {
                problems += 1;
                println!("FAIL: stored list does not verify: {e}");
                0
            }
        },
        Ok(None) => {
            println!("note: no stored list yet");
            0
        }
        Err(e) => {
            problems += 1;
            println!("FAIL: {e:#}");
            0
        }
    };
    let uplink = HttpUplink::new(cfg.base_url(), cfg.token()?, Duration::from_secs(10))?;
    match uplink.fetch_list(0).await {
        Ok(Some(bytes)) => match ol02::verify_list(&bytes, &master, now_unix(), 0) {
            Ok(l) => {
                println!(
                "ok: server {} reachable, its list version {} verifies against the master key{}",
                cfg.base_url(),
                l.version(),
                if l.version() > held { " (newer than the stored one)" } else { "" }
            )
            }
            Err(e) => {
                problems += 1;
                println!("FAIL: the server's list does not verify: {e} (wrong master_public_key?)");
            }
        },
        Ok(None) => println!("ok: server reachable, no list to download"),
        Err(e) => {
            problems += 1;
            println!("FAIL: server: {e}");
        }
    }
    match crate::lock::open(&cfg.lock) {
        Ok(lock) => match lock.status().await {
            Ok(Some(s)) => println!("ok: lock {} answers: {s:?}", lock.kind()),
            Ok(None) => println!("ok: lock {} configured", lock.kind()),
            Err(e) => {
                problems += 1;
                println!("FAIL: lock {}: {e:#}", lock.kind());
            }
        },
        Err(e) => {
            problems += 1;
            println!("FAIL: lock: {e:#}");
        }
    }
    if problems > 0 {
        anyhow::bail!("{problems} problem(s) found");
    }
    Ok(())
}
