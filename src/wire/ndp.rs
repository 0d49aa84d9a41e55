//! Neighbor Discovery for IPv6 over Ethernet (RFC 4861): neighbor solicitations
//! and advertisements, the checks a node applies before believing one, and
//! writing them. Router and redirect messages are left to the caller (the
//! director ignores them unless configured).

use std::net::Ipv6Addr;

use super::ethernet;
use super::icmpv6::{self, Icmpv6Packet, msg};
use super::ipv6::{self, Endpoints, ExtError, Ipv6Packet, next_header};
use super::{Error, Mac, Result};

/// Length of a solicitation or advertisement without options: the ICMPv6 header
/// and the target address.
pub const HEADER_LEN: usize = 24;
/// Length of a link-layer address option for Ethernet (RFC 4861 §4.6.1: type,
/// length 1, the six bytes).
pub const LL_OPTION_LEN: usize = 8;
/// The hop limit every Neighbor Discovery message is sent and received with
/// (RFC 4861 §7.1): 255 proves that it did not cross a router.
pub const HOP_LIMIT: u8 = 255;

/// Option types (RFC 4861 §4.6).
pub mod option {
    pub const SOURCE_LL: u8 = 1;
    pub const TARGET_LL: u8 = 2;
    pub const PREFIX_INFO: u8 = 3;
    pub const REDIRECTED_HEADER: u8 = 4;
    pub const MTU: u8 = 5;
}

/// The flags of a neighbor advertisement (RFC 4861 §4.4), as
/// [`NeighborPacket::flags`] returns them.
pub mod flags {
    /// The sender is a router.
    pub const ROUTER: u8 = 0x80;
    /// A reply to a solicitation.
    pub const SOLICITED: u8 = 0x40;
    /// The advertisement should replace a cached link-layer address.
    pub const OVERRIDE: u8 = 0x20;
}

mod field {
    use core::ops::Range;

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const FLAGS: usize = 4;
    pub const TARGET: Range<usize> = 8..24;
    pub const OPTIONS: usize = 24;
}

/// A view of a neighbor solicitation or advertisement, which share a layout
/// (RFC 4861 §4.3-4.4): the ICMPv6 header, flags (advertisements only) and
/// reserved bits, the target address, options. The buffer is the whole ICMPv6
/// message; the checksum is [`Icmpv6Packet`]'s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighborPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> NeighborPacket<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> NeighborPacket<T> {
        NeighborPacket { buffer }
    }

    #[inline]
    pub fn new_checked(buffer: T) -> Result<NeighborPacket<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Ensures the buffer holds the header and the target (RFC 4861 §7.1.1:
    /// "ICMP length ... is 24 or more octets"). The options are not checked
    /// here; see [`ll_option`](Self::ll_option).
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

    /// [`msg::NEIGHBOR_SOLICIT`] or [`msg::NEIGHBOR_ADVERT`].
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    #[inline]
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// The advertisement flags; see [`flags`]. Reserved in a solicitation.
    #[inline]
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    #[inline]
    pub fn router(&self) -> bool {
        self.flags() & flags::ROUTER != 0
    }

    #[inline]
    pub fn solicited(&self) -> bool {
        self.flags() & flags::SOLICITED != 0
    }

    #[inline]
    pub fn override_flag(&self) -> bool {
        self.flags() & flags::OVERRIDE != 0
    }

    /// The address being resolved (solicitation) or announced (advertisement).
    #[inline]
    pub fn target(&self) -> Ipv6Addr {
        let mut a = [0; 16];
        a.copy_from_slice(&self.buffer.as_ref()[field::TARGET]);
        Ipv6Addr::from(a)
    }

    /// The options, unparsed.
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPTIONS..]
    }

    /// The first link-layer address option of type `kind`
    /// ([`option::SOURCE_LL`] or [`option::TARGET_LL`]), walking every option:
    /// `Err` if any has length 0 or runs past the message (RFC 4861 §7.1.1
    /// and §7.1.2: the message is then invalid), or if the one found is not
    /// the one 8-byte unit an Ethernet address takes (Linux's `ndisc_recv_ns`
    /// and `ndisc_recv_na` drop such a message: "invalid link-layer address
    /// length").
    pub fn ll_option(&self, kind: u8) -> Result<Option<Mac>> {
        let mut opts = self.options();
        let mut found = None;
        while let [ty, units, ..] = *opts {
            let len = usize::from(units) * 8;
            if len == 0 || len > opts.len() {
                return Err(Error);
            }
            if ty == kind && found.is_none() {
                if units != 1 {
                    return Err(Error);
                }
                // Type, length, then the address (RFC 4861 §4.6.1).
                found = Some(Mac::from_bytes(&opts[2..8]));
            }
            opts = &opts[len..];
        }
        // One or more bytes that cannot hold an option's type and length.
        if !opts.is_empty() {
            return Err(Error);
        }
        Ok(found)
    }

    /// Whether the ICMPv6 checksum is correct.
    #[inline]
    pub fn verify_checksum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        Icmpv6Packet::new_unchecked(self.buffer.as_ref()).verify_checksum(src, dst)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> NeighborPacket<T> {
    #[inline]
    pub fn set_msg_type(&mut self, value: u8) {
        self.buffer.as_mut()[field::TYPE] = value;
    }

    #[inline]
    pub fn set_code(&mut self, value: u8) {
        self.buffer.as_mut()[field::CODE] = value;
    }

    /// Writes the flags byte and clears the 24 reserved bits after it.
    #[inline]
    pub fn set_flags(&mut self, value: u8) {
        let data = self.buffer.as_mut();
        data[field::FLAGS] = value;
        data[field::FLAGS + 1..field::TARGET.start].fill(0);
    }

    #[inline]
    pub fn set_target(&mut self, value: Ipv6Addr) {
        self.buffer.as_mut()[field::TARGET].copy_from_slice(&value.octets());
    }

    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::OPTIONS..]
    }

    /// Recomputes the ICMPv6 checksum.
    #[inline]
    pub fn fill_checksum(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        Icmpv6Packet::new_unchecked(self.buffer.as_mut()).fill_checksum(src, dst);
    }
}

