//! Building, signing, serving and explaining the allow-list.

use super::auth::Principal;
use super::{App, AppError, AppResult};
use crate::config::SigningMode;
use crate::domain::audit::event;
use crate::domain::compile::{compile, compile_entries, compile_with_keypads, Compiled, KeyResult};
use crate::domain::key::{NfcKey, Uid};
use crate::domain::member::Member;
use crate::domain::rule::{Rule, RuleParams};
use crate::domain::MemberId;
use crate::storage::allowlists::{self, StoredList};
use crate::storage::audit::{self, Actor, NewEntry};
use crate::storage::{counters, keypads, keys, members, now_unix, rules};
use ol02::{DoorState, KeypadSpec, ListBuilder, TRAILER_LEN};
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::AnyConnection;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// An online list is valid for a day...
pub const ONLINE_VALIDITY_SECS: i64 = 24 * 3600;
/// ...and rebuilt when less than this remains.
pub const ONLINE_REFRESH_SECS: i64 = 6 * 3600;
/// Air-gapped: warn (and prepare a new unsigned list) this long before staleness.
pub const AIRGAPPED_WARNING_SECS: i64 = 48 * 3600;

/// Old lists are kept for inspection only; the table stays small.
pub const KEEP_VERSIONS: i64 = 50;

pub struct Inputs {
    pub members: Vec<Member>,
    pub keys: Vec<NfcKey>,
    pub rules: Vec<Rule>,
    /// Members who hold keypad codes (active guarantors with a secret) and
    /// their keypad id; every other profile carries keypad id 0.
    pub enrolled_keypads: HashMap<MemberId, u16>,
    /// The keypad section: one record per enrolled member, by keypad id.
    pub keypads: Vec<KeypadSpec>,
}

pub async fn load_inputs(conn: &mut AnyConnection) -> AppResult<Inputs> {
    let members = members::list(conn, None, None).await?;
    let credentials = keypads::list(conn).await?;
    let (enrolled_keypads, keypads) = crate::domain::keypad::list_section(&members, &credentials);
    Ok(Inputs {
        members,
        keys: keys::list_unrevoked(conn).await?,
        rules: rules::list(conn).await?,
        enrolled_keypads,
        keypads,
    })
}

/// The longest a list may stay valid in the configured mode.
pub fn validity_secs(app: &App) -> i64 {
    match app.signing.mode {
        SigningMode::Online => ONLINE_VALIDITY_SECS,
        SigningMode::AirGapped => i64::from(app.config.allowlist_validity_days) * 86_400,
    }
}

fn refresh_secs(app: &App) -> i64 {
    match app.signing.mode {
        SigningMode::Online => ONLINE_REFRESH_SECS,
        SigningMode::AirGapped => AIRGAPPED_WARNING_SECS,
    }
}

/// The entries of the list (no per-rule explanations): what builds use.
pub fn compile_inputs(inputs: &Inputs, now: i64, validity: i64) -> Compiled {
    compile_entries(
        &inputs.members,
        &inputs.keys,
        &inputs.rules,
        &inputs.enrolled_keypads,
        now,
        now + validity,
    )
}

/// [`compile_inputs`] with every rule's outcome per key, for explanations.
pub fn compile_inputs_explained(inputs: &Inputs, now: i64, validity: i64) -> Compiled {
    compile_with_keypads(
        &inputs.members,
        &inputs.keys,
        &inputs.rules,
        &inputs.enrolled_keypads,
        now,
        now + validity,
    )
}

/// Refuses (422, naming the rules) a change after which some entry would
/// need more than four time slots, or after which the list would exceed a
/// limit of the format. Call inside the change's transaction.
pub async fn check_compiles(app: &App, conn: &mut AnyConnection) -> AppResult<()> {
    check_whole_list(app, conn).await
}

/// Compiles and encodes the whole list as it would be after the change in
/// `conn`'s transaction: a change the door could not read is refused at
/// save time, never discovered by the build.
pub async fn check_whole_list(app: &App, conn: &mut AnyConnection) -> AppResult<()> {
    let inputs = load_inputs(conn).await?;
    let now = now_unix();
    let validity = validity_secs(app);
    let c = compile_inputs(&inputs, now, validity);
    overflow_error(&c)?;
    builder(&c, &inputs.keypads, 1, now, now + validity)
        .encode_unsigned()
        .map_err(|e| capacity_error(&e))?;
    Ok(())
}

