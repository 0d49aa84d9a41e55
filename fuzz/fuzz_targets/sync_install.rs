//! Fuzz a backup director's handling of received sync messages, from the
//! datagram to the packet path: the checks are in `fuzz/sync_install.rs`,
//! shared with `tests/sync_intake.rs`. Seeds: `fuzz/seeds/sync_install/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../sync_install.rs"]
mod sync_install;

fuzz_target!(|data: &[u8]| {
    sync_install::check(data);
});
