//! Health checks of the real servers, in process, from the DIP.
//!
//! * **Active checks** (keepalived's `TCP_CHECK` and `HTTP_GET`): one thread runs a
//!   smoltcp [`Interface`] with `Medium::Ip` holding the DIP. Its device wraps the
//!   IP packets smoltcp sends in Ethernet (source: the internal NIC's MAC,
//!   destination: the real server's MAC from the neighbor snapshot; unknown ones
//!   are asked of the control thread and the packet is dropped, TCP retransmits)
//!   and writes them to its own AF_PACKET TX ring on the internal NIC. It receives
//!   the replies that workers divert to it: TCP to the DIP with a destination port
//!   in [`PORTS`], over a bounded channel of pre-allocated boxes ([`Tap::divert`]:
//!   never blocks, counts drops).
//! * **Passive checks** (DPVS's dest-check): a worker that sees a real server
//!   answer a new connection's SYN with RST marks it suspect ([`Tap::suspect`], one
//!   atomic OR); the health thread checks a suspect at once instead of waiting for
//!   `delay_loop`.
//! * **Verdicts** change only the published snapshot (see [`effective`]): the
//!   configured rules, which `-S` prints, stay as given.
//!
//! The kernel on the director has no address on the internal NIC, so it never
//! answers (or resets) the check connections itself.

use crate::Nic;
use crate::config::{CheckKind, Config, DestId, HealthCheck, ServiceKey};
use crate::dataplane::Shared;
pub use crate::dataplane::divert::{DEPTH, PORTS, Packet, Tap, TapRx, is_check_port};
use crate::io::FRAME_MAX;
use crate::io::TxQueue;
use crate::neigh::NeighEvent;
use crate::wire::Mac;
use crossbeam_channel::Sender;
use smoltcp::iface::{Config as IfConfig, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{Checksum, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, Ipv4Address};
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the health thread waits for packets between two rounds.
const TICK: Duration = Duration::from_millis(10);
/// The same with nothing to check (bounds how late a new `--check` starts).
const IDLE_TICK: Duration = Duration::from_millis(100);
/// Least time between the start of a check and one a passive hint asks for.
const SUSPECT_GAP: Duration = Duration::from_secs(1);
/// Bytes of an HTTP answer read to find the status line.
const STATUS_LINE_MAX: usize = 256;

/// One real server to check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub service: ServiceKey,
    pub id: DestId,
    pub addr: Ipv4Addr,
    pub port: u16,
    pub check: HealthCheck,
}

/// Every real server of every service with a check.
pub fn targets(cfg: &Config) -> Vec<Target> {
    let mut v = Vec::new();
    for s in cfg.services() {
        let Some(check) = &s.check else { continue };
        for d in &s.dests {
            v.push(Target {
                service: s.key,
                id: d.id,
                addr: d.addr,
                // Port 0 (`-r` before `-t`): the data plane keeps the service port.
                port: if d.port == 0 { s.key.port } else { d.port },
                check: check.clone(),
            });
        }
    }
    v
}

/// What the data plane should run: `cfg` without the servers held down (removed,
/// or with weight 0 when their check says `inhibit_on_failure`). With
/// `listing`, every down server stays, with weight 0 (what `-L` shows).
pub fn effective(cfg: &Config, down: &HashMap<DestId, bool>, listing: bool) -> Config {
    if down.is_empty() {
        return cfg.clone();
    }
    let mut out = cfg.clone();
    for s in cfg.services() {
        for d in &s.dests {
            let Some(&inhibit) = down.get(&d.id) else {
                continue;
            };
            let _ = if inhibit || listing {
                out.edit_dest(&s.key, d.addr, d.port, 0).map(|_| ())
            } else {
                out.del_dest(&s.key, d.addr, d.port).map(|_| ())
            };
        }
    }
    out
}

/// What the control thread and the health thread share.
#[derive(Default)]
pub struct Monitor {
    targets: Mutex<Vec<Target>>,
    epoch: AtomicU64,
    /// Servers held down, with their `inhibit_on_failure`.
    down: Mutex<HashMap<DestId, bool>>,
}

impl Monitor {
    /// The control thread: the servers to check now.
    pub fn set_targets(&self, t: Vec<Target>) {
        if let Ok(mut cur) = self.targets.lock()
            && *cur != t
        {
            *cur = t;
            self.epoch.fetch_add(1, Ordering::Release);
        }
    }

    /// The servers held down now.
    pub fn down(&self) -> HashMap<DestId, bool> {
        self.down.lock().map(|d| d.clone()).unwrap_or_default()
    }

