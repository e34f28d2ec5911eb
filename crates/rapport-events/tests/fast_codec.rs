//! Guards the hand-written v1 codec (`src/fast.rs`): for arbitrary values its bytes are
//! apache-avro's bytes and each side decodes the other's output to the same value; malformed,
//! truncated and hostile input yields a precise error, never a panic or a large allocation.
//!
//! apache-avro is the oracle throughout: expected bytes come from `to_value` → `resolve` →
//! `to_avro_datum` called here directly, not through the codec under test, and the hand-built
//! records of the targeted tests are checked against apache-avro before being corrupted.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use apache_avro::types::Value;
use apache_avro::Schema;
use proptest::prelude::*;
use rapport_events::*;
use serde::{de::DeserializeOwned, Serialize};

static EVENT_SCHEMA: LazyLock<Schema> =
    LazyLock::new(|| Schema::parse_str(INTERACTION_EVENT_V1_AVSC).expect("event schema"));
static DEAD_LETTER_SCHEMA: LazyLock<Schema> =
    LazyLock::new(|| Schema::parse_str(DEAD_LETTER_V1_AVSC).expect("dead-letter schema"));

/// apache-avro's datum for `value`, the reference the fast encoder must match byte for byte.
fn apache_datum<T: Serialize>(schema: &Schema, value: &T) -> Vec<u8> {
    let resolved = apache_avro::to_value(value)
        .expect("to_value")
        .resolve(schema)
        .expect("resolve");
    apache_avro::to_avro_datum(schema, resolved).expect("to_avro_datum")
}

/// apache-avro's reading of a datum, which must span all of `bytes`.
fn apache_decode<T: DeserializeOwned>(schema: &Schema, bytes: &[u8]) -> Result<T, String> {
    let mut rest = bytes;
    let value = apache_avro::from_avro_datum(schema, &mut rest, None).map_err(|e| e.to_string())?;
    if !rest.is_empty() {
        return Err(format!("{} trailing bytes", rest.len()));
    }
    apache_avro::from_value(&value).map_err(|e| e.to_string())
}

fn fast_datum<T: FastAvro>(value: &T) -> Vec<u8> {
    let mut buf = Vec::new();
    value.encode_datum(&mut buf);
    buf
}

/// A single-object record around `datum`, with the writer fingerprint of `T`'s v1 schema.
fn framed<T: FastAvro>(datum: &[u8]) -> Vec<u8> {
    let mut record = SINGLE_OBJECT_MAGIC.to_vec();
    record.extend_from_slice(&T::FINGERPRINT.to_le_bytes());
    record.extend_from_slice(datum);
    record
}

/// apache-avro's datum of a dead letter with the `headers` entries in key order.
///
/// apache-avro turns a map into a `HashMap`, so with two or more entries the order it writes
/// them in (and thus its whole output) changes from run to run; the fast encoder writes them in
/// key order, one of the orders apache-avro may produce. This builds exactly that order from
/// apache-avro's own encodings: each field on its own, and each map entry as a one-entry map
/// (count 1, entry, 0) whose entry bytes are kept.
fn apache_dead_letter_datum_sorted(dl: &DeadLetter) -> Vec<u8> {
    let schema = &*DEAD_LETTER_SCHEMA;
    let Schema::Record(record) = schema else {
        panic!("dead letter schema is a record")
    };
    let Value::Record(values) = apache_avro::to_value(dl)
        .expect("to_value")
        .resolve(schema)
        .expect("resolve")
    else {
        panic!("a record resolves to a record")
    };
    let mut out = Vec::new();
    for (field, (name, value)) in record.fields.iter().zip(values) {
        assert_eq!(field.name, name);
        match value {
            Value::Map(entries) if entries.len() > 1 => {
                let mut entries: Vec<_> = entries.into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                out.extend(long(entries.len() as i64));
                for (k, v) in entries {
                    let one = apache_avro::to_avro_datum(
                        &field.schema,
                        Value::Map(HashMap::from([(k, v)])),
                    )
                    .expect("one-entry map");
                    assert_eq!(one.first(), Some(&2), "count 1");
                    assert_eq!(one.last(), Some(&0), "terminator");
                    out.extend_from_slice(&one[1..one.len() - 1]);
                }
                out.push(0);
            }
            value => out.extend(apache_avro::to_avro_datum(&field.schema, value).expect("field")),
        }
    }
    out
}

