//! Vectors of per-thread records in fixed-size chunks ([`ChunkVec`], and [`ChunkDeque`] for
//! the cohort, which is consumed from the front). A `Vec` that doubles holds up to twice the
//! records it needs and copies them all at each step; growing it by a small fraction saves
//! the slack but copies more often (+4.4 % instructions per event when every per-thread
//! vector grew by an eighth). Chunks of [`CHUNK`] records never move: growing allocates one
//! more chunk, and the slack is at most one partly used chunk. An access costs a shift, a
//! mask and one more load.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Records per chunk (a power of two). 2,048 records of 32 bytes are 64 KiB: below glibc's
/// initial mmap threshold, so chunks come from the heap, not from a system call each. The
/// first chunk is allocated whole too: at most 64 KiB per structure for a small engine.
pub const CHUNK_BITS: u32 = 11;
pub const CHUNK: usize = 1 << CHUNK_BITS;
const LOW: usize = CHUNK - 1;

type Chunk<T> = Box<[T; CHUNK]>;

/// A chunk filled with copies of `v` (allocated on the heap directly, not on the stack).
fn new_chunk<T: Copy>(v: T) -> Chunk<T> {
    match vec![v; CHUNK].into_boxed_slice().try_into() {
        Ok(c) => c,
        Err(_) => unreachable!("a vector of CHUNK records"),
    }
}

/// Records `0..len` in chunks of [`CHUNK`]; every chunk is allocated whole, so an index
/// within one needs no bounds check.
#[derive(Debug, Clone)]
pub struct ChunkVec<T> {
    chunks: Vec<Chunk<T>>,
    len: usize,
}

impl<T> Default for ChunkVec<T> {
    fn default() -> Self {
        ChunkVec {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T: Copy> ChunkVec<T> {
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn push(&mut self, v: T) {
        let i = self.len;
        match self.chunks.get_mut(i >> CHUNK_BITS) {
            Some(c) => c[i & LOW] = v,
            None => self.push_chunk(v),
        }
        self.len += 1;
    }

    #[cold]
    #[inline(never)]
    fn push_chunk(&mut self, v: T) {
        self.chunks.push(new_chunk(v));
    }

    /// Appends copies of `v` until the length is `n` (no-op if already that long).
    pub fn resize(&mut self, n: usize, v: T) {
        while self.len < n {
            self.push(v);
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.slices().flatten()
    }

    /// The records chunk by chunk, each chunk as one slice (the last one cut at `len`), for
    /// loops that want plain slice iteration without a chunk lookup per record.
    pub fn slices(&self) -> impl Iterator<Item = &[T]> + '_ {
        let n = self.len;
        self.chunks.iter().enumerate().map_while(move |(c, chunk)| {
            let first = c * CHUNK;
            (first < n).then(|| &chunk[..CHUNK.min(n - first)])
        })
    }

    /// The records of chunk `c` (`CHUNK` of them, the last chunk's tail unused).
    #[inline]
    pub fn chunk(&self, c: usize) -> &[T; CHUNK] {
        &self.chunks[c]
    }

    #[inline]
    pub fn chunk_mut(&mut self, c: usize) -> &mut [T; CHUNK] {
        &mut self.chunks[c]
    }

    pub fn heap_bytes(&self) -> usize {
        self.chunks.capacity() * std::mem::size_of::<Chunk<T>>()
            + self.chunks.len() * CHUNK * std::mem::size_of::<T>()
    }
}

impl<T> std::ops::Index<usize> for ChunkVec<T> {
    type Output = T;
    #[inline]
    fn index(&self, i: usize) -> &T {
        debug_assert!(i < self.len);
        &self.chunks[i >> CHUNK_BITS][i & LOW]
    }
}

impl<T> std::ops::IndexMut<usize> for ChunkVec<T> {
    #[inline]
    fn index_mut(&mut self, i: usize) -> &mut T {
        debug_assert!(i < self.len);
        &mut self.chunks[i >> CHUNK_BITS][i & LOW]
    }
}

impl<T: Copy> FromIterator<T> for ChunkVec<T> {
    fn from_iter<I: IntoIterator<Item = T>>(it: I) -> Self {
        let mut v = ChunkVec::default();
        for x in it {
            v.push(x);
        }
        v
    }
}

/// A deque of chunks: pushes at the back, pops at the front; a chunk is given back once its
/// last record is popped (one emptied chunk is kept for the next push). The chunks sit in a
/// plain `Vec` (a front chunk leaves by shifting the few chunk pointers after it), so an
/// access is one bounds check and two loads.
#[derive(Debug, Clone)]
pub struct ChunkDeque<T> {
    chunks: Vec<Chunk<T>>,
    /// Index of the first record in the first chunk.
    head: usize,
    len: usize,
    spare: Option<Chunk<T>>,
}

impl<T> Default for ChunkDeque<T> {
    fn default() -> Self {
        ChunkDeque {
            chunks: Vec::new(),
            head: 0,
            len: 0,
            spare: None,
        }
    }
}

impl<T: Copy> ChunkDeque<T> {
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    pub fn get(&self, i: usize) -> Option<&T> {
        if i >= self.len {
            return None;
        }
        let j = self.head + i;
        Some(&self.chunks.get(j >> CHUNK_BITS)?[j & LOW])
    }

    #[inline]
    pub fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        if i >= self.len {
            return None;
        }
        let j = self.head + i;
        Some(&mut self.chunks.get_mut(j >> CHUNK_BITS)?[j & LOW])
    }

    #[inline]
    pub fn push_back(&mut self, v: T) {
        let j = self.head + self.len;
        if j >> CHUNK_BITS == self.chunks.len() {
            let c = match self.spare.take() {
                Some(mut c) => {
                    c[0] = v;
                    c
                }
                None => new_chunk(v),
            };
            self.chunks.push(c);
        } else {
            self.chunks[j >> CHUNK_BITS][j & LOW] = v;
        }
        self.len += 1;
    }

    /// Index of the chunk that holds record `i` (0 is the front chunk).
    #[inline]
    pub fn chunk_of(&self, i: usize) -> usize {
        (self.head + i) >> CHUNK_BITS
    }

    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    pub fn pop_front(&mut self) -> Option<T> {
        if self.is_empty() {
            return None;
        }
        let v = self.chunks[0][self.head];
        self.head += 1;
        self.len -= 1;
        if self.head == CHUNK || self.len == 0 {
            let c = self.chunks.remove(0);
            self.spare.get_or_insert(c);
            self.head = 0;
        }
        Some(v)
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.chunks
            .iter()
            .flat_map(|c| c.iter())
            .skip(self.head)
            .take(self.len)
    }

    pub fn heap_bytes(&self) -> usize {
        self.chunks.capacity() * std::mem::size_of::<Chunk<T>>()
            + (self.chunks.len() + usize::from(self.spare.is_some()))
                * CHUNK
                * std::mem::size_of::<T>()
    }
}

// Both serialize as a sequence of their records, as the `Vec` and `VecDeque` they replaced.

/// Writes `len` items as one sequence (also the cohort's unpacked records).
pub(crate) fn serialize_seq<S: Serializer>(
    len: usize,
    it: impl Iterator<Item = impl Serialize>,
    s: S,
) -> Result<S::Ok, S::Error> {
    let mut q = s.serialize_seq(Some(len))?;
    for x in it {
        q.serialize_element(&x)?;
    }
    q.end()
}

/// Reads a sequence into a collection that takes its elements one by one (no intermediate
/// vector); the reading side of [`serialize_seq`].
pub(crate) fn deserialize_seq<'de, D, T, C>(d: D) -> Result<C, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
    C: Default + Extend<T>,
{
    d.deserialize_seq(SeqVisitor::<T, C>(PhantomData))
}

struct SeqVisitor<T, C>(PhantomData<(T, C)>);

impl<'de, T: Deserialize<'de>, C: Default + Extend<T>> Visitor<'de> for SeqVisitor<T, C> {
    type Value = C;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a sequence of records")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<C, A::Error> {
        let mut c = C::default();
        while let Some(x) = a.next_element::<T>()? {
            c.extend(Some(x));
        }
        Ok(c)
    }
}

