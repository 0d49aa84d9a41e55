//! `--io-only` (see [`super::shared::Env::io_only`]): frames to our MAC moved
//! to the other NIC by destination address without NAT or connection
//! tracking, the MACs rewritten; a TCP/UDP checksum (SCTP CRC32c) a sender
//! left to an offload completed, as every other path completes it
//! (/work/shared/ARCHITECTURE.md §3), so that no frame leaves holding only
//! its pseudo-header sum.

use super::tx::{Hop, Patch, TxPair};
use super::worker::Core;
use crate::Nic;
use crate::io::{RxMeta, TxQueue};
use crate::neigh;
use crate::stats::Ctr;
use crate::wire::ipv4::{Ipv4Packet, protocol};
use crate::wire::ipv6::{ExtError, Ipv6Packet, next_header};
use crate::wire::{SctpPacket, TcpPacket, UdpPacket, ethernet};

impl Core {
    /// `--io-only` for IPv4: to the destination (on the internal prefix, or
    /// the external side's gateway), nothing changed but the MACs, TTL
    /// included, a partial checksum completed ([`complete`]).
    pub(super) fn io_only<T: TxQueue>(
        &mut self,
        nic: Nic,
        data: &[u8],
        meta: RxMeta,
        tx: &mut TxPair<T>,
    ) {
        let Ok(ip) = Ipv4Packet::new_checked(&data[ethernet::HEADER_LEN..]) else {
            return self.ctr.inc(Ctr::DropIpMalformed);
        };
        let dst = ip.dst_raw();
        let frame = &data[..ethernet::HEADER_LEN + usize::from(ip.total_len())];
        let patch = match meta.csum_partial {
            // A checksum left to an offload cannot be completed from one
            // fragment (as `Core::ipv4` drops it).
            true if ip.is_fragment() => return self.ctr.inc(Ctr::DropFragment),
            true => match complete(ip.protocol(), ip.payload()) {
                Ok(()) => Patch::Complete(ip.protocol()),
                Err(why) => return self.ctr.inc(why),
            },
            false => Patch::None,
        };
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
        self.forward((nic.other(), hop), frame, tx, done, patch);
    }

    /// `--io-only` for IPv6, as [`Core::io_only`] for IPv4: to the destination
    /// (on-link, or the external side's IPv6 gateway), the MACs rewritten and
    /// nothing else, hop limit included, a partial checksum completed past
    /// the extension headers. ICMPv6 straight after the fixed header takes
    /// the usual path instead, so that neighbor discovery to our MAC
    /// (unicast solicitations of neighbor unreachability detection) and echo
    /// keep working in the benchmark mode; so does a standby (it forwards
    /// nothing).
    pub(super) fn io_only6<T: TxQueue>(
        &mut self,
        nic: Nic,
        data: &[u8],
        (meta, handed): (RxMeta, bool),
        tx: &mut TxPair<T>,
    ) {
        let Ok(ip) = Ipv6Packet::new_checked(&data[ethernet::HEADER_LEN..]) else {
            return self.ctr.inc(Ctr::DropIpMalformed);
        };
        if ip.next_header() == next_header::ICMPV6 || self.sync.standby {
            return self.ipv6_frame(nic, data, meta, handed, tx);
        }
        if !handed {
            self.ctr.inc(Ctr::RxIpv6);
        }
        let dst = ip.dst();
        let frame = &data[..ethernet::HEADER_LEN + ip.total_len()];
        let patch = match meta.csum_partial {
            false => Patch::None,
            true => match ip.upper_layer() {
                // A frame's offsets fit 16 bits (frames are at most `FRAME_MAX`).
                Ok(up) => match complete(
                    up.protocol,
                    frame.get(ethernet::HEADER_LEN + up.offset..).unwrap_or(&[]),
                ) {
                    Ok(()) => Patch::Complete6(up.offset as u16, up.protocol),
                    Err(why) => return self.ctr.inc(why),
                },
                Err(ExtError::Fragment) => return self.ctr.inc(Ctr::DropFragment),
                Err(_) => return self.ctr.inc(Ctr::DropExtHeader),
            },
        };
        let (hop, done) = match (nic, self.env.int_net6, self.env.ext_net6) {
            (Nic::Ext, Some(net), _) => (neigh::next_hop6(&net, None, dst), Ctr::FwdIn6),
            (Nic::Int, _, Some(net)) => {
                (neigh::next_hop6(&net, self.env.gateway6, dst), Ctr::FwdOut6)
            }
            _ => (None, Ctr::FwdIn6),
        };
        let Some(hop) = hop else {
            return self.ctr.inc(Ctr::DropNoService);
        };
        // `fwd_in6` (`fwd_out6`) and `fwd_in` (`fwd_out`) once it went.
        self.forward_to((nic.other(), Hop::V6(hop)), frame, tx, done, patch);
    }
}

/// Whether a partial checksum of protocol `proto` over `l4` (to the end of
/// the packet) can be completed: a TCP, UDP or SCTP header whole (the views'
/// `check_len`, after which filling the checksum cannot panic). A sender
/// leaves no other protocol's checksum to an offload.
fn complete(proto: u8, l4: &[u8]) -> Result<(), Ctr> {
    let whole = match proto {
        protocol::TCP => TcpPacket::new_checked(l4).is_ok(),
        protocol::UDP => UdpPacket::new_checked(l4).is_ok(),
        protocol::SCTP => SctpPacket::new_checked(l4).is_ok(),
        _ => return Err(Ctr::DropProto),
    };
    if whole {
        Ok(())
    } else {
        Err(Ctr::DropL4Malformed)
    }
}
