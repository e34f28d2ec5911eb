//! Writes the seed corpus of every fuzz target from the platforms' real payloads, so seeds
//! follow the samples and the Avro schemas instead of being committed copies that go stale:
//! webhook samples by platform, the generic JSON Schema's examples, and Avro records (with and
//! without the single-object header) of the events those payloads normalize to plus dead
//! letters that carry them.
//!
//! Usage: `rapport-fuzz-seed <samples dir> <output dir>`; writes `<output>/<target>/<name>`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rapport_events::{DeadLetter, DeadLetterCodec, EventCodec, FastAvro, Stage};
use rapport_fuzz_common::{directory, RECEIVED_AT};
use rapport_ingest::{normalize, Endpoint};

const GENERIC_SCHEMA: &str = include_str!("../../../schemas/json/generic_event.v1.schema.json");

/// The fuzz target that reads a sample, and the endpoints it is posted to.
fn route(name: &str) -> Option<(&'static str, Vec<Endpoint>)> {
    let mastodon = || {
        vec![
            Endpoint::Mastodon { account_id: None },
            Endpoint::Mastodon {
                account_id: Some("109348677773283527".into()),
            },
        ]
    };
    if name.contains("signature") || !name.ends_with(".json") {
        None
    } else if name.starts_with("meta-") || name.starts_with("instagram-") {
        Some(("ingest_meta", vec![Endpoint::Meta]))
    } else if name.starts_with("x-") {
        Some(("ingest_x", vec![Endpoint::X]))
    } else if name.starts_with("mastodon-") {
        Some(("ingest_mastodon", mastodon()))
    } else {
        None
    }
}

fn write(out: &Path, target: &str, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let dir = out.join(target);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(name), bytes)
}

fn run(samples: &Path, out: &Path) -> Result<BTreeMap<&'static str, usize>, String> {
    let io = |what: &str, e: std::io::Error| format!("{what}: {e}");
    let mut counts = BTreeMap::new();
    let directory = directory();
    let events = EventCodec::new();
    let dead_letters = DeadLetterCodec::new();
    let mut add = |target: &'static str, name: &str, bytes: &[u8]| -> Result<(), String> {
        *counts.entry(target).or_insert(0) += 1;
        write(out, target, name, bytes).map_err(|e| io(name, e))
    };

    let mut names: Vec<String> = std::fs::read_dir(samples)
        .map_err(|e| io(&samples.display().to_string(), e))?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    for name in &names {
        let Some((target, endpoints)) = route(name) else {
            continue;
        };
        let body = std::fs::read(samples.join(name)).map_err(|e| io(name, e))?;
        add(target, name, &body)?;
        for (i, endpoint) in endpoints.iter().enumerate() {
            // Samples of events rapport does not measure normalize to nothing; that is fine.
            let normalized =
                normalize(endpoint, &body, RECEIVED_AT, &directory).unwrap_or_default();
            for (j, event) in normalized.iter().enumerate() {
                let record = events.encode(event).map_err(|e| e.to_string())?;
                let stem = format!("{name}.{i}.{j}");
                add("avro_decode", &format!("{stem}.event.avro"), &record)?;
                let mut datum = Vec::new();
                event.encode_datum(&mut datum);
                add("avro_differential", &format!("{stem}.event.avro"), &datum)?;
            }
        }
        let dead_letter = DeadLetter {
            dead_letter_id: format!("seed-{name}"),
            stage: Stage::Ingest,
            reason: "malformed".into(),
            detail: "seed".into(),
            source: format!("/webhooks/{target}"),
            headers: [
                ("content-type".to_owned(), "application/json".to_owned()),
                ("user-agent".to_owned(), "seed".to_owned()),
            ]
            .into(),
            payload: body,
            partition: Some(0),
            offset: Some(names.len() as i64),
            occurred_at: RECEIVED_AT,
        };
        let record = dead_letters
            .encode(&dead_letter)
            .map_err(|e| e.to_string())?;
        add("avro_decode", &format!("{name}.dead_letter.avro"), &record)?;
        let mut datum = Vec::new();
        dead_letter.encode_datum(&mut datum);
        add(
            "avro_differential",
            &format!("{name}.dead_letter.avro"),
            &datum,
        )?;
    }

    let schema: serde_json::Value =
        serde_json::from_str(GENERIC_SCHEMA).map_err(|e| format!("generic schema: {e}"))?;
    let examples = schema["examples"]
        .as_array()
        .ok_or("the generic schema has no examples")?;
    for (i, example) in examples.iter().enumerate() {
        add(
            "ingest_generic",
            &format!("schema-example-{i}.json"),
            example.to_string().as_bytes(),
        )?;
    }
    Ok(counts)
}

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [samples, out] = args.as_slice() else {
        eprintln!("usage: rapport-fuzz-seed <samples dir> <output dir>");
        return ExitCode::from(2);
    };
    match run(samples, out) {
        Ok(counts) => {
            for (target, n) in counts {
                println!("seeds: {target}: {n}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rapport-fuzz-seed: {e}");
            ExitCode::FAILURE
        }
    }
}
