//! Locality-based schedulers: `lblc` and `lblcr`. Both remember, per
//! destination address of the packet (the whole address,
//! `Flow::vaddr_wide`: the address a cache cluster is asked for), which server (`lblc`) or set of servers (`lblcr`)
//! it went to, and keep sending it there until that server is overloaded.
//!
//! The cache is shared by every worker behind a [`Mutex`], taken once per new
//! connection of these two schedulers only (never per packet, never for other
//! schedulers); the kernel serialises the same updates with `svc->sched_lock`.
//! The critical section is a hash lookup (and the counts of the entry's
//! servers, [`Holds`]) and, on a miss, one `wlc` pass over the servers;
//! once a minute (on the clock the picks bring) it also does the
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
//! servers' ids in the trash (`Lblc::holds`, asked by the control thread's
//! sweep), so a server removed and added back is the same one here.
//!
//! What the entries hold is counted as they change, as the kernel's dest
//! reference count is (`ip_vs_dest_hold` when an entry or set member takes
//! the dest, `ip_vs_dest_put_and_free` in `ip_vs_lblc_rcu_free`,
//! `ip_vs_lblcr_elem_rcu_free` when it goes): per server id, the entries
//! (`lblcr`: the set members) naming it and the latest last use among them
//! ([`Holds`]), kept under the cache's lock by the pick that changes an
//! entry. The sweep's question then costs one lookup per kept id under the
//! lock, never a walk of a cache of up to [`HARD_MAX_ENTRIES`] entries that
//! would stall the workers scheduling on the service.
//! An entry past its expiry but not yet collected holds nothing (no pick
//! uses it again, [`Cache::live`]); the count knows when the newest entry
//! naming a server expires, not when each older one does, so an id stays
//! held until [`EXPIRATION_S`] after the latest use of an entry that named
//! it: when that entry left (collected, replaced, its member dropped) while
//! older ones remain, it is held longer than they live, never shorter
//! (conservative; a trashed server is then freed later, at worst one
//! expiration after that latest use).

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

/// Of one server id: the entries naming it, and the latest last use of any
/// entry that has named it since the count was last 0.
#[derive(Clone, Copy, Debug)]
struct Hold {
    n: u32,
    latest: u32,
}

/// The servers the cache's entries name, counted (see the module doc).
#[derive(Debug, Default)]
struct Holds(HashMap<u32, Hold>);

impl Holds {
    /// An entry used at `now` names `id` from now on.
    fn take(&mut self, id: u32, now: u32) {
        let h = self.0.entry(id).or_insert(Hold { n: 0, latest: now });
        h.n = h.n.saturating_add(1);
        if elapsed(h.latest, now) > 0 {
            h.latest = now;
        }
    }

    /// An entry naming `id` was used at `now`.
    fn touch(&mut self, id: u32, now: u32) {
        if let Some(h) = self.0.get_mut(&id)
            && elapsed(h.latest, now) > 0
        {
            h.latest = now;
        }
    }

    /// An entry naming `id` left, or no longer names it.
    fn release(&mut self, id: u32) {
        if let Some(h) = self.0.get_mut(&id) {
            h.n = h.n.saturating_sub(1);
            if h.n == 0 {
                self.0.remove(&id);
            }
        }
    }

    /// Whether some entry naming `id` may be live at `now`: one is if the
    /// latest use is less than [`EXPIRATION_S`] before `now`, none is
    /// otherwise.
    fn holds(&self, id: u32, now: u32) -> bool {
        self.0
            .get(&id)
            .is_some_and(|h| h.n > 0 && elapsed(h.latest, now) < EXPIRATION_S)
    }
}

/// A cache key: the destination address whole ([`Flow::vaddr_wide`]), as
/// the kernel compares it (`ip_vs_lblc_get`: `ip_vs_addr_equal`), two IPv6
/// addresses of the same 32-bit fold being two entries. Four words, not a
/// `u128`, whose 16-byte alignment would pad every entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key([u32; 4]);

impl Key {
    fn of(a: u128) -> Self {
        Key([
            (a >> 96) as u32,
            (a >> 64) as u32,
            (a >> 32) as u32,
            a as u32,
        ])
    }
}

/// The cache and its collection clock.
#[derive(Debug)]
struct Cache<E> {
    map: HashMap<Key, E>,
    /// The servers `map`'s entries name.
    holds: Holds,
    /// When the collection last ran (`None` before the first pick).
    last_check: Option<u32>,
    /// Checks since the last full pass (the kernel's `counter`).
    counter: u32,
    /// The latest time a pick brought (the cache's clock, for
    /// [`Cache::holds`]).
    seen: u32,
}

