//! `rapport ingest` against the real broker: the service runs in-process on port 0 with its own
//! topic pair, every Meta/Instagram/X/Mastodon sample delivery is POSTed signed and its events
//! are read back from Kafka; handshakes, every refusal status (400/401/404/413/503) and what
//! each one writes (or must not write) to the topics.
//!
//! Expected events come from the pure core (`rapport_ingest::normalize` on the same bytes with
//! the same brands), whose own tests pin them field by field against the samples; here the
//! point is that exactly those events, with the right key, are on the broker — plus a few
//! key fields restated so a change in the core cannot silently change both sides.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use prometheus::Registry;
use rapport_e2e::http::{http, Reply};
use rapport_e2e::private_stack::PrivateBroker;
use rapport_e2e::topic::{decode_events, read_records, record_count};
use rapport_e2e::{fresh_topics, kafka_config, poll_until};
use rapport_events::{DeadLetter, DeadLetterCodec, Direction, InteractionEvent, Kind, Stage};
use rapport_ingest::{AccountDirectory, Endpoint};
use rapport_ingest_service::settings::Settings;
use rapport_ingest_service::IngestServer;
use rapport_kafka::rdkafka::message::{Message, OwnedMessage};
use rapport_runtime::config::{BrandConfig, Config, IngestConfig, KafkaConfig};
use rapport_runtime::{Health, Secret, Secrets, Shutdown};
use sha2::Sha256;

const SAMPLES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/platforms/samples/"
);
/// The secrets of the worked examples in `x-signature-example.json` / `meta-signature-example.json`.
const META_SECRET: &str = "test_app_secret_123";
const X_SECRET: &str = "test_consumer_secret";
const MASTODON_SECRET: &str = "test_mastodon_secret";
const VERIFY_TOKEN: &str = "test_verify_token";
/// The Mastodon account of brand `acme`, for the per-account webhook URL.
const ACME_MASTODON: &str = "109348677773283527";
const PARTITIONS: i32 = 3;
const WAIT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// Fixtures: brands, config, the service, HTTP, signing, reading topics.

fn brand(id: &str, accounts: &[(&str, &str)], automation: &[&str]) -> BrandConfig {
    BrandConfig {
        id: id.into(),
        name: None,
        timezone: "UTC".into(),
        business_hours: BTreeMap::new(),
        holidays: Vec::new(),
        sla_target: Duration::from_secs(3600),
        accounts: accounts
            .iter()
            .map(|(p, a)| (p.to_string(), a.to_string()))
            .collect(),
        automation_app_ids: automation.iter().map(|s| s.to_string()).collect(),
    }
}

/// One brand per brand account in the samples (the same set the core's sample tests use).
fn sample_brands() -> Vec<BrandConfig> {
    vec![
        brand("capture", &[("facebook", "103149398319188")], &[]),
        brand("bottender", &[("facebook", "137542570280222")], &[]),
        brand("bottender-page", &[("facebook", "137542570280111")], &[]),
        brand(
            "bot-echo",
            &[("facebook", "1134713619900975")],
            &["1821152484774199"],
        ),
        brand(
            "acme",
            &[
                ("facebook", "102938475610293"),
                ("instagram", "17841400000000001"),
                ("x", "2244994945"),
                ("mastodon", ACME_MASTODON),
            ],
            &["263902037430900"],
        ),
        brand("ig-docs", &[("instagram", "17841405726653026")], &[]),
        brand("x-delete", &[("x", "930524282358325248")], &[]),
        brand("x-dm", &[("x", "4337869213")], &[]),
        brand("xaa", &[("x", "1111111111111111111")], &[]),
        brand("masto-docs", &[("mastodon", "14715")], &[]),
    ]
}

fn secrets(value: &str) -> Secrets {
    Secrets::new(vec![Secret::new(value)]).expect("one secret")
}

/// A config for one test: its own topics, port 0, the test secrets (no generic secret, so
/// that endpoint is disabled) and the sample brands.
fn test_config(kafka: KafkaConfig) -> Config {
    let mut ingest = IngestConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..IngestConfig::default()
    };
    ingest.meta.app_secret = secrets(META_SECRET);
    ingest.meta.verify_token = Some(Secret::new(VERIFY_TOKEN));
    ingest.x.consumer_secret = secrets(X_SECRET);
    ingest.mastodon.secret = secrets(MASTODON_SECRET);
    Config {
        kafka,
        ingest,
        brands: sample_brands(),
        ..Config::default()
    }
}

