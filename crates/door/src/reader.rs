//! Readers: a trait plus a factory keyed by the config's `kind` (`stdin`,
//! `evdev`, `pcsc`). A reader turns hardware into [`Input`]s on a channel;
//! button sources (`[button]`) feed the same channel.

use anyhow::bail;
use async_trait::async_trait;
use ol02::Uid;
use tokio::sync::mpsc;

use crate::config::{ButtonInput, ByteOrder, ReaderConfig, UidFormat};

/// Something happened at the door.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A card was held to the reader.
    Tap(Uid),
    /// Keys typed on the keypad, e.g. `12#123456#`.
    Keypad(String),
    /// The inside shutdown button was pressed.
    Button,
}

#[async_trait]
pub trait Reader: Send {
    fn kind(&self) -> &'static str;
    /// Feeds inputs into `tx` until the source ends or `tx` closes.
    async fn run(self: Box<Self>, tx: mpsc::Sender<Input>) -> anyhow::Result<()>;
}

/// Opens the reader the configuration names. Errors name the device and say
/// when it is a permissions problem.
pub fn open(cfg: &ReaderConfig, stdin_button: bool) -> anyhow::Result<Box<dyn Reader>> {
    Ok(match cfg {
        ReaderConfig::Stdin => Box::new(StdinReader { stdin_button }),
        #[cfg(feature = "evdev")]
        ReaderConfig::Evdev {
            device,
            uid_format,
            byte_order,
            uid_bytes,
            grab,
        } => Box::new(evdev_reader::EvdevReader::open(
            device,
            *uid_format,
            *byte_order,
            *uid_bytes,
            *grab,
        )?),
        #[cfg(not(feature = "evdev"))]
        ReaderConfig::Evdev { .. } => {
            bail!("reader.kind = \"evdev\": this build has no evdev support (build with --features evdev)")
        }
        #[cfg(feature = "pcsc")]
        ReaderConfig::Pcsc { reader } => Box::new(pcsc_reader::PcscReader::new(reader.clone())),
        #[cfg(not(feature = "pcsc"))]
        ReaderConfig::Pcsc { .. } => {
            bail!("reader.kind = \"pcsc\": this build has no PC/SC support (build with --features pcsc, needs libpcsclite-dev)")
        }
    })
}

/// Parses one line of the `stdin` reader.
pub fn parse_line(line: &str, stdin_button: bool) -> Result<Option<Input>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    if let Some(keys) = line.strip_prefix("keypad") {
        return Ok(Some(Input::Keypad(keys.trim().to_owned())));
    }
    if line == "shutdown" {
        return if stdin_button {
            Ok(Some(Input::Button))
        } else {
            Err("shutdown: no [button] with kind = \"stdin\" is configured".into())
        };
    }
    Uid::from_hex(line)
        .map(|u| Some(Input::Tap(u)))
        .map_err(|e| format!("not a UID: {e:?}"))
}

/// Turns what a keyboard-like reader typed into a UID.
pub fn typed_uid(
    typed: &str,
    format: UidFormat,
    order: ByteOrder,
    uid_bytes: usize,
) -> Option<Uid> {
    let mut bytes = match format {
        UidFormat::Hex => hex::decode(typed.trim()).ok()?,
        UidFormat::Decimal => {
            let n: u128 = typed.trim().parse().ok()?;
            let all = n.to_be_bytes();
            if all[..16 - uid_bytes].iter().any(|&b| b != 0) {
                return None;
            }
            all[16 - uid_bytes..].to_vec()
        }
    };
    if order == ByteOrder::LsbFirst {
        bytes.reverse();
    }
    Uid::new(&bytes).ok()
}

/// One line per tap on standard input (what the tests drive).
pub struct StdinReader {
    stdin_button: bool,
}

