//! Services and real servers.
//!
//! This is the director's configuration model: a list of virtual services,
//! each with a scheduler and a list of real servers ("destinations"), in the
//! vocabulary of Linux IPVS.  [`ipvsadm`] parses ipvsadm's command line into
//! [`ipvsadm::AdmCommand`]s and applies them to a [`Config`];
//! [`format`](mod@format) prints the table back the way ipvsadm does, from a
//! [`Config`] and the live numbers of [`listing`].
//!
//! Layers within `config`: this file, `forward` and `key` at the bottom; [`listing`] and [`names`]
//! on it; [`ipvsadm`] and [`format`](mod@format) on top, neither importing the
//! other.  `config` imports nothing else of the crate (the data plane's `nat`
//! and `stats` import it).
//!
//! Each real server has its forwarding method ([`Forward`], in `forward`:
//! masquerading, direct routing or tunnelling).
//!
//! Dual-stack: a service's address and a real server's are `IpAddr`s. As in
//! IPVS, a service and its real servers share a family unless the server is
//! tunnelled (`ip_vs_ctl.c`, `ip_vs_genl_set_cmd`: a destination of another
//! family than its service is `EINVAL` unless its method is
//! `IP_VS_CONN_F_TUNNEL`, of any tunnel type), and a service's persistence
//! granularity ([`Netmask`]) is an IPv4 netmask or an IPv6 prefix length
//! after its family (both in `key`).

mod check;
mod dests;
pub mod format;
mod forward;
mod http;
mod ids;
pub mod ipvsadm;
pub mod keepalived;
mod key;
pub mod listing;
mod mark;
pub mod names;
mod notify;
mod pe;
mod sorry;
mod tls;

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

pub use check::{
    CheckKind, DEFAULT_CHECK_PATH, DEFAULT_CHECK_STATUS, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_DELAY_BEFORE_RETRY, DEFAULT_DELAY_LOOP, DEFAULT_DNS_NAME, DEFAULT_HELO,
    DEFAULT_MAX_REPLY_LEN, DEFAULT_MIN_REPLY_LEN, DEFAULT_RETRY, DnsCheck, DnsType, FileCheck,
    HTTP_DELAY_BEFORE_RETRY, HealthCheck, MAX_PAYLOAD, MISC_DEFAULT_RETRY, MiscCheck, SmtpCheck,
    UdpCheck, UdpReply, dns_rcode, hex, parse_hex,
};
pub use forward::{Forward, TunCsum, TunKind, Tunnel};
use hashbrown::{HashMap, HashSet};
pub use http::{
    DIGEST_LEN, HttpCheck, HttpProtocol, HttpUrl, digest_hex, merge as merge_status, parse_digest,
    parse_status, sni_name, status_list, valid_path, valid_vhost,
};
pub use ids::TRASH_PERIOD;
use ids::{TrashKey, Trashed};
pub use key::{FTP_DATA_PORT, FTP_PORT, Netmask, Proto, ServiceKey};
use key::{check_family, unicast};
pub use mark::{
    MAX_MARK_DESTS, MarkDest, addr6_mark, mark_addr6, mask_bits_v4, mask_bits_v6, ports_have,
};
pub use notify::{MAX_SCRIPT, Script, ScriptUser, Scripts, ServerScripts, split_words, unescape};
pub use pe::PersistEngine;
use serde::{Deserialize, Serialize};
pub use sorry::{Quorum, SorryOpts, SorryServer};
pub use tls::{ClientCert, load as load_client_cert, load_named as load_client_cert_named};

/// Read at most `limit` bytes of the file at `path`: an error if it holds
/// more. The length the file system reports is not trusted (a device such as
/// `/dev/zero` or a file in `/proc` reports 0, and a file may grow while it is
/// read), so a configuration that names one fails with a message instead of
/// reading without end.
pub fn read_bounded(path: &std::path::Path, limit: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    f.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > limit {
        return Err(format!("larger than {limit} bytes"));
    }
    Ok(bytes)
}

/// Number of distinct [`DestId`]s a [`Config`] hands out (ids are
/// `0..MAX_DEST_IDS`).  It is also the most real servers (and sorry
/// servers, which take ids too) a config can hold.
pub const MAX_DEST_IDS: u32 = 65536;

/// Scheduling algorithm of a service: every scheduler of Linux IPVS.
///
/// [`FromStr`] knows all of their names.  A scheduler whose algorithm were
/// missing would be listed in `KERNEL_ONLY_SCHEDULERS` and give a clear "not
/// supported yet" error rather than the kernel's "not found"; the list is
/// empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Scheduler {
    /// Round robin.
    Rr,
    /// Weighted round robin.
    Wrr,
    /// Least connections.
    Lc,
    /// Weighted least connections (ipvsadm's default).
    Wlc,
    /// Locality-based least connections.
    Lblc,
    /// Locality-based least connections with replication.
    Lblcr,
    /// Destination hashing.
    Dh,
    /// Source hashing.
    Sh,
    /// Shortest expected delay.
    Sed,
    /// Never queue.
    Nq,
    /// Weighted failover.
    Fo,
    /// Weighted overflow.
    Ovf,
    /// Maglev hashing.
    Mh,
    /// Weighted random twos choice.
    Twos,
}

