//! Metric engine benchmarks: events/s through the engine with a realistic mix, bytes of heap
//! per open thread (counting allocator), and SimHash lookups against 1M stored fingerprints.
//! Run: `cargo bench -p rapport-engine --bench engine -- --warm-up-time 1 --measurement-time 3`.

use std::alloc::System;
use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput};
use rapport_engine::{Engine, EngineConfig, FingerprintIndex};
use rapport_events::{Channel, Direction, InteractionEvent, Kind, Modifier, Party, Platform};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const T0: i64 = 1_772_438_400_000; // 2026-03-02T08:00:00Z

const INBOUND: [&str; 8] = [
    "my order 55231 still hasn't arrived, it's been two weeks",
    "@acme the app keeps crashing when I open my basket",
    "love the new spring collection!! 😍",
    "is the blender dishwasher safe?",
    "I was charged twice for the same order, please help",
    "why is delivery to Norway so expensive",
    "the espresso machine leaks water from the steam wand",
    "any discount codes for students?",
];
const OUTBOUND: [&str; 6] = [
    "Hi! Sorry to hear that. Please DM us your order number and we'll look into it right away ^AB",
    "Thanks so much, we're thrilled you like it! 💚",
    "Hi Sam, the jug is dishwasher safe, the base is not. Enjoy your smoothies!",
    "So sorry about the double charge, a refund for order 55231 is on its way -Tom",
    "We've passed this on to our app team, an update fixing the basket crash ships this week",
    "Student discounts are on https://acme.example/students ^CD",
];

/// A deterministic pseudo-random sequence (splitmix64), so every run benches the same input.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn party(id: String, followers: Option<i64>) -> Party {
    Party {
        handle: Some(format!("@{id}")),
        display_name: Some("Sam Rivera".into()),
        followers,
        id,
    }
}

/// The mix of the issue: 70 % inbound conversational, 20 % outbound replies, 10 % reactions
/// and follows, over `brands × users_per_brand` brand·users, one event every `step_ms`.
fn realistic_events(
    n: usize,
    brands: u64,
    users_per_brand: u64,
    step_ms: i64,
) -> Vec<InteractionEvent> {
    let mut rng = Rng(42);
    (0..n)
        .map(|i| {
            let r = rng.next();
            let brand = r % brands;
            let user = (r >> 16) % users_per_brand;
            let roll = (r >> 40) % 100;
            let brand_id = format!("brand{brand}");
            let uid = format!("{}", 1_000_000_000_000 + brand * 1_000_000 + user);
            let (kind, dir, text) = match roll {
                0..=69 => (
                    [
                        Kind::Comment,
                        Kind::Reply,
                        Kind::Mention,
                        Kind::DirectMessage,
                    ][(r >> 48) as usize % 4],
                    Direction::Inbound,
                    Some(INBOUND[(r >> 52) as usize % INBOUND.len()]),
                ),
                70..=89 => (
                    Kind::Reply,
                    Direction::Outbound,
                    Some(OUTBOUND[(r >> 52) as usize % OUTBOUND.len()]),
                ),
                90..=94 => (Kind::Reaction, Direction::Outbound, None),
                95..=97 => (Kind::Follow, Direction::Inbound, None),
                _ => (Kind::Follow, Direction::Outbound, None),
            };
            let user_party = party(uid, Some(((r >> 20) % 200_000) as i64));
            let brand_party = party(format!("acct-{brand}"), None);
            let (actor, addressed) = match dir {
                Direction::Inbound => (user_party, None),
                Direction::Outbound => (brand_party, Some(user_party)),
            };
            InteractionEvent {
                event_id: format!("ev-{i}"),
                platform: Platform::X,
                brand_id,
                brand_account_id: format!("acct-{brand}"),
                kind,
                modifier: Modifier::None,
                direction: dir,
                channel: if kind == Kind::DirectMessage {
                    Channel::Private
                } else {
                    Channel::Public
                },
                actor,
                addressed,
                object_id: format!("{}", 1_850_000_000_000_000_000u64 + i as u64),
                parent_id: None,
                root_id: None,
                text: text.map(str::to_owned),
                reaction: None,
                automated: roll % 23 == 0 && dir == Direction::Outbound,
                occurred_at: T0 + i as i64 * step_ms,
                received_at: T0 + i as i64 * step_ms,
                profile: None,
                source: "bench".into(),
            }
        })
        .collect()
}

