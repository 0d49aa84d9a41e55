//! Issue 15, items 3-5, on the in-memory director: IPv6 connections through
//! NAT — scheduling over IPv6 real servers (rr, sh, mh, persistence by
//! prefix), the rewrites both ways with checksums checked by smoltcp and by
//! `ringvs::wire`, expiry, packet-too-big over the egress MTU (and its rate
//! limit), ICMPv6 errors translated both ways. Frames are built byte by byte
//! (`tests/ipv6/frames.rs`).

mod inmem;

use inmem::frames6::{self, L3};
use inmem::*;
use ringvs::Nic;
use ringvs::dataplane::Env;
use ringvs::stats::Ctr;
use ringvs::wire::{TcpPacket, UdpPacket};
use std::net::Ipv6Addr;
use std::time::Duration;

const GW6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0xfe);
const GW_MAC: [u8; 6] = [0x02, 0x77, 0, 0, 0, 0xfe];

/// A dual-stack director with `rules` and `env`, everybody resolved: the
/// client, the IPv6 gateway, both real servers.
fn director_with(rules: &[&str], env: Env) -> MemDirector {
    let mut d = MemDirector::with_env(1, rules, env, 1024);
    d.resolve6(Nic::Ext, CLIENT6, CLIENT_MAC);
    d.resolve6(Nic::Ext, GW6, GW_MAC);
    d.resolve6(Nic::Int, RS1_6, RS1_MAC);
    d.resolve6(Nic::Int, RS2_6, RS2_MAC);
    d
}

fn env_gw() -> Env {
    Env {
        gateway6: Some(GW6),
        ..env6()
    }
}

fn director(rules: &[&str]) -> MemDirector {
    director_with(rules, env_gw())
}

/// `client` → VIP6 from the client's MAC (on-link) or the gateway's.
fn from(client: Ipv6Addr) -> L3 {
    let on_link = client.segments()[..4] == CLIENT6.segments()[..4];
    L3 {
        src: client,
        src_mac: if on_link { CLIENT_MAC } else { GW_MAC },
        ..l3_to_vip6()
    }
}

fn syn(client: Ipv6Addr, sport: u16) -> Vec<u8> {
    frames6::tcp(&from(client), &[], sport, 80, SYN, &[])
}

/// The one frame that came out of the internal NIC for `frame` (nothing
/// out of the external one).
fn inward(d: &mut MemDirector, frame: &[u8]) -> Parsed6 {
    let (ext, mut int) = d.ext(frame);
    assert!(
        ext.is_empty(),
        "out of ext: {ext:02x?}; {:?}",
        drops(&d.w().core.ctr)
    );
    assert_eq!(
        int.len(),
        1,
        "one frame to a real server: {:?}",
        drops(&d.w().core.ctr)
    );
    parse_ip6(&int.remove(0))
}

/// The one frame that came out of the external NIC for `frame`.
fn outward(d: &mut MemDirector, frame: &[u8]) -> Parsed6 {
    let (mut ext, int) = d.int(frame);
    assert!(int.is_empty(), "out of int: {int:02x?}");
    assert_eq!(
        ext.len(),
        1,
        "one frame to the client: {:?}",
        drops(&d.w().core.ctr)
    );
    parse_ip6(&ext.remove(0))
}

fn ports(p: &Parsed6) -> (u16, u16) {
    let l4 = &p.l4;
    (
        u16::from_be_bytes([l4[0], l4[1]]),
        u16::from_be_bytes([l4[2], l4[3]]),
    )
}

/// The real server a client's SYN went to.
fn server_of(d: &mut MemDirector, client: Ipv6Addr, sport: u16) -> Ipv6Addr {
    inward(d, &syn(client, sport)).dst
}

/// A destination options header is the destination's (the real server's)
/// to act on: a SYN carrying an option ringvs does not know, of a type that
/// says "discard" (0x8b, action 10), goes to the real server as IPVS sends
/// it (its LOCAL_IN hook runs before `ipv6_destopt_rcv`); the same option
/// in a hop-by-hop header, every node's, is dropped.
#[test]
fn unknown_destination_options_are_the_real_servers_to_act_on() {
    let mut d = director(STANDARD6);
    for (ext, at, forwarded) in [
        (frames6::Ext::DestOpts, 56, true),
        (frames6::Ext::HopByHop, 56, false),
    ] {
        let mut f = frames6::tcp(&from(CLIENT6), &[ext], 40001, 80, SYN, &[]);
        assert_eq!(f[at], 1, "the PadN option's type");
        f[at] = 0x8b;
        let (_, int) = d.ext(&f);
        assert_eq!(
            int.len(),
            usize::from(forwarded),
            "{ext:?}: {:?}",
            drops(&d.w().core.ctr)
        );
    }
    assert_eq!(d.ctr(Ctr::DropExtHeader), 1);
}

