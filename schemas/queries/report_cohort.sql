-- The cohort of threads opened in the period, measured at the as-of instant `A`: `r` is the
-- response time if the response came by `A`, else "never". Placeholders, in order: A,
-- brand, platform (x2), from, to.
SELECT
    count() AS threads,
    countIf(r != 4294967295) AS answered,
    countIf(o + 3600 <= A) AS old_1h,
    countIf(o + 3600 <= A AND r <= 3600) AS within_1h,
    countIf(o + 86400 <= A) AS old_24h,
    countIf(o + 86400 <= A AND r <= 86400) AS within_24h,
    countIf(o + 604800 <= A) AS old_7d,
    countIf(o + 604800 <= A AND r <= 604800) AS within_7d,
    countIf(o + 86400 <= A AND (r <= 86400 OR ack <= 86400)) AS acked_24h,
    countIf(toUInt32(sla_deadline_at) <= A) AS sla_due,
    countIf(toUInt32(sla_deadline_at) <= A AND r != 4294967295 AND o + r <= toUInt32(sla_deadline_at)) AS sla_met,
    countIf(moved_private = 1 AND r != 4294967295) AS moved_private,
    arraySort(groupArrayIf(r, r != 4294967295)) AS frts,
    arraySort(groupArrayIf(ifNull(business_response_seconds, 0), r != 4294967295)) AS business_frts
FROM
(
    SELECT
        toUInt32(?) AS A,
        toUInt32(opened_at) AS o,
        if(ifNull(toUInt32(first_response_at), 4294967295) <= A, ifNull(response_seconds, 4294967295), 4294967295) AS r,
        if(ifNull(toUInt32(acknowledged_at), 4294967295) <= A, ifNull(toUInt32(acknowledged_at), 4294967295) - o, 4294967295) AS ack,
        sla_deadline_at, moved_private, business_response_seconds
    FROM threads FINAL
    WHERE brand_id = ? AND (? = '' OR toString(platform) = ?)
      AND toUInt32(opened_at) >= ? AND toUInt32(opened_at) < ?
)
