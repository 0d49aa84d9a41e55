//! `ringvs-gen`: traffic generator and sink for benchmarking the director.
//!
//! * `udp`: a pinned TX thread writes prebuilt, stamped UDP frames into an
//!   AF_PACKET TX ring on `--tx-if`; a pinned RX thread reads an AF_PACKET RX
//!   ring on `--rx-if`, counts the frames of this run and records their one-way
//!   latency. Both interfaces live in the generator's namespace: the director
//!   forwards gen → ext → NAT → int → sink.
//! * `syn`: one TCP SYN per flow (fills a director's connection table); the
//!   sink counts the SYNs that come out on `--rx-if`.
//! * `tcp-cps`: kernel TCP connections per second (connect, GET, read to EOF,
//!   close) over `--threads` threads.
//!
//! Frame sizes are without FCS: `--size 60` is what benchmarks call a
//! "64-byte frame" (60 bytes + 4 bytes FCS on the wire). Every address must lie
//! in 198.18.0.0/15 (RFC 2544); every run is bounded by `--secs` (≤ 120).

mod blast;
mod cps;
mod frame;
mod rate;
mod raw;

use clap::{Args, Parser, Subcommand};
use frame::{BENCH_NET, Endpoints, Endpoints6, Flows, Flows6, FrameSet, Net};
use ringvs::io::nic;
use ringvs::wire::Mac;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

const MAX_SECS: f64 = 120.0;
const MAX_WARMUP_MS: u64 = 10_000;
const MAX_RATE: u64 = 100_000_000;

#[derive(Parser)]
#[command(
    name = "ringvs-gen",
    version,
    about = "Traffic generator and sink for benchmarking ringvs (AF_PACKET rings; \
addresses in 198.18.0.0/15 only)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Stamped UDP frames over N flows at a rate, for --secs; the sink on
    /// --rx-if counts them and measures one-way latency.
    Udp(BlastArgs),
    /// One TCP SYN per flow (e.g. --flows 1000000 to fill a connection table);
    /// prints how many were sent and how many came out on --rx-if. Frames are
    /// 60 bytes (--size is ignored); --warmup-ms is ignored.
    Syn(BlastArgs),
    /// Kernel TCP: connect, send "GET / HTTP/1.0", read to EOF, close, in a
    /// loop per thread; reports connections/s and failures.
    TcpCps(CpsArgs),
    /// Send the raw Ethernet frames of a file (one per line, hex) on an
    /// interface, in order (hostile-input tests; the frames are the caller's).
    Inject {
        #[arg(long = "if")]
        ifname: String,
        #[arg(long)]
        file: std::path::PathBuf,
    },
    /// Count frames from --src-mac carrying IPv4 identification --ip-id seen on
    /// an interface for --secs (at most 120); prints `ready` on stderr first.
    Capture {
        #[arg(long = "if")]
        ifname: String,
        #[arg(long, value_parser = frame::parse_mac)]
        src_mac: Mac,
        #[arg(long)]
        ip_id: u16,
        #[arg(long)]
        secs: f64,
    },
}

