//! Errors of the engine's two boundaries: configuration (refused at boot, before any event)
//! and state snapshots (refused on restore). Event processing itself never fails: odd events
//! are counted and skipped, so one bad record cannot stop a partition.

/// A configuration the engine refuses to start with.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("brand `{brand}`: unknown timezone `{timezone}` (expected an IANA name such as Europe/Berlin)")]
    UnknownTimezone { brand: String, timezone: String },
    #[error("brand `{brand}`: business hours for {day} `{spec}` are not `HH:MM-HH:MM[,HH:MM-HH:MM...]` with start < end <= 24:00")]
    BadHours {
        brand: String,
        day: &'static str,
        spec: String,
    },
    #[error("brand `{brand}`: holiday `{date}` is not a YYYY-MM-DD date")]
    BadHoliday { brand: String, date: String },
    #[error("brand `{brand}` is configured twice")]
    DuplicateBrand { brand: String },
    #[error("engine config: {0}")]
    Invalid(String),
}

/// A state snapshot that cannot be restored.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("state snapshot is too short or does not start with the engine's magic bytes")]
    NotASnapshot,
    #[error(
        "state snapshot version {found} is not supported (this build reads version {supported})"
    )]
    UnsupportedVersion { found: u16, supported: u16 },
    #[error("state snapshot payload is corrupt")]
    Corrupt(#[source] postcard::Error),
    #[error("state snapshot could not be encoded")]
    Encode(#[source] postcard::Error),
    #[error("configuration given to restore is invalid")]
    Config(#[from] ConfigError),
}
