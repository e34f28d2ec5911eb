//! One assigned partition: its engine, the next offset to process, the rows not yet written,
//! and its checkpoint slot. Owns the per-partition order of effects — rows written before the
//! snapshot that covers them, snapshot saved before the offset is committed.

use std::time::Instant;

use rapport_clickhouse::rows::InteractionRow;
use rapport_clickhouse::{next_slot, StateStore};
use rapport_engine::{
    BrandSettings, Disposition, Engine, EngineConfig, LiveGauges, SNAPSHOT_VERSION,
};
use rapport_events::EventCodec;
use rapport_runtime::Shutdown;

use crate::metrics::Metrics;
use crate::sink::{Batch, Interrupted, Sink};
use crate::{now_secs, LoopSettings};

/// Errors that stop the processor: they mean a bug or an incompatible deployment, and
/// skipping would lose data.
#[derive(Debug, thiserror::Error)]
pub enum PartitionError {
    #[error("the checkpoint of partition {partition} cannot be restored")]
    Restore {
        partition: i32,
        #[source]
        source: rapport_engine::SnapshotError,
    },
    #[error("the engine settings were refused")]
    Config(#[from] rapport_engine::ConfigError),
    #[error("the engine state of partition {partition} cannot be encoded")]
    Snapshot {
        partition: i32,
        #[source]
        source: rapport_engine::SnapshotError,
    },
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
}

pub struct PartitionWorker {
    pub partition: i32,
    pub engine: Engine,
    /// The next offset to process: every record before it is in the engine.
    pub next_offset: i64,
    /// Rows of every record before this offset are in ClickHouse.
    flushed_offset: i64,
    /// The saved state covers every record before this offset.
    checkpoint_offset: i64,
    slot: Option<u8>,
    batch: Batch,
    last_flush: Instant,
    last_checkpoint: Instant,
    /// Newest `occurred_at` seen, and when the last record arrived (for the idle advance).
    max_seen: i64,
    last_record: Instant,
}

impl PartitionWorker {
    /// Restore from the newest complete checkpoint, or start empty at offset 0.
    pub async fn restore(
        partition: i32,
        store: &StateStore,
        sink: &Sink,
        config: EngineConfig,
        brands: Vec<BrandSettings>,
        metrics: &Metrics,
        shutdown: &Shutdown,
    ) -> Result<PartitionWorker, PartitionError> {
        let p = partition_u32(partition);
        let loaded = sink
            .retry("load checkpoint", shutdown, || store.load(p))
            .await?;
        let (engine, next_offset, slot, max_seen) = match loaded {
            Some(cp) => {
                let (snapshot, max_seen) = split_worker_trailer(&cp.state, cp.state_version);
                let engine = Engine::restore(snapshot, config, brands)
                    .map_err(|source| PartitionError::Restore { partition, source })?;
                let offset = i64::try_from(cp.next_offset).unwrap_or(i64::MAX);
                metrics
                    .state_bytes
                    .with_label_values(&[&partition.to_string()])
                    .set(cp.state.len() as i64);
                (engine, offset, Some(cp.slot), max_seen)
            }
            None => (Engine::new(config, brands)?, 0, None, i64::MIN),
        };
        let now = Instant::now();
        Ok(PartitionWorker {
            partition,
            engine,
            next_offset,
            flushed_offset: next_offset,
            checkpoint_offset: next_offset,
            slot,
            batch: Default::default(),
            last_flush: now,
            last_checkpoint: now,
            max_seen,
            // A restored partition that gets no records idle-advances like one that just
            // went idle, so held-back events of a checkpoint taken before the advance (or a
            // crash right after it) still reach the tables.
            last_record: now,
        })
    }

