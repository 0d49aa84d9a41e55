//! The AF_XDP room: AF_XDP sockets and the `bpf(2)` calls that load, attach and
//! feed their XDP program; one of the crate's three modules with `unsafe` code
//! (see [`super`]). The memory it shares with the kernel (rings and UMEM) is an
//! `Mmap` of the AF_PACKET room, used here only through its bounds-checked
//! methods, so every `unsafe` block of this file is a system call or the zeroing
//! of a kernel struct.
//!
//! With `ringvs run --io xdp` a worker's queues are AF_XDP sockets instead of
//! AF_PACKET rings. An XDP program on each NIC ([`XdpProgram`]) redirects IPv4 and
//! ARP frames to the socket bound to the frame's receive queue, before the kernel
//! builds an `sk_buff` for them: the kernel's IP stack never sees those frames
//! (nothing to drop, no "not a router" trap), and frames other than IPv4 and ARP
//! (IPv6, LLDP, VLAN-tagged) still reach the kernel.
//!
//! Each socket has its own UMEM (frame memory shared with the kernel), split into
//! an RX half, whose frames cycle between the fill ring and the RX ring, and a TX
//! half, whose frames cycle between a free list, the TX ring and the completion
//! ring. The socket is split into an [`XskRx`] and an [`XskTx`] that touch disjoint
//! halves and disjoint rings, so the worker can own them as it owns its AF_PACKET
//! rings.
//!
//! Every ring is single-producer/single-consumer: the producer writes descriptors
//! and then publishes its index with release ordering; the consumer reads the
//! other side's index with acquire ordering before reading descriptors.
//!
//! What AF_XDP cannot tell: whether the sender left a TCP/UDP checksum to an
//! offload (`CHECKSUM_PARTIAL`, seen on veth). [`checksum::looks_partial`] recognises such a
//! checksum from its value (see there), so the worker completes it as it does for
//! an AF_PACKET frame marked `TP_STATUS_CSUMNOTREADY`.
#![allow(unsafe_code)]

use super::ring::{Mmap, MmapPart, kick};
use super::{RxFrame, RxMeta, RxQueue, TxQueue, cvt, with_context};
use crate::wire::checksum;
use crate::wire::ethernet::{ETHERTYPE_OFFSET, HEADER_LEN, ethertype};
use std::io;
use std::mem::{offset_of, size_of, zeroed};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// Bytes per UMEM frame: one page holds two; a frame holds the kernel's 256 bytes
/// of XDP headroom plus a 1500-byte MTU frame.
pub const FRAME_SIZE: u32 = 2048;
/// The largest frame (Ethernet header included) a TX slot holds.
pub const TX_FRAME_MAX: usize = FRAME_SIZE as usize;
/// The largest frame the kernel can copy into an RX frame (after its headroom).
pub const RX_FRAME_MAX: usize = FRAME_SIZE as usize - 256;
/// Most `sendto` kicks per flush. In copy mode one kick makes the kernel send at
/// most 32 frames (`TX_BATCH_SIZE` in `net/xdp/xsk.c`), so a larger batch needs
/// several.
const KICKS_MAX: usize = 16;

// ---------------------------------------------------------------------------
// The XDP program

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_MAP_TYPE_XSKMAP: u32 = 17;
const BPF_PROG_TYPE_XDP: u32 = 6;
const BPF_XDP: u32 = 37;
const BPF_PSEUDO_MAP_FD: u8 = 1;
const BPF_FUNC_REDIRECT_MAP: i32 = 51;
const XDP_PASS: i32 = 2;
/// Entries in the socket map: receive queues a NIC may have.
const XSKMAP_ENTRIES: u32 = 256;

#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
}

#[repr(C)]
#[derive(Default)]
struct MapUpdateAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
}

/// bpf(2) with one of the attribute structs above; returns the new fd, if any.
fn bpf<T>(cmd: libc::c_long, attr: &mut T, what: &str) -> io::Result<libc::c_int> {
    // SAFETY: `attr` is a live, fully initialised repr(C) struct whose layout is a
    // prefix of the kernel's `union bpf_attr` for `cmd`; the size passed is its own,
    // and the kernel treats the bytes it knows beyond that as zero.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            (attr as *mut T).cast::<libc::c_void>(),
            size_of::<T>() as libc::c_uint,
        )
    };
    cvt(ret as libc::c_int).map_err(|e| with_context(e, what))
}

