//! SCTP services (`ipvsadm -A --sctp-service`) through the workers, in
//! memory: an association is scheduled by its INIT alone
//! (`sctp_conn_schedule`, `ip_vs_proto_sctp.c`), tracked through IPVS's
//! states (`set_sctp_state`, `sctp_states`), NATed with its CRC32c computed
//! again where a port changes (`sctp_dnat_handler`, `sctp_snat_handler`),
//! and refused when damaged.

mod inmem;

use inmem::*;
use ringvs::Nic;
use ringvs::config::format::format_save;
use ringvs::config::names::Names;
use ringvs::nat::State;
use ringvs::stats::Ctr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// SCTP chunk types (RFC 9260 §3.2).
const INIT: u8 = 1;
const INIT_ACK: u8 = 2;
const SACK: u8 = 3;
const ABORT: u8 = 6;
const SHUTDOWN: u8 = 7;
const SHUTDOWN_ACK: u8 = 8;
const COOKIE_ECHO: u8 = 10;
const COOKIE_ACK: u8 = 11;
const SHUTDOWN_COMPLETE: u8 = 14;
const DATA: u8 = 0;

/// An INIT's fixed fields: initiate tag, a_rwnd, streams, initial TSN.
const INIT_VALUE: [u8; 16] = [
    0x9e, 0x8d, 0x52, 0x25, 0, 0, 0x80, 0, 0, 10, 8, 0, 0x46, 0x1a, 0xdf, 0x3d,
];

const SERVICE: &[&str] = &[
    "-A --sctp-service 198.18.0.110:5000 -s rr",
    "-a --sctp-service 198.18.0.110:5000 -r 198.19.0.3:5001 -m",
    "-a --sctp-service 198.18.0.110:5000 -r 198.19.0.2:5001 -m",
];

fn lab(rules: &[&str]) -> MemDirector {
    let mut d = MemDirector::new(rules);
    d.resolve_all();
    d
}

/// A client's SCTP packet to VIP:5000 from `sport`.
fn from_client(src: Ipv4Addr, sport: u16, vtag: u32, chunks: &[(u8, &[u8])]) -> Vec<u8> {
    ip_frame(
        &L3::from_client(src),
        132,
        &sctp_packet(sport, 5000, vtag, chunks),
    )
}

/// A real server's SCTP packet from `rs`:5001 to the client's `dport`.
fn from_rs(rs: Ipv4Addr, client: Ipv4Addr, dport: u16, chunks: &[(u8, &[u8])]) -> Vec<u8> {
    ip_frame(
        &L3::from_rs(rs, client),
        132,
        &sctp_packet(5001, dport, 0x1111_2222, chunks),
    )
}

/// The one frame that left by the internal NIC, parsed (CRC32c checked).
fn only_int((ext, int): (Vec<Vec<u8>>, Vec<Vec<u8>>)) -> Parsed {
    assert!(ext.is_empty(), "nothing back out");
    assert_eq!(int.len(), 1, "one frame to a real server");
    parse_ip(&int[0])
}

fn only_ext((ext, int): (Vec<Vec<u8>>, Vec<Vec<u8>>)) -> Parsed {
    assert!(int.is_empty(), "nothing to the real servers");
    assert_eq!(ext.len(), 1, "one frame to the client");
    parse_ip(&ext[0])
}

/// The state of the connection from the client's `cport`.
fn state_of(d: &mut MemDirector, cport: u16) -> Option<State> {
    d.conns(0)
        .iter()
        .find(|c| !c.template && c.client.1 == cport)
        .map(|c| c.state)
}

#[test]
fn associations_alternate_and_walk_ipvs_states() {
    let mut d = lab(SERVICE);
    let init = only_int(d.ext(&from_client(CLIENT, 40000, 0, &[(INIT, &INIT_VALUE)])));
    assert_eq!((init.dst, init.dport, init.sport), (RS1, 5001, 40000));
    assert_eq!((init.src, init.proto), (CLIENT, 132));
    // The chunks as they came: only the port and the CRC32c changed.
    assert_eq!(init.payload[..4], [INIT, 0, 0, 20]);
    assert_eq!(init.payload[4..20], INIT_VALUE);
    assert_eq!(state_of(&mut d, 40000), Some(State::SctpInit1));

    let ack = only_ext(d.int(&from_rs(RS1, CLIENT, 40000, &[(INIT_ACK, &INIT_VALUE)])));
    assert_eq!(
        (ack.src, ack.sport, ack.dst, ack.dport),
        (VIP, 5000, CLIENT, 40000)
    );
    assert_eq!(state_of(&mut d, 40000), Some(State::SctpCookieSent));
    let cookie = [7u8; 24];
    only_int(d.ext(&from_client(CLIENT, 40000, 7, &[(COOKIE_ECHO, &cookie)])));
    assert_eq!(state_of(&mut d, 40000), Some(State::SctpCookieReplied));
    only_ext(d.int(&from_rs(RS1, CLIENT, 40000, &[(COOKIE_ACK, &[])])));
    assert_eq!(state_of(&mut d, 40000), Some(State::SctpEstablished));
    // DATA and SACK keep it established.
    let data = only_int(d.ext(&from_client(
        CLIENT,
        40000,
        7,
        &[(DATA, &[0, 0, 0, 1, 0, 0, 0, 0, b'h', b'i', 0, 0])],
    )));
    assert_eq!(data.dst, RS1);
    only_ext(d.int(&from_rs(RS1, CLIENT, 40000, &[(SACK, &[0; 12])])));
    assert_eq!(state_of(&mut d, 40000), Some(State::SctpEstablished));

    // The next association goes to the other server (rr).
    let other = only_int(d.ext(&from_client(CLIENT2, 40001, 0, &[(INIT, &INIT_VALUE)])));
    assert_eq!((other.dst, other.dport), (RS2, 5001));

    // Shutdown, client first: SHUTDOWN, SHUTDOWN ACK, SHUTDOWN COMPLETE.
    only_int(d.ext(&from_client(CLIENT, 40000, 7, &[(SHUTDOWN, &[0; 4])])));
    assert_eq!(state_of(&mut d, 40000), Some(State::SctpShutdownReceived));
    only_ext(d.int(&from_rs(RS1, CLIENT, 40000, &[(SHUTDOWN_ACK, &[])])));
    assert_eq!(state_of(&mut d, 40000), Some(State::SctpShutdownAckSent));
    only_int(d.ext(&from_client(CLIENT, 40000, 7, &[(SHUTDOWN_COMPLETE, &[])])));
    assert_eq!(state_of(&mut d, 40000), Some(State::SctpClosed));
    // An INIT from the same port meets a CLOSED association: with
    // conn_reuse_mode 1 it is expired and scheduled anew (rr: RS1 next).
    let again = only_int(d.ext(&from_client(CLIENT, 40000, 0, &[(INIT, &INIT_VALUE)])));
    assert_eq!(again.dst, RS1);
    assert_eq!(state_of(&mut d, 40000), Some(State::SctpInit1));
    assert_eq!(d.ctr(Ctr::DropNoConn), 0);
}

