//! `rapport process`: the stream processor. A consumer-group member on
//! `rapport.interactions.v1` that, per assigned partition, restores the engine from its last
//! checkpoint, feeds it the partition's records in offset order, writes the rows to ClickHouse,
//! saves a checkpoint, and only then commits the offset (ADR 0001).
//!
//! Guarantees: a record is covered by the state only after the rows it produced are written
//! (flush before snapshot); a checkpoint covers exactly the records before its `next_offset`;
//! the Kafka commit never passes the checkpoint. So after a crash, a rebalance or a replay the
//! records since the checkpoint are processed again and rewrite identical rows.
//!
//! Undecodable records are dead-lettered with partition, offset and reason; an outage (ClickHouse
//! or the broker down) is retried with backoff; a bug (a snapshot that does not restore) stops the
//! process so nothing is silently skipped.

pub mod brands;
pub mod metrics;
mod partition;
pub mod sink;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use rapport_clickhouse::StateStore;
use rapport_engine::{BrandSettings, EngineConfig};
use rapport_events::{DeadLetter, DeadLetterCodec, EventCodec, Stage};
use rapport_kafka::rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rapport_kafka::rdkafka::message::Message;
use rapport_kafka::rdkafka::producer::{FutureProducer, FutureRecord};
use rapport_kafka::rdkafka::statistics::Statistics;
use rapport_kafka::rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rapport_kafka::rdkafka::ClientContext;
use rapport_runtime::{Config, Health, Shutdown};

use crate::metrics::Metrics;
use crate::partition::PartitionWorker;
use crate::sink::Sink;

/// Settings of the processing loop (from `[process]`).
#[derive(Debug, Clone)]
pub struct LoopSettings {
    pub batch_rows: usize,
    pub flush_interval: Duration,
    pub checkpoint_interval: Duration,
    pub drain_timeout: Duration,
    pub idle_advance: Duration,
}

/// Everything the loop and the rebalance callbacks share.
struct Shared {
    topic: String,
    group: String,
    workers: Mutex<HashMap<i32, PartitionWorker>>,
    /// Partitions the group currently gives this member; records of others are ignored (they
    /// can still arrive from buffers right after a revoke).
    assigned: Mutex<std::collections::HashSet<i32>>,
    /// High watermark per partition from librdkafka's statistics.
    high_watermarks: Mutex<HashMap<i32, i64>>,
    sink: Sink,
    store: StateStore,
    engine_config: EngineConfig,
    brands: Vec<BrandSettings>,
    settings: LoopSettings,
    metrics: Metrics,
    shutdown: Shutdown,
}

/// Rebalance hooks and statistics for the consumer.
struct ProcessorContext {
    shared: Arc<Shared>,
}

impl ClientContext for ProcessorContext {
    fn stats(&self, stats: Statistics) {
        if let Some(topic) = stats.topics.get(&self.shared.topic) {
            let mut highs = lock(&self.shared.high_watermarks);
            for (partition, p) in &topic.partitions {
                if *partition < 0 {
                    continue;
                }
                if p.consumer_lag >= 0 {
                    self.shared
                        .metrics
                        .consumer_lag
                        .with_label_values(&[&partition.to_string()])
                        .set(p.consumer_lag);
                }
                highs.insert(*partition, p.hi_offset);
            }
        }
    }
}

