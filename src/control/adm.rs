//! The configuration and the commands that read or change it: `ringvs adm`
//! (ipvsadm's command line), `-R` restore, `-L` listings, loading a rules file
//! at start, and publishing the configuration to the data plane after every
//! change (less the servers health checks hold down).

use super::rates::Estimator;
use super::{Ctl, RunError};
use crate::config::format::{self, Live};
use crate::config::ipvsadm::{self, AdmCommand, ListOpts};
use crate::config::names::Names;
use crate::config::{AdmError, Config, DestId, ServiceKey};
use crate::nat::{ConnInfo, Snapshot, State, Timeouts};
use crate::proto::Response;
use crate::stats::DestStats;
use std::net::IpAddr;
use std::sync::Arc;

/// The most a restore's `-L` and `-S` lines print, all told (a request's
/// own bound: a file of `-L -c` lines would otherwise ask for its size
/// times the connection table's).
pub(super) const MAX_RESTORE_OUTPUT: usize = crate::proto::MAX_REQUEST;

/// The workers' connections, and how many workers did not answer
/// ([`Ctl::connections_for`]).
type Conns = (Vec<ConnInfo>, usize);

/// The configuration as the control thread keeps it.
pub(super) struct AdmState {
    pub(super) cfg: Config,
    pub(super) timeouts: Timeouts,
}

/// The real servers (and sorry servers) of every service, or of `only`.
pub(super) fn dest_ids(cfg: &Config, only: Option<&ServiceKey>) -> Vec<DestId> {
    cfg.services()
        .iter()
        .filter(|s| only.is_none_or(|k| s.key == *k))
        .flat_map(|s| s.dests_and_sorry().map(|d| d.id))
        .collect()
}

/// The warning of a connection listing that left out `missing` of `workers`
/// workers (they sent nothing within `CONNS_WAIT`): the listing is shown all
/// the same, and its reader told it is partial.
fn left_out(missing: usize, workers: usize) -> String {
    format!(
        "ringvs: the connections of {missing} of {workers} worker(s) are not listed: \
         no answer within {} s (a stopped or overloaded worker; try again)\n",
        super::CONNS_WAIT.as_secs()
    )
}

/// Every service's virtual address (VIP), as configured: the ones announced
/// (gratuitous ARP for IPv4, an unsolicited neighbor advertisement for IPv6).
/// A firewall-mark service's are the single addresses of its `--mark-dest`
/// rules (a prefix is routed to the director, not announced).
pub(super) fn vips(cfg: &Config) -> Vec<IpAddr> {
    let mut v = Vec::new();
    for s in cfg.services() {
        if s.key.is_fwmark() {
            v.extend(s.marks.iter().filter(|m| m.is_host()).map(|m| m.net));
        } else {
            v.push(s.key.addr);
        }
    }
    v
}

/// Load an `ipvsadm -S` rules file into `cfg`, each line as `adm -R`
/// applies it ([`ipvsadm::apply_line`]); its `--set` lines go to
/// `timeouts`.
pub fn load_rules(
    cfg: &mut Config,
    timeouts: &mut Timeouts,
    path: &std::path::Path,
) -> Result<(), RunError> {
    let err = |e: String| RunError::Rules {
        path: path.display().to_string(),
        err: e,
    };
    let bytes = crate::config::read_bounded(path, crate::proto::MAX_REQUEST as u64).map_err(err)?;
    let text = String::from_utf8(bytes).map_err(|_| err("not UTF-8 text".into()))?;
    let names = Names::system();
    // Every line is checked before any is applied, as it was when the
    // whole file was parsed first; then each is parsed again as it is
    // applied, so that no command is kept for every line.
    ipvsadm::check_rules(&text, &names, &mut |_| {}).map_err(|e| err(e.to_string()))?;
    for c in ipvsadm::rule_commands(&text, &names) {
        let (line, cmd) = c.map_err(|e| err(e.to_string()))?;
        if let AdmCommand::SetTimeout { tcp, tcpfin, udp } = cmd {
            timeouts.set(tcp, tcpfin, udp);
        }
        ipvsadm::apply_line(cfg, &cmd).map_err(|e| err(format!("line {line}: {e}")))?;
    }
    Ok(())
}

/// Say on stderr when a sorry server comes into the table `run` or leaves it,
/// against the snapshot `prev` the workers run now (as keepalived logs
/// `Adding sorry server` and `Removing sorry server`).
fn log_sorry_servers(rules: &Config, run: &Config, prev: &Snapshot) {
    let names = Names::none();
    for s in rules.services() {
        let Some(sorry) = s.sorry else { continue };
        let serving = |d: &crate::config::Dest| d.id == sorry.id && d.weight > 0;
        let now = run
            .service(&s.key)
            .is_some_and(|x| x.dests.iter().any(serving));
        let v4 = prev.services.values().flat_map(|e| e.dests.iter());
        let v6 = prev.services6.values().flat_map(|e| e.entry.dests.iter());
        let was = v4.chain(v6).any(|d| d.id == sorry.id && d.weight > 0);
        if now != was {
            let at = names.addr_port(sorry.addr, sorry.port, None, true);
            let how = if now {
                "IN (quorum lost)"
            } else {
                "OUT (quorum back)"
            };
            crate::log!("ringvs: health: sorry server {at} {how} in {}", s.key);
        }
    }
}

/// Whether the listing `o` shows anything of the rules: `-L -c` shows the
/// workers' connections only, `--daemon` the sync daemons.
fn shows_rules(o: &ListOpts) -> bool {
    !(o.connections || o.daemon)
}

impl Ctl {
    /// Publishes the configuration as the data plane should run it: the rules
    /// less the servers health checks hold down. A standby runs no checks
    /// and forwards nothing: it publishes every server of the rules, so
    /// that the connections a sync master sends for any of them are
    /// installed (`ip_vs_proc_conn` installs one whatever its server's
    /// state); made active, it publishes again with the checks' holds
    /// (an `alpha` server's until its first check passes), and a held
    /// server's connections wait for it rather than being lost.
    pub(super) fn publish(&self, st: &mut AdmState) {
        self.publish_as(st, self.shared.ha.standby());
    }

