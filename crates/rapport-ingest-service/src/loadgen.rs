//! The ingest benchmark's client side (`rapport loadgen`): an open-loop load generator that
//! posts signed Meta page-comment deliveries over keep-alive HTTP/1.1 connections at a fixed
//! arrival rate, and the raw producer ceiling (the same Avro records produced with rdkafka
//! alone, no HTTP) for comparison. Not used by the service itself.
//!
//! Open loop: each request has a scheduled send time (`start + i / rate`) and its latency is
//! measured from that time to the end of a 2xx answer, so when the server (or the pool of
//! connections) falls behind, the queueing delay shows up in the percentiles instead of
//! silently lowering the offered rate. CPU is read from `/proc/<pid>/stat` (utime + stime) of
//! the processes named, before and after each step.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::stream::{FuturesUnordered, StreamExt};
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rapport_events::EventCodec;
use rapport_ingest::{AccountDirectory, BrandAccounts, BrandConfig, Endpoint};
use rapport_kafka::rdkafka::error::KafkaError;
use rapport_kafka::rdkafka::producer::{FutureProducer, FutureRecord};
use rapport_kafka::rdkafka::types::RDKafkaErrorCode;
use rapport_runtime::config::KafkaConfig;
use sha2::Sha256;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Mutex};

/// Distinct signed bodies prepared before a run; requests cycle through them (a repeated body
/// is a platform retry as far as the pipeline is concerned, which it must handle anyway).
const BODY_POOL: usize = 200_000;
/// Distinct records the producer-ceiling run cycles through.
const CEILING_POOL: usize = 20_000;
/// Linux reports utime/stime in clock ticks of 1/100 s on every mainstream build.
const CLOCK_TICKS_PER_SEC: u64 = 100;
/// How long a step may run past its duration for the last answers to arrive.
const GRACE: Duration = Duration::from_secs(30);

/// Why the load generator stopped.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("the target URL must look like http://host:port, got `{0}`")]
    Url(String),
    #[error("cannot connect to {addr}")]
    Connect {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot build the sample events")]
    Sample(#[source] rapport_ingest::IngestError),
    #[error("cannot encode a sample event")]
    Encode(#[source] rapport_events::EncodeError),
    #[error("cannot create the Kafka producer")]
    Kafka(#[from] rapport_kafka::KafkaSetupError),
    #[error("the broker refused a record")]
    Produce(#[source] KafkaError),
}

/// What to send and where.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// Base URL of the ingest service, `http://host:port`.
    pub url: String,
    pub duration: Duration,
    pub connections: usize,
    /// The Meta app secret the service verifies with.
    pub meta_secret: String,
    /// The Facebook Page id of a configured brand.
    pub page_id: String,
    /// Processes whose CPU time is reported per webhook (the ingest service, the broker).
    pub watch_pids: Vec<(String, u32)>,
}

/// The result of one step at a fixed rate.
#[derive(Debug, Clone)]
pub struct StepReport {
    pub rate: u64,
    pub sent: u64,
    pub ok: u64,
    /// Non-2xx answers by status, and `connection` for transport errors.
    pub errors: BTreeMap<String, u64>,
    /// 2xx answers per second over the step (first schedule to last answer).
    pub throughput: f64,
    pub p50: Duration,
    pub p99: Duration,
    pub p999: Duration,
    pub max: Duration,
    /// CPU µs per 2xx webhook for each watched process.
    pub cpu_us_per_webhook: Vec<(String, f64)>,
}

impl std::fmt::Display for StepReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        write!(
            f,
            "rate {:>6}/s  sent {:>7}  ok {:>7}  throughput {:>8.0}/s  p50 {:>7.2} ms  p99 {:>7.2} ms  p99.9 {:>7.2} ms  max {:>7.2} ms",
            self.rate, self.sent, self.ok, self.throughput, ms(self.p50), ms(self.p99), ms(self.p999), ms(self.max)
        )?;
        for (name, us) in &self.cpu_us_per_webhook {
            write!(f, "  cpu[{name}] {us:.1} µs/webhook")?;
        }
        if !self.errors.is_empty() {
            write!(f, "  errors {:?}", self.errors)?;
        }
        Ok(())
    }
}

/// A signed delivery ready to send.
#[derive(Clone)]
struct Prepared {
    body: Bytes,
    signature: String,
}

/// `count` distinct Meta page-comment deliveries for `page_id`, as the platform would send them.
/// `salt` goes into every comment id, so each step's comments are new to the processor too
/// (otherwise a long run would mostly exercise its duplicate filter).
fn deliveries(page_id: &str, count: usize, salt: u64) -> Vec<Bytes> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    (0..count)
        .map(|i| {
            let user = 4_000_000_000_000_000u64 + (i as u64 % 10_000);
            let post = format!("{page_id}_{}", 500_000_000_000_000u64 + (i as u64 % 100));
            Bytes::from(format!(
                concat!(
                    r#"{{"object":"page","entry":[{{"id":"{page}","time":{now},"changes":[{{"field":"feed","value":{{"#,
                    r#""from":{{"id":"{user}","name":"Load Test {user}"}},"message":"Is this in stock? #{i}","#,
                    r#""post_id":"{post}","comment_id":"{post}_{salt}{i}","created_time":{now},"item":"comment","#,
                    r#""parent_id":"{post}","verb":"add"}}}}]}}]}}"#
                ),
                page = page_id,
                now = now,
                user = user,
                i = i,
                post = post,
                salt = salt,
            ))
        })
        .collect()
}

