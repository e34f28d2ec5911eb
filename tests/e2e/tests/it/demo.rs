//! The quick start's demo in its short mode (`deploy/local/demo --short`): the real script,
//! the real `rapport` binary (ingest, processor, simulate, report) and the shared local stack,
//! with the demo's own database, topics, consumer group and free ports, so it runs beside a
//! user's demo and other tests. It asserts what the demo promises: the scorecards tell the four
//! personas apart.
//!
//! `RAPPORT_DEMO_TEST_SEED` (default 42) picks the simulation seed, to check other seeds by hand.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use rapport_e2e::tables::drop_database;
use rapport_e2e::{clickhouse_config, kafka_config, unique_name};

use rapport_e2e::rapport_bin;

/// `persona → brand id`, from the `# persona: …` comment above each `[[brands]]` block of the
/// configuration the demo wrote.
fn personas(config: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut persona = None;
    for line in config.lines() {
        if let Some(p) = line.strip_prefix("# persona: ") {
            persona = Some(p.trim().to_owned());
        } else if let (Some(id), Some(p)) = (
            line.strip_prefix("id = \"")
                .and_then(|rest| rest.strip_suffix('"')),
            persona.as_ref(),
        ) {
            out.insert(p.clone(), id.to_owned());
            persona = None;
        }
    }
    out
}

#[tokio::test]
async fn demo_short_mode_scorecards_order_the_personas() {
    let seed = std::env::var("RAPPORT_DEMO_TEST_SEED").unwrap_or_else(|_| "42".into());
    let dir = tempfile::tempdir().expect("temp dir");
    let ch = clickhouse_config("demo");
    let tag = unique_name("demo").replace(['.', '_'], "-");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/local/demo");
    let mut cmd = Command::new("bash");
    cmd.arg(&script).arg("--short");
    // Only the demo's own settings: no RAPPORT_* override from the environment may redirect it.
    for (k, _) in std::env::vars() {
        if k.starts_with("RAPPORT_") || k.starts_with("DEMO_") {
            cmd.env_remove(k);
        }
    }
    // The stack the other tests use (RAPPORT_TEST_* or the local defaults).
    let port = |url: &str| {
        url.rsplit(':')
            .next()
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_owned()
    };
    let out = cmd
        .env("RAPPORT_LOCAL_KAFKA_PORT", port(&kafka_config().brokers))
        .env("RAPPORT_LOCAL_CH_HTTP_PORT", port(&ch.url))
        .env("DEMO_BIN", rapport_bin())
        .env("DEMO_DIR", dir.path())
        .env("DEMO_SEED", &seed)
        .env("DEMO_DATABASE", &ch.database)
        .env("DEMO_TOPIC_PREFIX", format!("rapport.{tag}"))
        .env("DEMO_GROUP", format!("rapport-{tag}"))
        .output()
        .expect("run deploy/local/demo --short");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "demo --short failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    println!("{stdout}");

    // The scorecards as `rapport report --format json` gives them.
    let config_path = dir.path().join("rapport.toml");
    let config = std::fs::read_to_string(&config_path).expect("the demo wrote its config");
    let brands = personas(&config);
    assert_eq!(brands.len(), 4, "four personas in {config}");
    let mut report = Command::new(rapport_bin());
    report.arg("--config").arg(&config_path).arg("report");
    for id in brands.values() {
        report.args(["--brand", id]);
    }
    let json = report
        .args(["--format", "json"])
        .output()
        .expect("run rapport report");
    assert!(
        json.status.success(),
        "rapport report failed: {}",
        String::from_utf8_lossy(&json.stderr)
    );
    let cards: Vec<serde_json::Value> =
        serde_json::from_slice(&json.stdout).expect("report --format json is a JSON array");
    let figure = |persona: &str, name: &str| -> f64 {
        let id = &brands[persona];
        let card = cards
            .iter()
            .find(|c| c["brand_id"] == id.as_str())
            .unwrap_or_else(|| panic!("no scorecard for {id}"));
        card[name]
            .as_f64()
            .unwrap_or_else(|| panic!("{persona} ({id}) has no {name}: {card}"))
    };

    let order = [
        "responsive",
        "templated",
        "influencer-favouring",
        "broadcaster",
    ];
    let rates: Vec<f64> = order
        .iter()
        .map(|p| figure(p, "response_rate_24h"))
        .collect();
    for (pair, rate) in order.windows(2).zip(rates.windows(2)) {
        assert!(
            rate[0] > rate[1],
            "seed {seed}: response_rate_24h of {} ({}) must exceed {} ({}); all: {rates:?}",
            pair[0],
            rate[0],
            pair[1],
            rate[1]
        );
    }
    let templated = figure("templated", "templated_share");
    for other in ["responsive", "influencer-favouring", "broadcaster"] {
        let share = figure(other, "templated_share");
        assert!(
            templated > share,
            "seed {seed}: templated_share of templated ({templated}) must exceed {other}'s ({share})"
        );
    }
    // The responsive brand answers fast; the broadcaster follows almost nobody back.
    assert!(figure("responsive", "frt_p50_seconds") < 3_600.0);
    assert!(
        figure("responsive", "engager_follow_back_rate")
            > figure("broadcaster", "engager_follow_back_rate")
    );

    drop_database(&ch).await;
}
