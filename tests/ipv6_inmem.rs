//! Issue 15, items 2-4, on the in-memory director: what the edge of the IPv6
//! data path does with one frame — neighbor solicitations answered (or not),
//! what was heard reported, router discovery ignored, echo answered, and every
//! frame it refuses counted under its reason. Frames are built byte by byte
//! (`tests/ipv6/frames.rs`); what comes out is checked by smoltcp and parsed
//! back with `ringvs::wire::ndp`.

mod inmem;

use inmem::frames6::{self, Ext, L3};
use inmem::*;
use ringvs::Nic;
use ringvs::neigh::NeighEvent;
use ringvs::stats::Ctr;
use ringvs::wire::ndp::{self, Ndp, flags};
use ringvs::wire::{Ipv6Packet, Mac};
use std::net::Ipv6Addr;

const ALL_NODES_MAC: [u8; 6] = frames6::ALL_NODES_MAC;
const BOGUS_MAC: [u8; 6] = [0x02, 0xde, 0xad, 0xbe, 0xef, 0x01];

/// The dual-stack director with the IPv6 standard service, nobody resolved.
fn director() -> MemDirector {
    MemDirector::dual_stack(STANDARD6)
}

/// The one frame `d` sent out of `nic` after `frame` came in on it, and
/// nothing out of the other NIC.
fn answer(d: &mut MemDirector, nic: Nic, frame: &[u8]) -> Vec<u8> {
    let (ext, int) = match nic {
        Nic::Ext => d.ext(frame),
        Nic::Int => d.int(frame),
    };
    let (mut same, other) = match nic {
        Nic::Ext => (ext, int),
        Nic::Int => (int, ext),
    };
    assert!(other.is_empty(), "out of the other NIC: {other:02x?}");
    assert_eq!(same.len(), 1, "one answer on {nic:?}: {same:02x?}");
    same.remove(0)
}

/// Nothing at all came out for `frame` on `nic`.
fn silent(d: &mut MemDirector, nic: Nic, frame: &[u8]) {
    let (ext, int) = match nic {
        Nic::Ext => d.ext(frame),
        Nic::Int => d.int(frame),
    };
    assert!(
        ext.is_empty() && int.is_empty(),
        "sent {ext:02x?} {int:02x?}"
    );
}

/// The advertisement in `frame`, as `wire::ndp` reads it back.
fn advert(frame: &[u8]) -> (Ipv6Addr, u8, Option<Mac>) {
    let ip = Ipv6Packet::new_checked(&frame[14..]).expect("IPv6");
    match ndp::parse(&ip) {
        Ok(Ndp::Advert {
            target,
            flags,
            target_ll,
        }) => (target, flags, target_ll),
        other => panic!("not a valid advertisement: {other:?}"),
    }
}

/// Only `ctr` moved among the drop counters, by `n`.
fn only_drop(d: &MemDirector, ctr: Ctr, n: u64) {
    assert_eq!(drops(ctrs(d)), vec![(ctr.name(), n)], "drops");
}

/// Worker 0's counters.
fn ctrs(d: &MemDirector) -> &ringvs::stats::Counters {
    &d.workers[0].core.ctr
}

/// Worker 0's counters back to 0, for the next case.
fn reset(d: &mut MemDirector) {
    d.w().core.ctr.0.fill(0);
}

