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
//!   round and round in a scattered order (a step coprime to the population,
//!   the two directions half a ring apart), so at 1M connections nearly every
//!   packet misses the cache for its index slot and its slab entry. ns/packet
//!   and Mpps on one core;
//! * **new connections/s**: SYNs of new clients with 1M connections already
//!   tracked (each SYN is scheduled, inserted and forwarded; between runs the
//!   worker's clock jumps past the SYN_RECV timeout so its own expiry removes them).
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

use rig::{FRAME_LEN, ReplayRx, Rig, STRIDE};
use ringvs::Nic;
use ringvs::nat::{State, Timeouts};
use ringvs::stats::Ctr;
use serde_json::{Value, json};
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
    let mut established = Vec::new();
    let mut new_conns = Value::Null;
    for &n in &pops {
        let extra = if n == largest { a.new_conns } else { 0 };
        let mut rig = Rig::new(n + extra, n + extra)?;
        let servers = rig.establish(0, n)?;
        if rig.w.core.state_count(State::Established) as usize != n {
            return Err(format!("{n} handshakes did not give {n} connections"));
        }
        let runs = established_runs(a, &mut rig, &servers)?;
        established.push(json!({
            "conns": n,
            "ns_per_packet": round(median(runs.clone()), 1),
            "mpps": round(1000.0 / median(runs.clone()), 2),
            "runs_ns_per_packet": runs.iter().map(|v| round(*v, 1)).collect::<Vec<_>>(),
        }));
        if extra > 0 {
            let runs = new_conn_runs(a, &mut rig, n)?;
            new_conns = json!({
                "tracked": n,
                "per_s": round(median(runs.clone()), 0),
                "ns_per_conn": round(1e9 / median(runs.clone()), 1),
                "runs_per_s": runs.iter().map(|v| round(*v, 0)).collect::<Vec<_>>(),
            });
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
            "burst": ringvs::dataplane::BURST,
            "elapsed_s": started.elapsed().as_secs(),
        },
        "established": established,
        "new_conns": new_conns,
    }))
}

/// Timed runs of `a.packets` ACKs each way through `rig`'s established
/// connections; ns per packet of each run.
fn established_runs(
    a: &SoftwareArgs,
    rig: &mut Rig,
    servers: &[(usize, std::net::Ipv4Addr, u16)],
) -> R<Vec<f64>> {
    let (input, output) = Rig::ack_rings(servers);
    let meta = rig::meta(!a.verify_csum);
    rig.w.rx[Nic::Ext] = ReplayRx::new(input, meta);
    rig.w.rx[Nic::Int] = ReplayRx::new(output, meta);
    let n = servers.len() as u64;
    // Warm-up: every connection once each way.
    let warm = n.min(a.packets);
    replay_both(rig, warm);
    rig.run(None);
    let mut out = Vec::with_capacity(a.runs);
    for _ in 0..a.runs {
        let ctr = &rig.w.core.ctr;
        let (fin, fout) = (ctr.get(Ctr::FwdIn), ctr.get(Ctr::FwdOut));
        replay_both(rig, a.packets);
        let t = Instant::now();
        let handled = rig.run(None);
        let dt = t.elapsed();
        let ctr = &rig.w.core.ctr;
        let (din, dout) = (ctr.get(Ctr::FwdIn) - fin, ctr.get(Ctr::FwdOut) - fout);
        if handled != 2 * a.packets || din != a.packets || dout != a.packets {
            return Err(format!(
                "{n} connections: handled {handled}, forwarded {din} in and {dout} out of {} each way",
                a.packets
            ));
        }
        out.push(dt.as_secs_f64() * 1e9 / handled as f64);
    }
    // What went out is a rewritten frame with a valid IPv4 header.
    for nic in [Nic::Ext, Nic::Int] {
        let sent = rig.w.tx[nic].last(FRAME_LEN);
        if ringvs::wire::checksum::checksum(&sent[14..34]) != 0 {
            return Err(format!("a frame sent on {nic:?} has a bad IPv4 checksum"));
        }
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
    let meta = rig::meta(!a.verify_csum);
    let mut rigs = Vec::new();
    for (name, method) in METHODS {
        let mut rig = Rig::with_method(n, n, method)?;
        let servers = rig.establish_with(0, n, name == "nat")?;
        if rig.w.core.state_count(State::Established) as usize != n {
            return Err(format!(
                "{name}: {n} handshakes did not give {n} connections"
            ));
        }
        let (input, _) = Rig::ack_rings(&servers);
        rig.w.rx[Nic::Ext] = ReplayRx::new(input, meta);
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

fn replay_both(rig: &mut Rig, n: u64) {
    rig.w.rx[Nic::Ext].replay(n);
    rig.w.rx[Nic::Int].replay(n);
}

/// Timed runs of `a.new_conns` SYNs of new clients with `tracked` established
/// connections in `rig`; new connections per second of each run.
fn new_conn_runs(a: &SoftwareArgs, rig: &mut Rig, tracked: usize) -> R<Vec<f64>> {
    let k = a.new_conns;
    let mut ring = vec![0u8; STRIDE * k];
    for j in 0..k {
        ring[j * STRIDE..j * STRIDE + FRAME_LEN].copy_from_slice(&rig::syn(tracked + j));
    }
    let meta = rig::meta(!a.verify_csum);
    rig.w.rx[Nic::Ext] = ReplayRx::new(ring, meta);
    rig.w.rx[Nic::Int] = ReplayRx::empty();
    // The worker's clock, moved past the SYN_RECV timeout after each run (and
    // its warm-up) so that its own expiry removes that run's connections.
    let step = Duration::from_secs(u64::from(Timeouts::default().secs(State::SynRecv)) + 1);
    let mut at = Instant::now().max(rig.start + step);
    let mut out = Vec::with_capacity(a.runs);
    for r in 0..=a.runs {
        let made = rig.w.core.ctr.get(Ctr::ConnNew);
        rig.w.rx[Nic::Ext].replay(k as u64);
        let t = Instant::now();
        let handled = rig.run(Some(at));
        let dt = t.elapsed();
        let made = rig.w.core.ctr.get(Ctr::ConnNew) - made;
        if handled != k as u64 || made != k as u64 || rig.w.core.table.len() != tracked + k {
            return Err(format!(
                "{k} SYNs with {tracked} tracked: handled {handled}, made {made}, table {}",
                rig.w.core.table.len()
            ));
        }
        if r > 0 {
            out.push(k as f64 / dt.as_secs_f64());
        }
        at += step;
        let mut passes = 0;
        while rig.w.core.table.len() > tracked && passes < k + 16 {
            rig.w.poll_once(at);
            passes += 1;
        }
        if rig.w.core.state_count(State::Established) as usize != tracked {
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
    t += &format!("{:<12} {:>10} {:>8}\n", "conns", "ns/packet", "Mpps");
    for e in software["established"].as_array().into_iter().flatten() {
        t += &format!(
            "{:<12} {:>10.1} {:>8.2}\n",
            e["conns"].as_u64().unwrap_or(0),
            e["ns_per_packet"].as_f64().unwrap_or(f64::NAN),
            e["mpps"].as_f64().unwrap_or(f64::NAN)
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
