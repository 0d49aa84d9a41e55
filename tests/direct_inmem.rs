//! Direct routing and tunnelling in the packet path, in memory: what leaves
//! the director for a DR real server (the client's packet, only the MACs
//! changed) and for a TUN one (IPIP, GUE, GRE around the untouched packet),
//! the input-only TCP states, and the tunnel's "fragmentation needed".

mod inmem;

use inmem::*;
use ringvs::Nic;
use ringvs::config::{Forward, TunCsum, TunKind, Tunnel};
use ringvs::nat::State;
use ringvs::stats::Ctr;
use smoltcp::wire::{IpProtocol, Ipv4Packet as SIp, TcpPacket as STcp, UdpPacket as SUdp};

const CPORT: u16 = 40000;

/// The standard director with every real server reached by `fwd`.
fn director(fwd: Forward) -> MemDirector {
    let mut d = MemDirector::standard();
    d.forward_all(fwd);
    d
}

fn tunnel(kind: TunKind, port: u16, csum: TunCsum) -> Forward {
    Forward::Tunnel(Tunnel { kind, port, csum })
}

/// A router on the real servers' side writing to the DIP (the source of
/// our tunnel packets).
fn router_to_dip() -> L3 {
    L3 {
        src: std::net::Ipv4Addr::new(198, 19, 0, 254),
        dst: DIP,
        ..L3::from_rs(RS1, DIP)
    }
}

#[test]
fn dr_sends_the_clients_packet_unchanged_to_the_real_servers_mac() {
    let mut d = director(Forward::Route);
    let syn = tcp_frame(&L3::to_vip(), CPORT, 80, SYN);
    let (ext, int) = d.ext(&syn);
    assert!(ext.is_empty());
    assert_eq!(int.len(), 1);
    let out = &int[0];
    assert_eq!(
        &out[14..],
        &syn[14..],
        "the IP packet untouched (TTL, checksums)"
    );
    assert_eq!(&out[6..12], &INT_MAC, "from the internal NIC");
    let rs = [RS1_MAC, RS2_MAC];
    assert!(
        rs.iter().any(|m| out[..6] == m[..]),
        "to a real server's MAC"
    );
    // Input-only states: the client's ACK establishes, its FIN goes to
    // FIN_WAIT (IPVS's INPUT-ONLY rows), with no reply ever seen.
    assert_eq!(d.conns(0)[0].state, State::SynRecv);
    d.ext(&tcp_frame(&L3::to_vip(), CPORT, 80, ACK));
    assert_eq!(d.conns(0)[0].state, State::Established);
    d.ext(&tcp_frame(&L3::to_vip(), CPORT, 80, FIN | ACK));
    assert_eq!(d.conns(0)[0].state, State::FinWait);
    assert_eq!(d.ctr(Ctr::FwdIn), 3);
    assert_eq!((d.ctr(Ctr::FwdOut), d.ctr(Ctr::TxExt)), (0, 0));
}

/// `conn_reuse_mode` bit 2 (`is_new_conn_expected`, `ip_vs_core.c`): a SYN
/// meeting a DR connection the client's FIN left in FIN_WAIT (no reply is
/// ever seen: `IP_VS_CONN_F_NOOUTPUT`) expires it and is scheduled anew with
/// 3; with 1 it goes to the old connection's server.
/// A DR real server that never answers ARP: the client's SYN (a whole
/// checksum, so sent as it came, no rewrite at all) is given up after the
/// wait and the client told with host unreachable quoting it, as for NAT
/// (the kernel's `arp_error_report` does not look at the forwarding method).
/// A TUN packet (ours, encapsulated: IPIP, GUE, GRE) tells the client too,
/// about its own packet inside, from the VIP: the kernel's error about the
/// outer packet goes to the director's own address, where `ip_vs_in_icmp`
/// relays it to the inner packet's source (`icmp_send` of the inner packet,
/// whose destination, the VIP, is local).
#[test]
fn a_dr_client_of_a_server_that_never_answers_arp_is_told() {
    for fwd in [
        Forward::Route,
        tunnel(TunKind::Ipip, 0, TunCsum::NoCsum),
        tunnel(TunKind::Gue, 6080, TunCsum::NoCsum),
        tunnel(TunKind::Gre, 0, TunCsum::Csum),
    ] {
        let mut d = MemDirector::new(STANDARD);
        d.forward_all(fwd);
        d.resolve(Nic::Ext, CLIENT, CLIENT_MAC);
        let syn = tcp_frame(&L3::to_vip(), CPORT, 80, SYN);
        let (ext, int) = d.ext(&syn);
        assert!(ext.is_empty() && int.is_empty(), "{fwd:?}: parked");
        d.advance(ringvs::dataplane::tx::PENDING_MAX_AGE + std::time::Duration::from_millis(100));
        let (ext, int) = d.poll_take();
        assert!(int.is_empty());
        assert_eq!(d.ctr(Ctr::DropNeighUnresolved), 1, "{fwd:?}");
        assert_eq!(d.ctr(Ctr::IcmpHostUnreach), 1, "{fwd:?}");
        assert_eq!(ext.len(), 1, "{fwd:?}");
        let p = parse_ip(&ext[0]);
        assert_eq!((p.src, p.dst, p.l4[0], p.l4[1]), (VIP, CLIENT, 3, 1));
        assert_eq!((p.src_mac, p.dst_mac), (EXT_MAC, CLIENT_MAC));
        assert_eq!(p.payload.len(), 28, "{fwd:?}: its header and 8 bytes");
        assert_eq!(&p.payload[..], &syn[14..42], "{fwd:?}: the SYN as sent");
        // A tunnel packet given up is counted in neither `fwd_in` nor
        // `tunnel_encap` (`docs/operations.md`: one counts in the other).
        assert_eq!(d.ctr(Ctr::FwdIn), 0, "{fwd:?}");
        assert_eq!(d.ctr(Ctr::TunnelEncap), 0, "{fwd:?}");
    }
}

/// A tunnel packet parked for ARP counts in `tunnel_encap` with its
/// `fwd_in`, when it goes: neither while it waits, both once the real server
/// answers; a DR packet never counts in `tunnel_encap`.
#[test]
fn a_parked_tunnel_packet_counts_its_encapsulation_when_it_goes() {
    for (fwd, encap) in [
        (Forward::Route, 0),
        (tunnel(TunKind::Ipip, 0, TunCsum::NoCsum), 1),
        (tunnel(TunKind::Gue, 6080, TunCsum::NoCsum), 1),
        (tunnel(TunKind::Gre, 0, TunCsum::Csum), 1),
    ] {
        let mut d = MemDirector::new(STANDARD);
        d.forward_all(fwd);
        d.resolve(Nic::Ext, CLIENT, CLIENT_MAC);
        let (ext, int) = d.ext(&tcp_frame(&L3::to_vip(), CPORT, 80, SYN));
        assert!(ext.is_empty() && int.is_empty(), "{fwd:?}: parked");
        // And one without DF that a tunnel's outer packet carries only in
        // fragments (parked too, counted by its last).
        let mut big = tcp_seg(&L3::to_vip(), CPORT, 80, ACK, 1, 1, &[0x33; 1460]);
        big[20] = 0; // DF clear
        fix_ip_checksum(&mut big);
        let (ext, int) = d.ext(&big);
        assert!(ext.is_empty() && int.is_empty(), "{fwd:?}: parked");
        assert_eq!(d.ctr(Ctr::FwdIn), 0, "{fwd:?}");
        assert_eq!(d.ctr(Ctr::TunnelEncap), 0, "{fwd:?}: held back too");
        d.resolve(Nic::Int, RS1, RS1_MAC);
        d.resolve(Nic::Int, RS2, RS2_MAC);
        let (_, int) = d.poll_take();
        assert_eq!(int.len(), 2 + encap as usize, "{fwd:?}: sent once resolved");
        assert_eq!(d.ctr(Ctr::FwdIn), 2, "{fwd:?}");
        assert_eq!(d.ctr(Ctr::TunnelEncap), 2 * encap, "{fwd:?}");
    }
}

