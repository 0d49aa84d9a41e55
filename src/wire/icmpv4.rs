//! ICMPv4 messages (RFC 792).

use super::checksum;
use super::{Error, Result, be16, be32};

/// Length of the fixed header: type, code, checksum and rest-of-header.
pub const HEADER_LEN: usize = 8;

/// Codes of destination unreachable.
pub mod unreach {
    /// The destination host cannot be reached (RFC 792): what the kernel
    /// tells a sender whose next hop did not answer ARP (`ipv4_link_failure`).
    pub const HOST: u8 = 1;
    /// The destination's port has no listener (RFC 792): what IPVS answers a
    /// new connection no real server can take (`ip_vs_leave`).
    pub const PORT: u8 = 3;
    /// Fragmentation needed and DF set (RFC 792); the next-hop MTU is in the
    /// low 16 bits of the rest-of-header (RFC 1191).
    pub const FRAG_NEEDED: u8 = 4;
}

/// Quoted bytes of the offending datagram after its IP header (RFC 792: "the
/// first 64 bits of the original data datagram's data").
pub const QUOTE_L4: usize = 8;

/// Write, into `buf`, an IPv4 packet holding an ICMP error (`ty`, `code`,
/// `rest` as bytes 4..8) from `src` to `dst` that quotes `quote` (the offending
/// datagram's IP header and its first [`QUOTE_L4`] bytes). The IP header is the
/// kernel's for its own errors (`icmp_send`): no options, TOS 0xc0 (internetwork
/// control), DF clear, TTL 64. Returns the packet length, or `None` when `buf` is
/// too small.
pub fn emit_error(
    buf: &mut [u8],
    (src, dst, ident): (u32, u32, u16),
    (ty, code, rest): (u8, u8, u32),
    quote: &[u8],
) -> Option<usize> {
    use super::ipv4::{self, Ipv4Packet, protocol};
    let icmp_len = HEADER_LEN + quote.len();
    let len = ipv4::HEADER_LEN + icmp_len;
    let buf = buf.get_mut(..len)?;
    let (hdr, body) = buf.split_at_mut(ipv4::HEADER_LEN);
    body[field::DATA..].copy_from_slice(quote);
    let mut icmp = Icmpv4Packet::new_unchecked(&mut *body);
    icmp.set_msg_type(ty);
    icmp.set_code(code);
    icmp.set_rest_of_header(rest);
    icmp.fill_checksum();
    let mut ip = Ipv4Packet::new_unchecked(hdr);
    ip.set_version(4);
    ip.set_header_len(ipv4::HEADER_LEN);
    ip.set_dscp_ecn(0xc0);
    ip.set_total_len(len as u16);
    ip.set_ident(ident);
    ip.set_fragmentation(false, false, 0);
    ip.set_ttl(64);
    ip.set_protocol(protocol::ICMP);
    ip.set_src_raw(src);
    ip.set_dst_raw(dst);
    ip.fill_checksum();
    Some(len)
}

