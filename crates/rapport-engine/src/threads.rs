//! Compact storage of per-key conversation state and per-thread outcomes. Owns the layout
//! only; the rules of METRICS.md §2 that move threads between states live in `engine.rs`.
//!
//! - [`ThreadStore`]: one [`Slot`] (24 bytes as stored) per `(brand, platform, user)` key that has an open
//!   thread or a recent brand-initiated conversation, in a slab indexed by a [`PosTable`] of
//!   4-byte slot numbers. No per-entry heap allocation: the ids a thread row needs (user id,
//!   opening and first-response item ids) live in one shared [`IdArena`] of fixed-size chunks.
//! - [`Cohort`]: one [`CohortRec`] per thread (24 bytes as stored), in opening order, kept until the
//!   thread's last time-based figure (the 30-day return window) is settled. Because threads
//!   open in event-time order, every "N after opened_at" deadline is reached in deque order,
//!   so those timers are cursors, not heaps.

use serde::{Deserialize, Serialize};

use crate::chunks::{serialize_seq, ChunkDeque, ChunkVec};
use crate::hash::FastMap;
use crate::platform_id::{canonical_number, PlatformId};
use crate::table::PosTable;

/// `Slot::ids` of a brand-initiated conversation with no earlier thread.
pub const IDS_BRAND_CONV: u32 = u32::MAX;
/// `Slot::ids` of a brand-initiated conversation whose `seq` names the user's last thread.
pub const IDS_BRAND_CONV_PREV: u32 = u32::MAX - 1;
pub const NONE32: u32 = u32::MAX;

/// State of one key. For a thread, `last_ms` is the last item in either direction; for a
/// brand-initiated conversation it is the brand's last conversational item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    pub key: u64,
    pub last_ms: i64,
    /// Low 32 bits of the cohort sequence number of the key's (latest) thread.
    pub seq: u32,
    /// Arena offset of the thread's id strings, or one of the `IDS_BRAND_CONV*` markers.
    pub ids: u32,
    pub inbound: u32,
    /// `user_followers`, `NONE32` when unknown.
    pub followers: u32,
}

impl Slot {
    pub fn is_thread(&self) -> bool {
        self.ids < IDS_BRAND_CONV_PREV
    }
}

const FREE_KEY: u64 = 0;

/// A [`Slot`] as stored: 24 bytes instead of 32 (alignment 4: the key as two halves,
/// `last_ms` as an offset from the store's `base`, `followers` and `inbound` sharing a word).
/// A time the offset cannot hold is [`LAST_FAR`]: kept whole in the store's side map by slot,
/// or `i64::MIN` (a freed slot's) when absent there. Counts the word cannot hold (a follower
/// count of ~1M or more, 4,095 or more inbound items) are kept whole in another side map, so
/// every slot reads back exactly.
#[derive(Debug, Clone, Copy)]
struct Stored {
    key: [u32; 2],
    last: u32,
    seq: u32,
    ids: u32,
    /// `followers` code in the low [`FOLLOWER_BITS`], `inbound` code above.
    counts: u32,
}

const FOLLOWER_BITS: u32 = 20;
const FOLLOWERS_MASK: u32 = (1 << FOLLOWER_BITS) - 1;
/// Follower codes: the count itself below `FOLLOWERS_NONE`, which stands for `NONE32`
/// (unknown); `FOLLOWERS_FAR`: the counts are in `far_counts`.
const FOLLOWERS_NONE: u32 = FOLLOWERS_MASK - 1;
const FOLLOWERS_FAR: u32 = FOLLOWERS_MASK;
/// Inbound code: the count itself below this; this: the counts are in `far_counts`.
const INBOUND_FAR: u32 = u32::MAX >> FOLLOWER_BITS;

impl Stored {
    #[inline(always)]
    fn key(&self) -> u64 {
        u64::from(self.key[0]) | (u64::from(self.key[1]) << 32)
    }
}

const LAST_FAR: u32 = u32::MAX;
/// The first time stored sets the base this far below it, and a rebase puts it this far
/// below the sweep's time: times up to ~24.8 days either side of it fit.
const TIME_SLACK_MS: i64 = 1 << 31;
/// The sweep moves the base up once its time is this far past it (~17 days; every slot is
/// rewritten, so not often), keeping ~12 days of headroom ahead of the clock.
const REBASE_LAG_MS: i64 = 3 << 30;

#[derive(Debug, Default)]
pub struct ThreadStore {
    slots: ChunkVec<Stored>,
    free: Vec<u32>,
    table: PosTable,
    /// `last_ms` of a slot is `base + Stored::last` ...
    base: i64,
    /// ... once `base` is set (by the first time stored).
    based: bool,
    /// `last_ms` of slots whose offset is [`LAST_FAR`] (other than `i64::MIN`).
    far_last: FastMap<u32, i64>,
    /// `(followers, inbound)` of slots with a count their `counts` word cannot hold.
    far_counts: FastMap<u32, (u32, u32)>,
    arena: IdArena,
    /// One record being encoded (reused, so writing ids allocates nothing).
    scratch: Vec<u8>,
    garbage: usize,
    /// The last key looked up by `find_recent` and its slot (`NONE32`: none): an item's
    /// rules look the same key up two or three times. Reset by every insert and removal.
    recent: (u64, u32),
}

/// The serialized form: the hash table is rebuilt from the slots on restore.
#[derive(Deserialize)]
struct ThreadStoreRepr {
    slots: ChunkVec<Slot>,
    free: Vec<u32>,
    arena: Vec<u8>,
    garbage: usize,
}

/// [`ThreadStoreRepr`] as written: the slots (unpacked as they are read) and free list
/// borrowed, not copied for each snapshot (same fields, same order, so the same bytes).
#[derive(Serialize)]
struct ThreadStoreOut<'a, L: Serialize> {
    slots: L,
    free: &'a [u32],
    arena: Vec<u8>,
    garbage: usize,
}

/// Every slot of a store, unpacked, as a sequence (the layout of a `ChunkVec<Slot>`).
struct SlotsOut<'a>(&'a ThreadStore);

impl Serialize for SlotsOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let st = self.0;
        serialize_seq(
            st.slots.len(),
            (0..st.slots.len() as u32).map(|i| st.get(i)),
            s,
        )
    }
}

