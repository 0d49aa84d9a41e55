//! The AF_XDP socket: its UMEM, its four rings, and its receive and transmit
//! halves.

use super::{FRAME_SIZE, owned};
use crate::io::ring::{Mmap, MmapPart, kick};
use crate::io::{RxFrame, RxMeta, RxQueue, TxQueue, cvt, with_context};
use crate::wire::checksum;
use std::io;
use std::mem::{offset_of, size_of, zeroed};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// Most `sendto` kicks per flush. In copy mode one kick makes the kernel send at
/// most 32 frames (`TX_BATCH_SIZE` in `net/xdp/xsk.c`), so a larger batch needs
/// several.
const KICKS_MAX: usize = 16;

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
    setsockopt_at(fd, libc::SOL_XDP, opt, val, what)
}

fn setsockopt_at<T>(
    fd: &OwnedFd,
    level: libc::c_int,
    opt: libc::c_int,
    val: &T,
    what: &str,
) -> io::Result<()> {
    // SAFETY: `val` points to a live `T` of `size_of::<T>()` bytes for the call.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
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

/// `SO_BUSY_POLL` (`asm-generic/socket.h`; libc may lack the three).
const SO_BUSY_POLL: libc::c_int = 46;
/// `SO_PREFER_BUSY_POLL` (Linux 5.11).
const SO_PREFER_BUSY_POLL: libc::c_int = 69;
/// `SO_BUSY_POLL_BUDGET` (Linux 5.11).
const SO_BUSY_POLL_BUDGET: libc::c_int = 70;
/// Microseconds a busy-polling syscall spins on the NIC queue at most.
pub const BUSY_POLL_USECS: libc::c_int = 20;

/// How to open a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XskOptions {
    pub size: XskSize,
    /// Preferred busy polling (`--busy-poll`) with this budget (frames per
    /// NAPI poll): the worker drives the NIC queue from its own syscalls.
    pub busy_poll: Option<u16>,
}

/// An open socket: its two halves, and what the kernel granted.
pub struct Xsk {
    pub rx: XskRx,
    pub tx: XskTx,
    /// Bound in zero-copy mode (else copy mode: the driver refused zero-copy).
    pub zero_copy: bool,
    /// Why preferred busy polling could not be set, if it was asked for and
    /// the kernel refused (the socket works without it).
    pub busy_poll_refused: Option<io::Error>,
}

/// Ask for the kernel's preferred busy polling on `fd` (see the kernel's
/// `Documentation/networking/napi.rst`): prefer busy polling over interrupts,
/// spin `BUSY_POLL_USECS` per call, `budget` frames per poll.
fn busy_poll(fd: &OwnedFd, budget: u16) -> io::Result<()> {
    let one: libc::c_int = 1;
    setsockopt_at(
        fd,
        libc::SOL_SOCKET,
        SO_PREFER_BUSY_POLL,
        &one,
        "SO_PREFER_BUSY_POLL",
    )?;
    setsockopt_at(
        fd,
        libc::SOL_SOCKET,
        SO_BUSY_POLL,
        &BUSY_POLL_USECS,
        "SO_BUSY_POLL",
    )?;
    let budget = libc::c_int::from(budget);
    setsockopt_at(
        fd,
        libc::SOL_SOCKET,
        SO_BUSY_POLL_BUDGET,
        &budget,
        "SO_BUSY_POLL_BUDGET",
    )
}

/// Bind `fd` to `queue` of `ifindex` with `flags` (plus need_wakeup).
fn bind(fd: &OwnedFd, ifindex: u32, queue: u32, flags: u16) -> io::Result<()> {
    // SAFETY: sockaddr_xdp is plain old data; all-zero is a valid value.
    let mut sa: libc::sockaddr_xdp = unsafe { zeroed() };
    sa.sxdp_family = libc::AF_XDP as u16;
    sa.sxdp_flags = libc::XDP_USE_NEED_WAKEUP | flags;
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
    .map(drop)
}

/// Open an AF_XDP socket on `ifindex`'s receive queue `queue`, split into its
/// receive and transmit halves: zero-copy if the driver can, copy mode
/// otherwise ([`Xsk::zero_copy`] says which). Register the RX half with the
/// NIC's [`XdpProgram`](super::XdpProgram) to start receiving.
pub fn open(ifindex: u32, queue: u32, opts: XskOptions) -> io::Result<Xsk> {
    let n = opts.size.entries;
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

    // Zero-copy where the driver has it (the frames are DMAed into the UMEM),
    // copy mode otherwise (veth, generic XDP).
    let zero_copy = bind(&fd, ifindex, queue, libc::XDP_ZEROCOPY).is_ok();
    if !zero_copy {
        bind(&fd, ifindex, queue, libc::XDP_COPY).map_err(|e| with_context(e, "bind(AF_XDP)"))?;
    }
    let busy_poll_refused = opts.busy_poll.and_then(|b| busy_poll(&fd, b).err());

    let fd = Arc::new(fd);
    let (rx_half, tx_half) = umem.split(half);
    let tx_base = u64::from(n) * u64::from(FRAME_SIZE);
    let free = (0..u64::from(n))
        .rev()
        .map(|i| tx_base + i * u64::from(FRAME_SIZE))
        .collect();
    Ok(Xsk {
        rx: XskRx {
            fd: Arc::clone(&fd),
            umem: rx_half,
            rx,
            fill,
            cons: 0,
            prod: 0,
            fill_prod: n,
            dropped: 0,
            busy: opts.busy_poll.is_some(),
        },
        tx: XskTx {
            fd,
            umem: tx_half,
            tx,
            comp,
            free,
            prod: 0,
            published: 0,
            comp_cons: 0,
        },
        zero_copy,
        busy_poll_refused,
    })
}

/// The receive half of an AF_XDP socket.
pub struct XskRx {
    pub(super) fd: Arc<OwnedFd>,
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
    /// Preferred busy polling: an empty RX ring is refilled from our syscall.
    busy: bool,
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
                // Nothing ready: a syscall only if the driver asked to be woken
                // (need_wakeup on the fill ring, zero-copy drivers) or busy
                // polling drives the queue; never per frame.
                if self.busy || self.fill.needs_wakeup() {
                    wake(&self.fd);
                }
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
                csum_valid: false,
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
        // Kick only when the kernel asks through the ring's need_wakeup flag:
        // copy mode keeps it set (it sends only from sendto(2), at most a few
        // dozen frames per call), zero-copy drivers set it when their TX stops.
        let mut kicks = 0;
        while kicks < KICKS_MAX && self.tx.needs_wakeup() && self.unsent() {
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
