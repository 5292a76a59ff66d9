//! Configuration: defaults, then an optional TOML file, then `OPENLATCH_*` variables.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("environment variable {var}: {message}")]
    Env { var: &'static str, message: String },
    #[error("{0}")]
    Invalid(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SigningMode {
    Online,
    AirGapped,
}

impl FromStr for SigningMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "online" => Ok(Self::Online),
            "air-gapped" => Ok(Self::AirGapped),
            _ => Err("must be \"online\" or \"air-gapped\"".into()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err("must be \"text\" or \"json\"".into()),
        }
    }
}

/// Every setting of the server. Secrets are `SecretString`, whose `Debug` is redacted.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// `sqlite://...` or `postgres://...`; default: `openlatch.db` in the data dir.
    pub database_url: Option<SecretString>,
    pub admin_username: Option<String>,
    pub admin_password: Option<SecretString>,
    pub admin_email: Option<String>,
    /// Token-signing secret shared by all instances; created in the database when absent.
    pub jwt_secret: Option<SecretString>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpAddr>,
    pub max_body_bytes: usize,
    pub approval_timeout_secs: u64,
    pub signing_mode: SigningMode,
    pub master_public_key: Option<String>,
    pub subkey: Option<PathBuf>,
    pub allowlist_validity_days: u32,
    pub monitoring_token: Option<SecretString>,
    pub log_format: LogFormat,
    pub db_max_connections: u32,
    /// PEM certificate chain for HTTPS without a proxy; re-read on SIGHUP.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key belonging to `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// A door without a heartbeat for this long is reported offline.
    pub door_offline_after_secs: u64,
    /// Webhooks may target loopback, private and link-local addresses
    /// (refused by default: the server shares a network with the doors).
    pub notify_allow_private_targets: bool,
    /// How long one webhook or e-mail attempt may take.
    pub notify_timeout_secs: u64,
    /// `mqtt://user:pass@host:1883` or `mqtts://...`; MQTT is off without it.
    pub mqtt_url: Option<SecretString>,
    pub mqtt_topic_prefix: String,
    /// Home Assistant's discovery prefix; empty turns discovery off.
    pub mqtt_discovery_prefix: String,
    /// `smtp://host:587?tls=required` (STARTTLS), `smtps://host:465` (TLS),
    /// `smtp://host:25` (plain, local relays only); e-mail is off without it.
    pub smtp_url: Option<SecretString>,
    /// The From address of notification e-mails.
    pub smtp_from: Option<String>,
    /// Where people reach this server, for links in e-mails (`https://door.example.org`).
    pub public_url: Option<String>,
    /// argon2 checks running at once (each holds 19 MiB); default: the cores.
    pub password_workers: usize,
    /// Start even if the data directory or database is readable by others.
    pub allow_insecure_permissions: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./openlatch-data"),
            database_url: None,
            admin_username: None,
            admin_password: None,
            admin_email: None,
            jwt_secret: None,
            trusted_proxies: Vec::new(),
            max_body_bytes: 64 * 1024,
            approval_timeout_secs: 60,
            signing_mode: SigningMode::Online,
            master_public_key: None,
            subkey: None,
            allowlist_validity_days: 30,
            monitoring_token: None,
            log_format: LogFormat::Text,
            db_max_connections: 10,
            tls_cert: None,
            tls_key: None,
            door_offline_after_secs: 600,
            notify_allow_private_targets: false,
            notify_timeout_secs: 10,
            mqtt_url: None,
            mqtt_topic_prefix: "openlatch".into(),
            mqtt_discovery_prefix: "homeassistant".into(),
            smtp_url: None,
            smtp_from: None,
            public_url: None,
            password_workers: std::thread::available_parallelism()
                .map_or(2, std::num::NonZeroUsize::get),
            allow_insecure_permissions: false,
        }
    }
}

