//! rapport's ClickHouse boundary: building clients from `[clickhouse]` config, applying the
//! numbered migrations of `schemas/clickhouse/`, and the row types written by the services.
//!
//! The DDL must run on ClickHouse 18.16 (Debian's package, used locally and in CI) and on
//! current releases, so it sticks to plain `DateTime`, `Enum8`/`String` and the MergeTree
//! family; the client runs with schema validation off because 18.16 lacks the
//! `RowBinaryWithNamesAndTypes` format that validation needs.

pub mod migrate;
pub mod report;
pub mod rows;
pub mod state;

pub use clickhouse;
pub use migrate::{migrate, MigrateError, Migration, MIGRATIONS};
pub use state::{next_slot, Checkpoint, StateStore};

use rapport_runtime::config::ClickHouseConfig;

/// A client for the configured server, without a default database (for `CREATE DATABASE`).
pub fn server_client(cfg: &ClickHouseConfig) -> clickhouse::Client {
    let mut client = clickhouse::Client::default()
        .with_url(&cfg.url)
        .with_user(&cfg.user)
        .with_validation(false);
    if let Some(password) = &cfg.password {
        client = client.with_password(password.expose());
    }
    client
}

/// A client whose default database is the configured one.
pub fn client(cfg: &ClickHouseConfig) -> clickhouse::Client {
    server_client(cfg).with_database(&cfg.database)
}
