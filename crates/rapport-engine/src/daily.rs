//! Per (brand, platform, UTC day) aggregates: the counters behind `brand_daily` and
//! `brand_daily_band` rows, how they are turned into rows at a watermark, and the per
//! brand/platform live state (backlog counters, brand follower counts) those rows and the
//! Prometheus gauges read. Which event lands on which day, and when counters move, is decided
//! by the engine; this module owns the shapes and the arithmetic of censoring.

use std::collections::VecDeque;

use rapport_events::Platform;
use serde::{Deserialize, Serialize};

use crate::chunks::{deserialize_seq, serialize_seq};
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
    pub awaiting: AwaitQueue,
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
            awaiting: AwaitQueue::default(),
            followers_ev: 0,
            following_ev: 0,
            snapshot: None,
        }
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

/// A queue of `u32` values (the low sequence numbers of a brand/platform's threads, which
/// rise by small steps) stored as 16-bit differences from the value before: ~2 bytes per entry
/// where a `VecDeque<u32>` holds 4. A difference of `u16::MAX` or more (wrapping) is written
/// as `ESCAPE` and the whole difference in two more words, so any sequence reads back exactly.
/// The buffer grows by an eighth (doubling would leave up to as much again unused).
/// It serializes as the sequence of its values, as the `VecDeque<u32>` it replaced did.
#[derive(Debug, Clone, Default)]
pub struct AwaitQueue {
    /// Differences of the entries after the first, each from the entry before it.
    steps: VecDeque<u16>,
    front: u32,
    back: u32,
    len: usize,
}

const ESCAPE: u16 = u16::MAX;

/// One difference, from the words `next` gives (as `push_back` wrote them).
#[inline]
fn read_step(mut next: impl FnMut() -> Option<u16>) -> u32 {
    match next() {
        Some(ESCAPE) => {
            let lo = next().unwrap_or(0);
            let hi = next().unwrap_or(0);
            u32::from(lo) | (u32::from(hi) << 16)
        }
        d => u32::from(d.unwrap_or(0)),
    }
}

impl AwaitQueue {
    pub fn front(&self) -> Option<u32> {
        (self.len > 0).then_some(self.front)
    }

    pub fn push_back(&mut self, v: u32) {
        if self.len == 0 {
            self.front = v;
        } else {
            let d = v.wrapping_sub(self.back);
            if d < u32::from(ESCAPE) {
                self.reserve(1);
                self.steps.push_back(d as u16);
            } else {
                self.reserve(3);
                self.steps.extend([ESCAPE, d as u16, (d >> 16) as u16]);
            }
        }
        self.back = v;
        self.len += 1;
    }

    fn reserve(&mut self, n: usize) {
        let have = self.steps.len();
        if have + n > self.steps.capacity() {
            self.steps.reserve_exact((have / 8).max(n).max(4));
        }
    }

    pub fn pop_front(&mut self) -> Option<u32> {
        let v = self.front()?;
        self.len -= 1;
        if self.len > 0 {
            let steps = &mut self.steps;
            self.front = v.wrapping_add(read_step(|| steps.pop_front()));
        } else {
            self.steps.clear();
        }
        Some(v)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        let mut steps = self.steps.iter().copied();
        let mut v = self.front;
        (0..self.len).map(move |i| {
            if i > 0 {
                v = v.wrapping_add(read_step(|| steps.next()));
            }
            v
        })
    }

    /// Heap bytes held (capacity).
    pub fn heap_bytes(&self) -> usize {
        self.steps.capacity() * 2
    }
}

impl Extend<u32> for AwaitQueue {
    fn extend<I: IntoIterator<Item = u32>>(&mut self, values: I) {
        for v in values {
            self.push_back(v);
        }
    }
}

impl Serialize for AwaitQueue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_seq(self.len, self.iter(), s)
    }
}

impl<'de> Deserialize<'de> for AwaitQueue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_seq(d)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Pushes (small steps, steps past 16 bits, wrapping and falling values) and pops match
    /// a `VecDeque<u32>`, and the queue serializes to the same bytes and reads them back.
    #[test]
    fn await_queue_behaves_like_a_vecdeque() {
        let mut q = AwaitQueue::default();
        let mut want: VecDeque<u32> = VecDeque::new();
        let mut x = 3u64;
        let mut v = u32::MAX - 5_000;
        for round in 0..50_000u64 {
            x = crate::hash::fmix64(x.wrapping_add(round));
            if x % 5 < 3 {
                v = match x % 97 {
                    0 => v.wrapping_add((x >> 32) as u32),
                    1 => v.wrapping_sub(1 + (x >> 48) as u32),
                    2 => v.wrapping_add(u32::from(ESCAPE) - 1 + (x >> 63) as u32),
                    _ => v.wrapping_add((x >> 40) as u32 % 300),
                };
                q.push_back(v);
                want.push_back(v);
            } else {
                assert_eq!(q.pop_front(), want.pop_front());
            }
            assert_eq!(q.front(), want.front().copied());
            assert_eq!(q.len(), want.len());
            if round % 5_000 == 0 {
                assert!(q.iter().eq(want.iter().copied()));
                let bytes = postcard::to_stdvec(&q).unwrap();
                assert_eq!(bytes, postcard::to_stdvec(&want).unwrap());
                let back: AwaitQueue = postcard::from_bytes(&bytes).unwrap();
                assert!(back.iter().eq(want.iter().copied()));
            }
        }
    }
}
