//! Arbitrary bodies through the adapter of X's endpoint (Account Activity API and X Activity API envelopes): no panic, and every result satisfies
//! `rapport_fuzz_common::check_normalize`.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use rapport_ingest::{AccountDirectory, Endpoint};

static DIRECTORY: LazyLock<AccountDirectory> = LazyLock::new(rapport_fuzz_common::directory);

fuzz_target!(|body: &[u8]| {
    rapport_fuzz_common::check_normalize(&Endpoint::X, body, &DIRECTORY);
});
