//! Parsing one ipvsadm command line.

use std::net::Ipv4Addr;

use super::super::listing::ListOpts;
use super::super::names::Names;
use super::super::{AdmError, Proto, SchedFlags, ServiceKey};
use super::check::CheckArgs;
use super::command::{
    AdmCommand, DEFAULT_PERSISTENT_TIMEOUT, DEFAULT_SCHEDULER, DestOpts, MAX_TIMEOUT, ServiceOpts,
};
use super::messages::{try_help, unsupported, usage, usage_text, version_text};
use super::options::{Cmd, OPT_NAMES, Tag, check_options, column};
use super::scanner::{Found, Scanner};
use super::values::{AddrError, c_strtol, number_in, parse_addr_port, parse_sched_flags};

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
