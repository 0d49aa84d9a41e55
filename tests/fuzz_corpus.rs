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
//! needed" about a tunnel packet, and the path MTU it leaves. And both
//! targets' seeds of SCTP in fragments ([`sctp_seeds`]): IPv4 fragments
//! where NAT changes the port and where it keeps it, IPv6 atomic fragments.

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

/// A seed: its file name, its bytes, and the counters it moves by how much.
type Seed = (&'static str, Vec<u8>, Vec<(Ctr, u64)>);

/// Seeds of both worker targets (the same files in `fuzz/seeds/worker/` and
/// `fuzz/seeds/worker_direct/`) for SCTP in fragments (`frag_nat.rs`), each
/// run of frames on a harness of its own:
///
/// * `sctp_fragments_port_changed`: an INIT to VIP:5000 (RS1:5001) in two
///   IPv4 fragments, the later first: held, then both dropped for the port
///   (`drop_sctp_frag_port`);
/// * `sctp_fragments_port_kept`: an INIT to VIP:5002 (RS1:5002) in two, and
///   the server's INIT ACK in two: all forwarded, the association made;
/// * `sctp6_atomic`: an INIT to VIP6:5000 (RS1_6:5001) as an IPv6 atomic
///   fragment, translated whole; the server's INIT ACK so too; the INIT
///   again with its CRC32c damaged (`drop_l4_checksum`).
fn sctp_seeds() -> Vec<Seed> {
    use harness::{CLIENT, CLIENT_MAC, EXT_MAC, INT_MAC, RS1, RS1_MAC, VIP, fragment, ip_frame};
    let init_value = [
        0x9e, 0x8d, 0x52, 0x25, 0, 0, 0x80, 0, 0, 1, 0, 1, 0, 0, 0, 1,
    ];
    // An INIT with a 32-byte parameter (a cookie preservative's worth).
    let mut value = init_value.to_vec();
    value.extend([0, 9, 0, 32].iter().chain(&[7; 28]));
    let packet = frames6::sctp_unfilled;
    let (c, r) = ((CLIENT_MAC, EXT_MAC), (RS1_MAC, INT_MAC));
    // `f` in two IPv4 fragments, the first with 24 bytes of its payload.
    let two = |f: Vec<u8>| {
        let first = fragment(f[..34 + 24].to_vec(), 0, true);
        let rest = fragment([&f[..34], &f[34 + 24..]].concat(), 24, false);
        (first, rest)
    };
    let (i0, i1) = two(ip_frame(
        c,
        CLIENT,
        VIP,
        132,
        packet(42000, 5000, 0, &[(1, &value)]),
    ));
    let changed = [input(Nic::Ext, &i1), input(Nic::Ext, &i0)].concat();
    let (k0, k1) = two(ip_frame(
        c,
        CLIENT,
        VIP,
        132,
        packet(42001, 5002, 0, &[(1, &value)]),
    ));
    let (a0, a1) = two(ip_frame(
        r,
        RS1,
        CLIENT,
        132,
        packet(5002, 42001, 9, &[(2, &value)]),
    ));
    let kept = [
        input(Nic::Ext, &k0),
        input(Nic::Ext, &k1),
        input(Nic::Int, &a0),
        input(Nic::Int, &a1),
    ]
    .concat();
    let atomic = |l3: &frames6::L3, mut l4: Vec<u8>, id: u32| {
        ringvs::wire::SctpPacket::new_unchecked(&mut l4[..]).fill_checksum();
        let frag = Ext::Fragment {
            offset: 0,
            more: false,
            id,
        };
        frames6::frame(l3, &[frag], 132, &l4)
    };
    let init6 = atomic(&l3_in6(), packet(42002, 5000, 0, &[(1, &value)]), 1);
    let ack6 = atomic(
        &harness::l3_out6(),
        packet(5001, 42002, 9, &[(2, &value)]),
        2,
    );
    let mut damaged = atomic(&l3_in6(), packet(42003, 5000, 0, &[(1, &value)]), 3);
    let last = damaged.len() - 1;
    damaged[last] ^= 1;
    let atomic6 = [
        input(Nic::Ext, &init6),
        input(Nic::Int, &ack6),
        input(Nic::Ext, &damaged),
    ]
    .concat();
    vec![
        (
            "sctp_fragments_port_changed",
            changed,
            vec![
                (Ctr::RxFragments, 2),
                (Ctr::FragHeld, 1),
                (Ctr::DropSctpFragPort, 2),
                (Ctr::ConnNew, 0),
            ],
        ),
        (
            "sctp_fragments_port_kept",
            kept,
            vec![
                (Ctr::RxFragments, 4),
                (Ctr::ConnNew, 1),
                (Ctr::FwdIn, 2),
                (Ctr::FwdOut, 2),
            ],
        ),
        (
            "sctp6_atomic",
            atomic6,
            vec![
                // Whole packets, not fragments (`frag::atomic6`).
                (Ctr::RxFragments, 0),
                (Ctr::ConnNew6, 1),
                (Ctr::FwdIn6, 1),
                (Ctr::FwdOut6, 1),
                (Ctr::DropL4Checksum, 1),
                (Ctr::DropSctpFragPort, 0),
            ],
        ),
    ]
}

#[test]
fn the_sctp_fragment_seeds_are_current_and_reach_their_paths() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    let write = std::env::var_os("RINGVS_WRITE_CORPUS").is_some();
    for (name, want, ctrs) in sctp_seeds() {
        for (target, build) in [
            ("worker", Harness::new as fn() -> Harness),
            ("worker_direct", Harness::direct),
        ] {
            let have = current_seed(&root.join(target).join(name), &want, write);
            let mut h = build();
            let before = h.w.core.ctr.clone();
            h.run(&have);
            let d = |c: Ctr| h.w.core.ctr.get(c) - before.get(c);
            for &(c, n) in &ctrs {
                assert_eq!(d(c), n, "{target}/{name}: {}", c.name());
            }
            let drops: u64 = Ctr::ALL
                .iter()
                .filter(|c| c.name().starts_with("drop_"))
                .map(|&c| d(c))
                .sum();
            let want_drops = ctrs
                .iter()
                .filter(|(c, _)| c.name().starts_with("drop_"))
                .map(|&(_, n)| n)
                .sum::<u64>();
            assert_eq!(drops, want_drops, "{target}/{name}: no other drop");
        }
    }
}

