//! Per (brand, platform, UTC day) aggregates: the counters behind `brand_daily` and
//! `brand_daily_band` rows, how they are turned into rows at a watermark, and the per
//! brand/platform live state (backlog counters, brand follower counts) those rows and the
//! Prometheus gauges read. Which event lands on which day, and when counters move, is decided
//! by the engine; this module owns the shapes and the arithmetic of censoring.

use std::collections::VecDeque;

use rapport_events::Platform;
use serde::{Deserialize, Serialize};

use crate::keyset::KeySet;
use crate::rows::{secs, BandDailyRow, CountsSource, DailyRow, FollowerBand};
use crate::sketch::QuantileSketch;

/// Below this many threads a rate is flagged `low_sample` (METRICS.md §7).
pub const MIN_SAMPLE: u32 = 10;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BandCounts {
    pub opened: u32,
    pub old_24h: u32,
    pub answered_24h: u32,
    /// Answered within 24 h but not yet 24 h old: neither pending nor in the denominator.
    pub young_answered_24h: u32,
}

/// Counters of one (brand, platform, day). `row` holds every plain count (its `brand_id`
/// stays empty; the engine fills it when emitting); the `young_*` counters turn the
/// watermark-dependent `pending_*` fields into plain arithmetic.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DayAgg {
    pub row: DailyRow,
    pub young_answered_1h: u32,
    pub young_answered_24h: u32,
    pub young_answered_7d: u32,
    pub bands: [BandCounts; 5],
    /// `response_seconds` of the day's answered cohort, for live FRT quantiles.
    pub sketch: QuantileSketch,
    /// Distinct engagers (key hashes) of the day, until the day is settled.
    pub engagers: Option<Box<KeySet>>,
    /// Backlog and brand counts were frozen at the end of the day.
    pub frozen: bool,
    /// Event time of the last change (the row's `version` once the day is over).
    pub last_change: i64,
    pub dirty: bool,
    /// Watermark at which the row was last emitted while it was the current day.
    pub emitted_at: i64,
    /// Late or duplicate arrivals counted at watermark `arrivals_w` (they change the live
    /// row without moving event time, so they get their own version steps).
    pub arrivals_w: i64,
    pub arrivals_n: u32,
}

impl DayAgg {
    pub fn new(platform: Platform, day: u16) -> Self {
        DayAgg {
            row: empty_row(platform, day),
            young_answered_1h: 0,
            young_answered_24h: 0,
            young_answered_7d: 0,
            bands: [BandCounts::default(); 5],
            sketch: QuantileSketch::new(),
            engagers: None,
            frozen: false,
            last_change: i64::MIN,
            dirty: false,
            emitted_at: i64::MIN,
            arrivals_w: i64::MIN,
            arrivals_n: 0,
        }
    }

    /// Marks a change made by an arrival (late or duplicate item) at watermark `w`.
    pub fn arrival(&mut self, w: i64) -> &mut DailyRow {
        if self.arrivals_w != w {
            self.arrivals_w = w;
            self.arrivals_n = 0;
        }
        self.arrivals_n = (self.arrivals_n + 1).min(SUBSTEPS as u32 / 2 - 1);
        self.dirty = true;
        &mut self.row
    }

    /// Marks a change at event time `t`.
    #[inline]
    pub fn touch(&mut self, t: i64) -> &mut DailyRow {
        self.dirty = true;
        self.last_change = self.last_change.max(t);
        &mut self.row
    }

    /// The row as of the watermark: fills the derived fields and the `version`. The live
    /// (current) day's row reflects every change before watermark `live` plus the arrivals
    /// counted at it: `live·1024 + arrivals`. A settled row reflects changes up to its last
    /// one at `t`: `t·1024 + 512`, above any live version it had (its day ended after them).
    pub fn to_row(&self, brand_id: &str, live: Option<i64>) -> DailyRow {
        let mut r = self.row.clone();
        r.brand_id = brand_id.to_owned();
        r.pending_24h = r
            .threads_opened
            .saturating_sub(r.threads_24h_old)
            .saturating_sub(self.young_answered_24h);
        r.pending_7d = r
            .threads_opened
            .saturating_sub(r.threads_7d_old)
            .saturating_sub(self.young_answered_7d);
        r.low_sample = u8::from(r.threads_24h_old < MIN_SAMPLE);
        r.version = match live {
            Some(w) => {
                let n = if self.arrivals_w == w {
                    self.arrivals_n
                } else {
                    0
                };
                version_of(w) * SUBSTEPS + u64::from(n)
            }
            None => version_of(self.last_change) * SUBSTEPS + SUBSTEPS / 2,
        };
        r
    }

