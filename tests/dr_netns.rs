//! Issue 14, as root in network namespaces: direct routing (`-g`) and
//! tunnelling (`-i`), with a router that carries the replies from the real
//! servers to the client past the director. The topology is in
//! `tests/dr/mod.rs`.
//!
//! * The lab's self-check runs without ringvs: the director namespace's kernel
//!   does direct routing (a route to the VIP via a real server) and a small
//!   script does the tunnelling, so the real servers' side (VIP on lo, ARP
//!   sysctls, the decapsulating helper, the router) and the captures' checks
//!   are known good before ringvs is judged on them.
//! * DR: the seed scenario with `-g` (HTTP alternates, curl, UDP), the IP
//!   packets forwarded byte for byte, only the destination MAC changed;
//!   persistence; health checks; and the director sent nothing to the client
//!   but ARP (`fwd_out` 0, `tx_ext` all ARP).
//! * TUN: the seed scenario over IPIP, GUE (checksum off and on) and GRE,
//!   with every frame the director sends checked on the wire (outer and
//!   tunnel headers, checksums, lengths, DF), and a real server behind the
//!   router reached through `--int-gateway`.
//! * PMTU: a DF datagram that no longer fits once encapsulated gets ICMP
//!   "fragmentation needed" with the egress MTU less the overhead.
//! * Measured, `#[ignore]`d (run by hand, needs wrk and nginx): requests per
//!   second and per director CPU-second with DR and TUN against NAT
//!   (`dr_tun_nat_throughput_with_wrk`; docs/benchmarks.md).
//!
//! Each test prints its numbers in lines starting `DR-MEASURE`.

mod dr;

use dr::{
    CLIENT, DIP, DrLab, GUE_PORT, Tun, VIP, check_tunnel_frame, eth, fmt_mac, ip4, lines_of,
    rs_addr, rs_name, total, wait_for,
};
use std::time::{Duration, Instant};

/// HTTP requests of a seed scenario run (each on a new connection).
const REQUESTS: usize = 20;
/// UDP requests of a seed scenario run (each from a new port).
const UDP_REQUESTS: usize = 10;
/// The UDP service's port.
const UDP_PORT: u16 = 53;

/// `bodies` alternate between `a` and `b`, whichever comes first.
fn alternates(bodies: &[String], a: &str, b: &str) -> bool {
    let first = bodies.first().map(String::as_str);
    let (x, y) = if first == Some(a) { (a, b) } else { (b, a) };
    !bodies.is_empty()
        && bodies
            .iter()
            .enumerate()
            .all(|(i, s)| s == if i % 2 == 0 { x } else { y })
}

/// The UDP answers (`i am rsN LEN`) without their length.
fn udp_names(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l.rsplit_once(' ').map_or(l.as_str(), |(n, _)| n).to_owned())
        .collect()
}

/// Differences of counters between two `stats --json`.
fn delta(before: &serde_json::Value, after: &serde_json::Value, name: &str) -> u64 {
    total(after, name) - total(before, name)
}

/// Frames of `frames` whose Ethernet source is `mac`, split into (ARP, IPv4,
/// other).
fn by_kind(frames: &[Vec<u8>], mac: [u8; 6]) -> (usize, usize, usize) {
    let mut k = (0, 0, 0);
    for f in frames {
        match eth(f) {
            Some(e) if e.src == mac && e.ethertype == 0x0806 => k.0 += 1,
            Some(e) if e.src == mac && e.ethertype == 0x0800 => k.1 += 1,
            Some(e) if e.src == mac => k.2 += 1,
            _ => {}
        }
    }
    k
}

/// Stops `cap` once what it saw agrees with what the real servers' helpers
/// decapsulated (both counted per real server by `sent` and `decapped`; the
/// last packets may still be on their way), or after 2 s. The frames and
/// both counts.
fn settle(
    cap: dr::Capture,
    sent: impl Fn(&[Vec<u8>]) -> Vec<usize>,
    decapped: impl Fn() -> Vec<usize>,
) -> (Vec<Vec<u8>>, Vec<usize>, Vec<usize>) {
    let _ = wait_for(Duration::from_secs(2), || {
        (sent(&cap.frames()) == decapped()).then_some(())
    });
    let frames = cap.finish(Duration::ZERO, |_| true);
    let (s, d) = (sent(&frames), decapped());
    (frames, s, d)
}

/// How many frames of `frames` carry an IPv4 packet to each of `rips`.
fn per_outer_dst(frames: &[Vec<u8>], rips: &[std::net::Ipv4Addr]) -> Vec<usize> {
    let mut v = vec![0; rips.len()];
    for f in frames {
        let dst = eth(f).and_then(|e| ip4(e.payload)).map(|p| p.dst);
        if let Some(i) = rips.iter().position(|r| Some(*r) == dst) {
            v[i] += 1;
        }
    }
    v
}

/// Every IPv4 frame from `mac` in `frames` is a correct tunnel frame toward
/// `rip` (see `check_tunnel_frame`); how many there are.
fn assert_tunnel_frames(
    frames: &[Vec<u8>],
    mac: [u8; 6],
    tun: Tun,
    rip: std::net::Ipv4Addr,
) -> usize {
    let mut n = 0;
    for (i, f) in frames.iter().enumerate() {
        let Some(e) = eth(f) else { continue };
        if e.src != mac || e.ethertype != 0x0800 {
            continue;
        }
        if let Err(why) = check_tunnel_frame(f, tun, DIP, rip, CLIENT, VIP) {
            panic!(
                "{} frame {i} toward {rip}: {why}; frame {:02x?}",
                tun.name(),
                &f[..f.len().min(80)]
            );
        }
        n += 1;
    }
    n
}

/// Large UDP through the director (`frag.rs`): 4 requests of 4000 bytes,
/// which the client's kernel sends in fragments, each answered with 5000
/// bytes (fragmented by the real server's kernel, straight to the client
/// for DR and TUN); every answer whole and from a real server of `rss`.
fn big_udp(l: &DrLab, what: &str, rss: &[usize]) {
    let before = l.stats();
    let answers = l.udp_client("big", UDP_PORT, 4);
    let after = l.stats();
    println!(
        "DR-MEASURE {what} fragmented UDP answers={answers:?} rx_fragments=+{} fwd_in=+{} tx_fragments=+{} frag_held=+{}",
        delta(&before, &after, "rx_fragments"),
        delta(&before, &after, "fwd_in"),
        delta(&before, &after, "tx_fragments"),
        delta(&before, &after, "frag_held"),
    );
    assert_eq!(answers.len(), 4, "{what}: {answers:?}");
    for a in &answers {
        let ok = rss.iter().any(|&n| *a == format!("{} 5000 ok", rs_name(n)));
        assert!(ok, "{what}: a whole answer from a real server: {answers:?}");
    }
    assert!(delta(&before, &after, "rx_fragments") >= 12, "{what}");
}

