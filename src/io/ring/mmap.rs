//! Memory shared with the kernel, for both rooms' rings and the AF_XDP UMEM.

use crate::io::with_context;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::AtomicU32;

/// Memory shared with the kernel: a socket's ring (AF_PACKET, or one of the four
/// rings of an AF_XDP socket) or an AF_XDP UMEM; unmapped on drop.
///
/// Every access is bounds-checked. Which bytes are ours at a given moment is
/// the ring protocol's business: the owner of a `Mmap` reads or writes a slot
/// only after the status word or ring index that hands it over says so, and
/// accesses those words only through [`Mmap::word`] (atomically). The views
/// of a slot's bytes ([`Mmap::bytes`], [`Mmap::bytes_mut`], [`Mmap::frame_mut`])
/// and its plain fields ([`Mmap::read_u32`], [`Mmap::write_u32`], ...)
/// are `unsafe fn`s for that reason: a bounds check cannot tell whose the
/// bytes are, and each caller says why they are its own.
pub(in crate::io) struct Mmap {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory shared with the kernel, not tied to the
// thread that made it; its owners hand out slots only through `&mut self` (or,
// for a UMEM, through `frame_mut`, whose callers hold the frame), so moving it
// to another thread is sound.
unsafe impl Send for Mmap {}
// SAFETY: through `&Mmap` one can only read (bytes, plain fields) and touch the
// status/index words atomically; writes need `&mut Mmap`, or go through the
// unsafe `frame_mut`, whose callers hold the frame they write. One UMEM may
// span every worker's threads (`xdp::open_workers`), and a frame is held by
// one queue at a time: it crosses to another worker's thread only with its
// `Lent` token, through a channel (`dataplane::handoff`), and free frames
// move between threads only through the pool's mutex (`xdp::umem::Pool`).
unsafe impl Sync for Mmap {}

impl Mmap {
    /// Map `len` bytes of `fd`'s ring at `offset`, which the kernel defines for
    /// the socket (0 for a packet ring, `XDP_PGOFF_*` for AF_XDP rings).
    pub(in crate::io) fn ring(
        fd: &OwnedFd,
        len: usize,
        offset: u64,
        what: &str,
    ) -> io::Result<Self> {
        Self::map(Some(fd), len, offset, what)
    }

