//! IPv4 fragments through the director, in memory (`dataplane/frag.rs`): each
//! fragment of a TCP or UDP datagram goes to its connection's server (or
//! client) translated, the datagram the far end reassembles is whole and its
//! checksum good; fragments that come before their first wait for it; with
//! several workers the fragments meet at the connection's owner.

mod inmem;

use inmem::*;
use ringvs::Nic;
use ringvs::config::{Forward, Proto, ServiceKey};
use ringvs::dataplane::{FRAG_MAX_DIST, FRAG_TIMEOUT_S, FRAG6_TIMEOUT_S, FRAGS_HELD};
use ringvs::stats::Ctr;
use smoltcp::wire::{IpAddress, Ipv4Packet as SIp, TcpPacket as STcp, UdpPacket as SUdp};
use std::time::Duration;

const CPORT: u16 = 40000;

/// UDP port 53 on the VIP, rr over both real servers; TCP 80 as usual.
const RULES: &[&str] = &[
    "-A -u 198.18.0.110:53 -s rr",
    "-a -u 198.18.0.110:53 -r 198.19.0.2:53 -m",
    "-a -u 198.18.0.110:53 -r 198.19.0.3:53 -m",
    "-A -t 198.18.0.110:80 -s rr",
    "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
    "-a -t 198.18.0.110:80 -r 198.19.0.3:80 -m",
];

/// Each worker's drop counters that moved (for assertion messages).
fn each_drops(d: &MemDirector) -> Vec<Vec<(&'static str, u64)>> {
    d.workers.iter().map(|w| drops(&w.core.ctr)).collect()
}

fn director(workers: usize) -> MemDirector {
    let mut d = MemDirector::with_workers(workers, RULES);
    d.resolve_all();
    d
}

/// A UDP datagram of `n` bytes of data, each byte its index's low byte.
fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + 3) as u8).collect()
}

/// The datagram the fragments `frames` (any order) make up, each checked.
fn whole(frames: &[Vec<u8>], mtu: usize) -> Vec<u8> {
    let mut v = frames.to_vec();
    v.sort_by_key(|f| SIp::new_unchecked(&f[14..]).frag_offset());
    reassemble(&v, mtu)
}

/// Check a reassembled UDP datagram: addresses, ports, checksum, data.
fn check_udp(
    ip: &[u8],
    (src, sport): (std::net::Ipv4Addr, u16),
    (dst, dport): (std::net::Ipv4Addr, u16),
    body: &[u8],
) {
    let p = SIp::new_checked(ip).expect("ipv4");
    assert_eq!((p.src_addr(), p.dst_addr()), (src, dst));
    let u = SUdp::new_checked(p.payload()).expect("udp");
    assert_eq!((u.src_port(), u.dst_port()), (sport, dport));
    assert!(
        u.verify_checksum(&IpAddress::Ipv4(src), &IpAddress::Ipv4(dst)),
        "the datagram's checksum, updated in the first fragment"
    );
    assert_eq!(u.payload(), body);
}

/// One worker, the rules, a 576-byte internal MTU, every neighbor known.
fn small_int_mtu() -> MemDirector {
    let env = ringvs::dataplane::Env {
        mtu: [MTU, 576],
        ..env()
    };
    let mut d = MemDirector::with_env(1, RULES, env, 1024);
    d.resolve_all();
    d
}

/// Which real server a frame on the internal NIC goes to.
/// A DNS request of `len` bytes from the client to the VIP, IP id `id`.
fn request(id: u16, len: usize) -> Vec<u8> {
    udp_frame(&L3 { id, ..L3::to_vip() }, CPORT, 53, &data(len), true)
}

/// Fragment `f` moved to `offset` (its header checksum made good again).
fn moved(f: &[u8], offset: u16) -> Vec<u8> {
    let mut m = f.to_vec();
    SIp::new_unchecked(&mut m[14..]).set_frag_offset(offset);
    fix_ip_checksum(&mut m);
    m
}

fn rs_of(f: &[u8]) -> std::net::Ipv4Addr {
    SIp::new_unchecked(&f[14..]).dst_addr()
}

#[test]
fn a_fragmented_request_and_reply_go_through_whole() {
    let mut d = director(1);
    let body = data(3000);
    let req = udp_frame(&L3::to_vip(), CPORT, 53, &body, true);
    let frags = cut(&req, 1480);
    assert_eq!(frags.len(), 3);
    let mut int = vec![];
    for f in &frags {
        let (ext, i) = d.ext(f);
        assert!(ext.is_empty());
        int.extend(i);
    }
    assert_eq!(int.len(), 3, "each fragment forwarded");
    let rs = rs_of(&int[0]);
    for f in &int {
        assert_eq!(rs_of(f), rs, "all to the connection's server");
        assert_eq!(&f[6..12], &INT_MAC);
        let mac = if rs == RS1 { RS1_MAC } else { RS2_MAC };
        assert_eq!(&f[..6], &mac);
    }
    check_udp(&whole(&int, MTU), (CLIENT, CPORT), (rs, 53), &body);
    assert_eq!(d.ctr(Ctr::RxFragments), 3);
    assert_eq!(d.ctr(Ctr::FwdIn), 3);
    assert_eq!(d.ctr(Ctr::ConnNew), 1);
    assert_eq!(drop_sum(&d.w().core.ctr), 0, "{:?}", drops(&d.w().core.ctr));

    // The server's 4000-byte answer, fragmented by its kernel.
    let answer = data(4000);
    let rep = udp_frame(&L3::from_rs(rs, CLIENT), 53, CPORT, &answer, true);
    let mut ext = vec![];
    for f in cut(&rep, 1480) {
        let (e, i) = d.int(&f);
        assert!(i.is_empty());
        ext.extend(e);
    }
    assert_eq!(ext.len(), 3);
    for f in &ext {
        assert_eq!(&f[..6], &CLIENT_MAC);
    }
    check_udp(&whole(&ext, MTU), (VIP, 53), (CLIENT, CPORT), &answer);
    assert_eq!(d.ctr(Ctr::FwdOut), 3);
    assert_eq!(drop_sum(&d.w().core.ctr), 0, "{:?}", drops(&d.w().core.ctr));
}

#[test]
fn fragments_before_their_first_wait_for_it() {
    let mut d = director(1);
    let body = data(4000);
    let req = udp_frame(&L3::to_vip(), CPORT, 53, &body, true);
    let frags = cut(&req, 1480);
    // Last, middle, then first.
    assert_eq!(d.ext(&frags[2]).1.len(), 0);
    assert_eq!(d.ext(&frags[1]).1.len(), 0);
    assert_eq!(d.ctr(Ctr::FragHeld), 2);
    let (_, int) = d.ext(&frags[0]);
    assert_eq!(int.len(), 3, "the first, then the two held");
    assert_eq!(SIp::new_unchecked(&int[0][14..]).frag_offset(), 0);
    assert_eq!(d.ctr(Ctr::FragReleased), 2);
    let rs = rs_of(&int[0]);
    assert!(int.iter().all(|f| rs_of(f) == rs));
    check_udp(&whole(&int, MTU), (CLIENT, CPORT), (rs, 53), &body);
    assert_eq!(drop_sum(&d.w().core.ctr), 0);

    // The datagram is complete and forgotten: a stray copy of its last
    // fragment now waits again rather than riding on the old ports.
    assert_eq!(d.ext(&frags[2]).1.len(), 0);
    assert_eq!(d.ctr(Ctr::FragHeld), 3);
}

#[test]
fn two_datagrams_of_one_client_keep_their_own_ports() {
    let mut d = director(1);
    let (a, b) = (data(2000), data(2100));
    let fa = cut(&udp_frame(&L3::to_vip(), CPORT, 53, &a, true), 1480);
    let fb = cut(
        &udp_frame(
            &L3 {
                id: 0x7777,
                ..L3::to_vip()
            },
            CPORT + 1,
            53,
            &b,
            true,
        ),
        1480,
    );
    let mut out = vec![];
    for f in [&fa[0], &fb[0], &fb[1], &fa[1]] {
        out.extend(d.ext(f).1);
    }
    assert_eq!(out.len(), 4);
    assert_eq!(d.ctr(Ctr::ConnNew), 2);
    let (ra, rb) = (rs_of(&out[0]), rs_of(&out[1]));
    assert_ne!(ra, rb, "rr: one connection each");
    check_udp(
        &whole(&[out[0].clone(), out[3].clone()], MTU),
        (CLIENT, CPORT),
        (ra, 53),
        &a,
    );
    check_udp(
        &whole(&[out[1].clone(), out[2].clone()], MTU),
        (CLIENT, CPORT + 1),
        (rb, 53),
        &b,
    );
}

#[test]
fn tcp_fragments_ride_on_the_connection_and_keep_its_state() {
    let mut d = director(1);
    d.ext(&tcp_frame(&L3::to_vip(), CPORT, 80, SYN));
    let rs = d.conns(0)[0].dest.0;
    let std::net::IpAddr::V4(rs) = rs else {
        panic!("v4")
    };
    d.int(&tcp_frame(&L3::from_rs(rs, CLIENT), 80, CPORT, SYN | ACK));
    d.ext(&tcp_frame(&L3::to_vip(), CPORT, 80, ACK));
    let state = d.conns(0)[0].state;
    let body = data(2500);
    let seg = tcp_seg(&L3::to_vip(), CPORT, 80, ACK | PSH, 1001, 5001, &body);
    let mut int = vec![];
    for f in cut(&seg, 1480) {
        int.extend(d.ext(&f).1);
    }
    assert_eq!(int.len(), 2);
    let ip = whole(&int, MTU);
    let p = SIp::new_checked(&ip[..]).expect("ipv4");
    let t = STcp::new_checked(p.payload()).expect("tcp");
    assert_eq!((p.dst_addr(), t.dst_port()), (rs, 80));
    assert!(t.verify_checksum(&IpAddress::Ipv4(CLIENT), &IpAddress::Ipv4(rs)));
    assert_eq!(t.payload(), &body[..]);
    assert_eq!(d.conns(0)[0].state, state, "a data segment moves no state");
    assert_eq!(d.ctr(Ctr::ConnNew), 1);
}

#[test]
fn a_fragment_with_no_connection_is_dropped() {
    let mut d = director(1);
    // A reply's fragments for a connection that does not exist.
    let rep = udp_frame(&L3::from_rs(RS1, CLIENT), 53, CPORT, &data(2000), true);
    for f in cut(&rep, 1480) {
        let (e, i) = d.int(&f);
        assert!(e.is_empty() && i.is_empty());
    }
    assert_eq!(d.ctr(Ctr::DropNoConn), 2, "{:?}", drops(&d.w().core.ctr));
    // A first fragment too short to hold the UDP header.
    let req = udp_frame(&L3::to_vip(), CPORT, 53, &data(100), true);
    let mut tiny = cut(&req, 8);
    let mut first = tiny.remove(0);
    first.truncate(14 + 20 + 4);
    {
        let mut ip = SIp::new_unchecked(&mut first[14..]);
        ip.set_total_len(24);
        ip.fill_checksum();
    }
    d.ext(&first);
    assert_eq!(d.ctr(Ctr::DropFragment), 1);
    assert_eq!(d.ctr(Ctr::ConnNew), 0);
}

#[test]
fn a_held_fragment_whose_first_never_comes_is_dropped() {
    let mut d = director(1);
    let stray = cut(
        &udp_frame(&L3::to_vip(), CPORT, 53, &data(2000), true),
        1480,
    );
    d.ext(&stray[1]);
    assert_eq!(d.ctr(Ctr::FragHeld), 1);
    d.advance(Duration::from_secs(u64::from(FRAG_TIMEOUT_S) + 1));
    // The worker's expiry, once a second, drops it.
    d.poll();
    assert_eq!(d.ctr(Ctr::DropFragExpired), 1);
    assert_eq!(d.ctr(Ctr::FragReleased), 1);
    // Another datagram's first fragment finds nothing of it.
    let other = cut(&request(9, 2000), 1480);
    assert_eq!(d.ext(&other[0]).1.len(), 1);
    assert_eq!(d.ctr(Ctr::DropFragExpired), 1);
    assert_eq!(d.ctr(Ctr::FragReleased), 1);
    // Its first, now, finds nothing held: one frame out.
    assert_eq!(d.ext(&stray[0]).1.len(), 1);

    // All places taken: the oldest held gives way.
    for id in 0..=FRAGS_HELD as u16 {
        let f = cut(
            &udp_frame(
                &L3 {
                    id: 1000 + id,
                    ..L3::to_vip()
                },
                CPORT,
                53,
                &data(2000),
                true,
            ),
            1480,
        );
        d.ext(&f[1]);
    }
    assert_eq!(d.ctr(Ctr::DropFragExpired), 2);
}