/// Scheduler flags (`-b`): ipvsadm's `sh-fallback`, `sh-port`, `mh-fallback`,
/// `mh-port` (`IP_VS_SVC_F_SCHED1..3`; `sh-*` and `mh-*` share the bits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SchedFlags {
    /// `sh-fallback` / `mh-fallback`: if the hashed server is unavailable
    /// (weight 0 or overloaded), try the next one instead of failing.
    pub fallback: bool,
    /// `sh-port` / `mh-port`: hash the client port too, not only the address.
    pub port: bool,
}

/// Schedulers that Linux IPVS has and ringvs does not have (yet): none now.
const KERNEL_ONLY_SCHEDULERS: &[&str] = &[];

/// Every scheduler, in the order ipvsadm(8) lists them.
pub const ALL_SCHEDULERS: [Scheduler; 14] = [
    Scheduler::Rr,
    Scheduler::Wrr,
    Scheduler::Lc,
    Scheduler::Wlc,
    Scheduler::Lblc,
    Scheduler::Lblcr,
    Scheduler::Dh,
    Scheduler::Sh,
    Scheduler::Sed,
    Scheduler::Nq,
    Scheduler::Fo,
    Scheduler::Ovf,
    Scheduler::Mh,
    Scheduler::Twos,
];

impl Scheduler {
    /// The name ipvsadm uses (`rr`, `wrr`).
    pub fn name(self) -> &'static str {
        match self {
            Scheduler::Rr => "rr",
            Scheduler::Wrr => "wrr",
            Scheduler::Lc => "lc",
            Scheduler::Wlc => "wlc",
            Scheduler::Lblc => "lblc",
            Scheduler::Lblcr => "lblcr",
            Scheduler::Dh => "dh",
            Scheduler::Sh => "sh",
            Scheduler::Sed => "sed",
            Scheduler::Nq => "nq",
            Scheduler::Fo => "fo",
            Scheduler::Ovf => "ovf",
            Scheduler::Mh => "mh",
            Scheduler::Twos => "twos",
        }
    }
}

impl fmt::Display for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scheduler {
    type Err = AdmError;

    /// Parses a scheduler name.  A scheduler the kernel has but ringvs
    /// lacks gives [`AdmError::SchedulerNotSupported`]; a name nobody knows
    /// gives the kernel's own [`AdmError::SchedulerNotFound`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            other if KERNEL_ONLY_SCHEDULERS.contains(&other) => {
                Err(AdmError::SchedulerNotSupported(other.to_string()))
            }
            other => ALL_SCHEDULERS
                .into_iter()
                .find(|k| k.name() == other)
                .ok_or(AdmError::SchedulerNotFound),
        }
    }
}

/// Stable identity of a real server within a [`Config`]'s life.
///
/// Assigned when the server is added, kept across edits, never reused while
/// the server exists or its id is kept in the config's trash (as IPVS's:
/// while its connections or templates live, and for [`TRASH_PERIOD`] after),
/// and given back to it when it is added again in that time.  Ids run
/// `0..MAX_DEST_IDS` and allocation wraps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DestId(pub u32);

/// A real server of a service.
///
/// `port == 0` is what ipvsadm stores when `-r` comes before `-t` on the
/// command line (the default real port is copied from the service port as
/// known at that moment); like the kernel, the data plane should then use
/// the packet's destination port unchanged.
///
/// Its address is of the service's family, unless it is tunnelled (see the
/// module notes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Dest {
    pub addr: IpAddr,
    pub port: u16,
    pub weight: u32,
    pub id: DestId,
    /// Upper connection threshold (`-x`): at this many connections (active +
    /// inactive) the server is overloaded and gets no new ones. 0 = none.
    #[serde(default)]
    pub u_threshold: u32,
    /// Lower connection threshold (`-y`): an overloaded server is available again
    /// below this many (0: below three quarters of the upper threshold, as IPVS
    /// clears `IP_VS_DEST_F_OVERLOAD` in `ip_vs_conn.c` `ip_vs_unbind_dest`).
    #[serde(default)]
    pub l_threshold: u32,
    /// How its packets are forwarded (`-m`, `-g`, `-i`); masquerading in
    /// state saved before there was a choice.
    #[serde(default)]
    pub forward: Forward,
    /// Where its health check goes, if not to its own address
    /// (`--check-ip`, keepalived's `connect_ip`): a health-check address
    /// of the server. Never its own address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_ip: Option<IpAddr>,
}

/// A virtual service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    pub key: ServiceKey,
    pub sched: Scheduler,
    /// Real servers in the order they were added.
    pub dests: Vec<Dest>,
    /// Persistence timeout in seconds (`-p`).
    pub persistent: Option<u32>,
    /// Scheduler flags (`-b`).
    #[serde(default)]
    pub sched_flags: SchedFlags,
    /// Persistence granularity (`-M`): client addresses are masked with it.
    /// Always of the service's family ([`Netmask::fits`]).
    #[serde(default = "host_netmask")]
    pub netmask: Netmask,
    /// One-packet scheduling (`-o`, IPVS's `IP_VS_SVC_F_ONEPACKET`): each UDP
    /// datagram is scheduled on its own and leaves no connection. Kept (and
    /// listed) for a TCP service too, where it does nothing, as in IPVS.
    #[serde(default)]
    pub ops: bool,
    /// Persistence engine (`--pe`): used by a persistent service only, as
    /// IPVS calls it from `ip_vs_sched_persist`.
    #[serde(default)]
    pub pe: Option<PersistEngine>,
    /// keepalived's sorry server (`sorry.rs`): in the table only while no
    /// real server can take a connection.
    #[serde(default)]
    pub sorry: Option<SorryServer>,
    /// keepalived's `quorum` and `hysteresis` (`sorry.rs`).
    #[serde(default)]
    pub quorum: Quorum,
    /// Active health check of the service's real servers (`--check`), a ringvs
    /// extension with keepalived's vocabulary (see `docs/health.md`).
    #[serde(default)]
    pub check: Option<HealthCheck>,
    /// keepalived's `quorum_up` and `quorum_down` (`--quorum-up`,
    /// `--quorum-down`; `notify.rs`).
    #[serde(default)]
    pub quorum_scripts: Scripts,
    /// keepalived's `notify_up` and `notify_down` of its real servers
    /// (`--notify-up`, `--notify-down`), by address and port: only those
    /// that have one.
    #[serde(default)]
    pub server_scripts: Vec<ServerScripts>,
    /// A firewall-mark service's marking rules (`--mark-dest`, `mark.rs`):
    /// the packets that carry its mark. Empty for any other service.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub marks: Vec<MarkDest>,
}