    /// Map `len` bytes of fresh zeroed memory (an AF_XDP UMEM, registered with
    /// the kernel by its [`Mmap::addr`]).
    pub(in crate::io) fn anonymous(len: usize, what: &str) -> io::Result<Self> {
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
    pub(in crate::io) fn addr(&self) -> u64 {
        self.ptr.as_ptr() as u64
    }

    pub(in crate::io) fn len(&self) -> usize {
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
    pub(in crate::io) fn word(&self, off: usize) -> &AtomicU32 {
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
    ///
    /// # Safety
    /// The caller owns the field's bytes: the status word or ring index that
    /// hands them over said so (nobody writes them during the read). A
    /// bounds check cannot tell, as for [`Mmap::bytes`].
    pub(in crate::io) unsafe fn read_u16(&self, off: usize) -> u16 {
        self.check(off, 2);
        // SAFETY: in bounds (checked above); nobody writes the bytes
        // meanwhile (the caller's promise).
        unsafe { self.ptr.as_ptr().add(off).cast::<u16>().read_unaligned() }
    }

    /// A plain u32 field of a slot we own at `off`.
    ///
    /// # Safety
    /// As for [`Mmap::read_u16`].
    pub(in crate::io) unsafe fn read_u32(&self, off: usize) -> u32 {
        self.check(off, 4);
        // SAFETY: as for `read_u16`.
        unsafe { self.ptr.as_ptr().add(off).cast::<u32>().read_unaligned() }
    }

    /// A plain u64 field of a slot we own at `off`.
    ///
    /// # Safety
    /// As for [`Mmap::read_u16`].
    pub(in crate::io) unsafe fn read_u64(&self, off: usize) -> u64 {
        self.check(off, 8);
        // SAFETY: as for `read_u16`.
        unsafe { self.ptr.as_ptr().add(off).cast::<u64>().read_unaligned() }
    }

    /// Writes a plain u32 field of a slot we own at `off`.
    ///
    /// # Safety
    /// The caller owns the field's bytes and hands them to nobody before the
    /// write (nobody reads or writes them meanwhile): as for
    /// [`Mmap::bytes_mut`].
    pub(in crate::io) unsafe fn write_u32(&mut self, off: usize, v: u32) {
        self.check(off, 4);
        // SAFETY: in bounds (checked above); the bytes are ours alone (the
        // caller's promise).
        unsafe { self.ptr.as_ptr().add(off).cast::<u32>().write_unaligned(v) }
    }

    /// Writes a plain u64 field of a slot we own at `off`.
    ///
    /// # Safety
    /// As for [`Mmap::write_u32`].
    pub(in crate::io) unsafe fn write_u64(&mut self, off: usize, v: u64) {
        self.check(off, 8);
        // SAFETY: as for `write_u32`.
        unsafe { self.ptr.as_ptr().add(off).cast::<u64>().write_unaligned(v) }
    }

    /// Bytes `off..off + len` of a slot we own.
    ///
    /// # Panics
    /// If the range is past the mapping.
    ///
    /// # Safety
    /// The caller owns the bytes for as long as the borrow lives: the status
    /// word or ring index that hands them over said so, and nothing hands them
    /// back (to the kernel, or to another holder of the memory) before the
    /// borrow ends, so no one writes them meanwhile.
    pub(in crate::io) unsafe fn bytes(&self, off: usize, len: usize) -> &[u8] {
        self.check(off, len);
        // SAFETY: in bounds (checked above); nobody writes them while the
        // borrow lives (the caller's promise).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(off), len) }
    }

    /// As [`Mmap::bytes`], writable.
    ///
    /// # Panics
    /// If the range is past the mapping.
    ///
    /// # Safety
    /// As for [`Mmap::bytes`], and nobody reads them meanwhile either.
    pub(in crate::io) unsafe fn bytes_mut(&mut self, off: usize, len: usize) -> &mut [u8] {
        self.check(off, len);
        // SAFETY: in bounds (checked above); ours alone while the borrow lives
        // (the caller's promise), and `&mut self` makes it the only borrow
        // through this mapping.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr().add(off), len) }
    }

    /// Bytes `off..off + len` of a frame we own, writable through a shared
    /// reference: the AF_XDP UMEM that the queues of one worker share, each
    /// writing the frames its bookkeeping says it holds.
    ///
    /// # Panics
    /// If the range is past the mapping.
    ///
    /// # Safety
    /// While the returned slice lives, no other reference to any of its bytes
    /// may exist (no other frame holder may be writing or reading the same
    /// frame): the caller holds the frame by its ring protocol.
    #[allow(clippy::mut_from_ref)]
    pub(in crate::io) unsafe fn frame_mut(&self, off: usize, len: usize) -> &mut [u8] {
        self.check(off, len);
        // SAFETY: in bounds (checked above); uniqueness is the caller's promise.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr().add(off), len) }
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the region `map` mapped; no borrow outlives self.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// Ask for transparent huge pages on the pages inside `len` bytes at `addr`
/// (`madvise(MADV_HUGEPAGE)`), for memory not touched yet: where the kernel runs
/// THP in `madvise` mode (a common default), big tables otherwise live on 4 KiB
/// pages and nearly every lookup also misses the TLB. A hint: errors (no THP,
/// a range not mapped) are ignored, and small ranges are left alone.
pub fn advise_huge(addr: usize, len: usize) {
    const HUGE: usize = 2 << 20;
    if len < HUGE {
        return;
    }
    let page = 4096;
    let start = addr.next_multiple_of(page);
    let end = (addr + len) / page * page;
    if end <= start {
        return;
    }
    // SAFETY: MADV_HUGEPAGE changes only which page size may back the range,
    // never its contents or whether it is mapped; on a range that is not
    // mapped the call fails with ENOMEM and changes nothing.
    unsafe {
        libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
    }
}

#[cfg(test)]
mod tests {
    /// Huge pages of this process (`AnonHugePages` of `smaps_rollup`), in kB.
    fn anon_huge_kb() -> u64 {
        std::fs::read_to_string("/proc/self/smaps_rollup")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("AnonHugePages:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    #[test]
    fn advised_memory_gets_huge_pages_where_thp_allows() {
        let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
            .unwrap_or_default();
        let mut v: Vec<u64> = Vec::with_capacity(4 << 20); // 32 MiB, untouched
        super::advise_huge(v.as_ptr() as usize, v.capacity() * 8);
        v.resize(v.capacity(), 1);
        if thp.contains("[never]") || thp.is_empty() {
            // Nothing to check on a kernel without THP: the hint is ignored.
            return;
        }
        assert!(anon_huge_kb() >= 2048, "THP {thp:?}: no huge page");
        assert_eq!(v.iter().sum::<u64>(), v.len() as u64);
    }
}
