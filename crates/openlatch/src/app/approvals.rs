//! Conditional approval: a door asks, a keyholder or admin decides, the
//! door's request is released on whichever instance it waits.
//!
//! State lives in `approval_requests`; the decision is one atomic
//! `UPDATE ... WHERE status = 'pending'`, so the first decision (or the
//! timeout) wins everywhere. Waiting doors are woken by an in-process hub;
//! on PostgreSQL every change is also sent with `NOTIFY` (inside the
//! deciding transaction, so it is delivered exactly when it commits) and
//! each instance `LISTEN`s on a dedicated connection and wakes its own
//! waiters. A waiter that misses a notification (listener reconnecting)
//! still finds the decision in the table when its deadline comes.

use super::notifications::{self, events as notice};
use super::{App, AppError, AppResult};
use crate::domain::approval::{ApprovalRequest, ApprovalStatus, ConditionalSubject};
use crate::domain::compile::compile;
use crate::domain::device::{event, Device};
use crate::domain::key::Uid;
use crate::domain::member::{Member, Role};
use crate::domain::{DeviceId, KeyId, MemberId};
use crate::storage::audit::{self, Actor, NewEntry};
use crate::storage::{
    allowlists, approvals, keys, members, now_unix, rules, Backend, StorageError,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::AnyConnection;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{broadcast, oneshot};
use uuid::Uuid;

/// The PostgreSQL channel every instance listens on.
pub const PG_CHANNEL: &str = "openlatch_approvals";
/// A door's clock may differ from the server's by at most this much.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;

/// Whether a door may ask a live approval for `uid`, and for whom: the UID
/// must be a CONDITIONAL entry of the newest built list (system.md 6); the
/// key, its member and the guest's sponsor come from compiling that key
/// now, with the code that built the list.
pub async fn conditional_subject(
    conn: &mut AnyConnection,
    uid: &Uid,
) -> AppResult<Option<ConditionalSubject>> {
    let Ok(door_uid) = ol02::Uid::new(&uid.to_bytes()) else {
        return Ok(None);
    };
    let Some(latest) = allowlists::latest_unsigned_bytes(conn).await? else {
        return Ok(None);
    };
    let list = ol02::List::parse_unsigned(&latest)
        .map_err(|e| AppError::Internal(format!("stored list unreadable: {e}")))?;
    if list
        .find(&door_uid)
        .is_none_or(|e| e.access_type != ol02::AccessType::Conditional)
    {
        return Ok(None);
    }
    let Some(key) = keys::find_unrevoked_by_uid(conn, uid).await? else {
        return Ok(None);
    };
    // Compiling just this key is enough: a door may hold thousands of
    // requests open, and each must not compile the whole space.
    let rules = rules::list(conn).await?;
    let members =
        super::allowlist::members_for_keys(conn, std::slice::from_ref(&key), &rules).await?;
    let now = now_unix();
    let compiled = compile(&members, std::slice::from_ref(&key), &rules, now, now);
    let subject = compiled
        .entries()
        .find(|e| e.access_type == ol02::AccessType::Conditional)
        .map(|e| ConditionalSubject {
            key_id: e.key_id,
            member_id: e.member_id,
            sponsor_id: e.sponsor_id,
        });
    Ok(subject)
}

/// What the door is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub status: ApprovalStatusWire,
    pub decided_by: Option<MemberId>,
}

/// `approved`, `denied` or `timeout` on the wire (abandoned is stored, not sent).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalStatusWire {
    Approved,
    Denied,
    Timeout,
}

impl Decision {
    fn of(status: ApprovalStatus, decided_by: Option<MemberId>) -> Self {
        let status = match status {
            ApprovalStatus::Approved => ApprovalStatusWire::Approved,
            ApprovalStatus::Denied => ApprovalStatusWire::Denied,
            _ => ApprovalStatusWire::Timeout,
        };
        Self { status, decided_by }
    }
}

