//! Webhook load for the ingest fault tests, and the check of what it left on the topic.
//!
//! [`Ingest`] is a real `rapport ingest` process (so it can be killed with SIGKILL and its
//! memory read) with the generic endpoint enabled for one brand, restartable on the same port.
//! [`Load`] posts signed generic deliveries from concurrent workers, each carrying one event
//! with a unique id, and retries each delivery until it is answered 2xx, as a platform does
//! after a 503 or a dropped connection. Every attempt is recorded with its start, end and
//! status, so a test can tell which deliveries were acknowledged and when. [`LoadOutcome::
//! check_topic`] then reads the topic back: every acknowledged delivery must be there as its
//! event, byte for byte what the core makes of the body that was sent (only `received_at`,
//! stamped by the service, is taken from the record).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rapport_ingest::{AccountDirectory, BrandAccounts, Endpoint};
use rapport_runtime::config::KafkaConfig;

use crate::child::ChildProcess;
use crate::private_stack::free_port;
use crate::report::FaultReport;
use crate::topic::{decode_events, read_all};

/// The generic endpoint's secret in the fault tests.
pub const LOAD_SECRET: &str = "fault-load-secret";
/// The brand every load event belongs to, and its X account id.
pub const LOAD_BRAND: &str = "loadbrand";
pub const LOAD_ACCOUNT: &str = "load-x-account";
/// A delivery not acknowledged after this long is given up (it stays unacknowledged).
const GIVE_UP: Duration = Duration::from_secs(180);
/// Pause after a refused or failed attempt before the next one.
const RETRY_PAUSE: Duration = Duration::from_millis(100);
/// Longest a single attempt may take (the service answers within its ack timeout).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
const START_WAIT: Duration = Duration::from_secs(60);

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A `rapport ingest` child on fixed loopback ports, so that a restart serves the same address.
pub struct Ingest {
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    config: PathBuf,
    log_dir: PathBuf,
    process: Option<ChildProcess>,
    starts: u32,
}

impl Ingest {
    /// Write the config (brokers, topics and librdkafka properties of `kafka`, the load's
    /// brand and secret, `ack_timeout`) into `dir`, start the service and wait until it accepts connections.
    pub async fn start(dir: &Path, kafka: &KafkaConfig, ack_timeout: Duration) -> Ingest {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let head = crate::config_head(
            "info",
            &admin.to_string(),
            "rapport-test-ingest",
            kafka,
            &[],
        );
        let text = format!(
            r#"{head}[ingest]
listen = "{addr}"
ack_timeout = "{ack_ms}ms"

[ingest.generic]
secret = ["{LOAD_SECRET}"]

[[brands]]
id = "{LOAD_BRAND}"
accounts = {{ x = "{LOAD_ACCOUNT}" }}
"#,
            ack_ms = ack_timeout.as_millis(),
        );
        let config = dir.join(format!("{}.toml", crate::unique_name("ingest")));
        std::fs::write(&config, text).expect("write the ingest config");
        let mut ingest = Ingest {
            addr,
            admin,
            config,
            log_dir: dir.to_owned(),
            process: None,
            starts: 0,
        };
        ingest.start_again().await;
        ingest
    }

    /// Start the service (again) with the same config; wait until it accepts connections.
    pub async fn start_again(&mut self) {
        assert!(self.process.is_none(), "ingest is already running");
        self.starts += 1;
        let mut process = ChildProcess::rapport(
            &format!("ingest-{}", self.starts),
            "ingest",
            &self.config,
            &self.log_dir,
        );
        process.wait_listening(self.addr.port(), START_WAIT).await;
        self.process = Some(process);
    }

    /// The running process.
    pub fn process(&mut self) -> &mut ChildProcess {
        self.process.as_mut().expect("ingest is running")
    }

    pub fn kill9(&mut self) {
        self.process.take().expect("ingest is running").kill9();
    }

    /// SIGTERM: the service drains and flushes its producer, then must exit cleanly.
    pub async fn terminate_cleanly(&mut self) {
        self.process
            .take()
            .expect("ingest is running")
            .terminate_cleanly()
            .await;
    }

    /// Whether `/health/ready` on the admin port answers 200.
    pub async fn ready(&self) -> bool {
        crate::http::ready(self.admin).await
    }
}

/// What a [`Load`] sends and where.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    pub addr: SocketAddr,
    pub workers: usize,
    /// Deliveries to send in all; `None` sends until [`Load::finish`].
    pub deliveries: Option<u64>,
    /// Prefix of the event ids: unique per test, so every id is too.
    pub prefix: String,
}

/// One POST of a delivery.
#[derive(Debug, Clone, Copy)]
pub struct Attempt {
    pub delivery: u64,
    pub started: Instant,
    pub finished: Instant,
    /// The HTTP status; `None` when the connection failed or timed out.
    pub status: Option<u16>,
}

