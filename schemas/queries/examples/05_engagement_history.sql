-- Engagement history: items per brand, day, direction and kind (every event, deduplicated).
SELECT
    brand_id,
    toDate(occurred_at) AS day,
    direction,
    kind,
    count() AS items,
    uniqExact(user_id) AS users
FROM interactions FINAL
GROUP BY brand_id, day, direction, kind
ORDER BY brand_id, day, direction, kind
