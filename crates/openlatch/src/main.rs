//! Wires the command line to the library; no logic lives here.
#![forbid(unsafe_code)]

use anyhow::Context;
use clap::Parser;
use openlatch::cli::{AdminCommand, Cli, Command};
use openlatch::config::Config;
use openlatch::startup::{self, Application};
use openlatch::{app, telemetry};
use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

/// jemalloc hands freed memory back to the system after a short delay;
/// glibc kept each 19 MiB argon2 buffer per thread for good, which tripled
/// the idle footprint after the first logins.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve => {
            let config = Config::from_process_env(cli.config.as_deref())?;
            telemetry::init(config.log_format);
            let application = Application::build(config).await?;
            tracing::info!(addr = %application.local_addr()?, "openlatch listening");
            application
                .run_until_stopped(startup::shutdown_signal())
                .await?;
            Ok(())
        }
        Command::Admin {
            command: AdminCommand::Create { username, email },
        } => {
            let config = Config::from_process_env(cli.config.as_deref())?;
            telemetry::init(config.log_format);
            let password = read_password()?;
            let app = startup::build_app(config).await?;
            let member = app::bootstrap::create_admin(&app, &username, &password, email.as_deref())
                .await
                .map_err(|e| match e {
                    app::AppError::Validation(fields) | app::AppError::Conflict { fields, .. } => {
                        let list: Vec<String> =
                            fields.iter().map(|(k, v)| format!("{k} {v}")).collect();
                        anyhow::anyhow!("{}", list.join("; "))
                    }
                    other => anyhow::anyhow!("{other}"),
                })?;
            println!("created admin {} ({})", member.username, member.id);
            Ok(())
        }
        Command::Members { command } => {
            let config = Config::from_process_env(cli.config.as_deref())?;
            telemetry::init(config.log_format);
            let app = startup::build_app(config).await?;
            openlatch::cli::run_members(&app, command).await
        }
        Command::Keys { command } => openlatch_keytool::run_keys(command).map_err(Into::into),
        Command::Allowlist { command } => {
            openlatch_keytool::run_allowlist(command).map_err(Into::into)
        }
    }
}

/// One line from stdin; on a terminal, asked for without echo.
fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password("Password for the new admin: ")
            .context("reading the password");
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from stdin")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
