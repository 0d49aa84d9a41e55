//! Parsing one ipvsadm command line.
//!
//! The first option names the command ([`command`]); the others are
//! gathered one at a time ([`Gathered::take`]), then checked against each
//! other and the command in ipvsadm's order ([`Gathered::finish`]), so that
//! a command line with several mistakes gets ipvsadm's message for the
//! first one ipvsadm would find.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::super::listing::ListOpts;
use super::super::names::Names;
use super::super::{
    AdmError, Forward, MarkDest, Netmask, Proto, SchedFlags, ServiceKey, TunCsum, TunKind, Tunnel,
};
use super::check::{CheckArgs, SorryArgs};
use super::command::{AdmCommand, DEFAULT_SCHEDULER, DaemonOpts, DestOpts, ServiceOpts, SyncRole};
use super::files::FileArgs;
use super::messages::{try_help, unsupported, usage, usage_text, version_text};
use super::notify::NotifyArgs;
use super::options::{
    Cmd, OPT_NAMES, TUNNEL_OPTIONS, Tag, check_options, check_tunnel_options, column,
};
use super::scanner::{Found, Scanner};
use super::values::{
    check_fwmark, netmask, number_in, parse_sched_flags, persistent_timeout, prefix6,
    server_address, service_address, set_timeout, threshold, weight,
};

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
    let (cmd, cmd_arg) = command(sc.next_opt())?;
    let mut gathered = Gathered::new();
    gathered.cmd_arg = cmd_arg;
    while let Some(found) = sc.next_opt() {
        gathered.take(found?, names)?;
    }
    let timeouts = leftovers(cmd, &sc.leftovers)?;
    gathered.finish(cmd, timeouts)
}

/// The command the first option names, and its argument (the sync daemon's
/// role, `--ha`'s).  `-h` and `-v` end the parse here.
fn command(first: Option<Result<Found, AdmError>>) -> Result<(Cmd, String), AdmError> {
    let first = match first {
        Some(Ok(f)) => f,
        _ => return Err(try_help()),
    };
    let arg = first.arg.clone().unwrap_or_default();
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
        // ipvsadm's messages for a role that is neither (sic: `start_daemon`
        // for --stop-daemon).
        Tag::StartDaemon | Tag::StopDaemon => {
            if arg != "master" && arg != "backup" {
                return Err(usage(if first.tag == Tag::StartDaemon {
                    "illegal start-daemon parameter specified"
                } else {
                    "illegal start_daemon specified"
                }));
            }
            if first.tag == Tag::StartDaemon {
                Cmd::StartDaemon
            } else {
                Cmd::StopDaemon
            }
        }
        Tag::Ha => {
            if arg != "active" && arg != "standby" {
                return Err(usage(format!(
                    "illegal --ha role `{arg}': active or standby"
                )));
            }
            Cmd::Ha
        }
        _ => return Err(try_help()),
    };
    Ok((cmd, arg))
}

/// The words that are not options: `--set`'s three timeouts, and nothing
/// for any other command.
fn leftovers(cmd: Cmd, words: &[String]) -> Result<[u32; 3], AdmError> {
    let mut words = words.iter();
    let mut timeouts = [0u32; 3];
    if cmd == Cmd::SetTimeout {
        for t in &mut timeouts {
            let Some(v) = words.next() else {
                return Err(usage("--set option requires 3 timeout values"));
            };
            *t = set_timeout(v)?;
        }
    }
    if let Some(extra) = words.next() {
        return Err(usage(format!("unexpected argument {extra}")));
    }
    Ok(timeouts)
}

