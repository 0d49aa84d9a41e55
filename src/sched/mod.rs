//! Schedulers: which real server gets a new connection.
//!
//! A scheduler is built by the control thread when it publishes a configuration
//! snapshot, carried into later snapshots while the service keeps its scheduler
//! ([`SchedState::carry`], as the kernel keeps `svc->sched_data`), and shared by
//! every worker; [`SchedState::pick`] is called once per
//! *new* connection (never per packet), concurrently from every worker.
//!
//! Every IPVS scheduler is here, with the kernel's rules (see each module):
//!
//! | name | module | state | cost of a pick |
//! |------|--------|-------|----------------|
//! | `rr`, `wrr` | here | one atomic counter | one atomic compare-and-swap |
//! | `lc`, `wlc`, `sed`, `nq`, `fo`, `ovf` | [`lc`] | none | one pass over the servers |
//! | `twos` | [`lc`] | an atomic PRNG | one atomic increment, two passes |
//! | `dh`, `sh` | [`hash`] | 256-bucket table | one lookup |
//! | `mh` | [`hash`] | Maglev table of a prime size | one lookup |
//! | `lblc`, `lblcr` | [`locality`] | per-destination cache | a mutex and one pass |
//!
//! Only `lblc` and `lblcr` take a lock, and only for their own new connections:
//! their cache (destination address → server, or server set) is shared by all
//! workers, exactly as the kernel shares it under `svc->sched_lock`
//! (`ip_vs_lblc.c` `ip_vs_lblc_schedule`).
//!
//! Every scheduler but `mh` (whose hash is ringvs's own) meets the servers in
//! the kernel's list order, newest first ([`kernel_index`]): where the order
//! decides (round robin's start, ties), the choice is the kernel's.
//!
//! Round robin is one atomic increment, so the choice alternates across all
//! workers exactly as kernel IPVS's global `rr` does (`ip_vs_rr.c`
//! `ip_vs_rr_schedule`, one cursor per service). Weighted round robin walks a
//! sequence precomputed with IPVS's own interleaving (the `cw`/`mw`/`gcd` walk of
//! `ip_vs_wrr.c` `ip_vs_wrr_schedule`), so `wrr` gives the same order as the kernel; servers that are
//! quiesced or overloaded at pick time are stepped over, as the kernel's walk
//! steps over them.
//!
//! "Available" everywhere means what it means to IPVS: weight above 0 (weight 0
//! quiesces a server: no new connections) and not overloaded (its upper
//! connection threshold reached, `IP_VS_DEST_F_OVERLOAD`).

pub mod hash;
pub mod lc;
pub mod locality;
mod wrr;

pub use wrr::wrr_sequence;
use wrr::{weights, wrr_added_one_by_one, wrr_carry, wrr_cycle, wrr_pick};

use crate::config::{SchedFlags, Scheduler};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// The longest precomputed `wrr` cycle. Weights whose cycle (sum of weights over
/// their gcd) is longer are scaled down proportionally to fit.
pub const MAX_WRR_CYCLE: usize = 1 << 20;

/// What a scheduler needs to know of a real server.
pub trait Candidate {
    fn weight(&self) -> u32;
    /// Connections in an active state (IPVS's `activeconns`: TCP's
    /// ESTABLISHED, SYN_SENT, SYN_RECV and SYNACK, SCTP's ESTABLISHED), over
    /// all workers.
    fn active(&self) -> u32 {
        0
    }
    /// Connections in any other state (IPVS's `inactconns`), over all workers.
    fn inactive(&self) -> u32 {
        0
    }
    /// Over its upper connection threshold (IPVS's `IP_VS_DEST_F_OVERLOAD`).
    fn overloaded(&self) -> bool {
        false
    }
    /// The server's address (for hashing schedulers' stable tables): IPv4, or
    /// IPv6 folded to 32 bits (`nat::fold32`).
    fn addr(&self) -> u32 {
        0
    }
    /// The server's port.
    fn port(&self) -> u16 {
        0
    }
    /// The last non-zero weight the server had (IPVS's `last_weight`, kept by
    /// `__ip_vs_update_dest` in `ip_vs_ctl.c`): `mh` builds its table from it
    /// (`ip_vs_mh_permutate`), so quiescing a server (weight 0) does not
    /// reshuffle the other servers' clients. Defaults to the current weight;
    /// the data plane's `DestEntry` and `DestView` (`nat/mod.rs`) give the
    /// kept one.
    fn last_weight(&self) -> u32 {
        self.weight()
    }
    /// The server's identity across snapshots (the configuration's `DestId`).
    /// With [`Candidate::addr`] and [`Candidate::port`] it says whether two
    /// snapshots' entries are the same server (see [`same_dest`]).
    fn id(&self) -> u32 {
        0
    }
}

/// Whether `a` and `b`, from two snapshots, are the same real server: the
/// same id, address and port. The address and port guard against an id
/// reused after the allocator wrapped.
#[inline]
pub fn same_dest<A: Candidate, B: Candidate>(a: &A, b: &B) -> bool {
    a.id() == b.id() && a.addr() == b.addr() && a.port() == b.port()
}

/// A reference to a real server that outlives a snapshot: its identity, and
/// its index in the list it was taken from as a hint. Schedulers whose state
/// survives a change of the server list (`lblc`, `lblcr`) keep these instead
/// of bare indices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestRef {
    idx: u32,
    id: u32,
    addr: u32,
    port: u16,
}

