//! Getting a delivery onto Kafka: encode every event (Avro single-object), hand all records to
//! the idempotent producer at once, and wait for every acknowledgement before a deadline; the
//! same for a dead letter. The caller answers 2xx only when this returns `Ok`.
//!
//! Mechanism only: which records to write and what status to answer is the handler's call.
//! Records that were enqueued but not acked by the deadline stay in librdkafka's queue and may
//! still land; that is the at-least-once half of the contract (the platform retries after the
//! 503 and consumers deduplicate by `event_id`), never the other way round.

use std::time::{Duration, Instant};

use futures::future::try_join_all;
use rapport_events::{DeadLetter, DeadLetterCodec, EventCodec, InteractionEvent};
use rapport_kafka::rdkafka::error::KafkaError;
use rapport_kafka::rdkafka::producer::{FutureProducer, FutureRecord};
use rapport_kafka::rdkafka::types::RDKafkaErrorCode;

use rapport_ingest::IngestError;

use crate::error::DeliveryError;

/// Bytes of a Kafka record beyond key and value (record header, batch share, timestamps).
const RECORD_OVERHEAD_BYTES: usize = 1024;

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
        let mut records = Vec::with_capacity(events.len());
        for (i, event) in events.iter().enumerate() {
            let payload = self
                .events
                .encode(event)
                .map_err(|e| DeliveryError::internal("encoding an interaction event", e))?;
            let key = event.partition_key();
            let size = payload.len() + key.len() + RECORD_OVERHEAD_BYTES;
            if size > self.max_record_bytes {
                return Err(DeliveryError::Rejected(IngestError::Malformed {
                    reason: format!(
                        "event {i} needs a {size}-byte Kafka record; the producer's limit \
                         (message.max.bytes) is {}",
                        self.max_record_bytes
                    ),
                }));
            }
            records.push((key, payload));
        }
        let started = Instant::now();
        let mut acks = Vec::with_capacity(records.len());
        for (key, payload) in &records {
            let record = FutureRecord::to(&self.interactions_topic)
                .key(key.as_str())
                .payload(payload.as_slice());
            let ack = self
                .producer
                .send_result(record)
                .map_err(|(e, _)| classify(e, "enqueueing an interaction event"))?;
            acks.push(ack);
        }
        await_acks(acks, deadline).await?;
        Ok(started.elapsed())
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

async fn await_acks(
    acks: Vec<rapport_kafka::rdkafka::producer::DeliveryFuture>,
    deadline: Instant,
) -> Result<(), DeliveryError> {
    let all = try_join_all(acks.into_iter().map(|ack| async move {
        match ack.await {
            Ok(Ok(_delivery)) => Ok(()),
            Ok(Err((e, _message))) => Err(classify(e, "producing a record")),
            // The producer lives as long as the service; a cancelled future means it was
            // dropped during shutdown, which a retry of the delivery can survive.
            Err(_canceled) => Err(DeliveryError::Unavailable {
                detail: "producer shut down before the ack".into(),
            }),
        }
    }));
    match tokio::time::timeout_at(deadline.into(), all).await {
        Ok(result) => result.map(drop),
        Err(_elapsed) => Err(DeliveryError::Unavailable {
            detail: "no ack before the ack timeout".into(),
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
    use super::*;

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
