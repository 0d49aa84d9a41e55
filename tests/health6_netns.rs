//! Health checks of IPv6 real servers end to end (root, namespaces; under
//! `CI=true` a missing capability fails rather than skips): the dual-stack lab
//! of `tests/ipv6/mod.rs`, an IPv6 service with `--check`, rs1's HTTP server
//! killed and started again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ipv6;

use ipv6::{EXE, V6, rig, rip, vip, wait_for};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The weight `-L -n` lists for real server `rs` (`[addr]:port`).
fn listed_weight(v: &V6, rs: &str) -> Option<u32> {
    v.adm(&["-L", "-n"]).lines().find_map(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        (w.len() >= 4 && w[0] == "->" && w[1] == rs).then(|| w[3].parse().ok())?
    })
}

/// SIGKILL every process in `ns` (the HTTP server the lab started there).
fn kill_all_in(ns: &str) -> usize {
    let out = Command::new("ip")
        .args(["netns", "pids", ns])
        .output()
        .expect("ip netns pids");
    let pids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    for p in &pids {
        let _ = Command::new("kill").args(["-KILL", p]).status();
    }
    pids.len()
}

/// An IPv6 server whose HTTP server dies is taken out by the active check
/// within `delay_loop + connect_timeout × (retry + 1) + delay_before_retry ×
/// retry`, new connections all go to the other, and it is back once it
/// serves again; the replies came through the workers' diversion.
#[test]
fn an_ipv6_real_server_that_dies_is_taken_out_and_comes_back() {
    let Some(mut v) = rig("health6", &[], |_| {}) else {
        return;
    };
    v.start_ringvs(2);
    let (svc, rs1, rs2) = (vip(80), rip(1, 80), rip(2, 80));
    v.adm(&[
        "-A",
        "-t",
        &svc,
        "-s",
        "rr",
        "--check",
        "http",
        "--check-path",
        "/health",
        "--delay-loop",
        "2",
        "--connect-timeout",
        "1",
        "--retry",
        "1",
        "--delay-before-retry",
        "1",
    ]);
    for rs in [&rs1, &rs2] {
        v.adm(&["-a", "-t", &svc, "-r", rs, "-m", "-w", "2"]);
    }
    // Both pass their first checks and serve.
    let bodies = v.http_bodies(&svc, 4);
    assert!(
        ipv6::alternates(&bodies, "i am rs1", "i am rs2"),
        "{bodies:?}"
    );
    let passed = wait_for(Duration::from_secs(4), || {
        let h = &v.stats()["health"];
        (h["diverted"].as_u64()? >= 4).then_some(())
    });
    assert!(passed.is_some(), "check replies diverted: {}", v.stats());

    let killed = Instant::now();
    assert!(kill_all_in(&v.lab.ns_rs(1)) >= 1, "a server to kill in rs1");
    // 2 + 1 × 2 + 1 × 1 = 5 s at most (+ 2 s margin).
    let down = wait_for(Duration::from_secs(7), || {
        (listed_weight(&v, &rs1) == Some(0)).then_some(())
    });
    assert!(down.is_some(), "rs1 not down: {}", v.adm(&["-L", "-n"]));
    eprintln!(
        "health6: rs1 listed down {:?} after the kill",
        killed.elapsed()
    );
    assert_eq!(listed_weight(&v, &rs2), Some(2));
    let bodies = v.http_bodies(&svc, 4);
    assert_eq!(bodies, vec!["i am rs2"; 4]);
    // The rules did not change.
    assert!(
        v.adm(&["-S", "-n"])
            .contains(&format!("-a -t {svc} -r {rs1} -m -w 2"))
    );

    let restarted = Instant::now();
    let ns1 = v.lab.ns_rs(1);
    v.lab
        .spawn_in(
            &ns1,
            Path::new(EXE),
            &[
                "serve-http",
                "--listen",
                "[::]:80",
                "--body",
                "i am rs1",
                "--max-secs",
                "600",
            ],
        )
        .expect("serve again");
    let back = wait_for(Duration::from_secs(5), || {
        (listed_weight(&v, &rs1) == Some(2)).then_some(())
    });
    assert!(back.is_some(), "rs1 not back: {}", v.adm(&["-L", "-n"]));
    eprintln!(
        "health6: rs1 back {:?} after its restart",
        restarted.elapsed()
    );
    let h = &v.stats()["health"];
    assert_eq!(h["dropped"].as_u64(), Some(0), "{h}");
}
