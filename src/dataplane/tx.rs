//! The last step of every path: a rewritten frame goes into a TX slot of the NIC
//! it leaves by, with the next hop's MAC — or, when that MAC is not known yet,
//! into the hop's queue of frames waiting for ARP ([`Pending`](super::pending::Pending)), which the core
//! loop sends when the neighbor snapshot learns the MAC and drops when it waited
//! [`PENDING_MAX_AGE`]. An IPv4 frame over the egress MTU without DF (or an ICMP
//! error being passed on) goes out in fragments ([`Core::fragment`]); one with
//! DF is dropped and its sender gets "fragmentation needed" ([`Core::frag_needed`],
//! the cold path); an IPv6 one is dropped and its sender told with ICMPv6
//! packet-too-big ([`Core::too_big6`]). Next hops are of either family ([`Hop`]).
//!
//! Zero copy: where the frame being handled came straight from an RX queue
//! that shares its frame memory with the TX queue of the NIC it leaves by
//! (AF_XDP sockets of one worker on one UMEM, see `crate::io::Umem`), and
//! nothing else wants the frame (no capture or trace attached, not a handoff),
//! `forward` only records its verdict (`InPlace`: out NIC, length, MACs and
//! the rewrite as data, `Patch`). Once `handle` has returned and the frame is
//! no longer borrowed, the drain loop rewrites it in place and moves its
//! descriptor from the RX ring to the TX ring (`Core::send_in_place`).
//! Everything else (frames parked for ARP, handoffs, taps, frames the worker
//! makes up) is copied into a TX slot.

use super::icmp::fragment_quote;
use super::worker::Core;
use crate::io::{Lent, RxQueue, TxQueue};
use crate::nat::rewrite::{self, Rewrite};
use crate::neigh::NeighEvent;
use crate::stats::{Counters, Ctr};
use crate::wire::icmpv6::msg;
use crate::wire::ipv4::{self, Ipv4Packet};
use crate::wire::ipv6;
use crate::wire::{EthernetFrame, ethernet};
use crate::{Nic, NicPair};
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

/// Frames queued per unresolved next hop, and next hops resolved at once.
pub const PENDING_PER_HOP: usize = 4;
pub const PENDING_HOPS: usize = 16;
/// How long a frame may wait for its next hop.
pub const PENDING_MAX_AGE: Duration = Duration::from_secs(3);

/// A worker's TX queues, indexed by [`Nic`].
pub type TxPair<T> = NicPair<T>;

/// The next hop of a frame: an address of its family on the NIC it leaves by,
/// whose MAC the neighbor table holds (ARP or NDP).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Hop {
    V4(u32),
    V6(Ipv6Addr),
}

impl Hop {
    /// The hop's MAC, if known.
    #[inline(always)]
    pub(super) fn mac(
        self,
        neigh: &crate::neigh::NeighSnapshot,
        nic: Nic,
    ) -> Option<crate::wire::Mac> {
        match self {
            Hop::V4(ip) => neigh.get(nic, ip),
            Hop::V6(ip) => neigh.get(nic, ip),
        }
    }

    /// A frame goes to the hop: the control thread keeps its entry fresh
    /// (`crate::neigh::Used`; a relaxed load, seldom a store).
    #[inline(always)]
    pub(super) fn mark_used(self, used: &crate::neigh::Used, nic: Nic) {
        match self {
            Hop::V4(ip) => used.mark(nic, ip),
            Hop::V6(ip) => used.mark(nic, ip),
        }
    }

    /// What asks the control thread to resolve it.
    pub(super) fn resolve(self, nic: Nic) -> NeighEvent {
        match self {
            Hop::V4(ip) => NeighEvent::Resolve { nic, ip },
            Hop::V6(ip) => NeighEvent::Resolve6 { nic, ip },
        }
    }
}

/// Errors a worker may send per second, and in a burst: the kernel's defaults
/// for `net.ipv4.icmp_msgs_per_sec` and `icmp_msgs_burst` (`icmp_global_allow`).
pub const ICMP_PER_SEC: u32 = 1000;
pub const ICMP_BURST: u32 = 50;

