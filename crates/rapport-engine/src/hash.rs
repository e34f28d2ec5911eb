//! Stable 64-bit hashing. Thread ids, dedup keys and SimHash shingles must be identical across
//! processes, restarts and Rust releases, so nothing here uses `std`'s randomly seeded or
//! unspecified hashers. It is not collision-resistant against an adversary; the inputs are
//! platform ids and message text, and a collision only merges two counters. [`FastHasher`] is
//! the cheap hasher of the engine's in-memory maps only (deterministic too, but free to change:
//! its values are never stored or emitted).

use std::hash::{BuildHasher, Hasher};

const MUL: u64 = 0x9E37_79B9_7F4A_7C15;

/// Murmur3's 64-bit finalizer: spreads every input bit over the whole word.
#[inline]
pub fn fmix64(mut z: u64) -> u64 {
    z ^= z >> 33;
    z = z.wrapping_mul(0xff51_afd7_ed55_8ccd);
    z ^= z >> 33;
    z = z.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    z ^ (z >> 33)
}

/// A word-at-a-time hasher with a strong finalizer, fixed forever.
#[derive(Debug, Clone, Copy, Default)]
pub struct StableHasher {
    state: u64,
    len: u64,
}

impl StableHasher {
    pub fn with_seed(seed: u64) -> Self {
        StableHasher {
            state: seed,
            len: 0,
        }
    }

    /// Full avalanche per word: a cheaper multiply-xor chain let structured keys (brand ×
    /// numeric user id) collide measurably at a million keys.
    #[inline]
    fn mix_word(&mut self, w: u64) {
        self.state = fmix64(self.state ^ w).wrapping_add(MUL);
    }
}

impl Hasher for StableHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.mix_word(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            // The length byte keeps "ab" and "ab\0" apart.
            let w = tail_word(bytes) ^ ((rest.len() as u64) << 56);
            self.mix_word(w ^ 0xA5);
        }
        self.len = self.len.wrapping_add(bytes.len() as u64);
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.mix_word(u64::from(i) | 0x1_0000_0000);
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.mix_word(u64::from(i) | 0x2_0000_0000_0000);
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.mix_word(i);
    }

    #[inline]
    fn finish(&self) -> u64 {
        fmix64(self.state ^ self.len.wrapping_mul(MUL))
    }
}

/// The last `len % 8` (1 to 7) bytes of `bytes`, little-endian, zero-padded. From 8 bytes
/// on, one overlapping load of the last 8 shifted down (no variable-length copy: this runs
/// for every SimHash shingle).
#[inline]
fn tail_word(bytes: &[u8]) -> u64 {
    let rest = bytes.len() % 8;
    debug_assert!(rest != 0);
    if bytes.len() >= 8 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[bytes.len() - 8..]);
        u64::from_le_bytes(w) >> (8 * (8 - rest))
    } else {
        let mut w = [0u8; 8];
        w[..rest].copy_from_slice(bytes);
        u64::from_le_bytes(w)
    }
}

/// Hasher of the engine's in-memory maps, whose keys are mostly already 64-bit hashes or
/// small packed integers. One folded 64×64→128-bit multiply per word mixes both ends of the
/// result (hashbrown takes the bucket from the low bits and the tag from the top 7), at a
/// fraction of [`StableHasher`]'s two-finalizer cost. Hash values never leave the process and
/// iteration order never reaches a row, so this may change freely, unlike `StableHasher`.
#[derive(Debug, Clone, Copy, Default)]
pub struct FastHasher(u64);

impl FastHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        let m = u128::from(self.0 ^ w) * u128::from(MUL);
        self.0 = (m as u64) ^ ((m >> 64) as u64);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        self.add(u64::from_le_bytes(w) ^ ((bytes.len() as u64) << 56));
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct BuildFast;

