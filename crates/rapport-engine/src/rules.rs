//! The rules of METRICS.md §2–§6 applied to one item or one timer, in event-time order:
//! opening, joining, answering, acknowledging and closing threads; brand-initiated
//! conversations; the time-based stages that settle censored counts (1 h, 24 h, 7 d,
//! `max_pending`, 30-day return window) and SLA deadlines; follow edges and follow-back
//! windows; personal-touch rows; end-of-day backlog; housekeeping. Ordering and intake are
//! `engine.rs`'s; the storage layout is `threads.rs`'s.

use std::cmp::Reverse;

use rapport_events::{Channel, Direction, Kind, Modifier};
use smol_str::SmolStr;

use crate::calendar::utc_day;
use crate::config::{EngineConfig, DAY_MS};
use crate::daily::set_backlog;
use crate::engine::{day_key, Engine, Extra, Item, NewFollower};
use crate::hash::thread_id;
use crate::rows::{
    secs, FollowDirection, FollowEdgeRow, FollowerBand, PersonalTouchRow, ProfileSnapshotRow,
    ThreadRow, ThreadState,
};
use crate::threads::{flag, CohortRec, Slot, IDS_BRAND_CONV, IDS_BRAND_CONV_PREV, NONE32};

pub const BRAND_FOLLOWS: u8 = 1;
pub const USER_FOLLOWS: u8 = 2;

/// Stage indices (see `Engine::stage_ms`).
const STAGE_1H: usize = 0;
const STAGE_24H: usize = 1;
const STAGE_7D: usize = 2;
const STAGE_EXPIRY: usize = 3;
const STAGE_RETURN: usize = 4;

const H24_MS: u32 = 24 * 3_600_000;
const D7_MS: u32 = 7 * 24 * 3_600_000;

impl Engine {
    pub(crate) fn apply(&mut self, item: &Item) {
        let t = item.t;
        if !self.st.started {
            self.st.started = true;
            self.st.next_boundary = (utc_day(t) + 1) * DAY_MS;
            self.st.next_sweep = t + EngineConfig::ms(self.cfg.housekeeping_interval_seconds);
            self.note_deadline(self.st.next_boundary.min(self.st.next_sweep) - 1);
        }
        if item.modifier != Modifier::None {
            self.st.stats.modified_ignored += 1;
            return;
        }
        match (item.kind, item.dir) {
            (Kind::ProfileSnapshot, _) => self.profile_snapshot(item),
            (Kind::Follow | Kind::Unfollow, _) => self.follow(item),
            (k, Direction::Inbound) if k.is_conversational() => self.inbound_conversational(item),
            (k, Direction::Outbound) if k.is_conversational() => self.outbound_conversational(item),
            (Kind::Reaction, Direction::Outbound) => self.brand_reaction(item),
            (Kind::Post, Direction::Outbound) => {
                self.agg(item.bp, utc_day(t)).touch(t).brand_posts += 1;
            }
            (Kind::Share, Direction::Outbound) => {
                self.agg(item.bp, utc_day(t)).touch(t).brand_reposts += 1;
                self.activity(item);
            }
            _ => self.activity(item),
        }
    }

    // ---- threads ----

    fn rec(&self, seq: u64) -> CohortRec {
        self.st.cohort.get(seq).unwrap_or(CohortRec {
            opened_ms: 0,
            bp: 0,
            slot: NONE32,
            resp: NONE32,
            ack: NONE32,
            sla_s: 0,
            flags: flag::DETACHED,
            band: FollowerBand::Unknown as u8,
        })
    }

    fn set_flags(&mut self, seq: u64, on: u16, off: u16) {
        self.st.cohort.update_flags(seq, |f| (f | on) & !off);
    }

    fn mark_dirty(&mut self, seq: u64) {
        // A row already queued, or final, is not queued again.
        let fresh = |f: u16| f & (flag::DIRTY | flag::DETACHED) == 0;
        let was = self
            .st
            .cohort
            .update_flags(seq, |f| if fresh(f) { f | flag::DIRTY } else { f });
        if was.is_some_and(fresh) {
            self.st.dirty.push(seq);
        }
    }

    /// The live thread of a slot: its sequence number, if the slot holds a thread whose record
    /// is still kept.
    fn slot_thread(&self, slot: u32) -> Option<u64> {
        self.thread_of(&self.st.store.get(slot))
    }