    /// [`Ctl::publish`] for the role `standby`, whatever the director's is
    /// now (a director becoming active publishes the holds before its
    /// workers run active).
    pub(super) fn publish_as(&self, st: &mut AdmState, standby: bool) {
        self.count_fresh(&mut st.cfg);
        self.health
            .set_targets(crate::health::targets(&st.cfg), &st.cfg);
        // Read together, as the health thread sets them: a server back
        // since the last publish is up in `down` and raised here at once.
        let (down, raised) = self.health.down_and_raised();
        for id in raised {
            st.cfg.raise_dest(id);
        }
        // The quorum's bounds are the configured weights, the weights up
        // those the checks set; the rules run at those weights. The quorum
        // follows the checks' verdicts whatever the role (a standby's stay
        // as they were: it runs no checks), as keepalived's checker process
        // knows nothing of VRRP: a role change alone neither gains nor
        // loses a quorum, nor runs a quorum script (`update_quorum_state`,
        // `check/ipwrapper.c`).
        let (lost, cfg) = self.health.weigh(&st.cfg, &down);
        let run = if standby {
            let none = std::collections::HashMap::new();
            crate::health::effective(&cfg, &none, &Default::default(), false)
        } else {
            crate::health::effective(&cfg, &down, &lost, false)
        };
        // Every publish happens under the configuration lock, so the snapshot
        // loaded here is the one this publish replaces: services keep their
        // scheduler state and servers their last weight across it.
        let prev = self.shared.config.load_full();
        if !standby {
            log_sorry_servers(&st.cfg, &run, &prev);
        }
        let mut snap = Snapshot::build_from(&run, st.timeouts, Some(&prev));
        // The thresholds of every server the rules keep, a server a check
        // took out and a removed one in the trash too: their connections
        // still bind and unbind by them, as the kernel's dest keeps its own.
        snap.limits = crate::nat::overload_limits(&st.cfg);
        crate::nat::overload_cleared(&prev.limits, &snap.limits, |i| {
            self.shared.overload[i % crate::stats::MAX_DESTS]
                .store(0, std::sync::atomic::Ordering::Relaxed);
        });
        self.shared.config.store(Arc::new(snap));
        // The servers removed since the last publish are gone from the
        // rules of this epoch on (the trash's early reuse waits for every
        // worker to have loaded it).
        let e = self.shared.bump();
        st.cfg.published(e);
    }

    /// Servers given an id new since the last publish (not one taken back
    /// from the trash) count from 0: what an earlier server of the id (the
    /// trash freed it, or the ids wrapped) left in the workers' counters is
    /// their baseline (`born`), and its `-Z` point and rates go.
    fn count_fresh(&self, cfg: &mut Config) {
        let fresh = cfg.take_fresh_ids();
        if let Ok(mut born) = self.born.lock() {
            born.retain(|id, _| cfg.keeps_id(*id));
            for &id in &fresh {
                let s = self.worker_stats(id);
                if s == DestStats::default() {
                    born.remove(&id);
                } else {
                    born.insert(id, s);
                }
            }
        }
        if let Ok(mut z) = self.zero.lock() {
            z.retain(|id, _| !fresh.contains(id));
        }
        if let Ok(mut e) = self.est.lock() {
            e.restart(&fresh);
        }
    }

    /// One pass of the trash's timer at `now` (seconds on the control
    /// thread's clock; `Config::sweep_trash`): the removed servers nothing
    /// of the workers names any more (`Shared::held`) are freed once idle
    /// for the trash's period, and their baselines go with them. Returns
    /// the ids freed.
    pub(super) fn sweep_trash(&self, now: u64) -> Vec<DestId> {
        let Ok(mut st) = self.adm.lock() else {
            return Vec::new();
        };
        let ids = st.cfg.trashed_ids();
        if ids.is_empty() {
            return ids;
        }
        // The workers' epochs before what they hold: a worker past the
        // epoch that dropped an id made no connection to it after this.
        let loaded = self.shared.loaded_by_all();
        let held = self.shared.held(&self.published, &ids);
        let freed = st.cfg.sweep_trash(now, loaded, |id| held.contains(&id));
        if !freed.is_empty() {
            if let Ok(mut z) = self.zero.lock() {
                z.retain(|id, _| st.cfg.keeps_id(*id));
            }
            if let Ok(mut b) = self.born.lock() {
                b.retain(|id, _| st.cfg.keeps_id(*id));
            }
        }
        freed
    }

    /// After a change: publish, announce new VIPs, forget zero baselines of
    /// real servers that are gone.
    pub(super) fn changed(&self, st: &mut AdmState, before: &[IpAddr]) {
        self.publish(st);
        for v in vips(&st.cfg) {
            if !before.contains(&v) {
                let _ = self.garp_tx.try_send(v);
            }
        }
        // A removed server's id kept for it (the config's trash) keeps its
        // baseline too: `-a` gives it back with its counters, and IPVS's
        // dest comes back from its trash with its `-Z` point.
        if let Ok(mut z) = self.zero.lock() {
            z.retain(|id, _| st.cfg.keeps_id(*id));
        }
    }

    /// `-L`. What the listing shows of the rules is copied under the
    /// configuration's lock, and sorted and formatted after it is let go: a
    /// listing of a million connections takes seconds to format, and the
    /// neighbour loop, the health thread's republish and the metrics wait
    /// for the same lock. `-L -c` and `--daemon` show nothing of the rules
    /// and do not take it at all.
    fn list(&self, o: &ListOpts, names: &Names) -> Response {
        // Ask the workers before taking the lock: it may take a while.
        let conns = self.connections_for([o]);
        let (cfg, timeouts) = if shows_rules(o) {
            let Ok(st) = self.adm.lock() else {
                return Response::fail(1, "internal error: configuration lock poisoned");
            };
            (self.shown(&st.cfg), st.timeouts)
        } else {
            (Config::new(), Timeouts::default())
        };
        match self.list_shown(&cfg, &timeouts, o, names, &conns) {
            Ok((text, warn)) => Response {
                err: warn,
                ..Response::ok(text)
            },
            // ipvsadm's list_service ends with exit(1) here, not the -1 (255)
            // of a failed change.
            Err(e @ AdmError::NoSuchService) => Response::fail(1, e.to_string()),
            Err(e) => Response::fail(e.exit_code(), e.to_string()),
        }
    }

    /// The rules as `-L` shows them ([`Ctl::shown`]), copied under the
    /// configuration's lock, for the metrics page to format after it is
    /// let go, as `-L` does.
    pub(super) fn shown_rules(&self) -> Config {
        let st = self
            .adm
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.shown(&st.cfg)
    }

    /// The rules `cfg` as a listing shows them: servers held down by health
    /// checks with weight 0, at the weights the checks set.
    fn shown(&self, cfg: &Config) -> Config {
        let (down, lost) = (self.health.down(), self.health.lost());
        let cfg = self.health.reweigh(cfg);
        crate::health::effective(&cfg, &down, &lost, true)
    }

