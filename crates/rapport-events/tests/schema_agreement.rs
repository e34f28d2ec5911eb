//! Proves that the Rust types and `schemas/avro/*.avsc` agree: round trips through the parsed
//! schema, enum symbols in schema order, a stable fingerprint, and resolution across versions.

use apache_avro::Schema;
use proptest::prelude::*;
use rapport_events::*;

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
        reaction: None,
        automated: true,
        occurred_at: 1_772_445_600_000,
        received_at: 1_772_445_601_234,
        profile: Some(ProfileCounts {
            followers: 32_000,
            following: 422,
            posts: None,
        }),
        source: "meta.ig.comments".into(),
    }
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

#[test]
fn events_round_trip_through_the_parsed_schema() {
    let codec = EventCodec::new();
    for event in [full_event(), minimal_event()] {
        let bytes = codec.encode(&event).expect("encode");
        assert_eq!(bytes[..2], SINGLE_OBJECT_MAGIC);
        assert_eq!(codec.decode(&bytes).expect("decode"), event);
    }
}

#[test]
fn encoded_body_is_plain_avro_readable_by_apache_avro_generic_reader() {
    let codec = EventCodec::new();
    let schema = Schema::parse_str(INTERACTION_EVENT_V1_AVSC).unwrap();
    let bytes = codec.encode(&full_event()).unwrap();
    let value = apache_avro::from_avro_datum(&schema, &mut &bytes[10..], None).unwrap();
    let back: InteractionEvent = apache_avro::from_value(&value).unwrap();
    assert_eq!(back, full_event());
}

#[test]
fn dead_letters_round_trip() {
    let codec = DeadLetterCodec::new();
    let dl = DeadLetter {
        dead_letter_id: "d1".into(),
        stage: Stage::Ingest,
        reason: "malformed_json".into(),
        detail: "expected value at line 1 column 1".into(),
        source: "/webhooks/meta".into(),
        headers: [("content-type".to_string(), "application/json".to_string())].into(),
        payload: vec![0, 159, 146, 150, b'{'],
        partition: Some(3),
        offset: Some(42),
        occurred_at: 1_772_445_600_000,
    };
    let bytes = codec.encode(&dl).unwrap();
    assert_eq!(codec.decode(&bytes).unwrap(), dl);
}

fn enum_symbols(schema: &Schema, name: &str) -> Vec<String> {
    let json: serde_json::Value = serde_json::from_str(&schema.canonical_form()).unwrap();
    fn find(v: &serde_json::Value, name: &str, out: &mut Option<Vec<String>>) {
        match v {
            serde_json::Value::Object(m) => {
                if m.get("type").and_then(|t| t.as_str()) == Some("enum")
                    && m.get("name").and_then(|n| n.as_str()) == Some(name)
                {
                    let syms = m["symbols"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|s| s.as_str().unwrap().to_owned());
                    *out = Some(syms.collect());
                }
                m.values().for_each(|c| find(c, name, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|c| find(c, name, out)),
            _ => {}
        }
    }
    let mut out = None;
    find(&json, name, &mut out);
    out.unwrap_or_else(|| panic!("enum {name} not in schema"))
}

#[test]
fn rust_enums_list_the_schema_symbols_in_order() {
    let ev = Schema::parse_str(INTERACTION_EVENT_V1_AVSC).unwrap();
    let dl = Schema::parse_str(DEAD_LETTER_V1_AVSC).unwrap();
    let names = |all: &[&str]| all.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        enum_symbols(&ev, "rapport.v1.Platform"),
        names(&Platform::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>())
    );
    assert_eq!(
        enum_symbols(&ev, "rapport.v1.Kind"),
        names(&Kind::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>())
    );
    assert_eq!(
        enum_symbols(&ev, "rapport.v1.Modifier"),
        names(&Modifier::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>())
    );
    assert_eq!(
        enum_symbols(&ev, "rapport.v1.Direction"),
        names(
            &Direction::ALL
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
        )
    );
    assert_eq!(
        enum_symbols(&ev, "rapport.v1.Channel"),
        names(&Channel::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>())
    );
    assert_eq!(
        enum_symbols(&dl, "rapport.v1.Stage"),
        names(&Stage::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>())
    );
}

/// A change to the schema changes this number. That is the point: a schema change must be a
/// deliberate, versioned act (new fields with defaults, or a new file), never an accident.
#[test]
fn fingerprints_are_stable() {
    let codec = EventCodec::new();
    assert_eq!(
        format!("{:016x}", codec.schemas().fingerprint()),
        EVENT_V1_FINGERPRINT
    );
    let theirs = codec
        .schemas()
        .reader()
        .fingerprint::<apache_avro::rabin::Rabin>()
        .bytes;
    assert_eq!(
        theirs.as_slice(),
        codec.schemas().fingerprint().to_le_bytes().as_slice()
    );
    let bytes = codec.encode(&minimal_event()).unwrap();
    assert_eq!(bytes[2..10], codec.schemas().fingerprint().to_le_bytes());
}
const EVENT_V1_FINGERPRINT: &str = "346beae0b7df55e3";

/// The first published shape of the event, before `modifier`, `reaction` and `source` existed.
const EVENT_V0_AVSC: &str = r#"{
  "type": "record", "name": "InteractionEvent", "namespace": "rapport.v1",
  "fields": [
    {"name": "event_id", "type": "string"},
    {"name": "platform", "type": {"type": "enum", "name": "Platform", "symbols": ["facebook", "instagram", "x", "mastodon", "bluesky", "linkedin", "tiktok", "youtube", "other"], "default": "other"}},
    {"name": "brand_id", "type": "string"},
    {"name": "brand_account_id", "type": "string"},
    {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["comment", "reply", "mention", "direct_message", "reaction", "share", "post", "follow", "unfollow", "profile_snapshot", "other"], "default": "other"}},
    {"name": "direction", "type": {"type": "enum", "name": "Direction", "symbols": ["inbound", "outbound"]}},
    {"name": "channel", "type": {"type": "enum", "name": "Channel", "symbols": ["public", "private"]}},
    {"name": "actor", "type": {"type": "record", "name": "Party", "fields": [
      {"name": "id", "type": "string"},
      {"name": "handle", "type": ["null", "string"], "default": null},
      {"name": "display_name", "type": ["null", "string"], "default": null},
      {"name": "followers", "type": ["null", "long"], "default": null}]}},
    {"name": "addressed", "type": ["null", "Party"], "default": null},
    {"name": "object_id", "type": "string"},
    {"name": "parent_id", "type": ["null", "string"], "default": null},
    {"name": "root_id", "type": ["null", "string"], "default": null},
    {"name": "text", "type": ["null", "string"], "default": null},
    {"name": "automated", "type": "boolean", "default": false},
    {"name": "occurred_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "received_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "profile", "type": ["null", {"type": "record", "name": "ProfileCounts", "fields": [
      {"name": "followers", "type": "long"}, {"name": "following", "type": "long"},
      {"name": "posts", "type": ["null", "long"], "default": null}]}], "default": null}
  ]}"#;

