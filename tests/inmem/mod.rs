//! The in-memory harness: a director's workers on in-memory queues
//! ([`MemDirector`], built with `ringvs::dataplane::Director`), frame builders on
//! `pnet` and frame checkers on `smoltcp::wire`, so that what the workers do is
//! judged by two implementations that are not ours. No root, no namespaces, no
//! processes: the test drives the clock and pushes frames itself.
//!
//! Use it for what one frame (or a handful) does in the packet path: NAT,
//! scheduling, state, counters, drops. For a real director process on real NICs
//! (AF_PACKET/AF_XDP rings, kernel clients and servers, the control socket) use
//! the namespace helper `tests/nslab` instead.

#![allow(dead_code)]

/// The IPv6 frame builders of the namespace tests (byte by byte, every field
/// the test's choice), for the dual-stack director ([`MemDirector::dual_stack`]).
#[path = "../ipv6/frames.rs"]
pub mod frames6;

use crossbeam_channel::{Receiver, Sender};
use pnet::packet::arp::{ArpHardwareTypes, ArpOperation, MutableArpPacket};
use pnet::packet::ethernet::{EtherType, EtherTypes, MutableEthernetPacket};
use pnet::packet::icmp::{self, IcmpCode, IcmpType, MutableIcmpPacket};
use pnet::packet::ip::IpNextHeaderProtocol;
use pnet::packet::ipv4::{self, MutableIpv4Packet};
use pnet::packet::tcp::{self, MutableTcpPacket};
use pnet::packet::udp::{self, MutableUdpPacket};
use pnet::util::MacAddr;
use ringvs::config::ipvsadm::{apply, parse};
use ringvs::config::{Config, DestId, Proto, ServiceKey};
use ringvs::dataplane::{Director, Env, Plan, Published, Shared, Worker};
use ringvs::io::mem::{MemRx, MemTx, MemUmem};
use ringvs::nat::{ConnInfo, Snapshot, Timeouts};
use ringvs::neigh::{NeighEvent, NeighTable};
use ringvs::stats::Ctr;
use ringvs::wire::Mac;
use ringvs::{Nic, NicPair};
use smoltcp::wire::{
    EthernetFrame, EthernetProtocol, Icmpv4Packet, IpAddress, IpProtocol, Ipv4Packet, TcpPacket,
    UdpPacket,
};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// Addresses (RFC 2544 space only)
// ---------------------------------------------------------------------------

pub const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub const CLIENT2: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 7);
pub const EXT_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
pub const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 110);
pub const DIP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
pub const RS1: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 2);
pub const RS2: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 3);
pub const NOT_OURS: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 99);

pub const EXT_MAC: [u8; 6] = [0x02, 0xee, 0, 0, 0, 0x02];
pub const INT_MAC: [u8; 6] = [0x02, 0x11, 0, 0, 0, 0x01];
pub const CLIENT_MAC: [u8; 6] = [0x02, 0xcc, 0, 0, 0, 0x01];
pub const CLIENT2_MAC: [u8; 6] = [0x02, 0xcc, 0, 0, 0, 0x07];
pub const RS1_MAC: [u8; 6] = [0x02, 0x55, 0, 0, 0, 0x02];
pub const RS2_MAC: [u8; 6] = [0x02, 0x55, 0, 0, 0, 0x03];
pub const OTHER_MAC: [u8; 6] = [0x02, 0x99, 0, 0, 0, 0x99];
pub const BCAST: [u8; 6] = [0xff; 6];

pub const MTU: usize = 1500;

// IPv6 (2001:2::/48 only): the namespace lab's plan (`ringvs::lab`).
pub const CLIENT6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 1);
pub const EXT_ADDR6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 2);
pub const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0x110);
pub const DIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 2, 0, 0, 0, 1);
pub const RS1_6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 2, 0, 0, 0, 2);
pub const RS2_6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 2, 0, 0, 0, 3);
pub const NOT_OURS6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0x99);

/// The standard rules over IPv6: rr over the two IPv6 real servers on port
/// 80, RS2 added first so that the kernel's list (newest first) and so
/// `rr` meet RS1 first, as [`STANDARD`].
pub const STANDARD6: &[&str] = &[
    "-A -t [2001:2:0:1::110]:80 -s rr",
    "-a -t [2001:2:0:1::110]:80 -r [2001:2:0:2::3]:80 -m",
    "-a -t [2001:2:0:1::110]:80 -r [2001:2:0:2::2]:80 -m",
];

pub const SYN: u8 = 0x02;
pub const ACK: u8 = 0x10;
pub const FIN: u8 = 0x01;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;

pub fn be(ip: Ipv4Addr) -> u32 {
    u32::from(ip)
}

// ---------------------------------------------------------------------------
// The harness
// ---------------------------------------------------------------------------

pub type W = Worker<MemRx, MemTx>;

pub fn env() -> Env {
    Env {
        mtu: [MTU, MTU],
        ..Env::new(
            [Mac(EXT_MAC), Mac(INT_MAC)],
            "198.18.0.2/24".parse().expect("prefix"),
            "198.19.0.1/24".parse().expect("prefix"),
        )
    }
}

/// [`env`] with IPv6 on too: `--ext-addr 2001:2:0:1::2/64 --int-addr
/// 2001:2:0:2::1/64`, no IPv6 gateway.
pub fn env6() -> Env {
    Env {
        ext_net6: Some("2001:2:0:1::2/64".parse().expect("prefix")),
        int_net6: Some("2001:2:0:2::1/64".parse().expect("prefix")),
        ..env()
    }
}

