//! The connection-sync daemons (`ipvsadm --start-daemon master|backup`): a
//! thread each, on a kernel UDP socket bound to the sync interface, speaking
//! IPVS's sync protocol version 1 ([`super::wire`]) on a multicast group (the
//! backup also takes version 0 from a kernel master set to send it).
//!
//! * The **master** drains what every worker reported (`dataplane::sync`) each
//!   [`TICK`], packs the entries into messages of at most `maxlen` bytes and
//!   sends each message as one datagram. Under load a tick's entries fill
//!   whole messages; when little happens a message carries what one tick
//!   brought (IPVS holds a partly filled buffer for up to 2 s,
//!   `IPVS_SYNC_FLUSH_TIME`; ringvs sends it at the tick, trading a few more
//!   datagrams at low rates for a lag of milliseconds).
//! * The **backup** receives, checks each message strictly (`wire::parse`,
//!   which reads version-0 messages into the same entries as version 1's)
//!   and resolves each entry against the current rules: the service of its
//!   protocol, virtual address and port, the real server of its address and
//!   port. What resolves goes to the worker owning the client key (the same
//!   function as the fanout program, `Env::owner`, or `Env::owner6` for an
//!   IPv6 client) over a bounded channel; templates go into the shared
//!   persistence templates. Everything else is counted under its reason and
//!   dropped.
//!
//! Both families take one code path: what differs (the address types, the
//! rules' maps, the owner function, the channels) is `super::family`.
//!
//! Neither blocks a worker: a worker's report and install channels are
//! bounded and a full one is counted, on both sides.

use super::family::{Family, to_wire};
pub use super::intake::Intake;
use super::socket::{self, Via};
use super::wire::{self, AnyConn, Daemon, MessageBuilder, SyncConn};
use crate::config::ipvsadm::{DaemonOpts, SyncRole};
use crate::dataplane::sync::{PeReport, SyncEntry, SyncPorts};
use crate::dataplane::{Env, Shared};
use crate::io::sockopt;
use crossbeam_channel::Receiver;
use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the master drains the workers' reports.
pub const TICK: Duration = Duration::from_millis(10);
/// The interface of a daemon started without `--mcast-interface` (ipvsadm's
/// `DEF_MCAST_IFN`).
pub const DEFAULT_IFNAME: &str = "eth0";
/// How long the backup waits for its sockets before looking at its stop
/// flag.
const RECV_WAIT: Duration = Duration::from_millis(50);
/// Datagrams the backup takes from one ready socket before it looks at the
/// others.
const RECV_BURST: usize = 64;
/// The most ports a daemon uses (`sync_ports`), IPVS's `IPVS_SYNC_PORTS_MAX`
/// (`include/net/ip_vs.h`).
pub const SYNC_PORTS_MAX: u8 = 64;

/// `ringvs run --sync-ports N`: a power of two, the values IPVS's
/// `proc_do_sync_ports` (`ip_vs_ctl.c`) accepts for `sync_ports` (another is
/// an error, as the sysctl refuses it with `EINVAL`); more than
/// [`SYNC_PORTS_MAX`] counts as that many, as `start_sync_thread` clamps it.
pub fn parse_sync_ports(s: &str) -> Result<u8, String> {
    let n: u32 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number"))?;
    if !n.is_power_of_two() {
        return Err(format!(
            "{n} is not a power of two (IPVS's sync_ports takes 1, 2, 4, 8, ...; more than {SYNC_PORTS_MAX} counts as {SYNC_PORTS_MAX})"
        ));
    }
    Ok(n.min(u32::from(SYNC_PORTS_MAX)) as u8)
}

/// A running daemon's settings, with the defaults filled in (what
/// `ipvsadm -L --daemon` prints).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonConfig {
    pub role: SyncRole,
    pub ifname: String,
    pub syncid: u8,
    pub maxlen: usize,
    /// The group, IPv4 or IPv6: the family the daemon syncs over.
    pub group: IpAddr,
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
    /// Of `msgs_received`, those of version 0 (a kernel master with
    /// `net.ipv4.vs.sync_version=0`).
    pub msgs_received_v0: AtomicU64,
    pub bytes_received: AtomicU64,
    pub conns_received: AtomicU64,
    pub conns_queued: AtomicU64,
    pub templates_installed: AtomicU64,
    /// Dropped messages and entries by reason (`wire`'s error kinds, and the
    /// resolution's: `unknown_service`, `unknown_dest`, `method_differs`,
    /// `not_persistent`, `dest_changed`, `template_kept_or_full`,
    /// `queue_full`, `bad_state`, `no_worker`, `ipv6_off`,
    /// `no_template_table`; and `recv_error`).
    drops: Mutex<BTreeMap<&'static str, u64>>,
}

impl SyncCounters {
    pub(super) fn dropped(&self, why: &'static str) {
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
            ("msgs_received_v0", &self.msgs_received_v0),
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
        "sync interface {0} has IPv6 off (an IPv6 group needs the kernel's IPv6 on the sync link: net.ipv6.conf.{0}.disable_ipv6=0)"
    )]
    NoIpv6(String),
    #[error("sync socket on {ifname}: {err}")]
    Socket { ifname: String, err: std::io::Error },
}

