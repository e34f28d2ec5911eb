//! Logging setup: `tracing` to stderr, human text or JSON lines, filtered by `RUST_LOG` or the
//! configured level. Services log structured fields, never secrets, and never message text at
//! info level or above.

use tracing_subscriber::{fmt, EnvFilter};

use crate::config::{LogConfig, LogFormat};

/// Install the global subscriber. Safe to call twice (the second call is a no-op), which keeps
/// tests that start several services in one process simple.
pub fn init(config: &LogConfig) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true);
    let result = match config.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
    // Already initialised: keep the first subscriber.
    drop(result);
}

/// An error and its `source()` chain on one line (`outer: inner: root`), for logs and for
/// messages to operators.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn the_chain_reads_outer_to_root() {
        let err = Outer(std::io::Error::other("root cause"));
        assert_eq!(super::error_chain(&err), "outer: root cause");
    }
}
