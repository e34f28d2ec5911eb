//! METRICS.md §8, the worked example, as a golden test with its arithmetic.

mod common;

use common::{day, ms, secs, Ev, Tables};
use rapport_engine::{nearest_rank, BrandSettings, Engine, EngineConfig, ThreadState, WeeklyHours};
use rapport_events::{Channel, Kind};

#[test]
fn worked_example_of_metrics_section_8() {
    // Brand acme on X; business hours Mon-Fri 09:00-17:00 UTC; SLA 1 h business time.
    let brands = vec![BrandSettings {
        timezone: "UTC".into(),
        business_hours: Some(WeeklyHours::weekdays("09:00-17:00")),
        sla_target_seconds: 3600,
        ..BrandSettings::with_defaults("acme")
    }];
    let mut engine = Engine::new(EngineConfig::default(), brands).unwrap();
    let events = [
        // Mon 10:00 u1 mentions acme: T1 opens (public).
        Ev::inbound("e1", "2026-03-02T10:00:00Z", Kind::Mention, "u1"),
        // Mon 10:05 u1 replies again: joins T1 (2 inbound items).
        Ev::inbound("e2", "2026-03-02T10:05:00Z", Kind::Reply, "u1"),
        // Mon 10:30 acme replies to u1: T1 answered after 1,800 s, all in business hours.
        Ev::outbound("e3", "2026-03-02T10:30:00Z", Kind::Reply, "u1"),
        // Mon 12:00 acme posts an original post: broadcast.
        Ev::outbound("e4", "2026-03-02T12:00:00Z", Kind::Post, ""),
        // Mon 16:00 u2 DMs acme: T2 opens (private).
        Ev::inbound("e5", "2026-03-02T16:00:00Z", Kind::DirectMessage, "u2"),
        // Mon 16:10 acme likes u2's DM: T2 acknowledged.
        Ev::outbound("e6", "2026-03-02T16:10:00Z", Kind::Reaction, "u2").channel(Channel::Private),
        // Mon 18:00 u3 comments on acme's post: T3 opens, never answered.
        Ev::inbound("e7", "2026-03-02T18:00:00Z", Kind::Comment, "u3"),
        // Tue 09:30 acme DMs u2: T2 answered.
        Ev::outbound("e8", "2026-03-03T09:30:00Z", Kind::DirectMessage, "u2"),
    ];
    let mut tables = Tables::default();
    for e in &events {
        engine.process(&e.0);
        tables.apply(engine.drain_output());
    }
    // Watermark Wed 2026-03-04 12:00.
    engine.advance_watermark(ms("2026-03-04T12:00:00Z"));
    tables.apply(engine.drain_output());

    assert_eq!(tables.threads.len(), 3);
    let t1 = tables.thread_of("u1")[0];
    assert_eq!(t1.state, ThreadState::Answered);
    assert_eq!(t1.opened_channel, Channel::Public);
    assert_eq!(t1.opened_at, secs("2026-03-02T10:00:00Z"));
    assert_eq!(t1.opening_item_id, "obj-e1");
    assert_eq!(t1.inbound_items, 2);
    assert_eq!(t1.first_response_item_id, Some("obj-e3".into()));
    // 10:00 -> 10:30 = 1,800 s, inside 09:00-17:00, so business 1,800 s too.
    assert_eq!(t1.response_seconds, Some(1_800));
    assert_eq!(t1.business_response_seconds, Some(1_800));
    assert!(!t1.moved_private);

    let t2 = tables.thread_of("u2")[0];
    assert_eq!(t2.state, ThreadState::Answered);
    assert_eq!(t2.opened_channel, Channel::Private);
    assert_eq!(t2.acknowledged_at, Some(secs("2026-03-02T16:10:00Z")));
    // Mon 16:00 -> Tue 09:30 = 17.5 h = 63,000 s; business: Mon 16:00-17:00 (3,600 s) +
    // Tue 09:00-09:30 (1,800 s) = 5,400 s.
    assert_eq!(t2.response_seconds, Some(63_000));
    assert_eq!(t2.business_response_seconds, Some(5_400));
    // It opened private, so answering by DM is not "moved private".
    assert!(!t2.moved_private);

    let t3 = tables.thread_of("u3")[0];
    assert_eq!(t3.state, ThreadState::AwaitingBrand);
    assert_eq!(t3.first_response_at, None);

    // Monday's cohort: T1, T2, T3, all at least 24 h old at the watermark.
    let mon = tables.day("acme", day("2026-03-02"));
    assert_eq!(mon.threads_opened, 3);
    assert_eq!(mon.threads_24h_old, 3);
    // response_rate_24h = 2/3 (T1 and T2 within 24 h; T3 is a miss, not pending).
    assert_eq!((mon.answered_within_24h, mon.threads_24h_old), (2, 3));
    assert_eq!(mon.pending_24h, 0);
    // ack_rate_24h = 2/3 (T1 answered, T2 reacted to and answered; T3 nothing).
    assert_eq!(mon.acknowledged_within_24h, 2);
    // answered_within_1h = 1/3 (only T1's 1,800 s is within 3,600 s).
    assert_eq!((mon.answered_within_1h, mon.threads_1h_old), (1, 3));
    // sla_attainment = 1/3: T1 by its Mon 11:00 deadline; T2 deadline Mon 17:00, answered
    // Tue 09:30, late; T3 opened after hours, deadline Tue 10:00, passed and unanswered.
    assert_eq!((mon.sla_met, mon.sla_due), (1, 3));
    // conversation_share = 1/2: one public reply (10:30) and one original post (12:00); the
    // Tuesday DM is private and on Tuesday's row.
    assert_eq!(
        (mon.brand_replies, mon.brand_posts, mon.brand_reposts),
        (1, 1, 0)
    );
    assert_eq!(tables.day("acme", day("2026-03-03")).brand_dms, 1);
    // frt_mean numerator: 1,800 + 63,000.
    assert_eq!((mon.threads_answered, mon.frt_sum_seconds), (2, 64_800));
    assert_eq!(mon.business_frt_sum_seconds, 7_200);
    // Fewer than 10 threads: low sample.
    assert_eq!(mon.low_sample, 1);
    // T3 is not yet 7 days old and unanswered: pending for the 7-day rate.
    assert_eq!((mon.threads_7d_old, mon.pending_7d), (0, 1));

    // frt_p50 = 1,800 and frt_p90 = 63,000 by nearest rank over the answered threads:
    // n = 2, p50 rank ceil(1.0) = 1 -> 1,800; p90 rank ceil(1.8) = 2 -> 63,000.
    let frt: Vec<u32> = tables
        .threads
        .values()
        .filter_map(|t| t.response_seconds)
        .collect();
    assert_eq!(nearest_rank(&frt, 0.5), Some(1_800));
    assert_eq!(nearest_rank(&frt, 0.9), Some(63_000));

    // Backlog at the watermark (Wednesday's row): pending_threads = 1 (T3, within
    // max_pending), oldest_pending_seconds = Mon 18:00 -> Wed 12:00 = 42 h = 151,200 s,
    // breaching_sla = 1 (T3's Tue 10:00 deadline has passed).
    let wed = tables.day("acme", day("2026-03-04"));
    assert_eq!(wed.pending_threads, 1);
    assert_eq!(wed.oldest_pending_seconds, 151_200);
    assert_eq!(wed.breaching_sla, 1);
    // Monday's row keeps the backlog at the end of Monday: T2 and T3 pending, oldest T2
    // (16:00 -> 24:00 = 28,800 s), T2 past its 17:00 deadline.
    assert_eq!(
        (
            mon.pending_threads,
            mon.oldest_pending_seconds,
            mon.breaching_sla
        ),
        (2, 28_800, 1)
    );

    let g = engine.live_gauges();
    assert_eq!(g.len(), 1);
    assert_eq!(
        (
            g[0].pending_threads,
            g[0].oldest_pending_seconds,
            g[0].breaching_sla
        ),
        (1, 151_200, 1)
    );
    assert_eq!(
        (g[0].answered_within_24h_7d, g[0].threads_24h_old_7d),
        (2, 3)
    );
    let p50 = g[0].frt_p50_seconds_7d.unwrap();
    let p90 = g[0].frt_p90_seconds_7d.unwrap();
    assert!((p50 - 1_800.0).abs() <= 18.0, "{p50}");
    assert!((p90 - 63_000.0).abs() <= 630.0, "{p90}");
}