/// An Avro `long` as apache-avro writes it (also the form of `int`, enum indexes, union
/// branches, lengths and block counts).
fn long(n: i64) -> Vec<u8> {
    apache_avro::to_avro_datum(&Schema::Long, Value::Long(n)).expect("long")
}

fn string(s: &[u8]) -> Vec<u8> {
    [long(s.len() as i64), s.to_vec()].concat()
}

// ---------------------------------------------------------------------------------------------
// Strategies

fn arb_string() -> impl Strategy<Value = String> {
    // Up to 80 arbitrary chars (1 to 4 bytes each): lengths from 0 to past the one-byte varint
    // limit (63), with multi-byte UTF-8 and control characters.
    proptest::string::string_regex("(?s).{0,80}").expect("regex")
}

fn arb_opt_string() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(arb_string())
}

fn arb_long() -> impl Strategy<Value = i64> {
    // Varints from one to ten bytes, and the extremes.
    prop_oneof![
        -200i64..200,
        any::<i64>(),
        (0u32..64).prop_map(|s| 1i64 << s),
        (0u32..64).prop_map(|s| (1i64 << s).wrapping_neg()),
        Just(i64::MIN),
        Just(i64::MAX),
    ]
}

fn arb_party() -> impl Strategy<Value = Party> {
    (
        arb_string(),
        arb_opt_string(),
        arb_opt_string(),
        proptest::option::of(arb_long()),
    )
        .prop_map(|(id, handle, display_name, followers)| Party {
            id,
            handle,
            display_name,
            followers,
        })
}

prop_compose! {
    fn arb_event()(
        ids in (arb_string(), arb_string(), arb_string(), arb_string()),
        enums in (
            proptest::sample::select(Platform::ALL),
            proptest::sample::select(Kind::ALL),
            proptest::sample::select(Modifier::ALL),
            proptest::sample::select(Direction::ALL),
            proptest::sample::select(Channel::ALL),
        ),
        actor in arb_party(),
        addressed in proptest::option::of(arb_party()),
        opts in (arb_opt_string(), arb_opt_string(), arb_opt_string(), arb_opt_string()),
        automated in any::<bool>(),
        times in (arb_long(), arb_long()),
        profile in proptest::option::of((arb_long(), arb_long(), proptest::option::of(arb_long()))),
        source in arb_string(),
    ) -> InteractionEvent {
        InteractionEvent {
            event_id: ids.0,
            platform: enums.0,
            brand_id: ids.1,
            brand_account_id: ids.2,
            kind: enums.1,
            modifier: enums.2,
            direction: enums.3,
            channel: enums.4,
            actor,
            addressed,
            object_id: ids.3,
            parent_id: opts.0,
            root_id: opts.1,
            text: opts.2,
            reaction: opts.3,
            automated,
            occurred_at: times.0,
            received_at: times.1,
            profile: profile.map(|(followers, following, posts)| ProfileCounts { followers, following, posts }),
            source,
        }
    }
}