#[test]
fn conn_reuse_mode_2_reschedules_a_dr_connection_in_fin_wait() {
    for (mode, rescheduled) in [(3, true), (1, false)] {
        let env = ringvs::dataplane::Env {
            sysctl: ringvs::dataplane::Sysctl {
                conn_reuse_mode: mode,
                ..Default::default()
            },
            ..inmem::env()
        };
        let mut d = MemDirector::with_env(1, inmem::STANDARD, env, 1024);
        d.resolve_all();
        d.forward_all(Forward::Route);
        let to = |d: &mut MemDirector, flags| {
            let (_, int) = d.ext(&tcp_frame(&L3::to_vip(), CPORT, 80, flags));
            int.first()
                .map(|f| [RS1_MAC, RS2_MAC].iter().position(|m| f[..6] == m[..]))
        };
        let first = to(&mut d, SYN);
        to(&mut d, ACK);
        to(&mut d, FIN | ACK);
        assert_eq!(d.conns(0)[0].state, State::FinWait);
        let again = to(&mut d, SYN);
        assert_eq!(
            again != first,
            rescheduled,
            "mode {mode}: {first:?} then {again:?}"
        );
        assert_eq!(
            d.ctr(Ctr::ConnExpired),
            u64::from(rescheduled),
            "mode {mode}"
        );
    }
}

#[test]
fn dr_completes_a_partial_checksum() {
    let mut d = director(Forward::Route);
    let mut f = udp_frame(&L3::to_vip(), 5000, 80, b"hello", true);
    make_partial(&mut f);
    d.w().rx[Nic::Ext].push_with(
        &f,
        ringvs::io::RxMeta {
            wire_len: f.len() as u32,
            csum_partial: true,
            csum_valid: false,
            vlan: None,
        },
    );
    // UDP to a TCP-only service is not forwarded; use TCP instead.
    let _ = d.poll_take();
    let mut t = tcp_frame(&L3::to_vip(), CPORT, 80, SYN);
    make_partial(&mut t);
    d.w().rx[Nic::Ext].push_with(
        &t,
        ringvs::io::RxMeta {
            wire_len: t.len() as u32,
            csum_partial: true,
            csum_valid: false,
            vlan: None,
        },
    );
    let (_, int) = d.poll_take();
    assert_eq!(int.len(), 1);
    let ip = SIp::new_checked(&int[0][14..]).expect("ip");
    let tcp = STcp::new_checked(ip.payload()).expect("tcp");
    assert!(
        tcp.verify_checksum(&ip.src_addr().into(), &ip.dst_addr().into()),
        "the checksum the sender left to an offload is completed"
    );
}

/// The outer header of a tunnelled frame, checked by smoltcp; returns the
/// outer protocol and the payload after the outer IP header.
fn outer(frame: &[u8]) -> (IpProtocol, Vec<u8>) {
    assert_eq!(&frame[12..14], &[0x08, 0x00]);
    let ip = SIp::new_checked(&frame[14..]).expect("outer ip");
    assert!(ip.verify_checksum(), "outer header checksum");
    assert_eq!(ip.src_addr(), DIP, "from the DIP");
    assert!([RS1, RS2].contains(&ip.dst_addr()), "to a real server");
    assert!(ip.dont_frag(), "DF copied from the client's packet");
    (ip.next_header(), ip.payload().to_vec())
}

#[test]
fn tun_ipip_gue_and_gre_wrap_the_untouched_packet() {
    let syn = tcp_frame(&L3::to_vip(), CPORT, 80, SYN);
    let inner = &syn[14..];
    for (fwd, proto, head) in [
        (
            tunnel(TunKind::Ipip, 0, TunCsum::NoCsum),
            IpProtocol::Unknown(4),
            0,
        ),
        (
            tunnel(TunKind::Gue, 6080, TunCsum::NoCsum),
            IpProtocol::Udp,
            12,
        ),
        (
            tunnel(TunKind::Gue, 6080, TunCsum::Csum),
            IpProtocol::Udp,
            12,
        ),
        (
            tunnel(TunKind::Gre, 0, TunCsum::NoCsum),
            IpProtocol::Unknown(47),
            4,
        ),
        (
            tunnel(TunKind::Gre, 0, TunCsum::Csum),
            IpProtocol::Unknown(47),
            8,
        ),
    ] {
        let mut d = director(fwd);
        let (ext, int) = d.ext(&syn);
        assert!(ext.is_empty());
        assert_eq!(int.len(), 1, "{fwd:?}");
        let (p, payload) = outer(&int[0]);
        assert_eq!(p, proto, "{fwd:?}");
        assert_eq!(
            &payload[head..],
            inner,
            "{fwd:?}: the inner packet untouched"
        );
        if let Forward::Tunnel(Tunnel {
            kind: TunKind::Gue,
            csum,
            ..
        }) = fwd
        {
            let ip = SIp::new_checked(&int[0][14..]).expect("ip");
            let udp = SUdp::new_checked(ip.payload()).expect("udp");
            assert_eq!(udp.dst_port(), 6080);
            assert!((32768..=60999).contains(&udp.src_port()));
            assert_eq!(&payload[8..12], &[0, 4, 0, 0], "GUE v0, IPIP");
            if csum == TunCsum::Csum {
                assert!(udp.verify_checksum(&ip.src_addr().into(), &ip.dst_addr().into()));
            } else {
                assert_eq!(udp.checksum(), 0);
            }
        }
        assert_eq!(d.ctr(Ctr::TunnelEncap), 1);
    }
}

/// The refused packet counts in its server's InPkts and InBytes all the
/// same, as IPVS counts a client's packet (`ip_vs_in_stats` in
/// `ip_vs_in_hook`) before its transmitter refuses it
/// (`ensure_mtu_is_adequate` in `ip_vs_tunnel_xmit`).
#[test]
fn a_df_packet_too_big_for_the_tunnel_gets_the_mtu_less_the_overhead() {
    let mut d = director(tunnel(TunKind::Gue, 6080, TunCsum::NoCsum));
    let (_, int) = d.ext(&tcp_frame(&L3::to_vip(), CPORT, 80, SYN));
    assert_eq!(int.len(), 1, "the SYN");
    let id = d.dest_id(ringvs::config::Proto::Tcp, 80, RS1, 80);
    let stats = |d: &MemDirector| {
        let st = d.published[0].dest_stats(id);
        (st.inpkts, st.inbytes)
    };
    assert_eq!(stats(&d), (1, 40), "the SYN, on the first server (rr)");
    // 1500 bytes of IP: fits the NIC, not the NIC after 32 bytes of GUE.
    let big = tcp_seg(&L3::to_vip(), CPORT, 80, ACK, 1, 1, &[0u8; 1460]);
    let (ext, int) = d.ext(&big);
    assert!(int.is_empty(), "not sent");
    assert_eq!(ext.len(), 1, "an ICMP error back to the client");
    let p = parse_ip(&ext[0]);
    assert_eq!((p.dst, p.proto), (CLIENT, 1));
    let icmp = &ext[0][34..];
    assert_eq!((icmp[0], icmp[1]), (3, 4), "fragmentation needed");
    assert_eq!(u16::from_be_bytes([icmp[6], icmp[7]]), 1500 - 32);
    assert_eq!(d.ctr(Ctr::DropTooBig), 1);
    assert_eq!(d.ctr(Ctr::IcmpFragNeeded), 1);
    assert_eq!(stats(&d), (2, 40 + 1500), "counted though refused");
    assert_eq!(d.ctr(Ctr::FwdIn), 1, "but not forwarded");
    // One that fits after the overhead goes.
    let ok = tcp_seg(&L3::to_vip(), CPORT, 80, ACK, 1, 1, &[0u8; 1428]);
    let (_, int) = d.ext(&ok);
    assert_eq!(int.len(), 1);
    assert_eq!(int[0].len(), 14 + 1500);
}

