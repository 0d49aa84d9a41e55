//! The first step of every received frame: count it, check the Ethernet and IP
//! headers with the `wire` views, and send it on to the handler it belongs to —
//! ARP (`arp.rs`), ICMP (`icmp.rs`), TCP/UDP NAT (`nat.rs`); for IPv6 neighbor
//! discovery (`ndp.rs`), ICMPv6 (`icmp6.rs`), TCP/UDP NAT (`nat6.rs`) — or a
//! named drop.
//!
//! Everything a later step relies on is checked here, once: the frame is not
//! truncated, fits the MTU, carries a 20-byte IPv4 header with a good checksum
//! (IPv6: a consistent payload length and extension headers that lead to the
//! upper-layer header), is no fragment, has a complete TCP or UDP header with a
//! good checksum (unless the ring says it is partial, or already verified it),
//! and a TTL (hop limit) that survives forwarding.
//!
//! The usual frame of a flow takes a shorter road to the same place (`fast4`
//! for IPv4, `fast6` for IPv6 without extension headers): the same checks,
//! in one pass over fixed offsets of its first 42 (62) bytes, yes or no;
//! every other frame, and any they decline, the general path.

use super::nat6::Segment6;
use super::tx::TxPair;
use super::worker::Core;
use crate::Nic;
use crate::io::{RxMeta, TxQueue};
use crate::stats::Ctr;
use crate::wire::ethernet::{self, EthernetFrame};
use crate::wire::ipv4::{self, Ipv4Packet, protocol};
use crate::wire::ipv6::{self, ExtError, Ipv6Packet, next_header};
use crate::wire::{Mac, SctpPacket, TcpPacket, UdpPacket, checksum, tcp, udp};
use std::net::{Ipv4Addr, Ipv6Addr};

/// A TCP segment or UDP datagram that passed every check of [`Core::ipv4`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Segment<'a> {
    /// The frame as it really is: Ethernet + the IPv4 total length (no padding).
    pub frame: &'a [u8],
    pub proto: u8,
    pub src: u32,
    pub dst: u32,
    pub sport: u16,
    pub dport: u16,
    /// TCP flags (0 for UDP).
    pub flags: u8,
    /// The L4 checksum is partial (see [`RxMeta::csum_partial`]).
    pub partial: bool,
}

impl Segment<'_> {
    /// The IP packet's length (what per-server byte counters count).
    #[inline]
    pub fn ip_len(&self) -> u64 {
        (self.frame.len() - ethernet::HEADER_LEN) as u64
    }
}

/// Ports and TCP flags of a TCP or UDP header, if it is complete and consistent
/// (also the burst prefetch's, `batch.rs`); of SCTP, the ports and the
/// packet's event (`nat::state::sctp_event`) in place of the flags.
#[inline]
pub(super) fn ports(proto: u8, l4: &[u8]) -> Option<(u16, u16, u8)> {
    if proto == protocol::TCP {
        let tcp = TcpPacket::new_checked(l4).ok()?;
        Some((tcp.src_port(), tcp.dst_port(), tcp.flags()))
    } else if proto == protocol::SCTP {
        let p = SctpPacket::new_checked(l4).ok()?;
        Some((
            p.src_port(),
            p.dst_port(),
            crate::nat::state::sctp_event(&p),
        ))
    } else {
        let udp = UdpPacket::new_checked(l4).ok()?;
        Some((udp.src_port(), udp.dst_port(), 0))
    }
}

/// [`Core::handle_frame`]'s checks of a frame the fast paths take: to `mac`,
/// of `ethertype`, whole (the ring kept all of it), within `mtu`, in no VLAN
/// (a priority tag, VLAN id 0, is taken: [`RxMeta::in_vlan`]).
/// `data` holds at least the Ethernet header.
#[inline(always)]
fn fast_eth(data: &[u8], meta: RxMeta, (mac, mtu): (Mac, usize), ethertype: u16) -> bool {
    let len = data.len();
    data[..6] == mac.0
        && u16::from_be_bytes([data[12], data[13]]) == ethertype
        && meta.wire_len as usize <= len
        && len <= mtu + ethernet::HEADER_LEN
        && !meta.in_vlan()
}

/// [`ports`]' checks at fixed offsets, for the fast paths: the TCP flags
/// (0 for UDP) if `l4` holds a complete TCP header (its data offset inside
/// `l4`) or UDP header (its length inside `l4`).
#[inline(always)]
fn fast_flags(proto: u8, l4: &[u8]) -> Option<u8> {
    match proto {
        protocol::TCP => {
            let tcp = l4.first_chunk::<{ tcp::HEADER_LEN }>()?;
            let off = usize::from(tcp[12] >> 4) * 4;
            (tcp::HEADER_LEN..=l4.len())
                .contains(&off)
                .then_some(tcp[13])
        }
        protocol::UDP => {
            let udp = l4.first_chunk::<{ udp::HEADER_LEN }>()?;
            let ulen = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
            (udp::HEADER_LEN..=l4.len()).contains(&ulen).then_some(0)
        }
        _ => None,
    }
}

