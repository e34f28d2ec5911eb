//! [`DenseMap`]: a map from 64-bit hashes to small `Copy` values whose entries sit in dense
//! vectors (keys and values apart, so a 4-byte value costs 12 bytes, not a padded 16),
//! indexed by a [`PosTable`] of 4-byte positions. A `HashMap<u64, V>` keeps its
//! entries in the bucket array itself, which hashbrown holds at most 7/8 full and grows by
//! doubling, so just past a power of two it carries twice as many entry-sized buckets as
//! entries; here only the 4-byte positions pay for (a smaller) slack. Used for the per-event dedup
//! set and the per-user reply context, the engine's largest maps.
//!
//! It serializes exactly as a map of its live entries, so snapshots keep the layout of the
//! `HashMap` it replaced.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::chunks::{ChunkVec, CHUNK, CHUNK_BITS};
use crate::table::{PosTable, Vacant};

#[inline]
fn spread(k: u64) -> u64 {
    let m = u128::from(k) * 0x9E37_79B9_7F4A_7C15u128;
    (m as u64) ^ ((m >> 64) as u64)
}

/// A growable set of small indices, one bit each: which positions of a dense vector hold a
/// live entry.
#[derive(Debug, Default, Clone)]
pub struct Bits(Vec<u64>);

impl Bits {
    #[inline]
    pub fn contains(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    #[inline]
    pub fn set(&mut self, i: usize, on: bool) {
        if self.0.len() <= i / 64 {
            self.0.resize(i / 64 + 1, 0);
        }
        if on {
            self.0[i / 64] |= 1 << (i % 64);
        } else {
            self.0[i / 64] &= !(1 << (i % 64));
        }
    }

    /// Calls `keep` on every set index, in order, and clears those it returns false for.
    /// Visits only the set bits of each 64-index word.
    pub fn retain(&mut self, mut keep: impl FnMut(usize) -> bool) {
        for w in 0..self.0.len() {
            let mut bits = self.0[w];
            while bits != 0 {
                let b = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if !keep(w * 64 + b) {
                    self.0[w] &= !(1 << b);
                }
            }
        }
    }

    /// Every set index, in order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(w, &word)| {
            let mut bits = word;
            std::iter::from_fn(move || {
                (bits != 0).then(|| {
                    let b = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    w * 64 + b
                })
            })
        })
    }

    pub fn count(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn heap_bytes(&self) -> usize {
        self.0.capacity() * 8
    }
}

#[derive(Debug, Clone)]
pub struct DenseMap<V> {
    keys: ChunkVec<u64>,
    vals: ChunkVec<V>,
    /// Bit `i` is set when entry `i` is live.
    live: Bits,
    free: Vec<u32>,
    table: PosTable,
}

impl<V> Default for DenseMap<V> {
    fn default() -> Self {
        DenseMap {
            keys: ChunkVec::default(),
            vals: ChunkVec::default(),
            live: Bits::default(),
            free: Vec::new(),
            table: PosTable::default(),
        }
    }
}

impl<V: Copy> DenseMap<V> {
    pub fn len(&self) -> usize {
        self.table.len()
    }

    fn find(&self, k: u64) -> Option<u32> {
        let keys = &self.keys;
        self.table.find(spread(k), |i| keys[i as usize] == k)
    }

    pub fn get(&self, k: &u64) -> Option<&V> {
        self.find(*k).map(|i| &self.vals[i as usize])
    }

    /// Inserts `v` unless `k` is present; returns whether it was present (then unchanged).
    pub fn insert_if_absent(&mut self, k: u64, v: V) -> bool {
        let keys = &self.keys;
        match self
            .table
            .find_or_vacant(spread(k), |i| keys[i as usize] == k)
        {
            Ok(_) => true,
            Err(at) => {
                self.add(k, v, at);
                false
            }
        }
    }

    /// Inserts or replaces.
    pub fn insert(&mut self, k: u64, v: V) {
        let keys = &self.keys;
        match self
            .table
            .find_or_vacant(spread(k), |i| keys[i as usize] == k)
        {
            Ok(i) => self.vals[i as usize] = v,
            Err(at) => self.add(k, v, at),
        }
    }

    fn add(&mut self, k: u64, v: V, at: Vacant) {
        let i = match self.free.pop() {
            Some(i) => {
                self.keys[i as usize] = k;
                self.vals[i as usize] = v;
                i
            }
            None => {
                self.keys.push(k);
                self.vals.push(v);
                (self.keys.len() - 1) as u32
            }
        };
        self.live.set(i as usize, true);
        let (keys, live) = (&self.keys, &self.live);
        self.table.insert_vacant(at, i, keys.len(), || {
            live.iter().map(|j| (j as u32, spread(keys[j])))
        });
    }

