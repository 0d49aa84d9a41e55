//! ICMPv6 messages (RFC 4443): the view, its checksum over the IPv6
//! pseudo-header, and the messages the director writes itself (echo replies and
//! errors). Neighbor Discovery's messages are in [`super::ndp`].

use std::net::Ipv6Addr;

use super::checksum;
use super::ethernet::{self, EthernetFrame, ethertype};
use super::ipv6::{self, Endpoints, Ipv6Packet, next_header};
use super::{Error, Result, be16, be32};

/// Length of the fixed header: type, code, checksum and the 32 bits whose
/// meaning depends on the type.
pub const HEADER_LEN: usize = 8;
/// Hop limit of the errors and echo replies the director originates (Linux's
/// default, `net.ipv6.conf.*.hop_limit`).
pub const DEFAULT_HOP_LIMIT: u8 = 64;
/// Most bytes of the offending packet an error quotes: what fits in the IPv6
/// minimum MTU after the IPv6 and ICMPv6 headers (RFC 4443 §2.4(c)).
pub const MAX_QUOTE: usize = ipv6::MIN_MTU - ipv6::HEADER_LEN - HEADER_LEN;

/// Message types (RFC 4443 §2.1, RFC 4861 §4).
pub mod msg {
    pub const DEST_UNREACHABLE: u8 = 1;
    pub const PACKET_TOO_BIG: u8 = 2;
    pub const TIME_EXCEEDED: u8 = 3;
    pub const PARAM_PROBLEM: u8 = 4;
    pub const ECHO_REQUEST: u8 = 128;
    pub const ECHO_REPLY: u8 = 129;
    pub const ROUTER_SOLICIT: u8 = 133;
    pub const ROUTER_ADVERT: u8 = 134;
    pub const NEIGHBOR_SOLICIT: u8 = 135;
    pub const NEIGHBOR_ADVERT: u8 = 136;
    pub const REDIRECT: u8 = 137;
}

/// Codes of destination unreachable (RFC 4443 §3.1).
pub mod unreach {
    pub const NO_ROUTE: u8 = 0;
    pub const ADMIN_PROHIBITED: u8 = 1;
    pub const BEYOND_SCOPE: u8 = 2;
    pub const ADDRESS: u8 = 3;
    pub const PORT: u8 = 4;
    pub const FAILED_POLICY: u8 = 5;
    pub const REJECT_ROUTE: u8 = 6;
}

/// Codes of time exceeded (RFC 4443 §3.3).
pub mod time_exceeded {
    pub const HOP_LIMIT: u8 = 0;
    pub const REASSEMBLY: u8 = 1;
}

/// Codes of parameter problem (RFC 4443 §3.4).
pub mod param_problem {
    pub const HEADER_FIELD: u8 = 0;
    pub const NEXT_HEADER: u8 = 1;
    pub const OPTION: u8 = 2;
    /// A first fragment without its whole header chain (RFC 7112 §5).
    pub const HEADER_CHAIN: u8 = 3;
}

mod field {
    use core::ops::Range;

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const ECHO_IDENT: Range<usize> = 4..6;
    pub const ECHO_SEQ: Range<usize> = 6..8;
    pub const REST: Range<usize> = 4..8;
    pub const DATA: usize = 8;
}

