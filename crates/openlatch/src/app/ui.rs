//! Read models the web UI needs beyond the API's use cases: the dashboard,
//! member search with paging, active overrides, and the preview of a rule
//! change (who gains or loses access), computed with the compiler that
//! builds the allow-list. A door's page and the audit-log page have their
//! own modules.

pub mod audit_log;
pub mod door;

use super::allowlist::{self, Inputs};
use super::monitoring::{check_door, BatteryParams, NagiosState};
use super::{App, AppError, AppResult};
use crate::domain::device::Device;
use crate::domain::member::{Member, Role};
use crate::domain::rule::{OverrideMode, Rule, RuleParams};
use crate::domain::zone::ZoneScope;
use crate::domain::{KeyId, MemberId, RuleId};
use crate::storage::audit::{self, Entry, Filter};
use crate::storage::device_status::{self, Status};
use crate::storage::{allowlists, devices, keys, members, now_unix, rules, zones};
use std::collections::{BTreeMap, HashMap};

/// A door that has not sent a heartbeat for this long is shown offline.
pub const OFFLINE_AFTER_SECS: i64 = 10 * 60;

pub struct DoorRow {
    pub device: Device,
    pub status: Option<Status>,
    pub online: bool,
    pub battery: Option<(NagiosState, String)>,
    /// The newest list of the door's zone.
    pub newest_version: Option<i64>,
    pub zone_name: String,
}

pub struct Dashboard {
    pub doors: Vec<DoorRow>,
    pub overrides: Vec<Rule>,
    pub alerts: Vec<String>,
    pub recent_events: Vec<Entry>,
}

/// Active global overrides that have not ended, lockdown first.
pub fn active_overrides(rules: &[Rule], now: i64) -> Vec<Rule> {
    let mut out: Vec<Rule> = rules
        .iter()
        .filter(|r| r.is_active)
        .filter(|r| match &r.params {
            RuleParams::GlobalOverride(o) => o.until.is_none_or(|u| u.timestamp() > now),
            _ => false,
        })
        .cloned()
        .collect();
    out.sort_by_key(|r| match &r.params {
        RuleParams::GlobalOverride(o) if o.mode == OverrideMode::Lockdown => 0,
        _ => 1,
    });
    out
}

pub async fn dashboard(app: &App) -> AppResult<Dashboard> {
    let now = now_unix();
    let mut conn = app.db.read().await?;
    let statuses: HashMap<_, _> = device_status::list(&mut conn)
        .await?
        .into_iter()
        .map(|s| (s.device_id, s))
        .collect();
    let mut zone_lists = HashMap::new();
    for zone in zones::list(&mut conn).await? {
        let newest = allowlists::latest(&mut conn, zone.id)
            .await?
            .map(|l| l.version);
        zone_lists.insert(zone.id, (zone.name, newest));
    }
    let all_rules = rules::list(&mut conn).await?;
    let recent_events = audit::query(
        &mut conn,
        &Filter {
            limit: 15,
            ..Filter::default()
        },
    )
    .await?;
    let door_list = devices::list(&mut conn).await?;
    drop(conn);

    let mut alerts = Vec::new();
    let mut doors = Vec::new();
    for device in door_list {
        let status = statuses.get(&device.id).cloned();
        let (zone_name, newest_version) =
            zone_lists.get(&device.zone_id).cloned().unwrap_or_default();
        let door = door_row(device, status, zone_name, newest_version, now);
        if door.device.is_enabled {
            if !door.online {
                alerts.push(format!(
                    "Door \"{}\" is silent (no heartbeat)",
                    door.device.name
                ));
            }
            if let Some((NagiosState::Warning | NagiosState::Critical, text)) = &door.battery {
                // The check's text ends in Nagios performance data, for machines.
                let text = text.split(" | ").next().unwrap_or(text);
                alerts.push(format!("Door \"{}\": {text}", door.device.name));
            }
        }
        doors.push(door);
    }
    let overrides = active_overrides(&all_rules, now);
    if overrides.iter().any(
        |r| matches!(&r.params, RuleParams::GlobalOverride(o) if o.mode == OverrideMode::Lockdown),
    ) {
        alerts.push("Lockdown is active: only admins and emergency keys open the doors".into());
    }
    alerts.extend(app.signing.subkey_warning(now));
    alerts.extend(
        recent_events
            .iter()
            .filter(|e| e.event_type.contains("emergency"))
            .map(|e| {
                format!(
                    "Emergency access used at {}",
                    e.created_at.format("%F %R UTC")
                )
            }),
    );
    Ok(Dashboard {
        doors,
        overrides,
        alerts,
        recent_events,
    })
}

