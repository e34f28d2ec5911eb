//! The public port's connection handling: accept TCP, optionally terminate TLS (rustls, from
//! PEM files), speak HTTP/1.1 with hyper under rapport's header limits, hand each request and
//! its peer address to the handler, and on shutdown stop accepting and let open connections
//! finish their current request.
//!
//! Owned here rather than left to `axum::serve` because that offers neither TLS nor hyper's
//! connection settings. Header limits are enforced twice on purpose: hyper refuses a head with
//! more fields than `max_header_count` or larger than its read buffer (sized from
//! `max_header_bytes`) with 431 before anything is allocated per field, and the exact byte
//! total of names and values is checked here, also 431, before the handler sees the request.
//!
//! Slow request heads are cut here too, by one lazily re-armed timer per connection rather than
//! hyper's `header_read_timeout`, which creates, registers and drops a boxed timer per request.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

/// A client has this long to finish the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a connection's head guard looks at it. A connection found waiting for a request
/// head (none being handled, none started or finished since the previous look) at
/// [`HEAD_GUARD_IDLE_LOOKS`] looks in a row is cut: one that has waited 30–40 s for a head
/// (slow-header clients, idle keep-alive connections).
const HEAD_GUARD_TICK: Duration = Duration::from_secs(10);
const HEAD_GUARD_IDLE_LOOKS: u32 = 3;
/// Pause after a failed `accept` (out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The TCP peer of a request, handed to the handler with it.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// The public port could not be set up for TLS.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read TLS file {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS file {path} holds no {what}")]
    Missing { path: String, what: &'static str },
    #[error("TLS file {path} is not valid PEM")]
    Pem {
        path: String,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("the TLS certificate and key are not usable together")]
    Config(#[source] rustls::Error),
}

/// A TLS acceptor for `cert` (PEM chain, leaf first) and `key` (PEM PKCS#8, PKCS#1 or SEC1),
/// HTTP/1.1 only, with rustls's safe defaults (TLS 1.2 and 1.3) and the `ring` provider.
pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            path: path.display().to_string(),
            source,
        })
    };
    let pem_err = |path: &Path| {
        let path = path.display().to_string();
        move |source| TlsError::Pem { path, source }
    };
    let cert_pem = read(cert)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_err(cert))?;
    if chain.is_empty() {
        return Err(TlsError::Missing {
            path: cert.display().to_string(),
            what: "CERTIFICATE",
        });
    }
    let key_pem = read(key)?;
    let key_der = match PrivateKeyDer::from_pem_slice(&key_pem) {
        Ok(k) => k,
        Err(rustls::pki_types::pem::Error::NoItemsFound) => {
            return Err(TlsError::Missing {
                path: key.display().to_string(),
                what: "PRIVATE KEY",
            })
        }
        Err(e) => return Err(pem_err(key)(e)),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(TlsError::Config)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The HTTP limits of every connection.
#[derive(Debug, Clone, Copy)]
pub struct HeaderLimits {
    pub max_count: usize,
    pub max_bytes: usize,
}

impl HeaderLimits {
    /// hyper's read buffer: room for the request line and a full head at the byte limit, never
    /// below hyper's minimum of 8 KiB.
    fn read_buffer(self) -> usize {
        self.max_bytes
            .saturating_add(self.max_count.saturating_mul(4))
            .saturating_add(8 * 1024)
            .max(8 * 1024)
    }

    /// `None` when the head is within limits, else the 431 answer.
    fn check<B>(self, request: &Request<B>) -> Option<Response<Body>> {
        let headers = request.headers();
        let bytes: usize = headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum();
        if headers.len() <= self.max_count && bytes <= self.max_bytes {
            return None;
        }
        tracing::info!(
            headers = headers.len(),
            header_bytes = bytes,
            "request refused: header limits"
        );
        let mut response = Response::new(Body::from("request headers too large\n"));
        *response.status_mut() = StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        Some(response)
    }
}

/// Accept connections on `listener` until `stop` resolves, then wait up to `drain` for open
/// connections to finish their in-flight request. Every request within the header limits goes
/// to `handler` with its peer.
pub async fn serve<H, F>(
    listener: TcpListener,
    handler: H,
    tls: Option<TlsAcceptor>,
    limits: HeaderLimits,
    stop: impl Future<Output = ()>,
    drain: Duration,
) where
    H: Fn(Request<Incoming>, PeerAddr) -> F + Clone + Send + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    // No timer: the head guard in `connection` replaces hyper's per-request one.
    http.header_read_timeout(None)
        .max_headers(limits.max_count)
        .max_buf_size(limits.read_buffer());
    let http = Arc::new(http);
    let mut stop = std::pin::pin!(stop);
    loop {
        let (tcp, peer) = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    tracing::warn!(%error, "ingest: accept failed; retrying");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
        let watcher = graceful.watcher();
        let handler = handler.clone();
        let http = Arc::clone(&http);
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => connection(tcp, peer, handler, &http, limits, watcher).await,
                Some(acceptor) => {
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            connection(stream, peer, handler, &http, limits, watcher).await
                        }
                        Ok(Err(error)) => {
                            tracing::debug!(%error, "TLS handshake failed")
                        }
                        Err(_elapsed) => tracing::debug!("TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(drain) => {
            tracing::warn!(?drain, "ingest: drain budget spent; closing the remaining connections");
        }
    }
}

