//! Frames waiting for their next hop's MAC (`tx.rs` parks them when the
//! neighbor snapshot does not know it yet): each hop's queue ([`Pending`]),
//! sent when the MAC is learned ([`Core::flush_pending`]) and given up after
//! [`PENDING_MAX_AGE`] ([`Core::expire_pending`]).
//!
//! A parked frame is counted once for what became of it: `neigh_queued` when
//! parked, then its packet's counter (`fwd_in`, `fwd_out`, ...) when it goes
//! (a tunnel's outer packet in `tunnel_encap` too, then: `PendingHop::also`),
//! or `drop_tx_full` (no TX slot then) or `drop_neigh_unresolved` (never
//! resolved) or `drop_neigh_queue` (the oldest of a full queue, dropped for
//! a newer frame: [`Core::park`]; also in `neigh_evicted`) or `drop_standby` (the director became a standby meanwhile:
//! [`Core::expire_pending`]). The fragments of a packet cut here count in `tx_fragments`
//! when queued, as when sent (the kernel's FragCreates counts them as it
//! hands them to the neighbor layer), and the packet in
//! `neigh_queued_fragmented`; the packet counts in its counter and in
//! `tx_fragmented` once, when its last fragment goes, if all of them went,
//! so one given up is never counted as sent (the kernel's FragOKs counts it
//! at the hand-off: a deliberate difference).
//!
//! Every frame to an unresolved hop has the hop asked for, parked or not, as
//! the kernel creates and solicits a neighbour whatever its queue holds
//! (`__neigh_event_send` in `net/core/neighbour.c`; `unres_qlen` bounds the
//! frames, not the neighbours): a hop with a queue is asked when it gets it,
//! and again each pass until the ask found room in the channel
//! (`PendingHop::asked`, [`Core::expire_pending`]), and again by a frame
//! parked [`RETRANS`] or more after the last ask (the table probes a hop
//! that failed meanwhile again at once, and ignores the ask otherwise); a
//! hop whose frame found no queue (every one taken)
//! is asked at most once per [`RETRANS`], and at most [`PENDING_HOPS`] such
//! hops per [`RETRANS`] ([`Core::ask_unqueued`]). No message per frame.

use super::icmp::QUOTE_ROOM;
use super::tx::{
    Hop, IcmpLimit, PENDING_HOPS, PENDING_MAX_AGE, PENDING_PER_HOP, Patch, TxPair, count_done,
    set_macs,
};
use super::worker::Core;
use crate::Nic;
use crate::io::{FRAME_MAX, TxQueue};
use crate::neigh::RETRANS;
use crate::stats::Ctr;
use std::time::Instant;

/// Frames of one next hop waiting for its MAC: each as it came, with the
/// rewrite it gets when it goes, the counter it counts in then (`counts`;
/// none for a fragment cut here but its packet's last), whether it starts a
/// packet (`opens`; false for a fragment cut here but the first), whether
/// it is the last fragment of a packet cut here, which counts that packet
/// in `tx_fragmented` too (`cuts`), and whether it is a client's packet to
/// a real server (`fwd_in`), whose
/// client is told if it never goes, quoting it as sent
/// ([`Core::expire_pending`]), or for the first fragment of a client's
/// datagram cut here, what `quotes` kept (`quote_lens`, 0: none).
pub(super) struct PendingHop {
    pub(super) nic: Nic,
    pub(super) ip: Hop,
    since: Instant,
    /// When the control thread was last asked to resolve the hop: `None`
    /// while the ask found the channel full, and asked again then.
    asked: Option<Instant>,
    pub(super) n: usize,
    /// Where the oldest frame is kept: the queue is a ring, so the oldest
    /// packet makes way for a new one without the others moving
    /// ([`PendingHop::at`]).
    head: usize,
    lens: [usize; PENDING_PER_HOP],
    patches: [Patch; PENDING_PER_HOP],
    pub(super) counts: [Option<Ctr>; PENDING_PER_HOP],
    /// A second counter counted with `counts` when the frame goes, none
    /// else: `tunnel_encap` for a tunnel's outer packet
    /// (`Core::send_encapsulated`).
    pub(super) also: [Option<Ctr>; PENDING_PER_HOP],
    pub(super) opens: [bool; PENDING_PER_HOP],
    pub(super) cuts: [bool; PENDING_PER_HOP],
    pub(super) clients: [bool; PENDING_PER_HOP],
    pub(super) quote_lens: [usize; PENDING_PER_HOP],
    pub(super) quotes: Box<[[u8; QUOTE_ROOM]; PENDING_PER_HOP]>,
    frames: Box<[[u8; FRAME_MAX]; PENDING_PER_HOP]>,
}