/// The HTTP and UDP parts of the seed scenario through whatever forwards
/// VIP traffic to real servers 1 and 2 (`both`) or to one (`only`).
fn seed_traffic(l: &DrLab, only: Option<usize>) -> (Vec<String>, Vec<String>, Duration) {
    let t0 = Instant::now();
    let bodies = l.http_bodies(REQUESTS);
    let took = t0.elapsed();
    let udp = udp_names(&l.udp_client("ask", UDP_PORT, UDP_REQUESTS));
    match only {
        Some(n) => {
            let want = vec![rs_name(n); REQUESTS];
            assert_eq!(bodies, want, "HTTP through the stand-in");
            assert_eq!(
                udp,
                vec![rs_name(n); UDP_REQUESTS],
                "UDP through the stand-in"
            );
        }
        None => {
            let (a, b) = (rs_name(1), rs_name(2));
            assert_eq!(bodies.len(), REQUESTS, "HTTP answers: {bodies:?}");
            assert!(
                alternates(&bodies, &a, &b),
                "HTTP does not alternate: {bodies:?}"
            );
            assert_eq!(udp.len(), UDP_REQUESTS, "UDP answers: {udp:?}");
            assert!(alternates(&udp, &a, &b), "UDP does not alternate: {udp:?}");
        }
    }
    (bodies, udp, took)
}

/// The lab without ringvs: the director namespace's kernel routes (DR: the
/// VIP via rs1; TUN: the VIP into a TUN device read by `kernel_tunnel.py`),
/// so the topology, the real servers' setup, the decapsulating helper, the
/// frame checks and the PMTU probe are shown to work on their own.
#[test]
fn lab_self_check_with_kernel_stand_ins() {
    let Some((_serial, mut l)) = dr::lab() else {
        return;
    };
    l.kernel_director();
    l.start_http(&[1, 3]);
    l.start_udp_echo(&[1, 3], UDP_PORT);
    let d = l.ns_director();
    let int_mac = l.mac(&d, "int0");
    let vip32 = format!("{VIP}/32");

    // DR: the kernel forwards to rs1's MAC; rs1 answers through the router.
    let rip1 = rs_addr(1).to_string();
    ringvs::lab::ip(&[
        "-n", &d, "route", "add", &vip32, "via", &rip1, "dev", "int0",
    ])
    .expect("route");
    let cap = l.capture("self-dr", "pdi", "ip dst 198.18.0.110");
    seed_traffic(&l, Some(1));
    assert_eq!(l.curl(), rs_name(1), "curl through the kernel's DR");
    let rs1_mac = l.mac(&l.ns_rs(1), "eth0");
    let frames = cap.finish(Duration::from_secs(2), |f| !f.is_empty());
    assert!(!frames.is_empty(), "no DR frame on the real-server segment");
    for f in &frames {
        let e = eth(f).expect("frame");
        assert_eq!(e.dst, rs1_mac, "DR frame not to rs1's MAC");
        let p = ip4(e.payload).expect("IPv4");
        assert_eq!((p.src, p.dst), (CLIENT, VIP));
    }
    // The replies went through the router.
    let routed = l.router_forwarded();
    assert!(
        routed >= (REQUESTS * 3) as u64,
        "the router forwarded {routed}"
    );
    println!(
        "DR-MEASURE self-check dr frames={} router_forwarded={routed}",
        frames.len()
    );
    ringvs::lab::ip(&["-n", &d, "route", "del", &vip32]).expect("route del");

    // TUN: each encapsulation to rs1, then IPIP to rs3 behind the router.
    let decap1 = l.start_decap(1, &["--ipip", "--gre", "--gue", &GUE_PORT.to_string()]);
    let decap3 = l.start_decap(3, &["--ipip"]);
    let tunnels = [
        (Tun::Ipip, 1),
        (
            Tun::Gue {
                port: GUE_PORT,
                csum: false,
            },
            1,
        ),
        (Tun::Gre, 1),
        (Tun::Ipip, 3),
    ];
    for (tun, n) in tunnels {
        let rip = rs_addr(n).to_string();
        let args = [
            "kd0",
            tun.name(),
            &DIP.to_string(),
            &rip,
            &GUE_PORT.to_string(),
            dr::MAX_SECS,
        ];
        let name = format!("stand-in-{}-rs{n}", tun.name());
        l.spawn_python(&name, &d, "kernel_tunnel.py", &args);
        ringvs::lab::ip(&["-n", &d, "route", "replace", &vip32, "dev", "kd0"]).expect("route");
        let port = if n == 3 { "prs3" } else { "pdi" };
        let cap = l.capture(&format!("self-{}-{n}", tun.name()), port, "ip and not arp");
        let before = lines_of(if n == 3 { &decap3 } else { &decap1 }).len();
        let t0 = Instant::now();
        seed_traffic(&l, Some(n));
        let took = t0.elapsed();
        // Checked where the director sends them, or behind the router (the
        // router's MAC, TTL one less).
        let src_mac = if n == 3 {
            l.mac(&l.ns_router(), "r2")
        } else {
            int_mac
        };
        let decap = if n == 3 { &decap3 } else { &decap1 };
        let (frames, sent, decapped) = settle(
            cap,
            |f| per_outer_dst(f, &[rs_addr(n)]),
            || vec![lines_of(decap).len() - before],
        );
        let count = assert_tunnel_frames(&frames, src_mac, tun, rs_addr(n));
        assert_eq!(
            sent,
            vec![count],
            "{}: every IPv4 frame is a tunnel frame",
            tun.name()
        );
        assert!(
            count >= REQUESTS * 4,
            "{} frames to rs{n}: {count}",
            tun.name()
        );
        assert_eq!(decapped, sent, "decap lines vs frames ({})", tun.name());
        println!(
            "DR-MEASURE self-check tun={} rs={n} frames={count} secs={:.3}",
            tun.name(),
            took.as_secs_f64()
        );

        // PMTU: the stand-in's TUN device has the tunnel's MTU; the kernel's
        // forwarding answers a DF packet too big for it.
        let mtu = 1500 - tun.overhead();
        ringvs::lab::ip(&["-n", &d, "link", "set", "kd0", "mtu", &mtu.to_string()]).expect("mtu");
        let probe = l.pmtu_probe(UDP_PORT, 1500 - 28);
        assert_eq!(
            (probe["type"].as_u64(), probe["code"].as_u64()),
            (Some(3), Some(4)),
            "{probe}"
        );
        assert_eq!(probe["info"].as_u64(), Some(mtu as u64), "{probe}");
        assert_eq!(probe["ip_mtu"].as_u64(), Some(mtu as u64), "{probe}");
        // The route cache keeps the MTU; drop it for the next round.
        ringvs::lab::ip(&["-n", &l.ns_client(), "route", "flush", "cache"]).expect("flush");
        l.stop(&name);
    }
}

