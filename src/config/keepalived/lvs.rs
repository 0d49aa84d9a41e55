//! The LVS part of keepalived.conf: `virtual_server` blocks and their
//! `real_server`s, into services and real servers of a [`Config`].
//!
//! Mirrors keepalived's `check_parser.c` (the keyword handlers) and
//! `check_data.c` (`alloc_vs`, `alloc_rs`, `validate_check_config`):
//!
//! * defaults, each taken with a warning as keepalived reports it: no
//!   `protocol` means UDP, no `lb_algo` means `wlc`, no `lb_kind` means NAT,
//!   port 0 without persistence gets `persistence_timeout` 360;
//! * `persistence_timeout` alone means 360 s, `persistence_granularity` alone
//!   also sets it to 360 s; a real server without a port (or port 0) takes the
//!   virtual server's; `weight` defaults to the virtual server's `weight`
//!   (default 1), and is 0..2147483647 (the virtual server's 1..) as
//!   keepalived takes it, where `ipvsadm -w` takes 0..65535; `inhibit_on_failure` and the check times are inherited from
//!   the virtual server, and `alpha` too (a real server's `alpha [BOOL]`
//!   before it, its checker's before both: `rs_alpha_handler`,
//!   `validate_check_config`); a virtual server's `inhibit_on_failure` is on
//!   whatever value follows it (`vs_inhibit_handler`, warned), a real
//!   server's takes `<BOOL>` (`rs_inhibit_handler`);
//! * a `virtual_server` without real servers is ignored, a duplicate
//!   `real_server` removed, both with a warning (as keepalived does);
//! * `lb_kind`/`lvs_method` `NAT`, `DR` or `TUN` in a `virtual_server`, and
//!   `lvs_method` in a `real_server` (which wins), as `svr_forwarding_handler`
//!   reads them: after `TUN`, `type ipip|gue|gre`, `port N` (GUE's, required
//!   for GUE and only there) and `nocsum|csum|remcsum` (not for IPIP;
//!   `remcsum` only for GUE); a real server without its own takes the
//!   virtual server's as it stands when the real server is read
//!   (`alloc_rs`), else the block's last (`validate_check_config` fills in
//!   the servers read before any; `rs_end_handler` counts those as not
//!   tunnelled when it checks their family); neither: NAT with a warning. Tunnel words after `NAT` or `DR` are checked
//!   and ignored with a warning (keepalived stores them unused). The real
//!   server keeps its own port (the kernel stores it; `ipvsadm -a` would
//!   replace it with the service's); for DR and TUN it is where its health
//!   check connects, packets keep their port;
//! * `sh-port`, `sh-fallback`, `mh-port`, `mh-fallback`, `flag-1`, `flag-2` are
//!   scheduler flags (`-b`); a `sh-*`/`mh-*` flag for another scheduler is
//!   ignored with a warning (keepalived checks the scheduler named *before*
//!   the flag; ringvs the block's scheduler, wherever it is written).
//!
//! * IPv6: `virtual_server 2001:2:0:1::110 80` and `real_server 2001:2:0:2::2
//!   8080`, bare addresses as keepalived writes them (`inet_stosockaddr`);
//!   `persistence_granularity` of an IPv6 virtual server is a prefix length
//!   1..128 (`pgr_handler`), of an IPv4 one a netmask; `ip_family inet|inet6`
//!   must agree with the address (`ip_family_handler`); a real server of the
//!   other family than its virtual server is skipped with a warning unless
//!   tunnelled (`rs_end_handler`: "Address family of virtual server and real
//!   server ... don't match - skipping real server"), as IPVS allows only
//!   tunnels across families.
//!
//! Deliberate differences: keepalived logs a bad value and goes on, ringvs
//! refuses the file (unknown `lb_algo`, bad numbers and addresses, an
//! `ip_family` that contradicts the address); ringvs knows every scheduler
//! it has, `twos` included (keepalived's list lacks it);
//! `virtual_server fwmark N` takes its `mark_dest` lines' packets
//! (`values::fwmark`); a `virtual_server` defined twice is an error;
//! `tun_type`, `tun_port`, `tun_flags` (not keepalived keywords) are ignored
//! with a warning that shows keepalived's syntax.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::super::ipvsadm::{DEFAULT_PERSISTENT_TIMEOUT, DEFAULT_SCHEDULER, MAX_TIMEOUT};
use super::super::names::Names;
use super::super::{
    AdmError, Config, Forward, HealthCheck, MarkDest, Netmask, PersistEngine, Proto, Quorum,
    SchedFlags, Scheduler, Script, Scripts, ServiceKey, SorryOpts, unescape,
};
use super::check::{self, Checker, ServerCheck, Times};
use super::lexer::Stmt;
use super::track;
use super::values::{Cx, addr_port, forwarding, fwmark, fwmark_v6, granularity};
use super::{KaError, Pos};

