//! The flush of a removed real server's connections and persistence
//! templates under `--expire-nodest-conn`, as IPVS's: `__ip_vs_del_dest`
//! (`ip_vs_ctl.c`) queues `ip_vs_expire_nodest_conn_flush` (`ip_vs_conn.c`,
//! through `ip_vs_enqueue_expire_nodest_conns`), which walks the whole
//! connection table and deletes each entry whose dest is not available and
//! that controls none (`n_control` 0), templates included.
//!
//! A worker that loads rules in which a real server of the rules it ran
//! before is gone (`-d`, a reload, held down by its check, a sorry server
//! put away) starts a flush ([`Core::start_flush`]; a bit test per word of
//! the two bitmaps, on a new snapshot only). It then walks each family's
//! table around the circle of its entries, at most [`FLUSH_STEP`] entries
//! and [`FLUSH_DROPS`] drops (the expiry's budget, both families) a pass,
//! going on from the first entry it left, and drops each connection whose
//! server is not in the rules it runs *now* and that controls no other,
//! as a packet of it would under the option (`Core::drop_conn_of`: its
//! gauges, template and FTP link let go, counted in `conn_expired`). A
//! connection that controls others (an FTP control connection with data
//! connections, IPVS's `n_control`) is passed over; a round that passed
//! over some is followed by another while their number falls, so a
//! control connection goes once the flush dropped its data connections,
//! as the kernel's walk deletes a data connection's controller once it
//! counts none. One whose data connections live in another worker's table
//! goes in a later round only if that worker's walk dropped them by then;
//! else a packet of it, or its timeout, takes it. Worker 0 also walks the
//! template shards, one a pass ([`Templates::flush_gone`]), once every
//! worker has loaded the rules that started the flush
//! (`Shared::loaded_by_all`): a worker a pass behind, on the older rules,
//! may make a template for the server until then. A million connections
//! take some 250 passes of reads (each a sequential read of 4096 slab
//! entries, 147 KB for IPv4; estimated tens of microseconds, not
//! measured), and a pass drops at most 256 of them (each a removal from
//! the index, a random read, maybe a template shard's lock): a million of
//! a removed server take some 4000 passes, where the kernel's work runs a
//! jiffy after the `-d`, in one go; a server added back by then keeps
//! what the walk has not reached, as the kernel's walk tests each entry's
//! dest as it goes. A worker with a flush running takes its next pass at
//! once, as with a listing, not after its idle poll's timeout, while that
//! pass has a step to take: worker 0 waiting for the others to load the
//! rules before the template walk sleeps as usual between looks. A new
//! removal during a walk goes on from where it stands, around the whole
//! circle again (a health check flapping faster than a walk still flushes
//! the table's tail). No cost on the packet path: a flag test a pass when
//! no flush runs.
//!
//! [`Templates::flush_gone`]: crate::nat::persist::Templates::flush_gone

use super::family::Family;
use super::worker::{Core, EXPIRE_BUDGET};
use crate::nat::persist::TEMPLATE_SHARDS;
use crate::nat::{Conn, Snapshot};
use std::net::Ipv6Addr;

/// Table entries a flush looks at in each family's table per pass at most.
pub const FLUSH_STEP: usize = 4096;
/// Connections a flush drops per pass at most, both families together, as
/// the expiry's budget: each drop is a removal from the index (a random
/// read), maybe a template shard's lock, the FTP links.
pub const FLUSH_DROPS: usize = EXPIRE_BUDGET;

/// Where a worker's flush stands.
#[derive(Debug, Default)]
pub struct Flush {
    /// A flush runs.
    on: bool,
    /// Each family's walk (IPv4, IPv6).
    walk: [Walk; 2],
    /// The next template shard (worker 0).
    shard: usize,
    /// Template shards left to walk (worker 0).
    shards_left: usize,
    /// The epoch of the rules that started the flush: worker 0 walks the
    /// templates only once every worker has loaded it, so that none still
    /// runs the rules with the server, which would make a template for it.
    epoch: u64,
}

/// A walk of a table around the circle of its entries.
#[derive(Debug, Default, Clone, Copy)]
struct Walk {
    /// The next entry to look at.
    at: u32,
    /// Entries left to look at (0: done).
    left: u32,
    /// Connections passed over in this round as they control others.
    skipped: u32,
    /// Those of the round before (`u32::MAX`: none before).
    before: u32,
}

impl Walk {
    /// A full circle from where the walk stands, as a first round.
    fn restart(self, len: usize) -> Self {
        Walk {
            at: self.at,
            left: u32::try_from(len).unwrap_or(u32::MAX),
            skipped: 0,
            before: u32::MAX,
        }
    }
}

