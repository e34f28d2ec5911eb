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

pub use metrics::*;

/// Rows of the engine's tables (migration 0003), converted from `rapport_engine` rows.
mod metrics {
    use rapport_engine::{
        BandDailyRow, CountsSource, DailyRow, FollowDirection, FollowEdgeRow, FollowerBand,
        PersonalTouchRow, PlatformId, ProfileSnapshotRow, ThreadRow, ThreadState,
    };
    use serde::{Deserialize, Serialize};

    use super::enum8;

    fn band(b: FollowerBand) -> i8 {
        match b {
            FollowerBand::Under1k => 1,
            FollowerBand::From1kTo10k => 2,
            FollowerBand::From10kTo100k => 3,
            FollowerBand::Over100k => 4,
            FollowerBand::Unknown => 5,
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq, clickhouse::Row, Serialize, Deserialize)]
    pub struct ThreadDbRow {
        pub thread_id: u64,
        pub brand_id: String,
        pub platform: i8,
        pub user_id: PlatformId,
        pub opened_channel: i8,
        pub opened_at: u32,
        pub opening_item_id: PlatformId,
        pub inbound_items: u32,
        pub first_response_at: Option<u32>,
        pub first_response_item_id: Option<PlatformId>,
        pub response_seconds: Option<u32>,
        pub business_response_seconds: Option<u32>,
        pub sla_deadline_at: u32,
        pub acknowledged_at: Option<u32>,
        pub moved_private: u8,
        pub user_followers: Option<u32>,
        pub follower_band: i8,
        pub state: i8,
        pub version: u64,
    }

    impl From<&ThreadRow> for ThreadDbRow {
        fn from(t: &ThreadRow) -> Self {
            ThreadDbRow {
                thread_id: t.thread_id,
                brand_id: t.brand_id.as_str().to_owned(),
                platform: enum8(t.platform.index()),
                user_id: t.user_id.clone(),
                opened_channel: enum8(t.opened_channel.index()),
                opened_at: t.opened_at,
                opening_item_id: t.opening_item_id.clone(),
                inbound_items: t.inbound_items,
                first_response_at: t.first_response_at,
                first_response_item_id: t.first_response_item_id.clone(),
                response_seconds: t.response_seconds,
                business_response_seconds: t.business_response_seconds,
                sla_deadline_at: t.sla_deadline_at,
                acknowledged_at: t.acknowledged_at,
                moved_private: u8::from(t.moved_private),
                user_followers: t.user_followers,
                follower_band: band(FollowerBand::of(t.user_followers)),
                state: match t.state {
                    ThreadState::AwaitingBrand => 1,
                    ThreadState::Answered => 2,
                    ThreadState::ClosedUnanswered => 3,
                },
                version: t.version,
            }
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq, clickhouse::Row, Serialize, Deserialize)]
    pub struct DailyDbRow {
        pub brand_id: String,
        pub platform: i8,
        pub day: u16,
        pub kafka_partition: u32,
        pub threads_opened: u32,
        pub threads_public: u32,
        pub threads_private: u32,
        pub threads_answered: u32,
        pub moved_private: u32,
        pub frt_sum_seconds: u64,
        pub business_frt_sum_seconds: u64,
        pub threads_1h_old: u32,
        pub answered_within_1h: u32,
        pub threads_24h_old: u32,
        pub answered_within_24h: u32,
        pub pending_24h: u32,
        pub acknowledged_within_24h: u32,
        pub threads_7d_old: u32,
        pub answered_within_7d: u32,
        pub pending_7d: u32,
        pub sla_due: u32,
        pub sla_met: u32,
        pub return_base_answered: u32,
        pub returned_answered: u32,
        pub return_base_unanswered: u32,
        pub returned_unanswered: u32,
        pub low_sample: u8,
        pub pending_threads: u32,
        pub oldest_pending_seconds: u32,
        pub breaching_sla: u32,
        pub inbound_items: u32,
        pub brand_posts: u32,
        pub brand_replies: u32,
        pub brand_reposts: u32,
        pub brand_dms: u32,
        pub late_items: u32,
        pub duplicate_items: u32,
        pub touch_replies: u32,
        pub templated_replies: u32,
        pub named_replies: u32,
        pub deflecting_replies: u32,
        pub personal_replies: u32,
        pub engagers: u32,
        pub engagers_following_brand: u32,
        pub engagers_followed_back: u32,
        pub new_followers: u32,
        pub new_followers_7d_old: u32,
        pub new_followers_followed_back_7d: u32,
        pub brand_followers: Option<u64>,
        pub brand_following: Option<u64>,
        pub counts_source: Option<i8>,
        pub version: u64,
    }

