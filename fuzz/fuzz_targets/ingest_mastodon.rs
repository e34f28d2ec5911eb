//! Arbitrary bodies through the Mastodon adapter (relayed notifications, streaming frames and
//! admin webhooks), with and without the receiving account known from the URL: no panic, and
//! every result satisfies `rapport_fuzz_common::check_normalize`.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use rapport_ingest::{AccountDirectory, Endpoint};

static DIRECTORY: LazyLock<AccountDirectory> = LazyLock::new(rapport_fuzz_common::directory);

fuzz_target!(|body: &[u8]| {
    // The body alone decides nothing about the account; try both ways the relay can call.
    for account_id in [None, Some("109348677773283527".to_owned())] {
        let endpoint = Endpoint::Mastodon { account_id };
        rapport_fuzz_common::check_normalize(&endpoint, body, &DIRECTORY);
    }
});
