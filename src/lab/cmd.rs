//! Running programs and `ip` commands in the lab's namespaces, and the
//! helpers that other namespace rigs (tests/dr, tests/ha) build on.

use super::{LabError, STOP_GRACE};
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A child process that is killed and reaped when dropped.
#[derive(Debug)]
pub struct Spawned(pub Child);

impl Spawned {
    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// Ask the child to stop with `term` (SIGTERM: a director removes its
    /// control socket), then kill it, and reap it. A child already reaped
    /// (an `ExitedEarly` start that `try_wait` saw end) is left alone: its
    /// pid may be another process's by now.
    pub(super) fn stop(&mut self, term: impl FnOnce(u32) -> bool) {
        if let Ok(Some(_)) = self.0.try_wait() {
            return;
        }
        // Errors mean the child is already gone; nothing more to do.
        if term(self.0.id()) {
            let deadline = Instant::now() + STOP_GRACE;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.0.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        self.stop(|pid| {
            use std::os::unix::process::CommandExt;
            // In a process group of its own, as [`run_cmd`]'s.
            Command::new("kill")
                .process_group(0)
                .args(["-TERM", &pid.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
    }
}

/// `ip netns exec NS PROGRAM ARGS...`
pub fn ns_command(ns: &str, program: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns]).arg(program).args(args);
    cmd
}

/// Polls `f` every 20 ms until it gives `Some` or `limit` passes: the bounded
/// wait of every namespace rig (a director that never answers fails a test in
/// `limit`, not never).
pub fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() >= limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Render a command line for error messages.
pub(super) fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        let _ = write!(s, " {}", a.to_string_lossy());
    }
    s
}

/// Run `cmd` to completion; a non-zero exit is an error carrying stderr.
/// It runs in a process group of its own, so that a terminal's Ctrl-C or
/// hangup (sent to the foreground process group) never stops one of the
/// lab's `ip` or `kill` commands halfway, above all while the lab is being
/// deleted (a second Ctrl-C then left namespaces behind): the lab's owner
/// (`ringvs demo`) catches those signals and cleans up itself. Its
/// standard streams are never the terminal's, which a background group
/// may not use.
pub(super) fn run_cmd(mut cmd: Command) -> Result<Output, LabError> {
    use std::os::unix::process::CommandExt;
    let out = cmd
        .process_group(0)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| LabError::Spawn {
            cmd: describe(&cmd),
            source,
        })?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(LabError::Command {
            cmd: describe(&cmd),
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// Run `ip ARGS...`, returning its stdout.
pub fn ip(args: &[&str]) -> Result<String, LabError> {
    let mut cmd = Command::new("ip");
    cmd.args(args);
    Ok(String::from_utf8_lossy(&run_cmd(cmd)?.stdout).into_owned())
}

/// Run `ip netns exec NS PROGRAM ARGS...`, returning its stdout.
pub fn ns_run(ns: &str, program: &str, args: &[&str]) -> Result<String, LabError> {
    let out = run_cmd(ns_command(ns, Path::new(program), args))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A new host namespace for a multi-namespace test lab: IPv6 off (no
/// router solicitations or DAD on the wire), loopback up.
pub fn add_host_ns(ns: &str) -> Result<(), LabError> {
    ip(&["netns", "add", ns])?;
    for key in ["all", "default"] {
        let kv = format!("net.ipv6.conf.{key}.disable_ipv6=1");
        ns_run(ns, "sysctl", &["-qw", &kv])?;
    }
    ip(&["-n", ns, "link", "set", "lo", "up"])?;
    Ok(())
}

/// A bridge `br` in the switch namespace `sw`: no STP, no forwarding delay.
pub fn add_bridge(sw: &str, br: &str) -> Result<(), LabError> {
    #[rustfmt::skip]
    ip(&["-n", sw, "link", "add", br, "type", "bridge", "stp_state", "0", "forward_delay", "0"])?;
    ip(&["-n", sw, "link", "set", br, "up"])?;
    Ok(())
}

/// A veth from `ifname` in `ns` to port `port` of bridge `br` in the switch
/// namespace `sw`, both ends up, with the `ethtool -K` features in `off`
/// turned off on both (offloads that would hide the frames' real sizes or
/// checksums from the director and the captures).
pub fn plug_veth(
    (ns, ifname): (&str, &str),
    (sw, port, br): (&str, &str, &str),
    off: &[&str],
) -> Result<(), LabError> {
    plug_veth_queues((ns, ifname), (sw, port, br), off, 1)
}

/// [`plug_veth`] with `queues` receive and transmit queues on both ends (a
/// multi-queue NIC for `--io xdp --workers N`).
pub fn plug_veth_queues(
    (ns, ifname): (&str, &str),
    (sw, port, br): (&str, &str, &str),
    off: &[&str],
    queues: u32,
) -> Result<(), LabError> {
    let q = queues.to_string();
    #[rustfmt::skip]
    ip(&[
        "-n", ns, "link", "add", ifname, "numrxqueues", &q, "numtxqueues", &q,
        "type", "veth", "peer", "name", port, "numrxqueues", &q, "numtxqueues", &q,
        "netns", sw,
    ])?;
    ip(&["-n", sw, "link", "set", port, "master", br])?;
    let mut args = vec!["-K"];
    for (n, i) in [(ns, ifname), (sw, port)] {
        args.truncate(1);
        args.push(i);
        for f in off {
            args.extend([*f, "off"]);
        }
        ns_run(n, "ethtool", &args)?;
        ip(&["-n", n, "link", "set", i, "up"])?;
    }
    Ok(())
}

/// Names of the existing network namespaces (`ip netns list`).
pub fn list_namespaces() -> Result<Vec<String>, LabError> {
    Ok(ip(&["netns", "list"])?
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect())
}

/// Kill every process still inside `ns`, then delete it (best effort).
pub fn kill_and_delete_ns(ns: &str) -> Result<(), LabError> {
    if let Ok(pids) = ip(&["netns", "pids", ns]) {
        for pid in pids.split_whitespace() {
            let mut kill = Command::new("kill");
            kill.args(["-KILL", pid]);
            // The process may exit on its own meanwhile: ignore failures.
            let _ = run_cmd(kill);
        }
    }
    ip(&["netns", "del", ns]).map(drop)
}

/// Whether the namespace tests can run here: root, `ip netns`, and each of
/// `tools` (run with `--version`). Under `CI=true` a missing one panics, so a test
/// never passes by skipping; elsewhere the test prints why it did not run.
pub fn lab_available_with(tools: &[&str]) -> bool {
    let ok = |cmd: &str, args: &[&str]| {
        Command::new(cmd)
            .args(args)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let netns = ok("ip", &["netns", "list"]);
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| !ok(t, &["--version"]))
        .collect();
    if root && netns && missing.is_empty() {
        return true;
    }
    let why = format!(
        "needs root, `ip netns` and {tools:?} (root: {root}, ip netns: {netns}, missing: {missing:?})"
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("namespace test cannot run under CI: {why}");
    }
    crate::log!("SKIPPED (not CI): {why}");
    false
}

/// [`lab_available_with`] no extra tools.
pub fn lab_available() -> bool {
    lab_available_with(&[])
}

/// Whether something listens on TCP `port` inside `ns` (per `ss -ltn`).
pub fn listens_on(ns: &str, port: u16) -> Result<bool, LabError> {
    let out = ns_run(ns, "ss", &["-Hltn"])?;
    let suffix = format!(":{port}");
    Ok(out.lines().any(|l| {
        l.split_whitespace()
            .nth(3)
            .is_some_and(|local| local.ends_with(&suffix))
    }))
}
