//! Health checks of IPv6 real servers end to end (root, namespaces; under
//! `CI=true` a missing capability fails rather than skips): the dual-stack lab
//! of `tests/ipv6/mod.rs`, an IPv6 service with `--check`, rs1's HTTP server
//! killed and started again; a UDP check's port unreachable sent as an
//! atomic fragment.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ipv6;

use ipv6::{DATA, EXE, MAX_SECS, V6, rig, rip, vip, wait_for};
use ringvs::lab::ns_command;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
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

/// Starts `program ARGS` in namespace `ns`, its stdout piped, and returns
/// once it prints `ready` (a helper bound to its port).
fn start_ready(v: &mut V6, ns: &str, program: &str, args: &[&str]) {
    let mut child = ns_command(ns, Path::new(program), args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start a helper");
    let out = child.stdout.take().expect("piped stdout");
    v.lab.adopt(child);
    let mut line = String::new();
    BufReader::new(out).read_line(&mut line).expect("helper");
    assert_eq!(line.trim(), "ready", "{args:?} in {ns}");
}

/// The kernel's `Icmp6OutDestUnreachs` in namespace `ns` (`/proc/net/snmp6`):
/// the port unreachables it sent itself.
fn kernel_unreachables(ns: &str) -> u64 {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "cat", "/proc/net/snmp6"])
        .output()
        .expect("snmp6");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Icmp6OutDestUnreachs")?.trim().parse().ok())
        .expect("Icmp6OutDestUnreachs")
}

/// A UDP check's ICMPv6 port unreachable that comes as an atomic fragment
/// (RFC 6946; `atomic_unreach6.py` on rs1 sends it from a raw socket, the
/// kernel sending none, its port bound) takes the server down as a plain
/// one does: the workers take the atomic fragment as the whole packet it is
/// and divert it, the health thread reads the message past the fragment
/// header (`ports::unreach_about`), as the kernel's `ipv6_frag_rcv`
/// (`net/ipv6/reassembly.c`) takes such a packet at once. rs2, which
/// answers, stays up. Then a service on a port rs1 has nothing on: the
/// kernel's own, plain, unreachable takes it down alike.
#[test]
fn a_port_unreachable_as_an_atomic_fragment_takes_a_udp_check_down() {
    let Some(mut v) = rig("health6frag", &["python3", "sysctl"], |_| {}) else {
        return;
    };
    let (ns1, ns2) = (v.lab.ns_rs(1), v.lab.ns_rs(2));
    let script = Path::new(DATA).join("atomic_unreach6.py");
    let script = script.to_str().expect("a UTF-8 path");
    start_ready(&mut v, &ns1, "python3", &[script, "54", MAX_SECS]);
    let echo = Path::new(DATA).join("../dr/udp_echo.py");
    let echo = echo.to_str().expect("a UTF-8 path");
    for port in ["54", "55"] {
        start_ready(
            &mut v,
            &ns2,
            "python3",
            &["-u", echo, "::", port, "rs2", MAX_SECS],
        );
    }
    // rs1's kernel sends every unreachable the second service asks for.
    let ok = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns1,
            "sysctl",
            "-qw",
            "net.ipv6.icmp.ratelimit=0",
        ])
        .status()
        .expect("sysctl");
    assert!(ok.success(), "sysctl in {ns1}");
    v.start_ringvs(2);
    let check = "--check udp --delay-loop 1 --connect-timeout 1 --retry 0 --delay-before-retry 1";
    let weights = |v: &V6, port: u16| [1, 2].map(|n| listed_weight(v, &rip(n, port)));
    let before = kernel_unreachables(&ns1);
    for port in [54, 55] {
        let svc = vip(port);
        if port == 55 {
            // The atomic fragment's verdict is in: now the plain one's.
            assert_eq!(kernel_unreachables(&ns1), before, "rs1's kernel sent none");
        }
        let started = Instant::now();
        let mut add = vec!["-A", "-u", &svc, "-s", "rr"];
        add.extend(check.split_whitespace());
        v.adm(&add);
        for n in [1, 2] {
            v.adm(&["-a", "-u", &svc, "-r", &rip(n, port), "-m"]);
        }
        // Up until a check fails (no --alpha): a UDP check with no reply
        // asked for fails only on an unreachable.
        let down = wait_for(Duration::from_secs(6), || {
            (weights(&v, port) == [Some(0), Some(1)]).then_some(())
        });
        eprintln!(
            "health6frag: port {port}: rs1 down {:?} after the service was added",
            down.map(|()| started.elapsed())
        );
        assert!(down.is_some(), "port {port}: {:?}", weights(&v, port));
    }
    assert!(
        kernel_unreachables(&ns1) > before,
        "the plain unreachable came from the kernel"
    );
    let s = v.stats();
    assert!(
        s["health"]["diverted"].as_u64() > Some(0),
        "{}",
        s["health"]
    );
    assert_eq!(s["health"]["dropped"].as_u64(), Some(0), "{}", s["health"]);
}
