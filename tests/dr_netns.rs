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
//!
//! Each test prints its numbers in lines starting `DR-MEASURE`.

mod dr;

use dr::{
    CLIENT, DIP, DrLab, GUE_PORT, TUN_DEV, Tun, VIP, check_tunnel_frame, eth, fmt_mac, ip4,
    lines_of, rs_addr, rs_name, wait_for,
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

/// A counter of `stats --json`, summed over the workers.
fn total(s: &serde_json::Value, name: &str) -> u64 {
    s["workers"]
        .as_array()
        .unwrap_or_else(|| panic!("stats --json has no workers: {s}"))
        .iter()
        .map(|w| {
            w[name]
                .as_u64()
                .unwrap_or_else(|| panic!("no counter {name} in {w}"))
        })
        .sum()
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
    // Nothing came back through the director: the router carried the replies.
    let router_fwd = ringvs::lab::ns_run(&l.ns_router(), "nstat", &["-az", "IpForwDatagrams"])
        .unwrap_or_default();
    println!(
        "DR-MEASURE self-check dr frames={} router: {}",
        frames.len(),
        router_fwd.lines().last().unwrap_or("").trim()
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
        let frames = cap.finish(Duration::from_secs(2), |f| !f.is_empty());
        let count = assert_tunnel_frames(&frames, src_mac, tun, rs_addr(n));
        let decapped = lines_of(if n == 3 { &decap3 } else { &decap1 }).len() - before;
        assert!(
            count >= REQUESTS * 4,
            "{} frames to rs{n}: {count}",
            tun.name()
        );
        assert_eq!(decapped, count, "decap lines vs frames ({})", tun.name());
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
    let _ = TUN_DEV;
}
