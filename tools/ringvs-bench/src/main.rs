//! `ringvs-bench`: the benchmark harness that drives ringvs in network namespaces
//! (dev-only; not part of the product).
//!
//! * `perf`: the side-by-side benchmark of `tools/bench` ([`perf`]): ringvs NAT,
//!   the kernel's nftables NAT and ringvs I/O-only, with the traffic generator
//!   `ringvs-gen` (the other binary of this crate);
//! * `software`: the worker loop alone over in-memory queues, pinned to one
//!   CPU: ns/packet and new connections/s near the memory limit ([`software`]);
//! * `ring`: TPACKET_V2 against V3 through a director in a fresh lab, as one JSON
//!   line (`tools/ring-versions`, [`ring`]);
//! * `latency`, `udp-sink`, `udp-blast`: the probes `ring` runs inside the lab's
//!   namespaces (it starts this same program there).
//!
//! The director itself, and the real servers' `serve-http`, are the product's
//! `ringvs` binary: by default the one next to this program (both land in
//! `target/release/` with `cargo build --release --workspace --bins`).

mod memory;
mod perf;
mod ring;
mod software;
mod undo;

use clap::{Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "ringvs-bench",
    version,
    about = "Benchmarks of ringvs in network namespaces (root; addresses in 198.18.0.0/15 only)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Side-by-side benchmark: ringvs NAT, kernel nftables NAT, ringvs I/O-only
    /// (what `tools/bench` runs; see docs/benchmarks.md).
    Perf(perf::PerfArgs),
    /// The p99 goal over several `perf` reports: per datapath the paired
    /// ratios to the kernel's p99, by report and pooled, split by whether the
    /// kernel's own tail was quiet in the run (see docs/benchmarks.md).
    Pool(perf::pool::PoolArgs),
    /// The software path alone: the real worker loop over in-memory queues (no
    /// syscalls), ns/packet at 1k/100k/1M connections and new connections/s
    /// (see docs/benchmarks.md, "Software path").
    Software(software::SoftwareArgs),
    /// This machine's memory under a table of a million connections: the
    /// latency of a random cache line and the time per line with several in
    /// flight (see docs/benchmarks.md, "Software path").
    Memory(memory::MemoryArgs),
    /// Latency and UDP throughput through a director in a fresh lab with a given
    /// RX ring format, as one JSON line (what `tools/ring-versions` runs).
    Ring {
        /// The director's binary (default: `ringvs` next to this program).
        #[arg(long, default_value_os_t = beside_me("ringvs"))]
        ringvs: PathBuf,
        #[arg(long, value_enum, default_value = "v2")]
        rx_ring: RingVersion,
        #[arg(long, default_value_t = 1)]
        v3_timeout_ms: u32,
        /// Requests per latency probe (keep-alive, then new connection each).
        #[arg(long, default_value_t = 1000)]
        requests: usize,
        /// Seconds of UDP blast.
        #[arg(long, default_value_t = 3)]
        secs: u64,
        #[arg(long, default_value_t = 2)]
        workers: usize,
        #[arg(long, default_value_t = 8)]
        flows: usize,
        #[arg(long)]
        udp_rate: Option<u64>,
        #[arg(long)]
        busy_poll: bool,
    },
    /// HTTP round-trip latency percentiles (µs) as one JSON line.
    Latency {
        #[arg(long)]
        addr: SocketAddr,
        #[arg(long, default_value_t = 1000)]
        count: usize,
        /// One TCP connection per request instead of one keep-alive connection.
        #[arg(long)]
        new_conn: bool,
        #[arg(long, default_value_t = 3000)]
        timeout_ms: u64,
    },
    /// Count UDP datagrams for SECS seconds, then print the count.
    UdpSink {
        #[arg(long)]
        listen: SocketAddr,
        #[arg(long)]
        secs: u64,
    },
    /// Send small UDP datagrams for SECS seconds, then print the count sent.
    UdpBlast {
        #[arg(long)]
        dst: SocketAddr,
        #[arg(long)]
        secs: u64,
        #[arg(long, default_value_t = 8)]
        flows: usize,
        #[arg(long, default_value_t = ring::PAYLOAD_64B_FRAME)]
        payload: usize,
        /// Datagrams per second at most (default: as fast as possible).
        #[arg(long)]
        rate: Option<u64>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum RingVersion {
    V2,
    V3,
}

/// `name` in this program's directory (where cargo puts every binary of the
/// workspace), or plain `name` if this program's path is unknown.
pub(crate) fn beside_me(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join(name)))
        .unwrap_or_else(|| PathBuf::from(name))
}

