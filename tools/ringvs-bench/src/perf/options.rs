//! The options of `ringvs-bench perf` ([`PerfArgs`]), their bounds, and the
//! datapaths it can measure ([`Datapath`], by name).

use super::{MAX_RUNS, MAX_SECS, MEM_CONNS, R, UDP_PORT};
use ringvs::lab::{VIP, VIP6, rs_addr};
use std::path::PathBuf;

/// `ringvs-bench perf`: see the module docs.
#[derive(clap::Args, Debug, Clone)]
pub struct PerfArgs {
    /// The director's binary (`ringvs`; default: the one next to this program).
    #[arg(long, default_value_os_t = crate::beside_me("ringvs"))]
    pub ringvs: PathBuf,
    /// The traffic generator binary (`ringvs-gen`; default: the one next to this
    /// program).
    #[arg(long, default_value_os_t = crate::beside_me("ringvs-gen"))]
    pub generator: PathBuf,
    /// Directory for report.json and report.svg.
    #[arg(long, default_value = "target/bench")]
    pub out: PathBuf,
    /// Runs per figure (medians over runs).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Seconds of each packet-rate, latency and CPS measurement.
    #[arg(long, default_value_t = 3)]
    pub secs: u64,
    /// Flow counts of the packet-rate test (comma separated).
    #[arg(long, value_delimiter = ',', default_value = "1,1000,100000")]
    pub flows: Vec<u64>,
    /// Datapaths to measure (comma separated), in the first run's order (reversed
    /// in every other run).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "kernel-nft,ringvs-nat-1w,ringvs-io-only,ringvs-xdp-1w,ringvs-xdp-io-only,ringvs-xdp-napi-1w,ringvs-xdp-napi-io-only,ringvs-xdp-napi-rt-1w,ringvs-nat-2w,ringvs-xdp-napi-2w"
    )]
    pub datapaths: Vec<String>,
    /// CPU of the director (ringvs worker, RPS of its NICs).
    #[arg(long, default_value_t = 1)]
    pub dir_cpu: usize,
    /// CPU of the generator and of the sink side.
    #[arg(long, default_value_t = 0)]
    pub gen_cpu: usize,
    /// Connections of the memory test (0: skip it).
    #[arg(long, default_value_t = MEM_CONNS)]
    pub conns: u64,
    /// Client threads of the CPS test.
    #[arg(long, default_value_t = 2)]
    pub cps_threads: usize,
    /// Skip the CPS test.
    #[arg(long)]
    pub no_cps: bool,
    /// Run ringvs with `--busy-poll` (workers spin instead of sleeping in poll()).
    /// Off by default: on the shared CPU the spinning worker starves the kernel's
    /// receive softirq (ksoftirqd) that feeds its own RX ring.
    #[arg(long)]
    pub busy_poll: bool,
    /// For the ringvs datapaths, drop every frame at the netdev ingress hook of the
    /// director's NICs (after the AF_PACKET taps), so the director's kernel does not
    /// run IP input on frames it would drop anyway (ARCHITECTURE trap 1).
    #[arg(long)]
    pub ingress_drop: bool,
    /// Run ringvs's workers under SCHED_FIFO at this priority (`ringvs run
    /// --rt-priority`), so a woken worker preempts the kernel's receive threads on
    /// its CPU (not with busy polling: `ringvs-xdp-busy-1w` then runs without it).
    #[arg(long)]
    pub worker_fifo: Option<u8>,
    /// Trace the director's CPU with `perf sched` during each ringvs datapath's
    /// common-load latency measurement: the worker's scheduling delays and what
    /// held the CPU meanwhile (`sched_*` keys; see `perf/sched.rs`).
    #[arg(long)]
    pub sched_trace: bool,
    /// Histogram, with bpftrace, where a frame may wait during each datapath's
    /// common-load latency measurement: NAPI kthreads' and workers' run-queue
    /// waits, NET_RX softirq raise-to-run and run time per CPU, the workers'
    /// `sendto()` kicks (`stage_*` keys; see `perf/stages.rs`).
    #[arg(long)]
    pub stage_trace: bool,
    /// Skip the software-path benchmark (`ringvs-bench software`: the worker
    /// loop over in-memory queues, the `software` section of report.json).
    #[arg(long)]
    pub no_software: bool,
    /// Print an upper bound of this measurement's duration in seconds (what
    /// `tools/bench` waits for before it stops a hung run) and exit.
    #[arg(long)]
    pub print_cap: bool,
}

