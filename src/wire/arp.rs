//! ARP for IPv4 over Ethernet (RFC 826). Other hardware or protocol types
//! are rejected by `check_len`.

use std::net::Ipv4Addr;

use super::ethernet::{self, EthernetFrame, ethertype};
use super::{Error, Mac, Result, be16, be32};

/// Length of an Ethernet/IPv4 ARP packet.
pub const LEN: usize = 28;

/// ARP operation codes.
pub mod operation {
    pub const REQUEST: u16 = 1;
    pub const REPLY: u16 = 2;
}

const HTYPE_ETHERNET: u16 = 1;
/// IEEE 802 networks' hardware type, which Linux takes from an Ethernet
/// device as Ethernet's (`arp_process`, `net/ipv4/arp.c`); replies carry 1.
const HTYPE_IEEE802: u16 = 6;

mod field {
    use core::ops::Range;

    pub const HTYPE: Range<usize> = 0..2;
    pub const PTYPE: Range<usize> = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Range<usize> = 6..8;
    pub const SHA: Range<usize> = 8..14;
    pub const SPA: Range<usize> = 14..18;
    pub const THA: Range<usize> = 18..24;
    pub const TPA: Range<usize> = 24..28;
}

/// A view of an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> ArpPacket<T> {
        ArpPacket { buffer }
    }

    #[inline]
    pub fn new_checked(buffer: T) -> Result<ArpPacket<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Ensures the buffer holds a whole packet whose hardware and protocol
    /// types are Ethernet (or IEEE 802) and IPv4.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let data = self.buffer.as_ref();
        if data.len() < LEN
            || !matches!(be16(&data[field::HTYPE]), HTYPE_ETHERNET | HTYPE_IEEE802)
            || be16(&data[field::PTYPE]) != ethertype::IPV4
            || data[field::HLEN] != 6
            || data[field::PLEN] != 4
        {
            return Err(Error);
        }
        Ok(())
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The operation: [`operation::REQUEST`] or [`operation::REPLY`].
    #[inline]
    pub fn operation(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::OPER])
    }

    #[inline]
    pub fn sender_mac(&self) -> Mac {
        Mac::from_bytes(&self.buffer.as_ref()[field::SHA])
    }

    #[inline]
    pub fn sender_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from_bits(be32(&self.buffer.as_ref()[field::SPA]))
    }

    #[inline]
    pub fn target_mac(&self) -> Mac {
        Mac::from_bytes(&self.buffer.as_ref()[field::THA])
    }

    #[inline]
    pub fn target_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from_bits(be32(&self.buffer.as_ref()[field::TPA]))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    /// Writes the format fields: Ethernet hardware, IPv4 protocol, and their
    /// address lengths.
    #[inline]
    pub fn set_ethernet_ipv4(&mut self) {
        let data = self.buffer.as_mut();
        data[field::HTYPE].copy_from_slice(&HTYPE_ETHERNET.to_be_bytes());
        data[field::PTYPE].copy_from_slice(&ethertype::IPV4.to_be_bytes());
        data[field::HLEN] = 6;
        data[field::PLEN] = 4;
    }

    #[inline]
    pub fn set_operation(&mut self, value: u16) {
        self.buffer.as_mut()[field::OPER].copy_from_slice(&value.to_be_bytes());
    }

    #[inline]
    pub fn set_sender_mac(&mut self, value: Mac) {
        self.buffer.as_mut()[field::SHA].copy_from_slice(&value.0);
    }

    #[inline]
    pub fn set_sender_ip(&mut self, value: Ipv4Addr) {
        self.buffer.as_mut()[field::SPA].copy_from_slice(&value.octets());
    }

    #[inline]
    pub fn set_target_mac(&mut self, value: Mac) {
        self.buffer.as_mut()[field::THA].copy_from_slice(&value.0);
    }

    #[inline]
    pub fn set_target_ip(&mut self, value: Ipv4Addr) {
        self.buffer.as_mut()[field::TPA].copy_from_slice(&value.octets());
    }
}

/// The length of the ARP frames the director sends: Ethernet's minimum
/// without the FCS (60 bytes, `ETH_ZLEN`), its 42 bytes padded with zeroes
/// by the sender rather than left to whatever pads short frames on the way
/// out (or does not).
pub const PADDED_LEN: usize = 60;

