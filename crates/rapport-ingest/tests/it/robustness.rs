//! No input makes an adapter panic: arbitrary bytes, arbitrary JSON in the envelopes, real
//! samples with one value replaced by anything, hostile depth and width, out-of-range numbers
//! and far-future times all end in `Ok` or a typed error.

use proptest::prelude::*;
use rapport_ingest::{normalize, Endpoint, IngestError, MAX_EVENTS_PER_DELIVERY};
use serde_json::{json, Value};

use crate::common::*;

fn endpoints() -> [Endpoint; 5] {
    [
        Endpoint::Meta,
        Endpoint::X,
        Endpoint::Mastodon { account_id: None },
        Endpoint::Mastodon {
            account_id: Some("109348677773283527".into()),
        },
        Endpoint::Generic,
    ]
}

const SAMPLE_NAMES: &[(&str, usize)] = &[
    ("meta-page-feed-comment.json", 0),
    ("meta-page-feed-reaction-on-comment.json", 0),
    ("meta-messenger-echo.json", 0),
    ("instagram-comment-flat-instagram-login.json", 0),
    ("instagram-story-mention-dm.json", 0),
    ("x-tweet-reply-inbound.json", 1),
    ("x-retweet.json", 1),
    ("x-dm.json", 1),
    ("x-activity-like-create.json", 1),
    ("x-activity-post-reply-create.json", 1),
    ("mastodon-reply-mention-notification.json", 3),
    ("mastodon-streaming-websocket-frame.json", 2),
];

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("1608952523"),
            Just("add"),
            Just("comment"),
            Just("page"),
            Just("instagram"),
            Just("mention"),
            Just("follow"),
            Just("2244994945"),
            Just("103149398319188"),
            Just("Wed Oct 10 20:19:24 +0000 2018"),
            Just("9999-12-31T23:59:59Z"),
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    ".{0,6}",
                    prop::sample::select(vec![
                        "object",
                        "entry",
                        "id",
                        "time",
                        "changes",
                        "field",
                        "value",
                        "messaging",
                        "from",
                        "item",
                        "verb",
                        "created_time",
                        "for_user_id",
                        "tweet_create_events",
                        "user",
                        "id_str",
                        "data",
                        "event_type",
                        "payload",
                        "type",
                        "status",
                        "account",
                        "created_at",
                        "events",
                        "stream",
                        "event",
                    ])
                    .prop_map(str::to_owned),
                ],
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every JSON pointer into `v`.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(x, p, out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(x, p, out);
            }
        }
        _ => {}
    }
}

/// A body is either normalized or refused as the sender's fault (400/404): never a signature,
/// size or handshake outcome, and every event it yields is within the time bounds.
fn check(
    result: Result<Vec<rapport_events::InteractionEvent>, IngestError>,
) -> Result<(), TestCaseError> {
    match result {
        Ok(events) => {
            for e in events {
                prop_assert!(
                    e.occurred_at >= 0
                        && e.occurred_at <= RECEIVED_AT + rapport_ingest::MAX_FUTURE_SKEW_MS
                );
                prop_assert_eq!(e.event_id.len(), 32);
            }
        }
        Err(e) => prop_assert!(matches!(e.status_code(), 400 | 404), "{}", e),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512), which in 0usize..5) {
        check(normalize(&endpoints()[which], &body, RECEIVED_AT, &directory()))?;
    }

    #[test]
    fn arbitrary_json_never_panics(v in any_json(), which in 0usize..5) {
        check(normalize(&endpoints()[which], v.to_string().as_bytes(), RECEIVED_AT, &directory()))?;
    }

    #[test]
    fn a_sample_with_one_value_replaced_never_panics(
        sample_index in 0usize..SAMPLE_NAMES.len(),
        pick in any::<prop::sample::Index>(),
        replacement in any_json(),
    ) {
        let (name, endpoint) = SAMPLE_NAMES[sample_index];
        let mut v = sample_json(name);
        let mut ps = Vec::new();
        pointers(&v, String::new(), &mut ps);
        let p = &ps[pick.index(ps.len())];
        if let Some(slot) = v.pointer_mut(p) {
            *slot = replacement;
        }
        check(normalize(&endpoints()[endpoint], v.to_string().as_bytes(), RECEIVED_AT, &directory()))?;
    }

    #[test]
    fn any_created_time_is_an_event_or_malformed(secs in any::<i64>()) {
        let mut v = sample_json("meta-page-feed-comment.json");
        v["entry"][0]["changes"][0]["value"]["created_time"] = json!(secs);
        match normalize(&Endpoint::Meta, v.to_string().as_bytes(), RECEIVED_AT, &directory()) {
            Ok(events) => prop_assert_eq!(events[0].occurred_at, secs * 1000),
            Err(e) => prop_assert!(matches!(e, IngestError::Malformed { .. }), "{}", e),
        }
    }
}

