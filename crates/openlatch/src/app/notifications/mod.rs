//! Telling people what happens: one durable outbox, three channels.
//!
//! A use case that causes a notifiable event calls [`enqueue`] inside its
//! own transaction, next to its audit row: the messages commit or roll back
//! with the cause. [`enqueue`] fans the event out to the subscriptions that
//! want it (webhook, e-mail), to MQTT when configured, and to the members
//! who must hear of it by e-mail. Workers ([`run_once`], driven by
//! [`worker`] in the background and called directly by tests) claim due
//! messages with a lease, send them outside any transaction through a
//! [`Sender`], and record the outcome in a short update fenced by the
//! attempt number. Failures are retried with capped exponential backoff for
//! at least [`RETRY_WINDOW_MS`]; a subscription whose message failed for
//! that long is switched off.

pub mod checks;
pub mod email;
pub mod events;
pub mod mqtt;
pub mod subscriptions;
pub mod webhook;

use super::{App, AppResult};
use crate::domain::member::Role;
use crate::storage::outbox::{self, Attempt, Claimed, NewMessage, Settle};
use crate::storage::{members, notifications as subs_store};
use events::{EventType, MemberAudience, Notice};
use futures_util::future::BoxFuture;
use rand::Rng;
use serde_json::{json, Value};
use sqlx::AnyConnection;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use uuid::Uuid;

pub const CHANNEL_WEBHOOK: &str = "webhook";
pub const CHANNEL_EMAIL: &str = "email";
pub const CHANNEL_MQTT: &str = "mqtt";

/// Messages are retried for at least this long before they are given up.
pub const RETRY_WINDOW_MS: i64 = 24 * 3_600_000;
/// The first retry waits this long; each further one twice as long ...
const FIRST_RETRY_MS: i64 = 2_000;
/// ... up to this.
const MAX_RETRY_MS: i64 = 3_600_000;
/// A claim is this worker's for this long; a crashed worker's messages
/// return after it. Longer than any send may take.
const LEASE_MS: i64 = 120_000;
/// Messages claimed and sent at once by one worker step.
const BATCH: i64 = 32;
/// Delivered and failed messages are kept this long for the history.
pub const KEEP_MS: i64 = 30 * 86_400_000;

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// What a sender reports for one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Try again; the receiver may have said when.
    RetryAfter(Option<Duration>, String),
    /// Trying again cannot help (bad address, the receiver said gone).
    Permanent(String),
}

/// Where a message goes, resolved by the worker from the outbox row and
/// the subscription's current settings.
#[derive(Clone, Debug)]
pub enum Target {
    Webhook(webhook::WebhookTarget),
    Email { to: String },
    Mqtt,
}

/// A message ready to send.
#[derive(Clone, Debug)]
pub struct Message {
    /// The delivery id: the same on every retry, so receivers drop duplicates.
    pub id: String,
    pub event_type: String,
    /// The envelope: `id`, `type`, `occurred_at`, `summary`, `data`.
    pub payload: Value,
    pub target: Target,
}

/// One channel. Sends happen outside any transaction and must not panic.
pub trait Sender: Send + Sync {
    fn send<'a>(&'a self, message: &'a Message) -> BoxFuture<'a, Outcome>;
}

/// The notification side of [`App`]: the senders and the worker's wake-up.
pub struct Hub {
    wake: Arc<Notify>,
    webhook: webhook::WebhookSender,
    email: Option<email::EmailSender>,
    pub mqtt: Option<mqtt::MqttSender>,
}

impl Hub {
    /// Builds the senders; with `connect_mqtt` also starts the MQTT client
    /// when configured (needs a runtime). Command-line tools pass false: a
    /// short-lived connection would leave `offline` as the broker's last will.
    pub fn new(config: &crate::config::Config, connect_mqtt: bool) -> anyhow::Result<Self> {
        let wake = Arc::new(Notify::new());
        let mqtt = if connect_mqtt {
            mqtt::MqttSender::from_config(config, wake.clone())?
        } else {
            None
        };
        Ok(Self {
            webhook: webhook::WebhookSender::new(config)?,
            email: email::EmailSender::from_config(config)?,
            mqtt,
            wake,
        })
    }

