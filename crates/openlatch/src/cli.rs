//! The command line: `serve`, `admin create`, and the key tool.

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
