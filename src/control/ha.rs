//! The HA role and the connection-sync daemons, as `ringvs adm` drives them:
//! `--ha active|standby`, `--start-daemon`/`--stop-daemon` and `-L --daemon`.

use super::Ctl;
use crate::config::ipvsadm::{AdmCommand, DaemonOpts, SyncRole};
use crate::config::{AdmError, Config};
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
            crate::log!("ringvs: now {}", role_name(standby));
        }
    }

    /// Make the director active or standby with the snapshot of that role
    /// (the health holds apply to an active director only), in the order
    /// that never runs the workers active on a standby's snapshot: one
    /// becoming active publishes the holds first, so no new connection goes
    /// to a server its checks hold down (or, `--alpha`, never checked); one
    /// becoming standby stops forwarding first, then publishes every server.
    pub(super) fn set_role_published(&self, st: &mut super::adm::AdmState, standby: bool) {
        if standby {
            self.set_role(true);
            self.publish(st);
        } else {
            self.publish_as(st, false);
            self.set_role(false);
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

/// Whether `cmd` may change the rules `cfg` while a sync daemon runs (if
/// `running()` says one does): adding (or editing) a real server of the
/// other family than its service is refused, as IPVS refuses it
/// (`ip_vs_genl_set_cmd`, `ip_vs_ctl.c`: with `sync_state` set, EINVAL,
/// after the service is found and before the server is looked at), so that
/// a running daemon never meets a connection it cannot carry.
fn sync_permits(
    cfg: &Config,
    cmd: &AdmCommand,
    running: impl FnOnce() -> bool,
) -> Result<(), AdmError> {
    let (AdmCommand::AddDest { key, addr, .. } | AdmCommand::EditDest { key, addr, .. }) = cmd
    else {
        return Ok(());
    };
    if cfg.service(key).is_none() || key.addr.is_ipv6() == addr.is_ipv6() || !running() {
        return Ok(());
    }
    Err(AdmError::InvalidOperation)
}

impl Ctl {
    /// Give the control plane the data plane's sync daemons (at start).
    pub(super) fn set_daemons(&self, d: Daemons) {
        *self.sync.lock().unwrap_or_else(|e| e.into_inner()) = Some(d);
    }

    fn daemons(&self) -> std::sync::MutexGuard<'_, Option<Daemons>> {
        self.sync.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `--start-daemon`, under the rules `cfg` (the caller holds them, so
    /// that no real server is added while the daemon starts).
    ///
    /// Refused while some real server is of the other family than its
    /// service (a tunnel, `Config::has_mixed_families`), as IPVS refuses it
    /// (`ip_vs_genl_new_daemon`, `ip_vs_ctl.c`: the sync protocol cannot
    /// carry such connections; EINVAL, which ipvsadm prints with the
    /// generic message of `ipvs_strerror`, `libipvs.c`, having none of
    /// `ipvs_start_daemon`'s own for it).
    pub(super) fn start_daemon(&self, o: &DaemonOpts, cfg: &Config) -> Response {
        let mut d = self.daemons();
        let Some(d) = d.as_mut() else {
            return Response::fail(1, "no data plane to sync");
        };
        if cfg.has_mixed_families() {
            let e = AdmError::InvalidOperation;
            return Response::fail(e.exit_code(), e.to_string());
        }
        match d.start(o) {
            Ok(c) => {
                crate::log!("ringvs: started {}", c.line());
                Response::ok(String::new())
            }
            Err(e) => Response::fail(255, e.to_string()),
        }
    }

    /// Whether `cmd` (an `adm` command or a `-R` line) may change the rules
    /// `cfg` now: see [`sync_permits`].
    pub(super) fn sync_permits(&self, cfg: &Config, cmd: &AdmCommand) -> Result<(), AdmError> {
        let running = || {
            self.daemons()
                .as_ref()
                .is_some_and(|d| !d.list().is_empty())
        };
        sync_permits(cfg, cmd, running)
    }

    /// `--stop-daemon`.
    pub(super) fn stop_daemon(&self, role: SyncRole) -> Response {
        let mut d = self.daemons();
        let Some(d) = d.as_mut() else {
            return Response::fail(255, DaemonError::NotRunning.to_string());
        };
        match d.stop(role) {
            Ok(()) => {
                crate::log!("ringvs: stopped the {} sync daemon", role.name());
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::control::test_ctl as ctl;
    use crate::dataplane::sync::SyncPorts;
    use crate::dataplane::{Env, Shared};
    use crate::wire::Mac;
    use std::sync::Arc;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    fn adm(c: &Ctl, line: &str) -> Response {
        c.adm(&words(line))
    }

    /// Daemons over no workers (the refusals happen before any socket).
    fn daemons(shared: &Arc<Shared>) -> Daemons {
        let env = Env::new(
            [Mac([2, 0, 0, 0, 0, 1]), Mac([2, 0, 0, 0, 0, 2])],
            "198.18.0.2/24".parse().unwrap(),
            "198.19.0.1/24".parse().unwrap(),
        );
        let ports = SyncPorts {
            reports: vec![],
            installs: vec![],
            reports6: vec![],
            installs6: vec![],
            pe_reports: vec![],
        };
        Daemons::new(
            Arc::clone(shared),
            Arc::new(env),
            ports,
            std::time::Instant::now(),
        )
    }

    const EINVAL: &str =
        "Invalid operation.  Possibly wrong module version, address not unicast, ...\n";

    /// `ip_vs_genl_new_daemon`: no daemon while an IPv4 service has an IPv6
    /// (tunnel) real server; once it is gone the refusal is another one
    /// (here: the interface), not this.
    /// A standby publishes every server of its rules, held down by its
    /// health checks or not (an `alpha` server is, until a first check
    /// that a standby never runs), so that the connections a master syncs
    /// for them are installed and survive a takeover; made active, it
    /// publishes the holds again.
    #[test]
    fn a_standby_publishes_the_servers_its_checks_hold_down() {
        let (c, _g) = ctl(1);
        for line in [
            "-A -t 198.18.0.110:80 -s rr --check tcp --alpha",
            "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
            "--ha standby",
        ] {
            assert_eq!(adm(&c, line).code, 0, "{line}");
        }
        let id = {
            let st = c.adm.lock().unwrap();
            st.cfg.services()[0].dests[0].id
        };
        assert!(c.shared.config.load().dest_live(id), "standby: published");
        assert_eq!(adm(&c, "--ha active").code, 0);
        assert!(
            !c.shared.config.load().dest_live(id),
            "active: held (alpha)"
        );
        assert_eq!(adm(&c, "--ha standby").code, 0);
        assert!(c.shared.config.load().dest_live(id));
    }

    /// Made active, the director publishes the health holds before the
    /// role flips: a worker that reads the new role at once (here a thread
    /// spinning on it) already finds the snapshot with the held (`alpha`,
    /// never checked) server out. The role used to flip first, and the
    /// workers ran active on the standby's snapshot, every server live,
    /// until the publish that followed.
    #[test]
    fn the_role_flips_to_active_only_after_the_holds_are_published() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let (c, _g) = ctl(1);
        for line in [
            "-A -t 198.18.0.110:80 -s rr --check tcp --alpha",
            "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
        ] {
            assert_eq!(adm(&c, line).code, 0, "{line}");
        }
        let id = c.adm.lock().unwrap().cfg.services()[0].dests[0].id;
        for round in 0..50 {
            assert_eq!(adm(&c, "--ha standby").code, 0);
            assert!(c.shared.config.load().dest_live(id), "standby: published");
            let ready = Arc::new(AtomicBool::new(false));
            let watcher = {
                let (shared, ready) = (Arc::clone(&c.shared), Arc::clone(&ready));
                std::thread::spawn(move || {
                    ready.store(true, Ordering::Release);
                    while shared.ha.standby() {
                        std::hint::spin_loop();
                    }
                    shared.config.load().dest_live(id)
                })
            };
            while !ready.load(Ordering::Acquire) {
                std::thread::yield_now();
            }
            assert_eq!(adm(&c, "--ha active").code, 0);
            let live = watcher.join().unwrap();
            assert!(!live, "round {round}: active with the held server live");
            assert!(!c.shared.config.load().dest_live(id), "active: held");
        }
    }

    /// A role change alone runs no quorum script and writes no `VS` line:
    /// keepalived's checker weighs quorums on its checks' verdicts alone
    /// (`update_quorum_state`, `check/ipwrapper.c`) and knows nothing of
    /// VRRP. A standby, which publishes every server, kept the verdicts out
    /// of its quorum too, so `--ha standby` on a director whose service had
    /// lost its quorum ran `quorum_up` ("gained") and `--ha active`
    /// `quorum_down` again.
    #[test]
    fn a_role_change_runs_no_quorum_script() {
        let (notify, notes) = crate::health::Notifier::channel();
        let (c, _g) = crate::control::test_ctl_notifying(1, notify);
        for line in [
            "-A -t 198.18.0.110:80 -s rr --check tcp --quorum-up /bin/true",
            "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
            "-a -t 198.18.0.110:80 -r 198.19.0.3:80 -m",
        ] {
            assert_eq!(adm(&c, line).code, 0, "{line}");
        }
        let ids: Vec<_> = {
            let st = c.adm.lock().unwrap();
            st.cfg.services()[0].dests.iter().map(|d| d.id).collect()
        };
        let lines = || notes.try_iter().map(|n| n.line).collect::<Vec<_>>();
        lines();
        assert!(c.health.hold(ids.iter().map(|&id| (id, false)).collect()));
        c.publish(&mut c.adm.lock().unwrap());
        assert_eq!(lines(), ["VS [198.18.0.110]:tcp:80 DOWN\n"]);
        for role in ["standby", "active", "standby", "active"] {
            assert_eq!(adm(&c, &format!("--ha {role}")).code, 0);
            assert_eq!(lines(), Vec::<String>::new(), "--ha {role}");
        }
        // A standby still publishes every server (its synced connections).
        assert_eq!(adm(&c, "--ha standby").code, 0);
        let snap = c.shared.config.load();
        assert!(
            ids.iter().all(|&id| snap.dest_live(id)),
            "standby: published"
        );
        // The verdicts, not the role, bring it back.
        assert_eq!(adm(&c, "--ha active").code, 0);
        assert!(c.health.hold(std::collections::HashMap::new()));
        c.publish(&mut c.adm.lock().unwrap());
        assert_eq!(lines(), ["VS [198.18.0.110]:tcp:80 UP\n"]);
    }

    #[test]
    fn no_daemon_starts_while_a_server_is_of_the_other_family() {
        let (c, _garp) = ctl(1);
        c.set_daemons(daemons(&c.shared));
        assert_eq!(adm(&c, "-A -t 198.18.0.110:80 -s rr").code, 0);
        assert_eq!(
            adm(&c, "-a -t 198.18.0.110:80 -r [2001:2:0:2::2]:80 -i").code,
            0
        );
        let start = "--start-daemon master --mcast-interface ringvs-none0";
        let r = adm(&c, start);
        assert_eq!((r.code, r.err.as_str()), (255, EINVAL));
        assert_eq!(
            adm(&c, "-d -t 198.18.0.110:80 -r [2001:2:0:2::2]:80").code,
            0
        );
        let r = adm(&c, start);
        assert_eq!(
            (r.code, r.err.as_str()),
            (255, "sync interface ringvs-none0: no such device\n")
        );
        assert_eq!(adm(&c, "-L --daemon").out, "");
    }

    /// `ip_vs_genl_set_cmd`: while a daemon runs, an IPv6 real server of an
    /// IPv4 service is refused (after the service is found: a missing one is
    /// left to `apply`'s "Service not defined"); a server of the service's
    /// family, and the same server once no daemon runs, are taken.
    #[test]
    fn no_server_of_the_other_family_while_a_daemon_runs() {
        let (c, _garp) = ctl(1);
        c.set_daemons(daemons(&c.shared));
        assert_eq!(adm(&c, "-A -t 198.18.0.110:80 -s rr").code, 0);
        let parse = |line: &str| crate::config::ipvsadm::parse(&words(line)).unwrap();
        let mixed = parse("-a -t 198.18.0.110:80 -r [2001:2:0:2::2]:80 -i");
        let edit = parse("-e -t 198.18.0.110:80 -r [2001:2:0:2::2]:80 -i -w 3");
        let same = parse("-a -t 198.18.0.110:80 -r 198.19.0.2:80 -i");
        let elsewhere = parse("-a -t 198.18.0.111:80 -r [2001:2:0:2::2]:80 -i");
        let cfg = c.adm.lock().unwrap().cfg.clone();
        let refused = Err(AdmError::InvalidOperation);
        assert_eq!(sync_permits(&cfg, &mixed, || true), refused);
        assert_eq!(sync_permits(&cfg, &edit, || true), refused);
        assert_eq!(sync_permits(&cfg, &same, || true), Ok(()));
        assert_eq!(sync_permits(&cfg, &elsewhere, || true), Ok(()));
        assert_eq!(sync_permits(&cfg, &mixed, || false), Ok(()));
        assert_eq!(
            AdmError::InvalidOperation.to_string() + "\n",
            EINVAL,
            "ipvsadm's message for EINVAL"
        );
        // `-R` puts each line to the same check, the service of an earlier
        // line counting: only the IPv6 server's line is refused.
        let mut restored = crate::config::Config::new();
        let rules = "-A -t 198.18.0.112:80 -s rr\n\
                     -a -t 198.18.0.112:80 -r [2001:2:0:2::2]:80 -i\n\
                     -a -t 198.18.0.112:80 -r 198.19.0.2:80 -i\n";
        let errors = crate::config::ipvsadm::restore_checked(
            &mut restored,
            rules,
            &crate::config::names::Names::none(),
            &mut |_, _, _| {},
            &mut |cfg, cmd| sync_permits(cfg, cmd, || true),
        )
        .unwrap();
        assert_eq!(errors, [format!("line 2: {}", EINVAL.trim_end())]);
        assert_eq!(restored.services()[0].dests.len(), 1);
        // No daemon runs: `adm` takes it.
        let r = adm(&c, "-a -t 198.18.0.110:80 -r [2001:2:0:2::2]:80 -i");
        assert_eq!(r.code, 0, "{}", r.err);
        let dests = c.adm.lock().unwrap().cfg.services()[0].dests.len();
        assert_eq!(dests, 1);
    }
}
