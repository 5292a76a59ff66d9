//! The command line: `serve`, `admin create`, the key tool, and the
//! operator's `backup`, `restore` and `db copy`.

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