/// Everything the options after the command say, as ipvsadm gathers it
/// before checking.
struct Gathered {
    /// The option columns seen (bit `1 << column`).
    options: u64,
    /// `-t`/`-u` (TCP until one is seen).
    proto: Proto,
    /// The service's protocol once `-t`, `-u`, `--sctp-service` or `-f`
    /// (TCP, as ipvsadm sets it) is seen: a `-r` port name before is none.
    svc_proto: Option<Proto>,
    /// The service address and port (0 when not given).
    svc: Option<(IpAddr, u16)>,
    sched: Option<String>,
    persistent: Option<u32>,
    /// `-M`, read in the family of the service seen so far.
    netmask: Netmask,
    /// `-b`, parsed once the scheduler is known.
    flags_arg: Option<String>,
    /// `-o`.
    ops: bool,
    /// `--pe`'s name, looked up with the scheduler's when the command is
    /// applied (the kernel's order).
    pe: Option<String>,
    dest: Option<(IpAddr, u16)>,
    dopts: DestOpts,
    /// `-m`, `-g` or `-i`, if one was given.
    fwd: Option<Tag>,
    /// `--tun-type` (ipvsadm's default `ipip`).
    tun_kind: TunKind,
    /// `--tun-port` (0 when not given).
    tun_port: u16,
    /// The checksum options given, as the kernel's flag bits
    /// (`IP_VS_TUNNEL_ENCAP_FLAG_CSUM` 1, `_REMCSUM` 2; `--tun-nocsum` is 0).
    tun_flags: u8,
    list: ListOpts,
    /// `-f`'s mark (0: none).
    mark: u32,
    /// `--mark-dest`s, if any was given.
    marks: Option<Vec<MarkDest>>,
    checks: CheckArgs,
    sorry: SorryArgs,
    notify: NotifyArgs,
    files: FileArgs,
    /// The first valid-ipvsadm-but-not-ringvs thing seen; reported after
    /// ipvsadm's own checks.
    deferred: Option<AdmError>,
    /// The command's own argument (`--start-daemon`'s role, `--ha`'s).
    cmd_arg: String,
    /// `--start-daemon`'s options.
    daemon: DaemonOpts,
}

impl Gathered {
    fn new() -> Self {
        Gathered {
            options: 0,
            proto: Proto::Tcp,
            svc_proto: None,
            svc: None,
            sched: None,
            persistent: None,
            netmask: Netmask::HOST4,
            flags_arg: None,
            ops: false,
            pe: None,
            dest: None,
            dopts: DestOpts::weight(1),
            fwd: None,
            tun_kind: TunKind::Ipip,
            tun_port: 0,
            tun_flags: 0,
            list: ListOpts::default(),
            mark: 0,
            marks: None,
            checks: CheckArgs::default(),
            sorry: SorryArgs::default(),
            notify: NotifyArgs::default(),
            files: FileArgs::default(),
            deferred: None,
            cmd_arg: String::new(),
            daemon: DaemonOpts {
                role: SyncRole::Master,
                mcast_ifn: String::new(),
                syncid: 0,
                maxlen: None,
                group: None,
                port: None,
                ttl: None,
            },
        }
    }

