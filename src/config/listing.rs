//! What a listing is asked for and what it is fed: the options of `-L`
//! ([`ListOpts`], made by [`super::ipvsadm`]'s parser) and the data plane's live
//! numbers ([`Live`], [`ConnInfo`], [`DestStats`]), which [`super::format`]
//! prints.
//!
//! This is the contract below both the parser and the formatter, and below the
//! modules that produce the numbers: `nat` and `stats` re-export [`ConnInfo`]
//! (with their connection state as `S`) and [`DestStats`] under their old
//! names, so `config` depends on neither.

use std::net::{IpAddr, Ipv4Addr};

use super::{DestId, PersistEngine, ServiceKey};

/// Version of IPVS that listings claim to be.
pub const IPVS_VERSION: &str = "1.2.1";
/// Connection table size that listings show (the kernel's default).
pub const CONN_TAB_SIZE: u32 = 4096;

/// What a list command (`-L`) shows; ipvsadm's format flags and list options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListOpts {
    /// `-n`
    pub numeric: bool,
    /// `-t|-u SERVICE`: only this service, without the version line.
    pub service: Option<ServiceKey>,
    /// `-c`
    pub connections: bool,
    /// `--timeout`
    pub timeout: bool,
    /// `--daemon`
    pub daemon: bool,
    /// `--stats`
    pub stats: bool,
    /// `--rate`
    pub rate: bool,
    /// `--thresholds`
    pub thresholds: bool,
    /// `--persistent-conn`
    pub persistent_conn: bool,
    /// `--nosort`: services in the order they were added, each one's servers
    /// newest first (the kernel's list order).
    pub nosort: bool,
    /// `--sort` (a no-op in ipvsadm; with `-c` ringvs sorts the entries).
    pub sort: bool,
    /// `--exact`
    pub exact: bool,
    /// `--tun-info`
    pub tun_info: bool,
}

/// A connection state as a listing shows it.
pub trait StateName: Copy {
    /// The name ipvsadm prints in `-L -c` (`ESTABLISHED`, `SYN_RECV`, ...).
    fn name(self) -> &'static str;
}

/// One entry of a connection listing (`ipvsadm -L -c`), as a worker reports it;
/// `S` is the connection state (`nat::State`, whose `nat::ConnInfo` this is).
///
/// `A` is the address type: `Ipv4Addr` where the connections are IPv4 only
/// (the data plane's today), `IpAddr` for a dual-stack listing, where each
/// address is shown in its own family (ipvsadm's `print_conn` reads the
/// client's and the real server's families apart: a tunnelled server may be
/// of the other one).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConnInfo<S, A = Ipv4Addr> {
    /// IP protocol number of the service (6 TCP, 17 UDP).
    pub proto: u8,
    pub client: (A, u16),
    pub vip: (A, u16),
    pub dest: (A, u16),
    pub state: S,
    /// Seconds until the entry expires.
    pub expires_in: u32,
    /// A persistence template (`-p`) rather than a connection.
    pub template: bool,
    /// A template one of whose connections was established (or, UDP, got
    /// a reply): IPVS's `IP_VS_CTPL_S_ASSURED`, shown as `ASSURED`.
    #[serde(default)]
    pub assured: bool,
    /// A template of a persistence engine: the engine and its data (the
    /// SIP engine's Call-ID), which `/proc/net/ip_vs_conn` shows after the
    /// expiry (`ip_vs_conn_seq_show`, `show_pe_data`); `None` for any
    /// other entry, as the kernel keeps `pe_data` on templates only
    /// (`ip_vs_conn_new`).
    #[serde(default)]
    pub pe: Option<(PersistEngine, Box<[u8]>)>,
}

/// Traffic of one real server as IPVS counts it (`struct ip_vs_stats`): the
/// connections scheduled to it and the packets and bytes (IP total length) of
/// both directions. `in` is client → server, `out` server → client.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DestStats {
    pub conns: u64,
    pub inpkts: u64,
    pub outpkts: u64,
    pub inbytes: u64,
    pub outbytes: u64,
}

impl DestStats {
    /// Field-wise sum (over workers, or over a service's real servers),
    /// modulo 2^64 as the kernel's `u64` counters wrap: a sum past the top is
    /// never a panic (it was one in builds with overflow checks).
    pub fn add(&mut self, o: &DestStats) {
        self.conns = self.conns.wrapping_add(o.conns);
        self.inpkts = self.inpkts.wrapping_add(o.inpkts);
        self.outpkts = self.outpkts.wrapping_add(o.outpkts);
        self.inbytes = self.inbytes.wrapping_add(o.inbytes);
        self.outbytes = self.outbytes.wrapping_add(o.outbytes);
    }
}

/// An address a listing can show: either family, or one of them.
pub trait ListAddr: Copy + Ord + Into<IpAddr> {}

impl<A: Copy + Ord + Into<IpAddr>> ListAddr for A {}

/// The live numbers a listing shows, per real server; `S` is the state type
/// of the connections, `A` their address type (see [`ConnInfo`]).
pub struct Live<'a, S, A = Ipv4Addr> {
    /// (ActiveConn, InActConn).
    pub gauges: &'a dyn Fn(DestId) -> (u32, u32),
    /// Traffic since start or the last `-Z`.
    pub stats: &'a dyn Fn(DestId) -> DestStats,
    /// Rates per second of a set of real servers together (`conns` is CPS,
    /// `inpkts` InPPS, ... `outbytes` OutBPS): one server's for its row, all
    /// of a service's for the service's row, summed before they are rounded
    /// (IPVS keeps an estimator of the service's own).
    pub rates: &'a dyn Fn(&[DestId]) -> DestStats,
    /// Connections and persistence templates (for `-c` and PersistConn).
    pub conns: &'a [ConnInfo<S, A>],
    /// TCP established, TCP FIN_WAIT and UDP timeouts, seconds.
    pub timeouts: [u32; 3],
}

/// The state of connections that do not exist: the `S` of [`Live::idle`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoConns {}

impl StateName for NoConns {
    fn name(self) -> &'static str {
        match self {}
    }
}

fn no_gauges(_: DestId) -> (u32, u32) {
    (0, 0)
}

fn no_stats(_: DestId) -> DestStats {
    DestStats::default()
}

fn no_rates(_: &[DestId]) -> DestStats {
    DestStats::default()
}

impl Live<'static, NoConns> {
    /// All zero, no connections, IPVS's default timeouts.
    pub fn idle() -> Self {
        Live {
            gauges: &no_gauges,
            stats: &no_stats,
            rates: &no_rates,
            conns: &[],
            timeouts: [900, 120, 300],
        }
    }
}