prop_compose! {
    fn arb_dead_letter(max_headers: usize)(
        ids in (arb_string(), arb_string(), arb_string(), arb_string()),
        stage in proptest::sample::select(Stage::ALL),
        headers in proptest::collection::btree_map(arb_string(), arb_string(), 0..=max_headers),
        payload in proptest::collection::vec(any::<u8>(), 0..300),
        partition in proptest::option::of(any::<i32>()),
        offset in proptest::option::of(arb_long()),
        occurred_at in arb_long(),
    ) -> DeadLetter {
        DeadLetter {
            dead_letter_id: ids.0,
            stage,
            reason: ids.1,
            detail: ids.2,
            source: ids.3,
            headers,
            payload,
            partition,
            offset,
            occurred_at,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Equivalence with apache-avro

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn event_bytes_are_apache_avros(event in arb_event()) {
        let expected = apache_datum(&EVENT_SCHEMA, &event);
        let fast = fast_datum(&event);
        prop_assert_eq!(&fast, &expected);
        prop_assert!(fast.len() <= event.encoded_len_bound());

        // The codec frames the same datum, and `encode_into` appends after existing content.
        let codec = EventCodec::new();
        prop_assert_eq!(codec.encode(&event).unwrap(), framed::<InteractionEvent>(&expected));
        let mut buf = vec![0xAA];
        codec.encode_into(&event, &mut buf).unwrap();
        prop_assert_eq!(&buf[..1], &[0xAA][..]);
        prop_assert_eq!(&buf[1..], &framed::<InteractionEvent>(&expected)[..]);
    }

    #[test]
    fn written_partition_keys_are_the_partition_key(event in arb_event()) {
        let mut buf = vec![0xAA];
        event.write_partition_key(&mut buf);
        prop_assert_eq!(&buf[..1], &[0xAA][..]);
        let key = event.partition_key();
        prop_assert_eq!(&buf[1..], key.as_bytes());
    }

    #[test]
    fn event_bytes_decode_the_same_on_both_sides(event in arb_event()) {
        let apache_bytes = apache_datum(&EVENT_SCHEMA, &event);
        prop_assert_eq!(&InteractionEvent::decode_datum(&apache_bytes).unwrap(), &event);
        prop_assert_eq!(
            &EventCodec::new().decode(&framed::<InteractionEvent>(&apache_bytes)).unwrap(),
            &event
        );
        let fast_bytes = fast_datum(&event);
        prop_assert_eq!(apache_decode::<InteractionEvent>(&EVENT_SCHEMA, &fast_bytes).unwrap(), event);
    }

    /// With at most one header apache-avro's output is deterministic: compare whole records.
    #[test]
    fn dead_letter_bytes_are_apache_avros(dl in arb_dead_letter(1)) {
        let expected = apache_datum(&DEAD_LETTER_SCHEMA, &dl);
        prop_assert_eq!(&fast_datum(&dl), &expected);
        // The field-by-field reference agrees with the whole-record one where both apply.
        prop_assert_eq!(&apache_dead_letter_datum_sorted(&dl), &expected);
        prop_assert_eq!(DeadLetterCodec::new().encode(&dl).unwrap(), framed::<DeadLetter>(&expected));
    }

    /// With several headers, apache-avro's entry order is its HashMap's; the fast bytes must
    /// equal apache-avro's bytes with the entries in key order.
    #[test]
    fn dead_letter_bytes_with_many_headers_are_apache_avros_in_key_order(dl in arb_dead_letter(8)) {
        let fast = fast_datum(&dl);
        prop_assert_eq!(&fast, &apache_dead_letter_datum_sorted(&dl));
        prop_assert!(fast.len() <= dl.encoded_len_bound());
        // Whatever order apache-avro picked this time, the record has the same length.
        prop_assert_eq!(fast.len(), apache_datum(&DEAD_LETTER_SCHEMA, &dl).len());
    }

    #[test]
    fn dead_letter_bytes_decode_the_same_on_both_sides(dl in arb_dead_letter(8)) {
        let apache_bytes = apache_datum(&DEAD_LETTER_SCHEMA, &dl);
        prop_assert_eq!(&DeadLetter::decode_datum(&apache_bytes).unwrap(), &dl);
        prop_assert_eq!(
            &DeadLetterCodec::new().decode(&framed::<DeadLetter>(&apache_bytes)).unwrap(),
            &dl
        );
        let fast_bytes = fast_datum(&dl);
        prop_assert_eq!(apache_decode::<DeadLetter>(&DEAD_LETTER_SCHEMA, &fast_bytes).unwrap(), dl);
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile input

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn arbitrary_bytes_never_panic_the_fast_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        // Whatever decodes must re-encode to a record that decodes to the same value, and the
        // codec (header + datum) must agree with the bare datum decoder.
        let event = InteractionEvent::decode_datum(&bytes).ok();
        if let Some(event) = &event {
            prop_assert_eq!(&InteractionEvent::decode_datum(&fast_datum(event)).unwrap(), event);
        }
        prop_assert_eq!(EventCodec::new().decode(&framed::<InteractionEvent>(&bytes)).ok(), event);
        let dl = DeadLetter::decode_datum(&bytes).ok();
        if let Some(dl) = &dl {
            prop_assert_eq!(&DeadLetter::decode_datum(&fast_datum(dl)).unwrap(), dl);
        }
        prop_assert_eq!(DeadLetterCodec::new().decode(&framed::<DeadLetter>(&bytes)).ok(), dl);
    }

    /// Corrupting a valid record reaches deep into the layout, where random bytes rarely get.
    /// Whatever the fast decoder accepts, apache-avro accepts too, with the same value (the
    /// fast decoder is never more lenient).
    #[test]
    fn corrupted_records_never_panic_and_agree_with_apache_avro(
        event in arb_event(),
        dl in arb_dead_letter(3),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut ev_bytes = fast_datum(&event);
        let mut dl_bytes = fast_datum(&dl);
        for (at, byte) in &edits {
            let i = at.index(ev_bytes.len());
            ev_bytes[i] = *byte;
            let i = at.index(dl_bytes.len());
            dl_bytes[i] = *byte;
        }
        for bytes in [&ev_bytes[..], &ev_bytes[..cut.index(ev_bytes.len())]] {
            if let Ok(decoded) = InteractionEvent::decode_datum(bytes) {
                prop_assert_eq!(apache_decode::<InteractionEvent>(&EVENT_SCHEMA, bytes).unwrap(), decoded);
            }
        }
        for bytes in [&dl_bytes[..], &dl_bytes[..cut.index(dl_bytes.len())]] {
            if let Ok(decoded) = DeadLetter::decode_datum(bytes) {
                prop_assert_eq!(apache_decode::<DeadLetter>(&DEAD_LETTER_SCHEMA, bytes).unwrap(), decoded);
            }
        }
    }
}

fn full_event() -> InteractionEvent {
    InteractionEvent {
        event_id: "evt-1".into(),
        platform: Platform::Instagram,
        brand_id: "acme".into(),
        brand_account_id: "17841405726653026".into(),
        kind: Kind::Reply,
        modifier: Modifier::Edited,
        direction: Direction::Outbound,
        channel: Channel::Public,
        actor: Party {
            id: "17841405726653026".into(),
            handle: Some("acme".into()),
            display_name: Some("ACME Inc.".into()),
            followers: Some(32_000),
        },
        addressed: Some(Party {
            id: "u1".into(),
            handle: Some("jo".into()),
            display_name: None,
            followers: Some(12),
        }),
        object_id: "c2".into(),
        parent_id: Some("c1".into()),
        root_id: Some("m1".into()),
        text: Some("Thanks Jo! 🎉 ünïcode".into()),
        reaction: Some("love".into()),
        automated: true,
        occurred_at: 1_772_445_600_000,
        received_at: 1_772_445_601_234,
        profile: Some(ProfileCounts {
            followers: 32_000,
            following: 422,
            posts: Some(7),
        }),
        source: "meta.ig.comments".into(),
    }
}

fn full_dead_letter() -> DeadLetter {
    DeadLetter {
        dead_letter_id: "d1".into(),
        stage: Stage::Process,
        reason: "decode_error".into(),
        detail: "record body ends inside `source`".into(),
        source: "rapport.interactions.v1".into(),
        headers: [
            ("content-type".to_string(), "application/json".to_string()),
            ("user-agent".to_string(), "facebookexternalua".to_string()),
        ]
        .into(),
        payload: vec![0xC3, 0x01, 0, 159, 146, 150, b'{'],
        partition: Some(3),
        offset: Some(42),
        occurred_at: 1_772_445_600_000,
    }
}

#[test]
fn every_strict_prefix_of_a_record_is_an_error() {
    let truncation = |e: &DecodeError| {
        matches!(
            e,
            DecodeError::Truncated { .. } | DecodeError::BadLength { .. }
        )
    };
    let event = apache_datum(&EVENT_SCHEMA, &full_event());
    for n in 0..event.len() {
        let err = InteractionEvent::decode_datum(&event[..n]).expect_err("prefix must not decode");
        assert!(truncation(&err), "prefix {n}: {err}");
    }
    let dl = apache_dead_letter_datum_sorted(&full_dead_letter());
    for n in 0..dl.len() {
        let err = DeadLetter::decode_datum(&dl[..n]).expect_err("prefix must not decode");
        assert!(
            truncation(&err) || matches!(err, DecodeError::BadBlockCount { .. }),
            "prefix {n}: {err}"
        );
    }
    // Through the codec, prefixes of the header are caught before any datum is read.
    let record = framed::<InteractionEvent>(&event);
    let codec = EventCodec::new();
    for n in 0..record.len() {
        let err = codec
            .decode(&record[..n])
            .expect_err("prefix must not decode");
        if n < 10 {
            assert!(matches!(err, DecodeError::TooShort(len) if len == n));
        } else {
            assert!(truncation(&err), "record prefix {n}: {err}");
        }
    }
    assert_eq!(codec.decode(&record).unwrap(), full_event());
}

/// The smallest event, field by field, in hand-written Avro; checked against apache-avro below
/// so that the corruptions in the targeted tests hit the field they name.
fn minimal_event_fields() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("event_id", string(b"e")),
        ("platform", long(2)),
        ("brand_id", string(b"b")),
        ("brand_account_id", string(b"1")),
        ("kind", long(7)),
        ("modifier", long(0)),
        ("direction", long(0)),
        ("channel", long(0)),
        ("actor.id", string(b"2")),
        ("actor.handle", long(0)),
        ("actor.display_name", long(0)),
        ("actor.followers", long(0)),
        ("addressed", long(0)),
        ("object_id", string(b"o")),
        ("parent_id", long(0)),
        ("root_id", long(0)),
        ("text", long(0)),
        ("reaction", long(0)),
        ("automated", vec![0]),
        ("occurred_at", long(-1)),
        ("received_at", long(0)),
        ("profile", long(0)),
        ("source", string(b"")),
    ]
}

