//! [`KeySet`]: a set of 64-bit key hashes (the per-day engager sets) in one flat array of
//! 8-byte cells. A hashbrown set pays 9 bytes per bucket at 7/16 to 7/8 load (10–21 bytes per
//! key); a [`crate::dense::DenseMap`]-like set would pay the 8-byte key plus 5.3–8 bytes of
//! positions. Here the keys are the cells: each key's home cell is `key × span >> 64`, so
//! homes rise with the key, and the cells are kept in key order (ordered linear probing). A
//! lookup stops at the first cell holding an empty or a larger key, so a miss is as short as a
//! hit even at 7/8 load, and the table grows by a quarter past 4,096 cells (9.1–11.4 bytes per
//! key); below that it doubles and stays at most half full, for short runs.
//!
//! Keys are never removed (a day's set is dropped whole). It serializes as a sequence of its
//! keys, as the hash set it replaced did (in key order instead of bucket order).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::chunks::{deserialize_seq, serialize_seq};

/// An empty cell; the key 0 is held apart (`zero`).
const EMPTY: u64 = 0;
/// The table grows once more than 7/8 of `span` would hold keys.
const MAX_LOAD_NUM: usize = 7;
const MAX_LOAD_DEN: usize = 8;
/// Cells after the last home cell, so a run near the end has room without wrapping around;
/// a run that reaches the end extends the array by this many.
const TAIL: usize = 8;
const MIN_SPAN: usize = 16;
/// Below this many home cells (32 KiB) the table doubles, and is at most half full.
const SMALL_SPAN: usize = 4096;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySet {
    /// `span` home cells then the tail. The non-empty cells hold keys in increasing order,
    /// each at or after its home with no empty cell between (so a probe from the home finds it).
    cells: Vec<u64>,
    span: usize,
    /// Keys in `cells`.
    len: usize,
    zero: bool,
}

impl KeySet {
    pub fn len(&self) -> usize {
        self.len + usize::from(self.zero)
    }

    #[inline]
    fn home(span: usize, k: u64) -> usize {
        ((u128::from(k) * span as u128) >> 64) as usize
    }

    /// The first cell from `k`'s home that is empty or holds a key not below `k` (the end of
    /// the array if none is).
    #[inline]
    fn seek(&self, k: u64) -> usize {
        let from = KeySet::home(self.span, k);
        let run = self.cells.get(from..).unwrap_or(&[]);
        from + run
            .iter()
            // `c == EMPTY || c >= k` in one compare (`k` is not `EMPTY`).
            .position(|&c| c.wrapping_sub(1) >= k.wrapping_sub(1))
            .unwrap_or(run.len())
    }

    #[cfg(test)]
    pub fn contains(&self, k: u64) -> bool {
        if k == EMPTY {
            return self.zero;
        }
        self.cells.get(self.seek(k)) == Some(&k)
    }

    /// Adds `k`; returns whether it was absent.
    #[inline]
    pub fn insert(&mut self, k: u64) -> bool {
        if k == EMPTY {
            return !std::mem::replace(&mut self.zero, true);
        }
        let mut at = self.seek(k);
        if self.cells.get(at) == Some(&k) {
            return false;
        }
        if self.must_grow(self.len + 1) {
            self.grow();
            at = self.seek(k);
        }
        self.place(at, k);
        true
    }

    /// Holding `n` keys would pass the maximum load: half while the table is small (a few
    /// KiB, where short runs matter more than bytes), 7/8 past that.
    #[inline]
    fn must_grow(&self, n: usize) -> bool {
        if self.span < SMALL_SPAN {
            n * 2 > self.span
        } else {
            n * MAX_LOAD_DEN > self.span * MAX_LOAD_NUM
        }
    }

    /// Puts `k` at cell `at`, shifting the rest of its run up by one (one pass: runs are
    /// short, so a loop beats finding the end and calling `memmove`).
    fn place(&mut self, mut at: usize, k: u64) {
        let mut carry = k;
        loop {
            extend_tail(&mut self.cells, at);
            let c = std::mem::replace(&mut self.cells[at], carry);
            if c == EMPTY {
                break;
            }
            carry = c;
            at += 1;
        }
        self.len += 1;
    }