    /// Publishes `offline` and disconnects from the MQTT broker.
    pub async fn shutdown(&self) {
        if let Some(m) = &self.mqtt {
            m.shutdown().await;
        }
    }

    /// Lets the worker look at the outbox now (call after a commit that enqueued).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub fn email_enabled(&self) -> bool {
        self.email.is_some()
    }

    pub fn mqtt_enabled(&self) -> bool {
        self.mqtt.is_some()
    }

    fn sender(&self, target: &Target) -> Option<&dyn Sender> {
        match target {
            Target::Webhook(_) => Some(&self.webhook),
            Target::Email { .. } => self.email.as_ref().map(|s| s as &dyn Sender),
            Target::Mqtt => self.mqtt.as_ref().map(|s| s as &dyn Sender),
        }
    }
}

fn envelope(id: &str, n: &Notice) -> Value {
    json!({
        "id": id,
        "type": n.event_type.as_str(),
        "occurred_at": crate::domain::from_unix(n.occurred_at).to_rfc3339(),
        "summary": n.summary,
        "data": n.data,
    })
}

fn new_message(
    channel: &str,
    subscription_id: Option<String>,
    target: String,
    n: &Notice,
    dedup_target: &str,
    created_ms: i64,
) -> NewMessage {
    let id = Uuid::new_v4().to_string();
    NewMessage {
        payload: envelope(&id, n).to_string(),
        id,
        channel: channel.into(),
        subscription_id,
        target,
        event_type: n.event_type.as_str().into(),
        dedup_key: n
            .dedup_key
            .as_ref()
            .map(|k| format!("{k}|{channel}|{dedup_target}")),
        created_ms,
    }
}

/// Writes the messages for `n` on the caller's connection (its transaction):
/// one per subscription that wants it, and one per member e-mail its
/// audience asks for. Returns how many were written; repeats of a
/// deduplicated cause write none.
pub async fn enqueue(app: &App, conn: &mut AnyConnection, n: &Notice) -> AppResult<usize> {
    let created_ms = now_ms();
    let mut written = 0;
    for s in subs_store::list(&mut *conn).await? {
        if !s.is_enabled {
            continue;
        }
        let wants: Vec<String> = serde_json::from_str(&s.events).unwrap_or_default();
        if !wants.iter().any(|e| e == n.event_type.as_str()) {
            continue;
        }
        let m = new_message(
            &s.channel,
            Some(s.id.clone()),
            s.id.clone(),
            n,
            &s.id,
            created_ms,
        );
        written += usize::from(outbox::insert(&mut *conn, &m).await?);
    }
    if app.notifications.email_enabled() {
        for to in member_recipients(conn, &n.audience).await? {
            let m = new_message(CHANNEL_EMAIL, None, to.clone(), n, &to, created_ms);
            written += usize::from(outbox::insert(&mut *conn, &m).await?);
        }
    }
    Ok(written)
}

/// A message to one subscription only (`POST .../{id}/test`).
pub(crate) async fn enqueue_for(
    conn: &mut AnyConnection,
    s: &subs_store::SubscriptionRow,
    n: &Notice,
) -> AppResult<String> {
    let m = new_message(
        &s.channel,
        Some(s.id.clone()),
        s.id.clone(),
        n,
        &s.id,
        now_ms(),
    );
    outbox::insert(conn, &m).await?;
    Ok(m.id)
}

/// Writes one MQTT message batch (`[{topic, payload, retain}]`) when MQTT is on.
pub async fn enqueue_mqtt(
    app: &App,
    conn: &mut AnyConnection,
    kind: &str,
    messages: Vec<Value>,
) -> AppResult<()> {
    if !app.notifications.mqtt_enabled() || messages.is_empty() {
        return Ok(());
    }
    let id = Uuid::new_v4().to_string();
    let m = NewMessage {
        payload: json!({ "id": id, "messages": messages }).to_string(),
        id,
        channel: CHANNEL_MQTT.into(),
        subscription_id: None,
        target: "broker".into(),
        event_type: kind.into(),
        dedup_key: None,
        created_ms: now_ms(),
    };
    outbox::insert(conn, &m).await?;
    Ok(())
}