/// [`check_compiles`] for a change that can only affect `keys` (a new key,
/// a member's new role): those are all that need compiling, unless the last
/// list came near a limit of the format, when the whole list is checked.
pub async fn check_keys_compile(
    app: &App,
    conn: &mut AnyConnection,
    keys: &[NfcKey],
) -> AppResult<()> {
    if app.list_builds.near_capacity() {
        return check_whole_list(app, conn).await;
    }
    let rules = rules::list(conn).await?;
    let needed = members_for_keys(conn, keys, &rules).await?;
    let now = now_unix();
    let c = compile(&needed, keys, &rules, now, now + validity_secs(app));
    overflow_error(&c)
}

fn overflow_error(c: &Compiled) -> AppResult<()> {
    if let Some(o) = c.overflows.first() {
        let names: Vec<String> = o.rules.iter().map(|(_, n)| format!("\"{n}\"")).collect();
        return Err(AppError::field(
            "rules",
            format!(
                "key {} would need {} time slots (at most 4): the time windows of rules {} \
                 do not fit together; merge them or give them different priorities",
                o.uid,
                o.slots,
                names.join(", ")
            ),
        ));
    }
    Ok(())
}

/// A limit of the OL02 format, as the admin should read it.
fn capacity_error(e: &ol02::EncodeError) -> AppError {
    use ol02::EncodeError as E;
    let message = match e {
        E::TooManyProfiles => format!(
            "the allow-list would need more than {} distinct access profiles (combinations \
             of access type, role, schedule, grace, keypad id and validity dates); give keys \
             fewer distinct expiry dates or date ranges",
            u16::MAX
        ),
        E::TooManySchedules => format!(
            "the allow-list would need more than {} distinct weekly schedules",
            u16::MAX - 1
        ),
        E::TooManyKeypads => format!("more than {} members with keypad codes", u16::MAX),
        E::TooManyEntries => "the allow-list would hold too many keys".into(),
        other => format!("the allow-list cannot be encoded: {other}"),
    };
    AppError::field("allowlist", message)
}

/// The members compiling `keys` reads: their owners and the guest sponsors
/// the rules name. Loading every member instead, inside a writer's
/// transaction, made each key registration cost O(members).
pub async fn members_for_keys(
    conn: &mut AnyConnection,
    keys: &[NfcKey],
    rules: &[Rule],
) -> AppResult<Vec<Member>> {
    let mut wanted: Vec<MemberId> = keys.iter().map(|k| k.member_id).collect();
    wanted.extend(rules.iter().filter_map(|r| match &r.params {
        RuleParams::GuestSponsor(g) => Some(g.sponsor_id),
        _ => None,
    }));
    wanted.sort_unstable();
    wanted.dedup();
    let mut needed = Vec::with_capacity(wanted.len());
    for id in wanted {
        needed.extend(members::get(conn, id).await?);
    }
    Ok(needed)
}

/// The OL02 builder for a compiled state. Slots beyond four (only possible
/// when time moved a window across a day since the save-time check) are cut,
/// which narrows access rather than widening it.
fn builder(
    c: &Compiled,
    keypads: &[KeypadSpec],
    version: u64,
    generated_at: i64,
    valid_until: i64,
) -> ListBuilder {
    let mut b = ListBuilder::new(
        version,
        u64::try_from(generated_at).unwrap_or(0),
        u64::try_from(valid_until).unwrap_or(0),
    );
    b.lockdown = c.lockdown;
    for e in c.entries() {
        if let Some(mut spec) = e.to_spec() {
            if spec.slots.len() > ol02::MAX_SLOTS {
                tracing::warn!(uid = %e.uid, "entry has more than 4 slots; extra slots dropped");
                spec.slots.truncate(ol02::MAX_SLOTS);
            }
            b.add_entry(spec);
        }
    }
    // A lockdown list carries no keypad codes (system.md 5).
    if !c.lockdown {
        b.keypads = keypads.to_vec();
    }
    b
}

/// The unsigned OL02 bytes of a compiled state, exactly as a build writes
/// them (public for the size and speed benchmarks).
pub fn encode_compiled(
    c: &Compiled,
    keypads: &[KeypadSpec],
    version: u64,
    generated_at: i64,
    valid_until: i64,
) -> AppResult<Vec<u8>> {
    encode(&builder(c, keypads, version, generated_at, valid_until))
}

