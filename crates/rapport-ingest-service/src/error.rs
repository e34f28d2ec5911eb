//! The one error type of a webhook request and the HTTP answer for each variant, decided in a
//! single exhaustive `match` ([`DeliveryError::status`]) so the service cannot drift from the
//! status-code contract of DESIGN.md.
//!
//! Only a retryable downstream failure (no permit in time, broker not acking) becomes 503, with
//! `Retry-After`; a failure that a retry cannot fix (a record the broker will never take, an
//! encoder bug) is an opaque 500, logged with its location and source chain. What the ingest
//! core refuses keeps the core's own status (`IngestError::status_code`).

use std::panic::Location;
use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rapport_ingest::IngestError;

use crate::metrics::Outcome;

/// Seconds a platform is asked to wait before retrying after a 503.
pub const RETRY_AFTER_SECS: u64 = 5;
/// Seconds a generic sender waits when the same event is being produced by another request.
pub const REPLAY_IN_FLIGHT_RETRY_SECS: u64 = 1;

/// Why a webhook request did not end in 200.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The endpoint's platform has no secret configured.
    #[error("endpoint {endpoint} is not enabled: no secret is configured for it")]
    Disabled { endpoint: &'static str },

    /// The core refused the delivery or handshake (400, 401, 403, 404, 413).
    #[error(transparent)]
    Rejected(#[from] IngestError),

    /// The body could not be read to the end (client went away, broken chunking).
    #[error("cannot read the request body")]
    BodyRead(#[source] axum::Error),

    /// The body did not arrive whole within the body timeout after the head (408).
    #[error("the request body did not arrive within {waited:?}")]
    BodyTimeout { waited: Duration },

    /// The client IP or the endpoint family is over its rate (429 with `Retry-After`).
    #[error("rate limited ({by:?} bucket); retry in {retry_after_secs} s")]
    RateLimited {
        by: crate::rate_limit::Limited,
        retry_after_secs: u64,
    },

    /// A generic event of this delivery is being produced by another request right now; the
    /// sender retries and then gets 200 (done) or produces it (that request failed).
    #[error("an event of this delivery is being produced by another request")]
    ReplayInFlight,

    /// No in-flight permit within the ack timeout: too many deliveries at once.
    #[error("too many deliveries in flight; no capacity within {waited:?}")]
    Overloaded { waited: Duration },

    /// The broker did not ack every record in time, or refused one in a way a retry can fix.
    #[error("the broker did not acknowledge the delivery: {detail}")]
    Unavailable { detail: String },

    /// A bug or a permanent misconfiguration; the caller sees an opaque 500.
    #[error("internal error at {location}: {context}")]
    Internal {
        context: &'static str,
        location: &'static Location<'static>,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl DeliveryError {
    /// An internal error, recording where it was raised.
    #[track_caller]
    pub fn internal(
        context: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> DeliveryError {
        DeliveryError::Internal {
            context,
            location: Location::caller(),
            source: source.into(),
        }
    }

    /// The status, the `outcome` metric label, and whether the caller should retry later.
    pub fn status(&self) -> (StatusCode, Outcome, bool) {
        match self {
            DeliveryError::Disabled { .. } => (StatusCode::NOT_FOUND, Outcome::Disabled, false),
            DeliveryError::Rejected(e) => {
                let status = StatusCode::from_u16(e.status_code())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let outcome = match e {
                    IngestError::Signature(_) => Outcome::BadSignature,
                    IngestError::Handshake(_) => Outcome::HandshakeRefused,
                    IngestError::Malformed { .. } => Outcome::Malformed,
                    IngestError::UnknownAccount { .. } => Outcome::UnknownAccount,
                    IngestError::TooLarge { .. } => Outcome::TooLarge,
                };
                (status, outcome, false)
            }
            DeliveryError::BodyRead(_) => (StatusCode::BAD_REQUEST, Outcome::Malformed, false),
            DeliveryError::BodyTimeout { .. } => {
                (StatusCode::REQUEST_TIMEOUT, Outcome::BodyTimeout, false)
            }
            DeliveryError::RateLimited { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, Outcome::RateLimited, true)
            }
            DeliveryError::ReplayInFlight => (
                StatusCode::SERVICE_UNAVAILABLE,
                Outcome::ReplayInFlight,
                true,
            ),
            DeliveryError::Overloaded { .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, Outcome::Overloaded, true)
            }
            DeliveryError::Unavailable { .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, Outcome::Unavailable, true)
            }
            DeliveryError::Internal { .. } => {
                (StatusCode::INTERNAL_SERVER_ERROR, Outcome::Internal, false)
            }
        }
    }

    /// The response body: a short, fixed explanation. Internal errors say nothing more, and no
    /// body ever echoes secrets, account ids or payload content.
    fn public_message(&self) -> &'static str {
        match self {
            DeliveryError::Disabled { .. } => {
                "endpoint not enabled: no secret is configured for this platform\n"
            }
            DeliveryError::Rejected(IngestError::Signature(_)) => "invalid signature\n",
            DeliveryError::Rejected(IngestError::Handshake(_)) => "handshake refused\n",
            DeliveryError::Rejected(IngestError::Malformed { .. }) | DeliveryError::BodyRead(_) => {
                "malformed delivery\n"
            }
            DeliveryError::Rejected(IngestError::UnknownAccount { .. }) => {
                "no configured brand owns this account\n"
            }
            DeliveryError::Rejected(IngestError::TooLarge { .. }) => "body too large\n",
            DeliveryError::BodyTimeout { .. } => "request body too slow\n",
            DeliveryError::Overloaded { .. }
            | DeliveryError::Unavailable { .. }
            | DeliveryError::ReplayInFlight => "temporarily unavailable, retry later\n",
            DeliveryError::RateLimited { .. } => "too many requests, retry later\n",
            DeliveryError::Internal { .. } => "internal error\n",
        }
    }

    /// The `Retry-After` seconds of a retryable answer.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            DeliveryError::RateLimited {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            DeliveryError::ReplayInFlight => Some(REPLAY_IN_FLIGHT_RETRY_SECS),
            _ if self.status().2 => Some(RETRY_AFTER_SECS),
            _ => None,
        }
    }
}