/// The usual frame, checked in one pass at fixed offsets: a TCP segment or
/// UDP datagram to `mac` in an unfragmented IPv4 packet without options,
/// that every check of [`Core::handle_frame`] and [`Core::ipv4`] passes (not
/// truncated, within `mtu`, no VLAN tag, a consistent total length, a good
/// header checksum, a complete TCP or UDP header, a good L4 checksum unless
/// the ring vouched for it or it is partial, a TTL that survives forwarding).
/// Those two walk the headers through the `wire` views, one accessor and one
/// bounds check at a time, and name the reason of every drop; this reads the
/// first 42 bytes once and answers only yes or no. `None` is not a verdict:
/// the frame then takes the general path, which finds out what it is (ARP,
/// ICMP, IPv6, a drop) and counts it. So this must never accept a frame the
/// general path would not hand to NAT as the same [`Segment`] (the test
/// `fast_path_accepts_what_the_general_path_accepts`).
#[inline(always)]
fn fast4(data: &[u8], meta: RxMeta, mac: Mac, mtu: usize) -> Option<Segment<'_>> {
    const IP: usize = ethernet::HEADER_LEN;
    const L4: usize = IP + ipv4::HEADER_LEN;
    let h: &[u8; L4 + udp::HEADER_LEN] = data.first_chunk()?;
    let be16 = |at: usize| u16::from_be_bytes([h[at], h[at + 1]]);
    let be32 = |at: usize| u32::from_be_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
    let len = data.len();
    let total = usize::from(be16(IP + 2));
    // Ethernet: to us, IPv4, whole, within the MTU, untagged. IPv4: version
    // 4 and a 20-byte header, its total length inside the frame, no
    // fragment, a TTL above 1.
    if !fast_eth(data, meta, (mac, mtu), ethernet::ethertype::IPV4)
        || h[IP] != 0x45
        || total < ipv4::HEADER_LEN
        || IP + total > len
        || be16(IP + 6) & 0x3fff != 0
        || h[IP + 8] <= 1
    {
        return None;
    }
    let proto = h[IP + 9];
    let l4 = &data[L4..IP + total];
    let flags = fast_flags(proto, l4)?;
    // The header checksum: its five words summed in line.
    let (src, dst) = (be32(IP + 12), be32(IP + 16));
    let words = [be32(IP), be32(IP + 4), be32(IP + 8), src, dst];
    let acc: u64 = words.iter().map(|&w| u64::from(w)).sum();
    if checksum::fold(checksum::combine((acc >> 32) as u32, acc as u32)) != 0xffff {
        return None;
    }
    if !meta.csum_partial && !meta.csum_valid && !l4_checksum_ok(proto, src, dst, l4) {
        return None;
    }
    Some(Segment {
        frame: &data[..IP + total],
        proto,
        src,
        dst,
        sport: be16(L4),
        dport: be16(L4 + 2),
        flags,
        partial: meta.csum_partial,
    })
}

/// [`fast4`] for IPv6: a TCP segment or UDP datagram straight after the
/// fixed header (no extension header), to `mac`, that every check of
/// [`Core::handle_frame`], [`Core::ipv6_frame`] and [`Core::ipv6`] passes:
/// not truncated, within `mtu`, untagged, a payload length inside the
/// frame, a source neither multicast nor unspecified, a complete TCP or UDP
/// header, a good L4 checksum unless the ring vouched for it or it is
/// partial (and never UDP's 0, RFC 8200 §8.1), a hop limit above 1. Read
/// from the frame's first 62 bytes in one pass; `None` sends the frame down
/// the general path (extension headers, ICMPv6 and neighbor discovery
/// included), which names what it is.
#[inline(always)]
fn fast6(data: &[u8], meta: RxMeta, mac: Mac, mtu: usize) -> Option<Segment6<'_>> {
    const IP: usize = ethernet::HEADER_LEN;
    const L4: usize = IP + ipv6::HEADER_LEN;
    let h: &[u8; L4 + udp::HEADER_LEN] = data.first_chunk()?;
    let be16 = |at: usize| u16::from_be_bytes([h[at], h[at + 1]]);
    let addr = |at: usize| {
        let mut a = [0u8; 16];
        a.copy_from_slice(&h[at..at + 16]);
        Ipv6Addr::from(a)
    };
    let len = data.len();
    let total = ipv6::HEADER_LEN + usize::from(be16(IP + 4));
    if !fast_eth(data, meta, (mac, mtu), ethernet::ethertype::IPV6)
        || h[IP] >> 4 != 6
        || IP + total > len
        || h[IP + 7] <= 1
    {
        return None;
    }
    let (proto, src, dst) = (h[IP + 6], addr(IP + 8), addr(IP + 24));
    if src.is_multicast() || src.is_unspecified() {
        return None;
    }
    let l4 = &data[L4..IP + total];
    let flags = fast_flags(proto, l4)?;
    let zero_udp = proto == protocol::UDP && be16(L4 + 6) == 0;
    if !meta.csum_partial && (zero_udp || !meta.csum_valid && !l4_checksum_ok6(proto, src, dst, l4))
    {
        return None;
    }
    Some(Segment6 {
        frame: &data[..IP + total],
        l4_off: L4,
        proto,
        src,
        dst,
        sport: be16(L4),
        dport: be16(L4 + 2),
        flags,
        partial: meta.csum_partial,
    })
}

