//! Issue 15 item 6 on the in-memory director: DR and TUN real servers of
//! IPv6 services. What leaves the director for a DR real server (the
//! client's packet to the server's MAC, hop limit down by one, as
//! `ip_vs_dr_xmit_v6` sends it) and for a TUN one (IPv6-in-IPv6, GUE and GRE
//! over IPv6 around it, as `ip_vs_tunnel_xmit_v6` builds them), checked
//! byte by byte and by smoltcp; the input-only TCP states; NDP parking; and
//! packet-too-big at the egress MTU (DR) or the tunnel's (TUN).

mod inmem;

use inmem::frames6::{self, L3};
use inmem::*;
use ringvs::Nic;
use ringvs::dataplane::Env;
use ringvs::nat::State;
use ringvs::neigh::NeighEvent;
use ringvs::stats::Ctr;
use smoltcp::wire::{IpAddress, Ipv6Packet as SIp6, UdpPacket as SUdp};
use std::net::Ipv6Addr;

const CPORT: u16 = 40000;
const GW6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0xfe);
const GW_MAC: [u8; 6] = [0x02, 0x77, 0, 0, 0, 0xfe];
/// A real server on the client segment (the external prefix).
const EXT_RS6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0x50);
const EXT_RS_MAC: [u8; 6] = [0x02, 0x55, 0, 0, 0, 0x50];
/// A tunnel endpoint behind the IPv6 gateway.
const FAR6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 9, 0, 0, 0, 2);
const V6: &str = "[2001:2:0:1::110]:80";

fn env_gw() -> Env {
    Env {
        gateway6: Some(GW6),
        ..env6()
    }
}

/// rr over `rips` on port 80, each reached with `opts` (`-g`, `-i ...`).
fn rules(rips: &[Ipv6Addr], opts: &str) -> Vec<String> {
    let mut r = vec![format!("-A -t {V6} -s rr")];
    for ip in rips {
        r.push(format!("-a -t {V6} -r [{ip}]:80 {opts}"));
    }
    r
}

/// A dual-stack director with `rules` on `env`, everybody resolved.
fn director_on(rules: &[String], env: Env) -> MemDirector {
    let r: Vec<&str> = rules.iter().map(String::as_str).collect();
    let mut d = MemDirector::with_env(1, &r, env, 1024);
    d.resolve6(Nic::Ext, CLIENT6, CLIENT_MAC);
    d.resolve6(Nic::Ext, GW6, GW_MAC);
    d.resolve6(Nic::Ext, EXT_RS6, EXT_RS_MAC);
    d.resolve6(Nic::Int, RS1_6, RS1_MAC);
    d.resolve6(Nic::Int, RS2_6, RS2_MAC);
    d
}

fn director(rules: &[String]) -> MemDirector {
    director_on(rules, env_gw())
}

fn tcp(sport: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    frames6::tcp(&l3_to_vip6(), &[], sport, 80, flags, payload)
}

/// `frame` with its hop limit one less (what DR and TUN forward).
fn hop_down(frame: &[u8]) -> Vec<u8> {
    let mut f = frame.to_vec();
    f[14 + 7] -= 1;
    f
}

/// The frames out of each NIC for `frame` from the client, nothing out of
/// the other one; with what the worker dropped in the message.
fn out_of(d: &mut MemDirector, nic: Nic, frame: &[u8]) -> Vec<Vec<u8>> {
    let (ext, int) = d.ext(frame);
    let why = drops(&d.w().core.ctr);
    let (out, other) = match nic {
        Nic::Ext => (ext, int),
        Nic::Int => (int, ext),
    };
    assert!(
        other.is_empty(),
        "out of the other NIC: {other:02x?}; {why:?}"
    );
    out
}