#[test]
fn rr_alternates_over_ipv6_servers_and_replies_are_snated_with_good_checksums() {
    let mut d = director(STANDARD6);
    let mut seen = Vec::new();
    for sport in 40000..40004 {
        let p = inward(&mut d, &syn(CLIENT6, sport));
        assert_eq!(
            (p.src, p.src_mac, p.dst_mac),
            (
                CLIENT6,
                INT_MAC,
                if p.dst == RS1_6 { RS1_MAC } else { RS2_MAC }
            )
        );
        assert_eq!(ports(&p), (sport, 80));
        assert_eq!(p.hop_limit, 63, "hop limit down by one");
        // Our own checksum code agrees with smoltcp's (parse_ip6).
        assert!(
            TcpPacket::new_checked(&p.l4[..])
                .expect("tcp")
                .verify_checksum_v6(p.src, p.dst)
        );
        seen.push(p.dst);
    }
    assert_eq!(seen, [RS1_6, RS2_6, RS1_6, RS2_6], "rr alternates");
    // The SYN-ACK of the first connection goes back from the VIP.
    let l = l3_from_rs6(RS1_6, CLIENT6);
    let back = outward(&mut d, &frames6::tcp(&l, &[], 80, 40000, SYN | ACK, b"hi"));
    assert_eq!(
        (back.src, back.dst, back.src_mac, back.dst_mac, ports(&back)),
        (VIP6, CLIENT6, EXT_MAC, CLIENT_MAC, (80, 40000))
    );
    assert!(
        TcpPacket::new_checked(&back.l4[..])
            .expect("tcp")
            .verify_checksum_v6(VIP6, CLIENT6)
    );
    assert_eq!(&back.l4[20..], b"hi");
    assert_eq!(d.ctr(Ctr::ConnNew6), 4);
    assert_eq!(d.ctr(Ctr::ConnNew), 4);
    assert_eq!((d.ctr(Ctr::FwdIn6), d.ctr(Ctr::FwdOut6)), (4, 1));
    assert_eq!((d.ctr(Ctr::FwdIn), d.ctr(Ctr::FwdOut)), (4, 1));
    assert_eq!(d.w().core.table6.len(), 4);
    assert!(d.w().core.table.is_empty(), "the IPv4 table is left alone");
    assert_eq!(drop_sum(&d.w().core.ctr), 0, "{:?}", drops(&d.w().core.ctr));
}

/// UDP [VIP6]:53 to RS1_6 at `rport`.
fn udp_director(rport: u16) -> MemDirector {
    let rs = format!("-a -u [2001:2:0:1::110]:53 -r [2001:2:0:2::2]:{rport} -m");
    director(&["-A -u [2001:2:0:1::110]:53 -s rr", &rs])
}

#[test]
fn udp_over_ipv6_both_ways_with_good_checksums() {
    let mut d = udp_director(5353);
    let q = frames6::udp(&l3_to_vip6(), &[], 41000, 53, b"query", false);
    let p = inward(&mut d, &q);
    assert_eq!((p.dst, ports(&p)), (RS1_6, (41000, 5353)));
    assert!(
        UdpPacket::new_checked(&p.l4[..])
            .expect("udp")
            .verify_checksum_v6(CLIENT6, RS1_6)
    );
    let l = l3_from_rs6(RS1_6, CLIENT6);
    let a = outward(
        &mut d,
        &frames6::udp(&l, &[], 5353, 41000, b"answer", false),
    );
    assert_eq!((a.src, ports(&a)), (VIP6, (53, 41000)));
    assert!(
        UdpPacket::new_checked(&a.l4[..])
            .expect("udp")
            .verify_checksum_v6(VIP6, CLIENT6)
    );
    assert_eq!(&a.l4[8..], b"answer");
}

/// `text` (of even length) and two bytes more that make the checksum of a
/// UDP datagram over `l` from `sport` to `dport` carrying them compute to
/// exactly 0 (see `tests/pipeline.rs`'s `zero_sum_payload`).
fn zero_sum_payload6(l: &frames6::L3, sport: u16, dport: u16, text: &[u8]) -> Vec<u8> {
    assert_eq!(text.len() % 2, 0, "the two bytes at an even offset");
    let mut data = [text, &[0, 0]].concat();
    let f = frames6::udp(l, &[], sport, dport, &data, false);
    let n = data.len();
    data[n - 2..].copy_from_slice(&f[60..62]);
    data
}

/// Over IPv6 too a checksum that computes to 0 after the rewrite goes out
/// as 0xffff both ways (RFC 8200 §8.1: a 0 field is refused there; IPVS's
/// `udp_fast_csum_update`, `ip_vs_proto_udp.c`, for both families).
#[test]
fn udp_over_ipv6_checksum_computing_to_zero_is_sent_as_all_ones() {
    let mut d = udp_director(5353);
    let rs_side = frames6::L3 {
        dst: RS1_6,
        ..l3_to_vip6()
    };
    let data = zero_sum_payload6(&rs_side, 41000, 5353, b"zero sum");
    let p = inward(
        &mut d,
        &frames6::udp(&l3_to_vip6(), &[], 41000, 53, &data, false),
    );
    assert_eq!(
        (p.dst, ports(&p), &p.l4[8..]),
        (RS1_6, (41000, 5353), &data[..])
    );
    assert_eq!(p.l4[6..8], [0xff, 0xff], "DNAT: computed 0, sent as 0xffff");

    let vip_side = frames6::L3 {
        src: VIP6,
        dst: CLIENT6,
        ..l3_to_vip6()
    };
    let data = zero_sum_payload6(&vip_side, 53, 41000, b"answer");
    let l = l3_from_rs6(RS1_6, CLIENT6);
    let a = outward(&mut d, &frames6::udp(&l, &[], 5353, 41000, &data, false));
    assert_eq!(
        (a.src, ports(&a), &a.l4[8..]),
        (VIP6, (53, 41000), &data[..])
    );
    assert_eq!(a.l4[6..8], [0xff, 0xff], "SNAT: computed 0, sent as 0xffff");
}

#[test]
fn a_reply_of_no_connection_is_dropped() {
    let mut d = director(STANDARD6);
    let l = l3_from_rs6(RS1_6, CLIENT6);
    let (ext, int) = d.int(&frames6::tcp(&l, &[], 80, 40000, SYN | ACK, &[]));
    assert!(ext.is_empty() && int.is_empty());
    assert_eq!(drops(&d.w().core.ctr), [("drop_no_conn", 1)]);
    // Nor does a client packet other than a SYN open one.
    let (ext, int) = d.ext(&frames6::tcp(&l3_to_vip6(), &[], 40000, 80, ACK, &[]));
    assert!(ext.is_empty() && int.is_empty());
    assert_eq!(d.ctr(Ctr::DropNoConn), 2);
    assert!(d.w().core.table6.is_empty());
}