    fn set_down(&self, d: HashMap<DestId, bool>) {
        if let Ok(mut cur) = self.down.lock() {
            *cur = d;
        }
    }
}

/// How one check ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Ok,
    Timeout,
    Refused,
    Closed,
    Status(u16),
}

impl Outcome {
    fn reason(self) -> String {
        match self {
            Outcome::Ok => "check passed".into(),
            Outcome::Timeout => "connect timeout".into(),
            Outcome::Refused => "connection refused".into(),
            Outcome::Closed => "connection closed before an HTTP status".into(),
            Outcome::Status(s) => format!("HTTP status {s}"),
        }
    }
}

/// A check connection in flight.
struct InFlight {
    handle: SocketHandle,
    started: Instant,
    sent: bool,
    got: Vec<u8>,
}

/// The state of one target's checks.
struct Probe {
    t: Target,
    up: bool,
    /// Failed tries in a row.
    fails: u32,
    next: Instant,
    flight: Option<InFlight>,
    /// Since when a due check waits for the server's MAC (at most
    /// `connect_timeout`, then it runs anyway and fails if ARP does).
    arp_wait: Option<Instant>,
    /// When the last check started.
    last_start: Option<Instant>,
}

/// The health thread's sockets on the internal NIC.
pub struct HealthIo<T> {
    pub tx: T,
    pub tap: TapRx,
    pub mac: Mac,
    pub dip: Ipv4Addr,
    pub prefix_len: u8,
    pub mtu: usize,
    pub neigh_tx: Sender<NeighEvent>,
}

struct Out<'a, T> {
    tx: &'a mut T,
    mac: Mac,
    shared: &'a Shared,
    neigh_tx: &'a Sender<NeighEvent>,
}

struct Dev<'a, T> {
    out: Out<'a, T>,
    rxq: std::collections::VecDeque<Box<Packet>>,
    pool: Sender<Box<Packet>>,
    mtu: usize,
}

struct RxTok<'b> {
    pkt: Box<Packet>,
    pool: &'b Sender<Box<Packet>>,
}

impl smoltcp::phy::RxToken for RxTok<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let r = f(self.pkt.bytes());
        let _ = self.pool.try_send(self.pkt);
        r
    }
}

struct TxTok<'b, 'a, T> {
    out: &'b mut Out<'a, T>,
}

impl<T: TxQueue> smoltcp::phy::TxToken for TxTok<'_, '_, T> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = [0u8; FRAME_MAX];
        let eth = crate::wire::ethernet::HEADER_LEN;
        let end = (eth + len).min(FRAME_MAX);
        let r = f(&mut buf[eth..end]);
        if end - eth < 20 {
            return r;
        }
        let dst = u32::from_be_bytes([buf[eth + 16], buf[eth + 17], buf[eth + 18], buf[eth + 19]]);
        let Some(mac) = self.out.shared.neigh.load().get(Nic::Int, dst) else {
            // The control thread resolves it; TCP sends again.
            let _ = self.out.neigh_tx.try_send(NeighEvent::Resolve {
                nic: Nic::Int,
                ip: dst,
            });
            return r;
        };
        buf[..6].copy_from_slice(&mac.0);
        buf[6..12].copy_from_slice(&self.out.mac.0);
        buf[12..14].copy_from_slice(&crate::wire::ethernet::ethertype::IPV4.to_be_bytes());
        self.out.tx.send_one(&buf[..end]);
        r
    }
}

impl<'a, T: TxQueue> Device for Dev<'a, T> {
    type RxToken<'b>
        = RxTok<'b>
    where
        Self: 'b;
    type TxToken<'b>
        = TxTok<'b, 'a, T>
    where
        Self: 'b;

    fn receive(
        &mut self,
        _: smoltcp::time::Instant,
    ) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let pkt = self.rxq.pop_front()?;
        Some((
            RxTok {
                pkt,
                pool: &self.pool,
            },
            TxTok { out: &mut self.out },
        ))
    }

    fn transmit(&mut self, _: smoltcp::time::Instant) -> Option<Self::TxToken<'_>> {
        Some(TxTok { out: &mut self.out })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ip;
        c.max_transmission_unit = self.mtu.min(FRAME_MAX - crate::wire::ethernet::HEADER_LEN);
        // Workers verified the IP checksum; TCP checksums of frames from a local
        // veth may be left to an offload (CHECKSUM_PARTIAL): do not verify them.
        c.checksum.ipv4 = Checksum::Tx;
        c.checksum.tcp = Checksum::Tx;
        c
    }
}

