//! Rules: the list, and a form per rule type (days as checkboxes, hours and
//! minutes, time zone, dates, grace, targets, zones) to create or edit one.
//! "Preview changes" compiles the space with and without the change and
//! lists who gains and who loses access before anything is saved; deleting
//! shows the same before it asks. Saving goes through the API's use cases.

use super::csrf::WebForm;
use super::error::WebError;
use super::layout::{
    csrf_field, field, field_error, fmt_time, local_input, notice, page, parse_local_input,
    space_tz, Viewer,
};
use super::session::{WebAdmin, WebPath, WebStaff};
use crate::app::rules::{self, NewRule, RulePatch};
use crate::app::ui::{self, AccessChange, Preview};
use crate::app::{App, AppError};
use crate::domain::member::Role;
use crate::domain::rule::{parse_rule_name, Rule, RuleParams, RuleType, Target, DAY_NAMES};
use crate::domain::zone::Zone;
use crate::domain::{FieldErrors, RuleId, Validation, ZoneId};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Map, Value};

fn describe(r: &Rule) -> String {
    match &r.params {
        RuleParams::TimeWindow(w) => {
            let days: Vec<&str> = (0..7)
                .filter(|d| w.days & (1 << d) != 0)
                .map(|d| DAY_NAMES[d])
                .collect();
            format!(
                "{} {:02}:{:02}–{:02}:{:02} {}",
                days.join(","),
                w.start_minute / 60,
                w.start_minute % 60,
                w.end_minute / 60,
                w.end_minute % 60,
                w.timezone.name()
            )
        }
        RuleParams::DateRange(d) => format!(
            "{} to {}",
            fmt_time(d.start.timestamp()),
            fmt_time(d.end.timestamp())
        ),
        RuleParams::GuestSponsor(g) => format!(
            "sponsored guest{}",
            if g.requires_approval {
                ", approval at the door"
            } else {
                ""
            }
        ),
        RuleParams::RoleMinimum(r) => format!("at least {}", r.as_str()),
        RuleParams::Grant => "lets its targets in at doors of its zones".to_owned(),
        RuleParams::GlobalOverride(o) => format!(
            "{:?}{}",
            o.mode,
            o.until
                .map(|u| format!(" until {}", fmt_time(u.timestamp())))
                .unwrap_or_default()
        ),
    }
}

#[derive(Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

pub async fn list(
    State(app): State<App>,
    WebStaff(who): WebStaff,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    let viewer = Viewer::from(&who);
    let all = rules::list(&app).await?;
    let body = html! {
        h1 { "Rules" }
        (notice(q.done.as_deref().map(|d| match d {
            "created" => "Rule created; the doors get the new list.",
            "deleted" => "Rule deleted; the doors get the new list.",
            _ => "Rule saved; the doors get the new list.",
        })))
        @if viewer.is_admin() {
            form.inline.new-rule method="get" action="/rules/new" {
                label for="f-new-type" { "New rule of type " }
                select id="f-new-type" name="type" {
                    @for t in RuleType::ALL { option value=(t.as_str()) { (t.as_str()) } }
                }
                " "
                button type="submit" { "New rule" }
            }
        }
        div.table-wrap { table {
            thead { tr { th { "Name" } th { "Type" } th { "What" } th { "Priority" } th { "Active" } } }
            tbody { @for r in &all {
                tr {
                    td { @if viewer.is_admin() { a href=(format!("/rules/{}", r.id)) { (r.name) } } @else { (r.name) } }
                    td { (r.params.rule_type().as_str()) }
                    td { (describe(r)) }
                    td { (r.priority) }
                    td { @if r.is_active { "yes" } @else { "no" } }
                }
            } }
        } }
    };
    Ok(page(Some(&viewer), "/rules", "Rules", body).into_response())
}

/// The form's values: from what was submitted, else from the stored rule,
/// else blank (a new rule).
struct Values<'a> {
    rule: Option<&'a Rule>,
    form: Option<&'a WebForm>,
}

