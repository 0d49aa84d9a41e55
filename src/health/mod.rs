//! Health checks of the real servers, in process, from the DIP.
//!
//! * **Active checks** (keepalived's `TCP_CHECK`, `HTTP_GET`, `SSL_GET`,
//!   `UDP_CHECK`, `PING_CHECK`, `DNS_CHECK` and `SMTP_CHECK`): one thread runs a
//!   smoltcp [`Interface`](smoltcp::iface::Interface) with `Medium::Ip` holding the DIP,
//!   and the IPv6 DIP when the director has one, so IPv4 and IPv6 real servers
//!   are checked alike. Its device wraps the IP packets smoltcp sends in
//!   Ethernet (source: the internal NIC's MAC, destination: the next hop's MAC
//!   from the neighbor snapshot of the packet's family; unknown ones are asked
//!   of the control thread, ARP or NDP, and the packet is dropped, TCP
//!   retransmits) and writes them to its own AF_PACKET TX ring on the internal
//!   NIC. It receives the replies that workers divert to it: TCP and UDP to
//!   either DIP with a destination port in [`PORTS`], echo replies to them,
//!   and destination unreachables about a check's datagram (read in `ports`,
//!   not by smoltcp), over a bounded channel of pre-allocated boxes
//!   ([`Tap::divert`]: never blocks, counts drops).
//! * **`MISC_CHECK`**: the same thread starts a command per server and
//!   polls it each round (`misc`); no packet of its own.
//! * **Passive checks** (DPVS's dest-check): a worker that sees a real server
//!   answer a new connection's SYN with RST, or a client send its SYN again
//!   (no SYN-ACK within its RTO), marks it suspect ([`Tap::suspect`], one
//!   atomic OR); the health thread checks a suspect at once instead of waiting for
//!   `delay_loop`.
//! * **Verdicts** change only the published snapshot (see [`effective`]): the
//!   configured rules, which `-S` prints, stay as given, but for the place of
//!   a server back from a removal (first, [`Monitor::take_raised`]).
//!
//! The kernel on the director has no address on the internal NIC, so it never
//! answers (or resets) the check connections itself.
//!
//! Here: the targets, the monitor and the health thread's rounds ([`run`]);
//! in `stack`, smoltcp's device and interface; in `probe`, one server's
//! checks and their verdicts; in `http` and `smtp`, what an HTTP(S) or SMTP
//! check says over its connection; in `misc`, a `MISC_CHECK`'s command; in
//! `file`, the `FILE_CHECK`s' files; in `ports`, the checks' local ports.

mod file;
mod http;
mod misc;
mod notify;
mod ports;
mod probe;
mod quorum;
pub mod scripts;
mod smtp;
mod stack;

pub use http::{GenhashOpts, Hashed, HttpProtocol, genhash};
pub use notify::{Fifo, Note, Notifier, run as run_notifier};
pub use quorum::effective;

use crate::Nic;
use crate::config::{Config, DestId, HealthCheck, Scripts, ServiceKey};
use crate::dataplane::Shared;
pub use crate::dataplane::divert::{
    DEPTH, PORTS, Packet, Tap, TapRx, is_check_port, is_check_reply6,
};
use crate::io::TxQueue;
use crate::neigh::{NeighAddr, NeighEvent, Prefix, Prefix6};
use crate::wire::Mac;
use crossbeam_channel::Sender;
use probe::{Probe, first_due, starts_up, to_tell, verdict};
use stack::{Dev, Out, Stack};
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the health thread waits for packets between two rounds.
const TICK: Duration = Duration::from_millis(10);
/// The same with nothing to check (bounds how late a new `--check` starts).
const IDLE_TICK: Duration = Duration::from_millis(100);

/// One real server to check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub service: ServiceKey,
    pub id: DestId,
    /// The address checked (`--check-ip`, else the server's).
    pub addr: IpAddr,
    /// The port checked (`--check-port`, else the server's).
    pub port: u16,
    /// The server's own address and port, which name it (logs, notify
    /// scripts and FIFO lines, `MISC_CHECK`'s environment, as keepalived
    /// names a real server).
    pub rs_addr: IpAddr,
    pub rs_port: u16,
    pub check: HealthCheck,
    /// Its `--notify-up` and `--notify-down`.
    pub scripts: Scripts,
}

impl Target {
    /// The same server with the same check (its scripts aside).
    fn same_check(&self, o: &Target) -> bool {
        (self.service, self.id, self.addr, self.port, &self.check)
            == (o.service, o.id, o.addr, o.port, &o.check)
    }
}

/// Every real server, of either family, of every service with a check.
pub fn targets(cfg: &Config) -> Vec<Target> {
    let mut v = Vec::new();
    for s in cfg.services() {
        let Some(check) = &s.check else { continue };
        for d in &s.dests {
            // Port 0 (`-r` before `-t`): the data plane keeps the service port.
            let rs_port = if d.port == 0 { s.key.port } else { d.port };
            // A command is told the server; the others go to its check
            // address (keepalived's `connect_ip`), if it has one.
            let at = d.check_ip.filter(|_| !check.kind.is_command());
            v.push(Target {
                service: s.key,
                id: d.id,
                addr: at.unwrap_or(d.addr),
                port: check.port.unwrap_or(rs_port),
                rs_addr: d.addr,
                rs_port,
                check: check.clone(),
                scripts: s.server_scripts(d.addr, d.port),
            });
        }
    }
    v
}

/// What the control thread and the health thread share.
#[derive(Default)]
pub struct Monitor {
    targets: Mutex<Vec<Target>>,
    epoch: AtomicU64,
    /// Servers held down, with their `inhibit_on_failure`.
    down: Mutex<HashMap<DestId, bool>>,
    /// Servers whose `misc_dynamic` check or `FILE_CHECK` set their weight.
    weights: Mutex<HashMap<DestId, u32>>,
    /// The servers with a `FILE_CHECK` (`file`), of any service.
    files: Mutex<Vec<file::FileTarget>>,
    /// Every server of the rules last set (a `FILE_CHECK`'s server is new or not).
    servers: Mutex<HashSet<DestId>>,
    /// Servers brought back after a removal ([`Monitor::take_raised`]).
    raised: Mutex<Vec<DestId>>,
    /// Each service's quorum, as the control thread last weighed it.
    quorums: Mutex<quorum::Quorums>,
    /// Where servers going up or down and quorums gained or lost are told
    /// (notify scripts, the notify FIFO).
    notify: Notifier,
}

impl Monitor {
    /// A monitor that tells its changes to `notify`.
    pub fn with_notifier(notify: Notifier) -> Self {
        Monitor {
            notify,
            ..Monitor::default()
        }
    }

    /// The control thread: the servers to check now, those of the rules
    /// `cfg`. A new server whose check says `alpha` is held down at once,
    /// before the health thread takes it up, so that no table ever has it
    /// before its first check passes. A server that left the rules while up
    /// is told down (keepalived's `clear_service_rs` on a reload that
    /// removes it), not one whose service only dropped its check.
    pub fn set_targets(&self, t: Vec<Target>, cfg: &Config) {
        let Ok(mut cur) = self.targets.lock() else {
            return;
        };
        let checked: HashSet<DestId> = cur.iter().map(|c| c.id).collect();
        if *cur != t {
            let down = self.down();
            let kept: HashSet<DestId> = t.iter().map(|n| n.id).collect();
            let gone = cur
                .iter()
                .filter(|c| !kept.contains(&c.id) && !cfg.has_id(c.id));
            for c in gone.filter(|c| !down.contains_key(&c.id)) {
                let at = std::net::SocketAddr::new(c.rs_addr, c.rs_port);
                self.notify.server(&c.service, at, false, &c.scripts);
            }
            let alpha: Vec<&Target> = t.iter().filter(|n| n.check.alpha).collect();
            if !alpha.is_empty()
                && let Ok(mut down) = self.down.lock()
            {
                for n in alpha.into_iter().filter(|n| !checked.contains(&n.id)) {
                    down.insert(n.id, n.check.inhibit_on_failure);
                }
            }
            *cur = t;
            self.epoch.fetch_add(1, Ordering::Release);
        }
        drop(cur);
        self.set_files(cfg, &checked);
    }

    /// The services without their quorum, as last weighed.
    pub fn lost(&self) -> HashSet<ServiceKey> {
        self.quorums.lock().map(|q| q.lost()).unwrap_or_default()
    }

    /// The servers held down now.
    pub fn down(&self) -> HashMap<DestId, bool> {
        self.down.lock().map(|d| d.clone()).unwrap_or_default()
    }

    /// The health thread: the servers held down and the weights set, as its
    /// probes for the targets of `epoch` say. Refused (false) if the targets changed since:
    /// `set_targets` may have held a new `alpha` server down, and the health
    /// thread sets its verdicts again once it has taken the new targets.
    fn set_held_for(&self, epoch: u64, (d, w): Held) -> bool {
        let Ok(_targets) = self.targets.lock() else {
            return false;
        };
        if self.epoch.load(Ordering::Acquire) != epoch {
            return false;
        }
        if let Ok(mut cur) = self.down.lock() {
            self.note_raised(&cur, &d);
            *cur = d;
        }
        if let Ok(mut cur) = self.weights.lock() {
            *cur = w;
        }
        true
    }

    /// The servers held down and the weights set, now.
    fn held(&self) -> Held {
        let w = self.weights.lock().map(|w| w.clone()).unwrap_or_default();
        (self.down(), w)
    }
}

/// The servers held down (with their `inhibit_on_failure`) and the weights
/// `misc_dynamic` set.
type Held = (HashMap<DestId, bool>, HashMap<DestId, u32>);

/// The health thread's sockets on the internal NIC.
pub struct HealthIo<T> {
    pub tx: T,
    pub tap: TapRx,
    pub mac: Mac,
    pub dip: Ipv4Addr,
    pub prefix_len: u8,
    pub mtu: usize,
    pub neigh_tx: Sender<NeighEvent>,
    /// `--int-gateway`: checks of real servers off the internal segment
    /// (tunnelled ones) go through it.
    pub gateway: Option<Ipv4Addr>,
    /// The IPv6 DIP and internal prefix (`Env::int_net6`): IPv6 real servers
    /// are checked from it. Without it they are not checked (never held
    /// down), as the director cannot reach them either.
    pub net6: Option<Prefix6>,
}