impl Serialize for ThreadStore {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ThreadStoreOut {
            slots: SlotsOut(self),
            free: &self.free,
            arena: self.arena.to_flat(),
            garbage: self.garbage,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for ThreadStore {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = ThreadStoreRepr::deserialize(d)?;
        let mut st = ThreadStore {
            free: r.free,
            arena: IdArena::from_flat(r.arena),
            garbage: r.garbage,
            recent: (FREE_KEY, NONE32),
            ..ThreadStore::default()
        };
        for (i, s) in r.slots.iter().enumerate() {
            let p = st.pack(i as u32, s);
            st.slots.push(p);
        }
        let live = st.slots.len() - st.free.len().min(st.slots.len());
        st.table = PosTable::build(live, st.slots.len(), ThreadStore::entries(&st.slots));
        Ok(st)
    }
}

/// Bytes per [`IdArena`] chunk (a record never straddles two).
const ARENA_CHUNK_BITS: u32 = 16;
const ARENA_CHUNK: usize = 1 << ARENA_CHUNK_BITS;

/// The thread id records, addressed by `u32` offsets. New records go into chunks of
/// [`ARENA_CHUNK`] bytes allocated whole, so growing the arena never doubles or copies it, and a
/// record never straddles two chunks, so a read is one slice. A record longer than a chunk
/// gets a chunk of its own followed by empty chunks for the offsets it covers. The arena of
/// a restored snapshot (one flat byte string, whose records may straddle chunk boundaries)
/// stays a flat prefix until the next compaction. The serialized form is that flat string:
/// the prefix, then each chunk at its offset (zero bytes fill the ends of chunks).
#[derive(Debug, Default)]
struct IdArena {
    flat: Vec<u8>,
    /// `flat.len()` rounded up to whole chunks: the offset of chunk 0.
    base: usize,
    chunks: Vec<Vec<u8>>,
    /// Bytes written (flat prefix and chunks, without the unused chunk ends).
    used: usize,
}

impl IdArena {
    fn from_flat(flat: Vec<u8>) -> Self {
        IdArena {
            base: flat.len().div_ceil(ARENA_CHUNK) * ARENA_CHUNK,
            used: flat.len(),
            flat,
            chunks: Vec::new(),
        }
    }

    /// The bytes from `off` to the end of its chunk (empty past the end).
    #[inline]
    fn at(&self, off: usize) -> &[u8] {
        if off < self.base {
            return self.flat.get(off..).unwrap_or(&[]);
        }
        let rel = off - self.base;
        self.chunks
            .get(rel >> ARENA_CHUNK_BITS)
            .and_then(|c| c.get(rel & (ARENA_CHUNK - 1)..))
            .unwrap_or(&[])
    }

    /// Appends one record; returns its offset.
    fn push(&mut self, rec: &[u8]) -> usize {
        self.used += rec.len();
        let n = self.chunks.len();
        if let Some(last) = self.chunks.last_mut() {
            // An oversized chunk (longer than ARENA_CHUNK) or a placeholder (capacity 0) never
            // takes more records.
            if last.len() + rec.len() <= ARENA_CHUNK.min(last.capacity()) {
                let off = self.base + (n - 1) * ARENA_CHUNK + last.len();
                last.extend_from_slice(rec);
                return off;
            }
        }
        let off = self.base + self.chunks.len() * ARENA_CHUNK;
        let mut c = Vec::with_capacity(rec.len().max(ARENA_CHUNK));
        c.extend_from_slice(rec);
        self.chunks.push(c);
        let span = rec.len().div_ceil(ARENA_CHUNK).max(1);
        self.chunks.extend((1..span).map(|_| Vec::new()));
        off
    }

    fn to_flat(&self) -> Vec<u8> {
        let mut out = self.flat.clone();
        for (i, c) in self.chunks.iter().enumerate() {
            if !c.is_empty() {
                let start = self.base + i * ARENA_CHUNK;
                debug_assert!(out.len() <= start);
                out.resize(start, 0);
                out.extend_from_slice(c);
            }
        }
        out
    }