fn owned(fd: libc::c_int) -> OwnedFd {
    // SAFETY: `fd` was just returned by the kernel to us and is owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// One eBPF instruction (`struct bpf_insn`).
const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> [u8; 8] {
    let regs = if cfg!(target_endian = "little") {
        dst | (src << 4)
    } else {
        (dst << 4) | src
    };
    let o = off.to_ne_bytes();
    let i = imm.to_ne_bytes();
    [code, regs, o[0], o[1], i[0], i[1], i[2], i[3]]
}

/// The redirect program: IPv4 and ARP frames go to the socket in `map` at the
/// frame's receive queue (or to the kernel if there is none); everything else goes
/// to the kernel.
fn program(map_fd: i32) -> [[u8; 8]; 16] {
    // EtherTypes as a 16-bit load from the frame reads them (network order).
    let ipv4 = i32::from(ethertype::IPV4.to_be());
    let arp = i32::from(ethertype::ARP.to_be());
    let (eth_len, ty_at) = (HEADER_LEN as i32, ETHERTYPE_OFFSET as i16);
    [
        insn(0x61, 2, 1, 0, 0),                      // 0: r2 = ctx->data
        insn(0x61, 3, 1, 4, 0),                      // 1: r3 = ctx->data_end
        insn(0xbf, 4, 2, 0, 0),                      // 2: r4 = r2
        insn(0x07, 4, 0, 0, eth_len),                // 3: r4 += Ethernet header
        insn(0x2d, 4, 3, 9, 0),                      // 4: if r4 > r3 goto pass
        insn(0x69, 4, 2, ty_at, 0),                  // 5: r4 = *(u16 *)(r2 + ty_at)
        insn(0x15, 4, 0, 1, ipv4),                   // 6: if r4 == IPv4 goto redirect
        insn(0x55, 4, 0, 6, arp),                    // 7: if r4 != ARP goto pass
        insn(0x61, 2, 1, 16, 0),                     // 8: redirect: r2 = ctx->rx_queue_index
        insn(0x18, 1, BPF_PSEUDO_MAP_FD, 0, map_fd), // 9: r1 = map (ld_imm64,
        insn(0x00, 0, 0, 0, 0),                      // 10:   second half)
        insn(0xb7, 3, 0, 0, XDP_PASS),               // 11: r3 = XDP_PASS (if no socket)
        insn(0x85, 0, 0, 0, BPF_FUNC_REDIRECT_MAP),  // 12: call bpf_redirect_map
        insn(0x95, 0, 0, 0, 0),                      // 13: exit
        insn(0xb7, 0, 0, 0, XDP_PASS),               // 14: pass: r0 = XDP_PASS
        insn(0x95, 0, 0, 0, 0),                      // 15: exit
    ]
}

/// Where the XDP program runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XdpMode {
    /// Native (driver) mode where the driver has it, generic otherwise.
    Auto,
    /// In the driver, before an `sk_buff` exists (fails if the driver lacks it).
    Native,
    /// In the core receive path, after the `sk_buff` is built (any NIC; on the
    /// CPU that RPS picks).
    Generic,
}

impl XdpMode {
    fn flags(self) -> u32 {
        match self {
            Self::Auto => 0,
            Self::Native => 1 << 2,  // XDP_FLAGS_DRV_MODE
            Self::Generic => 1 << 1, // XDP_FLAGS_SKB_MODE
        }
    }
}

/// The XDP program attached to one NIC, with its socket map. Dropping it detaches
/// the program (it is held by a BPF link, not pinned): a director that dies leaves
/// no program behind.
pub struct XdpProgram {
    map: OwnedFd,
    _prog: OwnedFd,
    _link: OwnedFd,
}