/// RS1's ActiveConn and InActConn through an association's life: only
/// ESTABLISHED is active, as `set_sctp_state` (`ip_vs_proto_sctp.c`) moves a
/// connection to `activeconns` on entering `IP_VS_SCTP_S_ESTABLISHED` and
/// back to `inactconns` on leaving it (the handshake is inactive, unlike
/// TCP's SYN_RECV).
#[test]
fn only_an_established_association_is_active() {
    let mut d = lab(SERVICE);
    let id = d.dest_id(ringvs::config::Proto::Sctp, 5000, RS1, 5001);
    let mut seen = Vec::new();
    let mut look = |d: &MemDirector| seen.push(d.published[0].gauges.get(id));
    only_int(d.ext(&from_client(CLIENT, 40000, 0, &[(INIT, &INIT_VALUE)])));
    look(&d);
    only_ext(d.int(&from_rs(RS1, CLIENT, 40000, &[(INIT_ACK, &INIT_VALUE)])));
    look(&d);
    only_int(d.ext(&from_client(CLIENT, 40000, 7, &[(COOKIE_ECHO, &[7; 24])])));
    look(&d);
    only_ext(d.int(&from_rs(RS1, CLIENT, 40000, &[(COOKIE_ACK, &[])])));
    look(&d);
    only_int(d.ext(&from_client(CLIENT, 40000, 7, &[(SHUTDOWN, &[0; 4])])));
    look(&d);
    assert_eq!(seen, [(0, 1), (0, 1), (0, 1), (1, 0), (0, 1)]);
    assert_eq!(state_of(&mut d, 40000), Some(State::SctpShutdownReceived));
}

#[test]
fn only_an_init_opens_an_association() {
    let mut d = lab(SERVICE);
    // DATA, COOKIE ECHO or ABORT of no association: nothing is scheduled.
    for (i, chunk) in [DATA, COOKIE_ECHO, ABORT].into_iter().enumerate() {
        let (ext, int) = d.ext(&from_client(CLIENT, 41000, 9, &[(chunk, &[0; 8])]));
        assert!(ext.is_empty() && int.is_empty(), "chunk {chunk}");
        assert_eq!(d.ctr(Ctr::DropNoConn), i as u64 + 1);
    }
    // A packet of no chunk at all is malformed.
    let (ext, int) = d.ext(&from_client(CLIENT, 41000, 9, &[]));
    assert!(ext.is_empty() && int.is_empty());
    assert_eq!(d.ctr(Ctr::DropL4Malformed), 1);
    assert!(d.conns(0).is_empty());
    // An INIT whose CRC32c is wrong opens nothing either.
    let mut bad = from_client(CLIENT, 41000, 0, &[(INIT, &INIT_VALUE)]);
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let (ext, int) = d.ext(&bad);
    assert!(ext.is_empty() && int.is_empty());
    assert_eq!(d.ctr(Ctr::DropL4Checksum), 1);
    assert!(d.conns(0).is_empty());
    // A reply of no association is dropped as one.
    let (ext, int) = d.int(&from_rs(RS1, CLIENT, 41000, &[(INIT_ACK, &INIT_VALUE)]));
    assert!(ext.is_empty() && int.is_empty());
    // An INIT in IP fragments, to a server on another port, opens nothing:
    // its CRC32c could not be computed again (`drop_sctp_frag_port`).
    let init = from_client(CLIENT, 41001, 0, &[(INIT, &INIT_VALUE)]);
    for piece in cut(&init, 16) {
        let (ext, int) = d.ext(&piece);
        assert!(ext.is_empty() && int.is_empty());
    }
    assert_eq!(d.ctr(Ctr::DropSctpFragPort), 2);
    assert!(d.conns(0).is_empty());
}

/// `sloppy_sctp` (`sctp_conn_schedule`, `ip_vs_proto_sctp.c`): any packet
/// of no association whose first chunk is not ABORT is scheduled, and the
/// association goes on from its state table's NONE column (DATA from the
/// client: ESTABLISHED); an ABORT still opens nothing.
#[test]
fn sloppy_sctp_schedules_any_first_chunk_but_abort() {
    let env = ringvs::dataplane::Env {
        sysctl: ringvs::dataplane::Sysctl {
            sloppy_sctp: true,
            ..Default::default()
        },
        ..env()
    };
    let mut d = MemDirector::with_env(1, SERVICE, env, 1024);
    d.resolve_all();
    let p = only_int(d.ext(&from_client(CLIENT, 41000, 9, &[(DATA, &[0; 8])])));
    assert_eq!((p.dst, p.dport), (RS1, 5001));
    assert_eq!(state_of(&mut d, 41000), Some(State::SctpEstablished));
    // The server's answer goes back from the VIP.
    let q = only_ext(d.int(&from_rs(RS1, CLIENT, 41000, &[(SACK, &[0; 12])])));
    assert_eq!((q.src, q.sport), (VIP, 5000));
    let (ext, int) = d.ext(&from_client(CLIENT, 41001, 9, &[(ABORT, &[])]));
    assert!(ext.is_empty() && int.is_empty());
    assert_eq!(d.ctr(Ctr::DropNoConn), 1);
    assert_eq!(state_of(&mut d, 41001), None);
    // The first chunk's own type decides, as `sctp_conn_schedule` reads it:
    // a COOKIE ECHO with an ABORT behind it (an ABORT to the state table)
    // is scheduled.
    let bundle = [(COOKIE_ECHO, &[0u8; 8][..]), (ABORT, &[][..])];
    let p = only_int(d.ext(&from_client(CLIENT, 41002, 9, &bundle)));
    assert_eq!(p.dport, 5001);
    assert_eq!(d.ctr(Ctr::DropNoConn), 1);
}

/// Without a port change the CRC32c is not touched (it covers no address):
/// the SCTP bytes leave as they came, the addresses rewritten around them.
#[test]
fn a_port_kept_leaves_the_crc_as_it_came() {
    let mut d = lab(&[
        "-A --sctp-service 198.18.0.110:5000 -s rr",
        "-a --sctp-service 198.18.0.110:5000 -r 198.19.0.2 -m",
    ]);
    let sent = sctp_packet(40000, 5000, 0, &[(INIT, &INIT_VALUE)]);
    let init = only_int(d.ext(&ip_frame(&L3::from_client(CLIENT), 132, &sent)));
    assert_eq!((init.dst, init.dport), (RS1, 5000));
    assert_eq!(init.l4, sent);
}

/// An ABORT bundled after a COOKIE ECHO counts as ABORT (`set_sctp_state`):
/// the association closes; a server's ABORT of an INIT rejects it.
#[test]
fn an_abort_closes_or_rejects() {
    let mut d = lab(SERVICE);
    only_int(d.ext(&from_client(CLIENT, 42000, 0, &[(INIT, &INIT_VALUE)])));
    only_ext(d.int(&from_rs(RS1, CLIENT, 42000, &[(INIT_ACK, &INIT_VALUE)])));
    only_int(d.ext(&from_client(
        CLIENT,
        42000,
        7,
        &[(COOKIE_ECHO, &[1; 8]), (ABORT, &[])],
    )));
    assert_eq!(state_of(&mut d, 42000), Some(State::SctpClosed));
    only_int(d.ext(&from_client(CLIENT2, 42001, 0, &[(INIT, &INIT_VALUE)])));
    only_ext(d.int(&from_rs(RS2, CLIENT2, 42001, &[(ABORT, &[])])));
    assert_eq!(state_of(&mut d, 42001), Some(State::SctpRejected));
}

/// A real server's ICMP error about an association goes to its client with
/// the quoted packet translated back (`ip_vs_out_icmp`), the quoted CRC32c
/// left alone, as IPVS leaves it.
#[test]
fn icmp_errors_about_an_association_reach_the_client() {
    let mut d = lab(SERVICE);
    let sent = d
        .ext(&from_client(CLIENT, 43000, 0, &[(INIT, &INIT_VALUE)]))
        .1;
    assert_eq!(sent.len(), 1);
    // RS1 says "port unreachable" about the INIT it got.
    let err = icmp_error(&L3::from_rs(RS1, CLIENT), 3, 3, [0; 4], &sent[0], 32);
    let out = only_ext(d.int(&err));
    assert_eq!((out.src, out.dst, out.proto), (VIP, CLIENT, 1));
    let q = parse_quoted(&out);
    assert_eq!((q.src, q.sport), (CLIENT, 43000));
    assert_eq!((q.dst, q.dport, q.proto), (VIP, 5000, 132));
    assert_eq!(
        q.l4[8..12],
        sent[0][34 + 8..34 + 12],
        "quoted CRC untouched"
    );
}

