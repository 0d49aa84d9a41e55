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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn p(line: &str) -> Result<AdmCommand, AdmError> {
        let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        parse(&words)
    }

    fn ok(line: &str) -> AdmCommand {
        p(line).unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    fn err(line: &str) -> String {
        match p(line) {
            Ok(c) => panic!("{line}: parsed as {c:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn tcp(a: &str, port: u16) -> ServiceKey {
        ServiceKey::new(Proto::Tcp, ip(a), port)
    }

    fn udp(a: &str, port: u16) -> ServiceKey {
        ServiceKey::new(Proto::Udp, ip(a), port)
    }

    const VIP: &str = "198.18.0.110";

    fn add(key: ServiceKey, sched: Scheduler, persistent: Option<u32>) -> AdmCommand {
        AdmCommand::AddService {
            key,
            sched,
            persistent,
        }
    }

    fn add_dest(key: ServiceKey, a: &str, port: u16, weight: u32) -> AdmCommand {
        AdmCommand::AddDest {
            key,
            addr: ip(a),
            port,
            weight,
        }
    }

    // ---- parse: commands and options ------------------------------------

    #[test]
    fn empty_command_line_lists() {
        assert_eq!(
            parse(&[]).unwrap(),
            AdmCommand::List {
                numeric: false,
                service: None
            }
        );
    }

    #[test]
    fn add_service_forms() {
        let want = add(tcp(VIP, 80), Scheduler::Rr, None);
        for line in [
            "-A -t 198.18.0.110:80 -s rr",
            "--add-service --tcp-service 198.18.0.110:80 --scheduler rr",
            "--add-service --tcp-service=198.18.0.110:80 --scheduler=rr",
            "-At 198.18.0.110:80 -s rr",
            "-A -t198.18.0.110:80 -srr",
            "-A -t=198.18.0.110:80 -s=rr",
            "-A -s rr -t 198.18.0.110:80",
            "-A -t 198.18.0.110:80 -s rr --sort",
        ] {
            assert_eq!(ok(line), want, "{line}");
        }
        assert_eq!(
            ok("-A -u 198.18.0.110:53 -s wrr"),
            add(udp(VIP, 53), Scheduler::Wrr, None)
        );
        assert_eq!(
            ok("--add-service --udp-service 198.18.0.110:53 --scheduler wrr"),
            add(udp(VIP, 53), Scheduler::Wrr, None)
        );
    }

    #[test]
    fn persistent_optional_argument() {
        let k = tcp(VIP, 443);
        for (line, want) in [
            ("-A -t 198.18.0.110:443 -s rr -p", 360),
            ("-A -t 198.18.0.110:443 -p -s rr", 360),
            ("-A -t 198.18.0.110:443 -s rr --persistent", 360),
            ("-A -t 198.18.0.110:443 -s rr -p 600", 600),
            ("-A -t 198.18.0.110:443 -s rr -p600", 600),
            ("-A -t 198.18.0.110:443 -s rr --persistent=60", 60),
            ("-A -t 198.18.0.110:443 -s rr --persistent 1", 1),
            ("-A -t 198.18.0.110:443 -s rr -p 2678400", 2_678_400),
            ("-A -t 198.18.0.110:443 -s rr -p +7", 7),
        ] {
            assert_eq!(ok(line), add(k, Scheduler::Rr, Some(want)), "{line}");
        }
        // Port 0 is fine for a persistent service.
        assert_eq!(
            ok("-A -t 198.18.0.110 -s wrr -p"),
            add(tcp(VIP, 0), Scheduler::Wrr, Some(360))
        );
    }

    #[test]
    fn edit_and_delete_service() {
        assert_eq!(
            ok("-E -t 198.18.0.110:80 -s wrr -p 30"),
            AdmCommand::EditService {
                key: tcp(VIP, 80),
                sched: Scheduler::Wrr,
                persistent: Some(30)
            }
        );
        assert_eq!(
            ok("--edit-service --tcp-service 198.18.0.110:80 --scheduler rr"),
            AdmCommand::EditService {
                key: tcp(VIP, 80),
                sched: Scheduler::Rr,
                persistent: None
            }
        );
        let del = AdmCommand::DelService { key: tcp(VIP, 80) };
        assert_eq!(ok("-D -t 198.18.0.110:80"), del);
        assert_eq!(ok("--delete-service --tcp-service=198.18.0.110:80"), del);
        assert_eq!(ok("-Dt 198.18.0.110:80"), del);
        assert_eq!(ok("-C"), AdmCommand::Clear);
        assert_eq!(ok("--clear"), AdmCommand::Clear);
    }

    #[test]
    fn real_server_commands() {
        let k = tcp(VIP, 80);
        assert_eq!(
            ok("-a -t 198.18.0.110:80 -r 198.19.0.2:8080 -m -w 5"),
            add_dest(k, "198.19.0.2", 8080, 5)
        );
        // Port defaults to the service port, weight to 1, method to -m.
        assert_eq!(
            ok("-a -t 198.18.0.110:80 -r 198.19.0.2"),
            add_dest(k, "198.19.0.2", 80, 1)
        );
        assert_eq!(
            ok(
                "--add-server --tcp-service 198.18.0.110:80 --real-server 198.19.0.2 --masquerading --weight 3"
            ),
            add_dest(k, "198.19.0.2", 80, 3)
        );
        assert_eq!(
            ok("--add-server --tcp-service=198.18.0.110:80 --real-server=198.19.0.2:81 --weight=0"),
            add_dest(k, "198.19.0.2", 81, 0)
        );
        assert_eq!(
            ok("-a -t 198.18.0.110:80 -r 198.19.0.2 -mw 65535"),
            add_dest(k, "198.19.0.2", 80, 65535)
        );
        // ipvsadm copies the service port known when -r is parsed.
        assert_eq!(
            ok("-a -r 198.19.0.2 -t 198.18.0.110:80 -m"),
            add_dest(k, "198.19.0.2", 0, 1)
        );
        assert_eq!(
            ok("-e -t 198.18.0.110:80 -r 198.19.0.2:80 -w 9"),
            AdmCommand::EditDest {
                key: k,
                addr: ip("198.19.0.2"),
                port: 80,
                weight: 9
            }
        );
        // -e without -w means weight 1 again.
        assert_eq!(
            ok("--edit-server -t 198.18.0.110:80 -r 198.19.0.2 -m"),
            AdmCommand::EditDest {
                key: k,
                addr: ip("198.19.0.2"),
                port: 80,
                weight: 1
            }
        );
        let del = AdmCommand::DelDest {
            key: k,
            addr: ip("198.19.0.2"),
            port: 80,
        };
        assert_eq!(ok("-d -t 198.18.0.110:80 -r 198.19.0.2"), del);
        assert_eq!(
            ok("--delete-server --tcp-service 198.18.0.110:80 --real-server 198.19.0.2:80"),
            del
        );
        assert_eq!(
            ok("-a -u 198.18.0.110:53 -r 198.19.0.2"),
            add_dest(udp(VIP, 53), "198.19.0.2", 53, 1)
        );
    }

    #[test]
    fn list_and_save() {
        let all = |numeric| AdmCommand::List {
            numeric,
            service: None,
        };
        assert_eq!(ok("-L"), all(false));
        assert_eq!(ok("-l"), all(false));
        assert_eq!(ok("--list"), all(false));
        assert_eq!(ok("-Ln"), all(true));
        assert_eq!(ok("-ln"), all(true));
        assert_eq!(ok("-L -n"), all(true));
        assert_eq!(ok("--list --numeric"), all(true));
        assert_eq!(ok("-L --sort"), all(false));
        let one = AdmCommand::List {
            numeric: true,
            service: Some(tcp(VIP, 80)),
        };
        assert_eq!(ok("-L -n -t 198.18.0.110:80"), one);
        assert_eq!(ok("-Lnt 198.18.0.110:80"), one);
        assert_eq!(ok("-Ln --tcp-service=198.18.0.110:80"), one);
        assert_eq!(ok("-S"), AdmCommand::Save { numeric: false });
        assert_eq!(ok("-Sn"), AdmCommand::Save { numeric: true });
        assert_eq!(ok("--save --numeric"), AdmCommand::Save { numeric: true });
    }

    #[test]
    fn c_number_parsing() {
        assert_eq!(number_in("5", 0, 9), Some(5));
        assert_eq!(number_in(" 5", 0, 9), Some(5));
        assert_eq!(number_in("+5", 0, 9), Some(5));
        assert_eq!(number_in("-0", 0, 9), Some(0));
        assert_eq!(number_in("5 ", 0, 9), None);
        assert_eq!(number_in("", 0, 9), None);
        assert_eq!(number_in("+", 0, 9), None);
        assert_eq!(number_in("10", 0, 9), None);
        assert_eq!(number_in("99999999999999999999999", 0, 9), None);
    }

    // ---- parse: errors ----------------------------------------------------

    #[test]
    fn command_must_come_first() {
        let tryhelp = "Try `ringvs adm -h' or 'ringvs adm --help' for more information.";
        assert_eq!(err("-t 198.18.0.110:80 -A"), tryhelp);
        assert_eq!(err("foo"), tryhelp);
        assert_eq!(err("--bogus"), tryhelp);
        assert_eq!(err("-n -L"), tryhelp);
        assert_eq!(p("-t 1.2.3.4:80 -A").unwrap_err().exit_code(), 255);
        assert_eq!(err("-A -t 198.18.0.110:80 -L"), "invalid option `-L'");
        assert_eq!(err("-L -A"), "invalid option `-A'");
        assert_eq!(err("-L -h"), "invalid option `-h'");
        assert_eq!(p("-L -A").unwrap_err().exit_code(), 2);
    }

    #[test]
    fn option_parser_errors() {
        assert_eq!(err("-L --bogus"), "--bogus: unknown option");
        assert_eq!(err("-L -q"), "-q: unknown option");
        assert_eq!(err("-Lq"), "-Lq: unknown option");
        assert_eq!(err("-A -t"), "-t: missing argument");
        assert_eq!(err("-A --tcp-service"), "--tcp-service: missing argument");
        assert_eq!(
            err("-L --numeric=1"),
            "--numeric=1: option does not take an argument"
        );
        assert_eq!(err("-L extra"), "unexpected argument extra");
        assert_eq!(err("-L -- -n"), "unexpected argument -n");
        assert_eq!(err("-C -"), "unexpected argument -");
        assert_eq!(p("-L --bogus").unwrap_err().exit_code(), 255);
    }

    #[test]
    fn duplicate_options() {
        assert_eq!(
            err("-A -t 198.18.0.110:80 -s rr -s wrr"),
            "multiple 'scheduler' options specified"
        );
        assert_eq!(
            err("-A -t 198.18.0.110:80 -u 198.18.0.110:80"),
            "multiple 'service-address' options specified"
        );
        assert_eq!(
            err("-a -t 198.18.0.110:80 -r 198.19.0.2 -m -g"),
            "multiple 'forwarding-method' options specified"
        );
        assert_eq!(err("-Lnn"), "multiple 'numeric' options specified");
        assert_eq!(
            err("-a -t 198.18.0.110:80 -r 198.19.0.2 -w 1 -w 2"),
            "multiple 'weight' options specified"
        );
        assert_eq!(
            err("-A -t 198.18.0.110:80 -p -p"),
            "multiple 'persistent' options specified"
        );
    }

    #[test]
    fn command_option_table() {
        for (line, msg) in [
            (
                "-A -s rr",
                "You need to supply the 'service-address' option for the 'add-service' command",
            ),
            (
                "-E",
                "You need to supply the 'service-address' option for the 'edit-service' command",
            ),
            (
                "-D",
                "You need to supply the 'service-address' option for the 'delete-service' command",
            ),
            (
                "-a -t 198.18.0.110:80",
                "You need to supply the 'real-server' option for the 'add-server' command",
            ),
            (
                "-e -t 198.18.0.110:80",
                "You need to supply the 'real-server' option for the 'edit-server' command",
            ),
            (
                "-d -r 198.19.0.2",
                "You need to supply the 'service-address' option for the 'delete-server' command",
            ),
            (
                "-A -t 198.18.0.110:80 -s rr -w 3",
                "Illegal 'weight' option with the 'add-service' command",
            ),
            (
                "-A -t 198.18.0.110:80 -s rr -n",
                "Illegal 'numeric' option with the 'add-service' command",
            ),
            (
                "-A -t 198.18.0.110:80 -s rr -r 198.19.0.2",
                "Illegal 'real-server' option with the 'add-service' command",
            ),
            (
                "-A -t 198.18.0.110:80 -g",
                "Illegal 'forwarding-method' option with the 'add-service' command",
            ),
            (
                "-D -t 198.18.0.110:80 -s rr",
                "Illegal 'scheduler' option with the 'delete-service' command",
            ),
            (
                "-d -t 198.18.0.110:80 -r 198.19.0.2 -m",
                "Illegal 'forwarding-method' option with the 'delete-server' command",
            ),
            (
                "-d -t 198.18.0.110:80 -r 198.19.0.2 -w 1",
                "Illegal 'weight' option with the 'delete-server' command",
            ),
            (
                "-a -t 198.18.0.110:80 -r 198.19.0.2 -s rr",
                "Illegal 'scheduler' option with the 'add-server' command",
            ),
            (
                "-e -t 198.18.0.110:80 -r 198.19.0.2 -p",
                "Illegal 'persistent' option with the 'edit-server' command",
            ),
            ("-C -n", "Illegal 'numeric' option with the 'flush' command"),
            (
                "-S -t 198.18.0.110:80",
                "Illegal 'service-address' option with the 'save' command",
            ),
            (
                "-L -s rr",
                "Illegal 'scheduler' option with the 'list' command",
            ),
            ("-L -w 1", "Illegal 'weight' option with the 'list' command"),
            (
                "-L -c -t 198.18.0.110:80",
                "The option 'service-address' conflicts with the 'connection' option in the 'list' command",
            ),
            (
                "-L --timeout --daemon",
                "The option 'daemon' conflicts with the 'timeout' option in the 'list' command",
            ),
        ] {
            assert_eq!(err(line), msg, "{line}");
            assert_eq!(p(line).unwrap_err().exit_code(), 2, "{line}");
        }
    }

    #[test]
    fn scheduler_errors() {
        assert_eq!(
            err("-A -t 198.18.0.110:80"),
            "Scheduler wlc not supported yet; use -s rr or -s wrr"
        );
        assert_eq!(
            err("-E -t 198.18.0.110:80 -p"),
            "Scheduler wlc not supported yet; use -s rr or -s wrr"
        );
        assert_eq!(
            err("-A -t 198.18.0.110:80 -s lc"),
            "Scheduler lc not supported yet; use -s rr or -s wrr"
        );
        assert_eq!(
            err("-A -t 198.18.0.110:80 -s mh"),
            "Scheduler mh not supported yet; use -s rr or -s wrr"
        );
        assert_eq!(
            err("-A -t 198.18.0.110:80 -s foo"),
            "Scheduler or persistence engine not found"
        );
        assert_eq!(
            err("-A -t 198.18.0.110 -s rr"),
            "Zero port specified for non-persistent service"
        );
        assert_eq!(
            err("-A -t 198.18.0.110:0 -s rr"),
            "Zero port specified for non-persistent service"
        );
    }

    #[test]
    fn value_errors() {
        for (line, msg) in [
            (
                "-A -t 198.18.0.110:80 -s rr -p 0",
                "invalid timeout value `0' specified",
            ),
            (
                "-A -t 198.18.0.110:80 -s rr -p 2678401",
                "invalid timeout value `2678401' specified",
            ),
            (
                "-A -t 198.18.0.110:80 -s rr --persistent=abc",
                "invalid timeout value `abc' specified",
            ),
            (
                "-A -t 198.18.0.110:80 -s rr -p600s",
                "invalid timeout value `600s' specified",
            ),
            (
                "-a -t 198.18.0.110:80 -r 198.19.0.2 -w 65536",
                "illegal weight specified",
            ),
            (
                "-a -t 198.18.0.110:80 -r 198.19.0.2 -w=-1",
                "illegal weight specified",
            ),
            (
                "-a -t 198.18.0.110:80 -r 198.19.0.2 --weight abc",
                "illegal weight specified",
            ),
            (
                "-A -t 80 -s rr",
                "illegal virtual server address[:port] specified",
            ),
            (
                "-A -t 198.18.0.110:99999 -s rr",
                "illegal virtual server address[:port] specified",
            ),
            (
                "-A -t 198.18.0.110: -s rr",
                "illegal virtual server address[:port] specified",
            ),
            (
                "-A -t :80 -s rr",
                "illegal virtual server address[:port] specified",
            ),
            (
                "-A -t 1.2.3.4:80:80 -s rr",
                "illegal virtual server address[:port] specified",
            ),
            (
                "-a -t 198.18.0.110:80 -r 198.19.0.2:70000",
                "illegal real server address[:port] specified",
            ),
            (
                "-a -t 198.18.0.110:80 -r 8080",
                "illegal real server address[:port] specified",
            ),
            ("-A -f 0 -s rr", "invalid fwmark value `0' specified"),
            (
                "-a -t 198.18.0.110:80 -r 198.19.0.2 -x abc",
                "illegal u_threshold specified",
            ),
            (
                "-a -t 198.18.0.110:80 -r 198.19.0.2 -y -1",
                "illegal l_threshold specified",
            ),
            ("-A -t 198.18.0.110:80 -6", "-6 used before -f"),
        ] {
            assert_eq!(err(line), msg, "{line}");
            assert_eq!(p(line).unwrap_err().exit_code(), 2, "{line}");
        }
    }

    #[test]
    fn ringvs_limitations() {
        for (line, msg) in [
            (
                "-A -t www.example.com:80 -s rr",
                "ringvs does not resolve host names; use a numeric IPv4 address instead of `www.example.com'",
            ),
            (
                "-a -t 198.18.0.110:80 -r backend1",
                "ringvs does not resolve host names; use a numeric IPv4 address instead of `backend1'",
            ),
            (
                "-A -t 198.18.0.110:http -s rr",
                "ringvs does not resolve service names; use a numeric port instead of `http'",
            ),
            (
                "-A -t [2001:db8::1]:80 -s rr",
                "ringvs supports only IPv4 addresses: `[2001:db8::1]:80'",
            ),
            (
                "-A -t 2001:db8::1 -s rr",
                "ringvs supports only IPv4 addresses: `2001:db8::1'",
            ),
            (
                "-A -f 1 -s rr",
                "ringvs does not support fwmark services (-f)",
            ),
            (
                "-A --sctp-service 198.18.0.110:80 -s rr",
                "ringvs does not support SCTP services (--sctp-service)",
            ),
            (
                "-a -t 198.18.0.110:80 -r 198.19.0.2 -g",
                "ringvs supports only masquerading (-m) forwarding",
            ),
            (
                "-a -t 198.18.0.110:80 -r 198.19.0.2 --ipip",
                "ringvs supports only masquerading (-m) forwarding",
            ),
            (
                "-e -t 198.18.0.110:80 -r 198.19.0.2 --gatewaying",
                "ringvs supports only masquerading (-m) forwarding",
            ),
            (
                "-A -t 198.18.0.110:80 -s rr -p -M 255.255.255.0",
                "ringvs does not support persistence granularity (-M)",
            ),
            (
                "-a -t 198.18.0.110:80 -r 198.19.0.2 -x 100",
                "ringvs does not support connection thresholds (-x, -y)",
            ),
            ("-L --stats", "ringvs does not support --stats"),
            ("-L --rate", "ringvs does not support --rate"),
            ("-L --nosort", "ringvs does not support --nosort"),
            ("-L -c", "ringvs does not support listing connections (-c)"),
            ("-Z", "ringvs does not support zeroing counters (-Z)"),
            (
                "-R",
                "ringvs does not support restoring rules from stdin (-R)",
            ),
            (
                "--set 900 120 300",
                "ringvs does not support setting connection timeouts (--set)",
            ),
            (
                "--start-daemon master",
                "ringvs does not support the connection sync daemon",
            ),
            (
                "-A -t 198.18.0.110:80 -s sh -b sh-port",
                "ringvs does not support scheduler flags (-b)",
            ),
            (
                "-A -u 198.18.0.110:53 -s rr -o",
                "ringvs does not support one-packet scheduling (-o)",
            ),
        ] {
            assert_eq!(err(line), msg, "{line}");
            assert_eq!(p(line).unwrap_err().exit_code(), 2, "{line}");
        }
    }

    #[test]
    fn help_and_version() {
        for line in ["-h", "--help"] {
            let e = p(line).unwrap_err();
            assert!(matches!(e, AdmError::Help(_)));
            assert_eq!(e.exit_code(), 0);
            assert!(e.to_string().starts_with("Usage:\n"));
        }
        let e = p("-v").unwrap_err();
        assert!(e.to_string().starts_with("ringvs "));
        assert_eq!(e.exit_code(), 0);
    }

    // ---- apply / output ------------------------------------------------

    /// Built in a scrambled order; listings must come out sorted.
    fn sample() -> Config {
        let mut c = Config::new();
        for line in [
            "-A -t 198.18.0.110:80 -s rr",
            "-a -t 198.18.0.110:80 -r 198.19.0.10:80 -m -w 1",
            "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
            "-A -u 198.18.0.110:53 -s wrr -p",
            "-a -u 198.18.0.110:53 -r 198.19.0.3:5353 -m -w 10",
            "-A -t 198.18.0.9:443 -s wrr -p 1800",
            "-a -t 198.18.0.9:443 -r 198.19.0.7:8443 -m -w 65535",
            "-a -t 198.18.0.9:443 -r 198.19.0.7:443 -m -w 0",
        ] {
            apply(&mut c, &ok(line)).unwrap();
        }
        c
    }

    fn counts(id: DestId) -> (u32, u32) {
        (id.0 * 11, id.0 * 1000)
    }

    #[test]
    fn golden_list_example() {
        let mut c = Config::new();
        apply(&mut c, &ok("-A -t 198.18.0.110:80 -s rr")).unwrap();
        apply(
            &mut c,
            &ok("-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m -w 1"),
        )
        .unwrap();
        let expected = concat!(
            "IP Virtual Server version 1.2.1 (size=4096)\n",
            "Prot LocalAddress:Port Scheduler Flags\n",
            "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n",
            "TCP  198.18.0.110:80 rr\n",
            "  -> 198.19.0.2:80                Masq    1      0          0         \n",
        );
        assert_eq!(format_list(&c, None, &|_| (0, 0)), expected);
    }

    #[test]
    fn golden_list() {
        let expected = concat!(
            "IP Virtual Server version 1.2.1 (size=4096)\n",
            "Prot LocalAddress:Port Scheduler Flags\n",
            "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n",
            "TCP  198.18.0.9:443 wrr persistent 1800\n",
            "  -> 198.19.0.7:443               Masq    0      44         4000      \n",
            "  -> 198.19.0.7:8443              Masq    65535  33         3000      \n",
            "TCP  198.18.0.110:80 rr\n",
            "  -> 198.19.0.2:80                Masq    1      11         1000      \n",
            "  -> 198.19.0.10:80               Masq    1      0          0         \n",
            "UDP  198.18.0.110:53 wrr persistent 360\n",
            "  -> 198.19.0.3:5353              Masq    10     22         2000      \n",
        );
        assert_eq!(format_list(&sample(), None, &counts), expected);
    }

    #[test]
    fn golden_list_one_service() {
        let c = sample();
        let expected = concat!(
            "Prot LocalAddress:Port Scheduler Flags\n",
            "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n",
            "UDP  198.18.0.110:53 wrr persistent 360\n",
            "  -> 198.19.0.3:5353              Masq    10     22         2000      \n",
        );
        assert_eq!(format_list(&c, Some(&udp(VIP, 53)), &counts), expected);
        let cmd = ok("-L -n -u 198.18.0.110:53");
        assert_eq!(
            list_output(&c, &cmd, &counts).unwrap().as_deref(),
            Some(expected)
        );
        let missing = ok("-L -n -t 198.18.0.110:53");
        assert_eq!(
            list_output(&c, &missing, &counts),
            Err(AdmError::NoSuchService)
        );
    }

    #[test]
    fn golden_list_empty_and_wide() {
        let expected = concat!(
            "IP Virtual Server version 1.2.1 (size=4096)\n",
            "Prot LocalAddress:Port Scheduler Flags\n",
            "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n",
        );
        assert_eq!(format_list(&Config::new(), None, &counts), expected);

        let mut c = Config::new();
        apply(&mut c, &ok("-A -u 255.255.255.254:65535 -s rr")).unwrap();
        apply(
            &mut c,
            &ok("-a -u 255.255.255.254:65535 -r 255.255.255.253:65534"),
        )
        .unwrap();
        let big = |_| (4_294_967_295, 1_234_567_890);
        let expected = concat!(
            "IP Virtual Server version 1.2.1 (size=4096)\n",
            "Prot LocalAddress:Port Scheduler Flags\n",
            "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n",
            "UDP  255.255.255.254:65535 rr\n",
            "  -> 255.255.255.253:65534        Masq    1      4294967295 1234567890\n",
        );
        assert_eq!(format_list(&c, None, &big), expected);
    }

    #[test]
    fn golden_save() {
        let expected = concat!(
            "-A -t 198.18.0.9:443 -s wrr -p 1800\n",
            "-a -t 198.18.0.9:443 -r 198.19.0.7:443 -m -w 0\n",
            "-a -t 198.18.0.9:443 -r 198.19.0.7:8443 -m -w 65535\n",
            "-A -t 198.18.0.110:80 -s rr\n",
            "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m -w 1\n",
            "-a -t 198.18.0.110:80 -r 198.19.0.10:80 -m -w 1\n",
            "-A -u 198.18.0.110:53 -s wrr -p 360\n",
            "-a -u 198.18.0.110:53 -r 198.19.0.3:5353 -m -w 10\n",
        );
        let c = sample();
        assert_eq!(format_save(&c), expected);
        assert_eq!(format_save(&Config::new()), "");
        assert_eq!(
            list_output(&c, &ok("-S -n"), &counts).unwrap().as_deref(),
            Some(expected)
        );
        assert_eq!(list_output(&c, &ok("-C"), &counts).unwrap(), None);
    }

    #[test]
    fn save_shows_port_zero() {
        let mut c = Config::new();
        apply(&mut c, &ok("-A -t 198.18.0.110 -s rr -p")).unwrap();
        apply(&mut c, &ok("-a -t 198.18.0.110 -r 198.19.0.2")).unwrap();
        assert_eq!(
            format_save(&c),
            "-A -t 198.18.0.110:0 -s rr -p 360\n-a -t 198.18.0.110:0 -r 198.19.0.2:0 -m -w 1\n"
        );
        let text = format_save(&c);
        let mut again = Config::new();
        for cmd in parse_rules(&text).unwrap() {
            apply(&mut again, &cmd).unwrap();
        }
        assert_eq!(again, c);
    }

    #[test]
    fn apply_errors_are_ipvsadm_messages() {
        let mut c = sample();
        let e = |c: &mut Config, line: &str| apply(c, &ok(line)).unwrap_err().to_string();
        assert_eq!(
            e(&mut c, "-A -t 198.18.0.110:80 -s wrr"),
            "Service already exists"
        );
        assert_eq!(e(&mut c, "-E -t 198.18.0.110:81 -s wrr"), "No such service");
        assert_eq!(e(&mut c, "-D -t 198.18.0.110:81"), "No such service");
        assert_eq!(
            e(&mut c, "-a -t 198.18.0.110:81 -r 198.19.0.2"),
            "Service not defined"
        );
        assert_eq!(
            e(&mut c, "-e -t 198.18.0.110:81 -r 198.19.0.2"),
            "Service not defined"
        );
        assert_eq!(
            e(&mut c, "-d -t 198.18.0.110:81 -r 198.19.0.2"),
            "Service not defined"
        );
        assert_eq!(
            e(&mut c, "-a -t 198.18.0.110:80 -r 198.19.0.2"),
            "Destination already exists"
        );
        assert_eq!(
            e(&mut c, "-e -t 198.18.0.110:80 -r 198.19.0.99"),
            "No such destination"
        );
        assert_eq!(
            e(&mut c, "-d -t 198.18.0.110:80 -r 198.19.0.2:81"),
            "No such destination"
        );
        // A UDP service is not the TCP one.
        assert_eq!(
            e(&mut c, "-a -u 198.18.0.110:80 -r 198.19.0.2"),
            "Service not defined"
        );
    }

    #[test]
    fn apply_edits() {
        let mut c = sample();
        let id = c.service(&tcp(VIP, 80)).unwrap().dests[1].id;
        apply(&mut c, &ok("-e -t 198.18.0.110:80 -r 198.19.0.2 -w 4")).unwrap();
        let d = *c
            .service(&tcp(VIP, 80))
            .unwrap()
            .dest(ip("198.19.0.2"), 80)
            .unwrap();
        assert_eq!((d.weight, d.id), (4, id));
        apply(&mut c, &ok("-E -t 198.18.0.9:443 -s rr")).unwrap();
        let s = c.service(&tcp("198.18.0.9", 443)).unwrap();
        assert_eq!(
            (s.sched, s.persistent, s.dests.len()),
            (Scheduler::Rr, None, 2)
        );
        apply(&mut c, &ok("-d -t 198.18.0.110:80 -r 198.19.0.2")).unwrap();
        apply(&mut c, &ok("-D -u 198.18.0.110:53")).unwrap();
        assert_eq!(
            format_save(&c),
            concat!(
                "-A -t 198.18.0.9:443 -s rr\n",
                "-a -t 198.18.0.9:443 -r 198.19.0.7:443 -m -w 0\n",
                "-a -t 198.18.0.9:443 -r 198.19.0.7:8443 -m -w 65535\n",
                "-A -t 198.18.0.110:80 -s rr\n",
                "-a -t 198.18.0.110:80 -r 198.19.0.10:80 -m -w 1\n",
            )
        );
        apply(
            &mut c,
            &AdmCommand::List {
                numeric: true,
                service: None,
            },
        )
        .unwrap();
        apply(&mut c, &ok("-C")).unwrap();
        assert!(c.services().is_empty());
    }

    // ---- rules files ------------------------------------------------------

    #[test]
    fn save_restore_round_trip() {
        // Built in listing order without deletions, so even the ids match.
        let mut orig = Config::new();
        for line in [
            "-A -t 198.18.0.9:443 -s wrr -p 1800",
            "-a -t 198.18.0.9:443 -r 198.19.0.7:443 -m -w 0",
            "-a -t 198.18.0.9:443 -r 198.19.0.7:8443 -m -w 65535",
            "-A -t 198.18.0.110:80 -s rr",
            "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m -w 1",
            "-a -t 198.18.0.110:80 -r 198.19.0.10:80 -m -w 1",
            "-A -u 198.18.0.110:53 -s wrr -p 360",
            "-a -u 198.18.0.110:53 -r 198.19.0.3:5353 -m -w 10",
        ] {
            apply(&mut orig, &ok(line)).unwrap();
        }
        let text = format_save(&orig);
        let mut restored = Config::new();
        for cmd in parse_rules(&text).unwrap() {
            apply(&mut restored, &cmd).unwrap();
        }
        assert_eq!(restored, orig);
        assert_eq!(format_save(&restored), text);

        // A scrambled config restores to the same table and the same text.
        let scrambled = sample();
        let text = format_save(&scrambled);
        let mut restored = Config::new();
        for cmd in parse_rules(&text).unwrap() {
            apply(&mut restored, &cmd).unwrap();
        }
        assert_eq!(format_save(&restored), text);
        assert_eq!(
            format_list(&restored, None, &|_| (0, 0)),
            format_list(&scrambled, None, &|_| (0, 0))
        );
    }

    #[test]
    fn rules_file_syntax() {
        let text = "# saved by ipvsadm\n\n   -A -t 198.18.0.110:80 -s rr  \n\t# indented comment\n-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m -w 1\r\n-C\n";
        assert_eq!(
            parse_rules(text).unwrap(),
            vec![
                add(tcp(VIP, 80), Scheduler::Rr, None),
                add_dest(tcp(VIP, 80), "198.19.0.2", 80, 1),
                AdmCommand::Clear,
            ]
        );
        assert_eq!(parse_rules("").unwrap(), vec![]);
        let bad = "-A -t 198.18.0.110:80 -s rr\n\n-a -t 198.18.0.110:80 -r 198.19.0.2 -w 70000\n";
        let e = parse_rules(bad).unwrap_err();
        assert_eq!(e.to_string(), "line 3: illegal weight specified");
        assert_eq!(e.exit_code(), 2);
        let e = parse_rules("-A -t 198.18.0.110:80\n").unwrap_err();
        assert_eq!(
            e,
            AdmError::Line {
                line: 1,
                error: Box::new(AdmError::SchedulerNotSupported("wlc".into()))
            }
        );
    }
}