/// One service mixing methods per real server, as IPVS allows: round robin
/// sends one client to a NAT server (addresses rewritten, replies through the
/// director) and the next to a DR one (the packet untouched).
#[test]
fn one_service_mixes_nat_and_dr_servers() {
    let mut d = MemDirector::new(&[
        "-A -t 198.18.0.110:80 -s rr",
        "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
        "-a -t 198.18.0.110:80 -r 198.19.0.3:80 -g",
    ]);
    d.resolve_all();
    let mut seen = Vec::new();
    for port in [CPORT, CPORT + 1] {
        let syn = tcp_frame(&L3::to_vip(), port, 80, SYN);
        let (_, int) = d.ext(&syn);
        assert_eq!(int.len(), 1);
        let p = parse_ip(&int[0]);
        if p.dst == RS1 {
            assert_eq!(&int[0][..6], &RS1_MAC);
            seen.push("nat");
        } else {
            assert_eq!(p.dst, VIP, "DR keeps the VIP as destination");
            assert_eq!(&int[0][..6], &RS2_MAC);
            assert_eq!(&int[0][14..], &syn[14..]);
            seen.push("dr");
        }
    }
    seen.sort_unstable();
    assert_eq!(seen, ["dr", "nat"]);
}

/// A router near the client finds a DR or TUN server's reply (VIP:80 →
/// client, which never crosses the director) too big and tells its source,
/// the VIP: the director. The error goes on to the connection's real server
/// untranslated, as IPVS hands it to the connection's transmitter
/// (`ip_vs_icmp_xmit`), so the server's kernel finds its socket (bound to the
/// VIP) and lowers its path MTU; translated as for NAT (to the RIP, the quote
/// rewritten) it would find none.
#[test]
fn a_client_side_icmp_error_about_dr_or_tun_goes_to_the_real_server_untranslated() {
    let reply = tcp_seg(&L3::vip_to_client(), 80, CPORT, ACK, 1, 1, &[0x42; 1400]);
    let router = std::net::Ipv4Addr::new(198, 18, 0, 254);
    let l3 = L3 {
        src: router,
        ..L3::to_vip()
    };
    // Frag needed, next-hop MTU 1400, quoting the reply's header and 100 bytes.
    let err = icmp_error(&l3, 3, 4, [0, 0, 0x05, 0x78], &reply, 20 + 100);
    for fwd in [
        Forward::Route,
        tunnel(TunKind::Ipip, 0, TunCsum::NoCsum),
        tunnel(TunKind::Gue, 6080, TunCsum::Csum),
        tunnel(TunKind::Gre, 0, TunCsum::NoCsum),
    ] {
        let mut d = director(fwd);
        let (_, int) = d.ext(&tcp_frame(&L3::to_vip(), CPORT, 80, SYN));
        let rs_mac: [u8; 6] = int[0][..6].try_into().expect("mac");
        let (ext, int) = d.ext(&err);
        assert!(ext.is_empty(), "{fwd:?}");
        assert_eq!(int.len(), 1, "{fwd:?}: the error goes on");
        assert_eq!(&int[0][..6], &rs_mac, "{fwd:?}: to the connection's server");
        assert_eq!(&int[0][6..12], &INT_MAC, "{fwd:?}");
        let ip = match fwd {
            Forward::Route => int[0][14..].to_vec(),
            Forward::Tunnel(t) => {
                let (_, payload) = outer(&int[0]);
                let head = match t.kind {
                    TunKind::Ipip => 0,
                    TunKind::Gue => 12,
                    TunKind::Gre => 4,
                };
                payload[head..].to_vec()
            }
            Forward::Masq => unreachable!(),
        };
        assert_eq!(ip, &err[14..], "{fwd:?}: the error as it came");
        assert_eq!(d.ctr(Ctr::IcmpErrorDirect), 1, "{fwd:?}");
        assert_eq!(d.ctr(Ctr::IcmpErrorNat), 0, "{fwd:?}");
        // The SYN and the error, each in its tunnel.
        let tunnelled = 2 * u64::from(fwd != Forward::Route);
        assert_eq!(d.ctr(Ctr::TunnelEncap), tunnelled, "{fwd:?}");
        // Counted in the connection's traffic, as `ip_vs_in_icmp` does.
        assert_eq!(d.ctr(Ctr::FwdIn), 1, "{fwd:?}: not a client packet");
    }
}

/// What a client-side error for a DR connection must still satisfy, as for
/// NAT: it names a connection, comes to the VIP the connection serves, and a
/// TTL that would run out stops it.
#[test]
fn a_client_side_icmp_error_about_dr_is_bound_to_its_connection() {
    let mut d = director(Forward::Route);
    d.ext(&tcp_frame(&L3::to_vip(), CPORT, 80, SYN));
    let reply = tcp_frame(&L3::vip_to_client(), 80, CPORT, ACK);
    let other_port = tcp_frame(&L3::vip_to_client(), 80, CPORT + 1, ACK);
    let (_, int) = d.ext(&icmp_error(&L3::to_vip(), 3, 4, [0; 4], &other_port, 8));
    assert!(int.is_empty(), "no connection");
    assert_eq!(d.ctr(Ctr::DropIcmpNoConn), 1);
    // To the director's own address, not the VIP: not where it goes.
    let l3 = L3 {
        dst: EXT_ADDR,
        ..L3::to_vip()
    };
    let (_, int) = d.ext(&icmp_error(&l3, 3, 4, [0; 4], &reply, 8));
    assert!(int.is_empty(), "not to the VIP");
    assert_eq!(d.ctr(Ctr::DropIcmpNoConn), 2);
    let mut l3 = L3::to_vip();
    l3.ttl = 1;
    let (_, int) = d.ext(&icmp_error(&l3, 3, 4, [0; 4], &reply, 8));
    assert!(int.is_empty(), "TTL 1");
    assert_eq!(d.ctr(Ctr::DropTtl), 1);
    assert_eq!(d.ctr(Ctr::IcmpErrorDirect), 0);
    // The same error with TTL 64 goes.
    let (_, int) = d.ext(&icmp_error(&L3::to_vip(), 3, 4, [0; 4], &reply, 8));
    assert_eq!(int.len(), 1);
    assert_eq!(d.ctr(Ctr::IcmpErrorDirect), 1);
}

