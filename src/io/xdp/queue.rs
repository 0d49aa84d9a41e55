//! The receive and transmit queues of an AF_XDP socket ([`XskRx`],
//! [`XskTx`]), over the UMEM their worker's sockets share (`umem`).

use super::FRAME_SIZE;
use super::umem::{Frames, Pool, base};
use super::xsk::{KICKS_MAX, Ring, Socket, XskOptions, getsockopt, napi_id};
use crate::io::ring::{Mmap, kick};
use crate::io::{KernelDrops, Lent, RxFrame, RxMeta, RxQueue, TxQueue, Umem};
use crate::wire::checksum;
use std::io;
use std::mem::{offset_of, size_of, zeroed};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::Ordering;

impl Socket {
    /// The bound socket's queues, on `umem` whose free frames are in `pool`.
    pub(super) fn queues(
        self,
        umem: &Arc<Mmap>,
        pool: &Arc<Pool>,
        opts: XskOptions,
    ) -> (XskRx, XskTx) {
        let fd = Arc::new(self.fd);
        let n = opts.size.entries;
        (
            XskRx {
                fd: Arc::clone(&fd),
                frames: Frames::new(umem, pool, n),
                rx: self.rx,
                fill: self.fill,
                cons: 0,
                prod: 0,
                fill_prod: n,
                owed: 0,
                dropped: KernelDrops::default(),
                busy: opts.busy_poll.is_some(),
            },
            XskTx {
                fd,
                frames: Frames::new(umem, pool, n),
                tx: self.tx,
                comp: self.comp,
                prod: 0,
                published: 0,
                tx_cons: 0,
                comp_cons: 0,
                size: n,
                busy: opts.busy_poll.is_some(),
                dropped: 0,
            },
        )
    }
}

/// The receive queue of an AF_XDP socket.
pub struct XskRx {
    pub(super) fd: Arc<OwnedFd>,
    frames: Frames,
    rx: Ring<libc::xdp_desc>,
    fill: Ring<u64>,
    /// Our copy of the RX consumer index (published on every `advance`).
    cons: u32,
    /// The RX producer index as last loaded.
    prod: u32,
    fill_prod: u32,
    /// Fill-ring slots left empty by frames lent to TX, to refill from the
    /// pool: `fill_prod - cons + owed` is always the fill ring's size.
    owed: u32,
    /// The kernel's totals as last read (`take_kernel_drops` reports the
    /// growth).
    dropped: KernelDrops,
    /// Preferred busy polling: an empty RX ring is refilled from our syscall.
    busy: bool,
}

impl XskRx {
    /// Refill the fill-ring slots lent frames left empty, from the free frames.
    #[inline]
    fn repay(&mut self) {
        let start = self.fill_prod;
        while self.owed > 0 {
            let Some(addr) = self.frames.take() else {
                break;
            };
            self.fill.write(self.fill_prod, addr);
            self.fill_prod = self.fill_prod.wrapping_add(1);
            self.owed -= 1;
        }
        if self.fill_prod != start {
            self.fill
                .producer()
                .store(self.fill_prod, Ordering::Release);
        }
    }
}

impl XskRx {
    /// Move past the descriptor at the cursor, whose address lies outside
    /// the UMEM ([`Frames::owns`]): it names no frame, so none goes back to
    /// the fill ring (the kernel would reject the address, `xp_check_aligned`
    /// in `net/xdp/xsk_buff_pool.c`, and the slot would be lost for good);
    /// the slot is refilled from the free frames instead, as a lent frame's.
    #[cold]
    fn skip_bad(&mut self) {
        self.frames.count_bad();
        self.cons = self.cons.wrapping_add(1);
        self.rx.consumer().store(self.cons, Ordering::Release);
        self.owed += 1;
        self.repay();
    }
}

impl RxQueue for XskRx {
    /// The frames between our consumer index and the kernel's producer index
    /// (loaded with acquire ordering, so their descriptors and bytes are
    /// visible): published by the kernel and ours until given back.
    #[inline]
    fn peek_ahead(&self, k: usize) -> Option<&[u8]> {
        let prod = self.rx.producer().load(Ordering::Acquire);
        let ready = prod.wrapping_sub(self.cons) as usize;
        if k >= ready {
            return None;
        }
        let d = self.rx.read(self.cons.wrapping_add(k as u32));
        // SAFETY: published by the kernel and not yet given back (between
        // our consumer index and its producer index): the frame is ours.
        unsafe { self.frames.bytes(d.addr, d.len) }
    }

