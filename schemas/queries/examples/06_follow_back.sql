-- Reciprocity: of the users known to follow each brand, how many the brand follows back
-- (latest state of every follow edge).
SELECT
    brand_id,
    platform,
    countIf(follows_brand = 1) AS followers_known,
    countIf(brand_follows = 1) AS following_known,
    countIf(follows_brand = 1 AND brand_follows = 1) AS followed_back
FROM
(
    SELECT
        brand_id,
        platform,
        user_id,
        max(direction = 'user_to_brand' AND following = 1) AS follows_brand,
        max(direction = 'brand_to_user' AND following = 1) AS brand_follows
    FROM follow_edges FINAL
    GROUP BY brand_id, platform, user_id
)
GROUP BY brand_id, platform
ORDER BY brand_id, platform