impl BuildHasher for BuildFast {
    type Hasher = FastHasher;
    #[inline]
    fn build_hasher(&self) -> FastHasher {
        FastHasher::default()
    }
}

pub type FastMap<K, V> = std::collections::HashMap<K, V, BuildFast>;

/// Hash of one string.
#[inline]
pub fn hash_str(s: &str) -> u64 {
    let mut h = StableHasher::with_seed(0x5EED_0001);
    h.write(s.as_bytes());
    h.finish()
}

/// Hash of one byte string with a domain seed (shingles, exact-text keys).
#[inline]
pub fn hash_bytes(seed: u64, b: &[u8]) -> u64 {
    let mut h = StableHasher::with_seed(seed);
    h.write(b);
    h.finish()
}

/// [`hash_bytes`] of the ASCII-lowercased bytes: the reference definition that
/// [`hash_word_lower`] must agree with.
#[cfg(test)]
pub fn hash_ascii_lower(seed: u64, b: &[u8]) -> u64 {
    let mut h = StableHasher::with_seed(seed);
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        w.make_ascii_lowercase();
        h.mix_word(u64::from_le_bytes(w));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        w.make_ascii_lowercase();
        w[7] ^= rest.len() as u8;
        h.mix_word(u64::from_le_bytes(w) ^ 0xA5);
    }
    h.len = b.len() as u64;
    h.finish()
}

/// Little-endian load of a word of at most 8 bytes made of ASCII letters and apostrophes,
/// lowercased. For those bytes lowercasing is setting bit 5 (an apostrophe has it already),
/// so no byte-wise case mapping is needed.
#[inline]
pub fn load_word_lower(b: &[u8]) -> u64 {
    debug_assert!(b.len() <= 8);
    let mut v = 0u64;
    for (i, &c) in b.iter().enumerate() {
        v |= u64::from(c | 0x20) << (8 * i);
    }
    v
}

/// [`hash_ascii_lower`] of a word made only of ASCII letters and apostrophes (the tokenizer's
/// words), lowercasing eight bytes at a time. Same value (tested).
#[inline]
pub fn hash_word_lower(seed: u64, b: &[u8]) -> u64 {
    let mut h = StableHasher::with_seed(seed);
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h.mix_word(u64::from_le_bytes(w) | 0x2020_2020_2020_2020);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let v = if b.len() >= 8 {
            tail_word(b) | (0x2020_2020_2020_2020 >> (8 * (8 - rest.len())))
        } else {
            load_word_lower(rest)
        };
        h.mix_word(v ^ ((rest.len() as u64) << 56) ^ 0xA5);
    }
    h.len = b.len() as u64;
    h.finish()
}

/// [`hash_word_lower`] of a word of at most 8 bytes whose [`load_word_lower`] is `lower`.
#[inline]
pub fn hash_short_word_lower(seed: u64, lower: u64, len: usize) -> u64 {
    debug_assert!(len <= 8);
    let mut h = StableHasher::with_seed(seed);
    if len == 8 {
        h.mix_word(lower);
    } else if len > 0 {
        h.mix_word(lower ^ ((len as u64) << 56) ^ 0xA5);
    }
    h.len = len as u64;
    h.finish()
}

/// The thread key `(brand, platform, user)` as a 64-bit hash; never 0, which marks free slots.
#[inline]
pub fn key_hash(brand_id: &str, platform: u32, user_id: &str) -> u64 {
    key_hash_from(key_prefix(brand_id, platform), user_id)
}

/// The state of [`key_hash`] after the brand and platform: the same for every key of one
/// brand/platform, so the engine keeps one per brand/platform and hashes only the user id.
#[inline]
pub fn key_prefix(brand_id: &str, platform: u32) -> StableHasher {
    let mut h = StableHasher::with_seed(0x5EED_0002);
    h.write(brand_id.as_bytes());
    h.write_u32(platform);
    h
}

