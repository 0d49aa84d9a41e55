//! What a backup director does with the sync messages it receives, from the
//! datagram to the packet path: [`check`] feeds a run of datagrams (built
//! entry by entry, edited, or raw bytes) to the backup's intake
//! (`ringvs::sync::daemon::Intake`) of a two-worker, dual-stack director on
//! in-memory queues, lets the workers install what was queued to them while
//! the director is standby or active, and then holds the result to:
//!
//! * **accounting**: every entry the parser yields is queued to a worker,
//!   installed as a template, or dropped under a reason of the resolution;
//!   every queued entry is installed, updated, kept or counted as failed by
//!   the worker it went to;
//! * **the tables**: each worker holds only connections it owns by their
//!   client key (`Env::owner`, `Env::owner6`), to a real server of the
//!   service they name, found by both keys, with no key twice, and publishes
//!   gauges (ActiveConn, InActConn) and per-state counts that match; every
//!   template is of a persistent service and names one of its real servers;
//! * **the packet path**: once the director is active, a client's packet of
//!   each installed connection of a known client goes to the real server
//!   the connection names (its address and port rewritten for NAT, its MAC
//!   only for DR) and the server's reply goes back from the VIP; a new
//!   connection from a client a template covers goes to the template's
//!   server;
//! * **a model**, while every datagram was built entry by entry (no edits,
//!   no raw bytes): what the parser takes and drops, and what the intake
//!   (`daemon.rs`, `Intake::entry`) queues, drops by reason and keeps as
//!   templates (listed while alive: the check drives the intake's clock;
//!   one a synced connection may be counted on lives past its expiry while
//!   that connection does, which the model leaves to the director's listing);
//!   and while besides the clock stood still, the connections installed,
//!   updated, kept or refused, so the tables' contents and the workers'
//!   counters, are what `dataplane/sync.rs` (`Core::install`) promises: a
//!   standby takes the master's word for a connection it has (a new real
//!   server replaces the old when the entry is active; an inactive one is
//!   the late expiry of the connection replaced, kept as it is), an active
//!   director keeps its own, and a connection whose reply key another holds
//!   is refused.
//!
//! Shared by the cargo-fuzz target `fuzz/fuzz_targets/sync_install.rs` and
//! the bounded CI test `tests/sync_intake.rs`. Addresses are RFC 2544 and
//! RFC 5180 benchmarking space; nothing leaves the process.

#![allow(dead_code)]

#[allow(clippy::duplicate_mod)]
#[path = "../tests/inmem/mod.rs"]
pub mod inmem;

use inmem::*;
use ringvs::Nic;
use ringvs::config::{Forward, Netmask, Proto, ServiceKey};
use ringvs::dataplane::Env;
use ringvs::dataplane::tx::PENDING_PER_HOP;
use ringvs::nat::{ConnInfo, FlowKey, State};
use ringvs::stats::{Counters, Ctr};
use ringvs::sync::daemon::Intake;
use ringvs::sync::wire::{self, AnyConn, MessageBuilder, SyncConn, flags};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The backup's syncid.
pub const SYNCID: u8 = 7;
/// Workers of the director.
const WORKERS: usize = 2;
/// Connections each worker's table holds: more than any input installs, so
/// nothing is evicted and the model need not say what would be.
const MAX_CONNS: usize = 4096;
/// Datagrams an input sends at most (so what one poll installs stays within
/// a worker's per-pass budget, `dataplane::sync::INSTALL_BUDGET`).
const MAX_DATAGRAMS: usize = 96;
/// The client port the template check's new connections use; entries the
/// check builds never carry it.
const PROBE_PORT: u16 = 65000;

pub const VIP2: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 111);
const CLIENT3: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 9);
const RS9: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 9);
const CLIENT6B: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 7);
const RS9_6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 2, 0, 0, 0, 9);

/// The director's rules: NAT over two real servers, UDP, a second VIP on the
/// same real server (whose connections can clash with the first's), a
/// persistent service (templates), a DR service, and IPv6 NAT with and
/// without persistence.
pub const RULES: &[&str] = &[
    "-A -t 198.18.0.110:80 -s rr",
    "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
    "-a -t 198.18.0.110:80 -r 198.19.0.3:80 -m",
    "-A -u 198.18.0.110:53 -s rr",
    "-a -u 198.18.0.110:53 -r 198.19.0.2:53 -m",
    "-A -t 198.18.0.111:80 -s rr",
    "-a -t 198.18.0.111:80 -r 198.19.0.2:80 -m",
    "-A -t 198.18.0.110:443 -s rr -p 120 -M 255.255.255.0",
    "-a -t 198.18.0.110:443 -r 198.19.0.2:443 -m",
    "-a -t 198.18.0.110:443 -r 198.19.0.3:443 -m",
    "-A -t 198.18.0.110:8080 -s rr",
    "-a -t 198.18.0.110:8080 -r 198.19.0.3:8080 -g",
    "-A -t [2001:2:0:1::110]:80 -s rr",
    "-a -t [2001:2:0:1::110]:80 -r [2001:2:0:2::2]:80 -m",
    "-a -t [2001:2:0:1::110]:80 -r [2001:2:0:2::3]:80 -m",
    "-A -t [2001:2:0:1::110]:443 -s rr -p 60",
    "-a -t [2001:2:0:1::110]:443 -r [2001:2:0:2::2]:443 -m",
];

/// The model's view of [`RULES`]: one service.
struct Svc {
    proto: u8,
    vip: IpAddr,
    vport: u16,
    /// Persistence: timeout and the client netmask.
    persist: Option<(u32, Netmask)>,
    dests: &'static [(IpAddr, u16, Forward)],
}

const fn v4(a: Ipv4Addr) -> IpAddr {
    IpAddr::V4(a)
}

const fn v6(a: Ipv6Addr) -> IpAddr {
    IpAddr::V6(a)
}

