//! The packet tests: in a fresh packet lab per datapath, the highest rate it
//! carries over each flow count (with the run at the generator's full rate), and
//! UDP latency at a given offered load.

use super::generator::{Gen, num};
use super::options::{Datapath, PerfArgs};
use super::setup::{Director, PacketLab, start_datapath};
use super::{Figures, LOSS_TOLERANCE, R, SEARCH_STEPS, put};
use ringvs::lab::Lab;
use serde_json::Value;
use std::path::Path;

/// The figure key of the packet rate over `n` flows.
pub(super) fn flows_key(n: u64) -> String {
    match n {
        1 => "pps_64b_1_flow".into(),
        n if n.is_multiple_of(1000) => format!("pps_64b_{}k_flows", n / 1000),
        n => format!("pps_64b_{n}_flows"),
    }
}

/// A fresh packet lab with datapath `dp` running, primed (ARP resolved, rings
/// warm), and the generator to drive it. Dropping it stops and deletes all.
struct PacketSetup<'a> {
    g: Gen<'a>,
    dst: String,
    // Field order is drop order: the director stops before its namespaces go.
    dir: Director,
    _lab: PacketLab,
}

fn packet_setup<'a>(exe: &Path, a: &'a PerfArgs, dp: Datapath) -> R<PacketSetup<'a>> {
    let tag = Lab::unique_tag();
    let lab = PacketLab::build(&tag, a, dp)?;
    let dir = start_datapath(exe, &lab.dir_ns(), &tag, dp, a, None)?;
    let g = Gen {
        bin: a.generator.display().to_string(),
        ns: lab.gen_ns(),
        mac: lab.ext_mac.clone(),
        a,
    };
    let dst = dp.udp_dst();
    // Prime: ARP for the real servers, rings and caches warm.
    g.udp(&dst, 16, Some(10_000), 1)?;
    Ok(PacketSetup {
        g,
        dst,
        dir,
        _lab: lab,
    })
}

/// UDP with 1k flows at `rate`: latency percentiles and loss, keys with `suffix`.
fn latency_at(p: &PacketSetup, dp: Datapath, rate: u64, suffix: &str, f: &mut Figures) -> R<()> {
    let v = p.g.udp(&p.dst, 1000, Some(rate), p.g.a.secs)?;
    put(f, &format!("lat_rate_pps{suffix}"), Some(rate as f64));
    for k in ["p50", "p99", "p999"] {
        put(f, &format!("{k}_us{suffix}"), num(&v, &["lat_us", k]));
    }
    put(f, &format!("loss{suffix}"), num(&v, &["loss"]));
    eprintln!(
        "#   {:<16} latency at {rate} pps: p50 {} p99 {} p99.9 {} us, loss {:.4}",
        dp.name(),
        num(&v, &["lat_us", "p50"]).unwrap_or(-1.0),
        num(&v, &["lat_us", "p99"]).unwrap_or(-1.0),
        num(&v, &["lat_us", "p999"]).unwrap_or(-1.0),
        num(&v, &["loss"]).unwrap_or(-1.0)
    );
    Ok(())
}

/// Packet rate over each flow count, then latency at half the 1k-flow peak.
pub(super) fn packet_tests(exe: &Path, a: &PerfArgs, dp: Datapath, f: &mut Figures) -> R<()> {
    let p = packet_setup(exe, a, dp)?;
    let mut peak_1k = None;
    for &flows in &a.flows {
        // The director CPU's split in the 1k-flow run that gave the rate.
        let split = (flows == 1000).then_some(&mut *f);
        let (rx, v, bound) = highest_carried(&p, dp, flows, split)?;
        let key = flows_key(flows);
        put(f, &key, Some(rx));
        put(f, &bound_key(&key), Some(f64::from(u8::from(bound))));
        put(f, &format!("{key}_overload"), num(&v, &["rx_pps"]));
        put(f, &format!("offered_{key}_overload"), num(&v, &["tx_pps"]));
        if flows == 1000 || peak_1k.is_none() {
            peak_1k = Some(rx);
        }
    }
    let peak = peak_1k.ok_or("no packet rate measured")?;
    put(f, "peak_pps", Some(peak));
    latency_at(&p, dp, (peak / 2.0) as u64, "", f)
}

/// The key of the flag that says a packet rate `key` is the generator's, not
/// the datapath's: 1 when the datapath forwarded all the generator offered at
/// its full rate (the datapath's own peak is then at least that), else 0.
/// `stats::goals` reads it: a ratio of two such rates decides nothing.
pub(super) fn bound_key(key: &str) -> String {
    format!("{key}_gen_bound")
}

