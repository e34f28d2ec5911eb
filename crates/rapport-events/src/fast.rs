//! Hand-written Avro binary encoder and decoder for the v1 writer schemas of
//! [`InteractionEvent`] and [`DeadLetter`], the per-event hot path of ingest and the processor.
//!
//! Why it exists: apache-avro's serde path builds a generic `Value` tree, resolves it against the
//! schema and only then writes bytes (and the reverse on decode), which the bench measured at
//! tens of microseconds per event, several times the whole per-webhook CPU budget. This module
//! writes and reads the same bytes field by field, straight from and into the Rust types.
//! apache-avro stays the schema authority: it parses the schemas, computes fingerprints and
//! resolves every record written with another schema version; this code only ever handles
//! records whose writer schema *is* the v1 schema it mirrors.
//!
//! What guards it: each layout is tied to the CRC-64-AVRO fingerprint of the schema it was
//! written for ([`FastAvro::FINGERPRINT`]); the codec enables it only when the parsed reader
//! schema has exactly that fingerprint, and a unit test fails when the `.avsc` changes, so a
//! schema edit cannot silently meet a stale layout. `tests/fast_codec.rs` proves, for arbitrary
//! values, that the bytes equal apache-avro's and that each side decodes the other's bytes to
//! the same value, and throws truncated, oversized and malformed input at the decoder.
//!
//! The decoder trusts nothing: every length prefix is checked against the bytes that remain
//! before anything is allocated for it, so a hostile record cannot make it reserve more memory
//! than the record's own size, and no input makes it panic.

use std::collections::BTreeMap;

use crate::codec::DecodeError;
use crate::{
    Channel, DeadLetter, Direction, InteractionEvent, Kind, Modifier, Party, Platform,
    ProfileCounts, Stage,
};

/// A record type with a hand-written Avro binary layout for one exact writer schema.
pub trait FastAvro: Sized {
    /// CRC-64-AVRO fingerprint of the schema whose layout this implementation hard-codes.
    const FINGERPRINT: u64;

    /// An upper bound of the datum's encoded size, to size the output buffer once.
    fn encoded_len_bound(&self) -> usize;

    /// Append the Avro binary datum (no single-object header) to `buf`.
    fn encode_datum(&self, buf: &mut Vec<u8>);

    /// Decode one datum that must span all of `input`.
    fn decode_datum(input: &[u8]) -> Result<Self, DecodeError>;
}

/// Longest zig-zag varint of a 64-bit value: ceil(64 / 7) bytes.
const MAX_VARINT_LEN: usize = 10;

// ---------------------------------------------------------------------------------------------
// Encoding

fn put_varint(buf: &mut Vec<u8>, mut z: u64) {
    // Most varints of a record (enum indexes, union branches, short lengths) take one byte: a
    // push, where the variable-length append below is a call to memcpy.
    if z < 0x80 {
        buf.push(z as u8);
        return;
    }
    // Assemble in a stack buffer and append once: one capacity check instead of one per byte.
    let mut tmp = [0u8; MAX_VARINT_LEN];
    let mut n = 0;
    while z >= 0x80 {
        tmp[n] = (z as u8) | 0x80;
        z >>= 7;
        n += 1;
    }
    tmp[n] = z as u8;
    buf.extend_from_slice(&tmp[..=n]);
}

fn put_long(buf: &mut Vec<u8>, v: i64) {
    put_varint(buf, ((v << 1) ^ (v >> 63)) as u64);
}

/// Avro `int` has the same zig-zag varint form as a `long` of the same value.
fn put_int(buf: &mut Vec<u8>, v: i32) {
    put_long(buf, i64::from(v));
}

fn put_enum(buf: &mut Vec<u8>, index: u32) {
    put_long(buf, i64::from(index));
}

fn put_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    // A Rust slice never exceeds isize::MAX bytes, so the length always fits an i64.
    put_long(buf, b.len() as i64);
    buf.extend_from_slice(b);
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    put_bytes(buf, s.as_bytes());
}

fn put_bool(buf: &mut Vec<u8>, b: bool) {
    buf.push(u8::from(b));
}

