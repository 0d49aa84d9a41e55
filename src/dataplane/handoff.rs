//! Handoff between workers: a frame that reached a worker that does not own its
//! connection goes to the owner over a bounded, lock-free ring per ordered pair
//! of workers (i → j), never through a table or a lock shared by all.
//!
//! A ring is two `crossbeam_channel::bounded` channels of `depth` boxes each
//! (array-backed: `try_send`/`try_recv` are a few atomic operations, and take
//! no lock while no thread blocks on them, which workers never do): `full`
//! carries boxed frames from i to j, `empty` gives the boxes back from j to i.
//! The pair owns exactly `depth` boxes, allocated when the director is built
//! ([`mesh`]): i takes an empty box, puts the frame in and sends it; j
//! handles the frame and returns the box. So handing off never allocates,
//! never blocks, and never has more than `depth` frames in flight from i to j;
//! when i finds no empty box the ring is full and the frame is a counted drop
//! (`drop_handoff_full`).
//!
//! What goes in the box: where every worker's queues share one frame memory
//! (AF_XDP sockets on one UMEM, `io::xdp::open_workers`), the frame's
//! descriptor: i lends the frame at its RX cursor (`Core::lend_to`) and
//! puts the [`Lent`] token in the box; j reads and rewrites the frame where
//! it lies and sends it from there, or gives it back to the UMEM's free
//! frames (`Core::handle_lent`; `handoff_zero_copy` counts them).
//! Otherwise (a UMEM per worker, AF_PACKET rings, ICMP errors met while a
//! capture is attached) a copy of its bytes.
//!
//! A worker drains its incoming rings round-robin, one frame from each in turn,
//! a burst in total per pass (`Core::drain_handoffs`): a busy sender cannot
//! starve the others.
//!
//! A worker with nothing to do sleeps in `poll()` (5 ms at most). So that a
//! frame handed to it does not wait out that timeout, it raises its
//! `sleeping` flag first, and a sender that sees the flag (one load per
//! handoff) takes it down and rings the worker's [`Doorbell`]: a syscall per
//! sleep, never per frame under load. The flag and the rings are `SeqCst`
//! (crossbeam's send is a `SeqCst` read-modify-write), so a frame sent while
//! the worker decides to sleep is either seen by its last look at the rings
//! or rings the bell.
//!
//! Who hands off what: an ICMP error quotes its connection in its payload, so
//! it may reach any worker (`icmp.rs`). With steering on
//! ([`super::Plan::steer`]: AF_XDP with several queues, where the NIC's RSS
//! and not our fanout program picks the queue), so may a TCP/UDP segment
//! (`Core::steer_to`, `Core::steer_to6`).

use super::frag::FragHop;
use super::shared::Handoff;
use super::tx::{LendTo, TxPair};
use super::worker::Core;
use crate::io::ring::Doorbell;
use crate::io::{FRAME_MAX, Lent, RxMeta, RxQueue, TxQueue};
use crate::stats::Ctr;
use crate::{Nic, NicPair};
use crossbeam_channel::{Receiver, Sender, bounded};
use std::os::fd::RawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Why a frame was not handed off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// `depth` frames are already in flight to that worker.
    Full,
    /// Larger than a handoff box ([`FRAME_MAX`]).
    TooBig,
    /// No such worker (or the worker itself).
    NoRing,
}

/// The sending end of the ring i → j.
struct Outbox {
    full: Sender<Box<Handoff>>,
    empty: Receiver<Box<Handoff>>,
}

/// The receiving end of the ring i → j.
struct Inbox {
    full: Receiver<Box<Handoff>>,
    empty: Sender<Box<Handoff>>,
}

/// How to wake a worker sleeping in `poll()`.
struct Bell {
    sleeping: AtomicBool,
    /// `None` if no eventfd could be made: the worker wakes at its timeout.
    door: Option<Doorbell>,
}

impl Bell {
    /// Ring if the worker said it sleeps (once: the flag is taken). Callers
    /// publish what the worker is to find first, and this loads the flag
    /// with SeqCst after, so a worker that sets it and then looks cannot
    /// miss both (see [`Handoffs::sleep`]).
    fn wake(&self) {
        if self.sleeping.load(Ordering::SeqCst)
            && self.sleeping.swap(false, Ordering::SeqCst)
            && let Some(d) = &self.door
        {
            d.ring();
        }
    }
}

/// Every worker's [`Bell`], for whoever publishes something a sleeping worker
/// must act on (`Shared::bump`: a new configuration or neighbor snapshot).
#[derive(Default)]
pub struct Wakers(Vec<Arc<Bell>>);