/// DR: the client's chunks alone drive the state (INPUT-ONLY): INIT, then
/// COOKIE ECHO establishes; the packet leaves as it came.
#[test]
fn direct_routing_tracks_the_client_side() {
    let mut d = lab(&[
        "-A --sctp-service 198.18.0.110:5000 -s rr",
        "-a --sctp-service 198.18.0.110:5000 -r 198.19.0.2 -g",
    ]);
    let sent = sctp_packet(44000, 5000, 0, &[(INIT, &INIT_VALUE)]);
    let init = only_int(d.ext(&ip_frame(&L3::from_client(CLIENT), 132, &sent)));
    assert_eq!((init.dst, init.dport, init.dst_mac), (VIP, 5000, RS1_MAC));
    assert_eq!(init.l4, sent);
    assert_eq!(state_of(&mut d, 44000), Some(State::SctpInit1));
    only_int(d.ext(&from_client(CLIENT, 44000, 7, &[(COOKIE_ECHO, &[1; 8])])));
    assert_eq!(state_of(&mut d, 44000), Some(State::SctpEstablished));
}

/// `-S` and the listing: `--sctp-service`, as ipvsadm writes it.
#[test]
fn save_and_list_as_ipvsadm() {
    let mut d = lab(SERVICE);
    assert_eq!(
        format_save(&config(SERVICE), true, &Names::none()),
        "-A --sctp-service 198.18.0.110:5000 -s rr\n\
         -a --sctp-service 198.18.0.110:5000 -r 198.19.0.2:5001 -m -w 1\n\
         -a --sctp-service 198.18.0.110:5000 -r 198.19.0.3:5001 -m -w 1\n"
    );
    only_int(d.ext(&from_client(CLIENT, 45000, 0, &[(INIT, &INIT_VALUE)])));
    let conns = d.conns(0);
    assert_eq!(conns.len(), 1);
    let c = &conns[0];
    assert_eq!(
        (c.proto, c.client, c.vip, c.dest),
        (
            132,
            (IpAddr::V4(CLIENT), 45000),
            (IpAddr::V4(VIP), 5000),
            (IpAddr::V4(RS1), 5001)
        )
    );
    assert_eq!(c.state.name(), "INIT1");
}

/// IPv6: the same association over IPv6 (no pseudo-header in the CRC).
#[test]
fn ipv6_associations() {
    let mut d = MemDirector::dual_stack(&[
        "-A --sctp-service [2001:2:0:1::110]:5000 -s rr",
        "-a --sctp-service [2001:2:0:1::110]:5000 -r [2001:2:0:2::2]:5001 -m",
    ]);
    d.resolve6(Nic::Ext, CLIENT6, CLIENT_MAC);
    d.resolve6(Nic::Int, RS1_6, RS1_MAC);
    let sent = sctp_packet(46000, 5000, 0, &[(INIT, &INIT_VALUE)]);
    let frame = frames6::frame(&l3_to_vip6(), &[], 132, &sent);
    let (ext, int) = d.ext(&frame);
    assert!(ext.is_empty());
    assert_eq!(int.len(), 1, "{:?}", drops(&d.w().core.ctr));
    let out = &int[0];
    let l4 = &out[14 + 40..];
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&out[14 + 24..14 + 40]).expect("16"));
    assert_eq!(dst, RS1_6);
    assert_eq!(u16::from_be_bytes([l4[2], l4[3]]), 5001);
    assert!(sctp_crc_ok(l4));
    assert_eq!(l4[12..], sent[12..]);
    let reply = frames6::frame(
        &l3_from_rs6(RS1_6, CLIENT6),
        &[],
        132,
        &sctp_packet(5001, 46000, 9, &[(INIT_ACK, &INIT_VALUE)]),
    );
    let (ext, _) = d.int(&reply);
    assert_eq!(ext.len(), 1);
    let l4 = &ext[0][14 + 40..];
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(&ext[0][14 + 8..14 + 24]).expect("16"));
    assert_eq!((src, u16::from_be_bytes([l4[0], l4[1]])), (VIP6, 5000));
    assert!(sctp_crc_ok(l4));
}

/// Sync: an established association is reported with IPVS's SCTP state
/// number (ESTABLISHED is 8, `ip_vs_sync_conn_needed`), and a backup that
/// takes it forwards the association's DATA to the same server, which its
/// own rr would not have chosen.
#[test]
fn an_established_association_syncs_and_the_backup_keeps_it() {
    use ringvs::sync::wire::{self, AnyConn};
    use std::sync::atomic::Ordering::Relaxed;
    let mut master = lab(SERVICE);
    master.shared.ha.set_master(true);
    master.shared.bump();
    // Two associations: rr gives the second to RS2; only it goes on to
    // ESTABLISHED.
    only_int(master.ext(&from_client(CLIENT, 47000, 0, &[(INIT, &INIT_VALUE)])));
    only_int(master.ext(&from_client(CLIENT2, 47001, 0, &[(INIT, &INIT_VALUE)])));
    only_ext(master.int(&from_rs(RS2, CLIENT2, 47001, &[(INIT_ACK, &INIT_VALUE)])));
    only_int(master.ext(&from_client(CLIENT2, 47001, 7, &[(COOKIE_ECHO, &[1; 8])])));
    only_ext(master.int(&from_rs(RS2, CLIENT2, 47001, &[(COOKIE_ACK, &[])])));
    let (datagrams, entries) = master.synced(3);
    let conns: Vec<_> = entries
        .into_iter()
        .filter_map(|e| match e {
            AnyConn::V4(c) => Some((c.proto, c.state, c.caddr, c.cport, c.daddr, c.flags)),
            AnyConn::V6(_) => None,
        })
        .collect();
    // Masqueraded and active: no INACTIVE flag.
    assert_eq!(
        conns,
        [(
            132,
            8,
            CLIENT2,
            47001,
            RS2,
            wire::nat_flags(false, State::SctpEstablished)
        )]
    );
    assert_eq!(
        conns[0].5 & wire::flags::INACTIVE,
        0,
        "not IP_VS_CONN_F_INACTIVE"
    );

    let mut backup = lab(SERVICE);
    backup.shared.ha.set_standby(true);
    backup.shared.bump();
    let intake = backup.intake(3, &env());
    for d in &datagrams {
        intake.message(d);
    }
    assert_eq!(
        intake.counters.conns_queued.load(Relaxed),
        1,
        "{:?}",
        intake.counters.drops()
    );
    backup.shared.ha.set_standby(false);
    backup.shared.bump();
    backup.poll();
    assert_eq!(state_of(&mut backup, 47001), Some(State::SctpEstablished));
    let data = only_int(backup.ext(&from_client(
        CLIENT2,
        47001,
        7,
        &[(DATA, &[0, 0, 0, 2, 0, 0, 0, 0, b'o', b'k', 0, 0])],
    )));
    assert_eq!((data.dst, data.dport), (RS2, 5001));
}