/// Build a configuration from ipvsadm command lines (words split on blanks).
pub fn config(rules: &[&str]) -> Config {
    let mut cfg = Config::new();
    for r in rules {
        let args: Vec<String> = r.split_whitespace().map(String::from).collect();
        let cmd = parse(&args).unwrap_or_else(|e| panic!("{r}: {e}"));
        apply(&mut cfg, &cmd).unwrap_or_else(|e| panic!("{r}: {e}"));
    }
    cfg
}

/// A director with `n` workers on in-memory queues, wired like `control::run`.
pub struct MemDirector {
    pub workers: Vec<W>,
    pub shared: Arc<Shared>,
    pub published: Vec<Arc<Published>>,
    pub cfg: Config,
    pub neigh: NeighTable,
    pub neigh_rx: Receiver<NeighEvent>,
    /// Another sender on the workers' channel to the control thread (a
    /// test fills it, as a busy control thread leaves it).
    pub neigh_tx: Sender<NeighEvent>,
    pub t0: Instant,
    pub now: Instant,
    /// The sync daemons' ends of the workers' sync channels.
    pub sync: ringvs::dataplane::sync::SyncPorts,
}

pub const HANDOFF_DEPTH: usize = 8;

/// The frame memory of a [`MemDirector`]'s queues.
enum Mem {
    /// None: every forwarded frame is copied into a TX slot.
    Copy,
    /// One `MemUmem` per worker (a worker's AF_XDP sockets on its own UMEM).
    PerWorker,
    /// One for all workers.
    Shared(Arc<MemUmem>),
}

/// The standard rules: rr over the two real servers on port 80. RS2 is
/// added first: the kernel's list has the newest server first
/// (`__ip_vs_update_dest`, `ip_vs_ctl.c`), so `rr` meets RS1 first, then
/// RS2 (the seed's walk-through: server2 then server3 added, server3
/// answers first).
pub const STANDARD: &[&str] = &[
    "-A -t 198.18.0.110:80 -s rr",
    "-a -t 198.18.0.110:80 -r 198.19.0.3:80 -m",
    "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
];

impl MemDirector {
    /// One worker, the usual rules: TCP VIP:80 rr over RS1:80 and RS2:80.
    pub fn new(rules: &[&str]) -> Self {
        Self::with_workers(1, rules)
    }

    pub fn with_workers(n: usize, rules: &[&str]) -> Self {
        Self::with_env(n, rules, env(), 1024)
    }

    /// `n` workers with the given addresses and connection table size, built by
    /// the director's own constructor (`dataplane::Director`).
    pub fn with_env(n: usize, rules: &[&str], env: Env, max_conns: usize) -> Self {
        Self::with_queues(n, rules, env, max_conns, Mem::Copy)
    }

    /// The standard director on queues that send a forwarded frame from its
    /// own RX buffer (each worker's queues on one `MemUmem`), as AF_XDP
    /// sockets on a shared UMEM do; no neighbor resolved yet.
    pub fn in_place() -> Self {
        Self::with_queues(1, STANDARD, env(), 1024, Mem::PerWorker)
    }

    /// [`MemDirector::in_place`] with other rules and addresses (e.g. dual
    /// stack).
    pub fn in_place_with(rules: &[&str], env: Env) -> Self {
        Self::with_queues(1, rules, env, 1024, Mem::PerWorker)
    }

    /// `n` workers with the standard rules that steer every TCP/UDP frame
    /// to the owner of its client key (as with `--io xdp` on several
    /// queues), all their queues on `umem`, as the AF_XDP sockets of
    /// `io::xdp::open_workers` are: a frame goes to its owner by its
    /// descriptor and leaves from the buffer it arrived in.
    pub fn steered_on(n: usize, umem: &Arc<MemUmem>) -> Self {
        Self::with_queues(n, STANDARD, env(), 1024, Mem::Shared(Arc::clone(umem)))
    }

    fn with_queues(n: usize, rules: &[&str], env: Env, max_conns: usize, mem: Mem) -> Self {
        let cfg = config(rules);
        let plan = Plan {
            handoff_depth: HANDOFF_DEPTH,
            steer: matches!(mem, Mem::Shared(_)),
            ..Plan::new(n, env, max_conns)
        };
        let t0 = plan.start;
        let mut dp = Director::new(plan, Snapshot::build(&cfg, Timeouts::default()));
        let queues = (0..n).map(|_| {
            let u = match &mem {
                Mem::Copy => {
                    return (
                        NicPair::new(MemRx::new(), MemRx::new()),
                        NicPair::new(MemTx::new(), MemTx::new()),
                    );
                }
                Mem::PerWorker => MemUmem::new(),
                Mem::Shared(u) => Arc::clone(u),
            };
            (
                NicPair::new(MemRx::in_place(&u), MemRx::in_place(&u)),
                NicPair::new(MemTx::in_place(&u), MemTx::in_place(&u)),
            )
        });
        let workers = dp.workers(queues);
        let sync = dp.sync.take().expect("sync ports");
        Self {
            sync,
            workers,
            shared: Arc::clone(&dp.shared),
            published: dp.published.clone(),
            cfg,
            neigh: NeighTable::new(),
            neigh_rx: dp.neigh_rx.clone(),
            neigh_tx: dp.neigh_tx.clone(),
            t0,
            now: t0,
        }
    }

