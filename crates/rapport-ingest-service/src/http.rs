//! The public webhook routes and what each request goes through: endpoint enabled? → rate
//! limit (client IP, then endpoint family; 429) → declared size → an in-flight permit (bounded
//! wait) → body read under the size limit → signature check on the raw bytes → normalization →
//! (generic only) replay check on the event ids → produce and await every ack → 200. A malformed or
//! unknown-account delivery is written to the dead-letter topic first and refused only once
//! that record is acked. GET handshakes (Meta `hub.challenge`, X CRC) are answered here too.
//!
//! Owns routing, request handling, logging of each outcome and the dead-letter record's shape.
//! The status of each failure is decided in `error.rs`, the Kafka mechanics in `sink.rs`, the
//! platform rules in the `rapport-ingest` core.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Body as _;
use rapport_events::{DeadLetter, Stage};
use rapport_ingest::signature::{
    self, GENERIC_SIGNATURE_HEADER, HUB_SIGNATURE_HEADER, META_SIGNATURE_HEADER, X_SIGNATURE_HEADER,
};
use rapport_ingest::{Endpoint, HandshakeError, Headers, IngestError, Secrets};
use sha2::{Digest, Sha256};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::error::DeliveryError;
use crate::metrics::{IngestMetrics, Outcome};
use crate::rate_limit::RateLimiter;
use crate::replay::{RecentEvents, Verdict};
use crate::serve::PeerAddr;
use crate::settings::Settings;
use crate::sink::KafkaSink;

/// Every header whose presence (never its value) is recorded in a dead letter.
const SIGNATURE_HEADERS: [&str; 4] = [
    META_SIGNATURE_HEADER,
    HUB_SIGNATURE_HEADER,
    X_SIGNATURE_HEADER,
    GENERIC_SIGNATURE_HEADER,
];

/// Longest header value copied into a dead letter; enough for any real user agent.
const MAX_DEAD_LETTER_HEADER_LEN: usize = 256;

/// What the handlers share.
pub struct AppState {
    pub settings: Settings,
    pub sink: KafkaSink,
    pub metrics: IngestMetrics,
    /// `max_in_flight` permits: a delivery holds one from before its body is read until it is
    /// answered, so memory and broker queue use stay bounded under any load.
    pub permits: Semaphore,
    /// Authors of recent inbound items, to name whom a Page reply answers.
    pub authors: crate::authors::RecentAuthors,
    /// Token buckets per endpoint family ([`Family::index`]) and per client IP.
    pub limiter: RateLimiter,
    /// Generic event ids produced recently (replay protection).
    pub replay: Arc<RecentEvents>,
}

/// A request of the public port as hyper hands it over: its body unread, and not boxed into
/// axum's `Body` since nothing here needs the type erased.
pub type Request = axum::http::Request<hyper::body::Incoming>;

/// Where a request of the public port goes: a handler, or a refusal the route table decides.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    MetaHandshake,
    XCrc,
    Meta,
    X,
    Mastodon,
    /// The account id percent-decoded.
    MastodonAccount(String),
    Generic,
    /// A Mastodon account id that is not UTF-8 once percent-decoded.
    BadAccountId,
    /// A known path with another method; the methods it takes, as `Allow` lists them.
    NotAllowed(&'static str),
    NotFound,
}

impl Route {
    /// The route of a request, decided as axum's Router decided it for the same route table:
    /// the raw (still percent-encoded) path matched exactly, so a trailing slash or an empty or
    /// nested account id is no route; a GET route takes HEAD too.
    fn of(method: &Method, path: &str) -> Route {
        let get = method == Method::GET || method == Method::HEAD;
        let post = method == Method::POST;
        let Some(rest) = path.strip_prefix("/webhooks/") else {
            return Route::NotFound;
        };
        match rest {
            "meta" if get => Route::MetaHandshake,
            "meta" if post => Route::Meta,
            "x" if get => Route::XCrc,
            "x" if post => Route::X,
            "meta" | "x" => Route::NotAllowed("GET,HEAD,POST"),
            "mastodon" if post => Route::Mastodon,
            "generic" if post => Route::Generic,
            "mastodon" | "generic" => Route::NotAllowed("POST"),
            _ => match rest.strip_prefix("mastodon/") {
                Some(id) if !id.is_empty() && !id.contains('/') => {
                    if !post {
                        return Route::NotAllowed("POST");
                    }
                    match percent_encoding::percent_decode_str(id).decode_utf8() {
                        Ok(id) => Route::MastodonAccount(id.into_owned()),
                        Err(_) => Route::BadAccountId,
                    }
                }
                _ => Route::NotFound,
            },
        }
    }
}

