//! Rules: the list, and a form per rule type (days as checkboxes, hours and
//! minutes, time zone, dates, grace, targets). "Preview changes" compiles
//! the space with and without the edit and lists who gains and who loses
//! access before anything is saved; "Save" goes through the API's use case.

use super::csrf::WebForm;
use super::error::WebError;
use super::layout::{csrf_field, field, field_error, notice, page, Viewer};
use super::session::{WebAdmin, WebPath, WebStaff};
use crate::app::rules::{self, RulePatch};
use crate::app::ui::{self, AccessChange, Preview};
use crate::app::{App, AppError};
use crate::domain::member::Role;
use crate::domain::rule::{parse_rule_name, Rule, RuleParams, RuleType, Target, DAY_NAMES};
use crate::domain::{FieldErrors, RuleId, Validation};
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
            d.start.format("%Y-%m-%d %H:%M"),
            d.end.format("%Y-%m-%d %H:%M UTC")
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
                .map(|u| format!(" until {}", u.format("%Y-%m-%d %H:%M UTC")))
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
        (notice(q.done.as_deref().map(|_| "Rule saved; the doors get the new list.")))
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

/// The form's values: from the stored rule, or from what was submitted.
struct Values<'a> {
    rule: &'a Rule,
    form: Option<&'a WebForm>,
}

impl Values<'_> {
    fn param(&self, name: &str) -> String {
        if let Some(f) = self.form {
            return f.get(&format!("parameters.{name}")).to_owned();
        }
        match self.rule.params.to_json().get(name) {
            Some(Value::String(s)) => to_local_input(s),
            Some(Value::Null) | None => String::new(),
            Some(v) => v.to_string(),
        }
    }
    fn text(&self, name: &str, stored: String) -> String {
        self.form.map_or(stored, |f| f.get(name).to_owned())
    }
    fn days(&self) -> Vec<String> {
        match self.form {
            Some(f) => f
                .all("parameters.days")
                .into_iter()
                .map(str::to_owned)
                .collect(),
            None => match self.rule.params.to_json().get("days") {
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(|d| d.as_str().map(str::to_owned))
                    .collect(),
                _ => Vec::new(),
            },
        }
    }
    fn checked(&self, name: &str, stored: bool) -> bool {
        self.form.map_or(stored, |f| f.has(name))
    }
}

/// RFC 3339 times are shown in `datetime-local` inputs, in UTC.
fn to_local_input(s: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%dT%H:%M")
                .to_string()
        })
        .unwrap_or_else(|_| s.to_owned())
}