#[test]
fn dr_sends_the_clients_packet_to_the_real_servers_mac_hop_limit_down_by_one() {
    let mut d = director(&rules(&[RS1_6, RS2_6], "-g"));
    let mut macs = Vec::new();
    for port in [CPORT, CPORT + 1, CPORT + 2, CPORT + 3] {
        let syn = tcp(port, SYN, &[]);
        let out = out_of(&mut d, Nic::Int, &syn);
        assert_eq!(out.len(), 1, "{:?}", drops(&d.w().core.ctr));
        let f = &out[0];
        assert_eq!(&f[6..12], &INT_MAC, "from the internal NIC");
        assert_eq!(
            &f[12..],
            &hop_down(&syn)[12..],
            "the IPv6 packet as it came, hop limit 63"
        );
        let p = parse_ip6(f);
        assert_eq!((p.src, p.dst, p.hop_limit), (CLIENT6, VIP6, 63));
        macs.push(<[u8; 6]>::try_from(&f[..6]).expect("mac"));
    }
    // Round robin alternates between the two servers' MACs.
    assert!(macs[0] != macs[1] && macs[0] == macs[2] && macs[1] == macs[3]);
    assert!([RS1_MAC, RS2_MAC].contains(&macs[0]) && [RS1_MAC, RS2_MAC].contains(&macs[1]));
    assert_eq!(d.ctr(Ctr::ConnNew6), 4);
    assert_eq!((d.ctr(Ctr::FwdIn), d.ctr(Ctr::FwdIn6)), (4, 4));
    assert_eq!((d.ctr(Ctr::FwdOut), d.ctr(Ctr::TxExt)), (0, 0));
    assert_eq!(drops(&d.w().core.ctr), []);
}

#[test]
fn dr_tracks_the_client_side_alone() {
    let mut d = director(&rules(&[RS1_6], "-g"));
    out_of(&mut d, Nic::Int, &tcp(CPORT, SYN, &[]));
    assert_eq!(d.conns(0)[0].state, State::SynRecv);
    // IPVS's input-only rows: the client's ACK establishes, its FIN goes
    // to FIN_WAIT, with no reply ever seen.
    let ack = tcp(CPORT, ACK, b"GET / HTTP/1.0\r\n\r\n");
    let out = out_of(&mut d, Nic::Int, &ack);
    assert_eq!(&out[0][12..], &hop_down(&ack)[12..]);
    assert_eq!(d.conns(0)[0].state, State::Established);
    out_of(&mut d, Nic::Int, &tcp(CPORT, FIN | ACK, &[]));
    assert_eq!(d.conns(0)[0].state, State::FinWait);
    assert_eq!(d.ctr(Ctr::FwdIn6), 3);
}

#[test]
fn dr_to_a_server_on_the_client_segment_leaves_by_the_external_nic() {
    let mut d = director(&rules(&[EXT_RS6], "-g"));
    let syn = tcp(CPORT, SYN, &[]);
    let out = out_of(&mut d, Nic::Ext, &syn);
    assert_eq!(out.len(), 1);
    assert_eq!(
        (&out[0][..6], &out[0][6..12]),
        (&EXT_RS_MAC[..], &EXT_MAC[..])
    );
    assert_eq!(&out[0][12..], &hop_down(&syn)[12..]);
}

#[test]
fn dr_waits_for_the_real_servers_neighbor_advertisement() {
    let r = rules(&[RS1_6], "-g");
    let r: Vec<&str> = r.iter().map(String::as_str).collect();
    let mut d = MemDirector::with_env(1, &r, env_gw(), 1024);
    d.resolve6(Nic::Ext, CLIENT6, CLIENT_MAC);
    let syn = tcp(CPORT, SYN, &[]);
    let (ext, int) = d.ext(&syn);
    assert!(ext.is_empty() && int.is_empty(), "parked");
    assert_eq!(d.ctr(Ctr::NeighQueued), 1);
    assert!(
        d.neigh_events()
            .iter()
            .any(|e| matches!(e, NeighEvent::Resolve6 { nic: Nic::Int, ip } if *ip == RS1_6)),
        "the real server is solicited"
    );
    d.resolve6(Nic::Int, RS1_6, RS1_MAC);
    let (ext, int) = d.poll_take();
    assert!(ext.is_empty());
    assert_eq!(int.len(), 1, "sent once resolved");
    assert_eq!(&int[0][..6], &RS1_MAC);
    assert_eq!(&int[0][12..], &hop_down(&syn)[12..]);
}

