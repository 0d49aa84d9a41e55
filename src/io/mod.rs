//! Packet I/O: the rings a worker reads from and writes to.
//!
//! A worker sees its NICs only through [`RxQueue`] and [`TxQueue`]. Three backends
//! implement them: [`ring`] (AF_PACKET `PACKET_MMAP` rings, the default),
//! [`xdp`] (AF_XDP sockets, `--io xdp`) and [`mem`] (in-memory queues that
//! drive the very same worker code in tests).
//!
//! Both traits are shaped for zero copies and zero syscalls per packet: a received
//! frame is borrowed in place from the ring ([`RxQueue::peek`]) and given back with
//! [`RxQueue::advance`]; a frame to send is written straight into a TX slot
//! ([`TxQueue::slot`], [`TxQueue::commit`]) and the kernel is kicked once per batch
//! ([`TxQueue::flush`]).
//!
//! Where an RX queue and a TX queue share their frame memory (AF_XDP sockets of
//! one worker on a shared UMEM, [`Umem`]), a received frame need not be copied
//! at all: the worker rewrites it in place ([`RxQueue::peek_mut`]) and moves its
//! descriptor to the TX queue ([`RxQueue::lend`], [`TxQueue::send_lent`]). The
//! other backends say they cannot (the default methods), and frames are copied.
//!
//! # The `unsafe` rooms
//!
//! `unsafe` code is denied in the whole crate (`[lints.rust]` in `Cargo.toml`)
//! except in four modules here, each `#[allow(unsafe_code)]` for the one kernel
//! interface it owns, and each `unsafe` block there says why it is sound in a
//! `// SAFETY:` comment (clippy's `undocumented_unsafe_blocks` is denied):
//!
//! * [`ring`]: AF_PACKET sockets and their `PACKET_MMAP` rings. It also owns the
//!   memory mapping shared with the kernel (`ring::Mmap`, which [`xdp`] uses only
//!   through its bounds-checked methods), the empty `sendto(2)` that kicks a TX
//!   ring, and the `poll(2)` of an idle worker ([`ring::poll_readable`]).
//! * [`xdp`]: AF_XDP sockets and `bpf(2)` (the XDP program and its socket map).
//! * [`cred`]: the credentials of a unix socket's peer (`SO_PEERCRED`) and of
//!   this process (`geteuid(2)`), for the control socket's access check.
//! * [`sockopt`]: integer options of a kernel socket that `socket2` does not
//!   set (`IP_MTU_DISCOVER` and `IPV6_MTU_DISCOVER` on the sync sockets).
//!
//! Everything else, here and in the rest of the crate, is safe code over their
//! safe APIs.

pub mod cred;
pub mod fanout;
pub mod mem;
pub mod nic;
pub mod ring;
pub mod rss;
pub mod sockopt;
pub mod xdp;

use std::io;
use std::os::fd::RawFd;

/// Largest frame a slot outside the rings holds: a handoff between workers, a
/// frame parked for ARP, a capture copy, a segment diverted to the health thread.
pub const FRAME_MAX: usize = 2048;

/// What the ring says about a received frame besides its bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxMeta {
    /// Length of the frame on the wire (`tp_len`); larger than the captured bytes
    /// when the ring truncated it.
    pub wire_len: u32,
    /// The L4 checksum field holds only the pseudo-header sum
    /// (`TP_STATUS_CSUMNOTREADY`: the sender left checksumming to an offload).
    pub csum_partial: bool,
    /// The L4 checksum was already verified (`TP_STATUS_CSUM_VALID`: the NIC's RX
    /// checksum offload, or the kernel, found it good), so the worker need not
    /// verify it again.
    pub csum_valid: bool,
    /// The 802.1Q tag the kernel stripped into the ring header, if any
    /// (a capture puts it back in the frame, as libpcap does).
    pub vlan: Option<VlanTag>,
}

/// An 802.1Q tag: its type (0x8100, or 0x88a8 for 802.1ad) and control
/// information (priority, drop eligibility, VLAN id).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VlanTag {
    pub tpid: u16,
    pub tci: u16,
}