#[test]
fn a_reader_with_the_older_schema_still_decodes_current_records() {
    let v0 = Schema::parse_str(EVENT_V0_AVSC).unwrap();
    let current = EventCodec::new();
    let old_reader = rapport_events::codec_for_schema::<InteractionEvent>(v0.clone())
        .with_writer_schema(current.schemas().reader().clone());
    let bytes = current.encode(&full_event()).unwrap();
    let seen = old_reader
        .decode(&bytes)
        .expect("old reader resolves the newer writer");
    // Fields the old schema lacks fall back to serde defaults on the Rust side.
    let mut expected = full_event();
    expected.modifier = Modifier::None;
    expected.reaction = None;
    expected.source = String::new();
    assert_eq!(seen, expected);
}

#[test]
fn the_current_reader_decodes_records_written_with_the_older_schema() {
    let v0 = Schema::parse_str(EVENT_V0_AVSC).unwrap();
    let old_writer = rapport_events::codec_for_schema::<InteractionEvent>(v0.clone());
    let reader = EventCodec::new().with_writer_schema(v0);
    let mut event = full_event();
    event.modifier = Modifier::None;
    event.reaction = None;
    event.source = String::new();
    // The old writer cannot carry the newer fields; serialize through its schema only.
    let bytes = old_writer.encode(&event).unwrap();
    assert_eq!(reader.decode(&bytes).unwrap(), event);
}

#[test]
fn unknown_fingerprints_and_garbage_are_errors_not_panics() {
    let codec = EventCodec::new();
    assert!(matches!(codec.decode(b""), Err(DecodeError::TooShort(0))));
    assert!(matches!(
        codec.decode(&[0u8; 12]),
        Err(DecodeError::BadMagic)
    ));
    let mut bytes = codec.encode(&minimal_event()).unwrap();
    bytes[5] ^= 0xff;
    assert!(matches!(
        codec.decode(&bytes),
        Err(DecodeError::UnknownSchema(_))
    ));
    let mut bytes = codec.encode(&minimal_event()).unwrap();
    bytes.push(0);
    assert!(matches!(
        codec.decode(&bytes),
        Err(DecodeError::TrailingBytes(1))
    ));
}

fn arb_opt_string() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(".{0,40}")
}

fn arb_party() -> impl Strategy<Value = Party> {
    (
        ".{0,20}",
        arb_opt_string(),
        arb_opt_string(),
        proptest::option::of(any::<i64>()),
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
        ids in (".{0,30}", ".{0,10}", ".{0,20}", ".{0,20}"),
        enums in (0..Platform::ALL.len(), 0..Kind::ALL.len(), 0..Modifier::ALL.len(), any::<bool>(), any::<bool>()),
        actor in arb_party(),
        addressed in proptest::option::of(arb_party()),
        opts in (arb_opt_string(), arb_opt_string(), arb_opt_string(), arb_opt_string()),
        automated in any::<bool>(),
        times in (any::<i64>(), any::<i64>()),
        profile in proptest::option::of((any::<i64>(), any::<i64>(), proptest::option::of(any::<i64>()))),
        source in ".{0,20}",
    ) -> InteractionEvent {
        InteractionEvent {
            event_id: ids.0, brand_id: ids.1, brand_account_id: ids.2, object_id: ids.3,
            platform: Platform::ALL[enums.0], kind: Kind::ALL[enums.1], modifier: Modifier::ALL[enums.2],
            direction: if enums.3 { Direction::Inbound } else { Direction::Outbound },
            channel: if enums.4 { Channel::Public } else { Channel::Private },
            actor, addressed,
            parent_id: opts.0, root_id: opts.1, text: opts.2, reaction: opts.3,
            automated, occurred_at: times.0, received_at: times.1,
            profile: profile.map(|(followers, following, posts)| ProfileCounts { followers, following, posts }),
            source,
        }
    }
}

proptest! {
    #[test]
    fn any_event_round_trips(event in arb_event()) {
        let codec = EventCodec::new();
        let bytes = codec.encode(&event).unwrap();
        prop_assert_eq!(codec.decode(&bytes).unwrap(), event);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let codec = EventCodec::new();
        let mut framed = SINGLE_OBJECT_MAGIC.to_vec();
        framed.extend_from_slice(&codec.schemas().fingerprint().to_le_bytes());
        framed.extend_from_slice(&bytes);
        let _outcome = codec.decode(&framed);
        let _outcome = codec.decode(&bytes);
    }
}