/// Largest `uthreshold`/`lthreshold`: keepalived's `UINT_MAX` (`ipvsadm -x`
/// 2147483647); `u32` in the table, compared in 64 bits (`nat::overload`).
const MAX_THRESHOLD: u32 = u32::MAX;
/// Largest real server weight: keepalived's `IPVS_WEIGHT_LIMIT` (`ip_vs.h`,
/// `INT32_MAX`: `rs_weight_handler` takes 0.., `vs_weight_handler` 1..),
/// what the kernel's `ip_vs_add_dest` takes (it refuses a weight below 0 of
/// its `int`), above `ipvsadm -w`'s 65535.
const MAX_WEIGHT: u32 = i32::MAX as u32;

/// A virtual server, ready to be added (`group::join` reads its settings).
pub(super) struct Vs {
    pub(super) pos: Pos,
    pub(super) key: ServiceKey,
    pub(super) sched: Scheduler,
    pub(super) persistent: Option<u32>,
    pub(super) netmask: Netmask,
    pub(super) flags: SchedFlags,
    /// `ops` (UDP services only).
    ops: bool,
    /// `persistence_engine`.
    pub(super) pe: Option<PersistEngine>,
    pub(super) sorry: Option<SorryOpts>,
    pub(super) quorum: Quorum,
    pub(super) check: Option<HealthCheck>,
    /// `quorum_up`, `quorum_down`.
    pub(super) scripts: Scripts,
    /// A `virtual_server fwmark`'s `mark_dest` rules (a ringvs keyword).
    pub(super) marks: Vec<MarkDest>,
    pub(super) dests: Vec<Rs>,
}

impl Vs {
    pub(super) fn add_to(&self, cfg: &mut Config) -> Result<(), KaError> {
        let key = &self.key;
        cfg.add_service(*key, self.sched, self.persistent)
            .and_then(|()| cfg.set_service_options(key, self.flags, self.netmask))
            .and_then(|()| cfg.set_service_ops(key, self.ops))
            .and_then(|()| cfg.set_service_pe(key, self.pe))
            .and_then(|()| cfg.set_service_sorry(key, self.sorry))
            .and_then(|()| cfg.set_service_quorum(key, self.quorum))
            .and_then(|()| cfg.set_service_check(key, self.check.clone()))
            .and_then(|()| cfg.set_service_scripts(key, self.scripts.clone()))
            .and_then(|()| cfg.set_service_marks(key, Some(self.marks.clone())))
            .map_err(|e| KaError::at(&self.pos, e.to_string()))?;
        self.add_dests_to(cfg)
    }

    /// Adds its real servers to its service in `cfg`, but for one it has
    /// already (a group's mark another block set up: `group::join`).
    pub(super) fn add_dests_to(&self, cfg: &mut Config) -> Result<(), KaError> {
        let key = &self.key;
        let refused = |pos: &Pos, e: AdmError| match e {
            AdmError::NoMemory => KaError::at(pos, super::group::out_of_ids()),
            e => KaError::at(pos, e.to_string()),
        };
        for d in &self.dests {
            if cfg
                .service(key)
                .and_then(|s| s.dest(d.addr, d.port))
                .is_some()
            {
                continue;
            }
            if d.l_threshold > d.u_threshold {
                return Err(KaError::at(
                    &d.pos,
                    format!(
                        "lthreshold {} is above uthreshold {}",
                        d.l_threshold, d.u_threshold
                    ),
                ));
            }
            cfg.add_dest_with(key, d.addr, d.port, d.weight, d.forward)
                .and_then(|_| {
                    cfg.set_dest_thresholds(key, d.addr, d.port, d.u_threshold, d.l_threshold)
                })
                .and_then(|()| {
                    // A `connect_ip` whose check ringvs does not run (a
                    // port-0 service's, dropped) has nothing to send there.
                    let ip = d.check_ip.filter(|_| self.check.is_some());
                    cfg.set_dest_check_ip(key, d.addr, d.port, ip)
                })
                .and_then(|()| cfg.set_dest_scripts(key, d.addr, d.port, d.scripts.clone()))
                .map_err(|e| refused(&d.pos, e))?;
        }
        Ok(())
    }
}

