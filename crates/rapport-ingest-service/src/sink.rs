//! Getting a delivery onto Kafka: encode every event (Avro single-object), hand all records to
//! the idempotent producer at once, and wait for every acknowledgement before a deadline; the
//! same for a dead letter. The caller answers 2xx only when this returns `Ok`.
//!
//! Mechanism only: which records to write and what status to answer is the handler's call.
//! Records that were enqueued but not acked by the deadline stay in librdkafka's queue and may
//! still land; that is the at-least-once half of the contract (the platform retries after the
//! 503 and consumers deduplicate by `event_id`), never the other way round.

use std::cell::RefCell;
use std::ops::Range;
use std::time::{Duration, Instant};

use futures::future::try_join_all;
use rapport_events::{DeadLetter, DeadLetterCodec, EventCodec, InteractionEvent};
use rapport_kafka::rdkafka::error::KafkaError;
use rapport_kafka::rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rapport_kafka::rdkafka::types::RDKafkaErrorCode;

use rapport_ingest::IngestError;

use crate::error::DeliveryError;

/// Bytes of a Kafka record beyond key and value (record header, batch share, timestamps).
const RECORD_OVERHEAD_BYTES: usize = 1024;

/// A delivery's records above this size do not keep their buffer for the next delivery, so one
/// batch near the body limit does not pin megabytes on a worker thread.
const RETAINED_RECORD_BYTES: usize = 256 * 1024;

/// The keys and payloads of one delivery, back to back in one buffer, with their spans.
/// librdkafka copies key and payload when a record is enqueued, so the bytes are only needed
/// until the last send; one buffer per worker thread, reused, then takes the per-event payload
/// and key allocations (and the vector of records) off every delivery.
#[derive(Default)]
struct Records {
    bytes: Vec<u8>,
    /// Key span and payload span of each event, in order.
    spans: Vec<(Range<usize>, Range<usize>)>,
}

thread_local! {
    static RECORDS: RefCell<Records> = RefCell::new(Records::default());
}

/// The producer and the topics it writes.
pub struct KafkaSink {
    producer: FutureProducer,
    interactions_topic: String,
    deadletter_topic: String,
    /// The producer's `message.max.bytes`: a larger record is refused by the client.
    max_record_bytes: usize,
    events: EventCodec,
    dead_letters: DeadLetterCodec,
}

impl KafkaSink {
    pub fn new(
        producer: FutureProducer,
        interactions_topic: String,
        deadletter_topic: String,
        max_record_bytes: usize,
    ) -> KafkaSink {
        KafkaSink {
            producer,
            interactions_topic,
            deadletter_topic,
            max_record_bytes,
            events: EventCodec::new(),
            dead_letters: DeadLetterCodec::new(),
        }
    }

    pub fn producer(&self) -> &FutureProducer {
        &self.producer
    }

    /// Produce every event keyed by `brand_id:user_id`; `Ok` with the time from the first send
    /// to the last ack once the broker acked all of them before `deadline`.
    ///
    /// Every event is encoded before the first is sent: an event too large for one Kafka
    /// record (a generic event with megabytes of text) refuses the whole delivery as malformed
    /// with nothing enqueued, instead of a 500 the sender would retry forever.
    pub async fn produce_events(
        &self,
        events: &[InteractionEvent],
        deadline: Instant,
    ) -> Result<Duration, DeliveryError> {
        // The buffer is borrowed only until the sends are enqueued, never across an await.
        let (started, acks) = RECORDS.with_borrow_mut(|records| {
            let sent = self
                .encode(events, records)
                .and_then(|()| self.send(records));
            if records.bytes.capacity() > RETAINED_RECORD_BYTES {
                *records = Records::default();
            }
            sent
        })?;
        await_acks(acks, deadline).await?;
        Ok(started.elapsed())
    }

