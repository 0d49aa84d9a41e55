//! The per-core loop: RX burst → classify → NAT / neighbor / local reply → TX burst.
//!
//! A [`Worker`] owns an RX and a TX queue on each NIC, its connection table, its
//! counters and its queue of frames waiting for ARP. It reads the configuration and
//! neighbor snapshots the control thread publishes, re-loading them only when the
//! shared epoch moves (one relaxed load per loop). Per packet it takes no lock,
//! makes no syscall and allocates nothing: the TX queues are kicked once per burst.
//!
//! Per real server it counts connections, packets and bytes into its own
//! [`DestTraffic`] (relaxed load + store, single writer). New connections are
//! scheduled from views that sum every worker's [`DestGauges`] (through
//! [`Shared::peers`]) and keep IPVS's overload flag per server in
//! [`Shared::overload`], only for schedulers and services that need them. The one
//! lock a worker takes outside control requests is a persistence-template shard
//! (`nat::persist`), when a connection of a persistent service is created or
//! leaves its table. Control requests (`-Z`, connection listings) are flags the
//! loop checks once per pass.

use crate::Nic;
use crate::io::{RxMeta, RxQueue, TxQueue, fanout};
use crate::nat::persist::{TemplateDest, TemplateKey, Templates};
use crate::nat::rewrite;
use crate::nat::table::AddError;
use crate::nat::{
    Conn, ConnInfo, ConnTable, DestEntry, DestView, Dir, FlowKey, ServiceId, Snapshot, State,
    overload_check, state,
};
use crate::neigh::{self, NeighEvent, NeighSnapshot, Prefix};
use crate::sched::Flow;
use crate::stats::{Counters, Ctr, DestGauges, DestStats, DestTraffic, MAX_DESTS, SharedCounters};
use crate::wire::arp::{self, ArpPacket};
use crate::wire::ethernet::{self, EthernetFrame};
use crate::wire::icmpv4::msg;
use crate::wire::ipv4::{Ipv4Packet, protocol};
use crate::wire::{Mac, checksum};
use arc_swap::ArcSwap;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Frames taken from one RX queue before the TX queues are kicked (default of
/// `--burst`).
pub const BURST: usize = 64;
/// Connections expired per loop at most (so expiry never stalls the fast path).
pub const EXPIRE_BUDGET: usize = 256;
/// Idle `poll()` timeout: bounds the latency of handoffs and neighbor updates
/// when no traffic wakes the worker.
pub const IDLE_POLL_MS: i32 = 5;
/// Frames queued per unresolved next hop, and next hops resolved at once.
pub const PENDING_PER_HOP: usize = 4;
pub const PENDING_HOPS: usize = 16;
/// How long a frame may wait for its next hop.
pub const PENDING_MAX_AGE: Duration = Duration::from_secs(3);
/// Largest frame a handoff or pending slot holds.
pub const FRAME_MAX: usize = 2048;
/// Most entries (connections and templates) one worker's listing holds.
pub const MAX_LISTING: usize = 1 << 20;
/// Template shards each worker sweeps per second.
const SWEEP_SHARDS: usize = 4;

/// The director's fixed facts a worker needs: its NICs and addresses.
#[derive(Clone, Debug)]
pub struct Env {
    pub mac: [Mac; 2],
    pub mtu: [usize; 2],
    /// The director's external address and on-link prefix.
    pub ext_net: Prefix,
    pub gateway: Option<Ipv4Addr>,
    /// The DIP and the internal prefix.
    pub int_net: Prefix,
    /// Benchmark mode: move IPv4 frames to the other NIC (next hop by destination
    /// address, MACs rewritten) without NAT or connection tracking — the ceiling of
    /// the I/O path. ARP and ping are answered as usual.
    pub io_only: bool,
    /// The fanout programs' hash key (to find the worker owning a flow).
    pub fanout_key: u32,
    /// IPVS's `expire_nodest_conn`: a packet of a connection whose real server
    /// was removed expires the connection and is dropped. Off (default), such
    /// connections keep flowing until they expire.
    pub expire_nodest_conn: bool,
}

impl Env {
    fn ext_addr(&self) -> u32 {
        u32::from(self.ext_net.addr)
    }
    fn dip(&self) -> u32 {
        u32::from(self.int_net.addr)
    }
}

/// What the control thread publishes to every worker.
pub struct Shared {
    pub config: ArcSwap<Snapshot>,
    pub neigh: ArcSwap<NeighSnapshot>,
    /// Bumped after either snapshot is replaced.
    pub epoch: AtomicU64,
    pub stop: AtomicBool,
    /// Every worker's published state, so that a worker scheduling a connection
    /// can sum the connection gauges of all workers. Workers register themselves
    /// in [`Worker::new`].
    pub peers: ArcSwap<Vec<Arc<Published>>>,
    /// IPVS's overload flag per `DestId % MAX_DESTS` (see [`overload_check`]).
    pub overload: Box<[AtomicU32]>,
    /// Persistence templates, shared by all workers (see `nat::persist`).
    pub templates: Templates,
    /// Health checks: check replies to divert, suspect servers (`crate::health`).
    pub health: crate::health::Tap,
    /// What `ringvs capture` / `ringvs trace` attached (see `crate::observe`).
    pub tap: crate::observe::TapSlot,
}

impl Shared {
    pub fn new(config: Snapshot) -> Self {
        Self {
            config: ArcSwap::from_pointee(config),
            neigh: ArcSwap::from_pointee(NeighSnapshot::default()),
            epoch: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            peers: ArcSwap::from_pointee(Vec::new()),
            overload: (0..MAX_DESTS).map(|_| AtomicU32::new(0)).collect(),
            templates: Templates::default(),
            health: crate::health::Tap::default(),
            tap: crate::observe::TapSlot::default(),
        }
    }

    /// Add a worker's published state to `peers` (at start).
    pub fn register(&self, p: &Arc<Published>) {
        self.peers.rcu(|v| {
            let mut v = Vec::clone(v);
            v.push(Arc::clone(p));
            v
        });
        self.bump();
    }

    pub fn bump(&self) {
        self.epoch.fetch_add(1, Ordering::Release);
    }
}

/// What a worker publishes for the control thread.
#[derive(Debug, Default)]
pub struct Published {
    pub counters: SharedCounters,
    pub gauges: DestGauges,
    /// Connections per state (indexed by `State as usize`).
    pub states: [AtomicU64; state::STATES],
    /// Traffic per real server (counted per packet by this worker alone).
    pub traffic: DestTraffic,
    zero_req: AtomicBool,
    conns_req: AtomicBool,
    conns: Mutex<Option<Vec<ConnInfo>>>,
    /// Time per non-empty batch, copied from the worker once a second.
    pub batch: crate::stats::BatchLatency,
}

impl Published {
    /// The traffic of real server `id` through this worker since start or the last
    /// zeroing.
    pub fn dest_stats(&self, id: crate::config::DestId) -> DestStats {
        self.traffic.get(id)
    }

    /// Ask this worker for a listing of its connections (and, for worker 0, the
    /// persistence templates, which all workers share); it answers from its loop
    /// within a few milliseconds (see `take_conns`). At most [`MAX_LISTING`]
    /// entries.
    pub fn request_conns(&self) {
        self.conns_req.store(true, Ordering::Release);
    }

    /// The listing asked for with `request_conns`, once the worker has made it.
    pub fn take_conns(&self) -> Option<Vec<ConnInfo>> {
        self.conns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// Ask this worker to zero its per-real-server traffic counters (`-Z`); it
    /// does so at its next loop.
    pub fn request_zero(&self) {
        self.zero_req.store(true, Ordering::Release);
    }
}

/// A frame passed to the worker that owns its flow.
#[derive(Clone)]
pub struct Handoff {
    pub nic: Nic,
    pub len: u16,
    pub csum_partial: bool,
    pub data: [u8; FRAME_MAX],
}

/// The channels that connect a worker to the others and to the control thread.
pub struct Links {
    pub handoff_rx: Receiver<Box<Handoff>>,
    pub handoff_tx: Vec<Sender<Box<Handoff>>>,
    /// Spare boxes for handoffs, shared by all workers (a box goes back to the
    /// pool after use, so handing off never allocates).
    pub pool_rx: Receiver<Box<Handoff>>,
    pub pool_tx: Sender<Box<Handoff>>,
    pub neigh_tx: Sender<NeighEvent>,
}

struct PendingHop {
    nic: Nic,
    ip: u32,
    since: Instant,
    n: usize,
    lens: [usize; PENDING_PER_HOP],
    frames: Box<[[u8; FRAME_MAX]; PENDING_PER_HOP]>,
}

/// Everything of a worker but its rings.
pub struct Core {
    pub id: usize,
    pub workers: usize,
    /// Frames per RX queue per loop (`--burst`).
    pub burst: usize,
    env: Arc<Env>,
    shared: Arc<Shared>,
    cfg: Arc<Snapshot>,
    neigh: Arc<NeighSnapshot>,
    epoch: u64,
    pub table: ConnTable,
    pub ctr: Counters,
    out: Arc<Published>,
    links: Links,
    pending: Vec<PendingHop>,
    start: Instant,
    now: Instant,
    now_s: u32,
    /// Every worker's published state (their gauges), from `Shared::peers`.
    peers: Arc<Vec<Arc<Published>>>,
    /// Candidate views for schedulers that look at connection counts: room for
    /// the largest service is reserved when a snapshot arrives, never per packet.
    scratch: Vec<DestView>,
    /// Second of the last template sweep, and the next shard to sweep.
    swept_s: u32,
    sweep_at: usize,
    /// What is attached for capture/trace, re-loaded with the snapshots: `None`
    /// (nothing attached) costs one predictable branch per frame.
    tap: Option<Arc<crate::observe::Tap>>,
    /// Time per non-empty batch (recorded in `Worker::run`).
    batch: crate::stats::BatchRecorder,
}

/// A worker: its rings and its [`Core`].
pub struct Worker<R, T> {
    pub ext_rx: R,
    pub ext_tx: T,
    pub int_rx: R,
    pub int_tx: T,
    pub core: Core,
}

impl<R: RxQueue, T: TxQueue> Worker<R, T> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: usize,
        workers: usize,
        (ext_rx, ext_tx): (R, T),
        (int_rx, int_tx): (R, T),
        env: Arc<Env>,
        shared: Arc<Shared>,
        out: Arc<Published>,
        links: Links,
        max_conns: usize,
        start: Instant,
    ) -> Self {
        let pending = (0..PENDING_HOPS)
            .map(|_| PendingHop {
                nic: Nic::Ext,
                ip: 0,
                since: start,
                n: 0,
                lens: [0; PENDING_PER_HOP],
                frames: Box::new([[0; FRAME_MAX]; PENDING_PER_HOP]),
            })
            .collect();
        shared.register(&out);
        let cfg = shared.config.load_full();
        let core = Core {
            id,
            workers,
            burst: BURST,
            peers: shared.peers.load_full(),
            scratch: Vec::with_capacity(cfg.max_dests),
            swept_s: 0,
            sweep_at: id * SWEEP_SHARDS,
            cfg,
            neigh: shared.neigh.load_full(),
            epoch: shared.epoch.load(Ordering::Acquire),
            tap: shared.tap.current(),
            batch: crate::stats::BatchRecorder::default(),
            env,
            shared,
            table: ConnTable::with_capacity(max_conns),
            ctr: Counters::default(),
            out,
            links,
            pending,
            start,
            now: start,
            now_s: 0,
        };
        Self {
            ext_rx,
            ext_tx,
            int_rx,
            int_tx,
            core,
        }
    }

    /// Run until the shared stop flag is set. `busy` spins instead of sleeping in
    /// `poll()` when idle.
    pub fn run(&mut self, busy: bool) {
        let mut fds = Vec::with_capacity(2);
        fds.extend(self.ext_rx.poll_fd());
        fds.extend(self.int_rx.poll_fd());
        let mut last_stats = Instant::now();
        while !self.core.shared.stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            let n = self.poll_once(now);
            if n > 0 {
                self.core.batch.record(now.elapsed());
            }
            if now.duration_since(last_stats) >= Duration::from_secs(1) {
                last_stats = now;
                self.core.batch.publish(&self.core.out.batch);
                let k = self.ext_rx.take_kernel_drops() + self.int_rx.take_kernel_drops();
                self.core.ctr.add(Ctr::KernelDrop, k);
            }
            if n == 0 {
                if busy {
                    std::hint::spin_loop();
                } else {
                    crate::io::ring::poll_readable(&fds, IDLE_POLL_MS);
                }
            }
        }
        self.core.publish();
        self.core.batch.publish(&self.core.out.batch);
    }

    /// One pass: refresh snapshots, drain both RX queues and the handoff channel (up
    /// to a burst each), kick the TX queues, expire. Returns the frames handled.
    pub fn poll_once(&mut self, now: Instant) -> usize {
        let core = &mut self.core;
        core.set_time(now);
        if core.refresh() {
            core.flush_pending(&mut self.ext_tx, &mut self.int_tx);
        }
        let n = drain(
            core,
            Nic::Ext,
            &mut self.ext_rx,
            &mut self.ext_tx,
            &mut self.int_tx,
        );
        let m = drain(
            core,
            Nic::Int,
            &mut self.int_rx,
            &mut self.ext_tx,
            &mut self.int_tx,
        );
        let mut h = 0;
        while h < core.burst {
            let Ok(frame) = core.links.handoff_rx.try_recv() else {
                break;
            };
            core.ctr.inc(Ctr::HandoffIn);
            let meta = RxMeta {
                wire_len: u32::from(frame.len),
                csum_partial: frame.csum_partial,
                vlan: false,
            };
            let len = usize::from(frame.len);
            core.handle(
                frame.nic,
                &frame.data[..len],
                meta,
                true,
                &mut self.ext_tx,
                &mut self.int_tx,
            );
            // Give the box back to the shared pool.
            let _ = core.links.pool_tx.try_send(frame);
            h += 1;
        }
        core.ctr.add(Ctr::TxExt, self.ext_tx.flush() as u64);
        core.ctr.add(Ctr::TxInt, self.int_tx.flush() as u64);
        core.expire_pending();
        core.expire();
        core.requests();
        core.publish();
        n + m + h
    }
}

