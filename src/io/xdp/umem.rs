//! A UMEM's frames and who holds them: the free frames no ring holds sit in a
//! [`Pool`] shared by every queue on the UMEM, each queue keeping a small cache
//! ([`Frames`]) that it fills from and spills to the pool a batch ([`batch`],
//! [`BATCH`] but on the smallest rings) at a time, so the pool's lock is taken
//! once per batch, never per frame. An empty pool is not locked at all: a
//! queue starved of frames (its cache and the pool empty) asks for one per
//! packet, and reads the pool's count of free frames instead.
//!
//! Every frame is in exactly one place at any time: a fill ring or the kernel's
//! RX side, an RX ring not yet consumed, a TX ring or the kernel's TX side, a
//! completion ring, a queue's cache, the pool, or a [`Lent`](crate::io::Lent)
//! (a received frame taken out of its RX ring: held by the worker that has
//! the token, on its way to a TX ring, or in a handoff ring to another worker
//! whose queues are on the same UMEM, `open_workers`). A queue reads or writes
//! the bytes of the frames it or its worker holds only (an RX queue: the frame
//! at its cursor, or a lent frame whose token the worker holds; a TX queue:
//! the free frame it fills), which is what makes [`Frames::bytes_mut`] sound.
//! The UMEM's queues may belong to several workers (threads): the pool is
//! behind a lock, and a token crosses threads through a channel, whose send and
//! receive order the frame's bytes before and after. When the last queue of a
//! UMEM is dropped, the pool checks that the frames the queues held and its own
//! add up to the UMEM's (a leak or a double free would show there).

use super::FRAME_SIZE;
use crate::io::Umem;
use crate::io::ring::Mmap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Frames moved between a queue's cache and the pool at once (at most).
pub(super) const BATCH: usize = 32;

/// Frames moved between the cache of a queue whose rings have `entries`
/// entries and the pool at once: [`BATCH`], less on the smallest rings. A
/// cache holds at most two batches, `entries / 4` at most, so the caches of
/// a UMEM's other queues can never hold all its free frames: a socket
/// brings `2 * entries` frames and two queues, so with `S` sockets the
/// frames in no fill ring number `S * entries` (one more per empty slot of
/// the queue's own fill ring), while the
/// other `2 * S - 1` caches hold fewer than `S * entries / 2`. A queue that
/// needs a frame (an RX queue with fill slots to refill) finds one in the
/// pool once the frames in flight are back, whichever queues they come back
/// to. Caches of 64 at 64 entries (`--ring-blocks 2`) could, and an RX
/// queue of worker 0 receiving everything (generic XDP) would starve.
pub(super) fn batch(entries: u32) -> usize {
    BATCH.min(entries as usize / 8).max(1)
}

/// The free frames of a UMEM that no queue holds.
pub(super) struct Pool {
    free: Mutex<Vec<u64>>,
    /// How many frames `free` held when its lock was last let go: read
    /// without the lock, so that a queue finding the pool empty does not
    /// take the lock per packet. A count a moment stale costs a lock for
    /// nothing, or a frame found at the next ask.
    count: AtomicUsize,
    /// Times the lock was taken (the tests count them).
    #[cfg(test)]
    locks: AtomicUsize,
    /// Frames in the UMEM.
    pub(super) total: usize,
    /// Frames the queues dropped so far said they held (with the kernel).
    pub(super) held: AtomicUsize,
    /// Addresses outside the UMEM its queues dropped (`xdp_bad_addr`), all
    /// told: each lost the frame its descriptor stood for.
    bad: AtomicU64,
}

