//! keepalived's `MISC_CHECK` (`check_misc.c`): a command run on the
//! director for each real server, whose exit status is the check.
//!
//! As `misc_check_thread` and `misc_check_child_thread`: the command runs
//! without a shell, in a process group of its own, its standard streams on
//! `/dev/null`; exit status 0 passes, with `misc_dynamic` so does 2 to 255,
//! which sets the server's weight to the status less 2; any other status
//! fails, and so does a command killed by a signal. One that runs past
//! `misc_timeout` (or `delay_loop`) gets SIGTERM to its group, SIGKILL two
//! seconds later if it is still there, and fails as timed out once it is
//! gone. The health thread never waits for it: each round asks whether it
//! has ended.
//!
//! An extension: the command's environment names the server it checks
//! (`RINGVS_RS_ADDR`, `RINGVS_RS_PORT`) and the service
//! (`RINGVS_VS_PROTO`, `RINGVS_VS_ADDR`, `RINGVS_VS_PORT`), so one command
//! can check every server of a service. A server's own `--misc-path`
//! (keepalived's per-server `misc_path`) runs in its place for it.

use super::Target;
use super::notify::signal_group;
use super::probe::Outcome;
use super::scripts;
use crate::config::MiscCheck;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a command has between SIGTERM and SIGKILL (keepalived's 2 s).
const TERM_GRACE: Duration = Duration::from_secs(2);

/// A command running for one check.
pub(super) struct Run {
    /// `None`: it could not start (the check fails at its next step, as
    /// keepalived's child that cannot exec the command exits with 127).
    child: Option<Child>,
    /// When its group was sent SIGTERM, and whether SIGKILL since.
    ended: Option<(Instant, bool)>,
    /// Whether it has exited (and been reaped).
    exited: bool,
}

/// Starts `m`'s command (or the server's own) for target `t`; one that
/// cannot start is logged, and fails its check.
pub(super) fn start(t: &Target, m: &MiscCheck) -> Run {
    let child = spawn(t, m)
        .map_err(|e| crate::log!("ringvs: health: MISC_CHECK for {}: {e}", t.rs_addr))
        .ok();
    Run {
        child,
        ended: None,
        exited: false,
    }
}

fn spawn(t: &Target, m: &MiscCheck) -> Result<Child, String> {
    let script = t.scripts.check.as_ref().unwrap_or(&m.path);
    let ready = scripts::vet(script, &scripts::policy())
        .map_err(|e| format!("'{}' did not start: {e}", script.as_str()))?;
    let mut cmd = scripts::command(script, &ready);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .env("RINGVS_RS_ADDR", t.rs_addr.to_string())
        .env("RINGVS_RS_PORT", t.rs_port.to_string())
        .env("RINGVS_VS_PROTO", t.service.proto.to_string())
        .env("RINGVS_VS_ADDR", t.service.addr.to_string())
        .env("RINGVS_VS_PORT", t.service.port.to_string());
    // A firewall-mark service: its mark (its address and port are none).
    if t.service.is_fwmark() {
        cmd.env("RINGVS_VS_FWMARK", t.service.mark.to_string());
    }
    cmd.spawn()
        .map_err(|e| format!("'{}' did not start: {e}", script.as_str()))
}

/// One step of `run` (started at `started`, allowed `limit`): its outcome
/// once the command has ended.
pub(super) fn step(
    run: &mut Run,
    m: &MiscCheck,
    (started, limit): (Instant, Duration),
    now: Instant,
) -> Option<Outcome> {
    let Some(child) = run.child.as_mut() else {
        return Some(Outcome::Exit(127));
    };
    match child.try_wait() {
        Ok(Some(st)) => {
            run.exited = true;
            // Ended by our SIGTERM: what it started goes too (keepalived
            // sends SIGKILL to the group then).
            if matches!(run.ended, Some((_, false))) {
                signal_group(child.id(), "KILL");
            }
            return Some(outcome(st, run.ended.is_some(), m.dynamic));
        }
        Ok(None) => {}
        // Not ours to wait for any more (cannot happen with our own child).
        Err(_) => return Some(Outcome::ScriptTimeout),
    }
    let pid = child.id();
    match run.ended {
        None if now.duration_since(started) >= limit => {
            signal_group(pid, "TERM");
            run.ended = Some((now, false));
        }
        Some((at, false)) if now.duration_since(at) >= TERM_GRACE => {
            signal_group(pid, "KILL");
            // The command itself at least, should kill(1) have failed.
            let _ = child.kill();
            run.ended = Some((at, true));
        }
        _ => {}
    }
    None
}

/// Ends `run` at once if it still runs (its check abandoned): SIGKILL to
/// its group; the child, to be reaped.
pub(super) fn end(run: Run) -> Option<Child> {
    let mut child = run.child.filter(|_| !run.exited)?;
    signal_group(child.id(), "KILL");
    let _ = child.kill();
    Some(child)
}

/// What an exit status says (`timed_out`: the group was signalled for
/// running too long), as `misc_check_child_thread`.
fn outcome(st: ExitStatus, timed_out: bool, dynamic: bool) -> Outcome {
    match (st.code(), st.signal()) {
        (Some(0), _) => Outcome::Ok,
        (Some(c @ 2..=255), _) if dynamic => Outcome::Weight((c - 2) as u16),
        (Some(c), _) => Outcome::Exit(c),
        (None, _) if timed_out => Outcome::ScriptTimeout,
        (None, s) => Outcome::Signal(s.unwrap_or(0)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::{CheckKind, DestId, HealthCheck, Proto, Script, Scripts, ServiceKey};
    use std::net::Ipv4Addr;

    fn target(cmd: &str, own: Option<&str>) -> (Target, MiscCheck) {
        let m = MiscCheck {
            path: Script::parse(cmd).unwrap(),
            timeout: None,
            dynamic: true,
        };
        let t = Target {
            service: ServiceKey::new(Proto::Tcp, Ipv4Addr::new(198, 18, 0, 110), 80),
            id: DestId(1),
            addr: Ipv4Addr::new(198, 19, 0, 2).into(),
            port: 8080,
            rs_addr: Ipv4Addr::new(198, 19, 0, 2).into(),
            rs_port: 8080,
            check: HealthCheck::new(CheckKind::Misc(m.clone())),
            scripts: Scripts {
                check: own.map(|s| Script::parse(s).unwrap()),
                ..Scripts::default()
            },
        };
        (t, m)
    }

    /// Runs `cmd` to its end (at most 10 s, `limit` before it is told to
    /// end): its outcome and how long it took.
    fn run(cmd: &str, own: Option<&str>, limit: Duration) -> (Outcome, Duration) {
        let (t, m) = target(cmd, own);
        let started = Instant::now();
        let mut r = start(&t, &m);
        while started.elapsed() < Duration::from_secs(10) {
            if let Some(o) = step(&mut r, &m, (started, limit), Instant::now()) {
                return (o, started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("{cmd}: still running");
    }

    /// Exit statuses as keepalived reads them, with `misc_dynamic`; the
    /// environment names the server and the service; a server's own
    /// command runs in place of the service's.
    #[test]
    fn exit_statuses_and_the_environment() {
        let long = Duration::from_secs(9);
        assert_eq!(run("/bin/true", None, long).0, Outcome::Ok);
        assert_eq!(run("/bin/false", None, long).0, Outcome::Exit(1));
        assert_eq!(run("/bin/sh -c 'exit 2'", None, long).0, Outcome::Weight(0));
        assert_eq!(
            run("/bin/sh -c 'exit 255'", None, long).0,
            Outcome::Weight(253)
        );
        assert_eq!(
            run("/bin/sh -c 'kill -9 $$'", None, long).0,
            Outcome::Signal(9)
        );
        let env = "/bin/sh -c 'test \"$RINGVS_RS_ADDR:$RINGVS_RS_PORT $RINGVS_VS_PROTO $RINGVS_VS_ADDR:$RINGVS_VS_PORT\" = \"198.19.0.2:8080 TCP 198.18.0.110:80\"'";
        assert_eq!(run(env, None, long).0, Outcome::Ok);
        // A firewall-mark service's mark; none for any other.
        let no_mark = "/bin/sh -c 'test -z \"${RINGVS_VS_FWMARK+set}\"'";
        assert_eq!(run(no_mark, None, long).0, Outcome::Ok);
        let (mut t, m) = target("/bin/sh -c 'test \"$RINGVS_VS_FWMARK\" = 7'", None);
        t.service = ServiceKey::fwmark(7, false);
        let started = Instant::now();
        let mut r = start(&t, &m);
        let marked = loop {
            if let Some(o) = step(&mut r, &m, (started, long), Instant::now()) {
                break o;
            }
            assert!(started.elapsed() < long, "still running");
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(marked, Outcome::Ok);
        assert_eq!(run("/bin/false", Some("/bin/true"), long).0, Outcome::Ok);
        let (t, m) = target("/nonexistent/x", None);
        assert!(spawn(&t, &m).unwrap_err().contains("did not start"));
        assert_eq!(run("/nonexistent/x", None, long).0, Outcome::Exit(127));
    }

    /// A command past its time gets SIGTERM and fails as timed out; one
    /// that ignores SIGTERM gets SIGKILL two seconds later; its children
    /// (same group) go too.
    #[test]
    fn a_command_past_its_time_is_ended_and_fails() {
        let limit = Duration::from_millis(200);
        let (o, took) = run("/bin/sleep 30", None, limit);
        assert_eq!(o, Outcome::ScriptTimeout);
        assert!(took < Duration::from_secs(2), "{took:?}");
        let (o, took) = run("/bin/sh -c 'trap \"\" TERM; /bin/sleep 30'", None, limit);
        assert_eq!(o, Outcome::ScriptTimeout);
        assert!(took >= TERM_GRACE, "{took:?}");
        // A command whose exit status comes after SIGTERM is read by it.
        let (o, _) = run(
            "/bin/sh -c 'trap \"exit 0\" TERM; /bin/sleep 30 & wait'",
            None,
            limit,
        );
        assert_eq!(o, Outcome::Ok);
    }

    /// A command ended by our SIGTERM takes what it started with it
    /// (SIGKILL to its group, as keepalived): a child that ignores SIGTERM
    /// never gets to write its file.
    #[test]
    fn what_a_timed_out_command_started_goes_with_it() {
        let file = std::env::temp_dir().join(format!("ringvs-misc-unit-{}", std::process::id()));
        let _ = std::fs::remove_file(&file);
        let cmd = format!(
            "/bin/sh -c '(trap \"\" TERM; sleep 1; touch {}) & exec sleep 30'",
            file.display()
        );
        let (o, _) = run(&cmd, None, Duration::from_millis(200));
        assert_eq!(o, Outcome::ScriptTimeout);
        std::thread::sleep(Duration::from_millis(1500));
        let left = file.exists();
        let _ = std::fs::remove_file(&file);
        assert!(!left, "the child outlived the command");
    }
}
