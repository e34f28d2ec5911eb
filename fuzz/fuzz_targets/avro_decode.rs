//! Arbitrary bytes as Kafka record values through the codecs ingest and the processor use:
//! single-object header checks, then the hand-written v1 decoder (or apache-avro for another
//! writer fingerprint). No panic, no allocation beyond the record's size, and whatever decodes
//! re-encodes to a record that decodes to the same value.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use rapport_events::{DeadLetterCodec, EventCodec};

static EVENTS: LazyLock<EventCodec> = LazyLock::new(EventCodec::new);
static DEAD_LETTERS: LazyLock<DeadLetterCodec> = LazyLock::new(DeadLetterCodec::new);

fuzz_target!(|record: &[u8]| {
    if let Ok(event) = EVENTS.decode(record) {
        let again = EVENTS.encode(&event).expect("a decoded event encodes");
        assert_eq!(
            EVENTS.decode(&again).expect("re-encoded event decodes"),
            event
        );
    }
    if let Ok(dead_letter) = DEAD_LETTERS.decode(record) {
        let again = DEAD_LETTERS
            .encode(&dead_letter)
            .expect("a decoded dead letter encodes");
        assert_eq!(
            DEAD_LETTERS
                .decode(&again)
                .expect("re-encoded dead letter decodes"),
            dead_letter
        );
    }
});
