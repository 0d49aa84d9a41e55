//! Stateful NAT: connection table, TCP/UDP states and timeouts, the rewrites, and
//! the configuration snapshot the workers schedule from.
//!
//! Nothing here does I/O or reads a clock: time comes in as an argument, so every
//! scenario replays deterministically in tests.

pub mod addr;
pub mod conn;
pub mod ftp;
mod gone;
pub mod mark;
pub mod ops;
mod overload;
pub mod persist;
pub mod rewrite;
pub mod sip;
pub mod state;
pub mod table;

use crate::config::{Config, DestId, MAX_DEST_IDS, Scheduler, Service};
use crate::sched::{Candidate, SchedState, same_dest};
pub use addr::{Addr, fold32};
use hashbrown::{HashMap, HashSet};
use mark::ftp_data;
pub use mark::{FTP_DATA_PORT, FTP_PORT};
pub use overload::{cleared as overload_cleared, limits as overload_limits};
pub use overload::{overload_bind, overload_check, overload_unbind};
pub use state::{Dir, State, Timeouts};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
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
    /// IPVS's `last_weight`: the weight the server was added with, then its
    /// latest non-zero weight (`__ip_vs_update_dest`). `mh` builds its table
    /// from it, so quiescing a server (weight 0) keeps its slots.
    pub last_weight: u32,
    /// How packets to this server are forwarded (`-m`, `-g`, `-i`).
    pub forward: crate::config::Forward,
}

impl Candidate for DestEntry {
    fn weight(&self) -> u32 {
        self.weight
    }
    fn last_weight(&self) -> u32 {
        self.last_weight
    }
    fn id(&self) -> u32 {
        self.id.0
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
    fn last_weight(&self) -> u32 {
        self.entry.last_weight
    }
    fn id(&self) -> u32 {
        self.entry.id.0
    }
}

/// Persistence of a service (`-p timeout`, `-M netmask`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Persist {
    pub timeout: u32,
    /// The `-M` of the service's family: for IPv4 a host-order netmask ANDed
    /// with the client address, for IPv6 a prefix length (1..=128) the client
    /// address is cut to ([`Addr::masked`]).
    pub mask: u32,
}

/// One entry of a connection listing (`ipvsadm -L -c`), as a worker reports it.
/// Defined in `config::listing` (listings take it from there without importing
/// `nat`), with our [`State`].
pub type ConnInfo = crate::config::listing::ConnInfo<State, std::net::IpAddr>;

impl crate::config::listing::StateName for State {
    fn name(self) -> &'static str {
        State::name(self)
    }
}

/// A virtual service as the workers see it.
#[derive(Debug)]
pub struct ServiceEntry {
    /// Shared with the previous snapshot's entry while the scheduler and what
    /// its state depends on are unchanged (see [`SchedState::carry`]).
    pub sched: Arc<SchedState>,
    pub dests: Box<[DestEntry]>,
    /// The scheduler looks at connection counts (lc, wlc, sed, nq, ovf, twos,
    /// lblc, lblcr) or some server has an upper threshold: the workers sum the
    /// gauges of every worker for each new connection. Otherwise they pass the
    /// entries as they are (counts 0, never overloaded) and read no gauge.
    pub needs_counts: bool,
    /// `-p`: new connections go through a persistence template.
    pub persist: Option<Persist>,
    /// `-o` on a UDP service: each datagram is scheduled on its own and
    /// leaves no connection (`ops.rs`).
    pub ops: bool,
    /// `--pe sip` on a persistent service: templates are found by the SIP
    /// Call-ID too (`sip.rs`).
    pub pe_sip: bool,
    /// The service's sorry server, whether or not it is among `dests` now:
    /// connection sync resolves a synced connection to it on a director
    /// whose own checks have not put it in (a standby runs none).
    pub sorry: Option<crate::config::SorryServer>,
}

/// Each real server's forwarding method by id, if any is not masquerading
/// (else empty: NAT-only configurations pay nothing per packet).
fn direct_forwards(cfg: &Config) -> Box<[crate::config::Forward]> {
    use crate::config::Forward;
    let dests = || cfg.services().iter().flat_map(|s| s.dests.iter());
    if dests().all(|d| d.forward == Forward::Masq) {
        return Box::default();
    }
    let len = dests().map(|d| d.id.0 as usize + 1).max().unwrap_or(0);
    let mut v = vec![Forward::Masq; len];
    for d in dests() {
        v[d.id.0 as usize] = d.forward;
    }
    v.into_boxed_slice()
}

/// Each real server's address by id where it is not of its service's
/// family (else empty: see [`Snapshot::cross`]).
fn cross_family(cfg: &Config) -> Box<[Option<IpAddr>]> {
    let cross = || {
        cfg.services().iter().flat_map(|s| {
            let v6 = s.key.addr6().is_some();
            s.dests.iter().filter(move |d| d.addr.is_ipv6() != v6)
        })
    };
    let Some(len) = cross().map(|d| d.id.0 as usize + 1).max() else {
        return Box::default();
    };
    let mut v = vec![None; len];
    for d in cross() {
        v[d.id.0 as usize] = Some(d.addr);
    }
    v.into_boxed_slice()
}

/// (protocol number, VIP, port).
pub type ServiceId = (u8, u32, u16);

/// (protocol number, IPv6 VIP, port): the key of [`Snapshot::services6`].
pub type ServiceId6 = (u8, Ipv6Addr, u16);

