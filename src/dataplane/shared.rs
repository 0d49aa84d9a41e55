//! The contract between the workers and everything around them: what the
//! control thread publishes to the workers ([`Shared`]: rule and neighbor
//! snapshots, the tap slots of health checks and capture/trace, the stop flag),
//! what each worker publishes back ([`Published`]: counters, gauges, per-server
//! traffic, answers to listing requests), the director's fixed facts ([`Env`])
//! and the frame a worker hands to another ([`Handoff`]).
//!
//! It sits below the worker: `health`, `observe` and `control` use these types
//! without depending on the packet path itself.

use super::divert;
use crate::Nic;
use crate::config::DestId;
use crate::io::FRAME_MAX;
use crate::nat::persist::Templates;
use crate::nat::{ConnInfo, Snapshot, state};
use crate::neigh::{NeighSnapshot, Prefix};
use crate::stats::{DestGauges, DestStats, DestTraffic, MAX_DESTS, SharedCounters};
use crate::wire::Mac;
use arc_swap::ArcSwap;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use hashbrown::HashSet;
use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Slab entries a worker looks at for a listing in one pass of its loop at most:
/// a listing of a big table is served in steps, so no pass takes much longer
/// than a batch of frames.
pub const LISTING_CHUNK: usize = 4096;
/// Listing requests waiting for one worker at most (one per control client).
pub const MAX_QUEUED_LISTINGS: usize = 16;

/// The director's fixed facts a worker needs: its NICs and addresses.
#[derive(Clone, Debug)]
pub struct Env {
    pub mac: [Mac; 2],
    pub mtu: [usize; 2],
    /// The director's external address and on-link prefix.
    pub ext_net: Prefix,
    pub gateway: Option<Ipv4Addr>,
    /// `--int-gateway`: the router on the internal segment, for tunnel real
    /// servers outside the DIP's prefix.
    pub int_gateway: Option<Ipv4Addr>,
    /// The DIP and the internal prefix.
    pub int_net: Prefix,
    /// The director's IPv6 external address and prefix, if it has one
    /// (`--ext-addr` given an IPv6 prefix): IPv6 is off without both this
    /// and [`Env::int_net6`].
    pub ext_net6: Option<crate::neigh::Prefix6>,
    /// The IPv6 router for clients outside `ext_net6` (`--gateway` given an
    /// IPv6 address).
    pub gateway6: Option<std::net::Ipv6Addr>,
    /// The IPv6 DIP and the internal IPv6 prefix (`--int-addr`).
    pub int_net6: Option<crate::neigh::Prefix6>,
    /// Benchmark mode: move IPv4 frames to the other NIC (next hop by destination
    /// address, MACs rewritten) without NAT or connection tracking — the ceiling of
    /// the I/O path (`io_only.rs`; IPv6 too); a checksum left to an offload is
    /// completed. ARP and ping are answered as usual.
    pub io_only: bool,
    /// The fanout programs' hash key (to find the worker owning a flow).
    pub fanout_key: u32,
    /// `--steer rss`: the owner of a flow is the queue the NICs' RSS gives its
    /// client address ([`crate::io::rss`]), not the fanout hash.
    pub rss: Option<Arc<crate::io::rss::Rss>>,
    /// IPVS's sysctls that change the packet path (`ringvs run` options).
    pub sysctl: Sysctl,
    /// The ports of the FTP helper (`--ftp-ports`, IPVS's `ip_vs_ftp
    /// ports=`): none by default, as without the module.
    pub ftp: crate::nat::ftp::FtpPorts,
}

