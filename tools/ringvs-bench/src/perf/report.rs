//! The report: `report.json` (host, method, per-datapath medians and runs,
//! ratios, goals, errors), `report.svg`, and the table, ratios and goals printed
//! on stdout.

use super::options::PerfArgs;
use super::packets::flows_key;
use super::stats::{NAT_PAIRS, V6_PAIRS, goals, paired_ratio};
use super::svg::svg;
use super::{Figures, ME, R, Runs, s};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What the runs gave.
pub(super) struct Outcome {
    /// The software path's section (`crate::software::measure`), if measured.
    pub software: Option<Value>,
    /// The datapaths' names, in the first run's order.
    pub names: Vec<String>,
    pub runs: Runs,
    /// Medians over runs, by datapath name.
    pub med: BTreeMap<String, Figures>,
    /// The common offered load of the latency test (pps; 0 when there was none).
    pub common_rate: f64,
    pub errors: Vec<String>,
    /// CPUs of this machine.
    pub ncpu: usize,
    pub started: Instant,
    /// How late 100 µs sleeps woke on the director's and the generator's CPUs
    /// before the datapaths ran (`sched::wake_jitter`): the noise floor.
    pub jitter: Value,
}

impl Outcome {
    /// Whether a second worker had to share the generator's CPU.
    fn contended(&self) -> bool {
        self.ncpu < 3
    }
}

/// The report (what `report.json` holds).
pub(super) fn report(a: &PerfArgs, o: &Outcome) -> Value {
    json!({
        "host": host_facts(),
        "wake_jitter_us": o.jitter,
        "method": {
            "runs": a.runs,
            "secs": a.secs,
            "flows": a.flows,
            "frame_bytes": 64,
            "director_cpu": a.dir_cpu,
            "generator_cpu": a.gen_cpu,
            "common_rate_pps": o.common_rate,
            "latency_flows": 1000,
            "conns": a.conns,
            "cps_threads": a.cps_threads,
            "ringvs_busy_poll": a.busy_poll,
            "elapsed_s": o.started.elapsed().as_secs(),
        },
        "datapaths": datapaths(o),
        "ratios": ratios(&o.runs),
        "software": o.software,
        "goals": goals(&o.runs)
            .into_iter()
            .chain(o.software.iter().flat_map(crate::software::goals))
            .collect::<Vec<_>>(),
        "errors": o.errors,
    })
}

/// One object per datapath: its medians (rounded) and every run's figures.
fn datapaths(o: &Outcome) -> Vec<Value> {
    let (names, med, runs, contended) = (&o.names, &o.med, &o.runs, o.contended());
    names
        .iter()
        .map(|n| {
            let mut o = serde_json::Map::new();
            o.insert("name".into(), json!(n));
            let two = n.ends_with("-2w");
            o.insert("contended".into(), json!(two && contended));
            for (k, v) in med.get(n).into_iter().flatten() {
                o.insert(k.clone(), json!((v * 100.0).round() / 100.0));
            }
            o.insert(
                "runs".into(),
                json!(runs.iter().map(|r| r.get(n)).collect::<Vec<_>>()),
            );
            Value::Object(o)
        })
        .collect()
}

/// The ratios of each ringvs NAT datapath to its I/O-only datapath and to the
/// kernel's, for the main figures, then the IPv6 ones ([`V6_PAIRS`]; their
/// packet rates are of 84-byte frames on the wire, IPv4's of 64) (medians of
/// the ratios within each run).
fn ratios(runs: &Runs) -> Vec<Value> {
    NAT_PAIRS
        .iter()
        .flat_map(|&(a, io)| [(a, io), (a, "kernel-nft")])
        .flat_map(|(a, b)| {
            [
                "pps_64b_1_flow",
                "pps_64b_1k_flows",
                "pps_64b_100k_flows",
                "p99_us_common",
                "cps",
            ]
            .iter()
            .filter_map(|k| {
                paired_ratio(runs, a, b, k).map(|r| {
                    json!({"a": a, "b": b, "key": k,
                           "ratio": (r * 1000.0).round() / 1000.0})
                })
            })
            .collect::<Vec<_>>()
        })
        .chain(V6_PAIRS.iter().flat_map(|&(a, b)| {
            [
                "pps_64b_1_flow",
                "pps_64b_1k_flows",
                "pps_64b_100k_flows",
                "p50_us_common",
                "p99_us_common",
            ]
            .iter()
            .filter_map(|k| {
                paired_ratio(runs, a, b, k).map(|r| {
                    json!({"a": a, "b": b, "key": k,
                           "ratio": (r * 1000.0).round() / 1000.0})
                })
            })
            .collect::<Vec<_>>()
        }))
        .collect()
}