    /// One option after the command.
    fn take(&mut self, found: Found, names: &Names) -> Result<(), AdmError> {
        let Found { tag, arg, word } = found;
        let val = arg.clone().unwrap_or_default();
        if let Some(col) = column(tag) {
            if self.options & (1 << col) != 0 {
                return Err(usage(format!(
                    "multiple '{}' options specified",
                    OPT_NAMES[col]
                )));
            }
            self.options |= 1 << col;
        }
        match tag {
            Tag::Tcp | Tag::Udp | Tag::Sctp => {
                self.proto = match tag {
                    Tag::Tcp => Proto::Tcp,
                    Tag::Udp => Proto::Udp,
                    _ => Proto::Sctp,
                };
                self.svc_proto = Some(self.proto);
                let (addr, port) = service_address(&val, self.proto, names)?;
                // ipvsadm's `parse_service` sets an IPv6 service's mask to
                // 128 here, over an `-M` given before `-t`/`-u`.
                if addr.is_ipv6() {
                    self.netmask = Netmask::HOST6;
                }
                self.svc = Some((addr, port));
            }
            // A firewall-mark service: IPv4 until `-6` (ipvsadm's
            // `parse_options`).
            Tag::Fwmark => {
                self.mark = check_fwmark(&val)?;
                self.svc_proto = Some(Proto::Tcp);
                self.svc = Some((IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0));
            }
            Tag::MarkDest => self.marks.get_or_insert_default().push(val.parse()?),
            Tag::Scheduler => self.sched = Some(val),
            Tag::Persistent => self.persistent = Some(persistent_timeout(arg.as_deref())?),
            // ipvsadm reads `-M` in the family of the service parsed so far:
            // a prefix length after an IPv6 `-t`/`-u`, else an IPv4 mask.
            Tag::Netmask => {
                self.netmask = match self.svc {
                    Some((IpAddr::V6(_), _)) => Netmask::V6(prefix6(&val)?),
                    _ => Netmask::V4(netmask(&val, names)?),
                }
            }
            Tag::RealServer => {
                self.dest = Some(server_address(
                    &val,
                    self.svc_proto,
                    names,
                    self.svc_port(),
                )?);
            }
            Tag::Masq | Tag::Gate | Tag::Ipip => self.fwd = Some(tag),
            Tag::Weight => self.dopts.weight = weight(&val)?,
            Tag::UThreshold => self.dopts.u_threshold = threshold(&val, "u")?,
            Tag::LThreshold => self.dopts.l_threshold = threshold(&val, "l")?,
            // keepalived's `connect_ip`, of a real server: an address alone
            // (an IPv6 one bare or in brackets), unicast as a server's.
            Tag::CheckIp => {
                if self.dopts.check_ip.is_some() {
                    return Err(usage("multiple 'check-ip' options specified"));
                }
                let v = val.strip_prefix('[').and_then(|v| v.strip_suffix(']'));
                let ip = (v.unwrap_or(&val).parse::<IpAddr>().ok())
                    .filter(|&ip| super::super::unicast(ip))
                    .ok_or_else(|| usage("illegal check-ip specified"))?;
                self.dopts.check_ip = Some(ip);
            }
            Tag::Ipv6 if self.mark == 0 => return Err(usage("-6 used before -f\n")),
            // ipvsadm: the service becomes IPv6, its mask a /128.
            Tag::Ipv6 => {
                self.svc = Some((IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0));
                self.netmask = Netmask::HOST6;
            }
            Tag::Ops => self.ops = true,
            // ipvsadm copies the name; the kernel knows "sip" only. An
            // empty name is none.
            Tag::Pe => self.pe = Some(val),
            Tag::SchedFlags => self.flags_arg = Some(val),
            // ipvsadm's checks and messages (`parse_options`, ipvsadm.c).
            Tag::McastInterface => self.daemon.mcast_ifn = val,
            Tag::SyncId => {
                self.daemon.syncid =
                    number_in(&val, 0, 255).ok_or_else(|| usage("illegal syncid specified"))? as u8
            }
            Tag::SyncMaxlen => {
                self.daemon.maxlen = Some(
                    number_in(&val, 1, 65535 - 20 - 8)
                        .ok_or_else(|| usage("illegal sync-maxlen specified"))?
                        as u16,
                )
            }
            // As ipvsadm's `parse_options` reads it: a word with a colon is
            // an IPv6 group (the daemon then syncs over IPv6), any other an
            // IPv4 one; either must be multicast.
            Tag::McastGroup => match val.contains(':') {
                true => match val.parse::<std::net::Ipv6Addr>() {
                    Ok(a) if a.is_multicast() => self.daemon.group = Some(a.into()),
                    _ => return Err(usage(format!("invalid IPv6 mcast-group `{val}'"))),
                },
                false => match val.parse::<Ipv4Addr>() {
                    Ok(a) if a.is_multicast() => self.daemon.group = Some(a.into()),
                    _ => return Err(usage(format!("invalid IPv4 mcast-group `{val}'"))),
                },
            },
            Tag::McastPort => {
                self.daemon.port = Some(
                    number_in(&val, 1, 65535)
                        .ok_or_else(|| usage("illegal mcast-port specified"))?
                        as u16,
                )
            }
            Tag::McastTtl => {
                self.daemon.ttl = Some(
                    number_in(&val, 1, 255).ok_or_else(|| usage("illegal mcast-ttl specified"))?
                        as u8,
                )
            }
            // ipvsadm's checks and messages (`parse_options`, `parse_tun_type`).
            Tag::TunType => {
                self.tun_kind = TunKind::from_name(&val)
                    .ok_or_else(|| usage("illegal tunnel type specified"))?
            }
            Tag::TunPort => {
                self.tun_port = number_in(&val, 1, 65535)
                    .ok_or_else(|| usage("illegal tunnel port specified"))?
                    as u16
            }
            Tag::TunNocsum => {}
            Tag::TunCsum => self.tun_flags |= 1,
            Tag::TunRemcsum => self.tun_flags |= 2,
            _ if self.list_option(tag) => {}
            _ if self.checks.take(tag, &val)? => {}
            _ if (self.sorry).take(tag, &val, (self.svc_proto, names, self.svc_port()))? => {}
            _ if self.notify.take(tag, &val)? => {}
            _ if self.files.take(tag, &val)? => {}
            // A second command, -h or -v after the command.
            _ => return Err(usage(format!("invalid option `{word}'"))),
        }
        Ok(())
    }