/// A local Linux sender over veth leaves the CRC32c to the device: the field
/// is 0 and the ring says partial (AF_PACKET), or ringvs recognises it from
/// the 0 (AF_XDP, `checksum::looks_partial`). Either way the INIT is
/// forwarded with its CRC32c computed, even where the port stays.
#[test]
fn an_unfilled_crc_from_a_local_sender_is_computed() {
    use ringvs::io::RxMeta;
    for rules in [SERVICE, &SERVICE[..1]] {
        let mut rules = rules.to_vec();
        if rules.len() == 1 {
            rules.push("-a --sctp-service 198.18.0.110:5000 -r 198.19.0.2:5000 -m");
        }
        let mut d = lab(&rules);
        let mut init = from_client(CLIENT, 48000, 0, &[(INIT, &INIT_VALUE)]);
        init[34 + 8..34 + 12].fill(0);
        for (i, af_packet) in [true, false].into_iter().enumerate() {
            let meta = RxMeta {
                wire_len: init.len() as u32,
                csum_partial: if af_packet {
                    true
                } else {
                    ringvs::wire::checksum::looks_partial(&init)
                },
                ..RxMeta::default()
            };
            let mut frame = init.clone();
            frame[34 + 1] = i as u8; // another client port each time
            d.w().rx[Nic::Ext].push_with(&frame, meta);
            // Parsed: its CRC32c checked.
            let out = only_int(d.poll_take());
            let port = if rules.len() == 2 { 5000 } else { 5001 };
            assert_eq!(out.dport, port);
        }
        assert_eq!(d.ctr(Ctr::DropL4Checksum), 0);
    }
}

// ---------------------------------------------------------------------------
// IP fragments of SCTP packets (`dataplane/frag.rs`, `frag_nat.rs`)
// ---------------------------------------------------------------------------

/// The service of [`SERVICE`] with the real server on the virtual port
/// (`-r RIP` takes the packet's): NAT rewrites addresses alone.
const PORT_KEPT: &[&str] = &[
    "-A --sctp-service 198.18.0.110:5000 -s rr",
    "-a --sctp-service 198.18.0.110:5000 -r 198.19.0.2 -m",
];

/// A chunk value of `n` bytes after `head`: an INIT's fixed fields and a
/// large parameter, a long cookie, a large DATA.
fn big(head: &[u8], n: usize) -> Vec<u8> {
    let mut v = head.to_vec();
    v.extend((0..n).map(|i| (i * 13 + 5) as u8));
    v
}

/// The IPv4 packet the fragments `frames` (any order) make up, checked
/// as the far end's reassembly would take it (`reassemble`).
fn whole(frames: &[Vec<u8>]) -> Parsed {
    let mut v = frames.to_vec();
    v.sort_by_key(|f| u16::from_be_bytes([f[14 + 6], f[14 + 7]]) & 0x1fff);
    let ip = reassemble(&v, MTU);
    let mut frame = frames[0][..14].to_vec();
    frame.extend_from_slice(&ip);
    parse_ip(&frame)
}

/// `frame` in two fragments, the first with `at` bytes of its payload.
fn two_pieces(frame: &[u8], at: usize) -> [Vec<u8>; 2] {
    let first = cut(frame, at).swap_remove(0);
    let mut rest = frame[..34].to_vec();
    rest.extend_from_slice(&frame[34 + at..]);
    let mut ip = smoltcp::wire::Ipv4Packet::new_unchecked(&mut rest[14..]);
    ip.set_total_len((20 + frame.len() - 34 - at) as u16);
    ip.set_dont_frag(false);
    ip.set_frag_offset(at as u16);
    ip.fill_checksum();
    [first, rest]
}

/// A client's SCTP packet to VIP:5000 from `sport`, IP id `id`.
fn client_packet(sport: u16, id: u16, vtag: u32, chunks: &[(u8, &[u8])]) -> Vec<u8> {
    let l3 = L3 {
        id,
        ..L3::from_client(CLIENT)
    };
    ip_frame(&l3, 132, &sctp_packet(sport, 5000, vtag, chunks))
}

/// RS1's SCTP packet from `port` to the client's `dport`, IP id `id`.
fn rs_packet(port: u16, dport: u16, id: u16, chunks: &[(u8, &[u8])]) -> Vec<u8> {
    let l3 = L3 {
        id,
        ..L3::from_rs(RS1, CLIENT)
    };
    ip_frame(&l3, 132, &sctp_packet(port, dport, 0x1111_2222, chunks))
}

/// An association set up and used in IP fragments through NAT where the
/// port stays: each fragment goes on with the address rewritten (IPVS
/// reassembles and sends the same), and what the far end reassembles is
/// the SCTP packet as sent, its CRC32c good (it covers no address). The
/// INIT's later fragment comes before its first and waits for it; each
/// first fragment's chunk moves the state, as the whole packet's would.
#[test]
fn fragments_through_nat_keeping_the_port_arrive_whole() {
    let mut d = lab(PORT_KEPT);
    let sent = |f: &[u8]| f[34..].to_vec();
    let init = client_packet(49000, 0x100, 0, &[(INIT, &big(&INIT_VALUE, 2600))]);
    let frags = cut(&init, 1480);
    assert_eq!(frags.len(), 2);
    let mut int = d.ext(&frags[1]).1;
    assert!(int.is_empty(), "the later fragment waits for its first");
    int.extend(d.ext(&frags[0]).1);
    assert_eq!(int.len(), 2, "{:?}", drops(&d.w().core.ctr));
    let got = whole(&int);
    assert_eq!((got.src, got.dst, got.dport), (CLIENT, RS1, 5000));
    assert_eq!(got.l4, sent(&init), "the SCTP packet as the client sent it");
    assert!(sctp_crc_ok(&got.l4));
    assert_eq!(state_of(&mut d, 49000), Some(State::SctpInit1));

    // The server's INIT ACK with a long cookie, cut by its kernel.
    let ack = rs_packet(5000, 49000, 0x200, &[(INIT_ACK, &big(&INIT_VALUE, 3000))]);
    let mut ext = vec![];
    for f in cut(&ack, 1480) {
        let (e, i) = d.int(&f);
        assert!(i.is_empty());
        ext.extend(e);
    }
    assert_eq!(ext.len(), 3);
    let got = whole(&ext);
    assert_eq!((got.src, got.sport, got.dst), (VIP, 5000, CLIENT));
    assert_eq!(got.l4, sent(&ack));
    assert!(sctp_crc_ok(&got.l4));
    assert_eq!(state_of(&mut d, 49000), Some(State::SctpCookieSent));

    // The client's COOKIE ECHO carries the cookie back, in fragments too.
    let echo = client_packet(49000, 0x101, 7, &[(COOKIE_ECHO, &big(&[], 3000))]);
    let int: Vec<_> = cut(&echo, 1480).iter().flat_map(|f| d.ext(f).1).collect();
    assert_eq!(whole(&int).l4, sent(&echo));
    assert_eq!(state_of(&mut d, 49000), Some(State::SctpCookieReplied));
    only_ext(d.int(&rs_packet(5000, 49000, 0x201, &[(COOKIE_ACK, &[])])));
    assert_eq!(state_of(&mut d, 49000), Some(State::SctpEstablished));

    // A DATA chunk larger than the path MTU.
    let data = client_packet(49000, 0x102, 7, &[(DATA, &big(&[0, 0, 0, 3], 4000))]);
    let int: Vec<_> = cut(&data, 1480).iter().flat_map(|f| d.ext(f).1).collect();
    assert_eq!(int.len(), 3);
    let got = whole(&int);
    assert_eq!((got.dst, got.dport), (RS1, 5000));
    assert_eq!(got.l4, sent(&data));
    assert!(sctp_crc_ok(&got.l4));
    assert_eq!(state_of(&mut d, 49000), Some(State::SctpEstablished));
    assert_eq!(d.ctr(Ctr::RxFragments), 11);
    assert_eq!(d.ctr(Ctr::ConnNew), 1);
    assert_eq!(drop_sum(&d.w().core.ctr), 0, "{:?}", drops(&d.w().core.ctr));
}