/// Answer one request of the public port. A direct match over the few fixed routes rather than
/// axum's Router, which cloned itself, boxed a service and ran a oneshot for every request.
/// The answers are the Router's: 404 with no body for an unknown path, 405 with `Allow` for
/// another method on a known one, GET handlers answering HEAD without the body, and a
/// `Content-Length` on every answer of a route whose body length is known (an empty answer
/// outside HEAD gets hyper's own, see [`route_answer`]).
pub async fn dispatch(state: Arc<AppState>, peer: PeerAddr, request: Request) -> Response {
    let head = request.method() == Method::HEAD;
    let state = &*state;
    let response = match Route::of(request.method(), request.uri().path()) {
        Route::MetaHandshake => meta_handshake(state, peer, request).await,
        Route::XCrc => x_crc(state, peer, request).await,
        Route::Meta => meta(state, Incoming::new(request, peer)).await,
        Route::X => x(state, Incoming::new(request, peer)).await,
        Route::Mastodon => mastodon(state, Incoming::new(request, peer)).await,
        Route::MastodonAccount(id) => {
            mastodon_for_account(state, id, Incoming::new(request, peer)).await
        }
        Route::Generic => generic(state, Incoming::new(request, peer)).await,
        // Axum's `Path` extractor refused such an id with this answer.
        Route::BadAccountId => (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "Invalid URL: Invalid UTF-8 in `account_id`",
        )
            .into_response(),
        Route::NotAllowed(allow) => {
            (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, allow)]).into_response()
        }
        // The Router's fallback answered as it is, without the route treatment below.
        Route::NotFound => return StatusCode::NOT_FOUND.into_response(),
    };
    route_answer(response, head)
}

/// What axum's Router did to every answer of a route: name the body's length when it is known
/// and no header does yet (hyper would name it too, but after its own headers, so the head
/// would not be the same bytes), and send no body to a HEAD request. An empty body outside HEAD
/// is left alone: hyper drops a `content-length: 0` header there and writes its own after the
/// others, so the header only cost the answer's header map (every accepted delivery's answer).
fn route_answer(mut response: Response, head: bool) -> Response {
    let body = response.body();
    let unseen = !head && body.is_end_stream();
    if let Some(len) = body.size_hint().exact().filter(|_| !unseen) {
        if !response.headers().contains_key(header::CONTENT_LENGTH) {
            let value = match len {
                0 => HeaderValue::from_static("0"),
                n => HeaderValue::from(n),
            };
            response.headers_mut().insert(header::CONTENT_LENGTH, value);
        }
    }
    if head {
        *response.body_mut() = Body::empty();
    }
    response
}

/// The endpoint families; `label` is the bounded `platform` metric label.
#[derive(Debug, Clone, Copy)]
pub enum Family {
    Meta,
    X,
    Mastodon,
    Generic,
}

impl Family {
    /// The families, in [`Family::index`] order.
    pub const COUNT: usize = 4;

    fn index(self) -> usize {
        match self {
            Family::Meta => 0,
            Family::X => 1,
            Family::Mastodon => 2,
            Family::Generic => 3,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Family::Meta => "meta",
            Family::X => "x",
            Family::Mastodon => "mastodon",
            Family::Generic => "generic",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Family::Meta => "/webhooks/meta",
            Family::X => "/webhooks/x",
            Family::Mastodon => "/webhooks/mastodon",
            Family::Generic => "/webhooks/generic",
        }
    }

    fn secrets(self, settings: &Settings) -> Option<&Secrets> {
        let s = &settings.secrets;
        match self {
            Family::Meta => s.meta.as_ref(),
            Family::X => s.x.as_ref(),
            Family::Mastodon => s.mastodon.as_ref(),
            Family::Generic => s.generic.as_ref(),
        }
    }
}

async fn meta(state: &AppState, request: Incoming) -> Response {
    deliver(state, Family::Meta, Endpoint::Meta, None, request).await
}

async fn x(state: &AppState, request: Incoming) -> Response {
    deliver(state, Family::X, Endpoint::X, None, request).await
}

async fn mastodon(state: &AppState, request: Incoming) -> Response {
    let endpoint = Endpoint::Mastodon { account_id: None };
    deliver(state, Family::Mastodon, endpoint, None, request).await
}

async fn mastodon_for_account(state: &AppState, account_id: String, request: Incoming) -> Response {
    let source = format!("{}/{account_id}", Family::Mastodon.path());
    let endpoint = Endpoint::Mastodon {
        account_id: Some(account_id),
    };
    deliver(state, Family::Mastodon, endpoint, Some(source), request).await
}

async fn generic(state: &AppState, request: Incoming) -> Response {
    deliver(state, Family::Generic, Endpoint::Generic, None, request).await
}

/// What a POST handler hands on: the peer, the head and the unread body.
struct Incoming {
    peer: PeerAddr,
    headers: HeaderMap,
    body: hyper::body::Incoming,
}

impl Incoming {
    /// Takes the head apart rather than through axum's `HeaderMap` extractor, which clones
    /// the whole header map of every request.
    fn new(request: Request, peer: PeerAddr) -> Incoming {
        let (parts, body) = request.into_parts();
        Incoming {
            peer,
            headers: parts.headers,
            body,
        }
    }
}

/// The client a request counts against: the last entry of the configured forwarding header
/// when it holds an IP, else the TCP peer.
fn client_ip(settings: &Settings, peer: Option<PeerAddr>, headers: &HeaderMap) -> Option<IpAddr> {
    let forwarded = settings.client_ip_header.as_ref().and_then(|name| {
        let value = headers.get_all(name).iter().next_back()?.to_str().ok()?;
        value.rsplit(',').next()?.trim().parse::<IpAddr>().ok()
    });
    forwarded.or(peer.map(|PeerAddr(addr)| addr.ip()))
}

/// Take a token for this request from its client's and its family's bucket, or refuse it.
fn admit(state: &AppState, family: Family, ip: Option<IpAddr>) -> Result<(), DeliveryError> {
    state
        .limiter
        .check(family.index(), ip, Instant::now())
        .map_err(|refusal| DeliveryError::RateLimited {
            by: refusal.by,
            retry_after_secs: refusal.retry_after_secs(),
        })
}

