//! The AF_XDP socket: its UMEM, its four rings, and its receive and transmit
//! halves.

pub use super::queue::{XskRx, XskTx};
use super::umem::Pool;
use super::{FRAME_SIZE, owned};
use crate::io::ring::Mmap;
use crate::io::{cvt, sockopt, with_context};
use std::io;
use std::mem::{offset_of, size_of, zeroed};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// Most `sendto` kicks per flush. In copy mode one kick makes the kernel send at
/// most 32 frames (`TX_BATCH_SIZE` in `net/xdp/xsk.c`), so a larger batch needs
/// several.
pub(super) const KICKS_MAX: usize = 16;

/// A descriptor of one of the rings: a `u64` frame address (fill, completion) or
/// an `xdp_desc` (RX, TX), read and written field by field.
///
/// # Safety (of `load` and `store`)
/// The descriptor slot at `off` is the caller's: between the consumer and
/// producer indices it loaded (`load`), or past the producer index it has
/// published and within the ring's free room (`store`), as for
/// [`Mmap::read_u32`] and [`Mmap::write_u32`].
pub(super) trait Desc: Copy {
    unsafe fn load(map: &Mmap, off: usize) -> Self;
    unsafe fn store(self, map: &mut Mmap, off: usize);
}

impl Desc for u64 {
    unsafe fn load(map: &Mmap, off: usize) -> Self {
        // SAFETY: the slot is the caller's (the trait's contract).
        unsafe { map.read_u64(off) }
    }

    unsafe fn store(self, map: &mut Mmap, off: usize) {
        // SAFETY: the slot is the caller's (the trait's contract).
        unsafe { map.write_u64(off, self) }
    }
}

impl Desc for libc::xdp_desc {
    unsafe fn load(map: &Mmap, off: usize) -> Self {
        // SAFETY: the slot is the caller's (the trait's contract).
        unsafe {
            libc::xdp_desc {
                addr: map.read_u64(off + offset_of!(libc::xdp_desc, addr)),
                len: map.read_u32(off + offset_of!(libc::xdp_desc, len)),
                options: map.read_u32(off + offset_of!(libc::xdp_desc, options)),
            }
        }
    }

    unsafe fn store(self, map: &mut Mmap, off: usize) {
        // SAFETY: the slot is the caller's (the trait's contract).
        unsafe {
            map.write_u64(off + offset_of!(libc::xdp_desc, addr), self.addr);
            map.write_u32(off + offset_of!(libc::xdp_desc, len), self.len);
            map.write_u32(off + offset_of!(libc::xdp_desc, options), self.options);
        }
    }
}

/// One mapped ring: producer and consumer indices, flags, and `N` descriptors of
/// type `D` (`u64` frame addresses for fill/completion, `xdp_desc` for RX/TX).
pub(super) struct Ring<D> {
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

    pub(super) fn producer(&self) -> &AtomicU32 {
        self.map.word(self.producer)
    }

    pub(super) fn consumer(&self) -> &AtomicU32 {
        self.map.word(self.consumer)
    }

    pub(super) fn needs_wakeup(&self) -> bool {
        self.map.word(self.flags).load(Ordering::Relaxed) & libc::XDP_RING_NEED_WAKEUP != 0
    }

    /// Offset of descriptor slot `idx` (taken modulo the ring size): inside the
    /// mapping, whose length `map` computed from the number of entries.
    fn slot(&self, idx: u32) -> usize {
        self.desc + (idx & self.mask) as usize * size_of::<D>()
    }

    /// The descriptor in slot `idx`; the caller owns it: it lies between the
    /// consumer and producer indices it has loaded.
    pub(super) fn read(&self, idx: u32) -> D {
        // SAFETY: the room's queues read only the slots their indices hand
        // them (this method's contract, kept within `xdp`).
        unsafe { D::load(&self.map, self.slot(idx)) }
    }

    /// Fill slot `idx`; it is ours until we publish the producer index past it.
    pub(super) fn write(&mut self, idx: u32, d: D) {
        let off = self.slot(idx);
        // SAFETY: the room's queues write only the slots their indices hand
        // them (this method's contract, kept within `xdp`).
        unsafe { d.store(&mut self.map, off) }
    }
}

/// Sizes of one socket's rings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XskSize {
    /// Entries in each of the four rings (a power of two); a socket brings
    /// twice as many frames to its UMEM (as many as its fill ring holds, and
    /// as many again for the pool its TX queue sends from).
    pub entries: u32,
}

