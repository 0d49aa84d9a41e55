//! Persistence templates seen from a worker: the key of the template a
//! connection is counted on, counting a synced connection on it and a
//! leaving one off it, a connection assuring it, and the worker's share of
//! their sweep, which reports to a sync master those re-armed because
//! connections still use them (`nat::persist` keeps the templates
//! themselves).

use super::family::{Family, Svc};
use super::sync::{SyncEntry, SyncLink};
use super::worker::Core;
use crate::config::{DestId, Forward};
use crate::nat::conn::TEMPLATE_ASSURED;
use crate::nat::persist::{EXPIRE_LATER, Link, Rearmed, TemplateKey, Templates};
use crate::nat::table::ConnTable;
use crate::nat::{Conn, Snapshot, State};
use crate::stats::{Counters, Ctr};
use std::net::Ipv6Addr;

impl Core {
    /// Connection `idx` assures its persistence template (its first
    /// establishment or UDP reply; a lock of the template's shard, once or
    /// so per connection), and keeps [`TEMPLATE_ASSURED`] to say so.
    #[cold]
    pub(super) fn assure_template<A: Family>(&mut self, idx: u32) {
        let link = link_of(A::table(self), idx);
        A::templates(&self.shared).assure_at(link);
        A::table_mut(self).set_template_assured(idx);
    }

    /// Count synced connection `idx`, installed without a template, on its
    /// client's template in the shared ones if that sends it to its real
    /// server ([`Templates::adopt`]), and link it to that template as a
    /// scheduled connection is ([`Link`]): it leaves it as one does,
    /// whatever the rules say by then. A report of it then brings the
    /// template, as the master's reports of it did, so that after a
    /// takeover the resend sweep passes the templates on too. A deliberate
    /// difference: IPVS's backup leaves a synced connection without its
    /// control template (`ip_vs_proc_conn`). A lock of the template's
    /// shard, on the sync install path only.
    #[cold]
    pub(super) fn adopt_template<A: Family>(&mut self, idx: u32) {
        let c = A::table(self).get(idx);
        if c.template != 0 {
            return;
        }
        let Some((key, mask)) = template_of(&self.snap.cfg, c) else {
            return;
        };
        let now = self.clock.now_s;
        let Some((link, assured)) = A::templates(&self.shared).adopt(key, c.dest(), mask, now)
        else {
            return;
        };
        let bit = if assured { TEMPLATE_ASSURED } else { 0 };
        A::table_mut(self).set_template(idx, link.generation | bit, link.at);
    }
}

/// The [`Link`] to its template connection `idx` of `table` holds (its
/// generation 0: none).
pub(super) fn link_of<A: Family>(table: &ConnTable<A>, idx: u32) -> Link {
    Link {
        at: table.link(idx),
        generation: table.get(idx).template_gen(),
    }
}

/// Uncount a connection `c` leaving at `now` on its persistence template,
/// if it has one (`at`: where that is, [`Link`]): by the link it holds, as
/// the kernel's `ip_vs_conn_expire` calls `ip_vs_control_del` through
/// `cp->control`, whatever the rules say now (its service deleted, made
/// non-persistent or given another `-M`).
pub(super) fn release_template<A: Family>(
    templates: &Templates<A>,
    c: &Conn<A>,
    at: u32,
    now: u32,
) {
    if let Some(link) = held_link(c, at) {
        templates.release_at(link, now);
    }
}

/// [`release_template`] for a connection `c` evicted from a full table:
/// its template goes with it if not assured and left counting none
/// ([`Templates::release_evicted_at`], as the kernel's
/// `ip_vs_random_dropentry` deletes one through `ip_vs_conn_del`).
pub(super) fn evict_template<A: Family>(templates: &Templates<A>, c: &Conn<A>, at: u32, now: u32) {
    if let Some(link) = held_link(c, at) {
        templates.release_evicted_at(link, now);
    }
}