/// Where NAT changes the port (VIP:5000 to RIP:5001), the CRC32c must be
/// computed over the whole datagram, which no fragment holds: every
/// fragment is dropped (`drop_sctp_frag_port`), a datagram's later ones
/// too, whether they come after their first or before it; an INIT in
/// fragments opens no association, one on an association moves no state.
/// (IPVS reassembles first and computes it.) Whole packets go on as ever.
#[test]
fn fragments_whose_port_nat_changes_are_dropped() {
    let mut d = lab(SERVICE);
    let init = client_packet(49100, 0x110, 0, &[(INIT, &big(&INIT_VALUE, 2600))]);
    let frags = cut(&init, 1480);
    for f in [&frags[1], &frags[0]] {
        assert_eq!(d.ext(f), (vec![], vec![]));
    }
    assert_eq!(d.ctr(Ctr::DropSctpFragPort), 2);
    assert_eq!(d.ctr(Ctr::ConnNew), 0);
    assert!(d.conns(0).is_empty(), "no association for a dropped INIT");
    let frags = cut(
        &client_packet(49100, 0x111, 0, &[(INIT, &big(&INIT_VALUE, 2600))]),
        1480,
    );
    for f in &frags {
        assert_eq!(d.ext(f), (vec![], vec![]));
    }
    assert_eq!(d.ctr(Ctr::DropSctpFragPort), 4, "after their first too");

    // Whole, the INIT goes on; the server's answer in fragments does not.
    let p = only_int(d.ext(&client_packet(49100, 0x112, 0, &[(INIT, &INIT_VALUE)])));
    let rs = p.dst;
    let ack = ip_frame(
        &L3 {
            id: 0x210,
            ..L3::from_rs(rs, CLIENT)
        },
        132,
        &sctp_packet(5001, 49100, 9, &[(INIT_ACK, &big(&INIT_VALUE, 3000))]),
    );
    for f in cut(&ack, 1480) {
        assert_eq!(d.int(&f), (vec![], vec![]));
    }
    assert_eq!(d.ctr(Ctr::DropSctpFragPort), 7);
    assert_eq!(state_of(&mut d, 49100), Some(State::SctpInit1), "unmoved");
    // Nor a client's packet in fragments on the association.
    let data = client_packet(49100, 0x113, 7, &[(DATA, &big(&[0, 0, 0, 3], 2000))]);
    for f in cut(&data, 1480) {
        assert_eq!(d.ext(&f), (vec![], vec![]));
    }
    assert_eq!(d.ctr(Ctr::DropSctpFragPort), 9);
    assert_eq!(state_of(&mut d, 49100), Some(State::SctpInit1));
    assert_eq!(drop_sum(&d.w().core.ctr), 9, "{:?}", drops(&d.w().core.ctr));
}

/// `--expire-nodest-conn`: a server's reply in fragments after the server
/// was removed expires its association (`drop_no_dest_conn`), as a whole
/// reply does, before the port change would drop it.
#[test]
fn a_removed_servers_reply_fragments_expire_the_association() {
    let env = ringvs::dataplane::Env {
        sysctl: ringvs::dataplane::Sysctl {
            expire_nodest_conn: true,
            ..Default::default()
        },
        ..env()
    };
    let mut d = MemDirector::with_env(1, SERVICE, env, 1024);
    d.resolve_all();
    let p = only_int(d.ext(&client_packet(49300, 0x130, 0, &[(INIT, &INIT_VALUE)])));
    let rs = p.dst;
    let other = if rs == RS1 { SERVICE[2] } else { SERVICE[1] };
    d.reconfigure(&[SERVICE[0], other]);
    let ack = ip_frame(
        &L3 {
            id: 0x230,
            ..L3::from_rs(rs, CLIENT)
        },
        132,
        &sctp_packet(5001, 49300, 9, &[(INIT_ACK, &big(&INIT_VALUE, 3000))]),
    );
    let frags = cut(&ack, 1480);
    assert_eq!(d.int(&frags[0]), (vec![], vec![]));
    assert_eq!(
        (d.ctr(Ctr::DropNoDestConn), d.ctr(Ctr::DropSctpFragPort)),
        (1, 0),
        "{:?}",
        drops(&d.w().core.ctr)
    );
    assert_eq!(d.ctr(Ctr::ConnExpired), 1);
    assert_eq!(state_of(&mut d, 49300), None, "expired");
}

/// DR and TUN keep the ports: a fragmented INIT goes to the real server
/// as it came (DR) or each fragment in its own tunnel packet (IPIP), and
/// the client's first chunk moves the state (INPUT-ONLY), even where the
/// real server's port differs from the virtual one (as it may on a
/// firewall-mark service), which DR and TUN never write.
#[test]
fn fragments_to_dr_and_tun_servers_go_unchanged() {
    use ringvs::config::{Forward, TunCsum, TunKind, Tunnel};
    let ipip = Forward::Tunnel(Tunnel {
        kind: TunKind::Ipip,
        port: 0,
        csum: TunCsum::NoCsum,
    });
    let init = client_packet(49200, 0x120, 0, &[(INIT, &big(&INIT_VALUE, 2600))]);
    let frags = cut(&init, 1200);
    for fwd in [Forward::Route, ipip] {
        let mut d = lab(SERVICE);
        d.forward_all(fwd);
        let int: Vec<_> = frags.iter().flat_map(|f| d.ext(f).1).collect();
        assert_eq!(int.len(), 3, "{fwd:?}: {:?}", drops(&d.w().core.ctr));
        for (o, f) in int.iter().zip(&frags) {
            let inner = match fwd {
                Forward::Route => &o[14..],
                _ => &o[14 + 20..],
            };
            assert_eq!(inner, &f[14..], "{fwd:?}: the client's fragment unchanged");
        }
        assert_eq!(state_of(&mut d, 49200), Some(State::SctpInit1));
        assert_eq!(d.ctr(Ctr::DropSctpFragPort), 0);
    }
}

/// A first fragment must hold the SCTP common header and the first
/// chunk's header (16 bytes), which the state machine and the INIT test
/// read (`sctp_event`; IPVS's `sctp_conn_schedule` drops a packet short
/// of them), as a TCP first fragment must hold its header (RFC 1858):
/// with 8 it is dropped (`drop_fragment`), with 16 the datagram goes on.
#[test]
fn a_first_fragment_must_hold_the_first_chunk_header() {
    let mut d = lab(PORT_KEPT);
    let init = client_packet(49300, 0x130, 0, &[(INIT, &big(&INIT_VALUE, 600))]);
    let [first, _] = two_pieces(&init, 8);
    assert_eq!(d.ext(&first), (vec![], vec![]));
    assert_eq!(d.ctr(Ctr::DropFragment), 1);
    let init = client_packet(49300, 0x131, 0, &[(INIT, &big(&INIT_VALUE, 600))]);
    let pieces = two_pieces(&init, 16);
    let int: Vec<_> = pieces.iter().flat_map(|f| d.ext(f).1).collect();
    assert_eq!(int.len(), 2, "{:?}", drops(&d.w().core.ctr));
    assert_eq!(whole(&int).l4, init[34..]);
    assert_eq!(state_of(&mut d, 49300), Some(State::SctpInit1));
}