    /// [`Self::slot_thread`] of a slot the caller has already read.
    #[inline]
    fn thread_of(&self, s: &Slot) -> Option<u64> {
        if !s.is_thread() {
            return None;
        }
        self.st.cohort.resolve(s.seq)
    }

    /// A thread is over for joining when silence exceeded `thread_gap`, unless it still awaits
    /// the brand (then only `max_pending` ends it, though a new inbound item still splits it).
    fn silent(&self, s: &Slot, t: i64) -> bool {
        t - s.last_ms > self.gap
    }

    fn inbound_conversational(&mut self, item: &Item) {
        let t = item.t;
        let key = item.key;
        {
            let a = self.agg(item.bp, utc_day(t));
            a.touch(t).inbound_items += 1;
            a.engagers.get_or_insert_with(Default::default).insert(key);
        }
        self.inbound_thread(item);
        if let Extra::Inbound(words) = &item.extra {
            // After the thread rules, which may have given the key a slot (nothing there
            // reads the context).
            let slot = self.st.store.find_recent(key);
            self.st.ctx.set(key, slot, (t, *words));
        }
    }

    fn inbound_thread(&mut self, item: &Item) {
        let t = item.t;
        let key = item.key;
        if item.user().is_empty() {
            return;
        }
        let Some(slot) = self.st.store.find_recent(key) else {
            let prev = self.st.recent.remove(&key);
            self.open_thread(item, None, prev);
            return;
        };
        let s = self.st.store.get(slot);
        if let Some(seq) = self.thread_of(&s) {
            if self.silent(&s, t) {
                // Silence split: the old thread closes, this item opens a new one.
                self.detach(seq, t);
                self.open_thread(item, Some(slot), Some(s.seq));
            } else {
                let mut sm = s;
                sm.inbound = sm.inbound.saturating_add(1);
                sm.last_ms = t;
                if sm.followers == NONE32 {
                    sm.followers = item.followers;
                }
                self.st.store.put(slot, &sm);
                self.mark_dirty(seq);
            }
        } else {
            let prev = (s.ids == IDS_BRAND_CONV_PREV).then_some(s.seq);
            if !s.is_thread() && t - s.last_ms <= self.gap {
                // The user answering a brand-initiated conversation opens no thread.
                if let Some(p) = prev {
                    self.mark_return(p, t);
                }
            } else {
                self.open_thread(item, Some(slot), prev);
            }
        }
    }

    fn open_thread(&mut self, item: &Item, slot: Option<u32>, prev: Option<u32>) {
        let t = item.t;
        if let Some(p) = prev {
            self.mark_return(p, t);
        }
        let bp = item.bp;
        let brand = self.st.bps[bp as usize].brand as usize;
        let cap = EngineConfig::ms(self.cfg.return_window_seconds);
        let deadline = self.cals[brand].sla_deadline(t, cap);
        let band = FollowerBand::of((item.followers != NONE32).then_some(item.followers));
        let private = item.channel == Channel::Private;
        let seq = self.st.cohort.next_seq();
        let fresh = Slot {
            key: item.key,
            last_ms: t,
            seq: seq as u32,
            ids: IDS_BRAND_CONV_PREV,
            inbound: 1,
            followers: item.followers,
        };
        let slot = match slot {
            Some(s) => {
                self.st.store.release_ids(s);
                self.st.store.put(s, &fresh);
                s
            }
            None => {
                let s = self.st.store.insert(fresh);
                self.st.ctx.attach(item.key, s);
                s
            }
        };
        self.st.store.set_ids(slot, item.user(), item.object(), "");
        self.st.cohort.push(CohortRec {
            opened_ms: t,
            bp,
            slot,
            resp: NONE32,
            ack: NONE32,
            sla_s: u32::try_from((deadline - t) / 1000).unwrap_or(u32::MAX),
            flags: flag::AWAITING | flag::DIRTY | if private { flag::PRIVATE } else { 0 },
            band: band as u8,
        });
        self.st.dirty.push(seq);
        let b = &mut self.st.bps[bp as usize];
        b.pending += 1;
        b.awaiting.push_back(seq as u32);
        let sla = &mut self.st.sla;
        if sla.len() == sla.capacity() {
            // 16 bytes per pending deadline: grow by an eighth, not by doubling (the order of
            // the heap, which snapshots write, does not depend on its capacity).
            sla.reserve_exact((sla.len() / 8).max(16));
        }
        sla.push(Reverse((deadline, seq)));
        self.note_deadline(deadline.min(t.saturating_add(self.min_stage_ms)));
        let r = self.agg(bp, utc_day(t));
        r.bands[band.index()].opened += 1;
        let row = r.touch(t);
        row.threads_opened += 1;
        if private {
            row.threads_private += 1;
        } else {
            row.threads_public += 1;
        }
    }