impl XskSize {
    /// The fewest entries per ring (`--ring-blocks 1` and `2` get these).
    pub const MIN_ENTRIES: u32 = 64;
    /// The most entries per ring.
    pub const MAX_ENTRIES: u32 = 1 << 16;

    pub fn new(entries: u32) -> Self {
        Self {
            entries: entries
                .next_power_of_two()
                .clamp(Self::MIN_ENTRIES, Self::MAX_ENTRIES),
        }
    }
}

/// # Safety
/// As for [`sockopt::set`] (`XDP_UMEM_REG` is the option that keeps an
/// address).
unsafe fn setsockopt<T>(fd: &OwnedFd, opt: libc::c_int, val: &T, what: &str) -> io::Result<()> {
    // SAFETY: the caller's promise.
    unsafe { setsockopt_at(fd, libc::SOL_XDP, opt, val, what) }
}

/// # Safety
/// As for [`sockopt::set`].
unsafe fn setsockopt_at<T>(
    fd: &OwnedFd,
    level: libc::c_int,
    opt: libc::c_int,
    val: &T,
    what: &str,
) -> io::Result<()> {
    // SAFETY: the caller's promise.
    unsafe { sockopt::set(fd.as_raw_fd(), level, opt, val) }.map_err(|e| with_context(e, what))
}

pub(super) fn getsockopt<T: sockopt::Pod>(
    fd: RawFd,
    opt: libc::c_int,
    val: &mut T,
) -> io::Result<libc::socklen_t> {
    getsockopt_at(fd, libc::SOL_XDP, opt, val)
}

/// [`getsockopt`] at any `level`.
fn getsockopt_at<T: sockopt::Pod>(
    fd: RawFd,
    level: libc::c_int,
    opt: libc::c_int,
    val: &mut T,
) -> io::Result<libc::socklen_t> {
    sockopt::get(fd, level, opt, val)
}

/// `SO_INCOMING_NAPI_ID` (`asm-generic/socket.h`): the id of the NAPI
/// instance the socket's last frame came through, 0 for none.
const SO_INCOMING_NAPI_ID: libc::c_int = 56;

/// The NAPI id the kernel gave socket `fd`, which busy polling drives: 0 until
/// a frame arrives through a NAPI instance with an id, and for good on a
/// driver whose receive queues register none (veth's XDP queues here).
pub(super) fn napi_id(fd: RawFd) -> io::Result<u32> {
    let mut id: libc::c_uint = 0;
    getsockopt_at(fd, libc::SOL_SOCKET, SO_INCOMING_NAPI_ID, &mut id)?;
    Ok(id)
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
    /// Each worker's sockets on a UMEM of their own (`--umem per-worker`),
    /// not one for all workers ([`open_workers`]).
    pub per_worker_umem: bool,
    /// Bind in copy mode only, never try zero-copy: the XDP program runs in
    /// generic mode (`--xdp-mode generic`; see [`bind_modes`]).
    pub copy_only: bool,
}

/// An open socket: its two queues, and what the kernel granted.
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
    let budget = libc::c_int::from(budget);
    let sol = libc::SOL_SOCKET;
    // SAFETY: int options, copied in during the call (`sk_setsockopt`).
    unsafe {
        setsockopt_at(fd, sol, SO_PREFER_BUSY_POLL, &one, "SO_PREFER_BUSY_POLL")?;
        setsockopt_at(fd, sol, SO_BUSY_POLL, &BUSY_POLL_USECS, "SO_BUSY_POLL")?;
        setsockopt_at(fd, sol, SO_BUSY_POLL_BUDGET, &budget, "SO_BUSY_POLL_BUDGET")
    }
}

/// Bind `fd` to `queue` of `ifindex` with `flags` (plus need_wakeup).
fn bind(fd: &OwnedFd, ifindex: u32, queue: u32, flags: u16) -> io::Result<()> {
    bind_to(fd, ifindex, queue, libc::XDP_USE_NEED_WAKEUP | flags, 0)
}

