//! In-memory queues with the ring interface, for tests and fixtures.
//!
//! A test pushes frames into a [`MemRx`], runs the worker, and reads what the
//! worker sent from [`MemTx::sent`]. `flush` moves committed frames to `sent`, so a
//! test also sees whether the worker kicked its TX queues.
//!
//! Queues made with [`MemRx::in_place`] and [`MemTx::in_place`] on one
//! [`MemUmem`] send a received frame from its own buffer, as AF_XDP sockets on
//! a shared UMEM do: the worker rewrites the frame in the RX queue and the TX
//! queue takes the very buffer ([`RxQueue::lend`], [`TxQueue::send_lent`]).

use super::{Lent, RxFrame, RxMeta, RxQueue, TxQueue, Umem};
use std::collections::VecDeque;
use std::os::fd::RawFd;
use std::sync::{Arc, Mutex};

/// `0..n` in a fixed random order (Fisher–Yates over xorshift64): the order
/// in which a replay of one frame per connection (the software benchmark, the
/// criterion fast-path bench) visits `n` connections. Random, because traffic
/// arrives in no order related to where connections sit in the table; a
/// constant step through them lets the CPU's stride prefetcher take misses
/// the worker itself would meet (docs/benchmarks.md, "Where the 1M gap goes").
pub fn shuffled(n: usize) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for k in (1..n).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.swap(k, (x % (k as u64 + 1)) as usize);
    }
    v
}

/// The "frame memory" of in-place in-memory queues: the frames lent by RX
/// queues and not yet taken by a TX queue, by their address.
#[derive(Debug, Default)]
pub struct MemUmem {
    lent: Mutex<Lended>,
}

/// The last address given out, and the frames lent by address.
#[derive(Debug, Default)]
struct Lended(u64, Vec<(u64, Vec<u8>)>);

impl MemUmem {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Frames lent and not yet sent or given back (a test's leak check).
    pub fn lent(&self) -> usize {
        self.lent.lock().unwrap_or_else(|e| e.into_inner()).1.len()
    }

    fn id(self: &Arc<Self>) -> Umem {
        Umem(Arc::as_ptr(self) as u64)
    }

    fn lend(self: &Arc<Self>, frame: Vec<u8>) -> Lent {
        let mut l = self.lent.lock().unwrap_or_else(|e| e.into_inner());
        l.0 += 1;
        let addr = l.0;
        l.1.push((addr, frame));
        Lent {
            umem: self.id(),
            addr,
        }
    }

    /// Put a frame taken with [`MemUmem::take`] back, still lent.
    fn put(&self, addr: u64, frame: Vec<u8>) {
        let mut l = self.lent.lock().unwrap_or_else(|e| e.into_inner());
        l.1.push((addr, frame));
    }

    fn take(&self, f: &Lent) -> Option<Vec<u8>> {
        let mut l = self.lent.lock().unwrap_or_else(|e| e.into_inner());
        let i = l.1.iter().position(|(a, _)| *a == f.addr)?;
        Some(l.1.swap_remove(i).1)
    }
}

/// Largest frame a [`MemTx`] slot holds, like a 2 KiB ring frame.
pub const SLOT_LEN: usize = 2048 - 32;

#[derive(Debug, Default)]
pub struct MemRx {
    queue: VecDeque<(Vec<u8>, RxMeta)>,
    /// Pretend kernel drops, reported by `take_kernel_drops`.
    pub kernel_drops: crate::io::KernelDrops,
    /// Pretend bad descriptor addresses, reported by `take_bad_addrs`.
    pub bad_addrs: u64,
    umem: Option<Arc<MemUmem>>,
    /// A lent frame whose bytes [`RxQueue::lent_bytes`] gave out, by address:
    /// out of the umem until [`RxQueue::release_lent`].
    held: Option<(u64, Vec<u8>)>,
}

impl MemRx {
    pub fn new() -> Self {
        Self::default()
    }