/// What a service saved before there was IPv6 had without `-M`.
fn host_netmask() -> Netmask {
    Netmask::HOST4
}

impl Service {
    /// The real server with this address and port, if any.
    pub fn dest(&self, addr: impl Into<IpAddr>, port: u16) -> Option<&Dest> {
        let addr = addr.into();
        self.dests.iter().find(|d| d.addr == addr && d.port == port)
    }

    fn dest_index(&self, addr: IpAddr, port: u16) -> Option<usize> {
        self.dests
            .iter()
            .position(|d| d.addr == addr && d.port == port)
    }
}

/// Errors of configuration commands and of parsing them.
///
/// Where ipvsadm (or libipvs) has a message for the case, the `Display`
/// text is exactly that message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AdmError {
    #[error("Service already exists")]
    ServiceExists,
    /// Edit/delete/list of a missing service.
    #[error("No such service")]
    NoSuchService,
    /// Adding/editing/deleting a real server of a missing service.
    #[error("Service not defined")]
    ServiceNotDefined,
    #[error("Destination already exists")]
    DestExists,
    #[error("No such destination")]
    NoSuchDest,
    /// Out of [`DestId`]s (more than [`MAX_DEST_IDS`] real servers).
    #[error("Memory allocation problem")]
    NoMemory,
    /// A scheduler name that Linux IPVS does not know either.
    #[error("Scheduler or persistence engine not found")]
    SchedulerNotFound,
    /// A scheduler Linux IPVS has and ringvs does not (yet); none today.
    #[error("Scheduler {0} not supported yet")]
    SchedulerNotSupported(String),
    #[error("Zero port specified for non-persistent service")]
    ZeroPort,
    /// A masquerading or direct-routed real server of the other family than
    /// its service: ipvsadm's message (`process_options`), which it prints
    /// before the kernel's `EINVAL` could.
    #[error("Different address family is allowed only for tunneling servers")]
    MixedFamily,
    /// A lower connection threshold above the upper one (the kernel's ERANGE).
    #[error("Numerical result out of range")]
    ThresholdRange,
    /// What the kernel refuses with `EINVAL`, in libipvs's words (here: a
    /// tunnel setup ipvsadm would not make, see [`Tunnel::check`]).
    #[error("Invalid operation.  Possibly wrong module version, address not unicast, ...")]
    InvalidOperation,
    /// A command-line error that ipvsadm reports with `fail(2, ...)`.
    #[error("{0}")]
    Usage(String),
    /// An option-parser (popt) error, or no command given.
    #[error("{0}")]
    Option(String),
    /// Valid ipvsadm that ringvs does not implement.
    #[error("{0}")]
    Unsupported(String),
    /// `-h` or `-v`: the text to print on stdout, exit status 0.
    #[error("{0}")]
    Help(String),
    /// An error in line `line` (1-based) of a rules file.
    #[error("line {line}: {error}")]
    Line { line: usize, error: Box<AdmError> },
}

impl AdmError {
    /// The exit status ipvsadm would end with for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            AdmError::Help(_) => 0,
            AdmError::Usage(_)
            | AdmError::Unsupported(_)
            | AdmError::ZeroPort
            | AdmError::MixedFamily => 2,
            AdmError::Line { error, .. } => error.exit_code(),
            // ipvsadm returns -1 from main for kernel and popt errors.
            _ => 255,
        }
    }
}

/// The director's table of virtual services.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    services: Vec<Service>,
    /// Where each service is in `services`: a restore of thousands of
    /// services looks each up several times per line.
    index: std::collections::HashMap<ServiceKey, usize>,
    /// Next id to try; wraps at `MAX_DEST_IDS`.
    next_id: u32,
    /// Ids of the real servers that exist now.
    ids_in_use: HashSet<u32>,
    /// Ids kept for real servers (and sorry servers) removed (`-d`, or
    /// with their service: `-D`, `-C`): `-a` of the same address and port
    /// to the same service takes its id back, as IPVS's `ip_vs_add_dest`
    /// takes a dest back from its trash (`ip_vs_trash_get_dest`,
    /// `ip_vs_ctl.c`), so the server's connections flow again, its
    /// persistence templates still name it, and its counters and gauges go
    /// on. No other server is given a kept id; one is freed once nothing
    /// has named it for [`TRASH_PERIOD`] (`ids.rs`).
    trash: HashMap<u32, Trashed>,
    /// Which id in `trash` each removed server would take back.
    trash_index: HashMap<TrashKey, u32>,
    /// Ids handed out new since [`Config::take_fresh_ids`].
    fresh: Vec<DestId>,
}