/// A `datetime-local` value (UTC) back to RFC 3339; anything else is passed
/// on for the rule parser to name.
fn from_local_input(s: &str) -> String {
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M")
        .map(|t| {
            t.and_utc()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        })
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
    let when = |label: &str, name: &str, required: bool| {
        field(
            label,
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
                (when("Start (UTC)", "start_date", true))
                (when("End (UTC)", "end_date", true))
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
                (when("Start (UTC, optional)", "start_date", false))
                (when("End (UTC, optional)", "end_date", false))
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
                (when("Until (UTC, optional)", "until", false))
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

async fn edit_page(
    app: &App,
    viewer: &Viewer,
    rule: &Rule,
    form: Option<&WebForm>,
    errors: &FieldErrors,
    preview: Option<&Preview>,
) -> Result<Markup, WebError> {
    let v = Values { rule, form };
    let kind = rule.params.rule_type();
    let sponsors = sponsors(app).await?;
    Ok(page(
        Some(viewer),
        "/rules",
        &rule.name,
        html! {
            h1 { "Rule: " (rule.name) }
            p.muted { "Type " (kind.as_str()) ". Times are in the rule's time zone; dates in UTC." }
            form.stack method="post" action=(format!("/rules/{}", rule.id)) novalidate {
                (csrf_field(viewer))
                (field("Name", "name", "text", &v.text("name", rule.name.clone()), errors, true))
                (parameter_fields(kind, &v, errors, &sponsors))
                (field("Priority", "priority", "number", &v.text("priority", rule.priority.to_string()), errors, true))
                label.check { input type="checkbox" name="is_active" value="true" checked[v.checked("is_active", rule.is_active)]; "Active" }
                div.field {
                    label for="f-targets" { "Targets (one per line: role:member, member:<id>, key:<id>; empty = everyone)" }
                    textarea id="f-targets" name="targets" rows="3" { (v.text("targets", targets_text(&rule.targets))) }
                    @for (k, m) in errors.iter().filter(|(k, _)| k.starts_with("targets")) {
                        p.field-error { (k) ": " (m) }
                    }
                }
                @if let Some(p) = preview {
                    section.preview id="preview" aria-live="polite" {
                        h2 { "What this change does" }
                        (preview_list("Gain access", &p.gains))
                        (preview_list("Lose access", &p.loses))
                        (preview_list("Access times change", &p.changed))
                    }
                }
                div.actions {
                    button type="submit" name="intent" value="preview" { "Preview changes" }
                    button.primary type="submit" name="intent" value="save" { "Save" }
                }
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
    Ok(
        edit_page(&app, &viewer, &rule, None, &FieldErrors::new(), None)
            .await?
            .into_response(),
    )
}

/// The rule parameters as the API's JSON, from the form's `parameters.*` fields.
fn parameters_json(kind: RuleType, f: &WebForm) -> Value {
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
        let Some(raw) = f.opt(&format!("parameters.{name}")) else {
            continue;
        };
        let value = match *name {
            "start_hour" | "start_minute" | "end_hour" | "end_minute" | "grace_minutes" => {
                number(raw)
            }
            "start_date" | "end_date" | "until" => json!(from_local_input(raw)),
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

/// The edited rule, parsed with the API's parsers; errors name the fields.
fn parse_edit(before: &Rule, f: &WebForm) -> Result<(Rule, RulePatch), AppError> {
    let mut v = Validation::default();
    let kind = before.params.rule_type();
    let name = v.field("name", parse_rule_name(f.get("name")));
    let priority = v.field(
        "priority",
        f.get("priority")
            .trim()
            .parse::<i32>()
            .map_err(|_| "must be a whole number"),
    );
    let raw = parameters_json(kind, f);
    let params = match RuleParams::parse(kind, &raw) {
        Ok(p) => Some(p),
        Err(errors) => {
            for (k, m) in errors {
                v.fail(&k, m);
            }
            None
        }
    };
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
    let is_active = f.has("is_active");
    match (name, priority, params) {
        (Some(name), Some(priority), Some(params)) if v.is_ok() => {
            let after = Rule {
                name: name.clone(),
                params,
                priority,
                is_active,
                targets: targets.clone(),
                ..before.clone()
            };
            let patch = RulePatch {
                name: Some(name),
                rule_type: None,
                parameters: Some(raw),
                priority: Some(priority),
                is_active: Some(is_active),
                targets: Some(targets),
                // Zones are kept as they are; the API changes them.
                zone_ids: None,
            };
            Ok((after, patch))
        }
        _ => Err(AppError::Validation(v.into_errors())),
    }
}

pub async fn save(
    State(app): State<App>,
    WebAdmin(who): WebAdmin,
    WebPath(id): WebPath<RuleId>,
    form: WebForm,
) -> Result<Response, WebError> {
    let viewer = Viewer::from(&who);
    let before = rules::get(&app, id).await?;
    let (after, patch) = match parse_edit(&before, &form) {
        Ok(parsed) => parsed,
        Err(AppError::Validation(errors)) => {
            let html = edit_page(&app, &viewer, &before, Some(&form), &errors, None).await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response());
        }
        Err(e) => return Err(e.into()),
    };
    if form.get("intent") == "preview" {
        let preview = ui::preview_rule_change(&app, Some(id), Some(after)).await?;
        let html = edit_page(
            &app,
            &viewer,
            &before,
            Some(&form),
            &FieldErrors::new(),
            Some(&preview),
        )
        .await?;
        return Ok(html.into_response());
    }
    match rules::update(&app, &who.principal, id, patch).await {
        Ok(_) => Ok(Redirect::to("/rules?done=saved").into_response()),
        Err(AppError::Validation(errors)) => {
            let html = edit_page(&app, &viewer, &before, Some(&form), &errors, None).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
        }
        Err(e) => Err(WebError::for_viewer(e, &who)),
    }
}