    /// The service's port as parsed so far (0 before `-t`/`-u`), which a
    /// server address without a port takes.
    fn svc_port(&self) -> u16 {
        self.svc.map_or(0, |(_, port)| port)
    }

    /// Sets the listing flag `tag` stands for; false if it stands for none.
    fn list_option(&mut self, tag: Tag) -> bool {
        let l = &mut self.list;
        let flag = match tag {
            Tag::Numeric => &mut l.numeric,
            Tag::Sort => &mut l.sort,
            Tag::Connection => &mut l.connections,
            Tag::Timeout => &mut l.timeout,
            Tag::Daemon => &mut l.daemon,
            Tag::Stats => &mut l.stats,
            Tag::Rate => &mut l.rate,
            Tag::Thresholds => &mut l.thresholds,
            Tag::PersistentConn => &mut l.persistent_conn,
            Tag::NoSort => &mut l.nosort,
            Tag::Exact => &mut l.exact,
            Tag::TunInfo => &mut l.tun_info,
            _ => return false,
        };
        *flag = true;
        true
    }

    /// The forwarding method of `-a`/`-e`, after ipvsadm's checks of the
    /// tunnel options (`process_options`, then `tunnel_opt_check`).
    fn forward(&self) -> Result<Forward, AdmError> {
        let fwd = match self.fwd {
            Some(Tag::Gate) => Forward::Route,
            Some(Tag::Ipip) => Forward::Tunnel(Tunnel::IPIP),
            _ => Forward::Masq,
        };
        if self.options & TUNNEL_OPTIONS != 0 && !matches!(fwd, Forward::Tunnel(_)) {
            return Err(usage("Tunnel options conflict with forward method"));
        }
        check_tunnel_options(self.tun_kind, self.options)?;
        Ok(match fwd {
            Forward::Tunnel(_) => Forward::Tunnel(Tunnel {
                kind: self.tun_kind,
                port: self.tun_port,
                csum: if self.tun_flags & 2 != 0 {
                    TunCsum::RemCsum
                } else if self.tun_flags & 1 != 0 {
                    TunCsum::Csum
                } else {
                    TunCsum::NoCsum
                },
            }),
            other => other,
        })
    }

    /// ipvsadm's check that a real server is of its service's family unless
    /// tunnelled (`process_options`, after the option table and before the
    /// tunnel options).
    fn check_family(&self) -> Result<(), AdmError> {
        match (self.svc, self.dest) {
            (Some((svc, _)), Some((dest, _)))
                if svc.is_ipv6() != dest.is_ipv6() && self.fwd != Some(Tag::Ipip) =>
            {
                Err(AdmError::MixedFamily)
            }
            _ => Ok(()),
        }
    }