impl Wakers {
    /// Ring every worker that sleeps.
    pub fn wake_all(&self) {
        for b in &self.0 {
            b.wake();
        }
    }

    /// Worker `id`'s bell alone, for whoever serves that worker only (its
    /// listing requesters: `Published`).
    pub fn one(&self, id: usize) -> Option<Waker> {
        self.0.get(id).map(|b| Waker(Arc::clone(b)))
    }
}

/// One worker's [`Bell`]: [`Waker::wake`] rings it if the worker sleeps.
/// As with handoffs, publish what the worker is to find (a bounded channel's
/// send, whose index update is a full barrier) before ringing.
#[derive(Clone)]
pub struct Waker(Arc<Bell>);

impl Waker {
    pub fn wake(&self) {
        self.0.wake();
    }
}

impl std::fmt::Debug for Waker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Waker")
    }
}

/// One worker's ends of every ring it is part of.
pub struct Handoffs {
    /// By destination worker; `None` for the worker itself.
    out: Vec<Option<Outbox>>,
    /// By source worker; `None` for the worker itself.
    inn: Vec<Option<Inbox>>,
    /// The source worker to look at first in the next [`Handoffs::recv`].
    next: usize,
    /// Every worker's bell (this one's at its own id), by worker.
    bells: Vec<Arc<Bell>>,
    /// Workers that stopped sending ([`Handoffs::finish`]).
    finished: Arc<AtomicUsize>,
    id: usize,
}

/// A received frame; give it back with [`Handoffs::recycle`].
pub struct Received {
    pub from: usize,
    pub frame: Box<Handoff>,
}

/// A box for a ring (allocated at build only).
fn empty_box() -> Box<Handoff> {
    Box::new(Handoff {
        nic: Nic::Ext,
        len: 0,
        csum_partial: false,
        lent: None,
        frag: FragHop::None,
        data: [0; FRAME_MAX],
    })
}

/// The rings between `n` workers, `depth` frames each: one [`Handoffs`] per
/// worker, in worker order. Allocates `depth × n × (n − 1)` boxes of
/// [`FRAME_MAX`] bytes.
pub fn mesh(n: usize, depth: usize) -> Vec<Handoffs> {
    mesh_with_wakers(n, depth).0
}

/// [`mesh`], and the workers' bells for [`Wakers::wake_all`]. Every worker
/// has one, a single worker too: it is woken for new snapshots.
pub fn mesh_with_wakers(n: usize, depth: usize) -> (Vec<Handoffs>, Wakers) {
    let depth = depth.max(1);
    let bells: Vec<Arc<Bell>> = (0..n)
        .map(|_| {
            Arc::new(Bell {
                sleeping: AtomicBool::new(false),
                door: Doorbell::new().ok(),
            })
        })
        .collect();
    let wakers = Wakers(bells.clone());
    let finished = Arc::new(AtomicUsize::new(0));
    let mut all: Vec<Handoffs> = (0..n)
        .map(|id| Handoffs {
            out: (0..n).map(|_| None).collect(),
            inn: (0..n).map(|_| None).collect(),
            next: 0,
            bells: bells.clone(),
            finished: Arc::clone(&finished),
            id,
        })
        .collect();
    for i in 0..n {
        for j in (0..n).filter(|&j| j != i) {
            let (full_tx, full_rx) = bounded(depth);
            let (empty_tx, empty_rx) = bounded(depth);
            for _ in 0..depth {
                // Room for exactly `depth`: cannot fail.
                let _ = empty_tx.try_send(empty_box());
            }
            all[i].out[j] = Some(Outbox {
                full: full_tx,
                empty: empty_rx,
            });
            all[j].inn[i] = Some(Inbox {
                full: full_rx,
                empty: empty_tx,
            });
        }
    }
    (all, wakers)
}

impl Handoffs {
    /// Copy `frame` into a box of the ring to worker `to` and send it.
    #[inline]
    pub fn send(
        &mut self,
        to: usize,
        nic: Nic,
        frame: &[u8],
        csum_partial: bool,
    ) -> Result<(), Refused> {
        self.send_copy(to, (nic, frame), csum_partial, FragHop::None)
    }

    /// [`Handoffs::send`] of a fragment, marked with why (`frag.rs`).
    pub fn send_fragment(
        &mut self,
        to: usize,
        nic: Nic,
        frame: &[u8],
        hop: FragHop,
    ) -> Result<(), Refused> {
        self.send_copy(to, (nic, frame), false, hop)
    }

