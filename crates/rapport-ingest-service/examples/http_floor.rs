//! The floors under `rapport ingest` on this machine, for the benchmark (not part of the
//! service). The same connection handling as the service (`serve`: hyper HTTP/1.1 under
//! rapport's header limits, the head guard, the same tokio runtime) in front of a handler that
//! reads the body and answers 200:
//!
//! - `http_floor ADDR`: nothing else. No signature check, no parsing, no Kafka.
//! - `http_floor ADDR CONFIG TOPIC`: also produces the body as one record with the service's
//!   producer settings (`[kafka]` of the rapport config: idempotent, `acks=all`, the same
//!   linger) to TOPIC, and answers after the ack, as the service does. Keys spread over 4096
//!   values, so every partition gets records. The records are raw request bodies, not Avro:
//!   TOPIC is named explicitly so that it is never a topic a processor reads. The config's
//!   header and body limits apply.
//!
//! Whatever CPU per request these need under `rapport loadgen` is spent before rapport's own
//! work (signature, normalization, Avro, metrics) starts.
//!
//!     cargo build --release -p rapport-ingest-service --example http_floor
//!     target/release/examples/http_floor 127.0.0.1:18080 [rapport.toml bench.topic] &
//!     rapport -c <config with a Meta brand> loadgen --url http://127.0.0.1:18080 \
//!         --rate 10000 --duration 10 --connections 128 --watch floor=$!
//!
//! `deploy/local/bench-ingest` runs both after the service when `FLOOR=1`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use rapport_ingest_service::http::{read_body, BODY_READ_TIMEOUT};
use rapport_ingest_service::serve::{serve, HeaderLimits};
use rapport_kafka::rdkafka::producer::{FutureProducer, FutureRecord};
use rapport_runtime::Config;

/// A producer and its topic, when the floor includes Kafka.
struct Kafka {
    producer: FutureProducer,
    topic: String,
    sent: AtomicU64,
}

impl Kafka {
    async fn produce(&self, body: &[u8]) -> StatusCode {
        let n = self.sent.fetch_add(1, Ordering::Relaxed);
        let key = format!("bench:{}", n % 4096);
        let record = FutureRecord::to(&self.topic)
            .key(key.as_str())
            .payload(body);
        let ack = match self.producer.send_result(record) {
            Ok(ack) => ack,
            Err(_) => return StatusCode::SERVICE_UNAVAILABLE,
        };
        match ack.await {
            Ok(Ok(_)) => StatusCode::OK,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18080".to_owned())
        .parse()?;
    let config = match (std::env::args().nth(2), std::env::args().nth(3)) {
        (Some(path), Some(topic)) => Some((Config::load(Some(&PathBuf::from(path)))?, topic)),
        (None, None) => None,
        _ => return Err("usage: http_floor ADDR [CONFIG TOPIC]".into()),
    };
    let defaults = Config::default();
    let ingest = config.as_ref().map_or(&defaults.ingest, |(c, _)| &c.ingest);
    let limits = HeaderLimits {
        max_count: ingest.max_header_count,
        max_bytes: ingest.max_header_bytes,
    };
    let max_body = ingest.max_body_bytes;
    // The service's runtime: multi-threaded, one worker per core.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        // Created inside the runtime: the producer's delivery futures wake tokio tasks.
        let kafka = match &config {
            Some((config, topic)) => Some(Arc::new(Kafka {
                producer: rapport_kafka::producer(&config.kafka)?,
                topic: topic.clone(),
                sent: AtomicU64::new(0),
            })),
            None => None,
        };
        let listener = tokio::net::TcpListener::bind(addr).await?;
        // Every request is taken as a webhook: the body read to its end by the service's own
        // reader (limit, timeout), then the answer.
        let handler = move |request: rapport_ingest_service::http::Request, _peer| {
            let kafka = kafka.clone();
            async move {
                let body = read_body(request.into_body(), max_body, BODY_READ_TIMEOUT).await;
                match (body, kafka.as_deref()) {
                    (Err(refused), _) => refused.into_response(),
                    (Ok(body), Some(kafka)) => kafka.produce(&body).await.into_response(),
                    (Ok(_), None) => StatusCode::OK.into_response(),
                }
            }
        };
        let stop = async {
            tokio::signal::ctrl_c().await.ok();
        };
        serve(
            listener,
            handler,
            None,
            limits,
            stop,
            Duration::from_secs(1),
        )
        .await;
        Ok(())
    })
}
