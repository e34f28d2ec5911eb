//! Encode and decode cost of one typical interaction event, the per-event work of ingest
//! (encode) and of the processor (decode).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rapport_events::{
    Channel, Direction, EventCodec, InteractionEvent, Kind, Modifier, Party, Platform,
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

fn codec(c: &mut Criterion) {
    let codec = EventCodec::new();
    let event = typical_event();
    let bytes = codec.encode(&event).expect("encode");
    let mut group = c.benchmark_group("event_codec");
    group.throughput(Throughput::Elements(1));
    group.bench_function("encode", |b| {
        b.iter(|| codec.encode(black_box(&event)).expect("encode"))
    });
    group.bench_function("decode", |b| {
        b.iter(|| codec.decode(black_box(&bytes)).expect("decode"))
    });
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