/// Clients of the external /64 that differ only in their low 64 bits.
fn low_bits_clients(n: u16) -> impl Iterator<Item = Ipv6Addr> {
    (1..=n).map(|i| Ipv6Addr::new(0x2001, 2, 0, 1, i.wrapping_mul(0x9e37), i, 0x51, 0x20 + i))
}

fn hashing_uses_the_whole_address(sched: &str) {
    let add = format!("-A -t [2001:2:0:1::110]:80 -s {sched}");
    let mut d = director(&[
        &add,
        "-a -t [2001:2:0:1::110]:80 -r [2001:2:0:2::2]:80 -m",
        "-a -t [2001:2:0:1::110]:80 -r [2001:2:0:2::3]:80 -m",
    ]);
    let mut got = Vec::new();
    for (i, c) in low_bits_clients(32).enumerate() {
        let first = server_of(&mut d, c, 30000 + i as u16);
        // The same client from other ports: the same server.
        for k in 1..3 {
            assert_eq!(
                server_of(&mut d, c, 31000 + (i * 3 + k) as u16),
                first,
                "{sched}: {c}"
            );
        }
        got.push(first);
    }
    assert!(
        got.contains(&RS1_6) && got.contains(&RS2_6),
        "{sched}: clients differing in their low 64 bits all went to one server: {got:?}"
    );
}

#[test]
fn sh_gives_each_client_one_server_by_its_whole_address() {
    hashing_uses_the_whole_address("sh");
}

#[test]
fn mh_gives_each_client_one_server_by_its_whole_address() {
    hashing_uses_the_whole_address("mh");
}

#[test]
fn persistence_with_a_64_bit_prefix_groups_a_64() {
    let mut d = director(&[
        "-A -t [2001:2:0:1::110]:80 -s rr -p 300 -M 64",
        "-a -t [2001:2:0:1::110]:80 -r [2001:2:0:2::2]:80 -m",
        "-a -t [2001:2:0:1::110]:80 -r [2001:2:0:2::3]:80 -m",
    ]);
    let a: Vec<Ipv6Addr> = low_bits_clients(6).collect();
    let first = server_of(&mut d, a[0], 30000);
    for (i, c) in a.iter().enumerate() {
        assert_eq!(
            server_of(&mut d, *c, 30001 + i as u16),
            first,
            "{c} in the same /64"
        );
    }
    // Another /64 (behind the gateway) gets a template of its own: rr's next.
    let other = Ipv6Addr::new(0x2001, 2, 0, 5, 0, 0, 0, 1);
    let second = server_of(&mut d, other, 30100);
    assert_ne!(second, first);
    assert_eq!(
        server_of(&mut d, Ipv6Addr::new(0x2001, 2, 0, 5, 9, 9, 9, 9), 30101),
        second
    );
    assert_eq!(
        d.shared.templates6.len(d.now_s()),
        2,
        "one template per /64"
    );
    assert!(d.shared.templates.is_empty(d.now_s()));
}

#[test]
fn ipv6_connections_expire_and_free_their_gauges() {
    let mut d = udp_director(53);
    let q = frames6::udp(&l3_to_vip6(), &[], 41000, 53, b"q", false);
    inward(&mut d, &q);
    assert_eq!(d.w().core.table6.len(), 1);
    // Listed (`ipvsadm -L -c`) with its IPv6 addresses.
    let l = d.conns(0);
    assert_eq!(l.len(), 1, "{l:?}");
    let c = &l[0];
    assert_eq!(
        (c.proto, c.client, c.vip, c.dest, c.state, c.template),
        (
            17,
            (CLIENT6.into(), 41000),
            (VIP6.into(), 53),
            (RS1_6.into(), 53),
            ringvs::nat::State::Udp,
            false
        )
    );
    assert!(c.expires_in > 290 && c.expires_in <= 300, "{c:?}");
    // Published: the connection counts by state include IPv6.
    d.poll();
    let udp = ringvs::nat::State::Udp as usize;
    let states = d.published[0].states[udp].load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(states, 1);
    // UDP's timeout is 300 s.
    d.advance(Duration::from_secs(299));
    d.poll();
    assert_eq!(d.w().core.table6.len(), 1);
    d.advance(Duration::from_secs(3));
    d.poll();
    assert!(d.w().core.table6.is_empty(), "expired");
    assert_eq!(d.ctr(Ctr::ConnExpired), 1);
    let id = d.cfg.services()[0].dests[0].id;
    assert_eq!(d.published[0].gauges.get(id), (0, 0));
}

/// DR needs the real server on a segment of ours (`tests/direct6_inmem.rs`
/// has the ones that are): one behind a router is refused when scheduled.
#[test]
fn dr_servers_off_our_prefixes_are_refused() {
    let mut d = director(&[
        "-A -t [2001:2:0:1::110]:80 -s rr",
        "-a -t [2001:2:0:1::110]:80 -r [2001:2:0:3::2]:80 -g",
    ]);
    let (ext, int) = d.ext(&syn(CLIENT6, 40000));
    assert!(ext.is_empty() && int.is_empty());
    assert_eq!(drops(&d.w().core.ctr), [("drop_no_dest", 1)]);
    assert!(d.w().core.table6.is_empty());
}

#[test]
fn implausible_clients_open_nothing() {
    let mut d = director(STANDARD6);
    for bad in [
        DIP6,
        RS1_6,
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1),
        Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0xc612, 1),
    ] {
        let (ext, int) = d.ext(&syn(bad, 40000));
        assert!(ext.is_empty() && int.is_empty(), "{bad}");
    }
    assert_eq!(drops(&d.w().core.ctr), [("drop_bad_source", 4)]);
}

/// A TCP segment of `len` bytes of payload from the client on an
/// established connection.
fn big(len: usize) -> Vec<u8> {
    frames6::tcp(&l3_to_vip6(), &[], 40000, 80, ACK, &vec![0x5a; len])
}

