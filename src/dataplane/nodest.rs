//! The flush of a removed real server's connections and persistence
//! templates under `--expire-nodest-conn`, as IPVS's: `__ip_vs_del_dest`
//! (`ip_vs_ctl.c`) queues `ip_vs_expire_nodest_conn_flush` (`ip_vs_conn.c`,
//! through `ip_vs_enqueue_expire_nodest_conns`), which walks the whole
//! connection table and deletes each entry whose dest is not available and
//! that controls none (`n_control` 0), templates included.
//!
//! A worker that loads rules in which a real server of the rules it ran
//! before is gone (`-d`, a reload, held down by its check, a sorry server
//! put away) starts a flush ([`Flush::start`]; a bit test per word of the
//! two bitmaps, on a new snapshot only). It then walks its tables in
//! steps of [`FLUSH_STEP`] entries a pass, dropping each connection whose
//! server is not in the rules it runs *now* and that controls no other
//! (an FTP control connection with data connections stays, as IPVS's
//! `n_control`), as a packet of it would under the option
//! (`Core::drop_conn_of`: its gauges, template and FTP link let go,
//! counted in `conn_expired`). Worker 0 also walks the template shards,
//! one a pass ([`Templates::flush_gone`]). A million connections take
//! some 250 passes, each a sequential read of 4096 slab entries (147 KB
//! for IPv4; estimated tens of microseconds, not measured): a small part
//! of a second, where the kernel's work runs a jiffy after the `-d`, in
//! one go; a server added back by then keeps what the walk has not
//! reached, as the kernel's walk tests each entry's dest as it goes. A new
//! removal during a walk starts it again from the start. No cost on the
//! packet path: a flag test a pass when no flush runs.
//!
//! [`Templates::flush_gone`]: crate::nat::persist::Templates::flush_gone

use super::family::Family;
use super::worker::Core;
use crate::nat::persist::TEMPLATE_SHARDS;
use crate::nat::{Conn, Snapshot};
use std::net::Ipv6Addr;

/// Table entries a flush looks at in each family's table per pass.
pub const FLUSH_STEP: usize = 4096;

/// Where a worker's flush stands.
#[derive(Debug, Default)]
pub struct Flush {
    /// A flush runs.
    on: bool,
    /// The next entry of each family's table to look at (`None`: done).
    at: (Option<u32>, Option<u32>),
    /// The next template shard (worker 0), up to [`TEMPLATE_SHARDS`].
    shard: usize,
}

impl Flush {
    /// Rules `new` replace `old`: with `--expire-nodest-conn` (`on`), a
    /// flush starts (again, from the start) if some real server live in
    /// `old` is not in `new`.
    pub fn start(&mut self, on: bool, old: &Snapshot, new: &Snapshot) {
        let left = |(o, n): (&u64, &u64)| o & !n != 0;
        if on && old.live.iter().zip(new.live.iter()).any(left) {
            *self = Flush {
                on: true,
                at: (Some(0), Some(0)),
                shard: 0,
            };
        }
    }
}

impl Core {
    /// A step of the flush, if one runs (every pass; a flag test else).
    #[inline]
    pub(super) fn flush_nodest(&mut self) {
        if self.nodest.on {
            self.flush_step();
        }
    }

    #[cold]
    fn flush_step(&mut self) {
        let (at4, at6) = self.nodest.at;
        let at4 = at4.and_then(|at| self.flush_of::<u32>(at));
        let at6 = at6.and_then(|at| self.flush_of::<Ipv6Addr>(at));
        let mut shard = self.nodest.shard;
        if self.id == 0 && shard < TEMPLATE_SHARDS {
            let cfg = &self.snap.cfg;
            let gone = |id| !cfg.dest_live(id);
            self.shared.templates.flush_gone(shard, gone);
            self.shared.templates6.flush_gone(shard, gone);
            shard += 1;
        } else {
            shard = TEMPLATE_SHARDS;
        }
        let on = at4.is_some() || at6.is_some() || shard < TEMPLATE_SHARDS;
        self.nodest = Flush {
            on,
            at: (at4, at6),
            shard,
        };
    }

    /// Drop the connections of entries `at..at + FLUSH_STEP` of the
    /// family's table whose server is gone and that hold no other; where
    /// to go on from (`None`: done).
    fn flush_of<A: Family>(&mut self, at: u32) -> Option<u32> {
        let (mut doomed, mut n) = ([0u32; FLUSH_STEP], 0);
        let (cfg, ftp, shared) = (&self.snap.cfg, &self.env.ftp, &self.shared);
        let next = A::table(self).walk_indexed(at, FLUSH_STEP, |i, c: &Conn<A>| {
            if !cfg.dest_live(c.dest()) && !super::ftp::ftp_holds(ftp, shared, c) {
                (doomed[n], n) = (i, n + 1);
            }
        });
        for &i in &doomed[..n] {
            self.drop_conn_of::<A>(i);
        }
        next
    }
}
