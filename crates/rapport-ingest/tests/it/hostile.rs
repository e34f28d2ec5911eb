//! Bad input at its extremes, per platform: times anywhere in (and beyond) the representable
//! range in every wire format, a byte that is never UTF-8 anywhere in a real payload, numbers
//! beyond i64/u64/f64 in every numeric field of every sample, and strings and arrays of many
//! MiB. Each ends in events that respect the time bounds or in a typed `Malformed` (400),
//! never a panic, an overflow or an unknown-account answer.

use chrono::{DateTime, Utc};
use proptest::prelude::*;
use rapport_ingest::{normalize, Endpoint, IngestError, MAX_FUTURE_SKEW_MS};
use serde_json::{json, Value};

use crate::common::*;

const GENERIC_SCHEMA: &str = include_str!("../../../../schemas/json/generic_event.v1.schema.json");

const LATEST: i64 = RECEIVED_AT + MAX_FUTURE_SKEW_MS;

fn mastodon() -> Endpoint {
    Endpoint::Mastodon { account_id: None }
}

fn generic_example() -> Value {
    serde_json::from_str::<Value>(GENERIC_SCHEMA).unwrap()["examples"][0].clone()
}

fn malformed(result: &Result<Vec<rapport_events::InteractionEvent>, IngestError>) -> bool {
    matches!(result, Err(IngestError::Malformed { .. }))
}

/// Set the time at `pointer` of `body` to `value` and normalize. When `expected_ms` is given it
/// is what that value means: inside [0, receipt + skew] every event carries exactly it, outside
/// the delivery is `Malformed`. Without it (a field another one may take precedence over) the
/// result only has to respect the bounds.
fn with_time(
    endpoint: &Endpoint,
    mut body: Value,
    pointer: &str,
    value: Value,
    expected_ms: Option<i64>,
) -> Result<(), TestCaseError> {
    *body.pointer_mut(pointer).expect(pointer) = value.clone();
    let result = normalize(
        endpoint,
        body.to_string().as_bytes(),
        RECEIVED_AT,
        &directory(),
    );
    match (expected_ms, &result) {
        (Some(ms), Ok(events)) if (0..=LATEST).contains(&ms) => {
            prop_assert!(!events.is_empty(), "{value}: no event");
            for e in events {
                prop_assert_eq!(e.occurred_at, ms, "{}", value);
            }
        }
        (Some(_), _) if expected_ms.is_some_and(|ms| (0..=LATEST).contains(&ms)) => {
            prop_assert!(false, "{value}: an in-range time was refused: {result:?}");
        }
        (Some(_), _) => prop_assert!(malformed(&result), "{value}: {result:?}"),
        (None, Ok(events)) => {
            for e in events {
                prop_assert!((0..=LATEST).contains(&e.occurred_at), "{value}: {e:?}");
            }
        }
        (None, Err(e)) => prop_assert!(malformed(&result), "{value}: {e}"),
    }
    Ok(())
}

/// Any instant chrono can represent, as epoch ms.
fn any_instant_ms() -> impl Strategy<Value = i64> {
    (DateTime::<Utc>::MIN_UTC.timestamp_millis()..=DateTime::<Utc>::MAX_UTC.timestamp_millis())
        .boxed()
}

fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn epoch_ms_times_anywhere_in_i64(ms in prop_oneof![any::<i64>(), 0..=LATEST, LATEST - 10..=LATEST + 10, -10..10i64]) {
        with_time(&Endpoint::Meta, sample_json("meta-messenger-message.json"),
            "/entry/0/messaging/0/timestamp", json!(ms), Some(ms))?;
        // X sends `timestamp_ms` as a decimal string.
        with_time(&Endpoint::X, sample_json("x-tweet-reply-inbound.json"),
            "/tweet_create_events/0/timestamp_ms", json!(ms.to_string()), Some(ms))?;
        with_time(&Endpoint::Generic, generic_example(), "/occurred_at", json!(ms), Some(ms))?;
    }

    #[test]
    fn text_times_anywhere_chrono_can_write(ms in prop_oneof![any_instant_ms(), 0..=LATEST]) {
        let text = rfc3339(ms);
        // RFC 3339 has four-digit years; chrono writes others with a sign, which must be refused
        // (or read as exactly that instant), never wrap around.
        let expected = (0..=9999).contains(&text.get(..4).and_then(|y| y.parse::<i32>().ok()).unwrap_or(-1))
            .then_some(ms);
        with_time(&Endpoint::Generic, generic_example(), "/occurred_at", json!(text), expected)?;
        with_time(&mastodon(), sample_json("mastodon-mention-notification.json"),
            "/created_at", json!(text), None)?;
        let mut like = sample_json("x-activity-like-create.json");
        like["data"]["payload"].as_object_mut().unwrap().remove("timestamp_ms");
        with_time(&Endpoint::X, like, "/data/payload/created_at", json!(text), None)?;
        // X v1.1's own date format, with `timestamp_ms` gone so that it is the only time.
        let mut tweet = sample_json("x-tweet-reply-inbound.json");
        tweet["tweet_create_events"][0].as_object_mut().unwrap().remove("timestamp_ms");
        let date = DateTime::<Utc>::from_timestamp_millis(ms).unwrap()
            .format("%a %b %d %H:%M:%S +0000 %Y").to_string();
        with_time(&Endpoint::X, tweet, "/tweet_create_events/0/created_at", json!(date), None)?;
    }

    #[test]
    fn unix_seconds_anywhere_in_i64(secs in any::<i64>()) {
        with_time(&Endpoint::Meta, sample_json("meta-page-feed-comment.json"),
            "/entry/0/changes/0/value/created_time", json!(secs), secs.checked_mul(1000))?;
    }

    #[test]
    fn a_byte_that_is_never_utf8_anywhere_is_malformed(
        sample_index in 0usize..SAMPLES_BY_ENDPOINT.len(),
        at in any::<prop::sample::Index>(),
        byte in prop_oneof![Just(0xc0u8), Just(0xc1), 0xf5u8..=0xff],
    ) {
        let (name, endpoint) = &SAMPLES_BY_ENDPOINT[sample_index];
        let mut body = sample(name);
        body.insert(at.index(body.len() + 1), byte);
        let result = normalize(&endpoint(), &body, RECEIVED_AT, &directory());
        prop_assert!(malformed(&result), "{name}: {result:?}");
    }
}

type EndpointFn = fn() -> Endpoint;

const SAMPLES_BY_ENDPOINT: &[(&str, EndpointFn)] = &[
    ("meta-page-feed-comment.json", || Endpoint::Meta),
    ("meta-messenger-message.json", || Endpoint::Meta),
    ("meta-page-feed-reaction.json", || Endpoint::Meta),
    ("instagram-comment.json", || Endpoint::Meta),
    ("instagram-dm.json", || Endpoint::Meta),
    ("x-tweet-reply-inbound.json", || Endpoint::X),
    ("x-dm.json", || Endpoint::X),
    ("x-favorite.json", || Endpoint::X),
    ("x-activity-like-create.json", || Endpoint::X),
    ("mastodon-mention-notification.json", mastodon),
    ("mastodon-streaming-websocket-frame.json", mastodon),
    ("mastodon-admin-webhook-status-created.json", mastodon),
];

