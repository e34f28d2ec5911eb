//! Property tests of the engine as a whole: order independence within the lateness bound,
//! snapshot/restore transparency, and invariants of every emitted row.

mod common;

use common::{diff, Ev, Tables};
use proptest::prelude::*;
use rapport_engine::{BrandSettings, Engine, EngineConfig, Output, ThreadState, WeeklyHours};
use rapport_events::{Channel, InteractionEvent, Kind};

const T0: &str = "2026-03-02T08:00:00Z";

fn brands() -> Vec<BrandSettings> {
    vec![
        BrandSettings {
            timezone: "Europe/Berlin".into(),
            business_hours: Some(WeeklyHours::weekdays("09:00-17:00")),
            ..BrandSettings::with_defaults("acme")
        },
        BrandSettings::with_defaults("globex"),
    ]
}

/// A random but plausible stream: `(gap_ms, user, brand, action)` steps in event time.
fn stream() -> impl Strategy<Value = Vec<InteractionEvent>> {
    prop::collection::vec((0i64..6 * 3_600_000, 0u8..6, 0u8..2, 0u8..10), 1..70).prop_map(|steps| {
        let mut t = common::ms(T0);
        steps
            .into_iter()
            .enumerate()
            .map(|(i, (gap, user, brand, action))| {
                // Mostly small gaps, sometimes days of silence.
                t += if gap % 7 == 0 { gap * 12 } else { gap / 4 };
                let at = chrono::DateTime::from_timestamp_millis(t)
                    .unwrap()
                    .to_rfc3339();
                let u = format!("u{user}");
                let id = format!("e{i}");
                let e = match action {
                    0..=3 => Ev::inbound(
                        &id,
                        &at,
                        [
                            Kind::Comment,
                            Kind::Reply,
                            Kind::Mention,
                            Kind::DirectMessage,
                        ][action as usize],
                        &u,
                    )
                    .followers(i64::from(user) * 4_000)
                    .text("my order 1234 arrived broken, the blender jug is cracked"),
                    4 | 5 => Ev::outbound(&id, &at, Kind::Reply, &u)
                        .text("So sorry about the cracked jug, a new blender is on its way"),
                    6 => Ev::outbound(&id, &at, Kind::DirectMessage, &u)
                        .text("Please DM us your order number ^AB"),
                    7 => Ev::outbound(&id, &at, Kind::Reaction, &u).channel(Channel::Public),
                    8 => Ev::outbound(&id, &at, Kind::Reply, &u).automated(),
                    _ => {
                        if user % 2 == 0 {
                            Ev::inbound(&id, &at, Kind::Follow, &u)
                        } else {
                            Ev::outbound(&id, &at, Kind::Follow, &u)
                        }
                    }
                };
                let e = if brand == 1 { e.brand("globex") } else { e };
                e.0
            })
            .collect()
    })
}

fn run(events: &[InteractionEvent], drain_every: usize, end: i64) -> (Tables, Engine) {
    let mut engine = Engine::new(EngineConfig::default(), brands()).unwrap();
    let mut tables = Tables::default();
    for (i, e) in events.iter().enumerate() {
        engine.process(e);
        if drain_every > 0 && i % drain_every == 0 {
            tables.apply(engine.drain_output());
        }
    }
    engine.advance_watermark(end);
    tables.apply(engine.drain_output());
    (tables, engine)
}

fn end_of(events: &[InteractionEvent]) -> i64 {
    events.iter().map(|e| e.occurred_at).max().unwrap_or(0) + 40 * 86_400_000
}

/// Shuffles events locally: each event may move behind later ones as long as it arrives
/// before the watermark (newest seen − 5 min) passes it.
fn jitter(events: &[InteractionEvent], keys: &[u64]) -> Vec<InteractionEvent> {
    let mut v: Vec<(i64, InteractionEvent)> = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let delay = (keys[i % keys.len()] % 300_000) as i64; // up to 5 min of arrival delay
            (e.occurred_at + delay, e.clone())
        })
        .collect();
    v.sort_by_key(|(arrival, e)| (*arrival, e.occurred_at));
    v.into_iter().map(|(_, e)| e).collect()
}