/// Where a check's packets go on the internal NIC: the server if on the
/// DIP's segment, else the internal router if there is one. IPv6 has no
/// internal router option: an IPv6 server off the segment has no way out.
#[derive(Clone, Copy, Debug)]
pub struct Route {
    pub net: Prefix,
    pub gateway: Option<Ipv4Addr>,
    pub net6: Option<Prefix6>,
}

impl Route {
    /// The next hop towards `ip`, if any.
    pub fn hop(&self, ip: IpAddr) -> Option<IpAddr> {
        match ip {
            IpAddr::V4(a) => crate::neigh::next_hop(&self.net, self.gateway, u32::from(a))
                .map(|h| IpAddr::V4(Ipv4Addr::from(h))),
            IpAddr::V6(a) => self
                .net6
                .and_then(|n| crate::neigh::next_hop6(&n, None, a))
                .map(IpAddr::V6),
        }
    }
}

/// The MAC of next hop `hop` on the internal NIC in the workers' neighbor
/// snapshot, if known; a check sent to it uses its entry, as a worker's
/// frame does (`neigh::Used`).
fn hop_mac(shared: &Shared, hop: IpAddr) -> Option<Mac> {
    let snap = shared.neigh.load();
    let used = &shared.neigh_used;
    match hop {
        IpAddr::V4(a) => snap
            .get(Nic::Int, u32::from(a))
            .inspect(|_| used.mark(Nic::Int, u32::from(a))),
        IpAddr::V6(a) => snap.get(Nic::Int, a).inspect(|_| used.mark(Nic::Int, a)),
    }
}