    /// A queue that lends its frames to [`MemTx`] queues of `umem`.
    pub fn in_place(umem: &Arc<MemUmem>) -> Self {
        Self {
            umem: Some(Arc::clone(umem)),
            ..Self::default()
        }
    }

    /// Queue a complete frame (checksums complete, not truncated).
    pub fn push(&mut self, frame: &[u8]) {
        let meta = RxMeta {
            wire_len: frame.len() as u32,
            ..RxMeta::default()
        };
        self.push_with(frame, meta);
    }

    /// Queue a frame with explicit ring metadata (partial checksum, truncation...).
    pub fn push_with(&mut self, frame: &[u8], meta: RxMeta) {
        self.queue.push_back((frame.to_vec(), meta));
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

impl RxQueue for MemRx {
    fn peek(&mut self) -> Option<RxFrame<'_>> {
        self.queue
            .front()
            .map(|(data, meta)| RxFrame { data, meta: *meta })
    }

    fn advance(&mut self) {
        self.queue.pop_front();
    }

    fn peek_ahead(&self, k: usize) -> Option<&[u8]> {
        self.queue.get(k).map(|(data, _)| &data[..])
    }

    fn poll_fd(&self) -> Option<RawFd> {
        None
    }

    fn umem(&self) -> Option<Umem> {
        self.umem.as_ref().map(MemUmem::id)
    }

    fn peek_mut(&mut self) -> Option<&mut [u8]> {
        self.umem.as_ref()?;
        self.queue.front_mut().map(|(data, _)| &mut data[..])
    }

    fn lend(&mut self) -> Option<Lent> {
        let umem = self.umem.as_ref()?;
        let (data, _) = self.queue.pop_front()?;
        Some(umem.lend(data))
    }

    fn give_back(&mut self, frame: Lent) {
        if self.held.as_ref().is_some_and(|h| h.0 == frame.addr) {
            self.held = None;
        } else if let Some(u) = &self.umem {
            u.take(&frame);
        }
    }

    fn lent_bytes<'a>(&'a mut self, frame: &'a mut Lent, len: usize) -> Option<&'a mut [u8]> {
        let umem = self.umem.as_ref()?;
        if Some(frame.umem) != self.umem() {
            return None;
        }
        if self.held.as_ref().is_none_or(|h| h.0 != frame.addr) {
            if let Some((addr, data)) = self.held.take() {
                umem.put(addr, data);
            }
            self.held = Some((frame.addr, umem.take(frame)?));
        }
        self.held.as_mut().and_then(|h| h.1.get_mut(..len))
    }

    fn release_lent(&mut self, frame: &Lent) {
        if let (Some(u), Some((addr, data))) = (&self.umem, self.held.take()) {
            u.put(addr, data);
            debug_assert_eq!(addr, frame.addr);
        }
    }

    fn take_kernel_drops(&mut self) -> crate::io::KernelDrops {
        std::mem::take(&mut self.kernel_drops)
    }

    fn take_bad_addrs(&mut self) -> u64 {
        std::mem::take(&mut self.bad_addrs)
    }
}

/// A TX queue that sends nowhere and allocates nothing: one slot, reused, and
/// counts. [`MemTx`] keeps every frame (tests read what was sent), which would
/// put an allocation into every measured packet; benchmarks use this instead.
/// The worker still copies each frame into the slot and patches it there, as
/// into a mapped ring slot.
pub struct SinkTx {
    slot: Box<[u8]>,
    /// Frames committed since the last flush.
    pending: usize,
    /// Frames and bytes committed in all.
    pub committed: u64,
    pub bytes: u64,
}

impl Default for SinkTx {
    fn default() -> Self {
        Self {
            slot: vec![0; SLOT_LEN].into_boxed_slice(),
            pending: 0,
            committed: 0,
            bytes: 0,
        }
    }
}

impl SinkTx {
    pub fn new() -> Self {
        Self::default()
    }