fn sign_meta(body: &[u8], secret: &str) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn target(url: &str) -> Result<(SocketAddr, String), LoadError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| LoadError::Url(url.to_owned()))?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let addr = authority
        .parse()
        .map_err(|_| LoadError::Url(url.to_owned()))?;
    Ok((addr, authority.to_owned()))
}

async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>, LoadError> {
    let io_err = |source| LoadError::Connect { addr, source };
    let stream = TcpStream::connect(addr).await.map_err(io_err)?;
    stream.set_nodelay(true).map_err(io_err)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| io_err(std::io::Error::other(e)))?;
    tokio::spawn(connection);
    Ok(sender)
}

/// Per-connection results.
#[derive(Default)]
struct WorkerResult {
    latencies_us: Vec<u32>,
    errors: BTreeMap<String, u64>,
    last_answer: Option<Instant>,
}

/// Run one step: `rate` webhooks per second for `spec.duration`, open loop.
pub async fn run_step(spec: &LoadSpec, rate: u64) -> Result<StepReport, LoadError> {
    let (addr, authority) = target(&spec.url)?;
    let total = rate.saturating_mul(spec.duration.as_secs().max(1));
    let salt = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let distinct = usize::try_from(total)
        .unwrap_or(BODY_POOL)
        .clamp(1, BODY_POOL);
    let pool: Arc<Vec<Prepared>> = Arc::new(
        deliveries(&spec.page_id, distinct, salt)
            .into_iter()
            .map(|body| Prepared {
                signature: sign_meta(&body, &spec.meta_secret),
                body,
            })
            .collect(),
    );
    let (tx, rx) = mpsc::unbounded_channel::<(Instant, u64)>();
    let rx = Arc::new(Mutex::new(rx));
    let mut workers = Vec::with_capacity(spec.connections);
    for _ in 0..spec.connections.max(1) {
        let sender = connect(addr).await?;
        workers.push(tokio::spawn(worker(
            sender,
            addr,
            authority.clone(),
            Arc::clone(&rx),
            Arc::clone(&pool),
        )));
    }

    let cpu_before: Vec<Option<u64>> = spec.watch_pids.iter().map(|(_, p)| cpu_ticks(*p)).collect();
    let start = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    let mut sent = 0u64;
    while sent < total {
        let due = ((start.elapsed().as_secs_f64() * rate as f64) as u64 + 1).min(total);
        while sent < due {
            // Scheduled time, not "now": a late scheduler must not hide queueing delay.
            let scheduled = start + interval.mul_f64(sent as f64);
            if tx.send((scheduled, sent)).is_err() {
                break;
            }
            sent += 1;
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    drop(tx);

    let mut merged = WorkerResult::default();
    let deadline = tokio::time::Instant::now() + spec.duration + GRACE;
    for handle in workers {
        match tokio::time::timeout_at(deadline, handle).await {
            Ok(Ok(r)) => {
                merged.latencies_us.extend(r.latencies_us);
                for (k, v) in r.errors {
                    *merged.errors.entry(k).or_default() += v;
                }
                merged.last_answer = merged.last_answer.max(r.last_answer);
            }
            Ok(Err(_panicked)) => *merged.errors.entry("worker_failed".into()).or_default() += 1,
            Err(_late) => *merged.errors.entry("unfinished".into()).or_default() += 1,
        }
    }
    let cpu_after: Vec<Option<u64>> = spec.watch_pids.iter().map(|(_, p)| cpu_ticks(*p)).collect();

    let ok = merged.latencies_us.len() as u64;
    merged.latencies_us.sort_unstable();
    let pct = |q: f64| -> Duration {
        if merged.latencies_us.is_empty() {
            return Duration::ZERO;
        }
        let i = ((merged.latencies_us.len() as f64 * q).ceil() as usize)
            .clamp(1, merged.latencies_us.len())
            - 1;
        Duration::from_micros(u64::from(merged.latencies_us[i]))
    };
    let span = merged
        .last_answer
        .map_or(Duration::ZERO, |t| t.saturating_duration_since(start));
    let cpu_us_per_webhook = spec
        .watch_pids
        .iter()
        .zip(cpu_before.iter().zip(&cpu_after))
        .filter_map(|((name, _), (before, after))| {
            let ticks = after.as_ref()?.checked_sub(*before.as_ref()?)?;
            let us = ticks as f64 * 1e6 / CLOCK_TICKS_PER_SEC as f64;
            Some((name.clone(), us / ok.max(1) as f64))
        })
        .collect();
    Ok(StepReport {
        rate,
        sent,
        ok,
        errors: merged.errors,
        throughput: if span.is_zero() {
            0.0
        } else {
            ok as f64 / span.as_secs_f64()
        },
        p50: pct(0.50),
        p99: pct(0.99),
        p999: pct(0.999),
        max: merged
            .latencies_us
            .last()
            .map_or(Duration::ZERO, |&us| Duration::from_micros(u64::from(us))),
        cpu_us_per_webhook,
    })
}

async fn worker(
    mut sender: SendRequest<Full<Bytes>>,
    addr: SocketAddr,
    authority: String,
    queue: Arc<Mutex<mpsc::UnboundedReceiver<(Instant, u64)>>>,
    pool: Arc<Vec<Prepared>>,
) -> WorkerResult {
    let mut result = WorkerResult::default();
    loop {
        let job = queue.lock().await.recv().await;
        let Some((scheduled, seq)) = job else {
            return result;
        };
        let item = &pool[(seq % pool.len() as u64) as usize];
        if sender.ready().await.is_err() {
            match connect(addr).await {
                Ok(s) => sender = s,
                Err(_) => {
                    *result.errors.entry("connection".into()).or_default() += 1;
                    continue;
                }
            }
        }
        let request = hyper::Request::post("/webhooks/meta")
            .header(hyper::header::HOST, authority.as_str())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header("X-Hub-Signature-256", item.signature.as_str())
            .body(Full::new(item.body.clone()));
        let Ok(request) = request else {
            *result.errors.entry("request_build".into()).or_default() += 1;
            continue;
        };
        match sender.send_request(request).await {
            Ok(response) => {
                let status = response.status();
                // Read the body to the end so the connection can carry the next request.
                let drained = response.into_body().collect().await.is_ok();
                let now = Instant::now();
                result.last_answer = Some(now);
                if status.is_success() && drained {
                    let us = now.saturating_duration_since(scheduled).as_micros();
                    result
                        .latencies_us
                        .push(u32::try_from(us).unwrap_or(u32::MAX));
                } else {
                    *result
                        .errors
                        .entry(status.as_u16().to_string())
                        .or_default() += 1;
                }
            }
            Err(_) => {
                *result.errors.entry("connection".into()).or_default() += 1;
                if let Ok(s) = connect(addr).await {
                    sender = s;
                }
            }
        }
    }
}

/// utime + stime of `pid` in clock ticks, if the process exists.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces; fields are counted after its closing parenthesis.
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of stat(5); `after` starts at field 3.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The raw producer ceiling.
#[derive(Debug, Clone)]
pub struct CeilingReport {
    pub records: u64,
    pub elapsed: Duration,
    pub per_second: f64,
    /// CPU µs per record for each watched process (this one is `producer`).
    pub cpu_us_per_record: Vec<(String, f64)>,
}

impl std::fmt::Display for CeilingReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "raw producer: {} records in {:.2} s = {:.0} records/s",
            self.records,
            self.elapsed.as_secs_f64(),
            self.per_second
        )?;
        for (name, us) in &self.cpu_us_per_record {
            write!(f, "  cpu[{name}] {us:.1} µs/record")?;
        }
        Ok(())
    }
}