/// The highest rate `dp` forwards with at most [`LOSS_TOLERANCE`] loss over
/// `flows` flows (RFC 2544 throughput, binary search between 0 and what the
/// generator offers at `--rate max`), the run at `--rate max` itself, and
/// whether that run was carried whole (the rate is then the generator's
/// ceiling, a lower bound of the datapath's). With `split`, the director
/// CPU's time per packet (`cpu.rs`) goes there, from the run that gave the
/// rate: the one at `--rate max` if it was carried whole, else the search's
/// highest carried run (an overloaded run's time per forwarded packet counts
/// the frames it dropped, and livelock).
fn highest_carried(
    p: &PacketSetup,
    dp: Datapath,
    flows: u64,
    split: Option<&mut Figures>,
) -> R<(f64, Value, bool)> {
    let secs = p.g.a.secs;
    // A spinning worker keeps the CPU busy between frames too: its split
    // would say nothing about the cost of a packet (`cpu.rs`).
    let want = split.is_some() && !super::setup::spins(p.g.a, dp);
    // A generator run at `rate` (None: max), with the director CPU's split.
    let run = |rate: Option<u64>, secs: u64| -> R<(Value, Vec<(String, f64)>)> {
        let cpu = || {
            want.then(|| super::cpu::sample(p.g.a.dir_cpu, p.dir.pid()))
                .flatten()
        };
        let before = cpu();
        let v = p.g.udp(&p.dst, flows, rate, secs)?;
        let per_packet = super::cpu::split_of(before, cpu(), &v);
        Ok((v, per_packet))
    };
    let (max, max_split) = run(None, secs)?;
    let (tx, rx) = (
        num(&max, &["tx_pps"]).unwrap_or(0.0),
        num(&max, &["rx_pps"]).unwrap_or(0.0),
    );
    let loss = num(&max, &["loss"]).unwrap_or(1.0);
    eprintln!(
        "#   {:<16} {flows:>7} flows: at max rate: offered {tx:.0} pps, forwarded {rx:.0} (loss {:.2} %)",
        dp.name(),
        loss * 100.0
    );
    if loss <= LOSS_TOLERANCE {
        eprintln!(
            "#   {:<16} {flows:>7} flows: all carried: a lower bound set by the generator",
            dp.name()
        );
        put_all(split, max_split);
        return Ok((rx, max, true));
    }
    let trial_secs = secs.div_ceil(2).max(1);
    let (mut lo, mut hi, mut best) = (0.0f64, tx, 0.0f64);
    let mut best_split = Vec::new();
    for _ in 0..SEARCH_STEPS {
        let mid = (lo + hi) / 2.0;
        let (v, split) = run(Some(mid as u64), trial_secs)?;
        let l = num(&v, &["loss"]).unwrap_or(1.0);
        let got = num(&v, &["rx_pps"]).unwrap_or(0.0);
        if l <= LOSS_TOLERANCE {
            lo = mid;
            if got >= best {
                best_split = split;
            }
            best = best.max(got);
        } else {
            hi = mid;
        }
    }
    eprintln!(
        "#   {:<16} {flows:>7} flows: highest carried rate {best:.0} pps (loss <= {} %)",
        dp.name(),
        LOSS_TOLERANCE * 100.0
    );
    put_all(split, best_split);
    Ok((best, max, false))
}

fn put_all(f: Option<&mut Figures>, figures: Vec<(String, f64)>) {
    if let Some(f) = f {
        for (k, v) in figures {
            put(f, &k, Some(v));
        }
    }
}

/// Latency at the common offered load (the same for every datapath).
pub(super) fn common_latency(
    exe: &Path,
    a: &PerfArgs,
    dp: Datapath,
    rate: u64,
    f: &mut Figures,
) -> R<()> {
    let p = packet_setup(exe, a, dp)?;
    let stages = (a.stage_trace)
        .then(|| super::stages::Stages::start(a.secs))
        .transpose()?;
    let trace = (a.sched_trace && !dp.kernel())
        .then(|| super::sched::Trace::start(a.dir_cpu, a.secs + 1, &Lab::unique_tag()))
        .transpose()?;
    latency_at(&p, dp, rate, "_common", f)?;
    if let Some(t) = trace {
        t.finish(&dp.name(), "_common", f)?;
    }
    match stages {
        Some(s) => s.finish(&dp.name(), "_common", f),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_counts_name_their_figures() {
        assert_eq!(flows_key(1), "pps_64b_1_flow");
        assert_eq!(flows_key(100_000), "pps_64b_100k_flows");
    }
}