    fn heap_bytes(&self) -> usize {
        self.flat.capacity()
            + self.chunks.capacity() * std::mem::size_of::<Vec<u8>>()
            + self.chunks.iter().map(Vec::capacity).sum::<usize>()
    }
}

fn put_varint(buf: &mut Vec<u8>, mut v: usize) {
    // Built on the stack and appended once: one capacity check instead of one per byte.
    let mut tmp = [0u8; 10];
    let mut n = 0;
    while v >= 0x80 {
        tmp[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    tmp[n] = v as u8;
    buf.extend_from_slice(&tmp[..=n]);
}

#[inline]
fn get_varint(buf: &[u8], pos: &mut usize) -> usize {
    // Fast path: the first eight bytes in one load, their 7-bit groups gathered with three
    // shift-and-mask steps instead of a byte loop (a 19-digit id is a 9-byte varint).
    if let Some(w) = buf
        .get(*pos..*pos + 8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
    {
        let w = u64::from_le_bytes(w);
        let ends = !w & 0x8080_8080_8080_8080;
        if ends != 0 {
            let n = ends.trailing_zeros() as usize / 8 + 1;
            let keep = if n == 8 {
                u64::MAX
            } else {
                (1u64 << (n * 8)) - 1
            };
            *pos += n;
            return gather7(w & keep) as usize;
        }
        *pos += 8;
        return gather7(w) as usize | get_varint_tail(buf, pos, 56);
    }
    get_varint_tail(buf, pos, 0)
}

/// The 7-bit groups of up to eight little-endian varint bytes, as one number.
#[inline]
fn gather7(w: u64) -> u64 {
    let x = w & 0x7F7F_7F7F_7F7F_7F7F;
    let x = (x & 0x007F_007F_007F_007F) | ((x & 0x7F00_7F00_7F00_7F00) >> 1);
    let x = (x & 0x0000_3FFF_0000_3FFF) | ((x & 0x3FFF_0000_3FFF_0000) >> 2);
    (x & 0x0FFF_FFFF) | ((x & 0x0FFF_FFFF_0000_0000) >> 4)
}

/// The byte-at-a-time varint decoder from bit `shift` on (the plain form of [`get_varint`]).
fn get_varint_tail(buf: &[u8], pos: &mut usize, mut shift: u32) -> usize {
    let mut v = 0usize;
    while let Some(&b) = buf.get(*pos) {
        *pos += 1;
        v |= usize::from(b & 0x7F).checked_shl(shift).unwrap_or(0);
        if b < 0x80 || shift > 56 {
            break;
        }
        shift += 7;
    }
    v
}

/// Platform ids are mostly decimal numbers of 13–19 digits; those (canonical: no sign, no
/// leading zero, below 2^63) are stored as a varint of `n << 1 | 1`, the rest as a varint of
/// `len << 1` followed by the bytes. Halves the arena for numeric ids.
fn put_id(buf: &mut Vec<u8>, s: &str) {
    match canonical_number(s) {
        Some(n) => put_varint(buf, ((n << 1) | 1) as usize),
        None => {
            put_varint(buf, s.len() << 1);
            buf.extend_from_slice(s.as_bytes());
        }
    }
}

fn skip_id(buf: &[u8], pos: &mut usize) {
    let v = get_varint(buf, pos);
    if v & 1 == 0 {
        *pos += v >> 1;
    }
}

#[inline(always)]
fn get_id(buf: &[u8], pos: &mut usize) -> PlatformId {
    let v = get_varint(buf, pos);
    if v & 1 == 1 {
        // Every id of every emitted thread row: the number itself, formatted only by whoever
        // writes the row out.
        return PlatformId::from_number((v >> 1) as u64);
    }
    if v == 0 {
        // The empty first-response id of every unanswered thread.
        return PlatformId::default();
    }
    let start = (*pos).min(buf.len());
    let end = (start + (v >> 1)).min(buf.len());
    *pos = end;
    // `new` and not a text constructor: a restored arena is input, and must stay canonical.
    std::str::from_utf8(&buf[start..end]).map_or_else(|_| PlatformId::default(), PlatformId::new)
}

impl ThreadStore {
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// `(slot, key)` of every live slot, in slab order: what the index is rebuilt from.
    fn entries(slots: &ChunkVec<Stored>) -> impl Iterator<Item = (u32, u64)> + '_ {
        slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.key() != FREE_KEY)
            .map(|(i, s)| (i as u32, s.key()))
    }

    pub fn find(&self, key: u64) -> Option<u32> {
        let slots = &self.slots;
        self.table.find(key, |i| slots[i as usize].key() == key)
    }

    /// [`ThreadStore::find`], answering a repeated lookup of the last key at once.
    #[inline]
    pub fn find_recent(&mut self, key: u64) -> Option<u32> {
        if self.recent.0 == key && key != FREE_KEY {
            return (self.recent.1 != NONE32).then_some(self.recent.1);
        }
        let found = self.find(key);
        self.recent = (key, found.unwrap_or(NONE32));
        found
    }

    #[inline(always)]
    pub fn get(&self, slot: u32) -> Slot {
        let r = &self.slots[slot as usize];
        let (followers, inbound) = self.counts_of(slot, r.counts);
        Slot {
            key: r.key(),
            last_ms: self.last_of(slot, r.last),
            seq: r.seq,
            ids: r.ids,
            inbound,
            followers,
        }
    }

    /// `(followers, inbound)` from a `counts` word.
    #[inline(always)]
    fn counts_of(&self, slot: u32, c: u32) -> (u32, u32) {
        let (f, i) = (c & FOLLOWERS_MASK, c >> FOLLOWER_BITS);
        if f < FOLLOWERS_NONE && i != INBOUND_FAR {
            (f, i)
        } else {
            self.other_counts_of(slot, c)
        }
    }

    /// [`ThreadStore::counts_of`] for an unknown follower count or counts in the side map.
    #[inline(never)]
    fn other_counts_of(&self, slot: u32, c: u32) -> (u32, u32) {
        let (f, i) = (c & FOLLOWERS_MASK, c >> FOLLOWER_BITS);
        if f == FOLLOWERS_FAR || i == INBOUND_FAR {
            return self.far_counts.get(&slot).copied().unwrap_or((NONE32, 0));
        }
        (NONE32, i)
    }

    /// The `counts` word of slot `slot` (recording the counts in the side map if they do
    /// not fit).
    #[inline]
    fn counts_word(&mut self, slot: u32, followers: u32, inbound: u32) -> u32 {
        if followers < FOLLOWERS_NONE && inbound < INBOUND_FAR && self.far_counts.is_empty() {
            return followers | (inbound << FOLLOWER_BITS);
        }
        self.other_counts_word(slot, followers, inbound)
    }

    fn other_counts_word(&mut self, slot: u32, followers: u32, inbound: u32) -> u32 {
        let f = match followers {
            NONE32 => FOLLOWERS_NONE,
            f if f < FOLLOWERS_NONE => f,
            _ => FOLLOWERS_FAR,
        };
        let i = inbound.min(INBOUND_FAR);
        if f == FOLLOWERS_FAR || i == INBOUND_FAR {
            self.far_counts.insert(slot, (followers, inbound));
        } else {
            self.far_counts.remove(&slot);
        }
        f | (i << FOLLOWER_BITS)
    }

    #[inline(always)]
    fn last_of(&self, slot: u32, off: u32) -> i64 {
        if off == LAST_FAR {
            self.far_last_of(slot)
        } else {
            self.base + i64::from(off)
        }
    }

    #[cold]
    #[inline(never)]
    fn far_last_of(&self, slot: u32) -> i64 {
        self.far_last.get(&slot).copied().unwrap_or(i64::MIN)
    }

    /// Changes a slot through its unpacked form (its key must stay the same).
    #[inline]
    pub fn update(&mut self, slot: u32, f: impl FnOnce(&mut Slot)) {
        let mut s = self.get(slot);
        f(&mut s);
        self.put(slot, &s);
    }

    /// Stores `s` as slot `slot` (its key must stay the same): for callers that already
    /// read the slot, so it is not unpacked a second time.
    #[inline]
    pub fn put(&mut self, slot: u32, s: &Slot) {
        debug_assert_eq!(s.key, self.slots[slot as usize].key());
        self.slots[slot as usize] = self.pack(slot, s);
    }

    #[inline]
    pub fn set_last_ms(&mut self, slot: u32, t: i64) {
        self.slots[slot as usize].last = self.offset(slot, t);
    }

    /// `t` as slot `slot`'s stored offset (recording it in the side map if it does not fit).
    #[inline(always)]
    fn offset(&mut self, slot: u32, t: i64) -> u32 {
        if self.based && self.far_last.is_empty() {
            if let Some(d) = t
                .checked_sub(self.base)
                .and_then(|d| u32::try_from(d).ok())
                .filter(|&d| d != LAST_FAR)
            {
                return d;
            }
        }
        self.other_offset(slot, t)
    }

    /// [`ThreadStore::offset`] before the base is set, with whole times in the side map, or
    /// for a time that does not fit.
    #[inline(never)]
    fn other_offset(&mut self, slot: u32, t: i64) -> u32 {
        if !self.based && t != i64::MIN {
            self.base = t.saturating_sub(TIME_SLACK_MS);
            self.based = true;
        }
        if !self.far_last.is_empty() {
            self.far_last.remove(&slot);
        }
        match t
            .checked_sub(self.base)
            .and_then(|d| u32::try_from(d).ok())
            .filter(|&d| d != LAST_FAR && self.based)
        {
            Some(d) => d,
            None => {
                if t != i64::MIN {
                    self.far_last.insert(slot, t);
                }
                LAST_FAR
            }
        }
    }

    #[inline]
    fn pack(&mut self, slot: u32, s: &Slot) -> Stored {
        Stored {
            key: [s.key as u32, (s.key >> 32) as u32],
            last: self.offset(slot, s.last_ms),
            seq: s.seq,
            ids: s.ids,
            counts: self.counts_word(slot, s.followers, s.inbound),
        }
    }

    /// Moves the base of the stored times to `base` (rewriting every slot's offset).
    fn rebase(&mut self, base: i64) {
        let old = std::mem::take(&mut self.far_last);
        let old_base = std::mem::replace(&mut self.base, base);
        for i in 0..self.slots.len() {
            let off = self.slots[i].last;
            let t = match off {
                LAST_FAR => old.get(&(i as u32)).copied().unwrap_or(i64::MIN),
                _ => old_base + i64::from(off),
            };
            self.slots[i].last = self.offset(i as u32, t);
        }
    }

    /// Inserts a slot for a key that has none.
    pub fn insert(&mut self, s: Slot) -> u32 {
        let idx = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = self.pack(i, &s);
                i
            }
            None => {
                let i = self.slots.len() as u32;
                let p = self.pack(i, &s);
                self.slots.push(p);
                i
            }
        };
        let slots = &self.slots;
        self.table
            .insert(s.key, idx, slots.len(), || ThreadStore::entries(slots));
        self.recent = (FREE_KEY, NONE32);
        idx
    }

