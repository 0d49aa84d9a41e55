//! Stateful NAT: connection table, TCP/UDP states and timeouts, the rewrites, and
//! the configuration snapshot the workers schedule from.
//!
//! Nothing here does I/O or reads a clock: time comes in as an argument, so every
//! scenario replays deterministically in tests.

pub mod rewrite;
pub mod state;
pub mod table;

use crate::config::{Config, DestId};
use crate::sched::{Candidate, SchedState};
use hashbrown::{HashMap, HashSet};
pub use state::{Dir, State, Timeouts};
pub use table::{Conn, ConnTable, FlowKey};

/// A real server as the workers see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestEntry {
    pub addr: u32,
    pub port: u16,
    pub weight: u32,
    pub id: DestId,
    pub u_threshold: u32,
    pub l_threshold: u32,
}

impl Candidate for DestEntry {
    fn weight(&self) -> u32 {
        self.weight
    }
    fn addr(&self) -> u32 {
        self.addr
    }
    fn port(&self) -> u16 {
        self.port
    }
}

/// One entry of a connection listing (`ipvsadm -L -c`), as a worker reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConnInfo {
    /// IP protocol number of the service (6 TCP, 17 UDP).
    pub proto: u8,
    pub client: (std::net::Ipv4Addr, u16),
    pub vip: (std::net::Ipv4Addr, u16),
    pub dest: (std::net::Ipv4Addr, u16),
    pub state: State,
    /// Seconds until the entry expires.
    pub expires_in: u32,
    /// A persistence template (`-p`) rather than a connection.
    pub template: bool,
}

/// A virtual service as the workers see it.
#[derive(Debug)]
pub struct ServiceEntry {
    pub sched: SchedState,
    pub dests: Box<[DestEntry]>,
}

/// (protocol number, VIP, port).
pub type ServiceId = (u8, u32, u16);

/// An immutable view of the configuration, published by the control thread and
/// read by every worker. New connections are scheduled from the newest snapshot;
/// existing connections carry their real server and never look here again.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub services: HashMap<ServiceId, ServiceEntry>,
    /// Every address some service listens on (answered for ARP and ping).
    pub vips: HashSet<u32>,
    pub timeouts: Timeouts,
}

impl Snapshot {
    pub fn build(cfg: &Config, timeouts: Timeouts) -> Self {
        let mut services = HashMap::new();
        let mut vips = HashSet::new();
        for s in cfg.services() {
            let dests: Box<[DestEntry]> = s
                .dests
                .iter()
                .map(|d| DestEntry {
                    addr: u32::from(d.addr),
                    port: d.port,
                    weight: d.weight,
                    id: d.id,
                    u_threshold: d.u_threshold,
                    l_threshold: d.l_threshold,
                })
                .collect();
            let addr = u32::from(s.key.addr);
            vips.insert(addr);
            services.insert(
                (s.key.proto.number(), addr, s.key.port),
                ServiceEntry {
                    sched: SchedState::new(s.sched, s.sched_flags, &dests),
                    dests,
                },
            );
        }
        Self {
            services,
            vips,
            timeouts,
        }
    }
}
