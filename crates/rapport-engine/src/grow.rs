//! Growth policy of the engine's per-thread containers. `Vec` and `VecDeque` double when full,
//! so a container with one entry per open thread carries between 0 and 100 % slack depending
//! on where the count falls between powers of two (a million entries sit just under 2^20 and
//! look cheap; 700k or 1.3M pay ~50 % more). Growing by an eighth keeps the slack under
//! 12.5 % at any size. The cost is more reallocations (~115 on the way to a million entries
//! instead of 20); large blocks are `mremap`ped by the allocator rather than copied.

use std::collections::{BinaryHeap, VecDeque};

/// Smallest step, so small containers do not reallocate on every few pushes.
const MIN_STEP: usize = 16;

fn step(len: usize, need: usize) -> usize {
    need.max(len / 8).max(MIN_STEP)
}

/// Makes room for `need` more elements of `v`, growing by about an eighth when full.
#[inline]
pub fn room<T>(v: &mut Vec<T>, need: usize) {
    if v.capacity() - v.len() < need {
        grow(v, need);
    }
}

/// Makes room for `v` to reach `len` elements, growing by about an eighth when full.
#[inline]
pub fn room_for_len<T>(v: &mut Vec<T>, len: usize) {
    let need = len.saturating_sub(v.len());
    room(v, need);
}

#[cold]
#[inline(never)]
fn grow<T>(v: &mut Vec<T>, need: usize) {
    v.reserve_exact(step(v.len(), need));
}

/// [`room`] for a `VecDeque`.
#[inline]
pub fn room_deque<T>(v: &mut VecDeque<T>, need: usize) {
    if v.capacity() - v.len() < need {
        grow_deque(v, need);
    }
}

#[cold]
#[inline(never)]
fn grow_deque<T>(v: &mut VecDeque<T>, need: usize) {
    v.reserve_exact(step(v.len(), need));
}

/// [`room`] for a `BinaryHeap`.
#[inline]
pub fn room_heap<T: Ord>(v: &mut BinaryHeap<T>, need: usize) {
    if v.capacity() - v.len() < need {
        grow_heap(v, need);
    }
}

#[cold]
#[inline(never)]
fn grow_heap<T: Ord>(v: &mut BinaryHeap<T>, need: usize) {
    v.reserve_exact(step(v.len(), need));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_stays_under_an_eighth() {
        let mut v: Vec<u32> = Vec::new();
        for i in 0..200_000u32 {
            room(&mut v, 1);
            v.push(i);
            if v.len() > 1_000 {
                assert!(
                    v.capacity() * 8 <= v.len() * 9 + 8,
                    "{} {}",
                    v.len(),
                    v.capacity()
                );
            }
        }
        let mut d: VecDeque<u32> = VecDeque::new();
        for i in 0..200_000u32 {
            room_deque(&mut d, 1);
            d.push_back(i);
            if i % 3 == 0 {
                d.pop_front();
            }
        }
        assert!(d.capacity() * 8 <= d.len() * 9 + 8);
    }
}
