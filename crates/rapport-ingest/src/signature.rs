//! Webhook authentication on the raw request bytes: the POST signatures of Meta, X, Mastodon
//! and rapport's own generic endpoint, and the GET handshakes of Meta (`hub.challenge`) and X
//! (CRC `response_token`).
//!
//! Everything here runs before any JSON parsing and never re-serializes: Meta escapes non-ASCII
//! as `\uXXXX` on the wire, so a body decoded and encoded again hashes differently
//! (FORMATS.md §0). Comparisons are constant time (`ring`'s `hmac::verify` for Meta, X and
//! Mastodon; `subtle`'s `ct_eq` for the generic `v1` tags and the verify tokens). Each key may have two active values during a rotation and either one is accepted.
//!
//! HMAC is ring's: its SHA-256 is assembly with AVX where the CPU has it, against the portable
//! Rust of the `sha2` crate that was a tenth of ingest's request-handling CPU, and each secret's
//! keys are prepared once (the padded key blocks hashed at configuration time), not per request.
//! The current time is a parameter, never read from the clock, so the checks are plain functions.
//! This module does not know about HTTP types; callers pass header values through [`Headers`].

use base64::Engine as _;
use ring::hmac;
use subtle::ConstantTimeEq;

use crate::Endpoint;

/// Meta's current header (HMAC-SHA256, hex).
pub const META_SIGNATURE_HEADER: &str = "X-Hub-Signature-256";
/// Meta's legacy header (HMAC-SHA1, hex), and Mastodon's header (HMAC-SHA256, hex).
pub const HUB_SIGNATURE_HEADER: &str = "X-Hub-Signature";
/// X's header (HMAC-SHA256, Base64).
pub const X_SIGNATURE_HEADER: &str = "x-twitter-webhooks-signature";
/// rapport's own header: `t=<unix seconds>,v1=<hex>[,v1=<hex>...]`.
pub const GENERIC_SIGNATURE_HEADER: &str = "X-Rapport-Signature";
/// Accepted clock difference for the generic signature timestamp, either way.
pub const GENERIC_TOLERANCE_SECS: i64 = 5 * 60;
/// More `v1=` entries than this is not a rotation, it is someone probing.
const MAX_GENERIC_SIGNATURES: usize = 8;

/// Why a signature check failed. All of them answer 401 and nothing is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing header {header}")]
    MissingHeader { header: &'static str },
    #[error("malformed header {header}: {reason}")]
    MalformedHeader {
        header: &'static str,
        reason: &'static str,
    },
    #[error("signature does not match the body")]
    Mismatch,
    #[error(
        "signature timestamp {timestamp} is more than {tolerance_secs} s away from now ({now})"
    )]
    StaleTimestamp {
        timestamp: i64,
        now: i64,
        tolerance_secs: i64,
    },
}

/// Why a GET subscription handshake is refused (answered with 403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    #[error("query parameter {0} is missing")]
    MissingParameter(&'static str),
    #[error("hub.mode is not `subscribe`")]
    NotSubscribe,
    #[error("verify token does not match")]
    TokenMismatch,
    #[error("query string is not valid percent-encoded UTF-8")]
    MalformedQuery,
}

/// The active values of one secret: the current one and, during a rotation, a second one.
/// Debug output never shows the values.
#[derive(Clone)]
pub struct Secrets {
    current: Secret,
    other: Option<Secret>,
}

/// One secret value and its HMAC keys, prepared once.
#[derive(Clone)]
struct Secret {
    value: Vec<u8>,
    sha256: hmac::Key,
    /// Only Meta's legacy `X-Hub-Signature: sha1=` header uses it.
    sha1: hmac::Key,
}

impl Secret {
    fn new(value: &[u8]) -> Self {
        Secret {
            value: value.to_vec(),
            sha256: hmac::Key::new(hmac::HMAC_SHA256, value),
            sha1: hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, value),
        }
    }
}

impl Secrets {
    /// One active secret.
    pub fn new(current: impl AsRef<[u8]>) -> Self {
        Secrets {
            current: Secret::new(current.as_ref()),
            other: None,
        }
    }