/// The seed's services on the running director: TCP VIP:80 and UDP VIP:53,
/// round robin (with `service_opts`) over real servers `rss` with `fwd`
/// (`-g`, or `-i` and its options).
fn add_services(l: &DrLab, rss: &[usize], service_opts: &[&str], fwd: &[String]) {
    for (proto, port) in [("-t", 80), ("-u", UDP_PORT)] {
        let vip = format!("{VIP}:{port}");
        let mut add = vec!["-A", proto, &vip, "-s", "rr"];
        if proto == "-t" {
            add.extend_from_slice(service_opts);
        }
        l.adm(&add);
        for &n in rss {
            let rip = format!("{}:{port}", rs_addr(n));
            let mut a = vec!["-a", proto, &vip, "-r", &rip];
            a.extend(fwd.iter().map(String::as_str));
            l.adm(&a);
        }
    }
}

/// What the director sent toward the client side while `run` ran: a capture
/// of everything from its external MAC, and its counters. Asserts it was ARP
/// only: no IPv4 frame on the wire, `fwd_out` 0, and no more `tx_ext` than
/// ARP frames captured. Returns `run`'s value, the counters before and after.
fn nothing_back<T>(
    l: &mut DrLab,
    name: &str,
    run: impl FnOnce(&mut DrLab) -> T,
) -> (T, serde_json::Value, serde_json::Value) {
    let ext_mac = l.mac(&l.ns_director(), "ext0");
    let filter = format!("ether src {}", fmt_mac(&ext_mac));
    let cap = l.capture(&format!("{name}-ext"), "pdx", &filter);
    // A frame sent before the capture started must be in `before`, not in
    // the difference: the counters once nothing is in flight.
    let before = l.settled_stats();
    let value = run(l);
    let after = l.settled_stats();
    let frames = cap.finish(Duration::from_millis(300), |_| false);
    let (arp, ipv4, other) = by_kind(&frames, ext_mac);
    assert_eq!(
        (ipv4, other),
        (0, 0),
        "{name}: the director sent IPv4 ({ipv4}) or other ({other}) frames toward the clients"
    );
    assert_eq!(
        delta(&before, &after, "fwd_out"),
        0,
        "{name}: fwd_out moved"
    );
    let tx_ext = delta(&before, &after, "tx_ext");
    let moved: Vec<String> = ringvs::stats::Ctr::ALL
        .iter()
        .map(|c| (c.name(), delta(&before, &after, c.name())))
        .filter(|(_, d)| *d > 0)
        .map(|(n, d)| format!("{n} +{d}"))
        .collect();
    assert!(
        tx_ext <= arp as u64,
        "{name}: tx_ext +{tx_ext} but only {arp} ARP frames went out on ext0 (counters moved: {moved:?})"
    );
    (value, before, after)
}

/// `-L -n` line of real server `rip:port`: its words.
fn listed(l: &DrLab, rip: &str) -> Option<Vec<String>> {
    l.adm(&["-L", "-n"])
        .lines()
        .find(|line| line.split_whitespace().nth(1) == Some(rip))
        .map(|line| line.split_whitespace().map(str::to_owned).collect())
}

/// The seed scenario with `-g`: HTTP (ringvs's client and curl) and UDP
/// alternate between rs1 and rs2, replies come back through the router, the
/// director forwards the client's IP packets byte for byte with only the
/// destination MAC changed, and sends nothing to the client but ARP.
#[test]
fn dr_seed_scenario_replies_bypass_the_director() {
    let Some((_serial, mut l)) = dr::lab() else {
        return;
    };
    l.start_http(&[1, 2]);
    l.start_udp_echo(&[1, 2], UDP_PORT);
    l.start_director(&[]);
    add_services(&l, &[1, 2], &[], &["-g".to_owned()]);
    let list = l.adm(&["-L", "-n"]);
    for n in 1..=2 {
        let words = listed(&l, &format!("{}:80", rs_addr(n)));
        assert_eq!(
            words.as_ref().and_then(|w| w.get(2)).map(String::as_str),
            Some("Route"),
            "{list}"
        );
    }
    // Warm up: ARP on both segments.
    assert!(l.curl().starts_with("i am rs"), "first curl: {}", l.curl());

    let int_mac = l.mac(&l.ns_director(), "int0");
    let rs_macs = [l.mac(&l.ns_rs(1), "eth0"), l.mac(&l.ns_rs(2), "eth0")];
    let sent = l.capture("dr-client", "pcli", "ip dst 198.18.0.110");
    let fwd = l.capture("dr-int", "pdi", "ip dst 198.18.0.110");
    let routed_before = l.router_forwarded();
    let ((took, curls), before, after) = nothing_back(&mut l, "dr", |l| {
        let (_, _, took) = seed_traffic(l, None);
        let curls = [l.curl(), l.curl()];
        (took, curls)
    });
    let routed = l.router_forwarded() - routed_before;
    assert!(
        routed >= (REQUESTS * 3) as u64,
        "the router forwarded {routed} replies"
    );
    let mut curls_sorted = curls.clone();
    curls_sorted.sort();
    assert_eq!(curls_sorted, [rs_name(1), rs_name(2)], "two curls");

    // Byte for byte: each frame on the real-server segment carries one of the
    // client's IP packets, from the director's MAC to a real server's.
    let sent = sent.finish(Duration::from_millis(300), |_| false);
    let mut client_packets: Vec<Vec<u8>> = sent
        .iter()
        .filter_map(|f| Some(ip4(eth(f)?.payload)?.packet.to_vec()))
        .collect();
    let n_client = client_packets.len();
    let fwd = fwd.finish(Duration::from_secs(2), |f| f.len() >= n_client);
    let mut per_rs = [0usize; 2];
    for f in &fwd {
        let e = eth(f).expect("frame");
        assert_eq!(
            e.src, int_mac,
            "a frame to the VIP on the real servers' segment not from the director"
        );
        let rs = rs_macs.iter().position(|m| *m == e.dst);
        let rs =
            rs.unwrap_or_else(|| panic!("DR frame to {}, no real server's MAC", fmt_mac(&e.dst)));
        per_rs[rs] += 1;
        let p = ip4(e.payload).expect("IPv4").packet;
        let at = client_packets.iter().position(|c| c == p);
        let at =
            at.unwrap_or_else(|| panic!("forwarded packet not as the client sent it: {p:02x?}"));
        client_packets.swap_remove(at);
    }
    assert!(
        client_packets.is_empty(),
        "{} client packets not forwarded",
        client_packets.len()
    );
    let fwd_in = delta(&before, &after, "fwd_in");
    assert!(
        fwd_in >= fwd.len() as u64,
        "fwd_in +{fwd_in} < {} frames forwarded",
        fwd.len()
    );
    assert!(
        per_rs[0] > 0 && per_rs[1] > 0,
        "frames per real server {per_rs:?}"
    );
    big_udp(&l, "dr", &[1, 2]);
    println!(
        "DR-MEASURE dr http requests={REQUESTS} secs={:.3} rps={:.0} frames_in={} per_rs={per_rs:?} \
         fwd_in=+{fwd_in} fwd_out=+{} tx_int=+{} tx_ext=+{} arp_reply=+{} router_forwarded=+{routed}",
        took.as_secs_f64(),
        REQUESTS as f64 / took.as_secs_f64(),
        fwd.len(),
        delta(&before, &after, "fwd_out"),
        delta(&before, &after, "tx_int"),
        delta(&before, &after, "tx_ext"),
        delta(&before, &after, "arp_reply"),
    );
}