impl VlanTag {
    /// The VLAN id: the low 12 bits of the TCI (0: a priority tag, 802.1p
    /// only, which names no VLAN).
    pub const fn vid(self) -> u16 {
        self.tci & 0x0fff
    }
}

impl RxMeta {
    /// Whether the frame came in a VLAN: with a stripped tag whose VLAN id
    /// is not 0. A priority tag (VLAN id 0) is not one: the kernel's
    /// `__netif_receive_skb_core` (net/core/dev.c), finding no VLAN device
    /// for id 0, clears the tag and hands the frame to IP as untagged, so
    /// the host (and IPVS) serves such a client; the datapath does too.
    pub fn in_vlan(&self) -> bool {
        self.vlan.is_some_and(|t| t.vid() != 0)
    }
}

/// The frame memory (AF_XDP UMEM) a queue's frames live in, for the queues that
/// can send a received frame from its own buffer: an RX queue and a TX queue
/// with the same `Umem` can pass a frame by its descriptor ([`RxQueue::lend`],
/// [`TxQueue::send_lent`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Umem(pub(crate) u64);

/// What the kernel counted against a receive queue since the last
/// [`RxQueue::take_kernel_drops`] (each `kernel_drop`, `xdp_fill_empty` and
/// `xdp_tx_invalid`; the last two AF_XDP only).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelDrops {
    /// Frames dropped because the RX ring was full (and, AF_XDP, for any
    /// other reason the kernel counts in `rx_dropped`).
    pub ring_full: u64,
    /// AF_XDP: times the kernel wanted a frame from the fill ring and found
    /// it empty (`rx_fill_ring_empty_descs`).
    pub fill_empty: u64,
    /// AF_XDP: descriptors of the socket's TX ring the kernel refused as
    /// invalid (`tx_invalid_descs`).
    pub tx_invalid: u64,
}

impl std::ops::Add for KernelDrops {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        Self {
            ring_full: self.ring_full + o.ring_full,
            fill_empty: self.fill_empty + o.fill_empty,
            tx_invalid: self.tx_invalid + o.tx_invalid,
        }
    }
}

/// A received frame taken out of its RX queue without being given back to the
/// kernel ([`RxQueue::lend`]), to be sent from its own buffer by a TX queue of
/// the same [`Umem`] ([`TxQueue::send_lent`]), or given back
/// ([`RxQueue::give_back`]). Dropping it loses the frame's buffer.
#[must_use]
#[derive(Debug)]
pub struct Lent {
    /// Private to the I/O rooms: only an RX queue's `lend` makes a token, so
    /// holding one means holding the frame ([`RxQueue::lent_bytes`]).
    pub(in crate::io) umem: Umem,
    /// Where the frame's bytes start in the UMEM.
    pub(in crate::io) addr: u64,
}

impl Lent {
    /// The frame memory the frame lives in.
    pub fn umem(&self) -> Umem {
        self.umem
    }

    /// A token for frame `addr` of memory `umem` no queue lent, for a unit
    /// test that moves tokens through rings and never reads a frame.
    #[cfg(test)]
    pub(crate) fn forged_for_test(umem: u64, addr: u64) -> Self {
        Self {
            umem: Umem(umem),
            addr,
        }
    }

    /// The address of a token made by [`Lent::forged_for_test`].
    #[cfg(test)]
    pub(crate) fn addr_for_test(&self) -> u64 {
        self.addr
    }
}

/// A received frame, borrowed from the ring until [`RxQueue::advance`].
#[derive(Debug)]
pub struct RxFrame<'a> {
    pub data: &'a [u8],
    pub meta: RxMeta,
}

