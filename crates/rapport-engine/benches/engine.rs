//! Metric engine benchmarks: events/s through the engine with a realistic mix, bytes of heap
//! per open thread (counting allocator), and SimHash lookups against 1M stored fingerprints.
//! Run: `cargo bench -p rapport-engine --bench engine -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput};
use rapport_engine::{Engine, EngineConfig, FingerprintIndex};
use rapport_events::{Channel, Direction, Kind};

mod common;
use common::mix::{party, realistic_events, Rng, INBOUND, T0};

/// The product's allocator (mimalloc, as in `rapport-cli`), wrapped in a counter of requested
/// bytes for the memory figure; the count does not depend on the allocator underneath.
/// `--features bench-system-alloc` runs on glibc malloc instead, as the bench did before.
#[cfg(not(feature = "bench-system-alloc"))]
#[global_allocator]
static GLOBAL: cap::Cap<mimalloc::MiMalloc> = cap::Cap::new(mimalloc::MiMalloc, usize::MAX);
#[cfg(feature = "bench-system-alloc")]
#[global_allocator]
static GLOBAL: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);

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

/// Opens `n` threads (`n` distinct users, one inbound comment each with text) and reports the
/// heap the engine holds per open thread, as counted by the global allocator. The headline is
/// n = 1,000,000; `RAPPORT_MEM_THREADS=700000,1300000` measures other sizes (container growth
/// steps make the figure depend on where `n` falls between them).
fn memory_per_open_thread(n: usize) {
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
    let before = GLOBAL.allocated();
    let mut engine = Engine::new(EngineConfig::default(), vec![]).expect("config");
    for e in &events {
        engine.process(e);
    }
    engine.advance_watermark(T0 + n as i64 * 50 + 1);
    black_box(engine.drain_output());
    // Requested bytes live now minus before (reallocations count their size change).
    let net = GLOBAL.allocated() as i64 - before as i64;
    let open = engine.open_keys();
    println!("memory: engine stats {:?}", engine.stats());
    let b = engine.heap_breakdown();
    let per = |x: usize| x as f64 / open as f64;
    println!(
        "memory: {open} open threads, engine heap {net} bytes = {:.1} bytes per open thread",
        net as f64 / open as f64
    );
    let rest = net as usize
        - (b.thread_index + b.cohort + b.dedup + b.engager_sets + b.reply_context + b.fingerprints)
            .min(net as usize);
    println!(
        "memory breakdown per open thread (approx.): thread index {:.1} (slots + table + id arena), cohort/timers {:.1}, dedup {:.1}, engager sets {:.1}, reply context {:.1}, fingerprints {:.1}, rest (buffers, day rows) {:.1}",
        per(b.thread_index), per(b.cohort), per(b.dedup), per(b.engager_sets), per(b.reply_context), per(b.fingerprints), per(rest)
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
        let sizes = std::env::var("RAPPORT_MEM_THREADS").unwrap_or_else(|_| "1000000".into());
        for n in sizes
            .split(',')
            .filter_map(|x| x.trim().parse::<usize>().ok())
        {
            memory_per_open_thread(n);
        }
    }
    let mut c = Criterion::default().configure_from_args();
    throughput(&mut c);
    simhash_lookup(&mut c);
    c.final_summary();
}
