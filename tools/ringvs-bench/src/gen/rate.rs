//! Pacing: a token bucket that releases whole batches.
//!
//! Tokens are kept in nano-packets (1 packet = 10^9 units) so that refilling
//! `elapsed_ns * rate_pps` units is exact integer arithmetic: no drift over a
//! run, whatever the rate.

const UNIT: u128 = 1_000_000_000;

/// Frames per batch at `rate` pps: about 20 µs of traffic, 1..=64. At low
/// rates every frame goes alone (even spacing); at high rates one `flush()`
/// (one syscall) carries up to 64 frames.
pub fn batch_for_rate(rate: Option<u64>) -> usize {
    match rate {
        None => MAX_BATCH,
        Some(r) => (r / 50_000).clamp(1, MAX_BATCH as u64) as usize,
    }
}

pub const MAX_BATCH: usize = 64;

#[derive(Clone, Debug)]
pub struct TokenBucket {
    rate: u128,
    burst: u128,
    tokens: u128,
    last_ns: u64,
}

impl TokenBucket {
    /// A bucket refilled at `rate_pps` holding at most `burst` packets,
    /// starting with `burst` tokens at time `now_ns`.
    pub fn new(rate_pps: u64, burst: u64, now_ns: u64) -> Self {
        let burst = u128::from(burst.max(1)) * UNIT;
        Self {
            rate: u128::from(rate_pps.max(1)),
            burst,
            tokens: burst,
            last_ns: now_ns,
        }
    }

    /// The burst for a rate and batch: two batches, or 10 ms of traffic when
    /// that is more (catch-up after the sender lost its core for a while).
    pub fn burst_for(rate_pps: u64, batch: usize) -> u64 {
        (2 * batch as u64).max(rate_pps / 100)
    }

    fn refill(&mut self, now_ns: u64) {
        if now_ns > self.last_ns {
            let add = u128::from(now_ns - self.last_ns) * self.rate;
            self.tokens = (self.tokens + add).min(self.burst);
            self.last_ns = now_ns;
        }
    }

    /// Take `n` packets' worth of tokens if there are that many at `now_ns`.
    pub fn try_take(&mut self, n: u64, now_ns: u64) -> bool {
        self.refill(now_ns);
        let need = u128::from(n) * UNIT;
        if self.tokens >= need {
            self.tokens -= need;
            true
        } else {
            false
        }
    }

    /// Nanoseconds from the last refill until `n` packets' worth is there.
    pub fn wait_ns(&self, n: u64) -> u64 {
        let need = u128::from(n) * UNIT;
        if self.tokens >= need {
            0
        } else {
            u64::try_from((need - self.tokens).div_ceil(self.rate)).unwrap_or(u64::MAX)
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    /// Simulates a sender that asks every `step_ns` for a batch, for `secs`.
    fn simulate(rate: u64, batch: u64, step_ns: u64, secs: u64) -> u64 {
        let mut b = TokenBucket::new(rate, TokenBucket::burst_for(rate, batch as usize), 0);
        let mut sent = 0;
        let mut t = 0;
        while t < secs * 1_000_000_000 {
            if b.try_take(batch, t) {
                sent += batch;
            }
            t += step_ns;
        }
        sent
    }

    #[test]
    fn rates_are_met_without_drift() {
        for (rate, batch, step) in [
            (10_000, 1, 1_000),
            (10_000, 1, 37_000),
            (1_000_000, 20, 1_000),
            (3_333_333, 64, 500),
            (1, 1, 1_000_000),
        ] {
            let sent = simulate(rate, batch, step, 3);
            // burst (first instant) plus 3 s of rate, within one batch
            let burst = TokenBucket::burst_for(rate, batch as usize);
            let expect = 3 * rate + burst;
            assert!(
                sent <= expect && sent + 2 * batch >= expect.min(3 * rate),
                "rate {rate} batch {batch} step {step}: sent {sent}, expected ~{expect}"
            );
        }
    }

    #[test]
    fn burst_caps_catch_up() {
        let mut b = TokenBucket::new(1000, 10, 0);
        assert!(b.try_take(10, 0));
        assert!(!b.try_take(1, 0));
        // a 10 s stall buys only the burst
        assert!(b.try_take(10, 10_000_000_000));
        assert!(!b.try_take(1, 10_000_000_000));
    }

    #[test]
    fn wait_is_exact() {
        let mut b = TokenBucket::new(10_000, 1, 0);
        assert!(b.try_take(1, 0));
        assert_eq!(b.wait_ns(1), 100_000);
        assert!(!b.try_take(1, 99_999));
        assert_eq!(b.wait_ns(1), 1);
        assert!(b.try_take(1, 100_000));
        let b = TokenBucket::new(3, 10, 0);
        assert_eq!(b.wait_ns(10), 0);
        assert_eq!(b.wait_ns(11), 333_333_334);
    }

    #[test]
    fn batches() {
        assert_eq!(batch_for_rate(None), 64);
        assert_eq!(batch_for_rate(Some(1)), 1);
        assert_eq!(batch_for_rate(Some(10_000)), 1);
        assert_eq!(batch_for_rate(Some(1_000_000)), 20);
        assert_eq!(batch_for_rate(Some(100_000_000)), 64);
    }
}
