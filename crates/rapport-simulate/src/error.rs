//! What can go wrong in the simulator: a configuration it cannot generate from, a replay file
//! it cannot read, or a target it cannot reach.

/// Errors of `rapport simulate`.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("invalid simulation settings: {0}")]
    Config(String),
    #[error("the generated brands do not form a valid account directory")]
    Directory(#[from] rapport_ingest::DirectoryError),
    #[error("`{0}` is not a rapport webhook path")]
    UnknownPath(String),
    #[error("cannot encode a delivery")]
    Encode(#[source] serde_json::Error),
    #[error("replay file line {line}: {reason}")]
    BadLine { line: usize, reason: String },
    #[error("I/O error")]
    Io(#[source] std::io::Error),
    #[error("the target URL must look like http://host:port, got `{0}`")]
    Url(String),
    #[error("cannot connect to {addr}")]
    Connect {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot build a request: {0}")]
    Request(String),
}