    pub fn remove(&mut self, slot: u32) {
        let key = self.slots[slot as usize].key();
        if key == FREE_KEY {
            return;
        }
        self.release_ids(slot);
        self.recent = (FREE_KEY, NONE32);
        let slots = &self.slots;
        self.table
            .remove(key, |i| i == slot, |j| slots[j as usize].key());
        self.slots[slot as usize] = self.pack(
            slot,
            &Slot {
                key: FREE_KEY,
                last_ms: i64::MIN,
                seq: 0,
                ids: IDS_BRAND_CONV,
                inbound: 0,
                followers: NONE32,
            },
        );
        self.free.push(slot);
    }

    /// Stores the id strings of a thread in the arena (replacing earlier ones).
    pub fn set_ids(&mut self, slot: u32, user: &str, opening: &str, response: &str) {
        self.release_ids(slot);
        let mut rec = std::mem::take(&mut self.scratch);
        rec.clear();
        for s in [user, opening, response] {
            put_id(&mut rec, s);
        }
        self.commit_record(slot, &rec);
        self.scratch = rec;
    }

    /// Replaces the first-response id of a thread slot, keeping its other ids.
    pub fn set_response(&mut self, slot: u32, response: &str) {
        let ids = self.slots[slot as usize].ids;
        if ids >= IDS_BRAND_CONV_PREV {
            return self.set_ids(slot, "", "", response);
        }
        let mut rec = std::mem::take(&mut self.scratch);
        rec.clear();
        let old = self.arena.at(ids as usize);
        let mut pos = 0;
        skip_id(old, &mut pos);
        skip_id(old, &mut pos);
        rec.extend_from_slice(&old[..pos.min(old.len())]);
        put_id(&mut rec, response);
        self.release_ids(slot);
        self.commit_record(slot, &rec);
        self.scratch = rec;
    }

    fn commit_record(&mut self, slot: u32, rec: &[u8]) {
        let mut off = self.arena.push(rec);
        if off >= IDS_BRAND_CONV_PREV as usize {
            // The arena outgrew 32-bit offsets: compact (only dead bytes could get it this
            // large; the record just written is not live yet), then write again.
            self.garbage += rec.len();
            self.compact();
            off = self.arena.push(rec);
        }
        // Still too large only if the live ids alone exceed 4 GiB: the thread keeps no ids.
        self.slots[slot as usize].ids = u32::try_from(off)
            .ok()
            .filter(|&o| o < IDS_BRAND_CONV_PREV)
            .unwrap_or(IDS_BRAND_CONV_PREV);
    }

    /// Marks a slot's strings dead and turns it into a brand conversation marker.
    pub fn release_ids(&mut self, slot: u32) {
        let ids = self.slots[slot as usize].ids;
        if ids < IDS_BRAND_CONV_PREV {
            self.garbage += self.record_len(ids as usize);
            self.slots[slot as usize].ids = IDS_BRAND_CONV_PREV;
        }
    }

    fn record_len(&self, off: usize) -> usize {
        let rec = self.arena.at(off);
        let mut pos = 0;
        for _ in 0..3 {
            skip_id(rec, &mut pos);
        }
        pos.min(rec.len())
    }

    /// `(user_id, opening_item_id, first_response_item_id)` of a thread slot.
    pub fn ids(&self, slot: u32) -> (PlatformId, PlatformId, PlatformId) {
        let ids = self.slots[slot as usize].ids;
        if ids >= IDS_BRAND_CONV_PREV {
            return Default::default();
        }
        self.ids_at(ids as usize)
    }

    fn ids_at(&self, off: usize) -> (PlatformId, PlatformId, PlatformId) {
        let rec = self.arena.at(off);
        let mut pos = 0;
        let a = get_id(rec, &mut pos);
        let b = get_id(rec, &mut pos);
        let c = get_id(rec, &mut pos);
        (a, b, c)
    }

    /// Rewrites an arena written by snapshot layout 1 (every id as length + bytes) in the
    /// current encoding.
    pub fn upgrade_v1_arena(&mut self) {
        let old = std::mem::take(&mut self.arena);
        self.garbage = 0;
        let mut rec = Vec::new();
        for i in 0..self.slots.len() {
            let ids = self.slots[i].ids;
            if self.slots[i].key() == FREE_KEY || ids >= IDS_BRAND_CONV_PREV {
                continue;
            }
            let src = old.at(ids as usize);
            let mut pos = 0;
            rec.clear();
            for _ in 0..3 {
                let n = get_varint(src, &mut pos);
                let end = pos.saturating_add(n).min(src.len());
                put_id(
                    &mut rec,
                    std::str::from_utf8(&src[pos.min(end)..end]).unwrap_or(""),
                );
                pos = end;
            }
            let off = self.arena.push(&rec);
            self.slots[i].ids = u32::try_from(off).unwrap_or(IDS_BRAND_CONV_PREV);
        }
    }

    /// The inverse of [`ThreadStore::upgrade_v1_arena`], to test restoring old snapshots.
    #[cfg(test)]
    pub fn downgrade_to_v1_arena(&mut self) {
        let mut fresh = Vec::new();
        for i in 0..self.slots.len() {
            let ids = self.slots[i].ids;
            if self.slots[i].key() == FREE_KEY || ids >= IDS_BRAND_CONV_PREV {
                continue;
            }
            let (a, b, c) = self.ids_at(ids as usize);
            self.slots[i].ids = fresh.len() as u32;
            for s in [a, b, c].map(|id| id.to_string()) {
                put_varint(&mut fresh, s.len());
                fresh.extend_from_slice(s.as_bytes());
            }
        }
        self.arena = IdArena::from_flat(fresh);
        self.garbage = 0;
    }

    /// Rewrites the arena without dead records once they outweigh live ones.
    pub fn maybe_compact(&mut self) {
        if self.garbage > 1 << 16 && self.garbage * 2 > self.arena.used {
            self.compact();
        }
    }

    fn compact(&mut self) {
        let mut fresh = IdArena::default();
        for i in 0..self.slots.len() {
            let ids = self.slots[i].ids;
            if self.slots[i].key() == FREE_KEY || ids >= IDS_BRAND_CONV_PREV {
                continue;
            }
            let len = self.record_len(ids as usize);
            let off = fresh.push(&self.arena.at(ids as usize)[..len]);
            self.slots[i].ids = u32::try_from(off).unwrap_or(IDS_BRAND_CONV_PREV);
        }
        self.arena = fresh;
        self.garbage = 0;
    }

    /// Live slot numbers, in slab order (deterministic).
    pub fn live_slots(&self) -> Vec<u32> {
        ThreadStore::entries(&self.slots).map(|(i, _)| i).collect()
    }

    /// Appends to `out` every live slot whose last item is more than `gap` before `t`
    /// (the housekeeping sweep's candidates), reading the slots chunk by chunk. First moves
    /// the base of the stored times up if `t` is far past it.
    pub fn silent_slots(&mut self, t: i64, gap: i64, out: &mut Vec<u32>) {
        if self.based && t.saturating_sub(self.base) > REBASE_LAG_MS {
            self.rebase(t.saturating_sub(TIME_SLACK_MS));
        }
        // `t - (base + off) > gap` is `off < t - gap - base`: one compare per slot against
        // a bound clamped to `LAST_FAR` (exact: every offset is below it, and `LAST_FAR` itself
        // never passes). Freed slots and whole times (`LAST_FAR`) take the other branch.
        let bound = (i128::from(t) - i128::from(gap) - i128::from(self.base))
            .clamp(0, i128::from(LAST_FAR)) as u32;
        let mut first = 0;
        for recs in self.slots.slices() {
            for (j, s) in recs.iter().enumerate() {
                if s.last < bound {
                    if s.key() != FREE_KEY {
                        out.push((first + j) as u32);
                    }
                } else if s.last == LAST_FAR
                    && s.key() != FREE_KEY
                    && t - self.far_last_of((first + j) as u32) > gap
                {
                    out.push((first + j) as u32);
                }
            }
            first += recs.len();
        }
    }

