//! `--io-only` (the benchmark mode of `tools/bench`) over IPv6: frames to the
//! director's MAC go to their destination with the MACs rewritten and nothing
//! else (hop limit and checksums untouched; a checksum its sender left to an
//! offload completed), as for IPv4
//! (`tests/pipeline.rs`, `io_only_moves_frames_unchanged_but_for_the_macs`);
//! ICMPv6 to the director (echo, neighbor discovery) is still answered.

mod inmem;

use inmem::frames6::{self, L3};
use inmem::*;
use ringvs::Nic;
use ringvs::stats::Ctr;

fn director() -> MemDirector {
    let mut e = env6();
    e.io_only = true;
    let mut lab = MemDirector::with_env(1, STANDARD6, e, 1024);
    lab.resolve6(Nic::Ext, CLIENT6, CLIENT_MAC);
    lab.resolve6(Nic::Int, RS1_6, RS1_MAC);
    lab.resolve6(Nic::Int, RS2_6, RS2_MAC);
    lab
}

#[test]
fn io_only_moves_ipv6_frames_unchanged_but_for_the_macs() {
    let mut lab = director();
    // Addressed to a real server directly: no NAT, no connection.
    let l3 = L3 {
        dst: RS2_6,
        ..l3_to_vip6()
    };
    let input = frames6::udp(&l3, &[], 40000, 9, b"bench", false);
    let (ext, mut int) = lab.ext(&input);
    assert!(ext.is_empty());
    assert_eq!(int.len(), 1, "{:?}", drops(&lab.w().core.ctr));
    let out = int.remove(0);
    assert_eq!(&out[0..6], &RS2_MAC);
    assert_eq!(&out[6..12], &INT_MAC);
    assert_eq!(
        &out[12..],
        &input[12..],
        "hop limit, payload, checksum untouched"
    );
    // And back, to the on-link client.
    let back = frames6::tcp(&l3_from_rs6(RS1_6, CLIENT6), &[], 80, 40000, SYN | ACK, b"");
    let (mut ext, int) = lab.int(&back);
    assert!(int.is_empty());
    assert_eq!(ext.len(), 1);
    let out = ext.remove(0);
    assert_eq!(&out[0..6], &CLIENT_MAC);
    assert_eq!(&out[6..12], &EXT_MAC);
    assert_eq!(&out[12..], &back[12..]);
    for (c, n) in [
        (Ctr::FwdIn, 1),
        (Ctr::FwdIn6, 1),
        (Ctr::FwdOut, 1),
        (Ctr::FwdOut6, 1),
        (Ctr::RxIpv6, 2),
        (Ctr::ConnNew, 0),
    ] {
        assert_eq!(lab.ctr(c), n, "{}", c.name());
    }
}

/// A TCP segment whose sender left its checksum to an offload leaves
/// `--io-only` with the checksum completed (past a destination options
/// header too), the rest as it came, hop limit included.
#[test]
fn io_only_completes_a_partial_ipv6_checksum() {
    let mut lab = director();
    let l3 = L3 {
        dst: RS2_6,
        ..l3_to_vip6()
    };
    for (ext, at) in [(&[][..], 54), (&[frames6::Ext::DestOpts][..], 62)] {
        let mut input = frames6::tcp(&l3, ext, 40000, 80, ACK, b"partial data");
        // What an offload leaves: not the checksum (here, anything).
        input[at + 16..at + 18].copy_from_slice(&[0x12, 0x34]);
        let meta = ringvs::io::RxMeta {
            wire_len: input.len() as u32,
            csum_partial: true,
            csum_valid: false,
            vlan: None,
        };
        lab.w().rx[Nic::Ext].push_with(&input, meta);
        let (ext_out, mut int) = lab.poll_take();
        assert!(ext_out.is_empty());
        assert_eq!(int.len(), 1, "{:?}", drops(&lab.w().core.ctr));
        let out = int.remove(0);
        let tcp = ringvs::wire::TcpPacket::new_checked(&out[at..]).expect("tcp");
        assert!(tcp.verify_checksum_v6(CLIENT6, RS2_6), "{out:02x?}");
        assert_ne!(&out[at + 16..at + 18], &[0x12, 0x34]);
        assert_eq!(&out[12..at + 16], &input[12..at + 16], "hop limit too");
        assert_eq!(&out[at + 18..], &input[at + 18..]);
    }
}

#[test]
fn io_only_still_answers_icmpv6_and_drops_what_has_no_route() {
    let mut lab = director();
    let ping = frames6::echo_request(&l3_to_vip6(), 7, 1, b"x");
    let (ext, int) = lab.ext(&ping);
    assert!(int.is_empty(), "echo to the VIP not forwarded");
    assert_eq!(ext.len(), 1);
    assert_eq!(parse_ip6(&ext[0]).l4[0], 129, "echo reply");
    // A unicast solicitation to our MAC for the DIP is answered, not forwarded.
    let ns = L3 {
        dst: DIP6,
        hop_limit: 255,
        ..l3_from_rs6(RS1_6, DIP6)
    };
    let (ext, int) = lab.int(&frames6::neighbor_solicit(&ns, DIP6, RS1_MAC));
    assert!(ext.is_empty());
    assert_eq!(int.len(), 1);
    assert_eq!(lab.ctr(Ctr::NdpReply), 1);
    // Off-link from the internal side with no IPv6 gateway: nowhere to go.
    let far = L3 {
        dst: "2001:2:0:9::1".parse().expect("address"),
        ..l3_from_rs6(RS1_6, CLIENT6)
    };
    let (ext, int) = lab.int(&frames6::udp(&far, &[], 53, 40000, b"x", false));
    assert!(ext.is_empty() && int.is_empty());
    assert_eq!(lab.ctr(Ctr::DropNoService), 1);
    assert_eq!(lab.ctr(Ctr::FwdOut), 0);
}