/// GET /webhooks/meta: echo `hub.challenge` when the verify token matches, else 403.
async fn meta_handshake(state: &AppState, peer: PeerAddr, request: Request) -> Response {
    let started = Instant::now();
    let (parts, _) = request.into_parts();
    let query = parts.uri.query();
    let ip = client_ip(&state.settings, Some(peer), &parts.headers);
    let result = (|| {
        Family::Meta
            .secrets(&state.settings)
            .ok_or(DeliveryError::Disabled {
                endpoint: Family::Meta.path(),
            })?;
        admit(state, Family::Meta, ip)?;
        let Some(tokens) = &state.settings.secrets.meta_verify_token else {
            tracing::warn!("Meta handshake refused: ingest.meta.verify_token is not configured");
            return Err(IngestError::from(HandshakeError::TokenMismatch).into());
        };
        signature::meta_handshake(query.unwrap_or(""), tokens)
            .map_err(|e| DeliveryError::from(IngestError::from(e)))
    })();
    let response = result.map(|challenge| {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            challenge,
        )
    });
    handshake_done(state, Family::Meta, started, response)
}

/// GET /webhooks/x: answer the CRC check with the signed `response_token`.
async fn x_crc(state: &AppState, peer: PeerAddr, request: Request) -> Response {
    let started = Instant::now();
    let (parts, _) = request.into_parts();
    let query = parts.uri.query();
    let ip = client_ip(&state.settings, Some(peer), &parts.headers);
    let result = (|| {
        let secrets = Family::X
            .secrets(&state.settings)
            .ok_or(DeliveryError::Disabled {
                endpoint: Family::X.path(),
            })?;
        admit(state, Family::X, ip)?;
        let token = signature::x_crc_token(query.unwrap_or(""))
            .map_err(|e| DeliveryError::from(IngestError::from(e)))?;
        Ok(signature::x_crc_response(&token, secrets))
    })();
    let response = result.map(|body| {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
    });
    handshake_done(state, Family::X, started, response)
}

fn handshake_done(
    state: &AppState,
    family: Family,
    started: Instant,
    result: Result<impl IntoResponse, DeliveryError>,
) -> Response {
    let (outcome, response) = match result {
        Ok(ok) => (Outcome::HandshakeOk, ok.into_response()),
        Err(err) => {
            let (status, outcome, _) = err.status();
            tracing::info!(
                endpoint = family.path(),
                status = status.as_u16(),
                outcome = outcome.as_str(),
                "handshake refused"
            );
            tracing::debug!(endpoint = family.path(), error = %err, "handshake refusal detail");
            (outcome, err.into_response())
        }
    };
    state
        .metrics
        .request_finished(family.label(), outcome, started.elapsed());
    response
}

/// A POST delivery from start to answer, with its outcome counted and logged once.
async fn deliver(
    state: &AppState,
    family: Family,
    endpoint: Endpoint,
    source: Option<String>,
    request: Incoming,
) -> Response {
    let started = Instant::now();
    let result = try_deliver(state, family, &endpoint, source, request, started).await;
    let elapsed = started.elapsed();
    let (outcome, response) = match result {
        Ok(done) => {
            tracing::debug!(
                endpoint = family.path(),
                events = done.events,
                replayed = done.replayed,
                elapsed_us = elapsed.as_micros() as u64,
                "delivery accepted"
            );
            let outcome = if done.events == 0 && done.replayed > 0 {
                Outcome::Replayed
            } else {
                Outcome::Accepted
            };
            (outcome, StatusCode::OK.into_response())
        }
        Err(err) => {
            log_refusal(family, &err);
            (err.status().1, err.into_response())
        }
    };
    state
        .metrics
        .request_finished(family.label(), outcome, elapsed);
    response
}

fn log_refusal(family: Family, err: &DeliveryError) {
    let (status, outcome, _) = err.status();
    let (endpoint, status, outcome) = (family.path(), status.as_u16(), outcome.as_str());
    match err {
        DeliveryError::Internal { .. } => {
            tracing::error!(endpoint, status, error = %rapport_runtime::telemetry::error_chain(err), "delivery failed")
        }
        DeliveryError::Overloaded { .. } | DeliveryError::Unavailable { .. } => {
            tracing::warn!(endpoint, status, outcome, error = %err, "delivery not acked, asking to retry")
        }
        DeliveryError::RateLimited { .. } | DeliveryError::ReplayInFlight => {
            // Expected under a flood or a sender's retry storm: counted, not logged per request.
            tracing::debug!(endpoint, status, outcome, error = %err, "delivery asked to retry later")
        }
        DeliveryError::Disabled { .. }
        | DeliveryError::Rejected(_)
        | DeliveryError::BodyRead(_)
        | DeliveryError::BodyTimeout { .. } => {
            tracing::info!(endpoint, status, outcome, "delivery refused");
            // The detail may name an account id: debug level only.
            tracing::debug!(endpoint, error = %rapport_runtime::telemetry::error_chain(err), "delivery refusal detail");
        }
    }
}

/// What an accepted delivery did.
struct Delivered {
    /// Events produced and acked.
    events: usize,
    /// Generic events dropped as replays.
    replayed: usize,
}