impl DestRef {
    /// Server `i` of `dests`.
    pub fn of<C: Candidate>(dests: &[C], i: usize) -> Self {
        let (id, addr, port) = dests
            .get(i)
            .map_or((0, 0, 0), |d| (d.id(), d.addr(), d.port()));
        DestRef {
            idx: i as u32,
            id,
            addr,
            port,
        }
    }

    /// The index the server had when last found.
    pub fn hint(&self) -> usize {
        self.idx as usize
    }

    /// The server's id (`config::DestId`'s number).
    pub fn id(&self) -> u32 {
        self.id
    }

    fn is<C: Candidate>(&self, d: &C) -> bool {
        self.id == d.id() && self.addr == d.addr() && self.port == d.port()
    }

    /// The server's index in `dests`, or `None` if it is not there (removed):
    /// one comparison while the list is the one the reference was taken
    /// from, a pass over the list (and the hint updated) after it changed.
    #[inline]
    pub fn find<C: Candidate>(&mut self, dests: &[C]) -> Option<usize> {
        let i = self.idx as usize;
        if dests.get(i).is_some_and(|d| self.is(d)) {
            return Some(i);
        }
        let i = dests.iter().position(|d| self.is(d))?;
        self.idx = i as u32;
        Some(i)
    }
}

/// The new connection being scheduled: what the hashing and locality
/// schedulers look at. `client` and `vaddr` are host-order `u32`s: an IPv4
/// address, or an IPv6 one folded to the XOR of its four words
/// (`nat::fold32`), the key IPVS's hashing schedulers hash (`ip_vs_dh.c`
/// `ip_vs_dh_hashkey`, `ip_vs_sh.c` `ip_vs_sh_hashkey`). The fold only picks
/// a bucket: the locality caches key by the whole address, `vaddr_wide`, as
/// the kernel's compare it whole (`ip_vs_lblc.c` `ip_vs_lblc_get`,
/// `ip_vs_lblcr.c` `ip_vs_lblcr_get`: `ip_vs_addr_equal`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flow {
    pub client: u32,
    pub cport: u16,
    pub vaddr: u32,
    /// The destination address whole (`nat::Addr::wide`: an IPv4 address
    /// in the low 32 bits), the `lblc`/`lblcr` cache key.
    pub vaddr_wide: u128,
    pub vport: u16,
    /// Seconds on the worker's clock (for schedulers with expiring state).
    pub now_s: u32,
}

/// Can take a new connection: weight above 0 and not overloaded.
#[inline]
pub fn available<C: Candidate>(d: &C) -> bool {
    d.weight() > 0 && !d.overloaded()
}

/// IPVS's `ip_vs_dest_conn_overhead`: an active connection costs 256 times an
/// inactive one.
#[inline]
pub fn overhead<C: Candidate>(d: &C) -> u64 {
    u64::from(d.active()) * 256 + u64::from(d.inactive())
}

/// A scheduler with its shared state.
#[derive(Debug)]
pub enum SchedState {
    RoundRobin {
        next: AtomicUsize,
    },
    Weighted {
        seq: Box<[u32]>,
        /// Where each pass of the cycle starts: `passes[j]` is the index in
        /// `seq` of the first pick made at the current weight `mw - j` (in
        /// units of the weights' gcd).
        passes: Box<[u32]>,
        next: AtomicUsize,
        /// Whether a pick was made since the state was made. `next` alone
        /// cannot say: a pick that finds no server sends it back to 0, so
        /// it may come back to where it started after picks.
        picked: AtomicBool,
    },
    /// `lc`, `wlc`, `sed`, `nq`, `fo`, `ovf`: stateless choices on the counters.
    Least(lc::Least),
    /// `twos`: the random source.
    Twos {
        rng: AtomicU64,
    },
    /// `dh`: buckets keyed by the destination address.
    Dest(hash::Buckets),
    /// `sh`: buckets keyed by the client address (and port).
    Source {
        buckets: hash::Buckets,
        flags: SchedFlags,
    },
    /// `mh`: Maglev lookup table keyed by the client address (and port).
    Maglev {
        table: hash::Maglev,
        flags: SchedFlags,
    },
    Lblc(locality::Lblc),
    Lblcr(locality::Lblcr),
}

impl SchedState {
    /// Calls `held` with each of the server ids `ids` that a live
    /// `lblc`/`lblcr` cache entry may name (none for the other schedulers):
    /// as the kernel's entries hold their dest (`ip_vs_lblc_new`,
    /// `ip_vs_dest_set_insert`: `ip_vs_dest_hold`), they keep a removed
    /// server's id in the trash. The control thread's
    /// (`dataplane::Shared::held`): the cache's lock is taken once, for one
    /// lookup per id in the counts the picks keep (`locality::Holds`),
    /// never for a walk of the cache.
    pub fn holds(&self, ids: impl IntoIterator<Item = u32>, held: impl FnMut(u32)) {
        match self {
            SchedState::Lblc(c) => c.holds(ids, held),
            SchedState::Lblcr(c) => c.holds(ids, held),
            _ => {}
        }
    }

