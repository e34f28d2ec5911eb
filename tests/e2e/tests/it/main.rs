//! One test binary for everything that needs the real local stack (tansu + ClickHouse).

mod ingest;
mod stack;
mod state;
mod worked_example;