    fn mark_return(&mut self, low: u32, t: i64) {
        let window = EngineConfig::ms(self.cfg.return_window_seconds);
        if let Some(seq) = self.st.cohort.resolve(low) {
            self.st.cohort.update(seq, |r| {
                if t > r.opened_ms && t <= r.opened_ms + window {
                    r.flags |= flag::RETURNED;
                }
            });
        }
    }

    /// Ends a thread's life in its slot at time `t`: closes it if it still awaited the brand,
    /// writes its final row, and frees its id strings. The slot itself is left to the caller.
    fn detach(&mut self, seq: u64, t: i64) {
        let r = self.rec(seq);
        if r.has(flag::DETACHED) {
            return;
        }
        // Only closing changes the row at `t`; otherwise its version stays that of its last
        // item, whenever the slot happens to be cleared.
        let slot = self.st.store.get(r.slot);
        let mut at = slot.last_ms;
        // The record changes only when the thread closes here; otherwise `r` is current.
        let mut now = r;
        if r.has(flag::AWAITING) {
            self.settle_pending(seq, r);
            self.set_flags(seq, flag::CLOSED | flag::DIRTY, flag::AWAITING);
            at = t;
            now = self.rec(seq);
        }
        if now.has(flag::DIRTY) {
            self.emit_thread(now, &slot, at);
        }
        self.set_flags(seq, flag::DETACHED, flag::DIRTY);
        self.st.store.release_ids(r.slot);
    }

    /// A thread leaves `awaiting_brand`: backlog counters follow.
    fn settle_pending(&mut self, seq: u64, r: CohortRec) {
        let b = &mut self.st.bps[r.bp as usize];
        b.pending = b.pending.saturating_sub(1);
        if r.has(flag::BREACHING) {
            b.breaching = b.breaching.saturating_sub(1);
            self.set_flags(seq, 0, flag::BREACHING);
        }
    }

    /// Removes a key's slot, keeping its latest thread reachable for the return window.
    fn remove_slot(&mut self, slot: u32, t: i64) {
        let s = self.st.store.get(slot);
        if let Some(seq) = self.thread_of(&s) {
            self.detach(seq, t);
        }
        if (s.is_thread() || s.ids == IDS_BRAND_CONV_PREV)
            && self.st.cohort.resolve(s.seq).is_some()
        {
            self.st.recent.insert(s.key, s.seq);
        }
        self.st.ctx.detach(s.key, slot);
        self.st.store.remove(slot);
    }

    fn outbound_conversational(&mut self, item: &Item) {
        let t = item.t;
        {
            let row = self.agg(item.bp, utc_day(t)).touch(t);
            if item.channel == Channel::Private {
                row.brand_dms += 1;
            } else {
                row.brand_replies += 1;
            }
        }
        if item.user().is_empty() {
            return;
        }
        let key = item.key;
        let mut thread = None;
        match self.st.store.find_recent(key) {
            Some(slot) => {
                let s = self.st.store.get(slot);
                match self.thread_of(&s) {
                    Some(seq) => {
                        let r = self.rec(seq);
                        if self.silent(&s, t) && !r.has(flag::AWAITING) {
                            // The old thread is over; the brand starts a new conversation.
                            self.detach(seq, t);
                            self.st.store.update(slot, |sm| {
                                sm.ids = IDS_BRAND_CONV_PREV;
                                sm.last_ms = t;
                            });
                        } else {
                            thread = Some(thread_id(key, r.opened_ms));
                            if !item.automated && r.has(flag::AWAITING) {
                                self.answer(seq, slot, item);
                            }
                            self.st.store.set_last_ms(slot, t);
                            self.mark_dirty(seq);
                        }
                    }
                    None => self.st.store.set_last_ms(slot, t),
                }
            }
            None => {
                let prev = self.st.recent.remove(&key);
                let s = self.st.store.insert(Slot {
                    key,
                    last_ms: t,
                    seq: prev.unwrap_or(0),
                    ids: if prev.is_some() {
                        IDS_BRAND_CONV_PREV
                    } else {
                        IDS_BRAND_CONV
                    },
                    inbound: 0,
                    followers: NONE32,
                });
                self.st.ctx.attach(key, s);
            }
        }
        if let Extra::Reply(f) = &item.extra {
            self.personal_touch(item, f, thread);
        }
    }

