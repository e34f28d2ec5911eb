//! Drives the engine outside criterion, for profilers and for refactors of the engine.
//!
//! - `replay_mix throughput [ROUNDS]`: the bench's realistic mix (200k events), `ROUNDS` fresh
//!   engines in a row, printing events/s; run it under `valgrind --tool=callgrind` or `perf`.
//! - `replay_mix throughput-hot [ROUNDS]`: the same, with each event in cache when processed
//!   (batches cloned outside the timed part), as behind the processor's decoder.
//! - `replay_mix digest`: a harsher mix (duplicates, late and out-of-order items, edits,
//!   unicode, named replies, profile snapshots, several platforms, 40 days of event time,
//!   snapshot → restore cycles, drains and gauges at odd points) whose every output is printed
//!   with `{:?}`. Pipe to `sha256sum` before and after a change: any difference in rows,
//!   gauges or stats changes the digest.

use std::time::Instant;

/// The product's allocator (`rapport-cli` runs on mimalloc), so throughput figures are the
/// product's; `--features bench-system-alloc` runs on glibc malloc as the driver did before.
#[cfg(not(feature = "bench-system-alloc"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use rapport_engine::{BrandSettings, Engine, EngineConfig, WeeklyHours};
use rapport_events::{
    Channel, Direction, InteractionEvent, Kind, Modifier, Party, Platform, ProfileCounts,
};

#[path = "../benches/common/mix.rs"]
mod mix;
use mix::{realistic_events, Rng, INBOUND, OUTBOUND, T0};

/// Nanoseconds this thread has run on a CPU (Linux schedstat), so figures stay meaningful on
/// a box shared with other jobs, where wall time includes waiting for a core.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn throughput(rounds: usize) {
    let events = realistic_events(200_000, 100, 1_000, 400);
    for _ in 0..rounds {
        let start = Instant::now();
        let cpu0 = thread_cpu_ns();
        let mut engine = Engine::new(EngineConfig::default(), vec![]).expect("config");
        for (i, e) in events.iter().enumerate() {
            engine.process(e);
            if i % 5_000 == 0 {
                std::hint::black_box(engine.drain_output());
            }
        }
        std::hint::black_box(engine.drain_output());
        let s = start.elapsed().as_secs_f64();
        let n = events.len() as f64;
        match (cpu0, thread_cpu_ns()) {
            (Some(a), Some(b)) => {
                let cpu = (b - a) as f64 / 1e9;
                println!(
                    "{n} events: wall {s:.3} s = {:.0} events/s; on-CPU {cpu:.3} s = {:.0} events/s",
                    n / s,
                    n / cpu
                );
            }
            _ => println!("{n} events: wall {s:.3} s = {:.0} events/s", n / s),
        }
    }
}

/// The same rounds with each event in cache when the engine sees it, as behind the processor's
/// decoder: batches of 1,000 events are cloned from the 200k-event array outside the timed
/// part (the clone pays the array's cache misses), then processed; only processing and drains
/// are timed (on-CPU). The difference to `throughput` is what reading events from an array
/// larger than the caches costs.
fn throughput_hot(rounds: usize) {
    let events = realistic_events(200_000, 100, 1_000, 400);
    for _ in 0..rounds {
        let mut cpu = 0u64;
        let mut engine = Engine::new(EngineConfig::default(), vec![]).expect("config");
        for (b, batch) in events.chunks(1_000).enumerate() {
            let hot: Vec<InteractionEvent> = batch.to_vec();
            let Some(c0) = thread_cpu_ns() else {
                eprintln!("no /proc/thread-self/schedstat: on-CPU time is not available");
                return;
            };
            for (j, e) in hot.iter().enumerate() {
                engine.process(e);
                if (b * 1_000 + j) % 5_000 == 0 {
                    std::hint::black_box(engine.drain_output());
                }
            }
            cpu += thread_cpu_ns().unwrap_or(c0) - c0;
            drop(hot);
        }
        let c0 = thread_cpu_ns().unwrap_or(0);
        std::hint::black_box(engine.drain_output());
        cpu += thread_cpu_ns().unwrap_or(c0) - c0;
        let n = events.len() as f64;
        let s = cpu as f64 / 1e9;
        println!(
            "{n} events, input hot: on-CPU {s:.3} s = {:.0} events/s",
            n / s
        );
    }
}

