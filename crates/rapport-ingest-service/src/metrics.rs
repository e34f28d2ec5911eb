//! The ingest service's Prometheus metrics, registered once in the registry the admin router
//! serves, and the typed happenings that update them. Handlers call one method per happening
//! (a delivery finished, events were acked, a dead letter was written); they never touch a
//! counter directly, so names and labels stay in this file.
//!
//! Labels are bounded by construction: the endpoint (`meta`, `x`, `mastodon`, `generic`), the
//! outcome and dead-letter reason (fixed strings below), the event platform and kind (Avro
//! enums). Brand, account and user ids never become labels. Logging lives with the handlers,
//! which know the context; this module only counts.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};
use rapport_events::{InteractionEvent, Kind, Platform};

/// Buckets for request and produce latency: 250 µs to 10 s, dense around the 1–20 ms where the
/// service should live and sparse up to the ack timeout.
const LATENCY_BUCKETS: &[f64] = &[
    0.000_25, 0.000_5, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1,
    0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How a delivery (or handshake) ended; the `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every event acked (or there were none).
    Accepted,
    /// A generic delivery whose every event was produced before (a replay): 200, nothing new.
    Replayed,
    /// Over the client IP's or the endpoint's rate: 429.
    RateLimited,
    /// A generic event of the delivery is being produced by another request: 503.
    ReplayInFlight,
    HandshakeOk,
    HandshakeRefused,
    /// The endpoint has no secret configured.
    Disabled,
    Malformed,
    BadSignature,
    UnknownAccount,
    TooLarge,
    /// The body did not arrive within the body timeout: 408.
    BodyTimeout,
    /// No in-flight permit within the ack timeout.
    Overloaded,
    /// The broker did not ack in time or refused the records (retryable).
    Unavailable,
    Internal,
}

impl Outcome {
    /// How many outcomes there are (the variants are numbered from 0 in declaration order).
    const COUNT: usize = Outcome::Internal as usize + 1;

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Replayed => "replayed",
            Outcome::RateLimited => "rate_limited",
            Outcome::ReplayInFlight => "replay_in_flight",
            Outcome::HandshakeOk => "handshake_ok",
            Outcome::HandshakeRefused => "handshake_refused",
            Outcome::Disabled => "disabled",
            Outcome::Malformed => "malformed",
            Outcome::BadSignature => "bad_signature",
            Outcome::UnknownAccount => "unknown_account",
            Outcome::TooLarge => "too_large",
            Outcome::BodyTimeout => "body_timeout",
            Outcome::Overloaded => "overloaded",
            Outcome::Unavailable => "unavailable",
            Outcome::Internal => "internal",
        }
    }
}

/// The `platform` label values of the endpoint families, in `http::Family` index order.
const ENDPOINT_PLATFORMS: [&str; 4] = ["meta", "x", "mastodon", "generic"];

/// Children of a labelled metric, each looked up in the vec once and then reused: every
/// `with_label_values` hashes the label values and takes the vec's lock, several times per
/// request otherwise. A slot is filled on first use, so a label combination appears on
/// `/metrics` only once it happened, exactly as without the cache.
struct Children<T> {
    slots: Box<[OnceLock<T>]>,
}

impl<T: Clone> Children<T> {
    fn new(len: usize) -> Children<T> {
        Children {
            slots: (0..len).map(|_| OnceLock::new()).collect(),
        }
    }

    fn get(&self, slot: usize, resolve: impl FnOnce() -> T) -> &T {
        self.slots[slot].get_or_init(resolve)
    }
}

/// The cached children of the per-request and per-event metrics.
struct HotChildren {
    /// `requests_total`, slot = endpoint platform × outcome.
    requests: Children<IntCounter>,
    /// `request_duration_seconds`, slot = endpoint platform.
    request_duration: Children<Histogram>,
    /// `events_total`, slot = event platform × kind.
    events: Children<IntCounter>,
}

/// The ingest metrics (see the crate docs for the catalogue).
#[derive(Clone)]
pub struct IngestMetrics {
    requests: IntCounterVec,
    events: IntCounterVec,
    produce_latency: Histogram,
    dead_letters: IntCounterVec,
    signature_failures: IntCounterVec,
    in_flight: IntGauge,
    request_duration: HistogramVec,
    rate_limited: IntCounterVec,
    replayed_events: IntCounter,
    hot: Arc<HotChildren>,
}

impl IngestMetrics {
    /// Create the metrics and register them in `registry`. Fails if they are registered there
    /// already (one service per registry).
    pub fn register(registry: &Registry) -> prometheus::Result<IngestMetrics> {
        let requests = IntCounterVec::new(
            Opts::new(
                "rapport_ingest_requests_total",
                "Webhook requests by endpoint platform and outcome.",
            ),
            &["platform", "outcome"],
        )?;
        let events = IntCounterVec::new(
            Opts::new(
                "rapport_ingest_events_total",
                "Events acked by the broker, by event platform and kind.",
            ),
            &["platform", "kind"],
        )?;
        let produce_latency = Histogram::with_opts(
            HistogramOpts::new(
                "rapport_ingest_produce_latency_seconds",
                "From handing a delivery's records to the producer until the broker acked all of them.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
        )?;
        let dead_letters = IntCounterVec::new(
            Opts::new(
                "rapport_ingest_dead_letters_total",
                "Deliveries written to the dead-letter topic, by reason.",
            ),
            &["reason"],
        )?;
        let signature_failures = IntCounterVec::new(
            Opts::new(
                "rapport_ingest_signature_failures_total",
                "Deliveries refused with 401, by endpoint platform.",
            ),
            &["platform"],
        )?;
        let in_flight = IntGauge::new(
            "rapport_ingest_in_flight",
            "Deliveries holding an in-flight permit (reading, verifying, producing).",
        )?;
        let request_duration = HistogramVec::new(
            HistogramOpts::new(
                "rapport_ingest_request_duration_seconds",
                "Webhook request handling time, from routing to the response, by endpoint platform.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["platform"],
        )?;
        let rate_limited = IntCounterVec::new(
            Opts::new(
                "rapport_ingest_rate_limited_total",
                "Requests refused with 429 by the rate limiter, by endpoint platform.",
            ),
            &["platform"],
        )?;
        let replayed_events = IntCounter::new(
            "rapport_ingest_replayed_events_total",
            "Generic events dropped because the same event_id was produced inside the replay window.",
        )?;
        registry.register(Box::new(rate_limited.clone()))?;
        registry.register(Box::new(replayed_events.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(events.clone()))?;
        registry.register(Box::new(produce_latency.clone()))?;
        registry.register(Box::new(dead_letters.clone()))?;
        registry.register(Box::new(signature_failures.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        registry.register(Box::new(request_duration.clone()))?;
        Ok(IngestMetrics {
            requests,
            events,
            produce_latency,
            dead_letters,
            signature_failures,
            in_flight,
            request_duration,
            rate_limited,
            replayed_events,
            hot: Arc::new(HotChildren {
                requests: Children::new(ENDPOINT_PLATFORMS.len() * Outcome::COUNT),
                request_duration: Children::new(ENDPOINT_PLATFORMS.len()),
                events: Children::new(Platform::ALL.len() * Kind::ALL.len()),
            }),
        })
    }

    /// `n` events of a generic delivery were replays and not produced again.
    pub fn events_replayed(&self, n: usize) {
        self.replayed_events.inc_by(n as u64);
    }

    /// A request on `platform`'s endpoint ended with `outcome` after `elapsed`.
    pub fn request_finished(&self, platform: &'static str, outcome: Outcome, elapsed: Duration) {
        let labels = [platform, outcome.as_str()];
        let resolve_requests = || self.requests.with_label_values(&labels);
        let resolve_duration = || self.request_duration.with_label_values(&[platform]);
        match ENDPOINT_PLATFORMS.iter().position(|p| *p == platform) {
            Some(p) => {
                let slot = p * Outcome::COUNT + outcome as usize;
                self.hot.requests.get(slot, resolve_requests).inc();
                self.hot
                    .request_duration
                    .get(p, resolve_duration)
                    .observe(elapsed.as_secs_f64());
            }
            None => {
                resolve_requests().inc();
                resolve_duration().observe(elapsed.as_secs_f64());
            }
        }
        match outcome {
            Outcome::BadSignature => self.signature_failures.with_label_values(&[platform]).inc(),
            Outcome::RateLimited => self.rate_limited.with_label_values(&[platform]).inc(),
            _ => {}
        }
    }

    /// Every record of one delivery was acked, `elapsed` after it was handed to the producer.
    pub fn events_acked(&self, events: &[InteractionEvent], elapsed: Duration) {
        self.produce_latency.observe(elapsed.as_secs_f64());
        for e in events {
            let slot = e.platform.index() as usize * Kind::ALL.len() + e.kind.index() as usize;
            self.hot
                .events
                .get(slot, || {
                    self.events
                        .with_label_values(&[e.platform.as_str(), e.kind.as_str()])
                })
                .inc();
        }
    }

    /// A dead letter with this (bounded, `IngestError::dead_letter_reason`) reason was acked.
    pub fn dead_lettered(&self, reason: &'static str) {
        self.dead_letters.with_label_values(&[reason]).inc();
    }

    /// A delivery took an in-flight permit; the guard gives it back on drop.
    pub fn in_flight(&self) -> InFlightGuard {
        self.in_flight.inc();
        InFlightGuard(self.in_flight.clone())
    }
}

/// Decrements `rapport_ingest_in_flight` when the delivery is done, whatever the exit path.
pub struct InFlightGuard(IntGauge);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_register_once_per_registry_and_count_bad_signatures() {
        let registry = Registry::new();
        let m = IngestMetrics::register(&registry).expect("first registration");
        assert!(IngestMetrics::register(&registry).is_err());
        m.request_finished("x", Outcome::BadSignature, Duration::from_millis(1));
        {
            let _guard = m.in_flight();
            assert_eq!(m.in_flight.get(), 1);
        }
        assert_eq!(m.in_flight.get(), 0);
        assert_eq!(m.signature_failures.with_label_values(&["x"]).get(), 1);
        assert_eq!(
            m.requests.with_label_values(&["x", "bad_signature"]).get(),
            1
        );
        m.request_finished("meta", Outcome::RateLimited, Duration::ZERO);
        assert_eq!(m.rate_limited.with_label_values(&["meta"]).get(), 1);
        assert_eq!(m.rate_limited.with_label_values(&["x"]).get(), 0);
        m.events_replayed(3);
        assert_eq!(m.replayed_events.get(), 3);
    }

    #[test]
    fn cached_children_count_into_the_registered_series() {
        let registry = Registry::new();
        let m = IngestMetrics::register(&registry).expect("registration");
        for _ in 0..3 {
            m.request_finished("meta", Outcome::Accepted, Duration::from_millis(2));
        }
        m.request_finished("meta", Outcome::Internal, Duration::ZERO);
        m.request_finished("generic", Outcome::Accepted, Duration::ZERO);
        // A label outside the endpoint families still counts, just without the cache.
        m.request_finished("other", Outcome::Accepted, Duration::ZERO);
        // Only combinations that happened are exported, as without the cache.
        let exported = registry
            .gather()
            .into_iter()
            .find(|f| f.name() == "rapport_ingest_requests_total")
            .expect("requests family");
        assert_eq!(exported.get_metric().len(), 4);
        assert_eq!(m.requests.with_label_values(&["meta", "accepted"]).get(), 3);
        assert_eq!(m.requests.with_label_values(&["meta", "internal"]).get(), 1);
        assert_eq!(
            m.requests.with_label_values(&["generic", "accepted"]).get(),
            1
        );
        assert_eq!(
            m.requests.with_label_values(&["other", "accepted"]).get(),
            1
        );
        assert_eq!(
            m.request_duration
                .with_label_values(&["meta"])
                .get_sample_count(),
            4
        );
    }
}