/// A real server as written.
pub(super) struct Rs {
    pos: Pos,
    pub(super) addr: IpAddr,
    pub(super) port: u16,
    weight: u32,
    u_threshold: u32,
    l_threshold: u32,
    forward: Forward,
    /// `notify_up`, `notify_down`.
    pub(super) scripts: Scripts,
    /// Its checker's `connect_ip`, if not its own address.
    pub(super) check_ip: Option<IpAddr>,
}

/// A `real_server` block before the virtual server's defaults.
struct RsDraft {
    pos: Pos,
    addr: IpAddr,
    port: Option<u16>,
    weight: Option<u32>,
    u_threshold: u32,
    l_threshold: u32,
    inhibit: Option<bool>,
    forward: Option<Forward>,
    times: Times,
    checker: Option<Checker>,
    /// `virtualhost`: the `Host` of its `HTTP_GET`/`SSL_GET` that names none.
    vhost: Option<String>,
    /// Its scripts, and its `FILE_CHECK`s (`track.rs`).
    scripts: Scripts,
}

/// Reads a `virtual_server` block; `None` if keepalived would ignore it.
pub(super) fn virtual_server(cx: &mut Cx<'_>, s: &Stmt) -> Result<Option<Vs>, KaError> {
    let mark = fwmark(s)?;
    let (addr, port) = match mark {
        Some(_) if fwmark_v6(s) => (IpAddr::V6(Ipv6Addr::UNSPECIFIED), Some(0)),
        Some(_) => (IpAddr::V4(Ipv4Addr::UNSPECIFIED), Some(0)),
        None => addr_port(s, "virtual_server")?,
    };
    cx.no_more(s, 2);
    let mut marks = Vec::new();
    let mut proto = None;
    let mut sched = None;
    let mut forward = None;
    let mut persistent = None;
    let mut netmask = None;
    let mut flags: Vec<&Stmt> = Vec::new();
    let mut weight = None;
    let mut inhibit = None;
    let mut ops: Option<&Stmt> = None;
    let mut pe: Option<PersistEngine> = None;
    let (mut sorry, mut sorry_inhibit, mut sorry_forward) = (None, false, None);
    let mut quorum = Quorum::default();
    let mut times = Times::default();
    let mut vhost = None;
    let mut scripts = Scripts::default();
    let mut servers = Vec::new();
    for k in s.children() {
        if times.take(cx, k, 1)? {
            continue;
        }
        match k.keyword() {
            // A real server takes the method the virtual server has when
            // it is read (`alloc_rs`); without one yet, the block's last
            // (`validate_check_config`), and it counts as not tunnelled
            // for its family (`rs_end_handler`).
            "real_server" => {
                let mut r = real_server(cx, k)?;
                r.forward = r.forward.or(forward);
                servers.push(r);
            }
            "mark_dest" if mark.is_some() => {
                let v = cx.value(k)?;
                marks.push(
                    v.parse()
                        .map_err(|e: AdmError| KaError::at(&k.pos, e.to_string()))?,
                );
            }
            "mark_dest" => cx.w.at(
                &k.pos,
                "mark_dest: only in a virtual_server fwmark, ignored",
            ),
            "virtualhost" => vhost = Some(super::http::vhost(cx, k)?),
            "protocol" => proto = Some(protocol(cx, k)?),
            "lb_algo" | "lvs_sched" => {
                let v = cx.value(k)?;
                sched = Some(v.parse::<Scheduler>().map_err(|_| {
                    KaError::at(
                        &k.pos,
                        format!(
                            "{} {v}: unknown scheduler (ringvs has rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh twos)",
                            k.keyword()
                        ),
                    )
                })?);
            }
            "lb_kind" | "lvs_method" => forward = Some(forwarding(cx, k)?),
            "tun_type" | "tun_port" | "tun_flags" => cx.not_keepalived(k),
            "persistence_timeout" => {
                persistent = Some(if k.args().is_empty() {
                    DEFAULT_PERSISTENT_TIMEOUT
                } else {
                    cx.number(k, 1, MAX_TIMEOUT)?
                });
            }
            "persistence_granularity" => netmask = Some(granularity(cx, k, addr)?),
            "ip_family" => {
                let v = cx.value(k)?;
                let v6 = match v {
                    "inet" => false,
                    "inet6" => true,
                    _ => {
                        return Err(KaError::at(
                            &k.pos,
                            format!("ip_family {v}: not inet or inet6"),
                        ));
                    }
                };
                if v6 != addr.is_ipv6() {
                    return Err(KaError::at(
                        &k.pos,
                        format!(
                            "ip_family {v}: conflicts with the virtual server's address {addr}"
                        ),
                    ));
                }
            }
            "weight" => weight = Some(cx.number(k, 1, MAX_WEIGHT)?),
            "inhibit_on_failure" => inhibit = Some(cx.vs_inhibit(k)),
            "ops" => {
                cx.no_more(k, 0);
                ops = Some(k);
            }
            // keepalived passes the name to the kernel, which knows "sip".
            "persistence_engine" => {
                let name = cx.value(k)?;
                let e = |_| KaError::at(&k.pos, format!("persistence_engine {name}: not found"));
                pe = Some(name.parse::<PersistEngine>().map_err(e)?);
            }
            "sorry_server" => {
                cx.no_more(k, 2);
                // Its method so far, as a real server's (`alloc_ssvr`).
                sorry = Some((k, addr_port(k, "sorry_server")?, forward));
            }
            // keepalived takes these after `sorry_server` only (a
            // configuration error before it), `sorry_server_inhibit` with no
            // value (`ssvri_handler`).
            "sorry_server_inhibit" | "sorry_server_lvs_method" if sorry.is_none() => {
                let e = format!(
                    "{}: before sorry_server, ignored (as keepalived does)",
                    k.keyword()
                );
                cx.w.at(&k.pos, e);
            }
            "sorry_server_inhibit" => {
                cx.no_more(k, 0);
                sorry_inhibit = true;
            }
            "sorry_server_lvs_method" => sorry_forward = Some((k, forwarding(cx, k)?)),
            "quorum_up" => scripts.up = script(cx, k)?,
            "quorum_down" => scripts.down = script(cx, k)?,
            "quorum" => quorum.quorum = cx.number(k, 1, u32::MAX)?,
            "hysteresis" => quorum.hysteresis = cx.number(k, 0, u32::MAX)?,
            // keepalived's `vs_alpha_handler` takes no value: any sets it;
            // each checker's own `alpha` comes first (`check.rs`).
            "alpha" => {
                cx.no_more(k, 0);
                times.alpha = Some(true);
            }
            "sh-port" | "sh-fallback" | "mh-port" | "mh-fallback" | "flag-1" | "flag-2"
            | "flag-3" => {
                cx.no_more(k, 0);
                flags.push(k);
            }
            _ => cx.unsupported(k, "virtual_server"),
        }
    }
    let port = port.unwrap_or(0);
    let servers = same_family(cx, addr, servers);
    if servers.is_empty() {
        let name = mark.map_or(format!("{addr} {port}"), |m| format!("fwmark {m}"));
        cx.w.at(
            &s.pos,
            format!("virtual_server {name} has no real_server: ignored (as keepalived does)"),
        );
        return Ok(None);
    }
    // A mark's service is of no protocol (its key's TCP is ipvsadm's).
    let proto = mark.map_or(proto, |_| Some(Proto::Tcp));
    let proto = proto.unwrap_or_else(|| {
        cx.w.at(
            &s.pos,
            "virtual_server without protocol: UDP (keepalived's default)",
        );
        Proto::Udp
    });
    let sched = sched.unwrap_or_else(|| {
        cx.w.at(
            &s.pos,
            format!("virtual_server without lb_algo: {DEFAULT_SCHEDULER} (keepalived's default)"),
        );
        Scheduler::Wlc
    });
    if forward.is_none() && servers.iter().any(|r| r.forward.is_none()) {
        cx.w.at(
            &s.pos,
            "virtual_server without lb_kind: NAT (keepalived's default)",
        );
    }
    if netmask.is_some() && persistent.is_none() {
        persistent = Some(DEFAULT_PERSISTENT_TIMEOUT);
    }
    if port == 0 && persistent.is_none() && mark.is_none() {
        cx.w.at(
            &s.pos,
            format!(
                "virtual_server with port 0: persistence_timeout {DEFAULT_PERSISTENT_TIMEOUT} (port 0 needs persistence, as in keepalived)"
            ),
        );
        persistent = Some(DEFAULT_PERSISTENT_TIMEOUT);
    }
    let key = match mark {
        Some(m) => ServiceKey::fwmark(m, addr.is_ipv6()),
        None => ServiceKey::new(proto, addr, port),
    };
    let flags = sched_flags(cx, sched, &flags);
    // keepalived sets `IP_VS_SVC_F_ONEPACKET` for UDP services only
    // (`ipvswrapper.c`, `ipvs_set_srule`).
    let ops = match ops {
        Some(k) if mark.is_some() => {
            cx.w.at(
                &k.pos,
                "ops: ignored, ringvs has no one-packet scheduling for a fwmark virtual_server",
            );
            false
        }
        Some(k) if proto != Proto::Udp => {
            cx.w.at(
                &k.pos,
                "ops: ignored, the virtual_server is not UDP (as keepalived does)",
            );
            false
        }
        o => o.is_some(),
    };
    // keepalived's sorry server takes the virtual server's method and port
    // unless told otherwise; ringvs's `-S` has no tunnel for it. One of the
    // other family that is not tunnelled is skipped (`vs_end_handler`).
    let sorry_method = |then: Option<Forward>| sorry_forward.map(|f| f.1).or(then);
    let sorry = match sorry {
        Some((k, (a, _), then))
            if a.is_ipv6() != addr.is_ipv6()
                && !matches!(sorry_method(then), Some(Forward::Tunnel(_))) =>
        {
            let e = format!(
                "sorry_server {a}: address family of virtual server and sorry server don't match, skipped (as keepalived does)"
            );
            cx.w.at(&k.pos, e);
            None
        }
        Some((k, (addr, p), then)) => Some(SorryOpts {
            addr,
            port: p.unwrap_or(port),
            forward: match sorry_method(then).or(forward).unwrap_or_default() {
                Forward::Tunnel(_) => {
                    let k = sorry_forward.map_or(k, |f| f.0);
                    return Err(KaError::at(
                        &k.pos,
                        "sorry server by TUN: ringvs takes NAT or DR",
                    ));
                }
                f => f,
            },
            inhibit: sorry_inhibit,
        }),
        None => None,
    };
    let vs_times = times;
    let vs_defaults = (
        weight,
        inhibit,
        vs_times,
        forward.unwrap_or_default(),
        vhost.as_deref(),
    );
    let (mut dests, checks) = servers_of(cx, servers, port, vs_defaults);
    let check = check::service_check(cx, &checks, (&s.pos, port));
    let own = check::own_commands(cx, &checks, check.as_ref());
    for (d, own) in dests.iter_mut().zip(own) {
        d.scripts.check = own;
    }
    quorum_bounds(cx, &s.pos, quorum, &dests);
    Ok(Some(Vs {
        pos: s.pos.clone(),
        key,
        sched,
        persistent,
        netmask: netmask.unwrap_or(Netmask::host(addr)),
        flags,
        ops,
        pe,
        sorry,
        quorum,
        check,
        scripts,
        marks,
        dests,
    }))
}