/// A worker's token bucket for the ICMP errors it makes up itself.
pub(super) struct IcmpLimit {
    tokens: u32,
    /// Refilled up to here.
    last: Instant,
    /// The IP identification of the next error.
    pub(super) ident: u16,
}

impl IcmpLimit {
    /// A full bucket at `start`.
    pub(super) fn new(start: Instant) -> Self {
        IcmpLimit {
            tokens: ICMP_BURST,
            last: start,
            ident: 0,
        }
    }

    /// Take a token at `now`, if there is one.
    pub(super) fn allow(&mut self, now: Instant) -> bool {
        let ms = now.saturating_duration_since(self.last).as_millis();
        if ms > 0 {
            let add = ms.saturating_mul(u128::from(ICMP_PER_SEC)) / 1000;
            self.tokens = u128::from(self.tokens)
                .saturating_add(add)
                .min(u128::from(ICMP_BURST)) as u32;
            self.last += Duration::from_millis(ms as u64);
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

/// How [`Core::forward`] rewrites a frame, as data rather than a closure so
/// that a frame sent from its own buffer can be rewritten after `handle`.
#[derive(Clone, Copy, Debug)]
pub(super) enum Patch {
    /// `--io-only`: the frame as it came.
    None,
    /// TCP/UDP NAT (`rewrite::nat_l4`); `true`: the L4 checksum arrived partial.
    Nat(Rewrite, bool),
    /// The IP half of TCP/UDP NAT, for a fragment past the first
    /// (`rewrite::nat_ip`).
    NatIp(Rewrite),
    /// [`Patch::NatIp`] of an IPv6 fragment (`rewrite::nat_ip6`).
    NatIp6(Rewrite<Ipv6Addr>),
    /// An ICMP error about a connection (`rewrite::nat_icmp_error`).
    IcmpError(Rewrite),
    /// IPv6 TCP/UDP NAT (`rewrite::nat_l4_v6`): the rewrite, where the L4
    /// header starts in the frame and its protocol, whether its checksum
    /// arrived partial.
    Nat6(Rewrite<Ipv6Addr>, (u16, u8), bool),
    /// An ICMPv6 error about a connection (`rewrite::nat_icmp6_error`): the
    /// rewrite, where the ICMPv6 header and the quoted packet's L4 header
    /// start in the frame, and the quoted packet's protocol.
    Icmp6Error(Rewrite<Ipv6Addr>, (u16, u16, u8)),
    /// DR: the packet as it came, its partial TCP/UDP checksum (of protocol
    /// `.0`) completed.
    Complete(u8),
    /// `--io-only` IPv6: the packet as it came, its partial TCP/UDP checksum
    /// (SCTP CRC32c) of protocol `.1`, whose header starts `.0` bytes into
    /// the IPv6 packet, completed.
    Complete6(u16, u8),
    /// IPv6 DR of an ICMPv6 error (`Core::icmp_error_direct`): the packet
    /// as it came, its hop limit one less (no checksum covers it).
    HopLimit6,
}

impl Patch {
    #[inline(always)]
    pub(super) fn apply(self, frame: &mut [u8]) {
        match self {
            Patch::None => {}
            Patch::Nat(rw, partial) => rewrite::nat_l4(frame, &rw, partial),
            Patch::NatIp(rw) => rewrite::nat_ip(frame, &rw),
            Patch::NatIp6(rw) => {
                rewrite::nat_ip6(frame, &rw);
            }
            Patch::IcmpError(rw) => rewrite::nat_icmp_error(frame, &rw),
            Patch::Nat6(rw, (l4, proto), partial) => {
                rewrite::nat_l4_v6(frame, &rw, (l4.into(), proto), partial);
            }
            Patch::Icmp6Error(rw, (icmp, l4, proto)) => {
                rewrite::nat_icmp6_error(frame, &rw, (icmp.into(), l4.into(), proto));
            }
            Patch::Complete(proto) => rewrite::fill_l4_checksum(frame, proto),
            Patch::Complete6(l4, proto) => {
                if let Some(ip) = frame.get_mut(ethernet::HEADER_LEN..) {
                    super::direct::fill_l4_checksum6(ip, l4.into(), proto);
                }
            }
            Patch::HopLimit6 => {
                if let Some(hop_limit) = frame.get_mut(ethernet::HEADER_LEN + 7) {
                    *hop_limit = hop_limit.saturating_sub(1);
                }
            }
        }
    }
}

/// What [`Core::forward`] decided for a frame to be sent from its own RX
/// buffer: everything but the bytes, which the drain loop rewrites once the
/// frame is no longer borrowed ([`Core::send_in_place`]).
#[derive(Clone, Copy, Debug)]
pub(super) struct InPlace {
    out: Nic,
    len: usize,
    to: crate::wire::Mac,
    ours: crate::wire::Mac,
    patch: Patch,
}

/// The zero-copy state of the frame being handled (see the module doc).
#[derive(Debug, Default)]
pub(super) struct ZeroCopy {
    /// The NIC the frame being handled may leave by from its own buffer, if
    /// any; set by the drain loop around `handle`.
    pub(super) out: Option<Nic>,
    /// What `forward` decided for it, if it took that way.
    pub(super) verdict: Option<InPlace>,
    /// The worker it goes to by its descriptor, if `hand_off` decided so
    /// (the drain loop lends it once `handle` has let go of it:
    /// [`Core::lend_to`](super::worker::Core)).
    pub(super) handoff: Option<LendTo>,
}

/// A frame at the RX cursor to hand to another worker by its descriptor.
#[derive(Clone, Copy, Debug)]
pub(super) struct LendTo {
    pub(super) to: usize,
    pub(super) len: usize,
    pub(super) csum_partial: bool,
}

impl InPlace {
    /// Rewrite the frame as decided: the NAT patch, then the MACs.
    #[inline]
    fn rewrite(&self, buf: &mut [u8]) {
        self.patch.apply(buf);
        set_macs(buf, self.to, self.ours);
    }
}

/// Whether an IPv4 frame too big for its egress may be fragmented: DF
/// clear, or an ICMP error being passed on (`ip_vs_icmp_xmit` sets
/// `ignore_df` on those: "avoid icmp_send in ip_fragment"), a fragment
/// too (its pieces keep its place); a header without options (ringvs accepts no other, and writes
/// none).
fn may_fragment(frame: &[u8]) -> bool {
    may_cut(frame, false)
}

/// [`may_fragment`], or with `ignore_df` whatever the DF bit (a tunnel's
/// outer header around an ICMP error: `Core::forward_outer`).
fn may_cut(frame: &[u8], ignore_df: bool) -> bool {
    frame.get(ethernet::HEADER_LEN..).is_some_and(|ip| {
        let ip = Ipv4Packet::new_unchecked(ip);
        ip.check_len().is_ok()
            && ip.version() == 4
            && ip.header_len() == ipv4::HEADER_LEN
            && (ignore_df || !ip.dont_frag() || ip.protocol() == ipv4::protocol::ICMP)
    })
}

/// Count `done` for a packet that went: an IPv6 packet's counter
/// (`fwd_in6`, `fwd_out6`) and the one of both families it is counted in too.
#[inline(always)]
pub(super) fn count_done(ctr: &mut Counters, done: Ctr) {
    ctr.inc(done);
    match done {
        Ctr::FwdIn6 => ctr.inc(Ctr::FwdIn),
        Ctr::FwdOut6 => ctr.inc(Ctr::FwdOut),
        _ => {}
    }
}

/// Put our MAC as source and `to` as destination.
#[inline]
pub(super) fn set_macs(frame: &mut [u8], to: crate::wire::Mac, ours: crate::wire::Mac) {
    let mut eth = EthernetFrame::new_unchecked(frame);
    eth.set_dst(to);
    eth.set_src(ours);
}

impl Core {
    /// Send `frame`, rewritten by `patch`, out of `nic` towards next hop `hop`: into a
    /// TX slot when the hop's MAC is known, else into the hop's pending queue. `done`
    /// is counted when the frame went out or was queued; a drop counts its reason.
    #[inline]
    pub(super) fn forward<T: TxQueue>(
        &mut self,
        (nic, hop): (Nic, u32),
        frame: &[u8],
        tx: &mut TxPair<T>,
        done: Ctr,
        patch: Patch,
    ) -> bool {
        self.forward_to((nic, Hop::V4(hop)), frame, tx, done, patch)
    }

    /// An IPv4 packet without DF (or an ICMP error, see `may_fragment`)
    /// over `mtu` (the MTU of `nic`, or a tunnel endpoint's path MTU:
    /// [`Core::forward_outer`]): sent as fragments, as the kernel's
    /// `ip_do_fragment` (`net/ipv4/ip_output.c`) splits what IPVS's
    /// transmitters hand it (`ip_vs_nat_xmit`, `ip_vs_tunnel_xmit`, ...: only
    /// a DF packet gets "fragmentation needed" there, through
    /// `ensure_mtu_is_adequate`). The frame is rewritten by `patch` in the
    /// worker's fragment buffer first; each fragment carries the header (same
    /// id, DF clear, the offset, MF on all but the last, its own length and
    /// checksum) and a multiple of 8 bytes of the payload but the last.
    ///
    /// All or nothing where ringvs can tell: to a hop whose MAC is not known
    /// yet, the fragments wait in its pending queue only if all of them fit
    /// in one (the oldest packets there making way, [`Core::park`]), else
    /// the packet is dropped (`drop_neigh_queue`) and the hop asked for. Into TX slots they go one by one (a TX queue cannot say how
    /// many slots are free), and the first that finds none stops the packet
    /// (`drop_tx_full`, its earlier fragments are sent and wasted). Each
    /// fragment sent or queued counts in `tx_fragments` (and, sent, the TX
    /// bytes); the packet counts once in `done` and `tx_fragmented` when
    /// all of them went (queued: in `neigh_queued_fragmented` now, the
    /// others when the last goes, `flush_pending`). A client's
    /// datagram parked so keeps, for the error its client gets if the hop
    /// never answers, what its first fragment's quotes ([`fragment_quote`]).
    #[cold]
    #[inline(never)]
    fn fragment<T: TxQueue>(
        &mut self,
        (nic, hop): (Nic, Hop),
        frame: &[u8],
        tx: &mut TxPair<T>,
        done: Ctr,
        patch: Patch,
        mtu: usize,
    ) -> bool {
        let (h, hl) = (ethernet::HEADER_LEN, ipv4::HEADER_LEN);
        // Payload bytes a fragment but the last carries.
        let step = mtu.saturating_sub(hl) & !7;
        let len = frame.len();
        let ip = Ipv4Packet::new_unchecked(&frame[h..]);
        // A fragment cut again keeps its place in its datagram (RFC 791).
        let (total, base, more) = (
            usize::from(ip.total_len()),
            ip.frag_offset(),
            ip.more_frags(),
        );
        let payload_len = (h + total).clamp(h + hl, len) - h - hl;
        // A fragment with more to come ends at its last multiple of 8, as
        // the kernel's reassembly cuts it (`ip_frag_queue`) before IPVS's
        // `ip_do_fragment` cuts the datagram again: the bytes past it are
        // not sent, and no piece is left shorter than 8 with MF set (which
        // the receiver's `ip_frag_queue` would take as empty and drop the
        // whole datagram for).
        let payload_len = if more { payload_len & !7 } else { payload_len };
        if step == 0 || self.frag_buf.len() < 2 * len || usize::from(base) + payload_len > 0xffff {
            return self.drop(Ctr::DropTooBig);
        }
        let pieces = payload_len.div_ceil(step);
        let unresolved = hop.mac(&self.snap.neigh, nic).is_none();
        if unresolved && self.park_room(nic, hop) < pieces {
            self.ask_unqueued(nic, hop);
            return self.drop(Ctr::DropNeighQueue);
        }
        let mut buf = std::mem::take(&mut self.frag_buf);
        let (whole, piece) = buf.split_at_mut(len);
        whole.copy_from_slice(frame);
        patch.apply(whole);
        let payload = &whole[h + hl..h + hl + payload_len];
        // A frame in the worker's buffer is not the RX frame (zero copy).
        let zc = self.zc.out.take();
        let mut all = true;
        // Fragments sent or parked (parked: the newest of the hop's queue).
        let mut went = 0;
        for (i, chunk) in payload.chunks(step).enumerate() {
            let at = i * step;
            let n = h + hl + chunk.len();
            piece[..h + hl].copy_from_slice(&whole[..h + hl]);
            piece[h + hl..n].copy_from_slice(chunk);
            let mut ip = Ipv4Packet::new_unchecked(&mut piece[h..n]);
            ip.set_total_len((hl + chunk.len()) as u16);
            let last = at + chunk.len() == payload.len();
            ip.set_fragmentation(false, !last || more, base + at as u16); // ≤ 0xffff: above
            ip.fill_checksum();
            if !self.forward_to((nic, hop), &piece[..n], tx, Ctr::TxFragments, Patch::None) {
                all = false;
                break;
            }
            went += 1;
        }
        self.zc.out = zc;
        self.frag_buf = buf;
        match (all, unresolved) {
            (true, false) => {
                self.ctr.inc(Ctr::TxFragmented);
                count_done(&mut self.ctr, done);
            }
            (true, true) => self.ctr.inc(Ctr::NeighQueuedFragmented),
            (false, _) => {}
        }
        let hops = &mut self.pending.0;
        let parked = hops
            .iter_mut()
            .find(|p| unresolved && went > 0 && p.n >= went && p.nic == nic && p.ip == hop);
        // Parked: the packet counts (`done`, `tx_fragmented`) when its last
        // fragment goes, if all of them do (`flush_pending`).
        if let Some(p) = parked {
            let i = p.n - went;
            for j in i + 1..p.n {
                let k = p.at(j);
                p.opens[k] = false;
            }
            if all {
                let last = p.at(p.n - 1);
                p.counts[last] = Some(done);
                p.cuts[last] = true;
            }
            if all && matches!(done, Ctr::FwdIn | Ctr::FwdIn6) {
                let first_len = (hl + step.min(payload_len)) as u16; // ≤ the MTU
                let more = payload_len > step || more;
                let f = p.at(i);
                p.quote_lens[f] = fragment_quote(frame, (first_len, more), &mut p.quotes[f]);
                p.clients[f] = p.quote_lens[f] > 0;
            }
        }
        all
    }

    /// [`Core::forward_to`] of a tunnel's outer packet whose route MTU is
    /// `mtu` (the link's, or lower: the path MTU a router reported for the
    /// endpoint). An outer IPv4 packet over it without DF, or any with
    /// `ignore_df` (around an ICMP error being passed on: the kernel's
    /// `ip_vs_tunnel_xmit` sets `ignore_df`), is cut at it, as the kernel's `ip_fragment`
    /// (`ip_output.c`) cuts what `ip_vs_tunnel_xmit` hands `ip_local_out` at
    /// the route's MTU (`ip_skb_dst_mtu`, which a learned path MTU lowers),
    /// not the device's.
    pub(super) fn forward_outer<T: TxQueue>(
        &mut self,
        (nic, hop): (Nic, Hop),
        frame: &[u8],
        tx: &mut TxPair<T>,
        done: Ctr,
        (mtu, ignore_df): (usize, bool),
    ) -> bool {
        let mtu = mtu.min(self.env.mtu[nic as usize]);
        if frame.len() > mtu + ethernet::HEADER_LEN
            && matches!(hop, Hop::V4(_))
            && may_cut(frame, ignore_df)
        {
            return self.fragment((nic, hop), frame, tx, done, Patch::None, mtu);
        }
        self.forward_to((nic, hop), frame, tx, done, Patch::None)
    }

    /// [`Core::forward`] to a next hop of either family.
    #[inline(always)]
    pub(super) fn forward_to<T: TxQueue>(
        &mut self,
        (nic, hop): (Nic, Hop),
        frame: &[u8],
        tx: &mut TxPair<T>,
        done: Ctr,
        patch: Patch,
    ) -> bool {
        let len = frame.len();
        if len > self.env.mtu[nic as usize] + ethernet::HEADER_LEN {
            match hop {
                Hop::V4(_) if may_fragment(frame) => {
                    let mtu = self.env.mtu[nic as usize];
                    return self.fragment((nic, hop), frame, tx, done, patch, mtu);
                }
                // Told out of the other NIC: the frame came in by it. One
                // that leaves by the NIC it came in by (DR to a server on
                // the client's segment) is never here: `handle` dropped it
                // if over that NIC's MTU (`drop_oversize`), and DR does not
                // make it larger.
                Hop::V4(_) => self.frag_needed(nic, frame, tx),
                Hop::V6(_) => self.too_big6(nic, frame, tx),
            }
            return self.drop(Ctr::DropTooBig);
        }
        let our = self.env.mac[nic as usize];
        let Some(mac) = hop.mac(&self.snap.neigh, nic) else {
            return self.park((nic, hop), frame, done, patch);
        };
        hop.mark_used(&self.shared.neigh_used, nic);
        let tx = &mut tx[nic];
        if self.zc.out == Some(nic) && tx.can_send_lent() {
            // Sent from its own buffer once `handle` returns (`send_in_place`).
            self.zc.out = None;
            self.zc.verdict = Some(InPlace {
                out: nic,
                len,
                to: mac,
                ours: our,
                patch,
            });
            self.ctr.add(Ctr::tx_bytes(nic), len as u64);
            count_done(&mut self.ctr, done);
            return true;
        }
        let Some(slot) = tx.slot() else {
            return self.drop(Ctr::DropTxFull);
        };
        let Some(buf) = slot.get_mut(..len) else {
            return self.drop(Ctr::DropTooBig);
        };
        buf.copy_from_slice(frame);
        patch.apply(buf);
        set_macs(buf, mac, our);
        tx.commit(len);
        self.ctr.add(Ctr::tx_bytes(nic), len as u64);
        count_done(&mut self.ctr, done);
        true
    }

    /// The NIC a frame received on `nic` from `rx` may leave by from its own
    /// buffer: the other one, if its TX queue shares `rx`'s frame memory and
    /// nothing is attached for capture or trace (which see frames as copies).
    #[inline]
    pub(super) fn in_place_to<R: RxQueue, T: TxQueue>(
        &self,
        nic: Nic,
        rx: &R,
        tx: &TxPair<T>,
    ) -> Option<Nic> {
        let out = nic.other();
        let umem = rx.umem()?;
        (self.snap.tap.is_none() && tx[out].umem() == Some(umem)).then_some(out)
    }

    /// Carry out `forward`'s verdict on the frame at `rx`'s cursor: rewrite it
    /// in place and move its descriptor to the TX ring of the NIC it leaves by
    /// (its byte and `done` counters were counted by `forward`).
    #[inline]
    pub(super) fn send_in_place<R: RxQueue, T: TxQueue>(
        &mut self,
        v: InPlace,
        rx: &mut R,
        tx: &mut TxPair<T>,
    ) {
        // The frame `forward` saw is still at the cursor and fits (it is the
        // prefix `handle` was given), and `forward` checked the TX ring's room:
        // the drops below are for a queue that breaks its word.
        let Some(buf) = rx.peek_mut().and_then(|b| b.get_mut(..v.len)) else {
            rx.advance();
            return self.ctr.inc(Ctr::DropTxFull);
        };
        v.rewrite(buf);
        let Some(frame) = rx.lend() else {
            // Past the frame all the same, or the next pass would handle
            // the rewritten frame again.
            rx.advance();
            return self.ctr.inc(Ctr::DropTxFull);
        };
        self.send_lent(v, frame, rx, tx);
    }

    /// [`Core::send_in_place`] for a frame another worker handed over by its
    /// descriptor (`frame`, on the UMEM `rx` shares with that worker).
    pub(super) fn send_lent_in_place<R: RxQueue, T: TxQueue>(
        &mut self,
        v: InPlace,
        mut frame: Lent,
        rx: &mut R,
        tx: &mut TxPair<T>,
    ) {
        let Some(buf) = rx.lent_bytes(&mut frame, v.len) else {
            rx.give_back(frame);
            return self.ctr.inc(Ctr::DropTxFull);
        };
        v.rewrite(buf);
        rx.release_lent(&frame);
        self.send_lent(v, frame, rx, tx);
    }

    /// Move a rewritten lent frame's descriptor to the TX ring of its NIC.
    #[inline]
    fn send_lent<R: RxQueue, T: TxQueue>(
        &mut self,
        v: InPlace,
        frame: Lent,
        rx: &mut R,
        tx: &mut TxPair<T>,
    ) {
        match tx[v.out].send_lent(frame, v.len) {
            Ok(()) => self.ctr.inc(Ctr::TxZeroCopy),
            Err(frame) => {
                rx.give_back(frame);
                self.ctr.inc(Ctr::DropTxFull);
            }
        }
    }

    #[inline]
    pub(super) fn drop(&mut self, why: Ctr) -> bool {
        self.ctr.inc(why);
        false
    }

    /// `frame` (as received: Ethernet, IPv6, not yet translated) does not fit
    /// the MTU of `out`: its sender gets ICMPv6 packet-too-big with that MTU
    /// (at least the IPv6 minimum, 1280), out of the NIC the frame came in
    /// by, to the MAC it came from, as the kernel does for IPVS: in
    /// `ip6_forward` (real server → client, forwarded) and in
    /// `__mtu_check_toobig_v6` (`ip_vs_xmit.c`, client → real server). IPv6
    /// routers never fragment, so there is no DF to look at; RFC 4443
    /// §2.4(e) says which packets get no error (`icmpv6::error_allowed`). The
    /// error comes from the packet's destination when that is ours on the
    /// sender's NIC (a VIP, as `icmp6_send` picks a local destination), else
    /// from our address there (the DIP for a real server, the external
    /// address for a client); it quotes as much of the packet as fits 1280
    /// bytes. Never rate-limited: it takes no token of the worker's ICMP
    /// bucket, as the kernel clears `ICMPV6_PKT_TOOBIG` from
    /// `icmpv6_ratemask` ([`Core::error_out`]).
    #[cold]
    #[inline(never)]
    pub(super) fn too_big6<T: TxQueue>(&mut self, out: Nic, frame: &[u8], tx: &mut TxPair<T>) {
        let mtu = self.env.mtu[out as usize] as u32;
        self.too_big6_mtu(out.other(), mtu, frame, tx);
    }

    /// [`Core::too_big6`] for a frame that came in by `inn`, telling its
    /// sender `mtu` (a tunnel's: the egress MTU less the encapsulation).
    #[cold]
    #[inline(never)]
    pub(super) fn too_big6_mtu<T: TxQueue>(
        &mut self,
        inn: Nic,
        mtu: u32,
        frame: &[u8],
        tx: &mut TxPair<T>,
    ) {
        let mtu = mtu.max(ipv6::MIN_MTU as u32);
        let error = (msg::PACKET_TOO_BIG, 0, mtu);
        let counted = (Ctr::Icmp6TooBig, Ctr::Icmp6TooBigLimited);
        self.icmp6_to_sender(inn, frame, error, counted, tx);
    }
}
