//! Access rules: one typed parameter value per `rule_type` (system.md 3.3).
//!
//! Parameters arrive as free JSON; they are parsed here once into
//! [`RuleParams`], so the compiler never sees a missing hour or an unknown
//! timezone. Errors name the field as `parameters.<name>`.

use super::member::Role;
use super::validation::{FieldErrors, Validation};
use super::{KeyId, MemberId, RuleId, ZoneId};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{json, Map, Value};

/// Weekday bit as in OL02: bit 0 = Monday .. bit 6 = Sunday.
pub const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RuleType {
    TimeWindow,
    DateRange,
    GuestSponsor,
    RoleMinimum,
    GlobalOverride,
    Grant,
}

impl RuleType {
    pub const ALL: [RuleType; 6] = [
        RuleType::TimeWindow,
        RuleType::DateRange,
        RuleType::GuestSponsor,
        RuleType::RoleMinimum,
        RuleType::GlobalOverride,
        RuleType::Grant,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RuleType::TimeWindow => "time_window",
            RuleType::DateRange => "date_range",
            RuleType::GuestSponsor => "guest_sponsor",
            RuleType::RoleMinimum => "role_minimum",
            RuleType::GlobalOverride => "global_override",
            RuleType::Grant => "grant",
        }
    }

    pub fn parse(s: &str) -> Result<Self, &'static str> {
        Self::ALL.into_iter().find(|t| t.as_str() == s).ok_or(
            "must be one of time_window, date_range, guest_sponsor, role_minimum, global_override, \
             grant",
        )
    }
}

/// A local weekly window: `days` is a mask of the days the window starts.
#[derive(Clone, Debug, PartialEq)]
pub struct TimeWindow {
    pub days: u8,
    pub start_minute: u16,
    /// 1..=1440; below `start_minute` means overnight.
    pub end_minute: u16,
    pub timezone: Tz,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DateRange {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub grace_minutes: u16,
}

#[derive(Clone, Debug, PartialEq)]
pub struct GuestSponsor {
    pub sponsor_id: MemberId,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub requires_approval: bool,
    pub grace_minutes: Option<u16>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OverrideMode {
    Lockdown,
    Open,
}

#[derive(Clone, Debug, PartialEq)]
pub struct GlobalOverride {
    pub mode: OverrideMode,
    pub until: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum RuleParams {
    TimeWindow(TimeWindow),
    DateRange(DateRange),
    GuestSponsor(GuestSponsor),
    RoleMinimum(Role),
    GlobalOverride(GlobalOverride),
    /// Presence for the targets in the rule's zones (what a `granted` zone needs).
    Grant,
}

impl RuleParams {
    pub fn rule_type(&self) -> RuleType {
        match self {
            RuleParams::TimeWindow(_) => RuleType::TimeWindow,
            RuleParams::DateRange(_) => RuleType::DateRange,
            RuleParams::GuestSponsor(_) => RuleType::GuestSponsor,
            RuleParams::RoleMinimum(_) => RuleType::RoleMinimum,
            RuleParams::GlobalOverride(_) => RuleType::GlobalOverride,
            RuleParams::Grant => RuleType::Grant,
        }
    }

    /// Parses `parameters` for `rule_type`; every problem is reported under
    /// `parameters.<field>`.
    pub fn parse(rule_type: RuleType, raw: &Value) -> Result<Self, FieldErrors> {
        let mut v = Validation::default();
        let Some(obj) = raw.as_object() else {
            v.fail("parameters", "must be an object");
            return Err(v.into_errors());
        };
        let p = Params { obj, v: &mut v };
        let parsed = match rule_type {
            RuleType::TimeWindow => parse_time_window(p).map(RuleParams::TimeWindow),
            RuleType::DateRange => parse_date_range(p).map(RuleParams::DateRange),
            RuleType::GuestSponsor => parse_guest_sponsor(p).map(RuleParams::GuestSponsor),
            RuleType::RoleMinimum => parse_role_minimum(p).map(RuleParams::RoleMinimum),
            RuleType::GlobalOverride => parse_override(p).map(RuleParams::GlobalOverride),
            RuleType::Grant => {
                let mut p = p;
                p.only(&[]);
                Some(RuleParams::Grant)
            }
        };
        match parsed {
            Some(p) if v.is_ok() => Ok(p),
            _ => {
                let mut errors = v.into_errors();
                if errors.is_empty() {
                    errors.insert("parameters".into(), "is invalid".into());
                }
                Err(errors)
            }
        }
    }