/// One datapath under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Datapath {
    /// `rt`: workers under SCHED_FIFO (`ringvs run --rt-priority 10`).
    RingvsNat {
        workers: usize,
        io: Io,
        rt: bool,
    },
    KernelNft,
    RingvsIoOnly {
        io: Io,
    },
    /// `ringvs-nat6-1w`: [`Datapath::RingvsNat`] with 1 worker on AF_PACKET,
    /// dual stack, the load over IPv6 (to [VIP6]:9000).
    RingvsNat6,
    /// `kernel-nft6`: Linux IPv6 forwarding with nftables `ip6` DNAT
    /// (`numgen inc`) and conntrack, the load over IPv6.
    KernelNft6,
}

/// ringvs's packet I/O in a datapath.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Io {
    /// AF_PACKET rings.
    Packet,
    /// AF_XDP with the XDP program in generic mode: it runs in the core receive
    /// path, on the CPU RPS steers the NIC to, so its work counts on the
    /// director's CPU like everyone else's.
    XdpGeneric,
    /// AF_XDP with the XDP program in veth's native mode. On veth the program and
    /// the copy into the socket run in the *sender's* NAPI context, i.e. on the
    /// generator's CPU: the director's CPU does less than it would on a real NIC,
    /// so this figure flatters ringvs and is reported apart.
    XdpNative,
    /// Native mode with the director's veth NAPI instances threaded
    /// (`/sys/class/net/IF/threaded`) and their kthreads pinned to the director's
    /// CPU: the receive work native mode moves to the sender's CPU comes back to
    /// the director's, where it would be on a NIC with a native XDP driver. The
    /// fair native-mode comparison.
    XdpNapi,
    /// [`Io::XdpNapi`] with each worker's sockets on a UMEM of their own
    /// (`ringvs run --umem per-worker`): a frame handed to its owner is
    /// copied, where one UMEM for all workers (the default) moves its
    /// descriptor. For the cost of a handoff, against `ringvs-xdp-napi-2w`.
    XdpNapiOwnUmems,
    /// [`Io::XdpNapi`] with the NAPI kthreads under `SCHED_FIFO` one priority
    /// above the (real-time) worker: a frame's receive work runs as soon as it
    /// arrives, ahead of the worker, as the kernel's own NAT runs it in softirq;
    /// the worker runs when the kthread is done. Without it the kthread (a
    /// CFS task) waits behind every pass of the real-time worker.
    XdpNapiFirst,
    /// [`Io::XdpNapi`] with the NAPI kthreads under `SCHED_FIFO` at the
    /// (real-time) worker's own priority: neither preempts the other (a pass
    /// of the worker is not cut short by a frame's receive work, nor the
    /// reverse), and both preempt every CFS task, which the kthread of
    /// `ringvs-xdp-napi-rt-1w` waits behind (`kdamond`, see
    /// docs/benchmarks.md, "Seven paired runs at the report's common load").
    XdpNapiEven,
    /// [`Io::XdpNapi`] plus the kernel's preferred busy polling: ringvs runs with
    /// `--busy-poll`, and the NICs defer their NAPI to it (`napi_defer_hard_irqs`
    /// 2, `gro_flush_timeout` 200 µs), meant to have the worker run veth's
    /// receive work in its own context. On veth it does not: the sockets get
    /// no NAPI id, so there is nothing to busy-poll (ringvs logs it) and frames
    /// wait for the deferred NAPI kthread.
    XdpBusy,
    /// [`Io::XdpNapi`] with the NAPI kthreads under `SCHED_FIFO` (priority 1)
    /// and the worker spinning (`ringvs run --busy-poll`, not real-time), as
    /// a poll-mode balancer runs: a frame's receive work preempts the worker at
    /// once, and the worker, never asleep, takes the frame as soon as the
    /// kthread is done: no wake-up of a sleeping worker on a frame's way.
    XdpNapiSpin,
}

