//! Fault tests of the whole pipeline (issue 8): ingest killed with SIGKILL under load, the broker
//! stopped under load, ClickHouse stopped while the processor consumes, and the broker restarted
//! under both. Each prints one report line (`rapport_e2e::report`); nothing acknowledged may be
//! lost, and runs of the processor must end with the tables of an uninterrupted run.
//!
//! The tests that stop the broker or ClickHouse start a private one (`rapport_e2e::
//! private_stack`): the shared stack keeps serving every other test. Ingest and the processor
//! under test are the real `rapport` binary. Against a private broker, librdkafka's idempotent
//! producer is off: tansu 0.6.0 cannot survive the epoch bump it makes after an outage (see
//! `PrivateBroker::kafka_config`).
//!
//! Sizes and durations come from the environment; the defaults are the short versions CI runs,
//! `deploy/local/faults` runs the long ones:
//! `RAPPORT_FAULT_INGEST_DELIVERIES` (3000) and `RAPPORT_FAULT_INGEST_KILLS` (3) for the ingest
//! kill test, `RAPPORT_FAULT_OUTAGE_SECS` (10) for the broker and ClickHouse outages,
//! `RAPPORT_FAULT_PIPELINE_EVENTS` (10000) for the processor's share of the outage and restart
//! tests, `RAPPORT_FAULT_RESTART_PAUSE_SECS` (2) for how long the restarted broker stays down.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rapport_e2e::child::{rapport_bin, ChildProcess, RssSampler};
use rapport_e2e::http::{metric_sum, ready};
use rapport_e2e::load::{Ingest, Load, LoadSpec};
use rapport_e2e::private_stack::{free_port, PrivateBroker, PrivateClickHouse};
use rapport_e2e::processing::{
    assert_plausible, checkpoint_offsets, interactions_written, migrated, reference_run,
    scenario_topics, table_report, wait_for_progress, wait_until_complete, write_config, DAYS,
};
use rapport_e2e::scenario::{produce_events, scenario_events_about, Rng};
use rapport_e2e::tables::{assert_same_tables, drop_database};
use rapport_e2e::topic::committed_offsets;
use rapport_e2e::{clickhouse_config, env_number, kafka_config, poll_until, unique_name};
use rapport_events::InteractionEvent;

const WAIT: Duration = Duration::from_secs(120);

fn outage() -> Duration {
    Duration::from_secs(env_number("RAPPORT_FAULT_OUTAGE_SECS", 10) as u64)
}

fn pipeline_events(seed: u64) -> Vec<InteractionEvent> {
    scenario_events_about(
        seed,
        env_number("RAPPORT_FAULT_PIPELINE_EVENTS", 10_000),
        DAYS,
    )
}

fn distinct_events(events: &[InteractionEvent]) -> u64 {
    events
        .iter()
        .map(|e| e.event_id.as_str())
        .collect::<HashSet<_>>()
        .len() as u64
}

/// A deadline for waiting on the processor, longer for longer runs.
fn processing_deadline(events: usize) -> Duration {
    WAIT + Duration::from_secs(events as u64 / 1_000 * 3) + outage()
}