/// A door as the dashboard and its own page show it.
fn door_row(
    device: Device,
    status: Option<Status>,
    zone_name: String,
    newest_version: Option<i64>,
    now: i64,
) -> DoorRow {
    let online = status
        .as_ref()
        .is_some_and(|s| now - s.received_at <= OFFLINE_AFTER_SECS);
    let battery = check_door(status.as_ref(), BatteryParams::default(), now);
    DoorRow {
        device,
        status,
        online,
        battery,
        newest_version,
        zone_name,
    }
}

pub struct MemberPage {
    pub members: Vec<Member>,
    pub total: usize,
    pub page: usize,
    pub per_page: usize,
}

/// Members whose username, display name or e-mail contains `query` (any
/// case), ordered by username, one page at a time.
pub async fn search_members(
    app: &App,
    query: &str,
    page: usize,
    per_page: usize,
) -> AppResult<MemberPage> {
    let page = page.max(1);
    let limit = i64::try_from(per_page).unwrap_or(50);
    let offset = i64::try_from(page - 1).unwrap_or(0).saturating_mul(limit);
    let mut conn = app.db.read().await?;
    let (members, total) = members::search(&mut conn, query.trim(), limit, offset).await?;
    Ok(MemberPage {
        members,
        total: usize::try_from(total).unwrap_or(0),
        page,
        per_page,
    })
}

/// One member whose access a rule change alters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessChange {
    /// The zone whose list changes.
    pub zone: String,
    pub member_id: MemberId,
    pub username: String,
    pub key_id: KeyId,
    pub key_label: String,
}

#[derive(Debug, Default)]
pub struct Preview {
    /// Keys that get into the list only with the change.
    pub gains: Vec<AccessChange>,
    /// Keys that drop out of the list with the change.
    pub loses: Vec<AccessChange>,
    /// Keys in both lists whose entry (times, dates, type) differs.
    pub changed: Vec<AccessChange>,
}

