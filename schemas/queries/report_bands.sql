-- Response rate within 24 h per follower band. Placeholders: A, brand, platform (x2), from, to.
SELECT band, countIf(o + 86400 <= A) AS old_24h, countIf(o + 86400 <= A AND r <= 86400) AS within_24h
FROM
(
    SELECT
        toUInt32(?) AS A,
        toString(follower_band) AS band,
        toUInt32(opened_at) AS o,
        if(ifNull(toUInt32(first_response_at), 4294967295) <= A, ifNull(response_seconds, 4294967295), 4294967295) AS r
    FROM threads FINAL
    WHERE brand_id = ? AND (? = '' OR toString(platform) = ?)
      AND toUInt32(opened_at) >= ? AND toUInt32(opened_at) < ?
)
GROUP BY band
ORDER BY band