fn minimal_event() -> InteractionEvent {
    InteractionEvent {
        event_id: "e".into(),
        platform: Platform::X,
        brand_id: "b".into(),
        brand_account_id: "1".into(),
        kind: Kind::Follow,
        modifier: Modifier::None,
        direction: Direction::Inbound,
        channel: Channel::Public,
        actor: Party {
            id: "2".into(),
            ..Party::default()
        },
        addressed: None,
        object_id: "o".into(),
        parent_id: None,
        root_id: None,
        text: None,
        reaction: None,
        automated: false,
        occurred_at: -1,
        received_at: 0,
        profile: None,
        source: String::new(),
    }
}

fn minimal_dead_letter_fields() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("dead_letter_id", string(b"d")),
        ("stage", long(1)),
        ("reason", string(b"r")),
        ("detail", string(b"")),
        ("source", string(b"s")),
        ("headers", long(0)),
        ("payload", string(&[0, 1])),
        ("partition", long(0)),
        ("offset", long(0)),
        ("occurred_at", long(5)),
    ]
}

fn minimal_dead_letter() -> DeadLetter {
    DeadLetter {
        dead_letter_id: "d".into(),
        stage: Stage::Process,
        reason: "r".into(),
        detail: String::new(),
        source: "s".into(),
        headers: BTreeMap::new(),
        payload: vec![0, 1],
        partition: None,
        offset: None,
        occurred_at: 5,
    }
}

