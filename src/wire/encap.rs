//! Tunnel encapsulation as IPVS's tunnelling mode writes it (`ip_vs_xmit.c`:
//! `ip_vs_tunnel_xmit` for an IPv4 outer header, `ip_vs_tunnel_xmit_v6` for
//! an IPv6 one, `ipvs_gue_encap`, `ipvs_gre_encap`): an outer header from the
//! director to the real server, then
//!
//! * IPIP: the inner packet (protocol 4 for an inner IPv4 packet, 41 for an
//!   inner IPv6 one: IPv4-in-IPv4, IPv6-in-IPv6 (RFC 2473), and across
//!   families);
//! * GUE: UDP to the tunnel port, a 4-byte GUE header (version 0, `hlen` 0,
//!   `proto_ctype` the inner protocol, 4 or 41) and the inner packet (RFC
//!   draft-ietf-intarea-gue, the variant the kernel's `fou` module
//!   decapsulates);
//! * GRE: a 4-byte GRE header (protocol 0x0800 or 0x86DD), 8 bytes with the
//!   checksum present bit and a checksum over the GRE header and payload
//!   (RFC 2784).
//!
//! The outer header takes the inner one's DSCP/ECN byte (IPv6: traffic
//! class; Congestion Experienced written as ECT(0), `INET_ECN_encapsulate`),
//! and an outer IPv4 header the inner IPv4 one's DF bit, as
//! `ip_vs_prepare_tunneled_skb` gives them; an outer IPv6 header has flow
//! label 0, as `ip_vs_tunnel_xmit_v6` writes it. The inner packet is copied
//! unchanged (but for what the caller's `fix` does).
//!
//! One deliberate difference: GUE's UDP checksum over IPv6 is always
//! computed. IPVS leaves it 0 without `--tun-csum` (`udp6_set_csum`), which
//! only a receiver that accepts zero checksums on that socket takes (RFC 6935);
//! RFC 8200 §8.1 makes it mandatory.

use super::checksum;
use super::ipv4::{Ipv4Packet, protocol};
use super::ipv6::{self, Ipv6Packet};
use std::net::{Ipv4Addr, Ipv6Addr};

/// The outer IPv4 header.
pub const OUTER_IP: usize = 20;
/// The outer IPv6 header.
pub const OUTER_IP6: usize = ipv6::HEADER_LEN;
/// UDP header.
pub const UDP: usize = 8;
/// The GUE header (no options).
pub const GUE: usize = 4;
/// The GRE header without and with its checksum field.
pub const GRE: usize = 4;
pub const GRE_CSUM: usize = 8;
/// IP protocol numbers of the outer header: an IPv4 packet inside, an IPv6
/// packet inside, GRE.
pub const PROTO_IPIP: u8 = 4;
pub const PROTO_IPV6: u8 = 41;
pub const PROTO_GRE: u8 = 47;
/// GRE's protocol types of an IPv4 and an IPv6 payload, and its
/// checksum-present bit.
const GRE_PROTO_IPV4: u16 = 0x0800;
const GRE_PROTO_IPV6: u16 = 0x86dd;
const GRE_FLAG_CSUM: u16 = 0x8000;

/// What goes around the inner packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encap {
    Ipip,
    /// GUE to `port` from `sport`; `csum`: the outer UDP checksum is computed
    /// (`--tun-csum`), else 0 (`--tun-nocsum`; over IPv6 it is always
    /// computed, see the module doc).
    Gue {
        sport: u16,
        port: u16,
        csum: bool,
    },
    /// GRE; `csum`: with the checksum field (`--tun-csum`).
    Gre {
        csum: bool,
    },
}

impl Encap {
    /// Bytes between the outer IP header and the inner packet.
    pub const fn tunnel_len(self) -> usize {
        match self {
            Encap::Ipip => 0,
            Encap::Gue { .. } => UDP + GUE,
            Encap::Gre { csum: false } => GRE,
            Encap::Gre { csum: true } => GRE_CSUM,
        }
    }

