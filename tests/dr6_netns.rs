//! Issue 15 item 6, as root in network namespaces: direct routing (`-g`)
//! and tunnelling (`-i`) of an IPv6 service, in the DR lab of
//! `tests/dr/mod.rs` (a router carries the real servers' replies to the
//! client past the director) with IPv6 added beside its IPv4 plan:
//!
//! ```text
//!  client c0        2001:2:0:1::1/64    default via 2001:2:0:1::fe
//!  director ext0    2001:2:0:1::2/64    ringvs only (--ext-addr)
//!  director int0    2001:2:0:2::1/64    ringvs only (--int-addr)
//!  router r0 / r1   2001:2:0:1::fe/64, 2001:2:0:2::fe/64, forwarding
//!  rsN eth0         2001:2:0:2::(1+N)/64, default via 2001:2:0:2::fe,
//!                   VIP6 2001:2:0:1::110/128 on lo
//! ```
//!
//! A real server needs nothing to keep quiet about the VIP: Linux answers a
//! neighbor solicitation only for an address of the interface it came in by
//! (`ndisc_recv_ns`), so the VIP on `lo` is never advertised on `eth0` (what
//! `arp_ignore=1` does for IPv4). The test checks the client learned the
//! VIP's MAC from the director alone.
//!
//! * DR: curl alternates between the real servers, the replies bypass the
//!   director, only the director advertises the VIP.
//! * TUN: the same over IPv6-in-IPv6, GUE and GRE over IPv6, and across
//!   families (IPv4 inside IPv6, IPv6 inside IPv4); the tunnel's PMTU reaches
//!   the client's kernel as packet-too-big.
//! * PMTU of DR replies: a router's packet-too-big about them, sent to the
//!   VIP, reaches the real server through the director.
//!
//! This kernel has no ip6_tunnel, ip6_gre or fou: a TUN real server runs
//! `tests/data/dr/tun_decap6.py`, which reads the tunnel from a raw or UDP
//! socket and writes the inner packet into a TUN device.
//!
//! Run with `CI=true cargo test --test dr6_netns` (root).

mod dr;

use dr::{DrLab, EXE, MAX_SECS, TUN_DEV, lines_of, rs_name, total, wait_for};
use ringvs::lab::{self, add_addr6, default_route6, enable_quiet_ipv6, ip, ns_command};
use std::net::Ipv6Addr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0x110);
const DIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 2, 0, 0, 0, 1);
const ROUTER_EXT6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0xfe);
const ROUTER_INT6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 2, 0, 0, 0, 0xfe);
/// Requests of a run (each on a new connection).
const REQUESTS: usize = 8;

fn rs6(n: usize) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 2, 0, 2, 0, 0, 0, 1 + n as u16)
}

/// IPv6 beside the lab's IPv4 plan (module doc), and HTTP servers on
/// `[::]:80` of real servers 1 and 2.
fn dual_stack(l: &mut DrLab) {
    dual_stack_with(l, rs_name);
}

/// [`dual_stack`] with real server `n` answering `body(n)`.
fn dual_stack_with(l: &mut DrLab, body: impl Fn(usize) -> String) {
    let sw = l.ns_switch();
    for br in ["brx", "bri"] {
        // Solicitations reach every port, whatever MLD reports were seen.
        ip(&[
            "-n",
            &sw,
            "link",
            "set",
            br,
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ])
        .expect("snooping off");
    }
    let cli = l.ns_client();
    add_addr6(&cli, "c0", "2001:2:0:1::1/64").expect("client address");
    default_route6(&cli, ROUTER_EXT6, "c0").expect("client route");
    let r = l.ns_router();
    add_addr6(&r, "r0", &format!("{ROUTER_EXT6}/64")).expect("router r0");
    add_addr6(&r, "r1", &format!("{ROUTER_INT6}/64")).expect("router r1");
    lab::ns_run(&r, "sysctl", &["-qw", "net.ipv6.conf.all.forwarding=1"]).expect("forwarding");
    for n in 1..=2 {
        let rs = l.ns_rs(n);
        // New interfaces (the helper's TUN device) get IPv6 too.
        for key in ["default", "lo"] {
            enable_quiet_ipv6(&rs, key).expect("IPv6 on");
        }
        add_addr6(&rs, "eth0", &format!("{}/64", rs6(n))).expect("rs address");
        default_route6(&rs, ROUTER_INT6, "eth0").expect("rs route");
        // The real server's side of DR and TUN: the VIP on lo.
        ip(&[
            "-n",
            &rs,
            "-6",
            "addr",
            "add",
            &format!("{VIP6}/128"),
            "dev",
            "lo",
            "nodad",
        ])
        .expect("VIP on lo");
    }
    for n in 1..=2 {
        #[rustfmt::skip]
        let args = ["serve-http", "--listen", "[::]:80", "--body", &body(n), "--max-secs", MAX_SECS];
        l.spawn(&format!("http6-rs{n}"), &l.ns_rs(n), EXE, &args);
    }
    for n in 1..=2 {
        let ns = l.ns_rs(n);
        let up = wait_for(Duration::from_secs(5), || {
            lab::listens_on(&ns, 80).ok()?.then_some(())
        });
        assert!(up.is_some(), "no HTTP server on port 80 in {ns}");
    }
    l.start_director(&[
        "--ext-addr",
        "2001:2:0:1::2/64",
        "--int-addr",
        "2001:2:0:2::1/64",
        "--gateway",
        &ROUTER_EXT6.to_string(),
    ]);
}