/// The receive side of one NIC for one worker.
pub trait RxQueue {
    /// The frame at the cursor, if one is ready. Does not move the cursor.
    fn peek(&mut self) -> Option<RxFrame<'_>>;
    /// Give the frame at the cursor back and move on. A no-op when nothing is ready.
    fn advance(&mut self);
    /// The bytes of the `k`th ready frame after the cursor (`0`: the one `peek`
    /// returns), if the backend can look ahead and that many are ready. Lets the
    /// worker start the table lookups of a burst before handling its first frame
    /// (`dataplane::batch`). By default it cannot (`None`).
    fn peek_ahead(&self, _k: usize) -> Option<&[u8]> {
        None
    }
    /// The descriptor to `poll()` on when idle, if the backend has one.
    fn poll_fd(&self) -> Option<RawFd>;
    /// The frame memory this queue's frames live in, if a TX queue of the same
    /// memory can send them from their own buffers. By default none: the
    /// frame is copied into a TX slot.
    fn umem(&self) -> Option<Umem> {
        None
    }
    /// The frame at the cursor, writable (only where [`RxQueue::umem`] is some).
    fn peek_mut(&mut self) -> Option<&mut [u8]> {
        None
    }
    /// Move past the frame at the cursor without giving its buffer back to
    /// the kernel: it is lent to a TX queue of the same [`Umem`]. `None` (and
    /// nothing moves) when nothing is ready or the backend cannot lend.
    fn lend(&mut self) -> Option<Lent> {
        None
    }
    /// A lent frame that could not be sent: its buffer goes back to the kernel.
    fn give_back(&mut self, _frame: Lent) {}
    /// The first `len` bytes of a frame lent by a queue of this queue's
    /// [`Umem`] (possibly another worker's, that handed the frame over by its
    /// descriptor), writable: whoever holds the [`Lent`] holds the frame
    /// (borrowed mutably with it, so no two views of one frame coexist, not
    /// even through two queues). `None` for another memory, a range outside
    /// one frame, or a backend that cannot.
    fn lent_bytes<'a>(&'a mut self, _frame: &'a mut Lent, _len: usize) -> Option<&'a mut [u8]> {
        None
    }
    /// Ask the CPU to bring in the first bytes of a lent frame (a prefetch:
    /// a hint, it neither faults nor waits), to be read soon with
    /// [`RxQueue::lent_bytes`]. By default nothing.
    fn prefetch_lent(&self, _frame: &Lent) {}
    /// Done with the bytes [`RxQueue::lent_bytes`] gave, before the frame is
    /// sent ([`TxQueue::send_lent`]): a backend that moved them into the queue
    /// puts them back where the TX queues of its memory find them.
    fn release_lent(&mut self, _frame: &Lent) {}
    /// Whether slots of the queue's fill ring stay empty for want of free
    /// frames (its frames were lent to TX queues that have not had them back
    /// from the kernel yet): the queue refills them as frames come back,
    /// which only a pass of the worker notices, so a worker with nothing
    /// else to do should pass again rather than sleep (a fill ring left
    /// empty receives nothing that would wake it). By default never.
    fn starved(&self) -> bool {
        false
    }
    /// What the kernel counted against the queue since the last call: frames
    /// it dropped because the ring was full, and on AF_XDP the rest of
    /// [`KernelDrops`]. (A syscall on the real backend: call it from slow
    /// paths only.)
    fn take_kernel_drops(&mut self) -> KernelDrops;
    /// Descriptors whose frame address lay outside the queue's frame memory
    /// (AF_XDP), dropped since the last call (`xdp_bad_addr`). By default none.
    fn take_bad_addrs(&mut self) -> u64 {
        0
    }
    /// With preferred busy polling (`--busy-poll` on AF_XDP): whether the
    /// kernel has given the socket a NAPI instance to drive (`Some(false)`:
    /// not yet, or never on a driver that registers no NAPI id for its
    /// queues; the worker's busy-polling syscalls then poll nothing). `None`
    /// where the queue does not busy-poll. A syscall: slow paths only.
    fn busy_napi(&self) -> Option<bool> {
        None
    }
}

/// The transmit side of one NIC for one worker.
pub trait TxQueue {
    /// The next free slot to write a frame into, if any. Its length is the largest
    /// frame the slot can hold. Calling it again without `commit` returns the same slot.
    fn slot(&mut self) -> Option<&mut [u8]>;
    /// Queue the first `len` bytes of the slot returned by `slot` for sending.
    fn commit(&mut self, len: usize);
    /// Ask the kernel to send everything committed. Returns how many frames were
    /// handed over (0 when the kernel refused for now: they stay pending and the next
    /// call tries again). One syscall per call on the real backend, none when
    /// nothing is pending.
    fn flush(&mut self) -> usize;