    #[inline]
    fn peek(&mut self) -> Option<RxFrame<'_>> {
        let d = loop {
            if self.cons == self.prod {
                self.prod = self.rx.producer().load(Ordering::Acquire);
                if self.cons == self.prod {
                    if self.owed > 0 {
                        self.repay();
                    }
                    // Nothing ready: a syscall only if the driver asked to be
                    // woken (need_wakeup on the fill ring, zero-copy drivers)
                    // or busy polling drives the queue; never per frame.
                    if self.busy || self.fill.needs_wakeup() {
                        wake(&self.fd);
                    }
                    return None;
                }
            }
            let d = self.rx.read(self.cons);
            if self.frames.owns(d.addr) {
                break d;
            }
            self.skip_bad();
        };
        // A range past its frame reads as empty (a counted drop).
        // SAFETY: the frame is ours: the kernel wrote it before publishing
        // the descriptor and does not reuse it until we give its address back.
        let data = unsafe { self.frames.bytes(d.addr, d.len) }.unwrap_or(&[]);
        Some(RxFrame {
            data,
            meta: RxMeta {
                wire_len: d.len,
                csum_partial: checksum::looks_partial(data),
                csum_valid: false,
                vlan: None,
            },
        })
    }

    fn starved(&self) -> bool {
        self.owed > 0
    }

    #[inline]
    fn advance(&mut self) {
        if self.cons == self.prod {
            return;
        }
        let d = self.rx.read(self.cons);
        // The fill ring has room: `fill_prod - cons` never exceeds its size.
        self.fill.write(self.fill_prod, base(d.addr));
        self.fill_prod = self.fill_prod.wrapping_add(1);
        self.fill
            .producer()
            .store(self.fill_prod, Ordering::Release);
        self.cons = self.cons.wrapping_add(1);
        self.rx.consumer().store(self.cons, Ordering::Release);
        if self.owed > 0 {
            // The pool ran dry when frames were lent: try again.
            self.repay();
        }
    }

    fn poll_fd(&self) -> Option<RawFd> {
        Some(self.fd.as_raw_fd())
    }

    fn umem(&self) -> Option<Umem> {
        Some(self.frames.id())
    }

    #[inline]
    fn peek_mut(&mut self) -> Option<&mut [u8]> {
        if self.cons == self.prod {
            return None;
        }
        let d = self.rx.read(self.cons);
        // SAFETY: the frame at the cursor, held by this queue as in `peek`
        // (no other queue has its address).
        unsafe { self.frames.bytes_mut(d.addr, d.len) }
    }

    #[inline]
    fn lend(&mut self) -> Option<Lent> {
        if self.cons == self.prod {
            return None;
        }
        let d = self.rx.read(self.cons);
        self.cons = self.cons.wrapping_add(1);
        self.rx.consumer().store(self.cons, Ordering::Release);
        self.owed += 1;
        self.repay();
        Some(Lent {
            umem: self.frames.id(),
            addr: d.addr,
        })
    }

    fn give_back(&mut self, frame: Lent) {
        // A frame of another UMEM cannot join this one's free frames (it
        // would be in two places); it is lost to its own, which says so when
        // its queues close. No path hands a queue one.
        if frame.umem != self.frames.id() {
            return;
        }
        self.frames.give(frame.addr);
        self.repay();
    }

    /// A lent frame of this UMEM, this worker's own or handed over by another
    /// worker whose sockets share the UMEM (`open_workers`).
    #[inline]
    fn lent_bytes<'a>(&'a mut self, frame: &'a mut Lent, len: usize) -> Option<&'a mut [u8]> {
        if frame.umem != self.frames.id() {
            return None;
        }
        let len = u32::try_from(len).ok()?;
        // SAFETY: the worker holds the frame's token, borrowed mutably with
        // the bytes: its frame is in no ring and no other queue's hands.
        unsafe { self.frames.bytes_mut(frame.addr, len) }
    }

    #[inline]
    fn prefetch_lent(&self, frame: &Lent) {
        if frame.umem == self.frames.id()
            // SAFETY: the worker holds the frame's token (borrowed here).
            && let Some(b) = unsafe { self.frames.bytes(frame.addr, 1) }
        {
            prefetch_index::prefetch_index(b, 0);
        }
    }

    fn busy_napi(&self) -> Option<bool> {
        if !self.busy {
            return None;
        }
        napi_id(self.fd.as_raw_fd()).ok().map(|id| id != 0)
    }

    fn take_bad_addrs(&mut self) -> u64 {
        self.frames.take_bad()
    }

    fn take_kernel_drops(&mut self) -> KernelDrops {
        // SAFETY: xdp_statistics is plain old data; all-zero is a valid value.
        let mut st: libc::xdp_statistics = unsafe { zeroed() };
        let Ok(len) = getsockopt(self.fd.as_raw_fd(), libc::XDP_STATISTICS, &mut st) else {
            return KernelDrops::default();
        };
        let total = kernel_counts(&st, len as usize);
        let new = KernelDrops {
            ring_full: total.ring_full.saturating_sub(self.dropped.ring_full),
            fill_empty: total.fill_empty.saturating_sub(self.dropped.fill_empty),
            tx_invalid: total.tx_invalid.saturating_sub(self.dropped.tx_invalid),
        };
        self.dropped = total;
        new
    }
}

