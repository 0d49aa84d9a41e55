//! Weighted round robin (`wrr`): the precomputed cycle of the kernel's walk
//! (`ip_vs_wrr.c` `ip_vs_wrr_schedule`), its picks, and where a new cycle
//! starts after a change (`ip_vs_wrr_dest_changed`). See the parent module
//! for how the state is kept and carried ([`SchedState::carry`]).

#[cfg(doc)]
use super::SchedState;
use super::{Candidate, MAX_WRR_CYCLE, available, gcd, kernel_index};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The next available server of the precomputed `wrr` cycle. Unavailable
/// entries are stepped over and the position advanced past them, so skipping
/// costs each entry once per cycle, not once per pick. With none available,
/// the kernel's walk (`ip_vs_wrr_schedule`, `err_over`) runs down its passes
/// and leaves its cursor at the top of the cycle, unless it began in the
/// last pass, where it stops where it began: so here. `picked` is set by
/// the first pick that moves `next`.
pub(super) fn wrr_pick<C: Candidate>(
    seq: &[u32],
    passes: &[u32],
    (next, picked): (&AtomicUsize, &AtomicBool),
    dests: &[C],
) -> Option<usize> {
    let len = seq.len();
    if len == 0 {
        return None;
    }
    if !dests.iter().any(available) {
        let n = next.load(Ordering::Relaxed);
        let last_pass = passes.last().map_or(0, |&p| p as usize);
        if n != 0 && (n - 1) % len < last_pass {
            next.store(0, Ordering::Relaxed);
        }
        return None;
    }
    // Past the chosen entry in one step, as `rr_pick` moves its position.
    let mut start = next.load(Ordering::Relaxed);
    loop {
        let at = |k: usize| seq[start.wrapping_add(k) % len] as usize;
        let k = (0..len).find(|&k| dests.get(at(k)).is_some_and(available))?;
        let past = start.wrapping_add(k + 1);
        if let Err(now) =
            next.compare_exchange_weak(start, past, Ordering::Relaxed, Ordering::Relaxed)
        {
            start = now;
            continue;
        }
        if !picked.load(Ordering::Relaxed) {
            picked.store(true, Ordering::Relaxed);
        }
        return Some(at(k));
    }
}

/// The servers' weights.
pub(super) fn weights<C: Candidate>(dests: &[C]) -> Vec<u32> {
    dests.iter().map(Candidate::weight).collect()
}

/// The weights' gcd and their highest over it, when their cycle is not
/// scaled down ([`MAX_WRR_CYCLE`]).
fn wrr_units(weights: &[u32]) -> Option<(u64, u64)> {
    let g = weights.iter().copied().filter(|&w| w > 0).fold(0, gcd);
    let scaled = weights.iter().map(|&w| u64::from(w / g.max(1)));
    let (total, max) = scaled.fold((0, 0), |(t, m), w| (t + w, w.max(m)));
    (g > 0 && total <= MAX_WRR_CYCLE as u64).then_some((u64::from(g), max))
}

/// Where a new `wrr` cycle (over `weights`, its passes `passes`) starts
/// after a change of servers or weights, as `ip_vs_wrr_dest_changed`
/// (`ip_vs_wrr.c`) leaves the kernel's walk: back at the head of the list
/// with its current weight `cw` kept (snapped to the new gcd `di` as
/// `(cw / di) * di + 1`). `next` is one past the position whose pass gives
/// `cw` in the old cycle (its length, passes and weights in `old`). From
/// the top (0) when either cycle is scaled down, the old one is empty (the
/// kernel's `cw` 0), or `cw` is above the new maximum (the kernel's
/// `cw > mw`).
pub(super) fn wrr_carry(
    next: usize,
    old: (usize, &[u32], Vec<u32>),
    weights: &[u32],
    passes: &[u32],
) -> usize {
    let (len, old_passes, old_weights) = old;
    let (Some((g0, m0)), Some(units)) = (wrr_units(&old_weights), wrr_units(weights)) else {
        return 0;
    };
    if next == 0 || len == 0 {
        return 0;
    }
    let last = (next - 1) % len;
    let pass = old_passes.partition_point(|&p| p as usize <= last);
    // The kernel's weights: `cw` runs (m - 1) * di + 1 down to 1 by di.
    let cw = (m0 - (pass as u64).saturating_sub(1)).saturating_sub(1) * g0 + 1;
    wrr_pass_at(cw, units, passes)
}

