//! Starting and stopping the ingest service: build the producer, metrics and state, load the
//! TLS certificate when one is configured, bind the public port (port 0 works, the bound
//! address is returned), keep the `kafka` health component in step with the broker, and on
//! shutdown drain in order — readiness goes 503, the listener stops accepting, in-flight
//! deliveries finish within a drain budget, and the producer is flushed.
//!
//! The process-level wiring (signals, admin port, telemetry) is in `lib.rs`'s [`crate::run`];
//! this module is what tests start in-process.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus::Registry;
use rapport_kafka::rdkafka::producer::{FutureProducer, Producer};
use rapport_kafka::KafkaSetupError;
use rapport_runtime::{Config, Health, HealthHandle, Shutdown};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::http::Family;
use crate::http::{dispatch, AppState};
use crate::metrics::IngestMetrics;
use crate::rate_limit::RateLimiter;
use crate::replay::RecentEvents;
use crate::serve::{serve, tls_acceptor, TlsError};
use crate::settings::{Settings, SettingsError};
use crate::sink::KafkaSink;

/// How often the broker is asked for metadata to decide readiness.
const PROBE_INTERVAL: Duration = Duration::from_secs(2);
/// How long one readiness probe may wait for the broker.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// Extra time on top of the ack timeout for in-flight deliveries to be answered at shutdown.
const DRAIN_MARGIN: Duration = Duration::from_secs(2);
/// Budget for handing librdkafka's queue to the broker after the server stopped.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// The service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid ingest settings")]
    Settings(#[from] SettingsError),
    #[error("cannot create the Kafka producer")]
    Kafka(#[from] KafkaSetupError),
    #[error("cannot register the ingest metrics")]
    Metrics(#[from] prometheus::Error),
    #[error("cannot set up TLS on the public port")]
    Tls(#[from] TlsError),
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// The service failed while running.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("the producer could not flush every queued record within {0:?}")]
    Flush(
        Duration,
        #[source] rapport_kafka::rdkafka::error::KafkaError,
    ),
    #[error("the server task panicked or was cancelled")]
    Task(#[source] tokio::task::JoinError),
}

/// A running ingest service.
pub struct IngestServer {
    addr: SocketAddr,
    task: JoinHandle<Result<(), ServeError>>,
}

impl IngestServer {
    /// The bound public address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Wait until the service has stopped (after `shutdown` was triggered) and drained.
    pub async fn stopped(self) -> Result<(), ServeError> {
        self.task.await.map_err(ServeError::Task)?
    }
}

/// Start the webhook server on `config.ingest.listen`, with its metrics in `registry` and a
/// `kafka` component in `health`; it runs until `shutdown` is triggered.
pub async fn start(
    config: &Config,
    registry: &Registry,
    health: &Health,
    shutdown: Shutdown,
) -> Result<IngestServer, StartError> {
    let settings = Settings::from_config(config)?;
    let tls = match &settings.tls {
        Some((cert, key)) => Some(tls_acceptor(cert, key)?),
        None => None,
    };
    let producer = rapport_kafka::producer(&config.kafka)?;
    let metrics = IngestMetrics::register(registry)?;
    let drain = settings.ack_timeout + DRAIN_MARGIN;
    let probe_topic = settings.interactions_topic.clone();
    let header_limits = settings.header_limits;
    let state = Arc::new(AppState {
        limiter: RateLimiter::new(&settings.rate_limit, Family::COUNT, Instant::now()),
        replay: RecentEvents::new(
            settings.replay_cache,
            rapport_ingest::signature::GENERIC_TOLERANCE_SECS,
        ),
        permits: Semaphore::new(settings.max_in_flight),
        authors: crate::authors::RecentAuthors::new(crate::authors::DEFAULT_CAPACITY),
        sink: KafkaSink::new(
            producer.clone(),
            settings.interactions_topic.clone(),
            settings.deadletter_topic.clone(),
            settings.max_record_bytes,
        ),
        settings,
        metrics,
    });
    let addr = config.ingest.listen;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| StartError::Bind { addr, source })?;

    let kafka_health = health.register("kafka", None);
    tokio::spawn(probe_broker(
        producer.clone(),
        probe_topic,
        kafka_health,
        shutdown.clone(),
    ));

    let health = health.clone();
    let stop = shutdown;
    let signal = async move {
        stop.wait().await;
        // Readiness first, so load balancers stop routing here while we drain.
        health.begin_shutdown();
        tracing::info!("ingest: shutdown begun, no longer ready; draining in-flight deliveries");
    };
    let handler = move |request, peer| dispatch(Arc::clone(&state), peer, request);
    if tls.is_some() {
        tracing::info!(listen = %local, "ingest: the public port serves HTTPS only");
    }
    let task = tokio::spawn(async move {
        serve(listener, handler, tls, header_limits, signal, drain).await;
        flush(producer).await
    });
    Ok(IngestServer { addr: local, task })
}

async fn flush(producer: FutureProducer) -> Result<(), ServeError> {
    let flushed = tokio::task::spawn_blocking(move || producer.flush(FLUSH_TIMEOUT))
        .await
        .map_err(ServeError::Task)?;
    flushed.map_err(|e| ServeError::Flush(FLUSH_TIMEOUT, e))?;
    tracing::info!("ingest: producer flushed, stopped");
    Ok(())
}

/// Ready = the broker answers a metadata request and knows the interactions topic.
async fn probe_broker(
    producer: FutureProducer,
    topic: String,
    health: HealthHandle,
    shutdown: Shutdown,
) {
    let mut was_ready = None;
    loop {
        let p = producer.clone();
        let t = topic.clone();
        let verdict = tokio::task::spawn_blocking(move || {
            let metadata = p
                .client()
                .fetch_metadata(Some(&t), PROBE_TIMEOUT)
                .map_err(|e| format!("broker unreachable: {e}"))?;
            let known = metadata
                .topics()
                .iter()
                .any(|m| m.name() == t && m.error().is_none() && !m.partitions().is_empty());
            if known {
                Ok(())
            } else {
                Err(format!("topic {t} does not exist"))
            }
        })
        .await
        .unwrap_or_else(|e| Err(format!("probe task failed: {e}")));
        let ready = verdict.is_ok();
        match verdict {
            Ok(()) => health.set_ready(),
            Err(detail) => {
                if was_ready != Some(false) {
                    tracing::warn!(%detail, "ingest: Kafka not ready");
                }
                health.set_not_ready(detail);
            }
        }
        if ready && was_ready != Some(true) {
            tracing::info!("ingest: Kafka reachable, ready");
        }
        was_ready = Some(ready);
        tokio::select! {
            () = shutdown.wait() => return,
            () = tokio::time::sleep(PROBE_INTERVAL) => {}
        }
    }
}