    impl DailyDbRow {
        /// `partition` is the Kafka partition whose users the counts cover.
        pub fn new(d: &DailyRow, partition: u32) -> Self {
            DailyDbRow {
                brand_id: d.brand_id.clone(),
                platform: enum8(d.platform.index()),
                day: d.day,
                kafka_partition: partition,
                threads_opened: d.threads_opened,
                threads_public: d.threads_public,
                threads_private: d.threads_private,
                threads_answered: d.threads_answered,
                moved_private: d.moved_private,
                frt_sum_seconds: d.frt_sum_seconds,
                business_frt_sum_seconds: d.business_frt_sum_seconds,
                threads_1h_old: d.threads_1h_old,
                answered_within_1h: d.answered_within_1h,
                threads_24h_old: d.threads_24h_old,
                answered_within_24h: d.answered_within_24h,
                pending_24h: d.pending_24h,
                acknowledged_within_24h: d.acknowledged_within_24h,
                threads_7d_old: d.threads_7d_old,
                answered_within_7d: d.answered_within_7d,
                pending_7d: d.pending_7d,
                sla_due: d.sla_due,
                sla_met: d.sla_met,
                return_base_answered: d.return_base_answered,
                returned_answered: d.returned_answered,
                return_base_unanswered: d.return_base_unanswered,
                returned_unanswered: d.returned_unanswered,
                low_sample: d.low_sample,
                pending_threads: d.pending_threads,
                oldest_pending_seconds: d.oldest_pending_seconds,
                breaching_sla: d.breaching_sla,
                inbound_items: d.inbound_items,
                brand_posts: d.brand_posts,
                brand_replies: d.brand_replies,
                brand_reposts: d.brand_reposts,
                brand_dms: d.brand_dms,
                late_items: d.late_items,
                duplicate_items: d.duplicate_items,
                touch_replies: d.touch_replies,
                templated_replies: d.templated_replies,
                named_replies: d.named_replies,
                deflecting_replies: d.deflecting_replies,
                personal_replies: d.personal_replies,
                engagers: d.engagers,
                engagers_following_brand: d.engagers_following_brand,
                engagers_followed_back: d.engagers_followed_back,
                new_followers: d.new_followers,
                new_followers_7d_old: d.new_followers_7d_old,
                new_followers_followed_back_7d: d.new_followers_followed_back_7d,
                brand_followers: d.brand_followers,
                brand_following: d.brand_following,
                counts_source: d.counts_source.map(|c| match c {
                    CountsSource::Snapshot => 1,
                    CountsSource::Events => 2,
                }),
                version: d.version,
            }
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq, clickhouse::Row, Serialize, Deserialize)]
    pub struct BandDailyDbRow {
        pub brand_id: String,
        pub platform: i8,
        pub day: u16,
        pub follower_band: i8,
        pub kafka_partition: u32,
        pub threads_opened: u32,
        pub threads_24h_old: u32,
        pub answered_within_24h: u32,
        pub pending_24h: u32,
        pub low_sample: u8,
        pub version: u64,
    }