fn encode(b: &ListBuilder) -> AppResult<Vec<u8>> {
    b.encode_unsigned()
        .map_err(|e| AppError::Internal(format!("encoding the allow-list: {e}")))
}

/// Hash of what the door evaluates: entries, flags and keypad section, with
/// version and times zeroed so that an unchanged state hashes the same.
fn content_hash(c: &Compiled, keypads: &[KeypadSpec]) -> AppResult<String> {
    let bytes = encode(&builder(c, keypads, 0, 0, 1))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

/// What decides whether a build makes a new version.
pub struct Built<'a> {
    pub content_hash: &'a str,
    pub valid_until: i64,
}

/// A new version is needed when the content changed, when the newest list
/// outlives a boundary the rules now set (its `valid_until` is later than
/// the fresh one's), or when it nears staleness (less than `refresh` left)
/// and the fresh list would last longer.
pub fn needs_new_version(current: &Built<'_>, fresh: &Built<'_>, now: i64, refresh: i64) -> bool {
    let same = current.content_hash == fresh.content_hash;
    let still_right = current.valid_until <= fresh.valid_until;
    let extend = current.valid_until - now < refresh && fresh.valid_until > current.valid_until;
    !(same && still_right && !extend)
}

/// Coalesces the builds that committed changes ask for. Every change counts
/// itself *after* its commit, so a build that starts after reading the
/// count sees every change counted so far; callers whose change such a build
/// already covered return without building again. Under a burst (a bulk
/// import) one build serves many changes instead of one build each, and
/// every caller still returns only once a list containing its change exists.
#[derive(Default)]
pub struct BuildGate {
    running: tokio::sync::Mutex<()>,
    changes: AtomicU64,
    covered: AtomicU64,
    /// The larger of the profile and schedule counts of the last list built
    /// here: saves check the whole list only when this nears the limit.
    table_high_water: AtomicU64,
}

/// Within this many of a table limit, every key change checks the whole list.
const CAPACITY_MARGIN: u64 = 4096;

impl BuildGate {
    pub fn near_capacity(&self) -> bool {
        self.table_high_water.load(Ordering::Relaxed) + CAPACITY_MARGIN >= u64::from(u16::MAX)
    }

    fn note_tables(&self, unsigned: &[u8]) {
        if let Ok(list) = ol02::List::parse_unsigned(unsigned) {
            let h = list.header();
            let most = h.profile_count.max(h.schedule_count);
            self.table_high_water
                .store(u64::from(most), Ordering::Relaxed);
        }
    }

    pub async fn build_after_change(&self, app: &App) -> AppResult<()> {
        let mine = self.changes.fetch_add(1, Ordering::SeqCst) + 1;
        let _running = self.running.lock().await;
        if self.covered.load(Ordering::SeqCst) >= mine {
            return Ok(());
        }
        let upto = self.changes.load(Ordering::SeqCst);
        rebuild(app).await?;
        self.covered.fetch_max(upto, Ordering::SeqCst);
        Ok(())
    }
}

/// Builds a new version when the list's content changed, when the newest
/// list outlives a boundary the rules now set, or when it nears staleness.
/// Returns the new version, if one was made.
///
/// The inputs are read from a snapshot and compiled without holding the
/// writer's lock, so changes keep committing while a large list compiles;
/// only encoding, signing and storing happen under the build lock. If
/// another instance stored a version meanwhile, the build starts again from
/// a fresh snapshot, so a list never replaces a newer state with an older one.
pub async fn rebuild(app: &App) -> AppResult<Option<i64>> {
    const ATTEMPTS: usize = 5;
    for _ in 1..ATTEMPTS {
        if let Some(done) = try_rebuild(app).await? {
            return Ok(done);
        }
    }
    try_rebuild(app).await?.ok_or_else(|| {
        AppError::Unavailable("allow-list builds kept racing other instances".into())
    })
}