/// The link of the template connection `c` counts on, if any (`at`: where
/// that is, [`Link`]).
fn held_link<A: Family>(c: &Conn<A>, at: u32) -> Option<Link> {
    (c.template != 0).then(|| Link {
        at,
        generation: c.template_gen(),
    })
}

/// The key of the persistence template `c` would be counted on: its
/// client's under the service it was scheduled by (its real server's,
/// `Family::conn_service`) and that service's current netmask;
/// `None` for a service not persistent. For a connection being scheduled
/// or installed now; one in a table finds its own by its [`Link`].
pub(super) fn template_key<A: Family>(cfg: &Snapshot, c: &Conn<A>) -> Option<TemplateKey<A>> {
    template_of(cfg, c).map(|(key, _)| key)
}

/// [`template_key`] and the netmask it is made with, which a template
/// must have been made under to be the one a synced connection is counted
/// on ([`Templates::adopt`]).
pub(super) fn template_of<A: Family>(cfg: &Snapshot, c: &Conn<A>) -> Option<(TemplateKey<A>, u32)> {
    let svc = A::conn_service(cfg, c)?;
    let p = svc.entry.persist?;
    Some((TemplateKey::new(svc.id, c.client, p.mask), p.mask))
}

/// Templates a worker's sweep looks at each second, beyond its own share,
/// in the shards where one ran out while counting connections
/// ([`Templates::sweep_reporting`]), while a sync master reports, in each
/// address family's templates (IPv4's and IPv6's each have this budget,
/// so that one family's due shards never hold back the other's): four
/// full shards' (`nat::persist`), as many as its share holds at the most,
/// so that the sweep of each family costs at most twice what it did
/// (about 1.3 ms a second, measured over a million templates, release
/// build); shards due beyond it wait for the next second.
const REARM_BUDGET: usize = 1 << 16;

impl Core {
    /// This worker's share of the templates' once-a-second sweep: shards
    /// `first..first + n` of both families ([`Templates::sweep_reporting`]).
    /// While a sync master reports, each template the sweep finds re-armed
    /// because connections still use it is reported ([`report_rearmed`]),
    /// and the sweep takes in any other shard where one ran out since, so
    /// that it goes within the second of its re-arm, as IPVS's
    /// `expire_later` syncs it from the template's timer. Run while some
    /// service is persistent or any template is left (of a service deleted
    /// or made non-persistent since: it must still expire, and let its
    /// server leave the trash); returns the shard the next sweep starts at.
    pub(super) fn sweep_templates(&mut self, first: usize, n: usize) -> usize {
        let shared = &self.shared;
        let left = || shared.templates.any_held() || shared.templates6.any_held();
        if !self.snap.cfg.any_persistent && !left() {
            return first;
        }
        let (now, cfg, link) = (self.clock.now_s, &self.snap.cfg, &self.sync);
        let reporting = link.reporting();
        let budget = if reporting { REARM_BUDGET } else { 0 };
        let ctr = &mut self.ctr;
        self.shared
            .templates
            .sweep_reporting((first, n, budget), now, |t| {
                !reporting || report_rearmed::<u32>(link, ctr, cfg, t)
            });
        self.shared
            .templates6
            .sweep_reporting((first, n, budget), now, |t| {
                !reporting || report_rearmed::<Ipv6Addr>(link, ctr, cfg, t)
            });
        (first + n) % crate::nat::persist::TEMPLATE_SHARDS
    }
}

