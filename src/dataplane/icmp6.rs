//! ICMPv6 (RFC 4443) to the director: echo replies for our own addresses (the
//! VIPs and the external address; the DIP), neighbor discovery to `ndp.rs`,
//! router discovery and redirects ignored (the director's routes are
//! configured), MLD queries about our groups passed to the control thread,
//! which answers them (`neigh::Announcer::queried`), and the error
//! messages (every type below 128, not only the four RFC 4443 defines) to
//! `nat6.rs`, which translates them for the connection they quote as IPVS
//! does (`ip_vs_core.c`: `ip_vs_in_icmp_v6`, `ip_vs_out_icmp_v6`).

use super::tx::TxPair;
use super::worker::Core;
use crate::Nic;
use crate::io::TxQueue;
use crate::neigh::NeighEvent;
use crate::stats::Ctr;
use crate::wire::icmpv6::{self, Icmpv6Packet, msg};
use crate::wire::{Ipv6Packet, ethernet, ipv6, mld};
use std::net::Ipv6Addr;
use std::sync::atomic::Ordering;

impl Core {
    /// A packet whose hop-by-hop options `wire::ipv6_options` refused for
    /// an unknown option (`frame`: Ethernet + the IPv6 packet to its payload
    /// length): counted in `drop_ext_header`, and, when it is addressed to
    /// us (or to a group we are in), its sender told with the parameter
    /// problem `ip6_tlvopt_unknown` (or `ipv6_hop_jumbo`) sends
    /// (`ipv6_options::unknown_option_problem`), within the rate limit.
    /// A source [`Core::martian6`] refuses is `drop_bad_source`, told
    /// nothing (`ip6_rcv_core` drops a multicast or loopback one before it
    /// reads the options; for the unspecified one the kernel reads them,
    /// counts a header error, and `icmp6_send` refuses to answer). A standby
    /// tells nothing (it answers no packet to a VIP); nor is a frame to a
    /// multicast link address (`group`) told about an option of type 11
    /// (`unknown_option_problem`, as `icmp6_send`'s `opt_unrec`).
    #[cold]
    pub(super) fn unknown_option<T: TxQueue>(
        &mut self,
        nic: Nic,
        frame: &[u8],
        group: bool,
        tx: &mut TxPair<T>,
    ) {
        let packet = &frame[ethernet::HEADER_LEN..];
        let ip = Ipv6Packet::new_unchecked(packet);
        if Core::martian6(ip.src()) {
            return self.ctr.inc(Ctr::DropBadSource);
        }
        self.ctr.inc(Ctr::DropExtHeader);
        if self.sync.standby {
            return;
        }
        let Some((code, at)) = crate::wire::ipv6_options::unknown_option_problem(packet, group)
        else {
            return;
        };
        let dst = ip.dst();
        let local = group
            || self.is_ours6(nic, dst)
            || nic == Nic::Ext && self.snap.cfg.marks6.covers(dst.to_bits());
        if local {
            let counted = (Ctr::Icmp6ParamProblem, Ctr::Icmp6ParamProblemLimited);
            self.icmp6_to_sender(nic, frame, (msg::PARAM_PROBLEM, code, at), counted, tx);
        }
    }

    /// An ICMPv6 message (`frame`: Ethernet + the IPv6 header + its payload
    /// length; the message starts at `l4_off`). `group`: the frame came to a
    /// multicast group, where only neighbor and router discovery concern us.
    pub(super) fn icmp6<T: TxQueue>(
        &mut self,
        nic: Nic,
        frame: &[u8],
        l4_off: usize,
        (handed, group): (bool, bool),
        tx: &mut TxPair<T>,
    ) {
        let Some(&ty) = frame.get(l4_off) else {
            return self.ctr.inc(Ctr::DropIcmp);
        };
        match ty {
            msg::NEIGHBOR_SOLICIT | msg::NEIGHBOR_ADVERT => {
                return self.ndp(nic, frame, &mut tx[nic]);
            }
            msg::ROUTER_SOLICIT | msg::ROUTER_ADVERT | msg::REDIRECT => {
                return self.ctr.inc(Ctr::DropRouterAdvert);
            }
            mld::QUERY => return self.mld_query(nic, frame, l4_off),
            _ => {}
        }
        if group {
            return self.ctr.inc(Ctr::DropNotForUs);
        }
        // A standby answers no ping and translates nothing (`sync.rs`).
        if self.sync.standby {
            return self.ctr.inc(Ctr::DropStandby);
        }
        let ip = Ipv6Packet::new_unchecked(&frame[ethernet::HEADER_LEN..]);
        let (src, dst) = (ip.src(), ip.dst());
        let Ok(icmp) = Icmpv6Packet::new_checked(&frame[l4_off..]) else {
            return self.ctr.inc(Ctr::DropIcmp);
        };
        if !icmp.verify_checksum(src, dst) {
            return self.ctr.inc(Ctr::DropIcmp);
        }
        let ours = self.is_ours6(nic, dst);
        if icmp.is_error() && Core::bad_error_source6(nic, src, ours) {
            return self.ctr.inc(Ctr::DropBadSource);
        }
        // Answers to the health checks from the IPv6 DIP (`divert.rs`).
        if nic == Nic::Int
            && Some(dst) == self.env.dip6()
            && super::nat6::is_check_answer6(ty, icmp.data(), dst)
        {
            self.shared.health.divert(&frame[ethernet::HEADER_LEN..]);
            return;
        }
        match ty {
            // RFC 4443 §4.2: the reply goes to the request's source, which the
            // unspecified address is not; nor is one `ip6_rcv_core` drops.
            msg::ECHO_REQUEST if ours && Core::martian6(src) => self.ctr.inc(Ctr::DropBadSource),
            msg::ECHO_REQUEST if ours => self.echo6(nic, frame, &mut tx[nic]),
            // Every error type (below 128, RFC 4443 §2.1: the four it
            // defines, one not yet assigned, or 100, 101, 127 for
            // experiments) is as related to the connection it quotes:
            // `ip_vs_in_icmp_v6` and `ip_vs_out_icmp_v6` let only
            // informational types (`ICMPV6_INFOMSG_MASK`) through
            // untranslated.
            _ if icmp.is_error() => self.icmp6_error(nic, frame, l4_off, handed, tx),
            _ if ours => self.ctr.inc(Ctr::DropIcmp),
            _ => self.ctr.inc(Ctr::DropNoService),
        }
    }

