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
pub(super) const NAT_PAIRS: [(&str, &str); 6] = [
    ("ringvs-nat-1w", "ringvs-io-only"),
    ("ringvs-xdp-1w", "ringvs-xdp-io-only"),
    ("ringvs-xdp-napi-1w", "ringvs-xdp-napi-io-only"),
    ("ringvs-xdp-busy-1w", "ringvs-xdp-busy-io-only"),
    ("ringvs-xdp-napi-rt-1w", "ringvs-xdp-napi-io-only"),
    ("ringvs-xdp-napi-first-1w", "ringvs-xdp-napi-io-only"),
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
}

const GOALS: [Goal; 3] = [
    Goal {
        name: "NAT >= 0.9 x I/O-only pps (64 B, 1k flows)",
        b: None,
        key: "pps_64b_1k_flows",
        target: 0.9,
        at_most: false,
    },
    Goal {
        name: "NAT >= 1.5 x kernel nftables NAT pps (64 B, 1k flows, same CPU)",
        b: Some("kernel-nft"),
        key: "pps_64b_1k_flows",
        target: 1.5,
        at_most: false,
    },
    Goal {
        name: "p99 <= kernel p99 at the same offered load",
        b: Some("kernel-nft"),
        key: "p99_us_common",
        target: 1.0,
        at_most: true,
    },
];

/// Every goal for every ringvs NAT datapath that was measured (AF_PACKET first).
pub(super) fn goals(runs: &Runs) -> Vec<Value> {
    let measured = |n: &str| runs.iter().any(|r| r.contains_key(n));
    NAT_PAIRS
        .iter()
        .filter(|(a, _)| *a == "ringvs-nat-1w" || measured(a))
        .flat_map(|&(a, io)| GOALS.iter().map(move |g| (a, g.b.unwrap_or(io), g)))
        .map(|(a, b, g)| {
            let r = paired_ratio(runs, a, b, g.key);
            let met = r.map(|r| {
                if g.at_most {
                    r <= g.target
                } else {
                    r >= g.target
                }
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
            })
        })
        .collect()
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
