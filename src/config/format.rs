//! Listings as ipvsadm prints them, byte for byte.
//!
//! Every function here is pure: it formats a [`Config`] with the live numbers
//! handed in as a [`Live`], so the control thread can fill those from the
//! workers and tests can fill them by hand.  Column layouts, titles and
//! number formats are those of ipvsadm 1.31's `print_title`,
//! `print_service_entry`, `print_largenum`, `list_conn` and `list_timeout`.
//!
//! Differences, all deliberate:
//! * Services, firewall marks and a service's real servers are sorted in
//!   true numeric order (ipvsadm's `ipvs_cmp_services` and `ipvs_cmp_dests`
//!   compare addresses and marks by a wrapping signed subtraction, which
//!   misorders values 2^31 or more apart).
//! * `-S` adds ` -x U -y L` at the end of a real server's line when it has
//!   thresholds (ipvsadm's `-S` drops them, so its round trip loses them).
//! * `-c --sort` sorts the entries (ipvsadm's `--sort` does nothing).
//! * Real servers of both families in one service (tunnels) are sorted
//!   IPv4 first (ipvsadm's `ipvs_cmp_dests` compares them as the first
//!   one's family, which orders nothing).
//!
//! IPv6, as ipvsadm prints it: `[ADDR]:PORT` (names too, see
//! [`Names::addr_port`]); the service column is cut at 33 bytes and the
//! real server column at 28 for IPv4 only, so IPv6 lines run past the
//! columns (`print_service_entry` cuts `svc_name` and `dname` unless the
//! family is `AF_INET6`); the mask is a prefix length (`mask 64`, `-M 64`)
//! and shown unless 128.

use std::fmt::Write as _;

use super::listing::{
    CONN_TAB_SIZE, ConnInfo, DestStats, IPVS_VERSION, ListAddr, ListOpts, StateName,
};
use super::names::Names;
use super::{
    AdmError, CheckKind, Config, DEFAULT_MAX_REPLY_LEN, DEFAULT_MIN_REPLY_LEN, Dest, DestId,
    HealthCheck, HttpProtocol, Proto, Quorum, Scheduler, Service, ServiceKey, SorryOpts,
    digest_hex, hex, status_list,
};
// What a listing is fed, where callers have always found it.
pub use super::listing::Live;

/// ipvsadm's `print_largenum`: a right-aligned number with a leading blank,
/// shortened with K, M, G or T above 10^8 unless `exact`.
pub fn largenum(out: &mut String, i: u64, exact: bool) {
    let _ = if exact {
        let len = i.to_string().len();
        let w = if len <= 8 { 9 } else { len + 1 };
        write!(out, "{i:>w$}")
    } else if i < 100_000_000 {
        write!(out, "{i:>9}")
    } else if i < 1_000_000_000 {
        write!(out, "{:>8}K", i / 1000)
    } else if i < 100_000_000_000 {
        write!(out, "{:>8}M", i / 1_000_000)
    } else if i < 100_000_000_000_000 {
        write!(out, "{:>8}G", i / 1_000_000_000)
    } else {
        write!(out, "{:>8}T", i / 1_000_000_000_000)
    };
}

/// Cuts `s` to at most `n` bytes (on a character boundary), as ipvsadm
/// cuts names with a NUL.
fn cut(mut s: String, n: usize) -> String {
    if s.len() > n {
        let mut k = n;
        while !s.is_char_boundary(k) {
            k -= 1;
        }
        s.truncate(k);
    }
    s
}

/// ipvsadm's `print_sched_flags`, without the surrounding text; empty when
/// no flag is set.
pub fn sched_flags_text(svc: &Service) -> String {
    let f = svc.sched_flags;
    let (a, b) = match svc.sched {
        Scheduler::Sh => ("sh-fallback", "sh-port"),
        Scheduler::Mh => ("mh-fallback", "mh-port"),
        _ => ("flag-1", "flag-2"),
    };
    let mut v = Vec::new();
    if f.fallback {
        v.push(a);
    }
    if f.port {
        v.push(b);
    }
    v.join(",")
}

fn services(cfg: &Config, nosort: bool) -> Vec<&Service> {
    let mut v: Vec<&Service> = cfg.services().iter().collect();
    if !nosort {
        v.sort_by_key(|s| s.key);
    }
    v
}

