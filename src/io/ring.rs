//! The AF_PACKET room: `PACKET_MMAP` rings, one of the crate's three modules with
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
//! that kicks a TX ring, and the worker's idle `poll(2)` ([`poll_readable`]).
#![allow(unsafe_code)]

use super::fanout::{self, Side};
use super::{RxFrame, RxMeta, RxQueue, TxQueue, cvt, with_context};
use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

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
    /// Group id; 0 asks the kernel for a fresh unique id (first member).
    pub id: u16,
    pub side: Side,
    /// The hash key of the group's program (see [`super::fanout::program`]).
    pub key: u32,
}

/// The TX frame data offset: `TPACKET2_HDRLEN - sizeof(sockaddr_ll)`, where the
/// kernel reads a frame when `PACKET_TX_HAS_OFF` is not set.
const TX_DATA_OFF: usize = libc::TPACKET2_HDRLEN - size_of::<libc::sockaddr_ll>();

/// The largest frame (Ethernet header included) a [`RingSize::new`] TX slot holds.
pub const TX_FRAME_MAX: usize = 2048 - TX_DATA_OFF;

fn packet_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call; protocol 0 so nothing is received before bind.
    let fd = cvt(unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    })
    .map_err(|e| with_context(e, "socket(AF_PACKET)"))?;
    // SAFETY: `fd` was just returned by socket(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn setsockopt<T>(fd: &OwnedFd, opt: libc::c_int, val: &T, what: &str) -> io::Result<()> {
    // SAFETY: `val` points to a live `T` of `size_of::<T>()` bytes for the call.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            opt,
            (val as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    })
    .map(drop)
    .map_err(|e| with_context(e, what))
}

fn getsockopt<T: Copy>(fd: RawFd, opt: libc::c_int, val: &mut T) -> io::Result<()> {
    let mut len = size_of::<T>() as libc::socklen_t;
    // SAFETY: `val` is a valid, writable `T`; `len` tells the kernel its size.
    cvt(unsafe { libc::getsockopt(fd, libc::SOL_PACKET, opt, (val as *mut T).cast(), &mut len) })
        .map(drop)
}

fn bind(fd: &OwnedFd, ifindex: i32, protocol: u16) -> io::Result<()> {
    // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = protocol.to_be();
    sll.sll_ifindex = ifindex;
    // SAFETY: `sll` is a valid sockaddr_ll and the length given is its size.
    cvt(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    })
    .map(drop)
    .map_err(|e| with_context(e, "bind(AF_PACKET)"))
}

/// Memory shared with the kernel: a socket's ring (AF_PACKET, or one of the four
/// rings of an AF_XDP socket) or an AF_XDP UMEM; unmapped on drop.
///
/// Every access is bounds-checked. Which bytes are ours at a given moment is
/// the ring protocol's business: the owner of a `Mmap` reads or writes a slot
/// only after the status word or ring index that hands it over says so, and
/// accesses those words only through [`Mmap::word`] (atomically).
pub(super) struct Mmap {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory shared with the kernel, not tied to the
// thread that made it; its owners hand out slots only through `&mut self` (or,
// for a split UMEM, each half through its own `&mut MmapPart`), so moving it to
// another thread is sound.
unsafe impl Send for Mmap {}
// SAFETY: through `&Mmap` one can only read (bytes, plain fields) and touch the
// status/index words atomically; writes need `&mut Mmap` or a `&mut MmapPart`,
// whose byte ranges are disjoint.
unsafe impl Sync for Mmap {}

impl Mmap {
    /// Map `len` bytes of `fd`'s ring at `offset`, which the kernel defines for
    /// the socket (0 for a packet ring, `XDP_PGOFF_*` for AF_XDP rings).
    pub(super) fn ring(fd: &OwnedFd, len: usize, offset: u64, what: &str) -> io::Result<Self> {
        Self::map(Some(fd), len, offset, what)
    }

    /// Map `len` bytes of fresh zeroed memory (an AF_XDP UMEM, registered with
    /// the kernel by its [`Mmap::addr`]).
    pub(super) fn anonymous(len: usize, what: &str) -> io::Result<Self> {
        Self::map(None, len, 0, what)
    }