impl Core {
    fn set_time(&mut self, now: Instant) {
        self.now = now;
        self.now_s = now.saturating_duration_since(self.start).as_secs() as u32;
    }

    /// Re-load the snapshots if the control thread published new ones. Returns true
    /// when the neighbor snapshot changed.
    fn refresh(&mut self) -> bool {
        let e = self.shared.epoch.load(Ordering::Acquire);
        if e == self.epoch {
            return false;
        }
        self.epoch = e;
        self.tap = self.shared.tap.current();
        self.cfg = self.shared.config.load_full();
        self.peers = self.shared.peers.load_full();
        self.scratch.clear();
        self.scratch.reserve(self.cfg.max_dests);
        let neigh = self.shared.neigh.load_full();
        let changed = !Arc::ptr_eq(&neigh, &self.neigh);
        self.neigh = neigh;
        changed
    }

    fn publish(&self) {
        self.out.counters.publish(&self.ctr);
        for (s, n) in self.out.states.iter().zip(self.table.counts()) {
            s.store(u64::from(*n), Ordering::Relaxed);
        }
    }

    fn expire(&mut self) {
        let gauges = &self.out.gauges;
        let templates = &self.shared.templates;
        let cfg = &self.cfg;
        let n = self
            .table
            .expire(self.now_s, &cfg.timeouts, EXPIRE_BUDGET, |c| {
                gauges.adjust(c.dest(), Some(c.state.is_active()), None);
                release_template(templates, cfg, c);
            });
        self.ctr.add(Ctr::ConnExpired, n as u64);
        if self.cfg.any_persistent && self.now_s != self.swept_s {
            self.swept_s = self.now_s;
            templates.sweep(self.sweep_at, SWEEP_SHARDS, self.now_s, cfg);
            self.sweep_at = (self.sweep_at + SWEEP_SHARDS) % crate::nat::persist::TEMPLATE_SHARDS;
        }
    }