    /// The workers' connections if one of `lists` shows them (`-c`,
    /// `--persistent-conn`), and how many workers did not answer.
    fn connections_for<'a>(
        &self,
        lists: impl IntoIterator<Item = &'a ListOpts>,
    ) -> (Vec<ConnInfo>, usize) {
        if lists
            .into_iter()
            .any(|o| o.connections || o.persistent_conn)
        {
            self.connections()
        } else {
            (Vec::new(), 0)
        }
    }

    /// `-L` of the rules `cfg` (with the timeouts `t`), and of `conns`, the
    /// workers' connections ([`Ctl::connections_for`]): the listing, and a
    /// warning for standard error if it is partial.
    fn list_of(
        &self,
        cfg: &Config,
        t: &Timeouts,
        o: &ListOpts,
        names: &Names,
        conns: &(Vec<ConnInfo>, usize),
    ) -> Result<(String, String), AdmError> {
        if shows_rules(o) {
            self.list_shown(&self.shown(cfg), t, o, names, conns)
        } else {
            self.list_shown(&Config::new(), t, o, names, conns)
        }
    }

    /// [`Ctl::list_of`] of rules as shown already ([`Ctl::shown`]).
    fn list_shown(
        &self,
        shown: &Config,
        t: &Timeouts,
        o: &ListOpts,
        names: &Names,
        (conns, missing): &(Vec<ConnInfo>, usize),
    ) -> Result<(String, String), AdmError> {
        if o.daemon {
            return Ok((self.daemon_lines(), String::new()));
        }
        let zero = self.zero.lock().map(|z| z.clone()).unwrap_or_default();
        // Only a listing of the rules' rates reads the estimator, and a copy
        // of its rates: a publish (`count_fresh`) and `-Z` take its lock
        // under the configuration's, so a listing formatting with it held
        // would stall them, and the neighbour loop behind them.
        let est = if o.rate && shows_rules(o) {
            self.est.lock().map(|e| e.rates_only()).unwrap_or_default()
        } else {
            Estimator::default()
        };
        let live = Live {
            gauges: &|d| self.counts(d),
            stats: &|d| self.stats_since_zero(d, &zero),
            rates: &|ids| est.rates(ids),
            conns,
            timeouts: [
                t.secs(State::Established),
                t.secs(State::FinWait),
                t.secs(State::Udp),
            ],
        };
        #[cfg(test)]
        tests::LOCKS_FREE_WHILE_LISTING.with(|p| {
            let free = (self.adm.try_lock().is_ok(), self.est.try_lock().is_ok());
            p.set(Some(free));
        });
        let text = format::format_list(shown, o, &live, names)?;
        // A partial listing is still shown, and said to be partial.
        let warn = if *missing > 0 && (o.connections || o.persistent_conn) {
            left_out(*missing, self.published.len())
        } else {
            String::new()
        };
        Ok((text, warn))
    }

    pub(super) fn adm(&self, argv: &[String]) -> Response {
        let names = Names::system();
        let cmd = match ipvsadm::parse_with(argv, &names) {
            Ok(c) => c,
            Err(AdmError::Help(text)) => return Response::ok(text),
            Err(e) => return Response::fail(e.exit_code(), e.to_string()),
        };
        if let AdmCommand::List(o) = &cmd {
            return self.list(o, &names);
        }
        let Ok(mut st) = self.adm.lock() else {
            return Response::fail(1, "internal error: configuration lock poisoned");
        };
        match cmd {
            AdmCommand::Save { numeric } => {
                Response::ok(format::format_save(&st.cfg, numeric, &names))
            }
            AdmCommand::Restore => Response::fail(
                2,
                "-R needs the rules on standard input (ringvs adm -R < FILE)",
            ),
            AdmCommand::Zero { service } => {
                if let Err(e) = ipvsadm::apply(&mut st.cfg, &cmd) {
                    return Response::fail(e.exit_code(), e.to_string());
                }
                self.zero_ids(dest_ids(&st.cfg, service.as_ref()));
                if service.is_none() {
                    self.zero_total();
                }
                Response::ok(String::new())
            }
            AdmCommand::SetRole { standby } => {
                self.set_role_published(&mut st, standby);
                Response::ok(String::new())
            }
            AdmCommand::StartDaemon(o) => self.start_daemon(&o, &st.cfg),
            AdmCommand::StopDaemon { role } => self.stop_daemon(role),
            AdmCommand::SetTimeout { tcp, tcpfin, udp } => {
                st.timeouts.set(tcp, tcpfin, udp);
                self.publish(&mut st);
                Response::ok(String::new())
            }
            _ => {
                let before: Vec<IpAddr> = vips(&st.cfg);
                if let Err(e) = self
                    .sync_permits(&st.cfg, &cmd)
                    .and_then(|()| ipvsadm::apply(&mut st.cfg, &cmd))
                {
                    return Response::fail(e.exit_code(), e.to_string());
                }
                self.changed(&mut st, &before);
                Response::ok(String::new())
            }
        }
    }

    /// `-Z`: the counters of these real servers start again from 0, from
    /// their values now (the kernel's `ip_vs_zero_stats`, `ip_vs_ctl.c`,
    /// takes as zero point `kstats`, the sums of the estimator's last tick,
    /// which is also all its listings show: ringvs's listings show the live
    /// counters, and zero them at the live value, `docs/ipvsadm.md`), and
    /// their rates from 0 ([`Estimator::zero`]).
    fn zero_ids(&self, ids: Vec<DestId>) {
        if let Ok(mut z) = self.zero.lock() {
            z.extend(ids.iter().map(|&id| (id, self.raw_stats(id))));
        }
        if let Ok(mut e) = self.est.lock() {
            e.zero(&ids);
        }
    }

    /// `ipvsadm -R`: see [`ipvsadm::restore`]. The lines are parsed before
    /// the configuration's lock is taken. A `-L` or `-S` line prints the
    /// table as the lines before it left it, as ipvsadm's `restore_table`
    /// runs each line through `process_options` (whose `list_all` prints);
    /// a listing refused (`-L -t` of no such service) is that line's error,
    /// where ipvsadm's `list_service` ends the whole restore (`exit(1)`).
    pub(super) fn restore(&self, rules: &str) -> Response {
        self.restore_with(rules, &|lists| self.connections_for(lists))
    }

    /// [`Ctl::restore`] of the workers' connections as `conns_for` gives
    /// them for the listings that show them ([`Ctl::connections_for`]).
    fn restore_with(&self, rules: &str, conns_for: &dyn Fn(&[ListOpts]) -> Conns) -> Response {
        let names = Names::system();
        // The syntax pass keeps no command (each line is parsed again as it
        // is applied): a request of 8 MiB of `-C` lines costs about its own
        // size, not a command of the largest kind for each of its lines.
        let mut conn_lists = Vec::new();
        let checked = ipvsadm::check_rules(rules, &names, &mut |c| {
            if let AdmCommand::List(o) = c
                && (o.connections || o.persistent_conn)
                && conn_lists.is_empty()
            {
                conn_lists.push(*o);
            }
        });
        if let Err(e) = checked {
            return Response::fail(e.exit_code(), e.to_string());
        }
        let conns = conns_for(&conn_lists);
        let Ok(mut guard) = self.adm.lock() else {
            return Response::fail(1, "internal error: configuration lock poisoned");
        };
        let st = &mut *guard;
        let before: Vec<IpAddr> = vips(&st.cfg);
        let timeouts = std::cell::Cell::new(st.timeouts);
        let mut set = |a, b, c| {
            let mut t = timeouts.get();
            t.set(a, b, c);
            timeouts.set(t);
        };
        // `-Z` lines zero as ipvsadm's do (`ipvs_zero_service`): the servers
        // the service has at that line, zeroed once the restore is through
        // (the counters are the workers', not the rules').
        let mut zeros = Vec::new();
        let mut zero_all = false;
        let (mut out, mut warn) = (String::new(), String::new());
        // The listings a restore prints are bounded as its request is: the
        // listing line that would take them past `MAX_RESTORE_OUTPUT` is
        // refused, and every listing line after it is skipped without being
        // made, counted in one message at the end (a message each would
        // cost many times the line). A listing at least `least` bytes long
        // (`-L -c`: its connections times the shortest line) is refused
        // before it is made when that cannot fit: a million connections
        // take seconds to sort and format, under the lock.
        let (full, mut skipped) = (std::cell::Cell::new(false), 0usize);
        let mut print =
            |least: usize, make: &mut dyn FnMut() -> Result<(String, String), AdmError>| {
                let fits =
                    |n: usize, out: &String| out.len().saturating_add(n) <= MAX_RESTORE_OUTPUT;
                if fits(least, &out) {
                    let (text, w) = make()?;
                    if fits(text.len(), &out) {
                        out.push_str(&text);
                        if !warn.contains(&w) {
                            warn.push_str(&w);
                        }
                        return Ok(());
                    }
                }
                full.set(true);
                Err(AdmError::Usage(format!(
                    "not listed: the listings of a restore may print at most {} MiB \
                 (list with `ringvs adm -L` on its own)",
                    MAX_RESTORE_OUTPUT >> 20
                )))
            };
        let mut permit = |cfg: &Config, cmd: &AdmCommand| {
            match cmd {
                AdmCommand::Zero { service }
                    if service.is_none_or(|k| cfg.service(&k).is_some()) =>
                {
                    zeros.extend(dest_ids(cfg, service.as_ref()));
                    zero_all |= service.is_none();
                }
                AdmCommand::List(_) | AdmCommand::Save { .. } if full.get() => skipped += 1,
                AdmCommand::List(o) => {
                    let least = if o.connections {
                        conns.0.len().saturating_mul(format::CONN_LINE_MIN)
                    } else {
                        0
                    };
                    print(least, &mut || {
                        self.list_of(cfg, &timeouts.get(), o, &names, &conns)
                    })?;
                }
                AdmCommand::Save { numeric } => {
                    print(0, &mut || {
                        Ok((format::format_save(cfg, *numeric, &names), String::new()))
                    })?;
                }
                _ => {}
            }
            self.sync_permits(cfg, cmd)
        };
        let restored = ipvsadm::restore_parsed(&mut st.cfg, rules, &names, &mut set, &mut permit);
        let mut errors = restored.errors;
        if skipped > 0 {
            errors.push(format!(
                "{skipped} later listing line(s) not listed either: the same limit"
            ));
        }
        st.timeouts = timeouts.get();
        self.zero_ids(zeros);
        if zero_all {
            self.zero_total();
        }
        self.changed(st, &before);
        // A line that no longer parses (a file it reads changed since the
        // check) is a syntax error, exit 2, and says what of the restore
        // applied: the lines before it.
        let code = match restored.stopped {
            Some(e) => {
                errors.push(format!(
                    "{e} (it parsed when the rules were checked, as a file it reads \
                     changed: the lines before it are applied, none after it)"
                ));
                2
            }
            None if errors.is_empty() => 0,
            None => 255,
        };
        let mut r = if code == 0 {
            Response::ok(out)
        } else {
            Response {
                out,
                ..Response::fail(code, errors.join("\n"))
            }
        };
        r.err.insert_str(0, &warn);
        r
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::control::test_ctl as ctl;
    use std::collections::HashMap;

    thread_local! {
        /// Whether the configuration's lock and the rate estimator's were
        /// free when a listing was last formatted on this thread (`None`:
        /// none was).
        pub(super) static LOCKS_FREE_WHILE_LISTING: std::cell::Cell<Option<(bool, bool)>> =
            const { std::cell::Cell::new(None) };
    }

    fn locks_free() -> Option<(bool, bool)> {
        LOCKS_FREE_WHILE_LISTING.with(|p| p.replace(None))
    }

    /// `-L` formats with the configuration's lock let go (the neighbour
    /// loop, the health republish and the metrics wait for it): the lock
    /// is free while the listing is made, for `-L -c`, which needs nothing
    /// of the rules, and for `-L -n`, which formats a copy of them. So is
    /// the rate estimator's, which a publish (`count_fresh`) and `-Z` take
    /// under the configuration's: `-L -c` does not read it, `--rate` reads
    /// a copy of its rates. (A restore's listing lines show the table as
    /// the lines before them left it, under the lock.)
    #[test]
    fn a_listing_is_formatted_without_the_configuration_lock() {
        let (c, _garp) = ctl(1);
        assert_eq!(adm(&c, "-A -t 198.18.0.110:80 -s rr").code, 0);
        assert_eq!(adm(&c, "-a -t 198.18.0.110:80 -r 198.19.0.2").code, 0);
        // 4096 connections in a second: 1024 a second, a quarter of the way.
        let id = c.adm.lock().unwrap().cfg.services()[0].dests[0].id;
        let at = |conns| {
            HashMap::from([(
                id,
                DestStats {
                    conns,
                    ..DestStats::default()
                },
            )])
        };
        c.est.lock().unwrap().sample(&at(0), 1.0);
        c.est.lock().unwrap().sample(&at(4096), 1.0);
        for list in [
            "-L -n -c",
            "-L -n",
            "-L -n --stats",
            "-L --timeout",
            "-L -n --rate",
        ] {
            let r = adm(&c, list);
            assert_eq!(r.code, 0, "{list}: {}", r.err);
            assert_eq!(locks_free(), Some((true, true)), "{list}");
        }
        assert!(adm(&c, "-L -n").out.contains("198.19.0.2:80"));
        let rate = adm(&c, "-L -n --rate").out;
        let row = rate.lines().find(|l| l.contains("198.19.0.2:80"));
        let cps = row.and_then(|l| l.split_whitespace().nth(2));
        assert_eq!(cps, Some("1024"), "{rate}");
        // In a restore the configuration's lock is held: the lines apply
        // under it.
        locks_free();
        assert_eq!(c.restore("-L -n\n").code, 0);
        assert_eq!(locks_free(), Some((false, true)));
    }

    /// A restore of listing lines is bounded: a file of 10000 `-L -n` over
    /// 100 services would print 24 MB (and a file of `-L -c` its size
    /// times the connection table's); its listings stop at
    /// `MAX_RESTORE_OUTPUT`, each line past it refused with a message that
    /// says why, the other lines still applied.
    #[test]
    fn the_listings_of_a_restore_are_bounded() {
        let (c, _garp) = ctl(1);
        let mut rules = String::new();
        for i in 0..100 {
            rules.push_str(&format!("-A -t 198.18.1.{i}:80 -s rr\n"));
        }
        let one = c.restore(&format!("{rules}-L -n\n"));
        assert_eq!(one.code, 0, "{}", one.err);
        let each = one.out.len();
        assert!(each > 2000, "{each}");
        let fit = MAX_RESTORE_OUTPUT / each;
        let (c, _garp) = ctl(1);
        let text = format!(
            "{rules}{}-A -t 198.18.2.1:80 -s rr\n",
            "-L -n\n".repeat(10_000)
        );
        let r = c.restore(&text);
        assert_eq!(r.code, 255);
        assert_eq!(r.out.len(), fit * each);
        assert!(r.out.len() <= MAX_RESTORE_OUTPUT);
        // The first line past the limit says why; the ones after it are
        // counted, not each given a message.
        let refused: Vec<&str> = r.err.lines().collect();
        assert_eq!(refused.len(), 2, "{}", r.err.len());
        assert_eq!(
            refused[0],
            format!(
                "line {}: not listed: the listings of a restore may print at most 8 MiB \
                 (list with `ringvs adm -L` on its own)",
                101 + fit
            )
        );
        assert_eq!(
            refused[1],
            format!(
                "{} later listing line(s) not listed either: the same limit",
                10_000 - fit - 1
            )
        );
        // The line after the listings applied.
        assert_eq!(adm(&c, "-L -n -t 198.18.2.1:80").code, 0);
    }

    /// A restore's `-L -c` line that cannot fit in what a restore may print
    /// (its connections times the shortest line a connection takes,
    /// `CONN_LINE_MIN`) is refused before the listing is made: it would be
    /// sorted and formatted under the configuration's lock, to be thrown
    /// away. One that fits is still listed.
    #[test]
    fn a_restore_refuses_a_connection_listing_too_big_before_making_it() {
        let (c, _garp) = ctl(1);
        let conn = ConnInfo {
            proto: 6,
            client: ([198, 18, 9, 1].into(), 1),
            vip: ([198, 18, 0, 110].into(), 80),
            dest: ([198, 19, 0, 2].into(), 80),
            state: State::Established,
            expires_in: 1,
            template: false,
            assured: false,
            pe: None,
        };
        let numeric = |list: &str| match ipvsadm::parse(&[list.to_string(), "-n".into()]) {
            Ok(AdmCommand::List(o)) => o,
            other => panic!("{other:?}"),
        };
        // No connection line is shorter than the bound (the shortest
        // destination, numeric, is longer than its `:`).
        let one =
            format::format_conns(std::slice::from_ref(&conn), &numeric("-Lc"), &Names::none());
        let line = one.lines().nth(2).unwrap_or_default();
        assert!(line.len() + 1 >= format::CONN_LINE_MIN, "{line:?}");
        let many = vec![conn.clone(); MAX_RESTORE_OUTPUT / format::CONN_LINE_MIN + 1];
        locks_free();
        let r = c.restore_with("-L -n -c\n-A -t 198.18.2.1:80 -s rr\n", &|_| {
            (many.clone(), 0)
        });
        assert_eq!(r.code, 255);
        assert_eq!(
            r.err,
            "line 1: not listed: the listings of a restore may print at most 8 MiB \
             (list with `ringvs adm -L` on its own)\n"
        );
        assert_eq!(r.out, "");
        assert_eq!(locks_free(), None, "the listing was not made");
        assert_eq!(adm(&c, "-L -n -t 198.18.2.1:80").code, 0);
        // Ten connections fit: listed, under the header.
        let r = c.restore_with("-L -n -c\n", &|_| (vec![conn.clone(); 10], 0));
        assert_eq!(r.code, 0, "{}", r.err);
        assert_eq!(r.out.lines().count(), 12, "{}", r.out);
        assert_eq!(r.out.lines().nth(2), Some(line));
    }

    /// A restore line whose `--check-cert` file changes between the check
    /// and the applying pass (here as the workers are asked for their
    /// connections, between the two) exits 2 at that line, saying the
    /// lines before it applied and none after it did.
    #[test]
    fn a_restore_line_that_no_longer_parses_exits_2_where_it_stopped() {
        let (c, _garp) = ctl(1);
        let tls = |f: &str| format!("{}/tests/data/tls/{f}", env!("CARGO_MANIFEST_DIR"));
        let cert = std::env::temp_dir().join(format!("ringvs-adm-{}.crt", std::process::id()));
        std::fs::copy(tls("client.crt"), &cert).unwrap();
        let rules = format!(
            "-A -t 198.18.0.110:443 -s rr\n\
             -A -t 198.18.0.111:443 -s rr --check https --check-cert {} --check-key {}\n\
             -A -t 198.18.0.112:443 -s rr\n",
            cert.display(),
            tls("client.key")
        );
        let r = c.restore_with(&rules, &|_| {
            let _ = std::fs::write(&cert, "not a certificate\n");
            (Vec::new(), 0)
        });
        let _ = std::fs::remove_file(&cert);
        assert_eq!(r.code, 2, "{}", r.err);
        assert!(r.err.starts_with("line 2: "), "{}", r.err);
        assert!(
            r.err.ends_with(
                " (it parsed when the rules were checked, as a file it reads changed: \
                 the lines before it are applied, none after it)\n"
            ),
            "{}",
            r.err
        );
        assert_eq!(adm(&c, "-S -n").out, "-A -t 198.18.0.110:443 -s rr\n");
        // What applied is published.
        assert_eq!(c.shared.config.load().services.len(), 1);
    }

    fn adm(c: &Ctl, line: &str) -> Response {
        let argv: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        c.adm(&argv)
    }

    /// A publish clears a server's overload flag as `__ip_vs_update_dest`
    /// (`ip_vs_ctl.c`) clears `IP_VS_DEST_F_OVERLOAD`: when its `-x` is set
    /// to 0 or raised, not when it stays or is lowered; and a removed
    /// server keeps its flag and its thresholds (the kernel's trashed dest
    /// keeps both), which the workers' unbinds go on using.
    #[test]
    fn a_publish_clears_the_overload_flag_as_the_kernels_update() {
        use std::sync::atomic::Ordering::Relaxed;
        let (c, _garp) = ctl(1);
        let rs = "-t 198.18.0.110:80 -r 198.19.0.2";
        assert_eq!(adm(&c, "-A -t 198.18.0.110:80 -s rr").code, 0);
        assert_eq!(adm(&c, &format!("-a {rs} -x 4")).code, 0);
        let id = c
            .shared
            .config
            .load()
            .services
            .values()
            .next()
            .unwrap()
            .dests[0]
            .id;
        let flag = &c.shared.overload[id.0 as usize];
        let edit = |x: u32, set: u32| {
            flag.store(set, Relaxed);
            assert_eq!(adm(&c, &format!("-e {rs} -x {x}")).code, 0);
            flag.load(Relaxed)
        };
        // A worker's bind set it at 4: the same -x, or a lower one, keeps it.
        assert_eq!(edit(4, 4), 4);
        assert_eq!(edit(2, 4), 4);
        // Raised or cleared, it goes.
        assert_eq!(edit(8, 2), 0);
        assert_eq!(edit(0, 8), 0);
        assert_eq!(edit(4, 0), 0);
        // A worker still on the rules before -x 0 set it again (no rule
        // reads it while -x is 0): -x 4 clears it, as raised from 0.
        assert_eq!(adm(&c, &format!("-e {rs} -x 0")).code, 0);
        assert_eq!(edit(4, 4), 0);
        // Removed, the server keeps both; added again with its -x, its flag.
        flag.store(4, Relaxed);
        assert_eq!(adm(&c, &format!("-d {rs}")).code, 0);
        assert_eq!(
            c.shared.config.load().limits.get(id.0 as usize),
            Some(&(4, 0))
        );
        assert_eq!(flag.load(Relaxed), 4);
        assert_eq!(adm(&c, &format!("-a {rs} -x 4")).code, 0);
        assert_eq!(flag.load(Relaxed), 4);
    }

    #[test]
    fn a_listing_that_leaves_workers_out_says_so() {
        // No worker threads behind these two: neither answers the listing.
        let (c, _garp) = ctl(2);
        assert_eq!(adm(&c, "-A -t 198.18.0.110:80 -s rr").code, 0);
        let r = adm(&c, "-L -n -c");
        assert_eq!(r.code, 0, "{}", r.err);
        assert!(r.out.contains("IPVS connection entries"), "{}", r.out);
        assert!(
            r.err
                .contains("the connections of 2 of 2 worker(s) are not listed"),
            "{}",
            r.err
        );
        // Nothing asked of the workers, nothing to warn about.
        assert_eq!(adm(&c, "-L -n").err, "");
    }

    #[test]
    fn adm_commands_timeouts_zero_and_restore() {
        let (c, garp) = ctl(2);
        assert_eq!(adm(&c, "-A -t 198.18.0.110:80 -s wlc -p").code, 0);
        assert_eq!(garp.try_recv().ok(), Some(IpAddr::from([198, 18, 0, 110])));
        assert_eq!(adm(&c, "-a -t 198.18.0.110:80 -r 198.19.0.2 -x 10").code, 0);
        let r = adm(&c, "-A -t 198.18.0.110:80 -s rr");
        assert_eq!((r.code, r.err.as_str()), (255, "Service already exists\n"));
        assert_eq!(adm(&c, "--set 100 0 30").code, 0);
        assert_eq!(
            adm(&c, "-L --timeout").out,
            "Timeout (tcp tcpfin udp): 100 120 30\n"
        );
        assert_eq!(adm(&c, "-Z").code, 0);
        assert_eq!(adm(&c, "-Z -t 198.18.0.110:80").code, 0);
        let r = adm(&c, "-Z -t 198.18.0.110:81");
        assert_eq!((r.code, r.err.as_str()), (255, "No such service\n"));
        let r = adm(&c, "-L -n -t 198.18.0.110:81");
        assert_eq!((r.code, r.err.as_str()), (1, "No such service\n"));
        // No worker answers for connections (the stub): only the header.
        assert_eq!(
            adm(&c, "-L -n -c").out,
            "IPVS connection entries\npro expire state       source             virtual            destination\n"
        );
        let saved = adm(&c, "-S -n").out;
        assert_eq!(
            saved,
            "-A -t 198.18.0.110:80 -s wlc -p 360\n-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m -w 1 -x 10 -y 0\n"
        );
        assert_eq!(adm(&c, "-C").code, 0);
        assert_eq!(adm(&c, "-S -n").out, "");
        let r = c.restore(&saved);
        assert_eq!(r.code, 0, "{}", r.err);
        assert_eq!(adm(&c, "-S -n").out, saved);
        let r = c.restore(&saved);
        assert_eq!(
            (r.code, r.err.as_str()),
            (
                255,
                "line 1: Service already exists\nline 2: Destination already exists\n"
            )
        );
        let r = c.restore("-A -t 198.18.0.111:80 -s rr\n-A -t x\n");
        assert_eq!(r.code, 2);
        assert_eq!(
            adm(&c, "-S -n").out,
            saved,
            "a syntax error changes nothing"
        );
        let r = adm(&c, "-R");
        assert_eq!(r.code, 2);
        // An unknown scheduler is the kernel's to refuse (`ip_vs_add_service`,
        // ENOENT): that line's error; the others apply, as `restore_table`.
        // Exit 255 though the last line applied: a deliberate difference
        // (docs/ipvsadm.md), ipvsadm's `restore_table` returning the last
        // line's result alone (0 here).
        assert_eq!(adm(&c, "-C").code, 0);
        let r = c.restore(
            "-A -t 198.18.5.5:80 -s rr\n-A -t 198.18.6.6:80 -s nosuch\n-A -t 198.18.7.7:80 -s rr\n",
        );
        assert_eq!(
            (r.code, r.err.as_str()),
            (255, "line 2: Scheduler or persistence engine not found\n")
        );
        assert_eq!(
            adm(&c, "-S -n").out,
            "-A -t 198.18.5.5:80 -s rr\n-A -t 198.18.7.7:80 -s rr\n"
        );
    }

    /// `-L` and `-S` lines of a restore print the table as the lines before
    /// them left it, as ipvsadm's `restore_table` runs each line through
    /// `process_options`; a listing of no such service is its line's error.
    #[test]
    fn listing_lines_of_a_restore_print_the_table_so_far() {
        let (c, _garp) = ctl(2);
        let r = c.restore(
            "-A -t 198.18.0.110:80 -s rr\n\
             -S -n\n\
             -a -t 198.18.0.110:80 -r 198.19.0.2:80 -m\n\
             --set 100 0 30\n\
             -L -n\n\
             -L --timeout\n\
             -L -n -t 198.18.0.111:80\n\
             -L -n -c\n",
        );
        assert_eq!(r.code, 255, "{}", r.err);
        assert_eq!(
            r.out,
            "-A -t 198.18.0.110:80 -s rr\n\
             IP Virtual Server version 1.2.1 (size=4096)\n\
             Prot LocalAddress:Port Scheduler Flags\n  \
             -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
             TCP  198.18.0.110:80 rr\n  \
             -> 198.19.0.2:80                Masq    1      0          0         \n\
             Timeout (tcp tcpfin udp): 100 120 30\n\
             IPVS connection entries\n\
             pro expire state       source             virtual            destination\n"
        );
        // The connection listing asked the workers (none answer here).
        assert_eq!(r.err.matches("2 of 2 worker(s) are not listed").count(), 1);
        assert!(r.err.ends_with("\nline 7: No such service\n"), "{}", r.err);
        // The lines around the refused one applied.
        assert_eq!(
            adm(&c, "-L --timeout").out,
            "Timeout (tcp tcpfin udp): 100 120 30\n"
        );
        assert_eq!(adm(&c, "-S -n").out.lines().count(), 2);
    }

    /// `-L --nosort` after a check held a server down and let it back:
    /// removed (no `inhibit_on_failure`), it comes back at the head of its
    /// service's list, as keepalived adds it to IPVS again
    /// (`perform_svr_state`, `LVS_CMD_ADD_DEST`; `__ip_vs_update_dest`
    /// adds at the head); inhibited, it only had weight 0
    /// (`LVS_CMD_EDIT_DEST`) and keeps its place.
    #[test]
    fn a_server_back_from_a_removal_is_listed_first_with_nosort() {
        let (c, _garp) = ctl(1);
        assert_eq!(adm(&c, "-A -t 198.18.0.110:80 -s rr").code, 0);
        for rs in ["198.19.0.2", "198.19.0.3", "198.19.0.4"] {
            let r = adm(&c, &format!("-a -t 198.18.0.110:80 -r {rs} -m"));
            assert_eq!(r.code, 0, "{}", r.err);
        }
        let id = |ip: [u8; 4]| {
            let st = c.adm.lock().unwrap();
            let s = st.cfg.services()[0].dests.iter();
            s.into_iter()
                .find(|d| d.addr == IpAddr::from(ip))
                .unwrap()
                .id
        };
        let (a, b) = (id([198, 19, 0, 2]), id([198, 19, 0, 3]));
        let listing = |order: &[(u8, u8)]| {
            let mut v = "IP Virtual Server version 1.2.1 (size=4096)\n\
                 Prot LocalAddress:Port Scheduler Flags\n  \
                 -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
                 TCP  198.18.0.110:80 rr\n"
                .to_string();
            for &(n, w) in order {
                let at = format!("198.19.0.{n}:80");
                v += &format!("  -> {at:<28} Masq    {w:<6} 0          0         \n");
            }
            v
        };
        let list = |c: &Ctl| adm(c, "-L -n --nosort").out;
        let publish = |c: &Ctl| c.publish(&mut c.adm.lock().unwrap());
        assert_eq!(list(&c), listing(&[(4, 1), (3, 1), (2, 1)]));
        // Inhibited: weight 0 in its place, and there again once back.
        assert!(c.health.hold(HashMap::from([(b, true)])));
        publish(&c);
        assert_eq!(list(&c), listing(&[(4, 1), (3, 0), (2, 1)]));
        assert!(c.health.hold(HashMap::new()));
        publish(&c);
        assert_eq!(list(&c), listing(&[(4, 1), (3, 1), (2, 1)]));
        // Removed: listed in its place with weight 0 while down, first
        // once back; the data plane's rules have it newest too.
        assert!(c.health.hold(HashMap::from([(a, false)])));
        publish(&c);
        assert_eq!(list(&c), listing(&[(4, 1), (3, 1), (2, 0)]));
        assert!(c.health.hold(HashMap::new()));
        publish(&c);
        assert_eq!(list(&c), listing(&[(2, 1), (4, 1), (3, 1)]));
        let snap = c.shared.config.load();
        let run = snap.services.values().next().unwrap().dests.iter();
        let run: Vec<DestId> = run.map(|d| d.id).collect();
        // The workers' rules keep servers oldest first: it is the newest.
        assert_eq!(run.last(), Some(&a), "the workers' order: {run:?}");
        // Sorted, the listing is as before.
        let sorted = adm(&c, "-L -n").out;
        assert_eq!(sorted, listing(&[(2, 1), (3, 1), (4, 1)]));
        // A server added after it is newer still.
        assert_eq!(adm(&c, "-a -t 198.18.0.110:80 -r 198.19.0.5 -m").code, 0);
        let all = [(5, 1), (2, 1), (4, 1), (3, 1)];
        assert_eq!(list(&c), listing(&all));
    }

    /// A publish weighs the quorum against the configured weights, the
    /// servers up counting at the weights their checks set, as keepalived's
    /// `validate_check_config` (`check/check_data.c`) caps `vs->quorum`
    /// once by the configured weights and `update_svr_wgt`
    /// (`check/ipwrapper.c`) changes only `effective_weight`: quorum 8 over
    /// two servers of weight 5 set to 2 each (4 < 8) is lost and the sorry
    /// server alone serves; set to 5 and 4 (9), it is back, and the
    /// workers run the servers at those weights.
    #[test]
    fn a_publish_weighs_the_quorum_by_the_configured_weights() {
        use std::net::Ipv4Addr;
        let (c, _garp) = ctl(1);
        let vs = "-t 198.18.0.110:80";
        let r = adm(
            &c,
            &format!(
                "-A {vs} -s rr --check misc --misc-path /bin/true --misc-dynamic \
                 --sorry-server 198.19.0.9:8080 --quorum 8"
            ),
        );
        assert_eq!(r.code, 0, "{}", r.err);
        for rs in ["198.19.0.2", "198.19.0.3"] {
            let r = adm(&c, &format!("-a {vs} -r {rs} -m -w 5"));
            assert_eq!(r.code, 0, "{}", r.err);
        }
        let ids: Vec<DestId> = {
            let st = c.adm.lock().unwrap();
            st.cfg.services()[0].dests.iter().map(|d| d.id).collect()
        };
        let (a, b) = (ids[0], ids[1]);
        let publish = |c: &Ctl| c.publish(&mut c.adm.lock().unwrap());
        // The workers' rules: each server with its weight.
        let run = |c: &Ctl| {
            let snap = c.shared.config.load();
            let s = snap.services.values().next().unwrap();
            let mut v: Vec<(IpAddr, u16, u32)> = (s.dests.iter())
                .map(|d| (Ipv4Addr::from(d.addr).into(), d.port, d.weight))
                .collect();
            v.sort_unstable();
            v
        };
        let ip = |n: u8| IpAddr::from([198, 19, 0, n]);
        assert!(c.health.set_weights(HashMap::new()));
        publish(&c);
        assert_eq!(run(&c), [(ip(2), 80, 5), (ip(3), 80, 5)]);
        assert!(c.health.set_weights(HashMap::from([(a, 2), (b, 2)])));
        publish(&c);
        let sorry = [(ip(9), 8080, 1)];
        assert_eq!(run(&c), sorry, "4 < 8: the sorry server alone");
        assert!(c.health.set_weights(HashMap::from([(a, 5), (b, 4)])));
        publish(&c);
        assert_eq!(run(&c), [(ip(2), 80, 5), (ip(3), 80, 4)], "9: back");
    }

    /// Every VIP a change adds is announced, however many one `-R` adds:
    /// the queue to the announcer dropped those past 256 unseen.
    #[test]
    fn every_vip_a_restore_adds_is_announced() {
        let (c, garp) = ctl(1);
        let rules: String = (0..300)
            .map(|i| format!("-A -t 198.18.{}.{}:80 -s rr\n", 1 + i / 200, i % 200))
            .collect();
        assert_eq!(c.restore(&rules).code, 0);
        let mut got: Vec<IpAddr> = garp.try_iter().collect();
        got.sort_unstable();
        got.dedup();
        assert_eq!(got.len(), 300);
    }

    /// IPv6 rules through the control thread: changed, listed, saved and
    /// restored.
    #[test]
    fn adm_ipv6_rules() {
        let (c, garp) = ctl(1);
        assert_eq!(adm(&c, "-A -t [2001:2:0:1::110]:80 -s rr -p -M 64").code, 0);
        let vip: IpAddr = "2001:2:0:1::110".parse().unwrap();
        assert_eq!(
            garp.try_iter().collect::<Vec<_>>(),
            [vip],
            "announced by NDP"
        );
        assert_eq!(
            adm(&c, "-a -t [2001:2:0:1::110]:80 -r [2001:2:0:2::2]:8080 -m").code,
            0
        );
        let r = adm(&c, "-a -t [2001:2:0:1::110]:80 -r 198.19.0.2:80 -m");
        assert_eq!(
            (r.code, r.err.as_str()),
            (
                2,
                "Different address family is allowed only for tunneling servers\n"
            )
        );
        assert_eq!(
            adm(&c, "-L -n").out,
            "IP Virtual Server version 1.2.1 (size=4096)\n\
             Prot LocalAddress:Port Scheduler Flags\n\
             \x20 -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
             TCP  [2001:2:0:1::110]:80 rr persistent 360 mask 64\n\
             \x20 -> [2001:2:0:2::2]:8080         Masq    1      0          0         \n"
        );
        let saved = adm(&c, "-S -n").out;
        assert_eq!(
            saved,
            "-A -t [2001:2:0:1::110]:80 -s rr -p 360 -M 64\n\
             -a -t [2001:2:0:1::110]:80 -r [2001:2:0:2::2]:8080 -m -w 1\n"
        );
        let snap = c.shared.config.load_full();
        assert!(snap.services.is_empty());
        assert_eq!(snap.services6.len(), 1);
        assert_eq!(adm(&c, "-C").code, 0);
        assert_eq!(c.restore(&saved).code, 0);
        assert_eq!(adm(&c, "-S -n").out, saved);
        let r = adm(&c, "-L -n -t [2001:2:0:1::110]:81");
        assert_eq!((r.code, r.err.as_str()), (1, "No such service\n"));
    }

    /// A new IPv6 VIP is announced like an IPv4 one (an unsolicited
    /// neighbor advertisement), once, when its first service is added.
    #[test]
    fn new_ipv6_vips_are_announced() {
        let (c, garp) = ctl(1);
        assert_eq!(adm(&c, "-A -t [2001:2:0:1::110]:80 -s rr").code, 0);
        let vip: IpAddr = "2001:2:0:1::110".parse().unwrap();
        assert_eq!(garp.try_iter().collect::<Vec<_>>(), [vip]);
        assert_eq!(adm(&c, "-A -u [2001:2:0:1::110]:53 -s rr").code, 0);
        assert!(garp.try_recv().is_err(), "announced already");
    }

    /// `ringvs run --rules` loads a file saved by a kernel ipvsadm.
    #[test]
    fn kernel_ipvsadm_rules_file_loads() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden/kernel-ipvsadm-save.rules");
        let mut cfg = Config::new();
        let mut timeouts = Timeouts::default();
        load_rules(&mut cfg, &mut timeouts, &path).unwrap();
        assert_eq!((cfg.services().len(), cfg.dest_count()), (5, 8));
        let bad = std::env::temp_dir().join(format!("ringvs-bad-{}.rules", std::process::id()));
        std::fs::write(&bad, "-A -t 10.0.0.1:80 -s rr\n-A -t 10.0.0.1:80 -s rr\n").unwrap();
        let e = load_rules(&mut Config::new(), &mut timeouts, &bad)
            .unwrap_err()
            .to_string();
        let _ = std::fs::remove_file(&bad);
        assert!(e.ends_with("line 2: Service already exists"), "{e}");
    }

    /// `ringvs run --rules` loads a file an older `-S` wrote, whose server
    /// has a `--check-ip` its service has no `--check` for (it sent
    /// nothing): the server, without the address.
    #[test]
    fn an_older_rules_file_with_a_check_address_loads() {
        let path = std::env::temp_dir().join(format!("ringvs-old-{}.rules", std::process::id()));
        std::fs::write(
            &path,
            "-A -t 198.18.0.110:80 -s rr\n\
             -a -t 198.18.0.110:80 -r 198.19.0.2:80 -m -w 1 --check-ip 198.19.0.102\n",
        )
        .unwrap();
        let (mut cfg, mut timeouts) = (Config::new(), Timeouts::default());
        let r = load_rules(&mut cfg, &mut timeouts, &path);
        let _ = std::fs::remove_file(&path);
        r.unwrap();
        let d = &cfg.services()[0].dests;
        assert_eq!((d.len(), d[0].check_ip), (1, None));
    }

    /// `ringvs run --rules` reads at most a control request's worth of a file
    /// whatever size it claims (`/dev/zero` claims none), and refuses bytes
    /// that are not text.
    #[test]
    fn rules_files_are_read_within_bounds() {
        let mut timeouts = Timeouts::default();
        let e = load_rules(&mut Config::new(), &mut timeouts, "/dev/zero".as_ref())
            .unwrap_err()
            .to_string();
        assert!(
            e.ends_with(&format!("larger than {} bytes", crate::proto::MAX_REQUEST)),
            "{e}"
        );
        let bad = std::env::temp_dir().join(format!("ringvs-bin-{}.rules", std::process::id()));
        std::fs::write(&bad, b"-A -t 10.0.0.1:80 -s rr\n\xff\n").unwrap();
        let e = load_rules(&mut Config::new(), &mut timeouts, &bad)
            .unwrap_err()
            .to_string();
        let _ = std::fs::remove_file(&bad);
        assert!(e.ends_with("not UTF-8 text"), "{e}");
    }

    /// `ringvs run --rules` applies the file's `--set` line, as `adm -R` does.
    #[test]
    fn rules_file_sets_timeouts() {
        let path = std::env::temp_dir().join(format!("ringvs-set-{}.rules", std::process::id()));
        std::fs::write(&path, "--set 100 20 30\n-A -t 10.0.0.1:80 -s rr\n").unwrap();
        let (mut cfg, mut timeouts) = (Config::new(), Timeouts::default());
        let r = load_rules(&mut cfg, &mut timeouts, &path);
        let _ = std::fs::remove_file(&path);
        r.unwrap();
        let secs = |s| timeouts.secs(s);
        assert_eq!(
            (
                secs(State::Established),
                secs(State::FinWait),
                secs(State::Udp)
            ),
            (100, 20, 30)
        );
        assert_eq!(cfg.services().len(), 1);
    }
}
