//! The side-by-side performance benchmark (`tools/bench`, `ringvs-bench perf`).
//!
//! Three datapaths do the same LVS-NAT job on the same pinned CPU, one after the
//! other, in fresh namespaces each time:
//!
//! * `ringvs-nat-1w` / `ringvs-nat-2w`: `ringvs run` with 1 (then 2) workers;
//! * `kernel-nft`: the Linux kernel forwarding, with nftables DNAT to the real
//!   servers (`numgen inc` round robin) and conntrack;
//! * `ringvs-io-only`: `ringvs run --io-only`, forwarding by destination address
//!   with no NAT (the ceiling of ringvs's own I/O path);
//! * the AF_XDP datapaths (`ringvs-xdp-*`, see [`options::Io`]): generic XDP,
//!   native XDP with the director's veth NAPI threaded on the director's CPU
//!   (`-napi-`), busy polling (`-busy-`), SCHED_FIFO workers (`-rt-`), two
//!   workers on two-queue veths (`-2w`);
//! * `ringvs-nat6-1w` and `kernel-nft6` (by `--datapaths` only): the same NAT
//!   job over IPv6 (84-byte frames, [VIP6]:9000) in a dual-stack packet lab,
//!   compared with the kernel's and with their IPv4 figures ([`stats::V6_PAIRS`]).
//!
//! Packet tests use two namespaces and the traffic generator `ringvs-gen`:
//!
//! ```text
//!  rv{tag}-pg (generator)                    rv{tag}-pd (director under test)
//! +----------------------------+   veth    +------------------------------+
//! | g0 198.18.0.1/24     (TX)  |-----------| ext0   (RPS -> director CPU) |
//! | s0 198.19.0.2/24, .3 (RX)  |-----------| int0   (RPS -> director CPU) |
//! |  netdev ingress: drop IPv4 |           | ringvs, or the kernel's NAT  |
//! +----------------------------+           +------------------------------+
//! ```
//!
//! The generator sends 64-byte frames (60 + FCS) from `g0` to the director's
//! `ext0` MAC and counts (and timestamps) what comes out of `int0` on `s0`'s RX
//! ring; AF_PACKET taps see frames before the netdev ingress hook, so the
//! generator's kernel drops them after the count and does no further work. `s0`
//! carries the real-server addresses so it answers ARP for them.
//!
//! CPU placement: everything of the director on one CPU (ringvs's worker through
//! `--cpus` plus `taskset` for the whole process; for every datapath the receive
//! work of `ext0`/`int0` is steered to that CPU with RPS, so the kernel's share —
//! all of it for `kernel-nft`, the AF_PACKET taps and the dropped IP input for
//! ringvs — is counted); the generator (TX, RX and the sink side's RPS) on another.
//! Two workers need two cores besides the generator: on a 2-core machine they
//! share the generator's core and the result is marked contended.
//!
//! Connections per second use the namespace [`Lab`] (client, director, switch, two
//! real servers running `serve-http`) with `ringvs-gen tcp-cps`; resident memory
//! with 1M tracked connections fills the director with `ringvs-gen syn` (one SYN
//! per flow) and reads the director's `VmRSS` (for the kernel: the growth of the
//! slab caches, i.e. conntrack's memory).
//!
//! Each figure is the median over runs; ratios between datapaths are taken within
//! each run, then the median. Every load is bounded in count and time; every
//! namespace is deleted on the way out, also on error.
//!
//! The parts, by job: [`options`] (the command line, the datapaths), [`setup`]
//! (namespaces, CPU steering, each datapath started), [`generator`] (running
//! `ringvs-gen` and other programs in the namespaces), the tests [`packets`],
//! [`memory`] and [`cps`], then [`stats`] (medians, paired ratios, goals),
//! [`report`] (JSON, printed table) and [`svg`] (the plot). After the datapaths,
//! the software path alone (`crate::software`: the worker loop over in-memory
//! queues on the director's CPU) adds the `software` section. This file runs them:
//! [`perf_bench`].

mod cps;
mod cpu;
mod generator;
mod memory;
mod options;
mod packets;
pub mod pool;
mod report;
mod sched;
mod setup;
mod stages;
mod stats;
mod svg;

pub use options::PerfArgs;

use cps::cps_test;
use memory::memory_test;
use options::Datapath;
use packets::{common_latency, packet_tests};
use report::Outcome;
use serde_json::Value;
use stats::medians;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

type R<T> = Result<T, String>;

/// Prefix of this benchmark's messages.
const ME: &str = "ringvs-bench perf";

fn s<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// UDP port of the packet tests (VIP and real servers).
pub const UDP_PORT: u16 = 9000;
/// Frame size the generator is asked for (64 bytes on the wire with the FCS).
pub const FRAME: &str = "60";
/// The same for IPv6 datapaths: the smallest stamped IPv6 UDP frame (84 bytes
/// on the wire; IPv6's header is 20 bytes longer than IPv4's).
pub const FRAME6: &str = "80";
/// Connections the memory test tracks.
pub const MEM_CONNS: u64 = 1_000_000;
/// `--max-conns` per worker in the memory test.
pub const MEM_MAX_CONNS: u64 = 1 << 20;
/// Longest single generator run (seconds of load).
pub const MAX_SECS: u64 = 60;
/// Most runs per figure.
pub const MAX_RUNS: usize = 10;
/// SYN passes at most to fill the connection table.
const SYN_PASSES: usize = 3;
/// Seconds one SYN pass may take at most.
const SYN_SECS: u64 = 100;
/// Loss below which an offered rate counts as carried (0.1 %).
pub const LOSS_TOLERANCE: f64 = 0.001;
/// Steps of the search for the highest carried rate.
const SEARCH_STEPS: usize = 6;