/// An IPv6 service as the workers see it: the same [`ServiceEntry`] as an
/// IPv4 one (scheduler state carried across snapshots, gauges, `needs_counts`,
/// persistence, overload), whose real servers' [`DestEntry::addr`] hold their
/// address folded to 32 bits as IPVS folds IPv6 addresses for hashing
/// ([`fold32`]), with the real addresses index-aligned in `addrs6`.
///
/// So every scheduler runs unchanged on IPv6 services, and the hashing ones
/// (`sh`, `dh`, `mh`, `lblc`, `lblcr`) hash every bit of the address, as IPVS
/// does: the flow's client and VIP are folded the same way. Persistence keys
/// on the whole client address masked by the `-M` prefix length, which
/// [`Persist::mask`] then holds (see [`Addr::masked`]).
///
/// One deliberate difference from IPVS: `lblc`/`lblcr` key their cache by the
/// folded destination address, where `ip_vs_lblc.c` (`ip_vs_lblc_get`)
/// compares the whole one; two VIPs of one service folding alike would share
/// an entry. A service has one VIP, so this never happens in NAT mode.
#[derive(Debug)]
pub struct ServiceEntry6 {
    pub entry: ServiceEntry,
    /// The real servers' IPv6 addresses, index-aligned with `entry.dests`. An
    /// IPv4 real server of an IPv6 service (a tunnel, as IPVS allows) has its
    /// IPv4-mapped address here ([`Snapshot::cross`]).
    pub addrs6: Box<[Ipv6Addr]>,
}

/// An immutable view of the configuration, published by the control thread and
/// read by every worker. New connections are scheduled from the newest snapshot;
/// existing connections carry their real server and never look here again.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The IPv4 services. An IPv6 real server of one of them (a tunnel, as
    /// IPVS allows) has its address folded in its `dests`
    /// ([`Snapshot::cross`]).
    pub services: HashMap<ServiceId, ServiceEntry>,
    /// Every IPv4 address some service listens on (answered for ARP and ping).
    pub vips: HashSet<u32>,
    /// The IPv6 services, kept apart so that the IPv4 maps and their lookups
    /// stay as they were; for the IPv6 data path (issue 15), which no worker
    /// runs yet.
    pub services6: HashMap<ServiceId6, ServiceEntry6>,
    /// Every IPv6 address some service listens on (answered for NDP and echo).
    pub vips6: HashSet<Ipv6Addr>,
    pub timeouts: Timeouts,
    /// Bitmap of the `DestId`s that exist (for `--expire-nodest-conn`).
    pub live: Box<[u64]>,
    /// The most real servers of one service (sizes the workers' scratch buffers).
    pub max_dests: usize,
    /// Some service is persistent (the workers sweep templates).
    pub any_persistent: bool,
    /// Some real server is reached by DR or TUN (`-g`, `-i`): only then do
    /// the workers look up a connection's forwarding method.
    pub any_direct: bool,
    /// The forwarding method of each real server by `DestId`, and of each
    /// one gone from the rules whose service keeps it for its connections
    /// (`dest_svc`; so with only NAT servers left it may hold a removed DR
    /// server's, while `any_direct` is false); empty unless some is not
    /// NAT, and ids beyond it masquerade.
    pub forwards: Box<[crate::config::Forward]>,
    /// By `DestId`, the address of each real server of the other family
    /// than its service: a tunnel endpoint, as IPVS allows (`ip_vs_ctl.c`
    /// accepts a mixed family only with `IP_VS_CONN_F_TUNNEL`). Empty unless
    /// some. The service's entry holds a placeholder of its own family in
    /// the server's place (an IPv6 endpoint's address folded, [`fold32`]; an
    /// IPv4 one's IPv4-mapped IPv6 address), which the schedulers hash and
    /// connections keep as their real address; the workers tunnel to the
    /// address here.
    pub cross: Box<[Option<IpAddr>]>,
    /// The NAT real servers of IPv4 one-packet-scheduling services, by the
    /// address and port they reply from (`ops.rs`).
    pub ops_replies: ops::OpsReplies<u32>,
    /// The same for IPv6 services.
    pub ops_replies6: ops::OpsReplies<Ipv6Addr>,
    /// By `DestId`, the IPv4 service each real server (and sorry server)
    /// is of: a connection's service, as IPVS's `cp->dest->svc`, whatever
    /// rules were added or changed since it was scheduled
    /// ([`Snapshot::service_of_dest`]). Sized to the largest id in use.
    pub dest_svc: Box<[Option<ServiceId>]>,
    /// The same for IPv6 services.
    pub dest_svc6: Box<[Option<ServiceId6>]>,
    /// By `DestId`, each real server's connection thresholds `(u, l)`
    /// (`-x`, `-y`), for the workers' overload check at every bind and
    /// unbind of a connection (`dataplane/overload.rs`); empty unless some
    /// real server has an upper threshold, so that configurations without
    /// one pay a length test there and nothing else.
    pub limits: Box<[(u32, u32)]>,
    /// The firewall-mark services' `--mark-dest` rules (`mark.rs`), looked
    /// at first by [`Snapshot::service_for`].
    pub marks: mark::Marks<u32, ServiceId>,
    /// The same for IPv6 ([`Snapshot::service_for6`]).
    pub marks6: mark::Marks<u128, ServiceId6>,
}

impl Snapshot {
    /// The first snapshot: every scheduler starts afresh.
    pub fn build(cfg: &Config, timeouts: Timeouts) -> Self {
        Self::build_from(cfg, timeouts, None)
    }

