//! Stateful NAT: connection table, TCP/UDP states and timeouts, the rewrites, and
//! the configuration snapshot the workers schedule from.
//!
//! Nothing here does I/O or reads a clock: time comes in as an argument, so every
//! scenario replays deterministically in tests.

pub mod persist;
pub mod rewrite;
pub mod state;
pub mod table;

use crate::config::{Config, DestId, MAX_DEST_IDS, Scheduler};
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

/// A real server as a scheduler sees it when a new connection is scheduled: its
/// entry plus its connections summed over every worker and its overload flag.
/// Workers fill these in a scratch buffer of their own (see `worker`), only for
/// services whose scheduler or thresholds need them ([`ServiceEntry::needs_counts`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestView {
    pub entry: DestEntry,
    pub active: u32,
    pub inactive: u32,
    pub overloaded: bool,
}

impl Candidate for DestView {
    fn weight(&self) -> u32 {
        self.entry.weight
    }
    fn active(&self) -> u32 {
        self.active
    }
    fn inactive(&self) -> u32 {
        self.inactive
    }
    fn overloaded(&self) -> bool {
        self.overloaded
    }
    fn addr(&self) -> u32 {
        self.entry.addr
    }
    fn port(&self) -> u16 {
        self.entry.port
    }
}

/// IPVS's overload hysteresis for one real server, given its connections over all
/// workers (`total`, active + inactive) and its thresholds. `flag` is the shared
/// per-`DestId` state: 0 when not overloaded, else the upper threshold in force
/// when the server became overloaded. As in IPVS, a server becomes overloaded when
/// `total` reaches `u` (if non-zero) and stays so until `total` drops below `l`,
/// or below 3/4 of `u` when `l` is 0; raising `u` (or clearing it) ends the
/// overload at once (`__ip_vs_update_dest`). The flag is written with plain
/// stores: every worker computes the same value from the same inputs, so a race
/// only decides which of two equal answers lands.
pub fn overload_check(flag: &std::sync::atomic::AtomicU32, u: u32, l: u32, total: u32) -> bool {
    use std::sync::atomic::Ordering::Relaxed;
    let set = flag.load(Relaxed);
    let was = u != 0 && set != 0 && set >= u;
    let now = if u == 0 {
        false
    } else if was {
        if l != 0 {
            total >= l
        } else {
            u64::from(total) * 4 >= u64::from(u) * 3
        }
    } else {
        total >= u
    };
    let want = if now { u } else { 0 };
    if set != want {
        flag.store(want, Relaxed);
    }
    now
}

/// Persistence of a service (`-p timeout`, `-M netmask`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Persist {
    pub timeout: u32,
    /// Host-order netmask applied to the client address.
    pub mask: u32,
}

/// One entry of a connection listing (`ipvsadm -L -c`), as a worker reports it.
/// Defined in `config::listing` (listings take it from there without importing
/// `nat`), with our [`State`].
pub type ConnInfo = crate::config::listing::ConnInfo<State>;

impl crate::config::listing::StateName for State {
    fn name(self) -> &'static str {
        State::name(self)
    }
}

/// A virtual service as the workers see it.
#[derive(Debug)]
pub struct ServiceEntry {
    pub sched: SchedState,
    pub dests: Box<[DestEntry]>,
    /// The scheduler looks at connection counts (lc, wlc, sed, nq, ovf, twos,
    /// lblc, lblcr) or some server has an upper threshold: the workers sum the
    /// gauges of every worker for each new connection. Otherwise they pass the
    /// entries as they are (counts 0, never overloaded) and read no gauge.
    pub needs_counts: bool,
    /// `-p`: new connections go through a persistence template.
    pub persist: Option<Persist>,
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
    /// Bitmap of the `DestId`s that exist (for `--expire-nodest-conn`).
    pub live: Box<[u64]>,
    /// The most real servers of one service (sizes the workers' scratch buffers).
    pub max_dests: usize,
    /// Some service is persistent (the workers sweep templates).
    pub any_persistent: bool,
}

impl Snapshot {
    pub fn build(cfg: &Config, timeouts: Timeouts) -> Self {
        let mut services = HashMap::new();
        let mut vips = HashSet::new();
        let mut live = vec![0u64; (MAX_DEST_IDS as usize).div_ceil(64)].into_boxed_slice();
        let mut max_dests = 0;
        let mut any_persistent = false;
        for s in cfg.services() {
            for d in &s.dests {
                let i = d.id.0 as usize % MAX_DEST_IDS as usize;
                live[i / 64] |= 1 << (i % 64);
            }
            max_dests = max_dests.max(s.dests.len());
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
            let needs_counts = matches!(
                s.sched,
                Scheduler::Lc
                    | Scheduler::Wlc
                    | Scheduler::Sed
                    | Scheduler::Nq
                    | Scheduler::Ovf
                    | Scheduler::Twos
                    | Scheduler::Lblc
                    | Scheduler::Lblcr
            ) || dests.iter().any(|d| d.u_threshold > 0);
            let persist = s.persistent.map(|timeout| Persist {
                timeout,
                mask: u32::from(s.netmask),
            });
            any_persistent |= persist.is_some();
            services.insert(
                (s.key.proto.number(), addr, s.key.port),
                ServiceEntry {
                    sched: SchedState::new(s.sched, s.sched_flags, &dests),
                    dests,
                    needs_counts,
                    persist,
                },
            );
        }
        Self {
            services,
            vips,
            timeouts,
            live,
            max_dests,
            any_persistent,
        }
    }