const EXTRA_TEXT: [&str; 6] = [
    "Hi Émilie — désolé pour le retard, votre colis 7781 arrive demain 🙏 ~Jo",
    "@sam @acme_help Sam, thanks! Please DM us your order number - Sarah",
    "naïve café question: does the grinder fit the 2.0 model?",
    "Call us on 0800 123 456 or email us at help@acme.example",
    "''' -- !!! 🎉🎉🎉",
    "ok",
];

fn digest_events() -> Vec<InteractionEvent> {
    let mut rng = Rng(99);
    let mut out = Vec::new();
    let platforms = [Platform::X, Platform::Instagram, Platform::Facebook];
    let names = ["Sam Rivera", "Dr. Émilie Roux", "J. R.", "Sarah"];
    let mut t = T0;
    for i in 0..60_000u64 {
        let r = rng.next();
        // Irregular gaps: bursts, minutes, and now and then hours or a day of silence.
        t += match r % 1000 {
            0..=899 => (r >> 10) as i64 % 20_000,
            900..=989 => (r >> 10) as i64 % 3_600_000,
            _ => (r >> 10) as i64 % 90_000_000,
        };
        let brand = (r >> 8) % 4;
        let user = (r >> 12) % 300;
        let platform = platforms[((r >> 20) % 3) as usize];
        let roll = (r >> 24) % 100;
        let (kind, dir) = match roll {
            0..=49 => (
                [
                    Kind::Comment,
                    Kind::Reply,
                    Kind::Mention,
                    Kind::DirectMessage,
                ][((r >> 32) % 4) as usize],
                Direction::Inbound,
            ),
            50..=74 => (
                [Kind::Reply, Kind::DirectMessage, Kind::Comment][((r >> 32) % 3) as usize],
                Direction::Outbound,
            ),
            75..=81 => (Kind::Reaction, Direction::Outbound),
            82..=84 => (Kind::Reaction, Direction::Inbound),
            85..=88 => (Kind::Follow, Direction::Inbound),
            89..=90 => (Kind::Unfollow, Direction::Inbound),
            91..=93 => (Kind::Follow, Direction::Outbound),
            94 => (Kind::Unfollow, Direction::Outbound),
            95 => (Kind::Post, Direction::Outbound),
            96 => (Kind::Share, Direction::Outbound),
            97 => (Kind::ProfileSnapshot, Direction::Inbound),
            98 => (Kind::Share, Direction::Inbound),
            _ => (Kind::Other, Direction::Inbound),
        };
        let text_pick = (r >> 36) % 20;
        let text = if !kind.is_conversational() {
            None
        } else if text_pick < 3 {
            Some(EXTRA_TEXT[(text_pick as usize + (r >> 40) as usize) % EXTRA_TEXT.len()])
        } else if text_pick == 3 {
            None
        } else if dir == Direction::Inbound {
            Some(INBOUND[((r >> 44) % 8) as usize])
        } else {
            Some(OUTBOUND[((r >> 44) % 6) as usize])
        };
        let uid = if user == 0 {
            String::new()
        } else {
            format!("{}", 1_000_000_000_000u64 + user * 7919)
        };
        let user_party = Party {
            id: uid,
            handle: Some(format!("@u{user}")),
            display_name: Some(names[(user % 4) as usize].to_owned()),
            followers: ((r >> 48) % 5 != 0).then_some(((r >> 50) % 2_000_000) as i64),
        };
        let brand_party = Party {
            id: format!("acct-{brand}"),
            handle: Some(format!("@brand{brand}")),
            display_name: Some(format!("Brand {brand}")),
            followers: None,
        };
        let is_brand_profile = kind == Kind::ProfileSnapshot && (r >> 52) % 2 == 0;
        let (actor, addressed) = match dir {
            Direction::Inbound if is_brand_profile => (brand_party, None),
            Direction::Inbound => (user_party, None),
            Direction::Outbound => (brand_party, Some(user_party)),
        };
        let modifier = match (r >> 54) % 40 {
            0 => Modifier::Edited,
            1 => Modifier::Deleted,
            2 if kind == Kind::Reaction => Modifier::Unreacted,
            _ => Modifier::None,
        };
        // Out of order within and beyond the lateness bound, and duplicated ids.
        let jitter = match (r >> 58) % 16 {
            0 => -((r >> 20) as i64 % 280_000),
            1 => -((r >> 20) as i64 % 900_000),
            _ => 0,
        };
        let event_id = if (r >> 60) == 0 && i > 10 {
            format!("ev-{}", i - 1 - (r >> 30) % 10)
        } else {
            format!("ev-{i}")
        };
        let at = t + jitter;
        out.push(InteractionEvent {
            event_id,
            platform,
            brand_id: format!("brand{brand}"),
            brand_account_id: format!("acct-{brand}"),
            kind,
            modifier,
            direction: dir,
            channel: if kind == Kind::DirectMessage {
                Channel::Private
            } else {
                Channel::Public
            },
            actor,
            addressed,
            object_id: format!("{}", 1_850_000_000_000_000_000u64 + i),
            parent_id: None,
            root_id: None,
            text: text.map(str::to_owned),
            reaction: None,
            automated: (r >> 62) == 0 && dir == Direction::Outbound,
            occurred_at: at,
            received_at: at,
            profile: (kind == Kind::ProfileSnapshot).then_some(ProfileCounts {
                followers: (r % 100_000) as i64,
                following: (r % 777) as i64,
                posts: Some((r % 55) as i64),
            }),
            source: "digest".into(),
        });
    }
    out
}

