//! What the fuzz targets and the seed generator share: the brand directory that owns every
//! account named in `shared/platforms/samples/` (so mutated samples get past the account lookup
//! and reach the adapters' deeper code), a fixed receive time, and the invariants every
//! normalization result must satisfy whatever the input.

use rapport_events::{EventCodec, InteractionEvent};
use rapport_ingest::{
    normalize, AccountDirectory, BrandAccounts, BrandConfig, Endpoint, IngestError,
    MAX_EVENTS_PER_DELIVERY, MAX_FUTURE_SKEW_MS,
};

/// 2026-09-01T00:00:00Z: after every sample, so no sample is "in the future".
pub const RECEIVED_AT: i64 = 1_788_220_800_000;

fn brand(id: &str, accounts: BrandAccounts, automation: &[&str]) -> BrandConfig {
    BrandConfig {
        id: id.into(),
        accounts,
        automation_app_ids: automation.iter().map(|s| s.to_string()).collect(),
    }
}

fn facebook(id: &str) -> BrandAccounts {
    BrandAccounts {
        facebook: Some(id.into()),
        ..BrandAccounts::default()
    }
}

fn instagram(id: &str) -> BrandAccounts {
    BrandAccounts {
        instagram: Some(id.into()),
        ..BrandAccounts::default()
    }
}

fn x(id: &str) -> BrandAccounts {
    BrandAccounts {
        x: Some(id.into()),
        ..BrandAccounts::default()
    }
}

fn mastodon(id: &str) -> BrandAccounts {
    BrandAccounts {
        mastodon: Some(id.into()),
        ..BrandAccounts::default()
    }
}

/// One brand per distinct brand account in the samples; `acme` (the generic endpoint's brand
/// in the JSON Schema's examples) has one account on every platform.
pub fn directory() -> AccountDirectory {
    AccountDirectory::new([
        brand("capture", facebook("103149398319188"), &[]),
        brand("bottender", facebook("137542570280222"), &[]),
        brand("bottender-page", facebook("137542570280111"), &[]),
        brand(
            "bot-echo",
            facebook("1134713619900975"),
            &["1821152484774199"],
        ),
        brand(
            "acme",
            BrandAccounts {
                facebook: Some("102938475610293".into()),
                instagram: Some("17841400000000001".into()),
                x: Some("2244994945".into()),
                mastodon: Some("109348677773283527".into()),
            },
            &["263902037430900"],
        ),
        brand("ig-docs", instagram("17841405726653026"), &[]),
        brand("x-delete", x("930524282358325248"), &[]),
        brand("x-dm", x("4337869213"), &[]),
        brand("xaa", x("1111111111111111111"), &[]),
        brand("masto-docs", mastodon("14715"), &[]),
    ])
    .expect("the fuzz directory is valid")
}

/// Normalize `body` and check what must hold for any input: an error is the sender's fault
/// (400 malformed or 404 unknown account, never a signature, size or server outcome), and
/// every event is within the delivery cap and the time bounds, has a 128-bit hex id and
/// survives the Kafka encoding unchanged. Panics (the fuzzer's crash signal) otherwise.
pub fn check_normalize(endpoint: &Endpoint, body: &[u8], directory: &AccountDirectory) {
    match normalize(endpoint, body, RECEIVED_AT, directory) {
        Ok(events) => {
            assert!(events.len() <= MAX_EVENTS_PER_DELIVERY, "{}", events.len());
            let codec = EventCodec::new();
            for event in events {
                check_event(&event);
                let bytes = codec.encode(&event).expect("every event encodes");
                let back = codec.decode(&bytes).expect("an encoded event decodes");
                assert_eq!(back, event, "Avro round trip changed the event");
            }
        }
        Err(e) => assert!(
            matches!(
                e,
                IngestError::Malformed { .. } | IngestError::UnknownAccount { .. }
            ),
            "unexpected error kind for a delivery body: {e:?}"
        ),
    }
}

fn check_event(e: &InteractionEvent) {
    assert!(
        e.occurred_at >= 0 && e.occurred_at <= RECEIVED_AT + MAX_FUTURE_SKEW_MS,
        "occurred_at out of bounds: {}",
        e.occurred_at
    );
    assert_eq!(e.received_at, RECEIVED_AT);
    assert!(
        e.event_id.len() == 32 && e.event_id.bytes().all(|b| b.is_ascii_hexdigit()),
        "event id {:?}",
        e.event_id
    );
    assert!(!e.brand_id.is_empty(), "an event without a brand");
}