/// `-g` with persistence and a TCP health check: one client sticks to one
/// real server; when that server's HTTP server stops, the check takes it out
/// (weight 0 in `-L`), the client moves to the other, and stays there once
/// the first is back.
#[test]
fn dr_persistence_and_health_checks() {
    let Some((_serial, mut l)) = dr::lab() else {
        return;
    };
    l.start_http(&[1, 2]);
    l.start_udp_echo(&[1, 2], UDP_PORT);
    l.start_director(&[]);
    #[rustfmt::skip]
    let opts = ["-p", "60", "--check", "tcp", "--delay-loop", "1", "--connect-timeout", "1", "--retry", "0"];
    add_services(&l, &[1, 2], &opts, &["-g".to_owned()]);
    let ((first, udp), _, _) = nothing_back(&mut l, "dr-persist", |l| {
        (
            l.http_bodies(10),
            udp_names(&l.udp_client("ask", UDP_PORT, 4)),
        )
    });
    let x = match first.first().map(String::as_str) {
        Some("i am rs1") => 1,
        Some("i am rs2") => 2,
        other => panic!("first answer {other:?}"),
    };
    let y = 3 - x;
    assert_eq!(
        first,
        vec![rs_name(x); 10],
        "persistence: one server for the client"
    );
    assert!(
        alternates(&udp, &rs_name(1), &rs_name(2)),
        "UDP (not persistent): {udp:?}"
    );

    let rip_x = format!("{}:80", rs_addr(x));
    let weight = |l: &DrLab| listed(l, &rip_x).and_then(|w| w.get(3).cloned());
    assert_eq!(weight(&l).as_deref(), Some("1"), "{}", l.adm(&["-L", "-n"]));
    l.stop(&format!("http-rs{x}"));
    let t0 = Instant::now();
    let down = wait_for(Duration::from_secs(10), || {
        (weight(&l).as_deref() == Some("0")).then_some(())
    });
    let down_secs = t0.elapsed().as_secs_f64();
    assert!(
        down.is_some(),
        "rs{x} not taken out: {}\n{}",
        l.adm(&["-L", "-n"]),
        l.log("director")
    );
    let moved = l.http_bodies(5);
    assert_eq!(moved, vec![rs_name(y); 5], "after rs{x} went down");

    l.start_http(&[x]);
    let t1 = Instant::now();
    let up = wait_for(Duration::from_secs(10), || {
        (weight(&l).as_deref() == Some("1")).then_some(())
    });
    let up_secs = t1.elapsed().as_secs_f64();
    assert!(up.is_some(), "rs{x} not back: {}", l.adm(&["-L", "-n"]));
    let stays = l.http_bodies(5);
    assert_eq!(
        stays,
        vec![rs_name(y); 5],
        "persistence after rs{x} came back"
    );
    println!(
        "DR-MEASURE dr health down_secs={down_secs:.2} up_secs={up_secs:.2} (delay_loop 1, connect_timeout 1, retry 0)"
    );
}

/// The checks of one tunnel: the seed scenario over `tun` to rs1 and rs2,
/// each frame the director sends on the real servers' segment checked, as
/// many decapsulated as sent, nothing back toward the client.
fn tun_round(l: &mut DrLab, round: usize, tun: Tun, decaps: &[dr::Lines; 2]) {
    l.adm(&["-C"]);
    l.client_ports(round);
    add_services(l, &[1, 2], &[], &tun.adm_opts());
    let info = l.adm(&["-L", "-n", "--tun-info"]);
    for n in 1..=2 {
        let words = listed(l, &format!("{}:80", rs_addr(n)));
        assert_eq!(
            words.as_ref().and_then(|w| w.get(2)).map(String::as_str),
            Some("Tunnel")
        );
    }
    assert!(
        info.to_lowercase().contains(tun.name()),
        "--tun-info without {}: {info}",
        tun.name()
    );
    if let Tun::Gue { port, .. } = tun {
        assert!(
            info.contains(&port.to_string()),
            "--tun-info without the port: {info}"
        );
    }
    // Warm up the neighbours.
    let _ = l.http_bodies(2);
    let int_mac = l.mac(&l.ns_director(), "int0");
    let cap = l.capture(
        &format!("tun-{}", tun.name()),
        "pdi",
        &format!("ether src {} and ip", fmt_mac(&int_mac)),
    );
    let start = [lines_of(&decaps[0]).len(), lines_of(&decaps[1]).len()];
    let ((_, _, took), before, after) = nothing_back(l, tun.name(), |l| seed_traffic(l, None));
    let (frames, _, decapped) = settle(
        cap,
        |f| per_outer_dst(f, &[rs_addr(1), rs_addr(2)]),
        || {
            (0..2)
                .map(|i| lines_of(&decaps[i]).len() - start[i])
                .collect()
        },
    );
    let mut per_rs = [0usize; 2];
    for (i, f) in frames.iter().enumerate() {
        let outer_dst = eth(f).and_then(|e| ip4(e.payload)).map(|p| p.dst);
        let n = (1..=2).find(|&n| Some(rs_addr(n)) == outer_dst);
        let n = n
            .unwrap_or_else(|| panic!("{} frame {i} to {outer_dst:?}, no real server", tun.name()));
        if let Err(why) = check_tunnel_frame(f, tun, DIP, rs_addr(n), CLIENT, VIP) {
            panic!(
                "{} frame {i} toward rs{n}: {why}; {:02x?}",
                tun.name(),
                &f[..f.len().min(80)]
            );
        }
        per_rs[n - 1] += 1;
    }
    assert_eq!(
        per_rs.to_vec(),
        decapped,
        "{}: frames sent vs decapsulated per real server",
        tun.name()
    );
    for (i, lines) in decaps.iter().enumerate() {
        let drops: Vec<String> = lines_of(lines)
            .into_iter()
            .filter(|l| l.starts_with("drop"))
            .collect();
        assert!(
            drops.is_empty(),
            "rs{} dropped tunnel packets: {drops:?}",
            i + 1
        );
    }
    let fwd_in = delta(&before, &after, "fwd_in");
    assert!(
        fwd_in >= frames.len() as u64,
        "fwd_in +{fwd_in}, {} frames",
        frames.len()
    );
    big_udp(l, tun.name(), &[1, 2]);
    println!(
        "DR-MEASURE tun={} requests={REQUESTS} secs={:.3} rps={:.0} frames={} per_rs={per_rs:?} overhead={} fwd_in=+{fwd_in} fwd_out=+{} tx_ext=+{}",
        tun.name(),
        took.as_secs_f64(),
        REQUESTS as f64 / took.as_secs_f64(),
        frames.len(),
        tun.overhead(),
        delta(&before, &after, "fwd_out"),
        delta(&before, &after, "tx_ext"),
    );
}