const SERVICES: &[Svc] = &[
    Svc {
        proto: 6,
        vip: v4(VIP),
        vport: 80,
        persist: None,
        dests: &[(v4(RS1), 80, Forward::Masq), (v4(RS2), 80, Forward::Masq)],
    },
    Svc {
        proto: 17,
        vip: v4(VIP),
        vport: 53,
        persist: None,
        dests: &[(v4(RS1), 53, Forward::Masq)],
    },
    Svc {
        proto: 6,
        vip: v4(VIP2),
        vport: 80,
        persist: None,
        dests: &[(v4(RS1), 80, Forward::Masq)],
    },
    Svc {
        proto: 6,
        vip: v4(VIP),
        vport: 443,
        persist: Some((120, Netmask::V4(Ipv4Addr::new(255, 255, 255, 0)))),
        dests: &[(v4(RS1), 443, Forward::Masq), (v4(RS2), 443, Forward::Masq)],
    },
    Svc {
        proto: 6,
        vip: v4(VIP),
        vport: 8080,
        persist: None,
        dests: &[(v4(RS2), 8080, Forward::Route)],
    },
    Svc {
        proto: 6,
        vip: v6(VIP6),
        vport: 80,
        persist: None,
        dests: &[
            (v6(RS1_6), 80, Forward::Masq),
            (v6(RS2_6), 80, Forward::Masq),
        ],
    },
    Svc {
        proto: 6,
        vip: v6(VIP6),
        vport: 443,
        persist: Some((60, Netmask::V6(128))),
        dests: &[(v6(RS1_6), 443, Forward::Masq)],
    },
];

fn service(proto: u8, vip: IpAddr, vport: u16) -> Option<&'static Svc> {
    SERVICES
        .iter()
        .find(|s| (s.proto, s.vip, s.vport) == (proto, vip, vport))
}

fn dest_of(s: &Svc, rip: IpAddr, rport: u16) -> Option<Forward> {
    s.dests
        .iter()
        .find(|d| (d.0, d.1) == (rip, rport))
        .map(|d| d.2)
}

/// What an entry the check builds may name (known and unknown services,
/// real servers, clients), picked by input bytes; the known ones more often.
const SVC4: &[(u8, Ipv4Addr, u16)] = &[
    (6, VIP, 80),
    (6, VIP, 80),
    (17, VIP, 53),
    (6, VIP2, 80),
    (6, VIP, 443),
    (6, VIP, 8080),
    (6, VIP, 81),
    (17, VIP, 80),
    (6, NOT_OURS, 80),
];
const SVC6: &[(u8, Ipv6Addr, u16)] =
    &[(6, VIP6, 80), (6, VIP6, 80), (6, VIP6, 443), (17, VIP6, 53)];
const CLIENT4: &[Ipv4Addr] = &[CLIENT, CLIENT2, CLIENT3];
const CLIENT6S: &[Ipv6Addr] = &[CLIENT6, CLIENT6B];
const CPORTS: &[u16] = &[40000, 40001, 1024, 65535];
const TIMEOUTS: &[u32] = &[0, 1, 60, 900, 7200, u32::MAX];

/// Clients whose packets the check sends (resolved neighbors, or one on the
/// external network that is not: its replies wait for ARP).
fn known_client(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(a) => CLIENT4.contains(&a),
        IpAddr::V6(a) => CLIENT6S.contains(&a),
    }
}

/// An address and port.
type Endpoint = (IpAddr, u16);
/// A connection's key in one direction: protocol, source, destination.
type Key = (u8, Endpoint, Endpoint);
/// A template's key: protocol, virtual service, masked client.
type TemplateKey = (u8, Endpoint, IpAddr);

/// A connection as the tables hold it (and the model predicts it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Conn {
    proto: u8,
    client: Endpoint,
    vip: Endpoint,
    rip: Endpoint,
    state: State,
}

impl Conn {
    fn of(c: &ConnInfo) -> Self {
        Self {
            proto: c.proto,
            client: c.client,
            vip: c.vip,
            rip: c.dest,
            state: c.state,
        }
    }
    fn in_key(&self) -> Key {
        (self.proto, self.client, self.vip)
    }
    fn out_key(&self) -> Key {
        (self.proto, self.rip, self.client)
    }
}

/// A persistence template, as listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Template {
    proto: u8,
    vip: Endpoint,
    client: IpAddr,
    dest: Endpoint,
}

/// The templates `d` lists at `now` (the live ones).
fn listed_templates(d: &MemDirector, now: u32) -> Vec<Template> {
    let mut listed = Vec::new();
    d.shared.list_templates(now, &mut listed);
    listed
        .iter()
        .map(|t| Template {
            proto: t.proto,
            vip: t.vip,
            client: t.client.0,
            dest: t.dest,
        })
        .collect()
}

/// The model of the backup: what each worker's table holds, what its
/// counters say, the templates, what waits in each worker's queue, and what
/// the intake counted.
#[derive(Default)]
struct Model {
    conns: [BTreeMap<Key, Conn>; WORKERS],
    pending: [Vec<Conn>; WORKERS],
    /// installed, updated, kept, failed per worker.
    ctrs: [[u64; 4]; WORKERS],
    /// Template key → its real server, when it expires (on the intake's
    /// clock, which the check drives: `Intake::message_at`), and whether a
    /// synced connection may be counted on it (`Templates::adopt`: one to
    /// its server installed or updated since it was made), which keeps it
    /// past that as long as the connection lives, which the model does not
    /// follow once the clock moves.
    templates: BTreeMap<TemplateKey, (Endpoint, u32, bool)>,
    /// The intake's counters: entries queued, templates installed, drops by
    /// reason (the parser's and the resolution's).
    queued: u64,
    templates_installed: u64,
    drops: BTreeMap<&'static str, u64>,
}

/// What the intake did with an entry.
enum Took {
    Queued,
    Template,
}