/// `curl http://[VIP6]/` from the client: the body, or curl's error.
fn curl6(l: &DrLab) -> String {
    l.curl_url(&format!("http://[{VIP6}]/"))
}

/// `bodies` alternate between rs1 and rs2, whichever comes first.
fn alternates(bodies: &[String]) -> bool {
    let (a, b) = (rs_name(1), rs_name(2));
    let (x, y) = if bodies.first() == Some(&a) {
        (a, b)
    } else {
        (b, a)
    };
    !bodies.is_empty()
        && bodies
            .iter()
            .enumerate()
            .all(|(i, s)| s == if i % 2 == 0 { &x } else { &y })
}

/// The service on VIP6:80 with real servers 1 and 2 reached by `opts`.
fn add_service(l: &DrLab, opts: &[&str]) {
    let vip = format!("[{VIP6}]:80");
    l.adm(&["-A", "-t", &vip, "-s", "rr"]);
    for n in 1..=2 {
        let rip = format!("[{}]:80", rs6(n));
        let mut args = vec!["-a", "-t", &vip, "-r", &rip];
        args.extend_from_slice(opts);
        l.adm(&args);
    }
}

/// `REQUESTS` curls through the director, after a warm-up one (NDP on
/// both segments); the bodies, with the director's counters before and after.
fn run(l: &DrLab) -> (Vec<String>, serde_json::Value, serde_json::Value) {
    let first = curl6(l);
    assert!(first.starts_with("i am rs"), "first curl: {first}");
    let before = l.stats();
    let bodies: Vec<String> = (0..REQUESTS).map(|_| curl6(l)).collect();
    (bodies, before, l.stats())
}

#[test]
fn dr6_alternates_and_replies_bypass_the_director() {
    let Some((_serial, mut l)) = dr::lab() else {
        return;
    };
    dual_stack(&mut l);
    add_service(&l, &["-g"]);
    let (bodies, before, after) = run(&l);
    assert!(alternates(&bodies), "rr over rs1 and rs2: {bodies:?}");
    let d = |k| total(&after, k) - total(&before, k);
    // Each request: SYN, ACK, data, FIN... in; nothing out.
    assert!(
        d("fwd_in6") >= 3 * REQUESTS as u64,
        "fwd_in6 {}",
        d("fwd_in6")
    );
    assert_eq!(d("fwd_out"), 0, "replies went past the director");
    assert_eq!(d("conn_new6"), REQUESTS as u64);
    // Only the director advertised the VIP on the client segment.
    let ext_mac = dr::fmt_mac(&l.mac(&l.ns_director(), "ext0"));
    let neigh = ip(&[
        "-n",
        &l.ns_client(),
        "-6",
        "neigh",
        "show",
        &VIP6.to_string(),
    ])
    .expect("neigh show");
    assert!(
        neigh.contains(&ext_mac),
        "the VIP's MAC is ext0's ({ext_mac}): {neigh}"
    );
}