/// One run's figures for one datapath, by key.
type Figures = BTreeMap<String, f64>;

fn put(f: &mut Figures, k: &str, v: Option<f64>) {
    if let Some(v) = v.filter(|v| v.is_finite()) {
        f.insert(k.to_owned(), v);
    }
}

/// All runs: `runs[r][datapath name]`.
type Runs = Vec<BTreeMap<String, Figures>>;

/// The whole benchmark; returns the report.
pub fn perf_bench(a: &PerfArgs) -> R<Value> {
    let ncpu = options::check(a)?;
    let dps = a
        .datapaths
        .iter()
        .map(|d| Datapath::parse(d))
        .collect::<R<Vec<_>>>()?;
    let names: Vec<String> = dps.iter().map(|d| d.name()).collect();
    let started = Instant::now();
    let jitter = sched::wake_jitter(&[a.dir_cpu, a.gen_cpu], 2.0);
    let mut m = Measured::default();
    for r in 0..a.runs {
        measure_run(a, &dps, r, started, &mut m);
    }
    let med: BTreeMap<String, Figures> = names
        .iter()
        .map(|n| (n.clone(), medians(&m.runs, n)))
        .collect();
    let software = software_test(a, &mut m.errors);
    let o = Outcome {
        software,
        names,
        runs: m.runs,
        med,
        common_rate: m.common.unwrap_or(0) as f64,
        errors: m.errors,
        ncpu,
        started,
        jitter,
    };
    let report = report::report(a, &o);
    let (jpath, spath) = report::write(a, &o, &report)?;
    report::print(a, &o, &report, &jpath, &spath);
    Ok(report)
}

/// The software path alone (`ringvs-bench software`, on the director's CPU,
/// `--runs` runs), unless `--no-software`; a failure is added to `errors`.
fn software_test(a: &PerfArgs, errors: &mut Vec<String>) -> Option<Value> {
    if a.no_software {
        return None;
    }
    eprintln!("# software path (null I/O) on CPU {}", a.dir_cpu);
    match crate::software::measure(&crate::software::SoftwareArgs::with(a.dir_cpu, a.runs)) {
        Ok(v) => Some(v),
        Err(e) => {
            eprintln!("{ME}: software: {e}");
            errors.push(format!("software: {e}"));
            None
        }
    }
}

/// What the runs so far measured.
#[derive(Default)]
struct Measured {
    runs: Runs,
    errors: Vec<String>,
    /// The offered load of the common latency test, set by the first run.
    common: Option<u64>,
}

/// Run `r` (from 0): each datapath's tests (in reverse order in every other
/// run), then each one's latency at the common load.
fn measure_run(a: &PerfArgs, dps: &[Datapath], r: usize, started: Instant, m: &mut Measured) {
    let exe = a.ringvs.as_path();
    let mut order = dps.to_vec();
    if r % 2 == 1 {
        order.reverse();
    }
    let mut this = BTreeMap::new();
    for dp in order {
        eprintln!(
            "# run {}/{}: {} ({:.0}s)",
            r + 1,
            a.runs,
            dp.name(),
            started.elapsed().as_secs_f64()
        );
        this.insert(dp.name(), measure_datapath(exe, a, dp, r, &mut m.errors));
    }
    // The same offered load for all: half the lowest 1k-flow peak of the
    // first run (every datapath can carry it).
    if m.common.is_none() {
        m.common = this
            .values()
            .filter_map(|f| f.get("peak_pps"))
            .copied()
            .reduce(f64::min)
            .map(|p| (p / 2.0) as u64);
    }
    if let Some(rate) = m.common {
        for dp in dps {
            let f = this.entry(dp.name()).or_default();
            if let Err(e) = common_latency(exe, a, *dp, rate, f) {
                eprintln!("{ME}: {} latency at {rate} pps: {e}", dp.name());
                m.errors
                    .push(format!("run {}: {} common latency: {e}", r + 1, dp.name()));
            }
        }
    }
    m.runs.push(this);
}

/// Datapath `dp`'s tests in run `r`: packets, memory, connections per second;
/// each failure is reported and added to `errors`.
fn measure_datapath(
    exe: &Path,
    a: &PerfArgs,
    dp: Datapath,
    r: usize,
    errors: &mut Vec<String>,
) -> Figures {
    let mut f = Figures::new();
    for (what, res) in [
        ("packets", packet_tests(exe, a, dp, &mut f)),
        ("memory", memory_test(exe, a, dp, &mut f)),
        ("cps", cps_test(exe, a, dp, &mut f)),
    ] {
        if let Err(e) = res {
            eprintln!("{ME}: {} {what}: {e}", dp.name());
            errors.push(format!("run {}: {} {what}: {e}", r + 1, dp.name()));
        }
    }
    f
}

/// `ringvs-bench perf`: 0 when every figure was measured, 3 when the report
/// lists errors, 1 when there is no report.
pub fn main(a: PerfArgs) -> ExitCode {
    if a.print_cap {
        println!("{}", options::time_cap(&a));
        return ExitCode::SUCCESS;
    }
    match perf_bench(&a) {
        Ok(rep) if rep["errors"].as_array().is_some_and(Vec::is_empty) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(3),
        Err(e) => {
            eprintln!("{ME}: {e}");
            ExitCode::FAILURE
        }
    }
}