    /// The canonical JSON form shown by the API and stored.
    pub fn to_json(&self) -> Value {
        let rfc = |t: &DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        match self {
            RuleParams::TimeWindow(w) => {
                let days: Vec<&str> = (0..7)
                    .filter(|d| w.days & (1 << d) != 0)
                    .map(|d| DAY_NAMES[d])
                    .collect();
                json!({
                    "days": days,
                    "start_hour": w.start_minute / 60, "start_minute": w.start_minute % 60,
                    "end_hour": w.end_minute / 60, "end_minute": w.end_minute % 60,
                    "timezone": w.timezone.name(),
                })
            }
            RuleParams::DateRange(d) => json!({
                "start_date": rfc(&d.start), "end_date": rfc(&d.end), "grace_minutes": d.grace_minutes,
            }),
            RuleParams::GuestSponsor(g) => {
                let mut m = Map::new();
                m.insert("sponsor_id".into(), json!(g.sponsor_id));
                if let Some(s) = &g.start {
                    m.insert("start_date".into(), json!(rfc(s)));
                }
                if let Some(e) = &g.end {
                    m.insert("end_date".into(), json!(rfc(e)));
                }
                m.insert("requires_approval".into(), json!(g.requires_approval));
                if let Some(gr) = g.grace_minutes {
                    m.insert("grace_minutes".into(), json!(gr));
                }
                Value::Object(m)
            }
            RuleParams::RoleMinimum(r) => json!({ "min_role": r.as_str() }),
            RuleParams::GlobalOverride(o) => {
                let mode = match o.mode {
                    OverrideMode::Lockdown => "lockdown",
                    OverrideMode::Open => "open",
                };
                match &o.until {
                    Some(u) => json!({ "mode": mode, "until": rfc(u) }),
                    None => json!({ "mode": mode }),
                }
            }
            RuleParams::Grant => json!({}),
        }
    }
}

struct Params<'a> {
    obj: &'a Map<String, Value>,
    v: &'a mut Validation,
}

impl Params<'_> {
    fn only(&mut self, known: &[&str]) {
        for k in self.obj.keys() {
            if !known.contains(&k.as_str()) {
                self.v
                    .fail(&format!("parameters.{k}"), "is not a known parameter");
            }
        }
    }

    fn name(field: &str) -> String {
        format!("parameters.{field}")
    }

    fn int(&mut self, field: &str, range: std::ops::RangeInclusive<i64>) -> Option<i64> {
        match self.obj.get(field) {
            None | Some(Value::Null) => {
                self.v.fail(&Self::name(field), "is required");
                None
            }
            Some(x) => match x.as_i64().filter(|n| range.contains(n)) {
                Some(n) => Some(n),
                None => {
                    self.v.fail(
                        &Self::name(field),
                        format!(
                            "must be an integer from {} to {}",
                            range.start(),
                            range.end()
                        ),
                    );
                    None
                }
            },
        }
    }

    fn opt_time(&mut self, field: &str) -> Option<Option<DateTime<Utc>>> {
        match self.obj.get(field) {
            None | Some(Value::Null) => Some(None),
            Some(x) => {
                let parsed = x.as_str().and_then(|s| super::parse_time(s).ok());
                if parsed.is_none() {
                    self.v.fail(&Self::name(field), super::TIME_RANGE_MESSAGE);
                    return None;
                }
                Some(parsed)
            }
        }
    }

    fn time(&mut self, field: &str) -> Option<DateTime<Utc>> {
        match self.opt_time(field) {
            Some(Some(t)) => Some(t),
            Some(None) => {
                self.v.fail(&Self::name(field), "is required");
                None
            }
            None => None,
        }
    }