    /// Heap bytes held by the store (capacities).
    pub fn heap_bytes(&self) -> usize {
        self.slots.heap_bytes()
            + self.far_last.capacity() * 17
            + self.far_counts.capacity() * 13
            + self.free.capacity() * 4
            + self.table.heap_bytes()
            + self.arena.heap_bytes()
            + self.scratch.capacity()
    }
}

// ---- cohort records ----

pub mod flag {
    pub const AWAITING: u16 = 1;
    pub const ANSWERED: u16 = 1 << 1;
    pub const CLOSED: u16 = 1 << 2;
    pub const ACKED: u16 = 1 << 3;
    pub const BREACHING: u16 = 1 << 4;
    pub const RETURNED: u16 = 1 << 5;
    pub const MOVED_PRIVATE: u16 = 1 << 6;
    pub const PRIVATE: u16 = 1 << 7;
    pub const DIRTY: u16 = 1 << 8;
    pub const SLA_DONE: u16 = 1 << 9;
    /// The thread's slot was removed: its row is final.
    pub const DETACHED: u16 = 1 << 10;
}

/// Outcome of one thread. Offsets are milliseconds after `opened_ms` (`NONE32` = not yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CohortRec {
    pub opened_ms: i64,
    pub bp: u32,
    pub slot: u32,
    pub resp: u32,
    pub ack: u32,
    /// SLA deadline, seconds after `opened_ms`.
    pub sla_s: u32,
    pub flags: u16,
    pub band: u8,
}

impl CohortRec {
    pub fn has(&self, f: u16) -> bool {
        self.flags & f != 0
    }
}

/// A [`CohortRec`] as stored: 24 bytes instead of 32. `opened_ms` is an offset from the
/// opening time of its chunk's first record (threads open in event-time order, so a chunk
/// spans minutes to hours), and `bp`, `flags` and `band` share one word. What does not fit
/// (an offset of 2^32 − 1 ms or more, or outside the order; a `bp` of 2^18 − 1 or more) is
/// kept whole in a side map by sequence number, so every record reads back exactly.
#[derive(Debug, Clone, Copy)]
struct Packed {
    off: u32,
    slot: u32,
    resp: u32,
    ack: u32,
    sla_s: u32,
    /// `bp` in the low 18 bits, `flags` (11 bits) above it, `band` (3 bits) on top.
    meta: u32,
}

const BP_BITS: u32 = 18;
const BP_FAR: u32 = (1 << BP_BITS) - 1;
const FLAG_BITS: u32 = 11;
/// `meta`'s flag bits, in place.
const FLAG_MASK: u32 = ((1 << FLAG_BITS) - 1) << BP_BITS;
const OFF_FAR: u32 = u32::MAX;

impl Packed {
    #[inline(always)]
    fn flags(&self) -> u16 {
        ((self.meta & FLAG_MASK) >> BP_BITS) as u16
    }
}

/// Thread outcomes in opening order, addressed by a 64-bit sequence number.
#[derive(Debug, Clone, Default)]
pub struct Cohort {
    pub base: u64,
    recs: ChunkDeque<Packed>,
    /// `opened_ms` of the first record pushed into each chunk of `recs`.
    chunk_ms: Vec<i64>,
    /// `opened_ms` of records whose offset does not fit, by sequence number.
    far_ms: FastMap<u64, i64>,
    /// `bp` of records whose `bp` does not fit, by sequence number.
    far_bp: FastMap<u64, u32>,
}

impl Cohort {
    pub fn next_seq(&self) -> u64 {
        self.base + self.recs.len() as u64
    }

    pub fn len(&self) -> usize {
        self.recs.len()
    }

    pub fn push(&mut self, r: CohortRec) -> u64 {
        debug_assert!(u32::from(r.flags) < 1 << FLAG_BITS && r.band < 8);
        let seq = self.next_seq();
        let chunk = self.recs.chunk_of(self.recs.len());
        if chunk >= self.chunk_ms.len() {
            self.chunk_ms.push(r.opened_ms);
        }
        let off = r
            .opened_ms
            .checked_sub(self.chunk_ms[chunk])
            .and_then(|d| u32::try_from(d).ok())
            .filter(|&d| d != OFF_FAR)
            .unwrap_or_else(|| {
                self.far_ms.insert(seq, r.opened_ms);
                OFF_FAR
            });
        let bp = if r.bp < BP_FAR {
            r.bp
        } else {
            self.far_bp.insert(seq, r.bp);
            BP_FAR
        };
        self.recs.push_back(Packed {
            off,
            slot: r.slot,
            resp: r.resp,
            ack: r.ack,
            sla_s: r.sla_s,
            meta: bp | Self::meta_of(&r),
        });
        seq
    }

    #[inline]
    fn meta_of(r: &CohortRec) -> u32 {
        (u32::from(r.flags) << BP_BITS) | (u32::from(r.band) << (BP_BITS + FLAG_BITS))
    }

    /// Forgets the oldest record.
    pub fn pop_front(&mut self) {
        if let Some(p) = self.recs.pop_front() {
            if p.off == OFF_FAR {
                self.far_ms.remove(&self.base);
            }
            if p.meta & BP_FAR == BP_FAR {
                self.far_bp.remove(&self.base);
            }
            self.base += 1;
            if self.chunk_ms.len() > self.recs.chunk_count() {
                self.chunk_ms.remove(0);
            }
        }
    }

    /// Whether the record `seq` is kept (pushed and not yet popped).
    #[inline(always)]
    pub fn holds(&self, seq: u64) -> bool {
        seq.wrapping_sub(self.base) < self.recs.len() as u64
    }

    /// The full sequence number of a stored low-32-bit one, if that record is still kept.
    pub fn resolve(&self, low: u32) -> Option<u64> {
        let off = low.wrapping_sub(self.base as u32);
        ((off as usize) < self.recs.len()).then(|| self.base + u64::from(off))
    }

    #[inline(always)]
    fn opened_at(&self, seq: u64, i: usize, p: &Packed) -> i64 {
        if p.off == OFF_FAR {
            self.far_ms.get(&seq).copied().unwrap_or(0)
        } else {
            self.chunk_ms[self.recs.chunk_of(i)] + i64::from(p.off)
        }
    }

    /// `opened_ms` of a kept record.
    #[inline]
    pub fn opened_ms(&self, seq: u64) -> Option<i64> {
        let i = seq.checked_sub(self.base)? as usize;
        let p = self.recs.get(i)?;
        Some(self.opened_at(seq, i, p))
    }

