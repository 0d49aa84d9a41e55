//! IPVS's rate estimator behind `ringvs adm -L --rate` and `--stats`' rates:
//! the smoothed per-second rates of each real server's counters.

use crate::config::DestId;
use crate::stats::DestStats;
use std::collections::HashMap;

/// IPVS's rate estimator (`ip_vs_est.c` `ip_vs_chain_estimation`, read by
/// `ip_vs_read_estimator`): every [`RATE_INTERVAL`] the change of each real
/// server's counters gives a rate per second, and the shown rate moves a
/// quarter of the way towards it (`avg += (rate - avg) / 4`).
#[derive(Default)]
pub(super) struct Estimator {
    /// Counters at the last sample.
    last: HashMap<DestId, DestStats>,
    /// Smoothed rates per second: conns, inpkts, outpkts, inbytes, outbytes.
    avg: HashMap<DestId, [f64; 5]>,
}

fn fields(s: &DestStats) -> [u64; 5] {
    [s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes]
}

impl Estimator {
    /// Takes a sample of every live real server; forgets the others.
    pub(super) fn sample(&mut self, now: &HashMap<DestId, DestStats>, secs: f64) {
        self.avg.retain(|id, _| now.contains_key(id));
        self.last.retain(|id, _| now.contains_key(id));
        for (id, cur) in now {
            let Some(prev) = self.last.insert(*id, *cur) else {
                continue;
            };
            let avg = self.avg.entry(*id).or_default();
            for (a, (c, p)) in avg
                .iter_mut()
                .zip(fields(cur).into_iter().zip(fields(&prev)))
            {
                let rate = c.saturating_sub(p) as f64 / secs;
                *a += (rate - *a) / 4.0;
            }
        }
    }

    /// The rates of `ids` together: their smoothed rates summed, then
    /// rounded as `ip_vs_read_estimator` reads its fixed-point ones, a half
    /// down (`(e + 0x1FF) >> 10` for the connection and packet rates, kept
    /// in 1/1024ths; `(e + 0xF) >> 5` for the byte rates, in 1/32nds).
    pub(super) fn rates(&self, ids: &[DestId]) -> DestStats {
        let mut a = [0f64; 5];
        for avg in ids.iter().filter_map(|id| self.avg.get(id)) {
            for (t, x) in a.iter_mut().zip(avg) {
                *t += x;
            }
        }
        let r = |x: f64, scale: f64| {
            let half = (scale / 2.0 - 1.0) / scale;
            (x.max(0.0) + half).floor() as u64
        };
        DestStats {
            conns: r(a[0], 1024.0),
            inpkts: r(a[1], 1024.0),
            outpkts: r(a[2], 1024.0),
            inbytes: r(a[3], 32.0),
            outbytes: r(a[4], 32.0),
        }
    }

    /// The smoothed rates alone, for a listing to read after the lock of
    /// the estimator is let go (its samples are not needed to read them).
    pub(super) fn rates_only(&self) -> Estimator {
        Estimator {
            last: HashMap::new(),
            avg: self.avg.clone(),
        }
    }

    /// `-Z` of servers `ids`: their rates start again from zero, and the
    /// counters as of the last tick stay the next tick's base, as
    /// `ip_vs_zero_estimator` (`ip_vs_est.c`) zeroes the averages and sets
    /// `last_*` to `kstats`, the sums the estimator took at its last tick:
    /// the next tick's rate is over a whole interval, the traffic between
    /// that tick and `-Z` included.
    pub(super) fn zero(&mut self, ids: &[DestId]) {
        for id in ids {
            self.avg.remove(id);
        }
    }

    /// Servers whose counters start from 0 under their id (an id new to
    /// them, `Ctl::count_fresh`): no rate, and the next tick counts from 0.
    pub(super) fn restart(&mut self, ids: &[DestId]) {
        for id in ids {
            self.avg.remove(id);
            if let Some(last) = self.last.get_mut(id) {
                *last = DestStats::default();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A service's rate is its servers' summed before rounding (IPVS keeps
    /// an estimator of the service's own), and a half rounds down, as
    /// `ip_vs_read_estimator` reads its fixed-point rates.
    #[test]
    fn a_services_rate_is_summed_before_rounding_and_halves_round_down() {
        let mut e = Estimator::default();
        let ids: Vec<DestId> = (0..10).map(DestId).collect();
        let at = |n| -> HashMap<DestId, DestStats> {
            let s = DestStats {
                conns: n,
                inbytes: n,
                ..DestStats::default()
            };
            ids.iter().map(|&id| (id, s)).collect()
        };
        e.sample(&at(0), 2.0);
        e.sample(&at(4), 2.0); // 2/s each: avg 0.5 each
        let one = e.rates(&ids[..1]);
        assert_eq!((one.conns, one.inbytes), (0, 0), "a half, down");
        let all = e.rates(&ids);
        assert_eq!((all.conns, all.inbytes), (5, 5), "ten halves: 5, not 0");
        e.sample(&at(8), 2.0); // avg 0.875 each
        assert_eq!(e.rates(&ids[..1]).conns, 1);
    }

    #[test]
    fn estimator_moves_a_quarter_towards_the_rate() {
        let mut e = Estimator::default();
        let id = DestId(3);
        let at = |conns| {
            HashMap::from([(
                id,
                DestStats {
                    conns,
                    ..DestStats::default()
                },
            )])
        };
        e.sample(&at(0), 2.0);
        assert_eq!(e.rates(&[id]).conns, 0);
        e.sample(&at(800), 2.0); // 400/s: avg 100
        assert_eq!(e.rates(&[id]).conns, 100);
        e.sample(&at(1600), 2.0); // 400/s: avg 175
        assert_eq!(e.rates(&[id]).conns, 175);
        // `-Z` at 2000 (400 since the last tick): the rate starts from
        // zero, and the next tick counts from the last one's counters
        // (`ip_vs_zero_estimator` sets `last_*` to the sums of the last
        // tick): 800 over the whole interval, not the 400 since `-Z`.
        e.zero(&[id]);
        assert_eq!(e.rates(&[id]).conns, 0);
        e.sample(&at(2400), 2.0); // 400/s: avg 100
        assert_eq!(e.rates(&[id]).conns, 100);
        e.sample(&HashMap::new(), 2.0);
        assert!(e.last.is_empty() && e.avg.is_empty());
    }
}