impl XdpProgram {
    /// Load the redirect program and attach it to `ifindex`.
    pub fn attach(ifindex: u32, mode: XdpMode) -> io::Result<Self> {
        let mut name = [0u8; 16];
        name[..6].copy_from_slice(b"ringvs");
        let mut m = MapCreateAttr {
            map_type: BPF_MAP_TYPE_XSKMAP,
            key_size: 4,
            value_size: 4,
            max_entries: XSKMAP_ENTRIES,
            map_name: name,
            ..Default::default()
        };
        let map = owned(bpf(BPF_MAP_CREATE, &mut m, "bpf(BPF_MAP_CREATE xskmap)")?);
        let insns = program(map.as_raw_fd());
        let license = c"Dual MIT/GPL";
        let mut log = vec![0u8; 1 << 14];
        let mut p = ProgLoadAttr {
            prog_type: BPF_PROG_TYPE_XDP,
            insn_cnt: insns.len() as u32,
            insns: insns.as_ptr() as u64,
            license: license.as_ptr() as u64,
            log_level: 1,
            log_size: log.len() as u32,
            log_buf: log.as_mut_ptr() as u64,
            prog_name: name,
            expected_attach_type: BPF_XDP,
            ..Default::default()
        };
        let prog = match bpf(BPF_PROG_LOAD, &mut p, "bpf(BPF_PROG_LOAD xdp)") {
            Ok(fd) => owned(fd),
            Err(e) => {
                let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
                let text = String::from_utf8_lossy(&log[..end]);
                return Err(io::Error::new(
                    e.kind(),
                    format!("{e}; verifier: {}", text.trim()),
                ));
            }
        };
        let mut l = LinkCreateAttr {
            prog_fd: prog.as_raw_fd() as u32,
            target_ifindex: ifindex,
            attach_type: BPF_XDP,
            flags: mode.flags(),
        };
        let link = bpf(BPF_LINK_CREATE, &mut l, "attaching the XDP program").map_err(|e| {
            if e.raw_os_error() == Some(libc::EBUSY) {
                io::Error::new(
                    e.kind(),
                    format!("{e} (another XDP program is attached to this NIC)"),
                )
            } else {
                e
            }
        })?;
        Ok(Self {
            map,
            _prog: prog,
            _link: owned(link),
        })
    }

    /// Send frames received on `queue` to `sock`.
    pub fn register(&self, queue: u32, sock: &XskRx) -> io::Result<()> {
        let key = queue;
        let value = sock.fd.as_raw_fd() as u32;
        let mut u = MapUpdateAttr {
            map_fd: self.map.as_raw_fd() as u32,
            key: &key as *const u32 as u64,
            value: &value as *const u32 as u64,
            ..Default::default()
        };
        bpf(
            BPF_MAP_UPDATE_ELEM,
            &mut u,
            "bpf(BPF_MAP_UPDATE_ELEM xskmap)",
        )
        .map(drop)
    }
}

// ---------------------------------------------------------------------------
// Memory shared with the kernel

/// A descriptor of one of the rings: a `u64` frame address (fill, completion) or
/// an `xdp_desc` (RX, TX), read and written field by field.
trait Desc: Copy {
    fn load(map: &Mmap, off: usize) -> Self;
    fn store(self, map: &mut Mmap, off: usize);
}

impl Desc for u64 {
    fn load(map: &Mmap, off: usize) -> Self {
        map.read_u64(off)
    }

    fn store(self, map: &mut Mmap, off: usize) {
        map.write_u64(off, self);
    }
}

impl Desc for libc::xdp_desc {
    fn load(map: &Mmap, off: usize) -> Self {
        libc::xdp_desc {
            addr: map.read_u64(off + offset_of!(libc::xdp_desc, addr)),
            len: map.read_u32(off + offset_of!(libc::xdp_desc, len)),
            options: map.read_u32(off + offset_of!(libc::xdp_desc, options)),
        }
    }

    fn store(self, map: &mut Mmap, off: usize) {
        map.write_u64(off + offset_of!(libc::xdp_desc, addr), self.addr);
        map.write_u32(off + offset_of!(libc::xdp_desc, len), self.len);
        map.write_u32(off + offset_of!(libc::xdp_desc, options), self.options);
    }
}

/// One mapped ring: producer and consumer indices, flags, and `N` descriptors of
/// type `D` (`u64` frame addresses for fill/completion, `xdp_desc` for RX/TX).
struct Ring<D> {
    map: Mmap,
    producer: usize,
    consumer: usize,
    flags: usize,
    desc: usize,
    mask: u32,
    _d: std::marker::PhantomData<D>,
}

impl<D: Desc> Ring<D> {
    fn map(
        fd: &OwnedFd,
        off: &libc::xdp_ring_offset,
        entries: u32,
        pgoff: u64,
        what: &str,
    ) -> io::Result<Self> {
        let len = off.desc as usize + entries as usize * size_of::<D>();
        let map = Mmap::ring(fd, len, pgoff, what)?;
        let r = Self {
            map,
            producer: off.producer as usize,
            consumer: off.consumer as usize,
            flags: off.flags as usize,
            desc: off.desc as usize,
            mask: entries - 1,
            _d: std::marker::PhantomData,
        };
        // Checked once here so that the accessors below never panic.
        for (o, n) in [(r.producer, 4), (r.consumer, 4), (r.flags, 4)] {
            if o + n > len || !o.is_multiple_of(4) {
                return Err(io::Error::other(format!("{what}: bad ring offsets")));
            }
        }
        Ok(r)
    }