async fn member_recipients(
    conn: &mut AnyConnection,
    audience: &MemberAudience,
) -> AppResult<Vec<String>> {
    let min_role = match audience {
        MemberAudience::Nobody => return Ok(Vec::new()),
        MemberAudience::Admins => Role::Admin,
        MemberAudience::Deciders { .. } => Role::Keyholder,
    };
    let active = members::list(conn, None, Some(true)).await?;
    let mut to: Vec<String> = active
        .into_iter()
        .filter(|m| m.role >= min_role)
        .filter(|m| match audience {
            MemberAudience::Deciders { holder, sponsor } => {
                m.id != *holder && (m.role == Role::Admin || sponsor.is_none_or(|s| s == m.id))
            }
            _ => true,
        })
        .map(|m| m.email)
        .collect();
    to.sort();
    to.dedup();
    Ok(to)
}

/// The capped exponential schedule with ±20 % jitter; `attempt` counts from 1.
pub fn retry_delay_ms(attempt: i64) -> i64 {
    let shift = u32::try_from(attempt.clamp(1, 30) - 1).unwrap_or(0);
    let base = FIRST_RETRY_MS
        .saturating_mul(1_i64 << shift.min(40))
        .min(MAX_RETRY_MS);
    let jitter = rand::thread_rng().gen_range(-base / 5..=base / 5);
    base + jitter
}

/// When to try again after a failed attempt, or `None` to give up: tries
/// continue until [`RETRY_WINDOW_MS`] after the message was written, the
/// last one at that moment.
pub fn next_attempt_ms(
    created_ms: i64,
    attempt: i64,
    now_ms: i64,
    asked: Option<Duration>,
) -> Option<i64> {
    let deadline = created_ms + RETRY_WINDOW_MS;
    if now_ms >= deadline {
        return None;
    }
    let mut delay = retry_delay_ms(attempt);
    if let Some(a) = asked {
        // A receiver's Retry-After is honoured within our bounds.
        let asked = i64::try_from(a.as_millis()).unwrap_or(MAX_RETRY_MS);
        delay = delay.max(asked.min(MAX_RETRY_MS));
    }
    Some((now_ms + delay).min(deadline))
}

/// What one worker step did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunReport {
    pub claimed: usize,
    pub delivered: usize,
    pub retried: usize,
    pub failed: usize,
    /// Claims handed back unfinished (shutdown).
    pub released: usize,
}

/// Resolves the target of a claimed row; `Err` is a permanent failure.
async fn resolve(app: &App, c: &Claimed) -> AppResult<Result<Target, String>> {
    Ok(match c.channel.as_str() {
        CHANNEL_MQTT => Ok(Target::Mqtt),
        CHANNEL_EMAIL if c.subscription_id.is_none() => Ok(Target::Email {
            to: c.target.clone(),
        }),
        CHANNEL_EMAIL | CHANNEL_WEBHOOK => {
            let mut conn = app.db.read().await?;
            let id = c.subscription_id.as_deref().unwrap_or_default();
            match subs_store::get(&mut conn, id).await? {
                None => Err("the subscription was deleted".into()),
                Some(s) if !s.is_enabled && c.event_type != EventType::Test.as_str() => {
                    Err("the subscription is disabled".into())
                }
                Some(s) => subscriptions::target_of(&s).map_err(|e| e.to_string()),
            }
        }
        other => Err(format!("unknown channel '{other}'")),
    })
}