/// `["null", T]`: branch 0 is null, branch 1 carries the value.
fn put_opt<V: ?Sized>(buf: &mut Vec<u8>, v: Option<&V>, put: impl FnOnce(&mut Vec<u8>, &V)) {
    match v {
        None => put_long(buf, 0),
        Some(v) => {
            put_long(buf, 1);
            put(buf, v);
        }
    }
}

fn put_party(buf: &mut Vec<u8>, p: &Party) {
    put_str(buf, &p.id);
    put_opt(buf, p.handle.as_deref(), put_str);
    put_opt(buf, p.display_name.as_deref(), put_str);
    put_opt(buf, p.followers.as_ref(), |b, v| put_long(b, *v));
}

fn str_bound(s: &str) -> usize {
    MAX_VARINT_LEN + s.len()
}

fn opt_str_bound(s: &Option<String>) -> usize {
    1 + s.as_deref().map_or(0, str_bound)
}

fn party_bound(p: &Party) -> usize {
    str_bound(&p.id)
        + opt_str_bound(&p.handle)
        + opt_str_bound(&p.display_name)
        + 1
        + MAX_VARINT_LEN
}

// ---------------------------------------------------------------------------------------------
// Decoding

/// A cursor over the datum. Every read checks the remaining length first and reports which
/// field it was reading, so a dead letter's detail names the broken field.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn varint(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        let mut z = 0u64;
        for (i, &byte) in self.rest.iter().enumerate().take(MAX_VARINT_LEN) {
            // The tenth byte holds bit 63 only; anything more overflows 64 bits.
            if i == MAX_VARINT_LEN - 1 && byte > 1 {
                return Err(DecodeError::VarintOverflow { field });
            }
            z |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                self.rest = self.rest.get(i + 1..).unwrap_or_default();
                return Ok(z);
            }
        }
        // Either the input ended inside the varint or ten bytes all had the continuation bit
        // (which the check above already rejected as overflow).
        Err(DecodeError::Truncated { field })
    }

    fn long(&mut self, field: &'static str) -> Result<i64, DecodeError> {
        let z = self.varint(field)?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    fn int(&mut self, field: &'static str) -> Result<i32, DecodeError> {
        let value = self.long(field)?;
        i32::try_from(value).map_err(|_| DecodeError::IntOutOfRange { field, value })
    }

    fn bool(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        let (&byte, rest) = self
            .rest
            .split_first()
            .ok_or(DecodeError::Truncated { field })?;
        self.rest = rest;
        match byte {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::InvalidBool { field, byte }),
        }
    }

    /// A length prefix, validated against the remaining input before anyone allocates for it.
    fn len(&mut self, field: &'static str) -> Result<usize, DecodeError> {
        let len = self.long(field)?;
        let remaining = self.rest.len();
        match usize::try_from(len) {
            Ok(n) if n <= remaining => Ok(n),
            _ => Err(DecodeError::BadLength {
                field,
                len,
                remaining,
            }),
        }
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let (head, rest) = self
            .rest
            .split_at_checked(n)
            .ok_or(DecodeError::Truncated { field })?;
        self.rest = rest;
        Ok(head)
    }

    fn bytes(&mut self, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let n = self.len(field)?;
        self.take(n, field)
    }

    fn str(&mut self, field: &'static str) -> Result<&'a str, DecodeError> {
        let b = self.bytes(field)?;
        std::str::from_utf8(b).map_err(|_| DecodeError::InvalidUtf8 { field })
    }

    fn string(&mut self, field: &'static str) -> Result<String, DecodeError> {
        self.str(field).map(str::to_owned)
    }

    fn enum_index(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        let index = self.long(field)?;
        u32::try_from(index).map_err(|_| DecodeError::EnumIndex { field, index })
    }

    /// The branch of a `["null", T]` union: `false` for null, `true` for the value.
    fn opt_branch(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        match self.long(field)? {
            0 => Ok(false),
            1 => Ok(true),
            index => Err(DecodeError::UnionIndex { field, index }),
        }
    }

    fn opt<V>(
        &mut self,
        field: &'static str,
        read: impl FnOnce(&mut Self, &'static str) -> Result<V, DecodeError>,
    ) -> Result<Option<V>, DecodeError> {
        if self.opt_branch(field)? {
            read(self, field).map(Some)
        } else {
            Ok(None)
        }
    }

    /// A `map<string>`: blocks of `count` entries ended by a zero count. A negative count means
    /// `-count` entries preceded by the block's size in bytes (so readers can skip it); the size
    /// is checked against what the entries really took.
    fn string_map(&mut self, field: &'static str) -> Result<BTreeMap<String, String>, DecodeError> {
        let mut map = BTreeMap::new();
        loop {
            let count = self.long(field)?;
            if count == 0 {
                return Ok(map);
            }
            // Read as a plain long and only compared once the entries are read: a size that
            // cannot be right (negative, beyond the input) is the same documented strictness
            // as one that is merely wrong.
            let declared_size = if count < 0 {
                Some(self.long(field)?)
            } else {
                None
            };
            let entries = count.unsigned_abs();
            // Each entry takes at least two bytes (two length prefixes), so a count the input
            // cannot hold is rejected here instead of looping until the input runs out.
            let remaining = self.rest.len();
            if entries > (remaining / 2) as u64 {
                return Err(DecodeError::BadBlockCount {
                    field,
                    count,
                    remaining,
                });
            }
            for _ in 0..entries {
                let key = self.string(field)?;
                let value = self.string(field)?;
                map.insert(key, value);
            }
            if let Some(declared) = declared_size {
                let actual = remaining - self.rest.len();
                if i64::try_from(actual) != Ok(declared) {
                    return Err(DecodeError::BlockSizeMismatch {
                        field,
                        declared,
                        actual,
                    });
                }
            }
        }
    }

    fn finish(self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes(self.rest.len()))
        }
    }
}