/// Where the pass of the kernel's current weight `cw` starts in a cycle of
/// weights' gcd and highest weight over it `(g, m)` ([`wrr_units`]), whose
/// passes start at `passes`, `cw` snapped to `g` as
/// `ip_vs_wrr_dest_changed` does; the top (0) when `cw` is above the
/// kernel's `mw` or 0.
fn wrr_pass_at(cw: u64, (g, m): (u64, u64), passes: &[u32]) -> usize {
    if cw == 0 || cw > (m - 1) * g + 1 {
        return 0;
    }
    let s = if g > 1 { cw / g + 1 } else { cw };
    let j = m.saturating_sub(s) as usize;
    passes.get(j).map_or(0, |&p| p as usize)
}

/// Where the `wrr` walk of a service made in one publish (`-R`, a
/// configuration file, a keepalived reload) starts: where the kernel's is
/// after its servers were added one by one, in list order, to the empty
/// service (`ip_vs_wrr_init_svc`: `cw` 0; each `ip_vs_wrr_dest_changed`:
/// `cw` = `mw` when above it or 0, else snapped to the new gcd as
/// `(cw / di) * di + 1`). The first server with a weight sets `cw` to its
/// `mw` alone, 1 (`max - (di - 1)` with `di` its weight), and every later
/// add keeps 1: the cycle's last pass, every server once, before the top.
pub(super) fn wrr_added_one_by_one(weights: &[u32], passes: &[u32]) -> usize {
    wrr_units(weights).map_or(0, |units| wrr_pass_at(1, units, passes))
}

/// One full cycle of IPVS's weighted round robin over `weights` (in the
/// order the servers were added; the walk goes the kernel's way, newest
/// first: [`kernel_index`]).
///
/// IPVS keeps a current weight `cw` that starts at the maximum weight and drops by
/// the weights' gcd each time the walk wraps; a server is chosen when its weight is
/// at least `cw`. The cycle repeats after `sum(w) / gcd` choices.
pub fn wrr_sequence(weights: &[u32]) -> Box<[u32]> {
    wrr_cycle(weights).0
}

/// The weights a cycle is built of: divided by their greatest common
/// divisor and, past [`MAX_WRR_CYCLE`] picks in all, scaled down keeping
/// every live server alive; `None` when no server has a weight.
fn cycle_weights(weights: &[u32]) -> Option<Vec<u64>> {
    let g = weights.iter().copied().filter(|&w| w > 0).fold(0, gcd);
    if g == 0 {
        return None;
    }
    let mut w: Vec<u64> = weights.iter().map(|&x| u64::from(x / g)).collect();
    let total: u64 = w.iter().sum();
    if total > MAX_WRR_CYCLE as u64 {
        for x in &mut w {
            if *x > 0 {
                *x = (*x * MAX_WRR_CYCLE as u64 / total).max(1);
            }
        }
    }
    Some(w)
}