#[derive(Args)]
struct BlastArgs {
    /// Interface to send on (towards the director's ext NIC).
    #[arg(long)]
    tx_if: String,
    /// Interface to receive on (the sink, behind the director's int NIC).
    #[arg(long)]
    rx_if: String,
    /// Destination MAC: the director's ext NIC
    /// (`ip netns exec DIRNS cat /sys/class/net/ext0/address`).
    #[arg(long, value_parser = frame::parse_mac)]
    dst_mac: Mac,
    /// Destination VIP:PORT, IPv4 or `[IPv6]:PORT` (`udp` only; IPv6 clients
    /// are 2001:2:0:1::1:1 to ::1:252, and --src-net is ignored).
    #[arg(long, value_parser = parse_dst)]
    dst: SocketAddr,
    /// Client addresses come from this network (inside 198.18.0.0/15), skipping
    /// its network and broadcast addresses, every address ending in .0, .2
    /// (director), .110 (VIP) or .255, and --dst.
    #[arg(long, default_value = "198.18.0.0/24")]
    src_net: Net,
    /// Distinct (source address, source port) pairs, 1..=1000000. Consecutive
    /// flows differ in address first; ports count up from 1024.
    #[arg(long, default_value_t = 256)]
    flows: usize,
    /// Ethernet frame size without FCS, >= 60 (60 = a "64-byte frame").
    #[arg(long)]
    size: Option<usize>,
    /// Packets per second, or `max` (as fast as the TX ring takes them).
    #[arg(long, default_value = "max", value_parser = parse_rate)]
    rate: Rate,
    /// Seconds to send (after warm-up), at most 120.
    #[arg(long, default_value_t = 10.0)]
    secs: f64,
    /// Pin the TX thread to this core.
    #[arg(long)]
    tx_core: Option<usize>,
    /// Pin the RX (sink) thread to this core.
    #[arg(long)]
    rx_core: Option<usize>,
    /// Warm-up: frames sent in the first milliseconds are not counted.
    #[arg(long, default_value_t = 200)]
    warmup_ms: u64,
    /// One JSON object on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct CpsArgs {
    /// VIP:PORT to connect to (IPv4, or `[IPv6]:PORT`).
    #[arg(long, value_parser = parse_dst)]
    dst: SocketAddr,
    /// Client threads, 1..=256.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Seconds to run, at most 120.
    #[arg(long, default_value_t = 10.0)]
    secs: f64,
    /// One JSON object on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rate {
    Max,
    Pps(u64),
}

fn parse_rate(s: &str) -> Result<Rate, String> {
    if s.eq_ignore_ascii_case("max") {
        return Ok(Rate::Max);
    }
    match s.parse::<u64>() {
        Ok(r) if (1..=MAX_RATE).contains(&r) => Ok(Rate::Pps(r)),
        _ => Err(format!(
            "{s}: expected packets per second (1..={MAX_RATE}) or `max`"
        )),
    }
}

fn parse_dst(s: &str) -> Result<SocketAddr, String> {
    let a: SocketAddr = s
        .parse()
        .map_err(|_| format!("{s}: expected IPv4:PORT or [IPv6]:PORT, e.g. 198.18.0.110:80"))?;
    match a.ip() {
        IpAddr::V4(ip) if !BENCH_NET.contains(ip) => {
            return Err(format!(
                "{s}: the destination must lie in {BENCH_NET} (RFC 2544 benchmarking space)"
            ));
        }
        IpAddr::V6(ip) if !frame::in_bench_net6(ip) => {
            return Err(format!(
                "{s}: the destination must lie in 2001:2::/48 (RFC 5180 benchmarking space)"
            ));
        }
        _ => {}
    }
    if a.port() == 0 {
        return Err(format!("{s}: port 0"));
    }
    Ok(a)
}

fn check_secs(secs: f64) -> Result<(), String> {
    if secs.is_finite() && secs > 0.0 && secs <= MAX_SECS {
        Ok(())
    } else {
        Err(format!("--secs {secs}: must be in (0, {MAX_SECS}]"))
    }
}

/// A run id that tells this process's frames from any other run's.
fn run_id() -> u16 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let x = t ^ std::process::id().rotate_left(16);
    (x ^ (x >> 16)) as u16
}

