//! Avro single-object encoding and decoding of the event records.
//!
//! Owns: the header (`C3 01` + little-endian CRC-64-AVRO fingerprint of the writer schema's
//! canonical form), the set of writer schemas a reader accepts, and schema resolution when the
//! writer is an older or newer version. Does not own: transport, or what to do with a record
//! that fails to decode (the caller dead-letters it).

use std::collections::HashMap;
use std::marker::PhantomData;

use apache_avro::Schema;
use serde::{de::DeserializeOwned, Serialize};

use crate::fast::FastAvro;
use crate::fingerprint::rabin_fingerprint;
use crate::{DeadLetter, InteractionEvent, DEAD_LETTER_V1_AVSC, INTERACTION_EVENT_V1_AVSC};

/// The two marker bytes that open every single-object encoded record.
pub const SINGLE_OBJECT_MAGIC: [u8; 2] = [0xC3, 0x01];
const HEADER_LEN: usize = 10;

/// A record that could not be encoded: a value the schema does not admit (a bug, not input).
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("value does not fit schema {schema}")]
    Avro {
        schema: &'static str,
        #[source]
        source: Box<apache_avro::Error>,
    },
}

/// Bytes that are not a record this reader understands. Always the input's fault.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("record of {0} bytes is shorter than the single-object header")]
    TooShort(usize),
    #[error("record does not start with the single-object marker C3 01")]
    BadMagic,
    #[error("writer schema fingerprint {0:016x} is not known to this reader")]
    UnknownSchema(u64),
    #[error("record body is not valid Avro for its writer schema")]
    Avro(#[source] Box<apache_avro::Error>),
    #[error("{0} trailing bytes after the record")]
    TrailingBytes(usize),
    // The variants below come from the hand-written v1 decoder (`fast.rs`), which can say
    // precisely what is wrong and where; `field` is the schema field being read.
    #[error("record body ends inside `{field}`")]
    Truncated { field: &'static str },
    #[error("variable-length integer in `{field}` overflows 64 bits")]
    VarintOverflow { field: &'static str },
    #[error("length {len} of `{field}` is negative or exceeds the {remaining} bytes left")]
    BadLength {
        field: &'static str,
        len: i64,
        remaining: usize,
    },
    #[error("`{field}` is not valid UTF-8")]
    InvalidUtf8 { field: &'static str },
    #[error("`{field}`: enum index {index} is out of range")]
    EnumIndex { field: &'static str, index: i64 },
    #[error("`{field}`: union branch {index} is out of range")]
    UnionIndex { field: &'static str, index: i64 },
    #[error("`{field}`: byte {byte:#04x} is not a boolean")]
    InvalidBool { field: &'static str, byte: u8 },
    #[error("`{field}`: {value} does not fit an Avro int")]
    IntOutOfRange { field: &'static str, value: i64 },
    #[error("`{field}`: map block of {count} entries cannot fit in the {remaining} bytes left")]
    BadBlockCount {
        field: &'static str,
        count: i64,
        remaining: usize,
    },
    #[error("`{field}`: map block declares {declared} bytes but its entries take {actual}")]
    BlockSizeMismatch {
        field: &'static str,
        declared: i64,
        actual: usize,
    },
}

/// The reader schema plus every writer schema this reader accepts, by fingerprint.
#[derive(Debug, Clone)]
pub struct SchemaSet {
    reader: Schema,
    reader_fingerprint: u64,
    writers: HashMap<u64, Schema>,
}

impl SchemaSet {
    /// A set whose reader (and only writer) is `reader`.
    pub fn new(reader: Schema) -> Self {
        let reader_fingerprint = fingerprint_of(&reader);
        let mut writers = HashMap::new();
        writers.insert(reader_fingerprint, reader.clone());
        SchemaSet {
            reader,
            reader_fingerprint,
            writers,
        }
    }

    /// Accept records written with `writer` too (resolved into the reader schema).
    pub fn with_writer(mut self, writer: Schema) -> Self {
        self.writers.insert(fingerprint_of(&writer), writer);
        self
    }

    pub fn reader(&self) -> &Schema {
        &self.reader
    }

    /// Fingerprint of the reader schema, as written in the header of records we encode.
    pub fn fingerprint(&self) -> u64 {
        self.reader_fingerprint
    }
}

/// CRC-64-AVRO fingerprint of a schema's Parsing Canonical Form.
pub fn fingerprint_of(schema: &Schema) -> u64 {
    rabin_fingerprint(schema.canonical_form().as_bytes())
}

/// Encoder/decoder for one record type `T` in single-object encoding.
#[derive(Debug, Clone)]
pub struct Codec<T> {
    schemas: SchemaSet,
    name: &'static str,
    /// Set only when the reader schema is `T`'s built-in v1 schema; then records written with
    /// that schema skip apache-avro's generic `Value` path (see `fast.rs`).
    fast: Option<FastPath<T>>,
    _type: PhantomData<fn() -> T>,
}

/// The hand-written layout of `T`, as function pointers so that `Codec<T>` keeps working for
/// any serde type (`codec_for_schema`) without a `FastAvro` bound.
struct FastPath<T> {
    len_bound: fn(&T) -> usize,
    encode: fn(&T, &mut Vec<u8>),
    decode: fn(&[u8]) -> Result<T, DecodeError>,
}

impl<T> Clone for FastPath<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for FastPath<T> {}

impl<T> std::fmt::Debug for FastPath<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FastPath")
    }
}

impl<T: FastAvro> Codec<T> {
    /// Turn on the hand-written path if, and only if, the reader schema is exactly the one the
    /// layout was written for. A changed `.avsc` thus falls back to apache-avro rather than
    /// meeting a stale layout (and `fast.rs`'s tests fail so someone updates it).
    fn with_fast_path(mut self) -> Self {
        if self.schemas.reader_fingerprint == T::FINGERPRINT {
            self.fast = Some(FastPath {
                len_bound: T::encoded_len_bound,
                encode: T::encode_datum,
                decode: T::decode_datum,
            });
        }
        self
    }
}

/// Codec for [`InteractionEvent`].
pub type EventCodec = Codec<InteractionEvent>;
/// Codec for [`DeadLetter`].
pub type DeadLetterCodec = Codec<DeadLetter>;

impl Codec<InteractionEvent> {
    /// The codec for the current event schema (v1).
    pub fn new() -> Self {
        Codec::from_schemas(
            SchemaSet::new(parse_embedded(INTERACTION_EVENT_V1_AVSC)),
            "rapport.v1.InteractionEvent",
        )
        .with_fast_path()
    }
}

impl Default for Codec<InteractionEvent> {
    fn default() -> Self {
        Self::new()
    }
}

impl Codec<DeadLetter> {
    /// The codec for the current dead-letter schema (v1).
    pub fn new() -> Self {
        Codec::from_schemas(
            SchemaSet::new(parse_embedded(DEAD_LETTER_V1_AVSC)),
            "rapport.v1.DeadLetter",
        )
        .with_fast_path()
    }
}

impl Default for Codec<DeadLetter> {
    fn default() -> Self {
        Self::new()
    }
}

fn parse_embedded(src: &str) -> Schema {
    // The embedded schemas are compile-time constants covered by tests; failing here is a
    // build defect, not an input error.
    Schema::parse_str(src).expect("embedded Avro schema must parse")
}

impl<T: Serialize + DeserializeOwned> Codec<T> {
    pub fn from_schemas(schemas: SchemaSet, name: &'static str) -> Self {
        Codec {
            schemas,
            name,
            fast: None,
            _type: PhantomData,
        }
    }

    /// Whether records written with the reader schema bypass apache-avro (see `fast.rs`).
    /// True for `EventCodec::new()` and `DeadLetterCodec::new()`, false for `codec_for_schema`.
    pub fn has_fast_path(&self) -> bool {
        self.fast.is_some()
    }

    /// Accept records written with another version of the schema.
    pub fn with_writer_schema(mut self, writer: Schema) -> Self {
        self.schemas = self.schemas.with_writer(writer);
        self
    }

    pub fn schemas(&self) -> &SchemaSet {
        &self.schemas
    }

    /// Encode `value` as a complete single-object record.
    pub fn encode(&self, value: &T) -> Result<Vec<u8>, EncodeError> {
        let capacity = match &self.fast {
            Some(fast) => HEADER_LEN + (fast.len_bound)(value),
            None => 256,
        };
        let mut buf = Vec::with_capacity(capacity);
        self.encode_into(value, &mut buf)?;
        Ok(buf)
    }

    /// Append the single-object record of `value` to `buf`.
    pub fn encode_into(&self, value: &T, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
        if let Some(fast) = &self.fast {
            buf.reserve(HEADER_LEN + (fast.len_bound)(value));
            buf.extend_from_slice(&SINGLE_OBJECT_MAGIC);
            buf.extend_from_slice(&self.schemas.reader_fingerprint.to_le_bytes());
            (fast.encode)(value, buf);
            return Ok(());
        }
        let schema = &self.schemas.reader;
        let err = |e: apache_avro::Error| EncodeError::Avro {
            schema: self.name,
            source: Box::new(e),
        };
        let avro = apache_avro::to_value(value)
            .map_err(err)?
            .resolve(schema)
            .map_err(err)?;
        let datum = apache_avro::to_avro_datum(schema, avro).map_err(err)?;
        buf.reserve(HEADER_LEN + datum.len());
        buf.extend_from_slice(&SINGLE_OBJECT_MAGIC);
        buf.extend_from_slice(&self.schemas.reader_fingerprint.to_le_bytes());
        buf.extend_from_slice(&datum);
        Ok(())
    }

    /// Decode one single-object record, resolving it into the reader schema when the writer
    /// schema differs.
    pub fn decode(&self, bytes: &[u8]) -> Result<T, DecodeError> {
        let (writer_fp, mut body) = split_header(bytes)?;
        if let Some(fast) = &self.fast {
            if writer_fp == self.schemas.reader_fingerprint {
                return (fast.decode)(body);
            }
        }
        let writer = self
            .schemas
            .writers
            .get(&writer_fp)
            .ok_or(DecodeError::UnknownSchema(writer_fp))?;
        let reader = (writer_fp != self.schemas.reader_fingerprint).then_some(&self.schemas.reader);
        let value = apache_avro::from_avro_datum(writer, &mut body, reader)
            .map_err(|e| DecodeError::Avro(Box::new(e)))?;
        if !body.is_empty() {
            return Err(DecodeError::TrailingBytes(body.len()));
        }
        apache_avro::from_value::<T>(&value).map_err(|e| DecodeError::Avro(Box::new(e)))
    }
}

/// Split a single-object record into the writer fingerprint and the datum.
pub fn split_header(bytes: &[u8]) -> Result<(u64, &[u8]), DecodeError> {
    if bytes.len() < HEADER_LEN {
        return Err(DecodeError::TooShort(bytes.len()));
    }
    if bytes[..2] != SINGLE_OBJECT_MAGIC {
        return Err(DecodeError::BadMagic);
    }
    let mut fp = [0u8; 8];
    fp.copy_from_slice(&bytes[2..HEADER_LEN]);
    Ok((u64::from_le_bytes(fp), &bytes[HEADER_LEN..]))
}

/// A codec for `T` with `schema` as its reader schema (for tools and tests that read other
/// versions of a record).
pub fn codec_for_schema<T: Serialize + DeserializeOwned>(schema: Schema) -> Codec<T> {
    Codec::from_schemas(SchemaSet::new(schema), "custom")
}
