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
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// The least path MTU the kernel learns from "fragmentation needed"
/// (`ip_rt_min_pmtu`: 512 + 20 + 20).
const MIN_PMTU: u32 = 552;

/// How long a learned path MTU holds (the kernel's `ip_rt_mtu_expires`).
pub const PMTU_EXPIRES: Duration = Duration::from_secs(600);

/// Sets of the path MTU table: an endpoint's entry is only ever in the set
/// its address hashes to.
const PMTU_SETS: usize = 16;

/// Entries per set: a full set replaces its entry that expires first.
const PMTU_WAYS: usize = 4;

/// Path MTUs to tunnel endpoints (IPv4 outer headers), learned from
/// routers' "fragmentation needed" about our tunnel packets, as IPVS keeps
/// them in its route to the real server (`ipv4_update_pmtu` in
/// `ip_vs_in_icmp`), for [`PMTU_EXPIRES`]. One table for all workers (in
/// [`super::shared::Shared`]), as the kernel's route is one for all CPUs:
/// the worker that handles the error writes it, every worker's `tunnel_to`
/// reads it. Fixed slots of atomics, no lock, in [`PMTU_SETS`] sets of
/// [`PMTU_WAYS`]: an endpoint is looked for in its own set only, and a full
/// set replaces its entry that expires first (counted `pmtu_replaced`).
///
/// A slot is two words, each carrying the same 16-bit tag of its write
/// (never 0, the tag of a slot never written): `key` the endpoint, the MTU
/// and the tag; `until` the tag and the second (of the workers' clock,
/// `Clock::now_s`) the entry expires at. A writer swaps `key` in only if it
/// still holds what the writer read when it decided (compare-exchange), then
/// stores `until` (release); a reader loads `key` then `until` (acquire) and
/// takes the slot only if the tags agree. So a read that meets a write half
/// done sees no entry there, a writer that decided on a slot another has
/// since written decides again (and keeps the lower MTU), and two writers
/// whose stores cross leave no entry. A writer that meets a write half done
/// takes its slot as free: a higher MTU can then replace a lower one being
/// written, or another endpoint's entry go uncounted. Each is a window of a
/// few stores, and the router's next error repairs it. Until no entry can be live (`live_until`, the latest expiry
/// written), it costs the tunnel path one relaxed load.
#[derive(Debug)]
pub struct PathMtus {
    live_until: AtomicU32,
    tag: AtomicU32,
    key: [AtomicU64; PMTU_SETS * PMTU_WAYS],
    until: [AtomicU64; PMTU_SETS * PMTU_WAYS],
}