impl Core {
    /// Rules replace `old` (in [`Core::refresh`], the new ones loaded with
    /// epoch `epoch`): with `--expire-nodest-conn`, a flush starts if some
    /// real server live in `old` is not in the new rules. One that runs
    /// goes on from where it stands, around a full circle of each table
    /// again, so that removals closer together than a walk still flush
    /// the whole table.
    pub(super) fn start_flush(&mut self, old: &Snapshot, epoch: u64) {
        let new = &self.snap.cfg;
        let left = |(o, n): (&u64, &u64)| o & !n != 0;
        if !self.env.sysctl.expire_nodest_conn || !old.live.iter().zip(new.live.iter()).any(left) {
            return;
        }
        let f = &mut self.nodest;
        f.on = true;
        f.walk = [
            f.walk[0].restart(self.table.capacity()),
            f.walk[1].restart(self.table6.capacity()),
        ];
        f.shards_left = if self.id == 0 { TEMPLATE_SHARDS } else { 0 };
        f.epoch = epoch;
    }

    /// A step of the flush, if one runs (every pass; a flag test else).
    #[inline]
    pub(super) fn flush_nodest(&mut self) {
        if self.nodest.on {
            self.flush_step();
        }
    }

    /// Whether the worker walks something in steps of its passes (a
    /// listing, a flush) and its next pass can take a step: it takes that
    /// pass at once then, not sleeping for a poll timeout between steps.
    /// Worker 0 with only the template shards left, waiting for another
    /// worker to load the rules, sleeps as usual and looks again on its
    /// next pass: it spun at full CPU until the slowest worker loaded them.
    pub fn walking(&self) -> bool {
        self.listing() || self.nodest.on && self.flush_can_step()
    }

    /// A table walk is left, or a template shard that may be walked now.
    fn flush_can_step(&self) -> bool {
        let f = &self.nodest;
        f.walk.iter().any(|w| w.left > 0)
            || f.shards_left > 0 && self.shared.loaded_by_all() >= f.epoch
    }

    #[cold]
    fn flush_step(&mut self) {
        let [w4, w6] = self.nodest.walk;
        let (w4, n) = self.flush_of::<u32>(w4, FLUSH_DROPS);
        let (w6, _) = self.flush_of::<Ipv6Addr>(w6, FLUSH_DROPS - n);
        let f = &mut self.nodest;
        f.walk = [w4, w6];
        if f.shards_left > 0 && self.shared.loaded_by_all() >= f.epoch {
            let cfg = &self.snap.cfg;
            let gone = |id| !cfg.dest_live(id);
            self.shared.templates.flush_gone(f.shard, gone);
            self.shared.templates6.flush_gone(f.shard, gone);
            f.shard = (f.shard + 1) % TEMPLATE_SHARDS;
            f.shards_left -= 1;
        }
        f.on = w4.left > 0 || w6.left > 0 || f.shards_left > 0;
    }

    /// Look at the next entries of the family's walk `w` (at most
    /// [`FLUSH_STEP`]), dropping the connections whose server is gone and
    /// that control no other, at most `budget` of them: the walk goes on
    /// from the first it left. A round that passed over connections that
    /// controlled others (FTP control connections) is followed by another
    /// while their number falls: a control connection counts nothing
    /// once the flush dropped its data connections, as the kernel's walk
    /// deletes a data connection's controller once it counts none. Returns
    /// the walk after the step and how many connections it dropped.
    fn flush_of<A: Family>(&mut self, mut w: Walk, budget: usize) -> (Walk, usize) {
        let len = u32::try_from(A::table(self).capacity()).unwrap_or(u32::MAX);
        if w.left == 0 || len == 0 {
            return (Walk { left: 0, ..w }, 0);
        }
        let at = w.at % len;
        let n = (FLUSH_STEP as u32).min(w.left).min(len - at);
        let (mut doomed, mut k) = ([0u32; FLUSH_DROPS], 0);
        let (mut resume, mut skipped) = (None, 0);
        let (cfg, ftp, shared) = (&self.snap.cfg, &self.env.ftp, &self.shared);
        let next = A::table(self).walk_indexed(at, n as usize, |i, c: &Conn<A>| {
            if resume.is_some() || cfg.dest_live(c.dest()) {
                return;
            }
            if super::ftp::ftp_holds(ftp, shared, c) {
                skipped += 1;
            } else if k < budget.min(FLUSH_DROPS) {
                (doomed[k], k) = (i, k + 1);
            } else {
                resume = Some(i);
            }
        });
        // Past the slab's last entry, the rest of the circle is empty.
        let end = resume.unwrap_or(next.map_or(len, |e| e.min(at + n)));
        w.left = w.left.saturating_sub(end - at);
        w.at = if end >= len { 0 } else { end };
        w.skipped += skipped;
        for &i in &doomed[..k] {
            self.drop_conn_of::<A>(i);
        }
        if w.left == 0 && w.skipped > 0 && w.skipped < w.before {
            w = Walk {
                at: w.at,
                left: len,
                skipped: 0,
                before: w.skipped,
            };
        }
        (w, k)
    }
}
