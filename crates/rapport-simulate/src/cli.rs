//! The `rapport simulate` command line: arguments and what each mode does (print the matching
//! configuration, write deliveries to a file, replay a file, or generate and send).

use std::io::{BufReader, BufWriter};
use std::path::PathBuf;

use chrono::{DateTime, Utc};

use crate::{generate, read_jsonl, send, write_jsonl, Pace, SendOptions, SimConfig, SimError};

/// Simulated webhook traffic of brands with known behaviour, signed like the platforms sign it.
#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    /// Base URL of the ingest service.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Brands to simulate; personas cycle broadcaster, responsive, templated, influencer-favouring.
    #[arg(long, default_value_t = 4)]
    pub brands: usize,
    /// Days of traffic, ending at --end.
    #[arg(long, default_value_t = 30)]
    pub days: u32,
    /// Seed: the same seed (with the same --end) gives the same bytes.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// End of the simulated window, RFC 3339 (default: now).
    #[arg(long)]
    pub end: Option<String>,
    /// Inbound threads per brand per day, on average.
    #[arg(long, default_value_t = 24.0)]
    pub threads_per_day: f64,
    /// Compress time: simulated time runs this many times faster (3600 = an hour a second).
    #[arg(long, conflicts_with = "as_fast_as_possible")]
    pub speed: Option<f64>,
    /// Send without waiting between deliveries (the default when --speed is not given).
    #[arg(long)]
    pub as_fast_as_possible: bool,
    /// Connections to the ingest service (requests in flight).
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Write the deliveries as JSON lines to FILE instead of sending them.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Send the deliveries of a file written with --out (generic ones are signed again).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["out", "print_config"])]
    pub replay: Option<PathBuf>,
    /// Print the [[brands]] and [ingest.*] configuration matching the simulation and exit.
    #[arg(long)]
    pub print_config: bool,
}

fn sim_config(args: &SimulateArgs) -> Result<SimConfig, SimError> {
    let end = match &args.end {
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map_err(|e| SimError::Config(format!("--end `{text}`: {e}")))?
            .with_timezone(&Utc),
        None => Utc::now(),
    };
    let mut cfg = SimConfig::new(args.brands, args.days, args.seed, end)?;
    if !(args.threads_per_day > 0.0 && args.threads_per_day <= 10_000.0) {
        return Err(SimError::Config(format!(
            "--threads-per-day must be in (0, 10000], not {}",
            args.threads_per_day
        )));
    }
    cfg.threads_per_day = args.threads_per_day;
    Ok(cfg)
}

/// Run `rapport simulate`.
pub async fn run(args: SimulateArgs) -> Result<(), SimError> {
    let cfg = sim_config(&args)?;
    if args.print_config {
        print!("{}", cfg.to_toml());
        return Ok(());
    }
    let deliveries = match &args.replay {
        Some(path) => {
            let file = std::fs::File::open(path).map_err(SimError::Io)?;
            read_jsonl(BufReader::new(file))?
        }
        None => generate(&cfg)?,
    };
    if let Some(path) = &args.out {
        let file = std::fs::File::create(path).map_err(SimError::Io)?;
        write_jsonl(BufWriter::new(file), &deliveries)?;
        eprintln!(
            "simulate: wrote {} deliveries to {}",
            deliveries.len(),
            path.display()
        );
        return Ok(());
    }
    let pace = match args.speed {
        Some(s) if s > 0.0 && s.is_finite() => Pace::Speed(s),
        Some(s) => {
            return Err(SimError::Config(format!(
                "--speed must be positive, not {s}"
            )))
        }
        None => Pace::AsFastAsPossible,
    };
    let report = send(
        deliveries,
        SendOptions {
            url: args.url.clone(),
            concurrency: args.concurrency,
            pace,
            generic_secret: Some(cfg.secrets.generic_secret.clone().into_bytes()),
            max_attempts: 6,
            progress: true,
        },
    )
    .await?;
    eprintln!(
        "simulate: {} of {} deliveries accepted (2xx) in {:.1}s, {} retries, {} failed",
        report.successes(),
        report.total,
        report.elapsed.as_secs_f64(),
        report.retries,
        report.failed
    );
    Ok(())
}