    /// Bytes the encapsulation adds in front of the inner packet, with an
    /// outer IPv4 header.
    pub const fn overhead(self) -> usize {
        OUTER_IP + self.tunnel_len()
    }

    /// [`Encap::overhead`] with an outer IPv6 header.
    pub const fn overhead6(self) -> usize {
        OUTER_IP6 + self.tunnel_len()
    }
}

/// The outer header's addresses and the fields not taken from the inner one.
#[derive(Clone, Copy, Debug)]
pub struct Outer {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ident: u16,
    pub ttl: u8,
}

/// An outer IPv6 header's addresses and hop limit.
#[derive(Clone, Copy, Debug)]
pub struct Outer6 {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub hop_limit: u8,
}

/// The outer header of either family.
#[derive(Clone, Copy, Debug)]
pub enum OuterIp {
    V4(Outer),
    V6(Outer6),
}

impl OuterIp {
    /// Bytes `e` adds in front of the inner packet under this header.
    pub const fn overhead(&self, e: Encap) -> usize {
        match self {
            OuterIp::V4(_) => e.overhead(),
            OuterIp::V6(_) => e.overhead6(),
        }
    }
}

/// The inner packet's family as its header says: its protocol number as a
/// payload (4, 41), GRE protocol type, DSCP/ECN byte and DF bit (IPv6: none).
fn inner_kind(inner: &[u8]) -> Option<(u8, u16, u8, bool)> {
    match inner.first()? >> 4 {
        4 => {
            let ip = Ipv4Packet::new_checked(inner).ok()?;
            Some((PROTO_IPIP, GRE_PROTO_IPV4, ip.dscp_ecn(), ip.dont_frag()))
        }
        6 => {
            let ip = Ipv6Packet::new_checked(inner).ok()?;
            Some((PROTO_IPV6, GRE_PROTO_IPV6, ip.traffic_class(), false))
        }
        _ => None,
    }
}

/// The outer header's DSCP and ECN for an inner packet's `tos` (traffic
/// class): the same, but Congestion Experienced becomes ECT(0), as the
/// kernel's `INET_ECN_encapsulate` (which `ip_vs_prepare_tunneled_skb`
/// applies) writes it (RFC 6040: CE is not copied out).
fn ecn_encapsulate(tos: u8) -> u8 {
    if tos & 3 == 3 { (tos & !3) | 2 } else { tos }
}

/// Write `inner` (a whole IPv4 packet, header checked by the caller) into
/// `out` encapsulated as `e` from `o`; `fix` may change the inner packet's
/// copy before the outer checksums are computed. Returns the bytes written,
/// or `None` if `out` is too short or the result would exceed 65535 bytes.
pub fn encapsulate(
    out: &mut [u8],
    inner: &[u8],
    e: Encap,
    o: &Outer,
    fix: impl FnOnce(&mut [u8]),
) -> Option<usize> {
    encapsulate_ip(out, inner, e, &OuterIp::V4(*o), fix)
}