    #[inline(always)]
    pub fn get(&self, seq: u64) -> Option<CohortRec> {
        let i = seq.checked_sub(self.base)? as usize;
        let p = self.recs.get(i)?;
        let bp = match p.meta & BP_FAR {
            BP_FAR => self.far_bp.get(&seq).copied().unwrap_or(BP_FAR),
            bp => bp,
        };
        Some(CohortRec {
            opened_ms: self.opened_at(seq, i, p),
            bp,
            slot: p.slot,
            resp: p.resp,
            ack: p.ack,
            sla_s: p.sla_s,
            flags: p.flags(),
            band: (p.meta >> (BP_BITS + FLAG_BITS)) as u8,
        })
    }

    /// Changes a kept record through `f`, which may change every field but `opened_ms` and
    /// `bp`; returns what `f` returns, or `None` if the record is gone.
    #[inline]
    pub fn update<R>(&mut self, seq: u64, f: impl FnOnce(&mut CohortRec) -> R) -> Option<R> {
        let mut r = self.get(seq)?;
        let (opened, bp) = (r.opened_ms, r.bp);
        let out = f(&mut r);
        debug_assert!(r.opened_ms == opened && r.bp == bp);
        debug_assert!(u32::from(r.flags) < 1 << FLAG_BITS && r.band < 8);
        let i = (seq - self.base) as usize;
        let p = self.recs.get_mut(i)?;
        p.slot = r.slot;
        p.resp = r.resp;
        p.ack = r.ack;
        p.sla_s = r.sla_s;
        p.meta = (p.meta & BP_FAR) | Self::meta_of(&r);
        Some(out)
    }

    /// The flags of a kept record (no unpacking of the other fields).
    #[inline]
    pub fn flags(&self, seq: u64) -> Option<u16> {
        let p = self.recs.get(seq.checked_sub(self.base)? as usize)?;
        Some(p.flags())
    }

    /// Changes only the flags of a kept record (no unpacking of the other fields); returns
    /// the flags before, or `None` if the record is gone.
    #[inline]
    pub fn update_flags(&mut self, seq: u64, f: impl FnOnce(u16) -> u16) -> Option<u16> {
        let i = seq.checked_sub(self.base)? as usize;
        let p = self.recs.get_mut(i)?;
        let old = p.flags();
        let new = f(old);
        debug_assert!(u32::from(new) < 1 << FLAG_BITS);
        p.meta = (p.meta & !FLAG_MASK) | (u32::from(new) << BP_BITS);
        Some(old)
    }

    pub fn heap_bytes(&self) -> usize {
        self.recs.heap_bytes()
            + self.chunk_ms.capacity() * 8
            + self.far_ms.capacity() * 17
            + self.far_bp.capacity() * 13
    }

    fn iter(&self) -> impl Iterator<Item = CohortRec> + '_ {
        (0..self.recs.len() as u64).filter_map(move |i| self.get(self.base + i))
    }
}

/// Snapshots keep the layout of the plain form: `base`, then every record whole.
#[derive(Serialize)]
struct CohortOut<'a> {
    base: u64,
    recs: RecsOut<'a>,
}

struct RecsOut<'a>(&'a Cohort);

impl Serialize for RecsOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_seq(self.0.len(), self.0.iter(), s)
    }
}

#[derive(Deserialize)]
struct CohortIn {
    base: u64,
    recs: Vec<CohortRec>,
}

