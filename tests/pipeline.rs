//! Pipeline tests: frames built with `pnet` go into a worker on the in-memory
//! backend; what comes out is parsed and checksum-verified with `smoltcp::wire`,
//! and every frame that does not come out is looked for under its drop counter.

mod inmem;

use inmem::*;
use ringvs::Nic;
use ringvs::config::Proto;
use ringvs::config::format::format_list_numeric as format_list;
use ringvs::dataplane::tx::PENDING_MAX_AGE;
use ringvs::io::RxMeta;
use ringvs::io::fanout::owner;
use ringvs::nat::State;
use ringvs::neigh::{NeighEvent, NeighTable, Probe};
use ringvs::stats::Ctr;
use smoltcp::wire::{ArpOperation, ArpPacket, EthernetFrame, Icmpv4Packet};
use std::sync::atomic::Ordering;
use std::time::Duration;

const RR_8080: &[&str] = &[
    "-A -t 198.18.0.110:80 -s rr",
    "-a -t 198.18.0.110:80 -r 198.19.0.3:8080 -m",
    "-a -t 198.18.0.110:80 -r 198.19.0.2:8080 -m",
];

const UDP_53: &[&str] = &[
    "-A -u 198.18.0.110:53 -s rr",
    "-a -u 198.18.0.110:53 -r 198.19.0.2:5353 -m",
];

fn lab_with(rules: &[&str]) -> MemDirector {
    let mut lab = MemDirector::new(rules);
    lab.resolve_all();
    lab
}

fn one(frames: Vec<Vec<u8>>) -> Vec<u8> {
    assert_eq!(frames.len(), 1, "expected exactly one frame");
    frames.into_iter().next().expect("one frame")
}

fn state_gauge(lab: &MemDirector, s: State) -> u64 {
    lab.published[0].states[s as usize].load(Ordering::Relaxed)
}

/// Columns (ActiveConn, InActConn) of a real server in the `-L -n` listing.
fn listed(lab: &MemDirector, rs: &str) -> (u32, u32) {
    let text = format_list(&lab.cfg, None, &|d| lab.published[0].gauges.get(d));
    let line = text
        .lines()
        .find(|l| l.contains(&format!("-> {rs} ")))
        .unwrap_or_else(|| panic!("{rs} not listed in\n{text}"));
    let cols: Vec<&str> = line.split_whitespace().collect();
    (
        cols[4].parse().expect("active"),
        cols[5].parse().expect("inactive"),
    )
}

/// Client → VIP:80 through the director; checks the DNAT and returns the frame
/// as the real server got it.
fn client_to_rs(lab: &mut MemDirector, frame: &[u8]) -> Parsed {
    let (ext, int) = lab.ext(frame);
    assert!(ext.is_empty(), "nothing back on ext");
    parse_ip(&one(int))
}

fn rs_to_client(lab: &mut MemDirector, frame: &[u8]) -> Parsed {
    let (ext, int) = lab.ext_or_int(Nic::Int, frame);
    assert!(int.is_empty(), "nothing back on int");
    parse_ip(&one(ext))
}

trait Push {
    fn ext_or_int(&mut self, nic: Nic, frame: &[u8]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>);
}

impl Push for MemDirector {
    fn ext_or_int(&mut self, nic: Nic, frame: &[u8]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        match nic {
            Nic::Ext => self.ext(frame),
            Nic::Int => self.int(frame),
        }
    }
}

// ---------------------------------------------------------------------------
// 1. TCP
// ---------------------------------------------------------------------------

#[test]
fn tcp_syn_is_dnatted_to_a_real_server() {
    let mut lab = MemDirector::standard();
    let syn = tcp_seg(&L3::to_vip(), 40000, 80, SYN, 7777, 0, &[]);
    let p = client_to_rs(&mut lab, &syn);
    assert_eq!(p.dst, RS1);
    assert_eq!(p.src, CLIENT, "client address kept (NAT, not full proxy)");
    assert_eq!((p.sport, p.dport), (40000, 80));
    assert_eq!(p.src_mac, INT_MAC);
    assert_eq!(p.dst_mac, RS1_MAC);
    assert_eq!(p.ttl, 63);
    assert_eq!(p.flags, SYN);
    assert_eq!(p.seq, 7777);
    assert_eq!(p.ident, 0x1234, "IP id untouched");
    assert_eq!(lab.ctr(Ctr::FwdIn), 1);
    assert_eq!(lab.ctr(Ctr::ConnNew), 1);
    assert_eq!(lab.ctr(Ctr::TxInt), 1);
    assert_eq!(lab.published_ctr(Ctr::TxInt), 1, "counters published");
    assert_eq!(lab.w().core.state_count(State::SynRecv), 1);
}

#[test]
fn tcp_port_mapping_both_ways() {
    let mut lab = lab_with(RR_8080);
    let p = client_to_rs(&mut lab, &tcp_frame(&L3::to_vip(), 40000, 80, SYN));
    assert_eq!((p.dst, p.dport, p.sport), (RS1, 8080, 40000));
    let synack = tcp_seg(
        &L3::from_rs(RS1, CLIENT),
        8080,
        40000,
        SYN | ACK,
        9000,
        7778,
        &[],
    );
    let q = rs_to_client(&mut lab, &synack);
    assert_eq!((q.src, q.sport), (VIP, 80));
    assert_eq!((q.dst, q.dport), (CLIENT, 40000));
    assert_eq!(q.src_mac, EXT_MAC);
    assert_eq!(q.dst_mac, CLIENT_MAC);
    assert_eq!((q.seq, q.ack, q.flags), (9000, 7778, SYN | ACK));
    assert_eq!(q.ttl, 63);
}

#[test]
fn tcp_connection_lifecycle_states_gauges_and_data() {
    let mut lab = MemDirector::standard();
    let rs1 = lab.dest_id(Proto::Tcp, 80, RS1, 80);
    let c = L3::to_vip();
    let s = L3::from_rs(RS1, CLIENT);

    client_to_rs(&mut lab, &tcp_seg(&c, 40000, 80, SYN, 100, 0, &[]));
    assert_eq!(state_gauge(&lab, State::SynRecv), 1);
    // Active from the SYN on, as the kernel's `tcp_state_active_table`.
    assert_eq!(lab.published[0].gauges.get(rs1), (1, 0));

    // SYN-ACK from the real server goes back to the client from the VIP.
    let q = rs_to_client(&mut lab, &tcp_seg(&s, 80, 40000, SYN | ACK, 500, 101, &[]));
    assert_eq!((q.src, q.sport, q.dst, q.dport), (VIP, 80, CLIENT, 40000));
    assert_eq!(q.dst_mac, CLIENT_MAC);
    assert_eq!(lab.w().core.state_count(State::SynRecv), 1);

    // ACK: established, counted active in the gauges and the listing.
    client_to_rs(&mut lab, &tcp_seg(&c, 40000, 80, ACK, 101, 501, &[]));
    assert_eq!(lab.w().core.state_count(State::Established), 1);
    assert_eq!(state_gauge(&lab, State::Established), 1);
    assert_eq!(state_gauge(&lab, State::SynRecv), 0);
    assert_eq!(lab.published[0].gauges.get(rs1), (1, 0));
    assert_eq!(listed(&lab, "198.19.0.2:80"), (1, 0));
    assert_eq!(listed(&lab, "198.19.0.3:80"), (0, 0));

    // Data both ways, payload and sequence numbers untouched.
    let req = b"GET / HTTP/1.0\r\nHost: vip\r\n\r\n";
    let p = client_to_rs(&mut lab, &tcp_seg(&c, 40000, 80, PSH | ACK, 101, 501, req));
    assert_eq!(p.payload, req);
    assert_eq!((p.seq, p.ack), (101, 501));
    assert_eq!(p.dst, RS1);
    let body: Vec<u8> = (0..1200u32).map(|i| (i * 7 % 251) as u8).collect();
    let q = rs_to_client(
        &mut lab,
        &tcp_seg(&s, 80, 40000, PSH | ACK, 501, 130, &body),
    );
    assert_eq!(q.payload, body);
    assert_eq!(q.src, VIP);

    // Close: client FIN, server FIN, client ACK.
    client_to_rs(&mut lab, &tcp_seg(&c, 40000, 80, FIN | ACK, 130, 1701, &[]));
    assert_eq!(lab.w().core.state_count(State::CloseWait), 1);
    rs_to_client(&mut lab, &tcp_seg(&s, 80, 40000, FIN | ACK, 1701, 131, &[]));
    client_to_rs(&mut lab, &tcp_seg(&c, 40000, 80, ACK, 131, 1702, &[]));
    assert_eq!(lab.w().core.state_count(State::TimeWait), 1);
    assert_eq!(state_gauge(&lab, State::TimeWait), 1);
    assert_eq!(lab.published[0].gauges.get(rs1), (0, 1));
    assert_eq!(listed(&lab, "198.19.0.2:80"), (0, 1));
    assert_eq!(lab.ctr(Ctr::FwdIn), 5);
    assert_eq!(lab.ctr(Ctr::FwdOut), 3);
    assert_eq!(lab.ctr(Ctr::ConnNew), 1);
    assert_eq!(
        drop_sum(&lab.w().core.ctr),
        0,
        "{:?}",
        drops(&lab.w().core.ctr)
    );
}

#[test]
fn tcp_rst_closes() {
    let mut lab = MemDirector::standard();
    let rs1 = lab.dest_id(Proto::Tcp, 80, RS1, 80);
    let c = L3::to_vip();
    client_to_rs(&mut lab, &tcp_frame(&c, 40000, 80, SYN));
    rs_to_client(
        &mut lab,
        &tcp_frame(&L3::from_rs(RS1, CLIENT), 80, 40000, SYN | ACK),
    );
    client_to_rs(&mut lab, &tcp_frame(&c, 40000, 80, ACK));
    assert_eq!(lab.published[0].gauges.get(rs1), (1, 0));
    let p = client_to_rs(&mut lab, &tcp_frame(&c, 40000, 80, RST | ACK));
    assert_eq!(p.flags, RST | ACK);
    assert_eq!(lab.w().core.state_count(State::Close), 1);
    assert_eq!(state_gauge(&lab, State::Close), 1);
    assert_eq!(lab.published[0].gauges.get(rs1), (0, 1));

    // A reset from the server side closes too.
    client_to_rs(&mut lab, &tcp_frame(&c, 40001, 80, SYN));
    rs_to_client(
        &mut lab,
        &tcp_frame(&L3::from_rs(RS2, CLIENT), 80, 40001, RST | ACK),
    );
    assert_eq!(lab.w().core.state_count(State::Close), 2);
}

#[test]
fn rr_alternates_between_real_servers() {
    let mut lab = MemDirector::standard();
    let mut got = vec![];
    for port in 40000..40006 {
        got.push(client_to_rs(&mut lab, &tcp_frame(&L3::to_vip(), port, 80, SYN)).dst);
    }
    assert_eq!(got, [RS1, RS2, RS1, RS2, RS1, RS2]);
    // A retransmitted SYN of the first connection stays with its real server.
    let p = client_to_rs(&mut lab, &tcp_frame(&L3::to_vip(), 40000, 80, SYN));
    assert_eq!(p.dst, RS1);
    assert_eq!(lab.ctr(Ctr::ConnNew), 6);
    // Replies come from the right server for each connection.
    let q = rs_to_client(
        &mut lab,
        &tcp_frame(&L3::from_rs(RS2, CLIENT), 80, 40001, SYN | ACK),
    );
    assert_eq!((q.src, q.dport), (VIP, 40001));
    // ... and the other server cannot answer for it.
    let (e, i) = lab.int(&tcp_frame(&L3::from_rs(RS1, CLIENT), 80, 40001, SYN | ACK));
    assert!(e.is_empty() && i.is_empty());
    assert_eq!(lab.ctr(Ctr::DropNoConn), 1);
}

#[test]
fn wrr_3_to_1_over_40_connections() {
    let mut lab = lab_with(&[
        "-A -t 198.18.0.110:80 -s wrr",
        "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m -w 3",
        "-a -t 198.18.0.110:80 -r 198.19.0.3:80 -m -w 1",
    ]);
    let (mut a, mut b) = (0, 0);
    let mut window = vec![];
    for port in 0..40 {
        let p = client_to_rs(&mut lab, &tcp_frame(&L3::to_vip(), 41000 + port, 80, SYN));
        window.push(p.dst);
        if p.dst == RS1 {
            a += 1;
        } else {
            assert_eq!(p.dst, RS2);
            b += 1;
        }
    }
    assert_eq!((a, b), (30, 10));
    // Every cycle of four has exactly one RS2.
    for w in window.chunks(4) {
        assert_eq!(w.iter().filter(|&&d| d == RS2).count(), 1, "{window:?}");
    }
}

/// A changed configuration applies to new connections; an existing one keeps
/// its server while the server stays in the service (here quiesced: weight 0 is
/// still available in IPVS). Removing the service removes its servers: their
/// connections' client packets are dropped, as IPVS's `__ip_vs_del_service`
/// unlinks every server (`ip_vs_ctl.c`) and `ip_vs_in_hook` then drops. (Before
/// issue 11 this test let them flow on.)
#[test]
fn config_change_keeps_existing_connections_on_their_server() {
    let mut lab = MemDirector::standard();
    client_to_rs(&mut lab, &tcp_frame(&L3::to_vip(), 40000, 80, SYN));
    lab.reconfigure(&[
        "-A -t 198.18.0.110:80 -s rr",
        "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m -w 0",
        "-a -t 198.18.0.110:80 -r 198.19.0.3:80 -m",
    ]);
    let p = client_to_rs(&mut lab, &tcp_frame(&L3::to_vip(), 40000, 80, ACK));
    assert_eq!(p.dst, RS1, "existing connection keeps RS1");
    let p = client_to_rs(&mut lab, &tcp_frame(&L3::to_vip(), 40001, 80, SYN));
    assert_eq!(p.dst, RS2, "new connection uses the new config");
    // Removing the service: no new connection, and the old ones' servers are
    // gone with it.
    lab.reconfigure(&[]);
    let (e, i) = lab.ext(&tcp_frame(&L3::to_vip(), 40002, 80, SYN));
    assert!(e.is_empty() && i.is_empty());
    assert_eq!(lab.ctr(Ctr::DropNoService), 1);
    let (e, i) = lab.ext(&tcp_frame(&L3::to_vip(), 40001, 80, ACK));
    assert!(e.is_empty() && i.is_empty());
    assert_eq!(lab.ctr(Ctr::DropNoDestConn), 1);
}

// ---------------------------------------------------------------------------
// 2. Checksums: partial (CHECKSUM_PARTIAL) and complete
// ---------------------------------------------------------------------------

fn partial_meta(frame: &[u8]) -> RxMeta {
    RxMeta {
        wire_len: frame.len() as u32,
        csum_partial: true,
        csum_valid: false,
        vlan: None,
    }
}

/// A segment with a wrong TCP checksum is dropped, unless the ring says it
/// verified the checksum already (`TP_STATUS_CSUM_VALID`): then the worker
/// does not sum it again, and forwards it with the checksum patched as it came.
#[test]
fn ring_verified_checksum_is_not_summed_again() {
    let mut lab = lab_with(RR_8080);
    let c = L3::to_vip();
    let mut syn = tcp_seg(&c, 40000, 80, SYN, 1, 0, &[]);
    // Damage the TCP checksum (Ethernet 14 + IPv4 20 + offset 16).
    syn[14 + 20 + 16] ^= 0x5a;
    let plain = RxMeta {
        wire_len: syn.len() as u32,
        ..RxMeta::default()
    };
    lab.w().rx[Nic::Ext].push_with(&syn, plain);
    let (e, i) = lab.poll_take();
    assert!(e.is_empty() && i.is_empty());
    assert_eq!(lab.ctr(Ctr::DropL4Checksum), 1);
    assert_eq!(lab.ctr(Ctr::ConnNew), 0);

    let verified = RxMeta {
        csum_valid: true,
        ..plain
    };
    lab.w().rx[Nic::Ext].push_with(&syn, verified);
    let (e, i) = lab.poll_take();
    assert!(e.is_empty());
    let out = one(i);
    assert!(try_parse_ip(&out).is_err(), "still damaged, as it came");
    assert_eq!(lab.ctr(Ctr::DropL4Checksum), 1);
    assert_eq!(lab.ctr(Ctr::ConnNew), 1);
}

/// A priority-tagged frame (802.1Q with VLAN id 0: 802.1p priority only)
/// is served as an untagged one: the kernel's `__netif_receive_skb_core`
/// (net/core/dev.c) clears such a tag and hands the frame to IP, so IPVS
/// serves the client. The SYN goes to a real server, the reply comes back
/// to the client untagged (as the host's IP stack would send it), and the
/// next segment, tagged again, follows the connection; a tag naming a
/// VLAN is still dropped.
#[test]
fn a_priority_tagged_client_is_served() {
    let mut lab = lab_with(RR_8080);
    let c = L3::to_vip();
    let tagged = |frame: &[u8], tci| RxMeta {
        wire_len: frame.len() as u32,
        vlan: Some(ringvs::io::VlanTag { tpid: 0x8100, tci }),
        ..RxMeta::default()
    };
    let syn = tcp_seg(&c, 40000, 80, SYN, 1, 0, &[]);
    // Priority 3, VLAN id 0.
    lab.w().rx[Nic::Ext].push_with(&syn, tagged(&syn, 0x6000));
    let (e, i) = lab.poll_take();
    assert!(e.is_empty());
    let p = parse_ip(&one(i));
    assert_eq!((p.dst, p.dport), (RS1, 8080));
    assert_eq!(lab.ctr(Ctr::ConnNew), 1);
    assert_eq!(lab.ctr(Ctr::DropVlan), 0);

    let rep = tcp_seg(&L3::from_rs(RS1, CLIENT), 8080, 40000, SYN | ACK, 1, 2, &[]);
    lab.w().rx[Nic::Int].push(&rep);
    let (e, i) = lab.poll_take();
    assert!(i.is_empty());
    let back = one(e);
    assert_eq!(&back[12..14], &[0x08, 0x00], "untagged IPv4");
    let p = parse_ip(&back);
    assert_eq!((p.src, p.sport, p.dst, p.dport), (VIP, 80, CLIENT, 40000));

    let ack = tcp_seg(&c, 40000, 80, ACK, 2, 2, b"GET /");
    lab.w().rx[Nic::Ext].push_with(&ack, tagged(&ack, 0xe000));
    let (_, i) = lab.poll_take();
    assert_eq!(parse_ip(&one(i)).payload, b"GET /");

    // VLAN 100, priority 3: not ours.
    let other = tcp_seg(&c, 40001, 80, SYN, 1, 0, &[]);
    lab.w().rx[Nic::Ext].push_with(&other, tagged(&other, 0x6064));
    let (e, i) = lab.poll_take();
    assert!(e.is_empty() && i.is_empty());
    assert_eq!(lab.ctr(Ctr::DropVlan), 1);
    assert_eq!(lab.ctr(Ctr::ConnNew), 1);
}

#[test]
fn partial_tcp_checksum_is_completed_both_ways() {
    let mut lab = lab_with(RR_8080);
    let c = L3::to_vip();
    let mut syn = tcp_seg(&c, 40000, 80, SYN, 1, 0, &[]);
    make_partial(&mut syn);
    // The input really is not a complete checksum (else this tests nothing).
    assert!(try_parse_ip(&syn).is_err(), "partial input must not verify");
    lab.w().rx[Nic::Ext].push_with(&syn, partial_meta(&syn));
    let (e, i) = lab.poll_take();
    assert!(e.is_empty());
    let p = parse_ip(&one(i)); // verifies the TCP checksum
    assert_eq!((p.dst, p.dport), (RS1, 8080));
    assert_eq!(lab.ctr(Ctr::RxCsumPartial), 1);

    // Data with a payload of odd length, partial, from the client ...
    let data: Vec<u8> = (0..333u32).map(|i| (i * 13) as u8).collect();
    let mut seg = tcp_seg(&c, 40000, 80, PSH | ACK, 2, 1, &data);
    make_partial(&mut seg);
    lab.w().rx[Nic::Ext].push_with(&seg, partial_meta(&seg));
    let (_, i) = lab.poll_take();
    assert_eq!(parse_ip(&one(i)).payload, data);

    // ... and from the real server (a local sender on a veth).
    let mut rep = tcp_seg(
        &L3::from_rs(RS1, CLIENT),
        8080,
        40000,
        PSH | ACK,
        1,
        335,
        &data,
    );
    make_partial(&mut rep);
    lab.w().rx[Nic::Int].push_with(&rep, partial_meta(&rep));
    let (e, _) = lab.poll_take();
    let q = parse_ip(&one(e));
    assert_eq!((q.src, q.sport), (VIP, 80));
    assert_eq!(q.payload, data);
    assert_eq!(lab.ctr(Ctr::RxCsumPartial), 3);
}

#[test]
fn partial_udp_checksum_is_completed() {
    let mut lab = lab_with(UDP_53);
    let mut q = udp_frame(&L3::to_vip(), 5000, 53, b"\x12\x34 query", true);
    make_partial(&mut q);
    lab.w().rx[Nic::Ext].push_with(&q, partial_meta(&q));
    let (_, i) = lab.poll_take();
    let p = parse_ip(&one(i));
    assert_ne!(p.l4_csum, 0, "a real checksum, not 'none'");
    assert_eq!((p.dst, p.dport), (RS1, 5353));
    let mut r = udp_frame(&L3::from_rs(RS1, CLIENT), 5353, 5000, b"answer!", true);
    make_partial(&mut r);
    lab.w().rx[Nic::Int].push_with(&r, partial_meta(&r));
    let (e, _) = lab.poll_take();
    let p = parse_ip(&one(e));
    assert_ne!(p.l4_csum, 0);
    assert_eq!((p.src, p.sport), (VIP, 53));
}

#[test]
fn complete_checksums_stay_valid_over_many_tuples() {
    // The incremental (RFC 1624) path, over ports and payloads that hit the
    // checksum's edge values.
    let mut lab = lab_with(RR_8080);
    for port in (1024u16..65535).step_by(997) {
        for fill in [0x00u8, 0xff, 0x5a] {
            let data = vec![fill; usize::from(port % 7)];
            let p = client_to_rs(
                &mut lab,
                &tcp_seg(&L3::to_vip(), port, 80, SYN, u32::from(port), 0, &data),
            );
            let rs = p.dst;
            let q = rs_to_client(
                &mut lab,
                &tcp_seg(
                    &L3::from_rs(rs, CLIENT),
                    8080,
                    port,
                    ACK,
                    0xffff_0000,
                    1,
                    &data,
                ),
            );
            assert_eq!((q.src, q.sport, q.dport), (VIP, 80, port));
        }
    }
}

// ---------------------------------------------------------------------------
// 3. UDP
// ---------------------------------------------------------------------------

#[test]
fn udp_forwarded_and_reply_translated() {
    let mut lab = lab_with(UDP_53);
    let p = client_to_rs(
        &mut lab,
        &udp_frame(&L3::to_vip(), 5000, 53, b"query", true),
    );
    assert_eq!((p.src, p.sport, p.dst, p.dport), (CLIENT, 5000, RS1, 5353));
    assert_eq!(
        (p.dst_mac, p.ttl, p.payload.as_slice()),
        (RS1_MAC, 63, &b"query"[..])
    );
    assert_ne!(p.l4_csum, 0);
    assert_eq!(lab.w().core.state_count(State::Udp), 1);
    let q = rs_to_client(
        &mut lab,
        &udp_frame(&L3::from_rs(RS1, CLIENT), 5353, 5000, b"answer", true),
    );
    assert_eq!((q.src, q.sport, q.dst, q.dport), (VIP, 53, CLIENT, 5000));
    assert_eq!(q.payload, b"answer");
    assert_ne!(q.l4_csum, 0);
}

#[test]
fn udp_checksum_zero_stays_zero() {
    let mut lab = lab_with(UDP_53);
    let p = client_to_rs(
        &mut lab,
        &udp_frame(&L3::to_vip(), 5000, 53, b"no csum", false),
    );
    assert_eq!(p.l4_csum, 0);
    assert_eq!(p.dport, 5353);
    let q = rs_to_client(
        &mut lab,
        &udp_frame(&L3::from_rs(RS1, CLIENT), 5353, 5000, b"none", false),
    );
    assert_eq!(q.l4_csum, 0);
    assert_eq!(q.sport, 53);
}

/// `text` (of even length) and two bytes more, chosen so that a UDP
/// datagram from `l3`'s source port `sport` to its destination port `dport`
/// carrying it has a checksum that computes to exactly 0: the two bytes are
/// the checksum the datagram has with them 0, and adding a word's
/// complement to a ones' complement sum brings it to all ones.
fn zero_sum_payload(l3: &L3, sport: u16, dport: u16, text: &[u8]) -> Vec<u8> {
    assert_eq!(text.len() % 2, 0, "the two bytes at an even offset");
    let mut data = [text, &[0, 0]].concat();
    let f = udp_frame(l3, sport, dport, &data, true);
    let n = data.len();
    data[n - 2..].copy_from_slice(&f[40..42]);
    data
}

/// A checksum that computes to 0 after the rewrite is sent as 0xffff, in
/// both directions: 0 in a UDP checksum field means "none" (RFC 768), as
/// IPVS's `udp_fast_csum_update` (`ip_vs_proto_udp.c`) turns it into
/// `CSUM_MANGLED_0`. smoltcp's `verify_checksum` (`parse_ip`) accepts a 0
/// field, so the field itself is what is checked.
#[test]
fn udp_checksum_computing_to_zero_after_the_rewrite_is_sent_as_all_ones() {
    let mut lab = lab_with(UDP_53);
    let rs_side = L3 {
        dst: RS1,
        ..L3::to_vip()
    };
    let data = zero_sum_payload(&rs_side, 5000, 5353, b"zero sum");
    let q = udp_frame(&L3::to_vip(), 5000, 53, &data, true);
    assert_ne!(&q[40..42], &[0, 0], "the client's datagram has a checksum");
    let p = client_to_rs(&mut lab, &q);
    assert_eq!(
        (p.dst, p.dport, p.payload.as_slice()),
        (RS1, 5353, &data[..])
    );
    assert_eq!(p.l4_csum, 0xffff, "DNAT: computed 0, sent as 0xffff");

    let data = zero_sum_payload(&L3::vip_to_client(), 53, 5000, b"answer");
    let r = udp_frame(&L3::from_rs(RS1, CLIENT), 5353, 5000, &data, true);
    assert_ne!(&r[40..42], &[0, 0], "the server's datagram has a checksum");
    let a = rs_to_client(&mut lab, &r);
    assert_eq!((a.src, a.sport, a.payload.as_slice()), (VIP, 53, &data[..]));
    assert_eq!(a.l4_csum, 0xffff, "SNAT: computed 0, sent as 0xffff");
}

#[test]
fn ethernet_padding_is_not_forwarded_as_payload() {
    let mut lab = lab_with(UDP_53);
    let mut f = udp_frame(&L3::to_vip(), 5000, 53, b"x", true);
    assert!(f.len() < 60);
    f.resize(60, 0xee);
    let p = client_to_rs(&mut lab, &f); // parse_ip checks length == IP total length
    assert_eq!(p.payload, b"x");
}

// ---------------------------------------------------------------------------
// 4. ICMP echo
// ---------------------------------------------------------------------------

fn check_echo_reply(
    out: &[u8],
    from: std::net::Ipv4Addr,
    to: std::net::Ipv4Addr,
    mac: [u8; 6],
    to_mac: [u8; 6],
) {
    let p = parse_ip(out); // IPv4 and ICMP checksums
    assert_eq!((p.src, p.dst), (from, to));
    assert_eq!((p.src_mac, p.dst_mac), (mac, to_mac));
    let icmp = Icmpv4Packet::new_checked(&p.l4[..]).expect("icmp");
    assert_eq!((u8::from(icmp.msg_type()), icmp.msg_code()), (0, 0));
    assert_eq!(icmp.echo_ident(), 0xbeef);
    assert_eq!(icmp.echo_seq_no(), 7);
    assert_eq!(icmp.data(), b"ping payload 0123456789");
    assert!(p.ttl > 1);
}

#[test]
fn echo_to_vip_ext_addr_and_dip_is_answered() {
    let mut lab = MemDirector::standard();
    let data = b"ping payload 0123456789";
    let (e, i) = lab.ext(&echo_request(&L3::to_vip(), 0xbeef, 7, data));
    assert!(i.is_empty());
    check_echo_reply(&one(e), VIP, CLIENT, EXT_MAC, CLIENT_MAC);

    let mut l3 = L3::to_vip();
    l3.dst = EXT_ADDR;
    let (e, _) = lab.ext(&echo_request(&l3, 0xbeef, 7, data));
    check_echo_reply(&one(e), EXT_ADDR, CLIENT, EXT_MAC, CLIENT_MAC);

    let mut l3 = L3::from_rs(RS1, DIP);
    l3.ttl = 1; // an echo to us is not forwarded: TTL 1 is fine
    let (e, i) = lab.int(&echo_request(&l3, 0xbeef, 7, data));
    assert!(e.is_empty());
    check_echo_reply(&one(i), DIP, RS1, INT_MAC, RS1_MAC);
    assert_eq!(lab.ctr(Ctr::IcmpEchoReply), 3);
}