/// keepalived's warnings about a quorum its real servers' weights cannot
/// reach, or a hysteresis as large as the quorum (`check_data.c`,
/// `validate_check_config`). keepalived lowers them once; ringvs keeps them
/// as written and lowers them each time it weighs the quorum
/// (`Quorum::bounds`), as real servers and weights change at run time.
fn quorum_bounds(cx: &mut Cx<'_>, pos: &Pos, q: Quorum, dests: &[Rs]) {
    let total = dests.iter().map(|d| u64::from(d.weight)).sum::<u64>();
    let (quorum, hysteresis) = q.bounds(total);
    if quorum < u64::from(q.quorum) {
        let e = format!(
            "quorum {} exceeds the real servers' total weight {total}: taken as {quorum} (as keepalived does)",
            q.quorum
        );
        cx.w.at(pos, e);
    }
    if hysteresis < u64::from(q.hysteresis) {
        let e = format!(
            "hysteresis {} not below the quorum {quorum}: taken as {hysteresis} (as keepalived does)",
            q.hysteresis
        );
        cx.w.at(pos, e);
    }
    if quorum + hysteresis > total {
        let e = format!(
            "quorum {quorum} + hysteresis {hysteresis} exceeds the real servers' total weight {total}: the quorum is gained only while a check or a file raises the weights"
        );
        cx.w.at(pos, e);
    }
}

