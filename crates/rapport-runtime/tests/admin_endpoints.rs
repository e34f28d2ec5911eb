//! The admin endpoints answer over real TCP: metrics in Prometheus text, liveness and readiness
//! following the health registry, readiness dropping as soon as shutdown begins.

use std::net::SocketAddr;

use prometheus::{IntCounter, Registry};
use rapport_runtime::{serve_admin, AdminState, Health, Shutdown};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await.expect("read");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    (status, text)
}

#[tokio::test]
async fn metrics_live_and_ready_answer() {
    let registry = Registry::new();
    let counter = IntCounter::new("rapport_test_things_total", "things").unwrap();
    registry.register(Box::new(counter.clone())).unwrap();
    counter.inc_by(3);
    let health = Health::new();
    let component = health.register("kafka", None);
    let shutdown = Shutdown::new();
    let state = AdminState {
        registry,
        health: health.clone(),
    };
    let (addr, task) = serve_admin("127.0.0.1:0".parse().unwrap(), state, shutdown.clone())
        .await
        .unwrap();

    let (status, body) = get(addr, "/metrics").await;
    assert_eq!(status, 200);
    assert!(body.contains("rapport_test_things_total 3"), "{body}");

    assert_eq!(get(addr, "/health/live").await.0, 200);
    let (status, body) = get(addr, "/health/ready").await;
    assert_eq!(status, 503);
    assert!(body.contains("kafka: not ready (starting)"), "{body}");

    component.set_ready();
    assert_eq!(get(addr, "/health/ready").await.0, 200);

    health.begin_shutdown();
    assert_eq!(get(addr, "/health/ready").await.0, 503);
    assert_eq!(get(addr, "/health/live").await.0, 200);

    assert_eq!(get(addr, "/nope").await.0, 404);
    shutdown.trigger();
    task.await.unwrap().unwrap();
}
