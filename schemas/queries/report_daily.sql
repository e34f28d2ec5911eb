-- Volumes, personal touch, reciprocity and return counts: sums over days and partitions.
-- Placeholders: brand, platform (x2), from, to.
SELECT
    sum(brand_posts) AS brand_posts, sum(brand_replies) AS brand_replies,
    sum(brand_reposts) AS brand_reposts, sum(brand_dms) AS brand_dms,
    sum(inbound_items) AS inbound_items,
    sum(touch_replies) AS touch_replies, sum(templated_replies) AS templated,
    sum(named_replies) AS named, sum(deflecting_replies) AS deflecting, sum(personal_replies) AS personal,
    sum(engagers_following_brand) AS engagers_following_brand,
    sum(engagers_followed_back) AS engagers_followed_back,
    sum(new_followers_7d_old) AS new_followers_7d_old,
    sum(new_followers_followed_back_7d) AS new_followers_followed_back_7d,
    sum(return_base_answered) AS return_base_answered, sum(returned_answered) AS returned_answered,
    sum(return_base_unanswered) AS return_base_unanswered, sum(returned_unanswered) AS returned_unanswered,
    sum(late_items) AS late_items, sum(duplicate_items) AS duplicate_items
FROM brand_daily FINAL
WHERE brand_id = ? AND (? = '' OR toString(platform) = ?)
  AND toUInt32(toDateTime(day)) >= ? AND toUInt32(toDateTime(day)) <= ?
