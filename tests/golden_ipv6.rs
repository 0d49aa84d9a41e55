//! IPv6 in `ringvs adm`: ipvsadm's IPv6 forms parsed as ipvsadm parses them
//! (`parse_service`, `-M` as a prefix length, the family check of
//! `process_options`), and a dual-stack table listed byte for byte against
//! `tests/golden/dual_*.txt`, written by `tests/golden/oracle.py` (which
//! replays ipvsadm's printf calls), with the `-S` / `-C` / `-R` round trip.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "golden/shared.rs"]
mod shared;

use ringvs::config::format::format_save;
use ringvs::config::ipvsadm::{AdmCommand, DestOpts, ServiceOpts, apply, parse_with};
use ringvs::config::listing::ConnInfo;
use ringvs::config::names::Names;
use ringvs::config::{
    AdmError, Config, Forward, Netmask, Proto, Scheduler, ServiceKey, TunCsum, TunKind, Tunnel,
};
use ringvs::nat::State;
use shared::{build, golden, list_with, ok, p, words};
use std::net::IpAddr;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn tcp(a: &str, port: u16) -> ServiceKey {
    ServiceKey::new(Proto::Tcp, ip(a), port)
}

const VIP6: &str = "2001:2:0:1::110";
const LONG_VIP: &str = "2001:2:0:1:aaaa:bbbb:cccc:dddd";
const LONG_RIP: &str = "2001:2:0:2:ffff:ffff:ffff:fffe";

fn names() -> Names {
    Names::parse(
        "2001:2:0:2::2 server6\n2001:2:0:1::110 vip6.example\n198.19.0.2 server1\n\
         2001:2:0:1::1 client6-with-a-very-long-host-name-that-runs-on.example.com\n",
        "http 80/tcp\ndomain 53/udp\nhttps 443/tcp\nhttp-alt 8080/tcp\n",
    )
}

/// The dual-stack scenario of oracle.py, services in a scrambled order;
/// real servers in the order of their ids there.
const SCENARIO: &[&str] = &[
    "-A -t [2001:2:0:1::110]:80 -s rr",
    "-a -t [2001:2:0:1::110]:80 -r [2001:2:0:2::10]:8080 -m",
    "-a -t [2001:2:0:1::110]:80 -r [2001:2:0:2::2]:8080 -m -w 2 -x 100 -y 50",
    // A bare IPv6 address: no port, the service's is taken.
    "-a -t [2001:2:0:1::110]:80 -r 2001:2:0:2::3 -g",
    // An IPv4 real server of an IPv6 service: a tunnel, as IPVS allows.
    "-a -t [2001:2:0:1::110]:80 -r 198.19.0.20 -i -w 3",
    "-A -u [2001:2:0:1::110]:53 -s wrr -p",
    "-a -u [2001:2:0:1::110]:53 -r [2001:2:0:2::2]:5353 -w 10",
    "-A -t [2001:2:0:1::120]:443 -s sh -b sh-port -p 1800 -M 64",
    "-a -t [2001:2:0:1::120]:443 -r [2001:2:0:2:ffff:ffff:ffff:fffe]:65535 -w 65535",
    "-a -t [2001:2:0:1::120]:443 -r [2001:2:0:2::4]:443 -w 0",
    "-A -t [2001:2:0:1:aaaa:bbbb:cccc:dddd]:65535 -p 60",
    "-a -t [2001:2:0:1:aaaa:bbbb:cccc:dddd]:65535 -r 2001:2:0:2::5 -i --tun-type gue --tun-port 6080 --tun-csum",
    "-A -t 198.18.0.110:80 -s rr",
    "-a -t 198.18.0.110:80 -r 198.19.0.2",
    "-a -t 198.18.0.110:80 -r [2001:2:0:2::30]:80 -i --tun-type gre --tun-csum",
];

fn scenario() -> Config {
    build(SCENARIO)
}

