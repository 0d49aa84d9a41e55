//! Locality-based schedulers: `lblc` and `lblcr`. Both remember, per
//! destination address of the packet (`Flow::vaddr`, the address a cache
//! cluster is asked for), which server (`lblc`) or set of servers (`lblcr`)
//! it went to, and keep sending it there until that server is overloaded.
//!
//! The cache is shared by every worker behind a [`Mutex`], taken once per new
//! connection of these two schedulers only (never per packet, never for other
//! schedulers); the kernel serialises the same updates with `svc->sched_lock`.
//! The critical section is a hash lookup and, on a miss, one `wlc` pass over
//! the servers; once a minute (on the clock the picks bring) it also does the
//! kernel's garbage collection.
//!
//! Expiry follows the kernel's timers (`ip_vs_lblc.c` `ip_vs_lblc_check_expire` and
//! `ip_vs_lblc_full_check`, their `ip_vs_lblcr.c` twins), driven by `Flow::now_s`
//! instead:
//! * every [`CHECK_INTERVAL_S`], if the cache holds more than [`MAX_ENTRIES`],
//!   entries unused for [`ENTRY_TIMEOUT_S`] are dropped (at most
//!   (excess * 4/3), at most half of [`MAX_ENTRIES`]);
//! * every 30th check, entries unused for [`EXPIRATION_S`] are dropped;
//! * and an entry unused for [`EXPIRATION_S`] is never used again even if not
//!   collected yet (the kernel may still use it until the next full check).
//!
//! Unlike the kernel, the cache is bounded: beyond [`HARD_MAX_ENTRIES`] a new
//! destination is scheduled (by `wlc`) but not remembered.
//!
//! The cache lives as long as the service keeps its scheduler, across
//! configuration snapshots (`SchedState::carry`), as the kernel's lives as
//! long as the service (`ip_vs_lblc_init_svc` to `ip_vs_lblc_done_svc`). Entries name servers by identity ([`DestRef`]), not by
//! their index in one snapshot's list: an entry whose server was removed finds
//! none and is scheduled afresh at its next use, as the kernel's entry finds
//! its server no longer `IP_VS_DEST_F_AVAILABLE` (`ip_vs_lblc_schedule`).
//! As the kernel's entries hold their dest (`ip_vs_lblc_new`,
//! `ip_vs_dest_set_insert`: `ip_vs_dest_hold`), the live entries keep their
//! servers' ids in the trash (`Lblc::cached_ids`, read by the control
//! thread's sweep), so a server removed and added back is the same one here.

use super::lc::least_weighted;
use super::{Candidate, DestRef, Flow, available, overhead};
use hashbrown::HashMap;
use std::sync::{Mutex, MutexGuard};

/// How often the garbage collection runs (the kernel's `CHECK_EXPIRE_INTERVAL`).
pub const CHECK_INTERVAL_S: u32 = 60;
/// Unused this long, an entry may be collected when the cache is over-full.
pub const ENTRY_TIMEOUT_S: u32 = 6 * 60;
/// Unused this long, an entry is gone (`lblc_expiration` / `lblcr_expiration`
/// sysctls' default). For `lblcr` it is also how long a server set must stay
/// unchanged before its most loaded member is dropped.
pub const EXPIRATION_S: u32 = 24 * 60 * 60;
/// Every this many checks, a full expiry pass.
const FULL_CHECK_EVERY: u32 = 30;
/// The size above which the cache is collected (the kernel's 1024 buckets × 16).
pub const MAX_ENTRIES: usize = 1024 * 16;
/// The size beyond which new destinations are not remembered.
pub const HARD_MAX_ENTRIES: usize = 4 * MAX_ENTRIES;

/// `b - a` in seconds on clocks that may be a little apart between workers:
/// a time slightly in the future counts as 0, not as 136 years.
#[inline]
fn elapsed(a: u32, b: u32) -> u32 {
    (b.wrapping_sub(a) as i32).max(0) as u32
}