/// A service's servers: by address and port, or with `--nosort` in the
/// kernel's list order, the newest first (`__ip_vs_update_dest`,
/// `ip_vs_ctl.c`, adds each server at the head of `svc->destinations`, and
/// `ip_vs_genl_dump_dests` walks that list).
fn dests(svc: &Service, nosort: bool) -> Vec<&Dest> {
    let mut v: Vec<&Dest> = svc.dests.iter().rev().collect();
    if !nosort {
        v.sort_by_key(|d| (d.addr, d.port));
    }
    v
}

fn title(out: &mut String, o: &ListOpts) {
    let rest = "  -> RemoteAddress:Port\n";
    let head = "Prot LocalAddress:Port";
    let _ = if o.stats {
        write!(
            out,
            "{head:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n{rest}",
            "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"
        )
    } else if o.rate {
        write!(
            out,
            "{head:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n{rest}",
            "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"
        )
    } else if o.thresholds {
        write!(
            out,
            "{head:<33} {:<10} {:<10} {:<10} {:<10}\n{rest}",
            "Uthreshold", "Lthreshold", "ActiveConn", "InActConn"
        )
    } else if o.persistent_conn {
        write!(
            out,
            "{head:<33} {:<9} {:<11} {:<10} {:<10}\n{rest}",
            "Weight", "PersistConn", "ActiveConn", "InActConn"
        )
    } else if o.tun_info {
        write!(
            out,
            "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n"
        )
    } else {
        write!(
            out,
            "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
        )
    };
}

/// Persistence templates that point at real server `d` of `svc`.
fn persist_conns<S, A: ListAddr>(svc: &Service, d: &Dest, conns: &[ConnInfo<S, A>]) -> usize {
    let ip = |(a, p): (A, u16)| (a.into(), p);
    let (proto, vaddr, vport) = svc.key.template_vip();
    conns
        .iter()
        .filter(|c| {
            c.template
                && c.proto == proto
                && ip(c.vip) == (vaddr, vport)
                && ip(c.dest) == (d.addr, d.port)
        })
        .count()
}

/// `s` cut at `n` bytes for an IPv4 entry; an IPv6 one is left whole.
fn cut_v4(s: String, n: usize, v6: bool) -> String {
    if v6 { s } else { cut(s, n) }
}

fn service_entry<S, A: ListAddr>(
    out: &mut String,
    svc: &Service,
    o: &ListOpts,
    live: &Live<S, A>,
    names: &Names,
) {
    let v6 = svc.key.addr.is_ipv6();
    // A mark's service has no protocol (the kernel sends none, libipvs's
    // `ipvs_services_parse_entry` leaves 0): its servers' ports are numbers.
    let proto = (!svc.key.is_fwmark()).then_some(svc.key.proto);
    let svc_name = if svc.key.is_fwmark() {
        // ipvsadm's `print_service_entry`.
        let family = if v6 { " IPv6" } else { "" };
        format!("FWM  {}{family}", svc.key.mark)
    } else {
        let vname = names.addr_port(svc.key.addr, svc.key.port, proto, o.numeric);
        cut_v4(format!("{:<4} {vname}", svc.key.proto.name()), 33, v6)
    };
    let ds = dests(svc, o.nosort);
    // The workers count on while the listing is made: each server's counters
    // are read once, so its row and the service's sum agree.
    let stats: Vec<DestStats> = if o.stats {
        ds.iter().map(|d| (live.stats)(d.id)).collect()
    } else {
        Vec::new()
    };
    let five = |out: &mut String, s: DestStats| {
        for v in [s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes] {
            largenum(out, v, o.exact);
        }
    };
    if o.stats {
        let _ = write!(out, "{svc_name:<33}");
        five(
            out,
            stats.iter().fold(DestStats::default(), |mut t, s| {
                t.add(s);
                t
            }),
        );
    } else if o.rate {
        let _ = write!(out, "{svc_name:<33}");
        let ids: Vec<DestId> = ds.iter().map(|d| d.id).collect();
        five(out, (live.rates)(&ids));
    } else {
        let _ = write!(out, "{svc_name} {}", svc.sched.name());
        let flags = sched_flags_text(svc);
        if !flags.is_empty() {
            let _ = write!(out, " ({flags})");
        }
        if let Some(t) = svc.persistent {
            let _ = write!(out, " persistent {t}");
            if !svc.netmask.is_host() {
                let _ = write!(out, " mask {}", svc.netmask);
            }
            if let Some(pe) = svc.pe {
                let _ = write!(out, " pe {}", pe.name());
            }
        }
        if svc.ops {
            out.push_str(" ops");
        }
    }
    out.push('\n');
    for (i, d) in ds.into_iter().enumerate() {
        let dname = names.addr_port(d.addr, d.port, proto, o.numeric);
        let dname = cut_v4(dname, 28, d.addr.is_ipv6());
        let (active, inactive) = (live.gauges)(d.id);
        let _ = if o.stats {
            let _ = write!(out, "  -> {dname:<28}");
            five(out, stats.get(i).copied().unwrap_or_default());
            writeln!(out)
        } else if o.rate {
            let r = (live.rates)(&[d.id]);
            let _ = write!(
                out,
                "  -> {dname:<28} {:>8} {:>8} {:>8}",
                r.conns, r.inpkts, r.outpkts
            );
            largenum(out, r.inbytes, o.exact);
            largenum(out, r.outbytes, o.exact);
            writeln!(out)
        } else if o.thresholds {
            writeln!(
                out,
                "  -> {dname:<28} {:<10} {:<10} {active:<10} {inactive:<10}",
                d.u_threshold, d.l_threshold
            )
        } else if o.persistent_conn {
            writeln!(
                out,
                "  -> {dname:<28} {:<9} {:<11} {active:<10} {inactive:<10}",
                d.weight,
                persist_conns(svc, d, live.conns)
            )
        } else if o.tun_info {
            let info = d.forward.tun_info();
            writeln!(
                out,
                "  -> {dname:<28} {:<7} {:<13} {:<6} {active:<10} {inactive:<10}",
                d.forward.name(),
                info.as_deref().unwrap_or("n/a"),
                d.weight
            )
        } else {
            writeln!(
                out,
                "  -> {dname:<28} {:<7} {:<6} {active:<10} {inactive:<10}",
                d.forward.name(),
                d.weight
            )
        };
    }
}