fn blast(a: &BlastArgs, mode: blast::Mode) -> Result<String, String> {
    check_secs(a.secs)?;
    if a.warmup_ms > MAX_WARMUP_MS {
        return Err(format!(
            "--warmup-ms {}: at most {MAX_WARMUP_MS}",
            a.warmup_ms
        ));
    }
    if let Some(c) = a.tx_core {
        blast::check_core(c, "--tx-core")?;
    }
    if let Some(c) = a.rx_core {
        blast::check_core(c, "--rx-core")?;
    }
    let tx = nic::discover(&a.tx_if).map_err(|e| format!("--tx-if: {e}"))?;
    let rx = nic::discover(&a.rx_if).map_err(|e| format!("--rx-if: {e}"))?;
    let v6 = a.dst.is_ipv6();
    let smallest = if v6 {
        frame::MIN_FRAME6
    } else {
        frame::MIN_FRAME
    };
    let size = match mode {
        blast::Mode::Udp => a.size.unwrap_or(smallest),
        blast::Mode::Syn => frame::MIN_FRAME,
    };
    let largest = tx.mtu + 14;
    if size < smallest || size > largest {
        return Err(format!(
            "--size {size}: must be {smallest}..={largest} (MTU {} of {} + 14; sizes exclude the FCS)",
            tx.mtu, tx.name
        ));
    }
    let run = run_id();
    let frames = match (mode, a.dst) {
        (blast::Mode::Udp, SocketAddr::V4(dst)) => {
            let flows = Flows::new(a.src_net, a.flows, *dst.ip())?;
            let ep = Endpoints {
                src_mac: tx.mac,
                dst_mac: a.dst_mac,
                dst: *dst.ip(),
                dst_port: dst.port(),
            };
            FrameSet::udp(&flows, ep, size, run)?
        }
        (blast::Mode::Udp, SocketAddr::V6(dst)) => {
            let flows = Flows6::new(a.flows, *dst.ip())?;
            let ep = Endpoints6 {
                src_mac: tx.mac,
                dst_mac: a.dst_mac,
                dst: *dst.ip(),
                dst_port: dst.port(),
            };
            FrameSet::udp6(&flows, ep, size, run)?
        }
        (blast::Mode::Syn, SocketAddr::V4(dst)) => {
            let flows = Flows::new(a.src_net, a.flows, *dst.ip())?;
            let ep = Endpoints {
                src_mac: tx.mac,
                dst_mac: a.dst_mac,
                dst: *dst.ip(),
                dst_port: dst.port(),
            };
            FrameSet::syn(&flows, ep, run)?
        }
        (blast::Mode::Syn, SocketAddr::V6(_)) => {
            return Err("syn: IPv4 destinations only".into());
        }
    };
    let report = blast::run(blast::Plan {
        mode,
        frames,
        run,
        src_net: a.src_net,
        tx_index: tx.index,
        rx_index: rx.index,
        rate: match a.rate {
            Rate::Max => None,
            Rate::Pps(r) => Some(r),
        },
        secs: a.secs,
        warmup: Duration::from_millis(a.warmup_ms),
        tx_core: a.tx_core,
        rx_core: a.rx_core,
    })?;
    if report.tx_rejected > 0 {
        eprintln!(
            "ringvs-gen: warning: the TX ring rejected {} frames",
            report.tx_rejected
        );
    }
    if report.rx_ring_drops > 0 {
        eprintln!(
            "ringvs-gen: warning: the sink's RX ring overflowed ({} frames dropped by the kernel)",
            report.rx_ring_drops
        );
    }
    if a.json {
        return serde_json::to_string(&report).map_err(|e| e.to_string());
    }
    let mut line = format!(
        "{}: sent {} ({:.0} pps), received {} ({:.0} pps), loss {:.4}% over {:.3} s; {} flows, {}-byte frames ({} with FCS)",
        report.mode,
        report.sent,
        report.tx_pps,
        report.received,
        report.rx_pps,
        report.loss * 100.0,
        report.secs,
        report.flows,
        report.size,
        report.size + 4,
    );
    if let Some(l) = report.lat_us {
        line += &format!(
            "; latency us p50 {} p90 {} p99 {} p99.9 {} max {}",
            l.p50, l.p90, l.p99, l.p999, l.max
        );
    }
    Ok(line)
}