fn read_enum<E>(
    r: &mut Reader<'_>,
    field: &'static str,
    from_index: fn(u32) -> Option<E>,
) -> Result<E, DecodeError> {
    let index = r.enum_index(field)?;
    from_index(index).ok_or(DecodeError::EnumIndex {
        field,
        index: i64::from(index),
    })
}

fn read_party(r: &mut Reader<'_>, path: PartyPath) -> Result<Party, DecodeError> {
    Ok(Party {
        id: r.string(path.id)?,
        handle: r.opt(path.handle, Reader::string)?,
        display_name: r.opt(path.display_name, Reader::string)?,
        followers: r.opt(path.followers, Reader::long)?,
    })
}

/// Field names for error messages of the two `Party` fields, kept `'static` so errors cost no
/// allocation.
#[derive(Clone, Copy)]
struct PartyPath {
    id: &'static str,
    handle: &'static str,
    display_name: &'static str,
    followers: &'static str,
}

const ACTOR: PartyPath = PartyPath {
    id: "actor.id",
    handle: "actor.handle",
    display_name: "actor.display_name",
    followers: "actor.followers",
};

const ADDRESSED: PartyPath = PartyPath {
    id: "addressed.id",
    handle: "addressed.handle",
    display_name: "addressed.display_name",
    followers: "addressed.followers",
};

// ---------------------------------------------------------------------------------------------
// The two records, field by field in schema order.

impl FastAvro for InteractionEvent {
    /// `schemas/avro/interaction_event.v1.avsc`.
    const FINGERPRINT: u64 = 0x346b_eae0_b7df_55e3;

    fn encoded_len_bound(&self) -> usize {
        // 5 enums + automated + 7 union branch indexes: one byte each (indexes are below 64).
        13 + str_bound(&self.event_id)
            + str_bound(&self.brand_id)
            + str_bound(&self.brand_account_id)
            + party_bound(&self.actor)
            + self.addressed.as_ref().map_or(0, party_bound)
            + str_bound(&self.object_id)
            + opt_str_bound(&self.parent_id)
            + opt_str_bound(&self.root_id)
            + opt_str_bound(&self.text)
            + opt_str_bound(&self.reaction)
            + 2 * MAX_VARINT_LEN
            + self.profile.map_or(0, |_| 3 * MAX_VARINT_LEN + 1)
            + str_bound(&self.source)
    }

