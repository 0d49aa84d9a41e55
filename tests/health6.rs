//! Health checks of IPv6 real servers, in memory and in real time: the health
//! thread (`health::run`) runs as in the director, with a TX queue that hands
//! its frames to the test, and the test plays the real servers: it reads the
//! checker's Ethernet frames, answers as each server is told to (complete the
//! handshake, answer HTTP, reset, or stay silent) and hands the answers back
//! through `Tap::divert`, as a worker does with a reply to the DIP's check
//! ports. Every wait is bounded by a deadline derived from the checks'
//! `delay_loop`/`connect_timeout` (1 s here).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use ringvs::Nic;
use ringvs::config::ipvsadm::{apply, parse};
use ringvs::config::{Config, DestId};
use ringvs::dataplane::Shared;
use ringvs::health::{self, HealthIo, Monitor, PORTS, is_check_reply6};
use ringvs::io::TxQueue;
use ringvs::nat::{Snapshot, Timeouts};
use ringvs::neigh::{NeighEvent, NeighTable, Prefix6};
use ringvs::wire::Mac;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const INT_MAC: [u8; 6] = [0x02, 0x11, 0, 0, 0, 0x01];
const DIP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
const DIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 2, 0, 0, 0, 1);
const VIP6: &str = "[2001:2:0:1::110]:80";
const VIP: &str = "198.18.0.110:80";

fn rs6(n: u16) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 2, 0, 2, 0, 0, 0, n)
}

fn rs4(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 19, 0, n)
}

/// Each real server's MAC: 02:55 and the address's last two bytes.
fn mac_of(ip: IpAddr) -> [u8; 6] {
    let o = match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    [0x02, 0x55, 0, 0, o[o.len() - 2], o[o.len() - 1]]
}

fn config(rules: &[String]) -> Config {
    let mut cfg = Config::new();
    for r in rules {
        let args: Vec<String> = r.split_whitespace().map(String::from).collect();
        let cmd = parse(&args).unwrap_or_else(|e| panic!("{r}: {e}"));
        apply(&mut cfg, &cmd).unwrap_or_else(|e| panic!("{r}: {e}"));
    }
    cfg
}

/// The `DestId` of real server `ip` (any service).
fn id_of(cfg: &Config, ip: IpAddr) -> DestId {
    cfg.services()
        .iter()
        .flat_map(|s| s.dests.iter())
        .find(|d| d.addr == ip)
        .map(|d| d.id)
        .expect("a configured server")
}

/// The health thread's TX queue: every frame goes to the test.
struct ChanTx {
    slot: Vec<u8>,
    out: Sender<Vec<u8>>,
}

impl TxQueue for ChanTx {
    fn slot(&mut self) -> Option<&mut [u8]> {
        Some(&mut self.slot)
    }
    fn commit(&mut self, len: usize) {
        let _ = self.out.send(self.slot[..len].to_vec());
    }
    fn flush(&mut self) -> usize {
        0
    }
}

/// How a simulated real server answers a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    /// Completes the handshake (and answers an HTTP request with this status
    /// line, if any).
    Accept(Option<&'static str>),
    /// RST to the SYN (nothing listens).
    Reset,
    /// Nothing (the SYN is dropped).
    Silent,
    /// Completes the handshake, its SYN-ACK an IPv6 atomic fragment (RFC
    /// 6946: a fragment header of offset 0, M clear).
    AcceptAtomic,
}

/// What the servers saw.
#[derive(Default, Debug)]
struct Seen {
    /// SYNs per server.
    syns: HashMap<IpAddr, usize>,
    /// Handshakes completed (the checker's ACK of our SYN-ACK) per server.
    established: HashMap<IpAddr, usize>,
    /// The first request bytes each server received.
    requests: HashMap<IpAddr, Vec<u8>>,
    /// HTTP requests answered per server.
    answered: HashMap<IpAddr, usize>,
}

