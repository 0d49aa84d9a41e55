//! The core loop: one pass drains both RX queues and the handoff rings (a burst
//! each, every frame through [`Core::handle`]), kicks both TX queues once, then
//! does the per-pass housekeeping (frames waiting for ARP, connection expiry,
//! control requests, publishing counters).
//!
//! A [`Worker`] is its queues plus its [`Core`]; the core is everything else a
//! worker owns: its connection table, its counters, its queue of frames waiting
//! for ARP, and cached copies of the snapshots the control thread publishes (re-
//! loaded only when the shared epoch moves: one relaxed load per pass).

use super::pending::Pending;
use super::shared::{Env, Published, Shared};
use super::tx::{TxPair, ZeroCopy};
use crate::io::{RxQueue, TxQueue};
use crate::nat::{Conn, ConnTable, DestView, ServiceId, Snapshot, State};
use crate::neigh::{NeighEvent, NeighSnapshot};
use crate::stats::{Counters, Ctr};
use crate::{Nic, NicPair};
use crossbeam_channel::Sender;
use std::net::Ipv6Addr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Frames taken from one RX queue before the TX queues are kicked (default of
/// `--burst`).
pub const BURST: usize = 64;
/// Connections expired per loop at most (so expiry never stalls the fast path).
pub const EXPIRE_BUDGET: usize = 256;
/// Idle `poll()` timeout: bounds the latency of neighbor updates and control
/// requests when no traffic wakes the worker (a handoff rings its doorbell).
pub const IDLE_POLL_MS: i32 = 5;
/// The capacity of the IPv6 table when IPv6 is off (nothing is ever added:
/// no IPv6 service can be reached without IPv6 addresses).
const TABLE6_OFF: usize = 1;
/// Template shards each worker sweeps per second.
const SWEEP_SHARDS: usize = 4;

/// The channels that connect a worker to the others and to the control thread.
pub struct Links {
    /// This worker's ends of the handoff rings (see [`super::handoff`]).
    pub handoffs: super::handoff::Handoffs,
    pub neigh_tx: Sender<NeighEvent>,
    /// This worker's ends of the connection-sync channels (see [`super::sync`]).
    pub(super) sync: Option<super::sync::SyncLink>,
}

/// The worker's view of time: the pass's instant, and whole seconds since start
/// (the unit of connection timeouts).
pub(super) struct Clock {
    pub start: Instant,
    pub now: Instant,
    pub now_s: u32,
    /// When `now_s` moves on: `start` + `now_s` + 1 s.
    next_s: Instant,
}

/// What the worker caches of [`Shared`], re-loaded when the epoch moves.
pub(super) struct Cached {
    pub epoch: u64,
    pub cfg: Arc<Snapshot>,
    pub neigh: Arc<NeighSnapshot>,
    /// Every worker's published state (their gauges), from `Shared::peers`.
    pub peers: Arc<Vec<Arc<Published>>>,
    /// What is attached for capture/trace: `None` (nothing attached) costs one
    /// predictable branch per frame.
    pub tap: Option<Arc<crate::observe::Tap>>,
}

/// Everything of a worker but its queues.
pub struct Core {
    pub id: usize,
    pub workers: usize,
    /// Steer TCP/UDP frames to the worker owning their client key (see
    /// [`super::Plan::steer`]).
    pub(super) steer: bool,
    /// Hand frames to other workers by their descriptors: every worker's
    /// queues share one UMEM (see `hand_off`).
    pub(super) lend_handoffs: bool,
    /// Frames per RX queue per loop (`--burst`).
    pub burst: usize,
    pub table: crate::nat::ConnTable,
    /// The IPv6 connections (`nat6.rs`): `--max-conns` of them when IPv6 is
    /// on ([`super::Env::ipv6`]), else a token table nothing is added to.
    pub table6: crate::nat::ConnTable<Ipv6Addr>,
    pub ctr: Counters,
    pub(super) env: Arc<Env>,
    pub(super) shared: Arc<Shared>,
    pub(super) snap: Cached,
    pub(super) out: Arc<Published>,
    pub(super) links: Links,
    pub(super) pending: Pending,
    /// The frame being handled may be sent from its own buffer (`tx.rs`).
    pub(super) zc: ZeroCopy,
    pub(super) clock: Clock,
    /// Candidate views for schedulers that look at connection counts: room for
    /// the largest service is reserved when a snapshot arrives, never per packet.
    pub(super) scratch: Vec<DestView>,
    /// Second of the last template sweep, and the next shard to sweep.
    swept_s: u32,
    sweep_at: usize,
    /// The second in which expiry last ran to the end of every list (none
    /// left over for want of budget): until the clock's next second or a
    /// new configuration nothing more can expire, since `seen` and the
    /// clock count whole seconds and every timeout is at least one.
    expired_s: u32,
    /// Time per non-empty batch (recorded in `Worker::run`).
    batch: crate::stats::BatchRecorder,
    /// The listing being served, in steps (see [`Core::listings`]).
    pub(super) walk: Option<super::listing::Walk>,
    /// Connection sync and the HA role (see [`super::sync`]).
    pub(super) sync: super::sync::SyncLink,
    /// The lookups started for the burst being drained (`batch.rs`).
    pub(super) ahead: super::batch::Ahead,
    /// Scratch frames of cold paths: a tunnelled frame is built in
    /// `encap_buf` (`direct.rs`; `encap_ident`: the outer IP id), a packet
    /// to fragment rewritten and cut in `frag_buf` (`tx.rs`, two frames).
    pub(super) encap_buf: Vec<u8>,
    pub(super) encap_ident: u16,
    pub(super) frag_buf: Vec<u8>,
    /// Fragments' datagrams in flight, fragments held (`frag.rs`).
    pub(super) frags: super::frag_table::Frags,
    /// The frames `drain_handoffs` took out of the rings, room for a burst.
    pub(super) handed: Vec<super::handoff::Received>,
    /// The FTP helper's control connections and scratch frame (`ftp.rs`).
    pub(super) ftp: super::ftp::Helper,
    /// A connection a SYN reused, in the gauges till [`Core::settle_reused`].
    pub(super) reused: Option<(crate::config::DestId, bool)>,
    /// The flush of removed servers' connections (`nodest.rs`).
    pub(super) nodest: super::nodest::Flush,
}

/// A worker: its queues on both NICs and its [`Core`].
pub struct Worker<R, T> {
    pub rx: NicPair<R>,
    pub tx: TxPair<T>,
    pub core: Core,
    /// The thread runs under `SCHED_FIFO` (`--rt-priority`): an idle pass
    /// that must let the CPU's other work run sleeps briefly rather than
    /// yields ([`relinquish`]).
    pub realtime: bool,
}

impl<R: RxQueue, T: TxQueue> Worker<R, T> {
    /// Worker `id` of `workers`. Called by [`super::build`], which wires the links.
    pub(super) fn new(
        id: usize,
        rx: NicPair<R>,
        tx: TxPair<T>,
        core: CoreParts,
        mut links: Links,
    ) -> Self {
        let CoreParts {
            workers,
            steer,
            lend_handoffs,
            env,
            shared,
            out,
            max_conns,
            burst,
            start,
        } = core;
        shared.register(&out);
        let cfg = shared.config.load_full();
        let sync = links
            .sync
            .take()
            .unwrap_or_else(|| super::sync::channels(1).1.remove(0));
        let mut core = Core {
            id,
            workers,
            steer,
            lend_handoffs,
            burst,
            scratch: Vec::with_capacity(cfg.max_dests),
            swept_s: 0,
            expired_s: u32::MAX,
            sweep_at: id * SWEEP_SHARDS,
            snap: Cached {
                epoch: shared.epoch.load(Ordering::Acquire),
                peers: shared.peers.load_full(),
                neigh: shared.neigh.load_full(),
                tap: shared.tap.current(),
                cfg,
            },
            batch: crate::stats::BatchRecorder::default(),
            walk: None,
            table: ConnTable::with_capacity_hinted(max_conns, crate::io::ring::advise_huge),
            table6: ConnTable::with_capacity_hinted(
                if env.ipv6() { max_conns } else { TABLE6_OFF },
                crate::io::ring::advise_huge,
            ),
            env,
            shared,
            ctr: Counters::default(),
            out,
            links,
            pending: Pending::new(start),
            zc: ZeroCopy::default(),
            clock: Clock {
                start,
                now: start,
                now_s: 0,
                next_s: start + Duration::from_secs(1),
            },
            sync,
            ahead: super::batch::Ahead::new(),
            encap_buf: vec![0; crate::io::FRAME_MAX + 64],
            encap_ident: 0,
            frag_buf: vec![0; 2 * (crate::io::FRAME_MAX + 64)],
            frags: Default::default(),
            handed: Vec::with_capacity(burst),
            ftp: Default::default(),
            reused: None,
            nodest: Default::default(),
        };
        core.refresh_ha();
        Self {
            rx,
            tx,
            core,
            realtime: false,
        }
    }

    /// Run until the shared stop flag is set. `busy` spins instead of sleeping in
    /// `poll()` when idle.
    pub fn run(&mut self, busy: bool) {
        let mut fds = Vec::with_capacity(2);
        fds.extend(self.rx[Nic::Ext].poll_fd());
        fds.extend(self.rx[Nic::Int].poll_fd());
        fds.extend(self.core.links.handoffs.wake_fd());
        let mut last_stats = Instant::now();
        // Per NIC: whether busy polling's NAPI was checked (`busy_napi_note`).
        let mut napi_checked = [!busy; 2];
        // Idle passes in a row with frames left unsent or a fill ring short
        // (`idle`).
        let mut unsent_passes = 0;
        let mut published = Instant::now();
        while !self.core.shared.stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            let n = self.pass(now);
            if n > 0 {
                self.core.batch.record(now.elapsed());
            }
            // The counters for readers: after an idle pass (before any
            // sleep), and every PUBLISH_EVERY while busy, rather than after
            // every pass (a hundred stores, a third of a small pass's fixed
            // work).
            if n == 0 || now.duration_since(published) >= PUBLISH_EVERY {
                self.core.publish();
                published = now;
            }
            if now.duration_since(last_stats) >= Duration::from_secs(1) {
                last_stats = now;
                self.core.batch.publish(&self.core.out.batch);
                self.take_queue_counts();
                for (nic, ctr) in [(Nic::Ext, Ctr::RxExt), (Nic::Int, Ctr::RxInt)] {
                    if napi_checked[nic as usize] {
                        continue;
                    }
                    let received = self.core.ctr.get(ctr);
                    let (done, note) =
                        busy_napi_note(self.core.id, nic, received, self.rx[nic].busy_napi());
                    napi_checked[nic as usize] = done;
                    if let Some(note) = note {
                        crate::log!("{note}");
                    }
                }
            }
            // Only an idle pass asks (a busy one flushes and refills anyway).
            let unsent = n == 0
                && (self.tx[Nic::Ext].unsent()
                    || self.tx[Nic::Int].unsent()
                    || self.rx[Nic::Ext].starved()
                    || self.rx[Nic::Int].starved()
                    || self.core.frags.stalled());
            unsent_passes = if unsent { unsent_passes + 1 } else { 0 };
            match idle(n, self.core.walking(), busy, unsent_passes) {
                Idle::Work => {}
                Idle::Spin => std::hint::spin_loop(),
                Idle::Yield => relinquish(self.realtime),
                Idle::Sleep => {
                    let h = &self.core.links.handoffs;
                    // After saying so, look at the epoch and the listings: a
                    // snapshot published (a listing buffer given) before that is
                    // taken now, one after rings the doorbell in `fds`
                    // (`Shared::bump`, `Listing::poll`), as another worker's
                    // handoff does.
                    if h.sleep() {
                        if self.core.shared.epoch.load(Ordering::SeqCst) == self.core.snap.epoch
                            && !self.core.listing()
                        {
                            crate::io::ring::poll_readable(&fds, IDLE_POLL_MS);
                        }
                        h.woke();
                    }
                }
            }
        }
        self.drain_at_stop();
        self.finish();
    }

    /// At stop, forward what the RX rings already hold, rather than leave
    /// it to the closing sockets: AF_XDP's programs are detached by now
    /// (`control::startup::stop_workers`), so no more comes, and AF_PACKET's
    /// rings get only what arrives meanwhile. What other workers hand it,
    /// draining theirs, is taken too. Bursts until one finds the rings and
    /// the handoffs empty, [`STOP_DRAIN_BURSTS`] at most; a frame owned by
    /// another worker is handed to it as ever, and given back to its UMEM,
    /// counted in `drop_handoff_stopped`, if that worker's drain is over
    /// (`finish`). Returns the frames handled.
    pub fn drain_at_stop(&mut self) -> usize {
        let mut total = 0;
        for _ in 0..STOP_DRAIN_BURSTS {
            let core = &mut self.core;
            core.set_time(Instant::now());
            let n = drain(core, Nic::Ext, &mut self.rx[Nic::Ext], &mut self.tx)
                + drain(core, Nic::Int, &mut self.rx[Nic::Int], &mut self.tx)
                + core.drain_handoffs(&mut self.rx, &mut self.tx);
            core.ctr.add(Ctr::TxExt, self.tx[Nic::Ext].flush() as u64);
            core.ctr.add(Ctr::TxInt, self.tx[Nic::Int].flush() as u64);
            total += n;
            if n == 0 {
                break;
            }
        }
        total
    }

    /// Stop: once no worker sends any more (each one calls this; one that is
    /// gone is waited for 1 s), give the frames still in this worker's
    /// handoff rings back to their UMEM, and publish the last counters.
    /// Returns how many frames came back. After the wait runs out the rings
    /// are emptied all the same: what a late sender adds afterwards is lost
    /// to the UMEM, but nothing that was there already is.
    pub fn finish(&mut self) -> usize {
        self.core.links.handoffs.finish(Duration::from_secs(1));
        let n = self.core.give_back_handoffs(&mut self.rx);
        self.core.ctr.add(Ctr::DropHandoffStopped, n as u64);
        // What the queues counted since the last second's read: it was lost
        // at exit, where the UMEM's bookkeeping note points to it.
        self.take_queue_counts();
        self.core.publish();
        self.core.batch.publish(&self.core.out.batch);
        n
    }

    /// Add what the queues counted since the last call (the kernel's drops,
    /// AF_XDP's bad addresses): syscalls, once a second and at the end.
    fn take_queue_counts(&mut self) {
        let k = self.rx[Nic::Ext].take_kernel_drops() + self.rx[Nic::Int].take_kernel_drops();
        self.core.ctr.add(Ctr::KernelDrop, k.ring_full);
        self.core.ctr.add(Ctr::XdpFillEmpty, k.fill_empty);
        self.core.ctr.add(Ctr::XdpTxInvalid, k.tx_invalid);
        let bad = self.rx[Nic::Ext].take_bad_addrs()
            + self.rx[Nic::Int].take_bad_addrs()
            + self.tx[Nic::Ext].take_bad_addrs()
            + self.tx[Nic::Int].take_bad_addrs();
        self.core.ctr.add(Ctr::XdpBadAddr, bad);
        let rejected = self.tx[Nic::Ext].take_rejected() + self.tx[Nic::Int].take_rejected();
        self.core.ctr.add(Ctr::TxRejected, rejected);
    }

    /// One pass: refresh snapshots, drain both RX queues and the handoff rings (up
    /// to a burst each), kick the TX queues, expire, and publish the counters.
    /// Returns the frames handled.
    pub fn poll_once(&mut self, now: Instant) -> usize {
        let n = self.pass(now);
        self.core.publish();
        n
    }

    /// [`Worker::poll_once`] without publishing (`run` publishes at its own
    /// pace).
    fn pass(&mut self, now: Instant) -> usize {
        let core = &mut self.core;
        core.set_time(now);
        if core.refresh() {
            core.flush_pending(&mut self.tx);
        }
        let n = drain(core, Nic::Ext, &mut self.rx[Nic::Ext], &mut self.tx);
        let m = drain(core, Nic::Int, &mut self.rx[Nic::Int], &mut self.tx);
        let h = core.drain_handoffs(&mut self.rx, &mut self.tx);
        core.housekeep(&mut self.tx);
        core.ctr.add(Ctr::TxExt, self.tx[Nic::Ext].flush() as u64);
        core.ctr.add(Ctr::TxInt, self.tx[Nic::Int].flush() as u64);
        core.expire();
        core.sync_installs();
        core.sync_resend();
        core.requests();
        n + m + h
    }
}

