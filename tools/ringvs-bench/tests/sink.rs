//! The generator's sink on a live veth pair (root, `ip netns`; under
//! `CI=true` a missing capability fails the test): its latency ends when the
//! sink's kernel put a frame in the RX ring (`RxRing::peek_time_ns`), not when
//! the sink thread, sharing its core with TX here as in the benchmark, got
//! around to reading it.

use serde_json::Value;
use std::process::Command;

/// A namespace of this test's own, deleted when dropped (on failure too).
struct Ns(String);

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn ip(ns: &str, args: &[&str]) {
    let st = Command::new("ip")
        .arg("-n")
        .arg(ns)
        .args(args)
        .status()
        .expect("run ip");
    assert!(st.success(), "ip -n {ns} {args:?}");
}

#[test]
fn sink_latency_leaves_out_the_wait_in_its_ring() {
    if !ringvs::lab::lab_available() {
        return;
    }
    let ns = Ns(format!("rvgs{}", std::process::id() % 100_000));
    let made = Command::new("ip")
        .args(["netns", "add", &ns.0])
        .status()
        .expect("ip netns add");
    assert!(made.success());
    // One veth pair: the generator sends on a0, its sink reads b0.
    ip(
        &ns.0,
        &["link", "add", "a0", "type", "veth", "peer", "name", "b0"],
    );
    ip(&ns.0, &["link", "set", "a0", "up"]);
    ip(&ns.0, &["link", "set", "b0", "up"]);
    let mac = Command::new("ip")
        .args(["netns", "exec", &ns.0, "cat", "/sys/class/net/b0/address"])
        .output()
        .expect("read b0's MAC");
    let mac = String::from_utf8_lossy(&mac.stdout).trim().to_owned();
    // Bounded: 50 000 frames a second for one second (plus warm-up), to
    // the benchmark's VIP; TX and the sink share core 0.
    let out = Command::new("ip")
        .args(["netns", "exec", &ns.0, env!("CARGO_BIN_EXE_ringvs-gen")])
        .args(["udp", "--tx-if", "a0", "--rx-if", "b0", "--dst-mac", &mac])
        .args([
            "--dst",
            "198.18.0.110:9000",
            "--rate",
            "50000",
            "--secs",
            "1",
        ])
        .args(["--tx-core", "0", "--rx-core", "0", "--json"])
        .output()
        .expect("run ringvs-gen");
    assert!(out.status.success(), "{out:?}");
    let r: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let (sent, received) = (r["sent"].as_u64(), r["received"].as_u64());
    assert!(sent.is_some_and(|s| s > 10_000), "{r}");
    assert_eq!(
        received, sent,
        "a veth pair loses nothing at this rate: {r}"
    );
    // A frame's path here is one veth hop: microseconds. Were the ring's
    // timestamps misread (zero, or another clock), the wait subtracted
    // would be all of it (p50 0) or absurd.
    let p50 = r["lat_us"]["p50"].as_f64().expect("p50");
    assert!(p50 >= 0.5, "latency read as nothing: {r}");
    let waited = r["sink_wait_max_us"].as_f64().expect("sink_wait_max_us");
    assert!(
        (0.0..2e6).contains(&waited),
        "a wait in the ring outside the run: {r}"
    );
}
