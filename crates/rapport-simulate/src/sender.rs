//! Posting deliveries to a running `rapport ingest`: keep-alive HTTP/1.1 connections (one per
//! worker, bounded concurrency), pacing by simulated send time (`--speed`) or none, retries
//! the way platforms retry (503 and 429 with backoff, honouring `Retry-After`; never a 4xx),
//! status counting, and a progress line on stderr every second.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::{Delivery, SimError};

/// How send times are honoured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// Send as fast as the connections allow, in send-time order.
    AsFastAsPossible,
    /// Simulated time runs this many times faster than wall time (3600: an hour a second).
    Speed(f64),
}

#[derive(Debug, Clone)]
pub struct SendOptions {
    /// Base URL of the ingest service, `http://host:port`.
    pub url: String,
    /// Connections (and requests in flight).
    pub concurrency: usize,
    pub pace: Pace,
    /// Re-sign generic deliveries at send time with this secret (their signature carries a
    /// timestamp that ingest checks against its clock).
    pub generic_secret: Option<Vec<u8>>,
    /// Attempts per delivery, the first included.
    pub max_attempts: u32,
    /// Print the progress line on stderr.
    pub progress: bool,
}

/// What happened to the deliveries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendReport {
    pub total: u64,
    /// Final HTTP status of each delivery (after retries), counted by status.
    pub by_status: BTreeMap<u16, u64>,
    /// Extra attempts made after 503/429 or a broken connection.
    pub retries: u64,
    /// Deliveries that never got an HTTP answer.
    pub failed: u64,
    pub elapsed: Duration,
}

impl SendReport {
    pub fn successes(&self) -> u64 {
        self.by_status
            .iter()
            .filter(|(s, _)| (200..300).contains(*s))
            .map(|(_, n)| n)
            .sum()
    }
}

#[derive(Default)]
struct Stats {
    done: AtomicU64,
    retries: AtomicU64,
    failed: AtomicU64,
    // Never held across an await.
    by_status: Mutex<BTreeMap<u16, u64>>,
}

impl Stats {
    fn status(&self, status: u16) {
        if let Ok(mut m) = self.by_status.lock() {
            *m.entry(status).or_default() += 1;
        }
        self.done.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> BTreeMap<u16, u64> {
        self.by_status.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

/// `http://host:port` → (`host:port`, authority for the Host header).
fn parse_url(url: &str) -> Result<String, SimError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| SimError::Url(url.to_owned()))?;
    let authority = rest.trim_end_matches('/');
    if authority.is_empty() || authority.contains('/') {
        return Err(SimError::Url(url.to_owned()));
    }
    Ok(if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    })
}

async fn connect(addr: &str) -> Result<SendRequest<Full<Bytes>>, SimError> {
    let err = |source| SimError::Connect {
        addr: addr.to_owned(),
        source,
    };
    let stream = TcpStream::connect(addr).await.map_err(err)?;
    stream.set_nodelay(true).map_err(err)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| err(std::io::Error::other(e)))?;
    // The connection task ends when the sender is dropped or the server closes.
    tokio::spawn(conn);
    Ok(sender)
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

enum Outcome {
    Status(u16, Option<Duration>),
    Broken,
}

