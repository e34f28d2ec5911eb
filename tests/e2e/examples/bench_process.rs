//! Processor benchmarks on the local stack (issue 5): the ClickHouse writer alone (narrow rows
//! per second), and catch-up from a pre-filled topic (events per second from the first record
//! to the last checkpoint), with the producer rate that filled the topic for scale.
//!
//! `cargo run --release -p rapport-e2e --example bench_process` (the local stack must run).
//! `RAPPORT_BENCH_EVENTS` (default 1,000,000) and `RAPPORT_BENCH_ROWS` (default 1,000,000) set
//! the sizes. Prints a table; nothing is asserted (benchmarks are not tests).

use std::time::{Duration, Instant};

use rapport_clickhouse::rows::FollowEdgeDbRow;
use rapport_e2e::{clickhouse_config, kafka_config, unique_name};
use rapport_events::{
    Channel, Direction, EventCodec, InteractionEvent, Kind, Modifier, Party, Platform,
};
use rapport_kafka::rdkafka::producer::{FutureProducer, FutureRecord};
use rapport_runtime::config::{Config, KafkaConfig, ProcessConfig};
use rapport_runtime::Shutdown;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A realistic mix over 100k brand·users: 70 % inbound conversational, 20 % brand replies,
/// 10 % reactions and follows; 20 events per second of event time.
fn event(i: usize) -> InteractionEvent {
    let brand = format!("b{}", i % 10);
    let user = format!("u{}", (i.wrapping_mul(7_919)) % 100_000);
    let at = 1_772_409_600_000 + (i as i64) * 50;
    let roll = i % 10;
    let (kind, direction) = match roll {
        0..=6 => (
            [Kind::Comment, Kind::Mention, Kind::DirectMessage][i % 3],
            Direction::Inbound,
        ),
        7 | 8 => (Kind::Reply, Direction::Outbound),
        _ => (
            if i % 2 == 0 {
                Kind::Reaction
            } else {
                Kind::Follow
            },
            Direction::Inbound,
        ),
    };
    let party = |id: &str| Party {
        id: id.to_owned(),
        handle: Some(id.to_owned()),
        display_name: Some("Sam Lee".into()),
        followers: Some((i % 50_000) as i64),
    };
    let (actor, addressed) = match direction {
        Direction::Inbound => (party(&user), None),
        Direction::Outbound => (party(&format!("{brand}-acct")), Some(party(&user))),
    };
    InteractionEvent {
        event_id: format!("bench-{i}"),
        platform: Platform::X,
        brand_account_id: format!("{brand}-acct"),
        brand_id: brand,
        kind,
        modifier: Modifier::None,
        direction,
        channel: if kind == Kind::DirectMessage {
            Channel::Private
        } else {
            Channel::Public
        },
        actor,
        addressed,
        object_id: format!("o{i}"),
        parent_id: None,
        root_id: None,
        text: Some(
            if direction == Direction::Outbound {
                "Thanks Sam, we will look into it today"
            } else {
                "my order has not arrived yet"
            }
            .into(),
        ),
        reaction: None,
        automated: false,
        occurred_at: at,
        received_at: at + 500,
        profile: None,
        source: "bench".into(),
    }
}

async fn produce_all(producer: &FutureProducer, topic: &str, n: usize) -> anyhow::Result<Duration> {
    let codec = EventCodec::new();
    let started = Instant::now();
    let mut inflight = Vec::with_capacity(10_000);
    for i in 0..n {
        let e = event(i);
        let payload = codec.encode(&e)?;
        let key = e.partition_key();
        let f = producer
            .send_result(FutureRecord::to(topic).key(&key).payload(&payload))
            .map_err(|(e, _)| e)?;
        inflight.push(f);
        if inflight.len() == 10_000 {
            for f in inflight.drain(..) {
                f.await?.map_err(|(e, _)| e)?;
            }
        }
    }
    for f in inflight {
        f.await?.map_err(|(e, _)| e)?;
    }
    Ok(started.elapsed())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let n_events = env_usize("RAPPORT_BENCH_EVENTS", 1_000_000);
    let n_rows = env_usize("RAPPORT_BENCH_ROWS", 1_000_000);

    // 1. The ClickHouse writer alone: narrow rows (follow_edges), 100k per insert.
    let ch = clickhouse_config("bench");
    let server = rapport_clickhouse::server_client(&ch);
    rapport_clickhouse::migrate(&server, &ch.database).await?;
    let client = rapport_clickhouse::client(&ch);
    let rows: Vec<FollowEdgeDbRow> = (0..n_rows)
        .map(|i| FollowEdgeDbRow {
            brand_id: format!("b{}", i % 10),
            platform: 3,
            user_id: format!("u{i}"),
            direction: 2,
            following: 1,
            changed_at: 1_772_409_600 + (i as u32 % 86_400),
            item_id: format!("f{i}"),
            version: i as u64,
        })
        .collect();
    let started = Instant::now();
    for chunk in rows.chunks(100_000) {
        let mut insert = client.insert::<FollowEdgeDbRow>("follow_edges").await?;
        for r in chunk {
            insert.write(r).await?;
        }
        insert.end().await?;
    }
    let writer = started.elapsed();

    // 2. Catch-up: fill a topic, then process it from the start.
    let config = Config {
        kafka: KafkaConfig {
            interactions_topic: unique_name("rapport.bench"),
            deadletter_topic: unique_name("rapport.bench.dl"),
            partitions: 8,
            ..kafka_config()
        },
        clickhouse: ch.clone(),
        process: ProcessConfig {
            group_id: unique_name("rapport-bench"),
            idle_advance: Duration::from_secs(2),
            ..ProcessConfig::default()
        },
        ..Config::default()
    };
    let k = &config.kafka;
    rapport_kafka::ensure_topics(k, &[&k.interactions_topic, &k.deadletter_topic], 8).await?;
    let producer = rapport_kafka::producer(k)?;
    let produce = produce_all(&producer, &k.interactions_topic, n_events).await?;

    let shutdown = Shutdown::new();
    let started = Instant::now();
    let task = rapport_e2e::spawn_processor(&config, &shutdown);
    // Done when the interactions of every event are written (the last flush of each partition).
    let catch_up = loop {
        let count: u64 = client
            .query("SELECT count() FROM interactions")
            .fetch_one()
            .await?;
        if count >= n_events as u64 {
            break started.elapsed();
        }
        if task.is_finished() {
            anyhow::bail!("processor stopped early");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    shutdown.trigger();
    task.await??;
    let threads: u64 = client
        .query("SELECT count() FROM threads FINAL")
        .fetch_one()
        .await?;
    server
        .query(&format!("DROP DATABASE {}", ch.database))
        .execute()
        .await?;

    let rate = |n: usize, d: Duration| n as f64 / d.as_secs_f64();
    println!("| benchmark | figure |");
    println!("|---|---|");
    println!("| ClickHouse writer, narrow rows (follow_edges, 100k per insert) | {:.0} rows/s ({n_rows} rows in {:.2} s) |", rate(n_rows, writer), writer.as_secs_f64());
    println!(
        "| producer filling the topic (8 partitions, acks=all) | {:.0} events/s |",
        rate(n_events, produce)
    );
    println!("| processor catch-up, first record to every row written | {:.0} events/s ({n_events} events in {:.1} s, {threads} threads) |", rate(n_events, catch_up), catch_up.as_secs_f64());
    Ok(())
}