/// A router between the director and a TUN real server cannot deliver a
/// tunnel packet and tells its source, our address on that side (the DIP),
/// quoting the tunnel packet. As IPVS's `ip_vs_in_icmp` does for IPv4 in
/// IPv4, the client gets the error about its own packet from the VIP:
/// "fragmentation needed" with the reported MTU less the tunnel's overhead
/// (only if the client's packet had DF), other errors as they came.
#[test]
fn an_icmp_error_about_a_tunnel_packet_reaches_the_client_about_its_own_packet() {
    let from_router = router_to_dip();
    for (fwd, overhead) in [
        (tunnel(TunKind::Ipip, 0, TunCsum::NoCsum), 20u16),
        (tunnel(TunKind::Gue, 6080, TunCsum::NoCsum), 32),
        (tunnel(TunKind::Gue, 6080, TunCsum::Csum), 32),
        (tunnel(TunKind::Gre, 0, TunCsum::NoCsum), 24),
        (tunnel(TunKind::Gre, 0, TunCsum::Csum), 28),
    ] {
        let mut d = director(fwd);
        let syn = tcp_frame(&L3::to_vip(), CPORT, 80, SYN);
        let (_, int) = d.ext(&syn);
        let sent = &int[0];
        let tunnel_len = sent.len() - 14 - 20;
        // Frag needed, MTU 1400, quoting the whole tunnel packet.
        let err = icmp_error(&from_router, 3, 4, [0, 0, 0x05, 0x78], sent, tunnel_len);
        let (ext, int) = d.int(&err);
        assert!(int.is_empty(), "{fwd:?}");
        assert_eq!(ext.len(), 1, "{fwd:?}: {:?}", drops(&d.w().core.ctr));
        let p = parse_ip(&ext[0]);
        assert_eq!((p.src_mac, p.dst_mac), (EXT_MAC, CLIENT_MAC), "{fwd:?}");
        assert_eq!((p.src, p.dst, p.proto), (VIP, CLIENT, 1), "{fwd:?}");
        let icmp = &p.l4;
        assert_eq!((icmp[0], icmp[1]), (3, 4), "{fwd:?}");
        let mtu = u16::from_be_bytes([icmp[6], icmp[7]]);
        assert_eq!(mtu, 1400 - overhead, "{fwd:?}: the MTU less the overhead");
        assert_eq!(
            &icmp[8..],
            &syn[14..14 + 28],
            "{fwd:?}: quoting the client's packet: header and 8 bytes"
        );
        assert_eq!(d.ctr(Ctr::IcmpErrorTunnel), 1, "{fwd:?}");
        // Any other error about the tunnel packet as it came.
        let err = icmp_error(&from_router, 11, 0, [0; 4], sent, tunnel_len);
        let (ext, _) = d.int(&err);
        assert_eq!(ext.len(), 1, "{fwd:?}");
        let p = parse_ip(&ext[0]);
        assert_eq!((p.src, p.dst), (VIP, CLIENT));
        assert_eq!(&p.l4[..2], &[11, 0], "{fwd:?}: time exceeded");
        assert_eq!(d.ctr(Ctr::IcmpErrorTunnel), 2, "{fwd:?}");
        assert_eq!(d.ctr(Ctr::IcmpErrorNat), 0);
    }
}

/// GUE's source port is a hash of the flow spread over the kernel's default
/// `ip_local_port_range`, 32768–60999, as IPVS's `ipvs_gue_encap` takes it
/// from `udp_flow_src_port(net, skb, 0, 0, false)` (no range given: the
/// local port range, the hash scaled into it, the top port never reached):
/// 4000 flows land in it, near both ends, and so never on a health check's
/// port (61000–61999).
#[test]
fn gue_source_ports_spread_over_the_kernels_local_port_range() {
    let mut d = director(tunnel(TunKind::Gue, 6080, TunCsum::NoCsum));
    let mut ports = Vec::new();
    for cport in 40000..44000u16 {
        let (_, int) = d.ext(&tcp_frame(&L3::to_vip(), cport, 80, SYN));
        let sent = &int[0];
        assert_eq!(sent[23], 17, "GUE: UDP");
        ports.push(u16::from_be_bytes([sent[34], sent[35]]));
    }
    let (lo, hi) = (ports.iter().min(), ports.iter().max());
    let (lo, hi) = (*lo.expect("ports"), *hi.expect("ports"));
    assert!(lo >= 32768 && hi <= 60999, "{lo}..={hi}");
    assert!(
        lo < 32768 + 200 && hi > 60999 - 200,
        "both ends: {lo}..={hi}"
    );
    ports.sort_unstable();
    ports.dedup();
    assert!(ports.len() > 3500, "{} distinct of 4000", ports.len());
}

/// What an error about a tunnel packet must be to reach the client: about a
/// packet the client sent with DF (for "fragmentation needed"), to our
/// address on that side, naming the connection's real server and its
/// tunnel. Anything else is counted and goes nowhere.
#[test]
fn an_icmp_error_about_a_tunnel_packet_must_match_its_connection() {
    let from_router = router_to_dip();
    let mut d = director(tunnel(TunKind::Gue, 6080, TunCsum::NoCsum));
    let mut syn = tcp_frame(&L3::to_vip(), CPORT, 80, SYN);
    let (_, int) = d.ext(&syn);
    let sent = int[0].clone();
    let n = sent.len() - 34;
    let frag_needed = |quoted: &[u8], l3: &L3| icmp_error(l3, 3, 4, [0, 0, 5, 0x78], quoted, n);
    let nothing = |d: &mut MemDirector, err: &[u8], why: &str| {
        let (ext, int) = d.int(err);
        assert!(ext.is_empty() && int.is_empty(), "{why}");
    };
    // Another real server than the connection's.
    let mut other = sent.clone();
    let rs = other[30..34].to_vec();
    let to = if rs == RS1.octets() { RS2 } else { RS1 };
    other[30..34].copy_from_slice(&to.octets());
    fix_ip_checksum(&mut other);
    nothing(&mut d, &frag_needed(&other, &from_router), "another server");
    // Another GUE port than the server's.
    let mut port = sent.clone();
    port[36..38].copy_from_slice(&6081u16.to_be_bytes());
    nothing(&mut d, &frag_needed(&port, &from_router), "another port");
    // To the VIP rather than our address on that side.
    let to_vip = L3 {
        dst: VIP,
        ..from_router
    };
    nothing(&mut d, &frag_needed(&sent, &to_vip), "to the VIP");
    assert_eq!(d.ctr(Ctr::DropIcmpNoConn), 3);
    // A parameter problem about our outer header means nothing to the client.
    nothing(
        &mut d,
        &icmp_error(&from_router, 12, 0, [8, 0, 0, 0], &sent, n),
        "parameter problem",
    );
    assert_eq!(d.ctr(Ctr::DropIcmp), 1);
    // A client packet without DF: the client does no path MTU discovery.
    syn[20] &= !0x40;
    fix_ip_checksum(&mut syn);
    let (_, int) = d.ext(&syn);
    nothing(&mut d, &frag_needed(&int[0], &from_router), "no DF");
    assert_eq!(d.ctr(Ctr::DropIcmp), 2);
    assert_eq!(d.ctr(Ctr::IcmpErrorTunnel), 0);
    // The same frag needed about the DF packet goes.
    let (ext, _) = d.int(&frag_needed(&sent, &from_router));
    assert_eq!(ext.len(), 1);
    assert_eq!(d.ctr(Ctr::IcmpErrorTunnel), 1);
}