impl Serialize for Cohort {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        CohortOut {
            base: self.base,
            recs: RecsOut(self),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Cohort {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = CohortIn::deserialize(d)?;
        let mut c = Cohort {
            base: r.base,
            ..Cohort::default()
        };
        for rec in r.recs {
            c.push(rec);
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    fn slot(key: u64) -> Slot {
        Slot {
            key,
            last_ms: 5,
            seq: 0,
            ids: IDS_BRAND_CONV,
            inbound: 1,
            followers: NONE32,
        }
    }

    /// Values around every digit-count and varint-length boundary, plus a spread of others.
    fn boundary_numbers() -> Vec<u64> {
        let mut v = vec![0, 1, 9, 10, 99, 100, u64::MAX, u64::MAX - 1, (1 << 63) - 1];
        let mut p = 1u64;
        for _ in 0..19 {
            p *= 10;
            v.extend([p - 1, p, p + 1]);
        }
        for b in 0..64 {
            v.extend([(1u64 << b) - 1, 1 << b, (1u64 << b) + 1]);
        }
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v.push(x >> (x % 64));
        }
        v
    }

    /// The plain definition of a canonical number, for the 8-digit-group parser.
    fn canonical_plain(s: &str) -> Option<u64> {
        let ok = !s.is_empty()
            && s.len() <= 19
            && s.bytes().all(|c| c.is_ascii_digit())
            && !(s.starts_with('0') && s.len() > 1);
        ok.then(|| s.parse::<u64>().ok())
            .flatten()
            .filter(|&n| n < 1 << 63)
    }

    #[test]
    fn canonical_number_matches_the_plain_form() {
        let mut cases: Vec<String> = boundary_numbers().iter().map(u64::to_string).collect();
        for n in boundary_numbers().into_iter().step_by(97) {
            let t = n.to_string();
            // One byte replaced by each byte that neighbours the digits or spoils them.
            for (k, bad) in [b'/', b':', b'0' + 0x80, b' ', b'a', b'\0', 0x36 + 0x40]
                .into_iter()
                .enumerate()
            {
                let mut v = t.clone().into_bytes();
                let at = (n as usize + k) % v.len();
                v[at] = bad;
                if let Ok(s) = String::from_utf8(v) {
                    cases.push(s);
                }
            }
            cases.push(format!("0{t}"));
            cases.push(format!("{t}0"));
        }
        cases.extend(
            ["", "0", "00", "9223372036854775807", "9223372036854775808"].map(String::from),
        );
        for c in &cases {
            assert_eq!(canonical_number(c), canonical_plain(c), "{c:?}");
        }
    }

    #[test]
    fn fast_varint_matches_the_byte_loop() {
        for n in boundary_numbers() {
            let v = n as usize;
            let mut buf = vec![0xAA];
            put_varint(&mut buf, v);
            let enc_len = buf.len() - 1;
            // Followed by nothing, by a few bytes, and by enough for the 8-byte load.
            for tail in [0usize, 3, 9] {
                let mut b = buf.clone();
                b.extend(std::iter::repeat_n(0x81u8, tail));
                let (mut p1, mut p2) = (1, 1);
                assert_eq!(get_varint(&b, &mut p1), v);
                assert_eq!(get_varint_tail(&b, &mut p2, 0), v);
                assert_eq!((p1, p2), (1 + enc_len, 1 + enc_len));
            }
        }
        // Malformed input (a run of continuation bytes, a truncated varint) decodes as the
        // byte loop does.
        for len in 0..14 {
            let mut b = vec![0xFFu8; len];
            for last in [None, Some(0x05u8)] {
                b.extend(last);
                for start in 0..=b.len() {
                    let (mut p1, mut p2) = (start, start);
                    assert_eq!(get_varint(&b, &mut p1), get_varint_tail(&b, &mut p2, 0));
                    assert_eq!(p1, p2);
                }
            }
        }
    }

    /// The chunked arena against a plain map of id triples: writes, response updates,
    /// removals, ids longer than a chunk, compaction, snapshots (chunk ends padded), and the
    /// restore of a flat arena whose records straddle chunk boundaries (the pre-chunk form).
    #[test]
    fn chunked_arena_matches_the_plain_form() {
        use std::collections::BTreeMap;
        let mut st = ThreadStore::default();
        let mut plain: BTreeMap<u32, (String, String, String)> = BTreeMap::new();
        let check = |st: &ThreadStore, plain: &BTreeMap<u32, (String, String, String)>| {
            for (&i, (u, o, r)) in plain {
                let (a, b, c) = st.ids(i);
                assert_eq!(
                    (a, b, c),
                    (u.as_str().into(), o.as_str().into(), r.as_str().into())
                );
            }
        };
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let id = |v: u64| match v % 5 {
            0 => (v >> 4).to_string(),
            1 => format!("{}", 1_000_000_000_000_000_000 + (v >> 8) % 1_000_000_000),
            2 => format!("t1_{:x}", v >> 20),
            3 => String::new(),
            _ => format!("{}_{}", v >> 40, v % 97),
        };
        let huge = "x".repeat(ARENA_CHUNK + 123);
        let mut keys = Vec::new();
        let mut most_chunks = 0;
        for round in 0..4u64 {
            for k in 0..6_000u64 {
                let key = (round * 6_000 + k) * 2 + 1;
                let i = st.insert(slot(key));
                keys.push((key, i));
                let (u, o) = (id(next()), id(next()));
                st.set_ids(i, &u, &o, "");
                plain.insert(i, (u, o, String::new()));
            }
            if round == 2 {
                let (_, i) = keys[17];
                st.set_ids(i, &huge, "1", &huge);
                plain.insert(i, (huge.clone(), "1".into(), huge.clone()));
            }
            for _ in 0..4_000 {
                let n = (next() % keys.len() as u64) as usize;
                let (key, i) = keys[n];
                if st.find(key) != Some(i) {
                    continue;
                }
                if next() % 3 == 0 {
                    st.remove(i);
                    plain.remove(&i);
                    keys.swap_remove(n);
                } else {
                    let r = id(next());
                    st.set_response(i, &r);
                    plain.get_mut(&i).unwrap().2 = r;
                }
            }
            check(&st, &plain);
            st.maybe_compact();
            check(&st, &plain);
            most_chunks = most_chunks.max(st.arena.chunks.len());
            let bytes = postcard::to_stdvec(&st).unwrap();
            st = postcard::from_bytes(&bytes).unwrap();
            check(&st, &plain);
        }
        assert!(most_chunks > 2);

        // A flat arena as written before chunks: records back to back across offsets
        // 65,536 and beyond.
        let mut flat = Vec::new();
        let mut slots: Vec<Slot> = (0..st.slots.len() as u32).map(|i| st.get(i)).collect();
        for (&i, (u, o, r)) in &plain {
            slots[i as usize].ids = flat.len() as u32;
            for s in [u, o, r] {
                put_id(&mut flat, s);
            }
        }
        assert!(flat.len() > 3 * ARENA_CHUNK);
        let old = ThreadStoreOut {
            slots: &slots,
            free: &st.free,
            arena: flat,
            garbage: 0,
        };
        let mut back: ThreadStore =
            postcard::from_bytes(&postcard::to_stdvec(&old).unwrap()).unwrap();
        check(&back, &plain);
        let i = *plain.keys().next().unwrap();
        back.set_response(i, "99");
        plain.get_mut(&i).unwrap().2 = "99".into();
        check(&back, &plain);
        back.compact();
        check(&back, &plain);
        assert!(back.arena.flat.is_empty());
    }

    #[test]
    fn layout_is_compact() {
        assert_eq!(std::mem::size_of::<Stored>(), 24);
        assert_eq!(std::mem::size_of::<Packed>(), 24);
    }

    /// Slot times and counts read back exactly (offsets, times far either side of the base,
    /// counts past their bits, freed slots) through base moves by the sweep, which finds the slots a plain vector of
    /// `Slot`s would; a snapshot has the bytes of that vector and restores it.
    #[test]
    fn slot_times_read_back_exactly_through_rebases() {
        let free = Slot {
            key: FREE_KEY,
            last_ms: i64::MIN,
            seq: 0,
            ids: IDS_BRAND_CONV,
            inbound: 0,
            followers: NONE32,
        };
        let mut st = ThreadStore::default();
        let mut plain: Vec<Slot> = Vec::new();
        let mut x = 9u64;
        let mut now = 1_700_000_000_000i64;
        let gap = 3_600_000;
        let mut rebases = 0;
        for round in 0..40_000u64 {
            x = crate::hash::fmix64(x.wrapping_add(round));
            now += (x % 20_000_000) as i64;
            let t = match x % 13 {
                0 => now - 40 * 86_400_000,
                1 => now + 30 * 86_400_000,
                2 => i64::MIN / 2,
                3 => i64::MAX / 2,
                _ => now - (x % 3_600_000) as i64,
            };
            let key = x % 700 + 1;
            match st.find(key) {
                Some(i) if x % 7 == 0 => {
                    st.remove(i);
                    plain[i as usize] = free;
                }
                Some(i) if x % 2 == 0 => {
                    st.set_last_ms(i, t);
                    plain[i as usize].last_ms = t;
                }
                Some(i) => {
                    let f = |s: &mut Slot| {
                        s.last_ms = t;
                        s.inbound = s.inbound.saturating_add(1);
                        if s.followers == NONE32 {
                            s.followers = (x >> 40) as u32;
                        }
                    };
                    st.update(i, f);
                    f(&mut plain[i as usize]);
                }
                None => {
                    let followers = [
                        NONE32,
                        (x >> 40) as u32 % 1_000,
                        (x >> 32) as u32,
                        FOLLOWERS_NONE,
                        FOLLOWERS_FAR,
                        FOLLOWERS_NONE - 1,
                    ][(x >> 8) as usize % 6];
                    let inbound = [1, 2, INBOUND_FAR - 1, INBOUND_FAR, u32::MAX - 1, 7]
                        [(x >> 16) as usize % 6];
                    let s = Slot {
                        last_ms: t,
                        followers,
                        inbound,
                        ..slot(key)
                    };
                    let i = st.insert(s) as usize;
                    if i == plain.len() {
                        plain.push(s);
                    } else {
                        plain[i] = s;
                    }
                }
            }
            if round % 200 == 0 {
                let base = st.base;
                let mut out = Vec::new();
                st.silent_slots(now, gap, &mut out);
                rebases += usize::from(st.base != base);
                let want: Vec<u32> = (0..plain.len() as u32)
                    .filter(|&i| {
                        let s = &plain[i as usize];
                        s.key != FREE_KEY && now - s.last_ms > gap
                    })
                    .collect();
                assert_eq!(out, want);
                for (i, s) in plain.iter().enumerate() {
                    assert_eq!(st.get(i as u32), *s);
                }
            }
        }
        assert!(rebases > 3 && !st.far_last.is_empty() && !st.far_counts.is_empty());
        let bytes = postcard::to_stdvec(&st).unwrap();
        let old = ThreadStoreOut {
            slots: &plain,
            free: &st.free,
            arena: st.arena.to_flat(),
            garbage: st.garbage,
        };
        assert_eq!(bytes, postcard::to_stdvec(&old).unwrap());
        let back: ThreadStore = postcard::from_bytes(&bytes).unwrap();
        for (i, s) in plain.iter().enumerate() {
            assert_eq!(back.get(i as u32), *s);
            if s.key != FREE_KEY {
                assert_eq!(back.find(s.key), Some(i as u32));
            }
        }
    }

    #[test]
    fn insert_find_remove_and_ids_survive_compaction() {
        let mut st = ThreadStore::default();
        let mut idx = Vec::new();
        for k in 1..2000u64 {
            let i = st.insert(slot(k * 2 + 1));
            st.set_ids(i, &format!("user{k}"), &format!("open{k}"), "");
            idx.push(i);
        }
        for (n, &i) in idx.iter().enumerate() {
            if n % 2 == 0 {
                st.remove(i);
            } else {
                st.set_ids(i, &format!("user{}", n + 1), "o", "resp");
            }
        }
        st.compact();
        assert_eq!(st.len(), 999);
        for (n, &i) in idx.iter().enumerate() {
            let key = (n as u64 + 1) * 2 + 1;
            if n % 2 == 0 {
                assert_eq!(st.find(key), None);
            } else {
                assert_eq!(st.find(key), Some(i));
                let (u, o, r) = st.ids(i);
                assert_eq!(
                    (u.to_string(), o.to_string(), r.to_string()),
                    (format!("user{}", n + 1), "o".into(), "resp".into())
                );
            }
        }
        let bytes = postcard::to_stdvec(&st).unwrap();
        let back: ThreadStore = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back.find(5), st.find(5));
        assert_eq!(back.len(), st.len());
    }

