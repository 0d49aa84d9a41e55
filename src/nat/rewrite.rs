//! The per-packet rewrites, on a frame already copied into its TX slot.
//!
//! Every function here takes an Ethernet frame whose IPv4 header is 20 bytes long
//! (the worker drops frames with options before it gets here) and whose lengths the
//! worker has validated; they patch fields in place and fix checksums
//! incrementally with the [`Delta`]s of the connection's [`Rewrite`] (RFC 1624),
//! which `Conn::rewrite` derives from its addresses and ports.
//!
//! A frame whose L4 checksum is *partial* (`TP_STATUS_CSUMNOTREADY`: the field holds
//! only the pseudo-header sum because the sender left the rest to an offload) gets a
//! complete checksum computed in software instead: nothing downstream would finish
//! it. Only locally generated traffic (veth, a local sender) arrives that way.

use crate::wire::checksum::Delta;
use crate::wire::icmpv4::{Icmpv4Packet, msg};
use crate::wire::icmpv6::{self, Icmpv6Packet};
use crate::wire::ipv4::{self, Ipv4Packet, protocol};
use crate::wire::ipv6::{self, Ipv6Packet};
use crate::wire::{EthernetFrame, SctpPacket, TcpPacket, UdpPacket, ethernet, tcp, udp};
use std::net::{Ipv4Addr, Ipv6Addr};

/// The TTL a reply we originate starts with.
const REPLY_TTL: u8 = 64;

/// Which end of the packet a NAT rewrite changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// Destination address and port (DNAT, client → real server).
    Dst,
    /// Source address and port (SNAT, real server → client).
    Src,
}

/// One direction's rewrite of a connection, in an address family `A`
/// ([`Addr`](super::Addr); IPv4 by default, which the functions here take).
#[derive(Clone, Copy, Debug)]
pub struct Rewrite<A = u32> {
    pub end: End,
    pub addr: A,
    pub port: u16,
    /// Update for the address alone (IPv4 header, ICMPv6 pseudo-header, inner
    /// headers of ICMP errors).
    pub addr_delta: Delta,
    /// Update for address and port (TCP/UDP checksum).
    pub l4_delta: Delta,
}

/// The IPv4 packet of an Ethernet frame.
#[inline]
fn ip_of(frame: &mut [u8]) -> Ipv4Packet<&mut [u8]> {
    Ipv4Packet::new_unchecked(&mut frame[ethernet::HEADER_LEN..])
}

/// Set the TTL and fix the header checksum for it and for `addr_delta`.
#[inline]
fn set_ttl(ip: &mut Ipv4Packet<&mut [u8]>, ttl: u8, addr_delta: Delta) {
    let (old, proto) = (ip.ttl(), ip.protocol());
    ip.set_ttl(ttl);
    // The TTL shares a 16-bit word of the header with the protocol (RFC 791).
    let d = addr_delta.add16(
        u16::from_be_bytes([old, proto]),
        u16::from_be_bytes([ttl, proto]),
    );
    ip.set_checksum(d.apply(ip.checksum()));
}

/// Rewrite a TCP or UDP packet for NAT. `frame` spans exactly Ethernet + IPv4 total
/// length; the caller checked the L4 header fits and the TTL is above 1.
#[inline]
pub fn nat_l4(frame: &mut [u8], rw: &Rewrite, partial: bool) {
    // The header is 20 bytes (see the module doc): on a fixed-size view of
    // it, the field offsets are checked at compile time, not per packet.
    const L4: usize = ethernet::HEADER_LEN + ipv4::HEADER_LEN;
    let Some(head) = frame.first_chunk_mut::<L4>() else {
        return;
    };
    let ip = nat_ip_header(head, rw);
    let proto = ip.protocol();
    let ends = partial.then(|| Ends::V4(ip.src(), ip.dst()));
    // `frame` ends where the IP packet does.
    nat_ports(&mut frame[L4..], proto, rw, ends);
}