/// Two workers: an error about a tunnel packet that reaches the worker not
/// owning the client's connection is handed to its owner, which answers the
/// client.
#[test]
fn an_icmp_error_about_a_tunnel_packet_is_handed_to_the_owning_worker() {
    let mut d = MemDirector::with_workers(2, STANDARD);
    d.resolve_all();
    d.forward_all(tunnel(TunKind::Ipip, 0, TunCsum::NoCsum));
    let cport = (CPORT..)
        .find(|&p| ringvs::io::fanout::owner(be(CLIENT), p, 2, 0) == 1)
        .expect("a port owned by worker 1");
    d.workers[1].rx[Nic::Ext].push(&tcp_frame(&L3::to_vip(), cport, 80, SYN));
    d.poll();
    let sent = d.workers[1].tx[Nic::Int].take_sent();
    assert_eq!(sent.len(), 1);
    let from_router = router_to_dip();
    let err = icmp_error(&from_router, 3, 4, [0, 0, 5, 0x78], &sent[0], 48);
    d.workers[0].rx[Nic::Int].push(&err);
    let now = d.now;
    d.workers[0].poll_once(now);
    assert!(d.workers[0].tx[Nic::Ext].take_sent().is_empty());
    assert_eq!(d.workers[0].core.ctr.get(Ctr::HandoffOut), 1);
    d.workers[1].poll_once(now);
    let out = d.workers[1].tx[Nic::Ext].take_sent();
    assert_eq!(out.len(), 1, "{:?}", drops(&d.workers[1].core.ctr));
    let p = parse_ip(&out[0]);
    assert_eq!((p.src, p.dst, &p.l4[..2]), (VIP, CLIENT, &[3u8, 4][..]));
    assert_eq!(u16::from_be_bytes([p.l4[6], p.l4[7]]), 1400 - 20);
    assert_eq!(d.workers[1].core.ctr.get(Ctr::IcmpErrorTunnel), 1);
}

/// A client packet without DF that fits the NIC but not the tunnel: the
/// outer packet goes out in fragments, as the kernel fragments what
/// `ip_vs_tunnel_xmit` sends (its DF copied from the client's: clear), and
/// the real server's kernel reassembles the tunnel packet.
#[test]
fn a_packet_without_df_too_big_for_the_tunnel_goes_in_fragments() {
    for (fwd, head) in [
        (tunnel(TunKind::Ipip, 0, TunCsum::NoCsum), 0),
        (tunnel(TunKind::Gue, 6080, TunCsum::Csum), 12),
        (tunnel(TunKind::Gre, 0, TunCsum::Csum), 8),
    ] {
        let mut d = director(fwd);
        d.ext(&tcp_frame(&L3::to_vip(), CPORT, 80, SYN));
        let mut big = tcp_seg(&L3::to_vip(), CPORT, 80, ACK, 1, 1, &[0x33; 1460]);
        big[20] = 0; // DF clear
        fix_ip_checksum(&mut big);
        let (ext, int) = d.ext(&big);
        assert!(ext.is_empty(), "{fwd:?}: no error to the client");
        assert_eq!(int.len(), 2, "{fwd:?}: {:?}", drops(&d.w().core.ctr));
        let whole = reassemble(&int, 1500);
        let ip = SIp::new_checked(&whole[..]).expect("outer ip");
        assert!(
            !ip.dont_frag(),
            "{fwd:?}: DF copied from the client's packet"
        );
        assert_eq!(ip.src_addr(), DIP);
        assert!([RS1, RS2].contains(&ip.dst_addr()));
        assert_eq!(
            &ip.payload()[head..],
            &big[14..],
            "{fwd:?}: the packet, whole"
        );
        if head == 12 {
            let udp = SUdp::new_checked(ip.payload()).expect("udp");
            assert!(udp.verify_checksum(&ip.src_addr().into(), &ip.dst_addr().into()));
        }
        assert_eq!(d.ctr(Ctr::TxFragments), 2, "{fwd:?}");
        assert_eq!(
            d.ctr(Ctr::TunnelEncap),
            2,
            "{fwd:?}: the SYN and this packet"
        );
        assert_eq!(d.ctr(Ctr::DropTooBig), 0, "{fwd:?}");
    }
}

mod edited_icmp {
    //! ICMP errors about DR and TUN connections with bytes changed: every
    //! frame has exactly one outcome (sent, queued for a neighbor, handed
    //! off, or a `drop_*` counter), as the worker fuzz target demands of any
    //! frame, and nothing panics; 60 frames a case also run the director
    //! past its ICMP rate limit's burst.
    use super::*;
    use proptest::prelude::*;

    /// The errors a case edits: a router's about the TUN connection's tunnel
    /// packet (internal NIC), and a client-side one about the server's reply
    /// (external NIC).
    fn bases(fwd: Forward) -> (MemDirector, Vec<(Nic, Vec<u8>)>) {
        let mut d = director(fwd);
        let (_, int) = d.ext(&tcp_frame(&L3::to_vip(), CPORT, 80, SYN));
        let sent = int[0].clone();
        let from_router = router_to_dip();
        let reply = tcp_frame(&L3::vip_to_client(), 80, CPORT, ACK);
        let n = sent.len() - 34;
        let bases = vec![
            (
                Nic::Int,
                icmp_error(&from_router, 3, 4, [0, 0, 5, 0x78], &sent, n),
            ),
            (
                Nic::Ext,
                icmp_error(&L3::to_vip(), 3, 4, [0, 0, 5, 0x78], &reply, 20),
            ),
        ];
        (d, bases)
    }

    /// The IPv4 header checksum and the ICMP checksum made good again.
    fn fix(f: &mut [u8]) {
        if f.len() < 38 {
            return;
        }
        fix_ip_checksum(f);
        fix_icmp_checksum(f);
    }

    /// One frame's outcomes: frames sent, queued, handed off, drops, and
    /// handed to the health thread (an edit can make an echo reply to the
    /// DIP, or an error about a health check's datagram: `divert.rs`).
    fn outcomes(d: &mut MemDirector, nic: Nic, f: &[u8]) -> u64 {
        let before = d.w().core.ctr.clone();
        let tapped_before = d.shared.health.handed();
        let (ext, int) = match nic {
            Nic::Ext => d.ext(f),
            Nic::Int => d.int(f),
        };
        let diverted = d.shared.health.handed() - tapped_before;
        let after = &d.w().core.ctr;
        let moved = |c: Ctr| after.get(c) - before.get(c);
        (ext.len() + int.len()) as u64
            + moved(Ctr::NeighQueued)
            + moved(Ctr::HandoffOut)
            + drop_sum(after)
            - drop_sum(&before)
            + diverted
    }

    /// Past the burst of the ICMP rate limit (50; the clock stands still),
    /// an error about a tunnel packet that is not passed on is a counted
    /// drop; "fragmentation needed" is always passed on, as `icmp_send`
    /// never limits it (`icmpv4_mask_allow`).
    #[test]
    fn errors_over_the_rate_limit_are_counted_drops() {
        let (mut d, bases) = bases(tunnel(TunKind::Ipip, 0, TunCsum::NoCsum));
        let (nic, frag_needed) = &bases[0];
        // The same error as "host unreachable" (code 1), checksums made good.
        let mut unreachable = frag_needed.clone();
        unreachable[35] = 1;
        fix(&mut unreachable);
        for (f, passed, limited) in [(frag_needed, 60, 0), (&unreachable, 110, 10)] {
            for i in 0..60 {
                assert_eq!(
                    outcomes(&mut d, *nic, f),
                    1,
                    "error {i}: {:?}",
                    drops(&d.w().core.ctr)
                );
            }
            assert_eq!(d.ctr(Ctr::IcmpErrorTunnel), passed);
            assert_eq!(d.ctr(Ctr::DropIcmpLimited), limited);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]
        #[test]
        fn every_edited_error_has_one_outcome(
            kind in 0usize..4,
            frames in proptest::collection::vec(
                (0usize..2, proptest::collection::vec((0usize..120, any::<u8>()), 0..4), any::<bool>(), 0usize..200),
                60,
            ),
        ) {
            let fwd = [
                Forward::Route,
                tunnel(TunKind::Ipip, 0, TunCsum::NoCsum),
                tunnel(TunKind::Gue, 6080, TunCsum::Csum),
                tunnel(TunKind::Gre, 0, TunCsum::Csum),
            ][kind];
            let (mut d, bases) = bases(fwd);
            for (which, edits, fixed, cut) in frames {
                let (nic, mut f) = bases[which].clone();
                for (at, v) in edits {
                    // Mostly inside the quote, past the outer headers.
                    let at = 34 + at;
                    if at < f.len() {
                        f[at] = v;
                    }
                }
                if cut < 100 {
                    let keep = f.len().saturating_sub(cut).max(14);
                    f.truncate(keep);
                    let total = (keep - 14) as u16;
                    if keep >= 34 {
                        f[16..18].copy_from_slice(&total.to_be_bytes());
                    }
                }
                if fixed {
                    fix(&mut f);
                }
                let n = outcomes(&mut d, nic, &f);
                prop_assert_eq!(n, 1, "{:?} {:?}: {:02x?}; {:?}", fwd, nic, f, drops(&d.w().core.ctr));
            }
        }
    }
}