impl<E> Default for Cache<E> {
    fn default() -> Self {
        Self {
            map: HashMap::new(),
            holds: Holds::default(),
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
        let holds = &mut self.holds;
        if self.counter.is_multiple_of(FULL_CHECK_EVERY) {
            self.map.retain(|_, e| {
                let keep = elapsed(e.lastuse(), now) < EXPIRATION_S;
                if !keep {
                    e.ids(&mut |id| holds.release(id));
                }
                keep
            });
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
                e.ids(&mut |id| holds.release(id));
                false
            } else {
                true
            }
        });
    }

    /// The live entry for `addr`, dropping it if it has expired, with the
    /// counts a change of its servers or its use must keep (see [`Holds`]).
    fn live(&mut self, addr: Key, now: u32) -> Option<(&mut E, &mut Holds)> {
        if self
            .map
            .get(&addr)
            .is_some_and(|e| elapsed(e.lastuse(), now) >= EXPIRATION_S)
            && let Some(e) = self.map.remove(&addr)
        {
            e.ids(&mut |id| self.holds.release(id));
        }
        let holds = &mut self.holds;
        self.map.get_mut(&addr).map(|e| (e, holds))
    }

    /// Whether an entry not expired at the latest pick's time may name
    /// server `id` (an expired one is never used again, [`Cache::live`]);
    /// see the module doc for when it says so of expired ones.
    fn holds(&self, id: u32) -> bool {
        self.holds.holds(id, self.seen)
    }

    fn insert(&mut self, addr: Key, e: E) {
        if self.map.len() < HARD_MAX_ENTRIES || self.map.contains_key(&addr) {
            let now = e.lastuse();
            e.ids(&mut |id| self.holds.take(id, now));
            if let Some(old) = self.map.insert(addr, e) {
                old.ids(&mut |id| self.holds.release(id));
            }
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
        if let Some((e, holds)) = c.live(Key::of(flow.vaddr_wide), now) {
            e.lastuse = now;
            if let Some(d) = e.dest.find(dests)
                && available(&dests[d])
                && !lb_overloaded(&dests[d], dests)
            {
                holds.touch(e.dest.id(), now);
                return Some(d);
            }
            let Some(d) = least_weighted(dests, overhead) else {
                holds.touch(e.dest.id(), now);
                return None;
            };
            // The entry goes to `wlc`'s choice (`c.insert` would replace it).
            holds.release(e.dest.id());
            e.dest = DestRef::of(dests, d);
            holds.take(e.dest.id(), now);
            return Some(d);
        }
        let d = least_weighted(dests, overhead)?;
        c.insert(
            Key::of(flow.vaddr_wide),
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

    /// Calls `held` with each of `ids` a live entry may name (see
    /// `SchedState::holds`), the lock taken once.
    pub fn holds(&self, ids: impl IntoIterator<Item = u32>, held: impl FnMut(u32)) {
        let c = lock(&self.0);
        ids.into_iter().filter(|&id| c.holds(id)).for_each(held);
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
    fn add<C: Candidate>(&mut self, dests: &[C], d: usize, now: u32, holds: &mut Holds) {
        self.dests.retain_mut(|m| {
            let keep = m.find(dests).is_some();
            if !keep {
                holds.release(m.id());
            }
            keep
        });
        if !self.dests.iter_mut().any(|m| m.find(dests) == Some(d)) {
            let m = DestRef::of(dests, d);
            holds.take(m.id(), now);
            self.dests.insert(0, m);
            self.lastmod = now;
        }
    }

    /// Removes server `d` (found by [`Set::max`], so its hint is current).
    fn remove<C: Candidate>(&mut self, dests: &[C], d: usize, holds: &mut Holds) {
        self.dests.retain_mut(|m| {
            let keep = m.find(dests) != Some(d);
            if !keep {
                holds.release(m.id());
            }
            keep
        });
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
        if let Some((e, holds)) = c.live(Key::of(flow.vaddr_wide), now) {
            e.lastuse = now;
            let min = e.min(dests);
            if e.dests.len() > 1
                && elapsed(e.lastmod, now) > EXPIRATION_S
                && let Some(m) = e.max(dests)
            {
                e.remove(dests, m, holds);
                e.lastmod = now;
            }
            let d = match min.filter(|&d| !lb_overloaded(&dests[d], dests)) {
                Some(d) => Some(d),
                None => least_weighted(dests, overhead).inspect(|&d| e.add(dests, d, now, holds)),
            };
            // Used now: every member it still has.
            e.dests.iter().for_each(|m| holds.touch(m.id(), now));
            return d;
        }
        let d = least_weighted(dests, overhead)?;
        c.insert(
            Key::of(flow.vaddr_wide),
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

    /// Calls `held` with each of `ids` a live entry's set may name (see
    /// `SchedState::holds`), the lock taken once.
    pub fn holds(&self, ids: impl IntoIterator<Item = u32>, held: impl FnMut(u32)) {
        let c = lock(&self.0);
        ids.into_iter().filter(|&id| c.holds(id)).for_each(held);
    }

    /// The server set of a destination, most recently added first, as the
    /// indices the members had when last used.
    pub fn set_of(&self, vaddr: u128) -> Vec<usize> {
        lock(&self.0)
            .map
            .get(&Key::of(vaddr))
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
            vaddr_wide: u128::from(vaddr),
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
        agrees(&lock(&s.0));
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
        assert_eq!(s.set_of(A.into()), [k(&d, 0)]);
        // Sticks while not overloaded.
        at(&mut d, 0).act = 1;
        assert_eq!(s.pick(&to(A, 1), &d), Some(k(&d, 0)));
        // A new destination: the least loaded (idle 1 and 2 tie: the first).
        assert_eq!(s.pick(&to(B, 1), &d), Some(k(&d, 1)));
        // Over its weight while server 2 is under half of its own: a server is
        // added to A's set (wlc picks 1: 0/1 ties 0/2, the first).
        at(&mut d, 0).act = 3;
        assert_eq!(s.pick(&to(A, 10), &d), Some(k(&d, 1)));
        assert_eq!(s.set_of(A.into()), [k(&d, 1), k(&d, 0)]);
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
        assert_eq!(s.set_of(A.into()), [k(&d, 1), k(&d, 0)]);
        assert_eq!(s.pick(&to(A, 11 + EXPIRATION_S), &d), Some(k(&d, 1)));
        assert_eq!(s.set_of(A.into()), [k(&d, 1)]);
        // Every member unavailable: a new one joins.
        at(&mut d, 1).over = true;
        at(&mut d, 0).act = 0;
        assert_eq!(s.pick(&to(A, 12 + EXPIRATION_S), &d), Some(k(&d, 0)));
        assert_eq!(s.set_of(A.into()), [k(&d, 0), k(&d, 1)]);
        for x in &mut d {
            x.w = 0;
        }
        assert_eq!(s.pick(&to(A, 13 + EXPIRATION_S), &d), None);
    }

    /// Servers as [`newest_first`], with ids 1, 2, ... in that list's order.
    fn with_ids(weights: &[u32]) -> Vec<D> {
        let mut d = newest_first(weights);
        for (i, x) in d.iter_mut().enumerate() {
            x.id = i as u32 + 1;
        }
        d
    }

    /// Of ids 1 to 8, those the cache says its entries hold.
    fn held(holds: impl FnOnce(std::ops::RangeInclusive<u32>, &mut dyn FnMut(u32))) -> Vec<u32> {
        let mut v = Vec::new();
        holds(1..=8, &mut |id| v.push(id));
        v.sort_unstable();
        v
    }

    fn held_lblc(s: &Lblc) -> Vec<u32> {
        held(|ids, f| s.holds(ids, f))
    }

    fn held_lblcr(s: &Lblcr) -> Vec<u32> {
        held(|ids, f| s.holds(ids, f))
    }

    /// The servers the caches hold for the trash (`SchedState::holds`):
    /// every live entry's (every member of an `lblcr` set), not those of
    /// entries expired at the latest pick's time, which no pick uses again,
    /// as the kernel's full check has dropped them (`lblc_expiration`).
    #[test]
    fn the_caches_name_the_servers_of_their_live_entries() {
        let mut d = with_ids(&[1, 1, 2]);
        let id = |d: &[D], i: Option<usize>| d[i.expect("scheduled")].id;
        let s = Lblc::default();
        let a = s.pick(&to(A, 0), &d);
        d[a.expect("scheduled")].act = 1;
        let b = s.pick(&to(B, 10), &d);
        let (a, b) = (id(&d, a), id(&d, b));
        assert_ne!(a, b);
        assert_eq!(held_lblc(&s), [a.min(b), a.max(b)]);
        for x in &mut d {
            if x.id == a || x.id == b {
                x.act = 1;
            }
        }
        let c = s.pick(&to(0x0202_0202, EXPIRATION_S + 10), &d);
        let c = id(&d, c);
        assert_eq!(s.len(), 3, "not collected yet");
        assert_eq!(held_lblc(&s), [c], "A's and B's expired");
        let mut d = with_ids(&[1, 1, 2]);
        let r = Lblcr::default();
        r.pick(&to(A, 0), &d);
        at(&mut d, 0).act = 3;
        r.pick(&to(A, 10), &d);
        let set: Vec<u32> = r.set_of(A.into()).iter().map(|&i| d[i].id).collect();
        assert_eq!(set.len(), 2, "both members");
        assert_eq!(held_lblcr(&r), [set[0].min(set[1]), set[0].max(set[1])]);
        let b = r.pick(&to(B, 10 + EXPIRATION_S), &d);
        assert_eq!(
            held_lblcr(&r),
            [d[b.expect("scheduled")].id],
            "A's set expired"
        );
    }

    /// The counts the picks keep ([`Holds`]) against a walk of the cache:
    /// each id's count is the number of entries (set members) naming it,
    /// no latest use is older than an entry's, and the answer holds every
    /// id a live entry names and none no entry names.
    fn agrees<E: Entry>(c: &Cache<E>) {
        let mut walk: HashMap<u32, (u32, bool)> = HashMap::new();
        for e in c.map.values() {
            let live = elapsed(e.lastuse(), c.seen) < EXPIRATION_S;
            e.ids(&mut |id| {
                let w = walk.entry(id).or_default();
                w.0 += 1;
                w.1 |= live;
                let latest = c.holds.0.get(&id).map(|h| h.latest);
                assert_eq!(latest.map(|l| elapsed(l, e.lastuse())), Some(0), "{id}");
            });
        }
        let counts: HashMap<u32, u32> = c.holds.0.iter().map(|(&id, h)| (id, h.n)).collect();
        let walked: HashMap<u32, u32> = walk.iter().map(|(&id, w)| (id, w.0)).collect();
        assert_eq!(counts, walked);
        for id in 0..=8 {
            let (n, live) = walk.get(&id).copied().unwrap_or_default();
            let held = c.holds(id);
            assert!(held || !live, "{id} named by a live entry");
            assert!(!held || n > 0, "{id} named by no entry");
        }
    }

    #[derive(Clone, Copy, Debug)]
    enum Op {
        /// A new connection to destination `0` after `1` seconds, on a
        /// worker whose clock lags by `2` (0 or 1).
        Pick(u32, u32, u32),
        /// Server `0`'s active connections become `1`.
        Load(usize, u32),
        /// Server `0` is removed, or added back.
        Toggle(usize),
        /// Server `0` goes over its threshold, or back.
        Over(usize),
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        let step = prop_oneof![
            Just(0),
            Just(1),
            Just(CHECK_INTERVAL_S),
            Just(ENTRY_TIMEOUT_S),
            Just(EXPIRATION_S / 3),
            Just(EXPIRATION_S),
        ];
        prop_oneof![
            4 => (0..6u32, step, 0..2u32).prop_map(|(v, t, s)| Op::Pick(v, t, s)),
            1 => (0..4usize, 0..5u32).prop_map(|(i, a)| Op::Load(i, a)),
            1 => (0..4usize).prop_map(Op::Toggle),
            1 => (0..4usize).prop_map(Op::Over),
        ]
    }

    /// Runs `ops` on four servers, calling `pick` for each new connection
    /// and `check` after each operation.
    fn run(ops: &[Op], mut pick: impl FnMut(&Flow, &[D]), mut check: impl FnMut()) {
        let mut all = with_ids(&[1, 1, 2, 3]);
        let mut present = [true; 4];
        let mut t = 1000;
        for &o in ops {
            match o {
                Op::Pick(v, dt, skew) => {
                    t += dt;
                    let dests: Vec<D> = (0..4).filter(|&i| present[i]).map(|i| all[i]).collect();
                    pick(&to(v, t - skew), &dests);
                }
                Op::Load(i, a) => all[i].act = a,
                Op::Toggle(i) => present[i] = !present[i],
                Op::Over(i) => all[i].over = !all[i].over,
            }
            check();
        }
    }

    /// After any picks, expiries, collections, removals and re-adds of
    /// servers, the counts the held answer reads agree with a walk of the
    /// cache (see [`agrees`]).
    #[test]
    fn the_held_counts_agree_with_a_walk_of_the_cache() {
        use proptest::prelude::*;
        proptest!(|(ops in proptest::collection::vec(op(), 1..200))| {
            let s = Lblc::default();
            run(&ops, |f, d| { s.pick(f, d); }, || agrees(&lock(&s.0)));
            let r = Lblcr::default();
            run(&ops, |f, d| { r.pick(f, d); }, || agrees(&lock(&r.0)));
        });
    }

    #[test]
    fn lblcr_entries_expire() {
        let mut d = newest_first(&[1, 1]);
        let s = Lblcr::default();
        assert_eq!(s.pick(&to(A, 0), &d), Some(k(&d, 0)));
        at(&mut d, 0).inact = 1;
        assert_eq!(s.pick(&to(A, EXPIRATION_S - 1), &d), Some(k(&d, 0)));
        assert_eq!(s.pick(&to(A, 2 * EXPIRATION_S - 1), &d), Some(k(&d, 1)));
        assert_eq!(s.set_of(A.into()), [k(&d, 1)]);
    }
}
