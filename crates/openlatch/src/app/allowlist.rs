//! Building, signing, serving and explaining the allow-lists: one per zone.

use super::auth::Principal;
use super::{App, AppError, AppResult};
use crate::config::SigningMode;
use crate::domain::audit::event;
use crate::domain::compile::{
    compile_entries, compile_zone, compile_zone_explained, Compiled, KeyResult,
};
use crate::domain::key::{NfcKey, Uid};
use crate::domain::member::Member;
use crate::domain::rule::{Rule, RuleParams};
use crate::domain::zone::{DefaultPresence, Zone, ZoneScope};
use crate::domain::{DeviceId, MemberId, ZoneId};
use crate::storage::allowlists::{self, StoredList};
use crate::storage::audit::{self, Actor, NewEntry};
use crate::storage::{counters, devices, keypads, keys, members, now_unix, rules, zones};
use ol02::{DoorState, KeypadSpec, ListBuilder, TRAILER_LEN};
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::AnyConnection;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

/// An online list is valid for a day...
pub const ONLINE_VALIDITY_SECS: i64 = 24 * 3600;
/// ...and rebuilt when less than this remains.
pub const ONLINE_REFRESH_SECS: i64 = 6 * 3600;
/// Air-gapped: warn (and prepare a new unsigned list) this long before staleness.
pub const AIRGAPPED_WARNING_SECS: i64 = 48 * 3600;

/// Old lists are kept for inspection only; the table stays small.
pub const KEEP_VERSIONS: i64 = 50;

#[derive(Clone)]
pub struct Inputs {
    pub members: Vec<Member>,
    pub keys: Vec<NfcKey>,
    pub rules: Vec<Rule>,
    /// Every zone, `main` first.
    pub zones: Vec<Zone>,
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
        zones: zones::list(conn).await?,
        enrolled_keypads,
        keypads,
    })
}

/// The builder's copy of the inputs, kept between builds so a build reads
/// only the members and keys changed since the last one (by their
/// `change_seq`) instead of the whole space. Rules, zones and keypad
/// credentials are few and read whole every time.
struct CachedInputs {
    /// The highest change number the copy includes.
    seq: i64,
    inputs: std::sync::Arc<Inputs>,
    member_pos: HashMap<MemberId, usize>,
    key_pos: HashMap<crate::domain::KeyId, usize>,
}

impl CachedInputs {
    async fn load_all(conn: &mut AnyConnection) -> AppResult<Self> {
        let seq = counters::current(conn, counters::LIST_INPUT_CHANGE).await?;
        let inputs = load_inputs(conn).await?;
        let member_pos = inputs
            .members
            .iter()
            .enumerate()
            .map(|(i, m)| (m.id, i))
            .collect();
        let key_pos = inputs
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.id, i))
            .collect();
        Ok(Self {
            seq,
            inputs: std::sync::Arc::new(inputs),
            member_pos,
            key_pos,
        })
    }

    /// Brings the copy up to what `conn`'s snapshot sees. `false`: the
    /// database went back behind the copy (restored), so it must be read whole.
    async fn catch_up(&mut self, conn: &mut AnyConnection) -> AppResult<bool> {
        let seq = counters::current(conn, counters::LIST_INPUT_CHANGE).await?;
        if seq < self.seq {
            return Ok(false);
        }
        let changed_members = if seq > self.seq {
            members::changed_since(conn, self.seq).await?
        } else {
            Vec::new()
        };
        let changed_keys = if seq > self.seq {
            keys::changed_since(conn, self.seq).await?
        } else {
            Vec::new()
        };
        let credentials = keypads::list(conn).await?;
        let rules = rules::list(conn).await?;
        let zones = zones::list(conn).await?;
        // A build still compiling from the previous copy shares it: copy then.
        let inputs = std::sync::Arc::make_mut(&mut self.inputs);
        for m in changed_members {
            match self.member_pos.get(&m.id) {
                Some(&i) => inputs.members[i] = m,
                None => {
                    self.member_pos.insert(m.id, inputs.members.len());
                    inputs.members.push(m);
                }
            }
        }
        for k in changed_keys {
            match (self.key_pos.get(&k.id).copied(), k.revoked_at.is_some()) {
                (Some(i), false) => inputs.keys[i] = k,
                (None, false) => {
                    self.key_pos.insert(k.id, inputs.keys.len());
                    inputs.keys.push(k);
                }
                (Some(i), true) => {
                    self.key_pos.remove(&k.id);
                    inputs.keys.swap_remove(i);
                    if let Some(moved) = inputs.keys.get(i) {
                        self.key_pos.insert(moved.id, i);
                    }
                }
                (None, true) => {}
            }
        }
        let members = &inputs.members;
        let pos = &self.member_pos;
        let (enrolled_keypads, section) = crate::domain::keypad::list_section_by(
            |id| pos.get(&id).map(|&i| &members[i]),
            &credentials,
        );
        inputs.enrolled_keypads = enrolled_keypads;
        inputs.keypads = section;
        inputs.rules = rules;
        inputs.zones = zones;
        self.seq = seq;
        Ok(true)
    }
}

