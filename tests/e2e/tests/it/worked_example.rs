//! METRICS.md §8 end to end: the worked example's events go through the real broker into a
//! running processor, rows land in the real ClickHouse, and the scorecard computed there
//! equals the figures worked out by hand in METRICS.md.

use std::time::Duration;

use rapport_clickhouse::report::{scorecard, ReportParams, Scorecard};
use rapport_e2e::{
    clickhouse_config, kafka_config, poll_until, post_generic, unique_name, STACK_HINT,
};
use rapport_events::{
    Channel, Direction, EventCodec, InteractionEvent, Kind, Modifier, Party, Platform,
};
use rapport_kafka::rdkafka::producer::FutureRecord;
use rapport_runtime::config::{BrandConfig, Config, KafkaConfig, ProcessConfig};
use rapport_runtime::{Health, Shutdown};

const MON: i64 = 1_772_409_600_000; // 2026-03-02T00:00:00Z, a Monday
const HOUR: i64 = 3_600_000;
const MINUTE: i64 = 60_000;

fn party(id: &str) -> Party {
    Party {
        id: id.into(),
        handle: Some(id.into()),
        display_name: None,
        followers: Some(500),
    }
}

fn item(
    n: u32,
    at: i64,
    kind: Kind,
    direction: Direction,
    channel: Channel,
    user: &str,
    parent: Option<&str>,
) -> InteractionEvent {
    let brand = party("acme-x");
    let (actor, addressed) = match direction {
        Direction::Inbound => (party(user), None),
        Direction::Outbound => (brand, (!user.is_empty()).then(|| party(user))),
    };
    InteractionEvent {
        event_id: format!("wx-{n}"),
        platform: Platform::X,
        brand_id: "acme".into(),
        brand_account_id: "acme-x".into(),
        kind,
        modifier: Modifier::None,
        direction,
        channel,
        actor,
        addressed,
        object_id: format!("obj-{n}"),
        parent_id: parent.map(str::to_owned),
        root_id: None,
        text: Some("Thanks for reaching out, we are on it".into()),
        reaction: (kind == Kind::Reaction).then(|| "like".to_owned()),
        automated: false,
        occurred_at: at,
        received_at: at + 1_000,
        profile: None,
        source: "test.worked_example".into(),
    }
}

/// The table of METRICS.md §8, in order.
fn worked_example() -> Vec<InteractionEvent> {
    use Channel::{Private, Public};
    use Direction::{Inbound, Outbound};
    vec![
        item(
            1,
            MON + 10 * HOUR,
            Kind::Mention,
            Inbound,
            Public,
            "u1",
            None,
        ), // T1 opens
        item(
            2,
            MON + 10 * HOUR + 5 * MINUTE,
            Kind::Reply,
            Inbound,
            Public,
            "u1",
            Some("obj-1"),
        ), // joins T1
        item(
            3,
            MON + 10 * HOUR + 30 * MINUTE,
            Kind::Reply,
            Outbound,
            Public,
            "u1",
            Some("obj-2"),
        ), // answers T1
        item(4, MON + 12 * HOUR, Kind::Post, Outbound, Public, "", None), // broadcast
        item(
            5,
            MON + 16 * HOUR,
            Kind::DirectMessage,
            Inbound,
            Private,
            "u2",
            None,
        ), // T2 opens
        item(
            6,
            MON + 16 * HOUR + 10 * MINUTE,
            Kind::Reaction,
            Outbound,
            Private,
            "u2",
            Some("obj-5"),
        ), // T2 acked
        item(
            7,
            MON + 18 * HOUR,
            Kind::Comment,
            Inbound,
            Public,
            "u3",
            Some("obj-4"),
        ), // T3 opens
        item(
            8,
            MON + 33 * HOUR + 30 * MINUTE,
            Kind::DirectMessage,
            Outbound,
            Private,
            "u2",
            None,
        ), // Tue 09:30 answers T2
    ]
}

