//! The engine's public face and its clock. Owns: intake (`process`: dedup by `event_id`,
//! lateness check, reorder buffer), the event-time timeline (buffered items and timers are
//! applied strictly in event-time order up to the watermark, so results do not depend on
//! arrival order within the lateness bound nor on when the processor drains), `drain_output`,
//! live gauges and snapshot/restore. The METRICS.md rules each item or timer applies are in
//! `rules.rs`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use rapport_events::{
    Channel, Direction, InteractionEvent, Kind, Modifier, Platform, ProfileCounts,
};
use serde::{Deserialize, Serialize};
use smol_str::SmolStr;

use crate::calendar::{utc_day, BusinessCalendar};
use crate::config::{BrandSettings, EngineConfig, DAY_MS, HOUR_MS};
use crate::ctx::{CtxOut, ReplyContext};
use crate::daily::{set_backlog, BpState, DayAgg};
use crate::dedup::DedupTimes;
use crate::hash::{hash_str, key_hash_from, key_prefix, FastMap, StableHasher};
use crate::keyset::KeySet;
use crate::rows::{day_u16, secs, LiveGauges, Output};
use crate::simhash::FingerprintIndex;
use crate::sketch::QuantileSketch;
use crate::threads::{Cohort, ThreadStore};
use crate::touch::{analyze_reply_with, content_words_with, ContentWords, ReplyFeatures, Tokens};
use crate::{ConfigError, SnapshotError};

/// Leading bytes of every snapshot.
const MAGIC: &[u8; 4] = b"RPEN";
/// Version of the snapshot layout this build writes. It also reads layout 1, which differs
/// only in how the thread id arena encodes ids (converted on restore).
pub const SNAPSHOT_VERSION: u16 = 2;

/// What `process` did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Buffered; it takes effect once the watermark passes its `occurred_at`.
    Accepted,
    /// Same `event_id` seen within the dedup horizon: counted in `duplicate_items` only.
    Duplicate,
    /// `occurred_at` is behind the watermark: counted in `late_items` only (the processor
    /// still keeps it in the raw `interactions` history).
    Late,
}

/// Counters for the processor's own telemetry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineStats {
    pub accepted: u64,
    pub duplicates: u64,
    pub late_items: u64,
    /// Edits, deletions, un-reactions: not new items, so they change no figure.
    pub modified_ignored: u64,
    /// Events of brands missing from the configuration (handled with default settings).
    pub unconfigured_brand_events: u64,
}

/// Text-derived features computed once at intake, so the buffer keeps no message text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Extra {
    None,
    Inbound(ContentWords),
    /// Inline, not boxed: no larger than `Profile`, and one allocation less per reply (a
    /// `Box` serializes as its content, so snapshots are unchanged).
    Reply(ReplyFeatures),
    Profile {
        is_brand: bool,
        counts: ProfileCounts,
    },
}

/// A buffered event, reduced to what the rules need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Item {
    pub t: i64,
    pub dir: Direction,
    pub ev: u64,
    pub bp: u32,
    pub key: u64,
    pub kind: Kind,
    pub modifier: Modifier,
    pub channel: Channel,
    pub automated: bool,
    pub followers: u32,
    /// `user_id` followed by `object_id`.
    pub strs: String,
    pub user_len: u32,
    pub extra: Extra,
}

impl Item {
    fn order(&self) -> (i64, u8, u64) {
        // Inbound before outbound at the same millisecond: a reply stamped with its
        // question's time must still find the thread open.
        (self.t, u8::from(self.dir == Direction::Outbound), self.ev)
    }

    pub fn user(&self) -> &str {
        self.strs.get(..self.user_len as usize).unwrap_or("")
    }

