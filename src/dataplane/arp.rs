//! ARP on both NICs: answer requests for our addresses (VIPs and the external
//! address on the external NIC, the DIP on the internal one), and tell the control
//! thread what we heard, which learns only what it asked for (`crate::neigh`).
//! ARP not to us (gratuitous ARP, sender address = target address, or a
//! request or reply for a third host) is passed on only when it claims a
//! neighbor we know from another MAC: the table then asks the old MAC before
//! believing it (a move or a forgery).

use super::worker::Core;
use crate::Nic;
use crate::io::TxQueue;
use crate::neigh::NeighEvent;
use crate::stats::Ctr;
use crate::wire::arp::{self, ArpPacket};
use std::net::Ipv4Addr;

impl Core {
    /// An ARP packet (`pkt`: the Ethernet payload) received on `nic`; a reply
    /// goes into `tx`, the same NIC's queue.
    pub(super) fn arp<T: TxQueue>(&mut self, nic: Nic, pkt: &[u8], tx: &mut T) {
        let Ok(pkt) = ArpPacket::new_checked(pkt) else {
            return self.ctr.inc(Ctr::DropArp);
        };
        let (sip, tip) = (u32::from(pkt.sender_ip()), u32::from(pkt.target_ip()));
        let smac = pkt.sender_mac();
        let op = pkt.operation();
        // Only requests and replies: anything else (RARP, InARP, garbage) would
        // be reported as a request and then go uncounted.
        if smac.is_multicast() || (op != arp::operation::REQUEST && op != arp::operation::REPLY) {
            return self.ctr.inc(Ctr::DropArp);
        }
        // A sender no neighbor can be (Linux's `arp_process` finds no route
        // from a martian source: `fib_validate_source`): multicast, limited
        // broadcast, the broadcast address of either NIC's prefix (its
        // `RTN_BROADCAST` route), 0/8 but 0 itself (an RFC 5227 probe),
        // loopback, or one of our own addresses.
        let martian = sip >> 28 == 0xe
            || sip == u32::MAX
            || self.env.ext_net.is_broadcast(sip)
            || self.env.int_net.is_broadcast(sip)
            || (sip >> 24 == 0 && sip != 0)
            || sip >> 24 == 127
            || self.is_ours(Nic::Ext, sip)
            || self.is_ours(Nic::Int, sip);
        if martian {
            return self.ctr.inc(Ctr::DropArp);
        }
        // A claim: a neighbor we know, from another MAC, in any ARP it sends
        // (gratuitous, or for a third host), as Linux's `arp_process` updates
        // a known entry from any ARP; the table verifies it first.
        let claim = self.snap.neigh.get(nic, sip).is_some_and(|m| m != smac);
        // Asks or answers us (a martian sender was dropped: never ours).
        let to_us = self.is_ours(nic, tip) && sip != tip;
        if !to_us && !claim {
            return self.ctr.inc(Ctr::DropArp);
        }
        if claim {
            self.ctr.inc(Ctr::ArpClaim);
        }
        let heard = NeighEvent::Heard {
            nic,
            ip: sip,
            mac: smac,
            // Only a reply to us answers a probe of ours.
            reply: op == arp::operation::REPLY && to_us,
        };
        // Best effort: if the control thread is behind, the next ARP will tell again.
        let _ = self.links.neigh_tx.try_send(heard);
        if op != arp::operation::REQUEST || !to_us {
            return self.ctr.inc(Ctr::ArpHeard);
        }
        // A standby learns what it hears but answers for none of its addresses:
        // the active director owns them (`sync.rs`).
        if self.sync.standby {
            return self.ctr.inc(Ctr::DropStandby);
        }
        let Some(slot) = tx.slot() else {
            return self.ctr.inc(Ctr::DropTxFull);
        };
        let len = arp::emit_arp(
            slot,
            arp::operation::REPLY,
            self.env.mac[nic as usize],
            Ipv4Addr::from(tip),
            smac,
            Ipv4Addr::from(sip),
            smac,
        );
        // Zeroes to Ethernet's minimum: the slot may hold an older frame.
        let padded = arp::PADDED_LEN.min(slot.len()).max(len);
        slot[len..padded].fill(0);
        tx.commit(padded);
        self.ctr.add(Ctr::tx_bytes(nic), padded as u64);
        self.ctr.inc(Ctr::ArpReply);
    }
}