impl ConsumerContext for ProcessorContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            let partitions: Vec<i32> = list
                .elements()
                .iter()
                .filter(|e| e.topic() == self.shared.topic)
                .map(|e| e.partition())
                .collect();
            tracing::info!(?partitions, "partitions revoked; draining");
            {
                let mut assigned = lock(&self.shared.assigned);
                for p in &partitions {
                    assigned.remove(p);
                }
            }
            let shared = self.shared.clone();
            let commits = block_on_io(async move {
                let deadline = shared.settings.drain_timeout;
                match tokio::time::timeout(deadline, drain(&shared, &partitions)).await {
                    Ok(commits) => commits,
                    Err(_) => {
                        tracing::warn!(?deadline, "drain did not finish in time; the next owner replays from the last checkpoint");
                        Vec::new()
                    }
                }
            });
            commit(consumer, &self.shared.topic, &commits, CommitMode::Sync);
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(list) = rebalance {
            let partitions: Vec<i32> = list
                .elements()
                .iter()
                .filter(|e| e.topic() == self.shared.topic)
                .map(|e| e.partition())
                .collect();
            // A worker left from an earlier ownership (a record handled after its revoke) holds
            // stale state: another member may have moved the partition on since. Drop it so
            // the partition restores from the newest checkpoint.
            {
                let mut workers = lock(&self.shared.workers);
                workers.retain(|p, _| !partitions.contains(p));
                self.shared
                    .metrics
                    .assigned_partitions
                    .set(workers.len() as i64);
            }
            *lock(&self.shared.assigned) = partitions.iter().copied().collect();
            tracing::info!(
                ?partitions,
                "partitions assigned; state restores on first record"
            );
        }
    }
}

/// Run an async block from a synchronous rdkafka callback.
fn block_on_io<F: std::future::Future>(f: F) -> F::Output {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => tokio::task::block_in_place(|| handle.block_on(f)),
        Err(_) => match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt.block_on(f),
            Err(error) => panic!("cannot build a runtime for a rebalance callback: {error}"),
        },
    }
}

/// Checkpoint and drop the workers of `partitions`; returns the offsets to commit.
async fn drain(shared: &Shared, partitions: &[i32]) -> Vec<(i32, i64)> {
    let mut taken = Vec::new();
    {
        let mut workers = lock(&shared.workers);
        for p in partitions {
            if let Some(w) = workers.remove(p) {
                taken.push(w);
            }
        }
        shared.metrics.assigned_partitions.set(workers.len() as i64);
    }
    let mut commits = Vec::new();
    for mut w in taken {
        checkpoint_into(shared, &mut w, &mut commits, "drain").await;
    }
    commits
}

/// Checkpoint `w` and add its offset to `commits`. A failure (shutdown during an outage) is
/// logged; the partition then replays from its previous checkpoint, which is always correct.
async fn checkpoint_into(
    shared: &Shared,
    w: &mut PartitionWorker,
    commits: &mut Vec<(i32, i64)>,
    during: &'static str,
) {
    let saved = w
        .checkpoint(
            &shared.sink,
            &shared.store,
            &shared.metrics,
            &shared.shutdown,
        )
        .await;
    match saved {
        Ok(offset) => commits.push((w.partition, offset)),
        Err(error) => {
            tracing::warn!(partition = w.partition, %error, during, "checkpoint not saved")
        }
    }
}

