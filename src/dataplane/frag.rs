//! Fragments of TCP, UDP and SCTP datagrams, IPv4 and IPv6: each fragment
//! forwarded as it came, translated by its datagram's connection.
//!
//! IPVS sees whole datagrams: the kernel reassembles what arrives for a VIP
//! before `LOCAL_IN` (`ip_local_deliver` → `ip_defrag`), and `ip_vs_out_hook`
//! (`ip_vs_core.c`) reassembles the real servers' fragmented replies itself
//! (`ip_vs_gather_frags`); the packet it sends on is fragmented again on the
//! way out (`ip_do_fragment`, to at most the largest fragment received,
//! `frag_max_size`). A large UDP answer (DNS with EDNS, RADIUS, syslog) or a
//! client behind a link with a small MTU therefore works through IPVS.
//!
//! ringvs does what VPP's shallow virtual reassembly does (`ip4_sv_reass`,
//! `ip6_sv_reass`) rather than buffering the whole datagram: only the first
//! fragment carries the ports, so a table keyed by the datagram (source,
//! destination, IPv4's protocol, IP id and the NIC it came from; an IPv6
//! datagram's fragments are not told apart by their next header, which
//! only the first's counts, RFC 8200 4.5, as `frag_v6_compare_key` leaves
//! it out) remembers them, and every fragment is forwarded
//! on its own with its datagram's connection:
//!
//! * the first (offset 0) goes through the usual NAT path, which creates the
//!   connection if it is new; its TCP/UDP checksum, which covers the whole
//!   datagram, is updated by the connection's delta like any other (it cannot
//!   be verified here: IPVS does not verify it either); SCTP's CRC32c, which
//!   covers no address, cannot be computed again, so where the rewrite
//!   changes a port its fragments are dropped (`frag_nat.rs`); an IPv6
//!   atomic fragment, a whole packet, never comes here but is taken on at
//!   once as one ([`atomic6`]);
//! * the others find the connection by the remembered ports and get only the
//!   IP half of the rewrite (`rewrite::nat_ip`, `nat_ip6`), or go to a DR or
//!   TUN server unchanged; they never create a connection nor move its TCP
//!   or SCTP state;
//! * a fragment that arrives before its datagram's first is held (up to
//!   [`HELD`] per worker, copied) and sent on when the first arrives, or
//!   while its owner's ring is full (below) until it has room; one held
//!   for [`FRAG_TIMEOUT_S`] (`net.ipv4.ipfrag_time`'s default; IPv6:
//!   [`FRAG6_TIMEOUT_S`]), or pushed
//!   out for a newer one when all are taken, is dropped
//!   (`drop_frag_expired`).
//!
//! What goes out is what came in, fragment by fragment, as the kernel's
//! refragmenting to `frag_max_size` gives on the same path; an IPv4 fragment
//! over the egress MTU is cut again (`Core::fragment` keeps its offset and
//! MF), an IPv6 first fragment is refused with packet-too-big as any IPv6
//! packet, and a later IPv6 one over the MTU is dropped with none (nothing
//! here keeps the first fragment to quote: IPVS, seeing the reassembled
//! datagram, sends one whenever any fragment is too big,
//! `__mtu_check_toobig_v6`).
//! Deliberate differences, documented in `docs/design.md`: per-server
//! packet counters count fragments (IPVS counts the datagram once), and the
//! fragments of a datagram that never completes are forwarded all the same
//! (the kernel would drop them after `ipfrag_time`; the real server's or
//! client's kernel does that instead). An echo request to one of our
//! addresses in fragments is answered fragment by fragment (the reply's
//! fragment at the same place; the client reassembles it), as the kernel
//! answers `ping -s 3000 VIP` under IPVS. Other ICMP and other protocols'
//! fragments are still dropped (`drop_fragment`), as is a first fragment
//! too short to hold its whole TCP or UDP header (RFC 1858's tiny
//! fragments) or SCTP's common header and first chunk header. An IPv6
//! first fragment that cuts its header chain short (RFC 8200 §4.5,
//! RFC 7112; of SCTP, one byte) also gets its sender a parameter problem,
//! code 3, if it is addressed to us (`Core::chain_cut`), as
//! `ipv6_frag_rcv` sends it.
//!
//! What the kernel's reassembly refuses is refused here, as far as a table
//! without the data can tell ([`Core::pass`], `Frags::admit`,
//! `Piece::fault`): an IPv6 fragment with M set and a length not a
//! multiple of 8 or ending past 65535 bytes (with a parameter problem to
//! its sender, as `ipv6_frag_rcv`), an IPv4 datagram over 65535 bytes, an
//! empty fragment or one contradicting its datagram's end, and a fragment
//! overlapping part of what came (RFC 5722; `inet_frag_queue_insert`) each
//! refuse their datagram: its fragments held and still to come are dropped
//! too. A duplicate is dropped alone.
//!
//! # Which worker
//!
//! A connection lives on the worker that owns its client key (address and
//! port), and only the first fragment carries the port. So every fragment
//! first goes to the datagram's *tracker*, a worker chosen by a hash of the
//! datagram's key ([`tracker`]); the tracker reads the client key off the
//! first fragment and sends each fragment on to the connection's owner
//! (handoffs marked [`FragHop::Owner`], which the owner handles itself).
//! One ring per worker pair is first in first out, so the owner sees a
//! datagram's first fragment before the rest; while the owner's ring is
//! full, the datagram's fragments wait held at the tracker (the first goes
//! first) and are retried once a pass ([`Core::release_stalled`]). With one
//! worker, or when the tracker owns the connection, nothing is handed over.