    pub fn band_rows(&self, brand_id: &str, version: u64) -> Vec<BandDailyRow> {
        FollowerBand::ALL
            .iter()
            .zip(self.bands.iter())
            .filter(|(_, b)| b.opened > 0)
            .map(|(&band, b)| BandDailyRow {
                brand_id: brand_id.to_owned(),
                platform: self.row.platform,
                day: self.row.day,
                follower_band: band,
                threads_opened: b.opened,
                threads_24h_old: b.old_24h,
                answered_within_24h: b.answered_24h,
                pending_24h: b
                    .opened
                    .saturating_sub(b.old_24h)
                    .saturating_sub(b.young_answered_24h),
                low_sample: u8::from(b.old_24h < MIN_SAMPLE),
                version,
            })
            .collect()
    }
}

/// Version steps per millisecond of event time in daily rows.
pub const SUBSTEPS: u64 = 1024;

/// Row versions are event-time milliseconds (never negative).
pub fn version_of(ms: i64) -> u64 {
    u64::try_from(ms.max(0)).unwrap_or(0)
}

fn empty_row(platform: Platform, day: u16) -> DailyRow {
    DailyRow {
        brand_id: String::new(),
        platform,
        day,
        threads_opened: 0,
        threads_public: 0,
        threads_private: 0,
        threads_answered: 0,
        moved_private: 0,
        frt_sum_seconds: 0,
        business_frt_sum_seconds: 0,
        threads_1h_old: 0,
        answered_within_1h: 0,
        threads_24h_old: 0,
        answered_within_24h: 0,
        pending_24h: 0,
        acknowledged_within_24h: 0,
        threads_7d_old: 0,
        answered_within_7d: 0,
        pending_7d: 0,
        sla_due: 0,
        sla_met: 0,
        return_base_answered: 0,
        returned_answered: 0,
        return_base_unanswered: 0,
        returned_unanswered: 0,
        low_sample: 1,
        pending_threads: 0,
        oldest_pending_seconds: 0,
        breaching_sla: 0,
        inbound_items: 0,
        brand_posts: 0,
        brand_replies: 0,
        brand_reposts: 0,
        brand_dms: 0,
        late_items: 0,
        duplicate_items: 0,
        touch_replies: 0,
        templated_replies: 0,
        named_replies: 0,
        deflecting_replies: 0,
        personal_replies: 0,
        engagers: 0,
        engagers_following_brand: 0,
        engagers_followed_back: 0,
        new_followers: 0,
        new_followers_7d_old: 0,
        new_followers_followed_back_7d: 0,
        brand_followers: None,
        brand_following: None,
        counts_source: None,
        version: 0,
    }
}

/// Live state of one (brand, platform).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BpState {
    pub brand: u32,
    pub platform: Platform,
    /// Threads in `awaiting_brand`, and those past their SLA deadline.
    pub pending: u32,
    pub breaching: u32,
    /// Low sequence numbers of threads opened here, oldest first; entries that no longer
    /// await the brand are dropped lazily from the front, so the first awaiting one is the
    /// oldest pending thread.
    pub awaiting: VecDeque<u32>,
    /// Follow edges seen in events: users following the brand, users the brand follows.
    pub followers_ev: i64,
    pub following_ev: i64,
    /// Latest profile snapshot of the brand account: (followers, following, taken at ms).
    pub snapshot: Option<(i64, i64, i64)>,
}

impl BpState {
    pub fn new(brand: u32, platform: Platform) -> Self {
        BpState {
            brand,
            platform,
            pending: 0,
            breaching: 0,
            awaiting: VecDeque::new(),
            followers_ev: 0,
            following_ev: 0,
            snapshot: None,
        }
    }

    /// Appends to `awaiting`, growing it by an eighth when full: it holds a 4-byte entry per
    /// pending thread of the brand/platform, and doubling would leave up to as much again
    /// unused (the copies of growing by an eighth cost ~9 entry moves per push).
    #[inline]
    pub fn push_awaiting(&mut self, low_seq: u32) {
        let n = self.awaiting.len();
        if n == self.awaiting.capacity() {
            self.awaiting.reserve_exact((n / 8).max(4));
        }
        self.awaiting.push_back(low_seq);
    }

    /// `(followers, following, source)` as `brand_followers`/`brand_following` report them.
    pub fn brand_counts(&self) -> (Option<u64>, Option<u64>, Option<CountsSource>) {
        match self.snapshot {
            Some((f, g, _)) => (
                u64::try_from(f).ok(),
                u64::try_from(g).ok(),
                Some(CountsSource::Snapshot),
            ),
            None if self.followers_ev > 0 || self.following_ev > 0 => (
                u64::try_from(self.followers_ev).ok(),
                u64::try_from(self.following_ev).ok(),
                Some(CountsSource::Events),
            ),
            None => (None, None, None),
        }
    }
}

/// Writes the backlog figures at instant `at_ms` into a row.
pub fn set_backlog(row: &mut DailyRow, bp: &BpState, oldest_opened: Option<i64>, at_ms: i64) {
    row.pending_threads = bp.pending;
    row.breaching_sla = bp.breaching;
    row.oldest_pending_seconds = oldest_opened.map_or(0, |o| secs(at_ms - o));
    let (f, g, src) = bp.brand_counts();
    row.brand_followers = f;
    row.brand_following = g;
    row.counts_source = src;
}