/// Produce `records` of the same events the load generator's deliveries become, with rdkafka
/// alone and as many in flight as the producer queue takes, and time until all are acked.
pub async fn producer_ceiling(
    kafka: &KafkaConfig,
    topic: &str,
    records: u64,
    page_id: &str,
    watch_pids: &[(String, u32)],
) -> Result<CeilingReport, LoadError> {
    let directory = AccountDirectory::new([BrandConfig {
        id: "loadgen".into(),
        accounts: BrandAccounts {
            facebook: Some(page_id.to_owned()),
            ..BrandAccounts::default()
        },
        automation_app_ids: Vec::new(),
    }])
    .map_err(|e| {
        LoadError::Sample(rapport_ingest::IngestError::Malformed {
            reason: e.to_string(),
        })
    })?;
    let codec = EventCodec::new();
    let received = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let mut payloads = Vec::with_capacity(CEILING_POOL);
    for body in deliveries(page_id, CEILING_POOL, 0) {
        let events = rapport_ingest::normalize(&Endpoint::Meta, &body, received, &directory)
            .map_err(LoadError::Sample)?;
        for e in events {
            payloads.push((
                e.partition_key(),
                codec.encode(&e).map_err(LoadError::Encode)?,
            ));
        }
    }
    let producer: FutureProducer = rapport_kafka::producer(kafka)?;
    let before: Vec<Option<u64>> = watch_pids.iter().map(|(_, p)| cpu_ticks(*p)).collect();
    let own_before = cpu_ticks(std::process::id());
    let start = Instant::now();
    let mut acks = FuturesUnordered::new();
    let mut i = 0u64;
    while i < records {
        let (key, payload) = &payloads[(i % payloads.len() as u64) as usize];
        let record = FutureRecord::to(topic)
            .key(key.as_str())
            .payload(payload.as_slice());
        match producer.send_result(record) {
            Ok(ack) => {
                acks.push(ack);
                i += 1;
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                // The local queue is full: wait for some acks before enqueueing more.
                wait_one(&mut acks).await?;
            }
            Err((e, _)) => return Err(LoadError::Produce(e)),
        }
    }
    while !acks.is_empty() {
        wait_one(&mut acks).await?;
    }
    let elapsed = start.elapsed();
    let own_after = cpu_ticks(std::process::id());
    let after: Vec<Option<u64>> = watch_pids.iter().map(|(_, p)| cpu_ticks(*p)).collect();
    let per = |b: Option<u64>, a: Option<u64>| {
        Some(a?.checked_sub(b?)? as f64 * 1e6 / CLOCK_TICKS_PER_SEC as f64 / records.max(1) as f64)
    };
    let mut cpu_us_per_record: Vec<(String, f64)> = Vec::new();
    if let Some(us) = per(own_before, own_after) {
        cpu_us_per_record.push(("producer".into(), us));
    }
    for ((name, _), (b, a)) in watch_pids.iter().zip(before.into_iter().zip(after)) {
        if let Some(us) = per(b, a) {
            cpu_us_per_record.push((name.clone(), us));
        }
    }
    Ok(CeilingReport {
        records,
        elapsed,
        per_second: records as f64 / elapsed.as_secs_f64().max(1e-9),
        cpu_us_per_record,
    })
}