/// A neighbor message that passed RFC 4861's checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ndp {
    /// Who has `target`? From the unspecified address (duplicate address
    /// detection, RFC 4862) `src_ll` is always `None`; otherwise it is the
    /// sender's link-layer address if it gave one.
    Solicit {
        target: Ipv6Addr,
        src_ll: Option<Mac>,
    },
    /// `target` is at `target_ll` (or at the frame's source when the option is
    /// left out, as in a reply to a unicast solicitation). `flags` as
    /// [`flags`].
    Advert {
        target: Ipv6Addr,
        flags: u8,
        target_ll: Option<Mac>,
    },
}

/// Why a received neighbor message is dropped: RFC 4861 §7.1.1 (solicitations)
/// and §7.1.2 (advertisements), in the order they are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    /// The IPv6 packet is malformed.
    Malformed,
    /// Its extension headers do not lead to the ICMPv6 message.
    Header(ExtError),
    /// Not a neighbor solicitation or advertisement (another ICMPv6 type, or
    /// not ICMPv6).
    NotNeighbor,
    /// The hop limit is not 255: the message crossed a router.
    HopLimit,
    /// The ICMPv6 checksum is wrong.
    Checksum,
    /// The ICMP code is not 0.
    Code,
    /// Shorter than 24 bytes.
    TooShort,
    /// An option of length 0, or options that run past the message.
    BadOption,
    /// The target is a multicast address.
    MulticastTarget,
    /// A solicitation from the unspecified address carries a source link-layer
    /// address option.
    DadWithSourceLl,
    /// A solicitation from the unspecified address is not sent to a
    /// solicited-node multicast address.
    DadNotToSolicitedNode,
    /// An advertisement to a multicast address has the solicited flag set.
    SolicitedToMulticast,
}

