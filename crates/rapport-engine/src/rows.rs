//! The rows the engine hands to the processor, one struct per ClickHouse table, field names as
//! in METRICS.md. Conventions, fixed for every row:
//! - instants (`*_at`) are `u32` epoch **seconds** UTC (ClickHouse `DateTime`), rounded down;
//! - durations (`*_seconds`) are whole seconds; counts are `u32`/`u64`;
//! - `day` is the UTC day number since 1970-01-01 (ClickHouse `Date`);
//! - `version` is a `u64` derived from event time only (never a clock), so a replay writes the
//!   same rows and a ReplacingMergeTree keeps the newest: thread rows
//!   `event_ms << 20 | inbound_items << 4 | flags`; daily rows `event_ms · 1024 + step`
//!   (see `DayAgg::to_row`); other rows the item's `occurred_at` in ms.
//!
//! - ids in [`ThreadRow`] and [`PersonalTouchRow`], the rows emitted per event, allocate
//!   nothing for the usual ids: a thread's user and item ids are [`PlatformId`]s (a decimal id
//!   held as its number, formatted only when the row is written out), the others [`SmolStr`]
//!   (up to 23 bytes inline); the brand id is cloned from the engine's per-brand value (inline,
//!   or a shared `Arc` when longer). They print (`Debug`), compare and serialize as the plain
//!   strings.
//!
//! This module owns only the shapes; the engine fills them.

use rapport_events::{Channel, Platform};
use serde::{Deserialize, Serialize};
pub use smol_str::SmolStr;

use crate::PlatformId;

/// Lifecycle state of a thread (METRICS.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThreadState {
    AwaitingBrand,
    Answered,
    ClosedUnanswered,
}

impl ThreadState {
    pub fn as_str(self) -> &'static str {
        match self {
            ThreadState::AwaitingBrand => "awaiting_brand",
            ThreadState::Answered => "answered",
            ThreadState::ClosedUnanswered => "closed_unanswered",
        }
    }
}

/// One thread (`threads` table), exactly the field list of METRICS.md §2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadRow {
    pub thread_id: u64,
    pub brand_id: SmolStr,
    pub platform: Platform,
    pub user_id: PlatformId,
    pub opened_channel: Channel,
    pub opened_at: u32,
    pub opening_item_id: PlatformId,
    pub inbound_items: u32,
    pub first_response_at: Option<u32>,
    pub first_response_item_id: Option<PlatformId>,
    pub response_seconds: Option<u32>,
    pub business_response_seconds: Option<u32>,
    /// When the brand's SLA target (business time) runs out for this thread; SQL computes SLA
    /// attainment at any cut-off from it (not in METRICS.md §2's list, derived from §3).
    pub sla_deadline_at: u32,
    pub acknowledged_at: Option<u32>,
    pub moved_private: bool,
    pub user_followers: Option<u32>,
    pub state: ThreadState,
    pub version: u64,
}

/// Follower band of the user who opened a thread (METRICS.md §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum FollowerBand {
    #[serde(rename = "<1k")]
    Under1k,
    #[serde(rename = "1k-10k")]
    From1kTo10k,
    #[serde(rename = "10k-100k")]
    From10kTo100k,
    #[serde(rename = "100k+")]
    Over100k,
    #[serde(rename = "unknown")]
    Unknown,
}

impl FollowerBand {
    pub const ALL: [FollowerBand; 5] = [
        FollowerBand::Under1k,
        FollowerBand::From1kTo10k,
        FollowerBand::From10kTo100k,
        FollowerBand::Over100k,
        FollowerBand::Unknown,
    ];

