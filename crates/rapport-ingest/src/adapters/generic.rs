//! rapport's own event shape on `/webhooks/generic`, for sources without a native adapter
//! (help desks, CRMs, LinkedIn or Bluesky bridges, replays). The contract is
//! `schemas/json/generic_event.v1.schema.json`: one event or `{"events": [...]}`, fields named
//! and typed like `InteractionEvent`, enums as their Avro symbols, `occurred_at` as RFC 3339 or
//! epoch milliseconds.
//!
//! Parsing is strict (unknown fields are refused) so that a typo is a 400 the sender sees, not a
//! silently dropped value. This adapter also enforces what the schema can only describe: the
//! brand resolves through the directory, the actor is the brand exactly when the direction is
//! outbound, and profile snapshots carry their counts. `event_id` is derived from the sender's
//! `id`, so resending an event is idempotent.

use rapport_events::{
    Channel, Direction, InteractionEvent, Kind, Modifier, Party, Platform, ProfileCounts,
};
use serde::Deserialize;
use serde_json::Value;

use crate::directory::BrandRef;
use crate::event::{Ctx, Draft, Events};
use crate::json::parse;
use crate::time::rfc3339_ms;
use crate::{AccountDirectory, IngestError};

/// Most events one generic delivery may carry (the schema's `maxItems`).
pub const MAX_GENERIC_EVENTS: usize = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GenericEvent {
    id: String,
    platform: Platform,
    account_id: String,
    #[serde(default)]
    brand_id: Option<String>,
    kind: Kind,
    #[serde(default)]
    modifier: Modifier,
    direction: Direction,
    #[serde(default)]
    channel: Option<Channel>,
    actor: GenericParty,
    #[serde(default)]
    addressed: Option<GenericParty>,
    object_id: String,
    #[serde(default)]
    parent_id: Option<String>,
    #[serde(default)]
    root_id: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    reaction: Option<String>,
    #[serde(default)]
    automated: bool,
    occurred_at: Timestamp,
    #[serde(default)]
    profile: Option<GenericProfile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GenericParty {
    id: String,
    #[serde(default)]
    handle: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    followers: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GenericProfile {
    followers: u64,
    following: u64,
    #[serde(default)]
    posts: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Timestamp {
    EpochMs(i64),
    Rfc3339(String),
}

/// Counts beyond `i64::MAX` do not exist; saturate rather than refuse.
fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl From<GenericParty> for Party {
    fn from(p: GenericParty) -> Self {
        Party {
            id: p.id,
            handle: p.handle,
            display_name: p.display_name,
            followers: p.followers.map(count),
        }
    }
}

pub(crate) fn normalize(
    body: &[u8],
    received_at: i64,
    directory: &AccountDirectory,
) -> Result<Vec<InteractionEvent>, IngestError> {
    let mut v: Value = parse(body)?;
    let items = match v.as_object_mut().and_then(|o| o.remove("events")) {
        Some(Value::Array(items)) => {
            if v.as_object().is_some_and(|o| !o.is_empty()) {
                return Err(IngestError::malformed(
                    "an events envelope has no other fields",
                ));
            }
            if items.is_empty() || items.len() > MAX_GENERIC_EVENTS {
                return Err(IngestError::malformed(format!(
                    "events must hold 1 to {MAX_GENERIC_EVENTS} events, not {}",
                    items.len()
                )));
            }
            items
        }
        Some(_) => return Err(IngestError::malformed("events is not an array")),
        None if v.is_object() => vec![v],
        None => {
            return Err(IngestError::malformed(
                "a generic delivery is an event object or {\"events\": [...]}",
            ))
        }
    };
    let mut out = Events::default();
    for (i, item) in items.into_iter().enumerate() {
        let event: GenericEvent = serde_json::from_value(item)
            .map_err(|e| IngestError::malformed(format!("event {i}: {e}")))?;
        out.push(convert(event, received_at, directory).map_err(|e| match e {
            IngestError::Malformed { reason } => {
                IngestError::malformed(format!("event {i}: {reason}"))
            }
            other => other,
        })?)?;
    }
    Ok(out.into_vec())
}

fn brand<'a>(
    platform: Platform,
    brand_id: Option<&str>,
    account_id: &'a str,
    directory: &'a AccountDirectory,
) -> Result<BrandRef<'a>, IngestError> {
    let configured = matches!(
        platform,
        Platform::Facebook | Platform::Instagram | Platform::X | Platform::Mastodon
    );
    if configured {
        let brand = directory.lookup(platform, account_id)?;
        if brand_id.is_some_and(|b| b != brand.brand_id) {
            return Err(IngestError::malformed(format!(
                "brand_id does not own {platform} account `{account_id}`"
            )));
        }
        return Ok(brand);
    }
    let brand_id = brand_id.ok_or_else(|| {
        IngestError::malformed(format!("brand_id is required for platform {platform}"))
    })?;
    directory
        .brand_with_account(brand_id, account_id)
        .ok_or_else(|| IngestError::UnknownAccount {
            platform,
            account_id: account_id.to_owned(),
        })
}

fn convert(
    e: GenericEvent,
    received_at: i64,
    directory: &AccountDirectory,
) -> Result<InteractionEvent, IngestError> {
    for (name, value) in [
        ("id", &e.id),
        ("account_id", &e.account_id),
        ("object_id", &e.object_id),
        ("actor.id", &e.actor.id),
    ] {
        if value.is_empty() {
            return Err(IngestError::malformed(format!("{name} is empty")));
        }
    }
    let actor_is_brand = e.actor.id == e.account_id;
    match e.direction {
        Direction::Outbound if !actor_is_brand => {
            return Err(IngestError::malformed(
                "an outbound event's actor.id must be the brand's account_id",
            ))
        }
        Direction::Inbound if actor_is_brand => {
            return Err(IngestError::malformed(
                "an inbound event's actor.id must not be the brand's account_id",
            ))
        }
        _ => {}
    }
    if e.kind == Kind::ProfileSnapshot && e.profile.is_none() {
        return Err(IngestError::malformed("a profile_snapshot needs profile"));
    }
    let occurred_at = match &e.occurred_at {
        Timestamp::EpochMs(ms) => *ms,
        Timestamp::Rfc3339(text) => rfc3339_ms(text).ok_or_else(|| {
            IngestError::malformed(format!("occurred_at `{text}` is not RFC 3339"))
        })?,
    };
    let account_id = e.account_id;
    let ctx = Ctx {
        platform: e.platform,
        brand: brand(e.platform, e.brand_id.as_deref(), &account_id, directory)?,
        received_at,
    };
    let mut draft = Draft::new(
        e.kind,
        e.direction,
        Party::default(),
        e.object_id,
        occurred_at,
        format!("generic.{}", e.kind),
    );
    if let Some(channel) = e.channel {
        draft.channel = channel;
    }
    draft.actor = e.actor.into();
    draft.modifier = e.modifier;
    draft.addressed = e.addressed.map(Party::from);
    draft.parent_id = e.parent_id;
    draft.root_id = e.root_id;
    draft.text = e.text;
    draft.reaction = e.reaction;
    draft.automated = e.automated;
    let mut event = draft.finish(&ctx, &["generic", &e.id])?;
    event.profile = e.profile.map(|p| ProfileCounts {
        followers: count(p.followers),
        following: count(p.following),
        posts: p.posts.map(count),
    });
    Ok(event)
}
