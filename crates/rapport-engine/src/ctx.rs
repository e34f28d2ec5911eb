//! The reply context of personal touch (METRICS.md §5): the content words of each user's
//! latest inbound item, with its time, looked up when the brand replies. Owns the layout
//! only. A key that has a thread-store slot (most of them: the user's thread is open) keeps
//! its entry in a vector parallel to the slots, with no key and no hash table of its own
//! (26 bytes per slot, where a map entry cost ~51 at a million keys); other keys keep theirs
//! in a [`DenseMap`]. The engine moves an entry across when its key gains or loses a slot.
//! Snapshots hold one map of every entry, exactly as when this was a plain map.

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::chunks::ChunkVec;
use crate::dense::{Bits, DenseMap};
use crate::hash::FastMap;
use crate::threads::ThreadStore;
use crate::touch::ContentWords;

/// When the item was (epoch ms) and its content words.
pub type CtxEntry = (i64, ContentWords);

/// `times` value of an entry whose time is in `far_times`.
const FAR: u32 = u32::MAX;
/// The base moves only once the horizon is this far ahead of it (~12 days), so most sweeps
/// rewrite no offset; with `max_pending` below 49 days an entry's offset then stays below
/// 2^32 ms in practice (anything else goes to `far_times`).
const REBASE_LAG_MS: i64 = 1 << 30;

/// Whether a time `at` is kept by a sweep to `horizon`; a kept one lowers `least`.
#[inline]
fn kept_since(at: i64, horizon: i64, least: &mut i64) -> bool {
    let keep = at >= horizon;
    if keep {
        *least = (*least).min(at);
    }
    keep
}

#[derive(Debug)]
pub struct ReplyContext {
    /// Entry of the key in slot `i`, valid where bit `i` of `present` is set: its time as
    /// milliseconds after `base` (26 bytes per slot with the words, where `(i64, words)`
    /// cost 32), ...
    times: ChunkVec<u32>,
    words: ChunkVec<ContentWords>,
    present: Bits,
    /// ... moved up to the expiry horizon by `retain_since` once it lags it by
    /// `REBASE_LAG_MS`. A time the offset cannot hold (an item far ahead of the clock or
    /// behind the base) is kept whole here, by slot, so expiry and snapshots stay exact.
    base: i64,
    /// `base` was set (at the first per-slot entry).
    based: bool,
    far_times: FastMap<u32, i64>,
    /// Entries of keys without a slot.
    loose: DenseMap<CtxEntry>,
    /// No per-slot entry's time is before this, and no loose entry's before `loose_oldest`
    /// (`i64::MAX`: none kept yet; exact after a sweep that visits the entries): a sweep
    /// whose horizon is not past them drops nothing and skips the visit.
    oldest: i64,
    loose_oldest: i64,
}

impl Default for ReplyContext {
    fn default() -> Self {
        ReplyContext {
            times: ChunkVec::default(),
            words: ChunkVec::default(),
            present: Bits::default(),
            base: 0,
            based: false,
            far_times: FastMap::default(),
            loose: DenseMap::default(),
            oldest: i64::MAX,
            loose_oldest: i64::MAX,
        }
    }
}

impl ReplyContext {
    #[inline]
    fn time_at(&self, s: usize) -> i64 {
        match self.times[s] {
            FAR => self.far_times.get(&(s as u32)).copied().unwrap_or(i64::MIN),
            off => self.base + i64::from(off),
        }
    }

    fn set_time(&mut self, s: usize, at: i64) {
        if !self.based {
            self.based = true;
            self.base = at.saturating_sub(REBASE_LAG_MS);
        }
        if !self.far_times.is_empty() {
            self.far_times.remove(&(s as u32));
        }
        let off = at
            .checked_sub(self.base)
            .and_then(|d| u32::try_from(d).ok())
            .filter(|&d| d != FAR)
            .unwrap_or_else(|| {
                self.far_times.insert(s as u32, at);
                FAR
            });
        self.times[s] = off;
    }

