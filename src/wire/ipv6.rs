//! IPv6 headers (RFC 8200), the walk over their extension headers to the
//! upper-layer header, and the addresses Neighbor Discovery derives.

use core::fmt;
use std::net::Ipv6Addr;

use super::ethernet::{self, EthernetFrame, ethertype};
use super::{Error, Mac, Result, be16, be32};

/// Length of the fixed header.
pub const HEADER_LEN: usize = 40;
/// Where the addresses are (for programs that load them by offset: BPF).
pub const SRC_OFFSET: usize = field::SRC.start;
pub const DST_OFFSET: usize = field::DST.start;
/// Where the next-header byte of the fixed header is.
pub const NEXT_HEADER_OFFSET: usize = field::NEXT_HEADER;
/// The link MTU every IPv6 link must carry (RFC 8200 §5); ICMPv6 errors are cut
/// to fit it (RFC 4443 §2.4(c)).
pub const MIN_MTU: usize = 1280;
/// Most extension headers [`walk`] follows before it gives up on a packet
/// ([`ExtError::TooMany`]). RFC 8200 §4.1 recommends an order with at most six
/// (destination options may appear twice); anything longer is a chain built to
/// burn CPU.
pub const MAX_EXT_HEADERS: usize = 8;

/// Next-header values: the extension headers the walker knows, and the
/// upper-layer protocols the director handles.
pub mod next_header {
    pub const HOP_BY_HOP: u8 = 0;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const SCTP: u8 = 132;
    pub const ROUTING: u8 = 43;
    pub const FRAGMENT: u8 = 44;
    pub const ICMPV6: u8 = 58;
    pub const NO_NEXT: u8 = 59;
    pub const DEST_OPTS: u8 = 60;
    /// The authentication header (RFC 4302), whose length is counted in
    /// 4-octet units less 2, where the others' is in 8-octet units less 1.
    pub const AUTH: u8 = 51;
}

/// ff02::1, every node on the link.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// ff02::2, every router on the link.
pub const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);

mod field {
    use core::ops::Range;

    pub const VER_TC_FLOW: Range<usize> = 0..4;
    pub const PAYLOAD_LEN: Range<usize> = 4..6;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: Range<usize> = 8..24;
    pub const DST: Range<usize> = 24..40;
}

const FLOW_MASK: u32 = 0x000f_ffff;

/// A view of an IPv6 packet: the fixed header and `payload_len` bytes after it
/// (extension headers included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Ipv6Packet<T> {
        Ipv6Packet { buffer }
    }

    #[inline]
    pub fn new_checked(buffer: T) -> Result<Ipv6Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Ensures the version is 6 and `40 + payload_len <= buffer length`. Bytes
    /// past the payload (link-layer padding) are allowed. A jumbogram (RFC 2675,
    /// payload length 0 with a hop-by-hop option) cannot cross Ethernet and is
    /// seen as an empty payload.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN || self.version() != 6 || self.total_len() > len {
            return Err(Error);
        }
        Ok(())
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn ver_tc_flow(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::VER_TC_FLOW])
    }

    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 4
    }

    /// The traffic class (DSCP and ECN), as IPv4's TOS byte.
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        (self.ver_tc_flow() >> 20) as u8
    }

    /// The 20-bit flow label.
    #[inline]
    pub fn flow_label(&self) -> u32 {
        self.ver_tc_flow() & FLOW_MASK
    }

    /// Bytes after the fixed header, extension headers included.
    #[inline]
    pub fn payload_len(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::PAYLOAD_LEN])
    }

    /// The fixed header plus `payload_len`: the packet without padding.
    #[inline]
    pub fn total_len(&self) -> usize {
        HEADER_LEN + usize::from(self.payload_len())
    }

    /// The type of the header after the fixed one; see [`next_header`].
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NEXT_HEADER]
    }

    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    #[inline]
    pub fn src(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.src_raw())
    }

    #[inline]
    pub fn dst(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.dst_raw())
    }

    /// The source address as bytes (network order).
    #[inline]
    pub fn src_raw(&self) -> [u8; 16] {
        addr_at(self.buffer.as_ref(), field::SRC.start)
    }

    /// The destination address as bytes (network order).
    #[inline]
    pub fn dst_raw(&self) -> [u8; 16] {
        addr_at(self.buffer.as_ref(), field::DST.start)
    }

    /// The bytes from the end of the fixed header to `payload_len`: extension
    /// headers, then the upper-layer header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.total_len()]
    }

    /// Where the upper-layer header is; see [`walk`].
    #[inline]
    pub fn upper_layer(&self) -> core::result::Result<Upper, ExtError> {
        let nh = self.next_header();
        // The fast path: no extension header, no loop.
        if !is_walked(nh) {
            return Ok(Upper {
                protocol: nh,
                offset: HEADER_LEN,
            });
        }
        walk(nh, &self.buffer.as_ref()[..self.total_len()], HEADER_LEN)
    }

    /// The upper-layer protocol and its bytes (header and data, to
    /// `payload_len`).
    #[inline]
    pub fn l4(&self) -> core::result::Result<(u8, &[u8]), ExtError> {
        let up = self.upper_layer()?;
        let end = self.total_len();
        Ok((up.protocol, &self.buffer.as_ref()[up.offset..end]))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    #[inline]
    fn set_ver_tc_flow(&mut self, value: u32) {
        self.buffer.as_mut()[field::VER_TC_FLOW].copy_from_slice(&value.to_be_bytes());
    }

    #[inline]
    pub fn set_version(&mut self, value: u8) {
        let byte = &mut self.buffer.as_mut()[0];
        *byte = (*byte & 0x0f) | (value << 4);
    }

    #[inline]
    pub fn set_traffic_class(&mut self, value: u8) {
        let word = self.ver_tc_flow() & !(0xff << 20);
        self.set_ver_tc_flow(word | u32::from(value) << 20);
    }

    /// Sets the flow label; bits above the low 20 are ignored.
    #[inline]
    pub fn set_flow_label(&mut self, value: u32) {
        let word = self.ver_tc_flow() & !FLOW_MASK;
        self.set_ver_tc_flow(word | (value & FLOW_MASK));
    }

    #[inline]
    pub fn set_payload_len(&mut self, value: u16) {
        self.buffer.as_mut()[field::PAYLOAD_LEN].copy_from_slice(&value.to_be_bytes());
    }

    #[inline]
    pub fn set_next_header(&mut self, value: u8) {
        self.buffer.as_mut()[field::NEXT_HEADER] = value;
    }

    #[inline]
    pub fn set_hop_limit(&mut self, value: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = value;
    }

    #[inline]
    pub fn set_src(&mut self, value: Ipv6Addr) {
        self.set_src_raw(value.octets());
    }

    #[inline]
    pub fn set_dst(&mut self, value: Ipv6Addr) {
        self.set_dst_raw(value.octets());
    }

    #[inline]
    pub fn set_src_raw(&mut self, value: [u8; 16]) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&value);
    }

    #[inline]
    pub fn set_dst_raw(&mut self, value: [u8; 16]) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&value);
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = self.total_len();
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }

    /// [`l4`](Self::l4), writable (for NAT).
    #[inline]
    pub fn l4_mut(&mut self) -> core::result::Result<(u8, &mut [u8]), ExtError> {
        let up = self.upper_layer()?;
        let end = self.total_len();
        Ok((up.protocol, &mut self.buffer.as_mut()[up.offset..end]))
    }
}