fn assert_invariants(out: &Output) {
    for t in &out.threads {
        if t.state == ThreadState::Answered {
            let r = t
                .response_seconds
                .expect("answered thread has response_seconds");
            assert!(t.first_response_at.unwrap() >= t.opened_at);
            assert!(t.business_response_seconds.unwrap() <= r);
        } else {
            assert_eq!(t.response_seconds, None);
        }
        assert!(t.inbound_items >= 1);
    }
    for d in &out.daily {
        assert!(
            d.threads_24h_old <= d.threads_opened && d.answered_within_24h <= d.threads_24h_old
        );
        assert!(d.threads_1h_old <= d.threads_opened && d.answered_within_1h <= d.threads_1h_old);
        assert!(d.threads_7d_old <= d.threads_opened && d.answered_within_7d <= d.threads_7d_old);
        assert!(d.pending_24h + d.threads_24h_old <= d.threads_opened);
        assert!(d.acknowledged_within_24h <= d.threads_24h_old);
        assert!(d.sla_met <= d.sla_due && d.sla_due <= d.threads_opened);
        assert!(d.threads_answered <= d.threads_opened);
        assert!(d.breaching_sla <= d.pending_threads);
        assert!(d.templated_replies <= d.touch_replies && d.personal_replies <= d.touch_replies);
        assert!(
            d.engagers_followed_back <= d.engagers_following_brand
                && d.engagers_following_brand <= d.engagers
        );
        assert!(
            d.new_followers_followed_back_7d <= d.new_followers_7d_old
                && d.new_followers_7d_old <= d.new_followers
        );
        assert!(
            d.returned_answered <= d.return_base_answered
                && d.returned_unanswered <= d.return_base_unanswered
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_arrival_order_within_lateness_gives_the_same_tables(
        events in stream(),
        keys in prop::collection::vec(any::<u64>(), 1..20),
        drain_every in 0usize..5,
    ) {
        let end = end_of(&events);
        let (straight, _) = run(&events, 1, end);
        let (shuffled, e) = run(&jitter(&events, &keys), drain_every, end);
        prop_assert_eq!(e.stats().late_items, 0);
        prop_assert!(straight == shuffled, "{}", diff(&straight, &shuffled));
    }

    #[test]
    fn snapshot_restore_continue_equals_straight_run(events in stream(), cut in 0usize..70) {
        let end = end_of(&events);
        let (straight, _) = run(&events, 3, end);
        let cut = cut.min(events.len());
        let mut a = Engine::new(EngineConfig::default(), brands()).unwrap();
        let mut tables = Tables::default();
        for (i, e) in events[..cut].iter().enumerate() {
            a.process(e);
            if i % 3 == 0 { tables.apply(a.drain_output()); }
        }
        let bytes = a.snapshot().unwrap();
        drop(a);
        let mut b = Engine::restore(&bytes, EngineConfig::default(), brands()).unwrap();
        for (i, e) in events[cut..].iter().enumerate() {
            b.process(e);
            if (i + cut) % 3 == 0 { tables.apply(b.drain_output()); }
        }
        b.advance_watermark(end);
        tables.apply(b.drain_output());
        prop_assert!(straight == tables, "{}", diff(&straight, &tables));
    }

    #[test]
    fn rows_respect_invariants_and_counts_never_go_negative(events in stream(), drain_every in 1usize..6) {
        let mut engine = Engine::new(EngineConfig::default(), brands()).unwrap();
        for (i, e) in events.iter().enumerate() {
            engine.process(e);
            if i % drain_every == 0 {
                assert_invariants(&engine.drain_output());
                for g in engine.live_gauges() {
                    prop_assert!(g.breaching_sla <= g.pending_threads);
                    prop_assert!(g.answered_within_24h_7d <= g.threads_24h_old_7d);
                }
            }
        }
        engine.advance_watermark(end_of(&events));
        let out = engine.drain_output();
        assert_invariants(&out);
        // 40 days later every thread is settled: nothing pending anywhere.
        for g in engine.live_gauges() {
            prop_assert_eq!(g.pending_threads, 0);
        }
    }
}

#[test]
fn restore_rejects_unknown_versions_and_garbage() {
    use rapport_engine::SnapshotError;
    let mut e = Engine::new(EngineConfig::default(), brands()).unwrap();
    e.process(&Ev::inbound("x1", "2026-03-02T10:00:00Z", Kind::Comment, "u1").0);
    let mut bytes = e.snapshot().unwrap();
    assert!(Engine::restore(&bytes, EngineConfig::default(), brands()).is_ok());
    bytes[4] = 99;
    assert!(matches!(
        Engine::restore(&bytes, EngineConfig::default(), brands()),
        Err(SnapshotError::UnsupportedVersion {
            found: 99,
            supported: rapport_engine::SNAPSHOT_VERSION
        })
    ));
    assert!(matches!(
        Engine::restore(b"nope", EngineConfig::default(), brands()),
        Err(SnapshotError::NotASnapshot)
    ));
    let mut cut = e.snapshot().unwrap();
    cut.truncate(cut.len() / 2);
    assert!(matches!(
        Engine::restore(&cut, EngineConfig::default(), brands()),
        Err(SnapshotError::Corrupt(_))
    ));
}
