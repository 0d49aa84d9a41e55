//! ipvsadm's command line: parsing, applying, listing and saving.
//!
//! [`parse`] accepts ipvsadm's syntax (short and long options, clustered
//! short options such as `-Ln`, `--opt=value`, `-p` with an optional
//! argument) and reports errors with ipvsadm's own messages where ipvsadm
//! has one.  Behaviour follows ipvsadm 1.31 with popt option processing:
//!
//! * The first option must be a command; a command after the first is an
//!   "invalid option".
//! * `-p` without a timeout means 360 seconds (ipvsadm's
//!   `IPVS_SVC_PERSISTENT_TIMEOUT`, 6*60).  Its optional argument is the
//!   next word unless that word starts with `-`.
//! * `-r HOST` without a port takes the service port *as parsed so far*:
//!   with `-r` before `-t` the real port is 0 (the data plane then keeps
//!   the packet's destination port, as the kernel does).
//! * `-A`/`-E` without `-s` mean ipvsadm's default scheduler `wlc`, which
//!   ringvs does not have yet: rather than silently picking another
//!   algorithm we fail with "Scheduler wlc not supported yet; use -s rr or
//!   -s wrr".  `-E` replaces the whole service setup, as in ipvsadm: an
//!   `-E` without `-p` makes the service non-persistent.
//! * `-e` without `-w` sets the weight back to 1 (ipvsadm's default).
//! * `-a`/`-e` without a forwarding option mean masquerading here.  (ipvsadm
//!   would pick `-g`, direct routing, which ringvs does not do; `-g` and
//!   `-i` given explicitly are rejected.)
//! * Listings sort services by (protocol, address, port) and real servers
//!   by (address, port), like ipvsadm.  (ipvsadm compares addresses by a
//!   wrapping signed subtraction, which misorders addresses 2^31 or more
//!   apart; we use the true numeric order.)
//! * `-L` without a service starts with the version line; `-L -t ...`
//!   does not.
//! * Without `-n` ipvsadm resolves host and port names; ringvs always
//!   prints the numeric form, so `-L` equals `-L -n` and `-S` equals `-S -n`.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{AdmError, Config, DestId, Proto, Scheduler, Service, ServiceKey};

/// Version of IPVS that listings claim to be.
pub const IPVS_VERSION: &str = "1.2.1";
/// Connection table size that listings show (the kernel's default).
pub const CONN_TAB_SIZE: u32 = 4096;
/// ipvsadm's default persistence timeout, seconds.
pub const DEFAULT_PERSISTENT_TIMEOUT: u32 = 6 * 60;
/// ipvsadm's largest persistence timeout: 31 days.
pub const MAX_TIMEOUT: u32 = 86400 * 31;
/// ipvsadm's default scheduler.
pub const DEFAULT_SCHEDULER: &str = "wlc";

/// A parsed ipvsadm command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdmCommand {
    /// `-A`
    AddService {
        key: ServiceKey,
        sched: Scheduler,
        persistent: Option<u32>,
    },
    /// `-E` (the full new setup of the service)
    EditService {
        key: ServiceKey,
        sched: Scheduler,
        persistent: Option<u32>,
    },
    /// `-D`
    DelService { key: ServiceKey },
    /// `-C`
    Clear,
    /// `-a`
    AddDest {
        key: ServiceKey,
        addr: Ipv4Addr,
        port: u16,
        weight: u32,
    },
    /// `-e`
    EditDest {
        key: ServiceKey,
        addr: Ipv4Addr,
        port: u16,
        weight: u32,
    },
    /// `-d`
    DelDest {
        key: ServiceKey,
        addr: Ipv4Addr,
        port: u16,
    },
    /// `-L`/`-l`, and an empty command line.
    List {
        numeric: bool,
        service: Option<ServiceKey>,
    },
    /// `-S`
    Save { numeric: bool },
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
];

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
const COL_SERVICE: usize = 2;
const COL_SCHEDULER: usize = 3;
const COL_PERSISTENT: usize = 4;
const COL_SERVER: usize = 6;
const COL_FORWARD: usize = 7;
const COL_WEIGHT: usize = 8;

