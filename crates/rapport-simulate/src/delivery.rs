//! A delivery is one webhook request as a platform would send it: endpoint path, headers
//! (signature included), body bytes, and the instant it is sent (plus, for analysis, the
//! instant the action happened). This module owns signing with the schemes `rapport ingest`
//! verifies, the path → [`Endpoint`] mapping, and the JSON-lines file format of `--out` /
//! `--replay`.

use std::io::{BufRead, Write};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use rapport_ingest::signature::{
    sign_generic, GENERIC_SIGNATURE_HEADER, HUB_SIGNATURE_HEADER, META_SIGNATURE_HEADER,
    X_SIGNATURE_HEADER,
};
use rapport_ingest::Endpoint;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::config::SimSecrets;
use crate::render::{GENERIC_PATH, MASTODON_PATH, META_PATH, X_PATH};
use crate::SimError;

/// One webhook request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Path on the ingest service, e.g. `/webhooks/meta` or `/webhooks/mastodon/<account>`.
    pub path: String,
    /// Request headers, signature included, in the order they are sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// When the platform sends it (simulated time, epoch ms).
    pub send_at_ms: i64,
    /// When the action it reports happened (epoch ms); before `send_at_ms`.
    pub occurred_at_ms: i64,
    /// A platform retry of an earlier delivery (same bytes).
    pub duplicate: bool,
}

impl Delivery {
    /// The ingest endpoint this delivery targets.
    pub fn endpoint(&self) -> Result<Endpoint, SimError> {
        endpoint_of(&self.path)
    }

    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Replace the generic signature with one made at `t_unix`. The generic scheme is the only
    /// one with a timestamp, checked against ingest's clock (5 min), so a simulated month is
    /// signed again when it is actually sent.
    pub fn resign_generic(&mut self, secret: &[u8], t_unix: i64) {
        if self.path != GENERIC_PATH {
            return;
        }
        let value = sign_generic(&self.body, secret, t_unix);
        match self
            .headers
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(GENERIC_SIGNATURE_HEADER))
        {
            Some(header) => header.1 = value,
            None => self
                .headers
                .push((GENERIC_SIGNATURE_HEADER.to_owned(), value)),
        }
    }
}

/// Map a path to the endpoint rapport ingest serves on it.
pub fn endpoint_of(path: &str) -> Result<Endpoint, SimError> {
    match path {
        META_PATH => Ok(Endpoint::Meta),
        X_PATH => Ok(Endpoint::X),
        GENERIC_PATH => Ok(Endpoint::Generic),
        MASTODON_PATH => Ok(Endpoint::Mastodon { account_id: None }),
        _ => match path
            .strip_prefix(MASTODON_PATH)
            .and_then(|r| r.strip_prefix('/'))
        {
            Some(account) if !account.is_empty() && !account.contains('/') => {
                Ok(Endpoint::Mastodon {
                    account_id: Some(account.to_owned()),
                })
            }
            _ => Err(SimError::UnknownPath(path.to_owned())),
        },
    }
}

fn hmac_sha256(secret: &[u8], body: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length; `new_from_slice` only fails for fixed-size-key MACs.
    match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(body);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => unreachable!("HMAC-SHA256 accepts keys of any length"),
    }
}

/// The signature header of `body` on `endpoint`, as the platform computes it. `t_unix` is
/// only used by the generic scheme.
pub fn signature_header(
    endpoint: &Endpoint,
    body: &[u8],
    secrets: &SimSecrets,
    t_unix: i64,
) -> (&'static str, String) {
    let secret = secrets.for_endpoint(endpoint).as_bytes();
    match endpoint {
        Endpoint::Meta => (
            META_SIGNATURE_HEADER,
            format!("sha256={}", hex::encode(hmac_sha256(secret, body))),
        ),
        Endpoint::X => (
            X_SIGNATURE_HEADER,
            format!(
                "sha256={}",
                base64::engine::general_purpose::STANDARD.encode(hmac_sha256(secret, body))
            ),
        ),
        Endpoint::Mastodon { .. } => (
            HUB_SIGNATURE_HEADER,
            format!("sha256={}", hex::encode(hmac_sha256(secret, body))),
        ),
        Endpoint::Generic => (GENERIC_SIGNATURE_HEADER, sign_generic(body, secret, t_unix)),
    }
}

/// One line of a `--out` file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    path: String,
    headers: Vec<(String, String)>,
    body_base64: String,
    send_at_ms: i64,
    occurred_at_ms: i64,
    #[serde(default)]
    duplicate: bool,
}

/// Write deliveries as JSON lines (body Base64, so the signed bytes survive exactly).
pub fn write_jsonl<'a>(
    mut out: impl Write,
    deliveries: impl IntoIterator<Item = &'a Delivery>,
) -> Result<(), SimError> {
    for d in deliveries {
        let line = Line {
            path: d.path.clone(),
            headers: d.headers.clone(),
            body_base64: base64::engine::general_purpose::STANDARD.encode(&d.body),
            send_at_ms: d.send_at_ms,
            occurred_at_ms: d.occurred_at_ms,
            duplicate: d.duplicate,
        };
        serde_json::to_writer(&mut out, &line).map_err(SimError::Encode)?;
        out.write_all(b"\n").map_err(SimError::Io)?;
    }
    out.flush().map_err(SimError::Io)
}

/// Read a file written by [`write_jsonl`]; blank lines are skipped.
pub fn read_jsonl(input: impl BufRead) -> Result<Vec<Delivery>, SimError> {
    let mut out = Vec::new();
    for (i, line) in input.lines().enumerate() {
        let line = line.map_err(SimError::Io)?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason: String| SimError::BadLine {
            line: i + 1,
            reason,
        };
        let l: Line = serde_json::from_str(&line).map_err(|e| bad(e.to_string()))?;
        endpoint_of(&l.path).map_err(|e| bad(e.to_string()))?;
        let body = base64::engine::general_purpose::STANDARD
            .decode(&l.body_base64)
            .map_err(|e| bad(format!("body_base64: {e}")))?;
        out.push(Delivery {
            path: l.path,
            headers: l.headers,
            body,
            send_at_ms: l.send_at_ms,
            occurred_at_ms: l.occurred_at_ms,
            duplicate: l.duplicate,
        });
    }
    Ok(out)
}