/// Write `report.json` and `report.svg` into `--out`; their paths.
pub(super) fn write(a: &PerfArgs, o: &Outcome, report: &Value) -> R<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(&a.out).map_err(|e| format!("{}: {e}", a.out.display()))?;
    let jpath = a.out.join("report.json");
    let text = serde_json::to_string_pretty(report).map_err(s)?;
    std::fs::write(&jpath, text + "\n").map_err(|e| format!("{}: {e}", jpath.display()))?;
    let spath = a.out.join("report.svg");
    std::fs::write(&spath, svg(&o.names, &o.med, &a.flows, o.common_rate))
        .map_err(|e| format!("{}: {e}", spath.display()))?;
    Ok((jpath, spath))
}

/// Print the summary on stdout: how it was measured, the table of medians, the
/// ratios, the goals, the errors, and where the report went.
pub(super) fn print(a: &PerfArgs, o: &Outcome, report: &Value, jpath: &Path, spath: &Path) {
    let (names, med, common_rate, ncpu) = (&o.names, &o.med, o.common_rate, o.ncpu);
    println!(
        "{ME}: {} run(s) of {} s, 64-byte frames (IPv6: 84), director on CPU {}, generator on CPU {}, \
         kernel {}, {:.0} s",
        a.runs,
        a.secs,
        a.dir_cpu,
        a.gen_cpu,
        report["host"]["kernel"].as_str().unwrap_or("?"),
        o.started.elapsed().as_secs_f64()
    );
    println!(
        "noise floor (100 us sleeps woke this late, us): {}",
        o.jitter
    );
    println!(
        "medians over runs; p50/p99/p99.9 in µs at half each datapath's own 1k-flow peak (@kpps); \
         p99=/p99.9= at the same load for all ({:.1} kpps); MB@1M: ringvs VmRSS, kernel slab growth",
        common_rate / 1000.0
    );
    println!();
    print!("{}", table(names, med, &a.flows));
    let bound = super::packets::bound_key("pps_64b_1k_flows");
    for n in names {
        let flags: Vec<bool> = (o.runs.iter())
            .filter_map(|r| r.get(n)?.get(&bound).map(|v| *v > 0.0))
            .collect();
        let k = flags.iter().filter(|b| **b).count();
        if k > 0 {
            println!(
                "({n}: carried all the generator offered at 1k flows in {k} of {} runs: \
                 there its rate is the generator's, a lower bound of its own)",
                flags.len()
            );
        }
    }
    if o.contended() {
        for n in names.iter().filter(|n| n.ends_with("-2w")) {
            println!("({n}: contended: {ncpu} CPUs, the second worker shares the generator's CPU)");
        }
    }
    let cpu = cpu_table(names, med);
    if !cpu.is_empty() {
        println!();
        print!("{cpu}");
    }
    if let Some(sw) = &o.software {
        println!();
        print!("{}", crate::software::table(sw));
    }
    println!();
    print_ratios_and_goals(report);
    for e in &o.errors {
        println!("error: {e}");
    }
    println!();
    println!("report: {}  plot: {}", jpath.display(), spath.display());
}