impl IntoResponse for DeliveryError {
    fn into_response(self) -> Response {
        let status = self.status().0;
        let retry = self.retry_after_secs();
        let mut response = (status, self.public_message()).into_response();
        if let Some(secs) = retry {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use rapport_events::Platform;
    use rapport_ingest::{HandshakeError, SignatureError};

    use super::*;

    #[test]
    fn every_variant_has_its_contract_status_and_only_429_and_503_ask_for_a_retry() {
        let cases: Vec<(DeliveryError, u16, Outcome)> = vec![
            (
                DeliveryError::Disabled {
                    endpoint: "/webhooks/x",
                },
                404,
                Outcome::Disabled,
            ),
            (
                IngestError::Malformed { reason: "x".into() }.into(),
                400,
                Outcome::Malformed,
            ),
            (
                IngestError::Signature(SignatureError::Mismatch).into(),
                401,
                Outcome::BadSignature,
            ),
            (
                IngestError::Handshake(HandshakeError::NotSubscribe).into(),
                403,
                Outcome::HandshakeRefused,
            ),
            (
                IngestError::UnknownAccount {
                    platform: Platform::X,
                    account_id: "1".into(),
                }
                .into(),
                404,
                Outcome::UnknownAccount,
            ),
            (
                IngestError::TooLarge { limit: 1 }.into(),
                413,
                Outcome::TooLarge,
            ),
            (
                DeliveryError::Overloaded {
                    waited: Duration::from_secs(1),
                },
                503,
                Outcome::Overloaded,
            ),
            (
                DeliveryError::Unavailable {
                    detail: "timeout".into(),
                },
                503,
                Outcome::Unavailable,
            ),
            (
                DeliveryError::internal("encoding", std::io::Error::other("boom")),
                500,
                Outcome::Internal,
            ),
            (
                DeliveryError::RateLimited {
                    by: crate::rate_limit::Limited::Ip,
                    retry_after_secs: 3,
                },
                429,
                Outcome::RateLimited,
            ),
            (DeliveryError::ReplayInFlight, 503, Outcome::ReplayInFlight),
        ];
        for (err, code, outcome) in cases {
            let (status, got_outcome, _) = err.status();
            assert_eq!((status.as_u16(), got_outcome), (code, outcome), "{err}");
            let response = err.into_response();
            assert_eq!(response.status().as_u16(), code);
            let retry_after = response
                .headers()
                .get(header::RETRY_AFTER)
                .map(|v| v.to_str().expect("ascii").to_owned());
            let expected = match (code, outcome) {
                (429, _) => Some("3"),
                (503, Outcome::ReplayInFlight) => Some("1"),
                (503, _) => Some("5"),
                _ => None,
            };
            assert_eq!(retry_after.as_deref(), expected, "Retry-After of {code}");
        }
    }

    #[test]
    fn internal_errors_record_where_they_happened_but_answer_opaquely() {
        let err = DeliveryError::internal("encoding an event", std::io::Error::other("secret-ish"));
        assert!(err.to_string().contains("error.rs"), "{err}");
        assert_eq!(err.public_message(), "internal error\n");
    }
}