#[test]
fn dr_over_the_egress_mtu_gets_packet_too_big_from_the_vip() {
    let env = Env {
        mtu: [1500, 1400],
        ..env_gw()
    };
    let mut d = director_on(&rules(&[RS1_6], "-g"), env);
    out_of(&mut d, Nic::Int, &tcp(CPORT, SYN, &[]));
    // 1500 bytes of IPv6: fits the client's segment, not the servers'.
    let big = tcp(CPORT, ACK, &[0u8; 1500 - 60]);
    let back = out_of(&mut d, Nic::Ext, &big);
    assert_eq!(back.len(), 1, "an ICMPv6 error back to the client");
    let p = parse_ip6(&back[0]);
    assert_eq!((p.src, p.dst, p.next_header), (VIP6, CLIENT6, 58));
    assert_eq!(&back[0][..6], &CLIENT_MAC);
    assert_eq!((p.l4[0], p.l4[1]), (2, 0), "packet too big");
    assert_eq!(
        u32::from_be_bytes([p.l4[4], p.l4[5], p.l4[6], p.l4[7]]),
        1400
    );
    assert_eq!((d.ctr(Ctr::DropTooBig), d.ctr(Ctr::Icmp6TooBig)), (1, 1));
    let ok = tcp(CPORT, ACK, &[0u8; 1400 - 60]);
    assert_eq!(out_of(&mut d, Nic::Int, &ok).len(), 1, "one that fits goes");
}

/// A tunnel of `kind` (`ipip`, `gue` with or without checksum, `gre` with
/// or without), its next header and the bytes between the outer header and
/// the inner packet.
const TUNNELS: [(&str, u8, usize); 5] = [
    ("-i --tun-type ipip", 41, 0),
    ("-i --tun-type gue --tun-port 6080 --tun-nocsum", 17, 12),
    ("-i --tun-type gue --tun-port 6080 --tun-csum", 17, 12),
    ("-i --tun-type gre --tun-nocsum", 47, 4),
    ("-i --tun-type gre --tun-csum", 47, 8),
];

/// Checks the outer IPv6 header of a tunnelled frame (from `src` to `dst`,
/// next header `nh`, hop limit 63, flow label 0, traffic class `tc`, the
/// payload length right); returns the bytes after it.
fn outer6(f: &[u8], src: Ipv6Addr, dst: Ipv6Addr, nh: u8, tc: u8) -> Vec<u8> {
    assert_eq!(&f[12..14], &[0x86, 0xdd], "IPv6 on the wire");
    let ip = SIp6::new_checked(&f[14..]).expect("outer IPv6 (smoltcp)");
    assert_eq!(
        usize::from(ip.payload_len()) + 54,
        f.len(),
        "payload length"
    );
    assert_eq!((ip.src_addr(), ip.dst_addr()), (src, dst));
    assert_eq!(u8::from(ip.next_header()), nh);
    assert_eq!(ip.hop_limit(), 63, "the inner hop limit, decremented");
    assert_eq!(ip.flow_label(), 0);
    assert_eq!(ip.traffic_class(), tc, "the inner traffic class");
    ip.payload().to_vec()
}