async fn try_deliver(
    state: &AppState,
    family: Family,
    endpoint: &Endpoint,
    source: Option<String>,
    request: Incoming,
    started: Instant,
) -> Result<Delivered, DeliveryError> {
    let Incoming {
        peer,
        headers,
        body,
    } = request;
    let headers = &headers;
    let settings = &state.settings;
    let secrets = family.secrets(settings).ok_or(DeliveryError::Disabled {
        endpoint: family.path(),
    })?;
    admit(state, family, client_ip(settings, Some(peer), headers))?;
    // Refuse a declared oversize body before it costs a permit or a byte of memory.
    if let Some(declared) = content_length(headers) {
        IngestError::check_size(declared, settings.max_body_bytes)?;
    }
    // One deadline for the whole delivery: waiting for capacity and waiting for acks share it,
    // so a platform never waits much longer than `ack_timeout` for its answer.
    let deadline = started + settings.ack_timeout;
    let _permit = permit(&state.permits, deadline, settings.ack_timeout).await?;
    let _in_flight = state.metrics.in_flight();
    let body = read_body(body, settings.max_body_bytes, BODY_READ_TIMEOUT).await?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let received_at_ms = i64::try_from(now.as_millis()).unwrap_or(i64::MAX);
    let now_unix = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);

    signature::verify(endpoint, &HttpHeaders(headers), &body, secrets, now_unix)
        .map_err(IngestError::from)?;

    let mut events =
        match rapport_ingest::normalize(endpoint, &body, received_at_ms, &settings.directory) {
            Ok(events) => events,
            Err(refused) => {
                let source = source.unwrap_or_else(|| family.path().to_owned());
                return Err(dead_letter_then_refuse(
                    state,
                    refused,
                    source,
                    headers,
                    body,
                    received_at_ms,
                    deadline,
                )
                .await);
            }
        };
    // Generic events already produced inside the signature window are replays: drop them.
    let mut replayed = 0;
    let mut reservation = None;
    if matches!(family, Family::Generic) {
        match state
            .replay
            .reserve(events, |e| e.event_id.as_str(), now_unix)
        {
            Verdict::Fresh {
                events: fresh,
                duplicates,
                reservation: r,
            } => {
                events = fresh;
                replayed = duplicates;
                reservation = Some(r);
            }
            Verdict::InFlight => return Err(DeliveryError::ReplayInFlight),
        }
        if replayed > 0 {
            state.metrics.events_replayed(replayed);
        }
    }
    let attribution = state.authors.attribute(&mut events);
    if attribution.unknown > 0 {
        tracing::debug!(
            unattributed = attribution.unknown,
            "brand replies whose parent's author is not known here"
        );
    }
    if !settings.keep_text {
        for event in &mut events {
            event.text = None;
        }
    }
    if events.is_empty() {
        return Ok(Delivered {
            events: 0,
            replayed,
        });
    }
    let produce_time = match state.sink.produce_events(&events, deadline).await {
        Ok(elapsed) => elapsed,
        // Nothing was enqueued: an authentic delivery that cannot become records.
        Err(DeliveryError::Rejected(refused @ IngestError::Malformed { .. })) => {
            let source = source.unwrap_or_else(|| family.path().to_owned());
            return Err(dead_letter_then_refuse(
                state,
                refused,
                source,
                headers,
                body,
                received_at_ms,
                deadline,
            )
            .await);
        }
        Err(other) => return Err(other),
    };
    if let Some(r) = reservation {
        r.commit();
    }
    state.metrics.events_acked(&events, produce_time);
    if tracing::enabled!(tracing::Level::DEBUG) {
        for e in &events {
            tracing::debug!(event_id = %e.event_id, brand_id = %e.brand_id, kind = e.kind.as_str(), "event acked");
        }
    }
    Ok(Delivered {
        events: events.len(),
        replayed,
    })
}

/// An in-flight permit, waiting for one until `deadline`. A free permit is taken at once,
/// without the timer a timed wait would create and register (the common case).
async fn permit<'a>(
    permits: &'a Semaphore,
    deadline: Instant,
    ack_timeout: Duration,
) -> Result<SemaphorePermit<'a>, DeliveryError> {
    match permits.try_acquire() {
        Ok(permit) => Ok(permit),
        // None free, or closed: the timed wait answers both (a closed semaphore at once).
        Err(_) => permit_timed(permits, deadline, ack_timeout).await,
    }
}

/// A timed wait for an in-flight permit: 503 (overloaded) when none is free by `deadline`.
async fn permit_timed<'a>(
    permits: &'a Semaphore,
    deadline: Instant,
    ack_timeout: Duration,
) -> Result<SemaphorePermit<'a>, DeliveryError> {
    match tokio::time::timeout_at(deadline.into(), permits.acquire()).await {
        Ok(Ok(permit)) => Ok(permit),
        Ok(Err(closed)) => Err(DeliveryError::internal("in-flight permits closed", closed)),
        Err(_elapsed) => Err(DeliveryError::Overloaded {
            waited: ack_timeout,
        }),
    }
}