impl Io {
    /// Native XDP with the director's veths' NAPI made threaded and its
    /// kthreads pinned to the director's CPU (the `napi` datapaths).
    pub(super) fn threads_napi(self) -> bool {
        matches!(
            self,
            Io::XdpNapi
                | Io::XdpNapiOwnUmems
                | Io::XdpNapiFirst
                | Io::XdpNapiEven
                | Io::XdpBusy
                | Io::XdpNapiSpin
        )
    }
}

const DATAPATHS: [(&str, Datapath); 21] = [
    (
        "ringvs-nat-1w",
        Datapath::RingvsNat {
            workers: 1,
            io: Io::Packet,
            rt: false,
        },
    ),
    (
        "ringvs-nat-2w",
        Datapath::RingvsNat {
            workers: 2,
            io: Io::Packet,
            rt: false,
        },
    ),
    (
        "ringvs-nat-rt-1w",
        Datapath::RingvsNat {
            workers: 1,
            io: Io::Packet,
            rt: true,
        },
    ),
    (
        "ringvs-xdp-1w",
        Datapath::RingvsNat {
            workers: 1,
            io: Io::XdpGeneric,
            rt: false,
        },
    ),
    (
        "ringvs-xdp-native-1w",
        Datapath::RingvsNat {
            workers: 1,
            io: Io::XdpNative,
            rt: false,
        },
    ),
    (
        "ringvs-xdp-napi-1w",
        Datapath::RingvsNat {
            workers: 1,
            io: Io::XdpNapi,
            rt: false,
        },
    ),
    (
        "ringvs-xdp-napi-2w",
        Datapath::RingvsNat {
            workers: 2,
            io: Io::XdpNapi,
            rt: false,
        },
    ),
    (
        "ringvs-xdp-napi-2w-own-umems",
        Datapath::RingvsNat {
            workers: 2,
            io: Io::XdpNapiOwnUmems,
            rt: false,
        },
    ),
    (
        "ringvs-xdp-busy-1w",
        Datapath::RingvsNat {
            workers: 1,
            io: Io::XdpBusy,
            rt: false,
        },
    ),
    (
        "ringvs-xdp-rt-1w",
        Datapath::RingvsNat {
            workers: 1,
            io: Io::XdpGeneric,
            rt: true,
        },
    ),
    (
        "ringvs-xdp-napi-rt-1w",
        Datapath::RingvsNat {
            workers: 1,
            io: Io::XdpNapi,
            rt: true,
        },
    ),
    (
        "ringvs-xdp-napi-first-1w",
        Datapath::RingvsNat {
            workers: 1,
            io: Io::XdpNapiFirst,
            rt: true,
        },
    ),
    (
        "ringvs-xdp-napi-even-1w",
        Datapath::RingvsNat {
            workers: 1,
            io: Io::XdpNapiEven,
            rt: true,
        },
    ),
    (
        "ringvs-xdp-napi-spin-1w",
        Datapath::RingvsNat {
            workers: 1,
            io: Io::XdpNapiSpin,
            rt: false,
        },
    ),
    ("kernel-nft", Datapath::KernelNft),
    ("ringvs-io-only", Datapath::RingvsIoOnly { io: Io::Packet }),
    (
        "ringvs-xdp-io-only",
        Datapath::RingvsIoOnly { io: Io::XdpGeneric },
    ),
    (
        "ringvs-xdp-napi-io-only",
        Datapath::RingvsIoOnly { io: Io::XdpNapi },
    ),
    (
        "ringvs-xdp-busy-io-only",
        Datapath::RingvsIoOnly { io: Io::XdpBusy },
    ),
    ("ringvs-nat6-1w", Datapath::RingvsNat6),
    ("kernel-nft6", Datapath::KernelNft6),
];

