//! From runs to figures: medians over runs ([`medians`]), ratios between two
//! datapaths taken pair by pair within each run ([`paired_ratio`]), and the
//! goals of ringvs's NAT datapaths against them ([`goals`]).

use super::{Figures, Runs};
use serde_json::{Value, json};

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

pub(super) fn medians(runs: &Runs, dp: &str) -> Figures {
    let mut keys: Vec<&String> = runs
        .iter()
        .filter_map(|r| r.get(dp))
        .flat_map(|f| f.keys())
        .collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| {
            let v: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.get(dp)?.get(k).copied())
                .collect();
            Some((k.clone(), median(v)?))
        })
        .collect()
}

/// Median over runs of `a.key / b.key`, taken within each run.
pub(super) fn paired_ratio(runs: &Runs, a: &str, b: &str, key: &str) -> Option<f64> {
    let v: Vec<f64> = runs
        .iter()
        .filter_map(|r| {
            let (x, y) = (r.get(a)?.get(key)?, r.get(b)?.get(key)?);
            (*y > 0.0).then(|| x / y)
        })
        .collect();
    median(v)
}

/// The ringvs NAT datapaths and the I/O-only datapath of the same I/O backend.
pub(super) const NAT_PAIRS: [(&str, &str); 8] = [
    ("ringvs-nat-1w", "ringvs-io-only"),
    ("ringvs-xdp-1w", "ringvs-xdp-io-only"),
    ("ringvs-xdp-napi-1w", "ringvs-xdp-napi-io-only"),
    ("ringvs-xdp-busy-1w", "ringvs-xdp-busy-io-only"),
    ("ringvs-xdp-napi-rt-1w", "ringvs-xdp-napi-io-only"),
    ("ringvs-xdp-napi-first-1w", "ringvs-xdp-napi-io-only"),
    ("ringvs-xdp-napi-even-1w", "ringvs-xdp-napi-io-only"),
    ("ringvs-xdp-napi-spin-1w", "ringvs-xdp-napi-io-only"),
];

/// The IPv6 comparisons: ringvs against the kernel over IPv6, and each
/// against its own IPv4 figure.
pub(super) const V6_PAIRS: [(&str, &str); 3] = [
    ("ringvs-nat6-1w", "kernel-nft6"),
    ("ringvs-nat6-1w", "ringvs-nat-1w"),
    ("kernel-nft6", "kernel-nft"),
];

struct Goal {
    name: &'static str,
    /// The datapath in the denominator; `None`: the NAT pair's I/O-only datapath.
    b: Option<&'static str>,
    key: &'static str,
    /// Goal is `a/b >= target` (or `<=` when `at_most`).
    target: f64,
    at_most: bool,
    /// A packet rate, which may be the generator's ceiling rather than the
    /// datapath's (`packets::bound_key`).
    rate: bool,
}

const GOALS: [Goal; 3] = [
    Goal {
        name: "NAT >= 0.9 x I/O-only pps (64 B, 1k flows)",
        b: None,
        key: "pps_64b_1k_flows",
        target: 0.9,
        at_most: false,
        rate: true,
    },
    Goal {
        name: "NAT >= 1.5 x kernel nftables NAT pps (64 B, 1k flows, same CPU)",
        b: Some("kernel-nft"),
        key: "pps_64b_1k_flows",
        target: 1.5,
        at_most: false,
        rate: true,
    },
    Goal {
        name: "p99 <= kernel p99 at the same offered load",
        b: Some("kernel-nft"),
        key: "p99_us_common",
        target: 1.0,
        at_most: true,
        rate: false,
    },
];

