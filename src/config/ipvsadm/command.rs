//! What an ipvsadm command line means: [`AdmCommand`], the settings of
//! services and real servers it carries, and ipvsadm's defaults for them.

use std::net::IpAddr;

use super::super::listing::ListOpts;
use super::super::{
    AdmError, Forward, HealthCheck, MarkDest, Netmask, PersistEngine, Quorum, SchedFlags,
    Scheduler, Scripts, ServiceKey, SorryOpts,
};

/// ipvsadm's default persistence timeout, seconds.
pub const DEFAULT_PERSISTENT_TIMEOUT: u32 = 6 * 60;
/// ipvsadm's largest persistence timeout: 31 days.
pub const MAX_TIMEOUT: u32 = 86400 * 31;
/// ipvsadm's default scheduler.
pub const DEFAULT_SCHEDULER: &str = "wlc";

/// Settings of a virtual service given with `-A`/`-E`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceOpts {
    /// `-s`: the scheduler's name (ipvsadm's default `wlc` when not given).
    /// ipvsadm knows no names: the kernel looks it up when it applies the
    /// command ([`ServiceOpts::lookup`]), so an unknown one is refused then.
    pub sched: String,
    /// `-p`: persistence timeout, seconds.
    pub persistent: Option<u32>,
    /// `-M`: an IPv4 netmask, or an IPv6 service's prefix length; the host
    /// mask of the service's family when not given (either host mask
    /// means none, see [`Config::set_service_options`](super::super::Config::set_service_options)).
    pub netmask: Netmask,
    /// `-b`.
    pub sched_flags: SchedFlags,
    /// `-o`: one-packet scheduling.
    pub ops: bool,
    /// `--pe`: the persistence engine's name, looked up with the
    /// scheduler's.
    pub pe: Option<String>,
    /// `--check` and its settings (a ringvs extension).
    pub check: Option<HealthCheck>,
    /// `--sorry-server` and its settings (a ringvs extension: keepalived's
    /// `sorry_server`).
    pub sorry: Option<SorryOpts>,
    /// `--quorum` and `--hysteresis` (keepalived's; 1 and 0 when not given).
    pub quorum: Quorum,
    /// `--quorum-up` and `--quorum-down` (keepalived's scripts).
    pub scripts: Scripts,
    /// `--mark-dest` (a firewall-mark service's marking rules; when not
    /// given, `-E` keeps the service's).
    pub marks: Option<Vec<MarkDest>>,
}

impl ServiceOpts {
    /// A service with scheduler `sched` and nothing else.
    pub fn new(sched: Scheduler) -> Self {
        ServiceOpts {
            sched: sched.name().to_string(),
            persistent: None,
            netmask: Netmask::HOST4,
            sched_flags: SchedFlags::default(),
            ops: false,
            pe: None,
            check: None,
            sorry: None,
            quorum: Quorum::default(),
            scripts: Scripts::default(),
            marks: None,
        }
    }

    /// The scheduler and persistence engine the names stand for, looked up
    /// as the kernel's `ip_vs_add_service` and `ip_vs_edit_service`
    /// (`ip_vs_ctl.c`) look them up: the scheduler first
    /// (`ip_vs_scheduler_get`), then the engine (`ip_vs_pe_getbyname`),
    /// either unknown `ENOENT` ("Scheduler or persistence engine not
    /// found"). The caller has answered `EEXIST`/`ESRCH` for the service
    /// before, as `ip_vs_genl_set_cmd` does.
    pub fn lookup(&self) -> Result<(Scheduler, Option<PersistEngine>), AdmError> {
        let sched = self.sched.parse()?;
        let pe = self.pe.as_deref().map(str::parse).transpose()?;
        Ok((sched, pe))
    }
}

/// Settings of a real server given with `-a`/`-e`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DestOpts {
    /// `-w` (1 when not given).
    pub weight: u32,
    /// `-x` (0: no limit).
    pub u_threshold: u32,
    /// `-y`.
    pub l_threshold: u32,
    /// `-m`, `-g`, `-i` and the tunnel options (masquerading when none is
    /// given: ringvs's default, where ipvsadm's is `-g`).
    pub forward: Forward,
    /// `--notify-up` and `--notify-down` (keepalived's scripts).
    pub scripts: Scripts,
    /// `--check-ip`: where its health check goes (keepalived's
    /// `connect_ip`; `None`: its own address).
    pub check_ip: Option<std::net::IpAddr>,
    /// `--file-check` given: `scripts.files` are the server's
    /// `FILE_CHECK`s; without, an `-e` keeps those it has.
    pub set_files: bool,
}

impl DestOpts {
    pub fn weight(weight: u32) -> Self {
        DestOpts {
            weight,
            u_threshold: 0,
            l_threshold: 0,
            forward: Forward::Masq,
            scripts: Scripts::default(),
            check_ip: None,
            set_files: false,
        }
    }
}

/// A parsed ipvsadm command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdmCommand {
    /// `-A`
    AddService { key: ServiceKey, opts: ServiceOpts },
    /// `-E` (the full new setup of the service)
    EditService { key: ServiceKey, opts: ServiceOpts },
    /// `-D`
    DelService { key: ServiceKey },
    /// `-C`
    Clear,
    /// `-a`
    AddDest {
        key: ServiceKey,
        addr: IpAddr,
        port: u16,
        opts: DestOpts,
    },
    /// `-e`
    EditDest {
        key: ServiceKey,
        addr: IpAddr,
        port: u16,
        opts: DestOpts,
    },
    /// `-d`
    DelDest {
        key: ServiceKey,
        addr: IpAddr,
        port: u16,
    },
    /// `-L`/`-l`, and an empty command line.
    List(ListOpts),
    /// `-S`
    Save { numeric: bool },
    /// `-Z [SERVICE]`
    Zero { service: Option<ServiceKey> },
    /// `--set tcp tcpfin udp` (0 leaves a timeout unchanged)
    SetTimeout { tcp: u32, tcpfin: u32, udp: u32 },
    /// `-R`: the rules come on standard input.
    Restore,
    /// `--start-daemon master|backup` and the sync daemon's options.
    StartDaemon(DaemonOpts),
    /// `--stop-daemon master|backup`.
    StopDaemon { role: SyncRole },
    /// `--ha active|standby` (a ringvs command: the director's HA role).
    SetRole { standby: bool },
}

/// Which connection-sync daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SyncRole {
    Master,
    Backup,
}

impl SyncRole {
    pub fn name(self) -> &'static str {
        match self {
            SyncRole::Master => "master",
            SyncRole::Backup => "backup",
        }
    }
}

/// `--start-daemon`'s settings; `None`: the default the daemon picks (as the
/// kernel fills in what ipvsadm did not send).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DaemonOpts {
    pub role: SyncRole,
    /// `--mcast-interface` (empty when not given).
    pub mcast_ifn: String,
    /// `--syncid` (0 when not given).
    pub syncid: u8,
    /// `--sync-maxlen`.
    pub maxlen: Option<u16>,
    /// `--mcast-group`: an IPv4 or an IPv6 group (the family the daemon
    /// syncs over, IPVS's `mcast_af`).
    pub group: Option<IpAddr>,
    /// `--mcast-port`.
    pub port: Option<u16>,
    /// `--mcast-ttl`.
    pub ttl: Option<u8>,
}