    /// A snapshot of `cfg` that follows `prev` (the one the workers run now):
    /// a service keeps its scheduler's state (rr position, wrr walk, hash
    /// tables, lblc/lblcr cache, twos random source) as long as it keeps its
    /// scheduler, updated for a changed server list as the kernel's hooks do
    /// ([`SchedState::carry`]); and each real server keeps its
    /// `last_weight`.
    ///
    /// Cost beyond [`Snapshot::build`]: one lookup of each service in `prev`
    /// and a pass over its previous server list (matching servers by id,
    /// usually in the same order); schedulers are shared (an `Arc` clone),
    /// and only a table whose inputs changed is rebuilt, as the kernel
    /// rebuilds it. No cache is walked or copied.
    pub fn build_from(cfg: &Config, timeouts: Timeouts, prev: Option<&Snapshot>) -> Self {
        let mut services = HashMap::new();
        let mut vips = HashSet::new();
        let mut services6 = HashMap::new();
        let mut vips6 = HashSet::new();
        let mut live = vec![0u64; (MAX_DEST_IDS as usize).div_ceil(64)].into_boxed_slice();
        let mut max_dests = 0;
        let mut any_persistent = false;
        let ids = cfg.services().iter().flat_map(|s| s.dests_and_sorry());
        let n_ids = ids.map(|d| d.id.0 as usize + 1).max().unwrap_or(0);
        let mut dest_svc = vec![None; n_ids];
        let mut dest_svc6 = vec![None; n_ids];
        for s in cfg.services() {
            for d in &s.dests {
                let i = d.id.0 as usize % MAX_DEST_IDS as usize;
                live[i / 64] |= 1 << (i % 64);
            }
            max_dests = max_dests.max(s.dests.len());
            let proto = s.key.proto.number();
            let mask = s.netmask.v4_bits().unwrap_or(u32::MAX);
            // A firewall-mark service's single addresses are VIPs.
            for m in s.marks.iter().filter(|m| m.is_host()) {
                match m.net {
                    IpAddr::V4(a) => vips.insert(a.to_bits()),
                    IpAddr::V6(a) => vips6.insert(a),
                };
            }
            if let Some(vip6) = s.key.addr6() {
                // An IPv6 service: into its own map, never the IPv4 ones.
                let key = match s.key.mark {
                    0 => (proto, vip6, s.key.port),
                    m => mark::fwmark_id6(m),
                };
                let before = prev.and_then(|p| p.services6.get(&key)).map(|b| &b.entry);
                let (addrs6, dests): (Vec<Ipv6Addr>, Vec<DestEntry>) = s
                    .dests
                    .iter()
                    .map(|d| {
                        // An IPv4 tunnel endpoint: its IPv4-mapped address
                        // holds its place (see `cross`).
                        let a = match d.addr {
                            IpAddr::V6(a) => a,
                            IpAddr::V4(a) => a.to_ipv6_mapped(),
                        };
                        (a, dest_entry(d, fold32(a)))
                    })
                    .unzip();
                let prefix = match s.netmask {
                    crate::config::Netmask::V6(p) => u32::from(p),
                    crate::config::Netmask::V4(_) => 128,
                };
                let entry = service_entry(s, dests.into(), before, prefix);
                any_persistent |= entry.persist.is_some();
                let addrs6 = addrs6.into();
                for d in s.dests_and_sorry() {
                    dest_svc6[d.id.0 as usize] = Some(key);
                }
                services6.insert(key, ServiceEntry6 { entry, addrs6 });
                if !s.key.is_fwmark() {
                    vips6.insert(vip6);
                }
                continue;
            }
            let Some(addr) = s.key.addr4() else { continue };
            let addr = u32::from(addr);
            let key = match s.key.mark {
                0 => (proto, addr, s.key.port),
                m => mark::fwmark_id(m),
            };
            let before = prev.and_then(|p| p.services.get(&key));
            let dests: Box<[DestEntry]> = s
                .dests
                .iter()
                .map(|d| match d.addr {
                    IpAddr::V4(a) => dest_entry(d, u32::from(a)),
                    // An IPv6 tunnel endpoint: its folded address holds its
                    // place (see `cross`).
                    IpAddr::V6(a) => dest_entry(d, fold32(a)),
                })
                .collect();
            if !s.key.is_fwmark() {
                vips.insert(addr);
            }
            let entry = service_entry(s, dests, before, mask);
            any_persistent |= entry.persist.is_some();
            for d in s.dests_and_sorry() {
                dest_svc[d.id.0 as usize] = Some(key);
            }
            services.insert(key, entry);
        }
        let forwards = direct_forwards(cfg);
        // The packet path needs no removed server's method: its connections'
        // packets are dropped (`drop_no_dest_conn`, as `ip_vs_in`).
        let any_direct = !forwards.is_empty();
        let maps = (&services, &services6);
        let forwards = match prev {
            Some(p) => gone::carry(
                cfg,
                p,
                maps,
                (&mut dest_svc, &mut dest_svc6),
                (forwards, &live),
            ),
            None => forwards,
        };
        let cross = cross_family(cfg);
        let (ops_replies, ops_replies6) = ops_replies(cfg);
        let (marks, marks6) = mark::build(cfg);
        let limits = overload::limits(cfg);
        Self {
            services,
            vips,
            services6,
            vips6,
            timeouts,
            live,
            max_dests,
            any_persistent,
            any_direct,
            forwards,
            cross,
            ops_replies,
            ops_replies6,
            limits,
            marks,
            marks6,
            dest_svc: dest_svc.into(),
            dest_svc6: dest_svc6.into(),
        }
    }

    /// The IPv4 service real server `id` is of (one indexed load).
    #[inline]
    pub fn service_of_dest(&self, id: DestId) -> Option<(ServiceId, &ServiceEntry)> {
        let key = self.dest_svc.get(id.0 as usize).copied().flatten()?;
        self.services.get(&key).map(|s| (key, s))
    }

    /// The IPv6 service real server `id` is of.
    #[inline]
    pub fn service_of_dest6(&self, id: DestId) -> Option<(ServiceId6, &ServiceEntry6)> {
        let key = self.dest_svc6.get(id.0 as usize).copied().flatten()?;
        self.services6.get(&key).map(|s| (key, s))
    }

    /// The address of real server `id` when it is of the other family than
    /// its service (see `cross`): one indexed load, made only for DR/TUN
    /// connections.
    #[inline]
    pub fn cross_rip(&self, id: DestId) -> Option<IpAddr> {
        self.cross.get(id.0 as usize).copied().flatten()
    }

    /// How real server `id` is reached: one indexed load (see `forwards`).
    #[inline]
    pub fn forward_of(&self, id: DestId) -> crate::config::Forward {
        self.forwards
            .get(id.0 as usize)
            .copied()
            .unwrap_or(crate::config::Forward::Masq)
    }

