//! TCP headers (RFC 9293).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::checksum;
use super::ipv4::protocol;
use super::ipv6::next_header;
use super::{Error, Result, be16, be32};

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;

/// Offset of the checksum field within the header.
pub const CHECKSUM_OFFSET: usize = field::CHECKSUM.start;
/// Where the flags byte is (the shortest header that holds the flags is one byte longer).
pub const FLAGS_OFFSET: usize = field::FLAGS;

/// Control bits, as returned by [`TcpPacket::flags`].
pub mod flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
}

mod field {
    use core::ops::Range;

    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const SEQ: Range<usize> = 4..8;
    pub const ACK: Range<usize> = 8..12;
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: Range<usize> = 14..16;
    pub const CHECKSUM: Range<usize> = 16..18;
    pub const URGENT: Range<usize> = 18..20;
    pub const OPTIONS: usize = 20;
}

/// A view of a TCP segment: header, options and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> TcpPacket<T> {
        TcpPacket { buffer }
    }

    #[inline]
    pub fn new_checked(buffer: T) -> Result<TcpPacket<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Ensures `20 <= header_len <= buffer length`.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error);
        }
        let header_len = self.header_len();
        if header_len < HEADER_LEN || header_len > len {
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

    #[inline]
    pub fn seq_number(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::SEQ])
    }

    #[inline]
    pub fn ack_number(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::ACK])
    }

    /// Header length in bytes (data offset × 4), options included.
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::DATA_OFF] >> 4) * 4
    }

    /// The control bits; see [`flags`].
    #[inline]
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    #[inline]
    pub fn fin(&self) -> bool {
        self.flags() & flags::FIN != 0
    }

    #[inline]
    pub fn syn(&self) -> bool {
        self.flags() & flags::SYN != 0
    }

    #[inline]
    pub fn rst(&self) -> bool {
        self.flags() & flags::RST != 0
    }

    #[inline]
    pub fn ack(&self) -> bool {
        self.flags() & flags::ACK != 0
    }

    #[inline]
    pub fn window(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::WINDOW])
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    #[inline]
    pub fn urgent_ptr(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::URGENT])
    }

    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPTIONS..self.header_len()]
    }

    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }

    /// Whether the checksum over the pseudo-header and the whole buffer is
    /// correct.
    #[inline]
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        let data = self.buffer.as_ref();
        let pseudo = checksum::pseudo_header_v4(src, dst, protocol::TCP, data.len() as u16);
        checksum::fold(checksum::combine(pseudo, checksum::sum(data))) == 0xffff
    }

    /// [`verify_checksum`](Self::verify_checksum) over IPv6: the pseudo-header
    /// of RFC 8200 §8.1.
    #[inline]
    pub fn verify_checksum_v6(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        checksum::fold(self.sum_v6(src, dst)) == 0xffff
    }

    #[inline]
    fn sum_v6(&self, src: Ipv6Addr, dst: Ipv6Addr) -> u32 {
        let data = self.buffer.as_ref();
        let pseudo = checksum::pseudo_header_v6(src, dst, next_header::TCP, data.len() as u32);
        checksum::combine(pseudo, checksum::sum(data))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    #[inline]
    pub fn set_src_port(&mut self, value: u16) {
        self.buffer.as_mut()[field::SRC_PORT].copy_from_slice(&value.to_be_bytes());
    }

    #[inline]
    pub fn set_dst_port(&mut self, value: u16) {
        self.buffer.as_mut()[field::DST_PORT].copy_from_slice(&value.to_be_bytes());
    }

    #[inline]
    pub fn set_seq_number(&mut self, value: u32) {
        self.buffer.as_mut()[field::SEQ].copy_from_slice(&value.to_be_bytes());
    }

    #[inline]
    pub fn set_ack_number(&mut self, value: u32) {
        self.buffer.as_mut()[field::ACK].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the header length in bytes (a multiple of 4); the reserved bits
    /// that share its byte are cleared.
    #[inline]
    pub fn set_header_len(&mut self, value: usize) {
        self.buffer.as_mut()[field::DATA_OFF] = ((value / 4) as u8) << 4;
    }

    #[inline]
    pub fn set_flags(&mut self, value: u8) {
        self.buffer.as_mut()[field::FLAGS] = value;
    }

    #[inline]
    pub fn set_window(&mut self, value: u16) {
        self.buffer.as_mut()[field::WINDOW].copy_from_slice(&value.to_be_bytes());
    }

    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&value.to_be_bytes());
    }

    #[inline]
    pub fn set_urgent_ptr(&mut self, value: u16) {
        self.buffer.as_mut()[field::URGENT].copy_from_slice(&value.to_be_bytes());
    }

    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        &mut self.buffer.as_mut()[field::OPTIONS..end]
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        &mut self.buffer.as_mut()[start..]
    }

    /// Recomputes the checksum over the pseudo-header and the whole buffer.
    #[inline]
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let data = self.buffer.as_ref();
        let pseudo = checksum::pseudo_header_v4(src, dst, protocol::TCP, data.len() as u16);
        let value = !checksum::fold(checksum::combine(pseudo, checksum::sum(data)));
        self.set_checksum(value);
    }

    /// [`fill_checksum`](Self::fill_checksum) over IPv6.
    #[inline]
    pub fn fill_checksum_v6(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        self.set_checksum(0);
        let value = !checksum::fold(self.sum_v6(src, dst));
        self.set_checksum(value);
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // A SYN, 198.18.0.1:40000 > 198.18.0.110:80, with MSS 1460, SACK-permitted,
    // timestamps and window scale 7.
    static PACKET_BYTES: [u8; 40] = [
        0x9c, 0x40, 0x00, 0x50, 0x6a, 0x1b, 0x3c, 0x4d, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa,
        0xf0, 0x15, 0xea, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x0b, 0x1e,
        0x5c, 0x7a, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
    ];

    const SRC: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 110);

    #[test]
    fn deconstruct() {
        let tcp = TcpPacket::new_checked(&PACKET_BYTES[..]).expect("valid");
        assert_eq!(tcp.src_port(), 40000);
        assert_eq!(tcp.dst_port(), 80);
        assert_eq!(tcp.seq_number(), 0x6a1b_3c4d);
        assert_eq!(tcp.ack_number(), 0);
        assert_eq!(tcp.header_len(), 40);
        assert_eq!(tcp.flags(), flags::SYN);
        assert!(tcp.syn() && !tcp.ack() && !tcp.fin() && !tcp.rst());
        assert_eq!(tcp.window(), 64240);
        assert_eq!(tcp.checksum(), 0x15ea);
        assert_eq!(tcp.urgent_ptr(), 0);
        assert_eq!(tcp.options(), &PACKET_BYTES[20..]);
        assert!(tcp.payload().is_empty());
        assert!(tcp.verify_checksum(SRC, DST));
        assert!(!tcp.verify_checksum(DST, DST));
        assert_eq!(tcp.into_inner(), &PACKET_BYTES[..]);
    }

    #[test]
    fn construct() {
        let mut bytes = [0xa5; 40];
        let mut tcp = TcpPacket::new_unchecked(&mut bytes[..]);
        tcp.set_src_port(40000);
        tcp.set_dst_port(80);
        tcp.set_seq_number(0x6a1b_3c4d);
        tcp.set_ack_number(0);
        tcp.set_header_len(40);
        tcp.set_flags(flags::SYN);
        tcp.set_window(64240);
        tcp.set_urgent_ptr(0);
        tcp.options_mut().copy_from_slice(&PACKET_BYTES[20..]);
        tcp.fill_checksum(SRC, DST);
        assert_eq!(bytes, PACKET_BYTES);
    }

    #[test]
    fn check_len_rejects_truncation() {
        for len in 0..PACKET_BYTES.len() {
            assert_eq!(TcpPacket::new_checked(&PACKET_BYTES[..len]), Err(Error));
        }
        for data_off in [0x00, 0x40] {
            let mut bytes = PACKET_BYTES;
            bytes[12] = data_off;
            assert_eq!(TcpPacket::new_checked(&bytes[..]), Err(Error));
        }
    }

    #[test]
    fn setters_round_trip() {
        let mut bytes = [0; 45];
        bytes[..40].copy_from_slice(&PACKET_BYTES);
        let mut tcp = TcpPacket::new_checked(&mut bytes[..]).expect("valid");
        tcp.set_src_port(80);
        tcp.set_dst_port(40000);
        tcp.set_seq_number(0xdead_beef);
        tcp.set_ack_number(0x6a1b_3c4e);
        tcp.set_flags(flags::SYN | flags::ACK);
        tcp.set_window(65160);
        tcp.set_urgent_ptr(7);
        tcp.payload_mut().copy_from_slice(b"hello");
        tcp.fill_checksum(DST, SRC);
        assert_eq!(tcp.src_port(), 80);
        assert_eq!(tcp.dst_port(), 40000);
        assert_eq!(tcp.seq_number(), 0xdead_beef);
        assert_eq!(tcp.ack_number(), 0x6a1b_3c4e);
        assert!(tcp.syn() && tcp.ack());
        assert_eq!(tcp.window(), 65160);
        assert_eq!(tcp.urgent_ptr(), 7);
        assert_eq!(tcp.payload(), b"hello");
        assert!(tcp.verify_checksum(DST, SRC));
        tcp.set_header_len(20);
        assert_eq!(tcp.header_len(), 20);
        assert!(tcp.options().is_empty());
        assert_eq!(tcp.payload().len(), 25);
        tcp.set_checksum(0x1234);
        assert_eq!(tcp.checksum(), 0x1234);

        let theirs = smoltcp::wire::TcpPacket::new_checked(&bytes[..]).expect("valid");
        assert_eq!(
            theirs.seq_number(),
            smoltcp::wire::TcpSeqNumber(0xdead_beef_u32 as i32)
        );
    }

    // The same SYN over IPv6, [2001:2:0:1::1]:40000 > [2001:2:0:1::110]:80, with
    // MSS 1440 and window 64800; its checksum as smoltcp computes it.
    static V6_SEGMENT: [u8; 40] = [
        0x9c, 0x40, 0x00, 0x50, 0x6a, 0x1b, 0x3c, 0x4d, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfd,
        0x20, 0x5f, 0x49, 0x00, 0x00, 0x02, 0x04, 0x05, 0xa0, 0x04, 0x02, 0x08, 0x0a, 0x0b, 0x1e,
        0x5c, 0x7a, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
    ];

    const SRC6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 1);
    const DST6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0x110);

    #[test]
    fn checksum_v6() {
        let tcp = TcpPacket::new_checked(&V6_SEGMENT[..]).expect("valid");
        assert_eq!(tcp.checksum(), 0x5f49);
        assert!(tcp.verify_checksum_v6(SRC6, DST6));
        assert!(!tcp.verify_checksum_v6(DST6, DST6));
        assert!(!tcp.verify_checksum(SRC, DST));
        let theirs = smoltcp::wire::TcpPacket::new_checked(&V6_SEGMENT[..]).expect("valid");
        assert!(theirs.verify_checksum(&SRC6.into(), &DST6.into()));

        let mut bytes = V6_SEGMENT;
        let mut tcp = TcpPacket::new_checked(&mut bytes[..]).expect("valid");
        tcp.set_checksum(0xa5a5);
        tcp.fill_checksum_v6(SRC6, DST6);
        assert_eq!(bytes, V6_SEGMENT);
    }

    #[test]
    fn checksum_agrees_with_smoltcp() {
        let theirs = smoltcp::wire::TcpPacket::new_checked(&PACKET_BYTES[..]).expect("valid");
        assert!(theirs.verify_checksum(&SRC.into(), &DST.into()));
    }
}
