//! The generic event shape: the JSON Schema's examples normalize, its enums are the Avro
//! symbols, its required fields are the ones the parser requires, and the rules the schema can
//! only describe are enforced.

use rapport_events::{Channel, Direction, Kind, Modifier, Platform};
use rapport_ingest::{normalize, Endpoint, IngestError};
use serde_json::{json, Value};

use crate::common::*;

const G: &Endpoint = &Endpoint::Generic;
const SCHEMA: &str = include_str!("../../../../schemas/json/generic_event.v1.schema.json");

fn schema() -> Value {
    serde_json::from_str(SCHEMA).unwrap()
}

fn run_json(v: &Value) -> Result<Vec<rapport_events::InteractionEvent>, IngestError> {
    normalize(G, v.to_string().as_bytes(), RECEIVED_AT, &directory())
}

fn first_example_event() -> Value {
    schema()["examples"][0].clone()
}

#[test]
fn every_schema_example_normalizes() {
    let examples = schema()["examples"].as_array().unwrap().clone();
    assert_eq!(examples.len(), 2);
    let single = run_json(&examples[0]).unwrap();
    assert_eq!(single.len(), 1);
    let e = &single[0];
    assert_eq!(
        (e.platform, e.brand_id.as_str()),
        (Platform::Linkedin, "acme")
    );
    assert_eq!(
        (e.kind, e.direction, e.channel),
        (Kind::Comment, Direction::Inbound, Channel::Public)
    );
    assert_eq!(e.user_id(), "urn:li:person:a1b2c3");
    assert_eq!(e.actor.followers, Some(310));
    assert_eq!(e.occurred_at, 1_772_445_600_000); // 2026-03-02T10:00:00Z
    assert_eq!(e.source, "generic.comment");

    let batch = run_json(&examples[1]).unwrap();
    assert_eq!(batch.len(), 2);
    let dm = &batch[0];
    assert_eq!(
        (dm.kind, dm.channel, dm.user_id()),
        (Kind::DirectMessage, Channel::Private, "3001969357")
    );
    assert_eq!(dm.occurred_at, 1_772_445_600_000); // epoch ms as given
    let snap = &batch[1];
    assert_eq!(snap.kind, Kind::ProfileSnapshot);
    assert_eq!(snap.occurred_at, 1_772_449_200_000); // 12:00+01:00 = 11:00Z
    let profile = snap.profile.unwrap();
    assert_eq!(
        (profile.followers, profile.following, profile.posts),
        (32_000, 422, Some(3_634))
    );
}

#[test]
fn schema_enums_are_the_avro_symbols() {
    let s = schema();
    let props = &s["$defs"]["event"]["properties"];
    let symbols = |name: &str| -> Vec<String> {
        props[name]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    let names = |all: &[&str]| all.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        symbols("platform"),
        names(&Platform::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>())
    );
    assert_eq!(
        symbols("kind"),
        names(&Kind::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>())
    );
    assert_eq!(
        symbols("modifier"),
        names(&Modifier::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>())
    );
    assert_eq!(
        symbols("direction"),
        names(
            &Direction::ALL
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
        )
    );
    assert_eq!(
        symbols("channel"),
        names(&Channel::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>())
    );
}

#[test]
fn each_required_field_is_required_and_unknown_fields_are_refused() {
    let s = schema();
    let required = s["$defs"]["event"]["required"].as_array().unwrap();
    for field in required {
        let mut event = first_example_event();
        event
            .as_object_mut()
            .unwrap()
            .remove(field.as_str().unwrap());
        let err = run_json(&event).unwrap_err();
        assert_eq!(err.status_code(), 400, "without {field}: {err}");
    }
    // And nothing else is required: the example minus every optional field still passes.
    let mut minimal = first_example_event();
    let keep: Vec<&str> = required.iter().map(|f| f.as_str().unwrap()).collect();
    minimal
        .as_object_mut()
        .unwrap()
        .retain(|k, _| keep.contains(&k.as_str()) || k == "brand_id");
    assert_eq!(run_json(&minimal).unwrap().len(), 1);

    let mut typo = first_example_event();
    typo["ocurred_at"] = json!(1);
    assert!(matches!(
        run_json(&typo),
        Err(IngestError::Malformed { .. })
    ));
}

#[test]
fn brand_resolution_and_direction_rules() {
    let mut no_brand = first_example_event();
    no_brand.as_object_mut().unwrap().remove("brand_id");
    assert!(matches!(
        run_json(&no_brand),
        Err(IngestError::Malformed { .. })
    ));

    let mut unknown = first_example_event();
    unknown["brand_id"] = json!("nobody");
    assert_eq!(run_json(&unknown).unwrap_err().status_code(), 404);

    let mut x = first_example_event();
    x["platform"] = json!("x");
    x["account_id"] = json!("2244994945");
    assert_eq!(run_json(&x).unwrap()[0].brand_id, "acme");
    x["brand_id"] = json!("xaa");
    assert!(matches!(run_json(&x), Err(IngestError::Malformed { .. })));
    x.as_object_mut().unwrap().remove("brand_id");
    x["account_id"] = json!("123");
    assert_eq!(
        run_json(&x),
        Err(IngestError::UnknownAccount {
            platform: Platform::X,
            account_id: "123".into()
        })
    );

    let mut outbound_stranger = first_example_event();
    outbound_stranger["direction"] = json!("outbound");
    assert!(matches!(
        run_json(&outbound_stranger),
        Err(IngestError::Malformed { .. })
    ));

    let mut snapshot = first_example_event();
    snapshot["kind"] = json!("profile_snapshot");
    assert!(matches!(
        run_json(&snapshot),
        Err(IngestError::Malformed { .. })
    ));
}

#[test]
fn resending_gives_the_same_id_and_bad_times_are_refused() {
    let event = first_example_event();
    assert_eq!(
        run_json(&event).unwrap()[0].event_id,
        run_json(&event).unwrap()[0].event_id
    );
    let mut other = event.clone();
    other["id"] = json!("helpdesk-msg-88124");
    assert_ne!(
        run_json(&other).unwrap()[0].event_id,
        run_json(&event).unwrap()[0].event_id
    );

    for bad in [
        json!("2026-03-02"),
        json!(-1),
        json!(1.5),
        json!("9999-01-01T00:00:00Z"),
        json!(i64::MAX),
    ] {
        let mut e = event.clone();
        e["occurred_at"] = bad.clone();
        assert!(
            matches!(run_json(&e), Err(IngestError::Malformed { .. })),
            "{bad}"
        );
    }
    let empty = json!({"events": []});
    assert!(matches!(
        run_json(&empty),
        Err(IngestError::Malformed { .. })
    ));
    let too_many = json!({"events": vec![event; 1001]});
    assert!(matches!(
        run_json(&too_many),
        Err(IngestError::Malformed { .. })
    ));
}