/// The IPVS sysctls (`/proc/sys/net/ipv4/vs/`) ringvs has, and the one of
/// the kernel's IPv4 reassembly (`ipfrag_max_dist`), with the kernel's
/// defaults (`Sysctl::default()`). Fixed for the life of the director.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sysctl {
    /// `conn_reuse_mode` (`--conn-reuse-mode`, default 1): a SYN that meets a
    /// connection in TIME_WAIT or CLOSE (not controlled by a persistence
    /// template) expires it and is scheduled anew, as `ip_vs_in_hook` with
    /// `is_new_conn_expected` (`ip_vs_core.c`). 0: the SYN goes to the old
    /// connection's real server. Bit 2 adds FIN_WAIT for connections that see
    /// no replies (DR/TUN: IPVS's `IP_VS_CONN_F_NOOUTPUT`).
    pub conn_reuse_mode: u8,
    /// `expire_nodest_conn` (`--expire-nodest-conn`, default off). A client
    /// packet of a connection whose real server is no longer available (removed
    /// from its service, by `-d` or a failing health check) is dropped and the
    /// connection kept; with it on, the connection is expired and the packet
    /// treated as one of no connection (a SYN is scheduled anew), as
    /// `ip_vs_in_hook` (`ip_vs_core.c`). A SYN meeting a connection of a
    /// weight-0 server is scheduled anew too.
    pub expire_nodest_conn: bool,
    /// `expire_quiescent_template` (`--expire-quiescent-template`, default off):
    /// a persistence template whose real server has weight 0 is not used
    /// (`ip_vs_check_template`, `ip_vs_conn.c`).
    pub expire_quiescent_template: bool,
    /// `sloppy_tcp` (`--sloppy-tcp`, default off): any TCP segment without
    /// RST of no connection is scheduled, not only a SYN
    /// (`tcp_conn_schedule`, `ip_vs_proto_tcp.c`): a director that took over
    /// without the connections picks them up from their next segment (to
    /// the server the scheduler gives, the same one only for `sh`, `mh` or
    /// a persistence template that survived).
    pub sloppy_tcp: bool,
    /// `sloppy_sctp` (`--sloppy-sctp`, default off): any SCTP packet whose
    /// first chunk is not ABORT, of no connection, is scheduled, not only an
    /// INIT (`sctp_conn_schedule`, `ip_vs_proto_sctp.c`).
    pub sloppy_sctp: bool,
    /// `net.ipv4.ipfrag_max_dist` (`--ipfrag-max-dist`, default 64, the
    /// kernel's): an IPv4 datagram whose source's fragment count went more
    /// than this on between two of its fragments (this many fragments of
    /// other datagrams came between) is started over, as `ip_frag_too_far`
    /// (`ip_fragment.c`); 0 turns the check off, as there. Counted per
    /// worker (`Frags::too_far`).
    pub ipfrag_max_dist: u32,
    /// `sync_ports` (`--sync-ports`, default 1): the sync daemons' ports,
    /// `--mcast-port` and the N − 1 after it. A master spreads its messages
    /// over them by connection, a backup receives on all of them, as
    /// `start_sync_thread` (`ip_vs_sync.c`) starts one thread per port. A
    /// power of two from 1 to 64 (`IPVS_SYNC_PORTS_MAX`;
    /// `crate::sync::daemon::parse_sync_ports`).
    pub sync_ports: u8,
}

impl Default for Sysctl {
    fn default() -> Self {
        Self {
            conn_reuse_mode: 1,
            expire_nodest_conn: false,
            expire_quiescent_template: false,
            sloppy_tcp: false,
            sloppy_sctp: false,
            ipfrag_max_dist: super::FRAG_MAX_DIST,
            sync_ports: 1,
        }
    }
}

impl Env {
    /// A director on these NICs and prefixes with everything else at its
    /// default: 1500-byte MTUs, no gateway, NAT (not `--io-only`), fanout key 0,
    /// IPVS's sysctl defaults. `ringvs run` sets every field itself; tests,
    /// fuzzing and benches start from this.
    pub fn new(mac: [Mac; 2], ext_net: Prefix, int_net: Prefix) -> Env {
        Env {
            mac,
            mtu: [1500, 1500],
            ext_net,
            gateway: None,
            int_gateway: None,
            int_net,
            ext_net6: None,
            gateway6: None,
            int_net6: None,
            io_only: false,
            fanout_key: 0,
            rss: None,
            sysctl: Sysctl::default(),
            ftp: Default::default(),
        }
    }

    /// The worker of `workers` that owns the flows of `client` (address, port).
    #[inline]
    pub fn owner(&self, client: (u32, u16), workers: usize) -> usize {
        match &self.rss {
            Some(rss) if workers > 1 => rss.queue(client.0),
            _ => crate::io::fanout::owner(client.0, client.1, workers, self.fanout_key),
        }
    }

    /// The worker of `workers` that owns the flows of an IPv6 `client`
    /// (address, port): its RSS queue under `--steer rss` when the NICs hash
    /// IPv6 on the client's address ([`crate::io::rss::Rss::aligned6`]), the
    /// fanout hash otherwise.
    #[inline]
    pub fn owner6(&self, client: (std::net::Ipv6Addr, u16), workers: usize) -> usize {
        match &self.rss {
            Some(rss) if workers > 1 && rss.aligned6() => rss.queue6(client.0),
            _ => crate::io::fanout::owner6(client.0, client.1, workers, self.fanout_key),
        }
    }