/// The socket's totals in `st`, of which the kernel wrote the first `len`
/// bytes: a kernel older than Linux 5.9 writes only `rx_dropped`,
/// `rx_invalid_descs` and `tx_invalid_descs` (`struct xdp_statistics_v1`,
/// its `rx_dropped` then counting the full RX ring too: `xsk_getsockopt`,
/// `net/xdp/xsk.c`), and a field it did not write is not read. `rx_dropped`
/// also counts the frames too long for a UMEM frame (`xsk_rcv_check`) and,
/// in copy mode, those that found the fill ring empty: all are frames the
/// kernel dropped before a worker saw them, reported as `ring_full`
/// (`kernel_drop`, whose doc says so).
fn kernel_counts(st: &libc::xdp_statistics, len: usize) -> KernelDrops {
    let has = |at: usize| at + size_of::<u64>() <= len;
    let field = |at: usize, v: u64| if has(at) { v } else { 0 };
    KernelDrops {
        ring_full: field(offset_of!(libc::xdp_statistics, rx_dropped), st.rx_dropped)
            + field(
                offset_of!(libc::xdp_statistics, rx_ring_full),
                st.rx_ring_full,
            ),
        fill_empty: field(
            offset_of!(libc::xdp_statistics, rx_fill_ring_empty_descs),
            st.rx_fill_ring_empty_descs,
        ),
        tx_invalid: field(
            offset_of!(libc::xdp_statistics, tx_invalid_descs),
            st.tx_invalid_descs,
        ),
    }
}

impl Drop for XskRx {
    fn drop(&mut self) {
        // In the fill ring, the kernel's hands or the RX ring.
        self.frames.in_rings = self.fill_prod.wrapping_sub(self.cons) as usize;
    }
}