impl Model {
    /// What the intake does with a parsed entry at `now` (`Intake::entry`):
    /// queued to a worker, a template installed, or why not. `alive` are
    /// the templates the director lists now, which say whether one a
    /// synced connection may hold lives past its expiry.
    fn intake(
        &mut self,
        e: &AnyConn,
        (standby, now): (bool, u32),
        env: &Env,
        alive: &BTreeSet<TemplateKey>,
    ) -> Result<Took, &'static str> {
        let (proto, fl, st, c, v, d, timeout) = match *e {
            AnyConn::V4(c) => (
                c.proto,
                c.flags,
                c.nat_state(),
                (v4(c.caddr), c.cport),
                (v4(c.vaddr), c.vport),
                (v4(c.daddr), c.dport),
                c.timeout,
            ),
            AnyConn::V6(c) => (
                c.proto,
                c.flags,
                c.nat_state(),
                (v6(c.caddr), c.cport),
                (v6(c.vaddr), c.vport),
                (v6(c.daddr), c.dport),
                c.timeout,
            ),
        };
        let s = service(proto, v.0, v.1).ok_or("unknown_service")?;
        let fwd = dest_of(s, d.0, d.1).ok_or("unknown_dest")?;
        let bits = match fwd {
            Forward::Masq => flags::MASQ,
            Forward::Route => flags::DROUTE,
            Forward::Tunnel(_) => flags::TUNNEL,
        };
        if fl & flags::FWD_MASK != bits {
            return Err("method_differs");
        }
        if fl & flags::TEMPLATE != 0 {
            let (svc_timeout, mask) = s.persist.ok_or("not_persistent")?;
            // A SIP template: no service here runs the engine.
            let pe = match e {
                AnyConn::V4(c) => c.pe.is_some(),
                AnyConn::V6(c) => c.pe.is_some(),
            };
            if pe {
                return Err("persistence_engine");
            }
            let key = (proto, v, mask.apply(c.0));
            // Without a timeout: 3 minutes (`ip_vs_proc_conn`).
            let secs = if timeout == 0 { 180 } else { timeout };
            let expires = now.saturating_add(secs.min(svc_timeout));
            match self.templates.get_mut(&key) {
                // Extended for its own server.
                Some((dest, t, _)) if *dest == d => *t = (*t).max(expires),
                // An active director keeps a live one against another (one
                // held by a synced connection lives past its expiry).
                Some((_, t, held)) if !standby && (now < *t || *held && alive.contains(&key)) => {
                    return Err("template_kept_or_full");
                }
                _ => {
                    self.templates.insert(key, (d, expires, false));
                }
            }
            return Ok(Took::Template);
        }
        let state = st.filter(|s| *s != State::None).ok_or("bad_state")?;
        let owner = match c.0 {
            IpAddr::V4(a) => env.owner((a.to_bits(), c.1), WORKERS),
            IpAddr::V6(a) => env.owner6((a, c.1), WORKERS),
        };
        let conn = Conn {
            proto,
            client: c,
            vip: v,
            rip: d,
            state,
        };
        self.pending[owner].push(conn);
        Ok(Took::Queued)
    }

    /// What worker `k` does with what waits for it (`Core::install`).
    fn install(&mut self, k: usize, standby: bool) {
        for e in std::mem::take(&mut self.pending[k]) {
            let table = &mut self.conns[k];
            if let Some(old) = table.get_mut(&e.in_key()) {
                if !standby {
                    self.ctrs[k][2] += 1;
                    continue;
                }
                if old.rip == e.rip {
                    old.state = e.state;
                    self.ctrs[k][1] += 1;
                    Self::hold(&mut self.templates, &e);
                    continue;
                }
                // Another server: the ports reused if active, else the late
                // expiry of the connection this one replaced (kept).
                if !e.state.is_active() {
                    self.ctrs[k][2] += 1;
                    continue;
                }
                table.remove(&e.in_key());
            }
            if table.values().any(|c| c.out_key() == e.out_key()) {
                self.ctrs[k][3] += 1;
            } else {
                Self::hold(&mut self.templates, &e);
                table.insert(e.in_key(), e);
                self.ctrs[k][0] += 1;
            }
        }
    }

    /// A synced connection installed or updated may be counted on its
    /// client's template if that sends it to its server (`Core::install`,
    /// `Templates::adopt`).
    fn hold(templates: &mut BTreeMap<TemplateKey, (Endpoint, u32, bool)>, c: &Conn) {
        let Some((_, mask)) = service(c.proto, c.vip.0, c.vip.1).and_then(|s| s.persist) else {
            return;
        };
        if let Some((dest, _, held)) = templates.get_mut(&(c.proto, c.vip, mask.apply(c.client.0)))
            && *dest == c.rip
        {
            *held = true;
        }
    }
}

/// An entry built from six input bytes (see [`check`]), mostly one the
/// backup can take:
///
/// * byte 0: IPv6 if its bits 0 and 1 are set; a template if bits 2 and 3
///   are; the forwarding method by bits 4–6 (6: DR, 7: tunnel, else NAT);
/// * byte 1: the service ([`SVC4`], [`SVC6`]); byte 2: the client (bits
///   0–1) and its port (bits 4–5, [`CPORTS`]);
/// * byte 3: the real server by its value mod 8 (0–3 the first, 4–6 the
///   second, 7 one the service does not have), on port 80 instead of the
///   service's if bits 6 and 7 are set;
/// * byte 4: a state the protocol has (`1 + b % 10` for TCP) if bit 7 is
///   clear, else IPVS's number `(b & 0x7f) % 14` (NONE and numbers past
///   TCP's last among them); byte 5: the timeout ([`TIMEOUTS`]).
fn entry(b: &[u8; 6]) -> AnyConn {
    let pick = |x: u8, n: usize| usize::from(x) % n;
    let template = b[0] & 0x0c == 0x0c;
    let fwd = match (b[0] >> 4) & 7 {
        6 => flags::DROUTE,
        7 => flags::TUNNEL,
        _ => flags::MASQ,
    };
    let state = |proto: u8| -> u16 {
        match (template, b[4] & 0x80 == 0, proto) {
            (true, _, _) => 0,
            (false, true, 17) => wire::state_to_ipvs(State::Udp),
            (false, true, _) => wire::state_to_ipvs(State::ALL[1 + pick(b[4], 10)]),
            (false, false, _) => u16::from(b[4] & 0x7f) % 14,
        }
    };
    let fl = |proto: u8, n: u16| {
        let st = wire::state_from_ipvs(proto, n).unwrap_or(State::None);
        (wire::nat_flags(template, st) & !flags::FWD_MASK) | fwd
    };
    let timeout = TIMEOUTS[pick(b[5], TIMEOUTS.len())];
    let cport = if template {
        0
    } else {
        CPORTS[pick(b[2] >> 4, CPORTS.len())]
    };
    let second = match b[3] % 8 {
        0..=3 => 0,
        4..=6 => 1,
        _ => 2,
    };
    let port = |vport: u16| if b[3] & 0xc0 == 0xc0 { 80 } else { vport };
    if b[0] & 3 != 3 {
        let (proto, vaddr, vport) = SVC4[pick(b[1], SVC4.len())];
        let caddr = CLIENT4[pick(b[2] & 3, CLIENT4.len())];
        let n = state(proto);
        AnyConn::V4(SyncConn {
            proto,
            flags: fl(proto, n),
            state: n,
            caddr: if template {
                Ipv4Addr::from_bits(caddr.to_bits() & 0xffff_ff00)
            } else {
                caddr
            },
            cport,
            vaddr,
            vport,
            daddr: [RS1, RS2, RS9][second],
            dport: port(vport),
            fwmark: 0,
            timeout,
            seq: None,
            pe: None,
        })
    } else {
        let (proto, vaddr, vport) = SVC6[pick(b[1], SVC6.len())];
        let n = state(proto);
        AnyConn::V6(SyncConn {
            proto,
            flags: fl(proto, n),
            state: n,
            caddr: CLIENT6S[pick(b[2] & 3, CLIENT6S.len())],
            cport,
            vaddr,
            vport,
            daddr: [RS1_6, RS2_6, RS9_6][second],
            dport: port(vport),
            fwmark: 0,
            timeout,
            seq: None,
            pe: None,
        })
    }
}