/// The frames waiting for ARP, allocated once ([`PENDING_HOPS`] next hops of
/// [`PENDING_PER_HOP`] frames each); the rate limit of the ICMP errors the
/// worker makes up (the other state of `forward`'s slow paths); and whether
/// any hop may hold frames (false: the pass's expiry looks at none of them);
/// and the hops asked for though their frames found no queue, with when
/// ([`Core::ask_unqueued`]).
pub(super) struct Pending(
    pub(super) Vec<PendingHop>,
    pub(super) IcmpLimit,
    pub(super) bool,
    [Option<(Nic, Hop, Instant)>; PENDING_HOPS],
);

impl PendingHop {
    /// Where the queue's `j`th oldest frame is kept (its index in the
    /// arrays).
    pub(super) fn at(&self, j: usize) -> usize {
        (self.head + j) % PENDING_PER_HOP
    }

    /// Drop the oldest packet: its frame, and the fragments cut here from
    /// it that follow it (of no use without it). Returns the frames dropped.
    fn drop_oldest(&mut self) -> usize {
        let mut k = 1;
        while k < self.n && !self.opens[self.at(k)] {
            k += 1;
        }
        self.head = self.at(k);
        self.n -= k;
        k
    }
}

impl Pending {
    pub fn new(start: Instant) -> Self {
        Pending(
            (0..PENDING_HOPS)
                .map(|_| PendingHop {
                    nic: Nic::Ext,
                    ip: Hop::V4(0),
                    since: start,
                    asked: None,
                    n: 0,
                    head: 0,
                    lens: [0; PENDING_PER_HOP],
                    patches: [Patch::None; PENDING_PER_HOP],
                    counts: [None; PENDING_PER_HOP],
                    also: [None; PENDING_PER_HOP],
                    opens: [true; PENDING_PER_HOP],
                    cuts: [false; PENDING_PER_HOP],
                    clients: [false; PENDING_PER_HOP],
                    quote_lens: [0; PENDING_PER_HOP],
                    quotes: Box::new([[0; QUOTE_ROOM]; PENDING_PER_HOP]),
                    frames: Box::new([[0; FRAME_MAX]; PENDING_PER_HOP]),
                })
                .collect(),
            IcmpLimit::new(start),
            false,
            [None; PENDING_HOPS],
        )
    }

    /// Whether any hop holds frames (what the flag caches between walks).
    fn holds_frames(&self) -> bool {
        self.0.iter().any(|p| p.n > 0)
    }
}

impl Core {
    /// How many frames to `hop` the pending queues can take, the oldest
    /// packets making way ([`Core::park`]): a whole queue if it has one or
    /// one is free, else none.
    pub(super) fn park_room(&self, nic: Nic, hop: Hop) -> usize {
        let hops = &self.pending.0;
        let queued = |p: &PendingHop| p.n > 0 && p.nic == nic && p.ip == hop;
        if hops.iter().any(|p| queued(p) || p.n == 0) {
            PENDING_PER_HOP
        } else {
            0
        }
    }

