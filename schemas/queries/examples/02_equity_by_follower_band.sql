-- Equity: does the brand answer small accounts like big ones. Response rate within 24 h per
-- follower band. (Queries sent by the clickhouse crate treat a question mark as a parameter,
-- so these files avoid it, comments included.)
SELECT
    brand_id,
    follower_band,
    count() AS threads,
    countIf(response_seconds <= 86400) AS answered_within_24h,
    round(answered_within_24h / threads, 3) AS response_rate_24h
FROM threads FINAL
WHERE opened_at <= now() - 86400
GROUP BY brand_id, follower_band
ORDER BY brand_id, follower_band