/// The inputs as `conn`'s snapshot sees them, from the builder's copy
/// brought up to date (or read whole the first time).
async fn cached_inputs(app: &App, conn: &mut AnyConnection) -> AppResult<std::sync::Arc<Inputs>> {
    let mut cache = app.list_builds.inputs.lock().await;
    if let Some(c) = cache.as_mut() {
        if c.catch_up(conn).await? {
            return Ok(c.inputs.clone());
        }
    }
    let fresh = CachedInputs::load_all(conn).await?;
    let inputs = fresh.inputs.clone();
    *cache = Some(fresh);
    Ok(inputs)
}

/// The inputs a build would read now: the builder's copy brought up to date
/// from a fresh snapshot (public for the test comparing it with a full read).
pub async fn current_inputs(app: &App) -> AppResult<std::sync::Arc<Inputs>> {
    let mut snap = app.db.snapshot().await.map_err(AppError::from)?;
    cached_inputs(app, &mut snap).await
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

/// The entries of one zone's list (no per-rule explanations): what builds use.
pub fn compile_inputs(inputs: &Inputs, zone: ZoneScope, now: i64, validity: i64) -> Compiled {
    compile_entries(
        zone,
        &inputs.members,
        &inputs.keys,
        &inputs.rules,
        &inputs.enrolled_keypads,
        now,
        now + validity,
    )
}

/// [`compile_inputs`] with every rule's outcome per key, for explanations.
pub fn compile_inputs_explained(
    inputs: &Inputs,
    zone: ZoneScope,
    now: i64,
    validity: i64,
) -> Compiled {
    compile_zone_explained(
        zone,
        &inputs.members,
        &inputs.keys,
        &inputs.rules,
        &inputs.enrolled_keypads,
        now,
        now + validity,
    )
}

/// The keypad section of a zone's list. A `members` zone carries every
/// enrolled guarantor (as before zones); a `granted` zone only those with
/// an entry in it, so a code never opens a room its holder may not enter.
pub fn zone_keypads(inputs: &Inputs, zone: ZoneScope, c: &Compiled) -> Vec<KeypadSpec> {
    if zone.default_presence == DefaultPresence::Members {
        return inputs.keypads.clone();
    }
    let present: HashSet<u16> = c
        .entries()
        .map(|e| e.keypad_id)
        .filter(|&k| k != 0)
        .collect();
    inputs
        .keypads
        .iter()
        .filter(|k| present.contains(&k.keypad_id))
        .cloned()
        .collect()
}

/// Refuses (422, naming the rules) a change after which some entry would
/// need more than four time slots, or after which a list would exceed a
/// limit of the format, in one of `zones` (the zones the change can reach).
/// Call inside the change's transaction.
pub async fn check_compiles(app: &App, conn: &mut AnyConnection, zones: &Zones) -> AppResult<()> {
    check_whole_list(app, conn, zones).await
}

/// Compiles and encodes the lists of `reach` as they would be after the
/// change in `conn`'s transaction: a change the door could not read is
/// refused at save time, never discovered by the build.
pub async fn check_whole_list(app: &App, conn: &mut AnyConnection, reach: &Zones) -> AppResult<()> {
    let inputs = load_inputs(conn).await?;
    let now = now_unix();
    let validity = validity_secs(app);
    for zone in inputs.zones.iter().filter(|z| reach.contains(z.id)) {
        let scope = ZoneScope::from(zone);
        let c = compile_inputs(&inputs, scope, now, validity);
        overflow_error(&c, zone)?;
        let keypads = zone_keypads(&inputs, scope, &c);
        builder(&c, &keypads, 1, now, now + validity)
            .encode_unsigned()
            .map_err(|e| capacity_error(&e))?;
    }
    Ok(())
}

/// [`check_compiles`] for a change that can only affect `keys` (a new key,
/// a member's new role): those are all that need compiling, in every zone,
/// unless the last list came near a limit of the format, when the whole
/// lists are checked.
pub async fn check_keys_compile(
    app: &App,
    conn: &mut AnyConnection,
    keys: &[NfcKey],
) -> AppResult<()> {
    if app.list_builds.near_capacity() {
        return check_whole_list(app, conn, &Zones::All).await;
    }
    let rules = rules::list(conn).await?;
    let needed = members_for_keys(conn, keys, &rules).await?;
    let zones = zones::list(conn).await?;
    let now = now_unix();
    for zone in &zones {
        let c = compile_zone(
            zone.into(),
            &needed,
            keys,
            &rules,
            now,
            now + validity_secs(app),
        );
        overflow_error(&c, zone)?;
    }
    Ok(())
}

fn overflow_error(c: &Compiled, zone: &Zone) -> AppResult<()> {
    if let Some(o) = c.overflows.first() {
        let names: Vec<String> = o.rules.iter().map(|(_, n)| format!("\"{n}\"")).collect();
        return Err(AppError::field(
            "rules",
            format!(
                "key {} would need {} time slots (at most 4) in zone \"{}\": the time \
                 windows of rules {} do not fit together; merge them or give them \
                 different priorities",
                o.uid,
                o.slots,
                zone.name,
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

/// Which zones a change can affect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Zones {
    /// Members, keys, keypads, rules for every zone: every list may change.
    All,
    /// A rule limited to these zones, a zone's own settings.
    Only(BTreeSet<ZoneId>),
}

impl Zones {
    /// The zones a rule reaches: its `zone_ids`, or every zone when empty.
    pub fn of_rule(zone_ids: &[ZoneId]) -> Self {
        if zone_ids.is_empty() {
            Zones::All
        } else {
            Zones::Only(zone_ids.iter().copied().collect())
        }
    }

    pub fn one(zone: ZoneId) -> Self {
        Zones::Only(BTreeSet::from([zone]))
    }

    pub fn contains(&self, zone: ZoneId) -> bool {
        match self {
            Zones::All => true,
            Zones::Only(z) => z.contains(&zone),
        }
    }

    fn add(&mut self, other: &Zones) {
        match (&mut *self, other) {
            (Zones::All, _) => {}
            (_, Zones::All) => *self = Zones::All,
            (Zones::Only(a), Zones::Only(b)) => a.extend(b.iter().copied()),
        }
    }

    pub fn union(mut self, other: &Zones) -> Self {
        self.add(other);
        self
    }
}

#[derive(Default)]
struct Pending {
    changes: u64,
    zones: Option<Zones>,
}

/// Coalesces the builds that committed changes ask for. Every change counts
/// itself *after* its commit, so a build that starts after reading the
/// count sees every change counted so far; callers whose change such a build
/// already covered return without building again. Under a burst (a bulk
/// import) one build serves many changes instead of one build each, and
/// every caller still returns only once a list containing its change exists.
/// A build covers the union of the zones the changes it serves can affect.
#[derive(Default)]
pub struct BuildGate {
    running: tokio::sync::Mutex<()>,
    pending: std::sync::Mutex<Pending>,
    covered: AtomicU64,
    /// The largest profile or schedule count of the lists built here (any
    /// zone): saves check the whole lists only when this nears the limit.
    table_high_water: AtomicU64,
    /// The inputs of the last build, updated from the changed rows.
    inputs: tokio::sync::Mutex<Option<CachedInputs>>,
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
                .fetch_max(u64::from(most), Ordering::Relaxed);
        }
    }

    /// Returns once a list carrying the change exists, with the newest list
    /// version then stored: every zone's newest list carries the change.
    pub async fn build_after_change(&self, app: &App, zones: Zones) -> AppResult<i64> {
        self.build_covering(app, zones).await?;
        let mut conn = app.db.read().await?;
        let version = allowlists::newest_version(&mut conn).await?;
        note_list_version(version);
        Ok(version)
    }

    async fn build_covering(&self, app: &App, zones: Zones) -> AppResult<()> {
        let mine = {
            let mut p = self
                .pending
                .lock()
                .map_err(|_| AppError::Internal("build gate poisoned".into()))?;
            p.changes += 1;
            match &mut p.zones {
                Some(z) => z.add(&zones),
                None => p.zones = Some(zones),
            }
            p.changes
        };
        let _running = self.running.lock().await;
        if self.covered.load(Ordering::SeqCst) >= mine {
            return Ok(());
        }
        let (upto, zones) = {
            let mut p = self
                .pending
                .lock()
                .map_err(|_| AppError::Internal("build gate poisoned".into()))?;
            (p.changes, p.zones.take().unwrap_or(Zones::All))
        };
        if let Err(e) = rebuild_zones(app, &zones, None).await {
            // The next build (or the background refresh) covers these zones.
            if let Ok(mut p) = self.pending.lock() {
                match &mut p.zones {
                    Some(z) => z.add(&zones),
                    None => p.zones = Some(zones),
                }
            }
            return Err(e);
        }
        self.covered.fetch_max(upto, Ordering::SeqCst);
        Ok(())
    }
}

tokio::task_local! {
    /// The list version carrying the changes of the request being served.
    static CARRYING_VERSION: std::cell::Cell<Option<i64>>;
}

/// Runs `f` (an HTTP request) and returns, besides its output, the newest
/// list version after the last build a change of it waited for: the HTTP
/// layer tells the client which version carries its change without every
/// use case returning it.
pub async fn noting_list_version<F: std::future::Future>(f: F) -> (F::Output, Option<i64>) {
    CARRYING_VERSION
        .scope(std::cell::Cell::new(None), async move {
            let out = f.await;
            (out, CARRYING_VERSION.with(std::cell::Cell::get))
        })
        .await
}

fn note_list_version(version: i64) {
    // Outside a request (background tasks, the command line) nobody asks.
    let _ = CARRYING_VERSION.try_with(|v| v.set(Some(version)));
}

/// Builds a new version of every zone's list whose content changed, that
/// outlives a boundary the rules now set, or that nears staleness.
/// Returns the new versions made, by zone.
pub async fn rebuild(app: &App) -> AppResult<Vec<(ZoneId, i64)>> {
    rebuild_zones(app, &Zones::All, None).await
}

/// [`rebuild`] limited to `zones`; `force` makes a new version of that
/// zone even when nothing changed (a door moved in: its list must be newer
/// than anything the door may hold).
///
/// The inputs are read from a snapshot and compiled without holding the
/// writer's lock, so changes keep committing while large lists compile;
/// only encoding, signing and storing happen under the build lock. If
/// another instance stored a version meanwhile (of any zone), the build
/// starts again from a fresh snapshot, so a list never replaces a newer
/// state with an older one.
pub async fn rebuild_zones(
    app: &App,
    zones: &Zones,
    force: Option<ZoneId>,
) -> AppResult<Vec<(ZoneId, i64)>> {
    const ATTEMPTS: usize = 5;
    for _ in 1..ATTEMPTS {
        if let Some(done) = try_rebuild(app, zones, force).await? {
            return Ok(done);
        }
    }
    try_rebuild(app, zones, force).await?.ok_or_else(|| {
        AppError::Unavailable("allow-list builds kept racing other instances".into())
    })
}

/// One zone compiled outside the lock.
struct Fresh {
    zone: Zone,
    compiled: Compiled,
    keypads: Vec<KeypadSpec>,
    hash: AppResult<String>,
}

/// `None`: another instance stored a version since the snapshot.
async fn try_rebuild(
    app: &App,
    zones: &Zones,
    force: Option<ZoneId>,
) -> AppResult<Option<Vec<(ZoneId, i64)>>> {
    let now = now_unix();
    let validity = validity_secs(app);
    let (seen, inputs) = {
        let mut snap = app.db.snapshot().await.map_err(AppError::from)?;
        let seen = allowlists::newest_version(&mut snap).await?;
        let inputs = cached_inputs(app, &mut snap).await?;
        (seen, inputs)
    };
    let wanted: Vec<Zone> = inputs
        .zones
        .iter()
        .filter(|z| zones.contains(z.id))
        .cloned()
        .collect();
    // Compiling 100,000 keys is CPU work for a blocking thread.
    let fresh = tokio::task::spawn_blocking(move || {
        wanted
            .into_iter()
            .map(|zone| {
                let scope = ZoneScope::from(&zone);
                let compiled = compile_inputs(&inputs, scope, now, validity);
                let keypads = zone_keypads(&inputs, scope, &compiled);
                let hash = content_hash(&compiled, &keypads);
                Fresh {
                    zone,
                    compiled,
                    keypads,
                    hash,
                }
            })
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| AppError::Internal(format!("compile task: {e}")))?;

    let mut tx = app.db.begin().await?;
    allowlists::lock_builds(&mut tx, app.db.backend()).await?;
    if allowlists::newest_version(&mut tx).await? != seen {
        return Ok(None);
    }
    let mut made = Vec::new();
    let mut touched = false;
    for f in fresh {
        let forced = force == Some(f.zone.id);
        match build_zone(app, &mut tx, f, now, validity, forced).await? {
            ZoneBuild::Unchanged => {}
            ZoneBuild::Signed => touched = true,
            ZoneBuild::New(zone, version) => made.push((zone, version)),
        }
    }
    if made.is_empty() && !touched {
        return Ok(Some(made));
    }
    tx.commit().await?;
    app.poll_cache.forget_version();
    Ok(Some(made))
}

enum ZoneBuild {
    Unchanged,
    /// An unchanged list built before a switch to online mode was signed.
    Signed,
    New(ZoneId, i64),
}

/// Stores a new version of one zone's list when [`needs_new_version`] (or
/// `force`) says so. Runs under the build lock.
async fn build_zone(
    app: &App,
    tx: &mut AnyConnection,
    fresh: Fresh,
    now: i64,
    validity: i64,
    force: bool,
) -> AppResult<ZoneBuild> {
    let Fresh {
        zone,
        compiled: c,
        keypads,
        hash,
    } = fresh;
    let hash = hash?;
    let valid_until = c
        .next_boundary
        .map_or(now + validity, |b| b.min(now + validity));
    if let Some(latest) = allowlists::latest_head(tx, zone.id).await? {
        let current = Built {
            content_hash: &latest.content_hash,
            valid_until: latest.valid_until,
        };
        let fresh = Built {
            content_hash: &hash,
            valid_until,
        };
        if !force && !needs_new_version(&current, &fresh, now, refresh_secs(app)) {
            // A list built before a switch to online mode gets signed now.
            if !latest.signed {
                if let (Some(o), Some(stored)) =
                    (&app.signing.online, allowlists::latest(tx, zone.id).await?)
                {
                    let signed = ol02::sign(&stored.unsigned_bytes, &o.cert, &o.key)
                        .map_err(|e| AppError::Internal(format!("signing: {e}")))?;
                    allowlists::set_signed(tx, stored.version, &signed, now).await?;
                    return Ok(ZoneBuild::Signed);
                }
            }
            return Ok(ZoneBuild::Unchanged);
        }
    }
    let version = counters::next(tx, "allowlist_version").await?;
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
        tx,
        &StoredList {
            zone_id: zone.id,
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
        tx,
        NewEntry::now(
            event::ALLOWLIST_GENERATED,
            Actor::Server,
            None,
            json!({
                "zone_id": zone.id,
                "zone": zone.name,
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
    allowlists::prune(tx, zone.id, KEEP_VERSIONS).await?;
    tracing::info!(version, entry_count, zone = %zone.name, "allow-list built");
    Ok(ZoneBuild::New(zone.id, version))
}

/// What a door's poll gets.
pub enum DeviceList {
    NotModified(i64),
    List(i64, Vec<u8>),
}

/// The newest signed list of the door's zone, unless the door holds it.
pub async fn for_device(app: &App, zone: ZoneId, current: i64) -> AppResult<DeviceList> {
    if let Some(latest) = app.poll_cache.version(zone) {
        if latest <= current {
            return Ok(DeviceList::NotModified(latest));
        }
    }
    let mut conn = app.db.read().await?;
    let Some(latest) = allowlists::latest_signed_version(&mut conn, zone).await? else {
        return Err(AppError::Unavailable(match app.signing.mode {
            SigningMode::AirGapped => "no signed allow-list has been uploaded yet for this \
                                       door's zone (air-gapped mode): an admin must sign one \
                                       offline and upload it"
                .into(),
            SigningMode::Online => "no allow-list has been built yet".into(),
        }));
    };
    app.poll_cache.remember_version(zone, latest);
    if latest <= current {
        return Ok(DeviceList::NotModified(latest));
    }
    match allowlists::latest_signed(&mut conn, zone).await? {
        Some(StoredList {
            version,
            signed_bytes: Some(bytes),
            ..
        }) => Ok(DeviceList::List(version, bytes)),
        _ => Err(AppError::Internal("signed list vanished".into())),
    }
}

pub struct ZoneStatus {
    pub zone: Zone,
    pub latest: Option<StoredList>,
    pub latest_signed: Option<StoredList>,
}

pub struct Status {
    /// Every zone, `main` first.
    pub zones: Vec<ZoneStatus>,
    pub signer_key_id: Option<u8>,
    pub subkey_expires_at: Option<i64>,
    pub warnings: Vec<String>,
}

pub async fn status(app: &App) -> AppResult<Status> {
    let mut conn = app.db.read().await?;
    let mut out = Vec::new();
    for zone in zones::list(&mut conn).await? {
        let latest = allowlists::latest(&mut conn, zone.id).await?;
        let latest_signed = match &latest {
            Some(l) if l.signed_bytes.is_some() => Some(l.clone()),
            _ => allowlists::latest_signed(&mut conn, zone.id).await?,
        };
        out.push(ZoneStatus {
            zone,
            latest,
            latest_signed,
        });
    }
    let now = now_unix();
    let mut warnings = Vec::new();
    warnings.extend(app.signing.subkey_warning(now));
    let signer_key_id = match &app.signing.online {
        Some(o) => Some(o.cert.key_id),
        None => out
            .iter()
            .filter_map(|z| z.latest_signed.as_ref())
            .filter_map(|l| l.signed_bytes.as_deref())
            .find_map(|b| ol02::parse_signed(b).ok())
            .map(|p| p.certificate.key_id),
    };
    if app.signing.mode == SigningMode::AirGapped {
        for z in &out {
            if let Some(s) = &z.latest_signed {
                if s.valid_until - now < AIRGAPPED_WARNING_SECS {
                    warnings.push(format!(
                        "the signed list doors of zone \"{}\" hold goes stale in {} hours: \
                         sign and upload a new one",
                        z.zone.name,
                        (s.valid_until - now).max(0) / 3600
                    ));
                }
            }
        }
    }
    Ok(Status {
        zones: out,
        signer_key_id,
        subkey_expires_at: app.signing.subkey_expires_at(),
        warnings,
    })
}

async fn existing_zone(conn: &mut AnyConnection, zone: ZoneId) -> AppResult<Zone> {
    zones::get(conn, zone)
        .await?
        .ok_or_else(|| AppError::field("zone_id", "no zone with this id"))
}

/// Air-gapped: the zone's newest built list, to be signed offline.
pub async fn unsigned(app: &App, zone: ZoneId) -> AppResult<(i64, Vec<u8>)> {
    let mut conn = app.db.read().await?;
    existing_zone(&mut conn, zone).await?;
    let latest = allowlists::latest(&mut conn, zone)
        .await?
        .ok_or_else(|| AppError::Unavailable("no allow-list has been built yet".into()))?;
    Ok((latest.version, latest.unsigned_bytes))
}

/// Air-gapped: accepts a signed list only if it verifies against the master
/// key, is the zone's newest built list byte for byte, and is newer than
/// every version served to the zone's doors.
pub async fn upload_signed(
    app: &App,
    actor: &Principal,
    zone: ZoneId,
    bytes: &[u8],
) -> AppResult<i64> {
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
    let zone = existing_zone(&mut tx, zone).await?;
    let served = allowlists::latest_signed_version(&mut tx, zone.id)
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
    let latest = allowlists::latest(&mut tx, zone.id)
        .await?
        .ok_or_else(|| AppError::field("version", "no list has been built"))?;
    if latest.version != version {
        return Err(AppError::field(
            "version",
            format!(
                "version {version} is not the newest built list of zone \"{}\" (version {}); \
                 download the zone's unsigned list again and sign that",
                zone.name, latest.version
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
            json!({ "zone_id": zone.id, "zone": zone.name, "version": version,
                    "size_bytes": bytes.len(), "signer_key_id": key_id }),
        ),
    )
    .await?;
    tx.commit().await?;
    app.poll_cache.forget_version();
    Ok(version)
}

/// Which doors an explanation is for.
#[derive(Clone, Copy, Debug)]
pub enum ExplainAt {
    Zone(ZoneId),
    Device(DeviceId),
    /// Every zone, `main` first.
    Everywhere,
}

pub struct Explanation {
    pub zone: Zone,
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

/// One explanation per zone asked for.
pub async fn explain(
    app: &App,
    uid: Uid,
    at: i64,
    last_shutdown: Option<i64>,
    scope: ExplainAt,
) -> AppResult<Vec<Explanation>> {
    let door_uid =
        ol02::Uid::new(&uid.to_bytes()).map_err(|_| AppError::field("uid", Uid::MESSAGE))?;
    let state = door_state(&door_uid, last_shutdown);
    let at_u = u64::try_from(at).unwrap_or(0);
    let mut conn = app.db.read().await?;
    let wanted = match scope {
        ExplainAt::Zone(z) => Some(existing_zone(&mut conn, z).await?.id),
        ExplainAt::Device(d) => Some(
            devices::get(&mut conn, d)
                .await?
                .ok_or_else(|| AppError::field("device_id", "no device with this id"))?
                .zone_id,
        ),
        ExplainAt::Everywhere => None,
    };
    let inputs = load_inputs(&mut conn).await?;
    let mut held = HashMap::new();
    for z in inputs
        .zones
        .iter()
        .filter(|z| wanted.is_none_or(|w| w == z.id))
    {
        held.insert(z.id, allowlists::latest_signed(&mut conn, z.id).await?);
    }
    drop(conn);

    let validity = validity_secs(app);
    let mut out = Vec::new();
    for zone in inputs
        .zones
        .iter()
        .filter(|z| wanted.is_none_or(|w| w == z.id))
    {
        let held = held.remove(&zone.id).flatten();
        let (decision, in_list) = match &held {
            Some(l) => {
                let list = ol02::List::parse_unsigned(&l.unsigned_bytes)
                    .map_err(|e| AppError::Internal(format!("stored list unreadable: {e}")))?;
                let out = ol02::decide(&list, &door_uid, at_u, &state);
                (Some(out.decision), list.find(&door_uid).is_some())
            }
            None => (None, false),
        };
        let scope = ZoneScope::from(zone);
        let c = compile_inputs_explained(&inputs, scope, at, validity);
        let keypads = zone_keypads(&inputs, scope, &c);
        let valid_until = c
            .next_boundary
            .map_or(at + validity, |b| b.min(at + validity));
        let projected_bytes = encode(&builder(&c, &keypads, 0, at, valid_until))?;
        let projected = ol02::List::parse_unsigned(&projected_bytes)
            .map_err(|e| AppError::Internal(format!("projected list unreadable: {e}")))?;
        let projected_decision = ol02::decide(&projected, &door_uid, at_u, &state).decision;

        let key = c.keys.into_iter().find(|k| k.uid == uid);
        let excluded_because = match &key {
            Some(k) => k.excluded_because.clone(),
            None => Some("no active key is registered with this UID".into()),
        };
        out.push(Explanation {
            zone: zone.clone(),
            uid: uid.clone(),
            at,
            list_version: held.map(|l| l.version),
            in_list,
            key,
            excluded_because,
            decision,
            projected_decision,
        });
    }
    Ok(out)
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
