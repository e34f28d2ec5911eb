//! The public port's protections over real sockets, without a broker: everything here is
//! refused (or answered, for handshakes) before a record would be produced, so the producer
//! points at a closed port. Rate limits (429 + `Retry-After` + metric), header limits (431),
//! the body limit answered before the body is sent, and HTTPS with a certificate generated
//! here. Deliveries that reach Kafka are covered by `tests/e2e`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prometheus::Registry;
use rapport_ingest_service::IngestServer;
use rapport_runtime::config::Config;
use rapport_runtime::{Health, Secret, Secrets, Shutdown};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

const META_SECRET: &str = "http-test-meta-secret";
const X_SECRET: &str = "http-test-x-secret";
const WAIT: Duration = Duration::from_secs(10);

struct Service {
    server: Option<IngestServer>,
    addr: SocketAddr,
    registry: Registry,
    shutdown: Shutdown,
}

impl Service {
    async fn start(config: Config) -> Service {
        let registry = Registry::new();
        let shutdown = Shutdown::new();
        let server =
            rapport_ingest_service::start(&config, &registry, &Health::new(), shutdown.clone())
                .await
                .expect("ingest starts");
        Service {
            addr: server.addr(),
            server: Some(server),
            registry,
            shutdown,
        }
    }

    /// The sum of `name`'s series that carry `label`, read from the exposition text the admin
    /// port serves.
    fn counter(&self, name: &str, label: (&str, &str)) -> u64 {
        let mut text = Vec::new();
        prometheus::Encoder::encode(
            &prometheus::TextEncoder::new(),
            &self.registry.gather(),
            &mut text,
        )
        .expect("encode metrics");
        let wanted = format!("{}=\"{}\"", label.0, label.1);
        String::from_utf8(text)
            .expect("utf-8")
            .lines()
            .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(&wanted))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }

    async fn stop(mut self) {
        self.shutdown.trigger();
        if let Some(server) = self.server.take() {
            // The producer never reached a broker; its flush has nothing to wait for.
            let stopped = tokio::time::timeout(Duration::from_secs(30), server.stopped()).await;
            stopped.expect("stops in time").expect("clean stop");
        }
    }
}

/// A config with a closed broker port, Meta and X enabled, and every limit at its default.
fn config() -> Config {
    let mut config = Config::default();
    config.kafka.brokers = "127.0.0.1:1".into();
    config.ingest.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.ingest.meta.app_secret = Secrets::new(vec![Secret::new(META_SECRET)]).expect("one");
    config.ingest.x.consumer_secret = Secrets::new(vec![Secret::new(X_SECRET)]).expect("one");
    config
}

/// The status line and head of a raw HTTP/1.1 exchange on `stream`.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, request: &[u8]) -> String {
    stream.write_all(request).await.expect("send");
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    // Read until the head is complete (and whatever body came with it, for Connection: close).
    loop {
        let n = tokio::time::timeout(WAIT, stream.read(&mut buf))
            .await
            .expect("an answer within the wait")
            .unwrap_or(0);
        if n == 0 {
            break;
        }
        response.extend_from_slice(&buf[..n]);
        if response.windows(4).any(|w| w == b"\r\n\r\n") && !request_wants_more(&response) {
            break;
        }
    }
    String::from_utf8_lossy(&response).into_owned()
}

fn request_wants_more(response: &[u8]) -> bool {
    // A head with a Content-Length whose body has not fully arrived yet.
    let text = String::from_utf8_lossy(response);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return true;
    };
    head.lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .and_then(|v| v.trim().parse::<usize>().ok())
        })
        .is_some_and(|len| body.len() < len)
}

async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    exchange(&mut stream, request).await
}

fn status(response: &str) -> u16 {
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {response:?}"))
}

fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    response.split("\r\n\r\n").next()?.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