    fn string(&mut self, field: &str) -> Option<&str> {
        match self.obj.get(field) {
            Some(Value::String(s)) => Some(s.as_str()),
            None | Some(Value::Null) => {
                self.v.fail(&Self::name(field), "is required");
                None
            }
            Some(_) => {
                self.v.fail(&Self::name(field), "must be a string");
                None
            }
        }
    }
}

fn parse_time_window(mut p: Params<'_>) -> Option<TimeWindow> {
    p.only(&[
        "days",
        "start_hour",
        "start_minute",
        "end_hour",
        "end_minute",
        "timezone",
    ]);
    let days = match p.obj.get("days") {
        Some(Value::Array(items)) if !items.is_empty() => {
            let mut mask = 0u8;
            let mut ok = true;
            for d in items {
                match d
                    .as_str()
                    .and_then(|s| DAY_NAMES.iter().position(|n| *n == s))
                {
                    Some(i) => mask |= 1 << i,
                    None => ok = false,
                }
            }
            if !ok {
                p.v.fail(
                    "parameters.days",
                    "must list days as mon, tue, wed, thu, fri, sat, sun",
                );
            }
            ok.then_some(mask)
        }
        None | Some(Value::Null) => {
            p.v.fail("parameters.days", "is required");
            None
        }
        Some(_) => {
            p.v.fail(
                "parameters.days",
                "must be a non-empty list of mon, tue, wed, thu, fri, sat, sun",
            );
            None
        }
    };
    let sh = p.int("start_hour", 0..=23);
    let sm = p.int("start_minute", 0..=59);
    let eh = p.int("end_hour", 0..=24);
    let em = p.int("end_minute", 0..=59);
    let tz = p.string("timezone").map(str::to_owned);
    let timezone = match tz {
        Some(name) => match name.parse::<Tz>() {
            Ok(tz) => Some(tz),
            Err(_) => {
                p.v.fail(
                    "parameters.timezone",
                    "must be an IANA timezone name such as Europe/Berlin",
                );
                None
            }
        },
        None => None,
    };
    let (days, sh, sm, eh, em, timezone) = (days?, sh?, sm?, eh?, em?, timezone?);
    if eh == 24 && em != 0 {
        p.v.fail("parameters.end_minute", "must be 0 when end_hour is 24");
        return None;
    }
    let start = (sh * 60 + sm) as u16;
    let end = (eh * 60 + em) as u16;
    if start == end || (start == 0 && end == 0) {
        p.v.fail(
            "parameters.end_hour",
            "the window must not end when it starts",
        );
        return None;
    }
    Some(TimeWindow {
        days,
        start_minute: start,
        end_minute: end,
        timezone,
    })
}

fn parse_date_range(mut p: Params<'_>) -> Option<DateRange> {
    p.only(&["start_date", "end_date", "grace_minutes"]);
    let start = p.time("start_date");
    let end = p.time("end_date");
    let grace = match p.obj.get("grace_minutes") {
        None | Some(Value::Null) => Some(0),
        Some(_) => p.int("grace_minutes", 0..=1440),
    };
    let (start, end, grace) = (start?, end?, grace?);
    if start >= end {
        p.v.fail("parameters.end_date", "must be after start_date");
        return None;
    }
    Some(DateRange {
        start,
        end,
        grace_minutes: grace as u16,
    })
}

fn parse_guest_sponsor(mut p: Params<'_>) -> Option<GuestSponsor> {
    p.only(&[
        "sponsor_id",
        "start_date",
        "end_date",
        "requires_approval",
        "grace_minutes",
    ]);
    let sponsor = p.string("sponsor_id").map(str::to_owned);
    let sponsor_id = match sponsor {
        Some(s) => match s.parse::<MemberId>() {
            Ok(id) => Some(id),
            Err(_) => {
                p.v.fail("parameters.sponsor_id", "must be a member id (UUID)");
                None
            }
        },
        None => None,
    };
    let start = p.opt_time("start_date");
    let end = p.opt_time("end_date");
    let requires_approval = match p.obj.get("requires_approval") {
        None | Some(Value::Null) => Some(false),
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            p.v.fail("parameters.requires_approval", "must be true or false");
            None
        }
    };
    let grace = match p.obj.get("grace_minutes") {
        None | Some(Value::Null) => Some(None),
        Some(_) => p.int("grace_minutes", 0..=1440).map(|g| Some(g as u16)),
    };
    let (sponsor_id, start, end, requires_approval, grace) =
        (sponsor_id?, start?, end?, requires_approval?, grace?);
    if let (Some(s), Some(e)) = (start, end) {
        if s >= e {
            p.v.fail("parameters.end_date", "must be after start_date");
            return None;
        }
    }
    Some(GuestSponsor {
        sponsor_id,
        start,
        end,
        requires_approval,
        grace_minutes: grace,
    })
}

fn parse_role_minimum(mut p: Params<'_>) -> Option<Role> {
    p.only(&["min_role"]);
    let raw = p.string("min_role")?.to_owned();
    match raw.parse::<Role>() {
        Ok(r) => Some(r),
        Err(m) => {
            p.v.fail("parameters.min_role", m);
            None
        }
    }
}

fn parse_override(mut p: Params<'_>) -> Option<GlobalOverride> {
    p.only(&["mode", "until"]);
    let mode = match p.string("mode") {
        Some("lockdown") => Some(OverrideMode::Lockdown),
        Some("open") => Some(OverrideMode::Open),
        Some(_) => {
            p.v.fail("parameters.mode", "must be \"lockdown\" or \"open\"");
            None
        }
        None => None,
    };
    let until = p.opt_time("until");
    Some(GlobalOverride {
        mode: mode?,
        until: until?,
    })
}

/// Who a rule addresses. No targets at all = every key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Role(Role),
    Member(MemberId),
    Key(KeyId),
}

