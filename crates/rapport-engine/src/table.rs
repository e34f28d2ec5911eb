//! [`PosTable`]: an open-addressing hash index of 4-byte positions into a dense vector owned
//! by the caller (the thread slots, the dense maps' entries). hashbrown's tables double, so
//! just past a power of two they hold twice the buckets they need (plus a control byte each);
//! this one has any capacity (the home bucket is `hash × capacity >> 64`) and grows by
//! half once 3/4 full, so it costs 5.3–8 bytes per key at any size.
//!
//! Linear probing, with the hash's low bits stored beside the position as a tag: a probe
//! compares the tag first and reads the caller's entry only when it matches, so a miss
//! rarely touches the vector. Removal shifts the following entries of the run back (no
//! tombstones), which needs each moved entry's hash: the caller supplies `hash_of(position)`.

/// Empty cell marker; a used cell holds `tag | (position + 1)`.
const EMPTY: u32 = 0;
/// At least this many position bits (and at least one more than the capacity needs).
const MIN_POS_BITS: u32 = 16;
/// The table grows once more than 3/4 full (linear probing's misses lengthen quickly past
/// that); growing by half leaves it half full. (Growing by a quarter saves 0.4 bytes per
/// key on average but rehashes 5 times the final size instead of 3.)
const MAX_LOAD_NUM: usize = 3;
const MAX_LOAD_DEN: usize = 4;

/// Where a missing hash goes: the empty cell its probe ended at.
#[derive(Debug, Clone, Copy)]
pub struct Vacant {
    cell: usize,
    h: u64,
}

/// Stores `pos` under hash `h` in the first empty cell of its run (`cells` is never full).
#[inline]
fn place_in(cells: &mut [u32], mask: u32, h: u64, pos: u32) {
    let cap = cells.len();
    let cell = ((h as u32) & !mask) | (pos + 1);
    let mut i = ((u128::from(h) * cap as u128) >> 64) as usize;
    while cells[i] != EMPTY {
        i += 1;
        if i == cap {
            i = 0;
        }
    }
    cells[i] = cell;
}

#[derive(Debug, Clone, Default)]
pub struct PosTable {
    cells: Vec<u32>,
    len: usize,
    /// Low `pos_bits` bits of a cell: position + 1; the others: the hash's tag.
    pos_bits: u32,
}

impl PosTable {
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Heap bytes held (capacity).
    pub fn heap_bytes(&self) -> usize {
        self.cells.capacity() * 4
    }

    #[inline]
    fn pos_mask(&self) -> u32 {
        ((1u64 << self.pos_bits) - 1) as u32
    }

    #[inline]
    fn home(&self, h: u64) -> usize {
        ((u128::from(h) * self.cells.len() as u128) >> 64) as usize
    }

    #[inline]
    fn tag(&self, h: u64) -> u32 {
        (h as u32) & !self.pos_mask()
    }

    /// The cell index holding a position for which `eq` holds, among those tagged like `h`,
    /// or else the empty cell that ends the probe (where `h` would be placed). The table is
    /// never full, so a probe always ends.
    #[inline]
    fn find_cell(&self, h: u64, mut eq: impl FnMut(u32) -> bool) -> Result<usize, usize> {
        if self.len == 0 {
            return Err(usize::MAX);
        }
        let mask = self.pos_mask();
        let tag = self.tag(h);
        let home = self.home(h);
        // The run from the home cell to the end, then from the start (wrapping around).
        let (wrapped, from_home) = self.cells.split_at(home);
        for (k, &c) in from_home.iter().enumerate() {
            if c == EMPTY {
                return Err(home + k);
            }
            if c & !mask == tag && eq((c & mask) - 1) {
                return Ok(home + k);
            }
        }
        for (k, &c) in wrapped.iter().enumerate() {
            if c == EMPTY {
                return Err(k);
            }
            if c & !mask == tag && eq((c & mask) - 1) {
                return Ok(k);
            }
        }
        Err(usize::MAX)
    }

    /// The position stored for hash `h` for which `eq(position)` holds, or else a
    /// [`Vacant`] for [`PosTable::insert_vacant`].
    #[inline]
    pub fn find_or_vacant(&self, h: u64, eq: impl FnMut(u32) -> bool) -> Result<u32, Vacant> {
        match self.find_cell(h, eq) {
            Ok(i) => Ok((self.cells[i] & self.pos_mask()) - 1),
            Err(cell) => Err(Vacant { cell, h }),
        }
    }