/// An entry as [`entry`] reads it, to write seeds with: the fields by
/// name, [`Spec::bytes`] the six bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Spec {
    pub v6: bool,
    pub template: bool,
    pub fwd: Fwd,
    /// Index into [`SVC4`] or [`SVC6`].
    pub svc: u8,
    /// Index into the clients of the family, and into [`CPORTS`].
    pub client: u8,
    pub cport: u8,
    /// 0: the first real server, 1: the second, 2: one the service lacks.
    pub rip: u8,
    /// Port 80 instead of the service's.
    pub port80: bool,
    pub state: Wire,
    /// Index into [`TIMEOUTS`].
    pub timeout: u8,
}

/// The forwarding method an entry's flags name.
#[derive(Clone, Copy, Debug, Default)]
pub enum Fwd {
    #[default]
    Masq,
    Route,
    Tunnel,
}

/// An entry's state: one its protocol has (a TCP state, or UDP's for a UDP
/// service), or IPVS's number as is (`0..14`).
#[derive(Clone, Copy, Debug)]
pub enum Wire {
    Tcp(State),
    Proto,
    Number(u8),
}

impl Default for Wire {
    fn default() -> Self {
        Wire::Tcp(State::Established)
    }
}

impl Spec {
    pub fn bytes(&self) -> [u8; 6] {
        let b0 = if self.v6 { 3 } else { 0 }
            | if self.template { 0x0c } else { 0 }
            | match self.fwd {
                Fwd::Masq => 0,
                Fwd::Route => 6 << 4,
                Fwd::Tunnel => 7 << 4,
            };
        let b3 = [0, 4, 7][usize::from(self.rip % 3)] | if self.port80 { 0xc0 } else { 0 };
        let b4 = match self.state {
            // `1 + b % 10` is the state's number.
            Wire::Tcp(s) => (wire::state_to_ipvs(s) as u8).wrapping_sub(1) % 10,
            Wire::Proto => 0,
            Wire::Number(n) => 0x80 | (n % 14),
        };
        [
            b0,
            self.svc,
            (self.client & 3) | ((self.cport & 3) << 4),
            b3,
            b4,
            self.timeout,
        ]
    }
}

/// A run of steps in [`check`]'s input format, to write seeds with.
#[derive(Default)]
pub struct Steps(pub Vec<u8>);

impl Steps {
    /// A message of 1 to 8 entries to the backup's syncid.
    pub fn msg(mut self, entries: &[Spec]) -> Self {
        assert!((1..=8).contains(&entries.len()));
        self.0.extend([0, entries.len() as u8 - 1]);
        for e in entries {
            self.0.extend(e.bytes());
        }
        self
    }
    /// A message to another `syncid`, with `edits` (offset, value) after it
    /// is built (at most three).
    pub fn edited(mut self, syncid: u8, entries: &[Spec], edits: &[(u8, u8)]) -> Self {
        assert!((1..=8).contains(&entries.len()) && edits.len() < 4);
        self.0.extend([3, entries.len() as u8 - 1, syncid]);
        for e in entries {
            self.0.extend(e.bytes());
        }
        self.0.push(edits.len() as u8);
        for (at, v) in edits {
            self.0.extend([*at, *v]);
        }
        self
    }
    pub fn raw(mut self, datagram: &[u8]) -> Self {
        self.0.extend([4, datagram.len() as u8]);
        self.0.extend(datagram);
        self
    }
    pub fn poll(mut self) -> Self {
        self.0.push(5);
        self
    }
    pub fn standby(mut self) -> Self {
        self.0.push(6 | 8);
        self
    }
    pub fn active(mut self) -> Self {
        self.0.push(6);
        self
    }
    pub fn clock(mut self, secs: u8) -> Self {
        self.0.extend([7, secs]);
        self
    }
}

/// What a run reached (so the CI test can show its seeds reach every
/// outcome): summed counters of the workers (installed, updated, kept,
/// failed), the intake's drops by reason, and what the packet path served.
#[derive(Debug, Default)]
pub struct Tally {
    pub workers: [u64; 4],
    pub drops: BTreeMap<&'static str, u64>,
    pub templates_installed: u64,
    /// Whether the whole model held to the end (summed: in any run).
    pub exact: bool,
    /// Connections forwarded (NAT both ways, DR one way), by family.
    pub nat4: u64,
    pub nat6: u64,
    pub dr: u64,
    /// Replies that waited for the client's address to resolve, and those
    /// dropped as too many waited.
    pub waiting: u64,
    pub dropped_waiting: u64,
    /// New connections a template steered.
    pub steered: u64,
    /// Connections listed with no time left, not sent to (the next pass
    /// may expire them).
    pub expiring: u64,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, t: Tally) {
        for (a, b) in self.workers.iter_mut().zip(t.workers) {
            *a += b;
        }
        for (why, n) in t.drops {
            *self.drops.entry(why).or_default() += n;
        }
        self.templates_installed += t.templates_installed;
        self.exact |= t.exact;
        self.nat4 += t.nat4;
        self.nat6 += t.nat6;
        self.dr += t.dr;
        self.waiting += t.waiting;
        self.dropped_waiting += t.dropped_waiting;
        self.steered += t.steered;
        self.expiring += t.expiring;
    }
}