/// The name ipvsadm shows for an IP protocol number in `-c`.
fn proto_name(p: u8) -> &'static str {
    match p {
        6 => "TCP",
        17 => "UDP",
        132 => "SCTP",
        _ => "IP",
    }
}

/// The data of an engine's template (a SIP one's Call-ID).
fn pe_data<S, A>(c: &ConnInfo<S, A>) -> Option<&[u8]> {
    c.pe.as_ref().map(|(_, d)| &d[..])
}

/// The fewest bytes a connection line of [`format_conns`] takes: its
/// columns before the destination are padded to 61, the destination holds
/// at least its `:`, and the line ends. A listing of `n` connections is at
/// least `n` times this, which a caller bounding its output can tell
/// before it makes it.
pub const CONN_LINE_MIN: usize = 63;

/// `ipvsadm -L -c`: the connection entries (and persistence templates),
/// each address in its own family (`[ADDR]:PORT` for IPv6, padded to the
/// same 18 columns and never cut, as `print_conn` does).
pub fn format_conns<S: StateName, A: ListAddr>(
    conns: &[ConnInfo<S, A>],
    o: &ListOpts,
    names: &Names,
) -> String {
    let mut out = String::from("IPVS connection entries\n");
    let _ = if o.persistent_conn {
        writeln!(
            out,
            "pro expire {:<11} {:<18} {:<18} {:<18} {:<16} pe_data",
            "state", "source", "virtual", "destination", "pe name"
        )
    } else {
        writeln!(
            out,
            "pro expire {:<11} {:<18} {:<18} destination",
            "state", "source", "virtual"
        )
    };
    let mut v: Vec<&ConnInfo<S, A>> = conns.iter().collect();
    if o.sort {
        // A client's SIP templates of one server by their Call-IDs.
        let key = |c: &&ConnInfo<S, A>| (c.proto, c.client, c.vip, c.dest, c.template);
        v.sort_by(|a, b| {
            key(a)
                .cmp(&key(b))
                .then_with(|| pe_data(a).cmp(&pe_data(b)))
        });
    }
    for c in v {
        let proto = Proto::from_number(c.proto);
        let name = |(a, p): (A, u16)| names.addr_port(a, p, proto, o.numeric);
        // The template of a mark, port-0 or FTP service is IPVS's
        // `<caddr, 0, vaddr, 0, daddr, 0>` (`ip_vs_sched_persist`: the
        // server's port only when the packet's port is the service's own and
        // that is not `FTPPORT`), whatever server port it sends its
        // connections to (kept in the entry for PersistConn and sync).
        let (vip, dest) = if c.template && (c.vip.1 == 0 || c.vip.1 == super::FTP_PORT) {
            ((c.vip.0, 0), (c.dest.0, 0))
        } else {
            (c.vip, c.dest)
        };
        let expire = format!("{:02}:{:02}", c.expires_in / 60, c.expires_in % 60);
        let _ = write!(
            out,
            "{:<3} {expire:<6} {:<11} {:<18} {:<18} ",
            proto_name(c.proto),
            // A template's state: `ip_vs_ctpl_state_name_table`.
            if c.template && c.assured {
                "ASSURED"
            } else {
                c.state.name()
            },
            name(c.client),
            name(vip),
        );
        // An engine's template: `ip_vs_conn_seq_show` adds its name and data
        // (the SIP engine's Call-ID, `ip_vs_sip_show_pe_data`), which
        // ipvsadm's `print_conn` prints with `--persistent-conn`: the
        // destination then 16 wide and the name 18 (its header has them
        // 18 and 16). Bytes of a Call-ID that are not UTF-8 print as U+FFFD.
        let _ = match c.pe.as_ref().filter(|_| o.persistent_conn) {
            Some((pe, data)) => writeln!(
                out,
                "{:<16} {:<18} {}",
                name(dest),
                pe.name(),
                String::from_utf8_lossy(data)
            ),
            None => writeln!(out, "{}", name(dest)),
        };
    }
    out
}

