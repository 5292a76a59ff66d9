//! JSON parsing that refuses duplicate object keys.
//!
//! serde_json keeps the last of two equal keys, so `{"role":"member",
//! "role":"admin"}` would pass a proxy or an audit that read the first one
//! and act on the second. Every JSON body the server reads goes through
//! [`parse_body`], which answers such a body with 400.

use crate::app::AppError;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Number, Value};
use std::fmt;

/// Parses a request body into a JSON value; malformed JSON and duplicate
/// keys are 400.
pub fn parse_body(bytes: &[u8]) -> Result<Value, AppError> {
    serde_json::from_slice::<StrictValue>(bytes)
        .map(|v| v.0)
        .map_err(|e| AppError::BadRequest(format!("body is not valid JSON: {e}")))
}

/// JSON has one number type: `15149.0` is the integer 15149 to JSON Schema
/// and so to the OpenAPI document. An integral value in range is kept as
/// an integer, so that a field that takes one takes it in either spelling.
fn integral(v: f64) -> Option<Number> {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if v.fract() != 0.0 {
        return None;
    }
    // Casts are exact here: `v` is a whole number within the target's range.
    if (-TWO_63..TWO_63).contains(&v) {
        Some(Number::from(v as i64))
    } else if (0.0..2.0 * TWO_63).contains(&v) {
        Some(Number::from(v as u64))
    } else {
        None
    }
}

struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(integral(v)
            .or_else(|| Number::from_f64(v))
            .map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let StrictValue(value) = map.next_value()?;
            if object.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate key \"{key}\"")));
            }
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integral_numbers_are_integers_whatever_their_spelling() {
        let v = parse_body(br#"[15149.0, 1e3, -2.0, 1.5, 1e300, 18446744073709551615.0]"#)
            .expect("json");
        assert_eq!(v[0].as_i64(), Some(15149));
        assert_eq!(v[1].as_i64(), Some(1000));
        assert_eq!(v[2].as_i64(), Some(-2));
        assert_eq!(v[3].as_f64(), Some(1.5));
        assert!(v[3].as_i64().is_none());
        assert!(v[4].as_i64().is_none() && v[4].as_u64().is_none());
        // 2^64 exactly as a float: past u64, stays a float.
        assert!(v[5].as_u64().is_none());
    }

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        for body in [
            r#"{"role":"member","role":"admin"}"#,
            r#"{"a":{"b":1,"b":2}}"#,
            r#"[{"uid":"AA","uid":"BB"}]"#,
        ] {
            let err = parse_body(body.as_bytes()).expect_err(body);
            assert!(err.to_string().contains("duplicate key"), "{err}");
        }
    }

    #[test]
    fn ordinary_json_parses_as_serde_json_does() {
        let body = r#"{"a":[1,-2,3.5,"x",null,true],"b":{"c":{}},"big":18446744073709551615}"#;
        let strict = parse_body(body.as_bytes()).expect("valid");
        let plain: Value = serde_json::from_str(body).expect("valid");
        assert_eq!(strict, plain);
    }
}
