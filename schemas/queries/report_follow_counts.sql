-- The follower and following counts of the brand account up to the end of the period: per
-- platform the latest day, preferring profile snapshots over counts kept from follow events;
-- across platforms (no platform filter) the largest snapshot account.
-- Placeholders: brand, platform (x2), to.
SELECT
    toUInt64(ifNull(argMax(f, rank), 0)) AS followers,
    toUInt64(ifNull(argMax(g, rank), 0)) AS following,
    toUInt8(count() > 0) AS known
FROM
(
    SELECT
        platform,
        argMax(brand_followers, ifNull(counts_source = 'snapshot', 0) * 100000 + toUInt32(day)) AS f,
        argMax(brand_following, ifNull(counts_source = 'snapshot', 0) * 100000 + toUInt32(day)) AS g,
        toUInt64(max(ifNull(counts_source = 'snapshot', 0))) * 1000000000000 + toUInt64(ifNull(f, 0)) AS rank
    FROM brand_daily FINAL
    WHERE brand_id = ? AND (? = '' OR toString(platform) = ?)
      AND toUInt32(toDateTime(day)) <= ? AND brand_followers IS NOT NULL
    GROUP BY platform
)
