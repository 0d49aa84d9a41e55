//! Where the director CPU's time goes per forwarded packet, in the 1k-flow
//! run that gave the datapath's rate (`packets::highest_carried`: the one at
//! the generator's full rate if carried whole) (issue 12, item 5: where the machine
//! bounds the rate, report the per-packet CPU split). Read before and after
//! that run: the director CPU's line of `/proc/stat` (user, system, softirq,
//! irq, steal, idle) and, for ringvs, the user and system time of its worker
//! threads that run on that CPU (`ringvs-w*`, `/proc/PID/task/*/stat`; a
//! second worker on the generator's CPU is not counted). Each category's share of
//! the CPU's ticks times the wall time between the reads, over the frames the
//! sink received (warm-up included), is its nanoseconds per packet.
//!
//! The kernel counts in clock ticks (100 a second): a 2-second run gives about
//! 200 (a 1-second trial of the rate search 100), so a share under 1 % is
//! noise. The reads bracket the whole generator run, its start, warm-up and
//! drain included: a datapath that sleeps when idle adds that time to idle;
//! one whose workers spin (`--busy-poll`: `setup::spins`) would add it to
//! busy, and a spinning worker is busy between frames anyway, so such a
//! datapath gets no split. The workers' voluntary context switches
//! (`/proc/PID/task/*/status`) over the same run give the frames a worker
//! handles per wake-up (a real-time worker's rare 20 µs steps aside count
//! as sleeps too; with several workers, the director CPU's worker's sleeps
//! over every forwarded frame, as for its times). Threaded NAPI (`napi/*` kthreads) is
//! counted as system time, NET_RX run from an interrupt's exit or from
//! `ksoftirqd` as softirq.

use super::generator::num;
use serde_json::Value;
use std::time::Instant;

/// The fields of a `cpuN` line of `/proc/stat`, in their order.
const FIELDS: [&str; 8] = [
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
];

/// The categories reported, by the fields they sum (nice and iowait are
/// folded into user and idle).
const CATEGORIES: [(&str, &[usize]); 6] = [
    ("user", &[0, 1]),
    ("system", &[2]),
    ("softirq", &[6]),
    ("irq", &[5]),
    ("steal", &[7]),
    ("idle", &[3, 4]),
];

/// One read of the counters.
#[derive(Clone, Debug)]
pub(super) struct Sample {
    cpu: [u64; FIELDS.len()],
    /// User and system ticks of the ringvs worker threads, and how often they
    /// went to sleep (voluntary context switches), if a director process runs.
    workers: Option<(u64, u64, u64)>,
    at: Instant,
}

/// Read the counters of CPU `cpu` and of process `pid`'s worker threads on it.
pub(super) fn sample(cpu: usize, pid: Option<u32>) -> Option<Sample> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    Some(Sample {
        cpu: cpu_line(&stat, cpu)?,
        workers: pid.and_then(|p| workers(p, cpu)),
        at: Instant::now(),
    })
}

/// The fields of CPU `cpu`'s line of a `/proc/stat` text.
fn cpu_line(stat: &str, cpu: usize) -> Option<[u64; FIELDS.len()]> {
    let tag = format!("cpu{cpu}");
    let line = stat
        .lines()
        .find(|l| l.split_whitespace().next() == Some(tag.as_str()))?;
    let mut out = [0; FIELDS.len()];
    let mut vals = line.split_whitespace().skip(1);
    for v in &mut out {
        *v = vals.next()?.parse().ok()?;
    }
    Some(out)
}

/// User and system ticks of a `/proc/PID/task/TID/stat` text (fields 14 and
/// 15), and the CPU it last ran on (field 39), counted after the command
/// name (which may hold spaces and parentheses, so from the last `)`).
fn task_times(stat: &str) -> Option<(u64, u64, usize)> {
    let (_, rest) = stat.rsplit_once(')')?;
    // `rest` starts at field 3.
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |field: usize| f.get(field - 3)?.parse().ok();
    Some((num(14)?, num(15)?, num(39)? as usize))
}

/// The `voluntary_ctxt_switches` of a `/proc/PID/task/TID/status` text: the
/// times the task went to sleep.
fn sleeps(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))?
        .trim()
        .parse()
        .ok()
}

/// The summed user and system ticks and sleeps of process `pid`'s worker
/// threads that run on `cpu` (workers are pinned).
fn workers(pid: u32, cpu: usize) -> Option<(u64, u64, u64)> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut sum = None;
    for t in dir.flatten() {
        let path = t.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if !comm.starts_with("ringvs-w") {
            continue;
        }
        if let Some((u, s, _)) = std::fs::read_to_string(path.join("stat"))
            .ok()
            .as_deref()
            .and_then(task_times)
            .filter(|t| t.2 == cpu)
        {
            // A task whose status cannot be read is left out, as one whose
            // stat cannot.
            let Some(z) = std::fs::read_to_string(path.join("status"))
                .ok()
                .as_deref()
                .and_then(sleeps)
            else {
                continue;
            };
            let (su, ss, sz) = sum.unwrap_or((0, 0, 0));
            sum = Some((su + u, ss + s, sz + z));
        }
    }
    sum
}

