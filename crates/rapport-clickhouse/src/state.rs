//! The processor's checkpoints in ClickHouse (`processor_state`): save an engine snapshot with
//! the next Kafka offset it covers, and load the newest complete one when a partition is
//! assigned. Two slots per partition are written in turn, so a crash in the middle of a save
//! leaves the previous checkpoint intact; each save is a single INSERT.
//!
//! Owns the storage layout only; what the bytes mean belongs to the engine.

use serde::{Deserialize, Serialize};

/// Largest chunk of snapshot bytes stored in one row.
pub const CHUNK_BYTES: usize = 4 << 20;

/// A restored checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub slot: u8,
    pub next_offset: u64,
    pub state_version: u32,
    pub state: Vec<u8>,
}

#[derive(Debug, Clone, clickhouse::Row, Serialize, Deserialize)]
struct StateRow {
    consumer_group: String,
    topic: String,
    partition: u32,
    slot: u8,
    chunk: u32,
    next_offset: u64,
    chunks: u32,
    state_version: u32,
    #[serde(with = "serde_bytes")]
    data: Vec<u8>,
    saved_at: u32,
}

#[derive(Debug, Clone, clickhouse::Row, Deserialize)]
struct LoadedRow {
    slot: u8,
    chunk: u32,
    next_offset: u64,
    chunks: u32,
    state_version: u32,
    #[serde(with = "serde_bytes")]
    data: Vec<u8>,
}

/// Checkpoints of one consumer group on one topic.
#[derive(Clone)]
pub struct StateStore {
    client: clickhouse::Client,
    group: String,
    topic: String,
}

impl StateStore {
    pub fn new(client: clickhouse::Client, group: &str, topic: &str) -> StateStore {
        StateStore {
            client,
            group: group.to_owned(),
            topic: topic.to_owned(),
        }
    }

    /// The newest complete checkpoint of `partition`, if any.
    pub async fn load(
        &self,
        partition: u32,
    ) -> Result<Option<Checkpoint>, clickhouse::error::Error> {
        let rows: Vec<LoadedRow> = self
            .client
            .query(
                "SELECT slot, chunk, next_offset, chunks, state_version, data FROM processor_state FINAL \
                 WHERE consumer_group = ? AND topic = ? AND partition = ? ORDER BY slot, next_offset, chunk",
            )
            .bind(&self.group)
            .bind(&self.topic)
            .bind(partition)
            .fetch_all()
            .await?;
        Ok(newest_complete(rows))
    }

    /// Save `state` as the checkpoint covering every record before `next_offset`, in `slot`.
    /// Callers alternate slots (see [`Checkpoint::slot`] and [`next_slot`]).
    pub async fn save(
        &self,
        partition: u32,
        slot: u8,
        next_offset: u64,
        state_version: u32,
        state: &[u8],
        saved_at: u32,
    ) -> Result<(), clickhouse::error::Error> {
        let pieces: Vec<&[u8]> = if state.is_empty() {
            vec![&[][..]]
        } else {
            state.chunks(CHUNK_BYTES).collect()
        };
        let chunks = u32::try_from(pieces.len()).unwrap_or(u32::MAX);
        let mut insert = self.client.insert::<StateRow>("processor_state").await?;
        for (i, piece) in pieces.into_iter().enumerate() {
            insert
                .write(&StateRow {
                    consumer_group: self.group.clone(),
                    topic: self.topic.clone(),
                    partition,
                    slot,
                    chunk: u32::try_from(i).unwrap_or(u32::MAX),
                    next_offset,
                    chunks,
                    state_version,
                    data: piece.to_vec(),
                    saved_at,
                })
                .await?;
        }
        insert.end().await
    }
}

/// The slot to write after a checkpoint in `last` (or the first slot when there is none).
pub fn next_slot(last: Option<u8>) -> u8 {
    match last {
        Some(0) => 1,
        _ => 0,
    }
}

fn newest_complete(rows: Vec<LoadedRow>) -> Option<Checkpoint> {
    // Group rows by (slot, next_offset); a group is complete when it has chunks 0..chunks.
    let mut best: Option<Checkpoint> = None;
    let mut i = 0;
    while i < rows.len() {
        let (slot, offset) = (rows[i].slot, rows[i].next_offset);
        let mut j = i;
        while j < rows.len() && rows[j].slot == slot && rows[j].next_offset == offset {
            j += 1;
        }
        let group = &rows[i..j];
        let expected = group[0].chunks;
        let complete = group.len() == expected as usize
            && group
                .iter()
                .enumerate()
                .all(|(k, r)| r.chunk as usize == k && r.chunks == expected);
        if complete && best.as_ref().is_none_or(|b| offset > b.next_offset) {
            let state = group.iter().flat_map(|r| r.data.iter().copied()).collect();
            best = Some(Checkpoint {
                slot,
                next_offset: offset,
                state_version: group[0].state_version,
                state,
            });
        }
        i = j;
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(slot: u8, offset: u64, chunk: u32, chunks: u32, data: &[u8]) -> LoadedRow {
        LoadedRow {
            slot,
            chunk,
            next_offset: offset,
            chunks,
            state_version: 1,
            data: data.to_vec(),
        }
    }

    #[test]
    fn the_newest_complete_checkpoint_wins_and_partial_ones_are_skipped() {
        let rows = vec![
            row(0, 100, 0, 2, b"ab"),
            row(0, 100, 1, 2, b"cd"),
            // slot 1 holds a newer checkpoint whose second chunk is missing
            row(1, 200, 0, 2, b"xx"),
        ];
        let cp = newest_complete(rows).unwrap();
        assert_eq!(
            (cp.slot, cp.next_offset, cp.state.as_slice()),
            (0, 100, b"abcd".as_slice())
        );
    }

    #[test]
    fn stale_tail_chunks_of_an_older_checkpoint_do_not_mix_in() {
        let rows = vec![
            row(0, 100, 0, 3, b"o0"),
            row(0, 100, 2, 3, b"o2"), // chunk 1 of the old checkpoint was replaced
            row(0, 300, 0, 2, b"n0"),
            row(0, 300, 1, 2, b"n1"),
            row(1, 200, 0, 1, b"m"),
        ];
        let cp = newest_complete(rows).unwrap();
        assert_eq!(
            (cp.next_offset, cp.state.as_slice()),
            (300, b"n0n1".as_slice())
        );
    }

    #[test]
    fn no_rows_no_checkpoint_and_slots_alternate() {
        assert!(newest_complete(vec![]).is_none());
        assert_eq!(next_slot(None), 0);
        assert_eq!(next_slot(Some(0)), 1);
        assert_eq!(next_slot(Some(1)), 0);
    }
}