use super::frag_table::{
    Admit, Entry, Fault, Held, Key, Piece, RESTART_S, Route, echo_request, first_ports, tracker,
};
pub use super::frag_table::{FRAG_MAX_DIST, FRAG_TIMEOUT_S, FRAG6_TIMEOUT_S, FragHop, HELD};
use super::tx::TxPair;
use super::worker::Core;
use crate::Nic;
use crate::io::{FRAME_MAX, TxQueue};
use crate::stats::Ctr;
use crate::wire::ethernet;
use crate::wire::icmpv6::msg;
use crate::wire::ipv4::protocol;
use crate::wire::ipv6::{self, Ipv6Packet, Upper};
use std::net::Ipv6Addr;

/// For an IPv6 atomic fragment (`frame`: Ethernet and the packet, to its
/// length; `None` for any other packet), its upper layer, or `None` for
/// neighbor and router discovery (RFC 6980: `ndisc_rcv`, `net/ipv6/ndisc.c`,
/// drops them in fragments, `ndisc_suppress_frag_ndisc`; `classify` counts
/// them in `drop_fragment`). An echo request is answered as one by `icmp6.rs`,
/// with a reply of no fragment header, as `icmpv6_echo_reply`
/// (`net/ipv6/icmp.c`) builds one afresh; a packet too short for its TCP,
/// UDP or SCTP header, or of a protocol we do not forward, is counted as
/// the whole packet would be (`drop_l4_malformed`, `drop_proto`,
/// `drop_no_service`). A fragment header with
/// offset 0 and M clear (RFC 6946) is no piece of a datagram but the whole
/// packet behind it, which `classify` takes on at once as it takes any
/// whole packet (steered to its owner, checked, translated), read past the
/// header: `ipv6_frag_rcv` (`net/ipv6/reassembly.c`) takes it so before it
/// looks for a reassembly queue. It meets no tracker and takes no place in
/// the table. (`nf_ct_frag6_gather`, the reassembly IPVS's IPv6 packets
/// get, `nf_conntrack_reasm.c`, makes it a queue of its own, which it
/// completes at once.)
pub(super) fn atomic6(frame: &[u8]) -> Option<Option<Upper>> {
    let up = ipv6::atomic_upper(&frame[ethernet::HEADER_LEN..])?;
    let ty = frame.get(ethernet::HEADER_LEN + up.offset).copied();
    let nd = ty.is_some_and(|t| (msg::ROUTER_SOLICIT..=msg::REDIRECT).contains(&t));
    Some((up.protocol != ipv6::next_header::ICMPV6 || !nd).then_some(up))
}