    fn answer(&mut self, seq: u64, slot: u32, item: &Item) {
        let t = item.t;
        let r = self.rec(seq);
        let resp = u32::try_from(t - r.opened_ms).unwrap_or(NONE32 - 1);
        let moved = !r.has(flag::PRIVATE) && item.channel == Channel::Private;
        self.settle_pending(seq, r);
        self.st.cohort.update(seq, |rm| {
            rm.resp = resp;
            rm.flags = (rm.flags & !flag::AWAITING)
                | flag::ANSWERED
                | if moved { flag::MOVED_PRIVATE } else { 0 };
        });
        self.st.store.set_response(slot, item.object());
        let brand = self.st.bps[r.bp as usize].brand as usize;
        let resp_at = r.opened_ms + i64::from(resp);
        let resp_s = secs(resp_at) - secs(r.opened_ms);
        let business = self.cals[brand].business_seconds(r.opened_ms, resp_at);
        let young = [
            self.st.cursors[STAGE_1H] <= seq,
            self.st.cursors[STAGE_24H] <= seq,
            self.st.cursors[STAGE_7D] <= seq,
        ];
        let a = self.agg(r.bp, utc_day(r.opened_ms));
        a.sketch.add(f64::from(resp_s));
        if young[0] {
            a.young_answered_1h += 1;
        }
        if young[1] {
            a.young_answered_24h += 1;
            a.bands[usize::from(r.band)].young_answered_24h += 1;
        }
        if young[2] {
            a.young_answered_7d += 1;
        }
        let row = a.touch(t);
        row.threads_answered += 1;
        row.frt_sum_seconds += u64::from(resp_s);
        row.business_frt_sum_seconds += u64::from(business);
        if moved {
            row.moved_private += 1;
        }
    }

    fn brand_reaction(&mut self, item: &Item) {
        let t = item.t;
        if let Some(slot) = self.st.store.find_recent(item.key) {
            let s = self.st.store.get(slot);
            if let Some(seq) = self.thread_of(&s) {
                let r = self.rec(seq);
                if self.silent(&s, t) && !r.has(flag::AWAITING) {
                    return;
                }
                if r.ack == NONE32 {
                    if let Ok(d) = u32::try_from(t - r.opened_ms) {
                        if d < NONE32 {
                            self.st.cohort.update(seq, |rm| {
                                rm.ack = d;
                                rm.flags |= flag::ACKED;
                            });
                        }
                    }
                }
                self.st.store.set_last_ms(slot, t);
                self.mark_dirty(seq);
            }
        }
    }

    /// Any other item between a user and the brand keeps a live thread from going silent.
    fn activity(&mut self, item: &Item) {
        let t = item.t;
        if let Some(slot) = self.st.store.find_recent(item.key) {
            let s = self.st.store.get(slot);
            if let Some(seq) = self.thread_of(&s) {
                if self.silent(&s, t) && !self.rec(seq).has(flag::AWAITING) {
                    return;
                }
                self.st.store.set_last_ms(slot, t);
                self.mark_dirty(seq);
            }
        }
    }

    // ---- rows ----

    pub(crate) fn emit_if_dirty(&mut self, seq: u64) {
        let r = self.rec(seq);
        if r.has(flag::DIRTY) && !r.has(flag::DETACHED) {
            let s = self.st.store.get(r.slot);
            // Nothing changed the record or the slot since they were read: no second
            // unpacking.
            self.emit_thread(r, &s, s.last_ms);
            self.set_flags(seq, 0, flag::DIRTY);
        }
    }

