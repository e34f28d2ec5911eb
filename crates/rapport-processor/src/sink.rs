//! Writing a partition's rows to ClickHouse. A [`Batch`] collects the rows produced since the
//! last flush; [`Sink::write_until_ok`] inserts them table by table and, on failure (an
//! outage: ClickHouse down, network), retries the whole batch with capped exponential backoff
//! until it succeeds or shutdown begins. The caller holds its offsets until then, so nothing is
//! committed past unwritten rows, and a retried insert is harmless because every table folds
//! identical rows.

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

    /// Insert `batch`, retrying outages with backoff until it succeeds or `shutdown` begins.
    pub async fn write_until_ok(
        &self,
        batch: &Batch,
        shutdown: &Shutdown,
    ) -> Result<(), Interrupted> {
        retry_until_ok(
            "insert rows",
            &self.metrics,
            &self.health,
            shutdown,
            batch.rows(),
            || self.write(batch),
        )
        .await
    }

    /// One attempt at inserting every table of `batch`.
    pub async fn write(&self, batch: &Batch) -> Result<(), clickhouse::error::Error> {
        self.insert("interactions", &batch.interactions).await?;
        self.insert("threads", &batch.threads).await?;
        self.insert("brand_daily", &batch.daily).await?;
        self.insert("brand_band_daily", &batch.bands).await?;
        self.insert("personal_touch", &batch.touch).await?;
        self.insert("follow_edges", &batch.follows).await?;
        self.insert("profile_snapshots", &batch.profiles).await
    }

    async fn insert<R>(
        &self,
        table: &'static str,
        rows: &[R],
    ) -> Result<(), clickhouse::error::Error>
    where
        R: Row + RowOwned + RowWrite,
    {
        if rows.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let mut insert = self.client.insert::<R>(table).await?;
        for row in rows {
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
            .inc_by(rows.len() as u64);
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