#[inline]
fn addr_at(data: &[u8], at: usize) -> [u8; 16] {
    let mut a = [0; 16];
    a.copy_from_slice(&data[at..at + 16]);
    a
}

/// Where a packet's upper-layer header is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upper {
    /// The protocol ([`next_header`] value) of the upper-layer header.
    pub protocol: u8,
    /// Its offset from the start of the bytes walked (for
    /// [`Ipv6Packet::upper_layer`], of the fixed header).
    pub offset: usize,
}

/// Why a packet's extension headers do not lead to an upper-layer header the
/// director may handle. Every case is a counted drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtError {
    /// A fragment header: the packet is a fragment (even an atomic one, RFC
    /// 6946), for [`walk_fragment`] to read; or a second one after it.
    Fragment,
    /// An extension header or one of its options runs past the payload.
    BadLength,
    /// A hop-by-hop options header that does not follow the fixed header (RFC
    /// 8200 §4.3 allows it only there).
    HopByHopNotFirst,
    /// A routing header with segments left: a source route through this node,
    /// which an IPv6 host does not forward (RFC 8200 §4.4; see also RFC 5095).
    SourceRoute,
    /// An option of the hop-by-hop header the walker does not know whose type
    /// says "discard" (the two high-order bits of its type are not 00, RFC
    /// 8200 §4.2).
    UnknownOption,
    /// A hop-by-hop header the kernel's `ip6_parse_tlv` refuses for its
    /// options' shape (`wire::ipv6_options`): more than 7 bytes of padding
    /// in a row, PadN data not all zero, a router alert not 2 bytes long, or
    /// more than 8 options other than padding.
    BadOption,
    /// More than [`MAX_EXT_HEADERS`] extension headers.
    TooMany,
    /// Next header 59: nothing follows (RFC 8200 §4.7).
    NoNextHeader,
}

impl ExtError {
    /// A short name, for counters and traces.
    pub const fn name(self) -> &'static str {
        match self {
            ExtError::Fragment => "fragment",
            ExtError::BadLength => "bad_length",
            ExtError::HopByHopNotFirst => "hop_by_hop_not_first",
            ExtError::SourceRoute => "source_route",
            ExtError::UnknownOption => "unknown_option",
            ExtError::BadOption => "bad_option",
            ExtError::TooMany => "too_many",
            ExtError::NoNextHeader => "no_next_header",
        }
    }
}

impl fmt::Display for ExtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether the walker has to look at a header of this type (every other value
/// is an upper-layer protocol and ends the walk).
#[inline]
const fn is_walked(nh: u8) -> bool {
    use next_header::*;
    matches!(nh, HOP_BY_HOP | ROUTING | FRAGMENT | NO_NEXT | DEST_OPTS)
}

/// Follows the extension headers of `packet[start..]`, the first of type `nh`,
/// to the upper-layer header. `packet` ends where the packet does (its
/// `payload_len`, or where a quote inside an ICMPv6 error was cut), so a header
/// that runs past it is [`ExtError::BadLength`].
///
/// Hop-by-hop options (first only) and destination options are checked option by
/// option; a routing header with no segments left is skipped (RFC 8200 §4.4);
/// fragment headers, source routes and "no next header" end the walk with an
/// error. Any other type is the upper-layer protocol, returned with its offset
/// in `packet` (which may equal `packet.len()` when nothing follows).
pub fn walk(nh: u8, packet: &[u8], start: usize) -> core::result::Result<Upper, ExtError> {
    match walk_from(nh, packet, start, 0)? {
        Stop::Upper(up) => Ok(up),
        Stop::Fragment(_) => Err(ExtError::Fragment),
    }
}

/// A fragment header (RFC 8200 §4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentHeader {
    /// Its offset from the start of the bytes walked.
    pub at: usize,
    /// The first header of the fragmentable part (for a later fragment, the
    /// type of what its data continues).
    pub next: u8,
    /// The fragment's offset in the fragmentable part, in bytes.
    pub offset: u16,
    /// More fragments follow.
    pub more: bool,
    pub ident: u32,
}

impl FragmentHeader {
    /// Its length.
    pub const LEN: usize = 8;
}

/// The fragment header of a packet [`walk`] refused as a fragment, the
/// headers before it checked as `walk` checks them; for a first fragment
/// (offset 0) also where its upper-layer header is, walked past the fragment
/// header (a second fragment header there is refused).
pub fn walk_fragment(
    nh: u8,
    packet: &[u8],
    start: usize,
) -> core::result::Result<(FragmentHeader, Option<Upper>), ExtError> {
    let Stop::Fragment((at, n)) = walk_from(nh, packet, start, 0)? else {
        return Err(ExtError::BadLength);
    };
    let Some(h) = packet.get(at..at + FragmentHeader::LEN) else {
        return Err(ExtError::BadLength);
    };
    let flags = u16::from_be_bytes([h[2], h[3]]);
    let frag = FragmentHeader {
        at,
        next: h[0],
        offset: flags & !7,
        more: flags & 1 != 0,
        ident: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
    };
    if frag.offset != 0 {
        return Ok((frag, None));
    }
    match walk_from(frag.next, packet, at + FragmentHeader::LEN, n + 1)? {
        Stop::Upper(up) => Ok((frag, Some(up))),
        Stop::Fragment(_) => Err(ExtError::Fragment),
    }
}