    /// [`SchedState::new`] for a service that is new with its servers
    /// (made in one publish: `-R`, a configuration file): `wrr` starts
    /// where the kernel's walk is once those servers were added one by one
    /// ([`wrr_added_one_by_one`]), not at the top, where
    /// `ip_vs_wrr_init_svc` starts a scheduler given to a service that
    /// already has servers (`-E`).
    pub fn added<C: Candidate>(kind: Scheduler, flags: SchedFlags, dests: &[C]) -> Self {
        let mut s = Self::new(kind, flags, dests);
        if let SchedState::Weighted { passes, next, .. } = &mut s {
            *next.get_mut() = wrr_added_one_by_one(&weights(dests), passes);
        }
        s
    }

    pub fn new<C: Candidate>(kind: Scheduler, flags: SchedFlags, dests: &[C]) -> Self {
        match kind {
            Scheduler::Rr => SchedState::RoundRobin {
                next: AtomicUsize::new(0),
            },
            Scheduler::Wrr => {
                let (seq, passes) = wrr_cycle(&weights(dests));
                SchedState::Weighted {
                    seq,
                    passes,
                    next: AtomicUsize::new(0),
                    picked: AtomicBool::new(false),
                }
            }
            Scheduler::Lc => SchedState::Least(lc::Least::Lc),
            Scheduler::Wlc => SchedState::Least(lc::Least::Wlc),
            Scheduler::Sed => SchedState::Least(lc::Least::Sed),
            Scheduler::Nq => SchedState::Least(lc::Least::Nq),
            Scheduler::Fo => SchedState::Least(lc::Least::Fo),
            Scheduler::Ovf => SchedState::Least(lc::Least::Ovf),
            Scheduler::Twos => SchedState::Twos {
                rng: AtomicU64::new(lc::TWOS_SEED),
            },
            Scheduler::Dh => SchedState::Dest(hash::Buckets::cyclic(dests.len())),
            Scheduler::Sh => SchedState::Source {
                buckets: hash::Buckets::weighted(dests),
                flags,
            },
            Scheduler::Mh => SchedState::Maglev {
                table: hash::Maglev::new(dests),
                flags,
            },
            Scheduler::Lblc => SchedState::Lblc(locality::Lblc::default()),
            Scheduler::Lblcr => SchedState::Lblcr(locality::Lblcr::default()),
        }
    }

    /// Which scheduler this is.
    pub fn kind(&self) -> Scheduler {
        match self {
            SchedState::RoundRobin { .. } => Scheduler::Rr,
            SchedState::Weighted { .. } => Scheduler::Wrr,
            SchedState::Least(lc::Least::Lc) => Scheduler::Lc,
            SchedState::Least(lc::Least::Wlc) => Scheduler::Wlc,
            SchedState::Least(lc::Least::Sed) => Scheduler::Sed,
            SchedState::Least(lc::Least::Nq) => Scheduler::Nq,
            SchedState::Least(lc::Least::Fo) => Scheduler::Fo,
            SchedState::Least(lc::Least::Ovf) => Scheduler::Ovf,
            SchedState::Twos { .. } => Scheduler::Twos,
            SchedState::Dest(_) => Scheduler::Dh,
            SchedState::Source { .. } => Scheduler::Sh,
            SchedState::Maglev { .. } => Scheduler::Mh,
            SchedState::Lblc(_) => Scheduler::Lblc,
            SchedState::Lblcr(_) => Scheduler::Lblcr,
        }
    }