impl Values<'_> {
    fn param(&self, name: &str) -> String {
        if let Some(f) = self.form {
            return f.get(&format!("parameters.{name}")).to_owned();
        }
        let Some(rule) = self.rule else {
            // A new time window starts in the space's zone.
            return if name == "timezone" {
                space_tz().name().to_owned()
            } else {
                String::new()
            };
        };
        match rule.params.to_json().get(name) {
            Some(Value::String(s)) => to_local_input(s),
            Some(Value::Null) | None => String::new(),
            Some(v) => v.to_string(),
        }
    }
    fn text(&self, name: &str, stored: String) -> String {
        self.form.map_or(stored, |f| f.get(name).to_owned())
    }
    fn days(&self) -> Vec<String> {
        match (self.form, self.rule) {
            (Some(f), _) => f
                .all("parameters.days")
                .into_iter()
                .map(str::to_owned)
                .collect(),
            (None, Some(rule)) => match rule.params.to_json().get("days") {
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(|d| d.as_str().map(str::to_owned))
                    .collect(),
                _ => Vec::new(),
            },
            (None, None) => Vec::new(),
        }
    }
    fn checked(&self, name: &str, stored: bool) -> bool {
        self.form.map_or(stored, |f| f.has(name))
    }
    fn zone_ids(&self) -> Vec<String> {
        match (self.form, self.rule) {
            (Some(f), _) => f.all("zone_ids").into_iter().map(str::to_owned).collect(),
            (None, Some(rule)) => rule.zone_ids.iter().map(ToString::to_string).collect(),
            (None, None) => Vec::new(),
        }
    }
}

/// RFC 3339 times are shown in `datetime-local` inputs, in the space's time zone.
fn to_local_input(s: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| local_input(t.with_timezone(&chrono::Utc)))
        .unwrap_or_else(|_| s.to_owned())
}

