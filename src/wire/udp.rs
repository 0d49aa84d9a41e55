//! UDP headers (RFC 768).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::checksum;
use super::ipv4::protocol;
use super::ipv6::next_header;
use super::{Error, Result, be16};

pub const HEADER_LEN: usize = 8;

/// Offset of the checksum field within the header.
pub const CHECKSUM_OFFSET: usize = field::CHECKSUM.start;
/// Where the ports are, in UDP and TCP alike (for programs that load them by
/// offset: BPF).
pub const SRC_PORT_OFFSET: usize = field::SRC_PORT.start;
pub const DST_PORT_OFFSET: usize = field::DST_PORT.start;

mod field {
    use core::ops::Range;

    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
    pub const PAYLOAD: usize = 8;
}

/// A view of a UDP datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> UdpPacket<T> {
        UdpPacket { buffer }
    }

    #[inline]
    pub fn new_checked(buffer: T) -> Result<UdpPacket<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Ensures `8 <= len <= buffer length`.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let buffer_len = self.buffer.as_ref().len();
        if buffer_len < HEADER_LEN {
            return Err(Error);
        }
        let len = usize::from(self.len());
        if len < HEADER_LEN || len > buffer_len {
            return Err(Error);
        }
        Ok(())
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub fn src_port(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::SRC_PORT])
    }

    #[inline]
    pub fn dst_port(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::DST_PORT])
    }

    /// The length field: header plus payload, in bytes.
    #[inline]
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::LENGTH])
    }

    /// The checksum field; zero means the sender computed none.
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    /// The bytes from the end of the header to `len`.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..usize::from(self.len())]
    }

    /// Whether the checksum is correct; a datagram without one passes.
    #[inline]
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        self.checksum() == 0 || checksum::fold(self.sum(src, dst)) == 0xffff
    }

    #[inline]
    fn sum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> u32 {
        let len = self.len();
        let pseudo = checksum::pseudo_header_v4(src, dst, protocol::UDP, len);
        let data = &self.buffer.as_ref()[..usize::from(len)];
        checksum::combine(pseudo, checksum::sum(data))
    }

    /// Whether the checksum is correct over IPv6, where it is mandatory: a
    /// datagram without one (zero) fails (RFC 8200 §8.1: "IPv6 receivers must
    /// discard UDP packets containing a zero checksum").
    #[inline]
    pub fn verify_checksum_v6(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        self.checksum() != 0 && checksum::fold(self.sum_v6(src, dst)) == 0xffff
    }

    #[inline]
    fn sum_v6(&self, src: Ipv6Addr, dst: Ipv6Addr) -> u32 {
        let len = self.len();
        let pseudo = checksum::pseudo_header_v6(src, dst, next_header::UDP, u32::from(len));
        let data = &self.buffer.as_ref()[..usize::from(len)];
        checksum::combine(pseudo, checksum::sum(data))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    #[inline]
    pub fn set_src_port(&mut self, value: u16) {
        self.buffer.as_mut()[field::SRC_PORT].copy_from_slice(&value.to_be_bytes());
    }

    #[inline]
    pub fn set_dst_port(&mut self, value: u16) {
        self.buffer.as_mut()[field::DST_PORT].copy_from_slice(&value.to_be_bytes());
    }

    #[inline]
    pub fn set_len(&mut self, value: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&value.to_be_bytes());
    }

    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&value.to_be_bytes());
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        &mut self.buffer.as_mut()[field::PAYLOAD..end]
    }

    /// Recomputes the checksum; a computed zero is sent as all ones.
    #[inline]
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let value = match !checksum::fold(self.sum(src, dst)) {
            0 => 0xffff,
            value => value,
        };
        self.set_checksum(value);
    }

    /// Recomputes the checksum over IPv6; a computed zero is sent as all ones
    /// (RFC 8200 §8.1), since zero would mean "none", which IPv6 forbids.
    #[inline]
    pub fn fill_checksum_v6(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        self.set_checksum(0);
        let value = match !checksum::fold(self.sum_v6(src, dst)) {
            0 => 0xffff,
            value => value,
        };
        self.set_checksum(value);
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // A DNS query for example.com/A, 198.18.0.1:53000 > 198.18.0.110:53.
    static PACKET_BYTES: [u8; 37] = [
        0xcf, 0x08, 0x00, 0x35, 0x00, 0x25, 0x99, 0xe5, 0x3a, 0x7f, 0x01, 0x00, 0x00, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63,
        0x6f, 0x6d, 0x00, 0x00, 0x01, 0x00, 0x01,
    ];

    const SRC: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 110);

    #[test]
    fn deconstruct() {
        let udp = UdpPacket::new_checked(&PACKET_BYTES[..]).expect("valid");
        assert_eq!(udp.src_port(), 53000);
        assert_eq!(udp.dst_port(), 53);
        assert_eq!(udp.len(), 37);
        assert_eq!(udp.checksum(), 0x99e5);
        assert_eq!(udp.payload(), &PACKET_BYTES[8..]);
        assert!(udp.verify_checksum(SRC, DST));
        assert!(!udp.verify_checksum(SRC, Ipv4Addr::new(198, 18, 0, 111)));
        assert_eq!(udp.into_inner(), &PACKET_BYTES[..]);
    }

    #[test]
    fn construct() {
        let mut bytes = [0xa5; 37];
        let mut udp = UdpPacket::new_unchecked(&mut bytes[..]);
        udp.set_src_port(53000);
        udp.set_dst_port(53);
        udp.set_len(37);
        udp.payload_mut().copy_from_slice(&PACKET_BYTES[8..]);
        udp.fill_checksum(SRC, DST);
        assert_eq!(bytes, PACKET_BYTES);
    }

    #[test]
    fn check_len_rejects_truncation() {
        for len in 0..PACKET_BYTES.len() {
            assert_eq!(UdpPacket::new_checked(&PACKET_BYTES[..len]), Err(Error));
        }
        let mut bytes = PACKET_BYTES;
        bytes[5] = 7;
        assert_eq!(UdpPacket::new_checked(&bytes[..]), Err(Error));
    }

    #[test]
    fn setters_round_trip() {
        let mut bytes = [0; 40];
        bytes[..37].copy_from_slice(&PACKET_BYTES);
        let mut udp = UdpPacket::new_checked(&mut bytes[..]).expect("valid");
        udp.set_src_port(53);
        udp.set_dst_port(53000);
        udp.set_len(12);
        udp.payload_mut().copy_from_slice(b"ping");
        udp.fill_checksum(DST, SRC);
        assert_eq!(udp.src_port(), 53);
        assert_eq!(udp.dst_port(), 53000);
        assert_eq!(udp.len(), 12);
        assert_eq!(udp.payload(), b"ping");
        assert!(udp.verify_checksum(DST, SRC));
        udp.set_checksum(0);
        assert_eq!(udp.checksum(), 0);
        assert!(udp.verify_checksum(SRC, SRC));
    }

    const SRC6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 1);
    const DST6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0x110);
    /// The fixture's checksum over IPv6 between SRC6 and DST6, as smoltcp
    /// computes it.
    const V6_CHECKSUM: u16 = 0xe560;

    #[test]
    fn checksum_v6() {
        let mut bytes = PACKET_BYTES;
        bytes[6..8].copy_from_slice(&V6_CHECKSUM.to_be_bytes());
        let theirs = smoltcp::wire::UdpPacket::new_checked(&bytes[..]).expect("valid");
        assert!(theirs.verify_checksum(&SRC6.into(), &DST6.into()));
        let udp = UdpPacket::new_checked(&bytes[..]).expect("valid");
        assert!(udp.verify_checksum_v6(SRC6, DST6));
        assert!(!udp.verify_checksum_v6(SRC6, SRC6));
        assert!(!udp.verify_checksum(SRC, DST));

        let mut copy = bytes;
        let mut udp = UdpPacket::new_checked(&mut copy[..]).expect("valid");
        udp.fill_checksum_v6(SRC6, DST6);
        assert_eq!(copy, bytes);
    }

    #[test]
    fn zero_checksum_is_invalid_over_ipv6() {
        let mut bytes = PACKET_BYTES;
        let mut udp = UdpPacket::new_checked(&mut bytes[..]).expect("valid");
        udp.set_checksum(0);
        // IPv4 takes zero as "no checksum"; IPv6 forbids it (RFC 8200 §8.1).
        assert!(udp.verify_checksum(SRC, DST));
        assert!(!udp.verify_checksum_v6(SRC6, DST6));
    }

    #[test]
    fn computed_zero_is_sent_as_all_ones_over_ipv6() {
        let mut bytes = [0; 10];
        let mut udp = UdpPacket::new_unchecked(&mut bytes[..]);
        udp.set_src_port(53000);
        udp.set_dst_port(53);
        udp.set_len(10);
        udp.fill_checksum_v6(SRC6, DST6);
        let fix = udp.checksum();
        udp.payload_mut().copy_from_slice(&fix.to_be_bytes());
        udp.fill_checksum_v6(SRC6, DST6);
        assert_eq!(udp.checksum(), 0xffff);
        assert!(udp.verify_checksum_v6(SRC6, DST6));
        let theirs = smoltcp::wire::UdpPacket::new_checked(&bytes[..]).expect("valid");
        assert!(theirs.verify_checksum(&SRC6.into(), &DST6.into()));
    }

    #[test]
    fn computed_zero_is_sent_as_all_ones() {
        // Two payload bytes chosen so the checksum comes out as zero.
        let mut bytes = [0; 10];
        let mut udp = UdpPacket::new_unchecked(&mut bytes[..]);
        udp.set_src_port(53000);
        udp.set_dst_port(53);
        udp.set_len(10);
        udp.fill_checksum(SRC, DST);
        let fix = udp.checksum();
        udp.payload_mut().copy_from_slice(&fix.to_be_bytes());
        udp.fill_checksum(SRC, DST);
        assert_eq!(udp.checksum(), 0xffff);
        assert!(udp.verify_checksum(SRC, DST));
        let theirs = smoltcp::wire::UdpPacket::new_checked(&bytes[..]).expect("valid");
        assert!(theirs.verify_checksum(&SRC.into(), &DST.into()));
    }
}