    /// Remove connection `idx` now (its real server is gone).
    fn drop_conn(&mut self, idx: u32) {
        let c = self.table.get(idx).clone();
        self.table.remove(idx);
        self.out
            .gauges
            .adjust(c.dest(), Some(c.state.is_active()), None);
        release_template(&self.shared.templates, &self.cfg, &c);
        self.ctr.inc(Ctr::ConnExpired);
    }

    /// Full table: make room by evicting the stalest transitory connection, if any
    /// (never an established one; see `ConnTable::evict_one`).
    fn evict_one(&mut self) {
        let (gauges, templates, cfg) = (&self.out.gauges, &self.shared.templates, &self.cfg);
        if self.table.evict_one(self.now_s, |c| {
            gauges.adjust(c.dest(), Some(c.state.is_active()), None);
            release_template(templates, cfg, c);
        }) {
            self.ctr.inc(Ctr::ConnEvicted);
        }
    }

    /// Serve the control thread's requests (two relaxed loads when there are none).
    fn requests(&mut self) {
        let out = &self.out;
        if out.zero_req.load(Ordering::Relaxed) && out.zero_req.swap(false, Ordering::Acquire) {
            out.traffic.zero();
        }
        if out.conns_req.load(Ordering::Relaxed) && out.conns_req.swap(false, Ordering::Acquire) {
            let list = self.listing();
            *self
                .out
                .conns
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(list);
        }
    }

    /// This worker's connections (and, on worker 0, the shared templates), at
    /// most [`MAX_LISTING`] entries.
    pub fn listing(&self) -> Vec<ConnInfo> {
        let templates = if self.id == 0 {
            self.shared.templates.len(self.now_s)
        } else {
            0
        };
        let mut v = Vec::with_capacity((self.table.len() + templates).min(MAX_LISTING));
        let now = self.now_s;
        let to = &self.cfg.timeouts;
        v.extend(self.table.iter().take(MAX_LISTING).map(|c| ConnInfo {
            proto: c.proto,
            client: (Ipv4Addr::from(c.client), c.cport),
            vip: (Ipv4Addr::from(c.vip), c.vport),
            dest: (Ipv4Addr::from(c.rip), c.rport),
            state: c.state,
            expires_in: to.secs(c.state).saturating_sub(now.saturating_sub(c.seen)),
            template: false,
        }));
        if self.id == 0 {
            self.shared.templates.list(now, &mut v, MAX_LISTING);
        }
        v
    }

    /// The candidates a new connection of service `svc` would be scheduled from
    /// now: connection counts over all workers and overload flags (diagnostics
    /// and tests; `None` if there is no such service).
    pub fn candidates(&mut self, svc: ServiceId) -> Option<Vec<DestView>> {
        let s = self.cfg.services.get(&svc)?;
        fill_views(
            &mut self.scratch,
            &s.dests,
            &self.peers,
            &self.shared.overload,
        );
        Some(self.scratch.clone())
    }

    /// Handle one received frame.
    #[inline]
    pub fn handle<T: TxQueue>(
        &mut self,
        nic: Nic,
        data: &[u8],
        meta: RxMeta,
        handed: bool,
        ext_tx: &mut T,
        int_tx: &mut T,
    ) {
        if self.tap.is_some() {
            return self.handle_tapped(nic, data, meta, handed, ext_tx, int_tx);
        }
        self.handle_frame(nic, data, meta, handed, ext_tx, int_tx)
    }