    pub fn object(&self) -> &str {
        self.strs.get(self.user_len as usize..).unwrap_or("")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NewFollower {
    pub at: i64,
    pub bp: u32,
    pub key: u64,
}

/// Everything a snapshot carries (written through [`StateOut`]).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct State {
    pub watermark: i64,
    pub max_seen: i64,
    pub started: bool,
    pub buffer: VecDeque<Item>,
    pub dedup: DedupTimes,
    /// Brand ids by index, as emitted rows carry them (serialized as plain strings).
    pub brands: Vec<SmolStr>,
    pub bps: Vec<BpState>,
    pub store: ThreadStore,
    pub cohort: Cohort,
    /// Next cohort sequence number each time-based stage will settle (see `rules::Stage`).
    pub cursors: [u64; 5],
    pub sla: BinaryHeap<Reverse<(i64, u64)>>,
    pub days: FastMap<u64, DayAgg>,
    /// Follow edges per key: bit 0 brand follows user, bit 1 user follows brand.
    pub edges: FastMap<u64, u8>,
    pub new_followers: VecDeque<NewFollower>,
    /// Content words of each user's latest inbound item, with its time.
    pub ctx: ReplyContext,
    /// Latest thread of keys whose slot is gone, for the return-rate window.
    pub recent: FastMap<u64, u32>,
    pub fingerprints: FingerprintIndex,
    pub next_boundary: i64,
    pub next_sweep: i64,
    pub dirty: Vec<u64>,
    pub out: Output,
    pub stats: EngineStats,
}

/// [`State`] as snapshots lay it out, field for field, by reference: the reply context needs
/// the thread store to name the keys of its per-slot entries.
#[derive(Serialize)]
struct StateOut<'a> {
    watermark: &'a i64,
    max_seen: &'a i64,
    started: &'a bool,
    buffer: &'a VecDeque<Item>,
    dedup: &'a DedupTimes,
    brands: &'a Vec<SmolStr>,
    bps: &'a Vec<BpState>,
    store: &'a ThreadStore,
    cohort: &'a Cohort,
    cursors: &'a [u64; 5],
    sla: &'a BinaryHeap<Reverse<(i64, u64)>>,
    days: &'a FastMap<u64, DayAgg>,
    edges: &'a FastMap<u64, u8>,
    new_followers: &'a VecDeque<NewFollower>,
    ctx: CtxOut<'a>,
    recent: &'a FastMap<u64, u32>,
    fingerprints: &'a FingerprintIndex,
    next_boundary: &'a i64,
    next_sweep: &'a i64,
    dirty: &'a Vec<u64>,
    out: &'a Output,
    stats: &'a EngineStats,
}

impl<'a> StateOut<'a> {
    fn of(st: &'a State) -> Self {
        StateOut {
            watermark: &st.watermark,
            max_seen: &st.max_seen,
            started: &st.started,
            buffer: &st.buffer,
            dedup: &st.dedup,
            brands: &st.brands,
            bps: &st.bps,
            store: &st.store,
            cohort: &st.cohort,
            cursors: &st.cursors,
            sla: &st.sla,
            days: &st.days,
            edges: &st.edges,
            new_followers: &st.new_followers,
            ctx: CtxOut {
                ctx: &st.ctx,
                store: &st.store,
            },
            recent: &st.recent,
            fingerprints: &st.fingerprints,
            next_boundary: &st.next_boundary,
            next_sweep: &st.next_sweep,
            dirty: &st.dirty,
            out: &st.out,
            stats: &st.stats,
        }
    }
}

/// The metric engine. See the crate docs for the calling pattern.
pub struct Engine {
    pub(crate) cfg: EngineConfig,
    pub(crate) gap: i64,
    pub(crate) max_pending: i64,
    pub(crate) lateness: i64,
    pub(crate) stage_ms: [i64; 5],
    pub(crate) configured: FastMap<String, BusinessCalendar>,
    pub(crate) cals: Vec<BusinessCalendar>,
    pub(crate) default_cal: BusinessCalendar,
    pub(crate) brand_lookup: FastMap<String, u32>,
    /// Brand/platform index by `brand × platforms + platform` (`NO_BP`: none yet): one
    /// array read per event instead of a hash lookup (derived from `st`, not state).
    pub(crate) bp_lookup: Vec<u32>,
    /// [`key_prefix`] of each brand/platform, by index (derived from `st`, not state).
    pub(crate) bp_keys: Vec<StableHasher>,
    pub(crate) st: State,
    /// Token buffer reused by every text analysed at intake (not state: never snapshotted).
    pub(crate) scratch: Tokens,
    /// A lower bound of every pending timer's deadline: `run_timers` returns at once while
    /// its horizon does not pass it, instead of recomputing the candidates per item. Rules
    /// that add a timer lower it (`note_deadline`); a cache, so never snapshotted.
    pub(crate) next_due: i64,
    /// The shortest time-based stage, for `note_deadline` on a new thread.
    pub(crate) min_stage_ms: i64,
    /// Each stage's next deadline, as last computed for its cursor (a cache, never
    /// snapshotted): a record's opening time never changes while it is kept, so the entry
    /// holds while the cursor and whether its record is kept are the same, and `run_timers`
    /// does not unpack five records per fired timer.
    stage_due: [StageDue; 5],
    /// Emptied id buffers of applied items, reused by `make_item` (not state).
    pub(crate) spare_strs: Vec<String>,
    /// Personal-touch rows of the last drain: the first row after a drain reserves that many,
    /// so the vector does not grow by doubling (copying its rows) between drains. A hint only.
    pub(crate) touch_rows_hint: usize,
}

