//! `rapport`: parses the command line, loads and validates the configuration, sets up logging,
//! and hands over to the library code of the chosen subcommand. Nothing else lives here.

/// `println!` for command output: a closed stdout (`rapport report | head`) ends the process
/// quietly instead of panicking, as command-line tools do.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(error) = writeln!(std::io::stdout().lock(), $($arg)*) {
            $crate::stdout_failed(error);
        }
    }};
}

mod report;

/// mimalloc instead of glibc malloc: `rapport ingest` allocates a fresh HTTP read buffer, a JSON
/// tree and an event per webhook from several threads, and glibc spent ~15% of the service's
/// CPU in `malloc`/`free` (a large share in `malloc_consolidate`) at 3,000 webhooks/s.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use rapport_runtime::config::Config;

/// rapport: how reciprocal and responsive brands really are on social media.
///
/// Platform webhooks in, Avro events on Kafka, rolling reciprocity and response metrics out to
/// ClickHouse and Prometheus.
#[derive(Debug, Parser)]
#[command(name = "rapport", version, about, long_about)]
struct Cli {
    /// Configuration file (TOML). Every key can also be set as RAPPORT_<SECTION>__<KEY>.
    #[arg(
        long,
        short,
        global = true,
        env = "RAPPORT_CONFIG",
        value_name = "FILE"
    )]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the ClickHouse database and apply pending migrations (safe to rerun).
    Migrate,
    /// Create the Kafka topics (interactions, dead letters) if they do not exist.
    Topics,
    /// Validate the configuration and print a summary (secrets are never printed).
    CheckConfig,
    /// Consume interaction events, compute the metrics and write them to ClickHouse, with the
    /// admin port ([admin].listen), until SIGTERM/SIGINT.
    Process,
    /// Print a brand's scorecard, computed in ClickHouse (every figure of METRICS.md).
    Report(report::ReportArgs),
    /// Serve the platform webhooks ([ingest].listen) and the admin port ([admin].listen) until
    /// SIGTERM/SIGINT, producing every event to Kafka before answering 2xx.
    Ingest,
    /// Benchmark a running `rapport ingest`: signed Meta deliveries at fixed arrival rates
    /// (open loop, keep-alive HTTP/1.1), then the raw producer ceiling on the same records.
    Loadgen(LoadgenArgs),
    /// Send a simulated month of signed webhook traffic from brands with known behaviour
    /// (personas) to a running `rapport ingest`; --print-config prints the matching brands.
    Simulate(rapport_simulate::SimulateArgs),
}

#[derive(Debug, clap::Args)]
struct LoadgenArgs {
    /// Base URL of the ingest service.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Arrival rates to run, one step each (webhooks per second), e.g. 1000,5000,10000.
    #[arg(long, value_delimiter = ',', default_value = "1000")]
    rate: Vec<u64>,
    /// Seconds per step.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Keep-alive connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Facebook Page id of a configured brand (default: the first brand with one).
    #[arg(long)]
    page_id: Option<String>,
    /// Report CPU per webhook of these processes, as NAME=PID (e.g. ingest=1234,tansu=987).
    #[arg(long, value_delimiter = ',')]
    watch: Vec<String>,
    /// After the HTTP steps, produce this many records with rdkafka alone (0 = skip).
    #[arg(long, default_value_t = 0)]
    producer_ceiling: u64,
}

fn stdout_failed(error: std::io::Error) -> ! {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("rapport: cannot write to stdout: {error}");
    std::process::exit(1);
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(err) => {
            eprintln!("rapport: {}", rapport_runtime::telemetry::error_chain(&err));
            return ExitCode::from(2);
        }
    };
    rapport_runtime::telemetry::init(&config.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("rapport: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %format!("{err:#}"), "rapport failed");
            eprintln!("rapport: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Migrate => {
            let server = rapport_clickhouse::server_client(&config.clickhouse);
            let applied = rapport_clickhouse::migrate(&server, &config.clickhouse.database)
                .await
                .with_context(|| format!("migrating ClickHouse at {}", config.clickhouse.url))?;
            out!(
                "database {}: {} migration(s) applied, {} known",
                config.clickhouse.database,
                applied.len(),
                rapport_clickhouse::MIGRATIONS.len()
            );
        }
        Command::Topics => {
            let k = &config.kafka;
            rapport_kafka::ensure_topics(
                k,
                &[&k.interactions_topic, &k.deadletter_topic],
                k.partitions,
            )
            .await
            .with_context(|| format!("creating topics on {}", k.brokers))?;
            out!(
                "topics {} and {} exist",
                k.interactions_topic,
                k.deadletter_topic
            );
        }
        Command::Ingest => rapport_ingest_service::run(config)
            .await
            .context("rapport ingest")?,
        Command::Loadgen(args) => loadgen(args, &config).await?,
        Command::Simulate(args) => rapport_simulate::run(args).await?,
        Command::Process => rapport_processor::serve(config)
            .await
            .context("rapport process")?,
        Command::Report(args) => report::run(args, &config).await?,
        Command::CheckConfig => {
            out!("configuration is valid");
            out!("  kafka brokers:     {}", config.kafka.brokers);
            out!(
                "  clickhouse:        {} (database {})",
                config.clickhouse.url,
                config.clickhouse.database
            );
            out!("  ingest listen:     {}", config.ingest.listen);
            out!("  admin listen:      {}", config.admin.listen);
            out!("  brands:            {}", config.brands.len());
            for b in &config.brands {
                let accounts: Vec<String> = b.accounts.keys().cloned().collect();
                out!("    {} ({}): {}", b.id, b.timezone, accounts.join(", "));
            }
        }
    }
    Ok(())
}

async fn loadgen(args: LoadgenArgs, config: &Config) -> anyhow::Result<()> {
    use rapport_ingest_service::loadgen;
    let meta_secret = config
        .ingest
        .meta
        .app_secret
        .iter()
        .next()
        .context("loadgen signs Meta deliveries: set ingest.meta.app_secret as the service has it")?
        .expose()
        .to_owned();
    let page_id = match args.page_id {
        Some(id) => id,
        None => config
            .brands
            .iter()
            .find_map(|b| b.accounts.get("facebook").cloned())
            .context("no brand has a facebook account; pass --page-id")?,
    };
    let watch_pids = args
        .watch
        .iter()
        .map(|w| {
            let (name, pid) = w.split_once('=').context("--watch takes NAME=PID")?;
            Ok((
                name.to_owned(),
                pid.parse().with_context(|| format!("pid in `{w}`"))?,
            ))
        })
        .collect::<anyhow::Result<Vec<(String, u32)>>>()?;
    let spec = loadgen::LoadSpec {
        url: args.url,
        duration: std::time::Duration::from_secs(args.duration),
        connections: args.connections,
        meta_secret,
        page_id: page_id.clone(),
        watch_pids: watch_pids.clone(),
    };
    for rate in args.rate {
        let report = loadgen::run_step(&spec, rate)
            .await
            .with_context(|| format!("load step at {rate}/s"))?;
        out!("{report}");
    }
    if args.producer_ceiling > 0 {
        let k = &config.kafka;
        let report = loadgen::producer_ceiling(
            k,
            &k.interactions_topic,
            args.producer_ceiling,
            &page_id,
            &watch_pids,
        )
        .await
        .context("raw producer ceiling")?;
        out!("{report}");
    }
    Ok(())
}
