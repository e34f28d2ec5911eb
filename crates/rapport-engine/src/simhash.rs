//! The per-brand index of recent reply fingerprints used to decide `is_templated`
//! (METRICS.md §5): a reply is templated when at least `min_matches` replies of the same brand
//! in the trailing window are within Hamming distance 3 of its SimHash, or one has the same
//! normalized text.
//!
//! Lookups never scan all fingerprints. With distance ≤ 3 and the 64 bits cut into 4 blocks of
//! 16, any two fingerprints within distance 3 agree exactly on at least one block (pigeonhole:
//! 3 differing bits cannot touch all 4 blocks). So each stored fingerprint is filed under its
//! 4 `(brand, block position, block value)` keys, and a lookup only examines the 4 buckets of
//! the query. Entries are kept in a time-ordered ring for expiry.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::hash::{FastMap, StableHasher};
use std::hash::Hasher;

pub const MAX_DISTANCE: u32 = 3;
const BLOCKS: u32 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Fingerprint {
    at_ms: i64,
    hash: u64,
    exact: u64,
    brand: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FingerprintIndex {
    /// Sequence number of `ring[0]`.
    base: u64,
    ring: VecDeque<Fingerprint>,
    /// Block key → (fingerprint, sequence number) of the fingerprints filed under it. The
    /// fingerprint is kept inline so a lookup reads one contiguous bucket, not the ring.
    /// (Keyed through the engine's cheap in-memory hasher: the keys are packed integers and
    /// hashes, and no row depends on the maps' order.)
    blocks: FastMap<u64, Vec<(u64, u64)>>,
    /// (brand, normalized-text hash) → how many stored replies have that text.
    exact: FastMap<u64, u32>,
}

/// Result of comparing one reply with the brand's stored replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Matches {
    /// Near-duplicates found, counted up to the threshold asked for.
    pub near: u32,
    pub exact: bool,
}

#[inline]
fn block(h: u64, pos: u32) -> u64 {
    (h >> (pos * 16)) & 0xFFFF
}

#[inline]
fn block_key(brand: u32, pos: u32, value: u64) -> u64 {
    (u64::from(brand) << 20) | (u64::from(pos) << 16) | value
}

/// Adds to `near` the fingerprints of block `pos`'s bucket within [`MAX_DISTANCE`] of `hash`
/// and not already counted under an earlier block they also share, while `near < enough`.
#[inline]
fn count_near(bucket: &[(u64, u64)], hash: u64, pos: u32, enough: u32, near: &mut u32) {
    if *near >= enough {
        return;
    }
    for &(fp_hash, _) in bucket {
        if (fp_hash ^ hash).count_ones() > MAX_DISTANCE {
            continue;
        }
        if (0..pos).any(|p| block(fp_hash, p) == block(hash, p)) {
            continue;
        }
        *near += 1;
        if *near >= enough {
            return;
        }
    }
}

fn exact_key(brand: u32, exact: u64) -> u64 {
    let mut h = StableHasher::with_seed(0x5EED_0020);
    h.write_u32(brand);
    h.write_u64(exact);
    h.finish()
}

impl FingerprintIndex {
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// Drops fingerprints older than `cutoff_ms` (exclusive).
    pub fn expire(&mut self, cutoff_ms: i64) {
        while let Some(front) = self.ring.front().copied() {
            if front.at_ms >= cutoff_ms {
                break;
            }
            let seq = self.base;
            for pos in 0..BLOCKS {
                let k = block_key(front.brand, pos, block(front.hash, pos));
                if let Some(v) = self.blocks.get_mut(&k) {
                    if let Some(i) = v.iter().position(|&(_, s)| s == seq) {
                        v.swap_remove(i);
                    }
                    if v.is_empty() {
                        self.blocks.remove(&k);
                    }
                }
            }
            let ek = exact_key(front.brand, front.exact);
            if let Some(c) = self.exact.get_mut(&ek) {
                *c -= 1;
                if *c == 0 {
                    self.exact.remove(&ek);
                }
            }
            self.ring.pop_front();
            self.base += 1;
        }
    }

    /// Counts the brand's stored fingerprints within [`MAX_DISTANCE`] of `hash`, stopping at
    /// `enough`, and whether one has the same normalized text.
    pub fn lookup(&self, brand: u32, hash: u64, exact: u64, enough: u32) -> Matches {
        let exact = self.exact.contains_key(&exact_key(brand, exact));
        let mut near = 0;
        for pos in 0..BLOCKS {
            if near >= enough {
                break;
            }
            if let Some(bucket) = self.blocks.get(&block_key(brand, pos, block(hash, pos))) {
                count_near(bucket, hash, pos, enough, &mut near);
            }
        }
        Matches { near, exact }
    }

