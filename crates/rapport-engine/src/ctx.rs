//! The reply context of personal touch (METRICS.md §5): the content words of each user's
//! latest inbound item, with its time, looked up when the brand replies. Owns the layout
//! only. A key that has a thread-store slot (most of them: the user's thread is open) keeps
//! its entry in a vector parallel to the slots, with no key and no hash table of its own
//! (32 bytes per slot, where a map entry cost ~51 at a million keys); other keys keep theirs
//! in a [`DenseMap`]. The engine moves an entry across when its key gains or loses a slot.
//! Snapshots hold one map of every entry, exactly as when this was a plain map.

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::chunks::ChunkVec;
use crate::dense::{Bits, DenseMap};
use crate::threads::ThreadStore;
use crate::touch::ContentWords;

/// When the item was (epoch ms) and its content words.
pub type CtxEntry = (i64, ContentWords);

#[derive(Debug, Default)]
pub struct ReplyContext {
    /// Entry of the key in slot `i`, valid where bit `i` of `present` is set.
    by_slot: ChunkVec<CtxEntry>,
    present: Bits,
    /// Entries of keys without a slot.
    loose: DenseMap<CtxEntry>,
}

impl ReplyContext {
    /// Inserts or replaces the entry of `key`, whose slot (if it has one) is `slot`.
    pub fn set(&mut self, key: u64, slot: Option<u32>, v: CtxEntry) {
        match slot {
            Some(s) => {
                let s = s as usize;
                self.by_slot.resize(s + 1, (0, ContentWords::default()));
                self.by_slot[s] = v;
                self.present.set(s, true);
            }
            None => self.loose.insert(key, v),
        }
    }

    pub fn get(&self, key: u64, slot: Option<u32>) -> Option<&CtxEntry> {
        match slot {
            Some(s) => self
                .present
                .contains(s as usize)
                .then(|| &self.by_slot[s as usize]),
            None => self.loose.get(&key),
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
            self.loose.insert(key, self.by_slot[s]);
        }
    }

    /// Forgets the entries of items before `horizon` (epoch ms).
    pub fn retain_since(&mut self, horizon: i64) {
        let by_slot = &self.by_slot;
        self.present.retain(|s| by_slot[s].0 >= horizon);
        self.loose.retain(|_, (at, _)| *at >= horizon);
    }

    pub fn heap_bytes(&self) -> usize {
        self.by_slot.heap_bytes() + self.present.heap_bytes() + self.loose.heap_bytes()
    }

    /// Every entry as `(key, entry)`; the keys of per-slot entries come from `store`.
    fn entries<'a>(&'a self, store: &'a ThreadStore) -> impl Iterator<Item = (u64, CtxEntry)> + 'a {
        let slotted = (0..self.by_slot.len())
            .filter(|&s| self.present.contains(s))
            .map(|s| (store.get(s as u32).key, self.by_slot[s]));
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
            ..ReplyContext::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{fmix64, FastMap};
    use crate::threads::{Slot, IDS_BRAND_CONV, NONE32};

    /// Entries moving between slots and the map read back like one map, through slot reuse,
    /// expiry and a snapshot round trip.
    #[test]
    fn behaves_like_one_map() {
        let mut store = ThreadStore::default();
        let mut ctx = ReplyContext::default();
        let mut want: FastMap<u64, CtxEntry> = FastMap::default();
        let mut x = 7u64;
        for t in 0..30_000i64 {
            x = fmix64(x.wrapping_add(t as u64));
            let key = (x % 2_000) * 2 + 1;
            let slot = store.find(key);
            match x % 11 {
                0..=4 => {
                    let v = (t, ContentWords::default());
                    ctx.set(key, slot, v);
                    want.insert(key, v);
                }
                5 | 6 if slot.is_none() => {
                    let s = store.insert(Slot {
                        key,
                        last_ms: t,
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
                8 if t % 1_000 == 0 => {
                    ctx.retain_since(t - 5_000);
                    want.retain(|_, (at, _)| *at >= t - 5_000);
                }
                _ => {}
            }
            let slot = store.find(key);
            assert_eq!(ctx.get(key, slot), want.get(&key));
        }
        assert_eq!(ctx.count(), want.len());
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
            assert_eq!(back.get(*k, store.find(*k)), Some(v));
        }
    }
}