#[test]
fn solicitations_for_the_vip_the_external_address_and_the_dip_are_answered() {
    let mut d = director();
    let sol = S | O | R;
    for (nic, from, (src, smac), target) in [
        (Nic::Ext, EXT_MAC, (CLIENT6, CLIENT_MAC), VIP6),
        (Nic::Ext, EXT_MAC, (CLIENT6, CLIENT_MAC), EXT_ADDR6),
        (Nic::Int, INT_MAC, (RS1_6, RS1_MAC), DIP6),
    ] {
        let group = frames6::multicast_mac(frames6::solicited_node(target));
        let na = answer(&mut d, nic, &ns6(smac, src, target, group));
        let p = parse_ip6(&na);
        assert_eq!(
            (p.src_mac, p.dst_mac, p.src, p.dst, p.hop_limit),
            (from, smac, target, src, 255),
            "{target}"
        );
        assert_eq!(advert(&na), (target, sol, Some(Mac(from))), "{target}");
        // The soliciter is reported (the table decides what it is worth).
        assert_eq!(
            d.neigh_events(),
            [NeighEvent::HeardNs {
                nic,
                ip: src,
                mac: Mac(smac)
            }]
        );
    }
    // A unicast solicitation (a neighbor checking its cache) is answered the same.
    let l = L3 {
        dst_mac: EXT_MAC,
        dst: VIP6,
        hop_limit: 255,
        ..l3_to_vip6()
    };
    let na = answer(
        &mut d,
        Nic::Ext,
        &frames6::neighbor_solicit(&l, VIP6, CLIENT_MAC),
    );
    assert_eq!(advert(&na), (VIP6, sol, Some(Mac(EXT_MAC))));
    assert_eq!(parse_ip6(&na).dst, CLIENT6);
    assert_eq!(d.ctr(Ctr::NdpReply), 4);
    assert_eq!(d.ctr(Ctr::RxIpv6), 4);
    assert_eq!(drop_sum(ctrs(&d)), 0, "{:?}", drops(ctrs(&d)));
}

const S: u8 = flags::SOLICITED;
const O: u8 = flags::OVERRIDE;
const R: u8 = flags::ROUTER;

#[test]
fn duplicate_address_detection_of_a_vip_is_answered_to_all_nodes() {
    let mut d = director();
    // From ::, no source link-layer option (RFC 4861 §4.3), to the group.
    let group = frames6::solicited_node(VIP6);
    let l = L3 {
        src_mac: BOGUS_MAC,
        dst_mac: frames6::multicast_mac(group),
        src: Ipv6Addr::UNSPECIFIED,
        dst: group,
        hop_limit: 255,
    };
    let mut body = vec![0; 4];
    body.extend_from_slice(&VIP6.octets());
    let na = answer(&mut d, Nic::Ext, &frames6::icmp6(&l, 135, 0, &body));
    let p = parse_ip6(&na);
    assert_eq!((p.dst, p.dst_mac), (frames6::ALL_NODES, ALL_NODES_MAC));
    // Not solicited: it goes to all nodes (RFC 4861 §7.2.4).
    assert_eq!(advert(&na), (VIP6, O | R, Some(Mac(EXT_MAC))));
    assert!(d.neigh_events().is_empty(), "no neighbor named");
}

#[test]
fn solicitations_not_for_us_are_dropped_unanswered() {
    let mut d = director();
    let target_group = |t| frames6::multicast_mac(frames6::solicited_node(t));
    // A foreign address, the internal NIC's address asked for on the external
    // one, and a VIP asked for on the internal NIC (VIPs are the external
    // NIC's).
    silent(
        &mut d,
        Nic::Ext,
        &ns6(CLIENT_MAC, CLIENT6, NOT_OURS6, target_group(NOT_OURS6)),
    );
    silent(
        &mut d,
        Nic::Ext,
        &ns6(CLIENT_MAC, CLIENT6, DIP6, target_group(DIP6)),
    );
    silent(
        &mut d,
        Nic::Int,
        &ns6(RS1_MAC, RS1_6, VIP6, target_group(VIP6)),
    );
    // A source link-layer option naming a group (the answer would go to
    // every host), and one of two units where Ethernet takes one (Linux's
    // `ndisc_recv_ns`: "invalid link-layer address length").
    let mut bcast = ns6(CLIENT_MAC, CLIENT6, VIP6, target_group(VIP6));
    let opt = bcast.len() - 6;
    bcast[opt..].copy_from_slice(&[0xff; 6]);
    fix_icmp6(&mut bcast);
    silent(&mut d, Nic::Ext, &bcast);
    let mut long = ns6(CLIENT_MAC, CLIENT6, VIP6, target_group(VIP6));
    long[opt - 1] = 2;
    long.extend_from_slice(&[0; 8]);
    let payload = (long.len() - 54) as u16;
    long[18..20].copy_from_slice(&payload.to_be_bytes());
    fix_icmp6(&mut long);
    silent(&mut d, Nic::Ext, &long);
    only_drop(&d, Ctr::DropNdp, 5);
    assert!(d.neigh_events().is_empty());
    assert_eq!(d.ctr(Ctr::NdpReply), 0);
}