#[test]
fn tun6_ipip_gue_and_gre_alternate_through_decapsulating_servers() {
    let Some((_serial, mut l)) = dr::lab() else {
        return;
    };
    dual_stack(&mut l);
    let mut decap = Vec::new();
    for n in 1..=2 {
        let args = [TUN_DEV, MAX_SECS, "--ipip", "--gue", "6080", "--gre"];
        let ns = l.ns_rs(n);
        decap.push(l.spawn_python(&format!("decap6-rs{n}"), &ns, "tun_decap6.py", &args));
    }
    #[rustfmt::skip]
    let tunnels: [(&str, &[&str]); 3] = [
        ("ipip", &["-i"]),
        ("gue", &["-i", "--tun-type", "gue", "--tun-port", "6080", "--tun-csum"]),
        ("gre", &["-i", "--tun-type", "gre"]),
    ];
    for (round, (kind, opts)) in tunnels.into_iter().enumerate() {
        // No client port of an earlier round's connections (`client_ports`).
        l.client_ports(round);
        add_service(&l, opts);
        let seen: Vec<usize> = decap.iter().map(|d| lines_of(d).len()).collect();
        let (bodies, before, after) = run(&l);
        assert!(
            alternates(&bodies),
            "{kind}: rr over rs1 and rs2: {bodies:?}"
        );
        let d = |k| total(&after, k) - total(&before, k);
        assert!(d("tunnel_encap") >= 3 * REQUESTS as u64, "{kind}");
        assert_eq!(d("fwd_out"), 0, "{kind}: replies went past the director");
        // Each real server took its packets out of the tunnel, from the DIP.
        for (n, lines) in decap.iter().enumerate() {
            let new: Vec<String> = lines_of(lines)[seen[n]..].to_vec();
            let want = format!("decap {kind} {DIP6} ");
            assert!(
                new.iter().any(|x| x.starts_with(&want)),
                "{kind}: rs{} decapsulated nothing from {DIP6}: {new:?}",
                n + 1
            );
            assert!(
                !new.iter().any(|x| x.starts_with("drop")),
                "{kind}: rs{}: {new:?}",
                n + 1
            );
        }
        l.adm(&["-C"]);
    }
}

#[test]
fn tunnels_across_families_alternate() {
    let Some((_serial, mut l)) = dr::lab() else {
        return;
    };
    dual_stack(&mut l);
    let mut decap = Vec::new();
    for n in 1..=2 {
        let args = [TUN_DEV, MAX_SECS, "--4in6", "--6in4"];
        let ns = l.ns_rs(n);
        decap.push(l.spawn_python(&format!("decap-x-rs{n}"), &ns, "tun_decap6.py", &args));
    }
    // An IPv4 service to IPv6 endpoints (IPv4 inside IPv6, from the DIP6),
    // then an IPv6 service to IPv4 endpoints (IPv6 inside IPv4, from the
    // DIP). The HTTP servers listen on both families ([::]:80).
    let v4 = format!("{}:80", dr::VIP);
    let v6 = format!("[{VIP6}]:80");
    for (round, (vip, kind, from)) in [
        (&v4, "4in6", DIP6.to_string()),
        (&v6, "6in4", dr::DIP.to_string()),
    ]
    .into_iter()
    .enumerate()
    {
        l.client_ports(round);
        l.adm(&["-A", "-t", vip, "-s", "rr"]);
        for n in 1..=2 {
            let rip = if kind == "4in6" {
                format!("[{}]:80", rs6(n))
            } else {
                format!("{}:80", dr::rs_addr(n))
            };
            l.adm(&["-a", "-t", vip, "-r", &rip, "-i"]);
        }
        let get = |l: &DrLab| if kind == "4in6" { l.curl() } else { curl6(l) };
        let first = get(&l);
        assert!(first.starts_with("i am rs"), "{kind}: first curl: {first}");
        let seen: Vec<usize> = decap.iter().map(|d| lines_of(d).len()).collect();
        let before = l.stats();
        let bodies: Vec<String> = (0..REQUESTS).map(|_| get(&l)).collect();
        let after = l.stats();
        assert!(
            alternates(&bodies),
            "{kind}: rr over rs1 and rs2: {bodies:?}"
        );
        let d = |k| total(&after, k) - total(&before, k);
        assert!(d("tunnel_encap") >= 3 * REQUESTS as u64, "{kind}");
        assert_eq!(d("fwd_out"), 0, "{kind}: replies went past the director");
        for (n, lines) in decap.iter().enumerate() {
            let new: Vec<String> = lines_of(lines)[seen[n]..].to_vec();
            let want = format!("decap {kind} {from} ");
            assert!(
                new.iter().any(|x| x.starts_with(&want)),
                "{kind}: rs{} decapsulated nothing from {from}: {new:?}",
                n + 1
            );
            assert!(!new.iter().any(|x| x.starts_with("drop")), "{new:?}");
        }
        l.adm(&["-C"]);
    }
}

