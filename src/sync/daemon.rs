//! The connection-sync daemons (`ipvsadm --start-daemon master|backup`): a
//! thread each, on a kernel UDP socket bound to the sync interface, speaking
//! IPVS's sync protocol version 1 ([`super::wire`]) on a multicast group.
//!
//! * The **master** drains what every worker reported (`dataplane::sync`) each
//!   [`TICK`], packs the entries into messages of at most `maxlen` bytes and
//!   sends each message as one datagram. Under load a tick's entries fill
//!   whole messages; when little happens a message carries what one tick
//!   brought (IPVS holds a partly filled buffer for up to 2 s,
//!   `IPVS_SYNC_FLUSH_TIME`; ringvs sends it at the tick, trading a few more
//!   datagrams at low rates for a lag of milliseconds).
//! * The **backup** receives, checks each message strictly (`wire::parse`)
//!   and resolves each entry against the current rules: the service of its
//!   protocol, virtual address and port, the real server of its address and
//!   port. What resolves goes to the worker owning the client key (the same
//!   function as the fanout program, `Env::owner`) over a bounded channel;
//!   templates go into the shared persistence templates. Everything else is
//!   counted under its reason and dropped.
//!
//! Neither blocks a worker: a worker's report and install channels are
//! bounded and a full one is counted, on both sides.

use super::wire::{self, Daemon, MessageBuilder, SyncConn, flags};
use crate::config::Forward;
use crate::config::ipvsadm::{DaemonOpts, SyncRole};
use crate::dataplane::sync::{Install, SyncEntry, SyncPorts};
use crate::dataplane::{Env, Shared};
use crate::nat::State;
use crate::nat::persist::{TemplateDest, TemplateKey};
use socket2::{Domain, Protocol, Socket, Type};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the master drains the workers' reports.
pub const TICK: Duration = Duration::from_millis(10);
/// The interface of a daemon started without `--mcast-interface` (ipvsadm's
/// `DEF_MCAST_IFN`).
pub const DEFAULT_IFNAME: &str = "eth0";
/// How long the backup waits in `recv` before looking at its stop flag.
const RECV_WAIT: Duration = Duration::from_millis(50);

/// A running daemon's settings, with the defaults filled in (what
/// `ipvsadm -L --daemon` prints).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonConfig {
    pub role: SyncRole,
    pub ifname: String,
    pub syncid: u8,
    pub maxlen: usize,
    pub group: Ipv4Addr,
    pub port: u16,
    pub ttl: u8,
}

impl DaemonConfig {
    /// The line of `ipvsadm -L --daemon` (`list_daemon`, ipvsadm.c).
    pub fn line(&self) -> String {
        format!(
            "{} sync daemon (mcast={}, syncid={}, maxlen={}, group={}, port={}, ttl={})",
            self.role.name(),
            self.ifname,
            self.syncid,
            self.maxlen,
            self.group,
            self.port,
            self.ttl
        )
    }
}

/// What the daemons counted (both roles; read by `ringvs stats`).
#[derive(Debug, Default)]
pub struct SyncCounters {
    pub msgs_sent: AtomicU64,
    pub conns_sent: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub send_errors: AtomicU64,
    pub msgs_received: AtomicU64,
    pub bytes_received: AtomicU64,
    pub conns_received: AtomicU64,
    pub conns_queued: AtomicU64,
    pub templates_installed: AtomicU64,
    /// Dropped messages and entries by reason (`wire`'s error kinds, and the
    /// resolution's: `unknown_service`, `unknown_dest`, `method_differs`,
    /// `not_persistent`, `template_kept_or_full`, `queue_full`, `bad_state`,
    /// `no_worker`; and `recv_error`).
    drops: Mutex<BTreeMap<&'static str, u64>>,
}

impl SyncCounters {
    fn dropped(&self, why: &'static str) {
        let mut d = self.drops.lock().unwrap_or_else(|e| e.into_inner());
        *d.entry(why).or_default() += 1;
    }

