//! `--sched-trace`: where a worker's latency tail comes from. During the
//! common-load latency measurement of a ringvs datapath, `perf sched record`
//! traces the director's CPU; `perf sched timehist` then gives, for every time
//! the worker ran, how long it had waited runnable before (its scheduling
//! delay), and which tasks held the CPU meanwhile: the kernel's receive threads
//! (`ksoftirqd`, threaded NAPI `napi/*`), ringvs's own other threads, or
//! anything else. The figures go into report.json (`sched_*` keys) and the
//! table of culprits to stderr.

use super::{Figures, R, put};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The worker thread's name (`ringvs-w0`: the single-worker datapaths).
const WORKER: &str = "ringvs-w0";
/// Scheduling delays above this count as a stall whose culprits are listed.
const STALL_MS: f64 = 0.05;

/// A running `perf sched record` on one CPU.
pub(super) struct Trace {
    child: Child,
    file: PathBuf,
    /// Stops `perf` and removes its file if a signal ends the benchmark.
    undo: crate::undo::Ticket,
}

impl Trace {
    /// Start tracing `cpu` for `secs` seconds into a file named after `tag`.
    pub(super) fn start(cpu: usize, secs: u64, tag: &str) -> R<Self> {
        let file = std::env::temp_dir().join(format!("rvperf-sched-{tag}.data"));
        let child = Command::new("perf")
            .args(["sched", "record", "-C", &cpu.to_string(), "-o"])
            .arg(&file)
            .args(["--", "sleep", &secs.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("--sched-trace needs perf: {e}"))?;
        let undo = crate::undo::child(child.id(), Some(file.clone()));
        Ok(Self { child, file, undo })
    }

    /// Wait for the trace to end, summarise it into `f` (keys with `suffix`),
    /// print the culprits, and delete the trace.
    pub(super) fn finish(mut self, name: &str, suffix: &str, f: &mut Figures) -> R<()> {
        let _ = self.child.wait();
        drop(self.undo);
        let out = Command::new("perf")
            .args(["sched", "timehist", "-i"])
            .arg(&self.file)
            .stderr(Stdio::null())
            .output();
        let _ = std::fs::remove_file(&self.file);
        let out = out.map_err(|e| format!("perf sched timehist: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let s = summarise(&parse(&text));
        put(f, &format!("sched_delay_p99_us{suffix}"), s.p99);
        put(f, &format!("sched_delay_p999_us{suffix}"), s.p999);
        put(f, &format!("sched_delay_max_us{suffix}"), s.max);
        put(f, &format!("sched_stalls{suffix}"), Some(s.stalls as f64));
        for (group, ms) in &s.blame {
            put(f, &format!("sched_stall_{group}_ms{suffix}"), Some(*ms));
        }
        eprintln!(
            "#   {name:<16} worker scheduling delay: p99 {:.0} p99.9 {:.0} max {:.0} us; {} stalls > {} us, CPU meanwhile (ms): {}",
            s.p99.unwrap_or(-1.0),
            s.p999.unwrap_or(-1.0),
            s.max.unwrap_or(-1.0),
            s.stalls,
            STALL_MS * 1000.0,
            s.blame
                .iter()
                .map(|(g, ms)| format!("{g} {ms:.2}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok(())
    }
}

/// Is the tool `perf` (or any that answers `--version`) there (checked
/// before a long run, not after)?
/// Where `perf sched` and bpftrace find the kernel's tracepoints.
const TRACEFS: &str = "/sys/kernel/tracing";

/// Make sure the kernel's tracepoints are reachable (tracefs mounted at
/// [`TRACEFS`]), mounting it if it is not: a fresh host or container may have
/// it unmounted, and then both tracers find no tracepoint at all.
pub(super) fn tracefs() -> Result<(), String> {
    let events = Path::new(TRACEFS).join("events");
    if events.is_dir() {
        return Ok(());
    }
    let mounted = Command::new("mount")
        .args(["-t", "tracefs", "nodev", TRACEFS])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if mounted && events.is_dir() {
        eprintln!("# mounted tracefs at {TRACEFS} (the tracers' tracepoints)");
        return Ok(());
    }
    Err(format!(
        "no tracepoints: tracefs is not mounted at {TRACEFS} and could not be (mount -t tracefs nodev {TRACEFS})"
    ))
}

pub(super) fn available(perf: &Path) -> bool {
    Command::new(perf)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// One `timehist` line: when the task was switched out (s), its name, how long
/// it waited runnable before it ran (ms), and how long it ran (ms).
#[derive(Debug, PartialEq)]
struct Row {
    t: f64,
    task: String,
    delay: f64,
    run: f64,
}

fn parse(text: &str) -> Vec<Row> {
    text.lines()
        .filter_map(|l| {
            let p: Vec<&str> = l.split_whitespace().collect();
            if p.len() < 6 {
                return None;
            }
            let n = p.len();
            Some(Row {
                t: p[0].parse().ok()?,
                task: p[2..n - 3].join(" "),
                delay: p[n - 2].parse().ok()?,
                run: p[n - 1].parse().ok()?,
            })
        })
        .collect()
}

/// Which group a task that ran while the worker waited belongs to.
fn group(task: &str) -> &'static str {
    let name = task.split('[').next().unwrap_or(task);
    if name.starts_with("ksoftirqd") {
        "softirq"
    } else if name.starts_with("napi/") || name.starts_with("kthreadd") {
        "napi"
    } else if name.starts_with("ringvs") {
        "ringvs"
    } else {
        "other"
    }
}

#[derive(Debug, Default)]
struct Summary {
    p99: Option<f64>,
    p999: Option<f64>,
    max: Option<f64>,
    stalls: usize,
    /// Milliseconds each group held the CPU during the stalls.
    blame: Vec<(&'static str, f64)>,
}

fn summarise(rows: &[Row]) -> Summary {
    let is_worker = |r: &Row| r.task.starts_with(WORKER);
    let mut d: Vec<f64> = rows
        .iter()
        .filter(|r| is_worker(r))
        .map(|r| r.delay)
        .collect();
    if d.is_empty() {
        return Summary::default();
    }
    d.sort_by(f64::total_cmp);
    let q = |f: f64| Some(d[((f * d.len() as f64) as usize).min(d.len() - 1)] * 1000.0);
    let mut blame: Vec<(&'static str, f64)> = ["softirq", "napi", "ringvs", "other"]
        .into_iter()
        .map(|g| (g, 0.0))
        .collect();
    let mut stalls = 0;
    for (i, r) in rows.iter().enumerate() {
        if !is_worker(r) || r.delay < STALL_MS {
            continue;
        }
        stalls += 1;
        let (from, to) = (r.t - (r.run + r.delay) / 1e3, r.t - r.run / 1e3);
        for o in rows[..i].iter().rev().take_while(|o| o.t > from) {
            let overlap = o.t.min(to) - (o.t - o.run / 1e3).max(from);
            if overlap > 0.0 && !is_worker(o) {
                let g = group(&o.task);
                if let Some(b) = blame.iter_mut().find(|(n, _)| *n == g) {
                    b.1 += overlap * 1e3;
                }
            }
        }
    }
    Summary {
        p99: q(0.99),
        p999: q(0.999),
        max: d.last().map(|m| m * 1000.0),
        stalls,
        blame,
    }
}

/// The machine's noise floor: how late 100 µs sleeps wake up on each of `cpus`
/// (pinned threads, measured together for `secs`), as percentiles in µs. On a
/// shared virtual machine the host's scheduling shows here before it shows in
/// any datapath's tail: a datapath's p99 below this floor's cannot be told from
/// noise.
pub(super) fn wake_jitter(cpus: &[usize], secs: f64) -> serde_json::Value {
    let threads: Vec<_> = cpus
        .iter()
        .map(|&cpu| {
            std::thread::spawn(move || {
                if let Some(c) = core_affinity::get_core_ids()
                    .unwrap_or_default()
                    .into_iter()
                    .find(|c| c.id == cpu)
                {
                    core_affinity::set_for_current(c);
                }
                let nap = std::time::Duration::from_micros(100);
                let end = std::time::Instant::now() + std::time::Duration::from_secs_f64(secs);
                let mut late = Vec::with_capacity(40_000);
                while std::time::Instant::now() < end {
                    let t = std::time::Instant::now();
                    std::thread::sleep(nap);
                    late.push(t.elapsed().saturating_sub(nap).as_secs_f64() * 1e6);
                }
                late.sort_by(f64::total_cmp);
                (cpu, late)
            })
        })
        .collect();
    let mut out = serde_json::Map::new();
    for t in threads {
        let Ok((cpu, late)) = t.join() else { continue };
        if late.is_empty() {
            continue;
        }
        let q = |f: f64| (late[((f * late.len() as f64) as usize).min(late.len() - 1)]).round();
        out.insert(
            format!("cpu{cpu}"),
            serde_json::json!({"p50": q(0.5), "p99": q(0.99), "p999": q(0.999), "max": q(1.0)}),
        );
    }
    serde_json::Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEHIST: &str =
        "           time    cpu  task name                       wait time  sch delay   run time
                        [tid/pid]                          (msec)     (msec)     (msec)
--------------- ------  ------------------------------  ---------  ---------  ---------
   100.000390 [0001]  napi/ext0-431[77]                 0.000      0.000      0.300
   100.000400 [0001]  ringvs-w0[12/11]                  0.010      0.290      0.010
   100.000500 [0001]  ringvs-w0[12/11]                  0.050      0.001      0.020
";

    #[test]
    fn a_stall_is_blamed_on_what_ran_meanwhile() {
        let rows = parse(TIMEHIST);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].task, "napi/ext0-431[77]");
        let s = summarise(&rows);
        assert_eq!(s.stalls, 1);
        assert_eq!(s.max, Some(290.0));
        let napi = s.blame.iter().find(|(g, _)| *g == "napi").map(|b| b.1);
        // The NAPI thread ran 0.3 ms, of which the worker waited 0.29.
        assert!(napi.is_some_and(|ms| (ms - 0.29).abs() < 1e-6), "{napi:?}");
    }
}
