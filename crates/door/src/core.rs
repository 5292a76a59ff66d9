//! The door's decisions without any I/O: the ol02 engine on the held list,
//! the escalation to a keypad code, and the events each step reports. Time is
//! always a parameter, so tests move the clock; the daemon (`daemon.rs`)
//! carries out the returned [`Action`]s and queues the returned events.

use std::collections::HashMap;

use ol02::{
    check_keypad, decide, parse_signed, verify_list, Decision, DoorState, KeypadMatch,
    KeypadMethod, KeypadRefusal, KeypadState, List, Uid, VerifyError,
};
use serde_json::json;

use crate::store::NewEvent;

/// Denied taps of one listed UID that escalate to a keypad code...
pub const ESCALATE_AFTER_DENIALS: usize = 3;
/// ...within this many seconds.
pub const ESCALATION_WINDOW: u64 = 60;

/// What the daemon must do after a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nothing moves.
    Nothing,
    /// Open (or keep open and restart the relock wait).
    Unlock,
    /// Lock at once.
    Lock,
    /// Ask the server for a live approval of this UID.
    AskApproval(Uid),
    /// Wait for a keypad code until this unix second.
    AwaitKeypad { until: u64 },
}

/// Indicator state names (also the argument of an indicator command).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Granted,
    Emergency,
    Denied,
    Waiting,
    Escalation,
    LockFailed,
}

impl Signal {
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Granted => "granted",
            Signal::Emergency => "emergency",
            Signal::Denied => "denied",
            Signal::Waiting => "waiting",
            Signal::Escalation => "escalation",
            Signal::LockFailed => "lock_failed",
        }
    }
}

/// The result of one step.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// What the log line calls it (a decision name or a keypad outcome).
    pub label: &'static str,
    pub uid: Option<Uid>,
    /// Queue these (durably) before acting.
    pub events: Vec<NewEvent>,
    /// Send the queue at once (NOTIFY_ON_USE, emergency).
    pub urgent: bool,
    pub action: Action,
    pub signal: Option<Signal>,
    /// How long the decision took (set by the daemon for taps, for the log).
    pub decided_in: Option<std::time::Duration>,
}

/// Why the door waits for a keypad code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EscalationReason {
    /// Third denied tap within a minute.
    RepeatedDenial,
    /// A CONDITIONAL card and no server to ask.
    ApprovalOffline,
    /// The server answered `timeout` (nobody decided, or it shut down).
    ApprovalTimeout,
}

impl EscalationReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EscalationReason::RepeatedDenial => "repeated_denial",
            EscalationReason::ApprovalOffline => "approval_offline",
            EscalationReason::ApprovalTimeout => "approval_timeout",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Escalation {
    pub uid: Uid,
    pub until: u64,
    pub reason: EscalationReason,
}

/// The server's answer to an approval request, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approval {
    Approved,
    Denied,
    Timeout,
    /// No answer: the server could not be reached.
    Offline,
}

/// The door's memory for decisions.
pub struct Core {
    master: [u8; 32],
    list: Option<Vec<u8>>,
    pub door: DoorState,
    pub keypad: KeypadState,
    keypad_enabled: bool,
    keypad_wait: u64,
    denials: HashMap<Uid, Vec<u64>>,
    escalation: Option<Escalation>,
}

/// Hex UID shortened for logs: the first two and the last byte.
pub fn short_uid(uid: &Uid) -> String {
    let h = hex::encode_upper(uid.as_bytes());
    format!("{}..{}", &h[..4], &h[h.len() - 2..])
}

/// The list body of verified bytes. Parsing checks the records again
/// (O(entries), no signature check): see docs/benchmarks.md for its cost.
fn held_list(bytes: &[u8]) -> Option<List<'_>> {
    let parts = parse_signed(bytes).ok()?;
    List::parse_unsigned(parts.body).ok()
}

fn hex_uid(uid: &Uid) -> String {
    hex::encode_upper(uid.as_bytes())
}

fn event(uid: Option<&Uid>, kind: &'static str, now: u64, details: serde_json::Value) -> NewEvent {
    NewEvent {
        uid: uid.map(hex_uid).unwrap_or_default(),
        event: kind,
        timestamp: now,
        details: (!details.as_object().is_some_and(|o| o.is_empty())).then_some(details),
    }
}

