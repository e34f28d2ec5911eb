//! Fault tests of `rapport process` against the real broker and ClickHouse (issue 5): kill -9
//! at random points, a second group member joining and leaving, a replay from scratch, and
//! poison records. Each compares the output tables (read with `FINAL`) with those of an
//! uninterrupted run over the same events: DESIGN.md promises they end identical.
//!
//! How the processor is run:
//! - uninterrupted reference runs happen in-process (`rapport_processor::run`), which is the
//!   same code the binary runs, minus process start-up;
//! - runs that get killed or signalled are the real `rapport` binary. An integration test
//!   cannot get `CARGO_BIN_EXE_rapport` for a binary of another package (that needs unstable
//!   artifact dependencies), so the first such test in a test process runs
//!   `cargo build -p rapport-cli` into the target directory this test binary was built in
//!   (found from the test executable's own path, so `CARGO_TARGET_DIR` and the profile are
//!   honoured) — a no-op when the binary is fresh, and never a stale binary.
//!   `RAPPORT_TEST_BIN=/path/to/rapport` skips the build (a cross-compiled target layout, or a
//!   release binary under test).
//!
//! The kill test's size is set by `RAPPORT_FAULT_EVENTS` (default 20000) and
//! `RAPPORT_FAULT_KILLS` (default 3); the long version is
//! `RAPPORT_FAULT_EVENTS=200000 RAPPORT_FAULT_KILLS=6 cargo nextest run -p rapport-e2e -E 'test(serial_kill_9)'`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rapport_e2e::scenario::{
    encode_events, produce_events, produce_raw, scenario_brands_toml, scenario_events_about,
    Produced, Rng,
};
use rapport_e2e::tables::{assert_same_tables, diff_dumps, drop_database, dump_tables, Dump};
use rapport_e2e::{clickhouse_config, kafka_config, poll_until, unique_name, STACK_HINT};
use rapport_events::{DeadLetterCodec, EventCodec, InteractionEvent, Stage};
use rapport_kafka::rdkafka::consumer::{Consumer, StreamConsumer};
use rapport_kafka::rdkafka::message::Message;
use rapport_runtime::config::{ClickHouseConfig, KafkaConfig};
use rapport_runtime::{Config, Health, Shutdown};

const PARTITIONS: i32 = 4;
/// Simulated days of traffic in every scenario.
const DAYS: u32 = 4;
/// How long output must stay unchanged, after every checkpoint reached the end, to count as
/// finished: above `idle_advance` (1 s) plus a flush, so the final idle flush is in.
const SETTLE: Duration = Duration::from_secs(3);

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}={v} is not a number"))
        })
        .unwrap_or(default)
}

/// Topics of one test (created with [`PARTITIONS`] partitions) and the Kafka settings naming them.
async fn test_kafka(test: &str) -> KafkaConfig {
    let mut kafka = kafka_config();
    kafka.interactions_topic = unique_name(&format!("rapport.test.{test}"));
    kafka.deadletter_topic = unique_name(&format!("rapport.test.{test}.dl"));
    rapport_kafka::ensure_topics(
        &kafka,
        &[&kafka.interactions_topic, &kafka.deadletter_topic],
        PARTITIONS,
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#?}; {STACK_HINT}"));
    kafka
}

/// A fresh, migrated database.
async fn test_database(test: &str) -> ClickHouseConfig {
    let cfg = clickhouse_config(test);
    rapport_clickhouse::migrate(&rapport_clickhouse::server_client(&cfg), &cfg.database)
        .await
        .unwrap_or_else(|e| panic!("{e:#?}; {STACK_HINT}"));
    cfg
}

/// The config file of one processor run. Short intervals so that checkpoints (and so crash
/// points between them) happen often; a short session timeout so a killed member leaves the
/// group in seconds instead of the default 30 s.
fn write_config(dir: &Path, kafka: &KafkaConfig, ch: &ClickHouseConfig, group: &str) -> PathBuf {
    let text = format!(
        r#"[log]
level = "info,rapport_processor=debug"

[admin]
listen = "127.0.0.1:0"

[kafka]
brokers = "{brokers}"
client_id = "rapport-test-process"
interactions_topic = "{topic}"
deadletter_topic = "{dl}"

[kafka.properties]
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "1000"

[clickhouse]
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
        brokers = kafka.brokers,
        topic = kafka.interactions_topic,
        dl = kafka.deadletter_topic,
        url = ch.url,
        db = ch.database,
        brands = scenario_brands_toml(),
    );
    let path = dir.join(format!("{}.toml", unique_name("process")));
    std::fs::write(&path, text).expect("write config");
    path
}

fn load_config(path: &Path) -> Config {
    // No process environment: the file alone describes the run, exactly as for the binary.
    Config::load_with_env(Some(path), Vec::new()).expect("valid test config")
}

/// The processor running inside the test process; stopped (shutdown, then awaited) explicitly
/// or, on a panic, cancelled by the drop.
struct InProcess {
    shutdown: Shutdown,
    task: Option<tokio::task::JoinHandle<Result<(), String>>>,
}

impl InProcess {
    fn start(config: &Path) -> InProcess {
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
    fn check_alive(&self) {
        if let Some(task) = &self.task {
            assert!(
                !task.is_finished(),
                "the in-process processor stopped early"
            );
        }
    }

    async fn stop(mut self) {
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

/// The `rapport` binary, built once per test process (see the module docs).
pub(crate) fn rapport_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(bin) = std::env::var("RAPPORT_TEST_BIN") {
            return PathBuf::from(bin);
        }
        // The test executable is <target>/<profile>/deps/it-<hash>.
        let exe = std::env::current_exe().expect("test executable path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test executable lives in <target>/<profile>/deps");
        let target_dir = profile_dir.parent().expect("<target>/<profile>");
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") => "dev",
            Some(other) => other,
            None => panic!("cannot tell the profile from {}", exe.display()),
        };
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", "rapport-cli", "--bin", "rapport"])
            .args(["--profile", profile])
            .env("CARGO_TARGET_DIR", target_dir)
            .current_dir(&workspace)
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build -p rapport-cli failed");
        let bin = profile_dir.join("rapport");
        assert!(bin.exists(), "{} missing after the build", bin.display());
        bin
    })
    .clone()
}