    /// The state for a service's next snapshot, given the state it runs with
    /// now (`prev`, over the servers `before`): kept as long as the service
    /// keeps its scheduler, and updated for a changed server list the way
    /// the kernel scheduler's `add_dest`/`del_dest`/`upd_dest` hooks update
    /// it. A different scheduler starts afresh, as the kernel's
    /// `init_service` does after `ip_vs_edit_service` swaps schedulers.
    ///
    /// Sharing the `Arc` costs a comparison of the two server lists (ids,
    /// and weights for the schedulers whose tables depend on them); nothing
    /// walks a cache or a table unless the kernel would rebuild it too.
    ///
    /// * `rr` (`ip_vs_rr.c`): the position survives. The same servers: the
    ///   same counter, shared. A changed list: the cursor (the last server
    ///   chosen) is found in the new list, and if it was removed it moves back
    ///   to the nearest earlier server that remains, or to the head, as
    ///   `ip_vs_rr_del_dest` moves it to the previous entry. Picks made on the
    ///   old snapshot while the new one is being built may be missed (the
    ///   counter is read once).
    /// * `wrr` (`ip_vs_wrr.c`): kept while servers and weights are unchanged;
    ///   otherwise the new cycle starts where `ip_vs_wrr_dest_changed` leaves
    ///   the kernel's walk: at the head of the list with the current weight
    ///   kept ([`wrr_carry`]).
    /// * `lc`, `wlc`, `sed`, `nq`, `fo`, `ovf`: no state.
    /// * `twos`: its random source is kept whatever the servers (the kernel's
    ///   `ip_vs_twos.c` has no per-service state at all).
    /// * `dh`, `sh`, `mh` (`ip_vs_dh_dest_changed`, `ip_vs_sh_dest_changed`,
    ///   `ip_vs_mh_dest_changed`): the table is rebuilt when what it is
    ///   built from changed (the number of servers for `dh`; the weights for
    ///   `sh`; the servers and their `last_weight`s for `mh`), and shared
    ///   otherwise. Quiescing an `mh` server leaves its `last_weight`, so
    ///   the table is shared, not rebuilt.
    /// * `lblc`, `lblcr` (`ip_vs_lblc.c`, `ip_vs_lblcr.c`, which have no
    ///   server hooks): the cache is kept, whatever the servers. Its entries
    ///   name servers by identity, so an entry whose server was removed finds
    ///   none at its next use and is scheduled afresh.
    pub fn carry<C: Candidate>(
        prev: &Arc<SchedState>,
        before: &[C],
        kind: Scheduler,
        flags: SchedFlags,
        dests: &[C],
    ) -> Arc<SchedState> {
        if prev.kind() != kind {
            return Arc::new(SchedState::new(kind, flags, dests));
        }
        let same_list =
            before.len() == dests.len() && before.iter().zip(dests).all(|(a, b)| same_dest(a, b));
        let same_weights = same_list
            && before
                .iter()
                .zip(dests)
                .all(|(a, b)| a.weight() == b.weight());
        let keep = match &**prev {
            SchedState::RoundRobin { next } => {
                if same_list {
                    true
                } else {
                    let next = rr_carry(next.load(Ordering::Relaxed), before, dests);
                    return Arc::new(SchedState::RoundRobin {
                        next: AtomicUsize::new(next),
                    });
                }
            }
            SchedState::Weighted {
                seq,
                passes,
                next,
                picked,
            } => {
                if same_weights {
                    true
                } else {
                    let (new_seq, new_passes) = wrr_cycle(&weights(dests));
                    // No pick since the state was made (or the walk went
                    // back to the top, 0): the kernel's `cw` is that of the
                    // pass `next` starts, not the pass of the pick before.
                    let last = match next.load(Ordering::Relaxed) {
                        n if n == 0 || !picked.load(Ordering::Relaxed) => n + 1,
                        n => n,
                    };
                    let old = (seq.len(), &passes[..], weights(before));
                    let at = wrr_carry(last, old, &weights(dests), &new_passes);
                    return Arc::new(SchedState::Weighted {
                        seq: new_seq,
                        passes: new_passes,
                        next: AtomicUsize::new(at),
                        picked: AtomicBool::new(false),
                    });
                }
            }
            SchedState::Least(_)
            | SchedState::Twos { .. }
            | SchedState::Lblc(_)
            | SchedState::Lblcr(_) => true,
            SchedState::Dest(_) => before.len() == dests.len(),
            SchedState::Source { flags: f, .. } => {
                *f == flags && before.len() == dests.len() && {
                    before
                        .iter()
                        .zip(dests)
                        .all(|(a, b)| a.weight() == b.weight())
                }
            }
            SchedState::Maglev { flags: f, .. } => {
                *f == flags
                    && same_list
                    && before
                        .iter()
                        .zip(dests)
                        .all(|(a, b)| a.last_weight() == b.last_weight())
            }
        };
        if keep {
            Arc::clone(prev)
        } else {
            Arc::new(SchedState::new(kind, flags, dests))
        }
    }

    /// The index of the real server for a new connection, or `None` when no
    /// server is available (all quiesced or overloaded, none at all, or — for
    /// `dh`, and `sh`/`mh` without fallback — the hashed one is unavailable).
    #[inline]
    pub fn pick<C: Candidate>(&self, flow: &Flow, dests: &[C]) -> Option<usize> {
        match self {
            SchedState::RoundRobin { next } => rr_pick(next, dests),
            SchedState::Weighted {
                seq,
                passes,
                next,
                picked,
            } => wrr_pick(seq, passes, (next, picked), dests),
            SchedState::Least(kind) => kind.pick(dests),
            SchedState::Twos { rng } => lc::twos_pick(rng, dests),
            SchedState::Dest(b) => hash::dh_pick(b, flow, dests),
            SchedState::Source { buckets, flags } => hash::sh_pick(buckets, *flags, flow, dests),
            SchedState::Maglev { table, flags } => table.pick(*flags, flow, dests),
            SchedState::Lblc(t) => t.pick(flow, dests),
            SchedState::Lblcr(t) => t.pick(flow, dests),
        }
    }
}

/// `rr`'s counter for a changed server list. The counter `next` is one past
/// the last server chosen (`before[(next - 1) % n]`), 0 before the first
/// pick (the kernel's cursor at the list head). That server keeps its place
/// in `dests`; if it is gone, the nearest earlier server of `before` that
/// remains takes it, or the head if none does (`ip_vs_rr_del_dest`).
fn rr_carry<A: Candidate, B: Candidate>(next: usize, before: &[A], dests: &[B]) -> usize {
    let n = before.len();
    if next == 0 || n == 0 {
        return 0;
    }
    // Positions in the kernel's list ([`kernel_index`]), not indices.
    let cursor = (next - 1) % n;
    (0..=cursor)
        .rev()
        .find_map(|k| {
            let old = &before[kernel_index(k, n)];
            dests.iter().position(|d| same_dest(old, d))
        })
        .map_or(0, |i| kernel_index(i, dests.len()) + 1)
}

/// The index in a service's server list (in the order the servers were
/// added) of position `p` of the kernel's list, and the other way round:
/// `__ip_vs_update_dest` (`ip_vs_ctl.c`) adds each server at the head of
/// `svc->destinations`, so the kernel's schedulers meet the newest server
/// first. The seed's `rr` walk-through shows it: server2 then server3
/// added, and the first `curl` answered by server3.
#[inline]
pub(crate) fn kernel_index(p: usize, n: usize) -> usize {
    n - 1 - p
}