/// A decoded frame from the checker.
struct Seg {
    ty: u16,
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    seq: u32,
    flags: u8,
    payload: Vec<u8>,
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const RST: u8 = 0x04;
const FIN: u8 = 0x01;
const PSH: u8 = 0x08;
/// The servers' initial sequence number.
const ISN: u32 = 7000;

/// Decodes a frame the checker sent: Ethernet, IPv4 or IPv6 (no options or
/// extension headers: smoltcp sends none here), TCP.
fn decode(f: &[u8]) -> Option<Seg> {
    let ty = u16::from_be_bytes([f[12], f[13]]);
    let ip = &f[14..];
    let (src, dst, proto, l4): (IpAddr, IpAddr, u8, &[u8]) = match ty {
        0x0800 => {
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
            let s: [u8; 4] = ip[12..16].try_into().ok()?;
            let d: [u8; 4] = ip[16..20].try_into().ok()?;
            (s.into(), d.into(), ip[9], &ip[ihl..total])
        }
        0x86dd => {
            assert_eq!(ip[0] >> 4, 6, "an IPv6 frame carries IPv6");
            let len = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
            let s: [u8; 16] = ip[8..24].try_into().ok()?;
            let d: [u8; 16] = ip[24..40].try_into().ok()?;
            (s.into(), d.into(), ip[6], &ip[40..40 + len])
        }
        _ => return None,
    };
    if proto != 6 {
        return None;
    }
    let off = usize::from(l4[12] >> 4) * 4;
    Some(Seg {
        ty,
        dst_mac: f[..6].try_into().ok()?,
        src_mac: f[6..12].try_into().ok()?,
        src,
        dst,
        sport: u16::from_be_bytes([l4[0], l4[1]]),
        dport: u16::from_be_bytes([l4[2], l4[3]]),
        seq: u32::from_be_bytes([l4[4], l4[5], l4[6], l4[7]]),
        flags: l4[13],
        payload: l4[off..].to_vec(),
    })
}

/// RFC 1071's sum of `data`, folded.
fn sum(mut acc: u32, data: &[u8]) -> u32 {
    for c in data.chunks(2) {
        acc += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc
}

/// The IP packet of a TCP segment from `src` to `dst` (checksums right: RFC
/// 793's pseudo-header for IPv4, RFC 8200 section 8.1's for IPv6).
#[allow(clippy::too_many_arguments)]
fn tcp_packet(
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&ack.to_be_bytes());
    t.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    t.extend_from_slice(payload);
    let len = t.len();
    let mut pseudo = Vec::new();
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            pseudo.extend_from_slice(&s.octets());
            pseudo.extend_from_slice(&d.octets());
            pseudo.extend_from_slice(&[0, 6]);
            pseudo.extend_from_slice(&(len as u16).to_be_bytes());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            pseudo.extend_from_slice(&s.octets());
            pseudo.extend_from_slice(&d.octets());
            pseudo.extend_from_slice(&(len as u32).to_be_bytes());
            pseudo.extend_from_slice(&[0, 0, 0, 6]);
        }
        _ => panic!("mixed families"),
    }
    let c = !(sum(sum(0, &pseudo), &t) as u16);
    t[16..18].copy_from_slice(&c.to_be_bytes());
    let mut ip = Vec::new();
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            ip.extend_from_slice(&[0x45, 0]);
            ip.extend_from_slice(&((20 + len) as u16).to_be_bytes());
            ip.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
            ip.extend_from_slice(&s.octets());
            ip.extend_from_slice(&d.octets());
            let c = !(sum(0, &ip) as u16);
            ip[10..12].copy_from_slice(&c.to_be_bytes());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            ip.extend_from_slice(&[0x60, 0, 0, 0]);
            ip.extend_from_slice(&(len as u16).to_be_bytes());
            ip.extend_from_slice(&[6, 64]);
            ip.extend_from_slice(&s.octets());
            ip.extend_from_slice(&d.octets());
        }
        _ => unreachable!(),
    }
    ip.extend(t);
    ip
}