/// The IP half of [`nat_l4`], for an IPv4 fragment past the first: the
/// address of `rw.end`, the TTL one less and the header checksum. Its
/// datagram's TCP/UDP header, ports and checksum are in the first fragment.
pub fn nat_ip(frame: &mut [u8], rw: &Rewrite) {
    if let Some(head) = frame.first_chunk_mut::<{ ethernet::HEADER_LEN + ipv4::HEADER_LEN }>() {
        nat_ip_header(head, rw);
    }
}

/// [`nat_ip`] on the frame's Ethernet and IPv4 headers; the IPv4 header.
#[inline(always)]
fn nat_ip_header<'a>(
    head: &'a mut [u8; ethernet::HEADER_LEN + ipv4::HEADER_LEN],
    rw: &Rewrite,
) -> Ipv4Packet<&'a mut [u8]> {
    let mut ip = Ipv4Packet::new_unchecked(&mut head[ethernet::HEADER_LEN..]);
    match rw.end {
        End::Dst => ip.set_dst_raw(rw.addr),
        End::Src => ip.set_src_raw(rw.addr),
    }
    // Above 1: `classify` drops TTL 0 and 1.
    let ttl = ip.ttl().wrapping_sub(1);
    set_ttl(&mut ip, ttl, rw.addr_delta);
    ip
}

/// Where a partial checksum's pseudo-header runs, by family.
#[derive(Clone, Copy)]
enum Ends {
    V4(Ipv4Addr, Ipv4Addr),
    V6(Ipv6Addr, Ipv6Addr),
}

/// The L4 half of a NAT rewrite, either family: the port of `rw.end`, and
/// the checksum updated by the connection's delta or, when it arrived
/// partial, computed whole over the pseudo-header of `partial`'s addresses.
#[inline]
fn nat_ports<A>(l4: &mut [u8], proto: u8, rw: &Rewrite<A>, partial: Option<Ends>) {
    if proto == protocol::TCP {
        let mut seg = TcpPacket::new_unchecked(l4);
        match rw.end {
            End::Dst => seg.set_dst_port(rw.port),
            End::Src => seg.set_src_port(rw.port),
        }
        match partial {
            None => seg.set_checksum(rw.l4_delta.apply(seg.checksum())),
            Some(Ends::V4(src, dst)) => seg.fill_checksum(src, dst),
            Some(Ends::V6(src, dst)) => seg.fill_checksum_v6(src, dst),
        }
    } else if proto == protocol::SCTP {
        nat_sctp(l4, rw.end, rw.port, partial.is_some());
    } else {
        let mut dgram = UdpPacket::new_unchecked(l4);
        match rw.end {
            End::Dst => dgram.set_dst_port(rw.port),
            End::Src => dgram.set_src_port(rw.port),
        }
        match partial {
            None => dgram.set_checksum(rw.l4_delta.apply_udp(dgram.checksum())),
            Some(Ends::V4(src, dst)) => dgram.fill_checksum(src, dst),
            Some(Ends::V6(src, dst)) => dgram.fill_checksum_v6(src, dst),
        }
    }
}

/// The SCTP half of a NAT rewrite: the port of `end`, and the CRC32c
/// computed again if the port changed or it arrived unfilled (`partial`),
/// as `sctp_dnat_handler` and `sctp_snat_handler` (`ip_vs_proto_sctp.c`)
/// do; the CRC covers no IP address, so a rewrite of the address alone
/// leaves it as it came.
#[cold]
fn nat_sctp(l4: &mut [u8], end: End, port: u16, partial: bool) {
    let mut p = SctpPacket::new_unchecked(l4);
    let old = match end {
        End::Dst => p.dst_port(),
        End::Src => p.src_port(),
    };
    match end {
        End::Dst => p.set_dst_port(port),
        End::Src => p.set_src_port(port),
    }
    if old != port || partial {
        p.fill_checksum();
    }
}

