//! The AF_XDP room: AF_XDP sockets and the `bpf(2)` calls that load, attach and
//! feed their XDP program; one of the crate's four modules with `unsafe` code
//! (see [`super`]). The memory it shares with the kernel (rings and UMEM) is an
//! `Mmap` of the AF_PACKET room, used here only through its bounds-checked
//! methods, so every `unsafe` block of this room is a system call, the taking
//! over of the new fd one returned (`owned`), the zeroing of a kernel struct,
//! or a view of a UMEM frame its queue or worker holds (`Frames::bytes`,
//! `Frames::bytes_mut`: `unsafe fn`s, their callers say why they hold it).
//!
//! With `ringvs run --io xdp` a worker's queues are AF_XDP sockets instead of
//! AF_PACKET rings. An XDP program on each NIC ([`XdpProgram`]) redirects IPv4,
//! IPv6 and ARP frames to the socket bound to the frame's receive queue, before
//! the kernel builds an `sk_buff` for them: the kernel's IP stack never sees
//! those frames (nothing to drop, no "not a router" trap), and other frames
//! (LLDP, VLAN-tagged) still reach the kernel.
//!
//! With `--workers N`, worker k opens a socket on receive queue k of each NIC
//! and registers it at key k of the NIC's socket map. Sockets bind zero-copy
//! where the driver can, copy mode otherwise (and always with
//! `--xdp-mode generic`); with `--busy-poll` they ask for the kernel's
//! preferred busy polling.
//!
//! Every worker's sockets (one per NIC) share one UMEM, frame memory shared
//! with the kernel ([`open_workers`]: the first socket registers it, the
//! others bind with `XDP_SHARED_UMEM`; with `--umem per-worker`, or if the
//! kernel refuses, each worker's two sockets share one: [`open_pair`]). Each
//! socket is split into an [`XskRx`] (fill and RX rings) and an [`XskTx`] (TX
//! and completion rings), which the worker owns as it owns its AF_PACKET
//! rings. A frame received on one NIC and forwarded to the other is rewritten
//! in place and its descriptor moved from the RX ring to the other socket's
//! TX ring ([`RxQueue::lend`](crate::io::RxQueue::lend),
//! [`TxQueue::send_lent`](crate::io::TxQueue::send_lent)), also when another
//! worker received it and handed it over by its descriptor
//! ([`RxQueue::lent_bytes`](crate::io::RxQueue::lent_bytes)): no copy but
//! those the kernel makes in copy mode. The free frames are a pool all queues
//! share, taken and given back in batches (`umem`); every frame is held by
//! exactly one place at a time, which is what lets a queue write the frames
//! it or its worker holds.
//!
//! Every ring is single-producer/single-consumer: the producer writes descriptors
//! and then publishes its index with release ordering; the consumer reads the
//! other side's index with acquire ordering before reading descriptors.
//!
//! What AF_XDP cannot tell: whether the sender left a TCP/UDP checksum or an
//! SCTP CRC32c to an offload (`CHECKSUM_PARTIAL`, seen on veth).
//! [`checksum::looks_partial`](crate::wire::checksum::looks_partial) recognises
//! such a checksum from its value (see there), so the worker completes it as it
//! does for an AF_PACKET frame marked `TP_STATUS_CSUMNOTREADY`.
//!
//! Files: `bpf` (the XDP program and its socket map, [`XdpProgram`]), `xsk`
//! (the socket and its four rings: [`open`], [`open_pair`],
//! [`open_workers`]), `queue` (its queues: [`XskRx`], [`XskTx`]) and `umem`
//! (the free frames of a UMEM).
//! They are one room: the `allow(unsafe_code)` of this module covers them all.
#![allow(unsafe_code)]

mod bpf;
mod queue;
mod umem;
mod xsk;

pub use bpf::{XdpMode, XdpProgram};
pub use xsk::{
    BUSY_POLL_USECS, Xsk, XskOptions, XskPair, XskRx, XskSize, XskTx, XskWorkers, open, open_pair,
    open_workers,
};

use std::os::fd::{FromRawFd, OwnedFd};

/// Bytes per UMEM frame: one page holds two; a frame holds the kernel's 256 bytes
/// of XDP headroom plus a 1500-byte MTU frame.
pub const FRAME_SIZE: u32 = 2048;
/// The largest frame (Ethernet header included) a TX slot holds.
pub const TX_FRAME_MAX: usize = FRAME_SIZE as usize;
/// The largest frame the kernel can copy into an RX frame (after its headroom).
pub const RX_FRAME_MAX: usize = FRAME_SIZE as usize - 256;

/// The new fd a system call (`bpf(2)`, `socket(2)`) just returned.
///
/// # Safety
///
/// `fd` is open and owned by nothing else (no other `OwnedFd`, nobody who
/// closes it): the kernel just returned it to the caller.
unsafe fn owned(fd: libc::c_int) -> OwnedFd {
    // SAFETY: the caller's promise (above) is what `from_raw_fd` asks.
    unsafe { OwnedFd::from_raw_fd(fd) }
}
