//! The workers' once-a-second sweep of the persistence templates
//! (`nat::persist`): each worker sweeps a share of the shards a second,
//! dropping the templates that went and handing over to a sync master
//! those re-armed because connections still use them (IPVS's
//! `expire_later` in `ip_vs_conn_expire`, `ip_vs_conn.c`, which calls
//! `ip_vs_sync_conn`); while one reports, it takes in the other shards
//! due by then, half a round away from its share first.

use super::link::free_slot;
use super::{Rearmed, Shard, TEMPLATE_SHARDS, Templates};
use crate::config::DestId;
use crate::nat::Addr;
use std::sync::TryLockError;
use std::sync::atomic::Ordering::Relaxed;

impl<A: Addr> Shard<A> {
    /// Sweep one shard ([`Templates::sweep_reporting`]); returns when it is
    /// due next: the first end of a template that counts connections, or
    /// the next second for one re-armed that `rearmed` did not take.
    fn sweep(&mut self, now: u32, rearmed: &mut impl FnMut(Rearmed<A>) -> bool) -> u32 {
        let Shard {
            map,
            pe,
            calls,
            slots,
            vacant,
        } = self;
        let mut next = u32::MAX;
        map.retain(|k, t| {
            t.settle(now);
            // Whatever the rules say: a template of a service deleted, made
            // non-persistent or given another `-M` lives while it counts
            // connections and then its own timeout, as the kernel's
            // (`__ip_vs_del_service` leaves templates alone, and
            // `ip_vs_conn_expire` expires one by its timer and count).
            let keep = t.alive(now);
            if !keep {
                free_slot(slots, vacant, t.slot);
                if k.pe != 0 {
                    *pe -= 1;
                    calls.remove(k);
                }
            }
            if keep && t.rearmed {
                let r = Rearmed {
                    key: *k,
                    dest: t.dest,
                    assured: t.assured,
                };
                t.rearmed = !rearmed(r);
            }
            // A flushed one (`flush_gone`) waits for its last connection
            // only: no timer of its own.
            if keep && !t.flushed && (t.n_control > 0 || t.rearmed) {
                let at = if t.rearmed {
                    now.saturating_add(1)
                } else {
                    t.expires
                };
                next = next.min(at);
            }
            keep
        });
        next
    }
}

impl<A: Addr> Templates<A> {
    /// Drop the templates of shards `first..first + n` (wrapping) that
    /// expired: their time ran out and they count no connection, whatever
    /// the rules say of their service. Busy shards are skipped.
    pub fn sweep_by(&self, first: usize, n: usize, now: u32) {
        self.sweep_reporting((first, n, 0), now, |_| true);
    }

    /// [`Templates::sweep_by`], and run the timers of those it keeps up to
    /// `now` ([`Template::settle`](super::Template)): each one re-armed
    /// since the sweep last looked at it, because connections still use it
    /// (IPVS's `ip_vs_conn_expire`, `expire_later`), is handed to
    /// `rearmed`, which says whether it took it (a sync master reports it,
    /// as `expire_later` calls `ip_vs_sync_conn` for the template); one it
    /// did not take (a full report channel) is handed over again the next
    /// second.
    ///
    /// With a `budget` (templates, 0: none), the sweep then takes in other
    /// shards one of whose templates ran out by `now` while counting
    /// connections (`due`: a load each), in the order of the ring from
    /// `first + TEMPLATE_SHARDS / 2` (half a round from its share), while
    /// the templates they hold come to at most `budget`. A shard due is
    /// locked, waited for if busy (a shard's lock is held briefly; the
    /// sweep holds no other lock then), so that its report is not put off.
    /// Called once a second with `first` moving on by `n`, and a budget of
    /// `n` full shards at least, a shard due at second `d` is swept by
    /// `d + (TEMPLATE_SHARDS / 2 - 1) / n` (7 s for 4 shards): until the
    /// share reaches it, which it does within that if it is less than half
    /// a round ahead, it comes among the first `n` of that order within
    /// that if it is more. Taking them from the end of the share on lets
    /// the share sweep again the shards just taken in: up to 14 s with one
    /// worker (test `under_saturation_a_re_arm_waits_at_most_half_a_round`);
    /// so does taking the most overdue first (14 s in a simulation of the
    /// same load), however cheap the 64 loads of `due` are.
    pub fn sweep_reporting(
        &self,
        (first, n, mut budget): (usize, usize, usize),
        now: u32,
        mut rearmed: impl FnMut(Rearmed<A>) -> bool,
    ) {
        let is_due = |i: usize| self.due[i].load(Relaxed) <= now;
        for i in (first..first + n).map(|i| i % TEMPLATE_SHARDS) {
            let mut shard = match self.shards[i].try_lock() {
                Ok(shard) => self.locked(i, shard),
                // (As `lock`: in tests, go on with what a panic left.)
                Err(TryLockError::Poisoned(p)) => self.locked(i, p.into_inner()),
                Err(TryLockError::WouldBlock) if budget > 0 && is_due(i) => self.lock(i),
                Err(TryLockError::WouldBlock) => continue,
            };
            self.due[i].store(shard.sweep(now, &mut rearmed), Relaxed);
        }
        let start = first + TEMPLATE_SHARDS / 2;
        for i in (start..start + TEMPLATE_SHARDS).map(|i| i % TEMPLATE_SHARDS) {
            if budget == 0 {
                break;
            }
            let own = (i + TEMPLATE_SHARDS - first % TEMPLATE_SHARDS) % TEMPLATE_SHARDS < n;
            if own || !is_due(i) {
                continue;
            }
            let mut shard = self.lock(i);
            // Swept since it was found due (by another worker), or more
            // than is left of the budget.
            if !is_due(i) || shard.map.len() > budget {
                continue;
            }
            budget -= shard.map.len();
            self.due[i].store(shard.sweep(now, &mut rearmed), Relaxed);
        }
    }
}

