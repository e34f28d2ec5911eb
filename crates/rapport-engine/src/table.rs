//! [`PosTable`]: an open-addressing hash index of 4-byte positions into a dense vector owned
//! by the caller (the thread slots, the dense maps' entries). hashbrown's tables double, so
//! just past a power of two they hold twice the buckets they need (plus a control byte each);
//! this one has any capacity (the home bucket is `hash × capacity >> 64`) and grows by a
//! quarter once 4/5 full, so it costs 5–6.3 bytes per key at any size.
//!
//! Linear probing, with the hash's low bits stored beside the position as a tag: a probe
//! compares the tag first and reads the caller's entry only when it matches, so a miss
//! rarely touches the vector. Removal shifts the following entries of the run back (no
//! tombstones), which needs each moved entry's hash: the caller supplies `hash_of(position)`.

/// Empty cell marker; a used cell holds `tag | (position + 1)`.
const EMPTY: u32 = 0;
/// At least this many position bits (and at least one more than the capacity needs).
const MIN_POS_BITS: u32 = 16;

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

    /// The cell index holding a position for which `eq` holds, among those tagged like `h`.
    #[inline]
    fn find_cell(&self, h: u64, mut eq: impl FnMut(u32) -> bool) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let cap = self.cells.len();
        let mask = self.pos_mask();
        let tag = self.tag(h);
        let mut i = self.home(h);
        loop {
            let c = self.cells[i];
            if c == EMPTY {
                return None;
            }
            if c & !mask == tag && eq((c & mask) - 1) {
                return Some(i);
            }
            i += 1;
            if i == cap {
                i = 0;
            }
        }
    }

    /// The position stored for hash `h` for which `eq(position)` holds.
    #[inline]
    pub fn find(&self, h: u64, eq: impl FnMut(u32) -> bool) -> Option<u32> {
        self.find_cell(h, eq)
            .map(|i| (self.cells[i] & self.pos_mask()) - 1)
    }

    /// Adds `pos` under hash `h` (the caller knows no equal entry is present). `hash_of`
    /// gives the hash of any stored position, for rebuilding.
    pub fn insert(&mut self, h: u64, pos: u32, hash_of: impl Fn(u32) -> u64) {
        let need = self.len + 1;
        if need * 5 > self.cells.len() * 4 {
            let cap = self.cells.len();
            let grown = (cap + cap / 4).max(need * 5 / 4 + 1).max(16);
            self.rebuild(grown, pos, &hash_of);
        } else if u64::from(pos) + 1 > u64::from(self.pos_mask()) {
            self.rebuild(self.cells.len(), pos, &hash_of);
        }
        self.place(h, pos);
        self.len += 1;
    }

    #[inline]
    fn place(&mut self, h: u64, pos: u32) {
        let cap = self.cells.len();
        let cell = self.tag(h) | (pos + 1);
        let mut i = self.home(h);
        while self.cells[i] != EMPTY {
            i += 1;
            if i == cap {
                i = 0;
            }
        }
        self.cells[i] = cell;
    }

    /// Rehashes into `cap` cells with enough position bits for `pos` and the capacity.
    fn rebuild(&mut self, cap: usize, pos: u32, hash_of: &impl Fn(u32) -> u64) {
        let old = std::mem::replace(&mut self.cells, vec![EMPTY; cap]);
        let old_mask = self.pos_mask();
        let wanted = (cap.max(pos as usize + 1) as u64 * 2).max(1);
        // Past 2^31 positions no bit is left for a tag; probes then compare every entry.
        self.pos_bits = (64 - wanted.leading_zeros()).clamp(MIN_POS_BITS, 32);
        for c in old {
            if c != EMPTY {
                let p = (c & old_mask) - 1;
                self.place(hash_of(p), p);
            }
        }
    }

    /// Removes the position for which `eq` holds under hash `h`; returns it.
    pub fn remove(
        &mut self,
        h: u64,
        eq: impl FnMut(u32) -> bool,
        hash_of: impl Fn(u32) -> u64,
    ) -> Option<u32> {
        let mut hole = self.find_cell(h, eq)?;
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
                    t.insert(h(k), p, |q| h(ks[q as usize]));
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
            // Never fuller than 4/5.
            assert!(t.len() * 5 <= t.cells.len() * 4);
        }
    }

    /// A position past what the position bits hold rebuilds the table with more of them.
    #[test]
    fn wide_positions_rebuild() {
        let mut t = PosTable::default();
        let far = [5u32, 70_000, 3_000_000, 200_000_000];
        for (i, &p) in far.iter().enumerate() {
            t.insert(fmix64(i as u64), p, |q| {
                fmix64(far.iter().position(|&f| f == q).unwrap() as u64)
            });
        }
        for (i, &p) in far.iter().enumerate() {
            assert_eq!(t.find(fmix64(i as u64), |q| q == p), Some(p));
        }
    }
}