/// The ratios, one a line, then each goal with its verdict.
fn print_ratios_and_goals(report: &Value) {
    for r in report["ratios"].as_array().into_iter().flatten() {
        println!(
            "ratio {:>13} / {:<18} {:<20} {:>7.3}",
            r["a"].as_str().unwrap_or(""),
            r["b"].as_str().unwrap_or(""),
            r["key"].as_str().unwrap_or(""),
            r["ratio"].as_f64().unwrap_or(f64::NAN)
        );
    }
    println!();
    for g in report["goals"].as_array().into_iter().flatten() {
        let verdict = match (g["met"].as_bool(), g["missed_by_pct"].as_f64()) {
            (Some(true), _) => "met".to_string(),
            (Some(false), Some(p)) => format!("MISSED by {p:.1} %"),
            _ => match g["undecided"].as_str() {
                Some(why) => format!("UNDECIDED ({why})"),
                None => "not measured".to_string(),
            },
        };
        println!(
            "goal: {:<80} measured {:>7} -> {verdict}",
            g["goal"].as_str().unwrap_or(""),
            g["measured"]
                .as_f64()
                .map_or("-".into(), |m| format!("{m:.3}"))
        );
        let c = &g["cpu_bound"];
        if let Some(r) = c["rate_ratio_at_full_cpu"].as_f64() {
            println!(
                "      by director CPU per packet: {r:.2} x at full CPU (estimate; I/O-only {})",
                c["io_only_rate_ratio_at_full_cpu"]
                    .as_f64()
                    .map_or("-".into(), |x| format!("{x:.2} x"))
            );
        }
        if let Some(b) = c["bound"].as_str() {
            println!("      machine bound: {b}");
        }
    }
}

fn kpps(v: Option<&f64>) -> String {
    v.map_or("-".into(), |v| format!("{:.1}", v / 1000.0))
}
fn int(v: Option<&f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.0}"))
}
fn one(v: Option<&f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.1}"))
}

fn table(names: &[String], med: &BTreeMap<String, Figures>, flows: &[u64]) -> String {
    let mut t = String::new();
    let _ = write!(t, "{:<16}", "datapath");
    for &n in flows {
        let _ = write!(t, " {:>10}", format!("kpps/{}", short_n(n)));
    }
    let _ = writeln!(
        t,
        " {:>6} {:>6} {:>7} {:>9} {:>8} {:>8} {:>7} {:>8} {:>8}",
        "p50", "p99", "p99.9", "@kpps", "p99=", "p99.9=", "cps", "MB@1M", "conns"
    );
    for n in names {
        let Some(f) = med.get(n) else { continue };
        let _ = write!(t, "{n:<16}");
        for &fl in flows {
            let _ = write!(t, " {:>10}", kpps(f.get(&flows_key(fl))));
        }
        let _ = writeln!(
            t,
            " {:>6} {:>6} {:>7} {:>9} {:>8} {:>8} {:>7} {:>8} {:>8}",
            int(f.get("p50_us")),
            int(f.get("p99_us")),
            int(f.get("p999_us")),
            kpps(f.get("lat_rate_pps")),
            int(f.get("p99_us_common")),
            int(f.get("p999_us_common")),
            int(f.get("cps")),
            one(f.get("rss_mb_1m_conns")),
            int(f.get("conns_tracked")),
        );
    }
    t
}