    /// Writes the thread's current row; `at` is the event time of the change it reflects.
    /// `r` is the thread's current record and `s` its slot (the callers have just read both).
    fn emit_thread(&mut self, r: CohortRec, s: &Slot, at: i64) {
        let (user, opening, response) = self.st.store.ids(r.slot);
        let b = &self.st.bps[r.bp as usize];
        let cal = &self.cals[b.brand as usize];
        let answered = r.has(flag::ANSWERED);
        let resp_at = answered.then(|| r.opened_ms + i64::from(r.resp));
        let state = if answered {
            ThreadState::Answered
        } else if r.has(flag::CLOSED) {
            ThreadState::ClosedUnanswered
        } else {
            ThreadState::AwaitingBrand
        };
        let bits = u64::from(answered)
            | u64::from(r.has(flag::ACKED)) << 1
            | u64::from(r.has(flag::CLOSED)) << 2
            | u64::from(r.has(flag::MOVED_PRIVATE)) << 3;
        let vt = at.max(s.last_ms).max(r.opened_ms).max(0) as u64;
        let row = ThreadRow {
            thread_id: thread_id(s.key, r.opened_ms),
            brand_id: self.st.brands[b.brand as usize].clone(),
            platform: b.platform,
            user_id: user,
            opened_channel: if r.has(flag::PRIVATE) {
                Channel::Private
            } else {
                Channel::Public
            },
            opened_at: secs(r.opened_ms),
            opening_item_id: opening,
            inbound_items: s.inbound,
            first_response_at: resp_at.map(secs),
            first_response_item_id: resp_at.map(|_| response),
            response_seconds: resp_at.map(|x| secs(x) - secs(r.opened_ms)),
            business_response_seconds: resp_at.map(|x| cal.business_seconds(r.opened_ms, x)),
            sla_deadline_at: secs(r.opened_ms).saturating_add(r.sla_s),
            acknowledged_at: (r.ack != NONE32).then(|| secs(r.opened_ms + i64::from(r.ack))),
            moved_private: r.has(flag::MOVED_PRIVATE),
            user_followers: (s.followers != NONE32).then_some(s.followers),
            state,
            version: (vt << 20) | (u64::from(s.inbound.min(0xFFFF)) << 4) | bits,
        };
        self.st.out.threads.push(row);
    }

    // ---- timers ----

    pub(crate) fn stage(&mut self, k: usize, seq: u64, t: i64) {
        let r = self.rec(seq);
        if r.has(flag::DETACHED) && self.st.cohort.get(seq).is_none() {
            return;
        }
        let answered = r.has(flag::ANSWERED);
        match k {
            STAGE_1H => {
                let a = self.agg(r.bp, utc_day(r.opened_ms));
                if answered {
                    a.young_answered_1h = a.young_answered_1h.saturating_sub(1);
                }
                let row = a.touch(t);
                row.threads_1h_old += 1;
                row.answered_within_1h += u32::from(answered);
            }
            STAGE_24H => {
                let acked = answered || r.has(flag::ACKED);
                let a = self.agg(r.bp, utc_day(r.opened_ms));
                let band = &mut a.bands[usize::from(r.band)];
                band.old_24h += 1;
                if answered {
                    band.answered_24h += 1;
                    band.young_answered_24h = band.young_answered_24h.saturating_sub(1);
                    a.young_answered_24h = a.young_answered_24h.saturating_sub(1);
                }
                let row = a.touch(t);
                row.threads_24h_old += 1;
                row.answered_within_24h += u32::from(answered);
                row.acknowledged_within_24h += u32::from(acked);
            }
            STAGE_7D => {
                let a = self.agg(r.bp, utc_day(r.opened_ms));
                if answered {
                    a.young_answered_7d = a.young_answered_7d.saturating_sub(1);
                }
                let row = a.touch(t);
                row.threads_7d_old += 1;
                row.answered_within_7d += u32::from(answered);
            }
            // max_pending reached: closed_unanswered, and the key is free again.
            STAGE_EXPIRY if r.has(flag::AWAITING) && !r.has(flag::DETACHED) => {
                self.remove_slot(r.slot, t);
            }
            STAGE_RETURN => {
                let within24 = answered && r.resp <= H24_MS;
                let within7d = answered && r.resp <= D7_MS;
                let returned = u32::from(r.has(flag::RETURNED));
                let row = self.agg(r.bp, utc_day(r.opened_ms)).touch(t);
                if within24 {
                    row.return_base_answered += 1;
                    row.returned_answered += returned;
                }
                if !within7d {
                    row.return_base_unanswered += 1;
                    row.returned_unanswered += returned;
                }
                if !r.has(flag::DETACHED) {
                    // A conversation that never went silent for the whole return window
                    // is cut here so its record can go.
                    self.remove_slot(r.slot, t);
                }
                if self.st.cohort.base == seq {
                    self.st.cohort.pop_front();
                }
            }
            _ => {}
        }
    }