    /// Lay out every event's key and record in `records` (emptied first); refuse the delivery
    /// if any record exceeds the producer's limit.
    fn encode(
        &self,
        events: &[InteractionEvent],
        records: &mut Records,
    ) -> Result<(), DeliveryError> {
        records.bytes.clear();
        records.spans.clear();
        for (i, event) in events.iter().enumerate() {
            let key_start = records.bytes.len();
            event.write_partition_key(&mut records.bytes);
            let payload_start = records.bytes.len();
            self.events
                .encode_into(event, &mut records.bytes)
                .map_err(|e| DeliveryError::internal("encoding an interaction event", e))?;
            let size = records.bytes.len() - key_start + RECORD_OVERHEAD_BYTES;
            if size > self.max_record_bytes {
                return Err(DeliveryError::Rejected(IngestError::Malformed {
                    reason: format!(
                        "event {i} needs a {size}-byte Kafka record; the producer's limit \
                         (message.max.bytes) is {}",
                        self.max_record_bytes
                    ),
                }));
            }
            records
                .spans
                .push((key_start..payload_start, payload_start..records.bytes.len()));
        }
        Ok(())
    }

    /// Enqueue every record of `records`; the time of the first send and the acks.
    fn send(&self, records: &Records) -> Result<(Instant, Vec<DeliveryFuture>), DeliveryError> {
        let started = Instant::now();
        let mut acks = Vec::with_capacity(records.spans.len());
        for (key, payload) in &records.spans {
            let record = FutureRecord::to(&self.interactions_topic)
                .key(&records.bytes[key.clone()])
                .payload(&records.bytes[payload.clone()]);
            let ack = self
                .producer
                .send_result(record)
                .map_err(|(e, _)| classify(e, "enqueueing an interaction event"))?;
            acks.push(ack);
        }
        Ok((started, acks))
    }

    /// Produce one dead letter (keyed by its deterministic id) and wait for its ack.
    pub async fn produce_dead_letter(
        &self,
        dead_letter: &DeadLetter,
        deadline: Instant,
    ) -> Result<(), DeliveryError> {
        let payload = self
            .dead_letters
            .encode(dead_letter)
            .map_err(|e| DeliveryError::internal("encoding a dead letter", e))?;
        let record = FutureRecord::to(&self.deadletter_topic)
            .key(dead_letter.dead_letter_id.as_str())
            .payload(payload.as_slice());
        let ack = self
            .producer
            .send_result(record)
            .map_err(|(e, _)| classify(e, "enqueueing a dead letter"))?;
        await_acks(vec![ack], deadline).await
    }
}

async fn await_acks(acks: Vec<DeliveryFuture>, deadline: Instant) -> Result<(), DeliveryError> {
    // One record (most deliveries) is awaited as it is: joining a single future would only
    // add try_join_all's allocation.
    let all = async {
        match <[DeliveryFuture; 1]>::try_from(acks) {
            Ok([ack]) => await_ack(ack).await,
            Err(acks) => try_join_all(acks.into_iter().map(await_ack))
                .await
                .map(drop),
        }
    };
    match tokio::time::timeout_at(deadline.into(), all).await {
        Ok(result) => result,
        Err(_elapsed) => Err(DeliveryError::Unavailable {
            detail: "no ack before the ack timeout".into(),
        }),
    }
}

async fn await_ack(ack: DeliveryFuture) -> Result<(), DeliveryError> {
    match ack.await {
        Ok(Ok(_delivery)) => Ok(()),
        Ok(Err((e, _message))) => Err(classify(e, "producing a record")),
        // The producer lives as long as the service; a cancelled future means it was
        // dropped during shutdown, which a retry of the delivery can survive.
        Err(_canceled) => Err(DeliveryError::Unavailable {
            detail: "producer shut down before the ack".into(),
        }),
    }
}