/// The upper-layer header of `packet` (an IPv6 packet, to its payload
/// length) if the packet is an atomic fragment: a fragment header with
/// offset 0 and M clear (RFC 6946), no piece of a datagram but the whole
/// packet behind that header, the headers before and after it checked as
/// [`walk_fragment`] checks them. `ipv6_frag_rcv` (`net/ipv6/reassembly.c`)
/// takes such a packet at once, its transport header past the fragment
/// header, before it looks for any reassembly queue. `None` for any other
/// packet (one [`walk`] refuses for another reason than a fragment header
/// included).
pub fn atomic_upper(packet: &[u8]) -> Option<Upper> {
    atomic_fragment(packet).map(|(_, up)| up)
}

/// [`atomic_upper`] with the fragment header it is behind.
pub fn atomic_fragment(packet: &[u8]) -> Option<(FragmentHeader, Upper)> {
    match walk_fragment(*packet.get(6)?, packet, HEADER_LEN) {
        Ok((f, Some(up))) if f.offset == 0 && !f.more => Some((f, up)),
        _ => None,
    }
}

/// The upper-layer header of `packet` (an IPv6 packet, to its payload
/// length) if the packet is a first fragment, not atomic, whose header
/// chain it cuts short: RFC 8200 §4.5 has such a fragment dropped and its
/// sender told (a parameter problem, code 3). The test is the kernel's
/// (`ipv6frag_thdr_truncated`, `include/net/ipv6_frag.h`, as
/// `ipv6_frag_rcv` applies it): the chain is followed by its headers'
/// lengths alone (`ipv6_skip_exthdr`; the authentication header's in
/// 4-octet units), and the upper-layer header must end within the packet:
/// 20 bytes of TCP, 8 of UDP or ICMPv6, 1 of anything else. A header whose
/// first two bytes are missing, "no next header", or a later fragment
/// header with an offset end the walk without a verdict (`None`), as the
/// kernel's walk fails there.
pub fn first_fragment_cut(packet: &[u8]) -> Option<Upper> {
    use next_header::*;
    let (mut nh, mut at, mut fragment) = (*packet.get(6)?, HEADER_LEN, false);
    while matches!(nh, HOP_BY_HOP | ROUTING | FRAGMENT | DEST_OPTS | AUTH) {
        let h = packet.get(at..at + 2)?;
        let len = match nh {
            FRAGMENT => {
                let off = u16::from_be_bytes(packet.get(at + 2..at + 4)?.try_into().ok()?);
                // The first one is `ipv6_frag_rcv`'s: not atomic, offset 0.
                if off & !7 != 0 || !fragment && off & 1 == 0 {
                    return None;
                }
                fragment = true;
                FragmentHeader::LEN
            }
            AUTH => (usize::from(h[1]) + 2) * 4,
            _ => (usize::from(h[1]) + 1) * 8,
        };
        (nh, at) = (h[0], at + len);
    }
    let need = match nh {
        TCP => 20,
        UDP | ICMPV6 => 8,
        NO_NEXT => return None,
        _ => 1,
    };
    (fragment && at + need > packet.len()).then_some(Upper {
        protocol: nh,
        offset: at,
    })
}

/// Where the kernel's `ipv6_skip_exthdr` (`net/ipv6/exthdrs_core.c`) ends
/// its walk of `packet` (an IPv6 packet, to its payload length): the type
/// of the first header it does not step over and that header's offset (which
/// may lie at or past the end of `packet`), and the fragment field of the
/// last fragment header met (offset, reserved bits and M as they came; 0 if
/// none). The chain is followed by its headers' lengths alone, nothing in
/// them checked: hop-by-hop, routing and destination options in 8-octet
/// units, the authentication header (51) in 4-octet ones, a fragment header
/// 8 bytes when its offset is 0; one with an offset ends the walk there (its
/// type, [`next_header::FRAGMENT`], returned). `None` where the kernel's
/// walk fails: at "no next header", or at a header whose first two bytes
/// (a fragment header's first four) are not in `packet`.
pub fn skip_exthdr(packet: &[u8]) -> Option<(u8, usize, u16)> {
    use next_header::*;
    let (mut nh, mut at, mut frag_off) = (*packet.get(6)?, HEADER_LEN, 0);
    while matches!(
        nh,
        HOP_BY_HOP | ROUTING | FRAGMENT | DEST_OPTS | AUTH | NO_NEXT
    ) {
        let h = packet.get(at..at + 2).filter(|_| nh != NO_NEXT)?;
        let len = match nh {
            FRAGMENT => {
                let f = packet.get(at + 2..at + 4)?;
                frag_off = u16::from_be_bytes([f[0], f[1]]);
                if frag_off & !7 != 0 {
                    break;
                }
                FragmentHeader::LEN
            }
            AUTH => (usize::from(h[1]) + 2) * 4,
            _ => (usize::from(h[1]) + 1) * 8,
        };
        (nh, at) = (h[0], at + len);
    }
    Some((nh, at, frag_off))
}

/// Where a walk stopped: at the upper layer, or at a fragment header (its
/// offset, and how many headers came before it).
enum Stop {
    Upper(Upper),
    Fragment((usize, usize)),
}