    pub(crate) fn sla_deadline(&mut self, seq: u64, t: i64) {
        let Some(r) = self.st.cohort.get(seq) else {
            return;
        };
        if r.has(flag::SLA_DONE) {
            return;
        }
        self.set_flags(seq, flag::SLA_DONE, 0);
        let met = r.has(flag::ANSWERED) && r.opened_ms + i64::from(r.resp) <= t;
        if r.has(flag::AWAITING) {
            self.set_flags(seq, flag::BREACHING, 0);
            self.st.bps[r.bp as usize].breaching += 1;
        }
        let row = self.agg(r.bp, utc_day(r.opened_ms)).touch(t);
        row.sla_due += 1;
        row.sla_met += u32::from(met);
    }

    pub(crate) fn follow_back_window_closed(&mut self, nf: NewFollower, t: i64) {
        let back = self.st.edges.get(&nf.key).copied().unwrap_or(0) & BRAND_FOLLOWS != 0;
        let row = self.agg(nf.bp, utc_day(nf.at)).touch(t);
        row.new_followers_7d_old += 1;
        row.new_followers_followed_back_7d += u32::from(back);
    }

    /// End of a UTC day (`t` is its last millisecond): freeze that day's backlog, brand counts
    /// and engager figures.
    pub(crate) fn day_boundary(&mut self, t: i64) {
        let day = utc_day(t);
        let end = t + 1;
        for bp in 0..self.st.bps.len() as u32 {
            let k = day_key(bp, day);
            if self.st.bps[bp as usize].pending == 0 && !self.st.days.contains_key(&k) {
                continue;
            }
            let oldest = self.oldest_pending(bp);
            let eng = self.engager_counts(k);
            self.agg(bp, day);
            let b = &self.st.bps[bp as usize];
            if let Some(a) = self.st.days.get_mut(&k) {
                set_backlog(&mut a.row, b, oldest, end);
                (
                    a.row.engagers,
                    a.row.engagers_following_brand,
                    a.row.engagers_followed_back,
                ) = eng;
                a.engagers = None;
                a.frozen = true;
                a.touch(t);
            }
            if self.st.bps[bp as usize].pending > 0 {
                // The next day starts with a backlog: it gets a row even if nothing happens.
                self.agg(bp, day + 1);
            }
        }
    }

    /// Housekeeping at event time `t`: forget what no rule can use any more. Changes no
    /// figure, only memory.
    pub(crate) fn sweep(&mut self, t: i64) {
        // Both ends need silence beyond the gap, so the scan tests only that; a thread that
        // still awaits the brand stays. Removing a slot changes no other slot or record
        // the test reads, so testing all first and removing after is the same.
        let mut silent = Vec::new();
        self.st.store.silent_slots(t, self.gap, &mut silent);
        for &slot in &silent {
            let over = match self.slot_thread(slot) {
                Some(seq) => self
                    .st
                    .cohort
                    .flags(seq)
                    .is_none_or(|f| f & flag::AWAITING == 0),
                None => true,
            };
            if over {
                self.remove_slot(slot, t);
            }
        }
        let horizon = t - EngineConfig::ms(self.cfg.dedup_horizon_seconds);
        self.st.dedup.retain_since(horizon);
        let ctx_horizon = t - self.max_pending;
        self.st.ctx.retain_since(ctx_horizon);
        let cohort = &self.st.cohort;
        self.st
            .recent
            .retain(|_, low| cohort.resolve(*low).is_some());
        let keep_from = utc_day(t - EngineConfig::ms(self.cfg.return_window_seconds)) - 2;
        self.st
            .days
            .retain(|k, a| a.dirty || i64::from(*k as u32) >= keep_from);
        self.st
            .fingerprints
            .expire(t - EngineConfig::ms(self.cfg.template_window_seconds));
        self.st.store.maybe_compact();
    }

    // ---- reciprocity and personal touch ----