/// `-i` over IPIP, GUE (UDP checksum off, then on) and GRE.
#[test]
fn tun_seed_scenario_over_ipip_gue_and_gre() {
    let Some((_serial, mut l)) = dr::lab() else {
        return;
    };
    l.start_http(&[1, 2]);
    l.start_udp_echo(&[1, 2], UDP_PORT);
    let port = GUE_PORT.to_string();
    let decaps = [
        l.start_decap(1, &["--ipip", "--gre", "--gue", &port]),
        l.start_decap(2, &["--ipip", "--gre", "--gue", &port]),
    ];
    l.start_director(&[]);
    let tuns = [
        Tun::Ipip,
        Tun::Gue {
            port: GUE_PORT,
            csum: false,
        },
        Tun::Gue {
            port: GUE_PORT,
            csum: true,
        },
        Tun::Gre,
    ];
    for (round, tun) in tuns.into_iter().enumerate() {
        tun_round(&mut l, round, tun, &decaps);
    }
}

/// `-i` to rs3, behind the router: the outer packets go to the router's MAC
/// (`--int-gateway`), arrive at rs3 and the answers come back to the client.
#[test]
fn tun_to_an_off_link_real_server_through_the_int_gateway() {
    let Some((_serial, mut l)) = dr::lab() else {
        return;
    };
    l.start_http(&[3]);
    l.start_udp_echo(&[3], UDP_PORT);
    let decap = l.start_decap(3, &["--ipip"]);
    l.start_director(&["--int-gateway", &dr::ROUTER_INT.to_string()]);
    // A health check too: from the DIP through the router to rs3 and back.
    #[rustfmt::skip]
    let check = ["--check", "tcp", "--delay-loop", "1", "--connect-timeout", "1", "--retry", "0"];
    add_services(&l, &[3], &check, &Tun::Ipip.adm_opts());
    let _ = l.http_bodies(1);
    let int_mac = l.mac(&l.ns_director(), "int0");
    let router_mac = l.mac(&l.ns_router(), "r1");
    let cap = l.capture(
        "tun-far",
        "pdi",
        // The tunnel only: the health checks (TCP from the DIP) go that way too.
        &format!("ether src {} and ip proto 4", fmt_mac(&int_mac)),
    );
    let start = lines_of(&decap).len();
    let ((_, _, took), _, _) = nothing_back(&mut l, "tun-far", |l| seed_traffic(l, Some(3)));
    let (frames, _, decapped) = settle(
        cap,
        |f| per_outer_dst(f, &[rs_addr(3)]),
        || vec![lines_of(&decap).len() - start],
    );
    for (i, f) in frames.iter().enumerate() {
        let e = eth(f).expect("frame");
        assert_eq!(
            e.dst, router_mac,
            "frame {i} to rs3 not sent to the router's MAC"
        );
    }
    let count = assert_tunnel_frames(&frames, int_mac, Tun::Ipip, rs_addr(3));
    assert_eq!(vec![count], decapped, "frames sent vs decapsulated on rs3");
    // Checks every second, one failure takes a server down: after 3 s of
    // checks through the router rs3 must still be up (weight 1, listed).
    std::thread::sleep(Duration::from_secs(3));
    let rip = format!("{}:80", rs_addr(3));
    let w = listed(&l, &rip).and_then(|w| w.get(3).cloned());
    assert_eq!(
        w.as_deref(),
        Some("1"),
        "the off-link server's health checks go through the router: {}",
        l.adm(&["-L", "-n"])
    );
    println!(
        "DR-MEASURE tun=ipip off-link requests={REQUESTS} secs={:.3} frames={count}",
        took.as_secs_f64()
    );
}

/// A DF datagram that fits the real servers' segment (1500) but not once
/// encapsulated gets ICMP "fragmentation needed" with 1500 less the
/// overhead; one of exactly that size passes; a big one without DF goes in
/// fragments, which the real server reassembles, and is answered.
#[test]
fn tun_pmtu_frag_needed_carries_the_mtu_less_the_overhead() {
    let Some((_serial, mut l)) = dr::lab() else {
        return;
    };
    l.start_http(&[1]);
    l.start_udp_echo(&[1], UDP_PORT);
    let port = GUE_PORT.to_string();
    l.start_decap(1, &["--ipip", "--gre", "--gue", &port]);
    l.start_director(&[]);
    let tuns = [
        Tun::Ipip,
        Tun::Gue {
            port: GUE_PORT,
            csum: false,
        },
        Tun::Gre,
    ];
    for (round, tun) in tuns.into_iter().enumerate() {
        l.adm(&["-C"]);
        l.client_ports(round);
        add_services(&l, &[1], &[], &tun.adm_opts());
        let mtu = 1500 - tun.overhead();
        let small = udp_names(&l.udp_client("ask", UDP_PORT, 1));
        assert_eq!(small, vec![rs_name(1)], "{}: a small datagram", tun.name());
        let before = l.stats();
        let fits = l.pmtu_probe(UDP_PORT, mtu - 28);
        assert_eq!(
            fits["answered"].as_bool(),
            Some(true),
            "{}: {} bytes should fit: {fits}",
            tun.name(),
            mtu
        );
        let probe = l.pmtu_probe(UDP_PORT, 1500 - 28);
        let after = l.stats();
        assert_eq!(
            (probe["type"].as_u64(), probe["code"].as_u64()),
            (Some(3), Some(4)),
            "{}: {probe}",
            tun.name()
        );
        assert_eq!(
            probe["info"].as_u64(),
            Some(mtu as u64),
            "{}: next-hop MTU: {probe}",
            tun.name()
        );
        assert_eq!(
            probe["ip_mtu"].as_u64(),
            Some(mtu as u64),
            "{}: the client's path MTU: {probe}",
            tun.name()
        );
        assert!(
            delta(&before, &after, "icmp_frag_needed") >= 1,
            "{}: icmp_frag_needed",
            tun.name()
        );
        ringvs::lab::ip(&["-n", &l.ns_client(), "route", "flush", "cache"]).expect("flush");
        // Without DF the tunnel packet goes in fragments, which the real
        // server's kernel reassembles: the datagram is answered.
        let before = l.stats();
        let nodf = l.udp_client("nodf", UDP_PORT, 1500 - 28);
        let after = l.stats();
        assert_eq!(
            nodf.last(),
            Some(&format!("{} {}", rs_name(1), 1500 - 28)),
            "{}: a 1500-byte datagram without DF: {nodf:?}",
            tun.name()
        );
        let frags = delta(&before, &after, "tx_fragments");
        assert!(frags >= 2, "{}: tx_fragments +{frags}", tun.name());
        println!(
            "DR-MEASURE pmtu tun={} mtu={} offender={} fits={} nodf_1500={:?} tx_fragments=+{frags}",
            tun.name(),
            probe["info"],
            probe["offender"],
            fits["answered"],
            nodf.last().map(String::as_str).unwrap_or(""),
        );
    }
}

