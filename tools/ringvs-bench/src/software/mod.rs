//! `ringvs-bench software`: the software path alone, at the memory limit.
//!
//! A one-worker director, built by `dataplane::Director` exactly as `ringvs run`
//! builds it, runs its real loop (`Worker::poll_once`, at the current time, a
//! burst from each NIC per pass) over in-memory queues that cost nothing per
//! packet ([`rig`]): no syscall, no copy into a queue, no allocation. The thread
//! is pinned to one CPU. Measured:
//!
//! * **established flows** at 1k, 100k and 1M connections (each made by a real
//!   three-way handshake): one pure ACK per connection and direction, replayed
//!   round and round in a fixed random order (the two directions half a ring
//!   apart), so at 1M connections nearly every packet misses the cache for
//!   its index slot and its slab entry. ns/packet
//!   and Mpps on one core;
//! * **new connections/s**: SYNs of new clients with 1M connections already
//!   tracked (each SYN is scheduled, inserted and forwarded; between runs the
//!   worker's clock jumps past the SYN_RECV timeout so its own expiry removes them).
//!
//! Both families, side by side: the director is dual stack and the same
//! connections exist over IPv4 and IPv6 (the same client ports, the same
//! service behind VIP:80 and [VIP6]:80); every run times IPv4 then IPv6
//! (74-byte frames instead of 54), and the `ipv6` section gives IPv6's figures
//! with `ratio_to_ipv4`, the median of the per-run ratios (ns per packet, ns
//! per connection). The client-to-server-only comparison of forwarding methods
//! (`direct`) is IPv4's.
//!
//! Every figure is the median over `--runs` runs (after one untimed warm-up
//! pass); every run checks that each packet was forwarded. The frames are
//! marked checksum-verified by the ring (`TP_STATUS_CSUM_VALID`, as a NIC with
//! RX checksum offload marks them) unless `--verify-csum`.
//!
//! ```text
//! taskset -c 1 target/release/ringvs-bench software            # about 1 minute
//! target/release/ringvs-bench software --conns 1000 --runs 3 --json
//! ```
//!
//! `tools/bench` runs it too (the `software` section of `report.json`).

mod rig;

use rig::{FRAME_LEN, FRAME_LEN6, Family, ReplayRx, Rig, STRIDE, Server};
use ringvs::nat::{State, Timeouts};
use ringvs::stats::Ctr;
use ringvs::{Nic, NicPair};
use serde_json::{Value, json};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

type R<T> = Result<T, String>;

/// Goal: established packets at 1M connections, ns per packet at most.
pub const GOAL_NS_1M: f64 = 50.0;
/// Goal: new connections per second per core with 1M tracked, at least.
pub const GOAL_NEW_PER_S: f64 = 2_000_000.0;
/// The population of the new-connection test and of the ns/packet goal.
pub const MILLION: usize = 1_000_000;

/// `ringvs-bench software`: see the module docs.
#[derive(clap::Args, Debug, Clone)]
pub struct SoftwareArgs {
    /// CPU to pin the worker thread to.
    #[arg(long, default_value_t = 1)]
    pub cpu: usize,
    /// Timed runs per figure (medians over runs).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Populations of established connections (comma separated); the largest
    /// also hosts the new-connection test.
    #[arg(long, value_delimiter = ',', default_value = "1000,100000,1000000")]
    pub conns: Vec<usize>,
    /// Packets per run in each direction.
    #[arg(long, default_value_t = 2_000_000)]
    pub packets: u64,
    /// SYNs of new clients per run of the new-connection test (0: skip it).
    #[arg(long, default_value_t = 250_000)]
    pub new_conns: usize,
    /// Frames not marked checksum-verified by the ring: the worker verifies
    /// every TCP checksum itself.
    #[arg(long)]
    pub verify_csum: bool,
    /// Frames in each replay ring at least (default: one per connection).
    /// With more frames than connections the ring goes round them again: a
    /// small table behind as many distinct frame buffers as a large one has,
    /// to tell what the frames' memory costs from what the table's does.
    #[arg(long, default_value_t = 0)]
    pub replay_frames: usize,
    /// Frames the worker drains per NIC a pass (`ringvs run --burst`): small
    /// bursts show a pass's fixed work per frame, as at low loads.
    #[arg(long, default_value_t = ringvs::dataplane::BURST)]
    pub burst: usize,
    /// Print the result as one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

impl SoftwareArgs {
    /// The defaults, `runs` runs on `cpu`.
    pub fn with(cpu: usize, runs: usize) -> Self {
        Self {
            cpu,
            runs,
            conns: vec![1000, 100_000, MILLION],
            packets: 2_000_000,
            new_conns: 250_000,
            verify_csum: false,
            replay_frames: 0,
            burst: ringvs::dataplane::BURST,
            json: false,
        }
    }

