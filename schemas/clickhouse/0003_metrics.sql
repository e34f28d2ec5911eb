-- The engine's output (METRICS.md). Every table is a ReplacingMergeTree keyed by what the row
-- describes and versioned by event time, so a replay rewrites identical rows; read with FINAL.
-- Enum values are the symbol position + 1 (rapport-clickhouse rows.rs).

-- One row per thread (METRICS.md §2). follower_band is derived from user_followers for SQL.
CREATE TABLE IF NOT EXISTS threads
(
    thread_id UInt64,
    brand_id String,
    platform Enum8('facebook' = 1, 'instagram' = 2, 'x' = 3, 'mastodon' = 4, 'bluesky' = 5, 'linkedin' = 6, 'tiktok' = 7, 'youtube' = 8, 'other' = 9),
    user_id String,
    opened_channel Enum8('public' = 1, 'private' = 2),
    opened_at DateTime,
    opening_item_id String,
    inbound_items UInt32,
    first_response_at Nullable(DateTime),
    first_response_item_id Nullable(String),
    response_seconds Nullable(UInt32),
    business_response_seconds Nullable(UInt32),
    sla_deadline_at DateTime,
    acknowledged_at Nullable(DateTime),
    moved_private UInt8,
    user_followers Nullable(UInt32),
    follower_band Enum8('<1k' = 1, '1k-10k' = 2, '10k-100k' = 3, '100k+' = 4, 'unknown' = 5),
    state Enum8('awaiting_brand' = 1, 'answered' = 2, 'closed_unanswered' = 3),
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(opened_at)
ORDER BY (brand_id, platform, opened_at, thread_id);

-- Counts per brand, platform and UTC day, one row per Kafka partition that saw the brand
-- (each partition owns a disjoint set of users): sum over kafka_partition in queries,
-- max() for oldest_pending_seconds and the brand's own follower counts.
CREATE TABLE IF NOT EXISTS brand_daily
(
    brand_id String,
    platform Enum8('facebook' = 1, 'instagram' = 2, 'x' = 3, 'mastodon' = 4, 'bluesky' = 5, 'linkedin' = 6, 'tiktok' = 7, 'youtube' = 8, 'other' = 9),
    day Date,
    kafka_partition UInt32,
    threads_opened UInt32,
    threads_public UInt32,
    threads_private UInt32,
    threads_answered UInt32,
    moved_private UInt32,
    frt_sum_seconds UInt64,
    business_frt_sum_seconds UInt64,
    threads_1h_old UInt32,
    answered_within_1h UInt32,
    threads_24h_old UInt32,
    answered_within_24h UInt32,
    pending_24h UInt32,
    acknowledged_within_24h UInt32,
    threads_7d_old UInt32,
    answered_within_7d UInt32,
    pending_7d UInt32,
    sla_due UInt32,
    sla_met UInt32,
    return_base_answered UInt32,
    returned_answered UInt32,
    return_base_unanswered UInt32,
    returned_unanswered UInt32,
    low_sample UInt8,
    pending_threads UInt32,
    oldest_pending_seconds UInt32,
    breaching_sla UInt32,
    inbound_items UInt32,
    brand_posts UInt32,
    brand_replies UInt32,
    brand_reposts UInt32,
    brand_dms UInt32,
    late_items UInt32,
    duplicate_items UInt32,
    touch_replies UInt32,
    templated_replies UInt32,
    named_replies UInt32,
    deflecting_replies UInt32,
    personal_replies UInt32,
    engagers UInt32,
    engagers_following_brand UInt32,
    engagers_followed_back UInt32,
    new_followers UInt32,
    new_followers_7d_old UInt32,
    new_followers_followed_back_7d UInt32,
    brand_followers Nullable(UInt64),
    brand_following Nullable(UInt64),
    counts_source Nullable(Enum8('snapshot' = 1, 'events' = 2)),
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(day)
ORDER BY (brand_id, platform, day, kafka_partition);

-- Response equity (METRICS.md §6): the 24 h response counts per follower band.
CREATE TABLE IF NOT EXISTS brand_band_daily
(
    brand_id String,
    platform Enum8('facebook' = 1, 'instagram' = 2, 'x' = 3, 'mastodon' = 4, 'bluesky' = 5, 'linkedin' = 6, 'tiktok' = 7, 'youtube' = 8, 'other' = 9),
    day Date,
    follower_band Enum8('<1k' = 1, '1k-10k' = 2, '10k-100k' = 3, '100k+' = 4, 'unknown' = 5),
    kafka_partition UInt32,
    threads_opened UInt32,
    threads_24h_old UInt32,
    answered_within_24h UInt32,
    pending_24h UInt32,
    low_sample UInt8,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(day)
ORDER BY (brand_id, platform, day, follower_band, kafka_partition);

-- One row per outbound, non-automated reply or DM (METRICS.md §5).
CREATE TABLE IF NOT EXISTS personal_touch
(
    brand_id String,
    platform Enum8('facebook' = 1, 'instagram' = 2, 'x' = 3, 'mastodon' = 4, 'bluesky' = 5, 'linkedin' = 6, 'tiktok' = 7, 'youtube' = 8, 'other' = 9),
    item_id String,
    user_id String,
    channel Enum8('public' = 1, 'private' = 2),
    occurred_at DateTime,
    thread_id Nullable(UInt64),
    simhash UInt64,
    near_duplicates UInt32,
    exact_duplicate UInt8,
    is_templated UInt8,
    addresses_by_name UInt8,
    deflects_to_private UInt8,
    shared_content_words UInt32,
    is_personal UInt8,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (brand_id, platform, occurred_at, item_id);

-- Who follows whom, latest state per edge (METRICS.md §4).
CREATE TABLE IF NOT EXISTS follow_edges
(
    brand_id String,
    platform Enum8('facebook' = 1, 'instagram' = 2, 'x' = 3, 'mastodon' = 4, 'bluesky' = 5, 'linkedin' = 6, 'tiktok' = 7, 'youtube' = 8, 'other' = 9),
    user_id String,
    direction Enum8('brand_to_user' = 1, 'user_to_brand' = 2),
    following UInt8,
    changed_at DateTime,
    item_id String,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (brand_id, platform, user_id, direction);

-- Profile counts over time (the brand's own account and, when known, users').
CREATE TABLE IF NOT EXISTS profile_snapshots
(
    brand_id String,
    platform Enum8('facebook' = 1, 'instagram' = 2, 'x' = 3, 'mastodon' = 4, 'bluesky' = 5, 'linkedin' = 6, 'tiktok' = 7, 'youtube' = 8, 'other' = 9),
    account_id String,
    is_brand_account UInt8,
    followers Int64,
    following Int64,
    posts Nullable(Int64),
    taken_at DateTime,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(taken_at)
ORDER BY (brand_id, platform, account_id, taken_at);