/// [`checksum::l4_ok`] of IPv4 addresses as the frame holds them.
#[inline]
fn l4_checksum_ok(proto: u8, src: u32, dst: u32, l4: &[u8]) -> bool {
    checksum::l4_ok(proto, Ipv4Addr::from(src), Ipv4Addr::from(dst), l4)
}

use checksum::l4_ok_v6 as l4_checksum_ok6;

/// Whether `mac` is a multicast group an IPv6 node on Ethernet listens to
/// for neighbor discovery: a solicited-node group (33:33:ff:…, RFC 4291
/// §2.7.1 mapped by RFC 2464 §7; which of them are ours is known only from
/// the target of the solicitation inside), all nodes or all routers.
#[inline]
fn is_ndp_group(mac: Mac) -> bool {
    let m = mac.0;
    m[..2] == [0x33, 0x33] && (m[2] == 0xff || (m[2..5] == [0, 0, 0] && (m[5] == 1 || m[5] == 2)))
}

impl Core {
    /// Handle one received frame; what it sends goes into `tx`.
    #[inline]
    pub fn handle<T: TxQueue>(
        &mut self,
        nic: Nic,
        data: &[u8],
        meta: RxMeta,
        handed: bool,
        tx: &mut TxPair<T>,
    ) {
        if self.snap.tap.is_some() {
            return self.handle_tapped(nic, data, meta, handed, tx);
        }
        self.handle_frame(nic, data, meta, handed, tx)
    }

    #[inline]
    pub(super) fn handle_frame<T: TxQueue>(
        &mut self,
        nic: Nic,
        data: &[u8],
        meta: RxMeta,
        handed: bool,
        tx: &mut TxPair<T>,
    ) {
        if !handed {
            self.ctr.inc(match nic {
                Nic::Ext => Ctr::RxExt,
                Nic::Int => Ctr::RxInt,
            });
            self.ctr.add(Ctr::rx_bytes(nic), data.len() as u64);
            if meta.csum_partial {
                self.ctr.inc(Ctr::RxCsumPartial);
            }
        }
        // The usual frame of a flow, checked in one pass (`fast4`, `fast6`);
        // anything else, and every frame of a standby or in `--io-only`, below.
        if !self.sync.standby && !self.env.io_only {
            let (mac, mtu) = (self.env.mac[nic as usize], self.env.mtu[nic as usize]);
            match data.get(12..14) {
                Some(&[0x08, 0x00]) => {
                    if let Some(seg) = fast4(data, meta, mac, mtu) {
                        return self.segment4(nic, seg, handed, tx);
                    }
                }
                Some(&[0x86, 0xdd]) if self.env.ipv6() => {
                    if let Some(seg) = fast6(data, meta, mac, mtu) {
                        return self.segment6(nic, seg, handed, tx);
                    }
                }
                _ => {}
            }
        }
        if (meta.wire_len as usize) > data.len() || data.len() < ethernet::HEADER_LEN {
            return self.ctr.inc(Ctr::DropTruncated);
        }
        if data.len() > self.env.mtu[nic as usize] + ethernet::HEADER_LEN {
            return self.ctr.inc(Ctr::DropOversize);
        }
        if meta.in_vlan() {
            return self.ctr.inc(Ctr::DropVlan);
        }
        let eth = EthernetFrame::new_unchecked(data);
        let to_us = eth.dst() == self.env.mac[nic as usize];
        match eth.ethertype() {
            ethernet::ethertype::ARP if to_us || eth.dst().is_broadcast() => {
                self.arp(nic, eth.payload(), &mut tx[nic])
            }
            // A standby forwards nothing and answers no ping (`sync.rs`).
            ethernet::ethertype::IPV4 if to_us && self.sync.standby => {
                self.ctr.inc(Ctr::DropStandby)
            }
            ethernet::ethertype::IPV4 if to_us && self.env.io_only => {
                self.io_only(nic, data, meta, tx)
            }
            ethernet::ethertype::IPV4 if to_us => self.ipv4(nic, data, meta, handed, tx),
            ethernet::ethertype::ARP | ethernet::ethertype::IPV4 => self.ctr.inc(Ctr::DropNotForUs),
            ethernet::ethertype::IPV6 if to_us && self.env.io_only && self.env.ipv6() => {
                self.io_only6(nic, data, (meta, handed), tx)
            }
            ethernet::ethertype::IPV6 => self.ipv6_frame(nic, data, meta, handed, tx),
            ethernet::ethertype::VLAN => self.ctr.inc(Ctr::DropVlan),
            _ => self.ctr.inc(Ctr::DropEthertype),
        }
    }