/// Keep a refused-but-authentic delivery on the dead-letter topic, then answer with the
/// refusal; if the dead letter cannot be written, answer 503 so the platform retries and the
/// delivery is not lost.
async fn dead_letter_then_refuse(
    state: &AppState,
    refused: IngestError,
    source: String,
    headers: &HeaderMap,
    body: Bytes,
    received_at_ms: i64,
    deadline: Instant,
) -> DeliveryError {
    let Some(reason) = refused.dead_letter_reason() else {
        return refused.into();
    };
    let dead_letter = ingest_dead_letter(
        reason,
        refused.to_string(),
        source,
        headers,
        &body,
        received_at_ms,
        state.settings.dead_letter_payload_max,
    );
    match state.sink.produce_dead_letter(&dead_letter, deadline).await {
        Ok(()) => {
            state.metrics.dead_lettered(reason);
            tracing::info!(reason, dead_letter_id = %dead_letter.dead_letter_id, "delivery dead-lettered");
            refused.into()
        }
        Err(err) => err,
    }
}

/// The dead letter of a refused delivery. A body longer than `payload_max` is kept as its
/// first `payload_max` bytes, with its full length and SHA-256 among the headers and in the
/// detail: a record over the producer's `message.max.bytes` would be refused by the client, and
/// the delivery could then never be answered with anything but 500.
pub fn ingest_dead_letter(
    reason: &str,
    mut detail: String,
    source: String,
    headers: &HeaderMap,
    body: &[u8],
    received_at_ms: i64,
    payload_max: usize,
) -> DeadLetter {
    let mut kept = dead_letter_headers(headers);
    let payload = if body.len() > payload_max {
        let digest = hex::encode(Sha256::digest(body));
        detail.push_str(&format!(
            "; payload truncated to its first {payload_max} of {} bytes (sha256 {digest})",
            body.len()
        ));
        kept.insert(PAYLOAD_BYTES_HEADER.to_owned(), body.len().to_string());
        kept.insert(PAYLOAD_SHA256_HEADER.to_owned(), digest);
        body[..payload_max].to_vec()
    } else {
        body.to_vec()
    };
    DeadLetter {
        dead_letter_id: dead_letter_id(&source, body),
        stage: Stage::Ingest,
        reason: reason.to_owned(),
        detail,
        source,
        headers: kept,
        payload,
        partition: None,
        offset: None,
        occurred_at: received_at_ms,
    }
}

/// Dead-letter header with the original body length, present only when the payload is cut.
pub const PAYLOAD_BYTES_HEADER: &str = "rapport-payload-bytes";
/// Dead-letter header with the hex SHA-256 of the whole original body, present only when cut.
pub const PAYLOAD_SHA256_HEADER: &str = "rapport-payload-sha256";

/// Deterministic, so a platform retry of the same bad delivery has the same id.
fn dead_letter_id(source: &str, payload: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(Stage::Ingest.as_str());
    h.update([0]);
    h.update(source);
    h.update([0]);
    h.update(payload);
    hex::encode(&h.finalize()[..16])
}

/// The headers a dead letter keeps: content type and user agent (truncated), and the names of
/// the signature headers that were present, with a placeholder instead of the value.
pub fn dead_letter_headers(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut kept = BTreeMap::new();
    for name in [header::CONTENT_TYPE, header::USER_AGENT] {
        if let Some(value) = headers.get(&name).and_then(|v| v.to_str().ok()) {
            let cut = floor_char_boundary(value, MAX_DEAD_LETTER_HEADER_LEN);
            kept.insert(name.as_str().to_owned(), value[..cut].to_owned());
        }
    }
    for name in SIGNATURE_HEADERS {
        if headers.contains_key(name) {
            kept.insert(name.to_ascii_lowercase(), "present".to_owned());
        }
    }
    kept
}

fn floor_char_boundary(s: &str, max: usize) -> usize {
    if s.len() <= max {
        return s.len();
    }
    (0..=max)
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0)
}

fn content_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// How long a delivery's body may take to arrive once its head did. The read holds an
/// in-flight permit, so a client trickling its body must not keep one longer than a
/// slow-header client could keep its connection (serve.rs cuts those after 30–40 s).
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Read the whole body, refusing it with 413 as soon as it passes `limit` (a chunked body has
/// no length to check up front) and with 408 when it has not arrived within `timeout`.
pub async fn read_body<B>(body: B, limit: usize, timeout: Duration) -> Result<Bytes, DeliveryError>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: Into<axum::BoxError>,
{
    // A body that came with its head is ready at the first poll: the timer is never
    // registered then.
    match tokio::time::timeout(timeout, concat_frames(Limited::new(body, limit))).await {
        Err(_) => Err(DeliveryError::BodyTimeout { waited: timeout }),
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(err)) if err.downcast_ref::<LengthLimitError>().is_some() => {
            Err(IngestError::TooLarge { limit }.into())
        }
        Ok(Err(err)) => Err(DeliveryError::BodyRead(axum::Error::new(err))),
    }
}

/// The body's data, as `BodyExt::collect` and `Collected::to_bytes` give it, without the list
/// of frames `collect` allocates for every body: a body that came in one data frame (a webhook
/// sent with its head, the usual case) is that frame itself, and only a body of several frames
/// is copied into one buffer. Trailers are ignored, as `to_bytes` ignores them.
async fn concat_frames<B>(body: Limited<B>) -> Result<Bytes, axum::BoxError>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: Into<axum::BoxError>,
{
    let mut body = std::pin::pin!(body);
    let mut first = Bytes::new();
    let mut joined = Vec::new();
    while let Some(frame) = body.as_mut().frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        if data.is_empty() {
            continue;
        }
        if first.is_empty() {
            first = data;
            continue;
        }
        if joined.is_empty() {
            joined.extend_from_slice(&first);
        }
        joined.extend_from_slice(&data);
    }
    Ok(if joined.is_empty() {
        first
    } else {
        Bytes::from(joined)
    })
}

