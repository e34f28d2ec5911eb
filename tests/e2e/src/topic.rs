//! Reading a test's topic back: how many records it holds (the sum of its partitions' high
//! watermarks), the records themselves from the beginning (with a consumer group of their own
//! so nothing else is disturbed), and the offsets a consumer group has committed.

use std::collections::BTreeMap;
use std::time::Duration;

use rapport_events::{EventCodec, InteractionEvent};
use rapport_kafka::rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rapport_kafka::rdkafka::message::{Message, OwnedMessage};
use rapport_kafka::rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rapport_runtime::config::KafkaConfig;

use crate::{unique_name, STACK_HINT};

/// How long reading may wait for the next record before the topic counts as short.
const WAIT: Duration = Duration::from_secs(60);

/// Every record ever written to `topic`: the sum of its partitions' high watermarks (fresh
/// topics start at offset 0 and nothing is deleted during a test).
pub async fn record_count(kafka: &KafkaConfig, topic: &str) -> i64 {
    let kafka = kafka.clone();
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = rapport_kafka::consumer(
            &kafka,
            &unique_name("rapport-test-watermarks"),
            Default::default(),
        )
        .expect("consumer");
        partitions(&consumer, &topic)
            .into_iter()
            .map(|p| {
                consumer
                    .fetch_watermarks(&topic, p, Duration::from_secs(10))
                    .unwrap_or_else(|e| panic!("watermarks of {topic}/{p}: {e}; {STACK_HINT}"))
                    .1
            })
            .sum()
    })
    .await
    .expect("watermark task")
}

/// The partition ids of `topic`.
fn partitions(consumer: &BaseConsumer, topic: &str) -> Vec<i32> {
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("metadata of {topic}: {e}; {STACK_HINT}"));
    let ids: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    assert!(!ids.is_empty(), "topic {topic} has no partitions");
    ids
}

/// The offsets consumer group `group` has committed on `topic`, per partition (partitions
/// without a commit are left out). Asked with an offset fetch, which does not join the group.
pub async fn committed_offsets(
    kafka: &KafkaConfig,
    group: &str,
    topic: &str,
) -> BTreeMap<i32, i64> {
    let (kafka, group, topic) = (kafka.clone(), group.to_owned(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer =
            rapport_kafka::consumer(&kafka, &group, Default::default()).expect("consumer");
        let mut list = TopicPartitionList::new();
        for p in partitions(&consumer, &topic) {
            list.add_partition(&topic, p);
        }
        let committed = consumer
            .committed_offsets(list, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("committed offsets of {group}: {e}; {STACK_HINT}"));
        committed
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some((e.partition(), o)),
                _ => None,
            })
            .collect()
    })
    .await
    .expect("offset fetch task")
}

/// Read `n` records of `topic` from the beginning.
pub async fn read_records(kafka: &KafkaConfig, topic: &str, n: usize) -> Vec<OwnedMessage> {
    let consumer: StreamConsumer =
        rapport_kafka::consumer(kafka, &unique_name("rapport-test-read"), Default::default())
            .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut records = Vec::with_capacity(n);
    while records.len() < n {
        let msg = tokio::time::timeout(WAIT, consumer.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "only {} of {n} records arrived on {topic}; {STACK_HINT}",
                    records.len()
                )
            })
            .expect("consume");
        records.push(msg.detach());
    }
    records
}

/// Every record of `topic` (as many as [`record_count`] says it holds).
pub async fn read_all(kafka: &KafkaConfig, topic: &str) -> Vec<OwnedMessage> {
    let n = record_count(kafka, topic).await;
    read_records(kafka, topic, usize::try_from(n).unwrap_or(0)).await
}

/// `(key, event)` of records of the interactions topic; panics on anything else.
pub fn decode_events(records: &[OwnedMessage]) -> Vec<(String, InteractionEvent)> {
    let codec = EventCodec::new();
    records
        .iter()
        .map(|m| {
            let key = String::from_utf8(m.key().expect("every event has a key").to_vec())
                .expect("utf-8 key");
            (
                key,
                codec
                    .decode(m.payload().expect("payload"))
                    .expect("decodes as InteractionEvent"),
            )
        })
        .collect()
}