    #[inline]
    fn handle_frame<T: TxQueue>(
        &mut self,
        nic: Nic,
        data: &[u8],
        meta: RxMeta,
        handed: bool,
        ext_tx: &mut T,
        int_tx: &mut T,
    ) {
        if !handed {
            self.ctr.inc(match nic {
                Nic::Ext => Ctr::RxExt,
                Nic::Int => Ctr::RxInt,
            });
            self.ctr.add(Ctr::rx_bytes(nic), data.len() as u64);
            if meta.csum_partial {
                self.ctr.inc(Ctr::RxCsumPartial);
            }
        }
        if (meta.wire_len as usize) > data.len() || data.len() < ethernet::HEADER_LEN {
            return self.ctr.inc(Ctr::DropTruncated);
        }
        if data.len() > self.env.mtu[nic as usize] + ethernet::HEADER_LEN {
            return self.ctr.inc(Ctr::DropOversize);
        }
        if meta.vlan {
            return self.ctr.inc(Ctr::DropVlan);
        }
        let eth = EthernetFrame::new_unchecked(data);
        let to_us = eth.dst() == self.env.mac[nic as usize];
        match eth.ethertype() {
            ethernet::ethertype::ARP if to_us || eth.dst().is_broadcast() => {
                let tx = match nic {
                    Nic::Ext => ext_tx,
                    Nic::Int => int_tx,
                };
                self.arp(nic, data, tx)
            }
            ethernet::ethertype::IPV4 if to_us && self.env.io_only => {
                self.io_only(nic, data, ext_tx, int_tx)
            }
            ethernet::ethertype::IPV4 if to_us => {
                self.ipv4(nic, data, meta, handed, ext_tx, int_tx)
            }
            ethernet::ethertype::ARP | ethernet::ethertype::IPV4 => self.ctr.inc(Ctr::DropNotForUs),
            ethernet::ethertype::VLAN => self.ctr.inc(Ctr::DropVlan),
            _ => self.ctr.inc(Ctr::DropEthertype),
        }
    }

    /// `--io-only`: forward without NAT (see [`Env::io_only`]).
    fn io_only<T: TxQueue>(&mut self, nic: Nic, data: &[u8], ext_tx: &mut T, int_tx: &mut T) {
        let Ok(ip) = Ipv4Packet::new_checked(&data[ethernet::HEADER_LEN..]) else {
            return self.ctr.inc(Ctr::DropIpMalformed);
        };
        let dst = ip.dst_raw();
        let frame = &data[..ethernet::HEADER_LEN + usize::from(ip.total_len())];
        let (out, hop, tx, done) = match nic {
            Nic::Ext => (
                Nic::Int,
                neigh::next_hop(&self.env.int_net, None, dst),
                int_tx,
                Ctr::FwdIn,
            ),
            Nic::Int => (
                Nic::Ext,
                neigh::next_hop(&self.env.ext_net, self.env.gateway, dst),
                ext_tx,
                Ctr::FwdOut,
            ),
        };
        let Some(hop) = hop else {
            return self.ctr.inc(Ctr::DropNoService);
        };
        self.forward(out, hop, frame, tx, done, |_| {});
    }

    /// Whether `src` may open a connection from the external side: not one of our
    /// own or the internal segment's addresses, not loopback, "this network",
    /// multicast or limited broadcast, and reachable (on-link or via the gateway).
    fn plausible_client(&self, src: u32) -> bool {
        let first = src >> 24;
        !(first == 0
            || first == 127
            || first >= 224
            || self.env.int_net.contains(src)
            || self.is_ours(Nic::Ext, src))
            && neigh::next_hop(&self.env.ext_net, self.env.gateway, src).is_some()
    }

    fn is_ours(&self, nic: Nic, ip: u32) -> bool {
        match nic {
            Nic::Ext => ip == self.env.ext_addr() || self.cfg.vips.contains(&ip),
            Nic::Int => ip == self.env.dip(),
        }
    }

    fn arp<T: TxQueue>(&mut self, nic: Nic, data: &[u8], tx: &mut T) {
        let Ok(pkt) = ArpPacket::new_checked(&data[ethernet::HEADER_LEN..]) else {
            return self.ctr.inc(Ctr::DropArp);
        };
        let (sip, tip) = (u32::from(pkt.sender_ip()), u32::from(pkt.target_ip()));
        let smac = pkt.sender_mac();
        if !self.is_ours(nic, tip) || sip == tip || smac.is_multicast() {
            return self.ctr.inc(Ctr::DropArp);
        }
        let op = pkt.operation();
        // Only requests and replies: anything else (RARP, InARP, garbage) would
        // be reported as a request and then go uncounted.
        if op != arp::operation::REQUEST && op != arp::operation::REPLY {
            return self.ctr.inc(Ctr::DropArp);
        }
        let heard = NeighEvent::Heard {
            nic,
            ip: sip,
            mac: smac,
            reply: op == arp::operation::REPLY,
        };
        // Best effort: if the control thread is behind, the next ARP will tell again.
        let _ = self.links.neigh_tx.try_send(heard);
        if op != arp::operation::REQUEST {
            return self.ctr.inc(Ctr::ArpHeard);
        }
        let Some(slot) = tx.slot() else {
            return self.ctr.inc(Ctr::DropTxFull);
        };
        let len = arp::emit_arp(
            slot,
            arp::operation::REPLY,
            self.env.mac[nic as usize],
            Ipv4Addr::from(tip),
            smac,
            Ipv4Addr::from(sip),
            smac,
        );
        tx.commit(len);
        self.ctr.add(Ctr::tx_bytes(nic), len as u64);
        self.ctr.inc(Ctr::ArpReply);
    }

