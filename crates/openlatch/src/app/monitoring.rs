//! Monitoring: the Nagios battery check and the Prometheus metrics.
//! Neither ever shows whether a door is unlocked or who holds a key.

use super::{App, AppResult};
use crate::domain::device::Device;
use crate::storage::device_status::{self, Status};
use crate::storage::{approvals, devices, now_unix};
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::collections::HashMap;

/// A door counts as up while its last heartbeat is younger than this
/// (doors poll every 5 minutes; two missed polls make it down).
pub const HEARTBEAT_UP_SECS: i64 = 660;

/// Nagios states, in the order of badness used to pick the worst door.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum NagiosState {
    Ok,
    Warning,
    Unknown,
    Critical,
}

impl NagiosState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Warning => "WARNING",
            Self::Unknown => "UNKNOWN",
            Self::Critical => "CRITICAL",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatteryParams {
    pub warn: i64,
    pub crit: i64,
    pub stale_hours: i64,
}

impl Default for BatteryParams {
    fn default() -> Self {
        Self {
            warn: 30,
            crit: 15,
            stale_hours: 24,
        }
    }
}

/// One door's check result: `None` when the door reports no lock.
///
/// Order of the checks (the first that applies decides):
/// 1. no heartbeat ever: UNKNOWN `No heartbeat data received`;
/// 2. the last heartbeat carries no NUKI fields: the door has no lock;
/// 3. last heartbeat older than `stale_hours`: UNKNOWN `Last heartbeat Nmin ago (stale > Hh)`;
/// 4. `nuki_paired` false: CRITICAL `NUKI not paired with ESP32`;
/// 5. the lock's own critical flag: CRITICAL, whatever the percentage;
/// 6. battery -1 or absent: UNKNOWN `NUKI battery level unknown`;
/// 7. battery <= crit: CRITICAL; battery <= warn: WARNING; else OK.
pub fn check_door(
    status: Option<&Status>,
    p: BatteryParams,
    now: i64,
) -> Option<(NagiosState, String)> {
    let Some(s) = status else {
        return Some((NagiosState::Unknown, "No heartbeat data received".into()));
    };
    let hb = &s.heartbeat;
    if !hb.has_lock() {
        return None;
    }
    let age_min = (now - s.received_at).max(0) / 60;
    if now - s.received_at > p.stale_hours * 3600 {
        return Some((
            NagiosState::Unknown,
            format!(
                "Last heartbeat {age_min}min ago (stale > {}h)",
                p.stale_hours
            ),
        ));
    }
    if hb.nuki_paired == Some(false) {
        return Some((NagiosState::Critical, "NUKI not paired with ESP32".into()));
    }
    let percent = hb.nuki_battery_percent.filter(|b| *b >= 0);
    let perf = |b: i64| format!(" | battery={b}%;{};{};0;100", p.warn, p.crit);
    if hb.nuki_battery_critical == Some(true) {
        let text = match percent {
            Some(b) => format!(
                "NUKI battery {b}% ({age_min}min ago), lock reports critical battery{}",
                perf(b)
            ),
            None => "NUKI lock reports critical battery".to_owned(),
        };
        return Some((NagiosState::Critical, text));
    }
    let Some(b) = percent else {
        return Some((NagiosState::Unknown, "NUKI battery level unknown".into()));
    };
    let state = if b <= p.crit {
        NagiosState::Critical
    } else if b <= p.warn {
        NagiosState::Warning
    } else {
        NagiosState::Ok
    };
    Some((
        state,
        format!("NUKI battery {b}% ({age_min}min ago){}", perf(b)),
    ))
}