/// A datagram's later fragment goes by the connection it finds, which may
/// no longer be its first fragment's: here the association restarted in
/// between on a server now on another port (the first's connection
/// expired, the service changed, a whole INIT opened the new one). It is
/// dropped as that connection's fragments are, not sent with the address
/// rewritten alone.
#[test]
fn a_later_fragment_meeting_a_port_changing_connection_is_dropped() {
    let mut d = lab(PORT_KEPT);
    let init = client_packet(49400, 0x140, 0, &[(INIT, &big(&INIT_VALUE, 2600))]);
    let frags = cut(&init, 1480);
    assert_eq!(d.ext(&frags[0]).1.len(), 1);
    // INIT1 lasts 4 s; the datagram is remembered for 30.
    d.advance(std::time::Duration::from_secs(10));
    d.poll();
    assert!(d.conns(0).is_empty());
    d.reconfigure(&[
        "-A --sctp-service 198.18.0.110:5000 -s rr",
        "-a --sctp-service 198.18.0.110:5000 -r 198.19.0.2:5001 -m",
    ]);
    d.poll();
    let p = only_int(d.ext(&client_packet(49400, 0x141, 0, &[(INIT, &INIT_VALUE)])));
    assert_eq!(p.dport, 5001);
    assert_eq!(d.ext(&frags[1]), (vec![], vec![]));
    assert_eq!(d.ctr(Ctr::DropSctpFragPort), 1);
}

/// An INIT in fragments that meets a closed association is scheduled anew
/// (`conn_reuse_mode`, as whole), and only the new connection's port
/// decides: here the service moved its server to the virtual port in
/// between, so the INIT goes through where the old connection's port
/// change would have refused it.
#[test]
fn an_init_in_fragments_ending_a_closed_association_is_scheduled_anew() {
    let mut d = lab(&[
        "-A --sctp-service 198.18.0.110:5000 -s rr",
        "-a --sctp-service 198.18.0.110:5000 -r 198.19.0.2:5001 -m",
    ]);
    only_int(d.ext(&client_packet(49500, 0x150, 0, &[(INIT, &INIT_VALUE)])));
    only_int(d.ext(&client_packet(49500, 0x151, 0, &[(ABORT, &[])])));
    assert_eq!(state_of(&mut d, 49500), Some(State::SctpClosed));
    d.reconfigure(PORT_KEPT);
    d.poll();
    let init = client_packet(49500, 0x152, 0, &[(INIT, &big(&INIT_VALUE, 2600))]);
    let int: Vec<_> = cut(&init, 1480).iter().flat_map(|f| d.ext(f).1).collect();
    assert_eq!(int.len(), 2, "{:?}", drops(&d.w().core.ctr));
    assert_eq!(whole(&int).dport, 5000);
    assert_eq!(state_of(&mut d, 49500), Some(State::SctpInit1));
    assert_eq!(d.ctr(Ctr::DropSctpFragPort), 0);
}

// ---------------------------------------------------------------------------
// IPv6 atomic fragments of SCTP, and fragments over two workers
// ---------------------------------------------------------------------------

/// An IPv6 SCTP service whose real server listens on another port (NAT
/// changes it: VIP6:5000 to RS1_6:5001), and one on the virtual port
/// (VIP6:5002 to RS1_6:5002).
const SERVICE6: &[&str] = &[
    "-A --sctp-service [2001:2:0:1::110]:5000 -s rr",
    "-a --sctp-service [2001:2:0:1::110]:5000 -r [2001:2:0:2::2]:5001 -m",
    "-A --sctp-service [2001:2:0:1::110]:5002 -s rr",
    "-a --sctp-service [2001:2:0:1::110]:5002 -r [2001:2:0:2::2]:5002 -m",
];

/// A dual-stack director of `workers` with `rules`, the client and RS1
/// resolved.
fn lab6(workers: usize, rules: &[&str]) -> MemDirector {
    let mut d = MemDirector::with_env(workers, rules, env6(), 1024);
    d.resolve6(Nic::Ext, CLIENT6, CLIENT_MAC);
    d.resolve6(Nic::Int, RS1_6, RS1_MAC);
    d
}

/// The SCTP packet `l4` from `l3` behind a fragment header of id `id` with
/// offset 0 and M clear: an atomic fragment (RFC 6946), the whole packet.
fn atomic6(l3: &frames6::L3, l4: &[u8], id: u32) -> Vec<u8> {
    let frag = frames6::Ext::Fragment {
        offset: 0,
        more: false,
        id,
    };
    frames6::frame(l3, &[frag], 132, l4)
}

/// The one IPv6 frame in `out`, an atomic fragment still: its addresses,
/// and the SCTP packet behind its fragment header (CRC32c checked).
fn atomic_out(out: &[Vec<u8>]) -> (Ipv6Addr, Ipv6Addr, Vec<u8>) {
    assert_eq!(out.len(), 1, "one frame");
    let f = &out[0];
    let addr = |at: usize| Ipv6Addr::from(<[u8; 16]>::try_from(&f[at..at + 16]).expect("16"));
    assert_eq!(
        (f[20], f[54], &f[56..58]),
        (44, 132, &[0u8, 0][..]),
        "atomic"
    );
    assert_eq!(
        usize::from(u16::from_be_bytes([f[18], f[19]])) + 54,
        f.len()
    );
    let l4 = f[62..].to_vec();
    assert!(sctp_crc_ok(&l4), "the CRC32c over the whole SCTP packet");
    (addr(22), addr(38), l4)
}

/// The state of the IPv6 association from the client's `cport` on worker
/// `k`.
fn state6_of(d: &mut MemDirector, k: usize, cport: u16) -> Option<State> {
    d.conns(k)
        .iter()
        .find(|c| !c.template && c.client == (IpAddr::V6(CLIENT6), cport))
        .map(|c| c.state)
}

/// An IPv6 atomic fragment holds its whole SCTP packet, and the kernel
/// passes it on as one (`ipv6_frag_rcv`), so IPVS translates it as one:
/// here a new association whose port NAT changes is made by an INIT so
/// sent, and each packet of it both ways goes on with the port rewritten
/// and the CRC32c computed again (`sctp_dnat_handler`,
/// `sctp_snat_handler`), its fragment header kept; a damaged CRC32c is
/// refused as a whole packet's is (`drop_l4_checksum`). (A fragment of a
/// larger datagram is still dropped there, `drop_sctp_frag_port`.)
#[test]
fn an_ipv6_atomic_fragment_of_sctp_is_translated_as_a_whole_packet() {
    let mut d = lab6(1, SERVICE6);
    let init = sctp_packet(46100, 5000, 0, &[(INIT, &INIT_VALUE)]);
    let (_, int) = d.ext(&atomic6(&l3_to_vip6(), &init, 0x11));
    assert_eq!(int.len(), 1, "{:?}", drops(&d.w().core.ctr));
    let (src, dst, l4) = atomic_out(&int);
    assert_eq!((src, dst), (CLIENT6, RS1_6));
    assert_eq!(l4[..4], [0xb4, 0x14, 0x13, 0x89], "46100 to 5001");
    assert_eq!(l4[12..], init[12..], "the chunks as sent");
    assert_eq!(state6_of(&mut d, 0, 46100), Some(State::SctpInit1));
    assert_eq!(d.ctr(Ctr::ConnNew6), 1);

    // The server's INIT ACK, an atomic fragment too: back from VIP6:5000.
    let ack = sctp_packet(5001, 46100, 9, &[(INIT_ACK, &INIT_VALUE)]);
    let (ext, _) = d.int(&atomic6(&l3_from_rs6(RS1_6, CLIENT6), &ack, 0x12));
    let (src, dst, l4) = atomic_out(&ext);
    assert_eq!(
        (src, dst, &l4[..4]),
        (VIP6, CLIENT6, &[0x13, 0x88, 0xb4, 0x14][..])
    );
    assert_eq!(l4[12..], ack[12..]);
    assert_eq!(state6_of(&mut d, 0, 46100), Some(State::SctpCookieSent));
    let echo = sctp_packet(46100, 5000, 7, &[(COOKIE_ECHO, &[1; 8])]);
    let (_, int) = d.ext(&atomic6(&l3_to_vip6(), &echo, 0x13));
    assert_eq!(atomic_out(&int).2[2..4], 5001u16.to_be_bytes());
    assert_eq!(state6_of(&mut d, 0, 46100), Some(State::SctpCookieReplied));

    // Damaged: an INIT and an INIT ACK are refused, whatever the port.
    let mut bad = atomic6(
        &l3_to_vip6(),
        &sctp_packet(46101, 5002, 0, &[(INIT, &INIT_VALUE)]),
        0x14,
    );
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert_eq!(d.ext(&bad), (vec![], vec![]));
    let mut bad = atomic6(&l3_from_rs6(RS1_6, CLIENT6), &ack, 0x15);
    bad[62 + 8] ^= 1;
    assert_eq!(d.int(&bad), (vec![], vec![]));
    assert_eq!(d.ctr(Ctr::DropL4Checksum), 2);
    assert_eq!(state6_of(&mut d, 0, 46101), None);
    assert_eq!(d.ctr(Ctr::DropSctpFragPort), 0);
    assert_eq!(drop_sum(&d.w().core.ctr), 2, "{:?}", drops(&d.w().core.ctr));
}

