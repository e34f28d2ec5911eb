//! Security properties of `rapport ingest` that need the real broker (issue 8, section 3):
//! replayed generic deliveries produce nothing the second time, a near-limit malformed
//! delivery still fits the dead-letter topic, a delivery over HTTPS reaches Kafka, and a debug
//! run of the real binaries (ingest and processor) logs no secret and no message text.
//!
//! Protections that are decided before anything is produced (rate limits, header and body
//! limits, TLS handshakes) are tested without a broker in `rapport-ingest-service/tests`.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use prometheus::Registry;
use rapport_e2e::topic::{read_records, record_count};
use rapport_e2e::{
    clickhouse_config, kafka_config, poll_until, rapport_bin, unique_name, STACK_HINT,
};
use rapport_events::{DeadLetterCodec, EventCodec};
use rapport_ingest::signature::sign_generic;
use rapport_kafka::rdkafka::message::Message;
use rapport_runtime::config::{BrandConfig, Config, KafkaConfig};
use rapport_runtime::{Health, Secret, Secrets, Shutdown};
use sha2::Sha256;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::rustls;

const PARTITIONS: i32 = 3;
const WAIT: Duration = Duration::from_secs(60);
/// The brand's X account: generic events about it need no `brand_id`.
const BRAND_X: &str = "2244994945";
/// The brand's Page, for a Meta delivery built from the sample.
const BRAND_PAGE: &str = "103149398319188";
const SAMPLES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/platforms/samples/"
);

// ---------------------------------------------------------------------------------------------
// Fixtures.

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn brand() -> BrandConfig {
    BrandConfig {
        id: "acme".into(),
        name: None,
        timezone: "UTC".into(),
        business_hours: Default::default(),
        holidays: Vec::new(),
        sla_target: Duration::from_secs(3600),
        accounts: [("x", BRAND_X), ("facebook", BRAND_PAGE)]
            .into_iter()
            .map(|(p, a)| (p.to_owned(), a.to_owned()))
            .collect(),
        automation_app_ids: Vec::new(),
    }
}

/// An inbound X comment in rapport's generic shape, `minutes_ago` old.
fn generic_event(id: &str, user: &str, text: &str, minutes_ago: i64) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "platform": "x",
        "account_id": BRAND_X,
        "kind": "comment",
        "direction": "inbound",
        "actor": { "id": user, "handle": format!("user{user}") },
        "object_id": format!("tweet-{id}"),
        "text": text,
        "occurred_at": (now_secs() - minutes_ago * 60) * 1000,
    })
}

async fn test_kafka(test: &str) -> KafkaConfig {
    let mut kafka = kafka_config();
    kafka.interactions_topic = unique_name(&format!("rapport.test.{test}.interactions"));
    kafka.deadletter_topic = unique_name(&format!("rapport.test.{test}.deadletter"));
    rapport_kafka::ensure_topics(
        &kafka,
        &[&kafka.interactions_topic, &kafka.deadletter_topic],
        PARTITIONS,
    )
    .await
    .unwrap_or_else(|e| panic!("cannot create topics: {e:#?}; {STACK_HINT}"));
    kafka
}

/// One HTTP/1.1 request on `stream` (`Connection: close`); the status and the whole answer.
async fn request_on<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> (u16, String) {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).await.expect("send head");
    // A server that refuses early (413) may close before the body is through; its answer is
    // what counts.
    let sent = stream.write_all(body).await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(WAIT, stream.read_to_end(&mut answer))
        .await
        .expect("answer in time");
    if answer.is_empty() {
        panic!("no answer (body sent: {sent:?}, read: {read:?})");
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    (status, text)
}

async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to ingest");
    request_on(&mut stream, method, path, headers, body).await
}

async fn post_generic(addr: SocketAddr, body: &[u8], signature: String) -> u16 {
    let headers = [
        ("Content-Type", "application/json".to_owned()),
        ("X-Rapport-Signature", signature),
    ];
    request(addr, "POST", "/webhooks/generic", &headers, body)
        .await
        .0
}

fn meta_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn secrets(values: &[&str]) -> Secrets {
    Secrets::new(values.iter().map(|v| Secret::new(*v)).collect()).expect("one or two")
}