    pub fn ext_addr(&self) -> u32 {
        u32::from(self.ext_net.addr)
    }
    pub fn dip(&self) -> u32 {
        u32::from(self.int_net.addr)
    }
    /// The director's IPv6 external address, if IPv6 is on.
    pub fn ext_addr6(&self) -> Option<std::net::Ipv6Addr> {
        self.ext_net6.map(|p| p.addr)
    }
    /// The IPv6 DIP, if IPv6 is on.
    pub fn dip6(&self) -> Option<std::net::Ipv6Addr> {
        self.int_net6.map(|p| p.addr)
    }
    /// IPv6 is on: the director has an IPv6 address on both NICs.
    pub fn ipv6(&self) -> bool {
        self.ext_net6.is_some() && self.int_net6.is_some()
    }
}

/// What the control thread publishes to every worker.
pub struct Shared {
    pub config: ArcSwap<Snapshot>,
    pub neigh: ArcSwap<NeighSnapshot>,
    /// Which neighbors traffic uses: the workers mark, the control thread
    /// reads (`crate::neigh::Used`).
    pub neigh_used: crate::neigh::Used,
    /// Bumped after either snapshot is replaced.
    pub epoch: AtomicU64,
    pub stop: AtomicBool,
    /// Every worker's published state, so that a worker scheduling a connection
    /// can sum the connection gauges of all workers. Workers register themselves
    /// when they are built (`dataplane::build`).
    pub peers: ArcSwap<Vec<Arc<Published>>>,
    /// IPVS's overload flag per `DestId % MAX_DESTS` (see [`crate::nat::overload_check`]).
    pub overload: Box<[AtomicU32]>,
    /// Persistence templates, shared by all workers (see `nat::persist`).
    pub templates: Templates,
    /// The IPv6 services' templates, keyed by the client's `-M` prefix.
    pub templates6: Templates<std::net::Ipv6Addr>,
    /// The FTP helper's expected data connections (`nat::ftp`), each family.
    pub expects: crate::nat::ftp::Expects,
    pub expects6: crate::nat::ftp::Expects<std::net::Ipv6Addr>,
    /// Health checks: check replies to divert, suspect servers (`crate::health`).
    pub health: divert::Tap,
    /// What `ringvs capture` / `ringvs trace` attached (see `crate::observe`).
    pub tap: crate::observe::TapSlot,
    /// The HA role and the connection-sync switches (see `super::sync`).
    pub ha: super::sync::Ha,
    /// The workers' bells, which [`Shared::bump`] rings (none until
    /// `Director::new` makes the workers' rings).
    pub wakers: super::handoff::Wakers,
    /// The control thread's own counters ([`crate::stats::Ctr::CONTROL`]),
    /// published as the workers publish theirs.
    pub control: crate::stats::SharedCounters,
    /// Each NIC (by `Nic as usize`) in MLDv1 compatibility mode, as the
    /// control thread's announcer last said (`Announcer::mld_v1`): a
    /// worker reads it for an MLD query, which that mode reads as MLDv1
    /// whatever its length (`wire::mld::parse_query`).
    pub mld_v1: [AtomicBool; 2],
    /// Path MTUs to tunnel endpoints learned from routers, one table for
    /// every worker (`direct_icmp::PathMtus`).
    pub pmtu: super::direct_icmp::PathMtus,
    /// Each NIC's MTU as the data plane enforces it, as the control thread
    /// last read it (`control::mtu`; 0: the start's, [`Env::mtu`]): the
    /// workers take it when the epoch moves.
    pub mtu: [AtomicUsize; 2],
}

impl Shared {
    pub fn new(config: Snapshot) -> Self {
        Self {
            config: ArcSwap::from_pointee(config),
            neigh: ArcSwap::from_pointee(NeighSnapshot::default()),
            neigh_used: crate::neigh::Used::default(),
            epoch: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            peers: ArcSwap::from_pointee(Vec::new()),
            overload: (0..MAX_DESTS).map(|_| AtomicU32::new(0)).collect(),
            templates: Templates::default(),
            templates6: Templates::default(),
            expects: Default::default(),
            expects6: Default::default(),
            health: divert::Tap::default(),
            tap: crate::observe::TapSlot::default(),
            ha: super::sync::Ha::default(),
            wakers: super::handoff::Wakers::default(),
            control: Default::default(),
            mld_v1: Default::default(),
            pmtu: Default::default(),
            mtu: Default::default(),
        }
    }