/// [`encapsulate`] for an inner IPv4 or IPv6 packet (told by its version)
/// under an outer header of either family. A `fix` that changes the inner
/// packet's hop limit or traffic class does so before the outer header
/// copies them.
pub fn encapsulate_ip(
    out: &mut [u8],
    inner: &[u8],
    e: Encap,
    o: &OuterIp,
    fix: impl FnOnce(&mut [u8]),
) -> Option<usize> {
    let outer = match o {
        OuterIp::V4(_) => OUTER_IP,
        OuterIp::V6(_) => OUTER_IP6,
    };
    let head = outer + e.tunnel_len();
    let total = head + inner.len();
    // An IPv4 total length, or an IPv6 payload length, fits 16 bits.
    let length_field = match o {
        OuterIp::V4(_) => total,
        OuterIp::V6(_) => total - OUTER_IP6,
    };
    if length_field > usize::from(u16::MAX) || out.len() < total {
        return None;
    }
    inner_kind(inner)?;
    let out = &mut out[..total];
    out[head..].copy_from_slice(inner);
    fix(&mut out[head..]);
    let (inner_proto, gre_proto, tos, df) = inner_kind(&out[head..])?;
    let tos = ecn_encapsulate(tos);
    let proto = match e {
        Encap::Ipip => inner_proto,
        Encap::Gue { .. } => protocol::UDP,
        Encap::Gre { .. } => PROTO_GRE,
    };
    match o {
        OuterIp::V4(o) => {
            let mut ip = Ipv4Packet::new_unchecked(&mut out[..OUTER_IP]);
            ip.set_version(4);
            ip.set_header_len(OUTER_IP);
            ip.set_dscp_ecn(tos);
            ip.set_total_len(total as u16);
            ip.set_ident(o.ident);
            ip.set_fragmentation(df, false, 0);
            ip.set_ttl(o.ttl);
            ip.set_protocol(proto);
            ip.set_src(o.src);
            ip.set_dst(o.dst);
            ip.fill_checksum();
        }
        OuterIp::V6(o) => {
            let mut ip = Ipv6Packet::new_unchecked(&mut out[..OUTER_IP6]);
            ip.set_version(6);
            ip.set_traffic_class(tos);
            ip.set_flow_label(0);
            ip.set_payload_len((total - OUTER_IP6) as u16);
            ip.set_next_header(proto);
            ip.set_hop_limit(o.hop_limit);
            ip.set_src(o.src);
            ip.set_dst(o.dst);
        }
    }
    match e {
        Encap::Ipip => {}
        Encap::Gue { sport, port, csum } => {
            let udp_len = (total - outer) as u16;
            let u = &mut out[outer..];
            u[0..2].copy_from_slice(&sport.to_be_bytes());
            u[2..4].copy_from_slice(&port.to_be_bytes());
            u[4..6].copy_from_slice(&udp_len.to_be_bytes());
            u[6..8].copy_from_slice(&[0, 0]);
            // GUE: version 0, C 0, hlen 0, proto_ctype the inner packet's, flags 0.
            u[8..12].copy_from_slice(&[0, inner_proto, 0, 0]);
            let mut udp = super::UdpPacket::new_unchecked(u);
            match o {
                OuterIp::V4(o) if csum => udp.fill_checksum(o.src, o.dst),
                OuterIp::V4(_) => {}
                OuterIp::V6(o) => udp.fill_checksum_v6(o.src, o.dst),
            }
        }
        Encap::Gre { csum } => {
            let g = &mut out[outer..];
            let flags = if csum { GRE_FLAG_CSUM } else { 0 };
            g[0..2].copy_from_slice(&flags.to_be_bytes());
            g[2..4].copy_from_slice(&gre_proto.to_be_bytes());
            if csum {
                g[4..8].copy_from_slice(&[0; 4]);
                let c = checksum::checksum(g);
                g[4..6].copy_from_slice(&c.to_be_bytes());
            }
        }
    }
    Some(total)
}