impl Invalid {
    /// A short name, for counters and traces.
    pub const fn name(self) -> &'static str {
        match self {
            Invalid::Malformed => "malformed",
            Invalid::Header(e) => e.name(),
            Invalid::NotNeighbor => "not_neighbor",
            Invalid::HopLimit => "hop_limit",
            Invalid::Checksum => "checksum",
            Invalid::Code => "code",
            Invalid::TooShort => "too_short",
            Invalid::BadOption => "bad_option",
            Invalid::MulticastTarget => "multicast_target",
            Invalid::DadWithSourceLl => "dad_with_source_ll",
            Invalid::DadNotToSolicitedNode => "dad_not_to_solicited_node",
            Invalid::SolicitedToMulticast => "solicited_to_multicast",
        }
    }
}

/// Checks a received neighbor solicitation or advertisement (an IPv6 packet,
/// extension headers allowed) as RFC 4861 §7.1.1 and §7.1.2 say and returns
/// what it asks or tells. Whether the target is one of ours, and what to do with
/// an advertisement for a cached neighbor (§7.2.5), is the caller's business.
pub fn parse<T: AsRef<[u8]>>(ip: &Ipv6Packet<T>) -> core::result::Result<Ndp, Invalid> {
    ip.check_len().map_err(|_| Invalid::Malformed)?;
    let (proto, l4) = ip.l4().map_err(Invalid::Header)?;
    let is_neighbor = |ty| ty == msg::NEIGHBOR_SOLICIT || ty == msg::NEIGHBOR_ADVERT;
    match l4.first() {
        Some(&ty) if proto == next_header::ICMPV6 && is_neighbor(ty) => {}
        _ => return Err(Invalid::NotNeighbor),
    }
    if ip.hop_limit() != HOP_LIMIT {
        return Err(Invalid::HopLimit);
    }
    let (src, dst) = (ip.src(), ip.dst());
    let icmp = Icmpv6Packet::new_checked(l4).map_err(|_| Invalid::TooShort)?;
    if !icmp.verify_checksum(src, dst) {
        return Err(Invalid::Checksum);
    }
    if icmp.code() != 0 {
        return Err(Invalid::Code);
    }
    let pkt = NeighborPacket::new_checked(l4).map_err(|_| Invalid::TooShort)?;
    let target = pkt.target();
    if target.is_multicast() {
        return Err(Invalid::MulticastTarget);
    }
    let ll = |kind| pkt.ll_option(kind).map_err(|_| Invalid::BadOption);
    if pkt.msg_type() == msg::NEIGHBOR_SOLICIT {
        let src_ll = ll(option::SOURCE_LL)?;
        if src.is_unspecified() {
            if src_ll.is_some() {
                return Err(Invalid::DadWithSourceLl);
            }
            if !ipv6::is_solicited_node(dst) {
                return Err(Invalid::DadNotToSolicitedNode);
            }
        }
        Ok(Ndp::Solicit { target, src_ll })
    } else {
        let target_ll = ll(option::TARGET_LL)?;
        if dst.is_multicast() && pkt.solicited() {
            return Err(Invalid::SolicitedToMulticast);
        }
        Ok(Ndp::Advert {
            target,
            flags: pkt.flags() & (flags::ROUTER | flags::SOLICITED | flags::OVERRIDE),
            target_ll,
        })
    }
}

/// Writes an Ethernet frame with a neighbor message (`ty`, `flags`, `target`) and
/// a link-layer option of type `ll_kind` holding `ends.src_mac` (no option when
/// `ll_kind` is 0). Returns the frame length.
fn emit(
    buf: &mut [u8],
    ends: &Endpoints,
    (ty, bits): (u8, u8),
    target: Ipv6Addr,
    ll_kind: u8,
) -> Option<usize> {
    let icmp_len = HEADER_LEN + if ll_kind != 0 { LL_OPTION_LEN } else { 0 };
    let len = ipv6::emit_headers(buf, ends, next_header::ICMPV6, HOP_LIMIT, icmp_len)?;
    let body = &mut buf[ethernet::HEADER_LEN + ipv6::HEADER_LEN..len];
    let mut pkt = NeighborPacket::new_unchecked(body);
    pkt.set_msg_type(ty);
    pkt.set_code(0);
    pkt.set_flags(bits);
    pkt.set_target(target);
    if ll_kind != 0 {
        let opt = pkt.options_mut();
        opt[..2].copy_from_slice(&[ll_kind, (LL_OPTION_LEN / 8) as u8]);
        opt[2..8].copy_from_slice(&ends.src_mac.0);
    }
    pkt.fill_checksum(ends.src, ends.dst);
    Some(len)
}