/// Bounds what [`Engine::touch_rows_hint`] reserves after an unusually large drain.
const MAX_TOUCH_ROWS_HINT: usize = 1 << 14;

/// Enough spare id buffers for the reorder buffer's churn without holding memory for long.
const MAX_SPARE_STRS: usize = 64;
/// The dirty-thread list keeps its buffer across drains up to this many entries (64 KiB).
const MAX_KEPT_DIRTY: usize = 1 << 13;

impl Engine {
    /// Builds an engine; refuses invalid settings (unknown timezone, malformed hours, ...).
    pub fn new(config: EngineConfig, brands: Vec<BrandSettings>) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut configured = FastMap::default();
        let mut order = Vec::new();
        for b in &brands {
            let cal = BusinessCalendar::from_settings(b)?;
            if configured.insert(b.brand_id.clone(), cal).is_some() {
                return Err(ConfigError::DuplicateBrand {
                    brand: b.brand_id.clone(),
                });
            }
            order.push(b.brand_id.clone());
        }
        let default_cal = BusinessCalendar::from_settings(&BrandSettings::with_defaults(""))?;
        let ms = EngineConfig::ms;
        let mut e = Engine {
            gap: ms(config.thread_gap_seconds),
            max_pending: ms(config.max_pending_seconds),
            lateness: ms(config.allowed_lateness_seconds),
            stage_ms: [
                HOUR_MS,
                24 * HOUR_MS,
                7 * DAY_MS,
                ms(config.max_pending_seconds),
                ms(config.return_window_seconds),
            ],
            cfg: config,
            configured,
            cals: Vec::new(),
            default_cal,
            brand_lookup: FastMap::default(),
            bp_lookup: Vec::new(),
            bp_keys: Vec::new(),
            st: State {
                watermark: i64::MIN,
                max_seen: i64::MIN,
                ..State::default()
            },
            scratch: Tokens::default(),
            next_due: i64::MIN,
            min_stage_ms: 0,
            stage_due: [StageDue::UNSET; 5],
            spare_strs: Vec::new(),
            touch_rows_hint: 0,
        };
        e.min_stage_ms = e.stage_ms.iter().copied().min().unwrap_or(0);
        for id in order {
            e.brand_index(&id);
        }
        Ok(e)
    }

    /// The watermark (epoch ms): `max(occurred_at) − allowed_lateness`, or later if moved by
    /// [`Engine::advance_watermark`]. `i64::MIN` before the first event.
    pub fn watermark(&self) -> i64 {
        self.st.watermark
    }

    pub fn stats(&self) -> EngineStats {
        self.st.stats
    }

    /// Open threads and brand-initiated conversations currently tracked.
    pub fn open_keys(&self) -> usize {
        self.st.store.len()
    }

    pub(crate) fn brand_index(&mut self, id: &str) -> u32 {
        if let Some(&i) = self.brand_lookup.get(id) {
            return i;
        }
        let i = self.st.brands.len() as u32;
        self.st.brands.push(SmolStr::new(id));
        self.cals.push(
            self.configured
                .get(id)
                .cloned()
                .unwrap_or_else(|| self.default_cal.clone()),
        );
        self.brand_lookup.insert(id.to_owned(), i);
        i
    }

    #[inline]
    pub(crate) fn bp_index(&mut self, brand: u32, platform: Platform) -> u32 {
        let k = bp_slot(brand, platform);
        match self.bp_lookup.get(k) {
            Some(&i) if i != NO_BP => i,
            _ => self.new_bp(brand, platform),
        }
    }

    fn new_bp(&mut self, brand: u32, platform: Platform) -> u32 {
        let i = self.st.bps.len() as u32;
        self.st.bps.push(BpState::new(brand, platform));
        self.index_bp(i);
        i
    }

    /// Enters brand/platform `i` (already in `st.bps`, the next index to enter) into the
    /// derived lookups: its `bp_lookup` cell and its key prefix.
    fn index_bp(&mut self, i: u32) {
        let (brand, platform) = (
            self.st.bps[i as usize].brand,
            self.st.bps[i as usize].platform,
        );
        let k = bp_slot(brand, platform);
        if self.bp_lookup.len() <= k {
            self.bp_lookup
                .resize((brand as usize + 1) * Platform::ALL.len(), NO_BP);
        }
        self.bp_lookup[k] = i;
        debug_assert_eq!(self.bp_keys.len(), i as usize);
        self.bp_keys.push(key_prefix(
            &self.st.brands[brand as usize],
            platform.index(),
        ));
    }

    /// Takes one event. Call in arrival order; events may be out of order by up to
    /// `allowed_lateness`. Never fails: odd events are counted, not rejected.
    pub fn process(&mut self, ev: &InteractionEvent) -> Disposition {
        // One lookup on the hot path: a brand seen before is never counted again (only the
        // first event of an unconfigured brand is, as before).
        let brand = match self.brand_lookup.get(ev.brand_id.as_str()) {
            Some(&i) => i,
            None => {
                if !self.configured.contains_key(&ev.brand_id) {
                    self.st.stats.unconfigured_brand_events += 1;
                }
                self.brand_index(&ev.brand_id)
            }
        };
        let bp = self.bp_index(brand, ev.platform);
        let evh = hash_str(&ev.event_id);
        // Duplicates land on the watermark's day (the arrival's), as late items do.
        let now = if self.st.watermark == i64::MIN {
            ev.occurred_at
        } else {
            self.st.watermark
        };
        if self.st.dedup.insert_if_absent(evh, ev.occurred_at) {
            self.st.stats.duplicates += 1;
            self.agg(bp, utc_day(now)).arrival(now).duplicate_items += 1;
            return Disposition::Duplicate;
        }
        if ev.occurred_at < self.st.watermark {
            self.st.stats.late_items += 1;
            let w = self.st.watermark;
            self.agg(bp, utc_day(w)).arrival(w).late_items += 1;
            return Disposition::Late;
        }
        self.st.stats.accepted += 1;
        let item = self.make_item(ev, bp, evh);
        let buf = &mut self.st.buffer;
        if buf.back().is_none_or(|b| b.order() <= item.order()) {
            buf.push_back(item);
        } else {
            let o = item.order();
            let pos = buf.partition_point(|b| b.order() <= o);
            buf.insert(pos, item);
        }
        self.st.max_seen = self.st.max_seen.max(ev.occurred_at);
        let w = self.st.max_seen.saturating_sub(self.lateness);
        self.advance(w);
        Disposition::Accepted
    }

    fn make_item(&mut self, ev: &InteractionEvent, bp: u32, evh: u64) -> Item {
        let user = if ev.kind == Kind::ProfileSnapshot {
            ev.actor.id.as_str()
        } else {
            ev.user_id()
        };
        let mut strs = self.spare_strs.pop().unwrap_or_default();
        strs.reserve(user.len() + ev.object_id.len());
        strs.push_str(user);
        strs.push_str(&ev.object_id);
        let live = ev.modifier == Modifier::None;
        let extra = match (ev.kind, ev.direction, &ev.text, &ev.profile) {
            (Kind::ProfileSnapshot, _, _, Some(p)) => Extra::Profile {
                is_brand: ev.actor.id == ev.brand_account_id,
                counts: *p,
            },
            (k, Direction::Inbound, Some(text), _) if live && k.is_conversational() => {
                Extra::Inbound(content_words_with(text, &mut self.scratch))
            }
            (k, Direction::Outbound, Some(text), _)
                if live && k.is_conversational() && !ev.automated && !user.is_empty() =>
            {
                let name = ev
                    .addressed
                    .as_ref()
                    .and_then(|p| p.display_name.as_deref());
                Extra::Reply(analyze_reply_with(text, name, &mut self.scratch))
            }
            _ => Extra::None,
        };
        let followers = match ev.direction {
            Direction::Inbound => ev.actor.followers,
            Direction::Outbound => ev.addressed.as_ref().and_then(|p| p.followers),
        };
        Item {
            t: ev.occurred_at,
            dir: ev.direction,
            ev: evh,
            bp,
            key: key_hash_from(self.bp_keys[bp as usize], user),
            kind: ev.kind,
            modifier: ev.modifier,
            channel: ev.channel,
            automated: ev.automated,
            followers: followers.map_or(u32::MAX, |f| {
                u32::try_from(f.max(0)).unwrap_or(u32::MAX - 1)
            }),
            user_len: user.len() as u32,
            strs,
            extra,
        }
    }

    /// Moves the watermark forward to `ts` (epoch ms) if it is later. Use only event-derived
    /// times (e.g. the end of a backfill, or a report's cut-off), never a wall clock, or
    /// replays stop being identical.
    pub fn advance_watermark(&mut self, ts: i64) {
        self.advance(ts);
    }

    fn advance(&mut self, w: i64) {
        if w <= self.st.watermark {
            return;
        }
        self.st.watermark = w;
        while self.st.buffer.front().is_some_and(|i| i.t < w) {
            let Some(item) = self.st.buffer.pop_front() else {
                break;
            };
            self.run_timers(item.t);
            self.apply(&item);
            // Its id buffer serves a later item: one allocation less per event.
            let mut strs = item.strs;
            if self.spare_strs.len() < MAX_SPARE_STRS {
                strs.clear();
                self.spare_strs.push(strs);
            }
        }
        self.run_timers(w);
    }

    /// Lowers the cached earliest deadline for a timer just added at `d`.
    #[inline]
    pub(crate) fn note_deadline(&mut self, d: i64) {
        self.next_due = self.next_due.min(d);
    }

    /// Fires, in deadline order, every timer with a deadline strictly before `before`.
    fn run_timers(&mut self, before: i64) {
        if before <= self.next_due {
            return;
        }
        loop {
            let mut best: Option<(i64, Timer)> = None;
            // The two smallest deadlines of all sources (equal ones counted twice).
            let (mut earliest, mut second) = (i64::MAX, i64::MAX);
            let mut consider = |d: i64, t: Timer| {
                if d < earliest {
                    second = earliest;
                    earliest = d;
                    if d < before {
                        best = Some((d, t));
                    }
                } else if d < second {
                    second = d;
                }
            };
            for k in 0..4 {
                if let Some(d) = self.stage_deadline(k) {
                    consider(d, Timer::Stage(k));
                }
            }
            if let Some(Reverse((d, _))) = self.st.sla.peek() {
                consider(*d, Timer::Sla);
            }
            if let Some(nf) = self.st.new_followers.front() {
                consider(
                    nf.at + EngineConfig::ms(self.cfg.follow_back_window_seconds),
                    Timer::NewFollower,
                );
            }
            if self.st.started {
                consider(self.st.next_boundary - 1, Timer::Boundary);
            }
            if let Some(d) = self.stage_deadline(4) {
                consider(d, Timer::Stage(4));
            }
            if self.st.started {
                consider(self.st.next_sweep, Timer::Sweep);
            }
            let Some((d, timer)) = best else {
                self.next_due = earliest;
                break;
            };
            // Firing a timer moves only its own source (a rule that adds a timer lowers
            // `next_due` itself; a record that goes only removes a candidate), so the other
            // sources' earliest deadline and the fired source's next one bound every pending
            // deadline: when that bound is not before `before`, the pass that would find
            // nothing due is skipped.
            self.next_due = second;
            match timer {
                Timer::Stage(k) => {
                    let seq = self.st.cursors[k];
                    self.st.cursors[k] += 1;
                    self.stage(k, seq, d);
                }
                Timer::Sla => {
                    if let Some(Reverse((_, seq))) = self.st.sla.pop() {
                        self.sla_deadline(seq, d);
                    }
                }
                Timer::NewFollower => {
                    if let Some(nf) = self.st.new_followers.pop_front() {
                        self.follow_back_window_closed(nf, d);
                    }
                }
                Timer::Boundary => {
                    self.day_boundary(d);
                    self.st.next_boundary += DAY_MS;
                }
                Timer::Sweep => {
                    self.sweep(d);
                    self.st.next_sweep =
                        d + EngineConfig::ms(self.cfg.housekeeping_interval_seconds);
                }
            }
            let next = self.source_deadline(timer);
            self.next_due = self.next_due.min(next);
            if before <= self.next_due {
                break;
            }
        }
    }

    /// The current deadline of one timer source (`i64::MAX` when it has none).
    #[inline]
    fn source_deadline(&mut self, timer: Timer) -> i64 {
        match timer {
            Timer::Stage(k) => self.stage_deadline(k).unwrap_or(i64::MAX),
            Timer::Sla => self.st.sla.peek().map_or(i64::MAX, |Reverse((d, _))| *d),
            Timer::NewFollower => self.st.new_followers.front().map_or(i64::MAX, |nf| {
                nf.at + EngineConfig::ms(self.cfg.follow_back_window_seconds)
            }),
            Timer::Boundary => self.st.next_boundary - 1,
            Timer::Sweep => self.st.next_sweep,
        }
    }

    /// The deadline of stage `k`'s next record, if that record is kept.
    #[inline(always)]
    fn stage_deadline(&mut self, k: usize) -> Option<i64> {
        let cursor = self.st.cursors[k];
        let kept = self.st.cohort.holds(cursor);
        let e = &mut self.stage_due[k];
        if e.cursor != cursor || e.kept != kept {
            let due = match self.st.cohort.opened_ms(cursor) {
                Some(o) => o + self.stage_ms[k],
                None => 0,
            };
            *e = StageDue { cursor, kept, due };
        }
        kept.then_some(e.due)
    }

    pub(crate) fn agg(&mut self, bp: u32, day: i64) -> &mut DayAgg {
        let platform = self.st.bps[bp as usize].platform;
        self.st
            .days
            .entry(day_key(bp, day))
            .or_insert_with(|| DayAgg::new(platform, day_u16(day)))
    }

    /// The oldest thread of a brand/platform still awaiting the brand, if any.
    pub(crate) fn oldest_pending(&mut self, bp: u32) -> Option<i64> {
        let st = &mut self.st;
        let q = &mut st.bps[bp as usize].awaiting;
        while let Some(low) = q.front() {
            match st.cohort.resolve(low).and_then(|s| st.cohort.get(s)) {
                Some(r) if r.has(crate::threads::flag::AWAITING) => return Some(r.opened_ms),
                _ => {
                    q.pop_front();
                }
            }
        }
        None
    }

    /// Everything produced since the last call, with every changed daily row as of the
    /// current watermark. Rows of one call are in a deterministic order.
    pub fn drain_output(&mut self) -> Output {
        let mut dirty = std::mem::take(&mut self.st.dirty);
        // At most one row per dirty thread: one allocation instead of the vector doubling
        // (and copying its rows) a dozen times per drain.
        self.st.out.threads.reserve(dirty.len());
        for &seq in &dirty {
            self.emit_if_dirty(seq);
        }
        // The emptied list serves the next period (no regrowth from nothing per drain),
        // unless it is large: then its bytes are not held between drains.
        if dirty.capacity() <= MAX_KEPT_DIRTY && self.st.dirty.is_empty() {
            dirty.clear();
            self.st.dirty = dirty;
        }
        if self.st.started {
            let w = self.st.watermark;
            let today = utc_day(w);
            let mut keys: Vec<u64> = self.st.days.keys().copied().collect();
            keys.sort_unstable();
            for k in keys {
                let (bp, day) = split_day_key(k);
                let live = day == today;
                let Some(a) = self.st.days.get(&k) else {
                    continue;
                };
                if live && !a.frozen {
                    if a.emitted_at == w && !a.dirty {
                        continue;
                    }
                } else if !a.dirty {
                    continue;
                }
                if live && !a.frozen {
                    // Who follows whom is settled at the end of the day (METRICS.md §4: "at
                    // the end of the period"); the live row only counts engagers so far.
                    let engagers = a.engagers.as_ref().map_or(0, |s| s.len() as u32);
                    let oldest = self.oldest_pending(bp);
                    let bps = &self.st.bps[bp as usize];
                    if let Some(a) = self.st.days.get_mut(&k) {
                        set_backlog(&mut a.row, bps, oldest, w);
                        a.row.engagers = engagers;
                    }
                }
                let brand_id = self.st.brands[self.st.bps[bp as usize].brand as usize].clone();
                let Some(a) = self.st.days.get_mut(&k) else {
                    continue;
                };
                let row = a.to_row(&brand_id, (live && !a.frozen).then_some(w));
                if live && !a.frozen {
                    a.emitted_at = w;
                }
                a.dirty = false;
                let bands = a.band_rows(&brand_id, row.version);
                self.st.out.daily.push(row);
                self.st.out.daily_bands.extend(bands);
            }
        }
        self.touch_rows_hint = self.st.out.personal_touch.len().min(MAX_TOUCH_ROWS_HINT);
        std::mem::take(&mut self.st.out)
    }

    /// Engager counts of a day: distinct engagers, those following the brand, and those of
    /// them the brand follows, per the follow edges now. Settled days keep their frozen counts.
    pub(crate) fn engager_counts(&self, day_key: u64) -> (u32, u32, u32) {
        let Some(a) = self.st.days.get(&day_key) else {
            return (0, 0, 0);
        };
        let Some(set) = a.engagers.as_deref() else {
            return (
                a.row.engagers,
                a.row.engagers_following_brand,
                a.row.engagers_followed_back,
            );
        };
        let (mut following, mut back) = (0, 0);
        for k in set.iter() {
            let e = self.st.edges.get(&k).copied().unwrap_or(0);
            if e & crate::rules::USER_FOLLOWS != 0 {
                following += 1;
                if e & crate::rules::BRAND_FOLLOWS != 0 {
                    back += 1;
                }
            }
        }
        (set.len() as u32, following, back)
    }

    /// Live figures per brand/platform at the watermark, sorted by brand then platform.
    pub fn live_gauges(&mut self) -> Vec<LiveGauges> {
        let w = self.st.watermark;
        let today = utc_day(w);
        let mut out = Vec::with_capacity(self.st.bps.len());
        for bp in 0..self.st.bps.len() as u32 {
            let oldest = self.oldest_pending(bp);
            let mut sketch = QuantileSketch::new();
            let (mut old, mut answered) = (0u32, 0u32);
            for day in today - 6..=today {
                if let Some(a) = self.st.days.get(&day_key(bp, day)) {
                    old += a.row.threads_24h_old;
                    answered += a.row.answered_within_24h;
                    sketch.merge(&a.sketch);
                }
            }
            let b = &self.st.bps[bp as usize];
            out.push(LiveGauges {
                brand_id: self.st.brands[b.brand as usize].to_string(),
                platform: b.platform,
                pending_threads: b.pending,
                oldest_pending_seconds: oldest.map_or(0, |o| secs(w - o)),
                breaching_sla: b.breaching,
                threads_24h_old_7d: old,
                answered_within_24h_7d: answered,
                response_rate_24h_7d: (old > 0).then(|| f64::from(answered) / f64::from(old)),
                frt_p50_seconds_7d: sketch.quantile(0.5),
                frt_p90_seconds_7d: sketch.quantile(0.9),
                frt_sketch_7d: sketch,
            });
        }
        out.sort_by(|a, b| (&a.brand_id, a.platform).cmp(&(&b.brand_id, b.platform)));
        out
    }

    /// Serializes the whole state (including buffered events and undrained output) as
    /// `b"RPEN"`, a little-endian `u16` layout version, then a postcard payload.
    pub fn snapshot(&self) -> Result<Vec<u8>, SnapshotError> {
        let mut bytes = Vec::with_capacity(64 + self.st.store.heap_bytes());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
        postcard::to_io(&StateOut::of(&self.st), &mut bytes).map_err(SnapshotError::Encode)?;
        Ok(bytes)
    }

    /// Rebuilds an engine from [`Engine::snapshot`] bytes with the current configuration.
    /// Reads this layout and layout 1 (converted); rejects other versions rather than guessing.
    pub fn restore(
        bytes: &[u8],
        config: EngineConfig,
        brands: Vec<BrandSettings>,
    ) -> Result<Self, SnapshotError> {
        if bytes.len() < 6 || &bytes[..4] != MAGIC {
            return Err(SnapshotError::NotASnapshot);
        }
        let found = u16::from_le_bytes([bytes[4], bytes[5]]);
        if found != SNAPSHOT_VERSION && found != 1 {
            return Err(SnapshotError::UnsupportedVersion {
                found,
                supported: SNAPSHOT_VERSION,
            });
        }
        let mut st: State = postcard::from_bytes(&bytes[6..]).map_err(SnapshotError::Corrupt)?;
        if found == 1 {
            st.store.upgrade_v1_arena();
        }
        st.ctx.attach_all(&st.store);
        let mut e = Engine::new(config, Vec::new())?;
        for b in &brands {
            let cal = BusinessCalendar::from_settings(b)?;
            if e.configured.insert(b.brand_id.clone(), cal).is_some() {
                return Err(ConfigError::DuplicateBrand {
                    brand: b.brand_id.clone(),
                }
                .into());
            }
        }
        e.st = st;
        for (i, name) in e.st.brands.iter().enumerate() {
            e.brand_lookup.insert(name.to_string(), i as u32);
            e.cals.push(
                e.configured
                    .get(name.as_str())
                    .cloned()
                    .unwrap_or_else(|| e.default_cal.clone()),
            );
        }
        for i in 0..e.st.bps.len() as u32 {
            e.index_bp(i);
        }
        for b in brands {
            e.brand_index(&b.brand_id);
        }
        Ok(e)
    }

    /// Approximate heap bytes per structure (container capacities, not allocator overhead);
    /// the memory bench measures the real total with a counting allocator.
    pub fn heap_breakdown(&self) -> HeapBreakdown {
        HeapBreakdown {
            thread_index: self.st.store.heap_bytes(),
            cohort: self.st.cohort.heap_bytes()
                + self.st.sla.capacity() * 16
                + self
                    .st
                    .bps
                    .iter()
                    .map(|b| b.awaiting.heap_bytes())
                    .sum::<usize>(),
            dedup: self.st.dedup.heap_bytes(),
            engager_sets: self
                .st
                .days
                .values()
                .filter_map(|a| a.engagers.as_deref())
                .map(|s| std::mem::size_of::<KeySet>() + s.heap_bytes())
                .sum(),
            reply_context: self.st.ctx.heap_bytes(),
            fingerprints: self.st.fingerprints.heap_bytes(),
        }
    }
}