/// Compiles the space as it is and as it would be with `after` in place of
/// rule `id` (`None` = the rule removed; `id` `None` = a new rule), and
/// compares the two key by key.
pub async fn preview_rule_change(
    app: &App,
    id: Option<RuleId>,
    after: Option<Rule>,
) -> AppResult<Preview> {
    let mut conn = app.db.read().await?;
    let inputs = allowlist::load_inputs(&mut conn).await?;
    drop(conn);
    let now = now_unix();
    let validity = allowlist::validity_secs(app);
    let mut changed_rules: Vec<Rule> = inputs
        .rules
        .iter()
        .filter(|r| Some(r.id) != id)
        .cloned()
        .collect();
    changed_rules.extend(after);
    let changed_inputs = Inputs {
        rules: changed_rules,
        members: inputs.members.clone(),
        keys: inputs.keys.clone(),
        zones: inputs.zones.clone(),
        enrolled_keypads: inputs.enrolled_keypads.clone(),
        keypads: Vec::new(),
    };
    let names: HashMap<MemberId, &str> = inputs
        .members
        .iter()
        .map(|m| (m.id, m.username.as_str()))
        .collect();
    let labels: HashMap<KeyId, (&str, MemberId)> = inputs
        .keys
        .iter()
        .map(|k| (k.id, (k.label.as_str(), k.member_id)))
        .collect();
    let change = |zone: &str, key_id: KeyId| {
        let (label, member_id) = labels
            .get(&key_id)
            .copied()
            .unwrap_or(("", MemberId(uuid::Uuid::nil())));
        AccessChange {
            zone: zone.to_owned(),
            member_id,
            username: names.get(&member_id).copied().unwrap_or("?").to_owned(),
            key_id,
            key_label: label.to_owned(),
        }
    };
    let entries = |c: &crate::domain::compile::Compiled| {
        c.entries()
            .map(|e| (e.key_id, e.clone()))
            .collect::<BTreeMap<_, _>>()
    };
    // Each zone has its own list: a change shows up per zone it reaches.
    let mut preview = Preview::default();
    for zone in &inputs.zones {
        let scope = ZoneScope {
            id: zone.id,
            default_presence: zone.default_presence,
        };
        let old = entries(&allowlist::compile_inputs(&inputs, scope, now, validity));
        let new = entries(&allowlist::compile_inputs(
            &changed_inputs,
            scope,
            now,
            validity,
        ));
        for (key_id, entry) in &new {
            match old.get(key_id) {
                None => preview.gains.push(change(&zone.name, *key_id)),
                Some(o) if o != entry => preview.changed.push(change(&zone.name, *key_id)),
                Some(_) => {}
            }
        }
        for key_id in old.keys().filter(|k| !new.contains_key(k)) {
            preview.loses.push(change(&zone.name, *key_id));
        }
    }
    for list in [&mut preview.gains, &mut preview.loses, &mut preview.changed] {
        list.sort_by(|a, b| {
            a.username
                .cmp(&b.username)
                .then(a.key_label.cmp(&b.key_label))
                .then(a.zone.cmp(&b.zone))
        });
    }
    Ok(preview)
}

/// Staff only: the UI shows admins everything and keyholders what they may read.
pub fn is_staff(m: &Member) -> bool {
    m.role >= Role::Keyholder
}

/// The member a page is about, for staff or the member themself.
pub async fn member(app: &App, id: MemberId) -> AppResult<Member> {
    let mut conn = app.db.read().await?;
    members::get(&mut conn, id)
        .await?
        .ok_or(AppError::NotFound("member"))
}

/// Display names for members and doors, to label approval requests.
pub struct Names {
    pub members: HashMap<MemberId, String>,
    pub doors: HashMap<crate::domain::DeviceId, String>,
}

impl Names {
    pub fn member(&self, id: MemberId) -> &str {
        self.members
            .get(&id)
            .map_or("unknown member", String::as_str)
    }
    pub fn door(&self, id: crate::domain::DeviceId) -> &str {
        self.doors.get(&id).map_or("unknown door", String::as_str)
    }
}

/// Names of the members and doors `requests` mention (a handful, not the whole space).
pub async fn names(app: &App, requests: &[&super::approvals::ApprovalView]) -> AppResult<Names> {
    let mut conn = app.db.read().await?;
    let mut member_names = HashMap::new();
    for id in requests
        .iter()
        .flat_map(|r| std::iter::once(r.member_id).chain(r.sponsor_id))
    {
        if let std::collections::hash_map::Entry::Vacant(e) = member_names.entry(id) {
            if let Some(m) = members::get(&mut conn, id).await? {
                e.insert(m.display_name);
            }
        }
    }
    let doors = devices::list(&mut conn)
        .await?
        .into_iter()
        .map(|d| (d.id, d.name))
        .collect();
    Ok(Names {
        members: member_names,
        doors,
    })
}

/// What a door would do for a member's keys in one quarter hour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Denied,
    /// A keyholder must approve at the door.
    Approval,
    Granted,
}

/// When a member can enter over the next seven days, in quarter hours,
/// in the space's time zone: decided by the door's own engine (`ol02::decide`) on lists the
/// allow-list compiler builds, so it shows exactly what the doors will do
/// (time windows, date ranges, overrides, DST).
pub struct WeekView {
    pub tz: chrono_tz::Tz,
    /// Local midnight of the first day.
    pub first_day: chrono::NaiveDate,
    /// 7 days x 96 quarter hours.
    pub days: Vec<Vec<Access>>,
}