#[test]
fn fragments_to_a_dr_server_go_unchanged_and_are_cut_again_for_a_smaller_mtu() {
    let mut d = director(1);
    d.forward_all(Forward::Route);
    let body = data(3000);
    let req = udp_frame(&L3::to_vip(), CPORT, 53, &body, true);
    let frags = cut(&req, 1480);
    let mut int = vec![];
    for f in &frags {
        int.extend(d.ext(f).1);
    }
    assert_eq!(int.len(), 3);
    for (o, f) in int.iter().zip(&frags) {
        assert_eq!(&o[14..], &f[14..], "the IP packet untouched");
    }

    // NAT with a 576-byte internal MTU: each fragment is cut again, in its
    // place in the datagram.
    let mut small = small_int_mtu();
    let mut int = vec![];
    for f in &frags {
        int.extend(small.ext(f).1);
    }
    // Two 1480-byte fragments in three pieces each; the last (48 bytes) fits.
    assert_eq!(int.len(), 7);
    assert_eq!(small.ctr(Ctr::TxFragmented), 2);
    let rs = rs_of(&int[0]);
    check_udp(&whole(&int, 576), (CLIENT, CPORT), (rs, 53), &body);
}

/// A fragment with more to come whose data is not a multiple of 8 bytes,
/// cut again for a smaller MTU, loses its bytes past the last multiple of
/// 8, as the kernel's reassembly (`ip_frag_queue`) cuts them before
/// `ip_do_fragment` cuts the datagram again: 1105 bytes at MTU 576 go as two
/// pieces of 552, not those and a 1-byte piece with MF set, which the
/// receiver's `ip_frag_queue` takes as empty and drops the whole datagram
/// for.
#[test]
fn a_fragment_cut_again_ends_at_a_multiple_of_8() {
    let req = udp_frame(&L3::to_vip(), CPORT, 53, &data(3000), true);
    let mut first = cut(&req, 1480).remove(0);
    SIp::new_unchecked(&mut first[14..]).set_total_len(20 + 1105);
    first.truncate(14 + 20 + 1105);
    fix_ip_checksum(&mut first);
    let mut small = small_int_mtu();
    let int = small.ext(&first).1;
    let lens: Vec<(usize, bool)> = int
        .iter()
        .map(|f| {
            let ip = SIp::new_unchecked(&f[14..]);
            (usize::from(ip.total_len()) - 20, ip.more_frags())
        })
        .collect();
    assert_eq!(lens, [(552, true), (552, true)]);
}

/// A client's datagram the director cuts into fragments for a real server
/// that never answers ARP: each fragment waited on its own and is dropped
/// (`drop_neigh_unresolved`), and the client gets one host unreachable,
/// about the first fragment (`icmp_send` answers fragment 0 only), from the
/// VIP. As the kernel's (`ip_do_fragment` queues each fragment for ARP,
/// `arp_error_report` reports each), the error quotes the first fragment's
/// header (its length, MF set, its checksum) and 8 bytes, as the client
/// sent them for NAT (`ip_vs_out_icmp` maps it back) and DR; through an
/// IPIP tunnel the outer packet is cut, and the error relayed about the
/// client's packet inside (`ip_vs_in_icmp`) quotes it whole, as sent.
#[test]
fn a_client_whose_datagram_waits_in_fragments_is_told_once() {
    use ringvs::config::{TunCsum, TunKind, Tunnel};
    let ipip = Forward::Tunnel(Tunnel {
        kind: TunKind::Ipip,
        port: 0,
        csum: TunCsum::NoCsum,
    });
    let mut req = request(0x2345, 1000);
    SIp::new_unchecked(&mut req[14..]).set_dont_frag(false);
    fix_ip_checksum(&mut req);
    // The first of two fragments at a 576-byte MTU: 20 + 552 bytes.
    let mut first = req[14..42].to_vec();
    {
        let mut ip = SIp::new_unchecked(&mut first[..]);
        ip.set_total_len(572);
        ip.set_more_frags(true);
        ip.fill_checksum();
    }
    for (fwd, quoted) in [
        (Forward::Masq, &first[..]),
        (Forward::Route, &first[..]),
        (ipip, &req[14..42]),
    ] {
        let env = ringvs::dataplane::Env {
            mtu: [MTU, 576],
            ..env()
        };
        let mut d = MemDirector::with_env(1, RULES, env, 1024);
        d.forward_all(fwd);
        d.resolve(Nic::Ext, CLIENT, CLIENT_MAC);
        let (ext, int) = d.ext(&req);
        assert!(ext.is_empty() && int.is_empty(), "{fwd:?}: parked");
        assert_eq!(d.ctr(Ctr::TxFragments), 2, "{fwd:?}");
        assert_eq!(d.ctr(Ctr::NeighQueuedFragmented), 1, "{fwd:?}");
        d.advance(ringvs::dataplane::tx::PENDING_MAX_AGE + Duration::from_millis(100));
        let (ext, int) = d.poll_take();
        assert!(int.is_empty());
        assert_eq!(d.ctr(Ctr::DropNeighUnresolved), 2, "{fwd:?}");
        assert_eq!(d.ctr(Ctr::TxFragmented), 0, "{fwd:?}: never sent");
        assert_eq!(d.ctr(Ctr::IcmpHostUnreach), 1, "{fwd:?}");
        assert_eq!(ext.len(), 1, "{fwd:?}: one error for the datagram");
        let p = parse_ip(&ext[0]);
        assert_eq!((p.src, p.dst, p.l4[0], p.l4[1]), (VIP, CLIENT, 3, 1));
        assert_eq!((p.src_mac, p.dst_mac), (EXT_MAC, CLIENT_MAC));
        assert_eq!(&p.payload[..], quoted, "{fwd:?}: the quote");
    }
}

/// A frame parked for ARP is counted once for what became of it: queued
/// (`neigh_queued`), then forwarded (`fwd_in`) when it goes, or dropped
/// (`drop_tx_full`) if the TX ring is full when the MAC comes, not both. A
/// datagram cut into fragments that wait counts in `fwd_in` and
/// `tx_fragmented` once its last fragment went, and in neither if one of
/// them found the ring full.
#[test]
fn a_parked_frame_counts_as_forwarded_or_dropped_not_both() {
    let mut req = request(0x2345, 1000);
    SIp::new_unchecked(&mut req[14..]).set_dont_frag(false);
    fix_ip_checksum(&mut req);
    // (frame, TX room when the server resolves, fragments, forwarded)
    for (frame, room, pieces, fwd) in [
        (request(0x1234, 100), 0, 0, 0),
        (request(0x1234, 100), 1, 0, 1),
        (req.clone(), 1, 2, 0),
        (req.clone(), 2, 2, 1),
    ] {
        let env = ringvs::dataplane::Env {
            mtu: [MTU, 576],
            ..env()
        };
        let mut d = MemDirector::with_env(1, RULES, env, 1024);
        d.resolve(Nic::Ext, CLIENT, CLIENT_MAC);
        let (ext, int) = d.ext(&frame);
        assert!(ext.is_empty() && int.is_empty(), "{room} {pieces}: parked");
        let queued = pieces.max(1);
        assert_eq!(d.ctr(Ctr::NeighQueued), queued);
        assert_eq!(d.ctr(Ctr::FwdIn), 0, "not forwarded while it waits");
        assert_eq!(d.ctr(Ctr::TxFragmented), 0, "not sent while it waits");
        assert_eq!(d.ctr(Ctr::NeighQueuedFragmented), pieces.min(1));
        d.w().tx[Nic::Int].capacity = room;
        d.resolve(Nic::Int, RS1, RS1_MAC);
        d.resolve(Nic::Int, RS2, RS2_MAC);
        let (_, int) = d.poll_take();
        let sent = int.len() as u64;
        assert_eq!(sent, room.min(queued as usize) as u64, "{room} {pieces}");
        let c = &d.w().core.ctr;
        assert_eq!(
            (c.get(Ctr::FwdIn), c.get(Ctr::DropTxFull)),
            (fwd, queued - sent),
            "{room} {pieces}: forwarded, dropped"
        );
        assert_eq!(c.get(Ctr::TxFragments), pieces, "fragments queued");
        let cut = u64::from(pieces > 0);
        assert_eq!(c.get(Ctr::TxFragmented), fwd * cut, "{room} {pieces}");
    }
}

/// A parked datagram whose first fragment finds no TX slot when its server
/// resolves is dropped whole: its later fragments do not go (the receiver
/// could not reassemble them), as when it is cut and sent at once.
#[test]
fn a_parked_datagram_stops_at_its_first_fragment_without_a_slot() {
    let mut req = request(0x2345, 1000);
    SIp::new_unchecked(&mut req[14..]).set_dont_frag(false);
    fix_ip_checksum(&mut req);
    let env = ringvs::dataplane::Env {
        mtu: [MTU, 576],
        ..env()
    };
    let mut d = MemDirector::with_env(1, RULES, env, 1024);
    d.resolve(Nic::Ext, CLIENT, CLIENT_MAC);
    let (ext, int) = d.ext(&req);
    assert!(ext.is_empty() && int.is_empty(), "parked");
    assert_eq!(d.ctr(Ctr::NeighQueued), 2);
    // Slots that hold the last fragment (490 bytes) but not the first (590).
    d.w().tx[Nic::Int].set_slot_len(500);
    d.resolve(Nic::Int, RS1, RS1_MAC);
    d.resolve(Nic::Int, RS2, RS2_MAC);
    let (_, int) = d.poll_take();
    assert_eq!(int.len(), 0, "no use sending the rest");
    let c = &d.w().core.ctr;
    assert_eq!((c.get(Ctr::DropTxFull), c.get(Ctr::FwdIn)), (1, 0));
    assert_eq!(c.get(Ctr::TxFragmented), 0);
}

#[test]
fn with_two_workers_the_fragments_meet_at_the_connections_owner() {
    let mut d = director(2);
    for client_port in [CPORT, CPORT + 1, CPORT + 2, CPORT + 3] {
        let body = data(3000 + usize::from(client_port - CPORT));
        let req = udp_frame(
            &L3 {
                id: client_port,
                ..L3::to_vip()
            },
            client_port,
            53,
            &body,
            true,
        );
        // Fragments land on either worker, as a fanout hashing bytes past
        // the first fragment's header would spread them; the first last.
        let frags = cut(&req, 1480);
        for (i, f) in frags.iter().enumerate().rev() {
            d.workers[i % 2].rx[Nic::Ext].push(f);
        }
        let mut int = vec![];
        for _ in 0..4 {
            d.poll();
            for w in &mut d.workers {
                int.extend(w.tx[Nic::Int].take_sent());
            }
        }
        assert_eq!(int.len(), 3, "port {client_port}");
        let rs = rs_of(&int[0]);
        check_udp(&whole(&int, MTU), (CLIENT, client_port), (rs, 53), &body);
    }
    let sum = |d: &MemDirector, c: Ctr| d.workers.iter().map(|w| w.core.ctr.get(c)).sum::<u64>();
    assert_eq!(sum(&d, Ctr::ConnNew), 4);
    assert_eq!(sum(&d, Ctr::FwdIn), 12);
    assert!(sum(&d, Ctr::HandoffOut) > 0, "fragments were handed over");
    let drops = |d: &MemDirector| d.workers.iter().map(|w| drop_sum(&w.core.ctr)).sum::<u64>();
    assert_eq!(drops(&d), 0);
    // Each connection lives on the owner of its client key, as the fanout
    // program would have brought its unfragmented packets there.
    let owner = |port: u16| env().owner((be(CLIENT), port), 2);
    for k in 0..2 {
        for c in d.conns(k) {
            assert_eq!(owner(c.client.1), k, "{c:?}");
        }
    }
    assert!(
        (0..2).all(|k| !d.conns(k).is_empty()),
        "both workers own some"
    );

    // The answers, in fragments landing on either worker too, go back
    // through each connection's owner.
    for k in 0..2 {
        for c in d.conns(k) {
            let std::net::IpAddr::V4(rs) = c.dest.0 else {
                panic!("v4")
            };
            let answer = data(2000 + usize::from(c.client.1 - CPORT));
            let rep = udp_frame(
                &L3 {
                    id: c.client.1 ^ 0x5555,
                    ..L3::from_rs(rs, CLIENT)
                },
                53,
                c.client.1,
                &answer,
                true,
            );
            let frags = cut(&rep, 1480);
            for (i, f) in frags.iter().enumerate() {
                d.workers[(i + 1) % 2].rx[Nic::Int].push(f);
            }
            let mut ext = vec![];
            for _ in 0..4 {
                d.poll();
                for w in &mut d.workers {
                    ext.extend(w.tx[Nic::Ext].take_sent());
                }
            }
            check_udp(&whole(&ext, MTU), (VIP, 53), (CLIENT, c.client.1), &answer);
        }
    }
    assert_eq!(sum(&d, Ctr::FwdOut), 8);
    assert_eq!(drops(&d), 0);
}

