//! `ringvs run` while it starts: a SIGHUP (a supervisor's reload) that
//! arrives before the director is up must not kill it; a SIGTERM then
//! stops the start cleanly.

use ringvs::lab::{self, Lab};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The `ringvs` binary under test.
const EXE: &str = env!("CARGO_BIN_EXE_ringvs");

struct Remove(PathBuf);
impl Drop for Remove {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A director started on `lab` whose `--rules` file is a FIFO, held while
/// it reads it: its process, its pid, the FIFO open for writing and the
/// control socket's path. The FIFO is removed when the last item drops.
struct Starting {
    child: Child,
    pid: String,
    writer: std::fs::File,
    control: PathBuf,
    _fifo: Remove,
}

/// The director is held in its start, deterministically, by a `--rules`
/// file that is a FIFO: reading it blocks until the test writes the rules.
/// Once the test can open the FIFO for writing, the director is reading
/// it, inside `run` and before the connection tables and the rings.
fn start_on_fifo(lab: &Lab, tag: &str) -> Starting {
    let fifo = PathBuf::from(format!("/run/ringvs-start-{tag}.rules"));
    let _ = std::fs::remove_file(&fifo);
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success(), "mkfifo {}", fifo.display());
    let rm = Remove(fifo.clone());
    let control = PathBuf::from(format!("/run/ringvs-start-{tag}.sock"));
    let (fifo_s, control_s) = (fifo.display().to_string(), control.display().to_string());
    #[rustfmt::skip]
    let args = [
        "run", "--ext", lab.ext_if(), "--ext-addr", lab::EXT_ADDR_CIDR,
        "--int", lab.int_if(), "--int-addr", lab::INT_ADDR_CIDR,
        "--control", &control_s, "--rules", &fifo_s, "--workers", "1",
    ];
    let child = lab::ns_command(&lab.ns_director(), Path::new(EXE), &args)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ringvs run");
    let pid = child.id().to_string();
    // Opening a FIFO for writing without blocking fails (ENXIO) until a
    // reader has it open: then the director is in `run`, loading its rules.
    let writer = lab::wait_for(Duration::from_secs(20), || {
        std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .ok()
    });
    let mut child = child;
    let Some(writer) = writer else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the director never opened its --rules FIFO");
    };
    // `ip netns exec` execs the director: the child's pid is the director's.
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).expect("the director's exe");
    assert_eq!(exe.file_name(), Path::new(EXE).file_name());
    Starting {
        child,
        pid,
        writer,
        control,
        _fifo: rm,
    }
}

/// The SIGHUP is sent while the director reads its rules. It must go on to
/// start and serve the rules it was given.
#[test]
fn a_sighup_while_the_director_starts_does_not_kill_it() {
    if !lab::lab_available() {
        return;
    }
    let tag = Lab::unique_tag();
    let mut lab = Lab::build(&tag).expect("lab");
    let Starting {
        child,
        pid,
        writer,
        control,
        _fifo,
    } = start_on_fifo(&lab, &tag);
    lab.adopt(child);
    signal("-HUP", &pid);

    let rules = format!("-A -t {}:80 -s rr\n", lab::VIP);
    let mut w = writer;
    let wrote = w.write_all(rules.as_bytes());
    drop(w);
    assert!(
        wrote.is_ok(),
        "the director stopped reading its rules: the SIGHUP killed it ({wrote:?})"
    );
    let listed = lab::wait_for(Duration::from_secs(20), || {
        ringvs::proto::adm(&control, &["-L", "-n"]).ok()
    })
    .expect("the director never answered `ringvs adm -L -n` after the SIGHUP");
    assert!(
        listed.contains(&format!("TCP  {}:80 rr", lab::VIP)),
        "{listed}"
    );
    drop(lab);
    assert!(!control.exists(), "the director removed its socket");
}

/// A SIGTERM while the director reads its rules (a supervisor giving up on
/// a slow start) ends the start once the rules are read: exit 0 with the
/// reason on stderr, no control socket left, and not the signal's default
/// action, which kills the process where it stands.
#[test]
fn a_sigterm_while_the_director_starts_stops_it_cleanly() {
    if !lab::lab_available() {
        return;
    }
    let tag = Lab::unique_tag();
    let lab = Lab::build(&tag).expect("lab");
    let Starting {
        mut child,
        pid,
        writer,
        control,
        _fifo,
    } = start_on_fifo(&lab, &tag);
    signal("-TERM", &pid);
    // The signal is handled asynchronously: once it has been, the
    // director's signal mask shows no pending SIGTERM.
    let handled = sigterm_handled(&pid);
    let rules = format!("-A -t {}:80 -s rr\n", lab::VIP);
    let mut w = writer;
    // Fails (EPIPE) when the signal killed the director: the status says so.
    let _ = w.write_all(rules.as_bytes());
    drop(w);
    let exited = lab::wait_for(Duration::from_secs(20), || child.try_wait().ok().flatten());
    let Some(status) = exited else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the director did not stop within 20 s of its SIGTERM");
    };
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut err);
    }
    assert!(
        handled.is_some() || status.signal().is_some(),
        "the director neither handled its SIGTERM nor died of it: {err}"
    );
    assert_eq!(
        status.signal(),
        None,
        "the SIGTERM killed the director in its start instead of stopping it: {err}"
    );
    assert!(status.success(), "{status}: {err}");
    assert!(
        err.contains("ringvs: stopped by SIGINT or SIGTERM while starting"),
        "{err}"
    );
    assert!(
        !err.contains("worker(s)"),
        "the director went on to start: {err}"
    );
    assert!(!control.exists(), "the director left its control socket");
    drop(lab);
}

/// `kill SIG pid`, which must succeed.
fn signal(sig: &str, pid: &str) {
    let sent = Command::new("kill").args([sig, pid]).status();
    assert!(sent.is_ok_and(|s| s.success()), "kill {sig} {pid}");
}

/// Waits (5 s at most) until the director `pid` has handled the SIGTERM sent
/// to it: signals are handled asynchronously, and once one has been, the
/// process's shared pending set no longer holds it.
fn sigterm_handled(pid: &str) -> Option<()> {
    lab::wait_for(Duration::from_secs(5), || {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let pending = status.lines().find_map(|l| l.strip_prefix("ShdPnd:"))?;
        let mask = u64::from_str_radix(pending.trim(), 16).ok()?;
        (mask & (1 << (libc::SIGTERM - 1)) == 0).then_some(())
    })
}

/// A start that hangs (a `--rules` FIFO nobody writes) ignores nothing for
/// ever: the first SIGTERM waits for the start's next step, a second one
/// ends the process at once with exit 1.
#[test]
fn a_second_sigterm_ends_a_hung_start() {
    if !lab::lab_available() {
        return;
    }
    let tag = Lab::unique_tag();
    let lab = Lab::build(&tag).expect("lab");
    let Starting {
        mut child,
        pid,
        writer,
        control,
        _fifo,
    } = start_on_fifo(&lab, &tag);
    for n in 1..=2 {
        signal("-TERM", &pid);
        if n == 1 {
            assert!(sigterm_handled(&pid).is_some(), "the first SIGTERM");
            assert!(
                child.try_wait().ok().flatten().is_none(),
                "one SIGTERM ended it"
            );
        }
    }
    let exited = lab::wait_for(Duration::from_secs(10), || child.try_wait().ok().flatten());
    drop(writer);
    let Some(status) = exited else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("a second SIGTERM left the hung start running");
    };
    assert_eq!(status.signal(), None, "{status}");
    assert_eq!(status.code(), Some(1), "{status}");
    assert!(!control.exists());
    drop(lab);
}
