//! The one integration-test binary of rapport-ingest: every Meta, Instagram, X and Mastodon
//! sample of `shared/platforms/samples/` through its adapter, field by field; the worked
//! signature examples; the generic JSON schema's examples; and property tests that no input
//! makes the adapters panic.

mod common;
mod event_ids;
mod generic;
mod hostile;
mod mastodon;
mod meta;
mod robustness;
mod signature;
mod x;