/// The real servers with the virtual server's defaults (`vs`: its weight,
/// `inhibit_on_failure`, check times, forwarding method and `virtualhost`), duplicates
/// removed, and each one's part in the service's check.
fn servers_of(
    cx: &mut Cx<'_>,
    servers: Vec<RsDraft>,
    vs_port: u16,
    vs: (Option<u32>, Option<bool>, Times, Forward, Option<&str>),
) -> (Vec<Rs>, Vec<ServerCheck>) {
    let (vs_weight, vs_inhibit, vs_times, vs_forward, vs_vhost) = vs;
    let mut dests: Vec<Rs> = Vec::new();
    let mut checks = Vec::new();
    for r in servers {
        let port = r.port.filter(|&p| p != 0).unwrap_or(vs_port);
        let at = Names::none().addr_port(r.addr, port, None, true);
        if let Some(first) = dests.iter().find(|d| d.addr == r.addr && d.port == port) {
            cx.w.at(
                &r.pos,
                format!(
                    "real_server {at}: duplicate of {}, removed (as keepalived does)",
                    first.pos
                ),
            );
            continue;
        }
        let inhibit = r.inhibit.or(vs_inhibit).unwrap_or(false);
        let mut scripts = r.scripts;
        scripts.files.iter_mut().for_each(|f| f.inhibit = inhibit);
        let check = r.checker.as_ref().map(|c| {
            let vhost = r.vhost.as_deref().or(vs_vhost);
            let hc = c.check(cx, (r.times, vs_times), inhibit, vhost);
            (hc, c.pos.clone())
        });
        checks.push(ServerCheck {
            pos: r.pos.clone(),
            port,
            name: at,
            check,
        });
        dests.push(Rs {
            pos: r.pos,
            addr: r.addr,
            port,
            weight: r.weight.or(vs_weight).unwrap_or(1),
            u_threshold: r.u_threshold,
            l_threshold: r.l_threshold,
            forward: r.forward.unwrap_or(vs_forward),
            scripts,
            check_ip: r.checker.as_ref().and_then(|c| c.check_ip(cx, r.addr)),
        });
    }
    (dests, checks)
}