    /// Slow path of [`Core::forward`]: park the frame until ARP answers.
    /// `done` is counted when it goes ([`Core::flush_pending`]), but a
    /// fragment's `tx_fragments` now (see the module doc). A full queue
    /// drops its oldest packet to make room (each of its frames counted in
    /// `drop_neigh_queue`), as the kernel's `__neigh_event_send`
    /// (`net/core/neighbour.c`) drops the head of a full queue
    /// (`SKB_DROP_REASON_NEIGH_QUEUEFULL`): the newest frames are the ones
    /// a sender still waits for (a retransmission supersedes what it
    /// repeats). A packet cut here goes whole, with every fragment that
    /// follows its first (`Core::fragment` parks only packets of at most
    /// [`PENDING_PER_HOP`] fragments, so the oldest is never the packet
    /// being parked).
    pub(super) fn park(
        &mut self,
        (nic, hop): (Nic, Hop),
        frame: &[u8],
        done: Ctr,
        patch: Patch,
    ) -> bool {
        let len = frame.len();
        let now = self.clock.now;
        let hops = &mut self.pending.0;
        let ask = |tx: &crossbeam_channel::Sender<_>| {
            tx.try_send(hop.resolve(nic)).is_ok().then_some(now)
        };
        let slot = match hops
            .iter()
            .position(|p| p.n > 0 && p.nic == nic && p.ip == hop)
        {
            // A frame for a hop asked for a while ago asks again: if it
            // failed meanwhile, it is probed again now, as the kernel's
            // `__neigh_event_send` restarts a failed neighbour on each
            // packet; one ask per `RETRANS` at most, not one per frame.
            Some(i) => {
                if hops[i].asked.is_some_and(|at| now >= at + RETRANS) {
                    hops[i].asked = ask(&self.links.neigh_tx);
                }
                i
            }
            None => {
                let Some(i) = hops.iter().position(|p| p.n == 0) else {
                    self.ask_unqueued(nic, hop);
                    return self.drop(Ctr::DropNeighQueue);
                };
                let p = &mut hops[i];
                p.nic = nic;
                p.ip = hop;
                p.since = now;
                p.asked = ask(&self.links.neigh_tx);
                i
            }
        };
        let p = &mut self.pending.0[slot];
        if len > FRAME_MAX {
            return self.drop(Ctr::DropNeighQueue);
        }
        let dropped = if p.n >= PENDING_PER_HOP {
            p.drop_oldest()
        } else {
            0
        };
        let k = p.at(p.n);
        p.frames[k][..len].copy_from_slice(frame);
        p.patches[k] = patch;
        p.clients[k] = matches!(done, Ctr::FwdIn | Ctr::FwdIn6);
        p.opens[k] = true;
        p.cuts[k] = false;
        p.counts[k] = (done != Ctr::TxFragments).then_some(done);
        p.also[k] = None;
        p.quote_lens[k] = 0;
        p.lens[k] = len;
        p.n += 1;
        self.ctr.add(Ctr::DropNeighQueue, dropped as u64);
        self.ctr.add(Ctr::NeighEvicted, dropped as u64);
        self.pending.2 = true;
        self.ctr.inc(Ctr::NeighQueued);
        if done == Ctr::TxFragments {
            self.ctr.inc(done);
        }
        true
    }

    /// Have `hop` on `nic` resolved though its frame is not parked (no queue
    /// free, or not room enough for its fragments): nothing more if it has a
    /// queue (asked when it got it, and each pass until the channel took the
    /// ask, [`Core::expire_pending`]), else at most once per [`RETRANS`], and
    /// only while fewer than [`PENDING_HOPS`] other such hops were asked
    /// within [`RETRANS`] (see the module doc).
    pub(super) fn ask_unqueued(&mut self, nic: Nic, hop: Hop) {
        let now = self.clock.now;
        let hops = &self.pending.0;
        if hops.iter().any(|p| p.n > 0 && p.nic == nic && p.ip == hop) {
            return;
        }
        let fresh = |at: Instant| now < at + RETRANS;
        let asked = &mut self.pending.3;
        if asked
            .iter()
            .flatten()
            .any(|&(n, h, at)| n == nic && h == hop && fresh(at))
        {
            return;
        }
        let Some(slot) = asked
            .iter_mut()
            .find(|m| m.is_none_or(|(_, _, at)| !fresh(at)))
        else {
            return;
        };
        if self.links.neigh_tx.try_send(hop.resolve(nic)).is_ok() {
            *slot = Some((nic, hop, now));
        }
    }

