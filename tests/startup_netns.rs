//! `ringvs run` while it starts: a SIGHUP (a supervisor's reload) that
//! arrives before the director is up must not kill it.

use ringvs::lab::{self, Lab};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The `ringvs` binary under test.
const EXE: &str = env!("CARGO_BIN_EXE_ringvs");

struct Remove(PathBuf);
impl Drop for Remove {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The director is held in its start, deterministically, by a `--rules`
/// file that is a FIFO: reading it blocks until the test writes the rules.
/// Once the test can open the FIFO for writing, the director is reading
/// it, inside `run` and before the connection tables and the rings; the
/// SIGHUP is sent then. The director must go on to start and serve the
/// rules it was given.
#[test]
fn a_sighup_while_the_director_starts_does_not_kill_it() {
    if !lab::lab_available() {
        return;
    }
    let tag = Lab::unique_tag();
    let mut lab = Lab::build(&tag).expect("lab");
    let fifo = PathBuf::from(format!("/run/ringvs-start-{tag}.rules"));
    let _ = std::fs::remove_file(&fifo);
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success(), "mkfifo {}", fifo.display());
    let _rm = Remove(fifo.clone());
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
        .spawn()
        .expect("spawn ringvs run");
    let pid = child.id().to_string();
    lab.adopt(child);

    // Opening a FIFO for writing without blocking fails (ENXIO) until a
    // reader has it open: then the director is in `run`, loading its rules.
    let writer = lab::wait_for(Duration::from_secs(20), || {
        std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .ok()
    })
    .expect("the director never opened its --rules FIFO");
    // `ip netns exec` execs the director: the child's pid is the director's.
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).expect("the director's exe");
    assert_eq!(exe.file_name(), Path::new(EXE).file_name());
    let hup = Command::new("kill").args(["-HUP", &pid]).status();
    assert!(hup.is_ok_and(|s| s.success()), "kill -HUP {pid}");

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