/// A producer error a retry cannot fix (a record the broker will never accept, missing rights)
/// is internal; everything else (queue full, timeouts, broker down, leader moves) is retryable.
#[track_caller]
fn classify(error: KafkaError, context: &'static str) -> DeliveryError {
    match error.rdkafka_error_code() {
        Some(
            RDKafkaErrorCode::MessageSizeTooLarge
            | RDKafkaErrorCode::InvalidMessageSize
            | RDKafkaErrorCode::InvalidRecord
            | RDKafkaErrorCode::InvalidTopic
            | RDKafkaErrorCode::TopicAuthorizationFailed
            | RDKafkaErrorCode::ClusterAuthorizationFailed,
        ) => DeliveryError::internal(context, error),
        _ => DeliveryError::Unavailable {
            detail: format!("{context}: {error}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use rapport_events::{Channel, Direction, Kind, Modifier, Party, Platform};
    use rapport_kafka::rdkafka::ClientConfig;

    use super::*;

    /// A sink whose producer never reaches a broker (nothing here sends).
    fn sink(max_record_bytes: usize) -> KafkaSink {
        let producer = ClientConfig::new()
            .set("bootstrap.servers", "127.0.0.1:1")
            .create()
            .expect("a producer needs no broker to be created");
        KafkaSink::new(producer, "i".into(), "d".into(), max_record_bytes)
    }

    fn event(n: usize, direction: Direction) -> InteractionEvent {
        InteractionEvent {
            event_id: format!("e{n}"),
            platform: Platform::Facebook,
            brand_id: "acme".into(),
            brand_account_id: "page".into(),
            kind: Kind::Reply,
            modifier: Modifier::None,
            direction,
            channel: Channel::Public,
            actor: Party {
                id: format!("user{n}"),
                display_name: Some("Jane".into()),
                ..Party::default()
            },
            addressed: (direction == Direction::Outbound).then(|| Party {
                id: "someone".into(),
                ..Party::default()
            }),
            object_id: format!("c{n}"),
            parent_id: Some("p".into()),
            root_id: None,
            text: Some("é".repeat(n * 40)),
            reaction: None,
            automated: false,
            occurred_at: 1_700_000_000_000,
            received_at: 1_700_000_000_001,
            profile: None,
            source: "meta.feed.comment".into(),
        }
    }

    #[test]
    fn each_record_is_the_events_partition_key_and_encoding() {
        let sink = sink(1 << 20);
        let codec = EventCodec::new();
        let mut records = Records::default();
        let big: Vec<_> = (0..5)
            .map(|n| event(n, [Direction::Inbound, Direction::Outbound][n % 2]))
            .collect();
        // The second, smaller delivery reuses the buffer of the first.
        for events in [&big[..], &big[3..4]] {
            sink.encode(events, &mut records).expect("fits");
            assert_eq!(records.spans.len(), events.len());
            for (event, (key, payload)) in events.iter().zip(&records.spans) {
                assert_eq!(
                    &records.bytes[key.clone()],
                    event.partition_key().as_bytes()
                );
                assert_eq!(
                    records.bytes[payload.clone()],
                    codec.encode(event).expect("encodes")
                );
            }
            assert_eq!(
                records.spans.last().map(|s| s.1.end),
                Some(records.bytes.len())
            );
        }
    }

    #[test]
    fn a_record_over_the_producers_limit_refuses_the_delivery() {
        let events = [event(1, Direction::Inbound), event(20, Direction::Inbound)];
        let mut records = Records::default();
        let limit = 1024 + 300;
        sink(limit)
            .encode(&events[..1], &mut records)
            .expect("fits");
        match sink(limit).encode(&events, &mut records) {
            Err(DeliveryError::Rejected(IngestError::Malformed { reason })) => {
                assert!(reason.starts_with("event 1 needs a "), "{reason}");
            }
            other => panic!("not refused as malformed: {other:?}"),
        }
    }

    #[test]
    fn only_permanent_producer_errors_are_internal() {
        let permanent = KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge);
        assert!(matches!(
            classify(permanent, "test"),
            DeliveryError::Internal { .. }
        ));
        for code in [
            RDKafkaErrorCode::QueueFull,
            RDKafkaErrorCode::MessageTimedOut,
            RDKafkaErrorCode::UnknownTopicOrPartition,
        ] {
            assert!(matches!(
                classify(KafkaError::MessageProduction(code), "test"),
                DeliveryError::Unavailable { .. }
            ));
        }
    }
}
