//! [`DedupTimes`]: the `event_id` hashes seen within the dedup horizon, with each item's
//! `occurred_at`. Holds the times as 32-bit millisecond offsets from a base that follows the
//! horizon forward, so a million ids cost 12 bytes of entries each instead of 16; a time the
//! offset cannot express (far behind the base or more than ~49 days after it) is kept whole
//! in a side map, so membership and expiry are exactly those of a map of full times.
//!
//! Moving the base never rewrites the entries: an offset is stored plus the base's distance
//! from a fixed origin, modulo 2^32 (every live offset is below 2^32, so subtracting that
//! distance with wraparound gives it back exactly), and a lower bound of the stored times
//! lets an expiry sweep that would drop nothing skip the visit of every entry.
//!
//! It serializes as a map of every id to its full time, as the map it replaced did.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::dense::DenseMap;
use crate::hash::FastMap;

/// Below the first time of an empty set, the base leaves room for this much reordering.
const BACK_SLACK_MS: i64 = 1 << 31;

#[derive(Debug, Clone)]
pub struct DedupTimes {
    base: i64,
    /// `near` holds each offset from `base` plus `lag` (the base's distance from where it was
    /// when the set was empty), modulo 2^32.
    lag: u32,
    /// No time kept in `near` is before this (`i64::MAX` when none was ever kept).
    oldest: i64,
    near: DenseMap<u32>,
    far: FastMap<u64, i64>,
}

impl Default for DedupTimes {
    fn default() -> Self {
        DedupTimes {
            base: 0,
            lag: 0,
            oldest: i64::MAX,
            near: DenseMap::default(),
            far: FastMap::default(),
        }
    }
}

impl DedupTimes {
    pub fn len(&self) -> usize {
        self.near.len() + self.far.len()
    }

    fn offset(&self, at: i64) -> Option<u32> {
        u32::try_from(i128::from(at) - i128::from(self.base)).ok()
    }

    /// Keeps `k` at offset `o` from the base (a time of `at`) in `near`.
    #[inline]
    fn put_near(&mut self, k: u64, o: u32, at: i64) {
        self.oldest = self.oldest.min(at);
        self.near.insert(k, o.wrapping_add(self.lag));
    }

    /// Records `k` seen at `at` unless present; returns whether it was present (then unchanged).
    pub fn insert_if_absent(&mut self, k: u64, at: i64) -> bool {
        if !self.far.is_empty() && self.far.contains_key(&k) {
            return true;
        }
        if self.near.len() == 0 && self.far.is_empty() {
            self.base = at.saturating_sub(BACK_SLACK_MS);
        }
        match self.offset(at) {
            // One lookup on the hot path: the usual new id fits an offset.
            Some(o) => {
                let was = self.near.insert_if_absent(k, o.wrapping_add(self.lag));
                if !was {
                    self.oldest = self.oldest.min(at);
                }
                was
            }
            None => {
                if self.near.get(&k).is_some() {
                    return true;
                }
                self.far.insert(k, at);
                false
            }
        }
    }

    /// Forgets the ids of items before `horizon` and moves the base up to it.
    pub fn retain_since(&mut self, horizon: i64) {
        let base = self.base;
        let shift = (i128::from(horizon) - i128::from(base)).max(0);
        // An empty `near` is still swept: that gives its slack back.
        if self.oldest < horizon || self.near.len() == 0 {
            // `base + o < horizon` is `o < shift`; past `u32::MAX`, every offset is.
            let cut = u64::try_from(shift).unwrap_or(u64::MAX);
            let lag = self.lag;
            // The least offset kept (exact after the visit).
            let mut least: Option<u32> = None;
            self.near.retain(|_, s| {
                let o = s.wrapping_sub(lag);
                let keep = u64::from(o) >= cut;
                if keep {
                    least = Some(least.map_or(o, |l| l.min(o)));
                }
                keep
            });
            self.oldest = least.map_or(i64::MAX, |o| base + i64::from(o));
        }
        self.far.retain(|_, at| *at >= horizon);
        if shift > 0 {
            self.base = horizon;
            // Kept offsets are at least `shift`: they stay below 2^32 from the new base.
            self.lag = self.lag.wrapping_add(shift as u32);
            if !self.far.is_empty() {
                let back: Vec<(u64, u32, i64)> = self
                    .far
                    .iter()
                    .filter_map(|(&k, &at)| self.offset(at).map(|o| (k, o, at)))
                    .collect();
                for (k, o, at) in back {
                    self.far.remove(&k);
                    self.put_near(k, o, at);
                }
            }
        }
        if self.len() == 0 {
            *self = DedupTimes::default();
        }
    }

