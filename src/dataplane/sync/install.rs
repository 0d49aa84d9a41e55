//! The backup side of connection sync in a worker: installing what the
//! backup daemon resolved and queued for it ([`Install`]), once the
//! worker's own rules are known to be at least as new as those the daemon
//! resolved the entry against.
//!
//! The daemon resolves an entry against the rules published when its
//! message came; the worker holds the rules it loaded at the start of its
//! pass (`Core::refresh`). A publish can land between the two, either way:
//!
//! * the worker's rules newer: the server may be gone, its id another's
//!   since. The worker's rules decide, so the entry is refused
//!   (`sync_install_failed`), as a connection to the old address counted
//!   in the new server's gauges would be wrong;
//! * the worker's rules older (a server just added, its id unknown to
//!   them): the entry waits, and the entries queued behind it with it, for
//!   the worker's next load of the rules, then is tried once more
//!   (`sync_install_waited`). Only one entry per family waits, in the
//!   worker's lane, so this costs no allocation and keeps the entries in
//!   their order.
//!
//! The worker cannot compare epochs with the daemon (a publish stores the
//! rules before it moves the epoch), so it compares rules: when its own are
//! still the published ones they are at least as new as the daemon's (the
//! daemon loaded its rules before it queued the entry); when they are not,
//! a publish is under way and its epoch comes next, and whatever the
//! worker loads then is at least as new as the daemon's.

use super::super::family::{Family, names};
use super::super::worker::Core;
use super::{INSTALL_BUDGET, SyncEntry};
use crate::config::DestId;
use crate::nat::table::AddError;
use crate::nat::{Conn, FlowKey, Snapshot};
use crate::stats::Ctr;
use std::net::Ipv6Addr;
use std::sync::Arc;

/// A received entry resolved to the real server it goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Install<A = u32> {
    pub entry: SyncEntry<A>,
    pub dest: DestId,
    /// Who `dest` was in the rules the daemon resolved the entry against:
    /// the worker installs the entry only if its own rules still give the
    /// id to that server ([`Resolved`]).
    pub server: Resolved<A>,
    /// The entry has `IP_VS_CONN_F_OUT_SEQ` without the sequence option
    /// (`entry.out_seq` is then `None`): a known control connection keeps
    /// its FTP shift, as `ip_vs_proc_conn` (`ip_vs_sync.c`) replaces a
    /// connection's `in_seq`/`out_seq` only when the option came.
    pub keep_seq: bool,
}

/// A real server as the backup daemon found it for an entry: its service,
/// address and port as configured. The daemon's rules may be older than
/// the worker's, the server gone and its id another's since (no
/// `Shared::held` sees a queued install): the worker checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resolved<A = u32> {
    pub svc: (u8, A, u16),
    pub addr: A,
    pub port: u16,
}

impl Resolved<u32> {
    /// Whether real server `dest` of `snap` is the one this names: of the
    /// same service, at the same address and port. What a worker checks
    /// before it installs a connection, and the backup daemon before it
    /// installs a template.
    pub fn named_in(&self, snap: &Snapshot, dest: DestId) -> bool {
        names(snap, dest, self)
    }
}

impl Resolved<Ipv6Addr> {
    /// [`Resolved::named_in`] for an IPv6 server.
    pub fn named_in(&self, snap: &Snapshot, dest: DestId) -> bool {
        names(snap, dest, self)
    }
}

/// The install a family's lane holds back until the worker loads the rules
/// again: the worker's epoch when it was held back.
pub(super) struct Waiting<A> {
    install: Install<A>,
    epoch: u64,
}

impl Core {
    /// Install what the backup daemon queued for this worker, of both
    /// families, [`INSTALL_BUDGET`] per pass in all (the family that goes
    /// first alternates).
    pub(in crate::dataplane) fn sync_installs(&mut self) {
        let v6_first = self.sync.v6_first;
        self.sync.v6_first = !v6_first;
        if v6_first {
            let left = self.sync_installs_of::<Ipv6Addr>(INSTALL_BUDGET);
            self.sync_installs_of::<u32>(left);
        } else {
            let left = self.sync_installs_of::<u32>(INSTALL_BUDGET);
            self.sync_installs_of::<Ipv6Addr>(left);
        }
    }

