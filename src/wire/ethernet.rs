//! Ethernet II frames (no 802.1Q parsing).

use super::{Error, Mac, Result, be16};

pub const HEADER_LEN: usize = 14;
/// Where the EtherType is (for programs that load it by offset: BPF).
pub const ETHERTYPE_OFFSET: usize = field::ETHERTYPE.start;

/// EtherType values the director cares about.
pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const VLAN: u16 = 0x8100;
    pub const IPV6: u16 = 0x86dd;
}

mod field {
    use core::ops::Range;

    pub const DST: Range<usize> = 0..6;
    pub const SRC: Range<usize> = 6..12;
    pub const ETHERTYPE: Range<usize> = 12..14;
    pub const PAYLOAD: usize = 14;
}

/// A view of an Ethernet II frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> EthernetFrame<T> {
        EthernetFrame { buffer }
    }

    #[inline]
    pub fn new_checked(buffer: T) -> Result<EthernetFrame<T>> {
        let frame = Self::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// Ensures the buffer holds a whole header.
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

    #[inline]
    pub fn dst(&self) -> Mac {
        Mac::from_bytes(&self.buffer.as_ref()[field::DST])
    }

    #[inline]
    pub fn src(&self) -> Mac {
        Mac::from_bytes(&self.buffer.as_ref()[field::SRC])
    }

    #[inline]
    pub fn ethertype(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::ETHERTYPE])
    }

    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    #[inline]
    pub fn set_dst(&mut self, value: Mac) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&value.0);
    }

    #[inline]
    pub fn set_src(&mut self, value: Mac) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&value.0);
    }

    #[inline]
    pub fn set_ethertype(&mut self, value: u16) {
        self.buffer.as_mut()[field::ETHERTYPE].copy_from_slice(&value.to_be_bytes());
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // A broadcast ARP request, who-has 198.18.0.110 tell 198.18.0.1.
    static FRAME_BYTES: [u8; 42] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12, 0x34, 0x01, 0x08, 0x06, 0x00,
        0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x01, 0xc6, 0x12,
        0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc6, 0x12, 0x00, 0x6e,
    ];

    const SRC: Mac = Mac([0x52, 0x54, 0x00, 0x12, 0x34, 0x01]);

    #[test]
    fn deconstruct() {
        let frame = EthernetFrame::new_checked(&FRAME_BYTES[..]).expect("valid");
        assert_eq!(frame.dst(), Mac::BROADCAST);
        assert_eq!(frame.src(), SRC);
        assert_eq!(frame.ethertype(), ethertype::ARP);
        assert_eq!(frame.payload(), &FRAME_BYTES[HEADER_LEN..]);
        assert_eq!(frame.into_inner(), &FRAME_BYTES[..]);
    }

    #[test]
    fn construct() {
        let mut bytes = [0xa5; 42];
        let mut frame = EthernetFrame::new_unchecked(&mut bytes[..]);
        frame.set_dst(Mac::BROADCAST);
        frame.set_src(SRC);
        frame.set_ethertype(ethertype::ARP);
        frame
            .payload_mut()
            .copy_from_slice(&FRAME_BYTES[HEADER_LEN..]);
        assert_eq!(bytes, FRAME_BYTES);
    }

    #[test]
    fn check_len_rejects_truncation() {
        for len in 0..HEADER_LEN {
            assert_eq!(EthernetFrame::new_checked(&FRAME_BYTES[..len]), Err(Error));
        }
        let bare = EthernetFrame::new_checked(&FRAME_BYTES[..HEADER_LEN]).expect("header only");
        assert!(bare.payload().is_empty());
    }

    #[test]
    fn setters_round_trip() {
        let mut bytes = FRAME_BYTES;
        let mut frame = EthernetFrame::new_checked(&mut bytes[..]).expect("valid");
        let mac = Mac([0x02, 0x00, 0x5e, 0x10, 0x20, 0x30]);
        frame.set_dst(mac);
        frame.set_src(Mac::BROADCAST);
        frame.set_ethertype(ethertype::IPV4);
        frame.payload_mut()[0] = 0x45;
        assert_eq!(frame.dst(), mac);
        assert_eq!(frame.src(), Mac::BROADCAST);
        assert_eq!(frame.ethertype(), ethertype::IPV4);
        assert_eq!(frame.payload()[0], 0x45);
    }
}