#[test]
fn fragments_of_strangers_take_no_place() {
    let mut d = director(1);
    // To an address that is not ours, and from outside the real servers'
    // segment on the internal NIC: counted as their whole packets would be.
    let elsewhere = L3 {
        dst: NOT_OURS,
        ..L3::to_vip()
    };
    let f = cut(&udp_frame(&elsewhere, CPORT, 53, &data(2000), true), 1480);
    d.ext(&f[1]);
    let stranger = L3 {
        src: NOT_OURS,
        ..L3::from_rs(RS1, CLIENT)
    };
    let g = cut(&udp_frame(&stranger, 53, CPORT, &data(2000), true), 1480);
    d.int(&g[1]);
    assert_eq!(d.ctr(Ctr::FragHeld), 0);
    assert_eq!(d.ctr(Ctr::DropNoService), 1);
    assert_eq!(d.ctr(Ctr::DropNoConn), 1);
}

#[test]
fn fragments_to_a_tun_server_are_encapsulated_each() {
    use ringvs::config::{TunCsum, TunKind, Tunnel};
    let mut d = director(1);
    d.forward_all(Forward::Tunnel(Tunnel {
        kind: TunKind::Ipip,
        port: 0,
        csum: TunCsum::NoCsum,
    }));
    let body = data(2500);
    let frags = cut(&udp_frame(&L3::to_vip(), CPORT, 53, &body, true), 1200);
    let mut int = vec![];
    for f in frags.iter().rev() {
        int.extend(d.ext(f).1);
    }
    assert_eq!(int.len(), 3, "{:?}", drops(&d.w().core.ctr));
    let rs = SIp::new_unchecked(&int[0][14..]).dst_addr();
    for o in &int {
        let outer = SIp::new_checked(&o[14..]).expect("outer");
        assert_eq!(u8::from(outer.next_header()), 4, "IPIP");
        assert_eq!(outer.dst_addr(), rs, "one server for the datagram");
        let inner = outer.payload();
        assert!(
            frags.iter().any(|f| f[14..] == *inner),
            "a client's fragment inside, unchanged"
        );
    }
}

#[test]
fn a_later_fragment_of_a_removed_servers_connection_is_dropped() {
    let mut d = director(1);
    let frags = cut(
        &udp_frame(&L3::to_vip(), CPORT, 53, &data(3000), true),
        1480,
    );
    assert_eq!(d.ext(&frags[0]).1.len(), 1);
    let std::net::IpAddr::V4(rs) = d.conns(0)[0].dest.0 else {
        panic!("v4")
    };
    // The connection's server leaves the service (`ipvsadm -d`).
    d.cfg
        .del_dest(&ServiceKey::new(Proto::Udp, VIP, 53), rs, 53)
        .expect("configured");
    d.publish_with(|_| {});
    assert_eq!(d.ext(&frags[1]).1.len(), 0);
    assert_eq!(d.ctr(Ctr::DropNoDestConn), 1);
}

#[test]
fn fragments_sent_from_their_own_buffers_keep_their_order() {
    // Each worker's queues on one frame memory (AF_XDP on one UMEM): a
    // fragment is still copied, so a first fragment goes out before the
    // ones held for it.
    let mut d = MemDirector::in_place_with(RULES, env());
    d.resolve_all();
    let body = data(4000);
    let frags = cut(&udp_frame(&L3::to_vip(), CPORT, 53, &body, true), 1480);
    d.ext(&frags[2]);
    d.ext(&frags[1]);
    let (_, int) = d.ext(&frags[0]);
    assert_eq!(int.len(), 3);
    let offsets: Vec<u16> = int
        .iter()
        .map(|f| SIp::new_unchecked(&f[14..]).frag_offset())
        .collect();
    assert_eq!(
        offsets,
        [0, 2960, 1480],
        "first, then the held in arrival order"
    );
    check_udp(
        &whole(&int, MTU),
        (CLIENT, CPORT),
        (rs_of(&int[0]), 53),
        &body,
    );
    assert_eq!(d.ctr(Ctr::TxZeroCopy), 0);
}

#[test]
fn echo_requests_in_fragments_are_answered_in_fragments() {
    use smoltcp::wire::{Icmpv4Message, Icmpv4Packet, Icmpv6Message, Icmpv6Packet};
    // IPv4, two workers, the fragments landing on either, the last first
    // (`ping -s 3000 VIP`).
    let mut d = director(2);
    let body = data(3000);
    let req = echo_request(&L3::to_vip(), 0x77, 5, &body);
    let frags = cut(&req, 1480);
    for (i, f) in frags.iter().enumerate().rev() {
        d.workers[i % 2].rx[Nic::Ext].push(f);
    }
    let mut ext = vec![];
    for _ in 0..4 {
        d.poll();
        for w in &mut d.workers {
            ext.extend(w.tx[Nic::Ext].take_sent());
        }
    }
    assert_eq!(ext.len(), 3, "a reply fragment for each");
    for f in &ext {
        assert_eq!((&f[..6], &f[6..12]), (&CLIENT_MAC[..], &EXT_MAC[..]));
    }
    let ip = whole(&ext, MTU);
    let p = SIp::new_checked(&ip[..]).expect("ipv4");
    assert_eq!((p.src_addr(), p.dst_addr()), (VIP, CLIENT));
    let icmp = Icmpv4Packet::new_checked(p.payload()).expect("icmp");
    assert!(
        icmp.verify_checksum(),
        "the reply's checksum over all of it"
    );
    assert_eq!(icmp.msg_type(), Icmpv4Message::EchoReply);
    assert_eq!((icmp.echo_ident(), icmp.echo_seq_no()), (0x77, 5));
    assert_eq!(icmp.data(), &body[..]);
    let sum = |c: Ctr| d.workers.iter().map(|w| w.core.ctr.get(c)).sum::<u64>();
    assert_eq!(sum(Ctr::IcmpEchoReply), 1);
    assert_eq!(sum(Ctr::FwdIn), 0);

    // To the DIP from beyond the real servers' segment, as a whole echo
    // request to it is answered.
    let far = L3 {
        src: std::net::Ipv4Addr::new(198, 18, 9, 9),
        dst: DIP,
        ..L3::from_rs(RS1, CLIENT)
    };
    let mut int = vec![];
    for f in cut(&echo_request(&far, 1, 1, &body), 1480) {
        d.workers[0].rx[Nic::Int].push(&f);
        for _ in 0..3 {
            d.poll();
        }
        for w in &mut d.workers {
            int.extend(w.tx[Nic::Int].take_sent());
        }
    }
    assert_eq!(int.len(), 3, "{:?}", each_drops(&d));
    let ip = whole(&int, MTU);
    assert_eq!(SIp::new_unchecked(&ip[..]).dst_addr(), far.src);

    // IPv6 (`ping -6 -s 3000`), one worker.
    let mut d = MemDirector::dual_stack(STANDARD6);
    let req = frames6::echo_request(&l3_to_vip6(), 0x66, 9, &body);
    let mut ext = vec![];
    for f in cut6(&req, 1232, 0x5151) {
        ext.extend(d.ext(&f).0);
    }
    assert_eq!(ext.len(), 3);
    let got = whole6_from(&ext, 64);
    let p = smoltcp::wire::Ipv6Packet::new_checked(&got[..]).expect("ipv6");
    assert_eq!((p.src_addr(), p.dst_addr()), (VIP6, CLIENT6));
    let icmp = Icmpv6Packet::new_checked(p.payload()).expect("icmpv6");
    assert!(icmp.verify_checksum(&VIP6, &CLIENT6));
    assert_eq!(icmp.msg_type(), Icmpv6Message::EchoReply);
    assert_eq!((icmp.echo_ident(), icmp.echo_seq_no()), (0x66, 9));
    assert_eq!(icmp.payload(), &body[..]);
    assert_eq!(d.ctr(Ctr::IcmpEchoReply), 1);

    // From the real servers' segment to an address that is not ours, the
    // echo request behind a destination options header: not answered.
    let mut l3 = l3_from_rs6(RS1_6, CLIENT6);
    l3.dst = CLIENT6;
    let req = frames6::echo_request(&l3, 1, 1, &body);
    let mut first = cut6(&req, 1232, 0x99).remove(0);
    // Destination options (8 bytes, PadN) between the fragment header and
    // the echo request; the fragment header's next header points at them.
    first.splice(62..62, [58, 0, 1, 4, 0, 0, 0, 0]);
    first[54] = 60;
    let plen = u16::from_be_bytes([first[18], first[19]]) + 8;
    first[18..20].copy_from_slice(&plen.to_be_bytes());
    let (ext, int) = d.int(&first);
    assert!(ext.is_empty() && int.is_empty(), "{ext:02x?} {int:02x?}");
    assert_eq!(d.ctr(Ctr::DropFragment), 1, "{:?}", drops(&d.w().core.ctr));
}

/// The fragments of an echo request from a source the kernel drops before
/// reassembly (`ip_route_input_slow`, `ip6_rcv_core`: here the loopback)
/// get no reply fragment, each counted in `drop_bad_source`.
#[test]
fn echo_request_fragments_from_martian_sources_are_not_answered() {
    let mut d = director(1);
    let l3 = L3 {
        src: std::net::Ipv4Addr::LOCALHOST,
        ..L3::to_vip()
    };
    for f in cut(&echo_request(&l3, 1, 1, &data(3000)), 1480) {
        let (ext, int) = d.ext(&f);
        assert!(ext.is_empty() && int.is_empty(), "{ext:02x?}");
    }
    assert_eq!(drops(&d.w().core.ctr), vec![(Ctr::DropBadSource.name(), 3)]);
    let mut d = MemDirector::dual_stack(STANDARD6);
    let mut l3 = l3_to_vip6();
    l3.src = std::net::Ipv6Addr::LOCALHOST;
    let req = frames6::echo_request(&l3, 1, 1, &data(3000));
    for f in cut6(&req, 1232, 0x4242) {
        let (ext, int) = d.ext(&f);
        assert!(ext.is_empty() && int.is_empty(), "{ext:02x?}");
    }
    assert_eq!(drops(&d.w().core.ctr), vec![(Ctr::DropBadSource.name(), 3)]);
    assert_eq!(d.ctr(Ctr::IcmpEchoReply), 0);
}

/// An echo request as an IPv6 atomic fragment (offset 0, M clear) is the
/// whole request: answered with a plain echo reply, no fragment header, as
/// the kernel's `icmpv6_echo_reply` (`net/ipv6/icmp.c`) builds its reply
/// afresh; to the VIP from a client and to the DIP from a real server.
#[test]
fn an_ipv6_atomic_echo_request_gets_a_plain_echo_reply() {
    use smoltcp::wire::{Icmpv6Message, Icmpv6Packet};
    let mut d = MemDirector::dual_stack(STANDARD6);
    d.resolve6(Nic::Int, RS1_6, RS1_MAC);
    let body = data(100);
    for (nic, l3, us) in [
        (Nic::Ext, l3_to_vip6(), VIP6),
        (Nic::Int, l3_from_rs6(RS1_6, DIP6), DIP6),
    ] {
        let req = frames6::echo_request(&l3, 0x66, 9, &body);
        let atomic = cut6(&req, 1232, 0x5152).swap_remove(0);
        assert_eq!((atomic[20], &atomic[56..58]), (44, &[0, 0][..]));
        let (ext, int) = if nic == Nic::Ext {
            d.ext(&atomic)
        } else {
            d.int(&atomic)
        };
        let (mut out, other) = if nic == Nic::Ext {
            (ext, int)
        } else {
            (int, ext)
        };
        assert!(other.is_empty());
        assert_eq!(out.len(), 1, "{nic:?}: {:?}", drops(&d.w().core.ctr));
        let reply = out.remove(0);
        // As long as the reply to the request without the header.
        assert_eq!(reply.len(), req.len(), "{nic:?}");
        let p = smoltcp::wire::Ipv6Packet::new_checked(&reply[14..]).expect("ipv6");
        assert_eq!(p.next_header(), smoltcp::wire::IpProtocol::Icmpv6);
        assert_eq!((p.src_addr(), p.dst_addr()), (us, l3.src));
        let icmp = Icmpv6Packet::new_checked(p.payload()).expect("icmpv6");
        assert!(icmp.verify_checksum(&us, &l3.src));
        assert_eq!(icmp.msg_type(), Icmpv6Message::EchoReply);
        assert_eq!((icmp.echo_ident(), icmp.echo_seq_no()), (0x66, 9));
        assert_eq!(icmp.payload(), &body[..]);
    }
    assert_eq!(d.ctr(Ctr::IcmpEchoReply), 2);
    assert_eq!(d.ctr(Ctr::RxFragments), 0);
    assert_eq!(drop_sum(&d.w().core.ctr), 0, "{:?}", drops(&d.w().core.ctr));
}