/// Every JSON pointer to a number in `v`.
fn number_pointers(v: &Value, at: &str, out: &mut Vec<String>) {
    match v {
        Value::Number(_) => out.push(at.to_owned()),
        Value::Object(m) => {
            for (k, x) in m {
                number_pointers(
                    x,
                    &format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                number_pointers(x, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn numbers_beyond_every_integer_type_in_every_numeric_field() {
    // Written as raw JSON so the literals reach the parser unchanged; 1e400 is beyond f64 too.
    let literals = [
        "9223372036854775808",
        "-9223372036854775809",
        "18446744073709551616",
        "340282366920938463463374607431768211456",
        "1e308",
        "-1e308",
        "1e400",
        "-0.0",
        "0.5",
    ];
    const MARK: &str = "\"__number_under_test__\"";
    let mut fields = 0;
    for (name, endpoint) in SAMPLES_BY_ENDPOINT {
        let v = sample_json(name);
        let mut pointers = Vec::new();
        number_pointers(&v, "", &mut pointers);
        for p in pointers {
            fields += 1;
            let mut marked = v.clone();
            *marked.pointer_mut(&p).unwrap() = json!("__number_under_test__");
            let text = marked.to_string();
            for literal in literals {
                let body = text.replacen(MARK, literal, 1);
                match normalize(&endpoint(), body.as_bytes(), RECEIVED_AT, &directory()) {
                    Ok(events) => {
                        for e in events {
                            assert!(
                                (0..=LATEST).contains(&e.occurred_at),
                                "{name} {p}={literal}"
                            );
                        }
                    }
                    Err(e) => assert!(
                        matches!(e, IngestError::Malformed { .. }),
                        "{name} {p}={literal}: {e}"
                    ),
                }
            }
        }
    }
    assert!(fields > 40, "only {fields} numeric fields in the samples");
}

#[test]
fn strings_of_many_mib_are_carried_or_refused_never_a_crash() {
    let big = "é".repeat(8 << 20); // 16 MiB of two-byte characters
    let mut comment = sample_json("meta-page-feed-comment.json");
    comment["entry"][0]["changes"][0]["value"]["message"] = json!(big);
    let events = normalize(
        &Endpoint::Meta,
        comment.to_string().as_bytes(),
        RECEIVED_AT,
        &directory(),
    )
    .unwrap();
    assert_eq!(events[0].text.as_deref(), Some(big.as_str()));

    // A many-MiB id is just an id; a many-MiB time or kind is no time or kind.
    let mut generic = generic_example();
    generic["object_id"] = json!("x".repeat(4 << 20));
    let events = normalize(
        &Endpoint::Generic,
        generic.to_string().as_bytes(),
        RECEIVED_AT,
        &directory(),
    )
    .unwrap();
    assert_eq!(events[0].object_id.len(), 4 << 20);
    for field in ["occurred_at", "kind", "platform", "direction"] {
        let mut generic = generic_example();
        generic[field] = json!("9".repeat(4 << 20));
        assert!(
            malformed(&normalize(
                &Endpoint::Generic,
                generic.to_string().as_bytes(),
                RECEIVED_AT,
                &directory()
            )),
            "{field}"
        );
    }
    let mut x = sample_json("x-tweet-reply-inbound.json");
    x["tweet_create_events"][0]["timestamp_ms"] = json!("9".repeat(4 << 20));
    x["tweet_create_events"][0]["created_at"] = json!("9".repeat(4 << 20));
    assert!(malformed(&normalize(
        &Endpoint::X,
        x.to_string().as_bytes(),
        RECEIVED_AT,
        &directory()
    )));
}

#[test]
fn arrays_of_a_million_items_are_carried_or_refused_never_a_crash() {
    let million = || Value::Array(vec![json!(0); 1_000_000]);
    // An unknown field holding a huge array is ignored.
    let mut comment = sample_json("meta-page-feed-comment.json");
    comment["junk"] = million();
    let events = normalize(
        &Endpoint::Meta,
        comment.to_string().as_bytes(),
        RECEIVED_AT,
        &directory(),
    )
    .unwrap();
    assert_eq!(events.len(), 1);
    // Where a list is expected, a million wrong items is refused or yields nothing.
    for (name, endpoint, pointer) in [
        ("meta-page-feed-comment.json", Endpoint::Meta, "/entry"),
        (
            "x-tweet-reply-inbound.json",
            Endpoint::X,
            "/tweet_create_events",
        ),
    ] {
        let mut v = sample_json(name);
        *v.pointer_mut(pointer).unwrap() = million();
        match normalize(
            &endpoint,
            v.to_string().as_bytes(),
            RECEIVED_AT,
            &directory(),
        ) {
            Ok(events) => assert!(events.is_empty(), "{name}"),
            Err(e) => assert!(matches!(e, IngestError::Malformed { .. }), "{name}: {e}"),
        }
    }
    let batch = json!({ "events": million() });
    assert!(malformed(&normalize(
        &Endpoint::Generic,
        batch.to_string().as_bytes(),
        RECEIVED_AT,
        &directory()
    )));
}
