//! The allow-list compiler: members, keys and rules at one instant in, OL02
//! entries out (system.md 3.3, step by step). Pure: no clock, no I/O.
//!
//! The same code serves the list builder and the explain endpoint, so what
//! an admin is told is exactly what the door gets.

use super::key::{KeyAccessType, NfcKey, Uid};
use super::member::{Member, Role};
use super::rule::{OverrideMode, Rule, RuleParams, Target, TimeWindow, DAY_NAMES};
use super::{KeyId, MemberId, RuleId};
use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc,
};
use chrono_tz::Tz;
use ol02::{AccessType, EntryFlags, Slot, MAX_SLOTS};
use std::collections::{BTreeMap, HashMap};

/// Where one UTC slot came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotSource {
    pub rule_id: RuleId,
    pub rule_name: String,
    /// The local window as written, e.g. `mon,tue 08:00-22:00 Europe/Berlin`.
    pub local: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompiledSlot {
    pub slot: Slot,
    pub sources: Vec<SlotSource>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompiledEntry {
    pub key_id: KeyId,
    pub member_id: MemberId,
    pub uid: Uid,
    pub access_type: AccessType,
    pub role: Role,
    pub flags: EntryFlags,
    pub grace_minutes: u16,
    /// Unix seconds, 0 = no lower bound.
    pub valid_from: i64,
    /// Unix seconds, 0 = no upper bound.
    pub valid_until: i64,
    /// Empty = all day.
    pub slots: Vec<CompiledSlot>,
    pub keypad_id: u16,
    /// The keyholder whose `guest_sponsor` grant lets this guest in: alerted
    /// first and allowed to decide the guest's approval requests. Not in OL02.
    pub sponsor_id: Option<MemberId>,
}

impl CompiledEntry {
    pub fn to_spec(&self) -> Option<ol02::EntrySpec> {
        let uid = ol02::Uid::new(&self.uid.to_bytes()).ok()?;
        Some(ol02::EntrySpec {
            uid,
            access_type: self.access_type,
            role: role_byte(self.role),
            flags: self.flags,
            grace_minutes: self.grace_minutes,
            valid_from: u64::try_from(self.valid_from).unwrap_or(0),
            valid_until: u64::try_from(self.valid_until).unwrap_or(0),
            slots: self.slots.iter().map(|s| s.slot).collect(),
            keypad_id: self.keypad_id,
        })
    }
}

pub fn role_byte(r: Role) -> ol02::Role {
    match r {
        Role::Guest => ol02::Role::Guest,
        Role::Member => ol02::Role::Member,
        Role::Keyholder => ol02::Role::Keyholder,
        Role::Admin => ol02::Role::Admin,
    }
}

/// What a rule did for one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Overridden { by: Option<RuleId> },
    NotTargeted,
    Inactive,
}

impl Outcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Overridden { .. } => "overridden",
            Outcome::NotTargeted => "not_targeted",
            Outcome::Inactive => "inactive",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleOutcome {
    pub rule_id: RuleId,
    pub name: String,
    pub rule_type: &'static str,
    pub outcome: Outcome,
    pub note: Option<String>,
}

/// One key's compilation with its reasons.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyResult {
    pub key_id: KeyId,
    pub uid: Uid,
    pub entry: Option<CompiledEntry>,
    pub excluded_because: Option<String>,
    pub rules: Vec<RuleOutcome>,
}