/// Every goal for every ringvs NAT datapath that was measured (AF_PACKET first).
pub(super) fn goals(runs: &Runs) -> Vec<Value> {
    let measured = |n: &str| runs.iter().any(|r| r.contains_key(n));
    NAT_PAIRS
        .iter()
        .filter(|(a, _)| *a == "ringvs-nat-1w" || measured(a))
        .flat_map(|&(a, io)| GOALS.iter().map(move |g| (a, io, g)))
        .map(|(a, io, g)| {
            let b = g.b.unwrap_or(io);
            let r = paired_ratio(runs, a, b, g.key);
            let bound = if g.rate {
                bound_runs(runs, a, b, g.key)
            } else {
                Bound::default()
            };
            let met = r.and_then(|r| {
                let met = if g.at_most {
                    r <= g.target
                } else {
                    r >= g.target
                };
                bound.decides(met).then_some(met)
            });
            // How far off, as a fraction of the target (positive = missed by).
            let short = r.map(|r| {
                if g.at_most {
                    r / g.target - 1.0
                } else {
                    1.0 - r / g.target
                }
            });
            json!({
                "goal": format!("{a}: {}", g.name),
                "ratio": format!("{a} / {b} {}", g.key),
                "measured": r.map(|r| (r * 1000.0).round() / 1000.0),
                "target": g.target,
                "met": met,
                "missed_by_pct": match (met, short) {
                    (Some(false), Some(sh)) => json!((sh * 1000.0).round() / 10.0),
                    _ => Value::Null,
                },
                "generator_bound_runs": g.rate.then(|| json!({"a": bound.a, "b": bound.b, "of": bound.of})),
                "undecided": (r.is_some() && met.is_none()).then(|| format!(
                    "generator-bound: {a} carried all the generator offered in {} of {} runs, {b} in {}",
                    bound.a, bound.of, bound.b
                )),
                "cpu_bound": (g.rate && g.b.is_some()).then(|| cpu_bound(runs, (a, io, b), g.target)).flatten(),
            })
        })
        .collect()
}

/// For a rate goal of `a` against `b` (the kernel), what the director CPU's
/// time per packet (`cpu.rs`, `cpu_busy_ns`) says, paired by run: the ratio
/// of `b`'s to `a`'s (the rate `a` could carry against `b` with the CPU
/// saturated, if each packet kept its cost: an estimate), and the same for
/// `a`'s I/O-only datapath `io` (the machine's bound on any NAT over that
/// I/O path). Says so when the bound alone falls short of `target`. `None`
/// when the runs have no CPU figures.
fn cpu_bound(runs: &Runs, (a, io, b): (&str, &str, &str), target: f64) -> Option<Value> {
    let key = "cpu_busy_ns";
    let round = |x: f64| (x * 1000.0).round() / 1000.0;
    // b's cost over a's: the rate ratio at equal CPU.
    let nat = paired_ratio(runs, b, a, key);
    let io_only = paired_ratio(runs, b, io, key);
    if nat.is_none() && io_only.is_none() {
        return None;
    }
    Some(json!({
        "rate_ratio_at_full_cpu": nat.map(round),
        "io_only_rate_ratio_at_full_cpu": io_only.map(round),
        "bound": io_only.filter(|r| *r < target).map(|r| format!(
            "the I/O alone ({io}) costs the director CPU {:.2} x what {b} spends per packet: \
             at full CPU it carries at most {:.2} x {b}'s rate, below {target}, before any NAT",
            1.0 / r, r
        )),
    }))
}

/// In how many of the `of` runs that measured both `a` and `b` each carried
/// all the generator offered at its full rate (`packets::bound_key`): its
/// rate there is a lower bound of its own, so `a/b` is a lower bound of the
/// true ratio where only `a` was bound, an upper bound where only `b` was,
/// and unknown where both were.
#[derive(Default)]
struct Bound {
    a: usize,
    b: usize,
    of: usize,
}

impl Bound {
    /// Whether a verdict on the paired median stands despite the bounds: the
    /// median is monotone, so where every ratio is exact or a lower bound, the
    /// true median is at least the measured one and a met `>=` goal is met
    /// (or an `<=` one missed); where every ratio is exact or an upper bound,
    /// the reverse. A ratio goal's verdict that needs the other direction is
    /// undecided. (`met` is the verdict on the measured median, for a `>=`
    /// goal; the only goals with rates are `>=` ones.)
    fn decides(&self, met: bool) -> bool {
        if met { self.b == 0 } else { self.a == 0 }
    }
}