    fn producer(&self) -> &AtomicU32 {
        self.map.word(self.producer)
    }

    fn consumer(&self) -> &AtomicU32 {
        self.map.word(self.consumer)
    }

    fn needs_wakeup(&self) -> bool {
        self.map.word(self.flags).load(Ordering::Relaxed) & libc::XDP_RING_NEED_WAKEUP != 0
    }

    /// Offset of descriptor slot `idx` (taken modulo the ring size): inside the
    /// mapping, whose length `map` computed from the number of entries.
    fn slot(&self, idx: u32) -> usize {
        self.desc + (idx & self.mask) as usize * size_of::<D>()
    }

    /// The descriptor in slot `idx`; the caller owns it: it lies between the
    /// consumer and producer indices it has loaded.
    fn read(&self, idx: u32) -> D {
        D::load(&self.map, self.slot(idx))
    }

    /// Fill slot `idx`; it is ours until we publish the producer index past it.
    fn write(&mut self, idx: u32, d: D) {
        let off = self.slot(idx);
        d.store(&mut self.map, off);
    }
}

/// Sizes of one socket's rings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XskSize {
    /// Entries in each of the four rings (a power of two); the UMEM holds twice as
    /// many frames (an RX half and a TX half).
    pub entries: u32,
}

impl XskSize {
    pub fn new(entries: u32) -> Self {
        Self {
            entries: entries.next_power_of_two().clamp(64, 1 << 16),
        }
    }
}

fn setsockopt<T>(fd: &OwnedFd, opt: libc::c_int, val: &T, what: &str) -> io::Result<()> {
    // SAFETY: `val` points to a live `T` of `size_of::<T>()` bytes for the call.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_XDP,
            opt,
            (val as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    })
    .map(drop)
    .map_err(|e| with_context(e, what))
}

fn getsockopt<T>(fd: RawFd, opt: libc::c_int, val: &mut T) -> io::Result<libc::socklen_t> {
    let mut len = size_of::<T>() as libc::socklen_t;
    // SAFETY: `val` is a valid, writable `T`; `len` tells the kernel its size.
    cvt(unsafe { libc::getsockopt(fd, libc::SOL_XDP, opt, (val as *mut T).cast(), &mut len) })?;
    Ok(len)
}

