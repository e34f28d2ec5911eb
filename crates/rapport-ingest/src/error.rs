//! The one error type of the ingest boundary and what each variant means for the caller.
//!
//! Every way a delivery can fail in this crate ends up as an [`IngestError`], and the HTTP
//! status and dead-letter behaviour are decided here, in one exhaustive `match` each, so the
//! service cannot drift from the contract in DESIGN.md ("Status codes"). Broker failures (503)
//! and internal errors (500) belong to the service that produces to Kafka, not to this crate.

use rapport_events::Platform;

use crate::signature::{HandshakeError, SignatureError};

/// Why a delivery (or a handshake) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    /// Missing, malformed, stale or non-matching signature.
    #[error("signature rejected")]
    Signature(#[from] SignatureError),

    /// A GET subscription handshake that must not be confirmed.
    #[error("handshake refused")]
    Handshake(#[from] HandshakeError),

    /// The body is not a delivery this endpoint understands: bad JSON, unknown envelope,
    /// a required field missing or of the wrong type, a timestamp out of range.
    #[error("malformed delivery: {reason}")]
    Malformed { reason: String },

    /// The delivery is about an account that no configured brand owns.
    #[error("no brand owns {platform} account `{account_id}`")]
    UnknownAccount {
        platform: Platform,
        account_id: String,
    },

    /// The body is larger than the configured limit.
    #[error("body exceeds the limit of {limit} bytes")]
    TooLarge { limit: usize },
}

impl IngestError {
    pub(crate) fn malformed(reason: impl Into<String>) -> Self {
        IngestError::Malformed {
            reason: reason.into(),
        }
    }

    /// The HTTP status the webhook endpoint answers with.
    pub fn status_code(&self) -> u16 {
        match self {
            IngestError::Malformed { .. } => 400,
            IngestError::Signature(_) => 401,
            IngestError::Handshake(_) => 403,
            IngestError::UnknownAccount { .. } => 404,
            IngestError::TooLarge { .. } => 413,
        }
    }

    /// The `reason` of the dead letter that keeps the raw delivery, or `None` when nothing may
    /// be written.
    ///
    /// Unauthenticated input is never stored: a bad signature or a refused handshake could come
    /// from anyone, and an oversized body is refused before its signature can be checked (and
    /// would not fit a Kafka record anyway). Malformed and unknown-account deliveries passed
    /// the signature check, so they are genuine platform traffic worth keeping.
    pub fn dead_letter_reason(&self) -> Option<&'static str> {
        match self {
            IngestError::Malformed { .. } => Some("malformed"),
            IngestError::UnknownAccount { .. } => Some("unknown_account"),
            IngestError::Signature(_)
            | IngestError::Handshake(_)
            | IngestError::TooLarge { .. } => None,
        }
    }

    /// Refuse a body over `limit` bytes (the service checks while reading; this keeps the
    /// comparison and its error in one place).
    pub fn check_size(len: usize, limit: usize) -> Result<(), IngestError> {
        if len > limit {
            Err(IngestError::TooLarge { limit })
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_maps_to_its_contract_status_and_dead_letter_reason() {
        let cases = [
            (IngestError::malformed("bad json"), 400, Some("malformed")),
            (IngestError::Signature(SignatureError::Mismatch), 401, None),
            (
                IngestError::Handshake(HandshakeError::TokenMismatch),
                403,
                None,
            ),
            (
                IngestError::UnknownAccount {
                    platform: Platform::X,
                    account_id: "1".into(),
                },
                404,
                Some("unknown_account"),
            ),
            (IngestError::TooLarge { limit: 10 }, 413, None),
        ];
        for (err, status, reason) in cases {
            assert_eq!(err.status_code(), status, "{err}");
            assert_eq!(err.dead_letter_reason(), reason, "{err}");
        }
    }

    #[test]
    fn size_check_allows_the_limit_itself() {
        assert_eq!(IngestError::check_size(1024, 1024), Ok(()));
        assert_eq!(
            IngestError::check_size(1025, 1024),
            Err(IngestError::TooLarge { limit: 1024 })
        );
    }
}