/// Path MTU discovery of DR and TUN replies, which never cross the
/// director: the router's link to the client is narrowed to 1400 bytes, so
/// the real server's full-size replies (MSS 1460 from the client's 1500) do
/// not fit, and the router tells their source, the VIP, with "fragmentation
/// needed". The director sends that error on to the connection's real server
/// untranslated, as IPVS hands it to the connection's transmitter
/// (`ip_vs_icmp_xmit`, `ip_vs_xmit.c`), and the server's kernel, which holds
/// the VIP, lowers its path MTU to the client: the transfer completes.
/// Translated as for NAT (to the RIP, the quote rewritten), the error would
/// name a socket the server does not have, and the transfer would stall.
#[test]
fn dr_and_tun_replies_learn_the_path_mtu_from_a_routers_error() {
    const BODY_LEN: usize = 64 * 1024;
    let Some((_serial, mut l)) = dr::lab() else {
        return;
    };
    let body = dr::alphabet(BODY_LEN);
    let served = body.clone();
    l.start_http_with(&[1], move |_| served.clone());
    l.start_decap(1, &["--ipip"]);
    l.start_director(&[]);
    ringvs::lab::ip(&["-n", &l.ns_router(), "link", "set", "r0", "mtu", "1400"]).expect("r0 mtu");
    let methods = [("dr", vec!["-g".to_owned()]), ("tun", Tun::Ipip.adm_opts())];
    for (round, (name, fwd)) in methods.into_iter().enumerate() {
        l.adm(&["-C"]);
        l.client_ports(round);
        // The real server forgets what the last round taught it.
        ringvs::lab::ip(&["-n", &l.ns_rs(1), "route", "flush", "cache"]).expect("flush");
        add_services(&l, &[1], &[], &fwd);
        let before = l.stats();
        let got = l.fetch(&format!("http://{VIP}/"), 10);
        let after = l.stats();
        let d = |c: &str| delta(&before, &after, c);
        assert!(
            got.as_deref().map(str::trim_end) == Ok(&body),
            "{name}: {:.80?}; icmp_error_direct +{}, icmp_error_nat +{}",
            got.as_ref().map(String::len),
            d("icmp_error_direct"),
            d("icmp_error_nat"),
        );
        let got = got.unwrap_or_default();
        assert!(d("icmp_error_direct") >= 1, "{name}: no error sent on");
        assert_eq!(d("icmp_error_nat"), 0, "{name}");
        // The real server's kernel took the MTU from the router's error.
        let route = ringvs::lab::ns_run(&l.ns_rs(1), "ip", &["route", "get", &CLIENT.to_string()])
            .expect("ip route get");
        assert!(route.contains("mtu 1400"), "{name}: {route}");
        println!(
            "DR-MEASURE pmtu-reply {name} bytes={} icmp_error_direct=+{} fwd_in=+{} tunnel_encap=+{}",
            got.trim_end().len(),
            d("icmp_error_direct"),
            d("fwd_in"),
            d("tunnel_encap"),
        );
    }
}

/// A narrower link between the router and an off-link TUN real server
/// (rs3's segment at 1400 bytes): a client datagram that fits the director's
/// tunnel MTU no longer fits that link once encapsulated, and the router
/// tells the tunnel packet's source, the DIP. The director turns that into
/// "fragmentation needed" about the client's own datagram, from the VIP,
/// with the link's MTU less the tunnel's overhead, as IPVS does for IPv4 in
/// IPv4 (`ip_vs_in_icmp`'s tunnel case): the client's path MTU drops so
/// that its datagrams fit the tunnel, and they are answered again. The
/// director keeps that path MTU for rs3 (`ipv4_update_pmtu`), so in the
/// next rounds (other encapsulations, the client's cache flushed) it tells
/// the client itself.
#[test]
fn tun_a_routers_error_about_the_tunnel_packet_reaches_the_client() {
    let Some((_serial, mut l)) = dr::lab() else {
        return;
    };
    l.start_udp_echo(&[3], UDP_PORT);
    let port = GUE_PORT.to_string();
    l.start_decap(3, &["--ipip", "--gre", "--gue", &port]);
    l.start_director(&["--int-gateway", &dr::ROUTER_INT.to_string()]);
    ringvs::lab::ip(&["-n", &l.ns_router(), "link", "set", "r2", "mtu", "1400"]).expect("r2 mtu");
    let tuns = [
        Tun::Ipip,
        Tun::Gue {
            port: GUE_PORT,
            csum: true,
        },
        Tun::Gre,
    ];
    for (round, tun) in tuns.into_iter().enumerate() {
        l.adm(&["-C"]);
        l.client_ports(round);
        ringvs::lab::ip(&["-n", &l.ns_client(), "route", "flush", "cache"]).expect("flush");
        add_services(&l, &[3], &[], &tun.adm_opts());
        let small = udp_names(&l.udp_client("ask", UDP_PORT, 1));
        assert_eq!(small, vec![rs_name(3)], "{}: a small datagram", tun.name());
        let mtu = 1400 - tun.overhead();
        let before = l.stats();
        // Fits the director's tunnel MTU (1500 less the overhead), not the far link.
        let probe = l.pmtu_probe(UDP_PORT, 1500 - tun.overhead() - 28);
        let after = l.stats();
        let d = |c: &str| delta(&before, &after, c);
        assert_eq!(
            (probe["type"].as_u64(), probe["code"].as_u64()),
            (Some(3), Some(4)),
            "{}: {probe}; icmp_error_tunnel +{}, drop_icmp_no_conn +{}",
            tun.name(),
            d("icmp_error_tunnel"),
            d("drop_icmp_no_conn")
        );
        assert_eq!(
            probe["info"].as_u64(),
            Some(mtu as u64),
            "{}: {probe}",
            tun.name()
        );
        assert_eq!(
            probe["offender"].as_str(),
            Some("198.18.0.110"),
            "from the VIP"
        );
        assert_eq!(probe["ip_mtu"].as_u64(), Some(mtu as u64), "{}", tun.name());
        // The first round learns from the router; the director keeps that
        // path MTU for rs3 (as IPVS keeps it in its route), so in the later
        // rounds it answers the too-big datagram itself.
        let (from_router, own) = (d("icmp_error_tunnel"), d("icmp_frag_needed"));
        if round == 0 {
            assert!(
                from_router >= 1 && own == 0,
                "{}: {from_router} {own}",
                tun.name()
            );
        } else {
            assert!(
                from_router == 0 && own >= 1,
                "{}: {from_router} {own}",
                tun.name()
            );
        }
        // What fits the far link less the overhead is answered.
        let fits = l.pmtu_probe(UDP_PORT, mtu - 28);
        assert_eq!(
            fits["answered"].as_bool(),
            Some(true),
            "{}: {fits}",
            tun.name()
        );
        println!(
            "DR-MEASURE pmtu-tunnel tun={} info={} offender={} icmp_error_tunnel=+{from_router} icmp_frag_needed=+{own}",
            tun.name(),
            probe["info"],
            probe["offender"],
        );
    }
}