pub const QUARTERS: usize = 96;

pub async fn week_view(app: &App, member: MemberId) -> AppResult<WeekView> {
    use chrono::TimeZone;
    // A key compiles on its own: the member's keys, the member, and the
    // sponsors that rules name are all this needs (not the whole space).
    let setting = super::settings::time_zone_setting(app).await?;
    let mut conn = app.db.read().await?;
    let rules = rules::list(&mut conn).await?;
    let mut people = Vec::new();
    let sponsors = rules.iter().filter_map(|r| match &r.params {
        RuleParams::GuestSponsor(g) => Some(g.sponsor_id),
        _ => None,
    });
    for id in std::iter::once(member).chain(sponsors) {
        if people.iter().all(|m: &Member| m.id != id) {
            people.extend(members::get(&mut conn, id).await?);
        }
    }
    let member_keys = keys::list_unrevoked_for_member(&mut conn, member).await?;
    drop(conn);
    let inputs = Inputs {
        members: people,
        keys: member_keys,
        rules,
        zones: Vec::new(),
        enrolled_keypads: HashMap::new(),
        keypads: Vec::new(),
    };
    let (tz, _) = super::settings::effective(setting, &inputs.rules);
    let now = now_unix();
    let first_day = chrono::DateTime::from_timestamp(now, 0)
        .unwrap_or_default()
        .with_timezone(&tz)
        .date_naive();
    let uids: Vec<ol02::Uid> = inputs
        .keys
        .iter()
        .filter(|k| k.member_id == member)
        .filter_map(|k| ol02::Uid::new(&k.uid.to_bytes()).ok())
        .collect();
    let validity = allowlist::validity_secs(app);
    let state = ol02::DoorState::new();
    let mut list_bytes: Option<(i64, Vec<u8>)> = None;
    let mut days = Vec::with_capacity(7);
    for d in 0..7 {
        let date = first_day + chrono::Duration::days(d);
        let mut row = Vec::with_capacity(QUARTERS);
        for q in 0..QUARTERS {
            let local = date.and_hms_opt(0, 0, 0).unwrap_or_default()
                + chrono::Duration::minutes(15 * q as i64);
            // A local time skipped by DST has no instant: nobody can enter then.
            let Some(at) = tz
                .from_local_datetime(&local)
                .earliest()
                .map(|t| t.timestamp())
            else {
                row.push(Access::Denied);
                continue;
            };
            // Lists are valid until the next boundary; build a new one past it.
            if list_bytes.as_ref().is_none_or(|(until, _)| at >= *until) {
                let c = allowlist::compile_inputs(&inputs, ZoneScope::MAIN, at, validity);
                let until = c
                    .next_boundary
                    .map_or(at + validity, |b| b.min(at + validity));
                let bytes = allowlist::encode_compiled(&c, &inputs.keypads, 0, at, until)?;
                list_bytes = Some((until, bytes));
            }
            let Some((_, bytes)) = &list_bytes else {
                return Err(AppError::Internal("no list to decide on".into()));
            };
            let list = ol02::List::parse_unsigned(bytes)
                .map_err(|e| AppError::Internal(format!("week view list unreadable: {e}")))?;
            let at_u = u64::try_from(at).unwrap_or(0);
            let mut best = Access::Denied;
            for uid in &uids {
                let access = match ol02::decide(&list, uid, at_u, &state).decision {
                    ol02::Decision::Granted
                    | ol02::Decision::GrantedGrace
                    | ol02::Decision::GrantedEmergency => Access::Granted,
                    ol02::Decision::NeedsApproval => Access::Approval,
                    _ => Access::Denied,
                };
                if access == Access::Granted || best == Access::Denied {
                    best = access;
                }
            }
            row.push(best);
        }
        days.push(row);
    }
    Ok(WeekView {
        tz,
        first_day,
        days,
    })
}
