//! Schedulers: which real server gets a new connection.
//!
//! A scheduler is built by the control thread when it publishes a configuration
//! snapshot and is shared by every worker. Picking takes no lock: round robin is one
//! atomic increment per *new* connection (never per packet), so the choice
//! alternates across all workers exactly as kernel IPVS's global `rr` does.
//! Weighted round robin walks a sequence precomputed with IPVS's own interleaving
//! (the `cw`/`mw`/`gcd` walk of `ip_vs_wrr.c`), so `wrr` gives the same order as the
//! kernel, again with one atomic increment.

use crate::config::{SchedFlags, Scheduler};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The longest precomputed `wrr` cycle. Weights whose cycle (sum of weights over
/// their gcd) is longer are scaled down proportionally to fit.
pub const MAX_WRR_CYCLE: usize = 1 << 20;

/// What a scheduler needs to know of a real server.
pub trait Candidate {
    fn weight(&self) -> u32;
    /// Connections in ESTABLISHED (IPVS's `activeconns`), over all workers.
    fn active(&self) -> u32 {
        0
    }
    /// Connections in any other state (IPVS's `inactconns`), over all workers.
    fn inactive(&self) -> u32 {
        0
    }
    /// Over its upper connection threshold (IPVS's `IP_VS_DEST_F_OVERLOAD`).
    fn overloaded(&self) -> bool {
        false
    }
    /// The server's address (for hashing schedulers' stable tables).
    fn addr(&self) -> u32 {
        0
    }
    /// The server's port.
    fn port(&self) -> u16 {
        0
    }
}

/// The new connection being scheduled: what the hashing and locality
/// schedulers look at. Addresses are host-order `u32`s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flow {
    pub client: u32,
    pub cport: u16,
    pub vaddr: u32,
    pub vport: u16,
    /// Seconds on the worker's clock (for schedulers with expiring state).
    pub now_s: u32,
}

/// A scheduler with its shared state.
#[derive(Debug)]
pub enum SchedState {
    RoundRobin { next: AtomicUsize },
    Weighted { seq: Box<[u32]>, next: AtomicUsize },
}

impl SchedState {
    pub fn new<C: Candidate>(kind: Scheduler, _flags: SchedFlags, dests: &[C]) -> Self {
        match kind {
            // Not implemented yet: `Scheduler::from_str` refuses their names.
            Scheduler::Rr
            | Scheduler::Lc
            | Scheduler::Wlc
            | Scheduler::Lblc
            | Scheduler::Lblcr
            | Scheduler::Dh
            | Scheduler::Sh
            | Scheduler::Sed
            | Scheduler::Nq
            | Scheduler::Fo
            | Scheduler::Ovf
            | Scheduler::Mh
            | Scheduler::Twos => SchedState::RoundRobin {
                next: AtomicUsize::new(0),
            },
            Scheduler::Wrr => SchedState::Weighted {
                seq: wrr_sequence(&dests.iter().map(Candidate::weight).collect::<Vec<_>>()),
                next: AtomicUsize::new(0),
            },
        }
    }