    /// A backup's intake of sync messages (`sync::daemon::Intake`, what the
    /// backup daemon runs on each datagram) for backup `syncid`, queueing to
    /// these workers; `env` is the director's (its owner function and
    /// IPv6 switch).
    /// What a master's sync daemon would send for `syncid` now: its
    /// datagrams, and the entries they carry parsed back.
    pub fn synced(&self, syncid: u8) -> (Vec<Vec<u8>>, Vec<ringvs::sync::wire::AnyConn>) {
        use ringvs::sync::wire;
        let datagrams = ringvs::sync::daemon::messages(&self.sync, syncid, wire::DEFAULT_MAXLEN)
            .expect("buffer");
        let entries = datagrams
            .iter()
            .flat_map(|d| wire::parse(d, syncid).expect("a message"))
            .map(|e| e.expect("an entry"))
            .collect();
        (datagrams, entries)
    }

    pub fn intake(&self, syncid: u8, env: &Env) -> ringvs::sync::daemon::Intake {
        let ports = ringvs::dataplane::sync::SyncPorts {
            reports: vec![],
            installs: self.sync.installs.clone(),
            reports6: vec![],
            installs6: self.sync.installs6.clone(),
            pe_reports: vec![],
        };
        ringvs::sync::daemon::Intake {
            syncid,
            shared: Arc::clone(&self.shared),
            env: Arc::new(env.clone()),
            ports: Arc::new(ports),
            counters: Arc::default(),
            start: self.t0,
        }
    }

    /// A dual-stack director (one worker, [`env6`]) with `rules`, nobody
    /// resolved.
    pub fn dual_stack(rules: &[&str]) -> Self {
        Self::with_env(1, rules, env6(), 1024)
    }

    /// Resolve an IPv6 neighbor the way the control thread does (a
    /// solicitation answered), and publish.
    pub fn resolve6(&mut self, nic: Nic, ip: Ipv6Addr, mac: [u8; 6]) {
        self.neigh.event(NeighEvent::Resolve6 { nic, ip }, self.now);
        self.neigh.event(
            NeighEvent::HeardNa {
                nic,
                ip,
                tlla: Some(Mac(mac)),
                src: Mac(mac),
                solicited: true,
                overrides: true,
            },
            self.now,
        );
        if let Some(s) = self.neigh.take_snapshot() {
            self.shared.neigh.store(Arc::new(s));
            self.shared.bump();
        }
    }

    /// The standard director: rr over the two real servers on port 80, and every
    /// neighbor (client, both real servers) resolved.
    pub fn standard() -> Self {
        let mut d = Self::new(STANDARD);
        d.resolve_all();
        d
    }

    pub fn resolve_all(&mut self) {
        self.resolve(Nic::Ext, CLIENT, CLIENT_MAC);
        self.resolve(Nic::Ext, CLIENT2, CLIENT2_MAC);
        self.resolve(Nic::Int, RS1, RS1_MAC);
        self.resolve(Nic::Int, RS2, RS2_MAC);
    }

    /// Resolve a neighbor the way the control thread does, and publish.
    pub fn resolve(&mut self, nic: Nic, ip: Ipv4Addr, mac: [u8; 6]) {
        let ip = be(ip);
        self.neigh.event(NeighEvent::Resolve { nic, ip }, self.now);
        self.neigh.event(
            NeighEvent::Heard {
                nic,
                ip,
                mac: Mac(mac),
                reply: true,
            },
            self.now,
        );
        if let Some(s) = self.neigh.take_snapshot() {
            self.shared.neigh.store(Arc::new(s));
            self.shared.bump();
        }
    }

    /// Replace the configuration (as `adm` would) and publish it.
    pub fn reconfigure(&mut self, rules: &[&str]) {
        self.cfg = config(rules);
        self.shared
            .config
            .store(Arc::new(Snapshot::build(&self.cfg, Timeouts::default())));
        self.shared.bump();
    }

    /// Publish the configuration's snapshot as changed by `f`: for what the
    /// ipvsadm parser does not take yet (`-x`/`-y` thresholds, `-M`).
    pub fn publish_with(&mut self, f: impl FnOnce(&mut Snapshot)) {
        let mut s = Snapshot::build(&self.cfg, Timeouts::default());
        f(&mut s);
        self.shared.config.store(Arc::new(s));
        self.shared.bump();
    }

    /// Publish the configuration with every real server reached by `fwd`
    /// (DR, a tunnel, or NAT), as `-g`/`-i`/`-m` on each would.
    pub fn forward_all(&mut self, fwd: ringvs::config::Forward) {
        self.publish_with(|s| {
            let mut max = 0;
            for svc in s.services.values_mut() {
                for e in svc.dests.iter_mut() {
                    e.forward = fwd;
                    max = max.max(e.id.0 as usize + 1);
                }
            }
            s.forwards = vec![fwd; max].into_boxed_slice();
            s.any_direct = fwd != ringvs::config::Forward::Masq;
        });
    }

    /// Worker `k`'s connection listing (and for worker 0 the persistence
    /// templates), as the control thread gets it: ask, let the workers loop
    /// until the listing is complete, take.
    pub fn conns(&mut self, k: usize) -> Vec<ConnInfo> {
        assert!(self.published[k].take_conns().is_none(), "nothing pending");
        self.published[k].request_conns();
        let mut v = None;
        for _ in 0..1000 {
            self.poll();
            v = self.published[k].take_conns();
            if v.is_some() {
                break;
            }
        }
        let mut v = v.expect("answered");
        assert!(self.published[k].take_conns().is_none(), "taken once");
        if k == 0 {
            let now = self.now_s();
            self.shared.templates.list(now, &mut v, usize::MAX);
        }
        v
    }