impl Core {
    /// An IPv6 packet with a fragment header to us (`group`: to a multicast
    /// group), `frame` cut to its length: the checks `classify` makes of
    /// any IPv6 packet before TCP/UDP, then [`Core::fragment_in`].
    #[cold]
    pub(super) fn fragment6<T: TxQueue>(
        &mut self,
        nic: Nic,
        frame: &[u8],
        group: bool,
        tx: &mut TxPair<T>,
    ) {
        use crate::wire::ipv6::next_header::{DEST_OPTS, ICMPV6, ROUTING};
        let ip = Ipv6Packet::new_unchecked(&frame[ethernet::HEADER_LEN..]);
        let src = ip.src();
        if src.is_multicast() || src.is_unspecified() {
            return self.ctr.inc(Ctr::DropBadSource);
        }
        if group {
            return self.ctr.inc(Ctr::DropNotForUs);
        }
        if self.sync.standby {
            return self.ctr.inc(Ctr::DropStandby);
        }
        if let Some(up) = ipv6::first_fragment_cut(&frame[ethernet::HEADER_LEN..]) {
            return self.chain_cut(nic, frame, up, tx);
        }
        let Ok(found) = ipv6::walk_fragment(
            ip.next_header(),
            &frame[ethernet::HEADER_LEN..],
            ipv6::HEADER_LEN,
        ) else {
            return self.ctr.inc(Ctr::DropExtHeader);
        };
        // What the fragmentable part starts with: TCP, UDP, SCTP, or a
        // header that may come before them there.
        // (ICMPv6: an echo request to us, which a hop limit of 1 reaches.)
        // Only the first fragment's next header says it: the others' may
        // differ and are not looked at (RFC 8200 4.5; `ip6_frag_queue`
        // takes the first's alone).
        let echo = found.0.next == ICMPV6 && self.is_ours6(nic, ip.dst());
        if !echo
            && found.0.offset == 0
            && !matches!(
                found.0.next,
                protocol::TCP | protocol::UDP | protocol::SCTP | DEST_OPTS | ROUTING
            )
        {
            return self.ctr.inc(Ctr::DropFragment);
        }
        if !echo && ip.hop_limit() <= 1 {
            return self.ctr.inc(Ctr::DropTtl);
        }
        let piece = Piece::v6(nic, &ip, found);
        self.fragment_in(nic, frame, (piece, self.frags.via), tx);
    }

    /// A fragment `p` received on `nic` (its IP header already checked, the
    /// TTL or hop limit above 1), `frame` cut to the packet's length; `via`:
    /// why it was handed here, if it was.
    #[cold]
    pub(super) fn fragment_in<T: TxQueue>(
        &mut self,
        nic: Nic,
        frame: &[u8],
        (p, via): (Piece, FragHop),
        tx: &mut TxPair<T>,
    ) {
        self.ctr.inc(Ctr::RxFragments);
        let k = p.key;
        // Only fragments of what could be a connection of ours take a place
        // in the table: to our addresses from outside, from the real
        // servers' segment inside (else as the unfragmented path counts).
        if !self.frag_plausible(nic, &k) {
            return self.ctr.inc(match nic {
                Nic::Ext => Ctr::DropNoService,
                Nic::Int => Ctr::DropNoConn,
            });
        }
        self.frags.secret = self.env.fanout_key;
        // Not the RX frame that leaves: a first fragment sent from its own
        // buffer would go after the held ones copied behind it, or not at all
        // if they took the TX ring's last slots.
        let zc = self.zc.out.take();
        self.fragment_on(nic, frame, (p, via), tx);
        self.zc.out = zc;
    }

