//! The door's TOML configuration (every key is documented in docs/door.md).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Deserialize;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Base URL of the OpenLatch server, e.g. `http://10.0.0.2:8080`.
    pub server_url: String,
    /// The door's device token (`olt_...`), or...
    #[serde(default)]
    pub token: Option<String>,
    /// ...a file holding it (first line).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Master public key, 64 hex digits.
    pub master_public_key: String,
    /// Where the verified list and the event queue live.
    pub state_dir: PathBuf,
    #[serde(default = "default_poll")]
    pub poll_seconds: u64,
    #[serde(default = "default_heartbeat")]
    pub heartbeat_seconds: u64,
    /// How long a grant keeps the door unlocked before it locks again.
    #[serde(default = "default_unlock")]
    pub unlock_seconds: u64,
    /// Longest wait for a live approval (the server answers sooner).
    #[serde(default = "default_approval_wait")]
    pub approval_wait_seconds: u64,
    pub reader: ReaderConfig,
    pub lock: LockConfig,
    #[serde(default)]
    pub keypad: KeypadConfig,
    #[serde(default)]
    pub button: Option<ButtonConfig>,
    #[serde(default)]
    pub indicators: Option<IndicatorConfig>,
}

fn default_poll() -> u64 {
    30
}
fn default_heartbeat() -> u64 {
    60
}
fn default_unlock() -> u64 {
    5
}
fn default_approval_wait() -> u64 {
    90
}

/// `[reader]`: where taps (and keypad keys) come from.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ReaderConfig {
    /// One line per tap on standard input: a hex UID, `keypad <keys>`, or
    /// `shutdown` (the inside button).
    Stdin,
    /// A USB reader or keypad that types like a keyboard.
    Evdev {
        device: PathBuf,
        #[serde(default)]
        uid_format: UidFormat,
        #[serde(default)]
        byte_order: ByteOrder,
        /// UID length in bytes for decimal readers (4, 7 or 10).
        #[serde(default = "default_uid_len")]
        uid_bytes: usize,
        /// Grab the device so typed UIDs do not reach a console.
        #[serde(default = "yes")]
        grab: bool,
    },
    /// A PC/SC reader (needs the `pcsc` feature).
    Pcsc {
        /// Name (or part of it) of the reader to use; the first one if unset.
        #[serde(default)]
        reader: Option<String>,
    },
}

fn default_uid_len() -> usize {
    4
}
fn yes() -> bool {
    true
}

/// How an evdev reader types a UID.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UidFormat {
    #[default]
    Hex,
    Decimal,
}

/// Byte order of the typed UID.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ByteOrder {
    /// As the card sends it (the usual order).
    #[default]
    MsbFirst,
    /// Reversed (many cheap 125 kHz/13.56 MHz keyboard readers).
    LsbFirst,
}

/// `[lock]`: what opens the door.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum LockConfig {
    /// Programs to run. `command` unlocks; `lock_command`, if set, locks.
    Command {
        command: Vec<String>,
        #[serde(default)]
        lock_command: Option<Vec<String>>,
        #[serde(default = "default_command_timeout")]
        timeout_seconds: u64,
    },
    /// A NUKI Smart Lock behind a NUKI Bridge (HTTP API).
    NukiBridge {
        /// `http://192.168.1.50:8080`
        url: String,
        token: String,
        nuki_id: u64,
        /// 0 = Smart Lock, 2 = Opener, 3 = Smart Door, 4 = Smart Lock 3.0.
        #[serde(default)]
        device_type: u8,
        /// Unlatch (open the latch) instead of a plain unlock.
        #[serde(default)]
        unlatch: bool,
    },
    /// A relay on a GPIO character-device line (needs the `gpio` feature).
    Gpio {
        /// `/dev/gpiochip0`
        chip: PathBuf,
        line: u32,
        #[serde(default)]
        active_low: bool,
        /// Pulse the relay for this long instead of holding it open until
        /// the door locks again (door strikes that must not stay energised).
        #[serde(default)]
        pulse_ms: Option<u64>,
    },
}