    /// Inserts or replaces the entry of `key`, whose slot (if it has one) is `slot`.
    pub fn set(&mut self, key: u64, slot: Option<u32>, v: CtxEntry) {
        match slot {
            Some(s) => {
                let s = s as usize;
                self.times.resize(s + 1, 0);
                self.words.resize(s + 1, ContentWords::default());
                self.set_time(s, v.0);
                self.oldest = self.oldest.min(v.0);
                self.words[s] = v.1;
                self.present.set(s, true);
            }
            None => {
                self.loose_oldest = self.loose_oldest.min(v.0);
                self.loose.insert(key, v);
            }
        }
    }

    /// The content words of `key`'s latest inbound item, if kept.
    pub fn words(&self, key: u64, slot: Option<u32>) -> Option<ContentWords> {
        match slot {
            Some(s) => self
                .present
                .contains(s as usize)
                .then(|| self.words[s as usize]),
            None => self.loose.get(&key).map(|e| e.1),
        }
    }

    #[cfg(test)]
    fn get(&self, key: u64, slot: Option<u32>) -> Option<CtxEntry> {
        match slot {
            Some(s) => {
                let s = s as usize;
                self.present
                    .contains(s)
                    .then(|| (self.time_at(s), self.words[s]))
            }
            None => self.loose.get(&key).copied(),
        }
    }

    /// `key` was just given `slot`: its entry moves next to the slot.
    pub fn attach(&mut self, key: u64, slot: u32) {
        match self.loose.remove(key) {
            Some(v) => self.set(key, Some(slot), v),
            None => self.present.set(slot as usize, false),
        }
    }

    /// `slot`, which holds `key`, is about to be freed: the entry moves to the map.
    pub fn detach(&mut self, key: u64, slot: u32) {
        let s = slot as usize;
        if self.present.contains(s) {
            self.present.set(s, false);
            let at = self.time_at(s);
            self.loose_oldest = self.loose_oldest.min(at);
            self.loose.insert(key, (at, self.words[s]));
            if !self.far_times.is_empty() {
                self.far_times.remove(&slot);
            }
        }
    }

    /// Forgets the entries of items before `horizon` (epoch ms), and moves the base of the
    /// per-slot times up to it.
    pub fn retain_since(&mut self, horizon: i64) {
        let base = self.base;
        let lag = i128::from(horizon) - i128::from(base);
        let new_base = if self.based && lag > i128::from(REBASE_LAG_MS) {
            horizon
        } else {
            base
        };
        let shift = (i128::from(new_base) - i128::from(base)).max(0);
        let shift32 = u32::try_from(shift).unwrap_or(u32::MAX);
        // Kept: offsets at or past the horizon's (`cut`); far times are checked whole.
        let cut = u32::try_from((i128::from(horizon) - i128::from(base)).max(0)).unwrap_or(FAR);
        let times = &mut self.times;
        let far = &self.far_times;
        // The least time kept, found during a visit.
        let mut least = i64::MAX;
        // Nothing can expire and nothing moves: the visit is skipped.
        if shift32 > 0 || self.oldest < horizon {
            // A kept offset is at least `shift32` (its time is not before the horizon).
            self.present.retain(|s| match times[s] {
                FAR => far
                    .get(&(s as u32))
                    .is_some_and(|&at| kept_since(at, horizon, &mut least)),
                off if off >= cut => {
                    least = least.min(base + i64::from(off));
                    if shift32 > 0 {
                        times[s] = off - shift32;
                    }
                    true
                }
                _ => false,
            });
            self.oldest = least;
        }
        self.base = new_base;
        if !self.far_times.is_empty() {
            // Expired ones go; after a rebase the others may fit an offset again.
            let far: Vec<(u32, i64)> = self.far_times.drain().collect();
            for (s, at) in far {
                if self.present.contains(s as usize) && at >= horizon {
                    if shift > 0 {
                        self.set_time(s as usize, at);
                    } else {
                        self.far_times.insert(s, at);
                    }
                }
            }
        }
        // An empty map is still swept: that gives its slack back.
        if self.loose_oldest < horizon || self.loose.len() == 0 {
            let mut least = i64::MAX;
            self.loose
                .retain(|_, (at, _)| kept_since(*at, horizon, &mut least));
            self.loose_oldest = least;
        }
    }

    pub fn heap_bytes(&self) -> usize {
        self.times.heap_bytes()
            + self.words.heap_bytes()
            + self.present.heap_bytes()
            + self.far_times.capacity() * 13
            + self.loose.heap_bytes()
    }