/// Idle passes in a row a worker with frames left unsent (or a fill ring
/// short of frames still out for sending: `RxQueue::starved`) yields its CPU
/// instead of sleeping, so the next pass's flush sends them and takes back
/// what the kernel sent (no frame waits for the idle poll's timeout behind a
/// refused kick or a late completion); past them, a queue
/// that stays stuck (a device that refuses everything) is retried at the
/// idle poll's pace rather than spun on.
pub const UNSENT_PASSES: u32 = 256;

/// Bursts per NIC a stopping worker drains at most ([`Worker::drain_at_stop`]):
/// 64 bursts of the default 64 frames cover a default ring (2048 frames)
/// twice over.
pub const STOP_DRAIN_BURSTS: usize = 64;

/// How long a real-time worker steps aside for the CPU's other work
/// ([`relinquish`]).
pub const RT_STEP_ASIDE: Duration = Duration::from_micros(20);

/// Let the CPU's other work run before the next pass ([`Idle::Yield`]). A
/// `SCHED_OTHER` worker yields. A `SCHED_FIFO` one sleeps [`RT_STEP_ASIDE`]
/// instead: `sched_yield` only hands the CPU to real-time tasks of its own
/// priority, so the work it waits for (the receive softirq in `ksoftirqd`, a
/// threaded NAPI kthread completing its sends, both `SCHED_OTHER`) would
/// not run before its next pass, and the worker would spin through
/// [`UNSENT_PASSES`] passes for nothing. A frame that arrives during the
/// sleep waits for its end (at most 20 µs; only in these rare passes).
fn relinquish(realtime: bool) {
    if realtime {
        std::thread::sleep(RT_STEP_ASIDE);
    } else {
        std::thread::yield_now();
    }
}