#[test]
fn tun_wraps_the_packet_in_ipv6_ipip_gue_and_gre() {
    // A traffic class to be copied, and a flow label that is not.
    let mut syn = tcp(CPORT, SYN, &[]);
    syn[14] = 0x6b;
    syn[15] = (syn[15] & 0x0f) | 0x80;
    let inner = hop_down(&syn)[14..].to_vec();
    for (opts, nh, head) in TUNNELS {
        let mut d = director(&rules(&[RS1_6], opts));
        let out = out_of(&mut d, Nic::Int, &syn);
        assert_eq!(out.len(), 1, "{opts}: {:?}", drops(&d.w().core.ctr));
        let f = &out[0];
        assert_eq!((&f[..6], &f[6..12]), (&RS1_MAC[..], &INT_MAC[..]), "{opts}");
        let pay = outer6(f, DIP6, RS1_6, nh, 0xb8);
        assert_eq!(pay.len(), head + inner.len(), "{opts}");
        assert_eq!(&pay[head..], &inner[..], "{opts}: the packet, hop limit 63");
        match nh {
            17 => {
                let u = SUdp::new_checked(&pay[..]).expect("udp");
                assert_eq!((u.dst_port(), usize::from(u.len())), (6080, pay.len()));
                assert!((32768..=60999).contains(&u.src_port()));
                // Mandatory over IPv6, whatever --tun-nocsum says.
                assert_ne!(u.checksum(), 0, "{opts}");
                let (s, t) = (IpAddress::Ipv6(DIP6), IpAddress::Ipv6(RS1_6));
                assert!(u.verify_checksum(&s, &t), "{opts}: UDP checksum");
                assert_eq!(&pay[8..12], &[0, 41, 0, 0], "GUE v0, IPv6 inside");
            }
            47 => {
                let flags = if head == 8 { 0x80 } else { 0 };
                assert_eq!(&pay[..4], &[flags, 0, 0x86, 0xdd], "{opts}");
                if head == 8 {
                    assert_eq!(checksum(&pay), 0, "GRE checksum verifies");
                }
            }
            _ => {}
        }
        assert_eq!(d.ctr(Ctr::TunnelEncap), 1, "{opts}");
        assert_eq!(d.ctr(Ctr::FwdIn6), 1, "{opts}");
        // Input-only tracking, as DR.
        assert_eq!(d.conns(0)[0].state, State::SynRecv);
    }
}

/// The Internet checksum of `data` (0 when a checksum inside verifies).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[test]
fn tun_to_an_endpoint_behind_the_gateway_leaves_from_the_external_address() {
    let mut d = director(&rules(&[FAR6], "-i"));
    let syn = tcp(CPORT, SYN, &[]);
    let out = out_of(&mut d, Nic::Ext, &syn);
    assert_eq!(out.len(), 1, "{:?}", drops(&d.w().core.ctr));
    assert_eq!(&out[0][..6], &GW_MAC, "to the IPv6 gateway");
    let pay = outer6(&out[0], EXT_ADDR6, FAR6, 41, 0);
    assert_eq!(&pay[..], &hop_down(&syn)[14..]);
}

#[test]
fn tun_over_its_mtu_gets_packet_too_big_with_the_mtu_less_the_overhead() {
    for (opts, _, head) in [TUNNELS[0], TUNNELS[1]] {
        let mut d = director(&rules(&[RS1_6], opts));
        out_of(&mut d, Nic::Int, &tcp(CPORT, SYN, &[]));
        let room = 1500 - 40 - head;
        // Fits the NIC, not the NIC after the encapsulation.
        let big = tcp(CPORT, ACK, &vec![0u8; room + 1 - 60]);
        let back = out_of(&mut d, Nic::Ext, &big);
        assert_eq!(back.len(), 1, "{opts}: an ICMPv6 error to the client");
        let p = parse_ip6(&back[0]);
        assert_eq!((p.src, p.dst, p.l4[0]), (VIP6, CLIENT6, 2), "{opts}");
        let mtu = u32::from_be_bytes([p.l4[4], p.l4[5], p.l4[6], p.l4[7]]);
        assert_eq!(mtu as usize, room, "{opts}");
        assert_eq!(&p.l4[8..48], &big[14..54], "{opts}: quotes the packet");
        assert_eq!((d.ctr(Ctr::DropTooBig), d.ctr(Ctr::Icmp6TooBig)), (1, 1));
        // One that fits goes, the frame at the NIC's MTU exactly.
        let ok = tcp(CPORT, ACK, &vec![0u8; room - 60]);
        let out = out_of(&mut d, Nic::Int, &ok);
        assert_eq!(out[0].len(), 14 + 1500, "{opts}");
    }
}

#[test]
fn a_tunnel_under_the_ipv6_minimum_mtu_carries_nothing() {
    let env = Env {
        mtu: [1500, 1300],
        ..env_gw()
    };
    // 1300 - 40 - 12 < 1280: IPVS refuses the route, with no error.
    let mut d = director_on(&rules(&[RS1_6], TUNNELS[1].0), env);
    let (ext, int) = d.ext(&tcp(CPORT, SYN, &[]));
    assert!(ext.is_empty() && int.is_empty());
    assert_eq!(drops(&d.w().core.ctr), [("drop_too_big", 1)]);
}

