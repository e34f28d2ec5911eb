//! The public port's connection handling: accept TCP, optionally terminate TLS (rustls, from
//! PEM files), speak HTTP/1.1 with hyper under rapport's header limits, hand each request to the
//! router with the peer address attached, and on shutdown stop accepting and let open
//! connections finish their current request.
//!
//! Owned here rather than left to `axum::serve` because that offers neither TLS nor hyper's
//! connection settings. Header limits are enforced twice on purpose: hyper refuses a head with
//! more fields than `max_header_count` or larger than its read buffer (sized from
//! `max_header_bytes`) with 431 before anything is allocated per field, and the exact byte
//! total of names and values is checked here, also 431, before routing.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, Response, StatusCode};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

/// A client has this long to finish the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A client has this long to send a request head (slow-header clients are cut off).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause after a failed `accept` (out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The TCP peer of a request, attached as a request extension.
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
/// connections to finish their in-flight request.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    limits: HeaderLimits,
    stop: impl std::future::Future<Output = ()>,
    drain: Duration,
) {
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
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
        let app = app.clone();
        let http = Arc::clone(&http);
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => connection(tcp, peer, app, &http, limits, watcher).await,
                Some(acceptor) => {
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            connection(stream, peer, app, &http, limits, watcher).await
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

async fn connection<I>(
    io: I,
    peer: SocketAddr,
    app: Router,
    http: &hyper::server::conn::http1::Builder,
    limits: HeaderLimits,
    watcher: Watcher,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        let app = app.clone();
        async move {
            if let Some(refused) = limits.check(&request) {
                return Ok::<_, std::convert::Infallible>(refused);
            }
            request.extensions_mut().insert(PeerAddr(peer));
            app.oneshot(request.map(Body::new)).await
        }
    });
    let conn = http.serve_connection(TokioIo::new(io), service);
    if let Err(error) = watcher.watch(conn).await {
        // Clients that go away mid-request are routine; nothing to act on.
        tracing::debug!(%error, "connection ended with an error");
    }
}
