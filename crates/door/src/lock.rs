//! Locks: a trait plus a factory keyed by the config's `kind`
//! (`command`, `nuki-bridge`, `gpio`). Adding a lock is one file-sized impl
//! and one line in [`open`].

use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use async_trait::async_trait;
use serde::Deserialize;

use crate::config::LockConfig;

/// What a lock can tell about itself (the NUKI fields of the heartbeat).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockStatus {
    pub battery_percent: Option<i64>,
    pub battery_critical: Option<bool>,
    pub paired: Option<bool>,
    /// `locked`, `unlocked`, ... (lower case, `_` for spaces).
    pub state: Option<String>,
}

#[async_trait]
pub trait Lock: Send + Sync {
    /// `command`, `nuki-bridge`, `gpio`.
    fn kind(&self) -> &'static str;
    async fn unlock(&self) -> anyhow::Result<()>;
    async fn lock(&self) -> anyhow::Result<()>;
    /// The lock's own report, for heartbeats and the daily report; `None`
    /// when the lock has nothing to say (a relay).
    async fn status(&self) -> anyhow::Result<Option<LockStatus>>;
}

/// Opens the lock the configuration names.
pub fn open(cfg: &LockConfig) -> anyhow::Result<Box<dyn Lock>> {
    Ok(match cfg {
        LockConfig::Command {
            command,
            lock_command,
            timeout_seconds,
        } => Box::new(CommandLock {
            unlock: command.clone(),
            lock: lock_command.clone(),
            timeout: Duration::from_secs(*timeout_seconds),
        }),
        LockConfig::NukiBridge {
            url,
            token,
            nuki_id,
            device_type,
            unlatch,
        } => Box::new(NukiBridge::new(
            url,
            token,
            *nuki_id,
            *device_type,
            *unlatch,
        )?),
        #[cfg(feature = "gpio")]
        LockConfig::Gpio {
            chip,
            line,
            active_low,
            pulse_ms,
        } => Box::new(gpio::GpioLock::open(chip, *line, *active_low, *pulse_ms)?),
        #[cfg(not(feature = "gpio"))]
        LockConfig::Gpio { .. } => {
            bail!(
                "lock.kind = \"gpio\": this build has no GPIO support (build with --features gpio)"
            )
        }
    })
}

/// Runs a program; exit status 0 means done. The environment variable
/// `OPENLATCH_DOOR_ACTION` says `unlock` or `lock`.
pub struct CommandLock {
    unlock: Vec<String>,
    lock: Option<Vec<String>>,
    timeout: Duration,
}

async fn run(argv: &[String], action: &str, timeout: Duration) -> anyhow::Result<()> {
    let (prog, args) = argv
        .split_first()
        .ok_or_else(|| anyhow!("lock.command is empty"))?;
    let mut child = tokio::process::Command::new(prog)
        .args(args)
        .env("OPENLATCH_DOOR_ACTION", action)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot run {prog}"))?;
    let status = tokio::time::timeout(timeout, child.wait())
        .await
        .map_err(|_| anyhow!("{prog} did not finish within {}s", timeout.as_secs()))??;
    if !status.success() {
        bail!("{prog} failed: {status}");
    }
    Ok(())
}

#[async_trait]
impl Lock for CommandLock {
    fn kind(&self) -> &'static str {
        "command"
    }
    async fn unlock(&self) -> anyhow::Result<()> {
        run(&self.unlock, "unlock", self.timeout).await
    }
    async fn lock(&self) -> anyhow::Result<()> {
        match &self.lock {
            Some(argv) => run(argv, "lock", self.timeout).await,
            // A pulsed strike locks by itself.
            None => Ok(()),
        }
    }
    async fn status(&self) -> anyhow::Result<Option<LockStatus>> {
        Ok(None)
    }
}

/// A NUKI Smart Lock through the NUKI Bridge HTTP API (`/lockAction`,
/// `/list`, token as a query parameter as the Bridge expects it).
pub struct NukiBridge {
    base: String,
    token: String,
    nuki_id: u64,
    device_type: u8,
    unlatch: bool,
    client: reqwest::Client,
}

/// NUKI lock actions.
const NUKI_UNLOCK: u8 = 1;
const NUKI_LOCK: u8 = 2;
const NUKI_UNLATCH: u8 = 3;