/// A deleted IPv6 VIP is no longer ours: a solicitation for it is dropped
/// unanswered (counted in `drop_ndp`), as one for any foreign address.
#[test]
fn a_deleted_vip_is_no_longer_answered() {
    let mut d = director();
    let group_mac = frames6::multicast_mac(frames6::solicited_node(VIP6));
    let ns = ns6(CLIENT_MAC, CLIENT6, VIP6, group_mac);
    let na = answer(&mut d, Nic::Ext, &ns);
    assert_eq!(advert(&na).0, VIP6);
    assert_eq!(d.ctr(Ctr::NdpReply), 1);
    // The service deleted: only an IPv4 one is left.
    d.reconfigure(STANDARD);
    silent(&mut d, Nic::Ext, &ns);
    only_drop(&d, Ctr::DropNdp, 1);
    assert_eq!(d.ctr(Ctr::NdpReply), 1);
}

/// The ICMPv6 checksum of `frame` (Ethernet, IPv6 without extension
/// headers, ICMPv6) made good again.
fn fix_icmp6(frame: &mut [u8]) {
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(&frame[22..38]).expect("16 bytes"));
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&frame[38..54]).expect("16 bytes"));
    frame[56..58].fill(0);
    let c = frames6::checksum6(src, dst, frames6::ICMPV6, &frame[54..]);
    frame[56..58].copy_from_slice(&c.to_be_bytes());
}

#[test]
fn neighbor_discovery_that_crossed_a_router_is_dropped() {
    let mut d = director();
    let group = frames6::solicited_node(VIP6);
    let l = L3 {
        dst_mac: frames6::multicast_mac(group),
        dst: group,
        hop_limit: 64,
        ..l3_to_vip6()
    };
    silent(
        &mut d,
        Nic::Ext,
        &frames6::neighbor_solicit(&l, VIP6, CLIENT_MAC),
    );
    let l = L3 {
        dst_mac: ALL_NODES_MAC,
        dst: frames6::ALL_NODES,
        hop_limit: 64,
        ..l3_to_vip6()
    };
    silent(
        &mut d,
        Nic::Ext,
        &frames6::neighbor_advert(&l, CLIENT6, O, CLIENT_MAC),
    );
    only_drop(&d, Ctr::DropNdp, 2);
    assert!(d.neigh_events().is_empty(), "nothing reported");
}

#[test]
fn router_discovery_and_redirects_are_ignored() {
    let mut d = director();
    let to_all = L3 {
        dst_mac: ALL_NODES_MAC,
        dst: frames6::ALL_NODES,
        hop_limit: 255,
        ..l3_to_vip6()
    };
    // A router advertisement (type 134): hop limit, flags, lifetimes.
    let ra = frames6::icmp6(
        &to_all,
        134,
        0,
        &[64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0],
    );
    silent(&mut d, Nic::Ext, &ra);
    let to_routers = L3 {
        dst_mac: [0x33, 0x33, 0, 0, 0, 2],
        dst: Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2),
        ..to_all
    };
    silent(
        &mut d,
        Nic::Ext,
        &frames6::icmp6(&to_routers, 133, 0, &[0; 4]),
    );
    let mut redirect = vec![0; 4];
    redirect.extend_from_slice(&RS1_6.octets());
    redirect.extend_from_slice(&CLIENT6.octets());
    let to_us = L3 {
        dst_mac: INT_MAC,
        dst: DIP6,
        ..l3_from_rs6(RS1_6, DIP6)
    };
    silent(&mut d, Nic::Int, &frames6::icmp6(&to_us, 137, 0, &redirect));
    only_drop(&d, Ctr::DropRouterAdvert, 3);
}