/// Nanoseconds of the director CPU per forwarded packet between `a` and `b`,
/// by category (`cpu_<category>_ns`, with `cpu_busy_ns` the sum of user,
/// system, softirq and irq), and the workers' own (`cpu_worker_user_ns`,
/// `cpu_worker_system_ns`), with the times they went to sleep per 1000
/// packets (`cpu_worker_sleeps_per_kpkt`: 1000 over it is the frames a
/// worker handles per wake-up). Nothing if no tick or no frame was counted.
pub(super) fn split(a: &Sample, b: &Sample, forwarded: f64) -> Vec<(String, f64)> {
    let d: Vec<u64> = (a.cpu.iter().zip(&b.cpu))
        .map(|(x, y)| y.saturating_sub(*x))
        .collect();
    let ticks: u64 = d.iter().sum();
    let wall_ns = b.at.saturating_duration_since(a.at).as_nanos() as f64;
    if ticks == 0 || forwarded < 1.0 || wall_ns <= 0.0 {
        return Vec::new();
    }
    let per_tick = wall_ns / ticks as f64 / forwarded;
    let ns = |fields: &[usize]| fields.iter().map(|&i| d[i]).sum::<u64>() as f64 * per_tick;
    let mut out: Vec<(String, f64)> = CATEGORIES
        .iter()
        .map(|(name, fields)| (format!("cpu_{name}_ns"), ns(fields)))
        .collect();
    out.push(("cpu_busy_ns".into(), ns(&[0, 1, 2, 5, 6])));
    if let (Some((au, asys, az)), Some((bu, bsys, bz))) = (a.workers, b.workers) {
        out.push((
            "cpu_worker_user_ns".into(),
            bu.saturating_sub(au) as f64 * per_tick,
        ));
        out.push((
            "cpu_worker_system_ns".into(),
            bsys.saturating_sub(asys) as f64 * per_tick,
        ));
        out.push((
            "cpu_worker_sleeps_per_kpkt".into(),
            bz.saturating_sub(az) as f64 * 1000.0 / forwarded,
        ));
    }
    out
}

/// The split over a generator run (`run`: its JSON) between two samples;
/// empty if either is missing.
pub(super) fn split_of(a: Option<Sample>, b: Option<Sample>, run: &Value) -> Vec<(String, f64)> {
    let (Some(a), Some(b)) = (a, b) else {
        return Vec::new();
    };
    let forwarded =
        num(run, &["received"]).unwrap_or(0.0) + num(run, &["warmup_received"]).unwrap_or(0.0);
    split(&a, &b, forwarded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn reads_a_cpu_line_and_a_task_line() {
        let stat =
            "cpu  9 9 9 9 9 9 9 9 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\ncpu1 10 0 30 40 0 60 70 80 0 0\n";
        assert_eq!(cpu_line(stat, 1), Some([10, 0, 30, 40, 0, 60, 70, 80]));
        assert_eq!(cpu_line(stat, 0), Some([1, 2, 3, 4, 5, 6, 7, 8]));
        assert_eq!(cpu_line(stat, 2), None);
        assert_eq!(cpu_line("cpu1 1 2\n", 1), None, "a short line");
        // The command name may hold spaces and parentheses.
        // Fields 4..13, utime and stime (14, 15), 16..38, the CPU (39).
        let rest: Vec<String> = (16..39).map(|f| f.to_string()).collect();
        let task = format!(
            "42 (ringvs-w0 (x) y) R 4 5 6 7 8 9 10 11 12 13 1234 567 {} 1 40",
            rest.join(" ")
        );
        assert_eq!(task_times(&task), Some((1234, 567, 1)));
        assert_eq!(task_times("42 (x) R 1 2"), None);
        let status =
            "Name:\tringvs-w0\nvoluntary_ctxt_switches:\t70068\nnonvoluntary_ctxt_switches:\t12\n";
        assert_eq!(sleeps(status), Some(70068));
        assert_eq!(sleeps("Name:\tx\n"), None);
    }

    #[test]
    fn splits_the_ticks_by_category_per_packet() {
        let at = Instant::now();
        let a = Sample {
            cpu: [100, 0, 100, 100, 0, 0, 100, 0],
            workers: Some((10, 10, 1000)),
            at,
        };
        // 200 ticks over 2 s: user 40, system 60, softirq 80, idle 20; the
        // workers 30 user and 50 system of them. 1M frames forwarded.
        let b = Sample {
            cpu: [140, 0, 160, 120, 0, 0, 180, 0],
            workers: Some((40, 60, 251_000)),
            at: at + Duration::from_secs(2),
        };
        let got: std::collections::BTreeMap<String, f64> = split(&a, &b, 1e6).into_iter().collect();
        let ns = |k: &str| got.get(k).copied().map(f64::round);
        // A tick is 2 s / 200 = 10 ms; per packet 10 ns.
        assert_eq!(ns("cpu_user_ns"), Some(400.0));
        assert_eq!(ns("cpu_system_ns"), Some(600.0));
        assert_eq!(ns("cpu_softirq_ns"), Some(800.0));
        assert_eq!(ns("cpu_idle_ns"), Some(200.0));
        assert_eq!(ns("cpu_busy_ns"), Some(1800.0));
        assert_eq!(ns("cpu_worker_user_ns"), Some(300.0));
        assert_eq!(ns("cpu_worker_system_ns"), Some(500.0));
        // 250 000 sleeps over 1M frames: 4 frames a wake-up.
        assert_eq!(ns("cpu_worker_sleeps_per_kpkt"), Some(250.0));
        assert!(split(&a, &a, 1e6).is_empty(), "no tick counted");
        assert!(split(&a, &b, 0.0).is_empty(), "no frame forwarded");
    }
}