/// A view of an ICMPv6 message; the buffer is the whole message (to the IPv6
/// payload length), which the checksum covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Icmpv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Icmpv6Packet<T> {
        Icmpv6Packet { buffer }
    }

    #[inline]
    pub fn new_checked(buffer: T) -> Result<Icmpv6Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Ensures the buffer holds the fixed header.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return Err(Error);
        }
        Ok(())
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The message type; see [`msg`].
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    #[inline]
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    /// Identifier of an echo request or reply.
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::ECHO_IDENT])
    }

    /// Sequence number of an echo request or reply.
    #[inline]
    pub fn echo_seq(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::ECHO_SEQ])
    }

    /// Bytes 4..8, whose meaning depends on the type (unused, MTU, pointer).
    #[inline]
    pub fn rest_of_header(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::REST])
    }

    /// The MTU of the next-hop link, in a packet too big.
    #[inline]
    pub fn mtu(&self) -> u32 {
        self.rest_of_header()
    }

    /// Where in the invoking packet the problem is, in a parameter problem.
    #[inline]
    pub fn pointer(&self) -> u32 {
        self.rest_of_header()
    }

    /// Everything after the fixed header. For error messages this is the
    /// invoking packet from its IPv6 header on, cut where the sender cut it.
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[field::DATA..]
    }

    /// True for error messages (types 0-127, RFC 4443 §2.1), which quote the
    /// invoking packet.
    #[inline]
    pub fn is_error(&self) -> bool {
        self.msg_type() < 128
    }

    /// Whether the checksum over the pseudo-header and the whole message is
    /// correct.
    #[inline]
    pub fn verify_checksum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        checksum::fold(self.sum(src, dst)) == 0xffff
    }

    #[inline]
    fn sum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> u32 {
        let data = self.buffer.as_ref();
        let pseudo = checksum::pseudo_header_v6(src, dst, next_header::ICMPV6, data.len() as u32);
        checksum::combine(pseudo, checksum::sum(data))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv6Packet<T> {
    #[inline]
    pub fn set_msg_type(&mut self, value: u8) {
        self.buffer.as_mut()[field::TYPE] = value;
    }

    #[inline]
    pub fn set_code(&mut self, value: u8) {
        self.buffer.as_mut()[field::CODE] = value;
    }

    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&value.to_be_bytes());
    }

    #[inline]
    pub fn set_echo_ident(&mut self, value: u16) {
        self.buffer.as_mut()[field::ECHO_IDENT].copy_from_slice(&value.to_be_bytes());
    }

    #[inline]
    pub fn set_echo_seq(&mut self, value: u16) {
        self.buffer.as_mut()[field::ECHO_SEQ].copy_from_slice(&value.to_be_bytes());
    }

    #[inline]
    pub fn set_rest_of_header(&mut self, value: u32) {
        self.buffer.as_mut()[field::REST].copy_from_slice(&value.to_be_bytes());
    }

    #[inline]
    pub fn set_mtu(&mut self, value: u32) {
        self.set_rest_of_header(value);
    }

    #[inline]
    pub fn set_pointer(&mut self, value: u32) {
        self.set_rest_of_header(value);
    }

    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::DATA..]
    }

    /// Recomputes the checksum over the pseudo-header and the whole message.
    #[inline]
    pub fn fill_checksum(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        self.set_checksum(0);
        let value = !checksum::fold(self.sum(src, dst));
        self.set_checksum(value);
    }
}

/// Turns the ICMPv6 echo request in `frame` (a whole Ethernet frame) into its
/// reply, in place, and returns the reply's length: Ethernet and IPv6 addresses
/// swapped, hop limit reset to `hop_limit`, type echo reply, checksum updated
/// (RFC 1624; swapping the addresses leaves the pseudo-header sum alone). Any
/// extension headers of the request are dropped, the message moved up behind the
/// fixed header; link-layer padding is cut off. So is the fragment header of an
/// atomic fragment (offset 0, M clear, RFC 6946): the reply is a plain echo reply,
/// as the kernel's `icmpv6_echo_reply` (`net/ipv6/icmp.c`) builds it afresh.
///
/// The caller has checked that the request is addressed to one of our unicast
/// addresses (RFC 4443 §4.2: the reply's source is the request's destination)
/// and that its checksum is right (an update keeps a bad checksum bad). `None`
/// when the frame is not an IPv6 echo request.
pub fn echo_reply_in_place(frame: &mut [u8], hop_limit: u8) -> Option<usize> {
    let mut eth = EthernetFrame::new_checked(&mut *frame).ok()?;
    if eth.ethertype() != ethertype::IPV6 {
        return None;
    }
    let (mac_dst, mac_src) = (eth.dst(), eth.src());
    let bytes = eth.payload_mut();
    let view = Ipv6Packet::new_checked(&*bytes).ok()?;
    let end = view.total_len();
    // An atomic fragment's too: its header goes with the others.
    let up = match view.upper_layer() {
        Err(ipv6::ExtError::Fragment) => ipv6::atomic_upper(&bytes[..end]),
        up => up.ok(),
    }?;
    let icmp_len = end - up.offset;
    let request = Icmpv6Packet::new_checked(&bytes[up.offset..end]).ok()?;
    if up.protocol != next_header::ICMPV6 || request.msg_type() != msg::ECHO_REQUEST {
        return None;
    }
    let mut ip = Ipv6Packet::new_unchecked(bytes);
    if up.offset != ipv6::HEADER_LEN {
        let bytes = ip.into_inner();
        bytes.copy_within(up.offset..end, ipv6::HEADER_LEN);
        ip = Ipv6Packet::new_unchecked(bytes);
        ip.set_next_header(next_header::ICMPV6);
        // Shorter than the payload length it replaces: fits in u16.
        ip.set_payload_len(icmp_len as u16);
    }
    let (src, dst) = (ip.src_raw(), ip.dst_raw());
    ip.set_src_raw(dst);
    ip.set_dst_raw(src);
    ip.set_hop_limit(hop_limit);
    let mut icmp = Icmpv6Packet::new_unchecked(&mut ip.payload_mut()[..icmp_len]);
    let code = icmp.code();
    icmp.set_msg_type(msg::ECHO_REPLY);
    // RFC 1624 §3, eqn. 3, on the word the type shares with the code.
    let delta = checksum::Delta::new().add16(
        u16::from_be_bytes([msg::ECHO_REQUEST, code]),
        u16::from_be_bytes([msg::ECHO_REPLY, code]),
    );
    icmp.set_checksum(delta.apply(icmp.checksum()));
    let mut eth = EthernetFrame::new_unchecked(&mut *frame);
    eth.set_dst(mac_src);
    eth.set_src(mac_dst);
    Some(ethernet::HEADER_LEN + ipv6::HEADER_LEN + icmp_len)
}