/// Everything `-L`/`-l` can print, chosen as ipvsadm chooses: `-c` first,
/// then one service, `--timeout`, `--daemon` (no sync daemon: nothing), else
/// the whole table.  Listing a missing service is "No such service".
pub fn format_list<S: StateName, A: ListAddr>(
    cfg: &Config,
    o: &ListOpts,
    live: &Live<S, A>,
    names: &Names,
) -> Result<String, AdmError> {
    if o.connections {
        return Ok(format_conns(live.conns, o, names));
    }
    let mut out = String::new();
    if let Some(key) = &o.service {
        let svc = cfg.service(key).ok_or(AdmError::NoSuchService)?;
        title(&mut out, o);
        service_entry(&mut out, svc, o, live, names);
        return Ok(out);
    }
    if o.timeout {
        let [tcp, fin, udp] = live.timeouts;
        return Ok(format!("Timeout (tcp tcpfin udp): {tcp} {fin} {udp}\n"));
    }
    if o.daemon {
        return Ok(out);
    }
    let _ = writeln!(
        out,
        "IP Virtual Server version {IPVS_VERSION} (size={CONN_TAB_SIZE})"
    );
    title(&mut out, o);
    for svc in services(cfg, o.nosort) {
        service_entry(&mut out, svc, o, live, names);
    }
    Ok(out)
}

/// A health check as the `-A` options that set it, every value spelled out
/// (so a saved table restores exactly even if the defaults change).
pub fn check_options(c: &HealthCheck) -> String {
    let mut out = kind_options(c);
    let _ = write!(
        out,
        " --delay-loop {} --connect-timeout {} --retry {} --delay-before-retry {}",
        c.delay_loop, c.connect_timeout, c.retry, c.delay_before_retry
    );
    if c.warmup > 0 {
        let _ = write!(out, " --warmup {}", c.warmup);
    }
    if c.inhibit_on_failure {
        out.push_str(" --inhibit-on-failure");
    }
    if c.alpha {
        out.push_str(" --alpha");
    }
    out
}

/// A free-text value as one word of a rules file: as it is, unless
/// [`super::ipvsadm::rule_lines`] would read it otherwise (empty, blanks in
/// it, or a double quote first), then in double quotes.
pub fn rule_word(v: &str) -> std::borrow::Cow<'_, str> {
    if v.is_empty() || v.starts_with('"') || v.chars().any(char::is_whitespace) {
        super::notify::quote(v).into()
    } else {
        v.into()
    }
}