/// The option column a tag sets, if any.
fn column(tag: Tag) -> Option<usize> {
    Some(match tag {
        Tag::Numeric => COL_NUMERIC,
        Tag::Connection => 1,
        Tag::Tcp | Tag::Udp | Tag::Sctp | Tag::Fwmark => COL_SERVICE,
        Tag::Scheduler => COL_SCHEDULER,
        Tag::Persistent => COL_PERSISTENT,
        Tag::Netmask => 5,
        Tag::RealServer => COL_SERVER,
        Tag::Masq | Tag::Ipip | Tag::Gate => COL_FORWARD,
        Tag::Weight => COL_WEIGHT,
        Tag::UThreshold => 9,
        Tag::LThreshold => 10,
        Tag::McastInterface => 11,
        Tag::Timeout => 12,
        Tag::Daemon => 13,
        Tag::Stats => 14,
        Tag::Rate => 15,
        Tag::Thresholds => 16,
        Tag::PersistentConn => 17,
        Tag::NoSort => 18,
        Tag::SyncId => 19,
        Tag::Exact => 20,
        Tag::Ops => 21,
        Tag::Pe => 22,
        Tag::SchedFlags => 23,
        Tag::McastGroup => 24,
        Tag::McastPort => 25,
        Tag::McastTtl => 26,
        Tag::SyncMaxlen => 27,
        Tag::TunInfo => 28,
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
        }
    }

    /// ipvsadm's legal command/option combinations, one character per
    /// option column: `+` compulsory, `x` illegal, `1` at most one of the
    /// `1`s, ` ` optional.
    fn legal(self) -> &'static [u8; 34] {
        match self {
            Cmd::Add | Cmd::Edit => b"xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx",
            Cmd::Del => b"xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            Cmd::Flush => b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
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

/// ipvsadm's `parse_service` for IPv4 `HOST[:PORT]`, numeric only.
fn parse_addr_port(buf: &str) -> Result<(Ipv4Addr, Option<u16>), AddrError> {
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
        Err(_) => {
            return Err(AddrError::Unsupported(format!(
                "ringvs does not resolve host names; use a numeric IPv4 address instead of `{host}'"
            )));
        }
    };
    let port = match port {
        None => None,
        Some(p) => match number_in(p, 0, 65535) {
            Some(n) => Some(n as u16),
            None if p.starts_with(|c: char| c.is_ascii_alphabetic()) => {
                return Err(AddrError::Unsupported(format!(
                    "ringvs does not resolve service names; use a numeric port instead of `{p}'"
                )));
            }
            None => return Err(AddrError::Illegal),
        },
    };
    Ok((addr, port))
}

fn usage_text() -> String {
    let p = "ringvs adm";
    format!(
        "Usage:\n\
         \x20 {p} -A|E virtual-service -s scheduler [-p [timeout]]\n\
         \x20 {p} -D virtual-service\n\
         \x20 {p} -C\n\
         \x20 {p} -S [-n]\n\
         \x20 {p} -a|e virtual-service -r server-address [-m] [-w weight]\n\
         \x20 {p} -d virtual-service -r server-address\n\
         \x20 {p} -L|l [virtual-service] [-n]\n\
         \x20 {p} -h\n\
         \n\
         virtual-service:\n\
         \x20 --tcp-service|-t  service-address   service-address is host[:port]\n\
         \x20 --udp-service|-u  service-address   service-address is host[:port]\n\
         \n\
         Options:\n\
         \x20 --scheduler    -s scheduler         rr or wrr\n\
         \x20 --persistent   -p [timeout]         persistent service\n\
         \x20 --real-server  -r server-address    server-address is host (and port)\n\
         \x20 --masquerading -m                   masquerading (NAT), the only method\n\
         \x20 --weight       -w weight            capacity of real server\n\
         \x20 --numeric      -n                   numeric output of addresses and ports\n"
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

/// Parses one ipvsadm command line (`args` exclude the program name).
/// An empty command line lists the table, as bare `ipvsadm` does.
pub fn parse(args: &[String]) -> Result<AdmCommand, AdmError> {
    if args.is_empty() {
        return Ok(AdmCommand::List {
            numeric: false,
            service: None,
        });
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
        Tag::Help => return Err(AdmError::Help(usage_text())),
        Tag::Version => {
            return Err(AdmError::Help(format!(
                "ringvs {} (ipvsadm-compatible, IPVS v{IPVS_VERSION})\n",
                env!("CARGO_PKG_VERSION")
            )));
        }
        Tag::Zero => return Err(unsupported("zeroing counters (-Z)")),
        Tag::Restore => return Err(unsupported("restoring rules from stdin (-R)")),
        Tag::Set => return Err(unsupported("setting connection timeouts (--set)")),
        Tag::StartDaemon | Tag::StopDaemon => {
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
    let mut dest: Option<(Ipv4Addr, u16)> = None;
    let mut weight: u32 = 1;
    let mut fwmark = false;
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
                match parse_addr_port(&val) {
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
                defer(&mut deferred, "fwmark services (-f)");
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
            Tag::Netmask => defer(&mut deferred, "persistence granularity (-M)"),
            Tag::RealServer => match parse_addr_port(&val) {
                Ok((a, p)) => dest = Some((a, p.unwrap_or(svc_port))),
                Err(AddrError::Illegal) => {
                    return Err(usage("illegal real server address[:port] specified"));
                }
                Err(AddrError::Unsupported(m)) => return Err(AdmError::Unsupported(m)),
            },
            Tag::Masq => {}
            Tag::Gate | Tag::Ipip => {
                if deferred.is_none() {
                    deferred = Some(AdmError::Unsupported(
                        "ringvs supports only masquerading (-m) forwarding".into(),
                    ));
                }
            }
            Tag::Weight => match number_in(&val, 0, 65535) {
                Some(w) => weight = w as u32,
                None => return Err(usage("illegal weight specified")),
            },
            Tag::UThreshold | Tag::LThreshold => {
                let which = if tag == Tag::UThreshold { "u" } else { "l" };
                if number_in(&val, 0, i64::from(i32::MAX)).is_none() {
                    return Err(usage(format!("illegal {which}_threshold specified")));
                }
                defer(&mut deferred, "connection thresholds (-x, -y)");
            }
            Tag::Numeric | Tag::Sort => {}
            Tag::Ipv6 => {
                if !fwmark {
                    return Err(usage("-6 used before -f"));
                }
            }
            Tag::Connection => defer(&mut deferred, "listing connections (-c)"),
            Tag::Timeout => defer(&mut deferred, "--timeout"),
            Tag::Daemon => defer(&mut deferred, "--daemon"),
            Tag::Stats => defer(&mut deferred, "--stats"),
            Tag::Rate => defer(&mut deferred, "--rate"),
            Tag::Thresholds => defer(&mut deferred, "--thresholds"),
            Tag::PersistentConn => defer(&mut deferred, "--persistent-conn"),
            Tag::NoSort => defer(&mut deferred, "--nosort"),
            Tag::Exact => defer(&mut deferred, "--exact"),
            Tag::Ops => defer(&mut deferred, "one-packet scheduling (-o)"),
            Tag::Pe => defer(&mut deferred, "persistence engines (--pe)"),
            Tag::SchedFlags => defer(&mut deferred, "scheduler flags (-b)"),
            Tag::McastInterface
            | Tag::SyncId
            | Tag::McastGroup
            | Tag::McastPort
            | Tag::McastTtl
            | Tag::SyncMaxlen => defer(&mut deferred, "the connection sync daemon"),
            Tag::TunInfo
            | Tag::TunType
            | Tag::TunPort
            | Tag::TunNocsum
            | Tag::TunCsum
            | Tag::TunRemcsum => defer(&mut deferred, "tunnelling options"),
            // A second command, -h or -v after the command.
            _ => return Err(usage(format!("invalid option `{word}'"))),
        }
    }
    if let Some(extra) = sc.leftovers.first() {
        return Err(usage(format!("unexpected argument {extra}")));
    }

    check_options(cmd, options)?;
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
            let sched: Scheduler = sched.as_deref().unwrap_or(DEFAULT_SCHEDULER).parse()?;
            if cmd == Cmd::Add {
                AdmCommand::AddService {
                    key,
                    sched,
                    persistent,
                }
            } else {
                AdmCommand::EditService {
                    key,
                    sched,
                    persistent,
                }
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
                    weight,
                }
            } else {
                AdmCommand::EditDest {
                    key,
                    addr,
                    port,
                    weight,
                }
            }
        }
        Cmd::DelDest => {
            let key = need_key()?;
            let (addr, port) = need_dest()?;
            AdmCommand::DelDest { key, addr, port }
        }
        Cmd::List => AdmCommand::List {
            numeric: options & (1 << COL_NUMERIC) != 0,
            service: key,
        },
        Cmd::Save => AdmCommand::Save {
            numeric: options & (1 << COL_NUMERIC) != 0,
        },
    })
}