/// A health thread running on in-memory I/O, and the real servers the test
/// plays for it.
struct Rig {
    shared: Arc<Shared>,
    mon: Arc<Monitor>,
    cfg: Config,
    frames: Receiver<Vec<u8>>,
    neigh_rx: Receiver<NeighEvent>,
    neigh: NeighTable,
    answers: HashMap<IpAddr, Answer>,
    seen: Seen,
    republished: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl Rig {
    /// The health thread, with (`ipv6`) or without an IPv6 DIP, checking the
    /// servers of `rules`; `answers` says how each server answers. The
    /// neighbor snapshot knows every server of `answers` but `unresolved`.
    fn start(
        rules: &[String],
        answers: &[(IpAddr, Answer)],
        unresolved: &[IpAddr],
        ipv6: bool,
    ) -> Rig {
        let cfg = config(rules);
        let shared = Arc::new(Shared::new(Snapshot::build(
            &Config::new(),
            Timeouts::default(),
        )));
        let tap = shared.health.connect().expect("connects once");
        let mut neigh = NeighTable::new();
        let now = Instant::now();
        for (ip, _) in answers {
            if unresolved.contains(ip) {
                continue;
            }
            match ip {
                IpAddr::V4(a) => neigh.learn(Nic::Int, u32::from(*a), Mac(mac_of(*ip)), now),
                IpAddr::V6(a) => neigh.learn(Nic::Int, *a, Mac(mac_of(*ip)), now),
            }
        }
        if let Some(s) = neigh.take_snapshot() {
            shared.neigh.store(Arc::new(s));
        }
        let mon = Arc::new(Monitor::default());
        mon.set_targets(health::targets(&cfg), &cfg);
        let (out, frames) = unbounded();
        let (neigh_tx, neigh_rx) = bounded(64);
        let republished = Arc::new(AtomicUsize::new(0));
        let io = HealthIo {
            tx: ChanTx {
                slot: vec![0; 2048],
                out,
            },
            tap,
            mac: Mac(INT_MAC),
            dip: DIP,
            prefix_len: 24,
            mtu: 1500,
            neigh_tx,
            gateway: None,
            net6: ipv6.then_some(Prefix6 {
                addr: DIP6,
                len: 64,
            }),
        };
        let (m, s, r) = (
            Arc::clone(&mon),
            Arc::clone(&shared),
            Arc::clone(&republished),
        );
        let thread = std::thread::spawn(move || {
            let republish = || {
                r.fetch_add(1, Ordering::Relaxed);
            };
            health::run(m, Arc::clone(&s), io, republish, &s.stop);
        });
        Rig {
            shared,
            mon,
            cfg,
            frames,
            neigh_rx,
            neigh,
            answers: answers.iter().copied().collect(),
            seen: Seen::default(),
            republished,
            thread: Some(thread),
        }
    }

    fn id(&self, ip: impl Into<IpAddr>) -> DestId {
        id_of(&self.cfg, ip.into())
    }

    /// Plays the servers for up to `limit` until `done` holds; false on timeout.
    fn serve_until(&mut self, limit: Duration, mut done: impl FnMut(&Rig) -> bool) -> bool {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if done(self) {
                return true;
            }
            if let Ok(f) = self.frames.recv_timeout(Duration::from_millis(10)) {
                self.answer(&f);
            }
        }
        done(self)
    }

    /// One frame from the checker: checked, counted, answered.
    fn answer(&mut self, f: &[u8]) {
        let Some(s) = decode(f) else {
            panic!("the checker sent a frame that is not TCP over IP: {f:02x?}");
        };
        let v6 = s.dst.is_ipv6();
        assert_eq!(s.ty, if v6 { 0x86dd } else { 0x0800 }, "EtherType");
        assert_eq!(s.src_mac, INT_MAC, "from the internal NIC's MAC");
        assert_eq!(s.dst_mac, mac_of(s.dst), "to the server's MAC");
        let dip: IpAddr = if v6 { DIP6.into() } else { DIP.into() };
        assert_eq!(s.src, dip, "from the DIP of the server's family");
        assert!(PORTS.contains(&s.sport), "from a check port: {}", s.sport);
        assert_eq!(s.dport, 80);
        let Some(&how) = self.answers.get(&s.dst) else {
            panic!("a check of {} that no rule asks for", s.dst);
        };
        let reply = |seq: u32, ack: u32, flags: u8, data: &[u8]| {
            let mut p = tcp_packet(s.dst, s.src, s.dport, s.sport, seq, ack, flags, data);
            if matches!(how, Answer::AcceptAtomic) {
                let len = u16::from_be_bytes([p[4], p[5]]) + 8;
                p[4..6].copy_from_slice(&len.to_be_bytes());
                p[6] = 44;
                p.splice(40..40, [6, 0, 0, 0, 0, 0, 0x12, 0x34]);
            }
            if let IpAddr::V6(d) = s.src {
                assert!(is_check_reply6(6, d, s.sport, Some(DIP6)));
            }
            assert!(self.shared.health.divert(&p), "the tap takes the reply");
        };
        if s.flags & SYN != 0 {
            *self.seen.syns.entry(s.dst).or_default() += 1;
            match how {
                Answer::Accept(_) | Answer::AcceptAtomic => {
                    reply(ISN, s.seq.wrapping_add(1), SYN | ACK, &[])
                }
                Answer::Reset => reply(0, s.seq.wrapping_add(1), RST | ACK, &[]),
                Answer::Silent => {}
            }
            return;
        }
        if s.flags & RST != 0 {
            return; // The checker aborts once it has its verdict.
        }
        let status = match how {
            Answer::Accept(status) => status,
            Answer::AcceptAtomic => None,
            Answer::Reset | Answer::Silent => return,
        };
        if s.payload.is_empty() {
            if s.flags & FIN == 0 {
                *self.seen.established.entry(s.dst).or_default() += 1;
            }
            return;
        }
        self.seen
            .requests
            .entry(s.dst)
            .or_insert_with(|| s.payload.clone());
        if let Some(line) = status {
            let ack = s.seq.wrapping_add(s.payload.len() as u32);
            let body = format!("{line}\r\nContent-Length: 0\r\n\r\n");
            reply(ISN + 1, ack, ACK | PSH | FIN, body.as_bytes());
            *self.seen.answered.entry(s.dst).or_default() += 1;
        }
    }