#[derive(Deserialize)]
struct ActionReply {
    success: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListedDevice {
    nuki_id: u64,
    #[serde(default)]
    device_type: Option<u8>,
    #[serde(default)]
    last_known_state: Option<KnownState>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KnownState {
    #[serde(default)]
    state_name: Option<String>,
    #[serde(default)]
    battery_critical: Option<bool>,
    #[serde(default)]
    battery_charge_state: Option<i64>,
}

impl NukiBridge {
    pub fn new(
        url: &str,
        token: &str,
        nuki_id: u64,
        device_type: u8,
        unlatch: bool,
    ) -> anyhow::Result<NukiBridge> {
        Ok(NukiBridge {
            base: url.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            nuki_id,
            device_type,
            unlatch,
            // The Bridge answers lockAction once the motor has moved.
            client: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .timeout(Duration::from_secs(30))
                .build()?,
        })
    }

    async fn action(&self, action: u8) -> anyhow::Result<()> {
        let resp = self
            .client
            .get(format!("{}/lockAction", self.base))
            .query(&[
                ("nukiId", self.nuki_id.to_string()),
                ("deviceType", self.device_type.to_string()),
                ("action", action.to_string()),
                ("token", self.token.clone()),
            ])
            .send()
            .await
            .map_err(|e| anyhow!("NUKI Bridge unreachable: {}", e.without_url()))?;
        let status = resp.status();
        if !status.is_success() {
            bail!("NUKI Bridge answered {status} to lockAction {action}");
        }
        let reply: ActionReply = resp.json().await.map_err(|e| e.without_url())?;
        if !reply.success {
            bail!("NUKI Bridge reports lockAction {action} failed");
        }
        Ok(())
    }
}

#[async_trait]
impl Lock for NukiBridge {
    fn kind(&self) -> &'static str {
        "nuki-bridge"
    }
    async fn unlock(&self) -> anyhow::Result<()> {
        self.action(if self.unlatch {
            NUKI_UNLATCH
        } else {
            NUKI_UNLOCK
        })
        .await
    }
    async fn lock(&self) -> anyhow::Result<()> {
        self.action(NUKI_LOCK).await
    }
    async fn status(&self) -> anyhow::Result<Option<LockStatus>> {
        let resp = self
            .client
            .get(format!("{}/list", self.base))
            .query(&[("token", self.token.as_str())])
            .send()
            .await
            .map_err(|e| anyhow!("NUKI Bridge unreachable: {}", e.without_url()))?;
        if !resp.status().is_success() {
            bail!("NUKI Bridge answered {} to /list", resp.status());
        }
        let devices: Vec<ListedDevice> = resp.json().await.map_err(|e| e.without_url())?;
        let me = devices.into_iter().find(|d| {
            d.nuki_id == self.nuki_id && d.device_type.map_or(true, |t| t == self.device_type)
        });
        let Some(me) = me else {
            return Ok(Some(LockStatus {
                battery_percent: Some(-1),
                paired: Some(false),
                ..LockStatus::default()
            }));
        };
        let s = me.last_known_state;
        Ok(Some(LockStatus {
            battery_percent: Some(
                s.as_ref()
                    .and_then(|s| s.battery_charge_state)
                    .filter(|b| (0..=100).contains(b))
                    .unwrap_or(-1),
            ),
            battery_critical: s.as_ref().and_then(|s| s.battery_critical),
            paired: Some(true),
            state: s.and_then(|s| s.state_name).map(|n| {
                n.to_ascii_lowercase()
                    .chars()
                    .map(|c| if c.is_ascii_lowercase() { c } else { '_' })
                    .take(32)
                    .collect()
            }),
        }))
    }
}

#[cfg(feature = "gpio")]
mod gpio {
    use std::path::Path;
    use std::sync::Mutex;
    use std::time::Duration;

    use anyhow::Context;
    use async_trait::async_trait;
    use gpiocdev::line::Value;
    use gpiocdev::Request;

    use super::{Lock, LockStatus};

    /// A relay on one output line: active = unlocked.
    pub struct GpioLock {
        req: Mutex<Request>,
        line: u32,
        pulse: Option<Duration>,
    }

    impl GpioLock {
        pub fn open(
            chip: &Path,
            line: u32,
            active_low: bool,
            pulse_ms: Option<u64>,
        ) -> anyhow::Result<GpioLock> {
            let mut b = Request::builder();
            b.on_chip(chip)
                .with_consumer("openlatch-door")
                .with_line(line)
                .as_output(Value::Inactive);
            if active_low {
                b.as_active_low();
            }
            let req = b.request().with_context(|| {
                format!(
                    "lock: cannot claim line {line} of {} (is it in use, or is the \
                     user missing from the gpio group?)",
                    chip.display()
                )
            })?;
            Ok(GpioLock {
                req: Mutex::new(req),
                line,
                pulse: pulse_ms.map(Duration::from_millis),
            })
        }

        fn set(&self, v: Value) -> anyhow::Result<()> {
            let req = self
                .req
                .lock()
                .map_err(|_| anyhow::anyhow!("GPIO lock poisoned"))?;
            req.set_value(self.line, v)?;
            Ok(())
        }
    }

    #[async_trait]
    impl Lock for GpioLock {
        fn kind(&self) -> &'static str {
            "gpio"
        }
        async fn unlock(&self) -> anyhow::Result<()> {
            self.set(Value::Active)?;
            if let Some(p) = self.pulse {
                tokio::time::sleep(p).await;
                self.set(Value::Inactive)?;
            }
            Ok(())
        }
        async fn lock(&self) -> anyhow::Result<()> {
            self.set(Value::Inactive)
        }
        async fn status(&self) -> anyhow::Result<Option<LockStatus>> {
            Ok(None)
        }
    }
}