/// A request as shown to people (list, stream) and sent between instances.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApprovalView {
    pub id: Uuid,
    pub device_id: DeviceId,
    pub uid: String,
    pub key_id: KeyId,
    pub member_id: MemberId,
    pub sponsor_id: Option<MemberId>,
    /// pending, approved, denied, timeout or abandoned.
    pub status: String,
    pub decided_by: Option<MemberId>,
    /// Unix seconds.
    pub requested_at: i64,
    pub expires_at: i64,
    pub decided_at: Option<i64>,
}

impl From<&ApprovalRequest> for ApprovalView {
    fn from(r: &ApprovalRequest) -> Self {
        Self {
            id: r.id,
            device_id: r.device_id,
            uid: r.uid.to_string(),
            key_id: r.key_id,
            member_id: r.member_id,
            sponsor_id: r.sponsor_id,
            status: r.status.as_str().to_owned(),
            decided_by: r.decided_by,
            requested_at: r.requested_at,
            expires_at: r.expires_at,
            decided_at: r.decided_at,
        }
    }
}

/// What the live stream carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum LiveEvent {
    Pending(ApprovalView),
    Decided(ApprovalView),
}

#[derive(Serialize, Deserialize)]
struct Wire {
    origin: Uuid,
    event: LiveEvent,
}

/// Wakes waiting doors and feeds live streams on this instance.
pub struct ApprovalHub {
    instance: Uuid,
    waiters: Mutex<HashMap<Uuid, oneshot::Sender<Decision>>>,
    live: broadcast::Sender<LiveEvent>,
    closing: tokio::sync::watch::Sender<bool>,
}

impl Default for ApprovalHub {
    fn default() -> Self {
        Self {
            instance: Uuid::new_v4(),
            waiters: Mutex::new(HashMap::new()),
            live: broadcast::channel(1024).0,
            closing: tokio::sync::watch::channel(false).0,
        }
    }
}

impl ApprovalHub {
    /// The server is shutting down: live streams end and waiting doors are
    /// answered with a timeout, so shutdown can finish.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves when [`ApprovalHub::close`] was called.
    pub fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.closing.subscribe();
        async move {
            // An error means the hub is gone: closed as well.
            let _ = rx.wait_for(|c| *c).await;
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.live.subscribe()
    }

    /// Requests held open on this instance.
    pub fn waiting(&self) -> usize {
        self.waiters.lock().map(|w| w.len()).unwrap_or(0)
    }

    fn register(&self, id: Uuid) -> oneshot::Receiver<Decision> {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut w) = self.waiters.lock() {
            w.insert(id, tx);
        }
        rx
    }

    fn forget(&self, id: Uuid) {
        if let Ok(mut w) = self.waiters.lock() {
            w.remove(&id);
        }
    }

    /// Local delivery of a change (a decision wakes its waiter, if here).
    fn publish(&self, event: LiveEvent) {
        if let LiveEvent::Decided(v) = &event {
            let waiter = self.waiters.lock().ok().and_then(|mut w| w.remove(&v.id));
            if let (Some(tx), Ok(status)) = (waiter, v.status.parse::<ApprovalStatus>()) {
                let _ = tx.send(Decision::of(status, v.decided_by));
            }
        }
        // No subscriber is fine.
        let _ = self.live.send(event);
    }

    /// A notification from the PostgreSQL listener.
    pub fn on_notification(&self, payload: &str) {
        match serde_json::from_str::<Wire>(payload) {
            Ok(w) if w.origin == self.instance => {}
            Ok(w) => self.publish(w.event),
            Err(e) => tracing::warn!(error = %e, "unreadable approval notification"),
        }
    }
}

/// Sends `event` to other instances when the transaction commits (PostgreSQL only).
async fn notify_others(app: &App, conn: &mut AnyConnection, event: &LiveEvent) -> AppResult<()> {
    if app.db.backend() != Backend::Postgres {
        return Ok(());
    }
    let payload = serde_json::to_string(&Wire {
        origin: app.approvals.instance,
        event: event.clone(),
    })
    .map_err(|e| AppError::Internal(e.to_string()))?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(PG_CHANNEL)
        .bind(payload)
        .execute(conn)
        .await
        .map_err(StorageError::from)?;
    Ok(())
}

