//! The JSON tree the adapters read and small accessors over it: parse a body with bounded
//! depth into a tree that borrows its strings from the body, read ids as opaque strings
//! whatever their JSON type, and turn a missing required field into `Malformed` with the
//! field's path in the reason.
//!
//! The adapters read trees rather than typed structs because platform payloads vary by app
//! setting, API version and login model, and most fields are optional; one tolerant reader
//! with explicit "required" calls keeps that variation visible at the call site. The tree is
//! rapport's own rather than `serde_json::Value` because a webhook body is read once and
//! dropped: strings without escapes point into the body instead of being copied, and an
//! object is a short vector of pairs instead of a B-tree, which took most of the allocations
//! off every delivery (verify + normalize of a Meta comment a quarter faster, of an X reply or
//! an Instagram DM ~40%, in the `normalize` bench). Semantics follow `serde_json::Value`:
//! the last of duplicate keys wins, integers keep their exact value, floats are `f64`.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::IngestError;

/// A parsed JSON value whose strings borrow from the body when they hold no escapes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<Value<'a>>),
    Object(Map<'a>),
}

/// A JSON number as serde_json reads it without `arbitrary_precision`: non-negative integers
/// as `u64`, negative ones as `i64`, everything else as `f64`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Number {
    PosInt(u64),
    NegInt(i64),
    Float(f64),
}

/// A JSON object: its members in body order. Objects in webhook bodies have a handful to a
/// few dozen keys (an X user object about 40), read a few times each, where a linear scan
/// beats building any index; a larger one (X's `users` map of a DM batch can hold thousands,
/// read once per message) also gets a sorted index, so a lookup never costs more than 64
/// comparisons or a binary search.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Map<'a> {
    members: Vec<(Cow<'a, str>, Value<'a>)>,
    /// Positions in `members` by key, equal keys by descending position (the last duplicate
    /// first); `None` for a small object. Boxed so that every [`Value`] stays as small as
    /// with one vector (32 bytes).
    #[allow(
        clippy::box_collection,
        reason = "one pointer here keeps every Value at 32 bytes"
    )]
    by_key: Option<Box<Vec<usize>>>,
}

/// Objects with more members than this get the sorted index.
const INDEXED_ABOVE: usize = 64;

impl<'a> Map<'a> {
    fn new(members: Vec<(Cow<'a, str>, Value<'a>)>) -> Map<'a> {
        let by_key = (members.len() > INDEXED_ABOVE).then(|| {
            let mut by_key: Vec<usize> = (0..members.len()).collect();
            by_key.sort_unstable_by(|&a, &b| members[a].0.cmp(&members[b].0).then(b.cmp(&a)));
            Box::new(by_key)
        });
        Map { members, by_key }
    }

    /// The value of `key`; of duplicate keys the last, as `serde_json::Value` keeps it.
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        let Some(by_key) = &self.by_key else {
            return self
                .members
                .iter()
                .rev()
                .find(|(k, _)| k.as_ref() == key)
                .map(|(_, v)| v);
        };
        let first = by_key.partition_point(|&i| self.members[i].0.as_ref() < key);
        let &i = by_key.get(first)?;
        let (k, v) = &self.members[i];
        (k.as_ref() == key).then_some(v)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Members in body order, duplicates included.
    #[cfg(test)]
    fn members(&self) -> &[(Cow<'a, str>, Value<'a>)] {
        &self.members
    }
}

impl<'a> Value<'a> {
    /// The member `key` of an object; `None` for a missing key or a non-object.
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        match self {
            Value::Object(m) => m.get(key),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&Vec<Value<'a>>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&Map<'a>> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// An integer that fits `i64`, as `serde_json::Value::as_i64`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Number(Number::PosInt(n)) => i64::try_from(*n).ok(),
            Value::Number(Number::NegInt(n)) => Some(*n),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn is_object(&self) -> bool {
        matches!(self, Value::Object(_))
    }
}

impl<'de> Deserialize<'de> for Value<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TreeVisitor)
    }
}

struct TreeVisitor;