    /// Every entry as `(key, entry)`; the keys of per-slot entries come from `store`.
    fn entries<'a>(&'a self, store: &'a ThreadStore) -> impl Iterator<Item = (u64, CtxEntry)> + 'a {
        let slotted = (0..self.times.len())
            .filter(|&s| self.present.contains(s))
            .map(|s| (store.get(s as u32).key, (self.time_at(s), self.words[s])));
        self.loose.iter().chain(slotted)
    }

    fn count(&self) -> usize {
        self.loose.len() + self.present.count()
    }

    /// Moves the entries of keys that have a slot next to it (after a restore, which reads
    /// every entry into the map).
    pub fn attach_all(&mut self, store: &ThreadStore) {
        for s in store.live_slots() {
            self.attach(store.get(s).key, s);
        }
    }
}

/// The reply context with the thread store that names its per-slot keys, serialized as the
/// map of every entry.
pub struct CtxOut<'a> {
    pub ctx: &'a ReplyContext,
    pub store: &'a ThreadStore,
}

impl Serialize for CtxOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.ctx.count()))?;
        for (k, v) in self.ctx.entries(self.store) {
            m.serialize_entry(&k, &v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for ReplyContext {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(ReplyContext {
            loose: DenseMap::deserialize(d)?,
            // Unknown until the first sweep visits them.
            loose_oldest: i64::MIN,
            ..ReplyContext::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::fmix64;
    use crate::threads::{Slot, IDS_BRAND_CONV, NONE32};

    /// Entries moving between slots and the map read back like one map, through slot reuse,
    /// expiry and a snapshot round trip.
    #[test]
    fn behaves_like_one_map() {
        let mut store = ThreadStore::default();
        let mut ctx = ReplyContext::default();
        let mut want: FastMap<u64, CtxEntry> = FastMap::default();
        let mut x = 7u64;
        const DAY: i64 = 86_400_000;
        for t in 0..30_000i64 {
            // ~35 days in all: the per-slot base moves a few times.
            let now = 1_700_000_000_000 + t * 100_000;
            x = fmix64(x.wrapping_add(t as u64));
            let key = (x % 2_000) * 2 + 1;
            let slot = store.find(key);
            match x % 11 {
                0..=4 => {
                    // Mostly the clock; some far ahead or behind (times kept whole).
                    let at = match x % 53 {
                        0 => now + 60 * DAY,
                        1 => i64::MIN + 5,
                        _ => now,
                    };
                    let v = (at, ContentWords::default());
                    ctx.set(key, slot, v);
                    want.insert(key, v);
                }
                5 | 6 if slot.is_none() => {
                    let s = store.insert(Slot {
                        key,
                        last_ms: now,
                        seq: 0,
                        ids: IDS_BRAND_CONV,
                        inbound: 0,
                        followers: NONE32,
                    });
                    ctx.attach(key, s);
                }
                7 => {
                    if let Some(s) = slot {
                        ctx.detach(key, s);
                        store.remove(s);
                    }
                }
                _ => {}
            }
            if t % 1_000 == 999 {
                ctx.retain_since(now - 5 * DAY);
                want.retain(|_, (at, _)| *at >= now - 5 * DAY);
            } else if t % 100 == 50 {
                // A horizon before most entries: sweeps that drop nothing skip the visit.
                let h = if t % 200 == 50 {
                    now - 6 * DAY
                } else {
                    i64::MIN + 6
                };
                ctx.retain_since(h);
                want.retain(|_, (at, _)| *at >= h);
            }
            let slot = store.find(key);
            assert_eq!(ctx.get(key, slot), want.get(&key).copied());
            assert_eq!(ctx.words(key, slot), want.get(&key).map(|e| e.1));
        }
        assert_eq!(ctx.count(), want.len());
        assert!(!ctx.far_times.is_empty());
        assert!(ctx.base > 1_700_000_000_000 + 20 * DAY);
        let bytes = postcard::to_stdvec(&CtxOut {
            ctx: &ctx,
            store: &store,
        })
        .unwrap();
        let as_map: FastMap<u64, CtxEntry> = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(as_map, want);
        let mut back: ReplyContext = postcard::from_bytes(&bytes).unwrap();
        back.attach_all(&store);
        for (k, v) in &want {
            assert_eq!(back.get(*k, store.find(*k)), Some(*v));
        }
    }
}