/// An entry would need more than four slots: the rules that caused it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotOverflow {
    pub uid: Uid,
    pub slots: usize,
    pub rules: Vec<(RuleId, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compiled {
    pub keys: Vec<KeyResult>,
    /// An active lockdown override exists: LOCKDOWN flag, no keypad codes.
    pub lockdown: bool,
    /// The earliest instant after `now`, up to the horizon, at which the
    /// rules say something changes (DST change, override `until`, date
    /// range start/end).
    pub next_boundary: Option<i64>,
    pub overflows: Vec<SlotOverflow>,
}

impl Compiled {
    pub fn entries(&self) -> impl Iterator<Item = &CompiledEntry> {
        self.keys.iter().filter_map(|k| k.entry.as_ref())
    }
}

/// Compiles every key. `horizon` bounds the search for DST changes (the
/// longest validity a list may get). No member has keypad codes here, so
/// every entry carries keypad id 0; see [`compile_with_keypads`].
pub fn compile(
    members: &[Member],
    keys: &[NfcKey],
    rules: &[Rule],
    now: i64,
    horizon: i64,
) -> Compiled {
    compile_with_keypads(members, keys, rules, &HashMap::new(), now, horizon)
}

/// [`compile`] where `enrolled_keypads` names the members with keypad codes
/// enrolled and their keypad ids. Only their entries carry a keypad id, so
/// everyone else with the same access shares one OL02 profile.
pub fn compile_with_keypads(
    members: &[Member],
    keys: &[NfcKey],
    rules: &[Rule],
    enrolled_keypads: &HashMap<MemberId, u16>,
    now: i64,
    horizon: i64,
) -> Compiled {
    compile_inner(members, keys, rules, enrolled_keypads, now, horizon, true)
}

/// [`compile_with_keypads`] for a list build: the same entries, without
/// the per-rule outcomes that only an explanation shows (at 100,000 keys
/// and a hundred rules those were ten million records per build).
pub fn compile_entries(
    members: &[Member],
    keys: &[NfcKey],
    rules: &[Rule],
    enrolled_keypads: &HashMap<MemberId, u16>,
    now: i64,
    horizon: i64,
) -> Compiled {
    compile_inner(members, keys, rules, enrolled_keypads, now, horizon, false)
}

fn compile_inner(
    members: &[Member],
    keys: &[NfcKey],
    rules: &[Rule],
    enrolled_keypads: &HashMap<MemberId, u16>,
    now: i64,
    horizon: i64,
    explain: bool,
) -> Compiled {
    let by_id: HashMap<MemberId, &Member> = members.iter().map(|m| (m.id, m)).collect();
    let mut ordered: Vec<&Rule> = rules.iter().collect();
    // Higher priority first; on a tie the older rule wins.
    ordered.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.seq.cmp(&b.seq)));
    // Which rules can target a key: those for everyone or a role (checked
    // for every key), and those naming members or keys (looked up).
    let mut broad = Vec::new();
    let mut by_member: HashMap<MemberId, Vec<usize>> = HashMap::new();
    let mut by_key: HashMap<KeyId, Vec<usize>> = HashMap::new();
    for (i, r) in ordered.iter().enumerate() {
        if r.targets.is_empty() || r.targets.iter().any(|t| matches!(t, Target::Role(_))) {
            broad.push(i);
            continue;
        }
        for t in &r.targets {
            match t {
                Target::Member(m) => by_member.entry(*m).or_default().push(i),
                Target::Key(k) => by_key.entry(*k).or_default().push(i),
                Target::Role(_) => {}
            }
        }
    }
    let mut ctx = Ctx {
        broad,
        by_member,
        by_key,
        explain,
        now,
        horizon,
        members: by_id,
        rules: ordered,
        dst: HashMap::new(),
        window_slots: HashMap::new(),
        keypads: enrolled_keypads,
    };
    let mut out = Vec::with_capacity(keys.len());
    let mut overflows = Vec::new();
    for key in keys {
        let r = ctx.compile_key(key);
        if let Some(e) = &r.entry {
            if e.slots.len() > MAX_SLOTS {
                let mut names: Vec<(RuleId, String)> = Vec::new();
                for s in e.slots.iter().flat_map(|s| &s.sources) {
                    if !names.iter().any(|(id, _)| *id == s.rule_id) {
                        names.push((s.rule_id, s.rule_name.clone()));
                    }
                }
                overflows.push(SlotOverflow {
                    uid: e.uid.clone(),
                    slots: e.slots.len(),
                    rules: names,
                });
            }
        }
        out.push(r);
    }
    let lockdown = ctx.rules.iter().any(|r| {
        matches!(&r.params, RuleParams::GlobalOverride(o) if o.mode == OverrideMode::Lockdown)
            && ctx.in_force(r)
    });
    let next_boundary = ctx.next_boundary();
    Compiled {
        keys: out,
        lockdown,
        next_boundary,
        overflows,
    }
}