/// The tunnel's PMTU over IPv6: a 1500-byte datagram from the client no
/// longer fits once wrapped in IPv6-in-IPv6; the director answers ICMPv6
/// packet-too-big with 1500 − 40, and the client's kernel takes it (its
/// route to the VIP gets that MTU).
#[test]
fn tun6_packet_too_big_carries_the_mtu_less_the_overhead() {
    let Some((_serial, mut l)) = dr::lab() else {
        return;
    };
    dual_stack(&mut l);
    let vip = format!("[{VIP6}]:53");
    l.adm(&["-A", "-u", &vip, "-s", "rr"]);
    l.adm(&["-a", "-u", &vip, "-r", &format!("[{}]:53", rs6(1)), "-i"]);
    let before = l.stats();
    // 1452 bytes of payload: a 1500-byte IPv6 packet, the client's MTU.
    let send = format!(
        "import socket; s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); \
         s.sendto(b'x' * 1452, ('{VIP6}', 53))"
    );
    let route = || {
        let out = ip(&[
            "-n",
            &l.ns_client(),
            "-6",
            "route",
            "get",
            &VIP6.to_string(),
        ]);
        out.ok().filter(|r| r.contains("mtu 1460"))
    };
    let got = wait_for(Duration::from_secs(5), || {
        let st = ns_command(&l.ns_client(), Path::new("python3"), &["-c", &send])
            .stdin(Stdio::null())
            .status()
            .expect("run python3");
        assert!(st.success(), "send the datagram");
        route()
    });
    let after = l.stats();
    let d = |k| total(&after, k) - total(&before, k);
    assert!(
        got.is_some(),
        "the client's route to the VIP has no mtu 1460: {:?}; icmp6_too_big {}",
        ip(&[
            "-n",
            &l.ns_client(),
            "-6",
            "route",
            "get",
            &VIP6.to_string()
        ]),
        d("icmp6_too_big")
    );
    assert!(d("icmp6_too_big") >= 1 && d("drop_too_big") >= 1);
    assert_eq!(d("tunnel_encap"), 0, "nothing too big went through");
}

/// Path MTU discovery of DR replies over IPv6: the router's link to the
/// client is narrowed to 1400 bytes, so the real server's full-size replies
/// do not fit and the router sends packet-too-big to their source, the VIP.
/// The director passes it on to the real server (hop limit one less, as
/// `ip_vs_icmp_xmit_v6` hands it to `ip_vs_dr_xmit_v6`), whose kernel lowers
/// its path MTU: a 64 KiB transfer completes.
#[test]
fn dr6_replies_learn_the_path_mtu_from_a_routers_packet_too_big() {
    const BODY_LEN: usize = 64 * 1024;
    let Some((_serial, mut l)) = dr::lab() else {
        return;
    };
    let body = dr::alphabet(BODY_LEN);
    let served = body.clone();
    dual_stack_with(&mut l, move |_| served.clone());
    add_service(&l, &["-g"]);
    ip(&["-n", &l.ns_router(), "link", "set", "r0", "mtu", "1400"]).expect("r0 mtu");
    let before = l.stats();
    let got = l.fetch(&format!("http://[{VIP6}]/"), 10);
    let after = l.stats();
    let d = |k| total(&after, k) - total(&before, k);
    assert!(
        got.as_deref().map(str::trim_end) == Ok(&body),
        "{:.80?}; icmp_error_direct +{}, icmp_error_nat +{}",
        got.as_ref().map(String::len),
        d("icmp_error_direct"),
        d("icmp_error_nat"),
    );
    let got = got.unwrap_or_default();
    assert!(d("icmp_error_direct") >= 1, "no packet-too-big passed on");
    assert_eq!(d("icmp_error_nat"), 0);
    println!(
        "DR6-MEASURE pmtu-reply bytes={} icmp_error_direct=+{}",
        got.trim_end().len(),
        d("icmp_error_direct")
    );
}