    /// Rebuilds with a quarter more home cells, or twice as many while small (where a
    /// quarter would rebuild often for few bytes); one pass, as the keys stay in order.
    #[cold]
    fn grow(&mut self) {
        let step = if self.span < SMALL_SPAN {
            self.span
        } else {
            self.span / 4
        };
        let span = (self.span + step)
            .max((self.len + 1) * MAX_LOAD_DEN / MAX_LOAD_NUM + 1)
            .max(MIN_SPAN);
        // Zeroed memory straight from the allocator (`EMPTY` is 0), not a fill pass.
        let mut cells = vec![EMPTY; span + TAIL];
        let mut next = 0;
        for &k in self.cells.iter().filter(|&&c| c != EMPTY) {
            let i = KeySet::home(span, k).max(next);
            extend_tail(&mut cells, i);
            cells[i] = k;
            next = i + 1;
        }
        self.cells = cells;
        self.span = span;
    }

    /// Every key, in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.zero
            .then_some(EMPTY)
            .into_iter()
            .chain(self.cells.iter().copied().filter(|&c| c != EMPTY))
    }

    /// Heap bytes held (capacity).
    pub fn heap_bytes(&self) -> usize {
        self.cells.capacity() * 8
    }
}

/// Makes cell `at` exist: a run that reaches the end of the array extends it by [`TAIL`].
#[inline]
fn extend_tail(cells: &mut Vec<u64>, at: usize) {
    if at >= cells.len() {
        cells.reserve_exact(TAIL);
        cells.resize(at + TAIL, EMPTY);
    }
}

impl Extend<u64> for KeySet {
    fn extend<I: IntoIterator<Item = u64>>(&mut self, keys: I) {
        for k in keys {
            self.insert(k);
        }
    }
}

impl Serialize for KeySet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_seq(self.len(), self.iter(), s)
    }
}

impl<'de> Deserialize<'de> for KeySet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_seq(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{fmix64, BuildFast};

    type FastSet<K> = std::collections::HashSet<K, BuildFast>;

    /// Membership and size match a hash set through growth, with keys crowded into few home
    /// cells (long runs, runs reaching the end) and the key 0; a snapshot round trip, and a
    /// set serialized by the hash set it replaced, read back the same keys.
    #[test]
    fn behaves_like_a_hash_set_and_serializes_like_one() {
        for mask in [u64::MAX, 0xFFFF_0000_0000_00FF, 0xFF00_0000_0000_0003, 0xF] {
            let mut s = KeySet::default();
            let mut h: FastSet<u64> = FastSet::default();
            let mut x = 11u64;
            for round in 0..40_000u64 {
                x = fmix64(x.wrapping_add(round));
                let k = (x % 30_000).wrapping_mul(0x9E37_79B9_7F4A_7C15) & mask;
                assert_eq!(s.contains(k), h.contains(&k));
                assert_eq!(s.insert(k), h.insert(k));
                assert!(s.contains(k));
                assert_eq!(s.len(), h.len());
            }
            let keys: Vec<u64> = s.iter().collect();
            assert!(keys.windows(2).all(|w| w[0] < w[1]));
            let mut want: Vec<u64> = h.iter().copied().collect();
            want.sort_unstable();
            assert_eq!(keys, want);
            assert!(!s.must_grow(s.len));
            let back: KeySet = postcard::from_bytes(&postcard::to_stdvec(&s).unwrap()).unwrap();
            assert_eq!(back.iter().collect::<Vec<_>>(), want);
            let as_set: FastSet<u64> =
                postcard::from_bytes(&postcard::to_stdvec(&s).unwrap()).unwrap();
            assert_eq!(as_set, h);
            let from_set: KeySet = postcard::from_bytes(&postcard::to_stdvec(&h).unwrap()).unwrap();
            assert_eq!(from_set.iter().collect::<Vec<_>>(), want);
        }
    }
}