struct Ctx<'a> {
    /// Indices into `rules` of rules for everyone or for a role.
    broad: Vec<usize>,
    by_member: HashMap<MemberId, Vec<usize>>,
    by_key: HashMap<KeyId, Vec<usize>>,
    /// Record every rule's outcome per key (for explanations).
    explain: bool,
    now: i64,
    horizon: i64,
    members: HashMap<MemberId, &'a Member>,
    rules: Vec<&'a Rule>,
    /// Next offset change per timezone name.
    dst: HashMap<&'static str, Option<i64>>,
    /// UTC slots per time-window rule: the same for every key at `now`, and
    /// the costliest step, so computed once per build, not once per key.
    window_slots: HashMap<RuleId, (Vec<Slot>, String)>,
    keypads: &'a HashMap<MemberId, u16>,
}

enum Presence<'a> {
    Add(&'a Rule),
    Remove(&'a Rule),
}

impl<'a> Ctx<'a> {
    /// Active and, for an override, not yet past its `until`.
    fn in_force(&self, r: &Rule) -> bool {
        if !r.is_active {
            return false;
        }
        match &r.params {
            RuleParams::GlobalOverride(o) => o.until.is_none_or(|u| u.timestamp() > self.now),
            _ => true,
        }
    }

    fn next_dst(&mut self, tz: Tz) -> Option<i64> {
        // At least a week ahead: every weekday's window must be converted
        // with the offset of the current period, even when the list itself
        // lives only a day (else days past a change split into more slots).
        let (now, horizon) = (self.now, self.horizon.max(self.now + 8 * 86_400));
        *self
            .dst
            .entry(tz.name())
            .or_insert_with(|| next_offset_change(tz, now, horizon))
    }

    fn next_boundary(&mut self) -> Option<i64> {
        let now = self.now;
        let mut points: Vec<i64> = Vec::new();
        let mut zones: Vec<Tz> = Vec::new();
        for r in self.rules.iter().filter(|r| r.is_active) {
            match &r.params {
                RuleParams::TimeWindow(w) => zones.push(w.timezone),
                RuleParams::DateRange(d) => {
                    points.push(d.start.timestamp());
                    points.push(d.end.timestamp());
                    points.push(d.end.timestamp() + i64::from(d.grace_minutes) * 60);
                }
                RuleParams::GuestSponsor(g) => {
                    points.extend(g.start.map(|t| t.timestamp()));
                    if let Some(e) = g.end {
                        points.push(e.timestamp());
                        points.push(e.timestamp() + i64::from(g.grace_minutes.unwrap_or(0)) * 60);
                    }
                }
                RuleParams::GlobalOverride(o) => points.extend(o.until.map(|t| t.timestamp())),
                RuleParams::RoleMinimum(_) => {}
            }
        }
        for tz in zones {
            points.extend(self.next_dst(tz));
        }
        let horizon = self.horizon;
        points
            .into_iter()
            .filter(|&p| p > now && p <= horizon)
            .min()
    }

    fn outcomes_for(&self, key: &NfcKey, member: Option<&Member>) -> Vec<RuleOutcome> {
        self.rules
            .iter()
            .map(|r| RuleOutcome {
                rule_id: r.id,
                name: r.name.clone(),
                rule_type: r.params.rule_type().as_str(),
                outcome: if !self.in_force(r) {
                    Outcome::Inactive
                } else if member.is_some_and(|m| targets(r, key, m)) {
                    Outcome::Applied
                } else {
                    Outcome::NotTargeted
                },
                note: (r.is_active && !self.in_force(r)).then(|| "override has ended".to_owned()),
            })
            .collect()
    }

    /// The rules that may target `key`, in priority order.
    fn candidates(&self, key: &NfcKey, member: &Member) -> Vec<&'a Rule> {
        let mut c = self.broad.clone();
        if let Some(v) = self.by_member.get(&member.id) {
            c.extend(v);
        }
        if let Some(v) = self.by_key.get(&key.id) {
            c.extend(v);
        }
        c.sort_unstable();
        c.dedup();
        c.into_iter().map(|i| self.rules[i]).collect()
    }

    fn compile_key(&mut self, key: &NfcKey) -> KeyResult {
        let member = self.members.get(&key.member_id).copied();
        let mut rules = if self.explain {
            self.outcomes_for(key, member)
        } else {
            Vec::new()
        };
        let result = |entry: Option<CompiledEntry>, why: Option<String>, rules| KeyResult {
            key_id: key.id,
            uid: key.uid.clone(),
            entry,
            excluded_because: why,
            rules,
        };
        // Step 1: revoked, expired, or member gone.
        let now = self.now;
        let why = if key.revoked_at.is_some() {
            Some("the key is revoked".to_owned())
        } else if key.expires_at.is_some_and(|e| e.timestamp() <= now) {
            Some("the key has expired".to_owned())
        } else if !member.is_some_and(|m| m.is_active) {
            Some("the key's member is deactivated".to_owned())
        } else {
            None
        };
        let Some(member) = member.filter(|_| why.is_none()) else {
            return result(None, why, rules);
        };
        let matching: Vec<&'a Rule> = self
            .candidates(key, member)
            .into_iter()
            .filter(|r| self.in_force(r) && targets(r, key, member))
            .collect();
        let expires = key.expires_at.map_or(0, |t| t.timestamp());
        let base = CompiledEntry {
            key_id: key.id,
            member_id: member.id,
            uid: key.uid.clone(),
            access_type: AccessType::Unrestricted,
            role: member.role,
            flags: EntryFlags::NONE,
            grace_minutes: 0,
            valid_from: 0,
            valid_until: expires,
            slots: Vec::new(),
            keypad_id: self.keypads.get(&member.id).copied().unwrap_or(0),
            sponsor_id: None,
        };
        let emergency = key.access_type == Some(KeyAccessType::Emergency);
        let emergency_entry = || CompiledEntry {
            access_type: AccessType::Emergency,
            flags: EntryFlags::NOTIFY_ON_USE,
            ..base.clone()
        };

        // Step 2: overrides. Lockdown decides alone, whatever the priorities.
        let find_override = |mode: OverrideMode| {
            matching
                .iter()
                .copied()
                .find(|r| matches!(&r.params, RuleParams::GlobalOverride(o) if o.mode == mode))
        };
        if let Some(l) = find_override(OverrideMode::Lockdown) {
            overridden_except(&mut rules, &matching, l.id);
            let entry = if emergency {
                Some(emergency_entry())
            } else if member.role == Role::Admin {
                Some(CompiledEntry {
                    valid_until: 0,
                    ..base.clone()
                })
            } else {
                None
            };
            let why = entry
                .is_none()
                .then(|| format!("lockdown by rule \"{}\"", l.name));
            return result(entry, why, rules);
        }
        if let Some(o) = find_override(OverrideMode::Open) {
            overridden_except(&mut rules, &matching, o.id);
            if emergency {
                return result(Some(emergency_entry()), None, rules);
            }
            let until = match &o.params {
                RuleParams::GlobalOverride(g) => g.until.map_or(0, |u| u.timestamp()),
                _ => 0,
            };
            // The key's own expiry still bounds it.
            let until = match (until, expires) {
                (0, e) | (e, 0) => e,
                (u, e) => u.min(e),
            };
            let access_type = if until == 0 {
                AccessType::Unrestricted
            } else {
                AccessType::Scheduled
            };
            let entry = CompiledEntry {
                access_type,
                valid_until: until,
                ..base.clone()
            };
            return result(Some(entry), None, rules);
        }

        // Step 3: an emergency key is emergency whatever the rules say.
        if emergency {
            for o in rules.iter_mut().filter(|o| o.outcome == Outcome::Applied) {
                o.outcome = Outcome::Overridden { by: None };
                o.note = Some("the key is an emergency key".into());
            }
            return result(Some(emergency_entry()), None, rules);
        }

        // Step 4: presence.
        let is_guest = member.role == Role::Guest;
        let mut presence: Vec<Presence<'a>> = Vec::new();
        for r in &matching {
            match &r.params {
                RuleParams::RoleMinimum(min) if member.role < *min => {
                    presence.push(Presence::Remove(r))
                }
                RuleParams::DateRange(d) if is_guest => {
                    if d.end.timestamp() + i64::from(d.grace_minutes) * 60 > now {
                        presence.push(Presence::Add(r));
                    } else {
                        note(
                            &mut rules,
                            r.id,
                            Outcome::Inactive,
                            "the date range has ended",
                        );
                    }
                }
                RuleParams::GuestSponsor(g) if is_guest => {
                    let sponsor_ok = self
                        .members
                        .get(&g.sponsor_id)
                        .is_some_and(|s| s.is_active && s.role >= Role::Keyholder);
                    let ended = g.end.is_some_and(|e| {
                        e.timestamp() + i64::from(g.grace_minutes.unwrap_or(0)) * 60 <= now
                    });
                    if !sponsor_ok {
                        note(
                            &mut rules,
                            r.id,
                            Outcome::Inactive,
                            "the sponsor is inactive or below keyholder",
                        );
                    } else if ended {
                        note(&mut rules, r.id, Outcome::Inactive, "the grant has ended");
                    } else {
                        presence.push(Presence::Add(r));
                    }
                }
                _ => {}
            }
        }
        let mut grant: Option<&'a Rule> = None;
        let present = match presence.first() {
            None => !is_guest,
            Some(Presence::Remove(r)) => {
                for p in &presence[1..] {
                    let id = match p {
                        Presence::Add(x) | Presence::Remove(x) => x.id,
                    };
                    note(&mut rules, id, Outcome::Overridden { by: Some(r.id) }, "");
                }
                let why = format!(
                    "the member's role is below the minimum of rule \"{}\"",
                    r.name
                );
                return result(None, Some(why), rules);
            }
            Some(Presence::Add(top)) => {
                // Among grants at the winning priority: the current one, else the next.
                let same: Vec<&'a Rule> = presence
                    .iter()
                    .filter_map(|p| match p {
                        Presence::Add(r) if r.priority == top.priority => Some(*r),
                        _ => None,
                    })
                    .collect();
                let current = same.iter().copied().find(|r| grant_start(r) <= now);
                let chosen =
                    current.or_else(|| same.iter().copied().min_by_key(|r| grant_start(r)));
                grant = chosen;
                for p in &presence {
                    let id = match p {
                        Presence::Add(x) | Presence::Remove(x) => x.id,
                    };
                    if Some(id) != chosen.map(|c| c.id) {
                        note(
                            &mut rules,
                            id,
                            Outcome::Overridden {
                                by: chosen.map(|c| c.id),
                            },
                            "",
                        );
                    }
                }
                true
            }
        };
        if !present {
            return result(
                None,
                Some("a guest needs a current date range or a sponsor".into()),
                rules,
            );
        }

        // Step 5: schedule, the union at the highest priority with any window.
        let windows: Vec<&'a Rule> = matching
            .iter()
            .copied()
            .filter(|r| matches!(r.params, RuleParams::TimeWindow(_)))
            .collect();
        let mut slots: Vec<CompiledSlot> = Vec::new();
        if let Some(top) = windows.first() {
            for w in &windows {
                if w.priority != top.priority {
                    note(
                        &mut rules,
                        w.id,
                        Outcome::Overridden { by: Some(top.id) },
                        "",
                    );
                    continue;
                }
                if let RuleParams::TimeWindow(tw) = &w.params {
                    let (utc, local) = match self.window_slots.get(&w.id) {
                        Some(s) => s.clone(),
                        None => {
                            let next = self.next_dst(tw.timezone);
                            let s = (window_slots(tw, now, next), describe_window(tw));
                            self.window_slots.insert(w.id, s.clone());
                            s
                        }
                    };
                    for slot in utc {
                        let src = SlotSource {
                            rule_id: w.id,
                            rule_name: w.name.clone(),
                            local: local.clone(),
                        };
                        add_slot(&mut slots, slot, src);
                    }
                }
            }
            merge_days(&mut slots);
        }

        // Step 6: validity, the intersection of every bound.
        let mut from = 0i64;
        let mut until = expires;
        let mut bound = |f: Option<i64>, u: Option<i64>| {
            if let Some(f) = f {
                from = from.max(f);
            }
            if let Some(u) = u {
                until = if until == 0 { u } else { until.min(u) };
            }
        };
        if is_guest {
            match grant.map(|g| &g.params) {
                Some(RuleParams::DateRange(d)) => {
                    bound(Some(d.start.timestamp()), Some(d.end.timestamp()))
                }
                Some(RuleParams::GuestSponsor(g)) => {
                    bound(g.start.map(|t| t.timestamp()), g.end.map(|t| t.timestamp()))
                }
                _ => {}
            }
        } else {
            for r in &matching {
                if let RuleParams::DateRange(d) = &r.params {
                    bound(Some(d.start.timestamp()), Some(d.end.timestamp()));
                }
            }
        }
        if from != 0 && until != 0 && from >= until {
            return result(
                None,
                Some("its validity ranges do not overlap".into()),
                rules,
            );
        }

        // Step 7: grace and approval.
        let grace = matching
            .iter()
            .filter(|r| match &r.params {
                RuleParams::DateRange(_) => !is_guest || grant.is_some_and(|g| g.id == r.id),
                RuleParams::GuestSponsor(_) => grant.is_some_and(|g| g.id == r.id),
                _ => false,
            })
            .find_map(|r| match &r.params {
                RuleParams::DateRange(d) => Some(d.grace_minutes),
                RuleParams::GuestSponsor(g) => g.grace_minutes,
                _ => None,
            })
            .unwrap_or(0);
        let approval = matches!(grant.map(|g| &g.params),
            Some(RuleParams::GuestSponsor(g)) if g.requires_approval);
        let sponsor_id = match grant.map(|g| &g.params) {
            Some(RuleParams::GuestSponsor(g)) => Some(g.sponsor_id),
            _ => None,
        };

        // Step 8: type.
        let access_type = if approval || key.access_type == Some(KeyAccessType::Conditional) {
            AccessType::Conditional
        } else if is_guest || !slots.is_empty() || from != 0 || until != 0 {
            AccessType::Scheduled
        } else {
            AccessType::Unrestricted
        };
        let flags = if grace > 0 {
            EntryFlags::NOTIFY_ON_ANOMALY
        } else {
            EntryFlags::NONE
        };
        let entry = CompiledEntry {
            access_type,
            flags,
            grace_minutes: grace,
            valid_from: from,
            valid_until: until,
            slots,
            sponsor_id,
            ..base
        };
        result(Some(entry), None, rules)
    }
}