/// The forwarding methods the wrk measurement compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Nat,
    Dr,
    Tun,
}

impl Method {
    const ALL: [Method; 3] = [Method::Nat, Method::Dr, Method::Tun];

    fn name(self) -> &'static str {
        match self {
            Method::Nat => "nat",
            Method::Dr => "dr",
            Method::Tun => "tun",
        }
    }

    /// `ringvs adm -a` options of the real servers.
    fn adm_opts(self) -> Vec<String> {
        match self {
            Method::Nat => vec!["-m".to_owned()],
            Method::Dr => vec!["-g".to_owned()],
            Method::Tun => Tun::Ipip.adm_opts(),
        }
    }

    /// The real servers' default gateway: replies of NAT go back through
    /// the director (the DIP), those of DR and TUN through the router.
    fn gateway(self) -> std::net::Ipv4Addr {
        match self {
            Method::Nat => DIP,
            Method::Dr | Method::Tun => dr::ROUTER_INT,
        }
    }
}

/// Seconds of one wrk run.
const WRK_SECS: u32 = 5;
/// wrk's connections (`-c`), on one thread (`-t1`).
const WRK_CONNS: u32 = 16;
/// Runs per method and kind, interleaved.
const WRK_RUNS: usize = 3;

/// One wrk run and what the director and the machine spent on it.
struct Sample {
    method: Method,
    close: bool,
    rps: f64,
    requests: u64,
    /// The director's CPU time (utime + stime of the ringvs process).
    dir_cpu: f64,
    /// The machine's busy CPU time, both cores.
    machine_cpu: f64,
    /// wrk's CPU time (one thread).
    wrk_cpu: f64,
    /// Both nginx's CPU time (one worker each).
    nginx_cpu: f64,
    /// Both TUN decapsulators' CPU time (`tun_decap.py`).
    decap_cpu: f64,
}

fn kind_name(close: bool) -> &'static str {
    if close { "close" } else { "keepalive" }
}

/// The median of `v` (the mean of the middle two for an even count).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    assert!(n > 0, "median of nothing");
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The connections of each real server since the last `-Z` (`-L -n
/// --stats`, the Conns column).
fn conns_per_rs(l: &DrLab) -> [u64; 2] {
    let list = l.adm(&["-L", "-n", "--stats"]);
    let conns = |n: usize| {
        let rip = format!("{}:80", rs_addr(n));
        list.lines()
            .map(|line| line.split_whitespace().collect::<Vec<_>>())
            .find(|w| w.get(1) == Some(&rip.as_str()))
            .and_then(|w| w.get(2)?.parse().ok())
            .unwrap_or_else(|| panic!("no Conns of {rip} in:\n{list}"))
    };
    [conns(1), conns(2)]
}

/// Puts the lab in `m`: the real servers' gateway, the service VIP:80
/// round robin over rs1 and rs2 with `m`'s option, and four curls that
/// alternate between them through the new path.
fn use_method(l: &DrLab, m: Method) {
    l.set_rs_gateway(&[1, 2], m.gateway());
    l.adm(&["-C"]);
    let vip = format!("{VIP}:80");
    l.adm(&["-A", "-t", &vip, "-s", "rr"]);
    for n in 1..=2 {
        let rip = format!("{}:80", rs_addr(n));
        let mut a = vec!["-a", "-t", &vip, "-r", &rip];
        let opts = m.adm_opts();
        a.extend(opts.iter().map(String::as_str));
        l.adm(&a);
    }
    let bodies: Vec<String> = (0..4).map(|_| l.curl()).collect();
    assert!(
        alternates(&bodies, &rs_name(1), &rs_name(2)),
        "{}: curl does not alternate: {bodies:?}",
        m.name()
    );
}

/// One wrk run through the director in method `m`, keep-alive or a new
/// connection a request (`close`), with the director's and the machine's
/// CPU time over it. Checks the traffic took `m`'s path: NAT's replies
/// through the director (`fwd_out`), DR's and TUN's through the router and
/// none through the director; both real servers served.
fn wrk_run(l: &DrLab, m: Method, close: bool, director: u32, tck: f64) -> Sample {
    l.adm(&["-Z"]);
    let before = l.settled_stats();
    let routed_before = l.router_forwarded();
    let helpers = |name: &str| -> u64 {
        (1..=2)
            .map(|n| l.helper_cpu_ticks(&format!("{name}-rs{n}")))
            .sum()
    };
    let (dir0, all0) = (dr::cpu_ticks(director), dr::machine_busy_ticks());
    let (nginx0, decap0) = (helpers("nginx"), helpers("decap"));
    let w = l.wrk(WRK_CONNS, WRK_SECS, close);
    let (dir1, all1) = (dr::cpu_ticks(director), dr::machine_busy_ticks());
    let (nginx1, decap1) = (helpers("nginx"), helpers("decap"));
    let after = l.settled_stats();
    let routed = l.router_forwarded() - routed_before;
    let conns = conns_per_rs(l);
    let (fwd_in, fwd_out) = (
        delta(&before, &after, "fwd_in"),
        delta(&before, &after, "fwd_out"),
    );
    let (name, kind) = (m.name(), kind_name(close));
    assert!(w.requests > 0, "{name} {kind}: wrk did no request: {w:?}");
    assert_eq!(w.non_2xx, 0, "{name} {kind}: answers not 200: {w:?}");
    assert!(
        conns[0] > 0 && conns[1] > 0,
        "{name} {kind}: connections per real server {conns:?}"
    );
    match m {
        Method::Nat => {
            assert!(
                fwd_out >= w.requests,
                "{name} {kind}: fwd_out +{fwd_out} for {} requests",
                w.requests
            );
            assert!(
                routed * 10 < w.requests,
                "{name} {kind}: the router forwarded {routed} for {} requests",
                w.requests
            );
        }
        Method::Dr | Method::Tun => {
            assert_eq!(fwd_out, 0, "{name} {kind}: replies through the director");
            assert!(
                routed >= w.requests,
                "{name} {kind}: the router forwarded {routed} for {} requests",
                w.requests
            );
        }
    }
    let dir_cpu = dir1.saturating_sub(dir0) as f64 / tck;
    let machine_cpu = all1.saturating_sub(all0) as f64 / tck;
    let nginx_cpu = nginx1.saturating_sub(nginx0) as f64 / tck;
    let decap_cpu = decap1.saturating_sub(decap0) as f64 / tck;
    println!(
        "DR-MEASURE wrk mode={name} kind={kind} rps={:.0} requests={} secs={:.2} latency_avg={} \
         socket_errors={} dir_cpu_s={dir_cpu:.2} req_per_dir_cpu_s={:.0} machine_cpu_s={machine_cpu:.2} \
         req_per_machine_cpu_s={:.0} wrk_cpu_s={:.2} nginx_cpu_s={nginx_cpu:.2} \
         decap_cpu_s={decap_cpu:.2} fwd_in=+{fwd_in} fwd_out=+{fwd_out} router_forwarded=+{routed} \
         conns={conns:?}",
        w.rps,
        w.requests,
        w.secs,
        w.latency_avg,
        w.socket_errors,
        w.requests as f64 / dir_cpu,
        w.requests as f64 / machine_cpu,
        w.cpu_secs,
    );
    Sample {
        method: m,
        close,
        rps: w.rps,
        requests: w.requests,
        dir_cpu,
        machine_cpu,
        wrk_cpu: w.cpu_secs,
        nginx_cpu,
        decap_cpu,
    }
}