    #[allow(clippy::too_many_arguments)]
    fn ipv4<T: TxQueue>(
        &mut self,
        nic: Nic,
        data: &[u8],
        meta: RxMeta,
        handed: bool,
        ext_tx: &mut T,
        int_tx: &mut T,
    ) {
        let Ok(ip) = Ipv4Packet::new_checked(&data[ethernet::HEADER_LEN..]) else {
            return self.ctr.inc(Ctr::DropIpMalformed);
        };
        if ip.header_len() != 20 {
            return self.ctr.inc(Ctr::DropIpOptions);
        }
        if !ip.verify_checksum() {
            return self.ctr.inc(Ctr::DropIpChecksum);
        }
        if ip.is_fragment() {
            return self.ctr.inc(Ctr::DropFragment);
        }
        let (src, dst) = (ip.src_raw(), ip.dst_raw());
        let (proto, ttl) = (ip.protocol(), ip.ttl());
        // The frame as it really is: Ethernet + the IPv4 total length (no padding).
        let frame = &data[..ethernet::HEADER_LEN + usize::from(ip.total_len())];
        let l4 = &frame[ethernet::HEADER_LEN + 20..];
        if proto == protocol::ICMP {
            return self.icmp(nic, frame, dst, handed, ext_tx, int_tx);
        }
        if proto != protocol::TCP && proto != protocol::UDP {
            return self.ctr.inc(if self.is_ours(nic, dst) {
                Ctr::DropProto
            } else {
                Ctr::DropNoService
            });
        }
        let Some((sport, dport, flags)) = ports(proto, l4) else {
            return self.ctr.inc(Ctr::DropL4Malformed);
        };
        // As IPVS does before it rewrites: a damaged segment is not forwarded (nor
        // allowed to create a connection). Partial checksums are completed later.
        if !meta.csum_partial && !l4_checksum_ok(proto, src, dst, l4) {
            return self.ctr.inc(Ctr::DropL4Checksum);
        }
        // Before scheduling: a packet that cannot be forwarded must not create a
        // connection (nor move the scheduler or the gauges).
        if ttl <= 1 {
            return self.ctr.inc(Ctr::DropTtl);
        }
        match nic {
            Nic::Ext => {
                let key = FlowKey::new(0, proto, src, sport, dst, dport);
                let idx = match self.table.lookup(&key) {
                    Some(i) => i,
                    None => {
                        // A source we could never answer, or one that must not come
                        // from outside, creates nothing.
                        if !self.plausible_client(src) {
                            return self.ctr.inc(Ctr::DropBadSource);
                        }
                        match self.new_conn(proto, (src, sport), (dst, dport), flags) {
                            Some(i) => i,
                            None => return,
                        }
                    }
                };
                if self.env.expire_nodest_conn && !self.cfg.dest_live(self.table.get(idx).dest()) {
                    self.drop_conn(idx);
                    return self.ctr.inc(Ctr::DropNoDestConn);
                }
                self.track(idx, Dir::Input, proto, flags);
                let c = self.table.get(idx);
                let (rw, dest) = (c.rewrite(Dir::Input), c.dest());
                let Some(hop) = neigh::next_hop(&self.env.int_net, None, c.rip) else {
                    return self.ctr.inc(Ctr::DropNoService);
                };
                let bytes = (frame.len() - ethernet::HEADER_LEN) as u64;
                if self.forward(Nic::Int, hop, frame, int_tx, Ctr::FwdIn, |b| {
                    rewrite::nat_l4(b, &rw, meta.csum_partial)
                }) {
                    self.out.traffic.inbound(dest, bytes);
                }
            }
            Nic::Int => {
                // Replies to the DIP's health checks (one compare on other traffic).
                if dst == self.env.dip()
                    && crate::health::is_check_port(dport)
                    && proto == protocol::TCP
                {
                    self.shared.health.divert(&frame[ethernet::HEADER_LEN..]);
                    return;
                }
                let key = FlowKey::new(1, proto, src, sport, dst, dport);
                let Some(idx) = self.table.lookup(&key) else {
                    return self.ctr.inc(Ctr::DropNoConn);
                };
                if self.env.expire_nodest_conn && !self.cfg.dest_live(self.table.get(idx).dest()) {
                    self.drop_conn(idx);
                    return self.ctr.inc(Ctr::DropNoDestConn);
                }
                self.track(idx, Dir::Output, proto, flags);
                let c = self.table.get(idx);
                let (rw, dest) = (c.rewrite(Dir::Output), c.dest());
                let Some(hop) = neigh::next_hop(&self.env.ext_net, self.env.gateway, c.client)
                else {
                    return self.ctr.inc(Ctr::DropNoService);
                };
                let bytes = (frame.len() - ethernet::HEADER_LEN) as u64;
                if self.forward(Nic::Ext, hop, frame, ext_tx, Ctr::FwdOut, |b| {
                    rewrite::nat_l4(b, &rw, meta.csum_partial)
                }) {
                    self.out.traffic.outbound(dest, bytes);
                }
            }
        }
    }

    /// Schedule a new connection from a client packet to a virtual service.
    fn new_conn(
        &mut self,
        proto: u8,
        client: (u32, u16),
        vip: (u32, u16),
        flags: u8,
    ) -> Option<u32> {
        // Borrow the snapshot (no refcount traffic on a line all workers share).
        let Some(svc) = self.cfg.services.get(&(proto, vip.0, vip.1)) else {
            self.ctr.inc(Ctr::DropNoService);
            return None;
        };
        // TCP connections start with a SYN (no ACK, no RST), as in IPVS without
        // sloppy_tcp; anything else of an unknown connection is dropped.
        if proto == protocol::TCP && (flags & 0x02 == 0 || flags & 0x14 != 0) {
            self.ctr.inc(Ctr::DropNoConn);
            return None;
        }
        let flow = Flow {
            client: client.0,
            cport: client.1,
            vaddr: vip.0,
            vport: vip.1,
            now_s: self.now_s,
        };
        let dests: &[DestEntry] = &svc.dests;
        // Counts over all workers and overload flags only for the schedulers and
        // services that look at them.
        if svc.needs_counts {
            fill_views(&mut self.scratch, dests, &self.peers, &self.shared.overload);
        }
        let views = &self.scratch;
        let pick = || {
            if svc.needs_counts {
                svc.sched.pick(&flow, views)
            } else {
                svc.sched.pick(&flow, dests)
            }
        };
        let (d, template) = match svc.persist {
            None => match pick() {
                Some(i) => (dests[i], 0),
                None => {
                    self.ctr.inc(Ctr::DropNoDest);
                    return None;
                }
            },
            Some(p) => {
                let key = TemplateKey {
                    svc: (proto, vip.0, vip.1),
                    client: client.0 & p.mask,
                };
                // The template's server must still be one of the service's (with
                // any weight: IPVS keeps quiesced servers' templates by default).
                let valid = |t: &TemplateDest| {
                    dests
                        .iter()
                        .any(|d| d.id == t.id && d.addr == t.addr && d.port == t.port)
                };
                let chosen = || {
                    pick().map(|i| TemplateDest {
                        id: dests[i].id,
                        addr: dests[i].addr,
                        port: dests[i].port,
                    })
                };
                let found = self
                    .shared
                    .templates
                    .schedule(key, p, self.now_s, valid, chosen)
                    .and_then(|(t, g)| dests.iter().find(|d| d.id == t.id).map(|d| (*d, g)));
                let Some(found) = found else {
                    self.ctr.inc(Ctr::DropNoDest);
                    return None;
                };
                found
            }
        };
        // A real server added without a port (`-r RIP`) of a port-0 service takes
        // the packet's destination port, as in IPVS.
        let rport = if d.port == 0 { vip.1 } else { d.port };
        let mut conn = Conn::new(proto, client, vip, (d.addr, rport), d.id);
        conn.template = template;
        let fail = |core: &mut Self, why: Ctr| {
            release_template(&core.shared.templates, &core.cfg, &conn);
            core.ctr.inc(why);
            None
        };
        if !self.env.int_net.contains(d.addr) {
            // LVS-NAT needs the real servers on the DIP's segment.
            return fail(self, Ctr::DropNoDest);
        }
        let state = conn.state;
        if self.table.len() >= self.table.capacity() {
            self.evict_one();
        }
        match self.table.insert(conn.clone(), self.now_s) {
            Ok(i) => {
                self.ctr.inc(Ctr::ConnNew);
                self.out.gauges.adjust(d.id, None, Some(state.is_active()));
                self.out.traffic.conn(d.id);
                Some(i)
            }
            Err(AddError::Full) => fail(self, Ctr::DropTableFull),
            Err(AddError::Clash) => fail(self, Ctr::DropConnClash),
        }
    }

