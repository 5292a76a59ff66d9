//! OpenLatch key tool: `openlatch keys ...` and `openlatch allowlist ...`.
//!
//! The main binary mounts [`KeysCommand`] and [`AllowlistCommand`] as clap
//! subcommands and calls [`run_keys`] / [`run_allowlist`]; on `Err` it prints
//! the error and exits non-zero. The key-file helpers in [`keyfile`] are what
//! the server uses to load its sub-key. File formats: `docs/keys.md`.
#![forbid(unsafe_code)]

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::Subcommand;

pub mod keyfile;
mod render;
pub mod sign;

pub use keyfile::{
    create_master, create_subkey, delegate, generate_signing_key, load_subkey,
    parse_public_key_hex, public_key_hex, public_key_path, read_certificate, read_public_key,
    read_secret_key, subkey_paths, write_secret_key, write_subkey,
};

/// `openlatch keys ...`
#[derive(Debug, Clone, Subcommand)]
pub enum KeysCommand {
    /// Create a master key. Writes the secret to FILE (mode 0600) and the
    /// public key to FILE.pub, and prints the public key in hex. Refuses to
    /// overwrite.
    InitMaster {
        /// Secret key file to create.
        #[arg(long)]
        out: PathBuf,
    },
    /// Create a sub-key certified by the master: writes PREFIX.key (secret,
    /// mode 0600) and PREFIX.cert (114-byte certificate).
    Delegate {
        /// Master secret key file.
        #[arg(long)]
        master: PathBuf,
        /// Signer key id (0..=255) written into the certificate.
        #[arg(long)]
        key_id: u8,
        /// Certificate validity in days from now (at least 1).
        #[arg(long)]
        valid_days: u32,
        /// Output prefix.
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign an unsigned list with a sub-key. Prints the header and the
    /// changes against --previous, then asks for confirmation when stdin is
    /// a terminal (--yes skips; without a terminal it proceeds).
    Sign {
        /// Sub-key prefix (PREFIX.key and PREFIX.cert).
        #[arg(long)]
        subkey: PathBuf,
        /// Unsigned list to sign.
        unsigned: PathBuf,
        /// Signed list to write.
        signed: PathBuf,
        /// The signed list doors hold now, to show what changes.
        #[arg(long)]
        previous: Option<PathBuf>,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

/// `openlatch allowlist ...`
#[derive(Debug, Clone, Subcommand)]
pub enum AllowlistCommand {
    /// Verify a signed list (as a door would, with held version 0) and print
    /// its header and entries. Secrets are never printed.
    Inspect {
        /// List file.
        file: PathBuf,
        /// Master public key, 64 hex digits.
        #[arg(long, required_unless_present = "unsigned")]
        master_pubkey: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Check validity at this time (RFC 3339) instead of now.
        #[arg(long)]
        at: Option<String>,
        /// The file is an unsigned list: decode it without verification.
        #[arg(long, conflicts_with = "master_pubkey")]
        unsigned: bool,
    },
}

/// Everything that can go wrong; the message is what the user sees.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// File system error.
    #[error("{}: {source}", path.display())]
    Io {
        /// File involved.
        path: PathBuf,
        /// Cause.
        source: io::Error,
    },
    /// Refused to overwrite.
    #[error("{} already exists; refusing to overwrite", .0.display())]
    Exists(PathBuf),
    /// Secret key file unreadable.
    #[error("{}: not a key file: {reason}", path.display())]
    BadKeyFile {
        /// File.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Certificate file unreadable.
    #[error("{}: not a certificate: {reason}", path.display())]
    BadCertificate {
        /// File.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Certificate for another key.
    #[error("{} does not certify the key in {}", cert.display(), key.display())]
    CertKeyMismatch {
        /// Key file.
        key: PathBuf,
        /// Certificate file.
        cert: PathBuf,
    },
    /// Bad public key text.
    #[error("invalid master public key: {0}")]
    BadPublicKey(String),
    /// Bad `--at`.
    #[error("invalid time {0:?}: expected RFC 3339, e.g. 2026-01-15T10:30:00Z")]
    BadTime(String),
    /// `--valid-days 0`.
    #[error("--valid-days must be at least 1")]
    BadValidity,
    /// A signed list failed verification. The reason is part of the
    /// message and deliberately not a `source`, or error chains print it
    /// twice ("list is truncated: malformed list: list is truncated").
    #[error("{}: verification failed: {reason}", path.display())]
    Verify {
        /// File.
        path: PathBuf,
        /// Reason.
        reason: ol02::VerifyError,
    },
    /// A list failed to decode.
    #[error("{}: not a valid list: {reason}", path.display())]
    Decode {
        /// File.
        path: PathBuf,
        /// Reason.
        reason: ol02::DecodeError,
    },
    /// The new list would be refused as a replay.
    #[error("version {new} is not greater than the previous list's version {previous}")]
    VersionNotNewer {
        /// Previous version.
        previous: u64,
        /// New version.
        new: u64,
    },
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(#[from] ol02::SignError),
    /// The user declined.
    #[error("aborted: the list was not signed")]
    Aborted,
    /// No randomness.
    #[error("random number generator failed: {0}")]
    Random(String),
}

impl Error {
    pub(crate) fn io(path: &Path, source: io::Error) -> Error {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn stdout(source: io::Error) -> Error {
        Error::io(Path::new("<stdout>"), source)
    }
}

/// Where a command reads confirmation from and writes its report.
pub struct Console<'a> {
    /// Report output (stdout).
    pub out: &'a mut dyn Write,
    /// Confirmation input (stdin).
    pub input: &'a mut dyn BufRead,
    /// Whether to ask for confirmation (stdin is a terminal).
    pub interactive: bool,
    /// Current unix time.
    pub now: u64,
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn with_std_console<T>(f: impl FnOnce(&mut Console<'_>) -> Result<T, Error>) -> Result<T, Error> {
    let stdin = io::stdin();
    let interactive = stdin.is_terminal();
    let mut input = stdin.lock();
    let mut out = io::stdout().lock();
    let mut c = Console {
        out: &mut out,
        input: &mut input,
        interactive,
        now: now_unix(),
    };
    f(&mut c)
}

/// Runs `openlatch keys ...` on the process's stdin/stdout.
pub fn run_keys(cmd: KeysCommand) -> Result<(), Error> {
    with_std_console(|c| run_keys_with(cmd, c))
}

/// Runs `openlatch allowlist ...` on the process's stdout.
pub fn run_allowlist(cmd: AllowlistCommand) -> Result<(), Error> {
    with_std_console(|c| run_allowlist_with(cmd, c))
}

/// [`run_keys`] with explicit input, output and clock (for tests).
pub fn run_keys_with(cmd: KeysCommand, c: &mut Console<'_>) -> Result<(), Error> {
    match cmd {
        KeysCommand::InitMaster { out } => {
            let key = keyfile::create_master(&out)?;
            writeln!(c.out, "{}", public_key_hex(&key)).map_err(Error::stdout)
        }
        KeysCommand::Delegate {
            master,
            key_id,
            valid_days,
            out,
        } => {
            let master = read_secret_key(&master)?;
            let (_, cert) = keyfile::create_subkey(&master, &out, key_id, c.now, valid_days)?;
            let (k, p) = subkey_paths(&out);
            writeln!(
                c.out,
                "sub-key {} (key id {key_id}) valid {} .. {}\nwrote {} and {}",
                hex::encode(cert.sub_pubkey),
                render::time(cert.valid_from),
                render::time(cert.valid_until),
                k.display(),
                p.display()
            )
            .map_err(Error::stdout)
        }
        KeysCommand::Sign {
            subkey,
            unsigned,
            signed,
            previous,
            yes,
        } => sign::run(&subkey, &unsigned, &signed, previous.as_deref(), yes, c),
    }
}

/// [`run_allowlist`] with explicit output and clock (for tests).
pub fn run_allowlist_with(cmd: AllowlistCommand, c: &mut Console<'_>) -> Result<(), Error> {
    match cmd {
        AllowlistCommand::Inspect {
            file,
            master_pubkey,
            json,
            at,
            unsigned,
        } => {
            let now = match at {
                Some(s) => parse_time(&s)?,
                None => c.now,
            };
            let bytes = std::fs::read(&file).map_err(|e| Error::io(&file, e))?;
            let (list, cert) = if unsigned {
                let l = ol02::List::parse_unsigned(&bytes).map_err(|reason| Error::Decode {
                    path: file.clone(),
                    reason,
                })?;
                (l, None)
            } else {
                let pk = parse_public_key_hex(master_pubkey.as_deref().unwrap_or_default())?;
                let v = ol02::verify_list(&bytes, &pk, now, 0).map_err(|reason| Error::Verify {
                    path: file.clone(),
                    reason,
                })?;
                (*v.list(), Some(*v.certificate()))
            };
            if json {
                let v = render::list_json(&list, cert.as_ref(), bytes.len(), now);
                let text = serde_json::to_string_pretty(&v).map_err(|e| Error::stdout(e.into()))?;
                writeln!(c.out, "{text}").map_err(Error::stdout)
            } else {
                render::list_text(c.out, &list, cert.as_ref(), bytes.len(), now)
                    .map_err(Error::stdout)
            }
        }
    }
}

/// Parses an RFC 3339 time into unix seconds.
pub fn parse_time(s: &str) -> Result<u64, Error> {
    let t = chrono::DateTime::parse_from_rfc3339(s).map_err(|_| Error::BadTime(s.to_string()))?;
    u64::try_from(t.timestamp()).map_err(|_| Error::BadTime(s.to_string()))
}
