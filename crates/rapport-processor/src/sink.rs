//! Writing rows to ClickHouse. A [`Batch`] collects one partition's rows since its last flush;
//! [`Sink::write_until_ok`] inserts the batches of every partition due together, one insert per
//! table with the tables written concurrently (ClickHouse prefers few large inserts, and one
//! round of seven inserts instead of seven per partition is what keeps the end-to-end latency
//! low). On failure (an outage: ClickHouse down, network) it retries the whole write with capped
//! exponential backoff until it succeeds or shutdown begins. The batches stay with their
//! partitions until then, so nothing is committed past unwritten rows, and a retried insert is
//! harmless because every table folds identical rows.

use std::time::{Duration, Instant};

use clickhouse::{Row, RowOwned, RowWrite};
use rapport_clickhouse::rows::{
    BandDailyDbRow, DailyDbRow, FollowEdgeDbRow, InteractionRow, PersonalTouchDbRow,
    ProfileSnapshotDbRow, ThreadDbRow,
};
use rapport_engine::Output;
use rapport_runtime::{HealthHandle, Shutdown};

use crate::metrics::Metrics;

/// Rows waiting to be written, for one partition.
#[derive(Debug, Default)]
pub struct Batch {
    pub interactions: Vec<InteractionRow>,
    pub threads: Vec<ThreadDbRow>,
    pub daily: Vec<DailyDbRow>,
    pub bands: Vec<BandDailyDbRow>,
    pub touch: Vec<PersonalTouchDbRow>,
    pub follows: Vec<FollowEdgeDbRow>,
    pub profiles: Vec<ProfileSnapshotDbRow>,
}

impl Batch {
    /// Add the engine's output of `partition`.
    pub fn add_output(&mut self, out: &Output, partition: u32) {
        self.threads
            .extend(out.threads.iter().map(ThreadDbRow::from));
        self.daily
            .extend(out.daily.iter().map(|d| DailyDbRow::new(d, partition)));
        self.bands.extend(
            out.daily_bands
                .iter()
                .map(|b| BandDailyDbRow::new(b, partition)),
        );
        self.touch
            .extend(out.personal_touch.iter().map(PersonalTouchDbRow::from));
        self.follows
            .extend(out.follow_edges.iter().map(FollowEdgeDbRow::from));
        self.profiles
            .extend(out.profile_snapshots.iter().map(ProfileSnapshotDbRow::from));
    }

    pub fn rows(&self) -> usize {
        self.interactions.len()
            + self.threads.len()
            + self.daily.len()
            + self.bands.len()
            + self.touch.len()
            + self.follows.len()
            + self.profiles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows() == 0
    }

    pub fn clear(&mut self) {
        *self = Batch::default();
    }
}

/// The batch could not be written before shutdown began.
#[derive(Debug, thiserror::Error)]
#[error("shutdown began while ClickHouse was failing; {rows} rows stay unwritten and uncommitted (they will be replayed)")]
pub struct Interrupted {
    pub rows: usize,
}

#[derive(Clone)]
pub struct Sink {
    client: clickhouse::Client,
    metrics: Metrics,
    health: HealthHandle,
}

const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

impl Sink {
    pub fn new(client: clickhouse::Client, metrics: Metrics, health: HealthHandle) -> Sink {
        health.set_ready();
        Sink {
            client,
            metrics,
            health,
        }
    }

    pub fn client(&self) -> &clickhouse::Client {
        &self.client
    }

    /// Run a ClickHouse request (checkpoint load or save) with this sink's retry policy, so its
    /// failures show in the same metrics and readiness as row writes.
    pub async fn retry<T, F, Fut>(
        &self,
        what: &str,
        shutdown: &Shutdown,
        attempt: F,
    ) -> Result<T, Interrupted>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, clickhouse::error::Error>>,
    {
        retry_until_ok(what, &self.metrics, &self.health, shutdown, 0, attempt).await
    }

    /// Insert `batches`, retrying outages with backoff until it succeeds or `shutdown` begins.
    pub async fn write_until_ok(
        &self,
        batches: &[&Batch],
        shutdown: &Shutdown,
    ) -> Result<(), Interrupted> {
        let rows = batches.iter().map(|b| b.rows()).sum();
        retry_until_ok(
            "insert rows",
            &self.metrics,
            &self.health,
            shutdown,
            rows,
            || self.write(batches),
        )
        .await
    }

    /// One attempt at inserting every table of `batches`: one insert per table, all at once.
    pub async fn write(&self, batches: &[&Batch]) -> Result<(), clickhouse::error::Error> {
        fn parts<'a, R>(batches: &[&'a Batch], table: fn(&'a Batch) -> &'a [R]) -> Vec<&'a [R]> {
            batches.iter().map(|b| table(b)).collect()
        }
        tokio::try_join!(
            self.insert("interactions", parts(batches, |b| &b.interactions)),
            self.insert("threads", parts(batches, |b| &b.threads)),
            self.insert("brand_daily", parts(batches, |b| &b.daily)),
            self.insert("brand_band_daily", parts(batches, |b| &b.bands)),
            self.insert("personal_touch", parts(batches, |b| &b.touch)),
            self.insert("follow_edges", parts(batches, |b| &b.follows)),
            self.insert("profile_snapshots", parts(batches, |b| &b.profiles)),
        )?;
        Ok(())
    }

    async fn insert<R>(
        &self,
        table: &'static str,
        parts: Vec<&[R]>,
    ) -> Result<(), clickhouse::error::Error>
    where
        R: Row + RowOwned + RowWrite,
    {
        let rows: usize = parts.iter().map(|p| p.len()).sum();
        if rows == 0 {
            return Ok(());
        }
        let started = Instant::now();
        let mut insert = self.client.insert::<R>(table).await?;
        for row in parts.into_iter().flatten() {
            insert.write(row).await?;
        }
        insert.end().await?;
        self.metrics
            .insert_seconds
            .with_label_values(&[table])
            .observe(started.elapsed().as_secs_f64());
        self.metrics
            .rows_written
            .with_label_values(&[table])
            .inc_by(rows as u64);
        Ok(())
    }
}

/// Run `attempt` until it succeeds, backing off between failures; give up only at shutdown.
pub async fn retry_until_ok<T, F, Fut>(
    what: &str,
    metrics: &Metrics,
    health: &HealthHandle,
    shutdown: &Shutdown,
    rows: usize,
    mut attempt: F,
) -> Result<T, Interrupted>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, clickhouse::error::Error>>,
{
    let mut delay = BACKOFF_START;
    let mut failures = 0u32;
    loop {
        match attempt().await {
            Ok(value) => {
                if failures > 0 {
                    tracing::info!(what, failures, "ClickHouse is back; write succeeded");
                    health.set_ready();
                }
                return Ok(value);
            }
            Err(error) => {
                failures += 1;
                metrics.insert_failures.inc();
                health.set_not_ready(format!("ClickHouse write failing: {error}"));
                tracing::warn!(what, %error, failures, retry_in_ms = delay.as_millis() as u64, "ClickHouse write failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.wait() => return Err(Interrupted { rows }),
                }
                delay = (delay * 2).min(BACKOFF_MAX);
            }
        }
    }
}
