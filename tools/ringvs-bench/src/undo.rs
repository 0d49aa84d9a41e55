//! What `ringvs-bench` changed outside its labs and must put back if a
//! signal ends it: `Drop` does not run then. Two kinds: a host sysctl raised
//! for the kernel's datapath (`nf_conntrack_max`), and tracers started in the
//! host's own namespace (`perf sched record`, `bpftrace`), which would go on
//! tracing (and writing their files) after the benchmark.
//!
//! Each is registered when made and deregistered when put back in the normal
//! way, so the signal path ([`undo_all`]) touches only what is still out.
//! A child stays registered until it has been waited for: its pid cannot be
//! reused by another process before then.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// One change still to put back.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Change {
    /// Write `old` back into the sysctl file `path`.
    Sysctl { path: PathBuf, old: String },
    /// Stop the child `pid` and remove the file it was writing, if any.
    Child { pid: u32, file: Option<PathBuf> },
}

/// The changes still out, by ticket.
static OUT: Mutex<Vec<(u64, Change)>> = Mutex::new(Vec::new());
static NEXT: AtomicU64 = AtomicU64::new(1);

/// A registered change: dropping it deregisters the change (it was put back,
/// or the child waited for, in the normal way).
#[must_use = "dropping the ticket forgets the change at once"]
pub struct Ticket(u64);

fn register(c: Change) -> Ticket {
    let t = NEXT.fetch_add(1, Ordering::Relaxed);
    OUT.lock().unwrap_or_else(|e| e.into_inner()).push((t, c));
    Ticket(t)
}

impl Drop for Ticket {
    fn drop(&mut self) {
        OUT.lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(t, _)| *t != self.0);
    }
}

/// Register a sysctl file whose value was `old` before this process wrote it.
pub fn sysctl(path: impl Into<PathBuf>, old: &str) -> Ticket {
    register(Change::Sysctl {
        path: path.into(),
        old: old.trim().to_string(),
    })
}

/// Register a child running in the host's namespace, writing `file` if any.
pub fn child(pid: u32, file: Option<PathBuf>) -> Ticket {
    register(Change::Child { pid, file })
}

/// Put back everything still out (the signal path): children are sent
/// SIGTERM first (a tracer ends its file on it), then sysctls written back,
/// then the children's files removed. Returns what was done, one line each.
pub fn undo_all() -> Vec<String> {
    let out: Vec<Change> = std::mem::take(&mut *OUT.lock().unwrap_or_else(|e| e.into_inner()))
        .into_iter()
        .map(|(_, c)| c)
        .collect();
    let mut done = Vec::new();
    for c in &out {
        if let Change::Child { pid, .. } = c
            && let Ok(p) = libc::pid_t::try_from(*pid)
        {
            // kill(1): the crate has no unsafe code for kill(2). The child
            // is not reaped yet, so the pid is still its own.
            if std::process::Command::new("kill")
                .args(["-TERM", &p.to_string()])
                .status()
                .is_ok_and(|s| s.success())
            {
                done.push(format!("stopped pid {p}"));
            }
        }
    }
    for c in &out {
        match c {
            Change::Sysctl { path, old } => {
                if std::fs::write(path, old).is_ok() {
                    done.push(format!("{} = {old}", path.display()));
                }
            }
            Change::Child {
                file: Some(file), ..
            } => {
                if std::fs::remove_file(file).is_ok() {
                    done.push(format!("removed {}", file.display()));
                }
            }
            Change::Child { file: None, .. } => {}
        }
    }
    done
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// One test: the register is process-wide.
    #[test]
    fn a_signal_puts_back_only_what_is_still_out() {
        let dir = std::env::temp_dir().join(format!("rvb-undo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (ct, other) = (dir.join("ct_max"), dir.join("other"));
        std::fs::write(&ct, "999999").unwrap();
        std::fs::write(&other, "7").unwrap();
        // A tracer stand-in writing its file, still running at the signal.
        let trace = dir.join("trace.data");
        std::fs::write(&trace, "x").unwrap();
        let mut sleeper = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let t1 = sysctl(&ct, "65536\n");
        let t2 = child(sleeper.id(), Some(trace.clone()));
        // Put back in the normal way already: not touched again.
        drop(sysctl(&other, "1"));
        let done = undo_all();
        let status = sleeper.wait().unwrap();
        assert_eq!(std::fs::read_to_string(&ct).unwrap(), "65536");
        assert_eq!(std::fs::read_to_string(&other).unwrap(), "7");
        assert!(!trace.exists(), "{done:?}");
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(libc::SIGTERM)
        );
        assert_eq!(done.len(), 3, "{done:?}");
        // Nothing is left to undo a second time.
        drop((t1, t2));
        assert!(undo_all().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