/// An IPv6 atomic fragment of SCTP whose CRC32c a local sender left to the
/// device (the field 0) is completed as the whole packet's is
/// (`an_unfilled_crc_from_a_local_sender_is_computed`): partial by the
/// ring's mark (AF_PACKET) or by the 0 (AF_XDP, `checksum::looks_partial`,
/// which reads past the fragment header), forwarded with its CRC32c
/// computed, where the port changes and where it stays; the kernel
/// completes a `CHECKSUM_PARTIAL` packet whatever its headers
/// (`sctp_dnat_handler`, `ip_vs_proto_sctp.c`). A 0 the ring does not
/// mark, from AF_PACKET, is a wrong CRC32c, as in a whole packet.
#[test]
fn an_unfilled_crc_in_an_ipv6_atomic_fragment_is_computed() {
    use ringvs::io::RxMeta;
    let mut d = lab6(1, SERVICE6);
    let mut port = 46200;
    for vport in [5000, 5002] {
        for af_packet in [true, false] {
            port += 1;
            let init = sctp_packet(port, vport, 0, &[(INIT, &INIT_VALUE)]);
            let mut f = atomic6(&l3_to_vip6(), &init, u32::from(port));
            f[62 + 8..62 + 12].fill(0);
            let partial = ringvs::wire::checksum::looks_partial(&f);
            let meta = RxMeta {
                wire_len: f.len() as u32,
                csum_partial: af_packet || partial,
                ..RxMeta::default()
            };
            d.w().rx[Nic::Ext].push_with(&f, meta);
            let (_, int) = d.poll_take();
            assert_eq!(
                int.len(),
                1,
                "{vport} {af_packet}: {:?}",
                drops(&d.w().core.ctr)
            );
            let (_, dst, l4) = atomic_out(&int);
            let rport: u16 = if vport == 5000 { 5001 } else { 5002 };
            assert_eq!((dst, &l4[2..4]), (RS1_6, &rport.to_be_bytes()[..]));
            assert!(partial, "the 0 read past the fragment header");
        }
    }
    let mut f = atomic6(
        &l3_to_vip6(),
        &sctp_packet(46300, 5002, 0, &[(INIT, &INIT_VALUE)]),
        9,
    );
    f[62 + 8..62 + 12].fill(0);
    assert_eq!(d.ext(&f), (vec![], vec![]));
    assert_eq!(d.ctr(Ctr::DropL4Checksum), 1);
    assert_eq!(drop_sum(&d.w().core.ctr), 1, "{:?}", drops(&d.w().core.ctr));
}

/// DR keeps the ports: an IPv6 atomic fragment's INIT goes to the real
/// server as it came, and one whose CRC32c is damaged is refused there
/// too, as a whole packet is.
#[test]
fn an_ipv6_atomic_fragment_of_sctp_to_a_dr_server_is_checked_as_whole() {
    let mut d = lab6(
        1,
        &[
            "-A --sctp-service [2001:2:0:1::110]:5000 -s rr",
            "-a --sctp-service [2001:2:0:1::110]:5000 -r [2001:2:0:2::2]:5000 -g",
        ],
    );
    let init = sctp_packet(46200, 5000, 0, &[(INIT, &INIT_VALUE)]);
    let sent = atomic6(&l3_to_vip6(), &init, 0x21);
    let (_, int) = d.ext(&sent);
    assert_eq!(int.len(), 1, "{:?}", drops(&d.w().core.ctr));
    assert_eq!(int[0][..6], RS1_MAC);
    assert_eq!(int[0][22..], sent[22..], "all but the hop limit as sent");
    assert_eq!(state6_of(&mut d, 0, 46200), Some(State::SctpInit1));
    let mut bad = atomic6(
        &l3_to_vip6(),
        &sctp_packet(46201, 5000, 0, &[(INIT, &INIT_VALUE)]),
        0x22,
    );
    bad[62 + 9] ^= 1;
    assert_eq!(d.ext(&bad), (vec![], vec![]));
    assert_eq!(d.ctr(Ctr::DropL4Checksum), 1);
    assert_eq!(state6_of(&mut d, 0, 46201), None);
}

/// Push each `(worker, nic, frame)` on its worker, poll every worker a few
/// times, and take what all of them sent, as (ext, int).
fn spread(d: &mut MemDirector, frames: &[(usize, Nic, Vec<u8>)]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    for (w, nic, f) in frames {
        d.workers[*w].rx[*nic].push(f);
    }
    let (mut ext, mut int) = (vec![], vec![]);
    for _ in 0..4 {
        d.poll();
        for w in &mut d.workers {
            ext.extend(w.tx[Nic::Ext].take_sent());
            int.extend(w.tx[Nic::Int].take_sent());
        }
    }
    (ext, int)
}

fn sum(d: &MemDirector, c: Ctr) -> u64 {
    d.workers.iter().map(|w| w.core.ctr.get(c)).sum()
}

fn drops_all(d: &MemDirector) -> u64 {
    d.workers.iter().map(|w| drop_sum(&w.core.ctr)).sum()
}