async fn wait_one(
    acks: &mut FuturesUnordered<rapport_kafka::rdkafka::producer::DeliveryFuture>,
) -> Result<(), LoadError> {
    match acks.next().await {
        Some(Ok(Ok(_))) | None => Ok(()),
        Some(Ok(Err((e, _)))) => Err(LoadError::Produce(e)),
        Some(Err(_canceled)) => Err(LoadError::Produce(KafkaError::Canceled)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_deliveries_normalize_to_one_inbound_comment_each_and_verify() {
        let directory = AccountDirectory::new([BrandConfig {
            id: "b".into(),
            accounts: BrandAccounts {
                facebook: Some("42".into()),
                ..BrandAccounts::default()
            },
            automation_app_ids: Vec::new(),
        }])
        .expect("directory");
        let bodies = deliveries("42", 3, 7);
        let mut ids = std::collections::BTreeSet::new();
        for body in &bodies {
            let sig = sign_meta(body, "s3cret");
            rapport_ingest::signature::verify_meta(
                Some(&sig),
                None,
                body,
                &rapport_ingest::Secrets::new("s3cret"),
            )
            .expect("signature verifies");
            let now_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            let events = rapport_ingest::normalize(&Endpoint::Meta, body, now_ms, &directory)
                .expect("normalizes");
            assert_eq!(events.len(), 1);
            assert_eq!(events[0].kind, rapport_events::Kind::Comment);
            ids.insert(events[0].event_id.clone());
        }
        assert_eq!(ids.len(), 3, "distinct deliveries, distinct events");
    }

    #[test]
    fn targets_parse_and_proc_stat_is_readable() {
        let (addr, authority) = target("http://127.0.0.1:8080/").expect("url");
        assert_eq!((addr.port(), authority.as_str()), (8080, "127.0.0.1:8080"));
        assert!(target("https://x").is_err());
        assert!(cpu_ticks(std::process::id()).is_some());
    }
}
