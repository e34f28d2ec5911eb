//! Helpers for the end-to-end tests: where the local stack is, unique per-test names (topics,
//! groups, databases) so tests never share state, and a poll-until-deadline helper instead of
//! fixed sleeps. The stack itself is started by `deploy/local/up` (CI: `.ci/run`); if it is not
//! running, the tests fail with a message saying so — they never skip. The modules hold the
//! rest: child processes, a private stack for tests that stop services, the processor's runs,
//! a webhook load generator, topics and tables read back, and the fault report line.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rapport_runtime::config::{ClickHouseConfig, KafkaConfig};

/// Kafka settings for tests: `RAPPORT_TEST_KAFKA_BROKERS` or the local stack's default.
pub fn kafka_config() -> KafkaConfig {
    KafkaConfig {
        brokers: std::env::var("RAPPORT_TEST_KAFKA_BROKERS")
            .unwrap_or_else(|_| "127.0.0.1:9092".into()),
        client_id: "rapport-test".into(),
        partitions: 3,
        ..KafkaConfig::default()
    }
}

/// ClickHouse settings for tests: `RAPPORT_TEST_CLICKHOUSE_URL` or the local stack's default,
/// with a fresh database name.
pub fn clickhouse_config(test: &str) -> ClickHouseConfig {
    ClickHouseConfig {
        url: std::env::var("RAPPORT_TEST_CLICKHOUSE_URL")
            .unwrap_or_else(|_| "http://127.0.0.1:8123".into()),
        database: unique_name(&format!("test_{test}")).replace(['.', '-'], "_"),
        ..ClickHouseConfig::default()
    }
}

/// `kafka` naming two fresh topics of `test` (interactions and dead letters), created with
/// `partitions` partitions on its broker.
pub async fn fresh_topics(mut kafka: KafkaConfig, test: &str, partitions: i32) -> KafkaConfig {
    kafka.interactions_topic = unique_name(&format!("rapport.test.{test}"));
    kafka.deadletter_topic = unique_name(&format!("rapport.test.{test}.dl"));
    rapport_kafka::ensure_topics(
        &kafka,
        &[&kafka.interactions_topic, &kafka.deadletter_topic],
        partitions,
    )
    .await
    .unwrap_or_else(|e| panic!("cannot create topics: {e:#?}; {STACK_HINT}"));
    kafka
}

/// The `[log]`, `[admin]` and `[kafka]` sections of a config file for a `rapport` child: the
/// brokers, topics and librdkafka properties of `kafka`, then `extra_properties`.
pub fn config_head(
    log_level: &str,
    admin: &str,
    client_id: &str,
    kafka: &KafkaConfig,
    extra_properties: &[(&str, &str)],
) -> String {
    let mut s = format!(
        "[log]\nlevel = \"{log_level}\"\n\n[admin]\nlisten = \"{admin}\"\n\n[kafka]\n\
         brokers = \"{}\"\nclient_id = \"{client_id}\"\ninteractions_topic = \"{}\"\n\
         deadletter_topic = \"{}\"\n\n[kafka.properties]\n",
        kafka.brokers, kafka.interactions_topic, kafka.deadletter_topic
    );
    let properties = kafka
        .properties
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(extra_properties.iter().copied());
    for (k, v) in properties {
        s.push_str(&format!("\"{k}\" = \"{v}\"\n"));
    }
    s.push('\n');
    s
}

/// `prefix` plus the process id, a counter and the time: unique across tests and runs.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() % 1_000_000_000);
    format!("{prefix}_{}_{n}_{t}", std::process::id())
}

/// The number in environment variable `name`, or `default` when it is not set; panics on a
/// value that is not a number (a typo must not silently run the short version).
pub fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}={v} is not a number"))
        })
        .unwrap_or(default)
}

/// Poll `check` until it returns `Some` or `deadline` passes; panics with `what` on timeout.
pub async fn poll_until<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    let mut delay = Duration::from_millis(20);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(500));
    }
}

/// POST a body signed for `/webhooks/generic` (`X-Rapport-Signature`) over plain HTTP/1.1, one
/// connection per request; returns the status code.
pub async fn post_generic(
    addr: std::net::SocketAddr,
    body: &[u8],
    signature: &str,
) -> std::io::Result<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let head = format!(
        "POST /webhooks/generic HTTP/1.1\r\nHost: ingest\r\nContent-Type: application/json\r\n\
         X-Rapport-Signature: {signature}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no HTTP status line in the response"))
}

pub use child::rapport_bin;

/// `rapport process` in this process (its own registry and health), until `shutdown`.
pub fn spawn_processor(
    config: &rapport_runtime::Config,
    shutdown: &rapport_runtime::Shutdown,
) -> tokio::task::JoinHandle<anyhow::Result<()>> {
    let (config, shutdown) = (config.clone(), shutdown.clone());
    tokio::spawn(async move {
        rapport_processor::run(
            &config,
            &prometheus::Registry::new(),
            &rapport_runtime::Health::new(),
            shutdown,
        )
        .await
    })
}

/// The hint every stack failure carries.
pub const STACK_HINT: &str =
    "is the local stack running? start it with `deploy/local/up` (CI: `.ci/run` does)";

pub mod child;
pub mod http;
pub mod load;
pub mod private_stack;
pub mod processing;
pub mod report;
pub mod scenario;
pub mod tables;
pub mod topic;