    /// Whether datagram `k` received on `nic` is addressed to us.
    fn to_us(&self, nic: Nic, k: &Key) -> bool {
        match k.v6 {
            false => self.is_ours(nic, k.dst as u32),
            true => self.is_ours6(nic, Ipv6Addr::from_bits(k.dst)),
        }
    }

    /// Whether datagram `k` received on `nic` may belong to a connection or
    /// be an echo request to us.
    fn frag_plausible(&self, nic: Nic, k: &Key) -> bool {
        match (nic, k.v6) {
            // (An echo request to the DIP is answered from anywhere, as
            // when it comes whole.)
            (_, _) if self.to_us(nic, k) => true,
            // An address of a firewall-mark service's prefix (`nat::mark`).
            (Nic::Ext, false) => self.snap.cfg.marks.covers(k.dst as u32),
            (Nic::Ext, true) => self.snap.cfg.marks6.covers(k.dst),
            (Nic::Int, false) => self.env.int_net.contains(k.src as u32),
            (Nic::Int, true) => self
                .env
                .int_net6
                .is_some_and(|n| n.contains(Ipv6Addr::from_bits(k.src))),
        }
    }

    fn fragment_on<T: TxQueue>(
        &mut self,
        nic: Nic,
        frame: &[u8],
        (p, via): (Piece, FragHop),
        tx: &mut TxPair<T>,
    ) {
        let k = p.key;
        // A first fragment's route: the connection's ports, or an echo
        // request's (`None`); a later one's is in the table.
        let first = match p.upper {
            Some((proto, at)) => match first_ports(proto, &frame[usize::from(at)..]) {
                Some(ports) => Some(Some((proto, ports))),
                None if echo_request(proto, &frame[usize::from(at)..]) && self.to_us(nic, &k) => {
                    Some(None)
                }
                None => return self.ctr.inc(Ctr::DropFragment),
            },
            None => None,
        };
        if via == FragHop::None && self.workers > 1 {
            let t = tracker(&k, self.frags.secret, self.workers);
            if t != self.id {
                return self.hand_fragment(t, nic, frame, FragHop::Tracker);
            }
        }
        let now = self.clock.now_s;
        // IPv4, where its datagram is tracked: started over if its source
        // sent `--ipfrag-max-dist` fragments of others since its last (its
        // count more than that on).
        let max_dist = self.env.sysctl.ipfrag_max_dist;
        if !k.v6
            && via != FragHop::Owner
            && let Some(n) = self.frags.too_far(&k, now, max_dist)
        {
            self.ctr.inc(Ctr::FragTooFar);
            self.ctr.add(Ctr::FragReleased, n);
            self.ctr.add(Ctr::DropFragTooFar, n);
        }
        if let Some(fault) = p.fault() {
            return self.faulty(nic, frame, &p, fault, tx);
        }
        // A datagram in flight keeps its route: a first fragment of it again
        // is taken as any other (a duplicate, or an overlap). A first
        // fragment for one (refused or not) nothing came for in `RESTART_S`
        // is another datagram that reuses the id: started over. So is one
        // from the tracker, which passes a first only for a datagram it
        // started (over, by time or by `--ipfrag-max-dist`).
        let restart = |e: &Entry| via == FragHop::Owner || now.saturating_sub(e.last) >= RESTART_S;
        let known = self
            .frags
            .find(&k, now)
            .filter(|e| first.is_none() || !restart(e))
            .map(|e| e.route);
        let route = if let Some(route) = known {
            route
        } else if let Some(None) = first {
            // Answered where it is tracked: no connection, no owner.
            self.frags.start(k, now, Route::Echo);
            Route::Echo
        } else if let Some(Some((proto, (sport, dport, _)))) = first {
            let owner = match via {
                // Sent here by the tracker: ours (the same function).
                FragHop::Owner => self.id,
                _ if self.workers > 1 => self.owner_of(nic, &k, (sport, dport)),
                _ => self.id,
            };
            let route = if owner == self.id {
                Route::Ports(proto, sport, dport)
            } else {
                Route::Worker(owner as u16)
            };
            self.frags.start(k, now, route);
            route
        } else {
            return self.hold(p, nic, frame);
        };
        // The owner's ring full: this one waits with those held for it, to
        // go in order (the first first) once there is room.
        if let Route::Worker(w) = route
            && (self.links.handoffs.room_to(usize::from(w)) == 0
                || self.frags.stalled && self.frags.holds(&k))
        {
            self.frags.stalled = true;
            return self.hold(p, nic, frame);
        }
        (self.frags.one_packet, self.frags.sctp_refused) = (None, false);
        if !self.pass(route, nic, frame, p, tx) {
            return;
        }
        // A first fragment scheduled on its own (`ops.rs`): its datagram's
        // other fragments go where it went. One refused for its port (SCTP,
        // `frag_nat.rs`): they are dropped as it was.
        let refused = std::mem::take(&mut self.frags.sctp_refused);
        let route = match (route, self.frags.one_packet.take()) {
            (Route::Ports(..), _) if refused && first.is_some() => {
                self.reroute(&k, Route::SctpPort)
            }
            (Route::Ports(proto, sport, dport), Some(dest)) if first.is_some() => {
                self.reroute(&k, Route::OnePacket(proto, sport, dport, dest))
            }
            (r, _) => r,
        };
        self.frags.complete(&k, now);
        if first.is_some() {
            self.expire_held(now);
            self.release_held(&k, route, now, tx);
        }
    }