    /// [`FingerprintIndex::lookup`] then [`FingerprintIndex::insert`] of the same reply, with
    /// one map probe per block key and for the exact text instead of two: each bucket is
    /// counted before the new fingerprint joins it.
    pub fn lookup_insert(
        &mut self,
        brand: u32,
        at_ms: i64,
        hash: u64,
        exact: u64,
        enough: u32,
    ) -> Matches {
        let seq = self.base + self.ring.len() as u64;
        self.ring.push_back(Fingerprint {
            at_ms,
            hash,
            exact,
            brand,
        });
        let mut near = 0;
        for pos in 0..BLOCKS {
            let bucket = self
                .blocks
                .entry(block_key(brand, pos, block(hash, pos)))
                .or_default();
            count_near(bucket, hash, pos, enough, &mut near);
            bucket.push((hash, seq));
        }
        let count = self.exact.entry(exact_key(brand, exact)).or_default();
        // Counts are removed at zero, so a stored count means a stored reply.
        let exact = *count > 0;
        *count += 1;
        Matches { near, exact }
    }

    /// Stores a fingerprint; `at_ms` must not decrease between calls.
    pub fn insert(&mut self, brand: u32, at_ms: i64, hash: u64, exact: u64) {
        // Asking for no matches stores without comparing.
        self.lookup_insert(brand, at_ms, hash, exact, 0);
    }

    /// Heap bytes held (approximate: container capacities, not allocator overhead).
    pub fn heap_bytes(&self) -> usize {
        self.ring.capacity() * std::mem::size_of::<Fingerprint>()
            + self.blocks.capacity() * (8 + std::mem::size_of::<Vec<(u64, u64)>>() + 1)
            + self
                .blocks
                .values()
                .map(|v| v.capacity() * 16)
                .sum::<usize>()
            + self.exact.capacity() * 13
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn brute(stored: &[(u32, u64)], brand: u32, h: u64) -> u32 {
        stored
            .iter()
            .filter(|(b, s)| *b == brand && (s ^ h).count_ones() <= MAX_DISTANCE)
            .count() as u32
    }

    proptest! {
        #[test]
        fn block_index_finds_exactly_what_a_scan_finds(
            base in any::<u64>(),
            flips in prop::collection::vec((0u32..2, prop::collection::vec(0u32..64, 0..6)), 1..60),
            query_flips in prop::collection::vec(0u32..64, 0..5),
        ) {
            let mut idx = FingerprintIndex::default();
            let mut stored = Vec::new();
            for (i, (brand, bits)) in flips.iter().enumerate() {
                let h = bits.iter().fold(base, |h, b| h ^ (1 << b));
                idx.insert(*brand, i as i64, h, i as u64);
                stored.push((*brand, h));
            }
            let q = query_flips.iter().fold(base, |h, b| h ^ (1 << b));
            for brand in 0..2 {
                prop_assert_eq!(idx.lookup(brand, q, u64::MAX, u32::MAX).near, brute(&stored, brand, q));
            }
        }
    }

    /// A map's entries in key order, to compare maps whatever their iteration order.
    fn sorted<V: Clone + Ord>(m: &FastMap<u64, V>) -> Vec<(u64, V)> {
        let mut v: Vec<_> = m.iter().map(|(k, x)| (*k, x.clone())).collect();
        v.sort();
        v
    }

    proptest! {
        /// The one-probe form answers and stores as a lookup followed by an insert.
        #[test]
        fn lookup_insert_is_lookup_then_insert(
            base in any::<u64>(),
            items in prop::collection::vec(
                (0u32..3, prop::collection::vec(0u32..64, 0..5), 0u64..4, 0u32..4),
                1..80,
            ),
        ) {
            let mut one = FingerprintIndex::default();
            let mut two = FingerprintIndex::default();
            for (i, (brand, bits, exact, enough)) in items.iter().enumerate() {
                let h = bits.iter().fold(base, |h, b| h ^ (1 << b));
                let at = i as i64;
                one.expire(at - 20);
                two.expire(at - 20);
                let got = one.lookup_insert(*brand, at, h, *exact, *enough);
                let want = two.lookup(*brand, h, *exact, *enough);
                two.insert(*brand, at, h, *exact);
                prop_assert_eq!(got, want);
            }
            prop_assert_eq!(&one.ring, &two.ring);
            prop_assert_eq!(sorted(&one.blocks), sorted(&two.blocks));
            prop_assert_eq!(sorted(&one.exact), sorted(&two.exact));
        }
    }

    #[test]
    fn expiry_forgets_old_fingerprints_and_exact_texts() {
        let mut idx = FingerprintIndex::default();
        idx.insert(1, 10, 0xFFFF, 7);
        idx.insert(1, 20, 0xFFFE, 8);
        assert_eq!(
            idx.lookup(1, 0xFFFF, 7, 10),
            Matches {
                near: 2,
                exact: true
            }
        );
        idx.expire(15);
        assert_eq!(
            idx.lookup(1, 0xFFFF, 7, 10),
            Matches {
                near: 1,
                exact: false
            }
        );
        assert_eq!(
            idx.lookup(2, 0xFFFF, 8, 10),
            Matches {
                near: 0,
                exact: false
            }
        );
        idx.expire(100);
        assert!(idx.is_empty());
        assert!(idx.blocks.is_empty() && idx.exact.is_empty());
    }
}