/// How stale a busy worker's published counters may get (`Worker::run`).
pub const PUBLISH_EVERY: Duration = Duration::from_millis(1);

/// What a worker does after a pass.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Idle {
    /// Another pass at once: the pass had work, or a walk (listing, flush) runs.
    Work,
    /// `--busy-poll`: spin.
    Spin,
    /// Frames are left unsent, or a fill ring is short: let the CPU's other
    /// work (the receive softirq that drains the device's backlog, the
    /// driver's completions) run, then flush and refill again.
    Yield,
    /// Sleep in `poll()` until a frame, a handoff or the timeout.
    Sleep,
}

/// [`Idle`] after a pass that handled `n` frames, `unsent_passes` the idle
/// passes in a row that ended with frames unsent (0 if none are).
pub(super) fn idle(n: usize, walking: bool, busy: bool, unsent_passes: u32) -> Idle {
    if n > 0 || walking {
        Idle::Work
    } else if busy {
        Idle::Spin
    } else if unsent_passes > 0 && unsent_passes <= UNSENT_PASSES {
        Idle::Yield
    } else {
        Idle::Sleep
    }
}

/// `--busy-poll` on AF_XDP drives a NIC queue's NAPI from the worker's own
/// syscalls only once the kernel has given the socket that NAPI's id, which
/// it does with the first frame, on drivers that register ids for their
/// queues (veth's XDP queues register none here: its sockets keep id 0).
/// Once `nic` has `received` frames, say so once if its socket has no NAPI to
/// drive (`napi`: [`RxQueue::busy_napi`]). Returns whether the check is done,
/// and the line to log.
pub(super) fn busy_napi_note(
    worker: usize,
    nic: Nic,
    received: u64,
    napi: Option<bool>,
) -> (bool, Option<String>) {
    match napi {
        None | Some(true) => (true, None),
        Some(false) if received == 0 => (false, None),
        Some(false) => (
            true,
            Some(format!(
                "ringvs: worker {worker}: --busy-poll has no NAPI to drive on the {} NIC \
                 (its AF_XDP socket got no NAPI id from the driver): frames arrive when the \
                 kernel runs the queue's NAPI itself",
                match nic {
                    Nic::Ext => "external",
                    Nic::Int => "internal",
                }
            )),
        ),
    }
}

