//! One test binary for everything that needs the real local stack (tansu + ClickHouse).

mod demo;
mod faults;
mod ingest;
mod processor;
mod security;
mod stack;
mod state;
mod worked_example;