#[test]
fn echo_requests_to_our_addresses_are_answered() {
    let mut d = director();
    let data = b"ringvs ping6 payload";
    for (nic, l) in [
        (Nic::Ext, l3_to_vip6()),
        (
            Nic::Ext,
            L3 {
                dst: EXT_ADDR6,
                ..l3_to_vip6()
            },
        ),
        (Nic::Int, l3_from_rs6(RS1_6, DIP6)),
    ] {
        let reply = answer(&mut d, nic, &frames6::echo_request(&l, 0x1c2b, 7, data));
        let p = parse_ip6(&reply);
        assert_eq!(
            (p.src_mac, p.dst_mac, p.src, p.dst, p.next_header),
            (l.dst_mac, l.src_mac, l.dst, l.src, 58),
            "to {}",
            l.dst
        );
        assert_eq!(p.l4[0..2], [129, 0], "echo reply");
        assert_eq!(p.l4[4..8], [0x1c, 0x2b, 0, 7], "identifier and sequence");
        assert_eq!(&p.l4[8..], data);
    }
    // A request behind a destination options header: the reply has none.
    let f = frames6::frame(
        &l3_to_vip6(),
        &[Ext::DestOpts],
        frames6::ICMPV6,
        &frames6::echo_request(&l3_to_vip6(), 1, 2, data)[54..],
    );
    let p = parse_ip6(&answer(&mut d, Nic::Ext, &f));
    assert_eq!((p.next_header, p.l4[0]), (58, 129));
    assert_eq!(d.ctr(Ctr::IcmpEchoReply), 4);
    assert_eq!(drop_sum(ctrs(&d)), 0, "{:?}", drops(ctrs(&d)));

    // A damaged checksum is not answered (the reply's checksum is updated
    // from the request's, so it would stay damaged).
    let mut bad = frames6::echo_request(&l3_to_vip6(), 1, 3, data);
    bad[57] ^= 0x40;
    silent(&mut d, Nic::Ext, &bad);
    // A request to an address that is not ours is no service.
    let l = L3 {
        dst: NOT_OURS6,
        ..l3_to_vip6()
    };
    silent(&mut d, Nic::Ext, &frames6::echo_request(&l, 1, 4, data));
    assert_eq!(
        drops(ctrs(&d)),
        vec![(Ctr::DropNoService.name(), 1), (Ctr::DropIcmp.name(), 1)]
    );
}

/// An echo request to the VIP from a loopback source, which `ip6_rcv_core`
/// (`net/ipv6/ip6_input.c`) drops before ICMPv6 sees it, goes unanswered,
/// counted in `drop_bad_source`. One from an IPv4-mapped source is
/// answered: `ip6_rcv_core` stopped dropping those in Linux 5.12
/// (dcc32f4f183a).
#[test]
fn echo_from_a_loopback_source_is_not_answered_from_a_mapped_one_is() {
    let mut d = director();
    let l = L3 {
        src: Ipv6Addr::LOCALHOST,
        ..l3_to_vip6()
    };
    silent(&mut d, Nic::Ext, &frames6::echo_request(&l, 1, 1, b"x"));
    only_drop(&d, Ctr::DropBadSource, 1);
    assert_eq!(d.ctr(Ctr::IcmpEchoReply), 0);
    let mapped: Ipv6Addr = "::ffff:198.18.0.1".parse().expect("addr");
    let l = L3 {
        src: mapped,
        ..l3_to_vip6()
    };
    let (ext, int) = d.ext(&frames6::echo_request(&l, 1, 1, b"x"));
    assert!(int.is_empty());
    assert_eq!(ext.len(), 1, "answered");
    let p = smoltcp::wire::Ipv6Packet::new_checked(&ext[0][14..]).expect("ipv6");
    assert_eq!((p.src_addr(), p.dst_addr()), (VIP6, mapped));
    assert_eq!(d.ctr(Ctr::IcmpEchoReply), 1);
}