    /// Add a worker's published state to `peers` (at start).
    pub fn register(&self, p: &Arc<Published>) {
        self.peers.rcu(|v| {
            let mut v = Vec::clone(v);
            v.push(Arc::clone(p));
            v
        });
        let _ = self.bump();
    }

    /// Say the snapshots changed, and wake the workers that sleep so they
    /// take the new ones now (neighbor updates release frames parked for
    /// ARP), not at their idle timeout. SeqCst, as the worker's look at the
    /// epoch after it says it sleeps (`Worker::run`).
    /// Returns the new epoch ([`Shared::loaded`] says when every worker has
    /// taken it).
    pub fn bump(&self) -> u64 {
        let e = self.epoch.fetch_add(1, Ordering::SeqCst) + 1;
        self.wakers.wake_all();
        e
    }

    /// Whether every worker has loaded epoch `e` (or a later one) of the
    /// snapshots ([`Published::loaded`]).
    pub fn loaded(&self, e: u64) -> bool {
        self.peers
            .load()
            .iter()
            .all(|p| p.loaded.load(Ordering::Acquire) >= e)
    }

    /// The lowest epoch every worker has loaded (the current one with no
    /// worker): a worker at or past it runs rules no older than its.
    pub fn loaded_by_all(&self) -> u64 {
        let now = self.epoch.load(Ordering::Acquire);
        self.peers
            .load()
            .iter()
            .map(|p| p.loaded.load(Ordering::Acquire))
            .min()
            .unwrap_or(now)
    }

    /// Of `ids`, those something of the workers still names, as references
    /// hold an IPVS dest (`ip_vs_bind_dest`, `ip_vs_ctl.c`): a connection in
    /// a worker's table (its gauges in `published`: each worker counts every
    /// connection it holds, from its insertion to its removal), a
    /// persistence template, an FTP data connection the helper expects, or
    /// a live entry of an `lblc`/`lblcr` cache (`ip_vs_lblc_new`,
    /// `ip_vs_dest_set_insert` hold their dest).
    /// The control thread's, for the trash (`config::Config::sweep_trash`):
    /// the tables of templates and expectations are walked, each shard
    /// locked in turn, and the current rules' locality caches asked, each
    /// locked once for a lookup per idle id (not walked), only when some id
    /// has no connection.
    pub fn held(&self, published: &[Arc<Published>], ids: &[DestId]) -> HashSet<DestId> {
        let conns = |id: &DestId| published.iter().any(|p| p.gauges.get(*id) != (0, 0));
        let (mut held, idle): (HashSet<DestId>, HashSet<DestId>) =
            ids.iter().copied().partition(conns);
        if !idle.is_empty() {
            self.templates.naming(&idle, &mut held);
            self.templates6.naming(&idle, &mut held);
            self.expects.naming(&idle, &mut held);
            self.expects6.naming(&idle, &mut held);
            let cfg = self.config.load();
            let v4 = cfg.services.values();
            let scheds = v4.chain(cfg.services6.values().map(|s| &s.entry));
            for e in scheds {
                e.sched.holds(idle.iter().map(|d| d.0), |id| {
                    held.insert(DestId(id));
                });
            }
        }
        held
    }

    /// Append the live persistence templates of both families to a listing:
    /// all of them, as `ip_vs_conn_seq_show` shows each.
    pub fn list_templates(&self, now: u32, out: &mut Vec<ConnInfo>) {
        self.templates.list(now, out, usize::MAX);
        self.templates6.list(now, out, usize::MAX);
    }
}

impl crate::observe::stream::TapHost for Shared {
    fn tap(&self) -> &crate::observe::TapSlot {
        &self.tap
    }
    fn republish(&self) -> u64 {
        self.bump()
    }
    fn loaded(&self, epoch: u64) -> bool {
        Shared::loaded(self, epoch)
    }
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
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
    /// Listing requests waiting for this worker (FIFO), and their number (the
    /// worker reads the number, one load per pass, before it locks).
    pub(super) listings: Mutex<VecDeque<ListingJob>>,
    pub(super) listings_queued: AtomicUsize,
    /// The worker's bell: a listing request, and a buffer its requester gives
    /// back, wake it (it sleeps while it waits for one). `None` for a
    /// worker built without one (it looks at its idle timeout).
    pub(super) waker: Option<super::handoff::Waker>,
    /// The listing of `request_conns`/`take_conns`.
    own: Mutex<Option<Listing>>,
    /// Time per non-empty batch, copied from the worker once a second.
    pub batch: crate::stats::BatchLatency,
    /// The epoch of the snapshots the worker last loaded
    /// ([`Shared::loaded`]: a capture is answered once every worker taps).
    pub(super) loaded: AtomicU64,
}