/// Writes, into `buf`, an Ethernet frame holding an ICMPv6 error (`ty`, `code`,
/// `rest` as bytes 4..8: the MTU of a packet too big, the pointer of a parameter
/// problem, else 0) that quotes `invoking`, the offending packet from its IPv6
/// header on: as much of it as fits in the minimum MTU ([`MAX_QUOTE`] bytes,
/// RFC 4443 §2.4(c)) and in `buf`. Hop limit [`DEFAULT_HOP_LIMIT`], traffic class
/// and flow label 0. Returns the frame length; `None` when `buf` cannot hold the
/// headers.
///
/// Whether an error may be sent at all is [`error_allowed`]'s question, and how
/// often the caller's (RFC 4443 §2.4(f): rate-limited).
pub fn emit_error(
    buf: &mut [u8],
    ends: &Endpoints,
    (ty, code, rest): (u8, u8, u32),
    invoking: &[u8],
) -> Option<usize> {
    const HEADERS: usize = ethernet::HEADER_LEN + ipv6::HEADER_LEN + HEADER_LEN;
    let room = buf.len().checked_sub(HEADERS)?;
    let quote = &invoking[..invoking.len().min(MAX_QUOTE).min(room)];
    let icmp_len = HEADER_LEN + quote.len();
    let len = ipv6::emit_headers(buf, ends, next_header::ICMPV6, DEFAULT_HOP_LIMIT, icmp_len)?;
    let body = &mut buf[ethernet::HEADER_LEN + ipv6::HEADER_LEN..len];
    let mut icmp = Icmpv6Packet::new_unchecked(body);
    icmp.set_msg_type(ty);
    icmp.set_code(code);
    icmp.set_rest_of_header(rest);
    icmp.data_mut().copy_from_slice(quote);
    icmp.fill_checksum(ends.src, ends.dst);
    Some(len)
}

