//! IPv6 Ethernet frames built byte by byte for the hostile battery of
//! `tests/ipv6_netns.rs`: every field is the test's choice, so a frame can be
//! wrong in exactly one way (an extension header out of place, a length that
//! lies, a zero UDP checksum, a forged neighbor advertisement).
//!
//! Every frame carries the flow label [`MARK`], so a capture can tell the
//! battery's frames (and anything forwarded from them, flow label kept) from
//! the lab's own traffic. Checksums follow RFC 8200 section 8.1 (the
//! pseudo-header of source, destination, upper-layer length and next header).
#![allow(dead_code)]

use std::net::Ipv6Addr;

/// The flow label of every battery frame.
pub const MARK: u32 = 0xbeef5;
/// Next-header values (IANA "Assigned Internet Protocol Numbers").
pub const HOP_BY_HOP: u8 = 0;
pub const TCP: u8 = 6;
pub const UDP: u8 = 17;
pub const ROUTING: u8 = 43;
pub const FRAGMENT: u8 = 44;
pub const ICMPV6: u8 = 58;
pub const NO_NEXT: u8 = 59;
pub const DEST_OPTS: u8 = 60;

/// Ethernet and IPv6 addressing of a frame.
#[derive(Debug, Clone, Copy)]
pub struct L3 {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub hop_limit: u8,
}

/// An extension header, in the order given to [`frame`].
#[derive(Debug, Clone, Copy)]
pub enum Ext {
    /// Hop-by-hop options: one PadN option (8 bytes in all).
    HopByHop,
    /// Destination options: one PadN option (8 bytes in all).
    DestOpts,
    /// Destination options whose length field claims `8 * (1 + len8)` bytes
    /// while only 8 follow (a lie for a truncation test).
    DestOptsClaiming { len8: u8 },
    /// A routing header of `kind` with one address and `segments_left`.
    Routing { kind: u8, segments_left: u8 },
    /// A fragment header: offset in 8-byte units, more-fragments flag.
    Fragment { offset: u16, more: bool, id: u32 },
}

impl Ext {
    fn code(self) -> u8 {
        match self {
            Ext::HopByHop => HOP_BY_HOP,
            Ext::DestOpts | Ext::DestOptsClaiming { .. } => DEST_OPTS,
            Ext::Routing { .. } => ROUTING,
            Ext::Fragment { .. } => FRAGMENT,
        }
    }

    /// The header's bytes after its next-header byte.
    fn body(self) -> Vec<u8> {
        // PadN (type 1) with 4 bytes of padding fills an 8-byte header.
        let padn = [0, 1, 4, 0, 0, 0, 0];
        match self {
            Ext::HopByHop | Ext::DestOpts => padn.to_vec(),
            Ext::DestOptsClaiming { len8 } => {
                let mut b = padn.to_vec();
                b[0] = len8;
                b
            }
            Ext::Routing {
                kind,
                segments_left,
            } => {
                // Length 2: 24 bytes, one 16-byte address after 8 bytes.
                let mut b = vec![2, kind, segments_left, 0, 0, 0, 0];
                b.extend_from_slice(&Ipv6Addr::new(0x2001, 2, 0, 2, 0, 0, 0, 0x99).octets());
                b
            }
            Ext::Fragment { offset, more, id } => {
                let off = (offset << 3) | u16::from(more);
                let mut b = vec![0];
                b.extend_from_slice(&off.to_be_bytes());
                b.extend_from_slice(&id.to_be_bytes());
                b
            }
        }
    }
}

/// The one's-complement sum of `data` folded into 16 bits (RFC 1071).
fn fold(mut sum: u32, data: &[u8]) -> u32 {
    for c in data.chunks(2) {
        let word = u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum
}

/// The upper-layer checksum of `data` (checksum field zero) for `proto`
/// between `src` and `dst` (RFC 8200 section 8.1).
pub fn checksum6(src: Ipv6Addr, dst: Ipv6Addr, proto: u8, data: &[u8]) -> u16 {
    let mut pseudo = Vec::with_capacity(40);
    pseudo.extend_from_slice(&src.octets());
    pseudo.extend_from_slice(&dst.octets());
    pseudo.extend_from_slice(&(data.len() as u32).to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, proto]);
    let sum = fold(fold(0, &pseudo), data);
    !(sum as u16)
}