fn walk_from(
    mut nh: u8,
    packet: &[u8],
    start: usize,
    walked: usize,
) -> core::result::Result<Stop, ExtError> {
    let mut at = start;
    for n in walked..=MAX_EXT_HEADERS {
        if !is_walked(nh) {
            return Ok(Stop::Upper(Upper {
                protocol: nh,
                offset: at,
            }));
        }
        if n == MAX_EXT_HEADERS {
            break;
        }
        match nh {
            next_header::FRAGMENT => return Ok(Stop::Fragment((at, n))),
            next_header::NO_NEXT => return Err(ExtError::NoNextHeader),
            next_header::HOP_BY_HOP if n != 0 => return Err(ExtError::HopByHopNotFirst),
            _ => {}
        }
        // Every header of these three types starts with next header and its
        // length in 8-octet units, not counting the first 8 (RFC 8200 §4.3-4.6).
        let (Some(&next), Some(&units)) = (packet.get(at), packet.get(at + 1)) else {
            return Err(ExtError::BadLength);
        };
        let end = at + (usize::from(units) + 1) * 8;
        let Some(header) = packet.get(at..end) else {
            return Err(ExtError::BadLength);
        };
        match nh {
            // RFC 8200 §4.4: "If Segments Left is zero, the node must ignore the
            // Routing header and proceed to process the next header".
            next_header::ROUTING if header[3] != 0 => return Err(ExtError::SourceRoute),
            next_header::ROUTING => {}
            // Destination options are the destination's to act on: the
            // real server's. IPVS forwards them unread (its LOCAL_IN hook
            // runs before `ipv6_destopt_rcv`; `ipv6_find_hdr` skips the
            // header): only their lengths are checked. Hop-by-hop options
            // are every node's (`ipv6_parse_hopopts` in `ip6_rcv_core`).
            next_header::DEST_OPTS => super::ipv6_options::check(&header[2..], false)?,
            _ => super::ipv6_options::check(&header[2..], true)?,
        }
        nh = next;
        at = end;
    }
    Err(ExtError::TooMany)
}

/// The solicited-node multicast address of `addr`, ff02::1:ffXX:XXXX with its
/// low 24 bits (RFC 4291 §2.7.1), where Neighbor Solicitations for it go.
pub fn solicited_node(addr: Ipv6Addr) -> Ipv6Addr {
    let [.., a, b, c] = addr.octets();
    Ipv6Addr::from([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, a, b, c])
}

/// Whether `addr` is a solicited-node multicast address (ff02::1:ff00:0/104).
pub fn is_solicited_node(addr: Ipv6Addr) -> bool {
    addr.octets()[..13] == [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff]
}

/// The Ethernet address a multicast IPv6 address maps to: 33:33 and the
/// address's low 32 bits (RFC 2464 §7). Meaningless for a unicast address.
pub fn multicast_mac(addr: Ipv6Addr) -> Mac {
    let [.., a, b, c, d] = addr.octets();
    Mac([0x33, 0x33, a, b, c, d])
}

/// The link-local address with the modified EUI-64 interface identifier of `mac`
/// (RFC 4291 Appendix A, RFC 2464 §4-5): fe80::, the MAC with ff:fe in its middle
/// and the universal/local bit inverted.
pub fn link_local_from_mac(mac: Mac) -> Ipv6Addr {
    let [a, b, c, d, e, f] = mac.0;
    Ipv6Addr::from([
        0xfe,
        0x80,
        0,
        0,
        0,
        0,
        0,
        0,
        a ^ 0x02,
        b,
        c,
        0xff,
        0xfe,
        d,
        e,
        f,
    ])
}

/// Who a frame the director emits goes from and to, at both layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoints {
    pub src_mac: Mac,
    pub dst_mac: Mac,
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
}

/// Writes an Ethernet header and an IPv6 fixed header (traffic class and flow
/// label 0) for `payload_len` bytes of `next_header` to the start of `buf`, and
/// returns the frame's length (`14 + 40 + payload_len`); the payload is left to
/// the caller. `None` when `buf` is too short or the payload over 65535 bytes.
pub fn emit_headers(
    buf: &mut [u8],
    ends: &Endpoints,
    next_header: u8,
    hop_limit: u8,
    payload_len: usize,
) -> Option<usize> {
    let len = ethernet::HEADER_LEN + HEADER_LEN + payload_len;
    let payload_len = u16::try_from(payload_len).ok()?;
    let buf = buf.get_mut(..len)?;
    let mut frame = EthernetFrame::new_unchecked(&mut *buf);
    frame.set_dst(ends.dst_mac);
    frame.set_src(ends.src_mac);
    frame.set_ethertype(ethertype::IPV6);
    let mut ip = Ipv6Packet::new_unchecked(frame.payload_mut());
    ip.set_ver_tc_flow(6 << 28);
    ip.set_payload_len(payload_len);
    ip.set_next_header(next_header);
    ip.set_hop_limit(hop_limit);
    ip.set_src(ends.src);
    ip.set_dst(ends.dst);
    Some(len)
}

#[cfg(test)]
mod test {
    use super::*;

    // A TCP SYN, [2001:2:0:1::1]:40000 > [2001:2:0:1::110]:80, traffic class
    // 0x28, flow label 0xabcde, with MSS 1440, SACK-permitted, timestamp and
    // window-scale options.
    static PACKET_BYTES: [u8; 80] = [
        0x62, 0x8a, 0xbc, 0xde, 0x00, 0x28, 0x06, 0x40, 0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00,
        0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x20, 0x01, 0x00, 0x02, 0x00, 0x00,
        0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x10, 0x9c, 0x40, 0x00, 0x50, 0x6a,
        0x1b, 0x3c, 0x4d, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfd, 0x20, 0x5f, 0x49, 0x00, 0x00,
        0x02, 0x04, 0x05, 0xa0, 0x04, 0x02, 0x08, 0x0a, 0x0b, 0x1e, 0x5c, 0x7a, 0x00, 0x00, 0x00,
        0x00, 0x01, 0x03, 0x03, 0x07,
    ];