    /// Advance the connection's state for a packet going `dir`.
    #[inline]
    fn track(&mut self, idx: u32, dir: Dir, proto: u8, flags: u8) {
        let c = self.table.get(idx);
        let old = c.state;
        let new = if proto == protocol::TCP {
            state::tcp_next(old, dir, flags)
        } else {
            old
        };
        // Passive health check: in SYN_RECV, the real server resets the connection,
        // or the client sends its SYN again (no SYN-ACK within its RTO, ~1 s).
        if old == State::SynRecv {
            use crate::wire::tcp::flags::{ACK, RST, SYN};
            let reset = dir == Dir::Output && flags & RST != 0;
            let syn_again = dir == Dir::Input && flags & (SYN | ACK | RST) == SYN;
            if reset || syn_again {
                self.shared.health.suspect(c.dest());
            }
        }
        if old.is_active() != new.is_active() {
            self.out
                .gauges
                .adjust(c.dest(), Some(old.is_active()), Some(new.is_active()));
        }
        self.table.touch(idx, new, self.now_s);
    }

    #[allow(clippy::too_many_arguments)]
    fn icmp<T: TxQueue>(
        &mut self,
        nic: Nic,
        frame: &[u8],
        dst: u32,
        handed: bool,
        ext_tx: &mut T,
        int_tx: &mut T,
    ) {
        let icmp = &frame[ethernet::HEADER_LEN + 20..];
        if icmp.len() < 8 || checksum::checksum(icmp) != 0 {
            return self.ctr.inc(Ctr::DropIcmp);
        }
        let ty = icmp[0];
        if ty == msg::ECHO_REQUEST && self.is_ours(nic, dst) {
            let tx = match nic {
                Nic::Ext => ext_tx,
                Nic::Int => int_tx,
            };
            let Some(slot) = tx.slot() else {
                return self.ctr.inc(Ctr::DropTxFull);
            };
            let len = frame.len();
            if len > slot.len() {
                return self.ctr.inc(Ctr::DropTooBig);
            }
            slot[..len].copy_from_slice(frame);
            rewrite::echo_reply(&mut slot[..len]);
            tx.commit(len);
            self.ctr.add(Ctr::tx_bytes(nic), len as u64);
            return self.ctr.inc(Ctr::IcmpEchoReply);
        }
        if !matches!(
            ty,
            msg::DEST_UNREACHABLE | msg::TIME_EXCEEDED | msg::PARAM_PROBLEM | 4
        ) {
            return self.ctr.inc(if self.is_ours(nic, dst) {
                Ctr::DropIcmp
            } else {
                Ctr::DropNoService
            });
        }
        // The quoted packet: a 20-byte IPv4 header and at least 8 bytes of TCP/UDP.
        let inner = &icmp[8..];
        if inner.len() < 28 || inner[0] != 0x45 {
            return self.ctr.inc(Ctr::DropIcmp);
        }
        let iproto = inner[9];
        if iproto != protocol::TCP && iproto != protocol::UDP {
            return self.ctr.inc(Ctr::DropIcmpNoConn);
        }
        let be32 =
            |o: usize| u32::from_be_bytes([inner[o], inner[o + 1], inner[o + 2], inner[o + 3]]);
        let be16 = |o: usize| u16::from_be_bytes([inner[o], inner[o + 1]]);
        let (isrc, idst, isport, idport) = (be32(12), be32(16), be16(20), be16(22));
        // Which end of the quoted packet is the client decides the owning worker.
        let (key, client) = match nic {
            // We sent VIP:vport → CIP:cport; the connection's input key reverses it.
            Nic::Ext => (
                FlowKey::new(0, iproto, idst, idport, isrc, isport),
                (idst, idport),
            ),
            // We sent CIP:cport → RIP:rport; the output key reverses it.
            Nic::Int => (
                FlowKey::new(1, iproto, idst, idport, isrc, isport),
                (isrc, isport),
            ),
        };
        let owner = fanout::owner(client.0, client.1, self.workers, self.env.fanout_key);
        if owner != self.id && !handed {
            return self.hand_off(owner, nic, frame);
        }
        let Some(idx) = self.table.lookup(&key) else {
            return self.ctr.inc(Ctr::DropIcmpNoConn);
        };
        if frame[ethernet::HEADER_LEN + 8] <= 1 {
            return self.ctr.inc(Ctr::DropTtl);
        }
        let c = self.table.get(idx);
        // The error must travel where the connection goes: to the client from the
        // inside, to the VIP from the outside. Anything else would let a host steer
        // ICMP from the VIP to an address of its choice.
        let bound = match nic {
            Nic::Ext => dst == c.vip,
            Nic::Int => dst == c.client,
        };
        if !bound {
            return self.ctr.inc(Ctr::DropIcmpNoConn);
        }
        let (rw, out, hop) = match nic {
            Nic::Ext => (
                c.rewrite(Dir::Input),
                Nic::Int,
                neigh::next_hop(&self.env.int_net, None, c.rip),
            ),
            Nic::Int => (
                c.rewrite(Dir::Output),
                Nic::Ext,
                neigh::next_hop(&self.env.ext_net, self.env.gateway, c.client),
            ),
        };
        let Some(hop) = hop else {
            return self.ctr.inc(Ctr::DropNoService);
        };
        let tx = match out {
            Nic::Ext => ext_tx,
            Nic::Int => int_tx,
        };
        let (dest, bytes) = (c.dest(), (frame.len() - ethernet::HEADER_LEN) as u64);
        // Counted with the connection's traffic, as IPVS does.
        if self.forward(out, hop, frame, tx, Ctr::IcmpErrorNat, |b| {
            rewrite::nat_icmp_error(b, &rw)
        }) {
            match out {
                Nic::Int => self.out.traffic.inbound(dest, bytes),
                Nic::Ext => self.out.traffic.outbound(dest, bytes),
            }
        }
    }

