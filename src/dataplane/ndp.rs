//! Neighbor discovery (RFC 4861) on both NICs, the IPv6 twin of `arp.rs`:
//! answer solicitations for our addresses (the VIPs and the external address
//! on the external NIC, the DIP on the internal one) and tell the control
//! thread what we heard. The table there learns only what it asked for and
//! never lets an unsolicited or forged advertisement take a neighbor's
//! traffic (`crate::neigh`, its `ndp.rs`): the workers report, they decide
//! nothing.

use super::worker::Core;
use crate::Nic;
use crate::io::TxQueue;
use crate::neigh::NeighEvent;
use crate::stats::Ctr;
use crate::wire::ndp::{self, Ndp, flags};
use crate::wire::{EthernetFrame, Ipv6Packet, ethernet};

/// The router flag of every advertisement the director sends, solicited or
/// not: set, as Linux sets it on an interface that forwards
/// (`net/ipv6/ndisc.c`: `ndisc_recv_ns` and `ndisc_send_unsol_na` take it
/// from `forwarding`). The director is the real servers' router, and one
/// value for all its advertisements keeps a neighbor from seeing it change
/// (RFC 4861 §7.2.5: a router that turns host is removed from the default
/// router list, with the routes learned through it).
pub const ROUTER_FLAG: bool = true;

impl Core {
    /// A neighbor solicitation or advertisement (`frame`: Ethernet + the IPv6
    /// header + its payload length) received on `nic`; a reply goes into
    /// `tx`, the same NIC's queue.
    pub(super) fn ndp<T: TxQueue>(&mut self, nic: Nic, frame: &[u8], tx: &mut T) {
        let ip = Ipv6Packet::new_unchecked(&frame[ethernet::HEADER_LEN..]);
        let Ok(msg) = ndp::parse(&ip) else {
            return self.ctr.inc(Ctr::DropNdp);
        };
        let (src, from) = (ip.src(), EthernetFrame::new_unchecked(frame).src());
        if from.is_multicast() {
            return self.ctr.inc(Ctr::DropNdp);
        }
        match msg {
            Ndp::Solicit { target, src_ll } => {
                // A group address is no host's (RFC 1812 §3.3.2): the answer
                // would go to every host on the link, as an ARP request from
                // one is dropped (`arp.rs`).
                if !self.is_ours6(nic, target) || src_ll.is_some_and(|m| m.is_multicast()) {
                    return self.ctr.inc(Ctr::DropNdp);
                }
                // Duplicate address detection (from ::) names no neighbor; a
                // solicitation without its source link-layer option neither.
                if let Some(mac) = src_ll
                    && !src.is_unspecified()
                {
                    let heard = NeighEvent::HeardNs { nic, ip: src, mac };
                    // Best effort, as for ARP: the next solicitation tells again.
                    // Counted as its answer becomes, as an ARP request is
                    // (`ndp_heard` counts what is passed without one).
                    let _ = self.links.neigh_tx.try_send(heard);
                }
                // A standby learns but answers for none of its addresses.
                if self.sync.standby {
                    return self.ctr.inc(Ctr::DropStandby);
                }
                let Some(slot) = tx.slot() else {
                    return self.ctr.inc(Ctr::DropTxFull);
                };
                // To the soliciter at its link-layer option (else the frame's
                // source); from :: to all nodes (RFC 4861 §7.2.4).
                let to = (src, src_ll.unwrap_or(from));
                let our = self.env.mac[nic as usize];
                let Some(len) = ndp::emit_advert(slot, our, target, Some(to), ROUTER_FLAG) else {
                    return self.ctr.inc(Ctr::DropTxFull);
                };
                tx.commit(len);
                self.ctr.add(Ctr::tx_bytes(nic), len as u64);
                self.ctr.inc(Ctr::NdpReply);
            }
            Ndp::Advert {
                target,
                flags: bits,
                target_ll,
            } => {
                // Another node advertising one of our addresses is no
                // neighbor of ours (a duplicate, or a forgery).
                if self.is_ours6(nic, target) {
                    return self.ctr.inc(Ctr::DropNdp);
                }
                let heard = NeighEvent::HeardNa {
                    nic,
                    ip: target,
                    tlla: target_ll,
                    src: from,
                    solicited: bits & flags::SOLICITED != 0,
                    overrides: bits & flags::OVERRIDE != 0,
                };
                let _ = self.links.neigh_tx.try_send(heard);
                self.ctr.inc(Ctr::NdpHeard);
            }
        }
    }
}