/// The `--check` options of what check `c` does, its times aside (the
/// start of what `-S` writes and a keepalived.conf reload shows).
pub fn kind_options(c: &HealthCheck) -> String {
    let mut out = String::new();
    let _ = match &c.kind {
        CheckKind::Tcp => write!(out, " --check tcp"),
        CheckKind::Http(h) => {
            let _ = write!(
                out,
                " --check {} --check-path {} --check-status {}",
                if h.tls { "https" } else { "http" },
                h.path,
                status_list(&h.status)
            );
            if let Some(d) = &h.digest {
                let _ = write!(out, " --check-digest {}", digest_hex(d));
            }
            for u in &h.more {
                let _ = write!(
                    out,
                    " --check-path {} --check-status {}",
                    u.path,
                    status_list(&u.status)
                );
                if let Some(d) = &u.digest {
                    let _ = write!(out, " --check-digest {}", digest_hex(d));
                }
            }
            if let Some(v) = &h.vhost {
                let _ = write!(out, " --check-virtualhost {}", rule_word(v));
            }
            if h.sni {
                out.push_str(" --check-sni");
            }
            if h.proto != HttpProtocol::default() {
                let _ = write!(out, " --check-http-protocol {}", h.proto.name());
            }
            if let Some(c) = &h.client {
                let (cert, key) = (rule_word(&c.cert), rule_word(&c.key));
                let _ = write!(out, " --check-cert {cert} --check-key {key}");
            }
            Ok(())
        }
        CheckKind::Ping => write!(out, " --check ping"),
        CheckKind::Misc(m) => {
            let _ = write!(out, " --check misc{}", m.path.option("misc-path"));
            if let Some(t) = m.timeout {
                let _ = write!(out, " --misc-timeout {t}");
            }
            if m.dynamic {
                out.push_str(" --misc-dynamic");
            }
            Ok(())
        }
        CheckKind::Smtp(c) => write!(out, " --check smtp --helo-name {}", rule_word(&c.helo)),
        CheckKind::Dns(d) => write!(
            out,
            " --check dns --dns-type {} --dns-name {}",
            d.qtype.name(),
            rule_word(&d.name)
        ),
        CheckKind::Udp(u) => {
            out.push_str(" --check udp");
            if !u.payload.is_empty() {
                let _ = write!(out, " --payload {}", hex(&u.payload, &[]));
            }
            match &u.reply {
                None => Ok(()),
                // Bounds without data are in force nowhere: written only
                // where given, so that a saved table restores equal.
                Some(r)
                    if r.data.is_empty()
                        && r.min_len == DEFAULT_MIN_REPLY_LEN
                        && r.max_len == DEFAULT_MAX_REPLY_LEN =>
                {
                    write!(out, " --require-reply")
                }
                Some(r) => {
                    out.push_str(" --require-reply");
                    if !r.data.is_empty() {
                        let _ = write!(out, " {}", hex(&r.data, &r.mask));
                    }
                    write!(
                        out,
                        " --min-reply-length {} --max-reply-length {}",
                        r.min_len, r.max_len
                    )
                }
            }
        }
    };
    if let Some(p) = c.port {
        let _ = write!(out, " --check-port {p}");
    }
    out
}

/// The names of a real server's script options (`--notify-up`, `--notify-down`).
pub const NOTIFY_OPTIONS: (&str, &str) = ("notify-up", "notify-down");
/// The names of a service's script options (`--quorum-up`, `--quorum-down`).
pub const QUORUM_OPTIONS: (&str, &str) = ("quorum-up", "quorum-down");

/// The sorry-server and quorum options of a service's `-A` line (`at`
/// writes an address and port): the quorum's only where not keepalived's
/// defaults.
pub fn sorry_options(
    sorry: Option<&SorryOpts>,
    q: Quorum,
    at: impl Fn(std::net::IpAddr, u16) -> String,
) -> String {
    let mut out = String::new();
    if let Some(s) = sorry {
        let _ = write!(out, " --sorry-server {}", at(s.addr, s.port));
        if s.forward == crate::config::Forward::Route {
            out.push_str(" --sorry-gatewaying");
        }
        if s.inhibit {
            out.push_str(" --sorry-inhibit");
        }
    }
    let d = Quorum::default();
    if q.quorum != d.quorum {
        let _ = write!(out, " --quorum {}", q.quorum);
    }
    if q.hysteresis != d.hysteresis {
        let _ = write!(out, " --hysteresis {}", q.hysteresis);
    }
    out
}