/// What a [`Core`] is made of besides its id and links (see [`super::build`]).
pub(super) struct CoreParts {
    pub workers: usize,
    pub steer: bool,
    /// Every worker's queues share one UMEM: hand frames off by descriptor.
    pub lend_handoffs: bool,
    pub env: Arc<Env>,
    pub shared: Arc<Shared>,
    pub out: Arc<Published>,
    pub max_conns: usize,
    pub burst: usize,
    pub start: Instant,
}

/// Handle up to a burst of frames from one RX queue. Returns how many.
#[inline]
fn drain<R: RxQueue, T: TxQueue>(
    core: &mut Core,
    nic: Nic,
    rx: &mut R,
    tx: &mut TxPair<T>,
) -> usize {
    // Start the burst's table lookups, so their cache misses overlap (batch.rs).
    core.prefetch(nic, rx, core.burst);
    // Zero copy (tx.rs): where `forward` decides to send the frame from its
    // own buffer, it is rewritten and sent once `handle` has let go of it.
    let in_place = core.in_place_to(nic, rx, tx);
    let mut n = 0;
    while n < core.burst {
        core.prefetch_entry(nic, n + super::batch::ENTRY_AHEAD);
        let Some(f) = rx.peek() else { break };
        core.ahead.at = n;
        core.zc.out = in_place;
        core.handle(nic, f.data, f.meta, false, tx);
        core.zc.out = None;
        match (core.zc.verdict.take(), core.zc.handoff.take()) {
            (Some(v), _) => core.send_in_place(v, rx, tx),
            (None, Some(h)) => core.lend_to(h, nic, rx),
            (None, None) => rx.advance(),
        }
        n += 1;
    }
    core.ahead.at = super::batch::AHEAD;
    n
}