    /// [`PosTable::insert`] into the cell a [`PosTable::find_or_vacant`] just found (no
    /// second probe), unless the table must grow or widen first.
    #[inline]
    pub fn insert_vacant<I: IntoIterator<Item = (u32, u64)>>(
        &mut self,
        v: Vacant,
        pos: u32,
        limit: usize,
        all: impl FnOnce() -> I,
    ) {
        let need = self.len + 1;
        if v.cell < self.cells.len() && !self.must_grow(need) && !self.must_widen(limit) {
            self.cells[v.cell] = self.tag(v.h) | (pos + 1);
            self.len = need;
        } else {
            self.insert(v.h, pos, limit, all);
        }
    }

    /// The position stored for hash `h` for which `eq(position)` holds.
    #[inline]
    pub fn find(&self, h: u64, eq: impl FnMut(u32) -> bool) -> Option<u32> {
        self.find_cell(h, eq)
            .ok()
            .map(|i| (self.cells[i] & self.pos_mask()) - 1)
    }

    /// Adds `pos` under hash `h` (the caller knows no equal entry is present and has already
    /// stored the entry). Every stored position is below `limit` (the caller's vector length).
    /// When the table must grow, it is rebuilt from `all`: every entry's `(position, hash)`,
    /// the new one included, read in the caller's order (sequential, unlike the table's).
    #[inline]
    pub fn insert<I: IntoIterator<Item = (u32, u64)>>(
        &mut self,
        h: u64,
        pos: u32,
        limit: usize,
        all: impl FnOnce() -> I,
    ) {
        let need = self.len + 1;
        if self.must_grow(need) {
            let cap = self.cells.len();
            let grown = (cap + cap / 2)
                .max(need * MAX_LOAD_DEN / MAX_LOAD_NUM + 1)
                .max(16);
            self.rebuild(grown, limit, all());
        } else if self.must_widen(limit) {
            self.rebuild(self.cells.len(), limit, all());
        } else {
            self.place(h, pos);
            self.len += 1;
        }
    }

    /// Holding `need` entries would pass the maximum load.
    #[inline]
    fn must_grow(&self, need: usize) -> bool {
        need * MAX_LOAD_DEN > self.cells.len() * MAX_LOAD_NUM
    }

    /// Positions below `limit` no longer fit the cells' position bits.
    #[inline]
    fn must_widen(&self, limit: usize) -> bool {
        limit as u64 >= u64::from(self.pos_mask())
    }

    /// A table of `entries` (`(position, hash)`, positions below `limit`).
    pub fn build(n: usize, limit: usize, entries: impl IntoIterator<Item = (u32, u64)>) -> Self {
        let mut t = PosTable::default();
        if n > 0 {
            t.rebuild(
                (n * MAX_LOAD_DEN / MAX_LOAD_NUM + 1).max(16),
                limit,
                entries,
            );
        }
        t
    }

    #[inline]
    fn place(&mut self, h: u64, pos: u32) {
        let mask = self.pos_mask();
        place_in(&mut self.cells, mask, h, pos);
    }

    /// Refills `cap` cells from `entries`, with enough position bits for positions below
    /// `limit` and for the capacity.
    fn rebuild(&mut self, cap: usize, limit: usize, entries: impl IntoIterator<Item = (u32, u64)>) {
        self.cells = vec![EMPTY; cap];
        let wanted = (cap.max(limit) as u64 * 2).max(1);
        // Past 2^31 positions no bit is left for a tag; probes then compare every entry.
        self.pos_bits = (64 - wanted.leading_zeros()).clamp(MIN_POS_BITS, 32);
        // Internal iteration (`for_each`): the callers' chunked iterators run as plain loops.
        let mask = self.pos_mask();
        let cells = &mut self.cells[..];
        let mut n = 0;
        entries.into_iter().for_each(|(p, h)| {
            place_in(cells, mask, h, p);
            n += 1;
        });
        self.len = n;
    }