/// Ethernet + IPv6 (flow label [`MARK`], payload length right) + `ext` +
/// the upper-layer bytes `l4` of protocol `proto`.
pub fn frame(l: &L3, ext: &[Ext], proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut chain = Vec::new();
    for (i, e) in ext.iter().enumerate() {
        chain.push(ext.get(i + 1).map_or(proto, |n| n.code()));
        chain.extend(e.body());
    }
    let first = ext.first().map_or(proto, |e| e.code());
    let mut f = Vec::with_capacity(54 + chain.len() + l4.len());
    f.extend_from_slice(&l.dst_mac);
    f.extend_from_slice(&l.src_mac);
    f.extend_from_slice(&[0x86, 0xdd]);
    f.extend_from_slice(&((6u32 << 28) | MARK).to_be_bytes());
    f.extend_from_slice(&((chain.len() + l4.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[first, l.hop_limit]);
    f.extend_from_slice(&l.src.octets());
    f.extend_from_slice(&l.dst.octets());
    f.extend(chain);
    f.extend_from_slice(l4);
    f
}

/// A TCP segment (20-byte header, checksum right).
pub fn tcp(l: &L3, ext: &[Ext], sport: u16, dport: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let ack: u32 = if flags & 0x10 != 0 { 1 } else { 0 };
    frame(
        l,
        ext,
        TCP,
        &tcp_l4(l, (sport, dport, flags), (1, ack), payload),
    )
}

/// The TCP header (20 bytes, sequence number `seq`, acknowledgement `ack`)
/// and `payload`, its checksum right for `l`'s addresses.
pub fn tcp_l4(
    l: &L3,
    (sport, dport, flags): (u16, u16, u8),
    (seq, ack): (u32, u32),
    payload: &[u8],
) -> Vec<u8> {
    let mut t = Vec::with_capacity(20 + payload.len());
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&ack.to_be_bytes());
    t.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    t.extend_from_slice(payload);
    let c = checksum6(l.src, l.dst, TCP, &t);
    t[16..18].copy_from_slice(&c.to_be_bytes());
    t
}

/// A UDP datagram, checksum right, or 0 ("none", invalid in IPv6: RFC 8200
/// section 8.1) when `zero_checksum`.
/// An SCTP packet from `sport` to `dport` with verification tag `vtag` and
/// `chunks` (each a type and its value, padded to 4 bytes), its CRC32c field
/// left 0 for the caller to fill (the namespace tests and the fuzz harness
/// fill it each their own way). SCTP's header has no pseudo-header and no
/// family: IPv4 frames take it too.
pub fn sctp_unfilled(sport: u16, dport: u16, vtag: u32, chunks: &[(u8, &[u8])]) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&vtag.to_be_bytes());
    p.extend_from_slice(&[0; 4]);
    for (kind, value) in chunks {
        p.extend_from_slice(&[*kind, 0]);
        p.extend_from_slice(&((4 + value.len()) as u16).to_be_bytes());
        p.extend_from_slice(value);
        p.resize(p.len().next_multiple_of(4), 0);
    }
    p
}

pub fn udp(
    l: &L3,
    ext: &[Ext],
    sport: u16,
    dport: u16,
    payload: &[u8],
    zero_checksum: bool,
) -> Vec<u8> {
    let mut u = Vec::with_capacity(8 + payload.len());
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    if !zero_checksum {
        let c = match checksum6(l.src, l.dst, UDP, &u) {
            0 => 0xffff,
            c => c,
        };
        u[6..8].copy_from_slice(&c.to_be_bytes());
    }
    frame(l, ext, UDP, &u)
}

/// An ICMPv6 message of `typ`/`code` with `body` after the checksum.
pub fn icmp6(l: &L3, typ: u8, code: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![typ, code, 0, 0];
    m.extend_from_slice(body);
    let c = checksum6(l.src, l.dst, ICMPV6, &m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    frame(l, &[], ICMPV6, &m)
}

/// An echo request (type 128).
pub fn echo_request(l: &L3, id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut b = id.to_be_bytes().to_vec();
    b.extend_from_slice(&seq.to_be_bytes());
    b.extend_from_slice(payload);
    icmp6(l, 128, 0, &b)
}

/// Neighbor advertisement flags (RFC 4861 section 4.4).
pub const NA_SOLICITED: u8 = 0x40;
pub const NA_OVERRIDE: u8 = 0x20;

/// A neighbor advertisement (type 136) for `target` with `flags` and a target
/// link-layer address option.
pub fn neighbor_advert(l: &L3, target: Ipv6Addr, flags: u8, tlla: [u8; 6]) -> Vec<u8> {
    let mut b = vec![flags, 0, 0, 0];
    b.extend_from_slice(&target.octets());
    b.extend_from_slice(&[2, 1]);
    b.extend_from_slice(&tlla);
    icmp6(l, 136, 0, &b)
}

/// A neighbor solicitation (type 135) for `target` with a source link-layer
/// address option.
pub fn neighbor_solicit(l: &L3, target: Ipv6Addr, slla: [u8; 6]) -> Vec<u8> {
    let mut b = vec![0, 0, 0, 0];
    b.extend_from_slice(&target.octets());
    b.extend_from_slice(&[1, 1]);
    b.extend_from_slice(&slla);
    icmp6(l, 135, 0, &b)
}

/// The all-nodes group ff02::1 and its MAC.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
pub const ALL_NODES_MAC: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];

/// The solicited-node group of `a` (ff02::1:ffXX:XXXX, RFC 4291 2.7.1).
pub fn solicited_node(a: Ipv6Addr) -> Ipv6Addr {
    let o = a.octets();
    let s = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff00, 0).octets();
    let mut g = s;
    g[13..].copy_from_slice(&o[13..]);
    Ipv6Addr::from(g)
}

/// The Ethernet address of multicast group `g` (33:33 + its last 32 bits).
pub fn multicast_mac(g: Ipv6Addr) -> [u8; 6] {
    let o = g.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}
