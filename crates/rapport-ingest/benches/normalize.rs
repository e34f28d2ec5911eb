//! Verify + normalize per delivery, on real samples: the CPU cost `rapport ingest` pays for
//! each webhook before producing to Kafka. Figures feed the sizing notes in docs/.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hmac::{Hmac, Mac};
use rapport_ingest::{
    normalize, signature::sign_generic, verify, AccountDirectory, BrandAccounts, BrandConfig,
    Endpoint, Secrets,
};
use sha2::Sha256;

const SAMPLES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/platforms/samples/"
);
const RECEIVED_AT: i64 = 1_788_220_800_000;
const NOW: i64 = RECEIVED_AT / 1000;
const SECRET: &[u8] = b"bench_secret";

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(format!("{SAMPLES}{name}")).expect("sample present")
}

fn hmac_sha256(body: &[u8]) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(SECRET).expect("any key length");
    m.update(body);
    m.finalize().into_bytes().to_vec()
}

fn directory() -> AccountDirectory {
    AccountDirectory::new([
        BrandConfig {
            id: "capture".into(),
            accounts: BrandAccounts {
                facebook: Some("103149398319188".into()),
                ..Default::default()
            },
            automation_app_ids: vec![],
        },
        BrandConfig {
            id: "acme".into(),
            accounts: BrandAccounts {
                instagram: Some("17841400000000001".into()),
                x: Some("2244994945".into()),
                mastodon: Some("109348677773283527".into()),
                ..Default::default()
            },
            automation_app_ids: vec![],
        },
        BrandConfig {
            id: "xaa".into(),
            accounts: BrandAccounts {
                x: Some("1111111111111111111".into()),
                ..Default::default()
            },
            automation_app_ids: vec![],
        },
    ])
    .expect("valid directory")
}

/// An X DM delivery to the bench's brand with `n` messages from `n` users, and `others` more
/// users in the `users` map after them.
fn x_dm_batch(n: u64, others: u64) -> Vec<u8> {
    let mut dms = Vec::new();
    let mut users = Vec::new();
    for i in 0..n {
        let sender = 3_000_000_000 + i;
        dms.push(format!(
            r#"{{"type":"message_create","id":"{}","created_timestamp":"{}","message_create":{{"target":{{"recipient_id":"2244994945"}},"sender_id":"{sender}","message_data":{{"text":"Hello, my order {i} has not arrived yet","entities":{{"hashtags":[],"symbols":[],"user_mentions":[],"urls":[]}}}}}}}}"#,
            954_491_830_116_155_396 + i,
            1_788_220_700_000 + i,
        ));
        users.push(format!(
            r#""{sender}":{{"id":"{sender}","created_timestamp":"1422556069340","name":"User {i}","screen_name":"user{i}","protected":false,"verified":false,"followers_count":{i},"friends_count":45,"statuses_count":494}}"#
        ));
    }
    for i in 0..others {
        users.push(format!(
            r#""{}":{{"id":"{}","name":"Other"}}"#,
            4_000_000_000 + i,
            4_000_000_000 + i
        ));
    }
    format!(
        r#"{{"for_user_id":"2244994945","direct_message_events":[{}],"users":{{{}}}}}"#,
        dms.join(","),
        users.join(",")
    )
    .into_bytes()
}

fn bench(c: &mut Criterion) {
    let dir = directory();
    let secrets = Secrets::new(SECRET);
    let generic = br#"{"id":"b1","platform":"x","account_id":"2244994945","kind":"reply","direction":"inbound","actor":{"id":"3001969357","followers":22},"object_id":"t1","parent_id":"t0","text":"hello","occurred_at":"2026-03-02T10:00:00Z"}"#.to_vec();

    let mut cases: Vec<(&str, Endpoint, Vec<u8>, String, String)> = Vec::new();
    for (name, endpoint) in [
        ("meta-page-feed-comment.json", Endpoint::Meta),
        ("instagram-dm.json", Endpoint::Meta),
        ("x-tweet-reply-inbound.json", Endpoint::X),
        ("x-activity-dm-received.json", Endpoint::X),
        (
            "mastodon-reply-mention-notification.json",
            Endpoint::Mastodon { account_id: None },
        ),
    ] {
        let body = sample(name);
        let mac = hmac_sha256(&body);
        let (header, value) = match endpoint {
            Endpoint::X => {
                use base64::Engine as _;
                let b64 = base64::engine::general_purpose::STANDARD.encode(&mac);
                ("x-twitter-webhooks-signature", format!("sha256={b64}"))
            }
            Endpoint::Meta => (
                "X-Hub-Signature-256",
                format!("sha256={}", hex::encode(&mac)),
            ),
            _ => ("X-Hub-Signature", format!("sha256={}", hex::encode(&mac))),
        };
        cases.push((name, endpoint, body, header.to_owned(), value));
    }
    // A large X DM batch near the 1 MiB body limit: every message from another sender, each
    // looked up in the batch's `users` map, which also names 10,000 other accounts (the
    // worst case for a linear key search).
    let x_dm_batch = x_dm_batch(1_000, 10_000);
    let mac = hmac_sha256(&x_dm_batch);
    let b64 = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(&mac)
    };
    cases.push((
        "x-dm-batch-1000-dms-11000-users",
        Endpoint::X,
        x_dm_batch,
        "x-twitter-webhooks-signature".to_owned(),
        format!("sha256={b64}"),
    ));
    let generic_sig = sign_generic(&generic, SECRET, NOW);
    cases.push((
        "generic-reply",
        Endpoint::Generic,
        generic,
        "X-Rapport-Signature".to_owned(),
        generic_sig,
    ));

    let mut group = c.benchmark_group("verify_normalize");
    for (name, endpoint, body, header, value) in &cases {
        let headers = [(header.as_str(), value.as_str())];
        // Fail loudly before measuring a path that errors out early.
        verify(endpoint, &headers, body, &secrets, NOW).expect("signature");
        assert!(!normalize(endpoint, body, RECEIVED_AT, &dir)
            .expect("normalizes")
            .is_empty());
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(*name, |b| {
            b.iter(|| {
                verify(endpoint, &headers, black_box(body), &secrets, NOW).expect("signature");
                black_box(
                    normalize(endpoint, black_box(body), RECEIVED_AT, &dir).expect("normalizes"),
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