fn grant_start(r: &Rule) -> i64 {
    match &r.params {
        RuleParams::DateRange(d) => d.start.timestamp(),
        RuleParams::GuestSponsor(g) => g.start.map_or(i64::MIN, |t| t.timestamp()),
        _ => i64::MIN,
    }
}

fn note(rules: &mut [RuleOutcome], id: RuleId, outcome: Outcome, text: &str) {
    if let Some(o) = rules.iter_mut().find(|o| o.rule_id == id) {
        o.outcome = outcome;
        o.note = (!text.is_empty()).then(|| text.to_owned());
    }
}

fn overridden_except(rules: &mut [RuleOutcome], matching: &[&Rule], winner: RuleId) {
    for r in matching.iter().filter(|r| r.id != winner) {
        note(rules, r.id, Outcome::Overridden { by: Some(winner) }, "");
    }
}

/// Targets are OR-ed; none means every key.
pub fn targets(r: &Rule, key: &NfcKey, member: &Member) -> bool {
    r.targets.is_empty()
        || r.targets.iter().any(|t| match t {
            Target::Role(role) => member.role == *role,
            Target::Member(id) => member.id == *id,
            Target::Key(id) => key.id == *id,
        })
}

fn describe_window(w: &TimeWindow) -> String {
    let days: Vec<&str> = (0..7)
        .filter(|d| w.days & (1 << d) != 0)
        .map(|d| DAY_NAMES[d])
        .collect();
    let hm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
    format!(
        "{} {}-{} {}",
        days.join(","),
        hm(w.start_minute),
        hm(w.end_minute),
        w.timezone.name()
    )
}

