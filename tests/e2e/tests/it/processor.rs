//! Fault tests of `rapport process` against the real broker and ClickHouse (issue 5): kill -9
//! at random points, a second group member joining and leaving, a replay from scratch, and
//! poison records. Each compares the output tables (read with `FINAL`) with those of an
//! uninterrupted run over the same events: DESIGN.md promises they end identical.
//!
//! Uninterrupted reference runs happen in-process; runs that get killed or signalled are the
//! real `rapport` binary (`rapport_e2e::child`).
//!
//! The kill test's size is set by `RAPPORT_FAULT_EVENTS` (default 20000) and
//! `RAPPORT_FAULT_KILLS` (default and minimum 5); the long version (500k events) is part of
//! `deploy/local/faults`.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use rapport_e2e::child::{rapport_bin, ChildProcess};
use rapport_e2e::processing::{
    assert_plausible, interactions_written, migrated, reference_run, scenario_topics, table_report,
    wait_for_checkpoints, wait_for_progress, wait_until_complete, write_config, DAYS,
};
use rapport_e2e::scenario::{
    encode_events, produce_events, produce_raw, scenario_events_about, Produced, Rng,
};
use rapport_e2e::tables::{assert_same_tables, diff_dumps, drop_database, dump_tables};
use rapport_e2e::{
    clickhouse_config, env_number, kafka_config, poll_until, unique_name, STACK_HINT,
};
use rapport_events::{DeadLetterCodec, EventCodec, InteractionEvent, Stage};
use rapport_kafka::rdkafka::consumer::{Consumer, StreamConsumer};
use rapport_kafka::rdkafka::message::Message;
use rapport_runtime::config::KafkaConfig;

/// A fresh, migrated database on the shared ClickHouse.
async fn migrated_db(test: &str) -> rapport_runtime::config::ClickHouseConfig {
    migrated(clickhouse_config(test)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serial_kill_9_at_random_points_gives_identical_tables() {
    let n = env_number("RAPPORT_FAULT_EVENTS", 20_000);
    // Issue 8 asks for at least five kills: four mid-stream, one at the end of the stream.
    let kills = env_number("RAPPORT_FAULT_KILLS", 5).max(5);
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
    let kafka = scenario_topics(kafka_config(), "kill9").await;
    let produced = produce_events(&kafka, &kafka.interactions_topic, &events).await;
    assert_eq!(produced.total(), events.len() as i64);
    rapport_bin(); // build before any clock starts

    let ref_db = migrated_db("kill9_ref").await;
    let reference = reference_run(dir.path(), &kafka, &ref_db, &produced, deadline).await;
    assert_plausible(&reference, &events);

    let db = migrated_db("kill9_fault").await;
    let group = unique_name("rapport-test-kill9");
    let config = write_config(dir.path(), &kafka, &db, &group, 0);
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
        let mut child =
            ChildProcess::rapport(&format!("kill9-{i}"), "process", &config, dir.path());
        wait_for_progress(&db, *target, deadline, || child.check_alive()).await;
        let delay = Duration::from_millis(rng.below(1_500));
        // Not synchronization: the random delay places the crash.
        tokio::time::sleep(delay).await;
        eprintln!("SIGKILL {i} at >= {target} of {distinct} events, +{delay:?}");
        child.kill9();
    }
    let mut child = ChildProcess::rapport("kill9-end", "process", &config, dir.path());
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
    let mut last = ChildProcess::rapport("kill9-final", "process", &config, dir.path());
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
    last.terminate_cleanly().await;

    table_report("processor_kill_9", &events, &produced, &db, &after)
        .await
        .with("kills", kills)
        .print();
    assert_same_tables("uninterrupted", &reference, "killed", &after);
    drop_database(&ref_db).await;
    drop_database(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serial_rebalance_second_member_joins_and_leaves() {
    // Long enough that the group's rebalance (seconds on tansu) finishes well before a lone
    // member could drain the topic: the first member gets a head start of a tenth only.
    let n = 60_000;
    let deadline = Duration::from_secs(180);
    let dir = tempfile::tempdir().expect("temp dir");
    let events = scenario_events_about(0x5EED_0002, n, DAYS);
    let distinct = events
        .iter()
        .map(|e| e.event_id.as_str())
        .collect::<HashSet<_>>()
        .len() as u64;
    let kafka = scenario_topics(kafka_config(), "rebalance").await;
    let produced = produce_events(&kafka, &kafka.interactions_topic, &events).await;
    rapport_bin();

    let ref_db = migrated_db("rebalance_ref").await;
    let reference = reference_run(dir.path(), &kafka, &ref_db, &produced, deadline).await;
    assert_plausible(&reference, &events);

    let db = migrated_db("rebalance").await;
    let group = unique_name("rapport-test-rebalance");
    let config = write_config(dir.path(), &kafka, &db, &group, 0);
    let mut first = ChildProcess::rapport("rebalance-first", "process", &config, dir.path());
    wait_for_progress(&db, distinct / 10, deadline, || first.check_alive()).await;
    let mut second = ChildProcess::rapport("rebalance-second", "process", &config, dir.path());
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
    second.terminate_cleanly().await;
    let after = wait_until_complete(
        &db,
        &group,
        &kafka.interactions_topic,
        &produced,
        deadline,
        || first.check_alive(),
    )
    .await;
    first.terminate_cleanly().await;

    assert_same_tables("single member", &reference, "rebalanced", &after);
    drop_database(&ref_db).await;
    drop_database(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_from_scratch_leaves_tables_unchanged() {
    let deadline = Duration::from_secs(120);
    let dir = tempfile::tempdir().expect("temp dir");
    let events = scenario_events_about(0x5EED_0003, 5_000, DAYS);
    let kafka = scenario_topics(kafka_config(), "replay").await;
    let produced = produce_events(&kafka, &kafka.interactions_topic, &events).await;

    let db = migrated_db("replay").await;
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
    let kafka = scenario_topics(kafka_config(), "poison").await;
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

    let db = migrated_db("poison").await;
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
