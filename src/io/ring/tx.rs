//! The transmit ring: `TPACKET_V2`, `PACKET_QDISC_BYPASS`, transmit only.

use super::sys::{bind, kick, packet_socket, setsockopt};
use super::{Mmap, RingSize, V2_LEN, V2_SNAPLEN, V2_STATUS};
use crate::io::TxQueue;
use std::io;
use std::mem::size_of;
use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering;

/// The TX frame data offset: `TPACKET2_HDRLEN - sizeof(sockaddr_ll)`, where the
/// kernel reads a frame when `PACKET_TX_HAS_OFF` is not set.
const TX_DATA_OFF: usize = libc::TPACKET2_HDRLEN - size_of::<libc::sockaddr_ll>();

/// The largest frame (Ethernet header included) a [`RingSize::new`] TX slot holds.
pub const TX_FRAME_MAX: usize = 2048 - TX_DATA_OFF;

/// A transmit ring on one NIC.
pub struct TxRing {
    map: Mmap,
    size: RingSize,
    frame: u32,
    /// [`TxQueue::slot`] handed out the slot at `frame` (its status was
    /// `TP_STATUS_AVAILABLE`) and no [`TxQueue::commit`] has taken it since:
    /// a commit without it would write a slot the kernel may be reading.
    held: bool,
    pending: usize,
    /// Frames refused before the kernel saw them: [`TxQueue::commit`] of
    /// more bytes than the slot holds (not queued, not counted sent). The
    /// kernel's own refusals are not here and cannot be: with
    /// `PACKET_LOSS` (set in [`TxRing::open`]) `tpacket_snd`
    /// (net/packet/af_packet.c) hands a frame it refuses (longer than the
    /// device's MTU + header, say after the MTU was lowered at run time)
    /// back as `TP_STATUS_AVAILABLE`, as it does a frame sent, so it is
    /// counted sent; `TP_STATUS_WRONG_FORMAT`, which [`TxQueue::slot`]
    /// still clears and counts, is left only without `PACKET_LOSS`.
    pub rejected: u64,
    fd: OwnedFd,
}

impl TxRing {
    pub fn open(ifindex: i32, size: RingSize) -> io::Result<Self> {
        let fd = packet_socket()?;
        let ver = libc::tpacket_versions::TPACKET_V2 as libc::c_int;
        setsockopt(&fd, libc::PACKET_VERSION, &ver, "PACKET_VERSION")?;
        let one: libc::c_int = 1;
        setsockopt(&fd, libc::PACKET_QDISC_BYPASS, &one, "PACKET_QDISC_BYPASS")?;
        // Skip a frame the kernel rejects instead of stalling the ring behind
        // it (without it `tpacket_snd` leaves the frame TP_STATUS_WRONG_FORMAT
        // and sends nothing past it until the slot is handed back); the
        // price: a refused frame comes back available, as a sent one does.
        setsockopt(&fd, libc::PACKET_LOSS, &one, "PACKET_LOSS")?;
        let req = libc::tpacket_req {
            tp_block_size: size.block_size,
            tp_block_nr: size.block_nr,
            tp_frame_size: size.frame_size,
            tp_frame_nr: size.frame_nr(),
        };
        setsockopt(&fd, libc::PACKET_TX_RING, &req, "PACKET_TX_RING")?;
        let map = Mmap::ring(&fd, size.bytes(), 0, "mmap(packet ring)")?;
        // Protocol 0: transmit only, never on the receive path.
        bind(&fd, ifindex, 0)?;
        Ok(Self {
            map,
            size,
            frame: 0,
            held: false,
            pending: 0,
            rejected: 0,
            fd,
        })
    }

    fn frame_off(&self) -> usize {
        self.frame as usize * self.size.frame_size as usize
    }

    /// The bytes a slot holds: what [`TxQueue::slot`] hands out.
    fn slot_len(&self) -> usize {
        self.size.frame_size as usize - TX_DATA_OFF
    }

    /// Of the last `n` frames committed, how many the kernel has not taken
    /// yet (still `TP_STATUS_SEND_REQUEST`): it sends in ring order, so
    /// they are the newest; counted back from the newest to the first one
    /// taken (sent, or `TP_STATUS_SENDING` in flight).
    fn still_requested(&self, n: usize) -> usize {
        let frames = self.size.frame_nr() as usize;
        let newest = self.frame as usize + frames - 1;
        (0..n.min(frames))
            .take_while(|k| {
                let off = (newest - k) % frames * self.size.frame_size as usize;
                let status = self.map.word(off + V2_STATUS).load(Ordering::Acquire);
                status == libc::TP_STATUS_SEND_REQUEST
            })
            .count()
    }
}