/// Two workers: an association lives on the owner of its client key, and
/// a fragmented INIT whose fragments all reach the other worker (as a
/// fanout hashing past the first fragment's header may spread them) goes
/// through the datagram's tracker to that owner (`frag.rs`), which makes
/// the association; the server's fragmented INIT ACK, landing on the other
/// worker too, goes back through it. A datagram whose port NAT changes is
/// refused at the owner, its other fragments with it, wherever they land.
#[test]
fn with_two_workers_sctp_fragments_meet_at_the_associations_owner() {
    let mut rules = PORT_KEPT.to_vec();
    rules.extend([
        "-A --sctp-service 198.18.0.110:5001 -s rr",
        "-a --sctp-service 198.18.0.110:5001 -r 198.19.0.2:5002 -m",
    ]);
    let mut d = MemDirector::with_workers(2, &rules);
    d.resolve_all();
    let owner = |port: u16| env().owner((be(CLIENT), port), 2);
    let port = (49600..)
        .find(|&p| owner(p) == 1)
        .expect("a port worker 1 owns");
    let init = client_packet(port, 0x160, 0, &[(INIT, &big(&INIT_VALUE, 3000))]);
    let frags = cut(&init, 1200);
    assert_eq!(frags.len(), 3);
    // All on worker 0, which does not own the association; the last first.
    let on0: Vec<_> = frags
        .iter()
        .rev()
        .map(|f| (0, Nic::Ext, f.clone()))
        .collect();
    let (ext, int) = spread(&mut d, &on0);
    assert!(ext.is_empty());
    assert_eq!(int.len(), 3, "{:?}", each_drops(&d));
    let got = whole(&int);
    assert_eq!((got.dst, got.dport), (RS1, 5000));
    assert_eq!(got.l4, init[34..], "the SCTP packet as the client sent it");
    assert!(sum(&d, Ctr::HandoffOut) >= 3, "handed to the owner");
    assert!(d.conns(0).iter().all(|c| c.client.1 != port));
    let of = |d: &mut MemDirector| {
        d.conns(1)
            .iter()
            .find(|c| !c.template && c.client.1 == port)
            .map(|c| c.state)
    };
    assert_eq!(of(&mut d), Some(State::SctpInit1));

    // The server's INIT ACK, cut by its kernel, on worker 0 too.
    let ack = rs_packet(5000, port, 0x260, &[(INIT_ACK, &big(&INIT_VALUE, 3000))]);
    let on0: Vec<_> = cut(&ack, 1200)
        .into_iter()
        .map(|f| (0, Nic::Int, f))
        .collect();
    let (ext, int) = spread(&mut d, &on0);
    assert!(int.is_empty());
    assert_eq!(ext.len(), 3, "{:?}", each_drops(&d));
    let got = whole(&ext);
    assert_eq!(
        (got.src, got.sport, got.dst, got.dport),
        (VIP, 5000, CLIENT, port)
    );
    assert_eq!(got.l4, ack[34..]);
    assert_eq!(of(&mut d), Some(State::SctpCookieSent));
    assert_eq!(drops_all(&d), 0, "{:?}", each_drops(&d));

    // To VIP:5001, which NAT makes 5002: each fragment dropped, on
    // whichever worker it lands, and no association anywhere.
    let other = ip_frame(
        &L3 {
            id: 0x161,
            ..L3::from_client(CLIENT)
        },
        132,
        &sctp_packet(port, 5001, 0, &[(INIT, &big(&INIT_VALUE, 3000))]),
    );
    let mixed: Vec<_> = cut(&other, 1200)
        .into_iter()
        .enumerate()
        .map(|(i, f)| (i % 2, Nic::Ext, f))
        .collect();
    assert_eq!(spread(&mut d, &mixed), (vec![], vec![]));
    assert_eq!(sum(&d, Ctr::DropSctpFragPort), 3, "{:?}", each_drops(&d));
    assert_eq!(drops_all(&d), 3);
    for k in 0..2 {
        assert!(d.conns(k).iter().all(|c| c.vip.1 != 5001));
    }
}

/// Each worker's drop counters that moved (for assertion messages).
fn each_drops(d: &MemDirector) -> Vec<Vec<(&'static str, u64)>> {
    d.workers.iter().map(|w| drops(&w.core.ctr)).collect()
}

/// IPv6, two workers, the server's side: where NAT keeps the port, a real
/// server's fragmented INIT ACK, its last fragment first and the fragments
/// landing on either worker, reaches the client whole (the later ones held
/// for the first), and moves the association at its owner; where NAT
/// changes the port, a server's fragments are dropped
/// (`drop_sctp_frag_port`), but the same packet as an atomic fragment goes
/// back with the port rewritten and the CRC32c computed again.
#[test]
fn ipv6_server_fragments_reach_the_client_on_two_workers() {
    let mut d = lab6(2, SERVICE6);
    let owner = |port: u16| env6().owner6((CLIENT6, port), 2);
    let port = (46300..)
        .find(|&p| owner(p) == 1)
        .expect("a port worker 1 owns");
    // The INIT whole, to the virtual port kept (5002), on its owner (where
    // the fanout brings a whole packet).
    let init = sctp_packet(port, 5002, 0, &[(INIT, &INIT_VALUE)]);
    let (_, int) = spread(
        &mut d,
        &[(1, Nic::Ext, frames6::frame(&l3_to_vip6(), &[], 132, &init))],
    );
    assert_eq!(int.len(), 1, "{:?}", each_drops(&d));
    assert_eq!(state6_of(&mut d, 1, port), Some(State::SctpInit1));

    let ack = sctp_packet(5002, port, 9, &[(INIT_ACK, &big(&INIT_VALUE, 3000))]);
    let frags = cut6(
        &frames6::frame(&l3_from_rs6(RS1_6, CLIENT6), &[], 132, &ack),
        1232,
        0x360,
    );
    assert_eq!(frags.len(), 3);
    let order: Vec<_> = (0..3)
        .rev()
        .map(|i| (i % 2, Nic::Int, frags[i].clone()))
        .collect();
    let (ext, int) = spread(&mut d, &order);
    assert!(int.is_empty());
    assert_eq!(ext.len(), 3, "{:?}", each_drops(&d));
    let got = whole6(&ext);
    let p = smoltcp::wire::Ipv6Packet::new_checked(&got[..]).expect("ipv6");
    assert_eq!((p.src_addr(), p.dst_addr()), (VIP6, CLIENT6));
    assert_eq!(
        p.payload(),
        &ack[..],
        "the SCTP packet as the server sent it"
    );
    assert!(sctp_crc_ok(p.payload()));
    assert!(sum(&d, Ctr::FragHeld) >= 1, "the later fragments waited");
    assert_eq!(state6_of(&mut d, 1, port), Some(State::SctpCookieSent));
    assert_eq!(drops_all(&d), 0, "{:?}", each_drops(&d));

    // An association on VIP6:5000, its server on 5001.
    let init = sctp_packet(port, 5000, 0, &[(INIT, &INIT_VALUE)]);
    let (_, int) = spread(
        &mut d,
        &[(1, Nic::Ext, frames6::frame(&l3_to_vip6(), &[], 132, &init))],
    );
    assert_eq!(int.len(), 1, "{:?}", each_drops(&d));
    let ack = sctp_packet(5001, port, 9, &[(INIT_ACK, &big(&INIT_VALUE, 2000))]);
    let reply = frames6::frame(&l3_from_rs6(RS1_6, CLIENT6), &[], 132, &ack);
    let frags: Vec<_> = cut6(&reply, 1232, 0x361)
        .into_iter()
        .map(|f| (0, Nic::Int, f))
        .collect();
    assert_eq!(spread(&mut d, &frags), (vec![], vec![]));
    assert_eq!(sum(&d, Ctr::DropSctpFragPort), 2, "{:?}", each_drops(&d));
    // (A packet the MTU takes: the server's retransmitted INIT ACK with a
    // shorter cookie.)
    let ack = sctp_packet(5001, port, 9, &[(INIT_ACK, &big(&INIT_VALUE, 1000))]);
    let from_rs = atomic6(&l3_from_rs6(RS1_6, CLIENT6), &ack, 0x362);
    let (ext, _) = spread(&mut d, &[(0, Nic::Int, from_rs)]);
    assert_eq!(ext.len(), 1, "{:?}", each_drops(&d));
    let (src, dst, l4) = atomic_out(&ext);
    assert_eq!((src, dst), (VIP6, CLIENT6));
    assert_eq!(l4[..2], 5000u16.to_be_bytes());
    assert_eq!(l4[12..], ack[12..]);
    assert_eq!(drops_all(&d), 2, "{:?}", each_drops(&d));
}
