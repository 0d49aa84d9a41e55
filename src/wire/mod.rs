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
pub mod encap;
pub mod ethernet;
pub mod icmpv4;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod ipv6_options;
pub mod mld;
pub mod ndp;
pub mod sctp;
pub mod tcp;
pub mod udp;

pub use arp::{ArpPacket, emit_arp};
pub use checksum::Delta;
pub use ethernet::EthernetFrame;
pub use icmpv4::Icmpv4Packet;
pub use icmpv6::Icmpv6Packet;
pub use ipv4::Ipv4Packet;
pub use ipv6::{Endpoints, ExtError, Ipv6Packet, Upper};
pub use ndp::{Ndp, NeighborPacket};
pub use sctp::SctpPacket;
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
    use proptest::prelude::*;
    use std::hint::black_box;
    use std::net::Ipv4Addr;

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

    proptest! {
        /// The module contract: once `check_len` passes, every accessor and
        /// every setter of a non-length field is safe on arbitrary bytes.
        /// Random bytes rarely pass the IPv4, IPv6, UDP and ARP checks, so those
        /// views get copies with plausible version, format and length fields.
        #[test]
        fn checked_views_never_panic(
            bytes in prop::collection::vec(any::<u8>(), 0..96),
            len_field in any::<u16>(),
        ) {
            let addr = Ipv4Addr::new(198, 18, 0, 1);
            let len_value = len_field % (bytes.len() as u16 + 1);
            let len_field = len_value.to_be_bytes();
            let patched = |at: usize, patch: &[u8]| {
                let mut copy = bytes.clone();
                if let Some(dst) = copy.get_mut(at..at + patch.len()) {
                    dst.copy_from_slice(patch);
                }
                copy
            };
            let mut ip_bytes = patched(2, &len_field);
            if let Some(b) = ip_bytes.first_mut() {
                *b = 0x40 | (*b & 0x0f);
            }
            let mut arp_bytes = patched(0, &[0, 1, 8, 0, 6, 4]);
            let mut udp_bytes = patched(4, &len_field);
            let mut ip6_bytes = patched(4, &len_value.saturating_sub(40).to_be_bytes());
            if let Some(b) = ip6_bytes.first_mut() {
                *b = 0x60 | (*b & 0x0f);
            }
            let mut bytes = bytes;
            if let Ok(mut f) = EthernetFrame::new_checked(&mut bytes[..]) {
                black_box((f.dst(), f.src(), f.ethertype(), f.payload().len()));
                f.set_dst(Mac::BROADCAST);
                f.set_src(Mac::BROADCAST);
                f.set_ethertype(0);
                f.payload_mut().fill(0);
            }
            if let Ok(mut a) = ArpPacket::new_checked(&mut arp_bytes[..]) {
                black_box((a.operation(), a.sender_mac(), a.sender_ip()));
                black_box((a.target_mac(), a.target_ip()));
                a.set_ethernet_ipv4();
                a.set_operation(2);
                a.set_sender_mac(Mac::BROADCAST);
                a.set_sender_ip(addr);
                a.set_target_mac(Mac::BROADCAST);
                a.set_target_ip(addr);
            }
            if let Ok(mut ip) = Ipv4Packet::new_checked(&mut ip_bytes[..]) {
                black_box((ip.dscp_ecn(), ip.ident(), ip.dont_frag(), ip.more_frags()));
                black_box((ip.frag_offset(), ip.is_fragment(), ip.ttl(), ip.protocol()));
                black_box((ip.checksum(), ip.src(), ip.dst(), ip.verify_checksum()));
                black_box(ip.payload().len());
                ip.set_dscp_ecn(0);
                ip.set_ident(0);
                ip.set_fragmentation(true, true, 8);
                ip.set_ttl(1);
                ip.set_protocol(6);
                ip.set_src(addr);
                ip.set_dst(addr);
                ip.fill_checksum();
                prop_assert!(ip.verify_checksum());
                ip.payload_mut().fill(0);
            }
            if let Ok(mut ip) = Ipv6Packet::new_checked(&mut ip6_bytes[..]) {
                let addr6 = std::net::Ipv6Addr::LOCALHOST;
                black_box((ip.traffic_class(), ip.flow_label(), ip.payload_len()));
                black_box((ip.next_header(), ip.hop_limit(), ip.src(), ip.dst()));
                black_box((ip.src_raw(), ip.dst_raw(), ip.payload().len()));
                let _ = black_box((ip.upper_layer(), ip.l4().map(|(p, l)| (p, l.len()))));
                ip.set_traffic_class(1);
                ip.set_flow_label(2);
                ip.set_next_header(3);
                ip.set_hop_limit(4);
                ip.set_src(addr6);
                ip.set_dst(addr6);
                ip.set_src_raw([1; 16]);
                ip.set_dst_raw([2; 16]);
                ip.payload_mut().fill(0);
                if let Ok((_, l4)) = ip.l4_mut() {
                    l4.fill(0);
                }
            }
            if let Ok(mut i) = Icmpv6Packet::new_checked(&mut bytes[..]) {
                let (a, b) = (std::net::Ipv6Addr::LOCALHOST, std::net::Ipv6Addr::UNSPECIFIED);
                black_box((i.msg_type(), i.code(), i.echo_ident(), i.echo_seq()));
                black_box((i.mtu(), i.pointer(), i.is_error(), i.data().len()));
                i.set_msg_type(128);
                i.set_code(0);
                i.set_echo_ident(1);
                i.set_echo_seq(2);
                i.set_mtu(1280);
                i.set_pointer(3);
                i.data_mut().fill(0);
                i.fill_checksum(a, b);
                prop_assert!(i.verify_checksum(a, b));
            }
            if let Ok(mut n) = NeighborPacket::new_checked(&mut bytes[..]) {
                let (a, b) = (std::net::Ipv6Addr::LOCALHOST, std::net::Ipv6Addr::UNSPECIFIED);
                black_box((n.msg_type(), n.code(), n.flags(), n.router(), n.solicited()));
                black_box((n.override_flag(), n.target(), n.options().len()));
                let _ = black_box((n.ll_option(1), n.ll_option(2)));
                n.set_msg_type(135);
                n.set_code(0);
                n.set_flags(0xe0);
                n.set_target(a);
                n.options_mut().fill(1);
                n.fill_checksum(a, b);
                prop_assert!(n.verify_checksum(a, b));
            }
            if let Ok(mut t) = TcpPacket::new_checked(&mut bytes[..]) {
                black_box((t.src_port(), t.dst_port(), t.seq_number(), t.ack_number()));
                black_box((t.flags(), t.window(), t.checksum(), t.urgent_ptr()));
                black_box((t.options().len(), t.payload().len()));
                t.set_src_port(1);
                t.set_dst_port(2);
                t.set_seq_number(3);
                t.set_ack_number(4);
                t.set_flags(tcp::flags::ACK);
                t.set_window(5);
                t.set_urgent_ptr(0);
                t.options_mut().fill(1);
                t.payload_mut().fill(0);
                t.fill_checksum(addr, addr);
                prop_assert!(t.verify_checksum(addr, addr));
            }
            if let Ok(mut u) = UdpPacket::new_checked(&mut udp_bytes[..]) {
                black_box((u.src_port(), u.dst_port(), u.checksum(), u.payload().len()));
                u.set_src_port(1);
                u.set_dst_port(2);
                u.payload_mut().fill(0);
                u.fill_checksum(addr, addr);
                prop_assert!(u.verify_checksum(addr, addr));
            }
            if let Ok(mut p) = SctpPacket::new_checked(&mut bytes[..]) {
                black_box((p.src_port(), p.dst_port(), p.verification_tag(), p.checksum()));
                black_box((p.first_chunk(), p.chunk_at(usize::MAX - 1), p.chunk_at(1 << 20)));
                black_box(crate::nat::state::sctp_event(&p));
                p.set_src_port(1);
                p.set_dst_port(2);
                p.fill_checksum();
                prop_assert!(p.verify_checksum());
            }
            if let Ok(mut i) = Icmpv4Packet::new_checked(&mut bytes[..]) {
                black_box((i.msg_type(), i.code(), i.echo_ident(), i.echo_seq()));
                black_box((i.rest_of_header(), i.is_error(), i.data().len()));
                i.set_msg_type(0);
                i.set_code(0);
                i.set_echo_ident(1);
                i.set_echo_seq(2);
                i.set_rest_of_header(3);
                i.data_mut().fill(0);
                i.fill_checksum();
                prop_assert!(i.verify_checksum());
            }
        }
    }
}
