//! Feedback: every signal goes to the log, and to the configured outputs
//! (a command receiving the state name, or GPIO LEDs and a buzzer).

use std::time::Duration;

use crate::config::IndicatorConfig;

/// Signal names beyond the decision ones in `core::Signal`.
pub const BEEP: &str = "beep";
pub const SHUTDOWN_STARTED: &str = "shutdown_started";
pub const SHUTDOWN_CANCELLED: &str = "shutdown_cancelled";

pub enum Indicator {
    LogOnly,
    Command(Vec<String>),
    #[cfg(feature = "gpio")]
    Gpio(gpio::Leds),
}

impl Indicator {
    pub fn open(cfg: Option<&IndicatorConfig>) -> anyhow::Result<Indicator> {
        Ok(match cfg {
            None => Indicator::LogOnly,
            Some(IndicatorConfig::Command { command }) if command.is_empty() => {
                anyhow::bail!("indicators.command: must name a program")
            }
            Some(IndicatorConfig::Command { command }) => Indicator::Command(command.clone()),
            #[cfg(feature = "gpio")]
            Some(IndicatorConfig::Gpio {
                chip,
                green,
                red,
                buzzer,
            }) => Indicator::Gpio(gpio::Leds::open(chip, *green, *red, *buzzer)?),
            #[cfg(not(feature = "gpio"))]
            Some(IndicatorConfig::Gpio { .. }) => {
                anyhow::bail!("indicators.kind = \"gpio\": build with --features gpio")
            }
        })
    }

    /// Shows `state` (never blocks the door for long).
    pub fn show(&self, state: &'static str) {
        tracing::info!(target: "openlatch_door::indicator", "indicator {state}");
        match self {
            Indicator::LogOnly => {}
            Indicator::Command(argv) => {
                let argv = argv.clone();
                tokio::spawn(async move {
                    let run = tokio::process::Command::new(&argv[0])
                        .args(&argv[1..])
                        .arg(state)
                        .stdin(std::process::Stdio::null())
                        .kill_on_drop(true)
                        .status();
                    match tokio::time::timeout(Duration::from_secs(10), run).await {
                        Ok(Ok(s)) if s.success() => {}
                        Ok(Ok(s)) => tracing::warn!("indicator command failed: {s}"),
                        Ok(Err(e)) => tracing::warn!("indicator command: {e}"),
                        Err(_) => tracing::warn!("indicator command took over 10 s"),
                    }
                });
            }
            #[cfg(feature = "gpio")]
            Indicator::Gpio(leds) => leds.show(state),
        }
    }
}

#[cfg(feature = "gpio")]
mod gpio {
    use std::path::Path;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use gpiocdev::line::Value;
    use gpiocdev::Request;

    pub struct Leds {
        req: Arc<Mutex<Request>>,
        green: Option<u32>,
        red: Option<u32>,
        buzzer: Option<u32>,
    }

    impl Leds {
        pub fn open(
            chip: &Path,
            green: Option<u32>,
            red: Option<u32>,
            buzzer: Option<u32>,
        ) -> anyhow::Result<Leds> {
            let lines: Vec<u32> = [green, red, buzzer].into_iter().flatten().collect();
            let req = Request::builder()
                .on_chip(chip)
                .with_consumer("openlatch-door-leds")
                .with_lines(&lines)
                .as_output(Value::Inactive)
                .request()?;
            Ok(Leds {
                req: Arc::new(Mutex::new(req)),
                green,
                red,
                buzzer,
            })
        }

        /// A pattern per state: (line, on ms, off ms, repeats).
        pub fn show(&self, state: &str) {
            let pattern: Vec<(Option<u32>, u64, u64, u32)> = match state {
                "granted" => vec![(self.green, 1500, 0, 1)],
                "emergency" => vec![(self.green, 150, 150, 6), (self.red, 150, 150, 6)],
                "denied" => vec![(self.red, 1500, 0, 1)],
                "waiting" | "escalation" => vec![(self.green, 300, 300, 5)],
                "lock_failed" => vec![(self.red, 100, 100, 10), (self.buzzer, 100, 100, 10)],
                "beep" => vec![(self.buzzer, 100, 0, 1)],
                _ => vec![(self.buzzer, 50, 50, 2)],
            };
            let req = self.req.clone();
            std::thread::spawn(move || {
                for (line, on, off, n) in pattern {
                    let Some(line) = line else { continue };
                    for _ in 0..n {
                        if let Ok(r) = req.lock() {
                            let _ = r.set_value(line, Value::Active);
                        }
                        std::thread::sleep(Duration::from_millis(on));
                        if let Ok(r) = req.lock() {
                            let _ = r.set_value(line, Value::Inactive);
                        }
                        std::thread::sleep(Duration::from_millis(off));
                    }
                }
            });
        }
    }
}