    pub fn of(followers: Option<u32>) -> Self {
        match followers {
            None => FollowerBand::Unknown,
            Some(n) if n < 1_000 => FollowerBand::Under1k,
            Some(n) if n < 10_000 => FollowerBand::From1kTo10k,
            Some(n) if n < 100_000 => FollowerBand::From10kTo100k,
            Some(_) => FollowerBand::Over100k,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FollowerBand::Under1k => "<1k",
            FollowerBand::From1kTo10k => "1k-10k",
            FollowerBand::From10kTo100k => "10k-100k",
            FollowerBand::Over100k => "100k+",
            FollowerBand::Unknown => "unknown",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// Where `brand_followers`/`brand_following` of a daily row come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CountsSource {
    /// The latest profile snapshot of the brand account.
    Snapshot,
    /// Follow/unfollow events seen by this engine (a lower bound).
    Events,
}

/// Per brand, platform and UTC day (`brand_daily` table): every figure of METRICS.md §3–§6 as
/// counts, so any longer period is a sum of rows. Which day a count lands on:
/// - *thread cohort* fields: the day the thread was **opened**;
/// - *item* fields (volumes, personal touch, engagers, new followers): the item's `occurred_at` day;
/// - *backlog* and brand counts: the state at the end of the day, or at the watermark for the
///   current day; `late_items` and `duplicate_items`: the watermark's day when they arrived.
///
/// Censoring: `threads_24h_old` counts cohort threads at least 24 h old at the row's watermark;
/// `answered_within_24h` counts those of them answered within 24 h; `pending_24h` counts
/// threads younger than 24 h and not answered (never misses). Likewise for 1 h and 7 d.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyRow {
    pub brand_id: String,
    pub platform: Platform,
    pub day: u16,
    // ---- thread cohort (by opened_at day) ----
    pub threads_opened: u32,
    pub threads_public: u32,
    pub threads_private: u32,
    pub threads_answered: u32,
    pub moved_private: u32,
    /// Sum of `response_seconds` over answered cohort threads (`frt_mean_seconds` numerator).
    pub frt_sum_seconds: u64,
    pub business_frt_sum_seconds: u64,
    pub threads_1h_old: u32,
    pub answered_within_1h: u32,
    pub threads_24h_old: u32,
    pub answered_within_24h: u32,
    pub pending_24h: u32,
    /// Threads at least 24 h old with a response or a brand reaction within 24 h.
    pub acknowledged_within_24h: u32,
    pub threads_7d_old: u32,
    pub answered_within_7d: u32,
    pub pending_7d: u32,
    /// Threads whose SLA deadline has passed, and those of them answered by it.
    pub sla_due: u32,
    pub sla_met: u32,
    /// Threads answered within 24 h whose 30-day return window has closed, and those of them
    /// whose user sent another inbound item in it; the same for threads not answered within 7 d.
    pub return_base_answered: u32,
    pub returned_answered: u32,
    pub return_base_unanswered: u32,
    pub returned_unanswered: u32,
    /// 1 when `threads_24h_old` < 10 (METRICS.md §7).
    pub low_sample: u8,
    // ---- backlog ----
    pub pending_threads: u32,
    pub oldest_pending_seconds: u32,
    pub breaching_sla: u32,
    // ---- items (by occurred_at day) ----
    pub inbound_items: u32,
    pub brand_posts: u32,
    pub brand_replies: u32,
    pub brand_reposts: u32,
    pub brand_dms: u32,
    pub late_items: u32,
    pub duplicate_items: u32,
    // ---- personal touch (by reply day) ----
    pub touch_replies: u32,
    pub templated_replies: u32,
    pub named_replies: u32,
    pub deflecting_replies: u32,
    pub personal_replies: u32,
    // ---- reciprocity ----
    /// Distinct users with an inbound conversational item that day; of them, those known to
    /// follow the brand at the end of the day; of those, the ones the brand follows then
    /// (the two follow counts are filled when the day ends; the live row has `engagers` only).
    pub engagers: u32,
    pub engagers_following_brand: u32,
    pub engagers_followed_back: u32,
    /// Users who followed the brand that day; of them, those whose 7-day window has closed;
    /// of those, the ones the brand followed back within it.
    pub new_followers: u32,
    pub new_followers_7d_old: u32,
    pub new_followers_followed_back_7d: u32,
    pub brand_followers: Option<u64>,
    pub brand_following: Option<u64>,
    pub counts_source: Option<CountsSource>,
    pub version: u64,
}

/// Per brand, platform, day and follower band (`brand_daily_band` table): the inputs of
/// response equity and `equity_gap` (METRICS.md §6), same cohort rules as [`DailyRow`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BandDailyRow {
    pub brand_id: String,
    pub platform: Platform,
    pub day: u16,
    pub follower_band: FollowerBand,
    pub threads_opened: u32,
    pub threads_24h_old: u32,
    pub answered_within_24h: u32,
    pub pending_24h: u32,
    pub low_sample: u8,
    pub version: u64,
}