/// The director, its intake, and what the check counted.
struct Rig {
    tally: Tally,
    /// Replies each worker holds for a client that does not answer ARP.
    waiting: [usize; WORKERS],
    d: MemDirector,
    env: Env,
    intake: Intake,
    model: Model,
    /// Whether every datagram so far was built entry by entry (the model of
    /// the templates and the intake's counters holds), and whether besides
    /// the clock stood still (the model of the connections holds too:
    /// it does not expire them).
    built_only: bool,
    exact: bool,
    standby: bool,
    /// Messages and entries the intake must have taken, and what its parser
    /// must have dropped: for built datagrams as the check predicts, for
    /// others as `wire::parse` finds.
    entries: u64,
    msgs: u64,
    parse_drops: BTreeMap<&'static str, u64>,
}

/// The resolution's drop reasons (`Intake::entry`, `Family::resolve`).
const RESOLVE_DROPS: &[&str] = &[
    "unknown_service",
    "unknown_dest",
    "method_differs",
    "not_persistent",
    "dest_changed",
    "template_kept_or_full",
    "queue_full",
    "bad_state",
    "no_worker",
    "ipv6_off",
    "no_template_table",
    "persistence_engine",
];

impl Rig {
    fn new() -> Self {
        let env = Env {
            fanout_key: 0x5eed,
            ..env6()
        };
        let mut d = MemDirector::with_env(WORKERS, RULES, env.clone(), MAX_CONNS);
        d.resolve_all();
        d.resolve6(Nic::Ext, CLIENT6, CLIENT_MAC);
        d.resolve6(Nic::Ext, CLIENT6B, CLIENT2_MAC);
        d.resolve6(Nic::Int, RS1_6, RS1_MAC);
        d.resolve6(Nic::Int, RS2_6, RS2_MAC);
        d.shared.ha.set_standby(true);
        d.shared.bump();
        let intake = d.intake(SYNCID, &env);
        Self {
            d,
            env,
            intake,
            model: Model::default(),
            tally: Tally::default(),
            waiting: [0; WORKERS],
            built_only: true,
            exact: true,
            standby: true,
            entries: 0,
            msgs: 0,
            parse_drops: BTreeMap::new(),
        }
    }

    /// Hand a datagram built of `entries` for `syncid` to the intake at the
    /// check's clock, and follow it in the model: the parser takes the
    /// message if the syncid is ours, then each entry but those whose state
    /// its protocol lacks (`state`); the intake resolves the rest
    /// ([`Model::intake`]).
    fn send_built(&mut self, datagram: &[u8], syncid: u8, entries: &[AnyConn]) {
        let now = self.d.now_s();
        let alive = listed_templates(&self.d, now)
            .iter()
            .map(|t| (t.proto, t.vip, t.client))
            .collect();
        if syncid != SYNCID {
            *self.parse_drops.entry("syncid").or_default() += 1;
        } else {
            self.msgs += 1;
            for e in entries {
                let (template, proto, state) = match e {
                    AnyConn::V4(c) => (c.is_template(), c.proto, c.state),
                    AnyConn::V6(c) => (c.is_template(), c.proto, c.state),
                };
                if !template && wire::state_from_ipvs(proto, state).is_none() {
                    *self.parse_drops.entry("state").or_default() += 1;
                    continue;
                }
                self.entries += 1;
                let m = &mut self.model;
                match m.intake(e, (self.standby, now), &self.env, &alive) {
                    Ok(Took::Queued) => m.queued += 1,
                    Ok(Took::Template) => m.templates_installed += 1,
                    Err(why) => *m.drops.entry(why).or_default() += 1,
                }
            }
        }
        self.intake.message_at(datagram, now);
    }

    /// Hand any other datagram to the intake, after parsing it the same way
    /// to know what it holds; the model no longer holds.
    fn send_raw(&mut self, datagram: &[u8]) {
        match wire::parse(datagram, SYNCID) {
            Err(e) => *self.parse_drops.entry(e.kind()).or_default() += 1,
            Ok(entries) => {
                self.msgs += 1;
                for e in entries {
                    match e {
                        Ok(_) => self.entries += 1,
                        Err(e) => {
                            *self.parse_drops.entry(e.kind()).or_default() += 1;
                            if e.ends_message() {
                                break;
                            }
                        }
                    }
                }
            }
        }
        self.built_only = false;
        self.exact = false;
        self.intake.message_at(datagram, self.d.now_s());
    }

    /// Every worker installs what waits for it.
    fn poll(&mut self) {
        self.d.poll();
        for k in 0..WORKERS {
            self.model.install(k, self.standby);
        }
    }

    fn set_standby(&mut self, standby: bool) {
        self.d.shared.ha.set_standby(standby);
        self.d.shared.bump();
        self.standby = standby;
    }
}

/// Interpret `data` as a run of steps and check the outcome (module doc).
/// Per step a byte `op`, by `op % 8`:
/// 0–2: a message of `1 + next % 8` entries (six bytes each, [`entry`]) to
/// our syncid; 3: the same with the syncid of the byte after the count and
/// then `next % 4` edits (offset, value); 4: a raw datagram (a length byte,
/// the bytes); 5: the workers install what waits; 6: the director turns
/// standby (`op & 8`) or active; 7: the clock moves by the next byte's
/// seconds.
pub fn check(data: &[u8]) -> Tally {
    let mut r = Rig::new();
    let mut rest = data;
    let mut datagrams = 0;
    let mut buf = vec![0u8; wire::MAX_MAXLEN];
    while let [op, tail @ ..] = rest {
        rest = tail;
        if datagrams >= MAX_DATAGRAMS && op % 8 <= 4 {
            break;
        }
        match op % 8 {
            kind @ 0..=3 => {
                let Some((&n, tail)) = rest.split_first() else {
                    break;
                };
                rest = tail;
                let mut syncid = SYNCID;
                if kind == 3 {
                    let Some((&id, tail)) = rest.split_first() else {
                        break;
                    };
                    (syncid, rest) = (id, tail);
                }
                let Ok(mut m) = MessageBuilder::new(&mut buf, wire::MAX_MAXLEN, syncid) else {
                    unreachable!("the largest message fits its buffer")
                };
                let mut entries = Vec::new();
                for _ in 0..=n % 8 {
                    let Some((b, tail)) = rest.split_first_chunk::<6>() else {
                        break;
                    };
                    rest = tail;
                    let e = entry(b);
                    if m.push_any(&e).is_err() {
                        unreachable!("eight entries fit the largest message")
                    }
                    entries.push(e);
                }
                if entries.is_empty() {
                    break;
                }
                let mut datagram = m.as_bytes().to_vec();
                let mut built = true;
                if kind == 3 {
                    let edits = rest.first().map_or(0, |e| e % 4);
                    rest = rest.get(1..).unwrap_or_default();
                    for _ in 0..edits {
                        let Some(([at, v], tail)) =
                            rest.split_first_chunk::<2>().map(|(a, t)| (*a, t))
                        else {
                            break;
                        };
                        rest = tail;
                        if let Some(b) = datagram.get_mut(usize::from(at)) {
                            built &= *b == v;
                            *b = v;
                        }
                    }
                }
                if built {
                    r.send_built(&datagram, syncid, &entries);
                } else {
                    r.send_raw(&datagram);
                }
                datagrams += 1;
            }
            4 => {
                let Some((&n, tail)) = rest.split_first() else {
                    break;
                };
                let n = usize::from(n).min(tail.len());
                let (raw, tail) = tail.split_at(n);
                rest = tail;
                r.send_raw(raw);
                datagrams += 1;
            }
            5 => r.poll(),
            6 => r.set_standby(op & 8 != 0),
            _ => {
                let Some((&s, tail)) = rest.split_first() else {
                    break;
                };
                rest = tail;
                r.d.advance(Duration::from_secs(u64::from(s)));
                r.exact &= s == 0;
            }
        }
    }
    r.poll();
    judge(&mut r);
    r.tally
}

