//! Row types as ClickHouse sees them (RowBinary, field order = column order). Enum columns are
//! `Enum8` whose values are the Avro symbol position + 1, so a row carries the `i8` and SQL
//! shows the name. Timestamps are `DateTime` (seconds); the millisecond time is kept beside.

use rapport_events::InteractionEvent;
use serde::{Deserialize, Serialize};

/// `Enum8` value of an Avro enum symbol.
pub fn enum8(index: u32) -> i8 {
    // Every rapport enum has fewer than 127 symbols (checked by the schema tests).
    i8::try_from(index + 1).unwrap_or(i8::MAX)
}

/// `DateTime` column value (seconds, clamped to its range 1970..2106).
pub fn datetime(epoch_ms: i64) -> u32 {
    u32::try_from(epoch_ms.div_euclid(1000).max(0)).unwrap_or(u32::MAX)
}

/// One row of `interactions`.
#[derive(Debug, Clone, PartialEq, Eq, clickhouse::Row, Serialize, Deserialize)]
pub struct InteractionRow {
    pub event_id: String,
    pub platform: i8,
    pub brand_id: String,
    pub brand_account_id: String,
    pub kind: i8,
    pub modifier: i8,
    pub direction: i8,
    pub channel: i8,
    pub user_id: String,
    pub actor_id: String,
    pub actor_handle: String,
    pub actor_display_name: String,
    pub actor_followers: Option<i64>,
    pub addressed_id: String,
    pub addressed_handle: String,
    pub object_id: String,
    pub parent_id: String,
    pub root_id: String,
    pub text: String,
    pub reaction: String,
    pub automated: u8,
    pub occurred_at: u32,
    pub occurred_at_ms: i64,
    pub received_at: u32,
    pub profile_followers: Option<i64>,
    pub profile_following: Option<i64>,
    pub source: String,
}

impl From<&InteractionEvent> for InteractionRow {
    fn from(e: &InteractionEvent) -> Self {
        let addressed = e.addressed.as_ref();
        InteractionRow {
            event_id: e.event_id.clone(),
            platform: enum8(e.platform.index()),
            brand_id: e.brand_id.clone(),
            brand_account_id: e.brand_account_id.clone(),
            kind: enum8(e.kind.index()),
            modifier: enum8(e.modifier.index()),
            direction: enum8(e.direction.index()),
            channel: enum8(e.channel.index()),
            user_id: e.user_id().to_owned(),
            actor_id: e.actor.id.clone(),
            actor_handle: e.actor.handle.clone().unwrap_or_default(),
            actor_display_name: e.actor.display_name.clone().unwrap_or_default(),
            actor_followers: e.actor.followers,
            addressed_id: addressed.map(|p| p.id.clone()).unwrap_or_default(),
            addressed_handle: addressed.and_then(|p| p.handle.clone()).unwrap_or_default(),
            object_id: e.object_id.clone(),
            parent_id: e.parent_id.clone().unwrap_or_default(),
            root_id: e.root_id.clone().unwrap_or_default(),
            text: e.text.clone().unwrap_or_default(),
            reaction: e.reaction.clone().unwrap_or_default(),
            automated: u8::from(e.automated),
            occurred_at: datetime(e.occurred_at),
            occurred_at_ms: e.occurred_at,
            received_at: datetime(e.received_at),
            profile_followers: e.profile.map(|p| p.followers),
            profile_following: e.profile.map(|p| p.following),
            source: e.source.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_clamp_to_the_column_range() {
        assert_eq!(datetime(-5), 0);
        assert_eq!(datetime(1_999), 1);
        assert_eq!(datetime(i64::MAX), u32::MAX);
    }
}
