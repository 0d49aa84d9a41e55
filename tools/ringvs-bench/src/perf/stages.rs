//! `--stage-trace`: the waits a frame meets on its way through the director,
//! stage by stage, during the common-load latency measurement of every
//! datapath (the kernel's too). A `bpftrace` program histograms, in µs:
//!
//! * `napi_wait`: how long a threaded-NAPI kthread (`napi/*`: the receive work
//!   of the native-XDP datapaths) waited runnable after it was woken;
//! * `worker_wait`: the same for ringvs's workers (`ringvs-w*`);
//! * `gen_rx_wait`: the same for the generator's sink thread (`gen-rx`, on
//!   the generator's CPU beside its TX thread): not the director's, but the
//!   instrument's; it waited milliseconds in some runs, which the latency
//!   figures counted until the sink learnt to leave out a frame's wait in
//!   its ring (`blast.rs`, `receive`);
//! * `softirq_wait_cpuN`: NET_RX raised to NET_RX run, per CPU (where the
//!   kernel's NAT, RPS and the AF_PACKET taps do their work);
//! * `softirq_run_cpuN`: how long each NET_RX run held CPU N;
//! * `tx_kick`: how long a worker's `sendto()` took (AF_XDP copy mode sends
//!   its frames inside that call, through the driver, with the CPU held);
//! * `worker_sleep`: how long a worker slept in `poll(2)` (the syscall glibc
//!   uses for it on x86-64; `ppoll` is not traced), and `worker_timeout` the
//!   sleeps that ended by the timeout (5 ms) less than 2 ms after the
//!   worker's last sleep that ended woken: traffic was flowing, so each is a
//!   frame that came without waking the worker, or the traffic's end (one per
//!   generator run). No `worker_timeout` beside a `worker_sleep` means none.
//!
//! [`sched`](super::sched) says whether the *worker* waited; this says where a
//! *frame* may have waited besides: a frame waits in veth's ring for its NAPI
//! kthread, in the socket for the worker, and behind every kick. Each
//! histogram becomes `stage_{name}_p50_us{suffix}`, `…_p99_…`, `…_max_…` and
//! `…_count{suffix}` in report.json; the quantiles are the upper bounds of
//! bpftrace's power-of-two buckets (`p99 64` reads "99 % waited under 64 µs").

use super::{Figures, R, put};
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The program: wake-up to run of the kthreads and workers, NET_RX's raise to
/// run and run time per CPU, the workers' `sendto()`.
const PROGRAM: &str = r#"
tracepoint:sched:sched_wakeup, tracepoint:sched:sched_wakeup_new { @woke[args->pid] = nsecs; }
tracepoint:sched:sched_switch {
  $t = @woke[args->next_pid];
  if ($t) {
    $d = (nsecs - $t) / 1000;
    if (strncmp(args->next_comm, "napi/", 5) == 0) { @napi_wait = hist($d); @napi_wait_max = max($d); }
    if (strncmp(args->next_comm, "ringvs-w", 8) == 0) { @worker_wait = hist($d); @worker_wait_max = max($d); }
    if (strncmp(args->next_comm, "gen-rx", 6) == 0) { @gen_rx_wait = hist($d); @gen_rx_wait_max = max($d); }
    delete(@woke[args->next_pid]);
  }
}
tracepoint:irq:softirq_raise / args->vec == 3 / { @raised[cpu] = nsecs; }
tracepoint:irq:softirq_entry / args->vec == 3 / {
  $t = @raised[cpu];
  if ($t) { $d = (nsecs - $t) / 1000; @softirq_wait[cpu] = hist($d); @softirq_wait_max[cpu] = max($d); delete(@raised[cpu]); }
  @entered[cpu] = nsecs;
}
tracepoint:irq:softirq_exit / args->vec == 3 / {
  $t = @entered[cpu];
  if ($t) { $d = (nsecs - $t) / 1000; @softirq_run[cpu] = hist($d); @softirq_run_max[cpu] = max($d); delete(@entered[cpu]); }
}
tracepoint:syscalls:sys_enter_sendto / strncmp(comm, "ringvs-w", 8) == 0 / { @kick[tid] = nsecs; }
tracepoint:syscalls:sys_exit_sendto / @kick[tid] / {
  $d = (nsecs - @kick[tid]) / 1000; @tx_kick = hist($d); @tx_kick_max = max($d); delete(@kick[tid]);
}
tracepoint:syscalls:sys_enter_poll / strncmp(comm, "ringvs-w", 8) == 0 / { @polled[tid] = nsecs; }
tracepoint:syscalls:sys_exit_poll / @polled[tid] / {
  $d = (nsecs - @polled[tid]) / 1000; @worker_sleep = hist($d); @worker_sleep_max = max($d);
  if (args->ret > 0) { @ended[tid] = nsecs; }
  else if (args->ret == 0 && @ended[tid] && @polled[tid] - @ended[tid] < 2000000) {
    @worker_timeout = hist($d); @worker_timeout_max = max($d);
  }
  delete(@polled[tid]);
}
END { clear(@woke); clear(@raised); clear(@entered); clear(@kick); clear(@polled); clear(@ended); }
"#;