#[test]
fn extension_header_chains_and_fragments_are_counted() {
    let mut d = director();
    let syn = |ext: &[Ext]| frames6::tcp(&l3_to_vip6(), ext, 41000, 80, SYN, b"x");
    for (ext, why) in [
        (&[Ext::DestOpts; 24][..], "24 destination options"),
        (&[Ext::DestOpts, Ext::HopByHop][..], "hop-by-hop not first"),
        (
            &[Ext::Routing {
                kind: 0,
                segments_left: 1,
            }][..],
            "a source route",
        ),
        (
            &[Ext::DestOptsClaiming { len8: 5 }][..],
            "a length past the packet",
        ),
    ] {
        silent(&mut d, Nic::Ext, &syn(ext));
        assert_eq!(d.ctr(Ctr::DropExtHeader), 1, "{why}: {:?}", drops(ctrs(&d)));
        reset(&mut d);
    }
    // Fragments of TCP/UDP are forwarded (`frag.rs`; tests/frag_inmem.rs
    // cuts whole datagrams): a first fragment, a later one of its datagram,
    // an atomic fragment (RFC 6946), the whole packet it is (not counted
    // as a fragment). A first fragment of ICMPv6 is not.
    d.resolve6(Nic::Int, RS1_6, RS1_MAC);
    d.resolve6(Nic::Int, RS2_6, RS2_MAC);
    // (24 bytes after the fragment header: with M set, a multiple of 8.)
    let syn24 = |ext: &[Ext]| frames6::tcp(&l3_to_vip6(), ext, 41000, 80, SYN, b"frag");
    for (offset, more) in [(0, true), (185, false), (0, false)] {
        let frag = Ext::Fragment {
            offset,
            more,
            id: 0xbeef,
        };
        let (_, int) = d.ext(&syn24(&[frag]));
        assert_eq!(int.len(), 1, "fragment at {offset}: {:?}", drops(ctrs(&d)));
    }
    assert_eq!(d.ctr(Ctr::RxFragments), 2);
    assert_eq!(drops(ctrs(&d)), vec![]);
    let mut echo = frames6::echo_request(&l3_to_vip6(), 1, 1, b"pingping");
    // The fragment header (next header ICMPv6) between the fixed header and
    // the message: a first fragment of an echo request is answered by the
    // reply's (tests/frag_inmem.rs), one of another message is not.
    echo.splice(54..54, [58, 0, 0, 1, 0, 0, 0, 9]);
    echo[20] = 44;
    let plen = u16::from_be_bytes([echo[18], echo[19]]) + 8;
    echo[18..20].copy_from_slice(&plen.to_be_bytes());
    let (ext, _) = d.ext(&echo);
    assert_eq!(ext.len(), 1, "the reply's first fragment");
    assert_eq!(ext[0][62], 129);
    echo[62] = 200; // private experimentation (RFC 4443)
    silent(&mut d, Nic::Ext, &echo);
    only_drop(&d, Ctr::DropFragment, 1);
}