/// Round robin over available servers; the position is global (one counter
/// for every worker), and skipped servers advance it so the next pick resumes
/// after the chosen one, as IPVS's `rr` resumes after its last choice
/// (`ip_vs_rr.c` `ip_vs_rr_schedule`). A pick that finds no server leaves
/// the position where it was, as the kernel's returns without moving
/// `sched_data`. The position moves past the chosen server in one step
/// (a compare-and-swap, retried if another worker moved it first), as the
/// kernel's pick is one step under `svc->sched_lock`: two workers never
/// choose the same server from one position.
fn rr_pick<C: Candidate>(next: &AtomicUsize, dests: &[C]) -> Option<usize> {
    let n = dests.len();
    if n == 0 {
        return None;
    }
    let mut start = next.load(Ordering::Relaxed);
    loop {
        let at = |k: usize| kernel_index(start.wrapping_add(k) % n, n);
        let skipped = (0..n).find(|&k| available(&dests[at(k)]))?;
        let past = start.wrapping_add(skipped + 1);
        match next.compare_exchange_weak(start, past, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return Some(at(skipped)),
            Err(now) => start = now,
        }
    }
}

pub(crate) fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// A test server with every counter settable.
#[cfg(test)]
pub(crate) mod testing {
    use super::Candidate;

    #[derive(Clone, Copy, Debug, Default)]
    pub struct D {
        pub w: u32,
        pub act: u32,
        pub inact: u32,
        pub over: bool,
        pub addr: u32,
        pub port: u16,
        /// [`Candidate::id`]: 0 (as every server's) unless a test sets it.
        pub id: u32,
    }

    impl D {
        pub fn w(w: u32) -> Self {
            D {
                w,
                ..Default::default()
            }
        }
        pub fn conns(mut self, act: u32, inact: u32) -> Self {
            self.act = act;
            self.inact = inact;
            self
        }
        pub fn over(mut self) -> Self {
            self.over = true;
            self
        }
    }

    impl Candidate for D {
        fn weight(&self) -> u32 {
            self.w
        }
        fn active(&self) -> u32 {
            self.act
        }
        fn inactive(&self) -> u32 {
            self.inact
        }
        fn overloaded(&self) -> bool {
            self.over
        }
        fn addr(&self) -> u32 {
            self.addr
        }
        fn port(&self) -> u16 {
            self.port
        }
        fn id(&self) -> u32 {
            self.id
        }
    }

    /// Servers 10.0.0.1, .2, ... port 80 with these weights.
    pub fn servers(weights: &[u32]) -> Vec<D> {
        weights
            .iter()
            .enumerate()
            .map(|(i, &w)| D {
                addr: 0x0a00_0001 + i as u32,
                port: 80,
                ..D::w(w)
            })
            .collect()
    }

    /// How often each server is picked over `n` picks (`None`s in the last slot).
    pub fn counts(
        n: usize,
        len: usize,
        mut pick: impl FnMut(usize) -> Option<usize>,
    ) -> Vec<usize> {
        let mut c = vec![0; len + 1];
        for i in 0..n {
            c[pick(i).unwrap_or(len)] += 1;
        }
        c
    }
}

#[cfg(test)]
mod test {
    use super::testing::*;
    use super::*;

    struct W(u32);
    impl Candidate for W {
        fn weight(&self) -> u32 {
            self.0
        }
    }

    #[test]
    fn rr_alternates_and_skips_quiesced() {
        let d = [W(1), W(1)];
        let s = SchedState::new(Scheduler::Rr, SchedFlags::default(), &d);
        let got: Vec<_> = (0..6)
            .filter_map(|_| s.pick(&Flow::default(), &d))
            .collect();
        // The newest first, as the kernel's list (the seed: server3 first).
        assert_eq!(got, [1, 0, 1, 0, 1, 0]);
        let d = [W(1), W(0), W(1)];
        let got: Vec<_> = (0..4)
            .filter_map(|_| s.pick(&Flow::default(), &d))
            .collect();
        assert!(!got.contains(&1), "{got:?}");
        assert_eq!(got.iter().filter(|&&i| i == 0).count(), 2);
        assert_eq!(s.pick(&Flow::default(), &[W(0), W(0)]), None);
        assert_eq!(s.pick::<W>(&Flow::default(), &[]), None);
    }

    #[test]
    fn wrr_matches_ipvs_interleaving() {
        // Weights 4, 3, 2 added as A, B, C: the kernel's list is C B A, and
        // its walk gives A B A C B A C B A.
        assert_eq!(&*wrr_sequence(&[4, 3, 2]), &[0, 1, 0, 2, 1, 0, 2, 1, 0]);
        // gcd is taken out: 2,2 behaves like 1,1 (the newest first).
        assert_eq!(&*wrr_sequence(&[2, 2]), &[1, 0]);
        assert_eq!(&*wrr_sequence(&[0, 5]), &[1]);
        assert!(wrr_sequence(&[0, 0]).is_empty());
    }

    #[test]
    fn wrr_distribution_follows_weights() {
        let d = [W(5), W(1), W(0)];
        let s = SchedState::new(Scheduler::Wrr, SchedFlags::default(), &d);
        let mut n = [0; 3];
        for _ in 0..600 {
            n[s.pick(&Flow::default(), &d).unwrap_or(2)] += 1;
        }
        assert_eq!(n, [500, 100, 0]);
    }