/// The plugin output: one line, `STATE - text[ | perfdata]`.
pub async fn nuki_battery(app: &App, p: BatteryParams, device: Option<&str>) -> AppResult<String> {
    let now = now_unix();
    let mut conn = app.db.read().await?;
    let doors: Vec<Device> = devices::list(&mut conn)
        .await?
        .into_iter()
        .filter(|d| d.is_enabled)
        .collect();
    let statuses: HashMap<_, _> = device_status::list(&mut conn)
        .await?
        .into_iter()
        .map(|s| (s.device_id, s))
        .collect();
    let line = |(state, text): (NagiosState, String)| format!("{} - {text}\n", state.as_str());
    if let Some(wanted) = device {
        let Some(door) = doors.iter().find(|d| d.id.to_string() == wanted) else {
            return Ok(line((
                NagiosState::Unknown,
                format!("No enabled device {wanted}"),
            )));
        };
        return Ok(line(check_door(statuses.get(&door.id), p, now).unwrap_or(
            (NagiosState::Unknown, "Device reports no NUKI lock".into()),
        )));
    }
    let worst = doors
        .iter()
        .filter_map(|d| check_door(statuses.get(&d.id), p, now))
        // Ties keep the first door (by name).
        .fold(None::<(NagiosState, String)>, |acc, r| match acc {
            Some(a) if a.0 >= r.0 => Some(a),
            _ => Some(r),
        });
    Ok(line(worst.unwrap_or((
        NagiosState::Unknown,
        "No heartbeat data received".into(),
    ))))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeviceLabels {
    pub device_id: String,
    pub device_name: LabelText,
}

/// A label value written escaped as both exposition formats require
/// (`\` → `\\`, `"` → `\"`, line feed → `\n`); prometheus-client 0.22
/// writes label values verbatim, and one door named `Door "A"` made
/// Prometheus drop the whole scrape.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct LabelText(pub String);

impl EncodeLabelValue for LabelText {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        use std::fmt::Write;
        for c in self.0.chars() {
            match c {
                '\\' => encoder.write_str("\\\\")?,
                '"' => encoder.write_str("\\\"")?,
                '\n' => encoder.write_str("\\n")?,
                c => encoder.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// The classic Prometheus text format (0.0.4) from the OpenMetrics text
/// prometheus-client writes: the same samples, without the `# EOF` line,
/// and with counters' HELP and TYPE named like their `_total` samples.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        match renamed {
            Some(l) => out.push_str(&l),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

/// Counters kept in memory by this instance.
#[derive(Clone, Default)]
pub struct HttpMetrics {
    pub requests: Family<HttpLabels, Counter>,
}

/// Version and build time (unix seconds) of the newest list doors can
/// download, `None` while none is signed.
pub async fn allowlist_info(app: &App) -> AppResult<Option<(i64, i64)>> {
    let mut conn = app.db.read().await?;
    Ok(crate::storage::allowlists::latest_signed_header(&mut conn).await?)
}

/// The Prometheus text exposition.
pub async fn metrics(app: &App) -> AppResult<String> {
    let now = now_unix();
    let mut conn = app.db.read().await?;
    let doors = devices::list(&mut conn).await?;
    let statuses: HashMap<_, _> = device_status::list(&mut conn)
        .await?
        .into_iter()
        .map(|s| (s.device_id, s))
        .collect();
    let pending = approvals::count_pending(&mut conn).await?;
    drop(conn);

    let mut registry = Registry::with_prefix("openlatch");
    let up = Family::<DeviceLabels, Gauge>::default();
    let age = Family::<DeviceLabels, Gauge>::default();
    let uptime = Family::<DeviceLabels, Gauge>::default();
    let heap = Family::<DeviceLabels, Gauge>::default();
    let rssi = Family::<DeviceLabels, Gauge>::default();
    let battery = Family::<DeviceLabels, Gauge>::default();
    let list_version = Family::<DeviceLabels, Gauge>::default();
    for d in doors.iter().filter(|d| d.is_enabled) {
        let labels = DeviceLabels {
            device_id: d.id.to_string(),
            device_name: LabelText(d.name.clone()),
        };
        let Some(s) = statuses.get(&d.id) else {
            up.get_or_create(&labels).set(0);
            continue;
        };
        let a = (now - s.received_at).max(0);
        up.get_or_create(&labels)
            .set(i64::from(a < HEARTBEAT_UP_SECS));
        age.get_or_create(&labels).set(a);
        uptime
            .get_or_create(&labels)
            .set(s.heartbeat.uptime_seconds);
        heap.get_or_create(&labels).set(s.heartbeat.free_heap);
        rssi.get_or_create(&labels).set(s.heartbeat.wifi_rssi);
        list_version
            .get_or_create(&labels)
            .set(s.heartbeat.allowlist_version);
        if let Some(b) = s.heartbeat.nuki_battery_percent.filter(|b| *b >= 0) {
            battery.get_or_create(&labels).set(b);
        }
    }
    registry.register(
        "heartbeat_up",
        "1 if the door sent a heartbeat in the last 11 minutes",
        up,
    );
    registry.register(
        "heartbeat_age_seconds",
        "Seconds since the door's last heartbeat",
        age,
    );
    registry.register("device_uptime_seconds", "Uptime the door reported", uptime);
    registry.register(
        "device_free_heap_bytes",
        "Free heap the door reported",
        heap,
    );
    registry.register(
        "device_wifi_rssi_dbm",
        "Wi-Fi signal the door reported",
        rssi,
    );
    registry.register(
        "device_allowlist_version",
        "Allow-list version the door reported holding",
        list_version,
    );
    registry.register(
        "nuki_battery_percent",
        "NUKI lock battery level (absent when unknown)",
        battery,
    );

    let pending_g = Gauge::<i64>::default();
    pending_g.set(pending);
    registry.register(
        "approvals_pending",
        "Conditional-approval requests waiting for a decision",
        pending_g,
    );
    let held = Gauge::<i64>::default();
    held.set(i64::try_from(app.approvals.waiting()).unwrap_or(i64::MAX));
    registry.register(
        "approvals_waiting_connections",
        "Door requests held open by this instance",
        held,
    );
    if let Some((version, generated_at)) = allowlist_info(app).await? {
        let v = Gauge::<i64>::default();
        v.set(version);
        registry.register("allowlist_version", "Version of the newest allow-list", v);
        let a = Gauge::<i64>::default();
        a.set(now - generated_at);
        registry.register(
            "allowlist_age_seconds",
            "Seconds since the newest allow-list was built",
            a,
        );
    }
    if let Some(expires) = app.signing.subkey_expires_at().filter(|&e| e > 0) {
        let g = Gauge::<i64>::default();
        g.set(expires);
        registry.register(
            "subkey_expiry_timestamp_seconds",
            "When the signing sub-key's certificate expires (unix seconds)",
            g,
        );
    }
    registry.register(
        "http_requests",
        "HTTP requests served by this instance",
        app.http_metrics.requests.clone(),
    );
    let mut out = String::new();
    encode(&mut out, &registry).map_err(|e| super::AppError::Internal(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod exposition_tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let family = Family::<DeviceLabels, Gauge>::default();
        family
            .get_or_create(&DeviceLabels {
                device_id: "1".into(),
                device_name: LabelText("Door \"A\" C:\\doors\nnext Tür".into()),
            })
            .set(1);
        let mut registry = Registry::default();
        registry.register("up", "Up", family);
        let mut out = String::new();
        encode(&mut out, &registry).expect("encode");
        assert!(
            out.contains(r#"device_name="Door \"A\" C:\\doors\nnext Tür""#),
            "{out}"
        );
    }

    #[test]
    fn classic_text_names_counters_like_their_samples() {
        let om = "# HELP x_requests Requests.\n# TYPE x_requests counter\nx_requests_total 3\n# HELP g A gauge.\n# TYPE g gauge\ng 1\n# EOF\n";
        assert_eq!(
            to_prometheus_text(om),
            "# HELP x_requests_total Requests.\n# TYPE x_requests_total counter\nx_requests_total 3\n# HELP g A gauge.\n# TYPE g gauge\ng 1\n"
        );
    }
}
