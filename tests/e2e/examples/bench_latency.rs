//! End-to-end latency on the local stack (issue 5): signed generic webhooks into `rapport
//! ingest` at a fixed arrival rate, each opening a thread for a new user; the time from the 2xx
//! to the thread row being visible in ClickHouse, per event, as p50/p99/max. Steady state: the
//! measured window is framed by 2 s of unmeasured traffic before (partitions restore on their
//! first record) and `allowed_lateness` + 2 s after (so the window's last items are released by
//! the watermark of continuing traffic, not by the idle advance that ends a burst).
//!
//! `cargo run --release -p rapport-e2e --example bench_latency` (the local stack must run).
//! `RAPPORT_BENCH_RATE` (1000/s), `RAPPORT_BENCH_SECONDS` (10), `RAPPORT_BENCH_LATENESS`
//! (the processor's `allowed_lateness`, default "1s": thread rows wait for it by design, so it
//! is the floor of the latency) and `RAPPORT_BENCH_FLUSH_MS` (`flush_interval`, 1000) set the
//! run. `RAPPORT_BENCH_WATCH=interactions` times the raw `interactions` row instead (written
//! as soon as the record is processed, before the lateness hold): the difference between the
//! two runs is what the lateness window and thread tracking add. Prints a table; asserts
//! nothing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rapport_e2e::{clickhouse_config, kafka_config, post_generic, unique_name};
use rapport_runtime::config::{BrandConfig, Config, KafkaConfig, ProcessConfig};
use rapport_runtime::{Health, Secret, Secrets, Shutdown};