    /// An IPv4 packet to our MAC: validate, then ICMP or TCP/UDP NAT.
    fn ipv4<T: TxQueue>(
        &mut self,
        nic: Nic,
        data: &[u8],
        meta: RxMeta,
        handed: bool,
        tx: &mut TxPair<T>,
    ) {
        let Ok(ip) = Ipv4Packet::new_checked(&data[ethernet::HEADER_LEN..]) else {
            return self.ctr.inc(Ctr::DropIpMalformed);
        };
        if ip.header_len() != ipv4::HEADER_LEN {
            return self.ctr.inc(Ctr::DropIpOptions);
        }
        if !ip.verify_checksum() {
            return self.ctr.inc(Ctr::DropIpChecksum);
        }
        let (src, dst, proto) = (ip.src_raw(), ip.dst_raw(), ip.protocol());
        let frame = &data[..ethernet::HEADER_LEN + usize::from(ip.total_len())];
        if ip.is_fragment() {
            // A checksum left to an offload cannot be completed from one
            // fragment, and no sender leaves one: the kernel completes it
            // before it fragments (`ip_do_fragment`, `skb_checksum_help`).
            if meta.csum_partial {
                return self.ctr.inc(Ctr::DropFragment);
            }
            // TCP/UDP/SCTP to forward, or an echo request to us (`frag.rs`).
            let piece = super::frag_table::Piece::v4(nic, frame);
            return match proto {
                protocol::TCP | protocol::UDP | protocol::SCTP if ip.ttl() <= 1 => {
                    self.ctr.inc(Ctr::DropTtl)
                }
                protocol::TCP | protocol::UDP | protocol::SCTP => {
                    self.fragment_in(nic, frame, (piece, self.frags.via), tx)
                }
                protocol::ICMP if self.is_ours(nic, dst) => {
                    self.fragment_in(nic, frame, (piece, self.frags.via), tx)
                }
                _ => self.ctr.inc(Ctr::DropFragment),
            };
        }
        if proto == protocol::ICMP {
            return self.icmp(nic, frame, &ip, handed, tx);
        }
        if proto != protocol::TCP && proto != protocol::UDP && proto != protocol::SCTP {
            return self.ctr.inc(if self.is_ours(nic, dst) {
                Ctr::DropProto
            } else {
                Ctr::DropNoService
            });
        }
        let l4 = ip.payload();
        let Some((sport, dport, flags)) = ports(proto, l4) else {
            return self.ctr.inc(Ctr::DropL4Malformed);
        };
        // Steering (AF_XDP on several queues): the owner of the client key
        // checks the rest, once.
        if !handed {
            let client = match nic {
                Nic::Ext => (src, sport),
                Nic::Int => (dst, dport),
            };
            if let Some(owner) = self.steer_to(client) {
                return self.hand_off(owner, nic, frame, meta.csum_partial);
            }
        }
        // A damaged segment is not forwarded (nor allowed to create a connection).
        // A deliberate difference, as hardening: IPVS verifies TCP/UDP checksums
        // only for connections with an application helper (`ip_vs_proto_tcp.c`:
        // `tcp_dnat_handler`, `tcp_snat_handler`; `ip_vs_proto_udp.c`:
        // `udp_dnat_handler`, `udp_snat_handler`, which call `*_csum_check` only
        // with `cp->app`; SCTP's CRC32c likewise, `ip_vs_proto_sctp.c`:
        // `sctp_dnat_handler`, `sctp_snat_handler`) and otherwise patches the
        // checksum incrementally, so it forwards a damaged segment still damaged
        // (an SCTP packet whose port changes, with a new and good CRC). Partial checksums are
        // completed later; checksums the ring marked verified
        // (`TP_STATUS_CSUM_VALID`) are not summed a second time.
        if !meta.csum_partial && !meta.csum_valid && !l4_checksum_ok(proto, src, dst, l4) {
            return self.ctr.inc(Ctr::DropL4Checksum);
        }
        let seg = Segment {
            frame,
            proto,
            src,
            dst,
            sport,
            dport,
            flags,
            partial: meta.csum_partial,
        };
        // Before scheduling: a packet that cannot be forwarded must not create a
        // connection (nor move the scheduler or the gauges).
        if ip.ttl() <= 1 {
            return self.ttl_expired(nic, super::family::Seg::from(seg), tx);
        }
        match nic {
            Nic::Ext => self.nat_in(seg, tx),
            Nic::Int => self.nat_out(seg, tx),
        }
    }

    /// A segment [`fast4`] accepted: to its owner (AF_XDP on several queues),
    /// or NAT.
    #[inline(always)]
    fn segment4<T: TxQueue>(
        &mut self,
        nic: Nic,
        seg: Segment<'_>,
        handed: bool,
        tx: &mut TxPair<T>,
    ) {
        if !handed {
            let client = match nic {
                Nic::Ext => (seg.src, seg.sport),
                Nic::Int => (seg.dst, seg.dport),
            };
            if let Some(owner) = self.steer_to(client) {
                return self.hand_off(owner, nic, seg.frame, seg.partial);
            }
        }
        match nic {
            Nic::Ext => self.nat_in(seg, tx),
            Nic::Int => self.nat_out(seg, tx),
        }
    }

    /// A segment [`fast6`] accepted: counted as IPv6 (as
    /// [`Core::ipv6_frame`] counts it), then to its owner or NAT.
    #[inline(always)]
    fn segment6<T: TxQueue>(
        &mut self,
        nic: Nic,
        seg: Segment6<'_>,
        handed: bool,
        tx: &mut TxPair<T>,
    ) {
        if !handed {
            self.ctr.inc(Ctr::RxIpv6);
            let client = match nic {
                Nic::Ext => (seg.src, seg.sport),
                Nic::Int => (seg.dst, seg.dport),
            };
            if let Some(owner) = self.steer_to6(client) {
                return self.hand_off(owner, nic, seg.frame, seg.partial);
            }
        }
        match nic {
            Nic::Ext => self.nat_in6(seg, tx),
            Nic::Int => self.nat_out6(seg, tx),
        }
    }