fn add_slot(slots: &mut Vec<CompiledSlot>, slot: Slot, src: SlotSource) {
    if let Some(s) = slots.iter_mut().find(|s| s.slot == slot) {
        if !s.sources.contains(&src) {
            s.sources.push(src);
        }
    } else {
        slots.push(CompiledSlot {
            slot,
            sources: vec![src],
        });
    }
}

/// Slots with the same minutes share one day mask; a slot covering every
/// minute of every day means "all day" (no slots).
fn merge_days(slots: &mut Vec<CompiledSlot>) {
    let mut by_time: BTreeMap<(u16, u16), CompiledSlot> = BTreeMap::new();
    for s in slots.drain(..) {
        let k = (s.slot.start_minute, s.slot.end_minute);
        match by_time.get_mut(&k) {
            Some(m) => {
                m.slot.days |= s.slot.days;
                for src in s.sources {
                    if !m.sources.contains(&src) {
                        m.sources.push(src);
                    }
                }
            }
            None => {
                by_time.insert(k, s);
            }
        }
    }
    let all: Vec<CompiledSlot> = by_time.into_values().collect();
    if all.iter().any(|s| {
        s.slot.days == Slot::ALL_DAYS && s.slot.start_minute == 0 && s.slot.end_minute == 1440
    }) {
        return;
    }
    *slots = all;
}