/// The real servers of the virtual server at `vs_addr` that keepalived
/// keeps: those of its family, and tunnelled ones of the other
/// (`rs_end_handler`); the others are skipped with a warning.
fn same_family(cx: &mut Cx<'_>, vs_addr: IpAddr, servers: Vec<RsDraft>) -> Vec<RsDraft> {
    let mut kept = Vec::with_capacity(servers.len());
    for r in servers {
        // A method not known when the server was read is none here.
        let tunnel = matches!(r.forward, Some(Forward::Tunnel(_)));
        if r.addr.is_ipv6() != vs_addr.is_ipv6() && !tunnel {
            cx.w.at(
                &r.pos,
                format!(
                    "real_server {}: address family of virtual server and real server don't match, skipped (as keepalived does; only a TUN real server may differ)",
                    r.addr
                ),
            );
            continue;
        }
        kept.push(r);
    }
    kept
}

/// The scheduler flags of `flags` for the scheduler `sched`.
fn sched_flags(cx: &mut Cx<'_>, sched: Scheduler, flags: &[&Stmt]) -> SchedFlags {
    let mut f = SchedFlags::default();
    for k in flags {
        let kw = k.keyword();
        let needs = match kw {
            "sh-port" | "sh-fallback" => Some(Scheduler::Sh),
            "mh-port" | "mh-fallback" => Some(Scheduler::Mh),
            _ => None,
        };
        if let Some(n) = needs.filter(|&n| n != sched) {
            cx.w.at(
                &k.pos,
                format!(
                    "{kw}: applies to the {n} scheduler only, ignored with {sched} (as keepalived does)"
                ),
            );
            continue;
        }
        match kw {
            "flag-3" => cx.unsupported(k, "virtual_server"),
            "sh-port" | "mh-port" | "flag-2" => f.port = true,
            _ => f.fallback = true,
        }
    }
    f
}