/// Writes an Ethernet frame with a neighbor solicitation for `target` from
/// `src` (one of our addresses on the link) at `src_mac`, and returns its length
/// (86 bytes; 78 from the unspecified address, which carries no source
/// link-layer option, RFC 4861 §4.3). With `unicast` the solicitation goes to
/// `target` at that link-layer address (the probe of a known neighbor, RFC 4861
/// §7.3.3); without, to the target's solicited-node multicast group (§7.2.2).
/// `None` if `buf` is too short.
pub fn emit_solicit(
    buf: &mut [u8],
    (src_mac, src): (Mac, Ipv6Addr),
    target: Ipv6Addr,
    unicast: Option<Mac>,
) -> Option<usize> {
    let (dst, dst_mac) = match unicast {
        Some(mac) => (target, mac),
        None => {
            let group = ipv6::solicited_node(target);
            (group, ipv6::multicast_mac(group))
        }
    };
    let ends = Endpoints {
        src_mac,
        dst_mac,
        src,
        dst,
    };
    let ll = if src.is_unspecified() {
        0
    } else {
        option::SOURCE_LL
    };
    emit(buf, &ends, (msg::NEIGHBOR_SOLICIT, 0), target, ll)
}

/// Writes an Ethernet frame with a neighbor advertisement of `target` (an
/// address of ours) at `our_mac`, from `target`, with its target link-layer
/// option, and returns its length (86 bytes). `None` if `buf` is too short.
///
/// A reply (RFC 4861 §7.2.4) passes the solicitation's source and the
/// link-layer address to answer at (its source link-layer option, else the
/// frame's source) as `to`: the reply has the solicited and override flags.
/// When the solicitation came from the unspecified address (another node is
/// about to claim `target`), the reply goes to all nodes without the solicited
/// flag, as the RFC says. `to: None` is an unsolicited advertisement (§7.2.6): to
/// all nodes, override set, so that neighbors replace what they cached (a VIP
/// that moved to this director). `router` sets the router flag.
pub fn emit_advert(
    buf: &mut [u8],
    our_mac: Mac,
    target: Ipv6Addr,
    to: Option<(Ipv6Addr, Mac)>,
    router: bool,
) -> Option<usize> {
    let mut bits = flags::OVERRIDE;
    if router {
        bits |= flags::ROUTER;
    }
    let (dst, dst_mac) = match to {
        Some((addr, mac)) if !addr.is_unspecified() => {
            bits |= flags::SOLICITED;
            (addr, mac)
        }
        _ => (ipv6::ALL_NODES, ipv6::multicast_mac(ipv6::ALL_NODES)),
    };
    let ends = Endpoints {
        src_mac: our_mac,
        dst_mac,
        src: target,
        dst,
    };
    emit(
        buf,
        &ends,
        (msg::NEIGHBOR_ADVERT, bits),
        target,
        option::TARGET_LL,
    )
}