    /// After a change of weights or servers the walk goes on from the head
    /// of the list with its current weight, as `ip_vs_wrr_dest_changed`
    /// leaves the kernel's (expected picks: a model of `ip_vs_wrr_schedule`
    /// and `ip_vs_wrr_dest_changed`).
    #[test]
    fn wrr_keeps_its_current_weight_across_a_change() {
        let f = SchedFlags::default();
        let d = servers(&[4, 3, 2]);
        let s = Arc::new(SchedState::new(Scheduler::Wrr, f, &d));
        let got: Vec<_> = picks(&s, &d, 4).into_iter().flatten().collect();
        assert_eq!(got, [0, 1, 0, 2], "cw 2 after the fourth");
        let e = servers(&[4, 3, 1]);
        let s = SchedState::carry(&s, &d, Scheduler::Wrr, f, &e);
        let got: Vec<_> = picks(&s, &e, 8).into_iter().flatten().collect();
        assert_eq!(got, [1, 0, 2, 1, 0, 0, 1, 0]);
        // The gcd changes: cw 3 (the pass of the last pick) snapped to a gcd
        // of 2 is (3 / 2) * 2 + 1 = 3: 4 and 6 at or above it, then all at
        // 1, then the new top, 5 (6 - (2 - 1)).
        let g = servers(&[4, 6, 2]);
        let s = SchedState::carry(&s, &e, Scheduler::Wrr, f, &g);
        let got: Vec<_> = picks(&s, &g, 6).into_iter().flatten().collect();
        assert_eq!(got, [1, 0, 2, 1, 0, 1]);
        // Above the new maximum: from the top.
        let h = servers(&[1, 1, 1]);
        let s = SchedState::carry(&s, &g, Scheduler::Wrr, f, &h);
        let got: Vec<_> = picks(&s, &h, 3).into_iter().flatten().collect();
        assert_eq!(got, [2, 1, 0]);
    }

    /// `ipvsadm -A -s wrr`, then `-a` of weight 1, then of weight 3: the
    /// first add sets the kernel's `cw` to 1 (its `mw` alone), the second
    /// keeps it (`ip_vs_wrr_dest_changed`), so the walk starts with every
    /// server once, A B, then the top: B B B A. The same service made in one
    /// publish (`-R`) starts alike ([`SchedState::added`]), where
    /// `SchedState::new` (`-E` to wrr: `ip_vs_wrr_init_svc`, `cw` = `mw`)
    /// starts at the top.
    #[test]
    fn wrr_servers_added_one_by_one_start_on_the_last_pass() {
        let f = SchedFlags::default();
        let (none, a, ab) = (servers(&[]), servers(&[1]), servers(&[1, 3]));
        let s = Arc::new(SchedState::new(Scheduler::Wrr, f, &none));
        let s = SchedState::carry(&s, &none, Scheduler::Wrr, f, &a);
        let s = SchedState::carry(&s, &a, Scheduler::Wrr, f, &ab);
        let kernel = [1, 0, 1, 1, 1, 0, 1, 1, 1, 0];
        assert_eq!(picks(&s, &ab, 10), kernel.map(Some));
        let s = SchedState::added(Scheduler::Wrr, f, &ab);
        assert_eq!(picks(&s, &ab, 6), [1, 0, 1, 1, 1, 0].map(Some));
        let s = SchedState::new(Scheduler::Wrr, f, &ab);
        assert_eq!(picks(&s, &ab, 6), [1, 1, 1, 0, 1, 1].map(Some));
        // A first server of weight 0 leaves `cw` 0 (its `mw`), and the next
        // sets it to 1 all the same; so do weights with a gcd over 1.
        let zab = servers(&[0, 1, 3]);
        let s = SchedState::added(Scheduler::Wrr, f, &zab);
        assert_eq!(picks(&s, &zab, 6), [2, 1, 2, 2, 2, 1].map(Some));
        let even = servers(&[4, 2]);
        let s = SchedState::added(Scheduler::Wrr, f, &even);
        assert_eq!(picks(&s, &even, 5), [1, 0, 0, 1, 0].map(Some));
    }

    /// Two changes with no pick between them: the second carries the `cw`
    /// the first left (the pass its walk starts), not the pass of the pick
    /// before it. 4,3,2 picks A A B A (`cw` 2); to 4,3,1 and back to 4,3,2
    /// the kernel keeps `cw` 2 from the head: A B C, then 1: A B C, then the
    /// top: A.
    #[test]
    fn wrr_two_changes_in_a_row_keep_the_current_weight() {
        let f = SchedFlags::default();
        let (d, e) = (servers(&[4, 3, 2]), servers(&[4, 3, 1]));
        let s = Arc::new(SchedState::new(Scheduler::Wrr, f, &d));
        assert_eq!(picks(&s, &d, 4), [0, 1, 0, 2].map(Some));
        let s = SchedState::carry(&s, &d, Scheduler::Wrr, f, &e);
        let s = SchedState::carry(&s, &e, Scheduler::Wrr, f, &d);
        assert_eq!(picks(&s, &d, 8), [2, 1, 0, 2, 1, 0, 0, 1].map(Some));
    }

