//! [`DedupTimes`]: the `event_id` hashes seen within the dedup horizon, with each item's
//! `occurred_at`. Holds the times as 32-bit millisecond offsets from a base that follows the
//! horizon forward, so a million ids cost 12 bytes of entries each instead of 16; a time the
//! offset cannot express (far behind the base or more than ~49 days after it) is kept whole
//! in a side map, so membership and expiry are exactly those of a map of full times.
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

#[derive(Debug, Clone, Default)]
pub struct DedupTimes {
    base: i64,
    near: DenseMap<u32>,
    far: FastMap<u64, i64>,
}

impl DedupTimes {
    pub fn len(&self) -> usize {
        self.near.len() + self.far.len()
    }

    fn offset(&self, at: i64) -> Option<u32> {
        u32::try_from(i128::from(at) - i128::from(self.base)).ok()
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
            Some(o) => self.near.insert_if_absent(k, o),
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
        // Every kept offset is at least `shift`, so the subtraction cannot wrap.
        let shift = (i128::from(horizon) - i128::from(base)).max(0);
        let shift32 = u32::try_from(shift).unwrap_or(u32::MAX);
        // `base + o < horizon` is `o < shift`; past `u32::MAX`, every offset is.
        let cut = u64::try_from(shift).unwrap_or(u64::MAX);
        self.near.retain(|_, o| {
            if u64::from(*o) < cut {
                return false;
            }
            *o -= shift32;
            true
        });
        self.far.retain(|_, at| *at >= horizon);
        if shift > 0 {
            self.base = horizon;
            if !self.far.is_empty() {
                let back: Vec<(u64, u32)> = self
                    .far
                    .iter()
                    .filter_map(|(&k, &at)| self.offset(at).map(|o| (k, o)))
                    .collect();
                for (k, o) in back {
                    self.far.remove(&k);
                    self.near.insert(k, o);
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
        let base = self.base;
        self.near
            .iter()
            .map(move |(k, o)| (k, base + i64::from(o)))
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
            }
            assert_eq!(d.len(), h.len());
        }
        let mut got: Vec<(u64, i64)> = d.iter().collect();
        got.sort_unstable();
        let mut want: Vec<(u64, i64)> = h.iter().map(|(&k, &v)| (k, v)).collect();
        want.sort_unstable();
        assert_eq!(got, want);
        let bytes = postcard::to_stdvec(&d).unwrap();
        let as_map: FastMap<u64, i64> = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(as_map, h);
        let back: DedupTimes = postcard::from_bytes(&bytes).unwrap();
        let mut again: Vec<(u64, i64)> = back.iter().collect();
        again.sort_unstable();
        assert_eq!(again, want);
    }
}
