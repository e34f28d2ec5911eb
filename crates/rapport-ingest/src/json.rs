//! Small accessors over `serde_json::Value` shared by the adapters: parse a body with bounded
//! depth, read ids as opaque strings whatever their JSON type, and turn a missing required field
//! into `Malformed` with the field's path in the reason.
//!
//! The adapters read `Value` trees rather than typed structs because platform payloads vary by
//! app setting, API version and login model, and most fields are optional; one tolerant reader
//! with explicit "required" calls keeps that variation visible at the call site.

use serde_json::{Map, Value};

use crate::IngestError;

/// Parse a delivery body. serde_json refuses nesting deeper than 128 levels, so hostile depth
/// is a `Malformed` error, not a stack overflow.
pub(crate) fn parse(body: &[u8]) -> Result<Value, IngestError> {
    serde_json::from_slice(body).map_err(|e| IngestError::malformed(format!("invalid JSON: {e}")))
}

/// A string field.
pub(crate) fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key)?.as_str()
}

/// An id field as a string: ids are opaque (FORMATS.md §0), but some payloads send them as JSON
/// numbers (Messenger `app_id`, X v1.1 `id`). Integers keep their exact digits; floats are not
/// ids and yield `None`.
pub(crate) fn id_at(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) if n.is_u64() || n.is_i64() => Some(n.to_string()),
        _ => None,
    }
}

/// An integer field given as a JSON integer or as a decimal string (X sends both).
pub(crate) fn int_at(v: &Value, key: &str) -> Option<i64> {
    match v.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

pub(crate) fn bool_at(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

pub(crate) fn obj_at<'a>(v: &'a Value, key: &str) -> Option<&'a Map<String, Value>> {
    v.get(key)?.as_object()
}

pub(crate) fn require<'a>(v: &'a Value, key: &str, what: &str) -> Result<&'a Value, IngestError> {
    v.get(key)
        .filter(|x| !x.is_null())
        .ok_or_else(|| missing(what, key))
}

pub(crate) fn require_str<'a>(v: &'a Value, key: &str, what: &str) -> Result<&'a str, IngestError> {
    str_at(v, key).ok_or_else(|| missing(what, key))
}

pub(crate) fn require_id(v: &Value, key: &str, what: &str) -> Result<String, IngestError> {
    id_at(v, key).ok_or_else(|| missing(what, key))
}

pub(crate) fn require_array<'a>(
    v: &'a Value,
    key: &str,
    what: &str,
) -> Result<&'a Vec<Value>, IngestError> {
    v.get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| missing(what, key))
}

/// An optional array: absent or null is empty, any other non-array is malformed.
pub(crate) fn array_or_empty<'a>(
    v: &'a Value,
    key: &str,
    what: &str,
) -> Result<&'a [Value], IngestError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(IngestError::malformed(format!(
            "{what}.{key} is not an array"
        ))),
    }
}

fn missing(what: &str, key: &str) -> IngestError {
    IngestError::malformed(format!("{what}.{key} is missing or has the wrong type"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_keep_exact_integer_digits_and_refuse_floats_and_empties() {
        let v = json!({"a": 1296887316556980230_u64, "b": "x", "c": 1.5, "d": "", "e": -3});
        assert_eq!(id_at(&v, "a").as_deref(), Some("1296887316556980230"));
        assert_eq!(id_at(&v, "b").as_deref(), Some("x"));
        assert_eq!(id_at(&v, "c"), None);
        assert_eq!(id_at(&v, "d"), None);
        assert_eq!(id_at(&v, "e").as_deref(), Some("-3"));
    }

    #[test]
    fn integers_come_from_numbers_or_decimal_strings() {
        let v = json!({"a": 5, "b": "1598037905123", "c": "x", "d": 1e300});
        assert_eq!(int_at(&v, "a"), Some(5));
        assert_eq!(int_at(&v, "b"), Some(1_598_037_905_123));
        assert_eq!(int_at(&v, "c"), None);
        assert_eq!(int_at(&v, "d"), None);
    }

    #[test]
    fn deep_nesting_is_malformed_not_a_crash() {
        let body = "[".repeat(100_000);
        assert!(matches!(
            parse(body.as_bytes()),
            Err(IngestError::Malformed { .. })
        ));
    }
}