impl Core {
    /// Every pass: one compare of instants, and the whole seconds since
    /// start (a subtraction and a division) only when they change.
    fn set_time(&mut self, now: Instant) {
        let c = &mut self.clock;
        c.now = now;
        if now >= c.next_s {
            let s = now.saturating_duration_since(c.start).as_secs();
            c.now_s = s as u32;
            c.next_s = c.start + Duration::from_secs(s + 1);
        }
    }

    /// Re-load the snapshots if the control thread published new ones. Returns true
    /// when the neighbor snapshot changed.
    fn refresh(&mut self) -> bool {
        let e = self.shared.epoch.load(Ordering::Acquire);
        let s = &mut self.snap;
        if e == s.epoch {
            return false;
        }
        s.epoch = e;
        // New timeouts may expire connections within this second.
        self.expired_s = u32::MAX;
        self.refresh_ha();
        let mtu = self
            .shared
            .mtu
            .each_ref()
            .map(|m| m.load(Ordering::Relaxed));
        if mtu.iter().zip(self.env.mtu).any(|(&m, e)| m != 0 && m != e) {
            let env = Arc::make_mut(&mut self.env);
            for (e, m) in env.mtu.iter_mut().zip(mtu) {
                *e = if m == 0 { *e } else { m };
            }
        }
        let s = &mut self.snap;
        s.tap = self.shared.tap.current();
        let old = std::mem::replace(&mut s.cfg, self.shared.config.load_full());
        s.peers = self.shared.peers.load_full();
        self.scratch.clear();
        self.scratch.reserve(s.cfg.max_dests);
        let neigh = self.shared.neigh.load_full();
        let changed = !Arc::ptr_eq(&neigh, &s.neigh);
        s.neigh = neigh;
        // Loaded only now that the tap and the rest are (`Shared::loaded`).
        self.out.loaded.store(e, Ordering::Release);
        self.start_flush(&old, e);
        changed
    }