    /// Drops by reason.
    pub fn drops(&self) -> BTreeMap<&'static str, u64> {
        self.drops.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Every counter by name, drops as `drop_REASON`.
    pub fn all(&self) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for (k, v) in [
            ("msgs_sent", &self.msgs_sent),
            ("conns_sent", &self.conns_sent),
            ("bytes_sent", &self.bytes_sent),
            ("send_errors", &self.send_errors),
            ("msgs_received", &self.msgs_received),
            ("bytes_received", &self.bytes_received),
            ("conns_received", &self.conns_received),
            ("conns_queued", &self.conns_queued),
            ("templates_installed", &self.templates_installed),
        ] {
            m.insert(k.to_string(), v.load(Ordering::Relaxed));
        }
        for (k, v) in self.drops() {
            m.insert(format!("drop_{k}"), v);
        }
        m
    }
}

/// Why a daemon could not start or stop (ipvsadm's messages where it has one).
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// libipvs's message for `EEXIST` on start.
    #[error("Daemon has already run")]
    Running,
    /// libipvs's message for `ESRCH` on stop.
    #[error("No daemon is running")]
    NotRunning,
    #[error("sync interface {0}: no such device")]
    NoDevice(String),
    #[error(
        "sync interface {0} has no IPv4 address (the sync link needs a kernel address; the service NICs keep none)"
    )]
    NoAddress(String),
    #[error("sync socket on {ifname}: {err}")]
    Socket { ifname: String, err: std::io::Error },
}

