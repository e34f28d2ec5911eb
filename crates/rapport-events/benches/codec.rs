//! Encode and decode cost of one typical interaction event, the per-event work of ingest
//! (encode) and of the processor (decode), through apache-avro's serde path and through the
//! hand-written v1 codec (`src/fast.rs`) in the same run; dead letters likewise.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rapport_events::{
    codec_for_schema, Channel, Codec, DeadLetter, DeadLetterCodec, Direction, EventCodec,
    InteractionEvent, Kind, Modifier, Party, Platform, Stage,
};
use std::hint::black_box;

fn typical_event() -> InteractionEvent {
    InteractionEvent {
        event_id: "9f2c1e0b7a6d5c4b3a29180716f5e4d3".into(),
        platform: Platform::Instagram,
        brand_id: "acme".into(),
        brand_account_id: "17841405726653026".into(),
        kind: Kind::Comment,
        modifier: Modifier::None,
        direction: Direction::Inbound,
        channel: Channel::Public,
        actor: Party {
            id: "17841400000000123".into(),
            handle: Some("jo.doe".into()),
            display_name: Some("Jo Doe".into()),
            followers: Some(1_234),
        },
        addressed: None,
        object_id: "17858893269000001".into(),
        parent_id: Some("17858893269000000".into()),
        root_id: Some("17895695668004550".into()),
        text: Some("Love this! Is the blue one back in stock anytime soon?".into()),
        reaction: None,
        automated: false,
        occurred_at: 1_772_445_600_000,
        received_at: 1_772_445_600_420,
        profile: None,
        source: "meta.instagram.comments".into(),
    }
}

fn typical_dead_letter() -> DeadLetter {
    DeadLetter {
        dead_letter_id: "5b0e6a4c2f1d3e8a9b7c6d5e4f3a2b1c".into(),
        stage: Stage::Ingest,
        reason: "malformed_json".into(),
        detail: "expected value at line 1 column 1".into(),
        source: "/webhooks/meta".into(),
        headers: [
            ("content-type".to_string(), "application/json".to_string()),
            ("user-agent".to_string(), "facebookexternalua".to_string()),
        ]
        .into(),
        payload: br#"{"object":"instagram","entry":[{"id":"17841405726653026","time":1772445600"#
            .to_vec(),
        partition: None,
        offset: None,
        occurred_at: 1_772_445_600_000,
    }
}

/// Benchmarks `encode` and `decode` of `value` through two codecs of the same schema: one
/// forced onto apache-avro's serde path (`codec_for_schema` never takes the fast path) and the
/// built-in one, which takes the hand-written path. Both run in the same process so the ratio
/// is measured under the same conditions.
fn bench_pair<T>(c: &mut Criterion, group_name: &str, fast: &Codec<T>, value: &T)
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    let apache = codec_for_schema::<T>(fast.schemas().reader().clone());
    assert!(fast.has_fast_path() && !apache.has_fast_path());
    let bytes = apache.encode(value).expect("encode");
    assert_eq!(fast.encode(value).expect("encode").len(), bytes.len());

    let mut group = c.benchmark_group(group_name);
    group.throughput(Throughput::Elements(1));
    group.bench_function("encode_apache_avro", |b| {
        b.iter(|| apache.encode(black_box(value)).expect("encode"))
    });
    group.bench_function("encode_fast", |b| {
        b.iter(|| fast.encode(black_box(value)).expect("encode"))
    });
    group.bench_function("decode_apache_avro", |b| {
        b.iter(|| apache.decode(black_box(&bytes)).expect("decode"))
    });
    group.bench_function("decode_fast", |b| {
        b.iter(|| fast.decode(black_box(&bytes)).expect("decode"))
    });
    group.finish();
}

fn codec(c: &mut Criterion) {
    bench_pair(c, "event_codec", &EventCodec::new(), &typical_event());
    bench_pair(
        c,
        "dead_letter_codec",
        &DeadLetterCodec::new(),
        &typical_dead_letter(),
    );
}

criterion_group!(benches, codec);
criterion_main!(benches);
