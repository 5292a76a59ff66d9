//! The command line: `serve`, `admin create`, `members import|export`, the
//! key tool, and the operator's `backup`, `restore` and `db copy`.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "openlatch",
    version,
    about = "Access control for community spaces"
)]
pub struct Cli {
    /// TOML configuration file; `OPENLATCH_*` variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the HTTP server.
    Serve,
    /// Manage administrators from the shell.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Keypad codes of guarantors.
    Keypad {
        #[command(subcommand)]
        command: KeypadCommand,
    },
    /// Import or export members and keys as CSV, on the local database
    /// (first set-up, backups); the same format as the HTTP API.
    Members {
        #[command(subcommand)]
        command: MembersCommand,
    },
    /// Master keys and sub-keys for signing allow-lists.
    Keys {
        #[command(subcommand)]
        command: openlatch_keytool::KeysCommand,
    },
    /// Inspect and verify allow-list files.
    Allowlist {
        #[command(subcommand)]
        command: openlatch_keytool::AllowlistCommand,
    },
    /// Write the database (a consistent copy, also while the server runs)
    /// and the data directory's key files into one private .tar.gz.
    Backup {
        /// The archive to write (replaced atomically if it exists).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Only the data directory's files: for PostgreSQL, whose database
        /// is backed up with pg_dump.
        #[arg(long)]
        keys_only: bool,
    },
    /// Unpack a backup into a data directory (stop the server first).
    Restore {
        /// The archive `openlatch backup` wrote.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Where to put the database and the key files.
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
        /// Restore into a directory that is not empty, replacing its
        /// database and the archived files.
        #[arg(long)]
        force: bool,
        /// Move allow-list versions forward by this much, past any list the
        /// lost server built after the backup (doors never go back).
        #[arg(long, value_name = "N", default_value_t = crate::ops::backup::DEFAULT_VERSION_GAP)]
        version_gap: i64,
    },
    /// Database operations.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
}

#[derive(Subcommand)]
pub enum DbCommand {
    /// Copy every table of the SQLite database into an empty PostgreSQL
    /// database, in one transaction, with the row counts checked.
    Copy {
        /// The target, e.g. postgres://openlatch@localhost/openlatch.
        #[arg(
            long,
            value_name = "URL",
            env = "OPENLATCH_COPY_TO",
            hide_env_values = true
        )]
        to: String,
    },
}

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create an admin; the password is read from standard input.
    Create {
        #[arg(long)]
        username: String,
        /// Defaults to USERNAME@openlatch.invalid.
        #[arg(long)]
        email: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum KeypadCommand {
    /// After a door or a list file was stolen: void every TOTP secret and
    /// backup sheet of every member; the next list carries none. Each
    /// guarantor then enrols again.
    RotateAll {
        /// Confirms that every keypad code stops working.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Subcommand)]
pub enum MembersCommand {
    /// Import members and keys from a CSV file (`-` for standard input):
    /// all or nothing, then one allow-list build.
    Import {
        file: PathBuf,
        /// Check everything, write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Write every active member and their usable keys as CSV.
    Export {
        /// Defaults to standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

/// Prints import progress on standard error, one line per step.
struct StderrProgress {
    started: std::time::Instant,
}

impl crate::app::import::Progress for StderrProgress {
    fn step(&self, what: &str) {
        eprintln!("[{:>6.1} s] {what}", self.started.elapsed().as_secs_f64());
    }
}

/// Runs `openlatch members ...` against an app built on the local database.
pub async fn run_members(app: &crate::app::App, command: MembersCommand) -> anyhow::Result<()> {
    use crate::app::{import, AppError};
    use anyhow::Context;
    use std::io::{Read, Write};
    match command {
        MembersCommand::Import { file, dry_run } => {
            let bytes = if file.as_os_str() == "-" {
                let mut b = Vec::new();
                std::io::stdin()
                    .read_to_end(&mut b)
                    .context("reading standard input")?;
                b
            } else {
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?
            };
            let progress = StderrProgress {
                started: std::time::Instant::now(),
            };
            let actor = crate::storage::audit::Actor::Server;
            match import::import(app, actor, &bytes, dry_run, &progress).await {
                Ok(s) => {
                    println!(
                        "{}{} members created, {} updated, {} keys created, {} unchanged{}",
                        if s.dry_run {
                            "dry run, nothing written: "
                        } else {
                            ""
                        },
                        s.created_members,
                        s.updated_members,
                        s.created_keys,
                        s.unchanged,
                        s.version
                            .map(|v| format!("; allow-list version {v}"))
                            .unwrap_or_default()
                    );
                    Ok(())
                }
                Err(AppError::Rows(rows)) => {
                    for r in &rows {
                        let field = if r.field.is_empty() {
                            String::new()
                        } else {
                            format!(", {}", r.field)
                        };
                        eprintln!("row {}{field}: {}", r.row, r.message);
                    }
                    anyhow::bail!("{} errors; nothing was imported", rows.len())
                }
                Err(AppError::Validation(fields)) => {
                    let list: Vec<String> =
                        fields.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                    anyhow::bail!("{}; nothing was imported", list.join("; "))
                }
                Err(other) => Err(anyhow::anyhow!("{other}")),
            }
        }
        MembersCommand::Export { output } => {
            let csv = import::export(app)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            match output {
                Some(path) => std::fs::write(&path, &csv)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => std::io::stdout()
                    .write_all(&csv)
                    .context("writing standard output")?,
            }
            Ok(())
        }
    }
}
