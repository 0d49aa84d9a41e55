//! Fuzz what the director reads as text from its operator (control-socket
//! requests, ipvsadm command lines and rules, capture filters, keepalived
//! configurations): the checks are in `fuzz/control.rs`, shared with
//! `tests/operator_text.rs`. Seeds: `fuzz/seeds/control/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../control.rs"]
mod control;

fuzz_target!(|data: &[u8]| control::check(data));
