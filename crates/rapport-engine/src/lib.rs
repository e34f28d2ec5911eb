//! The metric engine (METRICS.md): see the crate README once written.
