//! rapport's ingest core: everything `rapport ingest` does to a webhook delivery that needs no
//! network — authenticate it on the raw bytes ([`signature`]), turn it into
//! [`InteractionEvent`]s ([`normalize`], one adapter per platform in [`adapters`]), and decide
//! what a failure means for the caller ([`IngestError`]: HTTP status and dead-letter reason).
//!
//! A handler does, in this order: [`IngestError::check_size`] while reading the body,
//! [`verify`] on the raw bytes, then [`normalize`]; it produces the events to Kafka and answers
//! 2xx only after the broker acknowledged them. The HTTP server, the Kafka producer and the
//! configuration loader live elsewhere; this crate has no I/O, no clock and no async runtime,
//! so all of it is tested on the platforms' real sample payloads.

pub mod adapters;
pub mod directory;
pub mod error;
mod event;
mod json;
pub mod signature;
mod time;

use rapport_events::InteractionEvent;

pub use directory::{AccountDirectory, BrandAccounts, BrandConfig, BrandRef, DirectoryError};
pub use error::IngestError;
pub use event::{MAX_EVENTS_PER_DELIVERY, MAX_FUTURE_SKEW_MS};
pub use signature::{verify, HandshakeError, Headers, Secrets, SignatureError};

/// The webhook endpoint a delivery arrived on; it decides the signature scheme and the adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `/webhooks/meta`: Facebook Pages feed, Messenger and Instagram.
    Meta,
    /// `/webhooks/x`: Account Activity API and X Activity API.
    X,
    /// `/webhooks/mastodon`: relayed notifications, streaming frames and admin webhooks.
    /// Mastodon notifications do not name the account that received them; when the relay knows
    /// it (for example from the webhook URL) it is given here. Without it the brand is found from
    /// the status (the mentioned or authored account), which a `follow` notification lacks.
    Mastodon { account_id: Option<String> },
    /// `/webhooks/generic`: rapport's own JSON event shape (`schemas/json/generic_event.v1.schema.json`).
    Generic,
}

/// Normalize one verified delivery to the events it contains (possibly none: receipts and
/// events rapport does not measure are accepted and dropped). `received_at_ms` is when the
/// service received the request.
pub fn normalize(
    endpoint: &Endpoint,
    body: &[u8],
    received_at_ms: i64,
    directory: &AccountDirectory,
) -> Result<Vec<InteractionEvent>, IngestError> {
    match endpoint {
        Endpoint::Meta => adapters::meta::normalize(body, received_at_ms, directory),
        Endpoint::X => adapters::x::normalize(body, received_at_ms, directory),
        Endpoint::Mastodon { account_id } => {
            adapters::mastodon::normalize(body, account_id.as_deref(), received_at_ms, directory)
        }
        Endpoint::Generic => adapters::generic::normalize(body, received_at_ms, directory),
    }
}