/// Approximate heap bytes of the engine's main structures (see [`Engine::heap_breakdown`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeapBreakdown {
    /// Open-thread slots, their hash index and the id-string arena.
    pub thread_index: usize,
    /// Per-thread outcome records (kept 30 days), SLA timers, per-brand pending queues.
    pub cohort: usize,
    /// `event_id` hashes within the dedup horizon.
    pub dedup: usize,
    /// Distinct engagers of each day not yet settled.
    pub engager_sets: usize,
    /// Content words of each user's latest inbound item (personal touch).
    pub reply_context: usize,
    pub fingerprints: usize,
}

/// One entry of `Engine::stage_due`.
#[derive(Debug, Clone, Copy)]
struct StageDue {
    cursor: u64,
    kept: bool,
    due: i64,
}

impl StageDue {
    /// Matches no cursor, so the first use computes the entry.
    const UNSET: StageDue = StageDue {
        cursor: u64::MAX,
        kept: false,
        due: 0,
    };
}

#[derive(Debug, Clone, Copy)]
enum Timer {
    Stage(usize),
    Sla,
    NewFollower,
    Boundary,
    Sweep,
}

/// `Engine::bp_lookup` entry of a brand/platform with no index yet.
const NO_BP: u32 = u32::MAX;

#[inline]
fn bp_slot(brand: u32, platform: Platform) -> usize {
    brand as usize * Platform::ALL.len() + platform.index() as usize
}