    /// The servers held down now, by address, with their inhibit flag.
    fn down(&self) -> HashMap<IpAddr, bool> {
        let down = self.mon.down();
        self.cfg
            .services()
            .iter()
            .flat_map(|s| s.dests.iter())
            .filter_map(|d| down.get(&d.id).map(|&i| (d.addr, i)))
            .collect()
    }

    /// Publishes `ip`'s MAC, as the control thread does once it is resolved.
    fn resolve(&mut self, ip: Ipv6Addr) {
        self.neigh
            .learn(Nic::Int, ip, Mac(mac_of(ip.into())), Instant::now());
        if let Some(s) = self.neigh.take_snapshot() {
            self.shared.neigh.store(Arc::new(s));
        }
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn tcp_check(inhibit: bool, delay_loop: u32) -> String {
    format!(
        "--check tcp --delay-loop {delay_loop} --connect-timeout 1 --retry 0 --delay-before-retry 1{}",
        if inhibit { " --inhibit-on-failure" } else { "" }
    )
}

/// IPv6 servers are checked as IPv4 ones, from one interface holding both
/// DIPs: a server that completes the handshake stays up, one that resets or
/// does not answer goes down (held with weight 0 under
/// `--inhibit-on-failure`), and a down one that answers again comes back.
#[test]
fn ipv6_servers_that_answer_stay_up_the_others_go_down_and_come_back() {
    let (a, b, c) = (rs6(0x10), rs6(0x11), rs6(0x12));
    let (d, e) = (rs4(2), rs4(3));
    let rules = vec![
        format!("-A -t {VIP6} -s rr {}", tcp_check(true, 1)),
        format!("-a -t {VIP6} -r [{a}]:80 -m -w 1"),
        format!("-a -t {VIP6} -r [{b}]:80 -m -w 2"),
        format!("-a -t {VIP6} -r [{c}]:80 -m -w 3"),
        format!("-A -t {VIP} -s rr {}", tcp_check(false, 1)),
        format!("-a -t {VIP} -r {d}:80 -m -w 1"),
        format!("-a -t {VIP} -r {e}:80 -m -w 1"),
    ];
    let answers = [
        (a.into(), Answer::Accept(None)),
        (b.into(), Answer::Reset),
        (c.into(), Answer::Silent),
        (d.into(), Answer::Accept(None)),
        (e.into(), Answer::Reset),
    ];
    let mut rig = Rig::start(&rules, &answers, &[], true);
    // One try each (retry 0), the silent one times out after connect_timeout.
    let want = HashMap::from([(b.into(), true), (c.into(), true), (e.into(), false)]);
    let ok = rig.serve_until(Duration::from_secs(4), |r| {
        r.down() == want
            && r.seen.established.get(&a.into()).is_some_and(|&n| n >= 1)
            && r.seen.established.get(&d.into()).is_some_and(|&n| n >= 1)
    });
    assert!(ok, "down {:?}, seen {:?}", rig.down(), rig.seen);
    for ip in [b, c] {
        assert!(rig.seen.syns[&ip.into()] >= 1, "{ip} was asked");
        assert!(!rig.seen.established.contains_key(&ip.into()));
    }
    assert!(rig.republished.load(Ordering::Relaxed) >= 1);
    // The snapshot: the IPv6 ones inhibited (weight 0), the IPv4 one removed.
    let down = rig.mon.down();
    let (lost, run) = rig.mon.weigh(&rig.cfg, &down);
    let eff = health::effective(&run, &down, &lost, false);
    let weights = |v6: bool| -> Vec<(IpAddr, u32)> {
        let k = rig
            .cfg
            .services()
            .iter()
            .find(|s| s.key.addr.is_ipv6() == v6)
            .map(|s| s.key)
            .expect("service");
        eff.service(&k)
            .expect("service")
            .dests
            .iter()
            .map(|x| (x.addr, x.weight))
            .collect()
    };
    assert_eq!(
        weights(true),
        vec![(a.into(), 1), (b.into(), 0), (c.into(), 0)]
    );
    assert_eq!(weights(false), vec![(d.into(), 1)]);

    // b answers again: up within delay_loop (+ margin).
    rig.answers.insert(b.into(), Answer::Accept(None));
    let before = rig.republished.load(Ordering::Relaxed);
    let ok = rig.serve_until(Duration::from_secs(3), |r| {
        !r.down().contains_key(&b.into()) && r.seen.established.contains_key(&b.into())
    });
    assert!(ok, "b back up: down {:?}, seen {:?}", rig.down(), rig.seen);
    assert!(rig.down().contains_key(&c.into()), "c still silent");
    assert!(rig.republished.load(Ordering::Relaxed) > before);
    assert_eq!(rig.mon.down().get(&rig.id(b)), None);
}

/// `HTTP_GET` over IPv6: the request names the server in brackets with its
/// port (`Host: [addr]:80`, keepalived's `request_template_ipv6`), the
/// expected status keeps it up, another takes it down.
#[test]
fn an_ipv6_http_check_reads_the_status_and_names_the_host_in_brackets() {
    let (a, b) = (rs6(0x20), rs6(0x21));
    let rules = vec![
        format!(
            "-A -t {VIP6} -s rr --check http --check-path /health --check-status 200 \
             --delay-loop 1 --connect-timeout 1 --retry 0 --delay-before-retry 1"
        ),
        format!("-a -t {VIP6} -r [{a}]:80 -m"),
        format!("-a -t {VIP6} -r [{b}]:80 -m"),
    ];
    let answers = [
        (a.into(), Answer::Accept(Some("HTTP/1.1 200 OK"))),
        (b.into(), Answer::Accept(Some("HTTP/1.1 503 Busy"))),
    ];
    let mut rig = Rig::start(&rules, &answers, &[], true);
    let ok = rig.serve_until(Duration::from_secs(4), |r| {
        r.down() == HashMap::from([(b.into(), false)]) && r.seen.requests.contains_key(&a.into())
    });
    assert!(ok, "down {:?}, seen {:?}", rig.down(), rig.seen);
    let req = String::from_utf8_lossy(&rig.seen.requests[&a.into()]).to_string();
    assert!(req.starts_with("GET /health HTTP/1.0\r\n"), "{req:?}");
    assert!(req.contains(&format!("\r\nHost: [{a}]:80\r\n")), "{req:?}");
    // Checked again after delay_loop, and still up.
    let ok = rig.serve_until(Duration::from_secs(3), |r| {
        r.seen.answered.get(&a.into()).is_some_and(|&n| n >= 2)
    });
    assert!(ok, "{:?}", rig.seen);
    assert!(!rig.down().contains_key(&a.into()));
    assert!(rig.down().contains_key(&b.into()));
}

/// An IPv6 server whose MAC is unknown is solicited (`NeighEvent::Resolve6`
/// to the control thread) before its check starts, and checked once known;
/// one off the IPv6 prefix (no IPv6 internal router) has no way out and goes
/// down without a frame or a solicitation.
#[test]
fn an_unresolved_ipv6_server_is_solicited_first_and_one_off_prefix_goes_down() {
    let a = rs6(0x30);
    let far = Ipv6Addr::new(0x2001, 2, 0, 9, 0, 0, 0, 1);
    let rules = vec![
        format!("-A -t {VIP6} -s rr {}", tcp_check(false, 1)),
        format!("-a -t {VIP6} -r [{a}]:80 -m"),
        format!("-a -t {VIP6} -r [{far}]:80 -m"),
    ];
    let answers = [
        (a.into(), Answer::Accept(None)),
        (far.into(), Answer::Accept(None)),
    ];
    let mut rig = Rig::start(&rules, &answers, &[a.into(), far.into()], true);
    let ev = rig
        .neigh_rx
        .recv_timeout(Duration::from_millis(500))
        .expect("a resolution request");
    assert!(
        matches!(ev, NeighEvent::Resolve6 { nic: Nic::Int, ip } if ip == a),
        "{ev:?}"
    );
    assert!(rig.frames.try_recv().is_err(), "no SYN before the MAC");
    rig.resolve(a);
    let ok = rig.serve_until(Duration::from_secs(3), |r| {
        r.seen.established.contains_key(&a.into()) && r.down().contains_key(&far.into())
    });
    assert!(ok, "down {:?}, seen {:?}", rig.down(), rig.seen);
    assert!(!rig.down().contains_key(&a.into()));
    assert!(!rig.seen.syns.contains_key(&far.into()));
    while let Ok(ev) = rig.neigh_rx.try_recv() {
        assert!(
            !matches!(ev, NeighEvent::Resolve6 { ip, .. } if ip == far),
            "{ev:?}"
        );
    }
}

/// Passive checks work for IPv6 servers: with `delay_loop` 60, a server a
/// worker marks suspect is checked at once and found dead.
#[test]
fn a_suspect_ipv6_server_is_checked_at_once() {
    let a = rs6(0x40);
    let rules = vec![
        format!("-A -t {VIP6} -s rr {}", tcp_check(false, 60)),
        format!("-a -t {VIP6} -r [{a}]:80 -m"),
    ];
    let answers = [(a.into(), Answer::Accept(None))];
    let mut rig = Rig::start(&rules, &answers, &[], true);
    // The first check (at start) passes.
    let ok = rig.serve_until(Duration::from_secs(2), |r| {
        r.seen.established.contains_key(&a.into())
    });
    assert!(ok, "{:?}", rig.seen);
    rig.answers.insert(a.into(), Answer::Reset);
    rig.shared.health.suspect(rig.id(a));
    // At most one suspect check a second after the last one: down within 2 s,
    // far before delay_loop.
    let ok = rig.serve_until(Duration::from_secs(3), |r| r.down().contains_key(&a.into()));
    assert!(ok, "down {:?}, seen {:?}", rig.down(), rig.seen);
    assert_eq!(rig.seen.syns[&a.into()], 2);
}

/// A server whose SYN-ACK comes as an IPv6 atomic fragment completes the
/// check's handshake and stays up: the health thread takes the fragment
/// header out (`Packet::unwrap_atomic6`), as `ipv6_frag_rcv` passes such a
/// packet up whole, where its smoltcp, built without IPv6 fragmentation,
/// would answer with a parameter problem (not a TCP frame: `answer` fails)
/// and never see the SYN-ACK.
#[test]
fn a_syn_ack_as_an_ipv6_atomic_fragment_completes_the_check() {
    let a = rs6(0x60);
    let rules = vec![
        format!("-A -t {VIP6} -s rr {}", tcp_check(true, 1)),
        format!("-a -t {VIP6} -r [{a}]:80 -m"),
    ];
    let answers = [(a.into(), Answer::AcceptAtomic)];
    let mut rig = Rig::start(&rules, &answers, &[], true);
    let ok = rig.serve_until(Duration::from_secs(3), |r| {
        r.seen.established.get(&a.into()).is_some_and(|&n| n >= 2)
    });
    assert!(ok, "down {:?}, seen {:?}", rig.down(), rig.seen);
    assert!(rig.down().is_empty(), "up: {:?}", rig.down());
}

/// Without an IPv6 DIP, IPv6 servers are not checked (no frame, never held
/// down); IPv4 ones still are.
#[test]
fn without_an_ipv6_dip_ipv6_servers_are_left_alone() {
    let (a, d) = (rs6(0x50), rs4(5));
    let rules = vec![
        format!("-A -t {VIP6} -s rr {}", tcp_check(false, 1)),
        format!("-a -t {VIP6} -r [{a}]:80 -m"),
        format!("-A -t {VIP} -s rr {}", tcp_check(false, 1)),
        format!("-a -t {VIP} -r {d}:80 -m"),
    ];
    let answers = [(a.into(), Answer::Reset), (d.into(), Answer::Reset)];
    let mut rig = Rig::start(&rules, &answers, &[], false);
    let ok = rig.serve_until(Duration::from_secs(3), |r| {
        r.seen.syns.get(&d.into()).is_some_and(|&n| n >= 2)
    });
    assert!(ok, "{:?}", rig.seen);
    assert_eq!(rig.down(), HashMap::from([(d.into(), false)]));
    assert!(!rig.seen.syns.contains_key(&a.into()));
}