    /// The index of the real server for a new connection, or `None` when every
    /// server is quiesced (weight 0) or there is none.
    #[inline]
    pub fn pick<C: Candidate>(&self, _flow: &Flow, dests: &[C]) -> Option<usize> {
        match self {
            SchedState::RoundRobin { next } => {
                let n = dests.len();
                if n == 0 {
                    return None;
                }
                let start = next.fetch_add(1, Ordering::Relaxed);
                (0..n)
                    .map(|i| (start + i) % n)
                    .find(|&i| dests[i].weight() > 0)
                    .inspect(|&i| {
                        // Skipped quiesced servers: resume after the one we chose.
                        let skipped = (i + n - start % n) % n;
                        if skipped > 0 {
                            next.fetch_add(skipped, Ordering::Relaxed);
                        }
                    })
            }
            SchedState::Weighted { seq, next } => {
                if seq.is_empty() {
                    return None;
                }
                let i = next.fetch_add(1, Ordering::Relaxed) % seq.len();
                let d = seq[i] as usize;
                (d < dests.len()).then_some(d)
            }
        }
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// One full cycle of IPVS's weighted round robin over `weights`.
///
/// IPVS keeps a current weight `cw` that starts at the maximum weight and drops by
/// the weights' gcd each time the walk wraps; a server is chosen when its weight is
/// at least `cw`. The cycle repeats after `sum(w) / gcd` choices.
pub fn wrr_sequence(weights: &[u32]) -> Box<[u32]> {
    let g = weights.iter().copied().filter(|&w| w > 0).fold(0, gcd);
    if g == 0 {
        return Box::new([]);
    }
    let mut w: Vec<u64> = weights.iter().map(|&x| u64::from(x / g)).collect();
    let total: u64 = w.iter().sum();
    if total > MAX_WRR_CYCLE as u64 {
        // Scale down, keeping every live server alive.
        for x in &mut w {
            if *x > 0 {
                *x = (*x * MAX_WRR_CYCLE as u64 / total).max(1);
            }
        }
    }
    let mw = w.iter().copied().max().unwrap_or(0);
    let total: u64 = w.iter().sum();
    let n = w.len();
    let mut seq = Vec::with_capacity(total as usize);
    let (mut i, mut cw) = (n - 1, 0u64);
    while (seq.len() as u64) < total {
        i = (i + 1) % n;
        if i == 0 {
            cw = if cw <= 1 { mw } else { cw - 1 };
        }
        if w[i] >= cw {
            seq.push(i as u32);
        }
    }
    seq.into_boxed_slice()
}

#[cfg(test)]
mod test {
    use super::*;

    struct W(u32);
    impl Candidate for W {
        fn weight(&self) -> u32 {
            self.0
        }
    }

    #[test]
    fn rr_alternates_and_skips_quiesced() {
        let d = [W(1), W(1)];
        let s = SchedState::new(Scheduler::Rr, SchedFlags::default(), &d);
        let got: Vec<_> = (0..6)
            .filter_map(|_| s.pick(&Flow::default(), &d))
            .collect();
        assert_eq!(got, [0, 1, 0, 1, 0, 1]);
        let d = [W(1), W(0), W(1)];
        let got: Vec<_> = (0..4)
            .filter_map(|_| s.pick(&Flow::default(), &d))
            .collect();
        assert!(!got.contains(&1), "{got:?}");
        assert_eq!(got.iter().filter(|&&i| i == 0).count(), 2);
        assert_eq!(s.pick(&Flow::default(), &[W(0), W(0)]), None);
        assert_eq!(s.pick::<W>(&Flow::default(), &[]), None);
    }

    #[test]
    fn wrr_matches_ipvs_interleaving() {
        // Weights 4, 3, 2: IPVS's walk gives A A B A B C A B C.
        assert_eq!(&*wrr_sequence(&[4, 3, 2]), &[0, 0, 1, 0, 1, 2, 0, 1, 2]);
        // gcd is taken out: 2,2 behaves like 1,1.
        assert_eq!(&*wrr_sequence(&[2, 2]), &[0, 1]);
        assert_eq!(&*wrr_sequence(&[0, 5]), &[1]);
        assert!(wrr_sequence(&[0, 0]).is_empty());
    }

    #[test]
    fn wrr_distribution_follows_weights() {
        let d = [W(5), W(1), W(0)];
        let s = SchedState::new(Scheduler::Wrr, SchedFlags::default(), &d);
        let mut n = [0; 3];
        for _ in 0..600 {
            n[s.pick(&Flow::default(), &d).unwrap_or(2)] += 1;
        }
        assert_eq!(n, [500, 100, 0]);
    }

    #[test]
    fn wrr_huge_weights_are_scaled() {
        let w: Vec<u32> = (0..40).map(|i| 65_535 - i).collect();
        let seq = wrr_sequence(&w);
        assert!(seq.len() <= MAX_WRR_CYCLE + 40);
        assert!((0..40).all(|i| seq.contains(&i)));
    }
}