/// Print `r`'s value as one line on stdout, or its error prefixed with `what` on
/// stderr, and return the exit code.
fn print_line<T: std::fmt::Display>(what: &str, r: Result<T, String>) -> ExitCode {
    match r {
        Ok(v) => {
            println!("{v}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ringvs-bench {what}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// On SIGINT or SIGTERM (Ctrl-C, `timeout`, `tools/bench`'s stop), remove
/// this process's labs (`rv` + 4 hex digits of its pid + a counter,
/// `Lab::unique_tag`) and the processes in them, then exit 130: the labs'
/// `Drop` does not run when a signal ends the process, and a director, its
/// servers and the generators would otherwise outlive it. What it changed
/// outside the labs (a raised `nf_conntrack_max`, tracers) is put back too
/// ([`undo`]).
fn remove_labs_on_signal() {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        return;
    };
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            let pid = std::process::id() & 0xffff;
            for n in 0..16 {
                let _ = ringvs::lab::Lab::cleanup_stale(&format!("{pid:04x}{n:x}"));
            }
            for done in undo::undo_all() {
                eprintln!("ringvs-bench: on exit: {done}");
            }
            std::process::exit(130);
        }
    });
}

fn main() -> ExitCode {
    remove_labs_on_signal();
    match Cli::parse().cmd {
        Cmd::Perf(a) => perf::main(a),
        Cmd::Pool(a) => perf::pool::main(a),
        Cmd::Software(a) => software::main(a),
        Cmd::Memory(a) => memory::main(a),
        Cmd::Ring {
            ringvs,
            rx_ring,
            v3_timeout_ms,
            requests,
            secs,
            workers,
            flows,
            udp_rate,
            busy_poll,
        } => {
            let opts = ring::RingBenchOptions {
                ring: match rx_ring {
                    RingVersion::V2 => ring::Ring::V2,
                    RingVersion::V3 => ring::Ring::V3 {
                        timeout_ms: v3_timeout_ms,
                    },
                },
                requests,
                secs,
                workers,
                flows,
                udp_rate,
                busy_poll,
            };
            let line = if ringvs.is_file() {
                std::env::current_exe()
                    .map_err(|e| format!("cannot find own binary: {e}"))
                    .and_then(|me| ring::ring_bench(&ringvs, &me, &opts))
                    .and_then(|r| serde_json::to_string(&r).map_err(|e| e.to_string()))
            } else {
                Err(format!(
                    "no ringvs at {} (build it: cargo build --release --bin ringvs)",
                    ringvs.display()
                ))
            };
            print_line("ring", line)
        }
        Cmd::Latency {
            addr,
            count,
            new_conn,
            timeout_ms,
        } => {
            let t = Duration::from_millis(timeout_ms);
            let h = if new_conn {
                ring::latency_new_conn(addr, count, t)
            } else {
                ring::latency(addr, count, t)
            };
            let line = h.map_err(|e| e.to_string()).and_then(|h| {
                serde_json::to_string(&ring::LatencySummary::of(&h)).map_err(|e| e.to_string())
            });
            print_line("latency", line)
        }
        Cmd::UdpSink { listen, secs } => print_line(
            "udp-sink",
            ring::udp_sink(listen, secs).map_err(|e| e.to_string()),
        ),
        Cmd::UdpBlast {
            dst,
            secs,
            flows,
            payload,
            rate,
        } => print_line(
            "udp-blast",
            ring::udp_blast(dst, payload, flows, secs, rate).map_err(|e| e.to_string()),
        ),
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
    fn binaries_default_to_this_programs_directory() {
        let p = beside_me("ringvs-gen");
        assert_eq!(p.file_name().and_then(|n| n.to_str()), Some("ringvs-gen"));
        let cli = Cli::try_parse_from(["ringvs-bench", "perf", "--datapaths", "kernel-nft"]);
        let Ok(Cli {
            cmd: Cmd::Perf(a), ..
        }) = cli
        else {
            panic!("perf did not parse");
        };
        assert_eq!(a.generator, p);
        assert_eq!(a.ringvs, beside_me("ringvs"));
        assert_eq!(a.datapaths, ["kernel-nft"]);
    }
}