/// A counter of the processor's `/metrics` (0 before its first increment).
async fn metric(admin: SocketAddr, name: &str) -> f64 {
    let page = rapport_e2e::http::get(admin, "/metrics")
        .await
        .unwrap_or_else(|e| panic!("GET /metrics on {admin}: {e}"))
        .text();
    metric_sum(&page, name).unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serial_ingest_kill_9_under_load_loses_no_acknowledged_delivery() {
    let deliveries = env_number("RAPPORT_FAULT_INGEST_DELIVERIES", 3_000) as u64;
    let kills = env_number("RAPPORT_FAULT_INGEST_KILLS", 3).max(1);
    let deadline = WAIT + Duration::from_secs(deliveries / 50);
    let dir = tempfile::tempdir().expect("temp dir");
    let kafka = scenario_topics(kafka_config(), "ingest_kill9").await;
    rapport_bin(); // build before any clock starts
    let mut ingest = Ingest::start(dir.path(), &kafka, Duration::from_secs(5)).await;
    let load = Load::start(LoadSpec {
        addr: ingest.addr,
        workers: 16,
        deliveries: Some(deliveries),
        prefix: unique_name("kill9"),
    });

    // Kill points: acknowledged counts in increasing order, plus a random delay after each so
    // the kill lands anywhere in a delivery (reading, producing, waiting for the ack,
    // answering); the service stays down a random moment, and the load keeps retrying.
    let mut rng = Rng::new(0x5EED_1001);
    let mut points: Vec<u64> = (0..kills)
        .map(|_| deliveries * (10 + rng.below(80)) / 100)
        .collect();
    points.sort_unstable();
    for (i, target) in points.iter().enumerate() {
        load.wait_for_acknowledged(*target, deadline, || ingest.process().check_alive())
            .await;
        // Not synchronization: the random delays place the crash and the downtime.
        tokio::time::sleep(Duration::from_millis(rng.below(300))).await;
        let acked = load.acknowledged();
        assert!(
            acked < deliveries,
            "the load ended before kill {i}; make it longer"
        );
        eprintln!("SIGKILL ingest {i} at {acked} of {deliveries} deliveries acknowledged");
        ingest.kill9();
        tokio::time::sleep(Duration::from_millis(rng.below(1_000))).await;
        ingest.start_again().await;
    }
    let outcome = load.finish().await;
    // A clean stop flushes what the last process still had queued, so the count is final.
    ingest.terminate_cleanly().await;

    let check = outcome.check_topic(&kafka).await;
    outcome
        .report("ingest_kill_9", &check)
        .with("kills", kills)
        .print();
    check.assert_nothing_lost();
    assert_eq!(
        outcome.acknowledged.len() as u64,
        outcome.sent,
        "every delivery is acknowledged in the end (the load retries until 2xx)"
    );
    assert_eq!(outcome.sent, deliveries);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serial_broker_outage_ingest_answers_503_with_bounded_memory_and_recovers() {
    let outage = outage();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut broker = PrivateBroker::start().await;
    let kafka = scenario_topics(broker.kafka_config(), "broker_outage").await;
    rapport_bin();
    let mut ingest = Ingest::start(dir.path(), &kafka, Duration::from_secs(2)).await;
    let pid = ingest.process().pid();
    let load = Load::start(LoadSpec {
        addr: ingest.addr,
        workers: 32,
        deliveries: None,
        prefix: unique_name("outage"),
    });
    load.wait_for_acknowledged(500, WAIT, || ingest.process().check_alive())
        .await;
    poll_until("ingest to be ready", WAIT, || async {
        ingest.ready().await.then_some(())
    })
    .await;
    let rss_start = ingest.process().rss_kib().expect("ingest RSS");
    let sampler = RssSampler::start(pid, Duration::from_millis(100));

    broker.stop().await;
    let down_at = Instant::now();
    let mut not_ready_seen = false;
    while down_at.elapsed() < outage {
        ingest.process().check_alive();
        not_ready_seen |= !ingest.ready().await;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let acked_when_back = load.acknowledged();
    broker.start_again().await;
    let up_at = Instant::now();
    // Recovery by itself: the same process answers 2xx again.
    let recovered_at = load.wait_for_success_since(up_at, WAIT).await;
    load.wait_for_acknowledged(acked_when_back + 500, WAIT, || {
        ingest.process().check_alive()
    })
    .await;
    assert_eq!(ingest.process().pid(), pid, "ingest was never restarted");
    let outcome = load.finish().await;
    let rss = sampler.stop().await;
    ingest.terminate_cleanly().await;
    let check = outcome.check_topic(&kafka).await;

    let during: Vec<_> = outcome
        .attempts
        .iter()
        .filter(|a| a.started >= down_at && a.finished <= up_at)
        .collect();
    let refused = during.iter().filter(|a| a.status == Some(503)).count();
    let rss_peak = rss.iter().copied().max().unwrap_or(rss_start);
    outcome
        .report("broker_stop", &check)
        .with("outage_s", outage.as_secs())
        .with("answers_during_outage", during.len())
        .with("answered_503", refused)
        .with(
            "recovery_ms",
            recovered_at.saturating_duration_since(up_at).as_millis(),
        )
        .with("rss_start_kib", rss_start)
        .with("rss_peak_kib", rss_peak)
        .print();
    check.assert_nothing_lost();
    assert!(
        during.len() >= 10,
        "only {} deliveries were answered during the outage; the test proves nothing",
        during.len()
    );
    // Never a 2xx without an ack: no broker, no ack, so every answer is a 503 to retry.
    let other: Vec<_> = during.iter().filter(|a| a.status != Some(503)).collect();
    assert!(
        other.is_empty(),
        "{} answers during the outage were not 503, e.g. {:?}",
        other.len(),
        &other[..other.len().min(5)]
    );
    assert!(not_ready_seen, "readiness never dropped during the outage");
    // Bounded memory: deliveries wait for a permit and give up at the ack timeout, and what
    // they leave in the producer's queue expires; growth stays far below the queue's limit.
    let bound = rss_start * 2 + 64 * 1024;
    assert!(
        rss_peak <= bound,
        "ingest RSS grew from {rss_start} KiB to {rss_peak} KiB (bound {bound} KiB)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serial_clickhouse_outage_processor_retries_and_catches_up() {
    let outage = outage();
    let events = pipeline_events(0x5EED_2003);
    let distinct = distinct_events(&events);
    let deadline = processing_deadline(events.len());
    let dir = tempfile::tempdir().expect("temp dir");
    let kafka = scenario_topics(kafka_config(), "ch_outage").await;
    let topic = kafka.interactions_topic.clone();
    let produced = produce_events(&kafka, &topic, &events).await;
    rapport_bin();
    let ref_db = migrated(clickhouse_config("ch_outage_ref")).await;
    let reference = reference_run(dir.path(), &kafka, &ref_db, &produced, deadline).await;
    assert_plausible(&reference, &events);

    let mut ch = PrivateClickHouse::start().await;
    let db = migrated(ch.config("ch_outage")).await;
    let group = unique_name("rapport-test-ch-outage");
    let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let config = write_config(dir.path(), &kafka, &db, &group, admin.port());
    let mut child = ChildProcess::rapport("process-ch-outage", "process", &config, dir.path());
    wait_for_progress(&db, distinct * 3 / 10, deadline, || child.check_alive()).await;
    let failures_before = metric(admin, "rapport_process_insert_failures_total").await;
    let written = interactions_written(&db).await;

    // Killed rather than stopped gracefully: a graceful stop takes seconds, in which this
    // short run could finish, and a kill also cuts off the insert under way.
    ch.kill().await;
    let down_at = Instant::now();
    let mut not_ready_seen = false;
    let mut committed: Vec<BTreeMap<i32, i64>> = Vec::new();
    while down_at.elapsed() < outage {
        child.check_alive();
        not_ready_seen |= !ready(admin).await;
        // Commits of checkpoints saved just before the stop may still land in the first moments.
        if down_at.elapsed() >= Duration::from_secs(3) {
            committed.push(committed_offsets(&kafka, &group, &topic).await);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let failures = metric(admin, "rapport_process_insert_failures_total").await - failures_before;
    ch.start_again().await;
    let checkpoints: BTreeMap<i32, i64> = checkpoint_offsets(&db, &group, &topic)
        .await
        .into_iter()
        .map(|(p, o)| {
            (
                i32::try_from(p).unwrap_or(i32::MAX),
                i64::try_from(o).unwrap_or(0),
            )
        })
        .collect();
    let after = wait_until_complete(&db, &group, &topic, &produced, deadline, || {
        child.check_alive()
    })
    .await;
    poll_until("the processor to be ready again", WAIT, || async {
        ready(admin).await.then_some(())
    })
    .await;

    table_report("clickhouse_stop", &events, &produced, &db, &after)
        .await
        .with("outage_s", outage.as_secs())
        .with("insert_failures", failures)
        .with("written_at_stop", written)
        .with("checkpointed_at_return", checkpoints.values().sum::<i64>())
        .print();
    assert_same_tables("uninterrupted", &reference, "clickhouse outage", &after);
    // The outage hit mid-stream: when ClickHouse came back, the checkpoints were short of the
    // end, so the processor caught up only afterwards.
    let checkpointed: i64 = checkpoints.values().sum();
    assert!(
        checkpointed < produced.total(),
        "the processor had finished before ClickHouse stopped; make the run longer"
    );
    // Retries with backoff: several failed attempts, but far from a busy loop.
    assert!(
        failures >= 2.0 && failures <= outage.as_secs_f64() * 5.0,
        "{failures} failed ClickHouse requests during a {outage:?} outage"
    );
    assert!(
        not_ready_seen,
        "readiness never dropped during the outage ({failures} failed requests)"
    );
    // No commit past unwritten rows: while nothing can be written nothing is committed, and
    // what was committed is covered by a checkpoint (saved only after its rows).
    assert!(!committed.is_empty());
    assert!(
        committed.windows(2).all(|w| w[0] == w[1]),
        "committed offsets moved while ClickHouse was down: {committed:?}"
    );
    for (p, offset) in &committed[committed.len() - 1] {
        let covered = checkpoints.get(p).copied().unwrap_or(0);
        assert!(
            *offset <= covered,
            "partition {p}: offset {offset} committed, checkpoint only at {covered}"
        );
    }
    // Stopped last: a failed assertion above prints the processor's log tail.
    child.terminate_cleanly().await;
    drop_database(&ref_db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serial_broker_restart_ingest_and_processor_recover() {
    let events = pipeline_events(0x5EED_2004);
    let distinct = distinct_events(&events);
    let deadline = processing_deadline(events.len());
    let pause = Duration::from_secs(env_number("RAPPORT_FAULT_RESTART_PAUSE_SECS", 2) as u64);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut broker = PrivateBroker::start().await;
    let kafka = scenario_topics(broker.kafka_config(), "restart").await;
    let topic = kafka.interactions_topic.clone();
    let produced = produce_events(&kafka, &topic, &events).await;
    // Ingest writes a topic of its own: its live events must not mix into the scenario.
    let ingest_kafka = scenario_topics(broker.kafka_config(), "restart_ingest").await;
    rapport_bin();
    let ref_db = migrated(clickhouse_config("restart_ref")).await;
    let reference = reference_run(dir.path(), &kafka, &ref_db, &produced, deadline).await;
    assert_plausible(&reference, &events);

    let db = migrated(clickhouse_config("restart")).await;
    let group = unique_name("rapport-test-restart");
    // A small prefetch: the consumer must keep fetching from the broker through the run
    // instead of holding the whole (short) topic in librdkafka's queue before the restart.
    let mut fetching = kafka.clone();
    for (k, v) in [
        ("queued.min.messages", "200"),
        ("queued.max.messages.kbytes", "256"),
    ] {
        fetching.properties.insert(k.into(), v.into());
    }
    let config = write_config(dir.path(), &fetching, &db, &group, 0);
    let mut processor = ChildProcess::rapport("process-restart", "process", &config, dir.path());
    let mut ingest = Ingest::start(dir.path(), &ingest_kafka, Duration::from_secs(5)).await;
    let load = Load::start(LoadSpec {
        addr: ingest.addr,
        workers: 8,
        deliveries: None,
        prefix: unique_name("restart"),
    });
    wait_for_progress(&db, distinct * 3 / 10, deadline, || processor.check_alive()).await;
    load.wait_for_acknowledged(200, WAIT, || ingest.process().check_alive())
        .await;
    let written = interactions_written(&db).await;

    broker.stop().await;
    // Not synchronization: how long the broker stays down.
    tokio::time::sleep(pause).await;
    broker.start_again().await;
    let up_at = Instant::now();
    let checkpointed: i64 = checkpoint_offsets(&db, &group, &topic)
        .await
        .iter()
        .map(|(_, o)| i64::try_from(*o).unwrap_or(0))
        .sum();
    let recovered_at = load.wait_for_success_since(up_at, WAIT).await;
    let acked = load.acknowledged();
    let after = wait_until_complete(&db, &group, &topic, &produced, deadline, || {
        processor.check_alive();
        ingest.process().check_alive();
    })
    .await;
    load.wait_for_acknowledged(acked + 200, WAIT, || ingest.process().check_alive())
        .await;
    let outcome = load.finish().await;
    ingest.terminate_cleanly().await;
    processor.terminate_cleanly().await;
    let check = outcome.check_topic(&ingest_kafka).await;

    outcome
        .report("broker_restart_ingest", &check)
        .with(
            "recovery_ms",
            recovered_at.saturating_duration_since(up_at).as_millis(),
        )
        .print();
    table_report("broker_restart_process", &events, &produced, &db, &after)
        .await
        .with("written_at_restart", written)
        .with("checkpointed_at_restart", checkpointed)
        .print();
    check.assert_nothing_lost();
    // The restart hit mid-stream: the rest was consumed from the restarted broker.
    assert!(
        checkpointed < produced.total(),
        "the processor had finished before the restart; make the run longer"
    );
    assert_same_tables("uninterrupted", &reference, "broker restarted", &after);
    drop_database(&ref_db).await;
    drop_database(&db).await;
}