    fn map(fd: Option<&OwnedFd>, len: usize, offset: u64, what: &str) -> io::Result<Self> {
        let (flags, raw) = match fd {
            Some(fd) => (libc::MAP_SHARED, fd.as_raw_fd()),
            None => (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1),
        };
        let offset = libc::off_t::try_from(offset)
            .map_err(|_| io::Error::other(format!("{what}: offset out of range")))?;
        // SAFETY: a fresh mapping of `len` bytes at an address the kernel picks
        // (so it overlaps nothing of ours): anonymous memory, or the ring of a
        // packet or AF_XDP socket at the offset the kernel defines for it (the
        // kernel checks the length against the ring it set up).
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags | libc::MAP_POPULATE,
                raw,
                offset,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(with_context(io::Error::last_os_error(), what));
        }
        let ptr =
            NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Self { ptr, len })
    }

    /// The user-space address of the mapping (for `XDP_UMEM_REG`).
    pub(super) fn addr(&self) -> u64 {
        self.ptr.as_ptr() as u64
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// `off..off + len` lies inside the mapping.
    fn check(&self, off: usize, len: usize) {
        assert!(
            off.checked_add(len).is_some_and(|end| end <= self.len),
            "{off}+{len} is outside a mapping of {}",
            self.len
        );
    }

    /// The status or ring-index word at `off`, shared with the kernel.
    ///
    /// # Panics
    /// If `off + 4` is past the mapping or `off` is not 4-byte aligned.
    pub(super) fn word(&self, off: usize) -> &AtomicU32 {
        self.check(off, 4);
        assert!(off.is_multiple_of(4));
        // SAFETY: in bounds and aligned (checked above; the mapping is page
        // aligned); the kernel and we access this word only atomically.
        unsafe { &*self.ptr.as_ptr().add(off).cast::<AtomicU32>() }
    }

    /// A plain u16 field of a slot we own at `off`.
    ///
    /// # Panics
    /// If the field is past the mapping (so are the other accessors).
    pub(super) fn read_u16(&self, off: usize) -> u16 {
        self.check(off, 2);
        // SAFETY: in bounds (checked above); the slot is ours (its owner checked).
        unsafe { self.ptr.as_ptr().add(off).cast::<u16>().read_unaligned() }
    }

    /// A plain u32 field of a slot we own at `off`.
    pub(super) fn read_u32(&self, off: usize) -> u32 {
        self.check(off, 4);
        // SAFETY: as for `read_u16`.
        unsafe { self.ptr.as_ptr().add(off).cast::<u32>().read_unaligned() }
    }

    /// A plain u64 field of a slot we own at `off`.
    pub(super) fn read_u64(&self, off: usize) -> u64 {
        self.check(off, 8);
        // SAFETY: as for `read_u16`.
        unsafe { self.ptr.as_ptr().add(off).cast::<u64>().read_unaligned() }
    }

    pub(super) fn write_u32(&mut self, off: usize, v: u32) {
        self.check(off, 4);
        // SAFETY: in bounds (checked above); the slot is ours until we release it.
        unsafe { self.ptr.as_ptr().add(off).cast::<u32>().write_unaligned(v) }
    }

    pub(super) fn write_u64(&mut self, off: usize, v: u64) {
        self.check(off, 8);
        // SAFETY: as for `write_u32`.
        unsafe { self.ptr.as_ptr().add(off).cast::<u64>().write_unaligned(v) }
    }

    /// Bytes `off..off + len` of a slot we own.
    pub(super) fn bytes(&self, off: usize, len: usize) -> &[u8] {
        self.check(off, len);
        // SAFETY: in bounds; the caller owns the slot (its status said so), so the
        // kernel does not write it while the borrow lives.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(off), len) }
    }

    pub(super) fn bytes_mut(&mut self, off: usize, len: usize) -> &mut [u8] {
        self.check(off, len);
        // SAFETY: as for `bytes`, and `&mut self` makes the borrow unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr().add(off), len) }
    }

    /// Split the mapping into `..at` and `at..`, for two owners that each touch
    /// only their own part (the RX and TX halves of an AF_XDP UMEM).
    ///
    /// # Panics
    /// If `at` is past the mapping.
    pub(super) fn split(self, at: usize) -> (MmapPart, MmapPart) {
        self.check(at, 0);
        let len = self.len;
        let map = Arc::new(self);
        (
            MmapPart {
                map: Arc::clone(&map),
                start: 0,
                end: at,
            },
            MmapPart {
                map,
                start: at,
                end: len,
            },
        )
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the region `map` mapped; no borrow outlives self.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// One of the two disjoint parts [`Mmap::split`] makes; offsets are those of the
/// whole mapping (as the kernel's descriptors give them).
pub(super) struct MmapPart {
    map: Arc<Mmap>,
    start: usize,
    end: usize,
}

impl MmapPart {
    /// Whether `off..off + len` lies inside this part.
    fn holds(&self, off: usize, len: usize) -> bool {
        off >= self.start && off.checked_add(len).is_some_and(|end| end <= self.end)
    }

    /// Bytes `off..off + len` of a frame we own, or `None` if they are not all
    /// in this part.
    pub(super) fn get(&self, off: usize, len: usize) -> Option<&[u8]> {
        self.holds(off, len).then(|| self.map.bytes(off, len))
    }

    /// As [`MmapPart::get`], writable.
    pub(super) fn get_mut(&mut self, off: usize, len: usize) -> Option<&mut [u8]> {
        if !self.holds(off, len) {
            return None;
        }
        // SAFETY: in bounds of the mapping (inside this part, which `split` cut
        // from it). No other Rust reference can alias these bytes: the only
        // other part covers a disjoint range, the `Mmap` is reachable only
        // through the two parts, and `&mut self` makes the borrow unique within
        // this one. That the kernel leaves the frame alone meanwhile is the
        // owner's ring protocol, as for `Mmap::bytes`.
        Some(unsafe { std::slice::from_raw_parts_mut(self.map.ptr.as_ptr().add(off), len) })
    }
}

// tpacket2_hdr field offsets.
const V2_STATUS: usize = 0;
const V2_LEN: usize = 4;
const V2_SNAPLEN: usize = 8;
const V2_MAC: usize = 12;
// tpacket_block_desc / tpacket_hdr_v1 offsets.
const BD_STATUS: usize = 8;
const BD_NUM_PKTS: usize = 12;
const BD_FIRST: usize = 16;
// tpacket3_hdr offsets.
const V3_NEXT: usize = 0;
const V3_SNAPLEN: usize = 12;
const V3_LEN: usize = 16;
const V3_STATUS: usize = 20;
const V3_MAC: usize = 24;

fn meta_from(status: u32, wire_len: u32) -> RxMeta {
    RxMeta {
        wire_len,
        csum_partial: status & libc::TP_STATUS_CSUMNOTREADY != 0,
        vlan: status & libc::TP_STATUS_VLAN_VALID != 0,
    }
}

enum Cursor {
    V2 {
        frame: u32,
    },
    V3 {
        block: u32,
        /// Packets left in the current block (0 = no block held).
        left: u32,
        /// Offset of the current packet header in the mapping.
        pkt: usize,
    },
}

/// A receive ring bound to one NIC.
pub struct RxRing {
    map: Mmap,
    size: RingSize,
    cursor: Cursor,
    v3: bool,
    fd: OwnedFd,
}

impl RxRing {
    /// Open a receive ring on `ifindex` and join `fanout` if given.
    pub fn open(
        ifindex: i32,
        version: RxVersion,
        size: RingSize,
        fanout: Option<Fanout>,
    ) -> io::Result<(Self, u16)> {
        let fd = packet_socket()?;
        let v3 = matches!(version, RxVersion::V3 { .. });
        let ver = if v3 {
            libc::tpacket_versions::TPACKET_V3
        } else {
            libc::tpacket_versions::TPACKET_V2
        } as libc::c_int;
        setsockopt(&fd, libc::PACKET_VERSION, &ver, "PACKET_VERSION")?;
        let one: libc::c_int = 1;
        // Our own TX (on other sockets) must not come back into our RX ring.
        setsockopt(
            &fd,
            libc::PACKET_IGNORE_OUTGOING,
            &one,
            "PACKET_IGNORE_OUTGOING",
        )?;
        let req = libc::tpacket_req3 {
            tp_block_size: size.block_size,
            tp_block_nr: size.block_nr,
            tp_frame_size: size.frame_size,
            tp_frame_nr: size.frame_nr(),
            tp_retire_blk_tov: match version {
                RxVersion::V3 { block_timeout_ms } => block_timeout_ms,
                RxVersion::V2 => 0,
            },
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        if v3 {
            setsockopt(&fd, libc::PACKET_RX_RING, &req, "PACKET_RX_RING")?;
        } else {
            let req2 = libc::tpacket_req {
                tp_block_size: req.tp_block_size,
                tp_block_nr: req.tp_block_nr,
                tp_frame_size: req.tp_frame_size,
                tp_frame_nr: req.tp_frame_nr,
            };
            setsockopt(&fd, libc::PACKET_RX_RING, &req2, "PACKET_RX_RING")?;
        }
        let map = Mmap::ring(&fd, size.bytes(), 0, "mmap(packet ring)")?;
        bind(&fd, ifindex, libc::ETH_P_ALL as u16)?;
        let mut group = 0;
        if let Some(f) = fanout {
            group = join_fanout(&fd, f)?;
        }
        let cursor = if v3 {
            Cursor::V3 {
                block: 0,
                left: 0,
                pkt: 0,
            }
        } else {
            Cursor::V2 { frame: 0 }
        };
        Ok((
            Self {
                map,
                size,
                cursor,
                v3,
                fd,
            },
            group,
        ))
    }

    /// Hand every frame received so far back to the kernel (before the worker starts:
    /// frames that arrived before all fanout members had joined).
    pub fn discard_ready(&mut self) {
        let mut n = 0;
        while self.peek().is_some() && n < self.size.frame_nr() * 2 {
            self.advance();
            n += 1;
        }
    }

    fn frame_off(&self, frame: u32) -> usize {
        frame as usize * self.size.frame_size as usize
    }

    fn block_off(&self, block: u32) -> usize {
        block as usize * self.size.block_size as usize
    }

    /// The captured bytes of the packet whose header is at `hdr`, bounded to the slot.
    fn packet(&self, hdr: usize, mac: usize, snaplen: usize, limit: usize) -> &[u8] {
        let start = hdr + mac;
        if mac == 0 || start + snaplen > limit {
            // A header that points outside its slot: hand out nothing, the worker
            // counts an empty frame as truncated.
            return &[];
        }
        self.map.bytes(start, snaplen)
    }
}

impl RxQueue for RxRing {
    #[inline]
    fn peek(&mut self) -> Option<RxFrame<'_>> {
        match self.cursor {
            Cursor::V2 { frame } => {
                let off = self.frame_off(frame);
                let status = self.map.word(off + V2_STATUS).load(Ordering::Acquire);
                if status & libc::TP_STATUS_USER == 0 {
                    return None;
                }
                let wire_len = self.map.read_u32(off + V2_LEN);
                let snap = self.map.read_u32(off + V2_SNAPLEN) as usize;
                let mac = self.map.read_u16(off + V2_MAC) as usize;
                let limit = off + self.size.frame_size as usize;
                Some(RxFrame {
                    data: self.packet(off, mac, snap, limit),
                    meta: meta_from(status, wire_len),
                })
            }
            Cursor::V3 {
                mut block,
                mut left,
                mut pkt,
            } => {
                // Skip blocks the kernel retired empty.
                let mut spins = 0;
                while left == 0 {
                    let boff = self.block_off(block);
                    let status = self.map.word(boff + BD_STATUS).load(Ordering::Acquire);
                    if status & libc::TP_STATUS_USER == 0 {
                        self.cursor = Cursor::V3 { block, left, pkt };
                        return None;
                    }
                    left = self.map.read_u32(boff + BD_NUM_PKTS);
                    pkt = boff + self.map.read_u32(boff + BD_FIRST) as usize;
                    if left == 0 {
                        self.map.word(boff + BD_STATUS).store(0, Ordering::Release);
                        block = (block + 1) % self.size.block_nr;
                        spins += 1;
                        if spins > self.size.block_nr {
                            self.cursor = Cursor::V3 { block, left, pkt };
                            return None;
                        }
                    }
                }
                self.cursor = Cursor::V3 { block, left, pkt };
                let status = self.map.read_u32(pkt + V3_STATUS);
                let wire_len = self.map.read_u32(pkt + V3_LEN);
                let snap = self.map.read_u32(pkt + V3_SNAPLEN) as usize;
                let mac = self.map.read_u16(pkt + V3_MAC) as usize;
                let limit = self.block_off(block) + self.size.block_size as usize;
                Some(RxFrame {
                    data: self.packet(pkt, mac, snap, limit),
                    meta: meta_from(status, wire_len),
                })
            }
        }
    }

    #[inline]
    fn advance(&mut self) {
        match self.cursor {
            Cursor::V2 { frame } => {
                let off = self.frame_off(frame);
                let st = self.map.word(off + V2_STATUS);
                if st.load(Ordering::Relaxed) & libc::TP_STATUS_USER == 0 {
                    return;
                }
                st.store(libc::TP_STATUS_KERNEL, Ordering::Release);
                self.cursor = Cursor::V2 {
                    frame: (frame + 1) % self.size.frame_nr(),
                };
            }
            Cursor::V3 { block, left, pkt } => {
                if left == 0 {
                    return;
                }
                if left == 1 {
                    let boff = self.block_off(block);
                    self.map
                        .word(boff + BD_STATUS)
                        .store(libc::TP_STATUS_KERNEL, Ordering::Release);
                    self.cursor = Cursor::V3 {
                        block: (block + 1) % self.size.block_nr,
                        left: 0,
                        pkt: 0,
                    };
                } else {
                    let next = self.map.read_u32(pkt + V3_NEXT) as usize;
                    self.cursor = Cursor::V3 {
                        block,
                        left: left - 1,
                        pkt: pkt + next,
                    };
                }
            }
        }
    }

    fn poll_fd(&self) -> Option<RawFd> {
        Some(self.fd.as_raw_fd())
    }

    fn take_kernel_drops(&mut self) -> u64 {
        if self.v3 {
            let mut st = libc::tpacket_stats_v3 {
                tp_packets: 0,
                tp_drops: 0,
                tp_freeze_q_cnt: 0,
            };
            getsockopt(self.fd.as_raw_fd(), libc::PACKET_STATISTICS, &mut st)
                .map_or(0, |()| u64::from(st.tp_drops))
        } else {
            let mut st = libc::tpacket_stats {
                tp_packets: 0,
                tp_drops: 0,
            };
            getsockopt(self.fd.as_raw_fd(), libc::PACKET_STATISTICS, &mut st)
                .map_or(0, |()| u64::from(st.tp_drops))
        }
    }
}

fn join_fanout(fd: &OwnedFd, f: Fanout) -> io::Result<u16> {
    let mut kind = libc::PACKET_FANOUT_CBPF;
    if f.id == 0 {
        kind |= libc::PACKET_FANOUT_FLAG_UNIQUEID;
    }
    let arg: libc::c_int = (u32::from(f.id) | (kind << 16)) as libc::c_int;
    setsockopt(fd, libc::PACKET_FANOUT, &arg, "PACKET_FANOUT")?;
    let mut got: libc::c_int = 0;
    getsockopt(fd.as_raw_fd(), libc::PACKET_FANOUT, &mut got)
        .map_err(|e| with_context(e, "getsockopt(PACKET_FANOUT)"))?;
    let id = (got & 0xffff) as u16;
    if f.id == 0 {
        // The first member installs the program for the whole group.
        let prog = fanout::program(f.side, f.key);
        let fprog = libc::sock_fprog {
            len: prog.len() as u16,
            filter: prog.as_ptr() as *mut libc::sock_filter,
        };
        setsockopt(fd, libc::PACKET_FANOUT_DATA, &fprog, "PACKET_FANOUT_DATA")?;
    }
    Ok(id)
}

/// A transmit ring on one NIC.
pub struct TxRing {
    map: Mmap,
    size: RingSize,
    frame: u32,
    pending: usize,
    /// Frames the kernel rejected (`TP_STATUS_WRONG_FORMAT`).
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
        // Skip a frame the kernel rejects instead of stalling the ring behind it.
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
            pending: 0,
            rejected: 0,
            fd,
        })
    }

    fn frame_off(&self) -> usize {
        self.frame as usize * self.size.frame_size as usize
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
        let len = self.size.frame_size as usize - TX_DATA_OFF;
        Some(self.map.bytes_mut(off + TX_DATA_OFF, len))
    }

    #[inline]
    fn commit(&mut self, len: usize) {
        let off = self.frame_off();
        self.map.write_u32(off + V2_LEN, len as u32);
        self.map.write_u32(off + V2_SNAPLEN, len as u32);
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
        self.pending = 0;
        n
    }
}

/// `sendto(2)` with no buffer: asks the kernel to transmit what the socket's TX
/// ring holds (frames marked for sending, or published AF_XDP descriptors).
pub(super) fn kick(fd: &OwnedFd) -> io::Result<()> {
    // SAFETY: no buffer and no address are passed; the kernel reads only our ring.
    let ret = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            std::ptr::null(),
            0,
            libc::MSG_DONTWAIT,
            std::ptr::null(),
            0,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Sleep until one of `fds` is readable or `timeout_ms` passes.
pub fn poll_readable(fds: &[RawFd], timeout_ms: i32) {
    let mut pfds = [libc::pollfd {
        fd: -1,
        events: 0,
        revents: 0,
    }; 4];
    let n = fds.len().min(pfds.len());
    for (p, &fd) in pfds.iter_mut().zip(fds) {
        p.fd = fd;
        p.events = libc::POLLIN;
    }
    // SAFETY: `pfds` holds `n` initialised pollfd entries and lives across the call.
    unsafe { libc::poll(pfds.as_mut_ptr(), n as libc::nfds_t, timeout_ms) };
}
