//! Zero-copy views over the packet formats the director touches.
//!
//! Every view wraps a buffer (`T: AsRef<[u8]>`, plus `AsMut<[u8]>` for the
//! setters) and reads or writes header fields in place; nothing is parsed
//! ahead of time and nothing is copied.
//!
//! # Contract
//!
//! * `new_unchecked` wraps any buffer. Accessors on such a view may panic if
//!   the buffer is too short or its length fields lie.
//! * `check_len` validates the buffer length against the fixed header and
//!   against every length field the view uses to slice (header length, total
//!   length, ...). **After `check_len()` succeeds, no accessor panics** — no
//!   getter, no setter, no payload slice.
//! * `new_checked` is `new_unchecked` followed by `check_len`.
//! * Setters that rewrite a length field (`set_header_len`, `set_total_len`,
//!   `set_len`) can break that guarantee; call `check_len` again afterwards
//!   before using the payload accessors.
//! * Checksums are never updated implicitly: use `fill_checksum` for a full
//!   recompute, or [`checksum::Delta`] for an RFC 1624 incremental update.

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmpv4;
pub mod ipv4;
pub mod tcp;
pub mod udp;

pub use arp::{ArpPacket, emit_arp};
pub use checksum::Delta;
pub use ethernet::EthernetFrame;
pub use icmpv4::Icmpv4Packet;
pub use ipv4::Ipv4Packet;
pub use tcp::TcpPacket;
pub use udp::UdpPacket;

use core::fmt;

/// A packet is truncated, or a header field is inconsistent with the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("truncated or malformed packet")
    }
}

impl std::error::Error for Error {}

pub type Result<T> = core::result::Result<T, Error>;

/// An Ethernet (EUI-48) hardware address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    pub const BROADCAST: Mac = Mac([0xff; 6]);

    /// Reads an address from the first six bytes of `bytes`.
    ///
    /// # Panics
    /// If `bytes` is shorter than six bytes.
    #[inline]
    pub(crate) fn from_bytes(bytes: &[u8]) -> Mac {
        Mac([bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5]])
    }

    #[inline]
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// True for group addresses (the I/G bit), which includes broadcast.
    #[inline]
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// Reads a big-endian `u16` from the start of `bytes`.
#[inline]
pub(crate) fn be16(bytes: &[u8]) -> u16 {
    u16::from_be_bytes([bytes[0], bytes[1]])
}

/// Reads a big-endian `u32` from the start of `bytes`.
#[inline]
pub(crate) fn be32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn mac_display_and_classes() {
        let mac = Mac([0x52, 0x54, 0x00, 0xab, 0x0c, 0x01]);
        assert_eq!(mac.to_string(), "52:54:00:ab:0c:01");
        assert!(!mac.is_multicast());
        assert!(!mac.is_broadcast());
        assert!(Mac([0x01, 0x00, 0x5e, 0, 0, 1]).is_multicast());
        assert!(Mac::BROADCAST.is_broadcast());
        assert!(Mac::BROADCAST.is_multicast());
        assert_eq!(Mac::BROADCAST.to_string(), "ff:ff:ff:ff:ff:ff");
    }

    #[test]
    fn error_displays() {
        assert_eq!(Error.to_string(), "truncated or malformed packet");
    }
}
