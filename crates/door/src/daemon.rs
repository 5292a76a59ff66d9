//! `openlatch-door run`: wires the core to the reader, the lock, the
//! indicators, the on-disk state and the server. Background tasks poll the
//! list, upload the event queue and send heartbeats; the main loop alone
//! changes the door's state, so decisions never wait for the network.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use ol02::Uid;
use tokio::sync::{mpsc, Notify};
use tokio::time::sleep_until;

use crate::config::{ButtonInput, Config};
use crate::core::{short_uid, Action, Approval, Core, Signal, Step};
use crate::indicator::{self, Indicator};
use crate::lock::{self, Lock};
use crate::reader::{self, Input};
use crate::store::{self, ListFile, NewEvent, StateDb};
use crate::uplink::{Heartbeat, HttpUplink, Uplink, UplinkError};

/// Reported as `firmware_version`.
pub const FIRMWARE: &str = concat!("openlatch-door/", env!("CARGO_PKG_VERSION"));
/// Tries to lock at the end of a shutdown countdown.
const SHUTDOWN_LOCK_TRIES: u32 = 3;
/// Warn when the door's clock and the server's differ by more.
const MAX_CLOCK_SKEW: i64 = 60;
/// Events per batch and bytes per batch (the server's limits: 100, 64 KiB).
const BATCH_EVENTS: usize = 100;
const BATCH_BYTES: usize = 60 * 1024;

pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

type Db = Arc<Mutex<StateDb>>;

fn with_db<T>(db: &Db, f: impl FnOnce(&StateDb) -> anyhow::Result<T>) -> anyhow::Result<T> {
    let g = db
        .lock()
        .map_err(|_| anyhow::anyhow!("state database lock poisoned"))?;
    f(&g)
}

/// Shared between the main loop and the background tasks.
struct Shared {
    db: Db,
    uplink: Arc<dyn Uplink>,
    lock: Arc<dyn Lock>,
    online: AtomicBool,
    version: AtomicU64,
    upload: Notify,
    started: Instant,
}

impl Shared {
    fn contact(&self, r: &Result<impl Sized, UplinkError>) {
        let online = match r {
            Ok(_) => true,
            Err(e) => !e.is_offline(),
        };
        if self.online.swap(online, Ordering::Relaxed) != online {
            if online {
                tracing::info!("server reachable again");
            } else {
                tracing::warn!("server unreachable: deciding from the stored list");
            }
        }
    }

    /// Queues events durably; only then do they count as recorded.
    fn record(&self, events: &[NewEvent]) {
        for e in events {
            if let Err(err) = with_db(&self.db, |db| db.push(e)) {
                tracing::error!("event {} NOT recorded: {err:#}", e.event);
            }
        }
        if !events.is_empty() {
            self.upload.notify_one();
        }
    }
}

enum Internal {
    List(Vec<u8>),
    Approval(Uid, Approval),
}

struct Countdown {
    ends: Instant,
    next_beep: Instant,
}