    /// Heap bytes held (capacities; the side map counted as hashbrown lays it out).
    pub fn heap_bytes(&self) -> usize {
        self.near.heap_bytes() + self.far.capacity() * 17
    }

    fn iter(&self) -> impl Iterator<Item = (u64, i64)> + '_ {
        let (base, lag) = (self.base, self.lag);
        self.near
            .iter()
            .map(move |(k, s)| (k, base + i64::from(s.wrapping_sub(lag))))
            .chain(self.far.iter().map(|(&k, &at)| (k, at)))
    }
}

impl Serialize for DedupTimes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.len()))?;
        for (k, at) in self.iter() {
            m.serialize_entry(&k, &at)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for DedupTimes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = DedupTimes;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of u64 keys to i64 times")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                let mut m = DedupTimes::default();
                while let Some((k, at)) = a.next_entry::<u64, i64>()? {
                    m.insert_if_absent(k, at);
                }
                Ok(m)
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every entry with its full time, sorted.
    fn entries(d: &DedupTimes) -> Vec<(u64, i64)> {
        let mut v: Vec<(u64, i64)> = d.iter().collect();
        v.sort_unstable();
        v
    }

    /// The plain map's entries, sorted.
    fn map_entries(h: &FastMap<u64, i64>) -> Vec<(u64, i64)> {
        let mut v: Vec<(u64, i64)> = h.iter().map(|(&k, &v)| (k, v)).collect();
        v.sort_unstable();
        v
    }

    /// Membership and expiry match a plain map of full times, across offsets that do and do
    /// not fit 32 bits, and a snapshot round trip keeps every entry.
    #[test]
    fn behaves_like_a_map_of_times() {
        let mut d = DedupTimes::default();
        let mut h: FastMap<u64, i64> = FastMap::default();
        let mut x = 7u64;
        let mut t = 1_700_000_000_000i64;
        for round in 0..30_000u64 {
            x = crate::hash::fmix64(x.wrapping_add(round));
            let k = x % 5_000;
            t += (x % 100_000) as i64;
            // Mostly near the clock; some far behind it, some far ahead.
            let at = match x % 13 {
                0 => t - 60 * 86_400_000,
                1 => t + 70 * 86_400_000,
                2 => i64::MIN + (x % 1000) as i64,
                _ => t - (x % 3_600_000) as i64,
            };
            let was = d.insert_if_absent(k, at);
            assert_eq!(was, h.contains_key(&k));
            h.entry(k).or_insert(at);
            if round % 700 == 0 {
                let horizon = t - 86_400_000;
                d.retain_since(horizon);
                h.retain(|_, a| *a >= horizon);
                // Full times read back exactly after each sweep.
                assert_eq!(entries(&d), map_entries(&h));
            }
            assert_eq!(d.len(), h.len());
        }
        assert_eq!(entries(&d), map_entries(&h));
        let bytes = postcard::to_stdvec(&d).unwrap();
        let as_map: FastMap<u64, i64> = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(as_map, h);
        let back: DedupTimes = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(entries(&back), map_entries(&h));
    }

    /// Sweeps that drop nothing skip the visit but still move the base; later inserts,
    /// sweeps that do drop and the full times all match a plain map.
    #[test]
    fn skipped_sweeps_move_the_base() {
        let mut d = DedupTimes::default();
        let mut h: FastMap<u64, i64> = FastMap::default();
        let t0 = 1_700_000_000_000i64;
        const HOUR: i64 = 3_600_000;
        let mut last_drop = t0 - 24 * HOUR;
        for step in 0..400i64 {
            let now = t0 + step * HOUR;
            for j in 0..20u64 {
                let k = crate::hash::fmix64((step as u64) << 8 | j);
                let at = now - (j as i64 % 5) * HOUR;
                assert_eq!(d.insert_if_absent(k, at), h.contains_key(&k));
                h.entry(k).or_insert(at);
            }
            // Mostly a horizon before everything kept that still moves the base (by ~23
            // days at the first sweep, then a minute per sweep); every 50th a day back,
            // which drops.
            let horizon = if step % 50 == 49 {
                last_drop = now - 24 * HOUR;
                last_drop
            } else {
                last_drop + (step % 50 + 1) * 60_000
            };
            d.retain_since(horizon);
            h.retain(|_, a| *a >= horizon);
            assert_eq!(entries(&d), map_entries(&h), "step {step}");
        }
        assert!(d.len() > 0);
    }
}
