//! Differential check of the hand-written v1 decoder against apache-avro, the schema
//! authority, on arbitrary datum bytes (no single-object header) for both record types:
//! whatever the fast decoder accepts, apache-avro accepts with the same value, and the only
//! datums apache-avro accepts that the fast decoder refuses are those the fast decoder
//! documents as stricter (a map block whose declared byte size is wrong, a ten-byte varint
//! with bits above bit 63).
#![no_main]

use std::fmt::Debug;
use std::sync::LazyLock;

use apache_avro::Schema;
use libfuzzer_sys::fuzz_target;
use rapport_events::{
    DeadLetter, DecodeError, FastAvro, InteractionEvent, DEAD_LETTER_V1_AVSC,
    INTERACTION_EVENT_V1_AVSC,
};
use serde::de::DeserializeOwned;

static EVENT_SCHEMA: LazyLock<Schema> =
    LazyLock::new(|| Schema::parse_str(INTERACTION_EVENT_V1_AVSC).expect("event schema"));
static DEAD_LETTER_SCHEMA: LazyLock<Schema> =
    LazyLock::new(|| Schema::parse_str(DEAD_LETTER_V1_AVSC).expect("dead-letter schema"));

/// apache-avro's reading of a datum that must span all of `bytes`.
fn apache<T: DeserializeOwned>(schema: &Schema, bytes: &[u8]) -> Result<T, String> {
    let mut rest = bytes;
    let value = apache_avro::from_avro_datum(schema, &mut rest, None).map_err(|e| e.to_string())?;
    if !rest.is_empty() {
        return Err(format!("{} trailing bytes", rest.len()));
    }
    apache_avro::from_value(&value).map_err(|e| e.to_string())
}

fn compare<T: FastAvro + DeserializeOwned + PartialEq + Debug>(schema: &Schema, datum: &[u8]) {
    match (T::decode_datum(datum), apache::<T>(schema, datum)) {
        (Ok(fast), Ok(reference)) => assert_eq!(fast, reference, "decoders disagree on the value"),
        (Ok(fast), Err(e)) => {
            panic!("fast decoder accepted what apache-avro refuses ({e}): {fast:?}")
        }
        // Both documented as stricter than apache-avro, which ignores a map block's byte size
        // and silently drops the bits of a tenth varint byte above bit 63 (no encoder writes
        // either, so refusing them loses no real record).
        (
            Err(DecodeError::BlockSizeMismatch { .. } | DecodeError::VarintOverflow { .. }),
            Ok(_),
        )
        | (Err(_), Err(_)) => {}
        (Err(e), Ok(reference)) => {
            panic!("fast decoder refused ({e}) what apache-avro reads as {reference:?}")
        }
    }
}

fuzz_target!(
    init: {
        // Every length in a datum of at most a few KiB is small; refuse larger claims early so
        // apache-avro does not reserve hundreds of MiB for a forged length.
        apache_avro::util::max_allocation_bytes(1 << 20);
    },
    |datum: &[u8]| {
        compare::<InteractionEvent>(&EVENT_SCHEMA, datum);
        compare::<DeadLetter>(&DEAD_LETTER_SCHEMA, datum);
    }
);