/// [`wrr_sequence`], with where each of its passes starts.
///
/// Built in time of the order of the cycle's length plus n log n (n
/// servers), not n × the highest weight: the servers a pass visits (weight
/// at least its `cw`) are kept in a list in the kernel's order, each pass
/// writes the list out, and a server joins it when `cw` drops to its
/// weight, the heaviest first. Each joins between the neighbours it had
/// when the list was emptied lightest first (the links of a doubly linked
/// list put back in the reverse of their removal), so a join costs O(1).
pub(super) fn wrr_cycle(weights: &[u32]) -> (Box<[u32]>, Box<[u32]>) {
    let Some(w) = cycle_weights(weights) else {
        return (Box::new([]), Box::new([]));
    };
    let mw = w.iter().copied().max().unwrap_or(0);
    let total: u64 = w.iter().sum();
    let n = w.len();
    // Positions in the kernel's list of the servers with a weight, and
    // their links in that order; `n` is the list's head (and end).
    let weight = |p: usize| w[kernel_index(p, n)];
    let live: Vec<usize> = (0..n).filter(|&p| weight(p) > 0).collect();
    let (mut next, mut prev) = (vec![n; n + 1], vec![n; n + 1]);
    let mut last = n;
    for &p in &live {
        (next[last], prev[p]) = (p, last);
        last = p;
    }
    (next[last], prev[n]) = (n, last);
    // Emptied lightest first: each keeps the neighbours it had then.
    let mut joining = live;
    joining.sort_unstable_by_key(|&p| weight(p));
    for &p in &joining {
        let (a, b) = (prev[p], next[p]);
        (next[a], prev[b]) = (b, a);
    }
    let mut seq = Vec::with_capacity(total as usize);
    let mut passes = Vec::with_capacity(mw as usize);
    for cw in (1..=mw).rev() {
        while let Some(&p) = joining.last().filter(|&&p| weight(p) >= cw) {
            joining.pop();
            let (a, b) = (prev[p], next[p]);
            (next[a], prev[b]) = (p, p);
        }
        passes.push(seq.len() as u32);
        let mut p = next[n];
        while p != n {
            seq.push(kernel_index(p, n) as u32);
            p = next[p];
        }
    }
    (seq.into_boxed_slice(), passes.into_boxed_slice())
}

#[cfg(test)]
mod test {
    use super::*;

    /// The builder as it was: the kernel's walk step by step, every server
    /// visited in every pass (servers × the highest weight).
    fn walked(weights: &[u32]) -> (Box<[u32]>, Box<[u32]>) {
        let Some(w) = cycle_weights(weights) else {
            return (Box::new([]), Box::new([]));
        };
        let mw = w.iter().copied().max().unwrap_or(0);
        let total: u64 = w.iter().sum();
        let n = w.len();
        let mut seq = Vec::with_capacity(total as usize);
        let mut passes = Vec::with_capacity(mw as usize);
        let (mut i, mut cw) = (n - 1, 0u64);
        while (seq.len() as u64) < total {
            i = (i + 1) % n;
            if i == 0 {
                cw = if cw <= 1 { mw } else { cw - 1 };
                passes.push(seq.len() as u32);
            }
            let d = kernel_index(i, n);
            if w[d] >= cw {
                seq.push(d as u32);
            }
        }
        (seq.into_boxed_slice(), passes.into_boxed_slice())
    }

    /// The cycle is the step-by-step walk's, on random weights (with
    /// zeros, common factors, and sums scaled down past [`MAX_WRR_CYCLE`]).
    #[test]
    fn the_cycle_is_the_step_by_step_walk_s() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        for _ in 0..3000 {
            let n = 1 + rnd(24) as usize;
            let unit = [1, 2, 3, 100][rnd(4) as usize];
            let top = [2, 5, 20, 300][rnd(4) as usize];
            let w: Vec<u32> = (0..n)
                .map(|_| {
                    if rnd(5) == 0 {
                        0
                    } else {
                        (rnd(top) as u32) * unit
                    }
                })
                .collect();
            assert_eq!(wrr_cycle(&w), walked(&w), "{w:?}");
        }
        let max = i32::MAX as u32;
        for w in [
            vec![0, 0],
            vec![max, 1, 3, 0, 1000],
            vec![2_000_000, 1_500_000, 7, 7],
            vec![65_535, 65_534, 65_533, 1, 0, 2],
        ] {
            assert_eq!(wrr_cycle(&w), walked(&w), "{w:?}");
        }
    }
}
