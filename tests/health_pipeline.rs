//! Health-check hooks in the worker, on the in-memory backend: replies to the
//! DIP's check ports are diverted (and only those), and handshakes that die mark
//! their real server suspect.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod inmem;

use inmem::*;
use ringvs::config::Proto;
use ringvs::stats::Ctr;
use std::sync::atomic::Ordering;

/// A segment from RS1 to the DIP.
fn to_dip(sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    let mut l3 = L3::from_rs(RS1, DIP);
    l3.dst = DIP;
    tcp_frame(&l3, sport, dport, flags)
}

#[test]
fn check_replies_are_diverted_and_nothing_else() {
    let mut lab = MemDirector::standard();
    // Not connected: counted as dropped, never forwarded.
    let (ext, int) = lab.int(&to_dip(80, 61000, SYN | ACK));
    assert!(ext.is_empty() && int.is_empty());
    assert_eq!(lab.shared.health.dropped.load(Ordering::Relaxed), 1);
    let rx = lab.shared.health.connect().expect("connects once");
    for port in [61000, 61999] {
        let (ext, int) = lab.int(&to_dip(80, port, SYN | ACK));
        assert!(ext.is_empty() && int.is_empty());
    }
    assert_eq!(lab.shared.health.diverted.load(Ordering::Relaxed), 2);
    // Outside the range: the usual path (no connection: dropped).
    let before = lab.ctr(Ctr::DropNoConn);
    lab.int(&to_dip(80, 60999, SYN | ACK));
    lab.int(&to_dip(80, 62000, SYN | ACK));
    let mut l3 = L3::from_rs(RS1, DIP);
    l3.dst = DIP;
    lab.int(&udp_frame(&l3, 53, 62000, b"x", true));
    assert_eq!(lab.ctr(Ctr::DropNoConn), before + 3);
    assert_eq!(lab.shared.health.diverted.load(Ordering::Relaxed), 2);
    // UDP_CHECK's answer: a UDP datagram to a check port.
    let answer = udp_frame(&l3, 53, 61000, b"x", true);
    let (ext, int) = lab.int(&answer);
    assert!(ext.is_empty() && int.is_empty());
    while let Ok(p) = rx.rx.try_recv() {
        let _ = rx.pool_tx.try_send(p);
    }
    assert_eq!(lab.shared.health.diverted.load(Ordering::Relaxed), 3);
    drop(rx);
}

/// ICMP for the health checks (`PING_CHECK`, `UDP_CHECK`): an echo reply
/// to the DIP from the internal NIC, and a destination unreachable to it
/// about a UDP datagram from a check port, go to the health thread as they
/// came; the same errors about TCP or another port, and echo replies from
/// the external NIC, do not.
#[test]
fn check_icmp_is_diverted_and_nothing_else() {
    let mut lab = MemDirector::standard();
    let rx = lab.shared.health.connect().expect("connects once");
    let mut l3 = L3::from_rs(RS1, DIP);
    l3.dst = DIP;
    let echo = icmp_frame(&l3, 0, 0, [0xee, 0x48, 0, 1], &[7; 16]);
    let (ext, int) = lab.int(&echo);
    assert!(ext.is_empty() && int.is_empty());
    let got = rx.rx.try_recv().expect("echo reply diverted");
    assert_eq!(got.bytes(), &echo[14..], "the IPv4 packet as it came");
    // The check's datagram, quoted by the server's port unreachable.
    let mut from_dip = L3::from_rs(DIP, RS1);
    from_dip.src = DIP;
    from_dip.dst = RS1;
    let sent = udp_frame(&from_dip, 61007, 54, b"", true);
    let unreach = icmp_error(&l3, 3, 3, [0; 4], &sent, 8);
    lab.int(&unreach);
    let got = rx.rx.try_recv().expect("port unreachable diverted");
    assert_eq!(got.bytes(), &unreach[14..]);
    assert_eq!(lab.shared.health.diverted.load(Ordering::Relaxed), 2);
    // Not a check's: the usual path.
    let before = lab.ctr(Ctr::DropIcmpNoConn);
    let other_port = udp_frame(&from_dip, 60999, 54, b"", true);
    lab.int(&icmp_error(&l3, 3, 3, [0; 4], &other_port, 8));
    let tcp = tcp_frame(&from_dip, 61007, 80, SYN);
    lab.int(&icmp_error(&l3, 3, 3, [0; 4], &tcp, 8));
    assert_eq!(lab.ctr(Ctr::DropIcmpNoConn), before + 2);
    let mut outside = L3::to_vip();
    outside.dst = DIP;
    lab.ext(&icmp_frame(&outside, 0, 0, [0xee, 0x48, 0, 1], &[7; 16]));
    assert!(rx.rx.try_recv().is_err());
    assert_eq!(lab.shared.health.diverted.load(Ordering::Relaxed), 2);
}

