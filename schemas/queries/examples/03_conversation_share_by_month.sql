-- Broadcast or conversation: replies against original posts per brand and month (sums over
-- days and Kafka partitions).
SELECT
    brand_id,
    toStartOfMonth(day) AS month,
    sum(brand_posts) AS posts,
    sum(brand_replies) AS replies,
    sum(brand_reposts) AS reposts,
    round(replies / (replies + posts), 3) AS conversation_share
FROM brand_daily FINAL
GROUP BY brand_id, month
ORDER BY brand_id, month
