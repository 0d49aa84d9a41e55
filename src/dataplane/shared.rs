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
use crate::io::FRAME_MAX;
use crate::nat::persist::Templates;
use crate::nat::{ConnInfo, Snapshot, state};
use crate::neigh::{NeighSnapshot, Prefix};
use crate::stats::{DestGauges, DestStats, DestTraffic, MAX_DESTS, SharedCounters};
use crate::wire::Mac;
use arc_swap::ArcSwap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Most entries (connections and templates) one worker's listing holds.
pub const MAX_LISTING: usize = 1 << 20;

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
    /// IPVS's sysctls that change the packet path (`ringvs run` options).
    pub sysctl: Sysctl,
}

/// The IPVS sysctls (`/proc/sys/net/ipv4/vs/`) ringvs has, with IPVS's defaults
/// (`Sysctl::default()`). Fixed for the life of the director.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sysctl {
    /// `conn_reuse_mode` (`--conn-reuse-mode`, default 1): a SYN that meets a
    /// connection in TIME_WAIT or CLOSE (not controlled by a persistence
    /// template) expires it and is scheduled anew, as `ip_vs_in_hook` with
    /// `is_new_conn_expected` (`ip_vs_core.c`). 0: the SYN goes to the old
    /// connection's real server. Bit 2 only concerns connections that see no
    /// replies (DR/TUN), which NAT never has.
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
}

impl Default for Sysctl {
    fn default() -> Self {
        Self {
            conn_reuse_mode: 1,
            expire_nodest_conn: false,
            expire_quiescent_template: false,
        }
    }
}

impl Env {
    pub fn ext_addr(&self) -> u32 {
        u32::from(self.ext_net.addr)
    }
    pub fn dip(&self) -> u32 {
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
    /// when they are built (`dataplane::build`).
    pub peers: ArcSwap<Vec<Arc<Published>>>,
    /// IPVS's overload flag per `DestId % MAX_DESTS` (see [`crate::nat::overload_check`]).
    pub overload: Box<[AtomicU32]>,
    /// Persistence templates, shared by all workers (see `nat::persist`).
    pub templates: Templates,
    /// Health checks: check replies to divert, suspect servers (`crate::health`).
    pub health: divert::Tap,
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
            health: divert::Tap::default(),
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

impl crate::observe::stream::TapHost for Shared {
    fn tap(&self) -> &crate::observe::TapSlot {
        &self.tap
    }
    fn republish(&self) {
        self.bump();
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
    pub(super) zero_req: AtomicBool,
    pub(super) conns_req: AtomicBool,
    pub(super) conns: Mutex<Option<Vec<ConnInfo>>>,
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
