//! Arbitrary bodies through the adapter of Meta's endpoint (Pages feed, Messenger and Instagram share one adapter, told apart by the envelope's `object`): no panic, and every result satisfies
//! `rapport_fuzz_common::check_normalize`.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use rapport_ingest::{AccountDirectory, Endpoint};

static DIRECTORY: LazyLock<AccountDirectory> = LazyLock::new(rapport_fuzz_common::directory);

fuzz_target!(|body: &[u8]| {
    rapport_fuzz_common::check_normalize(&Endpoint::Meta, body, &DIRECTORY);
});