/// `None`: another instance stored a version since the snapshot.
async fn try_rebuild(app: &App) -> AppResult<Option<Option<i64>>> {
    let now = now_unix();
    let validity = validity_secs(app);
    let (seen, inputs) = {
        let mut snap = app.db.snapshot().await.map_err(AppError::from)?;
        let seen = allowlists::latest_head(&mut snap).await?;
        let inputs = load_inputs(&mut snap).await?;
        (seen, inputs)
    };
    // Compiling 100,000 keys is CPU work for a blocking thread.
    let (c, hash, keypads) = tokio::task::spawn_blocking(move || {
        let c = compile_inputs(&inputs, now, validity);
        let hash = content_hash(&c, &inputs.keypads);
        (c, hash, inputs.keypads)
    })
    .await
    .map_err(|e| AppError::Internal(format!("compile task: {e}")))?;
    let hash = hash?;
    let valid_until = c
        .next_boundary
        .map_or(now + validity, |b| b.min(now + validity));

    let mut tx = app.db.begin().await?;
    allowlists::lock_builds(&mut tx, app.db.backend()).await?;
    let head = allowlists::latest_head(&mut tx).await?;
    if head.as_ref().map(|h| h.version) != seen.as_ref().map(|h| h.version) {
        return Ok(None);
    }
    if let Some(latest) = &head {
        let current = Built {
            content_hash: &latest.content_hash,
            valid_until: latest.valid_until,
        };
        let fresh = Built {
            content_hash: &hash,
            valid_until,
        };
        if !needs_new_version(&current, &fresh, now, refresh_secs(app)) {
            // A list built before a switch to online mode gets signed now.
            if !latest.signed {
                if let (Some(o), Some(stored)) =
                    (&app.signing.online, allowlists::latest(&mut tx).await?)
                {
                    let signed = ol02::sign(&stored.unsigned_bytes, &o.cert, &o.key)
                        .map_err(|e| AppError::Internal(format!("signing: {e}")))?;
                    allowlists::set_signed(&mut tx, stored.version, &signed, now).await?;
                    tx.commit().await?;
                    app.poll_cache.forget_version();
                }
            }
            return Ok(Some(None));
        }
    }
    let version = counters::next(&mut tx, "allowlist_version").await?;
    let unsigned = encode(&builder(
        &c,
        &keypads,
        u64::try_from(version).unwrap_or(0),
        now,
        valid_until,
    ))?;
    let signed = match &app.signing.online {
        Some(o) => Some(
            ol02::sign(&unsigned, &o.cert, &o.key)
                .map_err(|e| AppError::Internal(format!("signing: {e}")))?,
        ),
        None => None,
    };
    app.list_builds.note_tables(&unsigned);
    let entry_count = c.entries().count() as i64;
    let size = signed.as_ref().map_or(unsigned.len(), Vec::len);
    allowlists::insert(
        &mut tx,
        &StoredList {
            version,
            generated_at: now,
            valid_until,
            unsigned_bytes: unsigned,
            signed_at: signed.as_ref().map(|_| now),
            signed_bytes: signed,
            entry_count,
            content_hash: hash,
        },
    )
    .await?;
    audit::insert(
        &mut tx,
        NewEntry::now(
            event::ALLOWLIST_GENERATED,
            Actor::Server,
            None,
            json!({
                "version": version,
                "entry_count": entry_count,
                "size_bytes": size,
                "valid_until": valid_until,
                "lockdown": c.lockdown,
                "signed": app.signing.online.is_some(),
            }),
        ),
    )
    .await?;
    allowlists::prune(&mut tx, KEEP_VERSIONS).await?;
    tx.commit().await?;
    app.poll_cache.forget_version();
    tracing::info!(version, entry_count, "allow-list built");
    Ok(Some(Some(version)))
}

/// What a door's poll gets.
pub enum DeviceList {
    NotModified(i64),
    List(i64, Vec<u8>),
}

pub async fn for_device(app: &App, current: i64) -> AppResult<DeviceList> {
    if let Some(latest) = app.poll_cache.version() {
        if latest <= current {
            return Ok(DeviceList::NotModified(latest));
        }
    }
    let mut conn = app.db.read().await?;
    let Some(latest) = allowlists::latest_signed_version(&mut conn).await? else {
        return Err(AppError::Unavailable(match app.signing.mode {
            SigningMode::AirGapped => "no signed allow-list has been uploaded yet (air-gapped \
                                       mode): an admin must sign one offline and upload it"
                .into(),
            SigningMode::Online => "no allow-list has been built yet".into(),
        }));
    };
    app.poll_cache.remember_version(latest);
    if latest <= current {
        return Ok(DeviceList::NotModified(latest));
    }
    match allowlists::latest_signed(&mut conn).await? {
        Some(StoredList {
            version,
            signed_bytes: Some(bytes),
            ..
        }) => Ok(DeviceList::List(version, bytes)),
        _ => Err(AppError::Internal("signed list vanished".into())),
    }
}