#[test]
fn echo_to_other_addresses_is_dropped() {
    let mut lab = MemDirector::standard();
    let mut l3 = L3::to_vip();
    l3.dst = NOT_OURS;
    let (e, i) = lab.ext(&echo_request(&l3, 1, 1, b"x"));
    assert!(e.is_empty() && i.is_empty());
    assert_eq!(lab.ctr(Ctr::DropNoService), 1);
    // The DIP is not answered on the external side, nor the VIP inside.
    l3.dst = DIP;
    let (e, i) = lab.ext(&echo_request(&l3, 1, 1, b"x"));
    assert!(e.is_empty() && i.is_empty());
    let (e, i) = lab.int(&echo_request(&L3::from_rs(RS1, VIP), 1, 1, b"x"));
    assert!(e.is_empty() && i.is_empty());
    assert_eq!(lab.ctr(Ctr::DropNoService), 3);
    assert_eq!(lab.ctr(Ctr::IcmpEchoReply), 0);
}

/// Echo requests to the VIP from sources the kernel drops as martians
/// before ICMP sees them (`ip_route_input_slow` in `net/ipv4/route.c`,
/// `__fib_validate_source` in `net/ipv4/fib_frontend.c`) go unanswered,
/// counted in `drop_bad_source`: "this network", loopback, multicast, the
/// limited broadcast address, our own addresses. 240/4 is not one.
#[test]
fn echo_from_martian_sources_is_not_answered() {
    let mut lab = MemDirector::standard();
    let martians = [
        std::net::Ipv4Addr::new(127, 0, 0, 1),
        std::net::Ipv4Addr::UNSPECIFIED,
        std::net::Ipv4Addr::new(0, 1, 2, 3),
        std::net::Ipv4Addr::new(224, 0, 0, 5),
        std::net::Ipv4Addr::BROADCAST,
        VIP,
        EXT_ADDR,
        DIP,
    ];
    for (n, src) in martians.into_iter().enumerate() {
        let l3 = L3 {
            src,
            ..L3::to_vip()
        };
        let (e, i) = lab.ext(&echo_request(&l3, 1, 1, b"x"));
        assert!(e.is_empty() && i.is_empty(), "answered {src}");
        assert_eq!(lab.ctr(Ctr::DropBadSource), n as u64 + 1, "{src}");
    }
    assert_eq!(lab.ctr(Ctr::IcmpEchoReply), 0);
    // To the DIP, from the loopback.
    let l3 = L3 {
        src: std::net::Ipv4Addr::new(127, 0, 0, 1),
        ..L3::from_rs(RS1, DIP)
    };
    let (e, i) = lab.int(&echo_request(&l3, 1, 1, b"x"));
    assert!(e.is_empty() && i.is_empty());
    assert_eq!(lab.ctr(Ctr::DropBadSource), martians.len() as u64 + 1);
    // A plain client still is.
    let (e, _) = lab.ext(&echo_request(&L3::to_vip(), 1, 1, b"x"));
    assert_eq!(e.len(), 1);
}

// ---------------------------------------------------------------------------
// 5. ICMP errors
// ---------------------------------------------------------------------------

#[test]
fn icmp_port_unreachable_from_real_server_reaches_client() {
    let mut lab = lab_with(UDP_53);
    let fwd = {
        lab.w().rx[Nic::Ext].push(&udp_frame(&L3::to_vip(), 5000, 53, b"query!", true));
        let (_, i) = lab.poll_take();
        one(i)
    };
    // The real server answers the datagram it got (CIP:5000 → RIP:5353).
    let err = icmp_error(&L3::from_rs(RS1, CLIENT), 3, 3, [0; 4], &fwd, 64);
    let (e, i) = lab.int(&err);
    assert!(i.is_empty());
    let p = parse_ip(&one(e)); // outer IPv4 + ICMP checksums
    assert_eq!((p.src, p.dst, p.ttl), (VIP, CLIENT, 63));
    assert_eq!((p.src_mac, p.dst_mac), (EXT_MAC, CLIENT_MAC));
    let icmp = Icmpv4Packet::new_checked(&p.l4[..]).expect("icmp");
    assert_eq!((u8::from(icmp.msg_type()), icmp.msg_code()), (3, 3));
    let q = parse_quoted(&p); // inner IPv4 checksum
    assert_eq!(
        (q.src, q.sport, q.dst, q.dport, q.proto),
        (CLIENT, 5000, VIP, 53, 17)
    );
    assert!(quoted_udp_ok(&q), "inner UDP checksum");
    assert_eq!(&q.l4[8..], b"query!");
    assert_eq!(lab.ctr(Ctr::IcmpErrorNat), 1);
    // The error counts as the connection's traffic from the real server.
    let rs1 = lab.dest_id(Proto::Udp, 53, RS1, 5353);
    let t = lab.published[0].dest_stats(rs1);
    assert_eq!((t.conns, t.inpkts, t.inbytes), (1, 1, 20 + 8 + 6));
    assert_eq!((t.outpkts, t.outbytes), (1, (err.len() - 14) as u64));
}

/// The datagram an ICMP error quotes is translated back with its checksum
/// too (a deliberate difference: IPVS's `ip_vs_nat_icmp` leaves it,
/// `docs/design.md`), and one that computes to 0 there is written 0xffff
/// (as the client sent it), not 0, which would read as "no checksum", as
/// netfilter's NAT writes the inner datagram's (`__udp_manip_pkt`,
/// `nf_nat_proto.c`).
#[test]
fn a_quoted_udp_checksum_computing_to_zero_is_restored_as_all_ones() {
    let mut lab = lab_with(UDP_53);
    let data = zero_sum_payload(&L3::to_vip(), 5000, 53, b"quoted!!");
    let mut q = udp_frame(&L3::to_vip(), 5000, 53, &data, true);
    // The client sends its computed 0 as 0xffff (pnet's sum leaves 0).
    assert_eq!(&q[40..42], &[0, 0]);
    q[40..42].copy_from_slice(&[0xff, 0xff]);
    let (e, i) = lab.ext(&q);
    assert!(e.is_empty());
    let fwd = one(i);
    assert_ne!(&fwd[40..42], &[0, 0], "the real server's copy has one");
    let err = icmp_error(&L3::from_rs(RS1, CLIENT), 3, 3, [0; 4], &fwd, 64);
    let (e, i) = lab.int(&err);
    assert!(i.is_empty());
    let quoted = parse_quoted(&parse_ip(&one(e)));
    assert_eq!((quoted.dst, quoted.dport), (VIP, 53));
    assert_eq!(quoted.l4, &q[34..], "the datagram as the client sent it");
    assert!(quoted_udp_ok(&quoted));
}

#[test]
fn icmp_error_quoting_8_bytes_of_tcp() {
    // Routers quote only 8 bytes of L4: no TCP checksum to fix inside.
    let mut lab = lab_with(RR_8080);
    let fwd = {
        lab.w().rx[Nic::Ext].push(&tcp_frame(&L3::to_vip(), 40000, 80, SYN));
        let (_, i) = lab.poll_take();
        one(i)
    };
    let err = icmp_error(&L3::from_rs(RS1, CLIENT), 11, 0, [0; 4], &fwd, 8);
    let (e, _) = lab.int(&err);
    let p = parse_ip(&one(e));
    let q = parse_quoted(&p);
    assert_eq!(
        (q.src, q.sport, q.dst, q.dport, q.proto),
        (CLIENT, 40000, VIP, 80, 6)
    );
    assert_eq!(q.l4.len(), 8);
}

/// A quote of only the 4 bytes of ports, or of a header with options, is
/// translated as `ip_vs_in_icmp` / `ip_vs_out_icmp` read it (the ports after
/// `ihl * 4`); a quote too short for its checksum keeps it as it is.
#[test]
fn icmp_error_quoting_4_bytes_or_ip_options() {
    let mut lab = lab_with(RR_8080);
    let fwd = {
        lab.w().rx[Nic::Ext].push(&tcp_frame(&L3::to_vip(), 40000, 80, SYN));
        let (_, i) = lab.poll_take();
        one(i)
    };
    let err = icmp_error(&L3::from_rs(RS1, CLIENT), 11, 0, [0; 4], &fwd, 4);
    let (e, _) = lab.int(&err);
    let q = parse_quoted(&parse_ip(&one(e)));
    assert_eq!(
        (q.src, q.sport, q.dst, q.dport, q.proto, q.l4.len()),
        (CLIENT, 40000, VIP, 80, 6, 4)
    );
    // The same packet as sent with a 4-byte option (NOP NOP NOP EOL), quoted
    // with 8 bytes of TCP.
    let ip = &fwd[14..];
    let mut opt = ip[..20].to_vec();
    opt[0] = 0x46;
    opt[2..4].copy_from_slice(&((ip.len() + 4) as u16).to_be_bytes());
    opt.extend_from_slice(&[1, 1, 1, 0]);
    opt.extend_from_slice(&ip[20..28]);
    opt[10..12].copy_from_slice(&[0, 0]);
    let c = pnet::packet::ipv4::checksum(&pnet::packet::ipv4::Ipv4Packet::new(&opt).expect("ip"));
    opt[10..12].copy_from_slice(&c.to_be_bytes());
    let err = icmp_frame(&L3::from_rs(RS1, CLIENT), 3, 3, [0; 4], &opt);
    let (e, _) = lab.int(&err);
    let p = parse_ip(&one(e));
    // Cut short: only its header is whole.
    let inner = smoltcp::wire::Ipv4Packet::new_unchecked(&p.payload[..]);
    assert_eq!(inner.header_len(), 24);
    assert!(inner.verify_checksum(), "quoted header checksum");
    assert_eq!((inner.src_addr(), inner.dst_addr()), (CLIENT, VIP));
    let l4 = &p.payload[24..];
    assert_eq!(l4[..4], [0x9c, 0x40, 0, 80], "ports 40000 → 80");
    assert_eq!(&p.payload[20..24], &[1, 1, 1, 0], "the options kept");
    assert_eq!(lab.ctr(Ctr::IcmpErrorNat), 2);
}

#[test]
fn icmp_frag_needed_from_client_side_reaches_real_server() {
    let mut lab = lab_with(RR_8080);
    client_to_rs(&mut lab, &tcp_frame(&L3::to_vip(), 40000, 80, SYN));
    // The segment as the client side saw it: VIP:80 → CIP:40000, full TCP header.
    let data = vec![0x42u8; 100];
    let out = {
        lab.w().rx[Nic::Int].push(&tcp_seg(
            &L3::from_rs(RS1, CLIENT),
            8080,
            40000,
            ACK | PSH,
            9,
            9,
            &data,
        ));
        let (e, _) = lab.poll_take();
        one(e)
    };
    // A router near the client reports frag-needed (MTU 1400) to the VIP.
    let mut l3 = L3::to_vip();
    l3.src = CLIENT; // the client itself here
    let err = icmp_error(&l3, 3, 4, [0, 0, 0x05, 0x78], &out, 20 + 100);
    let (e, i) = lab.ext(&err);
    assert!(e.is_empty());
    let p = parse_ip(&one(i));
    assert_eq!((p.src, p.dst, p.ttl), (CLIENT, RS1, 63));
    assert_eq!((p.src_mac, p.dst_mac), (INT_MAC, RS1_MAC));
    let icmp = Icmpv4Packet::new_checked(&p.l4[..]).expect("icmp");
    assert_eq!((u8::from(icmp.msg_type()), icmp.msg_code()), (3, 4));
    assert_eq!(&p.l4[4..8], &[0, 0, 0x05, 0x78], "next-hop MTU kept");
    let q = parse_quoted(&p);
    assert_eq!((q.src, q.sport, q.dst, q.dport), (RS1, 8080, CLIENT, 40000));
    assert!(quoted_tcp_ok(&q), "inner TCP checksum");
}

/// A time-exceeded from a router between the director and the real server: the
/// outer source is the router, not the RIP, and still becomes the VIP with a
/// valid header checksum.
#[test]
fn icmp_error_from_a_router_on_the_internal_side() {
    let mut lab = lab_with(UDP_53);
    let fwd = {
        lab.w().rx[Nic::Ext].push(&udp_frame(&L3::to_vip(), 5000, 53, b"query!", true));
        let (_, i) = lab.poll_take();
        one(i)
    };
    let mut l3 = L3::from_rs(RS1, CLIENT);
    l3.src = std::net::Ipv4Addr::new(198, 19, 0, 254);
    let err = icmp_error(&l3, 11, 0, [0; 4], &fwd, 64);
    let (e, _) = lab.int(&err);
    let p = parse_ip(&one(e));
    assert_eq!((p.src, p.dst), (VIP, CLIENT));
    let q = parse_quoted(&p);
    assert_eq!((q.src, q.sport, q.dst, q.dport), (CLIENT, 5000, VIP, 53));
    assert!(quoted_udp_ok(&q));
}

/// An ICMP error from a source the kernel drops as a martian in routing,
/// before either IPVS hook (`ip_route_input_slow` → `martian_source`,
/// `__fib_validate_source` for one of ours), is neither translated nor
/// passed on, `drop_bad_source`: from outside, a frag-needed from
/// 127.0.0.1 to the VIP about our segment; from inside, an error about
/// what the client sent from 0/8, the loopback or our own DIP. The same
/// errors from the client and the real server pass.
#[test]
fn icmp_errors_from_martian_sources_go_nowhere() {
    let mut lab = lab_with(RR_8080);
    // CIP:40000 → RS1:8080, as the real server got it.
    let fwd = {
        lab.w().rx[Nic::Ext].push(&tcp_frame(&L3::to_vip(), 40000, 80, SYN));
        let (_, i) = lab.poll_take();
        one(i)
    };
    // VIP:80 → CIP:40000, as the client's side saw it.
    let out = {
        let seg = tcp_seg(&L3::from_rs(RS1, CLIENT), 8080, 40000, ACK, 9, 9, b"y");
        lab.w().rx[Nic::Int].push(&seg);
        let (e, _) = lab.poll_take();
        one(e)
    };
    let too_big = |src| {
        let l3 = L3 {
            src,
            ..L3::to_vip()
        };
        icmp_error(&l3, 3, 4, [0, 0, 0x05, 0x78], &out, 28)
    };
    let (e, i) = lab.ext(&too_big(std::net::Ipv4Addr::new(127, 0, 0, 1)));
    assert!(e.is_empty() && i.is_empty(), "127.0.0.1's error passed on");
    assert_eq!(drops(&lab.w().core.ctr), [("drop_bad_source", 1)]);
    let martians = [
        std::net::Ipv4Addr::new(0, 1, 2, 3),
        std::net::Ipv4Addr::new(127, 0, 0, 1),
        DIP,
    ];
    for (n, src) in martians.into_iter().enumerate() {
        let l3 = L3 {
            src,
            ..L3::from_rs(RS1, CLIENT)
        };
        let (e, i) = lab.int(&icmp_error(&l3, 3, 3, [0; 4], &fwd, 28));
        assert!(e.is_empty() && i.is_empty(), "{src}'s error passed on");
        assert_eq!(lab.ctr(Ctr::DropBadSource), n as u64 + 2, "{src}");
    }
    assert_eq!(lab.ctr(Ctr::IcmpErrorNat), 0);
    let (e, i) = lab.ext(&too_big(CLIENT));
    assert_eq!((e.len(), parse_ip(&one(i)).src), (0, CLIENT));
    let (e, i) = lab.int(&icmp_error(
        &L3::from_rs(RS1, CLIENT),
        3,
        3,
        [0; 4],
        &fwd,
        28,
    ));
    assert_eq!((i.len(), parse_ip(&one(e)).src), (0, VIP));
    assert_eq!(lab.ctr(Ctr::IcmpErrorNat), 2);
    assert_eq!(lab.ctr(Ctr::DropBadSource), 4);
}

#[test]
fn icmp_error_about_unknown_connection_is_dropped() {
    let mut lab = lab_with(UDP_53);
    let never = udp_frame(
        &L3 {
            src: VIP,
            dst: CLIENT,
            ..L3::to_vip()
        },
        53,
        5999,
        b"?",
        true,
    );
    let fake = udp_frame(
        &L3 {
            dst: RS1,
            ..L3::to_vip()
        },
        5001,
        5353,
        b"q",
        true,
    );
    let err = icmp_error(&L3::from_rs(RS1, CLIENT), 3, 3, [0; 4], &fake, 64);
    let (e, i) = lab.int(&err);
    assert!(e.is_empty() && i.is_empty());
    assert_eq!(lab.ctr(Ctr::DropIcmpNoConn), 1);
    // Same from the client side.
    let mut l3 = L3::to_vip();
    l3.src = CLIENT;
    let err = icmp_error(&l3, 3, 4, [0; 4], &never, 64);
    let (e, i) = lab.ext(&err);
    assert!(e.is_empty() && i.is_empty());
    assert_eq!(lab.ctr(Ctr::DropIcmpNoConn), 2);
    assert_eq!(lab.ctr(Ctr::IcmpErrorNat), 0);
}

/// Two workers wired as `control::run` wires them: an ICMP error that reaches the
/// worker that does not own the flow is handed to the owner, which translates it.
#[test]
fn icmp_error_is_handed_off_to_the_owning_worker() {
    let mut lab = MemDirector::with_workers(2, UDP_53);
    lab.resolve_all();
    let cport = (5000u16..)
        .find(|&p| owner(be(CLIENT), p, 2, 0) == 1)
        .expect("a port owned by worker 1");
    // More handoffs than the pool holds: boxes must come back.
    let rounds = HANDOFF_DEPTH * 3;
    for n in 0..rounds {
        // The fanout sends the request to worker 1.
        lab.workers[1].rx[Nic::Ext].push(&udp_frame(&L3::to_vip(), cport, 53, b"query", true));
        lab.poll();
        let fwd = one(lab.workers[1].tx[Nic::Int].take_sent());
        // The ICMP error lands on worker 0 (its hash sees no ports).
        let err = icmp_error(&L3::from_rs(RS1, CLIENT), 3, 3, [0; 4], &fwd, 64);
        lab.workers[0].rx[Nic::Int].push(&err);
        let now = lab.now;
        lab.workers[0].poll_once(now);
        assert!(lab.workers[0].tx[Nic::Ext].take_sent().is_empty());
        assert!(lab.workers[0].tx[Nic::Int].take_sent().is_empty());
        let w0 = &lab.workers[0].core.ctr;
        assert_eq!(
            w0.get(Ctr::HandoffOut),
            n as u64 + 1,
            "round {n}: {:?}",
            drops(w0)
        );
        assert_eq!(w0.get(Ctr::DropIcmpNoConn), 0);
        lab.workers[1].poll_once(now);
        let w1 = &lab.workers[1].core.ctr;
        assert_eq!(w1.get(Ctr::HandoffIn), n as u64 + 1);
        assert_eq!(w1.get(Ctr::IcmpErrorNat), n as u64 + 1);
        assert_eq!(w1.get(Ctr::RxInt), 0, "a handoff is not a receive");
        let p = parse_ip(&one(lab.workers[1].tx[Nic::Ext].take_sent()));
        assert_eq!((p.src, p.dst), (VIP, CLIENT));
        let q = parse_quoted(&p);
        assert_eq!((q.src, q.sport, q.dst, q.dport), (CLIENT, cport, VIP, 53));
        assert!(quoted_udp_ok(&q));
    }
}

// ---------------------------------------------------------------------------
// 6. ARP
// ---------------------------------------------------------------------------

fn check_arp_reply(
    out: &[u8],
    our_mac: [u8; 6],
    our_ip: std::net::Ipv4Addr,
    to_mac: [u8; 6],
    to_ip: std::net::Ipv4Addr,
) {
    // Padded to Ethernet's minimum with zeroes (the in-memory TX slot holds
    // the poison of the frame before).
    assert_eq!(out.len(), 60);
    assert!(out[42..].iter().all(|&b| b == 0), "{:?}", &out[42..]);
    let eth = EthernetFrame::new_checked(out).expect("eth");
    assert_eq!(eth.dst_addr().0, to_mac);
    assert_eq!(eth.src_addr().0, our_mac);
    let arp = ArpPacket::new_checked(eth.payload()).expect("arp");
    assert_eq!(arp.operation(), ArpOperation::Reply);
    assert_eq!(arp.source_hardware_addr(), our_mac);
    assert_eq!(arp.source_protocol_addr(), our_ip.octets());
    assert_eq!(arp.target_hardware_addr(), to_mac);
    assert_eq!(arp.target_protocol_addr(), to_ip.octets());
}

#[test]
fn arp_for_our_addresses_is_answered() {
    let mut lab = MemDirector::new(&["-A -t 198.18.0.110:80 -s rr"]);
    let req = arp_frame(1, CLIENT_MAC, CLIENT, [0; 6], VIP, BCAST);
    let (e, i) = lab.ext(&req);
    assert!(i.is_empty());
    check_arp_reply(&one(e), EXT_MAC, VIP, CLIENT_MAC, CLIENT);
    let req = arp_frame(1, CLIENT_MAC, CLIENT, [0; 6], EXT_ADDR, EXT_MAC);
    let (e, _) = lab.ext(&req);
    check_arp_reply(&one(e), EXT_MAC, EXT_ADDR, CLIENT_MAC, CLIENT);
    let req = arp_frame(1, RS1_MAC, RS1, [0; 6], DIP, BCAST);
    let (e, i) = lab.int(&req);
    assert!(e.is_empty());
    check_arp_reply(&one(i), INT_MAC, DIP, RS1_MAC, RS1);
    assert_eq!(lab.ctr(Ctr::ArpReply), 3);
    assert_eq!(lab.ctr(Ctr::TxIntBytes), 60);
    // Hardware type 6 (IEEE 802), which Linux answers on Ethernet
    // (`arp_process`); the reply says 1. Another type is dropped.
    for (htype, answered) in [(6u16, true), (2, false)] {
        let mut req = arp_frame(1, CLIENT_MAC, CLIENT, [0; 6], VIP, BCAST);
        req[14..16].copy_from_slice(&htype.to_be_bytes());
        let (e, _) = lab.ext(&req);
        assert_eq!(e.len(), usize::from(answered), "type {htype}");
        if let Some(r) = e.first() {
            check_arp_reply(r, EXT_MAC, VIP, CLIENT_MAC, CLIENT);
            assert_eq!(r[14..16], [0, 1]);
        }
    }
    assert_eq!(lab.ctr(Ctr::DropArp), 1);
}

#[test]
fn arp_for_other_addresses_is_not_answered() {
    let mut lab = MemDirector::new(&["-A -t 198.18.0.110:80 -s rr"]);
    let cases = [
        (
            Nic::Ext,
            arp_frame(1, CLIENT_MAC, CLIENT, [0; 6], NOT_OURS, BCAST),
        ),
        // The VIP lives on the external side only, the DIP on the internal.
        (Nic::Int, arp_frame(1, RS1_MAC, RS1, [0; 6], VIP, BCAST)),
        (
            Nic::Ext,
            arp_frame(1, CLIENT_MAC, CLIENT, [0; 6], DIP, BCAST),
        ),
        // Gratuitous ARP claiming our own address.
        (Nic::Ext, arp_frame(1, OTHER_MAC, VIP, [0; 6], VIP, BCAST)),
        // A multicast sender MAC.
        (
            Nic::Ext,
            arp_frame(1, [0x01, 0, 0x5e, 0, 0, 1], CLIENT, [0; 6], VIP, BCAST),
        ),
        // Senders no neighbor can be (Linux's `arp_process` has no route
        // from a martian source): broadcast, multicast, loopback, 0/8, and
        // our own external address from another MAC.
        (
            Nic::Ext,
            arp_frame(1, OTHER_MAC, Ipv4Addr::BROADCAST, [0; 6], VIP, BCAST),
        ),
        // The broadcast address of either NIC's /24 (a broadcast route in
        // Linux: `__fib_validate_source` refuses it as a source).
        (
            Nic::Ext,
            arp_frame(
                1,
                OTHER_MAC,
                Ipv4Addr::new(198, 18, 0, 255),
                [0; 6],
                VIP,
                BCAST,
            ),
        ),
        (
            Nic::Int,
            arp_frame(
                1,
                OTHER_MAC,
                Ipv4Addr::new(198, 19, 0, 255),
                [0; 6],
                DIP,
                BCAST,
            ),
        ),
        (
            Nic::Ext,
            arp_frame(
                1,
                OTHER_MAC,
                Ipv4Addr::new(224, 0, 0, 1),
                [0; 6],
                VIP,
                BCAST,
            ),
        ),
        (
            Nic::Ext,
            arp_frame(1, OTHER_MAC, Ipv4Addr::LOCALHOST, [0; 6], VIP, BCAST),
        ),
        (
            Nic::Ext,
            arp_frame(1, OTHER_MAC, Ipv4Addr::new(0, 1, 2, 3), [0; 6], VIP, BCAST),
        ),
        (
            Nic::Ext,
            arp_frame(1, OTHER_MAC, EXT_ADDR, [0; 6], VIP, BCAST),
        ),
    ];
    for (k, (nic, f)) in cases.iter().enumerate() {
        let (e, i) = lab.ext_or_int(*nic, f);
        assert!(e.is_empty() && i.is_empty(), "case {k}");
        assert_eq!(lab.ctr(Ctr::DropArp), k as u64 + 1, "case {k}");
    }
    assert_eq!(lab.ctr(Ctr::ArpReply), 0);
    assert!(lab.neigh_events().is_empty(), "nothing learned from them");
}

#[test]
fn unsolicited_arp_reply_is_not_learned_but_a_solicited_one_is() {
    let mut lab = MemDirector::new(&["-A -t 198.18.0.110:80 -s rr"]);
    let mut table = NeighTable::new();
    let t = lab.now;
    // Unsolicited: 198.19.0.2 is-at RS1_MAC, sent to the DIP.
    let rep = arp_frame(2, RS1_MAC, RS1, INT_MAC, DIP, INT_MAC);
    let (e, i) = lab.int(&rep);
    assert!(e.is_empty() && i.is_empty(), "a reply is not answered");
    let evs = lab.neigh_events();
    assert_eq!(evs.len(), 1);
    for ev in evs {
        table.event(ev, t);
    }
    assert!(table.take_snapshot().is_none(), "unsolicited reply learned");
    assert_eq!(table.state(Nic::Int, be(RS1)), None);

    // Solicited: the worker asked (a frame for RS1 is waiting), then the reply.
    lab.reconfigure(&[
        "-A -t 198.18.0.110:80 -s rr",
        "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
    ]);
    lab.ext(&tcp_frame(&L3::to_vip(), 40000, 80, SYN));
    lab.int(&rep);
    for ev in lab.neigh_events() {
        table.event(ev, t);
    }
    let snap = table.take_snapshot().expect("learned");
    assert_eq!(snap.get(Nic::Int, be(RS1)).map(|m| m.0), Some(RS1_MAC));
}

// ---------------------------------------------------------------------------
// 7. Neighbor queue
// ---------------------------------------------------------------------------