/// Runs the door until SIGTERM or SIGINT.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let master = cfg.master_key()?;
    let token = cfg.token()?;
    store::ensure_dir(&cfg.state_dir)?;
    let db: Db = Arc::new(Mutex::new(StateDb::open(&cfg.state_dir)?));
    let list_file = ListFile::new(&cfg.state_dir);

    let mut core = Core::new(master, cfg.keypad.enabled, cfg.keypad.wait_seconds);
    restore_keypad(&db, &mut core)?;
    let now = now_unix();
    match list_file.read()? {
        Some(bytes) => match core.offer_list(bytes, now) {
            Ok(v) => tracing::info!("stored list version {v} verified"),
            Err(e) => tracing::error!(
                "stored list {} refused ({e}): waiting for a list from the server",
                list_file.path().display()
            ),
        },
        None => tracing::warn!("no stored list yet: every tap is refused until the first download"),
    }

    let uplink: Arc<dyn Uplink> = Arc::new(HttpUplink::new(
        cfg.base_url(),
        token,
        Duration::from_secs(cfg.approval_wait_seconds),
    )?);
    let lock: Arc<dyn Lock> = Arc::from(lock::open(&cfg.lock).context("lock")?);
    let indicator = Indicator::open(cfg.indicators.as_ref()).context("indicators")?;
    let shared = Arc::new(Shared {
        db,
        uplink,
        lock,
        online: AtomicBool::new(false),
        version: AtomicU64::new(core.version()),
        upload: Notify::new(),
        started: Instant::now(),
    });

    let (tx, mut inputs) = mpsc::channel::<Input>(64);
    let stdin_button = matches!(
        cfg.button.as_ref().map(|b| &b.input),
        Some(ButtonInput::Stdin)
    );
    let rd = reader::open(&cfg.reader, stdin_button).context("reader")?;
    tracing::info!("reader {} and lock {} ready", rd.kind(), shared.lock.kind());
    let reader_tx = tx.clone();
    tokio::spawn(async move {
        if let Err(e) = rd.run(reader_tx).await {
            tracing::error!("reader stopped: {e:#}");
        }
    });
    if let Some(b) = &cfg.button {
        reader::spawn_button(&b.input, tx.clone()).context("button")?;
    }

    let (itx, mut internal) = mpsc::channel::<Internal>(16);
    tokio::spawn(poller(
        shared.clone(),
        itx.clone(),
        Duration::from_secs(cfg.poll_seconds),
    ));
    tokio::spawn(uploader(shared.clone()));
    tokio::spawn(heartbeats(
        shared.clone(),
        Duration::from_secs(cfg.heartbeat_seconds),
    ));

    let unlock_for = Duration::from_secs(cfg.unlock_seconds);
    let mut relock_at: Option<Instant> = None;
    let mut countdown: Option<Countdown> = None;
    let mut approving: HashSet<Uid> = HashSet::new();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let far = || Instant::now() + Duration::from_secs(86_400);

    loop {
        let escalation_at = core
            .escalation()
            .map(|e| Instant::now() + Duration::from_secs(e.until.saturating_sub(now_unix())));
        let beep_at = countdown.as_ref().map(|c| c.next_beep.min(c.ends));
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM: stopping"); break; }
            _ = tokio::signal::ctrl_c() => { tracing::info!("SIGINT: stopping"); break; }
            Some(input) = inputs.recv() => {
                let now = now_unix();
                match input {
                    Input::Tap(uid) => {
                        if approving.contains(&uid) {
                            tracing::info!("tap uid={} ignored: approval pending", short_uid(&uid));
                            continue;
                        }
                        core.door.set_door_unlocked(relock_at.is_some());
                        let started = Instant::now();
                        let mut step = core.tap(uid, now, shared.online.load(Ordering::Relaxed));
                        step.decided_in = Some(started.elapsed());
                        if step.action == Action::Unlock && countdown.take().is_some() {
                            tracing::info!("shutdown countdown cancelled by a granted tap");
                            indicator.show(indicator::SHUTDOWN_CANCELLED);
                        }
                        if let Action::AskApproval(u) = step.action {
                            approving.insert(u);
                            let sh = shared.clone();
                            let itx = itx.clone();
                            tokio::spawn(async move {
                                let r = sh.uplink.approve(&hex::encode_upper(u.as_bytes()), now_unix()).await;
                                sh.contact(&r);
                                let answer = match r {
                                    Ok(a) => a,
                                    Err(UplinkError::Status { status: 409, .. }) => Approval::Timeout,
                                    Err(e) => {
                                        tracing::warn!("approval request failed: {e}");
                                        Approval::Offline
                                    }
                                };
                                let _ = itx.send(Internal::Approval(u, answer)).await;
                            });
                        }
                        act(&shared, &indicator, &step, &mut relock_at, unlock_for, &mut core).await;
                    }
                    Input::Keypad(keys) => {
                        let (step, accepted) = core.keypad_input(&keys, now);
                        if let Some(m) = accepted {
                            if let Err(e) = with_db(&shared.db, |db| db.keypad_accepted(&m, now)) {
                                tracing::error!("keypad code not remembered: {e:#}");
                            }
                        }
                        save_lockout(&shared.db, &core);
                        act(&shared, &indicator, &step, &mut relock_at, unlock_for, &mut core).await;
                    }
                    Input::Button => {
                        let Some(b) = &cfg.button else { continue };
                        if countdown.take().is_some() {
                            tracing::info!("shutdown countdown cancelled by the button");
                            indicator.show(indicator::SHUTDOWN_CANCELLED);
                        } else {
                            tracing::info!("shutdown countdown started: locking in {} s", b.countdown_seconds);
                            indicator.show(indicator::SHUTDOWN_STARTED);
                            let start = Instant::now();
                            countdown = Some(Countdown {
                                ends: start + Duration::from_secs(b.countdown_seconds),
                                next_beep: start + Duration::from_secs(b.beep_every_seconds),
                            });
                        }
                    }
                }
            }
            Some(msg) = internal.recv() => match msg {
                Internal::List(bytes) => {
                    let held = core.version();
                    match core.offer_list(bytes, now_unix()) {
                        Ok(v) => {
                            shared.version.store(v, Ordering::Relaxed);
                            if let Some(b) = core.list_bytes() {
                                if let Err(e) = list_file.replace(b) {
                                    tracing::error!("list version {v} not stored: {e:#}");
                                }
                            }
                            tracing::info!("list version {v} accepted ({} entries)", core.list().map_or(0, |l| l.len()));
                        }
                        Err(e) => tracing::warn!("list refused: {e} (keeping version {held})"),
                    }
                }
                Internal::Approval(uid, answer) => {
                    approving.remove(&uid);
                    core.door.set_door_unlocked(relock_at.is_some());
                    let step = core.approval(uid, answer, now_unix());
                    act(&shared, &indicator, &step, &mut relock_at, unlock_for, &mut core).await;
                }
            },
            _ = sleep_until(relock_at.unwrap_or_else(far).into()), if relock_at.is_some() => {
                relock_at = None;
                core.door.set_door_unlocked(false);
                if let Err(e) = shared.lock.lock().await {
                    tracing::error!("relock failed: {e:#}");
                    indicator.show(Signal::LockFailed.as_str());
                }
            }
            _ = sleep_until(escalation_at.unwrap_or_else(far).into()), if escalation_at.is_some() => {
                if let Some(step) = core.escalation_expired(now_unix()) {
                    act(&shared, &indicator, &step, &mut relock_at, unlock_for, &mut core).await;
                }
            }
            _ = sleep_until(beep_at.unwrap_or_else(far).into()), if beep_at.is_some() => {
                let Some(c) = countdown.as_mut() else { continue };
                if Instant::now() < c.ends {
                    indicator.show(indicator::BEEP);
                    c.next_beep += Duration::from_secs(cfg.button.as_ref().map_or(10, |b| b.beep_every_seconds));
                    continue;
                }
                countdown = None;
                relock_at = None;
                let (attempts, error) = lock_with_retries(shared.lock.as_ref()).await;
                let step = core.shutdown_done(now_unix(), attempts, error.as_deref());
                act(&shared, &indicator, &step, &mut relock_at, unlock_for, &mut core).await;
            }
        }
    }

    if relock_at.is_some() {
        if let Err(e) = shared.lock.lock().await {
            tracing::error!("lock at stop failed: {e:#}");
        }
    }
    // One last upload try, bounded, so a stop does not hang on a dead server.
    let _ = tokio::time::timeout(Duration::from_secs(3), upload_pending(&shared)).await;
    tracing::info!("stopped");
    Ok(())
}

