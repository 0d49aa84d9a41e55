//! The namespace helper: talking to a director running in a `ringvs::lab::Lab`.
#![allow(dead_code)] // each test binary uses its own subset

use ringvs::control::proto::{self, Command};
use ringvs::lab;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The traffic generator `ringvs-gen`, from the dev-only workspace member
/// tools/ringvs-bench: cargo puts it next to `ringvs` (`cargo test --workspace`
/// builds it).
pub fn generator() -> PathBuf {
    let exe = Path::new(env!("CARGO_BIN_EXE_ringvs"));
    let generator = exe.with_file_name("ringvs-gen");
    assert!(
        generator.is_file(),
        "no {} (build it: cargo build --release -p ringvs-bench --bins, or run \
         cargo test --release --workspace)",
        generator.display()
    );
    generator
}

/// `ringvs adm ARGS` through the control socket; asserts it succeeded.
pub fn adm(control: &Path, args: &[&str]) -> String {
    let r = proto::call(
        control,
        Command::Adm {
            argv: args.iter().map(|s| s.to_string()).collect(),
        },
    )
    .expect("control socket answers");
    assert_eq!(r.code, 0, "ringvs adm {args:?}: {}", r.err);
    r.out
}

/// `ringvs stats --json`.
pub fn stats(control: &Path) -> Value {
    let r = proto::call(control, Command::Stats { json: true }).expect("stats");
    serde_json::from_str(&r.out).expect("stats --json is JSON")
}

/// The seed's service: `VIP` round robin over both real servers, masquerading.
pub fn seed_service(control: &Path, vip: &str) {
    adm(control, &["-A", "-t", vip, "-s", "rr"]);
    for n in 1..=2 {
        let rip = format!("{}:80", lab::rs_addr(n));
        adm(control, &["-a", "-t", vip, "-r", &rip, "-m"]);
    }
}