/// How long a bind refused with EBUSY is retried: the queue's last socket is
/// still being released, as after an attempt this process gave up on (the
/// kernel frees a socket's buffer pool, and the queue with it, from a work
/// item: `xp_put_pool`, `xp_release_deferred` in `net/xdp/xsk_buff_pool.c`).
/// A queue another program holds stays busy, and the error is reported.
const BIND_BUSY_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// `bind(2)` with these `sockaddr_xdp` fields; EBUSY retried for up to
/// [`BIND_BUSY_WAIT`].
fn bind_to(fd: &OwnedFd, ifindex: u32, queue: u32, flags: u16, shared: u32) -> io::Result<()> {
    let start = std::time::Instant::now();
    loop {
        match bind_once(fd, ifindex, queue, flags, shared) {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && start.elapsed() < BIND_BUSY_WAIT => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            r => return r,
        }
    }
}

fn bind_once(fd: &OwnedFd, ifindex: u32, queue: u32, flags: u16, shared: u32) -> io::Result<()> {
    // SAFETY: sockaddr_xdp is plain old data; all-zero is a valid value.
    let mut sa: libc::sockaddr_xdp = unsafe { zeroed() };
    sa.sxdp_family = libc::AF_XDP as u16;
    sa.sxdp_flags = flags;
    sa.sxdp_ifindex = ifindex;
    sa.sxdp_queue_id = queue;
    sa.sxdp_shared_umem_fd = shared;
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

/// The bind modes to try in order: zero-copy where the driver can (the
/// frames are DMAed into the UMEM), copy mode otherwise (veth); copy mode
/// only with `copy_only` (generic XDP). A zero-copy bind succeeds on a NIC
/// whose driver has zero-copy even when the program runs in generic mode
/// (`xp_assign_dev`, `net/xdp/xsk_buff_pool.c`, checks the NIC, not the
/// program), and then nothing is sent: the driver's wakeup refuses without
/// its native program (i40e's `i40e_xsk_wakeup`: EINVAL; mlx5: ENETDOWN).
fn bind_modes(copy_only: bool) -> &'static [u16] {
    if copy_only {
        &[libc::XDP_COPY]
    } else {
        &[libc::XDP_ZEROCOPY, libc::XDP_COPY]
    }
}

/// A socket registering `umem`, with rings of `n` entries and its fill ring
/// full of frames `0..n`, bound to `(ifindex, queue)` in the first of
/// [`bind_modes`] the kernel takes ([`first_bound`]). True for zero-copy.
fn bound(
    n: u32,
    umem: &Mmap,
    (ifindex, queue): Queue,
    copy_only: bool,
) -> io::Result<(Socket, bool)> {
    let (s, m) = first_bound(
        bind_modes(copy_only),
        || {
            let mut s = socket(n, Some(umem))?;
            s.fill(0, n);
            Ok(s)
        },
        |s, m| bind(&s.fd, ifindex, queue, m),
    )?;
    Ok((s, m == libc::XDP_ZEROCOPY))
}

/// Try each of `modes` in turn, each on a fresh socket from `open` (new
/// rings, a full fill ring), until `bind` takes one; the socket bound and its
/// mode. Not the same socket again: a zero-copy bind refused after the
/// driver set up its queue may have taken fill ring entries (a driver
/// allocates its RX buffers from the fill ring as it enables the buffer
/// pool, `ndo_bpf` `XDP_SETUP_XSK_POOL`), and the refused bind frees the
/// pool (`xp_destroy` in `xsk_bind`, `net/xdp/xsk.c`) but leaves the socket
/// its fill ring, consumer index past those entries: copy mode on that
/// socket would never see their frames again.
fn first_bound<S>(
    modes: &[u16],
    mut open: impl FnMut() -> io::Result<S>,
    mut bind: impl FnMut(&S, u16) -> io::Result<()>,
) -> io::Result<(S, u16)> {
    let mut refused = io::Error::other("no bind mode");
    for &m in modes {
        let s = open()?;
        match bind(&s, m) {
            Ok(()) => return Ok((s, m)),
            Err(e) => refused = e,
        }
    }
    Err(with_context(refused, "bind(AF_XDP)"))
}

/// A socket with its four rings mapped, not yet bound.
pub(super) struct Socket {
    pub(super) fd: OwnedFd,
    pub(super) rx: Ring<libc::xdp_desc>,
    pub(super) tx: Ring<libc::xdp_desc>,
    pub(super) fill: Ring<u64>,
    pub(super) comp: Ring<u64>,
}