impl<A: Addr> Templates<A> {
    /// Flush the templates of shard `i` whose real server `gone` says left
    /// the rules the workers run, with `--expire-nodest-conn`, as IPVS's
    /// `ip_vs_expire_nodest_conn_flush` (`ip_vs_conn.c`, queued by
    /// `__ip_vs_del_dest`, `ip_vs_ctl.c`) deletes a template whose dest is
    /// not available: one that counts no connection goes now; one that
    /// does (the workers flush its connections too, `dataplane/nodest.rs`)
    /// is used by no new connection or synced one, has no timer of its
    /// own, and goes once the last of them leaves, as the flush deletes
    /// the template of each connection it deletes. So a server added back
    /// with its id from the trash finds none of them. Returns how many
    /// went now. A lock of the shard, on the flush only.
    pub fn flush_gone(&self, i: usize, gone: impl Fn(DestId) -> bool) -> usize {
        let mut shard = self.lock(i % TEMPLATE_SHARDS);
        let Shard {
            map,
            pe,
            calls,
            slots,
            vacant,
        } = &mut *shard;
        let before = map.len();
        map.retain(|k, t| {
            if !gone(t.dest.id) {
                return true;
            }
            if t.n_control > 0 {
                // Not alive once it counts none (`Template::alive`).
                (t.flushed, t.expires, t.rearmed) = (true, 0, false);
                return true;
            }
            free_slot(slots, vacant, t.slot);
            if k.pe != 0 {
                *pe -= 1;
                calls.remove(k);
            }
            false
        });
        before - map.len()
    }
}

#[cfg(test)]
mod test {
    use super::super::test::{P, d, key};
    use super::*;
    use crate::nat::Persist;

    /// `--expire-nodest-conn`'s flush of templates whose server left the
    /// rules (`ip_vs_expire_nodest_conn_flush`): one that counts no
    /// connection goes now; one that does is used by no new connection or
    /// synced one (its server back with the same id, `valid` passes),
    /// outlives no timer, and goes with its last connection. Another
    /// server's stays.
    #[test]
    fn a_flushed_template_goes_now_or_with_its_last_connection() {
        let t = Templates::default();
        let (_, idle) = t
            .schedule(key(1 << 8), P, 0, |_| true, || Some(d(1)))
            .unwrap();
        t.release_at(idle, 1);
        let (_, held) = t
            .schedule(key(2 << 8), P, 0, |_| true, || Some(d(1)))
            .unwrap();
        t.schedule(key(3 << 8), P, 0, |_| true, || Some(d(2)))
            .unwrap();
        let gone = (0..TEMPLATE_SHARDS)
            .map(|i| t.flush_gone(i, |id| id == DestId(1)))
            .sum::<usize>();
        assert_eq!(gone, 1, "the idle one");
        assert_eq!(t.len(2), 2, "the held one, while it counts a connection");
        // Its server back: no synced connection adopts it; a new one gets
        // a new template in its place, which the old one's connection
        // does not uncount.
        assert_eq!(t.adopt(key(2 << 8), DestId(1), P.mask, 2), None);
        let (_, again) = t
            .schedule(key(2 << 8), P, 3, |_| true, || Some(d(1)))
            .unwrap();
        assert_ne!(again, held);
        t.release_at(held, 4);
        assert_eq!(t.len(4), 2);
        // Flushed with a connection and nothing else: gone with it, with
        // no re-arm past its timeout.
        let gone: usize = (0..TEMPLATE_SHARDS)
            .map(|i| t.flush_gone(i, |id| id == DestId(1)))
            .sum();
        assert_eq!((gone, t.len(400)), (0, 2));
        t.release_at(again, 401);
        assert_eq!(t.len(401), 1, "another server's stays");
        t.sweep_by(0, TEMPLATE_SHARDS, 401);
        assert_eq!(t.len(401), 1);
    }