// ---------------------------------------------------------------------------
// apply
// ---------------------------------------------------------------------------

/// Applies a mutating command to `cfg`.  `List` and `Save` change nothing
/// (print them with [`list_output`]).
pub fn apply(cfg: &mut Config, cmd: &AdmCommand) -> Result<(), AdmError> {
    match *cmd {
        AdmCommand::AddService {
            key,
            sched,
            persistent,
        } => cfg.add_service(key, sched, persistent),
        AdmCommand::EditService {
            key,
            sched,
            persistent,
        } => cfg.edit_service(&key, sched, persistent),
        AdmCommand::DelService { key } => cfg.del_service(&key),
        AdmCommand::Clear => {
            cfg.clear();
            Ok(())
        }
        AdmCommand::AddDest {
            key,
            addr,
            port,
            weight,
        } => cfg.add_dest(&key, addr, port, weight).map(|_| ()),
        AdmCommand::EditDest {
            key,
            addr,
            port,
            weight,
        } => cfg.edit_dest(&key, addr, port, weight).map(|_| ()),
        AdmCommand::DelDest { key, addr, port } => cfg.del_dest(&key, addr, port).map(|_| ()),
        AdmCommand::List { .. } | AdmCommand::Save { .. } => Ok(()),
    }
}

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

const TITLE: &str = "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n";