pub(crate) fn day_key(bp: u32, day: i64) -> u64 {
    (u64::from(bp) << 32) | u64::from(day as u32)
}

pub(crate) fn split_day_key(k: u64) -> (u32, i64) {
    ((k >> 32) as u32, i64::from(k as u32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rapport_events::Party;

    fn event(i: u64, dir: Direction, user: u64, t: i64) -> InteractionEvent {
        let party = |id: String| Party {
            id,
            handle: None,
            display_name: Some("Sam Rivera".into()),
            followers: Some(10),
        };
        let user = party(format!("{}", 1_000_000_000_000u64 + user));
        let (actor, addressed) = match dir {
            Direction::Inbound => (user, None),
            Direction::Outbound => (party("acct".into()), Some(user)),
        };
        InteractionEvent {
            event_id: format!("ev-{i}"),
            platform: Platform::X,
            brand_id: "acme".into(),
            brand_account_id: "acct".into(),
            kind: Kind::Comment,
            modifier: Modifier::None,
            direction: dir,
            channel: Channel::Public,
            actor,
            addressed,
            object_id: format!("{}", 1_850_000_000_000_000_000u64 + i),
            parent_id: None,
            root_id: None,
            text: Some("my blender jug arrived cracked".into()),
            reaction: None,
            automated: false,
            occurred_at: t,
            received_at: t,
            profile: None,
            source: "test".into(),
        }
    }

    /// Unboxing the reply features did not make buffered items larger.
    #[test]
    fn extra_stays_small() {
        assert!(
            std::mem::size_of::<Extra>() <= 48,
            "{}",
            std::mem::size_of::<Extra>()
        );
    }

    /// A layout-1 snapshot (ids as plain strings in the arena) restores and continues exactly
    /// like the engine it was taken from.
    #[test]
    fn restores_layout_1_snapshots() {
        let t0 = 1_772_438_400_000i64;
        let mut events = Vec::new();
        for i in 0..400u64 {
            let dir = if i % 3 == 2 {
                Direction::Outbound
            } else {
                Direction::Inbound
            };
            events.push(event(i, dir, i % 37, t0 + i as i64 * 60_000));
        }
        let mut engine = Engine::new(EngineConfig::default(), vec![]).unwrap();
        for e in &events[..200] {
            engine.process(e);
        }
        let v2 = engine.snapshot().unwrap();
        let mut old = Engine::restore(&v2, EngineConfig::default(), vec![]).unwrap();
        old.st.store.downgrade_to_v1_arena();
        let mut v1 = old.snapshot().unwrap();
        v1[4..6].copy_from_slice(&1u16.to_le_bytes());
        assert_ne!(v1, v2);
        let mut restored = Engine::restore(&v1, EngineConfig::default(), vec![]).unwrap();
        for e in &events[200..] {
            assert_eq!(engine.process(e), restored.process(e));
        }
        engine.advance_watermark(t0 + 40 * DAY_MS);
        restored.advance_watermark(t0 + 40 * DAY_MS);
        let (a, b) = (engine.drain_output(), restored.drain_output());
        assert!(!a.threads.is_empty());
        assert!(a.threads.iter().any(|r| r.first_response_item_id.is_some()));
        assert_eq!(a, b);
        let mut future = v2.clone();
        future[4..6].copy_from_slice(&3u16.to_le_bytes());
        assert!(matches!(
            Engine::restore(&future, EngineConfig::default(), vec![]),
            Err(SnapshotError::UnsupportedVersion {
                found: 3,
                supported: 2
            })
        ));
    }
}