    fn hand_off(&mut self, owner: usize, nic: Nic, frame: &[u8]) {
        let Some(tx) = self.links.handoff_tx.get(owner) else {
            return self.ctr.inc(Ctr::DropIcmpNoConn);
        };
        // All workers share one pool of boxes, as many as the handoff channels can
        // hold together, so it runs dry only if the channels are full anyway.
        let Ok(mut h) = self.links.pool_rx.try_recv() else {
            return self.ctr.inc(Ctr::DropHandoffFull);
        };
        let len = frame.len();
        if len > FRAME_MAX {
            let _ = self.links.pool_tx.try_send(h);
            return self.ctr.inc(Ctr::DropTooBig);
        }
        h.nic = nic;
        h.len = len as u16;
        h.csum_partial = false;
        h.data[..len].copy_from_slice(&frame[..len]);
        match tx.try_send(h) {
            Ok(()) => self.ctr.inc(Ctr::HandoffOut),
            Err(TrySendError::Full(b) | TrySendError::Disconnected(b)) => {
                let _ = self.links.pool_tx.try_send(b);
                self.ctr.inc(Ctr::DropHandoffFull);
            }
        }
    }

    /// Send `frame`, rewritten by `patch`, out of `nic` towards next hop `hop`: into a
    /// TX slot when the hop's MAC is known, else into the hop's pending queue. `done`
    /// is counted when the frame went out or was queued; a drop counts its reason.
    #[allow(clippy::too_many_arguments)]
    fn forward<T: TxQueue>(
        &mut self,
        nic: Nic,
        hop: u32,
        frame: &[u8],
        tx: &mut T,
        done: Ctr,
        patch: impl FnOnce(&mut [u8]),
    ) -> bool {
        let len = frame.len();
        let drop = |core: &mut Self, why: Ctr| {
            core.ctr.inc(why);
            false
        };
        if len > self.env.mtu[nic as usize] + ethernet::HEADER_LEN {
            return drop(self, Ctr::DropTooBig);
        }
        let our = self.env.mac[nic as usize];
        if let Some(mac) = self.neigh.get(nic, hop) {
            let Some(slot) = tx.slot() else {
                return drop(self, Ctr::DropTxFull);
            };
            let Some(buf) = slot.get_mut(..len) else {
                return drop(self, Ctr::DropTooBig);
            };
            buf.copy_from_slice(frame);
            patch(buf);
            buf[0..6].copy_from_slice(&mac.0);
            buf[6..12].copy_from_slice(&our.0);
            tx.commit(len);
            self.ctr.add(Ctr::tx_bytes(nic), len as u64);
            self.ctr.inc(done);
            return true;
        }
        // Slow path: park the frame until ARP answers.
        let now = self.now;
        let slot = match self
            .pending
            .iter()
            .position(|p| p.n > 0 && p.nic == nic && p.ip == hop)
        {
            Some(i) => i,
            None => {
                let Some(i) = self.pending.iter().position(|p| p.n == 0) else {
                    return drop(self, Ctr::DropNeighQueue);
                };
                let p = &mut self.pending[i];
                p.nic = nic;
                p.ip = hop;
                p.since = now;
                let _ = self
                    .links
                    .neigh_tx
                    .try_send(NeighEvent::Resolve { nic, ip: hop });
                i
            }
        };
        let p = &mut self.pending[slot];
        if p.n >= PENDING_PER_HOP || len > FRAME_MAX {
            return drop(self, Ctr::DropNeighQueue);
        }
        let buf = &mut p.frames[p.n][..len];
        buf.copy_from_slice(frame);
        patch(buf);
        buf[6..12].copy_from_slice(&our.0);
        p.lens[p.n] = len;
        p.n += 1;
        self.ctr.inc(Ctr::NeighQueued);
        self.ctr.inc(done);
        true
    }

    /// Send the frames whose next hop got resolved.
    fn flush_pending<T: TxQueue>(&mut self, ext_tx: &mut T, int_tx: &mut T) {
        for p in self.pending.iter_mut().filter(|p| p.n > 0) {
            let Some(mac) = self.neigh.get(p.nic, p.ip) else {
                continue;
            };
            let tx = match p.nic {
                Nic::Ext => &mut *ext_tx,
                Nic::Int => &mut *int_tx,
            };
            for i in 0..p.n {
                let len = p.lens[i];
                let Some(slot) = tx.slot().filter(|s| s.len() >= len) else {
                    self.ctr.inc(Ctr::DropTxFull);
                    continue;
                };
                slot[..len].copy_from_slice(&p.frames[i][..len]);
                slot[0..6].copy_from_slice(&mac.0);
                if !crate::observe::tap_sent(&self.tap, self.id, p.nic, &slot[..len]) {
                    self.ctr.inc(Ctr::CaptureDropped);
                }
                tx.commit(len);
                self.ctr.add(Ctr::tx_bytes(p.nic), len as u64);
            }
            p.n = 0;
        }
    }

    fn expire_pending(&mut self) {
        let now = self.now;
        for p in self.pending.iter_mut().filter(|p| p.n > 0) {
            if now.saturating_duration_since(p.since) >= PENDING_MAX_AGE {
                self.ctr.add(Ctr::DropNeighUnresolved, p.n as u64);
                p.n = 0;
            }
        }
    }

    /// Connections of this worker, for listings.
    pub fn conns(&self) -> impl Iterator<Item = &Conn> {
        self.table.iter()
    }

    pub fn state_count(&self, s: State) -> u32 {
        self.table.counts()[s as usize]
    }
}

