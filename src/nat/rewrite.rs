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

use crate::wire::checksum::{self, Delta};
use crate::wire::ipv4::protocol;
use std::net::Ipv4Addr;

const IP: usize = 14;
const L4: usize = IP + 20;
const IP_TTL: usize = IP + 8;
const IP_CSUM: usize = IP + 10;
const IP_SRC: usize = IP + 12;
const IP_DST: usize = IP + 16;

#[inline]
fn get16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

#[inline]
fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

/// Which end of the packet a NAT rewrite changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// Destination address and port (DNAT, client → real server).
    Dst,
    /// Source address and port (SNAT, real server → client).
    Src,
}

/// One direction's rewrite of a connection.
#[derive(Clone, Copy, Debug)]
pub struct Rewrite {
    pub end: End,
    pub addr: u32,
    pub port: u16,
    /// Update for the address alone (IPv4 header, inner headers of ICMP errors).
    pub addr_delta: Delta,
    /// Update for address and port (TCP/UDP checksum).
    pub l4_delta: Delta,
}

/// Decrement the TTL and fix the header checksum for it and for `addr_delta`.
#[inline]
fn ip_header(frame: &mut [u8], addr_delta: Delta) {
    let old = get16(frame, IP_TTL);
    let new = old - 0x0100;
    put16(frame, IP_TTL, new);
    let d = addr_delta.add16(old, new);
    let hc = get16(frame, IP_CSUM);
    put16(frame, IP_CSUM, d.apply(hc));
}

/// Rewrite a TCP or UDP packet for NAT. `frame` spans exactly Ethernet + IPv4 total
/// length; the caller checked the L4 header fits and the TTL is above 1.
#[inline]
pub fn nat_l4(frame: &mut [u8], rw: &Rewrite, partial: bool) {
    let (addr_at, port_at) = match rw.end {
        End::Dst => (IP_DST, L4 + 2),
        End::Src => (IP_SRC, L4),
    };
    put32(frame, addr_at, rw.addr);
    ip_header(frame, rw.addr_delta);
    put16(frame, port_at, rw.port);
    let proto = frame[IP + 9];
    let csum_at = L4 + if proto == protocol::TCP { 16 } else { 6 };
    if partial {
        fill_l4_checksum(frame, proto);
        return;
    }
    let hc = get16(frame, csum_at);
    let new = if proto == protocol::UDP {
        rw.l4_delta.apply_udp(hc)
    } else {
        rw.l4_delta.apply(hc)
    };
    put16(frame, csum_at, new);
}

/// Compute a TCP or UDP checksum from scratch (for frames that arrived partial).
pub fn fill_l4_checksum(frame: &mut [u8], proto: u8) {
    let csum_at = L4 + if proto == protocol::TCP { 16 } else { 6 };
    let src = Ipv4Addr::from(u32::from_be_bytes([
        frame[IP_SRC],
        frame[IP_SRC + 1],
        frame[IP_SRC + 2],
        frame[IP_SRC + 3],
    ]));
    let dst = Ipv4Addr::from(u32::from_be_bytes([
        frame[IP_DST],
        frame[IP_DST + 1],
        frame[IP_DST + 2],
        frame[IP_DST + 3],
    ]));
    put16(frame, csum_at, 0);
    // UDP covers its own length (the IP payload may be longer); TCP the payload.
    let end = if proto == protocol::UDP {
        (L4 + usize::from(get16(frame, L4 + 4))).min(frame.len())
    } else {
        frame.len()
    };
    let l4 = &frame[L4..end];
    let sum = checksum::combine(
        checksum::pseudo_header_v4(src, dst, proto, l4.len() as u16),
        checksum::sum(l4),
    );
    let mut c = !checksum::fold(sum);
    if c == 0 && proto == protocol::UDP {
        c = 0xffff;
    }
    put16(frame, csum_at, c);
}

/// Rewrite an ICMP error that concerns a NATed connection: the outer header as
/// `rw.end` says, and the quoted packet inside the other way round (its addresses
/// are those of the packet the error answers). The ICMP checksum is recomputed
/// (errors are small and rare). `frame` spans Ethernet + IPv4 total length; the
/// caller checked that the quoted IPv4 header is 20 bytes and 8 bytes of L4 follow.
pub fn nat_icmp_error(frame: &mut [u8], rw: &Rewrite) {
    let outer_at = match rw.end {
        End::Dst => IP_DST,
        End::Src => IP_SRC,
    };
    // Unlike the quoted header, the outer address is not the connection's: an
    // error may come from a router (outer source) or be sent to another of our
    // addresses (outer destination), so the update is from what is there.
    let old = u32::from_be_bytes([
        frame[outer_at],
        frame[outer_at + 1],
        frame[outer_at + 2],
        frame[outer_at + 3],
    ]);
    put32(frame, outer_at, rw.addr);
    ip_header(frame, Delta::new().add32(old, rw.addr));
    // The quoted packet: an error towards the real server quotes a packet *from* the
    // VIP (its source changes); one towards the client quotes a packet *to* the RIP.
    let inner = L4 + 8;
    let (in_addr_at, in_port_at) = match rw.end {
        End::Dst => (inner + 12, inner + 20),
        End::Src => (inner + 16, inner + 22),
    };
    put32(frame, in_addr_at, rw.addr);
    put16(frame, in_port_at, rw.port);
    let hc = get16(frame, inner + 10);
    put16(frame, inner + 10, rw.addr_delta.apply(hc));
    let inner_l4 = inner + 20;
    let quoted = frame.len() - inner_l4;
    match frame[inner + 9] {
        protocol::UDP if quoted >= 8 => {
            let hc = get16(frame, inner_l4 + 6);
            put16(frame, inner_l4 + 6, rw.l4_delta.apply_udp(hc));
        }
        protocol::TCP if quoted >= 18 => {
            let hc = get16(frame, inner_l4 + 16);
            put16(frame, inner_l4 + 16, rw.l4_delta.apply(hc));
        }
        _ => {}
    }
    put16(frame, L4 + 2, 0);
    let c = checksum::checksum(&frame[L4..]);
    put16(frame, L4 + 2, c);
}

/// Turn an ICMP echo request addressed to us into its reply, in place: swap the
/// addresses (Ethernet and IPv4), reset the TTL, set type 0.
pub fn echo_reply(frame: &mut [u8]) {
    let (dst, src): ([u8; 6], [u8; 6]) = {
        let mut d = [0; 6];
        let mut s = [0; 6];
        d.copy_from_slice(&frame[0..6]);
        s.copy_from_slice(&frame[6..12]);
        (d, s)
    };
    frame[0..6].copy_from_slice(&src);
    frame[6..12].copy_from_slice(&dst);
    let mut a = [0u8; 4];
    a.copy_from_slice(&frame[IP_SRC..IP_SRC + 4]);
    frame.copy_within(IP_DST..IP_DST + 4, IP_SRC);
    frame[IP_DST..IP_DST + 4].copy_from_slice(&a);
    // Swapping two words leaves the header sum unchanged; only the TTL moves.
    let old = get16(frame, IP_TTL);
    let new = (64 << 8) | (old & 0xff);
    put16(frame, IP_TTL, new);
    let hc = get16(frame, IP_CSUM);
    put16(frame, IP_CSUM, Delta::new().add16(old, new).apply(hc));
    let old_type = get16(frame, L4);
    let new_type = old_type & 0x00ff; // type 0 (echo reply), same code
    put16(frame, L4, new_type);
    let hc = get16(frame, L4 + 2);
    put16(
        frame,
        L4 + 2,
        Delta::new().add16(old_type, new_type).apply(hc),
    );
}
