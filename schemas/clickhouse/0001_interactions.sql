-- Every normalized interaction, the engagement history analysts query directly.
-- One row per event_id: a replayed or retried event rewrites the same row, and
-- ReplacingMergeTree folds the copies (read with FINAL for exact counts).
-- Enum values are the Avro symbol positions + 1 (see rapport-clickhouse rows.rs).
CREATE TABLE IF NOT EXISTS interactions
(
    event_id String,
    platform Enum8('facebook' = 1, 'instagram' = 2, 'x' = 3, 'mastodon' = 4, 'bluesky' = 5, 'linkedin' = 6, 'tiktok' = 7, 'youtube' = 8, 'other' = 9),
    brand_id String,
    brand_account_id String,
    kind Enum8('comment' = 1, 'reply' = 2, 'mention' = 3, 'direct_message' = 4, 'reaction' = 5, 'share' = 6, 'post' = 7, 'follow' = 8, 'unfollow' = 9, 'profile_snapshot' = 10, 'other' = 11),
    modifier Enum8('none' = 1, 'edited' = 2, 'deleted' = 3, 'unreacted' = 4, 'hidden' = 5),
    direction Enum8('inbound' = 1, 'outbound' = 2),
    channel Enum8('public' = 1, 'private' = 2),
    user_id String,
    actor_id String,
    actor_handle String,
    actor_display_name String,
    actor_followers Nullable(Int64),
    addressed_id String,
    addressed_handle String,
    object_id String,
    parent_id String,
    root_id String,
    text String,
    reaction String,
    automated UInt8,
    occurred_at DateTime,
    occurred_at_ms Int64,
    received_at DateTime,
    profile_followers Nullable(Int64),
    profile_following Nullable(Int64),
    source String
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (brand_id, platform, occurred_at, event_id);