/// Hop-by-hop options as the kernel's `ip6_parse_tlv` (`net/ipv6/exthdrs.c`)
/// checks them in `ip6_rcv_core`, before IPVS: PadN data not zero and a
/// router alert not 2 bytes long (`ipv6_hop_ra`) are dropped in silence;
/// an unknown option whose type says 10 or 11 gets its sender a parameter
/// problem, code 2, pointing at it, from the VIP (`ip6_tlvopt_unknown`),
/// one whose type says 01 nothing; nor does one to an address not ours.
#[test]
fn hop_by_hop_options_are_checked_as_the_kernel_checks_them() {
    let mut d = director();
    let syn = |l: &L3, opts: [u8; 6]| {
        let mut f = frames6::tcp(l, &[Ext::HopByHop], 41000, 80, SYN, b"x");
        f[56..62].copy_from_slice(&opts);
        f
    };
    for opts in [
        [1, 4, 0, 0, 7, 0],
        [5, 4, 0, 0, 0, 0],
        [0x5e, 0, 1, 2, 0, 0],
    ] {
        silent(&mut d, Nic::Ext, &syn(&l3_to_vip6(), opts));
    }
    only_drop(&d, Ctr::DropExtHeader, 3);
    for (opts, pointer) in [([0x9e, 0, 1, 2, 0, 0], 42), ([1, 0, 0xde, 0, 0, 0], 44)] {
        let f = syn(&l3_to_vip6(), opts);
        let e = answer(&mut d, Nic::Ext, &f);
        assert_eq!((&e[..6], &e[6..12]), (&CLIENT_MAC[..], &EXT_MAC[..]));
        let ip = smoltcp::wire::Ipv6Packet::new_checked(&e[14..]).expect("ipv6");
        assert_eq!((ip.src_addr(), ip.dst_addr()), (VIP6, CLIENT6));
        let icmp = smoltcp::wire::Icmpv6Packet::new_checked(ip.payload()).expect("icmpv6");
        assert!(icmp.verify_checksum(&VIP6, &CLIENT6));
        assert_eq!(
            &e[54..56],
            &[4, 2],
            "parameter problem, unrecognized option"
        );
        assert_eq!(icmp.param_problem_ptr(), pointer);
        assert_eq!(icmp.payload(), &f[14..]);
    }
    assert_eq!(d.ctr(Ctr::Icmp6ParamProblem), 2);
    assert_eq!(d.ctr(Ctr::DropExtHeader), 5);
    let l = L3 {
        dst: NOT_OURS6,
        ..l3_to_vip6()
    };
    silent(&mut d, Nic::Ext, &syn(&l, [0x9e, 0, 1, 2, 0, 0]));
    assert_eq!(d.ctr(Ctr::DropExtHeader), 6);
    assert_eq!(d.ctr(Ctr::Icmp6ParamProblem), 2);
    // From loopback: dropped before the options are read (`ip6_rcv_core`).
    let lo = L3 {
        src: Ipv6Addr::LOCALHOST,
        ..l3_to_vip6()
    };
    silent(&mut d, Nic::Ext, &syn(&lo, [0x9e, 0, 1, 2, 0, 0]));
    assert_eq!(d.ctr(Ctr::DropBadSource), 1);
    // In a frame to a multicast link address: an option of type 11 is not
    // told, one of type 10 is (`icmp6_send`'s `opt_unrec`).
    let m = L3 {
        dst_mac: [0x33, 0x33, 0, 0, 0, 1],
        ..l3_to_vip6()
    };
    silent(&mut d, Nic::Ext, &syn(&m, [0xde, 0, 1, 2, 0, 0]));
    assert_eq!(d.ctr(Ctr::Icmp6ParamProblem), 2);
    answer(&mut d, Nic::Ext, &syn(&m, [0x9e, 0, 1, 2, 0, 0]));
    assert_eq!(d.ctr(Ctr::Icmp6ParamProblem), 3);
    // A standby tells nobody.
    d.shared.ha.set_standby(true);
    d.shared.bump();
    silent(&mut d, Nic::Ext, &syn(&l3_to_vip6(), [0x9e, 0, 1, 2, 0, 0]));
    assert_eq!(d.ctr(Ctr::Icmp6ParamProblem), 3);
    assert_eq!(d.ctr(Ctr::DropExtHeader), 9);
}