/// Announces doors to a (re)connected MQTT broker, then claims up to
/// `limit` due messages in one short transaction.
async fn claim(app: &App, now_ms: i64, limit: i64) -> AppResult<Vec<Claimed>> {
    if let Some(mqtt) = &app.notifications.mqtt {
        if mqtt.take_announce() {
            if let Err(e) = mqtt::announce_doors(app).await {
                tracing::warn!(error = %e, "announcing doors over MQTT failed");
                mqtt.request_announce();
            }
        }
    }
    {
        let mut conn = app.db.read().await?;
        if !outbox::any_due(&mut conn, now_ms).await? {
            return Ok(Vec::new());
        }
    }
    let mut tx = app.db.begin().await?;
    let claimed = outbox::claim(&mut tx, app.db.backend(), now_ms, LEASE_MS, limit).await?;
    tx.commit().await?;
    Ok(claimed)
}

/// What happened to one claimed message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Settled {
    Delivered,
    Retry,
    Failed,
    /// Another worker took the message over (our lease had run out).
    FencedOut,
}

/// Sends one claimed message (no transaction open) and records the outcome
/// in a short transaction fenced by the claim's attempt.
async fn deliver(app: &App, c: &Claimed, now_ms: i64) -> AppResult<Settled> {
    let started = Instant::now();
    let outcome = match resolve(app, c).await {
        Err(e) => Outcome::RetryAfter(None, format!("reading the subscription: {e}")),
        Ok(Err(permanent)) => Outcome::Permanent(permanent),
        Ok(Ok(target)) => {
            let payload = serde_json::from_str(&c.payload).unwrap_or(Value::Null);
            let message = Message {
                id: c.id.clone(),
                event_type: c.event_type.clone(),
                payload,
                target,
            };
            match app.notifications.sender(&message.target) {
                None => Outcome::RetryAfter(
                    None,
                    format!("the {} channel is not configured", c.channel),
                ),
                Some(sender) => sender.send(&message).await,
            }
        }
    };
    let took = started.elapsed();
    // Tests run the clock ahead; outcomes are scheduled from that clock.
    let done_ms = self::now_ms().max(now_ms);
    let (settle, result, error) = match &outcome {
        Outcome::Delivered => (Settle::Delivered, Settled::Delivered, None),
        Outcome::RetryAfter(asked, e) => {
            match next_attempt_ms(c.created_ms, c.attempt, done_ms, *asked) {
                Some(at_ms) => (Settle::Retry { at_ms, error: e }, Settled::Retry, Some(e)),
                None => (Settle::Failed { error: e }, Settled::Failed, Some(e)),
            }
        }
        Outcome::Permanent(e) => (Settle::Failed { error: e }, Settled::Failed, Some(e)),
    };
    let gave_up_after_window =
        matches!(outcome, Outcome::RetryAfter(..)) && result == Settled::Failed;
    let mut tx = app.db.begin().await?;
    if !outbox::settle(&mut tx, &c.id, c.attempt, done_ms, settle).await? {
        return Ok(Settled::FencedOut);
    }
    if let Some(e) = error {
        tracing::warn!(delivery = %c.id, channel = %c.channel, event = %c.event_type,
            attempt = c.attempt, error = %e, outcome = ?result, "notification not delivered");
    }
    let label = match result {
        Settled::Delivered => "delivered",
        Settled::Retry => "retry",
        _ => "failed",
    };
    outbox::record_attempt(
        &mut tx,
        &Attempt {
            outbox_id: c.id.clone(),
            subscription_id: c.subscription_id.clone(),
            attempt: c.attempt,
            attempted_ms: done_ms,
            outcome: label.into(),
            error: error.cloned(),
            duration_ms: i64::try_from(took.as_millis()).unwrap_or(i64::MAX),
        },
    )
    .await?;
    if gave_up_after_window {
        if let Some(sub) = &c.subscription_id {
            let reason = "disabled after a day of failed deliveries";
            if subs_store::disable(&mut tx, sub, reason, done_ms / 1000).await? {
                tracing::warn!(subscription = %sub, "{reason}");
            }
        }
    }
    tx.commit().await?;
    Ok(result)
}