    /// ipvsadm's checks of `-A` and `-E` after the option table
    /// (`process_options`): a port-0 service must be persistent, and `-o`
    /// is for UDP. Before anything ringvs refuses as its own, as ipvsadm
    /// would say these of a line it takes.
    fn check_service(&self) -> Result<(), AdmError> {
        let Some((_, port)) = self.svc else {
            return Ok(());
        };
        let mark = self.mark != 0;
        if port == 0 && self.persistent.is_none() && !mark {
            return Err(AdmError::ZeroPort);
        }
        if self.ops && !mark && self.proto != Proto::Udp {
            return Err(usage(
                "One-Packet Scheduling is only for UDP virtual services",
            ));
        }
        Ok(())
    }

    /// Keeps `e` to report after ipvsadm's own checks, unless something
    /// unsupported came first.
    fn defer(&mut self, e: AdmError) {
        if self.deferred.is_none() {
            self.deferred = Some(e);
        }
    }

    /// ipvsadm's checks of the whole command line, in ipvsadm's order, then
    /// the command.
    fn finish(mut self, cmd: Cmd, timeouts: [u32; 3]) -> Result<AdmCommand, AdmError> {
        // An empty name is the default, as ipvsadm's `parse_options`
        // (`-s "$SCHED"` with the variable unset).
        let named = self.sched.as_deref().filter(|s| !s.is_empty());
        let sched = named.unwrap_or(DEFAULT_SCHEDULER).to_string();
        // `flag-3` is ipvsadm's own and valid to it: refused after its
        // checks, as ringvs's.
        let sched_flags = match self.flags_arg.take() {
            Some(a) if a.split(',').any(|f| f == "flag-3") => {
                self.defer(unsupported("scheduler flag `flag-3'"));
                let others: Vec<&str> = a.split(',').filter(|f| *f != "flag-3").collect();
                parse_sched_flags(&sched, &others.join(","))?
            }
            Some(a) => parse_sched_flags(&sched, &a)?,
            None => SchedFlags::default(),
        };
        check_options(cmd, self.options)?;
        if matches!(cmd, Cmd::Add | Cmd::Edit) {
            self.check_service()?;
        }
        if matches!(cmd, Cmd::AddDest | Cmd::EditDest) {
            self.check_family()?;
        }
        let forward = match cmd {
            Cmd::AddDest | Cmd::EditDest => self.forward()?,
            _ => Forward::Masq,
        };
        let misc_path = self.checks.server_path(cmd);
        let mut check = self.checks.build(cmd)?;
        let (sorry, quorum) = self.sorry.build(cmd)?;
        let (quorum_scripts, mut server_scripts, misc_user) = self.notify.build(cmd)?;
        server_scripts.check = misc_path;
        let files = std::mem::take(&mut self.files).build(cmd)?;
        // An `-e` without `--file-check` keeps the server's.
        self.dopts.set_files = files.is_some();
        server_scripts.files = files.unwrap_or_default();
        if misc_user.is_some() {
            let path = match (
                &mut server_scripts.check,
                check.as_mut().map(|c| &mut c.kind),
            ) {
                (Some(own), _) => own,
                (None, Some(crate::config::CheckKind::Misc(m))) => &mut m.path,
                _ => return Err(usage("misc-path-user needs --misc-path")),
            };
            *path = path.clone().with_user(misc_user);
        }
        if self.dopts.check_ip.is_some() && !matches!(cmd, Cmd::AddDest | Cmd::EditDest) {
            return Err(usage(format!(
                "Illegal 'check-ip' option with the '{}' command",
                cmd.name()
            )));
        }
        if let Some(e) = self.deferred {
            return Err(e);
        }

        if self.marks.is_some() && !matches!(cmd, Cmd::Add | Cmd::Edit) {
            return Err(usage("--mark-dest goes with -A or -E"));
        }
        let (proto, mark) = (self.proto, self.mark);
        let key = self.svc.map(|(addr, port)| ServiceKey {
            mark,
            ..ServiceKey::new(proto, addr, port)
        });
        let need_key =
            || key.ok_or_else(|| usage("illegal virtual server address[:port] specified"));
        let need_dest = || {
            self.dest
                .ok_or_else(|| usage("illegal real server address[:port] specified"))
        };
        Ok(match cmd {
            Cmd::Add | Cmd::Edit => {
                let key = need_key()?;
                // IPVS schedules each UDP datagram of a mark's service on its
                // own; ringvs translates the replies of no connection by the
                // service's address, which a mark's service has none of.
                if key.is_fwmark() && self.ops {
                    return Err(unsupported(
                        "one-packet scheduling (-o) of a firewall-mark service",
                    ));
                }
                // Every port: the servers' port 0 is none to check on.
                if key.port == 0
                    && check
                        .as_ref()
                        .is_some_and(|c| c.port.is_none() && c.kind.has_port())
                {
                    return Err(usage(
                        "a port-0 service's check needs --check-port (the port to check)",
                    ));
                }
                // The names are the kernel's to look up, when the command is
                // applied (`ServiceOpts::lookup`).
                let opts = ServiceOpts {
                    sched,
                    persistent: self.persistent,
                    netmask: self.netmask,
                    sched_flags,
                    ops: self.ops,
                    pe: self.pe.filter(|n| !n.is_empty()),
                    check,
                    sorry,
                    quorum,
                    scripts: quorum_scripts,
                    marks: self.marks,
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
                let (key, (addr, mut port)) = (need_key()?, need_dest()?);
                // ipvsadm's `process_options`: a direct-routed or tunnelled
                // server takes the service's port (its packets keep theirs).
                // "Don't worry about this if fwmark is used."
                if forward != Forward::Masq && !key.is_fwmark() {
                    port = key.port;
                }
                let opts = DestOpts {
                    forward,
                    scripts: server_scripts,
                    ..self.dopts
                };
                if cmd == Cmd::AddDest {
                    AdmCommand::AddDest {
                        key,
                        addr,
                        port,
                        opts,
                    }
                } else {
                    AdmCommand::EditDest {
                        key,
                        addr,
                        port,
                        opts,
                    }
                }
            }
            Cmd::DelDest => {
                let (key, (addr, port)) = (need_key()?, need_dest()?);
                AdmCommand::DelDest { key, addr, port }
            }
            Cmd::List => list_command(self.list, key)?,
            Cmd::Save => AdmCommand::Save {
                numeric: self.list.numeric,
            },
            Cmd::Zero => AdmCommand::Zero { service: key },
            Cmd::SetTimeout => AdmCommand::SetTimeout {
                tcp: timeouts[0],
                tcpfin: timeouts[1],
                udp: timeouts[2],
            },
            Cmd::Restore => AdmCommand::Restore,
            Cmd::StartDaemon => AdmCommand::StartDaemon(DaemonOpts {
                role: role(&self.cmd_arg),
                ..self.daemon
            }),
            Cmd::StopDaemon => AdmCommand::StopDaemon {
                role: role(&self.cmd_arg),
            },
            Cmd::Ha => AdmCommand::SetRole {
                standby: self.cmd_arg == "standby",
            },
        })
    }
}

/// The sync daemon `master` or `backup` names (checked by [`command`]).
fn role(arg: &str) -> SyncRole {
    if arg == "backup" {
        SyncRole::Backup
    } else {
        SyncRole::Master
    }
}

/// `-L`, after ipvsadm's check of its format options against each other.
fn list_command(mut list: ListOpts, service: Option<ServiceKey>) -> Result<AdmCommand, AdmError> {
    let l = &list;
    if ((l.connections || l.timeout || l.daemon) && (l.stats || l.rate || l.thresholds))
        || ((l.timeout || l.daemon) && l.persistent_conn)
    {
        return Err(usage("options conflicts in the list command"));
    }
    list.service = service;
    Ok(AdmCommand::List(list))
}