/// A new AF_XDP socket with rings of `n` entries, registering `umem` if given
/// (a socket that will share another's UMEM registers none, but has fill and
/// completion rings of its own: Linux 5.10 or later).
fn socket(n: u32, umem: Option<&Mmap>) -> io::Result<Socket> {
    // SAFETY: plain socket(2) call.
    let fd = cvt(unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) })
        .map_err(|e| with_context(e, "socket(AF_XDP)"))?;
    // SAFETY: a new fd, just returned to us by socket(2).
    let fd = unsafe { owned(fd) };
    if let Some(umem) = umem {
        let reg = libc::xdp_umem_reg {
            addr: umem.addr(),
            len: umem.len() as u64,
            chunk_size: FRAME_SIZE,
            headroom: 0,
            flags: 0,
            tx_metadata_len: 0,
        };
        // SAFETY: `umem` is a mapping of its own (`umem`, below: anonymous
        // memory made for this), whose bytes this room touches only through
        // the unsafe frame views, each for a frame the rings hand it; the
        // kernel pins its pages (`xdp_umem_pin_pages`, net/xdp/xdp_umem.c),
        // so none is reused for other memory while it may write there, even
        // once the mapping is gone.
        unsafe { setsockopt(&fd, libc::XDP_UMEM_REG, &reg, "XDP_UMEM_REG") }?;
    }
    for (opt, what) in [
        (libc::XDP_UMEM_FILL_RING, "XDP_UMEM_FILL_RING"),
        (libc::XDP_UMEM_COMPLETION_RING, "XDP_UMEM_COMPLETION_RING"),
        (libc::XDP_RX_RING, "XDP_RX_RING"),
        (libc::XDP_TX_RING, "XDP_TX_RING"),
    ] {
        // SAFETY: a ring size (a u32), copied in during the call.
        unsafe { setsockopt(&fd, opt, &n, what) }?;
    }
    // SAFETY: xdp_mmap_offsets is plain old data; all-zero is a valid value.
    let mut off: libc::xdp_mmap_offsets = unsafe { zeroed() };
    let len = getsockopt(fd.as_raw_fd(), libc::XDP_MMAP_OFFSETS, &mut off)
        .map_err(|e| with_context(e, "XDP_MMAP_OFFSETS"))?;
    if len as usize != size_of::<libc::xdp_mmap_offsets>() {
        return Err(io::Error::other(
            "kernel too old for AF_XDP ring flags (Linux 5.4); --io xdp needs Linux 5.9 or later",
        ));
    }
    let rx = Ring::map(
        &fd,
        &off.rx,
        n,
        libc::XDP_PGOFF_RX_RING as u64,
        "mmap(XDP RX ring)",
    )?;
    let tx = Ring::map(
        &fd,
        &off.tx,
        n,
        libc::XDP_PGOFF_TX_RING as u64,
        "mmap(XDP TX ring)",
    )?;
    let fill = Ring::map(
        &fd,
        &off.fr,
        n,
        libc::XDP_UMEM_PGOFF_FILL_RING,
        "mmap(XDP fill ring)",
    )?;
    let comp = Ring::map(
        &fd,
        &off.cr,
        n,
        libc::XDP_UMEM_PGOFF_COMPLETION_RING,
        "mmap(XDP completion ring)",
    )?;
    Ok(Socket {
        fd,
        rx,
        tx,
        fill,
        comp,
    })
}

/// Frame addresses `first..first + n` (in frames) of a UMEM.
fn frames(first: u32, n: u32) -> impl Iterator<Item = u64> {
    (u64::from(first)..u64::from(first) + u64::from(n)).map(|i| i * u64::from(FRAME_SIZE))
}

impl Socket {
    /// Give the kernel frames `first..first + n` to receive into (before bind).
    fn fill(&mut self, first: u32, n: u32) {
        for (i, addr) in (0..n).zip(frames(first, n)) {
            self.fill.write(i, addr);
        }
        self.fill.producer().store(n, Ordering::Release);
    }
}

/// Open an AF_XDP socket on `ifindex`'s receive queue `queue`, with a UMEM of
/// its own, split into its receive and transmit queues: zero-copy if the
/// driver can, copy mode otherwise ([`Xsk::zero_copy`] says which). Register
/// the RX queue with the NIC's [`XdpProgram`](super::XdpProgram), then attach
/// the program, to start receiving.
pub fn open(ifindex: u32, queue: u32, opts: XskOptions) -> io::Result<Xsk> {
    let n = opts.size.entries;
    let umem = Arc::new(umem(2 * n)?);
    let (s, zero_copy) = bound(n, &umem, (ifindex, queue), opts.copy_only)?;
    let busy_poll_refused = opts.busy_poll.and_then(|b| busy_poll(&s.fd, b).err());
    let pool = Pool::new(frames(n, n), 2 * n as usize);
    let (rx, tx) = s.queues(&umem, &pool, opts);
    Ok(Xsk {
        rx,
        tx,
        zero_copy,
        busy_poll_refused,
    })
}