/// A tunnel packet of ours as an ICMP error quotes it (`quote`: the
/// quoted bytes, from the outer header on): an IPv4 packet inside an outer
/// IPv4 header without options (what [`encapsulate_ip`] writes), by IPIP,
/// GUE or GRE. Returns the outer destination, the encapsulation as a
/// receiver tells it (`Encap::Gue` with the ports found and `csum` whether
/// the UDP checksum is set, `Encap::Gre` with its checksum bit) and where
/// the inner IPv4 header starts in `quote`. `None` for anything else: an
/// IPv6 packet inside (as IPVS's `ip_vs_in_icmp` takes only IPv4 in IPv4),
/// a later fragment, a GUE header of another version or with options or a
/// control message, GRE with any flag but the checksum, or too few bytes to
/// hold the inner IPv4 header.
pub fn quoted_tunnel(quote: &[u8]) -> Option<(Ipv4Addr, Encap, usize)> {
    let outer = quote.get(..OUTER_IP)?;
    let ip = Ipv4Packet::new_unchecked(outer);
    if ip.version() != 4 || ip.header_len() != OUTER_IP || ip.frag_offset() != 0 {
        return None;
    }
    let t = &quote[OUTER_IP..];
    let e = match ip.protocol() {
        PROTO_IPIP => Encap::Ipip,
        protocol::UDP => {
            let h = t.get(..UDP + GUE)?;
            // GUE version 0, C 0, hlen 0; an IPv4 packet inside.
            if h[8] != 0 || h[9] != PROTO_IPIP {
                return None;
            }
            Encap::Gue {
                sport: u16::from_be_bytes([h[0], h[1]]),
                port: u16::from_be_bytes([h[2], h[3]]),
                csum: h[6..8] != [0, 0],
            }
        }
        PROTO_GRE => {
            let h = t.get(..GRE)?;
            let flags = u16::from_be_bytes([h[0], h[1]]);
            if flags & !GRE_FLAG_CSUM != 0 || u16::from_be_bytes([h[2], h[3]]) != GRE_PROTO_IPV4 {
                return None;
            }
            Encap::Gre {
                csum: flags == GRE_FLAG_CSUM,
            }
        }
        _ => return None,
    };
    let at = OUTER_IP + e.tunnel_len();
    let inner = quote.get(at..at + OUTER_IP)?;
    (inner[0] >> 4 == 4).then_some((ip.dst(), e, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 28-byte inner UDP packet 198.18.0.1 → 198.18.0.110 with DF and DSCP.
    fn inner() -> Vec<u8> {
        let mut p = vec![0u8; 28];
        {
            let mut ip = Ipv4Packet::new_unchecked(&mut p[..]);
            ip.set_version(4);
            ip.set_header_len(20);
            ip.set_dscp_ecn(0x2e << 2);
            ip.set_total_len(28);
            ip.set_fragmentation(true, false, 0);
            ip.set_ttl(63);
            ip.set_protocol(protocol::UDP);
            ip.set_src(Ipv4Addr::new(198, 18, 0, 1));
            ip.set_dst(Ipv4Addr::new(198, 18, 0, 110));
            ip.fill_checksum();
        }
        p[20..28].copy_from_slice(&[0x13, 0x88, 0x00, 0x35, 0x00, 0x08, 0, 0]);
        p
    }

    fn outer() -> Outer {
        Outer {
            src: Ipv4Addr::new(198, 19, 0, 1),
            dst: Ipv4Addr::new(198, 19, 0, 2),
            ident: 7,
            ttl: 64,
        }
    }

    fn check_outer(b: &[u8], proto: u8, total: usize) {
        let ip = Ipv4Packet::new_checked(b).expect("outer header");
        assert_eq!(ip.protocol(), proto);
        assert_eq!(usize::from(ip.total_len()), total);
        assert!(ip.verify_checksum());
        assert!(ip.dont_frag(), "DF copied from the inner packet");
        assert_eq!(ip.dscp_ecn(), 0x2e << 2, "DSCP copied");
        assert_eq!(ip.src(), Ipv4Addr::new(198, 19, 0, 1));
        assert_eq!(ip.dst(), Ipv4Addr::new(198, 19, 0, 2));
        assert_eq!(ip.ttl(), 64);
    }

    #[test]
    fn ipip_is_an_outer_header_and_the_packet_unchanged() {
        let i = inner();
        let mut b = [0u8; 100];
        let n = encapsulate(&mut b, &i, Encap::Ipip, &outer(), |_| {}).expect("fits");
        assert_eq!(n, 48);
        check_outer(&b[..n], PROTO_IPIP, 48);
        assert_eq!(&b[20..48], &i[..]);
    }

    #[test]
    fn gue_is_udp_to_the_port_a_gue_header_and_the_packet() {
        let i = inner();
        let mut b = [0u8; 100];
        for csum in [false, true] {
            let e = Encap::Gue {
                sport: 50000,
                port: 6080,
                csum,
            };
            assert_eq!(e.overhead(), 32);
            let n = encapsulate(&mut b, &i, e, &outer(), |_| {}).expect("fits");
            assert_eq!(n, 60);
            check_outer(&b[..n], protocol::UDP, 60);
            let udp = super::super::UdpPacket::new_checked(&b[20..n]).expect("udp");
            assert_eq!(
                (udp.src_port(), udp.dst_port(), udp.len()),
                (50000, 6080, 40)
            );
            if csum {
                assert!(udp.verify_checksum(outer().src, outer().dst));
                assert_ne!(udp.checksum(), 0);
            } else {
                assert_eq!(udp.checksum(), 0);
            }
            assert_eq!(&b[28..32], &[0, 4, 0, 0], "GUE v0, IPIP inside");
            assert_eq!(&b[32..60], &i[..]);
        }
    }

    #[test]
    fn gre_with_and_without_checksum() {
        let i = inner();
        let mut b = [0u8; 100];
        let n =
            encapsulate(&mut b, &i, Encap::Gre { csum: false }, &outer(), |_| {}).expect("fits");
        check_outer(&b[..n], PROTO_GRE, 52);
        assert_eq!(&b[20..24], &[0, 0, 0x08, 0x00]);
        let n = encapsulate(&mut b, &i, Encap::Gre { csum: true }, &outer(), |_| {}).expect("fits");
        check_outer(&b[..n], PROTO_GRE, 56);
        assert_eq!(&b[20..22], &[0x80, 0]);
        assert_eq!(checksum::checksum(&b[20..n]), 0, "GRE checksum verifies");
        assert_eq!(&b[28..56], &i[..]);
    }

    #[test]
    fn too_small_a_buffer_or_a_bad_inner_header_writes_nothing() {
        let i = inner();
        let mut b = [0u8; 40];
        assert_eq!(encapsulate(&mut b, &i, Encap::Ipip, &outer(), |_| {}), None);
        let mut big = [0u8; 100];
        assert_eq!(
            encapsulate(&mut big, &i[..10], Encap::Ipip, &outer(), |_| {}),
            None
        );
    }

    /// A 48-byte inner UDP packet 2001:2:0:1::1 → 2001:2:0:1::110, traffic
    /// class 0xb8, flow label 5.
    fn inner6() -> Vec<u8> {
        let mut p = vec![0u8; 48];
        {
            let mut ip = Ipv6Packet::new_unchecked(&mut p[..]);
            ip.set_version(6);
            ip.set_traffic_class(0xb8);
            ip.set_flow_label(5);
            ip.set_payload_len(8);
            ip.set_next_header(protocol::UDP);
            ip.set_hop_limit(63);
            ip.set_src("2001:2:0:1::1".parse().expect("v6"));
            ip.set_dst("2001:2:0:1::110".parse().expect("v6"));
        }
        p[40..48].copy_from_slice(&[0x13, 0x88, 0x00, 0x35, 0x00, 0x08, 0, 0]);
        p
    }

    fn outer6() -> OuterIp {
        OuterIp::V6(Outer6 {
            src: "2001:2:0:2::1".parse().expect("v6"),
            dst: "2001:2:0:2::2".parse().expect("v6"),
            hop_limit: 63,
        })
    }

    fn check_outer6(b: &[u8], nh: u8, tc: u8) {
        let ip = Ipv6Packet::new_checked(b).expect("outer header");
        assert_eq!(ip.version(), 6);
        assert_eq!(ip.next_header(), nh);
        assert_eq!(ip.total_len(), b.len());
        assert_eq!((ip.traffic_class(), ip.flow_label()), (tc, 0));
        assert_eq!(ip.hop_limit(), 63);
        assert_eq!(ip.src(), "2001:2:0:2::1".parse::<Ipv6Addr>().expect("v6"));
        assert_eq!(ip.dst(), "2001:2:0:2::2".parse::<Ipv6Addr>().expect("v6"));
    }

    #[test]
    fn ipv6_in_ipv6_gue_and_gre_over_ipv6() {
        let i = inner6();
        let mut b = [0u8; 200];
        let n = encapsulate_ip(&mut b, &i, Encap::Ipip, &outer6(), |_| {}).expect("fits");
        assert_eq!(n, 88);
        check_outer6(&b[..n], PROTO_IPV6, 0xb8);
        assert_eq!(&b[40..n], &i[..]);
        for csum in [false, true] {
            let e = Encap::Gue {
                sport: 50000,
                port: 6080,
                csum,
            };
            assert_eq!(e.overhead6(), 52);
            let n = encapsulate_ip(&mut b, &i, e, &outer6(), |_| {}).expect("fits");
            check_outer6(&b[..n], protocol::UDP, 0xb8);
            let udp = super::super::UdpPacket::new_checked(&b[40..n]).expect("udp");
            let OuterIp::V6(o) = outer6() else { panic!() };
            assert!(udp.verify_checksum_v6(o.src, o.dst), "always over IPv6");
            assert_ne!(udp.checksum(), 0);
            assert_eq!(&b[48..52], &[0, PROTO_IPV6, 0, 0]);
            assert_eq!(&b[52..n], &i[..]);
        }
        let n =
            encapsulate_ip(&mut b, &i, Encap::Gre { csum: true }, &outer6(), |_| {}).expect("fits");
        check_outer6(&b[..n], PROTO_GRE, 0xb8);
        assert_eq!(&b[40..44], &[0x80, 0, 0x86, 0xdd]);
        assert_eq!(checksum::checksum(&b[40..n]), 0);
    }

    #[test]
    fn across_families_the_protocol_follows_the_inner_packet() {
        let mut b = [0u8; 200];
        // IPv4 inside IPv6: next header 4, the TOS as traffic class.
        let n = encapsulate_ip(&mut b, &inner(), Encap::Ipip, &outer6(), |_| {}).expect("fits");
        check_outer6(&b[..n], PROTO_IPIP, 0x2e << 2);
        // IPv6 inside IPv4: protocol 41, no DF (IPv6 has none to copy).
        let i = inner6();
        let n =
            encapsulate_ip(&mut b, &i, Encap::Ipip, &OuterIp::V4(outer()), |_| {}).expect("fits");
        let ip = Ipv4Packet::new_checked(&b[..n]).expect("outer");
        assert_eq!(
            (ip.protocol(), ip.dont_frag(), ip.dscp_ecn()),
            (PROTO_IPV6, false, 0xb8)
        );
        assert!(ip.verify_checksum());
        assert_eq!(&b[20..n], &i[..]);
    }

    #[test]
    fn fix_runs_before_the_outer_header_copies_the_inner_one() {
        let mut b = [0u8; 200];
        let n = encapsulate_ip(&mut b, &inner6(), Encap::Ipip, &outer6(), |p| {
            p[1] = 0; // traffic class low nibble and flow label high bits
            p[0] = 0x60;
        })
        .expect("fits");
        check_outer6(&b[..n], PROTO_IPV6, 0);
    }

    /// What `quoted_tunnel` reads back is what `encapsulate` wrote, for each
    /// encapsulation, from a quote that holds the inner header; anything
    /// else it declines.
    #[test]
    fn a_quoted_tunnel_packet_reads_back_as_written() {
        let i = inner();
        let encaps = [
            Encap::Ipip,
            Encap::Gue {
                sport: 50000,
                port: 6080,
                csum: false,
            },
            Encap::Gue {
                sport: 50001,
                port: 6081,
                csum: true,
            },
            Encap::Gre { csum: false },
            Encap::Gre { csum: true },
        ];
        for e in encaps {
            let mut b = [0u8; 100];
            let n = encapsulate(&mut b, &i, e, &outer(), |_| {}).expect("fits");
            let at = e.overhead();
            assert_eq!(quoted_tunnel(&b[..n]), Some((outer().dst, e, at)), "{e:?}");
            // A router quoting only the inner header still names it.
            assert_eq!(quoted_tunnel(&b[..at + 20]), Some((outer().dst, e, at)));
            assert_eq!(quoted_tunnel(&b[..at + 19]), None, "{e:?}: inner cut");
            // A later fragment of the outer packet has no tunnel header.
            let mut frag = b;
            Ipv4Packet::new_unchecked(&mut frag[..]).set_fragmentation(false, false, 8);
            assert_eq!(quoted_tunnel(&frag[..n]), None, "{e:?}: fragment");
            // An IPv6 packet inside: not IPv4 in IPv4.
            let mut six = b;
            six[at] = 0x60;
            assert_eq!(quoted_tunnel(&six[..n]), None, "{e:?}: IPv6 inside");
        }
        let mut b = [0u8; 100];
        let gue = encaps[1];
        let n = encapsulate(&mut b, &i, gue, &outer(), |_| {}).expect("fits");
        for (at, v) in [(28, 0x01), (28, 0x40), (29, PROTO_IPV6)] {
            let mut g = b;
            g[at] = v;
            assert_eq!(quoted_tunnel(&g[..n]), None, "GUE byte {at} = {v:#x}");
        }
        let n = encapsulate(&mut b, &i, encaps[3], &outer(), |_| {}).expect("fits");
        for (at, v) in [(20, 0x20), (20, 0x10), (21, 0x01), (22, 0x86)] {
            let mut g = b;
            g[at] = v;
            assert_eq!(quoted_tunnel(&g[..n]), None, "GRE byte {at} = {v:#x}");
        }
        // Outer IP options, or another protocol: not a packet of ours.
        let n = encapsulate(&mut b, &i, Encap::Ipip, &outer(), |_| {}).expect("fits");
        let mut o = b;
        o[0] = 0x46;
        assert_eq!(quoted_tunnel(&o[..n]), None);
        let mut o = b;
        o[9] = protocol::TCP;
        assert_eq!(quoted_tunnel(&o[..n]), None);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]

        /// Over tunnel packets with bytes changed and cut anywhere,
        /// `quoted_tunnel` never reads past the quote, and what it accepts
        /// is a consistent tunnel: the inner IPv4 header where the
        /// encapsulation says, whole, after an outer header of ours.
        #[test]
        fn a_quoted_tunnel_is_read_within_the_quote(
            which in 0usize..5,
            edits in proptest::collection::vec((0usize..60, proptest::prelude::any::<u8>()), 0..4),
            cut in 0usize..80,
        ) {
            let e = [
                Encap::Ipip,
                Encap::Gue { sport: 50000, port: 6080, csum: false },
                Encap::Gue { sport: 50000, port: 6080, csum: true },
                Encap::Gre { csum: false },
                Encap::Gre { csum: true },
            ][which];
            let mut b = [0u8; 100];
            let n = encapsulate(&mut b, &inner(), e, &outer(), |_| {}).expect("fits");
            for (at, v) in edits {
                b[at] = v;
            }
            let quote = &b[..cut.min(n)];
            if let Some((_, got, at)) = quoted_tunnel(quote) {
                proptest::prop_assert_eq!(at, got.overhead());
                proptest::prop_assert!(at + OUTER_IP <= quote.len());
                proptest::prop_assert_eq!(quote[0], 0x45);
                proptest::prop_assert_eq!(quote[at] >> 4, 4);
            }
        }
    }
}