fn targets_text(targets: &[Target]) -> String {
    targets
        .iter()
        .map(|t| format!("{}:{}", t.target_type(), t.value()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn parameter_fields(
    kind: RuleType,
    v: &Values<'_>,
    errors: &FieldErrors,
    sponsors: &[(String, String)],
) -> Markup {
    let num = |label: &str, name: &str| {
        field(
            label,
            &format!("parameters.{name}"),
            "number",
            &v.param(name),
            errors,
            true,
        )
    };
    let tz = space_tz().name();
    let when = |label: &str, name: &str, required: bool| {
        field(
            &format!("{label} ({tz}{})", if required { "" } else { ", optional" }),
            &format!("parameters.{name}"),
            "datetime-local",
            &v.param(name),
            errors,
            required,
        )
    };
    html! {
        @match kind {
            RuleType::TimeWindow => {
                fieldset.days {
                    legend { "Days" }
                    @let days = v.days();
                    @for d in DAY_NAMES {
                        label.check { input type="checkbox" name="parameters.days" value=(d) checked[days.iter().any(|x| x == d)]; (d) }
                    }
                    (field_error("parameters.days", errors))
                }
                div.row {
                    (num("From hour", "start_hour")) (num("minute", "start_minute"))
                    (num("Until hour", "end_hour")) (num("minute", "end_minute"))
                }
                (field("Time zone", "parameters.timezone", "text", &v.param("timezone"), errors, true))
            }
            RuleType::DateRange => {
                (when("Start", "start_date", true))
                (when("End", "end_date", true))
                (num("Grace minutes", "grace_minutes"))
            }
            RuleType::GuestSponsor => {
                div.field {
                    label for="f-sponsor" { "Sponsor" }
                    select id="f-sponsor" name="parameters.sponsor_id" {
                        @let current = v.param("sponsor_id").trim_matches('"').to_owned();
                        @for (id, name) in sponsors {
                            option value=(id) selected[*id == current] { (name) }
                        }
                    }
                    (field_error("parameters.sponsor_id", errors))
                }
                (when("Start", "start_date", false))
                (when("End", "end_date", false))
                label.check {
                    input type="checkbox" name="parameters.requires_approval" value="true"
                        checked[v.form.map_or(v.param("requires_approval") == "true", |f| f.has("parameters.requires_approval"))];
                    "Needs approval at the door"
                }
                (field("Grace minutes (optional)", "parameters.grace_minutes", "number", &v.param("grace_minutes"), errors, false))
            }
            RuleType::RoleMinimum => {
                div.field {
                    label for="f-min-role" { "Lowest role" }
                    select id="f-min-role" name="parameters.min_role" {
                        @let current = v.param("min_role");
                        @for r in [Role::Guest, Role::Member, Role::Keyholder, Role::Admin] {
                            option value=(r.as_str()) selected[r.as_str() == current] { (r.as_str()) }
                        }
                    }
                    (field_error("parameters.min_role", errors))
                }
            }
            RuleType::Grant => {
                p.muted { "A grant has no parameters: its targets may enter at the doors of its zones." }
            }
            RuleType::GlobalOverride => {
                div.field {
                    label for="f-mode" { "Mode" }
                    select id="f-mode" name="parameters.mode" {
                        @let current = v.param("mode");
                        option value="lockdown" selected[current == "lockdown"] { "lockdown" }
                        option value="open" selected[current == "open"] { "open" }
                    }
                    (field_error("parameters.mode", errors))
                }
                (when("Until", "until", false))
            }
        }
    }
}

/// Zones as checkboxes; none ticked = every zone.
fn zone_fields(v: &Values<'_>, zones: &[Zone], errors: &FieldErrors) -> Markup {
    let ticked = v.zone_ids();
    html! {
        fieldset.zones {
            legend { "Zones (none ticked = every zone)" }
            @for z in zones {
                @let id = z.id.to_string();
                label.check { input type="checkbox" name="zone_ids" value=(id) checked[ticked.contains(&id)]; (z.name) }
            }
            @for (_, m) in errors.iter().filter(|(k, _)| k.starts_with("zone_ids")) {
                p.field-error { "Zones: " (m) }
            }
        }
    }
}

fn preview_list(title: &str, changes: &[AccessChange]) -> Markup {
    html! {
        h3 { (title) " (" (changes.len()) ")" }
        @if changes.is_empty() { p.muted { "Nobody." } }
        @else { ul { @for c in changes {
            li { a href=(format!("/members/{}", c.member_id)) { (c.username) } " – key " (c.key_label) " – zone " (c.zone) }
        } } }
    }
}

async fn sponsors(app: &App) -> Result<Vec<(String, String)>, WebError> {
    let mut all = crate::app::members::list(app, Some(Role::Keyholder), Some(true)).await?;
    all.extend(crate::app::members::list(app, Some(Role::Admin), Some(true)).await?);
    Ok(all
        .into_iter()
        .map(|m| {
            (
                m.id.to_string(),
                format!("{} ({})", m.display_name, m.username),
            )
        })
        .collect())
}

/// What the form is about: a rule of a type not yet stored, or a stored one.
#[derive(Clone, Copy)]
enum Subject<'a> {
    New(RuleType),
    Stored(&'a Rule),
}

impl Subject<'_> {
    fn kind(&self) -> RuleType {
        match self {
            Subject::New(k) => *k,
            Subject::Stored(r) => r.params.rule_type(),
        }
    }
    fn rule(&self) -> Option<&Rule> {
        match self {
            Subject::New(_) => None,
            Subject::Stored(r) => Some(r),
        }
    }
}

fn preview_section(p: &Preview) -> Markup {
    html! {
        section.preview id="preview" aria-live="polite" {
            h2 { "What this change does" }
            (preview_list("Gain access", &p.gains))
            (preview_list("Lose access", &p.loses))
            (preview_list("Access times change", &p.changed))
        }
    }
}

async fn rule_page(
    app: &App,
    viewer: &Viewer,
    subject: Subject<'_>,
    form: Option<&WebForm>,
    errors: &FieldErrors,
    preview: Option<&Preview>,
) -> Result<Markup, WebError> {
    let rule = subject.rule();
    let v = Values { rule, form };
    let kind = subject.kind();
    let sponsors = sponsors(app).await?;
    let zones = crate::app::zones::list(app).await?;
    let (title, action) = match subject {
        Subject::New(k) => (format!("New rule: {}", k.as_str()), "/rules".to_owned()),
        Subject::Stored(r) => (format!("Rule: {}", r.name), format!("/rules/{}", r.id)),
    };
    Ok(page(
        Some(viewer),
        "/rules",
        &title,
        html! {
            h1 { (title) }
            p.muted { "Type " (kind.as_str()) ". Times of day are in the rule's time zone; dates in the space's (" (space_tz().name()) ")." }
            form.stack method="post" action=(action) novalidate {
                (csrf_field(viewer))
                @if let Subject::New(k) = subject {
                    input type="hidden" name="rule_type" value=(k.as_str());
                }
                (field("Name", "name", "text", &v.text("name", rule.map(|r| r.name.clone()).unwrap_or_default()), errors, true))
                (parameter_fields(kind, &v, errors, &sponsors))
                (field("Priority", "priority", "number", &v.text("priority", rule.map_or(0, |r| r.priority).to_string()), errors, true))
                label.check { input type="checkbox" name="is_active" value="true" checked[v.checked("is_active", rule.is_none_or(|r| r.is_active))]; "Active" }
                div.field {
                    label for="f-targets" { "Targets (one per line: role:member, member:<id>, key:<id>; empty = everyone)" }
                    textarea id="f-targets" name="targets" rows="3" { (v.text("targets", rule.map(|r| targets_text(&r.targets)).unwrap_or_default())) }
                    @for (k, m) in errors.iter().filter(|(k, _)| k.starts_with("targets")) {
                        p.field-error { (k) ": " (m) }
                    }
                }
                (zone_fields(&v, &zones, errors))
                @if let Some(p) = preview { (preview_section(p)) }
                div.actions {
                    button type="submit" name="intent" value="preview" { "Preview changes" }
                    button.primary type="submit" name="intent" value="save" {
                        @if rule.is_some() { "Save" } @else { "Create rule" }
                    }
                }
            }
            @if let Some(r) = rule {
                p { a.button href=(format!("/rules/{}/delete", r.id)) { "Delete this rule…" } }
            }
        },
    ))
}

pub async fn edit(
    State(app): State<App>,
    WebAdmin(who): WebAdmin,
    WebPath(id): WebPath<RuleId>,
) -> Result<Response, WebError> {
    let rule = rules::get(&app, id).await?;
    let viewer = Viewer::from(&who);
    Ok(rule_page(
        &app,
        &viewer,
        Subject::Stored(&rule),
        None,
        &FieldErrors::new(),
        None,
    )
    .await?
    .into_response())
}

#[derive(Deserialize, Default)]
pub struct NewQuery {
    #[serde(rename = "type")]
    rule_type: Option<String>,
}

/// The form for a new rule of the type chosen on the list.
pub async fn new_form(
    State(app): State<App>,
    WebAdmin(who): WebAdmin,
    Query(q): Query<NewQuery>,
) -> Result<Response, WebError> {
    let kind = RuleType::parse(q.rule_type.as_deref().unwrap_or_default())
        .map_err(|m| WebError::for_viewer(AppError::field("type", m), &who))?;
    let viewer = Viewer::from(&who);
    Ok(rule_page(
        &app,
        &viewer,
        Subject::New(kind),
        None,
        &FieldErrors::new(),
        None,
    )
    .await?
    .into_response())
}

/// The rule parameters as the API's JSON, from the form's `parameters.*`
/// fields. Dates are read in the space's time zone; one that is not a date
/// is named in `errors`.
fn parameters_json(kind: RuleType, f: &WebForm, errors: &mut FieldErrors) -> Value {
    let mut m = Map::new();
    let number = |s: &str| {
        s.trim()
            .parse::<i64>()
            .map_or_else(|_| json!(s.trim()), |n| json!(n))
    };
    let names: &[&str] = match kind {
        RuleType::TimeWindow => &[
            "start_hour",
            "start_minute",
            "end_hour",
            "end_minute",
            "timezone",
        ],
        RuleType::DateRange => &["start_date", "end_date", "grace_minutes"],
        RuleType::GuestSponsor => &["sponsor_id", "start_date", "end_date", "grace_minutes"],
        RuleType::RoleMinimum => &["min_role"],
        RuleType::GlobalOverride => &["mode", "until"],
        RuleType::Grant => &[],
    };
    for name in names {
        let key = format!("parameters.{name}");
        let Some(raw) = f.opt(&key) else {
            continue;
        };
        let value = match *name {
            "start_hour" | "start_minute" | "end_hour" | "end_minute" | "grace_minutes" => {
                number(raw)
            }
            "start_date" | "end_date" | "until" => match parse_local_input(raw) {
                Ok(t) => json!(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                Err(message) => {
                    errors.insert(key, message);
                    continue;
                }
            },
            _ => json!(raw),
        };
        m.insert((*name).to_owned(), value);
    }
    if kind == RuleType::TimeWindow {
        m.insert("days".into(), json!(f.all("parameters.days")));
    }
    if kind == RuleType::GuestSponsor {
        m.insert(
            "requires_approval".into(),
            json!(f.has("parameters.requires_approval")),
        );
    }
    Value::Object(m)
}

/// A rule as the form describes it, parsed with the API's parsers.
struct Parsed {
    name: String,
    params: RuleParams,
    /// The parameters as the API takes them (the update use case parses them again).
    raw: Value,
    priority: i32,
    is_active: bool,
    targets: Vec<Target>,
    zone_ids: Vec<ZoneId>,
}

/// Parses the form; the errors name the fields.
fn parse_form(kind: RuleType, f: &WebForm) -> Result<Parsed, AppError> {
    let mut v = Validation::default();
    let name = v.field("name", parse_rule_name(f.get("name")));
    let priority = v.field(
        "priority",
        f.get("priority")
            .trim()
            .parse::<i32>()
            .map_err(|_| "must be a whole number"),
    );
    let mut date_errors = FieldErrors::new();
    let raw = parameters_json(kind, f, &mut date_errors);
    let params = match RuleParams::parse(kind, &raw) {
        Ok(p) => Some(p),
        Err(errors) => {
            for (k, m) in errors {
                v.fail(&k, m);
            }
            None
        }
    };
    // Said after the parser's "is required", which a date left out for being unreadable gets.
    for (k, m) in date_errors {
        v.fail(&k, m);
    }
    let mut targets = Vec::new();
    for (i, line) in f
        .get("targets")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        let (t, value) = line.split_once(':').unwrap_or((line, ""));
        match Target::parse(t.trim(), value.trim()) {
            Ok(t) => targets.push(t),
            Err((field, m)) => v.fail(&format!("targets[{i}].{field}"), m),
        }
    }
    let mut zone_ids: Vec<ZoneId> = Vec::new();
    for (i, raw) in f.all("zone_ids").into_iter().enumerate() {
        match raw.parse::<ZoneId>() {
            Ok(z) if !zone_ids.contains(&z) => zone_ids.push(z),
            Ok(_) => {}
            Err(_) => v.fail(&format!("zone_ids[{i}]"), "no zone with this id"),
        }
    }
    let is_active = f.has("is_active");
    match (name, priority, params) {
        (Some(name), Some(priority), Some(params)) if v.is_ok() => Ok(Parsed {
            name,
            params,
            raw,
            priority,
            is_active,
            targets,
            zone_ids,
        }),
        _ => Err(AppError::Validation(v.into_errors())),
    }
}

/// Renders the form again with what was sent and the fields' errors.
async fn invalid(
    app: &App,
    viewer: &Viewer,
    subject: Subject<'_>,
    form: &WebForm,
    errors: &FieldErrors,
) -> Result<Response, WebError> {
    let html = rule_page(app, viewer, subject, Some(form), errors, None).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
}

pub async fn save(
    State(app): State<App>,
    WebAdmin(who): WebAdmin,
    WebPath(id): WebPath<RuleId>,
    form: WebForm,
) -> Result<Response, WebError> {
    let viewer = Viewer::from(&who);
    let before = rules::get(&app, id).await?;
    let subject = Subject::Stored(&before);
    let parsed = match parse_form(before.params.rule_type(), &form) {
        Ok(parsed) => parsed,
        Err(AppError::Validation(errors)) => {
            return invalid(&app, &viewer, subject, &form, &errors).await
        }
        Err(e) => return Err(e.into()),
    };
    if form.get("intent") == "preview" {
        let after = Rule {
            name: parsed.name,
            params: parsed.params,
            priority: parsed.priority,
            is_active: parsed.is_active,
            targets: parsed.targets,
            zone_ids: parsed.zone_ids,
            ..before.clone()
        };
        let preview = ui::preview_rule_change(&app, Some(id), Some(after)).await?;
        let html = rule_page(
            &app,
            &viewer,
            subject,
            Some(&form),
            &FieldErrors::new(),
            Some(&preview),
        )
        .await?;
        return Ok(html.into_response());
    }
    let patch = RulePatch {
        name: Some(parsed.name),
        rule_type: None,
        parameters: Some(parsed.raw),
        priority: Some(parsed.priority),
        is_active: Some(parsed.is_active),
        targets: Some(parsed.targets),
        zone_ids: Some(parsed.zone_ids),
    };
    match rules::update(&app, &who.principal, id, patch).await {
        Ok(_) => Ok(Redirect::to("/rules?done=saved").into_response()),
        Err(AppError::Validation(errors)) => invalid(&app, &viewer, subject, &form, &errors).await,
        Err(e) => Err(WebError::for_viewer(e, &who)),
    }
}

/// A new rule: previewed (compiled with it added) or created through the
/// API's use case and its audit.
pub async fn create(
    State(app): State<App>,
    WebAdmin(who): WebAdmin,
    form: WebForm,
) -> Result<Response, WebError> {
    let viewer = Viewer::from(&who);
    let kind = RuleType::parse(form.get("rule_type"))
        .map_err(|m| WebError::for_viewer(AppError::field("rule_type", m), &who))?;
    let subject = Subject::New(kind);
    let parsed = match parse_form(kind, &form) {
        Ok(parsed) => parsed,
        Err(AppError::Validation(errors)) => {
            return invalid(&app, &viewer, subject, &form, &errors).await
        }
        Err(e) => return Err(e.into()),
    };
    if form.get("intent") == "preview" {
        let now = chrono::Utc::now();
        let added = Rule {
            id: RuleId::new(),
            name: parsed.name,
            params: parsed.params,
            priority: parsed.priority,
            is_active: parsed.is_active,
            targets: parsed.targets,
            zone_ids: parsed.zone_ids,
            created_at: now,
            updated_at: now,
            // The newest rule: it loses every tie, as it will once stored.
            seq: i64::MAX,
        };
        let preview = ui::preview_rule_change(&app, None, Some(added)).await?;
        let html = rule_page(
            &app,
            &viewer,
            subject,
            Some(&form),
            &FieldErrors::new(),
            Some(&preview),
        )
        .await?;
        return Ok(html.into_response());
    }
    let new = NewRule {
        name: parsed.name,
        params: parsed.params,
        priority: parsed.priority,
        is_active: parsed.is_active,
        targets: parsed.targets,
        zone_ids: parsed.zone_ids,
    };
    match rules::create(&app, &who.principal, new).await {
        Ok(_) => Ok(Redirect::to("/rules?done=created").into_response()),
        Err(AppError::Validation(errors)) => invalid(&app, &viewer, subject, &form, &errors).await,
        Err(e) => Err(WebError::for_viewer(e, &who)),
    }
}

/// Deleting asks first, showing who would lose (or gain) access.
pub async fn confirm_delete(
    State(app): State<App>,
    WebAdmin(who): WebAdmin,
    WebPath(id): WebPath<RuleId>,
) -> Result<Response, WebError> {
    let viewer = Viewer::from(&who);
    let rule = rules::get(&app, id).await?;
    let preview = ui::preview_rule_change(&app, Some(id), None).await?;
    let title = format!("Delete rule: {}", rule.name);
    Ok(page(
        Some(&viewer),
        "/rules",
        &title,
        html! {
            h1 { (title) }
            p { (rule.params.rule_type().as_str()) ": " (describe(&rule)) }
            (preview_section(&preview))
            form.stack method="post" action=(format!("/rules/{id}/delete")) {
                (csrf_field(&viewer))
                div.actions {
                    button.danger type="submit" { "Delete rule" }
                    a.button href=(format!("/rules/{id}")) { "Cancel" }
                }
            }
        },
    )
    .into_response())
}

pub async fn delete(
    State(app): State<App>,
    WebAdmin(who): WebAdmin,
    WebPath(id): WebPath<RuleId>,
    _form: WebForm,
) -> Result<Response, WebError> {
    rules::delete(&app, &who.principal, id)
        .await
        .map_err(|e| WebError::for_viewer(e, &who))?;
    Ok(Redirect::to("/rules?done=deleted").into_response())
}