async fn attempt(
    conn: &mut Option<SendRequest<Full<Bytes>>>,
    addr: &str,
    d: &Delivery,
) -> Result<Outcome, SimError> {
    if conn.as_ref().is_none_or(|c| c.is_closed()) {
        *conn = match connect(addr).await {
            Ok(c) => Some(c),
            Err(_) => return Ok(Outcome::Broken),
        };
    }
    let Some(sender) = conn.as_mut() else {
        return Ok(Outcome::Broken);
    };
    if sender.ready().await.is_err() {
        *conn = None;
        return Ok(Outcome::Broken);
    }
    let mut req = hyper::Request::post(&d.path).header(hyper::header::HOST, addr);
    for (k, v) in &d.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let req = req
        .body(Full::new(Bytes::from(d.body.clone())))
        .map_err(|e| SimError::Request(e.to_string()))?;
    let resp = match sender.send_request(req).await {
        Ok(r) => r,
        Err(_) => {
            *conn = None;
            return Ok(Outcome::Broken);
        }
    };
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get(hyper::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    // Read the body to the end so the connection can carry the next request.
    if resp.into_body().collect().await.is_err() {
        *conn = None;
    }
    Ok(Outcome::Status(status, retry_after))
}

async fn deliver(
    conn: &mut Option<SendRequest<Full<Bytes>>>,
    addr: &str,
    mut d: Delivery,
    opts: &SendOptions,
    stats: &Stats,
) -> Result<(), SimError> {
    let attempts = opts.max_attempts.max(1);
    for n in 0..attempts {
        if let Some(secret) = &opts.generic_secret {
            d.resign_generic(secret, now_unix());
        }
        let backoff = Duration::from_millis(250 << n.min(6)).min(Duration::from_secs(10));
        match attempt(conn, addr, &d).await? {
            Outcome::Status(status @ (429 | 503), retry_after) if n + 1 < attempts => {
                let _ = status;
                stats.retries.fetch_add(1, Ordering::Relaxed);
                let wait = retry_after.unwrap_or(backoff).min(Duration::from_secs(30));
                tokio::time::sleep(wait).await;
            }
            Outcome::Status(status, _) => {
                stats.status(status);
                return Ok(());
            }
            Outcome::Broken if n + 1 < attempts => {
                stats.retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(backoff).await;
            }
            Outcome::Broken => break,
        }
    }
    stats.failed.fetch_add(1, Ordering::Relaxed);
    stats.done.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// Post `deliveries` (in order) to the ingest service at `opts.url`.
pub async fn send(deliveries: Vec<Delivery>, opts: SendOptions) -> Result<SendReport, SimError> {
    let addr = parse_url(&opts.url)?;
    // Fail fast when nothing listens, instead of counting every delivery as failed.
    drop(connect(&addr).await?);
    let total = deliveries.len() as u64;
    let concurrency = opts.concurrency.max(1);
    let stats = Arc::new(Stats::default());
    let started = Instant::now();
    let (tx, rx) = tokio::sync::mpsc::channel::<Delivery>(concurrency * 2);
    let rx = Arc::new(tokio::sync::Mutex::new(rx));

    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let (rx, stats, opts, addr) = (rx.clone(), stats.clone(), opts.clone(), addr.clone());
        workers.push(tokio::spawn(async move {
            let mut conn = None;
            loop {
                let next = rx.lock().await.recv().await;
                let Some(d) = next else { break };
                deliver(&mut conn, &addr, d, &opts, &stats).await?;
            }
            Ok::<(), SimError>(())
        }));
    }

    let progress = opts.progress.then(|| {
        let stats = stats.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            loop {
                tick.tick().await;
                eprintln!("{}", progress_line(&stats, total, started.elapsed()));
            }
        })
    });

    let first = deliveries.first().map_or(0, |d| d.send_at_ms);
    for d in deliveries {
        if let Pace::Speed(speed) = opts.pace {
            if speed > 0.0 && speed.is_finite() {
                let offset = (d.send_at_ms - first).max(0) as f64 / speed;
                let due = started + Duration::from_secs_f64(offset / 1000.0);
                tokio::time::sleep_until(due.into()).await;
            }
        }
        if tx.send(d).await.is_err() {
            // Every worker stopped: their error is reported below.
            break;
        }
    }
    drop(tx);
    let mut first_error = None;
    for w in workers {
        match w.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => first_error = first_error.or(Some(e)),
            Err(join) => {
                first_error = first_error.or(Some(SimError::Request(join.to_string())));
            }
        }
    }
    if let Some(p) = progress {
        p.abort();
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let report = SendReport {
        total,
        by_status: stats.snapshot(),
        retries: stats.retries.load(Ordering::Relaxed),
        failed: stats.failed.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
    };
    if opts.progress {
        eprintln!("{}", progress_line(&stats, total, report.elapsed));
    }
    Ok(report)
}

fn progress_line(stats: &Stats, total: u64, elapsed: Duration) -> String {
    let done = stats.done.load(Ordering::Relaxed);
    let rate = done as f64 / elapsed.as_secs_f64().max(0.001);
    let statuses: Vec<String> = stats
        .snapshot()
        .iter()
        .map(|(s, n)| format!("{s}={n}"))
        .collect();
    format!(
        "simulate: {done}/{total} delivered, {rate:.0}/s, status [{}], retries {}, failed {}",
        statuses.join(" "),
        stats.retries.load(Ordering::Relaxed),
        stats.failed.load(Ordering::Relaxed),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_need_http_and_a_host() {
        assert_eq!(
            parse_url("http://127.0.0.1:8080/").ok().as_deref(),
            Some("127.0.0.1:8080")
        );
        assert_eq!(
            parse_url("http://ingest").ok().as_deref(),
            Some("ingest:80")
        );
        assert!(parse_url("https://x:1").is_err());
        assert!(parse_url("http://x:1/webhooks").is_err());
        assert!(parse_url("http://").is_err());
    }
}