/// What a connection's head guard reads: requests started plus requests finished (or dropped)
/// on the connection. hyper serves one request at a time per HTTP/1.1 connection, so the count
/// is odd exactly while a request is being handled. Writing an answer out counts as waiting:
/// webhook answers are a few bytes, so only a client that stops reading for 30 s is cut there.
#[derive(Debug, Default)]
struct Activity(AtomicU64);

impl Activity {
    fn count(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// A request head arrived; the returned guard marks the request finished when dropped.
    fn begin(self: &Arc<Self>) -> Busy {
        self.0.fetch_add(1, Ordering::Relaxed);
        Busy(Arc::clone(self))
    }
}

struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0 .0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Resolves once the connection has waited for a request head at [`HEAD_GUARD_IDLE_LOOKS`]
/// looks in a row. The wait began after the last look that saw activity, so it has lasted
/// between `HEAD_GUARD_IDLE_LOOKS` and one more tick: 30–40 s.
async fn head_guard(activity: &Activity) {
    let mut seen = activity.count();
    let mut idle_looks = 0;
    loop {
        tokio::time::sleep(HEAD_GUARD_TICK).await;
        let now = activity.count();
        if now != seen || now % 2 == 1 {
            seen = now;
            idle_looks = 0;
            continue;
        }
        idle_looks += 1;
        if idle_looks >= HEAD_GUARD_IDLE_LOOKS {
            return;
        }
    }
}

async fn connection<I, H, F>(
    io: I,
    peer: SocketAddr,
    handler: H,
    http: &hyper::server::conn::http1::Builder,
    limits: HeaderLimits,
    watcher: Watcher,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(Request<Incoming>, PeerAddr) -> F + Send + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let activity = Arc::new(Activity::default());
    let requests = Arc::clone(&activity);
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let busy = requests.begin();
        let answer = match limits.check(&request) {
            None => Ok(handler(request, PeerAddr(peer))),
            Some(refused) => Err(refused),
        };
        async move {
            let _busy = busy;
            Ok::<_, std::convert::Infallible>(match answer {
                Ok(handling) => handling.await,
                Err(refused) => refused,
            })
        }
    });
    let conn = watcher.watch(http.serve_connection(TokioIo::new(io), service));
    tokio::select! {
        // The connection first: the guard's timer only needs a look when it fired.
        biased;
        result = conn => {
            if let Err(error) = result {
                // Clients that go away mid-request are routine; nothing to act on.
                tracing::debug!(%error, "connection ended with an error");
            }
        }
        () = head_guard(&activity) => {
            tracing::debug!("connection cut: no request head for 30 s");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper_util::server::graceful::GracefulShutdown;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
    use tokio::time::Instant;

    const REQUEST: &[u8] = b"POST /slow HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n";

    /// A connection served over an in-memory pipe, with a handler that answers every request
    /// after `work`; returns the client's end. Time is paused in these tests: sleeps end as
    /// soon as every task waits.
    fn serve_one(work: Duration, graceful: &GracefulShutdown) -> DuplexStream {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let handler = move |_request, _peer| async move {
            tokio::time::sleep(work).await;
            Response::new(Body::from("done"))
        };
        let mut http = hyper::server::conn::http1::Builder::new();
        http.header_read_timeout(None);
        let limits = HeaderLimits {
            max_count: 100,
            max_bytes: 64 * 1024,
        };
        let peer = SocketAddr::from(([127, 0, 0, 1], 1));
        let watcher = graceful.watcher();
        tokio::spawn(
            async move { connection(server, peer, handler, &http, limits, watcher).await },
        );
        client
    }

    /// Read until the answer to one request is complete (the handler's body ends it).
    async fn answer(client: &mut DuplexStream) -> String {
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while !got.ends_with(b"done") {
            let n = client.read(&mut buf).await.expect("read");
            assert!(
                n > 0,
                "closed before the answer: {:?}",
                String::from_utf8_lossy(&got)
            );
            got.extend_from_slice(&buf[..n]);
        }
        String::from_utf8(got).expect("utf-8")
    }

    /// How long until the server closes the connection.
    async fn closed_after(client: &mut (impl AsyncRead + Unpin)) -> Duration {
        let since = Instant::now();
        let mut buf = [0u8; 1024];
        loop {
            match client.read(&mut buf).await {
                Ok(0) | Err(_) => return since.elapsed(),
                Ok(_) => {}
            }
        }
    }

    fn within_guard(waited: Duration) -> bool {
        waited >= Duration::from_secs(30) && waited <= Duration::from_secs(40)
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_that_never_completes_is_cut_after_30_to_40_s() {
        let graceful = GracefulShutdown::new();
        // Start the wait at several points of the guard's tick.
        for offset in [0, 1, 5, 9, 10, 15] {
            let mut client = serve_one(Duration::ZERO, &graceful);
            tokio::time::sleep(Duration::from_secs(offset)).await;
            client
                .write_all(b"POST /slow HTTP/1.1\r\nHost: t\r\n")
                .await
                .expect("write");
            let waited = closed_after(&mut client).await + Duration::from_secs(offset);
            assert!(
                within_guard(waited),
                "offset {offset} s: cut after {waited:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_loris_dribbling_its_head_is_cut_too() {
        let graceful = GracefulShutdown::new();
        let (mut reader, mut writer) = tokio::io::split(serve_one(Duration::ZERO, &graceful));
        let head = b"POST /slow HTTP/1.1\r\nX-Slow: ".iter();
        let dribble = async {
            // One byte a second, the head never complete.
            for byte in head.chain(std::iter::repeat(&b'a')) {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if writer.write_all(&[*byte]).await.is_err() {
                    return;
                }
            }
        };
        tokio::select! {
            waited = closed_after(&mut reader) => {
                assert!(within_guard(waited), "cut after {waited:?}");
            }
            () = dribble => panic!("the server stopped reading but kept the connection"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_keep_alive_connection_is_cut_30_to_40_s_after_its_last_answer() {
        let graceful = GracefulShutdown::new();
        for offset in [0, 3, 7, 12] {
            let mut client = serve_one(Duration::from_secs(offset), &graceful);
            client.write_all(REQUEST).await.expect("write");
            let answer = answer(&mut client).await;
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
            let waited = closed_after(&mut client).await;
            assert!(
                within_guard(waited),
                "handler {offset} s: cut after {waited:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn requests_that_keep_coming_or_take_long_keep_the_connection() {
        let graceful = GracefulShutdown::new();
        // A handler busy for longer than the guard's limit is not a slow head.
        let mut client = serve_one(Duration::from_secs(95), &graceful);
        for _ in 0..3 {
            client.write_all(REQUEST).await.expect("write");
            let answer = answer(&mut client).await;
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
            // Each pause below 30 s: the connection stays.
            tokio::time::sleep(Duration::from_secs(29)).await;
        }
        let mut client = serve_one(Duration::ZERO, &graceful);
        for _ in 0..10 {
            client.write_all(REQUEST).await.expect("write");
            let answer = answer(&mut client).await;
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
            tokio::time::sleep(Duration::from_secs(29)).await;
        }
    }
}