    /// Datagram `k`'s other fragments go by `r` (its first went by another).
    fn reroute(&mut self, k: &Key, r: Route) -> Route {
        if let Some(e) = self.frags.find(k, self.clock.now_s) {
            e.route = r;
        }
        r
    }

    /// Fragment `p` on by `route` if its datagram takes it
    /// ([`Frags::admit`](super::frag_table::Frags::admit): the kernel's
    /// reassembly would), else dropped and counted (an overlap or a
    /// contradicting end refuses the whole datagram, RFC 5722); whether it
    /// went.
    fn pass<T: TxQueue>(
        &mut self,
        route: Route,
        nic: Nic,
        frame: &[u8],
        p: Piece,
        tx: &mut TxPair<T>,
    ) -> bool {
        let why = match self.frags.admit(&p, self.clock.now_s) {
            Admit::Pass => {
                self.frag_route(route, nic, frame, p, tx);
                return true;
            }
            // (Gone: its datagram came whole while this copy was held.)
            Admit::Dup | Admit::Gone => Ctr::DropFragDup,
            Admit::Refused => Ctr::DropFragOverlap,
            Admit::Overlap => {
                self.refuse(p.key);
                Ctr::DropFragOverlap
            }
            Admit::Invalid => {
                self.refuse(p.key);
                Ctr::DropFragInvalid
            }
        };
        self.ctr.inc(why);
        false
    }

    /// Fragment `p` the kernel refuses on its own ([`Piece::fault`]):
    /// dropped with its datagram (Linux drops the queue on these too since
    /// 2026, commit 9ff2d2a98370 in `ip6_frag_queue`), and for IPv6 its
    /// sender told with a parameter
    /// problem, as `ipv6_frag_rcv` tells it, within the rate limit.
    #[cold]
    fn faulty<T: TxQueue>(
        &mut self,
        nic: Nic,
        frame: &[u8],
        p: &Piece,
        fault: Fault,
        tx: &mut TxPair<T>,
    ) {
        use crate::wire::icmpv6::{msg, param_problem};
        self.ctr.inc(Ctr::DropFragInvalid);
        self.refuse(p.key);
        if let Fault::Pointer(at) = fault {
            let counted = (Ctr::Icmp6ParamProblem, Ctr::Icmp6ParamProblemLimited);
            let what = (msg::PARAM_PROBLEM, param_problem::HEADER_FIELD, at);
            self.icmp6_to_sender(nic, frame, what, counted, tx);
        }
    }

