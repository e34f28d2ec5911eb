//! rapport's event contract: the Rust types of `schemas/avro/*.avsc` and their encoding on Kafka.
//!
//! The `.avsc` files are the source of truth; they are compiled in with `include_str!` and the
//! tests prove the Rust types agree with them. Records travel in Avro single-object encoding
//! (`C3 01`, the writer schema's CRC-64-AVRO fingerprint, then the datum), so any consumer finds
//! the writer schema without a registry. Records written with the current (v1) schemas take a
//! hand-written encoder/decoder ([`FastAvro`]) whose bytes the tests prove identical to
//! apache-avro's; every other writer schema goes through apache-avro's resolution. This crate
//! owns no I/O and no async runtime.

mod codec;
mod fast;
mod fingerprint;
mod types;

pub use codec::{
    codec_for_schema, fingerprint_of, split_header, Codec, DeadLetterCodec, DecodeError,
    EncodeError, EventCodec, SchemaSet, SINGLE_OBJECT_MAGIC,
};
pub use fast::FastAvro;
pub use fingerprint::rabin_fingerprint;
pub use types::*;

/// The interaction event schema, version 1 (source: `schemas/avro/interaction_event.v1.avsc`).
pub const INTERACTION_EVENT_V1_AVSC: &str =
    include_str!("../../../schemas/avro/interaction_event.v1.avsc");

/// The dead-letter schema, version 1 (source: `schemas/avro/dead_letter.v1.avsc`).
pub const DEAD_LETTER_V1_AVSC: &str = include_str!("../../../schemas/avro/dead_letter.v1.avsc");

/// Kafka topic carrying `InteractionEvent` records, keyed by `brand_id:user_id`.
pub const INTERACTIONS_TOPIC: &str = "rapport.interactions.v1";

/// Kafka topic carrying `DeadLetter` records.
pub const DEADLETTER_TOPIC: &str = "rapport.deadletter.v1";