fn brands() -> Vec<BrandSettings> {
    vec![
        BrandSettings {
            business_hours: Some(WeeklyHours::weekdays("09:00-17:00")),
            ..BrandSettings::with_defaults("brand1")
        },
        BrandSettings::with_defaults("brand2"),
    ]
}

fn digest() {
    let events = digest_events();
    let cfg = EngineConfig {
        thread_gap_seconds: 6 * 3600,
        max_pending_seconds: 3 * 24 * 3600,
        ..EngineConfig::default()
    };
    let mut engine = Engine::new(cfg.clone(), brands()).expect("config");
    for (i, e) in events.iter().enumerate() {
        println!("{i} {:?}", engine.process(e));
        if i % 997 == 0 {
            println!("{:?}", engine.drain_output());
        }
        if i % 4_999 == 0 {
            println!("{:?}", engine.live_gauges());
        }
        if i % 7_919 == 0 {
            let bytes = engine.snapshot().expect("snapshot");
            engine = Engine::restore(&bytes, cfg.clone(), brands()).expect("restore");
        }
    }
    let end = events.iter().map(|e| e.occurred_at).max().unwrap_or(T0);
    for d in 1..=40 {
        engine.advance_watermark(end + d * 86_400_000);
        println!("{:?}", engine.drain_output());
    }
    println!("{:?}", engine.live_gauges());
    println!("{:?} open {}", engine.stats(), engine.open_keys());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(3);
    match args.get(1).map(String::as_str) {
        Some("throughput") => throughput(rounds),
        Some("throughput-hot") => throughput_hot(rounds),
        Some("digest") => digest(),
        _ => eprintln!(
            "usage: replay_mix throughput [ROUNDS] | replay_mix throughput-hot [ROUNDS] | replay_mix digest"
        ),
    }
}