#[test]
fn udp_goes_to_dr_and_tun_servers_too() {
    let l = L3 { ..l3_to_vip6() };
    for opts in ["-g", "-i"] {
        let mut r = vec!["-A -u [2001:2:0:1::110]:53 -s rr".to_owned()];
        r.push(format!("-a -u [2001:2:0:1::110]:53 -r [{RS1_6}]:53 {opts}"));
        let mut d = director(&r);
        let q = frames6::udp(&l, &[], 5000, 53, b"query", false);
        let out = out_of(&mut d, Nic::Int, &q);
        assert_eq!(out.len(), 1, "{opts}");
        let at = if opts == "-g" { 14 } else { 54 };
        assert_eq!(&out[0][at..], &hop_down(&q)[14..], "{opts}");
        assert_eq!(d.conns(0)[0].state, State::Udp);
    }
}

#[test]
fn a_partial_checksum_is_completed_for_dr_and_tun() {
    for (opts, at) in [("-g", 14), ("-i", 54)] {
        let mut d = director(&rules(&[RS1_6], opts));
        let mut syn = tcp(CPORT, SYN, b"data");
        // What an offload leaves: not the checksum (here, anything).
        syn[14 + 40 + 16..14 + 40 + 18].copy_from_slice(&[0x12, 0x34]);
        d.w().rx[Nic::Ext].push_with(
            &syn,
            ringvs::io::RxMeta {
                wire_len: syn.len() as u32,
                csum_partial: true,
                csum_valid: false,
                vlan: None,
            },
        );
        let (_, int) = d.poll_take();
        assert_eq!(int.len(), 1, "{opts}: {:?}", drops(&d.w().core.ctr));
        let mut inner = vec![0u8; 14];
        inner.extend_from_slice(&int[0][at..]);
        inner[12..14].copy_from_slice(&[0x86, 0xdd]);
        // parse_ip6 verifies the TCP checksum (smoltcp).
        let p = parse_ip6(&inner);
        assert_eq!((p.dst, p.hop_limit), (VIP6, 63), "{opts}");
    }
}

/// Tunnels across families, as IPVS allows for `-i` real servers: an IPv4
/// service's client packet inside IPv6 to an IPv6 endpoint (next header 4),
/// an IPv6 service's inside IPv4 to an IPv4 one (protocol 41).
#[test]
fn tunnels_cross_families_both_ways() {
    // IPv4 service, IPv6 endpoint.
    let mut d = director(&[
        "-A -t 198.18.0.110:80 -s rr".to_owned(),
        format!("-a -t 198.18.0.110:80 -r [{RS1_6}]:80 -i"),
    ]);
    d.resolve(Nic::Ext, CLIENT, CLIENT_MAC);
    let syn4 = tcp_frame(&inmem::L3::to_vip(), CPORT, 80, SYN);
    let out = out_of(&mut d, Nic::Int, &syn4);
    assert_eq!(out.len(), 1, "{:?}", drops(&d.w().core.ctr));
    assert_eq!(&out[0][..6], &RS1_MAC, "the endpoint's MAC, by NDP");
    let ip = SIp6::new_checked(&out[0][14..]).expect("outer IPv6");
    assert_eq!((ip.src_addr(), ip.dst_addr()), (DIP6, RS1_6));
    assert_eq!(u8::from(ip.next_header()), 4, "IPv4 inside");
    assert_eq!(ip.payload(), &syn4[14..], "the IPv4 packet untouched");
    assert_eq!(&out[0][12..14], &[0x86, 0xdd]);
    assert_eq!(d.ctr(Ctr::TunnelEncap), 1);
    assert_eq!(d.conns(0)[0].state, State::SynRecv);

    // IPv6 service, IPv4 endpoint.
    let mut d = director(&[
        format!("-A -t {V6} -s rr"),
        format!("-a -t {V6} -r 198.19.0.2:80 -i"),
    ]);
    d.resolve(Nic::Int, RS1, RS1_MAC);
    let syn6 = tcp(CPORT, SYN, &[]);
    let out = out_of(&mut d, Nic::Int, &syn6);
    assert_eq!(out.len(), 1, "{:?}", drops(&d.w().core.ctr));
    assert_eq!(&out[0][..6], &RS1_MAC, "the endpoint's MAC, by ARP");
    assert_eq!(&out[0][12..14], &[0x08, 0x00]);
    let ip = smoltcp::wire::Ipv4Packet::new_checked(&out[0][14..]).expect("outer IPv4");
    assert!(ip.verify_checksum());
    assert_eq!((ip.src_addr(), ip.dst_addr()), (DIP, RS1));
    assert_eq!(u8::from(ip.next_header()), 41, "IPv6 inside");
    assert_eq!(ip.payload(), &hop_down(&syn6)[14..]);
    assert_eq!(d.ctr(Ctr::FwdIn6), 1);
    // Listed by its placeholder in the IPv6 service (docs/operations.md).
    let mapped = std::net::IpAddr::V6(RS1.to_ipv6_mapped());
    assert_eq!(d.conns(0)[0].dest.0, mapped);
    // Over the IPv4 tunnel's MTU: packet-too-big, 1500 less 20.
    let big = tcp(CPORT, ACK, &[0u8; 1500 - 60]);
    let back = out_of(&mut d, Nic::Ext, &big);
    let p = parse_ip6(&back[0]);
    assert_eq!((p.dst, p.l4[0]), (CLIENT6, 2));
    assert_eq!(
        u32::from_be_bytes([p.l4[4], p.l4[5], p.l4[6], p.l4[7]]),
        1480
    );
}

