//! keepalived's notifications of health changes, off the data plane: the
//! notify scripts (`config::notify`: a real server's `--notify-up` and
//! `--notify-down`, a service's `--quorum-up` and `--quorum-down`) and the
//! notify FIFO (`ringvs run --notify-fifo`, keepalived's `lvs_notify_fifo`),
//! as `check/ipwrapper.c` `do_rs_notifies` and `do_vs_notifies` give them.
//!
//! The health thread (a server's verdict) and the control thread (a
//! service's quorum, weighed at each publish) hand each event to the
//! notifier thread over a bounded queue and go on: a script that hangs or a
//! FIFO nobody reads never holds up a check. The notifier writes the FIFO
//! line keepalived writes (`notify_fifo_rs`, `notify_fifo_vs`):
//!
//! ```text
//! RS [198.19.0.2]:tcp:80 [198.18.0.110]:tcp:80 DOWN
//! VS [198.18.0.110]:tcp:80 DOWN
//! ```
//!
//! and starts the script without a shell (its words as `config::notify`
//! splits them), standard streams on `/dev/null` and in a process group
//! of its own as keepalived's `system_call_script` starts it, and reaps
//! it; a script that cannot start or ends with a failure is logged. At most [`MAX_RUNNING`] scripts run at
//! once: the next event waits for one to end.
//!
//! Differences: a script that is not executable fails to start (keepalived
//! hands it to `system()`, a shell); a script does not die with ringvs
//! (keepalived's `PR_SET_PDEATHSIG`); the FIFO is written without blocking (keepalived's `write`
//! blocks once its pipe is full), so a line that does not fit is dropped
//! and logged. Scripts run as their own user or the director's script
//! user, once `super::scripts` has checked them (keepalived's
//! `script_user`, `enable_script_security`).

use crate::config::{Proto, Script, Scripts, ServiceKey};
use crossbeam_channel::{Receiver, Sender, TrySendError};
use std::fs::File;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Events waiting for the notifier thread; beyond, they are dropped (logged).
pub const QUEUE: usize = 1024;
/// Scripts running at once, at most.
pub const MAX_RUNNING: usize = 64;
/// How often the notifier looks at its scripts (and at `stop`) when idle.
const REAP: Duration = Duration::from_millis(200);

/// One event: the FIFO's line and the script to run, if any.
#[derive(Debug, PartialEq, Eq)]
pub struct Note {
    pub line: String,
    pub script: Option<Script>,
}

/// The handle that the health and control threads give events to; off
/// (everything dropped at once) when nothing listens.
#[derive(Clone, Debug, Default)]
pub struct Notifier {
    tx: Option<Sender<Note>>,
}

/// `[addr]:proto:port`, keepalived's `inet_sockaddrtotrio`.
fn trio(addr: IpAddr, proto: Proto, port: u16) -> String {
    format!("[{addr}]:{}:{port}", proto.lower())
}

/// The virtual server as keepalived's `format_vs` writes it: its trio, or
/// `FWM MARK` for a firewall-mark service.
fn vs_text(vs: &ServiceKey) -> String {
    if vs.is_fwmark() {
        format!("FWM {}", vs.mark)
    } else {
        trio(vs.addr, vs.proto, vs.port)
    }
}

fn state(up: bool) -> &'static str {
    if up { "UP" } else { "DOWN" }
}

impl Notifier {
    /// A notifier and the receiving end its thread reads.
    pub fn channel() -> (Notifier, Receiver<Note>) {
        let (tx, rx) = crossbeam_channel::bounded(QUEUE);
        (Notifier { tx: Some(tx) }, rx)
    }

    /// Real server `addr`:`port` of `service` went up or down.
    pub fn server(&self, service: &ServiceKey, at: SocketAddr, up: bool, scripts: &Scripts) {
        if self.tx.is_none() {
            return;
        }
        let (p, vs) = (service.proto, service);
        let line = format!(
            "RS {} {} {}\n",
            trio(at.ip(), p, at.port()),
            vs_text(vs),
            state(up)
        );
        self.send(line, scripts.on(up));
    }

