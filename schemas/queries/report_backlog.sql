-- Threads awaiting the brand at A (opened by A, not answered by A, younger than max_pending).
-- Placeholders: A, max_pending, brand, platform (x2).
SELECT count() AS pending, min(o) AS oldest_opened, countIf(toUInt32(sla_deadline_at) < A) AS breaching
FROM
(
    SELECT toUInt32(?) AS A, toUInt32(?) AS max_pending, toUInt32(opened_at) AS o, sla_deadline_at,
           ifNull(toUInt32(first_response_at), 4294967295) AS fr, state
    FROM threads FINAL
    WHERE brand_id = ? AND (? = '' OR toString(platform) = ?)
)
WHERE o <= A AND o + max_pending > A AND fr > A AND state != 'closed_unanswered'