impl Attempt {
    pub fn ok(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

#[derive(Default)]
struct Record {
    attempts: Vec<Attempt>,
    bodies: BTreeMap<u64, Vec<u8>>,
    acknowledged: BTreeSet<u64>,
}

struct Shared {
    spec: LoadSpec,
    next: AtomicU64,
    stop: AtomicBool,
    acked: AtomicU64,
    record: Mutex<Record>,
}

impl Shared {
    fn record(&self) -> std::sync::MutexGuard<'_, Record> {
        self.record.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Workers posting deliveries until told to finish.
pub struct Load {
    shared: Arc<Shared>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    pub fn start(spec: LoadSpec) -> Load {
        let shared = Arc::new(Shared {
            spec,
            next: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            acked: AtomicU64::new(0),
            record: Mutex::new(Record::default()),
        });
        let workers = (0..shared.spec.workers.max(1))
            .map(|_| tokio::spawn(worker(shared.clone())))
            .collect();
        Load { shared, workers }
    }

    /// Deliveries acknowledged so far.
    pub fn acknowledged(&self) -> u64 {
        self.shared.acked.load(Ordering::Relaxed)
    }

    /// Wait until `n` deliveries are acknowledged; `alive` runs on every poll (fail fast).
    pub async fn wait_for_acknowledged(&self, n: u64, deadline: Duration, mut alive: impl FnMut()) {
        let start = Instant::now();
        while self.acknowledged() < n {
            alive();
            assert!(
                start.elapsed() < deadline,
                "only {} of {n} deliveries acknowledged after {deadline:?}",
                self.acknowledged()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Wait until an attempt started at or after `since` is answered 2xx; returns when it was.
    pub async fn wait_for_success_since(&self, since: Instant, deadline: Duration) -> Instant {
        let start = Instant::now();
        loop {
            let found = self
                .shared
                .record()
                .attempts
                .iter()
                .filter(|a| a.started >= since && a.ok())
                .map(|a| a.finished)
                .min();
            if let Some(at) = found {
                return at;
            }
            assert!(
                start.elapsed() < deadline,
                "no delivery was acknowledged within {deadline:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Let the workers finish and return what happened: a load of a set number of deliveries
    /// sends them all; an open-ended one stops starting new deliveries now. Deliveries under
    /// way are finished (acknowledged, or given up after a long time) either way.
    pub async fn finish(self) -> LoadOutcome {
        if self.shared.spec.deliveries.is_none() {
            self.shared.stop.store(true, Ordering::Relaxed);
        }
        for w in self.workers {
            w.await.expect("load worker");
        }
        let record = std::mem::take(&mut *self.shared.record());
        LoadOutcome {
            sent: record.bodies.len() as u64,
            acknowledged: record.acknowledged,
            bodies: record.bodies,
            attempts: record.attempts,
            prefix: self.shared.spec.prefix.clone(),
        }
    }
}

/// The body of delivery `n`: one inbound mention of the load brand, its id `<prefix>-<n>`.
fn delivery_body(prefix: &str, n: u64, occurred_at_ms: i64) -> Vec<u8> {
    let id = format!("{prefix}-{n}");
    let body = serde_json::json!({
        "id": id,
        "platform": "x",
        "account_id": LOAD_ACCOUNT,
        "kind": "mention",
        "direction": "inbound",
        "actor": { "id": format!("load-user-{}", n % 997) },
        "object_id": id,
        "text": format!("fault load delivery {n}"),
        "occurred_at": occurred_at_ms,
    });
    serde_json::to_vec(&body).expect("json")
}

async fn worker(shared: Arc<Shared>) {
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
        let n = shared.next.fetch_add(1, Ordering::Relaxed);
        if shared.spec.deliveries.is_some_and(|max| n >= max) {
            return;
        }
        // A retry sends the same body, as a platform does; only the signature's time moves.
        let body = delivery_body(&shared.spec.prefix, n, now_ms());
        shared.record().bodies.insert(n, body.clone());
        let first = Instant::now();
        loop {
            let signature = rapport_ingest::signature::sign_generic(
                &body,
                LOAD_SECRET.as_bytes(),
                now_ms() / 1000,
            );
            let started = Instant::now();
            let status = match tokio::time::timeout(
                ATTEMPT_TIMEOUT,
                crate::post_generic(shared.spec.addr, &body, &signature),
            )
            .await
            {
                Ok(Ok(status)) => Some(status),
                Ok(Err(_)) | Err(_) => None,
            };
            let attempt = Attempt {
                delivery: n,
                started,
                finished: Instant::now(),
                status,
            };
            {
                let mut record = shared.record();
                record.attempts.push(attempt);
                if attempt.ok() {
                    record.acknowledged.insert(n);
                }
            }
            if attempt.ok() {
                shared.acked.fetch_add(1, Ordering::Relaxed);
                break;
            }
            if first.elapsed() > GIVE_UP {
                break;
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }
}

/// Everything a finished [`Load`] did.
#[derive(Debug)]
pub struct LoadOutcome {
    /// Deliveries sent (at least one attempt).
    pub sent: u64,
    /// Deliveries answered 2xx (at some attempt).
    pub acknowledged: BTreeSet<u64>,
    pub bodies: BTreeMap<u64, Vec<u8>>,
    pub attempts: Vec<Attempt>,
    prefix: String,
}

/// What the topic holds compared with what the load sent.
#[derive(Debug)]
pub struct TopicCheck {
    pub records: u64,
    /// Acknowledged deliveries found as their event.
    pub found: u64,
    /// Records beyond one per delivery (a retry of a delivery whose first copy landed).
    pub duplicates: u64,
    /// Acknowledged deliveries not found: data loss.
    pub lost: Vec<u64>,
    /// Deliveries found although never acknowledged (allowed: acks that did not come back).
    pub found_unacknowledged: u64,
    /// Records that are not exactly what the core makes of the delivery sent.
    pub mismatched: Vec<String>,
}

impl LoadOutcome {
    /// Attempts that were not answered 2xx.
    pub fn failed_attempts(&self) -> u64 {
        self.attempts.iter().filter(|a| !a.ok()).count() as u64
    }

    /// Read the interactions topic of `kafka` back and compare it with what was sent.
    pub async fn check_topic(&self, kafka: &KafkaConfig) -> TopicCheck {
        let records = read_all(kafka, &kafka.interactions_topic).await;
        let directory = AccountDirectory::new([rapport_ingest::BrandConfig {
            id: LOAD_BRAND.into(),
            accounts: BrandAccounts {
                x: Some(LOAD_ACCOUNT.into()),
                ..BrandAccounts::default()
            },
            automation_app_ids: Vec::new(),
        }])
        .expect("directory");
        let mut copies: HashMap<u64, u64> = HashMap::new();
        let mut mismatched = Vec::new();
        let id_prefix = format!("{}-", self.prefix);
        for (key, event) in decode_events(&records) {
            let n = event
                .object_id
                .strip_prefix(&id_prefix)
                .and_then(|n| n.parse::<u64>().ok());
            let Some((n, body)) = n.and_then(|n| Some((n, self.bodies.get(&n)?))) else {
                mismatched.push(format!("a record this load never sent: {event:?}"));
                continue;
            };
            *copies.entry(n).or_default() += 1;
            let received_at = event.received_at;
            let mut expected =
                rapport_ingest::normalize(&Endpoint::Generic, body, received_at, &directory)
                    .expect("the load's deliveries normalize");
            assert_eq!(expected.len(), 1, "one event per delivery");
            let expected = expected.remove(0);
            if key != expected.partition_key() {
                mismatched.push(format!(
                    "delivery {n}: key {key}, want {}",
                    expected.partition_key()
                ));
            }
            if event != expected {
                mismatched.push(format!("delivery {n}: got {event:?}, want {expected:?}"));
            }
        }
        let lost: Vec<u64> = self
            .acknowledged
            .iter()
            .copied()
            .filter(|n| !copies.contains_key(n))
            .collect();
        TopicCheck {
            records: records.len() as u64,
            found: self.acknowledged.len() as u64 - lost.len() as u64,
            duplicates: copies.values().map(|c| c - 1).sum(),
            found_unacknowledged: copies
                .keys()
                .filter(|n| !self.acknowledged.contains(n))
                .count() as u64,
            lost,
            mismatched,
        }
    }

    /// The report line of this load and its topic check.
    pub fn report(&self, fault: &str, check: &TopicCheck) -> FaultReport {
        let mut r = FaultReport::new(fault)
            .with("failed_attempts", self.failed_attempts())
            .with("found_unacknowledged", check.found_unacknowledged);
        r.sent = self.sent;
        r.acknowledged = self.acknowledged.len() as u64;
        r.found = check.found;
        r.duplicates = check.duplicates;
        r.lost = check.lost.len() as u64;
        r
    }
}

impl TopicCheck {
    /// Every acknowledged delivery is on the topic, and every record is exactly its event.
    pub fn assert_nothing_lost(&self) {
        assert!(
            self.mismatched.is_empty(),
            "{} records differ from what was sent, e.g. {:?}",
            self.mismatched.len(),
            &self.mismatched[..self.mismatched.len().min(3)]
        );
        assert!(
            self.lost.is_empty(),
            "{} acknowledged deliveries are not on the topic, e.g. {:?}",
            self.lost.len(),
            &self.lost[..self.lost.len().min(10)]
        );
    }
}