/// Issue 14, item 6: requests per second through the director with DR and
/// TUN (IPIP) against NAT, on this lab, with wrk and nginx (`apt-get
/// install wrk nginx-light`; the test installs nothing). `wrk -t1 -c16
/// -d5s` keep-alive, and with `Connection: close` (a new connection a
/// request); NAT, DR, TUN interleaved, 3 runs each, so they share the
/// machine's noise; the medians, the ratios to NAT, and the requests per
/// second of the director's CPU time (utime + stime of its process). The
/// director's worker is pinned to CPU 1 (`--cpus 1`) and the receive work
/// of the frames it sends to CPU 0 (RPS on the switch's ports `pdx`,
/// `pdi`); nothing else is pinned. A measurement, not a check
/// of speed: its assertions are only that the traffic took each method's
/// path. Results and reading: docs/benchmarks.md, "DR and TUN against NAT".
#[test]
#[ignore = "a measurement with wrk and nginx, run by hand (docs/benchmarks.md)"]
fn dr_tun_nat_throughput_with_wrk() {
    dr::require_wrk_and_nginx();
    let Some((_serial, mut l)) = dr::lab() else {
        return;
    };
    let tck = dr::clk_tck();
    l.client_for_many_connections();
    l.start_nginx(&[1, 2]);
    // TUN's real servers: this kernel has no ipip (tests/dr/mod.rs).
    let decaps = [
        l.start_decap_for(1, dr::NGINX_MAX_SECS, &["--ipip", "--quiet"]),
        l.start_decap_for(2, dr::NGINX_MAX_SECS, &["--ipip", "--quiet"]),
    ];
    // The director's worker on CPU 1; what it sends is received (by the
    // switch, then the real servers, the router and the client) on CPU 0, so
    // that the receivers' work is not done in its context and charged to it.
    let sw = l.ns_switch();
    for port in ["pdx", "pdi"] {
        l.rps(&sw, port, "1");
    }
    // A connection left from the previous method's rules is expired by its
    // next packet instead of dropping it.
    l.start_director(&["--cpus", "1", "--expire-nodest-conn"]);
    let director = l.pid("director");
    let comm = std::fs::read_to_string(format!("/proc/{director}/comm")).unwrap_or_default();
    assert_eq!(comm.trim(), "ringvs", "the director's pid is not ringvs's");

    let mut samples = Vec::new();
    for _ in 0..WRK_RUNS {
        for m in Method::ALL {
            use_method(&l, m);
            for close in [false, true] {
                samples.push(wrk_run(&l, m, close, director, tck));
            }
        }
    }
    l.set_rs_gateway(&[1, 2], dr::ROUTER_INT);

    for n in 1..=2 {
        l.stop(&format!("decap-rs{n}"));
        let total = wait_for(Duration::from_secs(2), || {
            lines_of(&decaps[n - 1])
                .into_iter()
                .find(|l| l.starts_with("total"))
        });
        let total = total.unwrap_or_else(|| panic!("no total from decap-rs{n}"));
        assert!(total.ends_with(" drop 0"), "rs{n}'s decapsulator: {total}");
        println!("DR-MEASURE wrk decap rs{n}: {total}");
    }

    // Medians per method and kind: requests/s, requests per director CPU
    // second, requests per machine CPU second.
    let stat = |m: Method, close: bool, f: &dyn Fn(&Sample) -> f64| {
        median(
            samples
                .iter()
                .filter(|s| s.method == m && s.close == close)
                .map(f)
                .collect(),
        )
    };
    for close in [false, true] {
        let kind = kind_name(close);
        let mut rps = Vec::new();
        let mut per_cpu = Vec::new();
        for m in Method::ALL {
            let r = stat(m, close, &|s| s.rps);
            let c = stat(m, close, &|s| s.requests as f64 / s.dir_cpu);
            let a = stat(m, close, &|s| s.requests as f64 / s.machine_cpu);
            let d = stat(m, close, &|s| s.dir_cpu);
            let mc = stat(m, close, &|s| s.machine_cpu);
            let w = stat(m, close, &|s| s.wrk_cpu);
            let n = stat(m, close, &|s| s.nginx_cpu);
            let t = stat(m, close, &|s| s.decap_cpu);
            println!(
                "DR-MEASURE wrk median mode={} kind={kind} rps={r:.0} dir_cpu_s={d:.2} \
                 req_per_dir_cpu_s={c:.0} machine_cpu_s={mc:.2} req_per_machine_cpu_s={a:.0} \
                 wrk_cpu_s={w:.2} nginx_cpu_s={n:.2} decap_cpu_s={t:.2}",
                m.name()
            );
            rps.push(r);
            per_cpu.push(c);
        }
        println!(
            "DR-MEASURE wrk ratio kind={kind} rps dr/nat={:.2} tun/nat={:.2} \
             req_per_dir_cpu_s dr/nat={:.2} tun/nat={:.2}",
            rps[1] / rps[0],
            rps[2] / rps[0],
            per_cpu[1] / per_cpu[0],
            per_cpu[2] / per_cpu[0],
        );
    }
}