    impl BandDailyDbRow {
        pub fn new(b: &BandDailyRow, partition: u32) -> Self {
            BandDailyDbRow {
                brand_id: b.brand_id.clone(),
                platform: enum8(b.platform.index()),
                day: b.day,
                follower_band: band(b.follower_band),
                kafka_partition: partition,
                threads_opened: b.threads_opened,
                threads_24h_old: b.threads_24h_old,
                answered_within_24h: b.answered_within_24h,
                pending_24h: b.pending_24h,
                low_sample: b.low_sample,
                version: b.version,
            }
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq, clickhouse::Row, Serialize, Deserialize)]
    pub struct PersonalTouchDbRow {
        pub brand_id: String,
        pub platform: i8,
        pub item_id: String,
        pub user_id: String,
        pub channel: i8,
        pub occurred_at: u32,
        pub thread_id: Option<u64>,
        pub simhash: u64,
        pub near_duplicates: u32,
        pub exact_duplicate: u8,
        pub is_templated: u8,
        pub addresses_by_name: u8,
        pub deflects_to_private: u8,
        pub shared_content_words: u32,
        pub is_personal: u8,
        pub version: u64,
    }

    impl From<&PersonalTouchRow> for PersonalTouchDbRow {
        fn from(p: &PersonalTouchRow) -> Self {
            PersonalTouchDbRow {
                brand_id: p.brand_id.as_str().to_owned(),
                platform: enum8(p.platform.index()),
                item_id: p.item_id.as_str().to_owned(),
                user_id: p.user_id.as_str().to_owned(),
                channel: enum8(p.channel.index()),
                occurred_at: p.occurred_at,
                thread_id: p.thread_id,
                simhash: p.simhash,
                near_duplicates: p.near_duplicates,
                exact_duplicate: u8::from(p.exact_duplicate),
                is_templated: u8::from(p.is_templated),
                addresses_by_name: u8::from(p.addresses_by_name),
                deflects_to_private: u8::from(p.deflects_to_private),
                shared_content_words: p.shared_content_words,
                is_personal: u8::from(p.is_personal),
                version: p.version,
            }
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq, clickhouse::Row, Serialize, Deserialize)]
    pub struct FollowEdgeDbRow {
        pub brand_id: String,
        pub platform: i8,
        pub user_id: String,
        pub direction: i8,
        pub following: u8,
        pub changed_at: u32,
        pub item_id: String,
        pub version: u64,
    }

    impl From<&FollowEdgeRow> for FollowEdgeDbRow {
        fn from(f: &FollowEdgeRow) -> Self {
            FollowEdgeDbRow {
                brand_id: f.brand_id.clone(),
                platform: enum8(f.platform.index()),
                user_id: f.user_id.clone(),
                direction: match f.direction {
                    FollowDirection::BrandToUser => 1,
                    FollowDirection::UserToBrand => 2,
                },
                following: u8::from(f.following),
                changed_at: f.changed_at,
                item_id: f.item_id.clone(),
                version: f.version,
            }
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq, clickhouse::Row, Serialize, Deserialize)]
    pub struct ProfileSnapshotDbRow {
        pub brand_id: String,
        pub platform: i8,
        pub account_id: String,
        pub is_brand_account: u8,
        pub followers: i64,
        pub following: i64,
        pub posts: Option<i64>,
        pub taken_at: u32,
        pub version: u64,
    }

    impl From<&ProfileSnapshotRow> for ProfileSnapshotDbRow {
        fn from(p: &ProfileSnapshotRow) -> Self {
            ProfileSnapshotDbRow {
                brand_id: p.brand_id.clone(),
                platform: enum8(p.platform.index()),
                account_id: p.account_id.clone(),
                is_brand_account: u8::from(p.is_brand_account),
                followers: p.followers,
                following: p.following,
                posts: p.posts,
                taken_at: p.taken_at,
                version: p.version,
            }
        }
    }
}
