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
            vlan: false,
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
            vlan: false,
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
            assert!(udp.src_port() >= 49152);
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

#[test]
fn a_df_packet_too_big_for_the_tunnel_gets_the_mtu_less_the_overhead() {
    let mut d = director(tunnel(TunKind::Gue, 6080, TunCsum::NoCsum));
    d.ext(&tcp_frame(&L3::to_vip(), CPORT, 80, SYN));
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
    let reply = tcp_seg(
        &L3 {
            src: VIP,
            dst: CLIENT,
            ..L3::to_vip()
        },
        80,
        CPORT,
        ACK,
        1,
        1,
        &[0x42; 1400],
    );
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
    let reply = tcp_frame(
        &L3 {
            src: VIP,
            dst: CLIENT,
            ..L3::to_vip()
        },
        80,
        CPORT,
        ACK,
    );
    let other_port = tcp_frame(
        &L3 {
            src: VIP,
            dst: CLIENT,
            ..L3::to_vip()
        },
        80,
        CPORT + 1,
        ACK,
    );
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
