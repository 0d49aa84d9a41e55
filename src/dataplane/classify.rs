//! The first step of every received frame: count it, check the Ethernet and IPv4
//! headers with the `wire` views, and send it on to the handler it belongs to —
//! ARP (`arp.rs`), ICMP (`icmp.rs`), TCP/UDP NAT (`nat.rs`), or a named drop.
//!
//! Everything a later step relies on is checked here, once: the frame is not
//! truncated, fits the MTU, carries a 20-byte IPv4 header with a good checksum,
//! is no fragment, has a complete TCP or UDP header with a good checksum (unless
//! the ring says it is partial, or already verified it), and a TTL that
//! survives forwarding.

use super::tx::{Patch, TxPair};
use super::worker::Core;
use crate::Nic;
use crate::io::{RxMeta, TxQueue};
use crate::neigh;
use crate::stats::Ctr;
use crate::wire::ethernet::{self, EthernetFrame};
use crate::wire::ipv4::{self, Ipv4Packet, protocol};
use crate::wire::{TcpPacket, UdpPacket};
use std::net::Ipv4Addr;

/// A TCP segment or UDP datagram that passed every check of [`Core::ipv4`].
#[derive(Clone, Copy)]
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

/// Ports and TCP flags of a TCP or UDP header, if it is complete and consistent.
#[inline]
fn ports(proto: u8, l4: &[u8]) -> Option<(u16, u16, u8)> {
    if proto == protocol::TCP {
        let tcp = TcpPacket::new_checked(l4).ok()?;
        Some((tcp.src_port(), tcp.dst_port(), tcp.flags()))
    } else {
        let udp = UdpPacket::new_checked(l4).ok()?;
        Some((udp.src_port(), udp.dst_port(), 0))
    }
}

/// Whether a TCP segment or UDP datagram (headers already checked by [`ports`])
/// carries a correct checksum. UDP's "no checksum" (0) is accepted.
#[inline]
fn l4_checksum_ok(proto: u8, src: u32, dst: u32, l4: &[u8]) -> bool {
    let (src, dst) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
    if proto == protocol::UDP {
        UdpPacket::new_unchecked(l4).verify_checksum(src, dst)
    } else {
        TcpPacket::new_unchecked(l4).verify_checksum(src, dst)
    }
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
        if (meta.wire_len as usize) > data.len() || data.len() < ethernet::HEADER_LEN {
            return self.ctr.inc(Ctr::DropTruncated);
        }
        if data.len() > self.env.mtu[nic as usize] + ethernet::HEADER_LEN {
            return self.ctr.inc(Ctr::DropOversize);
        }
        if meta.vlan {
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
            ethernet::ethertype::IPV4 if to_us && self.env.io_only => self.io_only(nic, data, tx),
            ethernet::ethertype::IPV4 if to_us => self.ipv4(nic, data, meta, handed, tx),
            ethernet::ethertype::ARP | ethernet::ethertype::IPV4 => self.ctr.inc(Ctr::DropNotForUs),
            ethernet::ethertype::VLAN => self.ctr.inc(Ctr::DropVlan),
            _ => self.ctr.inc(Ctr::DropEthertype),
        }
    }

    /// `--io-only`: forward without NAT (see [`super::Env::io_only`]).
    fn io_only<T: TxQueue>(&mut self, nic: Nic, data: &[u8], tx: &mut TxPair<T>) {
        let Ok(ip) = Ipv4Packet::new_checked(&data[ethernet::HEADER_LEN..]) else {
            return self.ctr.inc(Ctr::DropIpMalformed);
        };
        let dst = ip.dst_raw();
        let frame = &data[..ethernet::HEADER_LEN + usize::from(ip.total_len())];
        let (hop, done) = match nic {
            Nic::Ext => (neigh::next_hop(&self.env.int_net, None, dst), Ctr::FwdIn),
            Nic::Int => (
                neigh::next_hop(&self.env.ext_net, self.env.gateway, dst),
                Ctr::FwdOut,
            ),
        };
        let Some(hop) = hop else {
            return self.ctr.inc(Ctr::DropNoService);
        };
        self.forward((nic.other(), hop), frame, tx, done, Patch::None);
    }

    /// Whether `src` may open a connection from the external side: not one of our
    /// own or the internal segment's addresses, not loopback, "this network",
    /// multicast or limited broadcast, and reachable (on-link or via the gateway).
    pub(super) fn plausible_client(&self, src: u32) -> bool {
        let ip = Ipv4Addr::from(src);
        !(ip.octets()[0] == 0
            || ip.is_loopback()
            || ip.is_multicast()
            || ip.octets()[0] >= 240
            || self.env.int_net.contains(src)
            || self.is_ours(Nic::Ext, src))
            && neigh::next_hop(&self.env.ext_net, self.env.gateway, src).is_some()
    }

    /// Whether `ip` is one of the director's addresses on `nic` (a VIP or the
    /// external address; the DIP).
    pub(super) fn is_ours(&self, nic: Nic, ip: u32) -> bool {
        match nic {
            Nic::Ext => ip == self.env.ext_addr() || self.snap.cfg.vips.contains(&ip),
            Nic::Int => ip == self.env.dip(),
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
        if ip.is_fragment() {
            return self.ctr.inc(Ctr::DropFragment);
        }
        let (src, dst, proto) = (ip.src_raw(), ip.dst_raw(), ip.protocol());
        let frame = &data[..ethernet::HEADER_LEN + usize::from(ip.total_len())];
        if proto == protocol::ICMP {
            return self.icmp(nic, frame, &ip, handed, tx);
        }
        if proto != protocol::TCP && proto != protocol::UDP {
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
        // with `cp->app`) and otherwise patches the checksum incrementally, so it
        // forwards a damaged segment still damaged. Partial checksums are
        // completed later; checksums the ring marked verified
        // (`TP_STATUS_CSUM_VALID`) are not summed a second time.
        if !meta.csum_partial && !meta.csum_valid && !l4_checksum_ok(proto, src, dst, l4) {
            return self.ctr.inc(Ctr::DropL4Checksum);
        }
        // Before scheduling: a packet that cannot be forwarded must not create a
        // connection (nor move the scheduler or the gauges).
        if ip.ttl() <= 1 {
            return self.ctr.inc(Ctr::DropTtl);
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
        match nic {
            Nic::Ext => self.nat_in(seg, tx),
            Nic::Int => self.nat_out(seg, tx),
        }
    }
}
