//! The access-rule request schemas, written out by hand because derive
//! cannot say that `parameters` depends on `rule_type`: a create request is
//! one of six shapes, one per rule type, each with the parameters that
//! `domain::rule::RuleParams::parse` takes for it. What JSON Schema cannot
//! state (an end after its start, a window that does not end when it
//! starts, a sponsor who exists) stays a 422 naming the field.

use crate::domain::member::Role;
use crate::domain::rule::{RuleType, DAY_NAMES, RULE_NAME};
use serde_json::{json, Value};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;

fn time() -> Value {
    json!({
        "type": "string",
        "format": "date-time",
        "pattern": crate::domain::TIME_PATTERN,
        "description": crate::domain::TIME_RANGE_MESSAGE,
    })
}

fn uuid() -> Value {
    json!({ "type": "string", "format": "uuid" })
}

fn roles() -> Vec<&'static str> {
    Role::ALL.iter().map(|r| r.as_str()).collect()
}

fn int(min: i64, max: i64) -> Value {
    json!({ "type": "integer", "minimum": min, "maximum": max })
}

/// A closed object; `grant`'s has no parameters at all, written as
/// `additionalProperties: false` alone (utoipa drops empty lists).
fn object(required: &[&str], properties: Value) -> Value {
    let mut o = json!({ "type": "object", "additionalProperties": false });
    if !required.is_empty() {
        o["required"] = json!(required);
    }
    if properties.as_object().is_some_and(|p| !p.is_empty()) {
        o["properties"] = properties;
    }
    o
}

/// The `parameters` object of each rule type.
pub fn parameters(rule_type: RuleType) -> Value {
    let timezones: Vec<&str> = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()).collect();
    match rule_type {
        RuleType::TimeWindow => object(
            &[
                "days",
                "start_hour",
                "start_minute",
                "end_hour",
                "end_minute",
                "timezone",
            ],
            json!({
                "days": { "type": "array", "minItems": 1, "items": { "type": "string", "enum": DAY_NAMES } },
                "start_hour": int(0, 23),
                "start_minute": int(0, 59),
                "end_hour": int(0, 24),
                "end_minute": { "type": "integer", "minimum": 0, "maximum": 59,
                                "description": "0 when end_hour is 24" },
                "timezone": { "type": "string", "enum": timezones },
            }),
        ),
        RuleType::DateRange => object(
            &["start_date", "end_date"],
            json!({
                "start_date": time(),
                "end_date": time(),
                "grace_minutes": { "type": ["integer", "null"], "minimum": 0, "maximum": 1440 },
            }),
        ),
        RuleType::GuestSponsor => object(
            &["sponsor_id"],
            json!({
                "sponsor_id": uuid(),
                "start_date": { "oneOf": [time(), { "type": "null" }] },
                "end_date": { "oneOf": [time(), { "type": "null" }] },
                "requires_approval": { "type": ["boolean", "null"] },
                "grace_minutes": { "type": ["integer", "null"], "minimum": 0, "maximum": 1440 },
            }),
        ),
        RuleType::RoleMinimum => object(
            &["min_role"],
            json!({ "min_role": { "type": "string", "enum": roles() } }),
        ),
        RuleType::GlobalOverride => object(
            &["mode"],
            json!({
                "mode": { "type": "string", "enum": ["lockdown", "open"] },
                "until": { "oneOf": [time(), { "type": "null" }] },
            }),
        ),
        RuleType::Grant => object(&[], json!({})),
    }
}

/// A rule's target: a role by name, or a member or key by id.
pub fn target() -> Value {
    json!({
        "oneOf": [
            object(&["target_type", "target_value"], json!({
                "target_type": { "type": "string", "enum": ["role"] },
                "target_value": { "type": "string", "enum": roles() },
            })),
            object(&["target_type", "target_value"], json!({
                "target_type": { "type": "string", "enum": ["member"] },
                "target_value": uuid(),
            })),
            object(&["target_type", "target_value"], json!({
                "target_type": { "type": "string", "enum": ["key"] },
                "target_value": uuid(),
            })),
        ],
        "description": "OR-ed with the rule's other targets; none = every key.",
    })
}

fn common(nullable_name: bool) -> serde_json::Map<String, Value> {
    let name_type: Value = if nullable_name {
        json!(["string", "null"])
    } else {
        json!("string")
    };
    let props = json!({
        "name": { "type": name_type, "pattern": RULE_NAME.pattern() },
        "priority": { "type": ["integer", "null"], "format": "int32",
                      "description": "Higher wins; on a tie the older rule wins. Default 0." },
        "is_active": { "type": ["boolean", "null"], "description": "Default true." },
        "targets": { "type": ["array", "null"], "items": target() },
        "zone_ids": { "type": ["array", "null"], "items": uuid(),
                      "description": "Only at doors of these zones; empty or absent = every zone." },
    });
    match props {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

/// One of six shapes: `rule_type` with the `parameters` of that type.
pub fn create_request() -> Value {
    let variants: Vec<Value> = RuleType::ALL
        .into_iter()
        .map(|t| {
            let mut props = common(false);
            props.insert(
                "rule_type".into(),
                json!({ "type": "string", "enum": [t.as_str()] }),
            );
            props.insert("parameters".into(), parameters(t));
            json!({
                "type": "object",
                "required": ["name", "rule_type", "parameters"],
                "properties": props,
                "additionalProperties": false,
            })
        })
        .collect();
    json!({ "oneOf": variants })
}

/// Every field optional; `parameters` are checked against the new
/// `rule_type` or, without one, the rule's current type.
pub fn update_request() -> Value {
    let mut props = common(true);
    let types: Vec<Value> = RuleType::ALL
        .into_iter()
        .map(|t| t.as_str().into())
        .collect();
    let mut types_or_null = types.clone();
    types_or_null.push(Value::Null);
    props.insert(
        "rule_type".into(),
        json!({ "type": ["string", "null"], "enum": types_or_null }),
    );
    let mut params: Vec<Value> = RuleType::ALL.into_iter().map(parameters).collect();
    params.push(json!({ "type": "null" }));
    props.insert("parameters".into(), json!({ "oneOf": params }));
    json!({ "type": "object", "properties": props, "additionalProperties": false })
}

/// The schema as utoipa holds it. The JSON above is fixed at build time and
/// a test checks that it converts, so the fallback (any value) is never served.
pub fn to_schema(value: Value) -> RefOr<Schema> {
    serde_json::from_value(value).unwrap_or_else(|_| RefOr::T(Schema::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_converts() {
        for v in [create_request(), update_request(), target()] {
            let back = serde_json::to_value(
                serde_json::from_value::<RefOr<Schema>>(v.clone()).expect("converts"),
            )
            .expect("serialises");
            // utoipa drops what it does not model (an `enum` without a
            // `type`, say); the served document must keep every keyword.
            assert!(back == v, "a keyword was lost converting {v}");
        }
    }
}