/// Listens for changes made by other instances until the task is aborted.
pub async fn listen(app: App, mut listener: sqlx::postgres::PgListener) {
    loop {
        match listener.recv().await {
            Ok(n) => app.approvals.on_notification(n.payload()),
            Err(e) => {
                // `recv` reconnects by itself; a failure here means the
                // database is away. Waiters fall back to their deadline.
                tracing::warn!(error = %e, "approval listener lost the database");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// A request the door is waiting on.
pub struct Waiting {
    id: Uuid,
    rx: oneshot::Receiver<Decision>,
    expires_at: i64,
}

pub enum Opened {
    /// Decided at once (not a conditional UID).
    Done(Decision),
    Waiting(Waiting),
}

/// Step 1 of `POST /device/approve`: checks the request and records it as pending.
pub async fn open(app: &App, device: &Device, uid: &str, door_timestamp: i64) -> AppResult<Opened> {
    let uid = Uid::parse(uid).map_err(|m| AppError::field("uid", m))?;
    let now = now_unix();
    // abs_diff: a door may send any i64, and i64::MIN - now overflows.
    if door_timestamp.abs_diff(now) > MAX_CLOCK_SKEW_SECS.unsigned_abs() {
        return Err(AppError::field(
            "timestamp",
            format!("is more than {MAX_CLOCK_SKEW_SECS} s away from the server's clock"),
        ));
    }
    // Read before the write transaction: on SQLite writers queue one at a
    // time, and many doors asking at once must not queue behind compiling.
    let subject = {
        let mut conn = app.db.read().await?;
        conditional_subject(&mut conn, &uid).await?
    };
    let mut tx = app.db.begin().await?;
    // A request left pending by a stopped instance must not block this door.
    let mut expired = None;
    if let Some(stale) = approvals::expired_pending_for(&mut tx, device.id, &uid, now - 5).await? {
        expired = settle(app, &mut tx, stale.id, ApprovalStatus::Timeout, None, now).await?;
    }
    let Some(subject) = subject else {
        audit::insert(
            &mut tx,
            NewEntry::now(
                event::CONDITIONAL_DENIED,
                Actor::Server,
                None,
                json!({ "uid": uid.as_str(), "device_id": device.id, "reason": "not_conditional" }),
            ),
        )
        .await?;
        tx.commit().await?;
        return Ok(Opened::Done(Decision::of(ApprovalStatus::Denied, None)));
    };
    let request = ApprovalRequest {
        id: Uuid::new_v4(),
        device_id: device.id,
        uid,
        key_id: subject.key_id,
        member_id: subject.member_id,
        sponsor_id: subject.sponsor_id,
        status: ApprovalStatus::Pending,
        decided_by: None,
        door_timestamp,
        requested_at: now,
        expires_at: now + i64::try_from(app.config.approval_timeout_secs).unwrap_or(60),
        decided_at: None,
    };
    match approvals::insert(&mut tx, &request).await {
        Err(StorageError::Conflict(_)) => {
            return Err(AppError::conflict(
                "uid",
                "this door already has a pending request for this UID",
            ))
        }
        other => other?,
    }
    let view = ApprovalView::from(&request);
    notify_others(app, &mut tx, &LiveEvent::Pending(view.clone())).await?;
    let holder = members::get(&mut tx, request.member_id).await?;
    let door = notice::Door {
        id: device.id,
        name: device.name.clone(),
    };
    let info = notice::ApprovalInfo {
        request_id: request.id,
        door: &door,
        uid: request.uid.as_str(),
        member_id: request.member_id,
        member_name: holder
            .as_ref()
            .map_or("someone", |m| m.display_name.as_str()),
        sponsor_id: request.sponsor_id,
        expires_at: request.expires_at,
    };
    notifications::enqueue(app, &mut tx, &notice::approval_requested(&info, now)).await?;
    // Registered before commit so no decision can slip past unseen.
    let rx = app.approvals.register(request.id);
    if let Err(e) = tx.commit().await {
        app.approvals.forget(request.id);
        return Err(e.into());
    }
    if let Some(v) = expired {
        app.approvals.publish(LiveEvent::Decided(v));
    }
    app.approvals.publish(LiveEvent::Pending(view));
    app.notifications.wake();
    Ok(Opened::Waiting(Waiting {
        id: request.id,
        rx,
        expires_at: request.expires_at,
    }))
}

/// Marks the request abandoned if the waiting future is dropped (the door hung up).
struct AbandonGuard {
    app: App,
    id: Uuid,
    armed: bool,
}

impl Drop for AbandonGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        self.app.approvals.forget(self.id);
        let (app, id) = (self.app.clone(), self.id);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = finish(&app, id, ApprovalStatus::Abandoned).await {
                    tracing::warn!(error = %e, request = %id, "recording an abandoned request failed");
                }
            });
        }
    }
}