fn acme() -> BrandConfig {
    let text = r#"
        id = "acme"
        timezone = "UTC"
        business_hours = { mon = "09:00-17:00", tue = "09:00-17:00", wed = "09:00-17:00", thu = "09:00-17:00", fri = "09:00-17:00" }
        sla_target = "1h"
        accounts = { x = "acme-x" }
    "#;
    toml::from_str(text).expect("brand config")
}

fn test_config(name: &str) -> Config {
    Config {
        kafka: KafkaConfig {
            interactions_topic: unique_name(&format!("rapport.test.{name}")),
            deadletter_topic: unique_name(&format!("rapport.test.{name}.dl")),
            ..kafka_config()
        },
        clickhouse: clickhouse_config(name),
        process: ProcessConfig {
            group_id: unique_name(&format!("rapport-test-{name}")),
            flush_interval: Duration::from_millis(100),
            checkpoint_interval: Duration::from_secs(1),
            idle_advance: Duration::from_millis(500),
            ..ProcessConfig::default()
        },
        brands: vec![acme()],
        ..Config::default()
    }
}

const GENERIC_SECRET: &str = "worked-example-generic-secret";

/// The event as rapport's generic webhook JSON (schemas/json/generic_event.v1.schema.json).
fn generic_json(e: &InteractionEvent) -> serde_json::Value {
    let party =
        |p: &Party| serde_json::json!({ "id": p.id, "handle": p.handle, "followers": p.followers });
    let mut v = serde_json::json!({
        "id": e.event_id,
        "platform": e.platform.as_str(),
        "account_id": e.brand_account_id,
        "kind": e.kind.as_str(),
        "direction": e.direction.as_str(),
        "channel": e.channel.as_str(),
        "actor": party(&e.actor),
        "object_id": e.object_id,
        "text": e.text,
        "occurred_at": e.occurred_at,
    });
    if let Some(a) = &e.addressed {
        v["addressed"] = party(a);
    }
    if let Some(p) = &e.parent_id {
        v["parent_id"] = serde_json::json!(p);
    }
    if let Some(r) = &e.reaction {
        v["reaction"] = serde_json::json!(r);
    }
    v
}

/// The whole pipeline: signed webhooks into `rapport ingest`, the real broker, the processor,
/// ClickHouse, and the scorecard `rapport report --format json` prints.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worked_example_through_signed_webhooks() {
    let mut config = test_config("worked_hooks");
    config.ingest.listen = "127.0.0.1:0".parse().expect("addr");
    config.ingest.generic.secret =
        rapport_runtime::Secrets::new(vec![rapport_runtime::Secret::new(GENERIC_SECRET)])
            .expect("one secret");
    prepare(&config).await;
    let shutdown = Shutdown::new();
    let ingest = rapport_ingest_service::start(
        &config,
        &prometheus::Registry::new(),
        &Health::new(),
        shutdown.clone(),
    )
    .await
    .unwrap_or_else(|e| panic!("ingest did not start: {e}; {STACK_HINT}"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    for e in worked_example() {
        let body = serde_json::to_vec(&generic_json(&e)).expect("json");
        let signature =
            rapport_ingest::signature::sign_generic(&body, GENERIC_SECRET.as_bytes(), now);
        let status = post_generic(ingest.addr(), &body, &signature)
            .await
            .expect("post to ingest");
        assert_eq!(status, 200, "ingest refused event {}", e.event_id);
    }
    shutdown.trigger();
    process_and_check(&config).await;
}

/// Events straight onto the topic, as ingest would produce them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worked_example_of_metrics_md_comes_out_of_clickhouse() {
    let config = test_config("worked");
    prepare(&config).await;
    let k = &config.kafka;
    let producer = rapport_kafka::producer(k).expect("producer");
    let codec = EventCodec::new();
    for e in worked_example() {
        let payload = codec.encode(&e).expect("encode");
        producer
            .send(
                FutureRecord::to(&k.interactions_topic)
                    .key(&e.partition_key())
                    .payload(&payload),
                Duration::from_secs(30),
            )
            .await
            .unwrap_or_else(|(err, _)| panic!("broker did not ack: {err}; {STACK_HINT}"));
    }

    process_and_check(&config).await;
}