/// The outer IP id: 0 for a tunnel packet with DF (it is never
/// fragmented), else a counter per worker, the workers' ids interleaved, so
/// that two workers' fragments to one real server never share an id.
#[test]
fn outer_ids_are_zero_with_df_and_apart_between_workers_without() {
    let mut d = MemDirector::with_workers(2, STANDARD);
    d.resolve_all();
    d.forward_all(tunnel(TunKind::Ipip, 0, TunCsum::NoCsum));
    let mut ids = [Vec::new(), Vec::new()];
    let outer_id = |f: &[u8]| u16::from_be_bytes([f[18], f[19]]);
    for (w, ids) in ids.iter_mut().enumerate() {
        let ports = (CPORT..).filter(|&p| ringvs::io::fanout::owner(be(CLIENT), p, 2, 0) == w);
        for p in ports.take(3) {
            // The SYN has DF (as the helpers make every packet).
            d.workers[w].rx[Nic::Ext].push(&tcp_frame(&L3::to_vip(), p, 80, SYN));
            d.poll();
            let out = d.workers[w].tx[Nic::Int].take_sent();
            assert_eq!(outer_id(&out[0]), 0, "worker {w}: DF, id 0");
            let mut ack = tcp_frame(&L3::to_vip(), p, 80, ACK);
            ack[20] = 0; // DF clear
            fix_ip_checksum(&mut ack);
            d.workers[w].rx[Nic::Ext].push(&ack);
            d.poll();
            let out = d.workers[w].tx[Nic::Int].take_sent();
            assert_eq!(out.len(), 1);
            ids.push(outer_id(&out[0]));
        }
    }
    assert!(ids[0].iter().all(|i| i % 2 == 0), "{ids:?}");
    assert!(ids[1].iter().all(|i| i % 2 == 1), "{ids:?}");
    for (w, v) in ids.iter().enumerate() {
        let mut u = v.clone();
        u.sort_unstable();
        u.dedup();
        assert_eq!(u.len(), 3, "worker {w}: {ids:?}");
    }
}

/// A router's error about a tunnel packet: an MTU under the kernel's floor
/// for a path MTU (552) counts as 552; and an error that comes back by the
/// other NIC than the tunnel leaves by is not taken.
#[test]
fn a_tunnel_error_is_taken_from_the_tunnels_side_with_a_floor_on_its_mtu() {
    let mut d = director(tunnel(TunKind::Gue, 6080, TunCsum::NoCsum));
    let (_, int) = d.ext(&tcp_frame(&L3::to_vip(), CPORT, 80, SYN));
    let sent = int[0].clone();
    let from_router = router_to_dip();
    let n = sent.len() - 34;
    let (ext, _) = d.int(&icmp_error(&from_router, 3, 4, [0; 4], &sent, n));
    assert_eq!(ext.len(), 1, "{:?}", drops(&d.w().core.ctr));
    let p = parse_ip(&ext[0]);
    assert_eq!(
        u16::from_be_bytes([p.l4[6], p.l4[7]]),
        552 - 32,
        "MTU 0 as 552"
    );
    // From outside, to our external address, quoting the tunnel packet as
    // if it had left from there: the tunnel to that server leaves by the
    // internal NIC, so it is not ours.
    let outside = L3 {
        dst: EXT_ADDR,
        ..L3::to_vip()
    };
    let mut forged = sent.clone();
    forged[26..30].copy_from_slice(&EXT_ADDR.octets());
    fix_ip_checksum(&mut forged);
    let (ext, int) = d.ext(&icmp_error(&outside, 3, 4, [0, 0, 5, 0x78], &forged, n));
    assert!(ext.is_empty() && int.is_empty(), "not by the tunnel's side");
    assert_eq!(d.ctr(Ctr::DropIcmpNoConn), 1);
    assert_eq!(d.ctr(Ctr::IcmpErrorTunnel), 1);
}

/// A router's "fragmentation needed" about a tunnel packet is kept for the
/// tunnel's endpoint, as IPVS keeps it in its route to the real server
/// (`ipv4_update_pmtu`): the next client's DF packet too big for that path
/// gets the error from the director at once, without a trip to the router;
/// one that fits goes; after 10 minutes (`ip_rt_mtu_expires`) the link's MTU
/// holds again.
#[test]
fn a_path_mtu_learned_from_a_router_holds_for_ten_minutes() {
    let mut d = director(tunnel(TunKind::Gue, 6080, TunCsum::NoCsum));
    let (_, int) = d.ext(&tcp_frame(&L3::to_vip(), CPORT, 80, SYN));
    let sent = int[0].clone();
    let rs: [u8; 4] = sent[30..34].try_into().expect("outer dst");
    let n = sent.len() - 34;
    let (ext, _) = d.int(&icmp_error(
        &router_to_dip(),
        3,
        4,
        [0, 0, 5, 0x78],
        &sent,
        n,
    ));
    assert_eq!(ext.len(), 1);
    // Another client (its connection to the same server: one server per
    // test, so round robin alternates; take the next port that lands there).
    let mut port = CPORT + 1;
    loop {
        let (_, int) = d.ext(&tcp_frame(&L3::to_vip(), port, 80, SYN));
        if int[0][30..34] == rs {
            break;
        }
        port += 1;
    }
    let big = tcp_seg(&L3::to_vip(), port, 80, ACK, 1, 1, &[0; 1400 - 40 - 32 + 1]);
    let (ext, int) = d.ext(&big);
    assert!(int.is_empty(), "not sent into the narrower path");
    assert_eq!(ext.len(), 1, "{:?}", drops(&d.w().core.ctr));
    let p = parse_ip(&ext[0]);
    assert_eq!((p.src, p.dst, &p.l4[..2]), (VIP, CLIENT, &[3u8, 4][..]));
    assert_eq!(u16::from_be_bytes([p.l4[6], p.l4[7]]), 1400 - 32);
    assert_eq!(d.ctr(Ctr::IcmpFragNeeded), 1);
    let fits = tcp_seg(&L3::to_vip(), port, 80, ACK, 1, 1, &[0; 1400 - 40 - 32]);
    assert_eq!(d.ext(&fits).1.len(), 1, "what fits the path goes");
    d.advance(ringvs::dataplane::PMTU_EXPIRES);
    let (_, int) = d.ext(&big);
    assert_eq!(int.len(), 1, "expired: the link's MTU again");
    assert_eq!(d.ctr(Ctr::IcmpFragNeeded), 1);
}