impl Target {
    pub fn parse(target_type: &str, value: &str) -> Result<Self, (&'static str, &'static str)> {
        match target_type {
            "role" => value
                .parse()
                .map(Target::Role)
                .map_err(|m| ("target_value", m)),
            "member" => value
                .parse()
                .map(Target::Member)
                .map_err(|_| ("target_value", "must be a member id (UUID)")),
            "key" => value
                .parse()
                .map(Target::Key)
                .map_err(|_| ("target_value", "must be a key id (UUID)")),
            _ => Err(("target_type", "must be one of role, member, key")),
        }
    }

    pub fn target_type(&self) -> &'static str {
        match self {
            Target::Role(_) => "role",
            Target::Member(_) => "member",
            Target::Key(_) => "key",
        }
    }

    pub fn value(&self) -> String {
        match self {
            Target::Role(r) => r.as_str().to_owned(),
            Target::Member(m) => m.to_string(),
            Target::Key(k) => k.to_string(),
        }
    }
}

/// A stored rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub id: RuleId,
    pub name: String,
    pub params: RuleParams,
    pub priority: i32,
    pub is_active: bool,
    pub targets: Vec<Target>,
    /// The zones where the rule applies; empty = every zone.
    pub zone_ids: Vec<ZoneId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Creation order, so that "on a tie the older rule wins" is exact.
    pub seq: i64,
}

impl Rule {
    /// Whether the rule applies at doors of `zone`.
    pub fn applies_in(&self, zone: ZoneId) -> bool {
        self.zone_ids.is_empty() || self.zone_ids.contains(&zone)
    }
}

/// A rule name: 1 to 100 characters of plain text.
pub fn parse_rule_name(raw: &str) -> Result<String, String> {
    RULE_NAME.parse(raw)
}

pub const RULE_NAME: super::text::TextField = super::text::TextField::new(1, 100);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_window_parses_and_names_bad_fields() {
        let ok = RuleParams::parse(
            RuleType::TimeWindow,
            &json!({"days": ["mon", "fri"], "start_hour": 8, "start_minute": 0,
                    "end_hour": 24, "end_minute": 0, "timezone": "Europe/Berlin"}),
        )
        .expect("valid");
        let RuleParams::TimeWindow(w) = &ok else {
            panic!("type")
        };
        assert_eq!(w.days, 0b1_0001);
        assert_eq!(w.end_minute, 1440);
        assert_eq!(ok.to_json()["end_hour"], 24);

        let err = RuleParams::parse(
            RuleType::TimeWindow,
            &json!({"days": ["mon"], "start_minute": 0, "end_hour": 22, "end_minute": 0,
                    "timezone": "Mars/Olympus"}),
        )
        .unwrap_err();
        assert!(err.contains_key("parameters.start_hour"), "{err:?}");
        assert!(err.contains_key("parameters.timezone"), "{err:?}");

        let err = RuleParams::parse(
            RuleType::TimeWindow,
            &json!({"days": ["mon"], "start_hour": 8, "start_minute": 0, "end_hour": 8,
                    "end_minute": 0, "timezone": "UTC"}),
        )
        .unwrap_err();
        assert!(err.contains_key("parameters.end_hour"), "{err:?}");
    }

    #[test]
    fn date_range_needs_order_and_grace_bounds() {
        let err = RuleParams::parse(
            RuleType::DateRange,
            &json!({"start_date": "2026-03-03T18:00:00+01:00", "end_date": "2026-03-01T15:00:00+01:00"}),
        )
        .unwrap_err();
        assert!(err.contains_key("parameters.end_date"));
        let err = RuleParams::parse(
            RuleType::DateRange,
            &json!({"start_date": "2026-03-01T15:00:00+01:00", "end_date": "2026-03-03T18:00:00+01:00", "grace_minutes": 1441}),
        )
        .unwrap_err();
        assert!(err.contains_key("parameters.grace_minutes"));
    }

    #[test]
    fn override_and_role_minimum() {
        assert!(RuleParams::parse(RuleType::GlobalOverride, &json!({"mode": "lockdown"})).is_ok());
        let err =
            RuleParams::parse(RuleType::GlobalOverride, &json!({"mode": "party"})).unwrap_err();
        assert!(err.contains_key("parameters.mode"));
        let err =
            RuleParams::parse(RuleType::RoleMinimum, &json!({"min_role": "boss"})).unwrap_err();
        assert!(err.contains_key("parameters.min_role"));
        let err = RuleParams::parse(
            RuleType::RoleMinimum,
            &json!({"min_role": "member", "x": 1}),
        )
        .unwrap_err();
        assert!(err.contains_key("parameters.x"));
    }
}
