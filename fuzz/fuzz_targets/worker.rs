//! Arbitrary bytes as frames through the whole worker pipeline, both NICs
//! (`cargo +nightly fuzz run worker`). The harness panics if a frame has no
//! outcome or two, or sends a frame that breaks one of its rules
//! (`fuzz/tx_check.rs`: checksums, lengths, TTL, source MAC).

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../harness.rs"]
mod harness;

fuzz_target!(|data: &[u8]| {
    let mut h = harness::Harness::new();
    h.run(data);
});