/// The L4 header of the packet an ICMP error quotes, either family: the port
/// of the end `rw` does not rewrite outside (the quoted packet went the other
/// way), and its checksum by the connection's delta where the quote reaches
/// it. `l4` holds at least the 4 bytes of the ports. A quoted SCTP
/// packet's CRC32c is left as it is, as IPVS leaves it (`ip_vs_nat_icmp`,
/// `ip_vs_core.c`): the quote is cut short, so it could not be checked.
fn quoted_ports<A>(l4: &mut [u8], proto: u8, rw: &Rewrite<A>) {
    // The ports are the first four bytes of TCP and UDP alike.
    let mut ports = UdpPacket::new_unchecked(&mut *l4);
    match rw.end {
        End::Dst => ports.set_src_port(rw.port),
        End::Src => ports.set_dst_port(rw.port),
    }
    match proto {
        protocol::UDP if l4.len() >= udp::HEADER_LEN => {
            let mut d = UdpPacket::new_unchecked(l4);
            d.set_checksum(rw.l4_delta.apply_udp(d.checksum()));
        }
        protocol::TCP if l4.len() >= tcp::CHECKSUM_OFFSET + 2 => {
            let mut s = TcpPacket::new_unchecked(l4);
            s.set_checksum(rw.l4_delta.apply(s.checksum()));
        }
        _ => {}
    }
}

/// Compute a TCP or UDP checksum, or an SCTP CRC32c, from scratch (for frames
/// that arrived partial).
/// `frame` spans Ethernet + IPv4 total length, with complete L4 headers.
pub fn fill_l4_checksum(frame: &mut [u8], proto: u8) {
    fill_l4_checksum_ip(&mut frame[ethernet::HEADER_LEN..], proto);
}

/// [`fill_l4_checksum`] of an IPv4 packet without its Ethernet header (the
/// inner packet of a tunnel).
pub fn fill_l4_checksum_ip(packet: &mut [u8], proto: u8) {
    let mut ip = Ipv4Packet::new_unchecked(packet);
    let (src, dst) = (ip.src(), ip.dst());
    if proto == protocol::TCP {
        TcpPacket::new_unchecked(ip.payload_mut()).fill_checksum(src, dst);
    } else if proto == protocol::SCTP {
        SctpPacket::new_unchecked(ip.payload_mut()).fill_checksum();
    } else {
        UdpPacket::new_unchecked(ip.payload_mut()).fill_checksum(src, dst);
    }
}

/// Rewrite an ICMP error that concerns a NATed connection: the outer header as
/// `rw.end` says, and the quoted packet inside the other way round (its addresses
/// are those of the packet the error answers). The ICMP checksum is recomputed
/// (errors are small and rare). `frame` spans Ethernet + IPv4 total length; the
/// caller checked that the quoted IPv4 header is whole and 4 bytes of L4
/// (the ports) follow it (`dataplane::icmp::quoted`).
pub fn nat_icmp_error(frame: &mut [u8], rw: &Rewrite) {
    let mut ip = ip_of(frame);
    // Unlike the quoted header, the outer address is not the connection's: an
    // error may come from a router (outer source) or be sent to another of our
    // addresses (outer destination), so the update is from what is there.
    let old = match rw.end {
        End::Dst => ip.dst_raw(),
        End::Src => ip.src_raw(),
    };
    match rw.end {
        End::Dst => ip.set_dst_raw(rw.addr),
        End::Src => ip.set_src_raw(rw.addr),
    }
    let ttl = ip.ttl() - 1;
    set_ttl(&mut ip, ttl, Delta::new().add32(old, rw.addr));
    let mut icmp = Icmpv4Packet::new_unchecked(ip.payload_mut());
    let data = icmp.data_mut();
    let hl = data.first().map_or(0, |b| usize::from(b & 0x0f) * 4);
    let Some((hdr, l4)) = data.split_at_mut_checked(hl) else {
        return;
    };
    if hdr.len() < ipv4::HEADER_LEN || l4.len() < 4 {
        return;
    }
    // The quoted packet: an error towards the real server quotes a packet *from* the
    // VIP (its source changes); one towards the client quotes a packet *to* the RIP.
    let mut inner = Ipv4Packet::new_unchecked(hdr);
    match rw.end {
        End::Dst => inner.set_src_raw(rw.addr),
        End::Src => inner.set_dst_raw(rw.addr),
    }
    inner.set_checksum(rw.addr_delta.apply(inner.checksum()));
    let proto = inner.protocol();
    quoted_ports(l4, proto, rw);
    icmp.fill_checksum();
}