/// Step 2: waits for a decision or the deadline. If this future is dropped
/// before it ends, the request is recorded as abandoned.
pub async fn wait(app: &App, w: Waiting) -> AppResult<Decision> {
    let mut guard = AbandonGuard {
        app: app.clone(),
        id: w.id,
        armed: true,
    };
    let left = u64::try_from(w.expires_at - now_unix()).unwrap_or(0);
    let decided = tokio::select! {
        d = w.rx => d.ok(),
        () = tokio::time::sleep(Duration::from_secs(left)) => None,
        // Shutting down: the door gets its answer now rather than holding
        // the shutdown for up to a minute.
        () = app.approvals.closed() => None,
    };
    let result = match decided {
        Some(decision) => Ok(decision),
        // Deadline, shutdown, or the hub dropped us: settle it in the table.
        // Boxed so the waiting future stays small.
        None => Box::pin(finish(app, w.id, ApprovalStatus::Timeout)).await,
    };
    app.approvals.forget(w.id);
    guard.armed = false;
    result
}

/// Ends a request without a person's decision (timeout or abandoned). If a
/// decision won the race, that decision is returned.
async fn finish(app: &App, id: Uuid, status: ApprovalStatus) -> AppResult<Decision> {
    let now = now_unix();
    let mut tx = app.db.begin().await?;
    let settled = settle(app, &mut tx, id, status, None, now).await?;
    tx.commit().await?;
    if let Some(view) = settled {
        app.approvals.publish(LiveEvent::Decided(view));
        return Ok(Decision::of(status, None));
    }
    let mut conn = app.db.read().await?;
    let r = approvals::get(&mut conn, id)
        .await?
        .ok_or(AppError::NotFound("approval request"))?;
    Ok(Decision::of(r.status, r.decided_by))
}

/// The atomic transition plus its audit row and notification; `None` when
/// the request was no longer pending.
async fn settle(
    app: &App,
    conn: &mut AnyConnection,
    id: Uuid,
    status: ApprovalStatus,
    decider: Option<MemberId>,
    now: i64,
) -> AppResult<Option<ApprovalView>> {
    if !approvals::decide(conn, id, status, decider.map(|d| d.to_string()), now).await? {
        return Ok(None);
    }
    let r = approvals::get(conn, id)
        .await?
        .ok_or(AppError::NotFound("approval request"))?;
    let (event_type, actor) = match (status, decider) {
        (ApprovalStatus::Approved, Some(m)) => (event::CONDITIONAL_APPROVED, Actor::Member(m)),
        (ApprovalStatus::Denied, Some(m)) => (event::CONDITIONAL_DENIED, Actor::Member(m)),
        _ => (event::CONDITIONAL_TIMEOUT, Actor::Server),
    };
    audit::insert(
        conn,
        NewEntry::now(
            event_type,
            actor,
            Some(r.key_id.to_string()),
            json!({
                "uid": r.uid.as_str(),
                "device_id": r.device_id,
                "request_id": r.id,
                "status": status.as_str(),
            }),
        ),
    )
    .await?;
    let view = ApprovalView::from(&r);
    notify_others(app, conn, &LiveEvent::Decided(view.clone())).await?;
    let door = notice::Door {
        id: r.device_id,
        name: crate::storage::devices::get(conn, r.device_id)
            .await?
            .map(|d| d.name)
            .unwrap_or_default(),
    };
    let n = notice::approval_decided(r.id, &door, status.as_str(), decider, now);
    notifications::enqueue(app, conn, &n).await?;
    app.notifications.wake();
    Ok(Some(view))
}

