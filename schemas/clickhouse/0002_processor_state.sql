-- The processor's durable state (docs/adr/0001-state-in-clickhouse.md). Per (group, topic,
-- partition) two slots are used in turn; each holds one checkpoint: the engine snapshot that
-- covers every record before next_offset, split into chunks so no value grows past a few MiB.
-- A checkpoint is written as one INSERT after the rows it covers and is usable only when all
-- its chunks are present; the replacing engine folds a slot's older checkpoint away, so the
-- table keeps two checkpoints per partition without mutations.
CREATE TABLE IF NOT EXISTS processor_state
(
    consumer_group String,
    topic String,
    partition UInt32,
    slot UInt8,
    chunk UInt32,
    next_offset UInt64,
    chunks UInt32,
    state_version UInt32,
    data String,
    saved_at DateTime
)
ENGINE = ReplacingMergeTree(next_offset)
ORDER BY (consumer_group, topic, partition, slot, chunk);