pub struct Status {
    pub latest: Option<StoredList>,
    pub latest_signed: Option<StoredList>,
    pub signer_key_id: Option<u8>,
    pub subkey_expires_at: Option<i64>,
    pub warnings: Vec<String>,
}

pub async fn status(app: &App) -> AppResult<Status> {
    let mut conn = app.db.read().await?;
    let latest = allowlists::latest(&mut conn).await?;
    let latest_signed = allowlists::latest_signed(&mut conn).await?;
    let now = now_unix();
    let mut warnings = Vec::new();
    warnings.extend(app.signing.subkey_warning(now));
    let signer_key_id = match &app.signing.online {
        Some(o) => Some(o.cert.key_id),
        None => latest_signed
            .as_ref()
            .and_then(|l| l.signed_bytes.as_deref())
            .and_then(|b| ol02::parse_signed(b).ok())
            .map(|p| p.certificate.key_id),
    };
    if let Some(s) = &latest_signed {
        if s.valid_until - now < AIRGAPPED_WARNING_SECS
            && app.signing.mode == SigningMode::AirGapped
        {
            warnings.push(format!(
                "the signed list doors hold goes stale in {} hours: sign and upload a new one",
                (s.valid_until - now).max(0) / 3600
            ));
        }
    }
    Ok(Status {
        latest,
        latest_signed,
        signer_key_id,
        subkey_expires_at: app.signing.subkey_expires_at(),
        warnings,
    })
}

/// Air-gapped: the newest built list, to be signed offline.
pub async fn unsigned(app: &App) -> AppResult<(i64, Vec<u8>)> {
    let mut conn = app.db.read().await?;
    let latest = allowlists::latest(&mut conn)
        .await?
        .ok_or_else(|| AppError::Unavailable("no allow-list has been built yet".into()))?;
    Ok((latest.version, latest.unsigned_bytes))
}

/// Air-gapped: accepts a signed list only if it verifies against the master
/// key, is the newest built list byte for byte, and is newer than every
/// version served.
pub async fn upload_signed(app: &App, actor: &Principal, bytes: &[u8]) -> AppResult<i64> {
    if app.signing.mode != SigningMode::AirGapped {
        return Err(AppError::Conflict {
            message: "signed lists are uploaded only in air-gapped mode; this server signs itself"
                .into(),
            fields: Default::default(),
        });
    }
    let now = now_unix();
    let mut tx = app.db.begin().await?;
    allowlists::lock_builds(&mut tx, app.db.backend()).await?;
    let served = allowlists::latest_signed_version(&mut tx)
        .await?
        .unwrap_or(0);
    let verified = ol02::verify_list(
        bytes,
        &app.signing.master_public,
        u64::try_from(now).unwrap_or(0),
        u64::try_from(served).unwrap_or(0),
    )
    .map_err(|e| match e {
        ol02::VerifyError::VersionNotNewer { held, offered } => AppError::field(
            "version",
            format!("version {offered} is not newer than version {held}, already served to doors"),
        ),
        other => AppError::field(
            "body",
            format!("the signed list does not verify against the master public key: {other}"),
        ),
    })?;
    let version = i64::try_from(verified.list().version())
        .map_err(|_| AppError::field("version", "is out of range"))?;
    let key_id = verified.certificate().key_id;
    let latest = allowlists::latest(&mut tx)
        .await?
        .ok_or_else(|| AppError::field("version", "no list has been built"))?;
    if latest.version != version {
        return Err(AppError::field(
            "version",
            format!(
                "version {version} is not the newest built list (version {}); download the \
                 unsigned list again and sign that",
                latest.version
            ),
        ));
    }
    if bytes.len() < TRAILER_LEN || bytes[..bytes.len() - TRAILER_LEN] != latest.unsigned_bytes[..]
    {
        return Err(AppError::field(
            "body",
            "the signed content differs from the list this server built",
        ));
    }
    allowlists::set_signed(&mut tx, version, bytes, now).await?;
    audit::insert(
        &mut tx,
        NewEntry::now(
            event::ALLOWLIST_SIGNED,
            Actor::Member(actor.member.id),
            None,
            json!({ "version": version, "size_bytes": bytes.len(), "signer_key_id": key_id }),
        ),
    )
    .await?;
    tx.commit().await?;
    app.poll_cache.forget_version();
    Ok(version)
}

