//! The command lines `tools/bench`, `tools/ring-versions` and the namespace tests
//! rely on. (Having an integration test also makes `cargo test --workspace` build
//! both binaries, next to `ringvs` in the target directory.)

use std::process::Command;

fn help(exe: &str, args: &[&str]) -> String {
    let out = Command::new(exe)
        .args(args)
        .arg("--help")
        .output()
        .expect(exe);
    assert!(out.status.success(), "{exe} {args:?} --help: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn bench_subcommands() {
    let exe = env!("CARGO_BIN_EXE_ringvs-bench");
    let top = help(exe, &[]);
    for sub in ["perf", "ring", "latency", "udp-sink", "udp-blast"] {
        assert!(top.contains(&format!("  {sub} ")), "no {sub} in:\n{top}");
    }
    let perf = help(exe, &["perf"]);
    for opt in [
        "--ringvs",
        "--generator",
        "--out",
        "--runs",
        "--secs",
        "--flows",
        "--datapaths",
        "--conns",
        "--no-cps",
    ] {
        assert!(perf.contains(opt), "no {opt} in:\n{perf}");
    }
    let ring = help(exe, &["ring"]);
    for opt in [
        "--rx-ring",
        "--v3-timeout-ms",
        "--requests",
        "--secs",
        "--workers",
    ] {
        assert!(ring.contains(opt), "no {opt} in:\n{ring}");
    }
}

#[test]
fn generator_subcommands() {
    let exe = env!("CARGO_BIN_EXE_ringvs-gen");
    let top = help(exe, &[]);
    for sub in ["udp", "syn", "tcp-cps", "inject", "capture"] {
        assert!(top.contains(&format!("  {sub} ")), "no {sub} in:\n{top}");
    }
}

#[test]
fn bench_rejects_bad_options() {
    let exe = env!("CARGO_BIN_EXE_ringvs-bench");
    let out = Command::new(exe)
        .args(["perf", "--runs", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    // Checked before anything is built: no namespace, no root needed.
    let out = Command::new(exe)
        .args(["perf", "--runs", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--runs 0 not in 1..="));
}
