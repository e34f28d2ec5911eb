//! [`PlatformId`]: a platform's user or item id as carried in thread rows. Most platform ids
//! are decimal numbers of 13–19 digits; those are held as the number, so emitting a row costs
//! no digit formatting: the digits are written once, by whatever prints or serializes the row
//! (ClickHouse's `String` column, JSON, `Debug`). Every other id is held as its text.
//!
//! Outside this module a `PlatformId` behaves like the string it stands for: it prints,
//! serializes, compares, orders and deserializes as that string.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use smol_str::SmolStr;

/// A platform id (user or item); see the module docs. `Default` is the empty id.
///
/// Its `Hash` agrees with its `Eq` (the representation is canonical) but does not hash to the
/// string's value, so it offers no `Borrow<str>`: maps keyed by it are looked up by id.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PlatformId(Repr);

/// Canonical: an id is `Num` exactly when its text is [`canonical_number`], so the derived
/// equality and hash agree with the strings'.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Repr {
    Num(u64),
    Text(SmolStr),
}

impl Default for PlatformId {
    fn default() -> Self {
        PlatformId(Repr::Text(SmolStr::default()))
    }
}

impl PlatformId {
    pub fn new(s: &str) -> Self {
        match canonical_number(s) {
            Some(n) => PlatformId(Repr::Num(n)),
            None => PlatformId(Repr::Text(SmolStr::new(s))),
        }
    }

    /// The id whose text is the decimal form of `n`; `n` must be below 2^63 (what
    /// [`canonical_number`] accepts), larger values are kept as text to stay canonical.
    pub(crate) fn from_number(n: u64) -> Self {
        if n < 1 << 63 {
            PlatformId(Repr::Num(n))
        } else {
            PlatformId(Repr::Text(SmolStr::new(itoa::Buffer::new().format(n))))
        }
    }

    pub fn is_empty(&self) -> bool {
        matches!(&self.0, Repr::Text(s) if s.is_empty())
    }

    /// Calls `f` with the id's text (formatted on the stack for a numeric id).
    pub fn with_str<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        match &self.0 {
            Repr::Num(n) => f(itoa::Buffer::new().format(*n)),
            Repr::Text(s) => f(s),
        }
    }

    pub fn to_smol_str(&self) -> SmolStr {
        match &self.0 {
            Repr::Num(n) => SmolStr::new(itoa::Buffer::new().format(*n)),
            Repr::Text(s) => s.clone(),
        }
    }
}

impl From<&str> for PlatformId {
    fn from(s: &str) -> Self {
        PlatformId::new(s)
    }
}

/// As the string's `Display`, width, fill and alignment included.
impl fmt::Display for PlatformId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.with_str(|s| f.pad(s))
    }
}

/// As the string's `Debug` (quoted, escaped), so printed rows read as before.
impl fmt::Debug for PlatformId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.with_str(|s| fmt::Debug::fmt(s, f))
    }
}

impl PartialEq<str> for PlatformId {
    fn eq(&self, other: &str) -> bool {
        match &self.0 {
            Repr::Num(n) => canonical_number(other) == Some(*n),
            Repr::Text(s) => s == other,
        }
    }
}

impl PartialEq<&str> for PlatformId {
    fn eq(&self, other: &&str) -> bool {
        *self == **other
    }
}

/// The strings' order (`"10" < "9"`), so sorting rows by id sorts them as before.
impl Ord for PlatformId {
    fn cmp(&self, other: &Self) -> Ordering {
        self.with_str(|a| other.with_str(|b| a.cmp(b)))
    }
}

impl PartialOrd for PlatformId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Serialize for PlatformId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.with_str(|s| serializer.serialize_str(s))
    }
}

impl<'de> Deserialize<'de> for PlatformId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = PlatformId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a platform id string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<PlatformId, E> {
                Ok(PlatformId::new(v))
            }
            // Formats that send strings as bytes (as `String` accepts them when UTF-8).
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<PlatformId, E> {
                std::str::from_utf8(v)
                    .map(PlatformId::new)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Bytes(v), &self))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// The value of a decimal id in canonical form (no sign, no leading zero, below 2^63), or