/// One outbound, non-automated reply or DM (`personal_touch` table, METRICS.md §5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonalTouchRow {
    pub brand_id: SmolStr,
    pub platform: Platform,
    pub item_id: SmolStr,
    pub user_id: SmolStr,
    pub channel: Channel,
    pub occurred_at: u32,
    /// The thread this reply belongs to, when the user had one open.
    pub thread_id: Option<u64>,
    pub simhash: u64,
    /// Near-duplicates (Hamming ≤ 3) found among the brand's trailing replies, capped at the
    /// templating threshold.
    pub near_duplicates: u32,
    pub exact_duplicate: bool,
    pub is_templated: bool,
    pub addresses_by_name: bool,
    pub deflects_to_private: bool,
    pub shared_content_words: u32,
    pub is_personal: bool,
    pub version: u64,
}

/// Who follows whom in a [`FollowEdgeRow`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FollowDirection {
    BrandToUser,
    UserToBrand,
}

/// A follow or unfollow (`follow_edges` table): an append-only history, so the state at any
/// instant is the latest row at or before it (`argMax(following, changed_at)`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowEdgeRow {
    pub brand_id: String,
    pub platform: Platform,
    pub user_id: String,
    pub direction: FollowDirection,
    pub following: bool,
    pub changed_at: u32,
    pub item_id: String,
    pub version: u64,
}

/// A profile snapshot of any account seen by a brand (`profile_snapshots` table).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileSnapshotRow {
    pub brand_id: String,
    pub platform: Platform,
    pub account_id: String,
    pub is_brand_account: bool,
    pub followers: i64,
    pub following: i64,
    pub posts: Option<i64>,
    pub taken_at: u32,
    pub version: u64,
}

/// Everything produced since the last `drain_output`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    pub threads: Vec<ThreadRow>,
    pub daily: Vec<DailyRow>,
    pub daily_bands: Vec<BandDailyRow>,
    pub personal_touch: Vec<PersonalTouchRow>,
    pub follow_edges: Vec<FollowEdgeRow>,
    pub profile_snapshots: Vec<ProfileSnapshotRow>,
}

impl Output {
    pub fn is_empty(&self) -> bool {
        self.threads.is_empty()
            && self.daily.is_empty()
            && self.daily_bands.is_empty()
            && self.personal_touch.is_empty()
            && self.follow_edges.is_empty()
            && self.profile_snapshots.is_empty()
    }

    pub fn append(&mut self, mut other: Output) {
        self.threads.append(&mut other.threads);
        self.daily.append(&mut other.daily);
        self.daily_bands.append(&mut other.daily_bands);
        self.personal_touch.append(&mut other.personal_touch);
        self.follow_edges.append(&mut other.follow_edges);
        self.profile_snapshots.append(&mut other.profile_snapshots);
    }
}

/// Live per brand/platform figures for Prometheus gauges (not persisted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveGauges {
    pub brand_id: String,
    pub platform: Platform,
    pub pending_threads: u32,
    pub oldest_pending_seconds: u32,
    pub breaching_sla: u32,
    /// Rolling 7 UTC days ending with the watermark's day: threads ≥ 24 h old and those of
    /// them answered within 24 h (sum the two across processors, then divide).
    pub threads_24h_old_7d: u32,
    pub answered_within_24h_7d: u32,
    pub response_rate_24h_7d: Option<f64>,
    /// Sketch quantiles (≤ 1 % relative error) of `response_seconds`, rolling 7 days.
    pub frt_p50_seconds_7d: Option<f64>,
    pub frt_p90_seconds_7d: Option<f64>,
    /// The sketch behind the two quantiles, so a processor can merge its partitions' sketches
    /// into one per brand/platform before reading quantiles.
    pub frt_sketch_7d: crate::QuantileSketch,
}

/// Epoch ms → `DateTime` seconds, saturating for out-of-range input.
#[inline]
pub(crate) fn secs(ms: i64) -> u32 {
    u32::try_from(ms.div_euclid(1000).max(0)).unwrap_or(u32::MAX)
}

/// Day number → `Date`, saturating.
#[inline]
pub(crate) fn day_u16(day: i64) -> u16 {
    u16::try_from(day.max(0)).unwrap_or(u16::MAX)
}
