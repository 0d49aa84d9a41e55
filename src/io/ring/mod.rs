//! The AF_PACKET room: `PACKET_MMAP` rings, one of the crate's four modules with
//! `unsafe` code (see [`super`]).
//!
//! * [`RxRing`]: one receive socket per worker per NIC, `TPACKET_V2` (a frame per
//!   slot, handed over as soon as it is written) or `TPACKET_V3` (frames packed in
//!   blocks, handed over when a block fills or its timer fires), joined to the NIC's
//!   fanout group with the client-keyed program of [`super::fanout`].
//! * [`TxRing`]: one transmit-only socket per worker per NIC (`TPACKET_V2`,
//!   `PACKET_QDISC_BYPASS`), bound with protocol 0 so the kernel never queues a
//!   received frame on it.
//!
//! The socket is created with protocol 0 (receives nothing), gets its ring and its
//! mapping, and only then is bound to the NIC with `ETH_P_ALL`, so no frame of
//! another interface ever lands in the ring.
//!
//! Ownership of a ring slot is handed back and forth through its status word: the
//! kernel writes the frame and then sets `TP_STATUS_USER` (RX) or clears
//! `TP_STATUS_SEND_REQUEST` (TX); we read that word with acquire ordering before
//! touching the slot and write it with release ordering when handing the slot back.
//!
//! Besides the packet socket itself this room owns what both kinds of socket need
//! from the kernel: the shared mapping (`Mmap`, whose bounds-checked methods the
//! AF_XDP room [`super::xdp`] uses for its rings and UMEM), the empty `sendto(2)`
//! that kicks a TX ring, and the worker's idle `poll(2)` ([`poll_readable`])
//! with the `eventfd(2)` another worker wakes it with ([`Doorbell`]).
//!
//! Files: `sys` (the socket calls, `kick`, `poll_readable`, `Doorbell`, the NIC
//! multicast membership [`AllMulti`]), `mmap` (the shared
//! mapping), `rx` ([`RxRing`]) and `tx` ([`TxRing`]). They are one room: the
//! `allow(unsafe_code)` of this module covers them all, and they share the
//! `tpacket2_hdr` layout below.
#![allow(unsafe_code)]

mod mmap;
mod rx;
mod sys;
mod tx;

pub(super) use mmap::Mmap;
pub use mmap::advise_huge;
pub use rx::{RX_FRAME_MAX, RxRing};
pub(super) use sys::kick;
pub use sys::{AllMulti, Doorbell, poll_readable, set_fifo};
pub use tx::{TX_FRAME_MAX, TxRing};

use super::fanout::Side;

/// The ring format of a receive socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RxVersion {
    /// One frame per slot; a frame reaches user space as soon as it is written.
    V2,
    /// Frames packed in blocks; a block reaches user space when it fills or when
    /// `block_timeout_ms` passes (`tp_retire_blk_tov`).
    V3 { block_timeout_ms: u32 },
}

/// Sizes of one ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingSize {
    /// Bytes per frame slot (V2 RX, TX). Holds ring header + frame.
    pub frame_size: u32,
    /// Bytes per block; a multiple of the page size and of `frame_size`.
    pub block_size: u32,
    pub block_nr: u32,
}

impl RingSize {
    /// 2 KiB frames in 64 KiB blocks: room for a 1500-byte MTU frame.
    pub const fn new(block_nr: u32) -> Self {
        Self {
            frame_size: 2048,
            block_size: 1 << 16,
            block_nr,
        }
    }

    fn frame_nr(&self) -> u32 {
        self.block_size / self.frame_size * self.block_nr
    }

    fn bytes(&self) -> usize {
        self.block_size as usize * self.block_nr as usize
    }
}

/// A fanout group to join after binding.
#[derive(Clone, Copy, Debug)]
pub struct Fanout {
    /// The group to join; `None` asks the kernel for a fresh unique id
    /// (first member). Not 0 as "none": `PACKET_FANOUT_FLAG_UNIQUEID` may hand
    /// out 0 (the kernel's `fanout_next_id` starts there and wraps).
    pub id: Option<u16>,
    pub side: Side,
    /// The hash key of the group's program (see [`super::fanout::program`]).
    pub key: u32,
}

// tpacket2_hdr field offsets.
const V2_STATUS: usize = 0;
const V2_LEN: usize = 4;
const V2_SNAPLEN: usize = 8;
const V2_MAC: usize = 12;
const V2_SEC: usize = 16;
const V2_NSEC: usize = 20;
const V2_VLAN_TCI: usize = 24;
const V2_VLAN_TPID: usize = 26;