impl Pool {
    /// A pool of `free`, in a UMEM of `total` frames; room for all of them, so
    /// giving frames back never allocates.
    pub(super) fn new(free: impl Iterator<Item = u64>, total: usize) -> Arc<Self> {
        let mut v = Vec::with_capacity(total);
        v.extend(free);
        Arc::new(Self {
            count: AtomicUsize::new(v.len()),
            #[cfg(test)]
            locks: AtomicUsize::new(0),
            free: Mutex::new(v),
            total,
            held: AtomicUsize::new(0),
            bad: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Vec<u64>> {
        #[cfg(test)]
        self.locks.fetch_add(1, Ordering::Relaxed);
        // A queue that panicked holding the lock left a valid vector.
        self.free.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the pool looks empty (its count as last published, no lock).
    #[inline]
    fn looks_empty(&self) -> bool {
        self.count.load(Ordering::Relaxed) == 0
    }

    /// Frames in the pool now.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.lock().len()
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let (free, held) = (self.lock().len(), self.held.load(Ordering::Relaxed));
        let bad = self.bad.load(Ordering::Relaxed);
        if let Some(note) = bookkeeping_note(free, held, self.total, bad) {
            crate::log!("{note}");
        }
    }
}

/// What a UMEM's pool says when its last queue goes, if its frames do not
/// add up: with descriptors dropped for a bad address, that they explain the
/// frames missing (each stood for a frame the kernel had, lost with it).
fn bookkeeping_note(free: usize, held: usize, total: usize, bad: u64) -> Option<String> {
    if free + held == total {
        return None;
    }
    let mut note =
        format!("ringvs: AF_XDP UMEM bookkeeping: {free} free and {held} held frames of {total}");
    if bad > 0 {
        note.push_str(&format!(
            " ({bad} descriptor(s) named an address outside the UMEM, xdp_bad_addr: each lost the frame it stood for)"
        ));
    }
    Some(note)
}

/// One queue's view of its UMEM: the memory, the pool, and the queue's cache of
/// free frames (at most `2 * batch`).
pub(super) struct Frames {
    map: Arc<Mmap>,
    pool: Arc<Pool>,
    local: Vec<u64>,
    /// Frames moved to or from the pool at once ([`batch`]).
    batch: usize,
    /// Frames this queue holds besides `local`: in its rings or the kernel's
    /// hands (the queue keeps it up to date only for the check at drop).
    pub(super) in_rings: usize,
    /// Addresses outside the UMEM dropped since [`Frames::take_bad`].
    bad: u64,
}

impl Frames {
    /// The view of a queue whose rings have `entries` entries.
    pub(super) fn new(map: &Arc<Mmap>, pool: &Arc<Pool>, entries: u32) -> Self {
        let batch = batch(entries);
        Self {
            map: Arc::clone(map),
            pool: Arc::clone(pool),
            local: Vec::with_capacity(2 * batch),
            batch,
            in_rings: 0,
            bad: 0,
        }
    }

    /// Whether `addr` lies in the UMEM. Every address a ring hands back is
    /// one a queue gave it (a frame's start, or a received frame's start
    /// some way into its frame), so one outside can only come from a broken
    /// kernel or queue: it names no frame, and is dropped and counted
    /// ([`Frames::take_bad`]) rather than given back, where it would stay
    /// (a fill ring slot the kernel rejects, a free frame no slot can use).
    #[inline]
    pub(super) fn owns(&self, addr: u64) -> bool {
        addr < self.map.len() as u64
    }

    /// Count one address [`Frames::owns`] refused (for the worker's
    /// counter, and the pool's note at exit).
    #[cold]
    pub(super) fn count_bad(&mut self) {
        self.bad += 1;
        self.pool.bad.fetch_add(1, Ordering::Relaxed);
    }

    /// Addresses outside the UMEM dropped since the last call.
    pub(super) fn take_bad(&mut self) -> u64 {
        std::mem::take(&mut self.bad)
    }

    /// Drop the free frame [`Frames::next`] gives, which no slot can use (see
    /// [`Frames::owns`]), and count it.
    pub(super) fn drop_next(&mut self) {
        if self.local.pop().is_some() {
            self.count_bad();
        }
    }

    /// Which UMEM this is.
    pub(super) fn id(&self) -> Umem {
        Umem(self.map.addr())
    }

    /// The next free frame [`Frames::take`] would give, taking a batch from the
    /// pool if the cache is empty.
    #[inline]
    pub(super) fn next(&mut self) -> Option<u64> {
        if self.local.is_empty() && !self.pool.looks_empty() {
            let mut free = self.pool.lock();
            let k = free.len().saturating_sub(self.batch);
            self.local.extend(free.drain(k..));
            self.pool.count.store(free.len(), Ordering::Relaxed);
        }
        self.local.last().copied()
    }

    /// A free frame, now held by the caller's rings.
    #[inline]
    pub(super) fn take(&mut self) -> Option<u64> {
        self.next()?;
        self.local.pop()
    }

    /// A frame back from the caller's rings (its address, any offset inside
    /// it); an address outside the UMEM is dropped and counted.
    #[inline]
    pub(super) fn give(&mut self, addr: u64) {
        if !self.owns(addr) {
            self.count_bad();
            return;
        }
        if self.local.len() >= 2 * self.batch {
            let k = self.local.len() - self.batch;
            let mut free = self.pool.lock();
            free.extend(self.local.drain(k..));
            self.pool.count.store(free.len(), Ordering::Relaxed);
        }
        self.local.push(base(addr));
    }

    /// `off..off + len` lies inside one frame of the UMEM. Overflow-free for
    /// any `off` a descriptor may carry (`end >= off >= base(off)`).
    pub(super) fn holds(&self, off: u64, len: u32) -> bool {
        off.checked_add(u64::from(len)).is_some_and(|end| {
            end - base(off) <= u64::from(FRAME_SIZE) && end <= self.map.len() as u64
        })
    }

    /// Put `addr` in the cache as it is, unchecked, as a bug would.
    #[cfg(test)]
    pub(super) fn push_unchecked(&mut self, addr: u64) {
        self.local.push(addr);
    }

    /// Bytes `off..off + len` of a frame the caller holds, if they lie in one
    /// frame of the UMEM.
    ///
    /// # Safety
    ///
    /// If they do, the caller holds that frame (the kernel handed it over in
    /// an RX ring, it is a free frame of this queue's, or the caller's worker
    /// holds its `Lent` token) for as long as the borrow lives: neither the
    /// kernel nor another queue on the UMEM writes it meanwhile.
    #[inline]
    pub(super) unsafe fn bytes(&self, off: u64, len: u32) -> Option<&[u8]> {
        // SAFETY: in one frame of the mapping (checked by `holds`), which the
        // caller holds for as long as the borrow lives (its promise, above).
        self.holds(off, len)
            .then(|| unsafe { self.map.bytes(off as usize, len as usize) })
    }

    /// As [`Frames::bytes`], writable.
    ///
    /// # Safety
    ///
    /// As for [`Frames::bytes`], and no other queue on the UMEM reads the
    /// frame meanwhile either.
    #[inline]
    pub(super) unsafe fn bytes_mut(&mut self, off: u64, len: u32) -> Option<&mut [u8]> {
        if !self.holds(off, len) {
            return None;
        }
        // SAFETY: in one frame of the mapping (checked above, `frame_mut`
        // checks again). The frame is held by this queue, or by its worker
        // as a `Lent` token, alone (the caller's promise; see the module
        // doc: every frame is in one place, and a queue touches only the
        // frames it or its worker holds), and `&mut self` keeps this the
        // only borrow through this queue; the kernel leaves a frame alone
        // while a queue or a token holds it.
        Some(unsafe { self.map.frame_mut(off as usize, len as usize) })
    }
}

impl Drop for Frames {
    fn drop(&mut self) {
        self.pool
            .held
            .fetch_add(self.local.len() + self.in_rings, Ordering::Relaxed);
    }
}

/// The start of the frame holding UMEM address `addr`.
#[inline]
pub(super) fn base(addr: u64) -> u64 {
    addr & !u64::from(FRAME_SIZE - 1)
}

#[cfg(test)]
mod test {
    use super::super::xsk::XskSize;
    use super::*;

    const TOTAL: u32 = 256;

    fn umem() -> (Arc<Mmap>, Arc<Pool>) {
        let map = Mmap::anonymous(TOTAL as usize * FRAME_SIZE as usize, "test UMEM").unwrap();
        let pool = Pool::new(
            (0..u64::from(TOTAL)).map(|i| i * u64::from(FRAME_SIZE)),
            TOTAL as usize,
        );
        (Arc::new(map), pool)
    }

    /// Frames move between the caches and the pool a batch at a time, none
    /// is lost or doubled, and the caches stay within their bound.
    #[test]
    fn frames_cycle_through_the_pool_in_batches() {
        let (map, pool) = umem();
        let (mut rx, mut tx) = (
            Frames::new(&map, &pool, TOTAL),
            Frames::new(&map, &pool, TOTAL),
        );
        assert_eq!(rx.id(), tx.id());
        // An RX queue refilling its fill ring takes one batch from the pool.
        let mut held: Vec<u64> = (0..3).map(|_| rx.take().unwrap()).collect();
        assert_eq!(pool.len(), TOTAL as usize - BATCH);
        assert_eq!(rx.local.len(), BATCH - 3);
        // Frames sent and completed come back through the TX cache, offsets
        // inside a frame stripped, spilling a batch when the cache is full.
        for _ in 0..10 {
            for a in held.drain(..) {
                tx.give(a + 256);
            }
            held.extend((0..40).map_while(|_| rx.take()));
            assert!(tx.local.len() <= 2 * BATCH && rx.local.len() <= 2 * BATCH);
        }
        for a in held.drain(..) {
            tx.give(a);
        }
        let mut all: Vec<u64> = pool.lock().clone();
        all.extend(&rx.local);
        all.extend(&tx.local);
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), TOTAL as usize, "every frame once");
        assert!(all.iter().all(|a| a % u64::from(FRAME_SIZE) == 0));
        // The pool runs dry and fills again.
        let mut taken = Vec::new();
        while let Some(a) = rx.take() {
            taken.push(a);
        }
        assert_eq!(taken.len() + tx.local.len(), TOTAL as usize);
        assert_eq!(rx.next(), None);
        tx.give(taken.pop().unwrap());
        // What the queues say they hold when they go adds up with the pool.
        let cached = tx.local.len();
        drop(tx);
        assert_eq!(pool.held.load(Ordering::Relaxed), cached);
        rx.in_rings = taken.len();
        drop(rx);
        let held = pool.held.load(Ordering::Relaxed);
        assert_eq!(held + pool.len(), TOTAL as usize);
    }

    /// A queue starved of frames (its cache and the pool empty) asks for one
    /// per packet: the RX queue refilling its fill ring, the TX queue for a
    /// slot. The empty pool is not locked for each ask, and a batch given
    /// back is found at once.
    #[test]
    fn an_empty_pool_is_not_locked_per_ask() {
        let (map, pool) = umem();
        let (mut rx, mut tx) = (
            Frames::new(&map, &pool, TOTAL),
            Frames::new(&map, &pool, TOTAL),
        );
        let mut held = Vec::new();
        while let Some(a) = rx.take() {
            held.push(a);
        }
        assert_eq!(held.len(), TOTAL as usize);
        let before = pool.locks.load(Ordering::Relaxed);
        for _ in 0..100 {
            assert_eq!(rx.take(), None);
        }
        let locks = pool.locks.load(Ordering::Relaxed) - before;
        assert!(locks <= 2, "{locks} locks for 100 asks of an empty pool");
        // Frames completed come back through the TX cache; a spilled batch
        // is in the pool for the next ask.
        for a in held.drain(..2 * BATCH + 1) {
            tx.give(a);
        }
        assert_eq!(pool.len(), BATCH);
        assert!(rx.take().is_some());
        held.extend(std::iter::from_fn(|| rx.take()));
        rx.in_rings = held.len();
    }

    /// An address outside the UMEM given back (a completion, a lent frame)
    /// is dropped and counted, never cached: an RX queue would put it in its
    /// fill ring, a TX queue offer it as a slot.
    #[test]
    fn frames_outside_the_umem_are_not_taken_back() {
        let (map, pool) = umem();
        let mut f = Frames::new(&map, &pool, TOTAL);
        let end = u64::from(TOTAL) * u64::from(FRAME_SIZE);
        assert!(f.owns(end - 1) && !f.owns(end));
        let a = f.take().unwrap();
        f.give(end);
        f.give(u64::MAX);
        f.give(a + 256);
        assert_eq!(f.take_bad(), 2);
        assert_eq!(f.take_bad(), 0);
        assert_eq!(f.local.len(), BATCH);
        assert_eq!(f.take(), Some(a));
        f.in_rings = 1;
        // The pool keeps the count for its note at exit.
        assert_eq!(pool.bad.load(Ordering::Relaxed), 2);
    }

    /// The pool's note at exit, when the frames do not add up, names the
    /// descriptors dropped for a bad address (`xdp_bad_addr`), which
    /// explain it; nothing is said when they add up.
    #[test]
    fn the_bookkeeping_note_names_bad_addresses() {
        assert_eq!(bookkeeping_note(6, 2, 8, 3), None);
        let plain = bookkeeping_note(5, 2, 8, 0).unwrap();
        assert_eq!(
            plain,
            "ringvs: AF_XDP UMEM bookkeeping: 5 free and 2 held frames of 8"
        );
        let bad = bookkeeping_note(5, 2, 8, 1).unwrap();
        assert!(bad.starts_with(&plain), "{bad}");
        assert!(
            bad.contains("1 descriptor(s) named an address outside the UMEM, xdp_bad_addr"),
            "{bad}"
        );
    }

    /// For every ring size allowed and any number of sockets on one UMEM, the
    /// caches of all queues but one hold fewer frames than are in no fill
    /// ring (see [`batch`]).
    #[test]
    fn the_other_caches_never_hold_every_free_frame() {
        let mut n = XskSize::MIN_ENTRIES;
        while n <= XskSize::MAX_ENTRIES {
            assert!(batch(n) >= 1 && batch(n) <= BATCH);
            for s in 1..=4096 {
                let others = (2 * s - 1) * 2 * batch(n);
                assert!(others < s * n as usize, "{n} entries, {s} sockets");
            }
            n *= 2;
        }
        assert_eq!(batch(2048), BATCH, "the default rings keep whole batches");
    }

    /// A model of the starvation the cache bound prevents: an RX queue that
    /// lent its whole fill ring (generic XDP: every frame arrives on worker
    /// 0's first queue) while every free frame, its lent ones too, came back
    /// to the other queues' caches (completions, handoffs, given back one by
    /// one, a cache spilling a batch to the pool only when full): the pool
    /// still has frames for it. With caches of `2 * BATCH` at 64 entries
    /// the caches took them all and the queue could never refill.
    #[test]
    fn a_starving_rx_queue_finds_free_frames() {
        let fs = u64::from(FRAME_SIZE);
        for n in [64u32, 128, 256, 1024] {
            for workers in 1..=4u32 {
                let sockets = 2 * workers;
                let total = 2 * n * sockets;
                let map = Mmap::anonymous(total as usize * FRAME_SIZE as usize, "UMEM").unwrap();
                let map = Arc::new(map);
                // The fill rings hold frames 0..n * sockets, the pool the rest.
                let pool = Pool::new(
                    (n * sockets..total).map(|i| u64::from(i) * fs),
                    total as usize,
                );
                let mut q = Frames::new(&map, &pool, n);
                let mut others: Vec<_> = (1..2 * sockets)
                    .map(|_| Frames::new(&map, &pool, n))
                    .collect();
                let free: Vec<u64> = pool.lock().drain(..).collect();
                let lent = (0..n).map(|i| u64::from(i) * fs);
                for (i, a) in lent.chain(free).enumerate() {
                    let k = others.len();
                    others[i % k].give(a);
                }
                let got = q.take();
                assert!(got.is_some(), "{n} entries, {workers} workers: no frame");
                // Bookkeeping: the others' fill rings hold the rest.
                q.in_rings = ((sockets - 1) * n) as usize + 1;
            }
        }
    }

    /// Only ranges inside one frame of the UMEM are readable or writable.
    #[test]
    fn bytes_stay_inside_one_frame() {
        let (map, pool) = umem();
        let mut f = Frames::new(&map, &pool, TOTAL);
        let fs = u64::from(FRAME_SIZE);
        // No kernel and no other queue here: the test holds every frame, and
        // each borrow below ends with its statement.
        let len = |f: &Frames, off, len| {
            // SAFETY: the test holds every frame (above).
            unsafe { f.bytes(off, len) }.map(<[u8]>::len)
        };
        assert_eq!(len(&f, 256, 1792), Some(1792));
        assert_eq!(len(&f, 256, 1793), None, "crosses into the next frame");
        assert_eq!(len(&f, u64::from(TOTAL) * fs, 1), None, "past the UMEM");
        assert_eq!(len(&f, u64::MAX - 1, 8), None, "wraps");
        assert_eq!(len(&f, u64::MAX - 10, 5), None, "in the last frame of u64");
        assert_eq!(len(&f, u64::MAX - 2047, 2047), None, "ends at u64::MAX");
        // SAFETY: the test holds every frame (above).
        let b = unsafe { f.bytes_mut(fs + 10, 4) };
        b.unwrap().copy_from_slice(&[1, 2, 3, 4]);
        // SAFETY: the test holds every frame (above).
        let b = unsafe { f.bytes(fs + 10, 4) };
        assert_eq!(b, Some(&[1, 2, 3, 4][..]));
    }

    /// What sharing one pool between workers costs: each thread cycles
    /// frames as a worker's queues do (its RX queue takes a free frame to
    /// refill the fill ring, its TX queue gives one back at completion),
    /// alone, two threads on one pool (`open_workers`), and two threads on
    /// pools of their own (`--umem per-worker`). Run with
    /// `cargo test --release --lib cost_of_the_shared_pool -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn cost_of_the_shared_pool() {
        use std::time::Instant;
        const FRAMES: u32 = 8192;
        const CYCLES: usize = 20_000_000;
        let pool_of = || {
            let map =
                Mmap::anonymous(FRAMES as usize * FRAME_SIZE as usize, "test UMEM").expect("UMEM");
            let pool = Pool::new(
                (0..u64::from(FRAMES)).map(|i| i * u64::from(FRAME_SIZE)),
                FRAMES as usize,
            );
            (Arc::new(map), pool)
        };
        // ns per frame cycled, for each thread given its (map, pool).
        let run = |pools: Vec<(Arc<Mmap>, Arc<Pool>)>| -> f64 {
            let start = Instant::now();
            let threads: Vec<_> = pools
                .into_iter()
                .map(|(map, pool)| {
                    std::thread::spawn(move || {
                        let (mut rx, mut tx) = (
                            Frames::new(&map, &pool, FRAMES),
                            Frames::new(&map, &pool, FRAMES),
                        );
                        for _ in 0..CYCLES {
                            if let Some(a) = rx.take() {
                                tx.give(a);
                            }
                        }
                    })
                })
                .collect();
            for t in threads {
                assert!(t.join().is_ok());
            }
            start.elapsed().as_nanos() as f64 / CYCLES as f64
        };
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (mut alone, mut shared, mut own) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..5 {
            alone.push(run(vec![pool_of()]));
            let one = pool_of();
            shared.push(run(vec![one.clone(), one]));
            own.push(run(vec![pool_of(), pool_of()]));
        }
        let (a, s, o) = (median(alone), median(shared), median(own));
        println!(
            "ns per frame taken and given back, per thread: alone {a:.1}, two threads on one \
             pool {s:.1}, two on pools of their own {o:.1} (median of 5, alternated; \
             one pool / own pools {:.2})",
            s / o
        );
    }
}
