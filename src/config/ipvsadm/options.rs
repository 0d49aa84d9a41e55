//! ipvsadm's option table: every option ipvsadm knows ([`SPECS`]), the
//! option columns its messages name, the commands ringvs implements, and
//! which options each command takes (ipvsadm's `generic_opt_check`).

use super::super::{AdmError, TunKind};

/// An option (or command), whichever way it is spelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Tag {
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
    /// `--ha active|standby` (a ringvs command).
    Ha,
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
    CheckDigest,
    CheckVirtualhost,
    CheckSni,
    CheckHttpProtocol,
    CheckCert,
    CheckKey,
    DelayLoop,
    ConnectTimeout,
    Retry,
    DelayBeforeRetry,
    Warmup,
    InhibitOnFailure,
    Alpha,
    Payload,
    RequireReply,
    MinReplyLength,
    MaxReplyLength,
    DnsType,
    DnsName,
    HeloName,
    CheckPort,
    /// A real server's own check address (`-a`/`-e` only).
    CheckIp,
    MiscPath,
    MiscTimeout,
    MiscDynamic,
    // A firewall-mark service's marking rule (ringvs; -A/-E only).
    MarkDest,
    // ringvs's sorry server (keepalived's `sorry_server`; -A/-E only) and
    // the quorum that calls it in.
    SorryServer,
    SorryGatewaying,
    SorryInhibit,
    Quorum,
    Hysteresis,
    NotifyUp,
    NotifyDown,
    QuorumUp,
    QuorumDown,
    // The user a script runs as (keepalived's `notify_up "CMD" USER`,
    // `MISC_CHECK`'s `user`).
    NotifyUpUser,
    NotifyDownUser,
    QuorumUpUser,
    QuorumDownUser,
    MiscPathUser,
    // A real server's keepalived `FILE_CHECK`s (`files`).
    FileCheck,
    FilePath,
    FileWeight,
    FileReverse,
    FileInhibit,
}

/// Whether an option takes an argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Arg {
    No,
    Required,
    Optional,
}

/// One option: its long and short names, its argument, what it is.
pub(super) struct Spec {
    pub(super) long: &'static str,
    pub(super) short: Option<char>,
    pub(super) arg: Arg,
    pub(super) tag: Tag,
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
pub(super) const SPECS: &[Spec] = &[
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
    spec("ha", None, Arg::Required, Tag::Ha),
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
    spec("check-digest", None, Arg::Required, Tag::CheckDigest),
    spec(
        "check-virtualhost",
        None,
        Arg::Required,
        Tag::CheckVirtualhost,
    ),
    spec("check-sni", None, Arg::No, Tag::CheckSni),
    spec(
        "check-http-protocol",
        None,
        Arg::Required,
        Tag::CheckHttpProtocol,
    ),
    spec("check-cert", None, Arg::Required, Tag::CheckCert),
    spec("check-key", None, Arg::Required, Tag::CheckKey),
    spec("check-port", None, Arg::Required, Tag::CheckPort),
    spec("check-ip", None, Arg::Required, Tag::CheckIp),
    spec("misc-path", None, Arg::Required, Tag::MiscPath),
    spec("misc-timeout", None, Arg::Required, Tag::MiscTimeout),
    spec("misc-dynamic", None, Arg::No, Tag::MiscDynamic),
    spec("mark-dest", None, Arg::Required, Tag::MarkDest),
    spec("delay-loop", None, Arg::Required, Tag::DelayLoop),
    spec("connect-timeout", None, Arg::Required, Tag::ConnectTimeout),
    spec("retry", None, Arg::Required, Tag::Retry),
    spec(
        "delay-before-retry",
        None,
        Arg::Required,
        Tag::DelayBeforeRetry,
    ),
    spec("warmup", None, Arg::Required, Tag::Warmup),
    spec("inhibit-on-failure", None, Arg::No, Tag::InhibitOnFailure),
    spec("alpha", None, Arg::No, Tag::Alpha),
    spec("payload", None, Arg::Required, Tag::Payload),
    spec("require-reply", None, Arg::Optional, Tag::RequireReply),
    spec("min-reply-length", None, Arg::Required, Tag::MinReplyLength),
    spec("max-reply-length", None, Arg::Required, Tag::MaxReplyLength),
    spec("dns-type", None, Arg::Required, Tag::DnsType),
    spec("dns-name", None, Arg::Required, Tag::DnsName),
    spec("helo-name", None, Arg::Required, Tag::HeloName),
    spec("sorry-server", None, Arg::Required, Tag::SorryServer),
    spec("sorry-gatewaying", None, Arg::No, Tag::SorryGatewaying),
    spec("sorry-inhibit", None, Arg::No, Tag::SorryInhibit),
    spec("quorum", None, Arg::Required, Tag::Quorum),
    spec("hysteresis", None, Arg::Required, Tag::Hysteresis),
    spec("notify-up", None, Arg::Required, Tag::NotifyUp),
    spec("notify-down", None, Arg::Required, Tag::NotifyDown),
    spec("quorum-up", None, Arg::Required, Tag::QuorumUp),
    spec("quorum-down", None, Arg::Required, Tag::QuorumDown),
    spec("notify-up-user", None, Arg::Required, Tag::NotifyUpUser),
    spec("notify-down-user", None, Arg::Required, Tag::NotifyDownUser),
    spec("quorum-up-user", None, Arg::Required, Tag::QuorumUpUser),
    spec("quorum-down-user", None, Arg::Required, Tag::QuorumDownUser),
    spec("misc-path-user", None, Arg::Required, Tag::MiscPathUser),
    spec("file-check", None, Arg::Required, Tag::FileCheck),
    spec("file-path", None, Arg::Required, Tag::FilePath),
    spec("file-weight", None, Arg::Required, Tag::FileWeight),
    spec("file-reverse", None, Arg::No, Tag::FileReverse),
    spec("file-inhibit", None, Arg::No, Tag::FileInhibit),
];

/// ipvsadm's option names, indexed by option column (used in messages).
pub(super) const OPT_NAMES: [&str; 34] = [
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
pub(super) fn column(tag: Tag) -> Option<usize> {
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
        Tag::TunType => COL_TUN_TYPE,
        Tag::TunPort => COL_TUN_PORT,
        Tag::TunNocsum => 31,
        Tag::TunCsum => 32,
        Tag::TunRemcsum => 33,
        _ => return None,
    })
}

