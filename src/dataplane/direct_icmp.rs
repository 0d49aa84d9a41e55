//! ICMP errors where DR and TUN meet path MTU (`direct.rs` forwards their
//! packets):
//!
//! * **ICMP errors from the client side** about a DR or TUN connection (a
//!   router's "fragmentation needed" about the server's replies, sent to
//!   their source, the VIP) go on to the real server untranslated, the way
//!   the connection's packets go ([`Core::icmp_error_direct`]), as
//!   `ip_vs_icmp_xmit` does: the server holds the VIP and finds its socket.
//! * **ICMP errors about a tunnel packet of ours** (a router on the way to a
//!   TUN server could not deliver it) reach the client as the same error
//!   about its own packet, from the VIP, "fragmentation needed" with the
//!   MTU less the overhead ([`Core::icmp_tunnel_error`]), as
//!   `ip_vs_in_icmp`'s tunnel case does for IPv4 in IPv4.
//! * **Path MTUs** a router reported for a tunnel's endpoint are kept
//!   ([`PathMtus`]), as IPVS keeps them in its route to the real server, so
//!   that `tunnel_to` tells later clients itself.

use super::direct::{Inner, gue_sport};
use super::family::Family;
use super::tx::{Hop, Patch, TxPair};
use super::worker::Core;
use crate::Nic;
use crate::config::{Forward, TunKind};
use crate::io::TxQueue;
use crate::nat::{Dir, FlowKey, fold32};
use crate::stats::Ctr;
use crate::wire::encap::{self, Encap};
use crate::wire::icmpv4::{self, Icmpv4Packet, msg, unreach};
use crate::wire::ipv4::{Ipv4Packet, protocol};
use crate::wire::ipv6::{self, Ipv6Packet};
use crate::wire::{EthernetFrame, ethernet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// The least path MTU the kernel learns from "fragmentation needed"
/// (`ip_rt_min_pmtu`: 512 + 20 + 20).
const MIN_PMTU: u32 = 552;

/// How long a learned path MTU holds (the kernel's `ip_rt_mtu_expires`).
pub const PMTU_EXPIRES: Duration = Duration::from_secs(600);

/// Tunnel endpoints the director keeps a learned path MTU for.
const PMTU_SLOTS: usize = 16;

/// Path MTUs to tunnel endpoints (IPv4 outer headers), learned from
/// routers' "fragmentation needed" about our tunnel packets, as IPVS keeps
/// them in its route to the real server (`ipv4_update_pmtu` in
/// `ip_vs_in_icmp`), for [`PMTU_EXPIRES`]. One table for all workers (in
/// [`super::shared::Shared`]), as the kernel's route is one for all CPUs:
/// the worker that handles the error writes it, every worker's `tunnel_to`
/// reads it. A few fixed slots of atomics, no lock: a full set replaces the
/// entry that expires first.
///
/// A slot is two words, each carrying the same 16-bit tag of its write:
/// `key` the endpoint, the MTU and the tag; `until` the tag and the second
/// (of the workers' clock, `Clock::now_s`) the entry expires at. A writer
/// stores `until` then `key` (release); a reader loads `key` then `until`
/// (acquire) and takes the slot only if the tags agree, so a read that
/// meets a write half done, or two writers that raced on one slot, see no
/// entry there (a lost entry is learned again from the router's next
/// error). Empty (`any` clear, until the first error), it costs the tunnel
/// path one relaxed load.
#[derive(Debug, Default)]
pub struct PathMtus {
    any: AtomicBool,
    tag: AtomicU32,
    key: [AtomicU64; PMTU_SLOTS],
    until: [AtomicU64; PMTU_SLOTS],
}

impl PathMtus {
    /// Slot `i` as `(endpoint, mtu, until)` if both its words are of one
    /// write.
    fn slot(&self, i: usize) -> Option<(u32, u32, u32)> {
        let key = self.key[i].load(Ordering::Acquire);
        let until = self.until[i].load(Ordering::Acquire);
        (key & 0xffff == until >> 32).then_some((
            (key >> 32) as u32,
            (key >> 16) as u32 & 0xffff,
            until as u32,
        ))
    }

    /// The path MTU learned for `dst` and not expired at second `now_s`.
    #[inline]
    pub(super) fn get(&self, dst: u32, now_s: u32) -> Option<usize> {
        if !self.any.load(Ordering::Relaxed) {
            return None;
        }
        self.held(dst, now_s)
    }

    #[cold]
    #[inline(never)]
    fn held(&self, dst: u32, now_s: u32) -> Option<usize> {
        (0..PMTU_SLOTS)
            .filter(|&i| (self.key[i].load(Ordering::Relaxed) >> 32) as u32 == dst)
            .filter_map(|i| self.slot(i))
            .filter(|&(d, _, until)| d == dst && now_s < until)
            .map(|(_, mtu, _)| mtu as usize)
            .min()
    }

    /// Learn `mtu` for `dst` at second `now_s`: never above what is known
    /// and not expired (the kernel's `__ip_rt_update_pmtu` ignores a larger
    /// MTU).
    fn learn(&self, dst: u32, mtu: u32, now_s: u32) {
        let slots = || (0..PMTU_SLOTS).map(|i| (i, self.slot(i)));
        let lower = |(_, s): (usize, Option<(u32, u32, u32)>)| {
            s.is_some_and(|(d, m, until)| d == dst && m < mtu && until > now_s)
        };
        if slots().any(lower) {
            return;
        }
        let at = slots()
            .find(|&(_, s)| s.is_some_and(|(d, ..)| d == dst))
            // Empty (or torn): its `until` reads 0.
            .or_else(|| slots().find(|&(_, s)| s.is_none_or(|(.., until)| until == 0)))
            .map(|(i, _)| i)
            // Full: the entry that expires first.
            .unwrap_or_else(|| {
                slots()
                    .min_by_key(|&(_, s)| s.map_or(0, |(.., until)| until))
                    .map_or(0, |(i, _)| i)
            });
        let tag = u64::from(self.tag.fetch_add(1, Ordering::Relaxed) as u16);
        let until = u64::from(now_s.saturating_add(PMTU_EXPIRES.as_secs() as u32));
        self.until[at].store(tag << 32 | until, Ordering::Release);
        let key = u64::from(dst) << 32 | u64::from(mtu.min(0xffff)) << 16 | tag;
        self.key[at].store(key, Ordering::Release);
        self.any.store(true, Ordering::Relaxed);
    }
}

impl Core {
    /// An ICMP or ICMPv6 error from the client side about a DR or TUN
    /// connection (its checks done by `Core::icmp_error_of`), sent on to
    /// the connection's real server `rip` as its packets go, untranslated:
    /// DR to the server's MAC (an IPv6 packet with its hop limit one less,
    /// as `forward_direct6`), TUN encapsulated. As IPVS does
    /// (`ip_vs_xmit.c`: `ip_vs_icmp_xmit` and `ip_vs_icmp_xmit_v6` hand an
    /// error about a connection that is not MASQ to the connection's
    /// `packet_xmit`): the server, which holds the VIP, matches the error
    /// to its socket, so a router's "fragmentation needed" (or
    /// packet-too-big) about the server's replies, which it sends to their
    /// source, the VIP, reaches the server. True if it went out (or waits
    /// for ARP or NDP). An ICMP parameter problem goes on too, as ringvs's
    /// NAT translates it (a deliberate difference from `ip_vs_in_icmp`, which
    /// takes destination unreachable, source quench and time exceeded only:
    /// see `icmp.rs`); ICMPv6 errors all go, as in `ip_vs_in_icmp_v6`.
    pub(super) fn icmp_error_direct<T: TxQueue>(
        &mut self,
        fwd: Forward,
        rip: IpAddr,
        frame: &[u8],
        tx: &mut TxPair<T>,
    ) -> bool {
        let done = Ctr::IcmpErrorDirect;
        let ip = &frame[ethernet::HEADER_LEN..];
        let v6 = ip[0] >> 4 == 6;
        match (fwd, rip) {
            (Forward::Route, IpAddr::V4(rip)) if !v6 => match self.dr_hop(rip.to_bits()) {
                Some(hop) => self.forward(hop, frame, tx, done, Patch::None),
                None => self.drop(Ctr::DropNoDest),
            },
            (Forward::Route, IpAddr::V6(rip)) if v6 => match self.dr_hop6(rip) {
                Some(nic) => {
                    self.forward_to((nic, Hop::V6(rip)), frame, tx, done, Patch::HopLimit6)
                }
                None => self.drop(Ctr::DropNoDest),
            },
            (Forward::Tunnel(t), rip) => {
                // No ports to hash (the error is no flow's packet): GUE's
                // source port from the addresses alone.
                let inner = if v6 {
                    let p = Ipv6Packet::new_unchecked(ip);
                    Inner::V6 {
                        hop_limit: ip[7].saturating_sub(1),
                        l4: ipv6::HEADER_LEN,
                        proto: ipv6::next_header::ICMPV6,
                        partial: false,
                        sport: gue_sport(fold32(p.src()), fold32(p.dst()), 0, 0),
                    }
                } else {
                    let p = Ipv4Packet::new_unchecked(ip);
                    Inner::V4(Patch::None, gue_sport(p.src_raw(), p.dst_raw(), 0, 0))
                };
                self.tunnel_to(t, rip, (frame, inner), tx, done)
            }
            _ => self.drop(Ctr::DropNoDest),
        }
    }

    /// An ICMP error to our address on `nic` that quotes a tunnel packet of
    /// ours (`icmp`: its message; `frame` as received): a router on the way
    /// to a TUN real server could not deliver what we encapsulated. As IPVS
    /// does for IPv4 in IPv4 (`ip_vs_core.c`, `ip_vs_in_icmp`'s tunnel case):
    /// the client, whose packet it was, gets an error of the same type and
    /// code about its own packet, from the VIP, out of the external NIC; a
    /// "fragmentation needed" carries the reported MTU less the
    /// encapsulation's overhead, and only for a packet the client sent with
    /// DF. False if the quote is no tunnel packet of a connection's (the
    /// caller goes on as for any error); true once handled or counted.
    ///
    /// Only errors that come back by the NIC the tunnel leaves by, to our
    /// address there, quoting a tunnel of the connection's own kind (and
    /// GUE port) to its own real server, are taken.
    ///
    /// The reported MTU is kept for the endpoint ([`PathMtus`], as IPVS
    /// stores it in its route to the real server with `ipv4_update_pmtu`),
    /// so that later packets too big for it get "fragmentation needed" from
    /// the director itself (`tunnel_to`) on every worker, as the kernel's
    /// route is one for all CPUs. A deliberate difference: IPVS tells the client
    /// that MTU less 20 (the outer IPv4 header) whatever the encapsulation,
    /// so a GUE or GRE client learns the size that fits only from a second
    /// error; ringvs takes off the whole overhead (32 for GUE, 24 or 28 for
    /// GRE). Both take an MTU under 552 as 552.
    pub(super) fn icmp_tunnel_error<T: TxQueue>(
        &mut self,
        nic: Nic,
        frame: &[u8],
        icmp: &Icmpv4Packet<&[u8]>,
        handed: bool,
        tx: &mut TxPair<T>,
    ) -> bool {
        let data = icmp.data();
        let Some((rip, encap, at)) = encap::quoted_tunnel(data) else {
            return false;
        };
        let Some(q) = super::icmp::quoted(&data[at..]) else {
            return false;
        };
        if !matches!(q.proto, protocol::TCP | protocol::UDP | protocol::SCTP) {
            return false;
        }
        // Our packet went client → VIP: the connection's input key as it is.
        let key = FlowKey::new(0, q.proto, q.src, q.sport, q.dst, q.dport);
        let owner = u32::owner(&self.env, (q.src, q.sport), self.workers);
        if owner != self.id && !handed {
            self.hand_off(owner, nic, frame, false);
            return true;
        }
        let Some(idx) = u32::table(self).lookup(&key) else {
            return false;
        };
        let c = u32::table(self).get(idx);
        let (dest, vip, client) = (c.dest(), c.vip, c.client);
        let ours = match self.snap.cfg.forward_of(dest) {
            Forward::Tunnel(t) => {
                self.direct_rip(c) == IpAddr::V4(rip)
                    && match (t.kind, encap) {
                        (TunKind::Ipip, Encap::Ipip) | (TunKind::Gre, Encap::Gre { .. }) => true,
                        (TunKind::Gue, Encap::Gue { port, .. }) => port == t.port,
                        _ => false,
                    }
            }
            _ => false,
        };
        // And it came back by the side the tunnel leaves by: a host outside
        // cannot reflect an error to a client by quoting a tunnel that goes
        // the other way.
        if !ours || self.tunnel_hop(rip.to_bits()).map(|(n, _)| n) != Some(nic) {
            return false;
        }
        let hop = u32::hop(&self.env, Dir::Output, c);
        let (ty, code) = (icmp.msg_type(), icmp.code());
        if !matches!(
            ty,
            msg::DEST_UNREACHABLE | msg::SOURCE_QUENCH | msg::TIME_EXCEEDED
        ) {
            self.ctr.inc(Ctr::DropIcmp);
            return true;
        }
        let mut rest = icmp.rest_of_header();
        let inner = Ipv4Packet::new_unchecked(&data[at..]);
        if (ty, code) == (msg::DEST_UNREACHABLE, unreach::FRAG_NEEDED) {
            // A router's MTU under the kernel's floor for a learned path MTU
            // (`ip_rt_min_pmtu`, 552; RFC 1191's old routers say 0) counts
            // as that floor, as `__ip_rt_update_pmtu` takes it; kept for the
            // endpoint, as `ipv4_update_pmtu` keeps it, whatever follows.
            let mtu = (rest & 0xffff).max(MIN_PMTU);
            self.shared.pmtu.learn(rip.to_bits(), mtu, self.clock.now_s);
            // The client does not do path MTU discovery: nothing to tell.
            if !inner.dont_frag() {
                self.ctr.inc(Ctr::DropIcmp);
                return true;
            }
            // What the path holds now, as `ip_vs_in_icmp` tells the client
            // the route's MTU after `ipv4_update_pmtu` ("Prefer the
            // resulting PMTU"): a larger report does not raise it.
            let held = self.shared.pmtu.get(rip.to_bits(), self.clock.now_s);
            let mtu = held.map_or(mtu, |m| m as u32);
            let link = self.env.mtu[nic as usize] as u32;
            rest = mtu.min(link).saturating_sub(encap.overhead() as u32);
        }
        let Some(Hop::V4(hop)) = hop else {
            self.ctr.inc(Ctr::DropNoService);
            return true;
        };
        // `icmp_send` limits what it sends but for "fragmentation needed"
        // (`icmpv4_mask_allow`; see `Core::error_out`).
        let pmtu = (ty, code) == (msg::DEST_UNREACHABLE, unreach::FRAG_NEEDED);
        if !pmtu && !self.pending.1.allow(self.clock.now) {
            self.ctr.inc(Ctr::DropIcmpLimited);
            return true;
        }
        // The client's packet as quoted: its header and what follows of it,
        // as much as `frag_needed` quotes of a packet.
        let hl = inner.header_len();
        let quote = &data[at..(at + hl + icmpv4::QUOTE_L4).min(data.len())];
        let ident = self.pending.1.ident;
        let mut buf = std::mem::take(&mut self.encap_buf);
        let h = ethernet::HEADER_LEN;
        let built = buf
            .get_mut(h..)
            .and_then(|b| icmpv4::emit_error(b, (vip, client, ident), (ty, code, rest), quote));
        if let Some(n) = built {
            EthernetFrame::new_unchecked(&mut buf[..h]).set_ethertype(ethernet::ethertype::IPV4);
            self.pending.1.ident = ident.wrapping_add(1);
            // `forward` must not take this for the RX frame (zero copy).
            let zc = self.zc.out.take();
            let sent = self.forward(
                (Nic::Ext, hop),
                &buf[..h + n],
                tx,
                Ctr::IcmpErrorTunnel,
                Patch::None,
            );
            self.zc.out = zc;
            // Counted with the connection's traffic, as `ip_vs_out_stats`.
            if sent {
                self.out.traffic.outbound(dest, n as u64);
            }
        } else {
            self.ctr.inc(Ctr::DropTooBig);
        }
        self.encap_buf = buf;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Learned MTUs are found until they expire; a full set replaces the
    /// entry that expires first, and learning again renews an entry.
    #[test]
    fn path_mtus_expire_and_a_full_set_replaces_the_oldest() {
        let p = PathMtus::default();
        assert_eq!(p.get(1, 0), None);
        for i in 0..PMTU_SLOTS as u32 {
            p.learn(i, 1000 + i, i);
        }
        assert_eq!(p.get(3, 0), Some(1003));
        // Endpoint 0 learned again: now the newest.
        p.learn(0, 900, 100);
        // One more endpoint: endpoint 1 (the first to expire) makes room.
        p.learn(99, 1200, 101);
        assert_eq!(p.get(1, 0), None);
        assert_eq!(
            (p.get(0, 0), p.get(99, 0), p.get(2, 0)),
            (Some(900), Some(1200), Some(1002))
        );
        let late = 3 + PMTU_EXPIRES.as_secs() as u32;
        assert_eq!(p.get(3, late), None, "expired");
        assert_eq!(p.get(4, late), Some(1004));
    }

    /// A slot whose two words are of different writes (a read in the middle
    /// of a write, or two writers on one slot) holds no entry.
    #[test]
    fn a_torn_slot_is_no_entry() {
        let p = PathMtus::default();
        p.learn(7, 1400, 0);
        assert_eq!(p.get(7, 0), Some(1400));
        p.until[0].store(5 << 32 | 600, Ordering::Release);
        assert_eq!(p.get(7, 0), None);
        p.learn(7, 1300, 0);
        assert_eq!(p.get(7, 0), Some(1300), "learned again");
    }
}