/// Rewrite an IPv6 TCP or UDP packet for NAT, in place: the address and port
/// of `rw.end`, the hop limit down by one (IPv6 has no header checksum), the
/// L4 checksum by the connection's delta (the pseudo-header covers the
/// addresses, RFC 8200 §8.1), or computed whole if it arrived partial.
/// `frame` spans exactly Ethernet + IPv6 header + payload length; the L4
/// header of protocol `proto` starts at `l4_off`, complete (checked by
/// `classify`), and the hop limit is above 1.
#[inline]
pub fn nat_l4_v6(
    frame: &mut [u8],
    rw: &Rewrite<Ipv6Addr>,
    (l4_off, proto): (usize, u8),
    partial: bool,
) {
    let Some((head, l4)) = frame.split_at_mut_checked(l4_off) else {
        return;
    };
    let Some(ends) = nat_ip6(head, rw) else {
        return;
    };
    nat_ports(l4, proto, rw, partial.then_some(Ends::V6(ends.0, ends.1)));
}

/// The IP half of [`nat_l4_v6`], alone for an IPv6 fragment past the first:
/// the address of `rw.end` and the hop limit one less (no header checksum).
/// The packet's addresses after it; `None` if `frame` holds no IPv6 header.
#[inline(always)]
pub fn nat_ip6(frame: &mut [u8], rw: &Rewrite<Ipv6Addr>) -> Option<(Ipv6Addr, Ipv6Addr)> {
    let ip = frame.get_mut(ethernet::HEADER_LEN..ethernet::HEADER_LEN + ipv6::HEADER_LEN)?;
    let mut ip = Ipv6Packet::new_unchecked(ip);
    match rw.end {
        End::Dst => ip.set_dst(rw.addr),
        End::Src => ip.set_src(rw.addr),
    }
    ip.set_hop_limit(ip.hop_limit().saturating_sub(1));
    Some((ip.src(), ip.dst()))
}

/// Rewrite an ICMPv6 error that concerns a NATed IPv6 connection, in place:
/// the outer address as `rw.end` says (the hop limit down by one), the quoted
/// packet the other way round (its source for an error towards the real
/// server, its destination for one towards the client) with its port, its L4
/// checksum by the connection's delta where the quote reaches it, then the
/// ICMPv6 checksum recomputed over the new pseudo-header (errors are small and
/// rare). `frame` spans Ethernet + IPv6 header + payload length; the ICMPv6
/// header starts at `icmp_off`, the quoted IPv6 header 8 bytes later, and the
/// quoted TCP/UDP/SCTP (`proto`) header at `l4_off` with at least its 4 first
/// bytes (the ports) there (checked by the caller, `Core::icmp6_error`).
pub fn nat_icmp6_error(
    frame: &mut [u8],
    rw: &Rewrite<Ipv6Addr>,
    (icmp_off, l4_off, proto): (usize, usize, u8),
) {
    let inner_off = icmp_off + icmpv6::HEADER_LEN;
    if frame.len() < l4_off + 4 || l4_off < inner_off + ipv6::HEADER_LEN {
        return;
    }
    let (head, icmp) = frame.split_at_mut(icmp_off);
    let mut ip = Ipv6Packet::new_unchecked(&mut head[ethernet::HEADER_LEN..]);
    // The outer address is not necessarily the connection's (an error may come
    // from a router, or be sent to another of ours): it is simply replaced,
    // the checksum being recomputed below.
    match rw.end {
        End::Dst => ip.set_dst(rw.addr),
        End::Src => ip.set_src(rw.addr),
    }
    ip.set_hop_limit(ip.hop_limit().saturating_sub(1));
    let (src, dst) = (ip.src(), ip.dst());
    let (quoted, l4) = icmp.split_at_mut(l4_off - icmp_off);
    let mut inner = Ipv6Packet::new_unchecked(&mut quoted[icmpv6::HEADER_LEN..]);
    match rw.end {
        End::Dst => inner.set_src(rw.addr),
        End::Src => inner.set_dst(rw.addr),
    }
    quoted_ports(l4, proto, rw);
    Icmpv6Packet::new_unchecked(&mut frame[icmp_off..]).fill_checksum(src, dst);
}