    /// A first fragment that cuts its header chain short (RFC 8200 §4.5,
    /// RFC 7112): dropped, and when it is addressed to us its sender told
    /// with a parameter problem (code 3, pointer 0), as `ipv6_frag_rcv`
    /// does for what it receives, within the rate limit; not for an
    /// ICMPv6 error's fragment (`is_ineligible` in `icmp6_send`).
    #[cold]
    fn chain_cut<T: TxQueue>(&mut self, nic: Nic, frame: &[u8], up: Upper, tx: &mut TxPair<T>) {
        use crate::wire::icmpv6::{msg, param_problem};
        self.ctr.inc(Ctr::DropFragment);
        let dst = Ipv6Packet::new_unchecked(&frame[ethernet::HEADER_LEN..]).dst();
        let local = self.is_ours6(nic, dst)
            || nic == Nic::Ext && self.snap.cfg.marks6.covers(dst.to_bits());
        let at = ethernet::HEADER_LEN + up.offset;
        let error = up.protocol == ipv6::next_header::ICMPV6
            && frame.get(at).is_some_and(|&ty| ty < msg::ECHO_REQUEST);
        if local && !error {
            let counted = (Ctr::Icmp6ParamProblem, Ctr::Icmp6ParamProblemLimited);
            let what = (msg::PARAM_PROBLEM, param_problem::HEADER_CHAIN, 0);
            self.icmp6_to_sender(nic, frame, what, counted, tx);
        }
    }

    /// Refuse datagram `k` until it times out: the fragments of it held
    /// here are dropped, as the kernel frees its queue's (`inet_frag_kill`),
    /// and so are those still to come (a queue the kernel starts afresh for
    /// them lacks what it dropped, and times out).
    fn refuse(&mut self, k: Key) {
        let dropped = self.frags.refuse(k, self.clock.now_s);
        self.ctr.add(Ctr::FragReleased, dropped);
        self.ctr.add(Ctr::DropFragOverlap, dropped);
    }

    /// Keep fragment `p` until its datagram's first (or room in its owner's
    /// ring) comes.
    fn hold(&mut self, p: Piece, nic: Nic, frame: &[u8]) {
        if frame.len() > FRAME_MAX {
            return self.ctr.inc(Ctr::DropTooBig);
        }
        let dropped = self.frags.hold(p, nic, frame, self.clock.now_s);
        self.ctr.add(Ctr::FragReleased, dropped);
        self.ctr.add(Ctr::DropFragExpired, dropped);
        self.ctr.inc(Ctr::FragHeld);
    }

    /// The worker owning the connection of a datagram received on `nic`
    /// with ports `(sport, dport)`: that of its client key.
    fn owner_of(&self, nic: Nic, k: &Key, (sport, dport): (u16, u16)) -> usize {
        let client = match nic {
            Nic::Ext => (k.src, sport),
            Nic::Int => (k.dst, dport),
        };
        if k.v6 {
            self.env
                .owner6((Ipv6Addr::from_bits(client.0), client.1), self.workers)
        } else {
            self.env.owner((client.0 as u32, client.1), self.workers)
        }
    }

    /// Drop the fragments held too long (also once a second from the
    /// worker's expiry).
    pub(super) fn expire_held(&mut self, now: u32) {
        let expired = self.frags.expire(now);
        self.ctr.add(Ctr::FragReleased, expired);
        self.ctr.add(Ctr::DropFragExpired, expired);
    }

    /// The fragments of `k` held for its first: on their way now, as far as
    /// the owner's ring has room.
    fn release_held<T: TxQueue>(&mut self, k: &Key, route: Route, now: u32, tx: &mut TxPair<T>) {
        loop {
            // Only as many as the owner's ring takes: the rest stay held
            // (their datagram known) for `release_stalled`.
            if let Route::Worker(w) = route
                && self.links.handoffs.room_to(usize::from(w)) == 0
            {
                self.frags.stalled = true;
                return;
            }
            let Some((p, nic, len)) = self.frags.take_held(k) else {
                return;
            };
            self.ctr.inc(Ctr::FragReleased);
            let out = std::mem::take(&mut self.frags.out);
            self.pass(route, nic, &out[..len], p, tx);
            self.frags.complete(k, now);
            self.frags.out = out;
        }
    }