#[test]
fn hostile_depth_is_malformed_for_every_endpoint() {
    for depth in [200, 100_000] {
        let body = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let obj = format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth));
        for endpoint in endpoints() {
            for b in [&body, &obj] {
                let err =
                    normalize(&endpoint, b.as_bytes(), RECEIVED_AT, &directory()).unwrap_err();
                assert!(
                    matches!(err, IngestError::Malformed { .. }),
                    "{endpoint:?}: {err}"
                );
            }
        }
    }
}

#[test]
fn a_delivery_over_the_event_cap_is_refused_and_one_at_the_cap_is_not() {
    let comment = sample_json("meta-page-feed-comment.json")["entry"][0]["changes"][0].clone();
    let delivery = |n: usize| {
        let changes: Vec<Value> = (0..n)
            .map(|i| {
                let mut c = comment.clone();
                c["value"]["comment_id"] = json!(format!("407298303721936_{i}"));
                c
            })
            .collect();
        json!({"object": "page", "entry": [{"id": "103149398319188", "time": 1, "changes": changes}]})
    };
    let at_cap = delivery(MAX_EVENTS_PER_DELIVERY).to_string();
    assert_eq!(
        normalize(
            &Endpoint::Meta,
            at_cap.as_bytes(),
            RECEIVED_AT,
            &directory()
        )
        .unwrap()
        .len(),
        MAX_EVENTS_PER_DELIVERY
    );
    let over = delivery(MAX_EVENTS_PER_DELIVERY + 1).to_string();
    assert!(matches!(
        normalize(&Endpoint::Meta, over.as_bytes(), RECEIVED_AT, &directory()),
        Err(IngestError::Malformed { .. })
    ));
    // A huge array of irrelevant receipts costs work but yields nothing and no error.
    let receipts: Vec<Value> = (0..20_000)
        .map(|_| json!({"sender": {"id": "1"}, "recipient": {"id": "103149398319188"}, "timestamp": 1, "read": {"watermark": 1}}))
        .collect();
    let body = json!({"object": "page", "entry": [{"id": "103149398319188", "time": 1, "messaging": receipts}]}).to_string();
    assert_eq!(
        normalize(&Endpoint::Meta, body.as_bytes(), RECEIVED_AT, &directory()),
        Ok(vec![])
    );
}

#[test]
fn invalid_utf8_out_of_range_numbers_and_far_future_times_are_malformed() {
    let mut bytes = sample("x-mention.json");
    let at = bytes.windows(6).position(|w| w == b"Loving").unwrap();
    bytes[at] = 0xff;
    assert!(matches!(
        normalize(&Endpoint::X, &bytes, RECEIVED_AT, &directory()),
        Err(IngestError::Malformed { .. })
    ));

    let mut huge = sample_json("x-favorite.json");
    huge["favorite_events"][0]["timestamp_ms"] = json!(1e300);
    huge["favorite_events"][0]["created_at"] = json!("not a date");
    assert!(matches!(
        normalize(
            &Endpoint::X,
            huge.to_string().as_bytes(),
            RECEIVED_AT,
            &directory()
        ),
        Err(IngestError::Malformed { .. })
    ));

    let mut future = sample_json("mastodon-favourite-notification.json");
    future["created_at"] = json!("9999-12-31T23:59:59.999Z");
    assert!(matches!(
        normalize(
            &Endpoint::Mastodon { account_id: None },
            future.to_string().as_bytes(),
            RECEIVED_AT,
            &directory()
        ),
        Err(IngestError::Malformed { .. })
    ));

    let mut far = sample_json("meta-messenger-message.json");
    far["entry"][0]["messaging"][0]["timestamp"] = json!(i64::MAX);
    assert!(matches!(
        normalize(
            &Endpoint::Meta,
            far.to_string().as_bytes(),
            RECEIVED_AT,
            &directory()
        ),
        Err(IngestError::Malformed { .. })
    ));
}