    /// Counters and the connections by state, of both tables.
    fn publish(&self) {
        self.out.counters.publish(&self.ctr);
        self.out.counters.publish_conns6(self.table6.len());
        let both = self.table.counts().iter().zip(self.table6.counts());
        for (s, (n, n6)) in self.out.states.iter().zip(both) {
            s.store(u64::from(*n) + u64::from(*n6), Ordering::Relaxed);
        }
    }

    fn expire(&mut self) {
        self.flush_nodest();
        if self.clock.now_s != self.expired_s {
            let (n4, used4) = self.expire_of::<u32>(EXPIRE_BUDGET);
            let (n6, used6) = if self.table6.is_empty() {
                (0, 0)
            } else {
                self.expire_of::<Ipv6Addr>(EXPIRE_BUDGET)
            };
            // Done for this second unless the budget ran out (held FTP
            // control connections use it too).
            if used4 < EXPIRE_BUDGET && used6 < EXPIRE_BUDGET {
                self.expired_s = self.clock.now_s;
            }
            self.ctr.add(Ctr::ConnExpired, (n4 + n6) as u64);
            self.expire_held(self.clock.now_s);
            self.ftp_sweep();
        }
        let now_s = self.clock.now_s;
        if now_s != self.swept_s {
            self.swept_s = now_s;
            self.sweep_at = self.sweep_templates(self.sweep_at, SWEEP_SHARDS);
        }
    }