/// Open an AF_XDP socket on `ifindex`'s receive queue `queue`, split into its
/// receive and transmit halves. Register the RX half with the NIC's
/// [`XdpProgram`] to start receiving.
pub fn open(ifindex: u32, queue: u32, size: XskSize) -> io::Result<(XskRx, XskTx)> {
    let n = size.entries;
    // SAFETY: plain socket(2) call.
    let fd = owned(
        cvt(unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) })
            .map_err(|e| with_context(e, "socket(AF_XDP)"))?,
    );
    let half = n as usize * FRAME_SIZE as usize;
    let umem = Mmap::anonymous(2 * half, "mmap(UMEM)")?;
    let reg = libc::xdp_umem_reg {
        addr: umem.addr(),
        len: umem.len() as u64,
        chunk_size: FRAME_SIZE,
        headroom: 0,
        flags: 0,
        tx_metadata_len: 0,
    };
    setsockopt(&fd, libc::XDP_UMEM_REG, &reg, "XDP_UMEM_REG")?;
    for (opt, what) in [
        (libc::XDP_UMEM_FILL_RING, "XDP_UMEM_FILL_RING"),
        (libc::XDP_UMEM_COMPLETION_RING, "XDP_UMEM_COMPLETION_RING"),
        (libc::XDP_RX_RING, "XDP_RX_RING"),
        (libc::XDP_TX_RING, "XDP_TX_RING"),
    ] {
        setsockopt(&fd, opt, &n, what)?;
    }
    // SAFETY: xdp_mmap_offsets is plain old data; all-zero is a valid value.
    let mut off: libc::xdp_mmap_offsets = unsafe { zeroed() };
    let len = getsockopt(fd.as_raw_fd(), libc::XDP_MMAP_OFFSETS, &mut off)
        .map_err(|e| with_context(e, "XDP_MMAP_OFFSETS"))?;
    if len as usize != size_of::<libc::xdp_mmap_offsets>() {
        return Err(io::Error::other(
            "kernel too old for AF_XDP ring flags (needs Linux 5.4 or later)",
        ));
    }
    let rx = Ring::<libc::xdp_desc>::map(
        &fd,
        &off.rx,
        n,
        libc::XDP_PGOFF_RX_RING as u64,
        "mmap(XDP RX ring)",
    )?;
    let tx = Ring::<libc::xdp_desc>::map(
        &fd,
        &off.tx,
        n,
        libc::XDP_PGOFF_TX_RING as u64,
        "mmap(XDP TX ring)",
    )?;
    let mut fill = Ring::<u64>::map(
        &fd,
        &off.fr,
        n,
        libc::XDP_UMEM_PGOFF_FILL_RING,
        "mmap(XDP fill ring)",
    )?;
    let comp = Ring::<u64>::map(
        &fd,
        &off.cr,
        n,
        libc::XDP_UMEM_PGOFF_COMPLETION_RING,
        "mmap(XDP completion ring)",
    )?;
    // The RX half: every frame starts in the fill ring.
    for i in 0..n {
        fill.write(i, u64::from(i) * u64::from(FRAME_SIZE));
    }
    fill.producer().store(n, Ordering::Release);

    // SAFETY: sockaddr_xdp is plain old data; all-zero is a valid value.
    let mut sa: libc::sockaddr_xdp = unsafe { zeroed() };
    sa.sxdp_family = libc::AF_XDP as u16;
    // Zero-copy where the driver can, copy mode otherwise.
    sa.sxdp_flags = libc::XDP_USE_NEED_WAKEUP;
    sa.sxdp_ifindex = ifindex;
    sa.sxdp_queue_id = queue;
    // SAFETY: `sa` is a valid sockaddr_xdp and the length given is its size.
    cvt(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_xdp).cast(),
            size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
        )
    })
    .map_err(|e| with_context(e, "bind(AF_XDP)"))?;

    let fd = Arc::new(fd);
    let (rx_half, tx_half) = umem.split(half);
    let tx_base = u64::from(n) * u64::from(FRAME_SIZE);
    let free = (0..u64::from(n))
        .rev()
        .map(|i| tx_base + i * u64::from(FRAME_SIZE))
        .collect();
    Ok((
        XskRx {
            fd: Arc::clone(&fd),
            umem: rx_half,
            rx,
            fill,
            cons: 0,
            prod: 0,
            fill_prod: n,
            dropped: 0,
        },
        XskTx {
            fd,
            umem: tx_half,
            tx,
            comp,
            free,
            prod: 0,
            published: 0,
            comp_cons: 0,
        },
    ))
}

/// The receive half of an AF_XDP socket.
pub struct XskRx {
    fd: Arc<OwnedFd>,
    /// The RX half of the UMEM.
    umem: MmapPart,
    rx: Ring<libc::xdp_desc>,
    fill: Ring<u64>,
    /// Our copy of the RX consumer index (published on every `advance`).
    cons: u32,
    /// The RX producer index as last loaded.
    prod: u32,
    fill_prod: u32,
    dropped: u64,
}

impl XskRx {
    /// The bytes of a received frame. The frame is ours: the kernel wrote it
    /// before publishing the descriptor and does not reuse it until we put its
    /// address back in the fill ring in `advance`, which needs `&mut self` and
    /// so ends this borrow.
    fn frame(&self, d: &libc::xdp_desc) -> &[u8] {
        // Frames of the RX half only, as the kernel hands them out; anything else
        // reads as empty (a counted drop in the worker).
        self.umem
            .get(d.addr as usize, d.len as usize)
            .unwrap_or(&[])
    }
}