/// Message types.
pub mod msg {
    pub const ECHO_REPLY: u8 = 0;
    pub const DEST_UNREACHABLE: u8 = 3;
    pub const SOURCE_QUENCH: u8 = 4;
    pub const ECHO_REQUEST: u8 = 8;
    pub const TIME_EXCEEDED: u8 = 11;
    pub const PARAM_PROBLEM: u8 = 12;
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

/// A view of an ICMPv4 message; the buffer is the whole message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Icmpv4Packet<T> {
        Icmpv4Packet { buffer }
    }

    #[inline]
    pub fn new_checked(buffer: T) -> Result<Icmpv4Packet<T>> {
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

    /// Everything after the fixed header. For error messages this starts
    /// with the offending datagram's IP header.
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[field::DATA..]
    }

    /// True for the error messages that quote the offending datagram:
    /// destination unreachable, source quench, time exceeded and parameter
    /// problem.
    #[inline]
    pub fn is_error(&self) -> bool {
        matches!(
            self.msg_type(),
            msg::DEST_UNREACHABLE | msg::SOURCE_QUENCH | msg::TIME_EXCEEDED | msg::PARAM_PROBLEM
        )
    }

    /// Whether the checksum over the whole message is correct.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::fold(checksum::sum(self.buffer.as_ref())) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
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
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::DATA..]
    }

    /// Recomputes the checksum over the whole message.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let value = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(value);
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // An echo request as sent by Linux ping: a 16-byte timeval followed by
    // the bytes 0x10..0x37.
    static PACKET_BYTES: [u8; 64] = [
        0x08, 0x00, 0xbb, 0x7a, 0x1c, 0x2b, 0x00, 0x01, 0xc3, 0xa1, 0x50, 0x66, 0x00, 0x00, 0x00,
        0x00, 0x42, 0x7e, 0x0b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15,
        0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x24,
        0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30, 0x31, 0x32, 0x33,
        0x34, 0x35, 0x36, 0x37,
    ];

    #[test]
    fn deconstruct() {
        let icmp = Icmpv4Packet::new_checked(&PACKET_BYTES[..]).expect("valid");
        assert_eq!(icmp.msg_type(), msg::ECHO_REQUEST);
        assert_eq!(icmp.code(), 0);
        assert_eq!(icmp.checksum(), 0xbb7a);
        assert_eq!(icmp.echo_ident(), 0x1c2b);
        assert_eq!(icmp.echo_seq(), 1);
        assert_eq!(icmp.rest_of_header(), 0x1c2b_0001);
        assert_eq!(icmp.data(), &PACKET_BYTES[8..]);
        assert!(!icmp.is_error());
        assert!(icmp.verify_checksum());
        assert_eq!(icmp.into_inner(), &PACKET_BYTES[..]);
    }

    #[test]
    fn construct() {
        let mut bytes = [0xa5; 64];
        let mut icmp = Icmpv4Packet::new_unchecked(&mut bytes[..]);
        icmp.set_msg_type(msg::ECHO_REQUEST);
        icmp.set_code(0);
        icmp.set_echo_ident(0x1c2b);
        icmp.set_echo_seq(1);
        icmp.data_mut().copy_from_slice(&PACKET_BYTES[8..]);
        icmp.fill_checksum();
        assert_eq!(bytes, PACKET_BYTES);
    }

    #[test]
    fn check_len_rejects_truncation() {
        for len in 0..HEADER_LEN {
            assert_eq!(Icmpv4Packet::new_checked(&PACKET_BYTES[..len]), Err(Error));
        }
        let bare = Icmpv4Packet::new_checked(&PACKET_BYTES[..HEADER_LEN]).expect("header only");
        assert!(bare.data().is_empty());
    }

    #[test]
    fn setters_round_trip() {
        let mut bytes = PACKET_BYTES;
        let mut icmp = Icmpv4Packet::new_checked(&mut bytes[..]).expect("valid");
        icmp.set_msg_type(msg::ECHO_REPLY);
        icmp.set_echo_ident(0xbeef);
        icmp.set_echo_seq(0x0102);
        icmp.fill_checksum();
        assert_eq!(icmp.msg_type(), msg::ECHO_REPLY);
        assert_eq!(icmp.echo_ident(), 0xbeef);
        assert_eq!(icmp.echo_seq(), 0x0102);
        assert!(icmp.verify_checksum());

        // Fragmentation needed, next-hop MTU 1400.
        icmp.set_msg_type(msg::DEST_UNREACHABLE);
        icmp.set_code(4);
        icmp.set_rest_of_header(1400);
        icmp.data_mut()[0] = 0x45;
        icmp.set_checksum(0xffff);
        assert_eq!(icmp.code(), 4);
        assert_eq!(icmp.rest_of_header(), 1400);
        assert_eq!(icmp.data()[0], 0x45);
        assert_eq!(icmp.checksum(), 0xffff);
        assert!(!icmp.verify_checksum());
    }

    #[test]
    fn error_types() {
        let mut bytes = PACKET_BYTES;
        let mut icmp = Icmpv4Packet::new_unchecked(&mut bytes[..]);
        for msg_type in 0..=u8::MAX {
            icmp.set_msg_type(msg_type);
            assert_eq!(
                icmp.is_error(),
                matches!(msg_type, 3 | 4 | 11 | 12),
                "{msg_type}"
            );
        }
    }

    #[test]
    fn emit_frag_needed_parses_with_smoltcp() {
        let quote: Vec<u8> = (0..28u8).collect();
        let mut buf = [0u8; 80];
        let src = u32::from_be_bytes([198, 18, 0, 110]);
        let dst = u32::from_be_bytes([198, 18, 0, 1]);
        let n = emit_error(
            &mut buf,
            (src, dst, 7),
            (msg::DEST_UNREACHABLE, unreach::FRAG_NEEDED, 1400),
            &quote,
        )
        .expect("fits");
        assert_eq!(n, 20 + 8 + 28);
        let ip = smoltcp::wire::Ipv4Packet::new_checked(&buf[..n]).expect("ipv4");
        assert!(ip.verify_checksum());
        assert_eq!(ip.next_header(), smoltcp::wire::IpProtocol::Icmp);
        assert_eq!(ip.src_addr().octets(), src.to_be_bytes());
        assert_eq!(ip.dst_addr().octets(), dst.to_be_bytes());
        assert!(!ip.dont_frag());
        let icmp = smoltcp::wire::Icmpv4Packet::new_checked(ip.payload()).expect("icmp");
        assert!(icmp.verify_checksum());
        assert_eq!((icmp.msg_type().into(), icmp.msg_code()), (3u8, 4u8));
        assert_eq!(&ip.payload()[4..8], &[0, 0, 0x05, 0x78]);
        assert_eq!(&ip.payload()[8..], &quote[..]);
        assert_eq!(
            emit_error(&mut buf[..n - 1], (src, dst, 7), (3, 4, 1400), &quote),
            None
        );
    }

    #[test]
    fn checksum_agrees_with_smoltcp() {
        let theirs = smoltcp::wire::Icmpv4Packet::new_checked(&PACKET_BYTES[..]).expect("valid");
        assert!(theirs.verify_checksum());
    }
}