    fn send_copy(
        &mut self,
        to: usize,
        (nic, frame): (Nic, &[u8]),
        csum_partial: bool,
        frag: FragHop,
    ) -> Result<(), Refused> {
        let len = frame.len();
        if len > FRAME_MAX {
            return Err(Refused::TooBig);
        }
        let mut h = self.empty_box(to)?;
        h.nic = nic;
        h.len = len as u16;
        h.csum_partial = csum_partial;
        h.lent = None;
        h.frag = frag;
        h.data[..len].copy_from_slice(frame);
        self.send_box(to, h).map_err(|(why, _)| why)
    }

    /// Send worker `to` a frame by its descriptor (`len` bytes of a frame
    /// lent by an RX queue on the UMEM the two workers share): no byte is
    /// copied. A refused frame comes back with the reason (always, but
    /// the type cannot say so: the box it was put in holds it).
    #[inline]
    pub fn send_lent(
        &mut self,
        to: usize,
        nic: Nic,
        (frame, len): (Lent, usize),
        csum_partial: bool,
    ) -> Result<(), (Refused, Option<Lent>)> {
        let Ok(len16) = u16::try_from(len) else {
            return Err((Refused::TooBig, Some(frame)));
        };
        let mut h = match self.empty_box(to) {
            Ok(h) => h,
            Err(why) => return Err((why, Some(frame))),
        };
        h.nic = nic;
        h.len = len16;
        h.csum_partial = csum_partial;
        h.lent = Some(frame);
        h.frag = FragHop::None;
        self.send_box(to, h)
            .map_err(|(why, mut h)| (why, h.lent.take()))
    }

    /// An empty box of the ring to `to`.
    #[inline]
    fn empty_box(&self, to: usize) -> Result<Box<Handoff>, Refused> {
        let Some(Some(o)) = self.out.get(to) else {
            return Err(Refused::NoRing);
        };
        // No empty box: all `depth` are in flight to `to` or being handled there.
        o.empty.try_recv().map_err(|_| Refused::Full)
    }

    /// Send a filled box to `to`, and ring its bell if it sleeps.
    #[inline]
    fn send_box(&self, to: usize, h: Box<Handoff>) -> Result<(), (Refused, Box<Handoff>)> {
        let Some(Some(o)) = self.out.get(to) else {
            return Err((Refused::NoRing, h));
        };
        // The ring holds `depth` and only `depth` boxes exist for it: never full.
        // (Should it be, the box is dropped by the caller and the ring shrinks
        // by one; still bounded.)
        o.full
            .try_send(h)
            .map_err(|e| (Refused::Full, e.into_inner()))?;
        if let Some(b) = self.bells.get(to) {
            b.wake();
        }
        Ok(())
    }

    /// Whether a frame waits in one of this worker's incoming rings.
    pub fn pending(&self) -> bool {
        self.inn.iter().flatten().any(|i| !i.full.is_empty())
    }

    /// The descriptor that becomes readable when another worker hands this one
    /// a frame while it sleeps (see [`Handoffs::sleep`]).
    pub fn wake_fd(&self) -> Option<RawFd> {
        self.bells.get(self.id)?.door.as_ref().map(Doorbell::fd)
    }

