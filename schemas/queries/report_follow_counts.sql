-- The latest follower and following counts of the brand account, up to the end of the period.
-- Placeholders: brand, platform (x2), to.
SELECT
    toUInt64(ifNull(argMax(brand_followers, day), 0)) AS followers,
    toUInt64(ifNull(argMax(brand_following, day), 0)) AS following,
    toUInt8(count() > 0) AS known
FROM brand_daily FINAL
WHERE brand_id = ? AND (? = '' OR toString(platform) = ?)
  AND toUInt32(toDateTime(day)) <= ? AND brand_followers IS NOT NULL