impl<T: Copy> Extend<T> for ChunkVec<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, it: I) {
        for x in it {
            self.push(x);
        }
    }
}

impl<T: Copy> Extend<T> for ChunkDeque<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, it: I) {
        for x in it {
            self.push_back(x);
        }
    }
}

impl<T: Copy + Serialize> Serialize for ChunkVec<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_seq(self.len, self.iter(), s)
    }
}

impl<'de, T: Copy + Deserialize<'de>> Deserialize<'de> for ChunkVec<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_seq(d)
    }
}

impl<T: Copy + Serialize> Serialize for ChunkDeque<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_seq(self.len, self.iter(), s)
    }
}

impl<'de, T: Copy + Deserialize<'de>> Deserialize<'de> for ChunkDeque<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_seq(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    #[test]
    fn chunk_vec_is_a_vec() {
        let mut c = ChunkVec::default();
        let mut v = Vec::new();
        for i in 0..(3 * CHUNK + 17) as u64 {
            c.push(i * 3);
            v.push(i * 3);
            if i % 1000 == 0 {
                c[(i / 2) as usize] += 1;
                v[(i / 2) as usize] += 1;
            }
        }
        c.resize(5 * CHUNK, 9);
        v.resize(5 * CHUNK, 9);
        assert_eq!(c.len(), v.len());
        assert!(c.iter().copied().eq(v.iter().copied()));
        assert!((0..v.len()).all(|i| c[i] == v[i]));
        let back: ChunkVec<u64> = v.iter().copied().collect();
        assert!(back.iter().eq(v.iter()));
        // Serialized exactly as the `Vec`.
        let bytes = postcard::to_stdvec(&c).unwrap();
        assert_eq!(bytes, postcard::to_stdvec(&v).unwrap());
        let again: ChunkVec<u64> = postcard::from_bytes(&bytes).unwrap();
        assert!(again.iter().eq(v.iter()));
    }

    #[test]
    fn chunk_deque_is_a_deque() {
        let mut c = ChunkDeque::default();
        let mut v = VecDeque::new();
        let mut x = 1u64;
        for i in 0..40_000u64 {
            x = crate::hash::fmix64(x.wrapping_add(i));
            if x % 5 < 3 {
                c.push_back(i);
                v.push_back(i);
            } else {
                assert_eq!(c.pop_front(), v.pop_front());
            }
            if let Some(k) = (x as usize).checked_rem(v.len().max(1)) {
                if let Some(m) = c.get_mut(k) {
                    *m += 1;
                    v[k] += 1;
                }
            }
            assert_eq!(c.len(), v.len());
            assert_eq!(c.get(v.len()), None);
        }
        assert!(c.iter().eq(v.iter()));
        assert!((0..v.len()).all(|i| c.get(i) == v.get(i)));
        // Serialized exactly as the `VecDeque`.
        let bytes = postcard::to_stdvec(&c).unwrap();
        assert_eq!(bytes, postcard::to_stdvec(&v).unwrap());
        let again: ChunkDeque<u64> = postcard::from_bytes(&bytes).unwrap();
        assert!(again.iter().eq(v.iter()));
        while let Some(a) = v.pop_front() {
            assert_eq!(c.pop_front(), Some(a));
        }
        assert_eq!(c.pop_front(), None);
        assert!(c.is_empty());
    }
}