/// A tunnel packet whose endpoint never resolves tells its client only
/// where IPVS relays the kernel's error about the outer packet, IPv4 inside
/// IPv4 (`ip_vs_in_icmp`, `direct_inmem.rs`): IPv6 inside IPv6 or IPv4, and
/// IPv4 inside IPv6, tell nobody (`ip_vs_in_icmp_v6` relays nothing, and an
/// IPv4 outer packet with IPv6 inside is not IPIP there); each is dropped
/// all the same.
#[test]
fn a_tunnel_not_ipv4_in_ipv4_whose_endpoint_never_resolves_tells_nobody() {
    let v4 = "-A -t 198.18.0.110:80 -s rr".to_owned();
    let cases = [
        (rules(&[RS1_6], "-i"), tcp(CPORT, SYN, &[])),
        (
            rules(&[], "")
                .into_iter()
                .chain([format!("-a -t {V6} -r 198.19.0.2:80 -i")])
                .collect(),
            tcp(CPORT, SYN, &[]),
        ),
        (
            vec![v4, format!("-a -t 198.18.0.110:80 -r [{RS1_6}]:80 -i")],
            tcp_frame(&inmem::L3::to_vip(), CPORT, 80, SYN),
        ),
    ];
    for (rules, syn) in cases {
        let r: Vec<&str> = rules.iter().map(String::as_str).collect();
        let mut d = MemDirector::with_env(1, &r, env_gw(), 1024);
        d.resolve6(Nic::Ext, CLIENT6, CLIENT_MAC);
        d.resolve(Nic::Ext, CLIENT, CLIENT_MAC);
        let (ext, int) = d.ext(&syn);
        assert!(ext.is_empty() && int.is_empty(), "{rules:?}: parked");
        d.advance(ringvs::dataplane::tx::PENDING_MAX_AGE + std::time::Duration::from_millis(100));
        let (ext, int) = d.poll_take();
        assert!(ext.is_empty() && int.is_empty(), "{rules:?}");
        assert_eq!(d.ctr(Ctr::DropNeighUnresolved), 1, "{rules:?}");
        assert_eq!(d.ctr(Ctr::IcmpHostUnreach), 0, "{rules:?}");
    }
}