    /// The service of a packet to `vip:port`, as `ip_vs_service_find`
    /// (`ip_vs_ctl.c`) finds it: the firewall-mark service whose
    /// `--mark-dest` takes the packet (a walk over no rules without one),
    /// else the service of that exact port, else, for TCP to port 20 or an
    /// unprivileged port (1024 and up, `inet_port_requires_bind_service`),
    /// the VIP's FTP service (port 21: a passive data connection, which a
    /// persistent FTP service takes to its client's server), else the VIP's
    /// port-0 (catch-all) service. (ringvs's FTP helper finds the data
    /// connections it expects before any service, `dataplane/ftp.rs`.)
    /// Returns the
    /// service's id (its port is 0 for the catch-all; `mark::fwmark_id` for
    /// a mark's) with it. The second lookup happens only for packets no
    /// exact service takes.
    ///
    /// A firewall-mark service's id finds it too (protocol 0: a synced
    /// persistence template's, as IPVS's).
    #[inline]
    pub fn service_for(
        &self,
        proto: u8,
        vip: u32,
        port: u16,
    ) -> Option<(ServiceId, &ServiceEntry)> {
        if let Some(id) = self.marks.find(proto, vip, port)
            && let Some(s) = self.services.get(&id)
        {
            return Some((id, s));
        }
        let exact = (proto, vip, port);
        if let Some(s) = self.services.get(&exact) {
            return Some((exact, s));
        }
        let ftp = (proto, vip, FTP_PORT);
        if ftp_data(proto, port)
            && let Some(s) = self.services.get(&ftp)
        {
            return Some((ftp, s));
        }
        let any = (proto, vip, 0);
        self.services.get(&any).map(|s| (any, s))
    }