/// The kernel's locality overload test (`ip_vs_lblc.c` `is_overloaded`, and
/// `ip_vs_lblcr.c` `is_overloaded`): the server has more active
/// connections than its weight while some server has fewer than half its own.
fn lb_overloaded<C: Candidate>(d: &C, dests: &[C]) -> bool {
    u64::from(d.active()) > u64::from(d.weight())
        && dests
            .iter()
            .any(|o| u64::from(o.active()) * 2 < u64::from(o.weight()))
}

/// A cache entry's last use, and what GC needs.
trait Entry {
    fn lastuse(&self) -> u32;
    /// Calls `f` with the id of each server the entry names.
    fn ids(&self, f: &mut dyn FnMut(u32));
}

/// The cache and its collection clock.
#[derive(Debug)]
struct Cache<E> {
    map: HashMap<u32, E>,
    /// When the collection last ran (`None` before the first pick).
    last_check: Option<u32>,
    /// Checks since the last full pass (the kernel's `counter`).
    counter: u32,
    /// The latest time a pick brought (the cache's clock, for
    /// [`Cache::cached_ids`]).
    seen: u32,
}

impl<E> Default for Cache<E> {
    fn default() -> Self {
        Self {
            map: HashMap::new(),
            last_check: None,
            counter: 1,
            seen: 0,
        }
    }
}

impl<E: Entry> Cache<E> {
    /// The kernel's periodic `check_expire`, run when a pick finds it due.
    fn collect(&mut self, now: u32) {
        if self.last_check.is_none() || elapsed(self.seen, now) > 0 {
            self.seen = now;
        }
        let last = *self.last_check.get_or_insert(now);
        if elapsed(last, now) < CHECK_INTERVAL_S {
            return;
        }
        self.last_check = Some(now);
        if self.counter.is_multiple_of(FULL_CHECK_EVERY) {
            self.map
                .retain(|_, e| elapsed(e.lastuse(), now) < EXPIRATION_S);
            self.counter = 1;
            return;
        }
        if self.map.len() <= MAX_ENTRIES {
            self.counter += 1;
            return;
        }
        let mut goal = ((self.map.len() - MAX_ENTRIES) * 4 / 3).min(MAX_ENTRIES / 2);
        self.map.retain(|_, e| {
            if goal > 0 && elapsed(e.lastuse(), now) >= ENTRY_TIMEOUT_S {
                goal -= 1;
                false
            } else {
                true
            }
        });
    }

    /// The live entry for `addr`, dropping it if it has expired.
    fn live(&mut self, addr: u32, now: u32) -> Option<&mut E> {
        if self
            .map
            .get(&addr)
            .is_some_and(|e| elapsed(e.lastuse(), now) >= EXPIRATION_S)
        {
            self.map.remove(&addr);
        }
        self.map.get_mut(&addr)
    }

    /// Calls `f` with the servers of the entries not expired at the latest
    /// pick's time (an expired one is never used again, [`Cache::live`]).
    fn cached_ids(&self, mut f: impl FnMut(u32)) {
        let now = self.seen;
        for e in self.map.values() {
            if elapsed(e.lastuse(), now) < EXPIRATION_S {
                e.ids(&mut f);
            }
        }
    }