/// The [`icmpv6`] message types a director handles as Neighbor Discovery
/// (the others, router and redirect messages, it ignores).
pub fn is_neighbor_msg(ty: u8) -> bool {
    ty == icmpv6::msg::NEIGHBOR_SOLICIT || ty == icmpv6::msg::NEIGHBOR_ADVERT
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::wire::EthernetFrame;
    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::wire::{Icmpv6Repr, NdiscNeighborFlags, NdiscRepr, RawHardwareAddress};

    // A neighbor solicitation from 2001:2:0:1::1 (at 52:54:00:12:34:01) to
    // ff02::1:ff00:110, who has 2001:2:0:1::110; checksum as smoltcp computes it.
    static PACKET_BYTES: [u8; 32] = [
        0x87, 0x00, 0xb1, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00,
        0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x10, 0x01, 0x01, 0x52, 0x54, 0x00, 0x12,
        0x34, 0x01,
    ];

    const CLIENT: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 1);
    const VIP: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0x110);
    const GROUP: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff00, 0x110);
    const CLIENT_MAC: Mac = Mac([0x52, 0x54, 0x00, 0x12, 0x34, 0x01]);
    const OUR_MAC: Mac = Mac([0x52, 0x54, 0x00, 0x12, 0x34, 0x10]);

    #[test]
    fn deconstruct() {
        let ns = NeighborPacket::new_checked(&PACKET_BYTES[..]).expect("valid");
        assert_eq!(ns.msg_type(), msg::NEIGHBOR_SOLICIT);
        assert_eq!(ns.code(), 0);
        assert_eq!(ns.flags(), 0);
        assert_eq!(ns.target(), VIP);
        assert_eq!(ns.options(), &PACKET_BYTES[24..]);
        assert_eq!(ns.ll_option(option::SOURCE_LL), Ok(Some(CLIENT_MAC)));
        assert_eq!(ns.ll_option(option::TARGET_LL), Ok(None));
        assert!(ns.verify_checksum(CLIENT, GROUP));
        assert!(!ns.verify_checksum(CLIENT, VIP));
        assert_eq!(ns.into_inner(), &PACKET_BYTES[..]);
        let theirs = smoltcp::wire::Icmpv6Packet::new_checked(&PACKET_BYTES[..]).expect("icmp");
        let repr = Icmpv6Repr::parse(&CLIENT, &GROUP, &theirs, &ChecksumCapabilities::default());
        assert_eq!(
            repr,
            Ok(Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit {
                target_addr: VIP,
                lladdr: Some(RawHardwareAddress::from_bytes(&CLIENT_MAC.0)),
            }))
        );
    }

    #[test]
    fn construct() {
        let mut bytes = [0xa5; 32];
        let mut ns = NeighborPacket::new_unchecked(&mut bytes[..]);
        ns.set_msg_type(msg::NEIGHBOR_SOLICIT);
        ns.set_code(0);
        ns.set_flags(0);
        ns.set_target(VIP);
        ns.options_mut()
            .copy_from_slice(&[1, 1, 0x52, 0x54, 0x00, 0x12, 0x34, 0x01]);
        ns.fill_checksum(CLIENT, GROUP);
        assert_eq!(bytes, PACKET_BYTES);
    }

    #[test]
    fn check_len_rejects_truncation() {
        for len in 0..HEADER_LEN {
            assert_eq!(
                NeighborPacket::new_checked(&PACKET_BYTES[..len]),
                Err(Error)
            );
        }
        let bare = NeighborPacket::new_checked(&PACKET_BYTES[..HEADER_LEN]).expect("no options");
        assert_eq!(bare.ll_option(option::SOURCE_LL), Ok(None));
    }

    #[test]
    fn setters_round_trip() {
        let mut bytes = PACKET_BYTES;
        let mut na = NeighborPacket::new_checked(&mut bytes[..]).expect("valid");
        na.set_msg_type(msg::NEIGHBOR_ADVERT);
        na.set_flags(flags::SOLICITED | flags::OVERRIDE);
        na.set_target(CLIENT);
        na.options_mut()[0] = option::TARGET_LL;
        na.fill_checksum(VIP, CLIENT);
        assert!(na.solicited() && na.override_flag() && !na.router());
        assert_eq!(na.target(), CLIENT);
        assert_eq!(na.ll_option(option::TARGET_LL), Ok(Some(CLIENT_MAC)));
        assert!(na.verify_checksum(VIP, CLIENT));
        na.set_flags(flags::ROUTER);
        assert!(na.router() && !na.solicited());
    }

    #[test]
    fn options_are_walked_whole() {
        let with = |opts: &[u8]| {
            let mut m = PACKET_BYTES[..24].to_vec();
            m.extend_from_slice(opts);
            NeighborPacket::new_checked(m)
                .expect("24 bytes")
                .ll_option(option::SOURCE_LL)
        };
        let sll = [1, 1, 2, 0, 0, 0, 0, 7];
        let mtu = [5, 1, 0, 0, 0, 0, 5, 0xdc];
        assert_eq!(
            with(&[&mtu[..], &sll].concat()),
            Ok(Some(Mac([2, 0, 0, 0, 0, 7])))
        );
        // The first of two is kept.
        let other = [1, 1, 2, 0, 0, 0, 0, 8];
        assert_eq!(
            with(&[&sll[..], &other].concat()),
            Ok(Some(Mac([2, 0, 0, 0, 0, 7])))
        );
        // Length zero anywhere, a length past the end, a stray byte: invalid.
        assert_eq!(
            with(&[&sll[..], &[3, 0, 0, 0, 0, 0, 0, 0]].concat()),
            Err(Error)
        );
        assert_eq!(with(&[1, 2, 2, 0, 0, 0, 0, 7]), Err(Error));
        assert_eq!(with(&[&sll[..], &[9]].concat()), Err(Error));
    }

    /// An IPv6 packet (no Ethernet) with the message `icmp` from `src` to `dst`.
    fn packet(src: Ipv6Addr, dst: Ipv6Addr, icmp: &[u8], hop_limit: u8) -> Vec<u8> {
        let mut p = vec![0; 40 + icmp.len()];
        let mut ip = Ipv6Packet::new_unchecked(&mut p[..]);
        ip.set_version(6);
        ip.set_payload_len(icmp.len() as u16);
        ip.set_next_header(next_header::ICMPV6);
        ip.set_hop_limit(hop_limit);
        ip.set_src(src);
        ip.set_dst(dst);
        p[40..].copy_from_slice(icmp);
        NeighborPacket::new_unchecked(&mut p[40..]).fill_checksum(src, dst);
        p
    }

    fn parsed(p: &[u8]) -> core::result::Result<Ndp, Invalid> {
        parse(&Ipv6Packet::new_unchecked(p))
    }

    #[test]
    fn parse_accepts_what_rfc_4861_accepts() {
        let ns = packet(CLIENT, GROUP, &PACKET_BYTES, 255);
        assert_eq!(
            parsed(&ns),
            Ok(Ndp::Solicit {
                target: VIP,
                src_ll: Some(CLIENT_MAC)
            })
        );
        // Duplicate address detection: from ::, no option.
        let dad = packet(Ipv6Addr::UNSPECIFIED, GROUP, &PACKET_BYTES[..24], 255);
        assert_eq!(
            parsed(&dad),
            Ok(Ndp::Solicit {
                target: VIP,
                src_ll: None
            })
        );
        // A unicast probe without the option.
        let probe = packet(CLIENT, VIP, &PACKET_BYTES[..24], 255);
        assert!(matches!(
            parsed(&probe),
            Ok(Ndp::Solicit { src_ll: None, .. })
        ));
        let mut na = PACKET_BYTES;
        na[0] = msg::NEIGHBOR_ADVERT;
        na[4] = flags::SOLICITED | flags::OVERRIDE | 0x1f;
        na[24] = option::TARGET_LL;
        let reply = packet(VIP, CLIENT, &na, 255);
        assert_eq!(
            parsed(&reply),
            Ok(Ndp::Advert {
                target: VIP,
                flags: flags::SOLICITED | flags::OVERRIDE,
                target_ll: Some(CLIENT_MAC)
            })
        );
    }

    #[test]
    fn parse_rejects_what_rfc_4861_rejects() {
        let mut na = PACKET_BYTES;
        na[0] = msg::NEIGHBOR_ADVERT;
        na[4] = flags::SOLICITED;
        na[24] = option::TARGET_LL;
        let mut bad_code = PACKET_BYTES;
        bad_code[1] = 1;
        let mut mc_target = PACKET_BYTES;
        mc_target[8..24].copy_from_slice(&GROUP.octets());
        let mut zero_opt = PACKET_BYTES;
        zero_opt[25] = 0;
        let mut echo = PACKET_BYTES;
        echo[0] = msg::ECHO_REQUEST;
        let any = Ipv6Addr::UNSPECIFIED;
        let cases = [
            (packet(CLIENT, GROUP, &PACKET_BYTES, 64), Invalid::HopLimit),
            (packet(CLIENT, GROUP, &bad_code, 255), Invalid::Code),
            (
                packet(CLIENT, GROUP, &PACKET_BYTES[..23], 255),
                Invalid::TooShort,
            ),
            (
                packet(CLIENT, GROUP, &mc_target, 255),
                Invalid::MulticastTarget,
            ),
            (packet(CLIENT, GROUP, &zero_opt, 255), Invalid::BadOption),
            (
                packet(any, GROUP, &PACKET_BYTES, 255),
                Invalid::DadWithSourceLl,
            ),
            (
                packet(any, VIP, &PACKET_BYTES[..24], 255),
                Invalid::DadNotToSolicitedNode,
            ),
            (
                packet(VIP, ipv6::ALL_NODES, &na, 255),
                Invalid::SolicitedToMulticast,
            ),
            (packet(CLIENT, VIP, &echo, 255), Invalid::NotNeighbor),
        ];
        for (p, why) in cases {
            assert_eq!(parsed(&p), Err(why), "{}", why.name());
        }
        // A wrong checksum.
        let mut p = packet(CLIENT, GROUP, &PACKET_BYTES, 255);
        p[42] ^= 1;
        assert_eq!(parsed(&p), Err(Invalid::Checksum));
        // Behind a fragment header, or in a truncated packet.
        let mut frag = packet(
            CLIENT,
            GROUP,
            &[[58, 0, 0, 0, 0, 0, 0, 0].as_slice(), &PACKET_BYTES].concat(),
            255,
        );
        frag[6] = next_header::FRAGMENT;
        assert_eq!(parsed(&frag), Err(Invalid::Header(ExtError::Fragment)));
        let ns = packet(CLIENT, GROUP, &PACKET_BYTES, 255);
        assert_eq!(parsed(&ns[..60]), Err(Invalid::Malformed));
    }

    fn frame_parts(f: &[u8]) -> (Mac, Mac, Vec<u8>) {
        let eth = EthernetFrame::new_checked(f).expect("frame");
        assert_eq!(eth.ethertype(), ethernet::ethertype::IPV6);
        (eth.src(), eth.dst(), eth.payload().to_vec())
    }

    /// smoltcp's reading of the message in `ip`, checksum checked.
    fn theirs(ip: &[u8]) -> NdiscRepr<'static> {
        let ip6 = smoltcp::wire::Ipv6Packet::new_checked(ip).expect("ipv6");
        assert_eq!(ip6.hop_limit(), 255);
        let icmp = smoltcp::wire::Icmpv6Packet::new_checked(ip6.payload()).expect("icmp");
        let repr = Icmpv6Repr::parse(
            &ip6.src_addr(),
            &ip6.dst_addr(),
            &icmp,
            &ChecksumCapabilities::default(),
        );
        match repr {
            Ok(Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit {
                target_addr,
                lladdr,
            })) => NdiscRepr::NeighborSolicit {
                target_addr,
                lladdr,
            },
            Ok(Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert {
                flags,
                target_addr,
                lladdr,
            })) => NdiscRepr::NeighborAdvert {
                flags,
                target_addr,
                lladdr,
            },
            other => panic!("not a neighbor message: {other:?}"),
        }
    }

    fn ll(mac: Mac) -> Option<RawHardwareAddress> {
        Some(RawHardwareAddress::from_bytes(&mac.0))
    }

    #[test]
    fn emit_solicit_multicast_unicast_and_dad() {
        let mut buf = [0xa5; 128];
        let len = emit_solicit(&mut buf, (CLIENT_MAC, CLIENT), VIP, None).expect("fits");
        assert_eq!(len, 86);
        assert!(buf[len..].iter().all(|&b| b == 0xa5));
        let (src, dst, ip) = frame_parts(&buf[..len]);
        assert_eq!(
            (src, dst),
            (CLIENT_MAC, Mac([0x33, 0x33, 0xff, 0, 0x01, 0x10]))
        );
        assert_eq!(&ip[40..], &PACKET_BYTES, "the fixture, byte for byte");
        let ip6 = Ipv6Packet::new_checked(&ip[..]).expect("ipv6");
        assert_eq!((ip6.src(), ip6.dst()), (CLIENT, GROUP));
        assert_eq!(
            theirs(&ip),
            NdiscRepr::NeighborSolicit {
                target_addr: VIP,
                lladdr: ll(CLIENT_MAC)
            }
        );
        assert_eq!(
            parsed(&ip),
            Ok(Ndp::Solicit {
                target: VIP,
                src_ll: Some(CLIENT_MAC)
            })
        );

        let len = emit_solicit(&mut buf, (OUR_MAC, VIP), CLIENT, Some(CLIENT_MAC)).expect("fits");
        let (src, dst, ip) = frame_parts(&buf[..len]);
        assert_eq!((src, dst), (OUR_MAC, CLIENT_MAC));
        let ip6 = Ipv6Packet::new_checked(&ip[..]).expect("ipv6");
        assert_eq!(ip6.dst(), CLIENT, "a probe goes to the neighbor itself");
        assert_eq!(
            parsed(&ip),
            Ok(Ndp::Solicit {
                target: CLIENT,
                src_ll: Some(OUR_MAC)
            })
        );

        let len =
            emit_solicit(&mut buf, (OUR_MAC, Ipv6Addr::UNSPECIFIED), VIP, None).expect("fits");
        assert_eq!(len, 78);
        let (_, _, ip) = frame_parts(&buf[..len]);
        assert_eq!(
            theirs(&ip),
            NdiscRepr::NeighborSolicit {
                target_addr: VIP,
                lladdr: None
            }
        );
        assert_eq!(
            parsed(&ip),
            Ok(Ndp::Solicit {
                target: VIP,
                src_ll: None
            })
        );
        assert_eq!(
            emit_solicit(&mut buf[..85], (OUR_MAC, VIP), CLIENT, None),
            None
        );
    }

    #[test]
    fn emit_advert_replies_and_announces() {
        let mut buf = [0xa5; 128];
        // A reply to the client's solicitation.
        let len =
            emit_advert(&mut buf, OUR_MAC, VIP, Some((CLIENT, CLIENT_MAC)), false).expect("fits");
        assert_eq!(len, 86);
        let (src, dst, ip) = frame_parts(&buf[..len]);
        assert_eq!((src, dst), (OUR_MAC, CLIENT_MAC));
        let ip6 = Ipv6Packet::new_checked(&ip[..]).expect("ipv6");
        assert_eq!((ip6.src(), ip6.dst()), (VIP, CLIENT));
        assert_eq!(
            theirs(&ip),
            NdiscRepr::NeighborAdvert {
                flags: NdiscNeighborFlags::SOLICITED | NdiscNeighborFlags::OVERRIDE,
                target_addr: VIP,
                lladdr: ll(OUR_MAC)
            }
        );
        let flags_so = flags::SOLICITED | flags::OVERRIDE;
        assert_eq!(
            parsed(&ip),
            Ok(Ndp::Advert {
                target: VIP,
                flags: flags_so,
                target_ll: Some(OUR_MAC)
            })
        );

        // Unsolicited, and the reply to a DAD probe: all nodes, no S.
        for to in [None, Some((Ipv6Addr::UNSPECIFIED, CLIENT_MAC))] {
            let len = emit_advert(&mut buf, OUR_MAC, VIP, to, true).expect("fits");
            let (_, dst, ip) = frame_parts(&buf[..len]);
            assert_eq!(dst, Mac([0x33, 0x33, 0, 0, 0, 1]));
            let ip6 = Ipv6Packet::new_checked(&ip[..]).expect("ipv6");
            assert_eq!(ip6.dst(), ipv6::ALL_NODES);
            assert_eq!(
                theirs(&ip),
                NdiscRepr::NeighborAdvert {
                    flags: NdiscNeighborFlags::ROUTER | NdiscNeighborFlags::OVERRIDE,
                    target_addr: VIP,
                    lladdr: ll(OUR_MAC)
                }
            );
            let flags_ro = flags::ROUTER | flags::OVERRIDE;
            assert_eq!(
                parsed(&ip),
                Ok(Ndp::Advert {
                    target: VIP,
                    flags: flags_ro,
                    target_ll: Some(OUR_MAC)
                })
            );
        }
        assert_eq!(emit_advert(&mut buf[..85], OUR_MAC, VIP, None, false), None);
    }

    #[test]
    fn neighbor_types() {
        for ty in 0..=u8::MAX {
            assert_eq!(is_neighbor_msg(ty), ty == 135 || ty == 136);
        }
    }
}
