//! Running `rapport process` in the fault tests: topics and databases of one test, the config
//! file of a run, the processor in-process (uninterrupted reference runs: the same code the
//! binary runs, minus process start-up), and waiting until a run has consumed everything and
//! its output has settled — the tables two runs over the same events are compared by.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rapport_events::InteractionEvent;
use rapport_runtime::config::{ClickHouseConfig, KafkaConfig};
use rapport_runtime::{Config, Health, Shutdown};

use crate::report::FaultReport;
use crate::scenario::{scenario_brands_toml, Produced};
use crate::tables::{dump_tables, Dump};
use crate::{config_head, fresh_topics, poll_until, unique_name, STACK_HINT};

/// Partitions of every scenario topic.
pub const PARTITIONS: i32 = 4;
/// Simulated days of traffic in every scenario.
pub const DAYS: u32 = 4;
/// How long output must stay unchanged, after every checkpoint reached the end, to count as
/// finished: above `idle_advance` (1 s) plus a flush, so the final idle flush is in.
pub const SETTLE: Duration = Duration::from_secs(3);

/// `kafka` naming two fresh topics of `test`, created with [`PARTITIONS`] partitions.
pub async fn scenario_topics(kafka: KafkaConfig, test: &str) -> KafkaConfig {
    fresh_topics(kafka, test, PARTITIONS).await
}

/// `cfg`'s database, created and migrated.
pub async fn migrated(cfg: ClickHouseConfig) -> ClickHouseConfig {
    rapport_clickhouse::migrate(&rapport_clickhouse::server_client(&cfg), &cfg.database)
        .await
        .unwrap_or_else(|e| panic!("{e:#?}; {STACK_HINT}"));
    cfg
}

/// The config file of one processor run. Short intervals so that checkpoints (and so crash
/// points between them) happen often; a short session timeout so a killed member leaves the
/// group in seconds instead of the default 30 s. The admin port is `admin_port` (0: any).
pub fn write_config(
    dir: &Path,
    kafka: &KafkaConfig,
    ch: &ClickHouseConfig,
    group: &str,
    admin_port: u16,
) -> PathBuf {
    let head = config_head(
        "info,rapport_processor=debug",
        &format!("127.0.0.1:{admin_port}"),
        "rapport-test-process",
        kafka,
        &[
            ("session.timeout.ms", "6000"),
            ("heartbeat.interval.ms", "1000"),
        ],
    );
    let text = format!(
        r#"{head}[clickhouse]
url = "{url}"
database = "{db}"

[process]
group_id = "{group}"
checkpoint_interval = "1s"
flush_interval = "200ms"
idle_advance = "1s"
drain_timeout = "10s"
batch_rows = 5000

{brands}"#,
        url = ch.url,
        db = ch.database,
        brands = scenario_brands_toml(),
    );
    let path = dir.join(format!("{}.toml", unique_name("process")));
    std::fs::write(&path, text).expect("write config");
    path
}

pub fn load_config(path: &Path) -> Config {
    // No process environment: the file alone describes the run, exactly as for the binary.
    Config::load_with_env(Some(path), Vec::new()).expect("valid test config")
}

/// The processor running inside the test process; stopped (shutdown, then awaited) explicitly
/// or, on a panic, cancelled by the drop.
pub struct InProcess {
    shutdown: Shutdown,
    task: Option<tokio::task::JoinHandle<Result<(), String>>>,
}

impl InProcess {
    pub fn start(config: &Path) -> InProcess {
        let config = load_config(config);
        let shutdown = Shutdown::new();
        let s = shutdown.clone();
        let task = tokio::spawn(async move {
            let registry = prometheus::Registry::new();
            rapport_processor::run(&config, &registry, &Health::new(), s)
                .await
                .map_err(|e| format!("{e:#}"))
        });
        InProcess {
            shutdown,
            task: Some(task),
        }
    }

    /// Fail fast if the processor stopped on its own (it only stops on shutdown).
    pub fn check_alive(&self) {
        if let Some(task) = &self.task {
            assert!(
                !task.is_finished(),
                "the in-process processor stopped early"
            );
        }
    }