#[test]
fn a_reset_or_a_repeated_syn_in_the_handshake_marks_the_server_suspect() {
    let mut lab = MemDirector::standard();
    let rs1 = lab.dest_id(Proto::Tcp, 80, RS1, 80);
    let rs2 = lab.dest_id(Proto::Tcp, 80, RS2, 80);
    let c = L3::to_vip();
    // An established connection reset later is no hint.
    lab.ext(&tcp_frame(&c, 40000, 80, SYN)); // rs1 (rr)
    lab.int(&tcp_frame(&L3::from_rs(RS1, CLIENT), 80, 40000, SYN | ACK));
    lab.ext(&tcp_frame(&c, 40000, 80, ACK));
    lab.int(&tcp_frame(&L3::from_rs(RS1, CLIENT), 80, 40000, RST | ACK));
    assert!(!lab.shared.health.take_suspect(rs1));
    // rs2 answers a SYN with RST.
    lab.ext(&tcp_frame(&c, 40001, 80, SYN)); // rs2
    lab.int(&tcp_frame(&L3::from_rs(RS2, CLIENT), 80, 40001, RST | ACK));
    assert!(lab.shared.health.take_suspect(rs2));
    assert!(!lab.shared.health.take_suspect(rs1));
    // The client sends its SYN again: no SYN-ACK came from rs1.
    let (_, int) = lab.ext(&tcp_frame(&c, 40002, 80, SYN)); // rs1
    assert_eq!(int.len(), 1);
    assert!(
        !lab.shared.health.take_suspect(rs1),
        "a first SYN is no hint"
    );
    lab.ext(&tcp_frame(&c, 40002, 80, SYN));
    assert!(lab.shared.health.take_suspect(rs1));
    assert!(!lab.shared.health.take_suspect(rs2));
}

/// The IPv6 data path hands check replies to the IPv6 DIP over: TCP and UDP
/// to the DIP6 on ports 61000–61999, echo replies, and port unreachables
/// about a check's datagram, the IPv6 packet as it came (from its header
/// on); other ports stay apart.
#[test]
fn ipv6_check_replies_are_diverted_and_nothing_else() {
    let mut lab = MemDirector::dual_stack(STANDARD6);
    lab.resolve6(ringvs::Nic::Int, RS1_6, RS1_MAC);
    let rx = lab.shared.health.connect().expect("connects once");
    let l = l3_from_rs6(RS1_6, DIP6);
    let reply = frames6::tcp(&l, &[], 80, 61000, SYN | ACK, b"");
    let (ext, int) = lab.int(&reply);
    assert!(ext.is_empty() && int.is_empty());
    let got = rx.rx.try_recv().expect("diverted");
    assert_eq!(got.bytes(), &reply[14..], "the IPv6 packet as it came");
    let via_ext = frames6::tcp(&l, &[frames6::Ext::DestOpts], 80, 61999, ACK, b"x");
    lab.int(&via_ext);
    let got = rx
        .rx
        .try_recv()
        .expect("diverted after an extension header");
    assert_eq!(got.bytes(), &via_ext[14..]);
    assert_eq!(lab.shared.health.diverted.load(Ordering::Relaxed), 2);
    let before = lab.ctr(Ctr::DropNoConn);
    lab.int(&frames6::tcp(&l, &[], 80, 62000, SYN | ACK, b""));
    lab.int(&frames6::udp(&l, &[], 53, 60999, b"x", false));
    assert!(rx.rx.try_recv().is_err());
    assert_eq!(lab.shared.health.diverted.load(Ordering::Relaxed), 2);
    assert_eq!(lab.ctr(Ctr::DropNoConn), before + 2, "the usual path");
    // UDP_CHECK's answer, PING_CHECK's echo reply, and a port unreachable
    // about a check's datagram; not one about another port.
    let answer = frames6::udp(&l, &[], 53, 61000, b"x", false);
    let echo = frames6::icmp6(&l, 129, 0, &[0xee, 0x48, 0, 1, 7, 7]);
    let from_dip = frames6::L3 {
        src: DIP6,
        dst: RS1_6,
        ..l3_from_rs6(RS1_6, DIP6)
    };
    let sent = frames6::udp(&from_dip, &[], 61007, 54, b"", false);
    let mut body = vec![0; 4];
    body.extend_from_slice(&sent[14..]);
    let unreach = frames6::icmp6(&l, 1, 4, &body);
    for f in [&answer, &echo, &unreach] {
        let (ext, int) = lab.int(f);
        assert!(ext.is_empty() && int.is_empty());
        let got = rx.rx.try_recv().expect("diverted");
        assert_eq!(got.bytes(), &f[14..]);
        let _ = rx.pool_tx.try_send(got);
    }
    let other = frames6::udp(&from_dip, &[], 60999, 54, b"", false);
    let mut body = vec![0; 4];
    body.extend_from_slice(&other[14..]);
    let before = lab.ctr(Ctr::DropIcmpNoConn);
    lab.int(&frames6::icmp6(&l, 1, 4, &body));
    assert!(rx.rx.try_recv().is_err());
    assert_eq!(lab.ctr(Ctr::DropIcmpNoConn), before + 1);
    assert_eq!(lab.shared.health.diverted.load(Ordering::Relaxed), 5);
}