fn default_command_timeout() -> u64 {
    10
}

/// `[keypad]`: escalation to a keypad code.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeypadConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// How long the door waits for a code after escalating.
    #[serde(default = "default_keypad_wait")]
    pub wait_seconds: u64,
}

impl Default for KeypadConfig {
    fn default() -> Self {
        KeypadConfig {
            enabled: true,
            wait_seconds: default_keypad_wait(),
        }
    }
}

fn default_keypad_wait() -> u64 {
    30
}

/// `[button]`: the inside space-shutdown button.
#[derive(Debug, Clone, Deserialize)]
pub struct ButtonConfig {
    #[serde(flatten)]
    pub input: ButtonInput,
    #[serde(default = "default_countdown")]
    pub countdown_seconds: u64,
    #[serde(default = "default_beep")]
    pub beep_every_seconds: u64,
}

fn default_countdown() -> u64 {
    120
}
fn default_beep() -> u64 {
    10
}

/// Where button presses come from.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ButtonInput {
    /// The reader's `stdin` line `shutdown`.
    Stdin,
    /// A key on an input device, e.g. `KEY_F12`.
    Evdev { device: PathBuf, key: String },
    /// A push button pulling a GPIO line.
    Gpio {
        chip: PathBuf,
        line: u32,
        #[serde(default)]
        active_low: bool,
    },
}

/// `[indicators]`: LEDs and buzzer.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum IndicatorConfig {
    /// Runs the program with the state name as its last argument.
    Command { command: Vec<String> },
    /// LEDs and a buzzer on GPIO lines.
    Gpio {
        chip: PathBuf,
        #[serde(default)]
        green: Option<u32>,
        #[serde(default)]
        red: Option<u32>,
        #[serde(default)]
        buzzer: Option<u32>,
    },
}

impl Config {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the configuration {}", path.display()))?;
        let cfg: Config = toml::from_str(&text)
            .with_context(|| format!("configuration {} is invalid", path.display()))?;
        cfg.check()?;
        warn_if_readable_by_others(path, cfg.token.is_some());
        if let Some(f) = &cfg.token_file {
            warn_if_readable_by_others(f, true);
        }
        Ok(cfg)
    }

    fn check(&self) -> anyhow::Result<()> {
        let url = self.server_url.trim_end_matches('/');
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            bail!("server_url: must start with http:// or https://");
        }
        self.master_key()?;
        match (&self.token, &self.token_file) {
            (Some(_), Some(_)) => bail!("token, token_file: give one of them, not both"),
            (None, None) => bail!("token: missing (or give token_file)"),
            _ => {}
        }
        for (name, v) in [
            ("poll_seconds", self.poll_seconds),
            ("heartbeat_seconds", self.heartbeat_seconds),
            ("unlock_seconds", self.unlock_seconds),
            ("keypad.wait_seconds", self.keypad.wait_seconds),
        ] {
            if v == 0 {
                bail!("{name}: must be at least 1");
            }
        }
        if let LockConfig::Command { command, .. } = &self.lock {
            if command.is_empty() {
                bail!("lock.command: must name a program");
            }
        }
        if let ReaderConfig::Evdev { uid_bytes, .. } = &self.reader {
            if ![4, 7, 10].contains(uid_bytes) {
                bail!("reader.uid_bytes: must be 4, 7 or 10");
            }
        }
        if let Some(b) = &self.button {
            if matches!(b.input, ButtonInput::Stdin) && !matches!(self.reader, ReaderConfig::Stdin)
            {
                bail!("button.kind: \"stdin\" needs reader.kind = \"stdin\"");
            }
            if b.countdown_seconds == 0 || b.beep_every_seconds == 0 {
                bail!("button.countdown_seconds, button.beep_every_seconds: must be at least 1");
            }
        }
        Ok(())
    }

    /// The master public key as bytes.
    pub fn master_key(&self) -> anyhow::Result<[u8; 32]> {
        let bytes = hex::decode(self.master_public_key.trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok());
        bytes.ok_or_else(|| anyhow::anyhow!("master_public_key: must be 64 hex digits"))
    }

    /// The device token, read from `token_file` if needed.
    pub fn token(&self) -> anyhow::Result<String> {
        let t = match (&self.token, &self.token_file) {
            (Some(t), _) => t.trim().to_owned(),
            (None, Some(f)) => std::fs::read_to_string(f)
                .with_context(|| format!("token_file: cannot read {}", f.display()))?
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_owned(),
            (None, None) => bail!("token: missing"),
        };
        if !t.starts_with("olt_") {
            bail!("token: a door token starts with olt_");
        }
        Ok(t)
    }

    /// The server URL without a trailing slash.
    pub fn base_url(&self) -> &str {
        self.server_url.trim_end_matches('/')
    }
}