impl Default for PathMtus {
    fn default() -> Self {
        PathMtus {
            live_until: AtomicU32::new(0),
            tag: AtomicU32::new(0),
            key: std::array::from_fn(|_| AtomicU64::new(0)),
            until: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// A slot as read: its `key` word, and `(endpoint, mtu, until)` if both
/// words are of one write.
type Slot = (u64, Option<(u32, u32, u32)>);

impl PathMtus {
    /// The slots of `dst`'s set.
    fn set(dst: u32) -> std::ops::Range<usize> {
        let s = (dst.wrapping_mul(0x9e37_79b1) >> 28) as usize % PMTU_SETS;
        s * PMTU_WAYS..(s + 1) * PMTU_WAYS
    }

    /// Slot `i` as read.
    fn slot(&self, i: usize) -> Slot {
        let key = self.key[i].load(Ordering::Acquire);
        let until = self.until[i].load(Ordering::Acquire);
        let whole = key & 0xffff == until >> 32;
        let entry = (
            (key >> 32) as u32,
            (key >> 16) as u32 & 0xffff,
            until as u32,
        );
        (key, whole.then_some(entry))
    }

    /// The path MTU learned for `dst` and not expired at second `now_s`.
    #[inline]
    pub(super) fn get(&self, dst: u32, now_s: u32) -> Option<usize> {
        if now_s >= self.live_until.load(Ordering::Relaxed) {
            return None;
        }
        self.held(dst, now_s)
    }

    #[inline(never)]
    fn held(&self, dst: u32, now_s: u32) -> Option<usize> {
        Self::set(dst)
            .filter(|&i| (self.key[i].load(Ordering::Relaxed) >> 32) as u32 == dst)
            .filter_map(|i| self.slot(i).1)
            .filter(|&(d, _, until)| d == dst && now_s < until)
            .map(|(_, mtu, _)| mtu as usize)
            .min()
    }

    /// Learn `mtu` for `dst` at second `now_s`: never above what is known
    /// and not expired, nor above `link`, the egress link's (the kernel's
    /// `__ip_rt_update_pmtu` does not raise the route's MTU, the link's
    /// while none is kept). True if it replaced another endpoint's live
    /// entry (its set was full).
    fn learn(&self, dst: u32, (mtu, link): (u32, u32), now_s: u32) -> bool {
        if mtu > link {
            return false;
        }
        // A writer loses only to another learning at that moment: a few
        // tries, then the router's next error.
        for _ in 0..4 {
            let Some((at, old, replaces)) = self.decide(dst, mtu, now_s) else {
                return false;
            };
            if self.commit(at, old, (dst, mtu), now_s) {
                return replaces;
            }
        }
        false
    }

    /// Where `learn` writes `mtu` for `dst`: the slot, its `key` word as
    /// read, and whether that replaces another endpoint's live entry; none
    /// if a lower MTU is held.
    fn decide(&self, dst: u32, mtu: u32, now_s: u32) -> Option<(usize, u64, bool)> {
        let slots: [(usize, Slot); PMTU_WAYS] = {
            let r = Self::set(dst);
            std::array::from_fn(|w| (r.start + w, self.slot(r.start + w)))
        };
        let lower = |&(_, (_, s)): &(usize, Slot)| {
            s.is_some_and(|(d, m, until)| d == dst && m < mtu && until > now_s)
        };
        if slots.iter().any(lower) {
            return None;
        }
        let live = |s: Option<(u32, u32, u32)>| s.is_some_and(|(.., until)| until > now_s);
        let (at, (old, s)) = slots
            .iter()
            .find(|&&(_, (_, s))| s.is_some_and(|(d, ..)| d == dst))
            // Expired, empty or torn.
            .or_else(|| slots.iter().find(|&&(_, (_, s))| !live(s)))
            // Full: the entry that expires first.
            .or_else(|| {
                slots
                    .iter()
                    .min_by_key(|&&(_, (_, s))| s.map_or(0, |e| e.2))
            })
            .copied()
            .unwrap_or(slots[0]);
        Some((at, old, live(s) && s.is_some_and(|(d, ..)| d != dst)))
    }

    /// Write slot `at` if its `key` word is still `old` (what `decide`
    /// read); false if another writer came between.
    fn commit(&self, at: usize, old: u64, (dst, mtu): (u32, u32), now_s: u32) -> bool {
        let tag = u64::from(self.tag.fetch_add(1, Ordering::Relaxed) % 0xffff + 1);
        let key = u64::from(dst) << 32 | u64::from(mtu.min(0xffff)) << 16 | tag;
        let swapped = self.key[at].compare_exchange(old, key, Ordering::AcqRel, Ordering::Relaxed);
        if swapped.is_err() {
            return false;
        }
        let until = now_s.saturating_add(PMTU_EXPIRES.as_secs() as u32);
        self.until[at].store(tag << 32 | u64::from(until), Ordering::Release);
        self.live_until.fetch_max(until, Ordering::Relaxed);
        true
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
            let link = self.env.mtu[nic as usize] as u32;
            let now_s = self.clock.now_s;
            if self.shared.pmtu.learn(rip.to_bits(), (mtu, link), now_s) {
                self.ctr.inc(Ctr::PmtuReplaced);
            }
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
            rest = mtu.min(link).saturating_sub(encap.overhead() as u32);
        }
        let Some(Hop::V4(hop)) = hop else {
            self.ctr.inc(Ctr::DropNoDest);
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
                self.forwarded(Dir::Output, dest, n as u64);
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

    const LINK: u32 = 1500;

    /// Endpoints (none 0) whose entries share one set.
    fn one_set(n: usize) -> Vec<u32> {
        let set = PathMtus::set(1);
        (1..).filter(|&d| PathMtus::set(d) == set).take(n).collect()
    }

    /// Learned MTUs are found until they expire; a full set replaces the
    /// entry that expires first (and says so), and learning again renews an
    /// entry.
    #[test]
    fn path_mtus_expire_and_a_full_set_replaces_the_oldest() {
        let p = PathMtus::default();
        let e = one_set(PMTU_WAYS + 1);
        assert_eq!(p.get(e[0], 0), None);
        for (i, &d) in e[..PMTU_WAYS].iter().enumerate() {
            assert!(!p.learn(d, (1000 + i as u32, LINK), i as u32), "room");
        }
        assert_eq!(p.get(e[2], 0), Some(1002));
        // e[0] learned again: now the newest.
        assert!(!p.learn(e[0], (900, LINK), 100), "its own entry");
        // One more endpoint: e[1] (the first to expire) makes room.
        assert!(p.learn(e[PMTU_WAYS], (1200, LINK), 101), "replaced");
        assert_eq!(p.get(e[1], 0), None);
        assert_eq!(
            (p.get(e[0], 0), p.get(e[PMTU_WAYS], 0), p.get(e[3], 0)),
            (Some(900), Some(1200), Some(1003))
        );
        let late = 2 + PMTU_EXPIRES.as_secs() as u32;
        assert_eq!(p.get(e[2], late), None, "expired");
        assert_eq!(p.get(e[3], late), Some(1003));
        // Expired entries make room without replacing a live one.
        let later = 101 + PMTU_EXPIRES.as_secs() as u32;
        assert!(!p.learn(e[1], (1300, LINK), later));
        // Another set is another endpoint's room.
        let other = (1..).find(|&d| PathMtus::set(d) != PathMtus::set(1));
        let other = other.unwrap_or_default();
        assert!(!p.learn(other, (1100, LINK), 0));
        assert_eq!(p.get(other, 0), Some(1100));
    }

    /// An MTU above the link's is not learned: it would tell nothing (the
    /// link's holds) and could take a live entry's place.
    #[test]
    fn an_mtu_above_the_link_is_not_learned() {
        let p = PathMtus::default();
        let e = one_set(PMTU_WAYS + 1);
        for &d in &e[..PMTU_WAYS] {
            p.learn(d, (1400, LINK), 0);
        }
        assert!(!p.learn(e[PMTU_WAYS], (LINK + 1, LINK), 1));
        assert_eq!(p.get(e[PMTU_WAYS], 1), None);
        assert!(e[..PMTU_WAYS].iter().all(|&d| p.get(d, 1) == Some(1400)));
        assert_eq!(p.live_until.load(Ordering::Relaxed), 600, "one write each");
    }

    /// A slot whose two words are of different writes (a read in the middle
    /// of a write, or two writers whose stores crossed) holds no entry.
    #[test]
    fn a_torn_slot_is_no_entry() {
        let p = PathMtus::default();
        p.learn(7, (1400, LINK), 0);
        assert_eq!(p.get(7, 0), Some(1400));
        let at = PathMtus::set(7).start;
        p.until[at].store(5 << 32 | 600, Ordering::Release);
        assert_eq!(p.get(7, 0), None);
        p.learn(7, (1300, LINK), 0);
        assert_eq!(p.get(7, 0), Some(1300), "learned again");
    }

    /// A writer that decided on a slot which another writer has written
    /// since decides again: the lower MTU another worker kept in between
    /// stays (two plain stores would leave the higher).
    #[test]
    fn a_writer_behind_another_keeps_the_lower_mtu() {
        let p = PathMtus::default();
        let behind = p.decide(7, 1400, 0).expect("nothing lower yet");
        // Meanwhile another worker keeps 1300.
        p.learn(7, (1300, LINK), 0);
        assert!(
            !p.commit(behind.0, behind.1, (7, 1400), 0),
            "changed under it"
        );
        assert_eq!(p.get(7, 0), Some(1300));
        // And `learn`, deciding again, keeps the lower.
        p.learn(7, (1400, LINK), 0);
        assert_eq!(p.get(7, 0), Some(1300));
    }
}