    const SRC: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 1);
    const DST: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0x110);

    #[test]
    fn deconstruct() {
        let ip = Ipv6Packet::new_checked(&PACKET_BYTES[..]).expect("valid");
        assert_eq!(ip.version(), 6);
        assert_eq!(ip.traffic_class(), 0x28);
        assert_eq!(ip.flow_label(), 0xabcde);
        assert_eq!(ip.payload_len(), 40);
        assert_eq!(ip.total_len(), 80);
        assert_eq!(ip.next_header(), next_header::TCP);
        assert_eq!(ip.hop_limit(), 64);
        assert_eq!(ip.src(), SRC);
        assert_eq!(ip.dst(), DST);
        assert_eq!(ip.src_raw(), SRC.octets());
        assert_eq!(ip.dst_raw(), DST.octets());
        assert_eq!(ip.payload(), &PACKET_BYTES[40..]);
        assert_eq!(
            ip.upper_layer(),
            Ok(Upper {
                protocol: next_header::TCP,
                offset: 40
            })
        );
        assert_eq!(ip.l4(), Ok((next_header::TCP, &PACKET_BYTES[40..])));
        assert_eq!(ip.into_inner(), &PACKET_BYTES[..]);
    }

    #[test]
    fn construct() {
        let mut bytes = [0xa5; 80];
        let mut ip = Ipv6Packet::new_unchecked(&mut bytes[..]);
        ip.set_version(6);
        ip.set_traffic_class(0x28);
        ip.set_flow_label(0xabcde);
        ip.set_payload_len(40);
        ip.set_next_header(next_header::TCP);
        ip.set_hop_limit(64);
        ip.set_src(SRC);
        ip.set_dst(DST);
        ip.payload_mut().copy_from_slice(&PACKET_BYTES[40..]);
        assert_eq!(bytes, PACKET_BYTES);
    }

    #[test]
    fn check_len_rejects_truncation_and_other_versions() {
        for len in 0..PACKET_BYTES.len() {
            assert_eq!(Ipv6Packet::new_checked(&PACKET_BYTES[..len]), Err(Error));
        }
        let mut bytes = PACKET_BYTES;
        bytes[0] = 0x45;
        assert_eq!(Ipv6Packet::new_checked(&bytes[..]), Err(Error));
        let mut bytes = PACKET_BYTES;
        bytes[5] = 41;
        assert_eq!(Ipv6Packet::new_checked(&bytes[..]), Err(Error));
        // Trailing link-layer padding is not part of the payload.
        let mut padded = [0; 86];
        padded[..80].copy_from_slice(&PACKET_BYTES);
        let ip = Ipv6Packet::new_checked(&padded[..]).expect("padded");
        assert_eq!(ip.payload(), &PACKET_BYTES[40..]);
        assert_eq!(ip.l4().map(|(_, l4)| l4.len()), Ok(40));
    }

    #[test]
    fn setters_round_trip() {
        let mut bytes = PACKET_BYTES;
        let mut ip = Ipv6Packet::new_checked(&mut bytes[..]).expect("valid");
        ip.set_traffic_class(0xb8);
        assert_eq!(ip.flow_label(), 0xabcde, "the class leaves the label");
        ip.set_flow_label(0xfff_12345);
        assert_eq!(ip.traffic_class(), 0xb8, "the label leaves the class");
        assert_eq!(ip.flow_label(), 0x1_2345);
        assert_eq!(ip.version(), 6);
        ip.set_hop_limit(1);
        ip.set_next_header(next_header::UDP);
        ip.set_src_raw(DST.octets());
        ip.set_dst_raw(SRC.octets());
        ip.set_payload_len(8);
        assert!(ip.check_len().is_ok());
        assert_eq!(ip.hop_limit(), 1);
        assert_eq!(ip.next_header(), next_header::UDP);
        assert_eq!((ip.src(), ip.dst()), (DST, SRC));
        assert_eq!(ip.payload().len(), 8);
        ip.payload_mut().fill(0);
        let (proto, l4) = ip.l4_mut().expect("no extension headers");
        assert_eq!((proto, l4.len()), (next_header::UDP, 8));
        ip.set_version(4);
        assert_eq!(ip.check_len(), Err(Error));
    }

    #[test]
    fn agrees_with_smoltcp() {
        use smoltcp::wire::{IpProtocol, Ipv6Packet as S, TcpPacket};
        let ours = Ipv6Packet::new_checked(&PACKET_BYTES[..]).expect("valid");
        let theirs = S::new_checked(&PACKET_BYTES[..]).expect("valid");
        assert_eq!(ours.src(), theirs.src_addr());
        assert_eq!(ours.dst(), theirs.dst_addr());
        assert_eq!(ours.flow_label(), theirs.flow_label());
        assert_eq!(ours.traffic_class(), theirs.traffic_class());
        assert_eq!(theirs.next_header(), IpProtocol::Tcp);
        assert_eq!(ours.payload(), theirs.payload());
        // The fixture's TCP checksum is right by smoltcp's reckoning.
        let tcp = TcpPacket::new_checked(theirs.payload()).expect("tcp");
        assert!(tcp.verify_checksum(&SRC.into(), &DST.into()));
    }

    /// A packet with `ext` (a chain of extension headers, the first of type
    /// `first`) before 8 bytes of UDP.
    fn chained(first: u8, ext: &[u8]) -> Vec<u8> {
        let mut p = PACKET_BYTES[..40].to_vec();
        p[6] = first;
        p[4..6].copy_from_slice(&((ext.len() + 8) as u16).to_be_bytes());
        p.extend_from_slice(ext);
        p.extend_from_slice(&[0x9c, 0x40, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00]);
        p
    }

    fn upper(p: &[u8]) -> core::result::Result<Upper, ExtError> {
        Ipv6Packet::new_checked(p).expect("valid").upper_layer()
    }

    use next_header::{DEST_OPTS, FRAGMENT, HOP_BY_HOP, NO_NEXT, ROUTING, UDP};

    #[test]
    fn walks_to_the_upper_layer() {
        // Hop-by-hop (router alert, PadN), destination options (Pad1 x2, PadN,
        // a skippable unknown option 0x1e), routing with no segments left.
        let ext = [
            DEST_OPTS, 0, 5, 2, 0, 0, 1, 0, // hop-by-hop, 8 bytes
            ROUTING, 1, 0, 0, 1, 2, 0x1e, 3, 1, 2, 3, 1, 3, 0, 0, 0, // dest opts, 16
            UDP, 0, 4, 0, 0, 0, 0, 0, // routing type 4, segments left 0
        ];
        let p = chained(HOP_BY_HOP, &ext);
        let up = upper(&p).expect("walkable");
        assert_eq!(
            up,
            Upper {
                protocol: UDP,
                offset: 40 + 32
            }
        );
        let ip = Ipv6Packet::new_checked(&p[..]).expect("valid");
        assert_eq!(ip.l4(), Ok((UDP, &p[72..])));
        // smoltcp's extension-header view agrees on where the chain ends.
        let (mut nh, mut at) = (smoltcp::wire::IpProtocol::HopByHop, 40);
        while nh != smoltcp::wire::IpProtocol::Udp {
            let h = smoltcp::wire::Ipv6ExtHeader::new_checked(&p[at..]).expect("ext");
            (nh, at) = (h.next_header(), at + (usize::from(h.header_len()) + 1) * 8);
        }
        assert_eq!(at, up.offset);
    }

    #[test]
    fn walks_to_a_fragment_header_and_past_a_first_ones() {
        let frag = |off_m: u16, id: u32| {
            let mut h = vec![UDP, 0];
            h.extend_from_slice(&off_m.to_be_bytes());
            h.extend_from_slice(&id.to_be_bytes());
            h
        };
        // Hop-by-hop, then a first fragment (offset 0, M) of UDP.
        let mut ext = vec![FRAGMENT, 0, 1, 4, 0, 0, 0, 0];
        ext.extend(frag(1, 0xdead_beef));
        let p = chained(HOP_BY_HOP, &ext);
        let (f, up) = walk_fragment(HOP_BY_HOP, &p, HEADER_LEN).expect("a fragment");
        assert_eq!(
            f,
            FragmentHeader {
                at: 48,
                next: UDP,
                offset: 0,
                more: true,
                ident: 0xdead_beef
            }
        );
        assert_eq!(
            up,
            Some(Upper {
                protocol: UDP,
                offset: 56
            })
        );
        // A later fragment: offset 1480 (185 units), the last; no upper layer.
        let p = chained(FRAGMENT, &frag(185 << 3, 7));
        let (f, up) = walk_fragment(FRAGMENT, &p, HEADER_LEN).expect("a fragment");
        assert_eq!((f.offset, f.more, f.ident, up), (1480, false, 7, None));
        // Two fragment headers, a hop-by-hop after one, no fragment at all.
        let mut two = frag(0, 1);
        two[0] = FRAGMENT;
        two.extend(frag(0, 2));
        let p = chained(FRAGMENT, &two);
        assert_eq!(
            walk_fragment(FRAGMENT, &p, HEADER_LEN),
            Err(ExtError::Fragment)
        );
        let mut hbh = frag(0, 1);
        hbh[0] = HOP_BY_HOP;
        hbh.extend([UDP, 0, 1, 4, 0, 0, 0, 0]);
        let p = chained(FRAGMENT, &hbh);
        assert_eq!(
            walk_fragment(FRAGMENT, &p, HEADER_LEN),
            Err(ExtError::HopByHopNotFirst)
        );
        let p = chained(DEST_OPTS, &[UDP, 0, 1, 4, 0, 0, 0, 0]);
        assert_eq!(
            walk_fragment(DEST_OPTS, &p, HEADER_LEN),
            Err(ExtError::BadLength)
        );
        // A fragment header cut short.
        let p = chained(FRAGMENT, &frag(0, 1));
        assert_eq!(
            walk_fragment(FRAGMENT, &p[..44], HEADER_LEN),
            Err(ExtError::BadLength)
        );
        // Only offset 0 with M clear is atomic: its upper layer past the
        // header; a first, a later fragment, two headers, no fragment: none.
        let p = chained(HOP_BY_HOP, &{
            let mut e = vec![FRAGMENT, 0, 1, 4, 0, 0, 0, 0];
            e.extend(frag(0, 9));
            e
        });
        let up = Upper {
            protocol: UDP,
            offset: 56,
        };
        assert_eq!(atomic_upper(&p), Some(up));
        // The reserved bits are not looked at: `ipv6_frag_rcv` tests the
        // offset and M alone (`IP6_OFFSET | IP6_MF`).
        let reserved = chained(FRAGMENT, &frag(6, 9));
        assert_eq!(atomic_upper(&reserved).map(|u| u.offset), Some(48));
        let first = chained(FRAGMENT, &frag(1, 9));
        let later = chained(FRAGMENT, &frag(8, 9));
        let mut two = frag(0, 1);
        two[0] = FRAGMENT;
        two.extend(frag(0, 2));
        let two = chained(FRAGMENT, &two);
        let none = chained(UDP, &[]);
        for p in [first, later, two, none] {
            assert_eq!(atomic_upper(&p), None);
        }
    }

    #[test]
    fn walker_errors() {
        let cases: [(u8, &[u8], ExtError); 11] = [
            (FRAGMENT, &[UDP, 0, 0, 0, 0, 0, 0, 1], ExtError::Fragment),
            // An atomic fragment (offset 0, no more fragments) too.
            (FRAGMENT, &[UDP, 0, 0, 0, 0, 0, 0, 0], ExtError::Fragment),
            (NO_NEXT, &[], ExtError::NoNextHeader),
            (
                DEST_OPTS,
                &[HOP_BY_HOP, 0, 1, 4, 0, 0, 0, 0, UDP, 0, 1, 4, 0, 0, 0, 0],
                ExtError::HopByHopNotFirst,
            ),
            (ROUTING, &[UDP, 0, 4, 1, 0, 0, 0, 0], ExtError::SourceRoute),
            // The header length runs past the payload.
            (DEST_OPTS, &[UDP, 1, 1, 4, 0, 0, 0, 0], ExtError::BadLength),
            // An option runs past its header.
            (DEST_OPTS, &[UDP, 0, 1, 5, 0, 0, 0, 0], ExtError::BadLength),
            // An option type with no room for its length.
            (
                DEST_OPTS,
                &[UDP, 0, 0, 0, 0, 0, 0, 0x1e],
                ExtError::BadLength,
            ),
            // Unknown hop-by-hop options with the discard actions 01, 10, 11.
            (
                HOP_BY_HOP,
                &[UDP, 0, 0x5e, 0, 1, 2, 0, 0],
                ExtError::UnknownOption,
            ),
            (
                HOP_BY_HOP,
                &[UDP, 0, 0x9e, 0, 1, 2, 0, 0],
                ExtError::UnknownOption,
            ),
            (
                HOP_BY_HOP,
                &[UDP, 0, 0xc2, 4, 0, 0, 0, 0],
                ExtError::UnknownOption,
            ),
        ];
        for (first, ext, err) in cases {
            let p = chained(first, ext);
            assert_eq!(upper(&p), Err(err), "{first} {ext:?}");
            assert!(!err.name().is_empty());
        }
        // The same unknown options in a destination options header are the
        // destination's (the real server's) to act on: walked over, as IPVS
        // forwards them.
        for opts in [
            [0x5e, 0, 1, 2, 0, 0],
            [0x9e, 0, 1, 2, 0, 0],
            [0xc2, 4, 0, 0, 0, 0],
        ] {
            let mut ext = vec![UDP, 0];
            ext.extend(opts);
            let got = upper(&chained(DEST_OPTS, &ext)).map(|u| u.protocol);
            assert_eq!(got, Ok(UDP), "{opts:?}");
        }
        // Too short for even the next-header byte of the extension header.
        let mut p = chained(DEST_OPTS, &[]);
        p[4..6].copy_from_slice(&0u16.to_be_bytes());
        assert_eq!(upper(&p), Err(ExtError::BadLength));
    }

    /// The kernel's `ip6_parse_tlv` on a hop-by-hop header: padding of 7
    /// bytes in a row at most, PadN data all zero, a router alert of 2
    /// bytes (`ipv6_hop_ra`), 8 options besides padding at most
    /// (`max_hbh_opts_number`). Destination options are not looked at so
    /// (the real server's, `ipv6_destopt_rcv` runs after IPVS).
    #[test]
    fn hop_by_hop_options_are_shaped_as_the_kernel_wants() {
        let refused: [&[u8]; 6] = [
            // Eight bytes of padding in a row: 6 Pad1, a PadN of 2.
            &[UDP, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0],
            // PadN of 8 bytes (6 of data) after a router alert.
            &[UDP, 1, 5, 2, 0, 0, 1, 6, 0, 0, 0, 0, 0, 0, 0, 0],
            // PadN with a byte that is not 0.
            &[UDP, 0, 1, 4, 0, 0, 7, 0],
            // A router alert of 4 bytes.
            &[UDP, 0, 5, 4, 0, 0, 0, 0],
            // Nine skippable options of no data (and Pad1s).
            &[
                UDP, 2, 0x1e, 0, 0x1e, 0, 0x1e, 0, 0x1e, 0, 0x1e, 0, 0x1e, 0, 0x1e, 0, 0x1e, 0,
                0x1e, 0, 0, 0, 0, 0,
            ],
            // A router alert of 0 bytes (then padding).
            &[UDP, 0, 5, 0, 1, 2, 0, 0],
        ];
        for ext in refused {
            assert_eq!(
                upper(&chained(HOP_BY_HOP, ext)),
                Err(ExtError::BadOption),
                "{ext:?}"
            );
            let dest = upper(&chained(DEST_OPTS, ext)).map(|u| u.protocol);
            assert_eq!(dest, Ok(UDP), "destination options {ext:?}");
        }
        assert_eq!(ExtError::BadOption.name(), "bad_option");
        let accepted: [&[u8]; 3] = [
            // Seven bytes of padding in a row: 1 + 2 + 4.
            &[UDP, 1, 0, 1, 0, 1, 2, 0, 0, 5, 2, 0, 0, 1, 1, 0],
            // Eight options (with the router alert), padding between.
            &[
                UDP, 2, 5, 2, 0, 0, 0x1e, 0, 0x1e, 0, 0, 0x1e, 0, 0x1e, 0, 0x1e, 0, 0x1e, 0, 0x1e,
                0, 0, 0, 0,
            ],
            // PadN of 4 zero bytes, the 6 the frames' builders use.
            &[UDP, 0, 1, 4, 0, 0, 0, 0],
        ];
        for ext in accepted {
            let got = upper(&chained(HOP_BY_HOP, ext)).map(|u| u.protocol);
            assert_eq!(got, Ok(UDP), "{ext:?}");
        }
    }

    /// `ip6_tlvopt_unknown`: an unknown hop-by-hop option of action 10, or
    /// 11 to a unicast address, gets a parameter problem code 2 pointing at
    /// it; 01, or 11 to a multicast address, none. `ipv6_hop_jumbo`'s code
    /// 0 for a jumbo option of the right shape.
    #[test]
    fn unknown_hop_by_hop_options_say_which_problem_to_send() {
        use super::super::ipv6_options::unknown_option_problem;
        let problem = |p: &[u8]| unknown_option_problem(p, false);
        let with = |opts: &[u8]| {
            let mut ext = vec![UDP, 0];
            ext.extend_from_slice(opts);
            chained(HOP_BY_HOP, &ext)
        };
        assert_eq!(problem(&with(&[1, 0, 0x9e, 0, 0, 0])), Some((2, 44)));
        assert_eq!(problem(&with(&[0xde, 0, 1, 2, 0, 0])), Some((2, 42)));
        assert_eq!(problem(&with(&[0x5e, 0, 1, 2, 0, 0])), None);
        let mut multicast = with(&[0xde, 0, 1, 2, 0, 0]);
        multicast[24] = 0xff;
        assert_eq!(problem(&multicast), None);
        multicast[42] = 0x9e;
        assert_eq!(problem(&multicast), Some((2, 42)));
        // A jumbo payload at offset 2 mod 4 of 4 bytes: its length (0
        // here) is no jumbo's; misaligned, dropped unanswered.
        assert_eq!(problem(&with(&[0xc2, 4, 0, 0, 0, 0])), Some((0, 44)));
        assert_eq!(problem(&with(&[0, 0xc2, 4, 0, 0, 0])), None);
        // Refused for something else first: nothing.
        assert_eq!(problem(&with(&[5, 0, 0x9e, 0, 0, 0])), None);
        assert_eq!(
            problem(&chained(DEST_OPTS, &[UDP, 0, 0x9e, 0, 1, 2, 0, 0])),
            None
        );
    }

    #[test]
    fn chains_are_bounded() {
        let pad = |next| [next, 0, 1, 4, 0, 0, 0, 0];
        for n in [MAX_EXT_HEADERS, MAX_EXT_HEADERS + 1, 40] {
            let ext: Vec<u8> = (0..n)
                .flat_map(|i| pad(if i + 1 == n { UDP } else { DEST_OPTS }))
                .collect();
            let got = upper(&chained(DEST_OPTS, &ext));
            if n <= MAX_EXT_HEADERS {
                assert_eq!(
                    got,
                    Ok(Upper {
                        protocol: UDP,
                        offset: 40 + 8 * n
                    })
                );
            } else {
                assert_eq!(got, Err(ExtError::TooMany), "{n}");
            }
        }
    }

    #[test]
    fn walk_works_on_a_cut_quote() {
        // Inside an ICMPv6 error the quoted packet may end anywhere; the walk
        // stays within what is there.
        let ext = [UDP, 0, 1, 4, 0, 0, 0, 0];
        let p = chained(DEST_OPTS, &ext);
        assert_eq!(
            walk(DEST_OPTS, &p[..48], 40),
            Ok(Upper {
                protocol: UDP,
                offset: 48
            })
        );
        for cut in 40..48 {
            assert_eq!(walk(DEST_OPTS, &p[..cut], 40), Err(ExtError::BadLength));
        }
    }

    #[test]
    fn derived_addresses() {
        let addr: Ipv6Addr = "2001:2:0:1::1:2:3".parse().expect("addr");
        let sn = solicited_node(addr);
        assert_eq!(sn, "ff02::1:ff02:3".parse::<Ipv6Addr>().expect("addr"));
        assert!(is_solicited_node(sn));
        assert!(!is_solicited_node(ALL_NODES));
        assert!(!is_solicited_node(addr));
        assert_eq!(multicast_mac(sn), Mac([0x33, 0x33, 0xff, 0x02, 0x00, 0x03]));
        assert_eq!(multicast_mac(ALL_NODES), Mac([0x33, 0x33, 0, 0, 0, 1]));
        assert!(multicast_mac(ALL_ROUTERS).is_multicast());
        let ll = link_local_from_mac(Mac([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]));
        assert_eq!(
            ll,
            "fe80::5054:ff:fe12:3456".parse::<Ipv6Addr>().expect("addr")
        );
        assert!(ll.is_unicast_link_local());
    }

    #[test]
    fn emit_headers_writes_the_frame_head() {
        let ends = Endpoints {
            src_mac: Mac([0x52, 0x54, 0, 0, 0, 1]),
            dst_mac: Mac([0x52, 0x54, 0, 0, 0, 2]),
            src: SRC,
            dst: DST,
        };
        let mut buf = [0xa5; 120];
        let len = emit_headers(&mut buf, &ends, next_header::TCP, 64, 40).expect("fits");
        assert_eq!(len, 94);
        buf[54..94].copy_from_slice(&PACKET_BYTES[40..]);
        let frame = EthernetFrame::new_checked(&buf[..len]).expect("frame");
        assert_eq!(frame.ethertype(), ethertype::IPV6);
        assert_eq!((frame.src(), frame.dst()), (ends.src_mac, ends.dst_mac));
        let ip = Ipv6Packet::new_checked(frame.payload()).expect("ip");
        assert_eq!(ip.traffic_class(), 0);
        assert_eq!(ip.flow_label(), 0);
        assert_eq!(&frame.payload()[4..], &PACKET_BYTES[4..]);
        assert!(buf[len..].iter().all(|&b| b == 0xa5));
        assert_eq!(emit_headers(&mut buf[..93], &ends, 6, 64, 40), None);
        assert_eq!(emit_headers(&mut [0; 70000], &ends, 6, 64, 65536), None);
    }

    /// `first_fragment_cut` follows the kernel's walk: the authentication
    /// header's length in 4-octet units, a fragment header inside the
    /// chain skipped at offset 0, no verdict at a later one's offset or at
    /// "no next header".
    #[test]
    fn first_fragment_cut_walks_as_the_kernel_does() {
        // The fixed header (next: fragment), then `chain`.
        let packet = |chain: &[u8]| {
            let mut p = vec![0u8; HEADER_LEN];
            p[6] = next_header::FRAGMENT;
            p.extend_from_slice(chain);
            p
        };
        let frag = |next: u8, off: u16| {
            let o = off.to_be_bytes();
            [next, 0, o[0], o[1], 0, 0, 0, 1]
        };
        // Authentication header: (1 + 2) * 4 = 12 bytes, then 8 of UDP.
        let mut ah = frag(51, 1).to_vec();
        ah.extend_from_slice(&[17, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        ah.extend_from_slice(&[0; 7]);
        let cut = first_fragment_cut(&packet(&ah)).expect("cut");
        assert_eq!((cut.protocol, cut.offset), (17, 60));
        ah.push(0);
        assert_eq!(first_fragment_cut(&packet(&ah)), None);
        // Atomic, later, a nested fragment header at an offset, no next.
        assert_eq!(first_fragment_cut(&packet(&frag(17, 0))), None);
        assert_eq!(first_fragment_cut(&packet(&frag(17, 9))), None);
        let nested = [frag(44, 1), frag(17, 8)].concat();
        assert_eq!(first_fragment_cut(&packet(&nested)), None);
        let nested = [frag(44, 1), frag(17, 1)].concat();
        assert!(first_fragment_cut(&packet(&nested)).is_some());
        assert_eq!(first_fragment_cut(&packet(&frag(59, 1))), None);
        // Anything else needs one byte.
        assert!(first_fragment_cut(&packet(&frag(47, 1))).is_some());
        assert_eq!(
            first_fragment_cut(&packet(&[&frag(47, 1)[..], &[0]].concat())),
            None
        );
    }
}