impl Config {
    /// Loads the layers in order; `env` is injected so tests need not touch the process.
    pub fn load(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                toml::from_str(&text).map_err(|source| ConfigError::Parse {
                    path: path.to_owned(),
                    source: Box::new(source),
                })?
            }
            None => Config::default(),
        };
        config.apply_env(env)?;
        config.check()?;
        Ok(config)
    }

    pub fn from_process_env(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load(file, |k| std::env::var(k).ok())
    }

    fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        fn parsed<T: FromStr>(var: &'static str, raw: String) -> Result<T, ConfigError>
        where
            T::Err: std::fmt::Display,
        {
            raw.trim().parse().map_err(|e: T::Err| ConfigError::Env {
                var,
                message: e.to_string(),
            })
        }
        let secret = |raw: String| Some(SecretString::from(raw));

        if let Some(v) = env("OPENLATCH_LISTEN") {
            self.listen = parsed("OPENLATCH_LISTEN", v)?;
        }
        if let Some(v) = env("OPENLATCH_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = env("OPENLATCH_DATABASE_URL") {
            self.database_url = secret(v);
        }
        if let Some(v) = env("OPENLATCH_ADMIN_USERNAME") {
            self.admin_username = Some(v);
        }
        if let Some(v) = env("OPENLATCH_ADMIN_PASSWORD") {
            self.admin_password = secret(v);
        }
        if let Some(v) = env("OPENLATCH_ADMIN_EMAIL") {
            self.admin_email = Some(v);
        }
        if let Some(v) = env("OPENLATCH_JWT_SECRET") {
            self.jwt_secret = secret(v);
        }
        if let Some(v) = env("OPENLATCH_TRUSTED_PROXIES") {
            self.trusted_proxies = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| parsed("OPENLATCH_TRUSTED_PROXIES", s.to_owned()))
                .collect::<Result<_, _>>()?;
        }
        if let Some(v) = env("OPENLATCH_MAX_BODY_BYTES") {
            self.max_body_bytes = parsed("OPENLATCH_MAX_BODY_BYTES", v)?;
        }
        if let Some(v) = env("OPENLATCH_APPROVAL_TIMEOUT_SECS") {
            self.approval_timeout_secs = parsed("OPENLATCH_APPROVAL_TIMEOUT_SECS", v)?;
        }
        if let Some(v) = env("OPENLATCH_SIGNING_MODE") {
            self.signing_mode = parsed("OPENLATCH_SIGNING_MODE", v)?;
        }
        if let Some(v) = env("OPENLATCH_MASTER_PUBLIC_KEY") {
            self.master_public_key = Some(v);
        }
        if let Some(v) = env("OPENLATCH_SUBKEY") {
            self.subkey = Some(PathBuf::from(v));
        }
        if let Some(v) = env("OPENLATCH_ALLOWLIST_VALIDITY_DAYS") {
            self.allowlist_validity_days = parsed("OPENLATCH_ALLOWLIST_VALIDITY_DAYS", v)?;
        }
        if let Some(v) = env("OPENLATCH_MONITORING_TOKEN") {
            self.monitoring_token = secret(v);
        }
        if let Some(v) = env("OPENLATCH_LOG_FORMAT") {
            self.log_format = parsed("OPENLATCH_LOG_FORMAT", v)?;
        }
        if let Some(v) = env("OPENLATCH_ALLOW_INSECURE_PERMISSIONS") {
            self.allow_insecure_permissions = match v.trim() {
                "1" | "true" => true,
                "0" | "false" | "" => false,
                _ => {
                    return Err(ConfigError::Env {
                        var: "OPENLATCH_ALLOW_INSECURE_PERMISSIONS",
                        message: "must be 1 or 0".into(),
                    })
                }
            };
        }
        if let Some(v) = env("OPENLATCH_PASSWORD_WORKERS") {
            self.password_workers = parsed("OPENLATCH_PASSWORD_WORKERS", v)?;
        }
        if let Some(v) = env("OPENLATCH_DB_MAX_CONNECTIONS") {
            self.db_max_connections = parsed("OPENLATCH_DB_MAX_CONNECTIONS", v)?;
        }
        if let Some(v) = env("OPENLATCH_TLS_CERT") {
            self.tls_cert = Some(PathBuf::from(v));
        }
        if let Some(v) = env("OPENLATCH_TLS_KEY") {
            self.tls_key = Some(PathBuf::from(v));
        }
        if let Some(v) = env("OPENLATCH_DOOR_OFFLINE_AFTER_SECS") {
            self.door_offline_after_secs = parsed("OPENLATCH_DOOR_OFFLINE_AFTER_SECS", v)?;
        }
        if let Some(v) = env("OPENLATCH_NOTIFY_ALLOW_PRIVATE_TARGETS") {
            self.notify_allow_private_targets =
                parsed("OPENLATCH_NOTIFY_ALLOW_PRIVATE_TARGETS", v)?;
        }
        if let Some(v) = env("OPENLATCH_NOTIFY_TIMEOUT_SECS") {
            self.notify_timeout_secs = parsed("OPENLATCH_NOTIFY_TIMEOUT_SECS", v)?;
        }
        if let Some(v) = env("OPENLATCH_MQTT_URL") {
            self.mqtt_url = secret(v);
        }
        if let Some(v) = env("OPENLATCH_MQTT_TOPIC_PREFIX") {
            self.mqtt_topic_prefix = v;
        }
        if let Some(v) = env("OPENLATCH_MQTT_DISCOVERY_PREFIX") {
            self.mqtt_discovery_prefix = v;
        }
        if let Some(v) = env("OPENLATCH_SMTP_URL") {
            self.smtp_url = secret(v);
        }
        if let Some(v) = env("OPENLATCH_SMTP_FROM") {
            self.smtp_from = Some(v);
        }
        if let Some(v) = env("OPENLATCH_PUBLIC_URL") {
            self.public_url = Some(v);
        }
        Ok(())
    }

    fn check(&self) -> Result<(), ConfigError> {
        if self.max_body_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "max_body_bytes must be at least 1024".into(),
            ));
        }
        if !(1..=600).contains(&self.approval_timeout_secs) {
            return Err(ConfigError::Invalid(
                "approval_timeout_secs must be between 1 and 600".into(),
            ));
        }
        if !(1..=365).contains(&self.allowlist_validity_days) {
            return Err(ConfigError::Invalid(
                "allowlist_validity_days must be between 1 and 365".into(),
            ));
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::Invalid(
                "tls_cert (OPENLATCH_TLS_CERT) and tls_key (OPENLATCH_TLS_KEY) must be set together"
                    .into(),
            ));
        }
        if !(60..=86_400).contains(&self.door_offline_after_secs) {
            return Err(ConfigError::Invalid(
                "door_offline_after_secs must be between 60 and 86400".into(),
            ));
        }
        if !(1..=60).contains(&self.notify_timeout_secs) {
            return Err(ConfigError::Invalid(
                "notify_timeout_secs must be between 1 and 60".into(),
            ));
        }
        let topic_ok =
            |t: &str| !t.contains(['+', '#']) && !t.starts_with('/') && !t.ends_with('/');
        if self.mqtt_topic_prefix.is_empty() || !topic_ok(&self.mqtt_topic_prefix) {
            return Err(ConfigError::Invalid(
                "mqtt_topic_prefix must be a non-empty topic without wildcards or outer slashes"
                    .into(),
            ));
        }
        if !topic_ok(&self.mqtt_discovery_prefix) {
            return Err(ConfigError::Invalid(
                "mqtt_discovery_prefix must be a topic without wildcards or outer slashes".into(),
            ));
        }
        if self.smtp_url.is_some() && self.smtp_from.is_none() {
            return Err(ConfigError::Invalid(
                "smtp_from is required when smtp_url is set".into(),
            ));
        }
        if self.db_max_connections == 0 {
            return Err(ConfigError::Invalid(
                "db_max_connections must be at least 1".into(),
            ));
        }
        if !(1..=256).contains(&self.password_workers) {
            return Err(ConfigError::Invalid(
                "password_workers must be between 1 and 256".into(),
            ));
        }
        if let Some(secret) = &self.jwt_secret {
            check_jwt_secret(secret.expose_secret()).map_err(|message| ConfigError::Env {
                var: "OPENLATCH_JWT_SECRET",
                message,
            })?;
        }
        Ok(())
    }
}

