//! What every sample becomes through every endpoint, pinned: event ids, partition keys and a
//! digest of the Avro record. Event ids are stored downstream and deduplicate platform retries,
//! so a change to how an adapter assembles them (or to the hash) must show up here, not in a
//! warehouse. `event_ids.golden` was recorded before the adapters read ids borrowed from the
//! JSON tree and before SHA-256 moved to ring; record it again only for an intended change:
//! `RAPPORT_RECORD_GOLDEN=1 cargo test -p rapport-ingest --test it event_ids`.

use rapport_events::EventCodec;
use rapport_ingest::{normalize, Endpoint};
use sha2::Digest as _;

use crate::common::{directory, RECEIVED_AT, SAMPLES};

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/event_ids.golden");

/// One line per event (or one per refused delivery) of every sample through every endpoint.
fn outcomes() -> String {
    let mut names: Vec<String> = std::fs::read_dir(SAMPLES)
        .expect("samples folder")
        .map(|entry| {
            entry
                .expect("sample entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".json"))
        .collect();
    names.sort();
    let endpoints = [
        ("meta", Endpoint::Meta),
        ("x", Endpoint::X),
        ("mastodon", Endpoint::Mastodon { account_id: None }),
        (
            "mastodon/109348677773283527",
            Endpoint::Mastodon {
                account_id: Some("109348677773283527".into()),
            },
        ),
        ("generic", Endpoint::Generic),
    ];
    let directory = directory();
    let codec = EventCodec::new();
    let mut out = String::new();
    for name in &names {
        let body = std::fs::read(format!("{SAMPLES}{name}")).expect("sample");
        for (label, endpoint) in &endpoints {
            match normalize(endpoint, &body, RECEIVED_AT, &directory) {
                Err(_) => out.push_str(&format!("{name} {label} refused\n")),
                Ok(events) => {
                    for (i, event) in events.iter().enumerate() {
                        let avro = codec.encode(event).expect("encodable event");
                        out.push_str(&format!(
                            "{name} {label} {i} {} {} {}\n",
                            event.event_id,
                            event.partition_key(),
                            hex::encode(&sha2::Sha256::digest(&avro)[..8]),
                        ));
                    }
                }
            }
        }
    }
    out
}

#[test]
fn every_sample_keeps_its_event_ids_keys_and_avro_bytes() {
    let now = outcomes();
    if std::env::var_os("RAPPORT_RECORD_GOLDEN").is_some() {
        std::fs::write(GOLDEN, &now).expect("write the golden file");
        return;
    }
    let recorded = std::fs::read_to_string(GOLDEN).expect("event_ids.golden");
    // The samples produce events (not only refusals), or this pins nothing.
    assert!(
        recorded
            .lines()
            .filter(|l| !l.ends_with(" refused"))
            .count()
            > 40
    );
    for (line, (was, is)) in recorded.lines().zip(now.lines()).enumerate() {
        assert_eq!(is, was, "line {} of event_ids.golden", line + 1);
    }
    assert_eq!(now.lines().count(), recorded.lines().count());
}