async fn lock_with_retries(lock: &dyn Lock) -> (u32, Option<String>) {
    let mut last = None;
    for attempt in 1..=SHUTDOWN_LOCK_TRIES {
        match lock.lock().await {
            Ok(()) => return (attempt, None),
            Err(e) => {
                tracing::error!("shutdown lock attempt {attempt} failed: {e:#}");
                last = Some(format!("{e:#}"));
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    (SHUTDOWN_LOCK_TRIES, last)
}

/// Records a step, logs it, shows it, and moves the lock.
async fn act(
    shared: &Shared,
    indicator: &Indicator,
    step: &Step,
    relock_at: &mut Option<Instant>,
    unlock_for: Duration,
    core: &mut Core,
) {
    let t = Instant::now();
    shared.record(&step.events);
    let recorded_in = t.elapsed();
    if !step.label.is_empty() && step.label != "KEYPAD_IGNORED" {
        match (&step.uid, step.decided_in) {
            // Decision time, then the durable write that precedes the lock.
            (Some(u), Some(d)) => tracing::info!(
                "decision {} uid={} decide_us={} record_us={}",
                step.label,
                short_uid(u),
                d.as_micros(),
                recorded_in.as_micros()
            ),
            (Some(u), None) => tracing::info!("decision {} uid={}", step.label, short_uid(u)),
            (None, _) => tracing::info!("decision {}", step.label),
        }
    } else if step.label == "KEYPAD_IGNORED" {
        tracing::info!("keypad input ignored: no escalation is waiting");
    }
    if let Some(s) = step.signal {
        indicator.show(s.as_str());
    }
    match step.action {
        Action::Unlock => {
            if relock_at.is_none() {
                if let Err(e) = shared.lock.unlock().await {
                    tracing::error!("unlock failed: {e:#}");
                    indicator.show(Signal::LockFailed.as_str());
                    return;
                }
            }
            // A tap during the relock wait restarts it.
            *relock_at = Some(Instant::now() + unlock_for);
            core.door.set_door_unlocked(true);
        }
        Action::Lock => {
            *relock_at = None;
            core.door.set_door_unlocked(false);
            if let Err(e) = shared.lock.lock().await {
                tracing::error!("lock failed: {e:#}");
                indicator.show(Signal::LockFailed.as_str());
            }
        }
        Action::AwaitKeypad { until } => {
            tracing::info!(
                "waiting for a keypad code for {} s",
                until.saturating_sub(now_unix())
            );
        }
        Action::AskApproval(_) | Action::Nothing => {}
    }
}

fn restore_keypad(db: &Db, core: &mut Core) -> anyhow::Result<()> {
    with_db(db, |db| {
        for (m, at) in db.keypad_history()? {
            core.keypad.remember_accepted(m, at);
        }
        if let Some(v) = db.get("keypad_lockout")? {
            let mut parts = v.split(',');
            let failures = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
            let until = parts.next().and_then(|p| p.parse().ok());
            core.keypad.restore_lockout(failures, until);
        }
        Ok(())
    })
}

fn save_lockout(db: &Db, core: &Core) {
    let v = format!(
        "{},{}",
        core.keypad.failures(),
        core.keypad
            .lockout()
            .map(|u| u.to_string())
            .unwrap_or_default()
    );
    if let Err(e) = with_db(db, |db| db.set("keypad_lockout", &v)) {
        tracing::error!("keypad lock-out not saved: {e:#}");
    }
}

async fn poller(shared: Arc<Shared>, itx: mpsc::Sender<Internal>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let r = shared
            .uplink
            .fetch_list(shared.version.load(Ordering::Relaxed))
            .await;
        shared.contact(&r);
        match r {
            Ok(Some(bytes)) => {
                if itx.send(Internal::List(bytes)).await.is_err() {
                    return;
                }
            }
            Ok(None) => {}
            Err(e) if e.is_offline() => tracing::debug!("poll: {e}"),
            Err(e) => tracing::warn!("poll: {e}"),
        }
        // Events queued while offline go out as soon as the server is back.
        shared.upload.notify_one();
    }
}

async fn uploader(shared: Arc<Shared>) {
    loop {
        shared.upload.notified().await;
        upload_pending(&shared).await;
    }
}

/// Sends the queue in batches until it is empty or the server fails.
async fn upload_pending(shared: &Shared) {
    loop {
        let batch = match with_db(&shared.db, |db| db.pending(BATCH_EVENTS, BATCH_BYTES)) {
            Ok(b) if b.is_empty() => return,
            Ok(b) => b,
            Err(e) => {
                tracing::error!("event queue unreadable: {e:#}");
                return;
            }
        };
        let r = shared.uplink.post_events(&batch).await;
        shared.contact(&r);
        match r {
            Ok(reply) => {
                for rej in &reply.rejected {
                    let ev = batch.get(rej.index);
                    tracing::warn!(
                        "server rejected event seq {:?} ({}): {}",
                        ev.map(|e| e.seq),
                        ev.map_or("?", |e| e.event.as_str()),
                        rej.reason
                    );
                }
                let seqs: Vec<u32> = batch.iter().map(|e| e.seq).collect();
                if let Err(e) = with_db(&shared.db, |db| db.ack(&seqs)) {
                    tracing::error!("acknowledged events not dropped: {e:#}");
                    return;
                }
                tracing::debug!(
                    "uploaded {} events ({} new, {} duplicates)",
                    batch.len(),
                    reply.accepted,
                    reply.duplicates
                );
            }
            Err(e) if e.is_offline() => return,
            Err(e) => {
                tracing::warn!("event upload: {e}");
                return;
            }
        }
    }
}

async fn heartbeats(shared: Arc<Shared>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut skew: Option<i64> = None;
    loop {
        tick.tick().await;
        let status = match shared.lock.status().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("lock status: {e:#}");
                (shared.lock.kind() == "nuki-bridge").then(|| crate::lock::LockStatus {
                    battery_percent: Some(-1),
                    ..Default::default()
                })
            }
        };
        let now = now_unix();
        daily_report(&shared, status.as_ref(), now);
        let hb = Heartbeat {
            firmware_version: FIRMWARE.to_owned(),
            allowlist_version: shared.version.load(Ordering::Relaxed),
            uptime_seconds: shared.started.elapsed().as_secs(),
            free_heap: mem_available().unwrap_or(0),
            wifi_rssi: 0,
            nuki_battery_percent: status.as_ref().and_then(|s| s.battery_percent),
            nuki_battery_critical: status.as_ref().and_then(|s| s.battery_critical),
            nuki_paired: status.as_ref().and_then(|s| s.paired),
            nuki_state: status.as_ref().and_then(|s| s.state.clone()),
            clock_skew_seconds: skew.filter(|s| s.abs() > MAX_CLOCK_SKEW),
        };
        let r = shared.uplink.heartbeat(&hb).await;
        shared.contact(&r);
        match r {
            Ok(reply) => {
                let s = now as i64 - reply.server_time;
                if s.abs() > MAX_CLOCK_SKEW {
                    tracing::warn!(
                        "door clock differs from the server's by {s} s: check NTP (time-based access depends on it)"
                    );
                }
                skew = Some(s);
            }
            Err(e) if e.is_offline() => {}
            Err(e) => tracing::warn!("heartbeat: {e}"),
        }
    }
}

/// With a NUKI: the battery report once a day after 03:00 UTC.
fn daily_report(shared: &Shared, status: Option<&crate::lock::LockStatus>, now: u64) {
    let Some(s) = status.filter(|_| shared.lock.kind() == "nuki-bridge") else {
        return;
    };
    if now % 86_400 < 3 * 3600 {
        return;
    }
    let day = (now / 86_400).to_string();
    let done = with_db(&shared.db, |db| db.get("nuki_daily_report_day"))
        .ok()
        .flatten();
    if done.as_deref() == Some(day.as_str()) {
        return;
    }
    shared.record(&[NewEvent {
        uid: String::new(),
        event: "nuki_daily_report",
        timestamp: now,
        details: Some(serde_json::json!({
            "battery_percent": s.battery_percent.unwrap_or(-1),
            "battery_critical": s.battery_critical,
            "paired": s.paired,
            "state": s.state,
        })),
    }]);
    if let Err(e) = with_db(&shared.db, |db| db.set("nuki_daily_report_day", &day)) {
        tracing::error!("daily report day not saved: {e:#}");
    }
}

/// `MemAvailable` in bytes (reported as `free_heap`).
fn mem_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
