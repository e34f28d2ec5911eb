//! The admin HTTP surface, on its own port (loopback by default): `/metrics` in Prometheus
//! text format, `/health/live` and `/health/ready` with a per-component report. Kept apart
//! from the public webhook port so scrapes and probes never compete with platform traffic.

use std::net::SocketAddr;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus::{Encoder, Registry, TextEncoder};
use tokio::net::TcpListener;

use crate::health::Health;
use crate::shutdown::Shutdown;

/// What the admin endpoints read.
#[derive(Clone)]
pub struct AdminState {
    pub registry: Registry,
    pub health: Health,
}

pub fn admin_router(state: AdminState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .with_state(state)
}

async fn metrics(State(state): State<AdminState>) -> impl IntoResponse {
    let families = state.registry.gather();
    let mut body = Vec::with_capacity(16 * 1024);
    match TextEncoder::new().encode(&families, &mut body) {
        Ok(()) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)],
            body,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "cannot encode metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn live(State(state): State<AdminState>) -> impl IntoResponse {
    let report = state.health.report();
    (status(report.live), report.lines.join("\n") + "\n")
}

async fn ready(State(state): State<AdminState>) -> impl IntoResponse {
    let report = state.health.report();
    (status(report.ready), report.lines.join("\n") + "\n")
}

fn status(ok: bool) -> StatusCode {
    if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

/// Bind `addr` and serve the admin router until shutdown. Returns the bound address (useful
/// with port 0) and the server task.
pub async fn serve_admin(
    addr: SocketAddr,
    state: AdminState,
    shutdown: Shutdown,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let app = admin_router(state);
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.signalled())
            .await
    });
    Ok((local, task))
}