/// Bytes a token-signing secret must have at least.
pub const JWT_SECRET_MIN_BYTES: usize = 32;
/// Estimated entropy a token-signing secret must have at least.
const JWT_SECRET_MIN_BITS: f64 = 128.0;

/// A short or repetitive HS256 secret lets anyone who guesses it forge an
/// admin session. The estimate is the string's own symbol frequencies times
/// its length: `openssl rand -hex 32` (about 240 bits) passes, 32 times the
/// same letter (0 bits) or a repeated word does not.
fn check_jwt_secret(secret: &str) -> Result<(), String> {
    let len = secret.len();
    if len < JWT_SECRET_MIN_BYTES {
        return Err(format!(
            "is {len} bytes long; it must be at least {JWT_SECRET_MIN_BYTES} random bytes \
             (e.g. `openssl rand -hex 32`), or unset it to let the server create one"
        ));
    }
    let mut counts = [0usize; 256];
    for b in secret.bytes() {
        counts[usize::from(b)] += 1;
    }
    #[allow(clippy::cast_precision_loss)] // lengths far below 2^52
    let bits: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / len as f64;
            -p * p.log2()
        })
        .sum::<f64>()
        * len as f64;
    if bits < JWT_SECRET_MIN_BITS {
        return Err(format!(
            "has too little entropy (about {bits:.0} bits; at least {JWT_SECRET_MIN_BITS:.0} \
             needed): use random bytes, e.g. `openssl rand -hex 32`, or unset it to let the \
             server create one"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults_need_no_configuration() {
        let c = Config::load(None, env(&[])).expect("defaults load");
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from("./openlatch-data"));
        assert!(c.database_url.is_none());
    }

    #[test]
    fn env_overrides_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("openlatch.toml");
        std::fs::write(
            &path,
            "listen = \"0.0.0.0:9000\"\napproval_timeout_secs = 30\n",
        )
        .expect("write");
        let c = Config::load(
            Some(&path),
            env(&[("OPENLATCH_APPROVAL_TIMEOUT_SECS", "5")]),
        )
        .expect("load");
        assert_eq!(c.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(c.approval_timeout_secs, 5);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = Config::load(None, env(&[("OPENLATCH_LISTEN", "nowhere")])).unwrap_err();
        assert!(err.to_string().contains("OPENLATCH_LISTEN"), "{err}");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "lisen = \"x\"\n").expect("write");
        let err = Config::load(Some(&path), env(&[])).unwrap_err();
        assert!(err.to_string().contains("lisen"), "{err}");
    }

    #[test]
    fn tls_needs_both_files() {
        let err = Config::load(None, env(&[("OPENLATCH_TLS_CERT", "/etc/cert.pem")])).unwrap_err();
        assert!(err.to_string().contains("OPENLATCH_TLS_KEY"), "{err}");
        let c = Config::load(
            None,
            env(&[
                ("OPENLATCH_TLS_CERT", "/etc/cert.pem"),
                ("OPENLATCH_TLS_KEY", "/etc/key.pem"),
            ]),
        )
        .expect("load");
        assert_eq!(c.tls_key, Some(PathBuf::from("/etc/key.pem")));
    }

    #[test]
    fn notification_settings_are_read_and_checked() {
        let c = Config::load(
            None,
            env(&[
                ("OPENLATCH_MQTT_URL", "mqtt://user:mqttpass@broker:1883"),
                ("OPENLATCH_SMTP_URL", "smtps://u:smtppass@mail.example.org"),
                ("OPENLATCH_SMTP_FROM", "door@example.org"),
                ("OPENLATCH_DOOR_OFFLINE_AFTER_SECS", "300"),
                ("OPENLATCH_NOTIFY_ALLOW_PRIVATE_TARGETS", "true"),
            ]),
        )
        .expect("load");
        assert_eq!(c.door_offline_after_secs, 300);
        assert!(c.notify_allow_private_targets);
        let debug = format!("{c:?}");
        assert!(
            !debug.contains("mqttpass") && !debug.contains("smtppass"),
            "{debug}"
        );
        let err =
            Config::load(None, env(&[("OPENLATCH_SMTP_URL", "smtp://127.0.0.1:25")])).unwrap_err();
        assert!(err.to_string().contains("smtp_from"), "{err}");
        let err = Config::load(None, env(&[("OPENLATCH_MQTT_TOPIC_PREFIX", "a/#")])).unwrap_err();
        assert!(err.to_string().contains("mqtt_topic_prefix"), "{err}");
        let err =
            Config::load(None, env(&[("OPENLATCH_DOOR_OFFLINE_AFTER_SECS", "5")])).unwrap_err();
        assert!(err.to_string().contains("door_offline_after_secs"), "{err}");
    }

    #[test]
    fn weak_jwt_secrets_refuse_to_start_naming_the_variable() {
        for weak in [
            "",
            "a",
            "short-but-not-empty",
            &"a".repeat(64),
            &"abcd".repeat(8),
        ] {
            let err = Config::load(None, env(&[("OPENLATCH_JWT_SECRET", weak)]))
                .expect_err("a weak secret must be refused");
            assert!(err.to_string().contains("OPENLATCH_JWT_SECRET"), "{err}");
        }
        // What `openssl rand -hex 32` and `-base64 32` print.
        for strong in [
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "q3Z1n0sVbR8yT+e2LkWmP4xHc7GdJ9uA/Nf5oIiY6tE=",
        ] {
            Config::load(None, env(&[("OPENLATCH_JWT_SECRET", strong)]))
                .expect("a random secret is accepted");
        }
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let c = Config::load(
            None,
            env(&[
                ("OPENLATCH_ADMIN_PASSWORD", "hunter2-hunter2"),
                ("OPENLATCH_DATABASE_URL", "postgres://u:dbpass@h/db"),
            ]),
        )
        .expect("load");
        let debug = format!("{c:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(!debug.contains("dbpass"), "{debug}");
    }
}
