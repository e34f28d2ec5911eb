-- The newest interaction of the brand (epoch ms), for the default as-of. Placeholder: brand.
SELECT max(occurred_at_ms) FROM interactions WHERE brand_id = ?