    /// The remembered last lookup never answers differently from the table, through
    /// inserts and removals of that key.
    #[test]
    fn find_recent_matches_find() {
        let mut st = ThreadStore::default();
        let mut x = 5u64;
        for round in 0..20_000u64 {
            x = crate::hash::fmix64(x.wrapping_add(round));
            let key = x % 300 + 1;
            assert_eq!(st.find_recent(key), st.find(key));
            match (x >> 20) % 3 {
                0 if st.find(key).is_none() => {
                    st.insert(slot(key));
                }
                1 => {
                    if let Some(i) = st.find(key) {
                        st.remove(i);
                    }
                }
                _ => {}
            }
            assert_eq!(st.find_recent(key), st.find(key));
        }
    }

    #[test]
    fn ids_round_trip_in_both_encodings() {
        let cases = [
            "",
            "0",
            "7",
            "007",
            "1000000000123",
            "1850000000000000001",
            "9223372036854775807",
            "9223372036854775808",
            "18446744073709551615",
            "-5",
            "17841400000000000_1",
            "t1_abc",
            "Émilie",
        ];
        let mut st = ThreadStore::default();
        let mut slots = Vec::new();
        for (k, c) in cases.iter().enumerate() {
            let i = st.insert(slot(k as u64 * 2 + 3));
            st.set_ids(i, c, cases[(k + 1) % cases.len()], "");
            st.set_response(i, cases[(k + 2) % cases.len()]);
            slots.push(i);
        }
        let check = |st: &ThreadStore| {
            for (k, &i) in slots.iter().enumerate() {
                let n = cases.len();
                let want = (
                    PlatformId::new(cases[k]),
                    PlatformId::new(cases[(k + 1) % n]),
                    PlatformId::new(cases[(k + 2) % n]),
                );
                assert_eq!(st.ids(i), want);
            }
        };
        check(&st);
        st.downgrade_to_v1_arena();
        st.upgrade_v1_arena();
        check(&st);
        st.compact();
        check(&st);
    }

    /// The packed cohort reads back like a plain deque of records, across offsets and `bp`s
    /// that do and do not fit, and snapshots keep the plain form's bytes.
    #[test]
    fn cohort_behaves_like_a_deque_of_records() {
        #[derive(Serialize)]
        struct Plain<'a> {
            base: u64,
            recs: &'a VecDeque<CohortRec>,
        }
        let mut c = Cohort::default();
        let mut want: VecDeque<CohortRec> = VecDeque::new();
        let mut base = 0u64;
        let mut x = 11u64;
        let mut t = 1_700_000_000_000i64;
        for round in 0..20_000u64 {
            x = crate::hash::fmix64(x.wrapping_add(round));
            match x % 10 {
                0..=5 => {
                    t += (x % 5_000) as i64;
                    let opened_ms = match x % 97 {
                        0 => t + 60 * 86_400_000,
                        1 => i64::MIN + (x % 7) as i64,
                        2 => t - 3,
                        3 => {
                            t += 50 * 86_400_000;
                            t
                        }
                        _ => t,
                    };
                    let r = CohortRec {
                        opened_ms,
                        bp: if x % 89 == 0 {
                            u32::MAX - (x % 3) as u32
                        } else {
                            (x % 300) as u32
                        },
                        slot: (x >> 20) as u32,
                        resp: NONE32,
                        ack: NONE32,
                        sla_s: (x >> 40) as u32,
                        flags: flag::AWAITING,
                        band: (x % 5) as u8,
                    };
                    assert_eq!(c.push(r), base + want.len() as u64);
                    want.push_back(r);
                }
                6 | 7 if !want.is_empty() => {
                    let i = (x >> 8) as usize % want.len();
                    let seq = base + i as u64;
                    let w = &mut want[i];
                    w.flags ^= flag::ANSWERED | (1 << 10);
                    w.resp = (x >> 30) as u32;
                    w.band = ((x >> 3) % 5) as u8;
                    let w = *w;
                    c.update(seq, |r| {
                        r.resp = w.resp;
                        r.band = w.band;
                    });
                    c.update_flags(seq, |_| w.flags);
                }
                _ => {
                    if want.pop_front().is_some() {
                        base += 1;
                    }
                    c.pop_front();
                }
            }
            assert_eq!(c.next_seq(), base + want.len() as u64);
            let probe = base + (x >> 12) % (want.len() as u64 + 2);
            assert_eq!(
                c.get(probe),
                probe
                    .checked_sub(base)
                    .and_then(|i| want.get(i as usize).copied())
            );
            assert_eq!(c.opened_ms(probe), c.get(probe).map(|r| r.opened_ms));
        }
        assert!(c.iter().eq(want.iter().copied()));
        assert!(!c.far_ms.is_empty() && !c.far_bp.is_empty());
        let bytes = postcard::to_stdvec(&c).unwrap();
        assert_eq!(
            bytes,
            postcard::to_stdvec(&Plain { base, recs: &want }).unwrap()
        );
        let back: Cohort = postcard::from_bytes(&bytes).unwrap();
        assert!(back.iter().eq(want.iter().copied()));
        assert_eq!(back.base, base);
    }

    #[test]
    fn cohort_resolves_only_kept_records() {
        let mut c = Cohort::default();
        for i in 0..5 {
            c.push(CohortRec {
                opened_ms: i,
                bp: 0,
                slot: 0,
                resp: NONE32,
                ack: NONE32,
                sla_s: 0,
                flags: 0,
                band: 0,
            });
        }
        c.pop_front();
        assert_eq!(c.resolve(0), None);
        assert_eq!(c.resolve(3), Some(3));
        assert_eq!(c.resolve(5), None);
        assert_eq!(c.get(4).map(|r| r.opened_ms), Some(4));
    }
}