/// Hands an unfinished claim back (shutdown); true if it was still ours.
async fn release(app: &App, c: &Claimed) -> AppResult<bool> {
    let mut tx = app.db.begin().await?;
    let ours = outbox::settle(&mut tx, &c.id, c.attempt, self::now_ms(), Settle::Release).await?;
    tx.commit().await?;
    Ok(ours)
}

fn count(report: &mut RunReport, r: AppResult<Settled>) {
    match r {
        Ok(Settled::Delivered) => report.delivered += 1,
        Ok(Settled::Retry) => report.retried += 1,
        Ok(Settled::Failed) => report.failed += 1,
        Ok(Settled::FencedOut) => {}
        Err(e) => tracing::warn!(error = %e, "recording a notification outcome failed"),
    }
}

/// One worker step: claims due messages, sends them concurrently, records
/// each outcome as it arrives. `now_ms` is a parameter so tests can move
/// time forward.
pub async fn run_once(app: &App, now_ms: i64) -> AppResult<RunReport> {
    run_once_until(app, now_ms, std::future::pending()).await
}

/// [`run_once`] that hands unfinished claims back when `stop` resolves.
pub async fn run_once_until(
    app: &App,
    now_ms: i64,
    stop: impl std::future::Future<Output = ()>,
) -> AppResult<RunReport> {
    let claimed = claim(app, now_ms, BATCH).await?;
    let mut report = RunReport {
        claimed: claimed.len(),
        ..RunReport::default()
    };
    let claimed_ref = &claimed;
    let mut pending: futures_util::stream::FuturesUnordered<_> = lanes(&claimed)
        .into_iter()
        .map(|lane| async move {
            let claimed = claimed_ref;
            let mut results = Vec::new();
            for i in lane {
                results.push((i, deliver(app, &claimed[i], now_ms).await));
            }
            results
        })
        .collect();
    let mut done = vec![false; claimed.len()];
    tokio::pin!(stop);
    loop {
        tokio::select! {
            next = futures_util::StreamExt::next(&mut pending) => match next {
                Some(results) => {
                    for (i, r) in results {
                        done[i] = true;
                        count(&mut report, r);
                    }
                }
                None => return Ok(report),
            },
            () = &mut stop => break,
        }
    }
    drop(pending);
    for (c, _) in claimed.iter().zip(&done).filter(|(_, d)| !**d) {
        if release(app, c).await? {
            report.released += 1;
        }
    }
    Ok(report)
}

/// Groups claimed messages (by index) into lanes sent concurrently: MQTT
/// messages share one lane in claim order, so a retained state is never
/// overtaken by an older one; every other message has its own.
fn lanes(claimed: &[Claimed]) -> Vec<Vec<usize>> {
    let mut mqtt = Vec::new();
    let mut out = Vec::new();
    for (i, c) in claimed.iter().enumerate() {
        if c.channel == CHANNEL_MQTT {
            mqtt.push(i);
        } else {
            out.push(vec![i]);
        }
    }
    if !mqtt.is_empty() {
        out.insert(0, mqtt);
    }
    out
}

/// Runs [`run_once`] until nothing is due (tests, and the worker after a wake-up).
pub async fn drain(app: &App, now_ms: i64) -> AppResult<RunReport> {
    let mut total = RunReport::default();
    loop {
        let r = run_once(app, now_ms).await?;
        total.claimed += r.claimed;
        total.delivered += r.delivered;
        total.retried += r.retried;
        total.failed += r.failed;
        if r.claimed == 0 {
            return Ok(total);
        }
    }
}