#[test]
fn ipv6_fragments_go_through_whole() {
    let mut d = dns6();
    let body = data(3000);
    let req = frames6::udp(&l3_to_vip6(), &[], CPORT, 53, &body, false);
    let frags = cut6(&req, 1232, 0xabcd_0001);
    assert_eq!(frags.len(), 3);
    let mut int = vec![];
    // The last first: it waits for the first.
    for f in [&frags[2], &frags[0], &frags[1]] {
        int.extend(d.ext(f).1);
    }
    assert_eq!(int.len(), 3, "{:?}", drops(&d.w().core.ctr));
    assert_eq!(d.ctr(Ctr::FragHeld), 1);
    let got = whole6(&int);
    let p = smoltcp::wire::Ipv6Packet::new_checked(&got[..]).expect("ipv6");
    assert_eq!((p.src_addr(), p.dst_addr()), (CLIENT6, RS1_6));
    let u = SUdp::new_checked(p.payload()).expect("udp");
    assert_eq!(u.dst_port(), 53);
    assert!(u.verify_checksum(&IpAddress::Ipv6(CLIENT6), &IpAddress::Ipv6(RS1_6)));
    assert_eq!(u.payload(), &body[..]);

    // The answer in fragments.
    let answer = data(2600);
    let rep = frames6::udp(&l3_from_rs6(RS1_6, CLIENT6), &[], 53, CPORT, &answer, false);
    let mut ext = vec![];
    for f in cut6(&rep, 1232, 0x77) {
        ext.extend(d.int(&f).0);
    }
    assert_eq!(ext.len(), 3);
    let got = whole6(&ext);
    let p = smoltcp::wire::Ipv6Packet::new_checked(&got[..]).expect("ipv6");
    assert_eq!((p.src_addr(), p.dst_addr()), (VIP6, CLIENT6));
    let u = SUdp::new_checked(p.payload()).expect("udp");
    assert_eq!(u.src_port(), 53);
    assert!(u.verify_checksum(&IpAddress::Ipv6(VIP6), &IpAddress::Ipv6(CLIENT6)));
    assert_eq!(u.payload(), &answer[..]);
    assert_eq!(d.ctr(Ctr::FwdIn6), 3);
    assert_eq!(d.ctr(Ctr::FwdOut6), 3);
    assert_eq!(drop_sum(&d.w().core.ctr), 0, "{:?}", drops(&d.w().core.ctr));
}

/// The fragments of one IPv6 datagram are one datagram whatever next
/// header the later ones carry: only the first's counts (RFC 8200 4.5:
/// they may differ; Linux's `frag_v6_compare_key` has no next header, and
/// `ip6_frag_queue` takes the first's). Here the second says TCP and the
/// third "no next header"; all three go through, the datagram whole.
#[test]
fn ipv6_later_fragments_next_header_is_not_looked_at() {
    let mut d = dns6();
    let body = data(3000);
    let req = frames6::udp(&l3_to_vip6(), &[], CPORT, 53, &body, false);
    let mut frags = cut6(&req, 1232, 0xabcd_0002);
    frags[1][54] = 6;
    frags[2][54] = 59;
    let mut int = vec![];
    for f in [&frags[2], &frags[0], &frags[1]] {
        int.extend(d.ext(f).1);
    }
    assert_eq!(int.len(), 3, "{:?}", drops(&d.w().core.ctr));
    let got = whole6(&int);
    let p = smoltcp::wire::Ipv6Packet::new_checked(&got[..]).expect("ipv6");
    assert_eq!((p.src_addr(), p.dst_addr()), (CLIENT6, RS1_6));
    let u = SUdp::new_checked(p.payload()).expect("udp");
    assert_eq!(u.payload(), &body[..]);
    assert_eq!(drop_sum(&d.w().core.ctr), 0, "{:?}", drops(&d.w().core.ctr));
}

/// A later fragment's own next header does not make it an echo request to
/// us: only the first fragment's says what the datagram is (RFC 8200 4.5).
/// A later fragment of a UDP datagram to the VIP that says ICMPv6, with a
/// hop limit of 1, is dropped as any fragment to be forwarded with that
/// hop limit is (`drop_ttl`; `ip6_forward` would answer it time exceeded),
/// never sent on with a hop limit of 0.
#[test]
fn ipv6_later_fragment_saying_icmpv6_keeps_the_hop_limit_check() {
    let mut d = dns6();
    let body = data(3000);
    let req = frames6::udp(&l3_to_vip6(), &[], CPORT, 53, &body, false);
    let mut frags = cut6(&req, 1232, 0xabcd_0003);
    frags[1][54] = 58;
    frags[1][14 + 7] = 1;
    let mut int = vec![];
    for f in &frags {
        int.extend(d.ext(f).1);
    }
    assert_eq!(int.len(), 2, "{:?}", drops(&d.w().core.ctr));
    for f in &int {
        assert!(f[14 + 7] >= 1, "sent with hop limit 0");
    }
    assert_eq!(d.ctr(Ctr::DropTtl), 1, "{:?}", drops(&d.w().core.ctr));
}

/// SCTP in IPv6 fragments: where NAT keeps the port, each fragment goes on
/// with the address rewritten and the far end reassembles the SCTP packet
/// as sent, its CRC32c good (it covers no address), both ways; where NAT
/// changes the port the fragments are dropped (`drop_sctp_frag_port`: the
/// CRC32c over the whole datagram cannot be computed again).
#[test]
fn ipv6_sctp_fragments_go_through_where_the_port_stays() {
    let mut d = MemDirector::dual_stack(&[
        "-A --sctp-service [2001:2:0:1::110]:5000 -s rr",
        "-a --sctp-service [2001:2:0:1::110]:5000 -r [2001:2:0:2::2]:5000 -m",
        "-A --sctp-service [2001:2:0:1::110]:5001 -s rr",
        "-a --sctp-service [2001:2:0:1::110]:5001 -r [2001:2:0:2::2]:5002 -m",
    ]);
    d.resolve6(Nic::Int, RS1_6, RS1_MAC);
    d.resolve6(Nic::Ext, CLIENT6, CLIENT_MAC);
    // INIT: its fixed fields, then a large parameter.
    let mut value = vec![
        0x9e, 0x8d, 0x52, 0x25, 0, 0, 0x80, 0, 0, 10, 8, 0, 1, 2, 3, 4,
    ];
    value.extend(data(2400));
    let init = sctp_packet(CPORT, 5000, 0, &[(1, &value)]);
    let frags = cut6(&frames6::frame(&l3_to_vip6(), &[], 132, &init), 1232, 0x5c7);
    assert_eq!(frags.len(), 2);
    let int: Vec<_> = frags.iter().flat_map(|f| d.ext(f).1).collect();
    assert_eq!(int.len(), 2, "{:?}", drops(&d.w().core.ctr));
    let got = whole6(&int);
    let p = smoltcp::wire::Ipv6Packet::new_checked(&got[..]).expect("ipv6");
    assert_eq!((p.src_addr(), p.dst_addr()), (CLIENT6, RS1_6));
    assert_eq!(p.payload(), &init[..], "the SCTP packet as sent");
    assert!(sctp_crc_ok(p.payload()));

    // The INIT ACK, with a long cookie, in fragments back.
    let ack = sctp_packet(5000, CPORT, 9, &[(2, &value)]);
    let rep = frames6::frame(&l3_from_rs6(RS1_6, CLIENT6), &[], 132, &ack);
    let ext: Vec<_> = cut6(&rep, 1232, 0x5c8)
        .iter()
        .flat_map(|f| d.int(f).0)
        .collect();
    assert_eq!(ext.len(), 2, "{:?}", drops(&d.w().core.ctr));
    let got = whole6(&ext);
    let p = smoltcp::wire::Ipv6Packet::new_checked(&got[..]).expect("ipv6");
    assert_eq!((p.src_addr(), p.dst_addr()), (VIP6, CLIENT6));
    assert_eq!(p.payload(), &ack[..]);
    assert_eq!(d.ctr(Ctr::FwdIn6) + d.ctr(Ctr::FwdOut6), 4);
    assert_eq!(drop_sum(&d.w().core.ctr), 0, "{:?}", drops(&d.w().core.ctr));

    // To 5001, which NAT makes 5002: dropped, and no association.
    let other = sctp_packet(CPORT + 1, 5001, 0, &[(1, &value)]);
    let frags = cut6(
        &frames6::frame(&l3_to_vip6(), &[], 132, &other),
        1232,
        0x5c9,
    );
    for f in &frags {
        assert_eq!(d.ext(f), (vec![], vec![]));
    }
    assert_eq!(d.ctr(Ctr::DropSctpFragPort), 2);
    assert_eq!(d.conns(0).len(), 1);
}

/// The standard dual-stack director for UDP `[VIP6]:53` to rs1, both
/// neighbors resolved.
fn dns6() -> MemDirector {
    let rules = [
        "-A -u [2001:2:0:1::110]:53 -s rr",
        "-a -u [2001:2:0:1::110]:53 -r [2001:2:0:2::2]:53 -m",
    ];
    let mut d = MemDirector::dual_stack(&rules);
    d.resolve6(Nic::Int, RS1_6, RS1_MAC);
    d.resolve6(Nic::Ext, CLIENT6, CLIENT_MAC);
    d
}

/// An IPv6 atomic fragment (offset 0, M clear) is a datagram on its own
/// (RFC 6946 §4; `ipv6_frag_rcv` passes it on without a reassembly
/// queue): one of the same id that arrives between another datagram's
/// fragments neither forgets that datagram nor takes its fragments.
#[test]
fn an_ipv6_atomic_fragment_leaves_a_datagram_in_flight_alone() {
    let mut d = dns6();
    let req = frames6::udp(&l3_to_vip6(), &[], CPORT, 53, &data(3000), false);
    let frags = cut6(&req, 1232, 0x55);
    assert_eq!(d.ext(&frags[0]).1.len(), 1);
    let small = frames6::udp(&l3_to_vip6(), &[], CPORT + 1, 53, &data(40), false);
    let atomic = cut6(&small, 1232, 0x55);
    assert_eq!((atomic.len(), atomic[0][56..58].to_vec()), (1, vec![0, 0]));
    let (_, int) = d.ext(&atomic[0]);
    assert_eq!(int.len(), 1, "{:?}", drops(&d.w().core.ctr));
    // To rs1, its fragment header kept, the UDP header behind it.
    assert_eq!(int[0][38..54], RS1_6.octets());
    assert_eq!(int[0][64..66], 53u16.to_be_bytes());
    let mut int = vec![];
    for f in &frags[1..] {
        int.extend(d.ext(f).1);
    }
    assert_eq!(int.len(), 2, "{:?}", drops(&d.w().core.ctr));
    assert_eq!(d.ctr(Ctr::FragHeld), 0);
    assert_eq!(drop_sum(&d.w().core.ctr), 0, "{:?}", drops(&d.w().core.ctr));
}

/// An IPv6 atomic fragment holds its whole packet (`ipv6_frag_rcv` passes
/// it on as unfragmented), so its UDP or TCP header and checksum are
/// checked as a whole packet's are in `classify`: a damaged checksum, UDP's
/// 0 (RFC 8200 §8.1) and a UDP length past the packet are refused, where a
/// fragment of a larger datagram, which does not hold what its checksum
/// covers, goes on.
#[test]
fn an_ipv6_atomic_fragment_is_checked_as_a_whole_packet() {
    let mut d = dns6();
    let atomic = |f: &[u8], id: u32| cut6(f, 1232, id).swap_remove(0);
    let good = frames6::udp(&l3_to_vip6(), &[], CPORT, 53, &data(40), false);
    assert_eq!(d.ext(&atomic(&good, 1)).1.len(), 1);
    let mut bad = atomic(&good, 2);
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert_eq!(d.ext(&bad), (vec![], vec![]));
    let zero = frames6::udp(&l3_to_vip6(), &[], CPORT, 53, &data(40), true);
    assert_eq!(d.ext(&atomic(&zero, 3)), (vec![], vec![]));
    assert_eq!(d.ctr(Ctr::DropL4Checksum), 2);
    let mut long = atomic(&good, 4);
    long[62 + 4..62 + 6].copy_from_slice(&(8 + 41u16).to_be_bytes());
    assert_eq!(d.ext(&long), (vec![], vec![]));
    assert_eq!(d.ctr(Ctr::DropL4Malformed), 1);
    // A first fragment of a larger datagram damaged the same way goes on:
    // the far end's reassembly checks its checksum.
    let big = frames6::udp(&l3_to_vip6(), &[], CPORT, 53, &data(2000), false);
    let mut first = cut6(&big, 1232, 5).swap_remove(0);
    let last = first.len() - 1;
    first[last] ^= 1;
    assert_eq!(d.ext(&first).1.len(), 1);
    assert_eq!(drop_sum(&d.w().core.ctr), 3, "{:?}", drops(&d.w().core.ctr));
}