    /// Saturation, as a probe of the sweep: every shard holds 60 templates
    /// that count a connection, one of them re-armed each second; one
    /// worker sweeps 4 shards a second and has room for 4 more. Each
    /// re-arm is handed over within `(TEMPLATE_SHARDS / 2 - 1) / 4` = 7 s
    /// of its mark (14 s when the shards due were taken from the end of
    /// the share on, which the share sweeps again the next seconds).
    #[test]
    fn under_saturation_a_re_arm_waits_at_most_half_a_round() {
        const N: usize = 4;
        const PER: u32 = 60;
        let p = Persist { timeout: 60, ..P };
        let t = Templates::default();
        let mut filled = [0u32; TEMPLATE_SHARDS];
        let mut made = vec![];
        for c in 1.. {
            if filled.iter().all(|&f| f == PER) {
                break;
            }
            let k = key(c << 8);
            let i = t.shard_of(&k);
            if filled[i] < PER {
                // Made at second j: its marks are at j + 60, j + 120, ...
                let j = filled[i];
                filled[i] += 1;
                t.schedule(k, p, j, |_| true, || Some(d(1))).unwrap();
                made.push((k, j));
            }
        }
        let (from, to) = (60, 60 + 600);
        let mut got = hashbrown::HashMap::<_, Vec<u32>>::new();
        for (s, now) in (from..to).enumerate() {
            let first = s * N % TEMPLATE_SHARDS;
            let budget = N * PER as usize;
            t.sweep_reporting((first, N, budget), now, |r| {
                got.entry(r.key).or_default().push(now);
                true
            });
        }
        // The first mark after `last`, for a template made at `j`.
        let mark = |j: u32, last: u32| j + 60 * ((last + 1 - j).div_ceil(60)).max(1);
        let (mut worst, warm) = (0, from + 2 * 16);
        for (k, j) in made {
            let mut last = from - 1;
            for &r in &got[&k] {
                let m = mark(j, last);
                assert!(m <= r, "handed over before its mark");
                if m >= warm {
                    worst = worst.max(r - m);
                }
                last = r;
            }
            // Nor one waiting at the end for longer.
            worst = worst.max((to - 1).saturating_sub(mark(j, last)));
        }
        let bound = (TEMPLATE_SHARDS / 2 - 1) as u32 / N as u32;
        assert!(worst <= bound, "{worst} s, more than {bound} s");
    }

    /// A reporting sweep waits for a shard of its share that another
    /// thread holds when it is due, where it would have skipped it and
    /// reported its re-arm a second late: a sweep of shards `i` and `i + 1`,
    /// the second held by the test from inside the first's report. The
    /// test holds it until the sweep finished or 200 ms passed: without
    /// the wait the sweep finishes, having skipped it (the pass over the
    /// shards due leaves its own share alone), and reports `a` alone.
    #[test]
    fn a_reporting_sweep_waits_for_a_busy_shard_due() {
        let t = Templates::default();
        let a = key(1);
        let ia = t.shard_of(&a);
        let ib = (ia + 1) % TEMPLATE_SHARDS;
        let b = (2..).map(|c| key(c << 8)).find(|k| t.shard_of(k) == ib);
        let b = b.unwrap();
        for k in [a, b] {
            t.schedule(k, P, 0, |_| true, || Some(d(1))).unwrap();
        }
        // A sweep of shards ia and ib, both due at 300.
        let (ask, asked) = std::sync::mpsc::channel();
        let (hold, held) = std::sync::mpsc::channel();
        let got = std::thread::scope(|s| {
            let t = &t;
            let sweeper = s.spawn(move || {
                let mut got = vec![];
                t.sweep_reporting((ia, 2, 1 << 16), 300, |r| {
                    if r.key == a {
                        // Under a's lock: b is taken by the test now.
                        ask.send(()).unwrap();
                        held.recv().unwrap();
                    }
                    got.push(r.key);
                    true
                });
                got
            });
            asked.recv().unwrap();
            let guard = t.lock(ib);
            hold.send(()).unwrap();
            let since = std::time::Instant::now();
            while !sweeper.is_finished() && since.elapsed().as_millis() < 200 {
                std::thread::yield_now();
            }
            drop(guard);
            sweeper.join().unwrap()
        });
        assert_eq!(got, [a, b]);
    }
}