/// The rules the harness holds every transmitted frame to (`tx_check`)
/// pass a NAT-forwarded segment as the director makes it, and catch each
/// way of breaking one, by its name: a frame the checks let by would let
/// the fuzzer's runs by too.
#[test]
fn the_transmitted_frame_checks_catch_each_broken_rule() {
    use harness::tx_check::{Input, check};
    use harness::{CLIENT, CLIENT_MAC, EXT_MAC, GUE_PORT, INT_MAC, RS1, RS1_MAC, VIP};
    const ACK: u8 = 0x10;
    let received = harness::tcp(
        (CLIENT_MAC, EXT_MAC),
        (CLIENT, 40000),
        (VIP, 80),
        ACK,
        b"hi",
    );
    // As NAT forwards it: to RS1 by the internal NIC, TTL 63.
    let forwarded = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut f = harness::tcp((INT_MAC, RS1_MAC), (CLIENT, 40000), (RS1, 80), ACK, b"hi");
        f[22] = 63;
        harness::fix_checksums(&mut f);
        edit(&mut f);
        f
    };
    // What `check` finds wrong with `out` sent on `nic` for `frame`.
    let verdict = |nic: usize, out: &[u8], frame: &[u8]| -> String {
        let input = Input {
            frame,
            partial: false,
            forwarded: true,
            tunnelled: false,
            macs: [EXT_MAC, INT_MAC],
            gue_port: GUE_PORT,
            mtu: [1500, 576],
        };
        let mut applied = harness::tx_check::Applied::default();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            check(nic, out, &input, &mut applied)
        }));
        r.err()
            .map(|e| e.downcast_ref::<String>().cloned().unwrap_or_default())
            .unwrap_or_default()
    };
    assert_eq!(verdict(1, &forwarded(&|_| {}), &received), "");
    // RS1's answer to the client's datagram, its checksum `csum`, as sent
    // over IPv4 (on the external NIC) or IPv6 (the internal one).
    let answer = |v6: bool, csum: u16| {
        let (mut f, at, mac) = if v6 {
            let f = frames6::udp(&harness::l3_out6(), &[], 53, 5000, b"x", false);
            (f, 54 + 6, INT_MAC)
        } else {
            let f = harness::udp((EXT_MAC, CLIENT_MAC), (VIP, 53), (CLIENT, 5000), b"x");
            (f, 34 + 6, EXT_MAC)
        };
        f[at..at + 2].copy_from_slice(&csum.to_be_bytes());
        f[6..12].copy_from_slice(&mac);
        f
    };
    let udp_in = harness::udp((RS1_MAC, INT_MAC), (RS1, 53), (CLIENT, 5000), b"x");
    let cases: [(usize, Vec<u8>, &[u8], &str); 10] = [
        (
            1,
            forwarded(&|f| f[6..12].copy_from_slice(&EXT_MAC)),
            &received,
            "source MAC",
        ),
        (
            1,
            forwarded(&|f| {
                f[22] = 64;
                harness::fix_checksums(f)
            }),
            &received,
            "TTL",
        ),
        (1, forwarded(&|f| f[24] ^= 1), &received, "header checksum"),
        (1, forwarded(&|f| f.push(0)), &received, "total length"),
        (1, forwarded(&|f| f.resize(14 + 577, 0)), &received, "MTU"),
        (
            1,
            forwarded(&|f| {
                f[20] = 0x20;
                harness::fix_checksums(f)
            }),
            &received,
            "multiple of 8",
        ),
        (
            1,
            forwarded(&|f| f[14] = 0x46),
            &received,
            "header checksum",
        ),
        (
            1,
            forwarded(&|f| f[54] ^= 1),
            &received,
            "L4 checksum wrong",
        ),
        (0, answer(false, 0), &udp_in, "UDP checksum 0 where"),
        (1, answer(true, 0), &udp_in, "UDP checksum 0 over IPv6"),
    ];
    for (i, (nic, out, frame, want)) in cases.iter().enumerate() {
        let got = verdict(*nic, out, frame);
        assert!(got.contains(want), "case {i}: wanted {want:?}, got {got:?}");
    }
    // A bad checksum the ring vouched for goes on bad (updated, not
    // recomputed): not the director's doing, not held against it.
    let mut bad_in = received.clone();
    bad_in[55] ^= 1;
    assert_eq!(verdict(1, &forwarded(&|f| f[55] ^= 1), &bad_in), "");
    // UDP's "no checksum" over IPv4 stays so.
    let mut zero_in = udp_in.clone();
    zero_in[40..42].copy_from_slice(&[0, 0]);
    let mut zero_out = answer(false, 0);
    zero_out[22] = 63;
    harness::fix_checksums(&mut zero_out);
    zero_out[40..42].copy_from_slice(&[0, 0]);
    assert_eq!(verdict(0, &zero_out, &zero_in), "");
}