pub struct Explanation {
    pub uid: Uid,
    pub at: i64,
    pub list_version: Option<i64>,
    pub in_list: bool,
    pub key: Option<KeyResult>,
    pub excluded_because: Option<String>,
    pub decision: Option<ol02::Decision>,
    pub projected_decision: ol02::Decision,
}

/// The door's memory for an explanation: with `last_shutdown`, the card was
/// inside when the space was shut down (granted in the closed session).
fn door_state(uid: &ol02::Uid, last_shutdown: Option<i64>) -> DoorState {
    match last_shutdown.and_then(|t| u64::try_from(t).ok()) {
        Some(t) => DoorState::with_shutdown(t, [*uid]),
        None => DoorState::new(),
    }
}

pub async fn explain(
    app: &App,
    uid: Uid,
    at: i64,
    last_shutdown: Option<i64>,
) -> AppResult<Explanation> {
    let door_uid =
        ol02::Uid::new(&uid.to_bytes()).map_err(|_| AppError::field("uid", Uid::MESSAGE))?;
    let state = door_state(&door_uid, last_shutdown);
    let at_u = u64::try_from(at).unwrap_or(0);
    let mut conn = app.db.read().await?;
    let inputs = load_inputs(&mut conn).await?;
    let held = allowlists::latest_signed(&mut conn).await?;
    drop(conn);

    let (decision, in_list) = match &held {
        Some(l) => {
            let list = ol02::List::parse_unsigned(&l.unsigned_bytes)
                .map_err(|e| AppError::Internal(format!("stored list unreadable: {e}")))?;
            let out = ol02::decide(&list, &door_uid, at_u, &state);
            (Some(out.decision), list.find(&door_uid).is_some())
        }
        None => (None, false),
    };

    let validity = validity_secs(app);
    let c = compile_inputs_explained(&inputs, at, validity);
    let valid_until = c
        .next_boundary
        .map_or(at + validity, |b| b.min(at + validity));
    let projected_bytes = encode(&builder(&c, &inputs.keypads, 0, at, valid_until))?;
    let projected = ol02::List::parse_unsigned(&projected_bytes)
        .map_err(|e| AppError::Internal(format!("projected list unreadable: {e}")))?;
    let projected_decision = ol02::decide(&projected, &door_uid, at_u, &state).decision;

    let key = c.keys.into_iter().find(|k| k.uid == uid);
    let excluded_because = match &key {
        Some(k) => k.excluded_because.clone(),
        None => Some("no active key is registered with this UID".into()),
    };
    Ok(Explanation {
        uid,
        at,
        list_version: held.map(|l| l.version),
        in_list,
        key,
        excluded_because,
        decision,
        projected_decision,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3600;

    fn built(hash: &str, valid_until: i64) -> Built<'_> {
        Built {
            content_hash: hash,
            valid_until,
        }
    }

    #[test]
    fn unchanged_content_keeps_its_version() {
        // Built at 0 for 24 h; an hour later nothing changed.
        let current = built("a", 24 * H);
        assert!(!needs_new_version(&current, &built("a", 25 * H), H, 6 * H));
    }

    #[test]
    fn changed_content_makes_a_version() {
        let current = built("a", 24 * H);
        assert!(needs_new_version(&current, &built("b", 25 * H), H, 6 * H));
    }

    #[test]
    fn nearing_staleness_refreshes_online() {
        // 19 h after the build, 5 h remain: less than 6 h, so refresh.
        let current = built("a", 24 * H);
        assert!(needs_new_version(
            &current,
            &built("a", 43 * H),
            19 * H,
            6 * H
        ));
        // 17 h after, 7 h remain: not yet.
        assert!(!needs_new_version(
            &current,
            &built("a", 41 * H),
            17 * H,
            6 * H
        ));
    }

    #[test]
    fn a_boundary_that_cannot_move_does_not_loop() {
        // Capped at an override's end in 2 h: rebuilding gives the same cap.
        let current = built("a", 3 * H);
        assert!(!needs_new_version(&current, &built("a", 3 * H), H, 6 * H));
    }

    #[test]
    fn a_new_earlier_boundary_makes_a_version() {
        // A DST change or date range now ends validity before the old list did.
        let current = built("a", 24 * H);
        assert!(needs_new_version(&current, &built("a", 10 * H), H, 6 * H));
    }
}
