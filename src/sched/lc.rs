//! The connection-counting schedulers: `lc`, `wlc`, `sed`, `nq`, `fo`, `ovf`
//! and `twos`. None keeps state of its own (but `twos`'s random source): each
//! looks at every server's counters once per new connection.
//!
//! As in the kernel, unavailable servers (weight 0 or overloaded) are never
//! chosen, a tie goes to the first server in the kernel's list order (the
//! newest: each walk here goes from the last server added to the first,
//! `super::kernel_index`), and loads are
//! compared by cross-multiplication (`a/wa < b/wb` as `a*wb < b*wa`), here in
//! 128 bits so no weight or counter can overflow it.

use super::{Candidate, available, overhead};
use std::sync::atomic::{AtomicU64, Ordering};

/// Which of the stateless schedulers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Least {
    /// Least connections: the least overhead (active*256 + inactive), weights
    /// only matter as 0 = quiesced.
    Lc,
    /// Weighted least connections: the least overhead / weight.
    Wlc,
    /// Shortest expected delay: the least (active + 1) / weight.
    Sed,
    /// Never queue: the first server without an active connection, else `sed`.
    Nq,
    /// Weighted failover: the available server with the highest weight.
    Fo,
    /// Overflow: the highest weight among servers whose active connections do
    /// not exceed their weight.
    Ovf,
}

impl Least {
    pub fn pick<C: Candidate>(self, dests: &[C]) -> Option<usize> {
        match self {
            Least::Lc => dests
                .iter()
                .enumerate()
                .rev()
                .filter(|(_, d)| available(*d))
                .fold(None, |best: Option<(usize, u64)>, (i, d)| {
                    let h = overhead(d);
                    match best {
                        Some((_, bh)) if bh <= h => best,
                        _ => Some((i, h)),
                    }
                })
                .map(|(i, _)| i),
            Least::Wlc => least_weighted(dests, overhead),
            Least::Sed => least_weighted(dests, sed_overhead),
            Least::Nq => dests
                .iter()
                .rposition(|d| available(d) && d.active() == 0)
                .or_else(|| least_weighted(dests, sed_overhead)),
            Least::Fo => highest_weight(dests, |_| true),
            Least::Ovf => highest_weight(dests, |d| d.active() <= d.weight()),
        }
    }
}

/// `sed`'s and `nq`'s expected delay: the connections the server would have
/// with this one.
fn sed_overhead<C: Candidate>(d: &C) -> u64 {
    u64::from(d.active()) + 1
}

/// `load(a)/weight(a) > load(b)/weight(b)`, without division.
#[inline]
fn heavier(la: u64, wa: u32, lb: u64, wb: u32) -> bool {
    u128::from(la) * u128::from(wb) > u128::from(lb) * u128::from(wa)
}

/// The available server with the least `load / weight`; the first on ties.
/// `wlc`, and the choice `lblc`/`lblcr` make for a new or moved destination.
pub fn least_weighted<C: Candidate>(dests: &[C], load: impl Fn(&C) -> u64) -> Option<usize> {
    let mut best: Option<(usize, u64, u32)> = None;
    for (i, d) in dests.iter().enumerate().rev() {
        if !available(d) {
            continue;
        }
        let (h, w) = (load(d), d.weight());
        match best {
            Some((_, bh, bw)) if !heavier(bh, bw, h, w) => {}
            _ => best = Some((i, h, w)),
        }
    }
    best.map(|(i, _, _)| i)
}

/// The available server with the highest weight among those `ok` accepts;
/// the first on ties.
fn highest_weight<C: Candidate>(dests: &[C], ok: impl Fn(&C) -> bool) -> Option<usize> {
    let mut best: Option<(usize, u32)> = None;
    for (i, d) in dests.iter().enumerate().rev() {
        if available(d) && ok(d) && best.is_none_or(|(_, bw)| d.weight() > bw) {
            best = Some((i, d.weight()));
        }
    }
    best.map(|(i, _)| i)
}

/// The initial state of `twos`'s random source (any value will do).
pub const TWOS_SEED: u64 = 0x2545_f491_4f6c_dd1d;

