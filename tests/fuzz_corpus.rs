//! The seed corpus of the worker fuzz target (`fuzz/seeds/worker/`, kept
//! apart from `fuzz/corpus/`, the fuzzer's untracked working corpus; pass both:
//! `cargo fuzz run worker fuzz/corpus/worker fuzz/seeds/worker`): IPv6
//! frames that reach every IPv6 path of the dual-stack harness (neighbor
//! solicitation and advertisement, echo, a new and an established connection,
//! UDP, ICMPv6 errors quoting the connection, extension-header chains and
//! fragments, an MLD query), each in the target's input format (a header byte, a length
//! byte, the frame). The files are generated here: this test fails when they
//! are stale, and `RINGVS_WRITE_CORPUS=1 cargo test --test fuzz_corpus`
//! rewrites them. The same for the `worker_direct` target's seeds
//! (`fuzz/seeds/worker_direct/`, [`direct_seeds`]): routers' "fragmentation
//! needed" about a tunnel packet, and the path MTU it leaves.

#[path = "../fuzz/harness.rs"]
mod harness;

use harness::frames6::{self, Ext};
use harness::{Harness, SYN, l3_in6};
use ringvs::Nic;
use ringvs::stats::Ctr;
use std::net::Ipv6Addr;
use std::path::PathBuf;

/// (file name, NIC, frame).
fn seeds() -> Vec<(String, Nic, Vec<u8>)> {
    let names = [
        "syn6",
        "data6",
        "reply6",
        "syn6_hbh_dstopts",
        "udp6_query",
        "udp6_answer",
        "echo6_vip",
        "echo6_dip",
        "ns_vip",
        "na_rs",
        "unreach6_quote",
        "too_big6_quote",
    ];
    let t = harness::templates6();
    assert_eq!(t.len(), names.len(), "a name per IPv6 template");
    let mut v: Vec<_> = names
        .iter()
        .zip(t)
        .map(|(n, (nic, f))| (n.to_string(), nic, f))
        .collect();
    let i = l3_in6();
    let first = Ext::Fragment {
        offset: 0,
        more: true,
        id: 7,
    };
    for (name, ext, data) in [
        (
            "syn6_routing",
            Ext::Routing {
                kind: 2,
                segments_left: 0,
            },
            &b""[..],
        ),
        // A first fragment of 24 bytes (a multiple of 8, as M asks).
        ("syn6_fragment", first, b"frag"),
        // Of 20: refused, with a parameter problem (`ipv6_frag_rcv`).
        ("syn6_fragment_uneven", first, b""),
        ("syn6_dstopts_lying", Ext::DestOptsClaiming { len8: 4 }, b""),
    ] {
        let f = frames6::tcp(&i, &[Ext::HopByHop, ext], 40003, 80, SYN, data);
        v.push((name.into(), Nic::Ext, f));
    }
    v.push(("mld_query".into(), Nic::Ext, mld_query()));
    v
}

/// An MLDv2 general query as a querier sends it: from a link-local
/// address to all nodes, hop limit 1, the Router Alert (MLD), Maximum
/// Response Code 10000, no source (passed to the control thread,
/// `mld_query`).
fn mld_query() -> Vec<u8> {
    let src = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
    let mut m = vec![130, 0, 0, 0, 0x27, 0x10, 0, 0];
    m.extend([0; 16]);
    m.extend([2, 125, 0, 0]);
    let c = frames6::checksum6(src, frames6::ALL_NODES, frames6::ICMPV6, &m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    let mut l4 = vec![frames6::ICMPV6, 0, 5, 2, 0, 0, 1, 0];
    l4.extend(m);
    let l3 = frames6::L3 {
        src_mac: [0x02, 0x77, 0, 0, 0, 1],
        dst_mac: frames6::ALL_NODES_MAC,
        src,
        dst: frames6::ALL_NODES,
        hop_limit: 1,
    };
    frames6::frame(&l3, &[], frames6::HOP_BY_HOP, &l4)
}

/// The fuzz input of one raw frame on `nic`.
fn input(nic: Nic, f: &[u8]) -> Vec<u8> {
    let len = u8::try_from(f.len()).expect("a seed frame fits the length byte");
    let mut b = vec![u8::from(nic == Nic::Int), len];
    b.extend_from_slice(f);
    b
}

/// The seed at `path`, which must be `want` (written first with `write`,
/// `RINGVS_WRITE_CORPUS`).
fn current_seed(path: &std::path::Path, want: &[u8], write: bool) -> Vec<u8> {
    if write {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("corpus directory");
        }
        std::fs::write(path, want).expect("seed written");
    }
    let have = std::fs::read(path).unwrap_or_default();
    assert!(
        have == want,
        "{} is stale: rerun with RINGVS_WRITE_CORPUS=1",
        path.display()
    );
    have
}