/// Report template `t`, just re-armed for [`EXPIRE_LATER`] seconds because
/// connections still use it, to the master daemon, as IPVS's
/// `ip_vs_conn_expire` (`ip_vs_conn.c`, `expire_later`) calls
/// `ip_vs_sync_conn` (`ip_vs_sync.c`) for a template it keeps when the
/// sync master is on: `ip_vs_sync_conn_needed` lets a template through
/// whatever its packets, and the entry carries the template's state
/// (assured or not), its flags (template, the server's forwarding method),
/// its mark and its timeout, now 60 s. The entry is
/// [`template_sync_entry`], as for a connection of it, with that timeout;
/// the backup extends its copy by as much, so it does not expire before
/// the master's. A template whose real server was removed since (`-d`, a
/// reload, held down by its check) is reported too, to the address and
/// port it holds and by the method the server had (the snapshot keeps it,
/// `nat::gone`), as the kernel's template keeps its dest, in the trash,
/// and its flags: its service (which the sweep keeps it only with) finds
/// it by its id while no other server has taken that. Returns whether it
/// is done with: queued, or nothing to send (a SIP template, which counts
/// no connection, is never re-armed; its server's id another's now); false
/// for a full channel, counted.
fn report_rearmed<A: Family>(
    link: &SyncLink,
    ctr: &mut Counters,
    cfg: &Snapshot,
    t: Rearmed<A>,
) -> bool {
    if t.key.pe != 0 {
        return true;
    }
    let Some(svc) = A::service_of_dest(cfg, t.dest.id).filter(|s| s.id == t.key.svc) else {
        return true;
    };
    let Some(to) = template_dest(cfg, &svc, t.dest.id, Some((t.dest.addr, t.dest.port))) else {
        return true;
    };
    let e = template_sync_entry(&svc, to, t.key.client, t.assured, EXPIRE_LATER);
    let sent = link.report_of(e);
    ctr.inc(if sent {
        Ctr::SyncReported
    } else {
        Ctr::SyncQueueFull
    });
    sent
}

/// Real server `i` of service `svc` as a template names it: its address,
/// port and forwarding method.
fn dest_of<A: Family>(svc: &Svc<'_, A>, i: usize) -> Option<(A, u16, Forward)> {
    let d = svc.entry.dests.get(i)?;
    Some((A::dest_addr(svc, i)?, d.port, d.forward))
}

/// The real server `id` of service `svc` as a template of it names it
/// (address, port, forwarding method): from the rules, or, gone from
/// them (not live, and so not another's yet), at `held` (the address and
/// port the template or connection holds; none known, none) by the method
/// the snapshot kept for it (`nat::gone`), as the kernel's template keeps
/// its dest in the trash and its flags.
pub(super) fn template_dest<A: Family>(
    cfg: &Snapshot,
    svc: &Svc<'_, A>,
    id: DestId,
    held: Option<(A, u16)>,
) -> Option<(A, u16, Forward)> {
    match svc.entry.dests.iter().position(|d| d.id == id) {
        Some(i) => dest_of(svc, i),
        None if !cfg.dest_live(id) => held.map(|(a, p)| (a, p, cfg.forward_of(id))),
        None => None,
    }
}

/// The sync entry of a persistence template of service `svc` to the real
/// server at `to` (address, port, forwarding method), for `client`
/// (already masked by `-M`), as IPVS syncs a template (`ip_vs_sync_conn`):
/// client port 0, the service's protocol, address and port, or a
/// firewall-mark service's protocol 0, the mark as the address and port 0
/// (its id, `nat::mark`); `assured` sent as `IP_VS_CTPL_S_ASSURED`
/// ([`SyncEntry::state`]), with `timeout`. The server's port is always its
/// own, where `ip_vs_sched_persist` gives a firewall-mark, port-0 or FTP
/// service's template server port 0 (and an FTP one virtual port 0:
/// `docs/ha.md`); a kernel backup finds the server either way
/// (`ip_vs_find_dest` tries the port and 0).
pub(super) fn template_sync_entry<A: Family>(
    svc: &Svc<'_, A>,
    (addr, port, forward): (A, u16, Forward),
    client: A,
    assured: bool,
    timeout: u32,
) -> SyncEntry<A> {
    let (proto, vip) = match svc.id {
        (0, mark, _) => (0, (mark, 0)),
        (proto, vip, port) => (proto, (vip, port)),
    };
    SyncEntry {
        proto,
        client: (client, 0),
        vip,
        rip: (addr, port),
        state: if assured {
            State::Established
        } else {
            State::None
        },
        template: true,
        timeout,
        forward,
        out_seq: None,
        fwmark: A::mark_of(svc.id),
    }
}
