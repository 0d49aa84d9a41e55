//! The `worker` target's input on the harness's director with DR and TUN
//! services and a smaller internal MTU (`Harness::direct`): fuzzed frames
//! reach DR/TUN forwarding, the ICMP errors about DR/TUN connections and
//! about our own tunnel packets, and fragmentation. The harness panics if a
//! frame has no outcome or two (a packet sent in fragments is one), or
//! sends a frame that breaks one of `fuzz/tx_check.rs`'s rules.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../harness.rs"]
mod harness;

fuzz_target!(|data: &[u8]| {
    let mut h = harness::Harness::direct();
    h.run(data);
});