fn protocol(cx: &mut Cx<'_>, k: &Stmt) -> Result<Proto, KaError> {
    // `proto_handler`: `strcasecmp`.
    let v = cx.value(k)?;
    Proto::from_name(v)
        .ok_or_else(|| KaError::at(&k.pos, format!("protocol {v}: not TCP, UDP or SCTP")))
}

/// A notify script (`notify_up "COMMAND" [USER [GROUP]]`, and `notify_down`,
/// `quorum_up`, `quorum_down` alike; `check_parser.c` through
/// `notify_script_init`), its escapes read twice as keepalived reads them
/// ([`unescape`], then [`Script::parse`]'s splitting), run as the user it
/// names (`set_script_uid_gid`), else as the director's script user.
fn script(cx: &mut Cx<'_>, k: &Stmt) -> Result<Option<Script>, KaError> {
    let kw = k.keyword();
    let text = cx.value_of(k)?;
    // keepalived: "Invalid user/group for … script - ignoring".
    let user = match super::check::user_words(cx, k, k.args().get(1..).unwrap_or_default()) {
        Ok(u) => u,
        Err(e) => {
            cx.w.at(&k.pos, format!("{kw}: {e}; this script is not run"));
            return Ok(None);
        }
    };
    unescape(text)
        .and_then(|t| Script::parse(&t))
        .map(|s| Some(s.with_user(user)))
        .map_err(|e| KaError::at(&k.pos, format!("{kw} {text}: {e}")))
}

/// Reads a `real_server` block.
fn real_server(cx: &mut Cx<'_>, s: &Stmt) -> Result<RsDraft, KaError> {
    let (addr, port) = addr_port(s, "real_server")?;
    cx.no_more(s, 2);
    let mut r = RsDraft {
        pos: s.pos.clone(),
        addr,
        port,
        weight: None,
        u_threshold: 0,
        l_threshold: 0,
        inhibit: None,
        forward: None,
        times: Times::default(),
        checker: None,
        vhost: None,
        scripts: Scripts::default(),
    };
    for k in s.children() {
        if r.times.take(cx, k, 1)? {
            continue;
        }
        match k.keyword() {
            "weight" => r.weight = Some(cx.number(k, 0, MAX_WEIGHT)?),
            "inhibit_on_failure" => r.inhibit = Some(cx.boolean(k)?),
            // `rs_alpha_handler`: its checker's unless that says
            // (`validate_check_config`); the virtual server's unless it does.
            "alpha" => r.times.alpha = Some(cx.boolean(k)?),
            "uthreshold" => r.u_threshold = cx.number(k, 0, MAX_THRESHOLD)?,
            "lthreshold" => r.l_threshold = cx.number(k, 0, MAX_THRESHOLD)?,
            "lvs_method" => r.forward = Some(forwarding(cx, k)?),
            "notify_up" => r.scripts.up = script(cx, k)?,
            "notify_down" => r.scripts.down = script(cx, k)?,
            "virtualhost" => r.vhost = Some(super::http::vhost(cx, k)?),
            "tun_type" | "tun_port" | "tun_flags" => cx.not_keepalived(k),
            "FILE_CHECK" => {
                let files = cx.files;
                let c = track::file_check(cx, k, files)?;
                track::add_file_check(cx, &k.pos, &mut r.scripts.files, c);
            }
            kw if check::is_checker(kw) => {
                let Some(c) = check::checker(cx, k)? else {
                    continue;
                };
                match &r.checker {
                    Some(first) => cx.w.at(
                        &k.pos,
                        format!(
                            "{kw} (in real_server): ringvs runs one checker per real server, the first ({}) is used",
                            first.pos
                        ),
                    ),
                    None => r.checker = Some(c),
                }
            }
            _ => cx.unsupported(k, "real_server"),
        }
    }
    Ok(r)
}
