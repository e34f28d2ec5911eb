//! Golden scenarios under `tests/golden/<case>/`: `events.jsonl` (input, in arrival order),
//! `case.json` (brands, final watermark, what the case is about), and the expected final
//! `threads` and `brand_daily` contents (`expected_threads.json`, `expected_daily.json`).
//! `RAPPORT_BLESS=1 cargo test -p rapport-engine --test golden` rewrites the expected files;
//! every expected file was checked by hand against METRICS.md before it was committed (see
//! `tests/golden/README.md`).

mod common;

use std::path::{Path, PathBuf};

use common::{ms, Tables};
use rapport_engine::{BrandSettings, DailyRow, Engine, EngineConfig, ThreadRow};
use rapport_events::InteractionEvent;
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    #[allow(dead_code)]
    note: String,
    brands: Vec<BrandSettings>,
    final_watermark: String,
}

fn run(dir: &Path, drain_every_event: bool) -> (Vec<ThreadRow>, Vec<DailyRow>) {
    let case: Case =
        serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap();
    let events: Vec<InteractionEvent> = std::fs::read_to_string(dir.join("events.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut engine = Engine::new(EngineConfig::default(), case.brands).unwrap();
    let mut tables = Tables::default();
    for e in &events {
        engine.process(e);
        if drain_every_event {
            tables.apply(engine.drain_output());
        }
    }
    engine.advance_watermark(ms(&case.final_watermark));
    tables.apply(engine.drain_output());
    let mut threads: Vec<ThreadRow> = tables.threads.into_values().collect();
    threads.sort_by(|a, b| (a.opened_at, &a.user_id).cmp(&(b.opened_at, &b.user_id)));
    let daily: Vec<DailyRow> = tables.daily.into_values().collect();
    (threads, daily)
}

fn check<T: serde::Serialize>(path: PathBuf, actual: &T) -> Result<(), String> {
    let text = serde_json::to_string_pretty(actual).unwrap() + "\n";
    if std::env::var("RAPPORT_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, text).unwrap();
        return Ok(());
    }
    let expected = std::fs::read_to_string(&path)
        .map_err(|e| format!("{}: {e} (run with RAPPORT_BLESS=1 once)", path.display()))?;
    let (a, e): (serde_json::Value, serde_json::Value) = (
        serde_json::from_str(&text).unwrap(),
        serde_json::from_str(&expected).unwrap(),
    );
    if a != e {
        return Err(format!(
            "{} differs.\n--- expected\n{expected}\n--- actual\n{text}",
            path.display()
        ));
    }
    Ok(())
}

#[test]
fn golden_cases() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("events.jsonl").exists())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 8,
        "golden cases missing under {}",
        root.display()
    );
    let mut failures = Vec::new();
    for dir in &dirs {
        let (threads, daily) = run(dir, true);
        // Draining only once at the end must leave the same final tables.
        assert_eq!(
            (threads.clone(), daily.clone()),
            run(dir, false),
            "{}: result depends on the drain schedule",
            dir.display()
        );
        for r in [
            check(dir.join("expected_threads.json"), &threads),
            check(dir.join("expected_daily.json"), &daily),
        ] {
            if let Err(e) = r {
                failures.push(e);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