/// A `rapport process` child. Killed (SIGKILL) and reaped on drop, so a failing test never
/// leaves a processor behind; on a panic its log tail is printed.
struct ProcessorChild {
    name: String,
    child: Child,
    log: PathBuf,
}

impl ProcessorChild {
    fn start(name: &str, config: &Path, log_dir: &Path) -> ProcessorChild {
        let log = log_dir.join(format!("{}.log", unique_name(name)));
        let file = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(rapport_bin());
        cmd.arg("--config").arg(config).arg("process");
        // Only the file configures the run: drop any RAPPORT_* overrides of the environment.
        for (k, _) in std::env::vars() {
            if k.starts_with("RAPPORT_") {
                cmd.env_remove(k);
            }
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log fd"))
            .stderr(file)
            .spawn()
            .expect("start rapport process");
        ProcessorChild {
            name: name.to_owned(),
            child,
            log,
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn log_tail(&self, lines: usize) -> String {
        let text = self.log_text();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Fail fast (with the log) if the child exited on its own.
    fn check_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "processor {} exited on its own ({status}); log tail:\n{}",
                self.name,
                self.log_tail(40)
            );
        }
    }

    fn kill9(mut self) {
        self.check_alive();
        self.child.kill().expect("SIGKILL the processor");
        self.child.wait().expect("reap the processor");
    }

    /// SIGTERM and wait for a clean exit (it drains: checkpoints every partition).
    async fn terminate(mut self) {
        self.check_alive();
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        let exit = poll_until(
            "the processor to exit after SIGTERM",
            Duration::from_secs(60),
            || {
                let r = self.child.try_wait().expect("try_wait");
                async move { r }
            },
        )
        .await;
        assert!(
            exit.success(),
            "processor {} exited with {exit} after SIGTERM; log tail:\n{}",
            self.name,
            self.log_tail(40)
        );
    }
}

impl Drop for ProcessorChild {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // Only the child this test started, by its handle.
            if self.child.kill().is_ok() && self.child.wait().is_err() {
                eprintln!("could not reap processor {}", self.name);
            }
        }
        if std::thread::panicking() {
            eprintln!(
                "--- log tail of processor {} ({}) ---\n{}",
                self.name,
                self.log.display(),
                self.log_tail(60)
            );
        }
    }
}