#[test]
fn refused_ipv6_packets_are_counted_by_reason() {
    let mut d = director();
    let data = b"RINGVS";
    let base = frames6::tcp(&l3_to_vip6(), &[], 41000, 80, SYN, data);
    let cases: Vec<(Vec<u8>, Ctr)> = vec![
        (base[..40].to_vec(), Ctr::DropIpMalformed),
        (
            {
                let mut f = base.clone();
                f[18..20].copy_from_slice(&200u16.to_be_bytes());
                f
            },
            Ctr::DropIpMalformed,
        ),
        (
            {
                let mut f = base.clone();
                f[18..20].copy_from_slice(&10u16.to_be_bytes());
                f
            },
            Ctr::DropL4Malformed,
        ),
        (
            {
                // Hop limit 1 to a port without a service: nobody is told
                // (`ttl_expired_packets_tell_their_senders`, pipeline.rs).
                let mut f = frames6::tcp(&l3_to_vip6(), &[], 41000, 81, SYN, data);
                f[21] = 1;
                f
            },
            Ctr::DropTtl,
        ),
        (
            {
                let mut f = base.clone();
                f[22..38].copy_from_slice(&frames6::ALL_NODES.octets());
                f
            },
            Ctr::DropBadSource,
        ),
        (
            {
                let mut f = base.clone();
                f[70] ^= 0x5a;
                f
            },
            Ctr::DropL4Checksum,
        ),
        (
            frames6::udp(&l3_to_vip6(), &[], 41001, 53, data, true),
            Ctr::DropL4Checksum,
        ),
        (frames6::frame(&l3_to_vip6(), &[], 47, data), Ctr::DropProto),
        (
            frames6::frame(&l3_to_vip6(), &[], frames6::NO_NEXT, &[]),
            Ctr::DropExtHeader,
        ),
        (
            {
                let l = L3 {
                    dst_mac: OTHER_MAC,
                    ..l3_to_vip6()
                };
                frames6::tcp(&l, &[], 41000, 80, SYN, data)
            },
            Ctr::DropNotForUs,
        ),
        (
            {
                // MLD's group, not one of neighbor discovery's.
                let l = L3 {
                    dst_mac: [0x33, 0x33, 0, 0, 0, 0x16],
                    ..l3_to_vip6()
                };
                frames6::tcp(&l, &[], 41000, 80, SYN, data)
            },
            Ctr::DropNotForUs,
        ),
    ];
    for (f, ctr) in cases {
        silent(&mut d, Nic::Ext, &f);
        assert_eq!(drops(ctrs(&d)), vec![(ctr.name(), 1)], "{f:02x?}");
        reset(&mut d);
    }
}

#[test]
fn ipv6_frames_without_ipv6_addresses_are_counted() {
    let mut d = MemDirector::new(STANDARD);
    let group = frames6::multicast_mac(frames6::solicited_node(EXT_ADDR6));
    silent(
        &mut d,
        Nic::Ext,
        &ns6(CLIENT_MAC, CLIENT6, EXT_ADDR6, group),
    );
    silent(
        &mut d,
        Nic::Ext,
        &frames6::echo_request(&l3_to_vip6(), 1, 1, b"x"),
    );
    only_drop(&d, Ctr::DropEthertype, 2);
    assert_eq!(d.ctr(Ctr::RxIpv6), 0);
}

/// An unsolicited advertisement with override, to all nodes, from the
/// client's address and `mac`: "`target` is at `mac`".
fn unsolicited_na(mac: [u8; 6], target: Ipv6Addr) -> Vec<u8> {
    let l = L3 {
        src_mac: mac,
        dst_mac: ALL_NODES_MAC,
        src: CLIENT6,
        dst: frames6::ALL_NODES,
        hop_limit: 255,
    };
    frames6::neighbor_advert(&l, target, O, mac)
}

#[test]
fn forged_advertisements_are_reported_but_never_believed() {
    let mut d = director();
    d.resolve6(Nic::Ext, CLIENT6, CLIENT_MAC);
    // "The client is at BOGUS", unsolicited, override set, to all nodes.
    silent(&mut d, Nic::Ext, &unsolicited_na(BOGUS_MAC, CLIENT6));
    // And "the VIP is at BOGUS": nobody else's to claim.
    silent(&mut d, Nic::Ext, &unsolicited_na(BOGUS_MAC, VIP6));
    assert_eq!(d.ctr(Ctr::NdpHeard), 1);
    only_drop(&d, Ctr::DropNdp, 1);
    let events = d.neigh_events();
    assert_eq!(
        events,
        [NeighEvent::HeardNa {
            nic: Nic::Ext,
            ip: CLIENT6,
            tlla: Some(Mac(BOGUS_MAC)),
            src: Mac(BOGUS_MAC),
            solicited: false,
            overrides: true,
        }]
    );
    // The table asks the old MAC by unicast solicitation, which keeps the
    // traffic meanwhile, and answers: the claim is refuted.
    let [ev] = events.try_into().expect("one event");
    let probe = d.neigh.event(ev, d.now);
    assert_eq!(
        probe,
        Some(ringvs::neigh::Probe::Ns {
            nic: Nic::Ext,
            ip: CLIENT6,
            to: Some(Mac(CLIENT_MAC))
        })
    );
    assert!(
        d.neigh
            .take_snapshot()
            .is_none_or(|s| s.get(Nic::Ext, CLIENT6) == Some(Mac(CLIENT_MAC)))
    );
    let answer = NeighEvent::HeardNa {
        nic: Nic::Ext,
        ip: CLIENT6,
        tlla: None,
        src: Mac(CLIENT_MAC),
        solicited: true,
        overrides: false,
    };
    d.neigh.event(answer, d.now);
    assert_eq!(d.neigh.refuted, 1);
    assert!(
        matches!(
            d.neigh.state(Nic::Ext, CLIENT6),
            Some(ringvs::neigh::EntryState::Reachable { mac, .. }) if mac == Mac(CLIENT_MAC)
        ),
        "{:?}",
        d.neigh.state(Nic::Ext, CLIENT6)
    );
}

