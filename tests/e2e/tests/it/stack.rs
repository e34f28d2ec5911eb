//! The foundation works against the real services: an encoded event goes through tansu and
//! comes back identical; the migrations apply to ClickHouse 18.16 and a row round-trips.

use std::time::Duration;

use rapport_clickhouse::rows::InteractionRow;
use rapport_e2e::{clickhouse_config, kafka_config, poll_until, unique_name, STACK_HINT};
use rapport_events::{
    Channel, Direction, EventCodec, InteractionEvent, Kind, Modifier, Party, Platform,
};
use rapport_kafka::rdkafka::consumer::{Consumer, StreamConsumer};
use rapport_kafka::rdkafka::message::Message;
use rapport_kafka::rdkafka::producer::FutureRecord;
use rapport_kafka::rdkafka::util::Timeout;

fn event(n: u32) -> InteractionEvent {
    InteractionEvent {
        event_id: format!("evt-{n}"),
        platform: Platform::Facebook,
        brand_id: "acme".into(),
        brand_account_id: "1234567890".into(),
        kind: Kind::Comment,
        modifier: Modifier::None,
        direction: Direction::Inbound,
        channel: Channel::Public,
        actor: Party {
            id: format!("user-{n}"),
            handle: None,
            display_name: Some("Jo Doe".into()),
            followers: Some(120),
        },
        addressed: None,
        object_id: format!("post_1_comment_{n}"),
        parent_id: Some("post_1".into()),
        root_id: Some("post_1".into()),
        text: Some("Is this in stock? ✨".into()),
        reaction: None,
        automated: false,
        occurred_at: 1_772_445_600_000 + i64::from(n) * 1000,
        received_at: 1_772_445_601_000 + i64::from(n) * 1000,
        profile: None,
        source: "meta.feed.comment".into(),
    }
}

#[tokio::test]
async fn an_encoded_event_round_trips_through_the_broker() {
    let mut kafka = kafka_config();
    let topic = unique_name("rapport.test.roundtrip");
    rapport_kafka::ensure_topics(&kafka, &[&topic], 3)
        .await
        .unwrap_or_else(|e| panic!("{e:#?}; {STACK_HINT}"));
    kafka.interactions_topic = topic.clone();
    let producer = rapport_kafka::producer(&kafka).expect("producer");
    let codec = EventCodec::new();

    let sent: Vec<InteractionEvent> = (0..20).map(event).collect();
    for e in &sent {
        let payload = codec.encode(e).expect("encode");
        let key = e.partition_key();
        producer
            .send(
                FutureRecord::to(&topic).key(&key).payload(&payload),
                Timeout::After(Duration::from_secs(30)),
            )
            .await
            .unwrap_or_else(|(err, _)| panic!("broker did not ack: {err}; {STACK_HINT}"));
    }

    let consumer: StreamConsumer = rapport_kafka::consumer(
        &kafka,
        &unique_name("rapport-test-group"),
        Default::default(),
    )
    .expect("consumer");
    consumer.subscribe(&[&topic]).expect("subscribe");
    let mut received = Vec::new();
    while received.len() < sent.len() {
        let msg = tokio::time::timeout(Duration::from_secs(60), consumer.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "only {} of {} events came back; {STACK_HINT}",
                    received.len(),
                    sent.len()
                )
            })
            .expect("consume");
        let e = codec
            .decode(msg.payload().expect("payload"))
            .expect("decode");
        assert_eq!(
            msg.key(),
            Some(e.partition_key().as_bytes()),
            "key is brand_id:user_id"
        );
        received.push(e);
    }
    received.sort_by_key(|e| e.occurred_at);
    assert_eq!(received, sent);
}

#[tokio::test]
async fn migrations_apply_and_an_interaction_row_round_trips_through_clickhouse() {
    let cfg = clickhouse_config("roundtrip");
    let server = rapport_clickhouse::server_client(&cfg);
    let applied = rapport_clickhouse::migrate(&server, &cfg.database)
        .await
        .unwrap_or_else(|e| panic!("{e:#?}; {STACK_HINT}"));
    assert_eq!(applied.len(), rapport_clickhouse::MIGRATIONS.len());
    assert!(
        rapport_clickhouse::migrate(&server, &cfg.database)
            .await
            .expect("rerun")
            .is_empty(),
        "rerun is a no-op"
    );

    let client = rapport_clickhouse::client(&cfg);
    let rows: Vec<InteractionRow> = (0..3).map(|n| InteractionRow::from(&event(n))).collect();
    let mut insert = client
        .insert::<InteractionRow>("interactions")
        .await
        .expect("insert");
    for r in &rows {
        insert.write(r).await.expect("write");
    }
    // A replayed row (same event_id) must not count twice once folded.
    insert.write(&rows[0]).await.expect("write duplicate");
    insert.end().await.expect("commit insert");

    let back: Vec<InteractionRow> =
        poll_until("rows to be visible", Duration::from_secs(10), || async {
            let got: Vec<InteractionRow> = client
                .query("SELECT ?fields FROM interactions FINAL ORDER BY event_id")
                .fetch_all()
                .await
                .ok()?;
            (got.len() == rows.len()).then_some(got)
        })
        .await;
    assert_eq!(back, rows);

    #[derive(Debug, clickhouse::Row, serde::Deserialize)]
    struct Names {
        platform: String,
        kind: String,
        direction: String,
    }
    let names: Names = client
        .query("SELECT toString(platform) AS platform, toString(kind) AS kind, toString(direction) AS direction FROM interactions LIMIT 1")
        .fetch_one()
        .await
        .expect("enum names");
    assert_eq!(
        (
            names.platform.as_str(),
            names.kind.as_str(),
            names.direction.as_str()
        ),
        ("facebook", "comment", "inbound")
    );

    server
        .query(&format!("DROP DATABASE {}", cfg.database))
        .execute()
        .await
        .expect("drop test database");
}

/// Every documented example query (README, `schemas/queries/examples/`) runs on ClickHouse
/// 18.16 against the migrated schema; `.ci/run` runs the same files on current ClickHouse
/// through chDB.
#[tokio::test]
async fn the_documented_example_queries_run_on_this_clickhouse() {
    let cfg = clickhouse_config("examples");
    let server = rapport_clickhouse::server_client(&cfg);
    rapport_clickhouse::migrate(&server, &cfg.database)
        .await
        .unwrap_or_else(|e| panic!("{e:#?}; {STACK_HINT}"));
    let client = rapport_clickhouse::client(&cfg);
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../schemas/queries/examples"
    );
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("examples folder")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 5,
        "the README promises a handful of example queries"
    );
    for path in files {
        let sql = std::fs::read_to_string(&path).expect("read query");
        client
            .query(&sql)
            .execute()
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
    server
        .query(&format!("DROP DATABASE {}", cfg.database))
        .execute()
        .await
        .expect("drop test database");
}