    /// Expire at most `budget` connections of one family's table: their
    /// gauges and templates let go. Returns how many, and how much of the
    /// budget was used.
    fn expire_of<A: super::nat::Family>(&mut self, budget: usize) -> (usize, usize) {
        let (now_s, ftp) = (self.clock.now_s, self.env.ftp);
        // Those kept, for a sync master to report (one per unit of budget
        // at most).
        let (reporting, mut kept, mut n_kept) = (self.sync.reporting(), [0; EXPIRE_BUDGET], 0);
        let sp = A::split(self);
        let (gauges, templates, cfg) = (&sp.out.gauges, A::templates(sp.shared), sp.snap);
        let (shared, overload) = (
            sp.shared,
            super::overload::Overload::of(sp.snap, sp.peers, sp.shared),
        );
        // An FTP control connection is held while it has data connections
        // (`ftp.rs`).
        let keep = |i, c: &crate::nat::Conn<A>| {
            let held = super::ftp::ftp_holds(&ftp, shared, c);
            if held && reporting && n_kept < kept.len() {
                (kept[n_kept], n_kept) = (i, n_kept + 1);
            }
            held
        };
        let done = sp
            .table
            .expire_keeping(now_s, &cfg.timeouts, budget, keep, |c, at| {
                gauges.adjust(c.dest(), Some(c.state.is_active()), None);
                overload.unbound(c.dest());
                super::template::release_template(templates, c, at, now_s);
                super::ftp::ftp_left(&ftp, shared, c);
            });
        if n_kept > 0 {
            self.sync_report_rearmed::<A>(&kept[..n_kept]);
        }
        done
    }

    /// Serve the control thread's requests (one relaxed load when there are none).
    fn requests(&mut self) {
        self.listings();
    }

    /// The candidates a new connection of service `svc` would be scheduled from
    /// now: connection counts over all workers and overload flags (diagnostics
    /// and tests; `None` if there is no such service).
    pub fn candidates(&mut self, svc: ServiceId) -> Option<Vec<DestView>> {
        let s = self.snap.cfg.services.get(&svc)?;
        super::overload::fill_views(
            &mut self.scratch,
            &s.dests,
            &self.snap.peers,
            &self.shared.overload,
        );
        Some(self.scratch.clone())
    }

    /// Connections of this worker, for listings.
    pub fn conns(&self) -> impl Iterator<Item = &Conn> {
        self.table.iter()
    }

    /// Connections of this worker in state `s`, of both families.
    pub fn state_count(&self, s: State) -> u32 {
        self.table.counts()[s as usize] + self.table6.counts()[s as usize]
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicU64};

