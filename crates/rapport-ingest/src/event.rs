//! Building `InteractionEvent`s: the per-delivery context (platform, brand, receive time), a
//! draft that adapters fill in, and the two rules every event obeys whatever its platform —
//! a deterministic `event_id` and an `occurred_at` inside sane bounds.
//!
//! The id is a hash of platform, brand account and the source ids the adapter names, so a
//! platform retry (same payload) gives the same id and Kafka consumers deduplicate on it. The
//! brand account is part of the hash because X delivers one action once per subscribed account
//! it touches: two brands must get two distinct events.

use rapport_events::{Channel, Direction, InteractionEvent, Kind, Modifier, Party, Platform};
use ring::digest;

use crate::directory::BrandRef;
use crate::IngestError;

/// The most events one delivery may produce. Meta batches at most a few hundred changes and
/// the body limit (1 MiB) caps real traffic far below this; beyond it something is wrong.
pub const MAX_EVENTS_PER_DELIVERY: usize = 5_000;

/// How far `occurred_at` may lie ahead of `received_at`. The processor's watermark is the
/// largest `occurred_at` seen, so one far-future event would make every later event "late";
/// such an event is refused as malformed instead.
pub const MAX_FUTURE_SKEW_MS: i64 = 24 * 60 * 60 * 1000;

/// Everything an adapter needs to know about the entry it is normalizing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub platform: Platform,
    pub brand: BrandRef<'a>,
    pub received_at: i64,
}

impl Ctx<'_> {
    pub fn is_brand(&self, account_id: &str) -> bool {
        account_id == self.brand.account_id
    }

    /// The event id of an action in this context: [`derive_event_id`] with the platform and
    /// brand account. Lets an adapter hash ids that borrow from its draft's parts (the actor
    /// id) before the draft moves, instead of cloning them.
    pub fn event_id(&self, id_parts: &[&str]) -> String {
        derive_event_id(self.platform, self.brand.account_id, id_parts)
    }

    pub fn brand_party(&self) -> Party {
        Party {
            id: self.brand.account_id.to_owned(),
            ..Party::default()
        }
    }
}

/// An event before its id is derived and its time checked.
#[derive(Debug, Clone)]
pub(crate) struct Draft {
    pub kind: Kind,
    pub modifier: Modifier,
    pub direction: Direction,
    pub channel: Channel,
    pub actor: Party,
    pub addressed: Option<Party>,
    pub object_id: String,
    pub parent_id: Option<String>,
    pub root_id: Option<String>,
    pub text: Option<String>,
    pub reaction: Option<String>,
    pub automated: bool,
    pub occurred_at: i64,
    pub source: String,
}

impl Draft {
    /// A draft with the channel implied by the kind (DMs private, everything else public).
    pub fn new(
        kind: Kind,
        direction: Direction,
        actor: Party,
        object_id: String,
        occurred_at: i64,
        source: impl Into<String>,
    ) -> Self {
        let channel = if kind == Kind::DirectMessage {
            Channel::Private
        } else {
            Channel::Public
        };
        Draft {
            kind,
            modifier: Modifier::None,
            direction,
            channel,
            actor,
            addressed: None,
            object_id,
            parent_id: None,
            root_id: None,
            text: None,
            reaction: None,
            automated: false,
            occurred_at,
            source: source.into(),
        }
    }

    /// The finished event; `id_parts` are the source ids that identify this action (without
    /// platform and brand account, which are always included).
    pub fn finish(self, ctx: &Ctx<'_>, id_parts: &[&str]) -> Result<InteractionEvent, IngestError> {
        let event_id = ctx.event_id(id_parts);
        self.finish_with_id(ctx, event_id)
    }