    /// An IPv6 frame, to our MAC or to a neighbor discovery group: with IPv6
    /// on, counted and checked by [`Core::ipv6`]; without, a frame of a
    /// protocol the director does not speak. Out of line, so that the IPv4
    /// path around it stays as it was.
    #[inline(never)]
    pub(super) fn ipv6_frame<T: TxQueue>(
        &mut self,
        nic: Nic,
        data: &[u8],
        meta: RxMeta,
        handed: bool,
        tx: &mut TxPair<T>,
    ) {
        let dst = EthernetFrame::new_unchecked(data).dst();
        let group = dst != self.env.mac[nic as usize];
        if group && !is_ndp_group(dst) {
            return self.ctr.inc(Ctr::DropNotForUs);
        }
        if !self.env.ipv6() {
            return self.ctr.inc(Ctr::DropEthertype);
        }
        if !handed {
            self.ctr.inc(Ctr::RxIpv6);
        }
        self.ipv6(nic, data, meta, (handed, group), tx)
    }

    /// An IPv6 packet to us (`group`: to a multicast group, where only neighbor
    /// discovery concerns us): validate, then neighbor discovery and ICMPv6, or
    /// TCP/UDP NAT. A standby handles only neighbor discovery (it learns what
    /// it hears, answers nothing).
    fn ipv6<T: TxQueue>(
        &mut self,
        nic: Nic,
        data: &[u8],
        meta: RxMeta,
        (handed, group): (bool, bool),
        tx: &mut TxPair<T>,
    ) {
        let Ok(ip) = Ipv6Packet::new_checked(&data[ethernet::HEADER_LEN..]) else {
            return self.ctr.inc(Ctr::DropIpMalformed);
        };
        // Link-layer padding cut off: everything below sees the packet only.
        let frame = &data[..ethernet::HEADER_LEN + ip.total_len()];
        let ip = Ipv6Packet::new_unchecked(&frame[ethernet::HEADER_LEN..]);
        let up = match ip.upper_layer() {
            Ok(up) => up,
            // An atomic fragment: the whole packet it is (`frag::atomic6`).
            Err(ExtError::Fragment) => match super::frag::atomic6(frame) {
                Some(Some(up)) => up,
                None if !meta.csum_partial => return self.fragment6(nic, frame, group, tx),
                // Neighbor or router discovery in one, or (as for IPv4,
                // above) a partial checksum.
                _ => return self.ctr.inc(Ctr::DropFragment),
            },
            Err(ExtError::UnknownOption) => return self.unknown_option(nic, frame, group, tx),
            Err(_) => return self.ctr.inc(Ctr::DropExtHeader),
        };
        let (src, dst, proto) = (ip.src(), ip.dst(), up.protocol);
        // RFC 4291 §2.7: a multicast address is never a source.
        if src.is_multicast() {
            return self.ctr.inc(Ctr::DropBadSource);
        }
        let l4_off = ethernet::HEADER_LEN + up.offset;
        if proto == next_header::ICMPV6 {
            return self.icmp6(nic, frame, l4_off, (handed, group), tx);
        }
        if group {
            return self.ctr.inc(Ctr::DropNotForUs);
        }
        // A standby forwards nothing (`sync.rs`).
        if self.sync.standby {
            return self.ctr.inc(Ctr::DropStandby);
        }
        // The unspecified address is only a source of duplicate address
        // detection (RFC 4291 §2.5.2), never of a connection.
        if src.is_unspecified() {
            return self.ctr.inc(Ctr::DropBadSource);
        }
        if proto != protocol::TCP && proto != protocol::UDP && proto != protocol::SCTP {
            return self.ctr.inc(if self.is_ours6(nic, dst) {
                Ctr::DropProto
            } else {
                Ctr::DropNoService
            });
        }
        let l4 = &frame[l4_off..];
        let Some((sport, dport, flags)) = ports(proto, l4) else {
            return self.ctr.inc(Ctr::DropL4Malformed);
        };
        // Steering, as for IPv4: the owner of the client key checks the rest.
        if !handed {
            let client = match nic {
                Nic::Ext => (src, sport),
                Nic::Int => (dst, dport),
            };
            if let Some(owner) = self.steer_chain6(client, up.offset) {
                return self.hand_off(owner, nic, frame, meta.csum_partial);
            }
        }
        // As for IPv4 (see there). A UDP checksum of 0 is refused even when
        // the ring vouched for the datagram: over IPv6 it means a sender that
        // skipped a mandatory checksum, not "none" (RFC 8200 §8.1).
        let zero_udp = proto == protocol::UDP && UdpPacket::new_unchecked(l4).checksum() == 0;
        if !meta.csum_partial
            && (zero_udp || !meta.csum_valid && !l4_checksum_ok6(proto, src, dst, l4))
        {
            return self.ctr.inc(Ctr::DropL4Checksum);
        }
        let seg = Segment6 {
            frame,
            l4_off,
            proto,
            src,
            dst,
            sport,
            dport,
            flags,
            partial: meta.csum_partial,
        };
        if ip.hop_limit() <= 1 {
            return self.ttl_expired(nic, seg, tx);
        }
        match nic {
            Nic::Ext => self.nat_in6(seg, tx),
            Nic::Int => self.nat_out6(seg, tx),
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use proptest::prelude::*;

    const MAC: Mac = Mac([0x02, 0, 0, 0, 0, 1]);
    const MTU: usize = 1500;

    /// [`Core::handle_frame`]'s checks before the IP header: whole, within
    /// the MTU, untagged, to `MAC`, of `ethertype`.
    fn to_us(data: &[u8], meta: RxMeta, ethertype: u16) -> bool {
        let whole = meta.wire_len as usize <= data.len() && data.len() >= ethernet::HEADER_LEN;
        let fits = data.len() <= MTU + ethernet::HEADER_LEN && !meta.in_vlan();
        let eth = EthernetFrame::new_unchecked(data);
        whole && fits && eth.dst() == MAC && eth.ethertype() == ethertype
    }

    /// What [`Core::handle_frame`] and [`Core::ipv4`] hand to NAT, step by
    /// step through the `wire` views as they take it (steering aside, which
    /// only decides which worker goes on with the same segment).
    fn general(data: &[u8], meta: RxMeta) -> Option<Segment<'_>> {
        if !to_us(data, meta, ethernet::ethertype::IPV4) {
            return None;
        }
        let ip = Ipv4Packet::new_checked(&data[ethernet::HEADER_LEN..]).ok()?;
        if ip.header_len() != ipv4::HEADER_LEN || !ip.verify_checksum() || ip.is_fragment() {
            return None;
        }
        let (src, dst, proto) = (ip.src_raw(), ip.dst_raw(), ip.protocol());
        let frame = &data[..ethernet::HEADER_LEN + usize::from(ip.total_len())];
        if proto != protocol::TCP && proto != protocol::UDP {
            return None;
        }
        let l4 = ip.payload();
        let (sport, dport, flags) = ports(proto, l4)?;
        if !meta.csum_partial && !meta.csum_valid && !l4_checksum_ok(proto, src, dst, l4) {
            return None;
        }
        if ip.ttl() <= 1 {
            return None;
        }
        Some(Segment {
            frame,
            proto,
            src,
            dst,
            sport,
            dport,
            flags,
            partial: meta.csum_partial,
        })
    }

    /// A good frame to `MAC`: TCP (an ACK with `payload` bytes) or UDP, from
    /// 198.18.0.10:40000 to 198.18.0.110:80, padded with `pad` bytes of
    /// link-layer padding.
    fn frame(proto: u8, payload: usize, pad: usize) -> Vec<u8> {
        let l4_len = if proto == protocol::TCP { 20 } else { 8 } + payload;
        let total = 20 + l4_len;
        let mut f = vec![0u8; 14 + total + pad];
        f[..6].copy_from_slice(&MAC.0);
        f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 2]);
        f[12..14].copy_from_slice(&ethernet::ethertype::IPV4.to_be_bytes());
        let ip = &mut f[14..34];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        ip[6] = 0x40; // DF
        ip[8] = 64;
        ip[9] = proto;
        ip[12..16].copy_from_slice(&[198, 18, 0, 10]);
        ip[16..20].copy_from_slice(&[198, 18, 0, 110]);
        let c = checksum::fold(checksum::sum(ip));
        ip[10..12].copy_from_slice(&(!c).to_be_bytes());
        let l4 = &mut f[34..34 + l4_len];
        l4_body(l4, proto);
        let (src, dst) = (
            Ipv4Addr::new(198, 18, 0, 10),
            Ipv4Addr::new(198, 18, 0, 110),
        );
        if proto == protocol::TCP {
            TcpPacket::new_unchecked(l4).fill_checksum(src, dst);
        } else {
            UdpPacket::new_unchecked(l4).fill_checksum(src, dst);
        }
        f
    }

    /// A TCP ACK or UDP datagram header from port 40000 to 80 and its
    /// payload (bytes counting up), checksum left to the caller.
    fn l4_body(l4: &mut [u8], proto: u8) {
        l4[..2].copy_from_slice(&40000u16.to_be_bytes());
        l4[2..4].copy_from_slice(&80u16.to_be_bytes());
        let header = if proto == protocol::TCP { 20 } else { 8 };
        for (i, b) in l4.iter_mut().enumerate().skip(header) {
            *b = i as u8;
        }
        if proto == protocol::TCP {
            l4[12] = 5 << 4;
            l4[13] = 0x10; // ACK
        } else {
            let len = l4.len() as u16;
            l4[4..6].copy_from_slice(&len.to_be_bytes());
        }
    }

    fn meta(len: usize) -> RxMeta {
        RxMeta {
            wire_len: len as u32,
            ..RxMeta::default()
        }
    }

    #[test]
    fn fast_path_takes_the_usual_frames() {
        for proto in [protocol::TCP, protocol::UDP] {
            for (payload, pad) in [(0, 0), (0, 6), (100, 0), (1400, 0)] {
                let f = frame(proto, payload, pad);
                let m = meta(f.len());
                let seg = fast4(&f, m, MAC, MTU);
                assert!(seg.is_some(), "proto {proto}, payload {payload}, pad {pad}");
                assert_eq!(seg, general(&f, m));
                let seg = seg.expect("checked");
                assert_eq!(seg.frame.len(), f.len() - pad, "padding cut off");
                assert_eq!((seg.src, seg.dst), (0xc612_000a, 0xc612_006e));
                assert_eq!((seg.sport, seg.dport), (40000, 80));
                assert_eq!(seg.flags, if proto == protocol::TCP { 0x10 } else { 0 });
            }
        }
    }

    /// Frames built by `build` (TCP or UDP; no payload, some, or more than
    /// the MTU; padded or not) with up to four of their first `span` bytes
    /// changed (to values of `edges`, which sit on the checks' edges, or any;
    /// with `ipv4`, the header checksum then mostly made good again, so that
    /// the edits reach the checks behind it), maybe cut short, and any ring
    /// flags: `check` gives each its verdict (an error fails the test) and
    /// whether the fast path accepted it. Edits mostly miss the fields that
    /// matter, so many frames pass; fewer than 1000 of 20 000 would mean the
    /// test exercises little.
    fn over_edited_frames(
        build: fn(u8, usize, usize) -> Vec<u8>,
        (span, edges, ipv4): (usize, Vec<u8>, bool),
        check: impl Fn(&[u8], RxMeta) -> Result<bool, TestCaseError>,
    ) {
        let byte = prop_oneof![prop::sample::select(edges), any::<u8>()];
        let fields = (
            (any::<bool>(), 0usize..3, any::<bool>()),
            (
                prop::collection::vec((0..span, byte), 0..4),
                prop::bool::weighted(0.7),
            ),
            (
                prop_oneof![1usize..4, 1usize..90],
                prop::bool::weighted(0.2),
                any::<bool>(),
            ),
            (
                any::<bool>(),
                any::<bool>(),
                prop::bool::weighted(0.1),
                prop::bool::weighted(0.1),
            ),
        );
        let accepted = std::cell::Cell::new(0u32);
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(20_000));
        let outcome = runner.run(
            &fields,
            |((tcp, size, pad), (edits, fix), (cut, do_cut, on_wire), flags)| {
                let proto = if tcp { protocol::TCP } else { protocol::UDP };
                let mut f = build(proto, [0, 30, 1500][size], if pad { 6 } else { 0 });
                for (at, v) in edits {
                    if let Some(b) = f.get_mut(at) {
                        *b = v;
                    }
                }
                if ipv4 && fix {
                    f[24..26].fill(0);
                    let c = checksum::fold(checksum::sum(&f[14..34]));
                    f[24..26].copy_from_slice(&(!c).to_be_bytes());
                }
                // Cut short either by the ring (the wire length says more) or
                // on the wire (the IP length says more).
                let mut wire = f.len();
                if do_cut {
                    f.truncate(f.len().saturating_sub(cut));
                    if on_wire {
                        wire = f.len();
                    }
                }
                let (partial, valid, vlan, longer) = flags;
                let m = RxMeta {
                    wire_len: (wire + usize::from(longer)) as u32,
                    csum_partial: partial,
                    csum_valid: valid,
                    vlan: vlan.then_some(crate::io::VlanTag {
                        tpid: 0x8100,
                        tci: 100,
                    }),
                };
                if check(&f, m)? {
                    accepted.set(accepted.get() + 1);
                }
                Ok(())
            },
        );
        if let Err(e) = outcome {
            panic!("{e}");
        }
        let accepted = accepted.get();
        assert!(
            accepted > 1000,
            "only {accepted} of 20000 accepted: the test exercises little"
        );
    }

    /// The frames of [`over_edited_frames`], edited in their first 60
    /// bytes: the fast path gives what the general path gives, a segment or
    /// none.
    #[test]
    fn fast_path_accepts_what_the_general_path_accepts() {
        let edges = vec![
            0, 1, 2, 4, 5, 6, 8, 0x11, 0x20, 0x40, 0x45, 0x46, 0x50, 0xff,
        ];
        over_edited_frames(frame, (60, edges, true), |f, m| {
            let fast = fast4(f, m, MAC, MTU);
            prop_assert_eq!(fast, general(f, m));
            Ok(fast.is_some())
        });
    }

    /// What [`Core::ipv6_frame`] and [`Core::ipv6`] hand to NAT, as
    /// [`general`] for IPv4 (a frame to `MAC`, IPv6 on).
    fn general6(data: &[u8], meta: RxMeta) -> Option<Segment6<'_>> {
        if !to_us(data, meta, ethernet::ethertype::IPV6) {
            return None;
        }
        let ip = Ipv6Packet::new_checked(&data[ethernet::HEADER_LEN..]).ok()?;
        let frame = &data[..ethernet::HEADER_LEN + ip.total_len()];
        let ip = Ipv6Packet::new_unchecked(&frame[ethernet::HEADER_LEN..]);
        let up = ip.upper_layer().ok()?;
        let (src, dst, proto) = (ip.src(), ip.dst(), up.protocol);
        if src.is_multicast() || src.is_unspecified() {
            return None;
        }
        if proto != protocol::TCP && proto != protocol::UDP {
            return None;
        }
        let l4_off = ethernet::HEADER_LEN + up.offset;
        let l4 = &frame[l4_off..];
        let (sport, dport, flags) = ports(proto, l4)?;
        let zero_udp = proto == protocol::UDP && UdpPacket::new_unchecked(l4).checksum() == 0;
        if !meta.csum_partial
            && (zero_udp || !meta.csum_valid && !l4_checksum_ok6(proto, src, dst, l4))
        {
            return None;
        }
        if ip.hop_limit() <= 1 {
            return None;
        }
        Some(Segment6 {
            frame,
            l4_off,
            proto,
            src,
            dst,
            sport,
            dport,
            flags,
            partial: meta.csum_partial,
        })
    }

    /// [`frame`] over IPv6: from [2001:2::10]:40000 to [2001:2::110]:80.
    fn frame6(proto: u8, payload: usize, pad: usize) -> Vec<u8> {
        let l4_len = if proto == protocol::TCP { 20 } else { 8 } + payload;
        let mut f = vec![0u8; 14 + 40 + l4_len + pad];
        f[..6].copy_from_slice(&MAC.0);
        f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 2]);
        f[12..14].copy_from_slice(&ethernet::ethertype::IPV6.to_be_bytes());
        let (src, dst) = (
            Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0x10),
            Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0x110),
        );
        let ip = &mut f[14..54];
        ip[0] = 0x60;
        ip[4..6].copy_from_slice(&(l4_len as u16).to_be_bytes());
        ip[6] = proto;
        ip[7] = 64;
        ip[8..24].copy_from_slice(&src.octets());
        ip[24..40].copy_from_slice(&dst.octets());
        let l4 = &mut f[54..54 + l4_len];
        l4_body(l4, proto);
        if proto == protocol::TCP {
            TcpPacket::new_unchecked(l4).fill_checksum_v6(src, dst);
        } else {
            UdpPacket::new_unchecked(l4).fill_checksum_v6(src, dst);
        }
        f
    }

    #[test]
    fn fast_path_takes_the_usual_ipv6_frames() {
        for proto in [protocol::TCP, protocol::UDP] {
            for (payload, pad) in [(0, 0), (0, 6), (100, 0), (1400, 0)] {
                let f = frame6(proto, payload, pad);
                let m = meta(f.len());
                let seg = fast6(&f, m, MAC, MTU);
                assert!(seg.is_some(), "proto {proto}, payload {payload}, pad {pad}");
                assert_eq!(seg, general6(&f, m));
                let seg = seg.expect("checked");
                assert_eq!((seg.frame.len(), seg.l4_off), (f.len() - pad, 54));
                assert_eq!((seg.sport, seg.dport), (40000, 80));
            }
        }
        // An extension header: the general path's (it walks them), not this.
        let mut f = frame6(protocol::TCP, 0, 0);
        f[14 + 6] = next_header::DEST_OPTS;
        assert_eq!(fast6(&f, meta(f.len()), MAC, MTU), None);
        // Sources that never open a connection, and UDP without a checksum
        // (edits the random test is unlikely to make); the ring's word on the
        // checksum, so that only the field in question differs.
        let vouched = |len: usize| RxMeta {
            csum_valid: true,
            ..meta(len)
        };
        for src in [
            Ipv6Addr::UNSPECIFIED,
            Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1),
        ] {
            let mut f = frame6(protocol::TCP, 0, 0);
            f[22..38].copy_from_slice(&src.octets());
            let m = vouched(f.len());
            assert_eq!(
                (fast6(&f, m, MAC, MTU), general6(&f, m)),
                (None, None),
                "{src}"
            );
        }
        let mut f = frame6(protocol::UDP, 4, 0);
        f[60..62].fill(0);
        let m = vouched(f.len());
        assert_eq!(
            (fast6(&f, m, MAC, MTU), general6(&f, m)),
            (None, None),
            "UDP checksum 0"
        );
        let m = RxMeta {
            csum_partial: true,
            ..m
        };
        assert!(
            fast6(&f, m, MAC, MTU).is_some(),
            "a partial checksum may read 0"
        );
        assert_eq!(fast6(&f, m, MAC, MTU), general6(&f, m));
    }

    /// [`fast_path_accepts_what_the_general_path_accepts`] for IPv6, over the
    /// first 70 bytes: whatever the fast path accepts, the general path
    /// accepts as the same segment; and what the general path accepts with no
    /// extension header, the fast path accepts too.
    #[test]
    fn fast6_accepts_what_the_general_path_accepts() {
        let edges = vec![0, 1, 2, 6, 8, 0x11, 0x20, 0x3c, 0x60, 0x61, 0xff];
        over_edited_frames(frame6, (70, edges, false), |f, m| {
            let (fast, slow) = (fast6(f, m, MAC, MTU), general6(f, m));
            if fast.is_some() {
                prop_assert_eq!(fast, slow);
            } else if let Some(s) = slow {
                prop_assert_ne!(s.l4_off, 54, "declined without an extension header");
            }
            Ok(fast.is_some())
        });
    }
}