impl Published {
    /// A worker's published state, with the bell that wakes it (`None`:
    /// it looks at its requests at its idle timeout).
    pub fn woken_by(waker: Option<super::handoff::Waker>) -> Self {
        Self {
            waker,
            ..Self::default()
        }
    }

    /// The traffic of real server `id` through this worker since start or the last
    /// zeroing.
    pub fn dest_stats(&self, id: crate::config::DestId) -> DestStats {
        self.traffic.get(id)
    }

    /// Ask this worker alone for a listing of its connections, for one caller
    /// that then takes it with `take_conns` (tests; concurrent callers each
    /// start their own [`Listing`]). A request made while one is pending
    /// replaces it.
    pub fn request_conns(&self) {
        let l = Listing::start([self]);
        *lock(&self.own) = Some(l);
    }

    /// The listing asked for with `request_conns`, once the worker has made all
    /// of it (templates not included: see [`Listing`]).
    pub fn take_conns(&self) -> Option<Vec<ConnInfo>> {
        let mut own = lock(&self.own);
        let l = own.as_mut()?;
        l.poll();
        if !l.complete() {
            return None;
        }
        own.take().map(|l| l.finish().0)
    }

    /// Queue a listing request; false if too many are waiting.
    fn queue_listing(&self, job: ListingJob) -> bool {
        let mut q = lock(&self.listings);
        if q.len() >= MAX_QUEUED_LISTINGS {
            return false;
        }
        q.push_back(job);
        // SeqCst, then the bell: a worker that says it sleeps and then looks
        // (`Core::listing`) either sees the request or is rung.
        self.listings_queued.store(q.len(), Ordering::SeqCst);
        drop(q);
        self.wake();
        true
    }

    /// Wake the worker if it sleeps.
    fn wake(&self) {
        if let Some(w) = &self.waker {
            w.wake();
        }
    }

