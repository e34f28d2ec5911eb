//! A brand's scorecard (METRICS.md §3–§6) computed in ClickHouse from `threads`, `brand_daily`
//! and `brand_band_daily`, at an **as-of** instant: thread ages and response windows are
//! measured against it, so the figures are exact whatever the processors' per-partition clocks
//! say. Quantiles are exact nearest-rank (METRICS.md §3): the smallest value with at least
//! q·n values at or below it.
//!
//! Owns the SQL and the arithmetic; printing belongs to the command.

use serde::{Deserialize, Serialize};

/// "Never answered" in the SQL below (u32::MAX).
pub const NEVER: u32 = u32::MAX;

/// What to compute.
#[derive(Debug, Clone)]
pub struct ReportParams {
    pub brand: String,
    /// Empty: every platform.
    pub platform: String,
    /// First day (inclusive) and last day (inclusive) of the period, as UTC epoch seconds of
    /// their midnights; threads by `opened_at`, volumes by their day.
    pub from: u32,
    pub to: u32,
    /// The cut-off instant (epoch seconds). `None`: the newest interaction of the brand minus
    /// `lateness_seconds`.
    pub as_of: Option<u32>,
    pub lateness_seconds: u32,
    pub max_pending_seconds: u32,
}

/// Every figure with the counts behind it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Scorecard {
    pub brand_id: String,
    pub platform: String,
    pub from: String,
    pub to: String,
    pub as_of: String,
    pub threads: u64,
    pub threads_answered: u64,
    pub threads_24h_old: u64,
    pub answered_within_24h_count: u64,
    pub threads_7d_old: u64,
    pub answered_within_7d_count: u64,
    pub threads_1h_old: u64,
    pub answered_within_1h_count: u64,
    pub response_rate_24h: Option<f64>,
    pub response_rate_7d: Option<f64>,
    pub answered_within_1h: Option<f64>,
    pub answered_within_24h: Option<f64>,
    pub frt_p50_seconds: Option<u32>,
    pub frt_p90_seconds: Option<u32>,
    pub frt_mean_seconds: Option<f64>,
    pub business_frt_p50_seconds: Option<u32>,
    pub ack_rate_24h: Option<f64>,
    pub acknowledged_24h_count: u64,
    pub sla_due: u64,
    pub sla_met: u64,
    pub sla_attainment: Option<f64>,
    pub moved_private: u64,
    pub pending_threads: u64,
    pub oldest_pending_seconds: u64,
    pub breaching_sla: u64,
    pub brand_posts: u64,
    pub brand_replies: u64,
    pub brand_reposts: u64,
    pub brand_dms: u64,
    pub conversation_share: Option<f64>,
    pub inbound_items: u64,
    pub touch_replies: u64,
    pub templated_share: Option<f64>,
    pub named_share: Option<f64>,
    pub deflection_share: Option<f64>,
    pub personal_reply_share: Option<f64>,
    pub engagers_following_brand: u64,
    pub engagers_followed_back: u64,
    pub engager_follow_back_rate: Option<f64>,
    pub new_followers_7d_old: u64,
    pub new_follower_follow_back_rate: Option<f64>,
    pub brand_followers: Option<u64>,
    pub brand_following: Option<u64>,
    pub following_follower_ratio: Option<f64>,
    pub response_rate_24h_by_band: Vec<BandFigure>,
    pub equity_gap: Option<f64>,
    pub return_rate_30d_answered: Option<f64>,
    pub return_rate_30d_unanswered: Option<f64>,
    pub late_items: u64,
    pub duplicate_items: u64,
    /// Any rate here rests on fewer than 10 threads (METRICS.md §7).
    pub low_sample: u8,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BandFigure {
    pub follower_band: String,
    pub threads_24h_old: u64,
    pub answered_within_24h: u64,
    pub response_rate_24h: Option<f64>,
    pub low_sample: u8,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct CohortRow {
    threads: u64,
    answered: u64,
    old_1h: u64,
    within_1h: u64,
    old_24h: u64,
    within_24h: u64,
    old_7d: u64,
    within_7d: u64,
    acked_24h: u64,
    sla_due: u64,
    sla_met: u64,
    moved_private: u64,
    frts: Vec<u32>,
    business_frts: Vec<u32>,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct BacklogRow {
    pending: u64,
    oldest_opened: u32,
    breaching: u64,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct BandRow {
    band: String,
    old_24h: u64,
    within_24h: u64,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct DailyRow {
    brand_posts: u64,
    brand_replies: u64,
    brand_reposts: u64,
    brand_dms: u64,
    inbound_items: u64,
    touch_replies: u64,
    templated: u64,
    named: u64,
    deflecting: u64,
    personal: u64,
    engagers_following_brand: u64,
    engagers_followed_back: u64,
    new_followers_7d_old: u64,
    new_followers_followed_back_7d: u64,
    return_base_answered: u64,
    returned_answered: u64,
    return_base_unanswered: u64,
    returned_unanswered: u64,
    late_items: u64,
    duplicate_items: u64,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct FollowCounts {
    followers: u64,
    following: u64,
    known: u8,
}

/// The cohort of threads opened in the period, measured at the as-of instant `A`: `r` is the
/// response time if the response came by `A`, else "never". Placeholders, in order: A,
/// brand, platform (x2), from, to.
pub const COHORT_SQL: &str = include_str!("../../../schemas/queries/report_cohort.sql");

/// Threads awaiting the brand at A (opened by A, not answered by A, younger than max_pending).
/// Placeholders: A, max_pending, brand, platform (x2).
pub const BACKLOG_SQL: &str = include_str!("../../../schemas/queries/report_backlog.sql");

/// Response rate within 24 h per follower band. Placeholders as COHORT_SQL's subquery.
pub const BANDS_SQL: &str = include_str!("../../../schemas/queries/report_bands.sql");

/// Volumes, personal touch, reciprocity and return counts: sums over days and partitions.
/// Placeholders: brand, platform (x2), from, to.
pub const DAILY_SQL: &str = include_str!("../../../schemas/queries/report_daily.sql");

/// The brand account's latest follower/following counts up to the end of the period.
pub const FOLLOW_COUNTS_SQL: &str =
    include_str!("../../../schemas/queries/report_follow_counts.sql");

/// The newest interaction of the brand (epoch ms), for the default as-of.
pub const NEWEST_SQL: &str = include_str!("../../../schemas/queries/report_newest.sql");

/// Compute the scorecard.
pub async fn scorecard(
    client: &clickhouse::Client,
    p: &ReportParams,
) -> Result<Scorecard, clickhouse::error::Error> {
    let as_of = match p.as_of {
        Some(a) => a,
        None => {
            let newest_ms: i64 = client.query(NEWEST_SQL).bind(&p.brand).fetch_one().await?;
            u32::try_from((newest_ms / 1000).max(0))
                .unwrap_or(u32::MAX)
                .saturating_sub(p.lateness_seconds)
        }
    };
    // Nothing after the as-of instant is known yet: the period ends on its day at the latest.
    let to = p.to.min(as_of - as_of % 86_400);
    let end = to.saturating_add(86_400);
    let cohort: CohortRow = client
        .query(COHORT_SQL)
        .bind(as_of)
        .bind(&p.brand)
        .bind(&p.platform)
        .bind(&p.platform)
        .bind(p.from)
        .bind(end)
        .fetch_one()
        .await?;
    let backlog: BacklogRow = client
        .query(BACKLOG_SQL)
        .bind(as_of)
        .bind(p.max_pending_seconds)
        .bind(&p.brand)
        .bind(&p.platform)
        .bind(&p.platform)
        .fetch_one()
        .await?;
    let bands: Vec<BandRow> = client
        .query(BANDS_SQL)
        .bind(as_of)
        .bind(&p.brand)
        .bind(&p.platform)
        .bind(&p.platform)
        .bind(p.from)
        .bind(end)
        .fetch_all()
        .await?;
    let daily: DailyRow = client
        .query(DAILY_SQL)
        .bind(&p.brand)
        .bind(&p.platform)
        .bind(&p.platform)
        .bind(p.from)
        .bind(to)
        .fetch_one()
        .await?;
    let follows: FollowCounts = client
        .query(FOLLOW_COUNTS_SQL)
        .bind(&p.brand)
        .bind(&p.platform)
        .bind(&p.platform)
        .bind(to)
        .fetch_one()
        .await?;
    let p = ReportParams { to, ..p.clone() };
    Ok(assemble(&p, as_of, cohort, backlog, bands, daily, follows))
}

fn ratio(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

/// Nearest rank: the smallest value with at least q·n values at or below it, for q = num/den.
pub fn nearest_rank(sorted: &[u32], num: u64, den: u64) -> Option<u32> {
    let n = sorted.len() as u64;
    if n == 0 || den == 0 {
        return None;
    }
    let rank = (num * n).div_ceil(den).max(1);
    sorted.get(usize::try_from(rank - 1).ok()?).copied()
}

fn fmt_time(secs: u32) -> String {
    // Civil date from days since the epoch (Howard Hinnant's algorithm), to avoid a date
    // dependency for one label.
    let days = i64::from(secs / 86_400);
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn assemble(
    p: &ReportParams,
    as_of: u32,
    c: CohortRow,
    b: BacklogRow,
    bands: Vec<BandRow>,
    d: DailyRow,
    f: FollowCounts,
) -> Scorecard {
    let band_figs: Vec<BandFigure> = bands
        .into_iter()
        .map(|r| BandFigure {
            response_rate_24h: ratio(r.within_24h, r.old_24h),
            low_sample: u8::from(r.old_24h < 10),
            follower_band: r.band,
            threads_24h_old: r.old_24h,
            answered_within_24h: r.within_24h,
        })
        .collect();
    let band = |name: &str| band_figs.iter().find(|b| b.follower_band == name);
    let equity_gap = match (band("100k+"), band("<1k")) {
        (Some(big), Some(small)) if big.threads_24h_old >= 10 && small.threads_24h_old >= 10 => {
            Some(big.response_rate_24h.unwrap_or(0.0) - small.response_rate_24h.unwrap_or(0.0))
        }
        _ => None,
    };
    let frt_sum: u64 = c.frts.iter().map(|&v| u64::from(v)).sum();
    Scorecard {
        brand_id: p.brand.clone(),
        platform: if p.platform.is_empty() {
            "all".into()
        } else {
            p.platform.clone()
        },
        from: fmt_time(p.from)[..10].to_owned(),
        to: fmt_time(p.to)[..10].to_owned(),
        as_of: fmt_time(as_of),
        threads: c.threads,
        threads_answered: c.answered,
        threads_24h_old: c.old_24h,
        answered_within_24h_count: c.within_24h,
        threads_7d_old: c.old_7d,
        answered_within_7d_count: c.within_7d,
        threads_1h_old: c.old_1h,
        answered_within_1h_count: c.within_1h,
        response_rate_24h: ratio(c.within_24h, c.old_24h),
        response_rate_7d: ratio(c.within_7d, c.old_7d),
        answered_within_1h: ratio(c.within_1h, c.old_1h),
        answered_within_24h: ratio(c.within_24h, c.old_24h),
        frt_p50_seconds: nearest_rank(&c.frts, 1, 2),
        frt_p90_seconds: nearest_rank(&c.frts, 9, 10),
        frt_mean_seconds: ratio(frt_sum, c.frts.len() as u64),
        business_frt_p50_seconds: nearest_rank(&c.business_frts, 1, 2),
        ack_rate_24h: ratio(c.acked_24h, c.old_24h),
        acknowledged_24h_count: c.acked_24h,
        sla_due: c.sla_due,
        sla_met: c.sla_met,
        sla_attainment: ratio(c.sla_met, c.sla_due),
        moved_private: c.moved_private,
        pending_threads: b.pending,
        oldest_pending_seconds: if b.pending > 0 {
            u64::from(as_of.saturating_sub(b.oldest_opened))
        } else {
            0
        },
        breaching_sla: b.breaching,
        brand_posts: d.brand_posts,
        brand_replies: d.brand_replies,
        brand_reposts: d.brand_reposts,
        brand_dms: d.brand_dms,
        conversation_share: ratio(d.brand_replies, d.brand_replies + d.brand_posts),
        inbound_items: d.inbound_items,
        touch_replies: d.touch_replies,
        templated_share: ratio(d.templated, d.touch_replies),
        named_share: ratio(d.named, d.touch_replies),
        deflection_share: ratio(d.deflecting, d.touch_replies),
        personal_reply_share: ratio(d.personal, d.touch_replies),
        engagers_following_brand: d.engagers_following_brand,
        engagers_followed_back: d.engagers_followed_back,
        engager_follow_back_rate: ratio(d.engagers_followed_back, d.engagers_following_brand),
        new_followers_7d_old: d.new_followers_7d_old,
        new_follower_follow_back_rate: ratio(
            d.new_followers_followed_back_7d,
            d.new_followers_7d_old,
        ),
        brand_followers: (f.known == 1).then_some(f.followers),
        brand_following: (f.known == 1).then_some(f.following),
        following_follower_ratio: if f.known == 1 {
            ratio(f.following, f.followers)
        } else {
            None
        },
        response_rate_24h_by_band: band_figs.clone(),
        equity_gap,
        return_rate_30d_answered: ratio(d.returned_answered, d.return_base_answered),
        return_rate_30d_unanswered: ratio(d.returned_unanswered, d.return_base_unanswered),
        late_items: d.late_items,
        duplicate_items: d.duplicate_items,
        low_sample: u8::from(c.old_24h < 10),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_matches_the_worked_example() {
        // METRICS.md §8: FRTs 1,800 and 63,000 → p50 1,800 (rank ⌈0.5·2⌉ = 1), p90 63,000 (⌈1.8⌉ = 2).
        assert_eq!(nearest_rank(&[1_800, 63_000], 1, 2), Some(1_800));
        assert_eq!(nearest_rank(&[1_800, 63_000], 9, 10), Some(63_000));
        // 10 values: p90 is the 9th, computed without floating-point error.
        let ten: Vec<u32> = (1..=10).collect();
        assert_eq!(nearest_rank(&ten, 9, 10), Some(9));
        assert_eq!(nearest_rank(&[], 1, 2), None);
    }

    #[test]
    fn times_print_as_utc() {
        assert_eq!(fmt_time(1_772_625_600), "2026-03-04T12:00:00Z");
        assert_eq!(fmt_time(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn never_is_the_sentinel_the_sql_uses() {
        assert_eq!(NEVER, 4_294_967_295);
        assert!(COHORT_SQL.contains("4294967295"));
    }
}