/// How often the worker looks for messages written by other instances.
const POLL: Duration = Duration::from_secs(1);
/// Sends in flight at once per instance; a slow receiver holds one slot,
/// never the others.
const MAX_IN_FLIGHT: usize = 64;
/// At shutdown, sends in flight get this long before their claims are handed back.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The background worker: wakes on [`Hub::wake`] or every second and sends
/// what is due, each message in its own task (up to [`MAX_IN_FLIGHT`]), so
/// a slow receiver delays nobody else. At `stop` it waits a little for the
/// sends in flight, then hands back what it still holds.
pub async fn worker(app: App, mut stop: tokio::sync::watch::Receiver<bool>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    let mut tasks: tokio::task::JoinSet<()> = tokio::task::JoinSet::new();
    let held: Arc<std::sync::Mutex<std::collections::HashMap<String, Claimed>>> = Arc::default();
    loop {
        if *stop.borrow() {
            break;
        }
        while tasks.try_join_next().is_some() {}
        let free = slots.available_permits();
        let mut claimed_any = false;
        if free > 0 {
            let limit = i64::try_from(free).unwrap_or(1).min(BATCH);
            match claim(&app, now_ms(), limit).await {
                Ok(claimed) => {
                    claimed_any = !claimed.is_empty();
                    for lane in lanes(&claimed) {
                        let Ok(permit) = slots.clone().acquire_owned().await else {
                            break;
                        };
                        let lane: Vec<Claimed> =
                            lane.into_iter().map(|i| claimed[i].clone()).collect();
                        if let Ok(mut h) = held.lock() {
                            for c in &lane {
                                h.insert(c.id.clone(), c.clone());
                            }
                        }
                        let (app, held) = (app.clone(), held.clone());
                        tasks.spawn(async move {
                            for c in lane {
                                if let Err(e) = deliver(&app, &c, now_ms()).await {
                                    tracing::warn!(error = %e, "recording a notification outcome failed");
                                }
                                if let Ok(mut h) = held.lock() {
                                    h.remove(&c.id);
                                }
                            }
                            drop(permit);
                        });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "claiming notifications failed"),
            }
        }
        if claimed_any {
            continue;
        }
        tokio::select! {
            () = app.notifications.wake.notified() => {}
            () = tokio::time::sleep(POLL) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    // Stopping: sends in flight may finish, then their claims go back.
    let _ = tokio::time::timeout(STOP_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    let left: Vec<Claimed> = held
        .lock()
        .map(|h| h.values().cloned().collect())
        .unwrap_or_default();
    for c in left {
        if let Err(e) = release(&app, &c).await {
            tracing::warn!(error = %e, delivery = %c.id, "handing a claim back failed");
        }
    }
}

/// Housekeeping: drops settled messages past their keeping time.
pub async fn prune(app: &App) -> AppResult<u64> {
    let mut tx = app.db.begin().await?;
    let n = outbox::prune(&mut tx, now_ms() - KEEP_MS).await?;
    tx.commit().await?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_cover_at_least_a_day_and_end_at_the_deadline() {
        let created = 1_000_000;
        let mut now = created;
        let mut attempt = 1;
        let mut tries = 0;
        while let Some(next) = next_attempt_ms(created, attempt, now, None) {
            assert!(next > now, "always later");
            assert!(next - now <= MAX_RETRY_MS + MAX_RETRY_MS / 5);
            now = next;
            attempt += 1;
            tries += 1;
            assert!(tries < 200, "bounded number of tries");
        }
        assert_eq!(
            now,
            created + RETRY_WINDOW_MS,
            "the last try is at the deadline"
        );
        assert!(tries > 20, "{tries}");
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        for attempt in 1..=5 {
            let base = FIRST_RETRY_MS << (attempt - 1);
            let d = retry_delay_ms(attempt);
            assert!(
                d >= base - base / 5 && d <= base + base / 5,
                "{attempt}: {d}"
            );
        }
        assert!(retry_delay_ms(60) <= MAX_RETRY_MS + MAX_RETRY_MS / 5);
    }

    #[test]
    fn retry_after_is_honoured_within_bounds() {
        let next = next_attempt_ms(0, 1, 0, Some(Duration::from_secs(120))).expect("retry");
        assert_eq!(next, 120_000);
        let next = next_attempt_ms(0, 1, 0, Some(Duration::from_secs(86_400 * 9))).expect("retry");
        assert_eq!(next, MAX_RETRY_MS);
    }
}