/// A packet without DF too big for the path MTU a router reported for the
/// tunnel's endpoint, though the outer packet would fit the link: the outer
/// packet is cut at the path MTU, as the kernel's `ip_fragment` cuts what
/// `ip_vs_tunnel_xmit` sends at the route's MTU (`ip_skb_dst_mtu`, lowered
/// by `ipv4_update_pmtu`), where cutting at the link's would leave the router
/// to cut each one again.
#[test]
fn the_outer_packet_is_cut_at_the_learned_path_mtu() {
    let mut d = director(tunnel(TunKind::Ipip, 0, TunCsum::NoCsum));
    let (_, int) = d.ext(&tcp_frame(&L3::to_vip(), CPORT, 80, SYN));
    let sent = int[0].clone();
    let n = sent.len() - 34;
    // Frag needed, next-hop MTU 1400.
    let err = icmp_error(&router_to_dip(), 3, 4, [0, 0, 5, 0x78], &sent, n);
    assert_eq!(d.int(&err).0.len(), 1, "the client told");
    let mut big = tcp_seg(&L3::to_vip(), CPORT, 80, ACK, 1, 1, &[0x5a; 1480 - 40]);
    big[20] = 0; // DF clear
    fix_ip_checksum(&mut big);
    assert_eq!(big.len() - 14, 1480);
    let (ext, int) = d.ext(&big);
    assert!(ext.is_empty(), "no error to the client: it had no DF");
    assert_eq!(int.len(), 2, "{:?}", drops(&d.w().core.ctr));
    let whole = reassemble(&int, 1400);
    let ip = SIp::new_checked(&whole[..]).expect("outer ip");
    assert_eq!(ip.next_header(), IpProtocol::Unknown(4));
    assert_eq!(ip.payload(), &big[14..], "the packet, whole");
    assert_eq!(d.ctr(Ctr::TxFragments), 2);
    assert_eq!(d.ctr(Ctr::DropTooBig), 0);
    assert_eq!(d.ctr(Ctr::TxFragmented), 1);
    assert_eq!(d.ctr(Ctr::FwdIn), 2, "the SYN and the cut packet");
    assert_eq!(d.ctr(Ctr::TunnelEncap), 2);
}

/// A client-side ICMP error with DF about a TUN connection, too big for the
/// tunnel's learned path MTU: passed on all the same, the outer packet (DF
/// copied, then cleared in each fragment) in fragments, as IPVS relays it: `ensure_mtu_is_adequate` skips
/// the MTU check for an ICMP error (`!ip_vs_iph_icmp`) and
/// `ip_vs_tunnel_xmit` sets `ignore_df`, so `ip_fragment` cuts the outer
/// packet. Its fragments take an id of the worker's (the kernel's all carry
/// 0: a deliberate difference, so the server cannot mix two such up).
#[test]
fn a_df_icmp_error_too_big_for_the_tunnels_path_goes_in_fragments() {
    let mut d = director(tunnel(TunKind::Ipip, 0, TunCsum::NoCsum));
    let (_, int) = d.ext(&tcp_frame(&L3::to_vip(), CPORT, 80, SYN));
    let sent = int[0].clone();
    let n = sent.len() - 34;
    // Frag needed, next-hop MTU 552 (the least the kernel learns).
    let learn = icmp_error(&router_to_dip(), 3, 4, [0, 0, 2, 0x28], &sent, n);
    assert_eq!(d.int(&learn).0.len(), 1, "the client told");
    // A router's frag needed about the server's reply, to the VIP: 576
    // bytes with DF, which the 532 bytes the IPIP tunnel now carries cannot.
    let reply = tcp_seg(&L3::vip_to_client(), 80, CPORT, ACK, 1, 1, &[0x42; 1400]);
    let l3 = L3 {
        src: std::net::Ipv4Addr::new(198, 18, 0, 254),
        ..L3::to_vip()
    };
    let mut err = icmp_error(&l3, 3, 4, [0, 0, 0x05, 0x78], &reply, 576 - 48);
    err[20] |= 0x40; // DF
    fix_ip_checksum(&mut err);
    assert_eq!(err.len() - 14, 576);
    let (ext, int) = d.ext(&err);
    assert!(ext.is_empty(), "no error about an error");
    assert_eq!(int.len(), 2, "{:?}", drops(&d.w().core.ctr));
    let whole = reassemble(&int, 552);
    let ip = SIp::new_checked(&whole[..]).expect("outer ip");
    assert_eq!(ip.next_header(), IpProtocol::Unknown(4));
    assert_eq!(ip.payload(), &err[14..], "the error as it came");
    assert_ne!(&int[0][18..20], &[0, 0], "an id of the worker's");
    assert_eq!(d.ctr(Ctr::IcmpErrorDirect), 1);
    assert_eq!(d.ctr(Ctr::TxFragments), 2);
    assert_eq!(d.ctr(Ctr::DropTooBig), 0);
}

/// Two workers: the path MTU a router reported to one is the other's too,
/// as the kernel's route to the real server is one for all CPUs
/// (`ipv4_update_pmtu` on the route `__ip_vs_get_out_rt` caches per
/// server): worker 1's client gets "fragmentation needed" for a packet too
/// big for the path worker 0 learned, without a trip to the router.
#[test]
fn a_path_mtu_learned_by_one_worker_holds_for_the_others() {
    let mut d = MemDirector::with_workers(2, STANDARD);
    d.resolve_all();
    d.forward_all(tunnel(TunKind::Gue, 6080, TunCsum::NoCsum));
    let owned_by =
        |w: usize| (CPORT..).filter(move |&p| ringvs::io::fanout::owner(be(CLIENT), p, 2, 0) == w);
    let a = owned_by(0).next().expect("a port owned by worker 0");
    d.workers[0].rx[Nic::Ext].push(&tcp_frame(&L3::to_vip(), a, 80, SYN));
    d.poll();
    let sent = d.workers[0].tx[Nic::Int].take_sent();
    assert_eq!(sent.len(), 1);
    let rs: [u8; 4] = sent[0][30..34].try_into().expect("outer dst");
    let err = icmp_error(
        &router_to_dip(),
        3,
        4,
        [0, 0, 5, 0x78],
        &sent[0],
        sent[0].len() - 34,
    );
    d.workers[0].rx[Nic::Int].push(&err);
    d.poll();
    assert_eq!(
        d.workers[0].tx[Nic::Ext].take_sent().len(),
        1,
        "worker 0's client told"
    );
    assert_eq!(d.workers[0].core.ctr.get(Ctr::IcmpErrorTunnel), 1);
    // A client of worker 1 whose connection goes to the same server.
    let b = owned_by(1)
        .take(64)
        .find(|&p| {
            d.workers[1].rx[Nic::Ext].push(&tcp_frame(&L3::to_vip(), p, 80, SYN));
            d.poll();
            let out = d.workers[1].tx[Nic::Int].take_sent();
            out.len() == 1 && out[0][30..34] == rs
        })
        .expect("a port of worker 1's to the same server");
    let big = tcp_seg(&L3::to_vip(), b, 80, ACK, 1, 1, &[0; 1400 - 40 - 32 + 1]);
    d.workers[1].rx[Nic::Ext].push(&big);
    d.poll();
    assert!(
        d.workers[1].tx[Nic::Int].take_sent().is_empty(),
        "not sent into the narrower path"
    );
    let ext = d.workers[1].tx[Nic::Ext].take_sent();
    assert_eq!(ext.len(), 1, "{:?}", drops(&d.workers[1].core.ctr));
    let p = parse_ip(&ext[0]);
    assert_eq!((p.src, p.dst, &p.l4[..2]), (VIP, CLIENT, &[3u8, 4][..]));
    assert_eq!(u16::from_be_bytes([p.l4[6], p.l4[7]]), 1400 - 32);
    assert_eq!(d.workers[1].core.ctr.get(Ctr::IcmpFragNeeded), 1);
    assert_eq!(
        d.workers[1].core.ctr.get(Ctr::IcmpErrorTunnel),
        0,
        "no error of its own"
    );
    let fits = tcp_seg(&L3::to_vip(), b, 80, ACK, 1, 1, &[0; 1400 - 40 - 32]);
    d.workers[1].rx[Nic::Ext].push(&fits);
    d.poll();
    assert_eq!(
        d.workers[1].tx[Nic::Int].take_sent().len(),
        1,
        "what fits goes"
    );
}

