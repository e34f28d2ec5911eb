//! The processor's Prometheus metrics, registered once. Labels are bounded: table names,
//! outcomes, Kafka partitions (bounded by the topic), and brand/platform only for brands in
//! the configuration. How to aggregate them across replicas: docs/TELEMETRY.md.

use prometheus::{Gauge, GaugeVec};
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

#[derive(Clone)]
pub struct Metrics {
    pub records: IntCounterVec,
    pub rows_written: IntCounterVec,
    pub insert_seconds: HistogramVec,
    pub insert_failures: IntCounter,
    pub checkpoints: IntCounter,
    pub checkpoint_seconds: Histogram,
    pub restore_seconds: Histogram,
    pub state_bytes: IntGaugeVec,
    pub watermark_delay: GaugeVec,
    pub consumer_lag: IntGaugeVec,
    pub assigned_partitions: IntGauge,
    pub brand_pending: IntGaugeVec,
    pub brand_oldest_pending: IntGaugeVec,
    pub brand_breaching_sla: IntGaugeVec,
    pub brand_threads_24h_old_7d: IntGaugeVec,
    pub brand_answered_24h_7d: IntGaugeVec,
    pub brand_response_rate: GaugeVec,
    pub brand_frt_p50: GaugeVec,
    pub brand_frt_p90: GaugeVec,
    pub up: Gauge,
}

fn err(e: prometheus::Error) -> anyhow::Error {
    anyhow::anyhow!("registering processor metrics: {e}")
}

impl Metrics {
    pub fn register(registry: &Registry) -> anyhow::Result<Metrics> {
        let brand = &["brand", "platform"];
        let m = Metrics {
            records: IntCounterVec::new(
                Opts::new(
                    "rapport_process_records_total",
                    "Kafka records handled, by outcome",
                ),
                &["outcome"],
            )
            .map_err(err)?,
            rows_written: IntCounterVec::new(
                Opts::new(
                    "rapport_process_rows_written_total",
                    "Rows inserted into ClickHouse, by table",
                ),
                &["table"],
            )
            .map_err(err)?,
            insert_seconds: HistogramVec::new(
                HistogramOpts::new(
                    "rapport_process_insert_duration_seconds",
                    "Duration of one ClickHouse insert",
                )
                .buckets(vec![
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ]),
                &["table"],
            )
            .map_err(err)?,
            insert_failures: IntCounter::new(
                "rapport_process_insert_failures_total",
                "Failed ClickHouse writes (retried with backoff)",
            )
            .map_err(err)?,
            checkpoints: IntCounter::new("rapport_process_checkpoints_total", "Checkpoints saved")
                .map_err(err)?,
            checkpoint_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "rapport_process_checkpoint_duration_seconds",
                    "Time to snapshot and save one partition's state",
                )
                .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
            )
            .map_err(err)?,
            restore_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "rapport_process_restore_duration_seconds",
                    "Time to load and restore one partition's state",
                )
                .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
            )
            .map_err(err)?,
            state_bytes: IntGaugeVec::new(
                Opts::new(
                    "rapport_process_state_bytes",
                    "Size of the last checkpoint, per partition",
                ),
                &["partition"],
            )
            .map_err(err)?,
            watermark_delay: GaugeVec::new(
                Opts::new(
                    "rapport_process_watermark_delay_seconds",
                    "Wall clock minus the engine watermark, per partition",
                ),
                &["partition"],
            )
            .map_err(err)?,
            consumer_lag: IntGaugeVec::new(
                Opts::new(
                    "rapport_process_consumer_lag_records",
                    "Records behind the partition's end",
                ),
                &["partition"],
            )
            .map_err(err)?,
            assigned_partitions: IntGauge::new(
                "rapport_process_assigned_partitions",
                "Partitions this processor owns",
            )
            .map_err(err)?,
            brand_pending: IntGaugeVec::new(
                Opts::new(
                    "rapport_brand_pending_threads",
                    "Threads awaiting the brand at the watermark",
                ),
                brand,
            )
            .map_err(err)?,
            brand_oldest_pending: IntGaugeVec::new(
                Opts::new(
                    "rapport_brand_oldest_pending_seconds",
                    "Age of the oldest thread awaiting the brand",
                ),
                brand,
            )
            .map_err(err)?,
            brand_breaching_sla: IntGaugeVec::new(
                Opts::new(
                    "rapport_brand_breaching_sla_threads",
                    "Pending threads older than the brand's SLA target",
                ),
                brand,
            )
            .map_err(err)?,
            brand_threads_24h_old_7d: IntGaugeVec::new(
                Opts::new(
                    "rapport_brand_threads_24h_old_7d_threads",
                    "Threads opened in the last 7 days that are at least 24 h old",
                ),
                brand,
            )
            .map_err(err)?,
            brand_answered_24h_7d: IntGaugeVec::new(
                Opts::new(
                    "rapport_brand_answered_within_24h_7d_threads",
                    "Of those, threads answered within 24 h",
                ),
                brand,
            )
            .map_err(err)?,
            brand_response_rate: GaugeVec::new(
                Opts::new(
                    "rapport_brand_response_rate_24h_7d_ratio",
                    "Rolling 7-day response rate within 24 h (this replica's partitions)",
                ),
                brand,
            )
            .map_err(err)?,
            brand_frt_p50: GaugeVec::new(
                Opts::new(
                    "rapport_brand_frt_p50_7d_seconds",
                    "Rolling 7-day median first response time (sketch, <=1% error; this replica)",
                ),
                brand,
            )
            .map_err(err)?,
            brand_frt_p90: GaugeVec::new(
                Opts::new(
                    "rapport_brand_frt_p90_7d_seconds",
                    "Rolling 7-day p90 first response time (sketch, <=1% error; this replica)",
                ),
                brand,
            )
            .map_err(err)?,
            up: Gauge::new(
                "rapport_process_up_ratio",
                "1 while the processor loop runs",
            )
            .map_err(err)?,
        };
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(m.records.clone()),
            Box::new(m.rows_written.clone()),
            Box::new(m.insert_seconds.clone()),
            Box::new(m.insert_failures.clone()),
            Box::new(m.checkpoints.clone()),
            Box::new(m.checkpoint_seconds.clone()),
            Box::new(m.restore_seconds.clone()),
            Box::new(m.state_bytes.clone()),
            Box::new(m.watermark_delay.clone()),
            Box::new(m.consumer_lag.clone()),
            Box::new(m.assigned_partitions.clone()),
            Box::new(m.brand_pending.clone()),
            Box::new(m.brand_oldest_pending.clone()),
            Box::new(m.brand_breaching_sla.clone()),
            Box::new(m.brand_threads_24h_old_7d.clone()),
            Box::new(m.brand_answered_24h_7d.clone()),
            Box::new(m.brand_response_rate.clone()),
            Box::new(m.brand_frt_p50.clone()),
            Box::new(m.brand_frt_p90.clone()),
            Box::new(m.up.clone()),
        ];
        for c in collectors {
            registry.register(c).map_err(err)?;
        }
        Ok(m)
    }
}
