//! rapport's metric engine: every number of `METRICS.md` is computed here, or in SQL over the
//! rows emitted here. Pure code: no async, no Kafka, no ClickHouse, no HTTP, and no wall
//! clock — time is the event-time **watermark** (`max(occurred_at) − allowed_lateness`), so a
//! replay of old traffic yields exactly the rows that live traffic did.
//!
//! # Calling pattern (one engine per Kafka partition)
//!
//! ```
//! use rapport_engine::{BrandSettings, Engine, EngineConfig, WeeklyHours};
//!
//! let brands = vec![BrandSettings {
//!     business_hours: Some(WeeklyHours::weekdays("09:00-17:00")),
//!     ..BrandSettings::with_defaults("acme")
//! }];
//! let mut engine = Engine::new(EngineConfig::default(), brands).expect("valid config");
//! # let events: Vec<rapport_events::InteractionEvent> = Vec::new();
//! for ev in &events {
//!     engine.process(ev); // Accepted / Duplicate / Late
//! }
//! let out = engine.drain_output(); // rows for ClickHouse since the last drain
//! let state = engine.snapshot().expect("encodable"); // store with the next offset
//! let engine = Engine::restore(&state, EngineConfig::default(), vec![]).expect("same version");
//! # let _ = (out, engine);
//! ```
//!
//! - [`Engine::process`] takes each decoded [`rapport_events::InteractionEvent`] in arrival
//!   order. Events within `allowed_lateness` (5 min) of the newest are reordered and applied in
//!   `occurred_at` order; older ones are counted in `late_items` and change nothing else; a
//!   repeated `event_id` (within `dedup_horizon_seconds`) is counted in `duplicate_items` only.
//! - [`Engine::drain_output`] returns an [`Output`]: [`ThreadRow`]s (one per thread, §2),
//!   [`DailyRow`]s and [`BandDailyRow`]s (§3–§6 as counts per brand, platform, UTC day),
//!   [`PersonalTouchRow`]s (§5), [`FollowEdgeRow`]s and [`ProfileSnapshotRow`]s. Every row
//!   carries a `version` derived from event time; write them to ReplacingMergeTree tables
//!   and read with `FINAL`/`argMax`. Replaying the same events (in any order within the
//!   lateness bound, with any drain schedule) leaves the same final table contents.
//! - [`Engine::advance_watermark`] moves event time forward without an event (end of a
//!   backfill, a report cut-off). Pass event-derived times only.
//! - [`Engine::live_gauges`] gives pending threads, oldest pending age, SLA breaches, the
//!   rolling 7-day `response_rate_24h` counts and sketch FRT p50/p90 per brand/platform.
//! - [`Engine::snapshot`] / [`Engine::restore`]: the whole state as bytes with a leading
//!   layout version ([`SNAPSHOT_VERSION`]); restore also reads layout 1 and refuses others.
//!
//! Units: row instants are `u32` epoch seconds (ClickHouse `DateTime`), `day` is days since
//! 1970-01-01 (`Date`), durations are seconds; inputs and `version`s are epoch milliseconds
//! (thread `version`s are `event_ms << 20 | inbound_items << 4 | flags`).
//!
//! Module map: `engine` (intake, ordering, timers, drain), `rules` (METRICS.md rules),
//! `threads` (compact thread state), `daily` (day aggregates), `calendar` (business time),
//! `touch` + `simhash` (personal touch), `sketch` (quantile sketch), `rows`, `config`.

mod calendar;
mod config;

mod chunks;
mod ctx;
mod daily;
mod dedup;
mod dense;
mod engine;
mod error;
mod hash;
mod keyset;
mod platform_id;
mod rows;
mod rules;
mod simhash;
mod sketch;
mod table;
mod threads;
mod touch;

pub use calendar::BusinessCalendar;
pub use config::{BrandSettings, EngineConfig, WeeklyHours};
pub use engine::{Disposition, Engine, EngineStats, HeapBreakdown, SNAPSHOT_VERSION};
pub use error::{ConfigError, SnapshotError};
pub use hash::{key_hash, thread_id};
pub use platform_id::PlatformId;
pub use rows::{
    BandDailyRow, CountsSource, DailyRow, FollowDirection, FollowEdgeRow, FollowerBand, LiveGauges,
    Output, PersonalTouchRow, ProfileSnapshotRow, SmolStr, ThreadRow, ThreadState,
};
pub use simhash::FingerprintIndex;
pub use sketch::{nearest_rank, QuantileSketch};
pub use touch::{analyze_reply, content_words, normalize, simhash, ReplyFeatures};
