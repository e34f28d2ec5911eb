//! Replay protection for `/webhooks/generic`: the event ids this process produced recently, so
//! a signed delivery sent again inside the signature window produces nothing the second time.
//!
//! The signature's timestamp may be up to the tolerance away from now, so a captured delivery
//! stays replayable until at most twice the tolerance after it was first accepted; ids are
//! remembered that long. Keys are the first 16 bytes of SHA-256 of the event id (fixed size,
//! whatever the sender's ids look like). The set is bounded: past its capacity the oldest
//! entries go first, and an id forgotten early can be produced again — the processor still
//! deduplicates by `event_id`, so this is a cheap first line, not the only one.
//!
//! An id moves through two states: *pending* while its delivery waits for broker acks, *done*
//! once acked. A second delivery of a pending id is told to retry (it may be the sender's own
//! retry of a delivery that is about to fail); of a done id, it is dropped as a replay. A
//! delivery that fails (or whose request is abandoned) releases its pending ids.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

type Key = [u8; 16];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Pending,
    Done,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    state: State,
    expires_at: i64,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<Key, Entry>,
    /// Insertion order with each insertion's expiry; an entry re-inserted later has a newer
    /// expiry, so a stale queue item never removes it.
    order: VecDeque<(Key, i64)>,
}

impl Inner {
    fn evict(&mut self, now: i64, capacity: usize) {
        while let Some(&(key, expires_at)) = self.order.front() {
            let over = self.entries.len() > capacity || self.order.len() > 2 * capacity.max(1);
            if expires_at > now && !over {
                break;
            }
            self.order.pop_front();
            if self
                .entries
                .get(&key)
                .is_some_and(|e| e.expires_at == expires_at)
            {
                self.entries.remove(&key);
            }
        }
    }
}

/// The recently produced event ids of the generic endpoint.
pub struct RecentEvents {
    inner: Mutex<Inner>,
    capacity: usize,
    /// Seconds an id is remembered: twice the signature tolerance.
    window_secs: i64,
}

/// What [`RecentEvents::reserve`] decided for one delivery.
#[derive(Debug)]
pub enum Verdict<T> {
    /// Produce `events` (the replays among them removed); `duplicates` were dropped.
    Fresh {
        events: Vec<T>,
        duplicates: usize,
        reservation: Reservation,
    },
    /// An event of this delivery is being produced by another request right now.
    InFlight,
}

/// Pending ids of one delivery; released on drop unless [`Reservation::commit`]ted.
#[derive(Debug)]
pub struct Reservation {
    owner: Option<Arc<RecentEvents>>,
    keys: Vec<Key>,
}

impl Reservation {
    /// The delivery was acked: its ids are done.
    pub fn commit(mut self) {
        if let Some(owner) = self.owner.take() {
            owner.finish(&self.keys, true);
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(owner) = self.owner.take() {
            owner.finish(&self.keys, false);
        }
    }
}

impl std::fmt::Debug for RecentEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecentEvents(capacity {})", self.capacity)
    }
}

fn key(event_id: &str) -> Key {
    let digest = Sha256::digest(event_id.as_bytes());
    let mut k = [0; 16];
    k.copy_from_slice(&digest[..16]);
    k
}

impl RecentEvents {
    pub fn new(capacity: usize, tolerance_secs: i64) -> Arc<RecentEvents> {
        Arc::new(RecentEvents {
            inner: Mutex::new(Inner::default()),
            capacity,
            window_secs: tolerance_secs.saturating_mul(2),
        })
    }

    /// Sort one delivery's events into replays (dropped) and fresh ones (reserved as pending),
    /// at `now_unix` seconds. All or nothing: if any event is pending elsewhere, nothing is
    /// reserved.
    pub fn reserve<T>(
        self: &Arc<Self>,
        events: Vec<T>,
        event_id: impl Fn(&T) -> &str,
        now_unix: i64,
    ) -> Verdict<T> {
        let expires_at = now_unix.saturating_add(self.window_secs);
        let keys: Vec<Key> = events.iter().map(|e| key(event_id(e))).collect();
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.evict(now_unix, self.capacity);
        let mut fresh = Vec::with_capacity(events.len());
        let mut fresh_keys = Vec::with_capacity(events.len());
        let mut duplicates = 0;
        for (event, k) in events.into_iter().zip(keys) {
            match inner.entries.get(&k) {
                Some(e) if e.expires_at > now_unix && e.state == State::Pending => {
                    return Verdict::InFlight
                }
                Some(e) if e.expires_at > now_unix => duplicates += 1,
                // The same id twice in one delivery: one event is enough.
                _ if fresh_keys.contains(&k) => duplicates += 1,
                _ => {
                    fresh.push(event);
                    fresh_keys.push(k);
                }
            }
        }
        for k in &fresh_keys {
            inner.entries.insert(
                *k,
                Entry {
                    state: State::Pending,
                    expires_at,
                },
            );
            inner.order.push_back((*k, expires_at));
        }
        inner.evict(now_unix, self.capacity);
        Verdict::Fresh {
            events: fresh,
            duplicates,
            reservation: Reservation {
                owner: Some(Arc::clone(self)),
                keys: fresh_keys,
            },
        }
    }