/// A UMEM of `frames` frames.
fn umem(frames: u32) -> io::Result<Mmap> {
    Mmap::anonymous(frames as usize * FRAME_SIZE as usize, "mmap(UMEM)")
}

/// One worker's sockets on both NICs.
pub struct XskPair {
    pub ext: Xsk,
    pub int: Xsk,
    /// Why the internal NIC's socket has a UMEM of its own, if the kernel
    /// refused to share the external one's (then every frame forwarded is
    /// copied from one UMEM to the other).
    pub unshared: Option<io::Error>,
}

/// A NIC's receive queue: `(ifindex, queue)`.
pub type Queue = (u32, u32);

/// Every worker's sockets, from [`open_workers`].
pub struct XskWorkers {
    /// Worker k's sockets on both NICs, at k.
    pub pairs: Vec<XskPair>,
    /// Why each worker has a UMEM of its own, if the kernel refused one UMEM
    /// for all of them (then a frame handed between workers is copied).
    pub unshared: Option<io::Error>,
}

/// Open the sockets of `pairs.len()` workers, worker k's on `pairs[k]`
/// (`(ext, int)`, each `(ifindex, queue)`), all on one UMEM: a frame then
/// moves by its descriptor between a worker's two NICs and also from the
/// worker that received it to the worker that owns its connection (a
/// handoff: `RxQueue::lend`, `RxQueue::lent_bytes`). The first socket
/// registers the UMEM; every other one binds with `XDP_SHARED_UMEM` to it,
/// with fill and completion rings of its own (another queue or device:
/// Linux 5.10 or later), and inherits its mode. The UMEM holds
/// `4 * entries` frames per worker, as [`open_pair`]'s would: each fill ring
/// starts full, the rest is the pool all queues share. If the kernel
/// refuses, each worker gets a UMEM of its own ([`open_pair`]) and
/// [`XskWorkers::unshared`] says why; so it does when asked to
/// ([`XskOptions::per_worker_umem`]), without a reason.
pub fn open_workers(pairs: &[(Queue, Queue)], opts: XskOptions) -> io::Result<XskWorkers> {
    let unshared = if pairs.len() > 1 && !opts.per_worker_umem {
        match open_one_umem(pairs, opts) {
            Ok(pairs) => {
                return Ok(XskWorkers {
                    pairs,
                    unshared: None,
                });
            }
            Err(e) => Some(e),
        }
    } else {
        None
    };
    let pairs = pairs
        .iter()
        .map(|&(ext, int)| open_pair(ext, int, opts))
        .collect::<io::Result<_>>()
        .map_err(|e| match &unshared {
            // The queues the refused attempt bound may still be busy: name
            // both failures (`--umem per-worker` skips the first).
            Some(first) => with_context(
                e,
                &format!("after one UMEM for all workers was refused ({first})"),
            ),
            None => e,
        })?;
    Ok(XskWorkers { pairs, unshared })
}

/// [`open_workers`] on one UMEM, or the first error.
fn open_one_umem(pairs: &[(Queue, Queue)], opts: XskOptions) -> io::Result<Vec<XskPair>> {
    let n = opts.size.entries;
    let sockets =
        u32::try_from(2 * pairs.len()).map_err(|_| io::Error::other("too many workers"))?;
    let total = sockets
        .checked_mul(2 * n)
        .ok_or_else(|| io::Error::other("UMEM too large"))?;
    let umem = Arc::new(umem(total)?);
    let mut at = pairs.iter().flat_map(|&(ext, int)| [ext, int]);
    let first_at = at.next().ok_or_else(|| io::Error::other("no worker"))?;
    let (first, zero_copy) = bound(n, &umem, first_at, opts.copy_only)?;
    let first_fd = first.fd.as_raw_fd() as u32;
    let mut all = Vec::with_capacity(sockets as usize);
    all.push(first);
    for (k, (ifindex, queue)) in (1..).zip(at) {
        let mut s = socket(n, None)?;
        s.fill(k * n, n);
        bind_to(&s.fd, ifindex, queue, libc::XDP_SHARED_UMEM, first_fd)
            .map_err(|e| with_context(e, "bind(AF_XDP, XDP_SHARED_UMEM) across workers"))?;
        all.push(s);
    }
    let pool = Pool::new(frames(sockets * n, sockets * n), total as usize);
    let xsk = |s: Socket| {
        let busy_poll_refused = opts.busy_poll.and_then(|b| busy_poll(&s.fd, b).err());
        let (rx, tx) = s.queues(&umem, &pool, opts);
        Xsk {
            rx,
            tx,
            zero_copy,
            busy_poll_refused,
        }
    };
    let mut out = Vec::with_capacity(pairs.len());
    let mut all = all.into_iter();
    while let (Some(e), Some(i)) = (all.next(), all.next()) {
        out.push(XskPair {
            ext: xsk(e),
            int: xsk(i),
            unshared: None,
        });
    }
    Ok(out)
}