/// Neighbor discovery is counted as ARP is: a solicitation whose sender is
/// passed to the neighbor table counts as what its answer became
/// (`ndp_reply`, or `drop_standby` on a standby), as an ARP request does;
/// `ndp_heard` counts what is passed without an answer (advertisements), as
/// `arp_heard` does; a frame from a multicast Ethernet source is refused
/// (`drop_ndp`), as ARP from a multicast MAC is (`drop_arp`).
#[test]
fn neighbor_discovery_is_counted_as_arp_is() {
    let mut d = director();
    let group = frames6::multicast_mac(frames6::solicited_node(VIP6));
    let heard_ns = NeighEvent::HeardNs {
        nic: Nic::Ext,
        ip: CLIENT6,
        mac: Mac(CLIENT_MAC),
    };
    answer(&mut d, Nic::Ext, &ns6(CLIENT_MAC, CLIENT6, VIP6, group));
    assert_eq!(d.neigh_events(), [heard_ns]);
    assert_eq!((d.ctr(Ctr::NdpReply), d.ctr(Ctr::NdpHeard)), (1, 0));
    assert_eq!(drop_sum(ctrs(&d)), 0);
    // From a multicast source: nobody's address.
    reset(&mut d);
    let multicast = [0x33, 0x33, 0, 0, 0, 9];
    silent(&mut d, Nic::Ext, &ns6(multicast, CLIENT6, VIP6, group));
    assert_eq!(d.neigh_events(), []);
    only_drop(&d, Ctr::DropNdp, 1);
    // A standby: heard, not answered.
    reset(&mut d);
    d.shared.ha.set_standby(true);
    d.shared.bump();
    silent(&mut d, Nic::Ext, &ns6(CLIENT_MAC, CLIENT6, VIP6, group));
    assert_eq!(d.neigh_events(), [heard_ns]);
    assert_eq!((d.ctr(Ctr::NdpReply), d.ctr(Ctr::NdpHeard)), (0, 0));
    only_drop(&d, Ctr::DropStandby, 1);
    // An advertisement is passed on without an answer.
    reset(&mut d);
    silent(&mut d, Nic::Ext, &unsolicited_na(CLIENT_MAC, CLIENT6));
    assert_eq!(d.neigh_events().len(), 1);
    assert_eq!(d.ctr(Ctr::NdpHeard), 1);
    assert_eq!(drop_sum(ctrs(&d)), 0);
}

#[test]
fn a_standby_reports_what_it_hears_and_answers_nothing() {
    let mut d = director();
    d.shared.ha.set_standby(true);
    d.shared.bump();
    let group = frames6::multicast_mac(frames6::solicited_node(VIP6));
    silent(&mut d, Nic::Ext, &ns6(CLIENT_MAC, CLIENT6, VIP6, group));
    assert_eq!(
        d.neigh_events(),
        [NeighEvent::HeardNs {
            nic: Nic::Ext,
            ip: CLIENT6,
            mac: Mac(CLIENT_MAC)
        }]
    );
    silent(
        &mut d,
        Nic::Ext,
        &frames6::echo_request(&l3_to_vip6(), 1, 1, b"x"),
    );
    silent(
        &mut d,
        Nic::Ext,
        &frames6::tcp(&l3_to_vip6(), &[], 41000, 80, SYN, b""),
    );
    only_drop(&d, Ctr::DropStandby, 3);
}
