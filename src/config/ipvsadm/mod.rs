//! ipvsadm's command line: parsing and applying.
//!
//! [`parse`] accepts ipvsadm's syntax (short and long options, clustered
//! short options such as `-Ln`, `--opt=value`, `-p` with an optional
//! argument) and reports errors with ipvsadm's own messages and exit codes
//! where ipvsadm has one.  Behaviour follows ipvsadm 1.31 with popt option
//! processing:
//!
//! * The first option must be a command; a command after the first is an
//!   "invalid option".
//! * `-p` without a timeout means 360 seconds (ipvsadm's
//!   `IPVS_SVC_PERSISTENT_TIMEOUT`, 6*60; the man page says 300 but the code
//!   uses 360).  Its optional argument is the next word unless that word
//!   starts with `-`.
//! * `-r HOST` without a port takes the service port *as parsed so far*:
//!   with `-r` before `-t` the real port is 0 (the data plane then keeps
//!   the packet's destination port, as the kernel does).
//! * `-A`/`-E` without `-s` mean ipvsadm's default scheduler `wlc`.  `-E`
//!   replaces the whole service setup, as in ipvsadm: an `-E` without `-p`
//!   makes the service non-persistent, without `-M` resets the netmask,
//!   without `-b` clears the scheduler flags.
//! * `-e` without `-w` sets the weight back to 1 and without `-x`/`-y` the
//!   thresholds back to 0 (ipvsadm's defaults).
//! * `-a`/`-e` without a forwarding option mean masquerading here.  (ipvsadm
//!   would pick `-g`, direct routing, which ringvs does not do; `-g` and
//!   `-i` given explicitly are rejected.)
//! * Host and service names are looked up in `/etc/hosts` and
//!   `/etc/services` only (see [`Names`]), never in DNS.
//!
//! Listings are in [`super::format`].

use std::net::{Ipv4Addr, Ipv6Addr};

use super::names::Names;
use super::{
    AdmError, CheckKind, Config, DEFAULT_CHECK_PATH, DEFAULT_CHECK_STATUS, HealthCheck, Proto,
    SchedFlags, Scheduler, ServiceKey,
};
// What `-L` asks for; defined below both this parser and the listings.
pub use super::listing::{CONN_TAB_SIZE, IPVS_VERSION, ListOpts};

/// ipvsadm's default persistence timeout, seconds.
pub const DEFAULT_PERSISTENT_TIMEOUT: u32 = 6 * 60;
/// ipvsadm's largest persistence timeout: 31 days.
pub const MAX_TIMEOUT: u32 = 86400 * 31;
/// ipvsadm's default scheduler.
pub const DEFAULT_SCHEDULER: &str = "wlc";

/// Settings of a virtual service given with `-A`/`-E`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceOpts {
    pub sched: Scheduler,
    /// `-p`: persistence timeout, seconds.
    pub persistent: Option<u32>,
    /// `-M` (255.255.255.255 when not given).
    pub netmask: Ipv4Addr,
    /// `-b`.
    pub sched_flags: SchedFlags,
    /// `--check` and its settings (a ringvs extension).
    pub check: Option<HealthCheck>,
}

impl ServiceOpts {
    /// A service with scheduler `sched` and nothing else.
    pub fn new(sched: Scheduler) -> Self {
        ServiceOpts {
            sched,
            persistent: None,
            netmask: Ipv4Addr::BROADCAST,
            sched_flags: SchedFlags::default(),
            check: None,
        }
    }
}

/// Settings of a real server given with `-a`/`-e`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestOpts {
    /// `-w` (1 when not given).
    pub weight: u32,
    /// `-x` (0: no limit).
    pub u_threshold: u32,
    /// `-y`.
    pub l_threshold: u32,
}