    /// `service` gained (`up`) or lost its quorum.
    pub fn quorum(&self, service: &ServiceKey, up: bool, scripts: &Scripts) {
        if self.tx.is_none() {
            return;
        }
        let vs = vs_text(service);
        self.send(format!("VS {vs} {}\n", state(up)), scripts.on(up));
    }

    fn send(&self, line: String, script: Option<&Script>) {
        let Some(tx) = &self.tx else { return };
        let note = Note {
            line,
            script: script.cloned(),
        };
        if let Err(TrySendError::Full(n)) = tx.try_send(note) {
            crate::log!(
                "ringvs: notify: {} events waiting, dropped: {}",
                QUEUE,
                n.line.trim_end()
            );
        }
    }
}

/// `--notify-fifo`: the FIFO open for writing without blocking, and whether
/// ringvs made it (then it removes it when it stops, as keepalived does).
pub struct Fifo {
    file: File,
    path: PathBuf,
    made: bool,
}

impl Fifo {
    /// Opens the FIFO at `path`, making it (with `mkfifo`, mode 0644 as
    /// keepalived's `fifo_open`) if nothing is there; anything there but a
    /// FIFO is an error. Opened for reading too, so that it never lacks a
    /// reader (a write without one fails) and the opening never waits for
    /// one; not through a symbolic link, as keepalived's `O_NOFOLLOW`.
    pub fn open(path: &Path) -> Result<Fifo, String> {
        use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
        let made = match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_fifo() => false,
            Ok(_) => return Err("there is something other than a FIFO there".into()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // By its path: root's PATH is not trusted to name it.
                let out = Command::new("/usr/bin/mkfifo")
                    .args(["-m", "0644", "--"])
                    .arg(path)
                    .output()
                    .map_err(|e| format!("running mkfifo: {e}"))?;
                if !out.status.success() {
                    return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
                }
                true
            }
            Err(e) => return Err(e.to_string()),
        };
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(path)
            .map_err(|e| e.to_string())?;
        Ok(Fifo {
            file,
            path: path.to_path_buf(),
            made,
        })
    }

    /// Writes `line` whole or not at all (a pipe takes a write of up to
    /// `PIPE_BUF` bytes at once or refuses it).
    fn write(&mut self, line: &str) {
        if let Err(e) = self.file.write(line.as_bytes()) {
            crate::log!(
                "ringvs: notify: {}: {e}, dropped: {}",
                self.path.display(),
                line.trim_end()
            );
        }
    }
}