/// [`key_hash`] from its [`key_prefix`].
#[inline]
pub fn key_hash_from(prefix: StableHasher, user_id: &str) -> u64 {
    let mut h = prefix;
    h.write(user_id.as_bytes());
    h.finish() | 1
}

/// `thread_id`: the key hash combined with `opened_at` (milliseconds).
#[inline]
pub fn thread_id(key: u64, opened_ms: i64) -> u64 {
    let mut h = StableHasher::with_seed(0x5EED_0003);
    h.write_u64(key);
    h.write_u64(opened_ms as u64);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PINNED: u64 = 2_323_086_029_937_119_554;

    #[test]
    fn stable_values_do_not_change() {
        // Pinned so that a change to the hash (which would change every thread_id in
        // ClickHouse) cannot slip in unnoticed.
        assert_eq!(hash_str(""), hash_str(""));
        assert_ne!(hash_str("ab"), hash_str("ab\0"));
        assert_ne!(key_hash("acme", 2, "u1"), key_hash("acme", 2, "u2"));
        assert_ne!(key_hash("acme", 2, "u1"), key_hash("acme", 3, "u1"));
        assert_eq!(key_hash("acme", 2, "u1") & 1, 1);
        assert_eq!(hash_str("rapport"), PINNED);
        for w in [
            "",
            "a",
            "Hello",
            "ABCDEFGH",
            "Mixed-Case Words'n Stuff 123",
            "x".repeat(17).as_str(),
        ] {
            assert_eq!(
                hash_ascii_lower(7, w.as_bytes()),
                hash_bytes(7, w.to_ascii_lowercase().as_bytes()),
                "{w}"
            );
        }
        // The word hash agrees with the general one on letters and apostrophes.
        let alphabet = b"aZqB'xyMw";
        let mut x = 1u64;
        for n in 0..2_000usize {
            let len = n % 27;
            let w: Vec<u8> = (0..len)
                .map(|_| {
                    x = fmix64(x.wrapping_add(n as u64));
                    alphabet[(x % alphabet.len() as u64) as usize]
                })
                .collect();
            assert_eq!(hash_word_lower(9, &w), hash_ascii_lower(9, &w), "{w:?}");
            if len <= 8 {
                assert_eq!(
                    hash_short_word_lower(9, load_word_lower(&w), len),
                    hash_ascii_lower(9, &w)
                );
                let mut lower = [0u8; 8];
                lower[..len].copy_from_slice(&w.to_ascii_lowercase());
                assert_eq!(load_word_lower(&w), u64::from_le_bytes(lower));
            }
        }
        // The overlapping tail load reads what a zero-padded copy of the tail would
        // (shingle and exact-text hashes are emitted, so they must not change).
        let text = b"the quick brown fox jumps over the lazy dog";
        for n in 0..=text.len() {
            let b = &text[..n];
            let mut h = StableHasher::with_seed(3);
            let mut chunks = b.chunks_exact(8);
            for c in &mut chunks {
                let mut w = [0u8; 8];
                w.copy_from_slice(c);
                h.mix_word(u64::from_le_bytes(w));
            }
            let rest = chunks.remainder();
            if !rest.is_empty() {
                let mut w = [0u8; 8];
                w[..rest.len()].copy_from_slice(rest);
                w[7] ^= rest.len() as u8;
                h.mix_word(u64::from_le_bytes(w) ^ 0xA5);
            }
            h.len = n as u64;
            assert_eq!(hash_bytes(3, b), h.finish(), "{n}");
        }
        // No collisions among a million structured keys (brand x numeric user id).
        let mut seen = std::collections::HashSet::new();
        for b in 0..100u64 {
            for u in 0..10_000u64 {
                let key = key_hash(
                    &format!("brand{b}"),
                    2,
                    &format!("{}", 1_000_000_000_000 + b * 10_000 + u),
                );
                assert!(seen.insert(key), "collision at brand{b}/{u}");
            }
        }
    }
}