/// An IPv6 atomic fragment needs no reassembly: it is taken on at once as
/// the whole packet it is (`ipv6_frag_rcv` takes it before it looks for a
/// reassembly queue), straight to its connection's owner as a packet with
/// extension headers is, never through a datagram's tracker nor into the
/// fragment table (`frag::atomic6`). With three workers, each of twelve
/// landing on a worker that does not own its client is handed over once
/// (through a tracker, some would be handed twice), counts in no
/// fragment counter, and its connection lives on the owner.
#[test]
fn an_ipv6_atomic_fragment_goes_to_its_owner_without_a_tracker() {
    let mut d = udp6_director();
    let owner = |port: u16| env6().owner6((CLIENT6, port), 3);
    let mut int = vec![];
    for port in CPORT..CPORT + 12 {
        let f = frames6::udp(&l3_to_vip6(), &[], port, 53, &data(40), false);
        let atomic = cut6(&f, 1232, u32::from(port)).swap_remove(0);
        let k = (owner(port) + 1) % 3;
        int.extend(through_worker(&mut d, k, Nic::Ext, &atomic, Nic::Int));
    }
    let sum = sum_ctr;
    let drops: Vec<_> = d.workers.iter().map(|w| drops(&w.core.ctr)).collect();
    assert_eq!(int.len(), 12, "{drops:?}");
    // To rs1, the fragment header kept, the UDP header behind it.
    for f in &int {
        assert_eq!((f[20], &f[38..54]), (44, &RS1_6.octets()[..]));
    }
    assert_eq!(sum(&d, Ctr::HandoffOut), 12);
    assert_eq!(sum(&d, Ctr::RxFragments), 0);
    assert_eq!(sum(&d, Ctr::FwdIn6), 12);
    for k in 0..3 {
        for c in d.conns(k) {
            assert_eq!(owner(c.client.1), k, "{c:?}");
        }
    }
}

/// Three workers (steering off) and one UDP service on the IPv6 VIP's
/// port 53 to rs1, both neighbors resolved.
fn udp6_director() -> MemDirector {
    let rules = [
        "-A -u [2001:2:0:1::110]:53 -s rr",
        "-a -u [2001:2:0:1::110]:53 -r [2001:2:0:2::2]:53 -m",
    ];
    let mut d = MemDirector::with_env(3, &rules, env6(), 1024);
    d.resolve6(Nic::Int, RS1_6, RS1_MAC);
    d.resolve6(Nic::Ext, CLIENT6, CLIENT_MAC);
    d
}

/// The frames out of every worker's `nic` after `frame` is pushed to worker
/// `k`'s receive queue on `rx` and the workers run three rounds (a handoff
/// takes one).
fn through_worker(d: &mut MemDirector, k: usize, rx: Nic, frame: &[u8], nic: Nic) -> Vec<Vec<u8>> {
    d.workers[k].rx[rx].push(frame);
    let mut out = vec![];
    for _ in 0..3 {
        d.poll();
        for w in &mut d.workers {
            out.extend(w.tx[nic].take_sent());
        }
    }
    out
}

fn sum_ctr(d: &MemDirector, c: Ctr) -> u64 {
    d.workers.iter().map(|w| w.core.ctr.get(c)).sum()
}

/// A real server's reply behind extension headers goes to the worker owning
/// its client (its destination on the internal NIC) with steering off too
/// (`steer_chain6`: the fanout program, which reads the port right behind
/// the fixed header, cannot hash it): with three workers and each
/// connection made on its owner, twelve replies, behind a destination
/// options header or as atomic fragments, each pushed to a worker that
/// does not own its client, are each handed over once and reach the client
/// from the VIP's port.
#[test]
fn an_ipv6_reply_behind_extension_headers_goes_to_its_clients_owner() {
    use frames6::Ext;
    let mut d = udp6_director();
    let owner = |port: u16| env6().owner6((CLIENT6, port), 3);
    for port in CPORT..CPORT + 12 {
        let req = frames6::udp(&l3_to_vip6(), &[], port, 53, &data(40), false);
        let int = through_worker(&mut d, owner(port), Nic::Ext, &req, Nic::Int);
        assert_eq!(
            int.len(),
            1,
            "{:?}",
            drops(&d.workers[owner(port)].core.ctr)
        );
    }
    assert_eq!(sum_ctr(&d, Ctr::HandoffOut), 0);
    let l = l3_from_rs6(RS1_6, CLIENT6);
    for port in CPORT..CPORT + 12 {
        let ext = match port % 2 {
            0 => Ext::DestOpts,
            _ => Ext::Fragment {
                offset: 0,
                more: false,
                id: u32::from(port),
            },
        };
        let reply = frames6::udp(&l, &[ext], 53, port, &data(40), false);
        let other = (owner(port) + 1 + usize::from(port % 3 == 0)) % 3;
        let out = through_worker(&mut d, other, Nic::Int, &reply, Nic::Ext);
        let drops: Vec<_> = d.workers.iter().map(|w| drops(&w.core.ctr)).collect();
        assert_eq!(out.len(), 1, "{ext:?} {port}: {drops:?}");
        let f = &out[0];
        // From the VIP to the client, the extension header kept, the UDP
        // header behind it from port 53 to the client's.
        assert_eq!(f[..6], CLIENT_MAC);
        assert_eq!(
            (&f[22..38], &f[38..54]),
            (&VIP6.octets()[..], &CLIENT6.octets()[..])
        );
        let ports = (
            u16::from_be_bytes([f[62], f[63]]),
            u16::from_be_bytes([f[64], f[65]]),
        );
        assert_eq!(ports, (53, port));
        assert_eq!(sum_ctr(&d, Ctr::HandoffOut), u64::from(port - CPORT + 1));
    }
    assert_eq!(sum_ctr(&d, Ctr::HandoffIn), 12);
    assert_eq!(sum_ctr(&d, Ctr::FwdOut6), 12);
    assert_eq!(sum_ctr(&d, Ctr::RxFragments), 0);
    let sums: Vec<_> = d.workers.iter().map(|w| drop_sum(&w.core.ctr)).collect();
    assert_eq!(sums, [0, 0, 0]);
}

/// A client's TCP segment behind a destination options header goes to the
/// worker owning the client with steering off too (`steer_chain6`), which
/// makes the connection: each of twelve SYNs pushed to a worker that does
/// not own its client is handed over once, reaches a real server, and its
/// connection is listed on the owner alone.
#[test]
fn an_ipv6_segment_behind_destination_options_makes_its_connection_on_the_owner() {
    use frames6::Ext;
    let mut d = MemDirector::with_env(3, STANDARD6, env6(), 1024);
    d.resolve6(Nic::Int, RS1_6, RS1_MAC);
    d.resolve6(Nic::Int, RS2_6, RS2_MAC);
    d.resolve6(Nic::Ext, CLIENT6, CLIENT_MAC);
    let owner = |port: u16| env6().owner6((CLIENT6, port), 3);
    for port in CPORT..CPORT + 12 {
        let syn = frames6::tcp(&l3_to_vip6(), &[Ext::DestOpts], port, 80, SYN, &[]);
        let other = (owner(port) + 1 + usize::from(port % 2 == 0)) % 3;
        let int = through_worker(&mut d, other, Nic::Ext, &syn, Nic::Int);
        let drops: Vec<_> = d.workers.iter().map(|w| drops(&w.core.ctr)).collect();
        assert_eq!(int.len(), 1, "{port}: {drops:?}");
        let f = &int[0];
        assert!([RS1_6.octets(), RS2_6.octets()].contains(&f[38..54].try_into().expect("16")));
        assert_eq!(u16::from_be_bytes([f[62], f[63]]), port);
        assert_eq!(sum_ctr(&d, Ctr::HandoffOut), u64::from(port - CPORT + 1));
    }
    let mut listed = vec![];
    for k in 0..3 {
        for c in d.conns(k) {
            assert_eq!(owner(c.client.1), k, "{c:?}");
            listed.push(c.client.1);
        }
    }
    listed.sort_unstable();
    assert_eq!(listed, (CPORT..CPORT + 12).collect::<Vec<_>>());
}