async fn prepare(config: &Config) {
    let k = &config.kafka;
    rapport_kafka::ensure_topics(k, &[&k.interactions_topic, &k.deadletter_topic], 3)
        .await
        .unwrap_or_else(|e| panic!("{e:#?}; {STACK_HINT}"));
    let server = rapport_clickhouse::server_client(&config.clickhouse);
    rapport_clickhouse::migrate(&server, &config.clickhouse.database)
        .await
        .unwrap_or_else(|e| panic!("{e:#?}; {STACK_HINT}"));
}

/// Run the processor over the topic, compute the scorecard at Wed 12:00 and check every figure
/// of METRICS.md §8; then stop and drop the database.
async fn process_and_check(config: &Config) {
    let server = rapport_clickhouse::server_client(&config.clickhouse);
    let shutdown = Shutdown::new();
    let processor = rapport_e2e::spawn_processor(config, &shutdown);

    // Watermark Wed 2026-03-04 12:00; Monday's cohort.
    let params = ReportParams {
        brand: "acme".into(),
        platform: "x".into(),
        from: (MON / 1000) as u32,
        to: (MON / 1000) as u32,
        as_of: Some(((MON + 2 * 24 * HOUR + 12 * HOUR) / 1000) as u32),
        lateness_seconds: 300,
        max_pending_seconds: 7 * 86_400,
    };
    let client = rapport_clickhouse::client(&config.clickhouse);
    let card: Scorecard = poll_until(
        "the processor to write the worked example",
        Duration::from_secs(90),
        || {
            let (client, params) = (client.clone(), params.clone());
            async move {
                let c = scorecard(&client, &params).await.ok()?;
                (c.threads == 3
                    && c.threads_answered == 2
                    && c.brand_posts == 1
                    && c.brand_replies == 1)
                    .then_some(c)
            }
        },
    )
    .await;

    // T1, T2 answered within 24 h; T3 is a miss, not pending: 2/3.
    assert_eq!(card.response_rate_24h, Some(2.0 / 3.0), "{card:#?}");
    // Nearest rank over [1,800; 63,000]: p50 = 1,800 (rank ⌈1⌉), p90 = 63,000 (rank ⌈1.8⌉ = 2).
    assert_eq!(card.frt_p50_seconds, Some(1_800));
    assert_eq!(card.frt_p90_seconds, Some(63_000));
    // T1 replied, T2 liked within 24 h: 2/3. Only T1 within an hour: 1/3.
    assert_eq!(card.ack_rate_24h, Some(2.0 / 3.0));
    assert_eq!(card.answered_within_1h, Some(1.0 / 3.0));
    // T3 waits since Mon 18:00: 42 h = 151,200 s at Wed 12:00.
    assert_eq!(card.pending_threads, 1);
    assert_eq!(card.oldest_pending_seconds, 151_200);
    // T1 in time; T2 late (deadline Mon 17:00); T3's deadline Tue 10:00 has passed: 1/3.
    assert_eq!((card.sla_met, card.sla_due), (1, 3));
    assert_eq!(card.sla_attainment, Some(1.0 / 3.0));
    // One public reply, one original post (the DM is private): 1/2.
    assert_eq!(card.conversation_share, Some(0.5));
    // T2's response moved nothing (it opened private); T1 FRT 1,800 s, T2 63,000 s.
    assert_eq!(card.frt_mean_seconds, Some(32_400.0));
    assert_eq!(card.low_sample, 1, "three threads is a low sample");

    shutdown.trigger();
    processor
        .await
        .expect("processor task")
        .expect("processor ran cleanly");
    server
        .query(&format!("DROP DATABASE {}", config.clickhouse.database))
        .execute()
        .await
        .expect("drop");
}
