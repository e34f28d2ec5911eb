//! Signature checks and subscription handshakes on arbitrary headers, bodies, secrets, clocks
//! and query strings. Besides "no panic", each input is also checked against an independent
//! HMAC computed here: the correct header for the body verifies (with either secret of a
//! rotation), the same header over a different body does not, and arbitrary header values
//! never verify (a forgery the fuzzer finds is a crash).
#![no_main]

use arbitrary::Arbitrary;
use base64::Engine;
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use rapport_ingest::signature::{
    meta_handshake, sign_generic, verify, x_crc_response, x_crc_token, SignatureError,
    GENERIC_SIGNATURE_HEADER, GENERIC_TOLERANCE_SECS, HUB_SIGNATURE_HEADER, META_SIGNATURE_HEADER,
    X_SIGNATURE_HEADER,
};
use rapport_ingest::{Endpoint, Secrets};

#[derive(Debug, Arbitrary)]
struct Input {
    endpoint: u8,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    secret: Vec<u8>,
    rotation_partner: Option<Vec<u8>>,
    /// Sign with the rotation partner instead of the current secret.
    sign_with_partner: bool,
    now_unix: i64,
    clock_skew: i64,
    query: String,
}

fn endpoint(selector: u8) -> Endpoint {
    match selector % 4 {
        0 => Endpoint::Meta,
        1 => Endpoint::X,
        2 => Endpoint::Mastodon { account_id: None },
        _ => Endpoint::Generic,
    }
}

fn hmac256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut m = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("any key length");
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().to_vec()
}

fn hmac1(key: &[u8], body: &[u8]) -> Vec<u8> {
    let mut m = <Hmac<sha1::Sha1> as Mac>::new_from_slice(key).expect("any key length");
    m.update(body);
    m.finalize().into_bytes().to_vec()
}

/// The header that correctly signs `body` with `key` for `endpoint`, computed independently of
/// the code under test (the generic one at `t`).
fn correct_header(
    endpoint: &Endpoint,
    key: &[u8],
    body: &[u8],
    t: i64,
    legacy: bool,
) -> (&'static str, String) {
    match endpoint {
        Endpoint::Meta if legacy => (
            HUB_SIGNATURE_HEADER,
            format!("sha1={}", hex::encode(hmac1(key, body))),
        ),
        Endpoint::Meta => (
            META_SIGNATURE_HEADER,
            format!("sha256={}", hex::encode(hmac256(key, &[body]))),
        ),
        Endpoint::X => (
            X_SIGNATURE_HEADER,
            format!(
                "sha256={}",
                base64::engine::general_purpose::STANDARD.encode(hmac256(key, &[body]))
            ),
        ),
        Endpoint::Mastodon { .. } => (
            HUB_SIGNATURE_HEADER,
            format!("sha256={}", hex::encode(hmac256(key, &[body]))),
        ),
        Endpoint::Generic => {
            let t_text = t.to_string();
            let mac = hmac256(key, &[t_text.as_bytes(), b".", body]);
            (
                GENERIC_SIGNATURE_HEADER,
                format!("t={t_text},v1={}", hex::encode(mac)),
            )
        }
    }
}

fuzz_target!(|input: Input| {
    let endpoint = endpoint(input.endpoint);
    let mut secrets = Secrets::new(&input.secret);
    if let Some(partner) = &input.rotation_partner {
        secrets = secrets.with_other(partner);
    }
    let now = input.now_unix;

    // Arbitrary headers: any outcome but a pass or a panic.
    let headers: Vec<(&str, &str)> = input
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let verdict = verify(&endpoint, headers.as_slice(), &input.body, &secrets, now);
    assert!(verdict.is_err(), "arbitrary headers verified: {headers:?}");

    // The correct header verifies, with either secret of a rotation.
    let key = match (&input.rotation_partner, input.sign_with_partner) {
        (Some(partner), true) => partner.as_slice(),
        _ => input.secret.as_slice(),
    };
    let t = now.saturating_add(input.clock_skew % (GENERIC_TOLERANCE_SECS + 1));
    let legacy = input.endpoint & 0x80 != 0;
    let (name, value) = correct_header(&endpoint, key, &input.body, t, legacy);
    let signed = [(name, value.as_str())];
    assert_eq!(
        verify(&endpoint, &signed, &input.body, &secrets, now),
        Ok(()),
        "a correct {name} was refused"
    );
    if matches!(endpoint, Endpoint::Generic) {
        assert_eq!(value, sign_generic(&input.body, key, t));
        // The same signature outside the tolerance window is stale, whatever else holds.
        if let Some(stale) = now.checked_add(
            GENERIC_TOLERANCE_SECS + 1 + (input.clock_skew.unsigned_abs() % 1000) as i64,
        ) {
            let (name, value) = correct_header(&endpoint, key, &input.body, stale, false);
            assert!(matches!(
                verify(
                    &endpoint,
                    &[(name, value.as_str())],
                    &input.body,
                    &secrets,
                    now
                ),
                Err(SignatureError::StaleTimestamp { .. })
            ));
        }
    }

    // The correct header of this body never covers another body.
    let mut other_body = input.body.clone();
    match other_body.first_mut() {
        Some(b) => *b ^= 1,
        None => other_body.push(0),
    }
    assert_eq!(
        verify(&endpoint, &signed, &other_body, &secrets, now),
        Err(SignatureError::Mismatch)
    );

    // Subscription handshakes on an arbitrary query string.
    let _ = meta_handshake(&input.query, &secrets);
    if let Ok(token) = x_crc_token(&input.query) {
        let response = x_crc_response(&token, &secrets);
        assert!(
            response.starts_with(r#"{"response_token":"sha256="#),
            "{response}"
        );
    }
});