    /// Seconds since the director started (the workers' clock).
    pub fn now_s(&self) -> u32 {
        self.now.duration_since(self.t0).as_secs() as u32
    }

    pub fn w(&mut self) -> &mut W {
        &mut self.workers[0]
    }

    pub fn advance(&mut self, d: Duration) {
        self.now += d;
    }

    /// Poll every worker once at the current time.
    pub fn poll(&mut self) {
        let now = self.now;
        for w in &mut self.workers {
            w.poll_once(now);
        }
    }

    /// Push a frame on worker 0's external NIC, poll, and return what came out
    /// as (ext, int) frames.
    pub fn ext(&mut self, frame: &[u8]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        self.w().rx[Nic::Ext].push(frame);
        self.poll_take()
    }

    pub fn int(&mut self, frame: &[u8]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        self.w().rx[Nic::Int].push(frame);
        self.poll_take()
    }

    pub fn poll_take(&mut self) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        self.poll();
        let w = self.w();
        (w.tx[Nic::Ext].take_sent(), w.tx[Nic::Int].take_sent())
    }

    pub fn ctr(&self, c: Ctr) -> u64 {
        self.workers[0].core.ctr.get(c)
    }

    /// Counters as the control thread sees them (published copy).
    pub fn published_ctr(&self, c: Ctr) -> u64 {
        self.published[0].counters.snapshot().get(c)
    }

    pub fn dest_id(&self, proto: Proto, vport: u16, rip: Ipv4Addr, rport: u16) -> DestId {
        self.cfg
            .service(&ServiceKey::new(proto, VIP, vport))
            .and_then(|s| s.dest(rip, rport))
            .map(|d| d.id)
            .expect("dest configured")
    }

    /// Drain the events the workers sent to the control thread.
    pub fn neigh_events(&self) -> Vec<NeighEvent> {
        self.neigh_rx.try_iter().collect()
    }
}

/// Every drop counter with its value, non-zero only.
pub fn drops(c: &ringvs::stats::Counters) -> Vec<(&'static str, u64)> {
    Ctr::ALL
        .iter()
        .filter(|c| c.name().starts_with("drop_"))
        .map(|&k| (k.name(), c.get(k)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

pub fn drop_sum(c: &ringvs::stats::Counters) -> u64 {
    Ctr::ALL
        .iter()
        .filter(|c| c.name().starts_with("drop_"))
        .map(|&k| c.get(k))
        .sum()
}

// ---------------------------------------------------------------------------
// Frame builders (pnet)
// ---------------------------------------------------------------------------

/// Link and network layer of a frame to build.
#[derive(Clone, Copy, Debug)]
pub struct L3 {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
    pub id: u16,
}

impl L3 {
    /// Client → VIP on the external NIC.
    pub fn to_vip() -> Self {
        Self::from_client(CLIENT)
    }

    pub fn from_client(src: Ipv4Addr) -> Self {
        Self {
            src_mac: if src == CLIENT2 {
                CLIENT2_MAC
            } else {
                CLIENT_MAC
            },
            dst_mac: EXT_MAC,
            src,
            dst: VIP,
            ttl: 64,
            id: 0x1234,
        }
    }

    /// VIP → client on the external NIC: what the director (or, for DR and
    /// TUN, the real server) sends the client, as an ICMP error quotes it.
    pub fn vip_to_client() -> Self {
        Self {
            src: VIP,
            dst: CLIENT,
            ..Self::to_vip()
        }
    }

    /// Real server → client on the internal NIC (the DIP is its gateway).
    pub fn from_rs(rs: Ipv4Addr, client: Ipv4Addr) -> Self {
        Self {
            src_mac: if rs == RS2 { RS2_MAC } else { RS1_MAC },
            dst_mac: INT_MAC,
            src: rs,
            dst: client,
            ttl: 64,
            id: 0x4321,
        }
    }
}

fn mac(m: [u8; 6]) -> MacAddr {
    MacAddr::new(m[0], m[1], m[2], m[3], m[4], m[5])
}

/// An Ethernet frame around `payload`.
pub fn ether(src: [u8; 6], dst: [u8; 6], ty: EtherType, payload: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 14 + payload.len()];
    let mut e = MutableEthernetPacket::new(&mut buf).expect("fits");
    e.set_source(mac(src));
    e.set_destination(mac(dst));
    e.set_ethertype(ty);
    e.set_payload(payload);
    buf
}

/// An IPv4 packet (no options, DF set) in an Ethernet frame, with a valid header
/// checksum.
pub fn ip_frame(l3: &L3, proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 20 + l4.len()];
    {
        let mut ip = MutableIpv4Packet::new(&mut buf).expect("fits");
        ip.set_version(4);
        ip.set_header_length(5);
        ip.set_total_length((20 + l4.len()) as u16);
        ip.set_identification(l3.id);
        ip.set_flags(ipv4::Ipv4Flags::DontFragment);
        ip.set_ttl(l3.ttl);
        ip.set_next_level_protocol(IpNextHeaderProtocol(proto));
        ip.set_source(l3.src);
        ip.set_destination(l3.dst);
        ip.set_payload(l4);
        let c = ipv4::checksum(&ip.to_immutable());
        ip.set_checksum(c);
    }
    ether(l3.src_mac, l3.dst_mac, EtherTypes::Ipv4, &buf)
}

/// Recompute the IPv4 header checksum of a frame after a test changed the header.
pub fn fix_ip_checksum(frame: &mut [u8]) {
    let mut ip = MutableIpv4Packet::new(&mut frame[14..]).expect("ipv4");
    ip.set_checksum(0);
    let c = ipv4::checksum(&ip.to_immutable());
    ip.set_checksum(c);
}

/// Recompute the ICMP checksum of an IPv4 frame (no IP options) after a
/// test changed the message.
pub fn fix_icmp_checksum(frame: &mut [u8]) {
    let mut p = MutableIcmpPacket::new(&mut frame[34..]).expect("icmp");
    p.set_checksum(0);
    let c = icmp::checksum(&p.to_immutable());
    p.set_checksum(c);
}

/// A TCP segment with a complete checksum.
pub fn tcp_seg(
    l3: &L3,
    sport: u16,
    dport: u16,
    flags: u8,
    seq: u32,
    ack: u32,
    data: &[u8],
) -> Vec<u8> {
    let mut buf = vec![0u8; 20 + data.len()];
    {
        let mut t = MutableTcpPacket::new(&mut buf).expect("fits");
        t.set_source(sport);
        t.set_destination(dport);
        t.set_sequence(seq);
        t.set_acknowledgement(ack);
        t.set_data_offset(5);
        t.set_flags(flags);
        t.set_window(64240);
        t.set_payload(data);
        let c = tcp::ipv4_checksum(&t.to_immutable(), &l3.src, &l3.dst);
        t.set_checksum(c);
    }
    ip_frame(l3, 6, &buf)
}

pub fn tcp_frame(l3: &L3, sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    tcp_seg(
        l3,
        sport,
        dport,
        flags,
        1000,
        if flags & ACK != 0 { 5000 } else { 0 },
        &[],
    )
}

/// A UDP datagram; `csum` false leaves the checksum 0 ("none").
pub fn udp_frame(l3: &L3, sport: u16, dport: u16, data: &[u8], csum: bool) -> Vec<u8> {
    let mut buf = vec![0u8; 8 + data.len()];
    {
        let mut u = MutableUdpPacket::new(&mut buf).expect("fits");
        u.set_source(sport);
        u.set_destination(dport);
        u.set_length((8 + data.len()) as u16);
        u.set_payload(data);
        if csum {
            let c = udp::ipv4_checksum(&u.to_immutable(), &l3.src, &l3.dst);
            u.set_checksum(c);
        }
    }
    ip_frame(l3, 17, &buf)
}

/// An ICMP message (type, code, 4 bytes rest-of-header, body) with a valid checksum.
pub fn icmp_frame(l3: &L3, ty: u8, code: u8, rest: [u8; 4], body: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 8 + body.len()];
    buf[4..8].copy_from_slice(&rest);
    buf[8..].copy_from_slice(body);
    {
        let mut p = MutableIcmpPacket::new(&mut buf).expect("fits");
        p.set_icmp_type(IcmpType(ty));
        p.set_icmp_code(IcmpCode(code));
        let c = icmp::checksum(&p.to_immutable());
        p.set_checksum(c);
    }
    ip_frame(l3, 1, &buf)
}