    /// A change after picks that brought `next` back to where the state
    /// started (a pick with no server sends it to the top, 0, then one
    /// pick) carries the current weight of the last pick, as
    /// `ip_vs_wrr_dest_changed` keeps the kernel's `cw`: 6 → 6,3 starts
    /// at 1 (`next` 1), the failed pick goes to 0, A's pick to 1 again
    /// with `cw` 6; to 6,2 the kernel keeps 6 and picks A. ringvs took
    /// `next` back at its start for "no pick since", the pass after the
    /// last pick's, and picked B (the model in `ip_vs_wrr.c`'s terms
    /// agrees: A).
    #[test]
    fn wrr_carries_the_last_pick_s_weight_after_a_failed_pick() {
        let f = SchedFlags::default();
        let (a, mut ab, a2b) = (servers(&[6]), servers(&[6, 3]), servers(&[6, 2]));
        let s = Arc::new(SchedState::new(Scheduler::Wrr, f, &a));
        let s = SchedState::carry(&s, &a, Scheduler::Wrr, f, &ab);
        ab.iter_mut().for_each(|x| x.over = true);
        assert_eq!(picks(&s, &ab, 1), [None]);
        ab[0].over = false;
        assert_eq!(picks(&s, &ab, 1), [Some(0)]);
        ab[1].over = false;
        let s = SchedState::carry(&s, &ab, Scheduler::Wrr, f, &a2b);
        assert_eq!(picks(&s, &a2b, 1), [Some(0)]);
    }

    /// No server available (all overloaded): the kernel's walk runs down
    /// its passes and stops at the top of the cycle (`err_over`), so the
    /// next picks start the cycle anew; begun in the last pass, it stops
    /// where it began.
    #[test]
    fn wrr_with_none_available_goes_back_to_the_top() {
        let f = SchedFlags::default();
        let mut d = servers(&[3, 2]);
        let s = SchedState::new(Scheduler::Wrr, f, &d);
        assert_eq!(picks(&s, &d, 2), [0, 1].map(Some));
        d.iter_mut().for_each(|x| x.over = true);
        assert_eq!(picks(&s, &d, 1), [None]);
        d.iter_mut().for_each(|x| x.over = false);
        assert_eq!(picks(&s, &d, 5), [0, 1, 0, 1, 0].map(Some));
        // Now in the last pass (B at 1): it stays there, A then the top.
        assert_eq!(picks(&s, &d, 4), [0, 1, 0, 1].map(Some));
        d.iter_mut().for_each(|x| x.over = true);
        assert_eq!(picks(&s, &d, 1), [None]);
        d.iter_mut().for_each(|x| x.over = false);
        assert_eq!(picks(&s, &d, 2), [0, 0].map(Some));
    }

    /// A server added and removed every 3 picks: the walk is not restarted
    /// at the heaviest server each time (which gave it all 9000 picks), so
    /// the shares are the kernel's (a model of `ip_vs_wrr.c`, the added
    /// server at the head of its list: 1504, 2998, 2998, 1500).
    #[test]
    fn a_flapping_server_does_not_starve_the_light_ones() {
        let f = SchedFlags::default();
        let (base, with) = (servers(&[5, 1, 1]), servers(&[5, 1, 1, 1]));
        let mut s = Arc::new(SchedState::new(Scheduler::Wrr, f, &base));
        let mut n = [0; 4];
        for round in 0..3000 {
            let (now, then) = match round % 2 {
                0 => (&base, &with),
                _ => (&with, &base),
            };
            for p in picks(&s, now, 3).into_iter().flatten() {
                n[p] += 1;
            }
            s = SchedState::carry(&s, now, Scheduler::Wrr, f, then);
        }
        assert_eq!(n, [1504, 2998, 2998, 1500]);
    }

    #[test]
    fn wrr_huge_weights_are_scaled() {
        let w: Vec<u32> = (0..40).map(|i| 65_535 - i).collect();
        let seq = wrr_sequence(&w);
        assert!(seq.len() <= MAX_WRR_CYCLE + 40);
        assert!((0..40).all(|i| seq.contains(&i)));
    }

    /// keepalived's largest weight (2^31 - 1, its `IPVS_WEIGHT_LIMIT`, which
    /// a keepalived.conf may give where `ipvsadm -w` stops at 65535), on
    /// busy servers whose weights sum past 32 bits: every scheduler picks
    /// (a debug build panics on an overflow), and the weighted ones weigh.
    #[test]
    fn keepalived_s_largest_weights_schedule() {
        let max = i32::MAX as u32;
        let mut d = servers(&[max, max, max, 1]);
        d[0] = d[0].conns(u32::MAX, u32::MAX);
        d[1] = d[1].conns(1000, 7);
        for kind in crate::config::ALL_SCHEDULERS {
            let s = SchedState::new(kind, SchedFlags::default(), &d);
            let got = picks(&s, &d, 64);
            assert!(got.iter().all(Option::is_some), "{kind}: {got:?}");
        }
        // wlc: the same load on weights 2^31 - 1 and 1 goes to the heavy one.
        let same = [D::w(max).conns(1000, 0), D::w(1).conns(1000, 0)];
        let s = SchedState::new(Scheduler::Wlc, SchedFlags::default(), &same);
        assert_eq!(picks(&s, &same, 1), [Some(0)]);
        // wrr: the cycle is scaled down, the light server keeps its turn.
        let seq = wrr_sequence(&[max, 1]);
        assert!(seq.len() <= MAX_WRR_CYCLE + 2, "{}", seq.len());
        assert_eq!(seq.iter().filter(|&&i| i == 1).count(), 1);
    }