#[async_trait]
impl Reader for StdinReader {
    fn kind(&self) -> &'static str {
        "stdin"
    }
    async fn run(self: Box<Self>, tx: mpsc::Sender<Input>) -> anyhow::Result<()> {
        use tokio::io::AsyncBufReadExt;
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        while let Some(line) = lines.next_line().await? {
            match parse_line(&line, self.stdin_button) {
                Ok(Some(input)) => {
                    if tx.send(input).await.is_err() {
                        break;
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!("reader: ignored input line: {e}"),
            }
        }
        tracing::info!("reader: standard input closed");
        Ok(())
    }
}

/// Starts the `[button]` source when it is not the stdin reader.
pub fn spawn_button(input: &ButtonInput, tx: mpsc::Sender<Input>) -> anyhow::Result<()> {
    match input {
        ButtonInput::Stdin => Ok(()),
        #[cfg(feature = "evdev")]
        ButtonInput::Evdev { device, key } => evdev_reader::spawn_button(device, key, tx),
        #[cfg(feature = "gpio")]
        ButtonInput::Gpio {
            chip,
            line,
            active_low,
        } => gpio_button::spawn(chip, *line, *active_low, tx),
        #[allow(unreachable_patterns)]
        _ => {
            let _ = tx;
            bail!("button.kind: not supported by this build (enable the evdev or gpio feature)")
        }
    }
}

#[cfg(feature = "evdev")]
mod evdev_reader {
    use std::path::{Path, PathBuf};

    use anyhow::{anyhow, Context};
    use async_trait::async_trait;
    use evdev::{Device, InputEventKind, Key};
    use tokio::sync::mpsc;

    use super::{typed_uid, Input, Reader};
    use crate::config::{ByteOrder, UidFormat};

    pub struct EvdevReader {
        path: PathBuf,
        device: Device,
        format: UidFormat,
        order: ByteOrder,
        uid_bytes: usize,
    }

    pub(super) fn open_device(path: &Path) -> anyhow::Result<Device> {
        Device::open(path).map_err(|e| {
            let hint = match e.kind() {
                std::io::ErrorKind::PermissionDenied => {
                    " (permission denied: add the user to the 'input' group or a udev rule)"
                }
                std::io::ErrorKind::NotFound => {
                    " (no such device: check the path under /dev/input/by-id)"
                }
                _ => "",
            };
            anyhow!("cannot open {}: {e}{hint}", path.display())
        })
    }

    impl EvdevReader {
        pub fn open(
            path: &Path,
            format: UidFormat,
            order: ByteOrder,
            uid_bytes: usize,
            grab: bool,
        ) -> anyhow::Result<EvdevReader> {
            let mut device = open_device(path).context("reader")?;
            if grab {
                device
                    .grab()
                    .with_context(|| format!("reader: cannot grab {}", path.display()))?;
            }
            Ok(EvdevReader {
                path: path.to_owned(),
                device,
                format,
                order,
                uid_bytes,
            })
        }
    }

    /// The character a key types (digits, hex letters, `#` and `*`).
    fn key_char(k: Key) -> Option<char> {
        let name = format!("{k:?}");
        let rest = name.strip_prefix("KEY_KP").or(name.strip_prefix("KEY_"))?;
        match rest {
            "ASTERISK" => Some('*'),
            "ENTER" => Some('\n'),
            s if s.len() == 1 => s.chars().next().filter(|c| c.is_ascii_alphanumeric()),
            _ => None,
        }
    }

    #[async_trait]
    impl Reader for EvdevReader {
        fn kind(&self) -> &'static str {
            "evdev"
        }
        async fn run(self: Box<Self>, tx: mpsc::Sender<Input>) -> anyhow::Result<()> {
            let this = *self;
            let mut stream = this
                .device
                .into_event_stream()
                .with_context(|| format!("reader: {}", this.path.display()))?;
            let mut typed = String::new();
            let mut shift = false;
            loop {
                let ev = stream.next_event().await?;
                let InputEventKind::Key(key) = ev.kind() else {
                    continue;
                };
                if key == Key::KEY_LEFTSHIFT || key == Key::KEY_RIGHTSHIFT {
                    shift = ev.value() != 0;
                    continue;
                }
                if ev.value() != 1 {
                    continue; // presses only
                }
                // Keypads type '#' as shift+3.
                let c = match key_char(key) {
                    Some('3') if shift => '#',
                    Some(c) => c,
                    None => continue,
                };
                if c != '\n' {
                    typed.push(c.to_ascii_uppercase());
                    if typed.len() > 64 {
                        typed.clear();
                    }
                    continue;
                }
                let line = std::mem::take(&mut typed);
                let typed_len = line.len();
                let input = if line.contains('#') {
                    Some(Input::Keypad(line))
                } else {
                    typed_uid(&line, this.format, this.order, this.uid_bytes).map(Input::Tap)
                };
                match input {
                    Some(i) => {
                        if tx.send(i).await.is_err() {
                            return Ok(());
                        }
                    }
                    None => tracing::warn!("reader: ignored typed input of {typed_len} characters"),
                }
            }
        }
    }

    pub fn spawn_button(path: &Path, key: &str, tx: mpsc::Sender<Input>) -> anyhow::Result<()> {
        let key: Key = key
            .parse()
            .map_err(|_| anyhow!("button.key: {key} is not a key name such as KEY_F12"))?;
        let device = open_device(path).context("button")?;
        let mut stream = device.into_event_stream()?;
        tokio::spawn(async move {
            while let Ok(ev) = stream.next_event().await {
                if ev.kind() == InputEventKind::Key(key)
                    && ev.value() == 1
                    && tx.send(Input::Button).await.is_err()
                {
                    break;
                }
            }
        });
        Ok(())
    }
}

#[cfg(feature = "gpio")]
mod gpio_button {
    use std::path::Path;
    use std::time::Duration;

    use anyhow::Context;
    use gpiocdev::line::{EdgeDetection, EdgeKind};
    use gpiocdev::Request;
    use tokio::sync::mpsc;

    use super::Input;