fn judge(r: &mut Rig) {
    // What the intake counted.
    let c = &r.intake.counters;
    let got = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    assert_eq!(got(&c.conns_received), r.entries, "entries received");
    assert_eq!(got(&c.msgs_received), r.msgs, "messages received");
    let mut resolve = 0;
    for (why, n) in c.drops() {
        let parsed = r.parse_drops.get(why).copied().unwrap_or(0);
        if RESOLVE_DROPS.contains(&why) {
            assert_eq!(parsed, 0, "{why} is the resolution's");
            resolve += n;
        } else {
            assert_eq!(n, parsed, "drops for {why}: {:?}", c.drops());
        }
    }
    for (why, n) in &r.parse_drops {
        assert_eq!(c.drops().get(why), Some(n), "drops for {why}");
    }
    let queued = got(&c.conns_queued);
    assert_eq!(
        queued + got(&c.templates_installed) + resolve,
        r.entries,
        "every entry queued, a template, or dropped: {:?}",
        c.drops()
    );
    if r.built_only {
        let m = &r.model;
        let resolution: BTreeMap<_, _> = c
            .drops()
            .into_iter()
            .filter(|(why, _)| RESOLVE_DROPS.contains(why))
            .collect();
        assert_eq!(
            resolution, m.drops,
            "the resolution's drops against the model"
        );
        assert_eq!(queued, m.queued, "queued against the model");
        assert_eq!(
            got(&c.templates_installed),
            m.templates_installed,
            "templates against the model"
        );
    }

    // What the workers did with the queued ones.
    assert!(r.d.sync.installs.iter().all(|q| q.is_empty()), "all taken");
    assert!(r.d.sync.installs6.iter().all(|q| q.is_empty()), "all taken");
    let ctrs: Vec<[u64; 4]> =
        r.d.workers
            .iter()
            .map(|w| {
                let g = |c| w.core.ctr.get(c);
                [
                    g(Ctr::SyncInstalled),
                    g(Ctr::SyncUpdated),
                    g(Ctr::SyncKept),
                    g(Ctr::SyncInstallFailed),
                ]
            })
            .collect();
    let handled: u64 = ctrs.iter().flatten().sum();
    for k in &ctrs {
        for (t, n) in r.tally.workers.iter_mut().zip(k) {
            *t += n;
        }
    }
    r.tally.drops = c.drops();
    r.tally.templates_installed = got(&c.templates_installed);
    r.tally.exact = r.exact;
    assert_eq!(handled, queued, "each queued entry handled once: {ctrs:?}");

    // The tables.
    let mut tables = Vec::new();
    for (k, ctr) in ctrs.iter().enumerate() {
        let listed = r.d.conns(k);
        let mut conns: Vec<Conn> = listed
            .iter()
            .filter(|c| !c.template)
            .map(Conn::of)
            .collect();
        conns.sort();
        let ins: BTreeSet<_> = conns.iter().map(Conn::in_key).collect();
        let outs: BTreeSet<_> = conns.iter().map(Conn::out_key).collect();
        assert_eq!(ins.len(), conns.len(), "worker {k}: an in-key twice");
        assert_eq!(outs.len(), conns.len(), "worker {k}: an out-key twice");
        let w = &r.d.workers[k].core;
        assert_eq!(w.table.len() + w.table6.len(), conns.len(), "worker {k}");
        // ActiveConn and InActConn per real server (the gauges `Core::install`
        // and expiry move) and the connections per state, as the worker
        // publishes them, against what its table lists.
        let out = &r.d.published[k];
        let mut by_dest: BTreeMap<(u8, Endpoint, Endpoint), (u32, u32)> = BTreeMap::new();
        let mut by_state = [0u64; State::ALL.len()];
        for c in &conns {
            let g = by_dest.entry((c.proto, c.vip, c.rip)).or_default();
            if c.state.is_active() {
                g.0 += 1;
            } else {
                g.1 += 1;
            }
            by_state[c.state as usize] += 1;
        }
        for svc in SERVICES {
            let proto = if svc.proto == 17 {
                Proto::Udp
            } else {
                Proto::Tcp
            };
            let cfg = r.d.cfg.service(&ServiceKey::new(proto, svc.vip, svc.vport));
            for &(rip, rport, _) in svc.dests {
                let id = cfg
                    .and_then(|s| s.dest(rip, rport))
                    .map(|d| d.id)
                    .unwrap_or_else(|| panic!("{rip}:{rport} configured"));
                let want = by_dest
                    .get(&(svc.proto, (svc.vip, svc.vport), (rip, rport)))
                    .copied()
                    .unwrap_or_default();
                assert_eq!(
                    out.gauges.get(id),
                    want,
                    "worker {k}: active, inactive of {rip}:{rport} of {}:{}",
                    svc.vip,
                    svc.vport
                );
            }
        }
        let states: Vec<u64> = out
            .states
            .iter()
            .map(|n| n.load(Ordering::Relaxed))
            .collect();
        assert_eq!(states, by_state, "worker {k}: connections per state");
        for c in &conns {
            let owner = match c.client.0 {
                IpAddr::V4(a) => r.env.owner((a.to_bits(), c.client.1), WORKERS),
                IpAddr::V6(a) => r.env.owner6((a, c.client.1), WORKERS),
            };
            assert_eq!(owner, k, "{c:?} on worker {k}, owned by {owner}");
            let s = service(c.proto, c.vip.0, c.vip.1)
                .unwrap_or_else(|| panic!("{c:?}: no such service"));
            assert!(
                dest_of(s, c.rip.0, c.rip.1).is_some(),
                "{c:?}: not its server"
            );
            assert_ne!(c.state, State::None, "{c:?}");
            // Found by both its keys, as the packet path looks it up.
            let (found_in, found_out) = match (c.client.0, c.vip.0, c.rip.0) {
                (IpAddr::V4(a), IpAddr::V4(v), IpAddr::V4(d)) => {
                    let (a, v, d) = (a.to_bits(), v.to_bits(), d.to_bits());
                    (
                        w.table
                            .lookup(&FlowKey::new(0, c.proto, a, c.client.1, v, c.vip.1)),
                        w.table
                            .lookup(&FlowKey::new(1, c.proto, d, c.rip.1, a, c.client.1)),
                    )
                }
                (IpAddr::V6(a), IpAddr::V6(v), IpAddr::V6(d)) => (
                    w.table6
                        .lookup(&FlowKey::new(0, c.proto, a, c.client.1, v, c.vip.1)),
                    w.table6
                        .lookup(&FlowKey::new(1, c.proto, d, c.rip.1, a, c.client.1)),
                ),
                _ => unreachable!("a connection's addresses are of one family"),
            };
            assert!(
                found_in.is_some() && found_in == found_out,
                "{c:?}: {found_in:?} {found_out:?}"
            );
        }
        if r.exact {
            let want: Vec<Conn> = r.model.conns[k].values().copied().collect();
            assert_eq!(conns, want, "worker {k}'s table against the model");
            assert_eq!(
                *ctr, r.model.ctrs[k],
                "worker {k}: installed, updated, kept, failed"
            );
        }
        // What may expire in the next pass (its timeout ran out this second:
        // `ConnTable::expire` takes it within a second, and sooner if the
        // configuration's epoch moves, as the turn to active below does).
        let expiring: BTreeSet<Key> = listed
            .iter()
            .filter(|c| !c.template && c.expires_in == 0)
            .map(|c| Conn::of(c).in_key())
            .collect();
        tables.push((conns, expiring));
    }
    let now = r.d.now_s();
    let listed = listed_templates(&r.d, now);
    let templates: BTreeSet<Template> = listed.iter().copied().collect();
    assert_eq!(
        templates.len(),
        listed.len(),
        "a template twice: {listed:?}"
    );
    for t in &templates {
        let s =
            service(t.proto, t.vip.0, t.vip.1).unwrap_or_else(|| panic!("{t:?}: no such service"));
        let (_, mask) = s.persist.unwrap_or_else(|| panic!("{t:?}: not persistent"));
        assert_eq!(mask.apply(t.client), t.client, "{t:?}: not masked");
        assert!(
            dest_of(s, t.dest.0, t.dest.1).is_some(),
            "{t:?}: not its server"
        );
    }
    if r.built_only {
        for (&(proto, vip, client), &(dest, expires, held)) in &r.model.templates {
            let t = Template {
                proto,
                vip,
                client,
                dest,
            };
            // Held by a synced connection, it lives while that does.
            if held && now >= expires {
                continue;
            }
            assert_eq!(
                templates.contains(&t),
                now < expires,
                "{t:?} (expires at {expires}, now {now}) against the listing: {templates:?}"
            );
        }
        for t in &templates {
            let key = (t.proto, t.vip, t.client);
            assert!(
                r.model.templates.contains_key(&key),
                "{t:?} listed, not in the model"
            );
        }
    }

    // The packet path, the director active.
    r.set_standby(false);
    for (k, (conns, expiring)) in tables.iter().enumerate() {
        for c in conns.iter().filter(|c| known_client(c.client.0)) {
            if expiring.contains(&c.in_key()) {
                r.tally.expiring += 1;
            } else {
                forward(r, k, c);
            }
        }
    }
    for t in &templates {
        steer(r, &tables, t);
    }
}

