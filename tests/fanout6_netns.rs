//! IPv6 through the kernel's side of the packet path (issue 15 item 4): the
//! client-keyed fanout program brings an IPv6 request and its reply to one
//! worker, and the XDP program hands IPv6 frames to the AF_XDP socket while the
//! kernel keeps the rest. The unit tests in `src/io/fanout.rs` run the fanout
//! program in an interpreter; here the kernel runs it (and the XDP program),
//! on frames injected with AF_PACKET (`ringvs-gen inject`) on the director's
//! peers, and the workers' `rx_ext`/`rx_int` counters say who got them.
//!
//! Needs root and `ip netns`; under `CI=true` a missing capability fails the
//! test. Addresses: 2001:2::/48 only.

mod nslab;
use nslab::{NsDirector, Scenario, per_worker, stats};
use serde_json::Value;
use std::net::Ipv6Addr;
use std::path::Path;
use std::time::{Duration, Instant};

const VIP6: &str = "2001:2:0:1::110";
const RIP6: &str = "2001:2:0:2::2";

fn addr(s: &str) -> Ipv6Addr {
    s.parse().expect("IPv6 address")
}

/// Ethernet + IPv6 + a TCP SYN, checksummed.
fn tcp6(src_mac: [u8; 6], dst_mac: [u8; 6], src: (Ipv6Addr, u16), dst: (Ipv6Addr, u16)) -> Vec<u8> {
    let mut f = Vec::with_capacity(74);
    f.extend(dst_mac);
    f.extend(src_mac);
    f.extend(0x86ddu16.to_be_bytes());
    f.extend([0x60, 0, 0, 0]); // version 6, no traffic class or flow label
    f.extend(20u16.to_be_bytes()); // payload length
    f.extend([6, 64]); // next header TCP, hop limit
    f.extend(src.0.octets());
    f.extend(dst.0.octets());
    let tcp = f.len();
    f.extend(src.1.to_be_bytes());
    f.extend(dst.1.to_be_bytes());
    f.extend(1u32.to_be_bytes()); // sequence
    f.extend(0u32.to_be_bytes()); // acknowledgment
    f.extend([5 << 4, 0x02]); // 20-byte header, SYN
    f.extend(64240u16.to_be_bytes()); // window
    f.extend([0, 0, 0, 0]); // checksum, urgent pointer
    // RFC 8200 section 8.1: the pseudo-header is both addresses, the upper
    // layer's length and its next header.
    let mut sum: u32 = 20 + 6;
    for pair in f[22..tcp].chunks(2).chain(f[tcp..].chunks(2)) {
        sum += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    f[tcp + 16..tcp + 18].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    f
}

/// An LLDP frame (EtherType 0x88cc): nothing ringvs reads.
fn lldp(src_mac: [u8; 6]) -> Vec<u8> {
    let mut f = vec![0x01, 0x80, 0xc2, 0, 0, 0x0e];
    f.extend(src_mac);
    f.extend(0x88ccu16.to_be_bytes());
    f.extend([0x02, 0x07, 0x04]); // chassis ID TLV: a MAC address
    f.extend(src_mac);
    f.resize(60, 0); // end of LLDPDU, padding
    f
}

/// Per worker, how far counter `name` moved since `before`, once it moved by
/// at least `want` in all (or the deadline passed).
fn moved_since(control: &Path, before: &Value, name: &str, want: u64) -> Vec<u64> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got: Vec<u64> = per_worker(&stats(control), name)
            .iter()
            .zip(per_worker(before, name))
            .map(|(now, then)| now - then)
            .collect();
        if got.iter().sum::<u64>() >= want || Instant::now() >= deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Per worker, how many frames the external NIC delivered since `before`
/// ([`moved_since`] of `rx_ext`). The internal NIC is not counted: the real
/// servers' own ARP and IPv4 frames land there at any time (it made this
/// test fail one CI run).
fn ext_received_since(control: &Path, before: &Value, want: u64) -> Vec<u64> {
    moved_since(control, before, "rx_ext", want)
}

/// Per worker, how many IPv6 frames arrived since `before` ([`moved_since`]
/// of `drop_ethertype`). This director has no IPv6 address, so each IPv6
/// frame is counted in `drop_ethertype` and nothing else there is: the lab's
/// own IPv4 and ARP frames, which `rx_ext` and `rx_int` count too, cannot
/// make the figures flaky.
fn ipv6_since(control: &Path, before: &Value, want: u64) -> Vec<u64> {
    moved_since(control, before, "drop_ethertype", want)
}

#[test]
fn ipv6_requests_and_replies_meet_on_one_af_packet_worker() {
    let Some(NsDirector { lab, control }) = Scenario::new("fanout6").workers(2).start() else {
        return;
    };
    let tag = lab.tag().to_owned();
    let (dns, cns, sw) = (lab.ns_director(), lab.ns_client(), lab.ns_switch());
    let (ext, int) = (nslab::mac_of(&dns, "ext0"), nslab::mac_of(&dns, "int0"));
    let (c0, d0) = (nslab::mac_of(&cns, "c0"), nslab::mac_of(&sw, "d0"));
    let (vip, rip) = (addr(VIP6), addr(RIP6));

    // Clients all over 2001:2::/48, so that every word of the address
    // counts: each sends 3 SYNs to the VIP on the external NIC, and the real
    // server 3 replies to it on the internal one.
    let mut owners = Vec::new();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for n in 0..16u16 {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let cip = Ipv6Addr::from(
            0x2001_0002_0000_0000_0000_0000_0000_0000u128
                | u128::from(x >> 48) << 64
                | u128::from(x.rotate_left(17)),
        );
        let cport = 40000 + 2 * n;
        let request = tcp6(c0, ext, (cip, cport), (vip, 80));
        let reply = tcp6(d0, int, (rip, 8080), (cip, cport));
        // One NIC at a time, so that each count belongs to one of them.
        let before = stats(&control);
        nslab::inject(&cns, "c0", &vec![request; 3], &format!("fanout6-{tag}-c0"));
        let on_ext = ipv6_since(&control, &before, 3);
        let before = stats(&control);
        nslab::inject(&sw, "d0", &vec![reply; 3], &format!("fanout6-{tag}-d0"));
        let on_int = ipv6_since(&control, &before, 3);
        let owner = on_ext.iter().position(|&f| f > 0);
        eprintln!("{cip} port {cport}: ext {on_ext:?} int {on_int:?}");
        let Some(w) = owner else {
            panic!("{cip} port {cport}: no worker got the requests: ext {on_ext:?}");
        };
        let mut want = vec![0; on_ext.len()];
        want[w] = 3;
        assert_eq!(on_ext, want, "{cip} port {cport}: requests");
        assert_eq!(on_int, want, "{cip} port {cport}: replies");
        owners.push(w);
    }
    // And the clients spread: both workers own some (all 16 on one worker
    // would be a 1 in 2^15 chance).
    assert!(owners.contains(&0) && owners.contains(&1), "{owners:?}");
}

#[test]
fn ipv6_reaches_the_af_xdp_socket_and_lldp_stays_with_the_kernel() {
    let Some(NsDirector { lab, control }) = Scenario::new("xdp6")
        .workers(1)
        .director_args(&["--io", "xdp", "--xdp-mode", "generic"])
        .start()
    else {
        return;
    };
    let tag = lab.tag().to_owned();
    let (dns, cns) = (lab.ns_director(), lab.ns_client());
    let (ext, c0) = (nslab::mac_of(&dns, "ext0"), nslab::mac_of(&cns, "c0"));
    let client = addr("2001:2:0:1::1");
    // A neighbor solicitation for the VIP, to its solicited-node multicast
    // group (RFC 4291 section 2.7.1: ff02::1:ff00:110, MAC 33:33:ff:00:01:10).
    let mut ns = tcp6(
        c0,
        [0x33, 0x33, 0xff, 0, 0x01, 0x10],
        (client, 0),
        (addr("ff02::1:ff00:110"), 0),
    );
    ns.truncate(14 + 40);
    ns[20] = 58; // ICMPv6
    ns[21] = 255;
    ns[18..20].copy_from_slice(&24u16.to_be_bytes());
    ns.extend([135, 0, 0, 0, 0, 0, 0, 0]); // type, code, checksum, reserved
    ns.extend(addr(VIP6).octets());

    // The client's kernel sends IPv6 of its own on c0 (router and neighbor
    // solicitations, MLD reports) for some seconds after the link comes up;
    // that would reach the socket too. The frames here are injected raw.
    ringvs::lab::ns_run(&cns, "sysctl", &["-qw", "net.ipv6.conf.c0.disable_ipv6=1"])
        .expect("IPv6 off on the client's c0");
    let before = stats(&control);
    // IPv6, then LLDP, then one more IPv6 frame, all on one queue and in
    // that order: once the last IPv6 frame is counted, the LLDP frames have
    // met the program. Had it redirected them, the worker would have counted
    // them before it: its count waited for could not stop short of them.
    let mut frames = vec![ns];
    for port in [40000, 40002, 40004, 40006] {
        frames.push(tcp6(c0, ext, (client, port), (addr(VIP6), 80)));
    }
    frames.extend(vec![lldp(c0); 4]);
    frames.push(tcp6(c0, ext, (client, 40008), (addr(VIP6), 80)));
    nslab::inject(&cns, "c0", &frames, &format!("fanout6-{tag}-c0"));
    let on_ext = ext_received_since(&control, &before, 6);
    assert_eq!(on_ext, [6], "the socket got the IPv6 frames, not LLDP");
    // Nothing more arrives once the counters settle.
    let after = nslab::settled_stats(&control);
    let moved = per_worker(&after, "rx_ext")[0] - per_worker(&before, "rx_ext")[0];
    assert_eq!(moved, 6, "the socket got the IPv6 frames, not LLDP");
}