impl Datapath {
    pub fn parse(s: &str) -> R<Self> {
        DATAPATHS
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, d)| *d)
            .ok_or_else(|| {
                let all: Vec<&str> = DATAPATHS.iter().map(|(n, _)| *n).collect();
                format!("unknown datapath {s:?} ({})", all.join(", "))
            })
    }
    pub fn name(self) -> String {
        DATAPATHS
            .iter()
            .find(|(_, d)| *d == self)
            .map_or_else(|| format!("{self:?}"), |(n, _)| (*n).to_owned())
    }
    pub(super) fn workers(self) -> usize {
        match self {
            Self::RingvsNat { workers, .. } => workers,
            _ => 1,
        }
    }
    pub(super) fn io(self) -> Io {
        match self {
            Self::RingvsNat { io, .. } | Self::RingvsIoOnly { io } => io,
            Self::KernelNft | Self::RingvsNat6 | Self::KernelNft6 => Io::Packet,
        }
    }
    /// The load is IPv6 (the lab is dual stack).
    pub(super) fn ipv6(self) -> bool {
        matches!(self, Self::RingvsNat6 | Self::KernelNft6)
    }
    /// The kernel's NAT, of either family.
    pub(super) fn kernel(self) -> bool {
        matches!(self, Self::KernelNft | Self::KernelNft6)
    }
    /// RX/TX queues of the director's veths: one per worker for AF_XDP (each
    /// worker owns one queue of each NIC), one for AF_PACKET (its fanout spreads).
    pub(super) fn queues(self) -> usize {
        if self.io() == Io::Packet {
            1
        } else {
            self.workers()
        }
    }
    /// Workers under SCHED_FIFO.
    pub(super) fn rt(self) -> bool {
        matches!(self, Self::RingvsNat { rt: true, .. })
    }
    pub(super) fn io_only(self) -> bool {
        matches!(self, Self::RingvsIoOnly { .. })
    }
    /// Where the generator sends UDP: the VIP, or (no NAT) a real server.
    pub(super) fn udp_dst(self) -> String {
        if self.ipv6() {
            format!("[{VIP6}]:{UDP_PORT}")
        } else if self.io_only() {
            format!("{}:{UDP_PORT}", rs_addr(1))
        } else {
            format!("{VIP}:{UDP_PORT}")
        }
    }
    pub(super) fn tcp_dst(self) -> String {
        if self.ipv6() {
            format!("[{VIP6}]:80")
        } else if self.io_only() {
            format!("{}:80", rs_addr(1))
        } else {
            format!("{VIP}:80")
        }
    }
}

/// An upper bound of the whole measurement's duration in seconds, from what
/// it will run: per datapath and run, a packet lab and its priming, per flow
/// count the run at the generator's full rate and the rate search's
/// [`SEARCH_STEPS`](super::SEARCH_STEPS) trials of half as long, the latency
/// at half the peak, the memory test's SYN passes at their lowest rate, the
/// CPS test, and the latency at the common load in a lab of its own; then the
/// software path once per run. Each step carries a margin for starting
/// processes and building namespaces (the full default run of 2026-12-03,
/// 10 datapaths, 3 runs of 3 s, spent 28–141 s per datapath and run; this
/// bound gives each 322, half of it the memory test's three passes at the
/// lowest SYN rate). A watchdog for a hung run, not a schedule: the
/// fixed cap of `tools/bench` (by runs and seconds only) stopped that run
/// after 26 of its ~40 minutes, once the default list had grown to ten
/// datapaths.
pub fn time_cap(a: &PerfArgs) -> u64 {
    const LAB: u64 = 15;
    const STEP: u64 = 1;
    let secs = a.secs;
    let trial = secs.div_ceil(2).max(1);
    let steps = super::SEARCH_STEPS as u64;
    let per_flows = secs + STEP + steps * (trial + STEP);
    let traced = if a.sched_trace || a.stage_trace {
        15
    } else {
        0
    };
    let mut per_dp = LAB + 1 + a.flows.len() as u64 * per_flows + (secs + STEP);
    if a.conns > 0 {
        // SYNs at 20k/s at the least (`memory_test`).
        per_dp += LAB + super::SYN_PASSES as u64 * (a.conns.div_ceil(20_000) + STEP);
    }
    if !a.no_cps {
        per_dp += LAB + secs + 30;
    }
    per_dp += LAB + 1 + secs + STEP + traced;
    let software = if a.no_software { 0 } else { 120 };
    let runs = a.runs as u64;
    60 + runs * (a.datapaths.len() as u64 * per_dp + software)
}