impl TxQueue for TxRing {
    #[inline]
    fn slot(&mut self) -> Option<&mut [u8]> {
        let off = self.frame_off();
        let status = self.map.word(off + V2_STATUS).load(Ordering::Acquire);
        if status == libc::TP_STATUS_WRONG_FORMAT {
            self.rejected += 1;
            self.map
                .word(off + V2_STATUS)
                .store(libc::TP_STATUS_AVAILABLE, Ordering::Relaxed);
        } else if status != libc::TP_STATUS_AVAILABLE {
            return None;
        }
        let len = self.slot_len();
        self.held = true;
        // SAFETY: the slot's status is TP_STATUS_AVAILABLE (above): ours until
        // `commit` hands it to the kernel, which the `&mut self` borrow of the
        // slot keeps from running meanwhile.
        Some(unsafe { self.map.bytes_mut(off + TX_DATA_OFF, len) })
    }

    fn take_rejected(&mut self) -> u64 {
        std::mem::take(&mut self.rejected)
    }

    /// A `len` past the slot is refused (counted in `rejected`; the slot
    /// stays free and nothing is queued), where `MemTx` panics: the kernel
    /// would refuse it too (`tpacket_parse_header`: `tp_len > size_max`),
    /// but count it sent (see `rejected`). A commit with no slot handed out
    /// by [`TxQueue::slot`] since the last one does nothing: the slot may
    /// be the kernel's (`TP_STATUS_SEND_REQUEST` or `TP_STATUS_SENDING`),
    /// and writing its header would race `tpacket_snd` reading it.
    #[inline]
    fn commit(&mut self, len: usize) {
        if !std::mem::take(&mut self.held) {
            return;
        }
        if len > self.slot_len() {
            self.rejected += 1;
            return;
        }
        let off = self.frame_off();
        // SAFETY: `slot` handed out this slot (`held`, above): its status
        // was TP_STATUS_AVAILABLE, ours until the store below hands it over.
        unsafe {
            self.map.write_u32(off + V2_LEN, len as u32);
            self.map.write_u32(off + V2_SNAPLEN, len as u32);
        }
        self.map
            .word(off + V2_STATUS)
            .store(libc::TP_STATUS_SEND_REQUEST, Ordering::Release);
        self.frame = (self.frame + 1) % self.size.frame_nr();
        self.pending += 1;
    }

    fn flush(&mut self) -> usize {
        let n = self.pending;
        if n == 0 {
            return 0;
        }
        // On an error (ENOBUFS when the device queue is full, EAGAIN) the kernel
        // stops at the frame that failed and leaves it and the rest marked: keep
        // them pending so the next flush kicks the ring again, even with no new
        // frame to send.
        if kick(&self.fd).is_err() {
            return 0;
        }
        // A kick that succeeds may still leave the newest frames marked:
        // `tpacket_snd` stops once the socket's send buffer is taken by
        // frames still in flight (`sock_alloc_send_skb` fails) and returns
        // what it sent. They stay pending, so `unsent` says so and the next
        // flush kicks again (packet_mmap.rst: a frame is the kernel's until
        // its status is back to available).
        let left = self.still_requested(n);
        self.pending = left;
        n - left
    }