    /// [`finish`](Self::finish) with an id the adapter derived through [`Ctx::event_id`].
    pub fn finish_with_id(
        self,
        ctx: &Ctx<'_>,
        event_id: String,
    ) -> Result<InteractionEvent, IngestError> {
        check_time(self.occurred_at, ctx.received_at)?;
        Ok(InteractionEvent {
            event_id,
            platform: ctx.platform,
            brand_id: ctx.brand.brand_id.to_owned(),
            brand_account_id: ctx.brand.account_id.to_owned(),
            kind: self.kind,
            modifier: self.modifier,
            direction: self.direction,
            channel: self.channel,
            actor: self.actor,
            addressed: self.addressed,
            object_id: self.object_id,
            parent_id: self.parent_id,
            root_id: self.root_id,
            text: self.text.filter(|t| !t.is_empty()),
            reaction: self.reaction,
            automated: self.automated,
            occurred_at: self.occurred_at,
            received_at: ctx.received_at,
            profile: None,
            source: self.source,
        })
    }
}

/// Refuse times before 1970 or more than [`MAX_FUTURE_SKEW_MS`] after receipt.
pub(crate) fn check_time(occurred_at: i64, received_at: i64) -> Result<(), IngestError> {
    if occurred_at < 0 {
        return Err(IngestError::malformed(format!(
            "occurred_at {occurred_at} ms is before 1970"
        )));
    }
    if occurred_at > received_at.saturating_add(MAX_FUTURE_SKEW_MS) {
        return Err(IngestError::malformed(format!(
            "occurred_at {occurred_at} ms is more than a day after receipt ({received_at} ms)"
        )));
    }
    Ok(())
}

/// 128 bits of SHA-256 over length-prefixed parts, as 32 hex digits. Length prefixes keep
/// `("ab", "c")` and `("a", "bc")` apart.
pub(crate) fn derive_event_id(platform: Platform, brand_account: &str, parts: &[&str]) -> String {
    let mut h = digest::Context::new(&digest::SHA256);
    for part in [platform.as_str(), brand_account].iter().chain(parts) {
        h.update(&(part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(&h.finish().as_ref()[..16])
}

/// The events of one delivery, capped at [`MAX_EVENTS_PER_DELIVERY`].
#[derive(Debug, Default)]
pub(crate) struct Events(Vec<InteractionEvent>);

impl Events {
    pub fn push(&mut self, event: InteractionEvent) -> Result<(), IngestError> {
        if self.0.len() == MAX_EVENTS_PER_DELIVERY {
            return Err(IngestError::malformed(format!(
                "delivery yields more than {MAX_EVENTS_PER_DELIVERY} events"
            )));
        }
        self.0.push(event);
        Ok(())
    }

    pub fn into_vec(self) -> Vec<InteractionEvent> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_stable_and_separate_their_parts() {
        let a = derive_event_id(Platform::X, "1", &["tweet", "42"]);
        assert_eq!(a, derive_event_id(Platform::X, "1", &["tweet", "42"]));
        assert_eq!(a.len(), 32);
        assert_ne!(a, derive_event_id(Platform::X, "2", &["tweet", "42"]));
        assert_ne!(
            a,
            derive_event_id(Platform::Mastodon, "1", &["tweet", "42"])
        );
        assert_ne!(
            derive_event_id(Platform::X, "1", &["ab", "c"]),
            derive_event_id(Platform::X, "1", &["a", "bc"])
        );
    }

    #[test]
    fn event_ids_are_the_first_half_of_sha256_over_the_length_prefixed_parts() {
        use sha2::Digest as _;
        let parts = ["", "a", "héllo", &"x".repeat(200)];
        let mut plain = sha2::Sha256::new();
        for part in ["mastodon", "acct"].iter().chain(&parts) {
            plain.update((part.len() as u64).to_be_bytes());
            plain.update(part.as_bytes());
        }
        assert_eq!(
            derive_event_id(Platform::Mastodon, "acct", &parts),
            hex::encode(&plain.finalize()[..16])
        );
    }

    #[test]
    fn times_before_1970_or_a_day_ahead_are_refused() {
        let now = 1_700_000_000_000;
        assert!(check_time(now, now).is_ok());
        assert!(check_time(now + MAX_FUTURE_SKEW_MS, now).is_ok());
        assert!(check_time(now + MAX_FUTURE_SKEW_MS + 1, now).is_err());
        assert!(check_time(-1, now).is_err());
        assert!(check_time(i64::MAX, i64::MAX).is_ok());
    }
}