/// The standard IPv6 director with MTUs `mtu` (external, internal) and the
/// connection [CLIENT6]:40000 → [RS1_6]:80 made.
fn connected_with_mtu(mtu: [usize; 2]) -> MemDirector {
    let mut d = director_with(STANDARD6, Env { mtu, ..env_gw() });
    assert_eq!(inward(&mut d, &syn(CLIENT6, 40000)).dst, RS1_6);
    d
}

#[test]
fn packet_too_big_carries_the_egress_mtu_and_is_never_rate_limited() {
    let mut d = connected_with_mtu([1500, 1400]);
    // 1400 bytes of IPv6 fit the internal MTU; one more does not.
    let fits = big(1400 - 40 - 20);
    assert_eq!(inward(&mut d, &fits).dst, RS1_6);
    let too_big = big(1400 - 40 - 20 + 1);
    let (mut ext, int) = d.ext(&too_big);
    assert!(int.is_empty(), "not forwarded");
    assert_eq!(ext.len(), 1);
    let e = parse_ip6(&ext.remove(0));
    // From the VIP (the packet's destination, ours), to the client's MAC.
    assert_eq!(
        (e.src, e.dst, e.src_mac, e.dst_mac, e.next_header),
        (VIP6, CLIENT6, EXT_MAC, CLIENT_MAC, frames6::ICMPV6)
    );
    assert_eq!(&e.l4[..2], &[2, 0], "packet too big");
    assert_eq!(
        u32::from_be_bytes([e.l4[4], e.l4[5], e.l4[6], e.l4[7]]),
        1400
    );
    // It quotes the packet from its IPv6 header, up to 1280 bytes in all.
    assert_eq!(e.l4.len(), 1280 - 40);
    assert_eq!(&e.l4[8..], &too_big[14..14 + 1280 - 48]);
    assert_eq!((d.ctr(Ctr::DropTooBig), d.ctr(Ctr::Icmp6TooBig)), (1, 1));
    // Past the worker's ICMP burst (50) with the clock standing still:
    // every one answered, as `ICMPV6_PKT_TOOBIG` is not in the kernel's
    // `icmpv6_ratemask` (`inet6_net_init`).
    let mut sent = 0;
    for _ in 0..100 {
        let (ext, int) = d.ext(&too_big);
        assert!(int.is_empty());
        sent += ext.len();
    }
    assert_eq!(sent, 100);
    assert_eq!(d.ctr(Ctr::Icmp6TooBigLimited), 0);
    assert_eq!(d.ctr(Ctr::DropTooBig), 101);
}

#[test]
fn packet_too_big_for_a_reply_comes_from_the_dip() {
    let mut d = connected_with_mtu([1400, 1500]);
    let l = l3_from_rs6(RS1_6, CLIENT6);
    let reply = frames6::tcp(&l, &[], 80, 40000, ACK, &[0x33; 1400]);
    let (ext, mut int) = d.int(&reply);
    assert!(ext.is_empty());
    let e = parse_ip6(&int.remove(0));
    assert_eq!((e.src, e.dst, e.dst_mac), (DIP6, RS1_6, RS1_MAC));
    assert_eq!(
        u32::from_be_bytes([e.l4[4], e.l4[5], e.l4[6], e.l4[7]]),
        1400
    );
    assert_eq!(d.ctr(Ctr::Icmp6TooBig), 1);
}

/// An ICMPv6 error of `ty`/`code` from `l`, quoting `quoted` (an IPv6 frame:
/// its Ethernet header is cut) up to `cut` bytes.
fn error6(l: &L3, ty: u8, rest: u32, quoted: &[u8], cut: usize) -> Vec<u8> {
    let mut body = rest.to_be_bytes().to_vec();
    body.extend_from_slice(&quoted[14..quoted.len().min(14 + cut)]);
    frames6::icmp6(l, ty, 0, &body)
}

#[test]
fn icmpv6_errors_are_translated_both_ways() {
    let mut d = director(STANDARD6);
    inward(&mut d, &syn(CLIENT6, 40000));
    // From inside: the real server says the client's port is unreachable,
    // quoting what it got ([CLIENT6]:40000 → [RS1_6]:80, whole).
    let to_rs = L3 {
        dst: RS1_6,
        ..from(CLIENT6)
    };
    let sent_in = frames6::tcp(&to_rs, &[], 40000, 80, ACK, b"data");
    let l = l3_from_rs6(RS1_6, CLIENT6);
    let e = outward(&mut d, &error6(&l, 1, 0, &sent_in, 1000));
    assert_eq!((e.src, e.dst, e.dst_mac), (VIP6, CLIENT6, CLIENT_MAC));
    let q = &e.l4[8..];
    let (qsrc, qdst) = (addr_at(q, 8), addr_at(q, 24));
    assert_eq!((qsrc, qdst), (CLIENT6, VIP6), "the quote names the VIP");
    assert_eq!(u16::from_be_bytes([q[42], q[43]]), 80);
    assert!(
        TcpPacket::new_checked(&q[40..])
            .expect("quoted tcp")
            .verify_checksum_v6(qsrc, qdst)
    );
    // From outside: a router on the client's path says the client is
    // unreachable, quoting our reply ([VIP6]:80 → [CLIENT6]:40000, cut to 8
    // bytes of TCP).
    let reply = our_reply(40000);
    let router = L3 {
        src: GW6,
        src_mac: GW_MAC,
        ..l3_to_vip6()
    };
    let i = inward(&mut d, &error6(&router, 1, 0, &reply, 48));
    assert_eq!((i.src, i.dst, i.dst_mac), (GW6, RS1_6, RS1_MAC));
    let q = &i.l4[8..];
    assert_eq!((addr_at(q, 8), addr_at(q, 24)), (RS1_6, CLIENT6));
    assert_eq!(u16::from_be_bytes([q[40], q[41]]), 80);
    assert_eq!(q.len(), 48);
    // Cut to the 4 bytes of ports, as `ip_vs_in_icmp_v6` reads them.
    let i = inward(&mut d, &error6(&router, 1, 0, &reply, 44));
    let q = &i.l4[8..];
    assert_eq!((addr_at(q, 8), addr_at(q, 24)), (RS1_6, CLIENT6));
    assert_eq!(q[40..], [0, 80, 0x9c, 0x40], "ports 80 → 40000");
    // Three bytes are not the ports.
    let (ext, int) = d.ext(&error6(&router, 1, 0, &reply, 43));
    assert!(ext.is_empty() && int.is_empty());
    assert_eq!(d.ctr(Ctr::IcmpErrorNat), 3);
    // An error about no connection of ours goes nowhere.
    let stray = our_reply(40999);
    let (ext, int) = d.ext(&error6(&router, 1, 0, &stray, 48));
    assert!(ext.is_empty() && int.is_empty());
    assert_eq!(
        drops(&d.w().core.ctr),
        [("drop_icmp", 1), ("drop_icmp_no_conn", 1)]
    );
}