fn bound_runs(runs: &Runs, a: &str, b: &str, key: &str) -> Bound {
    let k = super::packets::bound_key(key);
    let flag = |r: &Figures| r.get(&k).is_some_and(|v| *v > 0.0);
    runs.iter()
        .filter_map(|r| Some((r.get(a)?, r.get(b)?)))
        .filter(|(x, y)| x.contains_key(key) && y.contains_key(key))
        .fold(Bound::default(), |n, (x, y)| Bound {
            a: n.a + usize::from(flag(x)),
            b: n.b + usize::from(flag(y)),
            of: n.of + 1,
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap (crate rule)
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn run(pairs: &[(&str, &str, f64)]) -> BTreeMap<String, Figures> {
        let mut m: BTreeMap<String, Figures> = BTreeMap::new();
        for (dp, k, v) in pairs {
            m.entry(dp.to_string())
                .or_default()
                .insert(k.to_string(), *v);
        }
        m
    }

    #[test]
    fn medians_and_paired_ratios() {
        let k = "pps_64b_1k_flows";
        let runs = vec![
            run(&[("ringvs-nat-1w", k, 100.0), ("kernel-nft", k, 50.0)]),
            run(&[("ringvs-nat-1w", k, 300.0), ("kernel-nft", k, 100.0)]),
            run(&[("ringvs-nat-1w", k, 200.0), ("kernel-nft", k, 200.0)]),
        ];
        assert_eq!(medians(&runs, "ringvs-nat-1w")[k], 200.0);
        // Pair by pair: 2, 3, 1 -> 2 (not 200 / 100).
        assert_eq!(
            paired_ratio(&runs, "ringvs-nat-1w", "kernel-nft", k),
            Some(2.0)
        );
        let g = goals(&runs);
        assert_eq!(g[1]["met"], json!(true));
        assert_eq!(g[0]["met"], Value::Null);
        assert_eq!(median(vec![1.0, 4.0]), Some(2.5));
    }

    /// A rate, and whether it was the generator's ceiling.
    type Rate = (f64, bool);

    /// The goal "NAT >= 1.5 x kernel" over runs of `(ringvs, kernel)` rates.
    fn kernel_goal(rates: &[(Rate, Rate)]) -> Value {
        let k = "pps_64b_1k_flows";
        let kb = super::super::packets::bound_key(k);
        let flag = |b: bool| if b { 1.0 } else { 0.0 };
        let runs: Vec<_> = rates
            .iter()
            .map(|&((x, xb), (y, yb))| {
                run(&[
                    ("ringvs-nat-1w", k, x),
                    ("ringvs-nat-1w", &kb, flag(xb)),
                    ("kernel-nft", k, y),
                    ("kernel-nft", &kb, flag(yb)),
                    ("ringvs-nat-1w", "p99_us_common", 90.0),
                    ("kernel-nft", "p99_us_common", 100.0),
                ])
            })
            .collect();
        let g = goals(&runs);
        assert_eq!(g[2]["met"], json!(true), "latency has no generator bound");
        g[1].clone()
    }

    #[test]
    fn rates_the_generator_bounds_decide_only_what_they_can() {
        // Both carried all the generator offered: 1.03 says nothing.
        let g = kernel_goal(&[((370.0, true), (360.0, true)); 3]);
        assert_eq!(g["met"], Value::Null);
        assert_eq!(g["missed_by_pct"], Value::Null);
        assert_eq!(g["generator_bound_runs"], json!({"a": 3, "b": 3, "of": 3}));
        assert!(g["undecided"].as_str().unwrap().contains("3 of 3"), "{g}");
        // ringvs bound, the kernel not: a lower bound of the ratio. Above the
        // target it is met; below, it could still be met.
        let g = kernel_goal(&[((400.0, true), (200.0, false)); 3]);
        assert_eq!(
            (g["met"].clone(), g["undecided"].clone()),
            (json!(true), Value::Null)
        );
        let g = kernel_goal(&[((400.0, true), (300.0, false)); 3]);
        assert_eq!(g["met"], Value::Null);
        // The kernel bound, ringvs not: an upper bound. Below the target it
        // is missed; above, it could still be missed.
        let g = kernel_goal(&[((200.0, false), (360.0, true)); 3]);
        assert_eq!(g["met"], json!(false));
        assert!(g["missed_by_pct"].as_f64().unwrap() > 0.0);
        let g = kernel_goal(&[((600.0, false), (360.0, true)); 3]);
        assert_eq!(g["met"], Value::Null);
        // One bound run among exact ones is enough to withhold a verdict
        // that needs the other direction.
        let g = kernel_goal(&[
            ((200.0, false), (100.0, false)),
            ((200.0, false), (100.0, true)),
            ((200.0, false), (100.0, false)),
        ]);
        assert_eq!(g["met"], Value::Null, "{g}");
        assert_eq!(g["measured"], json!(2.0));
        // No bound: as before.
        let g = kernel_goal(&[((200.0, false), (100.0, false)); 3]);
        assert_eq!(g["met"], json!(true));
        assert_eq!(g["undecided"], Value::Null);
    }

    /// The CPU split turns into what the rate goal against the kernel could
    /// reach at full CPU, and names the bound when the I/O alone falls short.
    #[test]
    fn cpu_per_packet_gives_the_machine_bound() {
        let k = "cpu_busy_ns";
        let r = |nat: f64, io: f64, kernel: f64| {
            run(&[
                ("ringvs-xdp-napi-rt-1w", k, nat),
                ("ringvs-xdp-napi-io-only", k, io),
                ("kernel-nft", k, kernel),
            ])
        };
        let goal = |runs: &Runs| {
            goals(runs)
                .into_iter()
                .find(|g| {
                    g["goal"]
                        .as_str()
                        .unwrap()
                        .starts_with("ringvs-xdp-napi-rt-1w: NAT >= 1.5")
                })
                .unwrap()
        };
        // The kernel 2000 ns a packet, the I/O alone 3000, NAT 3500.
        let g = goal(&vec![
            r(3400.0, 3000.0, 2000.0),
            r(3500.0, 3000.0, 2000.0),
            r(3600.0, 3100.0, 2000.0),
        ]);
        let c = &g["cpu_bound"];
        assert_eq!(c["rate_ratio_at_full_cpu"], json!(0.571), "{c}");
        assert_eq!(c["io_only_rate_ratio_at_full_cpu"], json!(0.667), "{c}");
        assert!(c["bound"].as_str().unwrap().contains("1.50 x"), "{c}");
        // An I/O path cheap enough for the target: no bound named.
        let g = goal(&vec![r(1300.0, 1000.0, 2000.0)]);
        assert_eq!(g["cpu_bound"]["io_only_rate_ratio_at_full_cpu"], json!(2.0));
        assert_eq!(g["cpu_bound"]["bound"], Value::Null);
        // No CPU figures: nothing said; the goals against I/O-only never.
        let g = goal(&vec![run(&[
            ("ringvs-xdp-napi-rt-1w", "pps_64b_1k_flows", 1.0),
            ("kernel-nft", "pps_64b_1k_flows", 1.0),
        ])]);
        assert_eq!(g["cpu_bound"], Value::Null);
        let io_goal = goals(&vec![r(3500.0, 3000.0, 2000.0)])
            .into_iter()
            .find(|g| {
                g["goal"]
                    .as_str()
                    .unwrap()
                    .starts_with("ringvs-xdp-napi-rt-1w: NAT >= 0.9")
            })
            .unwrap();
        assert_eq!(io_goal["cpu_bound"], Value::Null);
    }

    #[test]
    fn missed_goal_says_by_how_much() {
        let k = "p99_us_common";
        let runs = vec![run(&[
            ("ringvs-nat-1w", k, 150.0),
            ("kernel-nft", k, 100.0),
        ])];
        let g = goals(&runs);
        assert_eq!(g[2]["met"], json!(false));
        assert_eq!(g[2]["missed_by_pct"], json!(50.0));
    }
}