impl RxQueue for XskRx {
    #[inline]
    fn peek(&mut self) -> Option<RxFrame<'_>> {
        if self.cons == self.prod {
            self.prod = self.rx.producer().load(Ordering::Acquire);
            if self.cons == self.prod {
                return None;
            }
        }
        let d = self.rx.read(self.cons);
        let data = self.frame(&d);
        Some(RxFrame {
            data,
            meta: RxMeta {
                wire_len: d.len,
                csum_partial: checksum::looks_partial(data),
                vlan: false,
            },
        })
    }

    #[inline]
    fn advance(&mut self) {
        if self.cons == self.prod {
            return;
        }
        let d = self.rx.read(self.cons);
        // The fill ring has room: it has as many slots as the RX half has frames.
        self.fill
            .write(self.fill_prod, d.addr & !u64::from(FRAME_SIZE - 1));
        self.fill_prod = self.fill_prod.wrapping_add(1);
        self.fill
            .producer()
            .store(self.fill_prod, Ordering::Release);
        self.cons = self.cons.wrapping_add(1);
        self.rx.consumer().store(self.cons, Ordering::Release);
    }

    fn poll_fd(&self) -> Option<RawFd> {
        Some(self.fd.as_raw_fd())
    }

    fn take_kernel_drops(&mut self) -> u64 {
        // SAFETY: xdp_statistics is plain old data; all-zero is a valid value.
        let mut st: libc::xdp_statistics = unsafe { zeroed() };
        if getsockopt(self.fd.as_raw_fd(), libc::XDP_STATISTICS, &mut st).is_err() {
            return 0;
        }
        let total = st.rx_dropped + st.rx_ring_full;
        let new = total.saturating_sub(self.dropped);
        self.dropped = total;
        new
    }
}

/// The transmit half of an AF_XDP socket.
pub struct XskTx {
    fd: Arc<OwnedFd>,
    /// The TX half of the UMEM.
    umem: MmapPart,
    tx: Ring<libc::xdp_desc>,
    comp: Ring<u64>,
    /// TX-half frames that are ours to fill (top = next slot).
    free: Vec<u64>,
    /// Next TX descriptor to write.
    prod: u32,
    /// TX producer index as last published to the kernel.
    published: u32,
    comp_cons: u32,
}

impl XskTx {
    /// Take back the frames the kernel has sent.
    fn reclaim(&mut self) {
        let prod = self.comp.producer().load(Ordering::Acquire);
        if prod == self.comp_cons {
            return;
        }
        while self.comp_cons != prod {
            let addr = self.comp.read(self.comp_cons);
            // Never more than the TX half's frames are outstanding, so this never
            // grows the vector past its capacity.
            self.free.push(addr & !u64::from(FRAME_SIZE - 1));
            self.comp_cons = self.comp_cons.wrapping_add(1);
        }
        self.comp
            .consumer()
            .store(self.comp_cons, Ordering::Release);
    }

    /// Frames handed to the kernel and not yet sent.
    fn unsent(&self) -> bool {
        self.tx.consumer().load(Ordering::Acquire) != self.published
    }
}

impl TxQueue for XskTx {
    #[inline]
    fn slot(&mut self) -> Option<&mut [u8]> {
        if self.free.is_empty() {
            self.reclaim();
        }
        let &addr = self.free.last()?;
        // A whole frame of the TX half that is on our free list: the kernel has
        // completed it or never had it, and only this `XskTx` touches the TX half.
        self.umem.get_mut(addr as usize, FRAME_SIZE as usize)
    }

    #[inline]
    fn commit(&mut self, len: usize) {
        let Some(addr) = self.free.pop() else {
            return;
        };
        self.tx.write(
            self.prod,
            libc::xdp_desc {
                addr,
                len: len.min(FRAME_SIZE as usize) as u32,
                options: 0,
            },
        );
        self.prod = self.prod.wrapping_add(1);
    }

    fn flush(&mut self) -> usize {
        let n = self.prod.wrapping_sub(self.published) as usize;
        if n > 0 {
            self.published = self.prod;
            self.tx.producer().store(self.prod, Ordering::Release);
        }
        // Copy mode sends only from sendto(2), at most a few dozen frames per
        // call; zero-copy drivers ask for a kick through the ring flags.
        let mut kicks = 0;
        while kicks < KICKS_MAX && (self.tx.needs_wakeup() || n > 0) && self.unsent() {
            kicks += 1;
            // EAGAIN: a batch went out and more remain. Anything else (ENOBUFS,
            // EBUSY, ENETDOWN): try again at the next flush.
            if let Err(e) = kick(&self.fd)
                && e.raw_os_error() != Some(libc::EAGAIN)
            {
                break;
            }
        }
        self.reclaim();
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_layout() {
        let p = program(7);
        // Jumps land where the comments say.
        let target =
            |i: usize| (i as i64 + 1 + i64::from(i16::from_ne_bytes([p[i][2], p[i][3]]))) as usize;
        assert_eq!(target(4), 14);
        assert_eq!(target(6), 8);
        assert_eq!(target(7), 14);
        assert_eq!(i32::from_ne_bytes([p[9][4], p[9][5], p[9][6], p[9][7]]), 7);
        assert_eq!(p[15][0], 0x95);
    }
}
