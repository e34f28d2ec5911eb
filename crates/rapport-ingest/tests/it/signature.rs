//! The worked signature examples of `shared/platforms/samples/` and the handshakes.

use rapport_ingest::signature::{
    meta_handshake, sign_generic, verify_generic, verify_mastodon, verify_meta, verify_x,
    x_crc_response, x_crc_token,
};
use rapport_ingest::{verify, Endpoint, HandshakeError, IngestError, Secrets, SignatureError};

use crate::common::sample_json;

fn meta() -> (Vec<u8>, String, String, Secrets, serde_json::Value) {
    let ex = sample_json("meta-signature-example.json");
    (
        ex["body"].as_str().unwrap().as_bytes().to_vec(),
        ex["header_value"].as_str().unwrap().to_owned(),
        ex["legacy_header_value"].as_str().unwrap().to_owned(),
        Secrets::new(ex["secret"].as_str().unwrap()),
        ex,
    )
}

/// Flip one bit of the byte at `i`.
fn flip(bytes: &[u8], i: usize) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[i] ^= 0x01;
    b
}

#[test]
fn meta_worked_example_verifies_and_any_one_byte_change_does_not() {
    let (body, header, _, secrets, _) = meta();
    assert_eq!(verify_meta(Some(&header), None, &body, &secrets), Ok(()));
    for i in [0, body.len() / 2, body.len() - 1] {
        assert_eq!(
            verify_meta(Some(&header), None, &flip(&body, i), &secrets),
            Err(SignatureError::Mismatch),
            "body byte {i}"
        );
    }
    // Change one hex digit of the signature.
    let mut tampered = header.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'0' { b'1' } else { b'0' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_eq!(
        verify_meta(Some(&tampered), None, &body, &secrets),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        verify_meta(Some(&header), None, &body, &Secrets::new("another_secret")),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn a_reserialized_meta_body_fails_even_though_it_means_the_same() {
    let (body, header, _, secrets, ex) = meta();
    let unescaped = ex["wrong_if_you_reserialize"]["body_with_unescaped_utf8"]
        .as_str()
        .unwrap();
    let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        parsed,
        serde_json::from_str::<serde_json::Value>(unescaped).unwrap()
    );
    assert_eq!(
        verify_meta(Some(&header), None, unescaped.as_bytes(), &secrets),
        Err(SignatureError::Mismatch)
    );
    // Re-serializing with serde_json (which does not escape é) fails the same way.
    let reserialized = serde_json::to_vec(&parsed).unwrap();
    assert_ne!(reserialized, body);
    assert_eq!(
        verify_meta(Some(&header), None, &reserialized, &secrets),
        Err(SignatureError::Mismatch)
    );
    // The unescaped bytes do verify against their own signature: only the bytes differ.
    let own = ex["wrong_if_you_reserialize"]["sha256"].as_str().unwrap();
    assert_eq!(
        verify_meta(Some(own), None, unescaped.as_bytes(), &secrets),
        Ok(())
    );
}

#[test]
fn meta_legacy_sha1_counts_only_when_the_sha256_header_is_absent() {
    let (body, header, legacy, secrets, _) = meta();
    assert_eq!(verify_meta(None, Some(&legacy), &body, &secrets), Ok(()));
    assert_eq!(
        verify_meta(Some(&header), Some(&legacy), &body, &secrets),
        Ok(())
    );
    let wrong256 = format!("sha256={}", "0".repeat(64));
    assert_eq!(
        verify_meta(Some(&wrong256), Some(&legacy), &body, &secrets),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        verify_meta(None, None, &body, &secrets),
        Err(SignatureError::MissingHeader {
            header: "X-Hub-Signature-256"
        })
    );
    assert!(matches!(
        verify_meta(Some("md5=abcd"), None, &body, &secrets),
        Err(SignatureError::MalformedHeader { .. })
    ));
    assert!(matches!(
        verify_meta(Some("sha256=not-hex"), None, &body, &secrets),
        Err(SignatureError::MalformedHeader { .. })
    ));
}

#[test]
fn either_secret_of_a_rotation_is_accepted() {
    let (body, header, _, _, ex) = meta();
    let secret = ex["secret"].as_str().unwrap();
    let rotating = Secrets::new("the_new_secret").with_other(secret);
    assert_eq!(verify_meta(Some(&header), None, &body, &rotating), Ok(()));
    let neither = Secrets::new("a").with_other("b");
    assert_eq!(
        verify_meta(Some(&header), None, &body, &neither),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn x_worked_example_and_crc() {
    let ex = sample_json("x-signature-example.json");
    let body = ex["body"].as_str().unwrap().as_bytes();
    let header = ex["header_value"].as_str().unwrap();
    let secrets = Secrets::new(ex["consumer_secret"].as_str().unwrap());
    assert_eq!(verify_x(Some(header), body, &secrets), Ok(()));
    assert_eq!(
        verify_x(Some(header), &flip(body, 10), &secrets),
        Err(SignatureError::Mismatch)
    );
    assert!(matches!(
        verify_x(Some("sha256=%%%"), body, &secrets),
        Err(SignatureError::MalformedHeader { .. })
    ));
    // Hex where Base64 belongs is a different (wrong) value, not a crash.
    assert!(verify_x(Some(&format!("sha256={}", "ab".repeat(32))), body, &secrets).is_err());

    let token = x_crc_token("crc_token=challenge_string&nonce=1").unwrap();
    assert_eq!(token, ex["crc"]["crc_token"].as_str().unwrap());
    let response: serde_json::Value =
        serde_json::from_str(&x_crc_response(&token, &secrets)).unwrap();
    assert_eq!(response, ex["crc"]["response_body"]);
    assert_eq!(
        x_crc_token("nonce=1"),
        Err(HandshakeError::MissingParameter("crc_token"))
    );
}

#[test]
fn mastodon_worked_example() {
    let ex = &sample_json("other-signature-examples.json")["mastodon_admin_webhook"];
    let body = ex["body"].as_str().unwrap().as_bytes();
    let header = ex["header_value"].as_str().unwrap();
    let secrets = Secrets::new(ex["secret"].as_str().unwrap());
    assert_eq!(verify_mastodon(Some(header), body, &secrets), Ok(()));
    assert_eq!(
        verify_mastodon(Some(header), &flip(body, 3), &secrets),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        verify_mastodon(None, body, &secrets),
        Err(SignatureError::MissingHeader {
            header: "X-Hub-Signature"
        })
    );
}

#[test]
fn generic_signatures_check_time_rotation_and_every_v1() {
    let body = br#"{"id":"1"}"#;
    let secrets = Secrets::new("generic_secret");
    let t = 1_772_445_600;
    let header = sign_generic(body, b"generic_secret", t);
    assert_eq!(verify_generic(Some(&header), body, &secrets, t), Ok(()));
    assert_eq!(
        verify_generic(Some(&header), body, &secrets, t + 300),
        Ok(())
    );
    assert_eq!(
        verify_generic(Some(&header), body, &secrets, t - 300),
        Ok(())
    );
    assert_eq!(
        verify_generic(Some(&header), body, &secrets, t + 301),
        Err(SignatureError::StaleTimestamp {
            timestamp: t,
            now: t + 301,
            tolerance_secs: 300
        })
    );
    assert_eq!(
        verify_generic(Some(&header), &flip(body, 2), &secrets, t),
        Err(SignatureError::Mismatch)
    );
    // The timestamp is signed: moving it breaks the signature.
    let moved = header.replacen(&t.to_string(), &(t + 1).to_string(), 1);
    assert_eq!(
        verify_generic(Some(&moved), body, &secrets, t),
        Err(SignatureError::Mismatch)
    );

    // Sender signs with old and new secret; the receiver knows only the new one.
    let old = sign_generic(body, b"old_secret", t);
    let both = format!("{old},v1={}", header.rsplit("v1=").next().unwrap());
    assert_eq!(verify_generic(Some(&both), body, &secrets, t), Ok(()));
    assert_eq!(
        verify_generic(Some(&old), body, &secrets, t),
        Err(SignatureError::Mismatch)
    );

    for bad in [
        "",
        "t=1",
        "v1=00",
        "t=x,v1=00",
        "t=1,t=2,v1=00",
        "t=1,v1=zz",
        "garbage",
    ] {
        assert!(
            matches!(
                verify_generic(Some(bad), body, &secrets, 1),
                Err(SignatureError::MalformedHeader { .. })
            ),
            "{bad:?}"
        );
    }
    let many = format!("t={t}{}", ",v1=00".repeat(9));
    assert!(matches!(
        verify_generic(Some(&many), body, &secrets, t),
        Err(SignatureError::MalformedHeader { .. })
    ));
}

#[test]
fn verify_dispatches_on_the_endpoint_with_case_insensitive_headers() {
    let (body, header, _, secrets, _) = meta();
    let headers = [
        ("x-hub-signature-256", header.as_str()),
        ("content-type", "application/json"),
    ];
    assert_eq!(
        verify(&Endpoint::Meta, &headers, &body, &secrets, 0),
        Ok(())
    );
    // The same header means nothing to the X endpoint.
    assert_eq!(
        verify(&Endpoint::X, &headers, &body, &secrets, 0),
        Err(SignatureError::MissingHeader {
            header: "x-twitter-webhooks-signature"
        })
    );
    let err = IngestError::from(SignatureError::Mismatch);
    assert_eq!((err.status_code(), err.dead_letter_reason()), (401, None));
}

#[test]
fn meta_handshake_echoes_the_challenge_only_for_a_matching_subscribe() {
    let tokens = Secrets::new("my verify token").with_other("previous-token");
    assert_eq!(
        meta_handshake(
            "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=my+verify+token",
            &tokens
        ),
        Ok("1158201444".to_owned())
    );
    assert_eq!(
        meta_handshake(
            "?hub_mode=subscribe&hub_challenge=abc%20def&hub_verify_token=previous-token",
            &tokens
        ),
        Ok("abc def".to_owned())
    );
    assert_eq!(
        meta_handshake(
            "hub.mode=subscribe&hub.challenge=1&hub.verify_token=nope",
            &tokens
        ),
        Err(HandshakeError::TokenMismatch)
    );
    assert_eq!(
        meta_handshake(
            "hub.mode=unsubscribe&hub.challenge=1&hub.verify_token=my+verify+token",
            &tokens
        ),
        Err(HandshakeError::NotSubscribe)
    );
    assert_eq!(
        meta_handshake(
            "hub.mode=subscribe&hub.verify_token=my+verify+token",
            &tokens
        ),
        Err(HandshakeError::MissingParameter("hub.challenge"))
    );
    let err = IngestError::from(HandshakeError::TokenMismatch);
    assert_eq!((err.status_code(), err.dead_letter_reason()), (403, None));
}

/// Constant-time comparison checked without timing anything (timing tests are flaky and prove
/// little): the production part of `signature.rs` compares secret-derived bytes only through
/// `hmac`'s `verify_slice` and `subtle`'s `ct_eq`. Any `==`, `!=`, `.eq(`, `.cmp(`,
/// `starts_with`/`ends_with` or `contains` on a line that names a MAC, token, secret, key or
/// digest fails this test, as does losing the constant-time calls themselves.
#[test]
fn secret_dependent_comparisons_go_through_constant_time_primitives_only() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/signature.rs");
    let source = std::fs::read_to_string(path).expect("read signature.rs");
    let production = source
        .split("#[cfg(test)]")
        .next()
        .expect("code before the tests");
    let secret_words = [
        "mac", "expected", "token", "tokens", "secret", "secrets", "key", "digest", "signed",
    ];
    let variable_time = [
        "==",
        "!=",
        ".eq(",
        ".cmp(",
        "starts_with(",
        "ends_with(",
        "contains(",
    ];
    let mut offending = Vec::new();
    for (n, line) in production.lines().enumerate() {
        let code = strip_strings(line.split("//").next().unwrap_or(""));
        let words: Vec<&str> = code
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .collect();
        let names_secret = words.iter().any(|w| secret_words.contains(w));
        if names_secret && variable_time.iter().any(|op| code.contains(op)) {
            offending.push(format!("{}: {}", n + 1, line.trim()));
        }
    }
    assert!(
        offending.is_empty(),
        "variable-time comparison of secret-derived bytes:\n{}",
        offending.join("\n")
    );
    // The checks that must exist: MACs through ring's `hmac::verify` (one shared helper for
    // Meta, X and Mastodon), the generic scheme's tags and the handshake tokens through `ct_eq`.
    assert!(production.matches("hmac::verify(").count() >= 1);
    assert!(production.matches(".ct_eq(").count() >= 2);

    // And the scanner itself catches what it must (so the test cannot pass vacuously).
    for bad in [
        "if mac == expected {",
        "return computed_token != token;",
        "hex::encode(digest).eq(&given)",
    ] {
        let code = strip_strings(bad);
        let words: Vec<&str> = code
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .collect();
        assert!(
            words.iter().any(|w| secret_words.contains(w))
                && variable_time.iter().any(|op| code.contains(op)),
            "{bad}"
        );
    }
}

/// `line` with the contents of string literals removed (`"crc_token"` names no variable).
fn strip_strings(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in line.chars() {
        match (in_string, c) {
            (true, '\\') if !escaped => escaped = true,
            (true, '"') if !escaped => {
                in_string = false;
                out.push('"');
            }
            (true, _) => escaped = false,
            (false, '"') => {
                in_string = true;
                out.push('"');
            }
            (false, _) => out.push(c),
        }
    }
    out
}