/// The hand-written fields with `field` replaced by `bytes`.
fn with(fields: &[(&'static str, Vec<u8>)], field: &str, bytes: &[u8]) -> Vec<u8> {
    assert!(
        fields.iter().any(|(name, _)| *name == field),
        "no field {field}"
    );
    fields
        .iter()
        .flat_map(|(name, b)| if *name == field { bytes } else { b.as_slice() })
        .copied()
        .collect()
}

fn concat(fields: &[(&'static str, Vec<u8>)]) -> Vec<u8> {
    fields.iter().flat_map(|(_, b)| b.iter().copied()).collect()
}

#[test]
fn hand_built_records_are_what_apache_avro_writes() {
    let event = concat(&minimal_event_fields());
    assert_eq!(event, apache_datum(&EVENT_SCHEMA, &minimal_event()));
    assert_eq!(
        InteractionEvent::decode_datum(&event).unwrap(),
        minimal_event()
    );
    let dl = concat(&minimal_dead_letter_fields());
    assert_eq!(
        dl,
        apache_datum(&DEAD_LETTER_SCHEMA, &minimal_dead_letter())
    );
    assert_eq!(
        DeadLetter::decode_datum(&dl).unwrap(),
        minimal_dead_letter()
    );
}

#[test]
fn huge_length_prefixes_are_rejected_before_allocating() {
    // Had the decoder allocated these lengths, the process would abort (1 TiB, 4 EiB).
    let ev = minimal_event_fields();
    for len in [1i64 << 40, 1 << 62, i64::MAX] {
        let bytes = with(&ev, "event_id", &[long(len), b"abc".to_vec()].concat());
        let err = InteractionEvent::decode_datum(&bytes).unwrap_err();
        assert!(
            matches!(err, DecodeError::BadLength { field: "event_id", len: l, remaining } if l == len && remaining == bytes.len() - long(len).len()),
            "{err}"
        );
    }
    let dl = minimal_dead_letter_fields();
    let bytes = with(&dl, "payload", &[long(1 << 40), vec![1, 2, 3]].concat());
    assert!(matches!(
        DeadLetter::decode_datum(&bytes),
        Err(DecodeError::BadLength {
            field: "payload",
            ..
        })
    ));
    // A map block claiming 2^40 entries, and a negative block whose byte size is 2^40.
    let bytes = with(&dl, "headers", &long(1 << 40));
    assert!(matches!(
        DeadLetter::decode_datum(&bytes),
        Err(DecodeError::BadBlockCount {
            field: "headers",
            count,
            ..
        }) if count == 1 << 40
    ));
    let bytes = with(&dl, "headers", &[long(-1), long(1 << 40)].concat());
    let err = DeadLetter::decode_datum(&bytes).unwrap_err();
    assert!(
        matches!(err, DecodeError::BlockSizeMismatch { field: "headers", declared, .. } if declared == 1 << 40),
        "{err}"
    );
    // Negative lengths are as wrong as oversized ones.
    let bytes = with(&ev, "source", &long(-1));
    assert!(matches!(
        InteractionEvent::decode_datum(&bytes),
        Err(DecodeError::BadLength {
            field: "source",
            len: -1,
            remaining: 0
        })
    ));
}

#[test]
fn invalid_utf8_is_an_error() {
    let ev = minimal_event_fields();
    let bad = string(&[b'a', 0xff, 0xfe]);
    for field in ["event_id", "actor.id", "source"] {
        let err = InteractionEvent::decode_datum(&with(&ev, field, &bad)).unwrap_err();
        assert!(
            matches!(err, DecodeError::InvalidUtf8 { field: f } if f == field),
            "{err}"
        );
    }
    let err = InteractionEvent::decode_datum(&with(&ev, "text", &[long(1), bad.clone()].concat()))
        .unwrap_err();
    assert!(matches!(err, DecodeError::InvalidUtf8 { field: "text" }));
    // A truncated multi-byte character (the first byte of "é").
    let err = InteractionEvent::decode_datum(&with(&ev, "brand_id", &string(&[0xc3]))).unwrap_err();
    assert!(matches!(
        err,
        DecodeError::InvalidUtf8 { field: "brand_id" }
    ));
    // A header key.
    let dl = minimal_dead_letter_fields();
    let headers = [long(1), bad, string(b"v"), long(0)].concat();
    let err = DeadLetter::decode_datum(&with(&dl, "headers", &headers)).unwrap_err();
    assert!(matches!(err, DecodeError::InvalidUtf8 { field: "headers" }));
}

#[test]
fn enum_index_out_of_range_is_an_error() {
    let ev = minimal_event_fields();
    let cases: [(&str, i64); 7] = [
        ("platform", Platform::ALL.len() as i64),
        ("kind", Kind::ALL.len() as i64),
        ("modifier", Modifier::ALL.len() as i64),
        ("direction", 2),
        ("channel", 2),
        ("platform", -1),
        ("kind", 1 << 40),
    ];
    for (field, index) in cases {
        let err = InteractionEvent::decode_datum(&with(&ev, field, &long(index))).unwrap_err();
        assert!(
            matches!(err, DecodeError::EnumIndex { field: f, index: i } if f == field && i == index),
            "{field} {index}: {err}"
        );
    }
    let err = DeadLetter::decode_datum(&with(&minimal_dead_letter_fields(), "stage", &long(2)))
        .unwrap_err();
    assert!(matches!(
        err,
        DecodeError::EnumIndex {
            field: "stage",
            index: 2
        }
    ));
    // The last symbol of each enum is still accepted.
    let last = with(&ev, "kind", &long(Kind::ALL.len() as i64 - 1));
    assert_eq!(
        InteractionEvent::decode_datum(&last).unwrap().kind,
        Kind::Other
    );
}

#[test]
fn union_index_out_of_range_is_an_error() {
    let ev = minimal_event_fields();
    for field in [
        "actor.handle",
        "actor.followers",
        "addressed",
        "text",
        "profile",
    ] {
        for index in [2, -1, 1 << 40] {
            let err = InteractionEvent::decode_datum(&with(&ev, field, &long(index))).unwrap_err();
            assert!(
                matches!(err, DecodeError::UnionIndex { field: f, index: i } if f == field && i == index),
                "{field} {index}: {err}"
            );
        }
    }
    let dl = minimal_dead_letter_fields();
    for field in ["partition", "offset"] {
        let err = DeadLetter::decode_datum(&with(&dl, field, &long(2))).unwrap_err();
        assert!(matches!(err, DecodeError::UnionIndex { field: f, index: 2 } if f == field));
    }
}

#[test]
fn overlong_and_overflowing_varints_are_errors() {
    let ev = minimal_event_fields();
    let mut eleven = vec![0x80u8; 10];
    eleven.push(0x00);
    // Ten bytes whose last still sets bits above bit 63.
    let mut overflow = vec![0xffu8; 9];
    overflow.push(0x02);
    for bad in [eleven, overflow, vec![0xff; 12]] {
        for field in ["occurred_at", "event_id", "platform", "actor.handle"] {
            let err = InteractionEvent::decode_datum(&with(&ev, field, &bad)).unwrap_err();
            assert!(
                matches!(err, DecodeError::VarintOverflow { field: f } if f == field),
                "{field}: {err}"
            );
        }
    }
    // The widest valid varint (ten bytes, last one 0x01) is u64::MAX, i.e. i64::MIN.
    let mut widest = vec![0xffu8; 9];
    widest.push(0x01);
    assert_eq!(widest, long(i64::MIN));
    let decoded = InteractionEvent::decode_datum(&with(&ev, "occurred_at", &widest)).unwrap();
    assert_eq!(decoded.occurred_at, i64::MIN);
    // A varint cut short is truncation, not overflow.
    let err = InteractionEvent::decode_datum(&[0x80, 0x80]).unwrap_err();
    assert!(matches!(err, DecodeError::Truncated { field: "event_id" }));
}

#[test]
fn other_malformed_values_are_errors() {
    let ev = minimal_event_fields();
    let err = InteractionEvent::decode_datum(&with(&ev, "automated", &[2])).unwrap_err();
    assert!(matches!(
        err,
        DecodeError::InvalidBool {
            field: "automated",
            byte: 2
        }
    ));
    let dl = minimal_dead_letter_fields();
    let too_big = [long(1), long(i64::from(i32::MAX) + 1)].concat();
    let err = DeadLetter::decode_datum(&with(&dl, "partition", &too_big)).unwrap_err();
    assert!(matches!(
        err,
        DecodeError::IntOutOfRange {
            field: "partition",
            ..
        }
    ));
    let mut trailing = concat(&ev);
    trailing.push(0);
    assert!(matches!(
        InteractionEvent::decode_datum(&trailing),
        Err(DecodeError::TrailingBytes(1))
    ));
    let err = EventCodec::new()
        .decode(&framed::<InteractionEvent>(&trailing))
        .unwrap_err();
    assert!(matches!(err, DecodeError::TrailingBytes(1)));
}

#[test]
fn maps_written_in_negative_count_blocks_decode_like_apache_avro() {
    let dl = minimal_dead_letter_fields();
    let entries = |pairs: &[(&str, &str)]| -> Vec<u8> {
        pairs
            .iter()
            .flat_map(|(k, v)| [string(k.as_bytes()), string(v.as_bytes())].concat())
            .collect()
    };
    let block1 = entries(&[("b", "2"), ("a", "1")]);
    // A second block in the positive form overriding "a", as a later duplicate key does.
    let block2 = entries(&[("a", "3")]);
    let headers = [
        long(-2),
        long(block1.len() as i64),
        block1.clone(),
        long(1),
        block2,
        long(0),
    ]
    .concat();
    let bytes = with(&dl, "headers", &headers);
    let decoded = DeadLetter::decode_datum(&bytes).unwrap();
    let expected: BTreeMap<String, String> = [("a", "3"), ("b", "2")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(decoded.headers, expected);
    assert_eq!(
        apache_decode::<DeadLetter>(&DEAD_LETTER_SCHEMA, &bytes).unwrap(),
        decoded
    );

    // A byte size that disagrees with the block's entries is rejected.
    let wrong_size = [
        long(-2),
        long(block1.len() as i64 + 1),
        block1.clone(),
        long(0),
    ]
    .concat();
    let err = DeadLetter::decode_datum(&with(&dl, "headers", &wrong_size)).unwrap_err();
    assert!(
        matches!(err, DecodeError::BlockSizeMismatch { field: "headers", declared, actual } if declared == block1.len() as i64 + 1 && actual == block1.len()),
        "{err}"
    );
    // So is a size larger than the whole input or negative, with the same error (apache-avro
    // ignores the size; the fuzzer's differential target relies on the two agreeing that this
    // is the documented strictness, not a length error).
    for declared in [134_217_680, -5] {
        let bad_size = [long(-2), long(declared), block1.clone(), long(0)].concat();
        let datum = with(&dl, "headers", &bad_size);
        let err = DeadLetter::decode_datum(&datum).unwrap_err();
        assert!(
            matches!(err, DecodeError::BlockSizeMismatch { field: "headers", declared: d, .. } if d == declared),
            "{err}"
        );
        let right_size = [long(-2), long(block1.len() as i64), block1.clone(), long(0)].concat();
        assert_eq!(
            apache_decode::<DeadLetter>(&DEAD_LETTER_SCHEMA, &datum).unwrap(),
            DeadLetter::decode_datum(&with(&dl, "headers", &right_size)).unwrap(),
            "apache-avro ignores the size"
        );
    }
    // -i64::MIN does not exist; the count must not wrap into something small.
    let err = DeadLetter::decode_datum(&with(&dl, "headers", &[long(i64::MIN), long(0)].concat()))
        .unwrap_err();
    assert!(
        matches!(err, DecodeError::BadBlockCount { field: "headers", count, .. } if count == i64::MIN)
    );
}

#[test]
fn extreme_longs_and_ints_match_apache_avro() {
    let mut event = full_event();
    event.occurred_at = i64::MIN;
    event.received_at = i64::MAX;
    event.actor.followers = Some(i64::MIN);
    event.addressed.as_mut().unwrap().followers = Some(i64::MAX);
    event.profile = Some(ProfileCounts {
        followers: i64::MAX,
        following: i64::MIN,
        posts: Some(-1),
    });
    let bytes = fast_datum(&event);
    assert_eq!(bytes, apache_datum(&EVENT_SCHEMA, &event));
    assert_eq!(InteractionEvent::decode_datum(&bytes).unwrap(), event);
    let codec = EventCodec::new();
    assert_eq!(codec.decode(&codec.encode(&event).unwrap()).unwrap(), event);

    for (partition, offset, at) in [
        (i32::MIN, i64::MIN, i64::MAX),
        (i32::MAX, i64::MAX, i64::MIN),
    ] {
        let mut dl = full_dead_letter();
        dl.headers.clear();
        dl.partition = Some(partition);
        dl.offset = Some(offset);
        dl.occurred_at = at;
        let bytes = fast_datum(&dl);
        assert_eq!(bytes, apache_datum(&DEAD_LETTER_SCHEMA, &dl));
        assert_eq!(DeadLetter::decode_datum(&bytes).unwrap(), dl);
    }
}

/// v1 minus its last two fields: an older writer the codec must still resolve via apache-avro.
fn older_event_schema() -> Schema {
    let mut json: serde_json::Value = serde_json::from_str(INTERACTION_EVENT_V1_AVSC).unwrap();
    let fields = json["fields"].as_array_mut().unwrap();
    fields.retain(|f| f["name"] != "reaction" && f["name"] != "source");
    Schema::parse_str(&json.to_string()).unwrap()
}

#[test]
fn only_the_built_in_v1_codecs_take_the_fast_path() {
    assert!(EventCodec::new().has_fast_path());
    assert!(DeadLetterCodec::new().has_fast_path());
    let by_schema = codec_for_schema::<InteractionEvent>(EVENT_SCHEMA.clone());
    assert!(!by_schema.has_fast_path());
    assert!(!codec_for_schema::<DeadLetter>(DEAD_LETTER_SCHEMA.clone()).has_fast_path());

    // Same bytes out of both paths of the public API.
    let fast = EventCodec::new();
    assert_eq!(
        fast.encode(&full_event()).unwrap(),
        by_schema.encode(&full_event()).unwrap()
    );
    // Malformed v1 records: precise errors from the fast path, apache-avro's from the other.
    let broken = framed::<InteractionEvent>(&with(&minimal_event_fields(), "kind", &long(99)));
    assert!(matches!(
        fast.decode(&broken),
        Err(DecodeError::EnumIndex {
            field: "kind",
            index: 99
        })
    ));
    assert!(matches!(
        by_schema.decode(&broken),
        Err(DecodeError::Avro(_))
    ));
}

#[test]
fn records_of_other_writer_schemas_still_resolve_through_apache_avro() {
    let older = older_event_schema();
    let old_writer = codec_for_schema::<InteractionEvent>(older.clone());
    let reader = EventCodec::new().with_writer_schema(older.clone());
    assert!(reader.has_fast_path());
    let mut event = full_event();
    event.reaction = None;
    event.source = String::new();
    let old_record = old_writer.encode(&event).unwrap();
    assert_ne!(
        old_record[2..10],
        reader.schemas().fingerprint().to_le_bytes()
    );
    assert_eq!(reader.decode(&old_record).unwrap(), event);
    // v1 records through the same reader use the fast path.
    let v1_record = reader.encode(&full_event()).unwrap();
    assert_eq!(reader.decode(&v1_record).unwrap(), full_event());
    // An older reader resolves fast-encoded v1 records with apache-avro.
    let old_reader =
        codec_for_schema::<InteractionEvent>(older).with_writer_schema(EVENT_SCHEMA.clone());
    assert_eq!(old_reader.decode(&v1_record).unwrap(), event);
}