    /// A push button: one press per rising edge (debounced in the kernel).
    pub fn spawn(
        chip: &Path,
        line: u32,
        active_low: bool,
        tx: mpsc::Sender<Input>,
    ) -> anyhow::Result<()> {
        let mut b = Request::builder();
        b.on_chip(chip)
            .with_consumer("openlatch-door-button")
            .with_line(line)
            .as_input()
            .with_edge_detection(EdgeDetection::RisingEdge)
            .with_debounce_period(Duration::from_millis(30));
        if active_low {
            b.as_active_low();
        }
        let req = b.request().with_context(|| {
            format!(
                "button: cannot claim line {line} of {} (in use, or user not in the gpio group?)",
                chip.display()
            )
        })?;
        std::thread::spawn(move || {
            while let Ok(ev) = req.read_edge_event() {
                if ev.kind == EdgeKind::Rising && tx.blocking_send(Input::Button).is_err() {
                    break;
                }
            }
        });
        Ok(())
    }
}

#[cfg(feature = "pcsc")]
mod pcsc_reader {
    use std::ffi::CString;
    use std::time::Duration;

    use anyhow::{anyhow, Context};
    use async_trait::async_trait;
    use ol02::Uid;
    use pcsc::{Protocols, Scope, ShareMode, MAX_BUFFER_SIZE};
    use tokio::sync::mpsc;

    use super::{Input, Reader};

    pub struct PcscReader {
        name: Option<String>,
    }

    impl PcscReader {
        pub fn new(name: Option<String>) -> PcscReader {
            PcscReader { name }
        }
    }

    /// PC/SC "get data: UID" pseudo-APDU (ACR122U and most CCID readers).
    const GET_UID: [u8; 5] = [0xFF, 0xCA, 0x00, 0x00, 0x00];

    fn blocking_loop(name: Option<String>, tx: mpsc::Sender<Input>) -> anyhow::Result<()> {
        let ctx = pcsc::Context::establish(Scope::User)
            .context("reader: cannot reach pcscd (is it installed and running?)")?;
        let mut buf = vec![0u8; 2048];
        let readers: Vec<CString> = ctx.list_readers(&mut buf)?.map(CString::from).collect();
        let reader = readers
            .into_iter()
            .find(|r| {
                name.as_ref()
                    .map_or(true, |n| r.to_string_lossy().contains(n.as_str()))
            })
            .ok_or_else(|| anyhow!("reader: no PC/SC reader matches {name:?}"))?;
        let mut last: Option<Uid> = None;
        let mut states = [pcsc::ReaderState::new(reader.clone(), pcsc::State::UNAWARE)];
        loop {
            // Blocks until a card comes or goes (re-checked every minute).
            match ctx.get_status_change(Some(Duration::from_secs(60)), &mut states) {
                Ok(()) => {}
                Err(pcsc::Error::Timeout) => continue,
                Err(e) => return Err(anyhow!("reader: PC/SC: {e}")),
            }
            states[0].sync_current_state();
            if !states[0].event_state().contains(pcsc::State::PRESENT) {
                last = None;
                continue;
            }
            let Ok(card) = ctx.connect(&reader, ShareMode::Shared, Protocols::ANY) else {
                continue;
            };
            let mut rbuf = [0u8; MAX_BUFFER_SIZE];
            if let Ok(resp) = card.transmit(&GET_UID, &mut rbuf) {
                if resp.len() >= 2 && resp[resp.len() - 2..] == [0x90, 0x00] {
                    if let Ok(uid) = Uid::new(&resp[..resp.len() - 2]) {
                        if last != Some(uid) {
                            last = Some(uid);
                            if tx.blocking_send(Input::Tap(uid)).is_err() {
                                return Ok(());
                            }
                        }
                    }
                }
            }
        }
    }

    #[async_trait]
    impl Reader for PcscReader {
        fn kind(&self) -> &'static str {
            "pcsc"
        }
        async fn run(self: Box<Self>, tx: mpsc::Sender<Input>) -> anyhow::Result<()> {
            let name = self.name.clone();
            tokio::task::spawn_blocking(move || blocking_loop(name, tx)).await?
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdin_lines() {
        assert_eq!(
            parse_line("aa:bb:cc:dd", false),
            Ok(Some(Input::Tap(Uid::from_hex("AABBCCDD").unwrap())))
        );
        assert_eq!(
            parse_line("keypad 12#123456#", false),
            Ok(Some(Input::Keypad("12#123456#".into())))
        );
        assert_eq!(parse_line("shutdown", true), Ok(Some(Input::Button)));
        assert!(parse_line("shutdown", false).is_err());
        assert!(parse_line("xyz", false).is_err());
        assert_eq!(parse_line("  ", false), Ok(None));
    }

    #[test]
    fn typed_uids_in_every_format() {
        let want = Uid::from_hex("04A1B2C3").unwrap();
        assert_eq!(
            typed_uid("04a1b2c3", UidFormat::Hex, ByteOrder::MsbFirst, 4),
            Some(want)
        );
        assert_eq!(
            typed_uid("C3B2A104", UidFormat::Hex, ByteOrder::LsbFirst, 4),
            Some(want)
        );
        // 0x04A1B2C3 = 77705923
        assert_eq!(
            typed_uid("0077705923", UidFormat::Decimal, ByteOrder::MsbFirst, 4),
            Some(want)
        );
        assert_eq!(
            typed_uid("99999999999", UidFormat::Decimal, ByteOrder::MsbFirst, 4),
            None
        );
    }
}