    /// A real-time worker stepping aside ([`relinquish`]) lets `SCHED_OTHER`
    /// work on its CPU run, where `sched_yield` does not: a counter spun by a
    /// normal thread pinned to the same CPU advances across the real-time
    /// thread's steps only with the sleep. Needs `SCHED_FIFO` (root): under
    /// CI a refusal fails the test.
    #[test]
    fn a_real_time_worker_stepping_aside_lets_other_work_on_its_cpu_run() {
        let cpu = core_affinity::get_core_ids()
            .and_then(|c| c.last().copied())
            .expect("a CPU to pin to");
        let (stop, spun, spinning) = (
            AtomicBool::new(false),
            AtomicU64::new(0),
            AtomicBool::new(false),
        );
        // 100 yields; then steps aside until the spinner moves, for at most
        // 200 ms (other tasks of the CPU may take the first gaps; less than
        // the 950 ms after which RT throttling would let it run anyway).
        let yields = || {
            let c0 = spun.load(Ordering::SeqCst);
            for _ in 0..100 {
                relinquish(false);
            }
            spun.load(Ordering::SeqCst) - c0
        };
        let steps_aside = || {
            let (c0, t) = (spun.load(Ordering::SeqCst), Instant::now());
            while spun.load(Ordering::SeqCst) == c0 && t.elapsed() < Duration::from_millis(200) {
                relinquish(true);
            }
            spun.load(Ordering::SeqCst) - c0
        };
        let got = std::thread::scope(|s| {
            s.spawn(|| {
                assert!(core_affinity::set_for_current(cpu), "pinning the spinner");
                spinning.store(true, Ordering::SeqCst);
                while !stop.load(Ordering::SeqCst) {
                    spun.fetch_add(1, Ordering::SeqCst);
                }
            });
            while !spinning.load(Ordering::SeqCst) {
                std::thread::yield_now();
            }
            let rt = s.spawn(|| {
                let pinned = core_affinity::set_for_current(cpu);
                crate::io::ring::set_fifo(1).map(|()| (pinned, yields(), steps_aside()))
            });
            let got = rt.join();
            stop.store(true, Ordering::SeqCst);
            got.expect("real-time thread")
        });
        let (pinned, yielding, stepping_aside) = match got {
            Ok(g) => g,
            Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
                return eprintln!("skipping: SCHED_FIFO refused: {e}");
            }
            Err(e) => panic!("SCHED_FIFO refused under CI: {e}"),
        };
        assert!(pinned, "pinning the real-time thread");
        assert_eq!(yielding, 0, "sched_yield let a SCHED_OTHER thread run");
        assert!(stepping_aside > 0, "the other thread never ran");
    }

    /// Frames left unsent keep an idle worker from sleeping for a bounded
    /// number of passes; work, listings and busy polling as before.
    #[test]
    fn unsent_frames_are_flushed_again_before_the_worker_sleeps() {
        assert_eq!(idle(3, false, false, 0), Idle::Work);
        assert_eq!(idle(0, true, false, 0), Idle::Work);
        assert_eq!(idle(0, false, true, 5), Idle::Spin);
        assert_eq!(idle(0, false, false, 0), Idle::Sleep);
        assert_eq!(idle(0, false, false, 1), Idle::Yield);
        assert_eq!(idle(0, false, false, UNSENT_PASSES), Idle::Yield);
        assert_eq!(idle(0, false, false, UNSENT_PASSES + 1), Idle::Sleep);
    }

    #[test]
    fn busy_napi_is_told_once_frames_came_without_it() {
        // Not busy polling, or a NAPI to drive: nothing to say, done.
        assert_eq!(busy_napi_note(0, Nic::Ext, 0, None), (true, None));
        assert_eq!(busy_napi_note(0, Nic::Ext, 5, Some(true)), (true, None));
        // No frame yet: the kernel sets the id with the first; ask again later.
        assert_eq!(busy_napi_note(0, Nic::Int, 0, Some(false)), (false, None));
        // Frames came and still no id: said once, for that NIC.
        let (done, note) = busy_napi_note(1, Nic::Int, 7, Some(false));
        assert!(done);
        let note = note.unwrap_or_default();
        assert!(
            note.starts_with("ringvs: worker 1: --busy-poll has no NAPI"),
            "{note}"
        );
        assert!(note.contains("internal NIC"), "{note}");
    }
}