/// `recvfrom(2)` with no buffer: runs the driver's RX (a busy poll of the NIC
/// queue when preferred busy polling is on) so the ring gets frames.
fn wake(fd: &OwnedFd) {
    // SAFETY: no buffer and no address are passed; the kernel only polls the
    // socket's queue.
    unsafe {
        libc::recvfrom(
            fd.as_raw_fd(),
            std::ptr::null_mut(),
            0,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
}

/// The transmit queue of an AF_XDP socket.
pub struct XskTx {
    fd: Arc<OwnedFd>,
    frames: Frames,
    tx: Ring<libc::xdp_desc>,
    comp: Ring<u64>,
    /// Next TX descriptor to write.
    prod: u32,
    /// TX producer index as last published to the kernel.
    published: u32,
    /// The kernel's TX consumer index as last loaded.
    tx_cons: u32,
    comp_cons: u32,
    /// Entries in the TX ring.
    size: u32,
    /// Preferred busy polling: every flush with frames unsent kicks, whatever
    /// the need_wakeup flag says ([`kicks_now`]).
    busy: bool,
    /// Frames the kernel took and dropped since the last
    /// [`TxQueue::take_rejected`]: one per kick that failed with EBUSY.
    dropped: u64,
}

/// Whether a flush with frames still unsent calls `sendto(2)`: when the
/// kernel asks through the TX ring's need_wakeup flag (copy mode keeps it
/// set: it sends only from the call; zero-copy drivers set it when their TX
/// stops), and always under preferred busy polling, as the kernel's
/// `xdpsock` sample does: there the call is what runs the NIC queue's busy
/// poll for TX (`__xsk_sendmsg`, `sk_busy_loop`), and a driver may clear the
/// flag while frames are in flight and wait for an interrupt that busy
/// polling defers.
fn kicks_now(busy: bool, needs_wakeup: bool, unsent: bool) -> bool {
    unsent && (busy || needs_wakeup)
}

/// The length a TX descriptor for `len` bytes at `addr` carries: at most what
/// is left of the frame past `addr`'s offset in it (RX frames start some way
/// in), and at least one byte. The kernel skips a descriptor that runs past
/// its frame or is empty (`xp_validate_desc`) and never completes it, which
/// would lose the frame; callers bound `len` already, this keeps it so.
fn tx_len(addr: u64, len: usize) -> u32 {
    let frame = u64::from(FRAME_SIZE);
    let room = frame - addr % frame;
    len.clamp(1, room as usize) as u32
}

impl XskTx {
    /// Whether a flush kicks again after a kick that returned `r`. EAGAIN:
    /// copy mode sent a batch and more remain. Success: done (copy mode sent
    /// them all; a zero-copy wakeup, `xsk_wakeup`, only schedules the driver
    /// and returns at once, so kicking on while its descriptors are not
    /// taken yet would be a syscall each for nothing: af_xdp.rst, one
    /// `sendto` when need_wakeup is set). EBUSY: copy mode's device refused
    /// a frame (`__xsk_generic_xmit`, net/xdp/xsk.c: `NET_XMIT_DROP`, "SKB
    /// completed but not sent"): the frame is gone and its address comes
    /// back on the completion ring, as a sent one's does, so it is counted
    /// here; the kernel stopped at it, the rest wait for the next flush.
    /// Anything else (ENOBUFS, ENETDOWN): try again at the next flush.
    fn kick_again(&mut self, r: io::Result<()>) -> bool {
        match r.map_err(|e| e.raw_os_error()) {
            Err(Some(libc::EAGAIN)) => true,
            Err(Some(libc::EBUSY)) => {
                self.dropped += 1;
                false
            }
            _ => false,
        }
    }

    /// Take back the frames the kernel has sent (`give` drops and counts an
    /// address outside the UMEM: cached, it would be the only slot offered).
    fn reclaim(&mut self) {
        let prod = self.comp.producer().load(Ordering::Acquire);
        if prod == self.comp_cons {
            return;
        }
        while self.comp_cons != prod {
            let addr = self.comp.read(self.comp_cons);
            self.frames.give(addr);
            self.comp_cons = self.comp_cons.wrapping_add(1);
        }
        self.comp
            .consumer()
            .store(self.comp_cons, Ordering::Release);
    }

    /// Frames handed to the kernel and not yet taken from the TX ring.
    fn not_taken(&self) -> bool {
        self.tx.consumer().load(Ordering::Acquire) != self.published
    }

    /// Whether the TX ring has a free descriptor: frames from the pool and
    /// frames lent by RX queues both go into it, more than it holds at times.
    #[inline]
    fn room(&mut self) -> bool {
        if self.prod.wrapping_sub(self.tx_cons) < self.size {
            return true;
        }
        self.tx_cons = self.tx.consumer().load(Ordering::Acquire);
        self.prod.wrapping_sub(self.tx_cons) < self.size
    }

    fn push(&mut self, addr: u64, len: usize) {
        self.tx.write(
            self.prod,
            libc::xdp_desc {
                addr,
                len: tx_len(addr, len),
                options: 0,
            },
        );
        self.prod = self.prod.wrapping_add(1);
    }
}

impl TxQueue for XskTx {
    #[inline]
    fn slot(&mut self) -> Option<&mut [u8]> {
        if !self.room() {
            return None;
        }
        let addr = loop {
            let addr = match self.frames.next() {
                Some(a) => a,
                None => {
                    self.reclaim();
                    self.frames.next()?
                }
            };
            if self.frames.holds(addr, FRAME_SIZE) {
                break addr;
            }
            // Not a whole frame of the UMEM (`give` lets none in): left in
            // the cache, it would be the slot offered forever.
            self.frames.drop_next();
        };
        // SAFETY: a whole free frame of this queue's cache: the kernel has
        // completed it or never had it, and no other queue has it.
        unsafe { self.frames.bytes_mut(addr, FRAME_SIZE) }
    }

    #[inline]
    fn commit(&mut self, len: usize) {
        if !self.room() {
            return;
        }
        let Some(addr) = self.frames.take() else {
            return;
        };
        self.push(addr, len);
    }

    fn flush(&mut self) -> usize {
        let n = self.prod.wrapping_sub(self.published) as usize;
        if n > 0 {
            self.published = self.prod;
            self.tx.producer().store(self.prod, Ordering::Release);
        }
        // Copy mode sends at most a few dozen frames per call, and stops when
        // the completion ring is full: frames sent are taken back between the
        // calls, so each call has room to complete into.
        let mut kicks = 0;
        while kicks < KICKS_MAX && kicks_now(self.busy, self.tx.needs_wakeup(), self.not_taken()) {
            kicks += 1;
            let r = kick(&self.fd);
            self.reclaim();
            if !self.kick_again(r) {
                break;
            }
        }
        self.reclaim();
        n
    }

    /// Only frames a kick would send: a zero-copy driver that has not asked
    /// for one sends the rest on its own.
    fn unsent(&self) -> bool {
        kicks_now(self.busy, self.tx.needs_wakeup(), self.not_taken())
    }

    fn umem(&self) -> Option<Umem> {
        Some(self.frames.id())
    }

    fn take_bad_addrs(&mut self) -> u64 {
        self.frames.take_bad()
    }

    fn take_rejected(&mut self) -> u64 {
        std::mem::take(&mut self.dropped)
    }

    #[inline]
    fn can_send_lent(&mut self) -> bool {
        self.room()
    }

    #[inline]
    fn send_lent(&mut self, frame: Lent, len: usize) -> Result<(), Lent> {
        if frame.umem != self.frames.id() || !self.room() {
            return Err(frame);
        }
        self.push(frame.addr, len);
        Ok(())
    }
}

impl Drop for XskTx {
    fn drop(&mut self) {
        // In the TX ring, the kernel's hands or the completion ring.
        self.frames.in_rings = self.prod.wrapping_sub(self.comp_cons) as usize;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::super::xsk::fake::{opts, socket};
    use super::*;

    const F: u64 = FRAME_SIZE as u64;

    /// The kernel's side of a TX queue: take every descriptor published and
    /// complete it. Returns how many.
    fn complete_all(tx: &mut XskTx) -> u32 {
        let (from, to) = (tx.tx.consumer().load(Ordering::Relaxed), tx.published);
        let mut at = tx.comp.producer().load(Ordering::Relaxed);
        for i in from..to {
            let d = tx.tx.read(i);
            tx.comp.write(at, d.addr);
            at += 1;
        }
        tx.tx.consumer().store(to, Ordering::Release);
        tx.comp.producer().store(at, Ordering::Release);
        to - from
    }

    /// The kernel's side of a TX queue: take every descriptor published and
    /// complete the first `k` of them. Returns how many it completed.
    fn complete(tx: &mut XskTx, k: u32) -> u32 {
        let (from, to) = (tx.tx.consumer().load(Ordering::Relaxed), tx.published);
        let mut at = tx.comp.producer().load(Ordering::Relaxed);
        let done = k.min(to - from);
        for i in from..from + done {
            tx.comp.write(at, tx.tx.read(i).addr);
            at += 1;
        }
        tx.tx.consumer().store(to, Ordering::Release);
        tx.comp.producer().store(at, Ordering::Release);
        done
    }

    /// A kick refused with EBUSY is copy mode's `NET_XMIT_DROP`: a frame
    /// taken, dropped and completed as if sent: counted (`tx_rejected`),
    /// and no kick again; EAGAIN kicks again; other errors count nothing.
    #[test]
    fn a_kick_refused_with_ebusy_counts_one_frame_dropped() {
        let n = 64;
        let (s, umem, pool, _kernel) = socket(n);
        let (_rx, mut tx) = s.queues(&umem, &pool, opts(n));
        let err = |e| Err(io::Error::from_raw_os_error(e));
        assert!(!tx.kick_again(err(libc::EBUSY)));
        assert!(!tx.kick_again(err(libc::EBUSY)));
        assert!(tx.kick_again(err(libc::EAGAIN)));
        assert!(!tx.kick_again(err(libc::ENOBUFS)));
        assert!(!tx.kick_again(Ok(())));
        assert_eq!(tx.take_rejected(), 2);
        assert_eq!(tx.take_rejected(), 0);
    }

    /// Frames the pool has and its queues said they held when dropped, after
    /// the kernel returned 10 frames on the RX ring, the worker lent them
    /// all, sent 6 (3 completed, 3 still in the kernel's TX hands) and gave
    /// 4 back (`leak`: one of those 4 is lost instead, as a bug would).
    fn frames_after_a_forwarding_round(leak: bool) -> (usize, usize) {
        let n = 64;
        let (s, umem, pool, _kernel) = socket(n);
        let (mut rx, mut tx) = s.queues(&umem, &pool, opts(n));
        // The kernel takes 10 frames from the fill ring and returns them
        // received (after the headroom).
        rx.fill.consumer().store(10, Ordering::Release);
        for i in 0..10 {
            let addr = rx.fill.read(i) + 256;
            rx.rx.write(
                i,
                libc::xdp_desc {
                    addr,
                    len: 60,
                    options: 0,
                },
            );
        }
        rx.rx.producer().store(10, Ordering::Release);
        assert!(rx.peek().is_some());
        let mut lent: Vec<Lent> = (0..10).map(|_| rx.lend().expect("a frame")).collect();
        assert!(rx.lend().is_none());
        assert!(!rx.starved(), "every lent frame's fill slot refilled");
        for f in lent.drain(..6) {
            assert!(tx.send_lent(f, 60).is_ok());
        }
        assert_eq!(tx.flush(), 6);
        assert_eq!(complete(&mut tx, 3), 3);
        assert_eq!(tx.flush(), 0, "takes the 3 completed back");
        if leak {
            let _lost = lent.pop();
        }
        for f in lent {
            rx.give_back(f);
        }
        drop(rx);
        drop(tx);
        let held = pool.held.load(Ordering::Relaxed);
        (held + pool.len(), pool.total)
    }

    /// Every frame of the UMEM is accounted for after a round of lending,
    /// sending, completing and giving back through the queues: the pool's
    /// frames and those the queues held when they went (their caches, fill
    /// ring, TX ring and kernel's hands) add up to the UMEM's, which is
    /// what the pool checks at exit (`AF_XDP UMEM bookkeeping`). A frame
    /// lost on the way shows.
    #[test]
    fn lent_sent_completed_and_given_back_frames_add_up() {
        let (frames, total) = frames_after_a_forwarding_round(false);
        assert_eq!(total, 128);
        assert_eq!(frames, total);
        let (frames, total) = frames_after_a_forwarding_round(true);
        assert_eq!(frames, total - 1, "a lost frame is missing from the count");
    }

    /// A completion address outside the UMEM (past its end, or wrapping) is
    /// dropped and counted at reclaim: it used to join the free frames as
    /// the next one `slot` offers, which it refused (no frame there), so the
    /// queue offered no slot ever after and every send was `drop_tx_full`.
    #[test]
    fn a_bad_completion_address_does_not_wedge_the_queue() {
        let n = 64;
        let (s, umem, pool, _kernel) = socket(n);
        let (_rx, mut tx) = s.queues(&umem, &pool, opts(n));
        let end = umem.len() as u64;
        tx.comp.write(0, end);
        tx.comp.write(1, u64::MAX - 10);
        tx.comp.producer().store(2, Ordering::Release);
        assert_eq!(tx.flush(), 0);
        // Frames go on cycling: more sends than the UMEM has frames.
        for i in 0..4 * n {
            let slot = tx.slot().expect("a free frame");
            slot[..60].fill(i as u8);
            tx.commit(60);
            assert_eq!(tx.flush(), 1);
            let d = tx.tx.read(i);
            assert!(d.addr < end && d.addr % F == 0, "{:#x}", d.addr);
            assert_eq!(complete_all(&mut tx), 1);
        }
        assert_eq!(tx.take_bad_addrs(), 2);
    }

    /// A free frame outside the UMEM in a queue's cache (which `give` lets
    /// in no more) is dropped and counted by `slot`, which offers the next.
    #[test]
    fn slot_drops_a_bad_cached_frame() {
        let n = 64;
        let (s, umem, pool, _kernel) = socket(n);
        let (_rx, mut tx) = s.queues(&umem, &pool, opts(n));
        assert!(tx.frames.next().is_some());
        tx.frames.push_unchecked(umem.len() as u64);
        assert_eq!(tx.slot().map(|b| b.len()), Some(FRAME_SIZE as usize));
        assert_eq!(tx.take_bad_addrs(), 1);
    }

    /// An RX descriptor outside the UMEM is skipped and counted, not handed
    /// to the worker (as an empty frame, `drop_truncated`), and its fill ring
    /// slot gets a free frame: its address written back, the kernel would
    /// have rejected it and the slot would have been lost for good.
    #[test]
    fn a_bad_rx_address_is_skipped_and_its_fill_slot_refilled() {
        let n = 64;
        let (s, umem, pool, _kernel) = socket(n);
        let (mut rx, _tx) = s.queues(&umem, &pool, opts(n));
        let end = umem.len() as u64;
        // The kernel took the whole fill ring, and returns a bad descriptor
        // then a good one (frame 1, after the headroom).
        rx.fill.consumer().store(n, Ordering::Release);
        let desc = |addr| libc::xdp_desc {
            addr,
            len: 60,
            options: 0,
        };
        rx.rx.write(0, desc(end + 256));
        rx.rx.write(1, desc(F + 256));
        rx.rx.producer().store(2, Ordering::Release);
        // SAFETY: frame 1 is in the RX ring, the queue's.
        unsafe { rx.frames.bytes_mut(F + 256, 60) }.unwrap().fill(7);
        let f = rx.peek().expect("the good frame");
        assert_eq!(f.data, &[7; 60][..]);
        rx.advance();
        assert!(rx.peek().is_none());
        assert_eq!(rx.take_bad_addrs(), 1);
        // Both slots refilled, with frames of the UMEM: a free one for the
        // bad descriptor, the good one's own.
        assert_eq!(rx.fill.producer().load(Ordering::Relaxed), n + 2);
        let refill = rx.fill.read(n);
        assert!(refill < end && refill % F == 0 && refill >= u64::from(n) * F);
        assert_eq!(rx.fill.read(n + 1), F);
        assert!(!rx.starved());
    }

    /// The statistics the kernel wrote are read, and only those: a kernel
    /// before Linux 5.9 writes the first three fields (24 bytes), whose
    /// `rx_dropped` counts the full RX ring too; the fill ring's and the TX
    /// ring's counts are reported with the RX ring's.
    #[test]
    fn kernel_statistics_are_read_as_far_as_the_kernel_wrote() {
        let st = libc::xdp_statistics {
            rx_dropped: 1,
            rx_invalid_descs: 100,
            tx_invalid_descs: 2,
            rx_ring_full: 30,
            rx_fill_ring_empty_descs: 40,
            tx_ring_empty_descs: 500,
        };
        let full = size_of::<libc::xdp_statistics>();
        let want = |ring_full, fill_empty, tx_invalid| KernelDrops {
            ring_full,
            fill_empty,
            tx_invalid,
        };
        assert_eq!(kernel_counts(&st, full), want(31, 40, 2));
        assert_eq!(kernel_counts(&st, 24), want(1, 0, 2), "v1 only");
        assert_eq!(kernel_counts(&st, 0), want(0, 0, 0));
    }

    #[test]
    fn tx_kicks_when_asked_and_always_when_busy_polling() {
        // Nothing unsent: no call, whatever else.
        for (busy, wake) in [(false, false), (false, true), (true, false), (true, true)] {
            assert!(!kicks_now(busy, wake, false));
        }
        assert!(kicks_now(false, true, true), "the kernel asked");
        assert!(
            !kicks_now(false, false, true),
            "a zero-copy driver still sending"
        );
        assert!(
            kicks_now(true, false, true),
            "busy polling runs TX from the call"
        );
    }

    #[test]
    fn tx_descriptors_stay_inside_their_frame() {
        let f = u64::from(FRAME_SIZE);
        // A TX frame from the pool starts at its chunk; a lent RX frame 256 in.
        assert_eq!(tx_len(3 * f, 60), 60);
        assert_eq!(tx_len(3 * f, 9000), FRAME_SIZE);
        assert_eq!(tx_len(3 * f + 256, 1514), 1514);
        assert_eq!(tx_len(3 * f + 256, FRAME_SIZE as usize), FRAME_SIZE - 256);
        // Never empty: the kernel would skip it and never complete the frame.
        assert_eq!(tx_len(f, 0), 1);
    }
}