    /// Whether frames handed to this queue wait for another [`TxQueue::flush`]
    /// to be sent (the kernel refused the last kick, or it sends only from
    /// the call and did not send them all), so a worker with nothing else
    /// to do should flush again rather than sleep. By default never.
    fn unsent(&self) -> bool {
        false
    }

    /// The frame memory this queue sends from, if it can send a received frame
    /// of the same memory from its own buffer ([`TxQueue::send_lent`]). By
    /// default none.
    fn umem(&self) -> Option<Umem> {
        None
    }
    /// Completed frame addresses outside the queue's frame memory (AF_XDP),
    /// dropped since the last call (`xdp_bad_addr`). By default none.
    fn take_bad_addrs(&mut self) -> u64 {
        0
    }
    /// Frames counted sent that were not, since the last call
    /// (`tx_rejected`): refused before the kernel saw them (a commit of
    /// more bytes than a ring slot holds), or, AF_XDP copy mode, dropped
    /// by the kernel after it took them. By default none.
    fn take_rejected(&mut self) -> u64 {
        0
    }
    /// Whether [`TxQueue::send_lent`] would find room now.
    fn can_send_lent(&mut self) -> bool {
        false
    }
    /// Queue the first `len` bytes of a lent frame for sending, from its own
    /// buffer (sent at the next [`TxQueue::flush`], counted by it like a
    /// committed slot). Gives the frame back if it cannot: no room, another
    /// [`Umem`], or a backend that cannot.
    fn send_lent(&mut self, frame: Lent, _len: usize) -> Result<(), Lent> {
        Err(frame)
    }

    /// Copy `frame` into a slot and send it now (slow paths: ARP from the control
    /// thread). False if no slot is free or the frame does not fit.
    fn send_one(&mut self, frame: &[u8]) -> bool {
        match self.slot() {
            Some(slot) if frame.len() <= slot.len() => {
                slot[..frame.len()].copy_from_slice(frame);
                self.commit(frame.len());
                self.flush();
                true
            }
            _ => false,
        }
    }
}

/// A libc return value as a result: negative means `errno` says what failed.
fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `e` with `what` (the call that failed) in front of its message; its
/// `errno` stays readable through [`errno`].
fn with_context(e: io::Error, what: &str) -> io::Error {
    io::Error::new(
        e.kind(),
        Call {
            what: what.to_string(),
            err: e,
        },
    )
}

/// A failed call into the kernel and its name ([`with_context`]).
#[derive(Debug)]
struct Call {
    what: String,
    err: io::Error,
}

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.what, self.err)
    }
}

impl std::error::Error for Call {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.err)
    }
}

/// The `errno` an error of this room came from, through any call names put
/// in front of it ([`with_context`]): what a caller tells causes by (EBUSY,
/// EPERM), where `raw_os_error` of the wrapped error is `None`.
pub fn errno(e: &io::Error) -> Option<i32> {
    e.raw_os_error().or_else(|| {
        e.get_ref()
            .and_then(|inner| inner.downcast_ref::<Call>())
            .and_then(|c| errno(&c.err))
    })
}

#[cfg(test)]
mod errno_tests {
    use super::*;

    /// The errno survives the call names put in front of it, and the
    /// message reads as before.
    #[test]
    fn an_errno_is_read_through_call_names() {
        let e = with_context(io::Error::from_raw_os_error(libc::EBUSY), "bind(AF_XDP)");
        assert_eq!(errno(&e), Some(libc::EBUSY));
        assert_eq!(e.kind(), io::ErrorKind::ResourceBusy);
        let twice = with_context(e, "queue 3");
        assert_eq!(errno(&twice), Some(libc::EBUSY));
        assert_eq!(
            twice.to_string(),
            format!(
                "queue 3: bind(AF_XDP): {}",
                io::Error::from_raw_os_error(libc::EBUSY)
            )
        );
        assert_eq!(errno(&io::Error::other("no bind mode")), None);
    }
}