/// The table as `ipvsadm -S` writes it (`numeric`: `-S -n`).
pub fn format_save(cfg: &Config, numeric: bool, names: &Names) -> String {
    let mut out = String::new();
    for svc in services(cfg, false) {
        // As `service_entry`: a mark's servers' ports are numbers.
        let proto = (!svc.key.is_fwmark()).then_some(svc.key.proto);
        let svc_name = if svc.key.is_fwmark() {
            // ipvsadm's `print_service_entry`.
            let family = if svc.key.addr.is_ipv6() { " -6" } else { "" };
            format!("-f {}{family}", svc.key.mark)
        } else {
            let vname = names.addr_port(svc.key.addr, svc.key.port, proto, numeric);
            format!("{} {vname}", svc.key.proto.option())
        };
        let _ = write!(out, "-A {svc_name} -s {}", svc.sched.name());
        if let Some(t) = svc.persistent {
            let _ = write!(out, " -p {t}");
            if !svc.netmask.is_host() {
                let _ = write!(out, " -M {}", svc.netmask);
            }
        }
        if let Some(pe) = svc.pe {
            let _ = write!(out, " --pe {}", pe.name());
        }
        if svc.ops {
            out.push_str(" -o");
        }
        let flags = sched_flags_text(svc);
        if !flags.is_empty() {
            let _ = write!(out, " -b {flags}");
        }
        if let Some(c) = &svc.check {
            out.push_str(&check_options(c));
        }
        let sorry = svc.sorry.map(|s| s.opts());
        out.push_str(&sorry_options(sorry.as_ref(), svc.quorum, |a, p| {
            names.addr_port(a, p, proto, numeric)
        }));
        out.push_str(&svc.quorum_scripts.options(QUORUM_OPTIONS));
        for m in &svc.marks {
            let _ = write!(out, " --mark-dest {m}");
        }
        out.push('\n');
        for d in dests(svc, false) {
            let dname = names.addr_port(d.addr, d.port, proto, numeric);
            let _ = write!(
                out,
                "-a {svc_name} -r {dname} {} -w {}{}",
                d.forward.option(),
                d.weight,
                d.forward.save_options()
            );
            if d.u_threshold != 0 || d.l_threshold != 0 {
                let _ = write!(out, " -x {} -y {}", d.u_threshold, d.l_threshold);
            }
            if let Some(ip) = d.check_ip {
                let _ = write!(out, " --check-ip {ip}");
            }
            let scripts = svc.server_scripts(d.addr, d.port);
            out.push_str(&scripts.options(NOTIFY_OPTIONS));
            out.push('\n');
        }
    }
    out
}

/// `ipvsadm -L -n` (with `only`: `-L -n -t|-u SERVICE`) with the given
/// (ActiveConn, InActConn) per real server and every other number zero; a
/// missing `only` service gives just the column titles.  (For callers
/// that list the table without a director.)
pub fn format_list_numeric(
    cfg: &Config,
    only: Option<&ServiceKey>,
    counts: &dyn Fn(DestId) -> (u32, u32),
) -> String {
    let o = ListOpts {
        numeric: true,
        service: only.copied(),
        ..ListOpts::default()
    };
    let idle = Live::idle();
    let live = Live {
        gauges: counts,
        ..idle
    };
    format_list(cfg, &o, &live, &Names::none()).unwrap_or_else(|_| {
        let mut o = o;
        o.service = None;
        let full = format_list(&Config::new(), &o, &live, &Names::none()).unwrap_or_default();
        // The titles without the version line.
        full.lines().skip(1).map(|l| format!("{l}\n")).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn big(i: u64, exact: bool) -> String {
        let mut s = String::new();
        largenum(&mut s, i, exact);
        s
    }

    #[test]
    fn largenum_is_print_largenum() {
        assert_eq!(big(0, false), "        0");
        assert_eq!(big(99_999_999, false), " 99999999");
        assert_eq!(big(100_000_000, false), "  100000K");
        assert_eq!(big(999_999_999, false), "  999999K");
        assert_eq!(big(1_000_000_000, false), "    1000M");
        assert_eq!(big(99_999_999_999, false), "   99999M");
        assert_eq!(big(100_000_000_000, false), "     100G");
        assert_eq!(big(100_000_000_000_000, false), "     100T");
        assert_eq!(big(u64::MAX, false), "18446744T");
        assert_eq!(big(5, true), "        5");
        assert_eq!(big(12_345_678, true), " 12345678");
        assert_eq!(big(123_456_789, true), " 123456789");
        assert_eq!(big(u64::MAX, true), " 18446744073709551615");
    }

    #[test]
    fn cut_respects_char_boundaries() {
        assert_eq!(cut("abcdef".into(), 3), "abc");
        assert_eq!(cut("ab".into(), 3), "ab");
        assert_eq!(cut("aé".into(), 2), "a");
    }
}