struct InProcess {
    addr: SocketAddr,
    shutdown: Shutdown,
    registry: Registry,
}

/// Ingest settings for the in-process tests: the test's topics, the brand, any free port.
fn ingest_config(kafka: &KafkaConfig) -> Config {
    let mut config = Config {
        kafka: kafka.clone(),
        brands: vec![brand()],
        ..Config::default()
    };
    config.ingest.listen = "127.0.0.1:0".parse().expect("addr");
    config
}

async fn start_in_process(config: &Config) -> InProcess {
    let registry = Registry::new();
    let shutdown = Shutdown::new();
    let server = rapport_ingest_service::start(config, &registry, &Health::new(), shutdown.clone())
        .await
        .unwrap_or_else(|e| panic!("ingest did not start: {e:?}; {STACK_HINT}"));
    InProcess {
        addr: server.addr(),
        shutdown,
        registry,
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

impl InProcess {
    fn metric(&self, name: &str) -> f64 {
        let mut text = Vec::new();
        prometheus::Encoder::encode(
            &prometheus::TextEncoder::new(),
            &self.registry.gather(),
            &mut text,
        )
        .expect("encode");
        String::from_utf8(text)
            .expect("utf-8")
            .lines()
            .filter(|l| l.starts_with(name) && !l.starts_with('#'))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

// ---------------------------------------------------------------------------------------------
// Replays, dead letters near the limit, HTTPS.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_generic_delivery_produces_nothing_the_second_time() {
    const SECRET: &str = "replay-test-generic-secret";
    let kafka = test_kafka("replay").await;
    let mut config = ingest_config(&kafka);
    config.ingest.generic.secret = secrets(&[SECRET]);
    let ingest = start_in_process(&config).await;
    let topic = &kafka.interactions_topic;

    let body = serde_json::to_vec(&generic_event("r-1", "9001", "first", 3)).expect("json");
    let signature = sign_generic(&body, SECRET.as_bytes(), now_secs());
    assert_eq!(
        post_generic(ingest.addr, &body, signature.clone()).await,
        200
    );
    // The same signed bytes again (a captured delivery, or a sender's blind retry): 200, and
    // nothing new on the topic.
    assert_eq!(
        post_generic(ingest.addr, &body, signature.clone()).await,
        200
    );
    assert_eq!(post_generic(ingest.addr, &body, signature).await, 200);
    // Re-signed later with the same event id: still the same event.
    let resigned = sign_generic(&body, SECRET.as_bytes(), now_secs() + 1);
    assert_eq!(post_generic(ingest.addr, &body, resigned).await, 200);
    // A batch with the old event and a new one: only the new one is produced.
    let batch = serde_json::to_vec(&serde_json::json!({"events": [
        generic_event("r-1", "9001", "first", 3),
        generic_event("r-2", "9002", "second", 2),
    ]}))
    .expect("json");
    let signature = sign_generic(&batch, SECRET.as_bytes(), now_secs());
    assert_eq!(post_generic(ingest.addr, &batch, signature).await, 200);

    let records = read_records(&kafka, topic, 2).await;
    let codec = EventCodec::new();
    let mut ids: Vec<String> = records
        .iter()
        .map(|m| codec.decode(m.payload().expect("payload")).expect("event"))
        .map(|e| e.object_id)
        .collect();
    ids.sort();
    assert_eq!(ids, ["tweet-r-1", "tweet-r-2"]);
    // A marker produced after the replays, through the same producer, lands after them: once
    // it is there, any record the replays had produced would be there too.
    let marker = serde_json::to_vec(&generic_event("r-3", "9003", "third", 1)).expect("json");
    let signature = sign_generic(&marker, SECRET.as_bytes(), now_secs());
    assert_eq!(post_generic(ingest.addr, &marker, signature).await, 200);
    poll_until("the marker event", WAIT, || async {
        (record_count(&kafka, topic).await >= 3).then_some(())
    })
    .await;
    assert_eq!(
        record_count(&kafka, topic).await,
        3,
        "r-1, r-2 and the marker"
    );
    assert_eq!(ingest.metric("rapport_ingest_replayed_events_total"), 4.0);
    assert_eq!(
        ingest.metric("rapport_ingest_requests_total{outcome=\"replayed\",platform=\"generic\"}"),
        3.0
    );
    // A stale signature is still refused outright, replay or not.
    let stale = sign_generic(&marker, SECRET.as_bytes(), now_secs() - 301);
    assert_eq!(post_generic(ingest.addr, &marker, stale).await, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_delivery_at_the_body_limit_is_dead_lettered_cut_to_fit() {
    const SECRET: &str = "dead-letter-size-meta-secret";
    let kafka = test_kafka("dlsize").await;
    let mut config = ingest_config(&kafka);
    config.ingest.meta.app_secret = secrets(&[SECRET]);
    let limit = config.ingest.max_body_bytes;
    let ingest = start_in_process(&config).await;

    // Exactly at the limit (1 MiB, above librdkafka's 1 MB record limit), authentic, malformed.
    let mut body = b"{\"object\":\"page\",\"entry\":[".to_vec();
    body.resize(limit, b' ');
    let headers = [("X-Hub-Signature-256", meta_signature(SECRET, &body))];
    let (status, answer) = request(ingest.addr, "POST", "/webhooks/meta", &headers, &body).await;
    assert_eq!(status, 400, "{answer}");

    let records = read_records(&kafka, &kafka.deadletter_topic, 1).await;
    let dl = DeadLetterCodec::new()
        .decode(records[0].payload().expect("payload"))
        .expect("dead letter");
    assert_eq!(dl.reason, "malformed");
    assert!(dl.payload.len() < 1_000_000, "{}", dl.payload.len());
    assert!(body.starts_with(&dl.payload), "a prefix of the body");
    assert_eq!(
        dl.headers.get("rapport-payload-bytes").map(String::as_str),
        Some(limit.to_string().as_str())
    );
    use sha2::Digest as _;
    let digest = hex::encode(Sha256::digest(&body));
    assert_eq!(
        dl.headers.get("rapport-payload-sha256"),
        Some(&digest),
        "the hash of the whole body"
    );
    // One byte more is refused on its declared length, and nothing is stored.
    body.push(b' ');
    let headers = [("X-Hub-Signature-256", meta_signature(SECRET, &body))];
    let (status, answer) = request(ingest.addr, "POST", "/webhooks/meta", &headers, &body).await;
    assert_eq!(status, 413, "{answer}");
    assert_eq!(record_count(&kafka, &kafka.deadletter_topic).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_too_large_for_a_kafka_record_is_a_dead_lettered_400_not_a_500() {
    const SECRET: &str = "huge-event-generic-secret";
    let kafka = test_kafka("hugeevent").await;
    let mut config = ingest_config(&kafka);
    config.ingest.generic.secret = secrets(&[SECRET]);
    let ingest = start_in_process(&config).await;

    // Under the body limit (1 MiB), but its text alone is over librdkafka's record limit (1 MB).
    let huge = "w".repeat(1_010_000);
    let body = serde_json::to_vec(&generic_event("huge-1", "9200", &huge, 1)).expect("json");
    assert!(body.len() < config.ingest.max_body_bytes);
    let signature = sign_generic(&body, SECRET.as_bytes(), now_secs());
    assert_eq!(post_generic(ingest.addr, &body, signature).await, 400);
    let records = read_records(&kafka, &kafka.deadletter_topic, 1).await;
    let dl = DeadLetterCodec::new()
        .decode(records[0].payload().expect("payload"))
        .expect("dead letter");
    assert_eq!(dl.reason, "malformed");
    assert!(dl.detail.contains("message.max.bytes"), "{}", dl.detail);
    assert_eq!(
        dl.headers.get("rapport-payload-bytes").map(String::as_str),
        Some(body.len().to_string().as_str())
    );
    assert_eq!(record_count(&kafka, &kafka.interactions_topic).await, 0);
    // Its id was released: the same event with a sane text goes through afterwards.
    let body = serde_json::to_vec(&generic_event("huge-1", "9200", "short", 1)).expect("json");
    let signature = sign_generic(&body, SECRET.as_bytes(), now_secs());
    assert_eq!(post_generic(ingest.addr, &body, signature).await, 200);
    assert_eq!(
        read_records(&kafka, &kafka.interactions_topic, 1)
            .await
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_over_https_reaches_kafka() {
    const SECRET: &str = "https-test-generic-secret";
    let dir = tempfile::tempdir().expect("temp dir");
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("certificate");
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, generated.cert.pem()).expect("cert");
    std::fs::write(&key, generated.signing_key.serialize_pem()).expect("key");

    let kafka = test_kafka("https").await;
    let mut config = ingest_config(&kafka);
    config.ingest.generic.secret = secrets(&[SECRET]);
    config.ingest.tls_cert = Some(cert);
    config.ingest.tls_key = Some(key);
    let ingest = start_in_process(&config).await;

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(generated.cert.der().clone())
        .expect("trust the generated certificate");
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = tokio::net::TcpStream::connect(ingest.addr)
        .await
        .expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let mut tls = connector.connect(name, tcp).await.expect("TLS handshake");

    let body = serde_json::to_vec(&generic_event("tls-1", "9100", "over tls", 1)).expect("json");
    let headers = [
        ("Content-Type", "application/json".to_owned()),
        (
            "X-Rapport-Signature",
            sign_generic(&body, SECRET.as_bytes(), now_secs()),
        ),
    ];
    let (status, answer) = request_on(&mut tls, "POST", "/webhooks/generic", &headers, &body).await;
    assert_eq!(status, 200, "{answer}");
    let records = read_records(&kafka, &kafka.interactions_topic, 1).await;
    let event = EventCodec::new()
        .decode(records[0].payload().expect("payload"))
        .expect("event");
    assert_eq!(event.object_id, "tweet-tls-1");
    assert_eq!(event.text.as_deref(), Some("over tls"));
}

// ---------------------------------------------------------------------------------------------
// Logs of the real binaries.

/// A `rapport` subprocess whose stdout and stderr go to one file; killed on drop.
struct Rapport {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Rapport {
    fn start(name: &'static str, config: &Path, env: &[(&str, String)], dir: &Path) -> Rapport {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(rapport_bin());
        cmd.arg("--config").arg(config).arg(name);
        // The file and `env` alone configure the run: no RAPPORT_* or RUST_LOG from outside.
        for (k, _) in std::env::vars() {
            if k.starts_with("RAPPORT_") || k == "RUST_LOG" {
                cmd.env_remove(k);
            }
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log fd"))
            .stderr(file)
            .spawn()
            .expect("start rapport");
        Rapport { name, child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn check_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "rapport {} exited on its own ({status}):\n{}",
                self.name,
                self.log()
            );
        }
    }

    /// SIGTERM, then wait for a clean exit.
    async fn terminate(&mut self) {
        self.check_alive();
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        let exit = poll_until("rapport to exit after SIGTERM", WAIT, || {
            let r = self.child.try_wait().expect("try_wait");
            async move { r }
        })
        .await;
        assert!(exit.success(), "rapport {} exited with {exit}", self.name);
    }
}

impl Drop for Rapport {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // Only the child this test started, by its handle.
            if self.child.kill().is_ok() && self.child.wait().is_err() {
                eprintln!("could not reap rapport {}", self.name);
            }
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("addr")
        .port()
}

/// Every secret and every message text a debug run handled; none may reach a log line.
struct Marked {
    secrets: Vec<(&'static str, String)>,
    texts: Vec<String>,
}

impl Marked {
    fn assert_absent_from(&self, name: &str, log: &str) {
        for (what, secret) in &self.secrets {
            assert!(
                !log.contains(secret.as_str()),
                "the {name} log contains the {what}"
            );
        }
        for text in &self.texts {
            assert!(
                !log.contains(text.as_str()),
                "the {name} log contains the message text {text:?}"
            );
        }
    }
}

/// `rapport ingest` and `rapport process` at `debug` (the most verbose level rapport supports
/// for production troubleshooting), fed signed deliveries whose secrets and texts are
/// distinctive, accepted and refused ones alike; their logs must hold none of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_logs_of_ingest_and_processor_hold_no_secrets_and_no_message_text() {
    let run = unique_name("logscan");
    let secret = |what: &str| format!("{what}-{run}-S3CR3T");
    let generic_secret = secret("generic");
    let generic_next = secret("generic-next");
    let meta_secret = secret("meta");
    let verify_token = secret("verify");
    let x_secret = secret("x");
    let kafka_password = secret("sasl");
    let text = |n: u32| format!("msgtext {n} {run} personal words");

    let dir = tempfile::tempdir().expect("temp dir");
    let generic_file = dir.path().join("generic-secret");
    std::fs::write(&generic_file, format!("{generic_secret}\n")).expect("secret file");
    let kafka = test_kafka("logscan").await;
    let ch = clickhouse_config("logscan");
    rapport_clickhouse::migrate(&rapport_clickhouse::server_client(&ch), &ch.database)
        .await
        .unwrap_or_else(|e| panic!("{e:#?}; {STACK_HINT}"));
    let port = free_port();
    let config = dir.path().join("rapport.toml");
    std::fs::write(
        &config,
        format!(
            r#"[log]
level = "debug"

[admin]
listen = "127.0.0.1:0"

[kafka]
brokers = "{brokers}"
client_id = "rapport-test-logscan"
interactions_topic = "{topic}"
deadletter_topic = "{dl}"
username = "env:LOGSCAN_KAFKA_USER"
password = "env:LOGSCAN_KAFKA_PASSWORD"

[kafka.properties]
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "1000"

[clickhouse]
url = "{url}"
database = "{db}"
user = "env:LOGSCAN_CH_USER"

[ingest]
listen = "127.0.0.1:{port}"

[ingest.meta]
app_secret = "env:LOGSCAN_META_SECRET"
verify_token = "env:LOGSCAN_VERIFY_TOKEN"

[ingest.x]
consumer_secret = "{x_secret}"

[ingest.generic]
secret = ["file:{generic_file}", "env:LOGSCAN_GENERIC_NEXT"]

[process]
group_id = "{group}"
checkpoint_interval = "1s"
flush_interval = "200ms"
idle_advance = "1s"

[[brands]]
id = "acme"
accounts = {{ x = "{BRAND_X}", facebook = "{BRAND_PAGE}" }}
"#,
            brokers = kafka.brokers,
            topic = kafka.interactions_topic,
            dl = kafka.deadletter_topic,
            url = ch.url,
            db = ch.database,
            generic_file = generic_file.display(),
            group = unique_name("rapport-test-logscan"),
        ),
    )
    .expect("config");
    let env = [
        ("LOGSCAN_KAFKA_USER", "rapport".to_owned()),
        ("LOGSCAN_KAFKA_PASSWORD", kafka_password.clone()),
        ("LOGSCAN_CH_USER", ch.user.clone()),
        ("LOGSCAN_META_SECRET", meta_secret.clone()),
        ("LOGSCAN_VERIFY_TOKEN", verify_token.clone()),
        ("LOGSCAN_GENERIC_NEXT", generic_next.clone()),
    ];
    let mut ingest = Rapport::start("ingest", &config, &env, dir.path());
    let mut process = Rapport::start("process", &config, &env, dir.path());
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    poll_until("ingest to listen", WAIT, || {
        ingest.check_alive();
        async move { tokio::net::TcpStream::connect(addr).await.ok().map(drop) }
    })
    .await;

    let mut marked = Marked {
        secrets: vec![
            ("generic secret (file:)", generic_secret.clone()),
            ("generic rotation secret (env:)", generic_next.clone()),
            ("Meta app secret (env:)", meta_secret.clone()),
            ("Meta verify token (env:)", verify_token.clone()),
            ("X consumer secret (literal)", x_secret.clone()),
            ("Kafka SASL password (env:)", kafka_password.clone()),
        ],
        texts: Vec::new(),
    };
    let now = now_secs();
    let mut accepted = 0;
    // Accepted generic events, signed with either half of the rotation, one of them replayed.
    for n in 0..6u32 {
        let t = text(n);
        let body = serde_json::to_vec(&generic_event(
            &format!("log-{n}"),
            &format!("77{n}"),
            &t,
            20 - i64::from(n),
        ))
        .expect("json");
        let key = if n % 2 == 0 {
            &generic_secret
        } else {
            &generic_next
        };
        let signature = sign_generic(&body, key.as_bytes(), now);
        assert_eq!(post_generic(addr, &body, signature.clone()).await, 200);
        if n == 0 {
            assert_eq!(
                post_generic(addr, &body, signature.clone()).await,
                200,
                "replay"
            );
        }
        marked.secrets.push(("generic signature", signature));
        marked.texts.push(t);
        accepted += 1;
    }
    // Refused generic deliveries that still carry text: wrong secret (401), unknown account
    // (404, dead-lettered), malformed (400, dead-lettered).
    let wrong_key =
        serde_json::to_vec(&generic_event("log-w", "7790", &text(10), 5)).expect("json");
    let forged = sign_generic(&wrong_key, b"not-the-secret", now);
    assert_eq!(post_generic(addr, &wrong_key, forged).await, 401);
    let mut unknown = generic_event("log-u", "7791", &text(11), 5);
    unknown["account_id"] = serde_json::json!("999999");
    let unknown = serde_json::to_vec(&unknown).expect("json");
    let signature = sign_generic(&unknown, generic_secret.as_bytes(), now);
    assert_eq!(post_generic(addr, &unknown, signature.clone()).await, 404);
    marked.secrets.push(("generic signature", signature));
    let mut malformed = generic_event("log-m", "7792", &text(12), 5);
    malformed["kind"] = serde_json::json!("not-a-kind");
    let malformed = serde_json::to_vec(&malformed).expect("json");
    let signature = sign_generic(&malformed, generic_secret.as_bytes(), now);
    assert_eq!(post_generic(addr, &malformed, signature).await, 400);
    marked.texts.extend([text(10), text(11), text(12)]);

    // A Meta comment with a marked message, the handshake with the verify token, a bad token.
    let mut meta: serde_json::Value = serde_json::from_slice(
        &std::fs::read(Path::new(SAMPLES).join("meta-page-feed-comment.json")).expect("sample"),
    )
    .expect("json");
    meta["entry"][0]["changes"][0]["value"]["message"] = serde_json::json!(text(20));
    marked.texts.push(text(20));
    let meta = serde_json::to_vec(&meta).expect("json");
    let signature = meta_signature(&meta_secret, &meta);
    let (status, answer) = request(
        addr,
        "POST",
        "/webhooks/meta",
        &[("X-Hub-Signature-256", signature.clone())],
        &meta,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    accepted += 1;
    marked.secrets.push(("Meta signature", signature));
    let handshake = format!(
        "/webhooks/meta?hub.mode=subscribe&hub.verify_token={verify_token}&hub.challenge=42"
    );
    assert_eq!(request(addr, "GET", &handshake, &[], b"").await.0, 200);
    let guess = format!(
        "/webhooks/meta?hub.mode=subscribe&hub.verify_token={}x&hub.challenge=1",
        verify_token
    );
    assert_eq!(request(addr, "GET", &guess, &[], b"").await.0, 403);
    let (status, crc) = request(addr, "GET", "/webhooks/x?crc_token=logscan", &[], b"").await;
    assert_eq!(status, 200, "{crc}");

    // The processor has written every accepted event (it handled the texts too).
    poll_until("the processor to write every accepted event", WAIT, || {
        ingest.check_alive();
        process.check_alive();
        let ch = ch.clone();
        async move {
            let n = rapport_clickhouse::client(&ch)
                .query("SELECT uniqExact(event_id) FROM interactions")
                .fetch_one::<u64>()
                .await
                .unwrap_or(0);
            (n >= accepted).then_some(())
        }
    })
    .await;
    ingest.terminate().await;
    process.terminate().await;

    let (ingest_log, process_log) = (ingest.log(), process.log());
    // The runs really logged at debug: the lines that would carry details are there.
    for (name, log, line) in [
        ("ingest", &ingest_log, "event acked"),
        ("ingest", &ingest_log, "delivery refusal detail"),
        ("ingest", &ingest_log, "rapport ingest started"),
        ("process", &process_log, "processor started"),
    ] {
        assert!(
            log.contains(line),
            "the {name} log has no `{line}` line:\n{log}"
        );
    }
    assert!(
        process_log.contains("DEBUG"),
        "the processor logged nothing at debug:\n{process_log}"
    );
    marked.assert_absent_from("ingest", &ingest_log);
    marked.assert_absent_from("process", &process_log);
    let distinct: HashSet<&str> = marked.texts.iter().map(String::as_str).collect();
    assert_eq!(distinct.len(), marked.texts.len(), "markers are distinct");
    rapport_e2e::tables::drop_database(&ch).await;
}