    /// The next listing request, for the worker.
    pub(super) fn next_listing(&self) -> Option<ListingJob> {
        if self.listings_queued.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let mut q = lock(&self.listings);
        let job = q.pop_front();
        self.listings_queued.store(q.len(), Ordering::Release);
        job
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A worker's part of a listing, as it sends it: up to a step's worth of
/// entries in a buffer the requester gave, and whether it was the last.
#[derive(Debug)]
pub struct ListingChunk {
    /// The worker's index in the listing (the order `Listing::start` was given).
    pub part: usize,
    pub entries: Vec<ConnInfo>,
    /// The worker's clock (seconds since start) when it sent its last chunk.
    pub done: Option<u32>,
}

/// One listing request as a worker holds it: the requester's own channels, so
/// an answer can only reach the caller that asked, and a caller that gave up
/// (dropped its [`Listing`]) is noticed at the next send.
#[derive(Debug)]
pub struct ListingJob {
    pub(super) part: usize,
    /// Empty buffers of [`LISTING_CHUNK`] entries from the requester: the worker
    /// fills them and allocates nothing.
    pub(super) spare: Receiver<Vec<ConnInfo>>,
    pub(super) full: Sender<ListingChunk>,
}

impl ListingJob {
    /// A buffer waits to be filled (a worker with none sleeps until its
    /// requester gives one back and rings: [`Listing::poll`]).
    pub(super) fn ready(&self) -> bool {
        !self.spare.is_empty()
    }
}

/// A connection listing being gathered from some workers, each walking its
/// table in steps of at most [`LISTING_CHUNK`] entries per pass into buffers
/// this side provides (two per worker, handed back as they are read). Callers
/// each start their own: they queue at every worker and are answered in turn.
///
/// Persistence templates are shared by the workers, not in their tables:
/// list them with `Templates::list` at the clock [`Listing::finish`] returns.
#[derive(Debug)]
pub struct Listing {
    full: Receiver<ListingChunk>,
    spare: Sender<Vec<ConnInfo>>,
    parts: Vec<Option<Vec<ConnInfo>>>,
    /// Per part: done (its clock) or not yet.
    done: Vec<Option<u32>>,
    /// Per part, the bell of the worker asked: any of them not done yet may
    /// be waiting for the buffer given back.
    wakers: Vec<Option<super::handoff::Waker>>,
}

impl Listing {
    /// Ask each worker of `workers` for its connections. A worker with too many
    /// requests waiting is not asked (it never completes).
    pub fn start<'a>(workers: impl IntoIterator<Item = &'a Published>) -> Self {
        let workers: Vec<&Published> = workers.into_iter().collect();
        let n = workers.len();
        let (spare_tx, spare_rx) = crossbeam_channel::bounded(2 * n);
        let (full_tx, full_rx) = crossbeam_channel::bounded(2 * n);
        for _ in 0..2 * n {
            let _ = spare_tx.try_send(Vec::with_capacity(LISTING_CHUNK));
        }
        for (part, p) in workers.iter().enumerate() {
            p.queue_listing(ListingJob {
                part,
                spare: spare_rx.clone(),
                full: full_tx.clone(),
            });
        }
        Self {
            full: full_rx,
            spare: spare_tx,
            parts: (0..n).map(|_| Some(Vec::new())).collect(),
            done: vec![None; n],
            wakers: workers.iter().map(|p| p.waker.clone()).collect(),
        }
    }

    fn take(&mut self, c: ListingChunk) {
        if let Some(Some(v)) = self.parts.get_mut(c.part) {
            v.extend_from_slice(&c.entries);
        }
        if let (Some(d), Some(now)) = (self.done.get_mut(c.part), c.done) {
            *d = Some(now);
        }
        let mut buf = c.entries;
        buf.clear();
        if self.spare.try_send(buf).is_ok() {
            // Only a worker still walking can be waiting for it.
            let walking = self
                .wakers
                .iter()
                .zip(&self.done)
                .filter(|(_, d)| d.is_none());
            for w in walking.filter_map(|(w, _)| w.as_ref()) {
                w.wake();
            }
        }
    }

    /// Take what the workers have sent so far, without waiting.
    pub fn poll(&mut self) {
        while let Ok(c) = self.full.try_recv() {
            self.take(c);
        }
    }

    /// Entries received so far.
    pub fn received(&self) -> usize {
        self.parts.iter().flatten().map(Vec::len).sum()
    }

    /// Every worker has sent all of its listing.
    pub fn complete(&self) -> bool {
        self.done.iter().all(Option::is_some)
    }

    /// Wait until every worker has answered, giving up on those that sent
    /// nothing for `stall` (a worker that stopped, or one with too many
    /// requests waiting).
    pub fn wait(&mut self, stall: Duration) {
        let mut deadline = Instant::now() + stall;
        while !self.complete() {
            match self.full.recv_deadline(deadline) {
                Ok(c) => {
                    self.take(c);
                    deadline = Instant::now() + stall;
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
    }

    /// The entries of the workers that answered completely, in the order they
    /// were given, the latest clock among them (for templates), and how many
    /// workers did not answer completely.
    pub fn finish(mut self) -> (Vec<ConnInfo>, u32, usize) {
        let mut all = Vec::new();
        let mut now = 0;
        let mut missing = 0;
        for (part, done) in self.parts.iter_mut().zip(&self.done) {
            match (part.take(), done) {
                (Some(v), Some(t)) => {
                    now = now.max(*t);
                    if all.is_empty() {
                        all = v;
                    } else {
                        all.extend(v);
                    }
                }
                _ => missing += 1,
            }
        }
        (all, now, missing)
    }
}

impl ListingJob {
    /// A buffer to fill: `Ok(None)` if none is free yet (the requester is still
    /// reading), `Err` if the requester gave up.
    pub(super) fn buffer(&self) -> Result<Option<Vec<ConnInfo>>, ()> {
        match self.spare.try_recv() {
            Ok(b) => Ok(Some(b)),
            Err(TryRecvError::Empty) => Ok(None),
            Err(TryRecvError::Disconnected) => Err(()),
        }
    }

    /// Send a filled buffer; false if the requester gave up.
    pub(super) fn send(&self, entries: Vec<ConnInfo>, done: Option<u32>) -> bool {
        self.full
            .try_send(ListingChunk {
                part: self.part,
                entries,
                done,
            })
            .is_ok()
    }
}

/// A frame passed to the worker that owns its flow: its bytes copied into
/// `data`, or (workers on one UMEM) its descriptor in `lent`.
pub struct Handoff {
    pub nic: Nic,
    pub len: u16,
    pub csum_partial: bool,
    /// The frame itself, left in the UMEM it arrived in; `data` is unused.
    pub lent: Option<crate::io::Lent>,
    /// A fragment on its way to its datagram's tracker or connection's
    /// owner (`frag.rs`), always a copy.
    pub frag: super::frag::FragHop,
    pub data: [u8; FRAME_MAX],
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataplane::handoff::mesh_with_wakers;
    use std::time::Duration;

    /// Run `f` while a worker sleeps in `poll()` on its bell (timeout 1 s);
    /// how long it slept.
    fn slept_while(h: &super::super::handoff::Handoffs, f: impl FnOnce()) -> Duration {
        let fd = h.wake_fd().expect("a worker has a bell");
        let slept = AtomicBool::new(false);
        std::thread::scope(|s| {
            let sleeper = s.spawn(|| {
                assert!(h.sleep());
                slept.store(true, Ordering::SeqCst);
                let t = Instant::now();
                crate::io::ring::poll_readable(&[fd], 1000);
                h.woke();
                t.elapsed()
            });
            let started = Instant::now();
            while !slept.load(Ordering::SeqCst) {
                assert!(started.elapsed() < Duration::from_secs(10), "never slept");
                std::thread::yield_now();
            }
            std::thread::sleep(Duration::from_millis(20));
            f();
            sleeper.join().expect("sleeper")
        })
    }

    /// The epoch every worker has loaded is the lowest one published
    /// (`Ctl::sweep_trash` settles a kept id by it); with no worker, the
    /// current epoch.
    #[test]
    fn the_epoch_loaded_by_all_is_the_slowest_workers() {
        let s = Shared::new(Snapshot::default());
        assert_eq!(s.loaded_by_all(), 0);
        let e = s.bump();
        assert_eq!(s.loaded_by_all(), e, "no worker");
        let (a, b) = (
            Arc::new(Published::default()),
            Arc::new(Published::default()),
        );
        s.register(&a);
        s.register(&b);
        a.loaded
            .store(s.epoch.load(Ordering::SeqCst), Ordering::Release);
        b.loaded.store(e, Ordering::Release);
        assert_eq!(s.loaded_by_all(), e, "b on older rules");
        b.loaded
            .store(s.epoch.load(Ordering::SeqCst), Ordering::Release);
        assert_eq!(s.loaded_by_all(), s.epoch.load(Ordering::SeqCst));
    }

    /// A listing request wakes the worker it asks, and so does a buffer its
    /// requester gives back: a worker waiting for one sleeps (it has no
    /// listing step to take) instead of spinning until the reader is done.
    #[test]
    fn listing_requests_and_returned_buffers_wake_a_sleeping_worker() {
        let (mut rings, wakers) = mesh_with_wakers(1, 4);
        let h = rings.pop().expect("worker 0");
        let p = Published::woken_by(wakers.one(0));
        let mut listing = None;
        let asleep = slept_while(&h, || listing = Some(Listing::start([&p])));
        assert!(asleep < Duration::from_millis(500), "slept {asleep:?}");
        let mut listing = listing.expect("started");

        // The worker takes every buffer the requester gave and sends them.
        let job = p.next_listing().expect("the request is queued");
        let mut sent = 0;
        while let Ok(Some(buf)) = job.buffer() {
            assert!(job.send(buf, None));
            sent += 1;
        }
        assert_eq!(sent, 2, "two buffers per worker");
        assert!(!job.ready(), "nothing to fill: the worker may sleep");
        let asleep = slept_while(&h, || listing.poll());
        assert!(asleep < Duration::from_millis(500), "slept {asleep:?}");
        assert!(job.ready(), "the buffers came back");

        // Its last chunk sent, the worker waits for nothing: the buffer
        // given back does not wake it (it sleeps the whole second).
        let buf = job.buffer().expect("requester").expect("a buffer");
        assert!(job.send(buf, Some(7)));
        let asleep = slept_while(&h, || listing.poll());
        assert!(
            asleep >= Duration::from_millis(900),
            "woken after {asleep:?}"
        );
        assert!(listing.complete());
    }
}