    /// About to sleep in `poll()` (with [`Handoffs::wake_fd`] among its
    /// descriptors): ask senders to ring. False, and no sleep, if a frame
    /// already waits.
    pub fn sleep(&self) -> bool {
        let Some(b) = self.bells.get(self.id) else {
            return true;
        };
        b.sleeping.store(true, Ordering::SeqCst);
        if self.pending() {
            b.sleeping.store(false, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// Back from `poll()`: senders need not ring any more; a ring that came
    /// is cleared.
    pub fn woke(&self) {
        if let Some(b) = self.bells.get(self.id) {
            b.sleeping.store(false, Ordering::SeqCst);
            if let Some(d) = &b.door {
                d.clear();
            }
        }
    }

    /// The next frame handed to this worker: the sources are taken in turn,
    /// one frame each, starting after the last one served.
    #[inline]
    pub fn recv(&mut self) -> Option<Received> {
        let n = self.inn.len();
        for k in 0..n {
            let from = (self.next + k) % n;
            if let Some(i) = &self.inn[from]
                && let Ok(frame) = i.full.try_recv()
            {
                self.next = (from + 1) % n;
                return Some(Received { from, frame });
            }
        }
        None
    }

    /// Give a received frame's box back to its sender.
    #[inline]
    pub fn recycle(&mut self, r: Received) {
        if let Some(Some(i)) = self.inn.get(r.from) {
            // Room for every box of the ring: cannot fail.
            let _ = i.empty.try_send(r.frame);
        }
    }

    /// This worker sends nothing more: wait (at most `limit`) until every
    /// worker has said so, after which what the incoming rings hold is all
    /// they will ever hold. True if all did.
    pub fn finish(&self, limit: std::time::Duration) -> bool {
        let n = self.bells.len();
        self.finished.fetch_add(1, Ordering::SeqCst);
        let until = std::time::Instant::now() + limit;
        while self.finished.load(Ordering::SeqCst) < n {
            if std::time::Instant::now() >= until {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        true
    }

    /// Frames sent to worker `to` and not yet received there.
    pub fn queued_to(&self, to: usize) -> usize {
        match self.out.get(to) {
            Some(Some(o)) => o.full.len(),
            _ => 0,
        }
    }

    /// Why a frame for worker `to` would be refused now, if it would: no
    /// ring to it (itself, or not of the mesh), or no empty box.
    pub fn refused_to(&self, to: usize) -> Option<Refused> {
        match self.out.get(to) {
            Some(Some(o)) if o.empty.is_empty() => Some(Refused::Full),
            Some(Some(_)) => None,
            _ => Some(Refused::NoRing),
        }
    }

    /// Boxes this worker may still fill for worker `to`.
    pub fn room_to(&self, to: usize) -> usize {
        match self.out.get(to) {
            Some(Some(o)) => o.empty.len(),
            _ => 0,
        }
    }
}

impl Core {
    /// With steering on, the worker that owns a TCP/UDP segment received here
    /// from `client` (the source on the external NIC, the destination on the
    /// internal one), if it is another one.
    #[inline(always)]
    pub(super) fn steer_to(&self, client: (u32, u16)) -> Option<usize> {
        // One flag test in line; the owner is computed out of line.
        if !self.steer {
            return None;
        }
        self.steer_owner(client)
    }

    #[inline(never)]
    fn steer_owner(&self, client: (u32, u16)) -> Option<usize> {
        let owner = self.env.owner(client, self.workers);
        (owner != self.id).then_some(owner)
    }

    /// [`Core::steer_to`] for an IPv6 segment: the owner of `client` (the
    /// source on the external NIC, the destination on the internal one), if
    /// steering is on and it is another worker.
    #[inline]
    pub(super) fn steer_to6(&self, client: (std::net::Ipv6Addr, u16)) -> Option<usize> {
        if !self.steer {
            return None;
        }
        let owner = self.env.owner6(client, self.workers);
        (owner != self.id).then_some(owner)
    }

    /// [`Core::steer_to6`] for a segment whose upper layer starts `at` (from
    /// the fixed header): one behind extension headers (an atomic fragment's
    /// included, `frag::atomic6`) goes to the owner of `client` with
    /// steering off too, since the fanout program, which reads the port
    /// right behind the fixed header, could not hash it (`io::fanout`).
    #[inline]
    pub(super) fn steer_chain6(
        &self,
        client: (std::net::Ipv6Addr, u16),
        at: usize,
    ) -> Option<usize> {
        if at == crate::wire::ipv6::HEADER_LEN || self.workers == 1 {
            return self.steer_to6(client);
        }
        let owner = self.env.owner6(client, self.workers);
        (owner != self.id).then_some(owner)
    }

    /// Pass `frame` to worker `owner`: by its descriptor where every worker's
    /// queues share one UMEM and the frame is at the RX cursor (the drain
    /// loop lends it once `handle` lets go of it: [`Core::lend_to`]), else a
    /// copy into a box of the pair's ring. Never blocks, never allocates; a
    /// full ring is a counted drop.
    pub(super) fn hand_off(&mut self, owner: usize, nic: Nic, frame: &[u8], csum_partial: bool) {
        if self.lend_handoffs && self.zc.out.take().is_some() {
            self.zc.handoff = Some(LendTo {
                to: owner,
                len: frame.len(),
                csum_partial,
            });
            return;
        }
        let sent = self.links.handoffs.send(owner, nic, frame, csum_partial);
        self.count_handoff(sent);
    }

    pub(super) fn count_handoff(&mut self, sent: Result<(), Refused>) {
        match sent {
            Ok(()) => self.ctr.inc(Ctr::HandoffOut),
            Err(Refused::Full) => self.ctr.inc(Ctr::DropHandoffFull),
            Err(Refused::TooBig) => self.ctr.inc(Ctr::DropTooBig),
            Err(Refused::NoRing) => self.ctr.inc(Ctr::DropHandoffBad),
        }
    }

    /// Carry out `hand_off`'s decision for the frame at `rx`'s cursor
    /// (received on `nic`): lend it and send its descriptor to the owner.
    pub(super) fn lend_to<R: RxQueue>(&mut self, h: LendTo, nic: Nic, rx: &mut R) {
        if let Some(why) = self.links.handoffs.refused_to(h.to) {
            // Full (or no such ring): the frame goes back to the kernel.
            rx.advance();
            return self.count_handoff(Err(why));
        }
        let Some(frame) = rx.lend() else {
            // Nothing lent (a queue that breaks its word): move on all the same.
            rx.advance();
            return self.ctr.inc(Ctr::DropHandoffBad);
        };
        let sent = self
            .links
            .handoffs
            .send_lent(h.to, nic, (frame, h.len), h.csum_partial);
        if sent.is_ok() {
            self.ctr.inc(Ctr::HandoffZeroCopy);
        }
        self.count_handoff(sent.map_err(|(why, frame)| {
            if let Some(frame) = frame {
                rx.give_back(frame);
            }
            why
        }));
    }

    /// Frames other workers handed to this one: up to a burst in total, the
    /// rings taken round-robin. The burst is taken out of the rings first,
    /// and each frame's first bytes (in the UMEM, or in its box) asked for
    /// with a prefetch, before any is handled: a channel operation is a
    /// locked instruction, which lets no later load start before it, so
    /// taking one frame, handling it and returning its box in turn would wait
    /// for each frame's cache miss (the sender's core wrote or read it last)
    /// alone. Measured with `cost_of_a_handoff_by_descriptor_and_by_copy`.
    pub(super) fn drain_handoffs<R: RxQueue, T: TxQueue>(
        &mut self,
        rx: &mut NicPair<R>,
        tx: &mut TxPair<T>,
    ) -> usize {
        // Allocated with room for a burst when the worker was made.
        let mut batch = std::mem::take(&mut self.handed);
        while batch.len() < self.burst.min(batch.capacity()) {
            let Some(r) = self.links.handoffs.recv() else {
                break;
            };
            match &r.frame.lent {
                Some(frame) => rx[r.frame.nic].prefetch_lent(frame),
                None => {
                    // The headers, wherever the box's lines split them.
                    prefetch_index::prefetch_index(&r.frame.data, 0);
                    prefetch_index::prefetch_index(&r.frame.data, 63);
                }
            }
            batch.push(r);
        }
        let h = batch.len();
        for mut r in batch.drain(..) {
            self.ctr.inc(Ctr::HandoffIn);
            let f = &mut r.frame;
            let meta = RxMeta {
                wire_len: u32::from(f.len),
                csum_partial: f.csum_partial,
                csum_valid: false,
                vlan: None,
            };
            let (nic, len) = (f.nic, usize::from(f.len));
            match f.lent.take() {
                None if f.frag != FragHop::None => {
                    // Read on the fragment's branch of `classify` (`frag.rs`).
                    self.frags.via = f.frag;
                    self.handle(nic, &f.data[..len], meta, true, tx);
                    self.frags.via = FragHop::None;
                }
                None => self.handle(nic, &f.data[..len], meta, true, tx),
                Some(frame) => self.handle_lent(nic, (frame, len), meta, &mut rx[nic], tx),
            }
            self.links.handoffs.recycle(r);
        }
        self.handed = batch;
        h
    }

    /// At exit, once no worker sends any more ([`Handoffs::finish`]): give
    /// the frames still in this worker's incoming rings back, the lent ones
    /// to the UMEM's free frames (so its bookkeeping adds up when the sockets
    /// close). Returns how many.
    pub(super) fn give_back_handoffs<R: RxQueue>(&mut self, rx: &mut NicPair<R>) -> usize {
        let mut n = 0;
        while let Some(mut r) = self.links.handoffs.recv() {
            if let Some(frame) = r.frame.lent.take() {
                rx[r.frame.nic].give_back(frame);
            }
            self.links.handoffs.recycle(r);
            n += 1;
        }
        n
    }

    /// Handle `len` bytes of a frame another worker handed over by its
    /// descriptor (received on `nic`, on the UMEM `rx` shares with that
    /// worker): read and rewritten where it lies, and sent from there when
    /// forwarded to the other NIC; else given back to the UMEM's free frames.
    fn handle_lent<R: RxQueue, T: TxQueue>(
        &mut self,
        nic: Nic,
        (mut frame, len): (Lent, usize),
        meta: RxMeta,
        rx: &mut R,
        tx: &mut TxPair<T>,
    ) {
        // `rx` is on the frame's UMEM once `lent_bytes` below succeeds.
        let in_place = self.in_place_to(nic, rx, tx);
        let Some(data) = rx.lent_bytes(&mut frame, len) else {
            // Another UMEM or a range outside the frame (the sender's checks
            // make both impossible): not read; `give_back` returns it to this
            // UMEM's free frames if it is one of them.
            rx.give_back(frame);
            return self.ctr.inc(Ctr::DropHandoffBad);
        };
        self.zc.out = in_place;
        self.handle(nic, data, meta, true, tx);
        self.zc.out = None;
        match self.zc.verdict.take() {
            Some(v) => self.send_lent_in_place(v, frame, rx, tx),
            None => rx.give_back(frame),
        }
    }
}

#[cfg(test)]
mod test {
    use crate::dataplane::Env;
    use crate::io::fanout;
    use crate::io::rss::{Field, NicRss, Rss};
    use crate::wire::Mac;
    use std::net::Ipv6Addr;
    use std::sync::Arc;

    fn env() -> Env {
        let prefix = |s: &str| s.parse().unwrap_or_else(|_| panic!("prefix {s}"));
        Env {
            fanout_key: 0x5eed_1234,
            ..Env::new(
                [Mac([2, 0, 0, 0, 0, 1]), Mac([2, 0, 0, 0, 0, 2])],
                prefix("198.18.0.1/24"),
                prefix("198.19.0.1/24"),
            )
        }
    }

    fn clients() -> impl Iterator<Item = (Ipv6Addr, u16)> {
        (1..200u16).map(|n| {
            let a =
                0x2001_0002_0000_0001_0000_0000_0000_0000u128 | u128::from(n) << 40 | u128::from(n);
            (Ipv6Addr::from(a), 30000 + 2 * n)
        })
    }

    #[test]
    fn ipv6_owner_is_the_fanout_member_or_the_rss_queue() {
        let mut env = env();
        for workers in [1, 2, 3] {
            for c in clients() {
                assert_eq!(
                    env.owner6(c, workers),
                    fanout::owner6(c.0, c.1, workers, env.fanout_key)
                );
            }
        }
        // NICs that hash both families on the client's address alone, with a
        // 40-byte key (long enough for IPv6).
        let nic = |name: &str, f: Field| NicRss {
            name: name.into(),
            key: (0..40u8).map(|i| i.wrapping_mul(37) ^ 0x6d).collect(),
            indir: vec![0, 1, 2, 0, 1, 2, 0, 1],
            toeplitz: true,
            tcp4: vec![f],
            udp4: vec![f],
            tcp6: vec![f],
            udp6: vec![f],
        };
        let (ext, int) = (nic("ext0", Field::SrcIp), nic("int0", Field::DstIp));
        let rss = Arc::new(Rss::for_pair(&ext, &int, 3).expect("rss"));
        env.rss = Some(Arc::clone(&rss));
        assert!(rss.aligned6());
        let mut seen = [0usize; 3];
        for c in clients() {
            let owner = env.owner6(c, 3);
            assert_eq!(owner, rss.queue6(c.0));
            // The port plays no part: all of a client's flows, one queue.
            assert_eq!(env.owner6((c.0, c.1 ^ 0x5555), 3), owner);
            seen[owner] += 1;
        }
        assert!(seen.iter().all(|&n| n > 0), "{seen:?}");
        // One worker owns everything.
        assert!(clients().all(|c| env.owner6(c, 1) == 0));

        // The internal NIC hashes IPv6 on the whole tuple: RSS does not bring
        // a reply to its request's queue, so the fanout hash owns IPv6 flows
        // (and RSS still owns IPv4 ones).
        let mut int4 = nic("int0", Field::DstIp);
        int4.tcp6
            .extend([Field::SrcIp, Field::SrcPort, Field::DstPort]);
        let rss = Arc::new(Rss::for_pair(&ext, &int4, 3).expect("rss"));
        env.rss = Some(Arc::clone(&rss));
        assert!(!rss.aligned6());
        for c in clients() {
            assert_eq!(
                env.owner6(c, 3),
                fanout::owner6(c.0, c.1, 3, env.fanout_key)
            );
        }
        let v4 = u32::from_be_bytes([198, 18, 0, 7]);
        assert_eq!(env.owner((v4, 40000), 3), rss.queue(v4));
    }

    /// Frames handed over by descriptor under a sender and a receiver
    /// running at once: each token arrives once, in order, with its length
    /// and NIC, or comes back to the sender with the refusal (never both,
    /// never neither), and every box is the sender's again at the end.
    #[test]
    fn lent_frames_cross_threads_once_each() {
        use super::{Refused, mesh};
        use crate::Nic;
        use crate::io::Lent;
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::time::{Duration, Instant};

        const N: u64 = 20_000;
        const DEPTH: usize = 8;
        let mut rings = mesh(2, DEPTH);
        let (Some(mut owner), Some(mut sender)) = (rings.pop(), rings.pop()) else {
            panic!("two workers");
        };
        let done = Arc::new(AtomicBool::new(false));
        let finished = Arc::clone(&done);
        let deadline = Instant::now() + Duration::from_secs(20);
        let consumer = std::thread::spawn(move || {
            let mut got = Vec::new();
            loop {
                let last = finished.load(Ordering::Acquire);
                match owner.recv() {
                    Some(mut r) => {
                        let l = r.frame.lent.take().expect("handed by descriptor");
                        let seq = l.addr_for_test() / 2048;
                        assert_eq!(usize::from(r.frame.len), 60 + (seq % 64) as usize);
                        assert_eq!(r.frame.nic, if seq % 2 == 0 { Nic::Ext } else { Nic::Int });
                        got.push(seq);
                        owner.recycle(r);
                    }
                    None if last => return got,
                    None => std::thread::yield_now(),
                }
                assert!(Instant::now() < deadline, "receiver ran out of time");
            }
        });
        let (mut sent, mut back) = (Vec::new(), Vec::new());
        for seq in 0..N {
            let nic = if seq % 2 == 0 { Nic::Ext } else { Nic::Int };
            let l = Lent::forged_for_test(1, seq * 2048);
            match sender.send_lent(1, nic, (l, 60 + (seq % 64) as usize), false) {
                Ok(()) => sent.push(seq),
                Err((Refused::Full, Some(l))) => back.push(l.addr_for_test() / 2048),
                Err(e) => panic!("frame {seq}: {e:?}"),
            }
            if seq % 5 == 0 {
                std::thread::yield_now();
            }
        }
        done.store(true, Ordering::Release);
        let got = consumer.join().expect("receiver");
        assert_eq!(got, sent, "arrived once each, in order");
        let mut all: Vec<u64> = sent.iter().chain(&back).copied().collect();
        all.sort_unstable();
        assert!(
            all.iter().copied().eq(0..N),
            "each token either went or came back"
        );
        assert!(!sent.is_empty());
        assert_eq!((sender.room_to(1), sender.queued_to(1)), (DEPTH, 0));
    }

    /// What a handoff costs by descriptor (the frame stays where it arrived;
    /// the owner reads its 64 bytes of headers there) against by copy (the
    /// sender copies it into the box, the owner copies it out into a TX
    /// frame of its own, as `forward` does; the owner's in-place rewrite of
    /// the lent frame is left out): the ring and the copies only, side by side
    /// in one run. The frames are 4096 different ones of an 8 MiB "UMEM", as
    /// a ring hands them out; the sender reads each one's headers first (to
    /// find the owner), so the owner's read of a frame, like its read of a
    /// box, takes lines from the sender's cache. Run with
    /// `cargo test --release --lib cost_of_a_handoff_by_descriptor -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn cost_of_a_handoff_by_descriptor_and_by_copy() {
        use super::mesh;
        use crate::Nic;
        use crate::io::Lent;
        use std::time::{Duration, Instant};

        const N: u64 = 2_000_000;
        /// Frames in the "UMEM" (2 KiB each), read-only here.
        const FRAMES: usize = 4096;
        let umem: Arc<[u8]> = (0..FRAMES * 2048).map(|i| i as u8).collect();
        // `lent`: by descriptor, else by copy; `burst`: the owner takes a
        // burst out of the ring before handling it, else one frame at a time
        // (two threads only). ns per frame.
        let run = |len: usize, lent: bool, threads: usize, burst: bool| -> f64 {
            let mut rings = mesh(2, 64);
            let (Some(mut owner), Some(mut sender)) = (rings.pop(), rings.pop()) else {
                panic!("two workers");
            };
            let frames = Arc::clone(&umem);
            let pumem = Arc::clone(&umem);
            let umem = Arc::clone(&umem);
            // The owner's side of one frame: read its headers where it lies,
            // or copy it into a TX frame.
            // (`tx`: the owner's TX frames, taken in turn as from a ring.)
            let take = move |r: &super::Received, tx: &mut (Vec<u8>, usize)| -> u64 {
                match &r.frame.lent {
                    Some(l) => {
                        let at = l.addr_for_test() as usize;
                        umem[at..at + 64].iter().map(|&b| u64::from(b)).sum()
                    }
                    None => {
                        let n = usize::from(r.frame.len);
                        tx.1 = (tx.1 + 1) % FRAMES;
                        let at = tx.1 * 2048;
                        tx.0[at..at + n].copy_from_slice(&r.frame.data[..n]);
                        u64::from(tx.0[at + n / 2])
                    }
                }
            };
            let mut i = 0u64;
            // The sender's side: it reads the headers of the frame it received
            // (a different one each time, as from a ring) to find the owner,
            // then sends the frame by its address, or its bytes in the box.
            let mut send = |h: &mut super::Handoffs| {
                i += 1;
                let addr = i as usize % FRAMES * 2048;
                let headers: u64 = frames[addr..addr + 64].iter().map(|&b| u64::from(b)).sum();
                std::hint::black_box(headers);
                if lent {
                    let l = Lent::forged_for_test(1, addr as u64);
                    h.send_lent(1, Nic::Ext, (l, len), false).is_ok()
                } else {
                    h.send(1, Nic::Ext, &frames[addr..addr + len], false)
                        .is_ok()
                }
            };
            let start = Instant::now();
            if threads == 1 {
                let mut tx = (vec![0u8; FRAMES * 2048], 0);
                let mut sum = 0;
                for _ in 0..N / 32 {
                    for _ in 0..32 {
                        assert!(send(&mut sender));
                    }
                    while let Some(r) = owner.recv() {
                        sum += take(&r, &mut tx);
                        owner.recycle(r);
                    }
                }
                std::hint::black_box(sum);
            } else {
                let consumer = std::thread::spawn(move || {
                    let mut tx = (vec![0u8; FRAMES * 2048], 0);
                    let (mut got, mut sum) = (0u64, 0u64);
                    let deadline = Instant::now() + Duration::from_secs(30);
                    let mut batch = Vec::with_capacity(32);
                    while got < N && Instant::now() < deadline {
                        if !burst {
                            if let Some(r) = owner.recv() {
                                sum += take(&r, &mut tx);
                                owner.recycle(r);
                                got += 1;
                            }
                            continue;
                        }
                        // As `Core::drain_handoffs`: a burst out of the ring,
                        // each frame's first line asked for, then handled.
                        while batch.len() < 32 {
                            let Some(r) = owner.recv() else { break };
                            match &r.frame.lent {
                                Some(l) => prefetch_index::prefetch_index(
                                    &pumem,
                                    l.addr_for_test() as usize,
                                ),
                                None => {
                                    prefetch_index::prefetch_index(&r.frame.data, 0);
                                    prefetch_index::prefetch_index(&r.frame.data, 63);
                                }
                            }
                            batch.push(r);
                        }
                        for r in batch.drain(..) {
                            sum += take(&r, &mut tx);
                            owner.recycle(r);
                            got += 1;
                        }
                    }
                    std::hint::black_box(sum);
                    got
                });
                let mut sent = 0;
                while sent < N {
                    if send(&mut sender) {
                        sent += 1;
                    }
                }
                assert_eq!(consumer.join().ok(), Some(N));
            }
            start.elapsed().as_nanos() as f64 / N as f64
        };
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        for (threads, burst) in [(1, false), (2, false), (2, true)] {
            for len in [64usize, 1514] {
                let (mut copy, mut desc) = (Vec::new(), Vec::new());
                // Alternate, so both see the same machine.
                for _ in 0..5 {
                    copy.push(run(len, false, threads, burst));
                    desc.push(run(len, true, threads, burst));
                }
                let (c, d) = (median(&mut copy), median(&mut desc));
                let how = match (threads, burst) {
                    (1, _) => "1 thread (send 32, take 32)",
                    (_, false) => "2 threads, owner takes one at a time",
                    _ => "2 threads, owner takes a burst",
                };
                println!(
                    "{how}, {len}-byte frames: by copy {c:.1} ns/frame, by descriptor \
                     {d:.1} ns/frame (median of 5 each, alternated; ratio {:.2})",
                    d / c
                );
            }
        }
    }
}