    fn check(&self) -> R<()> {
        if self.runs == 0 || self.runs > 10 {
            return Err(format!(
                "--runs {} not in 1..=10 (the SYN test moves the clock 61 s a run; established connections last 900 s)",
                self.runs
            ));
        }
        if self.conns.is_empty() || self.conns.iter().any(|&n| n == 0 || n > 4 * MILLION) {
            return Err("--conns: each in 1..=4000000".into());
        }
        if self.replay_frames > 4 * MILLION {
            return Err("--replay-frames at most 4000000".into());
        }
        if self.packets == 0 || self.packets > 100_000_000 {
            return Err("--packets in 1..=100000000".into());
        }
        if self.new_conns > MILLION {
            return Err("--new-conns at most 1000000".into());
        }
        Ok(())
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn round(v: f64, digits: i32) -> f64 {
    let k = 10f64.powi(digits);
    (v * k).round() / k
}

/// Run the benchmark on a thread pinned to `a.cpu`; the `software` section of
/// `report.json`.
pub fn measure(a: &SoftwareArgs) -> R<Value> {
    a.check()?;
    let a = a.clone();
    std::thread::Builder::new()
        .name("software-bench".into())
        .spawn(move || {
            if !core_affinity::set_for_current(core_affinity::CoreId { id: a.cpu }) {
                return Err(format!("cannot pin to CPU {}", a.cpu));
            }
            measure_pinned(&a)
        })
        .map_err(|e| e.to_string())?
        .join()
        .map_err(|_| "the benchmark thread panicked".to_string())?
}

fn measure_pinned(a: &SoftwareArgs) -> R<Value> {
    let started = Instant::now();
    let mut pops = a.conns.clone();
    pops.sort_unstable();
    pops.dedup();
    let largest = pops.last().copied().unwrap_or(0);
    let (mut established, mut established6) = (Vec::new(), Vec::new());
    let (mut new_conns, mut new_conns6) = (Value::Null, Value::Null);
    for &n in &pops {
        let extra = if n == largest { a.new_conns } else { 0 };
        let mut rig = Rig::with_method(n + extra, n + extra, "-m", a.burst)?;
        let servers = rig.establish::<Ipv4Addr>(0, n)?;
        let servers6 = rig.establish::<Ipv6Addr>(0, n)?;
        if rig.w.core.state_count(State::Established) as usize != 2 * n {
            return Err(format!(
                "{n} handshakes of each family did not give {} connections",
                2 * n
            ));
        }
        let (runs, runs6) = established_runs(a, &mut rig, &servers, &servers6)?;
        established.push(established_row(n, &runs, None));
        established6.push(established_row(n, &runs6, Some(&runs)));
        if extra > 0 {
            let (runs, runs6) = new_conn_runs(a, &mut rig, n)?;
            new_conns = new_conn_row(n, &runs, None);
            new_conns6 = new_conn_row(n, &runs6, Some(&runs));
        }
    }
    let direct = direct_runs(a, pops.first().copied().unwrap_or(1000))?;
    Ok(json!({
        "direct": direct,
        "method": {
            "cpu": a.cpu,
            "runs": a.runs,
            "packets_per_run_per_direction": a.packets,
            "new_conns_per_run": a.new_conns,
            "frame_bytes": FRAME_LEN,
            "csum_verified_by_ring": !a.verify_csum,
            "burst": a.burst,
            "elapsed_s": started.elapsed().as_secs(),
        },
        "established": established,
        "new_conns": new_conns,
        "ipv6": {
            "frame_bytes": FRAME_LEN6,
            "note": "the same worker, connections and runs as IPv4 (dual stack), interleaved run by run; ratio_to_ipv4 is the median of the per-run ratios",
            "established": established6,
            "new_conns": new_conns6,
        },
    }))
}

/// Medians of the per-run ratios `runs[i] / base[i]`.
fn paired_ratio(runs: &[f64], base: &[f64]) -> f64 {
    median(runs.iter().zip(base).map(|(r, b)| r / b).collect())
}

/// A row of `established`: `runs` in ns/packet; with `base` (the IPv4 runs
/// of the same rig), the paired ratio to it.
fn established_row(n: usize, runs: &[f64], base: Option<&[f64]>) -> Value {
    let m = median(runs.to_vec());
    let mut row = json!({
        "conns": n,
        "ns_per_packet": round(m, 1),
        "mpps": round(1000.0 / m, 2),
        "runs_ns_per_packet": runs.iter().map(|v| round(*v, 1)).collect::<Vec<_>>(),
    });
    if let Some(b) = base {
        row["ratio_to_ipv4"] = json!(round(paired_ratio(runs, b), 3));
    }
    row
}

/// The `new_conns` object: `runs` in connections/s; with `base`, the paired
/// ratio of ns per connection to it.
fn new_conn_row(tracked: usize, runs: &[f64], base: Option<&[f64]>) -> Value {
    let m = median(runs.to_vec());
    let mut row = json!({
        "tracked": tracked,
        "per_s": round(m, 0),
        "ns_per_conn": round(1e9 / m, 1),
        "runs_per_s": runs.iter().map(|v| round(*v, 0)).collect::<Vec<_>>(),
    });
    if let Some(b) = base {
        // ns per connection: the inverse of the rates' ratio.
        row["ratio_to_ipv4"] = json!(round(paired_ratio(b, runs), 3));
    }
    row
}

/// Both directions' replay rings of `servers`' connections, as the worker's RX
/// queues.
fn ack_queues<A: Family>(a: &SoftwareArgs, servers: &[Server<A>]) -> NicPair<ReplayRx> {
    let (input, output) = Rig::ack_rings(servers, a.replay_frames);
    let meta = rig::meta(A::FRAME_LEN, !a.verify_csum);
    NicPair::new(
        ReplayRx::new(input, A::STRIDE, meta),
        ReplayRx::new(output, A::STRIDE, meta),
    )
}

/// Replay `packets` frames each way from `queues` (swapped in as the worker's
/// RX queues for the run, and back out after), timed unless `warm`; ns per
/// packet, after checking every one was forwarded and the last one sent each
/// way is a well-formed `A` frame.
fn replay_run<A: Family>(rig: &mut Rig, queues: &mut NicPair<ReplayRx>, packets: u64) -> R<f64> {
    std::mem::swap(&mut rig.w.rx, queues);
    let ctr = &rig.w.core.ctr;
    let (fin, fout) = (ctr.get(Ctr::FwdIn), ctr.get(Ctr::FwdOut));
    rig.w.rx[Nic::Ext].replay(packets);
    rig.w.rx[Nic::Int].replay(packets);
    let t = Instant::now();
    let handled = rig.run(None);
    let dt = t.elapsed();
    std::mem::swap(&mut rig.w.rx, queues);
    let ctr = &rig.w.core.ctr;
    let (din, dout) = (ctr.get(Ctr::FwdIn) - fin, ctr.get(Ctr::FwdOut) - fout);
    if handled != 2 * packets || din != packets || dout != packets {
        return Err(format!(
            "{}: handled {handled}, forwarded {din} in and {dout} out of {packets} each way",
            A::NAME
        ));
    }
    for nic in [Nic::Ext, Nic::Int] {
        if !A::sent_ok(rig.w.tx[nic].last(A::FRAME_LEN)) {
            return Err(format!("{}: a frame sent on {nic:?} is malformed", A::NAME));
        }
    }
    Ok(dt.as_secs_f64() * 1e9 / handled as f64)
}

/// Timed runs of `a.packets` ACKs each way through `rig`'s established
/// connections of each family, IPv4 then IPv6 in every run; ns per packet of
/// each run, by family.
fn established_runs(
    a: &SoftwareArgs,
    rig: &mut Rig,
    servers: &[Server<Ipv4Addr>],
    servers6: &[Server<Ipv6Addr>],
) -> R<(Vec<f64>, Vec<f64>)> {
    let mut q4 = ack_queues(a, servers);
    let mut q6 = ack_queues(a, servers6);
    // Warm-up: every connection once each way.
    replay_run::<Ipv4Addr>(rig, &mut q4, (servers.len() as u64).min(a.packets))?;
    replay_run::<Ipv6Addr>(rig, &mut q6, (servers6.len() as u64).min(a.packets))?;
    let mut out = (Vec::with_capacity(a.runs), Vec::with_capacity(a.runs));
    for _ in 0..a.runs {
        out.0.push(replay_run::<Ipv4Addr>(rig, &mut q4, a.packets)?);
        out.1.push(replay_run::<Ipv6Addr>(rig, &mut q6, a.packets)?);
    }
    Ok(out)
}

/// The client-to-server direction alone (the only one DR and TUN carry) with
/// `n` established connections, for NAT, DR and TUN (IPIP, GUE) side by side,
/// interleaved run by run; ns per packet (medians) and each to NAT's ratio.
fn direct_runs(a: &SoftwareArgs, n: usize) -> R<Value> {
    const METHODS: [(&str, &str); 4] = [
        ("nat", "-m"),
        ("dr", "-g"),
        ("tun-ipip", "-i"),
        ("tun-gue", "-i --tun-type gue --tun-port 6080"),
    ];
    let meta = rig::meta(FRAME_LEN, !a.verify_csum);
    let mut rigs = Vec::new();
    for (name, method) in METHODS {
        let mut rig = Rig::with_method(n, n, method, a.burst)?;
        let servers = rig.establish_with::<Ipv4Addr>(0, n, name == "nat")?;
        if rig.w.core.state_count(State::Established) as usize != n {
            return Err(format!(
                "{name}: {n} handshakes did not give {n} connections"
            ));
        }
        let (input, _) = Rig::ack_rings(&servers, 0);
        rig.w.rx[Nic::Ext] = ReplayRx::new(input, STRIDE, meta);
        rig.w.rx[Nic::Ext].replay(n as u64);
        rig.run(None);
        rigs.push((name, rig, Vec::new()));
    }
    for _ in 0..a.runs {
        for (name, rig, runs) in &mut rigs {
            let before = rig.w.core.ctr.get(Ctr::FwdIn);
            rig.w.rx[Nic::Ext].replay(a.packets);
            let t = Instant::now();
            let handled = rig.run(None);
            let dt = t.elapsed();
            let fwd = rig.w.core.ctr.get(Ctr::FwdIn) - before;
            if handled != a.packets || fwd != a.packets {
                return Err(format!(
                    "{name}: handled {handled}, forwarded {fwd} of {}",
                    a.packets
                ));
            }
            runs.push(dt.as_secs_f64() * 1e9 / handled as f64);
        }
    }
    let nat = median(rigs[0].2.clone());
    let rows: Vec<Value> = rigs
        .iter()
        .map(|(name, _, runs)| {
            let m = median(runs.clone());
            json!({
                "method": name,
                "conns": n,
                "ns_per_packet": round(m, 1),
                "ratio_to_nat": round(m / nat, 2),
                "runs_ns_per_packet": runs.iter().map(|v| round(*v, 1)).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Value::Array(rows))
}

/// A replay ring of the SYNs of `k` new clients of family `A` (after the
/// `tracked` established ones), as the external RX queue.
fn syn_queues<A: Family>(a: &SoftwareArgs, tracked: usize, k: usize) -> NicPair<ReplayRx> {
    let (len, stride) = (A::FRAME_LEN, A::STRIDE);
    let mut ring = vec![0u8; stride * k];
    for j in 0..k {
        rig::syn::<A>(tracked + j, &mut ring[j * stride..j * stride + len]);
    }
    let meta = rig::meta(len, !a.verify_csum);
    NicPair::new(ReplayRx::new(ring, stride, meta), ReplayRx::empty())
}

/// One timed run of the `k` SYNs in `queues` at worker time `at`; new
/// connections per second, after checking each made one.
fn syn_run<A: Family>(
    rig: &mut Rig,
    queues: &mut NicPair<ReplayRx>,
    (k, tracked): (usize, usize),
    at: Instant,
) -> R<f64> {
    std::mem::swap(&mut rig.w.rx, queues);
    let made = rig.w.core.ctr.get(Ctr::ConnNew);
    rig.w.rx[Nic::Ext].replay(k as u64);
    let t = Instant::now();
    let handled = rig.run(Some(at));
    let dt = t.elapsed();
    std::mem::swap(&mut rig.w.rx, queues);
    let made = rig.w.core.ctr.get(Ctr::ConnNew) - made;
    let table = A::tracked(&rig.w.core);
    if handled != k as u64 || made != k as u64 || table != tracked + k {
        return Err(format!(
            "{} SYNs with {tracked} tracked ({}): handled {handled}, made {made}, table {table}",
            k,
            A::NAME
        ));
    }
    Ok(k as f64 / dt.as_secs_f64())
}

/// Timed runs of `a.new_conns` SYNs of new clients with `tracked` established
/// connections of each family in `rig`, IPv4 then IPv6 at the same worker
/// time in every run; new connections per second of each run, by family.
fn new_conn_runs(a: &SoftwareArgs, rig: &mut Rig, tracked: usize) -> R<(Vec<f64>, Vec<f64>)> {
    let k = a.new_conns;
    let mut q4 = syn_queues::<Ipv4Addr>(a, tracked, k);
    let mut q6 = syn_queues::<Ipv6Addr>(a, tracked, k);
    // The worker's clock, moved past the SYN_RECV timeout after each run (and
    // its warm-up) so that its own expiry removes that run's connections; both
    // families' SYNs share each step, so the established connections (900 s)
    // outlive every run.
    let step = Duration::from_secs(u64::from(Timeouts::default().secs(State::SynRecv)) + 1);
    let mut at = Instant::now().max(rig.start + step);
    let mut out = (Vec::with_capacity(a.runs), Vec::with_capacity(a.runs));
    for r in 0..=a.runs {
        let v4 = syn_run::<Ipv4Addr>(rig, &mut q4, (k, tracked), at)?;
        let v6 = syn_run::<Ipv6Addr>(rig, &mut q6, (k, tracked), at)?;
        if r > 0 {
            out.0.push(v4);
            out.1.push(v6);
        }
        at += step;
        let mut passes = 0;
        while (rig.w.core.table.len() > tracked || rig.w.core.table6.len() > tracked)
            && passes < 2 * k + 16
        {
            rig.w.poll_once(at);
            passes += 1;
        }
        if rig.w.core.state_count(State::Established) as usize != 2 * tracked {
            return Err("established connections expired during the SYN test".into());
        }
    }
    Ok(out)
}

/// The two goals of the software path against `software` (the section
/// [`measure`] returns), in the shape of the perf report's goals.
pub fn goals(software: &Value) -> Vec<Value> {
    let ns_1m = software["established"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["conns"].as_u64() == Some(MILLION as u64))
        .and_then(|e| e["ns_per_packet"].as_f64());
    let per_s = software["new_conns"]["per_s"]
        .as_f64()
        .filter(|_| software["new_conns"]["tracked"].as_u64() >= Some(MILLION as u64));
    vec![
        goal(
            "software: <= 50 ns/packet, established flows, 1M connections (>= 20 Mpps/core)",
            "ns_per_packet at 1M connections",
            ns_1m,
            GOAL_NS_1M,
            true,
        ),
        goal(
            "software: >= 2M new connections/s per core with 1M tracked",
            "new_conns per_s with 1M tracked",
            per_s,
            GOAL_NEW_PER_S,
            false,
        ),
    ]
}

/// A goal as the perf report writes them: `missed_by_pct` is how far off, as a
/// percentage of the target.
fn goal(name: &str, what: &str, measured: Option<f64>, target: f64, at_most: bool) -> Value {
    let met = measured.map(|m| if at_most { m <= target } else { m >= target });
    let short = measured.map(|m| {
        if at_most {
            m / target - 1.0
        } else {
            1.0 - m / target
        }
    });
    json!({
        "goal": name,
        "ratio": what,
        "measured": measured.map(|m| round(m, 3)),
        "target": target,
        "met": met,
        "missed_by_pct": match (met, short) {
            (Some(false), Some(s)) => json!(round(s * 100.0, 1)),
            _ => Value::Null,
        },
    })
}

/// The section as a few lines of text.
pub fn table(software: &Value) -> String {
    let m = &software["method"];
    let mut t = format!(
        "software path (null I/O, real worker loop, CPU {}, {}-byte ACKs, medians of {} run(s), checksums {}):\n",
        m["cpu"],
        m["frame_bytes"],
        m["runs"],
        if m["csum_verified_by_ring"].as_bool() == Some(true) {
            "verified by the ring"
        } else {
            "verified in software"
        }
    );
    t += &format!(
        "{:<12} {:>10} {:>8} {:>13} {:>9} {:>9}\n",
        "conns", "ns/packet", "Mpps", "v6 ns/packet", "v6 Mpps", "v6/v4"
    );
    let v6 = software["ipv6"]["established"].as_array();
    for e in software["established"].as_array().into_iter().flatten() {
        let twin = v6
            .into_iter()
            .flatten()
            .find(|r| r["conns"] == e["conns"])
            .unwrap_or(&Value::Null);
        t += &format!(
            "{:<12} {:>10.1} {:>8.2} {:>13.1} {:>9.2} {:>9.2}\n",
            e["conns"].as_u64().unwrap_or(0),
            e["ns_per_packet"].as_f64().unwrap_or(f64::NAN),
            e["mpps"].as_f64().unwrap_or(f64::NAN),
            twin["ns_per_packet"].as_f64().unwrap_or(f64::NAN),
            twin["mpps"].as_f64().unwrap_or(f64::NAN),
            twin["ratio_to_ipv4"].as_f64().unwrap_or(f64::NAN)
        );
    }
    if let Some(rows) = software["direct"].as_array() {
        t += "client to server only, by forwarding method (same connections, interleaved runs):\n";
        t += &format!("{:<12} {:>10} {:>12}\n", "method", "ns/packet", "vs NAT");
        for r in rows {
            t += &format!(
                "{:<12} {:>10.1} {:>12.2}\n",
                r["method"].as_str().unwrap_or(""),
                r["ns_per_packet"].as_f64().unwrap_or(f64::NAN),
                r["ratio_to_nat"].as_f64().unwrap_or(f64::NAN)
            );
        }
    }
    let nc = &software["new_conns"];
    if let Some(p) = nc["per_s"].as_f64() {
        t += &format!(
            "new connections/s with {} tracked: {:.0} ({:.1} ns each)\n",
            nc["tracked"].as_u64().unwrap_or(0),
            p,
            nc["ns_per_conn"].as_f64().unwrap_or(f64::NAN)
        );
    }
    let nc6 = &software["ipv6"]["new_conns"];
    if let Some(p) = nc6["per_s"].as_f64() {
        t += &format!(
            "IPv6 new connections/s with {} tracked: {:.0} ({:.1} ns each, {:.2}x IPv4's)\n",
            nc6["tracked"].as_u64().unwrap_or(0),
            p,
            nc6["ns_per_conn"].as_f64().unwrap_or(f64::NAN),
            nc6["ratio_to_ipv4"].as_f64().unwrap_or(f64::NAN)
        );
    }
    t
}

/// `ringvs-bench software`.
pub fn main(a: SoftwareArgs) -> std::process::ExitCode {
    match measure(&a) {
        Ok(v) => {
            if a.json {
                println!("{}", json!({"software": v, "goals": goals(&v)}));
            } else {
                print!("{}", table(&v));
                for g in goals(&v) {
                    let verdict = match (g["met"].as_bool(), g["missed_by_pct"].as_f64()) {
                        (Some(true), _) => "met".to_string(),
                        (Some(false), Some(p)) => format!("MISSED by {p:.1} %"),
                        _ => "not measured".to_string(),
                    };
                    println!(
                        "goal: {:<80} measured {:>10} -> {verdict}",
                        g["goal"].as_str().unwrap_or(""),
                        g["measured"]
                            .as_f64()
                            .map_or("-".into(), |v| format!("{v:.1}"))
                    );
                }
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ringvs-bench software: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap (crate rule)
mod tests {
    use super::*;

    /// A small run of the whole benchmark: every packet of both families is
    /// forwarded (the runs check it), and the IPv6 section pairs each IPv4
    /// row with a finite ratio.
    #[test]
    fn both_families_are_measured_side_by_side() {
        let a = SoftwareArgs {
            conns: vec![300, 20_000],
            packets: 5_000,
            new_conns: 500,
            ..SoftwareArgs::with(0, 2)
        };
        let v = measure(&a).unwrap();
        let (v4, v6) = (&v["established"], &v["ipv6"]["established"]);
        for (i, n) in [300, 20_000].into_iter().enumerate() {
            assert_eq!(v4[i]["conns"], n);
            assert_eq!(v6[i]["conns"], n);
            assert_eq!(v6[i]["runs_ns_per_packet"].as_array().unwrap().len(), 2);
            let r = v6[i]["ratio_to_ipv4"].as_f64().unwrap();
            assert!(r.is_finite() && r > 0.0, "{r}");
        }
        assert_eq!(v["ipv6"]["new_conns"]["tracked"], 20_000);
        assert!(v["ipv6"]["new_conns"]["per_s"].as_f64().unwrap() > 0.0);
        assert_eq!(v["ipv6"]["frame_bytes"], FRAME_LEN6);
        assert!(table(&v).contains("IPv6 new connections/s with 20000 tracked"));
    }

    #[test]
    fn ipv6_frames_carry_a_valid_tcp_checksum() {
        let mut f = [0u8; FRAME_LEN6];
        rig::syn::<Ipv6Addr>(70_000, &mut f);
        let (src, sport) = rig::client6(70_000);
        assert_eq!(src, "2001:2:0:1::1:1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(sport, 1024 + 10_000);
        assert!(<Ipv6Addr as Family>::sent_ok(&f));
        let tcp = ringvs::wire::TcpPacket::new_checked(&f[54..]).unwrap();
        assert!(tcp.verify_checksum_v6(src, rig::VIP6));
    }
}