/// The client's packet of connection `c` (on worker `k`, its owner) goes to
/// its real server; for NAT the server's reply goes back from the VIP.
fn forward(r: &mut Rig, k: usize, c: &Conn) {
    let s = service(c.proto, c.vip.0, c.vip.1).expect("checked");
    let fwd = dest_of(s, c.rip.0, c.rip.1).expect("checked");
    let before = r.d.workers[k].core.ctr.clone();
    let (ext, int) = push(r, k, Nic::Ext, &client_frame(c));
    assert!(ext.is_empty(), "{c:?}: nothing back to the client");
    assert_eq!(
        int.len(),
        1,
        "{c:?}: forwarded once; counters moved: {:?}",
        moved(&before, &r.d.workers[k].core.ctr)
    );
    let (dst, sport, dport, dst_mac) = l3_l4(&int[0]);
    assert_eq!(sport, c.client.1, "{c:?}");
    assert_eq!(dst_mac, rs_mac(c.rip.0), "{c:?}: to the server's MAC");
    match fwd {
        Forward::Masq => assert_eq!((dst, dport), c.rip, "{c:?}: rewritten"),
        _ => {
            assert_eq!((dst, dport), c.vip, "{c:?}: DR keeps the addresses");
            r.tally.dr += 1;
            return;
        }
    }
    let before = r.d.workers[k].core.ctr.clone();
    let (ext, int) = push(r, k, Nic::Int, &reply_frame(c));
    assert!(int.is_empty(), "{c:?}: nothing back to the server");
    if ext.is_empty() {
        let after = &r.d.workers[k].core.ctr;
        let moved = moved(&before, after);
        // The client that does not answer ARP: its replies wait, up to
        // `PENDING_PER_HOP` of them a worker; past that each pushes the
        // oldest out, a counted drop.
        let waiting = &mut r.waiting[k];
        let (want, seen) = if *waiting < PENDING_PER_HOP {
            *waiting += 1;
            r.tally.waiting += 1;
            (
                Ctr::NeighQueued,
                after.get(Ctr::NeighQueued) - before.get(Ctr::NeighQueued),
            )
        } else {
            r.tally.dropped_waiting += 1;
            let d = Ctr::DropNeighQueue;
            (d, after.get(d) - before.get(d))
        };
        assert!(
            seen == 1 && c.client.0 == v4(CLIENT3),
            "{c:?}: the reply neither sent nor {}; counters moved: {moved:?}",
            want.name()
        );
        return;
    }
    assert_eq!(ext.len(), 1, "{c:?}: one reply");
    let (dst, sport, dport, _) = l3_l4(&ext[0]);
    let src = src_of(&ext[0]);
    assert_eq!(
        ((src, sport), (dst, dport)),
        (c.vip, c.client),
        "{c:?}: from the VIP"
    );
    match c.client.0 {
        IpAddr::V4(_) => r.tally.nat4 += 1,
        IpAddr::V6(_) => r.tally.nat6 += 1,
    }
}