/// A connection of either family (`(proto, client, vip, dest, state,
/// expires, template)`).
type Conn<'a> = (
    u8,
    (&'a str, u16),
    (&'a str, u16),
    (&'a str, u16),
    State,
    u32,
    bool,
);

fn conns() -> Vec<ConnInfo<State, IpAddr>> {
    let all: [Conn; 5] = [
        (
            6,
            ("2001:2:0:1::1", 40000),
            (VIP6, 80),
            ("2001:2:0:2::2", 8080),
            State::Established,
            899,
            false,
        ),
        (
            6,
            ("2001:2:0:1::7", 1),
            (VIP6, 80),
            ("198.19.0.20", 80),
            State::SynRecv,
            59,
            false,
        ),
        (
            17,
            ("2001:2:0:1::8", 5353),
            (VIP6, 53),
            ("2001:2:0:2::2", 5353),
            State::Udp,
            299,
            false,
        ),
        (
            6,
            ("2001:2:0:1::9", 0),
            ("2001:2:0:1::120", 443),
            (LONG_RIP, 65535),
            State::None,
            1799,
            true,
        ),
        (
            6,
            ("198.18.0.5", 33000),
            ("198.18.0.110", 80),
            ("198.19.0.2", 80),
            State::TimeWait,
            119,
            false,
        ),
    ];
    all.iter()
        .map(|&(proto, c, v, d, state, expires_in, template)| ConnInfo {
            proto,
            client: (ip(c.0), c.1),
            vip: (ip(v.0), v.1),
            dest: (ip(d.0), d.1),
            state,
            expires_in,
            template,
            assured: false,
            pe: None,
        })
        .collect()
}

fn list_of(cfg: &Config, line: &str) -> String {
    list_with(cfg, line, &names(), &conns())
}

// ---- listings ------------------------------------------------------------

#[test]
fn dual_stack_golden_listings() {
    let cfg = scenario();
    for (line, file) in [
        ("-L -n", "dual_list_n.txt"),
        ("-L", "dual_list_names.txt"),
        ("-L -n --stats", "dual_stats.txt"),
        ("-L -n --stats --exact", "dual_stats_exact.txt"),
        ("-L -n --rate", "dual_rate.txt"),
        ("-L -n --thresholds", "dual_thresholds.txt"),
        ("-L -n --persistent-conn", "dual_persistent_conn.txt"),
        ("-L -n --tun-info", "dual_tun_info.txt"),
        ("-L -n -t [2001:2:0:1::120]:443", "dual_service443.txt"),
        ("-L -n -c", "dual_conns_n.txt"),
        ("-L -c", "dual_conns_names.txt"),
        ("-L -n -c --sort", "dual_conns_sorted.txt"),
        ("-S -n", "dual_save_n.txt"),
        ("-S", "dual_save_names.txt"),
    ] {
        assert_eq!(
            list_of(&cfg, line),
            golden(file),
            "ringvs adm {line} (tests/golden/{file})"
        );
    }
}

/// The IPv6 columns as ipvsadm prints them, spelled out (the golden files
/// hold the same): never cut, so a long line runs past the next column.
#[test]
fn ipv6_entries_run_past_the_columns() {
    let out = list_of(&scenario(), "-L -n");
    assert!(out.contains(
        "\n  -> [2001:2:0:2:ffff:ffff:ffff:fffe]:65535 Masq    65535  55         5000      \n"
    ));
    assert!(out.contains("\nTCP  [2001:2:0:1:aaaa:bbbb:cccc:dddd]:65535 wlc persistent 60\n"));
    assert!(out.contains("\nTCP  [2001:2:0:1::120]:443 sh (sh-port) persistent 1800 mask 64\n"));
    // An IPv4 tunnel of an IPv6 service is cut and padded as IPv4.
    assert!(
        out.contains("\n  -> 198.19.0.20:80               Tunnel  3      33         3000      \n")
    );
    let stats = list_of(&scenario(), "-L -n --stats");
    assert!(stats.contains("\nTCP  [2001:2:0:1:aaaa:bbbb:cccc:dddd]:65535  350000K"));
    // IPv4 services first (ipvs_cmp_services sorts by family), whatever the
    // protocol.
    let mut c = Config::new();
    apply(&mut c, &ok("-A -t [2001:2:0:1::110]:80 -s rr")).unwrap();
    apply(&mut c, &ok("-A -u 198.18.0.200:53 -s rr")).unwrap();
    apply(&mut c, &ok("-A -t 198.18.0.210:80 -s rr")).unwrap();
    let heads: Vec<String> = list_of(&c, "-L -n")
        .lines()
        .skip(3)
        .map(str::to_string)
        .collect();
    assert_eq!(
        heads,
        [
            "TCP  198.18.0.210:80 rr",
            "UDP  198.18.0.200:53 rr",
            "TCP  [2001:2:0:1::110]:80 rr"
        ]
    );
}

#[test]
fn save_clear_restore_round_trip() {
    let mut c = scenario();
    let saved = format_save(&c, true, &Names::none());
    assert_eq!(saved, golden("dual_save_n.txt"));
    apply(&mut c, &ok("-C")).unwrap();
    assert!(c.services().is_empty());
    let errors = ipvsadm_restore(&mut c, &saved);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(format_save(&c, true, &Names::none()), saved);
    // Same services, same servers, same settings (in -S's order, not the
    // order they were added in).
    let settings = |c: &Config| {
        c.services()
            .iter()
            .map(|s| {
                let mut ds: Vec<_> = s
                    .dests
                    .iter()
                    .map(|d| (d.addr, d.port, d.weight, d.forward, d.u_threshold))
                    .collect();
                ds.sort_by_key(|d| (d.0, d.1));
                (s.key, s.sched, s.persistent, s.netmask, s.sched_flags, ds)
            })
            .collect::<Vec<_>>()
    };
    let mut fresh = settings(&scenario());
    let mut back = settings(&c);
    fresh.sort_by_key(|s| s.0);
    back.sort_by_key(|s| s.0);
    assert_eq!(back, fresh);
    // Restoring on top reports each line the table refuses, by number.
    let errors = ipvsadm_restore(&mut c, &saved);
    assert_eq!(errors.len(), saved.lines().count());
    assert_eq!(errors[0], "line 1: Service already exists");
    assert_eq!(errors[1], "line 2: Destination already exists");
}

fn ipvsadm_restore(c: &mut Config, text: &str) -> Vec<String> {
    ringvs::config::ipvsadm::restore(c, text, &Names::none(), &mut |_, _, _| {}).unwrap()
}

/// What `-S` (names) writes for IPv6 does not restore, in ipvsadm as here:
/// `[server6]:http` is not an IPv6 address, and a name is looked up as IPv4:
/// a name with IPv6 addresses only is illegal, as ipvsadm's `host_to_addr`
/// refuses any but an `AF_INET` one (not a name missing from /etc/hosts).
#[test]
fn saved_names_of_ipv6_do_not_restore() {
    let text = golden("dual_save_names.txt");
    let e = ringvs::config::ipvsadm::parse_rules_with(&text, &names()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 4: illegal virtual server address[:port] specified"
    );
}

// ---- parsing -------------------------------------------------------------

#[test]
fn ipv6_service_forms() {
    let k = tcp(VIP6, 80);
    let v6 = |persistent, netmask| ServiceOpts {
        persistent,
        netmask,
        ..ServiceOpts::new(Scheduler::Rr)
    };
    for (line, key, want) in [
        (
            "-A -t [2001:2:0:1::110]:80 -s rr",
            k,
            v6(None, Netmask::HOST6),
        ),
        (
            "--add-service --tcp-service=[2001:2:0:1::110]:80 -s rr",
            k,
            v6(None, Netmask::HOST6),
        ),
        // Any spelling inet_pton takes.
        (
            "-A -t [2001:0002:0000:0001:0000:0000:0000:0110]:80 -s rr",
            k,
            v6(None, Netmask::HOST6),
        ),
        // A bare IPv6 address is the whole word: port 0, so persistent.
        (
            "-A -t 2001:2:0:1::110 -s rr -p",
            tcp(VIP6, 0),
            v6(Some(360), Netmask::HOST6),
        ),
        // -M after -t is a prefix length, read as atoi reads it.
        (
            "-A -t [2001:2:0:1::110]:80 -s rr -p -M 64",
            k,
            v6(Some(360), Netmask::V6(64)),
        ),
        (
            "-A -t [2001:2:0:1::110]:80 -s rr -p --netmask=128",
            k,
            v6(Some(360), Netmask::V6(128)),
        ),
        (
            "-A -t [2001:2:0:1::110]:80 -s rr -p -M 48bits",
            k,
            v6(Some(360), Netmask::V6(48)),
        ),
        (
            "-A -t [2001:2:0:1::110]:80 -s rr -p -M 1",
            k,
            v6(Some(360), Netmask::V6(1)),
        ),
        // -M before -t is read as IPv4, then the IPv6 -t resets it to 128,
        // as ipvsadm's parse_service does.
        (
            "-A -M 255.255.255.0 -t [2001:2:0:1::110]:80 -s rr -p",
            k,
            v6(Some(360), Netmask::HOST6),
        ),
        // Inside brackets, what is not IPv6 is IPv4 on its own: the port
        // after the bracket is lost (ipvsadm's parse_service).
        (
            "-A -t [198.18.0.110]:80 -s rr -p",
            tcp("198.18.0.110", 0),
            v6(Some(360), Netmask::HOST4),
        ),
    ] {
        assert_eq!(
            ok(line),
            AdmCommand::AddService { key, opts: want },
            "{line}"
        );
    }
    let n = names();
    let named = parse_with(&words("-A -t [2001:2:0:1::110]:http -s rr"), &n).unwrap();
    assert_eq!(
        named,
        AdmCommand::AddService {
            key: k,
            opts: v6(None, Netmask::HOST6)
        }
    );
    assert_eq!(
        ok("-E -t [2001:2:0:1::110]:80 -s rr"),
        AdmCommand::EditService {
            key: k,
            opts: v6(None, Netmask::HOST6)
        }
    );
    assert_eq!(
        ok("-D -t [2001:2:0:1::110]:80"),
        AdmCommand::DelService { key: k }
    );
    assert_eq!(
        ok("-Z -t [2001:2:0:1::110]:80"),
        AdmCommand::Zero { service: Some(k) }
    );
    match ok("-L -n -u [2001:2:0:1::110]:53") {
        AdmCommand::List(o) => {
            assert_eq!(o.service, Some(ServiceKey::new(Proto::Udp, ip(VIP6), 53)))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn ipv6_real_server_forms() {
    let k = tcp(VIP6, 80);
    let add = |a: &str, port, forward| AdmCommand::AddDest {
        key: k,
        addr: ip(a),
        port,
        opts: DestOpts {
            forward,
            ..DestOpts::weight(1)
        },
    };
    let ipip = Forward::Tunnel(Tunnel::IPIP);
    for (line, want) in [
        (
            "-a -t [2001:2:0:1::110]:80 -r [2001:2:0:2::2]:8080 -m",
            add("2001:2:0:2::2", 8080, Forward::Masq),
        ),
        // Without a port (a bare address): the service's port so far.
        (
            "-a -t [2001:2:0:1::110]:80 -r 2001:2:0:2::2",
            add("2001:2:0:2::2", 80, Forward::Masq),
        ),
        (
            "-a -r 2001:2:0:2::2 -t [2001:2:0:1::110]:80",
            add("2001:2:0:2::2", 0, Forward::Masq),
        ),
        (
            "-a -t [2001:2:0:1::110]:80 -r [2001:2:0:2::2]:8080 -g",
            add("2001:2:0:2::2", 80, Forward::Route),
        ),
        // The other family, tunnelled: allowed (ip_vs_genl_set_cmd), any
        // tunnel type.
        (
            "-a -t [2001:2:0:1::110]:80 -r 198.19.0.2 -i",
            add("198.19.0.2", 80, ipip),
        ),
        (
            "-a -t [2001:2:0:1::110]:80 -r 198.19.0.2 -i --tun-type gre --tun-nocsum",
            add(
                "198.19.0.2",
                80,
                Forward::Tunnel(Tunnel {
                    kind: TunKind::Gre,
                    port: 0,
                    csum: TunCsum::NoCsum,
                }),
            ),
        ),
    ] {
        assert_eq!(ok(line), want, "{line}");
    }
    let v4 = tcp("198.18.0.110", 80);
    assert_eq!(
        ok("-a -t 198.18.0.110:80 -r [2001:2:0:2::2]:80 --ipip --tun-type gue --tun-port 6080"),
        AdmCommand::AddDest {
            key: v4,
            addr: ip("2001:2:0:2::2"),
            port: 80,
            opts: DestOpts {
                forward: Forward::Tunnel(Tunnel {
                    kind: TunKind::Gue,
                    port: 6080,
                    csum: TunCsum::NoCsum,
                }),
                ..DestOpts::weight(1)
            },
        }
    );
    // -d does not check the family (neither ipvsadm nor the kernel): the
    // server is simply not found.
    assert_eq!(
        ok("-d -t [2001:2:0:1::110]:80 -r 198.19.0.2:80"),
        AdmCommand::DelDest {
            key: k,
            addr: ip("198.19.0.2"),
            port: 80
        }
    );
    assert_eq!(
        ok("-e -t [2001:2:0:1::110]:80 -r [2001:2:0:2::2]:8080 -w 7"),
        AdmCommand::EditDest {
            key: k,
            addr: ip("2001:2:0:2::2"),
            port: 8080,
            opts: DestOpts::weight(7)
        }
    );
}

#[test]
fn ipv6_errors_are_ipvsadms() {
    let svc = "illegal virtual server address[:port] specified";
    let rs = "illegal real server address[:port] specified";
    let mixed = "Different address family is allowed only for tunneling servers";
    let mask = "illegal ipv6 netmask specified";
    let cases: &[(&str, &str, i32)] = &[
        ("-A -t [2001:2:0:1::110:80 -s rr", svc, 2),
        ("-A -t [2001:2:0:1::110] -s rr -p", svc, 2),
        ("-A -t [2001:2:0:1::110]80 -s rr", svc, 2),
        ("-A -t [2001:2:0:1::110]: -s rr", svc, 2),
        ("-A -t [2001:2:0:1::110]:65536 -s rr", svc, 2),
        ("-A -t [2001:2:0:1::110]:nosuchservice -s rr", svc, 2),
        ("-A -t [2001:2:0:1::11g]:80 -s rr", svc, 2),
        ("-A -t 2001:2:0:1::110:http -s rr", svc, 2),
        ("-A -t []:80 -s rr", svc, 2),
        ("-A -t [2001:2:0:1::110]:80]:80 -s rr", svc, 2),
        ("-a -t [2001:2:0:1::110]:80 -r [2001:2:0:2::2", rs, 2),
        ("-a -t [2001:2:0:1::110]:80 -r [2001:2:0:2::2]", rs, 2),
        ("-a -t [2001:2:0:1::110]:80 -r [2001:2:0:2::2]:x", rs, 2),
        // A bare IPv6 address port 0, not persistent.
        (
            "-A -t 2001:2:0:1::110 -s rr",
            "Zero port specified for non-persistent service",
            2,
        ),
        // The other family, not tunnelled (ringvs's default -m included).
        ("-a -t [2001:2:0:1::110]:80 -r 198.19.0.2", mixed, 2),
        ("-a -t [2001:2:0:1::110]:80 -r 198.19.0.2 -m", mixed, 2),
        ("-a -t [2001:2:0:1::110]:80 -r 198.19.0.2 -g", mixed, 2),
        (
            "-e -t 198.18.0.110:80 -r [2001:2:0:2::2]:80 -g -w 3",
            mixed,
            2,
        ),
        // ipvsadm's order: the family before the tunnel options...
        (
            "-a -t [2001:2:0:1::110]:80 -r 198.19.0.2 -m --tun-port 6080",
            mixed,
            2,
        ),
        // ... and after the option table.
        (
            "-a -t [2001:2:0:1::110]:80 -m -w 2",
            "You need to supply the 'real-server' option for the 'add-server' command",
            2,
        ),
        // -M of an IPv6 service: 1..128.
        ("-A -t [2001:2:0:1::110]:80 -p -M 0", mask, 2),
        ("-A -t [2001:2:0:1::110]:80 -p -M 129", mask, 2),
        ("-A -t [2001:2:0:1::110]:80 -p -M -1", mask, 2),
        ("-A -t [2001:2:0:1::110]:80 -p -M abc", mask, 2),
        ("-A -t [2001:2:0:1::110]:80 -p -M 255.255.255.0", mask, 2),
        ("-E -t [2001:2:0:1::110]:80 -p --netmask=", mask, 2),
        // Before -t it is an IPv4 mask (`inet_aton`: "64x" is not one).
        (
            "-A -M 64x -t [2001:2:0:1::110]:80 -p",
            "illegal virtual server persistent mask specified",
            2,
        ),
    ];
    for (line, msg, code) in cases {
        let e = match p(line) {
            Ok(c) => panic!("{line}: parsed as {c:?}"),
            Err(e) => e,
        };
        assert_eq!(
            (e.to_string().as_str(), e.exit_code()),
            (*msg, *code),
            "{line}"
        );
    }
    // "64" before the IPv6 `-t` is an IPv4 mask to `inet_aton` (0.0.0.64),
    // and `parse_service` then makes an IPv6 service's mask 128.
    match p("-A -M 64 -t [2001:2:0:1::110]:80 -p") {
        Ok(AdmCommand::AddService { opts, .. }) => assert_eq!(opts.netmask, Netmask::V6(128)),
        other => panic!("{other:?}"),
    }
}

/// The table checks the same as the kernel, whoever calls it (keepalived
/// reloads, restores): the family of a real server against its method, an
/// IPv6 mask in 1..128 and of the service's family.
#[test]
fn the_table_refuses_what_the_kernel_refuses() {
    let mut c = Config::new();
    let k6 = tcp(VIP6, 80);
    let k4 = tcp("198.18.0.110", 80);
    c.add_service(k6, Scheduler::Rr, Some(60)).unwrap();
    c.add_service(k4, Scheduler::Rr, Some(60)).unwrap();
    assert_eq!(c.service(&k6).unwrap().netmask, Netmask::HOST6);
    assert_eq!(c.service(&k4).unwrap().netmask, Netmask::HOST4);
    let flags = Default::default();
    let inval = Err(AdmError::InvalidOperation);
    assert_eq!(c.set_service_options(&k6, flags, Netmask::V6(0)), inval);
    assert_eq!(c.set_service_options(&k6, flags, Netmask::V6(129)), inval);
    assert_eq!(
        c.set_service_options(&k6, flags, ip4("255.255.255.0")),
        inval
    );
    assert_eq!(c.set_service_options(&k4, flags, Netmask::V6(64)), inval);
    c.set_service_options(&k6, flags, Netmask::V6(56)).unwrap();
    assert_eq!(c.service(&k6).unwrap().netmask, Netmask::V6(56));
    // A host mask of either family means none.
    c.set_service_options(&k6, flags, Netmask::HOST4).unwrap();
    assert_eq!(c.service(&k6).unwrap().netmask, Netmask::HOST6);

    assert_eq!(
        c.add_dest(&k6, ip("198.19.0.2"), 80, 1),
        Err(AdmError::MixedFamily)
    );
    assert_eq!(AdmError::MixedFamily.exit_code(), 2);
    let ipip = Forward::Tunnel(Tunnel::IPIP);
    c.add_dest_with(&k6, ip("198.19.0.2"), 80, 1, ipip).unwrap();
    assert!(c.has_mixed_families());
    // Not away from tunnelling while of the other family; nothing changes.
    assert_eq!(
        c.set_dest_forward(&k6, ip("198.19.0.2"), 80, Forward::Masq),
        Err(AdmError::MixedFamily)
    );
    assert_eq!(
        apply(
            &mut c,
            &ok("-e -t [2001:2:0:1::110]:80 -r 198.19.0.2:80 -i -w 9")
        ),
        Ok(())
    );
    let d = c.service(&k6).unwrap().dests[0];
    assert_eq!((d.forward, d.weight), (ipip, 9));
    let e = ok("-e -t [2001:2:0:1::110]:80 -r 198.19.0.2:80 -i -w 9");
    let AdmCommand::EditDest {
        key, addr, port, ..
    } = e
    else {
        panic!("{e:?}")
    };
    let to_masq = AdmCommand::EditDest {
        key,
        addr,
        port,
        opts: DestOpts::weight(5),
    };
    assert_eq!(apply(&mut c, &to_masq), Err(AdmError::MixedFamily));
    let d = c.service(&k6).unwrap().dests[0];
    assert_eq!(
        (d.forward, d.weight),
        (ipip, 9),
        "a refused edit changes nothing"
    );
    // The same address in the other family is another server.
    c.add_dest(&k6, ip("2001:2:0:2::2"), 80, 1).unwrap();
    assert_eq!(
        c.add_dest(&k6, ip("2001:2:0:2::2"), 80, 1),
        Err(AdmError::DestExists)
    );
    c.del_dest(&k6, ip("198.19.0.2"), 80).unwrap();
    assert!(!c.has_mixed_families());
    assert_eq!(
        c.del_dest(&k6, ip("198.19.0.2"), 80),
        Err(AdmError::NoSuchDest)
    );
}

fn ip4(s: &str) -> Netmask {
    Netmask::V4(s.parse().unwrap())
}

/// The persistence group of a client: its address cut to the prefix.
#[test]
fn netmask_groups_clients() {
    let m = Netmask::V6(64);
    assert_eq!(
        m.apply(ip("2001:2:0:1:aaaa:bbbb:cccc:dddd")),
        ip("2001:2:0:1::")
    );
    assert_eq!(
        Netmask::V6(56).apply(ip("2001:2:0:1ff::1")),
        ip("2001:2:0:100::")
    );
    assert_eq!(Netmask::V6(128).apply(ip(LONG_VIP)), ip(LONG_VIP));
    assert_eq!(Netmask::V6(1).apply(ip(LONG_VIP)), ip("::"));
    assert_eq!(
        ip4("255.255.255.0").apply(ip("198.18.0.77")),
        ip("198.18.0.0")
    );
    // The other family is left alone.
    assert_eq!(m.apply(ip("198.18.0.77")), ip("198.18.0.77"));
    assert_eq!(ip4("255.255.255.0").v4_bits(), Some(0xffff_ff00));
    assert_eq!(m.v4_bits(), None);
    assert_eq!(
        (m.to_string(), ip4("255.255.0.0").to_string()),
        ("64".into(), "255.255.0.0".into())
    );
}