    /// Send the frames whose next hop got resolved, each counted as it goes
    /// (its packet's counter) or as `drop_tx_full`, not both; a packet cut
    /// in fragments counts (and in `tx_fragmented`) when its last went, if
    /// none of them was dropped, and stops at the first that finds no slot
    /// (one `drop_tx_full`; the rest are not sent).
    /// A standby sends none of them: [`Core::expire_pending`] drops them.
    pub(super) fn flush_pending<T: TxQueue>(&mut self, tx: &mut TxPair<T>) {
        if self.sync.standby {
            return;
        }
        for p in self.pending.0.iter_mut().filter(|p| p.n > 0) {
            let Some(mac) = p.ip.mac(&self.snap.neigh, p.nic) else {
                continue;
            };
            p.ip.mark_used(&self.shared.neigh_used, p.nic);
            let tx = &mut tx[p.nic];
            // Every frame of this packet so far went.
            let mut whole = true;
            for j in 0..p.n {
                let i = p.at(j);
                // The rest of a packet one of whose fragments found no slot
                // is of no use to the receiver: it stops there, as the
                // fragments that go at once do (`Core::fragment`).
                if !whole && !p.opens[i] {
                    continue;
                }
                whole = true;
                let len = p.lens[i];
                let Some(slot) = tx.slot().filter(|s| s.len() >= len) else {
                    self.ctr.inc(Ctr::DropTxFull);
                    whole = false;
                    continue;
                };
                slot[..len].copy_from_slice(&p.frames[i][..len]);
                p.patches[i].apply(&mut slot[..len]);
                set_macs(&mut slot[..len], mac, self.env.mac[p.nic as usize]);
                if !crate::observe::tap_sent(&self.snap.tap, self.id, p.nic, &slot[..len]) {
                    self.ctr.inc(Ctr::CaptureDropped);
                }
                tx.commit(len);
                self.ctr.add(Ctr::tx_bytes(p.nic), len as u64);
                if let (true, Some(done)) = (whole, p.counts[i]) {
                    count_done(&mut self.ctr, done);
                    if let Some(also) = p.also[i] {
                        self.ctr.inc(also);
                    }
                    if p.cuts[i] {
                        self.ctr.inc(Ctr::TxFragmented);
                    }
                }
            }
            p.n = 0;
        }
        self.pending.2 = self.pending.holds_frames();
    }

    /// Drop the frames that waited for their next hop too long. Once a pass:
    /// with nothing parked (nearly always) one test, not a walk of every hop.
    /// The client of each packet that was to go to a real server (`fwd_in`:
    /// NAT, DR, one-packet scheduling) is told, as the kernel tells it when a
    /// neighbor does not resolve (`arp_error_report` and `ndisc_error_report`
    /// → `dst_link_failure` → ICMP host unreachable, ICMPv6 address
    /// unreachable): [`Core::unreachable`].
    ///
    /// A standby drops every frame parked while it was active (counted in
    /// `drop_standby`) and tells nobody: the active director owns the VIPs
    /// and the DIP now, and the client's retransmission reaches it; an error
    /// from the standby would abort a connection still opening (the kernel's
    /// `tcp_v4_err` drops a `SYN_SENT` socket on host unreachable), and a
    /// frame sent once the hop answered would leave with the standby's MAC.
    pub(super) fn expire_pending<T: TxQueue>(&mut self, tx: &mut TxPair<T>) {
        if !self.pending.2 {
            return;
        }
        if self.sync.standby {
            for p in self.pending.0.iter_mut() {
                self.ctr.add(Ctr::DropStandby, p.n as u64);
                p.n = 0;
            }
            self.pending.2 = false;
            return;
        }
        let now = self.clock.now;
        // Out of `self` while the errors are made (no allocation: an empty
        // Vec), back after.
        let mut hops = std::mem::take(&mut self.pending.0);
        for p in hops.iter_mut().filter(|p| p.n > 0) {
            if now.saturating_duration_since(p.since) < PENDING_MAX_AGE {
                // The ask that found the channel full, again (once a pass).
                if p.asked.is_none() {
                    let sent = self.links.neigh_tx.try_send(p.ip.resolve(p.nic)).is_ok();
                    p.asked = sent.then_some(now);
                }
            } else {
                self.ctr.add(Ctr::DropNeighUnresolved, p.n as u64);
                // A client's packets only: a real server's reply waited for
                // a client (or gateway) with the VIP as its source by then,
                // and the kernel's error about it goes to that local address.
                // (Clients are on the external NIC, whichever NIC the server.)
                for j in 0..p.n {
                    let i = p.at(j);
                    let frame = match p.quote_lens[i] {
                        0 => &p.frames[i][..p.lens[i]],
                        n => &p.quotes[i][..n],
                    };
                    if p.clients[i] {
                        self.unreachable(Nic::Ext, frame, tx);
                    }
                }
                p.n = 0;
            }
        }
        self.pending.0 = hops;
        self.pending.2 = self.pending.holds_frames();
    }
}
