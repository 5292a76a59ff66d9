//! Wires the command line to the library; no logic lives here.
#![forbid(unsafe_code)]

use anyhow::Context;
use clap::Parser;
use openlatch::cli::{AdminCommand, Cli, Command, DbCommand, KeypadCommand};
use openlatch::config::Config;
use openlatch::startup::{self, Application};
use openlatch::{app, ops, telemetry};
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
        Command::Keypad {
            command: KeypadCommand::RotateAll { yes },
        } => {
            if !yes {
                anyhow::bail!(
                    "this voids every keypad code of every member; run again with --yes to do it"
                );
            }
            let config = Config::from_process_env(cli.config.as_deref())?;
            telemetry::init(config.log_format);
            let app = startup::build_app(config).await?;
            let voided = app::keypad::rotate_all(&app, app::keypad::By::Cli)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "voided the keypad secrets of {} member(s); each must enrol again:",
                voided.len()
            );
            for v in voided {
                println!(
                    "  keypad id {:>5}  {}  ({})",
                    v.keypad_id, v.username, v.member_id
                );
            }
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
        Command::Backup { out, keys_only } => {
            let config = Config::from_process_env(cli.config.as_deref())?;
            telemetry::init(config.log_format);
            let report = ops::backup::create(&config, &out, keys_only).await?;
            println!("wrote {}", report.path.display());
            print_contents(&report.manifest);
            Ok(())
        }
        Command::Restore {
            file,
            data_dir,
            force,
            version_gap,
        } => {
            telemetry::init(openlatch::config::LogFormat::Text);
            let report = ops::backup::restore(&file, &data_dir, force, version_gap).await?;
            println!(
                "restored {} (openlatch {}, {}) into {}",
                file.display(),
                report.manifest.openlatch_version,
                report.manifest.created_at,
                report.data_dir.display()
            );
            print_contents(&report.manifest);
            println!(
                "start the server with OPENLATCH_DATA_DIR={} (and no OPENLATCH_DATABASE_URL)",
                report.data_dir.display()
            );
            Ok(())
        }
        Command::Db {
            command: DbCommand::Copy { to },
        } => {
            let config = Config::from_process_env(cli.config.as_deref())?;
            telemetry::init(config.log_format);
            let summary = ops::db_copy::copy_to_postgres(&config, &to).await?;
            println!(
                "copied {} tables at schema version {} to PostgreSQL; row counts checked:",
                summary.tables.len(),
                summary.schema_version
            );
            for (table, rows) in &summary.tables {
                println!("  {table:<28} {rows:>10}");
            }
            println!("now start the server with OPENLATCH_DATABASE_URL set to the target");
            Ok(())
        }
    }
}

fn print_contents(manifest: &ops::backup::Manifest) {
    match &manifest.database {
        Some(db) => {
            println!("database: schema version {}", db.schema_version);
            for (table, rows) in &db.tables {
                println!("  {table:<28} {rows:>10}");
            }
        }
        None => println!("database: not included (keys only)"),
    }
    println!("data directory files: {}", manifest.files.join(", "));
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