impl Core {
    pub fn new(master: [u8; 32], keypad_enabled: bool, keypad_wait: u64) -> Core {
        Core {
            master,
            list: None,
            door: DoorState::new(),
            keypad: KeypadState::new(),
            keypad_enabled,
            keypad_wait,
            denials: HashMap::new(),
            escalation: None,
        }
    }

    /// Version of the held list, 0 if none.
    pub fn version(&self) -> u64 {
        self.list().map_or(0, |l| l.version())
    }

    /// The held list (verified when it was taken).
    pub fn list(&self) -> Option<List<'_>> {
        self.list.as_deref().and_then(held_list)
    }

    /// The bytes of the held list, to store.
    pub fn list_bytes(&self) -> Option<&[u8]> {
        self.list.as_deref()
    }

    pub fn escalation(&self) -> Option<&Escalation> {
        self.escalation.as_ref()
    }

    /// Verifies `bytes` against the master key, the clock and the held
    /// version; takes it only if every check passes. The old list stays
    /// otherwise.
    pub fn offer_list(&mut self, bytes: Vec<u8>, now: u64) -> Result<u64, VerifyError> {
        let held = self.version();
        let v = verify_list(&bytes, &self.master, now, held)?.version();
        self.list = Some(bytes);
        Ok(v)
    }

    /// A tap of `uid` at `now`. `online` says whether the server was reachable
    /// at the last contact (an offline door escalates CONDITIONAL at once).
    pub fn tap(&mut self, uid: Uid, now: u64, online: bool) -> Step {
        if self
            .escalation
            .is_some_and(|e| e.uid != uid || now >= e.until)
        {
            self.escalation = None;
        }
        let Some(list) = self.list() else {
            return Step {
                label: "DENIED_STALE_LIST",
                uid: Some(uid),
                events: vec![event(
                    Some(&uid),
                    "access_denied",
                    now,
                    json!({"reason": "DENIED_STALE_LIST", "no_list": true}),
                )],
                urgent: false,
                action: Action::Nothing,
                signal: Some(Signal::Denied),
                decided_in: None,
            };
        };
        let out = decide(&list, &uid, now, &self.door);
        let d = out.decision;
        let mut events = Vec::new();
        if let Some(kind) = d.event_type() {
            let details = match d {
                Decision::LockOnly => json!({ "refusal": out.refusal.map(|r| r.as_str()) }),
                _ if !d.opens() => json!({ "reason": d.as_str() }),
                _ => json!({}),
            };
            events.push(event(Some(&uid), kind, now, details));
        }
        if out.anomaly {
            events.push(event(
                Some(&uid),
                "anomaly_outside_hours",
                now,
                json!({ "decision": d.as_str() }),
            ));
        }
        let urgent = out.notify_on_use || out.anomaly;
        let mut step = Step {
            label: d.as_str(),
            uid: Some(uid),
            events,
            urgent,
            action: Action::Nothing,
            signal: Some(Signal::Denied),
            decided_in: None,
        };
        match d {
            Decision::Granted | Decision::GrantedGrace | Decision::GrantedEmergency => {
                self.granted(uid, d, now);
                step.action = Action::Unlock;
                step.signal = Some(if d == Decision::GrantedEmergency {
                    Signal::Emergency
                } else {
                    Signal::Granted
                });
            }
            Decision::LockOnly => step.action = Action::Lock,
            Decision::NeedsApproval if online => {
                step.action = Action::AskApproval(uid);
                step.signal = Some(Signal::Waiting);
            }
            Decision::NeedsApproval => {
                step.events.push(event(
                    Some(&uid),
                    "conditional_timeout",
                    now,
                    json!({ "reason": "offline" }),
                ));
                self.escalate(&mut step, uid, now, EscalationReason::ApprovalOffline);
            }
            _ if out.entry.is_some() => {
                let times = self.denials.entry(uid).or_default();
                times.retain(|&t| now.saturating_sub(t) < ESCALATION_WINDOW);
                times.push(now);
                if times.len() >= ESCALATE_AFTER_DENIALS {
                    self.denials.remove(&uid);
                    self.escalate(&mut step, uid, now, EscalationReason::RepeatedDenial);
                }
            }
            _ => {}
        }
        step
    }

    fn granted(&mut self, uid: Uid, d: Decision, now: u64) {
        if d == Decision::GrantedGrace {
            self.door.record_grace_entry(uid, now);
        } else {
            self.door.record_grant(uid, now);
        }
        self.denials.remove(&uid);
        self.escalation = None;
    }

    /// Starts waiting for a keypad code, where a code could be accepted.
    fn escalate(&mut self, step: &mut Step, uid: Uid, now: u64, reason: EscalationReason) {
        let usable = self.keypad_enabled
            && self.list().is_some_and(|l| {
                !l.is_stale_at(now) && !l.header().flags.lockdown() && l.header().keypad_count > 0
            })
            && self.keypad.locked_until(now).is_none();
        if !usable {
            return;
        }
        let until = now + self.keypad_wait;
        self.escalation = Some(Escalation { uid, until, reason });
        step.action = Action::AwaitKeypad { until };
        step.signal = Some(Signal::Escalation);
    }

    /// The server's answer to the approval request for `uid`.
    pub fn approval(&mut self, uid: Uid, answer: Approval, now: u64) -> Step {
        let mut step = Step {
            label: "",
            uid: Some(uid),
            events: Vec::new(),
            urgent: false,
            action: Action::Nothing,
            signal: Some(Signal::Denied),
            decided_in: None,
        };
        match answer {
            // The server audited approved, denied and timeout itself.
            Approval::Approved => {
                step.label = "APPROVED";
                self.granted(uid, Decision::Granted, now);
                step.action = Action::Unlock;
                step.signal = Some(Signal::Granted);
            }
            Approval::Denied => step.label = "APPROVAL_DENIED",
            Approval::Timeout => {
                step.label = "APPROVAL_TIMEOUT";
                self.escalate(&mut step, uid, now, EscalationReason::ApprovalTimeout);
            }
            Approval::Offline => {
                step.label = "APPROVAL_OFFLINE";
                step.events.push(event(
                    Some(&uid),
                    "conditional_timeout",
                    now,
                    json!({ "reason": "offline" }),
                ));
                self.escalate(&mut step, uid, now, EscalationReason::ApprovalOffline);
            }
        }
        step
    }

    /// Keys typed on the keypad (`<keypad_id>#<code>#`). Accepted only while
    /// an escalation waits; a valid code opens once, for the card that
    /// escalated. Returns the accepted code too, for the daemon to store.
    pub fn keypad_input(&mut self, keys: &str, now: u64) -> (Step, Option<KeypadMatch>) {
        let mut step = Step {
            label: "KEYPAD_IGNORED",
            uid: None,
            events: Vec::new(),
            urgent: false,
            action: Action::Nothing,
            signal: None,
            decided_in: None,
        };
        let Some(esc) = self.escalation.filter(|e| now < e.until) else {
            self.escalation = None;
            return (step, None);
        };
        step.uid = Some(esc.uid);
        let Some(list) = self.list.as_deref().and_then(held_list) else {
            return (step, None);
        };
        let result = check_keypad(&list, keys.trim().as_bytes(), now, &mut self.keypad);
        match result {
            Ok(m) => {
                let mut details = json!({
                    "keypad_id": m.keypad_id,
                    "method": m.method.as_str(),
                    "escalation": esc.reason.as_str(),
                });
                if let KeypadMethod::Hotp { index } = m.method {
                    details["index"] = json!(index);
                }
                step.label = "KEYPAD_UNLOCK";
                step.events
                    .push(event(Some(&esc.uid), "keypad_unlock", now, details));
                step.urgent = true;
                self.granted(esc.uid, Decision::Granted, now);
                step.action = Action::Unlock;
                step.signal = Some(Signal::Granted);
                (step, Some(m))
            }
            Err(r) => {
                let reason = match r {
                    KeypadRefusal::LockedOut { .. } => "KEYPAD_LOCKED_OUT",
                    KeypadRefusal::Lockdown | KeypadRefusal::StaleList => "KEYPAD_UNAVAILABLE",
                    _ => "KEYPAD_WRONG_CODE",
                };
                step.label = reason;
                step.signal = Some(Signal::Denied);
                let locked = self.keypad.locked_until(now);
                let mut details = json!({ "reason": reason, "keypad": r.as_str() });
                if let Some(until) = locked {
                    details["locked_until"] = json!(until);
                    self.escalation = None;
                } else {
                    step.action = Action::AwaitKeypad { until: esc.until };
                    step.signal = Some(Signal::Escalation);
                }
                step.events
                    .push(event(Some(&esc.uid), "access_denied", now, details));
                (step, None)
            }
        }
    }

    /// The keypad wait ran out without a code.
    pub fn escalation_expired(&mut self, now: u64) -> Option<Step> {
        let esc = self.escalation.filter(|e| now >= e.until)?;
        self.escalation = None;
        Some(Step {
            label: "KEYPAD_TIMEOUT",
            uid: Some(esc.uid),
            events: vec![event(
                Some(&esc.uid),
                "access_denied",
                now,
                json!({ "reason": "KEYPAD_TIMEOUT", "escalation": esc.reason.as_str() }),
            )],
            urgent: false,
            action: Action::Nothing,
            signal: Some(Signal::Denied),
            decided_in: None,
        })
    }

    /// The shutdown countdown ended and the lock was tried `attempts` times.
    /// The shutdown anchors grace whether or not the lock obeyed.
    pub fn shutdown_done(&mut self, now: u64, attempts: u32, error: Option<&str>) -> Step {
        self.door.record_shutdown(now);
        self.door.set_door_unlocked(error.is_some());
        let mut details = json!({ "attempts": attempts, "success": error.is_none() });
        if let Some(e) = error {
            details["error"] = json!(e);
            details["alert"] = json!(true);
        }
        Step {
            label: if error.is_none() {
                "LOCKED_BY_BUTTON"
            } else {
                "LOCK_FAILED"
            },
            uid: None,
            events: vec![event(None, "locked_by_button", now, details)],
            urgent: error.is_some(),
            action: Action::Nothing,
            signal: error.map(|_| Signal::LockFailed),
            decided_in: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ol02::ed25519_dalek::SigningKey;
    use ol02::{sign, AccessType, Certificate, EntrySpec, KeypadSpec, ListBuilder, Role};

    const NOW: u64 = 1_700_000_000;
    const SECRET: [u8; 20] = [7; 20];

    fn keys() -> (SigningKey, SigningKey) {
        (
            SigningKey::from_bytes(&[1; 32]),
            SigningKey::from_bytes(&[2; 32]),
        )
    }

    fn list(version: u64, entries: &[(&str, AccessType, u64)], keypad: bool) -> Vec<u8> {
        let (master, sub) = keys();
        let cert = Certificate::issue(&master, &sub.verifying_key().to_bytes(), 1, 0, 0);
        let mut b = ListBuilder::new(version, NOW - 100, NOW + 86_400);
        for (uid, t, until) in entries {
            let mut e = EntrySpec::new(Uid::from_hex(uid).unwrap(), *t, Role::Member);
            e.valid_until = *until;
            e.grace_minutes = 30;
            b.add_entry(e);
        }
        if keypad {
            b.add_keypad(KeypadSpec {
                keypad_id: 5,
                totp_secret: Some(SECRET),
                hotp_secret: None,
                hotp_used: 0,
            });
        }
        sign(&b.encode_unsigned().unwrap(), &cert, &sub).unwrap()
    }

    fn core() -> Core {
        Core::new(keys().0.verifying_key().to_bytes(), true, 30)
    }

    fn uid(h: &str) -> Uid {
        Uid::from_hex(h).unwrap()
    }

    #[test]
    fn grants_and_denials_become_events_and_actions() {
        let mut c = core();
        c.offer_list(
            list(1, &[("AABBCCDD", AccessType::Scheduled, NOW + 10)], false),
            NOW,
        )
        .unwrap();
        let s = c.tap(uid("AABBCCDD"), NOW, true);
        assert_eq!(s.action, Action::Unlock);
        assert_eq!(s.events[0].event, "access_granted");
        let s = c.tap(uid("11223344"), NOW, true);
        assert_eq!(s.action, Action::Nothing);
        assert_eq!(s.events[0].event, "access_denied");
        assert_eq!(
            s.events[0].details,
            Some(json!({"reason": "DENIED_UNKNOWN"}))
        );
        // Refused while unlocked: lock at once.
        c.door.set_door_unlocked(true);
        let s = c.tap(uid("AABBCCDD"), NOW + 20, true);
        assert_eq!(s.label, "LOCK_ONLY");
        assert_eq!(s.action, Action::Lock);
        assert_eq!(s.events[0].event, "lock_only");
    }

    #[test]
    fn older_tampered_and_foreign_lists_are_refused_and_the_old_one_kept() {
        let mut c = core();
        c.offer_list(list(5, &[], false), NOW).unwrap();
        assert!(matches!(
            c.offer_list(list(5, &[], false), NOW),
            Err(VerifyError::VersionNotNewer { .. })
        ));
        let mut bad = list(6, &[], false);
        bad[60] ^= 1;
        assert!(c.offer_list(bad, NOW).is_err());
        let mut other = core();
        other.master = [9; 32];
        assert!(other.offer_list(list(7, &[], false), NOW).is_err());
        assert_eq!(c.version(), 5);
        assert_eq!(c.offer_list(list(6, &[], false), NOW), Ok(6));
    }

    #[test]
    fn third_denial_within_a_minute_escalates_and_a_code_opens_once() {
        let mut c = core();
        c.offer_list(
            list(1, &[("AABBCCDD", AccessType::Scheduled, NOW - 5)], true),
            NOW,
        )
        .unwrap();
        let u = uid("AABBCCDD");
        assert_eq!(c.tap(u, NOW, true).action, Action::Nothing);
        assert_eq!(c.tap(u, NOW + 70, true).action, Action::Nothing);
        assert_eq!(c.tap(u, NOW + 80, true).action, Action::Nothing);
        let s = c.tap(u, NOW + 90, true);
        assert_eq!(s.action, Action::AwaitKeypad { until: NOW + 120 });
        let code = format!("5#{:06}#", ol02::totp(&SECRET, NOW + 95));
        let (s, m) = c.keypad_input(&code, NOW + 95);
        assert_eq!(s.action, Action::Unlock);
        assert_eq!(s.events[0].event, "keypad_unlock");
        assert!(m.is_some());
        // The same code again: no escalation any more, so ignored.
        let (s, _) = c.keypad_input(&code, NOW + 96);
        assert_eq!(s.action, Action::Nothing);
    }

    #[test]
    fn three_wrong_codes_lock_the_keypad() {
        let mut c = core();
        c.offer_list(
            list(1, &[("AABBCCDD", AccessType::Conditional, 0)], true),
            NOW,
        )
        .unwrap();
        let u = uid("AABBCCDD");
        let s = c.tap(u, NOW, false);
        assert_eq!(s.events[0].event, "conditional_timeout");
        assert!(matches!(s.action, Action::AwaitKeypad { .. }));
        for i in 0..2 {
            let (s, _) = c.keypad_input("5#000000#", NOW + i);
            assert!(matches!(s.action, Action::AwaitKeypad { .. }), "{s:?}");
        }
        let (s, _) = c.keypad_input("5#000000#", NOW + 3);
        assert_eq!(s.action, Action::Nothing);
        assert!(s.events[0].details.as_ref().unwrap()["locked_until"].is_u64());
        // Locked out: no escalation is offered.
        let s = c.tap(u, NOW + 10, false);
        assert_eq!(s.action, Action::Nothing);
    }

    #[test]
    fn shutdown_anchors_grace() {
        let mut c = core();
        c.offer_list(
            list(1, &[("AABBCCDD", AccessType::Scheduled, NOW + 60)], false),
            NOW,
        )
        .unwrap();
        let u = uid("AABBCCDD");
        assert_eq!(c.tap(u, NOW, true).action, Action::Unlock);
        let s = c.shutdown_done(NOW + 100, 1, None);
        assert_eq!(s.events[0].event, "locked_by_button");
        let s = c.tap(u, NOW + 200, true);
        assert_eq!(s.label, "GRANTED_GRACE");
        let s = c.tap(u, NOW + 200 + 30 * 60 + 1, true);
        assert_eq!(s.label, "DENIED_EXPIRED");
    }

    #[test]
    fn uids_are_shortened_in_logs() {
        assert_eq!(short_uid(&uid("AABBCCDD")), "AABB..DD");
    }
}