/// An ICMPv6 error from a source the kernel drops before either IPVS hook
/// is neither translated nor passed on (`drop_bad_source`): from outside, a
/// packet too big from `::1` to the VIP about our reply (`ip6_rcv_core`);
/// from inside, an error from a link-local or the unspecified address about
/// what the client sent (`ip6_forward`, before the FORWARD hook). The same
/// errors from a router's and the real server's global addresses pass, and
/// a link-local one from outside too, as IPVS passes it.
#[test]
fn icmpv6_errors_from_sources_the_kernel_drops_go_nowhere() {
    let mut d = director(STANDARD6);
    inward(&mut d, &syn(CLIENT6, 40000));
    let reply = our_reply(40000);
    let too_big = |src| {
        let l = L3 {
            src,
            src_mac: GW_MAC,
            ..l3_to_vip6()
        };
        error6(&l, 2, 1400, &reply, 48)
    };
    let (ext, int) = d.ext(&too_big(Ipv6Addr::LOCALHOST));
    assert!(ext.is_empty() && int.is_empty(), "::1's error passed on");
    assert_eq!(drops(&d.w().core.ctr), [("drop_bad_source", 1)]);
    let to_rs = L3 {
        dst: RS1_6,
        ..from(CLIENT6)
    };
    let sent_in = frames6::tcp(&to_rs, &[], 40000, 80, ACK, b"data");
    let link_local: Ipv6Addr = "fe80::1".parse().unwrap();
    for (n, src) in [link_local, Ipv6Addr::UNSPECIFIED].into_iter().enumerate() {
        let l = L3 {
            src,
            ..l3_from_rs6(RS1_6, CLIENT6)
        };
        let (ext, int) = d.int(&error6(&l, 1, 0, &sent_in, 1000));
        assert!(ext.is_empty() && int.is_empty(), "{src}'s error passed on");
        assert_eq!(d.ctr(Ctr::DropBadSource), n as u64 + 2, "{src}");
    }
    assert_eq!(d.ctr(Ctr::IcmpErrorNat), 0);
    assert_eq!(inward(&mut d, &too_big(GW6)).src, GW6);
    assert_eq!(inward(&mut d, &too_big(link_local)).src, link_local);
    let l = l3_from_rs6(RS1_6, CLIENT6);
    assert_eq!(outward(&mut d, &error6(&l, 1, 0, &sent_in, 1000)).src, VIP6);
    assert_eq!(d.ctr(Ctr::IcmpErrorNat), 3);
    assert_eq!(d.ctr(Ctr::DropBadSource), 3);
}

/// Every ICMPv6 type below 128 is an error (RFC 4443 §2.1), and IPVS
/// translates any of them for the connection it quotes (`ip_vs_in_icmp_v6`
/// and `ip_vs_out_icmp_v6` pass only informational types,
/// `ICMPV6_INFOMSG_MASK`, by): the experimental 100 from the real server
/// reaches the client, 127 from a router reaches the real server. An
/// unknown informational type to the VIP is still nothing of ours.
#[test]
fn icmpv6_errors_of_unassigned_types_are_translated_too() {
    let mut d = director(STANDARD6);
    inward(&mut d, &syn(CLIENT6, 40000));
    let to_rs = L3 {
        dst: RS1_6,
        ..from(CLIENT6)
    };
    let sent_in = frames6::tcp(&to_rs, &[], 40000, 80, ACK, b"data");
    let l = l3_from_rs6(RS1_6, CLIENT6);
    // smoltcp (`parse_ip6`) reads no unassigned type: the bytes themselves.
    let (ext, int) = d.int(&error6(&l, 100, 0, &sent_in, 1000));
    assert!(
        int.is_empty() && ext.len() == 1,
        "{:?}",
        drops(&d.w().core.ctr)
    );
    let (e, icmp) = (&ext[0][14..], &ext[0][54..]);
    assert_eq!((addr_at(e, 8), addr_at(e, 24)), (VIP6, CLIENT6));
    assert_eq!(ext[0][..6], CLIENT_MAC);
    assert_eq!(icmp[0], 100, "its type kept");
    assert_eq!((addr_at(icmp, 16), addr_at(icmp, 32)), (CLIENT6, VIP6));
    assert_eq!(frames6::checksum6(VIP6, CLIENT6, frames6::ICMPV6, icmp), 0);
    assert_eq!(d.ctr(Ctr::IcmpErrorNat), 1);
    let router = L3 {
        src: GW6,
        src_mac: GW_MAC,
        ..l3_to_vip6()
    };
    let (ext, int) = d.ext(&error6(&router, 127, 0, &our_reply(40000), 48));
    assert!(
        ext.is_empty() && int.len() == 1,
        "{:?}",
        drops(&d.w().core.ctr)
    );
    let (i, icmp) = (&int[0][14..], &int[0][54..]);
    assert_eq!((addr_at(i, 8), addr_at(i, 24)), (GW6, RS1_6));
    assert_eq!(int[0][..6], RS1_MAC);
    assert_eq!(addr_at(icmp, 16), RS1_6, "the quote names the server");
    assert_eq!(frames6::checksum6(GW6, RS1_6, frames6::ICMPV6, icmp), 0);
    assert_eq!(d.ctr(Ctr::IcmpErrorNat), 2);
    let (ext, int) = d.ext(&error6(&router, 200, 0, &our_reply(40000), 48));
    assert!(ext.is_empty() && int.is_empty());
    assert_eq!(drops(&d.w().core.ctr), [("drop_icmp", 1)]);
}