pub fn echo_request(l3: &L3, id: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut rest = [0u8; 4];
    rest[..2].copy_from_slice(&id.to_be_bytes());
    rest[2..].copy_from_slice(&seq.to_be_bytes());
    icmp_frame(l3, 8, 0, rest, data)
}

/// An ICMP error quoting `quoted` (an IPv4 packet, Ethernet stripped), cut to
/// the IP header and `l4_bytes` of its payload.
pub fn icmp_error(
    l3: &L3,
    ty: u8,
    code: u8,
    rest: [u8; 4],
    quoted_frame: &[u8],
    l4_bytes: usize,
) -> Vec<u8> {
    let ip = &quoted_frame[14..];
    let n = (20 + l4_bytes).min(ip.len());
    icmp_frame(l3, ty, code, rest, &ip[..n])
}

/// An Ethernet/IPv4 ARP frame.
pub fn arp_frame(
    op: u16,
    sender_mac: [u8; 6],
    sender_ip: Ipv4Addr,
    target_mac: [u8; 6],
    target_ip: Ipv4Addr,
    eth_dst: [u8; 6],
) -> Vec<u8> {
    let mut buf = vec![0u8; 28];
    {
        let mut a = MutableArpPacket::new(&mut buf).expect("fits");
        a.set_hardware_type(ArpHardwareTypes::Ethernet);
        a.set_protocol_type(EtherTypes::Ipv4);
        a.set_hw_addr_len(6);
        a.set_proto_addr_len(4);
        a.set_operation(ArpOperation(op));
        a.set_sender_hw_addr(mac(sender_mac));
        a.set_sender_proto_addr(sender_ip);
        a.set_target_hw_addr(mac(target_mac));
        a.set_target_proto_addr(target_ip);
    }
    ether(sender_mac, eth_dst, EtherTypes::Arp, &buf)
}

/// `frame` (IPv4, no options) cut into fragments of `step` payload bytes (a
/// multiple of 8), DF clear, as a sender's kernel does.
pub fn cut(frame: &[u8], step: usize) -> Vec<Vec<u8>> {
    let payload = &frame[34..];
    payload
        .chunks(step)
        .enumerate()
        .map(|(i, chunk)| {
            let mut f = frame[..34].to_vec();
            f.extend_from_slice(chunk);
            let mut ip = smoltcp::wire::Ipv4Packet::new_unchecked(&mut f[14..]);
            ip.set_total_len((20 + chunk.len()) as u16);
            ip.set_dont_frag(false);
            ip.set_more_frags((i + 1) * step < payload.len());
            ip.set_frag_offset((i * step) as u16);
            ip.fill_checksum();
            f
        })
        .collect()
}