/// Header access for the core's signature checks.
struct HttpHeaders<'a>(&'a HeaderMap);

impl Headers for HttpHeaders<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v: &HeaderValue| v.to_str().ok())
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderName;
    use futures::stream;

    use super::*;

    /// The plain definition of the route table: axum's Router with these routes, each
    /// handler naming itself.
    fn axum_routes() -> axum::Router {
        use axum::extract::Path;
        use axum::routing::{get, post};
        let named = |name: &'static str| move || async move { name };
        axum::Router::new()
            .route(
                "/webhooks/meta",
                get(named("meta handshake")).post(named("meta")),
            )
            .route("/webhooks/x", get(named("x crc")).post(named("x")))
            .route("/webhooks/mastodon", post(named("mastodon")))
            .route(
                "/webhooks/mastodon/{account_id}",
                post(|Path(id): Path<String>| async move { format!("account {id}") }),
            )
            .route("/webhooks/generic", post(named("generic")))
    }

    /// What the Router answers to `method` on `target`: status, `Allow`, body.
    async fn axum_answer(method: &Method, target: &str) -> (u16, Option<String>, String) {
        use tower::ServiceExt as _;
        let request = axum::http::Request::builder()
            .method(method)
            .uri(target)
            .body(Body::empty())
            .expect("request");
        let response = axum_routes().oneshot(request).await.expect("infallible");
        let status = response.status().as_u16();
        let allow = response
            .headers()
            .get(header::ALLOW)
            .map(|v| v.to_str().expect("ascii").to_owned());
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (
            status,
            allow,
            String::from_utf8(body.to_vec()).expect("utf-8"),
        )
    }

    /// The same, from [`Route::of`] (a HEAD answer has no body).
    fn route_answer_of(method: &Method, target: &str) -> (u16, Option<String>, String) {
        let uri: axum::http::Uri = target.parse().expect("uri");
        let (status, allow, body) = match Route::of(method, uri.path()) {
            Route::MetaHandshake => (200, None, "meta handshake".to_owned()),
            Route::XCrc => (200, None, "x crc".to_owned()),
            Route::Meta => (200, None, "meta".to_owned()),
            Route::X => (200, None, "x".to_owned()),
            Route::Mastodon => (200, None, "mastodon".to_owned()),
            Route::MastodonAccount(id) => (200, None, format!("account {id}")),
            Route::Generic => (200, None, "generic".to_owned()),
            Route::BadAccountId => (
                400,
                None,
                "Invalid URL: Invalid UTF-8 in `account_id`".to_owned(),
            ),
            Route::NotAllowed(allow) => (405, Some(allow.to_owned()), String::new()),
            Route::NotFound => (404, None, String::new()),
        };
        let body = if method == Method::HEAD {
            String::new()
        } else {
            body
        };
        (status, allow, body)
    }

    fn methods() -> Vec<Method> {
        let mut methods = vec![
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
            Method::PATCH,
            Method::TRACE,
        ];
        methods.push(Method::from_bytes(b"BREW").expect("method"));
        methods
    }

    #[tokio::test]
    async fn routes_are_decided_as_axums_router_decided_them() {
        let prefixes = [
            "",
            "/webhooks",
            "/webhooks/",
            "//webhooks/",
            "/Webhooks/",
            "/webhooks//",
        ];
        let rests = [
            "",
            "meta",
            "x",
            "mastodon",
            "generic",
            "Meta",
            "metax",
            "xx",
            "meta/",
            "x/",
            "generic/",
            "mastodon/",
            "mastodon//",
            "mastodon/acct",
            "mastodon/acct/",
            "mastodon/a/b",
            "mastodon/a%20b",
            "mastodon/a%FF",
            "mastodon/%E2%82%AC",
            "mastodon/%e2%82",
            "mastodon/a%2Fb",
            "mastodon/%",
            "mastodon/%zz",
            "mastodon/a+b",
            "mastodon/{id}",
            "mastodon/*",
            "mastodon/.",
            "mastodon/..",
            "%6Deta",
            "me%74a",
        ];
        let queries = ["", "?", "?q=1", "?hub.challenge=c&x=/webhooks/meta"];
        let mut checked = 0;
        for prefix in prefixes {
            for rest in rests {
                for query in queries {
                    let target = format!("{prefix}{rest}{query}");
                    if target.parse::<axum::http::Uri>().is_err() {
                        continue;
                    }
                    for method in methods() {
                        assert_eq!(
                            route_answer_of(&method, &target),
                            axum_answer(&method, &target).await,
                            "{method} {target}"
                        );
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 5000, "{checked}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        #[test]
        fn any_path_is_routed_as_axums_router_routes_it(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "/", "/webhooks", "/webhooks/", "meta", "x", "mastodon", "generic", "%",
                    "%2F", "%FF", "%41", "a", ".", "?", "&", "=",
                ]),
                0..8,
            ),
            method in proptest::sample::select(methods()),
        ) {
            let target = format!("/{}", parts.concat());
            proptest::prop_assume!(target.parse::<axum::http::Uri>().is_ok());
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("runtime");
            let plain = runtime.block_on(axum_answer(&method, &target));
            proptest::prop_assert_eq!(route_answer_of(&method, &target), plain);
        }
    }

    /// What a permit attempt came to, and when (paused time, since the start).
    fn summary(result: &Result<SemaphorePermit<'_>, DeliveryError>) -> &'static str {
        match result {
            Ok(_) => "permit",
            Err(DeliveryError::Overloaded { .. }) => "overloaded",
            Err(DeliveryError::Internal { .. }) => "closed",
            Err(_) => "other",
        }
    }

    #[tokio::test(start_paused = true)]
    async fn permits_are_taken_as_a_timed_wait_would_take_them() {
        let timeout = Duration::from_secs(5);
        // (permits, free one after, close after): free, released in time, released too late,
        // never released, closed while waiting, closed before.
        let cases: [(usize, Option<u64>, Option<u64>); 7] = [
            (1, None, None),
            (3, None, None),
            (0, Some(2), None),
            (0, Some(5), None),
            (0, Some(9), None),
            (0, None, Some(1)),
            (0, None, Some(0)),
        ];
        for (free, release_after, close_after) in cases {
            let mut outcomes = Vec::new();
            for fast in [true, false] {
                let permits = Arc::new(Semaphore::new(free));
                let start = tokio::time::Instant::now();
                let deadline = start.into_std() + timeout;
                let held = Arc::clone(&permits);
                tokio::spawn(async move {
                    if let Some(after) = release_after {
                        tokio::time::sleep(Duration::from_secs(after)).await;
                        held.add_permits(1);
                    }
                    if let Some(after) = close_after {
                        tokio::time::sleep(Duration::from_secs(after)).await;
                        held.close();
                    }
                });
                tokio::task::yield_now().await;
                let result = if fast {
                    permit(&permits, deadline, timeout).await
                } else {
                    permit_timed(&permits, deadline, timeout).await
                };
                outcomes.push((summary(&result), start.elapsed()));
            }
            assert_eq!(
                outcomes[0], outcomes[1],
                "{free} free, released after {release_after:?}, closed after {close_after:?}"
            );
        }
    }

    #[test]
    fn dead_letters_keep_signature_header_names_but_never_their_values() {
        let mut h = HeaderMap::new();
        h.insert(
            "X-Hub-Signature-256",
            HeaderValue::from_static("sha256=deadbeef"),
        );
        h.insert(
            "x-twitter-webhooks-signature",
            HeaderValue::from_static("sha256=c2VjcmV0"),
        );
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(
            header::USER_AGENT,
            HeaderValue::from_static("facebookexternalua"),
        );
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer hunter2"),
        );
        let kept = dead_letter_headers(&h);
        let expected: BTreeMap<String, String> = [
            ("content-type", "application/json"),
            ("user-agent", "facebookexternalua"),
            ("x-hub-signature-256", "present"),
            ("x-twitter-webhooks-signature", "present"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(kept, expected);
        let all = format!("{kept:?}");
        assert!(!all.contains("deadbeef") && !all.contains("c2VjcmV0") && !all.contains("hunter2"));
    }

    #[test]
    fn long_user_agents_are_cut_on_a_character_boundary() {
        let mut h = HeaderMap::new();
        let ua = "é".repeat(200); // 400 bytes
        h.insert(
            header::USER_AGENT,
            HeaderValue::from_str(&ua).expect("header"),
        );
        // Non-ASCII header values are not `to_str`-able: they are skipped, not mangled.
        assert!(!dead_letter_headers(&h).contains_key("user-agent"));
        assert_eq!(floor_char_boundary(&ua, 255), 254);
        assert_eq!(floor_char_boundary("short", 255), 5);
    }

    #[test]
    fn a_dead_letter_over_the_cap_keeps_a_prefix_its_length_and_hash() {
        let headers = HeaderMap::new();
        let body: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        let small = ingest_dead_letter(
            "malformed",
            "bad".into(),
            "/x".into(),
            &headers,
            &body,
            7,
            1000,
        );
        assert_eq!(small.payload, body);
        assert_eq!(small.detail, "bad");
        assert!(!small.headers.contains_key(PAYLOAD_BYTES_HEADER));

        let cut = ingest_dead_letter(
            "malformed",
            "bad".into(),
            "/x".into(),
            &headers,
            &body,
            7,
            600,
        );
        assert_eq!(cut.payload, &body[..600]);
        assert_eq!(cut.headers[PAYLOAD_BYTES_HEADER], "1000");
        let digest = hex::encode(Sha256::digest(&body));
        assert_eq!(cut.headers[PAYLOAD_SHA256_HEADER], digest);
        assert!(cut
            .detail
            .starts_with("bad; payload truncated to its first 600 of 1000 bytes"));
        // The id still names the whole delivery, so retries of it collapse.
        assert_eq!(cut.dead_letter_id, small.dead_letter_id);
    }

    #[test]
    fn the_client_ip_is_the_peer_unless_a_forwarding_header_is_configured() {
        let mut settings =
            Settings::from_config(&rapport_runtime::Config::default()).expect("settings");
        let peer = Some(PeerAddr("10.1.2.3:5000".parse().expect("addr")));
        let mut h = HeaderMap::new();
        h.append(
            "x-forwarded-for",
            HeaderValue::from_static("1.1.1.1, 192.0.2.7"),
        );
        assert_eq!(
            client_ip(&settings, peer, &h),
            Some("10.1.2.3".parse().expect("ip"))
        );
        settings.client_ip_header = Some(HeaderName::from_static("x-forwarded-for"));
        assert_eq!(
            client_ip(&settings, peer, &h),
            Some("192.0.2.7".parse().expect("ip"))
        );
        h.append("x-forwarded-for", HeaderValue::from_static("garbage"));
        assert_eq!(
            client_ip(&settings, peer, &h),
            Some("10.1.2.3".parse().expect("ip")),
            "an unparsable last entry falls back to the peer"
        );
        assert_eq!(client_ip(&settings, None, &HeaderMap::new()), None);
    }

    #[test]
    fn dead_letter_ids_are_deterministic_per_source_and_payload() {
        let a = dead_letter_id("/webhooks/meta", b"{}");
        assert_eq!(a, dead_letter_id("/webhooks/meta", b"{}"));
        assert_ne!(a, dead_letter_id("/webhooks/x", b"{}"));
        assert_ne!(a, dead_letter_id("/webhooks/meta", b"{ }"));
        assert_eq!(a.len(), 32);
    }

    #[tokio::test]
    async fn a_chunked_body_over_the_limit_is_refused_with_413() {
        let chunks =
            stream::iter((0..8).map(|_| Ok::<_, std::io::Error>(Bytes::from_static(&[b'a'; 100]))));
        let err = read_body(Body::from_stream(chunks), 799, BODY_READ_TIMEOUT)
            .await
            .unwrap_err();
        assert_eq!(err.status().0, StatusCode::PAYLOAD_TOO_LARGE);

        let chunks =
            stream::iter((0..8).map(|_| Ok::<_, std::io::Error>(Bytes::from_static(&[b'a'; 100]))));
        let body = read_body(Body::from_stream(chunks), 800, BODY_READ_TIMEOUT)
            .await
            .expect("at the limit");
        assert_eq!(body.len(), 800);
    }

    /// `concat_frames` against its plain definition, `collect` then `to_bytes`, for bodies of
    /// up to four frames, each empty, one byte or longer.
    #[tokio::test]
    async fn frames_are_joined_as_collect_joins_them() {
        let pieces: [&'static [u8]; 3] = [b"", b"x", b"{\"object\":\"page\"}"];
        let mut bodies: Vec<Vec<&'static [u8]>> = vec![vec![]];
        for _ in 0..4 {
            let longer: Vec<_> = bodies
                .iter()
                .filter(|b| b.len() == bodies.last().map_or(0, Vec::len))
                .flat_map(|b| {
                    pieces.iter().map(move |p| {
                        let mut b = b.clone();
                        b.push(*p);
                        b
                    })
                })
                .collect();
            bodies.extend(longer);
        }
        assert_eq!(bodies.len(), 1 + 3 + 9 + 27 + 81);
        let stream_of = |frames: &[&'static [u8]]| {
            let frames: Vec<_> = frames
                .iter()
                .map(|f| Ok::<_, std::io::Error>(Bytes::from_static(f)))
                .collect();
            Limited::new(Body::from_stream(stream::iter(frames)), 1024)
        };
        for frames in &bodies {
            let ours = concat_frames(stream_of(frames)).await.expect("readable");
            let plain = stream_of(frames)
                .collect()
                .await
                .expect("readable")
                .to_bytes();
            assert_eq!(ours, plain, "{frames:?}");
        }
    }

    #[tokio::test]
    async fn a_broken_body_is_a_400_not_a_413() {
        let chunks = stream::iter([
            Ok(Bytes::from_static(b"{")),
            Err(std::io::Error::other("connection reset")),
        ]);
        let err = read_body(Body::from_stream(chunks), 1024, BODY_READ_TIMEOUT)
            .await
            .unwrap_err();
        assert!(matches!(err, DeliveryError::BodyRead(_)));
        assert_eq!(err.status().0, StatusCode::BAD_REQUEST);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stops_arriving_is_a_408_after_the_body_timeout() {
        use futures::StreamExt as _;
        // One chunk, then nothing: the client keeps the request open without finishing it.
        let chunks = stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"{"))])
            .chain(stream::pending());
        let started = tokio::time::Instant::now();
        let err = read_body(Body::from_stream(chunks), 1024, BODY_READ_TIMEOUT)
            .await
            .unwrap_err();
        assert!(matches!(err, DeliveryError::BodyTimeout { .. }), "{err:?}");
        assert_eq!(err.status().0, StatusCode::REQUEST_TIMEOUT);
        assert_eq!(started.elapsed(), BODY_READ_TIMEOUT);

        // A body that keeps arriving in time is read whole.
        let chunks = stream::iter(0..5).then(|_| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<_, std::io::Error>(Bytes::from_static(b"ab"))
        });
        let body = read_body(Body::from_stream(chunks), 1024, BODY_READ_TIMEOUT)
            .await
            .expect("25 s in all");
        assert_eq!(&body[..], b"ababababab");
    }

    #[test]
    fn content_length_is_read_when_it_is_a_number() {
        let mut h = HeaderMap::new();
        assert_eq!(content_length(&h), None);
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("2048"));
        assert_eq!(content_length(&h), Some(2048));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("lots"));
        assert_eq!(content_length(&h), None);
    }
}