    /// The service of a packet to `vip:port`, as `ip_vs_service_find`
    /// (`ip_vs_ctl.c`) finds it: the service of that exact port, else the VIP's
    /// port-0 (catch-all) service. IPVS looks for a firewall-mark service first
    /// and, for TCP, for an FTP service (port 21) before port 0; ringvs has
    /// neither fwmark services nor the FTP helper. Returns the service's id (its
    /// port is 0 for the catch-all) with it. The second lookup happens only for
    /// packets no exact service takes.
    #[inline]
    pub fn service_for(
        &self,
        proto: u8,
        vip: u32,
        port: u16,
    ) -> Option<(ServiceId, &ServiceEntry)> {
        let exact = (proto, vip, port);
        if let Some(s) = self.services.get(&exact) {
            return Some((exact, s));
        }
        let any = (proto, vip, 0);
        self.services.get(&any).map(|s| (any, s))
    }

    /// Whether real server `id` exists in this configuration (one bit test):
    /// IPVS's `IP_VS_DEST_F_AVAILABLE`. A server removed from its service (`-d`,
    /// or a failing health check without `--inhibit-on-failure`) is not; a
    /// weight-0 (quiesced, or inhibited) server still is, as in IPVS.
    #[inline]
    pub fn dest_live(&self, id: DestId) -> bool {
        let i = id.0 as usize;
        self.live
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[test]
    fn build_marks_what_the_workers_need() {
        use crate::config::{Proto, ServiceKey};
        use std::net::Ipv4Addr;
        let mut cfg = Config::new();
        let (a, b) = (
            ServiceKey::new(Proto::Tcp, Ipv4Addr::new(198, 18, 0, 110), 80),
            ServiceKey::new(Proto::Tcp, Ipv4Addr::new(198, 18, 0, 110), 443),
        );
        cfg.add_service(a, Scheduler::Wlc, None).expect("a");
        cfg.add_service(b, Scheduler::Rr, Some(300)).expect("b");
        let rip = Ipv4Addr::new(198, 19, 0, 2);
        let ida = cfg.add_dest(&a, rip, 80, 1).expect("dest");
        let idb = cfg.add_dest(&b, rip, 443, 1).expect("dest");
        let s = Snapshot::build(&cfg, Timeouts::default());
        let sa = &s.services[&(6, u32::from(a.addr), 80)];
        let sb = &s.services[&(6, u32::from(b.addr), 443)];
        assert!(sa.needs_counts, "wlc reads connection counts");
        assert!(!sb.needs_counts, "rr without thresholds does not");
        assert_eq!(sa.persist, None);
        assert_eq!(
            sb.persist,
            Some(Persist {
                timeout: 300,
                mask: u32::MAX
            })
        );
        assert!(s.any_persistent);
        assert_eq!(s.max_dests, 1);
        assert!(s.dest_live(ida) && s.dest_live(idb));
        assert!(!s.dest_live(DestId(ida.0.max(idb.0) + 1)));
        assert!(!Snapshot::default().dest_live(ida));
    }

    #[test]
    fn overload_has_hysteresis() {
        let f = AtomicU32::new(0);
        // u = 4, l = 0: overloaded at 4, back below 3 (3/4 of 4).
        assert!(!overload_check(&f, 4, 0, 3));
        assert!(overload_check(&f, 4, 0, 4));
        assert!(overload_check(&f, 4, 0, 3));
        assert!(!overload_check(&f, 4, 0, 2));
        assert!(!overload_check(&f, 4, 0, 3));
        // u = 10, l = 2: stays overloaded down to 2.
        assert!(overload_check(&f, 10, 2, 10));
        assert!(overload_check(&f, 10, 2, 2));
        assert!(!overload_check(&f, 10, 2, 1));
        // Raising the threshold ends an overload; clearing it too.
        assert!(overload_check(&f, 10, 2, 10));
        assert!(!overload_check(&f, 20, 2, 10));
        assert!(overload_check(&f, 10, 0, 12));
        assert!(!overload_check(&f, 0, 0, 12));
        assert_eq!(f.load(std::sync::atomic::Ordering::Relaxed), 0);
    }
}