    /// Removes the position for which `eq` holds under hash `h`; returns it.
    pub fn remove(
        &mut self,
        h: u64,
        eq: impl FnMut(u32) -> bool,
        hash_of: impl Fn(u32) -> u64,
    ) -> Option<u32> {
        let mut hole = self.find_cell(h, eq).ok()?;
        let mask = self.pos_mask();
        let pos = (self.cells[hole] & mask) - 1;
        let cap = self.cells.len();
        let mut j = hole;
        loop {
            j += 1;
            if j == cap {
                j = 0;
            }
            let c = self.cells[j];
            if c == EMPTY {
                break;
            }
            // The entry at `j` may fill the hole unless its home lies after the hole (then
            // moving it would put it before its home, where no probe looks).
            let home = self.home(hash_of((c & mask) - 1));
            let from_home = (j + cap - home) % cap;
            let from_hole = (j + cap - hole) % cap;
            if from_home >= from_hole {
                self.cells[hole] = c;
                hole = j;
            }
        }
        self.cells[hole] = EMPTY;
        self.len -= 1;
        Some(pos)
    }

    /// Every stored position (in cell order).
    #[cfg(test)]
    pub fn positions(&self) -> impl Iterator<Item = u32> + '_ {
        let mask = self.pos_mask();
        self.cells
            .iter()
            .filter(|&&c| c != EMPTY)
            .map(move |&c| (c & mask) - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{fmix64, FastMap};

    /// Keys in a vector indexed by the table behave like a map, through inserts, removals
    /// (which shift runs back) and growth; hashes with many equal home buckets included.
    #[test]
    fn behaves_like_a_map_of_positions() {
        for spread in [u64::MAX, 0xFFFF_0000_0000_0000, 0xF000_0000_0000_00FF] {
            let mut keys: Vec<u64> = Vec::new();
            let mut free: Vec<u32> = Vec::new();
            let mut t = PosTable::default();
            let mut want: FastMap<u64, u32> = FastMap::default();
            let h = |k: u64| fmix64(k) & spread;
            let mut x = 3u64;
            for round in 0..60_000u64 {
                x = fmix64(x.wrapping_add(round));
                let k = x % 4_000 + 1;
                let found = t.find(h(k), |p| keys[p as usize] == k);
                assert_eq!(found, want.get(&k).copied());
                if x % 3 == 0 {
                    if let Some(p) = found {
                        let ks = &keys;
                        let got = t.remove(h(k), |q| q == p, |q| h(ks[q as usize]));
                        assert_eq!(got, Some(p));
                        keys[p as usize] = 0;
                        free.push(p);
                        want.remove(&k);
                    }
                } else if found.is_none() {
                    let p = match free.pop() {
                        Some(p) => {
                            keys[p as usize] = k;
                            p
                        }
                        None => {
                            keys.push(k);
                            keys.len() as u32 - 1
                        }
                    };
                    let ks = &keys;
                    let all = || {
                        ks.iter()
                            .enumerate()
                            .filter(|(_, &k)| k != 0)
                            .map(|(q, &k)| (q as u32, h(k)))
                    };
                    if x % 2 == 0 {
                        t.insert(h(k), p, ks.len(), all);
                    } else {
                        let v = t.find_or_vacant(h(k), |q| q != p && ks[q as usize] == k);
                        t.insert_vacant(v.expect_err("absent"), p, ks.len(), all);
                    }
                    want.insert(k, p);
                }
                assert_eq!(t.len(), want.len());
            }
            for (k, p) in &want {
                assert_eq!(t.find(h(*k), |q| keys[q as usize] == *k), Some(*p));
            }
            let mut ps: Vec<u32> = t.positions().collect();
            ps.sort_unstable();
            let mut wp: Vec<u32> = want.values().copied().collect();
            wp.sort_unstable();
            assert_eq!(ps, wp);
            // Never fuller than 3/4, and a bulk build finds the same.
            assert!(t.len() * 4 <= t.cells.len() * 3);
            let all = keys
                .iter()
                .enumerate()
                .filter(|(_, &k)| k != 0)
                .map(|(q, &k)| (q as u32, h(k)));
            let b = PosTable::build(want.len(), keys.len(), all);
            for (k, p) in &want {
                assert_eq!(b.find(h(*k), |q| keys[q as usize] == *k), Some(*p));
            }
        }
    }

    /// A position past what the position bits hold rebuilds the table with more of them.
    #[test]
    fn wide_positions_rebuild() {
        let mut t = PosTable::default();
        let far = [5u32, 70_000, 3_000_000, 200_000_000];
        for (i, &p) in far.iter().enumerate() {
            let all = || (0..=i).map(|j| (far[j], fmix64(j as u64)));
            t.insert(fmix64(i as u64), p, p as usize + 1, all);
        }
        for (i, &p) in far.iter().enumerate() {
            assert_eq!(t.find(fmix64(i as u64), |q| q == p), Some(p));
        }
    }
}