#[test]
fn the_seed_corpus_is_current_and_reaches_the_ipv6_paths() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/worker");
    let write = std::env::var_os("RINGVS_WRITE_CORPUS").is_some();
    let mut h = Harness::new();
    let before = h.w.core.ctr.clone();
    for (name, nic, f) in seeds() {
        let want = input(nic, &f);
        let have = current_seed(&dir.join(format!("ipv6_{name}")), &want, write);
        // The harness checks one outcome per frame.
        h.run(&have);
    }
    let d = |c: Ctr| h.w.core.ctr.get(c) - before.get(c);
    // Every IPv6 path the seeds aim at was taken.
    for (c, n) in [
        (Ctr::RxIpv6, 17),
        (Ctr::ConnNew6, 3),
        // One of them the SYN with a fragment header (a first fragment).
        (Ctr::FwdIn6, 6),
        (Ctr::RxFragments, 2),
        (Ctr::DropFragInvalid, 1),
        (Ctr::Icmp6ParamProblem, 1),
        (Ctr::FwdOut6, 2),
        (Ctr::NdpReply, 1),
        (Ctr::NdpHeard, 1),
        (Ctr::MldQuery, 1),
        (Ctr::IcmpEchoReply, 2),
        (Ctr::IcmpErrorNat, 2),
        (Ctr::DropFragment, 0),
        (Ctr::DropExtHeader, 1),
    ] {
        assert_eq!(d(c), n, "{}", c.name());
    }
}

/// The seed corpus of the `worker_direct` target (`fuzz/seeds/worker_direct/`,
/// run on [`Harness::direct`]: a GUE tunnel to RS2 behind VIP:8080, an
/// internal MTU of 576): a router's "fragmentation needed" about a tunnel
/// packet of ours, and what the path MTU table (`direct_icmp.rs`,
/// `PathMtus`) makes of it. Files generated as the worker's above.
///
/// * `tunnel_frag_needed`: data through the tunnel; the router's error of
///   an RFC 1191 router (MTU 0, taken as 552), told to the client less the
///   tunnel's overhead; a DF packet of 530 bytes, which the link's 576
///   takes but the learned 552 does not, answered by the director itself;
///   the router's error with an MTU above the link's (not learned: the
///   client is told what is held).
/// * `tunnel_frag_needed_no_df`: the error about a client packet sent
///   without DF (learned, nobody to tell), then a packet without DF over
///   the path MTU (its tunnel packet sent in fragments).
fn direct_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let base = harness::templates().len();
    let t = harness::templates_direct();
    let (tun_data, about_tunnel) = (&t[base].1, &t[base + 2].1);
    // The data's TCP segment to VIP:8080 without DF, over the internal MTU.
    let big = u8::try_from(base + 5).expect("a template index fits a byte");
    assert_eq!(t[base + 5].1.len(), 14 + 20 + 20 + 560, "the big template");
    // The router's error with the MTU `mtu`, the quoted client packet's DF
    // as `df`.
    let about = |mtu: u16, df: bool| {
        let mut f = about_tunnel.clone();
        f[14 + 20 + 6..14 + 20 + 8].copy_from_slice(&mtu.to_be_bytes());
        let inner = f.len() - (tun_data.len() - 14);
        f[inner + 6] = if df { 0x40 } else { 0 };
        harness::fix_checksums(&mut f);
        f
    };
    let mut no_df = tun_data.clone();
    no_df[20] = 0;
    harness::fix_checksums(&mut no_df);
    // A template mutated (its checksums recomputed): `[offset, value]`s.
    let template = |which: u8, edits: &[[u8; 2]]| {
        let body: Vec<u8> = std::iter::once(which)
            .chain(edits.iter().flatten().copied())
            .collect();
        let mut b = vec![4 | 16, u8::try_from(body.len()).expect("short edits")];
        b.extend(body);
        b
    };
    vec![
        (
            "tunnel_frag_needed",
            [
                input(Nic::Ext, tun_data),
                input(Nic::Int, &about(0, true)),
                // IP length 530, DF.
                template(big, &[[16, 0x02], [17, 0x12], [20, 0x40]]),
                input(Nic::Int, &about(9000, true)),
            ]
            .concat(),
        ),
        (
            "tunnel_frag_needed_no_df",
            [
                input(Nic::Ext, &no_df),
                input(Nic::Int, &about(560, false)),
                template(big, &[]),
            ]
            .concat(),
        ),
    ]
}

#[test]
fn the_direct_seed_corpus_is_current_and_reaches_the_tunnel_pmtu_paths() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/worker_direct");
    let write = std::env::var_os("RINGVS_WRITE_CORPUS").is_some();
    let want_ctrs: [&[(Ctr, u64)]; 2] = [
        &[
            (Ctr::TunnelEncap, 1),
            (Ctr::IcmpErrorTunnel, 2),
            (Ctr::IcmpFragNeeded, 1),
            (Ctr::DropTooBig, 1),
            (Ctr::DropIcmp, 0),
        ],
        &[
            (Ctr::TunnelEncap, 2),
            (Ctr::IcmpErrorTunnel, 0),
            (Ctr::DropIcmp, 1),
            (Ctr::TxFragmented, 1),
        ],
    ];
    for ((name, want), ctrs) in direct_seeds().into_iter().zip(want_ctrs) {
        let have = current_seed(&dir.join(name), &want, write);
        // Each seed on a director of its own (no path MTU learned yet).
        let mut h = Harness::direct();
        let before = h.w.core.ctr.clone();
        h.run(&have);
        let d = |c: Ctr| h.w.core.ctr.get(c) - before.get(c);
        for &(c, n) in ctrs {
            assert_eq!(d(c), n, "{name}: {}", c.name());
        }
    }
}
