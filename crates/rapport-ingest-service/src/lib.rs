//! `rapport ingest`: the HTTP service that takes platform webhooks, checks their signatures on
//! the raw bytes, normalizes them with the `rapport-ingest` core, produces every event to Kafka
//! (key `brand_id:user_id`) and answers 200 only after the broker acked all of them.
//!
//! Layout: [`settings`] (config → what requests read), [`http`] (routes and the per-delivery
//! flow), [`error`] (the one error enum and its status codes), [`sink`] (Kafka produce and
//! acks), [`metrics`] (Prometheus), [`rate_limit`] (token buckets, 429), [`replay`] (generic
//! event-id replay window), [`serve`] (connections: TLS, HTTP/1.1 header limits, drain),
//! [`server`] (start, readiness, graceful drain) and [`loadgen`] (the benchmark client and the
//! raw-producer ceiling; not used by the service).
//!
//! Metrics (all on the admin port's `/metrics`; labels are bounded, never ids):
//! `rapport_ingest_requests_total{platform,outcome}`, `rapport_ingest_events_total{platform,kind}`,
//! `rapport_ingest_produce_latency_seconds`, `rapport_ingest_dead_letters_total{reason}`,
//! `rapport_ingest_signature_failures_total{platform}`, `rapport_ingest_in_flight`,
//! `rapport_ingest_request_duration_seconds{platform}`,
//! `rapport_ingest_rate_limited_total{platform}`, `rapport_ingest_replayed_events_total`.

pub mod authors;
pub mod error;
pub mod http;
pub mod loadgen;
pub mod metrics;
pub mod rate_limit;
pub mod replay;
pub mod serve;
pub mod server;
pub mod settings;
pub mod sink;

use prometheus::Registry;
use rapport_runtime::{serve_admin, AdminState, Config, Health, Shutdown};

pub use error::DeliveryError;
pub use server::{start, IngestServer, ServeError, StartError};

/// `rapport ingest` failed to start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot start the admin server on {addr}")]
    Admin {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Start(#[from] StartError),
    #[error(transparent)]
    Serve(#[from] ServeError),
}

/// Run the ingest service until SIGTERM/SIGINT, then drain and return: the admin port
/// (`/metrics`, `/health/*`) and the webhook port, sharing one registry and one health report.
pub async fn run(config: Config) -> Result<(), RunError> {
    let registry = Registry::new();
    let health = Health::new();
    let shutdown = Shutdown::new();
    shutdown.cancel_on_signals();
    let admin = AdminState {
        registry: registry.clone(),
        health: health.clone(),
    };
    let (admin_addr, admin_task) = serve_admin(config.admin.listen, admin, shutdown.clone())
        .await
        .map_err(|source| RunError::Admin {
            addr: config.admin.listen,
            source,
        })?;
    let server = start(&config, &registry, &health, shutdown.clone()).await?;
    tracing::info!(
        listen = %server.addr(),
        admin = %admin_addr,
        brokers = %config.kafka.brokers,
        topic = %config.kafka.interactions_topic,
        "rapport ingest started"
    );
    let stopped = server.stopped().await;
    match admin_task.await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(%error, "admin server stopped with an error"),
        Err(error) => tracing::warn!(%error, "admin server task failed"),
    }
    stopped?;
    Ok(())
}