/// Times out pending requests whose deadline passed without a waiter
/// (an instance stopped while a door waited).
/// Runs in housekeeping every minute.
pub async fn expire_stale_requests(app: &App) -> AppResult<()> {
    let now = now_unix();
    let mut tx = app.db.begin().await?;
    let mut settled = Vec::new();
    // A little slack so a live waiter settles its own request.
    for r in approvals::list_expired_pending(&mut tx, now - 5).await? {
        settled.extend(settle(app, &mut tx, r.id, ApprovalStatus::Timeout, None, now).await?);
    }
    tx.commit().await?;
    for v in settled {
        app.approvals.publish(LiveEvent::Decided(v));
    }
    Ok(())
}

/// Whether `who` may decide `r` (system.md section 6).
pub fn may_decide(who: &Member, r: &ApprovalRequest) -> bool {
    permitted(who, r.member_id, r.sponsor_id)
}

/// [`may_decide`] for a request as shown in lists and streams.
pub fn may_decide_view(who: &Member, v: &ApprovalView) -> bool {
    permitted(who, v.member_id, v.sponsor_id)
}

/// Admins decide any request; a keyholder those of guests they sponsor and
/// of conditional keys without sponsor; nobody their own key's.
fn permitted(who: &Member, holder: MemberId, sponsor: Option<MemberId>) -> bool {
    if holder == who.id {
        return false;
    }
    match who.role {
        Role::Admin => true,
        Role::Keyholder => sponsor.is_none_or(|s| s == who.id),
        _ => false,
    }
}

/// A person's decision; the first one wins, a later one is a 409.
pub async fn decide(app: &App, who: &Member, id: Uuid, approve: bool) -> AppResult<ApprovalView> {
    let now = now_unix();
    let mut tx = app.db.begin().await?;
    let r = approvals::get(&mut tx, id)
        .await?
        .ok_or(AppError::NotFound("approval request"))?;
    if !may_decide(who, &r) {
        return Err(AppError::Forbidden);
    }
    let status = if approve {
        ApprovalStatus::Approved
    } else {
        ApprovalStatus::Denied
    };
    let Some(view) = settle(app, &mut tx, id, status, Some(who.id), now).await? else {
        return Err(AppError::conflict(
            "status",
            format!("the request is already {}", r.status.as_str()),
        ));
    };
    tx.commit().await?;
    app.approvals.publish(LiveEvent::Decided(view.clone()));
    Ok(view)
}

/// Requests in one state, newest first, each with whether `who` may decide it.
pub async fn list(
    app: &App,
    who: &Member,
    status: ApprovalStatus,
) -> AppResult<Vec<(ApprovalView, bool)>> {
    let mut conn = app.db.read().await?;
    let rows = approvals::list_by_status(&mut conn, status, 500).await?;
    Ok(rows
        .iter()
        .map(|r| (ApprovalView::from(r), may_decide(who, r)))
        .collect())
}

/// The viewer of a live stream as of now: `None` once their session ended,
/// they were deactivated or fell below keyholder. Checked before every
/// event, so a demotion ends an open stream at its next event.
pub async fn current_viewer(app: &App, who: &super::auth::Principal) -> Option<Member> {
    let mut conn = app.db.read().await.ok()?;
    crate::storage::sessions::get_live(&mut conn, who.session.id, now_unix())
        .await
        .ok()??;
    members::get(&mut conn, who.member.id)
        .await
        .ok()?
        .filter(|m| m.is_active && m.role >= Role::Keyholder)
}