impl<'de> Visitor<'de> for TreeVisitor {
    type Value = Value<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value<'de>, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value<'de>, E> {
        Ok(Value::Number(if n < 0 {
            Number::NegInt(n)
        } else {
            Number::PosInt(n as u64)
        }))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value<'de>, E> {
        Ok(Value::Number(Number::PosInt(n)))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Value<'de>, E> {
        Ok(Value::Number(Number::Float(n)))
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Value<'de>, E> {
        Ok(Value::String(Cow::Borrowed(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value<'de>, E> {
        Ok(Value::String(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E>(self, s: String) -> Result<Value<'de>, E> {
        Ok(Value::String(Cow::Owned(s)))
    }

    fn visit_unit<E>(self) -> Result<Value<'de>, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value<'de>, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value<'de>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value<'de>, A::Error> {
        let mut members = Vec::new();
        while let Some((key, value)) = map.next_entry::<Key<'de>, Value<'de>>()? {
            members.push((key.0, value));
        }
        Ok(Value::Object(Map::new(members)))
    }
}

/// An object key, borrowed from the body when it holds no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }

            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }

            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }

            fn visit_string<E>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// Parse a delivery body (into [`Value`], or any other deserializable shape). serde_json
/// refuses nesting deeper than 128 levels, so hostile depth is a `Malformed` error, not a stack
/// overflow.
///
/// The body's UTF-8 is checked once, whole, and then read as `str`: reading bytes, serde_json
/// checks every string again (a third of the parse for a Meta comment). A body that is not
/// UTF-8 is read as bytes, so its error is serde_json's own, as before.
pub(crate) fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, IngestError> {
    match std::str::from_utf8(body) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(body),
    }
    .map_err(|e| IngestError::malformed(format!("invalid JSON: {e}")))
}

/// A string field.
pub(crate) fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key)?.as_str()
}

/// An id field as a string: ids are opaque (FORMATS.md §0), but some payloads send them as JSON
/// numbers (Messenger `app_id`, X v1.1 `id`). Integers keep their exact digits; floats are not
/// ids and yield `None`.
pub(crate) fn id_at(v: &Value, key: &str) -> Option<String> {
    id_ref(v, key).map(Cow::into_owned)
}

/// [`id_at`] without the copy: a string id borrows from the tree, so an id that is only
/// compared, hashed into the event id or looked up costs no allocation.
pub(crate) fn id_ref<'a>(v: &'a Value, key: &str) -> Option<Cow<'a, str>> {
    match v.get(key)? {
        Value::String(s) if !s.is_empty() => Some(Cow::Borrowed(s)),
        Value::Number(Number::PosInt(n)) => Some(Cow::Owned(n.to_string())),
        Value::Number(Number::NegInt(n)) => Some(Cow::Owned(n.to_string())),
        _ => None,
    }
}

