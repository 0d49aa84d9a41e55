//! The memory test: the director's connection table filled with one SYN per
//! connection, and what that costs (ringvs: the process's resident memory; the
//! kernel: the growth of the slab caches, i.e. conntrack's).

use super::generator::Gen;
use super::options::{Datapath, PerfArgs};
use super::setup::{Director, PacketLab, start_datapath};
use super::{Figures, ME, MEM_MAX_CONNS, R, SYN_PASSES, put, s};
use ringvs::lab::{Lab, ns_run};
use ringvs::proto::{self, Command};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

/// `Slab:` of /proc/meminfo, in kB.
fn slab_kb() -> R<u64> {
    let m = std::fs::read_to_string("/proc/meminfo").map_err(s)?;
    m.lines()
        .find_map(|l| l.strip_prefix("Slab:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| "no Slab in /proc/meminfo".into())
}

fn vm_rss_kb(pid: u32) -> R<u64> {
    let st = std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(s)?;
    st.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| format!("no VmRSS for pid {pid}"))
}

/// Connections a ringvs director tracks: `conn_new - conn_expired` over workers.
fn ringvs_conns(control: &Path) -> R<u64> {
    let r = proto::call(control, Command::Stats { json: true })?;
    let v: Value = serde_json::from_str(&r.out).map_err(s)?;
    let ws = v
        .get("workers")
        .and_then(Value::as_array)
        .ok_or("no workers in stats")?;
    let mut n = 0i64;
    for w in ws {
        let g = |k: &str| w.get(k).and_then(Value::as_i64).unwrap_or(0);
        n += g("conn_new") - g("conn_expired");
    }
    Ok(n.max(0) as u64)
}

/// Raises the host's `nf_conntrack_max` (global, not per namespace) and puts the
/// old value back on drop (or on a signal, [`crate::undo`]).
struct ConntrackMax(Option<(String, crate::undo::Ticket)>);

const CT_MAX: &str = "/proc/sys/net/netfilter/nf_conntrack_max";

impl ConntrackMax {
    fn raise(to: u64) -> Self {
        let old = std::fs::read_to_string(CT_MAX).ok();
        if let Some(o) = &old
            && o.trim().parse::<u64>().is_ok_and(|o| o < to)
        {
            // Registered first: a signal between the two still puts it back.
            let ticket = crate::undo::sysctl(CT_MAX, o);
            if let Err(e) = std::fs::write(CT_MAX, to.to_string()) {
                eprintln!("{ME}: could not raise {CT_MAX}: {e}");
                return Self(None);
            }
            return Self(Some((o.clone(), ticket)));
        }
        Self(None)
    }
}

impl Drop for ConntrackMax {
    fn drop(&mut self) {
        if let Some((o, ticket)) = self.0.take() {
            let _ = std::fs::write(CT_MAX, o.trim());
            drop(ticket);
        }
    }
}

/// Fill the director's connection table with `a.conns` connections (one SYN
/// each, up to [`SYN_PASSES`] passes) and record its memory.
/// IPv4 only: `ringvs-gen syn` sends IPv4 SYNs (an IPv6 datapath records none).
pub(super) fn memory_test(exe: &Path, a: &PerfArgs, dp: Datapath, f: &mut Figures) -> R<()> {
    if a.conns == 0 || dp.ipv6() {
        return Ok(());
    }
    // SYNs at half the highest carried rate over 100k flows (or 1k flows when
    // 100k was not measured; a new connection costs more than a forwarded
    // packet), at least 20k/s.
    let rate = f
        .get("pps_64b_100k_flows")
        .or_else(|| f.get("pps_64b_1k_flows"))
        .map_or(50_000, |p| (p / 2.0) as u64)
        .max(20_000);
    let _ct = (dp == Datapath::KernelNft).then(|| ConntrackMax::raise(a.conns + a.conns / 4));
    let tag = Lab::unique_tag();
    let lab = PacketLab::build(&tag, a, dp)?;
    let max = (dp != Datapath::KernelNft).then_some(MEM_MAX_CONNS.max(a.conns));
    let dir = start_datapath(exe, &lab.dir_ns(), &tag, dp, a, max)?;
    let g = Gen {
        bin: a.generator.display().to_string(),
        ns: lab.gen_ns(),
        mac: lab.ext_mac.clone(),
        a,
    };
    std::thread::sleep(Duration::from_millis(300));
    let dns = lab.dir_ns();
    let count = |dir: &Director| -> R<u64> {
        match dir.pid() {
            Some(_) if dp.io_only() => Ok(0),
            Some(_) => ringvs_conns(&dir.control),
            None => ns_run(&dns, "cat", &["/proc/sys/net/netfilter/nf_conntrack_count"])
                .map_err(s)?
                .trim()
                .parse()
                .map_err(s),
        }
    };
    let before = match dir.pid() {
        Some(pid) => vm_rss_kb(pid)?,
        None => slab_kb()?,
    };
    let dst = dp.tcp_dst();
    let t = Instant::now();
    let mut sent = 0;
    if !dp.io_only() {
        // --io-only tracks nothing: its figure is the idle process.
        for _ in 0..SYN_PASSES {
            sent += g.syn(&dst, a.conns, rate)?;
            if count(&dir)? * 100 >= a.conns * 99 {
                break;
            }
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    let conns = count(&dir)?;
    let after = match dir.pid() {
        Some(pid) => vm_rss_kb(pid)?,
        None => slab_kb()?,
    };
    let mb = |kb: u64| kb as f64 / 1024.0;
    match dir.pid() {
        Some(_) => {
            // ringvs: the whole process's resident memory with the table full.
            put(f, "rss_mb_1m_conns", Some(mb(after)));
            put(f, "rss_mb_idle", Some(mb(before)));
        }
        None => {
            // Kernel: what the slab caches grew by (conntrack entries + NAT ext).
            put(f, "rss_mb_1m_conns", Some(mb(after.saturating_sub(before))));
        }
    }
    put(f, "conns_tracked", Some(conns as f64));
    if conns > 0 {
        put(
            f,
            "bytes_per_conn",
            Some(after.saturating_sub(before) as f64 * 1024.0 / conns as f64),
        );
    }
    eprintln!(
        "#   {:<16} memory: {conns} connections ({sent} SYNs at {rate}/s, {:.1}s), {:.1} MB -> {:.1} MB",
        dp.name(),
        t.elapsed().as_secs_f64(),
        mb(before),
        mb(after)
    );
    Ok(())
}
