-- Weekly response rate within 24 h and median first response time per brand and platform,
-- over threads at least 24 h old (younger unanswered threads are pending, not misses).
SELECT
    brand_id,
    platform,
    toMonday(opened_at) AS week,
    count() AS threads_24h_old,
    countIf(response_seconds <= 86400) AS answered_within_24h,
    round(answered_within_24h / threads_24h_old, 3) AS response_rate_24h,
    quantileExact(response_seconds) AS frt_median_seconds
FROM threads FINAL
WHERE opened_at <= now() - 86400
GROUP BY brand_id, platform, week
ORDER BY brand_id, platform, week