    /// Process one record. Returns a dead-letter reason when the record cannot be decoded.
    #[allow(clippy::too_many_arguments)]
    pub async fn handle(
        &mut self,
        offset: i64,
        payload: &[u8],
        codec: &EventCodec,
        sink: &Sink,
        metrics: &Metrics,
        shutdown: &Shutdown,
        settings: &LoopSettings,
    ) -> Result<Option<(&'static str, String)>, PartitionError> {
        if offset < self.next_offset {
            // Already covered by the restored state (the group commit trails the checkpoint).
            metrics.records.with_label_values(&["replay_skipped"]).inc();
            return Ok(None);
        }
        if offset > self.next_offset && self.next_offset > 0 {
            tracing::warn!(
                partition = self.partition,
                expected = self.next_offset,
                got = offset,
                "offset gap (records deleted by retention?); continuing from the record received"
            );
        }
        let dead = match codec.decode(payload) {
            Ok(event) => {
                self.max_seen = self.max_seen.max(event.occurred_at);
                let outcome = match self.engine.process(&event) {
                    Disposition::Accepted => "accepted",
                    Disposition::Duplicate => "duplicate",
                    Disposition::Late => "late",
                };
                // Late items stay in the raw history; duplicates are the same row anyway.
                if outcome != "duplicate" {
                    self.batch.interactions.push(InteractionRow::from(&event));
                }
                metrics.records.with_label_values(&[outcome]).inc();
                None
            }
            Err(error) => {
                metrics.records.with_label_values(&["dead_letter"]).inc();
                tracing::warn!(partition = self.partition, offset, %error, "undecodable record; dead-lettering it");
                Some(("decode_error", error.to_string()))
            }
        };
        self.next_offset = offset + 1;
        self.last_record = Instant::now();
        if self.batch.interactions.len() >= settings.batch_rows {
            self.flush(sink, shutdown).await?;
        }
        Ok(dead)
    }

    /// Move the engine's rows since the last call into this partition's batch.
    pub fn stage(&mut self) {
        let out = self.engine.drain_output();
        self.batch.add_output(&out, partition_u32(self.partition));
    }

    /// The rows staged and not yet written.
    pub fn batch(&self) -> &Batch {
        &self.batch
    }

    /// The staged rows are in ClickHouse: every record processed so far is flushed.
    pub fn mark_flushed(&mut self) {
        self.batch.clear();
        self.flushed_offset = self.next_offset;
        self.last_flush = Instant::now();
    }

    /// Write the rows of every record processed so far (this partition alone).
    pub async fn flush(&mut self, sink: &Sink, shutdown: &Shutdown) -> Result<(), Interrupted> {
        self.stage();
        if !self.batch.is_empty() {
            sink.write_until_ok(&[&self.batch], shutdown).await?;
        }
        self.mark_flushed();
        Ok(())
    }

    /// Flush, then save the state covering every record so far. Returns the offset to commit.
    pub async fn checkpoint(
        &mut self,
        sink: &Sink,
        store: &StateStore,
        metrics: &Metrics,
        shutdown: &Shutdown,
    ) -> Result<i64, PartitionError> {
        self.flush(sink, shutdown).await?;
        if self.checkpoint_offset == self.next_offset && self.slot.is_some() {
            return Ok(self.next_offset);
        }
        let started = Instant::now();
        let mut state = self
            .engine
            .snapshot()
            .map_err(|source| PartitionError::Snapshot {
                partition: self.partition,
                source,
            })?;
        state.extend_from_slice(&self.max_seen.to_le_bytes());
        let slot = next_slot(self.slot);
        let p = partition_u32(self.partition);
        let next = u64::try_from(self.next_offset).unwrap_or(0);
        sink.retry("save checkpoint", shutdown, || {
            store.save(
                p,
                slot,
                next,
                u32::from(SNAPSHOT_VERSION) | WORKER_TRAILER,
                &state,
                now_secs(),
            )
        })
        .await?;
        self.slot = Some(slot);
        self.checkpoint_offset = self.next_offset;
        self.last_checkpoint = Instant::now();
        metrics.checkpoints.inc();
        metrics
            .checkpoint_seconds
            .observe(started.elapsed().as_secs_f64());
        metrics
            .state_bytes
            .with_label_values(&[&self.partition.to_string()])
            .set(state.len() as i64);
        tracing::debug!(
            partition = self.partition,
            next_offset = self.next_offset,
            bytes = state.len(),
            "checkpoint saved"
        );
        Ok(self.next_offset)
    }