/// The IPv4 packet the fragments in `frames` (Ethernet frames, in order)
/// make up, checking each on the way: a valid header checksum, the same
/// addresses, id and protocol, DF clear, MF on all but the last, offsets
/// that follow on, and every fragment but the last a multiple of 8 bytes
/// and within `mtu`. The result is the first header (total length and
/// fragment field made whole, checksum made good) and the payloads.
pub fn reassemble(frames: &[Vec<u8>], mtu: usize) -> Vec<u8> {
    assert!(frames.len() >= 2, "{} fragments", frames.len());
    let mut out = frames[0][14..34].to_vec();
    let mut next = 0usize;
    for (i, f) in frames.iter().enumerate() {
        let ip = Ipv4Packet::new_checked(&f[14..]).expect("fragment: IPv4");
        assert!(ip.verify_checksum(), "fragment {i}: header checksum");
        assert_eq!(
            usize::from(ip.total_len()) + 14,
            f.len(),
            "fragment {i}: length"
        );
        assert!(
            usize::from(ip.total_len()) <= mtu,
            "fragment {i} over the MTU"
        );
        assert_eq!(&f[14 + 4..14 + 6], &out[4..6], "fragment {i}: id");
        assert_eq!(&f[14 + 9..14 + 10], &out[9..10], "fragment {i}: protocol");
        assert_eq!(
            &f[14 + 12..14 + 20],
            &out[12..20],
            "fragment {i}: addresses"
        );
        assert!(!ip.dont_frag(), "fragment {i}: DF");
        let last = i + 1 == frames.len();
        assert_eq!(ip.more_frags(), !last, "fragment {i}: MF");
        assert_eq!(usize::from(ip.frag_offset()), next, "fragment {i}: offset");
        let payload = ip.payload();
        assert!(
            last || payload.len() % 8 == 0,
            "fragment {i}: {} bytes",
            payload.len()
        );
        next += payload.len();
        out.extend_from_slice(payload);
    }
    {
        let mut ip = Ipv4Packet::new_unchecked(&mut out[..]);
        ip.set_total_len((20 + next) as u16);
        ip.set_more_frags(false);
        ip.set_frag_offset(0);
        ip.fill_checksum();
    }
    out
}