impl DestOpts {
    pub fn weight(weight: u32) -> Self {
        DestOpts {
            weight,
            u_threshold: 0,
            l_threshold: 0,
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
        addr: Ipv4Addr,
        port: u16,
        opts: DestOpts,
    },
    /// `-e`
    EditDest {
        key: ServiceKey,
        addr: Ipv4Addr,
        port: u16,
        opts: DestOpts,
    },
    /// `-d`
    DelDest {
        key: ServiceKey,
        addr: Ipv4Addr,
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
}

// ---------------------------------------------------------------------------
// Option table
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tag {
    // Commands.
    AddService,
    EditService,
    DelService,
    Clear,
    List,
    Zero,
    AddServer,
    EditServer,
    DelServer,
    Set,
    Help,
    Version,
    Restore,
    Save,
    StartDaemon,
    StopDaemon,
    // Options.
    Tcp,
    Udp,
    Sctp,
    Fwmark,
    Scheduler,
    Persistent,
    Netmask,
    RealServer,
    Masq,
    Ipip,
    Gate,
    Weight,
    UThreshold,
    LThreshold,
    Numeric,
    Connection,
    McastInterface,
    SyncId,
    Timeout,
    Daemon,
    Stats,
    Rate,
    Thresholds,
    PersistentConn,
    NoSort,
    Sort,
    Exact,
    Ipv6,
    Ops,
    Pe,
    SchedFlags,
    McastGroup,
    McastPort,
    McastTtl,
    SyncMaxlen,
    TunInfo,
    TunType,
    TunPort,
    TunNocsum,
    TunCsum,
    TunRemcsum,
    // ringvs's health-check options (no ipvsadm column: -A/-E only).
    Check,
    CheckPath,
    CheckStatus,
    DelayLoop,
    ConnectTimeout,
    Retry,
    DelayBeforeRetry,
    InhibitOnFailure,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arg {
    No,
    Required,
    Optional,
}

struct Spec {
    long: &'static str,
    short: Option<char>,
    arg: Arg,
    tag: Tag,
}

const fn spec(long: &'static str, short: Option<char>, arg: Arg, tag: Tag) -> Spec {
    Spec {
        long,
        short,
        arg,
        tag,
    }
}

/// Every option ipvsadm knows, so that ipvsadm syntax we do not implement
/// gets a clear "not supported" rather than "unknown option".
const SPECS: &[Spec] = &[
    spec("add-service", Some('A'), Arg::No, Tag::AddService),
    spec("edit-service", Some('E'), Arg::No, Tag::EditService),
    spec("delete-service", Some('D'), Arg::No, Tag::DelService),
    spec("clear", Some('C'), Arg::No, Tag::Clear),
    spec("list", Some('L'), Arg::No, Tag::List),
    spec("list", Some('l'), Arg::No, Tag::List),
    spec("zero", Some('Z'), Arg::No, Tag::Zero),
    spec("add-server", Some('a'), Arg::No, Tag::AddServer),
    spec("edit-server", Some('e'), Arg::No, Tag::EditServer),
    spec("delete-server", Some('d'), Arg::No, Tag::DelServer),
    spec("set", None, Arg::No, Tag::Set),
    spec("help", Some('h'), Arg::No, Tag::Help),
    spec("version", Some('v'), Arg::No, Tag::Version),
    spec("restore", Some('R'), Arg::No, Tag::Restore),
    spec("save", Some('S'), Arg::No, Tag::Save),
    spec("start-daemon", None, Arg::Required, Tag::StartDaemon),
    spec("stop-daemon", None, Arg::Required, Tag::StopDaemon),
    spec("tcp-service", Some('t'), Arg::Required, Tag::Tcp),
    spec("udp-service", Some('u'), Arg::Required, Tag::Udp),
    spec("sctp-service", None, Arg::Required, Tag::Sctp),
    spec("fwmark-service", Some('f'), Arg::Required, Tag::Fwmark),
    spec("scheduler", Some('s'), Arg::Required, Tag::Scheduler),
    spec("persistent", Some('p'), Arg::Optional, Tag::Persistent),
    spec("netmask", Some('M'), Arg::Required, Tag::Netmask),
    spec("real-server", Some('r'), Arg::Required, Tag::RealServer),
    spec("masquerading", Some('m'), Arg::No, Tag::Masq),
    spec("ipip", Some('i'), Arg::No, Tag::Ipip),
    spec("gatewaying", Some('g'), Arg::No, Tag::Gate),
    spec("weight", Some('w'), Arg::Required, Tag::Weight),
    spec("u-threshold", Some('x'), Arg::Required, Tag::UThreshold),
    spec("l-threshold", Some('y'), Arg::Required, Tag::LThreshold),
    spec("numeric", Some('n'), Arg::No, Tag::Numeric),
    spec("connection", Some('c'), Arg::No, Tag::Connection),
    spec("mcast-interface", None, Arg::Required, Tag::McastInterface),
    spec("syncid", None, Arg::Required, Tag::SyncId),
    spec("timeout", None, Arg::No, Tag::Timeout),
    spec("daemon", None, Arg::No, Tag::Daemon),
    spec("stats", None, Arg::No, Tag::Stats),
    spec("rate", None, Arg::No, Tag::Rate),
    spec("thresholds", None, Arg::No, Tag::Thresholds),
    spec("persistent-conn", None, Arg::No, Tag::PersistentConn),
    spec("nosort", None, Arg::No, Tag::NoSort),
    spec("sort", None, Arg::No, Tag::Sort),
    spec("exact", Some('X'), Arg::No, Tag::Exact),
    spec("ipv6", Some('6'), Arg::No, Tag::Ipv6),
    spec("ops", Some('o'), Arg::No, Tag::Ops),
    spec("pe", None, Arg::Required, Tag::Pe),
    spec("sched-flags", Some('b'), Arg::Required, Tag::SchedFlags),
    spec("mcast-group", None, Arg::Required, Tag::McastGroup),
    spec("mcast-port", None, Arg::Required, Tag::McastPort),
    spec("mcast-ttl", None, Arg::Required, Tag::McastTtl),
    spec("sync-maxlen", None, Arg::Required, Tag::SyncMaxlen),
    spec("tun-info", None, Arg::No, Tag::TunInfo),
    spec("tun-type", None, Arg::Required, Tag::TunType),
    spec("tun-port", None, Arg::Required, Tag::TunPort),
    spec("tun-nocsum", None, Arg::No, Tag::TunNocsum),
    spec("tun-csum", None, Arg::No, Tag::TunCsum),
    spec("tun-remcsum", None, Arg::No, Tag::TunRemcsum),
    spec("check", None, Arg::Required, Tag::Check),
    spec("check-path", None, Arg::Required, Tag::CheckPath),
    spec("check-status", None, Arg::Required, Tag::CheckStatus),
    spec("delay-loop", None, Arg::Required, Tag::DelayLoop),
    spec("connect-timeout", None, Arg::Required, Tag::ConnectTimeout),
    spec("retry", None, Arg::Required, Tag::Retry),
    spec(
        "delay-before-retry",
        None,
        Arg::Required,
        Tag::DelayBeforeRetry,
    ),
    spec("inhibit-on-failure", None, Arg::No, Tag::InhibitOnFailure),
];

/// Largest `--delay-loop`, `--connect-timeout`, `--delay-before-retry` (one day).
pub const MAX_CHECK_SECS: i64 = 86400;
/// Largest `--retry`.
pub const MAX_CHECK_RETRY: i64 = 100;
/// Longest `--check-path`.
pub const MAX_CHECK_PATH: usize = 255;

/// The health-check options of one command line, before they are checked
/// against each other.
#[derive(Default)]
struct CheckArgs {
    /// Every health-check option seen, by long name, in order (for messages).
    seen: Vec<&'static str>,
    kind: Option<String>,
    path: Option<String>,
    status: Option<u16>,
    delay_loop: Option<u32>,
    connect_timeout: Option<u32>,
    retry: Option<u32>,
    delay_before_retry: Option<u32>,
    inhibit: bool,
}

impl CheckArgs {
    fn take(&mut self, tag: Tag, val: &str) -> Result<bool, AdmError> {
        let secs = |name: &str, min: i64| {
            number_in(val, min, MAX_CHECK_SECS)
                .map(|v| v as u32)
                .ok_or_else(|| usage(format!("illegal {name} specified")))
        };
        let name = match tag {
            Tag::Check => {
                self.kind = Some(val.to_string());
                "check"
            }
            Tag::CheckPath => {
                let ok = val.starts_with('/')
                    && val.len() <= MAX_CHECK_PATH
                    && val.bytes().all(|b| b.is_ascii_graphic());
                if !ok {
                    return Err(usage("illegal check-path specified"));
                }
                self.path = Some(val.to_string());
                "check-path"
            }
            Tag::CheckStatus => {
                self.status = Some(
                    number_in(val, 100, 599)
                        .map(|v| v as u16)
                        .ok_or_else(|| usage("illegal check-status specified"))?,
                );
                "check-status"
            }
            Tag::DelayLoop => {
                self.delay_loop = Some(secs("delay-loop", 1)?);
                "delay-loop"
            }
            Tag::ConnectTimeout => {
                self.connect_timeout = Some(secs("connect-timeout", 1)?);
                "connect-timeout"
            }
            Tag::Retry => {
                self.retry = Some(
                    number_in(val, 0, MAX_CHECK_RETRY)
                        .map(|v| v as u32)
                        .ok_or_else(|| usage("illegal retry specified"))?,
                );
                "retry"
            }
            Tag::DelayBeforeRetry => {
                self.delay_before_retry = Some(secs("delay-before-retry", 0)?);
                "delay-before-retry"
            }
            Tag::InhibitOnFailure => {
                self.inhibit = true;
                "inhibit-on-failure"
            }
            _ => return Ok(false),
        };
        if self.seen.contains(&name) {
            return Err(usage(format!("multiple '{name}' options specified")));
        }
        self.seen.push(name);
        Ok(true)
    }

    /// The check these options describe (`None`: no `--check`).
    fn build(self, cmd: Cmd) -> Result<Option<HealthCheck>, AdmError> {
        let Some(first) = self.seen.first() else {
            return Ok(None);
        };
        if cmd != Cmd::Add && cmd != Cmd::Edit {
            return Err(usage(format!(
                "Illegal '{first}' option with the '{}' command",
                cmd.name()
            )));
        }
        let Some(kind) = self.kind else {
            return Err(usage(format!(
                "the '{first}' option needs the 'check' option"
            )));
        };
        let kind = match kind.as_str() {
            "tcp" => {
                if self.path.is_some() || self.status.is_some() {
                    return Err(usage("check-path and check-status need --check http"));
                }
                CheckKind::Tcp
            }
            "http" => CheckKind::Http {
                path: self.path.unwrap_or_else(|| DEFAULT_CHECK_PATH.to_string()),
                status: self.status.unwrap_or(DEFAULT_CHECK_STATUS),
            },
            _ => {
                return Err(usage(format!(
                    "illegal check `{kind}' specified (tcp or http)"
                )));
            }
        };
        let d = HealthCheck::new(kind);
        Ok(Some(HealthCheck {
            delay_loop: self.delay_loop.unwrap_or(d.delay_loop),
            connect_timeout: self.connect_timeout.unwrap_or(d.connect_timeout),
            retry: self.retry.unwrap_or(d.retry),
            delay_before_retry: self.delay_before_retry.unwrap_or(d.delay_before_retry),
            inhibit_on_failure: self.inhibit,
            ..d
        }))
    }
}

/// ipvsadm's option names, indexed by option column (used in messages).
const OPT_NAMES: [&str; 34] = [
    "numeric",
    "connection",
    "service-address",
    "scheduler",
    "persistent",
    "netmask",
    "real-server",
    "forwarding-method",
    "weight",
    "u-threshold",
    "l-threshold",
    "mcast-interface",
    "timeout",
    "daemon",
    "stats",
    "rate",
    "thresholds",
    "persistent-conn",
    "nosort",
    "syncid",
    "exact",
    "ops",
    "pe",
    "sched-flags",
    "mcast-group",
    "mcast-port",
    "mcast-ttl",
    "sync-maxlen",
    "tun-info",
    "tun-type",
    "tun-port",
    "tun-nocsum",
    "tun-csum",
    "tun-remcsum",
];

const COL_NUMERIC: usize = 0;
const COL_CONNECTION: usize = 1;
const COL_SERVICE: usize = 2;
const COL_SCHEDULER: usize = 3;
const COL_PERSISTENT: usize = 4;
const COL_NETMASK: usize = 5;
const COL_SERVER: usize = 6;
const COL_FORWARD: usize = 7;
const COL_WEIGHT: usize = 8;
const COL_TIMEOUT: usize = 12;
const COL_DAEMON: usize = 13;
const COL_STATS: usize = 14;
const COL_RATE: usize = 15;
const COL_THRESHOLDS: usize = 16;
const COL_PERSISTENTCONN: usize = 17;
const COL_NOSORT: usize = 18;
const COL_EXACT: usize = 20;
const COL_TUN_INFO: usize = 28;

/// The option column a tag sets, if any.
fn column(tag: Tag) -> Option<usize> {
    Some(match tag {
        Tag::Numeric => COL_NUMERIC,
        Tag::Connection => COL_CONNECTION,
        Tag::Tcp | Tag::Udp | Tag::Sctp | Tag::Fwmark => COL_SERVICE,
        Tag::Scheduler => COL_SCHEDULER,
        Tag::Persistent => COL_PERSISTENT,
        Tag::Netmask => COL_NETMASK,
        Tag::RealServer => COL_SERVER,
        Tag::Masq | Tag::Ipip | Tag::Gate => COL_FORWARD,
        Tag::Weight => COL_WEIGHT,
        Tag::UThreshold => 9,
        Tag::LThreshold => 10,
        Tag::McastInterface => 11,
        Tag::Timeout => COL_TIMEOUT,
        Tag::Daemon => COL_DAEMON,
        Tag::Stats => COL_STATS,
        Tag::Rate => COL_RATE,
        Tag::Thresholds => COL_THRESHOLDS,
        Tag::PersistentConn => COL_PERSISTENTCONN,
        Tag::NoSort => COL_NOSORT,
        Tag::SyncId => 19,
        Tag::Exact => COL_EXACT,
        Tag::Ops => 21,
        Tag::Pe => 22,
        Tag::SchedFlags => 23,
        Tag::McastGroup => 24,
        Tag::McastPort => 25,
        Tag::McastTtl => 26,
        Tag::SyncMaxlen => 27,
        Tag::TunInfo => COL_TUN_INFO,
        Tag::TunType => 29,
        Tag::TunPort => 30,
        Tag::TunNocsum => 31,
        Tag::TunCsum => 32,
        Tag::TunRemcsum => 33,
        _ => return None,
    })
}

/// The commands ringvs implements, with ipvsadm's names for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmd {
    Add,
    Edit,
    Del,
    Flush,
    List,
    AddDest,
    DelDest,
    EditDest,
    Save,
    Zero,
    SetTimeout,
    Restore,
}

impl Cmd {
    fn name(self) -> &'static str {
        match self {
            Cmd::Add => "add-service",
            Cmd::Edit => "edit-service",
            Cmd::Del => "delete-service",
            Cmd::Flush => "flush",
            Cmd::List => "list",
            Cmd::AddDest => "add-server",
            Cmd::DelDest => "delete-server",
            Cmd::EditDest => "edit-server",
            Cmd::Save => "save",
            Cmd::Zero => "zero",
            Cmd::SetTimeout => "set",
            Cmd::Restore => "restore",
        }
    }

    /// ipvsadm's legal command/option combinations, one character per
    /// option column: `+` compulsory, `x` illegal, `1` at most one of the
    /// `1`s, ` ` optional.
    fn legal(self) -> &'static [u8; 34] {
        match self {
            Cmd::Add | Cmd::Edit => b"xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx",
            Cmd::Del => b"xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            Cmd::Flush | Cmd::SetTimeout | Cmd::Restore => b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            Cmd::Zero => b"xx xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            Cmd::List => b" 11xxxxxxxxx11       xxxxxxx xxxxx",
            Cmd::AddDest | Cmd::EditDest => b"xx+xxx+    xxxxxxxxxxxxxxxxxx     ",
            Cmd::DelDest => b"xx+xxx+xxxxxxxxxxxxxxxxxxxxxxxxxxx",
            Cmd::Save => b" xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        }
    }
}

/// ipvsadm's `generic_opt_check`: options against the command.
fn check_options(cmd: Cmd, options: u64) -> Result<(), AdmError> {
    let legal = cmd.legal();
    let mut first_one: Option<usize> = None;
    for (j, &rule) in legal.iter().enumerate() {
        if options & (1 << j) == 0 {
            if rule == b'+' {
                return Err(AdmError::Usage(format!(
                    "You need to supply the '{}' option for the '{}' command",
                    OPT_NAMES[j],
                    cmd.name()
                )));
            }
        } else {
            if rule == b'x' {
                return Err(AdmError::Usage(format!(
                    "Illegal '{}' option with the '{}' command",
                    OPT_NAMES[j],
                    cmd.name()
                )));
            }
            if rule == b'1' {
                match first_one {
                    None => first_one = Some(j),
                    Some(last) => {
                        return Err(AdmError::Usage(format!(
                            "The option '{}' conflicts with the '{}' option in the '{}' command",
                            OPT_NAMES[j],
                            OPT_NAMES[last],
                            cmd.name()
                        )));
                    }
                }
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Option scanner (popt's behaviour)
// ---------------------------------------------------------------------------

struct Found {
    tag: Tag,
    arg: Option<String>,
    /// The word the option came from, for messages.
    word: String,
}

struct Scanner<'a> {
    args: &'a [String],
    next: usize,
    /// Inside a cluster of short options: (word index, byte offset).
    cluster: Option<(usize, usize)>,
    no_more_options: bool,
    leftovers: Vec<String>,
}

fn popt_error(word: &str, what: &str) -> AdmError {
    AdmError::Option(format!("{word}: {what}"))
}

impl<'a> Scanner<'a> {
    fn new(args: &'a [String]) -> Self {
        Scanner {
            args,
            next: 0,
            cluster: None,
            no_more_options: false,
            leftovers: Vec::new(),
        }
    }

    /// The next option, `None` at the end of the words.
    fn next_opt(&mut self) -> Option<Result<Found, AdmError>> {
        if let Some((wi, off)) = self.cluster {
            return Some(self.short(wi, off));
        }
        loop {
            let word = self.args.get(self.next)?;
            self.next += 1;
            if self.no_more_options || !word.starts_with('-') || word == "-" {
                self.leftovers.push(word.clone());
                continue;
            }
            if word == "--" {
                self.no_more_options = true;
                continue;
            }
            if let Some(long) = word.strip_prefix("--") {
                return Some(self.long(word, long));
            }
            return Some(self.short(self.next - 1, 1));
        }
    }

    fn long(&mut self, word: &str, long: &str) -> Result<Found, AdmError> {
        let (name, inline) = match long.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (long, None),
        };
        let spec = SPECS
            .iter()
            .find(|s| s.long == name)
            .ok_or_else(|| popt_error(word, "unknown option"))?;
        let arg = match (spec.arg, inline) {
            (Arg::No, Some(_)) => {
                return Err(popt_error(word, "option does not take an argument"));
            }
            (Arg::No, None) => None,
            (_, Some(v)) => Some(v),
            (kind, None) => self.separate_arg(word, kind)?,
        };
        Ok(Found {
            tag: spec.tag,
            arg,
            word: word.to_string(),
        })
    }

    fn short(&mut self, wi: usize, off: usize) -> Result<Found, AdmError> {
        self.cluster = None;
        let word = &self.args[wi];
        let rest = &word[off..];
        let Some(c) = rest.chars().next() else {
            return Err(popt_error(word, "unknown option"));
        };
        let after = off + c.len_utf8();
        let spec = SPECS
            .iter()
            .find(|s| s.short == Some(c))
            .ok_or_else(|| popt_error(word, "unknown option"))?;
        let arg = if spec.arg == Arg::No {
            if after < word.len() {
                self.cluster = Some((wi, after));
            }
            None
        } else if after < word.len() {
            // The rest of the word is the argument ("-p600", "-t=VIP:80").
            let v = &word[after..];
            Some(v.strip_prefix('=').unwrap_or(v).to_string())
        } else {
            self.separate_arg(word, spec.arg)?
        };
        Ok(Found {
            tag: spec.tag,
            arg,
            word: word.clone(),
        })
    }

    /// The argument of an option given as the following word.
    fn separate_arg(&mut self, word: &str, kind: Arg) -> Result<Option<String>, AdmError> {
        match self.args.get(self.next) {
            None if kind == Arg::Optional => Ok(None),
            None => Err(popt_error(word, "missing argument")),
            Some(next) if kind == Arg::Optional && next.starts_with('-') => Ok(None),
            Some(next) => {
                self.next += 1;
                Ok(Some(next.clone()))
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Value parsers
// ---------------------------------------------------------------------------

/// C's `strtol(s, &end, 10)` with the whole string consumed.
fn c_strtol(s: &str) -> Option<i64> {
    let t = s.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'+') => (false, &t[1..]),
        Some(b'-') => (true, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: i64 = digits.parse().ok()?;
    Some(if neg { -v } else { v })
}

/// ipvsadm's `string_to_number`.
fn number_in(s: &str, min: i64, max: i64) -> Option<i64> {
    c_strtol(s).filter(|v| (min..=max).contains(v))
}

enum AddrError {
    /// ipvsadm would reject it too.
    Illegal,
    /// ipvsadm would accept it, ringvs does not.
    Unsupported(String),
}

/// ipvsadm's `parse_service` for IPv4 `HOST[:PORT]`; names from [`Names`].
fn parse_addr_port(
    buf: &str,
    proto: Proto,
    names: &Names,
) -> Result<(Ipv4Addr, Option<u16>), AddrError> {
    if buf.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AddrError::Illegal);
    }
    if buf.starts_with('[') || buf.parse::<Ipv6Addr>().is_ok() {
        return Err(AddrError::Unsupported(format!(
            "ringvs supports only IPv4 addresses: `{buf}'"
        )));
    }
    let (host, port) = match buf.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (buf, None),
    };
    let addr = match host.parse::<Ipv4Addr>() {
        Ok(a) => a,
        Err(_) if host.is_empty() || host.contains(':') => return Err(AddrError::Illegal),
        Err(_) => match names.addr(host) {
            Some(a) => a,
            None => {
                return Err(AddrError::Unsupported(format!(
                    "host name `{host}' is not in /etc/hosts (ringvs does not use DNS)"
                )));
            }
        },
    };
    let port = match port {
        None => None,
        Some(p) => match number_in(p, 0, 65535) {
            Some(n) => Some(n as u16),
            None => match names.port(p, proto) {
                Some(n) => Some(n),
                None => return Err(AddrError::Illegal),
            },
        },
    };
    Ok((addr, port))
}

/// ipvsadm's `parse_sched_flags` against the scheduler the command names.
fn parse_sched_flags(sched: &str, arg: &str) -> Result<SchedFlags, AdmError> {
    let mut f = SchedFlags::default();
    for flag in arg.split(',').filter(|f| !f.is_empty()) {
        let need = |s: &str| {
            if sched == s {
                Ok(())
            } else {
                Err(usage(format!("incompatible scheduler flag `{flag}'")))
            }
        };
        match flag {
            "flag-1" => f.fallback = true,
            "flag-2" => f.port = true,
            "flag-3" => {
                return Err(AdmError::Unsupported(
                    "ringvs does not support scheduler flag `flag-3'".into(),
                ));
            }
            "sh-fallback" => {
                need("sh")?;
                f.fallback = true;
            }
            "sh-port" => {
                need("sh")?;
                f.port = true;
            }
            "mh-fallback" => {
                need("mh")?;
                f.fallback = true;
            }
            "mh-port" => {
                need("mh")?;
                f.port = true;
            }
            other => return Err(usage(format!("invalid scheduler flag `{other}'"))),
        }
    }
    Ok(f)
}

fn usage_text() -> String {
    let p = "ringvs adm";
    format!(
        "{version}\
         Usage:\n\
         \x20 {p} -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [-b sched-flags]\n\
         \x20 {p} -D virtual-service\n\
         \x20 {p} -C\n\
         \x20 {p} -R\n\
         \x20 {p} -S [-n]\n\
         \x20 {p} -a|e virtual-service -r server-address [options]\n\
         \x20 {p} -d virtual-service -r server-address\n\
         \x20 {p} -L|l [virtual-service] [options]\n\
         \x20 {p} -Z [virtual-service]\n\
         \x20 {p} --set tcp tcpfin udp\n\
         \x20 {p} -h\n\
         \n\
         Commands:\n\
         Either long or short options are allowed.\n\
         \x20 --add-service     -A        add virtual service with options\n\
         \x20 --edit-service    -E        edit virtual service with options\n\
         \x20 --delete-service  -D        delete virtual service\n\
         \x20 --clear           -C        clear the whole table\n\
         \x20 --restore         -R        restore rules from stdin\n\
         \x20 --save            -S        save rules to stdout\n\
         \x20 --add-server      -a        add real server with options\n\
         \x20 --edit-server     -e        edit real server with options\n\
         \x20 --delete-server   -d        delete real server\n\
         \x20 --list            -L|-l     list the table\n\
         \x20 --zero            -Z        zero counters in a service or all services\n\
         \x20 --set tcp tcpfin udp        set connection timeout values\n\
         \x20 --help            -h        display this help message\n\
         \n\
         virtual-service:\n\
         \x20 --tcp-service|-t  service-address   service-address is host[:port]\n\
         \x20 --udp-service|-u  service-address   service-address is host[:port]\n\
         \n\
         Options:\n\
         \x20 --scheduler    -s scheduler         one of rr|wrr|lc|wlc|lblc|lblcr|dh|sh|sed|nq|fo|ovf|mh|twos,\n\
         \x20                                     the default scheduler is wlc.\n\
         \x20 --persistent   -p [timeout]         persistent service\n\
         \x20 --netmask      -M netmask           persistent granularity mask\n\
         \x20 --real-server  -r server-address    server-address is host (and port)\n\
         \x20 --masquerading -m                   masquerading (NAT), the only method\n\
         \x20 --weight       -w weight            capacity of real server\n\
         \x20 --u-threshold  -x uthreshold        upper threshold of connections\n\
         \x20 --l-threshold  -y lthreshold        lower threshold of connections\n\
         \x20 --connection   -c                   output of current IPVS connections\n\
         \x20 --timeout                           output of timeout (tcp tcpfin udp)\n\
         \x20 --daemon                            output of daemon information\n\
         \x20 --stats                             output of statistics information\n\
         \x20 --rate                              output of rate information\n\
         \x20 --exact                             expand numbers (display exact values)\n\
         \x20 --thresholds                        output of thresholds information\n\
         \x20 --persistent-conn                   output of persistent connection info\n\
         \x20 --tun-info                          output of tunnel information\n\
         \x20 --nosort                            disable sorting output of service/server entries\n\
         \x20 --sort                              does nothing, for backwards compatibility\n\
         \x20 --numeric      -n                   numeric output of addresses and ports\n\
         \x20 --sched-flags  -b flags             scheduler flags (comma-separated)\n\
         \n\
         Health checks (ringvs, with -A|E; keepalived's names and defaults, see docs/health.md):\n\
         \x20 --check tcp|http                    check the real servers: connect, or HTTP GET\n\
         \x20 --check-path path                   HTTP path to get (default /)\n\
         \x20 --check-status code                 HTTP status expected (default 200)\n\
         \x20 --delay-loop secs                   seconds between checks (default 60)\n\
         \x20 --connect-timeout secs              seconds a check may take (default 5)\n\
         \x20 --retry n                           retries before a server is down (default 1)\n\
         \x20 --delay-before-retry secs           seconds before a retry (default 1)\n\
         \x20 --inhibit-on-failure                weight 0 instead of removal when down\n",
        version = version_text()
    )
}

fn version_text() -> String {
    format!(
        "ringvs {} (ipvsadm-compatible, IPVS v{IPVS_VERSION})\n",
        env!("CARGO_PKG_VERSION")
    )
}

fn try_help() -> AdmError {
    AdmError::Option("Try `ringvs adm -h' or 'ringvs adm --help' for more information.".into())
}

fn unsupported(what: &str) -> AdmError {
    AdmError::Unsupported(format!("ringvs does not support {what}"))
}

fn usage(msg: impl Into<String>) -> AdmError {
    AdmError::Usage(msg.into())
}

// ---------------------------------------------------------------------------
// parse
// ---------------------------------------------------------------------------

/// Parses one ipvsadm command line (`args` exclude the program name) with
/// no host or service names known.  An empty command line lists the table,
/// as bare `ipvsadm` does.
pub fn parse(args: &[String]) -> Result<AdmCommand, AdmError> {
    parse_with(args, &Names::none())
}

/// [`parse`], resolving host and service names with `names`.
pub fn parse_with(args: &[String], names: &Names) -> Result<AdmCommand, AdmError> {
    if args.is_empty() {
        return Ok(AdmCommand::List(ListOpts::default()));
    }
    let mut sc = Scanner::new(args);
    let first = match sc.next_opt() {
        Some(Ok(f)) => f,
        _ => return Err(try_help()),
    };
    let cmd = match first.tag {
        Tag::AddService => Cmd::Add,
        Tag::EditService => Cmd::Edit,
        Tag::DelService => Cmd::Del,
        Tag::Clear => Cmd::Flush,
        Tag::List => Cmd::List,
        Tag::AddServer => Cmd::AddDest,
        Tag::EditServer => Cmd::EditDest,
        Tag::DelServer => Cmd::DelDest,
        Tag::Save => Cmd::Save,
        Tag::Zero => Cmd::Zero,
        Tag::Set => Cmd::SetTimeout,
        Tag::Restore => Cmd::Restore,
        Tag::Help => return Err(AdmError::Help(usage_text())),
        Tag::Version => return Err(AdmError::Help(version_text())),
        Tag::StartDaemon | Tag::StopDaemon => {
            let v = first.arg.as_deref().unwrap_or("");
            if v != "master" && v != "backup" {
                return Err(usage(if first.tag == Tag::StartDaemon {
                    "illegal start-daemon parameter specified"
                } else {
                    "illegal start_daemon specified"
                }));
            }
            return Err(unsupported("the connection sync daemon"));
        }
        _ => return Err(try_help()),
    };

    let mut options: u64 = 0;
    let mut proto = Proto::Tcp;
    let mut svc: Option<(Ipv4Addr, u16)> = None;
    let mut svc_port: u16 = 0;
    let mut sched: Option<String> = None;
    let mut persistent: Option<u32> = None;
    let mut netmask = Ipv4Addr::BROADCAST;
    let mut flags_arg: Option<String> = None;
    let mut dest: Option<(Ipv4Addr, u16)> = None;
    let mut dopts = DestOpts::weight(1);
    let mut list = ListOpts::default();
    let mut fwmark = false;
    let mut checks = CheckArgs::default();
    // The first valid-ipvsadm-but-not-ringvs thing seen; reported after
    // ipvsadm's own checks.
    let mut deferred: Option<AdmError> = None;

    while let Some(found) = sc.next_opt() {
        let Found { tag, arg, word } = found?;
        let val = arg.clone().unwrap_or_default();
        if let Some(col) = column(tag) {
            if options & (1 << col) != 0 {
                return Err(usage(format!(
                    "multiple '{}' options specified",
                    OPT_NAMES[col]
                )));
            }
            options |= 1 << col;
        }
        let defer = |d: &mut Option<AdmError>, what: &str| {
            if d.is_none() {
                *d = Some(unsupported(what));
            }
        };
        match tag {
            Tag::Tcp | Tag::Udp => {
                proto = if tag == Tag::Tcp {
                    Proto::Tcp
                } else {
                    Proto::Udp
                };
                match parse_addr_port(&val, proto, names) {
                    Ok((a, p)) => {
                        svc_port = p.unwrap_or(0);
                        svc = Some((a, svc_port));
                    }
                    Err(AddrError::Illegal) => {
                        return Err(usage("illegal virtual server address[:port] specified"));
                    }
                    Err(AddrError::Unsupported(m)) => return Err(AdmError::Unsupported(m)),
                }
            }
            Tag::Sctp => defer(&mut deferred, "SCTP services (--sctp-service)"),
            Tag::Fwmark => {
                match c_strtol(&val) {
                    Some(v) if v > 0 && v <= i64::from(u32::MAX) => {}
                    _ => {
                        return Err(usage(format!("invalid fwmark value `{val}' specified")));
                    }
                }
                fwmark = true;
                defer(
                    &mut deferred,
                    "fwmark services (-f): use -t or -u with an address and port",
                );
            }
            Tag::Scheduler => sched = Some(val),
            Tag::Persistent => {
                persistent = Some(match arg.as_deref() {
                    None => DEFAULT_PERSISTENT_TIMEOUT,
                    Some(t) => match number_in(t, 1, i64::from(MAX_TIMEOUT)) {
                        Some(t) => t as u32,
                        None => {
                            return Err(usage(format!("invalid timeout value `{t}' specified")));
                        }
                    },
                });
            }
            Tag::Netmask => {
                netmask = match val.parse::<Ipv4Addr>().ok().or_else(|| names.addr(&val)) {
                    Some(m) => m,
                    None => {
                        return Err(usage("illegal virtual server persistent mask specified"));
                    }
                }
            }
            Tag::RealServer => match parse_addr_port(&val, proto, names) {
                Ok((a, p)) => dest = Some((a, p.unwrap_or(svc_port))),
                Err(AddrError::Illegal) => {
                    return Err(usage("illegal real server address[:port] specified"));
                }
                Err(AddrError::Unsupported(m)) => return Err(AdmError::Unsupported(m)),
            },
            Tag::Masq => {}
            Tag::Gate | Tag::Ipip => {
                if deferred.is_none() {
                    deferred = Some(AdmError::Unsupported(format!(
                        "ringvs does not support {} yet: it forwards by masquerading (-m) only",
                        if tag == Tag::Gate {
                            "direct routing (-g)"
                        } else {
                            "IP-IP tunnelling (-i)"
                        }
                    )));
                }
            }
            Tag::Weight => match number_in(&val, 0, 65535) {
                Some(w) => dopts.weight = w as u32,
                None => return Err(usage("illegal weight specified")),
            },
            Tag::UThreshold | Tag::LThreshold => {
                let Some(v) = number_in(&val, 0, i64::from(i32::MAX)) else {
                    let which = if tag == Tag::UThreshold { "u" } else { "l" };
                    return Err(usage(format!("illegal {which}_threshold specified")));
                };
                if tag == Tag::UThreshold {
                    dopts.u_threshold = v as u32;
                } else {
                    dopts.l_threshold = v as u32;
                }
            }
            Tag::Numeric => list.numeric = true,
            Tag::Sort => list.sort = true,
            Tag::Ipv6 => {
                if !fwmark {
                    return Err(usage("-6 used before -f\n"));
                }
            }
            Tag::Connection => list.connections = true,
            Tag::Timeout => list.timeout = true,
            Tag::Daemon => list.daemon = true,
            Tag::Stats => list.stats = true,
            Tag::Rate => list.rate = true,
            Tag::Thresholds => list.thresholds = true,
            Tag::PersistentConn => list.persistent_conn = true,
            Tag::NoSort => list.nosort = true,
            Tag::Exact => list.exact = true,
            Tag::TunInfo => list.tun_info = true,
            Tag::Ops => defer(&mut deferred, "one-packet scheduling (-o)"),
            Tag::Pe => defer(&mut deferred, "persistence engines (--pe)"),
            Tag::SchedFlags => flags_arg = Some(val),
            Tag::McastInterface
            | Tag::SyncId
            | Tag::McastGroup
            | Tag::McastPort
            | Tag::McastTtl
            | Tag::SyncMaxlen => defer(&mut deferred, "the connection sync daemon"),
            Tag::TunType | Tag::TunPort | Tag::TunNocsum | Tag::TunCsum | Tag::TunRemcsum => {
                defer(&mut deferred, "tunnelling options")
            }
            _ if checks.take(tag, &val)? => {}
            // A second command, -h or -v after the command.
            _ => return Err(usage(format!("invalid option `{word}'"))),
        }
    }
    let mut leftovers = sc.leftovers.iter();
    let mut timeouts = [0u32; 3];
    if cmd == Cmd::SetTimeout {
        for t in &mut timeouts {
            let Some(v) = leftovers.next() else {
                return Err(usage("--set option requires 3 timeout values"));
            };
            *t = match number_in(v, 0, i64::from(MAX_TIMEOUT)) {
                Some(n) => n as u32,
                None => return Err(usage(format!("invalid timeout value `{v}' specified"))),
            };
        }
    }
    if let Some(extra) = leftovers.next() {
        return Err(usage(format!("unexpected argument {extra}")));
    }
    let sched_name = sched.as_deref().unwrap_or(DEFAULT_SCHEDULER);
    let sched_flags = match &flags_arg {
        Some(a) => parse_sched_flags(sched_name, a)?,
        None => SchedFlags::default(),
    };

    check_options(cmd, options)?;
    let check = checks.build(cmd)?;
    if let Some(e) = deferred {
        return Err(e);
    }

    let key = svc.map(|(addr, port)| ServiceKey { proto, addr, port });
    let need_key = || key.ok_or_else(|| usage("illegal virtual server address[:port] specified"));
    let need_dest = || dest.ok_or_else(|| usage("illegal real server address[:port] specified"));
    Ok(match cmd {
        Cmd::Add | Cmd::Edit => {
            let key = need_key()?;
            if key.port == 0 && persistent.is_none() {
                return Err(AdmError::ZeroPort);
            }
            let opts = ServiceOpts {
                sched: sched_name.parse()?,
                persistent,
                netmask,
                sched_flags,
                check,
            };
            if cmd == Cmd::Add {
                AdmCommand::AddService { key, opts }
            } else {
                AdmCommand::EditService { key, opts }
            }
        }
        Cmd::Del => AdmCommand::DelService { key: need_key()? },
        Cmd::Flush => AdmCommand::Clear,
        Cmd::AddDest | Cmd::EditDest => {
            let key = need_key()?;
            let (addr, port) = need_dest()?;
            if cmd == Cmd::AddDest {
                AdmCommand::AddDest {
                    key,
                    addr,
                    port,
                    opts: dopts,
                }
            } else {
                AdmCommand::EditDest {
                    key,
                    addr,
                    port,
                    opts: dopts,
                }
            }
        }
        Cmd::DelDest => {
            let key = need_key()?;
            let (addr, port) = need_dest()?;
            AdmCommand::DelDest { key, addr, port }
        }
        Cmd::List => {
            let l = &list;
            if ((l.connections || l.timeout || l.daemon) && (l.stats || l.rate || l.thresholds))
                || ((l.timeout || l.daemon) && l.persistent_conn)
            {
                return Err(usage("options conflicts in the list command"));
            }
            list.service = key;
            AdmCommand::List(list)
        }
        Cmd::Save => AdmCommand::Save {
            numeric: list.numeric,
        },
        Cmd::Zero => AdmCommand::Zero { service: key },
        Cmd::SetTimeout => AdmCommand::SetTimeout {
            tcp: timeouts[0],
            tcpfin: timeouts[1],
            udp: timeouts[2],
        },
        Cmd::Restore => AdmCommand::Restore,
    })
}

// ---------------------------------------------------------------------------
// apply
// ---------------------------------------------------------------------------

/// Applies a command that changes the table to `cfg`.  The others (`List`,
/// `Save`, `Zero`, `SetTimeout`, `Restore`) change nothing here: the control
/// thread handles them.
pub fn apply(cfg: &mut Config, cmd: &AdmCommand) -> Result<(), AdmError> {
    match cmd {
        AdmCommand::AddService { key, opts } => {
            cfg.add_service(*key, opts.sched, opts.persistent)?;
            cfg.set_service_options(key, opts.sched_flags, opts.netmask)?;
            cfg.set_service_check(key, opts.check.clone())
        }
        AdmCommand::EditService { key, opts } => {
            cfg.edit_service(key, opts.sched, opts.persistent)?;
            cfg.set_service_options(key, opts.sched_flags, opts.netmask)?;
            cfg.set_service_check(key, opts.check.clone())
        }
        _ => apply_other(cfg, cmd),
    }
}

fn apply_other(cfg: &mut Config, cmd: &AdmCommand) -> Result<(), AdmError> {
    match *cmd {
        AdmCommand::AddService { .. } | AdmCommand::EditService { .. } => Ok(()),
        AdmCommand::DelService { key } => cfg.del_service(&key),
        AdmCommand::Clear => {
            cfg.clear();
            Ok(())
        }
        AdmCommand::AddDest {
            key,
            addr,
            port,
            opts,
        } => {
            if opts.l_threshold > opts.u_threshold {
                return Err(AdmError::ThresholdRange);
            }
            cfg.add_dest(&key, addr, port, opts.weight)?;
            cfg.set_dest_thresholds(&key, addr, port, opts.u_threshold, opts.l_threshold)
        }
        AdmCommand::EditDest {
            key,
            addr,
            port,
            opts,
        } => {
            if opts.l_threshold > opts.u_threshold {
                return Err(AdmError::ThresholdRange);
            }
            cfg.edit_dest(&key, addr, port, opts.weight)?;
            cfg.set_dest_thresholds(&key, addr, port, opts.u_threshold, opts.l_threshold)
        }
        AdmCommand::DelDest { key, addr, port } => cfg.del_dest(&key, addr, port).map(|_| ()),
        AdmCommand::Zero { service: Some(key) } => {
            cfg.service(&key).map(|_| ()).ok_or(AdmError::NoSuchService)
        }
        AdmCommand::List(_)
        | AdmCommand::Save { .. }
        | AdmCommand::Zero { service: None }
        | AdmCommand::SetTimeout { .. }
        | AdmCommand::Restore => Ok(()),
    }
}

/// Splits a rules file in `ipvsadm -S` format into command lines: words
/// separated by blanks; empty lines and lines starting with `#` are skipped.
/// Each line comes with its 1-based number.
pub fn rule_lines(text: &str) -> Vec<(usize, Vec<String>)> {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                return None;
            }
            Some((i + 1, line.split_whitespace().map(str::to_string).collect()))
        })
        .collect()
}

/// Parses a rules file (see [`rule_lines`]) with host and service names from
/// `names`.  Errors carry the line number.  `-R` inside a rules file is an
/// error, as in ipvsadm.
pub fn parse_rules_with(text: &str, names: &Names) -> Result<Vec<AdmCommand>, AdmError> {
    let mut cmds = Vec::new();
    for (line, words) in rule_lines(text) {
        let at = |e| AdmError::Line {
            line,
            error: Box::new(e),
        };
        let cmd = parse_with(&words, names).map_err(at)?;
        if cmd == AdmCommand::Restore {
            return Err(at(try_help()));
        }
        cmds.push(cmd);
    }
    Ok(cmds)
}

/// [`parse_rules_with`] with no names known.
pub fn parse_rules(text: &str) -> Result<Vec<AdmCommand>, AdmError> {
    parse_rules_with(text, &Names::none())
}

/// `-R`: applies the rules in `text` to `cfg` the way `ipvsadm -R` does, but
/// all or nothing for syntax: a line that does not parse changes nothing and
/// is the error.  Otherwise every line is applied in turn; a line the table
/// refuses (say "Service already exists") is reported, with its number, and
/// the rest still apply, as ipvsadm does.  Returns the messages of the
/// refused lines.  `--set` lines call `set_timeout`; listing lines print
/// nothing.
pub fn restore(
    cfg: &mut Config,
    text: &str,
    names: &Names,
    set_timeout: &mut dyn FnMut(u32, u32, u32),
) -> Result<Vec<String>, AdmError> {
    let cmds = parse_rules_with(text, names)?;
    let lines: Vec<usize> = rule_lines(text).into_iter().map(|(n, _)| n).collect();
    let mut errors = Vec::new();
    for (cmd, line) in cmds.iter().zip(lines) {
        if let AdmCommand::SetTimeout { tcp, tcpfin, udp } = *cmd {
            set_timeout(tcp, tcpfin, udp);
        }
        if let Err(e) = apply(cfg, cmd) {
            errors.push(format!("line {line}: {e}"));
        }
    }
    Ok(errors)
}