    /// [`Snapshot::service_for`] for an IPv6 packet to `[vip]:port`.
    #[inline]
    pub fn service_for6(
        &self,
        proto: u8,
        vip: Ipv6Addr,
        port: u16,
    ) -> Option<(ServiceId6, &ServiceEntry6)> {
        if let Some(id) = self.marks6.find(proto, vip.to_bits(), port)
            && let Some(s) = self.services6.get(&id)
        {
            return Some((id, s));
        }
        let exact = (proto, vip, port);
        if let Some(s) = self.services6.get(&exact) {
            return Some((exact, s));
        }
        let ftp = (proto, vip, FTP_PORT);
        if ftp_data(proto, port)
            && let Some(s) = self.services6.get(&ftp)
        {
            return Some((ftp, s));
        }
        let any = (proto, vip, 0);
        self.services6.get(&any).map(|s| (any, s))
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

/// The replies of no connection that one-packet-scheduling services
/// translate, of either family ([`ops::OpsReplies::build`]), from every UDP
/// service's NAT real servers: each replies from its port (the service's
/// when it has none), or from any port for a port-0 service, whose
/// connections keep the client's destination port (`Core::new_conn`).
///
/// A SIP service's (`--pe sip`) real servers are in it too, for IPVS's
/// `conn_out` ([`ops::ConnOut`]), persistent or not: `ip_vs_add_service`
/// counts a service in `conn_out_counter` for its engine alone, and
/// `ip_vs_new_conn_out` (`ip_vs_core.c`) makes the connection either way,
/// the template only with `-p`. Not of a port-0 service, as
/// `ip_vs_new_conn_out` makes nothing there.
///
/// A firewall-mark service with a UDP `--mark-dest` rule has its NAT real
/// servers in it too, with nothing to make (`ip_vs_new_conn_out` returns
/// none for a mark service): their replies of no connection may be its
/// late ones, so a server port it shares with a `-o` service is ambiguous,
/// as the kernel's `ip_vs_find_real_service` (`ip_vs_ctl.c`) finds a mark
/// service's dest for any protocol. From the server's own port, or any
/// port when it has none or the service is persistent (its connections
/// then keep the client's destination port).
fn ops_replies(cfg: &Config) -> (ops::OpsReplies<u32>, ops::OpsReplies<Ipv6Addr>) {
    use crate::config::{Forward, PersistEngine, Proto};
    use ops::{ConnOut, Server};
    let udp = || {
        cfg.services().iter().filter(|s| {
            s.key.proto == Proto::Udp
                || (s.key.is_fwmark() && s.marks.iter().any(|m| m.proto == Proto::Udp))
        })
    };
    let sip = |s: &crate::config::Service| s.pe == Some(PersistEngine::Sip) && s.key.port != 0;
    if !udp().any(|s| s.ops || sip(s)) {
        return Default::default();
    }
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    for s in udp() {
        let vport = s.key.port;
        let conn_out = match (s.ops, sip(s)) {
            // Without `-p` a `-o` service's connection would be one
            // packet's and there is no template: a reply as any other.
            (true, true) if s.persistent.is_some() => Some(ConnOut::Template),
            (true, _) => Some(ConnOut::Nothing),
            (false, true) => Some(ConnOut::Conn),
            (false, false) => None,
        };
        for d in s.dests.iter().filter(|d| d.forward == Forward::Masq) {
            let rport = match (vport, d.port) {
                _ if s.key.is_fwmark() && s.persistent.is_some() => 0,
                (_, 0) => vport,
                (0, _) if !s.key.is_fwmark() => 0,
                (_, p) => p,
            };
            match (s.key.addr, d.addr) {
                (IpAddr::V4(vip), IpAddr::V4(rip)) => v4.push(Server {
                    rip: rip.into(),
                    rport,
                    ops: conn_out.map(|c| (vip.into(), vport, d.id, c)),
                }),
                (IpAddr::V6(vip), IpAddr::V6(rip)) => v6.push(Server {
                    rip,
                    rport,
                    ops: conn_out.map(|c| (vip, vport, d.id, c)),
                }),
                // Another family than the service's is a tunnel's (the
                // table refuses it for NAT).
                _ => {}
            }
        }
    }
    (ops::OpsReplies::build(v4), ops::OpsReplies::build(v6))
}

/// A real server of the configuration as the workers see it, its address
/// given (an IPv4 one, or an IPv6 one folded by [`fold32`]).
fn dest_entry(d: &crate::config::Dest, addr: u32) -> DestEntry {
    DestEntry {
        addr,
        port: d.port,
        weight: d.weight,
        id: d.id,
        u_threshold: d.u_threshold,
        l_threshold: d.l_threshold,
        last_weight: d.weight,
        forward: d.forward,
    }
}

/// The workers' entry of service `s` with its real servers `dests`, following
/// `before` (its entry in the previous snapshot) as [`Snapshot::build_from`]
/// says; `mask` is the `-M` of its family ([`Persist::mask`]).
fn service_entry(
    s: &Service,
    mut dests: Box<[DestEntry]>,
    before: Option<&ServiceEntry>,
    mask: u32,
) -> ServiceEntry {
    if let Some(b) = before {
        keep_last_weights(&b.dests, &mut dests);
    }
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
    let persist = s.persistent.map(|timeout| Persist { timeout, mask });
    let sched = match before {
        Some(b) => SchedState::carry(&b.sched, &b.dests, s.sched, s.sched_flags, &dests),
        None => Arc::new(SchedState::added(s.sched, s.sched_flags, &dests)),
    };
    ServiceEntry {
        sched,
        dests,
        needs_counts,
        persist,
        ops: s.ops && s.key.proto == crate::config::Proto::Udp,
        pe_sip: persist.is_some() && s.pe == Some(crate::config::PersistEngine::Sip),
        sorry: s.sorry,
    }
}

/// IPVS's `last_weight` rule (`__ip_vs_update_dest`): a server added now
/// takes its weight; a server that was there keeps its previous
/// `last_weight` while its weight is 0, and takes its weight otherwise.
/// `dests` come with `last_weight` = `weight`, so only quiesced servers are
/// looked up, by identity: one comparison where the list kept its order, a
/// search of `before` where it did not.
fn keep_last_weights(before: &[DestEntry], dests: &mut [DestEntry]) {
    for (i, d) in dests.iter_mut().enumerate().filter(|(_, d)| d.weight == 0) {
        let was = match before.get(i) {
            Some(b) if same_dest(b, d) => Some(b),
            _ => before.iter().find(|b| same_dest(*b, d)),
        };
        if let Some(b) = was {
            d.last_weight = b.last_weight;
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

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
        let sa = &s.services[&(6, u32::from(Ipv4Addr::new(198, 18, 0, 110)), 80)];
        let sb = &s.services[&(6, u32::from(Ipv4Addr::new(198, 18, 0, 110)), 443)];
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

    /// IPv6 services stay out of the IPv4 maps; a tunnel endpoint of the
    /// other family holds a placeholder of its service's family, its
    /// address in `cross`.
    #[test]
    fn ipv6_rules_are_kept_apart() {
        use crate::config::{Forward, Netmask, Proto, ServiceKey, Tunnel};
        use std::net::Ipv4Addr;
        let v6: Ipv6Addr = "2001:2:0:1::110".parse().expect("v6");
        let r6: Ipv6Addr = "2001:2:0:2::2".parse().expect("v6");
        let (k6, k4) = (
            ServiceKey::new(Proto::Tcp, v6, 80),
            ServiceKey::new(Proto::Tcp, Ipv4Addr::new(198, 18, 0, 110), 80),
        );
        let mut cfg = Config::new();
        cfg.add_service(k6, Scheduler::Sh, Some(60)).expect("k6");
        cfg.set_service_options(&k6, crate::config::SchedFlags::default(), Netmask::V6(64))
            .expect("mask");
        cfg.add_service(k4, Scheduler::Rr, None).expect("k4");
        let ipip = Forward::Tunnel(Tunnel::IPIP);
        let id6 = cfg.add_dest(&k6, r6, 8080, 2).expect("r6");
        let cross = cfg
            .add_dest_with(&k6, Ipv4Addr::new(198, 19, 0, 2), 80, 1, ipip)
            .expect("v4 tunnel");
        let id4 = cfg
            .add_dest(&k4, Ipv4Addr::new(198, 19, 0, 3), 80, 1)
            .expect("r4");
        let cross6 = cfg.add_dest_with(&k4, r6, 80, 1, ipip).expect("v6 tunnel");
        let s = Snapshot::build(&cfg, Timeouts::default());
        assert_eq!(s.services.len(), 1);
        assert_eq!(s.vips.iter().copied().collect::<Vec<_>>(), [0xc612_006e]);
        let e4 = &s.services[&(6, 0xc612_006e, 80)];
        let ids: Vec<(DestId, u32)> = e4.dests.iter().map(|d| (d.id, d.addr)).collect();
        assert_eq!(ids, [(id4, 0xc613_0003), (cross6, fold32(r6))]);
        assert_eq!(s.vips6.iter().copied().collect::<Vec<_>>(), [v6]);
        // The real addresses of the two tunnels across families, by id.
        assert_eq!(s.cross_rip(cross6), Some(IpAddr::V6(r6)));
        assert_eq!(
            s.cross_rip(cross),
            Some(IpAddr::V4(Ipv4Addr::new(198, 19, 0, 2)))
        );
        assert_eq!((s.cross_rip(id4), s.cross_rip(id6)), (None, None));
        let e6 = &s.services6[&(6, v6, 80)];
        // The IPv6 server's address folded for the schedulers and kept whole
        // beside it; the IPv4 tunnel's IPv4-mapped.
        let mapped = Ipv4Addr::new(198, 19, 0, 2).to_ipv6_mapped();
        assert_eq!(&*e6.addrs6, &[r6, mapped]);
        assert_eq!(e6.entry.dests[1].id, cross);
        assert_eq!(e6.entry.dests[1].addr, fold32(mapped));
        assert_eq!(
            e6.entry.dests[..1],
            [DestEntry {
                addr: fold32(r6),
                port: 8080,
                weight: 2,
                id: id6,
                u_threshold: 0,
                l_threshold: 0,
                last_weight: 2,
                forward: Forward::Masq,
            }]
        );
        assert!(matches!(*e6.entry.sched, SchedState::Source { .. }), "sh");
        assert_eq!(
            e6.entry.persist,
            Some(Persist {
                timeout: 60,
                mask: 64
            })
        );
        // Every configured server is live, whatever path carries it.
        assert!(s.dest_live(cross) && s.dest_live(id6));
        // The IPv6 service's templates are swept too.
        assert!(s.any_persistent);
    }

    #[test]
    fn ipv6_services_fold_addresses_and_carry_their_scheduler() {
        use crate::config::{Proto, ServiceKey};
        let vip: Ipv6Addr = "2001:2:0:1::110".parse().expect("vip");
        let key = ServiceKey::new(Proto::Tcp, vip, 80);
        let rips: [Ipv6Addr; 2] = [
            "2001:2:0:2::2".parse().expect("rip"),
            "2001:2:0:2:aaaa:bbbb:cccc:3".parse().expect("rip"),
        ];
        let mut cfg = Config::new();
        cfg.add_service(key, Scheduler::Mh, Some(300)).expect("svc");
        for r in rips {
            cfg.add_dest(&key, r, 80, 1).expect("dest");
        }
        let s = Snapshot::build(&cfg, Timeouts::default());
        assert!(s.services.is_empty() && s.vips.is_empty(), "not IPv4");
        assert!(s.vips6.contains(&vip));
        let (id, e) = s.service_for6(6, vip, 80).expect("service");
        assert_eq!(id, (6, vip, 80));
        assert_eq!(&*e.addrs6, &rips);
        // IPVS's folding: the XOR of the four 32-bit words.
        let words = |a: Ipv6Addr| {
            let b = a.to_bits();
            (b >> 96) as u32 ^ (b >> 64) as u32 ^ (b >> 32) as u32 ^ b as u32
        };
        let folded: Vec<u32> = e.entry.dests.iter().map(|d| d.addr).collect();
        assert_eq!(folded, rips.map(words));
        // -M defaults to the whole address: a prefix length of 128.
        assert_eq!(
            e.entry.persist,
            Some(Persist {
                timeout: 300,
                mask: 128
            })
        );
        assert!(s.any_persistent);
        // A later snapshot keeps the service's scheduler (its Maglev table).
        let t = Snapshot::build_from(&cfg, Timeouts::default(), Some(&s));
        let e2 = &t.services6[&(6, vip, 80)];
        assert!(Arc::ptr_eq(&e.entry.sched, &e2.entry.sched));
    }

    /// Scheduler state across publishes, through the production path
    /// (`Snapshot::build_from`, the real `SchedState`, real `DestEntry`s).
    mod carry {
        use super::*;
        use crate::config::{Proto, SchedFlags, ServiceKey};
        use crate::sched::{Flow, SchedState};
        use std::net::Ipv4Addr;

        fn key(port: u16) -> ServiceKey {
            ServiceKey::new(Proto::Tcp, Ipv4Addr::new(198, 18, 0, 110), port)
        }
        fn rip(i: u8) -> Ipv4Addr {
            Ipv4Addr::new(198, 19, 0, i)
        }
        fn svc(s: &Snapshot, port: u16) -> &ServiceEntry {
            &s.services[&(6, u32::from(Ipv4Addr::new(198, 18, 0, 110)), port)]
        }
        /// The server (address) a new connection of `flow` gets on `port`.
        fn pick(s: &Snapshot, port: u16, flow: &Flow) -> Option<Ipv4Addr> {
            let e = svc(s, port);
            e.sched
                .pick(flow, &e.dests)
                .map(|i| Ipv4Addr::from(e.dests[i].addr))
        }
        /// As `pick`, with these inactive connection counts per server.
        fn pick_loaded(s: &Snapshot, port: u16, flow: &Flow, inact: &[u32]) -> Option<Ipv4Addr> {
            let e = svc(s, port);
            let v: Vec<DestView> = e
                .dests
                .iter()
                .zip(inact)
                .map(|(d, &i)| DestView {
                    entry: *d,
                    active: 0,
                    inactive: i,
                    overloaded: false,
                })
                .collect();
            e.sched
                .pick(flow, &v)
                .map(|i| Ipv4Addr::from(e.dests[i].addr))
        }
        fn service(cfg: &mut Config, port: u16, sched: Scheduler, weights: &[u32]) {
            cfg.add_service(key(port), sched, None).expect("service");
            for (i, &w) in weights.iter().enumerate() {
                cfg.add_dest(&key(port), rip(2 + i as u8), port, w)
                    .expect("dest");
            }
        }
        /// An `adm` change that does not touch the service on port 80.
        fn unrelated(cfg: &mut Config, port: u16) {
            service(cfg, port, Scheduler::Wlc, &[1]);
        }
        fn next(cfg: &Config, prev: &Snapshot) -> Snapshot {
            Snapshot::build_from(cfg, Timeouts::default(), Some(prev))
        }

        #[test]
        fn rr_position_survives_publishes_and_follows_ip_vs_rr_del_dest() {
            let mut cfg = Config::new();
            // .2, .3, .4 added: the kernel's list is .4 .3 .2.
            service(&mut cfg, 80, Scheduler::Rr, &[1, 1, 1]);
            let f = Flow::default();
            let s1 = Snapshot::build(&cfg, Timeouts::default());
            assert_eq!(pick(&s1, 80, &f), Some(rip(4)));
            // Another service added: rr resumes after its last choice.
            unrelated(&mut cfg, 443);
            let s2 = next(&cfg, &s1);
            assert_eq!(pick(&s2, 80, &f), Some(rip(3)));
            // A weight edit keeps the list, and the position.
            cfg.edit_dest(&key(80), rip(2), 80, 5).expect("edit");
            let s3 = next(&cfg, &s2);
            assert_eq!(pick(&s3, 80, &f), Some(rip(2)));
            assert_eq!(pick(&s3, 80, &f), Some(rip(4)));
            // The last chosen (.4) removed: the cursor moves back to the
            // entry before it (the head), so the next is the first of the rest.
            cfg.del_dest(&key(80), rip(4), 80).expect("del");
            let s4 = next(&cfg, &s3);
            assert_eq!(pick(&s4, 80, &f), Some(rip(3)));
            // The last chosen (.3) removed again: back to the head, where .9
            // is added.
            cfg.del_dest(&key(80), rip(3), 80).expect("del");
            cfg.add_dest(&key(80), rip(9), 80, 1).expect("add");
            let s5 = next(&cfg, &s4);
            assert_eq!(pick(&s5, 80, &f), Some(rip(9)));
            // A server added at the head comes after the rest of the walk.
            cfg.add_dest(&key(80), rip(8), 80, 1).expect("add");
            let s6 = next(&cfg, &s5);
            assert_eq!(pick(&s6, 80, &f), Some(rip(2)));
            assert_eq!(pick(&s6, 80, &f), Some(rip(8)));
            assert_eq!(pick(&s6, 80, &f), Some(rip(9)));
        }

        #[test]
        fn rr_cursor_removed_moves_to_the_previous_server() {
            let mut cfg = Config::new();
            // The kernel's list: .5 .4 .3 .2.
            service(&mut cfg, 80, Scheduler::Rr, &[1, 1, 1, 1]);
            let f = Flow::default();
            let s1 = Snapshot::build(&cfg, Timeouts::default());
            assert_eq!(pick(&s1, 80, &f), Some(rip(5)));
            assert_eq!(pick(&s1, 80, &f), Some(rip(4)));
            // .4 (the cursor) removed: the cursor is .5, the next is .3.
            cfg.del_dest(&key(80), rip(4), 80).expect("del");
            let s2 = next(&cfg, &s1);
            assert_eq!(pick(&s2, 80, &f), Some(rip(3)));
            assert_eq!(pick(&s2, 80, &f), Some(rip(2)));
            assert_eq!(pick(&s2, 80, &f), Some(rip(5)));
        }

        #[test]
        fn lblc_cache_survives_publishes_and_server_changes() {
            let mut cfg = Config::new();
            service(&mut cfg, 80, Scheduler::Lblc, &[1, 1]);
            let f = Flow {
                vaddr: 0x0808_0808,
                vaddr_wide: 0x0808_0808,
                now_s: 10,
                ..Flow::default()
            };
            let s1 = Snapshot::build(&cfg, Timeouts::default());
            // .2 busier: the destination goes to .3 and is remembered.
            assert_eq!(pick_loaded(&s1, 80, &f, &[5, 0]), Some(rip(3)));
            // Unrelated publish: still .3, though wlc alone would say .2.
            unrelated(&mut cfg, 443);
            let s2 = next(&cfg, &s1);
            assert_eq!(pick_loaded(&s2, 80, &f, &[0, 0]), Some(rip(3)));
            // .2 removed and .4 added: .3 moved to index 0 and is still found,
            // though wlc would say .4 (idle).
            cfg.add_dest(&key(80), rip(4), 80, 1).expect("add");
            cfg.del_dest(&key(80), rip(2), 80).expect("del");
            let s3 = next(&cfg, &s2);
            assert_eq!(pick_loaded(&s3, 80, &f, &[3, 0]), Some(rip(3)));
            // .3 removed: the entry finds no server and is scheduled afresh.
            cfg.del_dest(&key(80), rip(3), 80).expect("del");
            let s4 = next(&cfg, &s3);
            assert_eq!(pick_loaded(&s4, 80, &f, &[0]), Some(rip(4)));
            let SchedState::Lblc(c) = &*svc(&s4, 80).sched else {
                unreachable!()
            };
            assert_eq!(c.len(), 1);
        }

        #[test]
        fn lblcr_sets_survive_publishes() {
            let mut cfg = Config::new();
            service(&mut cfg, 80, Scheduler::Lblcr, &[1, 1, 1]);
            let f = Flow {
                vaddr: 0x0808_0808,
                vaddr_wide: 0x0808_0808,
                now_s: 10,
                ..Flow::default()
            };
            let s1 = Snapshot::build(&cfg, Timeouts::default());
            assert_eq!(pick_loaded(&s1, 80, &f, &[5, 5, 0]), Some(rip(4)));
            cfg.del_dest(&key(80), rip(2), 80).expect("del");
            let s2 = next(&cfg, &s1);
            assert_eq!(pick_loaded(&s2, 80, &f, &[0, 3]), Some(rip(4)));
            let SchedState::Lblcr(c) = &*svc(&s2, 80).sched else {
                unreachable!()
            };
            assert_eq!(c.set_of(0x0808_0808), [1], ".4 is now index 1");
        }

        #[test]
        fn twos_random_source_survives_publishes() {
            let mut cfg = Config::new();
            service(&mut cfg, 80, Scheduler::Twos, &[1, 1, 1, 1]);
            let f = Flow::default();
            let s1 = Snapshot::build(&cfg, Timeouts::default());
            let dests = svc(&s1, 80).dests.clone();
            // What the same scheduler picks without any publish.
            let alone = SchedState::new(Scheduler::Twos, SchedFlags::default(), &dests);
            let mut expect = (0..48).map(|_| {
                alone
                    .pick(&f, &dests)
                    .map(|i| Ipv4Addr::from(dests[i].addr))
            });
            for _ in 0..16 {
                assert_eq!(pick(&s1, 80, &f), expect.next().flatten());
            }
            unrelated(&mut cfg, 443);
            let s2 = next(&cfg, &s1);
            let got: Vec<_> = (0..32).map(|_| pick(&s2, 80, &f)).collect();
            let want: Vec<_> = expect.collect();
            assert_eq!(got, want, "the draws continue, they do not restart");
        }

        /// Clients 100.64.0.0 and up.
        fn client(i: u32) -> Flow {
            Flow {
                client: 0x6440_0000 + i,
                cport: 40_000,
                ..Flow::default()
            }
        }

        /// Quiesce one `mh` server (weight 0) and restore it, publishing each
        /// step as `adm -e` does, over 100k clients. Returns how many clients
        /// of the other servers changed server at the quiesce, how many
        /// changed at the restore, and how many are not back on their first
        /// server after it. The quiesced server's own clients must leave it
        /// (to no server, or to another with `mh-fallback`) and come back:
        /// those moves are not counted.
        fn mh_quiesce_restore(weights: &[u32], q: usize, flags: SchedFlags) -> [usize; 3] {
            const N: u32 = 100_000;
            let mut cfg = Config::new();
            service(&mut cfg, 80, Scheduler::Mh, weights);
            cfg.set_service_options(&key(80), flags, Ipv4Addr::BROADCAST)
                .expect("flags");
            let qa = rip(2 + q as u8);
            let picks =
                |s: &Snapshot| -> Vec<_> { (0..N).map(|i| pick(s, 80, &client(i))).collect() };
            let s1 = Snapshot::build(&cfg, Timeouts::default());
            let before = picks(&s1);
            cfg.edit_dest(&key(80), qa, 80, 0).expect("quiesce");
            let s2 = next(&cfg, &s1);
            let during = picks(&s2);
            cfg.edit_dest(&key(80), qa, 80, weights[q])
                .expect("restore");
            let s3 = next(&cfg, &s2);
            let after = picks(&s3);
            let (mut at_quiesce, mut at_restore, mut not_back) = (0, 0, 0);
            for i in 0..N as usize {
                if before[i] == Some(qa) {
                    // No server, or another with mh-fallback.
                    assert_eq!(during[i].is_some(), flags.fallback, "client {i}");
                    assert_ne!(during[i], Some(qa));
                } else {
                    at_quiesce += usize::from(during[i] != before[i]);
                    at_restore += usize::from(after[i] != during[i]);
                }
                not_back += usize::from(after[i] != before[i]);
            }
            [at_quiesce, at_restore, not_back]
        }

        #[test]
        fn mh_quiesce_then_restore_moves_under_one_percent_of_100k_clients() {
            let cases: [(&[u32], usize); 3] =
                [(&[1, 1, 1, 1, 1], 2), (&[1, 2, 3, 4, 5], 4), (&[1; 10], 0)];
            for (weights, q) in cases {
                for fallback in [false, true] {
                    let flags = SchedFlags {
                        fallback,
                        port: false,
                    };
                    let m = mh_quiesce_restore(weights, q, flags);
                    assert!(
                        m.iter().sum::<usize>() < 1000,
                        "{weights:?} quiesce {q} fallback {fallback}: \
                         moved at quiesce, at restore, not back: {m:?}"
                    );
                }
            }
        }

        #[test]
        fn mh_last_weight_follows_ip_vs_update_dest() {
            let mut cfg = Config::new();
            service(&mut cfg, 80, Scheduler::Mh, &[3, 1]);
            let s1 = Snapshot::build(&cfg, Timeouts::default());
            let lw = |s: &Snapshot| -> Vec<(u32, u32)> {
                svc(s, 80)
                    .dests
                    .iter()
                    .map(|d| (d.weight, d.last_weight))
                    .collect()
            };
            assert_eq!(lw(&s1), [(3, 3), (1, 1)]);
            cfg.edit_dest(&key(80), rip(2), 80, 0).expect("quiesce");
            let s2 = next(&cfg, &s1);
            assert_eq!(lw(&s2), [(0, 3), (1, 1)]);
            assert!(Arc::ptr_eq(&svc(&s1, 80).sched, &svc(&s2, 80).sched));
            // Still quiesced over another publish; then a new weight.
            unrelated(&mut cfg, 443);
            let s3 = next(&cfg, &s2);
            assert_eq!(lw(&s3), [(0, 3), (1, 1)]);
            cfg.edit_dest(&key(80), rip(2), 80, 2).expect("edit");
            let s4 = next(&cfg, &s3);
            assert_eq!(lw(&s4), [(2, 2), (1, 1)]);
            assert!(!Arc::ptr_eq(&svc(&s3, 80).sched, &svc(&s4, 80).sched));
            // A server added with weight 0 has last weight 0: no slot.
            cfg.add_dest(&key(80), rip(7), 80, 0).expect("add");
            let s5 = next(&cfg, &s4);
            assert_eq!(lw(&s5)[2], (0, 0));
            let SchedState::Maglev { table, .. } = &*svc(&s5, 80).sched else {
                unreachable!()
            };
            assert_eq!(table.shares(3)[2], 0);
        }

        #[test]
        fn changing_the_scheduler_resets_and_other_service_edits_do_not() {
            let mut cfg = Config::new();
            service(&mut cfg, 80, Scheduler::Rr, &[1, 1, 1]);
            let f = Flow::default();
            let s1 = Snapshot::build(&cfg, Timeouts::default());
            assert_eq!(pick(&s1, 80, &f), Some(rip(4)));
            // `-E` with the same scheduler (persistence on): kept.
            cfg.edit_service(&key(80), Scheduler::Rr, Some(300))
                .expect("edit");
            let s2 = next(&cfg, &s1);
            assert_eq!(pick(&s2, 80, &f), Some(rip(3)));
            // Another scheduler, then rr again: each starts afresh.
            cfg.edit_service(&key(80), Scheduler::Wrr, Some(300))
                .expect("edit");
            let s3 = next(&cfg, &s2);
            assert_eq!(pick(&s3, 80, &f), Some(rip(4)));
            cfg.edit_service(&key(80), Scheduler::Rr, Some(300))
                .expect("edit");
            let s4 = next(&cfg, &s3);
            assert_eq!(pick(&s4, 80, &f), Some(rip(4)));
            // lblc's cache does not pass to lblcr.
            cfg.edit_service(&key(80), Scheduler::Lblc, None)
                .expect("edit");
            let s5 = next(&cfg, &s4);
            assert!(pick(&s5, 80, &f).is_some());
            cfg.edit_service(&key(80), Scheduler::Lblcr, None)
                .expect("edit");
            let s6 = next(&cfg, &s5);
            let SchedState::Lblcr(c) = &*svc(&s6, 80).sched else {
                unreachable!()
            };
            assert!(c.is_empty());
            // A service deleted and added again starts afresh too.
            let s7 = next(&cfg, &s6);
            assert!(pick(&s7, 80, &f).is_some());
            let SchedState::Lblcr(c) = &*svc(&s7, 80).sched else {
                unreachable!()
            };
            assert_eq!(c.len(), 1, "kept across a publish");
            cfg.del_service(&key(80)).expect("del");
            let s8 = next(&cfg, &s7);
            service(&mut cfg, 80, Scheduler::Lblcr, &[1, 1, 1]);
            let s9 = next(&cfg, &s8);
            let SchedState::Lblcr(c) = &*svc(&s9, 80).sched else {
                unreachable!()
            };
            assert!(c.is_empty());
        }
    }
}
