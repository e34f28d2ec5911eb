-- The most repeated reply texts of each brand in the last 30 days (templated replies).
SELECT
    brand_id,
    simhash,
    count() AS replies,
    any(text) AS example_text
FROM
(
    SELECT brand_id, item_id, simhash
    FROM personal_touch FINAL
    WHERE is_templated = 1 AND occurred_at >= now() - 30 * 86400
) AS p
ANY LEFT JOIN
(
    SELECT object_id AS item_id, text
    FROM interactions FINAL
    WHERE direction = 'outbound'
) AS i USING item_id
GROUP BY brand_id, simhash
ORDER BY replies DESC
LIMIT 20