    fn unsent(&self) -> bool {
        self.pending > 0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod test {
    use super::*;
    use std::os::unix::net::UnixDatagram;

    /// A TX ring in anonymous memory whose socket is one end of a
    /// socketpair: a kick succeeds and takes no frame, as when the kernel
    /// sent none for want of send buffer; the test plays the kernel.
    fn ring() -> (TxRing, UnixDatagram) {
        let size = RingSize::new(1);
        let (ours, other) = UnixDatagram::pair().unwrap();
        let map = Mmap::anonymous(size.bytes(), "test tx ring").unwrap();
        let ring = TxRing {
            map,
            size,
            frame: 0,
            held: false,
            pending: 0,
            rejected: 0,
            fd: OwnedFd::from(ours),
        };
        (ring, other)
    }

    /// The `tp_len` of slot `frame`, as the kernel reads it.
    fn len_at(r: &TxRing, frame: usize) -> u32 {
        let off = frame * r.size.frame_size as usize;
        // SAFETY: the test plays the kernel; no one else touches the
        // anonymous mapping.
        unsafe { r.map.read_u32(off + V2_LEN) }
    }

    fn set_status(r: &TxRing, frame: usize, status: u32) {
        let off = frame * r.size.frame_size as usize;
        r.map.word(off + V2_STATUS).store(status, Ordering::Release);
    }

    /// `tpacket_snd` sends in ring order and stops when the socket's send
    /// buffer is full, returning success for what it sent: the frames it
    /// left marked stay pending and are counted when it takes them.
    #[test]
    fn frames_a_successful_kick_left_marked_stay_pending() {
        let (mut r, _other) = ring();
        for _ in 0..10 {
            r.slot().expect("a free slot")[..60].fill(1);
            r.commit(60);
        }
        // The kernel took none: nothing sent, all ten still to kick.
        assert_eq!(r.flush(), 0);
        assert!(r.unsent());
        // It took the first six: two sent, four in flight.
        for f in 0..6 {
            let st = if f < 2 {
                libc::TP_STATUS_AVAILABLE
            } else {
                libc::TP_STATUS_SENDING
            };
            set_status(&r, f, st);
        }
        assert_eq!(r.flush(), 6);
        assert!(r.unsent(), "four left");
        for f in 6..10 {
            set_status(&r, f, libc::TP_STATUS_AVAILABLE);
        }
        assert_eq!(r.flush(), 4);
        assert!(!r.unsent());
        assert_eq!(r.flush(), 0);
    }

    /// A commit with no slot handed out writes nothing and queues nothing:
    /// the slot at the cursor may be the kernel's, here `TP_STATUS_SENDING`
    /// (in flight); and one slot handed out is one commit.
    #[test]
    fn a_commit_without_a_slot_leaves_the_kernels_slot_alone() {
        let (mut r, _other) = ring();
        set_status(&r, 0, libc::TP_STATUS_SENDING);
        r.commit(60);
        let st = r.map.word(V2_STATUS).load(Ordering::Acquire);
        assert_eq!(st, libc::TP_STATUS_SENDING, "the kernel's slot untouched");
        assert_eq!(len_at(&r, 0), 0, "no tp_len written");
        assert!(!r.unsent());
        assert_eq!(r.flush(), 0);
        assert!(r.slot().is_none(), "still the kernel's");
        set_status(&r, 0, libc::TP_STATUS_AVAILABLE);
        r.slot().expect("slot 0 back")[..60].fill(3);
        r.commit(60);
        r.commit(60); // a second commit for the same slot: nothing
        assert_eq!(len_at(&r, 0), 60);
        let st1 = r.map.word(r.size.frame_size as usize + V2_STATUS);
        assert_eq!(st1.load(Ordering::Acquire), libc::TP_STATUS_AVAILABLE);
        assert_eq!(len_at(&r, 1), 0);
        assert_eq!(r.flush(), 0, "slot 0 still requested: one frame pending");
        assert!(r.unsent());
    }

    /// A commit of more than the slot holds is refused and counted, not
    /// handed to the kernel (which would skip it under `PACKET_LOSS` and
    /// leave it counted sent); the slot is the next frame's.
    #[test]
    fn a_commit_past_the_slot_is_refused_and_counted() {
        let (mut r, _other) = ring();
        let max = r.slot().expect("a free slot").len();
        assert_eq!(max, TX_FRAME_MAX);
        r.commit(max + 1);
        assert_eq!(r.rejected, 1);
        assert!(!r.unsent());
        assert_eq!(r.flush(), 0);
        let st = r.map.word(V2_STATUS).load(Ordering::Acquire);
        assert_eq!(st, libc::TP_STATUS_AVAILABLE, "slot 0 still ours");
        // The slot is used by the next frame; a full slot is no refusal.
        r.slot().expect("the same slot")[..max].fill(7);
        r.commit(max);
        assert_eq!(r.rejected, 1);
        assert_eq!(len_at(&r, 0), max as u32);
        let st = r.map.word(V2_STATUS).load(Ordering::Acquire);
        assert_eq!(st, libc::TP_STATUS_SEND_REQUEST);
        // The worker takes the count once a second (`tx_rejected`).
        assert_eq!(r.take_rejected(), 1);
        assert_eq!(r.take_rejected(), 0);
    }
}