/// Asks the control thread to resolve `hop` on the internal NIC (ARP or NDP);
/// never blocks (a full queue: asked again by the next packet or check).
fn resolve(neigh_tx: &Sender<NeighEvent>, hop: IpAddr) {
    let ev = match hop {
        IpAddr::V4(a) => u32::resolve(Nic::Int, u32::from(a)),
        IpAddr::V6(a) => Ipv6Addr::resolve(Nic::Int, a),
    };
    let _ = neigh_tx.try_send(ev);
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
        gateway,
        net6,
    } = io;
    let route = Route {
        net: Prefix {
            addr: dip,
            len: prefix_len,
        },
        gateway,
        net6,
    };
    let dev = Dev {
        out: Out {
            tx: &mut tx,
            mac,
            shared: &shared,
            neigh_tx: &neigh_tx,
            route,
        },
        rxq: std::collections::VecDeque::with_capacity(DEPTH),
        pool: tap.pool_tx.clone(),
        mtu,
    };
    let stack = Stack::new(dev, dip, prefix_len, net6);
    let mut checker = Checker::new(&mon, &shared, (&neigh_tx, &tap), stack);
    while !stop.load(Ordering::Relaxed) {
        checker.round(Instant::now(), &republish);
        checker.wait();
    }
    // No command outlives the thread unreaped.
    checker.pause(Instant::now());
    for _ in 0..20 {
        checker.stack.reap();
        if checker.stack.ended.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Which probe each of `probes` shares its check with (the first of its
/// group): those of one address and port with the same check, whatever
/// their services (the members of a `virtual_server group`, its marks'
/// services, services on other ports or VIPs with the same servers), so
/// that one check is sent and each takes its result. The port is the one
/// checked ([`Target::port`]): a check that names it (`--check-port`, as a
/// mark's service of port 0 has) and one that takes the server's are the
/// same check of the same port. A `MISC_CHECK` runs apart for each (its
/// command is told the service).
fn share_groups(probes: &[Probe]) -> Vec<usize> {
    let mut first: HashMap<(IpAddr, u16, HealthCheck), usize> = HashMap::new();
    let mut groups = Vec::with_capacity(probes.len());
    for (i, p) in probes.iter().enumerate() {
        groups.push(match p.t.check.kind.is_command() {
            true => i,
            false => {
                let check = HealthCheck {
                    port: None,
                    ..p.t.check.clone()
                };
                *first.entry((p.t.addr, p.t.port, check)).or_insert(i)
            }
        });
    }
    groups
}

/// A check's result `o` (ended at `at`) for `p`: its verdict, told to
/// `notify` as keepalived tells it. True if the server went down or came
/// back, or its weight changed. `quiet`: its `FILE_CHECK` holds it down,
/// nothing is told.
fn take_result(
    notify: &Notifier,
    p: &mut Probe,
    o: probe::Outcome,
    at: Instant,
    quiet: bool,
) -> bool {
    let weight = p.weight;
    let moved = verdict(p, o, at);
    if to_tell(p, moved) && !quiet {
        let addr = std::net::SocketAddr::new(p.t.rs_addr, p.t.rs_port);
        notify.server(&p.t.service, addr, p.up, &p.t.scripts);
    }
    moved || p.weight != weight
}

/// The health thread's state across rounds.
struct Checker<'a, T> {
    mon: &'a Monitor,
    shared: &'a Shared,
    neigh_tx: &'a Sender<NeighEvent>,
    tap: &'a TapRx,
    stack: Stack<'a, T>,
    probes: Vec<Probe>,
    /// The probe whose check each of `probes` shares ([`share_groups`]).
    groups: Vec<usize>,
    /// Per group (by its first probe): the probes in it, so that a result
    /// reaches them without a walk of every probe.
    members: Vec<Vec<usize>>,
    /// Per group (by its first probe): whether a check of it is in flight.
    busy: Vec<bool>,
    /// The monitor's epoch `probes` were made for.
    epoch: u64,
    /// IPv6 targets left out for want of an IPv6 DIP (logged when it changes).
    unreachable: usize,
    /// Those of them with `alpha`, held down (with `inhibit_on_failure`).
    never_up: Vec<(DestId, bool)>,
    /// The `FILE_CHECK`s' files and what they say (`file`).
    files: file::Files,
}

impl<'a, T: TxQueue> Checker<'a, T> {
    /// A checker with no probes yet (the first round takes the monitor's
    /// targets).
    fn new(
        mon: &'a Monitor,
        shared: &'a Shared,
        (neigh_tx, tap): (&'a Sender<NeighEvent>, &'a TapRx),
        stack: Stack<'a, T>,
    ) -> Self {
        Checker {
            mon,
            shared,
            neigh_tx,
            tap,
            stack,
            unreachable: 0,
            never_up: Vec::new(),
            files: file::Files::default(),
            probes: Vec::new(),
            groups: Vec::new(),
            members: Vec::new(),
            busy: Vec::new(),
            epoch: u64::MAX,
        }
    }

    /// One round: take new targets, start the checks that are due, drive those
    /// in flight, and republish when the servers held down change.
    fn round(&mut self, now: Instant, republish: &impl Fn()) {
        if self.update_targets(now) {
            republish();
        }
        // Files are read on a standby too: they are the director's own.
        if self.files.poll(now) && self.tell_files() {
            republish();
        }
        // A standby checks nothing: the real servers answer the DIP, which
        // is the active director's. It keeps its verdicts, and checks again
        // from the next due time once active.
        if self.shared.ha.standby() {
            self.pause(now);
            return;
        }
        self.start_due(now);
        self.stack.poll(now);
        if self.drive_flights(now) && self.mon.set_held_for(self.epoch, self.held()) {
            republish();
        }
    }

    /// New targets: keep the state of those that did not change. True if the
    /// servers held down changed with them (the caller republishes).
    fn update_targets(&mut self, now: Instant) -> bool {
        let e = self.mon.epoch.load(Ordering::Acquire);
        if e == self.epoch {
            return false;
        }
        self.epoch = e;
        let mut want = self
            .mon
            .targets
            .lock()
            .map(|t| t.clone())
            .unwrap_or_default();
        self.leave_out_unreachable(&mut want);
        let mut old: HashMap<DestId, Probe> = self.probes.drain(..).map(|p| (p.t.id, p)).collect();
        for t in want {
            match old.remove(&t.id) {
                // Only its scripts changed: the check goes on.
                Some(mut p) if p.t.same_check(&t) => {
                    p.t.scripts = t.scripts;
                    self.probes.push(p);
                }
                prev => {
                    let up = starts_up(&t, prev.as_ref());
                    let next = first_due(&t.check, now, self.stack.random());
                    let ran = prev.as_ref().is_some_and(|p| p.ran);
                    if let Some(f) = prev.and_then(|p| p.flight) {
                        self.stack.close(f, now);
                    }
                    self.probes.push(Probe {
                        t,
                        up,
                        fails: 0,
                        next,
                        flight: None,
                        arp_wait: None,
                        last_start: None,
                        ran,
                        failed_url: false,
                        weight: None,
                    });
                }
            }
        }
        for (_, p) in old {
            if let Some(f) = p.flight {
                self.stack.close(f, now);
            }
        }
        self.groups = share_groups(&self.probes);
        self.members = vec![Vec::new(); self.probes.len()];
        for (i, &g) in self.groups.iter().enumerate() {
            self.members[g].push(i);
        }
        let files = self.mon.files.lock().map(|f| f.clone()).unwrap_or_default();
        self.files.set(files, &self.mon.down());
        self.files.poll(now);
        self.tell_files()
    }

    /// Tells what the files' values did to their servers (`file`); true
    /// if that changed the servers held down or their weights.
    fn tell_files(&mut self) -> bool {
        let probes = &self.probes;
        let up = |id: DestId| probes.iter().find(|p| p.t.id == id).is_none_or(|p| p.up);
        self.files.tell(&self.mon.notify, up);
        let still = self.held();
        self.mon.held() != still && self.mon.set_held_for(self.epoch, still)
    }

    /// Without an IPv6 DIP, IPv6 targets cannot be checked (nor reached by
    /// the data plane): they are left out, so never held down, and the
    /// operator is told once per change.
    fn leave_out_unreachable(&mut self, want: &mut Vec<Target>) {
        if self.stack.dev.out.route.net6.is_some() {
            return;
        }
        let before = want.len();
        // An `alpha` one never passes a check, so it stays down (the data
        // plane cannot reach it either).
        let never_up = want.iter().filter(|t| t.addr.is_ipv6() && t.check.alpha);
        self.never_up = never_up
            .map(|t| (t.id, t.check.inhibit_on_failure))
            .collect();
        want.retain(|t| t.addr.is_ipv4());
        let n = before - want.len();
        if n != self.unreachable && n > 0 {
            crate::log!(
                "ringvs: health: {n} IPv6 real server(s) not checked: the director has no IPv6 DIP (--int-addr)"
            );
        }
        self.unreachable = n;
    }

    /// Abandon the checks in flight without a verdict (the director became a
    /// standby): they start again when due.
    fn pause(&mut self, now: Instant) {
        for p in &mut self.probes {
            if let Some(f) = p.flight.take() {
                self.stack.close(f, now);
            }
            p.arp_wait = None;
        }
        self.stack.reap();
    }

    /// The servers held down now, with their `inhibit_on_failure`, and the
    /// weights `misc_dynamic` set.
    fn held(&self) -> Held {
        let probes = self.probes.iter().filter(|p| !p.up);
        let probes = probes.map(|p| (p.t.id, p.t.check.inhibit_on_failure));
        let mut down = probes.chain(self.never_up.iter().copied()).collect();
        let set = self.probes.iter().filter_map(|p| Some((p.t.id, p.weight?)));
        let mut weights = set.collect();
        self.files.hold(&mut down, &mut weights);
        (down, weights)
    }

    /// Start the checks that are due (suspects at once), one at a time per
    /// group of probes that share their check.
    fn start_due(&mut self, now: Instant) {
        self.busy.clear();
        self.busy.resize(self.probes.len(), false);
        for (p, &g) in self.probes.iter().zip(&self.groups) {
            self.busy[g] |= p.flight.is_some();
        }
        for (p, &g) in self.probes.iter_mut().zip(&self.groups) {
            p.take_suspect(self.shared, now);
            if self.busy[g] || now < p.next {
                continue;
            }
            if p.waits_for_mac(self.shared, self.neigh_tx, now, self.stack.dev.out.route) {
                continue;
            }
            self.stack.start(p, now);
            self.busy[g] = p.flight.is_some();
        }
    }

    /// Drive the checks in flight, each result taken by every probe of its
    /// group; true if a server went down or came back, or its weight
    /// changed.
    fn drive_flights(&mut self, now: Instant) -> bool {
        let mut changed = false;
        for i in 0..self.probes.len() {
            let Some(o) = self.stack.step(&mut self.probes[i], now) else {
                continue;
            };
            let (g, started) = (self.groups[i], self.probes[i].last_start);
            // A command's next run is timed from its start, not its end.
            let at = match started {
                Some(t) if self.probes[i].t.check.kind.is_command() => t,
                _ => now,
            };
            for &j in &self.members[g] {
                let p = &mut self.probes[j];
                // One with a check of its own in flight takes that one's.
                if j == i || p.flight.is_none() {
                    (p.last_start, p.arp_wait) = (started, None);
                    let quiet = self.files.holds(p.t.id);
                    changed |= take_result(&self.mon.notify, p, o, at, quiet);
                }
            }
        }
        changed
    }

    /// Wait for packets (or the next round).
    fn wait(&mut self) {
        let wait = if self.probes.is_empty() {
            IDLE_TICK
        } else {
            TICK
        };
        // At most a pool's worth a round: the boxes of packets taken at
        // once go back to the workers, who could keep the loop fed.
        if let Ok(pkt) = self.tap.rx.recv_timeout(wait) {
            self.stack.take(pkt);
            for pkt in self.tap.rx.try_iter().take(DEPTH - 1) {
                self.stack.take(pkt);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::http::status_code;
    use super::probe::{Outcome, verdict_to};
    use super::*;
    use crate::config::{CheckKind, HealthCheck, Proto, Scheduler};
    use crossbeam_channel::Receiver;

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
                addr: Ipv4Addr::new(198, 19, 0, 2).into(),
                port: 80,
                rs_addr: Ipv4Addr::new(198, 19, 0, 2).into(),
                rs_port: 80,
                check,
                scripts: Scripts::default(),
            },
            up: true,
            fails: 0,
            next: Instant::now(),
            flight: None,
            arp_wait: None,
            last_start: None,
            ran: false,
            failed_url: false,
            weight: None,
        }
    }

    /// keepalived's largest `retry`, 4294967295: a check that never ran
    /// goes down at its first failure, one that ran retries (the count of
    /// failures no longer overflows at `retry` + 1).
    #[test]
    fn the_largest_retry_counts_without_overflow() {
        let now = Instant::now();
        let mut p = probe(u32::MAX);
        assert!(verdict(&mut p, Outcome::Timeout, now), "first failure");
        assert!(!p.up);
        let mut q = probe(u32::MAX);
        q.ran = true;
        assert!(!verdict(&mut q, Outcome::Timeout, now));
        assert!(q.up);
    }

    #[test]
    fn down_after_retry_plus_one_failures_up_after_one_success() {
        let now = Instant::now();
        let mut p = probe(2);
        p.ran = true;
        assert!(!verdict(&mut p, Outcome::Timeout, now));
        assert_eq!(p.next, now + Duration::from_secs(2), "delay_before_retry");
        assert!(!verdict(&mut p, Outcome::Refused, now));
        assert!(p.up);
        assert!(verdict(&mut p, Outcome::Timeout, now), "third failure");
        assert!(!p.up);
        assert_eq!(p.next, now + Duration::from_secs(10), "delay_loop");
        // Still failing: no new change; a TCP check retries a down server
        // as an up one (`tcp_epilog`), then waits delay_loop.
        for want in [2, 2, 10, 2, 2, 10] {
            assert!(!verdict(&mut p, Outcome::Timeout, now));
            assert_eq!(p.next, now + Duration::from_secs(want));
        }
        assert!(verdict(&mut p, Outcome::Ok, now));
        assert!(p.up);
        // A success resets the count.
        let mut q = probe(1);
        q.ran = true;
        assert!(!verdict(&mut q, Outcome::Timeout, now));
        assert!(!verdict(&mut q, Outcome::Ok, now));
        assert!(!verdict(&mut q, Outcome::Timeout, now));
        assert!(q.up);
    }

    /// Which checks retry a server that is down (keepalived): `TCP_CHECK`
    /// and `SMTP_CHECK` (`tcp_epilog`, `smtp_final`), `retry` times
    /// `delay_before_retry` apart and then `delay_loop`; the others wait
    /// `delay_loop` (`udp_epilog`, `icmp_epilog`, `dns_final`,
    /// `misc_check_child_thread`).
    #[test]
    fn only_tcp_and_smtp_checks_retry_a_down_server() {
        use crate::config::{DnsCheck, SmtpCheck};
        let now = Instant::now();
        let kinds = [
            (CheckKind::Tcp, [2, 2, 10]),
            (CheckKind::Smtp(SmtpCheck::new()), [2, 2, 10]),
            (CheckKind::Ping, [10, 10, 10]),
            (CheckKind::Dns(DnsCheck::new()), [10, 10, 10]),
        ];
        for (kind, waits) in kinds {
            let mut p = probe(2);
            p.t.check.kind = kind.clone();
            (p.ran, p.up) = (true, false);
            for want in waits {
                assert!(!verdict(&mut p, Outcome::Refused, now), "{kind:?}");
                assert_eq!(p.next, now + Duration::from_secs(want), "{kind:?}");
            }
        }
    }

    /// `check_http.c`'s `epilog`: a server that went down keeps its failed
    /// url; that url passing starts the urls over, `delay_loop` later, and
    /// only the next whole pass brings the server up. Failed, the next try
    /// waits the longer of `delay_before_retry` and `delay_loop`.
    #[test]
    fn an_http_check_brings_a_down_server_up_after_a_whole_pass() {
        let now = Instant::now();
        let mut p = probe(1);
        p.t.check.kind = CheckKind::Http(crate::config::HttpCheck::get("/", 200));
        p.t.check.delay_before_retry = 30;
        p.ran = true;
        assert!(!verdict(&mut p, Outcome::Status(503), now));
        assert_eq!(p.next, now + Duration::from_secs(30), "a retry");
        assert!(verdict(&mut p, Outcome::Status(503), now), "down");
        assert_eq!(p.next, now + Duration::from_secs(30), "max(30, 10)");
        assert!(!verdict(&mut p, Outcome::Timeout, now), "not retried");
        assert_eq!(p.next, now + Duration::from_secs(30));
        assert!(!verdict(&mut p, Outcome::Ok, now), "the failed url passed");
        assert!(!p.up);
        assert_eq!(p.next, now + Duration::from_secs(10));
        assert!(verdict(&mut p, Outcome::Ok, now), "a whole pass: up");
        assert!(p.up);
    }

    /// `SMTP_CHECK` starts each round with its tries at 0
    /// (`smtp_start_check_thread`), its first one too: a server whose first
    /// check fails is retried, where other checks take it down at once.
    #[test]
    fn an_smtp_check_retries_its_first_failure() {
        let now = Instant::now();
        let mut p = probe(1);
        p.t.check.kind = CheckKind::Smtp(crate::config::SmtpCheck::new());
        assert!(!verdict(&mut p, Outcome::Refused, now), "retried");
        assert!(p.up);
        assert_eq!(p.next, now + Duration::from_secs(2));
        to_tell(&mut p, false);
        assert!(
            verdict(&mut p, Outcome::Refused, now),
            "down after its retry"
        );
    }

    /// keepalived (`validate_check_config`, `check_data.c`: "one failure is
    /// enough initially"): a server whose check has never given a result is
    /// taken down by its first failure, without `retry` more tries; once a
    /// check has run, failures are retried again.
    #[test]
    fn a_first_check_that_fails_takes_the_server_down_at_once() {
        let now = Instant::now();
        let mut p = probe(3);
        assert!(verdict(&mut p, Outcome::Refused, now), "down at the first");
        assert!(!p.up);
        assert_eq!(p.next, now + Duration::from_secs(10), "delay_loop");
        // As `take_result` does after each verdict.
        assert!(to_tell(&mut p, true));
        assert!(verdict(&mut p, Outcome::Ok, now));
        assert!(!verdict(&mut p, Outcome::Timeout, now), "retried now");
        assert!(p.up);
        // A first check that passes counts as one that ran.
        let mut q = probe(1);
        assert!(!verdict(&mut q, Outcome::Ok, now));
        to_tell(&mut q, false);
        assert!(!verdict(&mut q, Outcome::Timeout, now));
        assert!(q.up);
    }

    /// The DOWN line of a first check that fails says the one try it
    /// made (keepalived's `tcp_epilog`, `icmp_epilog`, `dns_final` say
    /// "after N retries" only of a checker that `has_run`), whatever the
    /// check's `retry`; a server whose check has run says the tries it
    /// took, `retry` + 1.
    #[test]
    fn a_first_failure_is_logged_as_the_one_try_it_was() {
        use crate::config::DnsCheck;
        let now = Instant::now();
        let line = |p: &mut Probe, o: Outcome| {
            let mut log = Vec::new();
            let moved = verdict_to(&mut log, p, o, now);
            to_tell(p, moved);
            String::from_utf8(log).unwrap()
        };
        let mut p = probe(3);
        assert_eq!(
            line(&mut p, Outcome::Refused),
            "ringvs: health: 198.19.0.2:80 DOWN (connection refused after 1 try, \
             its first check) in TCP 198.18.0.110:80\n"
        );
        let mut d = probe(3);
        d.t.check.kind = CheckKind::Dns(DnsCheck::new());
        assert!(line(&mut d, Outcome::NoReply).contains("(no reply after 1 try, its first check)"));
        // A check that has run: retried, then down after retry + 1 tries.
        let mut q = probe(3);
        q.ran = true;
        for _ in 0..3 {
            assert_eq!(line(&mut q, Outcome::Timeout), "", "a retry logs nothing");
        }
        assert_eq!(
            line(&mut q, Outcome::Timeout),
            "ringvs: health: 198.19.0.2:80 DOWN (connect timeout after 4 tries) \
             in TCP 198.18.0.110:80\n"
        );
    }

    /// Every result told to the notifier (`notify_down`, the FIFO's `RS …
    /// DOWN`) has its line on stderr, an `alpha` server's first failure
    /// included (keepalived's `tcp_epilog` logs "… failed." when it has
    /// not run), and nothing else does: for each kind, `alpha` or not, a
    /// run of failures and passes.
    #[test]
    fn every_result_told_is_logged_an_alpha_first_failure_too() {
        use crate::config::{DnsCheck, HttpCheck, SmtpCheck};
        let now = Instant::now();
        let kinds = [
            CheckKind::Tcp,
            CheckKind::Smtp(SmtpCheck::new()),
            CheckKind::Ping,
            CheckKind::Dns(DnsCheck::new()),
            CheckKind::Http(HttpCheck::get("/", 200)),
        ];
        let (no, ok) = (Outcome::Refused, Outcome::Ok);
        for kind in kinds {
            for alpha in [false, true] {
                let mut p = probe(1);
                p.t.check.kind = kind.clone();
                (p.t.check.alpha, p.up) = (alpha, !alpha);
                for (i, o) in [no, no, no, ok, ok, no, no, no].into_iter().enumerate() {
                    let mut log = Vec::new();
                    let moved = verdict_to(&mut log, &mut p, o, now);
                    let told = to_tell(&mut p, moved);
                    let log = String::from_utf8(log).unwrap();
                    assert_eq!(told, !log.is_empty(), "{kind:?} alpha {alpha} #{i}: {log}");
                }
            }
        }
        // The alpha server's first failure, in words.
        let mut a = probe(1);
        (a.t.check.alpha, a.up) = (true, false);
        let mut log = Vec::new();
        assert!(!verdict_to(&mut log, &mut a, no, now));
        assert!(to_tell(&mut a, false));
        assert_eq!(
            String::from_utf8(log).unwrap(),
            "ringvs: health: 198.19.0.2:80 DOWN (connection refused after 1 try, \
             its first check) in TCP 198.18.0.110:80\n"
        );
    }

    /// A changed check (`-E` with other check settings, a reload) carries
    /// the server's state and whether its check had given a result, as
    /// keepalived's `migrate_checkers` (`check/ipwrapper.c`) does for a
    /// server that is up: the new checker keeps the `retry_it` the reload
    /// gave it, so its first failure is retried. A server whose check never
    /// gave one is still taken down by its first failure. A server that is
    /// down stays down (keepalived puts a non-`alpha` one back up,
    /// `perform_svr_state`, when no checker of it has failed; a difference).
    #[test]
    fn a_changed_check_keeps_the_servers_state_and_retries() {
        let mut check = HealthCheck::new(CheckKind::Tcp);
        check.retry = 2;
        let (cfg, k) = tcp_lab(3, check.clone());
        let mut changed = cfg.clone();
        with_checker(&cfg, &[], |checker, mon, _, _| {
            let t0 = Instant::now();
            checker.update_targets(t0);
            let at = |c: &Checker<'_, Kept>, n: u8| {
                let ip = IpAddr::from(Ipv4Addr::new(198, 19, 0, n));
                c.probes.iter().position(|p| p.t.addr == ip).unwrap()
            };
            // .2 checked and up, .3 checked and down, .4 never checked.
            let (two, three) = (at(checker, 2), at(checker, 3));
            checker.probes[two].ran = true;
            (checker.probes[three].ran, checker.probes[three].up) = (true, false);
            check.connect_timeout += 1;
            changed.set_service_check(&k, Some(check)).unwrap();
            mon.set_targets(targets(&changed), &changed);
            checker.update_targets(t0);
            let new = |p: &Probe| p.t.check.connect_timeout == 6;
            assert!(checker.probes.iter().all(new), "the new check");
            let (two, three, four) = (at(checker, 2), at(checker, 3), at(checker, 4));
            let p = &mut checker.probes;
            assert!(p[two].up && !p[three].up && p[four].up);
            assert!(!verdict(&mut p[two], Outcome::Refused, t0), "retried");
            assert!(p[two].up);
            assert!(!verdict(&mut p[three], Outcome::Refused, t0), "stays down");
            assert!(verdict(&mut p[four], Outcome::Refused, t0), "down at once");
            assert!(!p[four].up);
        });
    }

    /// A TX queue that keeps the frames the health thread sends.
    #[derive(Default)]
    struct Kept {
        slot: Vec<u8>,
        sent: Vec<Vec<u8>>,
    }

    impl TxQueue for Kept {
        fn slot(&mut self) -> Option<&mut [u8]> {
            self.slot.resize(2048, 0);
            Some(&mut self.slot)
        }
        fn commit(&mut self, len: usize) {
            self.sent.push(self.slot[..len].to_vec());
        }
        fn flush(&mut self) -> usize {
            0
        }
    }

    /// The TCP SYN (without ACK) a frame is, if it is one: its
    /// destination MAC and address, source port and sequence number.
    fn syn(f: &[u8]) -> Option<([u8; 6], Ipv4Addr, u16, u32)> {
        let ihl = usize::from(*f.get(14)? & 0x0f) * 4;
        let tcp = f.get(14 + ihl..14 + ihl + 20)?;
        let ip: [u8; 4] = f.get(30..34)?.try_into().ok()?;
        let mac: [u8; 6] = f.get(..6)?.try_into().ok()?;
        let sport = u16::from_be_bytes([tcp[0], tcp[1]]);
        let seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
        (f[12..14] == [8, 0] && f[23] == 6 && tcp[13] & 0x12 == 0x02).then_some((
            mac,
            Ipv4Addr::from(ip),
            sport,
            seq,
        ))
    }

    /// The DIP of [`with_checker`].
    const DIP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);

    /// The MAC of `ip` in [`with_checker`]'s neighbor table.
    fn mac_of(ip: Ipv4Addr) -> Mac {
        Mac([2, 0x55, 0, 0, 0, ip.octets()[3]])
    }

    /// The health thread's state for the rules `cfg` on the DIP's /24
    /// (198.19.0.1), with the MACs of `known` learned, handed to `f` with
    /// the monitor, the shared state (its tap) and the neighbor requests:
    /// `f` drives its rounds, giving each its time
    /// (as `run` gives them `Instant::now()`: no sleeping), and reads the
    /// frames it sent.
    fn with_checker<R>(
        cfg: &Config,
        known: &[Ipv4Addr],
        f: impl FnOnce(&mut Checker<'_, Kept>, &Monitor, &Shared, &Receiver<NeighEvent>) -> R,
    ) -> R {
        use crate::nat::{Snapshot, Timeouts};
        let shared = Shared::new(Snapshot::build(&Config::new(), Timeouts::default()));
        let tap = shared.health.connect().unwrap();
        let mut neigh = crate::neigh::NeighTable::new();
        for &ip in known {
            neigh.learn(Nic::Int, u32::from(ip), mac_of(ip), Instant::now());
        }
        if let Some(snap) = neigh.take_snapshot() {
            shared.neigh.store(Arc::new(snap));
        }
        let mon = Monitor::default();
        mon.set_targets(targets(cfg), cfg);
        let (neigh_tx, neigh_rx) = crossbeam_channel::bounded(64);
        let route = Route {
            net: Prefix { addr: DIP, len: 24 },
            gateway: None,
            net6: None,
        };
        let mut tx = Kept::default();
        let dev = Dev {
            out: Out {
                tx: &mut tx,
                mac: Mac([2, 0x11, 0, 0, 0, 1]),
                shared: &shared,
                neigh_tx: &neigh_tx,
                route,
            },
            rxq: std::collections::VecDeque::new(),
            pool: tap.pool_tx.clone(),
            mtu: 1500,
        };
        let stack = Stack::new(dev, DIP, 24, None);
        let mut checker = Checker::new(&mon, &shared, (&neigh_tx, &tap), stack);
        f(&mut checker, &mon, &shared, &neigh_rx)
    }

    /// A `--check tcp` service (198.18.0.110:80, `check`) with `n` real
    /// servers from 198.19.0.2 on, all on port 80.
    fn tcp_lab(n: u8, check: HealthCheck) -> (Config, ServiceKey) {
        let mut cfg = Config::new();
        let k = ServiceKey::new(Proto::Tcp, Ipv4Addr::new(198, 18, 0, 110), 80);
        cfg.add_service(k, Scheduler::Rr, None).unwrap();
        for i in 0..n {
            cfg.add_dest(&k, Ipv4Addr::new(198, 19, 0, 2 + i), 80, 1)
                .unwrap();
        }
        cfg.set_service_check(&k, Some(check)).unwrap();
        (cfg, k)
    }

    /// The health thread's rounds, driven at `step`s from a start `t0` for
    /// `span`, with `n` servers (198.19.0.2 on, their MACs known) of one
    /// `--check tcp` service with `warmup`: how long after `t0` each
    /// server's first SYN left.
    fn first_syns(
        warmup: u32,
        n: u8,
        step: Duration,
        span: Duration,
    ) -> HashMap<Ipv4Addr, Duration> {
        let check = HealthCheck {
            warmup,
            ..HealthCheck::new(CheckKind::Tcp)
        };
        let (cfg, _) = tcp_lab(n, check);
        let servers: Vec<Ipv4Addr> = (0..n).map(|i| Ipv4Addr::new(198, 19, 0, 2 + i)).collect();
        with_checker(&cfg, &servers, |checker, _, _, _| {
            let t0 = Instant::now();
            let mut first = HashMap::new();
            let mut at = Duration::ZERO;
            while at <= span {
                checker.round(t0 + at, &|| {});
                for f in checker.stack.dev.out.tx.sent.drain(..) {
                    if let Some((_, rs, ..)) = syn(&f) {
                        first.entry(rs).or_insert(at);
                    }
                }
                at += step;
            }
            first
        })
    }

    /// A standby checks nothing, but its checks' due times run on: made
    /// active after a standby longer than `delay_loop`, the director checks
    /// again in its first round (docs/ha.md, *What is not covered*), not a
    /// `delay_loop` later.
    #[test]
    fn a_check_overdue_on_a_standby_starts_in_the_first_active_round() {
        let check = HealthCheck {
            delay_loop: 5,
            ..HealthCheck::new(CheckKind::Tcp)
        };
        let (cfg, _) = tcp_lab(1, check);
        let rs = Ipv4Addr::new(198, 19, 0, 2);
        with_checker(&cfg, &[rs], |checker, _, shared, _| {
            let t0 = Instant::now();
            let syns = |checker: &mut Checker<'_, Kept>, at: Duration| {
                checker.round(t0 + at, &|| {});
                let sent = checker.stack.dev.out.tx.sent.drain(..);
                sent.filter(|f| syn(f).is_some()).count()
            };
            assert_eq!(syns(checker, Duration::ZERO), 1, "the first check");
            shared.ha.set_standby(true);
            let mut at = Duration::from_millis(100);
            while at <= Duration::from_secs(8) {
                assert_eq!(syns(checker, at), 0, "a standby checks nothing ({at:?})");
                at += Duration::from_millis(100);
            }
            shared.ha.set_standby(false);
            assert_eq!(syns(checker, at), 1, "checked in the first active round");
        });
    }

    /// keepalived's `warmup` (`register_checkers_thread`): each server's
    /// first check starts at a random time of 0 to `warmup` seconds, each
    /// its own; without one, every server is checked in the first round.
    #[test]
    fn a_first_check_waits_a_random_time_within_warmup() {
        let step = Duration::from_millis(100);
        let first = first_syns(10, 20, step, Duration::from_secs(12));
        assert_eq!(first.len(), 20, "every server checked: {first:?}");
        assert!(
            first.values().all(|&d| d <= Duration::from_secs(10)),
            "within the warmup: {first:?}"
        );
        // Spread over the warmup, not all at once (20 servers in 101
        // rounds: fewer than 5 distinct ones is not chance).
        let rounds: HashSet<Duration> = first.values().copied().collect();
        assert!(rounds.len() >= 5, "spread: {first:?}");
        assert!(
            first.values().any(|&d| d >= Duration::from_secs(2)),
            "{first:?}"
        );
        let first = first_syns(0, 20, step, Duration::from_secs(1));
        assert_eq!(first.len(), 20);
        assert!(first.values().all(|&d| d == Duration::ZERO), "{first:?}");
        // The draw itself: 0 to warmup seconds, at once without one.
        let now = Instant::now();
        let mut c = HealthCheck::new(CheckKind::Tcp);
        assert_eq!(first_due(&c, now, u64::MAX), now);
        c.warmup = 3;
        assert_eq!(first_due(&c, now, 0), now);
        assert_eq!(first_due(&c, now, 3_000_000), now + Duration::from_secs(3));
        assert_eq!(first_due(&c, now, 3_000_001), now);
        assert!(first_due(&c, now, u64::MAX) <= now + Duration::from_secs(3));
    }

    /// keepalived's `FILE_CHECK`: the health thread reads each server's
    /// file, and what it says reaches what the control thread publishes:
    /// weight 0, a non-zero value takes the server out and 0 brings it
    /// back; weight 2, the value times 2 is added to the server's weight.
    /// A server whose file says down when it is added is down at once. A
    /// write is seen in the next round, without waiting for the poll.
    #[test]
    fn a_file_takes_a_server_down_and_brings_it_back() {
        use crate::config::FileCheck;
        let dir = std::env::temp_dir().join(format!("ringvs-fc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (fa, fb) = (dir.join("a"), dir.join("b"));
        std::fs::write(&fa, "1\n").unwrap();
        std::fs::write(&fb, "0\n").unwrap();
        let mut cfg = Config::new();
        let k = ServiceKey::new(Proto::Tcp, Ipv4Addr::new(198, 18, 0, 110), 80);
        cfg.add_service(k, Scheduler::Rr, None).unwrap();
        let (a, b) = (Ipv4Addr::new(198, 19, 0, 2), Ipv4Addr::new(198, 19, 0, 3));
        let ida = cfg.add_dest(&k, a, 80, 1).unwrap();
        let idb = cfg.add_dest(&k, b, 80, 1).unwrap();
        let track = |path: &std::path::Path, weight| Scripts {
            files: vec![FileCheck {
                name: "t".into(),
                path: path.to_path_buf(),
                weight,
                reverse: false,
                inhibit: false,
            }],
            ..Scripts::default()
        };
        cfg.set_dest_scripts(&k, a.into(), 80, track(&fa, 0))
            .unwrap();
        cfg.set_dest_scripts(&k, b.into(), 80, track(&fb, 2))
            .unwrap();
        // What the control thread publishes: the servers and weights.
        let published = |mon: &Monitor| {
            let rules = mon.reweigh(&cfg);
            let e = effective(&rules, &mon.down(), &HashSet::new(), false);
            let s = e.service(&k).unwrap();
            s.dests.iter().map(|d| (d.id, d.weight)).collect::<Vec<_>>()
        };
        with_checker(&cfg, &[], |checker, mon, _, _| {
            assert_eq!(published(mon), [(idb, 1)], "down before any round");
            let t0 = Instant::now();
            let told = std::cell::Cell::new(0);
            let republish = || told.set(told.get() + 1);
            checker.round(t0, &republish);
            assert_eq!(published(mon), [(idb, 1)]);
            // Read as inotify tells of the write (keepalived's
            // `process_inotify`), not at the next second's poll: the
            // round's time stands still.
            std::fs::write(&fa, "0\n").unwrap();
            checker.round(t0 + Duration::from_millis(500), &republish);
            assert_eq!(published(mon), [(ida, 1), (idb, 1)], "0: back at once");
            assert_eq!(told.get(), 1);
            std::fs::write(&fb, "5\n").unwrap();
            checker.round(t0 + file::EVERY * 2, &republish);
            assert_eq!(published(mon), [(ida, 1), (idb, 11)], "1 + 5 * 2");
            std::fs::write(&fa, "7\n").unwrap();
            std::fs::remove_file(&fb).unwrap();
            checker.round(t0 + file::EVERY * 3, &republish);
            assert_eq!(published(mon), [(idb, 1)], "7: down; no file: 0");
            assert_eq!(told.get(), 3);
            // A reload that drops its FILE_CHECK brings it back at once.
            let mut next = cfg.clone();
            next.set_dest_scripts(&k, a.into(), 80, Scripts::default())
                .unwrap();
            mon.set_targets(targets(&next), &next);
            checker.round(t0 + file::EVERY * 3, &republish);
            assert_eq!(published(mon), [(ida, 1), (idb, 1)]);
            assert_eq!(told.get(), 4, "republished");
            assert!(checker.stack.dev.out.tx.sent.is_empty(), "no packet");
        });
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// keepalived's `connect_ip` (`--check-ip`): a server's check goes to
    /// its check address (that address's MAC, its answer diverted as any
    /// check's) and the verdict is the server's; a server without one is
    /// checked on its own address. The server's own MAC is not even known:
    /// nothing is sent to it, nor asked for.
    #[test]
    fn a_check_goes_to_the_servers_check_address() {
        let check = HealthCheck {
            alpha: true,
            ..HealthCheck::new(CheckKind::Tcp)
        };
        let (mut cfg, k) = tcp_lab(2, check);
        let (rs, other, at) = (
            Ipv4Addr::new(198, 19, 0, 2),
            Ipv4Addr::new(198, 19, 0, 3),
            Ipv4Addr::new(198, 19, 0, 7),
        );
        cfg.set_dest_check_ip(&k, rs.into(), 80, Some(at.into()))
            .unwrap();
        let id = |ip: Ipv4Addr| cfg.service(&k).unwrap().dest(ip, 80).unwrap().id;
        let (id_rs, id_other) = (id(rs), id(other));
        with_checker(&cfg, &[other, at], |checker, mon, shared, neigh| {
            let t0 = Instant::now();
            checker.round(t0, &|| {});
            let syns: Vec<_> = checker
                .stack
                .dev
                .out
                .tx
                .sent
                .drain(..)
                .filter_map(|f| syn(&f))
                .collect();
            let to: HashSet<Ipv4Addr> = syns.iter().map(|s| s.1).collect();
            assert_eq!(to, HashSet::from([at, other]), "{syns:?}");
            let &(mac, _, sport, seq) = syns.iter().find(|s| s.1 == at).unwrap();
            assert_eq!(mac, mac_of(at).0, "to the check address's MAC");
            assert_eq!(mon.down().len(), 2, "alpha: both down until checked");
            // The check address answers: a SYN-ACK from 198.19.0.7:80.
            let mut ip = [0u8; 40];
            ip[..12].copy_from_slice(&[0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0]);
            ip[12..16].copy_from_slice(&at.octets());
            ip[16..20].copy_from_slice(&DIP.octets());
            ip[20..22].copy_from_slice(&80u16.to_be_bytes());
            ip[22..24].copy_from_slice(&sport.to_be_bytes());
            ip[24..28].copy_from_slice(&7000u32.to_be_bytes());
            ip[28..32].copy_from_slice(&seq.wrapping_add(1).to_be_bytes());
            ip[32..36].copy_from_slice(&[0x50, 0x12, 0xff, 0xff]);
            assert!(shared.health.divert(&ip));
            let tap = checker.tap;
            for pkt in tap.rx.try_iter() {
                checker.stack.take(pkt);
            }
            checker.round(t0 + Duration::from_millis(10), &|| {});
            assert_eq!(
                mon.down(),
                HashMap::from([(id_other, false)]),
                "198.19.0.2 up by its check address's answer ({id_rs:?})"
            );
            let asked: Vec<NeighEvent> = neigh.try_iter().collect();
            assert!(asked.is_empty(), "{asked:?}");
        });
    }

    #[test]
    fn routes_and_host_names_of_both_families() {
        let v6 = |s: &str| -> Ipv6Addr { s.parse().unwrap() };
        let mut r = Route {
            net: "198.19.0.1/24".parse().unwrap(),
            gateway: Some(Ipv4Addr::new(198, 19, 0, 254)),
            net6: None,
        };
        let on = IpAddr::V6(v6("2001:2:0:2::2"));
        assert_eq!(r.hop(on), None, "no IPv6 DIP: no way");
        r.net6 = Some("2001:2:0:2::1/64".parse().unwrap());
        assert_eq!(r.hop(on), Some(on));
        assert_eq!(
            r.hop(IpAddr::V6(v6("2001:2:0:9::2"))),
            None,
            "no IPv6 router"
        );
        let far4 = IpAddr::V4(Ipv4Addr::new(198, 18, 7, 2));
        assert_eq!(
            r.hop(far4),
            Some(IpAddr::V4(Ipv4Addr::new(198, 19, 0, 254)))
        );
        // keepalived's `Host`: the address (IPv6 in brackets) and port, or
        // the virtual host as given.
        let mut c = crate::config::HttpCheck::get("/", 200);
        assert_eq!(super::http::host(&c, (on, 80)), "[2001:2:0:2::2]:80");
        assert_eq!(super::http::host(&c, (far4, 8080)), "198.18.7.2:8080");
        c.vhost = Some("www.example:8443".into());
        assert_eq!(super::http::host(&c, (far4, 80)), "www.example:8443");
    }

    #[test]
    fn targets_include_both_families() {
        let mut c = Config::new();
        let k6 = ServiceKey::new(Proto::Tcp, v6addr("2001:2:0:1::110"), 80);
        c.add_service(k6, Scheduler::Rr, None).unwrap();
        c.add_dest(&k6, v6addr("2001:2:0:2::2"), 0, 1).unwrap();
        let k4 = ServiceKey::new(Proto::Tcp, Ipv4Addr::new(198, 18, 0, 110), 80);
        c.add_service(k4, Scheduler::Rr, None).unwrap();
        c.add_dest(&k4, Ipv4Addr::new(198, 19, 0, 2), 8080, 1)
            .unwrap();
        assert!(targets(&c).is_empty(), "no check, no target");
        for k in [k6, k4] {
            c.set_service_check(&k, Some(HealthCheck::new(CheckKind::Tcp)))
                .unwrap();
        }
        let t: Vec<(IpAddr, u16)> = targets(&c).iter().map(|t| (t.addr, t.port)).collect();
        assert!(
            t.contains(&(IpAddr::V6(v6addr("2001:2:0:2::2")), 80)),
            "{t:?}"
        );
        assert!(
            t.contains(&(IpAddr::V4(Ipv4Addr::new(198, 19, 0, 2)), 8080)),
            "{t:?}"
        );
        assert_eq!(t.len(), 2);
        // `--check-port`: checked there, named by its own port (FIFO lines,
        // scripts, logs), as keepalived names a real server.
        let mut check = HealthCheck::new(CheckKind::Tcp);
        check.port = Some(9000);
        c.set_service_check(&k4, Some(check)).unwrap();
        let t = targets(&c);
        let t4 = t.iter().find(|t| t.addr.is_ipv4()).unwrap();
        assert_eq!((t4.port, t4.rs_port), (9000, 8080));
    }

    /// `misc_dynamic`: a status of 2-255 sets the weight; a plain pass
    /// (0) or going down gives the configured one back (`None`).
    #[test]
    fn a_dynamic_weight_lasts_until_a_plain_pass_or_a_failure() {
        let now = Instant::now();
        let mut p = probe(0);
        assert!(!verdict(&mut p, Outcome::Weight(5), now));
        assert_eq!((p.up, p.weight), (true, Some(5)));
        assert!(!verdict(&mut p, Outcome::Ok, now));
        assert_eq!(p.weight, None);
        verdict(&mut p, Outcome::Weight(7), now);
        assert!(verdict(&mut p, Outcome::Exit(1), now), "retry 0: down");
        assert_eq!((p.up, p.weight), (false, None));
        assert!(verdict(&mut p, Outcome::Weight(0), now), "back up, at 0");
        assert_eq!((p.up, p.weight), (true, Some(0)));
    }

    fn v6addr(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    /// What the control thread publishes (`listing`: lists) for `c` with
    /// the servers `down`, its quorums weighed the first time.
    fn eff(c: &Config, down: &HashMap<DestId, bool>, listing: bool) -> Config {
        let lost = quorum::Quorums::default().weigh(c, &HashMap::new(), down, &Notifier::default());
        effective(c, down, &lost, listing)
    }

    /// A TCP service on the VIP's port 80 (rr) with real servers
    /// 198.19.0.2, .3, ... on port 80 of `weights`, and a NAT sorry server at
    /// `sorry`: the rules, the service's key, the servers' ids, the sorry
    /// server's options.
    fn sorry_lab(
        weights: &[u32],
        sorry: (Ipv4Addr, u16),
    ) -> (Config, ServiceKey, Vec<DestId>, crate::config::SorryOpts) {
        let mut c = Config::new();
        let k = ServiceKey::new(Proto::Tcp, Ipv4Addr::new(198, 18, 0, 110), 80);
        c.add_service(k, Scheduler::Rr, None).unwrap();
        let ids = (weights.iter().zip(2u8..))
            .map(|(&w, n)| c.add_dest(&k, Ipv4Addr::new(198, 19, 0, n), 80, w).unwrap())
            .collect();
        let sorry = crate::config::SorryOpts {
            addr: sorry.0.into(),
            port: sorry.1,
            forward: crate::config::Forward::Masq,
            inhibit: false,
        };
        c.set_service_sorry(&k, Some(sorry)).unwrap();
        (c, k, ids, sorry)
    }

    /// The servers of `k` in `e`, with their weights.
    fn weights_of(e: &Config, k: &ServiceKey) -> Vec<(DestId, u32)> {
        let s = e.service(k).unwrap();
        s.dests.iter().map(|d| (d.id, d.weight)).collect()
    }

    /// `--quorum 2`: one of two servers of weight 1 down, the quorum is
    /// lost and the sorry server serves; the server still up leaves the
    /// table while it does, as keepalived takes it out of the pool (at
    /// weight 0 with `inhibit_on_failure`), and is listed at weight 0.
    /// Back up, the quorum and the weights are back and the sorry server
    /// leaves. Each change is told with the service's quorum script, as
    /// keepalived's `do_vs_notifies`.
    #[test]
    fn below_the_quorum_the_sorry_server_serves_alone() {
        use crate::config::{Quorum, Script};
        let (mut c, k, ids, _) = sorry_lab(&[1, 1], (Ipv4Addr::new(198, 19, 0, 9), 8080));
        let (notify, notes) = Notifier::channel();
        let scripts = Scripts {
            up: Some(Script::parse("/bin/q up").unwrap()),
            down: Some(Script::parse("/bin/q down").unwrap()),
            check: None,
            files: Vec::new(),
        };
        c.set_service_scripts(&k, scripts.clone()).unwrap();
        let told = || -> Vec<(String, Option<String>)> {
            let n = notes.try_iter();
            n.map(|n| (n.line, n.script.map(|s| s.as_str().to_string())))
                .collect()
        };
        let note = |line: &str, s: &str| vec![(line.to_string(), Some(s.to_string()))];
        let (a, b) = (ids[0], ids[1]);
        let q = Quorum {
            quorum: 2,
            hysteresis: 0,
        };
        c.set_service_quorum(&k, q).unwrap();
        let s_id = c.service(&k).unwrap().sorry.unwrap().id;
        let weights = |e: &Config| weights_of(e, &k);
        let mut quorums = quorum::Quorums::default();
        let none = HashMap::new();
        let lost = quorums.weigh(&c, &HashMap::new(), &none, &notify);
        assert!(lost.is_empty());
        assert_eq!(told(), [], "started with its quorum: nothing told");
        assert_eq!(
            weights(&effective(&c, &none, &lost, false)),
            [(a, 1), (b, 1)]
        );
        let down = HashMap::from([(a, false)]);
        let lost = quorums.weigh(&c, &HashMap::new(), &down, &notify);
        assert_eq!(lost, HashSet::from([k]));
        assert_eq!(
            told(),
            note("VS [198.18.0.110]:tcp:80 DOWN\n", "/bin/q down")
        );
        assert!(quorums.weigh(&c, &HashMap::new(), &down, &notify) == lost && told().is_empty());
        assert_eq!(weights(&effective(&c, &down, &lost, false)), [(s_id, 1)]);
        assert_eq!(
            weights(&effective(&c, &down, &lost, true)),
            [(a, 0), (b, 0), (s_id, 1)]
        );
        assert_eq!(quorums.lost(), lost, "kept for the listing");
        let lost = quorums.weigh(&c, &HashMap::new(), &none, &notify);
        assert!(lost.is_empty());
        assert_eq!(told(), note("VS [198.18.0.110]:tcp:80 UP\n", "/bin/q up"));
        assert_eq!(
            weights(&effective(&c, &none, &lost, false)),
            [(a, 1), (b, 1)]
        );
        // With the check's inhibit_on_failure, both stay at weight 0.
        let mut check = HealthCheck::new(CheckKind::Tcp);
        check.inhibit_on_failure = true;
        c.set_service_check(&k, Some(check)).unwrap();
        let down = HashMap::from([(a, true)]);
        let lost = quorums.weigh(&c, &HashMap::new(), &down, &notify);
        assert_eq!(
            weights(&effective(&c, &down, &lost, false)),
            [(a, 0), (b, 0), (s_id, 1)]
        );
        let down = HashMap::from([(a, false)]);
        // Without a sorry server a lost quorum changes no weight; without
        // a check either, the service is not weighed.
        c.set_service_sorry(&k, None).unwrap();
        c.set_service_check(&k, Some(HealthCheck::new(CheckKind::Tcp)))
            .unwrap();
        let lost = quorums.weigh(&c, &HashMap::new(), &down, &notify);
        assert_eq!(lost, HashSet::from([k]));
        assert_eq!(weights(&effective(&c, &down, &lost, false)), [(b, 1)]);
        c.set_service_check(&k, None).unwrap();
        assert!(
            quorums
                .weigh(&c, &HashMap::new(), &down, &notify)
                .is_empty()
        );
        // A service seen the first time without its quorum is told only
        // with a sorry server (keepalived's "Starting with quorum down").
        let mut fresh = quorum::Quorums::default();
        c.set_service_check(&k, Some(HealthCheck::new(CheckKind::Tcp)))
            .unwrap();
        told();
        fresh.weigh(
            &c,
            &HashMap::new(),
            &HashMap::from([(a, false), (b, false)]),
            &notify,
        );
        assert_eq!(told(), [], "no sorry server");
        let (c2, ..) = sorry_lab(&[1], (Ipv4Addr::new(198, 19, 0, 9), 8080));
        let id = c2.service(&k).unwrap().dests[0].id;
        let mut fresh = quorum::Quorums::default();
        fresh.weigh(&c2, &HashMap::new(), &HashMap::from([(id, false)]), &notify);
        assert_eq!(told().len(), 1, "with one");
    }

    /// Quorum 8 over two servers of weight 5 and a sorry server, checked by
    /// a `misc_dynamic` MISC_CHECK (whose weights the tests set).
    fn dynamic_quorum_lab() -> (Config, ServiceKey, DestId, DestId) {
        let (mut c, k, ids, _) = sorry_lab(&[5, 5], (Ipv4Addr::new(198, 19, 0, 9), 8080));
        let q = crate::config::Quorum {
            quorum: 8,
            hysteresis: 0,
        };
        c.set_service_quorum(&k, q).unwrap();
        let misc = crate::config::MiscCheck {
            path: crate::config::Script::parse("/bin/w").unwrap(),
            timeout: None,
            dynamic: true,
        };
        c.set_service_check(&k, Some(HealthCheck::new(CheckKind::Misc(misc))))
            .unwrap();
        (c, k, ids[0], ids[1])
    }

    /// keepalived's scenario: quorum 8, two servers of weight 5 whose
    /// `misc_dynamic` checks exit 4 (weight 2 each). The weights up sum to
    /// 4, below the quorum: it is lost and the sorry server serves, as
    /// keepalived's `update_quorum_state` compares the live sum against the
    /// quorum `validate_check_config` capped once by the configured weights
    /// (10). Capped by the set weights instead (4), the quorum held.
    #[test]
    fn the_quorum_is_capped_by_the_configured_weights_not_the_set_ones() {
        let (c, k, a, b) = dynamic_quorum_lab();
        let s_id = c.service(&k).unwrap().sorry.unwrap().id;
        let mon = Monitor::default();
        mon.set_targets(targets(&c), &c);
        let publish = |mon: &Monitor| {
            let down = mon.down();
            let (lost, run) = mon.weigh(&c, &down);
            let run = weights_of(&effective(&run, &down, &lost, false), &k);
            (lost, run)
        };
        assert_eq!(publish(&mon), (HashSet::new(), vec![(a, 5), (b, 5)]));
        let e = mon.epoch.load(Ordering::Acquire);
        assert!(mon.set_held_for(e, (HashMap::new(), HashMap::from([(a, 2), (b, 2)]))));
        assert_eq!(
            publish(&mon),
            (HashSet::from([k]), vec![(s_id, 1)]),
            "4 < 8"
        );
        // 5 + 4 = 9: back.
        assert!(mon.set_held_for(e, (HashMap::new(), HashMap::from([(a, 5), (b, 4)]))));
        assert_eq!(publish(&mon), (HashSet::new(), vec![(a, 5), (b, 4)]));
    }

    /// The quorum and the rules published are weighed at one reading of
    /// the weights: while the health thread sets them back and forth
    /// between 2 + 2 (4 < 8: lost) and 5 + 5, every publish that keeps its
    /// quorum runs the servers at 5, and one that lost it had them at 2.
    /// Read twice, a verdict set between the two readings published a
    /// service holding its quorum at 2 + 2, or lost at 5 + 5.
    #[test]
    fn the_quorum_and_the_rules_are_weighed_at_one_reading() {
        let (c, k, a, b) = dynamic_quorum_lab();
        let mon = Monitor::default();
        mon.set_targets(targets(&c), &c);
        let e = mon.epoch.load(Ordering::Acquire);
        let stop = std::sync::atomic::AtomicBool::new(false);
        let mixed = std::thread::scope(|sc| {
            sc.spawn(|| {
                for w in [2, 5].into_iter().cycle() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    assert!(mon.set_held_for(e, (HashMap::new(), HashMap::from([(a, w), (b, w)]))));
                }
            });
            let mut mixed = Vec::new();
            for _ in 0..20_000 {
                let (lost, run) = mon.weigh(&c, &HashMap::new());
                let w = weights_of(&run, &k);
                let want = if lost.is_empty() { 5 } else { 2 };
                if w != [(a, want), (b, want)] {
                    mixed.push((lost.is_empty(), w));
                }
            }
            stop.store(true, Ordering::Relaxed);
            mixed
        });
        let first = mixed.first();
        assert!(mixed.is_empty(), "{} mixed: {first:?}", mixed.len());
    }

    fn target(id: u32, alpha: bool) -> Target {
        let mut check = HealthCheck::new(CheckKind::Tcp);
        check.alpha = alpha;
        Target {
            service: ServiceKey::new(Proto::Tcp, Ipv4Addr::new(198, 18, 0, 110), 80),
            id: DestId(id),
            addr: Ipv4Addr::new(198, 19, 0, 2).into(),
            port: 80 + id as u16,
            rs_addr: Ipv4Addr::new(198, 19, 0, 2).into(),
            rs_port: 80 + id as u16,
            check,
            scripts: Scripts::default(),
        }
    }

    /// One check for a server and port checked alike by several services
    /// (a `virtual_server group`'s members): not for another port, another
    /// check, or a `MISC_CHECK` (its command is told the service).
    #[test]
    fn services_with_the_same_server_and_check_share_it() {
        let on = |port: u16, id: u32| {
            let mut p = probe(1);
            p.t.service.port = port;
            p.t.id = DestId(id);
            p
        };
        let mut probes = vec![on(80, 1), on(81, 2), on(82, 3)];
        let mut other_port = on(83, 4);
        other_port.t.port = 8080;
        let mut other_check = on(84, 5);
        other_check.t.check.delay_loop = 11;
        let misc = |id: u32| {
            let mut p = on(85, id);
            p.t.check.kind = CheckKind::Misc(crate::config::MiscCheck {
                path: crate::config::Script::parse("/bin/true").unwrap(),
                timeout: None,
                dynamic: false,
            });
            p
        };
        probes.extend([other_port, other_check, misc(6), misc(7), on(86, 8)]);
        // A check that names the port it checks (a mark's service of port
        // 0 has `--check-port`) is the check of that port that takes the
        // server's.
        let mut named = on(0, 9);
        named.t.check.port = Some(80);
        let mut named_other = on(0, 10);
        (named_other.t.check.port, named_other.t.port) = (Some(8080), 8080);
        probes.extend([named, named_other]);
        assert_eq!(share_groups(&probes), [0, 0, 0, 3, 4, 5, 6, 0, 0, 3]);
        assert!(share_groups(&[]).is_empty());
    }

    /// A `virtual_server group` with an address and a `fwmark` entry: its
    /// address service checks the servers on their own port, its mark's
    /// service (port 0) on the port it names (`--check-port 80`, as
    /// keepalived.conf's loader gives it); each server is sent one check a
    /// round for both, not one per service.
    #[test]
    fn a_groups_address_and_mark_services_check_each_server_once() {
        let (mut cfg, _) = tcp_lab(2, HealthCheck::new(CheckKind::Tcp));
        let m = ServiceKey::fwmark(1, false);
        cfg.add_service(m, Scheduler::Rr, None).unwrap();
        let servers = [Ipv4Addr::new(198, 19, 0, 2), Ipv4Addr::new(198, 19, 0, 3)];
        for rs in servers {
            cfg.add_dest(&m, rs, 80, 1).unwrap();
        }
        let on_80 = HealthCheck {
            port: Some(80),
            ..HealthCheck::new(CheckKind::Tcp)
        };
        cfg.set_service_check(&m, Some(on_80)).unwrap();
        assert_eq!(targets(&cfg).len(), 4, "each server of each service");
        with_checker(&cfg, &servers, |checker, _, _, _| {
            checker.round(Instant::now(), &|| {});
            let sent = &checker.stack.dev.out.tx.sent;
            let mut to: Vec<Ipv4Addr> = sent.iter().filter_map(|f| syn(f)).map(|s| s.1).collect();
            to.sort();
            assert_eq!(to, servers, "one SYN to each server");
        });
    }

    /// What is told to the notifier (keepalived's `update_svr_checker_state`):
    /// each change, and an `alpha` server's first result that leaves it down;
    /// not a server that starts up and passes, nor a repeated failure.
    #[test]
    fn changes_and_an_alpha_servers_first_failure_are_told() {
        let now = Instant::now();
        let step = |p: &mut Probe, o: Outcome| {
            let moved = verdict(p, o, now);
            to_tell(p, moved)
        };
        let mut p = probe(0);
        assert!(!step(&mut p, Outcome::Ok), "up, stays up");
        assert!(step(&mut p, Outcome::Refused), "down");
        assert!(!step(&mut p, Outcome::Refused));
        assert!(step(&mut p, Outcome::Ok), "back up");
        let alpha = || {
            let mut a = probe(0);
            a.t.check.alpha = true;
            a.up = false;
            a
        };
        let mut a = alpha();
        assert!(step(&mut a, Outcome::Refused), "first: down");
        assert!(!step(&mut a, Outcome::Refused), "once");
        assert!(step(&mut a, Outcome::Ok), "up");
        assert!(step(&mut alpha(), Outcome::Ok), "first: up");
    }

    /// A probe for a new server starts up, or down with `alpha`; one for
    /// a server whose check changed keeps the old probe's state.
    #[test]
    fn a_probe_starts_up_unless_alpha_or_known() {
        let old = |up| Probe {
            t: target(1, false),
            up,
            fails: 0,
            next: Instant::now(),
            flight: None,
            arp_wait: None,
            last_start: None,
            ran: false,
            failed_url: false,
            weight: None,
        };
        assert!(starts_up(&target(1, false), None));
        assert!(!starts_up(&target(1, true), None));
        assert!(starts_up(&target(1, true), Some(&old(true))));
        assert!(!starts_up(&target(1, false), Some(&old(false))));
    }

    /// keepalived's `alpha`: a new server is held down as soon as the
    /// control thread names it, before the health thread has a probe for
    /// it (so the first table never has it); one already checked keeps its
    /// verdict. A verdict the health thread reached for older targets is
    /// refused once the targets changed.
    #[test]
    fn alpha_holds_a_new_server_down_from_the_first_table() {
        let mon = Monitor::default();
        let c = Config::new();
        mon.set_targets(vec![target(1, false)], &c);
        assert!(mon.down().is_empty(), "without alpha a server starts up");
        let e = mon.epoch.load(Ordering::Acquire);
        assert!(mon.set_held_for(e, Held::default()));
        let mut inhibited = target(2, true);
        inhibited.check.inhibit_on_failure = true;
        mon.set_targets(vec![target(1, true), inhibited.clone()], &c);
        assert_eq!(mon.down(), HashMap::from([(DestId(2), true)]));
        assert!(
            !mon.set_held_for(e, Held::default()),
            "a verdict on the old targets would take it up"
        );
        assert_eq!(mon.down().len(), 1);
        let e = mon.epoch.load(Ordering::Acquire);
        assert!(mon.set_held_for(e, Held::default()));
        assert!(mon.down().is_empty(), "its check passed");
    }

    /// A checked server that leaves the rules while up is told down (a
    /// reload or `-d` removing it, keepalived's `clear_service_rs`); not one
    /// that was down already, nor one whose service only dropped its check;
    /// a service that leaves while it holds its quorum is told so too.
    #[test]
    fn servers_and_services_that_leave_while_up_are_told_down() {
        use crate::config::Script;
        let (notify, notes) = Notifier::channel();
        let mon = Monitor::with_notifier(notify.clone());
        let mut c = Config::new();
        let k = ServiceKey::new(Proto::Tcp, Ipv4Addr::new(198, 18, 0, 110), 80);
        c.add_service(k, Scheduler::Rr, None).unwrap();
        let rs = |n: u8| IpAddr::from(Ipv4Addr::new(198, 19, 0, n));
        for n in 2..=4 {
            c.add_dest(&k, rs(n), 80, 1).unwrap();
        }
        let down = Some(Script::parse("/bin/d").unwrap());
        for n in 2..=4 {
            let s = Scripts {
                down: down.clone(),
                ..Scripts::default()
            };
            c.set_dest_scripts(&k, rs(n), 80, s).unwrap();
        }
        let quorum = Scripts {
            down: Some(Script::parse("/bin/q").unwrap()),
            ..Scripts::default()
        };
        c.set_service_scripts(&k, quorum).unwrap();
        c.set_service_check(&k, Some(HealthCheck::new(CheckKind::Tcp)))
            .unwrap();
        mon.set_targets(targets(&c), &c);
        let id = |c: &Config, n: u8| c.service(&k).unwrap().dest(rs(n), 80).unwrap().id;
        // .3 is held down by its check.
        let e = mon.epoch.load(Ordering::Acquire);
        assert!(mon.set_held_for(e, (HashMap::from([(id(&c, 3), false)]), HashMap::new())));
        let lines = || {
            notes
                .try_iter()
                .map(|n| (n.line, n.script.is_some()))
                .collect::<Vec<_>>()
        };
        let _ = mon.weigh(&c, &mon.down());
        assert_eq!(lines(), []);
        // -d of .2 (up) and .3 (down): .2 is told, with its script.
        c.del_dest(&k, rs(2), 80).unwrap();
        c.del_dest(&k, rs(3), 80).unwrap();
        mon.set_targets(targets(&c), &c);
        assert_eq!(
            lines(),
            [(
                "RS [198.19.0.2]:tcp:80 [198.18.0.110]:tcp:80 DOWN\n".into(),
                true
            )]
        );
        // The check dropped: .4 stays in the rules, nothing is told.
        c.set_service_check(&k, None).unwrap();
        mon.set_targets(targets(&c), &c);
        assert_eq!(lines(), []);
        // The service goes while it holds its quorum (.4 up): told.
        c.set_service_check(&k, Some(HealthCheck::new(CheckKind::Tcp)))
            .unwrap();
        mon.set_targets(targets(&c), &c);
        let _ = mon.weigh(&c, &mon.down());
        c.del_service(&k).unwrap();
        mon.set_targets(targets(&c), &c);
        let _ = mon.weigh(&c, &mon.down());
        assert_eq!(
            lines(),
            [
                (
                    "RS [198.19.0.4]:tcp:80 [198.18.0.110]:tcp:80 DOWN\n".into(),
                    true
                ),
                ("VS [198.18.0.110]:tcp:80 DOWN\n".into(), true),
            ]
        );
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
        let e = eff(&c, &down, false);
        let s = e.service(&k).unwrap();
        assert_eq!(s.dests.len(), 1);
        assert_eq!((s.dests[0].id, s.dests[0].weight), (b, 0));
        let l = eff(&c, &down, true);
        let w: Vec<u32> = l
            .service(&k)
            .unwrap()
            .dests
            .iter()
            .map(|d| d.weight)
            .collect();
        assert_eq!(w, vec![0, 0]);
        assert_eq!(c, before);
        assert_eq!(eff(&c, &HashMap::new(), false), c);
    }

    #[test]
    fn the_sorry_server_serves_while_no_server_that_is_up_has_weight() {
        use crate::config::SorryOpts;
        let (mut c, k, ids, sorry) = sorry_lab(&[3, 0], (Ipv4Addr::new(198, 19, 0, 9), 8080));
        let a = ids[0];
        let id = c.service(&k).unwrap().sorry.unwrap().id;
        let sorry_in = |e: &Config| {
            let s = e.service(&k).unwrap();
            let d = s.dests.iter().find(|d| d.addr == sorry.addr);
            d.map(|d| (d.id, d.port, d.weight))
        };
        // A server up with weight: the quorum holds, no sorry server.
        assert_eq!(sorry_in(&eff(&c, &HashMap::new(), false)), None);
        // It fails its check (removed or inhibited): the one left up has
        // weight 0, so the sorry server comes in, listed too.
        for inhibit in [false, true] {
            let down = HashMap::from([(a, inhibit)]);
            assert_eq!(sorry_in(&eff(&c, &down, false)), Some((id, 8080, 1)));
            assert_eq!(sorry_in(&eff(&c, &down, true)), Some((id, 8080, 1)));
        }
        // So it does when every weight is 0 by configuration.
        c.edit_dest(&k, Ipv4Addr::new(198, 19, 0, 2), 80, 0)
            .unwrap();
        assert_eq!(
            sorry_in(&eff(&c, &HashMap::new(), false)),
            Some((id, 8080, 1))
        );
        // With sorry_server_inhibit it stays at weight 0 while not needed.
        c.edit_dest(&k, Ipv4Addr::new(198, 19, 0, 2), 80, 3)
            .unwrap();
        let inhibit = SorryOpts {
            inhibit: true,
            ..sorry
        };
        c.set_service_sorry(&k, Some(inhibit)).unwrap();
        let id = c.service(&k).unwrap().sorry.unwrap().id;
        assert_eq!(
            sorry_in(&eff(&c, &HashMap::new(), false)),
            Some((id, 8080, 0))
        );
        // The rules never hold it among the real servers.
        assert_eq!(sorry_in(&c), None);
    }

    /// A sorry server at a real server's address and port: that real
    /// server, held down, takes the sorry server's weight (keepalived's
    /// `s_svr_duplicates_rs`), in the table and the listing alike.
    #[test]
    fn a_sorry_server_at_a_real_servers_place_is_that_server() {
        let (c, k, ids, _) = sorry_lab(&[3], (Ipv4Addr::new(198, 19, 0, 2), 80));
        let a = ids[0];
        let weights = |e: &Config| weights_of(e, &k);
        // Down, inhibited: the server itself at weight 1, no second entry.
        let down = HashMap::from([(a, true)]);
        assert_eq!(weights(&eff(&c, &down, false)), [(a, 1)]);
        assert_eq!(weights(&eff(&c, &down, true)), [(a, 1)]);
        // Down, removed: the sorry server's own entry; listed as the server.
        let down = HashMap::from([(a, false)]);
        let id = c.service(&k).unwrap().sorry.unwrap().id;
        assert_eq!(weights(&eff(&c, &down, false)), [(id, 1)]);
        assert_eq!(weights(&eff(&c, &down, true)), [(a, 1)]);
    }
}