/// Services in ipvsadm's listing order.
fn sorted_services(cfg: &Config) -> Vec<&Service> {
    let mut v: Vec<&Service> = cfg.services().iter().collect();
    v.sort_by_key(|s| s.key);
    v
}

fn push_service_entry(out: &mut String, svc: &Service, counts: &dyn Fn(DestId) -> (u32, u32)) {
    let mut name = format!(
        "{:<4} {}:{}",
        svc.key.proto.name(),
        svc.key.addr,
        svc.key.port
    );
    name.truncate(33);
    out.push_str(&name);
    out.push(' ');
    out.push_str(svc.sched.name());
    if let Some(t) = svc.persistent {
        out.push_str(&format!(" persistent {t}"));
    }
    out.push('\n');
    let mut dests: Vec<_> = svc.dests.iter().collect();
    dests.sort_by_key(|d| (d.addr, d.port));
    for d in dests {
        let mut dname = format!("{}:{}", d.addr, d.port);
        dname.truncate(28);
        let (active, inactive) = counts(d.id);
        out.push_str(&format!(
            "  -> {:<28} {:<7} {:<6} {:<10} {:<10}\n",
            dname, "Masq", d.weight, active, inactive
        ));
    }
}

/// The table as `ipvsadm -L -n` prints it; with `only`, as
/// `ipvsadm -L -n -t|-u SERVICE` prints it (no version line; nothing but the
/// column titles if the service does not exist — [`list_output`] makes that
/// an error instead).  `counts` gives (ActiveConn, InActConn) of a real
/// server.  Without `-n` ipvsadm would resolve names; ringvs prints the
/// same numeric form.
pub fn format_list(
    cfg: &Config,
    only: Option<&ServiceKey>,
    counts: &dyn Fn(DestId) -> (u32, u32),
) -> String {
    let mut out = String::new();
    match only {
        None => {
            out.push_str(&format!(
                "IP Virtual Server version {IPVS_VERSION} (size={CONN_TAB_SIZE})\n"
            ));
            out.push_str(TITLE);
            for svc in sorted_services(cfg) {
                push_service_entry(&mut out, svc, counts);
            }
        }
        Some(key) => {
            out.push_str(TITLE);
            if let Some(svc) = cfg.service(key) {
                push_service_entry(&mut out, svc, counts);
            }
        }
    }
    out
}

/// The table as `ipvsadm -S -n` writes it (also what `-S` writes here).
pub fn format_save(cfg: &Config) -> String {
    let mut out = String::new();
    for svc in sorted_services(cfg) {
        let name = format!(
            "{} {}:{}",
            svc.key.proto.option(),
            svc.key.addr,
            svc.key.port
        );
        out.push_str(&format!("-A {name} -s {}", svc.sched.name()));
        if let Some(t) = svc.persistent {
            out.push_str(&format!(" -p {t}"));
        }
        out.push('\n');
        let mut dests: Vec<_> = svc.dests.iter().collect();
        dests.sort_by_key(|d| (d.addr, d.port));
        for d in dests {
            out.push_str(&format!(
                "-a {name} -r {}:{} -m -w {}\n",
                d.addr, d.port, d.weight
            ));
        }
    }
    out
}

/// What `cmd` prints: `Some(text)` for `List` and `Save`, `None` for the
/// commands that print nothing.  Listing a missing service is
/// "No such service".
pub fn list_output(
    cfg: &Config,
    cmd: &AdmCommand,
    counts: &dyn Fn(DestId) -> (u32, u32),
) -> Result<Option<String>, AdmError> {
    match cmd {
        AdmCommand::List { service, .. } => {
            if let Some(key) = service
                && cfg.service(key).is_none()
            {
                return Err(AdmError::NoSuchService);
            }
            Ok(Some(format_list(cfg, service.as_ref(), counts)))
        }
        AdmCommand::Save { .. } => Ok(Some(format_save(cfg))),
        _ => Ok(None),
    }
}

/// Parses a rules file in `ipvsadm -S` format: one command line per line,
/// words separated by blanks; empty lines and lines starting with `#` are
/// skipped.  Errors carry the 1-based line number.
pub fn parse_rules(text: &str) -> Result<Vec<AdmCommand>, AdmError> {
    let mut cmds = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        let cmd = parse(&words).map_err(|e| AdmError::Line {
            line: i + 1,
            error: Box::new(e),
        })?;
        cmds.push(cmd);
    }
    Ok(cmds)
}