/// How long bpftrace gets to attach its probes before the measurement starts.
const ATTACH: Duration = Duration::from_secs(2);

/// A running bpftrace.
pub(super) struct Stages {
    child: Child,
    /// Stops bpftrace if a signal ends the benchmark.
    undo: crate::undo::Ticket,
}

impl Stages {
    /// Start tracing for `secs` seconds (plus the attach time, waited for here).
    pub(super) fn start(secs: u64) -> R<Self> {
        let child = Command::new("bpftrace")
            .args(["-f", "json", "-c"])
            .arg(format!("/bin/sleep {}", secs + 1))
            .args(["-e", PROGRAM])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("--stage-trace needs bpftrace: {e}"))?;
        let undo = crate::undo::child(child.id(), None);
        std::thread::sleep(ATTACH);
        Ok(Self { child, undo })
    }

    /// Wait for the trace to end, put its figures into `f` (keys with
    /// `suffix`) and print them.
    pub(super) fn finish(self, name: &str, suffix: &str, f: &mut Figures) -> R<()> {
        let out = self.child.wait_with_output();
        drop(self.undo);
        let out = out.map_err(|e| format!("bpftrace: {e}"))?;
        let stages = parse(&String::from_utf8_lossy(&out.stdout));
        if stages.is_empty() {
            // Why, if bpftrace said (its last error: the one that stopped it,
            // e.g. a tracepoint it could not attach).
            let err = String::from_utf8_lossy(&out.stderr);
            let why = err
                .lines()
                .rfind(|l| l.contains("ERROR"))
                .map(|l| format!(" ({})", l.trim()))
                .unwrap_or_default();
            return Err(format!("{name}: bpftrace gave no histogram{why}"));
        }
        let mut line = Vec::new();
        for s in &stages {
            let k = |what: &str| format!("stage_{}_{what}{suffix}", s.name);
            put(f, &k("p50_us"), Some(s.p50));
            put(f, &k("p99_us"), Some(s.p99));
            put(f, &k("max_us"), s.max);
            put(f, &k("count"), Some(s.count as f64));
            line.push(format!(
                "{} p50<{:.0} p99<{:.0} max {:.0} (n={})",
                s.name,
                s.p50,
                s.p99,
                s.max.unwrap_or(-1.0),
                s.count
            ));
        }
        eprintln!("#   {name:<16} stages (us): {}", line.join("; "));
        Ok(())
    }
}

/// Is bpftrace there (checked before a long run, not after)?
pub(super) fn available() -> bool {
    super::sched::available(std::path::Path::new("bpftrace"))
}

/// One histogram's summary.
#[derive(Debug, PartialEq)]
struct Stage {
    name: String,
    count: u64,
    p50: f64,
    p99: f64,
    max: Option<f64>,
}