/// Writes an Ethernet frame carrying an ARP packet to the start of `buf` and
/// returns its length (42). The frame's source address is `smac`.
///
/// # Panics
/// If `buf` is shorter than 42 bytes.
pub fn emit_arp(
    buf: &mut [u8],
    op: u16,
    smac: Mac,
    sip: Ipv4Addr,
    tmac: Mac,
    tip: Ipv4Addr,
    eth_dst: Mac,
) -> usize {
    const FRAME_LEN: usize = ethernet::HEADER_LEN + LEN;
    let mut frame = EthernetFrame::new_unchecked(&mut buf[..FRAME_LEN]);
    frame.set_dst(eth_dst);
    frame.set_src(smac);
    frame.set_ethertype(ethertype::ARP);
    let mut arp = ArpPacket::new_unchecked(frame.payload_mut());
    arp.set_ethernet_ipv4();
    arp.set_operation(op);
    arp.set_sender_mac(smac);
    arp.set_sender_ip(sip);
    arp.set_target_mac(tmac);
    arp.set_target_ip(tip);
    FRAME_LEN
}

#[cfg(test)]
mod test {
    use super::*;

    // who-has 198.18.0.110 tell 198.18.0.1
    static PACKET_BYTES: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x01, 0xc6,
        0x12, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc6, 0x12, 0x00, 0x6e,
    ];

    const SMAC: Mac = Mac([0x52, 0x54, 0x00, 0x12, 0x34, 0x01]);
    const SIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const TIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 110);

    #[test]
    fn deconstruct() {
        let arp = ArpPacket::new_checked(&PACKET_BYTES[..]).expect("valid");
        assert_eq!(arp.operation(), operation::REQUEST);
        assert_eq!(arp.sender_mac(), SMAC);
        assert_eq!(arp.sender_ip(), SIP);
        assert_eq!(arp.target_mac(), Mac::default());
        assert_eq!(arp.target_ip(), TIP);
        assert_eq!(arp.into_inner(), &PACKET_BYTES[..]);
    }

    #[test]
    fn construct() {
        let mut bytes = [0xa5; 28];
        let mut arp = ArpPacket::new_unchecked(&mut bytes[..]);
        arp.set_ethernet_ipv4();
        arp.set_operation(operation::REQUEST);
        arp.set_sender_mac(SMAC);
        arp.set_sender_ip(SIP);
        arp.set_target_mac(Mac::default());
        arp.set_target_ip(TIP);
        assert_eq!(bytes, PACKET_BYTES);
    }

    #[test]
    fn emit_writes_whole_frame() {
        let mut buf = [0xa5; 64];
        let len = emit_arp(
            &mut buf,
            operation::REQUEST,
            SMAC,
            SIP,
            Mac::default(),
            TIP,
            Mac::BROADCAST,
        );
        assert_eq!(len, 42);
        let frame = EthernetFrame::new_checked(&buf[..len]).expect("frame");
        assert_eq!(frame.dst(), Mac::BROADCAST);
        assert_eq!(frame.src(), SMAC);
        assert_eq!(frame.ethertype(), ethertype::ARP);
        assert_eq!(frame.payload(), &PACKET_BYTES[..]);
        assert!(buf[len..].iter().all(|&b| b == 0xa5));
    }

    #[test]
    fn check_len_rejects_truncation() {
        for len in 0..LEN {
            assert_eq!(ArpPacket::new_checked(&PACKET_BYTES[..len]), Err(Error));
        }
        // Ethernet padding after the packet is fine.
        let mut padded = [0; 46];
        padded[..LEN].copy_from_slice(&PACKET_BYTES);
        assert!(ArpPacket::new_checked(&padded[..]).is_ok());
    }

    #[test]
    fn check_len_rejects_other_formats() {
        for (at, value) in [(1, 2), (1, 7), (0, 1), (2, 0x86), (4, 8), (5, 16)] {
            let mut bytes = PACKET_BYTES;
            bytes[at] = value;
            assert_eq!(ArpPacket::new_checked(&bytes[..]), Err(Error), "byte {at}");
        }
        // IEEE 802's hardware type is Ethernet's here, as Linux's.
        let mut bytes = PACKET_BYTES;
        bytes[1] = 6;
        assert!(ArpPacket::new_checked(&bytes[..]).is_ok());
    }

    #[test]
    fn setters_round_trip() {
        let mut bytes = PACKET_BYTES;
        let mut arp = ArpPacket::new_checked(&mut bytes[..]).expect("valid");
        let mac = Mac([0x02, 0x42, 0xc6, 0x12, 0x00, 0x6e]);
        arp.set_operation(operation::REPLY);
        arp.set_sender_mac(mac);
        arp.set_sender_ip(TIP);
        arp.set_target_mac(SMAC);
        arp.set_target_ip(SIP);
        assert_eq!(arp.operation(), operation::REPLY);
        assert_eq!(arp.sender_mac(), mac);
        assert_eq!(arp.sender_ip(), TIP);
        assert_eq!(arp.target_mac(), SMAC);
        assert_eq!(arp.target_ip(), SIP);
        assert!(arp.check_len().is_ok());
    }
}