    fn encode_datum(&self, buf: &mut Vec<u8>) {
        put_str(buf, &self.event_id);
        put_enum(buf, self.platform.index());
        put_str(buf, &self.brand_id);
        put_str(buf, &self.brand_account_id);
        put_enum(buf, self.kind.index());
        put_enum(buf, self.modifier.index());
        put_enum(buf, self.direction.index());
        put_enum(buf, self.channel.index());
        put_party(buf, &self.actor);
        put_opt(buf, self.addressed.as_ref(), put_party);
        put_str(buf, &self.object_id);
        put_opt(buf, self.parent_id.as_deref(), put_str);
        put_opt(buf, self.root_id.as_deref(), put_str);
        put_opt(buf, self.text.as_deref(), put_str);
        put_opt(buf, self.reaction.as_deref(), put_str);
        put_bool(buf, self.automated);
        put_long(buf, self.occurred_at);
        put_long(buf, self.received_at);
        put_opt(buf, self.profile.as_ref(), |b, p| {
            put_long(b, p.followers);
            put_long(b, p.following);
            put_opt(b, p.posts.as_ref(), |b, v| put_long(b, *v));
        });
        put_str(buf, &self.source);
    }

    fn decode_datum(input: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader { rest: input };
        let event = InteractionEvent {
            event_id: r.string("event_id")?,
            platform: read_enum(&mut r, "platform", Platform::from_index)?,
            brand_id: r.string("brand_id")?,
            brand_account_id: r.string("brand_account_id")?,
            kind: read_enum(&mut r, "kind", Kind::from_index)?,
            modifier: read_enum(&mut r, "modifier", Modifier::from_index)?,
            direction: read_enum(&mut r, "direction", Direction::from_index)?,
            channel: read_enum(&mut r, "channel", Channel::from_index)?,
            actor: read_party(&mut r, ACTOR)?,
            addressed: r.opt("addressed", |r, _| read_party(r, ADDRESSED))?,
            object_id: r.string("object_id")?,
            parent_id: r.opt("parent_id", Reader::string)?,
            root_id: r.opt("root_id", Reader::string)?,
            text: r.opt("text", Reader::string)?,
            reaction: r.opt("reaction", Reader::string)?,
            automated: r.bool("automated")?,
            occurred_at: r.long("occurred_at")?,
            received_at: r.long("received_at")?,
            profile: r.opt("profile", |r, _| {
                Ok(ProfileCounts {
                    followers: r.long("profile.followers")?,
                    following: r.long("profile.following")?,
                    posts: r.opt("profile.posts", Reader::long)?,
                })
            })?,
            source: r.string("source")?,
        };
        r.finish()?;
        Ok(event)
    }
}

impl FastAvro for DeadLetter {
    /// `schemas/avro/dead_letter.v1.avsc`.
    const FINGERPRINT: u64 = 0x061f_946a_d48d_8e5f;

    fn encoded_len_bound(&self) -> usize {
        // stage + two union branch indexes + the map's closing zero and block count.
        4 + MAX_VARINT_LEN
            + str_bound(&self.dead_letter_id)
            + str_bound(&self.reason)
            + str_bound(&self.detail)
            + str_bound(&self.source)
            + self
                .headers
                .iter()
                .map(|(k, v)| str_bound(k) + str_bound(v))
                .sum::<usize>()
            + MAX_VARINT_LEN
            + self.payload.len()
            + 3 * MAX_VARINT_LEN
    }

    fn encode_datum(&self, buf: &mut Vec<u8>) {
        put_str(buf, &self.dead_letter_id);
        put_enum(buf, self.stage.index());
        put_str(buf, &self.reason);
        put_str(buf, &self.detail);
        put_str(buf, &self.source);
        // apache-avro writes a non-empty map as one block (count, entries, 0) and an empty map
        // as the bare terminator; the same shape here keeps the bytes identical. Entries come
        // in key order (apache-avro's order is its HashMap's, i.e. arbitrary).
        if !self.headers.is_empty() {
            // A map in memory never holds more than isize::MAX entries.
            put_long(buf, self.headers.len() as i64);
            for (k, v) in &self.headers {
                put_str(buf, k);
                put_str(buf, v);
            }
        }
        put_long(buf, 0);
        put_bytes(buf, &self.payload);
        put_opt(buf, self.partition.as_ref(), |b, v| put_int(b, *v));
        put_opt(buf, self.offset.as_ref(), |b, v| put_long(b, *v));
        put_long(buf, self.occurred_at);
    }