/// A running daemon: its settings, stop flag and thread.
struct Running {
    config: DaemonConfig,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The daemons of one director: at most one master and one backup (both may
/// run at once, as in IPVS).
pub struct Daemons {
    shared: Arc<Shared>,
    env: Arc<Env>,
    ports: Arc<SyncPorts>,
    /// The workers' clock origin (persistence templates count from it).
    start: Instant,
    pub counters: Arc<SyncCounters>,
    master: Option<Running>,
    backup: Option<Running>,
}

impl Daemons {
    pub fn new(shared: Arc<Shared>, env: Arc<Env>, ports: SyncPorts, start: Instant) -> Self {
        Self {
            shared,
            env,
            ports: Arc::new(ports),
            start,
            counters: Arc::default(),
            master: None,
            backup: None,
        }
    }

    /// The running daemons' settings, master first.
    pub fn list(&self) -> Vec<DaemonConfig> {
        [&self.master, &self.backup]
            .into_iter()
            .flatten()
            .map(|r| r.config.clone())
            .collect()
    }

    /// `--start-daemon`.
    pub fn start(&mut self, o: &DaemonOpts) -> Result<DaemonConfig, DaemonError> {
        let slot = match o.role {
            SyncRole::Master => &self.master,
            SyncRole::Backup => &self.backup,
        };
        if slot.is_some() {
            return Err(DaemonError::Running);
        }
        // ipvsadm sends `eth0` when no interface is named (`DEF_MCAST_IFN`).
        let ifname = if o.mcast_ifn.is_empty() {
            DEFAULT_IFNAME
        } else {
            &o.mcast_ifn
        };
        let nic = crate::io::nic::discover(ifname)
            .map_err(|_| DaemonError::NoDevice(ifname.to_string()))?;
        let addr = crate::io::nic::ipv4_addr(ifname)
            .ok_or_else(|| DaemonError::NoAddress(ifname.to_string()))?;
        let daemon = match o.role {
            SyncRole::Master => Daemon::Master,
            SyncRole::Backup => Daemon::Backup,
        };
        let config = DaemonConfig {
            role: o.role,
            ifname: ifname.to_string(),
            syncid: o.syncid,
            maxlen: wire::sync_maxlen(u32::from(o.maxlen.unwrap_or(0)), nic.mtu as u32, daemon),
            group: o.group.unwrap_or(wire::DEFAULT_GROUP),
            port: o.port.unwrap_or(wire::DEFAULT_PORT),
            ttl: o.ttl.unwrap_or(wire::DEFAULT_TTL),
        };
        let sock_err = |err| DaemonError::Socket {
            ifname: config.ifname.clone(),
            err,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let thread = match o.role {
            SyncRole::Master => {
                let sock = master_socket(&config, addr).map_err(sock_err)?;
                let m = Master {
                    sock,
                    config: config.clone(),
                    ports: Arc::clone(&self.ports),
                    counters: Arc::clone(&self.counters),
                    stop: Arc::clone(&stop),
                };
                // Reports left from an earlier master are stale.
                for r in &self.ports.reports {
                    while r.try_recv().is_ok() {}
                }
                spawn("ringvs-sync-m", move || m.run())
            }
            SyncRole::Backup => {
                let sock = backup_socket(&config, addr).map_err(sock_err)?;
                let b = Backup {
                    sock,
                    config: config.clone(),
                    shared: Arc::clone(&self.shared),
                    env: Arc::clone(&self.env),
                    ports: Arc::clone(&self.ports),
                    counters: Arc::clone(&self.counters),
                    stop: Arc::clone(&stop),
                    start: self.start,
                };
                spawn("ringvs-sync-b", move || b.run())
            }
        }
        .map_err(sock_err)?;
        let running = Running {
            config: config.clone(),
            stop,
            thread: Some(thread),
        };
        match o.role {
            SyncRole::Master => {
                self.master = Some(running);
                // Only now do the workers report: a daemon drains them.
                self.shared.ha.set_master(true);
                self.shared.bump();
            }
            SyncRole::Backup => self.backup = Some(running),
        }
        Ok(config)
    }

    /// `--stop-daemon`.
    pub fn stop(&mut self, role: SyncRole) -> Result<(), DaemonError> {
        let slot = match role {
            SyncRole::Master => &mut self.master,
            SyncRole::Backup => &mut self.backup,
        };
        let running = slot.take().ok_or(DaemonError::NotRunning)?;
        if role == SyncRole::Master {
            self.shared.ha.set_master(false);
            self.shared.bump();
        }
        drop(running);
        Ok(())
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name(name.into()).spawn(f)
}

/// The master's socket: bound to the sync interface (and its address), to
/// the group and port, with the TTL and without loopback of its own messages.
fn master_socket(c: &DaemonConfig, addr: Ipv4Addr) -> std::io::Result<UdpSocket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.bind_device(Some(c.ifname.as_bytes()))?;
    s.set_multicast_if_v4(&addr)?;
    s.set_multicast_ttl_v4(u32::from(c.ttl))?;
    s.set_multicast_loop_v4(false)?;
    s.bind(&SocketAddrV4::new(addr, 0).into())?;
    s.connect(&SocketAddrV4::new(c.group, c.port).into())?;
    Ok(s.into())
}

/// The backup's socket: the group's port on the sync interface, joined to
/// the group there (as IPVS's `make_receive_sock` binds the group address).
fn backup_socket(c: &DaemonConfig, addr: Ipv4Addr) -> std::io::Result<UdpSocket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    s.bind_device(Some(c.ifname.as_bytes()))?;
    s.bind(&SocketAddrV4::new(c.group, c.port).into())?;
    s.join_multicast_v4(&c.group, &addr)?;
    s.set_read_timeout(Some(RECV_WAIT))?;
    s.set_recv_buffer_size(4 << 20)?;
    Ok(s.into())
}

struct Master {
    sock: UdpSocket,
    config: DaemonConfig,
    ports: Arc<SyncPorts>,
    counters: Arc<SyncCounters>,
    stop: Arc<AtomicBool>,
}

impl Master {
    fn run(self) {
        let mut buf = vec![0u8; self.config.maxlen.max(wire::MIN_BUFFER)];
        let Ok(mut msg) = MessageBuilder::new(&mut buf, self.config.maxlen, self.config.syncid)
        else {
            eprintln!(
                "ringvs: sync master: maxlen {} is too small",
                self.config.maxlen
            );
            return;
        };
        // Drain once per tick on a fixed schedule (not "again at once if
        // something came"): a steady trickle of reports still makes one
        // message per tick, not one datagram per entry.
        let mut next = Instant::now();
        while !self.stop.load(Ordering::Relaxed) {
            for r in &self.ports.reports {
                // What is there now; later reports wait for the next tick.
                for e in r.try_iter().take(r.capacity().unwrap_or(0)) {
                    let c = to_wire(&e);
                    if msg.push(&c).is_err() {
                        self.send(msg.as_bytes(), msg.nr_conns());
                        msg.clear();
                        // An entry always fits an empty message (`MIN_BUFFER`).
                        let _ = msg.push(&c);
                    }
                }
            }
            if !msg.is_empty() {
                self.send(msg.as_bytes(), msg.nr_conns());
                msg.clear();
            }
            next += TICK;
            let now = Instant::now();
            match next.checked_duration_since(now) {
                Some(d) => std::thread::sleep(d),
                // Behind (a long drain): start a new schedule from now.
                None => next = now,
            }
        }
    }

    fn send(&self, bytes: &[u8], n: u8) {
        let c = &self.counters;
        match self.sock.send(bytes) {
            Ok(len) => {
                c.msgs_sent.fetch_add(1, Ordering::Relaxed);
                c.conns_sent.fetch_add(u64::from(n), Ordering::Relaxed);
                c.bytes_sent.fetch_add(len as u64, Ordering::Relaxed);
            }
            Err(_) => {
                c.send_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// A worker's report as a sync entry: masquerading, the state's IPVS number,
/// `INACTIVE` unless established (see `SyncConn::nat_flags`).
pub fn to_wire(e: &SyncEntry) -> SyncConn {
    SyncConn {
        proto: e.proto,
        flags: SyncConn::nat_flags(e.template, e.state) | fwd_bits(e.forward),
        state: if e.template {
            0
        } else {
            wire::state_to_ipvs(e.state)
        },
        caddr: Ipv4Addr::from(e.client.0),
        cport: e.client.1,
        vaddr: Ipv4Addr::from(e.vip.0),
        vport: e.vip.1,
        daddr: Ipv4Addr::from(e.rip.0),
        dport: e.rip.1,
        fwmark: 0,
        timeout: e.timeout,
        seq: None,
    }
}

/// IPVS's forwarding-method bits (`IP_VS_CONN_F_MASQ`, `_DROUTE`, `_TUNNEL`).
fn fwd_bits(f: Forward) -> u32 {
    match f {
        Forward::Masq => flags::MASQ,
        Forward::Route => flags::DROUTE,
        Forward::Tunnel(_) => flags::TUNNEL,
    }
}

struct Backup {
    sock: UdpSocket,
    config: DaemonConfig,
    shared: Arc<Shared>,
    env: Arc<Env>,
    ports: Arc<SyncPorts>,
    counters: Arc<SyncCounters>,
    stop: Arc<AtomicBool>,
    start: Instant,
}

impl Backup {
    fn run(self) {
        let mut buf = vec![0u8; self.config.maxlen.max(wire::MIN_BUFFER)];
        while !self.stop.load(Ordering::Relaxed) {
            let n = match self.sock.recv(&mut buf) {
                Ok(n) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                    ) =>
                {
                    continue;
                }
                // The interface went away, or worse: count, and do not spin.
                Err(_) => {
                    self.counters.dropped("recv_error");
                    std::thread::sleep(RECV_WAIT);
                    continue;
                }
            };
            self.message(&buf[..n]);
        }
    }

    /// One datagram.
    fn message(&self, datagram: &[u8]) {
        let c = &self.counters;
        c.bytes_received
            .fetch_add(datagram.len() as u64, Ordering::Relaxed);
        let entries = match wire::parse(datagram, self.config.syncid) {
            Ok(e) => e,
            Err(e) => return c.dropped(e.kind()),
        };
        c.msgs_received.fetch_add(1, Ordering::Relaxed);
        let snap = self.shared.config.load();
        for e in entries {
            match e {
                Ok(conn) => {
                    c.conns_received.fetch_add(1, Ordering::Relaxed);
                    if let Err(why) = self.entry(&snap, &conn) {
                        c.dropped(why);
                    }
                }
                Err(e) => {
                    c.dropped(e.kind());
                    if e.ends_message() {
                        return;
                    }
                }
            }
        }
    }

    /// One entry: resolved against the rules and handed on, or why not.
    /// Only the IPv4 services are looked up (`Snapshot::services`): syncing
    /// IPv6 connections, and real servers of the other family, is pending
    /// (issue 15), as is refusing to start while such servers exist
    /// (`Config::has_mixed_families`, IPVS's `ip_vs_genl_new_daemon`).
    fn entry(&self, snap: &crate::nat::Snapshot, c: &SyncConn) -> Result<(), &'static str> {
        let (vaddr, daddr) = (u32::from(c.vaddr), u32::from(c.daddr));
        let (svc_id, svc) = snap
            .service_for(c.proto, vaddr, c.vport)
            .ok_or("unknown_service")?;
        let dest = svc
            .dests
            .iter()
            .find(|d| d.addr == daddr && (d.port == c.dport || d.port == 0))
            .ok_or("unknown_dest")?;
        // The backup's own server must be reached the way the master's is.
        if c.flags & flags::FWD_MASK != fwd_bits(dest.forward) {
            return Err("method_differs");
        }
        if c.is_template() {
            let p = svc.persist.ok_or("not_persistent")?;
            let now = self.start.elapsed().as_secs() as u32;
            let key = TemplateKey {
                svc: svc_id,
                client: u32::from(c.caddr) & p.mask,
            };
            let to = TemplateDest {
                id: dest.id,
                addr: dest.addr,
                port: dest.port,
            };
            // An active director's own templates win (as its connections do):
            // it only extends one to the same server.
            let replace = self.shared.ha.standby();
            let expires = now.saturating_add(c.timeout.min(p.timeout));
            if !self
                .shared
                .templates
                .install(key, to, p.mask, expires, replace)
            {
                return Err("template_kept_or_full");
            }
            self.counters
                .templates_installed
                .fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let state = c.nat_state().ok_or("bad_state")?;
        if state == State::None {
            return Err("bad_state");
        }
        let client = (u32::from(c.caddr), c.cport);
        let install = Install {
            entry: SyncEntry {
                proto: c.proto,
                client,
                vip: (vaddr, c.vport),
                rip: (daddr, c.dport),
                state,
                template: false,
                timeout: c.timeout,
                forward: dest.forward,
            },
            dest: dest.id,
        };
        let owner = self.env.owner(client, self.ports.installs.len());
        let q = self.ports.installs.get(owner).ok_or("no_worker")?;
        q.try_send(install).map_err(|_| "queue_full")?;
        self.counters.conns_queued.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A worker's report goes out as IPVS would send the same connection,
    /// and a backup parses it back to the same report.
    #[test]
    fn reports_go_out_in_ipvs_terms_and_come_back() {
        let e = SyncEntry {
            proto: 6,
            client: (0xc612_0001, 40000),
            vip: (0xc612_006e, 80),
            rip: (0xc613_0002, 8080),
            state: State::Established,
            template: false,
            timeout: 900,
            forward: Forward::Masq,
        };
        let c = to_wire(&e);
        assert_eq!(c.flags, flags::MASQ, "established: not INACTIVE");
        assert_eq!(c.state, 1, "IP_VS_TCP_S_ESTABLISHED");
        let mut buf = vec![0u8; 1472];
        let mut m = MessageBuilder::new(&mut buf, 1472, 7).expect("buffer");
        m.push(&c).expect("fits");
        let bytes = m.as_bytes().to_vec();
        let back: Vec<SyncConn> = wire::parse(&bytes, 7)
            .expect("message")
            .map(|r| r.expect("entry"))
            .collect();
        assert_eq!(back, vec![c]);
        assert_eq!(back[0].nat_state(), Some(State::Established));
        let t = to_wire(&SyncEntry {
            template: true,
            state: State::None,
            ..e
        });
        assert!(t.is_template());
        assert_eq!(t.state, 0);
        // DR and TUN connections carry IPVS's method bits.
        let dr = to_wire(&SyncEntry {
            forward: Forward::Route,
            ..e
        });
        assert_eq!(dr.flags & flags::FWD_MASK, flags::DROUTE);
        let tun = to_wire(&SyncEntry {
            forward: Forward::Tunnel(crate::config::Tunnel::IPIP),
            ..e
        });
        assert_eq!(tun.flags & flags::FWD_MASK, flags::TUNNEL);
    }

    #[test]
    fn daemon_lines_are_ipvsadms() {
        let c = DaemonConfig {
            role: SyncRole::Backup,
            ifname: "sync0".into(),
            syncid: 7,
            maxlen: 1472,
            group: wire::DEFAULT_GROUP,
            port: wire::DEFAULT_PORT,
            ttl: 1,
        };
        assert_eq!(
            c.line(),
            "backup sync daemon (mcast=sync0, syncid=7, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)"
        );
    }
}