    fn insert(&mut self, addr: u32, e: E) {
        if self.map.len() < HARD_MAX_ENTRIES || self.map.contains_key(&addr) {
            self.map.insert(addr, e);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic aborts the process (release profile), so poison carries no news.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Debug)]
struct One {
    dest: DestRef,
    lastuse: u32,
}

impl Entry for One {
    fn lastuse(&self) -> u32 {
        self.lastuse
    }
    fn ids(&self, f: &mut dyn FnMut(u32)) {
        f(self.dest.id());
    }
}

/// `lblc`: one server per destination address.
#[derive(Debug, Default)]
pub struct Lblc(Mutex<Cache<One>>);

impl Lblc {
    /// The cached server of the destination if it is available and not
    /// overloaded in the locality sense (see [`lb_overloaded`]); otherwise
    /// `wlc`'s choice, which becomes the destination's server.
    ///
    /// The kernel keeps using a cached server that reached its upper
    /// threshold (`IP_VS_DEST_F_OVERLOAD`); here such a server is left, as
    /// every other scheduler leaves it.
    pub fn pick<C: Candidate>(&self, flow: &Flow, dests: &[C]) -> Option<usize> {
        let now = flow.now_s;
        let mut c = lock(&self.0);
        c.collect(now);
        if let Some(e) = c.live(flow.vaddr, now) {
            e.lastuse = now;
            if let Some(d) = e.dest.find(dests)
                && available(&dests[d])
                && !lb_overloaded(&dests[d], dests)
            {
                return Some(d);
            }
        }
        let d = least_weighted(dests, overhead)?;
        c.insert(
            flow.vaddr,
            One {
                dest: DestRef::of(dests, d),
                lastuse: now,
            },
        );
        Some(d)
    }

    /// Destinations remembered (for tests and stats).
    pub fn len(&self) -> usize {
        lock(&self.0).map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The servers the live entries name (see `SchedState::cached_ids`).
    pub fn cached_ids(&self, f: impl FnMut(u32)) {
        lock(&self.0).cached_ids(f);
    }
}

#[derive(Debug)]
struct Set {
    /// Members, the most recently added first (the kernel adds at the head).
    dests: Vec<DestRef>,
    /// When a member was last added or removed.
    lastmod: u32,
    lastuse: u32,
}

impl Entry for Set {
    fn lastuse(&self) -> u32 {
        self.lastuse
    }
    fn ids(&self, f: &mut dyn FnMut(u32)) {
        self.dests.iter().for_each(|d| f(d.id()));
    }
}

impl Set {
    /// The member with the least overhead / weight among available ones; the
    /// first in set order on ties.
    fn min<C: Candidate>(&mut self, dests: &[C]) -> Option<usize> {
        let mut best: Option<(usize, u64, u32)> = None;
        for d in self.dests.iter_mut().filter_map(|m| m.find(dests)) {
            let Some(x) = dests.get(d).filter(|x| available(*x)) else {
                continue;
            };
            let (h, w) = (overhead(x), x.weight());
            match best {
                Some((_, bh, bw))
                    if u128::from(bh) * u128::from(w) <= u128::from(h) * u128::from(bw) => {}
                _ => best = Some((d, h, w)),
            }
        }
        best.map(|(d, _, _)| d)
    }

    /// The member with the most overhead / weight among those with a weight
    /// (overloaded ones included); the first in set order on ties.
    fn max<C: Candidate>(&mut self, dests: &[C]) -> Option<usize> {
        let mut best: Option<(usize, u64, u32)> = None;
        for d in self.dests.iter_mut().filter_map(|m| m.find(dests)) {
            let Some(x) = dests.get(d).filter(|x| x.weight() > 0) else {
                continue;
            };
            let (h, w) = (overhead(x), x.weight());
            match best {
                Some((_, bh, bw))
                    if u128::from(bh) * u128::from(w) >= u128::from(h) * u128::from(bw) => {}
                _ => best = Some((d, h, w)),
            }
        }
        best.map(|(d, _, _)| d)
    }

    /// Adds server `d`; members whose server was removed leave the set now.
    fn add<C: Candidate>(&mut self, dests: &[C], d: usize, now: u32) {
        self.dests.retain_mut(|m| m.find(dests).is_some());
        if !self.dests.iter_mut().any(|m| m.find(dests) == Some(d)) {
            self.dests.insert(0, DestRef::of(dests, d));
            self.lastmod = now;
        }
    }