    /// Once a pass: held fragments whose datagram became known while its
    /// owner's ring was full go on now, as far as it has room.
    #[inline]
    pub(super) fn release_stalled<T: TxQueue>(&mut self, tx: &mut TxPair<T>) {
        if self.frags.stalled {
            self.release_stalled_now(tx);
        }
    }

    #[cold]
    #[inline(never)]
    fn release_stalled_now<T: TxQueue>(&mut self, tx: &mut TxPair<T>) {
        self.frags.stalled = false;
        let now = self.clock.now_s;
        self.expire_held(now);
        // Between frames: none is at an RX cursor to leave from.
        let zc = self.zc.out.take();
        for i in 0..HELD {
            let Held { piece, nic, .. } = self.frags.held[i];
            if nic.is_none() {
                continue;
            }
            if let Some(route) = self.frags.find(&piece.key, now).map(|e| e.route) {
                self.release_held(&piece.key, route, now, tx);
            }
        }
        self.zc.out = zc;
    }

    fn frag_route<T: TxQueue>(
        &mut self,
        route: Route,
        nic: Nic,
        frame: &[u8],
        p: Piece,
        tx: &mut TxPair<T>,
    ) {
        match route {
            Route::Worker(w) => self.hand_fragment(usize::from(w), nic, frame, FragHop::Owner),
            Route::Ports(proto, sport, dport) => {
                self.frag_nat_of(nic, frame, (p, proto, None), (sport, dport), tx)
            }
            Route::OnePacket(proto, sport, dport, dest) => {
                self.frag_nat_of(nic, frame, (p, proto, Some(dest)), (sport, dport), tx)
            }
            Route::Echo => self.echo_fragment(nic, frame, p, &mut tx[nic]),
            Route::Unknown => self.ctr.inc(Ctr::DropFragment),
            Route::Refused => self.ctr.inc(Ctr::DropFragOverlap),
            Route::SctpPort => self.ctr.inc(Ctr::DropSctpFragPort),
        }
    }

    /// The reply's fragment for fragment `p` of an echo request to us, out
    /// of the NIC it came in, to the MAC it came from. The request's ICMP
    /// checksum cannot be checked (it covers fragments still to come): a
    /// damaged request gets a reply its sender's check refuses.
    fn echo_fragment<T: TxQueue>(&mut self, nic: Nic, frame: &[u8], p: Piece, tx: &mut T) {
        // From a source the kernel drops each fragment of before
        // reassembly (`Core::martian`): unanswered.
        let ip = &frame[ethernet::HEADER_LEN..];
        let martian = match p.key.v6 {
            true => Core::martian6(Ipv6Packet::new_unchecked(ip).src()),
            false => self.martian(crate::wire::Ipv4Packet::new_unchecked(ip).src_raw()),
        };
        if martian {
            return self.ctr.inc(Ctr::DropBadSource);
        }
        let first = p.upper.map(|(_, at)| usize::from(at));
        let answered = self.answer(nic, frame, tx, |reply| {
            if p.key.v6 {
                let hop_limit = crate::wire::icmpv6::DEFAULT_HOP_LIMIT;
                crate::nat::rewrite::echo_reply_fragment6(reply, first, hop_limit);
            } else {
                crate::nat::rewrite::echo_reply_fragment(reply, first.is_some());
            }
            Some(reply.len())
        });
        if answered && first.is_some() {
            self.ctr.inc(Ctr::IcmpEchoReply);
        }
    }

    /// Pass a fragment to worker `to` (a copy: it may be held or passed on
    /// again there).
    fn hand_fragment(&mut self, to: usize, nic: Nic, frame: &[u8], hop: FragHop) {
        let sent = self.links.handoffs.send_fragment(to, nic, frame, hop);
        self.count_handoff(sent);
    }
}