/// Turn an ICMP echo request addressed to us into its reply, in place: swap the
/// addresses (Ethernet and IPv4), reset the TTL, set the echo-reply type.
pub fn echo_reply(frame: &mut [u8]) {
    echo_reply_fragment(frame, true);
}

/// [`echo_reply`] of one fragment of an echo request (`frame` holds its
/// whole IPv4 header): the reply's fragment at the same place, with the
/// same id. Only the first (`first`) holds the ICMP header whose type and
/// checksum change; the checksum covers the whole message, so its update is
/// right for the reply the fragments make up.
pub fn echo_reply_fragment(frame: &mut [u8], first: bool) {
    swap_macs(frame);
    let mut ip = ip_of(frame);
    let (src, dst) = (ip.src_raw(), ip.dst_raw());
    ip.set_src_raw(dst);
    ip.set_dst_raw(src);
    // Swapping two words leaves the header sum unchanged; only the TTL moves.
    set_ttl(&mut ip, REPLY_TTL, Delta::new());
    if first {
        let mut icmp = Icmpv4Packet::new_unchecked(ip.payload_mut());
        echo_type(icmp.msg_type(), icmp.code(), msg::ECHO_REPLY, |t, d| {
            icmp.set_msg_type(t);
            icmp.set_checksum(d.apply(icmp.checksum()));
        });
    }
}

/// [`echo_reply_fragment`] of an IPv6 echo request's fragment, the ICMPv6
/// header at `first` in the first fragment (the extension headers stay, the
/// fragment header with them): addresses swapped (the pseudo-header's sum
/// does not move), hop limit `hop_limit`.
pub fn echo_reply_fragment6(frame: &mut [u8], first: Option<usize>, hop_limit: u8) {
    swap_macs(frame);
    let Some(ip) = frame.get_mut(ethernet::HEADER_LEN..) else {
        return;
    };
    let mut ip = Ipv6Packet::new_unchecked(ip);
    let (src, dst) = (ip.src_raw(), ip.dst_raw());
    ip.set_src_raw(dst);
    ip.set_dst_raw(src);
    ip.set_hop_limit(hop_limit);
    if let Some(l4) = first.and_then(|at| frame.get_mut(at..)) {
        let mut icmp = Icmpv6Packet::new_unchecked(l4);
        echo_type(
            icmp.msg_type(),
            icmp.code(),
            icmpv6::msg::ECHO_REPLY,
            |t, d| {
                icmp.set_msg_type(t);
                icmp.set_checksum(d.apply(icmp.checksum()));
            },
        );
    }
}

/// The reply's type `reply` for a request of `ty` and `code`, with the
/// checksum's update for it (the type shares a 16-bit word with the code).
fn echo_type(ty: u8, code: u8, reply: u8, set: impl FnOnce(u8, Delta)) {
    let d = Delta::new().add16(
        u16::from_be_bytes([ty, code]),
        u16::from_be_bytes([reply, code]),
    );
    set(reply, d);
}

fn swap_macs(frame: &mut [u8]) {
    let mut eth = EthernetFrame::new_unchecked(&mut *frame);
    let (dst, src) = (eth.dst(), eth.src());
    eth.set_dst(src);
    eth.set_src(dst);
}