/// Open a worker's sockets on `ext` and `int` (each `(ifindex, queue)`) on one
/// UMEM, so a frame received on either can be sent on the other from its own
/// buffer (`RxQueue::lend`, `TxQueue::send_lent`). The second socket binds
/// with `XDP_SHARED_UMEM` (on another device: Linux 5.10 or later) and so
/// inherits the first one's mode (zero-copy or copy); if the kernel refuses,
/// it gets a UMEM of its own ([`XskPair::unshared`] says why).
///
/// The UMEM holds `4 * entries` frames: each fill ring starts full, the rest
/// is the pool both TX queues send locally made frames from and both RX queues
/// refill their fill rings from when they lend frames to TX.
pub fn open_pair(ext: (u32, u32), int: (u32, u32), opts: XskOptions) -> io::Result<XskPair> {
    let n = opts.size.entries;
    let umem = Arc::new(umem(4 * n)?);
    let (a, zero_copy) = bound(n, &umem, ext, opts.copy_only)?;
    let refused = |fd: &OwnedFd| opts.busy_poll.and_then(|b| busy_poll(fd, b).err());
    let ext_refused = refused(&a.fd);
    let shared = socket(n, None).and_then(|mut b| {
        b.fill(n, n);
        // Shared sockets give no mode flags: they take the first socket's.
        bind_to(
            &b.fd,
            int.0,
            int.1,
            libc::XDP_SHARED_UMEM,
            a.fd.as_raw_fd() as u32,
        )
        .map_err(|e| with_context(e, "bind(AF_XDP, XDP_SHARED_UMEM)"))?;
        Ok(b)
    });
    match shared {
        Ok(b) => {
            let int_refused = refused(&b.fd);
            let pool = Pool::new(frames(2 * n, 2 * n), 4 * n as usize);
            let (erx, etx) = a.queues(&umem, &pool, opts);
            let (irx, itx) = b.queues(&umem, &pool, opts);
            Ok(XskPair {
                ext: Xsk {
                    rx: erx,
                    tx: etx,
                    zero_copy,
                    busy_poll_refused: ext_refused,
                },
                int: Xsk {
                    rx: irx,
                    tx: itx,
                    zero_copy,
                    busy_poll_refused: int_refused,
                },
                unshared: None,
            })
        }
        Err(e) => {
            // The frames meant for the second fill ring join the pool.
            let pool = Pool::new(frames(n, 3 * n), 4 * n as usize);
            let (rx, tx) = a.queues(&umem, &pool, opts);
            Ok(XskPair {
                ext: Xsk {
                    rx,
                    tx,
                    zero_copy,
                    busy_poll_refused: ext_refused,
                },
                int: open(int.0, int.1, opts)?,
                unshared: Some(e),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A refused zero-copy bind is followed by a copy-mode bind on a fresh
    /// socket, not the same one (whose fill ring the driver may have taken
    /// from); a refusal of every mode names the last one's error.
    #[test]
    fn copy_mode_is_tried_on_a_fresh_socket() {
        let (opened, tried) = (std::cell::Cell::new(0), std::cell::RefCell::new(Vec::new()));
        let open = || {
            opened.set(opened.get() + 1);
            Ok(opened.get())
        };
        let got = first_bound(bind_modes(false), open, |&s, m| {
            tried.borrow_mut().push((s, m));
            if m == libc::XDP_ZEROCOPY {
                Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP))
            } else {
                Ok(())
            }
        });
        assert_eq!(got.ok(), Some((2, libc::XDP_COPY)));
        assert_eq!(
            tried.take(),
            [(1, libc::XDP_ZEROCOPY), (2, libc::XDP_COPY)],
            "socket and mode of each bind"
        );
        let e = first_bound(bind_modes(false), open, |_, _| {
            Err(io::Error::from_raw_os_error(libc::EBUSY))
        })
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(e.starts_with("bind(AF_XDP): "), "{e}");
    }

    /// Generic XDP binds in copy mode only; otherwise zero-copy is tried
    /// first and copy mode is the fallback.
    #[test]
    fn generic_xdp_never_binds_zero_copy() {
        assert_eq!(bind_modes(true), [libc::XDP_COPY]);
        assert_eq!(bind_modes(false), [libc::XDP_ZEROCOPY, libc::XDP_COPY]);
    }
}

/// Sockets without a kernel: rings in anonymous memory, driven by the test
/// as the kernel would drive them.
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(super) mod fake {
    use super::*;
    use std::os::unix::net::UnixDatagram;

    /// A ring in anonymous memory laid out as the kernel's (producer,
    /// consumer, flags, then the descriptors).
    pub(in crate::io::xdp) fn ring<D: Desc>(entries: u32) -> Ring<D> {
        let desc = 192;
        let map = Mmap::anonymous(desc + entries as usize * size_of::<D>(), "test ring").unwrap();
        Ring {
            map,
            producer: 0,
            consumer: 64,
            flags: 128,
            desc,
            mask: entries - 1,
            _d: std::marker::PhantomData,
        }
    }

    /// A socket with rings of `n` entries, its fill ring full of frames
    /// `0..n` as `open` leaves it, over a UMEM of `2 * n` frames whose pool
    /// holds the others; its fd is one end of a socketpair (the other end
    /// returned: each kick is a datagram there).
    pub(in crate::io::xdp) fn socket(n: u32) -> (Socket, Arc<Mmap>, Arc<Pool>, UnixDatagram) {
        let (ours, kernel) = UnixDatagram::pair().unwrap();
        kernel.set_nonblocking(true).unwrap();
        let mut s = Socket {
            fd: OwnedFd::from(ours),
            rx: ring(n),
            tx: ring(n),
            fill: ring(n),
            comp: ring(n),
        };
        s.fill(0, n);
        let umem = Arc::new(Mmap::anonymous(2 * n as usize * FRAME_SIZE as usize, "umem").unwrap());
        let pool = Pool::new(frames(n, n), 2 * n as usize);
        (s, umem, pool, kernel)
    }

    /// Options for a socket of `n` entries, no busy polling.
    pub(in crate::io::xdp) fn opts(n: u32) -> XskOptions {
        XskOptions {
            size: XskSize::new(n),
            busy_poll: None,
            per_worker_umem: false,
            copy_only: false,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod zero_copy_kicks {
    use super::fake::{opts, socket};
    use super::*;
    use crate::io::TxQueue;

    /// With need_wakeup set on the TX ring and a zero-copy driver
    /// that has not yet taken the descriptors (its `ndo_xsk_wakeup` only
    /// schedules NAPI and returns 0: `__xsk_sendmsg` -> `xsk_wakeup`), one
    /// flush makes one `sendto`, not `KICKS_MAX` of them (here the socket
    /// is one end of a socketpair: each kick is a datagram the other end
    /// counts).
    #[test]
    fn one_flush_kicks_once_when_the_kick_succeeds() {
        let n = 64;
        let (s, umem, pool, kernel) = socket(n);
        // The driver asks to be woken (i40e/ice set the flag after every TX
        // clean; mlx5 whenever nothing is in flight).
        s.tx.map
            .word(s.tx.flags)
            .store(libc::XDP_RING_NEED_WAKEUP, Ordering::Relaxed);
        let (_rx, mut tx) = s.queues(&umem, &pool, opts(n));
        let slot = tx.slot().expect("a free frame");
        slot[..60].fill(1);
        tx.commit(60);
        assert_eq!(tx.flush(), 1);
        let mut kicks = 0;
        let mut buf = [0u8; 8];
        while kernel.recv(&mut buf).is_ok() {
            kicks += 1;
        }
        assert_eq!(kicks, 1, "sendto(2) calls for one frame in one flush");
    }
}