    /// Install at most `budget` queued connections of the family, the one
    /// held back first once the worker loaded the rules again; returns
    /// what is left of the budget.
    fn sync_installs_of<A: Family>(&mut self, budget: usize) -> usize {
        if budget == 0 {
            return 0;
        }
        let mut left = budget;
        match A::lane(&self.sync).waiting.as_ref().map(|w| w.epoch) {
            // Not loaded yet: the queue waits behind it.
            Some(e) if e == self.snap.epoch => return budget,
            Some(_) => {
                if let Some(w) = A::lane_mut(&mut self.sync).waiting.take() {
                    self.install(w.install, false);
                    left -= 1;
                }
            }
            None => {}
        }
        // Nearly every pass finds the lane empty: two loads, where a
        // `try_recv` that finds nothing costs some fifty instructions.
        if A::lane(&self.sync).install.is_empty() {
            return left;
        }
        for used in 0..left {
            let Ok(i) = A::lane(&self.sync).install.try_recv() else {
                return left - used;
            };
            if !self.install(i, true) {
                return left - used - 1;
            }
        }
        0
    }

    /// Whether the rules this worker runs are still the published ones.
    fn rules_current(&self) -> bool {
        Arc::ptr_eq(&self.snap.cfg, &self.shared.config.load())
    }

    /// Install `i`, or update the connection it names; false if it waits
    /// for the worker's next load of the rules instead (only if it `may_wait`:
    /// not when it has waited already).
    fn install<A: Family>(&mut self, i: Install<A>, may_wait: bool) -> bool {
        let Install {
            entry: e,
            dest,
            server,
            keep_seq,
        } = i;
        let key = FlowKey::new(0, e.proto, e.client.0, e.client.1, e.vip.0, e.vip.1);
        let now = self.clock.now_s;
        let found = A::table(self).lookup(&key);
        if let Some(idx) = found {
            let c = A::table(self).get(idx);
            if !self.sync.standby {
                // Our own packets are newer than any message about them.
                self.ctr.inc(Ctr::SyncKept);
                return true;
            }
            if c.dest() == dest && c.rip == e.rip.0 && c.rport == e.rip.1 {
                let old = c.state;
                if old.is_active() != e.state.is_active() {
                    self.out
                        .gauges
                        .adjust(dest, Some(old.is_active()), Some(e.state.is_active()));
                }
                let sp = A::split(self);
                sp.table.touch(idx, e.state, now, &sp.snap.timeouts);
                // Installed before its template came: linked now.
                self.adopt_template::<A>(idx);
                if !keep_seq {
                    let c = A::table(self).get(idx).clone();
                    self.ftp_install(&c, e.out_seq, false);
                }
                self.ctr.inc(Ctr::SyncUpdated);
                return true;
            }
            // Another server: an active entry is the ports reused for a new
            // connection, which replaces ours; an inactive one is the late
            // expiry message of the connection ours replaced, ignored
            // (`ip_vs_proc_conn`, `ip_vs_sync.c`).
            if !e.state.is_active() {
                self.ctr.inc(Ctr::SyncKept);
                return true;
            }
        }
        if !names(&self.snap.cfg, dest, &server) {
            // Rules older than the daemon's: wait for the next ones (the
            // module's doc).
            if may_wait && !self.rules_current() {
                let epoch = self.snap.epoch;
                A::lane_mut(&mut self.sync).waiting = Some(Waiting { install: i, epoch });
                self.ctr.inc(Ctr::SyncInstallWaited);
                return false;
            }
            // Resolved against older rules, to a server gone since (its id
            // maybe another's now): refused, as a connection to it would go
            // to the old address counted in the new server's gauges.
            self.ctr.inc(Ctr::SyncInstallFailed);
            return true;
        }
        if let Some(idx) = found {
            self.drop_conn_of::<A>(idx);
        }
        let mut conn = Conn::new(e.proto, e.client, e.vip, e.rip, dest);
        conn.state = e.state;
        if A::table(self).len() >= A::table(self).capacity() {
            self.evict_one_of::<A>();
        }
        match A::table_mut(self).insert(conn.clone(), now) {
            Ok(idx) => {
                self.adopt_template::<A>(idx);
                self.out
                    .gauges
                    .adjust(dest, None, Some(e.state.is_active()));
                self.overload().bound(dest);
                self.ftp_install(&conn, e.out_seq, true);
                self.ctr.inc(Ctr::SyncInstalled);
            }
            Err(AddError::Full | AddError::Clash) => self.ctr.inc(Ctr::SyncInstallFailed),
        }
        true
    }
}
