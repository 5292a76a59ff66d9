//! Request-field schemas built from the domain's own limits, so that the
//! OpenAPI document states what the parsers enforce (lengths, characters,
//! enums, ranges) and cannot drift from them. Used with
//! `#[schema(schema_with = ...)]` and `#[param(schema_with = ...)]`.

use crate::domain::approval::ApprovalStatus;
use crate::domain::member::{DisplayName, Email, NewPassword, Role};
use crate::domain::text::TextField;
use crate::domain::zone::DefaultPresence;
use utoipa::openapi::schema::{
    Array, ArrayBuilder, KnownFormat, Object, ObjectBuilder, SchemaFormat, SchemaType, Type,
};

fn of_type(t: Type, nullable: bool) -> ObjectBuilder {
    let schema_type = if nullable {
        SchemaType::from_iter([t, Type::Null])
    } else {
        SchemaType::new(t)
    };
    ObjectBuilder::new().schema_type(schema_type)
}

fn text(field: TextField, nullable: bool) -> Object {
    let length = if field.min == 0 {
        format!("At most {} characters", field.max)
    } else {
        format!("1 to {} characters", field.max)
    };
    of_type(Type::String, nullable)
        .pattern(Some(field.pattern()))
        .description(Some(format!(
            "{length} after trimming, without control, bidirectional or invisible characters."
        )))
        .build()
}

fn one_of(values: &[&str], nullable: bool) -> Object {
    let mut values: Vec<serde_json::Value> = values.iter().map(|v| (*v).into()).collect();
    if nullable {
        values.push(serde_json::Value::Null);
    }
    of_type(Type::String, nullable)
        .enum_values(Some(values))
        .build()
}

/// Ensures each generated function is a plain `fn() -> Object` for `schema_with`.
macro_rules! facts {
    ($($name:ident => $body:expr;)*) => {
        $(pub fn $name() -> Object { $body })*
    };
}

fn time_zones() -> Vec<&'static str> {
    chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()).collect()
}

fn roles() -> Vec<&'static str> {
    Role::ALL.iter().map(|r| r.as_str()).collect()
}

facts! {
    display_name => text(DisplayName::FIELD, false);
    display_name_opt => text(DisplayName::FIELD, true);
    email => of_type(Type::String, false)
        .pattern(Some(Email::pattern()))
        .max_length(Some(Email::MAX_CHARS))
        .build();
    email_opt => of_type(Type::String, true)
        .pattern(Some(Email::pattern()))
        .max_length(Some(Email::MAX_CHARS))
        .build();
    password => of_type(Type::String, false)
        .min_length(Some(NewPassword::MIN_CHARS))
        .max_length(Some(NewPassword::MAX_CHARS))
        .build();
    password_opt => of_type(Type::String, true)
        .min_length(Some(NewPassword::MIN_CHARS))
        .max_length(Some(NewPassword::MAX_CHARS))
        .build();
    role => one_of(&roles(), false);
    role_opt => one_of(&roles(), true);
    label_opt => text(crate::domain::key::LABEL, true);
    device_name => text(crate::domain::device::DEVICE_NAME, false);
    device_name_opt => text(crate::domain::device::DEVICE_NAME, true);
    location_opt => text(crate::domain::device::LOCATION, true);
    firmware_version => text(crate::domain::device::FIRMWARE_VERSION, false);
    zone_name => text(crate::domain::zone::ZONE_NAME, false);
    zone_name_opt => text(crate::domain::zone::ZONE_NAME, true);
    zone_description_opt => text(crate::domain::zone::ZONE_DESCRIPTION, true);
    rule_name => text(crate::domain::rule::RULE_NAME, false);
    rule_name_opt => text(crate::domain::rule::RULE_NAME, true);
    uid => of_type(Type::String, false)
        .pattern(Some(crate::domain::key::Uid::pattern()))
        .build();
    time => rfc3339(false);
    time_opt => rfc3339(true);
    key_type_opt => of_type(Type::String, true)
        .pattern(Some(crate::domain::key::KeyType::PATTERN))
        .build();
    default_presence_opt => one_of(
        &[DefaultPresence::Members.as_str(), DefaultPresence::Granted.as_str()],
        true,
    );
    approval_status => one_of(&ApprovalStatus::ALL.map(ApprovalStatus::as_str), false);
    event_type => of_type(Type::String, false)
        .pattern(Some(crate::domain::audit::EVENT_TYPE_PATTERN))
        .build();
    channel => one_of(
        &[
            crate::app::notifications::CHANNEL_WEBHOOK,
            crate::app::notifications::CHANNEL_EMAIL,
        ],
        false,
    );
    audit_format => one_of(&["json", "csv"], false);
    time_zone_opt => one_of(&time_zones(), true);
    access_type_opt => one_of(&["emergency", "conditional"], true);
}

/// An RFC 3339 time the server can store: from 1970 to 9999 (UTC).
fn rfc3339(nullable: bool) -> Object {
    of_type(Type::String, nullable)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .pattern(Some(crate::domain::TIME_PATTERN))
        .description(Some(crate::domain::TIME_RANGE_MESSAGE))
        .build()
}

/// At least one event type a subscription can name.
fn events(nullable: bool) -> Array {
    use crate::app::notifications::events::EventType;
    let names = EventType::SUBSCRIBABLE.map(EventType::as_str);
    let array_type = if nullable {
        SchemaType::from_iter([Type::Array, Type::Null])
    } else {
        SchemaType::new(Type::Array)
    };
    ArrayBuilder::new()
        .schema_type(array_type)
        .min_items(Some(1))
        .items(one_of(&names, false))
        .build()
}

pub fn subscribable_events() -> Array {
    events(false)
}

pub fn subscribable_events_opt() -> Array {
    events(true)
}

/// An unsigned 64-bit integer (utoipa states `u64` as `int64`, whose range
/// ends at 2^63 - 1).
pub fn unsigned_64() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    super::rule_schemas::to_schema(serde_json::json!({
        "type": "integer",
        "minimum": 0,
        "maximum": u64::MAX,
    }))
}