/// The histograms of bpftrace's JSON lines (`{"type": "hist", "data": {"@x":
/// [buckets]}}`, or per key `{"@x": {"0": [buckets], …}}`), each with its
/// `@x_max` from the `map` lines; keyed histograms are named `x_cpuK`.
fn parse(out: &str) -> Vec<Stage> {
    let lines: Vec<Value> = out
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let data = |ty: &'static str| {
        lines
            .iter()
            .filter(move |v| v["type"] == ty)
            .filter_map(|v| v["data"].as_object())
            .flat_map(|m| m.iter())
    };
    let mut maxes: Vec<(String, f64)> = Vec::new();
    for (k, v) in data("map") {
        let name = k.trim_start_matches('@').trim_end_matches("_max");
        match v {
            Value::Object(per) => maxes.extend(
                per.iter()
                    .filter_map(|(key, m)| Some((format!("{name}_cpu{key}"), m.as_f64()?))),
            ),
            m => maxes.extend(m.as_f64().map(|m| (name.to_owned(), m))),
        }
    }
    let mut stages = Vec::new();
    for (k, v) in data("hist") {
        let name = k.trim_start_matches('@');
        let named: Vec<(String, &Value)> = match v {
            Value::Object(per) => per
                .iter()
                .map(|(key, b)| (format!("{name}_cpu{key}"), b))
                .collect(),
            b => vec![(name.to_owned(), b)],
        };
        for (name, buckets) in named {
            let max = maxes.iter().find(|(n, _)| *n == name).map(|m| m.1);
            stages.extend(summarise(name, buckets, max));
        }
    }
    stages.sort_by(|a, b| a.name.cmp(&b.name));
    stages
}

/// Count and quantiles (bucket upper bounds) of one histogram's buckets.
fn summarise(name: String, buckets: &Value, max: Option<f64>) -> Option<Stage> {
    let b: Vec<(f64, u64)> = buckets
        .as_array()?
        .iter()
        .filter_map(|b| Some((b["max"].as_f64()? + 1.0, b["count"].as_u64()?)))
        .collect();
    let count: u64 = b.iter().map(|x| x.1).sum();
    if count == 0 {
        return None;
    }
    let q = |f: f64| {
        let want = (f * count as f64).ceil() as u64;
        let mut seen = 0;
        b.iter()
            .find(|(_, c)| {
                seen += c;
                seen >= want
            })
            .map_or(f64::NAN, |x| x.0)
    };
    Some(Stage {
        p50: q(0.5),
        p99: q(0.99),
        name,
        count,
        max,
    })
}

#[cfg(test)]
mod test {
    use super::*;

    /// bpftrace 0.17's JSON lines, as `-f json` prints them.
    const OUT: &str = r#"{"type": "attached_probes", "data": {"probes": 7}}

{"type": "hist", "data": {"@napi_wait": [{"min": 1, "max": 1, "count": 10}, {"min": 8, "max": 15, "count": 89}, {"min": 1024, "max": 2047, "count": 1}]}}
{"type": "map", "data": {"@napi_wait_max": 2029}}
{"type": "hist", "data": {"@softirq_wait": {"1": [{"min": 0, "max": 0, "count": 4}], "0": [{"min": 2, "max": 3, "count": 2}]}}}
{"type": "map", "data": {"@softirq_wait_max": {"1": 0, "0": 3}}}
"#;

    #[test]
    fn histograms_become_quantiles() {
        let s = parse(OUT);
        let names: Vec<&str> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["napi_wait", "softirq_wait_cpu0", "softirq_wait_cpu1"]
        );
        assert_eq!(
            s[0],
            Stage {
                name: "napi_wait".into(),
                count: 100,
                p50: 16.0,
                p99: 16.0,
                max: Some(2029.0),
            }
        );
        assert_eq!((s[1].p50, s[1].p99, s[1].max), (4.0, 4.0, Some(3.0)));
        assert_eq!((s[2].count, s[2].p99, s[2].max), (4, 1.0, Some(0.0)));
    }

    #[test]
    fn the_tail_bucket_counts() {
        let mut out = OUT.replace("\"count\": 1}]", "\"count\": 2}]");
        out = out.replace("\"count\": 89", "\"count\": 88");
        let s = parse(&out);
        assert_eq!((s[0].count, s[0].p99), (100, 2048.0));
    }

    #[test]
    fn nothing_parsed_is_nothing() {
        assert!(parse("ERROR: no probes\n").is_empty());
        assert!(parse(r#"{"type": "hist", "data": {"@x": []}}"#).is_empty());
    }
}