impl Drop for Fifo {
    fn drop(&mut self) {
        if self.made {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The notifier thread: `rx`'s events until `stop`. `fifo_script` is
/// started first with the FIFO's path after its words (keepalived's
/// `lvs_notify_fifo_script`), and killed at the end.
pub fn run(
    rx: Receiver<Note>,
    mut fifo: Option<Fifo>,
    fifo_script: Option<Script>,
    stop: &AtomicBool,
) {
    let mut running: Vec<(Child, Script)> = Vec::new();
    let mut reader = match (&fifo, fifo_script) {
        (Some(f), Some(s)) => start(&s, Some(&f.path)).map(|c| (c, s)),
        _ => None,
    };
    while !stop.load(Ordering::Relaxed) {
        match rx.recv_timeout(REAP) {
            Ok(note) => {
                if let Some(f) = fifo.as_mut() {
                    f.write(&note.line);
                }
                if let Some(s) = note.script {
                    while running.len() >= MAX_RUNNING && !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(10));
                        reap(&mut running);
                    }
                    if let Some(c) = start(&s, None) {
                        running.push((c, s));
                    }
                }
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        }
        reap(&mut running);
        if let Some((c, s)) = reader.as_mut()
            && let Ok(Some(st)) = c.try_wait()
        {
            crate::log!(
                "ringvs: notify: the FIFO's script '{}' ended ({st})",
                s.as_str()
            );
            reader = None;
        }
    }
    if let Some((c, _)) = reader {
        end_group(c);
    }
    reap(&mut running);
    drop(fifo.take());
}

/// Ends the FIFO's script as keepalived's `script_killall` does: SIGTERM to
/// its process group (with `kill(1)`, which keeps `unsafe` out of here),
/// then SIGKILL to it if it is still there a second later.
fn end_group(mut c: Child) {
    signal_group(c.id(), "TERM");
    for _ in 0..20 {
        if matches!(c.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = c.kill();
    let _ = c.wait();
}

/// Sends signal `sig` (`TERM`, `KILL`) to the process group `pgid` (a child
/// started in a group of its own), with `kill(1)`, which keeps `unsafe` out
/// of here.
pub(super) fn signal_group(pgid: u32, sig: &str) {
    let _ = Command::new("/usr/bin/kill")
        .args([&format!("-{sig}"), "--", &format!("-{pgid}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Starts `s` (with `extra` as its last argument) in a process group of its
/// own, as keepalived's `system_call_script`; logged if it cannot.
fn start(s: &Script, extra: Option<&Path>) -> Option<Child> {
    use std::os::unix::process::CommandExt;
    let ready = match super::scripts::vet(s, &super::scripts::policy()) {
        Ok(r) => r,
        Err(e) => {
            crate::log!("ringvs: notify: '{}' did not start: {e}", s.as_str());
            return None;
        }
    };
    let mut cmd = super::scripts::command(s, &ready);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    if let Some(p) = extra {
        cmd.arg(p);
    }
    match cmd.spawn() {
        Ok(c) => Some(c),
        Err(e) => {
            crate::log!("ringvs: notify: '{}' did not start: {e}", s.as_str());
            None
        }
    }
}

/// Reaps the scripts that ended; a failure is logged.
fn reap(running: &mut Vec<(Child, Script)>) {
    running.retain_mut(|(c, s)| match c.try_wait() {
        Ok(None) => true,
        Ok(Some(st)) => {
            if !st.success() {
                crate::log!("ringvs: notify: '{}' ended: {st}", s.as_str());
            }
            false
        }
        Err(e) => {
            crate::log!("ringvs: notify: '{}': {e}", s.as_str());
            false
        }
    });
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::Ipv4Addr;
    use std::sync::Arc;

    fn vs() -> ServiceKey {
        ServiceKey::new(Proto::Tcp, Ipv4Addr::new(198, 18, 0, 110), 80)
    }

    /// The FIFO's lines are keepalived's, for IPv4 and IPv6.
    #[test]
    fn lines_are_keepalived_s() {
        let (n, rx) = Notifier::channel();
        let rs: SocketAddr = "198.19.0.2:8080".parse().unwrap();
        let up = Script::parse("/bin/true up").unwrap();
        let scripts = Scripts {
            up: Some(up.clone()),
            ..Scripts::default()
        };
        n.server(&vs(), rs, true, &scripts);
        n.server(&vs(), rs, false, &scripts);
        n.quorum(&vs(), false, &Scripts::default());
        let v6 = ServiceKey::new(Proto::Udp, "2001:2:0:1::110".parse::<IpAddr>().unwrap(), 53);
        n.server(&v6, "[2001:2:0:2::2]:53".parse().unwrap(), true, &scripts);
        let fwm = ServiceKey::fwmark(7, false);
        n.server(
            &fwm,
            "198.19.0.3:443".parse().unwrap(),
            false,
            &Scripts::default(),
        );
        n.quorum(&fwm, true, &Scripts::default());
        let got: Vec<Note> = rx.try_iter().collect();
        assert_eq!(
            got,
            [
                Note {
                    line: "RS [198.19.0.2]:tcp:8080 [198.18.0.110]:tcp:80 UP\n".into(),
                    script: Some(up.clone()),
                },
                Note {
                    line: "RS [198.19.0.2]:tcp:8080 [198.18.0.110]:tcp:80 DOWN\n".into(),
                    script: None,
                },
                Note {
                    line: "VS [198.18.0.110]:tcp:80 DOWN\n".into(),
                    script: None,
                },
                Note {
                    line: "RS [2001:2:0:2::2]:udp:53 [2001:2:0:1::110]:udp:53 UP\n".into(),
                    script: Some(up),
                },
                // keepalived's `format_vs` of a firewall-mark service.
                Note {
                    line: "RS [198.19.0.3]:tcp:443 FWM 7 DOWN\n".into(),
                    script: None,
                },
                Note {
                    line: "VS FWM 7 UP\n".into(),
                    script: None,
                },
            ]
        );
    }

    /// A full queue drops the event instead of waiting.
    #[test]
    fn a_full_queue_drops() {
        let (n, rx) = Notifier::channel();
        for _ in 0..QUEUE + 5 {
            n.quorum(&vs(), true, &Scripts::default());
        }
        assert_eq!(rx.len(), QUEUE);
    }

    /// The thread writes the FIFO, runs the scripts with their words, makes
    /// the FIFO and removes it again.
    #[test]
    fn the_thread_writes_the_fifo_and_runs_the_scripts() {
        let dir = std::env::temp_dir().join(format!("ringvs-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("fifo");
        let out = dir.join("out");
        let fifo = Fifo::open(&path).unwrap();
        let mut reader = std::fs::File::open(&path).unwrap();
        let (n, rx) = Notifier::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let t = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || run(rx, Some(fifo), None, &stop))
        };
        let cmd = format!("/bin/sh -c 'echo \"$0 $1\" >> {}' went down", out.display());
        let scripts = Scripts {
            down: Some(Script::parse(&cmd).unwrap()),
            ..Scripts::default()
        };
        n.server(&vs(), "198.19.0.2:80".parse().unwrap(), false, &scripts);
        let want = "RS [198.19.0.2]:tcp:80 [198.18.0.110]:tcp:80 DOWN\n";
        let mut got = vec![0; want.len()];
        reader.read_exact(&mut got).unwrap();
        assert_eq!(String::from_utf8(got).unwrap(), want);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::fs::read_to_string(&out).unwrap_or_default() != "went down\n" {
            assert!(std::time::Instant::now() < deadline, "the script ran");
            std::thread::sleep(Duration::from_millis(20));
        }
        stop.store(true, Ordering::Relaxed);
        t.join().unwrap();
        assert!(!path.exists(), "the FIFO it made is gone");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// `--notify-fifo-script` is started with the FIFO's path as its last
    /// word, reads the lines, and is killed when the thread ends.
    #[test]
    fn the_fifo_script_reads_the_lines() {
        let dir = std::env::temp_dir().join(format!("ringvs-notify-fs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (path, out) = (dir.join("fifo"), dir.join("out"));
        let fifo = Fifo::open(&path).unwrap();
        let reader = format!("/bin/sh -c 'exec cat \"$0\" >> {}'", out.display());
        let (n, rx) = Notifier::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let t = {
            let stop = Arc::clone(&stop);
            let s = Script::parse(&reader).unwrap();
            std::thread::spawn(move || run(rx, Some(fifo), Some(s), &stop))
        };
        n.quorum(&vs(), false, &Scripts::default());
        n.quorum(&vs(), true, &Scripts::default());
        let want = "VS [198.18.0.110]:tcp:80 DOWN\nVS [198.18.0.110]:tcp:80 UP\n";
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::fs::read_to_string(&out).unwrap_or_default() != want {
            assert!(
                std::time::Instant::now() < deadline,
                "the reader got the lines"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        stop.store(true, Ordering::Relaxed);
        t.join().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A FIFO ringvs made goes with it; one it found stays.
    #[test]
    fn a_fifo_made_is_removed_and_one_found_kept() {
        use std::os::unix::fs::FileTypeExt;
        let path = std::env::temp_dir().join(format!("ringvs-fifo-drop-{}", std::process::id()));
        let made = Fifo::open(&path).unwrap();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.file_type().is_fifo());
        drop(made);
        assert!(!path.exists(), "made, removed");
        let out = Command::new("/usr/bin/mkfifo").arg(&path).status().unwrap();
        assert!(out.success());
        drop(Fifo::open(&path).unwrap());
        assert!(path.exists(), "found, kept");
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_file_in_the_fifos_place_is_refused() {
        let path = std::env::temp_dir().join(format!("ringvs-notfifo-{}", std::process::id()));
        std::fs::write(&path, b"x").unwrap();
        let e = Fifo::open(&path).err().unwrap();
        assert!(e.contains("other than a FIFO"), "{e}");
        let _ = std::fs::remove_file(&path);
    }
}