// ---- Observation hooks (`ringvs capture` / `ringvs trace`, see `crate::observe`).
// Reached only while something is attached: the plain path above never sees them.
impl Core {
    /// [`Core::handle`] with a tap attached: offer the received frame to the
    /// capture, run the usual handling through TX queues that show what is sent,
    /// and describe the packet to the trace if it matches.
    #[cold]
    #[inline(never)]
    fn handle_tapped<T: TxQueue>(
        &mut self,
        nic: Nic,
        data: &[u8],
        meta: RxMeta,
        handed: bool,
        ext_tx: &mut T,
        int_tx: &mut T,
    ) {
        use crate::observe::{ConnSnap, Point, TapTx, TraceRec, filter};
        // Taken out for the call (no refcount traffic), put back after.
        let Some(tap) = self.tap.take() else {
            return self.handle_frame(nic, data, meta, handed, ext_tx, int_tx);
        };
        let cap = tap.capture.as_deref();
        if let Some(c) = cap.filter(|_| !handed)
            && !c.offer(
                self.id,
                Point { nic, tx: false },
                data,
                meta.wire_len as usize,
            )
        {
            self.ctr.inc(Ctr::CaptureDropped);
        }
        let trace = tap.trace.as_deref().filter(|t| t.filter.matches(data));
        let mut rec = TraceRec::default();
        let before = self.ctr.0;
        let key = if trace.is_some() {
            rec.sum = filter::summarize(data);
            let dir = match nic {
                Nic::Ext => 0,
                Nic::Int => 1,
            };
            let (sp, dp) = rec.sum.ports.unwrap_or((0, 0));
            let key = FlowKey::new(dir, rec.sum.proto, rec.sum.src, sp, rec.sum.dst, dp);
            rec.before = (rec.sum.ports.is_some())
                .then(|| self.table.lookup(&key))
                .flatten()
                .map(|i| ConnSnap::of(self.table.get(i)));
            Some(key)
        } else {
            None
        };
        let traced = trace.map(|_| [None; 2]);
        let mut ext = TapTx {
            inner: ext_tx,
            nic: Nic::Ext,
            worker: self.id,
            capture: cap,
            traced,
            dropped: 0,
        };
        let mut int = TapTx {
            inner: int_tx,
            nic: Nic::Int,
            worker: self.id,
            capture: cap,
            traced,
            dropped: 0,
        };
        self.handle_frame(nic, data, meta, handed, &mut ext, &mut int);
        self.ctr.add(Ctr::CaptureDropped, ext.dropped + int.dropped);
        if let (Some(t), Some(key)) = (trace, key) {
            rec.ts_ns = crate::observe::stamp();
            rec.worker = self.id as u16;
            rec.nic = nic as u8;
            rec.handed = handed;
            rec.len = data.len() as u16;
            for (i, (a, b)) in self.ctr.0.iter().zip(before.iter()).enumerate() {
                if a != b {
                    rec.moved |= 1 << i;
                }
            }
            // The connection may have been created under the reply's key too;
            // looking up the same key finds it either way.
            rec.after = rec
                .sum
                .ports
                .and_then(|_| self.table.lookup(&key))
                .map(|i| ConnSnap::of(self.table.get(i)));
            let sent = ext.traced.into_iter().chain(int.traced).flatten().flatten();
            for (slot, s) in rec.tx.iter_mut().zip(sent) {
                *slot = Some(s);
            }
            if !t.push(rec) {
                self.ctr.inc(Ctr::CaptureDropped);
            }
        }
        self.tap = Some(tap);
    }
}

/// Fill `out` with the views of `dests`: connections summed over every worker's
/// gauges, and the overload flag brought up to date. `out` has room for them (see
/// `Core::refresh`), so this allocates nothing.
fn fill_views(
    out: &mut Vec<DestView>,
    dests: &[DestEntry],
    peers: &[Arc<Published>],
    overload: &[AtomicU32],
) {
    out.clear();
    for d in dests {
        let (mut active, mut inactive) = (0u32, 0u32);
        for p in peers {
            let (a, i) = p.gauges.get(d.id);
            active = active.saturating_add(a);
            inactive = inactive.saturating_add(i);
        }
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

/// Uncount a leaving connection on its persistence template, if it has one.
fn release_template(templates: &Templates, cfg: &Snapshot, c: &Conn) {
    if c.template == 0 {
        return;
    }
    let svc = (c.proto, c.vip, c.vport);
    // The key under the service's current netmask: if `-M` changed, the template
    // of the old mask is swept (it would not be found or not match generations).
    if let Some(p) = cfg.services.get(&svc).and_then(|s| s.persist) {
        let key = TemplateKey {
            svc,
            client: c.client & p.mask,
        };
        templates.release(key, c.template);
    }
}

/// Handle up to a burst of frames from one RX queue. Returns how many.
#[inline]
fn drain<R: RxQueue, T: TxQueue>(
    core: &mut Core,
    nic: Nic,
    rx: &mut R,
    ext_tx: &mut T,
    int_tx: &mut T,
) -> usize {
    let mut n = 0;
    while n < core.burst {
        let Some(f) = rx.peek() else { break };
        core.handle(nic, f.data, f.meta, false, ext_tx, int_tx);
        rx.advance();
        n += 1;
    }
    n
}

/// Whether a TCP segment or UDP datagram (headers already checked by [`ports`])
/// carries a correct checksum. UDP's "no checksum" (0) is accepted.
#[inline]
fn l4_checksum_ok(proto: u8, src: u32, dst: u32, l4: &[u8]) -> bool {
    let seg = if proto == protocol::UDP {
        if l4[6] == 0 && l4[7] == 0 {
            return true;
        }
        &l4[..usize::from(u16::from_be_bytes([l4[4], l4[5]]))]
    } else {
        l4
    };
    let pseudo = checksum::pseudo_header_v4(
        Ipv4Addr::from(src),
        Ipv4Addr::from(dst),
        proto,
        seg.len() as u16,
    );
    checksum::fold(checksum::combine(pseudo, checksum::sum(seg))) == 0xffff
}

/// Ports and TCP flags of a TCP or UDP header, if it is complete and consistent.
#[inline]
fn ports(proto: u8, l4: &[u8]) -> Option<(u16, u16, u8)> {
    let be16 = |o: usize| u16::from_be_bytes([l4[o], l4[o + 1]]);
    if proto == protocol::TCP {
        if l4.len() < 20 {
            return None;
        }
        let off = usize::from(l4[12] >> 4) * 4;
        if off < 20 || off > l4.len() {
            return None;
        }
        Some((be16(0), be16(2), l4[13]))
    } else {
        if l4.len() < 8 {
            return None;
        }
        let len = usize::from(be16(4));
        if len < 8 || len > l4.len() {
            return None;
        }
        Some((be16(0), be16(2), 0))
    }
}