/// `None`: such ids are the ones kept as numbers, here and in the thread store's arena.
pub(crate) fn canonical_number(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 19 || (b[0] == b'0' && b.len() > 1) {
        return None;
    }
    // Leading digits one at a time, then eight at a time (13–19-digit ids: one or two
    // groups), each group tested and converted in one 8-byte word.
    let (head, groups) = b.split_at(b.len() % 8);
    let mut n = 0u64;
    for &c in head {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(c - b'0');
    }
    for g in groups.chunks_exact(8) {
        let w = u64::from_le_bytes(<[u8; 8]>::try_from(g).ok()?);
        n = n * 100_000_000 + u64::from(eight_digits(w)?);
    }
    (n < 1 << 63).then_some(n)
}

/// The value of eight ASCII decimal digits (first digit in the lowest byte), or `None` if
/// a byte is not a digit.
#[inline]
fn eight_digits(w: u64) -> Option<u32> {
    const LANES: u64 = 0x0101_0101_0101_0101;
    // Every byte in 0x30..=0x39: high nibble 3, and adding 6 does not carry out of it.
    if w & (0xF0 * LANES) != 0x30 * LANES
        || w.wrapping_add(0x06 * LANES) & (0xF0 * LANES) != 0x30 * LANES
    {
        return None;
    }
    let v = w & (0x0F * LANES);
    let v = v.wrapping_mul(10 << 8 | 1) >> 8 & 0x00FF_00FF_00FF_00FF;
    let v = v.wrapping_mul(100 << 16 | 1) >> 16 & 0x0000_FFFF_0000_FFFF;
    Some((v.wrapping_mul(10_000 << 32 | 1) >> 32) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CASES: [&str; 14] = [
        "",
        "0",
        "00",
        "7",
        "10",
        "9",
        "1234567890123456789",
        "9223372036854775807",
        "9223372036854775808",
        "01234",
        "-5",
        "obj-e1",
        "t_17",
        "école",
    ];

    #[test]
    fn behaves_as_its_string() {
        for a in CASES {
            let id = PlatformId::new(a);
            assert_eq!(id.to_string(), a);
            assert_eq!(format!("{id:>22}|{id:-<4}"), format!("{a:>22}|{a:-<4}"));
            assert_eq!(format!("{id:?}"), format!("{a:?}"));
            assert_eq!(id.to_smol_str(), a);
            assert!(id == a, "{a:?}");
            assert_eq!(id.is_empty(), a.is_empty());
            assert_eq!(
                serde_json::to_string(&id).ok(),
                serde_json::to_string(a).ok()
            );
            let back: PlatformId =
                serde_json::from_str(&serde_json::to_string(a).unwrap()).unwrap();
            assert_eq!(back, id);
            for b in CASES {
                let other = PlatformId::new(b);
                assert_eq!(id.cmp(&other), a.cmp(b), "{a:?} vs {b:?}");
                assert_eq!(id == other, a == b, "{a:?} vs {b:?}");
                assert_eq!(id == b, a == b, "{a:?} vs {b:?}");
            }
        }
        assert_eq!(PlatformId::default(), PlatformId::new(""));
    }

    #[test]
    fn deserializes_from_utf8_bytes_as_string_does() {
        use serde::de::value::{BytesDeserializer, Error};
        for a in CASES {
            let id = PlatformId::deserialize(BytesDeserializer::<Error>::new(a.as_bytes()));
            assert_eq!(id.ok(), Some(PlatformId::new(a)));
        }
        let bad = PlatformId::deserialize(BytesDeserializer::<Error>::new(&[0xFF, b'1']));
        assert!(bad.is_err());
    }

    #[test]
    fn from_number_is_canonical() {
        for n in [0, 7, 10, 1 << 62, (1 << 63) - 1, 1 << 63, u64::MAX] {
            assert_eq!(PlatformId::from_number(n), PlatformId::new(&n.to_string()));
        }
    }

    proptest! {
        #[test]
        fn numeric_ids_order_and_compare_as_strings(a in 0u64..u64::MAX, b in 0u64..u64::MAX) {
            let (sa, sb) = (a.to_string(), b.to_string());
            let (ia, ib) = (PlatformId::new(&sa), PlatformId::new(&sb));
            prop_assert_eq!(ia.cmp(&ib), sa.cmp(&sb));
            prop_assert_eq!(ia.to_string(), sa);
        }
    }
}