/// A Meta POST with a wrong signature (401 once admitted) and optional extra header lines.
fn meta_post(extra: &str) -> Vec<u8> {
    let body = b"{\"object\":\"page\",\"entry\":[]}";
    let mut request = format!(
        "POST /webhooks/meta HTTP/1.1\r\nHost: ingest\r\nContent-Type: application/json\r\n\
         X-Hub-Signature-256: sha256={}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        "00".repeat(32),
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_over_its_rate_gets_429_with_retry_after_and_is_counted() {
    let mut config = config();
    config.ingest.rate_limit.per_platform = 0.01;
    config.ingest.rate_limit.platform_burst = 3;
    config.ingest.rate_limit.per_ip = 0.0;
    let service = Service::start(config).await;
    for _ in 0..3 {
        assert_eq!(status(&raw(service.addr, &meta_post("")).await), 401);
    }
    let refused = raw(service.addr, &meta_post("")).await;
    assert_eq!(status(&refused), 429, "{refused}");
    // One token per 100 s at 0.01/s.
    assert_eq!(header(&refused, "retry-after"), Some("100"));
    // Another endpoint family has its own bucket.
    let crc = raw(
        service.addr,
        b"GET /webhooks/x?crc_token=abc HTTP/1.1\r\nHost: ingest\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status(&crc), 200, "{crc}");
    assert_eq!(
        service.counter("rapport_ingest_rate_limited_total", ("platform", "meta")),
        1
    );
    assert_eq!(
        service.counter("rapport_ingest_rate_limited_total", ("platform", "x")),
        0
    );
    assert_eq!(
        service.counter("rapport_ingest_requests_total", ("outcome", "rate_limited")),
        1
    );
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_ip_over_its_rate_does_not_throttle_the_others() {
    let mut config = config();
    config.ingest.rate_limit.per_ip = 0.5;
    config.ingest.rate_limit.ip_burst = 2;
    config.ingest.rate_limit.client_ip_header = Some("x-forwarded-for".into());
    let service = Service::start(config).await;
    let from = |ip: &str| meta_post(&format!("X-Forwarded-For: 203.0.113.9, {ip}\r\n"));
    for _ in 0..2 {
        assert_eq!(status(&raw(service.addr, &from("192.0.2.1")).await), 401);
    }
    let refused = raw(service.addr, &from("192.0.2.1")).await;
    assert_eq!(status(&refused), 429, "{refused}");
    assert_eq!(header(&refused, "retry-after"), Some("2"));
    // The first hop of the header is not trusted; only the last entry names the client.
    assert_eq!(status(&raw(service.addr, &from("192.0.2.2")).await), 401);
    assert_eq!(status(&raw(service.addr, &from("192.0.2.2")).await), 401);
    assert_eq!(
        service.counter("rapport_ingest_rate_limited_total", ("platform", "meta")),
        1
    );
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_or_too_large_headers_get_431() {
    let mut config = config();
    config.ingest.max_header_count = 20;
    config.ingest.max_header_bytes = 4096;
    let service = Service::start(config).await;
    let within: String = (0..10).map(|i| format!("X-Extra-{i}: {i}\r\n")).collect();
    assert_eq!(status(&raw(service.addr, &meta_post(&within)).await), 401);

    // More fields than allowed: hyper refuses while parsing.
    let many: String = (0..25).map(|i| format!("X-Extra-{i}: {i}\r\n")).collect();
    let refused = raw(service.addr, &meta_post(&many)).await;
    assert_eq!(status(&refused), 431, "{refused}");

    // Few fields but more bytes than allowed (fits hyper's buffer): refused before routing.
    let big = format!("X-Big: {}\r\n", "a".repeat(5000));
    let refused = raw(service.addr, &meta_post(&big)).await;
    assert_eq!(status(&refused), 431, "{refused}");

    // A head larger than the read buffer: hyper refuses it without buffering more.
    let huge = format!("X-Huge: {}\r\n", "a".repeat(64 * 1024));
    let refused = raw(service.addr, &meta_post(&huge)).await;
    assert_eq!(status(&refused), 431, "{refused}");
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_oversize_body_is_refused_before_it_is_sent() {
    let mut config = config();
    config.ingest.max_body_bytes = 4096;
    let service = Service::start(config).await;
    // Announce 100 MB, send only the head: the 413 must come without the body.
    let head = format!(
        "POST /webhooks/meta HTTP/1.1\r\nHost: ingest\r\nX-Hub-Signature-256: sha256={}\r\n\
         Content-Length: 100000000\r\n\r\n",
        "00".repeat(32)
    );
    let response = raw(service.addr, head.as_bytes()).await;
    assert_eq!(status(&response), 413, "{response}");

    // A chunked body has no length up front: refused once it passes the limit, while the
    // client is still sending.
    let mut stream = TcpStream::connect(service.addr).await.expect("connect");
    let head = format!(
        "POST /webhooks/meta HTTP/1.1\r\nHost: ingest\r\nX-Hub-Signature-256: sha256={}\r\n\
         Transfer-Encoding: chunked\r\n\r\n",
        "00".repeat(32)
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    let chunk = format!("1000\r\n{}\r\n", "a".repeat(4096));
    stream.write_all(chunk.as_bytes()).await.expect("chunk 1");
    stream.write_all(chunk.as_bytes()).await.expect("chunk 2");
    let response = exchange(&mut stream, b"").await;
    assert_eq!(status(&response), 413, "{response}");
    assert_eq!(
        service.counter("rapport_ingest_requests_total", ("outcome", "too_large")),
        2
    );
    service.stop().await;
}

/// A self-signed certificate for `localhost`, written as PEM files in `dir`.
fn self_signed(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, Vec<u8>) {
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("certificate");
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, generated.cert.pem()).expect("write cert");
    std::fs::write(&key, generated.signing_key.serialize_pem()).expect("write key");
    (cert, key, generated.cert.der().to_vec())
}

fn client_trusting(der: Vec<u8>) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(der))
        .expect("trust the test certificate");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_certificate_the_public_port_speaks_https_only() {
    let dir = std::env::temp_dir().join(format!("rapport-ingest-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (cert, key, der) = self_signed(&dir);
    let mut config = config();
    config.ingest.tls_cert = Some(cert);
    config.ingest.tls_key = Some(key);
    let service = Service::start(config).await;

    let connector = client_trusting(der);
    let server_name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let tcp = TcpStream::connect(service.addr).await.expect("connect");
    let mut tls = connector
        .connect(server_name.clone(), tcp)
        .await
        .expect("TLS handshake with the generated certificate");
    let crc = exchange(
        &mut tls,
        b"GET /webhooks/x?crc_token=abc HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status(&crc), 200, "{crc}");
    assert!(crc.contains("response_token"), "{crc}");

    let tcp = TcpStream::connect(service.addr).await.expect("connect");
    let mut tls = connector.connect(server_name, tcp).await.expect("TLS");
    let refused = exchange(&mut tls, &meta_post("")).await;
    assert_eq!(
        status(&refused),
        401,
        "a POST over HTTPS is verified as usual"
    );

    // Plain HTTP on the TLS port gets no HTTP answer.
    let plain = raw(service.addr, &meta_post("")).await;
    assert!(!plain.starts_with("HTTP/1.1"), "{plain:?}");

    // A client that does not trust the certificate cannot connect.
    let stranger = client_trusting(
        rcgen::generate_simple_self_signed(vec!["localhost".into()])
            .expect("another certificate")
            .cert
            .der()
            .to_vec(),
    );
    let tcp = TcpStream::connect(service.addr).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    assert!(stranger.connect(name, tcp).await.is_err());
    service.stop().await;
    std::fs::remove_dir_all(&dir).expect("remove temp dir");
}

#[tokio::test]
async fn unusable_tls_files_stop_the_start() {
    let dir = std::env::temp_dir().join(format!("rapport-ingest-badtls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (cert, _key, _) = self_signed(&dir);
    let mut config = config();
    config.ingest.tls_cert = Some(cert.clone());
    // The certificate file holds no private key.
    config.ingest.tls_key = Some(cert);
    let err =
        rapport_ingest_service::start(&config, &Registry::new(), &Health::new(), Shutdown::new())
            .await
            .err()
            .expect("refused");
    assert!(
        matches!(err, rapport_ingest_service::StartError::Tls(_)),
        "{err:?}"
    );
    config.ingest.tls_key = Some(dir.join("missing.pem"));
    assert!(rapport_ingest_service::start(
        &config,
        &Registry::new(),
        &Health::new(),
        Shutdown::new()
    )
    .await
    .is_err());
    std::fs::remove_dir_all(&dir).expect("remove temp dir");
}

/// A response with its `date` value blanked, the only part that changes between runs.
fn without_date(response: &str) -> String {
    response
        .split("\r\n")
        .map(|line| match line.split_once(':') {
            Some((name, _)) if name.eq_ignore_ascii_case("date") => "date: -",
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// Every route, unknown paths, wrong methods, HEAD, trailing slashes, query strings and odd
/// request targets, answered byte for byte (but the date) as axum's Router answered them
/// before the public port dispatched by itself; requests that never reached a handler are not
/// counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_answers_as_the_axum_router_did() {
    let service = Service::start(config()).await;
    let cases: &[(&str, &str)] = &[
        (
            "GET /webhooks/meta?hub.mode=subscribe&hub.challenge=c&hub.verify_token=t HTTP/1.1",
            "HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 18\r\nconnection: close\r\ndate: -\r\n\r\nhandshake refused\n",
        ),
        (
            "HEAD /webhooks/meta?hub.mode=subscribe&hub.challenge=c&hub.verify_token=t HTTP/1.1",
            "HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 18\r\nconnection: close\r\ndate: -\r\n\r\n",
        ),
        (
            "GET /webhooks/x?crc_token=abc HTTP/1.1",
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 72\r\nconnection: close\r\ndate: -\r\n\r\n{\"response_token\":\"sha256=AQVD1O0ZNytRJ60S+FAUR9y0kgZrz61G0okvgHeGB1A=\"}",
        ),
        (
            "HEAD /webhooks/x?crc_token=abc HTTP/1.1",
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 72\r\nconnection: close\r\ndate: -\r\n\r\n",
        ),
        (
            "GET /webhooks/x HTTP/1.1",
            "HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 18\r\nconnection: close\r\ndate: -\r\n\r\nhandshake refused\n",
        ),
        (
            "POST /webhooks/meta HTTP/1.1",
            "HTTP/1.1 401 Unauthorized\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 18\r\nconnection: close\r\ndate: -\r\n\r\ninvalid signature\n",
        ),
        (
            "POST /webhooks/meta?hub.mode=x HTTP/1.1",
            "HTTP/1.1 401 Unauthorized\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 18\r\nconnection: close\r\ndate: -\r\n\r\ninvalid signature\n",
        ),
        (
            "POST /webhooks/x HTTP/1.1",
            "HTTP/1.1 401 Unauthorized\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 18\r\nconnection: close\r\ndate: -\r\n\r\ninvalid signature\n",
        ),
        (
            "POST /webhooks/mastodon HTTP/1.1",
            "HTTP/1.1 404 Not Found\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 64\r\nconnection: close\r\ndate: -\r\n\r\nendpoint not enabled: no secret is configured for this platform\n",
        ),
        (
            "POST /webhooks/mastodon/acct HTTP/1.1",
            "HTTP/1.1 404 Not Found\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 64\r\nconnection: close\r\ndate: -\r\n\r\nendpoint not enabled: no secret is configured for this platform\n",
        ),
        (
            "POST /webhooks/mastodon/a%20b?q=1 HTTP/1.1",
            "HTTP/1.1 404 Not Found\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 64\r\nconnection: close\r\ndate: -\r\n\r\nendpoint not enabled: no secret is configured for this platform\n",
        ),
        (
            "POST /webhooks/mastodon/a%FF HTTP/1.1",
            "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 42\r\nconnection: close\r\ndate: -\r\n\r\nInvalid URL: Invalid UTF-8 in `account_id`",
        ),
        (
            "POST /webhooks/mastodon/ HTTP/1.1",
            "HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\ndate: -\r\n\r\n",
        ),
        (
            "POST /webhooks/mastodon/a/b HTTP/1.1",
            "HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\ndate: -\r\n\r\n",
        ),
        (
            "POST /webhooks/mastodon// HTTP/1.1",
            "HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\ndate: -\r\n\r\n",
        ),
        (
            "POST /webhooks/generic HTTP/1.1",
            "HTTP/1.1 404 Not Found\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 64\r\nconnection: close\r\ndate: -\r\n\r\nendpoint not enabled: no secret is configured for this platform\n",
        ),
        (
            "POST /webhooks/generic? HTTP/1.1",
            "HTTP/1.1 404 Not Found\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 64\r\nconnection: close\r\ndate: -\r\n\r\nendpoint not enabled: no secret is configured for this platform\n",
        ),
        (
            "POST /webhooks/meta/ HTTP/1.1",
            "HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\ndate: -\r\n\r\n",
        ),
        (
            "GET /webhooks/x/ HTTP/1.1",
            "HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\ndate: -\r\n\r\n",
        ),
        (
            "POST /webhooks/generic/ HTTP/1.1",
            "HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\ndate: -\r\n\r\n",
        ),
        (
            "POST /webhooks/Meta HTTP/1.1",
            "HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\ndate: -\r\n\r\n",
        ),
        (
            "POST /webhooks/%6Deta HTTP/1.1",
            "HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\ndate: -\r\n\r\n",
        ),
        (
            "POST /webhooks//meta HTTP/1.1",
            "HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\ndate: -\r\n\r\n",
        ),
        (
            "POST //webhooks/meta HTTP/1.1",
            "HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\ndate: -\r\n\r\n",
        ),
        (
            "GET / HTTP/1.1",
            "HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\ndate: -\r\n\r\n",
        ),
        (
            "GET /webhooks HTTP/1.1",
            "HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\ndate: -\r\n\r\n",
        ),
        (
            "GET /webhooks/ HTTP/1.1",
            "HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\ndate: -\r\n\r\n",
        ),
        (
            "GET /webhooks/metax HTTP/1.1",
            "HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\ndate: -\r\n\r\n",
        ),
        (
            "GET /webhooks/generic HTTP/1.1",
            "HTTP/1.1 405 Method Not Allowed\r\nallow: POST\r\nconnection: close\r\ncontent-length: 0\r\ndate: -\r\n\r\n",
        ),
        (
            "HEAD /webhooks/generic HTTP/1.1",
            "HTTP/1.1 405 Method Not Allowed\r\nallow: POST\r\ncontent-length: 0\r\nconnection: close\r\ndate: -\r\n\r\n",
        ),
        (
            "PUT /webhooks/meta HTTP/1.1",
            "HTTP/1.1 405 Method Not Allowed\r\nallow: GET,HEAD,POST\r\nconnection: close\r\ncontent-length: 0\r\ndate: -\r\n\r\n",
        ),
        (
            "PATCH /webhooks/x HTTP/1.1",
            "HTTP/1.1 405 Method Not Allowed\r\nallow: GET,HEAD,POST\r\nconnection: close\r\ncontent-length: 0\r\ndate: -\r\n\r\n",
        ),
        (
            "DELETE /webhooks/mastodon/acct HTTP/1.1",
            "HTTP/1.1 405 Method Not Allowed\r\nallow: POST\r\nconnection: close\r\ncontent-length: 0\r\ndate: -\r\n\r\n",
        ),
        (
            "OPTIONS /webhooks/mastodon HTTP/1.1",
            "HTTP/1.1 405 Method Not Allowed\r\nallow: POST\r\nconnection: close\r\ncontent-length: 0\r\ndate: -\r\n\r\n",
        ),
        (
            "TRACE /webhooks/generic HTTP/1.1",
            "HTTP/1.1 405 Method Not Allowed\r\nallow: POST\r\nconnection: close\r\ncontent-length: 0\r\ndate: -\r\n\r\n",
        ),
        (
            "HEAD /nowhere HTTP/1.1",
            "HTTP/1.1 404 Not Found\r\nconnection: close\r\ndate: -\r\n\r\n",
        ),
        (
            "OPTIONS * HTTP/1.1",
            "HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\ndate: -\r\n\r\n",
        ),
        (
            "POST http://ingest/webhooks/meta HTTP/1.1",
            "HTTP/1.1 401 Unauthorized\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 18\r\nconnection: close\r\ndate: -\r\n\r\ninvalid signature\n",
        ),
        (
            "GET http://ingest/webhooks/x?crc_token=abc HTTP/1.1",
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 72\r\nconnection: close\r\ndate: -\r\n\r\n{\"response_token\":\"sha256=AQVD1O0ZNytRJ60S+FAUR9y0kgZrz61G0okvgHeGB1A=\"}",
        ),
        (
            "CONNECT ingest:443 HTTP/1.1",
            "HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\ndate: -\r\n\r\n",
        ),
        (
            "BREW /webhooks/meta HTTP/1.1",
            "HTTP/1.1 405 Method Not Allowed\r\nallow: GET,HEAD,POST\r\nconnection: close\r\ncontent-length: 0\r\ndate: -\r\n\r\n",
        ),
    ];
    for (request, expected) in cases {
        let request = format!("{request}\r\nHost: ingest\r\nConnection: close\r\n\r\n");
        let response = without_date(&raw(service.addr, request.as_bytes()).await);
        assert_eq!(&response, expected, "{request}");
    }
    // An authentic delivery with no events: the 200 with an empty body, answered without the
    // broker.
    let body = br#"{"object":"page","entry":[]}"#;
    let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(META_SECRET.as_bytes())
        .expect("any key length");
    hmac::Mac::update(&mut mac, body);
    let signature = hex::encode(hmac::Mac::finalize(mac).into_bytes());
    let mut request = format!(
        "POST /webhooks/meta HTTP/1.1\r\nHost: ingest\r\nX-Hub-Signature-256: sha256={signature}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    assert_eq!(
        without_date(&raw(service.addr, &request).await),
        "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\ndate: -\r\n\r\n"
    );
    // Only requests that reached a handler are counted.
    let mut text = Vec::new();
    prometheus::Encoder::encode(
        &prometheus::TextEncoder::new(),
        &service.registry.gather(),
        &mut text,
    )
    .expect("encode metrics");
    let text = String::from_utf8(text).expect("utf-8");
    let counted: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("rapport_ingest_requests_total{"))
        .collect();
    assert_eq!(
        counted,
        [
            r#"rapport_ingest_requests_total{outcome="accepted",platform="meta"} 1"#,
            r#"rapport_ingest_requests_total{outcome="bad_signature",platform="meta"} 3"#,
            r#"rapport_ingest_requests_total{outcome="bad_signature",platform="x"} 1"#,
            r#"rapport_ingest_requests_total{outcome="disabled",platform="generic"} 2"#,
            r#"rapport_ingest_requests_total{outcome="disabled",platform="mastodon"} 3"#,
            r#"rapport_ingest_requests_total{outcome="handshake_ok",platform="x"} 3"#,
            r#"rapport_ingest_requests_total{outcome="handshake_refused",platform="meta"} 2"#,
            r#"rapport_ingest_requests_total{outcome="handshake_refused",platform="x"} 1"#,
        ]
    );
    service.stop().await;
}