/// A local time as UTC: a time that does not exist (spring forward) moves
/// to the next valid minute. A repeated time (fall back) is taken at its
/// later occurrence for a window's start and its earlier one for its end,
/// so a window covers the repeated hour once.
fn resolve(tz: Tz, local: NaiveDateTime, later: bool) -> Option<DateTime<Utc>> {
    let mut t = local;
    for _ in 0..=24 * 60 {
        match tz.from_local_datetime(&t) {
            LocalResult::Single(x) => return Some(x.with_timezone(&Utc)),
            LocalResult::Ambiguous(a, b) => {
                return Some(if later { b } else { a }.with_timezone(&Utc))
            }
            LocalResult::None => t += Duration::minutes(1),
        }
    }
    None
}

fn occurrence(w: &TimeWindow, date: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let midnight = date.and_hms_opt(0, 0, 0)?;
    let start = midnight + Duration::minutes(i64::from(w.start_minute));
    let end_day = if w.end_minute <= w.start_minute {
        midnight + Duration::days(1)
    } else {
        midnight
    };
    let end = end_day + Duration::minutes(i64::from(w.end_minute));
    Some((
        resolve(w.timezone, start, true)?,
        resolve(w.timezone, end, false)?,
    ))
}

/// The UTC slots of a local weekly window for the offset period that
/// contains `now` (lists are capped at the next offset change, `next_change`).
pub fn window_slots(w: &TimeWindow, now: i64, next_change: Option<i64>) -> Vec<Slot> {
    let Some(now_utc) = DateTime::<Utc>::from_timestamp(now, 0) else {
        return Vec::new();
    };
    let today = now_utc.with_timezone(&w.timezone).date_naive();
    let mut out = Vec::new();
    for d in 0..7u32 {
        if w.days & (1 << d) == 0 {
            continue;
        }
        // The next occurrence that is not over yet, unless it starts after the
        // offset changes: then the one a week earlier, in this period.
        let pick = (-1..=7)
            .filter_map(|k| today.checked_add_signed(Duration::days(k)))
            .filter(|date| date.weekday().num_days_from_monday() == d)
            .filter_map(|date| occurrence(w, date).map(|o| (date, o)))
            .find(|(_, (_, e))| e.timestamp() > now);
        let Some((date, (mut s, mut e))) = pick else {
            continue;
        };
        if next_change.is_some_and(|c| s.timestamp() >= c) {
            if let Some(o) = date
                .checked_sub_signed(Duration::days(7))
                .and_then(|p| occurrence(w, p))
            {
                (s, e) = o;
            }
        }
        let dur = (e - s).num_minutes();
        if dur <= 0 {
            continue; // the whole window fell into a skipped hour
        }
        let weekday = s.weekday().num_days_from_monday();
        let sm = (s.timestamp().rem_euclid(86_400) / 60) as u16;
        // A slot cannot span a full day unless it starts at midnight; a 24 h
        // (or 25 h) window loses its last minute(s).
        let dur = if sm == 0 {
            dur.min(1440)
        } else {
            dur.min(1439)
        } as u16;
        let em = if sm + dur == 1440 {
            1440
        } else {
            (sm + dur) % 1440
        };
        if let Ok(slot) = Slot::new(1 << weekday, sm, em) {
            out.push(slot);
        }
    }
    out
}

fn offset_at(tz: Tz, t: i64) -> i32 {
    match DateTime::<Utc>::from_timestamp(t, 0) {
        Some(u) => tz
            .offset_from_utc_datetime(&u.naive_utc())
            .fix()
            .local_minus_utc(),
        None => 0,
    }
}

/// The first second after `from` (and no later than `until`) at which the
/// UTC offset of `tz` changes.
pub fn next_offset_change(tz: Tz, from: i64, until: i64) -> Option<i64> {
    let base = offset_at(tz, from);
    let mut lo = from;
    let mut t = from;
    while t < until {
        let next = (t + 3600).min(until);
        if offset_at(tz, next) != base {
            let mut hi = next;
            // Binary search for the first second with the new offset.
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if offset_at(tz, mid) == base {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            return Some(hi);
        }
        lo = next;
        t = next;
    }
    None
}

#[cfg(test)]
#[path = "compile_tests.rs"]
mod tests;