    fn picks(s: &SchedState, d: &[D], n: usize) -> Vec<Option<usize>> {
        (0..n).map(|_| s.pick(&Flow::default(), d)).collect()
    }

    #[test]
    fn rr_skips_overloaded() {
        let mut d = servers(&[1, 1, 1]);
        d[1].over = true;
        let s = SchedState::new(Scheduler::Rr, SchedFlags::default(), &d);
        let got = picks(&s, &d, 6);
        assert_eq!(got, [2, 0, 2, 0, 2, 0].map(Some));
        d[0].over = true;
        d[2].w = 0;
        assert_eq!(picks(&s, &d, 2), [None, None]);
    }

    /// A pick that finds every server unavailable leaves rr's position, as
    /// `ip_vs_rr_schedule` returns without moving `sched_data`: the next
    /// picks resume after the last server chosen.
    #[test]
    fn rr_failed_pick_keeps_the_position() {
        let mut d = servers(&[1, 1, 1]);
        let s = SchedState::new(Scheduler::Rr, SchedFlags::default(), &d);
        assert_eq!(picks(&s, &d, 1), [Some(2)]);
        d.iter_mut().for_each(|x| x.over = true);
        assert_eq!(picks(&s, &d, 2), [None, None]);
        d.iter_mut().for_each(|x| x.over = false);
        assert_eq!(picks(&s, &d, 4), [1, 0, 2, 1].map(Some));
    }

    #[test]
    fn wrr_skips_unavailable_like_the_kernel_walk() {
        // 4,3,2 added as A, B, C is A B A C B A C B A (the kernel's list is
        // C B A); with B overloaded the kernel's walk gives A A C A C A.
        let mut d = servers(&[4, 3, 2]);
        let s = SchedState::new(Scheduler::Wrr, SchedFlags::default(), &d);
        assert_eq!(
            picks(&s, &d, 9).into_iter().flatten().collect::<Vec<_>>(),
            [0, 1, 0, 2, 1, 0, 2, 1, 0]
        );
        d[1].over = true;
        assert_eq!(
            picks(&s, &d, 12).into_iter().flatten().collect::<Vec<_>>(),
            [0, 0, 2, 0, 2, 0, 0, 0, 2, 0, 2, 0]
        );
        // Quiesced at pick time (before the snapshot is rebuilt): skipped too.
        d[1].over = false;
        d[0].w = 0;
        assert!(picks(&s, &d, 10).iter().all(|p| p.is_some_and(|i| i != 0)));
        d[1].w = 0;
        d[2].over = true;
        assert_eq!(picks(&s, &d, 3), [None, None, None]);
    }

    #[test]
    fn shared_by_worker_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<SchedState>();
        // rr from four threads at once: one counter, so exact shares.
        let d = servers(&[1, 1, 1, 1]);
        let s = SchedState::new(Scheduler::Rr, SchedFlags::default(), &d);
        let per: Vec<Vec<usize>> = std::thread::scope(|t| {
            let h: Vec<_> = (0..4)
                .map(|_| t.spawn(|| counts(10_000, 4, |_| s.pick(&Flow::default(), &d))))
                .collect();
            h.into_iter().map(|h| h.join().expect("no panic")).collect()
        });
        let total: Vec<usize> = (0..4).map(|i| per.iter().map(|c| c[i]).sum()).collect();
        assert_eq!(total, [10_000; 4]);
        // rr and wrr with overloaded servers skipped (overloaded, not
        // weight 0, which wrr's cycle leaves out and so never skips): each
        // pick moves the position past its server in one step, so two
        // threads never take the same server from one position (the shares
        // stay exact).
        let mut q = servers(&[1; 5]);
        q[1].over = true;
        q[3].over = true;
        for kind in [Scheduler::Rr, Scheduler::Wrr] {
            let s = SchedState::new(kind, SchedFlags::default(), &q);
            let per: Vec<Vec<usize>> = std::thread::scope(|t| {
                let h: Vec<_> = (0..4)
                    .map(|_| t.spawn(|| counts(30_000, 5, |_| s.pick(&Flow::default(), &q))))
                    .collect();
                h.into_iter().map(|h| h.join().expect("no panic")).collect()
            });
            let total: Vec<usize> = (0..5).map(|i| per.iter().map(|c| c[i]).sum()).collect();
            assert_eq!(total, [40_000, 0, 40_000, 0, 40_000], "{kind:?}");
        }
        // lblcr's cache from four threads: consistent, one set per destination.
        let s = SchedState::new(Scheduler::Lblcr, SchedFlags::default(), &d);
        std::thread::scope(|t| {
            for k in 0..4u32 {
                let (s, d) = (&s, &d);
                t.spawn(move || {
                    for v in 0..2000u32 {
                        let f = Flow {
                            vaddr: v,
                            vaddr_wide: v.into(),
                            now_s: k,
                            ..Flow::default()
                        };
                        assert!(s.pick(&f, d).is_some());
                    }
                });
            }
        });
        let SchedState::Lblcr(c) = &s else {
            unreachable!()
        };
        assert_eq!(c.len(), 2000);
        // Every server idle: the tie goes to the newest (the kernel's first).
        assert!((0..2000u32).all(|v| c.set_of(v.into()) == [3]));
    }
}