fn commit<C: ConsumerContext, K: Consumer<C>>(
    consumer: &K,
    topic: &str,
    offsets: &[(i32, i64)],
    mode: CommitMode,
) {
    if offsets.is_empty() {
        return;
    }
    let mut list = TopicPartitionList::new();
    for (p, o) in offsets {
        if let Err(error) = list.add_partition_offset(topic, *p, Offset::Offset(*o)) {
            tracing::warn!(%error, "cannot build the commit list");
            return;
        }
    }
    // The group commit only feeds lag dashboards: restore uses the checkpoint's offset.
    if let Err(error) = consumer.commit(&list, mode) {
        tracing::warn!(%error, "offset commit failed; lag dashboards may lag, results are unaffected");
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn now_secs() -> u32 {
    let s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    u32::try_from(s).unwrap_or(u32::MAX)
}

/// Run the processor until `shutdown`. `health` gets a `kafka` and a `clickhouse` component.
pub async fn run(
    config: &Config,
    registry: &prometheus::Registry,
    health: &Health,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let metrics = Metrics::register(registry)?;
    let engine_config = brands::engine_config(&config.process).context("process settings")?;
    let brand_settings = brands::brand_settings(&config.brands).context("brand settings")?;
    // Refuse bad calendars (unknown timezone, malformed hours) at boot, not at first record.
    rapport_engine::Engine::new(engine_config.clone(), brand_settings.clone())
        .context("brand settings")?;

    let ch_health = health.register("clickhouse", None);
    let loop_health = health.register("consumer", Some(Duration::from_secs(60)));
    let client = rapport_clickhouse::client(&config.clickhouse);
    let topic = config.kafka.interactions_topic.clone();
    let group = config.process.group_id.clone();
    let settings = LoopSettings {
        batch_rows: config.process.batch_rows,
        flush_interval: config.process.flush_interval,
        checkpoint_interval: config.process.checkpoint_interval,
        drain_timeout: config.process.drain_timeout,
        idle_advance: config.process.idle_advance,
    };
    let shared = Arc::new(Shared {
        store: StateStore::new(client.clone(), &group, &topic),
        sink: Sink::new(client, metrics.clone(), ch_health),
        topic: topic.clone(),
        group: group.clone(),
        workers: Mutex::new(HashMap::new()),
        assigned: Mutex::new(std::collections::HashSet::new()),
        high_watermarks: Mutex::new(HashMap::new()),
        engine_config,
        brands: brand_settings,
        settings,
        metrics: metrics.clone(),
        shutdown: shutdown.clone(),
    });

    let mut kafka_cfg = rapport_kafka::consumer_config(&config.kafka, &group);
    // Statistics feed the lag gauges and the log ends that gate the idle advance.
    kafka_cfg.set("statistics.interval.ms", "1000");
    let consumer: StreamConsumer<ProcessorContext> = kafka_cfg
        .create_with_context(ProcessorContext {
            shared: shared.clone(),
        })
        .context("creating the Kafka consumer")?;
    consumer
        .subscribe(&[&topic])
        .with_context(|| format!("subscribing to {topic}"))?;
    let dead_letters =
        rapport_kafka::producer(&config.kafka).context("creating the dead-letter producer")?;
    let dl_topic = config.kafka.deadletter_topic.clone();
    let codec = EventCodec::new();
    let dl_codec = DeadLetterCodec::new();
    tracing::info!(%topic, %group, brokers = %config.kafka.brokers, "processor started");
    metrics.up.set(1.0);
    loop_health.set_ready();

    let mut tick = tokio::time::interval(Duration::from_millis(200));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_gauges = Instant::now();
    loop {
        tokio::select! {
            biased;
            _ = shutdown.wait() => break,
            _ = tick.tick() => {
                loop_health.beat();
                let commits = periodic(&shared).await;
                commit(&consumer, &topic, &commits, CommitMode::Async);
                if last_gauges.elapsed() >= Duration::from_secs(5) {
                    publish_gauges(&shared);
                    last_gauges = Instant::now();
                }
            }
            received = consumer.recv() => {
                loop_health.beat();
                let msg = match received {
                    Ok(m) => m,
                    Err(error) => {
                        tracing::warn!(%error, "consumer error; continuing");
                        continue;
                    }
                };
                let partition = msg.partition();
                let offset = msg.offset();
                let payload = msg.payload().unwrap_or_default().to_vec();
                drop(msg);
                if !lock(&shared.assigned).contains(&partition) {
                    shared.metrics.records.with_label_values(&["not_assigned"]).inc();
                    continue;
                }
                let mut worker = take_or_restore(&shared, partition).await?;
                if offset > worker.next_offset && worker.next_offset > 0 {
                    // Records were skipped: another member processed them. Trust the
                    // checkpoint, not this worker's state.
                    tracing::info!(partition, expected = worker.next_offset, got = offset,
                        "partition moved on elsewhere; restoring from the newest checkpoint");
                    drop(worker);
                    worker = take_or_restore(&shared, partition).await?;
                }
                let outcome = worker
                    .handle(offset, &payload, &codec, &shared.sink, &shared.metrics, &shared.shutdown, &shared.settings)
                    .await;
                let dead = match outcome {
                    Ok(dead) => dead,
                    Err(error) => {
                        put_back(&shared, worker);
                        return Err(error.into());
                    }
                };
                if let Some((reason, detail)) = dead {
                    dead_letter(&dead_letters, &dl_codec, &dl_topic, &topic, partition, offset, &payload, reason, &detail, &shutdown)
                        .await
                        .context("writing a dead letter")?;
                }
                put_back(&shared, worker);
            }
        }
    }

    tracing::info!("shutting down: checkpointing every partition");
    let partitions: Vec<i32> = lock(&shared.workers).keys().copied().collect();
    let commits = drain(&shared, &partitions).await;
    commit(&consumer, &topic, &commits, CommitMode::Sync);
    metrics.up.set(0.0);
    Ok(())
}

/// Take the partition's worker out of the shared map (so no lock is held across awaits),
/// restoring it from its checkpoint the first time.
async fn take_or_restore(shared: &Shared, partition: i32) -> anyhow::Result<PartitionWorker> {
    if let Some(w) = lock(&shared.workers).remove(&partition) {
        return Ok(w);
    }
    let started = Instant::now();
    let worker = PartitionWorker::restore(
        partition,
        &shared.store,
        &shared.sink,
        shared.engine_config.clone(),
        shared.brands.clone(),
        &shared.metrics,
        &shared.shutdown,
    )
    .await
    .with_context(|| {
        format!(
            "restoring partition {partition} of {} (group {})",
            shared.topic, shared.group
        )
    })?;
    shared
        .metrics
        .restore_seconds
        .observe(started.elapsed().as_secs_f64());
    tracing::info!(
        partition,
        next_offset = worker.next_offset,
        restore_ms = started.elapsed().as_millis() as u64,
        "partition restored"
    );
    Ok(worker)
}

fn put_back(shared: &Shared, worker: PartitionWorker) {
    let mut workers = lock(&shared.workers);
    workers.insert(worker.partition, worker);
    shared.metrics.assigned_partitions.set(workers.len() as i64);
}

/// Flushes and checkpoints that are due; returns offsets to commit.
async fn periodic(shared: &Shared) -> Vec<(i32, i64)> {
    // Restore assigned partitions that have not had a record yet: a partition whose checkpoint
    // is at its end gets none, and still has to apply the events it holds back for lateness.
    let missing: Vec<i32> = {
        let workers = lock(&shared.workers);
        lock(&shared.assigned)
            .iter()
            .copied()
            .filter(|p| !workers.contains_key(p))
            .collect()
    };
    for p in missing {
        match take_or_restore(shared, p).await {
            Ok(w) if lock(&shared.assigned).contains(&p) => put_back(shared, w),
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(partition = p, error = %format!("{error:#}"), "cannot restore an assigned partition")
            }
        }
    }
    // Take every worker out of the map so no lock is held across the awaits below.
    let mut workers: Vec<PartitionWorker> = lock(&shared.workers).drain().map(|(_, w)| w).collect();
    let settings = &shared.settings;
    let mut flush = false;
    for w in &mut workers {
        if w.wants_idle_advance(settings) && caught_up(shared, w.partition, w.next_offset) {
            w.advance_idle();
            flush = true;
        }
        flush |= w.flush_due(settings) || w.checkpoint_due(settings);
    }
    let mut written = true;
    if flush {
        // One write for every partition (one insert per table), not one per partition.
        for w in &mut workers {
            w.stage();
        }
        let batches: Vec<&sink::Batch> = workers
            .iter()
            .map(PartitionWorker::batch)
            .filter(|b| !b.is_empty())
            .collect();
        if !batches.is_empty() {
            if let Err(error) = shared.sink.write_until_ok(&batches, &shared.shutdown).await {
                tracing::warn!(%error, "periodic flush interrupted");
                written = false;
            }
        }
        if written {
            for w in &mut workers {
                w.mark_flushed();
            }
        }
    }
    let mut commits = Vec::new();
    if written {
        for w in &mut workers {
            if w.checkpoint_due(settings) {
                checkpoint_into(shared, w, &mut commits, "periodic").await;
            }
        }
    }
    for w in workers {
        put_back(shared, w);
    }
    commits
}

/// Whether `partition` has consumed the whole log, by the high watermark librdkafka reported
/// in its last statistics (every second). Without a report, it is not caught up.
fn caught_up(shared: &Shared, partition: i32, next_offset: i64) -> bool {
    lock(&shared.high_watermarks)
        .get(&partition)
        .is_some_and(|&high| high >= 0 && next_offset >= high)
}

/// Live gauges for configured brands, summed over this replica's partitions.
fn publish_gauges(shared: &Shared) {
    let known: std::collections::HashSet<&str> =
        shared.brands.iter().map(|b| b.brand_id.as_str()).collect();
    let mut agg: BTreeMap<(String, &'static str), partition::GaugeAgg> = BTreeMap::new();
    let now = now_secs();
    let mut workers = lock(&shared.workers);
    for w in workers.values_mut() {
        let delay = f64::from(now) - (w.engine.watermark().max(0) as f64 / 1000.0);
        if w.engine.watermark() > 0 {
            shared
                .metrics
                .watermark_delay
                .with_label_values(&[&w.partition.to_string()])
                .set(delay);
        }
        for g in w.engine.live_gauges() {
            if !known.contains(g.brand_id.as_str()) {
                continue;
            }
            agg.entry((g.brand_id.clone(), g.platform.as_str()))
                .or_default()
                .add(&g);
        }
    }
    drop(workers);
    let m = &shared.metrics;
    for ((brand, platform), a) in agg {
        let l = [brand.as_str(), platform];
        m.brand_pending
            .with_label_values(&l)
            .set(i64::from(a.pending));
        m.brand_oldest_pending
            .with_label_values(&l)
            .set(i64::from(a.oldest));
        m.brand_breaching_sla
            .with_label_values(&l)
            .set(i64::from(a.breaching));
        m.brand_threads_24h_old_7d
            .with_label_values(&l)
            .set(i64::from(a.old_7d));
        m.brand_answered_24h_7d
            .with_label_values(&l)
            .set(i64::from(a.answered_7d));
        if a.old_7d > 0 {
            m.brand_response_rate
                .with_label_values(&l)
                .set(f64::from(a.answered_7d) / f64::from(a.old_7d));
        }
        if let Some(q) = a.frt_quantile(0.5) {
            m.brand_frt_p50.with_label_values(&l).set(q);
        }
        if let Some(q) = a.frt_quantile(0.9) {
            m.brand_frt_p90.with_label_values(&l).set(q);
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn dead_letter(
    producer: &FutureProducer,
    codec: &DeadLetterCodec,
    dl_topic: &str,
    source_topic: &str,
    partition: i32,
    offset: i64,
    payload: &[u8],
    reason: &'static str,
    detail: &str,
    shutdown: &Shutdown,
) -> anyhow::Result<()> {
    let letter = DeadLetter {
        dead_letter_id: format!("process:{source_topic}:{partition}:{offset}"),
        stage: Stage::Process,
        reason: reason.to_owned(),
        detail: detail.to_owned(),
        source: source_topic.to_owned(),
        headers: BTreeMap::new(),
        payload: payload.to_vec(),
        partition: Some(partition),
        offset: Some(offset),
        occurred_at: i64::from(now_secs()) * 1000,
    };
    let bytes = codec.encode(&letter).context("encoding a dead letter")?;
    let key = format!("{source_topic}:{partition}");
    let mut delay = Duration::from_millis(100);
    loop {
        let record = FutureRecord::to(dl_topic).key(&key).payload(&bytes);
        match producer.send(record, Duration::from_secs(30)).await {
            Ok(_) => return Ok(()),
            Err((error, _)) => {
                tracing::warn!(%error, "dead-letter produce failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.wait() => anyhow::bail!("shutdown while the dead-letter topic was unreachable"),
                }
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// `rapport process`: the admin port, signal handling, and [`run`] until SIGTERM/SIGINT.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let registry = prometheus::Registry::new();
    let health = Health::new();
    let shutdown = Shutdown::new();
    shutdown.cancel_on_signals();
    let admin = rapport_runtime::AdminState {
        registry: registry.clone(),
        health: health.clone(),
    };
    let (addr, admin_task) =
        rapport_runtime::serve_admin(config.admin.listen, admin, shutdown.clone())
            .await
            .with_context(|| format!("binding the admin port {}", config.admin.listen))?;
    tracing::info!(%addr, "admin endpoints: /metrics /health/live /health/ready");
    let result = run(&config, &registry, &health, shutdown.clone()).await;
    health.begin_shutdown();
    shutdown.trigger();
    if let Ok(Err(error)) = admin_task.await {
        tracing::warn!(%error, "admin server ended with an error");
    }
    result
}