    /// Removes server `d` (found by [`Set::max`], so its hint is current).
    fn remove<C: Candidate>(&mut self, dests: &[C], d: usize) {
        self.dests.retain_mut(|m| m.find(dests) != Some(d));
    }
}

/// `lblcr`: a set of servers per destination address.
#[derive(Debug, Default)]
pub struct Lblcr(Mutex<Cache<Set>>);

impl Lblcr {
    /// The least loaded available member of the destination's set, unless it
    /// is overloaded in the locality sense (or there is none): then `wlc`'s
    /// choice, which joins the set. A set of several members that has not
    /// changed for [`EXPIRATION_S`] loses its most loaded member.
    pub fn pick<C: Candidate>(&self, flow: &Flow, dests: &[C]) -> Option<usize> {
        let now = flow.now_s;
        let mut c = lock(&self.0);
        c.collect(now);
        if let Some(e) = c.live(flow.vaddr, now) {
            e.lastuse = now;
            let min = e.min(dests);
            if e.dests.len() > 1
                && elapsed(e.lastmod, now) > EXPIRATION_S
                && let Some(m) = e.max(dests)
            {
                e.remove(dests, m);
                e.lastmod = now;
            }
            if let Some(d) = min.filter(|&d| !lb_overloaded(&dests[d], dests)) {
                return Some(d);
            }
            let d = least_weighted(dests, overhead)?;
            e.add(dests, d, now);
            return Some(d);
        }
        let d = least_weighted(dests, overhead)?;
        c.insert(
            flow.vaddr,
            Set {
                dests: vec![DestRef::of(dests, d)],
                lastmod: now,
                lastuse: now,
            },
        );
        Some(d)
    }