/// The commands ringvs implements, with ipvsadm's names for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Cmd {
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
    StartDaemon,
    StopDaemon,
    /// `--ha` (ringvs).
    Ha,
}

impl Cmd {
    pub(super) fn name(self) -> &'static str {
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
            Cmd::StartDaemon => "start-daemon",
            Cmd::StopDaemon => "stop-daemon",
            Cmd::Ha => "ha",
        }
    }

    /// ipvsadm's legal command/option combinations, one character per
    /// option column: `+` compulsory, `x` illegal, `1` at most one of the
    /// `1`s, ` ` optional.
    fn legal(self) -> &'static [u8; 34] {
        match self {
            Cmd::Add | Cmd::Edit => b"xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx",
            Cmd::Del => b"xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            Cmd::Flush | Cmd::SetTimeout | Cmd::Restore | Cmd::Ha => {
                b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
            }
            // ipvsadm's `commands_v_options` rows STARTD and STOPD.
            Cmd::StartDaemon => b"xxxxxxxxxxx xxxxxxx xxxx    xxxxxx",
            Cmd::StopDaemon => b"xxxxxxxxxxxxxxxxxxx xxxxxxxxxxxxxx",
            Cmd::Zero => b"xx xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            Cmd::List => b" 11xxxxxxxxx11       xxxxxxx xxxxx",
            Cmd::AddDest | Cmd::EditDest => b"xx+xxx+    xxxxxxxxxxxxxxxxxx     ",
            Cmd::DelDest => b"xx+xxx+xxxxxxxxxxxxxxxxxxxxxxxxxxx",
            Cmd::Save => b" xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        }
    }
}

/// The option columns of the tunnel options (`--tun-type` .. `--tun-remcsum`).
pub(super) const TUNNEL_OPTIONS: u64 = 0b11111 << COL_TUN_TYPE;
const COL_TUN_TYPE: usize = 29;
const COL_TUN_PORT: usize = 30;

/// ipvsadm's `tunnel_types_v_options`: for each tunnel type, the columns
/// `tun-port`, `tun-nocsum`, `tun-csum`, `tun-remcsum` with
/// [`Cmd::legal`]'s key.
fn tunnel_legal(kind: TunKind) -> &'static [u8; 4] {
    match kind {
        TunKind::Ipip => b"xxxx",
        TunKind::Gue => b"+111",
        TunKind::Gre => b"x11x",
    }
}

/// ipvsadm's `tunnel_opt_check`: the tunnel options against the tunnel type.
pub(super) fn check_tunnel_options(kind: TunKind, options: u64) -> Result<(), AdmError> {
    let tun = kind.name();
    let mut first_one: Option<usize> = None;
    for (i, &rule) in tunnel_legal(kind).iter().enumerate() {
        let j = COL_TUN_PORT + i;
        if options & (1 << j) == 0 {
            if rule == b'+' {
                return Err(AdmError::Usage(format!(
                    "You need to supply the '{}' option for the '{tun}' tunnel type",
                    OPT_NAMES[j]
                )));
            }
            continue;
        }
        if rule == b'x' {
            return Err(AdmError::Usage(format!(
                "Illegal '{}' option with the '{tun}' tunnel type",
                OPT_NAMES[j]
            )));
        }
        if rule == b'1' {
            match first_one {
                None => first_one = Some(j),
                Some(last) => {
                    return Err(AdmError::Usage(format!(
                        "The option '{}' conflicts with the '{}' option in the '{tun}' tunnel type",
                        OPT_NAMES[j], OPT_NAMES[last]
                    )));
                }
            }
        }
    }
    Ok(())
}

/// ipvsadm's `generic_opt_check`: options against the command.
pub(super) fn check_options(cmd: Cmd, options: u64) -> Result<(), AdmError> {
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