    /// Whether an ICMPv6 error from `src` received on `nic` (`ours`: to one
    /// of our addresses there) comes from a source the kernel drops before
    /// either IPVS hook sees it, so it is neither translated, passed on nor
    /// diverted: a loopback or multicast one (`ip6_rcv_core`,
    /// `net/ipv6/ip6_input.c`) and, from the inside to an address not ours
    /// (an error to be forwarded to a client), a link-local one
    /// (`ip6_forward`, `net/ipv6/ip6_output.c`, before the FORWARD hook
    /// where `ip_vs_out_icmp_v6` runs; the "not neighbour" error it sends
    /// is never sent about an error, `icmp6_send`'s `is_ineligible`). The
    /// unspecified one always (`ip6_forward` drops it too): to us it is a
    /// deliberate hardening, the kernel delivering it to `LOCAL_IN`, where
    /// `ip_vs_in_icmp_v6` passes it on, but RFC 4443 §2.2 has an error come
    /// from a unicast address of its sender. A link-local one from outside
    /// is passed on, as IPVS does (a router with no global address on the
    /// client's link may send one).
    fn bad_error_source6(nic: Nic, src: Ipv6Addr, ours: bool) -> bool {
        Core::martian6(src) || nic == Nic::Int && !ours && src.is_unicast_link_local()
    }

    /// An MLD query (to all nodes, to one of our groups, or to us): checked
    /// (`mld::parse_query`), and if it asks about our groups on `nic` (any,
    /// or the solicited-node group of one of our addresses there) passed
    /// to the control thread, which answers it within its delay. A standby
    /// answers none (its addresses are the active director's).
    #[cold]
    fn mld_query(&mut self, nic: Nic, frame: &[u8], l4_off: usize) {
        let packet = &frame[ethernet::HEADER_LEN..];
        let v1_mode = self.shared.mld_v1[nic as usize].load(Ordering::Relaxed);
        let Some(query) = mld::parse_query(packet, l4_off - ethernet::HEADER_LEN, v1_mode) else {
            return self.ctr.inc(Ctr::DropMld);
        };
        if self.sync.standby {
            return self.ctr.inc(Ctr::DropStandby);
        }
        let ours = |a: Ipv6Addr| query.group.is_none_or(|g| g == ipv6::solicited_node(a));
        let any = match nic {
            Nic::Ext => {
                self.env.ext_addr6().is_some_and(ours)
                    || self.snap.cfg.vips6.iter().any(|&v| ours(v))
            }
            Nic::Int => self.env.dip6().is_some_and(ours),
        };
        if !any {
            return self.ctr.inc(Ctr::DropNotForUs);
        }
        // Best effort, as what `ndp.rs` hears: a querier asks again.
        let _ = self
            .links
            .neigh_tx
            .try_send(NeighEvent::MldQuery { nic, query });
        self.ctr.inc(Ctr::MldQuery);
    }

    /// Answer an echo request to one of our addresses, out of the NIC it came
    /// in, to the MAC it came from (its checksum checked: the reply's is
    /// updated from it).
    fn echo6<T: TxQueue>(&mut self, nic: Nic, frame: &[u8], tx: &mut T) {
        let answered = self.answer(nic, frame, tx, |reply| {
            icmpv6::echo_reply_in_place(reply, icmpv6::DEFAULT_HOP_LIMIT)
        });
        if answered {
            self.ctr.inc(Ctr::IcmpEchoReply);
        }
    }
}
