//! Graceful shutdown: one token that every task watches, cancelled on SIGTERM or SIGINT (or by
//! code), so that servers stop accepting, loops drain, and the process exits in order.

use tokio_util::sync::CancellationToken;

/// A cloneable shutdown signal.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
}

impl Shutdown {
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Cancel on the first SIGTERM or SIGINT. Call once, from `main`.
    pub fn cancel_on_signals(&self) {
        let token = self.token.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutdown signal received, draining");
            token.cancel();
        });
    }

    pub fn trigger(&self) {
        self.token.cancel();
    }

    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves once shutdown has begun.
    pub async fn wait(&self) {
        self.token.cancelled().await
    }

    /// A future for axum's `with_graceful_shutdown`.
    pub fn signalled(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let token = self.token.clone();
        async move { token.cancelled().await }
    }
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            tracing::warn!("cannot install signal handlers; falling back to ctrl-c only");
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}
