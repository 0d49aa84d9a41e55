//! The HA role and the connection-sync daemons, as `ringvs adm` drives them:
//! `--ha active|standby`, `--start-daemon`/`--stop-daemon` and `-L --daemon`.

use super::Ctl;
use crate::config::ipvsadm::{DaemonOpts, SyncRole};
use crate::proto::Response;
use crate::sync::daemon::{DaemonError, Daemons};

impl Ctl {
    /// Make the director active or standby. The workers follow at their next
    /// pass; the control thread announces every address with gratuitous ARP
    /// when the director becomes active (`neigh.rs`).
    pub(super) fn set_role(&self, standby: bool) {
        let was = self.shared.ha.set_standby(standby);
        self.shared.bump();
        if was != standby {
            eprintln!("ringvs: now {}", role_name(standby));
        }
    }

    /// `active` or `standby`.
    pub(super) fn role(&self) -> &'static str {
        role_name(self.shared.ha.standby())
    }
}

fn role_name(standby: bool) -> &'static str {
    if standby { "standby" } else { "active" }
}

impl Ctl {
    /// Give the control plane the data plane's sync daemons (at start).
    pub(super) fn set_daemons(&self, d: Daemons) {
        *self.sync.lock().unwrap_or_else(|e| e.into_inner()) = Some(d);
    }

    fn daemons(&self) -> std::sync::MutexGuard<'_, Option<Daemons>> {
        self.sync.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `--start-daemon`.
    pub(super) fn start_daemon(&self, o: &DaemonOpts) -> Response {
        let mut d = self.daemons();
        let Some(d) = d.as_mut() else {
            return Response::fail(1, "no data plane to sync");
        };
        match d.start(o) {
            Ok(c) => {
                eprintln!("ringvs: started {}", c.line());
                Response::ok(String::new())
            }
            Err(e) => Response::fail(255, e.to_string()),
        }
    }

    /// `--stop-daemon`.
    pub(super) fn stop_daemon(&self, role: SyncRole) -> Response {
        let mut d = self.daemons();
        let Some(d) = d.as_mut() else {
            return Response::fail(255, DaemonError::NotRunning.to_string());
        };
        match d.stop(role) {
            Ok(()) => {
                eprintln!("ringvs: stopped the {} sync daemon", role.name());
                Response::ok(String::new())
            }
            Err(e) => Response::fail(255, e.to_string()),
        }
    }

    /// Stop every daemon (the director stops): their threads are joined and
    /// their sockets closed.
    pub(super) fn stop_daemons(&self) {
        drop(self.daemons().take());
    }

    /// `-L --daemon`: a line per running daemon, master first, as ipvsadm.
    pub(super) fn daemon_lines(&self) -> String {
        let d = self.daemons();
        let mut out = String::new();
        for c in d.as_ref().map(Daemons::list).unwrap_or_default() {
            out.push_str(&c.line());
            out.push('\n');
        }
        out
    }

    /// The daemons and their counters for `ringvs stats --json`.
    pub(super) fn sync_json(&self) -> serde_json::Value {
        let d = self.daemons();
        let Some(d) = d.as_ref() else {
            return serde_json::Value::Null;
        };
        let daemons: Vec<String> = d.list().iter().map(|c| c.line()).collect();
        serde_json::json!({
            "daemons": daemons,
            "counters": d.counters.all(),
        })
    }

    /// The sync counters as `ringvs stats` lines (`sync_NAME VALUE`).
    pub(super) fn sync_text(&self) -> String {
        let d = self.daemons();
        let Some(d) = d.as_ref() else {
            return String::new();
        };
        let mut out = String::new();
        for c in d.list() {
            out.push_str(&format!("{}\n", c.line()));
        }
        for (k, v) in d.counters.all() {
            out.push_str(&format!("{:<24} {v:>12}\n", format!("sync_{k}")));
        }
        out
    }
}