const SECRET: &str = "latency-bench-secret";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], num: usize, den: usize) -> Duration {
    let rank = (num * sorted.len()).div_ceil(den).max(1);
    sorted[rank - 1]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let rate: u64 = env_or("RAPPORT_BENCH_RATE", 1_000);
    let seconds: u64 = env_or("RAPPORT_BENCH_SECONDS", 10);
    let lateness = rapport_runtime::config::parse_duration(
        &std::env::var("RAPPORT_BENCH_LATENESS").unwrap_or_else(|_| "1s".into()),
    )
    .map_err(anyhow::Error::msg)?;
    let brand: BrandConfig = toml::from_str("id = \"acme\"\naccounts = { x = \"acme-x\" }\n")?;
    let mut config = Config {
        kafka: KafkaConfig {
            interactions_topic: unique_name("rapport.latency"),
            deadletter_topic: unique_name("rapport.latency.dl"),
            ..kafka_config()
        },
        clickhouse: clickhouse_config("latency"),
        process: ProcessConfig {
            group_id: unique_name("rapport-latency"),
            allowed_lateness: lateness,
            flush_interval: Duration::from_millis(env_or("RAPPORT_BENCH_FLUSH_MS", 1_000)),
            idle_advance: Duration::from_secs(2),
            ..ProcessConfig::default()
        },
        brands: vec![brand],
        ..Config::default()
    };
    if let Ok(ms) = std::env::var("RAPPORT_BENCH_FETCH_WAIT_MS") {
        config
            .kafka
            .properties
            .insert("fetch.wait.max.ms".into(), ms);
    }
    config.ingest.listen = "127.0.0.1:0".parse()?;
    config.ingest.generic.secret = Secrets::new(vec![Secret::new(SECRET)])?;
    let k = &config.kafka;
    rapport_kafka::ensure_topics(k, &[&k.interactions_topic, &k.deadletter_topic], 8).await?;
    let server = rapport_clickhouse::server_client(&config.clickhouse);
    rapport_clickhouse::migrate(&server, &config.clickhouse.database).await?;

    let shutdown = Shutdown::new();
    let ingest = rapport_ingest_service::start(
        &config,
        &prometheus::Registry::new(),
        &Health::new(),
        shutdown.clone(),
    )
    .await?;
    let processor = rapport_e2e::spawn_processor(&config, &shutdown);
    // Let the consumer join and get its partitions before the clock starts.
    tokio::time::sleep(Duration::from_secs(5)).await;

    // Watch the threads table from the start, concurrently with the sends: each opening item's
    // first sighting ends its latency. The watcher stops once it has seen every acknowledged
    // item (`watching` is set when the sends are done) or at its deadline.
    let watch_raw = std::env::var("RAPPORT_BENCH_WATCH").is_ok_and(|t| t == "interactions");
    let (query, what) = if watch_raw {
        (
            "SELECT object_id FROM interactions WHERE startsWith(object_id, 'lat-')",
            "interaction row",
        )
    } else {
        (
            "SELECT opening_item_id FROM threads WHERE startsWith(opening_item_id, 'lat-')",
            "thread row",
        )
    };
    let watching = Arc::new(AtomicUsize::new(usize::MAX));
    let watcher = {
        let client = rapport_clickhouse::client(&config.clickhouse);
        let watching = watching.clone();
        let limit = Duration::from_secs(seconds + 60) + lateness;
        tokio::spawn(async move {
            let mut seen: HashMap<String, Instant> = HashMap::new();
            let deadline = Instant::now() + limit;
            while seen.len() < watching.load(Ordering::Relaxed) && Instant::now() < deadline {
                let ids: Vec<String> = client.query(query).fetch_all().await?;
                let now = Instant::now();
                for id in ids {
                    seen.entry(id).or_insert(now);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            anyhow::Ok(seen)
        })
    };

    let acked: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    // Steady state: 2 s of unmeasured traffic first (partitions restore on their first record),
    // and unmeasured traffic after the measured window for the lateness plus 2 s, so the last
    // measured items are released by the watermark of continuing traffic, as in production,
    // not by the idle advance that ends a burst.
    let total = rate * seconds;
    let warm_up = rate * 2;
    let tail = rate * (lateness.as_secs() + 2);
    let start = Instant::now();
    let mut sends = Vec::with_capacity((warm_up + total + tail) as usize);
    for n in 0..warm_up + total + tail {
        let measured = (warm_up..warm_up + total).contains(&n);

        let due = start + Duration::from_nanos(n * 1_000_000_000 / rate);
        tokio::time::sleep_until(due.into()).await;
        let (acked, addr) = (acked.clone(), ingest.addr());
        sends.push(tokio::spawn(async move {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            let object = format!("{}-{n}", if measured { "lat" } else { "load" });
            let body = serde_json::to_vec(&serde_json::json!({
                "id": object, "platform": "x", "account_id": "acme-x", "kind": "mention",
                "direction": "inbound", "actor": { "id": format!("user-{n}") },
                "object_id": object, "text": "hello?", "occurred_at": now,
            }))
            .unwrap_or_default();
            let signature =
                rapport_ingest::signature::sign_generic(&body, SECRET.as_bytes(), now / 1000);
            let status = post_generic(addr, &body, &signature).await;
            if measured && matches!(status, Ok(200)) {
                acked
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(object, Instant::now());
            }
        }));
    }
    for s in sends {
        s.await?;
    }
    let sent_for = start.elapsed();

    let n_acked = acked.lock().unwrap_or_else(|p| p.into_inner()).len();
    watching.store(n_acked, Ordering::Relaxed);
    let seen = watcher.await??;
    shutdown.trigger();
    processor.await??;
    server
        .query(&format!("DROP DATABASE {}", config.clickhouse.database))
        .execute()
        .await?;

    let acked = acked.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut latencies: Vec<Duration> = acked
        .iter()
        .filter_map(|(id, ack)| seen.get(id).map(|v| v.saturating_duration_since(*ack)))
        .collect();
    latencies.sort();
    anyhow::ensure!(!latencies.is_empty(), "no thread row became visible");
    println!("| run | figure |");
    println!("|---|---|");
    println!(
        "| offered | {rate} webhooks/s for {seconds} s measured, after 2 s and before {} s unmeasured ({} sent in {:.1} s, {} measured acked) |",
        tail / rate,
        warm_up + total + tail,
        sent_for.as_secs_f64(),
        acked.len()
    );
    println!(
        "| allowed_lateness / flush_interval / idle_advance | {lateness:?} / {:?} / 2s |",
        config.process.flush_interval
    );
    println!(
        "| 2xx to {what} visible | p50 {:?}, p99 {:?}, max {:?} ({} of {} rows seen; polled every 50 ms) |",
        percentile(&latencies, 1, 2),
        percentile(&latencies, 99, 100),
        latencies[latencies.len() - 1],
        latencies.len(),
        acked.len()
    );
    Ok(())
}