/// splitmix64's finaliser: a good 64-bit mix of a counter.
#[inline]
pub(crate) fn mix64(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Two random numbers: splitmix64 on a shared counter, one atomic add, no lock.
#[inline]
fn random_pair(rng: &AtomicU64) -> (u64, u64) {
    let s = rng.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
    (mix64(s), mix64(s ^ 0xd1b5_4a32_d192_ed03))
}

/// Power of two choices: draw two available servers at random, each with
/// probability proportional to its weight, and take the one with the lower
/// overhead / weight (the first drawn on a tie).
///
/// The kernel draws from `[0, total]` and takes the first server whose
/// running sum reaches the draw, which gives the first server one extra
/// chance in `total + 1`; here the draw is from `[0, total)` and each server
/// gets exactly `weight / total`.
pub fn twos_pick<C: Candidate>(rng: &AtomicU64, dests: &[C]) -> Option<usize> {
    let total: u64 = dests
        .iter()
        .filter(|d| available(*d))
        .map(|d| u64::from(d.weight()))
        .sum();
    if total == 0 {
        return None;
    }
    let (r1, r2) = random_pair(rng);
    let (mut r1, mut r2) = (r1 % total, r2 % total);
    let (mut c1, mut c2) = (None, None);
    for (i, d) in dests.iter().enumerate().rev() {
        if !available(d) {
            continue;
        }
        let w = u64::from(d.weight());
        if c1.is_none() {
            if r1 < w {
                c1 = Some(i);
            } else {
                r1 -= w;
            }
        }
        if c2.is_none() {
            if r2 < w {
                c2 = Some(i);
            } else {
                r2 -= w;
            }
        }
        if c1.is_some() && c2.is_some() {
            break;
        }
    }
    let (a, b) = (c1?, c2?);
    let (da, db) = (&dests[a], &dests[b]);
    if heavier(overhead(da), da.weight(), overhead(db), db.weight()) {
        Some(b)
    } else {
        Some(a)
    }
}

#[cfg(test)]
mod test {
    use super::super::testing::*;
    use super::*;

    fn pick(kind: Least, d: &[D]) -> Option<usize> {
        kind.pick(d)
    }

    #[test]
    fn lc_least_overhead_first_on_ties_weights_ignored() {
        // Overheads 256, 300, 256: the newest 256 wins the tie (the first
        // in the kernel's list).
        let d = [
            D::w(1).conns(1, 0),
            D::w(1).conns(0, 300),
            D::w(1).conns(0, 256),
        ];
        assert_eq!(pick(Least::Lc, &d), Some(2));
        // An active connection costs 256 inactive ones.
        let d = [D::w(1).conns(1, 0), D::w(1).conns(0, 255)];
        assert_eq!(pick(Least::Lc, &d), Some(1));
        // Weight does not scale the load (only 0 excludes).
        let d = [D::w(100).conns(2, 0), D::w(1).conns(1, 0)];
        assert_eq!(pick(Least::Lc, &d), Some(1));
        // Quiesced and overloaded servers are skipped even when idle.
        let d = [D::w(0), D::w(1).over(), D::w(1).conns(9, 9)];
        assert_eq!(pick(Least::Lc, &d), Some(2));
        assert_eq!(pick(Least::Lc, &[D::w(0), D::w(1).over()]), None);
        assert_eq!(pick(Least::Lc, &[] as &[D]), None);
    }

    #[test]
    fn wlc_overhead_over_weight() {
        // 256/1 against 512/3: the second.
        let d = [D::w(1).conns(1, 0), D::w(3).conns(2, 0)];
        assert_eq!(pick(Least::Wlc, &d), Some(1));
        // 256/1 against 512/2: a tie, the newest.
        let d = [D::w(1).conns(1, 0), D::w(2).conns(2, 0)];
        assert_eq!(pick(Least::Wlc, &d), Some(1));
        // Everyone idle: the newest available.
        let d = [D::w(0), D::w(1).over(), D::w(1), D::w(5), D::w(0)];
        assert_eq!(pick(Least::Wlc, &d), Some(3));
        // Inactive connections count (1/256 of an active one).
        let d = [D::w(1).conns(0, 10), D::w(1).conns(0, 9)];
        assert_eq!(pick(Least::Wlc, &d), Some(1));
        assert_eq!(pick(Least::Wlc, &[D::w(0)]), None);
    }

    #[test]
    fn sed_active_plus_one_over_weight() {
        // Idle servers of weights 1 and 2: 1/1 against 1/2, the heavier one.
        assert_eq!(pick(Least::Sed, &[D::w(1), D::w(2)]), Some(1));
        // (2+1)/2 = 1.5 against (0+1)/1 = 1: the first (lighter) one.
        let d = [D::w(1), D::w(2).conns(2, 0)];
        assert_eq!(pick(Least::Sed, &d), Some(0));
        // (1+1)/2 against (0+1)/1: a tie, the newest.
        let d = [D::w(2).conns(1, 0), D::w(1)];
        assert_eq!(pick(Least::Sed, &d), Some(1));
        // Inactive connections do not count.
        let d = [D::w(1).conns(0, 1000), D::w(1).conns(1, 0)];
        assert_eq!(pick(Least::Sed, &d), Some(0));
        assert_eq!(pick(Least::Sed, &[D::w(3).over()]), None);
    }

    #[test]
    fn nq_idle_first_else_sed() {
        // The idle weight-1 server beats a busy weight-10 one that sed prefers.
        let d = [D::w(10).conns(1, 0), D::w(1)];
        assert_eq!(pick(Least::Sed, &d), Some(0));
        assert_eq!(pick(Least::Nq, &d), Some(1));
        // Several idle: the newest of them, whatever the weights.
        let d = [D::w(1).conns(1, 0), D::w(9), D::w(1), D::w(2).conns(1, 0)];
        assert_eq!(pick(Least::Nq, &d), Some(2));
        // Idle but unavailable does not count; all busy: sed.
        let d = [
            D::w(0),
            D::w(2).over(),
            D::w(1).conns(1, 0),
            D::w(3).conns(2, 0),
        ];
        assert_eq!(pick(Least::Nq, &d), Some(3));
        assert_eq!(pick(Least::Nq, &[D::w(0)]), None);
    }

    #[test]
    fn fo_highest_weight_available() {
        // A tie of the highest weights: the newest, whatever its load.
        let d = [D::w(3), D::w(5), D::w(5).conns(100, 0)];
        assert_eq!(pick(Least::Fo, &d), Some(2));
        let d = [D::w(3), D::w(5).over(), D::w(5)];
        assert_eq!(pick(Least::Fo, &d), Some(2));
        let d = [D::w(3), D::w(5).over(), D::w(5).over()];
        assert_eq!(pick(Least::Fo, &d), Some(0));
        assert_eq!(pick(Least::Fo, &[D::w(0), D::w(1).over()]), None);
    }

    #[test]
    fn ovf_overflows_when_active_exceeds_weight() {
        // Active == weight still fits (the kernel skips only active > weight).
        let d = [D::w(2), D::w(3).conns(3, 0)];
        assert_eq!(pick(Least::Ovf, &d), Some(1));
        let d = [D::w(2), D::w(3).conns(4, 0)];
        assert_eq!(pick(Least::Ovf, &d), Some(0));
        // Equal weights: the newest; inactive connections do not count.
        let d = [D::w(3), D::w(3).conns(0, 50)];
        assert_eq!(pick(Least::Ovf, &d), Some(1));
        let d = [
            D::w(2).conns(3, 0),
            D::w(3).conns(4, 0),
            D::w(9).over(),
            D::w(0),
        ];
        assert_eq!(pick(Least::Ovf, &d), None);
    }

    #[test]
    fn twos_follows_weights_when_loads_are_equal() {
        let d = servers(&[1, 2, 3, 4]);
        let rng = AtomicU64::new(TWOS_SEED);
        let n = 100_000;
        let c = counts(n, d.len(), |_| twos_pick(&rng, &d));
        assert_eq!(c[4], 0);
        for (i, w) in [1, 2, 3, 4].into_iter().enumerate() {
            let share = c[i] as f64 / n as f64;
            let want = f64::from(w) / 10.0;
            assert!((share - want).abs() < 0.01, "{c:?}");
        }
    }

    #[test]
    fn twos_avoids_the_loaded_server() {
        let mut d = servers(&[1, 1, 1, 1]);
        d[0].act = 1000;
        let rng = AtomicU64::new(TWOS_SEED);
        let n = 100_000;
        let c = counts(n, d.len(), |_| twos_pick(&rng, &d));
        // Chosen only when both draws fall on it: 1/16 instead of 1/4.
        let share = c[0] as f64 / n as f64;
        assert!((share - 1.0 / 16.0).abs() < 0.01, "{c:?}");
        assert!(c[1..4].iter().all(|&x| x > n * 3 / 10), "{c:?}");
        // Unavailable servers are never drawn.
        d[1].w = 0;
        d[2].over = true;
        let c = counts(1000, d.len(), |_| twos_pick(&rng, &d));
        assert_eq!((c[1], c[2], c[4]), (0, 0, 0), "{c:?}");
        d[0].over = true;
        d[3].w = 0;
        assert_eq!(twos_pick(&rng, &d), None);
    }
}