fn throughput(c: &mut Criterion) {
    // 100 brands x 1,000 users = 100k brand·users; 400 ms apart, 200k events span ~22 h of
    // event time, so the 1 h and SLA stages, sweeps and a day boundary all run.
    let events = realistic_events(200_000, 100, 1_000, 400);
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(events.len() as u64));
    g.sample_size(10);
    g.bench_function("process_realistic_mix_200k", |b| {
        b.iter_batched(
            || Engine::new(EngineConfig::default(), vec![]).expect("config"),
            |mut engine| {
                for (i, e) in events.iter().enumerate() {
                    engine.process(e);
                    if i % 5_000 == 0 {
                        black_box(engine.drain_output());
                    }
                }
                black_box(engine.drain_output());
                engine
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn simhash_lookup(c: &mut Criterion) {
    let mut rng = Rng(7);
    let mut idx = FingerprintIndex::default();
    for i in 0..1_000_000i64 {
        idx.insert(0, i, rng.next(), rng.next());
    }
    let queries: Vec<u64> = (0..1024).map(|_| rng.next()).collect();
    let mut g = c.benchmark_group("simhash");
    g.bench_function("lookup_against_1m_fingerprints", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) & 1023;
            black_box(idx.lookup(0, queries[i], queries[i] ^ 1, 4))
        })
    });
    g.finish();
}

/// Opens 1M threads (1M distinct users, one inbound comment each with text) and reports the
/// heap the engine holds per open thread, as counted by the global allocator.
fn memory_per_open_thread() {
    let n = 1_000_000usize;
    // 50 ms apart: 1M threads open over ~14 h, all still awaiting the brand at the end.
    let mut events = realistic_events(n, 100, 10_000, 50);
    for (i, e) in events.iter_mut().enumerate() {
        // One inbound comment per distinct user: every event opens a thread.
        let uid = format!("{}", 1_000_000_000_000u64 + i as u64);
        e.kind = Kind::Comment;
        e.direction = Direction::Inbound;
        e.channel = Channel::Public;
        e.actor = party(uid, Some(1_234));
        e.addressed = None;
        e.text = Some(INBOUND[i % INBOUND.len()].to_owned());
    }
    let region = Region::new(GLOBAL);
    let mut engine = Engine::new(EngineConfig::default(), vec![]).expect("config");
    for e in &events {
        engine.process(e);
    }
    engine.advance_watermark(T0 + n as i64 * 50 + 1);
    black_box(engine.drain_output());
    let s = region.change();
    // stats_alloc already folds reallocation growth into bytes_allocated/deallocated.
    let net = s.bytes_allocated as i64 - s.bytes_deallocated as i64;
    let open = engine.open_keys();
    println!("memory: engine stats {:?}", engine.stats());
    let b = engine.heap_breakdown();
    let per = |x: usize| x as f64 / open as f64;
    println!(
        "memory: {open} open threads, engine heap {net} bytes = {:.1} bytes per open thread",
        net as f64 / open as f64
    );
    println!(
        "memory breakdown per open thread (approx.): thread index {:.1} (slots + table + id arena), cohort/timers {:.1}, dedup {:.1}, reply context {:.1}, fingerprints {:.1}",
        per(b.thread_index), per(b.cohort), per(b.dedup), per(b.reply_context), per(b.fingerprints)
    );
    drop(engine);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // Criterion's filter is the first free argument; the memory figure runs unless filtered out.
    let filter = args
        .iter()
        .skip(1)
        .find(|a| !a.starts_with('-') && a.parse::<f64>().is_err());
    if !args.iter().any(|a| a == "--list") && filter.is_none_or(|f| "memory".contains(f.as_str())) {
        memory_per_open_thread();
    }
    let mut c = Criterion::default().configure_from_args();
    throughput(&mut c);
    simhash_lookup(&mut c);
    c.final_summary();
}