/// Answers to the IPv6 DIP's health checks that come as atomic fragments
/// go to the health thread as the whole packets they are: a destination
/// unreachable about a UDP check's datagram, a TCP check's SYN-ACK.
#[test]
fn ipv6_atomic_fragments_answering_health_checks_are_diverted() {
    use frames6::Ext;
    let mut d = dns6();
    let l = l3_from_rs6(RS1_6, DIP6);
    let atomic = |id| Ext::Fragment {
        offset: 0,
        more: false,
        id,
    };
    let to_rs = frames6::L3 {
        src: DIP6,
        dst: RS1_6,
        ..l3_to_vip6()
    };
    let check = frames6::udp(&to_rs, &[], 61000, 53, &data(20), false);
    let mut m = vec![1u8, 4, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&check[14..]);
    let c = frames6::checksum6(l.src, l.dst, frames6::ICMPV6, &m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    let unreach = frames6::frame(&l, &[atomic(1)], frames6::ICMPV6, &m);
    assert_eq!(d.int(&unreach), (vec![], vec![]));
    assert_eq!(d.shared.health.handed(), 1, "{:?}", drops(&d.w().core.ctr));
    let syn_ack = frames6::tcp(&l, &[atomic(2)], 53, 61001, SYN | ACK, &[]);
    assert_eq!(d.int(&syn_ack), (vec![], vec![]));
    assert_eq!(d.shared.health.handed(), 2, "{:?}", drops(&d.w().core.ctr));
    assert_eq!(drop_sum(&d.w().core.ctr), 0);
}

/// An IPv6 atomic fragment that is not forwarded is counted as the whole
/// packet it holds would be: of a protocol we do not forward (GRE), to the
/// VIP in `drop_proto`, through to an address not ours in
/// `drop_no_service`; an ICMPv6 message other than an echo request as
/// whole ICMPv6 is (an unknown type to us: `drop_icmp`). Not neighbor
/// discovery: the kernel drops it in a fragment (RFC 6980,
/// `ndisc_suppress_frag_ndisc` in `ndisc_rcv`), and so does the director,
/// unanswered, in `drop_fragment`.
#[test]
fn an_ipv6_atomic_fragment_not_forwarded_counts_as_its_packet() {
    let mut d = dns6();
    let atomic = |f: &[u8], id: u32| cut6(f, 1232, id).swap_remove(0);
    let udp = frames6::udp(&l3_to_vip6(), &[], CPORT, 53, &data(40), false);
    let mut gre = atomic(&udp, 1);
    gre[54] = 47;
    assert_eq!(d.ext(&gre), (vec![], vec![]));
    let mut l3 = l3_to_vip6();
    l3.dst = NOT_OURS6;
    let mut through = atomic(&frames6::udp(&l3, &[], CPORT, 53, &data(40), false), 2);
    through[54] = 47;
    assert_eq!(d.ext(&through), (vec![], vec![]));
    let mut echo = frames6::echo_request(&l3_to_vip6(), 1, 1, &data(40));
    echo[54] = 200; // private experimentation (RFC 4443)
    smoltcp::wire::Icmpv6Packet::new_unchecked(&mut echo[54..]).fill_checksum(&CLIENT6, &VIP6);
    assert_eq!(d.ext(&atomic(&echo, 3)), (vec![], vec![]));
    let c = &d.w().core.ctr;
    let counted = [Ctr::DropProto, Ctr::DropNoService, Ctr::DropIcmp].map(|k| c.get(k));
    assert_eq!(counted, [1, 1, 1], "{:?}", drops(c));
    let ns = frames6::L3 {
        dst_mac: EXT_MAC,
        dst: VIP6,
        hop_limit: 255,
        ..l3_to_vip6()
    };
    let ns = atomic(&frames6::neighbor_solicit(&ns, VIP6, CLIENT_MAC), 4);
    assert_eq!(d.ext(&ns), (vec![], vec![]));
    assert_eq!(d.ctr(Ctr::DropFragment), 1);
    assert_eq!(d.ctr(Ctr::RxFragments), 0);
    assert_eq!(drop_sum(&d.w().core.ctr), 4, "{:?}", drops(&d.w().core.ctr));
}

/// IPv6 datagrams are remembered 60 s (`IPV6_FRAG_TIMEOUT`, the reassembly
/// IPVS's IPv6 packets get: `nf_conntrack_reasm.c`), IPv4 ones 30 s: a
/// last fragment 45 s after its first still goes through.
#[test]
fn ipv6_fragments_are_remembered_for_sixty_seconds() {
    let mut d = dns6();
    let req = frames6::udp(&l3_to_vip6(), &[], CPORT, 53, &data(2000), false);
    let frags = cut6(&req, 1232, 0x1234);
    assert_eq!(d.ext(&frags[0]).1.len(), 1);
    d.advance(Duration::from_secs(45));
    d.poll();
    assert_eq!(d.ext(&frags[1]).1.len(), 1, "{:?}", drops(&d.w().core.ctr));
    // Held for its first, a later fragment waits 60 s too, not 30.
    let other = frames6::udp(&l3_to_vip6(), &[], CPORT, 53, &data(2000), false);
    let later = cut6(&other, 1232, 0x5678);
    assert!(d.ext(&later[1]).1.is_empty());
    assert_eq!(d.ctr(Ctr::FragHeld), 1);
    d.advance(Duration::from_secs(u64::from(FRAG_TIMEOUT_S) + 1));
    d.poll();
    assert_eq!(d.ctr(Ctr::DropFragExpired), 0);
    d.advance(Duration::from_secs(u64::from(
        FRAG6_TIMEOUT_S - FRAG_TIMEOUT_S,
    )));
    d.poll();
    assert_eq!(d.ctr(Ctr::DropFragExpired), 1);
}

/// An IPv6 fragment `f` (as `cut6` makes them) with its data cut to `len`
/// bytes and its offset field set to `off` (bytes) and M to `more`.
fn reshape6(f: &[u8], off: u16, more: bool, len: usize) -> Vec<u8> {
    let mut f = f[..62 + len.min(f.len() - 62)].to_vec();
    f.resize(62 + len, 0xa5);
    f[18..20].copy_from_slice(&((8 + len) as u16).to_be_bytes());
    f[56..58].copy_from_slice(&(off | u16::from(more)).to_be_bytes());
    f
}

/// The ICMPv6 parameter problem in `ext` (one frame): from the VIP to the
/// client's MAC and address, code 0, pointing at `pointer`, quoting
/// `quoted` from its IPv6 header on, its checksum good.
fn param_problem(ext: &[Vec<u8>], pointer: u32, quoted: &[u8]) {
    param_problem_code(ext, 0, pointer, quoted)
}

/// [`param_problem`] with code `code`.
fn param_problem_code(ext: &[Vec<u8>], code: u8, pointer: u32, quoted: &[u8]) {
    assert_eq!(ext.len(), 1, "one error: {ext:02x?}");
    let e = &ext[0];
    assert_eq!((&e[..6], &e[6..12]), (&CLIENT_MAC[..], &EXT_MAC[..]));
    let ip = smoltcp::wire::Ipv6Packet::new_checked(&e[14..]).expect("ipv6");
    assert_eq!((ip.src_addr(), ip.dst_addr()), (VIP6, CLIENT6));
    assert_eq!(ip.next_header(), smoltcp::wire::IpProtocol::Icmpv6);
    let icmp = smoltcp::wire::Icmpv6Packet::new_checked(ip.payload()).expect("icmpv6");
    assert!(icmp.verify_checksum(&VIP6, &CLIENT6));
    assert_eq!(
        (icmp.msg_type(), icmp.msg_code()),
        (smoltcp::wire::Icmpv6Message::ParamProblem, code)
    );
    assert_eq!(&e[54..56], &[4, code], "type 4, code {code} on the wire");
    assert_eq!(icmp.param_problem_ptr(), pointer);
    // As much of the fragment as fits 1280 bytes (RFC 4443 §2.4(c)).
    let q = &quoted[14..];
    let q = &q[..q.len().min(1280 - 48)];
    assert!(
        icmp.payload() == q,
        "the quote: {} bytes",
        icmp.payload().len()
    );
}

/// RFC 8200 §4.5, as `ip6_frag_queue` does it: a fragment with M set and a
/// length not a multiple of 8 is dropped and its sender told with a
/// parameter problem pointing at the payload length; one whose data would
/// end past 65535 bytes, pointing at the fragment offset (for a later
/// fragment too). The datagram goes with it (Linux since 2026): its fragments
/// held and to come are dropped.
#[test]
fn ipv6_fragments_reassembly_refuses_get_a_parameter_problem() {
    let mut d = dns6();
    let req = frames6::udp(&l3_to_vip6(), &[], CPORT, 53, &data(3000), false);
    let frags = cut6(&req, 1232, 0x0bad_0001);
    // The last waits for its first; the middle one comes 4 bytes short.
    assert!(d.ext(&frags[2]).1.is_empty());
    let short = reshape6(&frags[1], 1232, true, 1228);
    let (ext, int) = d.ext(&short);
    assert!(int.is_empty());
    param_problem(&ext, 4, &short);
    assert_eq!(d.ctr(Ctr::DropFragInvalid), 1);
    assert_eq!(d.ctr(Ctr::Icmp6ParamProblem), 1);
    // The held last fragment went with its datagram; the first, coming
    // now, goes too.
    assert_eq!(
        (d.ctr(Ctr::FragReleased), d.ctr(Ctr::DropFragOverlap)),
        (1, 1)
    );
    let (ext, int) = d.ext(&frags[0]);
    assert!(ext.is_empty() && int.is_empty());
    assert_eq!(d.ctr(Ctr::DropFragOverlap), 2);
    assert_eq!(d.ctr(Ctr::ConnNew), 0);

    // Past 65535: a later fragment at offset 65528 with 16 bytes.
    let other = frames6::udp(&l3_to_vip6(), &[], CPORT, 53, &data(3000), false);
    let frags = cut6(&other, 1232, 0x0bad_0002);
    assert_eq!(d.ext(&frags[0]).1.len(), 1);
    let far = reshape6(&frags[1], 65528, false, 16);
    let (ext, int) = d.ext(&far);
    assert!(int.is_empty());
    // The fragment header follows the IPv6 header: its offset field is
    // byte 42.
    param_problem(&ext, 42, &far);
    assert_eq!(d.ctr(Ctr::DropFragInvalid), 2);
    // The rest of that datagram is dropped.
    let (ext, int) = d.ext(&frags[1]);
    assert!(ext.is_empty() && int.is_empty());
    assert_eq!(d.ctr(Ctr::DropFragOverlap), 3);
    assert_eq!(d.ctr(Ctr::Icmp6ParamProblem), 2);
    assert_eq!(d.ctr(Ctr::FwdIn6), 1, "{:?}", drops(&d.w().core.ctr));

    // A fragment ending exactly at 65535 is fine, and a last fragment's
    // length need not be a multiple of 8.
    let third = cut6(&other, 1232, 0x0bad_0003);
    assert_eq!(d.ext(&third[0]).1.len(), 1);
    let edge = reshape6(&third[1], 65528, false, 7);
    assert_eq!(d.ext(&edge).1.len(), 1, "{:?}", drops(&d.w().core.ctr));
    assert_eq!(d.ctr(Ctr::DropFragInvalid), 2);
}

/// RFC 8200 §4.5 (RFC 7112), as `ipv6_frag_rcv` applies it
/// (`ipv6frag_thdr_truncated`): a first fragment to us that ends before its
/// upper-layer header does (8 bytes of UDP, of ICMPv6) is dropped and its
/// sender gets a parameter problem, code 3, pointer 0, quoting it; so is one
/// whose destination options header runs past its end. Not told: the
/// sender of an atomic fragment, of a fragment through to a client (not to
/// us), of an ICMPv6 error's fragment, of a chain whose next header does
/// not even start within the fragment (the kernel's walk gives up there).
#[test]
fn an_ipv6_first_fragment_cutting_its_header_chain_gets_a_parameter_problem() {
    let mut d = dns6();
    let req = frames6::udp(&l3_to_vip6(), &[], CPORT, 53, &data(3000), false);
    let frags = cut6(&req, 1232, 0x0c07_0001);
    // 4 bytes of the UDP header: the ports, not the length and checksum.
    let short = reshape6(&frags[0], 0, true, 4);
    let (ext, int) = d.ext(&short);
    assert!(int.is_empty());
    param_problem_code(&ext, 3, 0, &short);
    assert_eq!(d.ctr(Ctr::Icmp6ParamProblem), 1);
    assert_eq!(d.ctr(Ctr::DropFragment), 1);
    // The datagram is not refused: sent again whole, it goes through.
    let mut int = vec![];
    for f in &frags {
        int.extend(d.ext(f).1);
    }
    assert_eq!(int.len(), 3, "{:?}", drops(&d.w().core.ctr));

    // Destination options claiming 16 bytes, 8 of them in the fragment.
    let mut opts = frags[0][..62].to_vec();
    opts[54] = 60;
    opts.extend_from_slice(&[17, 1, 1, 4, 0, 0, 0, 0]);
    opts[18..20].copy_from_slice(&16u16.to_be_bytes());
    let (ext, int) = d.ext(&opts);
    assert!(int.is_empty());
    param_problem_code(&ext, 3, 0, &opts);
    assert_eq!(d.ctr(Ctr::Icmp6ParamProblem), 2);

    // An echo request to the VIP with 4 bytes of its ICMPv6 header.
    let echo = frames6::echo_request(&l3_to_vip6(), 1, 1, &data(2000));
    let echo = reshape6(&cut6(&echo, 1232, 0x0c07_0002)[0], 0, true, 4);
    param_problem_code(&d.ext(&echo).0, 3, 0, &echo);
    assert_eq!(d.ctr(Ctr::Icmp6ParamProblem), 3);

    // None of these gets one.
    let mut atomic = short.clone();
    atomic[57] = 0;
    let mut error = echo.clone();
    error[62] = 1; // destination unreachable: an error
    let mut no_start = opts[..62].to_vec(); // destination options, no byte of them
    no_start[18..20].copy_from_slice(&8u16.to_be_bytes());
    let reply = frames6::udp(
        &l3_from_rs6(RS1_6, CLIENT6),
        &[],
        53,
        CPORT,
        &data(2000),
        false,
    );
    let through = reshape6(&cut6(&reply, 1232, 0x0c07_0003)[0], 0, true, 4);
    for (name, f, int) in [
        ("atomic", &atomic, false),
        ("error", &error, false),
        ("no start", &no_start, false),
        ("through", &through, true),
    ] {
        let (ext, int) = if int { d.int(f) } else { d.ext(f) };
        assert!(
            ext.is_empty() && int.is_empty(),
            "{name}: {ext:02x?} {int:02x?}"
        );
    }
    assert_eq!(d.ctr(Ctr::Icmp6ParamProblem), 3);
    assert_eq!(d.ctr(Ctr::Icmp6ParamProblemLimited), 0);
    assert_eq!(d.ctr(Ctr::DropExtHeader), 1, "{:?}", drops(&d.w().core.ctr));
    assert_eq!(d.ctr(Ctr::DropFragment), 5, "{:?}", drops(&d.w().core.ctr));
    // The atomic one is the whole packet it holds: too short for UDP.
    assert_eq!(d.ctr(Ctr::DropL4Malformed), 1);
}

/// The parameter problems are rate-limited with the director's other
/// errors (RFC 4443 §2.4(f); the kernel's `icmpv6_xrlim_allow`).
#[test]
fn ipv6_parameter_problems_are_rate_limited() {
    let mut d = dns6();
    let req = frames6::udp(&l3_to_vip6(), &[], CPORT, 53, &data(3000), false);
    let mut sent = 0;
    for id in 0..60u32 {
        let f = reshape6(&cut6(&req, 1232, 0x100 + id)[0], 0, true, 1230);
        sent += d.ext(&f).0.len();
    }
    assert_eq!(sent, 50);
    assert_eq!(d.ctr(Ctr::Icmp6ParamProblem), 50);
    assert_eq!(d.ctr(Ctr::Icmp6ParamProblemLimited), 10);
    assert_eq!(d.ctr(Ctr::DropFragInvalid), 60);
}

/// RFC 5722 (and Linux for IPv4 since 4.19, `inet_frag_queue_insert`): a
/// fragment overlapping part of what came of its datagram refuses the
/// whole datagram, fragments to come included; a duplicate is dropped
/// alone and the datagram goes on.
#[test]
fn ipv6_overlapping_fragments_refuse_their_datagram_and_duplicates_are_dropped() {
    let mut d = dns6();
    let req = frames6::udp(&l3_to_vip6(), &[], CPORT, 53, &data(3000), false);
    let frags = cut6(&req, 1232, 0x0e0e_0001);
    assert_eq!(d.ext(&frags[0]).1.len(), 1);
    // The second fragment again: a duplicate, dropped; the datagram whole.
    assert_eq!(d.ext(&frags[1]).1.len(), 1);
    assert!(d.ext(&frags[1]).1.is_empty());
    assert_eq!(d.ctr(Ctr::DropFragDup), 1);
    // (So is the first, repeated.)
    assert!(d.ext(&frags[0]).1.is_empty());
    assert_eq!(d.ctr(Ctr::DropFragDup), 2);
    assert_eq!(d.ext(&frags[2]).1.len(), 1);
    assert_eq!(d.ctr(Ctr::FwdIn6), 3);

    // Another datagram: its second fragment starts 8 bytes early.
    let frags = cut6(&req, 1232, 0x0e0e_0002);
    assert_eq!(d.ext(&frags[0]).1.len(), 1);
    let mut early = frags[1].clone();
    early[56..58].copy_from_slice(&((1224u16) | 1).to_be_bytes());
    assert!(d.ext(&early).1.is_empty());
    assert_eq!(d.ctr(Ctr::DropFragOverlap), 1);
    // Its own fragments, coming now, are dropped: the real server would
    // otherwise put together a datagram the kernel refused.
    for f in &frags[1..] {
        let (ext, int) = d.ext(f);
        assert!(ext.is_empty() && int.is_empty());
    }
    assert_eq!(d.ctr(Ctr::DropFragOverlap), 3);
    assert_eq!(d.ctr(Ctr::FwdIn6), 4);
    assert_eq!(
        d.ctr(Ctr::Icmp6ParamProblem),
        0,
        "an overlap is refused silently"
    );
}

/// The same for IPv4 (`ip_frag_queue`): overlaps refuse the datagram,
/// duplicates are dropped alone, a datagram over 65535 bytes is refused
/// (`ip_frag_reasm`), silently; a fragment with MF set that is not a
/// multiple of 8 bytes is cut to one by the kernel, not refused, so the
/// fragment that starts at the cut is no overlap.
#[test]
fn ipv4_fragments_reassembly_refuses_are_dropped() {
    let mut d = director(1);
    let req = udp_frame(&L3::to_vip(), CPORT, 53, &data(3000), true);
    let frags = cut(&req, 1480);
    let rs_before = d.ctr(Ctr::FwdIn);
    assert_eq!(d.ext(&frags[0]).1.len(), 1);
    assert_eq!(d.ext(&frags[1]).1.len(), 1);
    assert!(d.ext(&frags[1]).1.is_empty(), "a duplicate");
    assert_eq!(d.ctr(Ctr::DropFragDup), 1);
    assert_eq!(d.ext(&frags[2]).1.len(), 1);
    assert_eq!(d.ctr(Ctr::FwdIn) - rs_before, 3);

    // Overlap: the third fragment 8 bytes early refuses its datagram.
    let req = request(77, 4000);
    let frags = cut(&req, 1480);
    assert_eq!(d.ext(&frags[0]).1.len(), 1);
    assert_eq!(d.ext(&frags[1]).1.len(), 1);
    let early = moved(&frags[2], 2952);
    assert!(d.ext(&early).1.is_empty());
    assert_eq!(d.ctr(Ctr::DropFragOverlap), 1);
    assert!(d.ext(&frags[2]).1.is_empty());
    assert_eq!(d.ctr(Ctr::DropFragOverlap), 2);

    // Over 65535 bytes with its header: refused, and no ICMP.
    let req = request(78, 3000);
    let frags = cut(&req, 1480);
    assert_eq!(d.ext(&frags[0]).1.len(), 1);
    let far = moved(&frags[2], 65520);
    let (ext, int) = d.ext(&far);
    assert!(ext.is_empty() && int.is_empty());
    assert_eq!(d.ctr(Ctr::DropFragInvalid), 1);
    assert!(d.ext(&frags[1]).1.is_empty(), "its datagram refused");
    assert_eq!(d.ctr(Ctr::DropFragOverlap), 3);

    // MF and 1001 bytes: taken as 1000, the next at 1000 fits on.
    let req = request(79, 1900);
    let frags = cut(&req, 1000);
    let mut long = frags[0].clone();
    long.push(0xa5);
    SIp::new_unchecked(&mut long[14..]).set_total_len(1021);
    fix_ip_checksum(&mut long);
    assert_eq!(d.ext(&long).1.len(), 1, "{:?}", drops(&d.w().core.ctr));
    assert_eq!(d.ext(&frags[1]).1.len(), 1, "{:?}", drops(&d.w().core.ctr));
    assert_eq!(d.ctr(Ctr::DropFragOverlap), 3);
    assert_eq!(d.ctr(Ctr::DropFragInvalid), 1);
}

/// Another datagram that reuses an id goes through whole: one whose last
/// fragment was lost left its entry unfinished, or one was refused, and a
/// first fragment seconds later starts the id over (`RESTART_S`; IPv4 ids
/// wrap), as the kernel's fresh queue would take it. A copy of a first
/// fragment that comes right after it is still a duplicate, and right after
/// a refusal still refused.
#[test]
fn a_new_datagram_that_reuses_an_id_goes_through() {
    let mut d = director(1);
    let l3 = L3 {
        id: 90,
        ..L3::to_vip()
    };
    let frags = cut(&udp_frame(&l3, CPORT, 53, &data(3000), true), 1480);
    assert_eq!(d.ext(&frags[0]).1.len(), 1);
    assert!(d.ext(&frags[0]).1.is_empty(), "a copy at once: a duplicate");
    assert_eq!(d.ext(&frags[1]).1.len(), 1);
    // The last fragment was lost; the id again, 3 s on.
    d.advance(Duration::from_secs(3));
    for f in &frags {
        assert_eq!(d.ext(f).1.len(), 1, "{:?}", drops(&d.w().core.ctr));
    }
    // An overlap refuses datagram 91; the id's next datagram goes through.
    let l3 = L3 {
        id: 91,
        ..L3::to_vip()
    };
    let frags = cut(&udp_frame(&l3, CPORT + 1, 53, &data(4000), true), 1480);
    assert_eq!(d.ext(&frags[0]).1.len(), 1);
    assert_eq!(d.ext(&frags[1]).1.len(), 1);
    let early = moved(&frags[2], 2952);
    assert!(d.ext(&early).1.is_empty());
    assert!(d.ext(&frags[2]).1.is_empty(), "refused");
    assert!(d.ext(&frags[0]).1.is_empty(), "refused, at once");
    d.advance(Duration::from_secs(3));
    for f in &frags {
        assert_eq!(d.ext(f).1.len(), 1, "{:?}", drops(&d.w().core.ctr));
    }
}

/// The first fragments of `n` other datagrams from `src` (ids from `id`),
/// each forwarded.
fn others(d: &mut MemDirector, src: std::net::Ipv4Addr, id: u16, n: u32) {
    for i in 0..n as u16 {
        let l3 = L3 {
            id: id + i,
            ..L3::from_client(src)
        };
        let f = cut(&udp_frame(&l3, CPORT + 1, 53, &data(2000), true), 1480);
        assert_eq!(d.ext(&f[0]).1.len(), 1, "{:?}", drops(&d.w().core.ctr));
    }
}

/// `ip_frag_too_far`: a datagram is started over when its source's count
/// of fragments went more than `ipfrag_max_dist` (64) on from its last to
/// the next, that is 64 fragments of other datagrams came between (63 do
/// not), all within a second (not by time): a later fragment of it waits
/// for a new first, its held ones are dropped, and a new datagram that
/// reuses its id goes through whole. Another source's do not count.
#[test]
fn a_source_sending_max_dist_fragments_past_a_datagram_starts_it_over() {
    let mut d = director(1);
    assert_eq!(FRAG_MAX_DIST, 64);
    // 63 fragments between: the datagram goes on.
    let a = cut(&request(500, 3000), 1480);
    assert_eq!(d.ext(&a[0]).1.len(), 1);
    others(&mut d, CLIENT, 1000, FRAG_MAX_DIST - 1);
    assert_eq!(d.ext(&a[1]).1.len(), 1, "{:?}", drops(&d.w().core.ctr));
    assert_eq!(d.ext(&a[2]).1.len(), 1);
    assert_eq!(d.ctr(Ctr::FragTooFar), 0);
    // 65 of another source between: the same.
    let b = cut(&request(501, 3000), 1480);
    assert_eq!(d.ext(&b[0]).1.len(), 1);
    others(&mut d, CLIENT2, 1000, FRAG_MAX_DIST + 1);
    assert_eq!(d.ext(&b[1]).1.len(), 1);
    assert_eq!(d.ctr(Ctr::FragTooFar), 0);

    // 64: started over. A datagram that lost its later fragments, and
    // another that reuses its id at once: whole, where its first was a
    // duplicate of the old one's.
    let c = cut(&request(502, 3000), 1480);
    assert_eq!(d.ext(&c[0]).1.len(), 1);
    others(&mut d, CLIENT, 2000, FRAG_MAX_DIST);
    let body = data(2500);
    let l3 = L3 {
        id: 502,
        ..L3::to_vip()
    };
    let again = cut(&udp_frame(&l3, CPORT + 2, 53, &body, true), 1480);
    let mut int = d.ext(&again[0]).1;
    int.extend(d.ext(&again[1]).1);
    assert_eq!(int.len(), 2, "{:?}", drops(&d.w().core.ctr));
    check_udp(
        &whole(&int, MTU),
        (CLIENT, CPORT + 2),
        (rs_of(&int[0]), 53),
        &body,
    );
    assert_eq!(d.ctr(Ctr::FragTooFar), 1);
    // The old datagram's later fragment, 64 on: waits for a new first.
    let c = cut(&request(504, 3000), 1480);
    assert_eq!(d.ext(&c[0]).1.len(), 1);
    others(&mut d, CLIENT, 3000, FRAG_MAX_DIST);
    let held = d.ctr(Ctr::FragHeld);
    assert!(d.ext(&c[1]).1.is_empty());
    assert_eq!(d.ctr(Ctr::FragTooFar), 2);
    assert_eq!(d.ctr(Ctr::FragHeld), held + 1);
    assert_eq!(d.ctr(Ctr::DropFragTooFar), 0, "none held");
    assert_eq!(drop_sum(&d.w().core.ctr), 0);

    // Held fragments of a datagram whose first has not come: dropped.
    let e = cut(&request(503, 4000), 1480);
    assert!(d.ext(&e[1]).1.is_empty());
    others(&mut d, CLIENT, 4000, FRAG_MAX_DIST);
    assert!(d.ext(&e[2]).1.is_empty());
    assert_eq!(d.ctr(Ctr::FragTooFar), 3);
    assert_eq!(d.ctr(Ctr::DropFragTooFar), 1);
    let int = d.ext(&e[0]).1;
    assert_eq!(int.len(), 2, "the first and the third, not the second");
    let offsets: Vec<u16> = int
        .iter()
        .map(|f| SIp::new_unchecked(&f[14..]).frag_offset())
        .collect();
    assert_eq!(offsets, [0, 2960]);
}

/// `--ipfrag-max-dist N`, the kernel's `net.ipv4.ipfrag_max_dist`: N
/// fragments of others between two of a datagram's (its source's count
/// N + 1 on) start it over, N - 1 do not; 0 turns the check off
/// (`ip_frag_too_far` returns at once), so 100 between leave it going.
#[test]
fn ipfrag_max_dist_sets_how_far_and_0_turns_it_off() {
    // (N, fragments of others between, started over)
    for (max, between, over) in [
        (8, 7, false),
        (8, 8, true),
        (FRAG_MAX_DIST, FRAG_MAX_DIST, true),
        (0, FRAG_MAX_DIST, false),
        (0, 100, false),
    ] {
        let mut env = env();
        env.sysctl.ipfrag_max_dist = max;
        let mut d = MemDirector::with_env(1, RULES, env, 1024);
        d.resolve_all();
        let a = cut(&request(500, 3000), 1480);
        assert_eq!(d.ext(&a[0]).1.len(), 1);
        others(&mut d, CLIENT, 1000, between);
        let next = d.ext(&a[1]).1;
        let what = format!("{max} {between}: {:?}", drops(&d.w().core.ctr));
        assert_eq!(d.ctr(Ctr::FragTooFar), u64::from(over), "{what}");
        // Started over, the later fragment waits for a new first.
        assert_eq!(next.len(), usize::from(!over), "{what}");
        assert_eq!(d.ctr(Ctr::FragHeld), u64::from(over), "{what}");
    }
}

/// With two workers the count is kept by the datagram's tracker, and the
/// connection's owner takes the tracker's word that a datagram started over
/// is a new one: another datagram reusing the id, its first a copy of the
/// old first's place, goes through whole rather than as a duplicate there.
#[test]
fn with_two_workers_a_datagram_started_over_at_its_tracker_is_new_at_its_owner() {
    let mut d = director(2);
    let sum = |d: &MemDirector, c: Ctr| d.workers.iter().map(|w| w.core.ctr.get(c)).sum::<u64>();
    // Push `f` on worker 0 and run both; what went out inside, and the
    // worker that held a fragment, if one did.
    let run = |d: &mut MemDirector, f: &[u8]| {
        let held: Vec<u64> = d
            .workers
            .iter()
            .map(|w| w.core.ctr.get(Ctr::FragHeld))
            .collect();
        d.workers[0].rx[Nic::Ext].push(f);
        let mut int = vec![];
        for _ in 0..4 {
            d.poll();
            for w in &mut d.workers {
                int.extend(w.tx[Nic::Int].take_sent());
            }
        }
        let at = (0..2).find(|&w| d.workers[w].core.ctr.get(Ctr::FragHeld) > held[w]);
        (int, at)
    };
    let owner = env().owner((be(CLIENT), CPORT), 2);
    // A datagram tracked on the worker that does not own its connection:
    // its second fragment, held, tells where.
    let (mut id, mut tracker) = (500, None);
    while tracker != Some(1 - owner) {
        id += 1;
        tracker = run(&mut d, &cut(&request(id, 3000), 1480)[1]).1;
    }
    let t = 1 - owner;
    let a = cut(&request(id, 3000), 1480);
    assert_eq!(run(&mut d, &a[0]).0.len(), 2, "the first and the held one");
    // 64 fragments of other datagrams from the client tracked there.
    let (mut n, mut other) = (0, 2000);
    while n < FRAG_MAX_DIST {
        other += 1;
        if run(&mut d, &cut(&request(other, 3000), 1480)[1]).1 == Some(t) {
            n += 1;
        }
    }
    let body = data(2500);
    let l3 = L3 { id, ..L3::to_vip() };
    let again = cut(&udp_frame(&l3, CPORT, 53, &body, true), 1480);
    let mut int = run(&mut d, &again[0]).0;
    int.extend(run(&mut d, &again[1]).0);
    assert_eq!(int.len(), 2, "{:?}", each_drops(&d));
    check_udp(
        &whole(&int, MTU),
        (CLIENT, CPORT),
        (rs_of(&int[0]), 53),
        &body,
    );
    assert_eq!(d.workers[t].core.ctr.get(Ctr::FragTooFar), 1);
    assert_eq!(sum(&d, Ctr::DropFragDup), 0);
}

/// With two workers the datagram's tracker sees every fragment, whichever
/// worker it reached: an overlap refuses the datagram there, and the
/// fragments after it go nowhere, for each of several client ports.
#[test]
fn with_two_workers_an_overlap_refuses_the_datagram_at_its_tracker() {
    let mut d = director(2);
    let sum = |d: &MemDirector, c: Ctr| d.workers.iter().map(|w| w.core.ctr.get(c)).sum::<u64>();
    for (n, port) in (CPORT..CPORT + 4).enumerate() {
        let l3 = L3 {
            id: port,
            ..L3::to_vip()
        };
        let frags = cut(&udp_frame(&l3, port, 53, &data(4000), true), 1480);
        let early = moved(&frags[2], 2952);
        // The first and second, the overlap, then the real third, each on
        // another worker than the one before.
        for (i, f) in [&frags[0], &frags[1], &early, &frags[2]].iter().enumerate() {
            d.workers[(i + n) % 2].rx[Nic::Ext].push(f);
            d.poll();
        }
        let mut int = vec![];
        for _ in 0..4 {
            d.poll();
            for w in &mut d.workers {
                int.extend(w.tx[Nic::Int].take_sent());
            }
        }
        assert_eq!(int.len(), 2, "port {port}: the two before the overlap");
    }
    assert_eq!(sum(&d, Ctr::DropFragOverlap), 8);
    assert_eq!(sum(&d, Ctr::FwdIn), 8);
}

/// A last fragment that contradicts its datagram's end (ending before
/// data already come) refuses the datagram, as `ip_frag_queue` does.
#[test]
fn a_last_fragment_ending_short_refuses_its_datagram() {
    let mut d = director(1);
    let req = request(90, 4000);
    let frags = cut(&req, 1480);
    assert_eq!(d.ext(&frags[0]).1.len(), 1);
    assert_eq!(d.ext(&frags[1]).1.len(), 1);
    // The last fragment moved to end before the second's end.
    let short = moved(&frags[2], 1480);
    assert!(d.ext(&short).1.is_empty());
    assert_eq!(d.ctr(Ctr::DropFragInvalid), 1);
    assert!(d.ext(&frags[2]).1.is_empty());
    assert_eq!(d.ctr(Ctr::DropFragOverlap), 1);
    assert_eq!(d.ctr(Ctr::FwdIn), 2);
}

mod props {
    use super::*;
    use proptest::prelude::*;

    /// Datagrams to send: client port (from `CPORT`), data length, fragment
    /// size (units of 8 bytes); a request, then its server's answer.
    type Plan = Vec<(u16, usize, usize)>;

    fn plan() -> impl Strategy<Value = (Plan, Vec<(usize, usize)>)> {
        (
            prop::collection::vec((0u16..6, 200usize..4000, 20usize..186), 1..5),
            // Per fragment, in the order sent: which datagram's fragment
            // (modulo those left) and which worker (modulo 2) receives it.
            prop::collection::vec((any::<usize>(), any::<usize>()), 64),
        )
    }

    /// Fragments of every datagram of `plan` out of `frames`, pushed in the
    /// order `order` picks (each datagram's own fragments in any order), to
    /// the worker it picks; what leaves the director on `out`.
    fn send_all(
        d: &mut MemDirector,
        (nic, out): (Nic, Nic),
        frames: &[Vec<Vec<u8>>],
        order: &[(usize, usize)],
    ) -> Vec<Vec<u8>> {
        let mut left: Vec<Vec<Vec<u8>>> = frames.to_vec();
        let mut o = order.iter().cycle();
        while left.iter().any(|f| !f.is_empty()) {
            let &(pick, worker) = o.next().expect("cycle");
            let live: Vec<usize> = (0..left.len()).filter(|&i| !left[i].is_empty()).collect();
            let i = live[pick % live.len()];
            let j = pick / 7 % left[i].len();
            let f = left[i].remove(j);
            d.workers[worker % 2].rx[nic].push(&f);
            d.poll();
        }
        let mut sent = vec![];
        for _ in 0..4 {
            d.poll();
            for w in &mut d.workers {
                sent.extend(w.tx[out].take_sent());
            }
        }
        sent
    }

    /// Each worker's counters that moved.
    fn counters(d: &MemDirector) -> Vec<Vec<(&'static str, u64)>> {
        d.workers
            .iter()
            .map(|w| {
                let c = &w.core.ctr;
                Ctr::ALL
                    .iter()
                    .filter(|&&n| c.get(n) > 0)
                    .map(|&n| (n.name(), c.get(n)))
                    .collect()
            })
            .collect()
    }

    /// The fragments in `sent` of the datagram with IP id `id`.
    fn of_id(sent: &[Vec<u8>], id: u16) -> Vec<Vec<u8>> {
        sent.iter()
            .filter(|f| SIp::new_unchecked(&f[14..]).ident() == id)
            .cloned()
            .collect()
    }

    /// Each worker's one-outcome balance: what came in (from the wire, from
    /// another worker, out of the held places, out of a full neighbor queue)
    /// against what became of it (sent or queued, handed over, dropped,
    /// held).
    fn balanced(d: &MemDirector) -> Result<(), TestCaseError> {
        let sum = |c: Ctr| d.workers.iter().map(|w| w.core.ctr.get(c)).sum::<u64>();
        let drops: u64 = d.workers.iter().map(|w| drop_sum(&w.core.ctr)).sum();
        let sent = sum(Ctr::TxExt) + sum(Ctr::TxInt) + sum(Ctr::NeighQueued)
            - sum(Ctr::TxFragments)
            + sum(Ctr::TxFragmented)
            + sum(Ctr::NeighQueuedFragmented)
            - sum(Ctr::IcmpFragNeeded)
            - sum(Ctr::Icmp6TooBig)
            - sum(Ctr::Icmp6ParamProblem)
            - sum(Ctr::IcmpTimeExceeded);
        let came = sum(Ctr::RxExt)
            + sum(Ctr::RxInt)
            + sum(Ctr::HandoffIn)
            + sum(Ctr::FragReleased)
            + sum(Ctr::NeighEvicted);
        let went = sent + sum(Ctr::HandoffOut) + drops + sum(Ctr::FragHeld);
        prop_assert_eq!(came, went, "{:?}", counters(d));
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

        /// Fragments with up to three bytes of their headers changed, on
        /// either NIC of either of two workers: nothing panics, and every
        /// frame has one outcome on each worker it reaches.
        #[test]
        fn edited_fragments_on_two_workers_have_one_outcome_each(
            edits in prop::collection::vec(
                (0usize..8, any::<bool>(), any::<usize>(), prop::collection::vec((14usize..50, any::<u8>()), 0..4)),
                1..40,
            )
        ) {
            let mut d = director(2);
            let req = udp_frame(&L3::to_vip(), CPORT, 53, &data(3000), true);
            let rep = udp_frame(&L3::from_rs(RS1, CLIENT), 53, CPORT, &data(3000), true);
            let tcp = tcp_seg(&L3::to_vip(), CPORT + 1, 80, ACK, 1, 1, &data(2000));
            let pool: Vec<(Nic, Vec<u8>)> = cut(&req, 1232)
                .into_iter()
                .map(|f| (Nic::Ext, f))
                .chain(cut(&rep, 1232).into_iter().map(|f| (Nic::Int, f)))
                .chain(cut(&tcp, 1000).into_iter().map(|f| (Nic::Ext, f)))
                .collect();
            for (pick, fix, worker, changes) in edits {
                let (nic, mut f) = pool[pick % pool.len()].clone();
                for (at, v) in changes {
                    f[at] = v;
                }
                if fix && f.len() >= 34 {
                    let mut ip = SIp::new_unchecked(&mut f[14..]);
                    ip.fill_checksum();
                }
                d.workers[worker % 2].rx[nic].push(&f);
                d.poll();
                balanced(&d)?;
            }
            for _ in 0..3 {
                d.poll();
            }
            balanced(&d)?;
        }

        /// Whatever the order of their fragments and the workers they reach,
        /// two workers forward every fragment of every datagram, each
        /// request's to its connection's server and each answer's to its
        /// client, whole when put together; nothing is dropped or left held.
        #[test]
        fn any_order_on_any_worker_comes_out_whole((plan, order) in plan()) {
            let mut d = director(2);
            // Distinct client ports (one datagram each way per connection),
            // each datagram in at least two fragments.
            let mut seen = std::collections::HashSet::new();
            let plan: Vec<_> = plan
                .into_iter()
                .filter(|p| seen.insert(p.0))
                .map(|(port, len, units)| (port, len, units.min((len + 8) / 16).max(1) * 8))
                .collect();
            let bodies: Vec<Vec<u8>> = plan.iter().map(|p| data(p.1)).collect();
            let reqs: Vec<Vec<Vec<u8>>> = plan
                .iter()
                .zip(&bodies)
                .map(|(p, b)| {
                    let l3 = L3 { id: 100 + p.0, ..L3::to_vip() };
                    cut(&udp_frame(&l3, CPORT + p.0, 53, b, true), p.2)
                })
                .collect();
            let int = send_all(&mut d, (Nic::Ext, Nic::Int), &reqs, &order);
            let mut server = std::collections::HashMap::new();
            for ((p, b), sent) in plan.iter().zip(&bodies).zip(&reqs) {
                let frags = of_id(&int, 100 + p.0);
                prop_assert_eq!(frags.len(), sent.len(), "{:?}", counters(&d));
                let rs = rs_of(&frags[0]);
                check_udp(&whole(&frags, MTU), (CLIENT, CPORT + p.0), (rs, 53), b);
                server.insert(p.0, rs);
            }
            // The answers, the same sizes, cut the same.
            let answers: Vec<Vec<Vec<u8>>> = plan
                .iter()
                .zip(&bodies)
                .map(|(p, b)| {
                    let l3 = L3 { id: 200 + p.0, ..L3::from_rs(server[&p.0], CLIENT) };
                    cut(&udp_frame(&l3, 53, CPORT + p.0, b, true), p.2)
                })
                .collect();
            let ext = send_all(&mut d, (Nic::Int, Nic::Ext), &answers, &order);
            for ((p, b), answer) in plan.iter().zip(&bodies).zip(&answers) {
                let frags = of_id(&ext, 200 + p.0);
                prop_assert_eq!(frags.len(), answer.len(), "{:?}", counters(&d));
                check_udp(&whole(&frags, MTU), (VIP, 53), (CLIENT, CPORT + p.0), b);
            }
            let sum = |c: Ctr| d.workers.iter().map(|w| w.core.ctr.get(c)).sum::<u64>();
            let drops: u64 = d.workers.iter().map(|w| drop_sum(&w.core.ctr)).sum();
            prop_assert_eq!(drops, 0);
            prop_assert_eq!(sum(Ctr::FragHeld), sum(Ctr::FragReleased), "none left held");
            prop_assert_eq!(sum(Ctr::ConnNew), plan.len() as u64);
        }
    }
}

/// An IPv6 fragment the ring marks with a partial checksum is dropped, as
/// an IPv4 one (`pipeline`'s `a_fragment_with_a_partial_checksum_is_dropped`):
/// one fragment cannot complete its datagram's checksum.
#[test]
fn an_ipv6_fragment_with_a_partial_checksum_is_dropped() {
    let mut d = dns6();
    let req = frames6::udp(&l3_to_vip6(), &[], CPORT, 53, &data(3000), false);
    let frags = cut6(&req, 1232, 0xabcd_0002);
    let meta = |f: &[u8], partial| ringvs::io::RxMeta {
        wire_len: f.len() as u32,
        csum_partial: partial,
        csum_valid: false,
        vlan: None,
    };
    d.w().rx[Nic::Ext].push_with(&frags[0], meta(&frags[0], true));
    let (e, i) = d.poll_take();
    assert!(e.is_empty() && i.is_empty());
    assert_eq!(d.ctr(Ctr::DropFragment), 1);
    assert_eq!(d.ctr(Ctr::FragHeld), 0, "it took no place");
    d.w().rx[Nic::Ext].push_with(&frags[0], meta(&frags[0], false));
    assert_eq!(d.poll_take().1.len(), 1, "whole, it goes on");
    assert_eq!(d.ctr(Ctr::DropFragment), 1);
}