#[test]
fn frames_wait_for_arp_then_go_out() {
    let mut lab = MemDirector::new(&[
        "-A -t 198.18.0.110:80 -s rr",
        "-a -t 198.18.0.110:80 -r 198.19.0.3:80 -m",
        "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
    ]);
    lab.resolve(Nic::Ext, CLIENT, CLIENT_MAC);
    let syn = tcp_seg(&L3::to_vip(), 40000, 80, SYN, 1, 0, &[]);
    let (e, i) = lab.ext(&syn);
    assert!(e.is_empty() && i.is_empty());
    assert_eq!(
        lab.neigh_events(),
        [NeighEvent::Resolve {
            nic: Nic::Int,
            ip: be(RS1)
        }]
    );
    assert_eq!(lab.ctr(Ctr::NeighQueued), 1);
    // A retransmission waits too, without asking again.
    let (e, i) = lab.ext(&tcp_seg(&L3::to_vip(), 40000, 80, SYN, 1, 0, &[]));
    assert!(e.is_empty() && i.is_empty());
    assert!(lab.neigh_events().is_empty());
    assert_eq!(lab.ctr(Ctr::NeighQueued), 2);

    lab.advance(Duration::from_millis(500));
    lab.resolve(Nic::Int, RS1, RS1_MAC);
    let (e, i) = lab.poll_take();
    assert!(e.is_empty());
    assert_eq!(i.len(), 2);
    for f in &i {
        let p = parse_ip(f);
        assert_eq!((p.dst, p.dport, p.ttl), (RS1, 80, 63));
        assert_eq!((p.src_mac, p.dst_mac), (INT_MAC, RS1_MAC));
    }
    assert_eq!(drop_sum(&lab.w().core.ctr), 0);

    // Another server never answers: its frame is dropped after PENDING_MAX_AGE.
    let (e, i) = lab.ext(&tcp_frame(&L3::to_vip(), 40001, 80, SYN));
    assert!(e.is_empty() && i.is_empty());
    assert_eq!(lab.ctr(Ctr::NeighQueued), 3);
    lab.advance(PENDING_MAX_AGE - Duration::from_millis(100));
    lab.poll_take();
    assert_eq!(lab.ctr(Ctr::DropNeighUnresolved), 0);
    lab.advance(Duration::from_millis(600));
    let (e, i) = lab.poll_take();
    assert!(i.is_empty());
    assert_eq!(lab.ctr(Ctr::DropNeighUnresolved), 1);
    // The client is told, as the kernel's `arp_error_report` tells it: host
    // unreachable from the VIP, quoting its SYN as it sent it.
    let p = parse_ip(&one(e));
    assert_eq!((p.src, p.dst, p.proto), (VIP, CLIENT, 1));
    assert_eq!((p.l4[0], p.l4[1]), (3, 1), "host unreachable");
    assert_eq!((p.src_mac, p.dst_mac), (EXT_MAC, CLIENT_MAC));
    let q = parse_quoted(&p);
    assert_eq!(
        (q.src, q.sport, q.dst, q.dport, q.proto),
        (CLIENT, 40001, VIP, 80, 6)
    );
    assert_eq!(lab.ctr(Ctr::IcmpHostUnreach), 1);
    // Resolving it later sends nothing stale.
    lab.resolve(Nic::Int, RS2, RS2_MAC);
    let (e, i) = lab.poll_take();
    assert!(e.is_empty() && i.is_empty());
}

/// A real server that answered nothing while it rebooted: its entry failed
/// at 3 s. Back, the next SYN to it (at 3.5 s) has it probed again at once,
/// and its own ARP request for the DIP (at 3.7 s) sends the SYN that waits,
/// as Linux does (`__neigh_event_send` restarts a failed neighbour;
/// `arp_process` → `neigh_event_ns` learns the MAC of a request). Both were
/// ignored for 5 s after the failure.
#[test]
fn a_server_back_from_a_reboot_is_reached_at_once() {
    let mut lab = MemDirector::new(&[
        "-A -t 198.18.0.110:80 -s rr",
        "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
    ]);
    lab.resolve(Nic::Ext, CLIENT, CLIENT_MAC);
    let bcast = Probe::Arp {
        nic: Nic::Int,
        ip: be(RS1),
        to: None,
    };
    lab.ext(&tcp_frame(&L3::to_vip(), 40000, 80, SYN));
    assert_eq!(control_step(&mut lab), [bcast]);
    let mut probes = vec![];
    for _ in 0..30 {
        lab.advance(Duration::from_millis(100));
        lab.poll_take();
        probes.extend(control_step(&mut lab));
    }
    assert_eq!(probes, [bcast; 2], "probes 2 and 3");
    assert!(matches!(
        lab.neigh.state(Nic::Int, be(RS1)),
        Some(ringvs::neigh::EntryState::Failed { .. })
    ));
    assert_eq!(lab.ctr(Ctr::DropNeighUnresolved), 1);
    lab.advance(Duration::from_millis(500));
    let (e, i) = lab.ext(&tcp_frame(&L3::to_vip(), 40001, 80, SYN));
    assert!(e.is_empty() && i.is_empty());
    assert_eq!(control_step(&mut lab), [bcast], "probed again at once");
    // RS1, back, asks for the DIP: answered, and its MAC taken.
    lab.advance(Duration::from_millis(200));
    let (_, i) = lab.int(&arp_frame(1, RS1_MAC, RS1, [0; 6], DIP, BCAST));
    assert_eq!(i.len(), 1, "the ARP reply");
    assert!(control_step(&mut lab).is_empty());
    let (e, i) = lab.poll_take();
    assert!(e.is_empty());
    let p = parse_ip(&one(i));
    assert_eq!((p.dst, p.dport, p.dst_mac), (RS1, 80, RS1_MAC));
    assert_eq!(lab.ctr(Ctr::DropNeighUnresolved), 1);
}

/// A frame parked a second or more after its hop was last asked for asks
/// again (the table probes a hop that failed meanwhile again at once, and
/// ignores the ask while it is probing): once a second at most, not once a
/// frame.
#[test]
fn a_parked_frame_asks_again_a_second_after_the_last_ask() {
    let mut lab = MemDirector::new(&[
        "-A -t 198.18.0.110:80 -s rr",
        "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
    ]);
    lab.resolve(Nic::Ext, CLIENT, CLIENT_MAC);
    let ask = NeighEvent::Resolve {
        nic: Nic::Int,
        ip: be(RS1),
    };
    for (port, after_ms, asks) in [
        (40000, 0, 1),
        (40001, 500, 0),
        (40002, 500, 1),
        (40003, 900, 0),
    ] {
        lab.advance(Duration::from_millis(after_ms));
        lab.ext(&tcp_frame(&L3::to_vip(), port, 80, SYN));
        assert_eq!(lab.neigh_events(), vec![ask; asks], "port {port}");
    }
    assert_eq!(lab.ctr(Ctr::NeighQueued), 4);
}

/// Frames of two next hops wait at once; one hop's answer sends its frames
/// and leaves the other's waiting, still expired on time (a pass looks at the
/// hops only while some hold frames: that flag survives a partial flush).
#[test]
fn a_hop_resolved_leaves_the_other_waiting_and_expiring() {
    let mut lab = MemDirector::new(&[
        "-A -t 198.18.0.110:80 -s rr",
        "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
        "-a -t 198.18.0.110:80 -r 198.19.0.3:80 -m",
    ]);
    lab.resolve(Nic::Ext, CLIENT, CLIENT_MAC);
    // Round robin: the first SYN to RS1, the second to RS2; both wait.
    for port in [40000, 40001] {
        let (e, i) = lab.ext(&tcp_frame(&L3::to_vip(), port, 80, SYN));
        assert!(e.is_empty() && i.is_empty());
    }
    assert_eq!(lab.ctr(Ctr::NeighQueued), 2);
    lab.advance(Duration::from_millis(100));
    lab.resolve(Nic::Int, RS1, RS1_MAC);
    let (e, i) = lab.poll_take();
    assert!(e.is_empty());
    assert_eq!(i.len(), 1);
    assert_eq!(parse_ip(&i[0]).dst, RS1);
    // RS2's frame is still parked, and expires at its age.
    lab.advance(PENDING_MAX_AGE - Duration::from_millis(200));
    lab.poll_take();
    assert_eq!(lab.ctr(Ctr::DropNeighUnresolved), 0);
    lab.advance(Duration::from_millis(200));
    let (e, i) = lab.poll_take();
    assert!(i.is_empty());
    assert_eq!(parse_ip(&one(e)).dst, CLIENT, "the client told");
    assert_eq!(lab.ctr(Ctr::DropNeighUnresolved), 1);
    lab.resolve(Nic::Int, RS2, RS2_MAC);
    let (e, i) = lab.poll_take();
    assert!(e.is_empty() && i.is_empty(), "nothing stale after expiry");
}

/// A director made standby while a SYN waits for its real server's MAC
/// drops it (`drop_standby`) and tells the client nothing: the client's
/// retransmission goes to the new active director, where a host unreachable
/// from the old one would have aborted its connect. Nor does the server's
/// MAC, learned after the flip (its own ARP request to this worker) or
/// published with it (heard elsewhere), send it with the standby's MAC.
#[test]
fn a_director_made_standby_drops_what_waits_for_arp_and_tells_nobody() {
    for learned in ["never", "after", "with"] {
        let mut lab = MemDirector::new(&[
            "-A -t 198.18.0.110:80 -s rr",
            "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
        ]);
        lab.resolve(Nic::Ext, CLIENT, CLIENT_MAC);
        let (e, i) = lab.ext(&tcp_frame(&L3::to_vip(), 40000, 80, SYN));
        assert!(e.is_empty() && i.is_empty());
        assert_eq!(lab.ctr(Ctr::NeighQueued), 1);
        control_step(&mut lab);
        lab.shared.ha.set_standby(true);
        lab.shared.bump();
        lab.neigh.set_standby(true, lab.now);
        let rs1_asks = arp_frame(1, RS1_MAC, RS1, [0; 6], DIP, BCAST);
        if learned == "with" {
            lab.resolve(Nic::Int, RS1, RS1_MAC);
        }
        let (e, i) = lab.poll_take();
        assert!(e.is_empty() && i.is_empty(), "learned {learned}");
        if learned == "after" {
            lab.advance(Duration::from_millis(200));
            let (e, i) = lab.int(&rs1_asks);
            assert!(e.is_empty() && i.is_empty(), "a standby answers no ARP");
            control_step(&mut lab);
            let snap = lab.shared.neigh.load();
            assert_eq!(snap.get(Nic::Int, be(RS1)).map(|m| m.0), Some(RS1_MAC));
            let (e, i) = lab.poll_take();
            assert!(e.is_empty() && i.is_empty(), "nothing forwarded");
        }
        lab.advance(PENDING_MAX_AGE);
        let (e, i) = lab.poll_take();
        assert!(e.is_empty() && i.is_empty(), "learned {learned}");
        assert_eq!(lab.ctr(Ctr::IcmpHostUnreach), 0);
        assert_eq!(lab.ctr(Ctr::DropNeighUnresolved), 0);
        assert_eq!(lab.ctr(Ctr::FwdIn), 0);
        // The SYN, and the ARP request not answered.
        let arp = u64::from(learned == "after");
        assert_eq!(lab.ctr(Ctr::DropStandby), 1 + arp, "learned {learned}");
    }
}

/// A full queue for a next hop (4 frames) drops its oldest frame for a new
/// one, as the kernel's `__neigh_event_send` drops the head of a full
/// `arp_queue` (`SKB_DROP_REASON_NEIGH_QUEUEFULL`): of 6 datagrams to a
/// server not resolved yet, the last 4 go.
#[test]
fn a_full_neighbor_queue_drops_its_oldest_frame() {
    let mut lab = MemDirector::new(UDP_53);
    lab.resolve(Nic::Ext, CLIENT, CLIENT_MAC);
    for port in 5000..5006 {
        let (e, i) = lab.ext(&udp_frame(&L3::to_vip(), port, 53, b"q", true));
        assert!(e.is_empty() && i.is_empty());
    }
    assert_eq!(lab.ctr(Ctr::NeighQueued), 6);
    assert_eq!(lab.ctr(Ctr::DropNeighQueue), 2);
    assert_eq!(lab.ctr(Ctr::NeighEvicted), 2);
    lab.resolve(Nic::Int, RS1, RS1_MAC);
    let (e, i) = lab.poll_take();
    assert!(e.is_empty());
    let sent: Vec<u16> = i.iter().map(|f| parse_ip(f).sport).collect();
    assert_eq!(sent, [5002, 5003, 5004, 5005]);
    assert_eq!(lab.ctr(Ctr::FwdIn), 4);
    assert_eq!(lab.ctr(Ctr::DropNeighQueue), 2);
}

/// The oldest packet makes way whole: fragments cut here (3 of a 1500-byte
/// datagram at MTU 576) push out the 2 oldest of 3 datagrams, and a datagram
/// arriving at a queue holding 3 fragments and a datagram pushes out all 3
/// fragments (of no use without their first), whose packet never counts as
/// sent (`tx_fragmented`, `fwd_in`).
#[test]
fn a_full_neighbor_queue_drops_its_oldest_packet_whole() {
    let rules = [
        "-A -u 198.18.0.110:53 -s rr",
        "-a -u 198.18.0.110:53 -r 198.19.0.2:53 -m",
    ];
    let mut big = udp_frame(&L3::to_vip(), 6000, 53, &[9; 1472], true);
    big[20] = 0; // DF clear
    fix_ip_checksum(&mut big);
    let small = |port| udp_frame(&L3::to_vip(), port, 53, b"q", true);
    // Three datagrams, then a packet cut in three.
    let mut lab = with_int_mtu(576, &rules);
    lab.resolve(Nic::Ext, CLIENT, CLIENT_MAC);
    for port in 5000..5003 {
        lab.ext(&small(port));
    }
    lab.ext(&big);
    assert_eq!(lab.ctr(Ctr::NeighQueued), 6);
    assert_eq!(lab.ctr(Ctr::DropNeighQueue), 2);
    lab.resolve(Nic::Int, RS1, RS1_MAC);
    let (_, i) = lab.poll_take();
    assert_eq!(i.len(), 4);
    assert_eq!(parse_ip(&i[0]).sport, 5002);
    let whole = reassemble(&i[1..], 576);
    assert_eq!(&whole[28..], &[9; 1472][..], "the datagram whole");
    assert_eq!(lab.ctr(Ctr::FwdIn), 2);
    assert_eq!(lab.ctr(Ctr::TxFragmented), 1);
    // The same with one more datagram: the queue's ring has wrapped (the
    // cut packet sits past its end), and only 5002 makes way for it.
    let mut lab = with_int_mtu(576, &rules);
    lab.resolve(Nic::Ext, CLIENT, CLIENT_MAC);
    for port in 5000..5003 {
        lab.ext(&small(port));
    }
    lab.ext(&big);
    lab.ext(&small(5003));
    assert_eq!(lab.ctr(Ctr::DropNeighQueue), 3);
    lab.resolve(Nic::Int, RS1, RS1_MAC);
    let (_, i) = lab.poll_take();
    assert_eq!(i.len(), 4);
    let whole = reassemble(&i[..3], 576);
    assert_eq!(&whole[28..], &[9; 1472][..], "the datagram whole");
    assert_eq!(parse_ip(&i[3]).sport, 5003);
    assert_eq!(lab.ctr(Ctr::TxFragmented), 1);
    assert_eq!(lab.ctr(Ctr::FwdIn), 2);
    // A packet cut in three and a datagram, then another datagram.
    let mut lab = with_int_mtu(576, &rules);
    lab.resolve(Nic::Ext, CLIENT, CLIENT_MAC);
    lab.ext(&big);
    lab.ext(&small(5000));
    lab.ext(&small(5001));
    assert_eq!(lab.ctr(Ctr::NeighQueued), 5);
    assert_eq!(lab.ctr(Ctr::NeighQueuedFragmented), 1);
    assert_eq!(lab.ctr(Ctr::DropNeighQueue), 3);
    assert_eq!(lab.ctr(Ctr::NeighEvicted), 3);
    lab.resolve(Nic::Int, RS1, RS1_MAC);
    let (_, i) = lab.poll_take();
    let sent: Vec<u16> = i.iter().map(|f| parse_ip(f).sport).collect();
    assert_eq!(sent, [5000, 5001]);
    assert_eq!(lab.ctr(Ctr::FwdIn), 2);
    assert_eq!(lab.ctr(Ctr::TxFragmented), 0);
    assert_eq!(lab.ctr(Ctr::TxFragments), 3);
    assert_eq!(drop_sum(&lab.w().core.ctr), 3);
}

// ---------------------------------------------------------------------------
// 8. Malformed and unwanted frames
// ---------------------------------------------------------------------------

fn meta(frame: &[u8]) -> RxMeta {
    RxMeta {
        wire_len: frame.len() as u32,
        csum_partial: false,
        csum_valid: false,
        vlan: None,
    }
}

fn syn() -> Vec<u8> {
    tcp_frame(&L3::to_vip(), 40000, 80, SYN)
}

fn with(mut f: Vec<u8>, edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    edit(&mut f);
    f
}

/// An IPv4 frame to the VIP with a raw L4 payload and protocol.
fn raw_ip(proto: u8, l4: &[u8]) -> Vec<u8> {
    ip_frame(&L3::to_vip(), proto, l4)
}