fn tcp_cps(a: &CpsArgs) -> Result<String, String> {
    check_secs(a.secs)?;
    if a.threads == 0 || a.threads > cps::MAX_THREADS {
        return Err(format!(
            "--threads {}: must be 1..={}",
            a.threads,
            cps::MAX_THREADS
        ));
    }
    let r = cps::run(a.dst, a.threads, a.secs)?;
    if a.json {
        return serde_json::to_string(&r).map_err(|e| e.to_string());
    }
    let mut line = format!(
        "tcp-cps: {} connections ({:.0}/s), {} failures over {:.3} s with {} threads; latency us p50 {} p99 {} max {}",
        r.connections,
        r.cps,
        r.failures,
        r.secs,
        r.threads,
        r.lat_us.p50,
        r.lat_us.p99,
        r.lat_us.max
    );
    if let Some(e) = &r.first_error {
        line += &format!("; first error: {e}");
    }
    Ok(line)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = match &cli.cmd {
        Cmd::Udp(a) => blast(a, blast::Mode::Udp),
        Cmd::Syn(a) => blast(a, blast::Mode::Syn),
        Cmd::TcpCps(a) => tcp_cps(a),
        Cmd::Inject { ifname, file } => std::fs::read_to_string(file)
            .map_err(|e| format!("{}: {e}", file.display()))
            .and_then(|t| raw::read_frames(&t))
            .and_then(|f| raw::inject(ifname, &f)),
        Cmd::Capture {
            ifname,
            src_mac,
            ip_id,
            secs,
        } => check_secs(*secs).and_then(|()| raw::capture(ifname, src_mac.0, *ip_id, *secs)),
    };
    match out {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ringvs-gen: error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn options_parse_and_reject() {
        assert_eq!(parse_rate("max"), Ok(Rate::Max));
        assert_eq!(parse_rate("10000"), Ok(Rate::Pps(10_000)));
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("-5").is_err());
        assert!(parse_rate("fast").is_err());
        assert!(parse_dst("198.18.0.110:80").is_ok());
        assert!(parse_dst("198.19.255.1:9").is_ok());
        assert!(parse_dst("10.0.0.1:80").is_err());
        assert!(parse_dst("198.18.0.110").is_err());
        assert!(parse_dst("198.18.0.110:0").is_err());
        assert!(parse_dst("[2001:2:0:1::110]:9000").is_ok());
        assert!(parse_dst("[2001:db8::1]:9000").is_err());
        assert!(parse_dst("[2001:2:0:1::110]:0").is_err());
        assert!(check_secs(120.0).is_ok());
        assert!(check_secs(120.5).is_err());
        assert!(check_secs(0.0).is_err());
        assert!(check_secs(f64::NAN).is_err());
        let cli = Cli::try_parse_from([
            "ringvs-gen",
            "udp",
            "--tx-if",
            "a",
            "--rx-if",
            "b",
            "--dst-mac",
            "02:00:00:00:00:02",
            "--dst",
            "198.18.0.110:5001",
            "--rate",
            "max",
            "--secs",
            "2",
            "--json",
        ]);
        assert!(cli.is_ok());
        let bad_mac = Cli::try_parse_from([
            "ringvs-gen",
            "udp",
            "--tx-if",
            "a",
            "--rx-if",
            "b",
            "--dst-mac",
            "zz",
            "--dst",
            "198.18.0.110:5001",
        ]);
        assert!(bad_mac.is_err());
    }

    #[test]
    fn missing_interface_is_a_clear_error() {
        let cli = Cli::try_parse_from([
            "ringvs-gen",
            "udp",
            "--tx-if",
            "rvs-nope-tx",
            "--rx-if",
            "rvs-nope-rx",
            "--dst-mac",
            "02:00:00:00:00:02",
            "--dst",
            "198.18.0.110:5001",
        ])
        .unwrap();
        let Cmd::Udp(a) = &cli.cmd else {
            panic!("not udp")
        };
        let e = blast(a, blast::Mode::Udp).unwrap_err();
        assert!(
            e.contains("--tx-if") && e.contains("rvs-nope-tx does not exist"),
            "{e}"
        );
    }
}