/// An integer field given as a JSON integer or as a decimal string (X sends both).
pub(crate) fn int_at(v: &Value, key: &str) -> Option<i64> {
    match v.get(key)? {
        n @ Value::Number(_) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

pub(crate) fn bool_at(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

pub(crate) fn obj_at<'a, 'b>(v: &'a Value<'b>, key: &str) -> Option<&'a Map<'b>> {
    v.get(key)?.as_object()
}

pub(crate) fn require<'a, 'b>(
    v: &'a Value<'b>,
    key: &str,
    what: &str,
) -> Result<&'a Value<'b>, IngestError> {
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

/// [`require_id`], borrowing as [`id_ref`] does.
pub(crate) fn require_id_ref<'a>(
    v: &'a Value,
    key: &str,
    what: &str,
) -> Result<Cow<'a, str>, IngestError> {
    id_ref(v, key).ok_or_else(|| missing(what, key))
}

pub(crate) fn require_array<'a, 'b>(
    v: &'a Value<'b>,
    key: &str,
    what: &str,
) -> Result<&'a Vec<Value<'b>>, IngestError> {
    v.get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| missing(what, key))
}

/// An optional array: absent or null is empty, any other non-array is malformed.
pub(crate) fn array_or_empty<'a, 'b>(
    v: &'a Value<'b>,
    key: &str,
    what: &str,
) -> Result<&'a [Value<'b>], IngestError> {
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

    /// The tree of a `json!` value, through its text.
    fn tree(v: &serde_json::Value) -> Value<'static> {
        let text = v.to_string();
        owned(parse::<Value>(text.as_bytes()).expect("valid JSON"))
    }

    fn owned(v: Value<'_>) -> Value<'static> {
        let text = |s: Cow<'_, str>| Cow::Owned(s.into_owned());
        match v {
            Value::Null => Value::Null,
            Value::Bool(b) => Value::Bool(b),
            Value::Number(n) => Value::Number(n),
            Value::String(s) => Value::String(text(s)),
            Value::Array(a) => Value::Array(a.into_iter().map(owned).collect()),
            Value::Object(m) => Value::Object(Map::new(
                m.members
                    .into_iter()
                    .map(|(k, v)| (text(k), owned(v)))
                    .collect(),
            )),
        }
    }

    #[test]
    fn ids_keep_exact_integer_digits_and_refuse_floats_and_empties() {
        let v = tree(&json!({"a": 1296887316556980230_u64, "b": "x", "c": 1.5, "d": "", "e": -3}));
        assert_eq!(id_at(&v, "a").as_deref(), Some("1296887316556980230"));
        assert_eq!(id_at(&v, "b").as_deref(), Some("x"));
        assert_eq!(id_at(&v, "c"), None);
        assert_eq!(id_at(&v, "d"), None);
        assert_eq!(id_at(&v, "e").as_deref(), Some("-3"));
        for key in ["a", "b", "c", "d", "e", "missing"] {
            assert_eq!(id_ref(&v, key).map(Cow::into_owned), id_at(&v, key));
        }
        assert!(matches!(id_ref(&v, "b"), Some(Cow::Borrowed("x"))));
        assert!(require_id_ref(&v, "d", "thing").is_err());
    }

    #[test]
    fn integers_come_from_numbers_or_decimal_strings() {
        let v = tree(&json!({"a": 5, "b": "1598037905123", "c": "x", "d": 1e300}));
        assert_eq!(int_at(&v, "a"), Some(5));
        assert_eq!(int_at(&v, "b"), Some(1_598_037_905_123));
        assert_eq!(int_at(&v, "c"), None);
        assert_eq!(int_at(&v, "d"), None);
    }

    #[test]
    fn deep_nesting_is_malformed_not_a_crash() {
        let body = "[".repeat(100_000);
        assert!(matches!(
            parse::<Value>(body.as_bytes()),
            Err(IngestError::Malformed { .. })
        ));
    }

    #[test]
    fn strings_borrow_unless_escaped_and_the_last_duplicate_key_wins() {
        let body = br#"{"a": "plain", "b": "tab\tand \u00e9", "a": "again", "c\u0041": 1}"#;
        let v: Value = parse(body).expect("valid JSON");
        assert!(matches!(v.get("b"), Some(Value::String(Cow::Owned(s))) if s == "tab\tand \u{e9}"));
        assert!(matches!(
            v.get("a"),
            Some(Value::String(Cow::Borrowed("again")))
        ));
        assert_eq!(int_at(&v, "cA"), Some(1));
        assert!(v.get("d").is_none());
    }

    /// Whether our tree holds what `serde_json::Value` holds (objects: the same keys, each with
    /// the value of its last duplicate).
    fn same(ours: &Value<'_>, theirs: &serde_json::Value) -> bool {
        use serde_json::Value as J;
        match (ours, theirs) {
            (Value::Null, J::Null) => true,
            (Value::Bool(a), J::Bool(b)) => a == b,
            (Value::Number(Number::PosInt(a)), J::Number(b)) => b.as_u64() == Some(*a),
            (Value::Number(Number::NegInt(a)), J::Number(b)) => {
                b.as_i64() == Some(*a) && !b.is_u64()
            }
            (Value::Number(Number::Float(a)), J::Number(b)) => {
                b.is_f64() && b.as_f64().map(f64::to_bits) == Some(a.to_bits())
            }
            (Value::String(a), J::String(b)) => a == b,
            (Value::Array(a), J::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
            }
            (Value::Object(a), J::Object(b)) => {
                a.members().iter().all(|(k, _)| b.contains_key(k.as_ref()))
                    && b.iter().all(|(k, y)| a.get(k).is_some_and(|x| same(x, y)))
            }
            _ => false,
        }
    }

    /// Parses `body` both ways: both refuse it, or both read the same tree.
    fn agree(body: &str) {
        let ours = parse::<Value>(body.as_bytes());
        let theirs = serde_json::from_str::<serde_json::Value>(body);
        match (&ours, &theirs) {
            (Ok(o), Ok(t)) => assert!(same(o, t), "{body:.80} reads differently"),
            (Err(_), Err(_)) => {}
            _ => panic!("{body:.80}: ours {ours:?}, serde_json {theirs:?}"),
        }
    }

    #[test]
    fn edge_cases_read_as_serde_json_reads_them() {
        for body in [
            "-0",
            "0",
            "1e2",
            "-1.5e-7",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "1.7976931348623157e308",
            "1e400",
            r#""\ud800""#,
            r#""\ud83d\ude00 and \"quotes\"""#,
            r#"{"k\u0065y": 1, "key": 2}"#,
            r#"{"a": 1, "a": {"b": [true, null]}}"#,
            "[1, 2,]",
            "{} x",
            "",
        ] {
            agree(body);
        }
        for depth in [127, 128, 129] {
            agree(&format!("{}{}", "[".repeat(depth), "]".repeat(depth)));
        }
    }

    #[test]
    fn the_index_does_not_grow_values() {
        assert_eq!(std::mem::size_of::<Value<'_>>(), 32);
    }

    #[test]
    fn large_objects_find_every_key_and_the_last_duplicate() {
        let mut body = String::from("{");
        for i in 0..200 {
            body.push_str(&format!(r#""k{}": {i}, "#, i % 150));
        }
        body.push_str(r#""z": "end"}"#);
        agree(&body);
        let v: Value = parse(body.as_bytes()).expect("valid JSON");
        assert!(matches!(v.as_object(), Some(m) if m.by_key.is_some()));
        assert_eq!(int_at(&v, "k3"), Some(153));
        assert_eq!(int_at(&v, "k149"), Some(149));
        assert_eq!(str_at(&v, "z"), Some("end"));
        assert!(v.get("k150").is_none() && v.get("").is_none() && v.get("zz").is_none());
    }

    /// `parse` as plainly defined: serde_json reading the bytes.
    fn parse_plain<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, String> {
        serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))
    }

    fn reason<T>(result: Result<T, IngestError>) -> Result<T, String> {
        result.map_err(|e| match e {
            IngestError::Malformed { reason } => reason,
            other => panic!("not a Malformed error: {other:?}"),
        })
    }

    /// `parse` and `parse_plain` accept the same bodies, read them alike and refuse the rest
    /// with the same message.
    fn parses_as_plain(body: &[u8]) {
        let ours = reason(parse::<serde_json::Value>(body));
        let plain = parse_plain::<serde_json::Value>(body);
        assert_eq!(ours, plain, "{:?}", String::from_utf8_lossy(body));
        let tree = reason(parse::<Value>(body));
        match (&tree, &plain) {
            (Ok(t), Ok(p)) => assert!(same(t, p), "{:?}", String::from_utf8_lossy(body)),
            (Err(t), Err(p)) => assert_eq!(t, p),
            _ => panic!("{:?}: {tree:?} vs {plain:?}", String::from_utf8_lossy(body)),
        }
    }

    const UTF8_BODY: &str =
        r#"{"text": "caf\u00e9 café 😀 \ud83d\ude00", "n": [1, -2, 3.5e1], "k\"": null}"#;

    #[test]
    fn bodies_that_are_not_utf8_are_refused_as_serde_json_refuses_them() {
        let mut cases: Vec<Vec<u8>> = vec![
            b"{\"a\": \"\xff\"}".to_vec(),
            b"{\"a\": \"ok\"}\xff".to_vec(),
            b"\xef\xbb\xbf{}".to_vec(),
            b"{\"a\": \"\xc3\"}".to_vec(),
            b"{\"\xed\xa0\x80\": 1}".to_vec(),
            b"{\"a\": \"\\ud800\"}".to_vec(),
            b"{\"a\": \"\x01\"}".to_vec(),
            b"".to_vec(),
        ];
        // Every prefix of a body with multi-byte characters: some cut one in half.
        let body = UTF8_BODY.as_bytes();
        cases.extend((0..=body.len()).map(|n| body[..n].to_vec()));
        for case in cases {
            parses_as_plain(&case);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 2048, ..Default::default() })]

        #[test]
        fn mutated_bodies_parse_as_plain_serde_json_parses_them(
            edits in proptest::collection::vec((0usize..200, proptest::prelude::any::<u8>()), 0..4),
        ) {
            let mut body = UTF8_BODY.as_bytes().to_vec();
            for (at, byte) in edits {
                let at = at % (body.len() + 1);
                if at == body.len() {
                    body.push(byte);
                } else {
                    body[at] = byte;
                }
            }
            parses_as_plain(&body);
        }
    }

    /// The tree reads every real sample as `serde_json::Value` does.
    #[test]
    fn samples_read_as_serde_json_reads_them() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/platforms/samples"
        );
        let mut read = 0;
        for entry in std::fs::read_dir(dir).expect("samples present") {
            let path = entry.expect("readable dir").path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let body = std::fs::read(&path).expect("readable sample");
            let theirs: serde_json::Value = serde_json::from_slice(&body).expect("valid sample");
            let ours: Value = parse(&body).expect("valid sample");
            assert!(same(&ours, &theirs), "{} reads differently", path.display());
            read += 1;
        }
        assert!(read > 10, "only {read} samples found in {dir}");
    }
}