    /// Add the second value of a rotation (the old or the new one; both are accepted).
    pub fn with_other(mut self, other: impl AsRef<[u8]>) -> Self {
        self.other = Some(Secret::new(other.as_ref()));
        self
    }

    /// The value used when rapport itself must sign (X CRC responses).
    pub fn current(&self) -> &[u8] {
        &self.current.value
    }

    fn iter(&self) -> impl Iterator<Item = &Secret> {
        std::iter::once(&self.current).chain(self.other.as_ref())
    }
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = 1 + usize::from(self.other.is_some());
        write!(f, "Secrets({n} active)")
    }
}

/// Read access to request headers, by case-insensitive name. The HTTP layer implements it for
/// its header map (or collects pairs into a slice, which implements it here).
pub trait Headers {
    fn header(&self, name: &str) -> Option<&str>;
}

impl Headers for [(&str, &str)] {
    fn header(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

impl<const N: usize> Headers for [(&str, &str); N] {
    fn header(&self, name: &str) -> Option<&str> {
        self.as_slice().header(name)
    }
}

/// Check the signature of a POST delivery to `endpoint`. `now_unix` (seconds) is only used by
/// the generic scheme, the only one with a timestamp.
pub fn verify(
    endpoint: &Endpoint,
    headers: &(impl Headers + ?Sized),
    body: &[u8],
    secrets: &Secrets,
    now_unix: i64,
) -> Result<(), SignatureError> {
    match endpoint {
        Endpoint::Meta => verify_meta(
            headers.header(META_SIGNATURE_HEADER),
            headers.header(HUB_SIGNATURE_HEADER),
            body,
            secrets,
        ),
        Endpoint::X => verify_x(headers.header(X_SIGNATURE_HEADER), body, secrets),
        Endpoint::Mastodon { .. } => {
            verify_mastodon(headers.header(HUB_SIGNATURE_HEADER), body, secrets)
        }
        Endpoint::Generic => verify_generic(
            headers.header(GENERIC_SIGNATURE_HEADER),
            body,
            secrets,
            now_unix,
        ),
    }
}

/// Meta (Pages, Messenger, Instagram): `X-Hub-Signature-256: sha256=<hex>`.
///
/// The legacy `X-Hub-Signature: sha1=<hex>` is consulted only when the -256 header is absent
/// (older apps and Meta's own sample servers still verify it). When the -256 header is present
/// its verdict is final: a valid SHA-1 never rescues a wrong SHA-256.
pub fn verify_meta(
    signature_256: Option<&str>,
    legacy_signature: Option<&str>,
    body: &[u8],
    secrets: &Secrets,
) -> Result<(), SignatureError> {
    if let Some(value) = signature_256 {
        let mac = hex_after_prefix(value, "sha256=", META_SIGNATURE_HEADER)?;
        return check(secrets, mac.as_slice(), body, |s| &s.sha256);
    }
    let value = legacy_signature.ok_or(SignatureError::MissingHeader {
        header: META_SIGNATURE_HEADER,
    })?;
    let mac = hex_after_prefix(value, "sha1=", HUB_SIGNATURE_HEADER)?;
    check(secrets, mac.as_slice(), body, |s| &s.sha1)
}

/// X: `x-twitter-webhooks-signature: sha256=<base64>`.
pub fn verify_x(
    signature: Option<&str>,
    body: &[u8],
    secrets: &Secrets,
) -> Result<(), SignatureError> {
    let value = signature.ok_or(SignatureError::MissingHeader {
        header: X_SIGNATURE_HEADER,
    })?;
    let encoded = value
        .trim()
        .strip_prefix("sha256=")
        .ok_or(SignatureError::MalformedHeader {
            header: X_SIGNATURE_HEADER,
            reason: "expected `sha256=<base64>`",
        })?;
    let mac = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| SignatureError::MalformedHeader {
            header: X_SIGNATURE_HEADER,
            reason: "signature is not Base64",
        })?;
    check(secrets, mac.as_slice(), body, |s| &s.sha256)
}

/// Mastodon: `X-Hub-Signature: sha256=<hex>`.
pub fn verify_mastodon(
    signature: Option<&str>,
    body: &[u8],
    secrets: &Secrets,
) -> Result<(), SignatureError> {
    let value = signature.ok_or(SignatureError::MissingHeader {
        header: HUB_SIGNATURE_HEADER,
    })?;
    let mac = hex_after_prefix(value, "sha256=", HUB_SIGNATURE_HEADER)?;
    check(secrets, mac.as_slice(), body, |s| &s.sha256)
}

/// rapport's generic endpoint: `X-Rapport-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]`, each
/// `v1` an HMAC-SHA256 of `t + "." + body`. Several `v1` entries let a sender sign with both
/// halves of a rotation; any one matching any active secret is enough. Unknown keys (future
/// schemes) are skipped.
pub fn verify_generic(
    signature: Option<&str>,
    body: &[u8],
    secrets: &Secrets,
    now_unix: i64,
) -> Result<(), SignatureError> {
    const H: &str = GENERIC_SIGNATURE_HEADER;
    let value = signature.ok_or(SignatureError::MissingHeader { header: H })?;
    let malformed = |reason| SignatureError::MalformedHeader { header: H, reason };
    let mut timestamp: Option<&str> = None;
    let mut macs = Vec::new();
    for part in value.split(',') {
        let (key, val) = part
            .trim()
            .split_once('=')
            .ok_or(malformed("expected key=value pairs"))?;
        match key {
            "t" if timestamp.is_some() => return Err(malformed("more than one `t`")),
            "t" => timestamp = Some(val),
            "v1" => {
                if macs.len() == MAX_GENERIC_SIGNATURES {
                    return Err(malformed("too many `v1` entries"));
                }
                macs.push(hex::decode(val).map_err(|_| malformed("`v1` is not hex"))?);
            }
            _ => {}
        }
    }
    let t_text = timestamp.ok_or(malformed("no `t` timestamp"))?;
    if macs.is_empty() {
        return Err(malformed("no `v1` signature"));
    }
    let t: i64 = t_text
        .parse()
        .map_err(|_| malformed("`t` is not an integer"))?;
    if now_unix.abs_diff(t) > GENERIC_TOLERANCE_SECS.unsigned_abs() {
        return Err(SignatureError::StaleTimestamp {
            timestamp: t,
            now: now_unix,
            tolerance_secs: GENERIC_TOLERANCE_SECS,
        });
    }
    // One tag per active secret, compared with every `v1` entry.
    let matched = secrets.iter().any(|secret| {
        let tag = generic_tag(&secret.sha256, t_text, body);
        macs.iter()
            .any(|mac| bool::from(tag.as_ref().ct_eq(mac.as_slice())))
    });
    if matched {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Sign a generic delivery (for `rapport simulate` and tests): the header value for `body`
/// sent at `t_unix`.
pub fn sign_generic(body: &[u8], secret: &[u8], t_unix: i64) -> String {
    let t = t_unix.to_string();
    let tag = generic_tag(&hmac::Key::new(hmac::HMAC_SHA256, secret), &t, body);
    format!("t={t},v1={}", hex::encode(tag.as_ref()))
}

/// The generic scheme's HMAC: over `t + "." + body`.
fn generic_tag(key: &hmac::Key, t: &str, body: &[u8]) -> hmac::Tag {
    let mut context = hmac::Context::with_key(key);
    context.update(t.as_bytes());
    context.update(b".");
    context.update(body);
    context.sign()
}

/// Meta's GET verification (FORMATS.md §1.1): with `hub.mode=subscribe` and a `hub.verify_token`
/// equal to one of `verify_tokens`, returns the `hub.challenge` to echo back as the plain-text
/// 200 body. PHP-style names (`hub_mode`, ...) are accepted too.
pub fn meta_handshake(query: &str, verify_tokens: &Secrets) -> Result<String, HandshakeError> {
    let mut mode = None;
    let mut token = None;
    let mut challenge = None;
    for (key, value) in query_pairs(query)? {
        match key.as_str() {
            "hub.mode" | "hub_mode" => mode = Some(value),
            "hub.verify_token" | "hub_verify_token" => token = Some(value),
            "hub.challenge" | "hub_challenge" => challenge = Some(value),
            _ => {}
        }
    }
    let mode = mode.ok_or(HandshakeError::MissingParameter("hub.mode"))?;
    let token = token.ok_or(HandshakeError::MissingParameter("hub.verify_token"))?;
    let challenge = challenge.ok_or(HandshakeError::MissingParameter("hub.challenge"))?;
    if mode != "subscribe" {
        return Err(HandshakeError::NotSubscribe);
    }
    let token_ok = verify_tokens
        .iter()
        .fold(subtle::Choice::from(0), |acc, t| {
            acc | t.value.ct_eq(token.as_bytes())
        });
    if bool::from(token_ok) {
        Ok(challenge)
    } else {
        Err(HandshakeError::TokenMismatch)
    }
}

/// X's CRC check (FORMATS.md §3.1): the `crc_token` of a GET query string.
pub fn x_crc_token(query: &str) -> Result<String, HandshakeError> {
    query_pairs(query)?
        .into_iter()
        .find(|(k, _)| k == "crc_token")
        .map(|(_, v)| v)
        .ok_or(HandshakeError::MissingParameter("crc_token"))
}

/// X's CRC response body, `{"response_token":"sha256=<base64>"}`, signed with the current
/// consumer secret (X registers one secret per app; the rotation partner is only for POSTs
/// still signed with the old one).
pub fn x_crc_response(crc_token: &str, secrets: &Secrets) -> String {
    let tag = hmac::sign(&secrets.current.sha256, crc_token.as_bytes());
    let token = base64::engine::general_purpose::STANDARD.encode(tag.as_ref());
    serde_json::json!({ "response_token": format!("sha256={token}") }).to_string()
}

/// `Ok` when `expected` is the HMAC of `body` under any active secret (exact length, constant
/// time).
fn check(
    secrets: &Secrets,
    expected: &[u8],
    body: &[u8],
    key: impl Fn(&Secret) -> &hmac::Key,
) -> Result<(), SignatureError> {
    if secrets
        .iter()
        .any(|secret| hmac::verify(key(secret), body, expected).is_ok())
    {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// A signature's bytes: up to 64 (SHA-512's digest) on the stack, longer ones on the heap.
enum MacBytes {
    Inline([u8; 64], usize),
    Heap(Vec<u8>),
}

impl MacBytes {
    fn as_slice(&self) -> &[u8] {
        match self {
            MacBytes::Inline(bytes, len) => &bytes[..*len],
            MacBytes::Heap(bytes) => bytes,
        }
    }
}

/// The hex digits after `prefix`, decoded. Every signature a platform sends fits the stack
/// buffer, which spares the growing `Vec` of `hex::decode` (some 2k instructions per request);
/// the two paths refuse the same inputs with the same error.
fn hex_after_prefix(
    value: &str,
    prefix: &'static str,
    header: &'static str,
) -> Result<MacBytes, SignatureError> {
    let digits = value
        .trim()
        .strip_prefix(prefix)
        .ok_or(SignatureError::MalformedHeader {
            header,
            reason: "unexpected algorithm prefix",
        })?;
    let not_hex = |_| SignatureError::MalformedHeader {
        header,
        reason: "signature is not hex",
    };
    let mut inline = [0u8; 64];
    if digits.len() <= 2 * inline.len() {
        // An odd length fails here as in `hex::decode`.
        let len = digits.len() / 2;
        hex::decode_to_slice(digits, &mut inline[..len]).map_err(not_hex)?;
        return Ok(MacBytes::Inline(inline, len));
    }
    hex::decode(digits).map(MacBytes::Heap).map_err(not_hex)
}

/// `application/x-www-form-urlencoded` pairs of a query string (without the leading `?`).
fn query_pairs(query: &str) -> Result<Vec<(String, String)>, HandshakeError> {
    query
        .trim_start_matches('?')
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((percent_decode(k)?, percent_decode(v)?))
        })
        .collect()
}

fn percent_decode(s: &str) -> Result<String, HandshakeError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .ok_or(HandshakeError::MalformedQuery)?;
                let text = std::str::from_utf8(hex).map_err(|_| HandshakeError::MalformedQuery)?;
                out.push(u8::from_str_radix(text, 16).map_err(|_| HandshakeError::MalformedQuery)?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| HandshakeError::MalformedQuery)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `hex_after_prefix` as plainly defined: `hex::decode` of what follows the prefix.
    fn hex_plain(value: &str, prefix: &str) -> Option<Vec<u8>> {
        hex::decode(value.trim().strip_prefix(prefix)?).ok()
    }

    fn hex_fast(value: &str, prefix: &'static str) -> Option<Vec<u8>> {
        match hex_after_prefix(value, prefix, "h") {
            Ok(mac) => Some(mac.as_slice().to_vec()),
            Err(SignatureError::MalformedHeader { .. }) => None,
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }

    #[test]
    fn hex_signatures_decode_as_hex_decode_decodes_them() {
        let mut cases = vec![
            String::new(),
            "sha256=".into(),
            "sha1=".into(),
            "sha256=0".into(),
            "sha256=zz".into(),
            " sha256=AbCd09 ".into(),
            "sha256=é0".into(),
        ];
        // Every length around the stack buffer's 128 digits, valid and with a bad last digit.
        for n in 0..=140 {
            let digits: String = (0..n)
                .map(|i| b"0123456789abcdefABCDEF"[i % 22] as char)
                .collect();
            cases.push(format!("sha256={digits}"));
            cases.push(format!("sha256={digits}g"));
            cases.push(format!("sha256=g{digits}"));
        }
        for value in &cases {
            for prefix in ["sha256=", "sha1="] {
                assert_eq!(
                    hex_fast(value, prefix),
                    hex_plain(value, prefix),
                    "{value:?}"
                );
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_headers_decode_as_hex_decode_decodes_them(value in "(sha256=)?[0-9a-fA-Fg ]{0,140}") {
            proptest::prop_assert_eq!(hex_fast(&value, "sha256="), hex_plain(&value, "sha256="));
        }
    }

    #[test]
    fn percent_decoding_handles_plus_escapes_and_rejects_truncation() {
        assert_eq!(percent_decode("a+b%2Fc%C3%A9").unwrap(), "a b/cé");
        assert_eq!(percent_decode("%4"), Err(HandshakeError::MalformedQuery));
        assert_eq!(percent_decode("%zz"), Err(HandshakeError::MalformedQuery));
        assert_eq!(percent_decode("%FF"), Err(HandshakeError::MalformedQuery));
    }

    /// The `hmac` and `sha2`/`sha1` crates, an implementation independent of ring's.
    mod oracle {
        use hmac::{Hmac, Mac};

        pub fn sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
            let mut m = <Hmac<sha2::Sha256> as hmac::digest::KeyInit>::new_from_slice(key)
                .expect("any key length");
            parts.iter().for_each(|p| m.update(p));
            m.finalize().into_bytes().to_vec()
        }

        pub fn sha1(key: &[u8], body: &[u8]) -> Vec<u8> {
            let mut m = <Hmac<sha1::Sha1> as hmac::digest::KeyInit>::new_from_slice(key)
                .expect("any key length");
            m.update(body);
            m.finalize().into_bytes().to_vec()
        }
    }

    proptest::proptest! {
        /// Every scheme accepts the tag the independent HMAC computes, under either active
        /// secret, and refuses it with one bit changed. Keys longer than a SHA block (64 bytes)
        /// are hashed first by HMAC; the range covers both sides of that.
        #[test]
        fn signatures_agree_with_an_independent_hmac(
            key in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..100),
            other in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..80),
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            use_other in proptest::prelude::any::<bool>(),
            flip in 0usize..256,
        ) {
            let secrets = if use_other {
                Secrets::new(&other).with_other(&key)
            } else {
                Secrets::new(&key)
            };
            let mut bad = oracle::sha256(&key, &[&body]);
            bad[flip % 32] ^= 1 << (flip % 8);

            let good = oracle::sha256(&key, &[&body]);
            let meta = |mac: &[u8]| verify_meta(Some(&format!("sha256={}", hex::encode(mac))), None, &body, &secrets);
            proptest::prop_assert_eq!(meta(&good), Ok(()));
            proptest::prop_assert_eq!(meta(&bad), Err(SignatureError::Mismatch));

            let hub = |mac: &[u8]| verify_mastodon(Some(&format!("sha256={}", hex::encode(mac))), &body, &secrets);
            proptest::prop_assert_eq!(hub(&good), Ok(()));
            proptest::prop_assert_eq!(hub(&bad), Err(SignatureError::Mismatch));

            let b64 = |mac: &[u8]| base64::engine::general_purpose::STANDARD.encode(mac);
            let x = |mac: &[u8]| verify_x(Some(&format!("sha256={}", b64(mac))), &body, &secrets);
            proptest::prop_assert_eq!(x(&good), Ok(()));
            proptest::prop_assert_eq!(x(&bad), Err(SignatureError::Mismatch));

            // A tag cut short, one byte longer or empty never verifies, whatever its prefix.
            let mut longer = good.clone();
            longer.push(0);
            for wrong in [&good[..16], &good[..31], &longer[..], &[][..]] {
                proptest::prop_assert_eq!(meta(wrong), Err(SignatureError::Mismatch));
                proptest::prop_assert_eq!(hub(wrong), Err(SignatureError::Mismatch));
                proptest::prop_assert_eq!(x(wrong), Err(SignatureError::Mismatch));
            }

            let legacy = oracle::sha1(&key, &body);
            let mut legacy_bad = legacy.clone();
            legacy_bad[flip % 20] ^= 1 << (flip % 8);
            let meta1 = |mac: &[u8]| verify_meta(None, Some(&format!("sha1={}", hex::encode(mac))), &body, &secrets);
            proptest::prop_assert_eq!(meta1(&legacy), Ok(()));
            proptest::prop_assert_eq!(meta1(&legacy_bad), Err(SignatureError::Mismatch));

            let now = 1_700_000_000;
            let t = now.to_string();
            let generic = oracle::sha256(&key, &[t.as_bytes(), b".", &body]);
            proptest::prop_assert_eq!(sign_generic(&body, &key, now), format!("t={t},v1={}", hex::encode(&generic)));
            let header = format!("t={t},v1={},v1={}", hex::encode(&bad), hex::encode(&generic));
            proptest::prop_assert_eq!(verify_generic(Some(&header), &body, &secrets, now), Ok(()));
            let header = format!("t={t},v1={}", hex::encode(&bad));
            proptest::prop_assert_eq!(verify_generic(Some(&header), &body, &secrets, now), Err(SignatureError::Mismatch));
            let mut generic_longer = generic.clone();
            generic_longer.push(0);
            let header = format!("t={t},v1={},v1={}", hex::encode(&generic[..16]), hex::encode(&generic_longer));
            proptest::prop_assert_eq!(verify_generic(Some(&header), &body, &secrets, now), Err(SignatureError::Mismatch));

            let crc = String::from_utf8_lossy(&body).into_owned();
            let expected = serde_json::json!({
                "response_token": format!("sha256={}", b64(&oracle::sha256(secrets.current(), &[crc.as_bytes()])))
            });
            let answered: serde_json::Value = serde_json::from_str(&x_crc_response(&crc, &secrets)).expect("json");
            proptest::prop_assert_eq!(answered, expected);
        }
    }

    #[test]
    fn secrets_debug_hides_values() {
        let s = Secrets::new("hunter2").with_other("swordfish");
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2") && !shown.contains("swordfish"));
        assert_eq!(shown, "Secrets(2 active)");
    }
}