impl Config {
    pub fn new() -> Self {
        Self::default()
    }

    /// All services, in insertion order.
    pub fn services(&self) -> &[Service] {
        &self.services
    }

    pub fn service(&self, key: &ServiceKey) -> Option<&Service> {
        self.services.get(self.service_index(key)?)
    }

    fn service_index(&self, key: &ServiceKey) -> Option<usize> {
        self.index.get(key).copied()
    }

    fn service_mut(&mut self, key: &ServiceKey) -> Option<&mut Service> {
        let i = self.service_index(key)?;
        self.services.get_mut(i)
    }

    /// Takes back service `key` just added by `-A` (the last one), as a
    /// refused `-A` must leave the table as it was.
    fn forget_new_service(&mut self, key: &ServiceKey) {
        if self.services.last().is_some_and(|s| s.key == *key) {
            self.services.pop();
            self.index.remove(key);
        }
    }

    /// Puts back a service as it was before a refused `-E`.
    fn put_back_service(&mut self, old: Service) {
        if let Some(s) = self.service_mut(&old.key) {
            *s = old;
        }
    }

    /// `-A`: adds a service with no real servers.
    pub fn add_service(
        &mut self,
        key: ServiceKey,
        sched: Scheduler,
        persistent: Option<u32>,
    ) -> Result<(), AdmError> {
        if self.service(&key).is_some() {
            return Err(AdmError::ServiceExists);
        }
        if key.port == 0 && persistent.is_none() && !key.is_fwmark() {
            return Err(AdmError::ZeroPort);
        }
        self.index.insert(key, self.services.len());
        self.services.push(Service {
            key,
            sched,
            dests: Vec::new(),
            persistent,
            sched_flags: SchedFlags::default(),
            ops: false,
            pe: None,
            sorry: None,
            quorum: Quorum::default(),
            netmask: Netmask::host(key.addr),
            check: None,
            quorum_scripts: Scripts::default(),
            server_scripts: Vec::new(),
            marks: Vec::new(),
        });
        Ok(())
    }

    /// `-E`: replaces a service's scheduler and persistence (both, as the
    /// kernel does: the caller passes the full new settings).
    pub fn edit_service(
        &mut self,
        key: &ServiceKey,
        sched: Scheduler,
        persistent: Option<u32>,
    ) -> Result<(), AdmError> {
        let i = self.service_index(key).ok_or(AdmError::NoSuchService)?;
        if key.port == 0 && persistent.is_none() && !key.is_fwmark() {
            return Err(AdmError::ZeroPort);
        }
        let svc = &mut self.services[i];
        svc.sched = sched;
        svc.persistent = persistent;
        Ok(())
    }

    /// `-D`: removes a service and its real servers.
    pub fn del_service(&mut self, key: &ServiceKey) -> Result<(), AdmError> {
        let i = self.service_index(key).ok_or(AdmError::NoSuchService)?;
        let svc = self.services.remove(i);
        self.index.remove(key);
        for (j, s) in self.services.iter().enumerate().skip(i) {
            self.index.insert(s.key, j);
        }
        for d in &svc.dests {
            self.ids_in_use.remove(&d.id.0);
            self.keep_aside(TrashKey::real(svc.key, d), d.id, d.limits());
        }
        if let Some(s) = svc.sorry {
            self.ids_in_use.remove(&s.id.0);
            self.keep_aside(TrashKey::sorry(svc.key, &s), s.id, (0, 0));
        }
        Ok(())
    }

    /// `-C`: removes every service.  Ids already handed out are still not
    /// reused before the counter wraps, and the servers' are kept for them
    /// (see `trash`), as IPVS's flush puts its dests in the trash.
    pub fn clear(&mut self) {
        self.index.clear();
        for s in std::mem::take(&mut self.services) {
            for d in &s.dests {
                self.keep_aside(TrashKey::real(s.key, d), d.id, d.limits());
            }
            if let Some(o) = s.sorry {
                self.keep_aside(TrashKey::sorry(s.key, &o), o.id, (0, 0));
            }
        }
        self.ids_in_use.clear();
    }

    /// Sets a service's scheduler flags (`-b`) and persistence netmask (`-M`).
    /// A host mask of either family means none (the service's family's host
    /// mask is stored); another mask must fit the service ([`Netmask::fits`],
    /// else the kernel's `EINVAL`).
    pub fn set_service_options(
        &mut self,
        key: &ServiceKey,
        sched_flags: SchedFlags,
        netmask: impl Into<Netmask>,
    ) -> Result<(), AdmError> {
        let i = self.service_index(key).ok_or(AdmError::NoSuchService)?;
        let mut netmask = netmask.into();
        if netmask.is_host() {
            netmask = Netmask::host(key.addr);
        }
        if !netmask.fits(key.addr) {
            return Err(AdmError::InvalidOperation);
        }
        let svc = &mut self.services[i];
        svc.sched_flags = sched_flags;
        svc.netmask = netmask;
        Ok(())
    }

    /// Sets a service's one-packet scheduling (`-o`; `-E` without it clears
    /// it, as ipvsadm's edit replaces the service's flags).
    pub fn set_service_ops(&mut self, key: &ServiceKey, ops: bool) -> Result<(), AdmError> {
        let i = self.service_index(key).ok_or(AdmError::NoSuchService)?;
        self.services[i].ops = ops;
        Ok(())
    }