/// A new connection from a client the template covers goes to the
/// template's real server.
fn steer(r: &mut Rig, tables: &[(Vec<Conn>, BTreeSet<Key>)], t: &Template) {
    let clients: Vec<IpAddr> = match t.client {
        IpAddr::V4(_) => CLIENT4.iter().map(|&a| v4(a)).collect(),
        IpAddr::V6(_) => CLIENT6S.iter().map(|&a| v6(a)).collect(),
    };
    let s = service(t.proto, t.vip.0, t.vip.1).expect("checked");
    let (_, mask) = s.persist.expect("checked");
    let Some(&client) = clients.iter().find(|&&c| mask.apply(c) == t.client) else {
        return;
    };
    let c = Conn {
        proto: t.proto,
        client: (client, PROBE_PORT),
        vip: t.vip,
        rip: t.dest,
        state: State::SynRecv,
    };
    // Entries the check builds never carry the probe's port; raw ones may.
    if tables
        .iter()
        .flat_map(|t| &t.0)
        .any(|x| x.in_key() == c.in_key())
    {
        return;
    }
    let k = match client {
        IpAddr::V4(a) => r.env.owner((a.to_bits(), PROBE_PORT), WORKERS),
        IpAddr::V6(a) => r.env.owner6((a, PROBE_PORT), WORKERS),
    };
    let (_, int) = push(r, k, Nic::Ext, &syn_frame(&c));
    assert_eq!(int.len(), 1, "{t:?}: the SYN forwarded");
    let (dst, _, dport, _) = l3_l4(&int[0]);
    assert_eq!((dst, dport), t.dest, "{t:?}: to the template's server");
    r.tally.steered += 1;
}

/// The counters that moved from `before` to `after`, by how much.
fn moved(before: &Counters, after: &Counters) -> Vec<(&'static str, u64)> {
    Ctr::ALL
        .iter()
        .filter(|&&x| after.get(x) != before.get(x))
        .map(|&x| (x.name(), after.get(x) - before.get(x)))
        .collect()
}

fn push(r: &mut Rig, k: usize, nic: Nic, frame: &[u8]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    r.d.workers[k].rx[nic].push(frame);
    r.d.poll();
    let w = &mut r.d.workers[k];
    (w.tx[Nic::Ext].take_sent(), w.tx[Nic::Int].take_sent())
}

fn rs_mac(a: IpAddr) -> [u8; 6] {
    if a == v4(RS2) || a == v6(RS2_6) {
        RS2_MAC
    } else {
        RS1_MAC
    }
}

fn client_mac(a: IpAddr) -> [u8; 6] {
    if a == v4(CLIENT2) || a == v6(CLIENT6B) {
        CLIENT2_MAC
    } else {
        CLIENT_MAC
    }
}

/// The client's packet: TCP ACK or UDP, client → VIP.
fn client_frame(c: &Conn) -> Vec<u8> {
    packet(c, c.client, c.vip, true, ACK)
}

fn syn_frame(c: &Conn) -> Vec<u8> {
    packet(c, c.client, c.vip, true, SYN)
}

/// The real server's reply, server → client.
fn reply_frame(c: &Conn) -> Vec<u8> {
    packet(c, c.rip, c.client, false, ACK | PSH)
}

fn packet(c: &Conn, src: Endpoint, dst: Endpoint, from_client: bool, fl: u8) -> Vec<u8> {
    let (src_mac, dst_mac) = if from_client {
        (client_mac(c.client.0), EXT_MAC)
    } else {
        (rs_mac(c.rip.0), INT_MAC)
    };
    match (src.0, dst.0) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let l3 = L3 {
                src_mac,
                dst_mac,
                src: s,
                dst: d,
                ttl: 64,
                id: 1,
            };
            if c.proto == 17 {
                udp_frame(&l3, src.1, dst.1, b"q", true)
            } else {
                tcp_frame(&l3, src.1, dst.1, fl)
            }
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let l3 = frames6::L3 {
                src_mac,
                dst_mac,
                src: s,
                dst: d,
                hop_limit: 64,
            };
            if c.proto == 17 {
                frames6::udp(&l3, &[], src.1, dst.1, b"q", false)
            } else {
                frames6::tcp(&l3, &[], src.1, dst.1, fl, b"")
            }
        }
        _ => unreachable!("a connection's addresses are of one family"),
    }
}

/// Destination address, source and destination ports, destination MAC of a
/// forwarded TCP or UDP frame of either family.
fn l3_l4(f: &[u8]) -> (IpAddr, u16, u16, [u8; 6]) {
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&f[..6]);
    if f[12..14] == [0x86, 0xdd] {
        let p = parse_ip6(f);
        let ports = (
            u16::from_be_bytes([p.l4[0], p.l4[1]]),
            u16::from_be_bytes([p.l4[2], p.l4[3]]),
        );
        (v6(p.dst), ports.0, ports.1, mac)
    } else {
        let p = parse_ip(f);
        (v4(p.dst), p.sport, p.dport, mac)
    }
}

fn src_of(f: &[u8]) -> IpAddr {
    if f[12..14] == [0x86, 0xdd] {
        v6(parse_ip6(f).src)
    } else {
        v4(parse_ip(f).src)
    }
}