/// Runs the health checks until `stop`. `republish` is called (without any lock
/// of the monitor held) when a server goes down or comes back.
pub fn run<T: TxQueue>(
    mon: Arc<Monitor>,
    shared: Arc<Shared>,
    io: HealthIo<T>,
    republish: impl Fn(),
    stop: &AtomicBool,
) {
    let HealthIo {
        mut tx,
        tap,
        mac,
        dip,
        prefix_len,
        mtu,
        neigh_tx,
    } = io;
    let mut dev = Dev {
        out: Out {
            tx: &mut tx,
            mac,
            shared: &shared,
            neigh_tx: &neigh_tx,
        },
        rxq: std::collections::VecDeque::with_capacity(DEPTH),
        pool: tap.pool_tx.clone(),
        mtu,
    };
    let start = Instant::now();
    let ts = |now: Instant| {
        smoltcp::time::Instant::from_micros(now.duration_since(start).as_micros() as i64)
    };
    let seed = {
        use std::hash::{BuildHasher, Hasher};
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    };
    let mut cfg = IfConfig::new(HardwareAddress::Ip);
    cfg.random_seed = seed;
    let mut iface = Interface::new(cfg, &mut dev, ts(start));
    iface.update_ip_addrs(|a| {
        let _ = a.push(IpCidr::new(IpAddress::Ipv4(dip), prefix_len));
    });
    let mut sockets = SocketSet::new(Vec::new());
    let mut probes: Vec<Probe> = Vec::new();
    let mut epoch = u64::MAX;
    let mut next_port = *PORTS.start();

    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        // New targets: keep the state of those that did not change.
        let e = mon.epoch.load(Ordering::Acquire);
        if e != epoch {
            epoch = e;
            let want = mon.targets.lock().map(|t| t.clone()).unwrap_or_default();
            let mut old: HashMap<DestId, Probe> = probes.drain(..).map(|p| (p.t.id, p)).collect();
            for t in want {
                match old.remove(&t.id) {
                    Some(p) if p.t == t => probes.push(p),
                    prev => {
                        // A new server starts up (as in keepalived); one whose
                        // check changed keeps its state until the new check says.
                        let up = prev.as_ref().is_none_or(|p| p.up);
                        if let Some(f) = prev.and_then(|p| p.flight) {
                            sockets.get_mut::<tcp::Socket>(f.handle).abort();
                            sockets.remove(f.handle);
                        }
                        probes.push(Probe {
                            t,
                            up,
                            fails: 0,
                            next: now,
                            flight: None,
                            arp_wait: None,
                            last_start: None,
                        });
                    }
                }
            }
            for (_, p) in old {
                if let Some(f) = p.flight {
                    sockets.remove(f.handle);
                }
            }
            let down = mon.down();
            let still: HashMap<DestId, bool> = probes
                .iter()
                .filter(|p| !p.up)
                .map(|p| (p.t.id, p.t.check.inhibit_on_failure))
                .collect();
            if down != still {
                mon.set_down(still);
                republish();
            }
        }
        // Start the checks that are due (suspects at once).
        for p in &mut probes {
            // A suspect that is up and not already being retried is checked now
            // (a retry keeps its delay_before_retry).
            // At most one such check per SUSPECT_GAP: clients cannot make the
            // director check in a loop.
            if p.flight.is_none()
                && p.up
                && p.fails == 0
                && p.last_start
                    .is_none_or(|t| now.duration_since(t) >= SUSPECT_GAP)
                && shared.health.take_suspect(p.t.id)
            {
                p.next = now;
            }
            if p.flight.is_some() || now < p.next {
                continue;
            }
            // Resolve the server first, so that a check does not spend its
            // connect_timeout on ARP (smoltcp would only resend the SYN later).
            let ip = u32::from(p.t.addr);
            if shared.neigh.load().get(Nic::Int, ip).is_none() {
                let since = *p.arp_wait.get_or_insert(now);
                let limit = Duration::from_secs(u64::from(p.t.check.connect_timeout));
                if now.duration_since(since) < limit {
                    if since == now {
                        let _ = neigh_tx.try_send(NeighEvent::Resolve { nic: Nic::Int, ip });
                    }
                    continue;
                }
            }
            p.arp_wait = None;
            p.last_start = Some(now);
            let mut s = tcp::Socket::new(
                tcp::SocketBuffer::new(vec![0; 1024]),
                tcp::SocketBuffer::new(vec![0; 512]),
            );
            let port = next_port;
            next_port = if next_port >= *PORTS.end() {
                *PORTS.start()
            } else {
                next_port + 1
            };
            let remote = (IpAddress::Ipv4(p.t.addr), p.t.port);
            if s.connect(iface.context(), remote, port).is_err() {
                p.next = now + Duration::from_secs(1);
                continue;
            }
            p.flight = Some(InFlight {
                handle: sockets.add(s),
                started: now,
                sent: false,
                got: Vec::with_capacity(STATUS_LINE_MAX),
            });
        }
        iface.poll(ts(now), &mut dev, &mut sockets);
        // Drive the checks in flight.
        let mut changed = false;
        for p in &mut probes {
            let Some(f) = &mut p.flight else { continue };
            let s = sockets.get_mut::<tcp::Socket>(f.handle);
            let timeout = Duration::from_secs(u64::from(p.t.check.connect_timeout));
            let outcome = drive(
                s,
                f,
                &p.t.check.kind,
                &p.t.addr,
                now.duration_since(f.started) >= timeout,
            );
            let Some(o) = outcome else { continue };
            s.abort();
            if let Some(f) = p.flight.take() {
                // Let the RST go out before the socket is dropped.
                iface.poll(ts(now), &mut dev, &mut sockets);
                sockets.remove(f.handle);
            }
            changed |= verdict(p, o, now);
        }
        if changed {
            let down: HashMap<DestId, bool> = probes
                .iter()
                .filter(|p| !p.up)
                .map(|p| (p.t.id, p.t.check.inhibit_on_failure))
                .collect();
            mon.set_down(down);
            republish();
        }
        // Wait for packets (or the next round).
        let wait = if probes.is_empty() { IDLE_TICK } else { TICK };
        if let Ok(pkt) = tap.rx.recv_timeout(wait) {
            dev.rxq.push_back(pkt);
            while let Ok(pkt) = tap.rx.try_recv() {
                dev.rxq.push_back(pkt);
            }
        }
    }
}