#[test]
fn malformed_and_unwanted_frames_are_dropped_by_reason() {
    let udp_to_vip = |data: &[u8]| udp_frame(&L3::to_vip(), 5000, 53, data, true);
    let big_udp = udp_frame(&L3::to_vip(), 5000, 53, &[0u8; MTU - 28 + 1], true);
    assert_eq!(big_udp.len(), MTU + 14 + 1);
    let ok_big = udp_frame(&L3::to_vip(), 5000, 53, &[0u8; MTU - 28], true);
    let mut options = {
        // IHL 6: one word of options (NOPs), header checksum valid.
        let f = syn();
        let mut g = f[..34].to_vec();
        g.extend_from_slice(&[1, 1, 1, 1]);
        g.extend_from_slice(&f[34..]);
        g[14] = 0x46;
        let tl = u16::from_be_bytes([g[16], g[17]]) + 4;
        g[16..18].copy_from_slice(&tl.to_be_bytes());
        g
    };
    fix_ip_checksum(&mut options);
    type Case = (&'static str, Nic, Vec<u8>, Option<RxMeta>, Ctr);
    let cases: Vec<Case> = vec![
        (
            "truncated ethernet",
            Nic::Ext,
            syn()[..10].to_vec(),
            None,
            Ctr::DropTruncated,
        ),
        ("empty frame", Nic::Ext, vec![], None, Ctr::DropTruncated),
        (
            "truncated ipv4",
            Nic::Ext,
            syn()[..24].to_vec(),
            None,
            Ctr::DropIpMalformed,
        ),
        (
            "ihl 4",
            Nic::Ext,
            with(syn(), |f| {
                f[14] = 0x44;
                fix_ip_checksum(f)
            }),
            None,
            Ctr::DropIpMalformed,
        ),
        (
            "version 6",
            Nic::Ext,
            with(syn(), |f| {
                f[14] = 0x65;
            }),
            None,
            Ctr::DropIpMalformed,
        ),
        (
            "total length > frame",
            Nic::Ext,
            with(syn(), |f| {
                f[17] += 10;
                fix_ip_checksum(f)
            }),
            None,
            Ctr::DropIpMalformed,
        ),
        (
            "total length < header",
            Nic::Ext,
            with(syn(), |f| {
                f[16] = 0;
                f[17] = 19;
                fix_ip_checksum(f)
            }),
            None,
            Ctr::DropIpMalformed,
        ),
        ("ip options", Nic::Ext, options, None, Ctr::DropIpOptions),
        (
            "bad ip checksum",
            Nic::Ext,
            with(syn(), |f| f[24] ^= 0x10),
            None,
            Ctr::DropIpChecksum,
        ),
        (
            // A first fragment must hold the whole TCP header (RFC 1858).
            "tiny first fragment",
            Nic::Ext,
            with(syn(), |f| {
                f[20] = 0x20;
                f.truncate(14 + 20 + 16);
                f[16..18].copy_from_slice(&36u16.to_be_bytes());
                fix_ip_checksum(f)
            }),
            None,
            Ctr::DropFragment,
        ),
        (
            // Echo requests in fragments are answered (`frag.rs`); a
            // timestamp request (type 13) is not.
            "icmp fragment",
            Nic::Ext,
            with(echo_request(&L3::to_vip(), 7, 1, &[0; 16]), |f| {
                f[20] = 0x20;
                f[34] = 13;
                fix_ip_checksum(f)
            }),
            None,
            Ctr::DropFragment,
        ),
        (
            "ttl 1, no service",
            Nic::Ext,
            tcp_frame(
                &L3 {
                    ttl: 1,
                    ..L3::to_vip()
                },
                40000,
                81,
                SYN,
            ),
            None,
            Ctr::DropTtl,
        ),
        (
            "ttl 0, no service",
            Nic::Ext,
            tcp_frame(
                &L3 {
                    ttl: 0,
                    ..L3::to_vip()
                },
                40000,
                81,
                SYN,
            ),
            None,
            Ctr::DropTtl,
        ),
        (
            "gre to vip",
            Nic::Ext,
            raw_ip(47, &[0; 24]),
            None,
            Ctr::DropProto,
        ),
        (
            "gre elsewhere",
            Nic::Ext,
            ip_frame(
                &L3 {
                    dst: NOT_OURS,
                    ..L3::to_vip()
                },
                47,
                &[0; 24],
            ),
            None,
            Ctr::DropNoService,
        ),
        (
            "tcp header truncated",
            Nic::Ext,
            raw_ip(6, &syn()[34..44]),
            None,
            Ctr::DropL4Malformed,
        ),
        (
            "tcp data offset too large",
            Nic::Ext,
            with(syn(), |f| f[46] = 0xf0),
            None,
            Ctr::DropL4Malformed,
        ),
        (
            "tcp data offset < 5",
            Nic::Ext,
            with(syn(), |f| f[46] = 0x40),
            None,
            Ctr::DropL4Malformed,
        ),
        (
            "udp header truncated",
            Nic::Ext,
            raw_ip(17, &udp_to_vip(b"")[34..40]),
            None,
            Ctr::DropL4Malformed,
        ),
        (
            "udp length > packet",
            Nic::Ext,
            with(udp_to_vip(b"abcd"), |f| f[39] = 40),
            None,
            Ctr::DropL4Malformed,
        ),
        (
            "udp length < 8",
            Nic::Ext,
            with(udp_to_vip(b"abcd"), |f| f[39] = 7),
            None,
            Ctr::DropL4Malformed,
        ),
        (
            "ack, no connection",
            Nic::Ext,
            tcp_frame(&L3::to_vip(), 40000, 80, ACK),
            None,
            Ctr::DropNoConn,
        ),
        // A deliberate difference, not IPVS's behaviour: the kernel's
        // `tcp_conn_schedule` (`ip_vs_proto_tcp.c`) would schedule this SYN+ACK
        // (SYN set, RST clear); ringvs starts connections only with a SYN
        // without ACK (`docs/tcp-states.md`, "How a connection starts").
        (
            "syn-ack, no connection",
            Nic::Ext,
            tcp_frame(&L3::to_vip(), 40000, 80, SYN | ACK),
            None,
            Ctr::DropNoConn,
        ),
        (
            "syn-rst, no connection",
            Nic::Ext,
            tcp_frame(&L3::to_vip(), 40000, 80, SYN | RST),
            None,
            Ctr::DropNoConn,
        ),
        (
            "fin, no connection",
            Nic::Ext,
            tcp_frame(&L3::to_vip(), 40000, 80, FIN),
            None,
            Ctr::DropNoConn,
        ),
        (
            "non-service port",
            Nic::Ext,
            tcp_frame(&L3::to_vip(), 40000, 81, SYN),
            None,
            Ctr::DropNoService,
        ),
        (
            "udp to a tcp service",
            Nic::Ext,
            udp_frame(&L3::to_vip(), 40000, 80, b"x", true),
            None,
            Ctr::DropNoService,
        ),
        (
            "not our address",
            Nic::Ext,
            tcp_frame(
                &L3 {
                    dst: NOT_OURS,
                    ..L3::to_vip()
                },
                40000,
                80,
                SYN,
            ),
            None,
            Ctr::DropNoService,
        ),
        (
            "int, no connection",
            Nic::Int,
            tcp_frame(&L3::from_rs(RS1, CLIENT), 80, 40000, SYN | ACK),
            None,
            Ctr::DropNoConn,
        ),
        (
            "int, udp no connection",
            Nic::Int,
            udp_frame(&L3::from_rs(RS1, CLIENT), 53, 5000, b"x", true),
            None,
            Ctr::DropNoConn,
        ),
        (
            "another mac",
            Nic::Ext,
            with(syn(), |f| f[..6].copy_from_slice(&OTHER_MAC)),
            None,
            Ctr::DropNotForUs,
        ),
        (
            "ipv4 to broadcast mac",
            Nic::Ext,
            with(syn(), |f| f[..6].copy_from_slice(&BCAST)),
            None,
            Ctr::DropNotForUs,
        ),
        (
            "int mac on ext",
            Nic::Ext,
            with(syn(), |f| f[..6].copy_from_slice(&INT_MAC)),
            None,
            Ctr::DropNotForUs,
        ),
        (
            "arp unicast elsewhere",
            Nic::Ext,
            arp_frame(1, CLIENT_MAC, CLIENT, [0; 6], VIP, OTHER_MAC),
            None,
            Ctr::DropNotForUs,
        ),
        (
            "vlan meta",
            Nic::Ext,
            syn(),
            Some(RxMeta {
                vlan: Some(ringvs::io::VlanTag {
                    tpid: 0x8100,
                    tci: 100,
                }),
                ..meta(&syn())
            }),
            Ctr::DropVlan,
        ),
        (
            "vlan ethertype",
            Nic::Ext,
            with(syn(), |f| {
                f[12] = 0x81;
                f[13] = 0x00
            }),
            None,
            Ctr::DropVlan,
        ),
        (
            "ring truncated",
            Nic::Ext,
            syn(),
            Some(RxMeta {
                wire_len: 9000,
                ..meta(&syn())
            }),
            Ctr::DropTruncated,
        ),
        (
            "oversize",
            Nic::Ext,
            big_udp.clone(),
            None,
            Ctr::DropOversize,
        ),
        ("oversize int", Nic::Int, big_udp, None, Ctr::DropOversize),
        (
            "ipv6 ethertype",
            Nic::Ext,
            with(syn(), |f| {
                f[12] = 0x86;
                f[13] = 0xdd
            }),
            None,
            Ctr::DropEthertype,
        ),
        (
            "icmp bad checksum",
            Nic::Ext,
            with(echo_request(&L3::to_vip(), 1, 1, b"abc"), |f| f[40] ^= 1),
            None,
            Ctr::DropIcmp,
        ),
        (
            "icmp truncated",
            Nic::Ext,
            raw_ip(1, &[8, 0, 0xf7, 0xff]),
            None,
            Ctr::DropIcmp,
        ),
        (
            "icmp timestamp to vip",
            Nic::Ext,
            icmp_frame(&L3::to_vip(), 13, 0, [0; 4], &[0; 12]),
            None,
            Ctr::DropIcmp,
        ),
        (
            "icmp echo reply to vip",
            Nic::Ext,
            icmp_frame(&L3::to_vip(), 0, 0, [0; 4], b"x"),
            None,
            Ctr::DropIcmp,
        ),
        (
            "icmp error, short quote (3 bytes of ports)",
            Nic::Int,
            icmp_error(&L3::from_rs(RS1, CLIENT), 3, 3, [0; 4], &syn(), 3),
            None,
            Ctr::DropIcmp,
        ),
        (
            "icmp error, quoted header longer than the quote",
            Nic::Int,
            with(
                icmp_error(&L3::from_rs(RS1, CLIENT), 3, 3, [0; 4], &syn(), 8),
                |f| {
                    f[42] = 0x4f;
                    let c = icmp_sum(&f[34..]);
                    f[36..38].copy_from_slice(&c);
                },
            ),
            None,
            Ctr::DropIcmp,
        ),
        (
            "arp, neither request nor reply",
            Nic::Ext,
            arp_frame(3, CLIENT_MAC, CLIENT, [0; 6], VIP, BCAST),
            None,
            Ctr::DropArp,
        ),
        (
            "arp truncated",
            Nic::Ext,
            arp_frame(1, CLIENT_MAC, CLIENT, [0; 6], VIP, BCAST)[..30].to_vec(),
            None,
            Ctr::DropArp,
        ),
        (
            "arp for ipv6",
            Nic::Ext,
            with(arp_frame(1, CLIENT_MAC, CLIENT, [0; 6], VIP, BCAST), |f| {
                f[16] = 0x86;
                f[17] = 0xdd
            }),
            None,
            Ctr::DropArp,
        ),
    ];
    // Sanity: the largest frame the MTU allows does go through.
    {
        let mut lab = lab_with(UDP_53);
        let (_, i) = lab.ext(&ok_big);
        assert_eq!(parse_ip(&one(i)).payload.len(), MTU - 28);
    }
    let mut failures = vec![];
    for (name, nic, frame, m, want) in cases {
        let mut lab = lab_with(&[
            "-A -t 198.18.0.110:80 -s rr",
            "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
            "-A -u 198.18.0.110:53 -s rr",
            "-a -u 198.18.0.110:53 -r 198.19.0.2:53 -m",
        ]);
        let m = m.unwrap_or_else(|| meta(&frame));
        match nic {
            Nic::Ext => lab.w().rx[Nic::Ext].push_with(&frame, m),
            Nic::Int => lab.w().rx[Nic::Int].push_with(&frame, m),
        }
        let (e, i) = lab.poll_take();
        let c = &lab.w().core.ctr;
        let got = drops(c);
        if !e.is_empty() || !i.is_empty() || got != [(want.name(), 1)] || c.get(Ctr::ConnNew) != 0 {
            failures.push(format!(
                "{name}: want {} only, got {got:?}, sent {}+{}, conn_new {}",
                want.name(),
                e.len(),
                i.len(),
                c.get(Ctr::ConnNew)
            ));
        }
        assert_eq!(
            lab.w().core.table.len(),
            0,
            "{name}: no connection left behind"
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn icmp_sum(icmp: &[u8]) -> [u8; 2] {
    let mut b = icmp.to_vec();
    b[2] = 0;
    b[3] = 0;
    let mut s: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    (!(s as u16)).to_be_bytes()
}

/// A packet the director would forward but whose TTL forwarding would take
/// to 0 is dropped and its sender told, as the kernel's `decrement_ttl`
/// (`ip_vs_xmit.c`) tells a client and `ip_forward` a real server: ICMP
/// time exceeded in transit, quoting its IP header and 8 bytes, from the
/// VIP to a client (so `traceroute` to the VIP shows the director), from
/// the DIP to a real server. It creates no connection. A packet the
/// director would not forward (a port without a service: the table above)
/// gets nothing.
#[test]
fn ttl_expired_packets_tell_their_senders() {
    let mut lab = MemDirector::standard();
    let mut l3 = L3::to_vip();
    l3.ttl = 1;
    let syn = tcp_frame(&l3, 40001, 80, SYN);
    let (e, i) = lab.ext(&syn);
    assert!(i.is_empty(), "not forwarded");
    let err = parse_ip(&one(e));
    assert_eq!((err.src, err.dst, err.proto), (VIP, CLIENT, 1));
    assert_eq!(err.l4[..2], [11, 0], "time exceeded in transit");
    assert_eq!(err.l4[2..4], icmp_sum(&err.l4));
    assert_eq!(&err.l4[8..], &syn[14..14 + 28], "its IP header and 8 bytes");
    assert_eq!((lab.ctr(Ctr::DropTtl), lab.ctr(Ctr::ConnNew)), (1, 0));
    // A real server's reply on a connection: told from the DIP.
    client_to_rs(&mut lab, &tcp_frame(&L3::to_vip(), 40000, 80, SYN));
    let mut l3 = L3::from_rs(RS1, CLIENT);
    l3.ttl = 1;
    let reply = tcp_frame(&l3, 80, 40000, SYN | ACK);
    let (e, i) = lab.int(&reply);
    assert!(e.is_empty(), "not forwarded");
    let err = parse_ip(&one(i));
    assert_eq!((err.src, err.dst, err.proto), (DIP, RS1, 1));
    assert_eq!(err.l4[..2], [11, 0]);
    assert_eq!(&err.l4[8..], &reply[14..14 + 28]);
    assert_eq!(lab.ctr(Ctr::DropTtl), 2);
    assert_eq!(lab.ctr(Ctr::IcmpTimeExceeded), 2);
    // From a real server with no connection: nobody told.
    let stray = tcp_frame(&l3, 80, 40999, SYN | ACK);
    let (e, i) = lab.int(&stray);
    assert!(e.is_empty() && i.is_empty());
    assert_eq!(lab.ctr(Ctr::IcmpTimeExceeded), 2);
}

/// A packet to a service whose TTL ran out, from a source that could not
/// open a connection (multicast, limited broadcast, loopback, the VIP, a
/// real server on the internal segment), gets no time exceeded: the kernel
/// drops such a martian or local source in routing, before IPVS
/// (`ip_route_input_slow` → `martian_source`, `fib_validate_source`), and
/// RFC 1122 §3.2.2 sends no error to it. Counted as with a larger TTL.
#[test]
fn ttl_expired_from_a_martian_source_tells_nobody() {
    let mut lab = MemDirector::standard();
    let mut n = 0;
    for src in [
        "224.0.0.5".parse().unwrap(),
        "255.255.255.255".parse().unwrap(),
        "127.0.0.1".parse().unwrap(),
        VIP,
        RS1,
    ] {
        let mut l3 = L3 {
            src,
            ..L3::to_vip()
        };
        l3.ttl = 1;
        let (e, i) = lab.ext(&tcp_frame(&l3, 40001, 80, SYN));
        assert!(e.is_empty() && i.is_empty(), "{src} was answered");
        n += 1;
        assert_eq!(lab.ctr(Ctr::DropBadSource), n, "{src}");
    }
    assert_eq!(lab.ctr(Ctr::IcmpTimeExceeded), 0);
    assert_eq!((lab.ctr(Ctr::DropTtl), lab.ctr(Ctr::ConnNew)), (0, 0));
}

/// A new connection no real server can take (here: the only one at weight
/// 0) is refused as IPVS's `ip_vs_leave` (`ip_vs_core.c`) refuses it: ICMP
/// port unreachable from the VIP to the client, quoting its IP header and 8
/// bytes, for TCP and UDP alike, so `curl` fails at once ("connection
/// refused") instead of resending its SYN for two minutes. Nothing reaches
/// a real server and no connection is made; a service's own port without
/// a service gets nothing (`drop_no_service`, as before).
#[test]
fn a_new_connection_no_server_can_take_is_refused_with_port_unreachable() {
    let mut lab = lab_with(&[
        "-A -t 198.18.0.110:80 -s rr",
        "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m -w 0",
        "-A -u 198.18.0.110:53 -s wlc",
        "-a -u 198.18.0.110:53 -r 198.19.0.2:53 -m -w 0",
    ]);
    let syn = tcp_frame(&L3::to_vip(), 40000, 80, SYN);
    let dns = udp_frame(&L3::to_vip(), 40001, 53, b"query", true);
    for (k, f) in [syn, dns].iter().enumerate() {
        let (e, i) = lab.ext(f);
        assert!(i.is_empty(), "nothing to a real server");
        let err = parse_ip(&one(e));
        assert_eq!((err.src, err.dst, err.proto), (VIP, CLIENT, 1));
        assert_eq!(err.l4[..2], [3, 3], "port unreachable");
        assert_eq!(err.l4[2..4], icmp_sum(&err.l4));
        assert_eq!(&err.l4[8..], &f[14..14 + 28], "its IP header and 8 bytes");
        assert_eq!(lab.ctr(Ctr::DropNoDest), k as u64 + 1);
        assert_eq!(lab.ctr(Ctr::IcmpPortUnreach), k as u64 + 1);
    }
    assert_eq!(lab.ctr(Ctr::ConnNew), 0);
    // No service on the port: dropped unanswered.
    let (e, i) = lab.ext(&tcp_frame(&L3::to_vip(), 40002, 81, SYN));
    assert!(e.is_empty() && i.is_empty());
    assert_eq!(lab.ctr(Ctr::IcmpPortUnreach), 2);
}

// ---------------------------------------------------------------------------
// 8b. Property: no panic, and every frame has exactly one outcome
// ---------------------------------------------------------------------------

mod props {
    use super::*;
    use proptest::prelude::*;

    /// Frames worth mutating, and the NIC each arrives on.
    fn bases() -> Vec<(Nic, Vec<u8>)> {
        vec![
            (Nic::Ext, tcp_seg(&L3::to_vip(), 40001, 80, SYN, 1, 0, b"")),
            (
                Nic::Ext,
                tcp_seg(&L3::to_vip(), 40000, 80, ACK | PSH, 1, 1, b"data"),
            ),
            (
                Nic::Int,
                tcp_seg(
                    &L3::from_rs(RS1, CLIENT),
                    80,
                    40000,
                    ACK | PSH,
                    1,
                    1,
                    b"reply",
                ),
            ),
            (Nic::Ext, udp_frame(&L3::to_vip(), 5000, 53, b"query", true)),
            (
                Nic::Int,
                udp_frame(&L3::from_rs(RS1, CLIENT), 53, 5000, b"answer", true),
            ),
            (Nic::Ext, echo_request(&L3::to_vip(), 1, 2, b"ping")),
            (
                Nic::Int,
                echo_request(&L3::from_rs(RS1, DIP), 1, 2, b"ping"),
            ),
            (
                Nic::Ext,
                arp_frame(1, CLIENT_MAC, CLIENT, [0; 6], VIP, BCAST),
            ),
            (Nic::Int, arp_frame(2, RS1_MAC, RS1, INT_MAC, DIP, INT_MAC)),
            (Nic::Int, {
                let fwd = udp_frame(
                    &L3 {
                        dst: RS1,
                        ..L3::to_vip()
                    },
                    5000,
                    53,
                    b"q",
                    true,
                );
                icmp_error(&L3::from_rs(RS1, CLIENT), 3, 3, [0; 4], &fwd, 64)
            }),
            (Nic::Ext, {
                let out = tcp_seg(
                    &L3 {
                        src: VIP,
                        dst: CLIENT,
                        ..L3::to_vip()
                    },
                    80,
                    40000,
                    ACK,
                    1,
                    1,
                    b"",
                );
                icmp_error(&L3::to_vip(), 3, 4, [0, 0, 5, 0x78], &out, 20)
            }),
        ]
    }

    /// A lab with one established TCP connection (CLIENT:40000 ↔ RS1:80) and one
    /// UDP flow (CLIENT:5000 ↔ RS1:53).
    fn lab() -> MemDirector {
        let mut lab = lab_with(&[
            "-A -t 198.18.0.110:80 -s rr",
            "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
            "-A -u 198.18.0.110:53 -s rr",
            "-a -u 198.18.0.110:53 -r 198.19.0.2:53 -m",
        ]);
        lab.ext(&tcp_frame(&L3::to_vip(), 40000, 80, SYN));
        lab.int(&tcp_frame(&L3::from_rs(RS1, CLIENT), 80, 40000, SYN | ACK));
        lab.ext(&tcp_frame(&L3::to_vip(), 40000, 80, ACK));
        lab.ext(&udp_frame(&L3::to_vip(), 5000, 53, b"q", true));
        lab.neigh_events();
        lab
    }

    fn l4_ok(frame: &[u8]) -> bool {
        try_parse_ip(frame).is_ok()
    }

    /// Feed one frame; check it had exactly one outcome. Returns the frames sent.
    fn feed(lab: &mut MemDirector, nic: Nic, frame: &[u8], m: RxMeta) -> Result<(), TestCaseError> {
        let before = lab.w().core.ctr.clone();
        match nic {
            Nic::Ext => lab.w().rx[Nic::Ext].push_with(frame, m),
            Nic::Int => lab.w().rx[Nic::Int].push_with(frame, m),
        }
        let (e, i) = lab.poll_take();
        let after = lab.w().core.ctr.clone();
        let d = |c: Ctr| after.get(c) - before.get(c);
        // ARP passed on to the table and not answered (a reply to us, or a
        // claim in ARP not to us) is one outcome; the events are drained.
        lab.neigh_events();
        let heard = d(Ctr::ArpHeard);
        let dropped = drop_sum(&after) - drop_sum(&before);
        let sent = (e.len() + i.len()) as u64;
        prop_assert_eq!(d(Ctr::RxExt) + d(Ctr::RxInt), 1);
        prop_assert_eq!(d(Ctr::TxExt) + d(Ctr::TxInt), sent);
        // A fragment held for its datagram's first is an outcome; one taken
        // up again has its own besides this frame's. A frame dropped whose
        // sender is told (time exceeded, fragmentation needed, port
        // unreachable) is one.
        let told = d(Ctr::IcmpTimeExceeded) + d(Ctr::IcmpFragNeeded) + d(Ctr::IcmpPortUnreach);
        // A frame pushed out of a full neighbor queue (`neigh_evicted`) is
        // an earlier frame's outcome, counted in `dropped` now.
        let outcomes = sent - told
            + d(Ctr::NeighQueued)
            + d(Ctr::HandoffOut)
            + dropped
            + heard
            + d(Ctr::FragHeld);
        prop_assert_eq!(
            outcomes,
            1 + d(Ctr::FragReleased) + d(Ctr::NeighEvicted),
            "sent {} queued {} dropped {:?} heard {}",
            sent,
            d(Ctr::NeighQueued),
            drops(&after),
            heard
        );
        // Whatever is forwarded is valid IPv4, and a TCP/UDP checksum that was
        // valid (or partial) on the way in is valid on the way out; but for
        // a fragment past the first, which holds no TCP/UDP header (its
        // datagram's checksum is in the first fragment).
        let later_fragment = frame.len() > 22 && (frame[20] & 0x1f != 0 || frame[21] != 0);
        if e.len() + i.len() == 1 && frame.len() > 14 && frame[12..14] == [8, 0] && !later_fragment
        {
            let out = e.first().or(i.first()).expect("one");
            let input_ok = m.csum_partial || l4_ok(frame);
            if input_ok {
                prop_assert!(l4_ok(out), "output does not verify: {:02x?}", out);
            }
        }
        Ok(())
    }

    fn mutation() -> impl Strategy<Value = (usize, Vec<(usize, u8)>, Option<usize>, bool)> {
        (
            0usize..11,
            prop::collection::vec((0usize..120, any::<u8>()), 0..4),
            prop::option::of(0usize..100),
            any::<bool>(),
        )
    }

    /// A fragment the ring marks with a partial checksum (which the
    /// property below once drew: a server's reply with MF set) is dropped:
    /// one fragment cannot complete its datagram's checksum, and no sender
    /// fragments such a packet. Forwarded, it went out with the partial sum
    /// patched as if it were a checksum.
    #[test]
    fn a_fragment_with_a_partial_checksum_is_dropped() {
        let mut lab = lab();
        let (nic, mut f) = bases()[2].clone();
        f[20] = 0x20;
        fix_ip_checksum(&mut f);
        make_partial(&mut f);
        let mut m = meta(&f);
        m.csum_partial = true;
        let before = lab.ctr(Ctr::DropFragment);
        lab.w().rx[nic].push_with(&f, m);
        let (e, i) = lab.poll_take();
        assert!(e.is_empty() && i.is_empty(), "{e:02x?} {i:02x?}");
        assert_eq!(lab.ctr(Ctr::DropFragment), before + 1);
        // The same fragment with its checksum whole goes on.
        let (nic, mut f) = bases()[2].clone();
        f[20] = 0x20;
        fix_ip_checksum(&mut f);
        feed(&mut lab, nic, &f, meta(&f)).expect("one outcome");
        assert_eq!(lab.ctr(Ctr::DropFragment), before + 1);
        assert_eq!(
            lab.ctr(Ctr::RxFragments),
            1,
            "the first never reached the table"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_have_one_outcome(
            frames in prop::collection::vec((any::<bool>(), prop::collection::vec(any::<u8>(), 0..120), any::<bool>()), 1..6)
        ) {
            let mut lab = lab();
            for (ext, mut bytes, to_us) in frames {
                let nic = if ext { Nic::Ext } else { Nic::Int };
                if to_us && bytes.len() >= 14 {
                    // Most random frames would stop at the MAC check: get some further.
                    bytes[..6].copy_from_slice(if ext { &EXT_MAC } else { &INT_MAC });
                    bytes[12] = 8;
                    bytes[13] = 0;
                }
                let m = meta(&bytes);
                feed(&mut lab, nic, &bytes, m)?;
            }
        }

        #[test]
        fn mutated_frames_have_one_outcome(muts in prop::collection::vec(mutation(), 1..6)) {
            let mut lab = lab();
            let bases = bases();
            for (which, edits, cut, partial) in muts {
                let (nic, mut f) = bases[which].clone();
                for (at, v) in edits {
                    if at < f.len() {
                        f[at] = v;
                    }
                }
                if let Some(c) = cut {
                    f.truncate(c.max(1));
                }
                // Keep most IPv4 headers valid so mutations reach deeper layers.
                if f.len() >= 34 && f[12..14] == [8, 0] && f[14] == 0x45 && which % 2 == 0 {
                    fix_ip_checksum(&mut f);
                }
                let mut m = meta(&f);
                m.csum_partial = partial && f.len() >= 34 && matches!(f[23], 6 | 17);
                if m.csum_partial {
                    // A partial checksum is only ever the pseudo-header sum.
                    let tl = usize::from(u16::from_be_bytes([f[16], f[17]]));
                    let at = 34 + if f[23] == 6 { 16 } else { 6 };
                    if tl >= 20 && 14 + tl <= f.len() && at + 2 <= 14 + tl {
                        make_partial(&mut f);
                    } else {
                        m.csum_partial = false;
                    }
                }
                feed(&mut lab, nic, &f, m)?;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// 9. Expiry
// ---------------------------------------------------------------------------

fn establish(lab: &mut MemDirector, cport: u16) {
    client_to_rs(lab, &tcp_frame(&L3::to_vip(), cport, 80, SYN));
    rs_to_client(
        lab,
        &tcp_frame(&L3::from_rs(RS1, CLIENT), 80, cport, SYN | ACK),
    );
    client_to_rs(lab, &tcp_frame(&L3::to_vip(), cport, 80, ACK));
}

#[test]
fn established_expires_after_900_s() {
    let mut lab = MemDirector::standard();
    let rs1 = lab.dest_id(Proto::Tcp, 80, RS1, 80);
    establish(&mut lab, 40000);
    assert_eq!(lab.published[0].gauges.get(rs1), (1, 0));
    lab.advance(Duration::from_secs(899));
    lab.poll();
    assert_eq!(lab.w().core.table.len(), 1);
    lab.advance(Duration::from_secs(1));
    lab.poll();
    assert_eq!(lab.w().core.table.len(), 0);
    assert_eq!(lab.ctr(Ctr::ConnExpired), 1);
    assert_eq!(lab.published[0].gauges.get(rs1), (0, 0));
    assert_eq!(state_gauge(&lab, State::Established), 0);
    let (e, i) = lab.ext(&tcp_frame(&L3::to_vip(), 40000, 80, ACK));
    assert!(e.is_empty() && i.is_empty());
    let (e, i) = lab.int(&tcp_frame(&L3::from_rs(RS1, CLIENT), 80, 40000, ACK));
    assert!(e.is_empty() && i.is_empty());
    assert_eq!(lab.ctr(Ctr::DropNoConn), 2);
}

/// Expiry stops for the rest of a second once every list was walked to its
/// end (nothing more can expire before the clock's next second), but not
/// when the pass's budget ran out first: the rest goes within the second.
#[test]
fn expiry_left_over_by_the_budget_goes_on_within_the_same_second() {
    use ringvs::dataplane::worker::EXPIRE_BUDGET;
    let mut lab = MemDirector::standard();
    let n = EXPIRE_BUDGET + 44;
    for k in 0..n {
        client_to_rs(
            &mut lab,
            &tcp_frame(&L3::to_vip(), 20000 + k as u16, 80, SYN),
        );
    }
    assert_eq!(lab.w().core.state_count(State::SynRecv), n as u32);
    lab.advance(Duration::from_secs(60));
    lab.poll();
    assert_eq!(lab.ctr(Ctr::ConnExpired), EXPIRE_BUDGET as u64);
    lab.poll();
    assert_eq!(lab.ctr(Ctr::ConnExpired), n as u64, "the same second");
    assert_eq!(lab.w().core.table.len(), 0);
}

/// New timeouts take effect at once, within the second in which expiry had
/// already found nothing to do.
#[test]
fn shorter_timeouts_expire_connections_within_the_same_second() {
    let mut lab = MemDirector::standard();
    establish(&mut lab, 40000);
    lab.advance(Duration::from_secs(100));
    lab.poll();
    assert_eq!(lab.w().core.table.len(), 1);
    // ipvsadm --set 50 0 0: ESTABLISHED times out after 50 s.
    lab.publish_with(|s| s.timeouts.set(50, 0, 0));
    lab.poll();
    assert_eq!(lab.w().core.table.len(), 0, "expired in the same second");
    assert_eq!(lab.ctr(Ctr::ConnExpired), 1);
}

#[test]
fn traffic_keeps_a_connection_alive() {
    let mut lab = MemDirector::standard();
    establish(&mut lab, 40000);
    lab.advance(Duration::from_secs(600));
    rs_to_client(
        &mut lab,
        &tcp_frame(&L3::from_rs(RS1, CLIENT), 80, 40000, ACK),
    );
    lab.advance(Duration::from_secs(899));
    lab.poll();
    assert_eq!(lab.w().core.table.len(), 1);
    client_to_rs(&mut lab, &tcp_frame(&L3::to_vip(), 40000, 80, ACK));
    lab.advance(Duration::from_secs(900));
    lab.poll();
    assert_eq!(lab.w().core.table.len(), 0);
}

#[test]
fn syn_recv_expires_after_60_s() {
    let mut lab = MemDirector::standard();
    let rs1 = lab.dest_id(Proto::Tcp, 80, RS1, 80);
    client_to_rs(&mut lab, &tcp_frame(&L3::to_vip(), 40000, 80, SYN));
    lab.advance(Duration::from_secs(59));
    lab.poll();
    assert_eq!(lab.w().core.state_count(State::SynRecv), 1);
    lab.advance(Duration::from_secs(1));
    lab.poll();
    assert_eq!(lab.w().core.table.len(), 0);
    assert_eq!(lab.published[0].gauges.get(rs1), (0, 0));
    let (e, i) = lab.ext(&tcp_frame(&L3::to_vip(), 40000, 80, ACK));
    assert!(e.is_empty() && i.is_empty());
    assert_eq!(lab.ctr(Ctr::DropNoConn), 1);
    // A new SYN makes a new connection (on the next server: rr moved on).
    let p = client_to_rs(&mut lab, &tcp_frame(&L3::to_vip(), 40000, 80, SYN));
    assert_eq!(p.dst, RS2);
}

#[test]
fn udp_expires_after_300_s() {
    let mut lab = lab_with(UDP_53);
    client_to_rs(&mut lab, &udp_frame(&L3::to_vip(), 5000, 53, b"q", true));
    lab.advance(Duration::from_secs(299));
    lab.poll();
    assert_eq!(lab.w().core.state_count(State::Udp), 1);
    lab.advance(Duration::from_secs(1));
    lab.poll();
    assert_eq!(lab.w().core.table.len(), 0);
    assert_eq!(lab.ctr(Ctr::ConnExpired), 1);
    let (e, i) = lab.int(&udp_frame(
        &L3::from_rs(RS1, CLIENT),
        5353,
        5000,
        b"late",
        true,
    ));
    assert!(e.is_empty() && i.is_empty());
    assert_eq!(lab.ctr(Ctr::DropNoConn), 1);
}

// ---------------------------------------------------------------------------
// Routing and table limits
// ---------------------------------------------------------------------------

const SEED_RULES: &[&str] = &[
    "-A -t 198.18.0.110:80 -s rr",
    "-a -t 198.18.0.110:80 -r 198.19.0.3:80 -m",
    "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
];

#[test]
fn off_link_clients_are_answered_through_the_gateway() {
    let gw: std::net::Ipv4Addr = "198.18.0.254".parse().unwrap();
    let gw_mac = [0x02, 0x66, 0, 0, 0, 0xfe];
    let far: std::net::Ipv4Addr = "198.18.7.9".parse().unwrap();
    let mut e = env();
    e.gateway = Some(gw);
    let mut lab = MemDirector::with_env(1, SEED_RULES, e, 1024);
    lab.resolve(Nic::Int, RS1, RS1_MAC);
    lab.resolve(Nic::Int, RS2, RS2_MAC);
    let l3 = L3 {
        src: far,
        ..L3::to_vip()
    };
    let p = client_to_rs(&mut lab, &tcp_frame(&l3, 40000, 80, SYN));
    assert_eq!(p.src, far);
    // The reply: the gateway is not resolved yet, so the director asks for it (not
    // for the far client) and holds the frame.
    let (ext, int) = lab.int(&tcp_frame(&L3::from_rs(p.dst, far), 80, 40000, SYN | ACK));
    assert!(ext.is_empty() && int.is_empty());
    assert!(
        lab.neigh_events().contains(&NeighEvent::Resolve {
            nic: Nic::Ext,
            ip: be(gw)
        }),
        "no resolution of the gateway"
    );
    lab.resolve(Nic::Ext, gw, gw_mac);
    let (ext, _) = lab.poll_take();
    let q = parse_ip(&one(ext));
    assert_eq!((q.src, q.dst, q.dst_mac), (VIP, far, gw_mac));
    // Without a gateway an off-link client could never be answered: its SYN creates
    // no connection (and moves no scheduler).
    let mut lab = MemDirector::with_env(1, SEED_RULES, env(), 1024);
    lab.resolve_all();
    let (ext, int) = lab.ext(&tcp_frame(&l3, 40000, 80, SYN));
    assert!(ext.is_empty() && int.is_empty());
    assert_eq!(lab.ctr(Ctr::DropBadSource), 1);
    assert_eq!(lab.ctr(Ctr::ConnNew), 0);
}

#[test]
fn sources_that_cannot_be_clients_open_nothing() {
    let mut lab = MemDirector::standard();
    for src in [
        "198.19.0.9",
        "198.19.0.1",
        "198.18.0.110",
        "198.18.0.2",
        "127.0.0.1",
        "0.0.0.1",
        "224.0.0.5",
        // The external /24's broadcast address (its network address is an
        // ordinary one since Linux 5.14).
        "198.18.0.255",
    ] {
        let l3 = L3 {
            src: src.parse().unwrap(),
            ..L3::to_vip()
        };
        let (ext, int) = lab.ext(&tcp_frame(&l3, 40000, 80, SYN));
        assert!(ext.is_empty() && int.is_empty(), "{src} was forwarded");
    }
    assert_eq!(lab.ctr(Ctr::DropBadSource), 8);
    assert_eq!(lab.ctr(Ctr::ConnNew), 0);
}

#[test]
fn icmp_errors_go_only_where_their_connection_goes() {
    let mut lab = lab_with(UDP_53);
    let fwd = {
        lab.w().rx[Nic::Ext].push(&udp_frame(&L3::to_vip(), 5000, 53, b"query!", true));
        let (_, i) = lab.poll_take();
        one(i)
    };
    // The real server reports an error about that datagram but addresses it to a
    // third host: the director must not relay it from the VIP.
    let third = std::net::Ipv4Addr::new(198, 18, 0, 77);
    let err = icmp_error(&L3::from_rs(RS1, third), 3, 3, [0; 4], &fwd, 64);
    let (e, i) = lab.int(&err);
    assert!(e.is_empty() && i.is_empty());
    assert_eq!(lab.ctr(Ctr::DropIcmpNoConn), 1);
    // Addressed to the client, it goes through.
    let err = icmp_error(&L3::from_rs(RS1, CLIENT), 3, 3, [0; 4], &fwd, 64);
    let (e, _) = lab.int(&err);
    assert_eq!(parse_ip(&one(e)).dst, CLIENT);
}

/// A full handshake for client port `cport` through the standard lab; returns
/// the real server it went to.
fn establish_any(lab: &mut MemDirector, cport: u16) -> std::net::Ipv4Addr {
    let p = client_to_rs(lab, &tcp_frame(&L3::to_vip(), cport, 80, SYN));
    let rs = p.dst;
    rs_to_client(
        lab,
        &tcp_frame(&L3::from_rs(rs, CLIENT), 80, cport, SYN | ACK),
    );
    client_to_rs(lab, &tcp_frame(&L3::to_vip(), cport, 80, ACK));
    rs
}

/// Both directions of an established connection still pass.
fn still_forwards(lab: &mut MemDirector, cport: u16, rs: std::net::Ipv4Addr) {
    let p = client_to_rs(lab, &tcp_frame(&L3::to_vip(), cport, 80, PSH | ACK));
    assert_eq!((p.dst, p.sport), (rs, cport));
    let q = rs_to_client(
        lab,
        &tcp_frame(&L3::from_rs(rs, CLIENT), 80, cport, PSH | ACK),
    );
    assert_eq!((q.src, q.dst, q.dport), (VIP, CLIENT, cport));
}

#[test]
fn a_full_table_of_established_connections_refuses_new_ones_and_keeps_old_ones() {
    let mut lab = MemDirector::with_env(1, SEED_RULES, env(), 3);
    lab.resolve_all();
    let rss: Vec<_> = (0..3).map(|i| establish_any(&mut lab, 40000 + i)).collect();
    assert_eq!(lab.w().core.state_count(State::Established), 3);
    // New clients are refused and counted; nothing is evicted.
    for i in 0..20 {
        let (ext, int) = lab.ext(&tcp_frame(&L3::from_client(CLIENT2), 50000 + i, 80, SYN));
        assert!(ext.is_empty() && int.is_empty());
    }
    assert_eq!(lab.ctr(Ctr::DropTableFull), 20);
    assert_eq!(lab.ctr(Ctr::ConnEvicted), 0);
    assert_eq!(lab.ctr(Ctr::ConnNew), 3);
    // The established connections still pass both ways.
    for (i, rs) in rss.into_iter().enumerate() {
        still_forwards(&mut lab, 40000 + i as u16, rs);
    }
    assert_eq!(lab.w().core.state_count(State::Established), 3);
    assert_eq!(
        drop_sum(&lab.w().core.ctr),
        20,
        "{:?}",
        drops(&lab.w().core.ctr)
    );
}

#[test]
fn a_full_table_of_half_open_entries_evicts_the_oldest_for_a_new_client() {
    let mut lab = MemDirector::with_env(1, SEED_RULES, env(), 4);
    lab.resolve_all();
    // Four SYN_RECV entries, one second apart: 40000 is the stalest.
    for i in 0..4 {
        client_to_rs(&mut lab, &tcp_frame(&L3::to_vip(), 40000 + i, 80, SYN));
        lab.advance(Duration::from_secs(1));
    }
    assert_eq!(lab.w().core.state_count(State::SynRecv), 4);
    // A new client gets in, in place of the stalest half-open entry.
    let p = client_to_rs(
        &mut lab,
        &tcp_frame(&L3::from_client(CLIENT2), 50000, 80, SYN),
    );
    assert_eq!((p.src, p.sport), (CLIENT2, 50000));
    assert_eq!(lab.ctr(Ctr::ConnEvicted), 1);
    assert_eq!(lab.ctr(Ctr::DropTableFull), 0);
    assert_eq!(lab.w().core.table.len(), 4);
    // 40000 is gone (its ACK is a packet of no connection), 40001 is still known.
    let (ext, int) = lab.ext(&tcp_frame(&L3::to_vip(), 40000, 80, ACK));
    assert!(ext.is_empty() && int.is_empty());
    assert_eq!(lab.ctr(Ctr::DropNoConn), 1);
    let p = client_to_rs(&mut lab, &tcp_frame(&L3::to_vip(), 40001, 80, ACK));
    assert_eq!(p.sport, 40001);
    // The new client completes its handshake and talks.
    let rs2 = lab
        .w()
        .core
        .conns()
        .find(|c| c.cport == 50000)
        .map(|c| c.rip);
    let rs2 = std::net::Ipv4Addr::from(rs2.expect("new client tracked"));
    rs_to_client(
        &mut lab,
        &tcp_frame(&L3::from_rs(rs2, CLIENT2), 80, 50000, SYN | ACK),
    );
    let p = client_to_rs(
        &mut lab,
        &tcp_frame(&L3::from_client(CLIENT2), 50000, 80, ACK),
    );
    assert_eq!(p.dst, rs2);
    // Gauges agree with the table: every entry counted once.
    let gauged: u32 = [RS1, RS2]
        .iter()
        .map(|rs| {
            let (a, i) = listed(&lab, &format!("{rs}:80"));
            a + i
        })
        .sum();
    assert_eq!(gauged as usize, lab.w().core.table.len());
}

#[test]
fn a_syn_flood_recycles_its_own_entries_and_spares_established_ones() {
    const MAX: usize = 8;
    let mut lab = MemDirector::with_env(1, SEED_RULES, env(), MAX);
    lab.resolve_all();
    let rss: Vec<_> = (0..4).map(|i| establish_any(&mut lab, 40000 + i)).collect();
    // A flood of SYNs from one client's many ports: every one is admitted (so a
    // legitimate new client can be too), by evicting the flood's older entries.
    const FLOOD: u64 = 500;
    for i in 0..FLOOD {
        if i % 100 == 0 {
            lab.advance(Duration::from_secs(1));
        }
        let f = tcp_frame(&L3::from_client(CLIENT2), 10000 + i as u16, 80, SYN);
        let (_, int) = lab.ext(&f);
        assert_eq!(int.len(), 1, "SYN {i} forwarded");
        // Established connections keep forwarding in the middle of it.
        if i % 97 == 0 {
            let k = (i / 97) as usize % 4;
            still_forwards(&mut lab, 40000 + k as u16, rss[k]);
        }
    }
    assert_eq!(lab.w().core.table.len(), MAX);
    assert_eq!(lab.w().core.state_count(State::Established), 4);
    assert_eq!(lab.w().core.state_count(State::SynRecv), 4);
    assert_eq!(lab.ctr(Ctr::ConnEvicted), FLOOD - 4);
    assert_eq!(lab.ctr(Ctr::DropTableFull), 0);
    assert_eq!(state_gauge(&lab, State::Established), 4);
    for (i, rs) in rss.into_iter().enumerate() {
        still_forwards(&mut lab, 40000 + i as u16, rs);
    }
    // Evicted entries leave the gauges like expired ones (SYN_RECV and
    // ESTABLISHED are both active).
    let (a1, i1) = listed(&lab, "198.19.0.2:80");
    let (a2, i2) = listed(&lab, "198.19.0.3:80");
    assert_eq!((a1 + a2, i1 + i2), (8, 0));
    assert_eq!(
        drop_sum(&lab.w().core.ctr),
        0,
        "{:?}",
        drops(&lab.w().core.ctr)
    );
}

#[test]
fn io_only_moves_frames_unchanged_but_for_the_macs() {
    let mut e = env();
    e.io_only = true;
    let mut lab = MemDirector::with_env(1, SEED_RULES, e, 1024);
    lab.resolve_all();
    // Addressed to a real server directly: no NAT, no connection.
    let l3 = L3 {
        dst: RS2,
        ..L3::to_vip()
    };
    let input = tcp_frame(&l3, 40000, 80, ACK);
    let (ext, int) = lab.ext(&input);
    assert!(ext.is_empty());
    let out = one(int);
    assert_eq!(&out[0..6], &RS2_MAC);
    assert_eq!(&out[6..12], &INT_MAC);
    assert_eq!(&out[12..], &input[12..], "payload and headers untouched");
    assert_eq!(lab.ctr(Ctr::ConnNew), 0);
    assert_eq!(lab.ctr(Ctr::FwdIn), 1);
    // And back.
    let back = tcp_frame(&L3::from_rs(RS2, CLIENT), 80, 40000, ACK);
    let (ext, _) = lab.int(&back);
    let out = one(ext);
    assert_eq!(&out[0..6], &CLIENT_MAC);
    assert_eq!(&out[12..], &back[12..]);
}

/// `--io-only` completes a checksum its sender left to an offload (as
/// every other path does, /work/shared/ARCHITECTURE.md §3): the segment
/// leaves with a checksum that verifies, not the pseudo-header sum; a
/// partial fragment is dropped (`drop_fragment`), as it is with NAT.
#[test]
fn io_only_completes_a_partial_checksum() {
    let mut e = env();
    e.io_only = true;
    let mut lab = MemDirector::with_env(1, SEED_RULES, e, 1024);
    lab.resolve_all();
    let l3 = L3 {
        dst: RS2,
        ..L3::to_vip()
    };
    for input in [
        tcp_seg(&l3, 40000, 80, ACK, 1, 1, b"partial data"),
        udp_frame(&l3, 40000, 53, b"partial datagram", true),
    ] {
        let mut input = input;
        make_partial(&mut input);
        lab.w().rx[Nic::Ext].push_with(&input, partial_meta(&input));
        let (e, i) = lab.poll_take();
        assert!(e.is_empty());
        let out = one(i);
        // parse_ip verifies the L4 checksum.
        let p = parse_ip(&out);
        assert_eq!((p.src, p.dst, p.ttl), (CLIENT, RS2, input[22]));
        assert_eq!(
            &out[12..14 + 20],
            &input[12..14 + 20],
            "IP header as it came"
        );
    }
    let mut frag = tcp_seg(&l3, 40000, 80, ACK, 1, 1, b"partial data");
    make_partial(&mut frag);
    frag[14 + 6] = 0x20; // M set
    frag[14 + 10..14 + 12].copy_from_slice(&[0, 0]);
    let sum = ringvs::wire::checksum::checksum(&frag[14..34]);
    frag[14 + 10..14 + 12].copy_from_slice(&sum.to_be_bytes());
    lab.w().rx[Nic::Ext].push_with(&frag, partial_meta(&frag));
    let (e, i) = lab.poll_take();
    assert!(e.is_empty() && i.is_empty());
    assert_eq!(lab.ctr(Ctr::DropFragment), 1);
    assert_eq!(lab.ctr(Ctr::FwdIn), 2);
}

// ---------------------------------------------------------------------------
// Per-real-server traffic, connection listings, scheduler inputs, persistence,
// expire_nodest_conn
// ---------------------------------------------------------------------------

use ringvs::config::ServiceKey;
use ringvs::dataplane::{Env, Sysctl};
use ringvs::nat::{ConnInfo, DestView, Timeouts};
use ringvs::stats::DestStats;
use std::net::Ipv4Addr;

const SVC: (u8, u32, u16) = (6, 0xc612_006e, 80);

/// Push a frame into worker `k`'s queue, poll every worker, return what worker `k`
/// sent as (ext, int).
fn push(lab: &mut MemDirector, k: usize, nic: Nic, f: &[u8]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    match nic {
        Nic::Ext => lab.workers[k].rx[Nic::Ext].push(f),
        Nic::Int => lab.workers[k].rx[Nic::Int].push(f),
    }
    lab.poll();
    let w = &mut lab.workers[k];
    (w.tx[Nic::Ext].take_sent(), w.tx[Nic::Int].take_sent())
}

/// Where a client SYN into worker `k` went.
fn syn_to(lab: &mut MemDirector, k: usize, client: Ipv4Addr, port: u16) -> Ipv4Addr {
    let (e, i) = push(
        lab,
        k,
        Nic::Ext,
        &tcp_frame(&L3::from_client(client), port, 80, SYN),
    );
    assert!(e.is_empty());
    parse_ip(&one(i)).dst
}

/// Remove a real server the way `ipvsadm -d` does (ids of the others kept).
fn remove_rs(lab: &mut MemDirector, rs: Ipv4Addr) {
    lab.cfg
        .del_dest(&ServiceKey::new(Proto::Tcp, VIP, 80), rs, 80)
        .expect("configured");
    lab.publish_with(|_| {});
}

/// Set `-x`/`-y` of one real server in the published snapshot.
fn thresholds(lab: &mut MemDirector, rs: Ipv4Addr, u: u32, l: u32) {
    let id = lab.dest_id(Proto::Tcp, 80, rs, 80);
    lab.publish_with(|s| {
        for svc in s.services.values_mut() {
            for d in svc.dests.iter_mut().filter(|d| d.id == id) {
                d.u_threshold = u;
                d.l_threshold = l;
            }
            svc.needs_counts = true;
        }
        // As the rules would give them, for the check at binds and unbinds.
        let mut limits = s.limits.to_vec();
        let i = id.0 as usize;
        limits.resize(limits.len().max(i + 1), (0, 0));
        limits[i] = (u, l);
        s.limits = limits.into();
    });
}

fn view(lab: &mut MemDirector, k: usize, rs: Ipv4Addr) -> DestView {
    lab.workers[k]
        .core
        .candidates(SVC)
        .expect("service")
        .into_iter()
        .find(|v| v.entry.addr == be(rs))
        .expect("listed")
}

fn establish_to(lab: &mut MemDirector, port: u16, rs: Ipv4Addr) {
    let c = L3::to_vip();
    assert_eq!(client_to_rs(lab, &tcp_frame(&c, port, 80, SYN)).dst, rs);
    rs_to_client(
        lab,
        &tcp_frame(&L3::from_rs(rs, CLIENT), 80, port, SYN | ACK),
    );
    client_to_rs(lab, &tcp_frame(&c, port, 80, ACK));
}

#[test]
fn dest_stats_count_connections_packets_and_bytes() {
    let mut lab = MemDirector::standard();
    let rs1 = lab.dest_id(Proto::Tcp, 80, RS1, 80);
    let rs2 = lab.dest_id(Proto::Tcp, 80, RS2, 80);
    let (c, s) = (L3::to_vip(), L3::from_rs(RS1, CLIENT));
    client_to_rs(&mut lab, &tcp_seg(&c, 40000, 80, SYN, 100, 0, &[]));
    rs_to_client(&mut lab, &tcp_seg(&s, 80, 40000, SYN | ACK, 500, 101, &[]));
    client_to_rs(
        &mut lab,
        &tcp_seg(&c, 40000, 80, ACK | PSH, 101, 501, &[7; 100]),
    );
    rs_to_client(
        &mut lab,
        &tcp_seg(&s, 80, 40000, ACK | PSH, 501, 201, &[9; 1000]),
    );
    client_to_rs(&mut lab, &tcp_frame(&c, 40001, 80, SYN));
    // Bytes are IP total lengths: 20 + 20 + payload.
    let want1 = DestStats {
        conns: 1,
        inpkts: 2,
        inbytes: 40 + 140,
        outpkts: 2,
        outbytes: 40 + 1040,
    };
    let want2 = DestStats {
        conns: 1,
        inpkts: 1,
        inbytes: 40,
        ..DestStats::default()
    };
    let p = &lab.published[0];
    assert_eq!(p.dest_stats(rs1), want1);
    assert_eq!(p.dest_stats(rs2), want2);
    // Dropped packets are not counted: RS1 answering for RS2's connection.
    let (e, i) = lab.int(&tcp_frame(&L3::from_rs(RS1, CLIENT), 80, 40001, ACK));
    assert!(e.is_empty() && i.is_empty());
    assert_eq!(lab.published[0].dest_stats(rs1), want1);
}

#[test]
fn connection_listing_has_addresses_states_and_expiry() {
    let mut lab = MemDirector::standard();
    assert!(lab.published[0].take_conns().is_none(), "not asked");
    establish_to(&mut lab, 40000, RS1);
    client_to_rs(&mut lab, &tcp_frame(&L3::to_vip(), 40001, 80, SYN));
    lab.advance(Duration::from_secs(10));
    let mut l = lab.conns(0);
    l.sort_by_key(|c| c.client.1);
    let to = Timeouts::default();
    let conn = |port, rs: Ipv4Addr, state| ConnInfo {
        proto: 6,
        client: (CLIENT.into(), port),
        vip: (VIP.into(), 80),
        dest: (rs.into(), 80),
        state,
        expires_in: to.secs(state) - 10,
        template: false,
        assured: false,
        pe: None,
    };
    assert_eq!(
        l,
        [
            conn(40000, RS1, State::Established),
            conn(40001, RS2, State::SynRecv)
        ]
    );
    // A packet refreshes the expiry.
    client_to_rs(&mut lab, &tcp_frame(&L3::to_vip(), 40000, 80, ACK));
    let l = lab.conns(0);
    let e = l.iter().find(|c| c.client.1 == 40000).expect("listed");
    assert_eq!(e.expires_in, to.secs(State::Established));
    lab.advance(Duration::from_secs(u64::from(to.secs(State::Established))));
    lab.poll();
    assert!(lab.conns(0).is_empty());
}

#[test]
fn scheduler_inputs_sum_the_gauges_of_every_worker() {
    let mut lab = MemDirector::with_workers(2, &[]);
    lab.reconfigure(&[
        "-A -t 198.18.0.110:80 -s rr",
        "-a -t 198.18.0.110:80 -r 198.19.0.3:80 -m",
        "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
    ]);
    lab.resolve_all();
    // Worker 0: an established connection to RS1.
    assert_eq!(syn_to(&mut lab, 0, CLIENT, 40000), RS1);
    push(
        &mut lab,
        0,
        Nic::Int,
        &tcp_frame(&L3::from_rs(RS1, CLIENT), 80, 40000, SYN | ACK),
    );
    push(
        &mut lab,
        0,
        Nic::Ext,
        &tcp_frame(&L3::to_vip(), 40000, 80, ACK),
    );
    // Worker 1: two half-open ones, to RS2 and RS1.
    assert_eq!(syn_to(&mut lab, 1, CLIENT, 40001), RS2);
    assert_eq!(syn_to(&mut lab, 1, CLIENT, 40002), RS1);
    // Half-open counts as active (`tcp_state_active_table`).
    for k in 0..2 {
        let v = view(&mut lab, k, RS1);
        assert_eq!((v.active, v.inactive, v.overloaded), (2, 0, false), "{k}");
        let v = view(&mut lab, k, RS2);
        assert_eq!((v.active, v.inactive, v.overloaded), (1, 0, false), "{k}");
    }
    // Over the upper threshold as soon as the total reaches it, whichever worker
    // looks.
    thresholds(&mut lab, RS1, 2, 0);
    lab.poll();
    assert!(view(&mut lab, 1, RS1).overloaded);
    assert!(view(&mut lab, 0, RS1).overloaded);
    assert!(!view(&mut lab, 0, RS2).overloaded);
    // Raising the threshold ends the overload.
    thresholds(&mut lab, RS1, 3, 0);
    lab.poll();
    assert!(!view(&mut lab, 0, RS1).overloaded);
}

/// `wlc` weighs a half-open connection as an active one (256), not as an
/// inactive one (1), because the kernel counts SYN_RECV as active
/// (`tcp_state_active_table`, `ip_vs_proto_tcp.c`): with two closed
/// connections on RS1 and one half-open on RS2, the next SYN goes to RS1
/// (2 against 256), where counting it inactive would send it to RS2 (2
/// against 1).
#[test]
fn wlc_weighs_a_half_open_connection_as_active() {
    let mut lab = lab_with(&[
        "-A -t 198.18.0.110:80 -s wlc",
        "-a -t 198.18.0.110:80 -r 198.19.0.3:80 -m",
        "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
    ]);
    let reset = |lab: &mut MemDirector, rs, port| {
        let (e, _) = lab.int(&tcp_frame(&L3::from_rs(rs, CLIENT), 80, port, RST));
        assert_eq!(e.len(), 1, "the server's RST reaches the client");
    };
    assert_eq!(syn_to(&mut lab, 0, CLIENT, 40001), RS1, "a tie: the first");
    reset(&mut lab, RS1, 40001);
    assert_eq!(syn_to(&mut lab, 0, CLIENT, 40002), RS2, "1 against 0");
    assert_eq!(syn_to(&mut lab, 0, CLIENT, 40003), RS1, "1 against 256");
    reset(&mut lab, RS1, 40003);
    assert_eq!(listed(&lab, "198.19.0.2:80"), (0, 2));
    assert_eq!(listed(&lab, "198.19.0.3:80"), (1, 0));
    assert_eq!(syn_to(&mut lab, 0, CLIENT, 40004), RS1, "2 against 256");
}

#[test]
fn overload_hysteresis_follows_connection_counts() {
    let mut lab = lab_with(&[
        "-A -t 198.18.0.110:80 -s rr",
        "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
    ]);
    thresholds(&mut lab, RS1, 4, 0);
    lab.poll();
    // Half-open connections (SYN_RECV, 60 s) opened at 0, 5, 10 and 10 s.
    let c = L3::to_vip();
    let at = |lab: &mut MemDirector, s: u64| {
        lab.now = lab.t0 + Duration::from_secs(s);
        lab.poll();
    };
    client_to_rs(&mut lab, &tcp_frame(&c, 1, 80, SYN));
    at(&mut lab, 5);
    client_to_rs(&mut lab, &tcp_frame(&c, 2, 80, SYN));
    at(&mut lab, 10);
    client_to_rs(&mut lab, &tcp_frame(&c, 3, 80, SYN));
    assert!(!view(&mut lab, 0, RS1).overloaded, "3 < 4");
    client_to_rs(&mut lab, &tcp_frame(&c, 4, 80, SYN));
    let v = view(&mut lab, 0, RS1);
    assert_eq!((v.active, v.overloaded), (4, true));
    // Down to 3: still overloaded (not below 3/4 of 4).
    at(&mut lab, 60);
    let v = view(&mut lab, 0, RS1);
    assert_eq!((v.active, v.overloaded), (3, true));
    // Down to 2: available again, and still at 3.
    at(&mut lab, 65);
    let v = view(&mut lab, 0, RS1);
    assert_eq!((v.active, v.overloaded), (2, false));
    client_to_rs(&mut lab, &tcp_frame(&c, 5, 80, SYN));
    assert!(!view(&mut lab, 0, RS1).overloaded);
    client_to_rs(&mut lab, &tcp_frame(&c, 6, 80, SYN));
    assert!(view(&mut lab, 0, RS1).overloaded);
    // With a lower threshold of 2 it stays overloaded down to 2.
    thresholds(&mut lab, RS1, 4, 2);
    at(&mut lab, 70);
    let v = view(&mut lab, 0, RS1);
    assert_eq!((v.active, v.overloaded), (2, true));
    at(&mut lab, 125);
    let v = view(&mut lab, 0, RS1);
    assert_eq!((v.active, v.overloaded), (0, false));
}

#[test]
fn upper_threshold_sends_new_connections_elsewhere() {
    let mut lab = MemDirector::standard();
    thresholds(&mut lab, RS1, 2, 0);
    let got: Vec<_> = (40000..40006)
        .map(|p| syn_to(&mut lab, 0, CLIENT, p))
        .collect();
    assert_eq!(got, [RS1, RS2, RS1, RS2, RS2, RS2]);
}

const PERSIST: &[&str] = &[
    "-A -t 198.18.0.110:80 -s rr -p 300",
    "-a -t 198.18.0.110:80 -r 198.19.0.3:80 -m",
    "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
];

fn templates(lab: &mut MemDirector) -> Vec<ConnInfo> {
    let mut t: Vec<_> = lab.conns(0).into_iter().filter(|c| c.template).collect();
    t.sort_by_key(|c| c.client.0);
    t
}

fn template(client: Ipv4Addr, rs: Ipv4Addr, expires_in: u32) -> ConnInfo {
    ConnInfo {
        proto: 6,
        client: (client.into(), 0),
        vip: (VIP.into(), 80),
        dest: (rs.into(), 80),
        state: State::None,
        expires_in,
        template: true,
        assured: false,
        pe: None,
    }
}

#[test]
fn persistence_keeps_a_client_on_one_server_across_ports_and_workers() {
    let mut lab = MemDirector::with_workers(2, PERSIST);
    lab.resolve_all();
    for (i, port) in (40000..40006).enumerate() {
        assert_eq!(syn_to(&mut lab, i % 2, CLIENT, port), RS1, "{port}");
    }
    // Another client (default netmask /32): its own template, the next server.
    assert_eq!(syn_to(&mut lab, 1, CLIENT2, 40000), RS2);
    assert_eq!(syn_to(&mut lab, 0, CLIENT2, 40001), RS2);
    assert_eq!(syn_to(&mut lab, 0, CLIENT, 40010), RS1);
    assert_eq!(
        templates(&mut lab),
        [template(CLIENT, RS1, 300), template(CLIENT2, RS2, 300)]
    );
    // Templates are listed once (by worker 0), connections by their worker.
    let (l0, l1) = (lab.conns(0), lab.conns(1));
    assert!(l1.iter().all(|c| !c.template));
    assert_eq!(l0.len() + l1.len(), 9 + 2);
}

#[test]
fn persistence_netmask_groups_clients() {
    let mut lab = lab_with(PERSIST);
    lab.publish_with(|s| {
        for svc in s.services.values_mut() {
            if let Some(p) = &mut svc.persist {
                p.mask = 0xffff_ff00;
            }
        }
    });
    assert_eq!(syn_to(&mut lab, 0, CLIENT, 40000), RS1);
    assert_eq!(syn_to(&mut lab, 0, CLIENT2, 40000), RS1);
    assert_eq!(
        templates(&mut lab),
        [template(Ipv4Addr::new(198, 18, 0, 0), RS1, 300)]
    );
}

/// `-E ... -M 255.255.255.0` while a client's connection uses its /32
/// template: its next connection makes a template of the /24, in another
/// shard; the old connection leaving does not uncount that one (each
/// shard's first template had generation 1 when each shard counted its
/// own), so it lives while its own connection does, re-armed at 300 and
/// 360 (`expire_later`), as IPVS's old connection counts off its own
/// control template (`cp->control`).
#[test]
fn a_connection_from_before_a_netmask_change_leaves_the_new_template_alone() {
    let mut lab = lab_with(PERSIST);
    establish_to(&mut lab, 40000, RS1);
    lab.publish_with(|s| {
        for svc in s.services.values_mut() {
            if let Some(p) = &mut svc.persist {
                p.mask = 0xffff_ff00;
            }
        }
    });
    // The new rules' rr starts again.
    establish_to(&mut lab, 40001, RS1);
    client_to_rs(&mut lab, &tcp_frame(&L3::to_vip(), 40000, 80, RST | ACK));
    // The old connection leaves its table (CLOSE, 10 s), then the marks.
    lab.advance(Duration::from_secs(20));
    lab.poll();
    lab.advance(Duration::from_secs(380));
    lab.poll();
    // (The /32 one, its connection gone from it at 10 s, went at 300.)
    let net = Ipv4Addr::new(198, 18, 0, 0);
    let of_net: Vec<_> = templates(&mut lab)
        .into_iter()
        .filter(|t| t.client.0 == net)
        .collect();
    let assured = |t: ConnInfo| ConnInfo { assured: true, ..t };
    assert_eq!(of_net, [assured(template(net, RS1, 20))]);
}

/// A connection leaving while its service is not persistent (`-E`
/// without `-p`) is taken off its template all the same, by the link it
/// holds, as IPVS's `ip_vs_conn_expire` calls `ip_vs_control_del` through
/// `cp->control` whatever the rules say: with `-p` back, the template
/// expires by its own timeout, and the client goes where rr picks. Before,
/// the leaving connection looked its template up through the rules, found
/// none, and the template counted it for ever (re-armed every 60 s,
/// keeping its client on RS1).
#[test]
fn a_connection_leaving_while_its_service_is_not_persistent_lets_its_template_go() {
    let mut lab = lab_with(PERSIST);
    establish_to(&mut lab, 40000, RS1);
    let persist = |lab: &mut MemDirector, on: bool| {
        lab.publish_with(|s| {
            for svc in s.services.values_mut() {
                svc.persist = svc.persist.filter(|_| on);
            }
        })
    };
    persist(&mut lab, false);
    client_to_rs(&mut lab, &tcp_frame(&L3::to_vip(), 40000, 80, RST | ACK));
    // The connection leaves its table (CLOSE, 10 s).
    lab.advance(Duration::from_secs(11));
    lab.poll();
    assert!(lab.conns(0).iter().all(|c| c.template));
    persist(&mut lab, true);
    lab.advance(Duration::from_secs(400));
    lab.poll();
    assert_eq!(templates(&mut lab), []);
    // The new rules' rr starts again: RS1 for another client, then RS2.
    assert_eq!(syn_to(&mut lab, 0, CLIENT2, 40000), RS1);
    assert_eq!(syn_to(&mut lab, 0, CLIENT, 40001), RS2);
}

/// `-D` of a persistent service under a live connection, then `-A` and
/// `-a` again: the template stays while its connection counts on it (the
/// sweep keeps it, its service gone or not; the kernel's
/// `__ip_vs_del_service` leaves connections and templates alone), and the
/// servers come back from the trash with their ids (`ip_vs_trash_get_dest`),
/// so `ip_vs_check_template` passes and the client goes back to its server,
/// where rr would pick the other. Before, the sweep dropped a template whose
/// service was gone within a round of the shards (16 s), whatever it
/// counted.
#[test]
fn a_template_outlives_its_service_deleted_under_a_live_connection() {
    let mut lab = MemDirector::new(&[
        "-A -t 198.18.0.110:80 -s rr -p 300",
        "-a -t 198.18.0.110:80 -r 198.19.0.3:80 -m",
        "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
        "-A -t 198.18.0.110:443 -s rr -p 300",
        "-a -t 198.18.0.110:443 -r 198.19.0.2:443 -m",
    ]);
    lab.resolve_all();
    establish_to(&mut lab, 40000, RS1);
    let http = ServiceKey::new(Proto::Tcp, VIP, 80);
    lab.cfg.del_service(&http).expect("deleted");
    publish_following(&mut lab);
    for _ in 0..17 {
        lab.advance(Duration::from_secs(1));
        lab.poll();
    }
    lab.cfg
        .add_service(http, ringvs::config::Scheduler::Rr, Some(300))
        .expect("added again");
    // RS2 last: rr would pick it first (as `PERSIST` has RS1 last).
    lab.cfg.add_dest(&http, RS1, 80, 1).expect("RS1");
    lab.cfg.add_dest(&http, RS2, 80, 1).expect("RS2");
    publish_following(&mut lab);
    assert_eq!(syn_to(&mut lab, 0, CLIENT, 40001), RS1);
    assert_eq!(syn_to(&mut lab, 0, CLIENT2, 40000), RS2, "rr's pick");
}

/// A shard of the persistence templates holds 16384 (`MAX_TEMPLATES` /
/// `TEMPLATE_SHARDS`): a new client whose shard is full is scheduled on its
/// own, without a template, and counted in `persist_untemplated` (a
/// deliberate cap: `ip_vs_sched_persist` has none). Before, nothing but the
/// SIP engine's datagrams counted it.
#[test]
fn a_client_whose_template_shard_is_full_is_scheduled_alone_and_counted() {
    use ringvs::nat::persist::{MAX_TEMPLATES, TEMPLATE_SHARDS, TemplateDest, TemplateKey};
    let mut lab = lab_with(PERSIST);
    let shared = &lab.shared.templates;
    let shard = shared.shard_of(&TemplateKey::new(SVC, CLIENT.to_bits(), u32::MAX));
    // Other services' templates (UDP, every port of the VIP) fill it.
    let to = TemplateDest {
        id: ringvs::config::DestId(0),
        addr: RS1.to_bits(),
        port: 53,
    };
    let mut left = MAX_TEMPLATES / TEMPLATE_SHARDS;
    'fill: for port in 1..=u16::MAX {
        for n in 0..256 {
            let k = TemplateKey::new((17, VIP.to_bits(), port), CLIENT.to_bits() + n, u32::MAX);
            if shared.shard_of(&k) == shard {
                assert!(shared.install(k, to, u32::MAX, 0, u32::MAX / 2, true));
                left -= 1;
                if left == 0 {
                    break 'fill;
                }
            }
        }
    }
    assert_eq!(left, 0);
    assert_eq!(syn_to(&mut lab, 0, CLIENT, 40000), RS1);
    assert_eq!(lab.ctr(Ctr::PersistUntemplated), 1);
    let of_client = templates(&mut lab)
        .into_iter()
        .filter(|t| t.client.0 == CLIENT && t.proto == 6)
        .count();
    assert_eq!(of_client, 0);
}

/// A connection evicted from a full table takes its template with it
/// when no other connection counts on it and none assured it, as IPVS's
/// `ip_vs_random_dropentry` deletes it by `ip_vs_conn_del` and
/// `ip_vs_conn_expire` then deletes its template not
/// `IP_VS_CTPL_S_ASSURED` (`ip_vs_conn.c`). Before, the template stayed
/// its 300 s, and a flood of spoofed SYNs filled the template shards
/// (`persist_untemplated` for real clients).
#[test]
fn an_evicted_connection_takes_its_unassured_template_along() {
    let mut lab = MemDirector::with_env(1, PERSIST, env(), 1);
    lab.resolve_all();
    assert_eq!(syn_to(&mut lab, 0, CLIENT, 40000), RS1);
    lab.advance(Duration::from_secs(1));
    assert_eq!(syn_to(&mut lab, 0, CLIENT2, 40000), RS2);
    assert_eq!(lab.ctr(Ctr::ConnEvicted), 1);
    let now = lab.now_s();
    assert_eq!(lab.shared.templates.len(now), 1);
    assert_eq!(templates(&mut lab), [template(CLIENT2, RS2, 300)]);
}

/// An assured template stays when its connection is evicted (the kernel
/// keeps an `IP_VS_CTPL_S_ASSURED` one for its timeout): the client's next
/// connection still goes to its server.
#[test]
fn an_evicted_connection_leaves_its_assured_template() {
    let mut lab = MemDirector::with_env(1, PERSIST, env(), 1);
    lab.resolve_all();
    establish_to(&mut lab, 40000, RS1);
    client_to_rs(&mut lab, &tcp_frame(&L3::to_vip(), 40000, 80, FIN | ACK));
    lab.advance(Duration::from_secs(1));
    assert_eq!(syn_to(&mut lab, 0, CLIENT2, 40000), RS2);
    assert_eq!(lab.ctr(Ctr::ConnEvicted), 1);
    let assured = |t: ConnInfo| ConnInfo { assured: true, ..t };
    assert_eq!(
        templates(&mut lab),
        [
            assured(template(CLIENT, RS1, 299)),
            template(CLIENT2, RS2, 300)
        ]
    );
}

/// Templates are swept while any is left, persistent service or not:
/// after `-D` of the only persistent service, its client's template goes
/// once its time runs out, and then no longer holds its server in the
/// trash (`Shared::held`), which is freed as IPVS's
/// `ip_vs_dest_trash_expire` frees a dest no template references. Before,
/// the sweep ran only while some service was persistent, so the template
/// stayed, expired but listed for `held`, and the server with it.
#[test]
fn templates_are_swept_with_no_persistent_service_left() {
    let mut lab = lab_with(PERSIST);
    assert_eq!(syn_to(&mut lab, 0, CLIENT, 40000), RS1);
    let id = lab.dest_id(Proto::Tcp, 80, RS1, 80);
    let http = ServiceKey::new(Proto::Tcp, VIP, 80);
    lab.cfg.del_service(&http).expect("deleted");
    publish_following(&mut lab);
    // SYN_RECV leaves at 60 s, the template at 300 s; a round of the
    // shards' sweep after.
    lab.advance(Duration::from_secs(61));
    lab.poll();
    assert_eq!(lab.w().core.table.len(), 0);
    lab.advance(Duration::from_secs(300 + 120 - 61));
    for _ in 0..16 {
        lab.advance(Duration::from_secs(1));
        lab.poll();
    }
    assert!(lab.shared.held(&lab.published, &[id]).is_empty());
}

#[test]
fn persistence_template_lives_while_connections_do_then_expires() {
    let mut lab = lab_with(PERSIST);
    establish_to(&mut lab, 40000, RS1);
    // Past the timeout, but a connection still depends on it: re-armed for
    // 60 s at 300 and 360 (`ip_vs_conn_expire`'s `expire_later`), so 20 s
    // are left at 400.
    lab.advance(Duration::from_secs(400));
    lab.poll();
    // Assured by the established connection (`ip_vs_control_assure_ct`).
    let assured = |t: ConnInfo| ConnInfo { assured: true, ..t };
    assert_eq!(templates(&mut lab), [assured(template(CLIENT, RS1, 20))]);
    // rr would say RS2; the template says RS1, and lives 60 s from now (its
    // timeout is 60 s since it was first re-armed).
    establish_to(&mut lab, 40001, RS1);
    assert_eq!(templates(&mut lab), [assured(template(CLIENT, RS1, 60))]);
    // Its connections go; it stays until its timeout.
    for port in [40000, 40001] {
        client_to_rs(&mut lab, &tcp_frame(&L3::to_vip(), port, 80, RST | ACK));
    }
    lab.advance(Duration::from_secs(11));
    lab.poll();
    assert!(lab.conns(0).iter().all(|c| c.template));
    assert_eq!(templates(&mut lab), [assured(template(CLIENT, RS1, 49))]);
    lab.advance(Duration::from_secs(49));
    lab.poll();
    assert!(templates(&mut lab).is_empty());
    // A new connection is scheduled again (rr's turn: RS2) under a new
    // template, not assured while its connection is only half open.
    assert_eq!(syn_to(&mut lab, 0, CLIENT, 40002), RS2);
    assert_eq!(templates(&mut lab), [template(CLIENT, RS2, 300)]);
}

/// A template is `ASSURED` (`IP_VS_CTPL_S_ASSURED`) once one of its
/// connections is established (`set_tcp_state`: `ip_vs_control_assure_ct`)
/// or, UDP, gets a reply (`udp_state_transition`), and `-L -c` says so;
/// a half-open connection or a request alone leaves it `NONE`.
#[test]
fn a_template_is_assured_by_an_established_connection_or_a_udp_reply() {
    let mut lab = lab_with(PERSIST);
    assert_eq!(syn_to(&mut lab, 0, CLIENT, 40000), RS1);
    assert!(!templates(&mut lab)[0].assured, "SYN_RECV");
    establish_to(&mut lab, 40001, RS1);
    let t = templates(&mut lab);
    assert!(t[0].assured, "{t:?}");
    let text = ringvs::config::format::format_conns(
        &t,
        &ringvs::config::listing::ListOpts::default(),
        &ringvs::config::names::Names::none(),
    );
    assert!(
        text.lines().nth(2).is_some_and(|l| l.contains(" ASSURED ")),
        "{text}"
    );
    // UDP: the request leaves it NONE, the reply assures it.
    let mut lab = MemDirector::new(&[
        "-A -u 198.18.0.110:53 -s rr -p 300",
        "-a -u 198.18.0.110:53 -r 198.19.0.2:53 -m",
    ]);
    lab.resolve_all();
    let (_, int) = lab.ext(&udp_frame(&L3::to_vip(), 5000, 53, b"q", true));
    assert_eq!(int.len(), 1);
    assert!(!templates(&mut lab)[0].assured, "a request alone");
    let (ext, _) = lab.int(&udp_frame(&L3::from_rs(RS1, CLIENT), 53, 5000, b"a", true));
    assert_eq!(ext.len(), 1);
    assert!(templates(&mut lab)[0].assured, "the reply");
}

#[test]
fn persistence_survives_quiescing_but_not_removal() {
    let mut lab = lab_with(PERSIST);
    assert_eq!(syn_to(&mut lab, 0, CLIENT, 40000), RS1);
    // Weight 0: the template is honoured (IPVS's default expire_quiescent_template).
    let rs1 = lab.dest_id(Proto::Tcp, 80, RS1, 80);
    lab.publish_with(|s| {
        for svc in s.services.values_mut() {
            for d in svc.dests.iter_mut().filter(|d| d.id == rs1) {
                d.weight = 0;
            }
        }
    });
    assert_eq!(syn_to(&mut lab, 0, CLIENT, 40001), RS1);
    // Removed: scheduled again, the template replaced.
    remove_rs(&mut lab, RS1);
    assert_eq!(syn_to(&mut lab, 0, CLIENT, 40002), RS2);
    assert_eq!(syn_to(&mut lab, 0, CLIENT, 40003), RS2);
    assert_eq!(templates(&mut lab), [template(CLIENT, RS2, 300)]);
}

/// `ipvsadm -d` then `-a` of the same server: IPVS takes its dest back from
/// the trash (`ip_vs_add_dest` → `ip_vs_trash_get_dest`), so its connections
/// flow again and its persistence templates still send their clients to it.
/// ringvs gives the server its id back; before, it came back as a new server
/// whose old connections were dropped (`drop_nodest_conn`) and templates
/// void.
#[test]
fn a_server_removed_and_added_again_keeps_its_connections_and_templates() {
    let mut lab = lab_with(PERSIST);
    establish_to(&mut lab, 40000, RS1);
    let id = lab.dest_id(Proto::Tcp, 80, RS1, 80);
    remove_rs(&mut lab, RS1);
    let (e, i) = lab.ext(&tcp_frame(&L3::to_vip(), 40000, 80, ACK));
    assert!(e.is_empty() && i.is_empty(), "dropped while removed");
    lab.cfg
        .add_dest(&ServiceKey::new(Proto::Tcp, VIP, 80), RS1, 80, 1)
        .expect("added again");
    publish_following(&mut lab);
    assert_eq!(lab.dest_id(Proto::Tcp, 80, RS1, 80), id);
    let to = client_to_rs(&mut lab, &tcp_frame(&L3::to_vip(), 40000, 80, ACK));
    assert_eq!(to.dst, RS1, "the connection flows again");
    assert_eq!(lab.ctr(Ctr::DropNoDestConn), 1);
    // rr's turn would be RS2; the template still names RS1.
    for port in [40001, 40002, 40003] {
        assert_eq!(syn_to(&mut lab, 0, CLIENT, port), RS1);
    }
}

/// IPVS's trash (`ip_vs_ctl.c`: `__ip_vs_del_dest`, `ip_vs_trash_get_dest`,
/// `ip_vs_dest_trash_expire`): a real server removed while a worker holds
/// its connection keeps its id and counters while the connection lives, and
/// for `TRASH_PERIOD` after it went; added back in that time it has them
/// again, added after it is a new server (a new id, counters from 0). The
/// control thread's sweep is `Config::sweep_trash` with what `Shared::held`
/// finds in the workers, here at injected times.
#[test]
fn a_removed_server_is_kept_while_its_connection_lives_and_freed_a_period_after() {
    let mut lab = lab_with(&[
        "-A -t 198.18.0.110:80 -s rr",
        "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
    ]);
    let svc = ServiceKey::new(Proto::Tcp, VIP, 80);
    establish_to(&mut lab, 40000, RS1);
    let id = lab.dest_id(Proto::Tcp, 80, RS1, 80);
    let stats = |lab: &MemDirector, id| lab.published[0].dest_stats(id);
    assert_eq!((stats(&lab, id).conns, stats(&lab, id).inpkts), (1, 2));
    remove_rs(&mut lab, RS1);
    let sweep = |lab: &mut MemDirector, t: u64| {
        let ids = lab.cfg.trashed_ids();
        let loaded = lab.shared.loaded_by_all();
        let held = lab.shared.held(&lab.published, &ids);
        lab.cfg.sweep_trash(t, loaded, |d| held.contains(&d))
    };
    for t in [0, 200, 600] {
        assert_eq!(sweep(&mut lab, t), [], "its connection holds it at {t}");
    }
    // Added back while the connection lives: its id, counters and connection.
    assert_eq!(lab.cfg.add_dest(&svc, RS1, 80, 1), Ok(id));
    publish_following(&mut lab);
    let to = client_to_rs(&mut lab, &tcp_frame(&L3::to_vip(), 40000, 80, ACK));
    assert_eq!(to.dst, RS1);
    assert_eq!((stats(&lab, id).conns, stats(&lab, id).inpkts), (1, 3));
    remove_rs(&mut lab, RS1);
    // The connection times out (established: 900 s).
    lab.advance(Duration::from_secs(1000));
    lab.poll();
    assert_eq!(lab.w().core.table.len(), 0);
    assert_eq!(lab.published[0].gauges.get(id), (0, 0));
    assert_eq!(sweep(&mut lab, 1000), [], "idle from here");
    assert_eq!(sweep(&mut lab, 1119), []);
    assert_eq!(sweep(&mut lab, 1120), [id]);
    assert!(!lab.cfg.keeps_id(id));
    // Added after: a new server, with a new id, handed out fresh (the
    // control thread starts a fresh id's counters from 0 in listings, even
    // one an earlier server had: `control::report`'s
    // `a_removed_server_is_freed_a_period_after_nothing_names_it`).
    let new = lab.cfg.add_dest(&svc, RS1, 80, 1).expect("added");
    assert_ne!(new, id);
    assert_eq!(lab.cfg.take_fresh_ids().last(), Some(&new));
    publish_following(&mut lab);
    establish_to(&mut lab, 40001, RS1);
    assert_eq!((stats(&lab, new).conns, stats(&lab, new).inpkts), (1, 2));
}

/// IPVS's `lblc` cache holds the dest its entry names (`ip_vs_lblc.c`:
/// `ip_vs_lblc_new` takes `ip_vs_dest_hold`, released when the entry goes),
/// so a removed server its cache names stays in the trash past its
/// connections' `TRASH_PERIOD`, and added back it is the same server, for
/// the cache too: the destination goes to it again, though `wlc` would now
/// pick the other. ringvs's cache entries count in `Shared::held`; they
/// used not to, and the server came back as a new one the cache forgot.
#[test]
fn an_lblc_cache_entry_keeps_its_removed_server_in_the_trash() {
    let mut lab = lab_with(&[
        "-A -t 198.18.0.110:80 -s lblc",
        "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
        "-a -t 198.18.0.110:80 -r 198.19.0.3:80 -m",
    ]);
    let svc = ServiceKey::new(Proto::Tcp, VIP, 80);
    let c = L3::to_vip();
    let rs = client_to_rs(&mut lab, &tcp_frame(&c, 40000, 80, SYN)).dst;
    let id = lab.dest_id(Proto::Tcp, 80, rs, 80);
    lab.cfg.del_dest(&svc, rs, 80).expect("configured");
    publish_following(&mut lab);
    // Its connection times out (SYN_RECV here); only the cache names it.
    lab.advance(Duration::from_secs(1000));
    lab.poll();
    assert_eq!(lab.w().core.table.len(), 0);
    assert_eq!(lab.published[0].gauges.get(id), (0, 0));
    let sweep = |lab: &mut MemDirector, t: u64| {
        let ids = lab.cfg.trashed_ids();
        let loaded = lab.shared.loaded_by_all();
        let held = lab.shared.held(&lab.published, &ids);
        lab.cfg.sweep_trash(t, loaded, |d| held.contains(&d))
    };
    for t in [1000, 1120, 1500, 3000] {
        assert_eq!(sweep(&mut lab, t), [], "the cache holds it at {t}");
    }
    assert_eq!(lab.cfg.add_dest(&svc, rs, 80, 1), Ok(id), "its own id");
    publish_following(&mut lab);
    // The other server idle, this one busy: `wlc` would pick the other,
    // the cache keeps the destination on its server.
    lab.published[0].gauges.adjust(id, None, Some(true));
    assert_eq!(
        client_to_rs(&mut lab, &tcp_frame(&c, 40001, 80, SYN)).dst,
        rs
    );
}

/// IPVS (`ip_vs_in_hook`, `ip_vs_core.c`, `expire_nodest_conn` 0): a client
/// packet of a connection whose real server was removed is dropped silently and
/// the connection kept (it flows again if the server comes back); replies are
/// not checked (`ip_vs_out_hook`). ringvs used to forward the client's packets
/// to the removed server.
#[test]
fn removed_server_connections_drop_client_packets_by_default() {
    let mut lab = MemDirector::standard();
    establish_to(&mut lab, 40000, RS1);
    remove_rs(&mut lab, RS1);
    let (e, i) = lab.ext(&tcp_frame(&L3::to_vip(), 40000, 80, ACK));
    assert!(e.is_empty() && i.is_empty(), "dropped");
    assert_eq!(lab.ctr(Ctr::DropNoDestConn), 1);
    // A SYN of the same ports (an established connection: no port reuse) too.
    let (e, i) = lab.ext(&tcp_frame(&L3::to_vip(), 40000, 80, SYN));
    assert!(e.is_empty() && i.is_empty(), "dropped");
    assert_eq!(lab.ctr(Ctr::DropNoDestConn), 2);
    // The connection stays, and the server's replies still reach the client.
    assert_eq!(lab.w().core.state_count(State::Established), 1);
    assert_eq!(lab.ctr(Ctr::ConnExpired), 0);
    let q = rs_to_client(
        &mut lab,
        &tcp_frame(&L3::from_rs(RS1, CLIENT), 80, 40000, ACK),
    );
    assert_eq!(q.src, VIP);
    // New connections go to the servers left.
    assert_eq!(syn_to(&mut lab, 0, CLIENT, 40001), RS2);
}

/// A removed server's traffic counts on no server, as IPVS counts a packet
/// only on a server still `IP_VS_DEST_F_AVAILABLE` (`ip_vs_in_stats`,
/// `ip_vs_out_stats`, `ip_vs_core.c`): its replies and the ICMP errors of
/// either side about its connection are still forwarded
/// (`expire_nodest_conn` 0), uncounted; a client's packet is dropped
/// before it is counted (`ip_vs_in_hook`).
#[test]
fn a_removed_servers_forwarded_traffic_counts_on_no_server() {
    let mut lab = MemDirector::standard();
    let rs1 = lab.dest_id(Proto::Tcp, 80, RS1, 80);
    establish_to(&mut lab, 40000, RS1);
    // A segment as the server got it, for it to quote.
    let to_rs = {
        lab.w().rx[Nic::Ext].push(&tcp_frame(&L3::to_vip(), 40000, 80, ACK));
        let (_, i) = lab.poll_take();
        one(i)
    };
    let counted = lab.published[0].dest_stats(rs1);
    assert_eq!((counted.conns, counted.inpkts, counted.outpkts), (1, 3, 1));
    remove_rs(&mut lab, RS1);
    // The client's packet: dropped, uncounted.
    let (e, i) = lab.ext(&tcp_frame(&L3::to_vip(), 40000, 80, ACK));
    assert!(e.is_empty() && i.is_empty(), "dropped");
    // The server's reply: forwarded, uncounted.
    let reply = {
        let data = vec![0x42u8; 100];
        let s = L3::from_rs(RS1, CLIENT);
        lab.w().rx[Nic::Int].push(&tcp_seg(&s, 80, 40000, ACK | PSH, 9, 9, &data));
        let (e, _) = lab.poll_take();
        one(e)
    };
    assert_eq!(parse_ip(&reply).src, VIP);
    // An ICMP error about it from the client's side: to the server, uncounted.
    let mut l3 = L3::to_vip();
    l3.src = CLIENT;
    let err = icmp_error(&l3, 3, 4, [0, 0, 0x05, 0x78], &reply, 20 + 100);
    let (e, i) = lab.ext(&err);
    assert!(e.is_empty());
    assert_eq!(parse_ip(&one(i)).dst, RS1);
    // One from the server's side: to the client, uncounted.
    let err = icmp_error(&L3::from_rs(RS1, CLIENT), 3, 3, [0; 4], &to_rs, 64);
    let (e, i) = lab.int(&err);
    assert!(i.is_empty());
    assert_eq!(parse_ip(&one(e)).dst, CLIENT);
    assert_eq!(lab.ctr(Ctr::IcmpErrorNat), 2);
    assert_eq!(lab.published[0].dest_stats(rs1), counted);
}

/// `expire_nodest_conn` 1 (`ip_vs_in_hook`): the client packet of a removed
/// server's connection expires it and goes on as a packet of no connection: a
/// SYN is scheduled anew, anything else finds no connection. A reply expires
/// its connection too (IPVS's `ip_vs_expire_nodest_conn_flush` would have).
#[test]
fn expire_nodest_conn_expires_and_reschedules_connections_of_removed_servers() {
    let env = Env {
        sysctl: Sysctl {
            expire_nodest_conn: true,
            ..Sysctl::default()
        },
        ..env()
    };
    let mut lab = MemDirector::with_env(1, RR_80, env, 1024);
    lab.resolve_all();
    let rs1 = lab.dest_id(Proto::Tcp, 80, RS1, 80);
    establish_to(&mut lab, 40000, RS1);
    establish_to(&mut lab, 40001, RS2);
    assert_eq!(syn_to(&mut lab, 0, CLIENT, 40002), RS1);
    assert_eq!(syn_to(&mut lab, 0, CLIENT, 40003), RS2);
    establish_to(&mut lab, 40004, RS1);
    remove_rs(&mut lab, RS1);
    // In the pass that loads the rules, before that pass's step of the
    // flush (`dataplane/nodest.rs`, test
    // `expire_nodest_conn_flushes_a_removed_servers_connections_and_templates`)
    // reaches them: a client ACK, whose connection expires and which is
    // dropped as one of no connection; a SYN on the ports of RS1's
    // established connection, which expires it and is scheduled to the
    // server left; from the server side, a reply, which expires its
    // connection and is dropped.
    let new_before = lab.ctr(Ctr::ConnNew);
    let w = lab.w();
    w.rx[Nic::Ext].push(&tcp_frame(&L3::to_vip(), 40000, 80, ACK));
    w.rx[Nic::Ext].push(&tcp_frame(&L3::to_vip(), 40004, 80, SYN));
    w.rx[Nic::Int].push(&tcp_frame(&L3::from_rs(RS1, CLIENT), 80, 40002, SYN | ACK));
    let (e, i) = lab.poll_take();
    assert!(e.is_empty());
    assert_eq!(parse_ip(&one(i)).dst, RS2, "the SYN");
    assert_eq!(lab.ctr(Ctr::DropNoConn), 1);
    assert_eq!(lab.ctr(Ctr::DropNoDestConn), 1);
    assert_eq!(lab.ctr(Ctr::ConnExpired), 3);
    assert_eq!(lab.ctr(Ctr::ConnNew), new_before + 1);
    assert_eq!(lab.published[0].gauges.get(rs1), (0, 0));
    // RS2's connections are untouched; the expired client port opens anew.
    assert_eq!(
        client_to_rs(&mut lab, &tcp_frame(&L3::to_vip(), 40001, 80, ACK)).dst,
        RS2
    );
    assert_eq!(syn_to(&mut lab, 0, CLIENT, 40000), RS2);
    let l = lab.conns(0);
    assert_eq!(l.len(), 4);
    assert!(l.iter().all(|c| c.dest.0 == RS2));
}

/// `expire_nodest_conn` 1 and `-d` of a persistent service's server with
/// an idle connection: as `__ip_vs_del_dest` (`ip_vs_ctl.c`) queues
/// `ip_vs_expire_nodest_conn_flush` (`ip_vs_conn.c`), the workers flush
/// its connections and its templates without a packet of them (the other
/// server's stay). Added back 10 s later with its id from the trash, it
/// revives neither: the client's ACK finds no connection, and its next SYN
/// no template. Before, both waited for a packet or their timeouts, and
/// came back to life with the server.
#[test]
fn expire_nodest_conn_flushes_a_removed_servers_connections_and_templates() {
    use ringvs::nat::persist::TEMPLATE_SHARDS;
    let env = Env {
        sysctl: Sysctl {
            expire_nodest_conn: true,
            ..Sysctl::default()
        },
        ..env()
    };
    let mut lab = MemDirector::with_env(1, PERSIST, env, 1024);
    lab.resolve_all();
    let rs1 = lab.dest_id(Proto::Tcp, 80, RS1, 80);
    establish_to(&mut lab, 40000, RS1);
    assert_eq!(syn_to(&mut lab, 0, CLIENT2, 40000), RS2);
    assert_eq!(templates(&mut lab).len(), 2);
    remove_rs(&mut lab, RS1);
    // No packet: the passes alone flush (a template shard a pass).
    for _ in 0..=TEMPLATE_SHARDS {
        lab.poll();
    }
    let t = templates(&mut lab);
    assert_eq!(t.len(), 1, "{t:?}");
    assert_eq!(t[0].client.0, CLIENT2);
    assert_eq!(lab.w().core.table.len(), 1, "RS2's connection stays");
    assert_eq!(lab.published_ctr(Ctr::ConnExpired), 1);
    assert_eq!(lab.published[0].gauges.get(rs1), (0, 0));
    // Added back 10 s later: its id again, from the trash.
    lab.advance(Duration::from_secs(10));
    let http = ServiceKey::new(Proto::Tcp, VIP, 80);
    lab.cfg.add_dest(&http, RS1, 80, 1).expect("RS1");
    assert_eq!(lab.dest_id(Proto::Tcp, 80, RS1, 80), rs1);
    publish_following(&mut lab);
    let (e, i) = lab.ext(&tcp_frame(&L3::to_vip(), 40000, 80, ACK));
    assert!(e.is_empty() && i.is_empty(), "no connection revived");
    assert_eq!(lab.ctr(Ctr::DropNoConn), 1);
    // A new SYN of the client is scheduled afresh, with a new template.
    syn_to(&mut lab, 0, CLIENT, 40001);
    assert_eq!(templates(&mut lab).len(), 2);
}

/// A director with `--expire-nodest-conn`, `rules`, one worker per
/// `workers` and a table of `max` connections.
fn nodest_lab(workers: usize, rules: &[&str], max: usize) -> MemDirector {
    let env = Env {
        sysctl: Sysctl {
            expire_nodest_conn: true,
            ..Sysctl::default()
        },
        ..env()
    };
    let mut lab = MemDirector::with_env(workers, rules, env, max);
    lab.resolve_all();
    lab
}

/// SYNs from client ports `ports` into worker 0, a burst a pass.
fn syns(lab: &mut MemDirector, ports: std::ops::Range<u16>) {
    for p in ports {
        let f = tcp_frame(&L3::to_vip(), p, 80, SYN);
        lab.w().rx[Nic::Ext].push(&f);
        if p % 32 == 0 {
            lab.poll_take();
        }
    }
    lab.poll_take();
}

/// Connections of worker 0 to server `id`.
fn conns_to(lab: &mut MemDirector, id: ringvs::config::DestId) -> usize {
    lab.w().core.table.iter().filter(|c| c.dest() == id).count()
}

/// The `--expire-nodest-conn` flush drops at most `FLUSH_DROPS` (the
/// expiry's budget) connections a pass, so that a removed server with
/// many connections does not stall a pass (each drop leaves the index,
/// maybe takes a template shard's lock), and goes on from the first it
/// left: 300 connections of a removed server go in two passes, 256 and
/// 44. Before, up to 4096 a table went in one pass.
#[test]
fn the_nodest_flush_drops_a_budget_of_connections_a_pass() {
    use ringvs::dataplane::nodest::FLUSH_DROPS;
    let mut lab = nodest_lab(1, STANDARD, 1024);
    let (rs1, rs2) = (
        lab.dest_id(Proto::Tcp, 80, RS1, 80),
        lab.dest_id(Proto::Tcp, 80, RS2, 80),
    );
    syns(&mut lab, 10000..10600);
    assert_eq!(conns_to(&mut lab, rs1), 300);
    remove_rs(&mut lab, RS1);
    lab.poll();
    assert_eq!(lab.ctr(Ctr::ConnExpired), FLUSH_DROPS as u64);
    assert!(lab.w().core.walking(), "the flush goes on");
    lab.poll();
    assert_eq!(lab.ctr(Ctr::ConnExpired), 300);
    assert_eq!(conns_to(&mut lab, rs1), 0);
    assert_eq!(conns_to(&mut lab, rs2), 300);
    // Then the template shards left, one a pass (two walked already).
    for _ in 2..ringvs::nat::persist::TEMPLATE_SHARDS {
        assert!(
            lab.w().core.walking(),
            "the flush runs: no sleep between steps"
        );
        lab.poll();
    }
    assert!(!lab.w().core.walking(), "done: the worker may sleep");
}

/// A removal while a flush walks goes on from where the walk stands,
/// around the whole table again, where it started from the first entry:
/// removals closer together than a walk (a flapping health check) never
/// reached the table's tail. 4100 connections of RS2 come first, 10 of
/// RS1 after them; RS1 is removed, a pass walks the first 4096 entries,
/// RS2 is removed: the next pass goes on to RS1's (and the walk goes
/// round to RS2's first ones after).
#[test]
fn a_new_removal_does_not_take_the_nodest_flush_back_to_the_start() {
    let mut lab = nodest_lab(1, STANDARD, 8192);
    let (rs1, rs2) = (
        lab.dest_id(Proto::Tcp, 80, RS1, 80),
        lab.dest_id(Proto::Tcp, 80, RS2, 80),
    );
    set_weight(&mut lab, RS1, 0);
    syns(&mut lab, 10000..14100);
    set_weight(&mut lab, RS1, 1);
    set_weight(&mut lab, RS2, 0);
    syns(&mut lab, 20000..20010);
    assert_eq!(
        (conns_to(&mut lab, rs2), conns_to(&mut lab, rs1)),
        (4100, 10)
    );
    remove_rs(&mut lab, RS1);
    lab.poll();
    assert_eq!(lab.ctr(Ctr::ConnExpired), 0, "the first 4096: RS2's");
    remove_rs(&mut lab, RS2);
    lab.poll();
    assert_eq!(conns_to(&mut lab, rs1), 0, "the walk went on to them");
    for _ in 0..40 {
        lab.poll();
    }
    assert_eq!(lab.w().core.table.len(), 0);
    assert_eq!(lab.ctr(Ctr::ConnExpired), 4110);
}

/// Worker 0 walks the templates once every worker has loaded the rules
/// without the server (`Shared::loaded_by_all`): a worker a pass behind,
/// still on the rules with it, may make a template for it meanwhile,
/// which a walk before would have missed (it then lived its timeout, and
/// came back with the server from the trash).
#[test]
fn the_nodest_template_walk_waits_for_every_worker_to_leave_the_server() {
    use ringvs::nat::persist::TEMPLATE_SHARDS;
    let mut lab = nodest_lab(2, PERSIST, 1024);
    let with_rs1 = lab.shared.config.load_full();
    remove_rs(&mut lab, RS1);
    let without = lab.shared.config.load_full();
    let now = lab.now;
    for _ in 0..=TEMPLATE_SHARDS {
        lab.workers[0].poll_once(now);
    }
    // Its table walked, worker 0 waits for worker 1 to load the rules: no
    // step to take meanwhile, so it sleeps between looks (it spun).
    assert!(
        !lab.workers[0].core.walking(),
        "worker 0 spins while it waits for worker 1"
    );
    // Worker 1, a pass behind, on the rules with RS1 (rr's first): RS1
    // and a template for it.
    lab.shared.config.store(with_rs1);
    let f = tcp_frame(&L3::to_vip(), 40000, 80, SYN);
    lab.workers[1].rx[Nic::Ext].push(&f);
    lab.workers[1].poll_once(now);
    let sent = lab.workers[1].tx[Nic::Int].take_sent();
    assert_eq!(parse_ip(&one(sent)).dst, RS1);
    assert_eq!(templates(&mut lab).len(), 1);
    // Its next pass loads the rules without RS1.
    lab.shared.config.store(without);
    lab.shared.bump();
    lab.workers[1].poll_once(now);
    assert!(
        lab.workers[0].core.walking(),
        "every worker has the rules: the template walk goes at once"
    );
    for _ in 0..=TEMPLATE_SHARDS {
        lab.poll();
    }
    let t = templates(&mut lab);
    assert_eq!(t.len(), 0, "{t:?}");
}

/// Set the weight of `rs` in the published snapshot.
fn set_weight(lab: &mut MemDirector, rs: Ipv4Addr, weight: u32) {
    let id = lab.dest_id(Proto::Tcp, 80, rs, 80);
    lab.publish_with(|s| {
        for svc in s.services.values_mut() {
            for d in svc.dests.iter_mut().filter(|d| d.id == id) {
                d.weight = weight;
            }
        }
    });
}

/// A weight-0 server is available (IPVS: `IP_VS_DEST_F_AVAILABLE` stays set):
/// its connections keep flowing, a SYN on an established connection's ports
/// stays on it. With `expire_nodest_conn`, such a SYN is scheduled anew
/// (`ip_vs_in_hook`).
#[test]
fn quiesced_servers_keep_their_connections_and_expire_nodest_conn_reschedules_syns() {
    let mut lab = MemDirector::standard();
    establish_to(&mut lab, 40000, RS1);
    set_weight(&mut lab, RS1, 0);
    assert_eq!(
        client_to_rs(&mut lab, &tcp_frame(&L3::to_vip(), 40000, 80, ACK)).dst,
        RS1
    );
    assert_eq!(syn_to(&mut lab, 0, CLIENT, 40000), RS1);
    assert_eq!(lab.ctr(Ctr::ConnNew), 1);
    assert_eq!(lab.ctr(Ctr::DropNoDestConn), 0);

    let env = Env {
        sysctl: Sysctl {
            expire_nodest_conn: true,
            ..Sysctl::default()
        },
        ..env()
    };
    let mut lab = MemDirector::with_env(1, RR_80, env, 1024);
    lab.resolve_all();
    establish_to(&mut lab, 40000, RS1);
    set_weight(&mut lab, RS1, 0);
    assert_eq!(
        client_to_rs(&mut lab, &tcp_frame(&L3::to_vip(), 40000, 80, ACK)).dst,
        RS1,
        "only a SYN is rescheduled"
    );
    assert_eq!(syn_to(&mut lab, 0, CLIENT, 40000), RS2);
    assert_eq!(lab.ctr(Ctr::ConnExpired), 1);
    assert_eq!(lab.ctr(Ctr::ConnNew), 2);

    // With `conn_reuse_mode` 0 too: since "ipvs: Fix reuse connection if
    // RS weight is 0" (2021) `ip_vs_in_hook` tests `conn_reuse_mode` only
    // for the `is_new_conn_expected` case, so a draining server still gets
    // no new connection.
    let env0 = Env {
        sysctl: Sysctl {
            expire_nodest_conn: true,
            conn_reuse_mode: 0,
            ..Sysctl::default()
        },
        ..inmem::env()
    };
    let mut lab = MemDirector::with_env(1, RR_80, env0, 1024);
    lab.resolve_all();
    establish_to(&mut lab, 40000, RS1);
    set_weight(&mut lab, RS1, 0);
    assert_eq!(syn_to(&mut lab, 0, CLIENT, 40000), RS2);
    assert_eq!(lab.ctr(Ctr::ConnExpired), 1);
    assert_eq!(lab.ctr(Ctr::ConnNew), 2);
}

/// Take the connection of `port` (established to `rs`) to TIME_WAIT: the real
/// server closes first, then the client.
fn to_time_wait(lab: &mut MemDirector, port: u16, rs: Ipv4Addr) {
    rs_to_client(
        lab,
        &tcp_frame(&L3::from_rs(rs, CLIENT), 80, port, FIN | ACK),
    );
    client_to_rs(lab, &tcp_frame(&L3::to_vip(), port, 80, FIN | ACK));
}

/// `conn_reuse_mode` 1 (IPVS's default; `ip_vs_in_hook` and
/// `is_new_conn_expected`, `ip_vs_core.c`): a SYN that meets a connection in
/// TIME_WAIT or CLOSE expires it and is scheduled like any new connection. A
/// retransmitted SYN (SYN_RECV) and an established connection's ports are not
/// reuse. ringvs used to send the SYN to the old connection's server.
#[test]
fn syn_reusing_the_ports_of_a_finished_connection_is_scheduled_anew() {
    let mut lab = MemDirector::standard();
    establish_to(&mut lab, 40000, RS1);
    to_time_wait(&mut lab, 40000, RS1);
    assert_eq!(lab.w().core.state_count(State::TimeWait), 1);
    // rr's next server is RS2: the SYN goes there, on a new connection.
    assert_eq!(syn_to(&mut lab, 0, CLIENT, 40000), RS2);
    assert_eq!(lab.ctr(Ctr::ConnExpired), 1);
    assert_eq!(lab.ctr(Ctr::ConnNew), 2);
    assert_eq!(lab.w().core.state_count(State::TimeWait), 0);
    assert_eq!(lab.w().core.state_count(State::SynRecv), 1);
    // Its SYN again (retransmitted): the same connection, the same server.
    assert_eq!(syn_to(&mut lab, 0, CLIENT, 40000), RS2);
    assert_eq!(lab.ctr(Ctr::ConnNew), 2);
    // Established, then reset by the client (CLOSE): the next SYN is
    // scheduled anew, to RS1.
    rs_to_client(
        &mut lab,
        &tcp_frame(&L3::from_rs(RS2, CLIENT), 80, 40000, SYN | ACK),
    );
    client_to_rs(&mut lab, &tcp_frame(&L3::to_vip(), 40000, 80, ACK));
    client_to_rs(&mut lab, &tcp_frame(&L3::to_vip(), 40000, 80, RST));
    assert_eq!(lab.w().core.state_count(State::Close), 1);
    assert_eq!(syn_to(&mut lab, 0, CLIENT, 40000), RS1);
    assert_eq!(lab.ctr(Ctr::ConnNew), 3);
    assert_eq!(lab.conns(0).len(), 1);
    // A reply of the old connection finds nothing.
    let (e, i) = lab.int(&tcp_frame(&L3::from_rs(RS2, CLIENT), 80, 40000, ACK));
    assert!(e.is_empty() && i.is_empty());
    assert_eq!(lab.ctr(Ctr::DropNoConn), 1);
    // The gauges follow: one active connection (SYN_RECV) on RS1, none on RS2.
    let (rs1, rs2) = (
        lab.dest_id(Proto::Tcp, 80, RS1, 80),
        lab.dest_id(Proto::Tcp, 80, RS2, 80),
    );
    assert_eq!(lab.published[0].gauges.get(rs1), (1, 0));
    assert_eq!(lab.published[0].gauges.get(rs2), (0, 0));
}

/// A SYN reusing a finished connection's ports binds its new connection
/// before the old one unbinds, as the kernel's old connection goes by its
/// timer (`ip_vs_conn_expire_now`, `ip_vs_conn.c`) after `ip_vs_conn_new`
/// bound the new one: with `-x 4`, RS1 at three connections (one in
/// TIME_WAIT) is overloaded by the reusing SYN's bind (four) and stays so
/// at three (not below three quarters of four), so the next connections
/// go to RS2. Unbinding first, RS1 took another.
#[test]
fn a_reused_port_binds_before_the_old_connection_unbinds() {
    let mut lab = MemDirector::standard();
    thresholds(&mut lab, RS1, 4, 0);
    establish_to(&mut lab, 40000, RS1);
    let to: Vec<_> = (40001..40006)
        .map(|p| syn_to(&mut lab, 0, CLIENT, p))
        .collect();
    assert_eq!(to, [RS2, RS1, RS2, RS1, RS2]);
    to_time_wait(&mut lab, 40000, RS1);
    assert_eq!(syn_to(&mut lab, 0, CLIENT, 40000), RS1, "reused, rr's turn");
    assert_eq!(lab.ctr(Ctr::ConnExpired), 1);
    let rs1 = lab.dest_id(Proto::Tcp, 80, RS1, 80);
    assert_eq!(lab.published[0].gauges.get(rs1), (3, 0));
    let to: Vec<_> = (40006..40009)
        .map(|p| syn_to(&mut lab, 0, CLIENT, p))
        .collect();
    assert_eq!(to, [RS2, RS2, RS2], "RS1 overloaded by the reusing bind");
}

#[test]
fn conn_reuse_mode_0_sends_a_reused_port_to_the_old_server() {
    let env = Env {
        sysctl: Sysctl {
            conn_reuse_mode: 0,
            ..Sysctl::default()
        },
        ..env()
    };
    let mut lab = MemDirector::with_env(1, RR_80, env, 1024);
    lab.resolve_all();
    establish_to(&mut lab, 40000, RS1);
    to_time_wait(&mut lab, 40000, RS1);
    assert_eq!(syn_to(&mut lab, 0, CLIENT, 40000), RS1);
    assert_eq!(lab.ctr(Ctr::ConnExpired), 0);
    assert_eq!(lab.ctr(Ctr::ConnNew), 1);
    assert_eq!(lab.w().core.state_count(State::SynRecv), 1);
}

/// A connection controlled by a persistence template is not expired by port
/// reuse (`is_new_conn_expected`: `cp->control`); the SYN reuses it.
#[test]
fn port_reuse_keeps_connections_of_a_persistence_template() {
    let mut lab = lab_with(PERSIST);
    establish_to(&mut lab, 40000, RS1);
    to_time_wait(&mut lab, 40000, RS1);
    assert_eq!(syn_to(&mut lab, 0, CLIENT, 40000), RS1);
    assert_eq!(lab.ctr(Ctr::ConnExpired), 0);
    assert_eq!(lab.ctr(Ctr::ConnNew), 1);
}

/// `expire_nodest_conn` reschedules a SYN on a weight-0 server's connection
/// even when a persistence template controls it: the merged "ipvs: Fix
/// reuse connection if RS weight is 0" (2021) tests `!cp->control` only in
/// the port-reuse case (`is_new_conn_expected`), not the weight-0 one, so
/// the connection is expired and `ip_vs_check_template` decides: the
/// template's RS1 (weight 0 but kept) without `expire_quiescent_template`,
/// RS2 with it.
#[test]
fn expire_nodest_conn_reschedules_a_weight_0_servers_persistent_connection() {
    for (quiescent, to) in [(false, RS1), (true, RS2)] {
        let env = Env {
            sysctl: Sysctl {
                expire_nodest_conn: true,
                expire_quiescent_template: quiescent,
                ..Sysctl::default()
            },
            ..env()
        };
        let mut lab = MemDirector::with_env(1, PERSIST, env, 1024);
        lab.resolve_all();
        establish_to(&mut lab, 40000, RS1);
        set_weight(&mut lab, RS1, 0);
        assert_eq!(syn_to(&mut lab, 0, CLIENT, 40000), to, "{quiescent}");
        assert_eq!(lab.ctr(Ctr::ConnExpired), 1, "{quiescent}");
        assert_eq!(lab.ctr(Ctr::ConnNew), 2, "{quiescent}");
    }
}

/// `expire_quiescent_template` (`ip_vs_check_template`, `ip_vs_conn.c`): a
/// template whose server has weight 0 is not used; the client is scheduled
/// anew. (Off, the default, is `persistence_survives_quiescing_but_not_removal`.)
#[test]
fn expire_quiescent_template_reschedules_clients_of_weight_0_servers() {
    let env = Env {
        sysctl: Sysctl {
            expire_quiescent_template: true,
            ..Sysctl::default()
        },
        ..env()
    };
    let mut lab = MemDirector::with_env(1, PERSIST, env, 1024);
    lab.resolve_all();
    assert_eq!(syn_to(&mut lab, 0, CLIENT, 40000), RS1);
    assert_eq!(syn_to(&mut lab, 0, CLIENT, 40001), RS1);
    set_weight(&mut lab, RS1, 0);
    assert_eq!(syn_to(&mut lab, 0, CLIENT, 40002), RS2);
    assert_eq!(syn_to(&mut lab, 0, CLIENT, 40003), RS2);
    assert_eq!(templates(&mut lab), [template(CLIENT, RS2, 300)]);
    // The connections already on RS1 stay there.
    assert_eq!(
        client_to_rs(&mut lab, &tcp_frame(&L3::to_vip(), 40000, 80, ACK)).dst,
        RS1
    );
}

/// `sloppy_tcp` (`tcp_conn_schedule`, `ip_vs_proto_tcp.c`): a director that
/// took over without the connections (no sync) schedules the next segment
/// of each, not only a SYN; with `sh` it reaches the server it had, and the
/// connection goes on ESTABLISHED (`tcp_states`: NONE and an input ACK). A
/// RST never makes a connection. Off (IPVS's default), the segment finds no
/// connection and is dropped.
#[test]
fn sloppy_tcp_picks_up_connections_a_director_did_not_see_open() {
    const SH: &[&str] = &[
        "-A -t 198.18.0.110:80 -s sh",
        "-a -t 198.18.0.110:80 -r 198.19.0.3:80 -m",
        "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
    ];
    let sloppy = |on| Env {
        sysctl: Sysctl {
            sloppy_tcp: on,
            ..Sysctl::default()
        },
        ..env()
    };
    // The director that saw the connections open.
    let mut first = MemDirector::with_env(1, SH, sloppy(false), 1024);
    first.resolve_all();
    // On-link clients (the test network has no gateway); `sh` hashes the
    // client's address.
    let clients: Vec<Ipv4Addr> = (10..30).map(|i| Ipv4Addr::new(198, 18, 0, i)).collect();
    let had: Vec<Ipv4Addr> = clients
        .iter()
        .map(|&c| syn_to(&mut first, 0, c, 40000))
        .collect();
    assert!(had.contains(&RS1) && had.contains(&RS2), "{had:?}");
    // Its standby, without them: off, the client's data finds nothing.
    let mut plain = MemDirector::with_env(1, SH, sloppy(false), 1024);
    plain.resolve_all();
    let (e, i) = plain.ext(&tcp_frame(&L3::to_vip(), 40000, 80, ACK | PSH));
    assert!(e.is_empty() && i.is_empty());
    assert_eq!(plain.ctr(Ctr::DropNoConn), 1);
    // Sloppy: each connection's next segment goes to the server it had.
    let mut second = MemDirector::with_env(1, SH, sloppy(true), 1024);
    second.resolve_all();
    for &c in &clients {
        second.resolve(Nic::Ext, c, CLIENT_MAC);
    }
    for (&c, &rs) in clients.iter().zip(&had) {
        let p = client_to_rs(
            &mut second,
            &tcp_frame(&L3::from_client(c), 40000, 80, ACK | PSH),
        );
        assert_eq!((p.src, p.dst, p.dport), (c, rs, 80));
        // The server's reply leaves from the VIP.
        let q = rs_to_client(&mut second, &tcp_frame(&L3::from_rs(rs, c), 80, 40000, ACK));
        assert_eq!((q.src, q.sport, q.dst), (VIP, 80, c));
    }
    let l = second.conns(0);
    assert_eq!(l.len(), had.len());
    assert!(l.iter().all(|c| c.state == State::Established), "{l:?}");
    assert_eq!(second.ctr(Ctr::ConnNew), had.len() as u64);
    // A RST of no connection makes none; a FIN does, in CLOSE.
    let (e, i) = second.ext(&tcp_frame(&L3::to_vip(), 41000, 80, RST | ACK));
    assert!(e.is_empty() && i.is_empty());
    assert_eq!(second.ctr(Ctr::DropNoConn), 1);
    client_to_rs(&mut second, &tcp_frame(&L3::to_vip(), 41001, 80, FIN | ACK));
    let fin = second.conns(0).into_iter().find(|c| c.client.1 == 41001);
    assert_eq!(fin.map(|c| c.state), Some(State::Close));
}

// ---------------------------------------------------------------------------
// Port-0 (catch-all) services
// ---------------------------------------------------------------------------

const PORT0: &[&str] = &[
    "-A -t 198.18.0.110:0 -s rr -p 60",
    "-a -t 198.18.0.110:0 -r 198.19.0.3:8080 -m",
    "-a -t 198.18.0.110:0 -r 198.19.0.2 -m",
];

/// A client SYN to `VIP:dport`: the frame the real server got.
fn syn_port(lab: &mut MemDirector, client: Ipv4Addr, sport: u16, dport: u16) -> Parsed {
    client_to_rs(lab, &tcp_frame(&L3::from_client(client), sport, dport, SYN))
}

/// `ip_vs_service_find` (`ip_vs_ctl.c`): a packet with no service of its port
/// takes the VIP's port-0 service; its template covers every port of the VIP;
/// the connection keeps the client's destination port (`ip_vs_sched_persist`:
/// a persistent service's server port is used only for the service's own port).
/// An exact port's service wins over port 0.
#[test]
fn port_0_service_takes_every_port_and_keeps_it() {
    let mut lab = lab_with(PORT0);
    let p = syn_port(&mut lab, CLIENT, 40000, 80);
    assert_eq!((p.dst, p.dport), (RS1, 80));
    let p = syn_port(&mut lab, CLIENT, 40001, 443);
    assert_eq!(
        (p.dst, p.dport),
        (RS1, 443),
        "the template holds every port"
    );
    // Another client: rr's next server, whose configured port is not used.
    let p = syn_port(&mut lab, CLIENT2, 40000, 22);
    assert_eq!((p.dst, p.dport), (RS2, 22));
    rs_to_client(
        &mut lab,
        &tcp_frame(&L3::from_rs(RS2, CLIENT2), 22, 40000, SYN | ACK),
    );
    client_to_rs(
        &mut lab,
        &tcp_frame(&L3::from_client(CLIENT2), 40000, 22, ACK),
    );
    // Replies come from the port the client asked for.
    let q = rs_to_client(
        &mut lab,
        &tcp_frame(&L3::from_rs(RS1, CLIENT), 443, 40001, SYN | ACK),
    );
    assert_eq!((q.src, q.sport), (VIP, 443));
    // UDP has no port-0 service here.
    let (e, i) = lab.ext(&udp_frame(&L3::to_vip(), 5000, 53, b"q", true));
    assert!(e.is_empty() && i.is_empty());
    assert_eq!(lab.ctr(Ctr::DropNoService), 1);
    // The templates are the service's: port 0, listed as ipvsadm does.
    let t = templates(&mut lab);
    assert_eq!(t.len(), 2);
    assert!(t.iter().all(|c| c.vip == (VIP.into(), 0)), "{t:?}");
    // Both of CLIENT's connections go at SYN_RECV's 60 s (a client's RST
    // leaves SYN_RECV as it is, IPVS's `tcp_states`), uncounted on the
    // port-0 template. They held it past its own 60 s, so it was re-armed
    // for 60 s more (`ip_vs_conn_expire`'s `expire_later`), and then goes.
    for (sport, dport) in [(40000, 80), (40001, 443)] {
        client_to_rs(&mut lab, &tcp_frame(&L3::to_vip(), sport, dport, RST));
    }
    lab.advance(Duration::from_secs(11));
    lab.poll();
    lab.advance(Duration::from_secs(50));
    lab.poll();
    let t = templates(&mut lab);
    assert_eq!(t.len(), 2, "re-armed: {t:?}");
    assert!(t.iter().all(|c| c.expires_in == 59), "{t:?}");
    lab.advance(Duration::from_secs(60));
    lab.poll();
    let t = templates(&mut lab);
    assert_eq!(t.len(), 1, "CLIENT's template released and expired: {t:?}");
    assert_eq!(t[0].client.0, CLIENT2);
    // An exact port's service takes its port back from port 0.
    let mut rules = PORT0.to_vec();
    rules.extend([
        "-A -t 198.18.0.110:80 -s rr",
        "-a -t 198.18.0.110:80 -r 198.19.0.3:8080 -m",
    ]);
    lab.reconfigure(&rules);
    let p = syn_port(&mut lab, CLIENT, 40002, 80);
    assert_eq!((p.dst, p.dport), (RS2, 8080));
    let p = syn_port(&mut lab, CLIENT, 40003, 81);
    assert_eq!(p.dport, 81);
}

const RR_80: &[&str] = &[
    "-A -t 198.18.0.110:80 -s rr",
    "-a -t 198.18.0.110:80 -r 198.19.0.3:80 -m",
    "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
];

// Scheduler state across publishes (issue 11): what the workers pick after a
// publish that follows the running snapshot, as `Ctl::publish` does.

/// Publish `lab.cfg` as the control thread does: following the snapshot the
/// workers run, so services keep their scheduler state.
fn publish_following(lab: &mut MemDirector) {
    let prev = lab.shared.config.load_full();
    let next = ringvs::nat::Snapshot::build_from(&lab.cfg, Timeouts::default(), Some(&prev));
    lab.shared.config.store(std::sync::Arc::new(next));
    lab.shared.bump();
}

#[test]
fn rr_position_survives_an_unrelated_adm_publish() {
    let mut lab = MemDirector::standard();
    assert_eq!(syn_to(&mut lab, 0, CLIENT, 40000), RS1);
    // `ipvsadm -A` of another service, and a server for it.
    let other = ServiceKey::new(Proto::Tcp, VIP, 443);
    lab.cfg
        .add_service(other, ringvs::config::Scheduler::Wlc, None)
        .expect("service");
    lab.cfg.add_dest(&other, RS1, 443, 1).expect("dest");
    publish_following(&mut lab);
    // rr resumes after its last choice instead of starting over.
    assert_eq!(syn_to(&mut lab, 0, CLIENT, 40001), RS2);
    assert_eq!(syn_to(&mut lab, 0, CLIENT, 40002), RS1);
}

#[test]
fn mh_quiesce_and_restore_through_the_workers_moves_nobody() {
    let mut lab = MemDirector::new(&[
        "-A -t 198.18.0.110:80 -s mh",
        "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
        "-a -t 198.18.0.110:80 -r 198.19.0.3:80 -m",
    ]);
    lab.resolve_all();
    // On-link clients (the test network has no gateway).
    let clients: Vec<Ipv4Addr> = (10..110).map(|i| Ipv4Addr::new(198, 18, 0, i)).collect();
    let first: Vec<Ipv4Addr> = clients
        .iter()
        .map(|&c| syn_to(&mut lab, 0, c, 40000))
        .collect();
    assert!(first.contains(&RS1) && first.contains(&RS2));
    let svc = ServiceKey::new(Proto::Tcp, VIP, 80);
    // `ipvsadm -e -w 0`: RS1 quiesced. Its clients find no server (no
    // mh-fallback); RS2's keep RS2.
    lab.cfg.edit_dest(&svc, RS1, 80, 0).expect("quiesce");
    publish_following(&mut lab);
    for (&c, &was) in clients.iter().zip(&first) {
        let (e, i) = push(
            &mut lab,
            0,
            Nic::Ext,
            &tcp_frame(&L3::from_client(c), 40001, 80, SYN),
        );
        if was == RS1 {
            // Refused (port unreachable, within the ICMP rate limit).
            assert!(i.is_empty(), "{c}: no server while RS1 is quiesced");
            assert!(e.len() <= 1, "{c}");
        } else {
            assert!(e.is_empty());
            assert_eq!(parse_ip(&one(i)).dst, RS2, "{c}");
        }
    }
    let refused = first.iter().filter(|&&w| w == RS1).count() as u64;
    let told = lab.ctr(Ctr::IcmpPortUnreach) + lab.ctr(Ctr::IcmpPortUnreachLimited);
    assert_eq!((lab.ctr(Ctr::DropNoDest), told), (refused, refused));
    // Restored: every client is back on its first server.
    lab.cfg.edit_dest(&svc, RS1, 80, 1).expect("restore");
    publish_following(&mut lab);
    for (&c, &was) in clients.iter().zip(&first) {
        assert_eq!(syn_to(&mut lab, 0, c, 40002), was, "{c}");
    }
}

// ---------------------------------------------------------------------------
// Issue 11: neighbors that move; path MTU
// ---------------------------------------------------------------------------

/// One step of the control thread (`control::neigh`) on the harness's table:
/// what the workers reported, the neighbors they used, then a tick, then
/// publish. Returns the probes it
/// would send.
fn control_step(lab: &mut MemDirector) -> Vec<ringvs::neigh::Probe> {
    let now = lab.now;
    let mut probes = Vec::new();
    for ev in lab.neigh_events() {
        probes.extend(lab.neigh.event(ev, now));
    }
    lab.neigh.note_use(&lab.shared.neigh_used, now);
    lab.neigh.tick(now, &mut probes);
    if let Some(s) = lab.neigh.take_snapshot() {
        lab.shared.neigh.store(std::sync::Arc::new(s));
        lab.shared.bump();
    }
    probes
}

/// A connection client:40000 → RS1; returns the MAC its next data segment goes to.
fn rs1_conn(lab: &mut MemDirector) {
    let p = client_to_rs(lab, &tcp_seg(&L3::to_vip(), 40000, 80, SYN, 1, 0, &[]));
    assert_eq!((p.dst, p.dst_mac), (RS1, RS1_MAC));
}

fn data_to_rs1_mac(lab: &mut MemDirector, seq: u32) -> [u8; 6] {
    let f = tcp_seg(&L3::to_vip(), 40000, 80, ACK, seq, 1, b"x");
    let p = client_to_rs(lab, &f);
    assert_eq!(p.dst, RS1);
    p.dst_mac
}

const RS1_NEW_MAC: [u8; 6] = [0x02, 0x55, 0, 0, 0, 0x22];

/// A forger claims RS1's address (gratuitous ARP, then a reply to the DIP) while
/// RS1 answers the unicast probes the claims trigger: the traffic never leaves
/// RS1's MAC, and no claim is ever adopted.
#[test]
fn neigh_forged_claim_is_ignored_while_the_owner_answers() {
    let mut lab = MemDirector::standard();
    rs1_conn(&mut lab);
    let claims = [
        arp_frame(1, OTHER_MAC, RS1, [0; 6], RS1, BCAST),
        arp_frame(2, OTHER_MAC, RS1, [0; 6], RS1, BCAST),
        arp_frame(2, OTHER_MAC, RS1, INT_MAC, DIP, INT_MAC),
    ];
    let mut seq = 2;
    for (k, claim) in claims.iter().enumerate() {
        let (e, i) = lab.int(claim);
        assert!(e.is_empty() && i.is_empty(), "claim {k} not answered");
        assert_eq!(lab.ctr(Ctr::ArpClaim), k as u64 + 1);
        let probes = control_step(&mut lab);
        assert_eq!(probes.len(), 1, "claim {k}: {probes:?}");
        assert_eq!(
            probes[0],
            Probe::Arp {
                nic: Nic::Int,
                ip: be(RS1),
                to: Some(ringvs::wire::Mac(RS1_MAC))
            },
            "unicast probe of the old MAC"
        );
        // The real RS1 answers the probe.
        lab.int(&arp_frame(2, RS1_MAC, RS1, INT_MAC, DIP, INT_MAC));
        for _ in 0..30 {
            assert_eq!(data_to_rs1_mac(&mut lab, seq), RS1_MAC, "claim {k}");
            seq += 1;
            lab.advance(Duration::from_millis(100));
            assert!(control_step(&mut lab).is_empty());
        }
    }
    assert_eq!((lab.neigh.moved, lab.neigh.refuted), (0, 3));
    assert_eq!(drop_sum(&lab.w().core.ctr), 0);
}

/// RS1 moves, and its new MAC is first heard in a broadcast ARP request for
/// another host (RS2), not to us: a claim as gratuitous ARP is (Linux's
/// `arp_process` updates a known entry from any ARP), verified by unicast
/// probes of the old MAC and adopted when it stays silent; not answered. The
/// same request from RS1's own MAC, or from a host we do not know, is not
/// ours and is dropped.
#[test]
fn neigh_move_heard_in_a_request_for_a_third_host_is_verified() {
    let mut lab = MemDirector::standard();
    rs1_conn(&mut lab);
    lab.advance(Duration::from_secs(5));
    for other in [
        arp_frame(1, RS1_MAC, RS1, [0; 6], RS2, BCAST),
        arp_frame(1, OTHER_MAC, NOT_OURS, [0; 6], RS2, BCAST),
    ] {
        let (e, i) = lab.int(&other);
        assert!(e.is_empty() && i.is_empty());
    }
    assert_eq!(lab.ctr(Ctr::DropArp), 2);
    let (e, i) = lab.int(&arp_frame(1, RS1_NEW_MAC, RS1, [0; 6], RS2, BCAST));
    assert!(e.is_empty() && i.is_empty(), "not ours to answer");
    assert_eq!(lab.ctr(Ctr::ArpClaim), 1);
    assert_eq!(lab.ctr(Ctr::ArpHeard), 1);
    assert_eq!(lab.ctr(Ctr::DropArp), 2);
    let mut probes = control_step(&mut lab);
    let old = Probe::Arp {
        nic: Nic::Int,
        ip: be(RS1),
        to: Some(ringvs::wire::Mac(RS1_MAC)),
    };
    assert_eq!(probes, [old], "the old MAC asked first");
    let mut seq = 2;
    for _ in 0..10 {
        lab.advance(Duration::from_millis(100));
        probes.extend(control_step(&mut lab));
    }
    assert_eq!(probes, [old; 3]);
    assert_eq!(data_to_rs1_mac(&mut lab, seq), RS1_NEW_MAC);
    seq += 1;
    assert_eq!(data_to_rs1_mac(&mut lab, seq), RS1_NEW_MAC);
    assert_eq!(lab.neigh.moved, 1);
}

/// RS1 really moves: its MAC changes and it says so with gratuitous ARP. Its old
/// MAC stays silent; the traffic goes on to the old MAC meanwhile and switches to
/// the new one within a second, with no frame lost.
#[test]
fn neigh_genuine_move_is_adopted_within_a_second() {
    let mut lab = MemDirector::standard();
    rs1_conn(&mut lab);
    lab.advance(Duration::from_secs(5));
    let (e, i) = lab.int(&arp_frame(1, RS1_NEW_MAC, RS1, [0; 6], RS1, BCAST));
    assert!(
        e.is_empty() && i.is_empty(),
        "gratuitous ARP is not answered"
    );
    assert_eq!(lab.ctr(Ctr::ArpClaim), 1);
    let moved_at = lab.now;
    let mut probes = control_step(&mut lab);
    let mut seq = 2;
    let switched = loop {
        let mac = data_to_rs1_mac(&mut lab, seq);
        seq += 1;
        let waited = lab.now - moved_at;
        if mac == RS1_NEW_MAC {
            break waited;
        }
        assert_eq!(mac, RS1_MAC);
        assert!(
            waited <= Duration::from_secs(1),
            "not switched after {waited:?}"
        );
        lab.advance(Duration::from_millis(100));
        probes.extend(control_step(&mut lab));
    };
    // 3 probes 250 ms apart, the switch seen at the next 100 ms control tick.
    assert_eq!(switched, Duration::from_millis(800));
    assert_eq!(probes.len(), 3, "{probes:?}");
    let old = Probe::Arp {
        nic: Nic::Int,
        ip: be(RS1),
        to: Some(ringvs::wire::Mac(RS1_MAC)),
    };
    assert!(probes.iter().all(|p| *p == old));
    assert_eq!(lab.neigh.moved, 1);
    assert_eq!(drop_sum(&lab.w().core.ctr), 0);
    assert_eq!(data_to_rs1_mac(&mut lab, seq), RS1_NEW_MAC);
}

/// Traffic keeps its real server fresh and nothing else: RS1, which a
/// connection uses every second, is probed by unicast each time its refresh
/// is due (it answers) and its frames never wait; RS2 and the clients,
/// which the workers send nothing to, go stale unprobed, still published
/// (Linux's `NUD_STALE`).
#[test]
fn neigh_only_what_traffic_uses_is_refreshed() {
    let mut lab = MemDirector::standard();
    rs1_conn(&mut lab);
    let rs1 = Probe::Arp {
        nic: Nic::Int,
        ip: be(RS1),
        to: Some(ringvs::wire::Mac(RS1_MAC)),
    };
    let mut probes = vec![];
    for seq in 2..122 {
        lab.advance(Duration::from_secs(1));
        assert_eq!(data_to_rs1_mac(&mut lab, seq), RS1_MAC, "at {seq} s");
        let sent = control_step(&mut lab);
        if !sent.is_empty() {
            // RS1 answers its probe.
            lab.int(&arp_frame(2, RS1_MAC, RS1, INT_MAC, DIP, INT_MAC));
        }
        probes.extend(sent);
    }
    assert!(probes.len() >= 2, "{probes:?}");
    assert!(probes.iter().all(|p| *p == rs1), "{probes:?}");
    for (nic, ip) in [(Nic::Int, RS2), (Nic::Ext, CLIENT), (Nic::Ext, CLIENT2)] {
        assert!(
            matches!(
                lab.neigh.state(nic, be(ip)),
                Some(ringvs::neigh::EntryState::Stale { .. })
            ),
            "{ip}: {:?}",
            lab.neigh.state(nic, be(ip))
        );
    }
    assert!(matches!(
        lab.neigh.state(Nic::Int, be(RS1)),
        Some(ringvs::neigh::EntryState::Reachable { .. })
    ));
    assert_eq!(lab.shared.neigh.load().len(), 4, "all still published");
    assert_eq!(lab.ctr(Ctr::NeighQueued), 0, "no frame waited");
    assert_eq!(drop_sum(&lab.w().core.ctr), 0);
}

/// A director whose internal NIC has MTU `mtu` (the external one 1500).
fn lab_int_mtu(mtu: usize) -> MemDirector {
    let mut lab = with_int_mtu(
        mtu,
        &[
            "-A -t 198.18.0.110:80 -s rr",
            "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
        ],
    );
    lab.resolve_all();
    lab
}

/// A director of `rules` whose internal NIC has MTU `mtu`, nobody resolved.
fn with_int_mtu(mtu: usize, rules: &[&str]) -> MemDirector {
    let mut env = env();
    env.mtu = [MTU, mtu];
    MemDirector::with_env(1, rules, env, 1024)
}

/// A client's DF segment too big for the internal MTU: dropped, and the client
/// gets ICMP 3/4 from the VIP with the internal MTU, quoting its segment as sent
/// (before translation) — what the kernel's `icmp_send` does under IPVS.
#[test]
fn pmtu_oversize_df_segment_gets_frag_needed_from_the_vip() {
    let mut lab = lab_int_mtu(1400);
    rs1_conn(&mut lab);
    let id = lab.dest_id(Proto::Tcp, 80, RS1, 80);
    let stats = |lab: &MemDirector| {
        let st = lab.published[0].dest_stats(id);
        (st.inpkts, st.inbytes, st.outpkts)
    };
    let (pkts, bytes, out) = stats(&lab);
    let big = tcp_seg(&L3::to_vip(), 40000, 80, ACK, 2, 1, &[0x5a; 1460]);
    assert_eq!(big.len(), 1514);
    let (e, i) = lab.ext(&big);
    assert!(i.is_empty(), "nothing forwarded");
    assert_eq!(lab.ctr(Ctr::DropTooBig), 1);
    assert_eq!(lab.ctr(Ctr::IcmpFragNeeded), 1);
    // Counted in the server's InPkts all the same, as IPVS's `ip_vs_in_hook`
    // counts it (`ip_vs_in_stats`) before `ip_vs_nat_xmit` refuses it.
    assert_eq!(stats(&lab), (pkts + 1, bytes + 1500, out));
    let p = parse_ip(&one(e));
    assert_eq!((p.src_mac, p.dst_mac), (EXT_MAC, CLIENT_MAC));
    assert_eq!((p.src, p.dst, p.proto), (VIP, CLIENT, 1));
    let icmp = Icmpv4Packet::new_checked(&p.l4[..]).expect("icmp");
    assert_eq!((u8::from(icmp.msg_type()), icmp.msg_code()), (3, 4));
    assert_eq!(u16::from_be_bytes([p.l4[6], p.l4[7]]), 1400, "next-hop MTU");
    // The quote: the IP header and 8 bytes of TCP, exactly as the client sent them.
    assert_eq!(p.payload, big[14..14 + 28]);
    let q = parse_quoted(&p);
    assert_eq!((q.src, q.dst, q.sport, q.dport), (CLIENT, VIP, 40000, 80));
    // A segment that fits still goes through.
    let fits = tcp_seg(&L3::to_vip(), 40000, 80, ACK, 2, 1, &[0x5a; 1360]);
    let f = client_to_rs(&mut lab, &fits);
    assert_eq!(f.dst, RS1);
}

/// An MTU the control thread read at run time (`Shared::mtu`, then an epoch
/// bump: `control::mtu`) is the workers' at their next pass: a segment that
/// fitted the start's 1500 is answered "fragmentation needed" with 1400.
#[test]
fn pmtu_an_mtu_changed_at_run_time_is_taken_at_the_next_pass() {
    let mut lab = lab_int_mtu(1500);
    rs1_conn(&mut lab);
    let big = tcp_seg(&L3::to_vip(), 40000, 80, ACK, 2, 1, &[0x5a; 1460]);
    let f = client_to_rs(&mut lab, &big);
    assert_eq!(f.dst, RS1, "fits 1500");
    lab.shared.mtu[1].store(1400, std::sync::atomic::Ordering::Relaxed);
    lab.shared.bump();
    let (e, i) = lab.ext(&big);
    assert!(i.is_empty(), "nothing forwarded");
    assert_eq!(lab.ctr(Ctr::IcmpFragNeeded), 1);
    let p = parse_ip(&one(e));
    assert_eq!(u16::from_be_bytes([p.l4[6], p.l4[7]]), 1400, "next-hop MTU");
}

/// A real server's DF segment too big for the external MTU: ICMP 3/4 back to it
/// from the DIP, quoting its segment untranslated (RS1:80 → client).
#[test]
fn pmtu_oversize_reply_gets_frag_needed_from_the_dip() {
    let mut env = env();
    env.mtu = [1280, MTU];
    let mut lab = MemDirector::with_env(
        1,
        &[
            "-A -t 198.18.0.110:80 -s rr",
            "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
        ],
        env,
        1024,
    );
    lab.resolve_all();
    rs1_conn(&mut lab);
    let big = tcp_seg(&L3::from_rs(RS1, CLIENT), 80, 40000, ACK, 1, 2, &[7; 1400]);
    let (e, i) = lab.int(&big);
    assert!(e.is_empty());
    let p = parse_ip(&one(i));
    assert_eq!((p.src_mac, p.dst_mac), (INT_MAC, RS1_MAC));
    assert_eq!((p.src, p.dst), (DIP, RS1));
    assert_eq!(&p.l4[..2], &[3, 4]);
    assert_eq!(u16::from_be_bytes([p.l4[6], p.l4[7]]), 1280);
    assert_eq!(p.payload, big[14..14 + 28]);
    assert_eq!(lab.ctr(Ctr::IcmpFragNeeded), 1);
}

/// No error for what IPVS does not answer: a packet without DF, or an ICMP
/// error being forwarded; both go on in fragments, as the kernel fragments
/// what `ip_vs_nat_xmit` and `ip_vs_icmp_xmit` send (`ip_do_fragment`).
#[test]
fn pmtu_no_error_without_df_or_for_icmp() {
    let mut lab = lab_int_mtu(1400);
    rs1_conn(&mut lab);
    let mut no_df = tcp_seg(&L3::to_vip(), 40000, 80, ACK, 2, 1, &[1; 1460]);
    no_df[20] = 0; // flags/fragment offset: DF clear
    fix_ip_checksum(&mut no_df);
    let (e, i) = lab.ext(&no_df);
    assert!(e.is_empty(), "no error to the client");
    assert_eq!(i.len(), 2, "in two fragments");
    for f in &i {
        assert_eq!((&f[..6], &f[6..12]), (&RS1_MAC[..], &INT_MAC[..]));
    }
    // 1400 − 20 = 1380, down to a multiple of 8: 1376 then the last 104.
    assert_eq!(i[0].len(), 14 + 20 + 1376);
    let whole = reassemble(&i, 1400);
    let mut want = no_df.clone();
    want[14..].copy_from_slice(&whole);
    let p = parse_ip(&want);
    assert_eq!(
        (p.src, p.dst, p.dport),
        (CLIENT, RS1, 80),
        "translated, checksum good"
    );
    assert_eq!(p.payload, [1; 1460], "and whole");
    assert_eq!(lab.ctr(Ctr::TxFragments), 2);
    assert_eq!(lab.ctr(Ctr::FwdIn), 2, "the SYN and this packet, once");
    assert_eq!(
        (lab.ctr(Ctr::DropTooBig), lab.ctr(Ctr::IcmpFragNeeded)),
        (0, 0)
    );
    // An ICMP error from the client's side about the connection (quoting what
    // we sent it, VIP:80 → client:40000), too big to forward.
    let sent = L3 {
        src: VIP,
        dst: CLIENT,
        ..L3::to_vip()
    };
    let quoted = tcp_seg(&sent, 80, 40000, ACK, 1, 2, &[]);
    let body = [&quoted[14..14 + 28], &[0u8; 1440][..]].concat();
    let err = icmp_frame(&L3::to_vip(), 3, 3, [0; 4], &body);
    assert!(err.len() > 1414);
    // Its DF notwithstanding it goes on in fragments, as `ip_vs_icmp_xmit`
    // marks it `ignore_df`, and no error answers an error.
    let (e, i) = lab.ext(&err);
    assert!(e.is_empty(), "no error about an error");
    assert_eq!(i.len(), 2, "{:?}", drops(&lab.w().core.ctr));
    let whole = reassemble(&i, 1400);
    assert_eq!(
        &whole[16..20],
        &RS1.octets(),
        "translated to the real server"
    );
    assert_eq!(whole[9], 1);
    assert_eq!(lab.ctr(Ctr::IcmpErrorNat), 1);
    assert_eq!(lab.ctr(Ctr::DropIcmpNoConn), 0);
    assert_eq!(
        (lab.ctr(Ctr::DropTooBig), lab.ctr(Ctr::IcmpFragNeeded)),
        (0, 0)
    );
}

/// Every next hop is asked for, as the kernel solicits every neighbour
/// whatever its queue (`__neigh_event_send`): with the worker's 16 pending
/// queues taken by 16 unresolved servers, a 17th server's frame is dropped
/// (`drop_neigh_queue`) but its server is asked for all the same; each
/// again only once `RETRANS` (1 s) passed, not at each frame.
#[test]
fn a_hop_finding_every_queue_taken_is_still_asked_for() {
    use ringvs::dataplane::tx::PENDING_HOPS;
    let servers: Vec<std::net::Ipv4Addr> = (0..=PENDING_HOPS as u8)
        .map(|k| [198, 19, 0, 2 + k].into())
        .collect();
    let mut rules = vec!["-A -t 198.18.0.110:80 -s rr".to_string()];
    for s in &servers {
        rules.push(format!("-a -t 198.18.0.110:80 -r {s}:80 -m"));
    }
    let rules: Vec<&str> = rules.iter().map(String::as_str).collect();
    let mut lab = MemDirector::new(&rules);
    lab.resolve(Nic::Ext, CLIENT, CLIENT_MAC);
    let mut port = 40000;
    let mut round = |lab: &mut MemDirector| {
        for _ in &servers {
            port += 1;
            let (e, i) = lab.ext(&tcp_frame(&L3::to_vip(), port, 80, SYN));
            assert!(e.is_empty() && i.is_empty());
        }
        lab.neigh_events()
    };
    let asked = round(&mut lab);
    let mut want: Vec<NeighEvent> = servers
        .iter()
        .map(|s| NeighEvent::Resolve {
            nic: Nic::Int,
            ip: be(*s),
        })
        .collect();
    let mut got = asked.clone();
    got.sort_by_key(|e| format!("{e:?}"));
    want.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(got, want, "every server asked for, the 17th too");
    assert_eq!(lab.ctr(Ctr::NeighQueued), PENDING_HOPS as u64);
    assert_eq!(lab.ctr(Ctr::DropNeighQueue), 1);
    // The one that found no queue was asked last.
    let unqueued = asked[PENDING_HOPS];
    // Within the second: nobody is asked again, a frame each.
    lab.advance(Duration::from_millis(900));
    assert_eq!(round(&mut lab), []);
    assert_eq!(lab.ctr(Ctr::DropNeighQueue), 2);
    // A second on, each is asked again, once: the unqueued one, and the
    // queued ones, whose last ask is a second old (a hop that failed
    // meanwhile is probed again at once).
    lab.advance(Duration::from_millis(100));
    let again = round(&mut lab);
    assert_eq!(again.iter().filter(|e| **e == unqueued).count(), 1);
    let mut got = again;
    got.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(got, want);
    assert_eq!(lab.ctr(Ctr::DropNeighQueue), 3);
}

/// The ask for a new next hop that finds the channel to the control thread
/// full is not lost: the worker asks again at its next pass, once, and
/// its frame goes when the answer comes.
#[test]
fn an_ask_the_full_channel_refused_is_sent_again() {
    let mut lab = MemDirector::new(&[
        "-A -t 198.18.0.110:80 -s rr",
        "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
    ]);
    lab.resolve(Nic::Ext, CLIENT, CLIENT_MAC);
    let filler = NeighEvent::Resolve {
        nic: Nic::Ext,
        ip: be(CLIENT),
    };
    while lab.neigh_tx.try_send(filler).is_ok() {}
    let (e, i) = lab.ext(&tcp_frame(&L3::to_vip(), 40000, 80, SYN));
    assert!(e.is_empty() && i.is_empty());
    assert_eq!(lab.ctr(Ctr::NeighQueued), 1);
    // A pass while the channel is still full: refused again.
    lab.poll_take();
    assert!(lab.neigh_events().iter().all(|e| *e == filler));
    // Room again: the next pass asks, once.
    let rs1 = NeighEvent::Resolve {
        nic: Nic::Int,
        ip: be(RS1),
    };
    lab.poll_take();
    assert_eq!(lab.neigh_events(), [rs1]);
    lab.poll_take();
    assert_eq!(lab.neigh_events(), []);
    lab.resolve(Nic::Int, RS1, RS1_MAC);
    let (_, i) = lab.poll_take();
    assert_eq!(i.len(), 1);
    assert_eq!(lab.ctr(Ctr::FwdIn), 1);
}

/// Fragments to a real server whose MAC is not known yet wait for it only
/// if the hop's queue holds them all (4 frames): 3 fragments wait and go
/// once it answers; 6 would not fit, and the packet is dropped whole
/// (`drop_neigh_queue`), none of its fragments queued.
#[test]
fn fragments_wait_for_arp_all_or_none() {
    for (mtu, pieces) in [(576, 3usize), (300, 6)] {
        let mut lab = with_int_mtu(
            mtu,
            &[
                "-A -u 198.18.0.110:53 -s rr",
                "-a -u 198.18.0.110:53 -r 198.19.0.2:53 -m",
            ],
        );
        lab.resolve(Nic::Ext, CLIENT, CLIENT_MAC);
        let mut big = udp_frame(&L3::to_vip(), 5000, 53, &[9; 1472], true);
        big[20] = 0; // DF clear
        fix_ip_checksum(&mut big);
        let (e, i) = lab.ext(&big);
        assert!(
            e.is_empty() && i.is_empty(),
            "{mtu}: nothing sent before ARP"
        );
        if pieces > ringvs::dataplane::tx::PENDING_PER_HOP {
            assert_eq!(lab.ctr(Ctr::NeighQueued), 0, "{mtu}: none queued");
            assert_eq!(lab.ctr(Ctr::DropNeighQueue), 1, "{mtu}: one drop");
            assert_eq!(lab.ctr(Ctr::TxFragments), 0);
            continue;
        }
        assert_eq!(lab.ctr(Ctr::NeighQueued), pieces as u64, "{mtu}");
        lab.resolve(Nic::Int, RS1, RS1_MAC);
        let (_, i) = lab.poll_take();
        assert_eq!(i.len(), pieces, "{mtu}: all sent once resolved");
        let whole = reassemble(&i, mtu);
        assert_eq!(&whole[16..20], &RS1.octets());
        assert_eq!(&whole[28..], &[9; 1472][..], "{mtu}: the datagram whole");
        assert_eq!(lab.ctr(Ctr::FwdIn), 1);
        assert_eq!(drop_sum(&lab.w().core.ctr), 0);
    }
}

/// Path MTU errors are never rate-limited, as the kernel's
/// (`icmpv4_mask_allow`, `net/ipv4/icmp.c`: "Don't limit PMTU discovery"):
/// every DF packet too big is answered, and other errors the director makes
/// keep their tokens.
#[test]
fn pmtu_errors_are_not_rate_limited() {
    let mut lab = lab_int_mtu(1400);
    rs1_conn(&mut lab);
    let big = tcp_seg(&L3::to_vip(), 40000, 80, ACK, 2, 1, &[0x5a; 1460]);
    let mut sent = 0;
    for _ in 0..200 {
        let (e, _) = lab.ext(&big);
        sent += e.len();
    }
    assert_eq!(sent, 200, "every one answered");
    assert_eq!(lab.ctr(Ctr::IcmpFragNeeded), 200);
    assert_eq!(lab.ctr(Ctr::IcmpFragNeededLimited), 0);
    assert_eq!(lab.ctr(Ctr::DropTooBig), 200);
    // The bucket is whole: a burst of time exceeded still gets its 50.
    let mut l3 = L3::to_vip();
    l3.ttl = 1;
    let expiring = tcp_frame(&l3, 40001, 80, SYN);
    let mut sent = 0;
    for _ in 0..60 {
        sent += lab.ext(&expiring).0.len();
    }
    assert_eq!(sent, 50);
}

/// The other errors the director makes are rate-limited per worker, as the
/// kernel's `icmp_global_allow` with its defaults: a burst of 50, then 1
/// per ms.
#[test]
fn time_exceeded_errors_are_rate_limited() {
    let mut lab = MemDirector::standard();
    let mut l3 = L3::to_vip();
    l3.ttl = 1;
    let expiring = tcp_frame(&l3, 40001, 80, SYN);
    let mut sent = 0;
    for _ in 0..200 {
        let (e, _) = lab.ext(&expiring);
        sent += e.len();
    }
    assert_eq!(sent, 50, "the burst");
    assert_eq!(lab.ctr(Ctr::IcmpTimeExceeded), 50);
    assert_eq!(lab.ctr(Ctr::IcmpTimeExceededLimited), 150);
    assert_eq!(lab.ctr(Ctr::DropTtl), 200);
    // 10 ms later: 10 more.
    lab.advance(Duration::from_millis(10));
    let mut sent = 0;
    for _ in 0..100 {
        let (e, _) = lab.ext(&expiring);
        sent += e.len();
    }
    assert_eq!(sent, 10);
    // Over a second at 2000 per second offered, about 1000 go out.
    let mut sent = 0;
    for _ in 0..1000 {
        lab.advance(Duration::from_micros(500));
        for _ in 0..2 {
            let (e, _) = lab.ext(&expiring);
            sent += e.len();
        }
    }
    assert!((500..=560).contains(&sent), "{sent} in 0.5 s");
}

/// With more connections than `dataplane::batch::PREFETCH_MIN_CONNS` (16 384)
/// the worker starts each burst's table lookups ahead of handling it. That
/// changes no outcome: in bursts that mix new and known connections and both
/// directions, every packet finds its own connection and is rewritten to its own
/// real server, or back to the VIP.
#[test]
fn bursts_over_a_large_table_find_every_connection() {
    const N: u16 = 20_000;
    let mut lab = MemDirector::with_env(1, RR_8080, env(), usize::from(N));
    lab.resolve_all();
    let c = L3::to_vip();
    let mut server = std::collections::HashMap::new();
    let drain = |lab: &mut MemDirector, out: &mut Vec<Vec<u8>>, back: &mut Vec<Vec<u8>>| {
        while !(lab.w().rx[Nic::Ext].is_empty() && lab.w().rx[Nic::Int].is_empty()) {
            let (e, i) = lab.poll_take();
            back.extend(e);
            out.extend(i);
        }
    };
    let (mut int, mut ext) = (Vec::new(), Vec::new());
    for p in 0..N {
        lab.w().rx[Nic::Ext].push(&tcp_frame(&c, 1024 + p, 80, SYN));
    }
    drain(&mut lab, &mut int, &mut ext);
    assert!(ext.is_empty());
    assert_eq!(lab.w().core.table.len(), usize::from(N));
    for f in int.drain(..) {
        let p = parse_ip(&f);
        assert_eq!(p.dport, 8080);
        server.insert(p.sport, p.dst);
    }
    assert_eq!(server.len(), usize::from(N));
    // Client ACKs in one order, the servers' SYN-ACKs in the other, so the
    // bursts of both NICs look up different connections.
    for p in 0..N {
        lab.w().rx[Nic::Ext].push(&tcp_frame(&c, 1024 + p, 80, ACK));
        let q = 1024 + N - 1 - p;
        let rs = server[&q];
        let reply = tcp_frame(&L3::from_rs(rs, CLIENT), 8080, q, SYN | ACK);
        lab.w().rx[Nic::Int].push(&reply);
    }
    drain(&mut lab, &mut int, &mut ext);
    assert_eq!((int.len(), ext.len()), (usize::from(N), usize::from(N)));
    for f in &int {
        let p = parse_ip(f);
        assert_eq!((p.dst, p.dport, p.flags), (server[&p.sport], 8080, ACK));
    }
    for f in &ext {
        let p = parse_ip(f);
        assert_eq!((p.src, p.sport, p.dst), (VIP, 80, CLIENT));
        assert!(server.contains_key(&p.dport));
    }
    assert_eq!(lab.ctr(Ctr::DropNoConn), 0);
    assert_eq!(lab.ctr(Ctr::FwdIn), 2 * u64::from(N));
    assert_eq!(lab.ctr(Ctr::FwdOut), u64::from(N));
}