/// A client's packet too big for a tunnel that leaves by the external NIC
/// (an endpoint behind the gateway) is answered out of that NIC too, to
/// the client: IPv4 inside IPv6 here, "fragmentation needed" with 1500 less
/// the 40 bytes of the outer IPv6 header.
#[test]
fn a_tunnel_by_the_external_nic_answers_too_big_there() {
    let mut d = director(&[
        "-A -t 198.18.0.110:80 -s rr".to_owned(),
        format!("-a -t 198.18.0.110:80 -r [{FAR6}]:80 -i"),
    ]);
    d.resolve(Nic::Ext, CLIENT, CLIENT_MAC);
    let out = out_of(
        &mut d,
        Nic::Ext,
        &tcp_frame(&inmem::L3::to_vip(), CPORT, 80, SYN),
    );
    assert_eq!(&out[0][..6], &GW_MAC, "through the IPv6 gateway");
    let big = tcp_seg(&inmem::L3::to_vip(), CPORT, 80, ACK, 1, 1, &[0u8; 1460]);
    let back = out_of(&mut d, Nic::Ext, &big);
    assert_eq!(back.len(), 1, "{:?}", drops(&d.w().core.ctr));
    assert_eq!(&back[0][..6], &CLIENT_MAC);
    let p = parse_ip(&back[0]);
    assert_eq!((p.dst, p.proto), (CLIENT, 1));
    let icmp = &back[0][34..];
    assert_eq!((icmp[0], icmp[1]), (3, 4), "fragmentation needed");
    assert_eq!(u16::from_be_bytes([icmp[6], icmp[7]]), 1460);
    assert_eq!(d.ctr(Ctr::IcmpFragNeeded), 1);
}

/// A router on the client's path finds a DR or TUN server's reply
/// ([VIP6]:80 → client, never through the director) too big and tells the
/// VIP: the director sends the packet-too-big on to the connection's real
/// server untranslated, as `ip_vs_icmp_xmit_v6` hands it to the connection's
/// transmitter (DR: the server's MAC, hop limit one less; TUN: wrapped as
/// the client's packets are). So does an error of an unassigned type (101:
/// below 128, an error), as `ip_vs_in_icmp_v6` takes every type without
/// `ICMPV6_INFOMSG_MASK`.
#[test]
fn a_client_side_icmpv6_error_about_dr_or_tun_goes_to_the_real_server_untranslated() {
    let reply = {
        let l = L3 {
            src: VIP6,
            dst: CLIENT6,
            ..l3_to_vip6()
        };
        frames6::tcp(&l, &[], 80, CPORT, ACK, &[0x42; 1400])
    };
    let router = L3 {
        src: GW6,
        src_mac: GW_MAC,
        ..l3_to_vip6()
    };
    // Packet too big, MTU 1400, quoting the reply's first 200 bytes.
    let mut body = 1400u32.to_be_bytes().to_vec();
    body.extend_from_slice(&reply[14..14 + 200]);
    let too_big = frames6::icmp6(&router, 2, 0, &body);
    let unassigned = frames6::icmp6(&router, 101, 0, &body);
    for (opts, nh, head) in [("-g", 0, 0), TUNNELS[0], TUNNELS[1]] {
        let mut d = director(&rules(&[RS1_6], opts));
        out_of(&mut d, Nic::Int, &tcp(CPORT, SYN, &[]));
        for (n, err) in [&too_big, &unassigned].into_iter().enumerate() {
            let out = out_of(&mut d, Nic::Int, err);
            assert_eq!(out.len(), 1, "{opts}: {:?}", drops(&d.w().core.ctr));
            let f = &out[0];
            assert_eq!((&f[..6], &f[6..12]), (&RS1_MAC[..], &INT_MAC[..]), "{opts}");
            let ip = if nh == 0 {
                f[14..].to_vec()
            } else {
                outer6(f, DIP6, RS1_6, nh, 0)[head..].to_vec()
            };
            assert_eq!(
                ip,
                hop_down(err)[14..],
                "{opts}: the error, hop limit one less"
            );
            assert_eq!(d.ctr(Ctr::IcmpErrorDirect), n as u64 + 1, "{opts}");
        }
        assert_eq!(d.ctr(Ctr::IcmpErrorNat), 0, "{opts}");
        assert_eq!(d.ctr(Ctr::FwdIn6), 1, "{opts}: the SYN alone");
    }
}