/// The address an IPv4 master binds ([`socket::master_source`]); without
/// one anywhere, `0.0.0.0` and a warning, as IPVS's `bind_mcastif_addr`
/// logs one and binds it: the master still starts, its messages leaving
/// with whatever source the kernel picks.
fn master_bind(ifname: &str) -> Ipv4Addr {
    socket::master_source(ifname, &crate::io::nic::ipv4_addrs()).unwrap_or_else(|| {
        crate::log!(
            "ringvs: sync interface {ifname}: no IPv4 address to send from, on it or on any \
             other interface; the master binds 0.0.0.0 (the sync link probably needs an IPv4 \
             address)"
        );
        Ipv4Addr::UNSPECIFIED
    })
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
        // The group's family is the link's (IPVS's `mcast_af`; IPv4 without
        // `--mcast-group`).
        let group = o.group.unwrap_or(wire::DEFAULT_GROUP.into());
        let via = match group {
            IpAddr::V4(group) => Via::V4 {
                group,
                index: nic.index as u32,
                bind: match o.role {
                    SyncRole::Master => master_bind(ifname),
                    SyncRole::Backup => Ipv4Addr::UNSPECIFIED,
                },
            },
            IpAddr::V6(group) if crate::io::nic::ipv6_on(ifname) => Via::V6 {
                group,
                index: nic.index as u32,
            },
            IpAddr::V6(_) => return Err(DaemonError::NoIpv6(ifname.to_string())),
        };
        let daemon = match o.role {
            SyncRole::Master => Daemon::Master,
            SyncRole::Backup => Daemon::Backup,
        };
        let requested = u32::from(o.maxlen.unwrap_or(0));
        let config = DaemonConfig {
            role: o.role,
            ifname: ifname.to_string(),
            syncid: o.syncid,
            maxlen: wire::sync_maxlen(requested, nic.mtu as u32, daemon, group.is_ipv6()),
            group,
            port: o.port.unwrap_or(wire::DEFAULT_PORT),
            ttl: o.ttl.unwrap_or(wire::DEFAULT_TTL),
        };
        let sock_err = |err| DaemonError::Socket {
            ifname: config.ifname.clone(),
            err,
        };
        let stop = Arc::new(AtomicBool::new(false));
        // `sync_ports` is fixed for the life of `ringvs run`, so both
        // daemons use the count the first one started with, as the kernel's
        // second daemon takes the running one's (`threads_mask`).
        let socks = sockets(o.role, &config, via, self.env.sysctl.sync_ports).map_err(sock_err)?;
        let thread = match o.role {
            SyncRole::Master => {
                let m = Master {
                    socks,
                    config: config.clone(),
                    ports: Arc::clone(&self.ports),
                    counters: Arc::clone(&self.counters),
                    stop: Arc::clone(&stop),
                };
                // Reports left from an earlier master are stale.
                drain(&self.ports.reports);
                drain(&self.ports.reports6);
                drain(&self.ports.pe_reports);
                spawn("ringvs-sync-m", move || m.run())
            }
            SyncRole::Backup => {
                let b = Backup {
                    socks,
                    maxlen: config.maxlen,
                    stop: Arc::clone(&stop),
                    intake: Intake {
                        syncid: config.syncid,
                        shared: Arc::clone(&self.shared),
                        env: Arc::clone(&self.env),
                        ports: Arc::clone(&self.ports),
                        counters: Arc::clone(&self.counters),
                        start: self.start,
                    },
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

/// A daemon's sockets, one a port: `count` of them (`sync_ports`, at most
/// [`SYNC_PORTS_MAX`]), socket `i` on the group's port + `i`, as
/// `start_sync_thread` makes one a thread (`make_send_sock`,
/// `make_receive_sock` with the thread's id).
fn sockets(
    role: SyncRole,
    c: &DaemonConfig,
    via: Via,
    count: u8,
) -> std::io::Result<Vec<UdpSocket>> {
    (0..u16::from(count.clamp(1, SYNC_PORTS_MAX)))
        .map(|id| match role {
            SyncRole::Master => socket::master(c, via, id),
            SyncRole::Backup => socket::backup(c, via, id),
        })
        .collect()
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name(name.into()).spawn(f)
}

/// The master daemon: its sockets, one a port (`sync_ports`: socket `i`
/// sends to the group's port + `i`).
struct Master {
    socks: Vec<UdpSocket>,
    config: DaemonConfig,
    ports: Arc<SyncPorts>,
    counters: Arc<SyncCounters>,
    stop: Arc<AtomicBool>,
}

impl Master {
    fn run(self) {
        let (maxlen, syncid) = (self.config.maxlen, self.config.syncid);
        let mut bufs = vec![vec![0u8; maxlen.max(wire::MIN_BUFFER)]; self.socks.len()];
        let msgs: Result<Vec<_>, _> = bufs
            .iter_mut()
            .map(|b| MessageBuilder::new(b, maxlen, syncid))
            .collect();
        let Ok(mut msgs) = msgs else {
            crate::log!("ringvs: sync master: maxlen {maxlen} is too small");
            return;
        };
        // Drain once per tick on a fixed schedule (not "again at once if
        // something came"): a steady trickle of reports still makes one
        // message per tick and port, not one datagram per entry.
        let mut next = Instant::now();
        while !self.stop.load(Ordering::Relaxed) {
            let mut send = |i: usize, m: &MessageBuilder| self.send(i, m.as_bytes(), m.nr_conns());
            tick(&self.ports, &mut msgs, &mut send);
            next += TICK;
            let now = Instant::now();
            match next.checked_duration_since(now) {
                Some(d) => std::thread::sleep(d),
                // Behind (a long drain): start a new schedule from now.
                None => next = now,
            }
        }
    }

    /// Sends a message out of socket `i` (to the group's port + `i`).
    fn send(&self, i: usize, bytes: &[u8], n: u8) {
        let c = &self.counters;
        match self.socks.get(i).map(|s| s.send(bytes)) {
            Some(Ok(len)) => {
                c.msgs_sent.fetch_add(1, Ordering::Relaxed);
                c.conns_sent.fetch_add(u64::from(n), Ordering::Relaxed);
                c.bytes_sent.fetch_add(len as u64, Ordering::Relaxed);
            }
            _ => {
                c.send_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Which of `n` ports a connection's entries go to (`sync_ports`): a hash of
/// what names the connection, so that every entry of one connection takes
/// one port and reaches the backup in order, as IPVS's
/// `select_master_thread_id` (`ip_vs_sync.c`) picks a master thread by the
/// connection (its `ip_vs_conn`'s address, masked by `threads_mask`). A
/// template is an entry of its own and may take another port than its
/// connections, as there. The hash is this process's own: the backup
/// receives on every port and needs no part of it.
fn port_of<A: Hash>(c: &SyncConn<A>, n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    let mut h = DefaultHasher::new();
    (
        c.proto,
        c.is_template(),
        &c.caddr,
        c.cport,
        &c.vaddr,
        c.vport,
    )
        .hash(&mut h);
    (h.finish() % n as u64) as usize
}

fn port_of_any(c: &AnyConn, n: usize) -> usize {
    match c {
        AnyConn::V4(c) => port_of(c, n),
        AnyConn::V6(c) => port_of(c, n),
    }
}

/// One tick of a master daemon: what the workers of both families
/// reported, packed into messages, one being filled per port (`msgs[i]` goes
/// to port + `i`, [`port_of`]); each full one and then the last of each port
/// handed to `send` with its port's index.
fn tick(
    ports: &SyncPorts,
    msgs: &mut [MessageBuilder],
    send: &mut impl FnMut(usize, &MessageBuilder),
) {
    pack::<Ipv4Addr>(&ports.reports, msgs, send);
    pack::<Ipv6Addr>(&ports.reports6, msgs, send);
    for r in &ports.pe_reports {
        for rep in r.try_iter().take(r.capacity().unwrap_or(0)) {
            let c = match rep {
                PeReport::V4(e, d) => AnyConn::V4(SyncConn {
                    pe: Some(d),
                    ..to_wire::<Ipv4Addr>(&e)
                }),
                PeReport::V6(e, d) => AnyConn::V6(SyncConn {
                    pe: Some(d),
                    ..to_wire::<Ipv6Addr>(&e)
                }),
            };
            let i = port_of_any(&c, msgs.len());
            push_or_send(i, msgs, send, |m| m.push_any(&c));
        }
    }
    for (i, msg) in msgs.iter_mut().enumerate() {
        if !msg.is_empty() {
            send(i, msg);
            msg.clear();
        }
    }
}

/// The datagrams a master daemon with `syncid` and `maxlen` would send of
/// what the workers reported on `ports` so far, with one port: its packing
/// without its socket and schedule (as [`Intake`] is the backup's without
/// its socket).
pub fn messages(
    ports: &SyncPorts,
    syncid: u8,
    maxlen: usize,
) -> Result<Vec<Vec<u8>>, wire::BufferTooSmall> {
    let m = messages_on(ports, syncid, maxlen, 1)?;
    Ok(m.into_iter().map(|(_, d)| d).collect())
}

/// [`messages`] with `count` ports (`sync_ports`): each datagram with the
/// index of its port (sent to the group's port + the index).
pub fn messages_on(
    ports: &SyncPorts,
    syncid: u8,
    maxlen: usize,
    count: usize,
) -> Result<Vec<(usize, Vec<u8>)>, wire::BufferTooSmall> {
    let mut bufs = vec![vec![0u8; maxlen.max(wire::MIN_BUFFER)]; count.max(1)];
    let mut msgs = bufs
        .iter_mut()
        .map(|b| MessageBuilder::new(b, maxlen, syncid))
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::new();
    tick(ports, &mut msgs, &mut |i, m: &MessageBuilder| {
        out.push((i, m.as_bytes().to_vec()))
    });
    Ok(out)
}

/// Packs what the workers reported on `reports` (what is there now; later
/// reports wait for the next tick) into the message of each entry's port,
/// handing each full message to `send` and starting the next.
fn pack<A: Family + Hash>(
    reports: &[Receiver<SyncEntry<A::Nat>>],
    msgs: &mut [MessageBuilder],
    send: &mut impl FnMut(usize, &MessageBuilder),
) {
    for r in reports {
        for e in r.try_iter().take(r.capacity().unwrap_or(0)) {
            let c = to_wire::<A>(&e);
            let i = port_of(&c, msgs.len());
            push_or_send(i, msgs, send, |m| m.push(&c));
        }
    }
}

/// Empties `channels` (a new master's stale reports).
fn drain<T>(channels: &[Receiver<T>]) {
    for r in channels {
        while r.try_recv().is_ok() {}
    }
}

/// Pushes an entry into `msgs[i]` with `push`, or, when it is full, hands
/// it to `send` and pushes into the next (an entry always fits an empty
/// message, `MIN_BUFFER`).
fn push_or_send(
    i: usize,
    msgs: &mut [MessageBuilder],
    send: &mut impl FnMut(usize, &MessageBuilder),
    push: impl Fn(&mut MessageBuilder) -> Result<(), wire::Full>,
) {
    let Some(msg) = msgs.get_mut(i) else {
        return;
    };
    if push(msg).is_err() {
        send(i, msg);
        msg.clear();
        let _ = push(msg);
    }
}

/// The backup daemon: its sockets, one a port (`sync_ports`), and its
/// intake.
struct Backup {
    socks: Vec<UdpSocket>,
    maxlen: usize,
    stop: Arc<AtomicBool>,
    intake: Intake,
}

impl Backup {
    /// Waits on every port at once (one `poll(2)` over the sockets, as the
    /// kernel's threads each wait on their own) and takes what the ready
    /// ones hold.
    fn run(self) {
        let mut buf = vec![0u8; self.maxlen.max(wire::MIN_BUFFER)];
        let mut set = sockopt::Readable::new(&self.socks);
        let wait = RECV_WAIT.as_millis() as i32;
        while !self.stop.load(Ordering::Relaxed) {
            match set.wait(wait) {
                Ok(0) => continue,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                // Not a state a poll of open sockets reaches: count, and do
                // not spin.
                Err(_) => {
                    self.intake.counters.dropped("recv_error");
                    std::thread::sleep(RECV_WAIT);
                    continue;
                }
            }
            for (i, sock) in self.socks.iter().enumerate() {
                if set.ready(i) {
                    self.receive(sock, &mut buf);
                }
            }
        }
    }

    /// The datagrams `sock` holds, at most [`RECV_BURST`] (the other ports
    /// have their turn), each taken by the intake.
    fn receive(&self, sock: &UdpSocket, buf: &mut [u8]) {
        let mut left = RECV_BURST;
        while left > 0 {
            match sock.recv(buf) {
                Ok(n) => {
                    left -= 1;
                    self.intake.message(&buf[..n]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                // The interface went away, or worse: count, and do not spin.
                Err(_) => {
                    self.intake.counters.dropped("recv_error");
                    std::thread::sleep(RECV_WAIT);
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::family::out_seq;
    use super::*;
    use crate::config::{DestId, Forward};
    use crate::dataplane::sync::Install;
    use crate::nat::{Snapshot, State};
    use crate::sync::wire::flags;

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
            out_seq: None,
            fwmark: 0,
        };
        let c = to_wire::<Ipv4Addr>(&e);
        assert_eq!(c.flags, flags::MASQ, "established: not INACTIVE");
        assert_eq!(c.state, 1, "IP_VS_TCP_S_ESTABLISHED");
        let mut buf = vec![0u8; 1472];
        let mut m = MessageBuilder::new(&mut buf, 1472, 7).expect("buffer");
        m.push(&c).expect("fits");
        let bytes = m.as_bytes().to_vec();
        let back: Vec<AnyConn> = wire::parse(&bytes, 7)
            .expect("message")
            .map(|r| r.expect("entry"))
            .collect();
        assert_eq!(back, vec![AnyConn::V4(c)]);
        assert_eq!(c.nat_state(), Some(State::Established));
        let t = to_wire::<Ipv4Addr>(&SyncEntry {
            template: true,
            state: State::None,
            ..e
        });
        assert!(t.is_template());
        assert_eq!(t.state, 0);
        // DR and TUN connections carry IPVS's method bits.
        let dr = to_wire::<Ipv4Addr>(&SyncEntry {
            forward: Forward::Route,
            ..e
        });
        assert_eq!(dr.flags & flags::FWD_MASK, flags::DROUTE);
        let tun = to_wire::<Ipv4Addr>(&SyncEntry {
            forward: Forward::Tunnel(crate::config::Tunnel::IPIP),
            ..e
        });
        assert_eq!(tun.flags & flags::FWD_MASK, flags::TUNNEL);
        // And `IP_VS_CONN_F_NOOUTPUT`, as `__ip_vs_update_dest` gives it
        // to every server not masqueraded (not to a NAT one: above).
        assert_eq!(dr.flags & flags::NOOUTPUT, flags::NOOUTPUT);
        assert_eq!(tun.flags & flags::NOOUTPUT, flags::NOOUTPUT);
    }

    /// An FTP control connection's shift goes out in IPVS's encoding of
    /// `out_seq` (`IPVS_OPT_SEQ_DATA` and `IP_VS_CONN_F_OUT_SEQ`, a negative delta as
    /// its two's complement) and comes back the same; `in_seq` alone, or
    /// the option without the flag, moves nothing.
    #[test]
    fn an_ftp_shift_travels_as_ipvs_out_seq() {
        use crate::nat::ftp::Shift;
        let shift = Shift::from_parts(0xffff_fff0, -3, 2);
        let e = SyncEntry {
            proto: 6,
            client: (0xc612_0001, 40000),
            vip: (0xc612_006e, 21),
            rip: (0xc613_0002, 21),
            state: State::Established,
            template: false,
            timeout: 900,
            forward: Forward::Masq,
            out_seq: Some(shift),
            fwmark: 0,
        };
        let c = to_wire::<Ipv4Addr>(&e);
        assert_eq!(c.flags & flags::SEQ_MASK, flags::OUT_SEQ);
        let seq = c.seq.expect("the sequence option");
        assert_eq!(seq.in_seq, wire::Seq::default());
        assert_eq!(
            (
                seq.out_seq.init_seq,
                seq.out_seq.delta,
                seq.out_seq.previous_delta
            ),
            (0xffff_fff0, 0xffff_fffd, 2)
        );
        let mut buf = vec![0u8; 1472];
        let mut m = MessageBuilder::new(&mut buf, 1472, 7).expect("buffer");
        m.push(&c).expect("fits");
        let back: Vec<AnyConn> = wire::parse(m.as_bytes(), 7)
            .expect("message")
            .map(|r| r.expect("entry"))
            .collect();
        let AnyConn::V4(got) = back[0] else {
            panic!("{back:?}")
        };
        assert_eq!(got, c);
        assert_eq!(out_seq(&got), Some(shift));
        let in_only = wire::SyncConn {
            flags: c.flags & !flags::SEQ_MASK | flags::IN_SEQ,
            ..got
        };
        assert_eq!(out_seq(&in_only), None);
        let no_flag = wire::SyncConn {
            flags: c.flags & !flags::SEQ_MASK,
            ..got
        };
        assert_eq!(out_seq(&no_flag), None, "the option without the flag");
        // A connection whose stream never moved carries no option.
        let plain = to_wire::<Ipv4Addr>(&SyncEntry { out_seq: None, ..e });
        assert_eq!((plain.seq, plain.flags & flags::SEQ_MASK), (None, 0));
    }

    fn ip6(s: &str) -> Ipv6Addr {
        s.parse().expect("an IPv6 address")
    }

    fn report6(cport: u16) -> SyncEntry<Ipv6Addr> {
        SyncEntry {
            proto: 6,
            client: (ip6("2001:2:0:1::10"), cport),
            vip: (ip6("2001:2:0:1::110"), 80),
            rip: (ip6("2001:2:0:2::2"), 8080),
            state: State::Established,
            template: false,
            timeout: 900,
            forward: Forward::Masq,
            out_seq: None,
            fwmark: 0,
        }
    }

    /// A worker's IPv6 report goes out as IPVS's IPv6 entry of the same
    /// connection: type 1, 72 bytes, the same flags and state as IPv4.
    #[test]
    fn ipv6_reports_go_out_as_ipv6_entries() {
        let e = report6(40000);
        let c = to_wire::<Ipv6Addr>(&e);
        assert_eq!((c.caddr, c.cport), e.client);
        assert_eq!(
            (c.vaddr, c.vport, c.daddr, c.dport),
            (e.vip.0, 80, e.rip.0, 8080)
        );
        assert_eq!((c.flags, c.state, c.timeout), (flags::MASQ, 1, 900));
        let mut buf = vec![0u8; 1472];
        let mut m = MessageBuilder::new(&mut buf, 1472, 7).expect("buffer");
        m.push(&c).expect("fits");
        let bytes = m.as_bytes();
        assert_eq!(bytes.len(), wire::HEADER_LEN + wire::ENTRY_V6_LEN);
        assert_eq!(bytes[wire::HEADER_LEN], wire::TYPE_F_INET6);
        let back: Vec<_> = wire::parse(bytes, 7).expect("message").collect();
        assert_eq!(back, vec![Ok(AnyConn::V6(c))]);
    }

    /// The master packs both families' reports into the same messages, and
    /// starts a new message where the next entry would pass `maxlen`.
    #[test]
    fn a_master_packs_both_families_within_maxlen() {
        let (tx4, rx4) = crossbeam_channel::bounded(16);
        let (tx6, rx6) = crossbeam_channel::bounded(16);
        let v4 = SyncEntry {
            proto: 6,
            client: (0xc612_000a, 40000),
            vip: (0xc612_006e, 80),
            rip: (0xc613_0002, 8080),
            state: State::Established,
            template: false,
            timeout: 900,
            forward: Forward::Masq,
            out_seq: None,
            fwmark: 0,
        };
        for i in 0..3 {
            tx4.send(SyncEntry {
                client: (v4.client.0, 40000 + i),
                ..v4
            })
            .expect("queued");
            tx6.send(report6(50000 + i)).expect("queued");
        }
        let maxlen = 150;
        let mut buf = vec![0u8; wire::MIN_BUFFER.max(maxlen)];
        let mut msg = [MessageBuilder::new(&mut buf, maxlen, 3).expect("buffer")];
        let mut sent = Vec::new();
        let mut send = |_, m: &MessageBuilder| sent.push(m.as_bytes().to_vec());
        pack::<Ipv4Addr>(&[rx4], &mut msg, &mut send);
        pack::<Ipv6Addr>(&[rx6], &mut msg, &mut send);
        if !msg[0].is_empty() {
            send(0, &msg[0]);
        }
        let lens: Vec<usize> = sent.iter().map(Vec::len).collect();
        // 8 + 3 × 36 = 116 holds the IPv4 entries; an IPv6 one after them
        // would end at 188, and two in a message at 152: past 150 both, so
        // each IPv6 entry goes alone (8 + 72 = 80).
        assert_eq!(lens, vec![116, 80, 80, 80]);
        let mut got = Vec::new();
        for m in &sent {
            assert!(m.len() <= maxlen);
            got.extend(
                wire::parse(m, 3)
                    .expect("message")
                    .map(|r| r.expect("entry")),
            );
        }
        let ports: Vec<(bool, u16)> = got
            .iter()
            .map(|c| match c {
                AnyConn::V4(c) => (false, c.cport),
                AnyConn::V6(c) => (true, c.cport),
            })
            .collect();
        assert_eq!(
            ports,
            vec![
                (false, 40000),
                (false, 40001),
                (false, 40002),
                (true, 50000),
                (true, 50001),
                (true, 50002)
            ]
        );
    }

    /// A backup's intake over `workers` channel pairs, the receivers kept.
    struct Bench {
        intake: Intake,
        installs: Vec<Receiver<Install>>,
        installs6: Vec<Receiver<Install<Ipv6Addr>>>,
    }

    fn config(rules: &[&str]) -> crate::config::Config {
        use crate::config::ipvsadm;
        let mut cfg = crate::config::Config::new();
        for r in rules {
            let args: Vec<String> = r.split_whitespace().map(String::from).collect();
            let cmd = ipvsadm::parse(&args).unwrap_or_else(|e| panic!("{r}: {e}"));
            ipvsadm::apply(&mut cfg, &cmd).unwrap_or_else(|e| panic!("{r}: {e}"));
        }
        cfg
    }

    const RULES: &[&str] = &[
        "-A -t 198.18.0.110:80 -s rr",
        "-a -t 198.18.0.110:80 -r 198.19.0.2:8080 -m",
        "-A -t [2001:2:0:1::110]:80 -s rr",
        "-a -t [2001:2:0:1::110]:80 -r [2001:2:0:2::2]:8080 -m",
        "-a -t [2001:2:0:1::110]:80 -r [2001:2:0:2::3]:8080 -m",
        "-A -u [2001:2:0:1::110]:0 -s rr -p 300 -M 64",
        "-a -u [2001:2:0:1::110]:0 -r 2001:2:0:2::4 -m",
    ];

    fn bench(workers: usize, ipv6: bool) -> Bench {
        let snap = Snapshot::build(&config(RULES), crate::nat::Timeouts::default());
        let mut env = Env::new(
            [
                crate::wire::Mac([2, 0, 0, 0, 0, 1]),
                crate::wire::Mac([2, 0, 0, 0, 0, 2]),
            ],
            "198.18.0.2/24".parse().expect("prefix"),
            "198.19.0.1/24".parse().expect("prefix"),
        );
        if ipv6 {
            env.ext_net6 = Some("2001:2:0:1::2/64".parse().expect("prefix"));
            env.int_net6 = Some("2001:2:0:2::1/64".parse().expect("prefix"));
        }
        env.fanout_key = 0x5eed;
        let (mut installs, mut rx4, mut installs6, mut rx6) = (vec![], vec![], vec![], vec![]);
        for _ in 0..workers {
            let (t, r) = crossbeam_channel::bounded(4);
            installs.push(t);
            rx4.push(r);
            let (t, r) = crossbeam_channel::bounded(4);
            installs6.push(t);
            rx6.push(r);
        }
        let ports = SyncPorts {
            reports: vec![],
            installs,
            reports6: vec![],
            installs6,
            pe_reports: vec![],
        };
        Bench {
            intake: Intake {
                syncid: 0,
                shared: Arc::new(Shared::new(snap)),
                env: Arc::new(env),
                ports: Arc::new(ports),
                counters: Arc::default(),
                start: Instant::now(),
            },
            installs: rx4,
            installs6: rx6,
        }
    }

    fn conn6(cport: u16) -> SyncConn<Ipv6Addr> {
        to_wire::<Ipv6Addr>(&report6(cport))
    }

    /// One message of `conns`.
    fn datagram(conns: &[AnyConn]) -> Vec<u8> {
        let mut buf = vec![0u8; 1472];
        let mut m = MessageBuilder::new(&mut buf, 1472, 9).expect("buffer");
        for c in conns {
            m.push_any(c).expect("fits");
        }
        m.as_bytes().to_vec()
    }

    fn dest6(b: &Bench, addr: &str) -> DestId {
        let snap = b.intake.shared.config.load();
        snap.services6
            .values()
            .flat_map(|s| s.entry.dests.iter().zip(s.addrs6.iter()))
            .find(|(_, a)| **a == ip6(addr))
            .map(|(d, _)| d.id)
            .expect("a real server of the rules")
    }

    /// A message of both families: the IPv4 entry goes to the IPv4 install
    /// channel of `Env::owner`'s worker, the IPv6 entry to the IPv6 channel
    /// of `Env::owner6`'s, resolved to its real server.
    #[test]
    fn a_backup_queues_each_family_to_its_owner() {
        let b = bench(4, true);
        let v4 = to_wire::<Ipv4Addr>(&SyncEntry {
            proto: 6,
            client: (0xc612_000a, 40000),
            vip: (0xc612_006e, 80),
            rip: (0xc613_0002, 8080),
            state: State::Established,
            template: false,
            timeout: 900,
            forward: Forward::Masq,
            out_seq: None,
            fwmark: 0,
        });
        // Another client port per try until the two owners differ, so a
        // swapped owner function shows.
        let (cport, owner6) = (41000..41100)
            .map(|p| (p, b.intake.env.owner6((ip6("2001:2:0:1::10"), p), 4)))
            .find(|&(_, o)| o != b.intake.env.owner((0xc612_000a, 40000), 4))
            .expect("some port has another owner");
        let v6 = SyncConn {
            daddr: ip6("2001:2:0:2::3"),
            ..conn6(cport)
        };
        b.intake.message(&datagram(&[v4.into(), v6.into()]));
        let c = &b.intake.counters;
        assert_eq!(c.conns_received.load(Ordering::Relaxed), 2);
        assert_eq!(c.conns_queued.load(Ordering::Relaxed), 2, "{:?}", c.drops());
        let owner4 = b.intake.env.owner((0xc612_000a, 40000), 4);
        for (k, r) in b.installs.iter().enumerate() {
            assert_eq!(r.len(), usize::from(k == owner4), "IPv4 worker {k}");
        }
        for (k, r) in b.installs6.iter().enumerate() {
            assert_eq!(r.len(), usize::from(k == owner6), "IPv6 worker {k}");
        }
        let i = b.installs6[owner6].try_recv().expect("queued");
        assert_eq!(i.dest, dest6(&b, "2001:2:0:2::3"));
        assert_eq!(
            i.entry,
            SyncEntry {
                proto: 6,
                client: (ip6("2001:2:0:1::10"), cport),
                vip: (ip6("2001:2:0:1::110"), 80),
                rip: (ip6("2001:2:0:2::3"), 8080),
                state: State::Established,
                template: false,
                timeout: 900,
                forward: Forward::Masq,
                out_seq: None,
                fwmark: 0,
            }
        );
    }

    /// IPv6 entries are resolved and dropped under the same reasons as
    /// IPv4 ones, plus `ipv6_off` on a director without IPv6; a template
    /// goes into the IPv6 templates (no worker queue).
    #[test]
    fn ipv6_entries_are_resolved_or_dropped_by_reason() {
        let udp = |cport| SyncConn {
            proto: 17,
            state: 0,
            flags: flags::INACTIVE,
            vport: 53,
            daddr: ip6("2001:2:0:2::4"),
            dport: 53,
            ..conn6(cport)
        };
        let template = SyncConn {
            proto: 17,
            flags: flags::TEMPLATE | flags::INACTIVE,
            state: 0,
            cport: 0,
            vport: 0,
            daddr: ip6("2001:2:0:2::4"),
            dport: 0,
            ..conn6(0)
        };
        let cases: [(SyncConn<Ipv6Addr>, Option<&str>); 6] = [
            (conn6(1), None),
            // The port-0 service of the VIP takes any port; its server's
            // port 0 takes the entry's.
            (udp(2), None),
            (
                SyncConn {
                    vport: 81,
                    ..conn6(3)
                },
                Some("unknown_service"),
            ),
            (
                SyncConn {
                    vaddr: ip6("2001:2:0:1::111"),
                    ..conn6(4)
                },
                Some("unknown_service"),
            ),
            (
                SyncConn {
                    daddr: ip6("2001:2:0:2::9"),
                    ..conn6(5)
                },
                Some("unknown_dest"),
            ),
            (
                SyncConn {
                    flags: flags::DROUTE,
                    ..conn6(6)
                },
                Some("method_differs"),
            ),
        ];
        for (c, why) in cases {
            let b = bench(2, true);
            b.intake.message(&datagram(&[c.into()]));
            let queued: usize = b.installs6.iter().map(Receiver::len).sum();
            let drops = b.intake.counters.drops();
            match why {
                None => assert_eq!((queued, drops.len()), (1, 0), "{c:?}: {drops:?}"),
                Some(why) => {
                    assert_eq!(queued, 0, "{c:?}");
                    assert_eq!(drops, BTreeMap::from([(why, 1)]), "{c:?}");
                }
            }
            assert!(b.installs.iter().all(|r| r.is_empty()));
        }
        // A template of a persistent service: installed in the IPv6
        // templates, queued to no worker, dropped for no reason.
        let b = bench(2, true);
        b.intake.message(&datagram(&[template.into()]));
        assert!(b.intake.counters.drops().is_empty());
        assert_eq!(b.installs6.iter().map(Receiver::len).sum::<usize>(), 0);
        assert_eq!(b.intake.shared.templates6.len(0), 1);
        // Without a timeout: 3 minutes (the service's 300 s bound it).
        let b = bench(2, true);
        let none = SyncConn {
            timeout: 0,
            ..template
        };
        b.intake.message_at(&datagram(&[none.into()]), 100);
        let live = |at| b.intake.shared.templates6.len(at);
        assert_eq!((live(100), live(279), live(280)), (1, 1, 0));
        // A template of a service that is not persistent.
        let b = bench(2, true);
        let t = SyncConn {
            flags: flags::TEMPLATE | flags::INACTIVE,
            cport: 0,
            ..conn6(0)
        };
        b.intake.message(&datagram(&[t.into()]));
        assert_eq!(
            b.intake.counters.drops(),
            BTreeMap::from([("not_persistent", 1)])
        );
        // No IPv6 on the director: nothing would use the connection.
        let b = bench(2, false);
        b.intake.message(&datagram(&[conn6(1).into()]));
        assert_eq!(b.intake.counters.drops(), BTreeMap::from([("ipv6_off", 1)]));
    }

    /// A template resolved against rules a publish replaced before it was
    /// installed, its server's id another server's in the new ones: dropped
    /// (`dest_changed`), as a worker refuses such a connection, not filed
    /// under the new server's id with the old server's address (where only
    /// its first use would have found it out). Resolved against the new
    /// rules, it goes in.
    #[test]
    fn a_template_whose_servers_id_changed_before_its_install_is_dropped() {
        let rules = |rs: &str| {
            let add = format!("-a -t 198.18.0.110:80 -r {rs}:80 -m");
            let cfg = config(&["-A -t 198.18.0.110:80 -s rr -p 300", &add]);
            Snapshot::build(&cfg, crate::nat::Timeouts::default())
        };
        let (old, new) = (rules("198.19.0.2"), rules("198.19.0.9"));
        let id = |s: &Snapshot| {
            (s.services.values().flat_map(|e| e.dests.iter()))
                .map(|d| d.id)
                .next()
        };
        assert_eq!(id(&old), id(&new), "the id handed to another server");
        let b = bench(1, false);
        b.intake.shared.config.store(Arc::new(new));
        let template = |daddr| {
            to_wire::<Ipv4Addr>(&SyncEntry {
                proto: 6,
                client: (0xc612_000a, 0),
                vip: (0xc612_006e, 80),
                rip: (daddr, 80),
                state: State::None,
                template: true,
                timeout: 300,
                forward: Forward::Masq,
                out_seq: None,
                fwmark: 0,
            })
        };
        let templates = &b.intake.shared.templates;
        let gone = template(0xc613_0002);
        assert_eq!(b.intake.entry(&old, &gone, 100), Err("dest_changed"));
        assert_eq!(templates.len(100), 0);
        let current = b.intake.shared.config.load_full();
        assert_eq!(
            b.intake.entry(&current, &template(0xc613_0009), 100),
            Ok(())
        );
        assert_eq!(templates.len(100), 1);
    }

    /// A bad IPv6 entry is counted under its parse error, as an IPv4 one.
    #[test]
    fn a_malformed_ipv6_entry_is_counted_by_its_fault() {
        let b = bench(1, true);
        let mut m = datagram(&[conn6(1).into()]);
        m[wire::HEADER_LEN + 3] = 40; // size 40: under the IPv6 entry's 72
        b.intake.message(&m);
        assert_eq!(
            b.intake.counters.drops(),
            BTreeMap::from([("too_small", 1)])
        );
        assert!(b.installs6[0].is_empty());
    }

    #[test]
    fn daemon_lines_are_ipvsadms() {
        let c = DaemonConfig {
            role: SyncRole::Backup,
            ifname: "sync0".into(),
            syncid: 7,
            maxlen: 1472,
            group: wire::DEFAULT_GROUP.into(),
            port: wire::DEFAULT_PORT,
            ttl: 1,
        };
        assert_eq!(
            c.line(),
            "backup sync daemon (mcast=sync0, syncid=7, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)"
        );
        // An IPv6 group as ipvsadm prints it (`inet_ntop`, no brackets).
        let c = DaemonConfig {
            role: SyncRole::Master,
            maxlen: 1452,
            group: "ff02::51".parse().expect("a group"),
            port: 9000,
            ttl: 2,
            ..c
        };
        assert_eq!(
            c.line(),
            "master sync daemon (mcast=sync0, syncid=7, maxlen=1452, group=ff02::51, port=9000, ttl=2)"
        );
    }

    /// `--sync-ports`: the powers of two IPVS's sysctl takes
    /// (`proc_do_sync_ports`), more than 64 counting as 64
    /// (`start_sync_thread`'s clamp to `IPVS_SYNC_PORTS_MAX`); anything
    /// else refused.
    #[test]
    fn sync_ports_takes_powers_of_two_and_counts_at_most_64() {
        for (s, n) in [("1", 1), ("2", 2), ("16", 16), ("64", 64), ("128", 64)] {
            assert_eq!(parse_sync_ports(s), Ok(n), "{s}");
        }
        for s in ["0", "3", "6", "65", "-1", "x", ""] {
            assert!(parse_sync_ports(s).is_err(), "{s}");
        }
    }

    /// A TCP connection of `RULES`'s IPv4 service from client port `cport`.
    fn report4(cport: u16, state: State) -> SyncEntry {
        SyncEntry {
            proto: 6,
            client: (0xc612_0001, cport),
            vip: (0xc612_006e, 80),
            rip: (0xc613_0002, 8080),
            state,
            template: false,
            timeout: 900,
            forward: Forward::Masq,
            out_seq: None,
            fwmark: 0,
        }
    }

    /// Master-side ends of `SyncPorts`: one IPv4 report channel, installs
    /// to one worker.
    fn ports_with(
        reports: Receiver<SyncEntry>,
        installs: Vec<crossbeam_channel::Sender<Install>>,
    ) -> SyncPorts {
        SyncPorts {
            reports: vec![reports],
            installs,
            reports6: vec![],
            installs6: vec![],
            pe_reports: vec![],
        }
    }

    /// The client ports of the IPv4 entries of `datagram`.
    fn cports(datagram: &[u8]) -> Vec<u16> {
        wire::parse(datagram, 0)
            .expect("a message")
            .map(|e| match e.expect("an entry") {
                AnyConn::V4(c) => c.cport,
                AnyConn::V6(c) => c.cport,
            })
            .collect()
    }

    /// With 2 ports (`sync_ports` 2), a master spreads its connections over
    /// both, every entry of one connection on one port (here two states of
    /// each), as IPVS picks a master thread by the connection
    /// (`select_master_thread_id`); one message a port for this tick.
    #[test]
    fn a_master_spreads_connections_over_its_ports_by_connection() {
        let (tx, rx) = crossbeam_channel::bounded(64);
        for cport in 40000..40016 {
            tx.send(report4(cport, State::Established)).expect("queued");
            tx.send(report4(cport, State::TimeWait)).expect("queued");
        }
        let sent = messages_on(&ports_with(rx, vec![]), 3, 1472, 2).expect("buffer");
        let mut by_conn: BTreeMap<u16, Vec<usize>> = BTreeMap::new();
        for (i, m) in &sent {
            for cport in cports(m) {
                by_conn.entry(cport).or_default().push(*i);
            }
        }
        assert_eq!(by_conn.len(), 16, "{by_conn:?}");
        for (cport, on) in &by_conn {
            assert!(on.len() == 2 && on[0] == on[1], "{cport}: {on:?}");
        }
        let used: std::collections::BTreeSet<usize> = sent.iter().map(|(i, _)| *i).collect();
        assert_eq!(used, [0, 1].into(), "both ports");
        assert_eq!(sent.len(), 2, "one message a port");
    }

    /// `lo`'s interface index.
    fn lo_index() -> u32 {
        let s = std::fs::read_to_string("/sys/class/net/lo/ifindex").expect("sysfs");
        s.trim().parse().expect("an index")
    }

    /// A daemon's settings on `lo` for `role` at `port` (a port of this
    /// process's own: tests in parallel use others) and how its sockets
    /// reach the default group there. (`Daemons::start` needs an
    /// interface with a MAC address, which `lo` has not: these tests start
    /// the daemon's sockets and thread as it does.)
    fn on_lo(role: SyncRole, port: u16) -> (DaemonConfig, Via) {
        let c = DaemonConfig {
            role,
            ifname: "lo".into(),
            syncid: 0,
            maxlen: 1472,
            group: wire::DEFAULT_GROUP.into(),
            port,
            ttl: 1,
        };
        let index = lo_index();
        let via = Via::V4 {
            group: wire::DEFAULT_GROUP,
            index,
            bind: Ipv4Addr::UNSPECIFIED,
        };
        (c, via)
    }

    /// A port pair for a test, from the process id (tests in other
    /// processes, or this binary run twice, then use other ones).
    /// Below the ephemeral range (32768-60999), where a socket another
    /// process bound without `SO_REUSEADDR` would refuse the test's bind.
    fn test_port(n: u16) -> u16 {
        20000 + (std::process::id() % 3000) as u16 * 4 + n
    }

    /// A backup with 2 ports (`sync_ports` 2 in its director's sysctls)
    /// receives on the group's port + 1 too, as a kernel backup's second
    /// thread does (`make_receive_sock` with id 1): a message a kernel
    /// master's second thread sends there, over `lo`, is counted and its
    /// connection queued to the owning worker.
    #[test]
    fn a_backup_with_two_ports_takes_a_message_on_the_second() {
        let mut b = bench(1, false);
        let mut env = (*b.intake.env).clone();
        env.sysctl.sync_ports = 2;
        b.intake.env = Arc::new(env);
        let port = test_port(0);
        let (c, via) = on_lo(SyncRole::Backup, port);
        let count = b.intake.env.sysctl.sync_ports;
        let socks = sockets(SyncRole::Backup, &c, via, count).expect("sockets on lo");
        let counters = Arc::clone(&b.intake.counters);
        let stop = Arc::new(AtomicBool::new(false));
        let backup = Backup {
            socks,
            maxlen: c.maxlen,
            stop: Arc::clone(&stop),
            intake: b.intake,
        };
        let thread = spawn("test-sync-b", move || backup.run()).expect("a thread");
        let sender = socket::master(&c, via, 1).expect("a sender to port + 1");
        assert_eq!(sender.peer_addr().expect("connected").port(), port + 1);
        let conn = to_wire::<Ipv4Addr>(&report4(40000, State::Established));
        sender.send(&datagram(&[AnyConn::V4(conn)])).expect("sent");
        let got = b.installs[0].recv_timeout(Duration::from_secs(5));
        stop.store(true, Ordering::Relaxed);
        thread.join().expect("joined");
        let got = got.expect("an install");
        assert_eq!(got.entry.client, (0xc612_0001, 40000));
        let n = counters.all();
        assert_eq!((n["msgs_received"], n["conns_queued"]), (1, 1), "{n:?}");
    }

    /// A master with 2 ports sends to the group's port and port + 1 (as
    /// `make_send_sock` connects thread `id`'s socket to `mcast_port + id`),
    /// each connection to one: two sockets bound there on `lo` receive
    /// every connection between them, both some.
    #[test]
    fn a_master_with_two_ports_sends_to_both() {
        let port = test_port(2);
        let (c, via) = on_lo(SyncRole::Master, port);
        let rx: Vec<UdpSocket> = sockets(SyncRole::Backup, &c, via, 2).expect("receivers");
        let (report, reports) = crossbeam_channel::bounded(64);
        let stop = Arc::new(AtomicBool::new(false));
        let counters: Arc<SyncCounters> = Arc::default();
        let master = Master {
            socks: sockets(SyncRole::Master, &c, via, 2).expect("sockets on lo"),
            config: c,
            ports: Arc::new(ports_with(reports, vec![])),
            counters: Arc::clone(&counters),
            stop: Arc::clone(&stop),
        };
        for cport in 40000..40016 {
            report
                .send(report4(cport, State::Established))
                .expect("queued");
        }
        let thread = spawn("test-sync-m", move || master.run()).expect("a thread");
        let mut got: [Vec<u16>; 2] = [vec![], vec![]];
        let until = Instant::now() + Duration::from_secs(5);
        let mut buf = [0u8; 2048];
        while got.iter().map(Vec::len).sum::<usize>() < 16 && Instant::now() < until {
            for (i, s) in rx.iter().enumerate() {
                if let Ok(n) = s.recv(&mut buf) {
                    got[i].extend(cports(&buf[..n]));
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        stop.store(true, Ordering::Relaxed);
        thread.join().expect("joined");
        let mut all: Vec<u16> = got.concat();
        all.sort();
        assert_eq!(all, (40000..40016).collect::<Vec<_>>(), "{got:?}");
        assert!(got.iter().all(|g| !g.is_empty()), "both ports: {got:?}");
        let n = counters.all();
        assert_eq!((n["msgs_sent"], n["send_errors"]), (2, 0), "{n:?}");
    }
}
