//! IPVS's overload flag of a real server with an upper threshold (`-x`,
//! `-y`), kept where the kernel keeps it: at every bind and unbind of a
//! connection (`ip_vs_bind_dest`, `ip_vs_unbind_dest`, `ip_vs_conn.c`), the
//! server's total summed over every worker's gauges, and read (brought up
//! to date) when a new connection is scheduled ([`fill_views`]).
//!
//! A bind is a connection put in a worker's table: scheduled, an FTP data
//! connection the helper admits, one a sync message installs. An unbind is
//! one leaving it: expired, evicted, dropped (its server gone, its ports
//! reused, a synced one replacing it). A one-packet (`-o`) datagram is both
//! at once ([`Overload::passed`]). A move between active and inactive
//! leaves the total as it is. Where no real server of the rules has an
//! upper threshold ([`crate::nat::Snapshot::limits`] empty) a bind or unbind
//! tests a length and touches no gauge and no flag.

use super::shared::{Published, Shared};
use crate::config::DestId;
use crate::nat::{DestEntry, DestView, Snapshot, overload_bind, overload_check, overload_unbind};
use crate::stats::MAX_DESTS;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

/// What a bind or unbind needs: the servers' thresholds by id, every
/// worker's gauges and the shared flags.
pub(super) struct Overload<'a> {
    limits: &'a [(u32, u32)],
    peers: &'a [Arc<Published>],
    flags: &'a [AtomicU32],
}

impl<'a> Overload<'a> {
    /// From the rules, the peers and the shared state a worker holds (also
    /// when its table is borrowed apart, `family::Split`).
    #[inline(always)]
    pub fn of(snap: &'a Snapshot, peers: &'a [Arc<Published>], shared: &'a Shared) -> Self {
        Self {
            limits: &snap.limits,
            peers,
            flags: &shared.overload,
        }
    }

    /// A connection to `dest` was just counted in this worker's gauges.
    #[inline(always)]
    pub fn bound(&self, dest: DestId) {
        if let Some(&(u, _)) = self.limits.get(dest.0 as usize)
            && u != 0
        {
            overload_bind(self.flag(dest), u, self.total(dest));
        }
    }

    /// A connection to `dest` was just taken out of this worker's gauges.
    #[inline(always)]
    pub fn unbound(&self, dest: DestId) {
        if let Some(&(u, l)) = self.limits.get(dest.0 as usize)
            && self.flag(dest).load(Relaxed) != 0
        {
            overload_unbind(self.flag(dest), u, l, self.total(dest));
        }
    }

    /// A one-packet (`-o`) datagram went to `dest`: the kernel binds its
    /// connection and unbinds it at once (`ip_vs_conn_put` expires a
    /// `IP_VS_CONN_F_ONE_PACKET` connection, `ip_vs_conn_expire` unbinds
    /// it), so the flag moves as for a bind at one more than the gauges
    /// hold and an unbind back at them; the gauges themselves are not
    /// touched, as nothing lists a connection that lived for no time.
    #[inline(always)]
    pub fn passed(&self, dest: DestId) {
        if let Some(&(u, l)) = self.limits.get(dest.0 as usize)
            && u != 0
        {
            let (flag, total) = (self.flag(dest), self.total(dest));
            overload_bind(flag, u, total.saturating_add(1));
            overload_unbind(flag, u, l, total);
        }
    }

    fn flag(&self, dest: DestId) -> &AtomicU32 {
        &self.flags[dest.0 as usize % MAX_DESTS]
    }

    /// Active + inactive connections of `dest` over every worker.
    #[inline(never)]
    fn total(&self, dest: DestId) -> u32 {
        let (a, i) = counts(self.peers, dest);
        a.saturating_add(i)
    }
}

/// (active, inactive) connections of `dest` summed over every worker's
/// gauges.
#[inline]
fn counts(peers: &[Arc<Published>], dest: DestId) -> (u32, u32) {
    peers.iter().fold((0u32, 0u32), |(a, i), p| {
        let (pa, pi) = p.gauges.get(dest);
        (a.saturating_add(pa), i.saturating_add(pi))
    })
}

/// Fill `out` with the views of `dests`: connections summed over every worker's
/// gauges, and the overload flag brought up to date. `out` has room for them (see
/// `Core::refresh`), so this allocates nothing.
pub(super) fn fill_views(
    out: &mut Vec<DestView>,
    dests: &[DestEntry],
    peers: &[Arc<Published>],
    overload: &[AtomicU32],
) {
    out.clear();
    for d in dests {
        let (active, inactive) = counts(peers, d.id);
        let overloaded = overload_check(
            &overload[d.id.0 as usize % MAX_DESTS],
            d.u_threshold,
            d.l_threshold,
            active.saturating_add(inactive),
        );
        out.push(DestView {
            entry: *d,
            active,
            inactive,
            overloaded,
        });
    }
}

impl super::worker::Core {
    /// What a bind or unbind of this worker's needs ([`Overload`]).
    #[inline(always)]
    pub(super) fn overload(&self) -> Overload<'_> {
        Overload::of(&self.snap.cfg, &self.snap.peers, &self.shared)
    }

    /// Unbind the connection a SYN reused (`Core::check_in`), once the
    /// packet's own connection, if any, has bound: the kernel expires the
    /// old one by its timer (`ip_vs_conn_expire_now`, `ip_vs_conn.c`), after
    /// `ip_vs_conn_new` bound the new one, so at `-x` − 1 the new bind
    /// overloads the server and the old one's unbind may leave it so.
    pub(super) fn settle_reused(&mut self) {
        if let Some((dest, active)) = self.reused.take() {
            self.out.gauges.adjust(dest, Some(active), None);
            self.overload().unbound(dest);
        }
    }
}