/// Whether RFC 4443 §2.4(e) lets a node answer `invoking` (an IPv6 packet from its
/// fixed header, bounded by its payload length) with an error of type `ty` and
/// code `code`. Never for an ICMPv6 error or redirect (e.1, e.2), nor for a packet
/// from an address that does not name one node (e.6: unspecified or multicast);
/// for a packet sent to a multicast address or to a link-layer multicast or
/// broadcast address (`link_multicast`, e.3-e.5) only a packet too big or a
/// parameter problem about an unrecognized option.
///
/// The upper-layer header is looked for as Linux's `is_ineligible`
/// (`net/ipv6/icmp.c`) finds it with `ipv6_skip_exthdr`
/// (`net/ipv6/exthdrs_core.c`; [`ipv6::skip_exthdr`]): past the extension
/// headers by their lengths alone, authentication headers and every fragment
/// header of offset 0 included (an atomic fragment, RFC 6946, or the first
/// piece of a datagram). A packet whose headers cannot be walked, or a later
/// fragment, is not known to carry an ICMPv6 error and may be answered, as
/// Linux does. A redirect is refused, as RFC 4443 asks, where `is_ineligible`
/// tests the type's informational bit alone (docs/design.md: a deliberate
/// difference).
pub fn error_allowed(invoking: &[u8], link_multicast: bool, ty: u8, code: u8) -> bool {
    let Ok(ip) = Ipv6Packet::new_checked(invoking) else {
        return false;
    };
    let src = ip.src();
    if src.is_unspecified() || src.is_multicast() {
        return false;
    }
    let excepted =
        ty == msg::PACKET_TOO_BIG || (ty == msg::PARAM_PROBLEM && code == param_problem::OPTION);
    if (ip.dst().is_multicast() || link_multicast) && !excepted {
        return false;
    }
    // The chain followed as `ipv6_skip_exthdr` follows it, past a fragment
    // header of offset 0, an authentication header and any options; a walk
    // that fails, or stops at a later fragment, does not say ICMPv6.
    let packet = &invoking[..ip.total_len()];
    let Some((next_header::ICMPV6, at, frag_off)) = ipv6::skip_exthdr(packet) else {
        return true;
    };
    // Its type alone decides, the one byte `is_ineligible` reads, however
    // short the message is.
    match packet.get(at) {
        Some(&ty) => ty >= msg::ECHO_REQUEST && ty != msg::REDIRECT,
        // No type byte: a fragment whose fragment field is not 0 may be
        // answered (RFC 8200 §4.5: `is_ineligible` returns false for a
        // fragment without ICMPv6 header information then). The field is
        // tested as it came, reserved bits included: a piece with more to
        // come, or an atomic fragment with a reserved bit set, may get an
        // error; a whole packet, or an atomic fragment with a field of 0,
        // may not.
        None => frag_off != 0,
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::wire::Mac;

    // An echo request as Linux ping -6 sends it: identifier 0x1c2b, sequence 1,
    // a 16-byte timeval, then 0x10..0x37. Its checksum is the one smoltcp
    // computes between SRC and DST.
    static PACKET_BYTES: [u8; 64] = [
        0x80, 0x00, 0x01, 0xe7, 0x1c, 0x2b, 0x00, 0x01, 0xc3, 0xa1, 0x50, 0x66, 0x00, 0x00, 0x00,
        0x00, 0x42, 0x7e, 0x0b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15,
        0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x24,
        0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30, 0x31, 0x32, 0x33,
        0x34, 0x35, 0x36, 0x37,
    ];

    const SRC: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 1);
    const DST: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0x110);
    const CLIENT_MAC: Mac = Mac([0x52, 0x54, 0x00, 0x12, 0x34, 0x01]);
    const OUR_MAC: Mac = Mac([0x52, 0x54, 0x00, 0x12, 0x34, 0x10]);

    fn theirs(bytes: &[u8]) -> smoltcp::wire::Icmpv6Packet<&[u8]> {
        smoltcp::wire::Icmpv6Packet::new_checked(bytes).expect("smoltcp parses it")
    }

    #[test]
    fn deconstruct() {
        let icmp = Icmpv6Packet::new_checked(&PACKET_BYTES[..]).expect("valid");
        assert_eq!(icmp.msg_type(), msg::ECHO_REQUEST);
        assert_eq!(icmp.code(), 0);
        assert_eq!(icmp.checksum(), 0x01e7);
        assert_eq!(icmp.echo_ident(), 0x1c2b);
        assert_eq!(icmp.echo_seq(), 1);
        assert_eq!(icmp.rest_of_header(), 0x1c2b_0001);
        assert_eq!(icmp.data(), &PACKET_BYTES[8..]);
        assert!(!icmp.is_error());
        assert!(icmp.verify_checksum(SRC, DST));
        assert!(!icmp.verify_checksum(DST, DST));
        assert!(theirs(&PACKET_BYTES).verify_checksum(&SRC, &DST));
        assert_eq!(icmp.into_inner(), &PACKET_BYTES[..]);
    }

    #[test]
    fn construct() {
        let mut bytes = [0xa5; 64];
        let mut icmp = Icmpv6Packet::new_unchecked(&mut bytes[..]);
        icmp.set_msg_type(msg::ECHO_REQUEST);
        icmp.set_code(0);
        icmp.set_echo_ident(0x1c2b);
        icmp.set_echo_seq(1);
        icmp.data_mut().copy_from_slice(&PACKET_BYTES[8..]);
        icmp.fill_checksum(SRC, DST);
        assert_eq!(bytes, PACKET_BYTES);
    }

    #[test]
    fn check_len_rejects_truncation() {
        for len in 0..HEADER_LEN {
            assert_eq!(Icmpv6Packet::new_checked(&PACKET_BYTES[..len]), Err(Error));
        }
        let bare = Icmpv6Packet::new_checked(&PACKET_BYTES[..HEADER_LEN]).expect("header only");
        assert!(bare.data().is_empty());
    }

    #[test]
    fn setters_round_trip() {
        let mut bytes = PACKET_BYTES;
        let mut icmp = Icmpv6Packet::new_checked(&mut bytes[..]).expect("valid");
        icmp.set_msg_type(msg::PACKET_TOO_BIG);
        icmp.set_mtu(1400);
        icmp.fill_checksum(DST, SRC);
        assert_eq!(icmp.msg_type(), msg::PACKET_TOO_BIG);
        assert_eq!(icmp.mtu(), 1400);
        assert!(icmp.is_error());
        assert!(icmp.verify_checksum(DST, SRC));
        assert_eq!(theirs(&bytes).pkt_too_big_mtu(), 1400);
        assert!(theirs(&bytes).verify_checksum(&DST, &SRC));

        let mut icmp = Icmpv6Packet::new_checked(&mut bytes[..]).expect("valid");
        icmp.set_msg_type(msg::PARAM_PROBLEM);
        icmp.set_code(param_problem::NEXT_HEADER);
        icmp.set_pointer(6);
        icmp.set_echo_seq(7);
        icmp.data_mut()[0] = 0x60;
        icmp.set_checksum(0xffff);
        assert_eq!(icmp.code(), 1);
        assert_eq!(icmp.pointer(), 7, "the sequence shares the pointer's bytes");
        assert_eq!(icmp.data()[0], 0x60);
        assert_eq!(icmp.checksum(), 0xffff);
        assert!(!icmp.verify_checksum(DST, SRC));
        for ty in 0..=u8::MAX {
            icmp.set_msg_type(ty);
            assert_eq!(icmp.is_error(), ty < 128);
        }
    }

    /// An Ethernet frame from the client to us holding `ext` (extension headers,
    /// the first of type `first`; none when empty) and the fixture.
    fn request_frame(first: u8, ext: &[u8]) -> Vec<u8> {
        let ends = Endpoints {
            src_mac: CLIENT_MAC,
            dst_mac: OUR_MAC,
            src: SRC,
            dst: DST,
        };
        let mut f = vec![0u8; 14 + 40 + ext.len() + 64];
        let nh = if ext.is_empty() {
            next_header::ICMPV6
        } else {
            first
        };
        ipv6::emit_headers(&mut f, &ends, nh, 61, ext.len() + 64).expect("fits");
        f[54..54 + ext.len()].copy_from_slice(ext);
        f[54 + ext.len()..].copy_from_slice(&PACKET_BYTES);
        f
    }

    fn check_reply(f: &[u8], len: usize) {
        let eth = EthernetFrame::new_checked(&f[..len]).expect("frame");
        assert_eq!((eth.src(), eth.dst()), (OUR_MAC, CLIENT_MAC));
        let ip = smoltcp::wire::Ipv6Packet::new_checked(eth.payload()).expect("ipv6");
        assert_eq!((ip.src_addr(), ip.dst_addr()), (DST, SRC));
        assert_eq!(ip.hop_limit(), 64);
        assert_eq!(ip.next_header(), smoltcp::wire::IpProtocol::Icmpv6);
        let icmp = theirs(ip.payload());
        assert!(icmp.verify_checksum(&DST, &SRC));
        let repr = smoltcp::wire::Icmpv6Repr::parse(
            &DST,
            &SRC,
            &icmp,
            &smoltcp::phy::ChecksumCapabilities::default(),
        );
        let Ok(smoltcp::wire::Icmpv6Repr::EchoReply {
            ident,
            seq_no,
            data,
        }) = repr
        else {
            panic!("not an echo reply: {repr:?}");
        };
        assert_eq!((ident, seq_no), (0x1c2b, 1));
        assert_eq!(data, &PACKET_BYTES[8..]);
    }

    #[test]
    fn echo_reply_in_place_answers_the_request() {
        let mut f = request_frame(0, &[]);
        // Link-layer padding after the packet goes.
        f.extend_from_slice(&[0; 6]);
        let len = echo_reply_in_place(&mut f, DEFAULT_HOP_LIMIT).expect("an echo request");
        assert_eq!(len, 14 + 40 + 64);
        check_reply(&f, len);
    }

    #[test]
    fn echo_reply_drops_extension_headers() {
        let dest_opts = [next_header::ICMPV6, 0, 1, 4, 0, 0, 0, 0];
        let mut f = request_frame(next_header::DEST_OPTS, &dest_opts);
        let len = echo_reply_in_place(&mut f, DEFAULT_HOP_LIMIT).expect("an echo request");
        assert_eq!(len, 14 + 40 + 64);
        check_reply(&f, len);
    }

    #[test]
    fn echo_reply_refuses_anything_else() {
        let mut reply = request_frame(0, &[]);
        reply[54] = msg::ECHO_REPLY;
        let mut short = request_frame(0, &[]);
        short.truncate(14 + 40 + 4);
        let mut v4 = request_frame(0, &[]);
        v4[12] = 0x08;
        v4[13] = 0x00;
        let fragment = request_frame(next_header::FRAGMENT, &[58, 0, 0, 1, 0, 0, 0, 1]);
        for mut f in [reply, short, v4, fragment, vec![0; 10]] {
            let before = f.clone();
            assert_eq!(echo_reply_in_place(&mut f, DEFAULT_HOP_LIMIT), None);
            assert_eq!(f, before, "left alone");
        }
    }

    fn error_ends() -> Endpoints {
        Endpoints {
            src_mac: OUR_MAC,
            dst_mac: CLIENT_MAC,
            src: DST,
            dst: SRC,
        }
    }

    #[test]
    fn packet_too_big_quotes_up_to_the_minimum_mtu() {
        // A 1500-byte packet from the client: the error quotes its first 1232
        // bytes and comes to 1280 bytes of IPv6.
        let mut invoking = vec![0u8; 1500];
        let big = request_frame(0, &[]);
        invoking[..40].copy_from_slice(&big[14..54]);
        invoking[4..6].copy_from_slice(&1460u16.to_be_bytes());
        for (i, b) in invoking[40..].iter_mut().enumerate() {
            *b = i as u8;
        }
        let mut buf = vec![0xa5; 2048];
        let len = emit_error(
            &mut buf,
            &error_ends(),
            (msg::PACKET_TOO_BIG, 0, 1400),
            &invoking,
        )
        .expect("fits");
        assert_eq!(len, 14 + ipv6::MIN_MTU);
        assert!(buf[len..].iter().all(|&b| b == 0xa5));
        let eth = EthernetFrame::new_checked(&buf[..len]).expect("frame");
        assert_eq!((eth.src(), eth.dst()), (OUR_MAC, CLIENT_MAC));
        assert_eq!(eth.ethertype(), ethertype::IPV6);
        let ip = smoltcp::wire::Ipv6Packet::new_checked(eth.payload()).expect("ipv6");
        assert_eq!(usize::from(ip.payload_len()), ipv6::MIN_MTU - 40);
        assert_eq!(ip.hop_limit(), DEFAULT_HOP_LIMIT);
        let icmp = theirs(ip.payload());
        assert!(icmp.verify_checksum(&DST, &SRC));
        assert_eq!(icmp.pkt_too_big_mtu(), 1400);
        assert_eq!(icmp.payload(), &invoking[..MAX_QUOTE]);
        let ours = Icmpv6Packet::new_checked(ip.payload()).expect("icmp");
        assert_eq!(ours.data(), &invoking[..MAX_QUOTE]);

        // A small buffer: as much as fits in it.
        let mut small = [0u8; 100];
        let len = emit_error(&mut small, &error_ends(), (2, 0, 1400), &invoking).expect("fits");
        assert_eq!(len, 100);
        let icmp = theirs(&small[54..]);
        assert!(icmp.verify_checksum(&DST, &SRC));
        assert_eq!(icmp.payload(), &invoking[..100 - 62]);
        assert_eq!(
            emit_error(&mut small[..61], &error_ends(), (2, 0, 0), &invoking),
            None
        );
    }

    #[test]
    fn errors_quote_a_short_packet_whole() {
        let invoking = &request_frame(0, &[])[14..];
        let mut buf = [0xa5; 400];
        for (ty, code, rest) in [
            (msg::DEST_UNREACHABLE, unreach::PORT, 0),
            (msg::TIME_EXCEEDED, time_exceeded::HOP_LIMIT, 0),
            (msg::PARAM_PROBLEM, param_problem::HEADER_FIELD, 7),
        ] {
            let len =
                emit_error(&mut buf, &error_ends(), (ty, code, rest), invoking).expect("fits");
            assert_eq!(len, 14 + 40 + 8 + invoking.len());
            let icmp = theirs(&buf[54..len]);
            assert!(icmp.verify_checksum(&DST, &SRC));
            assert_eq!((u8::from(icmp.msg_type()), icmp.msg_code()), (ty, code));
            assert_eq!(icmp.param_problem_ptr(), rest);
            assert_eq!(icmp.payload(), invoking);
        }
    }

    #[test]
    fn errors_allowed_as_rfc_4443_says() {
        let base = request_frame(0, &[])[14..].to_vec();
        let with = |at: usize, bytes: &[u8]| {
            let mut p = base.clone();
            p[at..at + bytes.len()].copy_from_slice(bytes);
            p
        };
        let unreach = (msg::DEST_UNREACHABLE, unreach::PORT);
        let ptb = (msg::PACKET_TOO_BIG, 0);
        let option = (msg::PARAM_PROBLEM, param_problem::OPTION);
        let allowed =
            |p: &[u8], link_mc: bool, (ty, code): (u8, u8)| error_allowed(p, link_mc, ty, code);
        // An echo request to a unicast address: any error.
        assert!(allowed(&base, false, unreach));
        assert!(allowed(&base, false, ptb));
        // Not about an error message, nor a redirect.
        assert!(!allowed(
            &with(40, &[msg::DEST_UNREACHABLE]),
            false,
            unreach
        ));
        assert!(!allowed(&with(40, &[msg::REDIRECT]), false, ptb));
        // Not about a packet from the unspecified or a multicast address.
        assert!(!allowed(&with(8, &[0; 16]), false, ptb));
        assert!(!allowed(&with(8, &ipv6::ALL_NODES.octets()), false, ptb));
        // To multicast, at either layer: only packet too big and an option
        // problem.
        let mc = with(24, &ipv6::ALL_NODES.octets());
        for (p, link_mc) in [(&mc, false), (&base, true)] {
            assert!(!allowed(p, link_mc, unreach));
            assert!(allowed(p, link_mc, ptb));
            assert!(allowed(p, link_mc, option));
            assert!(!allowed(
                p,
                link_mc,
                (msg::PARAM_PROBLEM, param_problem::NEXT_HEADER)
            ));
        }
        // A UDP datagram, a fragment: allowed; garbage: not.
        assert!(allowed(&with(6, &[next_header::UDP]), false, unreach));
        assert!(allowed(&with(6, &[next_header::FRAGMENT]), false, unreach));
        assert!(!allowed(&base[..39], false, unreach));
    }

    #[test]
    fn the_chain_is_walked_as_ipv6_skip_exthdr_walks_it() {
        use next_header::{AUTH, DEST_OPTS, FRAGMENT, HOP_BY_HOP, ICMPV6, NO_NEXT, ROUTING};
        let unreach = (msg::DEST_UNREACHABLE, unreach::PORT);
        // A packet of the first header `first` and extension headers `ext`,
        // then an ICMPv6 message of type `ty`.
        let packet = |first: u8, ext: &[u8], ty: u8| {
            let mut p = request_frame(first, ext)[14..].to_vec();
            p[40 + ext.len()] = ty;
            p
        };
        let frag = |next: u8, off: u16| {
            let f = off.to_be_bytes();
            [next, 0, f[0], f[1], 0, 0, 0, 9]
        };
        // Authentication header, 24 bytes: (4 + 2) 4-octet units.
        let mut auth = [0u8; 24];
        auth[..2].copy_from_slice(&[ICMPV6, 4]);
        // A source route (segments left 1) and a hop-by-hop option to
        // discard (type 0x80): no walk of ours goes past them,
        // `ipv6_skip_exthdr` steps over them by their lengths.
        let route = [ICMPV6, 0, 0, 1, 0, 0, 0, 0];
        let option = [ICMPV6, 0, 0x80, 4, 0, 0, 0, 0];
        let two_frags = [frag(FRAGMENT, 0), frag(ICMPV6, 0)].concat();
        let mut auth_frag = [&auth[..], &frag(ICMPV6, 1)].concat();
        auth_frag[0] = FRAGMENT;
        for (first, ext) in [
            (FRAGMENT, &two_frags[..]),
            (AUTH, &auth[..]),
            (AUTH, &auth_frag[..]),
            (ROUTING, &route[..]),
            (HOP_BY_HOP, &option[..]),
            (DEST_OPTS, &option[..]),
        ] {
            let error = packet(first, ext, msg::DEST_UNREACHABLE);
            assert!(
                !error_allowed(&error, false, unreach.0, unreach.1),
                "{ext:?}"
            );
            let echo = packet(first, ext, msg::ECHO_REQUEST);
            assert!(error_allowed(&echo, false, unreach.0, unreach.1), "{ext:?}");
        }
        // A second fragment header with an offset ends the walk: what
        // follows is not known to be an error. So does "no next header".
        let later = [frag(FRAGMENT, 0), frag(ICMPV6, 8)].concat();
        let error = packet(FRAGMENT, &later, msg::DEST_UNREACHABLE);
        assert!(error_allowed(&error, false, unreach.0, unreach.1));
        let none = [NO_NEXT, 0, 0, 0, 0, 0, 0, 0];
        let error = packet(DEST_OPTS, &none, msg::DEST_UNREACHABLE);
        assert!(error_allowed(&error, false, unreach.0, unreach.1));
    }

    #[test]
    fn a_short_icmpv6_message_is_judged_by_its_type_byte() {
        // A whole ICMPv6 message of 1 to 7 bytes, too short for its header:
        // `is_ineligible` (`net/ipv6/icmp.c`) reads its type byte alone, so
        // an informational one may be answered and an error may not. With
        // no byte at all there is nothing to tell: no error.
        let unreach = (msg::DEST_UNREACHABLE, unreach::PORT);
        for len in 1..HEADER_LEN {
            for (ty, allowed) in [(msg::ECHO_REQUEST, true), (msg::DEST_UNREACHABLE, false)] {
                let mut p = request_frame(0, &[])[14..14 + 40 + len].to_vec();
                p[4..6].copy_from_slice(&(len as u16).to_be_bytes());
                p[40] = ty;
                assert_eq!(
                    error_allowed(&p, false, unreach.0, unreach.1),
                    allowed,
                    "type {ty}, {len} bytes"
                );
            }
        }
        let mut empty = request_frame(0, &[])[14..54].to_vec();
        empty[4..6].copy_from_slice(&[0, 0]);
        assert!(!error_allowed(&empty, false, unreach.0, unreach.1));
    }

    #[test]
    fn no_error_about_an_error_behind_a_fragment_header() {
        let unreach = (msg::DEST_UNREACHABLE, unreach::PORT);
        let ptb = (msg::PACKET_TOO_BIG, 0);
        // A packet holding an ICMPv6 message of type `ty`, whole or behind a
        // fragment header of offset `off` (in bytes) and M flag `more`.
        let packet = |ty: u8, frag: Option<(u16, bool)>| {
            let mut p = match frag {
                None => request_frame(0, &[]),
                Some((off, more)) => {
                    let flags = (off | u16::from(more)).to_be_bytes();
                    let ext = [next_header::ICMPV6, 0, flags[0], flags[1], 0, 0, 0, 7];
                    request_frame(next_header::FRAGMENT, &ext)
                }
            };
            let at = if frag.is_some() { 14 + 48 } else { 14 + 40 };
            p[at] = ty;
            p[14..].to_vec()
        };
        for error in [msg::DEST_UNREACHABLE, msg::PACKET_TOO_BIG, msg::REDIRECT] {
            // Whole, atomic (RFC 6946) and a first fragment with more to come:
            // the same message, and no error about it (RFC 4443 §2.4(e)).
            for frag in [None, Some((0, false)), Some((0, true))] {
                let p = packet(error, frag);
                assert!(!error_allowed(&p, false, unreach.0, unreach.1), "{frag:?}");
                assert!(!error_allowed(&p, false, ptb.0, ptb.1), "{frag:?}");
            }
            // A later fragment: what it continues is not known.
            let later = packet(error, Some((8, false)));
            assert!(error_allowed(&later, false, ptb.0, ptb.1));
        }
        // An echo request behind a fragment header may be answered.
        for frag in [None, Some((0, false)), Some((0, true))] {
            let p = packet(msg::ECHO_REQUEST, frag);
            assert!(error_allowed(&p, false, ptb.0, ptb.1), "{frag:?}");
        }
        // A first fragment cut short inside its ICMPv6 header: its type
        // decides (a parameter problem about an echo request's chain cut
        // short, none about an error's); with no type byte, one if its
        // fragment field is not 0 (`is_ineligible` tests the field as it
        // came: M, or a reserved bit, `ipv6_frag_rcv` takes the packet as
        // atomic all the same), none for a field of 0, an atomic fragment
        // which is all there is. (`reserved` is put in the offset's place:
        // bits 1 and 2.)
        for (ty, len, more, reserved, allowed) in [
            (msg::ECHO_REQUEST, 3, true, 0, true),
            (msg::DEST_UNREACHABLE, 3, true, 0, false),
            (msg::ECHO_REQUEST, 0, true, 0, true),
            (msg::ECHO_REQUEST, 0, false, 0, false),
            (msg::ECHO_REQUEST, 0, false, 2, true),
            (msg::ECHO_REQUEST, 0, false, 6, true),
            (msg::DEST_UNREACHABLE, 3, false, 6, false),
        ] {
            let mut cut = packet(ty, Some((reserved, more)));
            cut.truncate(40 + 8 + len);
            cut[4..6].copy_from_slice(&(8 + len as u16).to_be_bytes());
            let code = param_problem::HEADER_CHAIN;
            assert_eq!(
                error_allowed(&cut, false, msg::PARAM_PROBLEM, code),
                allowed,
                "type {ty}, {len} bytes, more {more}, reserved {reserved}"
            );
        }
    }
}