    /// Idle long enough that the events held back for lateness should be applied, if the
    /// partition is also caught up (the caller checks the log end).
    pub fn wants_idle_advance(&self, settings: &LoopSettings) -> bool {
        self.max_seen > self.engine.watermark()
            && self.last_record.elapsed() >= settings.idle_advance
    }

    /// Idle at the end of the log: stop holding events back for lateness. The caller checks
    /// the log end, so a replay or a restart (which always has records waiting) never advances
    /// early; only a record written to the topic after the advance, within the lateness window
    /// of `max_seen`, counts as late. The rows it releases go out with the next flush.
    pub fn advance_idle(&mut self) {
        self.engine
            .advance_watermark(self.max_seen.saturating_add(1));
    }

    /// Records processed since the last flush, and the flush interval has passed.
    pub fn flush_due(&self, settings: &LoopSettings) -> bool {
        self.next_offset > self.flushed_offset
            && self.last_flush.elapsed() >= settings.flush_interval
    }

    /// Records processed since the last checkpoint, and the checkpoint interval has passed.
    pub fn checkpoint_due(&self, settings: &LoopSettings) -> bool {
        self.next_offset > self.checkpoint_offset
            && self.last_checkpoint.elapsed() >= settings.checkpoint_interval
    }
}

/// `state_version` flag: the checkpoint is the engine snapshot followed by the worker's
/// `max_seen` (8 bytes, little endian). The idle advance moves the watermark to
/// `max_seen + 1`, so a restored worker must know it: without it, a partition checkpointed at
/// its end before the idle advance (then killed, or handed to another member) never applies
/// the events it holds back for lateness, and its last minutes never reach the tables.
const WORKER_TRAILER: u32 = 1 << 16;

/// The engine snapshot and the worker's `max_seen` of a stored checkpoint. Checkpoints written
/// before the trailer existed restore with no `max_seen` (the previous behaviour).
fn split_worker_trailer(state: &[u8], state_version: u32) -> (&[u8], i64) {
    if state_version & WORKER_TRAILER != 0 && state.len() >= 8 {
        let (snapshot, tail) = state.split_at(state.len() - 8);
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(tail);
        (snapshot, i64::from_le_bytes(bytes))
    } else {
        (state, i64::MIN)
    }
}

fn partition_u32(p: i32) -> u32 {
    u32::try_from(p).unwrap_or(0)
}

/// Live gauges of one brand/platform summed over partitions.
#[derive(Debug, Default)]
pub struct GaugeAgg {
    pub pending: u32,
    pub oldest: u32,
    pub breaching: u32,
    pub old_7d: u32,
    pub answered_7d: u32,
    frt: rapport_engine::QuantileSketch,
}

impl GaugeAgg {
    pub fn add(&mut self, g: &LiveGauges) {
        self.pending += g.pending_threads;
        self.oldest = self.oldest.max(g.oldest_pending_seconds);
        self.breaching += g.breaching_sla;
        self.old_7d += g.threads_24h_old_7d;
        self.answered_7d += g.answered_within_24h_7d;
        // Each partition owns a disjoint set of users, so merging their sketches gives the
        // brand's distribution over this replica's partitions.
        self.frt.merge(&g.frt_sketch_7d);
    }

    pub fn frt_quantile(&self, q: f64) -> Option<f64> {
        self.frt.quantile(q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worker_trailer_round_trips_and_old_checkpoints_restore_without_it() {
        let mut state = b"engine-snapshot".to_vec();
        state.extend_from_slice(&1_772_409_600_123i64.to_le_bytes());
        let version = u32::from(SNAPSHOT_VERSION) | WORKER_TRAILER;
        assert_eq!(
            split_worker_trailer(&state, version),
            (b"engine-snapshot".as_slice(), 1_772_409_600_123)
        );
        let old = b"engine-snapshot";
        assert_eq!(
            split_worker_trailer(old, u32::from(SNAPSHOT_VERSION)),
            (old.as_slice(), i64::MIN)
        );
    }
}