/// Fresh topics on the shared broker.
async fn test_kafka(test: &str) -> KafkaConfig {
    fresh_topics(kafka_config(), test, PARTITIONS).await
}

struct Running {
    server: IngestServer,
    addr: SocketAddr,
    health: Health,
    shutdown: Shutdown,
    config: Config,
}

async fn start(config: Config) -> Running {
    let health = Health::new();
    let shutdown = Shutdown::new();
    let server =
        rapport_ingest_service::start(&config, &Registry::new(), &health, shutdown.clone())
            .await
            .expect("ingest service starts");
    let addr = server.addr();
    Running {
        server,
        addr,
        health,
        shutdown,
        config,
    }
}

impl Running {
    fn directory(&self) -> AccountDirectory {
        Settings::from_config(&self.config)
            .expect("settings")
            .directory
    }

    async fn post(&self, path: &str, headers: &[(&str, String)], body: &[u8]) -> Reply {
        http(self.addr, "POST", path, headers, body).await
    }

    async fn get(&self, path_and_query: &str) -> Reply {
        http(self.addr, "GET", path_and_query, &[], b"").await
    }
}

fn hmac_sha256(secret: &str, body: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// The webhook path and the signature header a platform would send with `body`.
fn signed(endpoint: &Endpoint, body: &[u8]) -> (String, Vec<(&'static str, String)>) {
    let json = ("content-type", "application/json".to_owned());
    match endpoint {
        Endpoint::Meta => (
            "/webhooks/meta".into(),
            vec![
                json,
                (
                    "x-hub-signature-256",
                    format!("sha256={}", hex::encode(hmac_sha256(META_SECRET, body))),
                ),
            ],
        ),
        Endpoint::X => (
            "/webhooks/x".into(),
            vec![
                json,
                (
                    "x-twitter-webhooks-signature",
                    format!(
                        "sha256={}",
                        base64::engine::general_purpose::STANDARD
                            .encode(hmac_sha256(X_SECRET, body))
                    ),
                ),
            ],
        ),
        Endpoint::Mastodon { account_id } => (
            match account_id {
                Some(id) => format!("/webhooks/mastodon/{id}"),
                None => "/webhooks/mastodon".into(),
            },
            vec![
                json,
                (
                    "x-hub-signature",
                    format!("sha256={}", hex::encode(hmac_sha256(MASTODON_SECRET, body))),
                ),
            ],
        ),
        Endpoint::Generic => unreachable!("the generic endpoint is disabled in these tests"),
    }
}

fn sample(name: &str) -> Vec<u8> {
    let path = Path::new(SAMPLES).join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn decode_dead_letter(record: &OwnedMessage) -> DeadLetter {
    DeadLetterCodec::new()
        .decode(record.payload().expect("payload"))
        .expect("decodes as DeadLetter")
}

/// The endpoint a sample is delivered to: Mastodon notifications that do not name the brand
/// (a follow) or that the core's tests read with the receiving account go to the per-account URL.
fn endpoint_for(sample: &str) -> Endpoint {
    if sample.starts_with("meta-") || sample.starts_with("instagram-") {
        Endpoint::Meta
    } else if sample.starts_with("x-") {
        Endpoint::X
    } else if [
        "mastodon-follow-notification.json",
        "mastodon-reply-mention-notification.json",
    ]
    .contains(&sample)
    {
        Endpoint::Mastodon {
            account_id: Some(ACME_MASTODON.into()),
        }
    } else {
        Endpoint::Mastodon { account_id: None }
    }
}

/// Sample deliveries of the four webhook platforms; the two `*-signature-example.json` files
/// are worked signature examples, not deliveries.
fn delivery_samples() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(SAMPLES)
        .expect("samples directory")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| {
            ["meta-", "instagram-", "x-", "mastodon-"]
                .iter()
                .any(|p| n.starts_with(p))
                && n.ends_with(".json")
                && !n.ends_with("-signature-example.json")
        })
        .collect();
    names.sort();
    names
}

// ---------------------------------------------------------------------------------------------
// Tests.

/// Sample deliveries that hold no measured event (a revoked authorization, admin webhooks
/// about reports and non-brand statuses); every other sample delivery holds exactly one.
const RECEIPTS: [&str; 3] = [
    "mastodon-admin-webhook-report-created.json",
    "mastodon-admin-webhook-status-created.json",
    "x-user-event-revoke.json",
];

/// Key fields of one event per sample, restated from the core's sample tests.
#[allow(clippy::type_complexity)]
const SPOT_CHECKS: &[(&str, Kind, Direction, &str, Option<&str>, i64)] = &[
    (
        "meta-page-feed-comment.json",
        Kind::Comment,
        Direction::Inbound,
        "3450420000000001",
        Some("103149398319188_407298303721936"),
        1_608_952_523_000,
    ),
    (
        "meta-page-feed-comment-by-page.json",
        Kind::Reply,
        Direction::Outbound,
        "",
        Some("139560936755999_140077593359990"),
        1_512_121_727_000,
    ),
    (
        "meta-page-feed-reply.json",
        Kind::Reply,
        Direction::Inbound,
        "139560936744123",
        Some("139560936744456_139562213411528"),
        1_511_951_015_000,
    ),
    (
        "x-tweet-reply-outbound.json",
        Kind::Post,
        Direction::Outbound,
        "",
        Some("1296887091901718529"),
        1_598_037_005_000,
    ),
    (
        "x-favorite.json",
        Kind::Reaction,
        Direction::Inbound,
        "3001969357",
        Some("1296887091901718529"),
        1_522_082_006_140,
    ),
    (
        "x-follow.json",
        Kind::Follow,
        Direction::Inbound,
        "3001969357",
        None,
        1_517_588_749_178,
    ),
    (
        "mastodon-mention-notification.json",
        Kind::Mention,
        Direction::Inbound,
        "108892712797543112",
        None,
        1_661_900_992_359,
    ),
    (
        "mastodon-follow-notification.json",
        Kind::Follow,
        Direction::Inbound,
        "108892712797543112",
        None,
        1_709_287_620_789,
    ),
    (
        "mastodon-reply-mention-notification.json",
        Kind::Reply,
        Direction::Inbound,
        "108892712797543112",
        Some("111000000000000001"),
        1_709_287_680_000,
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_platform_sample_delivery_lands_on_kafka_as_its_events() {
    let service = start(test_config(test_kafka("samples").await)).await;
    let directory = service.directory();
    let samples = delivery_samples();
    assert!(samples.len() >= 45, "samples found: {samples:?}");

    // POST every sample; remember what the core says it holds.
    let mut expected: Vec<(String, InteractionEvent)> = Vec::new();
    let mut counts = BTreeMap::new();
    let before = now_ms();
    for name in &samples {
        let body = sample(name);
        let endpoint = endpoint_for(name);
        let events = rapport_ingest::normalize(&endpoint, &body, now_ms(), &directory)
            .unwrap_or_else(|e| panic!("{name}: the core refuses this sample: {e}"));
        let (path, headers) = signed(&endpoint, &body);
        let reply = service.post(&path, &headers, &body).await;
        assert_eq!(reply.status, 200, "{name}: {}", reply.text());
        counts.insert(name.clone(), events.len());
        expected.extend(events.into_iter().map(|e| (name.clone(), e)));
    }
    let after = now_ms();
    for (name, n) in &counts {
        let want = usize::from(!RECEIPTS.contains(&name.as_str()));
        assert_eq!(*n, want, "{name}: events per delivery");
    }

    // Exactly those events are on the topic, keyed brand_id:user_id.
    let topic = &service.config.kafka.interactions_topic;
    let records = read_records(&service.config.kafka, topic, expected.len()).await;
    assert_eq!(
        record_count(&service.config.kafka, topic).await,
        expected.len() as i64,
        "no extra records"
    );
    let mut on_topic: HashMap<String, Vec<(String, InteractionEvent)>> = HashMap::new();
    for (key, event) in decode_events(&records) {
        on_topic
            .entry(event.event_id.clone())
            .or_default()
            .push((key, event));
    }
    let mut seen: HashMap<String, InteractionEvent> = HashMap::new();
    for (name, mut want) in expected {
        let (key, got) = on_topic
            .get_mut(&want.event_id)
            .and_then(Vec::pop)
            .unwrap_or_else(|| panic!("{name}: event {} is not on the topic", want.event_id));
        assert!(
            (before..=after).contains(&got.received_at),
            "{name}: received_at is the service's clock"
        );
        // A platform event without its own time is dated by its arrival.
        if want.occurred_at == want.received_at {
            want.occurred_at = got.received_at;
        }
        want.received_at = got.received_at;
        assert_eq!(
            got, want,
            "{name}: the event on Kafka differs from the core's"
        );
        assert_eq!(key, want.partition_key(), "{name}: Kafka key");
        assert_eq!(
            key,
            format!("{}:{}", got.brand_id, got.user_id()),
            "{name}: key is brand_id:user_id"
        );
        seen.entry(name).or_insert(got);
    }
    for (name, kind, direction, user, parent, occurred_at) in SPOT_CHECKS {
        let e = seen
            .get(*name)
            .unwrap_or_else(|| panic!("{name}: no event"));
        assert_eq!(
            (
                e.kind,
                e.direction,
                e.user_id(),
                e.parent_id.as_deref(),
                e.occurred_at
            ),
            (*kind, *direction, *user, *parent, *occurred_at),
            "{name}"
        );
        assert_eq!(e.event_id.len(), 32, "{name}: 128-bit hex event id");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_with_several_entries_and_changes_yields_every_event() {
    let service = start(test_config(test_kafka("batch").await)).await;
    let json = |name: &str| -> serde_json::Value {
        serde_json::from_slice(&sample(name)).expect("sample JSON")
    };
    // Page 103149398319188: a comment and a reaction; page 137542570280222: a reply and a
    // reaction on a comment; one delivery, two entries, four changes.
    let mut first = json("meta-page-feed-comment.json")["entry"][0].clone();
    let reaction = json("meta-page-feed-reaction.json")["entry"][0]["changes"][0].clone();
    first["changes"]
        .as_array_mut()
        .expect("changes")
        .push(reaction);
    let mut second = json("meta-page-feed-reply.json")["entry"][0].clone();
    let on_comment =
        json("meta-page-feed-reaction-on-comment.json")["entry"][0]["changes"][0].clone();
    second["changes"]
        .as_array_mut()
        .expect("changes")
        .push(on_comment);
    let body = serde_json::json!({"object": "page", "entry": [first, second]})
        .to_string()
        .into_bytes();

    let expected =
        rapport_ingest::normalize(&Endpoint::Meta, &body, now_ms(), &service.directory())
            .expect("core");
    assert_eq!(expected.len(), 4, "{expected:#?}");
    let (path, headers) = signed(&Endpoint::Meta, &body);
    let reply = service.post(&path, &headers, &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    let topic = &service.config.kafka.interactions_topic;
    let got = decode_events(&read_records(&service.config.kafka, topic, 4).await);
    let mut got_ids: Vec<&str> = got.iter().map(|(_, e)| e.event_id.as_str()).collect();
    let mut want_ids: Vec<&str> = expected.iter().map(|e| e.event_id.as_str()).collect();
    got_ids.sort_unstable();
    want_ids.sort_unstable();
    assert_eq!(got_ids, want_ids);
    let mut brands: Vec<&str> = got.iter().map(|(_, e)| e.brand_id.as_str()).collect();
    brands.sort_unstable();
    assert_eq!(brands, ["bottender", "bottender", "capture", "capture"]);
    let kinds: Vec<Kind> = got.iter().map(|(_, e)| e.kind).collect();
    for kind in [Kind::Comment, Kind::Reaction, Kind::Reply] {
        assert!(kinds.contains(&kind), "{kinds:?}");
    }
    for (key, e) in &got {
        assert_eq!(key, &e.partition_key());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshakes_disabled_endpoints_and_a_graceful_stop() {
    let service = start(test_config(test_kafka("handshake").await)).await;

    let ok = service.get(&format!("/webhooks/meta?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1158201444")).await;
    assert_eq!((ok.status, ok.text().as_str()), (200, "1158201444"));
    assert!(ok.headers["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/plain"));
    let wrong = service
        .get("/webhooks/meta?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1")
        .await;
    assert_eq!(wrong.status, 403);
    assert!(
        !wrong.text().contains('1'),
        "a refused challenge is not echoed"
    );
    let missing = service.get("/webhooks/meta").await;
    assert_eq!(missing.status, 403);

    let example: serde_json::Value =
        serde_json::from_slice(&sample("x-signature-example.json")).expect("json");
    assert_eq!(example["consumer_secret"], X_SECRET);
    let crc = service.get("/webhooks/x?crc_token=challenge_string").await;
    assert_eq!(crc.status, 200);
    assert_eq!(crc.headers["content-type"], "application/json");
    let answer: serde_json::Value = serde_json::from_slice(&crc.body).expect("JSON answer");
    assert_eq!(answer, example["crc"]["response_body"]);
    assert_eq!(service.get("/webhooks/x").await.status, 403, "no crc_token");

    // X's worked signature example passes the signature check as sent (not 401); its body is
    // too thin to normalize (a favorite without the status), so it is refused as malformed.
    let body = example["body"].as_str().expect("body").as_bytes();
    let header = example["header_value"].as_str().expect("header").to_owned();
    let reply = service
        .post(
            "/webhooks/x",
            &[("x-twitter-webhooks-signature", header)],
            body,
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.text());

    // No generic secret configured: the endpoint says so.
    let generic = service.post("/webhooks/generic", &[], b"{}").await;
    assert_eq!(generic.status, 404);
    assert!(generic.text().contains("not enabled"), "{}", generic.text());

    // Ready once the broker answered; a stop turns readiness off first, then drains.
    poll_until("the service to be ready", WAIT, || async {
        service.health.report().ready.then_some(())
    })
    .await;
    service.shutdown.trigger();
    poll_until("readiness to drop once shutdown began", WAIT, || async {
        (!service.health.report().ready).then_some(())
    })
    .await;
    tokio::time::timeout(WAIT, service.server.stopped())
        .await
        .expect("stops in time")
        .expect("clean stop");
    assert!(
        tokio::net::TcpStream::connect(service.addr).await.is_err(),
        "the listener is closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_delivery_is_dead_lettered_before_the_400() {
    let service = start(test_config(test_kafka("malformed").await)).await;
    let body = b"{\"object\":\"page\",\"entry\":[{\"id\":".to_vec();
    let (path, mut headers) = signed(&Endpoint::Meta, &body);
    headers.push(("user-agent", "facebookexternalua".into()));
    let reply = service.post(&path, &headers, &body).await;
    assert_eq!(reply.status, 400, "{}", reply.text());

    // The 400 came after the ack, so the record is there.
    let kafka = &service.config.kafka;
    assert_eq!(record_count(kafka, &kafka.deadletter_topic).await, 1);
    let dl = decode_dead_letter(&read_records(kafka, &kafka.deadletter_topic, 1).await[0]);
    assert_eq!(
        (dl.stage, dl.reason.as_str(), dl.source.as_str()),
        (Stage::Ingest, "malformed", "/webhooks/meta")
    );
    assert_eq!(dl.payload, body, "the raw bytes, unchanged");
    assert_eq!(
        dl.headers.get("x-hub-signature-256").map(String::as_str),
        Some("present")
    );
    assert_eq!(
        dl.headers.get("user-agent").map(String::as_str),
        Some("facebookexternalua")
    );
    assert_eq!(
        dl.headers.get("content-type").map(String::as_str),
        Some("application/json")
    );
    assert!(
        !format!("{dl:?}").contains(&headers[1].1),
        "the signature value is never kept"
    );
    assert_eq!(record_count(kafka, &kafka.interactions_topic).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_account_is_dead_lettered_with_its_reason_and_404() {
    let service = start(test_config(test_kafka("unknown").await)).await;
    let body = sample("mastodon-follow-notification.json");
    let endpoint = Endpoint::Mastodon {
        account_id: Some("1".into()),
    };
    let (path, headers) = signed(&endpoint, &body);
    let reply = service.post(&path, &headers, &body).await;
    assert_eq!(reply.status, 404, "{}", reply.text());

    let kafka = &service.config.kafka;
    let dl = decode_dead_letter(&read_records(kafka, &kafka.deadletter_topic, 1).await[0]);
    assert_eq!(
        (dl.reason.as_str(), dl.source.as_str()),
        ("unknown_account", "/webhooks/mastodon/1")
    );
    assert_eq!(dl.payload, body);
    assert!(dl.detail.contains("mastodon"), "{}", dl.detail);
    assert_eq!(
        dl.headers.get("x-hub-signature").map(String::as_str),
        Some("present")
    );
    assert_eq!(record_count(kafka, &kafka.interactions_topic).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_or_missing_signature_is_401_and_writes_nothing() {
    let mut config = test_config(test_kafka("signature").await);
    config.ingest.keep_text = false;
    let service = start(config).await;
    let body = sample("meta-page-feed-comment.json");
    let (path, mut headers) = signed(&Endpoint::Meta, &body);
    let good = headers[1].1.clone();
    headers[1].1 = format!(
        "sha256={}",
        hex::encode(hmac_sha256("not-the-secret", &body))
    );
    assert_eq!(
        service.post(&path, &headers, &body).await.status,
        401,
        "wrong secret"
    );
    assert_eq!(
        service.post(&path, &headers[..1], &body).await.status,
        401,
        "no signature"
    );
    let (_, bad_json_headers) = signed(&Endpoint::Meta, b"{");
    assert_eq!(
        service
            .post(&path, &[bad_json_headers[1].clone()], b"{ ")
            .await
            .status,
        401,
        "signature of other bytes"
    );
    let x = service
        .post(
            "/webhooks/x",
            &[("x-hub-signature-256", good.clone())],
            &body,
        )
        .await;
    assert_eq!(x.status, 401, "a Meta signature on the X endpoint");

    // Markers after the refusals, through the same producer: one event and one dead letter.
    headers[1].1 = good;
    assert_eq!(service.post(&path, &headers, &body).await.status, 200);
    let (_, malformed_headers) = signed(&Endpoint::Meta, b"[");
    assert_eq!(
        service.post(&path, &malformed_headers, b"[").await.status,
        400
    );

    let kafka = &service.config.kafka;
    let events = decode_events(&read_records(kafka, &kafka.interactions_topic, 1).await);
    let dl = decode_dead_letter(&read_records(kafka, &kafka.deadletter_topic, 1).await[0]);
    assert_eq!(dl.payload, b"[");
    assert_eq!(
        record_count(kafka, &kafka.interactions_topic).await,
        1,
        "only the marker event"
    );
    assert_eq!(
        record_count(kafka, &kafka.deadletter_topic).await,
        1,
        "only the marker dead letter"
    );
    assert_eq!(
        events[0].1.text, None,
        "keep_text = false drops the text at the edge"
    );
    assert_eq!(events[0].1.actor.id, "3450420000000001");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_is_413() {
    let mut config = test_config(test_kafka("limit").await);
    config.ingest.max_body_bytes = 2048;
    let service = start(config).await;
    let mut body = sample("meta-page-feed-comment.json");
    assert!(body.len() < 2048);
    let (path, headers) = signed(&Endpoint::Meta, &body);
    assert_eq!(
        service.post(&path, &headers, &body).await.status,
        200,
        "under the limit"
    );
    body.resize(2049, b' ');
    let (path, headers) = signed(&Endpoint::Meta, &body);
    let reply = service.post(&path, &headers, &body).await;
    assert_eq!(reply.status, 413, "{}", reply.text());
    let kafka = &service.config.kafka;
    assert_eq!(
        record_count(kafka, &kafka.deadletter_topic).await,
        0,
        "oversize bodies are not kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serial_broker_down_gives_503_with_retry_after() {
    // A broker of our own: stopping the shared one would break other tests.
    let mut broker = PrivateBroker::start().await;
    let mut kafka = broker.kafka_config();
    kafka.interactions_topic = "rapport.test.down.interactions".into();
    kafka.deadletter_topic = "rapport.test.down.deadletter".into();
    rapport_kafka::ensure_topics(
        &kafka,
        &[&kafka.interactions_topic, &kafka.deadletter_topic],
        PARTITIONS,
    )
    .await
    .expect("topics on the test broker");
    let mut config = test_config(kafka);
    config.ingest.ack_timeout = Duration::from_secs(2);
    let service = start(config).await;

    let body = sample("x-favorite.json");
    let (path, headers) = signed(&Endpoint::X, &body);
    assert_eq!(
        service.post(&path, &headers, &body).await.status,
        200,
        "broker up"
    );
    poll_until("ready", WAIT, || async {
        service.health.report().ready.then_some(())
    })
    .await;

    broker.kill();
    let started = std::time::Instant::now();
    let reply = service.post(&path, &headers, &body).await;
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert_eq!(
        reply
            .headers
            .get("retry-after")
            .map(|v| v.to_str().expect("ascii")),
        Some("5")
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answered within about the ack timeout"
    );
    // A malformed delivery cannot be dead-lettered either: 503, not 400, so it is not lost.
    let (_, bad) = signed(&Endpoint::X, b"{");
    assert_eq!(service.post(&path, &bad, b"{").await.status, 503);
    poll_until("readiness to drop", WAIT, || async {
        (!service.health.report().ready).then_some(())
    })
    .await;
    service.shutdown.trigger();
}
