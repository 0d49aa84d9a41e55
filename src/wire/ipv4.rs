//! IPv4 headers (RFC 791).

use std::net::Ipv4Addr;

use super::checksum;
use super::{Error, Result, be16, be32};

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;
/// Where the addresses are (for programs that load them by offset: BPF).
pub const SRC_OFFSET: usize = field::SRC.start;
pub const DST_OFFSET: usize = field::DST.start;

/// IP protocol numbers.
pub mod protocol {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const SCTP: u8 = 132;
}

mod field {
    use core::ops::Range;

    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLG_OFF: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC: Range<usize> = 12..16;
    pub const DST: Range<usize> = 16..20;
}

const DONT_FRAG: u16 = 0x4000;
const MORE_FRAGS: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// A view of an IPv4 packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Ipv4Packet<T> {
        Ipv4Packet { buffer }
    }

    #[inline]
    pub fn new_checked(buffer: T) -> Result<Ipv4Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Ensures the version is 4 and `20 <= header_len <= total_len <= buffer
    /// length`. Bytes past `total_len` (link-layer padding) are allowed.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN || self.version() != 4 {
            return Err(Error);
        }
        let header_len = self.header_len();
        let total_len = usize::from(self.total_len());
        if header_len < HEADER_LEN || header_len > total_len || total_len > len {
            return Err(Error);
        }
        Ok(())
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL × 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    #[inline]
    pub fn dscp_ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN]
    }

    #[inline]
    pub fn total_len(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::LENGTH])
    }

    #[inline]
    pub fn ident(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::IDENT])
    }

    #[inline]
    fn flg_off(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::FLG_OFF])
    }

    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.flg_off() & DONT_FRAG != 0
    }

    #[inline]
    pub fn more_frags(&self) -> bool {
        self.flg_off() & MORE_FRAGS != 0
    }

    /// Fragment offset in bytes.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (self.flg_off() & OFFSET_MASK) * 8
    }

    /// True for any fragment of a fragmented datagram, the first included.
    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.flg_off() & (MORE_FRAGS | OFFSET_MASK) != 0
    }

    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// The payload protocol; see [`protocol`].
    #[inline]
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    #[inline]
    pub fn src(&self) -> Ipv4Addr {
        Ipv4Addr::from_bits(self.src_raw())
    }

    #[inline]
    pub fn dst(&self) -> Ipv4Addr {
        Ipv4Addr::from_bits(self.dst_raw())
    }

    /// The source address as a number (`Ipv4Addr::to_bits` order).
    #[inline]
    pub fn src_raw(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::SRC])
    }

    /// The destination address as a number (`Ipv4Addr::to_bits` order).
    #[inline]
    pub fn dst_raw(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::DST])
    }

    /// Whether the header checksum, options included, is correct.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        let header = &self.buffer.as_ref()[..self.header_len()];
        // The usual header, without options, as five words summed in line.
        let sum = match header.first_chunk::<HEADER_LEN>() {
            Some(h) if header.len() == HEADER_LEN => checksum::sum_words(h),
            _ => checksum::sum(header),
        };
        checksum::fold(sum) == 0xffff
    }

    /// The bytes from the end of the header to `total_len`.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let range = self.header_len()..usize::from(self.total_len());
        &self.buffer.as_ref()[range]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    #[inline]
    pub fn set_version(&mut self, value: u8) {
        let byte = &mut self.buffer.as_mut()[field::VER_IHL];
        *byte = (*byte & 0x0f) | (value << 4);
    }

    /// Sets the header length in bytes; it must be a multiple of 4.
    #[inline]
    pub fn set_header_len(&mut self, value: usize) {
        let byte = &mut self.buffer.as_mut()[field::VER_IHL];
        *byte = (*byte & 0xf0) | ((value / 4) as u8 & 0x0f);
    }

    #[inline]
    pub fn set_dscp_ecn(&mut self, value: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = value;
    }

    #[inline]
    pub fn set_total_len(&mut self, value: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&value.to_be_bytes());
    }

    #[inline]
    pub fn set_ident(&mut self, value: u16) {
        self.buffer.as_mut()[field::IDENT].copy_from_slice(&value.to_be_bytes());
    }

    /// Writes the whole flags/fragment-offset word (the reserved bit is
    /// cleared). `frag_offset` is in bytes and must be a multiple of 8.
    #[inline]
    pub fn set_fragmentation(&mut self, dont_frag: bool, more_frags: bool, frag_offset: u16) {
        let mut value = (frag_offset / 8) & OFFSET_MASK;
        if dont_frag {
            value |= DONT_FRAG;
        }
        if more_frags {
            value |= MORE_FRAGS;
        }
        self.buffer.as_mut()[field::FLG_OFF].copy_from_slice(&value.to_be_bytes());
    }

    #[inline]
    pub fn set_ttl(&mut self, value: u8) {
        self.buffer.as_mut()[field::TTL] = value;
    }

    #[inline]
    pub fn set_protocol(&mut self, value: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = value;
    }

    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&value.to_be_bytes());
    }

    #[inline]
    pub fn set_src(&mut self, value: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&value.octets());
    }

    #[inline]
    pub fn set_dst(&mut self, value: Ipv4Addr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&value.octets());
    }

    /// Sets the source address from its host-order integer.
    #[inline]
    pub fn set_src_raw(&mut self, value: u32) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the destination address from its host-order integer.
    #[inline]
    pub fn set_dst_raw(&mut self, value: u32) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&value.to_be_bytes());
    }

    /// Recomputes the header checksum from scratch.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let header = &self.buffer.as_ref()[..self.header_len()];
        let value = checksum::checksum(header);
        self.set_checksum(value);
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = self.header_len()..usize::from(self.total_len());
        &mut self.buffer.as_mut()[range]
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // A TCP SYN, 198.18.0.1:40000 > 198.18.0.110:80, with MSS, SACK-permitted,
    // timestamp and window-scale options.
    static PACKET_BYTES: [u8; 60] = [
        0x45, 0x00, 0x00, 0x3c, 0x8f, 0x3e, 0x40, 0x00, 0x40, 0x06, 0x1e, 0xea, 0xc6, 0x12, 0x00,
        0x01, 0xc6, 0x12, 0x00, 0x6e, 0x9c, 0x40, 0x00, 0x50, 0x6a, 0x1b, 0x3c, 0x4d, 0x00, 0x00,
        0x00, 0x00, 0xa0, 0x02, 0xfa, 0xf0, 0x15, 0xea, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04,
        0x02, 0x08, 0x0a, 0x0b, 0x1e, 0x5c, 0x7a, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
    ];

    const SRC: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 110);

    #[test]
    fn deconstruct() {
        let ip = Ipv4Packet::new_checked(&PACKET_BYTES[..]).expect("valid");
        assert_eq!(ip.version(), 4);
        assert_eq!(ip.header_len(), 20);
        assert_eq!(ip.dscp_ecn(), 0);
        assert_eq!(ip.total_len(), 60);
        assert_eq!(ip.ident(), 0x8f3e);
        assert!(ip.dont_frag());
        assert!(!ip.more_frags());
        assert_eq!(ip.frag_offset(), 0);
        assert!(!ip.is_fragment());
        assert_eq!(ip.ttl(), 64);
        assert_eq!(ip.protocol(), protocol::TCP);
        assert_eq!(ip.checksum(), 0x1eea);
        assert_eq!(ip.src(), SRC);
        assert_eq!(ip.dst(), DST);
        assert_eq!(ip.src_raw(), 0xc612_0001);
        assert_eq!(ip.dst_raw(), 0xc612_006e);
        assert!(ip.verify_checksum());
        assert_eq!(ip.payload(), &PACKET_BYTES[20..]);
        assert_eq!(ip.into_inner(), &PACKET_BYTES[..]);
    }

    #[test]
    fn construct() {
        let mut bytes = [0xa5; 60];
        let mut ip = Ipv4Packet::new_unchecked(&mut bytes[..]);
        ip.set_version(4);
        ip.set_header_len(20);
        ip.set_dscp_ecn(0);
        ip.set_total_len(60);
        ip.set_ident(0x8f3e);
        ip.set_fragmentation(true, false, 0);
        ip.set_ttl(64);
        ip.set_protocol(protocol::TCP);
        ip.set_src(SRC);
        ip.set_dst(DST);
        ip.fill_checksum();
        ip.payload_mut().copy_from_slice(&PACKET_BYTES[20..]);
        assert_eq!(bytes, PACKET_BYTES);
    }

    #[test]
    fn check_len_rejects_truncation() {
        for len in 0..PACKET_BYTES.len() {
            assert_eq!(Ipv4Packet::new_checked(&PACKET_BYTES[..len]), Err(Error));
        }
        // Trailing link-layer padding is not part of the payload.
        let mut padded = [0; 64];
        padded[..60].copy_from_slice(&PACKET_BYTES);
        let ip = Ipv4Packet::new_checked(&padded[..]).expect("padded");
        assert_eq!(ip.payload(), &PACKET_BYTES[20..]);
    }

    #[test]
    fn check_len_rejects_bad_header_fields() {
        let cases: [(usize, u8); 5] = [
            (0, 0x65), // version 6
            (0, 0x44), // IHL 4
            (3, 0x3d), // total length 61 > buffer
            (2, 0x01), // total length 316 > buffer
            (3, 0x10), // total length 16 < header length
        ];
        for (at, value) in cases {
            let mut bytes = PACKET_BYTES;
            bytes[at] = value;
            assert_eq!(
                Ipv4Packet::new_checked(&bytes[..]),
                Err(Error),
                "{at}:{value:#x}"
            );
        }
    }

    #[test]
    fn setters_round_trip() {
        let mut bytes = PACKET_BYTES;
        let mut ip = Ipv4Packet::new_checked(&mut bytes[..]).expect("valid");
        let vip = Ipv4Addr::new(198, 19, 0, 10);
        ip.set_dscp_ecn(0xb8);
        ip.set_ident(0x1234);
        ip.set_fragmentation(false, true, 1480);
        ip.set_ttl(1);
        ip.set_protocol(protocol::UDP);
        ip.set_src(vip);
        ip.set_dst(SRC);
        ip.set_total_len(40);
        ip.fill_checksum();
        assert_eq!(ip.dscp_ecn(), 0xb8);
        assert_eq!(ip.ident(), 0x1234);
        assert!(!ip.dont_frag());
        assert!(ip.more_frags());
        assert_eq!(ip.frag_offset(), 1480);
        assert!(ip.is_fragment());
        assert_eq!(ip.ttl(), 1);
        assert_eq!(ip.protocol(), protocol::UDP);
        assert_eq!(ip.src(), vip);
        assert_eq!(ip.dst(), SRC);
        assert_eq!(ip.total_len(), 40);
        assert!(ip.check_len().is_ok());
        assert!(ip.verify_checksum());
        assert_eq!(ip.payload().len(), 20);

        // A first fragment (MF set, offset 0) is still a fragment.
        ip.set_fragmentation(false, true, 0);
        assert!(ip.is_fragment());
        ip.set_fragmentation(true, false, 0);
        assert!(!ip.is_fragment());
        ip.set_checksum(0xbeef);
        assert_eq!(ip.checksum(), 0xbeef);
        assert!(!ip.verify_checksum());
        ip.set_version(6);
        assert_eq!(ip.check_len(), Err(Error));
    }

    #[test]
    fn agrees_with_smoltcp() {
        let ours = Ipv4Packet::new_checked(&PACKET_BYTES[..]).expect("valid");
        let theirs = smoltcp::wire::Ipv4Packet::new_checked(&PACKET_BYTES[..]).expect("valid");
        assert!(theirs.verify_checksum());
        assert_eq!(ours.src(), theirs.src_addr());
        assert_eq!(ours.payload(), theirs.payload());
    }
}