/// The director CPU's time per forwarded packet in the 1k-flow run that gave
/// the datapath's rate (`cpu.rs`), for the datapaths that have it; empty
/// if none does. `busy` is user + system + softirq + irq; where the CPU was
/// not saturated (idle left), 1e9/busy is what it could carry at that cost
/// per packet, an estimate, not a measured rate.
fn cpu_table(names: &[String], med: &BTreeMap<String, Figures>) -> String {
    let mut t = String::new();
    let rows: Vec<(&String, &Figures)> = names
        .iter()
        .filter_map(|n| Some((n, med.get(n)?)))
        .filter(|(_, f)| f.contains_key("cpu_busy_ns"))
        .collect();
    if rows.is_empty() {
        return t;
    }
    let _ = writeln!(
        t,
        "director CPU per forwarded packet, 1k flows, in the run that gave the rate (ns, medians; \
         worker = ringvs's worker threads, part of user/system; est kpps = 1e9/busy; \
         per wake = frames a worker handled per wake-up)"
    );
    let cols = [
        "busy", "user", "system", "softirq", "irq", "steal", "idle", "w-user", "w-sys",
    ];
    let _ = write!(t, "{:<16}", "datapath");
    for c in cols {
        let _ = write!(t, " {c:>8}");
    }
    let _ = writeln!(t, " {:>9} {:>9}", "est kpps", "per wake");
    for (n, f) in rows {
        let _ = write!(t, "{n:<16}");
        for c in cols {
            let k = match c {
                "w-user" => "cpu_worker_user_ns".to_string(),
                "w-sys" => "cpu_worker_system_ns".to_string(),
                c => format!("cpu_{c}_ns"),
            };
            let _ = write!(t, " {:>8}", int(f.get(&k)));
        }
        let est = f.get("cpu_busy_ns").filter(|b| **b > 0.0).map(|b| 1e9 / b);
        let per_wake = f
            .get("cpu_worker_sleeps_per_kpkt")
            .filter(|z| **z > 0.0)
            .map(|z| format!("{:.1}", 1000.0 / z))
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(t, " {:>9} {per_wake:>9}", kpps(est.as_ref()));
    }
    t
}

pub(super) fn short_n(n: u64) -> String {
    if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

fn host_facts() -> Value {
    let cmd = |p: &str, a: &[&str]| {
        std::process::Command::new(p)
            .args(a)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let model = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|c| {
        c.lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
    });
    json!({
        "date": cmd("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]),
        "kernel": cmd("uname", &["-r"]),
        "cpus": std::thread::available_parallelism().map(|n| n.get()).ok(),
        "cpu_model": model,
        "commit": cmd("git", &["rev-parse", "--short", "HEAD"]),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap (crate rule)
mod tests {
    use super::*;

    /// The CPU table lists the datapaths with a split (a spinning one has
    /// none), and the frames a worker handled per wake-up where known.
    #[test]
    fn cpu_table_shows_the_split_and_the_frames_per_wake_up() {
        let fig = |kv: &[(&str, f64)]| -> Figures {
            kv.iter().map(|(k, v)| ((*k).to_string(), *v)).collect()
        };
        let names: Vec<String> = [
            "kernel-nft",
            "ringvs-xdp-napi-rt-1w",
            "ringvs-xdp-napi-spin-1w",
        ]
        .map(String::from)
        .to_vec();
        let med = BTreeMap::from([
            (
                names[0].clone(),
                fig(&[("cpu_busy_ns", 1600.0), ("cpu_softirq_ns", 1550.0)]),
            ),
            (
                names[1].clone(),
                fig(&[
                    ("cpu_busy_ns", 2500.0),
                    ("cpu_worker_user_ns", 200.0),
                    ("cpu_worker_sleeps_per_kpkt", 400.0),
                ]),
            ),
            (names[2].clone(), fig(&[("pps_64b_1k_flows", 2.4e5)])),
        ]);
        let t = cpu_table(&names, &med);
        let row = |n: &str| t.lines().find(|l| l.starts_with(n)).unwrap().to_owned();
        let rt_row = row("ringvs-xdp-napi-rt-1w");
        let rt: Vec<&str> = rt_row.split_whitespace().collect();
        assert_eq!(rt.first(), Some(&"ringvs-xdp-napi-rt-1w"));
        assert_eq!(rt.get(1), Some(&"2500"), "{t}");
        assert_eq!(rt.last(), Some(&"2.5"), "1000 / 400 frames a wake-up: {t}");
        assert_eq!(
            row("kernel-nft").split_whitespace().last(),
            Some("-"),
            "{t}"
        );
        assert!(!t.contains("ringvs-xdp-napi-spin-1w"), "{t}");
        assert!(cpu_table(&names[2..], &med).is_empty());
    }
}
