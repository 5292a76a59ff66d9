//! Notifications that must reach people at once (emergency access, low lock
//! batteries, approval requests).
//!
//! SEAM(notifications): the real channels (e-mail, Matrix, push) are a later
//! issue. Everything that must alert someone goes through [`Notifications`],
//! which applies the per-door rate limit and hands the message to a
//! [`Notifier`]. Today's notifier writes a structured log line.

use crate::domain::{DeviceId, MemberId};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Emergency notifications per door: at most one in this interval.
pub const EMERGENCY_INTERVAL: Duration = Duration::from_secs(60);
/// How many delivered notifications are kept for inspection.
const RECENT: usize = 100;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notification {
    /// An emergency card opened a door: all admins, at once.
    EmergencyAccess {
        device_id: DeviceId,
        device_name: String,
        uid: Option<String>,
    },
    /// A lock's battery fell below 20 %.
    BatteryLow {
        device_id: DeviceId,
        device_name: String,
        percent: i64,
    },
    /// A door is waiting for a decision; the sponsor (if any) first, then
    /// everyone who may decide.
    ApprovalRequested {
        request_id: uuid::Uuid,
        device_name: String,
        sponsor_id: Option<MemberId>,
    },
    /// A door reported a keypad opening that should not have happened: a
    /// backup code used before, or a keypad id nobody holds.
    KeypadAnomaly {
        device_id: DeviceId,
        device_name: String,
        keypad_id: u16,
        reason: &'static str,
    },
}

/// Delivers a notification; must not block.
pub trait Notifier: Send + Sync {
    fn deliver(&self, n: &Notification);
}

/// Writes each notification to the log (target `openlatch::notify`).
pub struct LogNotifier;

impl Notifier for LogNotifier {
    fn deliver(&self, n: &Notification) {
        match n {
            Notification::EmergencyAccess {
                device_id,
                device_name,
                uid,
            } => tracing::warn!(target: "openlatch::notify", %device_id, device_name,
                uid = uid.as_deref().unwrap_or(""), "EMERGENCY ACCESS: notify all admins"),
            Notification::BatteryLow {
                device_id,
                device_name,
                percent,
            } => tracing::warn!(target: "openlatch::notify", %device_id, device_name, percent,
                "NUKI battery low"),
            Notification::ApprovalRequested {
                request_id,
                device_name,
                sponsor_id,
            } => tracing::info!(target: "openlatch::notify", %request_id, device_name,
                sponsor = ?sponsor_id, "approval requested: sponsor first, then keyholders"),
            Notification::KeypadAnomaly {
                device_id,
                device_name,
                keypad_id,
                reason,
            } => tracing::warn!(target: "openlatch::notify", %device_id, device_name, keypad_id,
                reason, "KEYPAD ANOMALY: notify all admins"),
        }
    }
}

/// The rate limits in front of a [`Notifier`].
pub struct Notifications {
    sink: Arc<dyn Notifier>,
    last_emergency: Mutex<HashMap<DeviceId, Instant>>,
    recent: Mutex<VecDeque<Notification>>,
}

impl Notifications {
    pub fn new(sink: Arc<dyn Notifier>) -> Self {
        Self {
            sink,
            last_emergency: Mutex::new(HashMap::new()),
            recent: Mutex::new(VecDeque::new()),
        }
    }

    /// Sends `n` unless its rate limit says no; returns whether it was sent.
    pub fn send(&self, n: Notification) -> bool {
        if let Notification::EmergencyAccess { device_id, .. } = &n {
            let Ok(mut last) = self.last_emergency.lock() else {
                return false;
            };
            let now = Instant::now();
            if last
                .get(device_id)
                .is_some_and(|t| now.duration_since(*t) < EMERGENCY_INTERVAL)
            {
                tracing::info!(%device_id, "emergency notification rate limited");
                return false;
            }
            last.insert(*device_id, now);
        }
        self.sink.deliver(&n);
        if let Ok(mut recent) = self.recent.lock() {
            if recent.len() == RECENT {
                recent.pop_front();
            }
            recent.push_back(n);
        }
        true
    }

    /// The last notifications sent by this instance, oldest first.
    pub fn recent(&self) -> Vec<Notification> {
        self.recent
            .lock()
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default()
    }
}

impl Default for Notifications {
    fn default() -> Self {
        Self::new(Arc::new(LogNotifier))
    }
}