/// Turn a frame's complete TCP/UDP checksum into a partial one, as Linux
/// CHECKSUM_PARTIAL leaves it: the folded, non-complemented pseudo-header sum.
pub fn make_partial(frame: &mut [u8]) {
    let ip = &frame[14..34];
    let proto = ip[9];
    let l4_len = (u16::from_be_bytes([ip[2], ip[3]]) - 20) as u32;
    let mut sum: u32 = 0;
    for w in ip[12..20].chunks(2) {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    sum += u32::from(proto) + l4_len;
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let at = 34 + if proto == 6 { 16 } else { 6 };
    frame[at..at + 2].copy_from_slice(&(sum as u16).to_be_bytes());
}

/// Client → VIP6 on the external NIC, hop limit 64.
pub fn l3_to_vip6() -> frames6::L3 {
    frames6::L3 {
        src_mac: CLIENT_MAC,
        dst_mac: EXT_MAC,
        src: CLIENT6,
        dst: VIP6,
        hop_limit: 64,
    }
}

/// Real server `rs` → `client` on the internal NIC (the DIP6 is its gateway).
pub fn l3_from_rs6(rs: Ipv6Addr, client: Ipv6Addr) -> frames6::L3 {
    frames6::L3 {
        src_mac: if rs == RS2_6 { RS2_MAC } else { RS1_MAC },
        dst_mac: INT_MAC,
        src: rs,
        dst: client,
        hop_limit: 64,
    }
}

/// A neighbor solicitation for `target` from `src` at `src_mac` (with its
/// source link-layer option), to `target`'s solicited-node group, hop limit
/// 255 as RFC 4861 wants.
pub fn ns6(src_mac: [u8; 6], src: Ipv6Addr, target: Ipv6Addr, dst_mac: [u8; 6]) -> Vec<u8> {
    let group = frames6::solicited_node(target);
    let l = frames6::L3 {
        src_mac,
        dst_mac,
        src,
        dst: group,
        hop_limit: 255,
    };
    frames6::neighbor_solicit(&l, target, src_mac)
}

// ---------------------------------------------------------------------------
// Frame checkers (smoltcp)
// ---------------------------------------------------------------------------

/// A frame parsed and checked by smoltcp: Ethernet, a 20-byte IPv4 header with a
/// valid checksum, and for TCP/UDP/ICMP a valid L4 checksum.
#[derive(Clone, Debug)]
pub struct Parsed {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
    pub proto: u8,
    pub ident: u16,
    pub sport: u16,
    pub dport: u16,
    pub flags: u8,
    pub seq: u32,
    pub ack: u32,
    /// The raw L4 checksum field (TCP/UDP/ICMP).
    pub l4_csum: u16,
    /// The L4 payload (after the TCP/UDP/ICMP header).
    pub payload: Vec<u8>,
    /// The whole L4 segment.
    pub l4: Vec<u8>,
}

pub fn parse_ip(frame: &[u8]) -> Parsed {
    try_parse_ip(frame).unwrap_or_else(|e| panic!("{e}: {frame:02x?}"))
}

macro_rules! ensure {
    ($c:expr, $($msg:tt)*) => {
        if !$c {
            return Err(format!($($msg)*));
        }
    };
}

/// Like [`parse_ip`], but says what is wrong instead of panicking.
pub fn try_parse_ip(frame: &[u8]) -> Result<Parsed, String> {
    let eth = EthernetFrame::new_checked(frame).map_err(|_| "ethernet")?;
    ensure!(eth.ethertype() == EthernetProtocol::Ipv4, "not IPv4");
    let ip = Ipv4Packet::new_checked(eth.payload()).map_err(|_| "ipv4 (smoltcp)")?;
    ensure!(
        ip.header_len() == 20,
        "IPv4 header length {}",
        ip.header_len()
    );
    ensure!(ip.verify_checksum(), "IPv4 header checksum");
    ensure!(
        usize::from(ip.total_len()) + 14 == frame.len(),
        "frame length {} is not the IP total length {} + 14",
        frame.len(),
        ip.total_len()
    );
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let (sa, da) = (IpAddress::Ipv4(src), IpAddress::Ipv4(dst));
    let l4 = ip.payload();
    let mut p = Parsed {
        src_mac: eth.src_addr().0,
        dst_mac: eth.dst_addr().0,
        src,
        dst,
        ttl: ip.hop_limit(),
        proto: u8::from(ip.next_header()),
        ident: ip.ident(),
        sport: 0,
        dport: 0,
        flags: 0,
        seq: 0,
        ack: 0,
        l4_csum: 0,
        payload: vec![],
        l4: l4.to_vec(),
    };
    match ip.next_header() {
        IpProtocol::Tcp => {
            let t = TcpPacket::new_checked(l4).map_err(|_| "tcp (smoltcp)")?;
            ensure!(t.verify_checksum(&sa, &da), "TCP checksum");
            p.sport = t.src_port();
            p.dport = t.dst_port();
            p.flags = l4[13];
            p.seq = t.seq_number().0 as u32;
            p.ack = t.ack_number().0 as u32;
            p.l4_csum = t.checksum();
            p.payload = t.payload().to_vec();
        }
        IpProtocol::Udp => {
            let u = UdpPacket::new_checked(l4).map_err(|_| "udp (smoltcp)")?;
            ensure!(u.verify_checksum(&sa, &da), "UDP checksum");
            p.sport = u.src_port();
            p.dport = u.dst_port();
            p.l4_csum = u.checksum();
            p.payload = u.payload().to_vec();
        }
        IpProtocol::Icmp => {
            let i = Icmpv4Packet::new_checked(l4).map_err(|_| "icmp (smoltcp)")?;
            ensure!(i.verify_checksum(), "ICMP checksum");
            p.l4_csum = i.checksum();
            p.payload = l4[8..].to_vec();
        }
        IpProtocol::Unknown(132) => {
            ensure!(sctp_crc_ok(l4), "SCTP CRC32c");
            p.sport = u16::from_be_bytes([l4[0], l4[1]]);
            p.dport = u16::from_be_bytes([l4[2], l4[3]]);
            p.payload = l4[12..].to_vec();
        }
        _ => {}
    }
    Ok(p)
}

/// Whether an SCTP packet's CRC32c is right (RFC 9260: over the packet with
/// the field zero, stored low byte first), computed here with the `crc32c`
/// crate directly, not with the director's code.
pub fn sctp_crc_ok(l4: &[u8]) -> bool {
    if l4.len() < 12 {
        return false;
    }
    let mut copy = l4.to_vec();
    copy[8..12].fill(0);
    crc32c::crc32c(&copy).to_le_bytes() == l4[8..12]
}

/// An SCTP packet from `sport` to `dport` with verification tag `vtag` and
/// `chunks` (each type and value, padded to 4 bytes), its CRC32c filled.
pub fn sctp_packet(sport: u16, dport: u16, vtag: u32, chunks: &[(u8, &[u8])]) -> Vec<u8> {
    let mut p = frames6::sctp_unfilled(sport, dport, vtag, chunks);
    let crc = crc32c::crc32c(&p);
    p[8..12].copy_from_slice(&crc.to_le_bytes());
    p
}

/// The quoted packet of an ICMP error, checked: a 20-byte IPv4 header with a
/// valid checksum. Returns (src, dst, sport, dport, proto, quoted L4 bytes).
pub struct Quoted {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
    pub l4: Vec<u8>,
}

pub fn parse_quoted(outer: &Parsed) -> Quoted {
    let inner = &outer.payload;
    let ip = Ipv4Packet::new_unchecked(&inner[..]);
    assert_eq!(ip.header_len(), 20);
    assert!(ip.verify_checksum(), "inner IPv4 header checksum");
    let l4 = &inner[20..];
    Quoted {
        src: ip.src_addr(),
        dst: ip.dst_addr(),
        sport: u16::from_be_bytes([l4[0], l4[1]]),
        dport: u16::from_be_bytes([l4[2], l4[3]]),
        proto: u8::from(ip.next_header()),
        l4: l4.to_vec(),
    }
}

/// Check a quoted (complete) UDP datagram's checksum with smoltcp.
pub fn quoted_udp_ok(q: &Quoted) -> bool {
    let u = UdpPacket::new_checked(&q.l4[..]).expect("quoted udp");
    q.l4.len() >= usize::from(u.len())
        && u.checksum() != 0
        && u.verify_checksum(&IpAddress::Ipv4(q.src), &IpAddress::Ipv4(q.dst))
}

pub fn quoted_tcp_ok(q: &Quoted) -> bool {
    let t = TcpPacket::new_checked(&q.l4[..]).expect("quoted tcp");
    t.verify_checksum(&IpAddress::Ipv4(q.src), &IpAddress::Ipv4(q.dst))
}

/// An IPv6 frame parsed and checked by smoltcp: Ethernet, IPv6 with the
/// frame exactly as long as its payload length says, no extension header,
/// and for TCP/UDP/ICMPv6 a valid checksum over the IPv6 pseudo-header.
#[derive(Clone, Debug)]
pub struct Parsed6 {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub hop_limit: u8,
    pub next_header: u8,
    /// The upper-layer bytes (header and data).
    pub l4: Vec<u8>,
}

pub fn parse_ip6(frame: &[u8]) -> Parsed6 {
    try_parse_ip6(frame).unwrap_or_else(|e| panic!("{e}: {frame:02x?}"))
}

pub fn try_parse_ip6(frame: &[u8]) -> Result<Parsed6, String> {
    use smoltcp::wire::{Icmpv6Packet, Ipv6Packet};
    let eth = EthernetFrame::new_checked(frame).map_err(|_| "ethernet")?;
    ensure!(eth.ethertype() == EthernetProtocol::Ipv6, "not IPv6");
    let ip = Ipv6Packet::new_checked(eth.payload()).map_err(|_| "ipv6 (smoltcp)")?;
    ensure!(
        usize::from(ip.payload_len()) + 54 == frame.len(),
        "frame length {} is not the payload length {} + 54",
        frame.len(),
        ip.payload_len()
    );
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let (sa, da) = (IpAddress::Ipv6(src), IpAddress::Ipv6(dst));
    let l4 = ip.payload();
    match ip.next_header() {
        IpProtocol::Tcp => {
            let t = TcpPacket::new_checked(l4).map_err(|_| "tcp (smoltcp)")?;
            ensure!(t.verify_checksum(&sa, &da), "TCP checksum");
        }
        IpProtocol::Udp => {
            let u = UdpPacket::new_checked(l4).map_err(|_| "udp (smoltcp)")?;
            ensure!(u.checksum() != 0, "UDP checksum 0 over IPv6");
            ensure!(u.verify_checksum(&sa, &da), "UDP checksum");
        }
        IpProtocol::Icmpv6 => {
            let i = Icmpv6Packet::new_checked(l4).map_err(|_| "icmpv6 (smoltcp)")?;
            ensure!(i.verify_checksum(&src, &dst), "ICMPv6 checksum");
        }
        p => return Err(format!("next header {p}")),
    }
    Ok(Parsed6 {
        src_mac: eth.src_addr().0,
        dst_mac: eth.dst_addr().0,
        src,
        dst,
        hop_limit: ip.hop_limit(),
        next_header: u8::from(ip.next_header()),
        l4: l4.to_vec(),
    })
}

/// `frame` (IPv6, no extension header) cut into fragments of `step` bytes
/// of its payload (a multiple of 8), a fragment header (id `id`) in each.
pub fn cut6(frame: &[u8], step: usize, id: u32) -> Vec<Vec<u8>> {
    let (head, payload) = frame.split_at(54);
    let next = head[20];
    payload
        .chunks(step)
        .enumerate()
        .map(|(i, chunk)| {
            let mut f = head.to_vec();
            f[20] = 44;
            f[18..20].copy_from_slice(&((8 + chunk.len()) as u16).to_be_bytes());
            let more = u16::from((i + 1) * step < payload.len());
            let off = (i * step) as u16 | more;
            f.extend_from_slice(&[next, 0]);
            f.extend_from_slice(&off.to_be_bytes());
            f.extend_from_slice(&id.to_be_bytes());
            f.extend_from_slice(chunk);
            f
        })
        .collect()
}

/// The IPv6 packet IPv6 fragments (Ethernet frames, any order) make up,
/// checked: one id, offsets that follow on, M on all but the last, hop
/// limit one less than sent (63).
pub fn whole6(frames: &[Vec<u8>]) -> Vec<u8> {
    whole6_from(frames, 63)
}

/// [`whole6`] of fragments with hop limit `hop_limit`.
pub fn whole6_from(frames: &[Vec<u8>], hop_limit: u8) -> Vec<u8> {
    let mut v: Vec<&Vec<u8>> = frames.iter().collect();
    v.sort_by_key(|f| u16::from_be_bytes([f[56], f[57]]) & !7);
    let mut out = v[0][14..54].to_vec();
    out[6] = v[0][54];
    let mut next = 0usize;
    for (i, f) in v.iter().enumerate() {
        assert_eq!(f[20], 44, "fragment {i}: a fragment header");
        assert_eq!(f[21], hop_limit, "fragment {i}: hop limit");
        assert_eq!(&f[58..62], &v[0][58..62], "fragment {i}: id");
        let off = u16::from_be_bytes([f[56], f[57]]);
        assert_eq!(usize::from(off & !7), next, "fragment {i}: offset");
        assert_eq!(off & 1 == 1, i + 1 < v.len(), "fragment {i}: M");
        next += f.len() - 62;
        out.extend_from_slice(&f[62..]);
    }
    out[4..6].copy_from_slice(&(next as u16).to_be_bytes());
    out
}