    fn finish(&self, keys: &[Key], acked: bool) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for k in keys {
            if acked {
                if let Some(e) = inner.entries.get_mut(k) {
                    e.state = State::Done;
                }
            } else if inner
                .entries
                .get(k)
                .is_some_and(|e| e.state == State::Pending)
            {
                inner.entries.remove(k);
            }
        }
    }

    /// Ids remembered right now (pending and done).
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entries
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str) -> String {
        id.to_owned()
    }

    trait Reserve {
        fn reserve_ids(&self, ids: Vec<String>, now: i64) -> Verdict<String>;
    }

    impl Reserve for Arc<RecentEvents> {
        fn reserve_ids(&self, ids: Vec<String>, now: i64) -> Verdict<String> {
            self.reserve(ids, String::as_str, now)
        }
    }

    fn fresh(v: Verdict<String>) -> (Vec<String>, usize, Reservation) {
        match v {
            Verdict::Fresh {
                events,
                duplicates,
                reservation,
            } => (events, duplicates, reservation),
            Verdict::InFlight => panic!("unexpected in-flight verdict"),
        }
    }

    #[test]
    fn an_acked_event_is_a_replay_inside_the_window_and_fresh_after_it() {
        let recent = RecentEvents::new(100, 300);
        let (ids, dups, r) = fresh(recent.reserve_ids(vec![event("a"), event("b")], 1_000));
        assert_eq!((ids.len(), dups), (2, 0));
        r.commit();
        let (ids, dups, r) = fresh(recent.reserve_ids(vec![event("a"), event("c")], 1_599));
        assert_eq!((ids, dups), (vec!["c".to_owned()], 1));
        r.commit();
        // Twice the tolerance later the signature of the first delivery is stale anyway.
        let (ids, dups, _r) = fresh(recent.reserve_ids(vec![event("a")], 1_600));
        assert_eq!((ids, dups), (vec!["a".to_owned()], 0));
    }

    #[test]
    fn a_failed_or_abandoned_delivery_releases_its_ids() {
        let recent = RecentEvents::new(100, 300);
        let (_, _, r) = fresh(recent.reserve_ids(vec![event("a")], 1_000));
        assert!(matches!(
            recent.reserve_ids(vec![event("b"), event("a")], 1_001),
            Verdict::InFlight
        ));
        // Nothing of the refused delivery was reserved.
        assert_eq!(recent.len(), 1);
        drop(r);
        assert!(recent.is_empty());
        let (ids, dups, _r) = fresh(recent.reserve_ids(vec![event("a")], 1_002));
        assert_eq!(
            (ids.len(), dups),
            (1, 0),
            "the retry of a failed delivery goes through"
        );
    }

    #[test]
    fn the_same_id_twice_in_one_delivery_is_produced_once() {
        let recent = RecentEvents::new(100, 300);
        let (ids, dups, _r) = fresh(recent.reserve_ids(vec![event("a"), event("a")], 1));
        assert_eq!((ids, dups), (vec!["a".to_owned()], 1));
    }

    #[test]
    fn the_set_is_bounded_and_forgets_the_oldest_first() {
        let recent = RecentEvents::new(3, 300);
        for (t, id) in ["a", "b", "c", "d"].iter().enumerate() {
            fresh(recent.reserve_ids(vec![event(id)], t as i64))
                .2
                .commit();
        }
        assert_eq!(recent.len(), 3);
        // "a" was forgotten (capacity), "d" is remembered.
        let (ids, _, r) = fresh(recent.reserve_ids(vec![event("a"), event("d")], 10));
        assert_eq!(ids, vec!["a".to_owned()]);
        r.commit();
        assert_eq!(recent.len(), 3);
        // Many rounds never grow the set or its queue beyond their bounds.
        for t in 0..1_000 {
            fresh(recent.reserve_ids(vec![event(&t.to_string())], 20 + t))
                .2
                .commit();
        }
        let inner = recent.inner.lock().expect("lock");
        assert!(inner.entries.len() <= 3 && inner.order.len() <= 6);
    }

    #[test]
    fn expired_entries_are_dropped_as_time_passes() {
        let recent = RecentEvents::new(100, 10);
        for id in ["a", "b", "c"] {
            fresh(recent.reserve_ids(vec![event(id)], 0)).2.commit();
        }
        fresh(recent.reserve_ids(vec![event("z")], 21)).2.commit();
        assert_eq!(recent.len(), 1);
    }
}