    fn follow(&mut self, item: &Item) {
        let t = item.t;
        if item.user().is_empty() {
            return;
        }
        let (bit, direction) = match item.dir {
            Direction::Inbound => (USER_FOLLOWS, FollowDirection::UserToBrand),
            Direction::Outbound => (BRAND_FOLLOWS, FollowDirection::BrandToUser),
        };
        let following = item.kind == Kind::Follow;
        let e = self.st.edges.entry(item.key).or_insert(0);
        let was = *e & bit != 0;
        if following {
            *e |= bit;
        } else {
            *e &= !bit;
        }
        if *e == 0 {
            self.st.edges.remove(&item.key);
        }
        let delta = i64::from(following) - i64::from(was);
        let b = &mut self.st.bps[item.bp as usize];
        match direction {
            FollowDirection::UserToBrand => b.followers_ev += delta,
            FollowDirection::BrandToUser => b.following_ev += delta,
        }
        if following && !was && direction == FollowDirection::UserToBrand {
            self.st.new_followers.push_back(NewFollower {
                at: t,
                bp: item.bp,
                key: item.key,
            });
            self.note_deadline(t + EngineConfig::ms(self.cfg.follow_back_window_seconds));
            self.agg(item.bp, utc_day(t)).touch(t).new_followers += 1;
        }
        let b = &self.st.bps[item.bp as usize];
        self.st.out.follow_edges.push(FollowEdgeRow {
            brand_id: self.st.brands[b.brand as usize].to_string(),
            platform: b.platform,
            user_id: item.user().to_owned(),
            direction,
            following,
            changed_at: secs(t),
            item_id: item.object().to_owned(),
            version: crate::daily::version_of(t),
        });
        self.activity(item);
    }

    fn profile_snapshot(&mut self, item: &Item) {
        let Extra::Profile { is_brand, counts } = &item.extra else {
            return;
        };
        let t = item.t;
        let b = &mut self.st.bps[item.bp as usize];
        if *is_brand && b.snapshot.is_none_or(|(_, _, at)| at <= t) {
            b.snapshot = Some((counts.followers, counts.following, t));
        }
        let b = &self.st.bps[item.bp as usize];
        self.st.out.profile_snapshots.push(ProfileSnapshotRow {
            brand_id: self.st.brands[b.brand as usize].to_string(),
            platform: b.platform,
            account_id: item.user().to_owned(),
            is_brand_account: *is_brand,
            followers: counts.followers,
            following: counts.following,
            posts: counts.posts,
            taken_at: secs(t),
            version: crate::daily::version_of(t),
        });
        if *is_brand {
            let a = self.agg(item.bp, utc_day(t));
            a.touch(t);
        }
    }

    fn personal_touch(
        &mut self,
        item: &Item,
        f: &crate::touch::ReplyFeatures,
        thread: Option<u64>,
    ) {
        let t = item.t;
        let brand = self.st.bps[item.bp as usize].brand;
        let enough = self.cfg.template_min_matches.max(1);
        let fp = &mut self.st.fingerprints;
        fp.expire(t - EngineConfig::ms(self.cfg.template_window_seconds));
        let m = fp.lookup_insert(brand, t, f.simhash, f.exact, enough);
        let templated = m.near >= enough || m.exact;
        let slot = self.st.store.find_recent(item.key);
        let shared = self
            .st
            .ctx
            .words(item.key, slot)
            .map_or(0, |w| f.words.shared_with(&w));
        let personal = !templated && (f.addresses_by_name || shared >= 2);
        let b = &self.st.bps[item.bp as usize];
        let rows = &mut self.st.out.personal_touch;
        if rows.capacity() == 0 {
            rows.reserve(self.touch_rows_hint);
        }
        rows.push(PersonalTouchRow {
            brand_id: self.st.brands[b.brand as usize].clone(),
            platform: b.platform,
            item_id: SmolStr::new(item.object()),
            user_id: SmolStr::new(item.user()),
            channel: item.channel,
            occurred_at: secs(t),
            thread_id: thread,
            simhash: f.simhash,
            near_duplicates: m.near,
            exact_duplicate: m.exact,
            is_templated: templated,
            addresses_by_name: f.addresses_by_name,
            deflects_to_private: f.deflects_to_private,
            shared_content_words: shared,
            is_personal: personal,
            version: crate::daily::version_of(t),
        });
        let row = self.agg(item.bp, utc_day(t)).touch(t);
        row.touch_replies += 1;
        row.templated_replies += u32::from(templated);
        row.named_replies += u32::from(f.addresses_by_name);
        row.deflecting_replies += u32::from(f.deflects_to_private);
        row.personal_replies += u32::from(personal);
    }
}
