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