/// Newest checkpointed offset per partition of `group` (0 when none).
async fn checkpoint_offsets(ch: &ClickHouseConfig, group: &str, topic: &str) -> Vec<(u32, u64)> {
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
async fn wait_for_checkpoints(
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
async fn interactions_written(ch: &ClickHouseConfig) -> u64 {
    rapport_clickhouse::client(ch)
        .query("SELECT uniqExact(event_id) FROM interactions")
        .fetch_one::<u64>()
        .await
        .unwrap_or(0)
}

/// Wait until `group` has checkpointed every partition up to its end offset and the output
/// tables then stay unchanged for [`SETTLE`] (the final idle flush comes after the last
/// checkpoint). `alive` is called on every poll to fail fast when a processor died.
async fn wait_until_complete(
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
fn assert_plausible(dump: &Dump, events: &[InteractionEvent]) {
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
async fn reference_run(
    dir: &Path,
    kafka: &KafkaConfig,
    ch: &ClickHouseConfig,
    produced: &Produced,
    deadline: Duration,
) -> Dump {
    let group = unique_name("rapport-test-ref");
    let config = write_config(dir, kafka, ch, &group);
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
async fn wait_for_progress(
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serial_kill_9_at_random_points_gives_identical_tables() {
    let n = env_number("RAPPORT_FAULT_EVENTS", 20_000);
    let kills = env_number("RAPPORT_FAULT_KILLS", 3).max(1);
    let seed = 0x5EED_0001;
    // Long runs get a proportionally longer deadline.
    let deadline = Duration::from_secs(120 + (n as u64 / 1_000) * 3);
    let dir = tempfile::tempdir().expect("temp dir");
    let events = scenario_events_about(seed, n, DAYS);
    let distinct = events
        .iter()
        .map(|e| e.event_id.as_str())
        .collect::<HashSet<_>>()
        .len() as u64;
    let kafka = test_kafka("kill9").await;
    let produced = produce_events(&kafka, &kafka.interactions_topic, &events).await;
    assert_eq!(produced.total(), events.len() as i64);
    rapport_bin(); // build before any clock starts

    let ref_db = test_database("kill9_ref").await;
    let reference = reference_run(dir.path(), &kafka, &ref_db, &produced, deadline).await;
    assert_plausible(&reference, &events);

    let db = test_database("kill9_fault").await;
    let group = unique_name("rapport-test-kill9");
    let config = write_config(dir.path(), &kafka, &db, &group);
    // Kill points: progress fractions in increasing order, plus a random delay after reaching
    // each so the kill lands anywhere (mid-insert, mid-checkpoint, between them). The last
    // kill waits until every partition is checkpointed at its end and lands within the idle
    // advance (1 s): the crash then hits the end-of-stream work (final checkpoint, idle flush
    // of the events held back for lateness) that a mid-stream crash never exercises.
    let mut rng = Rng::new(seed);
    let mut points: Vec<u64> = (0..kills - 1)
        .map(|_| distinct * (5 + rng.below(90)) / 100)
        .collect();
    points.sort_unstable();
    for (i, target) in points.iter().enumerate() {
        let mut child = ProcessorChild::start(&format!("kill9-{i}"), &config, dir.path());
        wait_for_progress(&db, *target, deadline, || child.check_alive()).await;
        let delay = Duration::from_millis(rng.below(1_500));
        // Not synchronization: the random delay places the crash.
        tokio::time::sleep(delay).await;
        eprintln!("SIGKILL {i} at >= {target} of {distinct} events, +{delay:?}");
        child.kill9();
    }
    let mut child = ProcessorChild::start("kill9-end", &config, dir.path());
    wait_for_checkpoints(
        &db,
        &group,
        &kafka.interactions_topic,
        &produced,
        deadline,
        || child.check_alive(),
    )
    .await;
    let delay = Duration::from_millis(rng.below(300));
    tokio::time::sleep(delay).await;
    eprintln!("SIGKILL at the end of the stream, +{delay:?}");
    child.kill9();
    let mut last = ProcessorChild::start("kill9-final", &config, dir.path());
    let mut after = wait_until_complete(
        &db,
        &group,
        &kafka.interactions_topic,
        &produced,
        deadline,
        || last.check_alive(),
    )
    .await;
    // Killed at its end, the last checkpoint already covers every record; what it still holds
    // back for lateness reaches the tables once the restarted member is assigned the partitions
    // (the broker first waits out the dead member's session) and finds them idle at the log
    // end. Results are effectively-once, so the tables must converge to the reference.
    let settle = Instant::now();
    while diff_dumps("uninterrupted", &reference, "killed", &after, 0).is_some()
        && settle.elapsed() < Duration::from_secs(120)
    {
        last.check_alive();
        tokio::time::sleep(Duration::from_secs(2)).await;
        after = dump_tables(&db)
            .await
            .unwrap_or_else(|e| panic!("dump tables: {e}"));
    }
    last.terminate().await;

    assert_same_tables("uninterrupted", &reference, "killed", &after);
    drop_database(&ref_db).await;
    drop_database(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serial_rebalance_second_member_joins_and_leaves() {
    let n = 20_000;
    let deadline = Duration::from_secs(180);
    let dir = tempfile::tempdir().expect("temp dir");
    let events = scenario_events_about(0x5EED_0002, n, DAYS);
    let distinct = events
        .iter()
        .map(|e| e.event_id.as_str())
        .collect::<HashSet<_>>()
        .len() as u64;
    let kafka = test_kafka("rebalance").await;
    let produced = produce_events(&kafka, &kafka.interactions_topic, &events).await;
    rapport_bin();

    let ref_db = test_database("rebalance_ref").await;
    let reference = reference_run(dir.path(), &kafka, &ref_db, &produced, deadline).await;
    assert_plausible(&reference, &events);

    let db = test_database("rebalance").await;
    let group = unique_name("rapport-test-rebalance");
    let config = write_config(dir.path(), &kafka, &db, &group);
    let mut first = ProcessorChild::start("rebalance-first", &config, dir.path());
    wait_for_progress(&db, distinct / 5, deadline, || first.check_alive()).await;
    let mut second = ProcessorChild::start("rebalance-second", &config, dir.path());
    // The second member must really take partitions over mid-stream, or this tests nothing.
    poll_until("the second member to restore a partition", deadline, || {
        first.check_alive();
        second.check_alive();
        let restored = second.log_text().contains("partition restored");
        async move { restored.then_some(()) }
    })
    .await;
    let written = interactions_written(&db).await;
    assert!(
        written < distinct,
        "the stream ended before the second member joined ({written} of {distinct} written); make it longer"
    );
    wait_for_progress(&db, written + (distinct - written) / 3, deadline, || {
        first.check_alive();
        second.check_alive();
    })
    .await;
    second.terminate().await;
    let after = wait_until_complete(
        &db,
        &group,
        &kafka.interactions_topic,
        &produced,
        deadline,
        || first.check_alive(),
    )
    .await;
    first.terminate().await;

    assert_same_tables("single member", &reference, "rebalanced", &after);
    drop_database(&ref_db).await;
    drop_database(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_from_scratch_leaves_tables_unchanged() {
    let deadline = Duration::from_secs(120);
    let dir = tempfile::tempdir().expect("temp dir");
    let events = scenario_events_about(0x5EED_0003, 5_000, DAYS);
    let kafka = test_kafka("replay").await;
    let produced = produce_events(&kafka, &kafka.interactions_topic, &events).await;

    let db = test_database("replay").await;
    let first = reference_run(dir.path(), &kafka, &db, &produced, deadline).await;
    assert_plausible(&first, &events);

    // Forget every checkpoint, and use a new group so Kafka has no committed offsets either:
    // the processor starts from offset 0 with an empty engine and rewrites every row.
    rapport_clickhouse::client(&db)
        .query("TRUNCATE TABLE processor_state")
        .execute()
        .await
        .expect("truncate processor_state");
    let again = reference_run(dir.path(), &kafka, &db, &produced, deadline).await;

    assert_same_tables("first run", &first, "replay", &again);
    drop_database(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_record_is_dead_lettered_and_processing_continues() {
    let deadline = Duration::from_secs(120);
    let dir = tempfile::tempdir().expect("temp dir");
    let events = scenario_events_about(0x5EED_0004, 2_000, 2);
    let (before, after) = events.split_at(events.len() / 2);
    let kafka = test_kafka("poison").await;
    let topic = kafka.interactions_topic.clone();

    // Both poison records share a valid event's key, so they sit in the middle of a partition
    // that has valid records on both sides.
    let key = after[0].partition_key();
    let valid = EventCodec::new().encode(&after[0]).expect("encode");
    // A real single-object header (magic + the v1 fingerprint) followed by a datum that is not
    // one: a string length of -1.
    let mut corrupt = valid[..10].to_vec();
    corrupt.extend_from_slice(&[0x01; 24]);
    assert!(
        EventCodec::new().decode(&corrupt).is_err(),
        "the corrupt body must not decode"
    );
    let garbage = b"this is not avro at all \xff\xfe".to_vec();

    let mut records = encode_events(before);
    let poison_at = records.len();
    records.push((key.clone(), garbage.clone()));
    records.push((key.clone(), corrupt.clone()));
    records.extend(encode_events(after));
    let produced = produce_raw(&kafka, &topic, &records).await;

    // Where the poison landed: its partition, and the offsets the records before it in that
    // partition leave (same key, same partition, produced in order).
    let partition = poison_partition(&kafka, &topic, &records[poison_at].0, &produced).await;

    let db = test_database("poison").await;
    let dump = reference_run(dir.path(), &kafka, &db, &produced, deadline).await;
    assert_plausible(&dump, &events);
    // The events right after the poison, in its partition, were processed.
    let later_same_key: Vec<&InteractionEvent> =
        after.iter().filter(|e| e.partition_key() == key).collect();
    assert!(!later_same_key.is_empty());
    let ids: Vec<String> = later_same_key.iter().map(|e| e.event_id.clone()).collect();
    let found: u64 = rapport_clickhouse::client(&db)
        .query("SELECT count() FROM interactions FINAL WHERE has(?, event_id)")
        .bind(&ids)
        .fetch_one()
        .await
        .expect("count");
    assert_eq!(
        found as usize,
        ids.len(),
        "events after the poison are processed"
    );

    let letters = read_dead_letters(&kafka, 2, deadline).await;
    let codec = DeadLetterCodec::new();
    let mut got: Vec<_> = letters
        .iter()
        .map(|bytes| codec.decode(bytes).expect("a DeadLetter"))
        .collect();
    got.sort_by_key(|l| l.offset);
    assert_eq!(got.len(), 2);
    let first_offset = got[0].offset.expect("offset");
    for (i, (letter, payload)) in got.iter().zip([&garbage, &corrupt]).enumerate() {
        assert_eq!(letter.stage, Stage::Process);
        assert_eq!(letter.reason, "decode_error");
        assert_eq!(letter.source, topic);
        assert_eq!(letter.partition, Some(partition));
        assert_eq!(
            letter.offset,
            Some(first_offset + i as i64),
            "consecutive offsets"
        );
        assert_eq!(&letter.payload, payload, "the record is kept as it was");
    }
    // The offsets are the poison records' own: fetch them back from the source topic.
    let at = fetch_at(&kafka, &topic, partition, first_offset).await;
    assert_eq!(
        at, garbage,
        "dead letter offset points at the garbage record"
    );
    drop_database(&db).await;
}

/// The partition records with `key` go to (the one whose end offset a probe consumer sees the
/// key in). Found by reading, not by re-implementing the partitioner.
async fn poison_partition(kafka: &KafkaConfig, topic: &str, key: &str, produced: &Produced) -> i32 {
    let consumer: StreamConsumer = rapport_kafka::consumer(
        kafka,
        &unique_name("rapport-test-probe"),
        Default::default(),
    )
    .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let total = produced.total();
    let mut seen = 0;
    while seen < total {
        let msg = tokio::time::timeout(Duration::from_secs(60), consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("topic {topic} ran dry; {STACK_HINT}"))
            .expect("consume");
        seen += 1;
        if msg.key() == Some(key.as_bytes()) {
            return msg.partition();
        }
    }
    panic!("key {key} not found in {topic}");
}

/// The payload at `partition`/`offset` of `topic`.
async fn fetch_at(kafka: &KafkaConfig, topic: &str, partition: i32, offset: i64) -> Vec<u8> {
    use rapport_kafka::rdkafka::topic_partition_list::{Offset, TopicPartitionList};
    let consumer: StreamConsumer = rapport_kafka::consumer(
        kafka,
        &unique_name("rapport-test-fetch"),
        Default::default(),
    )
    .expect("consumer");
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(topic, partition, Offset::Offset(offset))
        .expect("list");
    consumer.assign(&list).expect("assign");
    let msg = tokio::time::timeout(Duration::from_secs(60), consumer.recv())
        .await
        .unwrap_or_else(|_| panic!("nothing at {topic}/{partition}@{offset}; {STACK_HINT}"))
        .expect("consume");
    assert_eq!((msg.partition(), msg.offset()), (partition, offset));
    msg.payload().unwrap_or_default().to_vec()
}

/// `n` payloads of the dead-letter topic.
async fn read_dead_letters(kafka: &KafkaConfig, n: usize, deadline: Duration) -> Vec<Vec<u8>> {
    let consumer: StreamConsumer =
        rapport_kafka::consumer(kafka, &unique_name("rapport-test-dl"), Default::default())
            .expect("consumer");
    consumer
        .subscribe(&[&kafka.deadletter_topic])
        .expect("subscribe");
    let mut out = Vec::new();
    while out.len() < n {
        let msg = tokio::time::timeout(deadline, consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} dead letters arrived", out.len()))
            .expect("consume");
        out.push(msg.payload().unwrap_or_default().to_vec());
    }
    out
}
