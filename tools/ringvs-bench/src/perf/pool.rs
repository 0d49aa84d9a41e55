//! `ringvs-bench pool`: the p99 goal (issue 12, item 4) over several `perf`
//! reports at once.
//!
//! One report's verdict is the median of its runs' paired ratios (each run's
//! p99 at the common load over the kernel's in the same run), and on a shared
//! host it moves from set to set with the kernel's own tail, which read in two
//! modes: a few hundred µs, or milliseconds. Pooling the runs of several sets
//! and splitting them by the kernel's mode says which of the two a verdict
//! rests on. (The millisecond mode turned out to be the generator's sink
//! waiting for its CPU, counted into every datapath's latency until the sink
//! learnt to leave out a frame's wait in its ring: docs/benchmarks.md, "The
//! instrument's own tail". In reports made before that, the quiet runs are
//! the ones that compare the datapaths.)

use serde_json::Value;
use std::path::PathBuf;
use std::process::ExitCode;

/// The reference datapath of every ratio.
const KERNEL: &str = "kernel-nft";

#[derive(clap::Args)]
pub struct PoolArgs {
    /// `report.json` files written by `ringvs-bench perf` (`--out DIR`).
    #[arg(required = true)]
    pub reports: Vec<PathBuf>,
    /// A run whose kernel p99 at the common load is below this many µs
    /// counts as one where the kernel's tail was quiet.
    #[arg(long, default_value_t = 1000.0)]
    pub quiet_us: f64,
}

/// The paired ratios of one datapath: per report, and pooled by the kernel's
/// mode in each run.
#[derive(Debug, Default, PartialEq)]
pub struct Pooled {
    pub name: String,
    /// Each report's ratios, in run order.
    pub sets: Vec<Vec<f64>>,
    /// Ratios of the runs where the kernel's p99 was under the threshold.
    pub quiet: Vec<f64>,
    /// The others.
    pub disturbed: Vec<f64>,
}

/// Each run's `p99_us_common` of `datapath` in `report`, if it was measured.
fn p99s(report: &Value, datapath: &str) -> Option<Vec<Option<f64>>> {
    let dp = report["datapaths"]
        .as_array()?
        .iter()
        .find(|d| d["name"] == datapath)?;
    Some(
        dp["runs"]
            .as_array()?
            .iter()
            .map(|r| r["p99_us_common"].as_f64().filter(|v| *v > 0.0))
            .collect(),
    )
}

/// Pool the reports' runs, every datapath but the kernel's in the order it
/// first appears. A run missing either figure is left out; a report without
/// the kernel is an error.
pub fn pool(reports: &[(String, Value)], quiet_us: f64) -> Result<Vec<Pooled>, String> {
    let mut out: Vec<Pooled> = Vec::new();
    for (set, (what, report)) in reports.iter().enumerate() {
        let kernel = p99s(report, KERNEL).ok_or_else(|| format!("{what}: no {KERNEL} runs"))?;
        let names = report["datapaths"]
            .as_array()
            .ok_or_else(|| format!("{what}: no datapaths"))?
            .iter()
            .filter_map(|d| d["name"].as_str())
            .filter(|n| *n != KERNEL);
        for name in names {
            let i = match out.iter().position(|p| p.name == name) {
                Some(i) => i,
                None => {
                    out.push(Pooled {
                        name: name.to_owned(),
                        ..Pooled::default()
                    });
                    out.len() - 1
                }
            };
            let p = &mut out[i];
            p.sets.resize(set + 1, Vec::new());
            for (v, k) in p99s(report, name).unwrap_or_default().iter().zip(&kernel) {
                let (Some(v), Some(k)) = (v, k) else { continue };
                let r = v / k;
                p.sets[set].push(r);
                if *k < quiet_us {
                    p.quiet.push(r);
                } else {
                    p.disturbed.push(r);
                }
            }
        }
    }
    Ok(out)
}

/// The median of `v` (the mean of the middle two for an even count).
pub fn median(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// "0.77 (3 of 7 above 1)", or "-" for no runs.
fn summary(v: &[f64]) -> String {
    match median(v) {
        Some(m) => format!(
            "{m:.2} ({} of {} above 1)",
            v.iter().filter(|r| **r > 1.0).count(),
            v.len()
        ),
        None => "-".to_owned(),
    }
}

pub fn main(a: PoolArgs) -> ExitCode {
    let mut reports = Vec::new();
    for path in &a.reports {
        let what = path.display().to_string();
        let parsed = std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str::<Value>(&t).map_err(|e| e.to_string()));
        match parsed {
            Ok(v) => reports.push((what, v)),
            Err(e) => {
                eprintln!("ringvs-bench pool: {what}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let pooled = match pool(&reports, a.quiet_us) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ringvs-bench pool: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "p99 at the common load / {KERNEL}'s in the same run: medians of the paired ratios \
         (kernel quiet: its p99 under {} µs)",
        a.quiet_us
    );
    for p in &pooled {
        let sets: Vec<String> = p.sets.iter().map(|s| summary(s)).collect();
        let all: Vec<f64> = p.sets.iter().flatten().copied().collect();
        println!("{}", p.name);
        println!("  by set:           {}", sets.join(", "));
        println!("  pooled:           {}", summary(&all));
        println!("  kernel quiet:     {}", summary(&p.quiet));
        println!("  kernel disturbed: {}", summary(&p.disturbed));
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod test {
    use super::*;
    use serde_json::json;

    fn report(dps: &[(&str, &[f64])]) -> Value {
        let dps: Vec<Value> = dps
            .iter()
            .map(|(n, p)| {
                let runs: Vec<Value> = p.iter().map(|v| json!({ "p99_us_common": v })).collect();
                json!({ "name": n, "runs": runs })
            })
            .collect();
        json!({ "datapaths": dps })
    }

    #[test]
    fn runs_pair_within_their_report_and_split_by_the_kernels_mode() {
        let a = report(&[("kernel-nft", &[200.0, 3000.0]), ("x", &[400.0, 1500.0])]);
        // The second report lacks one of x's runs (0: not measured) and adds y.
        let b = report(&[
            ("x", &[100.0, 0.0, 900.0]),
            ("kernel-nft", &[2000.0, 500.0, 300.0]),
            ("y", &[1000.0, 1000.0, 1000.0]),
        ]);
        let p = pool(&[("a".into(), a), ("b".into(), b)], 1000.0).expect("pooled");
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].name, "x");
        assert_eq!(p[0].sets, [vec![2.0, 0.5], vec![0.05, 3.0]]);
        assert_eq!(p[0].quiet, [2.0, 3.0]);
        assert_eq!(p[0].disturbed, [0.5, 0.05]);
        // y first appears in the second report: no ratios of the first.
        assert_eq!(p[1].name, "y");
        assert_eq!(p[1].sets, [vec![], vec![0.5, 2.0, 1000.0 / 300.0]]);
        assert_eq!(p[1].quiet, [2.0, 1000.0 / 300.0]);
        assert_eq!(median(&p[0].quiet), Some(2.5));
        assert_eq!(summary(&p[0].disturbed), "0.28 (0 of 2 above 1)");
        assert_eq!(summary(&[]), "-");
    }

    #[test]
    fn a_report_without_the_kernel_is_an_error() {
        let r = report(&[("x", &[1.0])]);
        let e = pool(&[("r.json".into(), r)], 1000.0).expect_err("no kernel");
        assert!(e.contains("r.json") && e.contains("kernel-nft"), "{e}");
    }
}
