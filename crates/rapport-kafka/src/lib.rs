//! Kafka clients built from `[kafka]` config, with the settings rapport's guarantees depend on
//! fixed in one place: the producer is idempotent with `acks=all` (ingest answers 2xx only
//! after the ack), the consumer never commits or stores offsets on its own (the processor
//! commits after ClickHouse and the state are durable), and topics are created idempotently.
//!
//! Owns client construction and topic administration; not what services do with the clients.

use std::time::Duration;

use rapport_runtime::config::KafkaConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::{ClientConfig, FromClientConfig, FromClientConfigAndContext};
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;
use rdkafka::producer::FutureProducer;
use rdkafka::types::RDKafkaErrorCode;

pub use rdkafka;

/// A client could not be built or a broker request failed.
#[derive(Debug, thiserror::Error)]
pub enum KafkaSetupError {
    #[error("cannot create the Kafka {role} client")]
    Client {
        role: &'static str,
        #[source]
        source: KafkaError,
    },
    #[error("cannot create topic {topic}: {code}")]
    CreateTopic {
        topic: String,
        code: RDKafkaErrorCode,
    },
    #[error("topic administration request failed")]
    Admin(#[source] KafkaError),
}

/// The settings every client shares: brokers, client id, credentials, pass-through properties.
pub fn base_config(cfg: &KafkaConfig, role: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &cfg.brokers);
    c.set("client.id", format!("{}-{role}", cfg.client_id));
    if let Some(user) = &cfg.username {
        c.set("sasl.username", user);
    }
    if let Some(password) = &cfg.password {
        c.set("sasl.password", password.expose());
    }
    for (k, v) in &cfg.properties {
        c.set(k, v);
    }
    c
}

/// The ingest producer: idempotent, `acks=all`, small linger so a delivery's events travel in
/// one request without adding noticeable latency.
pub fn producer_config(cfg: &KafkaConfig) -> ClientConfig {
    let mut c = base_config(cfg, "producer");
    c.set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "2")
        .set("message.timeout.ms", "30000")
        .set("queue.buffering.max.kbytes", "262144");
    // Pass-through properties win over our defaults.
    for (k, v) in &cfg.properties {
        c.set(k, v);
    }
    c
}

pub fn producer(cfg: &KafkaConfig) -> Result<FutureProducer, KafkaSetupError> {
    FutureProducer::from_config(&producer_config(cfg)).map_err(|source| KafkaSetupError::Client {
        role: "producer",
        source,
    })
}

/// A consumer in `group` that starts from the earliest offset when the group has none and never
/// commits or stores offsets by itself. `fetch.wait.max.ms` is 100 (librdkafka: 500): a broker
/// that holds a fetch for the full wait before answering (tansu was seen to) would otherwise add
/// up to half a second to every record's way to ClickHouse; the cost is a few idle fetches.
pub fn consumer_config(cfg: &KafkaConfig, group: &str) -> ClientConfig {
    let mut c = base_config(cfg, "consumer");
    c.set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "30000")
        .set("fetch.wait.max.ms", "100")
        .set("enable.partition.eof", "false");
    for (k, v) in &cfg.properties {
        c.set(k, v);
    }
    c
}

pub fn consumer<C, T>(cfg: &KafkaConfig, group: &str, context: C) -> Result<T, KafkaSetupError>
where
    C: ConsumerContext,
    T: FromClientConfigAndContext<C>,
{
    T::from_config_and_context(&consumer_config(cfg, group), context).map_err(|source| {
        KafkaSetupError::Client {
            role: "consumer",
            source,
        }
    })
}

/// Create `topics` with the configured partitions and replication; existing topics are fine.
pub async fn ensure_topics(
    cfg: &KafkaConfig,
    topics: &[&str],
    partitions: i32,
) -> Result<(), KafkaSetupError> {
    let admin: AdminClient<DefaultClientContext> =
        AdminClient::from_config(&base_config(cfg, "admin")).map_err(|source| {
            KafkaSetupError::Client {
                role: "admin",
                source,
            }
        })?;
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|t| {
            NewTopic::new(
                t,
                partitions,
                TopicReplication::Fixed(cfg.replication_factor),
            )
        })
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .create_topics(&new, &opts)
        .await
        .map_err(KafkaSetupError::Admin)?;
    for result in results {
        match result {
            Ok(topic) => tracing::info!(topic, partitions, "created topic"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => return Err(KafkaSetupError::CreateTopic { topic, code }),
        }
    }
    Ok(())
}