    fn decode_datum(input: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader { rest: input };
        let dead_letter = DeadLetter {
            dead_letter_id: r.string("dead_letter_id")?,
            stage: read_enum(&mut r, "stage", Stage::from_index)?,
            reason: r.string("reason")?,
            detail: r.string("detail")?,
            source: r.string("source")?,
            headers: r.string_map("headers")?,
            payload: r.bytes("payload")?.to_vec(),
            partition: r.opt("partition", Reader::int)?,
            offset: r.opt("offset", Reader::long)?,
            occurred_at: r.long("occurred_at")?,
        };
        r.finish()?;
        Ok(dead_letter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{fingerprint_of, DEAD_LETTER_V1_AVSC, INTERACTION_EVENT_V1_AVSC};

    /// Fails when a `.avsc` changes: the hand-written layouts above must then be reviewed
    /// against the new schema and the constants updated (or the codec silently falls back to
    /// apache-avro for that type, which is correct but slow).
    #[test]
    fn layouts_match_the_embedded_schemas() {
        let event = apache_avro::Schema::parse_str(INTERACTION_EVENT_V1_AVSC).expect("parse");
        let dead_letter = apache_avro::Schema::parse_str(DEAD_LETTER_V1_AVSC).expect("parse");
        assert_eq!(
            fingerprint_of(&event),
            <InteractionEvent as FastAvro>::FINGERPRINT
        );
        assert_eq!(
            fingerprint_of(&dead_letter),
            <DeadLetter as FastAvro>::FINGERPRINT
        );
    }

    /// `put_varint`, one-byte shortcut included, against the plain LEB128 definition: seven
    /// bits per byte, low first, the high bit set on every byte but the last.
    #[test]
    fn varints_are_plain_leb128() {
        let plain = |mut z: u64| {
            let mut out = Vec::new();
            loop {
                let low = (z & 0x7f) as u8;
                z >>= 7;
                if z == 0 {
                    out.push(low);
                    return out;
                }
                out.push(low | 0x80);
            }
        };
        let shifts = (0..64).flat_map(|s| {
            let p = 1u64 << s;
            [p - 1, p, p + 1]
        });
        for z in (0..=0x4000).chain(shifts).chain([u64::MAX]) {
            let mut buf = vec![0xAA];
            put_varint(&mut buf, z);
            assert_eq!(buf[1..], plain(z), "{z:#x}");
            assert_eq!(Reader { rest: &buf[1..] }.varint("x").ok(), Some(z));
        }
    }

    #[test]
    fn varint_reader_accepts_the_widest_value_and_rejects_one_bit_more() {
        let mut max = vec![0xffu8; 9];
        max.push(0x01);
        assert_eq!(Reader { rest: &max }.varint("x").ok(), Some(u64::MAX));
        let mut over = vec![0xffu8; 9];
        over.push(0x02);
        assert!(matches!(
            Reader { rest: &over }.varint("x"),
            Err(DecodeError::VarintOverflow { field: "x" })
        ));
    }

    #[test]
    fn bounds_cover_the_encoded_size() {
        let dl = DeadLetter {
            dead_letter_id: "d".repeat(300),
            stage: Stage::Process,
            reason: "r".into(),
            detail: String::new(),
            source: "s".into(),
            headers: [("k".repeat(200), "v".repeat(200))].into(),
            payload: vec![7; 1000],
            partition: Some(i32::MIN),
            offset: Some(i64::MIN),
            occurred_at: i64::MAX,
        };
        let mut buf = Vec::new();
        dl.encode_datum(&mut buf);
        assert!(buf.len() <= dl.encoded_len_bound());
    }
}
