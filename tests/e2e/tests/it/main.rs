//! One test binary for everything that needs the real local stack (tansu + ClickHouse).

mod faults;
mod ingest;
mod processor;
mod stack;
mod state;
mod worked_example;