/// The director keeps 64 tunnel endpoints' path MTUs: routers reporting for
/// 65 endpoints make it replace a live entry (whichever set the hash puts
/// two too many in), and `pmtu_replaced` says so; every client is still
/// told.
#[test]
fn a_path_mtu_that_replaces_another_endpoints_is_counted() {
    let servers: Vec<std::net::Ipv4Addr> = (10..75)
        .map(|i| std::net::Ipv4Addr::new(198, 19, 0, i))
        .collect();
    let mut rules = vec!["-A -t 198.18.0.110:80 -s rr".to_string()];
    rules.extend(
        servers
            .iter()
            .map(|rs| format!("-a -t 198.18.0.110:80 -r {rs}:80 -i")),
    );
    let rules: Vec<&str> = rules.iter().map(String::as_str).collect();
    let mut d = MemDirector::new(&rules);
    d.resolve(Nic::Ext, CLIENT, CLIENT_MAC);
    for (i, &rs) in servers.iter().enumerate() {
        d.resolve(Nic::Int, rs, [2, 0, 0, 0, 1, i as u8]);
    }
    let mut endpoints = std::collections::HashSet::new();
    for port in CPORT..CPORT + servers.len() as u16 {
        let (_, int) = d.ext(&tcp_frame(&L3::to_vip(), port, 80, SYN));
        assert_eq!(int.len(), 1, "{port}: {:?}", drops(&d.w().core.ctr));
        endpoints.insert(int[0][30..34].to_vec());
        let n = int[0].len() - 34;
        let err = icmp_error(&router_to_dip(), 3, 4, [0, 0, 5, 0x78], &int[0], n);
        let (ext, _) = d.int(&err);
        assert_eq!(ext.len(), 1, "{port}: the client told");
    }
    assert_eq!(endpoints.len(), servers.len(), "one connection each");
    assert_eq!(d.ctr(Ctr::IcmpErrorTunnel), servers.len() as u64);
    let replaced = d.ctr(Ctr::PmtuReplaced);
    assert!((1..servers.len() as u64).contains(&replaced), "{replaced}");
}

/// The bytes of a tunnel packet against what the kernel's IPVS sends
/// (`ip_vs_xmit.c`), found by review (2026-12-06).
mod tunnel_bytes {
    use super::*;

    fn director(kind: TunKind, port: u16, csum: TunCsum) -> MemDirector {
        let mut d = MemDirector::standard();
        d.forward_all(Forward::Tunnel(Tunnel { kind, port, csum }));
        d
    }

    /// `ip_vs_tunnel_xmit`: with `IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM`, `check`
    /// is true and `udp_set_csum(!check, ...)` fills GUE's UDP checksum.
    #[test]
    fn gue_with_remcsum_has_an_outer_udp_checksum() {
        let mut d = director(TunKind::Gue, 6080, TunCsum::RemCsum);
        let (_, int) = d.ext(&tcp_frame(&L3::to_vip(), 40000, 80, SYN));
        assert_eq!(int.len(), 1);
        let ip = SIp::new_checked(&int[0][14..]).expect("ip");
        let udp = SUdp::new_checked(ip.payload()).expect("udp");
        assert_ne!(udp.checksum(), 0, "computed");
        assert!(udp.verify_checksum(&ip.src_addr().into(), &ip.dst_addr().into()));
    }

    /// `decrement_ttl` takes the TTL down by one and
    /// `ip_vs_prepare_tunneled_skb` gives the outer header that TTL (not
    /// 64), and `INET_ECN_encapsulate` turns an inner CE into ECT(0)
    /// outside (the DSCP is copied).
    #[test]
    fn the_outer_header_has_the_inner_ttl_less_one_and_no_ce() {
        let mut d = director(TunKind::Ipip, 0, TunCsum::NoCsum);
        let l3 = L3 {
            ttl: 30,
            ..L3::to_vip()
        };
        let mut syn = tcp_frame(&l3, 40000, 80, SYN);
        syn[15] = 0xb8 | 0x03; // DSCP EF, ECN CE
        fix_ip_checksum(&mut syn);
        let (_, int) = d.ext(&syn);
        let outer = &one_frame(int)[14..];
        assert_eq!(outer[1], 0xb8 | 0x02, "CE becomes ECT(0)");
        assert_eq!(outer[8], 29, "the inner TTL less one");
        assert_eq!(outer[20 + 1], 0xb8 | 0x03, "the inner packet as it came");
        // ECT(1) and Not-ECT are copied as they are.
        syn[15] = 0xb8 | 0x01;
        fix_ip_checksum(&mut syn);
        let (_, int) = d.ext(&syn);
        assert_eq!(one_frame(int)[14 + 1], 0xb8 | 0x01);
    }

    fn one_frame(frames: Vec<Vec<u8>>) -> Vec<u8> {
        assert_eq!(frames.len(), 1, "one frame");
        frames.into_iter().next().unwrap_or_default()
    }

    /// `__ip_rt_update_pmtu` (`net/ipv4/route.c`) never raises a path MTU
    /// (`if (old_mtu < mtu) return;`): a second, larger "fragmentation
    /// needed" about the same tunnel endpoint leaves 1400 in place, and the
    /// client is told what the route holds, 1400 less the tunnel's 32 both
    /// times (`ip_vs_in_icmp`: "Prefer the resulting PMTU", the route's
    /// `dst_mtu` after `ipv4_update_pmtu`), not the larger report.
    #[test]
    fn a_larger_reported_mtu_does_not_raise_the_learned_one() {
        let mut d = director(TunKind::Gue, 6080, TunCsum::NoCsum);
        let (_, int) = d.ext(&tcp_frame(&L3::to_vip(), 40000, 80, SYN));
        let sent = one_frame(int);
        let n = sent.len() - 34;
        let router = L3 {
            src: std::net::Ipv4Addr::new(198, 19, 0, 254),
            dst: DIP,
            ..L3::from_rs(RS1, DIP)
        };
        for mtu in [1400u16, 1492] {
            let m = mtu.to_be_bytes();
            let (ext, _) = d.int(&icmp_error(&router, 3, 4, [0, 0, m[0], m[1]], &sent, n));
            assert_eq!(ext.len(), 1, "{mtu}: passed on to the client");
            let told = parse_ip(&ext[0]);
            assert_eq!(told.l4[6..8], (1400u16 - 32).to_be_bytes(), "{mtu}");
        }
        // 1440 bytes of IP: over 1400 - 32, under 1492 - 32.
        let big = tcp_seg(&L3::to_vip(), 40000, 80, ACK, 1, 1, &[0; 1400]);
        let (ext, int) = d.ext(&big);
        assert!(int.is_empty(), "the path MTU is still 1400");
        assert_eq!(ext.len(), 1, "fragmentation needed");
    }
}