    pub async fn stop(mut self) {
        self.shutdown.trigger();
        let task = self.task.take().expect("running");
        tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .expect("the processor stops within 60 s")
            .expect("processor task")
            .expect("the processor ends without error");
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        self.shutdown.trigger();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Newest checkpointed offset per partition of `group` (0 when none).
pub async fn checkpoint_offsets(
    ch: &ClickHouseConfig,
    group: &str,
    topic: &str,
) -> Vec<(u32, u64)> {
    rapport_clickhouse::client(ch)
        .query(
            "SELECT partition, max(next_offset) FROM processor_state FINAL \
             WHERE consumer_group = ? AND topic = ? GROUP BY partition ORDER BY partition",
        )
        .bind(group)
        .bind(topic)
        .fetch_all::<(u32, u64)>()
        .await
        .unwrap_or_default()
}

/// Wait until `group` has checkpointed every partition up to its end offset.
pub async fn wait_for_checkpoints(
    ch: &ClickHouseConfig,
    group: &str,
    topic: &str,
    produced: &Produced,
    deadline: Duration,
    mut alive: impl FnMut(),
) {
    // A fixed short poll (not poll_until's backoff): the kill test times a crash from the
    // moment the last checkpoint lands.
    let start = Instant::now();
    loop {
        alive();
        let got = checkpoint_offsets(ch, group, topic).await;
        let done = produced.end_offsets.iter().all(|(p, end)| {
            got.iter().any(|(gp, o)| {
                i64::from(*gp) == i64::from(*p) && i64::try_from(*o).unwrap_or(0) >= *end
            })
        });
        if done {
            return;
        }
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for every partition of {group} to be checkpointed at its end (have {got:?}, want {:?})",
            produced.end_offsets
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Distinct events with a row in `interactions`: how far the output has come.
pub async fn interactions_written(ch: &ClickHouseConfig) -> u64 {
    rapport_clickhouse::client(ch)
        .query("SELECT uniqExact(event_id) FROM interactions")
        .fetch_one::<u64>()
        .await
        .unwrap_or(0)
}

/// Wait until `group` has checkpointed every partition up to its end offset and the output
/// tables then stay unchanged for [`SETTLE`] (the final idle flush comes after the last
/// checkpoint). `alive` is called on every poll to fail fast when a processor died.
pub async fn wait_until_complete(
    ch: &ClickHouseConfig,
    group: &str,
    topic: &str,
    produced: &Produced,
    deadline: Duration,
    mut alive: impl FnMut(),
) -> Dump {
    let start = Instant::now();
    wait_for_checkpoints(ch, group, topic, produced, deadline, &mut alive).await;
    let mut last: Option<(Dump, Instant)> = None;
    loop {
        alive();
        let now = dump_tables(ch).await.expect("dump tables");
        match &last {
            Some((prev, since)) if *prev == now => {
                if since.elapsed() >= SETTLE {
                    return now;
                }
            }
            _ => last = Some((now, Instant::now())),
        }
        assert!(
            start.elapsed() < deadline,
            "output tables of {} kept changing for {deadline:?}",
            ch.database
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Checks on a reference run's output, so that comparing with it means something: every
/// distinct event has its row, and the metric tables are not empty.
pub fn assert_plausible(dump: &Dump, events: &[InteractionEvent]) {
    let distinct: HashSet<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(
        dump.rows("interactions"),
        distinct.len(),
        "one interactions row per distinct event"
    );
    for table in [
        "threads",
        "brand_daily",
        "personal_touch",
        "follow_edges",
        "profile_snapshots",
    ] {
        assert!(dump.rows(table) > 0, "{table} has rows");
    }
}

/// An uninterrupted in-process run of `group` into `ch`; returns its tables.
pub async fn reference_run(
    dir: &Path,
    kafka: &KafkaConfig,
    ch: &ClickHouseConfig,
    produced: &Produced,
    deadline: Duration,
) -> Dump {
    let group = unique_name("rapport-test-ref");
    let config = write_config(dir, kafka, ch, &group, 0);
    let run = InProcess::start(&config);
    let dump = wait_until_complete(
        ch,
        &group,
        &kafka.interactions_topic,
        produced,
        deadline,
        || run.check_alive(),
    )
    .await;
    run.stop().await;
    dump
}

/// Poll until at least `target` distinct events have rows (a processor is making progress).
pub async fn wait_for_progress(
    ch: &ClickHouseConfig,
    target: u64,
    deadline: Duration,
    mut alive: impl FnMut(),
) {
    poll_until(&format!("{target} events written"), deadline, || {
        alive();
        async move { (interactions_written(ch).await >= target).then_some(()) }
    })
    .await;
}

/// The report line of a processor fault, counted in records of the topic (the scenario repeats
/// some event ids, as platforms retry): `sent` records produced, `acknowledged` the broker's
/// acks, `found` records whose event has its row in `interactions` (read with `FINAL`),
/// `duplicates` rows beyond one per event id (an event counted twice), `lost` records whose
/// event has no row; `distinct_events` and `rows` (of every output table) follow.
pub async fn table_report(
    fault: &str,
    events: &[InteractionEvent],
    produced: &Produced,
    ch: &ClickHouseConfig,
    dump: &Dump,
) -> FaultReport {
    let distinct: HashSet<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    let client = rapport_clickhouse::client(ch);
    let ids: Vec<String> = client
        .query("SELECT DISTINCT event_id FROM interactions FINAL")
        .fetch_all()
        .await
        .unwrap_or_else(|e| panic!("read interactions of {}: {e}", ch.database));
    let rows: u64 = client
        .query("SELECT count() FROM interactions FINAL")
        .fetch_one()
        .await
        .unwrap_or_else(|e| panic!("count interactions of {}: {e}", ch.database));
    let written: HashSet<&str> = ids.iter().map(String::as_str).collect();
    let found = events
        .iter()
        .filter(|e| written.contains(e.event_id.as_str()))
        .count() as u64;
    let mut report = FaultReport::new(fault)
        .with("distinct_events", distinct.len())
        .with("rows", dump.tables.values().map(Vec::len).sum::<usize>());
    report.sent = events.len() as u64;
    report.acknowledged = u64::try_from(produced.total()).unwrap_or(0);
    report.found = found;
    report.duplicates = rows.saturating_sub(ids.len() as u64);
    report.lost = events.len() as u64 - found;
    report
}