    /// Sets a service's persistence engine (`--pe`; `-E` without it clears
    /// it, as ipvsadm's edit sends the service's whole entry).
    pub fn set_service_pe(
        &mut self,
        key: &ServiceKey,
        pe: Option<PersistEngine>,
    ) -> Result<(), AdmError> {
        let i = self.service_index(key).ok_or(AdmError::NoSuchService)?;
        self.services[i].pe = pe;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn key(port: u16) -> ServiceKey {
        ServiceKey::new(Proto::Tcp, Ipv4Addr::new(198, 18, 0, 110), port)
    }

    fn rip(last: u8) -> Ipv4Addr {
        Ipv4Addr::new(198, 19, 0, last)
    }

    #[test]
    fn proto_names_and_numbers() {
        assert_eq!(Proto::Tcp.number(), 6);
        assert_eq!(Proto::Udp.number(), 17);
        assert_eq!(Proto::Tcp.name(), "TCP");
        assert_eq!(Proto::Udp.name(), "UDP");
        assert_eq!(Proto::Tcp.option(), "-t");
        assert_eq!(Proto::Udp.option(), "-u");
        assert!(Proto::Tcp < Proto::Udp);
    }

    #[test]
    fn scheduler_names() {
        assert_eq!("rr".parse::<Scheduler>(), Ok(Scheduler::Rr));
        assert_eq!("wrr".parse::<Scheduler>(), Ok(Scheduler::Wrr));
        assert_eq!(Scheduler::Rr.name(), "rr");
        assert_eq!(Scheduler::Wrr.to_string(), "wrr");
        for s in ALL_SCHEDULERS {
            assert_eq!(s.name().parse::<Scheduler>(), Ok(s));
        }
        let e = "bogus".parse::<Scheduler>().unwrap_err();
        assert_eq!(e.to_string(), "Scheduler or persistence engine not found");
        assert!("RR".parse::<Scheduler>().is_err());
    }

    #[test]
    fn service_key_order_is_ipvsadm_listing_order() {
        let a = ServiceKey::new(Proto::Udp, Ipv4Addr::new(1, 1, 1, 1), 1);
        let b = ServiceKey::new(Proto::Tcp, Ipv4Addr::new(9, 9, 9, 9), 9);
        let c = ServiceKey::new(Proto::Tcp, Ipv4Addr::new(9, 9, 9, 9), 10);
        let d = ServiceKey::new(Proto::Tcp, Ipv4Addr::new(10, 0, 0, 1), 1);
        let mut v = vec![d, a, c, b];
        v.sort();
        assert_eq!(v, vec![b, c, d, a]);
    }

    #[test]
    fn ipv6_keys_sort_after_ipv4_and_show_in_brackets() {
        let v6: Ipv6Addr = "2001:2:0:1::110".parse().unwrap();
        let a = ServiceKey::new(Proto::Tcp, v6, 80);
        let b = ServiceKey::new(Proto::Udp, Ipv4Addr::new(198, 18, 0, 1), 53);
        let c = ServiceKey::new(Proto::Tcp, "2001:2:0:1::9".parse::<Ipv6Addr>().unwrap(), 80);
        let mut v = vec![a, b, c];
        v.sort();
        // Family first (ipvs_cmp_services), then protocol, address, port.
        assert_eq!(v, vec![b, c, a]);
        assert_eq!(a.to_string(), "TCP [2001:2:0:1::110]:80");
        assert_eq!((a.addr6(), a.addr4()), (Some(v6), None));
        assert_eq!(b.to_string(), "UDP 198.18.0.1:53");
    }

    #[test]
    fn netmask_serde_keeps_the_old_form() {
        let old = r#""255.255.255.0""#;
        let m: Netmask = serde_json::from_str(old).unwrap();
        assert_eq!(m, Netmask::V4(Ipv4Addr::new(255, 255, 255, 0)));
        assert_eq!(serde_json::to_string(&m).unwrap(), old);
        let m6: Netmask = serde_json::from_str("64").unwrap();
        assert_eq!(m6, Netmask::V6(64));
        assert!(Netmask::HOST6.is_host() && Netmask::HOST4.is_host());
        assert!(!Netmask::V6(64).fits(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    }

    #[test]
    fn service_duplicates_and_missing() {
        let mut c = Config::new();
        c.add_service(key(80), Scheduler::Rr, None).unwrap();
        assert_eq!(
            c.add_service(key(80), Scheduler::Wrr, None),
            Err(AdmError::ServiceExists)
        );
        assert_eq!(
            c.edit_service(&key(81), Scheduler::Wrr, None),
            Err(AdmError::NoSuchService)
        );
        assert_eq!(c.del_service(&key(81)), Err(AdmError::NoSuchService));
        c.edit_service(&key(80), Scheduler::Wrr, Some(60)).unwrap();
        let s = c.service(&key(80)).unwrap();
        assert_eq!((s.sched, s.persistent), (Scheduler::Wrr, Some(60)));
        c.del_service(&key(80)).unwrap();
        assert!(c.services().is_empty());
    }

    #[test]
    fn zero_port_needs_persistence() {
        let mut c = Config::new();
        assert_eq!(
            c.add_service(key(0), Scheduler::Rr, None),
            Err(AdmError::ZeroPort)
        );
        c.add_service(key(0), Scheduler::Rr, Some(360)).unwrap();
        assert_eq!(
            c.edit_service(&key(0), Scheduler::Rr, None),
            Err(AdmError::ZeroPort)
        );
    }

    #[test]
    fn services_keep_insertion_order() {
        let mut c = Config::new();
        for p in [90, 80, 85] {
            c.add_service(key(p), Scheduler::Rr, None).unwrap();
        }
        let ports: Vec<u16> = c.services().iter().map(|s| s.key.port).collect();
        assert_eq!(ports, vec![90, 80, 85]);
    }

    #[test]
    fn dest_errors() {
        let mut c = Config::new();
        assert_eq!(
            c.add_dest(&key(80), rip(2), 80, 1),
            Err(AdmError::ServiceNotDefined)
        );
        assert_eq!(
            c.edit_dest(&key(80), rip(2), 80, 1),
            Err(AdmError::ServiceNotDefined)
        );
        assert_eq!(
            c.del_dest(&key(80), rip(2), 80),
            Err(AdmError::ServiceNotDefined)
        );
        c.add_service(key(80), Scheduler::Rr, None).unwrap();
        c.add_dest(&key(80), rip(2), 80, 1).unwrap();
        assert_eq!(
            c.add_dest(&key(80), rip(2), 80, 5),
            Err(AdmError::DestExists)
        );
        // Same address, other port: a different real server.
        c.add_dest(&key(80), rip(2), 8080, 1).unwrap();
        assert_eq!(
            c.edit_dest(&key(80), rip(3), 80, 1),
            Err(AdmError::NoSuchDest)
        );
        assert_eq!(c.del_dest(&key(80), rip(3), 80), Err(AdmError::NoSuchDest));
        assert_eq!(c.dest_count(), 2);
    }

    #[test]
    fn ids_are_stable_and_not_reused() {
        let mut c = Config::new();
        c.add_service(key(80), Scheduler::Wrr, None).unwrap();
        c.add_service(key(81), Scheduler::Rr, None).unwrap();
        let a = c.add_dest(&key(80), rip(2), 80, 1).unwrap();
        let b = c.add_dest(&key(80), rip(3), 80, 1).unwrap();
        let x = c.add_dest(&key(81), rip(2), 81, 1).unwrap();
        assert_eq!((a, b, x), (DestId(0), DestId(1), DestId(2)));
        // Editing keeps the id.
        assert_eq!(c.edit_dest(&key(80), rip(3), 80, 7).unwrap(), b);
        assert_eq!(c.service(&key(80)).unwrap().dests[1].id, b);
        assert_eq!(c.service(&key(80)).unwrap().dests[1].weight, 7);
        // Deleting keeps the id for the server (IPVS's trash): another
        // server gets a new one, the same server added again its own.
        assert_eq!(c.del_dest(&key(80), rip(2), 80).unwrap(), a);
        assert_eq!(c.add_dest(&key(80), rip(4), 80, 1).unwrap(), DestId(3));
        assert_eq!(c.add_dest(&key(81), rip(2), 80, 1).unwrap(), DestId(4));
        assert_eq!(c.add_dest(&key(80), rip(2), 80, 1).unwrap(), a);
        // Deleting a service frees its ids; clear frees all, and keeps them
        // for their servers too (IPVS's flush puts its dests in the trash).
        c.del_service(&key(81)).unwrap();
        assert_eq!(c.dest_count(), 3);
        c.clear();
        assert_eq!(c.dest_count(), 0);
        assert!(c.services().is_empty());
        c.add_service(key(80), Scheduler::Rr, None).unwrap();
        assert_eq!(c.add_dest(&key(80), rip(5), 80, 1).unwrap(), DestId(5));
        assert_eq!(c.add_dest(&key(80), rip(3), 80, 1).unwrap(), b);
        c.add_service(key(81), Scheduler::Rr, None).unwrap();
        assert_eq!(c.add_dest(&key(81), rip(2), 81, 1).unwrap(), x);
    }

    /// IPVS's trash timer (`ip_vs_dest_trash_expire`) on an injected
    /// clock: a removed server's id stays while anything holds it, and is
    /// freed once nothing has for `TRASH_PERIOD`; added back before that,
    /// the server has its id again, after it a new one.
    #[test]
    fn the_trash_frees_an_id_idle_for_its_period() {
        let mut c = Config::new();
        c.add_service(key(80), Scheduler::Rr, None).unwrap();
        let a = c.add_dest(&key(80), rip(2), 80, 1).unwrap();
        let b = c.add_dest(&key(80), rip(3), 80, 1).unwrap();
        assert_eq!(c.take_fresh_ids(), [a, b]);
        c.del_dest(&key(80), rip(2), 80).unwrap();
        c.del_dest(&key(80), rip(3), 80).unwrap();
        assert_eq!(c.trashed_ids(), [a, b]);
        // `a` has a connection until 500 s; `b` none.
        let held = |t: u64| move |id: DestId| id == a && t < 500;
        for t in [0, 100, 119] {
            assert_eq!(c.sweep_trash(t, 0, held(t)), [], "at {t}");
        }
        assert_eq!(c.sweep_trash(120, 0, held(120)), [b], "idle from 0");
        assert!(!c.keeps_id(b) && c.keeps_id(a));
        assert_eq!(c.sweep_trash(400, 0, held(400)), []);
        // Its connection gone at 500: idle from the first sweep after.
        assert_eq!(c.sweep_trash(501, 0, held(501)), []);
        assert_eq!(c.sweep_trash(620, 0, held(620)), []);
        assert_eq!(c.take_fresh_ids(), []);
        // Added back within the period: its own id, not a fresh one.
        assert_eq!(c.add_dest(&key(80), rip(2), 80, 1).unwrap(), a);
        assert_eq!(c.take_fresh_ids(), []);
        c.del_dest(&key(80), rip(2), 80).unwrap();
        // Removed again: idle from the next sweep, freed a period later.
        assert_eq!(c.sweep_trash(700, 0, held(700)), []);
        assert_eq!(c.sweep_trash(819, 0, held(819)), []);
        assert_eq!(c.sweep_trash(820, 0, held(820)), [a]);
        assert!(c.trashed_ids().is_empty());
        // Both added after: new servers, with new ids.
        let a2 = c.add_dest(&key(80), rip(2), 80, 1).unwrap();
        let b2 = c.add_dest(&key(80), rip(3), 80, 1).unwrap();
        assert_eq!((a2, b2), (DestId(2), DestId(3)));
        assert_eq!(c.take_fresh_ids(), [a2, b2]);
    }

    /// A kept id seen held again is idle only from the next sweep that
    /// finds nothing holding it (ringvs's held connections are counted,
    /// not IPVS's references, which never come back to a trashed dest).
    #[test]
    fn a_trashed_id_held_again_starts_its_period_over() {
        let mut c = Config::new();
        c.add_service(key(80), Scheduler::Rr, None).unwrap();
        let a = c.add_dest(&key(80), rip(2), 80, 1).unwrap();
        c.del_dest(&key(80), rip(2), 80).unwrap();
        assert_eq!(c.sweep_trash(0, 0, |_| false), []);
        assert_eq!(c.sweep_trash(60, 0, |_| true), []);
        assert_eq!(c.sweep_trash(130, 0, |_| false), []);
        assert_eq!(c.sweep_trash(249, 0, |_| false), []);
        assert_eq!(c.sweep_trash(250, 0, |_| false), [a]);
    }

    /// Out of ids, the kept id idle longest gives its place up to a new
    /// server once settled: a sweep found nothing holding it after every
    /// worker had loaded the rules published without it (fake workers: the
    /// `loaded` epoch the sweep is given). A held one never does, nor one
    /// a worker on older rules may still schedule to.
    #[test]
    fn out_of_ids_only_a_settled_kept_id_is_reused() {
        // 256 services of 256 real servers each: service 80 has ids 0..256.
        let mut c = Config::new();
        for p in 80..80 + 256u16 {
            c.add_service(key(p), Scheduler::Rr, None).unwrap();
            for i in 0..256u32 {
                let addr = Ipv4Addr::from(0x0a00_0000 + i);
                c.add_dest(&key(p), addr, 80, 1).unwrap();
            }
        }
        let (x, y, z) = (
            Ipv4Addr::from(0x0a00_0000 + 7),
            Ipv4Addr::from(0x0a00_0000 + 8),
            Ipv4Addr::from(0x0a00_0000 + 9),
        );
        for a in [x, y, z] {
            c.del_dest(&key(80), a, 80).unwrap();
        }
        let new = |c: &mut Config| c.add_dest(&key(80), rip(1), 1, 1);
        // Not published yet: however far the workers are, none is settled.
        assert_eq!(c.sweep_trash(0, u64::MAX, |_| false), []);
        assert_eq!(new(&mut c), Err(AdmError::NoMemory), "not published");
        c.published(5);
        // 7 holds a connection, 8 a template; 9 is idle, but a worker is
        // still on epoch 4's rules, which name them: it may schedule to 9.
        let (h78, h7) = (
            |id: DestId| id == DestId(7) || id == DestId(8),
            |id: DestId| id == DestId(7),
        );
        for t in [10, 12, 14] {
            assert_eq!(c.sweep_trash(t, 4, h78), []);
            assert_eq!(new(&mut c), Err(AdmError::NoMemory), "a worker on 4 at {t}");
        }
        // Every worker at 5 (or past it): 9 is settled at one sweep.
        assert_eq!(c.sweep_trash(16, 5, h78), []);
        c.take_fresh_ids();
        assert_eq!(new(&mut c), Ok(DestId(9)));
        assert_eq!(c.take_fresh_ids(), [DestId(9)]);
        let again = |c: &mut Config| c.add_dest(&key(80), rip(1), 2, 1);
        assert_eq!(again(&mut c), Err(AdmError::NoMemory), "8 held");
        assert_eq!(c.sweep_trash(18, 6, h7), []);
        assert_eq!(again(&mut c), Ok(DestId(8)));
        assert_eq!(c.add_dest(&key(80), rip(1), 3, 1), Err(AdmError::NoMemory));
        // 8's server comes back as a new one; 7's still gets its own.
        assert_eq!(c.add_dest(&key(80), y, 80, 1), Err(AdmError::NoMemory));
        assert_eq!(c.add_dest(&key(80), x, 80, 1), Ok(DestId(7)));
        // Removed again and published as 9: settled only by a sweep with
        // every worker at 9, and unsettled by a sweep that finds it held.
        c.del_dest(&key(80), x, 80).unwrap();
        c.published(9);
        assert_eq!(c.sweep_trash(20, 8, |_| false), []);
        assert_eq!(
            c.add_dest(&key(80), rip(1), 4, 1),
            Err(AdmError::NoMemory),
            "a worker on 8"
        );
        assert_eq!(c.sweep_trash(22, 9, |_| false), []);
        assert_eq!(c.sweep_trash(24, 9, h7), []);
        assert_eq!(
            c.add_dest(&key(80), rip(1), 4, 1),
            Err(AdmError::NoMemory),
            "held again"
        );
        assert_eq!(c.sweep_trash(26, 9, |_| false), []);
        assert_eq!(c.add_dest(&key(80), rip(1), 4, 1), Ok(DestId(7)));
    }

    #[test]
    fn ids_wrap_skipping_those_in_use() {
        let mut c = Config::new();
        c.add_service(key(80), Scheduler::Rr, None).unwrap();
        let keep = c.add_dest(&key(80), rip(1), 1, 1).unwrap();
        assert_eq!(keep, DestId(0));
        let second = c.add_dest(&key(80), rip(1), 2, 1).unwrap();
        assert_eq!(second, DestId(1));
        c.del_dest(&key(80), rip(1), 2).unwrap();
        // Pretend the counter is about to wrap.
        c.next_id = MAX_DEST_IDS - 1;
        assert_eq!(
            c.add_dest(&key(80), rip(1), 3, 1).unwrap(),
            DestId(MAX_DEST_IDS - 1)
        );
        // 0 is still in use and 1 kept for its removed server, so the next
        // id after the wrap is 2; that server gets 1 back.
        assert_eq!(c.add_dest(&key(80), rip(1), 4, 1).unwrap(), DestId(2));
        assert_eq!(c.add_dest(&key(80), rip(1), 2, 1).unwrap(), second);
    }

    #[test]
    fn ids_run_out() {
        // 256 services of 256 real servers each use up every id.
        let mut c = Config::new();
        for p in 1..=256u16 {
            c.add_service(key(p), Scheduler::Rr, None).unwrap();
            for i in 0..256u32 {
                let addr = Ipv4Addr::from(0x0a00_0000 + i);
                c.add_dest(&key(p), addr, 80, 1).unwrap();
            }
        }
        assert_eq!(c.dest_count(), MAX_DEST_IDS as usize);
        assert_eq!(c.add_dest(&key(1), rip(1), 1, 1), Err(AdmError::NoMemory));
        // Service 1 holds ids 0..256; free 0x0a00004d (id 77).
        c.del_dest(&key(1), Ipv4Addr::from(0x0a00_0000 + 77), 80)
            .unwrap();
        // Kept for its server until a sweep finds nothing holding it with
        // every worker on the rules published without it.
        assert_eq!(c.add_dest(&key(1), rip(1), 1, 1), Err(AdmError::NoMemory));
        c.published(3);
        assert_eq!(c.sweep_trash(0, 2, |_| false), []);
        assert_eq!(c.add_dest(&key(1), rip(1), 1, 1), Err(AdmError::NoMemory));
        assert_eq!(c.sweep_trash(2, 3, |_| false), []);
        assert_eq!(c.add_dest(&key(1), rip(1), 1, 1).unwrap(), DestId(77));
    }

    #[test]
    fn forward_is_set_per_real_server() {
        let mut c = Config::new();
        c.add_service(key(80), Scheduler::Rr, None).unwrap();
        c.add_dest(&key(80), rip(2), 80, 1).unwrap();
        c.add_dest(&key(80), rip(3), 80, 1).unwrap();
        let gue = Forward::Tunnel(Tunnel {
            kind: TunKind::Gue,
            port: 6080,
            csum: TunCsum::Csum,
        });
        c.set_dest_forward(&key(80), rip(3), 80, gue).unwrap();
        let fwd: Vec<Forward> = c.services()[0].dests.iter().map(|d| d.forward).collect();
        assert_eq!(fwd, vec![Forward::Masq, gue]);
        // A GUE tunnel without port is the kernel's EINVAL; nothing changes.
        let bad = Forward::Tunnel(Tunnel {
            kind: TunKind::Gue,
            ..Tunnel::IPIP
        });
        assert_eq!(
            c.set_dest_forward(&key(80), rip(3), 80, bad),
            Err(AdmError::InvalidOperation)
        );
        assert_eq!(c.services()[0].dests[1].forward, gue);
        assert_eq!(
            c.set_dest_forward(&key(80), rip(4), 80, Forward::Route),
            Err(AdmError::NoSuchDest)
        );
        assert_eq!(
            c.set_dest_forward(&key(81), rip(2), 80, Forward::Route),
            Err(AdmError::ServiceNotDefined)
        );
        // State saved before the field existed loads as masquerading.
        let old = r#"{"addr":"198.19.0.2","port":80,"weight":1,"id":0}"#;
        let d: Dest = serde_json::from_str(old).unwrap();
        assert_eq!(d.forward, Forward::Masq);
    }

    #[test]
    fn exit_codes() {
        assert_eq!(AdmError::ServiceExists.exit_code(), 255);
        assert_eq!(AdmError::Usage("x".into()).exit_code(), 2);
        assert_eq!(AdmError::Help("x".into()).exit_code(), 0);
        let e = AdmError::Line {
            line: 3,
            error: Box::new(AdmError::Usage("illegal weight specified".into())),
        };
        assert_eq!(e.exit_code(), 2);
        assert_eq!(e.to_string(), "line 3: illegal weight specified");
    }
}