    /// The last frame committed, `len` bytes.
    pub fn last(&self, len: usize) -> &[u8] {
        &self.slot[..len.min(self.slot.len())]
    }
}

impl TxQueue for SinkTx {
    #[inline]
    fn slot(&mut self) -> Option<&mut [u8]> {
        Some(&mut self.slot)
    }

    #[inline]
    fn commit(&mut self, len: usize) {
        self.pending += 1;
        self.committed += 1;
        self.bytes += len as u64;
    }

    #[inline]
    fn flush(&mut self) -> usize {
        std::mem::take(&mut self.pending)
    }
}

#[derive(Debug)]
pub struct MemTx {
    slot: Vec<u8>,
    committed: Vec<Vec<u8>>,
    /// Frames handed to the "kernel" by `flush`, oldest first.
    pub sent: Vec<Vec<u8>>,
    /// How many frames may be committed before `slot` reports the ring full.
    pub capacity: usize,
    /// Pretend refused frames, reported by `take_rejected`.
    pub rejected: u64,
    umem: Option<Arc<MemUmem>>,
}

impl Default for MemTx {
    fn default() -> Self {
        Self {
            slot: vec![0; SLOT_LEN],
            committed: Vec::new(),
            sent: Vec::new(),
            capacity: 256,
            rejected: 0,
            umem: None,
        }
    }
}

impl MemTx {
    pub fn new() -> Self {
        Self::default()
    }

    /// A queue that sends the frames [`MemRx`] queues of `umem` lend it.
    pub fn in_place(umem: &Arc<MemUmem>) -> Self {
        Self {
            umem: Some(Arc::clone(umem)),
            ..Self::default()
        }
    }

    /// Make the queue's slots `len` bytes (a ring set up for smaller
    /// frames): a frame longer finds no slot, as on a full ring.
    pub fn set_slot_len(&mut self, len: usize) {
        self.slot.resize(len, 0);
    }

    /// Take everything sent so far.
    pub fn take_sent(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.sent)
    }
}

impl TxQueue for MemTx {
    fn slot(&mut self) -> Option<&mut [u8]> {
        if self.committed.len() >= self.capacity {
            return None;
        }
        Some(&mut self.slot)
    }

    fn commit(&mut self, len: usize) {
        self.committed.push(self.slot[..len].to_vec());
        // Poison the slot so a test notices a frame built on stale bytes.
        self.slot.fill(0xa5);
    }

    fn flush(&mut self) -> usize {
        let n = self.committed.len();
        self.sent.append(&mut self.committed);
        n
    }

    fn umem(&self) -> Option<Umem> {
        self.umem.as_ref().map(MemUmem::id)
    }

    fn take_rejected(&mut self) -> u64 {
        std::mem::take(&mut self.rejected)
    }

    fn can_send_lent(&mut self) -> bool {
        self.umem.is_some() && self.committed.len() < self.capacity
    }

    fn send_lent(&mut self, frame: Lent, len: usize) -> Result<(), Lent> {
        if Some(frame.umem) != self.umem() || !self.can_send_lent() {
            return Err(frame);
        }
        let Some(mut data) = self.umem.as_ref().and_then(|u| u.take(&frame)) else {
            return Err(frame);
        };
        data.truncate(len);
        self.committed.push(data);
        Ok(())
    }
}

#[cfg(test)]
mod test {
    use super::shuffled;

    /// Every connection once, and no constant step between consecutive ones
    /// for a stride prefetcher to follow.
    #[test]
    fn shuffled_is_a_permutation_without_a_stride() {
        let n = 10_000;
        let v = shuffled(n);
        let mut seen = vec![false; n];
        for &i in &v {
            assert!(!std::mem::replace(&mut seen[i], true), "{i} twice");
        }
        assert!(seen.iter().all(|&s| s));
        let steps: std::collections::HashSet<isize> = v
            .windows(2)
            .map(|w| w[1] as isize - w[0] as isize)
            .collect();
        assert!(steps.len() > n / 2, "{} distinct steps", steps.len());
    }
}