/// One step of a check: its outcome once it has one.
fn drive(
    s: &mut tcp::Socket,
    f: &mut InFlight,
    kind: &CheckKind,
    addr: &Ipv4Address,
    timed_out: bool,
) -> Option<Outcome> {
    let state = s.state();
    let established = matches!(
        state,
        tcp::State::Established
            | tcp::State::CloseWait
            | tcp::State::FinWait1
            | tcp::State::FinWait2
    );
    match kind {
        CheckKind::Tcp if established => return Some(Outcome::Ok),
        CheckKind::Tcp => {}
        CheckKind::Http { path, status } => {
            if !f.sent && s.may_send() {
                let req = format!(
                    "GET {path} HTTP/1.0\r\nHost: {addr}\r\nUser-Agent: ringvs-health\r\nConnection: close\r\n\r\n"
                );
                if s.send_slice(req.as_bytes()).is_ok() {
                    f.sent = true;
                }
            }
            while s.can_recv() && f.got.len() < STATUS_LINE_MAX {
                let mut buf = [0u8; STATUS_LINE_MAX];
                let room = STATUS_LINE_MAX - f.got.len();
                match s.recv_slice(&mut buf[..room]) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => f.got.extend_from_slice(&buf[..n]),
                }
            }
            if let Some(code) = status_code(&f.got) {
                return Some(if code == *status {
                    Outcome::Ok
                } else {
                    Outcome::Status(code)
                });
            }
            if f.got.len() >= STATUS_LINE_MAX || (f.sent && !s.may_recv() && !s.can_recv()) {
                return Some(Outcome::Closed);
            }
        }
    }
    if state == tcp::State::Closed {
        // Reset while connecting, or the socket's own timeout.
        return Some(if f.sent {
            Outcome::Closed
        } else if timed_out {
            Outcome::Timeout
        } else {
            Outcome::Refused
        });
    }
    timed_out.then_some(Outcome::Timeout)
}

/// `HTTP/1.x NNN` at the start of an answer, once its first line is complete.
fn status_code(got: &[u8]) -> Option<u16> {
    let end = got.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&got[..end]).ok()?;
    let mut words = line.split(' ');
    let proto = words.next()?;
    if !proto.starts_with("HTTP/") {
        return Some(0);
    }
    let code = words.next()?;
    if code.len() != 3 {
        return Some(0);
    }
    Some(code.parse().unwrap_or(0))
}