    /// Removes `k`, returning its value.
    pub fn remove(&mut self, k: u64) -> Option<V> {
        let keys = &self.keys;
        let i = self.table.remove(
            spread(k),
            |i| keys[i as usize] == k,
            |j| spread(keys[j as usize]),
        )?;
        self.live.set(i as usize, false);
        self.free.push(i);
        Some(self.vals[i as usize])
    }

    /// Keeps the entries for which `keep` is true (it may also change the kept values).
    pub fn retain(&mut self, mut keep: impl FnMut(u64, &mut V) -> bool) {
        // Word by word of the live bits; a word's 64 entries sit in one chunk, so the loop
        // indexes that chunk's arrays directly.
        let mut dropped: Vec<(u32, u64)> = Vec::new();
        for w in 0..self.live.0.len() {
            let mut bits = self.live.0[w];
            if bits == 0 {
                continue;
            }
            let first = w * 64;
            let c = first >> CHUNK_BITS;
            let (keys, vals) = (self.keys.chunk(c), self.vals.chunk_mut(c));
            let mut word = bits;
            while bits != 0 {
                let b = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let j = (first & (CHUNK - 1)) + b;
                if !keep(keys[j], &mut vals[j]) {
                    word &= !(1 << b);
                    dropped.push(((first + b) as u32, keys[j]));
                }
            }
            self.live.0[w] = word;
        }
        let keys = &self.keys;
        for &(at, k) in &dropped {
            self.table
                .remove(spread(k), |j| j == at, |j| spread(keys[j as usize]));
            self.free.push(at);
        }
        if self.table.is_empty() {
            // Nothing live: give the slack back (expiry after a burst).
            *self = DenseMap::default();
        }
    }

    /// Heap bytes held (capacities).
    pub fn heap_bytes(&self) -> usize {
        self.keys.heap_bytes()
            + self.vals.heap_bytes()
            + self.live.heap_bytes()
            + self.free.capacity() * 4
            + self.table.heap_bytes()
    }

    pub fn iter(&self) -> impl Iterator<Item = (u64, V)> + '_ {
        (0..self.keys.len())
            .filter(|&i| self.live.contains(i))
            .map(|i| (self.keys[i], self.vals[i]))
    }
}

impl<V: Copy + Serialize> Serialize for DenseMap<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.len()))?;
        for (k, v) in self.iter() {
            m.serialize_entry(&k, &v)?;
        }
        m.end()
    }
}

impl<'de, V: Copy + Deserialize<'de>> Deserialize<'de> for DenseMap<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V2<V>(PhantomData<V>);
        impl<'de, V: Copy + Deserialize<'de>> Visitor<'de> for V2<V> {
            type Value = DenseMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of u64 keys")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                let mut m = DenseMap::default();
                while let Some((k, v)) = a.next_entry::<u64, V>()? {
                    m.insert(k, v);
                }
                Ok(m)
            }
        }
        d.deserialize_map(V2(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::FastMap;

    #[test]
    fn behaves_like_a_hash_map_and_serializes_like_one() {
        let mut d: DenseMap<i64> = DenseMap::default();
        let mut h: FastMap<u64, i64> = FastMap::default();
        let mut x = 1u64;
        for round in 0..20_000i64 {
            x = crate::hash::fmix64(x.wrapping_add(round as u64));
            let k = x % 3_000;
            match x % 7 {
                0 => {
                    d.insert(k, round);
                    h.insert(k, round);
                }
                1 if round % 500 == 0 => {
                    let cut = round - 2_000;
                    d.retain(|_, v| *v >= cut);
                    h.retain(|_, v| *v >= cut);
                }
                _ => {
                    let was = d.insert_if_absent(k, round);
                    assert_eq!(was, h.contains_key(&k));
                    h.entry(k).or_insert(round);
                }
            }
            assert_eq!(d.get(&k), h.get(&k));
            assert_eq!(d.len(), h.len());
        }
        let bytes = postcard::to_stdvec(&d).unwrap();
        let as_map: FastMap<u64, i64> = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(as_map, h);
        let back: DenseMap<i64> = postcard::from_bytes(&postcard::to_stdvec(&h).unwrap()).unwrap();
        assert_eq!(back.len(), h.len());
        assert!(h.iter().all(|(k, v)| back.get(k) == Some(v)));
    }
}