/// A UDP service on port 53 with one real server.
const DNS6: &[&str] = &[
    "-A -u [2001:2:0:1::110]:53 -s rr",
    "-a -u [2001:2:0:1::110]:53 -r [2001:2:0:2::2]:53 -m",
];

/// Errors quoting a first fragment are translated, as `ip_vs_in_icmp_v6`
/// and `ip_vs_out_icmp_v6` walk the quote past its fragment header: a
/// router's packet-too-big about a real server's fragmented reply reaches
/// the server, a server's "fragment reassembly time exceeded" (RFC 8200
/// §4.5) about a client's first fragment reaches the client.
#[test]
fn icmpv6_errors_quoting_a_first_fragment_are_translated() {
    use frames6::Ext;
    let mut d = director(DNS6);
    let first = |id| Ext::Fragment {
        offset: 0,
        more: true,
        id,
    };
    let req = frames6::udp(&from(CLIENT6), &[first(9)], 40000, 53, &[0x11; 800], false);
    let (_, sent_in) = d.ext(&req);
    assert_eq!(sent_in.len(), 1, "{:?}", drops(&d.w().core.ctr));
    let l = l3_from_rs6(RS1_6, CLIENT6);
    let reply = frames6::udp(&l, &[first(7)], 53, 40000, &[0x55; 1000], false);
    let (ext, _) = d.int(&reply);
    assert_eq!(ext.len(), 1, "{:?}", drops(&d.w().core.ctr));
    let router = L3 {
        src: GW6,
        src_mac: GW_MAC,
        ..l3_to_vip6()
    };
    let i = inward(&mut d, &error6(&router, 2, 1400, &ext[0], 1232));
    assert_eq!((i.src, i.dst, i.dst_mac), (GW6, RS1_6, RS1_MAC));
    let q = &i.l4[8..];
    assert_eq!((addr_at(q, 8), addr_at(q, 24)), (RS1_6, CLIENT6));
    // Past the fragment header (8 bytes): the server's own port.
    assert_eq!((q[6], u16::from_be_bytes([q[48], q[49]])), (44, 53));
    // The server's time exceeded (type 3 code 1) quotes the first fragment
    // as it got it: to the client, naming the VIP.
    let mut m = vec![3u8, 1, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&sent_in[0][14..]);
    let c = frames6::checksum6(l.src, l.dst, frames6::ICMPV6, &m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    let e = outward(&mut d, &frames6::frame(&l, &[], frames6::ICMPV6, &m));
    assert_eq!((e.src, e.dst, &e.l4[..2]), (VIP6, CLIENT6, &[3u8, 1][..]));
    assert_eq!(
        (addr_at(&e.l4[8..], 8), addr_at(&e.l4[8..], 24)),
        (CLIENT6, VIP6)
    );
    assert_eq!(d.ctr(Ctr::IcmpErrorNat), 2);
}

/// A later fragment over the egress MTU is dropped without packet-too-big:
/// a deliberate difference (`docs/design.md`, "Fragments received"), as IPVS checks
/// the reassembled datagram's largest fragment (`__mtu_check_toobig_v6`)
/// and would tell the sender, quoting the datagram's start; nothing here
/// keeps the first fragment to quote.
#[test]
fn packet_too_big_only_for_a_first_fragment() {
    use frames6::Ext;
    let mut d = director_with(
        DNS6,
        Env {
            mtu: [1500, 1400],
            ..env_gw()
        },
    );
    let frag = |offset| Ext::Fragment {
        offset,
        more: offset == 0,
        id: 9,
    };
    let first = frames6::udp(&from(CLIENT6), &[frag(0)], 40000, 53, &[0x11; 800], false);
    assert_eq!(d.ext(&first).1.len(), 1, "{:?}", drops(&d.w().core.ctr));
    let later = frames6::frame(&from(CLIENT6), &[frag(101)], frames6::UDP, &[0x22; 1400]);
    let (ext, int) = d.ext(&later);
    assert!(ext.is_empty() && int.is_empty());
    assert_eq!((d.ctr(Ctr::DropTooBig), d.ctr(Ctr::Icmp6TooBig)), (1, 0));
    // The first fragment over the MTU gets its error.
    let (ext, _) = d.ext(&frames6::udp(
        &from(CLIENT6),
        &[frag(0)],
        40000,
        53,
        &[0; 1400],
        false,
    ));
    assert_eq!((ext.len(), d.ctr(Ctr::Icmp6TooBig)), (1, 1));
}

/// No packet too big about an ICMPv6 error (RFC 4443 §2.4(e.1)), whole or
/// as an atomic fragment (RFC 6946), which the kernel's `is_ineligible`
/// (`net/ipv6/icmp.c`) reads past with `ipv6_skip_exthdr`: a real server's
/// destination unreachable quoting 1300 bytes of a client's segment is too
/// big for the external MTU (1280) once translated, and is dropped without
/// a word to the server either way.
#[test]
fn no_packet_too_big_about_an_icmpv6_error_in_an_atomic_fragment() {
    use frames6::Ext;
    let mut d = connected_with_mtu([1280, 1500]);
    let to_rs = L3 {
        dst: RS1_6,
        ..from(CLIENT6)
    };
    let sent_in = frames6::tcp(&to_rs, &[], 40000, 80, ACK, &[0x5a; 1300 - 60]);
    assert_eq!(sent_in.len(), 14 + 1300);
    let l = l3_from_rs6(RS1_6, CLIENT6);
    let mut m = vec![1u8, 4, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&sent_in[14..]);
    let c = frames6::checksum6(l.src, l.dst, frames6::ICMPV6, &m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    let atomic = Ext::Fragment {
        offset: 0,
        more: false,
        id: 0x1234,
    };
    for (i, ext) in [&[][..], &[atomic][..]].into_iter().enumerate() {
        let error = frames6::frame(&l, ext, frames6::ICMPV6, &m);
        let (out_ext, out_int) = d.int(&error);
        assert!(out_ext.is_empty(), "{ext:?}: nothing to the client");
        assert!(out_int.is_empty(), "{ext:?}: nothing to the real server");
        assert_eq!(
            (d.ctr(Ctr::DropTooBig), d.ctr(Ctr::Icmp6TooBig)),
            (i as u64 + 1, 0),
            "{ext:?}"
        );
    }
    // The same error that fits is translated: it was the size alone.
    m.truncate(1280 - 40 - 8);
    m[2..4].copy_from_slice(&[0, 0]);
    let c = frames6::checksum6(l.src, l.dst, frames6::ICMPV6, &m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    let (out_ext, out_int) = d.int(&frames6::frame(&l, &[atomic], frames6::ICMPV6, &m));
    assert!(out_int.is_empty());
    assert_eq!(out_ext.len(), 1, "{:?}", drops(&d.w().core.ctr));
    let ip = &out_ext[0][14..];
    assert_eq!(ip.len(), 1280, "an atomic fragment still");
    assert_eq!((addr_at(ip, 8), addr_at(ip, 24)), (VIP6, CLIENT6));
    assert_eq!(out_ext[0][..6], CLIENT_MAC);
    assert_eq!(d.ctr(Ctr::Icmp6TooBig), 0);
}

/// Hop limit 1 on a packet to a service: dropped, and the client told
/// with ICMPv6 time exceeded (hop limit exceeded in transit) from the VIP,
/// as the kernel's `decrement_ttl` (`ip_vs_xmit.c`) sends it.
#[test]
fn hop_limit_exceeded_is_told_from_the_vip() {
    let mut d = director(STANDARD6);
    let mut f = syn(CLIENT6, 40000);
    f[21] = 1;
    let (ext, int) = d.ext(&f);
    assert!(
        int.is_empty() && ext.len() == 1,
        "{:?}",
        drops(&d.w().core.ctr)
    );
    let e = parse_ip6(&ext[0]);
    assert_eq!((e.src, e.dst, e.dst_mac), (VIP6, CLIENT6, CLIENT_MAC));
    assert_eq!(&e.l4[..2], &[3, 0], "time exceeded, hop limit");
    assert_eq!(&e.l4[8..], &f[14..], "the packet quoted whole");
    let c = frames6::checksum6(VIP6, CLIENT6, frames6::ICMPV6, &e.l4);
    assert_eq!(c, 0, "ICMPv6 checksum");
    assert_eq!(d.ctr(Ctr::IcmpTimeExceeded), 1);
    assert_eq!(d.ctr(Ctr::ConnNew), 0);
}

/// Hop limit 1 on a packet to a service from a source that could not open
/// a connection (loopback, the VIP itself, IPv4-mapped): no hop limit
/// exceeded back to it, as the kernel's `ip6_rcv_core` drops a loopback
/// source before IPVS and a local one never routes back in; a v4-mapped one
/// opens no connection here (a deliberate hardening: IPVS on Linux 5.12 or
/// later would take it); `drop_bad_source`, as with a larger hop limit.
#[test]
fn hop_limit_exceeded_from_a_martian_source_tells_nobody() {
    let mut d = director(STANDARD6);
    let mapped: Ipv6Addr = "::ffff:198.18.0.9".parse().unwrap();
    for (n, src) in [Ipv6Addr::LOCALHOST, VIP6, mapped].into_iter().enumerate() {
        let l = L3 {
            src,
            ..from(CLIENT6)
        };
        let mut f = frames6::tcp(&l, &[], 40000, 80, SYN, &[]);
        f[21] = 1;
        let (ext, int) = d.ext(&f);
        assert!(ext.is_empty() && int.is_empty(), "{src} was answered");
        assert_eq!(d.ctr(Ctr::DropBadSource), n as u64 + 1, "{src}");
    }
    assert_eq!(d.ctr(Ctr::IcmpTimeExceeded), 0);
    assert_eq!((d.ctr(Ctr::DropTtl), d.ctr(Ctr::ConnNew)), (0, 0));
}

/// A reply as we send it: [VIP6]:80 → [CLIENT6]:`cport`.
fn our_reply(cport: u16) -> Vec<u8> {
    let l = L3 {
        src: VIP6,
        dst: CLIENT6,
        ..from(CLIENT6)
    };
    frames6::tcp(&l, &[], 80, cport, ACK, &[])
}

fn addr_at(b: &[u8], at: usize) -> Ipv6Addr {
    let mut a = [0; 16];
    a.copy_from_slice(&b[at..at + 16]);
    Ipv6Addr::from(a)
}

#[test]
fn an_icmpv6_error_goes_to_the_worker_owning_its_connection() {
    let mut d = MemDirector::with_env(2, STANDARD6, env_gw(), 1024);
    d.resolve6(Nic::Ext, CLIENT6, CLIENT_MAC);
    d.resolve6(Nic::Int, RS1_6, RS1_MAC);
    d.resolve6(Nic::Int, RS2_6, RS2_MAC);
    // A client port worker 1 owns: its connection lives there.
    let port = (40000..41000)
        .find(|p| env_gw().owner6((CLIENT6, *p), 2) == 1)
        .expect("some port is worker 1's");
    d.workers[1].rx[Nic::Ext].push(&syn(CLIENT6, port));
    d.poll();
    let to_rs = d.workers[1].tx[Nic::Int].take_sent();
    assert_eq!(to_rs.len(), 1);
    let rs = parse_ip6(&to_rs[0]).dst;
    // The real server's error about it reaches worker 0, which hands it over.
    let got = frames6::tcp(
        &L3 {
            dst: rs,
            ..from(CLIENT6)
        },
        &[],
        port,
        80,
        ACK,
        &[],
    );
    let l = l3_from_rs6(rs, CLIENT6);
    d.workers[0].rx[Nic::Int].push(&error6(&l, 1, 0, &got, 48));
    d.poll();
    d.poll();
    assert_eq!(d.workers[0].core.ctr.get(Ctr::HandoffOut), 1);
    assert!(d.workers[0].tx[Nic::Ext].take_sent().is_empty());
    let out = d.workers[1].tx[Nic::Ext].take_sent();
    assert_eq!(out.len(), 1, "{:?}", drops(&d.workers[1].core.ctr));
    let e = parse_ip6(&out[0]);
    assert_eq!((e.src, e.dst), (VIP6, CLIENT6));
    assert_eq!(d.workers[1].core.ctr.get(Ctr::IcmpErrorNat), 1);
}

/// IPv6 as IPv4 (`ip_vs_leave` sends `icmpv6_send` port unreachable): a new
/// connection no real server can take (the only one at weight 0) gets
/// ICMPv6 destination unreachable, code 4 (port unreachable), from the VIP,
/// quoting the packet, and reaches no server.
#[test]
fn a_new_ipv6_connection_no_server_can_take_gets_port_unreachable() {
    let mut d = director(&[
        "-A -t [2001:2:0:1::110]:80 -s rr",
        "-a -t [2001:2:0:1::110]:80 -r [2001:2:0:2::2]:80 -m -w 0",
    ]);
    let f = syn(CLIENT6, 40000);
    let (ext, int) = d.ext(&f);
    assert!(int.is_empty(), "nothing to a real server");
    assert_eq!(ext.len(), 1, "{:?}", drops(&d.w().core.ctr));
    let e = parse_ip6(&ext[0]);
    assert_eq!((e.src, e.dst, e.next_header), (VIP6, CLIENT6, 58));
    assert_eq!(e.l4[..2], [1, 4], "destination unreachable: port");
    assert_eq!(&e.l4[8..], &f[14..], "the packet quoted whole");
    let sum = frames6::checksum6(e.src, e.dst, frames6::ICMPV6, &e.l4);
    assert_eq!(sum, 0, "checksum");
    let c = &d.w().core.ctr;
    assert_eq!(c.get(Ctr::DropNoDest), 1);
    assert_eq!(c.get(Ctr::IcmpPortUnreach), 1);
}

/// An IPv6 packet parked for NDP counts in `fwd_in6` and `fwd_in` when it
/// goes, and in neither if the TX ring is full then (`drop_tx_full`).
#[test]
fn a_parked_ipv6_packet_counts_as_forwarded_when_it_goes() {
    for (room, fwd) in [(0, 0), (1, 1)] {
        let mut d = MemDirector::with_env(1, STANDARD6, env_gw(), 1024);
        d.resolve6(Nic::Ext, CLIENT6, CLIENT_MAC);
        let (ext, int) = d.ext(&syn(CLIENT6, 40000));
        assert!(ext.is_empty() && int.is_empty(), "parked");
        assert_eq!((d.ctr(Ctr::FwdIn), d.ctr(Ctr::FwdIn6)), (0, 0));
        d.w().tx[Nic::Int].capacity = room;
        d.resolve6(Nic::Int, RS1_6, RS1_MAC);
        d.resolve6(Nic::Int, RS2_6, RS2_MAC);
        let (_, int) = d.poll_take();
        assert_eq!(int.len(), room);
        assert_eq!(
            (
                d.ctr(Ctr::FwdIn),
                d.ctr(Ctr::FwdIn6),
                d.ctr(Ctr::DropTxFull)
            ),
            (fwd, fwd, 1 - fwd),
            "{room}"
        );
    }
}

/// A real server that never answers neighbor solicitation: the client's
/// packets parked for it are given up after `PENDING_MAX_AGE` and the
/// client is told with ICMPv6 address unreachable from the VIP, quoting its
/// packet as sent (`ndisc_error_report` → `ip6_link_failure`).
#[test]
fn a_server_that_never_answers_ndp_gets_its_client_address_unreachable() {
    let mut d = MemDirector::with_env(1, STANDARD6, env_gw(), 1024);
    d.resolve6(Nic::Ext, CLIENT6, CLIENT_MAC);
    let sent = syn(CLIENT6, 40000);
    let (ext, int) = d.ext(&sent);
    assert!(ext.is_empty() && int.is_empty(), "parked");
    d.advance(ringvs::dataplane::tx::PENDING_MAX_AGE + Duration::from_millis(100));
    let (mut ext, int) = d.poll_take();
    assert!(int.is_empty());
    assert_eq!(ext.len(), 1);
    let e = parse_ip6(&ext.remove(0));
    assert_eq!(
        (e.src, e.dst, e.src_mac, e.dst_mac, e.next_header),
        (VIP6, CLIENT6, EXT_MAC, CLIENT_MAC, frames6::ICMPV6)
    );
    assert_eq!(&e.l4[..2], &[1, 3], "address unreachable");
    assert_eq!(&e.l4[8..], &sent[14..], "the packet as the client sent it");
    assert_eq!(
        (d.ctr(Ctr::DropNeighUnresolved), d.ctr(Ctr::IcmpHostUnreach)),
        (1, 1)
    );
}