/// The token opens the door's Device API: it must not be world-readable.
fn warn_if_readable_by_others(path: &Path, holds_token: bool) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        if holds_token && meta.permissions().mode() & 0o004 != 0 {
            tracing::warn!(
                "{} holds the door token and is readable by every user: chmod o-r it",
                path.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
server_url = "http://127.0.0.1:8080"
token = "olt_abc"
master_public_key = "0000000000000000000000000000000000000000000000000000000000000000"
state_dir = "/var/lib/openlatch-door"
poll_seconds = 2
[reader]
kind = "stdin"
[lock]
kind = "command"
command = ["/usr/local/bin/open-relay", "--pulse", "3"]
"#;

    #[test]
    fn the_issue_minimal_config_parses_with_defaults() {
        let c: Config = toml::from_str(MINIMAL).unwrap();
        c.check().unwrap();
        assert_eq!(c.poll_seconds, 2);
        assert_eq!(c.heartbeat_seconds, 60);
        assert_eq!(c.unlock_seconds, 5);
        assert!(c.keypad.enabled);
        assert!(matches!(c.reader, ReaderConfig::Stdin));
        assert!(matches!(c.lock, LockConfig::Command { ref command, .. } if command.len() == 3));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let e = toml::from_str::<Config>(&format!("{MINIMAL}\nbogus = 1")).unwrap_err();
        assert!(e.to_string().contains("bogus"), "{e}");
        let bad = MINIMAL.replace(
            "0000000000000000000000000000000000000000000000000000000000000000",
            "12",
        );
        let c: Config = toml::from_str(&bad).unwrap();
        assert!(c
            .check()
            .unwrap_err()
            .to_string()
            .contains("master_public_key"));
        let e = toml::from_str::<Config>(&MINIMAL.replace("kind = \"stdin\"", "kind = \"floppy\""))
            .unwrap_err();
        assert!(e.to_string().contains("floppy"), "{e}");
    }

    #[test]
    fn button_and_nuki_sections() {
        let text = MINIMAL.replace(
            "[lock]\nkind = \"command\"\ncommand = [\"/usr/local/bin/open-relay\", \"--pulse\", \"3\"]",
            "[lock]\nkind = \"nuki-bridge\"\nurl = \"http://10.0.0.5:8080\"\ntoken = \"abc\"\nnuki_id = 42\n\
             [button]\nkind = \"stdin\"\ncountdown_seconds = 3\n",
        );
        let c: Config = toml::from_str(&text).unwrap();
        assert!(matches!(c.lock, LockConfig::NukiBridge { nuki_id: 42, .. }));
        let b = c.button.unwrap();
        assert!(matches!(b.input, ButtonInput::Stdin));
        assert_eq!(b.countdown_seconds, 3);
        assert_eq!(b.beep_every_seconds, 10);
    }
}