/// Check `a` against the benchmark's bounds and this machine (its CPUs, the
/// binaries); the number of CPUs.
pub(super) fn check(a: &PerfArgs) -> R<usize> {
    if a.runs == 0 || a.runs > MAX_RUNS {
        return Err(format!("--runs {} not in 1..={MAX_RUNS}", a.runs));
    }
    if a.secs == 0 || a.secs > MAX_SECS {
        return Err(format!("--secs {} not in 1..={MAX_SECS}", a.secs));
    }
    if a.flows.is_empty() || a.flows.iter().any(|&n| n == 0 || n > 1_000_000) {
        return Err("--flows: each in 1..=1000000".into());
    }
    if a.conns > 4_000_000 {
        return Err("--conns at most 4000000".into());
    }
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
    if a.dir_cpu >= ncpu || a.gen_cpu >= ncpu || a.dir_cpu == a.gen_cpu {
        return Err(format!(
            "--dir-cpu {} and --gen-cpu {} must differ and be < {ncpu}",
            a.dir_cpu, a.gen_cpu
        ));
    }
    if a.sched_trace && !super::sched::available(std::path::Path::new("perf")) {
        return Err("--sched-trace needs perf (apt-get install linux-perf)".into());
    }
    if a.stage_trace && !super::stages::available() {
        return Err("--stage-trace needs bpftrace (apt-get install bpftrace)".into());
    }
    if a.sched_trace || a.stage_trace {
        super::sched::tracefs()?;
    }
    for (what, bin) in [("ringvs", &a.ringvs), ("traffic generator", &a.generator)] {
        if !bin.is_file() {
            return Err(format!(
                "no {what} at {} (build both: cargo build --release --workspace --bins)",
                bin.display()
            ));
        }
    }
    Ok(ncpu)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap (crate rule)
mod tests {
    use super::*;

    #[test]
    fn datapath_names_round_trip() {
        for (n, _) in DATAPATHS {
            assert_eq!(Datapath::parse(n).unwrap().name(), n);
        }
        let v6 = Datapath::parse("ringvs-nat6-1w").unwrap();
        assert!(v6.ipv6() && !v6.kernel() && v6.workers() == 1 && v6.io() == Io::Packet);
        assert_eq!(v6.udp_dst(), "[2001:2:0:1::110]:9000");
        let k6 = Datapath::parse("kernel-nft6").unwrap();
        assert!(k6.ipv6() && k6.kernel());
        assert!(!Datapath::parse("kernel-nft").unwrap().ipv6());
        assert!(Datapath::parse("x").is_err());
    }

    fn args(extra: &[&str]) -> PerfArgs {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            a: PerfArgs,
        }
        let argv = std::iter::once("perf").chain(extra.iter().copied());
        <Cli as clap::Parser>::try_parse_from(argv).unwrap().a
    }

    #[test]
    fn the_time_cap_covers_what_a_default_run_took_and_grows_with_its_work() {
        let full = args(&[]);
        assert_eq!(full.datapaths.len(), 10);
        // The default run of 2026-12-03 22:46 UTC was past 1512 s at its
        // third run's third datapath, ~70 s a datapath and run.
        assert!(time_cap(&full) > 3 * 10 * 141, "{}", time_cap(&full));
        let quick = args(&["--runs", "1", "--secs", "2", "--flows", "1000"]);
        assert!(time_cap(&quick) < time_cap(&full) / 3);
        let more = args(&[
            "--runs",
            "1",
            "--secs",
            "2",
            "--flows",
            "1000",
            "--datapaths",
            "kernel-nft",
        ]);
        assert!(time_cap(&more) < time_cap(&quick));
        let plain = args(&["--no-cps", "--conns", "0", "--no-software"]);
        assert!(time_cap(&plain) < time_cap(&full));
        let traced = args(&["--no-cps", "--conns", "0", "--no-software", "--stage-trace"]);
        assert!(time_cap(&traced) > time_cap(&plain));
    }
}