    /// Destinations remembered (for tests and stats).
    pub fn len(&self) -> usize {
        lock(&self.0).map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The servers the live entries' sets name (see
    /// `SchedState::cached_ids`).
    pub fn cached_ids(&self, f: impl FnMut(u32)) {
        lock(&self.0).cached_ids(f);
    }

    /// The server set of a destination, most recently added first, as the
    /// indices the members had when last used.
    pub fn set_of(&self, vaddr: u32) -> Vec<usize> {
        lock(&self.0)
            .map
            .get(&vaddr)
            .map(|e| e.dests.iter().map(DestRef::hint).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod test {
    use super::super::testing::*;
    use super::*;

    fn to(vaddr: u32, now_s: u32) -> Flow {
        Flow {
            client: 0x6440_0001,
            cport: 40_000,
            vaddr,
            vport: 80,
            now_s,
        }
    }

    /// Servers in the kernel's list order, as the tests below read them:
    /// `newest_first(&[1, 1, 2])` adds the weight-2 server first, so the
    /// kernel's list (newest first, `__ip_vs_update_dest`) is 1, 1, 2, and
    /// `k(&d, i)` is the index of its `i`th entry.
    fn newest_first(weights: &[u32]) -> Vec<D> {
        let rev: Vec<u32> = weights.iter().rev().copied().collect();
        servers(&rev)
    }

    fn k(d: &[D], i: usize) -> usize {
        super::super::kernel_index(i, d.len())
    }

    fn at(d: &mut [D], i: usize) -> &mut D {
        let n = k(d, i);
        &mut d[n]
    }

    const A: u32 = 0x0808_0808;
    const B: u32 = 0x0101_0101;

    #[test]
    fn lblc_sticks_and_new_destinations_go_to_the_least_loaded() {
        let mut d = newest_first(&[1, 1, 1]);
        let s = Lblc::default();
        assert_eq!(s.pick(&to(A, 0), &d), Some(k(&d, 0)));
        // Server 0 busier (but not over its weight): A stays, B goes elsewhere.
        at(&mut d, 0).act = 1;
        at(&mut d, 1).inact = 3;
        assert_eq!(s.pick(&to(A, 1), &d), Some(k(&d, 0)));
        assert_eq!(s.pick(&to(B, 1), &d), Some(k(&d, 2)));
        assert_eq!(s.pick(&to(B, 2), &d), Some(k(&d, 2)));
        assert_eq!(s.len(), 2);
        // Weights count (wlc): 1 of 4 weighs less than 1 of 1.
        let mut d = newest_first(&[1, 4]);
        at(&mut d, 0).act = 1;
        at(&mut d, 1).act = 1;
        assert_eq!(Lblc::default().pick(&to(A, 0), &d), Some(k(&d, 1)));
        assert_eq!(
            Lblc::default().pick(&to(A, 0), &newest_first(&[0, 0])),
            None
        );
    }

    #[test]
    fn lblc_moves_when_overloaded() {
        let mut d = newest_first(&[1, 1, 2]);
        let s = Lblc::default();
        assert_eq!(s.pick(&to(A, 0), &d), Some(k(&d, 0)));
        // Over its weight, but nobody is under half of theirs: stays.
        at(&mut d, 0).act = 5;
        at(&mut d, 1).act = 1;
        at(&mut d, 2).act = 1;
        assert_eq!(s.pick(&to(A, 1), &d), Some(k(&d, 0)));
        // Server 2 under half its weight: A moves (to the wlc choice) and stays.
        at(&mut d, 2).act = 0;
        assert_eq!(s.pick(&to(A, 2), &d), Some(k(&d, 2)));
        at(&mut d, 0).act = 0;
        assert_eq!(s.pick(&to(A, 3), &d), Some(k(&d, 2)));
        // Quiesced or over its threshold: moves too.
        at(&mut d, 2).w = 0;
        assert_eq!(s.pick(&to(A, 4), &d), Some(k(&d, 0)));
        at(&mut d, 0).over = true;
        assert_eq!(s.pick(&to(A, 5), &d), Some(k(&d, 1)));
    }

    #[test]
    fn lblc_entries_expire() {
        let mut d = newest_first(&[1, 1]);
        let s = Lblc::default();
        assert_eq!(s.pick(&to(A, 100), &d), Some(k(&d, 0)));
        at(&mut d, 0).inact = 1;
        // Each use refreshes it.
        assert_eq!(s.pick(&to(A, 100 + EXPIRATION_S - 1), &d), Some(k(&d, 0)));
        let t = 100 + 2 * EXPIRATION_S - 2;
        assert_eq!(s.pick(&to(A, t), &d), Some(k(&d, 0)));
        // Unused for the expiration time: forgotten, scheduled afresh.
        assert_eq!(s.pick(&to(A, t + EXPIRATION_S), &d), Some(k(&d, 1)));
        // A worker whose clock lags a second does not see it as ancient.
        assert_eq!(s.pick(&to(A, t + EXPIRATION_S - 1), &d), Some(k(&d, 1)));
    }

    #[test]
    fn lblc_garbage_collection() {
        let d = servers(&[1]);
        let s = Lblc::default();
        for v in 0..10 {
            s.pick(&to(v, 0), &d);
        }
        // The full pass runs on the 30th check after a day: the ten go.
        for k in 0..30 {
            s.pick(&to(A, EXPIRATION_S + 60 * k), &d);
        }
        assert_eq!(s.len(), 1);
        // Over-full: entries idle 6 minutes are collected, (excess * 4/3).
        let s = Lblc::default();
        let n = MAX_ENTRIES as u32 + 300;
        for v in 0..n {
            s.pick(&to(v, 0), &d);
        }
        assert_eq!(s.len(), n as usize);
        s.pick(&to(A, ENTRY_TIMEOUT_S + 1), &d);
        assert_eq!(s.len(), n as usize - 400 + 1);
    }

    #[test]
    fn lblc_cache_is_bounded() {
        let d = servers(&[1, 1]);
        let s = Lblc::default();
        for v in 0..HARD_MAX_ENTRIES as u32 + 10 {
            assert!(s.pick(&to(v, 0), &d).is_some());
        }
        assert_eq!(s.len(), HARD_MAX_ENTRIES);
    }

    #[test]
    fn lblcr_set_grows_under_overload_and_shrinks_after_expiration() {
        let mut d = newest_first(&[1, 1, 2]);
        let s = Lblcr::default();
        assert_eq!(s.pick(&to(A, 0), &d), Some(k(&d, 0)));
        assert_eq!(s.set_of(A), [k(&d, 0)]);
        // Sticks while not overloaded.
        at(&mut d, 0).act = 1;
        assert_eq!(s.pick(&to(A, 1), &d), Some(k(&d, 0)));
        // A new destination: the least loaded (idle 1 and 2 tie: the first).
        assert_eq!(s.pick(&to(B, 1), &d), Some(k(&d, 1)));
        // Over its weight while server 2 is under half of its own: a server is
        // added to A's set (wlc picks 1: 0/1 ties 0/2, the first).
        at(&mut d, 0).act = 3;
        assert_eq!(s.pick(&to(A, 10), &d), Some(k(&d, 1)));
        assert_eq!(s.set_of(A), [k(&d, 1), k(&d, 0)]);
        // The least loaded member of the set serves it now.
        at(&mut d, 1).act = 1;
        at(&mut d, 0).act = 0;
        at(&mut d, 0).inact = 1;
        assert_eq!(s.pick(&to(A, 11), &d), Some(k(&d, 0)));
        at(&mut d, 0).inact = 0;
        at(&mut d, 0).act = 1;
        assert_eq!(
            s.pick(&to(A, 12), &d),
            Some(k(&d, 1)),
            "tie: newest member first"
        );
        // Unchanged for the expiration time: the most loaded member is dropped.
        at(&mut d, 0).act = 3;
        at(&mut d, 1).act = 0;
        s.pick(&to(A, 10 + EXPIRATION_S - 5), &d);
        assert_eq!(s.set_of(A), [k(&d, 1), k(&d, 0)]);
        assert_eq!(s.pick(&to(A, 11 + EXPIRATION_S), &d), Some(k(&d, 1)));
        assert_eq!(s.set_of(A), [k(&d, 1)]);
        // Every member unavailable: a new one joins.
        at(&mut d, 1).over = true;
        at(&mut d, 0).act = 0;
        assert_eq!(s.pick(&to(A, 12 + EXPIRATION_S), &d), Some(k(&d, 0)));
        assert_eq!(s.set_of(A), [k(&d, 0), k(&d, 1)]);
        for x in &mut d {
            x.w = 0;
        }
        assert_eq!(s.pick(&to(A, 13 + EXPIRATION_S), &d), None);
    }

    /// The servers the caches name for the trash (`SchedState::cached_ids`):
    /// every live entry's (every member of an `lblcr` set), not those of
    /// entries expired at the latest pick's time, which no pick uses again,
    /// as the kernel's full check has dropped them (`lblc_expiration`).
    #[test]
    fn the_caches_name_the_servers_of_their_live_entries() {
        let mut d = newest_first(&[1, 1, 2]);
        let n = |s: &Lblc| {
            let mut n = 0;
            s.cached_ids(|_| n += 1);
            n
        };
        let s = Lblc::default();
        s.pick(&to(A, 0), &d);
        s.pick(&to(B, 10), &d);
        assert_eq!(n(&s), 2);
        s.pick(&to(0x0202_0202, EXPIRATION_S + 10), &d);
        assert_eq!(n(&s), 1, "A's and B's expired");
        let r = Lblcr::default();
        let m = |r: &Lblcr| {
            let mut n = 0;
            r.cached_ids(|_| n += 1);
            n
        };
        r.pick(&to(A, 0), &d);
        at(&mut d, 0).act = 3;
        r.pick(&to(A, 10), &d);
        assert_eq!((r.set_of(A).len(), m(&r)), (2, 2), "both members");
        r.pick(&to(B, 10 + EXPIRATION_S), &d);
        assert_eq!(m(&r), 1, "A's set expired");
    }

    #[test]
    fn lblcr_entries_expire() {
        let mut d = newest_first(&[1, 1]);
        let s = Lblcr::default();
        assert_eq!(s.pick(&to(A, 0), &d), Some(k(&d, 0)));
        at(&mut d, 0).inact = 1;
        assert_eq!(s.pick(&to(A, EXPIRATION_S - 1), &d), Some(k(&d, 0)));
        assert_eq!(s.pick(&to(A, 2 * EXPIRATION_S - 1), &d), Some(k(&d, 1)));
        assert_eq!(s.set_of(A), [k(&d, 1)]);
    }
}