/// Applies a check's outcome to its probe; true if the server went down or up.
fn verdict(p: &mut Probe, o: Outcome, now: Instant) -> bool {
    let c = &p.t.check;
    let loop_ = Duration::from_secs(u64::from(c.delay_loop));
    let name = format!("{}:{}", p.t.addr, p.t.port);
    if o == Outcome::Ok {
        p.fails = 0;
        p.next = now + loop_;
        if !p.up {
            p.up = true;
            eprintln!(
                "ringvs: health: {name} UP ({}) in {}",
                o.reason(),
                p.t.service
            );
            return true;
        }
        return false;
    }
    if !p.up {
        // keepalived retries only servers that are up; a down one waits delay_loop.
        p.next = now + loop_;
        return false;
    }
    p.fails += 1;
    if p.fails <= c.retry {
        p.next = now + Duration::from_secs(u64::from(c.delay_before_retry));
        return false;
    }
    let tries = p.fails;
    p.fails = 0;
    p.next = now + loop_;
    p.up = false;
    eprintln!(
        "ringvs: health: {name} DOWN ({} after {tries} {}) in {}",
        o.reason(),
        if tries == 1 { "try" } else { "tries" },
        p.t.service
    );
    true
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::{Proto, Scheduler};

    #[test]
    fn check_ports_and_status_lines() {
        assert!(is_check_port(61000) && is_check_port(61999));
        assert!(!is_check_port(60999) && !is_check_port(62000) && !is_check_port(80));
        assert_eq!(status_code(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(status_code(b"HTTP/1.0 503 Busy\r\nX: y"), Some(503));
        assert_eq!(status_code(b"HTTP/1.1 200 OK"), None);
        assert_eq!(status_code(b"SSH-2.0-x\r\n"), Some(0));
        assert_eq!(status_code(b"HTTP/1.1 2000\r\n"), Some(0));
    }

    fn probe(retry: u32) -> Probe {
        let mut check = HealthCheck::new(CheckKind::Tcp);
        check.retry = retry;
        check.delay_loop = 10;
        check.delay_before_retry = 2;
        Probe {
            t: Target {
                service: ServiceKey::new(Proto::Tcp, Ipv4Addr::new(198, 18, 0, 110), 80),
                id: DestId(1),
                addr: Ipv4Addr::new(198, 19, 0, 2),
                port: 80,
                check,
            },
            up: true,
            fails: 0,
            next: Instant::now(),
            flight: None,
            arp_wait: None,
            last_start: None,
        }
    }

    #[test]
    fn down_after_retry_plus_one_failures_up_after_one_success() {
        let now = Instant::now();
        let mut p = probe(2);
        assert!(!verdict(&mut p, Outcome::Timeout, now));
        assert_eq!(p.next, now + Duration::from_secs(2), "delay_before_retry");
        assert!(!verdict(&mut p, Outcome::Refused, now));
        assert!(p.up);
        assert!(verdict(&mut p, Outcome::Timeout, now), "third failure");
        assert!(!p.up);
        assert_eq!(p.next, now + Duration::from_secs(10), "delay_loop");
        // Still failing: no new change, and no retries of a down server.
        for _ in 0..3 {
            assert!(!verdict(&mut p, Outcome::Timeout, now));
            assert_eq!(p.next, now + Duration::from_secs(10));
        }
        assert!(verdict(&mut p, Outcome::Ok, now));
        assert!(p.up);
        // A success resets the count.
        let mut q = probe(1);
        assert!(!verdict(&mut q, Outcome::Timeout, now));
        assert!(!verdict(&mut q, Outcome::Ok, now));
        assert!(!verdict(&mut q, Outcome::Timeout, now));
        assert!(q.up);
    }

    #[test]
    fn effective_removes_or_inhibits_and_keeps_the_rules() {
        let mut c = Config::new();
        let k = ServiceKey::new(Proto::Tcp, Ipv4Addr::new(198, 18, 0, 110), 80);
        c.add_service(k, Scheduler::Rr, None).unwrap();
        let a = c.add_dest(&k, Ipv4Addr::new(198, 19, 0, 2), 80, 3).unwrap();
        let b = c.add_dest(&k, Ipv4Addr::new(198, 19, 0, 3), 80, 4).unwrap();
        let before = c.clone();
        let down = HashMap::from([(a, false), (b, true)]);
        let e = effective(&c, &down, false);
        let s = e.service(&k).unwrap();
        assert_eq!(s.dests.len(), 1);
        assert_eq!((s.dests[0].id, s.dests[0].weight), (b, 0));
        let l = effective(&c, &down, true);
        let w: Vec<u32> = l
            .service(&k)
            .unwrap()
            .dests
            .iter()
            .map(|d| d.weight)
            .collect();
        assert_eq!(w, vec![0, 0]);
        assert_eq!(c, before);
        assert_eq!(effective(&c, &HashMap::new(), false), c);
    }
}
