//! `ringvs demo` interrupted: what it built goes with it.

use ringvs::lab::{self, Lab};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The `ringvs` binary under test.
const EXE: &str = env!("CARGO_BIN_EXE_ringvs");

/// Deletes the demo's namespaces if the demo left them (the test failing).
struct Stale(String);
impl Drop for Stale {
    fn drop(&mut self) {
        let _ = Lab::cleanup_stale(&self.0);
    }
}

/// A hangup (SIGHUP: the terminal or SSH session went away) while the
/// demo runs: it stops and deletes its namespaces, and the director in
/// them, where SIGHUP's default action left them all behind.
#[test]
fn a_hangup_stops_the_demo_and_deletes_its_lab() {
    if !lab::lab_available() {
        return;
    }
    let mut demo = Command::new(EXE)
        // Far more requests than the demo makes before the hangup below
        // (about a millisecond each): it is still running when it comes,
        // and the SIGHUP, not the end of the requests, is what stops it.
        .args(["demo", "--requests", "1000000"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        // Inherited, not piped: a director the demo left behind would hold
        // a pipe open, and reading it to its end would never return.
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn ringvs demo");
    let mut out = BufReader::new(demo.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("first line");
    // "Building the lab (namespaces rv{tag}-*): ..."
    let tag = line
        .split("namespaces rv")
        .nth(1)
        .and_then(|r| r.split('-').next())
        .expect("the lab's tag")
        .to_owned();
    let _stale = Stale(tag.clone());
    let mut seen = String::new();
    while !seen.starts_with("Director running") {
        seen.clear();
        let n = out.read_line(&mut seen).expect("demo output");
        assert!(n > 0, "the demo ended before its director ran");
    }
    let prefix = format!("rv{tag}-");
    let ours = || {
        lab::list_namespaces()
            .expect("ip netns list")
            .into_iter()
            .filter(|n| n.starts_with(&prefix))
            .count()
    };
    assert!(ours() > 0, "no namespaces {prefix}* while the demo runs");
    let pid = demo.id().to_string();
    let hup = Command::new("kill").args(["-HUP", &pid]).status();
    assert!(hup.is_ok_and(|s| s.success()), "kill -HUP {pid}");
    // Keep reading, so the demo is never held by a full pipe.
    std::thread::spawn(move || for _ in out.lines() {});
    let status = lab::wait_for(Duration::from_secs(60), || demo.try_wait().ok().flatten())
        .expect("the demo did not end after SIGHUP");
    // Interrupted, the demo exits 1 (`demo::run`: ExitCode::FAILURE); 0
    // would mean it made all its requests and the SIGHUP came after, and
    // no code at all that the signal killed it.
    assert_eq!(
        status.code(),
        Some(1),
        "the demo was not stopped by the signal ({status})"
    );
    assert_eq!(ours(), 0, "namespaces {prefix}* left behind");
}
